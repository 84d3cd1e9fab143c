//! Crash tests on real files: write a log, drop it without closing (no
//! clean-shutdown marker), damage the files the way a crash or a bad disk
//! would, reopen, and check that the log recovered to the longest valid
//! prefix, never hands out a corrupt batch, and never panics.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use runnel::log::batch::{BatchHeader, BatchIter, Validation, validate_batch};
use runnel::log::record_walk::record_offsets_and_timestamps;
use runnel::log::testing::make_value_batch;
use runnel::log::{LogConfig, LogError, LogManager, PartitionLog};

/// xorshift64*: a seeded generator so that a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 3000,
        index_interval_bytes: 200,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

/// One written batch: base offset, file, position in it, bytes as appended.
#[derive(Clone)]
struct Written {
    base_offset: i64,
    next_offset: i64,
    segment: PathBuf,
    position: u64,
    bytes: Bytes,
}

fn segment_logs(dir: &Path) -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs
}

/// Writes `n` batches, drops the log uncleanly, and maps every batch to
/// its place on disk.
fn write_log(dir: &Path, rng: &mut Rng, n: usize) -> Vec<Written> {
    let log = PartitionLog::open(dir, config(), true, 0).expect("open");
    for i in 0..n {
        let count = 1 + rng.below(4) as usize;
        let len = rng.below(400) as usize;
        log.append(make_value_batch(count, len, i as i64), 0, 0)
            .expect("append");
    }
    drop(log); // no close: an unclean shutdown
    let mut written = Vec::new();
    for path in segment_logs(dir) {
        let data = fs::read(&path).expect("read segment");
        let mut pos = 0;
        for item in BatchIter::new(&data) {
            let (h, bytes) = item.expect("freshly written batches are whole");
            written.push(Written {
                base_offset: h.base_offset,
                next_offset: h.next_offset(),
                segment: path.clone(),
                position: pos,
                bytes: Bytes::copy_from_slice(bytes),
            });
            pos += bytes.len() as u64;
        }
    }
    written
}

/// Reads the whole log batch by batch, checking each CRC.
fn read_all(log: &PartitionLog) -> Vec<(BatchHeader, Bytes)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let got = log.read(offset, 1, i64::MAX).expect("read");
        assert!(!got.records.is_empty(), "hole at offset {offset}");
        let h = validate_batch(&got.records, usize::MAX, Validation::Stored)
            .expect("a read never returns a corrupt batch");
        assert!(h.last_offset() >= offset);
        out.push((h, got.records.clone()));
        offset = h.next_offset();
    }
    out
}

fn assert_prefix(log: &PartitionLog, written: &[Written], keep: usize) {
    let got = read_all(log);
    assert_eq!(got.len(), keep, "kept batches");
    for (w, (h, bytes)) in written.iter().zip(&got) {
        assert_eq!(h.base_offset, w.base_offset);
        assert_eq!(bytes, &w.bytes);
    }
    let end = written.get(keep.wrapping_sub(1)).map(|w| w.next_offset);
    assert_eq!(log.log_end_offset(), end.unwrap_or(0));
    // The log goes on from where it was cut.
    let info = log
        .append(make_value_batch(1, 10, 0), 0, 0)
        .expect("append after recovery");
    assert_eq!(info.base_offset, log.log_end_offset() - 1);
}

#[test]
fn truncating_the_tail_at_any_byte_recovers_the_whole_batches_before_it() {
    for seed in 1..=40u64 {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let written = write_log(dir.path(), &mut rng, 30);
        let active = segment_logs(dir.path()).pop().expect("a segment");
        let len = fs::metadata(&active).expect("meta").len();
        let cut = rng.below(len + 1);
        OpenOptions::new()
            .write(true)
            .open(&active)
            .expect("open")
            .set_len(cut)
            .expect("truncate");
        let keep = written
            .iter()
            .take_while(|w| w.segment != active || w.position + w.bytes.len() as u64 <= cut)
            .count();
        let log = PartitionLog::open(dir.path(), config(), false, 0)
            .unwrap_or_else(|e| panic!("seed {seed}: reopen failed: {e}"));
        assert_prefix(&log, &written, keep);
    }
}

