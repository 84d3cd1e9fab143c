//! The cleaner against real segment files: one cleaning, the crash states
//! of the swap, and random sequences of keyed writes, tombstones,
//! cleanings and reopens checked against a model.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::log::testing::{TestRecord, make_batch};

fn compacted(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 64,
        retention_ms: -1,
        cleanup_delete: false,
        cleanup_compact: true,
        min_cleanable_dirty_ratio: 0.0,
        delete_retention_ms: 1_000,
        ..LogConfig::default()
    }
}

const SETTINGS: CleanerSettings = CleanerSettings {
    threads: 1,
    dedupe_buffer_size: 1 << 20,
    io_max_bytes_per_second: f64::MAX,
};

fn put(log: &PartitionLog, records: &[(&str, Option<&str>)], ts: i64) {
    let owned: Vec<TestRecord<'_>> = records
        .iter()
        .map(|(k, v)| (Some(k.as_bytes()), v.map(str::as_bytes)))
        .collect();
    log.append(make_batch(&owned, ts, None), 0, ts)
        .expect("append");
}

type Read = Vec<ReadRecord>;

fn text(read: &Read) -> Vec<(i64, String, Option<String>)> {
    read.iter()
        .map(|(o, k, v)| {
            (
                *o,
                String::from_utf8_lossy(k.as_deref().unwrap_or_default()).into_owned(),
                v.as_deref()
                    .map(|v| String::from_utf8_lossy(v).into_owned()),
            )
        })
        .collect()
}

fn open(dir: &Path, config: &LogConfig, clean: bool) -> Arc<PartitionLog> {
    Arc::new(PartitionLog::open(dir, config.clone(), clean, 0).expect("open"))
}

fn one_round(cleaner: &LogCleaner, log: &Arc<PartitionLog>, now_ms: i64) -> Vec<CleanSummary> {
    cleaner
        .run_round(&[("t".into(), 0, Arc::clone(log))], &SETTINGS, now_ms)
        .into_iter()
        .map(|(_, _, s)| s)
        .collect()
}

#[test]
fn a_cleaning_keeps_the_latest_value_per_key_with_its_offset() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("t-0");
    // One batch per segment, so the last batch alone is the active segment.
    let config = compacted(1);
    let log = open(&dir, &config, true);
    for round in 0..6 {
        put(
            &log,
            &[
                ("a", Some(&format!("a{round}"))),
                ("b", Some(&format!("b{round}"))),
            ],
            10,
        );
    }
    put(&log, &[("c", Some("c0"))], 10);
    put(&log, &[("a", None)], 10);
    put(&log, &[("d", Some("in the active segment"))], 10);
    let before = log.segment_count();
    assert!(before >= 3, "several segments: {before}");
    let cleaner = LogCleaner::open(&[root.path().to_path_buf()]).expect("cleaner");
    let done = one_round(&cleaner, &log, 100);
    assert_eq!(done.len(), 1);
    let s = &done[0];
    assert_eq!(s.first_dirty_offset, 0);
    assert!(s.bytes_written < s.bytes_read);
    let active_base = *log.segment_base_offsets().last().expect("segments");
    assert_eq!(
        s.end_offset, active_base,
        "cleaned up to the active segment"
    );
    let got = text(&read_all_records(&log).expect("read"));
    assert_eq!(
        got,
        vec![
            (11, "b".into(), Some("b5".into())),
            (12, "c".into(), Some("c0".into())),
            (13, "a".into(), None),
            (14, "d".into(), Some("in the active segment".into())),
        ]
    );
    assert_eq!(log.log_end_offset(), 15);
    // The checkpoint is in Kafka's file, and a second round finds nothing.
    let file = std::fs::read_to_string(checkpoint_path(root.path())).expect("checkpoint");
    assert_eq!(file, format!("0\n1\nt 0 {}\n", s.end_offset));
    assert!(one_round(&cleaner, &log, 200).is_empty());
    // Past the tombstone's delete horizon (100 + 1000) it goes, on the next
    // cleaning of that segment.
    put(&log, &[("b", Some("b6"))], 2000);
    put(&log, &[("e", Some("e0"))], 2000);
    let log = {
        log.close().expect("close");
        drop(log);
        // Roll so the new records are in a non-active segment.
        let config = compacted(1);
        let log = open(&dir, &config, true);
        put(&log, &[("f", Some("f0"))], 2000);
        log
    };
    let done = one_round(&cleaner, &log, 1200);
    assert_eq!(done.len(), 1);
    let got = text(&read_all_records(&log).expect("read"));
    assert!(
        !got.iter().any(|(_, k, _)| k == "a"),
        "tombstone removed: {got:?}"
    );
    assert!(got.contains(&(15, "b".into(), Some("b6".into()))));
    assert!(!got.iter().any(|(o, _, _)| *o == 11), "b5 superseded");
    // Whatever the reopen, the same records.
    for clean in [true, false] {
        if clean {
            log.close().expect("close");
        }
        let again = open(&dir, &compacted(1), clean);
        assert_eq!(text(&read_all_records(&again).expect("read")), got);
    }
}

