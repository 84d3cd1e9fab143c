//! Every partition log under `log.dirs`. Kafka counterpart: `LogManager`.
//!
//! Owns the clean-shutdown marker (`.kafka_cleanshutdown` in each log dir):
//! it is removed when the logs are opened and written back after every log
//! closed cleanly, so its presence at start means no recovery scan is needed.
//!
//! Layout: `<log dir>/<topic>-<partition>/` per log (the topic may contain
//! '-', the partition is after the last one). A deleted log is first renamed
//! to `<topic>-<partition>.<uuid>-delete` (atomic, so a crash mid-delete
//! never resurrects it) and then removed; leftovers of that form are removed
//! at open. Unlike Kafka, `__cluster_metadata-0` is opened (and recovered)
//! here like any log: the broker keeps its metadata log in a `PartitionLog`
//! obtained through [`LogManager::get_or_create`].
//!
//! Shared as `Arc<LogManager>`: every method takes `&self`. The map lock is
//! held only to look up or insert, never across disk I/O except creation,
//! which it serializes so two callers cannot create the same log twice.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use crate::log::recovery::{sync_dir, write_file_durably};
use crate::log::{LogConfig, LogError, PartitionLog};

/// Kafka's clean-shutdown marker file name.
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
const DELETE_SUFFIX: &str = "-delete";

/// The topic and partition a log directory name stands for.
pub fn parse_log_dir_name(name: &str) -> Option<(String, i32)> {
    let (topic, partition) = name.rsplit_once('-')?;
    if topic.is_empty() || partition.is_empty() || !partition.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let partition: i32 = partition.parse().ok()?;
    Some((topic.to_string(), partition))
}

