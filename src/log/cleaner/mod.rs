//! The log cleaner: compaction of every log whose `cleanup.policy` holds
//! `compact` (Kafka's `LogCleaner`, `LogCleanerManager` and `Cleaner`).
//!
//! - [`decision`]: which log to clean and how far, as pure functions.
//! - [`offset_map`]: the latest offset per key over the dirty section.
//! - [`filter`]: what one batch becomes.
//! - [`checkpoint`]: `cleaner-offset-checkpoint` in each log dir.
//! - [`metrics`]: Kafka's cleaner metrics.
//!
//! One cleaning of a log: build the offset map over the dirty section (from
//! the checkpoint up to the first uncleanable offset, or as far as
//! `log.cleaner.dedupe.buffer.size` allows), then rewrite every segment
//! below that point, in groups of at most `segment.bytes`, into
//! `<base>.log.cleaned` files, fsynced, and swap each in through
//! [`PartitionLog::replace_segments`]. Only then is the checkpoint moved,
//! so a crash at any point costs at most a repeated cleaning. The cleaning
//! reads segments that no append touches (never the active one) and holds
//! the log's writer lock only for the swap itself.
//!
//! Who calls what: the broker's cleaner task calls [`LogCleaner::run_round`]
//! on a blocking thread; the round spawns up to `log.cleaner.threads`
//! scoped threads, each taking the dirtiest log not taken by another.

pub mod checkpoint;
pub mod decision;
pub mod filter;
pub mod metrics;
pub mod offset_map;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::log::batch::BatchHeader;
use crate::log::partition_log::PartitionLog;
use crate::log::segment::Segment;
use crate::log::{LogConfig, LogError};
use checkpoint::CleanerCheckpoints;
use decision::{Assessment, CompactionConfig};
use filter::{FilterContext, Filtered, parse_records, records_section};
use offset_map::OffsetMap;

/// The broker-wide cleaner settings a round reads (dynamic: read afresh
/// every round).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanerSettings {
    /// `log.cleaner.threads`.
    pub threads: usize,
    /// `log.cleaner.dedupe.buffer.size`, shared by the threads.
    pub dedupe_buffer_size: usize,
    /// `log.cleaner.io.max.bytes.per.second`.
    pub io_max_bytes_per_second: f64,
}

/// Why a log could not be cleaned.
#[derive(Debug, thiserror::Error)]
pub enum CleanerError {
    /// Not one batch of the dirty section fits the offset map.
    #[error(
        "the dedupe buffer of {budget} bytes cannot hold the keys of one batch at offset {offset}"
    )]
    BufferTooSmall { budget: usize, offset: i64 },
    /// The cleaner is stopping.
    #[error("the cleaning was aborted")]
    Aborted,
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// What one cleaning did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CleanSummary {
    pub first_dirty_offset: i64,
    /// The new checkpoint: everything below it is clean.
    pub end_offset: i64,
    pub segments_read: usize,
    pub segments_written: usize,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub records_read: u64,
    pub records_retained: u64,
    pub keys_in_map: usize,
    pub buffer_utilization: f64,
    pub map_ms: u64,
    pub total_ms: u64,
    /// Groups not swapped in because the log changed meanwhile.
    pub groups_abandoned: usize,
}

type LogKey = (String, i32);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The cleaner's state: the checkpoints of every log dir, the logs being
/// cleaned, those that failed (uncleanable, as Kafka marks them), and the
/// stop flag.
pub struct LogCleaner {
    checkpoints: Mutex<BTreeMap<PathBuf, CleanerCheckpoints>>,
    in_progress: Mutex<BTreeSet<LogKey>>,
    uncleanable: Mutex<BTreeMap<LogKey, u64>>,
    last_run_ms: AtomicI64,
    aborted: AtomicBool,
}

impl LogCleaner {
    /// Reads each log dir's `cleaner-offset-checkpoint`.
    pub fn open(log_dirs: &[PathBuf]) -> std::io::Result<LogCleaner> {
        let mut checkpoints = BTreeMap::new();
        for dir in log_dirs {
            checkpoints.insert(dir.clone(), checkpoint::read(dir)?);
        }
        Ok(LogCleaner {
            checkpoints: Mutex::new(checkpoints),
            in_progress: Mutex::new(BTreeSet::new()),
            uncleanable: Mutex::new(BTreeMap::new()),
            last_run_ms: AtomicI64::new(-1),
            aborted: AtomicBool::new(false),
        })
    }