/// The files of a partition dir, by name.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("file"),
            )
        })
        .collect()
}

fn restore(dir: &Path, state: &BTreeMap<String, Vec<u8>>) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("dir");
    for (name, bytes) in state {
        std::fs::write(dir.join(name), bytes).expect("write");
    }
}

/// Every state a crash may leave between the steps of
/// `PartitionLog::replace_segments` opens to the same reads as either the
/// old log or the cleaned one, never less than the latest value per key.
#[test]
fn each_crash_state_of_the_swap_recovers_to_the_old_or_the_new_log() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("t-0");
    // One batch per segment, all of one size.
    let log = open(&dir, &compacted(1), true);
    for (k, v) in [
        ("a", "v01"),
        ("b", "v02"),
        ("c", "v03"),
        ("z", "v04"),
        ("z", "v05"),
        ("z", "v06"),
        ("z", "v07"),
        ("z", "v08"),
        ("a", "v09"),
        ("z", "v10"),
        ("b", "v11"),
        ("d", "v12"),
    ] {
        put(&log, &[(k, Some(v))], 10);
    }
    log.close().expect("close");
    let old_files = files(&dir);
    let old_read = text(&read_all_records(&log).expect("read"));
    let bases = log.segment_base_offsets();
    let batch_size = log.size_bytes() / bases.len() as u64;
    drop(log);
    // Two groups: the first eight segments, then the rest.
    let config = compacted(8 * batch_size);
    let log = open(&dir, &config, true);
    let cleaner = LogCleaner::open(&[root.path().to_path_buf()]).expect("cleaner");
    let done = one_round(&cleaner, &log, 100);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].segments_written, 2, "two groups: {:?}", done[0]);
    let new_read = text(&read_all_records(&log).expect("read"));
    log.close().expect("close");
    drop(log);
    let cleaned = std::fs::read(dir.join(format!("{:020}.log", bases[0]))).expect("cleaned");
    let last_kept = crate::log::batch::BatchIter::new(&cleaned)
        .map(|b| b.expect("batch").0.last_offset())
        .last()
        .expect("kept something");
    assert_eq!(last_kept, 2, "only c survives in the first group");
    let group: Vec<i64> = bases[..8].to_vec();
    let second = bases[8];
    let late: Vec<i64> = group[1..]
        .iter()
        .copied()
        .filter(|b| *b > last_kept)
        .collect();
    assert_eq!(late.len(), 5, "the superseded values of z");
    // After the first group's swap: its cleaned records, then the old rest.
    let swapped: Vec<_> = new_read
        .iter()
        .filter(|r| r.0 < second)
        .chain(old_read.iter().filter(|r| r.0 >= second))
        .cloned()
        .collect();
    let remove = |state: &mut BTreeMap<String, Vec<u8>>, base: i64| {
        for suffix in ["log", "index", "timeindex"] {
            state.remove(&format!("{base:020}.{suffix}"));
        }
    };
    // (1) `.cleaned` written; (2) late segments deleted; (3) `.swap`;
    // (4) `.swap` with the rest deleted too.
    let mut states = Vec::new();
    let mut s1 = old_files.clone();
    s1.insert(format!("{:020}.log.cleaned", bases[0]), cleaned.clone());
    states.push(("cleaned", s1.clone()));
    let mut s2 = s1.clone();
    for b in &late {
        remove(&mut s2, *b);
    }
    states.push(("late segments gone", s2.clone()));
    let mut s3 = s2.clone();
    let c = s3
        .remove(&format!("{:020}.log.cleaned", bases[0]))
        .expect("cleaned");
    s3.insert(format!("{:020}.log.swap", bases[0]), c);
    states.push(("swap", s3.clone()));
    let mut s4 = s3.clone();
    for b in group[1..].iter().filter(|b| **b <= last_kept) {
        remove(&mut s4, *b);
    }
    states.push(("swap, old segments gone", s4));
    for (name, state) in states {
        restore(&dir, &state);
        let log = open(&dir, &config, false);
        let got = text(&read_all_records(&log).expect("read"));
        let latest: HashMap<String, (i64, Option<String>)> = got
            .iter()
            .map(|(o, k, v)| (k.clone(), (*o, v.clone())))
            .collect();
        let want: HashMap<String, (i64, Option<String>)> = old_read
            .iter()
            .map(|(o, k, v)| (k.clone(), (*o, v.clone())))
            .collect();
        assert_eq!(
            latest, want,
            "{name}: the latest value of every key survives"
        );
        if name.starts_with("swap") {
            assert_eq!(got, swapped, "{name}: the swap is completed");
        } else {
            assert!(
                got.iter().all(|r| old_read.contains(r)),
                "{name}: nothing invented"
            );
        }
        assert!(
            !std::fs::read_dir(&dir).expect("dir").any(|e| e
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .ends_with("swap")),
            "{name}: no swap file left"
        );
        drop(log);
        // The cleaner resumes from the checkpoint it had before the crash
        // (none: it is written after the swaps), and cleans to the end.
        let _ = std::fs::remove_file(checkpoint_path(root.path()));
        let log = open(&dir, &config, true);
        let cleaner = LogCleaner::open(&[root.path().to_path_buf()]).expect("cleaner");
        one_round(&cleaner, &log, 100);
        assert_eq!(
            text(&read_all_records(&log).expect("read")),
            new_read,
            "{name}: resumed"
        );
    }
}

