//! The log of one partition: an ordered set of segments, the active one last.
//! Kafka counterpart: `LocalLog` + the log-only parts of `UnifiedLog`.
//!
//! Concurrency: `&self` methods are safe from many threads. One writer at a
//! time appends (an internal append lock); readers never take it and see only
//! batches whose bytes are fully written (the log end offset is published
//! after the write). fsync runs outside the append lock.
//!
//! Locks, always taken in this order: `writer` (appends, roll, truncation,
//! retention, DeleteRecords) → `flush_lock` (one fsync at a time) →
//! `segments` (held only to look up or swap `Arc<Segment>`s, never across
//! I/O) → `checkpoint`. Readers take only a short `segments` read lock.
//!
//! Where we differ from Kafka, on purpose: deleted segments are unlinked at
//! once instead of lingering as `.deleted` for `file.delete.delay.ms`
//! (readers holding a segment keep reading the unlinked file); the recovery
//! point and log start offset live in a per-partition `runnel.checkpoint`
//! (see `recovery`) rather than in per-log-dir checkpoint files.
//!
//! Invariants: `log_start_offset <= log_end_offset`; the first segment's
//! base offset <= `log_start_offset`; `recovery_point <= log_end_offset`;
//! the active segment's next offset == `log_end_offset`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};

use bytes::{Bytes, BytesMut};

use crate::log::batch::{
    BatchHeader, BatchIter, TimestampType, Validation, set_base_offset, set_log_append_time,
    set_partition_leader_epoch, validate_batch,
};
use crate::log::cleaner::decision::{LogSummary, SegmentSummary};
use crate::log::dir_failure::LogDirHealth;
use crate::log::leader_epoch::LeaderEpochCache;
use crate::log::metrics;
use crate::log::record_walk::record_offsets_and_timestamps;
use crate::log::recovery::{
    Checkpoint, first_segment_to_recover, read_checkpoint, sync_dir, write_checkpoint,
};
use crate::log::segment::{
    FileSlice, INDEX_SUFFIX, LOG_SUFFIX, Segment, TIME_INDEX_SUFFIX, parse_segment_file_name,
    segment_file,
};
use crate::log::validate::ValidatedBatch;
use crate::log::{LogConfig, LogError};

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset assigned to the first record of the first batch.
    pub base_offset: i64,
    /// Offset of the last record appended.
    pub last_offset: i64,
    /// The broker's timestamp when `message.timestamp.type=LogAppendTime`, else -1.
    pub log_append_time_ms: i64,
    /// Log start offset after the append.
    pub log_start_offset: i64,
    /// Number of records appended (sum of record counts of the batches).
    pub record_count: u64,
}

/// What a read returned.
#[derive(Debug, Clone)]
pub struct ReadInfo {
    /// Whole batches, back to back, starting with the batch that contains the
    /// requested offset. Empty when there is nothing at or after it below the
    /// upper bound.
    pub records: Bytes,
    /// Log start offset and log end offset at the time of the read.
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// What [`PartitionLog::read_slice`] found: the same batches as a read,
/// left in the segment file.
#[derive(Debug, Clone)]
pub struct SliceInfo {
    /// None when there is nothing at or after the offset below the bound.
    pub slice: Option<FileSlice>,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// Where a read starts: the batch holding the offset, in its segment of
/// `end` bytes, and the offset the read may not reach.
struct Located {
    segment: Arc<Segment>,
    pos: u64,
    first: BatchHeader,
    end: u64,
    max_offset: i64,
}

/// Answer of a look-up by timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
    /// Partition leader epoch of the batch holding `offset`, -1 if unknown.
    pub leader_epoch: i32,
}

/// Recovery details of the last `open`, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Segments whose batches were re-validated.
    pub segments_recovered: usize,
    /// Bytes cut from torn or corrupt tails.
    pub bytes_truncated: u64,
    /// Segments deleted because they followed a corrupt one.
    pub segments_dropped: usize,
    /// Segments whose indexes were rebuilt.
    pub indexes_rebuilt: usize,
}

/// The bytes of a batch before its magic byte: baseOffset, batchLength and
/// partitionLeaderEpoch, all outside the CRC, so the leader rewrites them
/// without touching the rest.
const BATCH_PREFIX_LEN: usize = 16;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of our locks leaves no torn state behind
    // (all state is in atomics or swapped whole), so poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct PartitionLog {
    dir: PathBuf,
    config: RwLock<Arc<LogConfig>>,
    segments: RwLock<BTreeMap<i64, Arc<Segment>>>,
    writer: Mutex<()>,
    flush_lock: Mutex<()>,
    checkpoint: Mutex<Checkpoint>,
    log_end_offset: AtomicI64,
    log_start_offset: AtomicI64,
    /// Every byte below this offset is fsynced (Kafka's recovery point).
    recovery_point: AtomicI64,
    last_flush_ms: AtomicI64,
    /// The latest `now_ms` any caller passed in (the log never reads a clock).
    latest_now_ms: AtomicI64,
    offline: AtomicBool,
    /// The log dir this log lives in, once a [`LogManager`] adopts it: a
    /// failure of any log there takes this one offline too.
    ///
    /// [`LogManager`]: super::manager::LogManager
    dir_health: OnceLock<Arc<LogDirHealth>>,
    closed: AtomicBool,
    open_report: OpenReport,
    /// Which leader epoch began where (`leader-epoch-checkpoint`).
    epochs: Mutex<LeaderEpochCache>,
    /// The cache's latest epoch (-1: none), read without its lock: an
    /// append of batches in that epoch, nearly every one, changes nothing.
    latest_epoch: AtomicI32,
}

impl PartitionLog {
    /// Opens (or creates) the log in `dir`. When `clean_shutdown` is false,
    /// segments past the recovery point are validated and a torn or corrupt
    /// tail is cut; missing or damaged indexes are rebuilt either way.
    pub fn open(
        dir: &Path,
        config: LogConfig,
        clean_shutdown: bool,
        now_ms: i64,
    ) -> Result<PartitionLog, LogError> {
        std::fs::create_dir_all(dir)?;
        let mut report = OpenReport::default();
        let mut dir_changed = false;
        let mut recovered = Vec::new();
        let mut bases = Vec::new();
        let mut index_files = Vec::new();
        // A cleaning interrupted after its `.swap` rename: finish it first.
        if complete_interrupted_swaps(dir)? {
            dir_changed = true;
        }
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(".deleted")
                || name.ends_with(".cleaned")
                || name.ends_with(".swap")
                || name.ends_with(".tmp")
            {
                // Leftovers of an interrupted delete, write or cleaning (a
                // `.cleaned` file was never swapped in); never live data for us.
                std::fs::remove_file(entry.path())?;
                dir_changed = true;
                continue;
            }
            match parse_segment_file_name(name) {
                Some((base, LOG_SUFFIX)) => bases.push(base),
                Some((base, "index" | "timeindex")) => index_files.push((base, entry.path())),
                _ => {}
            }
        }
        bases.sort_unstable();
        for (base, path) in index_files {
            if bases.binary_search(&base).is_err() {
                std::fs::remove_file(path)?;
                dir_changed = true;
            }
        }
        let checkpoint = read_checkpoint(dir)?;
        let interval = config.index_interval_bytes;
        let mut segments: Vec<Arc<Segment>> = Vec::with_capacity(bases.len());
        let mut sane = Vec::with_capacity(bases.len());
        for base in &bases {
            let (segment, ok) = Segment::open(dir, *base, now_ms)?;
            segments.push(Arc::new(segment));
            sane.push(ok);
        }
        let first_to_recover = if clean_shutdown {
            segments.len()
        } else {
            first_segment_to_recover(&bases, checkpoint.map(|c| c.recovery_point))
        };
        let mut i = 0;
        let mut min_offset = 0;
        let mut cut_at = None;
        while i < segments.len() {
            let segment = &segments[i];
            let is_last = i + 1 == segments.len();
            // An empty segment holds nothing a crash could have torn.
            let mut recover = (i >= first_to_recover && segment.size() > 0) || !sane[i];
            if !recover {
                if is_last {
                    recover = !segment.load_tail()?;
                } else {
                    // Trusted without a scan: it ends where the next begins.
                    segment.set_next_offset(segments[i + 1].base_offset());
                }
                if !recover && !segment.indexes_fit() {
                    sane[i] = false;
                    recover = true;
                }
            }
            if recover {
                if sane[i] {
                    report.segments_recovered += 1;
                } else {
                    report.indexes_rebuilt += 1;
                }
                let outcome = segment.recover(min_offset, interval)?;
                recovered.push(segment.base_offset());
                report.bytes_truncated += outcome.truncated_bytes;
                if let Some(reason) = &outcome.reason {
                    tracing::warn!(
                        dir = %dir.display(),
                        segment = segment.base_offset(),
                        reason = %reason,
                        truncated_bytes = outcome.truncated_bytes,
                        "cut a corrupt or torn log tail during recovery"
                    );
                    cut_at = Some(i + 1);
                    break;
                }
            }
            min_offset = segment.next_offset();
            i += 1;
            if i < segments.len() && segments[i].base_offset() < min_offset {
                tracing::warn!(
                    dir = %dir.display(),
                    segment = segments[i].base_offset(),
                    "segment overlaps its predecessor; dropping it and later ones"
                );
                cut_at = Some(i);
                break;
            }
        }
        if let Some(cut) = cut_at {
            for segment in segments.drain(cut..) {
                report.segments_dropped += 1;
                segment.delete_files()?;
            }
        }
        let mut log_start_offset = checkpoint.map(|c| c.log_start_offset).unwrap_or(0);
        if let Some(first) = segments.first() {
            log_start_offset = log_start_offset.max(first.base_offset());
        }
        let log_end_offset = segments.last().map(|s| s.next_offset());
        match log_end_offset {
            Some(end) if end >= log_start_offset => {}
            _ => {
                // Nothing on disk, or recovery cut below the log start
                // offset: start empty at the log start offset, as Kafka does.
                for segment in segments.drain(..) {
                    segment.delete_files()?;
                }
                dir_changed = true;
                segments.push(Arc::new(Segment::create(dir, log_start_offset, now_ms)?));
            }
        }
        let log_end_offset = segments.last().map(|s| s.next_offset()).unwrap_or(0);
        // What recovery kept is now the durable truth; segments below the
        // recovery point were fsynced before the crash.
        for segment in &segments {
            if recovered.contains(&segment.base_offset()) {
                segment.sync()?;
            }
        }
        if dir_changed || report != OpenReport::default() {
            sync_dir(dir)?;
        }
        let new_checkpoint = Checkpoint {
            log_start_offset,
            recovery_point: log_end_offset,
        };
        // A clean restart rewrites nothing, so it costs no fsync. Nor does an
        // empty log (brand-new, or reopened before its first record): no
        // checkpoint file means start 0 and recovery from the first
        // segment, exactly what an empty log's checkpoint says, and skipping
        // its two fsyncs halves the cost of creating a partition.
        let fresh = checkpoint.is_none()
            && new_checkpoint.recovery_point == 0
            && new_checkpoint.log_start_offset == 0;
        if checkpoint != Some(new_checkpoint) && !fresh {
            write_checkpoint(dir, new_checkpoint)?;
        }
        let checkpoint = new_checkpoint;
        // Epochs the file names past what recovery kept (a torn tail) or
        // below the log start are forgotten.
        let mut epochs = LeaderEpochCache::load(dir)?;
        let trimmed = epochs.truncate_from_end(log_end_offset);
        if epochs.truncate_from_start(log_start_offset) || trimmed {
            epochs.store(dir)?;
        }
        let log = PartitionLog {
            dir: dir.to_path_buf(),
            config: RwLock::new(Arc::new(config)),
            segments: RwLock::new(segments.into_iter().map(|s| (s.base_offset(), s)).collect()),
            writer: Mutex::new(()),
            flush_lock: Mutex::new(()),
            checkpoint: Mutex::new(checkpoint),
            log_end_offset: AtomicI64::new(log_end_offset),
            log_start_offset: AtomicI64::new(log_start_offset),
            recovery_point: AtomicI64::new(log_end_offset),
            last_flush_ms: AtomicI64::new(now_ms),
            latest_now_ms: AtomicI64::new(now_ms),
            offline: AtomicBool::new(false),
            dir_health: OnceLock::new(),
            closed: AtomicBool::new(false),
            open_report: report,
            latest_epoch: AtomicI32::new(epochs.latest_epoch().unwrap_or(-1)),
            epochs: Mutex::new(epochs),
        };
        debug_assert!(log.log_start_offset() <= log.log_end_offset());
        if log.open_report.segments_recovered > 0 {
            metrics::on_recovery(
                log.open_report.segments_recovered,
                log.open_report.bytes_truncated,
            );
        }
        Ok(log)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the last open had to recover.
    pub fn open_report(&self) -> &OpenReport {
        &self.open_report
    }

