//! The leader-epoch cache of a partition log: which leader epoch began at
//! which offset, kept in the partition's `leader-epoch-checkpoint` file in
//! Kafka's text format (a version line `0`, a count line, then one
//! `epoch start_offset` line per entry). OffsetForLeaderEpoch is answered
//! from it (KIP-101, KIP-279): the end offset of an epoch is the start of
//! the next one, the current epoch ends at the log end offset.
//!
//! The cache is a plain sorted list; the log calls it as batches are
//! appended (a batch of a new epoch starts it), truncated (entries at or
//! past the new end go), or deleted from the front (the first entry is
//! moved up to the new log start). The file is rewritten durably after
//! every change, which happens once per leadership change, not per batch.
//!
//! Kafka counterparts: `LeaderEpochFileCache` and
//! `LeaderEpochCheckpointFile`.

use std::io;
use std::path::Path;

use crate::common::durable_file::write_file_durably;

pub const CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";
const VERSION: &str = "0";

/// Kafka's "no epoch" and "no offset" answers.
pub const UNDEFINED_EPOCH: i32 = -1;
pub const UNDEFINED_OFFSET: i64 = -1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    /// Ascending in epoch and in start offset.
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    pub fn from_entries(entries: impl IntoIterator<Item = EpochEntry>) -> Self {
        let mut cache = LeaderEpochCache::default();
        for e in entries {
            cache.assign(e.epoch, e.start_offset);
        }
        cache
    }

    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Records that `epoch` begins at `start_offset`. Returns whether the
    /// cache changed. Entries that would no longer be monotonic (an epoch
    /// at or above this one, or starting at or after this offset) are
    /// dropped first, as Kafka drops them; a negative epoch or offset is
    /// ignored.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            return false;
        }
        if let Some(last) = self.entries.last()
            && last.epoch == epoch
            && last.start_offset <= start_offset
        {
            return false;
        }
        self.entries
            .retain(|e| e.epoch < epoch && e.start_offset < start_offset);
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        true
    }

    /// The log was truncated to end at `end_offset`: epochs that began at
    /// or past it are forgotten. Returns whether the cache changed.
    pub fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        self.entries.len() != before
    }

    /// The log now starts at `start_offset`: entries wholly below it go,
    /// and the one it falls in starts there. Returns whether the cache
    /// changed.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let below = self
            .entries
            .iter()
            .take_while(|e| e.start_offset <= start_offset)
            .count();
        if below == 0 {
            return false;
        }
        let kept = EpochEntry {
            epoch: self.entries[below - 1].epoch,
            start_offset,
        };
        let changed = below > 1 || self.entries[0] != kept;
        self.entries.drain(..below);
        self.entries.insert(0, kept);
        changed
    }

    /// Kafka's `endOffsetFor`: the largest epoch at or below `requested`
    /// that the cache knows, and where it ended (the start of the next
    /// epoch), or `log_end_offset` for the latest epoch. An epoch older
    /// than every entry ends where the first known one starts; one newer
    /// than every entry, or -1, is undefined.
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        if requested == UNDEFINED_EPOCH {
            return (UNDEFINED_EPOCH, UNDEFINED_OFFSET);
        }
        if self.latest_epoch() == Some(requested) {
            return (requested, log_end_offset);
        }
        let Some(higher) = self.entries.iter().position(|e| e.epoch > requested) else {
            return (UNDEFINED_EPOCH, UNDEFINED_OFFSET);
        };
        let end = self.entries[higher].start_offset;
        match higher.checked_sub(1).map(|i| self.entries[i]) {
            Some(floor) => (floor.epoch, end),
            None => (requested, end),
        }
    }

    /// The checkpoint file's contents.
    pub fn encode(&self) -> String {
        let mut out = format!("{VERSION}\n{}\n", self.entries.len());
        for e in &self.entries {
            out.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        out
    }

    /// Parses a checkpoint file; a malformed one is an error naming the line.
    pub fn parse(text: &str) -> Result<LeaderEpochCache, String> {
        let mut lines = text.lines();
        match lines.next().map(str::trim) {
            Some(VERSION) => {}
            other => return Err(format!("unknown version line {other:?}")),
        }
        let count: usize = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or("no entry count line")?;
        let mut entries = Vec::with_capacity(count);
        for (i, line) in lines.by_ref().take(count).enumerate() {
            let mut fields = line.split_whitespace();
            let parsed = (|| {
                let epoch = fields.next()?.parse().ok()?;
                let start_offset = fields.next()?.parse().ok()?;
                fields.next().is_none().then_some(EpochEntry {
                    epoch,
                    start_offset,
                })
            })();
            entries.push(
                parsed.ok_or_else(|| format!("entry {} is not `epoch offset`: {line:?}", i + 1))?,
            );
        }
        if entries.len() != count {
            return Err(format!(
                "{count} entries announced, {} found",
                entries.len()
            ));
        }
        Ok(LeaderEpochCache::from_entries(entries))
    }

    /// Reads `dir`'s checkpoint; an absent file is an empty cache. A file
    /// that does not parse is reported and treated as empty: the epochs
    /// are then known again from the next leadership change on.
    pub fn load(dir: &Path) -> io::Result<LeaderEpochCache> {
        match std::fs::read_to_string(dir.join(CHECKPOINT_FILE)) {
            Ok(text) => Ok(Self::parse(&text).unwrap_or_else(|reason| {
                tracing::warn!(dir = %dir.display(), reason, "unreadable leader-epoch-checkpoint; starting it again");
                LeaderEpochCache::default()
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(LeaderEpochCache::default()),
            Err(e) => Err(e),
        }
    }

    /// Writes the checkpoint into `dir`, durably.
    pub fn store(&self, dir: &Path) -> io::Result<()> {
        write_file_durably(dir, CHECKPOINT_FILE, self.encode().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
        LeaderEpochCache::from_entries(entries.iter().map(|&(epoch, start_offset)| EpochEntry {
            epoch,
            start_offset,
        }))
    }

    fn pairs(c: &LeaderEpochCache) -> Vec<(i32, i64)> {
        c.entries()
            .iter()
            .map(|e| (e.epoch, e.start_offset))
            .collect()
    }

    #[test]
    fn end_offsets_are_answered_as_kafka_answers_them() {
        // Epochs 0 from 0, 2 from 100, 5 from 250; log end 300.
        let c = cache(&[(0, 0), (2, 100), (5, 250)]);
        let table = [
            (5, (5, 300)), // the latest epoch ends at the log end
            (2, (2, 250)), // ends where the next begins
            (0, (0, 100)),
            (3, (2, 250)), // unknown in between: the floor epoch, the next start
            (4, (2, 250)),
            (6, (-1, -1)),  // newer than any known
            (-1, (-1, -1)), // undefined
        ];
        for (requested, expected) in table {
            assert_eq!(
                c.end_offset_for(requested, 300),
                expected,
                "epoch {requested}"
            );
        }
        // Older than every entry (the log start moved past it).
        let c = cache(&[(3, 40), (4, 90)]);
        assert_eq!(c.end_offset_for(1, 120), (1, 40));
        assert_eq!(LeaderEpochCache::default().end_offset_for(0, 10), (-1, -1));
    }

    #[test]
    fn assign_keeps_the_cache_monotonic() {
        let mut c = cache(&[(0, 0), (2, 100)]);
        assert!(!c.assign(2, 150), "the same epoch again later is no change");
        assert!(c.assign(3, 120));
        assert_eq!(pairs(&c), [(0, 0), (2, 100), (3, 120)]);
        // A lower start for a new epoch drops the entries at or after it
        // (a follower that truncated, then appended the leader's batches).
        assert!(c.assign(4, 100));
        assert_eq!(pairs(&c), [(0, 0), (4, 100)]);
        // An older epoch than the latest drops the newer ones.
        assert!(c.assign(1, 50));
        assert_eq!(pairs(&c), [(0, 0), (1, 50)]);
        assert!(!c.assign(-1, 60) && !c.assign(7, -1));
    }

    #[test]
    fn truncation_at_either_end() {
        let mut c = cache(&[(0, 0), (2, 100), (5, 250)]);
        assert!(c.truncate_from_end(250));
        assert_eq!(pairs(&c), [(0, 0), (2, 100)]);
        assert!(!c.truncate_from_end(400));
        assert!(c.truncate_from_start(150));
        assert_eq!(pairs(&c), [(2, 150)]);
        assert!(!c.truncate_from_start(150), "already starts there");
        assert!(
            !c.truncate_from_start(10),
            "below the first entry: nothing to do"
        );
        assert!(c.truncate_from_end(0));
        assert!(c.entries().is_empty());
    }

    #[test]
    fn the_checkpoint_file_is_kafkas_text_format() {
        let c = cache(&[(0, 0), (3, 1500)]);
        assert_eq!(c.encode(), "0\n2\n0 0\n3 1500\n");
        assert_eq!(LeaderEpochCache::parse(&c.encode()).unwrap(), c);
        for bad in ["1\n0\n", "0\n2\n0 0\n", "0\n1\n0 x\n", "0\n1\n0 1 2\n", ""] {
            assert!(LeaderEpochCache::parse(bad).is_err(), "{bad:?}");
        }
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(
            LeaderEpochCache::load(tmp.path()).unwrap(),
            LeaderEpochCache::default()
        );
        c.store(tmp.path()).unwrap();
        assert_eq!(LeaderEpochCache::load(tmp.path()).unwrap(), c);
        std::fs::write(tmp.path().join(CHECKPOINT_FILE), "garbage").unwrap();
        assert_eq!(
            LeaderEpochCache::load(tmp.path()).unwrap(),
            LeaderEpochCache::default()
        );
    }
}