#[test]
fn a_full_dedupe_buffer_cleans_part_of_the_dirty_section_then_the_rest() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("t-0");
    let log = open(&dir, &compacted(150), true);
    for i in 0..40 {
        put(&log, &[(&format!("key-{}", i % 10), Some("v"))], 10);
    }
    let cleaner = LogCleaner::open(&[root.path().to_path_buf()]).expect("cleaner");
    let small = CleanerSettings {
        dedupe_buffer_size: 4 * (offset_map::ENTRY_OVERHEAD + 5),
        ..SETTINGS
    };
    let logs = [("t".to_string(), 0, Arc::clone(&log))];
    let done = cleaner.run_round(&logs, &small, 100);
    let first = &done[0].2;
    assert!(first.end_offset > 0 && first.end_offset < 39, "{first:?}");
    assert_eq!(first.keys_in_map, 4);
    // Too small for one batch: uncleanable, reported, not retried.
    let tiny = CleanerSettings {
        dedupe_buffer_size: 1,
        ..SETTINGS
    };
    let cleaner2 = LogCleaner::open(&[root.path().to_path_buf()]).expect("cleaner");
    assert!(cleaner2.run_round(&logs, &tiny, 100).is_empty());
    assert!(
        cleaner2.run_round(&logs, &SETTINGS, 100).is_empty(),
        "uncleanable until restart"
    );
    // The first cleaner goes on from its checkpoint.
    let mut rounds = 0;
    while !cleaner.run_round(&logs, &small, 100).is_empty() {
        rounds += 1;
        assert!(rounds < 20);
    }
    let got = read_all_records(&log).expect("read");
    let keys: std::collections::BTreeSet<_> = got.iter().map(|r| r.1.clone()).collect();
    assert_eq!(keys.len(), 10);
    // Only the active segment may still hold a key twice.
    let active_base = *log.segment_base_offsets().last().expect("segments");
    let cleaned: Vec<_> = got.iter().filter(|r| r.0 < active_base).collect();
    let distinct: std::collections::BTreeSet<_> = cleaned.iter().map(|r| r.1.clone()).collect();
    assert_eq!(distinct.len(), cleaned.len(), "{got:?}");
}

#[derive(Debug, Clone)]
enum Op {
    Write(Vec<(u8, bool)>),
    Tick(i64),
    Clean,
    Reopen(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => proptest::collection::vec((0u8..6, proptest::bool::weighted(0.2)), 1..4)
            .prop_map(Op::Write),
        2 => (1i64..800).prop_map(Op::Tick),
        3 => Just(Op::Clean),
        1 => any::<bool>().prop_map(Op::Reopen),
    ]
}

