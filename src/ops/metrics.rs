//! Prometheus metrics. Names are constants here; hot paths call the probe
//! functions, never format names inline. The endpoint listens on
//! `runnel.metrics.listener` (empty disables it) and serves:
//! - `/metrics` (and `/`): the Prometheus text, every family with `# HELP`,
//!   plus the process (`process_*`, the names of Prometheus's process
//!   collector), build-info and uptime families computed at each scrape;
//! - `/ready`: 200 once the node has loaded its logs, the metadata and the
//!   consumer groups and serves clients ([`set_ready`]), 503 before;
//! - `/live` and `/health`: 200 while the process runs (`/health` answered
//!   `OK` before readiness existed and keeps doing so).
//!
//! The endpoint is a small HTTP/1.0-style responder on its own thread, as
//! the exporter crate's listener was: one request per connection, GET only.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use metrics::{counter, gauge, histogram};

use crate::common::metric_family::{self as family, Family};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

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

pub const UNDER_REPLICATED_PARTITIONS: &str =
    "kafka_server_replicamanager_underreplicatedpartitions";
pub const UNDER_MIN_ISR_PARTITIONS: &str = "kafka_server_replicamanager_underminisrpartitioncount";
pub const ISR_SHRINKS: &str = "kafka_server_replicamanager_isrshrinks_total";
pub const ISR_EXPANDS: &str = "kafka_server_replicamanager_isrexpands_total";
pub const BUILD_INFO: &str = "runnel_build_info";

// Kafka's names, as the Prometheus JMX exporter's Kafka rules spell them
// (docs/metrics.md has the mapping to the MBeans).
pub const KAFKA_BYTES_IN: &str = "kafka_server_brokertopicmetrics_bytesin_total";
pub const KAFKA_BYTES_OUT: &str = "kafka_server_brokertopicmetrics_bytesout_total";
pub const KAFKA_MESSAGES_IN: &str = "kafka_server_brokertopicmetrics_messagesin_total";
pub const KAFKA_REQUEST_ERRORS: &str = "kafka_network_requestmetrics_errors_total";
pub const KAFKA_LOG_END_OFFSET: &str = "kafka_log_log_logendoffset";
pub const KAFKA_LOG_SIZE: &str = "kafka_log_log_size";
pub const KAFKA_LOG_START_OFFSET: &str = "kafka_log_log_logstartoffset";
// kafka-exporter's names for group offsets and lag.
pub const CONSUMERGROUP_CURRENT_OFFSET: &str = "kafka_consumergroup_current_offset";
pub const CONSUMERGROUP_LAG: &str = "kafka_consumergroup_lag";

/// What the node adds at each scrape (partition offsets and sizes, group
/// lag): registered once the node has started.
type Collector = Box<dyn Fn(&mut String) + Send + Sync>;
static COLLECTOR: OnceLock<Collector> = OnceLock::new();

/// Registers the node's scrape-time families.
pub fn set_collector(collector: Collector) {
    let _ = COLLECTOR.set(collector);
}

/// Appends one family in Prometheus text: HELP, TYPE, then each sample
/// (`labels` already rendered, `{a="b"}` or empty).
pub fn write_family(
    out: &mut String,
    family: &Family,
    samples: impl IntoIterator<Item = (String, f64)>,
) {
    let (name, kind, help) = (family.name, family.kind.as_str(), family.help);
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
    for (labels, value) in samples {
        out.push_str(&format!("{name}{labels} {value}\n"));
    }
}

/// A label value escaped for Prometheus text (`\`, `"` and newlines).
pub fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Whether a topic is one of Kafka's internal topics (the `internal` label):
/// the one list, `common::internal_topics` (a user's `__my_topic` is not).
fn internal(topic: &str) -> &'static str {
    if crate::common::internal_topics::is_internal(topic) {
        "true"
    } else {
        "false"
    }
}

pub const UPTIME_SECONDS: &str = "runnel_uptime_seconds";

/// Set once the node serves clients; read by `/ready`.
static READY: AtomicBool = AtomicBool::new(false);
static STARTED: OnceLock<(Instant, SystemTime)> = OnceLock::new();

/// The node has loaded its logs, metadata and groups and accepts clients.
pub fn set_ready() {
    READY.store(true, Ordering::Release);
}

