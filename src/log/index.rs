//! The sparse `.index` and `.timeindex` files of one segment. Kafka
//! counterparts: `OffsetIndex` and `TimeIndex`.
//!
//! Format (big-endian, Kafka's): an offset entry is `relative offset u32 |
//! position u32`, mapping the last offset of a batch to the file position
//! where that batch starts; a time entry is `timestamp i64 | relative offset
//! u32`, the largest timestamp seen so far in the segment and the last offset
//! of the batch that carried it. Both files are kept exactly sized (no
//! preallocation), so Kafka's tools read them as they are; trailing zero
//! entries left by a preallocating writer are trimmed on load (a real entry is never all
//! zeros: no offset entry points at position 0, as the first batch of a
//! segment is never indexed, and a time entry of timestamp 0 only costs a
//! rebuild).
//!
//! Invariants: relative offsets strictly increase in both files; positions
//! strictly increase; timestamps strictly increase. Entries live in memory
//! (a few bytes per `index.interval.bytes` of log) and are written through
//! to the file on append, but read from the file only on first look-up.
//! Only the partition's writer appends or resets; readers look up under a
//! short read lock.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{OnceLock, RwLock};

/// Bytes of one `.index` entry.
pub const OFFSET_ENTRY_LEN: usize = 8;
/// Bytes of one `.timeindex` entry.
pub const TIME_ENTRY_LEN: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

/// One fixed-size entry type of a sparse index file.
pub trait IndexEntry: Copy + Send + Sync + 'static {
    const LEN: usize;
    fn encode(&self, out: &mut [u8]);
    fn decode(b: &[u8]) -> Self;
    /// Whether `next` may follow `self` in a well-formed file.
    fn may_precede(&self, next: &Self) -> bool;
}