    /// Stops cleanings in progress at their next batch (shutdown).
    pub fn abort(&self) {
        self.aborted.store(true, Ordering::Release);
    }

    /// The checkpointed first dirty offset of a log.
    pub fn checkpoint_of(&self, log: &PartitionLog, topic: &str, partition: i32) -> Option<i64> {
        let dir = log.dir().parent()?.to_path_buf();
        lock(&self.checkpoints)
            .get(&dir)?
            .get(&(topic.to_string(), partition))
            .copied()
    }

    /// One round: up to `settings.threads` threads clean the dirtiest logs
    /// among `logs` until none needs cleaning. Returns the cleanings done.
    pub fn run_round(
        &self,
        logs: &[(String, i32, Arc<PartitionLog>)],
        settings: &CleanerSettings,
        now_ms: i64,
    ) -> Vec<(String, i32, CleanSummary)> {
        let threads = settings.threads.max(1);
        let budget = settings.dedupe_buffer_size / threads;
        let throttler = Throttler::new(settings.io_max_bytes_per_second);
        let done = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    while let Some((topic, partition, log, assessment)) =
                        self.grab_filthiest(logs, now_ms)
                    {
                        let result =
                            self.clean(&topic, partition, &log, &assessment, budget, &throttler, now_ms);
                        lock(&self.in_progress).remove(&(topic.clone(), partition));
                        match result {
                            Ok(summary) => lock(&done).push((topic, partition, summary)),
                            Err(CleanerError::Aborted) => return,
                            Err(CleanerError::Log(LogError::Offline)) => {
                                // Deleted, closed or failed meanwhile; a failed
                                // log logged its own error and is skipped while
                                // offline.
                            }
                            Err(e) => {
                                tracing::warn!(%topic, partition, error = %e,
                                    "log cleaning failed; the partition is uncleanable until restart");
                                let size = log.size_bytes();
                                lock(&self.uncleanable).insert((topic, partition), size);
                            }
                        }
                    }
                });
            }
        });
        let uncleanable = lock(&self.uncleanable);
        metrics::on_uncleanable(uncleanable.len(), uncleanable.values().sum());
        drop(uncleanable);
        self.last_run_ms.store(now_ms, Ordering::Release);
        done.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks and returns the log most in need of cleaning, and updates the
    /// max dirty percent.
    fn grab_filthiest(
        &self,
        logs: &[(String, i32, Arc<PartitionLog>)],
        now_ms: i64,
    ) -> Option<(String, i32, Arc<PartitionLog>, Assessment)> {
        if self.aborted.load(Ordering::Acquire) {
            return None;
        }
        let mut in_progress = lock(&self.in_progress);
        let uncleanable = lock(&self.uncleanable);
        let mut candidates = Vec::new();
        let mut max_ratio = 0f64;
        for (i, (topic, partition, log)) in logs.iter().enumerate() {
            let config = log.config();
            let key = (topic.clone(), *partition);
            if !config.cleanup_compact
                || log.is_offline()
                || in_progress.contains(&key)
                || uncleanable.contains_key(&key)
            {
                continue;
            }
            let (summary, _) = log.summary();
            let checkpoint = self.checkpoint_of(log, topic, *partition);
            let compaction = compaction_config(&config);
            let assessment = decision::assess(&summary, checkpoint, &compaction, now_ms);
            max_ratio = max_ratio.max(assessment.dirty_ratio);
            candidates.push((i, assessment, compaction));
        }
        let last = self.last_run_ms.load(Ordering::Acquire);
        metrics::on_round(max_ratio, if last < 0 { 0 } else { now_ms - last });
        let chosen = decision::choose(&candidates)?;
        let assessment = candidates.iter().find(|(i, _, _)| *i == chosen)?.1;
        let (topic, partition, log) = &logs[chosen];
        in_progress.insert((topic.clone(), *partition));
        Some((topic.clone(), *partition, Arc::clone(log), assessment))
    }

    /// Cleans one log and moves its checkpoint.
    #[allow(clippy::too_many_arguments)]
    fn clean(
        &self,
        topic: &str,
        partition: i32,
        log: &PartitionLog,
        assessment: &Assessment,
        budget: usize,
        throttler: &Throttler,
        now_ms: i64,
    ) -> Result<CleanSummary, CleanerError> {
        let summary = clean_log(log, assessment, budget, throttler, &self.aborted, now_ms)?;
        if let Some(dir) = log.dir().parent() {
            let mut all = lock(&self.checkpoints);
            let entries = all.entry(dir.to_path_buf()).or_default();
            entries.insert((topic.to_string(), partition), summary.end_offset);
            checkpoint::write(dir, entries)?;
        }
        let mb = summary.bytes_read as f64 / (1024.0 * 1024.0);
        let seconds = (summary.total_ms as f64 / 1000.0).max(0.001);
        tracing::info!(
            %topic,
            partition,
            first_dirty_offset = summary.first_dirty_offset,
            end_offset = summary.end_offset,
            segments = format_args!("{} -> {}", summary.segments_read, summary.segments_written),
            bytes = format_args!("{} -> {}", summary.bytes_read, summary.bytes_written),
            records = format_args!("{} -> {}", summary.records_read, summary.records_retained),
            keys = summary.keys_in_map,
            map_ms = summary.map_ms,
            total_ms = summary.total_ms,
            mb_per_s = format_args!("{:.1}", mb / seconds),
            "cleaned log"
        );
        metrics::on_cleaned(
            summary.bytes_read,
            summary.bytes_written,
            summary.total_ms as f64 / 1000.0,
            summary.buffer_utilization,
        );
        Ok(summary)
    }

    /// Drops the checkpoints of logs no longer hosted (deleted topics), as
    /// Kafka's `updateCheckpoints` does; called with every hosted log.
    pub fn forget_others(&self, hosted: &[(String, i32, Arc<PartitionLog>)]) {
        lock(&self.uncleanable)
            .retain(|(t, p), _| hosted.iter().any(|(ht, hp, _)| ht == t && hp == p));
        let mut all = lock(&self.checkpoints);
        for (dir, entries) in all.iter_mut() {
            let before = entries.len();
            entries.retain(|(t, p), _| {
                hosted.iter().any(|(ht, hp, l)| {
                    ht == t && hp == p && l.dir().parent() == Some(dir.as_path())
                })
            });
            if entries.len() != before
                && let Err(e) = checkpoint::write(dir, entries)
            {
                tracing::warn!(dir = %dir.display(), error = %e, "writing the cleaner checkpoint failed");
            }
        }
    }
}

