//! One segment: a `%020d.log` file of back-to-back RecordBatch v2 bytes and
//! its `.index` and `.timeindex`. Kafka counterpart: `LogSegment`.
//!
//! Invariants: `size` is the published length of the log file; every byte
//! below it belongs to a whole batch that was validated when written or
//! recovered, and is never rewritten except by truncation. Batches hold
//! strictly increasing offsets, all >= `base_offset`. Positions fit in u32
//! and offsets relative to `base_offset` fit in u32 (the roll rules keep
//! them so).
//!
//! Who calls what: the partition's single writer (under its append lock)
//! appends, truncates, rebuilds and recovers; readers call the `&self`
//! look-ups and `read_*` concurrently, bounded by [`Segment::size`] loaded
//! after the log end offset.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use bytes::{Bytes, BytesMut};

use crate::log::LogError;
use crate::log::batch::{
    BATCH_HEADER_LEN, BatchHeader, LOG_OVERHEAD, Validation, peek_batch_size, validate_batch,
};
use crate::log::index::{
    IndexHealth, OFFSET_ENTRY_LEN, OffsetEntry, OffsetIndex, TIME_ENTRY_LEN, TimeEntry, TimeIndex,
};

pub const LOG_SUFFIX: &str = "log";
pub const INDEX_SUFFIX: &str = "index";
pub const TIME_INDEX_SUFFIX: &str = "timeindex";

/// `<dir>/<base_offset as %020d>.<suffix>`, Kafka's file naming.
pub fn segment_file(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{suffix}"))
}

/// The base offset encoded in a segment file name, if it is one.
pub fn parse_segment_file_name(name: &str) -> Option<(i64, &str)> {
    let (stem, suffix) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stem.parse().ok()?, suffix))
}

/// How much header scanning reads per system call.
const SCAN_CHUNK: usize = 16 * 1024;
/// How much recovery reads per system call.
const RECOVERY_CHUNK: usize = 1024 * 1024;

/// A buffered window over a file for sequential scans with positional reads.
struct FileWindow {
    buf: Vec<u8>,
    start: u64,
    chunk: usize,
}

impl FileWindow {
    fn new(chunk: usize) -> Self {
        FileWindow {
            buf: Vec::new(),
            start: 0,
            chunk,
        }
    }

    /// Bytes `[pos, pos + len)`, or None when they run past `end`.
    fn get(&mut self, file: &File, pos: u64, len: usize, end: u64) -> io::Result<Option<&[u8]>> {
        if pos + len as u64 > end {
            return Ok(None);
        }
        let have = pos >= self.start && pos + len as u64 <= self.start + self.buf.len() as u64;
        if !have {
            let want = (len.max(self.chunk) as u64).min(end - pos) as usize;
            self.buf.resize(want, 0);
            file.read_exact_at(&mut self.buf, pos)?;
            self.start = pos;
        }
        let from = (pos - self.start) as usize;
        Ok(Some(&self.buf[from..from + len]))
    }
}

/// Outcome of validating a segment after an unclean shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryOutcome {
    /// Bytes of valid batches kept.
    pub valid_bytes: u64,
    /// Bytes cut from a torn or corrupt tail.
    pub truncated_bytes: u64,
    /// Offset just past the last valid batch (base offset when empty).
    pub next_offset: i64,
    /// Why the tail was cut, when it was.
    pub reason: Option<String>,
}

/// Writes every byte of `parts`, in order, at `offset` (`pwritev`, resumed
/// after a short write).
fn write_all_vectored_at(file: &File, parts: &[&[u8]], mut offset: u64) -> io::Result<()> {
    let mut parts: Vec<&[u8]> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    let mut first = 0;
    while first < parts.len() {
        let iov: Vec<libc::iovec> = parts[first..]
            .iter()
            .take(1024) // IOV_MAX
            .map(|p| libc::iovec {
                iov_base: p.as_ptr() as *mut libc::c_void,
                iov_len: p.len(),
            })
            .collect();
        let off = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::other("file offset out of range"))?;
        // SAFETY: every iovec points into a live slice of `parts` for the
        // duration of the call; pwritev only reads them.
        let n = unsafe { libc::pwritev(file.as_raw_fd(), iov.as_ptr(), iov.len() as i32, off) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        offset += n as u64;
        let mut n = n as usize;
        while n > 0 {
            let p = parts[first];
            if n >= p.len() {
                n -= p.len();
                first += 1;
            } else {
                parts[first] = &p[n..];
                n = 0;
            }
        }
    }
    Ok(())
}

