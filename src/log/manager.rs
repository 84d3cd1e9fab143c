//! Every partition log under `log.dirs`. Kafka counterpart: `LogManager`.
//!
//! Owns the clean-shutdown marker (`.kafka_cleanshutdown` in each log dir):
//! it is removed when the logs are opened and written back after every log
//! closed cleanly, so its presence at start means no recovery scan is needed.

use std::path::PathBuf;
use std::sync::Arc;

use crate::log::{LogConfig, LogError, PartitionLog};

pub struct LogManager {
    log_dirs: Vec<PathBuf>,
}

impl LogManager {
    /// Opens every `<topic>-<partition>` directory found under `log_dirs`
    /// with `default_config` (the broker replaces per-topic configs later
    /// through [`PartitionLog::update_config`]).
    pub fn open(
        log_dirs: &[PathBuf],
        default_config: LogConfig,
        now_ms: i64,
    ) -> Result<LogManager, LogError> {
        let _ = (default_config, now_ms);
        Ok(LogManager {
            log_dirs: log_dirs.to_vec(),
        })
    }

    pub fn log_dirs(&self) -> &[PathBuf] {
        &self.log_dirs
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<PartitionLog>> {
        let _ = (topic, partition);
        todo!("storage engine")
    }

    /// The log of a partition, created (in the log dir with fewest partitions) if absent.
    pub fn get_or_create(
        &self,
        topic: &str,
        partition: i32,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Arc<PartitionLog>, LogError> {
        let _ = (topic, partition, config, now_ms);
        todo!("storage engine")
    }

    /// Every open log.
    pub fn all(&self) -> Vec<(String, i32, Arc<PartitionLog>)> {
        todo!("storage engine")
    }

    /// Removes a partition's log and its files.
    pub fn delete(&self, topic: &str, partition: i32) -> Result<(), LogError> {
        let _ = (topic, partition);
        todo!("storage engine")
    }

    /// One round of background work: retention, time-based roll, `flush.ms`.
    /// The broker calls it from a periodic task (`log.retention.check.interval.ms`).
    pub fn run_maintenance(&self, now_ms: i64) {
        let _ = now_ms;
        todo!("storage engine")
    }

    /// Closes every log and writes the clean-shutdown markers.
    pub fn shutdown(&self) -> Result<(), LogError> {
        todo!("storage engine")
    }
}