/// Starts the HTTP endpoint. Returns the bound address.
pub fn install(listen: &str) -> anyhow::Result<SocketAddr> {
    STARTED.get_or_init(|| (Instant::now(), SystemTime::now()));
    let addr: SocketAddr = listen.parse().map_err(|e| {
        anyhow::anyhow!("config 'runnel.metrics.listener' {listen:?} is not ip:port: {e}")
    })?;
    let listener = TcpListener::bind(addr).map_err(|e| {
        anyhow::anyhow!(
            "cannot listen for metrics on {addr} (config 'runnel.metrics.listener'; \
             another port: KAFKA_RUNNEL_METRICS_LISTENER or --override \
             runnel.metrics.listener=ip:port, empty to disable): {e}"
        )
    })?;
    let bound = listener.local_addr()?;
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(REQUEST_LATENCY_SECONDS.into()),
            &[0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0],
        )?
        .install_recorder()?;
    describe_all();
    // Present from the start, so dashboards show 0 rather than "no data".
    // A log that goes offline counts until the restart (`log::metrics`).
    counter!(ISR_SHRINKS).absolute(0);
    counter!(ISR_EXPANDS).absolute(0);
    crate::log::metrics::register_offline_partitions();
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("runnel-metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            }
        })?;
    std::thread::Builder::new()
        .name("runnel-metrics".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
                serve(stream, &handle);
            }
        })?;
    Ok(bound)
}

/// One request: read the request head, answer, close. Anything that does
/// not start like an HTTP request (a Kafka client pointed at this port)
/// gets 400 at once, so the other side learns it is talking to HTTP.
fn serve(stream: TcpStream, handle: &PrometheusHandle) {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let (method, path) = loop {
        let n = match (&stream).read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        head.extend_from_slice(&buf[..n]);
        let looks_like_http = head
            .iter()
            .take_while(|b| **b != b' ')
            .all(u8::is_ascii_uppercase);
        if !looks_like_http || head.len() > 16 * 1024 {
            respond(
                &stream,
                "GET",
                "400 Bad Request",
                "text/plain",
                "not an HTTP request\n",
            );
            return;
        }
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            let text = String::from_utf8_lossy(&head);
            let mut parts = text.lines().next().unwrap_or("").split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            let path = parts.next().unwrap_or("").to_string();
            break (method, path);
        }
    };
    let path = path.split('?').next().unwrap_or("");
    let (status, content_type, body) = route(&method, path, handle);
    respond(&stream, &method, status, content_type, &body);
}

fn respond(mut out: &TcpStream, method: &str, status: &str, content_type: &str, body: &str) {
    let _ = write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        let _ = out.write_all(body.as_bytes());
    }
    let _ = out.flush();
}

fn route(
    method: &str,
    path: &str,
    handle: &PrometheusHandle,
) -> (&'static str, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    if method != "GET" && method != "HEAD" {
        return ("405 Method Not Allowed", TEXT, "GET only\n".into());
    }
    match path {
        "/metrics" | "/" => {
            let mut body = handle.render();
            body.push_str(&scrape_time_families());
            if let Some(collect) = COLLECTOR.get() {
                collect(&mut body);
            }
            ("200 OK", "text/plain; version=0.0.4; charset=utf-8", body)
        }
        "/ready" if READY.load(Ordering::Acquire) => ("200 OK", TEXT, "ready\n".into()),
        "/ready" => (
            "503 Service Unavailable",
            TEXT,
            "starting: loading logs, metadata and consumer groups\n".into(),
        ),
        "/live" => ("200 OK", TEXT, "live\n".into()),
        "/health" => ("200 OK", TEXT, "OK".into()),
        _ => (
            "404 Not Found",
            TEXT,
            "not found: /metrics, /ready, /live, /health\n".into(),
        ),
    }
}

/// Families read at scrape time rather than recorded: build info, uptime
/// and the process figures, in Prometheus's process-collector names.
fn scrape_time_families() -> String {
    let mut out = String::new();
    let mut family = |f: &Family, value: String| {
        let (name, kind, help) = (f.name, f.kind.as_str(), f.help);
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{value}\n"
        ));
    };
    family(
        &BUILD_INFO_FAMILY,
        format!(
            "{{version=\"{}\",commit=\"{}\",build_date=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            env!("RUNNEL_GIT_COMMIT"),
            env!("RUNNEL_BUILD_DATE")
        ),
    );
    if let Some((started, started_at)) = STARTED.get() {
        family(
            &UPTIME_FAMILY,
            format!(" {:.3}", started.elapsed().as_secs_f64()),
        );
        if let Ok(since_epoch) = started_at.duration_since(SystemTime::UNIX_EPOCH) {
            family(
                &START_TIME_FAMILY,
                format!(" {:.3}", since_epoch.as_secs_f64()),
            );
        }
    }
    let p = process_figures();
    if let Some(cpu) = p.cpu_seconds {
        family(&CPU_FAMILY, format!(" {cpu:.2}"));
    }
    if let Some(rss) = p.resident_bytes {
        family(&RESIDENT_FAMILY, format!(" {rss}"));
    }
    if let Some(vsz) = p.virtual_bytes {
        family(&VIRTUAL_FAMILY, format!(" {vsz}"));
    }
    if let Some(fds) = p.open_fds {
        family(&OPEN_FDS_FAMILY, format!(" {fds}"));
    }
    if let Some(max) = p.max_fds {
        family(&MAX_FDS_FAMILY, format!(" {max}"));
    }
    out
}