    pub fn config(&self) -> Arc<LogConfig> {
        Arc::clone(&self.config.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn segments_snapshot(&self) -> Vec<Arc<Segment>> {
        self.segments
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The segment that may hold `offset` and every later one.
    fn segments_from(&self, offset: i64) -> Vec<Arc<Segment>> {
        let map = self.segments.read().unwrap_or_else(|e| e.into_inner());
        let start = map
            .range(..=offset)
            .next_back()
            .map(|(b, _)| *b)
            .unwrap_or(i64::MIN);
        map.range(start..).map(|(_, s)| Arc::clone(s)).collect()
    }

    /// The segment whose base offset is the greatest <= `offset` (the
    /// first segment when `offset` is below every base).
    fn segment_holding(&self, offset: i64) -> Option<Arc<Segment>> {
        let map = self.segments.read().unwrap_or_else(|e| e.into_inner());
        map.range(..=offset)
            .next_back()
            .or_else(|| map.iter().next())
            .map(|(_, s)| Arc::clone(s))
    }

    fn segment_after(&self, base_offset: i64) -> Option<Arc<Segment>> {
        use std::ops::Bound::{Excluded, Unbounded};
        let map = self.segments.read().unwrap_or_else(|e| e.into_inner());
        map.range((Excluded(base_offset), Unbounded))
            .next()
            .map(|(_, s)| Arc::clone(s))
    }

    fn active_segment(&self) -> Arc<Segment> {
        let map = self.segments.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            map.values()
                .next_back()
                .expect("a log always holds at least one segment"),
        )
    }

    /// Number of segments (the active one included).
    pub fn segment_count(&self) -> usize {
        self.segments
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect()
    }

    /// Total bytes of the log files.
    pub fn size_bytes(&self) -> u64 {
        self.segments_snapshot().iter().map(|s| s.size()).sum()
    }

    /// Whether an earlier write or fsync failed, in this log or another of
    /// its log dir (every later operation fails).
    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
            || self.dir_health.get().is_some_and(|d| d.is_offline())
    }

    /// Ties the log to the health of its log dir (once; later calls are
    /// ignored).
    pub fn attach_dir(&self, health: Arc<LogDirHealth>) {
        let _ = self.dir_health.set(health);
    }

    fn check_writable(&self) -> Result<(), LogError> {
        if self.is_offline() || self.closed.load(Ordering::Acquire) {
            return Err(LogError::Offline);
        }
        Ok(())
    }

    /// Marks the log offline after a failed write or fsync; no retry, as
    /// Kafka takes the log dir offline (the page cache state is unknown).
    fn fail<T>(&self, e: std::io::Error) -> Result<T, LogError> {
        Err(self.fail_file_write(e))
    }

    /// Takes the log, and its log dir, offline after a failed write: of
    /// the log itself, or of a file the broker keeps beside it (a producer
    /// snapshot). Returns the error to pass on.
    pub fn fail_file_write(&self, e: std::io::Error) -> LogError {
        tracing::error!(dir = %self.dir.display(), error = %e, "log write failed; log is offline");
        if !self.offline.swap(true, Ordering::AcqRel) {
            metrics::on_offline();
        }
        if let Some(health) = self.dir_health.get() {
            health.fail(&e);
        }
        LogError::Io(e)
    }

    /// Validates every batch in `records` (one or more RecordBatch v2 back to
    /// back, as the broker's own writers build them), assigns offsets from
    /// the log end offset by rewriting each `baseOffset` and
    /// `partitionLeaderEpoch`, applies `LogAppendTime` when configured, and
    /// appends. All or nothing: if any batch is invalid nothing is written.
    /// Client batches go through [`crate::log::validate`] and
    /// [`append_validated`](Self::append_validated) instead.
    pub fn append(
        &self,
        records: Bytes,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.check_writable()?;
        let config = self.config();
        let log_append_time = config.message_timestamp_type == TimestampType::LogAppendTime;
        let mut batches = parse_batches(&records, config.max_message_bytes, Validation::Produce)?;
        // LogAppendTime rewrites fields under the CRC: that needs a copy.
        let mut copy = None;
        if log_append_time {
            let mut buf = BytesMut::from(&records[..]);
            for (pos, header) in batches.iter_mut() {
                set_log_append_time(&mut buf[*pos..*pos + header.size()], now_ms);
                header.max_timestamp = now_ms;
                header.attributes |= 0x08;
            }
            copy = Some(buf.freeze());
        }
        let bytes: &[u8] = copy.as_deref().unwrap_or(&records);
        self.append_batches(bytes, &mut batches, leader_epoch, now_ms, &config)
    }

    /// Appends one batch that passed [`crate::log::validate`] (which made
    /// every rewrite Kafka makes), without parsing it again. Only its first
    /// 16 bytes (base offset, leader epoch; outside the CRC) are written
    /// from a separate buffer: the rest goes from the request's own bytes.
    pub fn append_validated(
        &self,
        batch: &ValidatedBatch,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.check_writable()?;
        let config = self.config();
        let mut batches = [(0, batch.header)];
        self.append_batches(&batch.bytes, &mut batches, leader_epoch, now_ms, &config)
    }

    /// The shared tail of the appends: `bytes` holds `batches` (positions
    /// and headers, already validated) back to back.
    fn append_batches(
        &self,
        bytes: &[u8],
        batches: &mut [(usize, BatchHeader)],
        leader_epoch: i32,
        now_ms: i64,
        config: &LogConfig,
    ) -> Result<AppendInfo, LogError> {
        self.latest_now_ms.fetch_max(now_ms, Ordering::Relaxed);
        let _writer = lock(&self.writer);
        self.check_writable()?;
        let base_offset = self.log_end_offset.load(Ordering::Relaxed);
        let mut next = base_offset;
        let mut record_count = 0u64;
        let mut prefixes = Vec::with_capacity(batches.len());
        for (pos, header) in batches.iter_mut() {
            let mut prefix = [0u8; BATCH_PREFIX_LEN];
            prefix.copy_from_slice(&bytes[*pos..*pos + BATCH_PREFIX_LEN]);
            set_base_offset(&mut prefix, next);
            set_partition_leader_epoch(&mut prefix, leader_epoch);
            prefixes.push(prefix);
            header.base_offset = next;
            header.partition_leader_epoch = leader_epoch;
            next = header.next_offset();
            record_count += header.record_count as u64;
        }
        let mut parts: Vec<&[u8]> = Vec::with_capacity(2 * batches.len());
        for ((pos, header), prefix) in batches.iter().zip(&prefixes) {
            parts.push(prefix);
            parts.push(&bytes[*pos + BATCH_PREFIX_LEN..*pos + header.size()]);
        }
        self.write_locked(&parts, batches, next, now_ms, config)?;
        drop(_writer);
        metrics::on_append(bytes.len(), record_count);
        self.maybe_flush_by_messages(config)?;
        let log_append_time_ms = match batches.first() {
            Some((_, h)) if h.timestamp_type() == TimestampType::LogAppendTime => h.max_timestamp,
            _ => -1,
        };
        Ok(AppendInfo {
            base_offset,
            last_offset: next - 1,
            log_append_time_ms,
            log_start_offset: self.log_start_offset(),
            record_count,
        })
    }

    /// Appends batches whose offsets the leader already assigned (a
    /// follower's replica fetch). The first must start at or after the log
    /// end offset and offsets must increase; batches are stored untouched.
    ///
    /// Takes no clock: a segment it creates is dated with the latest time
    /// the log was given (by `append` or maintenance).
    pub fn append_as_follower(&self, records: Bytes) -> Result<AppendInfo, LogError> {
        self.check_writable()?;
        let now_ms = self.latest_now_ms.load(Ordering::Relaxed);
        let config = self.config();
        let batches = parse_batches(&records, config.max_message_bytes, Validation::Stored)?;
        let _writer = lock(&self.writer);
        self.check_writable()?;
        let log_end_offset = self.log_end_offset.load(Ordering::Relaxed);
        let mut next = log_end_offset;
        let mut record_count = 0u64;
        for (_, header) in &batches {
            if header.base_offset < next {
                return Err(LogError::InvalidBatch(format!(
                    "replicated batch at offset {} is below the expected {next}",
                    header.base_offset
                )));
            }
            next = header.next_offset();
            record_count += header.record_count as u64;
        }
        let base_offset = batches[0].1.base_offset;
        // Offsets within a segment are u32-relative: a run of batches whose
        // offsets span more than that (gaps from compaction upstream) is
        // written in pieces, so the segment can roll between them.
        for run in runs_within_relative_range(&batches) {
            let start = batches[run.start].0;
            let end = batches.get(run.end).map_or(records.len(), |(pos, _)| *pos);
            let piece: Vec<(usize, BatchHeader)> = batches[run.clone()]
                .iter()
                .map(|(pos, h)| (pos - start, *h))
                .collect();
            let piece_next = piece.last().map_or(next, |(_, h)| h.next_offset());
            self.write_locked(&[&records[start..end]], &piece, piece_next, now_ms, &config)?;
        }
        drop(_writer);
        metrics::on_append(records.len(), record_count);
        self.maybe_flush_by_messages(&config)?;
        Ok(AppendInfo {
            base_offset,
            last_offset: next - 1,
            log_append_time_ms: -1,
            log_start_offset: self.log_start_offset(),
            record_count,
        })
    }

    /// Writes validated batches (`parts`, back to back) ending at
    /// `next_offset` into the active segment (rolling first when needed),
    /// then publishes the log end offset. Caller holds the writer lock.
    fn write_locked(
        &self,
        parts: &[&[u8]],
        batches: &[(usize, BatchHeader)],
        next_offset: i64,
        now_ms: i64,
        config: &LogConfig,
    ) -> Result<(), LogError> {
        let first_offset = batches
            .first()
            .map(|(_, h)| h.base_offset)
            .unwrap_or(next_offset);
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut active = self.active_segment();
        let size = active.size();
        let would_overflow = size + len as u64 > u64::from(u32::MAX)
            || next_offset - 1 - active.base_offset() > i64::from(i32::MAX);
        let max_timestamp = batches
            .iter()
            .map(|(_, h)| h.max_timestamp)
            .max()
            .unwrap_or(-1);
        if size > 0
            && (size + len as u64 > config.segment_bytes
                || active.time_waited_for_roll(now_ms, max_timestamp) > config.segment_ms
                || active.index_full(config.segment_index_bytes)
                || would_overflow)
        {
            active = self.roll_locked(first_offset, now_ms)?;
        } else if size == 0 && first_offset > active.base_offset() {
            // An empty active segment below a follower's first batch (a
            // compacted gap): restart it at that offset so relative offsets fit.
            active = self.roll_locked(first_offset, now_ms)?;
        }
        if let Err(e) = active.append(parts, batches, config.index_interval_bytes) {
            return self.fail(e);
        }
        debug_assert!(next_offset > self.log_end_offset.load(Ordering::Relaxed));
        debug_assert!(self.log_start_offset.load(Ordering::Relaxed) <= next_offset);
        self.log_end_offset.store(next_offset, Ordering::Release);
        // A batch of a new epoch begins it (the leader's own, or one a
        // follower copied); the file changes once per epoch, not per batch.
        let latest = self.latest_epoch.load(Ordering::Relaxed);
        if batches
            .iter()
            .all(|(_, h)| h.partition_leader_epoch == latest)
        {
            return Ok(());
        }
        self.update_epochs(|epochs| {
            batches.iter().fold(false, |changed, (_, h)| {
                epochs.assign(h.partition_leader_epoch, h.base_offset) || changed
            })
        })
    }

    /// Starts a new active segment at `base_offset`. Caller holds the
    /// writer lock. An empty active segment is replaced rather than kept.
    fn roll_locked(&self, base_offset: i64, now_ms: i64) -> Result<Arc<Segment>, LogError> {
        let old = self.active_segment();
        if let Err(e) = old.on_roll() {
            return self.fail(e);
        }
        let segment = match Segment::create(&self.dir, base_offset, now_ms) {
            Ok(s) => Arc::new(s),
            Err(e) => return self.fail(e),
        };
        if let Err(e) = sync_dir(&self.dir) {
            return self.fail(e);
        }
        let replaced = {
            let mut map = self.segments.write().unwrap_or_else(|e| e.into_inner());
            let replaced = if old.size() == 0 && old.base_offset() != base_offset {
                map.remove(&old.base_offset())
            } else {
                None
            };
            map.insert(base_offset, Arc::clone(&segment));
            replaced
        };
        metrics::on_roll();
        if let Some(empty) = replaced {
            if let Err(e) = empty.delete_files() {
                return self.fail(e);
            }
        }
        Ok(segment)
    }

    fn maybe_flush_by_messages(&self, config: &LogConfig) -> Result<(), LogError> {
        if config.flush_messages != i64::MAX {
            let unflushed = self.log_end_offset() - self.recovery_point.load(Ordering::Acquire);
            if unflushed >= config.flush_messages {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Reads whole batches from the one containing `offset`, up to
    /// `max_bytes` (but always at least one whole batch when any is
    /// available), never returning a batch whose base offset is at or past
    /// `max_offset` (exclusive; the high watermark for consumers).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
    ) -> Result<ReadInfo, LogError> {
        let slice = self.read_slice(offset, max_bytes, max_offset)?;
        let records = match &slice.slice {
            None => Bytes::new(),
            Some(s) => match s.read() {
                Ok(bytes) => bytes,
                // Only a concurrent truncation shrinks a file under a reader.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Bytes::new(),
                Err(e) => return Err(e.into()),
            },
        };
        Ok(ReadInfo {
            records,
            log_start_offset: slice.log_start_offset,
            log_end_offset: slice.log_end_offset,
        })
    }

    /// [`read`](Self::read) without reading: where the batches are in the
    /// segment file, so a fetch can send them from the page cache to the
    /// socket without copying them through memory. The batch boundaries
    /// come from the offset index and a short header scan at each end.
    pub fn read_slice(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
    ) -> Result<SliceInfo, LogError> {
        let (mut info, found) = self.locate(offset, max_offset)?;
        let Some(Located {
            segment,
            pos,
            first,
            end,
            max_offset,
        }) = found
        else {
            return Ok(info);
        };
        let limit = (pos + first.size().max(max_bytes) as u64).min(end);
        let stop = segment.whole_batches_end(pos, limit, end, max_offset)?;
        debug_assert!(stop >= pos + first.size() as u64);
        let len = (stop - pos) as usize;
        metrics::on_read(len);
        info.slice = Some(FileSlice::new(segment, pos, len));
        Ok(info)
    }

    /// What a Fetch reads, as Kafka's `LogSegment.read` does: the bytes
    /// from the batch holding `offset` onwards in its segment, at most
    /// `max_bytes` of them (or the whole first batch, when
    /// `min_one_message` and it is larger: KIP-74), never past the first
    /// batch at or after `max_offset`. The last batch may be cut short at
    /// the byte limit, as Kafka sends it; clients drop a partial trailing
    /// batch and fetch it again.
    pub fn fetch_slice(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_message: bool,
    ) -> Result<SliceInfo, LogError> {
        let (mut info, found) = self.locate(offset, max_offset)?;
        let Some(Located {
            segment,
            pos,
            first,
            end,
            max_offset,
        }) = found
        else {
            return Ok(info);
        };
        let max_bytes = if min_one_message {
            max_bytes.max(first.size())
        } else {
            max_bytes
        };
        if max_bytes == 0 {
            return Ok(info);
        }
        let limit = pos.saturating_add(max_bytes as u64).min(end);
        let whole = segment.whole_batches_end(pos, limit, end, max_offset)?;
        // A batch below `max_offset` that does not fit whole is sent cut
        // at the limit.
        let mut stop = whole;
        if whole < limit {
            segment.scan_headers(whole, end, |_, header| {
                if header.base_offset < max_offset {
                    stop = limit;
                }
                false
            })?;
        }
        if stop > pos {
            let len = (stop - pos) as usize;
            metrics::on_read(len);
            info.slice = Some(FileSlice::new(segment, pos, len));
        }
        Ok(info)
    }

    /// The shared start of the reads: the offsets, the range check, and the
    /// batch holding `offset` with its segment, unless nothing below
    /// `max_offset` is there to read.
    fn locate(
        &self,
        offset: i64,
        max_offset: i64,
    ) -> Result<(SliceInfo, Option<Located>), LogError> {
        if self.is_offline() {
            return Err(LogError::Offline);
        }
        // The end offset first: every byte below it is written, and the
        // segment sizes loaded afterwards cover them.
        let log_end_offset = self.log_end_offset.load(Ordering::Acquire);
        let log_start_offset = self.log_start_offset.load(Ordering::Acquire);
        if offset < log_start_offset || offset > log_end_offset {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset,
                log_end_offset,
            });
        }
        let info = SliceInfo {
            slice: None,
            log_start_offset,
            log_end_offset,
        };
        if offset == log_end_offset {
            return Ok((info, None));
        }
        // Nothing at or past the end offset loaded above is returned, even
        // if appended since: its bytes may be past the sizes we load.
        let max_offset = max_offset.min(log_end_offset);
        let mut next_segment = self.segment_holding(offset);
        while let Some(segment) = next_segment {
            let end = segment.size();
            let Some((pos, first)) = segment.find_batch(offset, end)? else {
                next_segment = self.segment_after(segment.base_offset());
                continue;
            };
            if first.base_offset >= max_offset {
                return Ok((info, None));
            }
            let found = Located {
                segment,
                pos,
                first,
                end,
                max_offset,
            };
            return Ok((info, Some(found)));
        }
        Ok((info, None))
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset.load(Ordering::Acquire)
    }

    /// Offset below which everything is fsynced.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point.load(Ordering::Acquire)
    }