pub fn log_dir_name(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

struct Entry {
    log_dir: usize,
    log: Arc<PartitionLog>,
}

pub struct LogManager {
    log_dirs: Vec<PathBuf>,
    /// Whether each log dir had the clean-shutdown marker at open.
    clean_shutdowns: Vec<bool>,
    default_config: LogConfig,
    logs: RwLock<HashMap<(String, i32), Entry>>,
    create_lock: Mutex<()>,
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
        let mut logs = HashMap::new();
        let mut clean_shutdowns = Vec::with_capacity(log_dirs.len());
        for (i, log_dir) in log_dirs.iter().enumerate() {
            std::fs::create_dir_all(log_dir)?;
            let marker = log_dir.join(CLEAN_SHUTDOWN_FILE);
            let clean_shutdown = marker.exists();
            clean_shutdowns.push(clean_shutdown);
            for entry in std::fs::read_dir(log_dir)? {
                let entry = entry?;
                if !entry.file_type()?.is_dir() {
                    continue;
                }
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if name.ends_with(DELETE_SUFFIX) {
                    std::fs::remove_dir_all(entry.path())?;
                    continue;
                }
                let Some((topic, partition)) = parse_log_dir_name(name) else {
                    tracing::debug!(dir = %entry.path().display(), "not a log directory; ignored");
                    continue;
                };
                let log = PartitionLog::open(
                    &entry.path(),
                    default_config.clone(),
                    clean_shutdown,
                    now_ms,
                )?;
                let report = log.open_report();
                if !clean_shutdown {
                    tracing::info!(
                        dir = %entry.path().display(),
                        segments_recovered = report.segments_recovered,
                        bytes_truncated = report.bytes_truncated,
                        segments_dropped = report.segments_dropped,
                        "recovered log after unclean shutdown"
                    );
                }
                if logs.contains_key(&(topic.clone(), partition)) {
                    tracing::error!(
                        dir = %entry.path().display(),
                        "partition already loaded from another log dir; ignoring this copy"
                    );
                    continue;
                }
                logs.insert(
                    (topic, partition),
                    Entry {
                        log_dir: i,
                        log: Arc::new(log),
                    },
                );
            }
            if clean_shutdown {
                // From now on a crash must trigger recovery.
                std::fs::remove_file(&marker)?;
                sync_dir(log_dir)?;
            }
        }
        Ok(LogManager {
            log_dirs: log_dirs.to_vec(),
            clean_shutdowns,
            default_config,
            logs: RwLock::new(logs),
            create_lock: Mutex::new(()),
        })
    }

    pub fn log_dirs(&self) -> &[PathBuf] {
        &self.log_dirs
    }

    /// The configuration new logs get when the broker passes none of its own.
    pub fn default_config(&self) -> &LogConfig {
        &self.default_config
    }

    fn read_logs(&self) -> std::sync::RwLockReadGuard<'_, HashMap<(String, i32), Entry>> {
        self.logs.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_logs(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<(String, i32), Entry>> {
        self.logs.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<PartitionLog>> {
        self.read_logs()
            .get(&(topic.to_string(), partition))
            .map(|e| Arc::clone(&e.log))
    }

    /// The log of a partition, created (in the log dir with fewest partitions) if absent.
    pub fn get_or_create(
        &self,
        topic: &str,
        partition: i32,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Arc<PartitionLog>, LogError> {
        if let Some(log) = self.get(topic, partition) {
            return Ok(log);
        }
        if topic.is_empty() || partition < 0 || topic.contains('/') || topic == "." || topic == ".."
        {
            return Err(LogError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("cannot create a log for {topic:?} partition {partition}"),
            )));
        }
        let _create = self.create_lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(log) = self.get(topic, partition) {
            return Ok(log);
        }
        let name = log_dir_name(topic, partition);
        // A directory left on disk (created after open, or by another
        // process) is reopened where it is, recovered unless its log dir
        // was shut down cleanly.
        let existing = (0..self.log_dirs.len()).find(|i| self.log_dirs[*i].join(&name).is_dir());
        let (log_dir, clean_shutdown) = match existing {
            Some(i) => (i, self.clean_shutdowns[i]),
            None => {
                let mut counts = vec![0usize; self.log_dirs.len()];
                for entry in self.read_logs().values() {
                    counts[entry.log_dir] += 1;
                }
                let i = (0..self.log_dirs.len())
                    .min_by_key(|i| counts[*i])
                    .ok_or_else(|| LogError::Io(std::io::Error::other("no log.dirs configured")))?;
                (i, true)
            }
        };
        let dir = self.log_dirs[log_dir].join(&name);
        if existing.is_none() {
            std::fs::create_dir_all(&dir)?;
            sync_dir(&self.log_dirs[log_dir])?;
        }
        let log = Arc::new(PartitionLog::open(&dir, config, clean_shutdown, now_ms)?);
        self.write_logs().insert(
            (topic.to_string(), partition),
            Entry {
                log_dir,
                log: Arc::clone(&log),
            },
        );
        Ok(log)
    }

    /// Every open log.
    pub fn all(&self) -> Vec<(String, i32, Arc<PartitionLog>)> {
        let mut all: Vec<_> = self
            .read_logs()
            .iter()
            .map(|((t, p), e)| (t.clone(), *p, Arc::clone(&e.log)))
            .collect();
        all.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        all
    }

    /// Removes a partition's log and its files. Absent logs are a no-op.
    pub fn delete(&self, topic: &str, partition: i32) -> Result<(), LogError> {
        let Some(entry) = self.write_logs().remove(&(topic.to_string(), partition)) else {
            return Ok(());
        };
        entry.log.retire();
        let dir = entry.log.dir().to_path_buf();
        let parent = dir.parent().map(Path::to_path_buf).unwrap_or_default();
        let doomed = parent.join(format!(
            "{}.{}{DELETE_SUFFIX}",
            log_dir_name(topic, partition),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::rename(&dir, &doomed)?;
        sync_dir(&parent)?;
        std::fs::remove_dir_all(&doomed)?;
        sync_dir(&parent)?;
        Ok(())
    }

    /// One round of background work: retention, time-based roll, `flush.ms`.
    /// The broker calls it from a periodic task (`log.retention.check.interval.ms`).
    pub fn run_maintenance(&self, now_ms: i64) {
        for (topic, partition, log) in self.all() {
            match log.run_maintenance(now_ms) {
                Ok(0) => {}
                Ok(deleted) => {
                    tracing::debug!(%topic, partition, deleted, "deleted segments by retention");
                }
                Err(LogError::Offline) => {}
                Err(e) => {
                    tracing::error!(%topic, partition, error = %e, "log maintenance failed");
                }
            }
        }
    }

    /// Closes every log and writes the clean-shutdown markers (only in log
    /// dirs whose logs all closed cleanly).
    pub fn shutdown(&self) -> Result<(), LogError> {
        let mut failed = vec![false; self.log_dirs.len()];
        let mut first_error = None;
        for entry in self.read_logs().values() {
            if let Err(e) = entry.log.close() {
                tracing::error!(dir = %entry.log.dir().display(), error = %e, "log close failed");
                failed[entry.log_dir] = true;
                first_error.get_or_insert(e);
            }
        }
        for (i, log_dir) in self.log_dirs.iter().enumerate() {
            if !failed[i] {
                write_file_durably(log_dir, CLEAN_SHUTDOWN_FILE, b"")?;
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manager_is_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<LogManager>();
        assert_send_sync::<PartitionLog>();
    }

    #[test]
    fn log_dir_names_split_on_the_last_dash() {
        assert_eq!(parse_log_dir_name("a-b-c-12"), Some(("a-b-c".into(), 12)));
        assert_eq!(parse_log_dir_name("orders-0"), Some(("orders".into(), 0)));
        assert_eq!(parse_log_dir_name("orders"), None);
        assert_eq!(parse_log_dir_name("-3"), None);
        assert_eq!(parse_log_dir_name("t-0.abc-delete"), None);
        assert_eq!(parse_log_dir_name("t-x"), None);
        assert_eq!(parse_log_dir_name("t-99999999999"), None);
    }
}