fn compaction_config(config: &LogConfig) -> CompactionConfig {
    CompactionConfig {
        min_cleanable_dirty_ratio: config.min_cleanable_dirty_ratio,
        min_compaction_lag_ms: config.min_compaction_lag_ms,
        max_compaction_lag_ms: config.max_compaction_lag_ms,
    }
}

/// Kafka's `Throttler`: keeps the cleaner's reads plus writes under
/// `log.cleaner.io.max.bytes.per.second` by sleeping when ahead.
pub struct Throttler {
    bytes_per_second: f64,
    start: Instant,
    bytes: Mutex<f64>,
}

impl Throttler {
    pub fn new(bytes_per_second: f64) -> Self {
        Throttler {
            bytes_per_second,
            start: Instant::now(),
            bytes: Mutex::new(0.0),
        }
    }

    fn maybe_throttle(&self, bytes: u64, aborted: &AtomicBool) {
        if !(self.bytes_per_second.is_finite() && self.bytes_per_second > 0.0)
            || self.bytes_per_second >= f64::MAX / 2.0
        {
            return;
        }
        let target = {
            let mut total = lock(&self.bytes);
            *total += bytes as f64;
            Duration::from_secs_f64(*total / self.bytes_per_second)
        };
        while self.start.elapsed() < target && !aborted.load(Ordering::Acquire) {
            let left = target - self.start.elapsed();
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
    }
}

/// The batches of a segment: positions and headers, from a header scan.
fn batches_of(segment: &Segment, size: u64) -> std::io::Result<Vec<(u64, BatchHeader)>> {
    let mut out = Vec::new();
    segment.scan_headers(0, size, |pos, h| {
        out.push((pos, *h));
        true
    })?;
    Ok(out)
}

/// One cleaning of `log` (see the module header).
pub fn clean_log(
    log: &PartitionLog,
    assessment: &Assessment,
    budget: usize,
    throttler: &Throttler,
    aborted: &AtomicBool,
    now_ms: i64,
) -> Result<CleanSummary, CleanerError> {
    let started = Instant::now();
    let config = log.config();
    let (summary, segments) = log.summary();
    let sizes: Vec<u64> = summary.segments.iter().map(|s| s.size).collect();
    let first_dirty = assessment.first_dirty_offset;
    let uncleanable = assessment.first_uncleanable_offset;

    // 1. The offset map over [first_dirty, uncleanable).
    let mut map = OffsetMap::new(budget);
    let mut full = false;
    'segments: for (i, segment) in segments.iter().enumerate() {
        if segment.base_offset() >= uncleanable {
            break;
        }
        let next_base = segments.get(i + 1).map_or(i64::MAX, |s| s.base_offset());
        if next_base <= first_dirty {
            continue;
        }
        for (pos, header) in batches_of(segment, sizes[i])? {
            if header.last_offset() < first_dirty {
                continue;
            }
            if aborted.load(Ordering::Acquire) {
                return Err(CleanerError::Aborted);
            }
            let bytes = segment.read_bytes(pos, header.size())?;
            throttler.maybe_throttle(bytes.len() as u64, aborted);
            if header.is_control() {
                map.cover(header.last_offset());
                continue;
            }
            let plain = records_section(&bytes, &header)?;
            let records = parse_records(&plain, header.record_count.max(0) as usize)?;
            let keyed = records.iter().filter_map(|r| {
                let offset = header.base_offset + i64::from(r.offset_delta);
                r.key.filter(|_| offset >= first_dirty).map(|k| (k, offset))
            });
            if !map.fits(keyed.clone().map(|(k, _)| k)) {
                if map.latest_offset() < first_dirty {
                    return Err(CleanerError::BufferTooSmall {
                        budget,
                        offset: header.base_offset,
                    });
                }
                full = true;
                break 'segments;
            }
            for (key, offset) in keyed {
                map.put(key, offset);
            }
            map.cover(header.last_offset());
        }
    }
    let end_offset = if full {
        map.latest_offset() + 1
    } else {
        uncleanable
    };
    let map_ms = started.elapsed().as_millis() as u64;

