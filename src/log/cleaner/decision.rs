//! What to clean, as pure functions of a log's segment summary, its
//! cleaner checkpoint, its config and `now` (Kafka's
//! `LogCleanerManager.cleanableOffsets`, `maxCompactionDelay`,
//! `grabFilthiestCompactedLog` and `Cleaner.groupSegmentsBySize`).
//!
//! A compacted log is a clean head (below the checkpoint's first dirty
//! offset, every key appears once) and a dirty tail. The cleanable part of
//! the tail ends at the first uncleanable offset: the active segment's base
//! offset, or the first dirty segment holding a record younger than
//! `min.compaction.lag.ms`, whichever is lower. With transactions this also
//! becomes bounded by the last stable offset (the hook is
//! [`LogSummary::last_stable_offset`]).

/// One segment as the decisions see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSummary {
    pub base_offset: i64,
    pub size: u64,
    /// Newest record timestamp (the file's mtime when none, as Kafka).
    pub largest_timestamp: i64,
    /// Max timestamp of the first batch, -1 when none.
    pub first_batch_timestamp: i64,
}

/// One log as the decisions see it: its segments, oldest first, the
/// active one last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSummary {
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    /// Nothing at or past it is cleaned. Today the log end offset; with
    /// transactions, the last stable offset (an open transaction's records
    /// may still be aborted).
    pub last_stable_offset: i64,
    pub segments: Vec<SegmentSummary>,
}

/// The topic configs the decisions read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompactionConfig {
    pub min_cleanable_dirty_ratio: f64,
    pub min_compaction_lag_ms: i64,
    pub max_compaction_lag_ms: i64,
}

/// How dirty a log is and which part of it may be cleaned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assessment {
    pub first_dirty_offset: i64,
    /// The base offset of the first segment that may not be cleaned.
    pub first_uncleanable_offset: i64,
    /// The checkpoint was missing, below the log start or past the log end.
    pub checkpoint_reset: bool,
    pub clean_bytes: u64,
    pub dirty_bytes: u64,
    /// `dirty / (clean + dirty)`, 0 for an empty log.
    pub dirty_ratio: f64,
    /// How far past `max.compaction.lag.ms` the oldest dirty segment is.
    pub compaction_delay_ms: i64,
}

impl Assessment {
    /// Whether the cleaner should take the log now (Kafka: overdue by
    /// `max.compaction.lag.ms` with something to clean, or a dirty ratio
    /// above `min.cleanable.dirty.ratio`).
    pub fn needs_cleaning(&self, config: &CompactionConfig) -> bool {
        self.dirty_bytes > 0
            && (self.compaction_delay_ms > 0 || self.dirty_ratio > config.min_cleanable_dirty_ratio)
    }
}

/// Assesses one log. `checkpoint` is its entry in the log dir's
/// `cleaner-offset-checkpoint`.
pub fn assess(
    log: &LogSummary,
    checkpoint: Option<i64>,
    config: &CompactionConfig,
    now_ms: i64,
) -> Assessment {
    let (first_dirty_offset, checkpoint_reset) = match checkpoint {
        Some(c) if c >= log.log_start_offset && c <= log.log_end_offset => (c, false),
        _ => (log.log_start_offset, true),
    };
    let active_base = log.segments.last().map_or(0, |s| s.base_offset);
    let non_active = &log.segments[..log.segments.len().saturating_sub(1)];
    // Non-active segments holding offsets at or past the first dirty offset.
    let dirty: Vec<&SegmentSummary> = non_active
        .iter()
        .enumerate()
        .filter(|(i, _)| next_base(&log.segments, *i) > first_dirty_offset)
        .map(|(_, s)| s)
        .collect();
    let lag = config.min_compaction_lag_ms.max(0);
    let too_young = (lag > 0)
        .then(|| {
            dirty
                .iter()
                .find(|s| s.largest_timestamp > now_ms.saturating_sub(lag))
                .map(|s| s.base_offset)
        })
        .flatten();
    let mut first_uncleanable = active_base.min(log.last_stable_offset);
    if let Some(young) = too_young {
        first_uncleanable = first_uncleanable.min(young);
    }
    // Round down to a segment boundary: only whole segments are cleaned.
    first_uncleanable = log
        .segments
        .iter()
        .map(|s| s.base_offset)
        .filter(|b| *b <= first_uncleanable)
        .max()
        .unwrap_or(active_base);
    let first_uncleanable_offset = first_uncleanable.max(first_dirty_offset.min(active_base));
    let mut clean_bytes = 0;
    let mut dirty_bytes = 0;
    for (i, s) in non_active.iter().enumerate() {
        if s.base_offset >= first_uncleanable_offset {
            break;
        }
        if next_base(&log.segments, i) <= first_dirty_offset {
            clean_bytes += s.size;
        } else {
            dirty_bytes += s.size;
        }
    }
    let total = clean_bytes + dirty_bytes;
    let dirty_ratio = if total == 0 {
        0.0
    } else {
        dirty_bytes as f64 / total as f64
    };
    let earliest_dirty = dirty
        .iter()
        .map(|s| s.first_batch_timestamp)
        .filter(|ts| *ts > 0)
        .min();
    let clean_until = now_ms.saturating_sub(config.max_compaction_lag_ms.max(0));
    let compaction_delay_ms = match earliest_dirty {
        Some(ts) if ts < clean_until => clean_until - ts,
        _ => 0,
    };
    Assessment {
        first_dirty_offset,
        first_uncleanable_offset,
        checkpoint_reset,
        clean_bytes,
        dirty_bytes,
        dirty_ratio,
        compaction_delay_ms,
    }
}