#[derive(Debug, Default)]
struct ProcessFigures {
    cpu_seconds: Option<f64>,
    resident_bytes: Option<u64>,
    virtual_bytes: Option<u64>,
    open_fds: Option<usize>,
    max_fds: Option<u64>,
}

/// From `/proc/self` (Linux); a figure that cannot be read is left out.
fn process_figures() -> ProcessFigures {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    // SAFETY: likewise.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let mut p = ProcessFigures::default();
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name, which is in parentheses and may
        // hold spaces: utime and stime are fields 14 and 15 of the line.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
            if let (Some(u), Some(s)) = (field(14), field(15)) {
                if ticks > 0 {
                    p.cpu_seconds = Some((u + s) as f64 / ticks as f64);
                }
            }
            p.virtual_bytes = field(23);
            if page > 0 {
                p.resident_bytes = field(24).map(|pages| pages * page as u64);
            }
        }
    }
    p.open_fds = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count());
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit the call fills in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        p.max_fds = Some(limit.rlim_cur);
    }
    p
}

/// The families recorded through the `metrics` facade.
pub const FAMILIES: &[Family] = &[
    family::counter(
        REQUESTS_TOTAL,
        &["api"],
        "Requests handled, per API (Kafka's RequestsPerSec).",
    ),
    family::counter(
        REQUEST_ERRORS_TOTAL,
        &["api"],
        "Responses that could not be encoded, per API; the connection is closed.",
    ),
    family::histogram(
        REQUEST_LATENCY_SECONDS,
        &["api"],
        "Time from a request's decoding to its response, per API, in seconds.",
    ),
    family::counter(BYTES_IN_TOTAL, &[], "Produced record-batch bytes appended."),
    family::counter(BYTES_OUT_TOTAL, &[], "Fetched bytes sent to clients."),
    family::counter(
        MESSAGES_IN_TOTAL,
        &["topic"],
        "Records appended by Produce, per topic (internal topics included).",
    ),
    family::gauge(CONNECTIONS, &[], "Open client connections."),
    family::counter(
        CONNECTIONS_REJECTED_TOTAL,
        &[],
        "Connections refused at max.connections.",
    ),
    family::gauge(PARTITIONS, &[], "Partitions hosted by this node."),
    family::gauge(GROUPS, &[], "Consumer groups known to the coordinator."),
    family::counter(GROUP_REBALANCES_TOTAL, &[], "Completed group rebalances."),
    family::counter(OFFSET_COMMITS_TOTAL, &[], "Committed partition offsets."),
    family::counter(
        KAFKA_BYTES_IN,
        &["topic", "internal"],
        "Produced bytes appended, per topic (Kafka's BrokerTopicMetrics BytesInPerSec).",
    ),
    family::counter(
        KAFKA_BYTES_OUT,
        &["topic", "internal"],
        "Record bytes sent in fetch responses, per topic (BytesOutPerSec).",
    ),
    family::counter(
        KAFKA_MESSAGES_IN,
        &["topic", "internal"],
        "Records appended by Produce, per topic (MessagesInPerSec).",
    ),
    family::counter(
        KAFKA_REQUEST_ERRORS,
        &["request", "error"],
        "Error codes in responses, per API and error (Kafka's RequestMetrics ErrorsPerSec).",
    ),
    family::counter(
        ISR_SHRINKS,
        &[],
        "ISR shrinks the controller committed for partitions led here (Kafka's ReplicaManager IsrShrinksPerSec).",
    ),
    family::counter(
        ISR_EXPANDS,
        &[],
        "ISR expansions the controller committed for partitions led here (Kafka's ReplicaManager IsrExpandsPerSec).",
    ),
];

