//! Metric names of the storage engine and the probes that record them. Hot
//! paths call a probe; names are never formatted inline. Kafka counterparts:
//! `kafka.log:type=Log` and `LogFlushStats`.

use metrics::{counter, histogram};

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
}