    /// Reads the whole batch holding `offset` (None past the end).
    fn batch_at(&self, offset: i64) -> Result<Option<(BatchHeader, BytesMut)>, LogError> {
        for segment in self.segments_from(offset) {
            let end = segment.size();
            if let Some((pos, header)) = segment.find_batch(offset, end)? {
                let bytes = segment.read_bytes(pos, header.size())?;
                return Ok(Some((header, bytes)));
            }
        }
        Ok(None)
    }

    /// The first offset whose timestamp is >= `timestamp` (Kafka's
    /// ListOffsets by time), or None if every record is older. Exact to the
    /// record: a compressed batch is decompressed as a stream.
    pub fn offset_for_timestamp(
        &self,
        timestamp: i64,
    ) -> Result<Option<TimestampOffset>, LogError> {
        if self.is_offline() {
            return Err(LogError::Offline);
        }
        let log_start_offset = self.log_start_offset();
        for segment in self.segments_snapshot() {
            if segment.max_timestamp() < timestamp || segment.next_offset() <= log_start_offset {
                continue;
            }
            let end = segment.size();
            let mut start = segment.time_lookup_start(timestamp);
            loop {
                let mut found = None;
                segment.scan_headers(start, end, |pos, header| {
                    if header.max_timestamp >= timestamp && header.last_offset() >= log_start_offset
                    {
                        found = Some((pos, *header));
                        false
                    } else {
                        true
                    }
                })?;
                let Some((pos, header)) = found else { break };
                let bytes = segment.read_bytes(pos, header.size())?;
                // Exact to the record, compressed or not (Kafka's
                // `FileRecords.searchForTimestamp`). The records at or past
                // the target may all be below the log start offset; then the
                // answer is in a later batch.
                let answer = match record_offsets_and_timestamps(&bytes) {
                    Some(records) => records
                        .into_iter()
                        .find(|(o, ts)| *ts >= timestamp && *o >= log_start_offset),
                    // Records that cannot be walked (never on a log this
                    // broker validated): the batch as a whole.
                    None => Some((
                        header.base_offset.max(log_start_offset),
                        header.max_timestamp,
                    )),
                };
                if let Some((offset, ts)) = answer {
                    return Ok(Some(TimestampOffset {
                        timestamp: ts,
                        offset,
                        leader_epoch: header.partition_leader_epoch,
                    }));
                }
                start = pos + header.size() as u64;
            }
        }
        Ok(None)
    }

