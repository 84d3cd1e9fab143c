//! The metrics the node adds at each scrape, read from the cores rather
//! than recorded: the partitions led here that are under-replicated or
//! under `min.insync.replicas` (Kafka's ReplicaManager gauges), per partition the log start and end offsets and the size
//! (Kafka's `kafka.log:type=Log` gauges), per group and partition the
//! committed offset and the lag behind the high watermark (kafka-exporter's
//! `kafka_consumergroup_*`). Read at scrape time, so a deleted topic or
//! group leaves no stale series.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::handlers::Broker;
use crate::metadata::store::METADATA_TOPIC;
use crate::ops::metrics::{self, label_value, write_family};

/// The collector `ops::metrics` calls on its own thread; group state is
/// read through `runtime` since the coordinator's locks are async.
pub fn collector(broker: Arc<Broker>, runtime: tokio::runtime::Handle) -> impl Fn(&mut String) {
    move |out: &mut String| {
        partitions(&broker, out);
        groups(&broker, &runtime, out);
    }
}

fn partition_labels(topic: &str, partition: i32) -> String {
    let mut l = String::new();
    let _ = write!(
        l,
        "{{topic=\"{}\",partition=\"{partition}\"}}",
        label_value(topic)
    );
    l
}

fn partitions(broker: &Broker, out: &mut String) {
    let led = broker.replicas.led();
    let under_replicated = led.iter().filter(|p| p.is_under_replicated()).count();
    let under_min_isr = led.iter().filter(|p| p.is_under_min_isr()).count();
    write_family(
        out,
        &metrics::UNDER_REPLICATED_FAMILY,
        [(String::new(), under_replicated as f64)],
    );
    write_family(
        out,
        &metrics::UNDER_MIN_ISR_FAMILY,
        [(String::new(), under_min_isr as f64)],
    );
    let logs: Vec<_> = broker
        .replicas
        .logs()
        .all()
        .into_iter()
        .filter(|(topic, _, _)| topic != METADATA_TOPIC)
        .collect();
    write_family(
        out,
        &metrics::LOG_END_OFFSET_FAMILY,
        logs.iter()
            .map(|(t, p, log)| (partition_labels(t, *p), log.log_end_offset() as f64)),
    );
    write_family(
        out,
        &metrics::LOG_START_OFFSET_FAMILY,
        logs.iter()
            .map(|(t, p, log)| (partition_labels(t, *p), log.log_start_offset() as f64)),
    );
    write_family(
        out,
        &metrics::LOG_SIZE_FAMILY,
        logs.iter()
            .map(|(t, p, log)| (partition_labels(t, *p), log.size_bytes() as f64)),
    );
}

fn groups(broker: &Broker, runtime: &tokio::runtime::Handle, out: &mut String) {
    let committed = runtime.block_on(async {
        let mut all = Vec::new();
        for g in broker.groups.list().await {
            for (topic, partition, offset) in broker
                .groups
                .fetch_offsets(&g.group_id, None)
                .await
                .unwrap_or_default()
            {
                if let Some(o) = offset {
                    all.push((g.group_id.clone(), topic, partition, o.committed_offset));
                }
            }
        }
        all
    });
    let labels = |g: &str, t: &str, p: i32| {
        format!(
            "{{consumergroup=\"{}\",topic=\"{}\",partition=\"{p}\"}}",
            label_value(g),
            label_value(t)
        )
    };
    write_family(
        out,
        &metrics::GROUP_OFFSET_FAMILY,
        committed
            .iter()
            .map(|(g, t, p, o)| (labels(g, t, *p), *o as f64)),
    );
    write_family(
        out,
        &metrics::GROUP_LAG_FAMILY,
        committed.iter().filter_map(|(g, t, p, o)| {
            let hw = broker.replicas.partition(t, *p)?.high_watermark();
            Some((labels(g, t, *p), (hw - o).max(0) as f64))
        }),
    );
}
