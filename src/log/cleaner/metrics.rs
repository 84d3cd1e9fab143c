//! Metric names of the log cleaner and their probes. Kafka counterparts:
//! `kafka.log:type=LogCleaner` (`max-dirty-percent`,
//! `time-since-last-run-ms`, `max-clean-time-secs`,
//! `max-buffer-utilization-percent`, `cleaner-recopy-percent`) and
//! `kafka.log:type=LogCleanerManager` (`uncleanable-partitions-count`,
//! `uncleanable-bytes`).

use metrics::{counter, gauge, histogram};

use crate::common::metric_family::{self as family, Family};

pub const MAX_DIRTY_PERCENT: &str = "runnel_log_cleaner_max_dirty_percent";
pub const TIME_SINCE_LAST_RUN_MS: &str = "runnel_log_cleaner_time_since_last_run_ms";
pub const CLEAN_SECONDS: &str = "runnel_log_cleaner_clean_seconds";
pub const BUFFER_UTILIZATION_PERCENT: &str = "runnel_log_cleaner_max_buffer_utilization_percent";
pub const RECOPY_PERCENT: &str = "runnel_log_cleaner_recopy_percent";
pub const BYTES_READ: &str = "runnel_log_cleaner_bytes_read_total";
pub const BYTES_WRITTEN: &str = "runnel_log_cleaner_bytes_written_total";
pub const CLEANINGS: &str = "runnel_log_cleaner_cleanings_total";
pub const UNCLEANABLE_PARTITIONS: &str = "runnel_log_cleaner_uncleanable_partitions_count";
pub const UNCLEANABLE_BYTES: &str = "runnel_log_cleaner_uncleanable_bytes";

pub fn on_round(max_dirty_ratio: f64, since_last_run_ms: i64) {
    gauge!(MAX_DIRTY_PERCENT).set(max_dirty_ratio * 100.0);
    gauge!(TIME_SINCE_LAST_RUN_MS).set(since_last_run_ms as f64);
}

pub fn on_cleaned(bytes_read: u64, bytes_written: u64, seconds: f64, buffer_utilization: f64) {
    counter!(CLEANINGS).increment(1);
    counter!(BYTES_READ).increment(bytes_read);
    counter!(BYTES_WRITTEN).increment(bytes_written);
    histogram!(CLEAN_SECONDS).record(seconds);
    gauge!(BUFFER_UTILIZATION_PERCENT).set(buffer_utilization * 100.0);
    if bytes_read > 0 {
        gauge!(RECOPY_PERCENT).set(100.0 * bytes_written as f64 / bytes_read as f64);
    }
}

pub fn on_uncleanable(partitions: usize, bytes: u64) {
    gauge!(UNCLEANABLE_PARTITIONS).set(partitions as f64);
    gauge!(UNCLEANABLE_BYTES).set(bytes as f64);
}

/// `# HELP` lines for the cleaner's families.
/// The log cleaner's families (Kafka's `LogCleaner` and
/// `LogCleanerManager` gauges).
pub const FAMILIES: &[Family] = &[
    family::gauge(
        MAX_DIRTY_PERCENT,
        &[],
        "Highest dirty ratio of a compacted log in the last round, in percent (max-dirty-percent).",
    ),
    family::gauge(
        TIME_SINCE_LAST_RUN_MS,
        &[],
        "Milliseconds since the cleaner's previous round (time-since-last-run-ms).",
    ),
    family::summary(CLEAN_SECONDS, &[], "Time to clean one log, in seconds."),
    family::gauge(
        BUFFER_UTILIZATION_PERCENT,
        &[],
        "Use of the dedupe buffer in the last cleaning, in percent (max-buffer-utilization-percent).",
    ),
    family::gauge(
        RECOPY_PERCENT,
        &[],
        "Bytes written over bytes read in the last cleaning, in percent (cleaner-recopy-percent).",
    ),
    family::counter(BYTES_READ, &[], "Bytes the cleaner read."),
    family::counter(BYTES_WRITTEN, &[], "Bytes the cleaner wrote."),
    family::counter(CLEANINGS, &[], "Logs cleaned."),
    family::gauge(
        UNCLEANABLE_PARTITIONS,
        &[],
        "Partitions the cleaner gave up on (uncleanable-partitions-count).",
    ),
    family::gauge(
        UNCLEANABLE_BYTES,
        &[],
        "Bytes in uncleanable partitions (uncleanable-bytes).",
    ),
];
