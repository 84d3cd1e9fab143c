//! Metric names of the log cleaner and their probes. Kafka counterparts:
//! `kafka.log:type=LogCleaner` (`max-dirty-percent`,
//! `time-since-last-run-ms`, `max-clean-time-secs`,
//! `max-buffer-utilization-percent`, `cleaner-recopy-percent`) and
//! `kafka.log:type=LogCleanerManager` (`uncleanable-partitions-count`,
//! `uncleanable-bytes`).

use metrics::{counter, gauge, histogram};

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