/// A byte range of a segment's log file, holding the segment open: what a
/// fetch sends straight from the page cache to the socket (`sendfile`).
/// Positions are those the read found under the segment's published size;
/// only a concurrent truncation can shorten the file under it.
#[derive(Clone)]
pub struct FileSlice {
    segment: Arc<Segment>,
    position: u64,
    len: usize,
}

impl FileSlice {
    pub fn new(segment: Arc<Segment>, position: u64, len: usize) -> Self {
        FileSlice {
            segment,
            position,
            len,
        }
    }

    pub fn position(&self) -> u64 {
        self.position
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The log file, for `sendfile`.
    pub fn file(&self) -> &File {
        &self.segment.log
    }

    /// The bytes, copied into memory.
    pub fn read(&self) -> io::Result<Bytes> {
        Ok(self.segment.read_bytes(self.position, self.len)?.freeze())
    }
}

impl std::fmt::Debug for FileSlice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSlice")
            .field("file", &self.segment.log_path)
            .field("position", &self.position)
            .field("len", &self.len)
            .finish()
    }
}

pub struct Segment {
    base_offset: i64,
    log_path: PathBuf,
    log: File,
    size: AtomicU64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    /// Offset just past the last batch (base offset when empty).
    next_offset: AtomicI64,
    /// Largest batch max timestamp, -1 when none.
    max_timestamp: AtomicI64,
    /// Last offset of the batch carrying `max_timestamp`.
    offset_of_max_timestamp: AtomicI64,
    bytes_since_last_index_entry: AtomicU64,
    /// Broker time the segment was created or opened: the `segment.ms`
    /// clock when its batches carry no timestamps.
    created_ms: AtomicI64,
    /// Max timestamp of the first batch (Kafka's `rollingBasedTimestamp`):
    /// `segment.ms` counts from it, so the clock survives restarts.
    /// [`NOT_LOADED`] until read; -1 when the segment is empty or unstamped.
    first_batch_timestamp: AtomicI64,
}

/// `first_batch_timestamp` not read from the file yet.
const NOT_LOADED: i64 = i64::MIN;

fn open_rw(path: &Path, truncate: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(truncate)
        .open(path)
}

impl Segment {
    /// Creates an empty segment (replacing stale files of that name). The
    /// caller fsyncs the directory.
    pub fn create(dir: &Path, base_offset: i64, now_ms: i64) -> io::Result<Segment> {
        let log_path = segment_file(dir, base_offset, LOG_SUFFIX);
        let log = open_rw(&log_path, true)?;
        open_rw(&segment_file(dir, base_offset, INDEX_SUFFIX), true)?;
        open_rw(&segment_file(dir, base_offset, TIME_INDEX_SUFFIX), true)?;
        let (offset_index, _) = OffsetIndex::open(&segment_file(dir, base_offset, INDEX_SUFFIX))?;
        let (time_index, _) = TimeIndex::open(&segment_file(dir, base_offset, TIME_INDEX_SUFFIX))?;
        Ok(Segment {
            base_offset,
            log_path,
            log,
            size: AtomicU64::new(0),
            offset_index,
            time_index,
            next_offset: AtomicI64::new(base_offset),
            max_timestamp: AtomicI64::new(-1),
            offset_of_max_timestamp: AtomicI64::new(base_offset),
            bytes_since_last_index_entry: AtomicU64::new(0),
            created_ms: AtomicI64::new(now_ms),
            first_batch_timestamp: AtomicI64::new(-1),
        })
    }