    // 2. Which batch is the last of its producer below the end (kept even
    // if emptied, for the producer's sequence numbers).
    let groups = decision::group_segments(&summary.segments, end_offset, config.segment_bytes);
    let mut last_of_producer: HashMap<i64, i64> = HashMap::new();
    for (i, segment) in segments.iter().enumerate() {
        if segment.base_offset() >= end_offset {
            break;
        }
        segment.scan_headers(0, sizes[i], |_, h| {
            if h.producer_id >= 0 {
                last_of_producer.insert(h.producer_id, h.last_offset());
            }
            true
        })?;
    }

    // 3. Rewrite each group and swap it in.
    let mut out = CleanSummary {
        first_dirty_offset: first_dirty,
        end_offset,
        keys_in_map: map.len(),
        buffer_utilization: map.utilization(),
        map_ms,
        ..CleanSummary::default()
    };
    for group in groups {
        let base = segments[group[0]].base_offset();
        let cleaned_path = log.dir().join(format!("{base:020}.log.cleaned"));
        let mut file = std::io::BufWriter::new(
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&cleaned_path)?,
        );
        let mut last_kept = None;
        let mut written = 0u64;
        let mut newest_mtime = None;
        for &i in &group {
            let segment = &segments[i];
            out.segments_read += 1;
            out.bytes_read += sizes[i];
            if let Ok(m) = segment.log_path().metadata().and_then(|m| m.modified()) {
                newest_mtime = newest_mtime.max(Some(m));
            }
            // Headers of one segment at a time: memory stays bounded by
            // the segment, not the log.
            for (pos, header) in &batches_of(segment, sizes[i])? {
                if aborted.load(Ordering::Acquire) {
                    drop(file);
                    let _ = std::fs::remove_file(&cleaned_path);
                    return Err(CleanerError::Aborted);
                }
                let bytes = segment.read_bytes(*pos, header.size())?;
                throttler.maybe_throttle(bytes.len() as u64, aborted);
                let retain_empty = (header.producer_id >= 0
                    && last_of_producer.get(&header.producer_id) == Some(&header.last_offset()))
                    || header.next_offset() == end_offset;
                let ctx = FilterContext {
                    map: &map,
                    now_ms,
                    delete_retention_ms: config.delete_retention_ms,
                    retain_empty,
                };
                let (filtered, counts) = filter::filter_batch(&bytes, header, &ctx)?;
                out.records_read += counts.records_read;
                out.records_retained += counts.records_retained;
                let kept: &[u8] = match &filtered {
                    Filtered::Original => &bytes,
                    Filtered::Rebuilt(b) => b,
                    Filtered::Removed => continue,
                };
                file.write_all(kept)?;
                throttler.maybe_throttle(kept.len() as u64, aborted);
                written += kept.len() as u64;
                last_kept = Some(header.last_offset());
            }
        }
        let file = file.into_inner().map_err(|e| e.into_error())?;
        if let Some(m) = newest_mtime {
            // Retention by time falls back to the file's age: keep the old one.
            let _ = file.set_modified(m);
        }
        file.sync_all()?;
        drop(file);
        let old: Vec<(Arc<Segment>, u64)> = group
            .iter()
            .map(|&i| (Arc::clone(&segments[i]), sizes[i]))
            .collect();
        if log.replace_segments(&old, &cleaned_path, last_kept)? {
            out.segments_written += 1;
            out.bytes_written += written;
        } else {
            out.groups_abandoned += 1;
        }
    }
    out.total_ms = started.elapsed().as_millis() as u64;
    if out.groups_abandoned > 0 {
        // Some of the log was not cleaned: keep the old checkpoint.
        out.end_offset = first_dirty;
    }
    Ok(out)
}

