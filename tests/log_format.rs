//! The files we write must be what Kafka's tools expect. These checks follow
//! the verification `kafka-dump-log.sh --index-sanity-check` /
//! `DumpLogSegments` performs, written from the documented format: every
//! `.index` entry names the last offset of the batch starting at its
//! position; every `.timeindex` entry's timestamp is the max timestamp of the
//! batch holding its offset; files are exactly sized; `.log` files are back
//! to back RecordBatch v2 with valid CRCs, named by their first offset.

use std::fs;
use std::path::{Path, PathBuf};

use runnel::log::batch::{BatchHeader, BatchIter, Validation, validate_batch};
use runnel::log::testing::make_value_batch;
use runnel::log::{LogConfig, PartitionLog};

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 4000,
        index_interval_bytes: 300,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_be_bytes(a)
}

fn files_with(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

/// Checks one directory the way Kafka's dump tool would.
fn check_kafka_format(dir: &Path) -> usize {
    let mut entries_checked = 0;
    for log_path in files_with(dir, "log") {
        let stem = log_path.file_stem().and_then(|s| s.to_str()).expect("stem");
        assert_eq!(stem.len(), 20, "{stem}");
        let base: i64 = stem.parse().expect("numeric name");
        let data = fs::read(&log_path).expect("read log");
        let mut batches: Vec<(u64, BatchHeader)> = Vec::new();
        let mut pos = 0u64;
        for item in BatchIter::new(&data) {
            let (_, bytes) = item.expect("whole batches");
            let h = validate_batch(bytes, usize::MAX, Validation::Produce).expect("valid");
            assert!(h.base_offset >= base);
            batches.push((pos, h));
            pos += bytes.len() as u64;
        }
        if let Some((_, first)) = batches.first() {
            assert_eq!(
                first.base_offset, base,
                "a segment is named by its first offset"
            );
        }
        let index = fs::read(log_path.with_extension("index")).expect("index");
        assert_eq!(index.len() % 8, 0);
        for entry in index.chunks_exact(8) {
            assert!(entry.iter().any(|b| *b != 0), "no trailing zero entries");
            let offset = base + i64::from(be_u32(&entry[..4]));
            let position = u64::from(be_u32(&entry[4..]));
            let (_, h) = batches
                .iter()
                .find(|(p, _)| *p == position)
                .expect("an index entry points at a batch start");
            assert_eq!(
                h.last_offset(),
                offset,
                "index offset is the batch's last offset"
            );
            entries_checked += 1;
        }
        let time_index = fs::read(log_path.with_extension("timeindex")).expect("timeindex");
        assert_eq!(time_index.len() % 12, 0);
        let mut previous = i64::MIN;
        for entry in time_index.chunks_exact(12) {
            let timestamp = be_i64(&entry[..8]);
            let offset = base + i64::from(be_u32(&entry[8..]));
            assert!(timestamp > previous, "time index timestamps increase");
            previous = timestamp;
            let (_, h) = batches
                .iter()
                .find(|(_, h)| h.last_offset() >= offset)
                .expect("a time index entry points into the segment");
            assert_eq!(
                h.max_timestamp, timestamp,
                "entry timestamp is its batch's max"
            );
            entries_checked += 1;
        }
        if !batches.is_empty() {
            let max = batches.iter().map(|(_, h)| h.max_timestamp).max();
            assert_eq!(
                time_index.chunks_exact(12).last().map(|e| be_i64(&e[..8])),
                max,
                "a closed segment's last time entry is its max timestamp"
            );
        }
    }
    entries_checked
}

#[test]
fn closed_logs_are_in_kafka_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = PartitionLog::open(dir.path(), config(), true, 0).expect("open");
    // Timestamps that go up and down, as producers' clocks do.
    for i in 0..120i64 {
        let ts = 1_000 + (i * 37) % 500 + i * 3;
        log.append(
            make_value_batch(1 + (i % 3) as usize, 50 + (i as usize * 13) % 200, ts),
            3,
            0,
        )
        .expect("append");
    }
    log.close().expect("close");
    assert!(log.segment_count() > 3);
    assert!(check_kafka_format(dir.path()) > 20);
}

#[test]
fn recovered_and_truncated_logs_stay_in_kafka_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = PartitionLog::open(dir.path(), config(), true, 0).expect("open");
    for i in 0..80i64 {
        log.append(make_value_batch(2, 120, 5_000 - i), 0, 0)
            .expect("append");
    }
    drop(log); // unclean
    for path in files_with(dir.path(), "index") {
        fs::remove_file(path).expect("remove");
    }
    let log = PartitionLog::open(dir.path(), config(), false, 0).expect("recover");
    log.truncate_to(101).expect("truncate");
    for i in 0..10 {
        log.append(make_value_batch(1, 30, 9_000 + i), 0, 0)
            .expect("append");
    }
    log.close().expect("close");
    check_kafka_format(dir.path());
}