    /// Opens an existing segment, trusting its indexes after a cheap sanity
    /// check. Returns false as the second value when the indexes must be
    /// rebuilt (missing, damaged, or pointing past the log).
    pub fn open(dir: &Path, base_offset: i64, now_ms: i64) -> io::Result<(Segment, bool)> {
        let log_path = segment_file(dir, base_offset, LOG_SUFFIX);
        let log = open_rw(&log_path, false)?;
        let size = log.metadata()?.len();
        let index_path = segment_file(dir, base_offset, INDEX_SUFFIX);
        let time_path = segment_file(dir, base_offset, TIME_INDEX_SUFFIX);
        let index_existed = index_path.exists() && time_path.exists();
        let (offset_index, offset_health) = OffsetIndex::open(&index_path)?;
        let (time_index, time_health) = TimeIndex::open(&time_path)?;
        let mut sane = index_existed
            && offset_health == IndexHealth::Sane
            && time_health == IndexHealth::Sane
            && offset_index
                .last()
                .is_none_or(|e| u64::from(e.position) + (BATCH_HEADER_LEN as u64) <= size);
        let (max_timestamp, offset_of_max) = match time_index.last() {
            Some(e) => (e.timestamp, base_offset + i64::from(e.relative_offset)),
            None => (-1, base_offset),
        };
        if size == 0 && (!offset_index.is_empty() || !time_index.is_empty()) {
            sane = false;
        }
        // A non-empty segment gets a final time entry when it stops being
        // active; without one its max timestamp (retention, look-ups by
        // time) is unknown. Unless its batches carry no timestamps (-1),
        // which the first header tells for one small read.
        if size > 0 && time_index.is_empty() {
            let mut first = [0u8; BATCH_HEADER_LEN];
            let stamped = (size as usize) < BATCH_HEADER_LEN
                || log.read_exact_at(&mut first, 0).is_err()
                || BatchHeader::parse(&first)
                    .ok()
                    .is_none_or(|h| h.max_timestamp >= 0);
            if stamped {
                sane = false;
            }
        }
        if sane {
            // Kafka's tools expect exactly sized files; a preallocated file
            // trimmed of its zero entries is written back trimmed.
            offset_index.trim()?;
            time_index.trim()?;
        }
        let segment = Segment {
            base_offset,
            log_path,
            log,
            size: AtomicU64::new(size),
            offset_index,
            time_index,
            next_offset: AtomicI64::new(base_offset),
            max_timestamp: AtomicI64::new(max_timestamp),
            offset_of_max_timestamp: AtomicI64::new(offset_of_max),
            bytes_since_last_index_entry: AtomicU64::new(0),
            created_ms: AtomicI64::new(now_ms),
            first_batch_timestamp: AtomicI64::new(if size == 0 { -1 } else { NOT_LOADED }),
        };
        Ok((segment, sane))
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Published size of the log file in bytes.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    pub fn next_offset(&self) -> i64 {
        self.next_offset.load(Ordering::Acquire)
    }

    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp.load(Ordering::Acquire)
    }

    pub fn offset_of_max_timestamp(&self) -> i64 {
        self.offset_of_max_timestamp.load(Ordering::Acquire)
    }

    pub fn created_ms(&self) -> i64 {
        self.created_ms.load(Ordering::Relaxed)
    }

    /// How long this segment has waited for a time-based roll when a batch
    /// whose max timestamp is `message_timestamp` arrives at `now_ms`
    /// (Kafka's `LogSegment.timeWaitedForRoll`): counted on the records'
    /// clock from the first batch, or on the broker's clock from creation
    /// when the first batch has no timestamp.
    pub fn time_waited_for_roll(&self, now_ms: i64, message_timestamp: i64) -> i64 {
        match self.first_batch_timestamp() {
            Some(first) => message_timestamp.saturating_sub(first),
            None => now_ms.saturating_sub(self.created_ms()),
        }
    }

    /// The first batch's max timestamp, read once from the file after open.
    pub fn first_batch_timestamp(&self) -> Option<i64> {
        let mut ts = self.first_batch_timestamp.load(Ordering::Acquire);
        if ts == NOT_LOADED {
            let mut header = [0u8; BATCH_HEADER_LEN];
            ts = match self.log.read_exact_at(&mut header, 0) {
                Ok(()) => BatchHeader::parse(&header).map_or(-1, |h| h.max_timestamp),
                Err(_) => -1,
            };
            self.first_batch_timestamp.store(ts, Ordering::Release);
        }
        (ts >= 0).then_some(ts)
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub fn offset_index_entries(&self) -> Vec<OffsetEntry> {
        self.offset_index.entries()
    }

    pub fn time_index_entries(&self) -> Vec<TimeEntry> {
        self.time_index.entries()
    }

    /// The newest record's timestamp for retention: the largest batch
    /// timestamp, or the file's modification time when no batch has one.
    pub fn largest_timestamp(&self) -> i64 {
        let ts = self.max_timestamp();
        if ts >= 0 {
            return ts;
        }
        self.log
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64)
            .unwrap_or(-1)
    }

    /// Whether either index has reached `segment.index.bytes`.
    pub fn index_full(&self, segment_index_bytes: u64) -> bool {
        (self.offset_index.len() * OFFSET_ENTRY_LEN) as u64 >= segment_index_bytes
            || (self.time_index.len() * TIME_ENTRY_LEN) as u64 >= segment_index_bytes
    }

