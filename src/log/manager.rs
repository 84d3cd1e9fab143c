//! Every partition log under `log.dirs`. Kafka counterpart: `LogManager`.
//!
//! Owns the clean-shutdown marker (`.kafka_cleanshutdown` in each log dir):
//! it is removed when the logs are opened and written back after every log
//! closed cleanly, so its presence at start means no recovery scan is needed.
//!
//! Layout: `<log dir>/<topic>-<partition>/` per log (the topic may contain
//! '-', the partition is after the last one), holding `partition.metadata`
//! with the topic id (Kafka's `PartitionMetadataFile`), written durably
//! before the log is first used. A deleted log is first renamed to
//! `<topic>-<partition>.<uuid>-delete` (atomic, so a crash mid-delete never
//! resurrects it) and then removed; leftovers of that form are removed at
//! open. A log whose topic id the metadata image does not know (a topic
//! deleted while this broker was down, or whose delete was cut short) is a
//! stray: it is renamed to `<topic>-<partition>.<uuid>-stray` and kept for
//! an operator, as Kafka does, and never adopted by a new topic of that
//! name. Both names cap the topic part so they fit a file name's 255 bytes
//! (Kafka's `LocalLog.logDirNameWithSuffixCappedLength`). Unlike Kafka, `__cluster_metadata-0` is opened (and recovered)
//! here like any log: the broker keeps its metadata log in a `PartitionLog`
//! obtained through [`LogManager::get_or_create`].
//!
//! Shared as `Arc<LogManager>`: every method takes `&self`. The map lock is
//! held only to look up or insert, never across disk I/O. Creations run in
//! parallel; one of a log already being created waits for it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use crate::log::cleaner::{CleanerSettings, LogCleaner};
use crate::log::dir_failure::{FailureHandler, LogDirFailureChannel, LogDirHealth};
use crate::log::recovery::{sync_dir, write_file_durably};
use crate::log::{LogConfig, LogError, PartitionLog};

/// Kafka's clean-shutdown marker file name.
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
/// The file holding a partition log's topic id (Kafka's name and format).
pub const PARTITION_METADATA_FILE: &str = "partition.metadata";
const DELETE_SUFFIX: &str = "-delete";
const STRAY_SUFFIX: &str = "-stray";
/// The longest file name ext4, xfs and friends accept.
const MAX_FILE_NAME_BYTES: usize = 255;

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

/// `<topic>-<partition>.<32 hex><suffix>`, the topic cut so the whole name
/// fits in 255 bytes.
fn aside_dir_name(topic: &str, partition: i32, suffix: &str) -> String {
    let tail = format!("-{partition}.{}{suffix}", uuid::Uuid::new_v4().simple());
    let mut cut = topic.len().min(MAX_FILE_NAME_BYTES - tail.len());
    while !topic.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{tail}", &topic[..cut])
}

/// A topic id as Kafka writes it (`Uuid.toString`): URL-safe base64 of
/// the 16 bytes, without padding.
pub fn kafka_uuid_string(id: &uuid::Uuid) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

pub fn parse_kafka_uuid(s: &str) -> Option<uuid::Uuid> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim())
        .ok()?;
    uuid::Uuid::from_slice(&bytes).ok()
}

/// The topic id in a log dir's `partition.metadata`: None when there is no
/// such file (a log written before Runnel kept one); an error when the
/// file exists but does not parse.
fn read_topic_id(dir: &Path) -> Result<Option<uuid::Uuid>, LogError> {
    let text = match std::fs::read_to_string(dir.join(PARTITION_METADATA_FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let field = |name: &str| {
        text.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim() == name)
            .map(|(_, v)| v.trim().to_string())
    };
    match (
        field("version").as_deref(),
        field("topic_id").and_then(|v| parse_kafka_uuid(&v)),
    ) {
        (Some("0"), Some(id)) => Ok(Some(id)),
        _ => Err(LogError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{} is not a valid partition metadata file",
                dir.join(PARTITION_METADATA_FILE).display()
            ),
        ))),
    }
}

fn write_topic_id(dir: &Path, id: &uuid::Uuid) -> Result<(), LogError> {
    let text = format!("version: 0\ntopic_id: {}\n", kafka_uuid_string(id));
    Ok(write_file_durably(
        dir,
        PARTITION_METADATA_FILE,
        text.as_bytes(),
    )?)
}