/// The node's scrape-time families (`node::scrape`): per partition and per
/// group, read from the cores at each scrape.
pub const NODE_SCRAPE_FAMILIES: &[Family] = &[
    UNDER_REPLICATED_FAMILY,
    UNDER_MIN_ISR_FAMILY,
    LOG_END_OFFSET_FAMILY,
    LOG_START_OFFSET_FAMILY,
    LOG_SIZE_FAMILY,
    GROUP_OFFSET_FAMILY,
    GROUP_LAG_FAMILY,
];

pub const UNDER_REPLICATED_FAMILY: Family = family::gauge(
    UNDER_REPLICATED_PARTITIONS,
    &[],
    "Partitions led here with fewer in-sync replicas than replicas (Kafka's UnderReplicatedPartitions).",
);
pub const UNDER_MIN_ISR_FAMILY: Family = family::gauge(
    UNDER_MIN_ISR_PARTITIONS,
    &[],
    "Partitions led here whose ISR is below min.insync.replicas (Kafka's UnderMinIsrPartitionCount).",
);
pub const LOG_END_OFFSET_FAMILY: Family = family::gauge(
    KAFKA_LOG_END_OFFSET,
    &["topic", "partition"],
    "The log end offset of each partition (Kafka's Log LogEndOffset).",
);
pub const LOG_START_OFFSET_FAMILY: Family = family::gauge(
    KAFKA_LOG_START_OFFSET,
    &["topic", "partition"],
    "The log start offset of each partition (Kafka's Log LogStartOffset).",
);
pub const LOG_SIZE_FAMILY: Family = family::gauge(
    KAFKA_LOG_SIZE,
    &["topic", "partition"],
    "Bytes of each partition's segment files (Kafka's Log Size).",
);
pub const GROUP_OFFSET_FAMILY: Family = family::gauge(
    CONSUMERGROUP_CURRENT_OFFSET,
    &["consumergroup", "topic", "partition"],
    "The committed offset of each group and partition (kafka-exporter's name).",
);
pub const GROUP_LAG_FAMILY: Family = family::gauge(
    CONSUMERGROUP_LAG,
    &["consumergroup", "topic", "partition"],
    "Records between a group's committed offset and the partition's high watermark.",
);

/// Families written at scrape time: build info, uptime and the process
/// figures, in Prometheus's process-collector names.
pub const SCRAPE_FAMILIES: &[Family] = &[
    BUILD_INFO_FAMILY,
    UPTIME_FAMILY,
    START_TIME_FAMILY,
    CPU_FAMILY,
    RESIDENT_FAMILY,
    VIRTUAL_FAMILY,
    OPEN_FDS_FAMILY,
    MAX_FDS_FAMILY,
];

const BUILD_INFO_FAMILY: Family = family::gauge(
    BUILD_INFO,
    &["version", "commit", "build_date"],
    "Runnel's version, commit and build date, as labels; always 1.",
);
const UPTIME_FAMILY: Family = family::gauge(
    UPTIME_SECONDS,
    &[],
    "Seconds since the process started its metrics endpoint.",
);
const START_TIME_FAMILY: Family = family::gauge(
    "process_start_time_seconds",
    &[],
    "Start time of the process since the Unix epoch, in seconds.",
);
const CPU_FAMILY: Family = family::counter(
    "process_cpu_seconds_total",
    &[],
    "User and system CPU time spent, in seconds.",
);
const RESIDENT_FAMILY: Family = family::gauge(
    "process_resident_memory_bytes",
    &[],
    "Resident memory size, in bytes.",
);
const VIRTUAL_FAMILY: Family = family::gauge(
    "process_virtual_memory_bytes",
    &[],
    "Virtual memory size, in bytes.",
);
const OPEN_FDS_FAMILY: Family = family::gauge(
    "process_open_fds",
    &[],
    "Open file descriptors (sockets, segment and index files).",
);
const MAX_FDS_FAMILY: Family = family::gauge(
    "process_max_fds",
    &[],
    "The soft limit on open file descriptors.",
);

/// Every family this node can expose, in the reference's order.
pub fn all_families() -> Vec<Family> {
    [
        FAMILIES,
        crate::log::metrics::FAMILIES,
        crate::log::cleaner::metrics::FAMILIES,
        NODE_SCRAPE_FAMILIES,
        SCRAPE_FAMILIES,
    ]
    .concat()
}

/// The generated reference in `docs/metrics.md`: one row per family.
pub fn reference() -> String {
    let mut out = String::from("| series | type | labels | help |\n| --- | --- | --- | --- |\n");
    for f in all_families() {
        let labels: Vec<String> = f.labels.iter().map(|l| format!("`{l}`")).collect();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            f.name,
            f.kind.as_str(),
            labels.join(", "),
            f.help
        ));
    }
    out
}