    /// The record with the greatest timestamp (ListOffsets `MAX_TIMESTAMP`, KIP-734).
    pub fn max_timestamp(&self) -> Result<Option<TimestampOffset>, LogError> {
        if self.is_offline() {
            return Err(LogError::Offline);
        }
        let mut best: Option<(i64, i64)> = None;
        for segment in self.segments_snapshot() {
            if segment.size() == 0 || segment.max_timestamp() < 0 {
                continue;
            }
            let ts = segment.max_timestamp();
            if best.is_none_or(|(b, _)| ts > b) {
                best = Some((ts, segment.offset_of_max_timestamp()));
            }
        }
        let Some((ts, shallow_offset)) = best else {
            return Ok(None);
        };
        let Some((header, bytes)) = self.batch_at(shallow_offset)? else {
            return Ok(None);
        };
        let offset = record_offsets_and_timestamps(&bytes)
            .and_then(|records| records.into_iter().find(|(_, t)| *t == ts).map(|(o, _)| o))
            .unwrap_or(shallow_offset);
        Ok(Some(TimestampOffset {
            timestamp: ts,
            offset,
            leader_epoch: header.partition_leader_epoch,
        }))
    }

    /// Removes every batch at or past `offset` (replication truncation). A
    /// batch holding `offset` goes whole, so the end offset may land below it.
    pub fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        let _writer = lock(&self.writer);
        self.check_writable()?;
        let _flush = lock(&self.flush_lock);
        if offset >= self.log_end_offset.load(Ordering::Relaxed) {
            return Ok(());
        }
        let config = self.config();
        let segments = self.segments_snapshot();
        let first_base = segments.first().map(|s| s.base_offset()).unwrap_or(0);
        // Readers from here on see no more than the target.
        self.log_end_offset
            .fetch_min(offset.max(first_base), Ordering::AcqRel);
        let result = if offset <= first_base {
            self.truncate_fully_locked(offset, &segments)
        } else {
            self.truncate_tail_locked(offset, &segments, &config)
        };
        match result {
            Ok(()) => {}
            Err(LogError::Io(e)) => return self.fail(e),
            Err(e) => return Err(e),
        }
        let end = self.log_end_offset.load(Ordering::Relaxed);
        self.log_start_offset.fetch_min(end, Ordering::AcqRel);
        self.recovery_point.fetch_min(end, Ordering::AcqRel);
        self.update_epochs(|epochs| epochs.truncate_from_end(end))?;
        self.write_checkpoint_now()
    }

    /// Empties the log and starts it again at `offset`, which may lie past
    /// its end: a replica that caught up from a snapshot of its leader
    /// (Kafka's `UnifiedLog.truncateFullyAndStartAt`).
    pub fn truncate_fully_and_start_at(&self, offset: i64) -> Result<(), LogError> {
        let _writer = lock(&self.writer);
        self.check_writable()?;
        let _flush = lock(&self.flush_lock);
        let segments = self.segments_snapshot();
        match self.truncate_fully_locked(offset, &segments) {
            Ok(()) => {}
            Err(LogError::Io(e)) => return self.fail(e),
            Err(e) => return Err(e),
        }
        self.recovery_point.store(offset, Ordering::Release);
        self.write_checkpoint_now()
    }

    fn truncate_fully_locked(&self, offset: i64, old: &[Arc<Segment>]) -> Result<(), LogError> {
        let now_ms = self.active_segment().created_ms();
        let fresh = Arc::new(Segment::create(&self.dir, offset, now_ms)?);
        {
            let mut map = self.segments.write().unwrap_or_else(|e| e.into_inner());
            map.clear();
            map.insert(offset, Arc::clone(&fresh));
        }
        for segment in old {
            if segment.base_offset() != offset {
                segment.delete_files()?;
            }
        }
        sync_dir(&self.dir)?;
        self.log_start_offset.store(offset, Ordering::Release);
        self.log_end_offset.store(offset, Ordering::Release);
        self.update_epochs(|epochs| epochs.truncate_from_end(0))
    }

    fn truncate_tail_locked(
        &self,
        offset: i64,
        segments: &[Arc<Segment>],
        config: &LogConfig,
    ) -> Result<(), LogError> {
        let doomed: Vec<&Arc<Segment>> = segments
            .iter()
            .filter(|s| s.base_offset() >= offset)
            .collect();
        {
            let mut map = self.segments.write().unwrap_or_else(|e| e.into_inner());
            for s in &doomed {
                map.remove(&s.base_offset());
            }
        }
        for s in doomed {
            s.delete_files()?;
        }
        let active = self.active_segment();
        let next = active.truncate_to(offset, config.index_interval_bytes)?;
        active.sync()?;
        sync_dir(&self.dir)?;
        self.log_end_offset.store(next, Ordering::Release);
        Ok(())
    }

    /// Raises the log start offset (DeleteRecords); whole segments below it
    /// are deleted. Returns the new log start offset.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, LogError> {
        let _writer = lock(&self.writer);
        self.check_writable()?;
        let log_end_offset = self.log_end_offset.load(Ordering::Relaxed);
        let current = self.log_start_offset.load(Ordering::Relaxed);
        if offset > log_end_offset || offset < 0 {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: current,
                log_end_offset,
            });
        }
        if offset <= current {
            return Ok(current);
        }
        self.log_start_offset.store(offset, Ordering::Release);
        // Durable before the caller acknowledges the deletion.
        self.write_checkpoint_now()?;
        self.update_epochs(|epochs| epochs.truncate_from_start(offset))?;
        self.delete_segments_below_start_locked()?;
        Ok(offset)
    }

    /// Deletes non-active segments wholly below the log start offset.
    fn delete_segments_below_start_locked(&self) -> Result<usize, LogError> {
        let segments = self.segments_snapshot();
        let start = self.log_start_offset.load(Ordering::Relaxed);
        let doomed: Vec<Arc<Segment>> = segments
            .windows(2)
            .take_while(|w| w[1].base_offset() <= start)
            .map(|w| Arc::clone(&w[0]))
            .collect();
        self.delete_segments_locked(&doomed)?;
        Ok(doomed.len())
    }

    fn delete_segments_locked(&self, doomed: &[Arc<Segment>]) -> Result<(), LogError> {
        if doomed.is_empty() {
            return Ok(());
        }
        {
            let mut map = self.segments.write().unwrap_or_else(|e| e.into_inner());
            for s in doomed {
                map.remove(&s.base_offset());
            }
        }
        for s in doomed {
            if let Err(e) = s.delete_files() {
                return self.fail(e);
            }
        }
        if let Err(e) = sync_dir(&self.dir) {
            return self.fail(e);
        }
        metrics::on_segments_deleted(doomed.len());
        Ok(())
    }

    /// Deletes the oldest segments that Kafka's retention rules allow
    /// (`UnifiedLog.deleteOldSegments`): those wholly below the log start
    /// offset always; with a `delete` cleanup policy also those whose newest
    /// record is older than `retention.ms` and those that keep the log over
    /// `retention.bytes`. The active segment counts too: when every segment
    /// goes, a new empty one is rolled at the log end offset first, so an
    /// idle topic is purged without waiting for `segment.ms`. Deletion stops
    /// at the first segment that is kept. Returns how many were deleted.
    ///
    /// On a single replica everything below the log end offset is
    /// committed; with replication the bound becomes the high watermark.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize, LogError> {
        let _writer = lock(&self.writer);
        self.check_writable()?;
        let config = self.config();
        let segments = self.segments_snapshot();
        let start = self.log_start_offset.load(Ordering::Relaxed);
        let log_end_offset = self.log_end_offset.load(Ordering::Relaxed);
        let total: u64 = segments.iter().map(|s| s.size()).sum();
        let by_size = config.cleanup_delete && config.retention_bytes >= 0;
        let by_time = config.cleanup_delete && config.retention_ms >= 0;
        let mut excess = if by_size {
            total as i64 - config.retention_bytes
        } else {
            i64::MIN
        };
        let mut doomed = Vec::new();
        for (i, segment) in segments.iter().enumerate() {
            let next = segments.get(i + 1);
            if next.is_none() && segment.size() == 0 {
                break;
            }
            let expired = by_time && now_ms - segment.largest_timestamp() > config.retention_ms;
            let oversize = by_size && excess - segment.size() as i64 >= 0;
            let below_start = next.is_some_and(|n| n.base_offset() <= start);
            if !(expired || oversize || below_start) {
                break;
            }
            excess = excess.saturating_sub(segment.size() as i64);
            doomed.push(Arc::clone(segment));
        }
        if doomed.is_empty() {
            return Ok(0);
        }
        if doomed.len() == segments.len() {
            // Kafka's `deleteSegments`: never leave a log without segments.
            self.roll_locked(log_end_offset, now_ms)?;
        }
        let new_first = self
            .segments
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .find(|b| !doomed.iter().any(|d| d.base_offset() == **b))
            .copied()
            .unwrap_or(log_end_offset);
        self.log_start_offset.fetch_max(new_first, Ordering::AcqRel);
        let new_start = self.log_start_offset.load(Ordering::Relaxed);
        if new_start != start {
            // Durable before the files go, so a crash cannot bring them back.
            self.write_checkpoint_now()?;
            self.update_epochs(|epochs| epochs.truncate_from_start(new_start))?;
        }
        self.delete_segments_locked(&doomed)?;
        Ok(doomed.len())
    }

    /// The segments, oldest first, as the cleaner's decisions see them.
    pub fn summary(&self) -> (LogSummary, Vec<Arc<Segment>>) {
        let segments = self.segments_snapshot();
        let log_end_offset = self.log_end_offset();
        let summary = LogSummary {
            log_start_offset: self.log_start_offset(),
            log_end_offset,
            // Transactions hook: the last stable offset once they exist.
            last_stable_offset: log_end_offset,
            segments: segments
                .iter()
                .map(|s| SegmentSummary {
                    base_offset: s.base_offset(),
                    size: s.size(),
                    largest_timestamp: s.largest_timestamp(),
                    first_batch_timestamp: s.first_batch_timestamp().unwrap_or(-1),
                })
                .collect(),
        };
        (summary, segments)
    }

    /// Swaps a cleaned segment in for `old` (consecutive, non-active
    /// segments of this log, with the sizes they had when they were read),
    /// as Kafka's `LocalLog.replaceSegments` does. `cleaned` is the fsynced
    /// `<base>.log.cleaned` file holding what the cleaner kept of them,
    /// whose last batch ends at `cleaned_last_offset` (None when empty).
    ///
    /// Returns false, removing `cleaned`, when the log changed meanwhile
    /// (retention, truncation or deletion took one of the segments): the
    /// next round cleans again.
    ///
    /// Crash safety, in order:
    /// 1. segments of `old` wholly past `cleaned_last_offset` are deleted:
    ///    every record in them was removable (superseded by a later offset
    ///    outside them, or an expired tombstone), so losing them early
    ///    changes no read;
    /// 2. `.cleaned` is renamed `.swap` and the directory fsynced: from here
    ///    a restart completes the swap ([`complete_interrupted_swaps`]);
    /// 3. the other segments of `old` go, then `.swap` is renamed over the
    ///    first one's `.log` and the directory fsynced;
    /// 4. the indexes are rebuilt from the new file and fsynced, and the new
    ///    segment replaces the old ones in one step for readers. A reader
    ///    holding an old segment keeps reading its unlinked file.
    pub fn replace_segments(
        &self,
        old: &[(Arc<Segment>, u64)],
        cleaned: &Path,
        cleaned_last_offset: Option<i64>,
    ) -> Result<bool, LogError> {
        let Some((first, _)) = old.first() else {
            return Ok(false);
        };
        let base = first.base_offset();
        let _writer = lock(&self.writer);
        let unchanged = {
            let map = self.segments.read().unwrap_or_else(|e| e.into_inner());
            let active = map.keys().next_back().copied();
            old.iter().all(|(s, size)| {
                Some(s.base_offset()) != active
                    && s.size() == *size
                    && map.get(&s.base_offset()).is_some_and(|m| Arc::ptr_eq(m, s))
            })
        };
        if !unchanged || self.check_writable().is_err() {
            let _ = std::fs::remove_file(cleaned);
            return Ok(false);
        }
        // Readers still holding an old segment look up its indexes from
        // memory once these files are gone or replaced.
        for (s, _) in old {
            s.offset_index_entries();
            s.time_index_entries();
        }
        let config = self.config();
        let result = (|| -> std::io::Result<Arc<Segment>> {
            let kept_up_to = cleaned_last_offset.unwrap_or(base - 1);
            let (late, rest): (Vec<_>, Vec<_>) = old[1..]
                .iter()
                .partition(|(s, _)| s.base_offset() > kept_up_to);
            for (s, _) in &late {
                s.delete_files()?;
            }
            let swap = segment_file(&self.dir, base, SWAP_SUFFIX);
            std::fs::rename(cleaned, &swap)?;
            sync_dir(&self.dir)?;
            failpoint_swap_pause();
            for (s, _) in &rest {
                s.delete_files()?;
            }
            remove_indexes(&self.dir, base)?;
            std::fs::rename(&swap, segment_file(&self.dir, base, LOG_SUFFIX))?;
            sync_dir(&self.dir)?;
            let now_ms = self.latest_now_ms.load(Ordering::Relaxed);
            let (segment, _) = Segment::open(&self.dir, base, now_ms)?;
            segment
                .recover(base, config.index_interval_bytes)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            segment.sync()?;
            sync_dir(&self.dir)?;
            Ok(Arc::new(segment))
        })();
        let segment = match result {
            Ok(s) => s,
            Err(e) => return self.fail(e),
        };
        {
            let mut map = self.segments.write().unwrap_or_else(|e| e.into_inner());
            for (s, _) in old {
                map.remove(&s.base_offset());
            }
            map.insert(base, segment);
        }
        Ok(true)
    }

    /// fsyncs everything appended so far (one call covers all earlier appends).
    pub fn flush(&self) -> Result<(), LogError> {
        self.flush_to(self.log_end_offset())
    }

    /// Group commit: fsyncs up to at least `target`. A caller whose target
    /// another flush already covered returns at once; one that waited for
    /// the flush lock covers everything appended by then.
    fn flush_to(&self, target: i64) -> Result<(), LogError> {
        if self.is_offline() {
            return Err(LogError::Offline);
        }
        if self.recovery_point.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        let _flush = lock(&self.flush_lock);
        let from = self.recovery_point.load(Ordering::Acquire);
        if from >= target {
            return Ok(());
        }
        let upto = self.log_end_offset.load(Ordering::Acquire).max(target);
        let started = std::time::Instant::now();
        for segment in self.segments_from(from) {
            if segment.base_offset() >= upto {
                break;
            }
            if let Err(e) = segment.sync() {
                return self.fail(e);
            }
        }
        self.recovery_point.fetch_max(upto, Ordering::AcqRel);
        metrics::on_flush(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// fsyncs segments that are no longer active, so the recovery point
    /// reaches the active segment (Kafka flushes a rolled segment soon after
    /// the roll), and records it.
    fn flush_inactive(&self) -> Result<(), LogError> {
        let active_base = self.active_segment().base_offset();
        self.flush_to(active_base)?;
        self.write_checkpoint_now()
    }

    /// Applies `change` to the leader-epoch cache and, when it changed
    /// anything, rewrites `leader-epoch-checkpoint` durably.
    fn update_epochs(
        &self,
        change: impl FnOnce(&mut LeaderEpochCache) -> bool,
    ) -> Result<(), LogError> {
        let mut epochs = lock(&self.epochs);
        let changed = change(&mut epochs);
        self.latest_epoch
            .store(epochs.latest_epoch().unwrap_or(-1), Ordering::Relaxed);
        if changed && let Err(e) = epochs.store(&self.dir) {
            return self.fail(e);
        }
        Ok(())
    }

    /// This log's replica leads from `epoch` on: the epoch begins at the
    /// log end offset (Kafka's `makeLeader` assigns it so), even before
    /// its first batch.
    pub fn assign_leader_epoch(&self, epoch: i32) -> Result<(), LogError> {
        let _writer = lock(&self.writer);
        self.check_writable()?;
        let end = self.log_end_offset.load(Ordering::Relaxed);
        self.update_epochs(|epochs| {
            // An epoch not newer than the latest is already placed.
            if epochs.latest_epoch().is_some_and(|latest| latest >= epoch) {
                return false;
            }
            epochs.assign(epoch, end)
        })
    }

    /// OffsetForLeaderEpoch: the largest known epoch at or below
    /// `requested` and the offset where it ended (Kafka's `endOffsetFor`).
    pub fn end_offset_for_epoch(&self, requested: i32) -> (i32, i64) {
        lock(&self.epochs).end_offset_for(requested, self.log_end_offset())
    }

    /// The epoch of the latest entry of the leader-epoch cache.
    pub fn latest_epoch(&self) -> Option<i32> {
        Some(self.latest_epoch.load(Ordering::Relaxed)).filter(|e| *e >= 0)
    }

    fn write_checkpoint_now(&self) -> Result<(), LogError> {
        let mut last = lock(&self.checkpoint);
        let now = Checkpoint {
            log_start_offset: self.log_start_offset(),
            recovery_point: self.recovery_point().min(self.log_end_offset()),
        };
        if *last == now {
            return Ok(());
        }
        if let Err(e) = write_checkpoint(&self.dir, now) {
            return self.fail(e);
        }
        *last = now;
        Ok(())
    }

    /// Periodic work: retention and the recovery point checkpoint. Called
    /// by [`crate::log::LogManager::run_maintenance`] every
    /// `log.retention.check.interval.ms`.
    pub fn run_maintenance(&self, now_ms: i64) -> Result<usize, LogError> {
        self.latest_now_ms.fetch_max(now_ms, Ordering::Relaxed);
        let deleted = self.enforce_retention(now_ms)?;
        self.flush_inactive()?;
        Ok(deleted)
    }

    /// fsyncs the log when its last flush is `flush.ms` or more ago and it
    /// has unflushed data (Kafka's `LogManager.flushDirtyLogs`, run every
    /// `log.flush.scheduler.interval.ms`). Returns whether it flushed.
    pub fn flush_if_due(&self, now_ms: i64) -> Result<bool, LogError> {
        let config = self.config();
        if config.flush_ms == i64::MAX
            || now_ms.saturating_sub(self.last_flush_ms.load(Ordering::Relaxed)) < config.flush_ms
        {
            return Ok(false);
        }
        self.last_flush_ms.store(now_ms, Ordering::Relaxed);
        if self.recovery_point() >= self.log_end_offset() {
            return Ok(false);
        }
        self.flush()?;
        Ok(true)
    }

    /// Replaces the settings (topic config changed).
    pub fn update_config(&self, config: LogConfig) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
    }

    /// Stops every later append without flushing (the log is about to be
    /// deleted, so making its data durable would be wasted fsyncs).
    pub fn retire(&self) {
        let _writer = lock(&self.writer);
        self.closed.store(true, Ordering::Release);
    }

    /// Flushes and closes for a clean shutdown. Later appends fail with
    /// [`LogError::Offline`]; reads keep working.
    pub fn close(&self) -> Result<(), LogError> {
        let _writer = lock(&self.writer);
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if self.is_offline() {
            return Err(LogError::Offline);
        }
        if let Err(e) = self.active_segment().on_roll() {
            return self.fail(e);
        }
        let _flush = lock(&self.flush_lock);
        for segment in self.segments_from(self.recovery_point()) {
            if let Err(e) = segment.sync() {
                return self.fail(e);
            }
        }
        self.recovery_point
            .store(self.log_end_offset(), Ordering::Release);
        drop(_flush);
        self.write_checkpoint_now()
    }
}