#[test]
fn a_flipped_byte_cuts_the_log_at_the_damaged_batch() {
    for seed in 1..=60u64 {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) + 7);
        let written = write_log(dir.path(), &mut rng, 30);
        // Any segment: nothing was flushed, so every segment is re-validated.
        let victim = &written[rng.below(written.len() as u64) as usize];
        let at = rng.below(victim.bytes.len() as u64);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&victim.segment)
            .expect("open");
        let mut b = [0u8; 1];
        file.read_exact_at(&mut b, victim.position + at)
            .expect("read byte");
        b[0] ^= 1 << rng.below(8);
        file.write_all_at(&b, victim.position + at).expect("flip");
        drop(file);
        let log = PartitionLog::open(dir.path(), config(), false, 0)
            .unwrap_or_else(|e| panic!("seed {seed}: reopen failed: {e}"));
        let damaged = written
            .iter()
            .position(|w| w.base_offset == victim.base_offset)
            .expect("victim");
        let unprotected = at < 8 || (12..16).contains(&at);
        if unprotected {
            // baseOffset and partitionLeaderEpoch are outside the CRC (as in
            // Kafka): the batch may survive, but everything before it must,
            // and nothing read back may be corrupt.
            let got = read_all(&log);
            assert!(got.len() >= damaged, "seed {seed}");
            for (w, (_, bytes)) in written.iter().zip(&got).take(damaged) {
                assert_eq!(bytes, &w.bytes, "seed {seed}");
            }
        } else {
            assert_prefix(&log, &written, damaged);
        }
    }
}

#[test]
fn missing_zeroed_or_torn_indexes_are_rebuilt() {
    for (seed, damage) in (1..=24u64).zip(["delete", "zero", "odd", "junk"].iter().cycle()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut rng = Rng(seed * 31 + 1);
        let written = write_log(dir.path(), &mut rng, 40);
        // A clean close first, so this is about indexes alone.
        let log = PartitionLog::open(dir.path(), config(), false, 0).expect("open");
        log.close().expect("close");
        drop(log);
        for entry in fs::read_dir(dir.path()).expect("dir") {
            let path = entry.expect("entry").path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ext != "index" && ext != "timeindex" {
                continue;
            }
            let len = fs::metadata(&path).expect("meta").len();
            match *damage {
                "delete" => fs::remove_file(&path).expect("delete"),
                "zero" => fs::write(&path, vec![0u8; len as usize + 96]).expect("zero"),
                "odd" => fs::write(&path, vec![7u8; len as usize + 5]).expect("odd"),
                _ => {
                    let junk: Vec<u8> = (0..len + 24).map(|_| rng.next() as u8).collect();
                    fs::write(&path, junk).expect("junk")
                }
            }
        }
        let log = PartitionLog::open(dir.path(), config(), true, 0)
            .unwrap_or_else(|e| panic!("seed {seed} {damage}: reopen failed: {e}"));
        let got = read_all(&log);
        assert_eq!(got.len(), written.len(), "seed {seed} {damage}");
        // Every offset, not only batch starts, finds its batch.
        for w in &written {
            for offset in w.base_offset..w.next_offset {
                let r = log.read(offset, 1, i64::MAX).expect("read");
                assert_eq!(r.records, w.bytes, "seed {seed} {damage} offset {offset}");
            }
        }
        let expected = written
            .iter()
            .flat_map(|w| record_offsets_and_timestamps(&w.bytes).expect("uncompressed"))
            .find(|(_, ts)| *ts >= 20)
            .map(|(o, _)| o);
        assert_eq!(
            log.offset_for_timestamp(20)
                .expect("lookup")
                .map(|t| t.offset),
            expected,
            "seed {seed} {damage}"
        );
    }
}

#[test]
fn garbage_after_the_last_batch_is_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng(99);
    let written = write_log(dir.path(), &mut rng, 12);
    let active = segment_logs(dir.path()).pop().expect("segment");
    let len = fs::metadata(&active).expect("meta").len();
    let file = OpenOptions::new().write(true).open(&active).expect("open");
    file.write_all_at(&[0u8; 100], len).expect("zeros"); // preallocated tail
    drop(file);
    let log = PartitionLog::open(dir.path(), config(), false, 0).expect("reopen");
    assert_eq!(log.open_report().bytes_truncated, 100);
    assert_prefix(&log, &written, written.len());
}

#[test]
fn a_whole_lost_segment_file_keeps_the_log_consistent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng(5);
    let written = write_log(dir.path(), &mut rng, 40);
    let logs = segment_logs(dir.path());
    assert!(logs.len() >= 3);
    // Zero the middle segment entirely (a lost write of a whole file).
    let middle = &logs[logs.len() / 2];
    let len = fs::metadata(middle).expect("meta").len();
    fs::write(middle, vec![0u8; len as usize]).expect("zero");
    let keep = written.iter().take_while(|w| &w.segment < middle).count();
    let log = PartitionLog::open(dir.path(), config(), false, 0).expect("reopen");
    assert_prefix(&log, &written, keep);
}