fn next_base(segments: &[SegmentSummary], i: usize) -> i64 {
    segments.get(i + 1).map_or(i64::MAX, |s| s.base_offset)
}

/// Which log to clean next: the one overdue the longest, else the
/// dirtiest (Kafka's `grabFilthiestCompactedLog`), among those that need it.
pub fn choose<K: Clone>(candidates: &[(K, Assessment, CompactionConfig)]) -> Option<K> {
    candidates
        .iter()
        .filter(|(_, a, c)| a.needs_cleaning(c))
        .max_by(|(_, a, _), (_, b, _)| {
            (a.compaction_delay_ms > 0)
                .cmp(&(b.compaction_delay_ms > 0))
                .then(a.dirty_ratio.total_cmp(&b.dirty_ratio))
        })
        .map(|(k, _, _)| k.clone())
}

/// Splits the segments below `end_offset` (indexes into `segments`) into
/// consecutive groups that each become one cleaned segment: at most
/// `max_bytes` of input per group (`segment.bytes`), and offsets that fit a
/// segment's 32-bit relative range (Kafka's `groupSegmentsBySize`).
pub fn group_segments(
    segments: &[SegmentSummary],
    end_offset: i64,
    max_bytes: u64,
) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut size = 0u64;
    for (i, s) in segments.iter().enumerate() {
        if s.base_offset >= end_offset {
            break;
        }
        let span_ok = |group: &Vec<usize>| {
            let first = segments[group[0]].base_offset;
            next_base(segments, i).saturating_sub(first) <= i64::from(i32::MAX)
        };
        match groups.last_mut() {
            Some(group) if size + s.size <= max_bytes && span_ok(group) => {
                group.push(i);
                size += s.size;
            }
            _ => {
                groups.push(vec![i]);
                size = s.size;
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(base_offset: i64, size: u64, ts: i64) -> SegmentSummary {
        SegmentSummary {
            base_offset,
            size,
            largest_timestamp: ts,
            first_batch_timestamp: ts,
        }
    }

    fn log(segments: Vec<SegmentSummary>, end: i64) -> LogSummary {
        LogSummary {
            log_start_offset: segments[0].base_offset,
            log_end_offset: end,
            last_stable_offset: end,
            segments,
        }
    }

    const CONFIG: CompactionConfig = CompactionConfig {
        min_cleanable_dirty_ratio: 0.5,
        min_compaction_lag_ms: 0,
        max_compaction_lag_ms: i64::MAX,
    };

    #[test]
    fn the_active_segment_is_never_cleanable() {
        let l = log(vec![seg(0, 100, 10)], 5);
        let a = assess(&l, None, &CONFIG, 1000);
        assert_eq!((a.first_dirty_offset, a.first_uncleanable_offset), (0, 0));
        assert_eq!(a.dirty_bytes, 0);
        assert!(!a.needs_cleaning(&CONFIG));
    }

    #[test]
    fn dirty_ratio_counts_from_the_checkpoint() {
        // Segments [0,10) [10,20) [20,30) [30,..active).
        let l = log(
            vec![
                seg(0, 100, 1),
                seg(10, 100, 2),
                seg(20, 200, 3),
                seg(30, 50, 4),
            ],
            35,
        );
        let a = assess(&l, Some(10), &CONFIG, 1000);
        assert!(!a.checkpoint_reset);
        assert_eq!((a.clean_bytes, a.dirty_bytes), (100, 300));
        assert_eq!(a.first_uncleanable_offset, 30);
        assert!((a.dirty_ratio - 0.75).abs() < 1e-9);
        assert!(a.needs_cleaning(&CONFIG));
        // A checkpoint in the middle of a segment makes that segment dirty.
        let a = assess(&l, Some(25), &CONFIG, 1000);
        assert_eq!((a.clean_bytes, a.dirty_bytes), (200, 200));
        assert!(!a.needs_cleaning(&CONFIG), "0.5 is not above 0.5");
        // Everything clean.
        let a = assess(&l, Some(30), &CONFIG, 1000);
        assert_eq!(a.dirty_bytes, 0);
        // A checkpoint past the end or below the start resets to the start.
        for bad in [Some(99), None] {
            let a = assess(&l, bad, &CONFIG, 1000);
            assert!(a.checkpoint_reset);
            assert_eq!(a.first_dirty_offset, 0);
            assert_eq!(a.dirty_bytes, 400);
        }
    }

    #[test]
    fn min_compaction_lag_stops_at_the_first_young_segment() {
        let l = log(
            vec![
                seg(0, 100, 100),
                seg(10, 100, 900),
                seg(20, 100, 200),
                seg(30, 1, 0),
            ],
            31,
        );
        let config = CompactionConfig {
            min_compaction_lag_ms: 500,
            ..CONFIG
        };
        // now - lag = 500: the segment at 10 (newest record 900) is too young,
        // and so is everything after it, whatever its own timestamps.
        let a = assess(&l, None, &config, 1000);
        assert_eq!(a.first_uncleanable_offset, 10);
        assert_eq!(a.dirty_bytes, 100);
        let a = assess(&l, None, &config, 2000);
        assert_eq!(a.first_uncleanable_offset, 30);
    }

    #[test]
    fn max_compaction_lag_forces_a_cleaning_below_the_ratio() {
        let l = log(
            vec![seg(0, 1000, 100), seg(10, 10, 5000), seg(20, 1, 0)],
            21,
        );
        let config = CompactionConfig {
            max_compaction_lag_ms: 1000,
            ..CONFIG
        };
        // Clean up to 10; the dirty segment's first batch is at 5000.
        let a = assess(&l, Some(10), &config, 5500);
        assert_eq!(a.compaction_delay_ms, 0);
        assert!(!a.needs_cleaning(&config));
        let a = assess(&l, Some(10), &config, 7000);
        assert_eq!(a.compaction_delay_ms, 1000);
        assert!(a.dirty_ratio < 0.5);
        assert!(a.needs_cleaning(&config));
    }

    #[test]
    fn the_last_stable_offset_bounds_the_cleaning() {
        let mut l = log(vec![seg(0, 10, 1), seg(10, 10, 1), seg(20, 10, 1)], 25);
        l.last_stable_offset = 15;
        let a = assess(&l, None, &CONFIG, 10);
        assert_eq!(a.first_uncleanable_offset, 10);
    }

    #[test]
    fn the_overdue_log_goes_first_then_the_dirtiest() {
        let a = |ratio: f64, delay: i64| Assessment {
            first_dirty_offset: 0,
            first_uncleanable_offset: 10,
            checkpoint_reset: false,
            clean_bytes: 1,
            dirty_bytes: 1,
            dirty_ratio: ratio,
            compaction_delay_ms: delay,
        };
        let c = CONFIG;
        assert_eq!(
            choose(&[("a", a(0.6, 0), c), ("b", a(0.9, 0), c)]),
            Some("b")
        );
        assert_eq!(
            choose(&[("a", a(0.1, 5), c), ("b", a(0.9, 0), c)]),
            Some("a")
        );
        assert_eq!(choose(&[("a", a(0.4, 0), c)]), None);
        assert_eq!(choose::<&str>(&[]), None);
    }

    #[test]
    fn groups_respect_segment_bytes_and_the_relative_offset_range() {
        let segs = vec![
            seg(0, 40, 0),
            seg(10, 40, 0),
            seg(20, 40, 0),
            seg(30, 10, 0),
        ];
        assert_eq!(group_segments(&segs, 30, 100), vec![vec![0, 1], vec![2]]);
        assert_eq!(group_segments(&segs, 30, 1000), vec![vec![0, 1, 2]]);
        assert_eq!(
            group_segments(&segs, 30, 10),
            vec![vec![0], vec![1], vec![2]]
        );
        let active = (1 << 31) + 10;
        let far = vec![
            seg(0, 1, 0),
            seg(1 << 31, 1, 0),
            seg((1 << 31) + 5, 1, 0),
            seg(active, 1, 0),
        ];
        assert_eq!(
            group_segments(&far, active, 1000),
            vec![vec![0], vec![1, 2]]
        );
    }
}
