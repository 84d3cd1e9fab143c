//! Prometheus metrics. Names are constants here; hot paths call the probe
//! functions, never format names inline. The endpoint listens on
//! `runnel.metrics.listener` (empty disables it).

use std::net::SocketAddr;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::PrometheusBuilder;

pub const REQUESTS_TOTAL: &str = "runnel_requests_total";
pub const REQUEST_ERRORS_TOTAL: &str = "runnel_request_errors_total";
pub const REQUEST_LATENCY_SECONDS: &str = "runnel_request_latency_seconds";
pub const BYTES_IN_TOTAL: &str = "runnel_bytes_in_total";
pub const BYTES_OUT_TOTAL: &str = "runnel_bytes_out_total";
pub const MESSAGES_IN_TOTAL: &str = "runnel_messages_in_total";
pub const CONNECTIONS: &str = "runnel_connections";
pub const CONNECTIONS_REJECTED_TOTAL: &str = "runnel_connections_rejected_total";
pub const PARTITIONS: &str = "runnel_partitions";
pub const GROUPS: &str = "runnel_groups";
pub const GROUP_REBALANCES_TOTAL: &str = "runnel_group_rebalances_total";
pub const OFFSET_COMMITS_TOTAL: &str = "runnel_offset_commits_total";

/// Starts the exporter's HTTP listener. Returns the bound address.
pub fn install(listen: &str) -> anyhow::Result<SocketAddr> {
    let addr: SocketAddr = listen.parse().map_err(|e| {
        anyhow::anyhow!("config 'runnel.metrics.listener' {listen:?} is not ip:port: {e}")
    })?;
    // Bind first so port 0 resolves and errors name the address.
    let std_listener = std::net::TcpListener::bind(addr).map_err(|e| {
        anyhow::anyhow!(
            "cannot listen for metrics on {addr} (config 'runnel.metrics.listener'; \
                 another port: KAFKA_RUNNEL_METRICS_LISTENER or --override \
                 runnel.metrics.listener=ip:port, empty to disable): {e}"
        )
    })?;
    let bound = std_listener.local_addr()?;
    drop(std_listener);
    PrometheusBuilder::new()
        .with_http_listener(bound)
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(REQUEST_LATENCY_SECONDS.into()),
            &[0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0],
        )?
        .install()?;
    Ok(bound)
}

pub fn record_request(api: &'static str, latency: Duration) {
    counter!(REQUESTS_TOTAL, "api" => api).increment(1);
    histogram!(REQUEST_LATENCY_SECONDS, "api" => api).record(latency.as_secs_f64());
}

pub fn record_request_error(api: &'static str) {
    counter!(REQUEST_ERRORS_TOTAL, "api" => api).increment(1);
}

/// The produce probe of one partition: its handles are looked up once, when
/// the partition opens, so an append costs two atomic adds.
#[derive(Clone)]
pub struct ProduceProbe {
    bytes_in: metrics::Counter,
    messages_in: metrics::Counter,
}

impl ProduceProbe {
    pub fn for_topic(topic: &str) -> Self {
        ProduceProbe {
            bytes_in: counter!(BYTES_IN_TOTAL),
            messages_in: counter!(MESSAGES_IN_TOTAL, "topic" => topic.to_string()),
        }
    }

    pub fn record(&self, bytes: usize, messages: u64) {
        self.bytes_in.increment(bytes as u64);
        self.messages_in.increment(messages);
    }
}

pub fn record_fetch(bytes: usize) {
    counter!(BYTES_OUT_TOTAL).increment(bytes as u64);
}

pub fn set_connections(n: usize) {
    gauge!(CONNECTIONS).set(n as f64);
}

pub fn record_connection_rejected() {
    counter!(CONNECTIONS_REJECTED_TOTAL).increment(1);
}

pub fn set_partitions(n: usize) {
    gauge!(PARTITIONS).set(n as f64);
}

pub fn set_groups(n: usize) {
    gauge!(GROUPS).set(n as f64);
}

/// A rebalance completed: a generation's JoinGroup answers went out.
pub fn record_rebalance() {
    counter!(GROUP_REBALANCES_TOTAL).increment(1);
}

/// Partitions whose committed offset was written.
pub fn record_offset_commits(partitions: usize) {
    counter!(OFFSET_COMMITS_TOTAL).increment(partitions as u64);
}