#[test]
fn manager_writes_the_marker_and_skips_recovery_after_a_clean_shutdown() {
    let root = tempfile::tempdir().expect("tempdir");
    let dirs = vec![root.path().join("d1"), root.path().join("d2")];
    let manager = LogManager::open(&dirs, config(), 0).expect("open");
    let a = manager
        .get_or_create("orders-eu-west", 3, None, config(), 0)
        .expect("create");
    let b = manager
        .get_or_create("b", 0, None, config(), 0)
        .expect("create");
    for i in 0..50 {
        a.append(make_value_batch(2, 100, i), 0, 0).expect("append");
        b.append(make_value_batch(1, 10, i), 0, 0).expect("append");
    }
    assert_ne!(a.dir().parent(), b.dir().parent(), "spread over log dirs");
    manager.shutdown().expect("shutdown");
    assert!(matches!(
        a.append(make_value_batch(1, 1, 0), 0, 0),
        Err(LogError::Offline)
    ));
    drop((a, b, manager));
    for d in &dirs {
        assert!(d.join(".kafka_cleanshutdown").exists());
    }
    // Junk that must be ignored or cleaned up.
    fs::create_dir_all(dirs[0].join("not_a_log")).expect("junk dir");
    fs::create_dir_all(dirs[0].join("x-1.0123abcd-delete")).expect("delete dir");
    fs::write(
        dirs[0].join("x-1.0123abcd-delete/00000000000000000000.log"),
        b"x",
    )
    .expect("f");
    let manager = LogManager::open(&dirs, config(), 0).expect("reopen");
    for d in &dirs {
        assert!(!d.join(".kafka_cleanshutdown").exists());
    }
    assert!(!dirs[0].join("x-1.0123abcd-delete").exists());
    assert!(dirs[0].join("not_a_log").exists());
    let all = manager.all();
    assert_eq!(all.len(), 2);
    let a = manager.get("orders-eu-west", 3).expect("found");
    assert_eq!(a.log_end_offset(), 100);
    assert_eq!(a.open_report().segments_recovered, 0, "clean: no scan");
    assert_eq!(read_all(&a).len(), 50);
    manager.run_maintenance(1);
    manager.delete("b", 0).expect("delete");
    assert!(manager.get("b", 0).is_none());
    let leftovers: Vec<_> = dirs
        .iter()
        .flat_map(|d| fs::read_dir(d).expect("dir"))
        .map(|e| e.expect("entry").file_name())
        .filter(|n| n.to_string_lossy().starts_with("b-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // An unclean stop (no shutdown): everything is re-validated, nothing lost.
    drop((a, manager));
    let manager = LogManager::open(&dirs, config(), 0).expect("reopen");
    let a = manager.get("orders-eu-west", 3).expect("found");
    assert!(a.open_report().segments_recovered > 0);
    assert_eq!(read_all(&a).len(), 50);
}

#[test]
fn recovery_after_flush_only_scans_from_the_recovery_point() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = PartitionLog::open(dir.path(), config(), true, 0).expect("open");
    for i in 0..60 {
        log.append(make_value_batch(1, 200, i), 0, 0)
            .expect("append");
    }
    let segments = log.segment_count();
    assert!(segments > 3);
    log.run_maintenance(1)
        .expect("maintenance flushes rolled segments");
    drop(log);
    let log = PartitionLog::open(dir.path(), config(), false, 0).expect("reopen");
    assert_eq!(
        log.open_report().segments_recovered,
        1,
        "only the active segment"
    );
    assert_eq!(read_all(&log).len(), 60);
}

#[test]
fn the_metadata_log_is_recovered_like_any_other() {
    // The broker keeps `__cluster_metadata-0` through the manager; after a
    // crash it must be recovered, not trusted.
    let root = tempfile::tempdir().expect("tempdir");
    let dirs = vec![root.path().join("d")];
    let manager = LogManager::open(&dirs, config(), 0).expect("open");
    let log = manager
        .get_or_create("__cluster_metadata", 0, None, config(), 0)
        .expect("create");
    for i in 0..10 {
        log.append(make_value_batch(1, 40, i), 0, 0)
            .expect("append");
    }
    let dir = log.dir().to_path_buf();
    drop((log, manager)); // a crash: no shutdown, no marker
    let active = segment_logs(&dir).pop().expect("segment");
    let len = fs::metadata(&active).expect("meta").len();
    OpenOptions::new()
        .write(true)
        .open(&active)
        .expect("open")
        .set_len(len - 7)
        .expect("tear the tail");
    let manager = LogManager::open(&dirs, config(), 0).expect("reopen");
    let log = manager
        .get_or_create("__cluster_metadata", 0, None, config(), 0)
        .expect("get");
    assert_eq!(log.open_report().segments_recovered, 1);
    assert_eq!(log.log_end_offset(), 9);
    assert_eq!(read_all(&log).len(), 9);
}