    fn relative(&self, offset: i64) -> u32 {
        debug_assert!(offset >= self.base_offset);
        (offset - self.base_offset).clamp(0, i64::from(u32::MAX)) as u32
    }

    /// Records one batch written at `position` in the indexes, following
    /// Kafka's rule: an entry once more than `index_interval_bytes` of log
    /// were written since the previous one.
    fn index_batch(
        &self,
        position: u64,
        header: &BatchHeader,
        index_interval_bytes: u64,
    ) -> io::Result<()> {
        if header.max_timestamp > self.max_timestamp.load(Ordering::Relaxed) {
            self.max_timestamp
                .store(header.max_timestamp, Ordering::Release);
            self.offset_of_max_timestamp
                .store(header.last_offset(), Ordering::Release);
        }
        let since = self.bytes_since_last_index_entry.load(Ordering::Relaxed);
        if since > index_interval_bytes {
            self.offset_index.append(OffsetEntry {
                relative_offset: self.relative(header.last_offset()),
                position: position as u32,
            })?;
            self.maybe_append_time_entry()?;
            self.bytes_since_last_index_entry
                .store(0, Ordering::Relaxed);
        }
        self.bytes_since_last_index_entry
            .fetch_add(header.size() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn maybe_append_time_entry(&self) -> io::Result<()> {
        let ts = self.max_timestamp.load(Ordering::Relaxed);
        if self.time_index.last().is_none_or(|e| ts > e.timestamp) {
            self.time_index.append(TimeEntry {
                timestamp: ts,
                relative_offset: self
                    .relative(self.offset_of_max_timestamp.load(Ordering::Relaxed)),
            })?;
        }
        Ok(())
    }

    /// Writes `parts` (back to back: whole batches whose headers are
    /// `batches`, each with its position inside the parts) at the end of
    /// the log with one `pwritev`, updates the indexes, then publishes the
    /// new size. Writer only.
    pub fn append(
        &self,
        parts: &[&[u8]],
        batches: &[(usize, BatchHeader)],
        index_interval_bytes: u64,
    ) -> io::Result<()> {
        let start = self.size.load(Ordering::Relaxed);
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if let Err(e) = write_all_vectored_at(&self.log, parts, start) {
            // Leave no half batch behind for a later append to follow.
            let _ = self.log.set_len(start);
            return Err(e);
        }
        if start == 0
            && let Some((_, first)) = batches.first()
        {
            self.first_batch_timestamp
                .store(first.max_timestamp.max(-1), Ordering::Release);
        }
        for (pos, header) in batches {
            self.index_batch(start + *pos as u64, header, index_interval_bytes)?;
        }
        if let Some((_, last)) = batches.last() {
            debug_assert!(last.next_offset() > self.next_offset.load(Ordering::Relaxed));
            self.next_offset
                .store(last.next_offset(), Ordering::Release);
        }
        self.size.store(start + len as u64, Ordering::Release);
        Ok(())
    }

    /// The segment stops being active: record the final time index entry
    /// (as Kafka does on roll and close) so a reopen finds the max timestamp.
    pub fn on_roll(&self) -> io::Result<()> {
        if self.size() > 0 && self.max_timestamp.load(Ordering::Relaxed) >= 0 {
            self.maybe_append_time_entry()?;
        }
        Ok(())
    }

    /// fsyncs the log and both indexes.
    pub fn sync(&self) -> io::Result<()> {
        self.log.sync_data()?;
        self.offset_index.sync()?;
        self.time_index.sync()
    }

    /// End position of the whole batches from `start` (a batch boundary)
    /// that end at or before `limit` and whose base offsets are below
    /// `max_offset`, within the first `end` bytes; `start` when none does.
    /// The scan starts from the closest index entry before either bound,
    /// so a long range costs a few header reads, not a read of its data.
    pub fn whole_batches_end(
        &self,
        start: u64,
        limit: u64,
        end: u64,
        max_offset: i64,
    ) -> io::Result<u64> {
        let clamp = |p: u64| u32::try_from(p).unwrap_or(u32::MAX);
        let by_bytes = self.offset_index.lookup_position(clamp(limit));
        let by_offset = if max_offset <= self.base_offset {
            0
        } else {
            self.offset_index
                .lookup(self.relative(max_offset.saturating_sub(1)))
        };
        let from = u64::from(by_bytes.min(by_offset)).max(start);
        let mut boundary = from;
        self.scan_headers(from, end, |pos, header| {
            let next = pos + header.size() as u64;
            if header.base_offset >= max_offset || next > limit {
                return false;
            }
            boundary = next;
            true
        })?;
        Ok(boundary)
    }

    /// Reads `len` bytes at `position` into a fresh buffer.
    pub fn read_bytes(&self, position: u64, len: usize) -> io::Result<BytesMut> {
        let mut buf = BytesMut::zeroed(len);
        self.log.read_exact_at(&mut buf, position)?;
        Ok(buf)
    }

    /// Scans batch headers from `start` up to `end` (both positions in the
    /// log), calling `visit(position, header)` until it returns false.
    /// Stops quietly at a header that does not fit or does not parse:
    /// readers bound `end` by the published size, so that only happens
    /// under a concurrent truncation.
    pub fn scan_headers(
        &self,
        start: u64,
        end: u64,
        mut visit: impl FnMut(u64, &BatchHeader) -> bool,
    ) -> io::Result<()> {
        let mut window = FileWindow::new(SCAN_CHUNK);
        let mut pos = start;
        while let Some(bytes) = window.get(&self.log, pos, BATCH_HEADER_LEN, end)? {
            let Ok(header) = BatchHeader::parse(bytes) else {
                return Ok(());
            };
            let Ok(size) = peek_batch_size(bytes) else {
                return Ok(());
            };
            if pos + size as u64 > end || !visit(pos, &header) {
                return Ok(());
            }
            pos += size as u64;
        }
        Ok(())
    }

    /// Position and header of the first batch whose last offset is >=
    /// `offset`, found through the offset index, within the first `end` bytes.
    pub fn find_batch(&self, offset: i64, end: u64) -> io::Result<Option<(u64, BatchHeader)>> {
        let start = if offset <= self.base_offset {
            0
        } else {
            u64::from(self.offset_index.lookup(self.relative(offset)))
        };
        let mut found = None;
        self.scan_headers(start, end, |pos, header| {
            if header.last_offset() >= offset {
                found = Some((pos, *header));
                false
            } else {
                true
            }
        })?;
        Ok(found)
    }

    /// Where a scan for the first record with timestamp >= `timestamp` may start.
    pub fn time_lookup_start(&self, timestamp: i64) -> u64 {
        match self.time_index.lookup_before(timestamp) {
            Some(e) => {
                let after = e.relative_offset.saturating_add(1);
                u64::from(self.offset_index.lookup(after))
            }
            None => 0,
        }
    }

    /// Finds the end of the log after a clean shutdown: scans headers from
    /// the last index entry to the end of the file. Returns false when the
    /// tail does not parse into whole batches (the caller then recovers).
    pub fn load_tail(&self) -> io::Result<bool> {
        let size = self.size();
        let start = self
            .offset_index
            .last()
            .map(|e| u64::from(e.position))
            .unwrap_or(0);
        let mut end = start;
        let mut next = self.base_offset;
        let mut max_ts = self.max_timestamp();
        let mut offset_of_max = self.offset_of_max_timestamp();
        self.scan_headers(start, size, |pos, header| {
            end = pos + header.size() as u64;
            next = header.next_offset();
            if header.max_timestamp > max_ts {
                max_ts = header.max_timestamp;
                offset_of_max = header.last_offset();
            }
            true
        })?;
        if end != size || (start > 0 && next == self.base_offset) {
            return Ok(false);
        }
        self.next_offset.store(next, Ordering::Release);
        self.max_timestamp.store(max_ts, Ordering::Release);
        self.offset_of_max_timestamp
            .store(offset_of_max, Ordering::Release);
        // Kafka resumes counting at the last entry; so do we.
        self.bytes_since_last_index_entry
            .store(size - start, Ordering::Relaxed);
        Ok(true)
    }

    /// Whether both indexes stay within the segment's offsets (a cheap check
    /// of trusted indexes at a clean open, after the next offset is known).
    pub fn indexes_fit(&self) -> bool {
        let span = self.next_offset() - self.base_offset;
        let fits = |rel: Option<u32>| rel.is_none_or(|r| i64::from(r) < span);
        fits(self.offset_index.last().map(|e| e.relative_offset))
            && fits(self.time_index.last().map(|e| e.relative_offset))
            && fits(self.time_index.first().map(|e| e.relative_offset))
    }

    /// Marks an inactive segment's end without scanning it (clean open).
    pub fn set_next_offset(&self, next_offset: i64) {
        self.next_offset.store(next_offset, Ordering::Release);
    }

    fn reset_indexes(&self) -> io::Result<()> {
        self.offset_index.reset()?;
        self.time_index.reset()?;
        self.max_timestamp.store(-1, Ordering::Release);
        self.offset_of_max_timestamp
            .store(self.base_offset, Ordering::Release);
        self.bytes_since_last_index_entry
            .store(0, Ordering::Relaxed);
        self.first_batch_timestamp
            .store(NOT_LOADED, Ordering::Release);
        Ok(())
    }

    /// Validates every batch (framing, magic, CRC, offsets increasing from
    /// `min_offset`), rebuilds both indexes, and cuts the file after the
    /// last valid batch. Writer only (or before the log is shared).
    pub fn recover(
        &self,
        min_offset: i64,
        index_interval_bytes: u64,
    ) -> Result<RecoveryOutcome, LogError> {
        self.reset_indexes()?;
        let file_size = self.log.metadata()?.len();
        let mut window = FileWindow::new(RECOVERY_CHUNK);
        let mut pos = 0u64;
        let mut next = min_offset.max(self.base_offset);
        let mut reason = None;
        let mut last_next = None;
        loop {
            if pos == file_size {
                break;
            }
            let Some(prefix) = window.get(&self.log, pos, LOG_OVERHEAD, file_size)? else {
                reason = Some(format!("{} stray bytes at {pos}", file_size - pos));
                break;
            };
            let size = match peek_batch_size(prefix) {
                Ok(size) => size,
                Err(e) => {
                    reason = Some(format!("at {pos}: {e}"));
                    break;
                }
            };
            if pos + size as u64 > u64::from(u32::MAX) + 1 {
                reason = Some(format!("batch at {pos} runs past 4 GiB"));
                break;
            }
            let Some(batch) = window.get(&self.log, pos, size, file_size)? else {
                reason = Some(format!("torn batch of {size} bytes at {pos}"));
                break;
            };
            let header = match validate_batch(batch, usize::MAX, Validation::Stored) {
                Ok(h) => h,
                Err(e) => {
                    reason = Some(format!("at {pos}: {e}"));
                    break;
                }
            };
            if header.base_offset < next
                || header.last_offset() - self.base_offset > i64::from(u32::MAX)
            {
                reason = Some(format!(
                    "at {pos}: base offset {} where at least {next} was expected",
                    header.base_offset
                ));
                break;
            }
            next = header.next_offset();
            self.index_batch(pos, &header, index_interval_bytes)?;
            last_next = Some(next);
            pos += size as u64;
        }
        if pos < file_size {
            self.log.set_len(pos)?;
        }
        let next_offset = last_next.unwrap_or(self.base_offset);
        self.next_offset.store(next_offset, Ordering::Release);
        self.size.store(pos, Ordering::Release);
        // The max timestamp must be on disk even if this segment is never
        // active again (a later clean open reads it from the time index).
        self.on_roll()?;
        Ok(RecoveryOutcome {
            valid_bytes: pos,
            truncated_bytes: file_size - pos,
            next_offset,
            reason,
        })
    }

    /// Removes every batch whose last offset is >= `offset` (a batch holding
    /// `offset` goes whole) and rebuilds the indexes. Returns the new next offset.
    pub fn truncate_to(&self, offset: i64, index_interval_bytes: u64) -> Result<i64, LogError> {
        let size = self.size();
        let cut = match self.find_batch(offset, size)? {
            Some((pos, _)) => pos,
            None => size,
        };
        if cut < size {
            self.size.store(cut, Ordering::Release);
            self.log.set_len(cut)?;
        }
        let outcome = self.recover(self.base_offset, index_interval_bytes)?;
        Ok(outcome.next_offset)
    }

    /// Deletes the segment's files. Readers holding the segment keep reading
    /// the unlinked file until they drop it.
    pub fn delete_files(&self) -> io::Result<()> {
        let dir = self
            .log_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            match std::fs::remove_file(segment_file(&dir, self.base_offset, suffix)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectored_writes_land_in_order_past_the_iovec_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = open_rw(&dir.path().join("v"), true).expect("open");
        let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        // 3000 one-byte parts between empty ones: more than IOV_MAX per call.
        let parts: Vec<&[u8]> = data.chunks(1).flat_map(|c| [c, &[][..]]).collect();
        write_all_vectored_at(&file, &parts, 10).expect("write");
        let mut back = vec![0u8; 3010];
        file.read_exact_at(&mut back, 0).expect("read");
        assert_eq!(&back[10..], &data[..]);
    }
}