/// Suffix of a cleaned segment between its rename from `.cleaned` and its
/// rename over the old segment (Kafka's `.swap`).
const SWAP_SUFFIX: &str = "log.swap";

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn remove_indexes(dir: &Path, base: i64) -> std::io::Result<()> {
    for suffix in [INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
        remove_if_present(&segment_file(dir, base, suffix))?;
    }
    Ok(())
}

/// Finishes every cleaning that stopped after its `.swap` rename (see
/// [`PartitionLog::replace_segments`]): the swap file is complete and
/// fsynced, so the old segments it replaces (base offsets from the swap's
/// own up to its last offset) are deleted and it takes their place; its
/// indexes are rebuilt by the open that follows. Kafka's
/// `LogLoader.removeAndCleanupTempFiles` does the same. Returns whether
/// anything changed.
fn complete_interrupted_swaps(dir: &Path) -> Result<bool, LogError> {
    let mut swaps = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if let Some((base, SWAP_SUFFIX)) = name.to_str().and_then(parse_segment_file_name) {
            swaps.push(base);
        }
    }
    if swaps.is_empty() {
        return Ok(false);
    }
    let mut logs = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if let Some((base, LOG_SUFFIX)) = name.to_str().and_then(parse_segment_file_name) {
            logs.push(base);
        }
    }
    for base in swaps {
        let swap = segment_file(dir, base, SWAP_SUFFIX);
        let bytes = std::fs::read(&swap)?;
        let mut last_offset = base - 1;
        for item in BatchIter::new(&bytes) {
            match item {
                Ok((header, _)) => last_offset = header.last_offset(),
                Err(_) => break,
            }
        }
        for old in logs.iter().filter(|b| **b > base && **b <= last_offset) {
            remove_if_present(&segment_file(dir, *old, LOG_SUFFIX))?;
            remove_indexes(dir, *old)?;
        }
        remove_indexes(dir, base)?;
        std::fs::rename(&swap, segment_file(dir, base, LOG_SUFFIX))?;
        tracing::info!(dir = %dir.display(), segment = base, "completed a segment swap interrupted by a crash");
    }
    sync_dir(dir)?;
    Ok(true)
}