impl IndexEntry for OffsetEntry {
    const LEN: usize = OFFSET_ENTRY_LEN;
    fn encode(&self, out: &mut [u8]) {
        out[..4].copy_from_slice(&self.relative_offset.to_be_bytes());
        out[4..8].copy_from_slice(&self.position.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Self {
        OffsetEntry {
            relative_offset: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            position: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
    fn may_precede(&self, next: &Self) -> bool {
        self.relative_offset < next.relative_offset && self.position < next.position
    }
}

impl IndexEntry for TimeEntry {
    const LEN: usize = TIME_ENTRY_LEN;
    fn encode(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.relative_offset.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Self {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[..8]);
        TimeEntry {
            timestamp: i64::from_be_bytes(ts),
            relative_offset: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        }
    }
    fn may_precede(&self, next: &Self) -> bool {
        self.timestamp < next.timestamp && self.relative_offset <= next.relative_offset
    }
}

/// A sparse index file. Entries are read from the file on first use, not
/// at open, so a clean restart costs a few reads per segment however much
/// data the log holds (Kafka's `LazyIndex`). The file itself is opened on
/// first use too and not held by an index that is never read or written:
/// a broker hosting 10,000 idle partitions holds one descriptor for each
/// (its log) instead of three (Kafka memory-maps its indexes and likewise
/// keeps one per segment).
pub struct SparseIndex<E: IndexEntry> {
    path: PathBuf,
    file: OnceLock<File>,
    state: RwLock<State<E>>,
}

enum State<E> {
    /// Not read yet: how many entries the file holds, and its first and last.
    Lazy {
        count: usize,
        first: Option<E>,
        last: Option<E>,
    },
    Loaded(Vec<E>),
}

/// The `.index` of a segment.
pub type OffsetIndex = SparseIndex<OffsetEntry>;
/// The `.timeindex` of a segment.
pub type TimeIndex = SparseIndex<TimeEntry>;

/// Whether an index file passed the cheap checks at open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexHealth {
    Sane,
    /// Size not a multiple of the entry size, or first and last entries
    /// out of order. The index was emptied; the caller rebuilds it.
    Damaged,
}

/// How far back a scan for trailing zero entries reads at once.
const TRIM_CHUNK: usize = 64 * 1024;

impl<E: IndexEntry> SparseIndex<E> {
    /// Opens (creating if missing) without reading the entries. Trailing
    /// zero entries (a preallocated Kafka file not trimmed before a crash)
    /// are not counted. Checks, as Kafka's `sanityCheck` does, only the
    /// size and the first and last entries; a damaged file is emptied.
    pub fn open(path: &Path) -> io::Result<(Self, IndexHealth)> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let len = file.metadata()?.len() as usize;
        let mut health = IndexHealth::Sane;
        let mut count = len / E::LEN;
        if len % E::LEN != 0 {
            health = IndexHealth::Damaged;
            count = 0;
        }
        // Walk back over zero entries, a chunk at a time.
        let mut buf = Vec::new();
        'trim: while count > 0 {
            let chunk_entries = (TRIM_CHUNK / E::LEN).min(count);
            let start = count - chunk_entries;
            buf.resize(chunk_entries * E::LEN, 0);
            file.read_exact_at(&mut buf, (start * E::LEN) as u64)?;
            for i in (0..chunk_entries).rev() {
                if buf[i * E::LEN..(i + 1) * E::LEN].iter().any(|b| *b != 0) {
                    count = start + i + 1;
                    break 'trim;
                }
            }
            count = start;
        }
        let read_entry = |i: usize| -> io::Result<E> {
            let mut b = [0u8; 16];
            file.read_exact_at(&mut b[..E::LEN], (i * E::LEN) as u64)?;
            Ok(E::decode(&b[..E::LEN]))
        };
        let (first, last) = if count > 0 {
            (Some(read_entry(0)?), Some(read_entry(count - 1)?))
        } else {
            (None, None)
        };
        if let (Some(f), Some(l)) = (first, last) {
            if count > 1 && !f.may_precede(&l) {
                health = IndexHealth::Damaged;
            }
        }
        drop(file);
        let index = SparseIndex {
            path: path.to_path_buf(),
            file: OnceLock::new(),
            state: RwLock::new(State::Lazy { count, first, last }),
        };
        if health == IndexHealth::Damaged {
            index.reset()?;
        }
        Ok((index, health))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file, opened on first use. Never created here: `open` did, and
    /// a file deleted with its segment must not come back.
    fn file(&self) -> io::Result<&File> {
        if let Some(file) = self.file.get() {
            return Ok(file);
        }
        let file = OpenOptions::new().read(true).write(true).open(&self.path)?;
        Ok(self.file.get_or_init(|| file))
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State<E>> {
        // A poisoned lock only means a panic elsewhere mid-push; the state is intact.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State<E>> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` over the entries, reading them from the file first if needed.
    /// Entries past the first out-of-order one are dropped (a damaged file
    /// that passed the cheap checks): a shorter index only makes scans longer.
    fn with_entries<R>(&self, f: impl FnOnce(&[E]) -> R) -> R {
        {
            let state = self.read_state();
            if let State::Loaded(entries) = &*state {
                return f(entries);
            }
        }
        let mut state = self.write_state();
        if let State::Lazy { count, .. } = &*state {
            let mut raw = vec![0u8; count * E::LEN];
            let read = match count {
                0 => Ok(()),
                _ => self.file().and_then(|f| f.read_exact_at(&mut raw, 0)),
            };
            let mut entries: Vec<E> = match read {
                Ok(()) => raw.chunks_exact(E::LEN).map(E::decode).collect(),
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "index unreadable; scanning without it");
                    Vec::new()
                }
            };
            if let Some(bad) = entries.windows(2).position(|w| !w[0].may_precede(&w[1])) {
                tracing::warn!(path = %self.path.display(), at = bad + 1, "index entries out of order; ignoring the rest");
                entries.truncate(bad + 1);
                // So that the writer's next entry lands right after them.
                let _ = self
                    .file()
                    .and_then(|f| f.set_len((entries.len() * E::LEN) as u64));
            }
            *state = State::Loaded(entries);
        }
        match &*state {
            State::Loaded(entries) => f(entries),
            State::Lazy { .. } => f(&[]),
        }
    }

    pub fn len(&self) -> usize {
        match &*self.read_state() {
            State::Lazy { count, .. } => *count,
            State::Loaded(entries) => entries.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn first(&self) -> Option<E> {
        match &*self.read_state() {
            State::Lazy { first, .. } => *first,
            State::Loaded(entries) => entries.first().copied(),
        }
    }

    pub fn last(&self) -> Option<E> {
        match &*self.read_state() {
            State::Lazy { last, .. } => *last,
            State::Loaded(entries) => entries.last().copied(),
        }
    }

    pub fn entries(&self) -> Vec<E> {
        self.with_entries(|e| e.to_vec())
    }

    /// Appends one entry to the file and memory (without loading a lazy
    /// index). Writer only.
    pub fn append(&self, entry: E) -> io::Result<()> {
        let mut state = self.write_state();
        let (count, last) = match &*state {
            State::Lazy { count, last, .. } => (*count, *last),
            State::Loaded(entries) => (entries.len(), entries.last().copied()),
        };
        debug_assert!(last.is_none_or(|last| last.may_precede(&entry)));
        let mut buf = [0u8; 16];
        entry.encode(&mut buf[..E::LEN]);
        self.file()?
            .write_all_at(&buf[..E::LEN], (count * E::LEN) as u64)?;
        match &mut *state {
            State::Lazy {
                count, first, last, ..
            } => {
                *count += 1;
                first.get_or_insert(entry);
                *last = Some(entry);
            }
            State::Loaded(entries) => entries.push(entry),
        }
        Ok(())
    }

    /// Empties the index and its file (before a rebuild). Writer only.
    pub fn reset(&self) -> io::Result<()> {
        let mut state = self.write_state();
        *state = State::Loaded(Vec::new());
        self.set_len(0)
    }

    /// Drops trailing bytes past the entries (a file we did not write).
    pub fn trim(&self) -> io::Result<()> {
        let want = (self.len() * E::LEN) as u64;
        // A stat, not an open: most files need no trimming.
        if std::fs::metadata(&self.path)?.len() != want {
            self.set_len(want)?;
        }
        Ok(())
    }

    /// Truncates or extends the file without keeping a descriptor the
    /// index did not already hold: recovery empties the index of every
    /// segment it rescans, and an idle partition must still hold only its
    /// log's descriptor afterwards (10,000 recovered idle partitions held
    /// 30,000 and a restart after kill -9 ran out of descriptors where the
    /// running broker had needed 10,000).
    fn set_len(&self, len: u64) -> io::Result<()> {
        match self.file.get() {
            Some(file) => file.set_len(len),
            None => OpenOptions::new()
                .write(true)
                .open(&self.path)?
                .set_len(len),
        }
    }

    /// fsyncs what this process wrote. A file it never opened holds
    /// nothing of ours: its entries were synced by the process that wrote
    /// them, or are rebuilt by recovery.
    pub fn sync(&self) -> io::Result<()> {
        match self.file.get() {
            Some(file) => file.sync_data(),
            None => Ok(()),
        }
    }

    /// The last entry for which `before(entry)` holds, entries being sorted
    /// so that `before` is true for a prefix.
    fn last_matching(&self, before: impl Fn(&E) -> bool) -> Option<E> {
        self.with_entries(|entries| {
            let n = entries.partition_point(|e| before(e));
            n.checked_sub(1).map(|i| entries[i])
        })
    }
}

impl OffsetIndex {
    /// File position to start scanning from to find the batch holding
    /// `relative_offset`: the position of the last indexed batch whose last
    /// offset is <= it, or 0.
    pub fn lookup(&self, relative_offset: u32) -> u32 {
        self.last_matching(|e| e.relative_offset <= relative_offset)
            .map(|e| e.position)
            .unwrap_or(0)
    }

    /// The position of the last indexed batch that starts at or before
    /// `position`, or 0: where a scan for the batch boundary just below
    /// `position` may start.
    pub fn lookup_position(&self, position: u32) -> u32 {
        self.last_matching(|e| e.position <= position)
            .map(|e| e.position)
            .unwrap_or(0)
    }
}

impl TimeIndex {
    /// The last entry with a timestamp strictly below `timestamp`: every
    /// record up to its offset is older than `timestamp`.
    pub fn lookup_before(&self, timestamp: i64) -> Option<TimeEntry> {
        self.last_matching(|e| e.timestamp < timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_find_the_floor_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (idx, health) = OffsetIndex::open(&dir.path().join("a.index")).expect("open");
        assert_eq!(health, IndexHealth::Sane);
        assert_eq!(idx.lookup(5), 0);
        for (o, p) in [(3u32, 100u32), (7, 200), (12, 300)] {
            idx.append(OffsetEntry {
                relative_offset: o,
                position: p,
            })
            .expect("append");
        }
        assert_eq!(idx.lookup(2), 0);
        assert_eq!(idx.lookup(3), 100);
        assert_eq!(idx.lookup(6), 100);
        assert_eq!(idx.lookup(7), 200);
        assert_eq!(idx.lookup(100), 300);
        drop(idx);
        let (idx, health) = OffsetIndex::open(&dir.path().join("a.index")).expect("reopen");
        assert_eq!(health, IndexHealth::Sane);
        assert_eq!(idx.len(), 3);
    }

    /// Recovery empties the index of every segment it rescans; an index
    /// that was not holding its file must not start holding it then.
    #[test]
    fn reset_and_trim_hold_no_descriptor() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("r.index");
        std::fs::write(&p, [0u8; 3]).expect("a stray partial entry");
        let (idx, health) = OffsetIndex::open(&p).expect("open");
        assert_eq!(health, IndexHealth::Damaged, "emptied by open");
        assert!(
            idx.file.get().is_none(),
            "the reset of a damaged file keeps no descriptor"
        );
        assert_eq!(std::fs::metadata(&p).expect("stat").len(), 0);
        idx.reset().expect("reset");
        idx.trim().expect("trim");
        assert!(
            idx.file.get().is_none(),
            "reset and trim keep no descriptor"
        );
        // Appending does hold it (it writes on every entry).
        idx.append(OffsetEntry {
            relative_offset: 1,
            position: 10,
        })
        .expect("append");
        assert!(idx.file.get().is_some());
    }

    #[test]
    fn an_unused_index_holds_no_file_and_never_recreates_a_deleted_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("d.index");
        let (idx, _) = OffsetIndex::open(&p).expect("open");
        idx.append(OffsetEntry {
            relative_offset: 1,
            position: 10,
        })
        .expect("append");
        idx.sync().expect("sync");
        drop(idx);
        let (idx, _) = OffsetIndex::open(&p).expect("reopen");
        assert!(idx.file.get().is_none(), "open holds no descriptor");
        idx.sync().expect("nothing to sync");
        assert_eq!(idx.lookup_position(15), 10);
        assert!(idx.file.get().is_some(), "the first read opened it");
        // A segment deleted under a reader: its index is not brought back.
        let (idx, _) = OffsetIndex::open(&p).expect("reopen");
        std::fs::remove_file(&p).expect("remove");
        assert_eq!(idx.lookup(5), 0, "scans from the start without it");
        assert!(!p.exists());
    }

    #[test]
    fn a_lazy_index_keeps_only_its_ordered_prefix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("c.index");
        let mut raw = Vec::new();
        for (o, pos) in [(1u32, 10u32), (5, 50), (3, 30), (9, 90)] {
            raw.extend_from_slice(&o.to_be_bytes());
            raw.extend_from_slice(&pos.to_be_bytes());
        }
        std::fs::write(&p, &raw).expect("write");
        // First and last are in order, so the cheap check passes...
        let (idx, health) = OffsetIndex::open(&p).expect("open");
        assert_eq!(health, IndexHealth::Sane);
        assert_eq!(idx.len(), 4);
        // ...and the first look-up drops what follows the disorder.
        assert_eq!(idx.lookup(100), 50);
        assert_eq!(idx.len(), 2);
        idx.append(OffsetEntry {
            relative_offset: 6,
            position: 60,
        })
        .expect("append");
        drop(idx);
        let (idx, _) = OffsetIndex::open(&p).expect("reopen");
        assert_eq!(idx.entries().len(), 3);
        assert_eq!(idx.lookup(7), 60);
    }

    #[test]
    fn trailing_zeros_are_trimmed_and_bad_sizes_are_damaged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("b.timeindex");
        let mut raw = Vec::new();
        raw.extend_from_slice(&10i64.to_be_bytes());
        raw.extend_from_slice(&1u32.to_be_bytes());
        raw.extend_from_slice(&[0u8; 24]);
        std::fs::write(&p, &raw).expect("write");
        let (idx, health) = TimeIndex::open(&p).expect("open");
        assert_eq!(health, IndexHealth::Sane);
        assert_eq!(idx.len(), 1);
        assert_eq!(idx.lookup_before(11).map(|e| e.relative_offset), Some(1));
        assert_eq!(idx.lookup_before(10), None);
        idx.trim().expect("trim");
        assert_eq!(std::fs::metadata(&p).expect("meta").len(), 12);
        drop(idx);
        std::fs::write(&p, [1u8; 13]).expect("write");
        let (idx, health) = TimeIndex::open(&p).expect("open");
        assert_eq!(health, IndexHealth::Damaged);
        assert!(idx.is_empty());
    }
}