/// One record as a full read returns it: offset, key, value.
pub type ReadRecord = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

/// Every record a full read of `log` returns, for tests and tools.
pub fn read_all_records(log: &PartitionLog) -> Result<Vec<ReadRecord>, LogError> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let read = log.read(offset, 1 << 20, i64::MAX)?;
        if read.records.is_empty() {
            break;
        }
        for item in crate::log::batch::BatchIter::new(&read.records) {
            let (header, bytes) = item?;
            offset = header.next_offset();
            if header.is_control() {
                continue;
            }
            let plain = records_section(bytes, &header)?;
            for r in parse_records(&plain, header.record_count.max(0) as usize)? {
                let record_offset = header.base_offset + i64::from(r.offset_delta);
                if record_offset < log.log_start_offset() {
                    continue;
                }
                let value = value_of(&r)?;
                out.push((record_offset, r.key.map(<[u8]>::to_vec), value));
            }
        }
    }
    Ok(out)
}

fn value_of(r: &filter::Record<'_>) -> Result<Option<Vec<u8>>, LogError> {
    use crate::log::validate::read_varint_at;
    let (key_len, mut pos) = read_varint_at(r.tail, 0)?;
    if key_len > 0 {
        pos += key_len as usize;
    }
    let (value_len, len_len) = read_varint_at(r.tail, pos)?;
    if value_len < 0 {
        return Ok(None);
    }
    let start = pos + len_len;
    r.tail
        .get(start..start + value_len as usize)
        .map(|v| Some(v.to_vec()))
        .ok_or_else(|| LogError::InvalidBatch("a value runs past its record".into()))
}

/// The path of a log dir's cleaner checkpoint (for tools and tests).
pub fn checkpoint_path(log_dir: &Path) -> PathBuf {
    log_dir.join(checkpoint::CLEANER_CHECKPOINT_FILE)
}

#[cfg(test)]
mod tests;
