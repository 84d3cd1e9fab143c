//! Metric names of the storage engine and the probes that record them. Hot
//! paths call a probe; names are never formatted inline. Kafka counterparts:
//! `kafka.log:type=Log` and `LogFlushStats`.

use metrics::{counter, gauge, histogram};

use crate::common::metric_family::{self as family, Family};

pub const APPEND_BYTES: &str = "runnel_log_append_bytes_total";
pub const APPEND_RECORDS: &str = "runnel_log_append_records_total";
pub const READ_BYTES: &str = "runnel_log_read_bytes_total";
pub const FLUSHES: &str = "runnel_log_flushes_total";
pub const FLUSH_SECONDS: &str = "runnel_log_flush_seconds";
pub const ROLLS: &str = "runnel_log_segment_rolls_total";
pub const SEGMENTS_DELETED: &str = "runnel_log_segments_deleted_total";
pub const RECOVERED_SEGMENTS: &str = "runnel_log_recovered_segments_total";
pub const RECOVERY_TRUNCATED_BYTES: &str = "runnel_log_recovery_truncated_bytes_total";
pub const OFFLINE: &str = "runnel_log_offline_total";
/// Kafka's JMX-exporter name for offline partitions: on a single node a
/// partition is offline exactly when its log is, until the restart.
pub const OFFLINE_PARTITIONS: &str = "kafka_controller_kafkacontroller_offlinepartitionscount";

pub fn on_append(bytes: usize, records: u64) {
    counter!(APPEND_BYTES).increment(bytes as u64);
    counter!(APPEND_RECORDS).increment(records);
}

pub fn on_read(bytes: usize) {
    counter!(READ_BYTES).increment(bytes as u64);
}

pub fn on_flush(seconds: f64) {
    counter!(FLUSHES).increment(1);
    histogram!(FLUSH_SECONDS).record(seconds);
}

pub fn on_roll() {
    counter!(ROLLS).increment(1);
}

pub fn on_segments_deleted(count: usize) {
    counter!(SEGMENTS_DELETED).increment(count as u64);
}

pub fn on_recovery(segments: usize, truncated_bytes: u64) {
    counter!(RECOVERED_SEGMENTS).increment(segments as u64);
    counter!(RECOVERY_TRUNCATED_BYTES).increment(truncated_bytes);
}

pub fn on_offline() {
    counter!(OFFLINE).increment(1);
    gauge!(OFFLINE_PARTITIONS).increment(1.0);
}

/// Present from the start: dashboards show 0, not "no data".
pub fn register_offline_partitions() {
    gauge!(OFFLINE_PARTITIONS).set(0.0);
}

/// `# HELP` lines for the storage families.
/// The storage engine's families.
pub const FAMILIES: &[Family] = &[
    family::counter(APPEND_BYTES, &[], "Bytes appended to partition logs."),
    family::counter(APPEND_RECORDS, &[], "Records appended to partition logs."),
    family::counter(READ_BYTES, &[], "Bytes read from segments for fetches."),
    family::counter(
        FLUSHES,
        &[],
        "Log flushes (fsync of a segment and its indexes).",
    ),
    family::summary(FLUSH_SECONDS, &[], "Time of one log flush, in seconds."),
    family::counter(ROLLS, &[], "Segments rolled."),
    family::counter(
        SEGMENTS_DELETED,
        &[],
        "Segments deleted by retention or DeleteRecords.",
    ),
    family::counter(
        RECOVERED_SEGMENTS,
        &[],
        "Segments recovered after an unclean shutdown.",
    ),
    family::counter(
        RECOVERY_TRUNCATED_BYTES,
        &[],
        "Bytes truncated by recovery.",
    ),
    family::counter(
        OFFLINE,
        &[],
        "Partition logs taken offline after a failed write.",
    ),
    family::gauge(
        OFFLINE_PARTITIONS,
        &[],
        "Partitions whose log is offline (Kafka's OfflinePartitionsCount).",
    ),
];