/// A record as the model knows it.
#[derive(Debug, Clone)]
struct Written {
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    timestamp: i64,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Random keyed writes, tombstones, cleanings and reopens: after every
    /// cleaning a full read is the latest record of each key below the
    /// cleaned offset (tombstones only while their delete horizon lasts)
    /// plus every record of the uncleaned head; offsets only increase;
    /// nothing younger than `min.compaction.lag.ms` goes; a tombstone
    /// outlives its first cleaning by `delete.retention.ms`.
    #[test]
    fn cleanings_keep_the_latest_value_per_key_and_the_head(
        ops in proptest::collection::vec(op(), 1..60),
        segment_bytes in 100u64..600,
        lag in prop_oneof![Just(0i64), 1i64..1500],
        delete_retention_ms in 0i64..2000,
    ) {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("t-0");
        let config = LogConfig {
            min_compaction_lag_ms: lag,
            delete_retention_ms,
            ..compacted(segment_bytes)
        };
        let mut log = open(&dir, &config, true);
        let mut cleaner = LogCleaner::open(&[root.path().to_path_buf()]).expect("cleaner");
        let mut now = 1_000i64;
        let mut model: BTreeMap<i64, Written> = BTreeMap::new();
        // Offset of a tombstone → `now` of the first cleaning that kept it.
        let mut first_kept: HashMap<i64, i64> = HashMap::new();
        let mut present: std::collections::BTreeSet<i64> = Default::default();
        for op in ops {
            match op {
                Op::Write(records) => {
                    let values: Vec<(Vec<u8>, Option<Vec<u8>>)> = records
                        .iter()
                        .map(|(k, tomb)| {
                            let key = vec![b'k', b'0' + k];
                            let value = (!tomb).then(|| format!("v{now}-{}", model.len()).into_bytes());
                            (key, value)
                        })
                        .collect();
                    let borrowed: Vec<TestRecord<'_>> = values
                        .iter()
                        .map(|(k, v)| (Some(&k[..]), v.as_deref()))
                        .collect();
                    let info = log.append(make_batch(&borrowed, now, None), 0, now).expect("append");
                    for (i, (key, value)) in values.into_iter().enumerate() {
                        let offset = info.base_offset + i as i64;
                        model.insert(offset, Written { key, value, timestamp: now + i as i64 });
                        present.insert(offset);
                    }
                }
                Op::Tick(ms) => now += ms,
                Op::Reopen(clean) => {
                    if clean {
                        log.close().expect("close");
                    }
                    drop(log);
                    log = open(&dir, &config, clean);
                    cleaner = LogCleaner::open(&[root.path().to_path_buf()]).expect("cleaner");
                }
                Op::Clean => {
                    let done = one_round(&cleaner, &log, now);
                    let got = read_all_records(&log).expect("read");
                    let offsets: Vec<i64> = got.iter().map(|r| r.0).collect();
                    prop_assert!(offsets.windows(2).all(|w| w[0] < w[1]), "offsets increase");
                    for (offset, key, value) in &got {
                        let w = model.get(offset).expect("no record is invented");
                        prop_assert_eq!(key.as_deref(), Some(&w.key[..]));
                        prop_assert_eq!(value, &w.value);
                    }
                    let now_present: std::collections::BTreeSet<i64> = offsets.iter().copied().collect();
                    for gone in present.difference(&now_present) {
                        let w = &model[gone];
                        prop_assert!(
                            lag == 0 || w.timestamp <= now - lag,
                            "offset {} of timestamp {} removed at {} within the lag {}",
                            gone, w.timestamp, now, lag
                        );
                        let superseded = model.range(gone + 1..).any(|(_, later)| later.key == w.key);
                        if !superseded {
                            prop_assert!(w.value.is_none(), "the latest value of a key removed");
                            let kept_at = first_kept.get(gone).copied();
                            prop_assert!(
                                kept_at.is_some_and(|t| now >= t + delete_retention_ms),
                                "tombstone {} removed at {} but first kept at {:?}",
                                gone, now, kept_at
                            );
                        }
                    }
                    present = now_present;
                    if let Some(s) = done.first() {
                        let end = s.end_offset;
                        // Below the cleaned end: the latest of each key only
                        // (a tombstone may be gone); the head: everything.
                        let mut latest: HashMap<&[u8], i64> = HashMap::new();
                        for (o, w) in model.range(..end) {
                            latest.insert(&w.key, *o);
                        }
                        for (o, w) in model.range(..end) {
                            let is_latest = latest[&w.key[..]] == *o;
                            let here = present.contains(o);
                            if is_latest && w.value.is_some() {
                                prop_assert!(here, "latest value at {} missing", o);
                            } else if !is_latest {
                                prop_assert!(!here, "superseded record at {} kept below {}", o, end);
                            }
                            if is_latest && w.value.is_none() && here {
                                first_kept.entry(*o).or_insert(now);
                            }
                        }
                        for o in model.range(end..).map(|(o, _)| *o) {
                            prop_assert!(present.contains(&o), "head record {} removed", o);
                        }
                    }
                }
            }
        }
    }
}