/// Test hook for the crash tests: `RUNNEL_FAILPOINT_CLEANER_SWAP_PAUSE_MS`
/// makes the cleaner pause (logging it) right after a `.swap` rename, the
/// middle of a swap, so a test can kill the process there.
fn failpoint_swap_pause() {
    static PAUSE_MS: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    let pause = PAUSE_MS.get_or_init(|| {
        std::env::var("RUNNEL_FAILPOINT_CLEANER_SWAP_PAUSE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
    });
    if let Some(ms) = pause {
        tracing::warn!(
            pause_ms = ms,
            "failpoint: pausing in the middle of a segment swap"
        );
        std::thread::sleep(std::time::Duration::from_millis(*ms));
    }
}

/// Validates `bytes` as back-to-back batches, returning each batch's
/// position and header. Refuses an empty set.
/// Splits batches into consecutive runs whose offsets, from the run's first
/// base offset to its last offset, fit a segment's i32 relative range.
fn runs_within_relative_range(batches: &[(usize, BatchHeader)]) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..batches.len() {
        let first = batches[start].1.base_offset;
        if batches[i].1.last_offset().saturating_sub(first) > i64::from(i32::MAX) {
            runs.push(start..i);
            start = i;
        }
    }
    if !batches.is_empty() {
        runs.push(start..batches.len());
    }
    runs
}