struct Entry {
    log_dir: usize,
    log: Arc<PartitionLog>,
    /// From `partition.metadata`; None for the metadata log and for logs
    /// written before Runnel kept the file.
    topic_id: Option<uuid::Uuid>,
}

pub struct LogManager {
    log_dirs: Vec<PathBuf>,
    /// Each of `log_dirs`, in the same order: whether it failed a write.
    health: Vec<Arc<LogDirHealth>>,
    failures: Arc<LogDirFailureChannel>,
    default_config: LogConfig,
    logs: RwLock<HashMap<(String, i32), Entry>>,
    /// Logs being created, and the log dir each goes to. Held to decide,
    /// not across a creation's disk I/O, so that many partitions (a topic
    /// of thousands) are created in parallel, while two callers never
    /// create the same log twice: the second waits on `created`.
    create_lock: Mutex<HashMap<(String, i32), usize>>,
    created: Condvar,
    cleaner: LogCleaner,
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
        Self::open_with_threads(
            log_dirs,
            default_config,
            now_ms,
            crate::common::parallel::DISK_THREADS,
        )
    }

    /// [`Self::open`], the logs of each dir opened (recovered after a
    /// crash) on `threads_per_dir` threads
    /// (`num.recovery.threads.per.data.dir`).
    pub fn open_with_threads(
        log_dirs: &[PathBuf],
        default_config: LogConfig,
        now_ms: i64,
        threads_per_dir: usize,
    ) -> Result<LogManager, LogError> {
        let mut logs = HashMap::new();
        for (i, log_dir) in log_dirs.iter().enumerate() {
            std::fs::create_dir_all(log_dir)?;
            let marker = log_dir.join(CLEAN_SHUTDOWN_FILE);
            let clean_shutdown = marker.exists();
            let mut found = Vec::new();
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
                if name.ends_with(STRAY_SUFFIX) {
                    tracing::warn!(dir = %entry.path().display(), "stray log kept aside; remove it when it is not needed");
                    continue;
                }
                let Some((topic, partition)) = parse_log_dir_name(name) else {
                    tracing::debug!(dir = %entry.path().display(), "not a log directory; ignored");
                    continue;
                };
                found.push((topic, partition, entry.path()));
            }
            // Thousands of logs after a crash: recovered on several threads.
            let opened = crate::common::parallel::map_in_parallel(
                &found,
                threads_per_dir,
                |(_, _, path)| {
                    let topic_id = read_topic_id(path)?;
                    let log =
                        PartitionLog::open(path, default_config.clone(), clean_shutdown, now_ms)?;
                    let report = log.open_report();
                    if !clean_shutdown {
                        tracing::info!(
                            dir = %path.display(),
                            segments_recovered = report.segments_recovered,
                            bytes_truncated = report.bytes_truncated,
                            segments_dropped = report.segments_dropped,
                            "recovered log after unclean shutdown"
                        );
                    }
                    Ok::<_, LogError>((topic_id, log))
                },
            );
            for ((topic, partition, path), opened) in found.into_iter().zip(opened) {
                let (topic_id, log) = opened?;
                if logs.contains_key(&(topic.clone(), partition)) {
                    tracing::error!(
                        dir = %path.display(),
                        "partition already loaded from another log dir; ignoring this copy"
                    );
                    continue;
                }
                logs.insert(
                    (topic, partition),
                    Entry {
                        log_dir: i,
                        log: Arc::new(log),
                        topic_id,
                    },
                );
            }
            if clean_shutdown {
                // From now on a crash must trigger recovery.
                std::fs::remove_file(&marker)?;
                sync_dir(log_dir)?;
            }
        }
        let failures = Arc::new(LogDirFailureChannel::default());
        let health: Vec<Arc<LogDirHealth>> = log_dirs
            .iter()
            .map(|d| Arc::new(LogDirHealth::new(d, failures.clone())))
            .collect();
        for entry in logs.values() {
            entry.log.attach_dir(health[entry.log_dir].clone());
        }
        Ok(LogManager {
            cleaner: LogCleaner::open(log_dirs)?,
            log_dirs: log_dirs.to_vec(),
            health,
            failures,
            default_config,
            logs: RwLock::new(logs),
            create_lock: Mutex::new(HashMap::new()),
            created: Condvar::new(),
        })
    }

    pub fn log_dirs(&self) -> &[PathBuf] {
        &self.log_dirs
    }

    /// Installs what the broker does when a log dir fails (once).
    pub fn on_dir_failure(&self, handler: FailureHandler) {
        self.failures.set_handler(handler);
    }

    /// Whether `log_dir` (one of [`Self::log_dirs`]) failed a write.
    pub fn is_dir_offline(&self, log_dir: &Path) -> bool {
        self.health
            .iter()
            .any(|h| h.path() == log_dir && h.is_offline())
    }

    /// Takes `log_dir` offline after a write of a file the broker keeps
    /// there beside the logs (a checkpoint) failed with `error`.
    pub fn fail_dir(&self, log_dir: &Path, error: &std::io::Error) {
        if let Some(h) = self.health.iter().find(|h| h.path() == log_dir) {
            h.fail(error);
        }
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

    /// The log of a partition, created (in the log dir with fewest
    /// partitions) if absent. With a `topic_id`, a log of that name that
    /// belongs to another topic id is moved aside as a stray first, so a
    /// re-created topic never reads its predecessor's records; a log
    /// without a recorded id (written by an older Runnel) is adopted and
    /// gets the id.
    pub fn get_or_create(
        &self,
        topic: &str,
        partition: i32,
        topic_id: Option<uuid::Uuid>,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Arc<PartitionLog>, LogError> {
        if topic.is_empty() || partition < 0 || topic.contains('/') || topic == "." || topic == ".."
        {
            return Err(LogError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("cannot create a log for {topic:?} partition {partition}"),
            )));
        }
        let key = (topic.to_string(), partition);
        let mut creating = self.create_lock.lock().unwrap_or_else(|e| e.into_inner());
        while creating.contains_key(&key) {
            creating = self
                .created
                .wait(creating)
                .unwrap_or_else(|e| e.into_inner());
        }
        let existing = self
            .read_logs()
            .get(&key)
            .map(|e| (Arc::clone(&e.log), e.topic_id));
        match (existing, topic_id) {
            (Some((log, _)), None) => return Ok(log),
            (Some((log, Some(found))), Some(wanted)) if found == wanted => return Ok(log),
            (Some((log, None)), Some(wanted)) => {
                tracing::warn!(dir = %log.dir().display(), topic_id = %kafka_uuid_string(&wanted),
                    "log has no partition.metadata (written by an older version); adopting it for this topic id");
                write_topic_id(log.dir(), &wanted)?;
                if let Some(e) = self.write_logs().get_mut(&key) {
                    e.topic_id = Some(wanted);
                }
                return Ok(log);
            }
            (Some((_, Some(found))), Some(wanted)) => {
                tracing::warn!(topic, partition, found = %kafka_uuid_string(&found), wanted = %kafka_uuid_string(&wanted),
                    "a log of another topic id holds this name; moving it aside as a stray");
                self.move_aside_locked(topic, partition)?;
            }
            (None, _) => {}
        }
        let mut counts = vec![0usize; self.log_dirs.len()];
        for entry in self.read_logs().values() {
            counts[entry.log_dir] += 1;
        }
        for &dir in creating.values() {
            counts[dir] += 1;
        }
        let log_dir = (0..self.log_dirs.len())
            .filter(|i| !self.health[*i].is_offline())
            .min_by_key(|i| counts[*i])
            .ok_or(LogError::Offline)?;
        creating.insert(key.clone(), log_dir);
        drop(creating);
        let created = self.create_log(topic, partition, log_dir, topic_id, config, now_ms);
        if let Err(LogError::Io(e)) = &created {
            // Kafka's `LogManager.getOrCreateLog`: a failed creation fails
            // the directory, as a failed append would.
            self.health[log_dir].fail(e);
        }
        let mut creating = self.create_lock.lock().unwrap_or_else(|e| e.into_inner());
        creating.remove(&key);
        if let Ok(log) = &created {
            log.attach_dir(self.health[log_dir].clone());
            self.write_logs().insert(
                key,
                Entry {
                    log_dir,
                    log: Arc::clone(log),
                    topic_id,
                },
            );
        }
        drop(creating);
        self.created.notify_all();
        created
    }

    /// The disk work of [`Self::get_or_create`]: the log's directory, its
    /// `partition.metadata`, the log itself.
    fn create_log(
        &self,
        topic: &str,
        partition: i32,
        log_dir: usize,
        topic_id: Option<uuid::Uuid>,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Arc<PartitionLog>, LogError> {
        let name = log_dir_name(topic, partition);
        let dir = self.log_dirs[log_dir].join(&name);
        if dir.exists() {
            // Created by someone else since open: never adopted unseen.
            let aside = self.log_dirs[log_dir].join(aside_dir_name(topic, partition, STRAY_SUFFIX));
            tracing::warn!(dir = %dir.display(), aside = %aside.display(), "unknown log dir in the way; moving it aside as a stray");
            std::fs::rename(&dir, &aside)?;
        }
        std::fs::create_dir_all(&dir)?;
        if let Some(id) = &topic_id {
            write_topic_id(&dir, id)?;
        }
        sync_dir(&self.log_dirs[log_dir])?;
        Ok(Arc::new(PartitionLog::open(&dir, config, true, now_ms)?))
    }

    /// Moves aside every log `keep` refuses (given its topic, partition and
    /// recorded topic id): logs of topics the metadata image no longer has.
    /// They are renamed `-stray` and kept, never deleted. Returns how many.
    pub fn move_aside_strays(&self, keep: impl Fn(&str, i32, Option<uuid::Uuid>) -> bool) -> usize {
        // Logs still being created are not in the map yet, and not strays.
        let _creating = self.create_lock.lock().unwrap_or_else(|e| e.into_inner());
        let strays: Vec<(String, i32)> = self
            .read_logs()
            .iter()
            .filter(|((t, p), e)| !keep(t, *p, e.topic_id))
            .map(|(k, _)| k.clone())
            .collect();
        let mut moved = 0;
        for (topic, partition) in strays {
            match self.move_aside_locked(&topic, partition) {
                Ok(()) => moved += 1,
                Err(e) => {
                    tracing::error!(%topic, partition, error = %e, "could not move a stray log aside")
                }
            }
        }
        moved
    }

    fn move_aside_locked(&self, topic: &str, partition: i32) -> Result<(), LogError> {
        let Some(entry) = self.write_logs().remove(&(topic.to_string(), partition)) else {
            return Ok(());
        };
        entry.log.retire();
        let dir = entry.log.dir().to_path_buf();
        let parent = dir.parent().map(Path::to_path_buf).unwrap_or_default();
        let aside = parent.join(aside_dir_name(topic, partition, STRAY_SUFFIX));
        std::fs::rename(&dir, &aside)?;
        sync_dir(&parent)?;
        tracing::warn!(dir = %dir.display(), aside = %aside.display(),
            "log of a topic id the metadata does not know moved aside as a stray");
        Ok(())
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
        let doomed = parent.join(aside_dir_name(topic, partition, DELETE_SUFFIX));
        std::fs::rename(&dir, &doomed)?;
        sync_dir(&parent)?;
        std::fs::remove_dir_all(&doomed)?;
        sync_dir(&parent)?;
        Ok(())
    }

    /// One round of background work: retention and recovery points. The
    /// broker calls it from a periodic task (`log.retention.check.interval.ms`).
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

    /// One round of the log cleaner over every compacted log (the broker's
    /// cleaner task calls it every `log.cleaner.backoff.ms` when the
    /// previous round found nothing to do). Returns how many logs it cleaned.
    pub fn run_cleaner(&self, settings: &CleanerSettings, now_ms: i64) -> usize {
        let all = self.all();
        self.cleaner.forget_others(&all);
        self.cleaner
            .run_round(&all, settings, now_ms)
            .iter()
            .filter(|(_, _, s)| s.end_offset > s.first_dirty_offset)
            .count()
    }

    /// The log cleaner's state (checkpoints, logs in progress).
    pub fn cleaner(&self) -> &LogCleaner {
        &self.cleaner
    }

    /// The flusher's round: every log whose `flush.ms` has passed is
    /// fsynced. The broker calls it every `log.flush.scheduler.interval.ms`.
    pub fn flush_dirty(&self, now_ms: i64) {
        for (topic, partition, log) in self.all() {
            match log.flush_if_due(now_ms) {
                Ok(_) | Err(LogError::Offline) => {}
                Err(e) => {
                    tracing::error!(%topic, partition, error = %e, "scheduled log flush failed")
                }
            }
        }
    }

    /// Closes every log and writes the clean-shutdown markers (only in log
    /// dirs whose logs all closed cleanly).
    pub fn shutdown(&self) -> Result<(), LogError> {
        self.cleaner.abort();
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
    fn a_failed_write_takes_its_whole_log_dir_offline_and_only_that_one() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = [tmp.path().join("a"), tmp.path().join("b")];
        let manager = LogManager::open(&dirs, LogConfig::default(), 0).unwrap();
        let reports = Arc::new(Mutex::new(Vec::new()));
        let sink = reports.clone();
        manager.on_dir_failure(Box::new(move |dir, _| {
            sink.lock().unwrap().push(dir.to_path_buf())
        }));
        let logs: Vec<Arc<PartitionLog>> = (0..4)
            .map(|p| {
                manager
                    .get_or_create("t", p, None, LogConfig::default(), 0)
                    .unwrap()
            })
            .collect();
        let in_dir = |d: &Path| -> Vec<&Arc<PartitionLog>> {
            logs.iter()
                .filter(|l| l.dir().parent() == Some(d))
                .collect()
        };
        assert_eq!((in_dir(&dirs[0]).len(), in_dir(&dirs[1]).len()), (2, 2));

        let failing = in_dir(&dirs[0])[0];
        let e = failing.fail_file_write(std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert!(matches!(e, LogError::Io(_)));
        // Its neighbour in the same dir refuses writes and reads too.
        let neighbour = in_dir(&dirs[0])[1];
        assert!(neighbour.is_offline());
        let batch = crate::log::testing::make_value_batch(1, 10, 0);
        assert!(matches!(
            neighbour.append(batch.clone(), 0, 0),
            Err(LogError::Offline)
        ));
        assert!(matches!(
            neighbour.read(0, 1 << 20, i64::MAX),
            Err(LogError::Offline)
        ));
        assert!(manager.is_dir_offline(&dirs[0]) && !manager.is_dir_offline(&dirs[1]));
        for log in in_dir(&dirs[1]) {
            assert!(!log.is_offline());
            log.append(batch.clone(), 0, 0).unwrap();
        }
        // Reported once, however many of its logs fail after.
        neighbour.fail_file_write(std::io::Error::other("EIO"));
        assert_eq!(*reports.lock().unwrap(), vec![dirs[0].clone()]);
        // New logs go to the dir that still works.
        let new = manager
            .get_or_create("t", 9, None, LogConfig::default(), 0)
            .unwrap();
        assert_eq!(new.dir().parent(), Some(dirs[1].as_path()));
    }

    #[test]
    fn aside_names_fit_a_file_name_and_do_not_parse_as_logs() {
        let long = "x".repeat(249);
        for suffix in [DELETE_SUFFIX, STRAY_SUFFIX] {
            let name = aside_dir_name(&long, 12345, suffix);
            assert!(name.len() <= MAX_FILE_NAME_BYTES, "{}", name.len());
            assert!(name.ends_with(suffix) && name.starts_with("xxx"));
            assert_eq!(parse_log_dir_name(&name), None);
            let short = aside_dir_name("orders", 3, suffix);
            assert!(short.starts_with("orders-3.") && short.ends_with(suffix));
        }
    }

    #[test]
    fn topic_ids_are_written_as_kafka_writes_them() {
        let tmp = tempfile::tempdir().unwrap();
        let id = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        write_topic_id(tmp.path(), &id).unwrap();
        let text = std::fs::read_to_string(tmp.path().join(PARTITION_METADATA_FILE)).unwrap();
        assert_eq!(text, "version: 0\ntopic_id: ASNFZ4mrze8BI0VniavN7w\n");
        assert_eq!(read_topic_id(tmp.path()).unwrap(), Some(id));
        std::fs::write(tmp.path().join(PARTITION_METADATA_FILE), "garbage").unwrap();
        assert!(read_topic_id(tmp.path()).is_err());
        assert_eq!(read_topic_id(&tmp.path().join("none")).unwrap(), None);
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
