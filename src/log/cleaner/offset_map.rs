//! The offset map: the latest offset of each key in the dirty section of a
//! log (Kafka's `SkimpyOffsetMap`). Kafka keeps a 16-byte MD5 digest per
//! key in a fixed array of `log.cleaner.dedupe.buffer.size` bytes; this map
//! keeps the keys themselves, so two keys never collide, and counts each
//! entry as its key's length plus [`ENTRY_OVERHEAD`] against the same
//! budget. When the budget is spent the map is full and the cleaning stops
//! at the last offset it covers; the rest waits for the next round.

use std::collections::HashMap;

/// Bytes an entry costs besides its key: the offset, the hash table slot
/// and the key's allocation header, roughly.
pub const ENTRY_OVERHEAD: usize = 48;

#[derive(Debug)]
pub struct OffsetMap {
    entries: HashMap<Box<[u8]>, i64>,
    budget: usize,
    used: usize,
    /// The greatest offset put in the map, -1 when empty.
    latest_offset: i64,
}

impl OffsetMap {
    pub fn new(budget_bytes: usize) -> Self {
        OffsetMap {
            entries: HashMap::new(),
            budget: budget_bytes,
            used: 0,
            latest_offset: -1,
        }
    }

    /// Whether `keys` more keys of these lengths would fit (counted as if
    /// all were new).
    pub fn fits<'a>(&self, keys: impl IntoIterator<Item = &'a [u8]>) -> bool {
        let extra: usize = keys
            .into_iter()
            .filter(|k| !self.entries.contains_key(*k))
            .map(|k| k.len() + ENTRY_OVERHEAD)
            .sum();
        self.used + extra <= self.budget
    }

    /// Records `offset` as the latest of `key`. Offsets are put in
    /// increasing order.
    pub fn put(&mut self, key: &[u8], offset: i64) {
        debug_assert!(offset >= self.latest_offset);
        match self.entries.get_mut(key) {
            Some(o) => *o = offset,
            None => {
                self.used += key.len() + ENTRY_OVERHEAD;
                self.entries.insert(key.into(), offset);
            }
        }
        self.latest_offset = offset;
    }

    /// The latest offset of `key`, -1 when the dirty section lacks it.
    pub fn get(&self, key: &[u8]) -> i64 {
        self.entries.get(key).copied().unwrap_or(-1)
    }

    pub fn latest_offset(&self) -> i64 {
        self.latest_offset
    }

    /// Marks offsets up to `offset` as covered (a batch without keys, or
    /// a control batch, read while building the map).
    pub fn cover(&mut self, offset: i64) {
        self.latest_offset = self.latest_offset.max(offset);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Share of the budget in use (Kafka's `max-buffer-utilization-percent`).
    pub fn utilization(&self) -> f64 {
        if self.budget == 0 {
            1.0
        } else {
            self.used as f64 / self.budget as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_offset_per_key_within_its_budget() {
        let mut map = OffsetMap::new(2 * (ENTRY_OVERHEAD + 1));
        assert_eq!(map.get(b"a"), -1);
        map.put(b"a", 1);
        map.put(b"b", 2);
        map.put(b"a", 3);
        assert_eq!((map.get(b"a"), map.get(b"b"), map.len()), (3, 2, 2));
        assert_eq!(map.latest_offset(), 3);
        assert!(map.fits([&b"a"[..], b"b"]), "known keys cost nothing");
        assert!(!map.fits([&b"c"[..]]));
        map.cover(9);
        assert_eq!(map.latest_offset(), 9);
        assert!((map.utilization() - 1.0).abs() < 1e-9);
    }
}