fn parse_batches(
    bytes: &[u8],
    max_message_bytes: usize,
    mode: Validation,
) -> Result<Vec<(usize, BatchHeader)>, LogError> {
    let mut batches = Vec::new();
    let mut iter = BatchIter::new(bytes);
    loop {
        let pos = iter.position();
        let Some(item) = iter.next() else { break };
        let (_, batch) = item?;
        let header = validate_batch(batch, max_message_bytes, mode)?;
        batches.push((pos, header));
    }
    if batches.is_empty() {
        return Err(LogError::InvalidBatch("no record batch given".into()));
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::testing::{make_batch, make_value_batch};
    use proptest::prelude::*;

    fn small_config(segment_bytes: u64, index_interval_bytes: u64) -> LogConfig {
        LogConfig {
            segment_bytes,
            index_interval_bytes,
            retention_ms: -1,
            ..LogConfig::default()
        }
    }

    fn headers(bytes: &[u8]) -> Vec<BatchHeader> {
        BatchIter::new(bytes)
            .map(|r| r.expect("whole batches").0)
            .collect()
    }

    /// Every offset reads back the batch holding it, byte for byte (past
    /// the rewritten offset and epoch).
    fn check_reads(log: &PartitionLog, model: &[(i64, Bytes)]) {
        let end = log.log_end_offset();
        for (i, (base, original)) in model.iter().enumerate() {
            let count = headers(original)[0].last_offset_delta as i64 + 1;
            for offset in *base..base + count {
                let got = log.read(offset, 1, i64::MAX).expect("read");
                let hs = headers(&got.records);
                assert_eq!(hs.len(), 1, "one batch at offset {offset}");
                assert_eq!(hs[0].base_offset, *base);
                assert_eq!(&got.records[16..], &original[16..]);
                let many = log.read(offset, 1 << 20, i64::MAX).expect("read");
                let hs = headers(&many.records);
                assert_eq!(hs[0].base_offset, *base);
                for (j, h) in hs.iter().enumerate() {
                    assert_eq!(h.base_offset, model[i + j].0);
                }
            }
        }
        assert!(
            log.read(end, 100, i64::MAX)
                .expect("read")
                .records
                .is_empty()
        );
        assert!(matches!(
            log.read(end + 1, 100, i64::MAX),
            Err(LogError::OffsetOutOfRange { .. })
        ));
    }

    #[test]
    fn append_assigns_offsets_and_reads_find_the_holding_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = PartitionLog::open(dir.path(), small_config(1 << 20, 0), true, 0).expect("open");
        let a = make_value_batch(3, 10, 100);
        let b = make_value_batch(2, 10, 200);
        let info = log.append(a.clone(), 7, 1).expect("append");
        assert_eq!(
            (info.base_offset, info.last_offset, info.record_count),
            (0, 2, 3)
        );
        assert_eq!(info.log_append_time_ms, -1);
        let info = log.append(b.clone(), 7, 1).expect("append");
        assert_eq!((info.base_offset, info.last_offset), (3, 4));
        assert_eq!(log.log_end_offset(), 5);
        let got = log.read(1, 1 << 20, i64::MAX).expect("read");
        let hs = headers(&got.records);
        assert_eq!(hs.len(), 2);
        assert_eq!(hs[0].partition_leader_epoch, 7);
        assert_eq!(hs[1].base_offset, 3);
        // The upper bound keeps out batches starting at or past it.
        let got = log.read(0, 1 << 20, 3).expect("read");
        assert_eq!(headers(&got.records).len(), 1);
        assert!(log.read(3, 1 << 20, 3).expect("read").records.is_empty());
        check_reads(&log, &[(0, a), (3, b)]);
    }

    #[test]
    fn follower_batches_spanning_past_u32_offsets_roll_and_survive_recovery() {
        // Found by the batch_validate fuzz target: one follower append whose
        // offsets jump past a segment's relative range lost its tail at
        // recovery.
        let dir = tempfile::tempdir().expect("tempdir");
        let far = 124 + (1i64 << 33);
        let mut records = bytes::BytesMut::new();
        for base in [124, far] {
            let mut b = bytes::BytesMut::from(&make_value_batch(1, 4, 0)[..]);
            crate::log::batch::set_base_offset(&mut b, base);
            records.extend_from_slice(&b);
        }
        {
            let log =
                PartitionLog::open(dir.path(), small_config(1 << 20, 0), true, 0).expect("open");
            let info = log.append_as_follower(records.freeze()).expect("append");
            assert_eq!((info.base_offset, info.last_offset), (124, far));
            assert_eq!(log.segment_count(), 2, "rolled between the two batches");
        }
        let log =
            PartitionLog::open(dir.path(), small_config(1 << 20, 0), false, 0).expect("reopen");
        assert_eq!(log.log_end_offset(), far + 1);
        let got = log.read(far, 1 << 20, i64::MAX).expect("read");
        assert_eq!(headers(&got.records)[0].base_offset, far);
    }

    #[test]
    fn an_invalid_batch_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = PartitionLog::open(dir.path(), small_config(1 << 20, 0), true, 0).expect("open");
        let good = make_value_batch(1, 10, 1);
        let mut bad = make_value_batch(1, 10, 1).to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let mut both = good.to_vec();
        both.extend_from_slice(&bad);
        assert!(matches!(
            log.append(Bytes::from(both), 0, 0),
            Err(LogError::CrcMismatch { .. })
        ));
        assert_eq!(log.log_end_offset(), 0);
        assert_eq!(log.size_bytes(), 0);
        assert!(matches!(
            log.append(Bytes::new(), 0, 0),
            Err(LogError::InvalidBatch(_))
        ));
    }

    #[test]
    fn log_append_time_is_stamped_and_crc_recomputed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = LogConfig {
            message_timestamp_type: TimestampType::LogAppendTime,
            ..small_config(1 << 20, 0)
        };
        let log = PartitionLog::open(dir.path(), config, true, 0).expect("open");
        let info = log
            .append(make_value_batch(2, 5, 10), 0, 5555)
            .expect("append");
        assert_eq!(info.log_append_time_ms, 5555);
        let got = log.read(0, 1 << 20, i64::MAX).expect("read");
        let h = validate_batch(&got.records, usize::MAX, Validation::Produce).expect("valid");
        assert_eq!(h.max_timestamp, 5555);
        assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
        let found = log
            .offset_for_timestamp(5000)
            .expect("lookup")
            .expect("some");
        assert_eq!((found.offset, found.timestamp), (0, 5555));
    }

    #[test]
    fn follower_append_keeps_offsets_and_checks_the_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = PartitionLog::open(dir.path(), small_config(1 << 20, 0), true, 0).expect("open");
        let mut b = make_value_batch(2, 5, 10).to_vec();
        crate::log::batch::set_base_offset(&mut b, 0);
        crate::log::batch::set_partition_leader_epoch(&mut b, 4);
        let info = log
            .append_as_follower(Bytes::from(b.clone()))
            .expect("append");
        assert_eq!((info.base_offset, info.last_offset), (0, 1));
        assert!(matches!(
            log.append_as_follower(Bytes::from(b.clone())),
            Err(LogError::InvalidBatch(_))
        ));
        crate::log::batch::set_base_offset(&mut b, 10);
        let info = log
            .append_as_follower(Bytes::from(b))
            .expect("gap is allowed");
        assert_eq!((info.base_offset, log.log_end_offset()), (10, 12));
        let got = log.read(5, 1 << 20, i64::MAX).expect("read in the gap");
        assert_eq!(headers(&got.records)[0].base_offset, 10);
        assert_eq!(headers(&got.records)[0].partition_leader_epoch, 4);
    }

    #[test]
    fn time_lookups_are_exact_per_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = PartitionLog::open(dir.path(), small_config(300, 50), true, 0).expect("open");
        // Batch i holds records stamped 1000*i + 0..3.
        for i in 0..20i64 {
            log.append(make_value_batch(3, 20, 1000 * i), 0, 0)
                .expect("append");
        }
        assert!(log.segment_count() > 3);
        for i in 0..20i64 {
            for r in 0..3 {
                let found = log
                    .offset_for_timestamp(1000 * i + r)
                    .expect("lookup")
                    .expect("some");
                assert_eq!(found.offset, 3 * i + r);
                assert_eq!(found.timestamp, 1000 * i + r);
            }
            let found = log.offset_for_timestamp(1000 * i + 500).expect("lookup");
            if i == 19 {
                assert_eq!(found, None);
            } else {
                assert_eq!(found.map(|f| f.offset), Some(3 * (i + 1)));
            }
        }
        let max = log.max_timestamp().expect("max").expect("some");
        assert_eq!((max.timestamp, max.offset), (19_002, 59));
        log.close().expect("close");
        drop(log);
        let log = PartitionLog::open(dir.path(), small_config(300, 50), true, 0).expect("reopen");
        let max = log.max_timestamp().expect("max").expect("some");
        assert_eq!((max.timestamp, max.offset), (19_002, 59));
        assert_eq!(
            log.offset_for_timestamp(7001)
                .expect("lookup")
                .map(|f| f.offset),
            Some(22)
        );
    }

    #[test]
    fn delete_records_moves_the_start_and_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = small_config(200, 0);
        let log = PartitionLog::open(dir.path(), config.clone(), true, 0).expect("open");
        for _ in 0..30 {
            log.append(make_value_batch(1, 50, 1), 0, 0)
                .expect("append");
        }
        let before = log.segment_count();
        assert_eq!(log.delete_records_before(17).expect("delete"), 17);
        assert!(log.segment_count() < before);
        assert_eq!(log.log_start_offset(), 17);
        assert!(matches!(
            log.read(16, 100, i64::MAX),
            Err(LogError::OffsetOutOfRange { .. })
        ));
        assert_eq!(
            headers(&log.read(17, 1, i64::MAX).expect("read").records)[0].base_offset,
            17
        );
        assert!(matches!(
            log.delete_records_before(31),
            Err(LogError::OffsetOutOfRange { .. })
        ));
        assert_eq!(log.delete_records_before(3).expect("lower is a no-op"), 17);
        drop(log);
        let log = PartitionLog::open(dir.path(), config, false, 0).expect("reopen");
        assert_eq!(log.log_start_offset(), 17);
        assert_eq!(log.log_end_offset(), 30);
    }

    #[test]
    fn retention_by_time_and_bytes_deletes_whole_old_segments() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = small_config(250, 0);
        let log = PartitionLog::open(dir.path(), config.clone(), true, 0).expect("open");
        // Timestamps 0..30_000; each segment holds about 2 batches.
        for i in 0..30i64 {
            log.append(make_value_batch(1, 60, i * 1000), 0, 0)
                .expect("append");
        }
        let segments = log.segment_count();
        assert!(segments >= 10);
        config.retention_ms = 10_000;
        log.update_config(config.clone());
        let deleted = log.enforce_retention(30_000).expect("retention");
        assert!(deleted > 0);
        let start = log.log_start_offset();
        assert_eq!(log.segment_base_offsets()[0], start);
        // Kept: every segment whose newest record is within 10 s of now.
        assert!((17..=21).contains(&start), "start {start}");
        config.retention_ms = -1;
        config.retention_bytes = 300;
        log.update_config(config.clone());
        log.enforce_retention(30_000).expect("retention");
        assert!(log.size_bytes() <= 300 + 250);
        assert!(log.size_bytes() >= 300 || log.segment_count() == 1);
        // Everything expired, the active segment too: a new empty segment
        // starts at the log end offset (Kafka's `deleteSegments` roll).
        config.retention_ms = 1;
        config.retention_bytes = -1;
        log.update_config(config);
        log.enforce_retention(1_000_000).expect("retention");
        assert_eq!(log.segment_base_offsets(), vec![30]);
        assert_eq!(log.log_start_offset(), 30);
        assert_eq!(log.log_end_offset(), 30);
        assert!(log.read(30, 100, i64::MAX).unwrap().records.is_empty());
        log.append(make_value_batch(1, 60, 0), 0, 0)
            .expect("append after");
        assert_eq!(log.log_end_offset(), 31);
        // Nothing to delete in an empty active segment.
        let dir2 = tempfile::tempdir().expect("tempdir");
        let empty = PartitionLog::open(
            dir2.path(),
            LogConfig {
                retention_ms: 1,
                ..small_config(250, 0)
            },
            true,
            0,
        )
        .expect("open");
        assert_eq!(empty.enforce_retention(1_000_000).expect("retention"), 0);
    }

    #[test]
    fn compacted_logs_are_never_aged_out() {
        // Issue 10 item 1: time and size retention only apply with a
        // `delete` cleanup policy; the log start rule always does.
        let dir = tempfile::tempdir().expect("tempdir");
        let config = LogConfig {
            cleanup_delete: false,
            cleanup_compact: true,
            retention_ms: 1,
            retention_bytes: 1,
            ..small_config(250, 0)
        };
        let log = PartitionLog::open(dir.path(), config.clone(), true, 0).expect("open");
        for i in 0..10i64 {
            log.append(make_value_batch(1, 60, i), 0, 0)
                .expect("append");
        }
        let segments = log.segment_count();
        assert!(segments > 2);
        assert_eq!(log.enforce_retention(1_000_000_000).expect("retention"), 0);
        assert_eq!(log.log_start_offset(), 0);
        assert_eq!(log.segment_count(), segments);
        // `compact,delete` ages out as `delete` does.
        log.update_config(LogConfig {
            cleanup_delete: true,
            ..config
        });
        assert_eq!(
            log.enforce_retention(1_000_000_000).expect("retention"),
            segments
        );
        assert_eq!(log.log_start_offset(), 10);
    }

    #[test]
    fn segment_ms_counts_from_the_first_batch_and_survives_a_restart() {
        // Issue 10 item 8: `segment.ms` is measured on the records' clock
        // from the active segment's first batch (Kafka's
        // `LogSegment.timeWaitedForRoll`), so a restart does not reset it.
        let dir = tempfile::tempdir().expect("tempdir");
        let config = LogConfig {
            segment_ms: 100,
            ..small_config(1 << 20, 0)
        };
        let log = PartitionLog::open(dir.path(), config.clone(), true, 0).expect("open");
        log.append(make_value_batch(1, 6, 1_000), 0, 5_000)
            .expect("append");
        log.append(make_value_batch(1, 6, 1_100), 0, 99_000)
            .expect("append");
        assert_eq!(
            log.segment_count(),
            1,
            "100 ms on the records' clock is not past 100"
        );
        log.run_maintenance(1_000_000).expect("maintenance");
        assert_eq!(log.segment_count(), 1, "maintenance never rolls by time");
        log.close().expect("close");
        drop(log);
        let log = PartitionLog::open(dir.path(), config, true, 2_000_000).expect("reopen");
        log.append(make_value_batch(1, 6, 1_101), 0, 2_000_000)
            .expect("append");
        assert_eq!(
            log.segment_base_offsets(),
            vec![0, 2],
            "101 ms after the first batch"
        );
        log.append(make_value_batch(1, 6, 1_150), 0, 2_000_000)
            .expect("append");
        assert_eq!(log.segment_count(), 2);
    }

    #[test]
    fn fetch_slices_honour_the_byte_limit_as_kafka_does() {
        // Issue 10 item 12: Kafka's `LogSegment.read` sends at most
        // `max_bytes` (the last batch cut there) unless `min_one_message`
        // asks for the whole first batch.
        let dir = tempfile::tempdir().expect("tempdir");
        let log = PartitionLog::open(dir.path(), small_config(1 << 20, 0), true, 0).expect("open");
        let mut sizes = Vec::new();
        for i in 0..3 {
            let b = make_value_batch(1, 1000, i);
            sizes.push(b.len());
            log.append(b, 0, 0).expect("append");
        }
        let len = |s: SliceInfo| s.slice.map_or(0, |s| s.len());
        let slice = |offset, max, min_one| log.fetch_slice(offset, max, i64::MAX, min_one).unwrap();
        // The first batch whole although it is larger than the limit.
        assert_eq!(len(slice(0, 10, true)), sizes[0]);
        // Without `min_one_message`: exactly the limit, cut mid-batch.
        assert_eq!(len(slice(0, 10, false)), 10);
        assert_eq!(len(slice(0, 0, false)), 0);
        // Whole batches plus a cut one up to the limit.
        assert_eq!(len(slice(0, sizes[0] + 100, true)), sizes[0] + 100);
        // Never past the bound offset, even with room.
        let bounded = log.fetch_slice(0, 1 << 20, 2, true).unwrap();
        assert_eq!(len(bounded), sizes[0] + sizes[1]);
        let bounded = log.fetch_slice(0, sizes[0] + 50, 1, true).unwrap();
        assert_eq!(
            len(bounded),
            sizes[0],
            "the next batch is past the bound: nothing of it"
        );
        // Everything, when it fits.
        assert_eq!(len(slice(1, 1 << 20, true)), sizes[1] + sizes[2]);
        assert_eq!(len(slice(3, 1 << 20, true)), 0);
    }

    #[test]
    fn time_lookups_are_exact_inside_compressed_batches() {
        // Issue 10 item 13: Kafka's `FileRecords.searchForTimestamp` walks
        // the records of a compressed batch.
        use crate::log::batch::CompressionCodec;
        use crate::log::testing::make_compressed_batch;
        let dir = tempfile::tempdir().expect("tempdir");
        let log = PartitionLog::open(dir.path(), small_config(1 << 20, 0), true, 0).expect("open");
        let recs: Vec<_> = (0..10).map(|_| (None, Some(&b"v"[..]))).collect();
        log.append(
            make_compressed_batch(&recs, 1_000, CompressionCodec::Lz4),
            0,
            0,
        )
        .expect("append");
        let t = log.offset_for_timestamp(1_005).unwrap().unwrap();
        assert_eq!((t.offset, t.timestamp), (5, 1_005));
        let t = log.max_timestamp().unwrap().unwrap();
        assert_eq!((t.offset, t.timestamp), (9, 1_009));
    }

    #[test]
    fn flush_by_messages_moves_the_recovery_point() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = LogConfig {
            flush_messages: 2,
            ..small_config(1 << 20, 0)
        };
        let log = PartitionLog::open(dir.path(), config, true, 0).expect("open");
        log.append(make_value_batch(1, 6, 1), 0, 0).expect("append");
        assert_eq!(log.recovery_point(), 0);
        log.append(make_value_batch(1, 6, 1), 0, 0).expect("append");
        assert_eq!(log.recovery_point(), 2);
    }

    #[test]
    fn closed_log_refuses_appends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = PartitionLog::open(dir.path(), small_config(1 << 20, 0), true, 0).expect("open");
        log.append(make_batch(&[(None, Some(b"v"))], 1, None), 0, 0)
            .expect("append");
        log.close().expect("close");
        assert!(matches!(
            log.append(make_batch(&[(None, Some(b"v"))], 1, None), 0, 0),
            Err(LogError::Offline)
        ));
        assert!(
            !log.read(0, 10, i64::MAX)
                .expect("reads still work")
                .records
                .is_empty()
        );
    }

    #[test]
    fn readers_run_while_a_writer_appends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Arc::new(
            PartitionLog::open(dir.path(), small_config(4096, 100), true, 0).expect("open"),
        );
        let writer = {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for i in 0..400 {
                    log.append(make_value_batch(1 + i % 4, 40, i as i64), 0, 0)
                        .expect("append");
                    if i % 50 == 0 {
                        log.flush().expect("flush");
                    }
                }
            })
        };
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    let mut offset = 0;
                    while offset < 1000 {
                        let got = log.read(offset, 1000, i64::MAX).expect("read");
                        if got.records.is_empty() {
                            std::thread::yield_now();
                        }
                        for h in headers(&got.records) {
                            assert!(h.last_offset() >= offset);
                            assert_eq!(h.record_count, h.last_offset_delta + 1);
                            offset = h.next_offset();
                        }
                    }
                })
            })
            .collect();
        writer.join().expect("writer");
        for r in readers {
            r.join().expect("reader");
        }
        assert_eq!(
            log.log_end_offset(),
            (0..400).map(|i| 1 + i % 4).sum::<i64>()
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn round_trips_through_rolls_truncation_and_reopen(
            batches in proptest::collection::vec((1usize..5, 0usize..300), 1..40),
            segment_bytes in 100u64..3000,
            interval in 0u64..600,
            truncate_frac in 0.0f64..1.0,
        ) {
            let dir = tempfile::tempdir().expect("tempdir");
            let config = small_config(segment_bytes, interval);
            let log = PartitionLog::open(dir.path(), config.clone(), true, 0).expect("open");
            let mut model = Vec::new();
            for (i, (count, len)) in batches.iter().enumerate() {
                let b = make_value_batch(*count, *len, i as i64 * 10);
                let info = log.append(b.clone(), 1, 0).expect("append");
                model.push((info.base_offset, b));
            }
            check_reads(&log, &model);
            log.close().expect("close");
            drop(log);
            let log = PartitionLog::open(dir.path(), config.clone(), true, 0).expect("clean reopen");
            check_reads(&log, &model);
            drop(log);
            let log = PartitionLog::open(dir.path(), config.clone(), false, 0).expect("unclean reopen");
            prop_assert_eq!(log.open_report().bytes_truncated, 0);
            check_reads(&log, &model);
            // Truncate at a batch boundary, then keep appending.
            let keep = ((model.len() as f64) * truncate_frac) as usize;
            let target = model.get(keep).map(|m| m.0).unwrap_or(log.log_end_offset());
            log.truncate_to(target).expect("truncate");
            model.truncate(keep);
            prop_assert_eq!(log.log_end_offset(), target);
            check_reads(&log, &model);
            let b = make_value_batch(2, 30, 5);
            let info = log.append(b.clone(), 2, 0).expect("append after truncate");
            prop_assert_eq!(info.base_offset, target);
            model.push((info.base_offset, b));
            check_reads(&log, &model);
            drop(log);
            let log = PartitionLog::open(dir.path(), config, false, 0).expect("reopen");
            check_reads(&log, &model);
        }
    }

    #[test]
    fn concurrent_flushes_share_one_fsync_and_cover_every_append() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Arc::new(
            PartitionLog::open(dir.path(), small_config(1 << 16, 100), true, 0).expect("open"),
        );
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let info = log
                            .append(make_value_batch(2, 30, 1), 0, 0)
                            .expect("append");
                        log.flush().expect("flush");
                        // Our append is durable once flush returns.
                        assert!(log.recovery_point() > info.last_offset);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert_eq!(log.log_end_offset(), 400);
        assert_eq!(log.recovery_point(), 400);
        drop(log);
        let log =
            PartitionLog::open(dir.path(), small_config(1 << 16, 100), false, 0).expect("reopen");
        assert_eq!(log.log_end_offset(), 400);
    }

    /// Found by the model proptest: a segment rebuilt by recovery must keep
    /// its max timestamp on disk, or a later clean open skips it in look-ups.
    #[test]
    fn a_recovered_inactive_segment_keeps_its_max_timestamp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = small_config(975, 289);
        let log = PartitionLog::open(dir.path(), config.clone(), true, 0).expect("open");
        for (count, len, ts) in [(2, 106, 0), (2, 19, 0), (1, 32, 2), (3, 128, 0)] {
            log.append(make_value_batch(count, len, ts), 0, 0)
                .expect("append");
        }
        assert_eq!(log.segment_count(), 2);
        drop(log);
        let log = PartitionLog::open(dir.path(), config.clone(), false, 0).expect("recover");
        log.close().expect("close");
        drop(log);
        let log = PartitionLog::open(dir.path(), config, true, 0).expect("clean reopen");
        let found = log.offset_for_timestamp(2).expect("lookup").expect("some");
        assert_eq!(found.offset, 4);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Append { count: usize, len: usize, ts: i64 },
        Truncate(f64),
        DeleteRecords(f64),
        RetentionBytes(i64),
        RetentionMs(i64),
        Reopen { clean: bool },
        Flush,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (1usize..5, 0usize..200, 0i64..10_000)
                .prop_map(|(count, len, ts)| Op::Append { count, len, ts }),
            1 => (0.0f64..1.0).prop_map(Op::Truncate),
            1 => (0.0f64..1.0).prop_map(Op::DeleteRecords),
            1 => (0i64..3000).prop_map(Op::RetentionBytes),
            1 => (0i64..10_000).prop_map(Op::RetentionMs),
            1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
            1 => Just(Op::Flush),
        ]
    }

    struct Model {
        batches: Vec<(i64, Bytes)>,
        log_start_offset: i64,
        log_end_offset: i64,
    }

    impl Model {
        fn records(&self) -> Vec<(i64, i64)> {
            self.batches
                .iter()
                .flat_map(|(base, b)| {
                    record_offsets_and_timestamps(b)
                        .expect("uncompressed")
                        .into_iter()
                        .map(move |(o, ts)| (o + base, ts))
                })
                .collect()
        }

        fn drop_below_start(&mut self) {
            let start = self.log_start_offset;
            self.batches
                .retain(|(base, b)| base + i64::from(headers(b)[0].last_offset_delta) >= start);
        }
    }

    fn check_model(log: &PartitionLog, model: &Model) {
        assert_eq!(log.log_end_offset(), model.log_end_offset);
        assert_eq!(log.log_start_offset(), model.log_start_offset);
        for (base, original) in &model.batches {
            let last = base + i64::from(headers(original)[0].last_offset_delta);
            for offset in (*base).max(model.log_start_offset)..=last {
                let got = log.read(offset, 1, i64::MAX).expect("read");
                let hs = headers(&got.records);
                assert_eq!(hs.len(), 1);
                assert_eq!(hs[0].base_offset, *base);
                assert_eq!(&got.records[16..], &original[16..]);
            }
        }
        let records = model.records();
        let mut targets: Vec<i64> = records.iter().map(|(_, ts)| *ts).collect();
        targets.extend([-1, 0, 5_000, 20_000]);
        targets.sort_unstable();
        targets.dedup();
        for target in targets.into_iter().step_by(3) {
            let expected = records
                .iter()
                .find(|(o, ts)| *ts >= target && *o >= model.log_start_offset)
                .map(|(o, _)| *o);
            let got = log
                .offset_for_timestamp(target)
                .expect("lookup")
                .map(|t| t.offset);
            assert_eq!(got, expected, "timestamp {target}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Random operation sequences against a model of the log.
        #[test]
        fn random_operations_match_a_model(
            ops in proptest::collection::vec(op(), 1..40),
            segment_bytes in 150u64..2000,
            interval in 0u64..400,
        ) {
            let dir = tempfile::tempdir().expect("tempdir");
            let config = small_config(segment_bytes, interval);
            let mut log = PartitionLog::open(dir.path(), config.clone(), true, 0).expect("open");
            let mut model = Model { batches: Vec::new(), log_start_offset: 0, log_end_offset: 0 };
            for op in ops {
                match op {
                    Op::Append { count, len, ts } => {
                        let b = make_value_batch(count, len, ts);
                        let info = log.append(b.clone(), 0, 0).expect("append");
                        prop_assert_eq!(info.base_offset, model.log_end_offset);
                        model.batches.push((info.base_offset, b));
                        model.log_end_offset += count as i64;
                    }
                    Op::Truncate(frac) => {
                        let candidates: Vec<i64> = model
                            .batches
                            .iter()
                            .map(|(b, _)| *b)
                            .filter(|b| *b >= model.log_start_offset)
                            .chain([model.log_end_offset])
                            .collect();
                        let target = candidates[((candidates.len() as f64) * frac) as usize % candidates.len()];
                        log.truncate_to(target).expect("truncate");
                        model.batches.retain(|(b, _)| *b < target);
                        model.log_end_offset = model.log_end_offset.min(target);
                    }
                    Op::DeleteRecords(frac) => {
                        let span = model.log_end_offset - model.log_start_offset;
                        let offset = model.log_start_offset + ((span as f64) * frac) as i64;
                        let got = log.delete_records_before(offset).expect("delete records");
                        model.log_start_offset = model.log_start_offset.max(offset);
                        prop_assert_eq!(got, model.log_start_offset);
                        model.drop_below_start();
                    }
                    Op::RetentionBytes(bytes) => {
                        log.update_config(LogConfig { retention_bytes: bytes, ..config.clone() });
                        log.enforce_retention(0).expect("retention");
                        log.update_config(config.clone());
                        let start = log.log_start_offset();
                        prop_assert!(start >= model.log_start_offset);
                        prop_assert!(
                            log.size_bytes() as i64 <= bytes.max(0) + segment_bytes as i64 + 2000
                                || log.segment_count() <= 2
                        );
                        model.log_start_offset = start;
                        model.drop_below_start();
                    }
                    Op::RetentionMs(cutoff) => {
                        // now - retention == cutoff: segments whose newest
                        // record is older than `cutoff` go.
                        log.update_config(LogConfig { retention_ms: 1_000_000, ..config.clone() });
                        log.enforce_retention(cutoff + 1_000_000).expect("retention");
                        log.update_config(config.clone());
                        let start = log.log_start_offset();
                        prop_assert!(start >= model.log_start_offset);
                        // Everything deleted was older than the cutoff.
                        for (base, b) in &model.batches {
                            if base + i64::from(headers(b)[0].last_offset_delta) < start
                                && *base >= model.log_start_offset
                            {
                                prop_assert!(headers(b)[0].max_timestamp < cutoff);
                            }
                        }
                        model.log_start_offset = start;
                        model.drop_below_start();
                    }
                    Op::Reopen { clean } => {
                        if clean {
                            log.close().expect("close");
                        }
                        drop(log);
                        log = PartitionLog::open(dir.path(), config.clone(), clean, 0).expect("reopen");
                        prop_assert_eq!(log.open_report().bytes_truncated, 0);
                    }
                    Op::Flush => log.flush().expect("flush"),
                }
                check_model(&log, &model);
            }
        }
    }
}