/// `# HELP` for every family the recorder renders.
fn describe_all() {
    crate::common::metric_family::describe(FAMILIES);
    crate::common::metric_family::describe(crate::log::metrics::FAMILIES);
    crate::common::metric_family::describe(crate::log::cleaner::metrics::FAMILIES);
}

pub fn record_request(api: &'static str, latency: Duration) {
    counter!(REQUESTS_TOTAL, "api" => api).increment(1);
    histogram!(REQUEST_LATENCY_SECONDS, "api" => api).record(latency.as_secs_f64());
}

pub fn record_request_error(api: &'static str) {
    counter!(REQUEST_ERRORS_TOTAL, "api" => api).increment(1);
}

/// The per-topic traffic probe of one partition (bytes and messages in,
/// bytes out): its handles are looked up once, when the partition opens,
/// so an append or a fetch costs a few atomic adds, no label lookup.
#[derive(Clone)]
pub struct TopicProbe {
    bytes_in: metrics::Counter,
    messages_in: metrics::Counter,
    topic_bytes_in: metrics::Counter,
    topic_messages_in: metrics::Counter,
    topic_bytes_out: metrics::Counter,
}

impl TopicProbe {
    pub fn for_topic(topic: &str) -> Self {
        let labels = [
            ("topic", topic.to_string()),
            ("internal", internal(topic).to_string()),
        ];
        TopicProbe {
            bytes_in: counter!(BYTES_IN_TOTAL),
            messages_in: counter!(MESSAGES_IN_TOTAL, "topic" => topic.to_string()),
            topic_bytes_in: counter!(KAFKA_BYTES_IN, &labels),
            topic_messages_in: counter!(KAFKA_MESSAGES_IN, &labels),
            topic_bytes_out: counter!(KAFKA_BYTES_OUT, &labels),
        }
    }

    /// A produced batch was appended.
    pub fn record(&self, bytes: usize, messages: u64) {
        self.bytes_in.increment(bytes as u64);
        self.messages_in.increment(messages);
        self.topic_bytes_in.increment(bytes as u64);
        self.topic_messages_in.increment(messages);
    }

    /// Record bytes went out in a fetch response.
    pub fn record_fetched(&self, bytes: usize) {
        self.topic_bytes_out.increment(bytes as u64);
    }
}

pub fn record_fetch(bytes: usize) {
    counter!(BYTES_OUT_TOTAL).increment(bytes as u64);
}

/// One error code in a response (Kafka's ErrorsPerSec, counted from the
/// response as Kafka's `errorCounts()`); NONE is counted too, as Kafka does.
pub fn record_response_error(api: &'static str, error: &'static str, count: u64) {
    counter!(KAFKA_REQUEST_ERRORS, "request" => api, "error" => error).increment(count);
}

pub fn set_connections(n: usize) {
    gauge!(CONNECTIONS).set(n as f64);
}

pub fn record_connection_rejected() {
    counter!(CONNECTIONS_REJECTED_TOTAL).increment(1);
}

/// The controller committed an ISR change of a partition led here.
pub fn on_isr_change(shrink: bool) {
    counter!(if shrink { ISR_SHRINKS } else { ISR_EXPANDS }).increment(1);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_reference_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/metrics.md");
        let doc = std::fs::read_to_string(&path).expect("docs/metrics.md");
        let (begin, end) = ("<!-- metrics:begin -->\n", "<!-- metrics:end -->");
        let start = doc.find(begin).expect("the begin marker") + begin.len();
        let stop = doc.find(end).expect("the end marker");
        let want = format!("{}{}{}", &doc[..start], reference(), &doc[stop..]);
        let update = std::env::var_os("RUNNEL_UPDATE_DOCS").is_some();
        if update {
            std::fs::write(&path, &want).expect("writing docs/metrics.md");
        }
        assert!(
            doc == want || update,
            "docs/metrics.md is stale: run RUNNEL_UPDATE_DOCS=1 cargo test --lib ops::metrics"
        );
    }

    #[test]
    fn family_names_are_unique_and_counters_end_in_total() {
        let all = all_families();
        let mut names: Vec<&str> = all.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len(), "a family listed twice");
        for f in &all {
            assert!(!f.help.is_empty() && !f.help.contains('\n'), "{}", f.name);
            if f.kind == crate::common::metric_family::Kind::Counter {
                assert!(
                    f.name.ends_with("_total"),
                    "counter {} ends in _total",
                    f.name
                );
            }
        }
    }
}
