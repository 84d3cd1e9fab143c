//! A log dir that runs out of space, on a real broker process whose only
//! log dir is a small tmpfs: the failing produce is never acknowledged,
//! the broker stops with exit code 1 and a line naming the directory (as
//! Kafka halts when its last log dir fails) instead of staying up as a
//! leader that can only answer KAFKA_STORAGE_ERROR, and once the disk has
//! room again a restart recovers every acknowledged record and takes new
//! writes.
//!
//! Mounting the tmpfs needs root, as the chaos suite's disk nemesis does;
//! CI runs as root.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use runnel::log::testing::make_value_batch;

/// A tmpfs mounted for the test, unmounted when dropped.
struct SmallDisk {
    path: PathBuf,
    _root: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mib: u32) -> SmallDisk {
        let root = tempfile::Builder::new()
            .prefix("runnel-disk-")
            .tempdir()
            .expect("creating a temporary directory");
        let path = root.path().join("data");
        std::fs::create_dir(&path).expect("creating the mount point");
        mount(
            &path,
            &["-t", "tmpfs", "-o", &format!("size={mib}m"), "runnel-it"],
        );
        SmallDisk { path, _root: root }
    }

    fn grow(&self, mib: u32) {
        mount(&self.path, &["-o", &format!("remount,size={mib}m")]);
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn mount(path: &Path, args: &[&str]) {
    let out = Command::new("mount")
        .args(args)
        .arg(path)
        .output()
        .expect("running mount");
    assert!(
        out.status.success(),
        "mount {args:?} {} failed (this test needs root, as CI runs it): {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

const KAFKA_STORAGE_ERROR: i16 = 56;
const VALUE_BYTES: usize = 16 << 10;
const RECORDS_PER_BATCH: usize = 4;

#[test]
fn a_full_log_dir_stops_the_broker_and_a_restart_keeps_every_acknowledged_record() {
    let disk = SmallDisk::mount(4);
    let mut b = BrokerProcess::start_on(&disk.path, &[]);
    let mut c = b.connect();
    let topic = unique_topic("full-disk");
    create_topic(&mut c, &topic, 1);
    let id = topic_id(&mut c, &topic);

    // 64 KiB batches, acks=all, until the disk is full: at most 4 MiB fit.
    let mut acknowledged: Vec<(i64, i64)> = Vec::new();
    let mut refused = None;
    for i in 0..200 {
        let batch = make_value_batch(RECORDS_PER_BATCH, VALUE_BYTES, 1_000 + i);
        match try_produce(&mut c, 9, &topic, 0, batch, -1) {
            Ok(r) if r.error_code == 0 => {
                acknowledged.push((r.base_offset, RECORDS_PER_BATCH as i64));
            }
            Ok(r) => {
                refused = Some(format!("error code {}", r.error_code));
                assert_eq!(
                    r.error_code, KAFKA_STORAGE_ERROR,
                    "a write the disk refused is answered KAFKA_STORAGE_ERROR"
                );
                break;
            }
            Err(e) => {
                refused = Some(format!("connection ended: {e}"));
                break;
            }
        }
    }
    let refused = refused.unwrap_or_else(|| {
        panic!(
            "200 batches of 64 KiB fitted in a 4 MiB disk\n{}",
            b.log_tail(20)
        )
    });
    assert!(
        acknowledged.len() >= 10,
        "the disk held only {} batches before the first refusal ({refused})",
        acknowledged.len()
    );

    eprintln!(
        "acknowledged {} batches, then {refused}",
        acknowledged.len()
    );
    let status = b.wait_exit(Duration::from_secs(15)).unwrap_or_else(|| {
        panic!(
            "the broker still runs 15 s after its only log dir failed ({refused})\n{}",
            b.log_tail(30)
        )
    });
    assert_eq!(
        status.code(),
        Some(1),
        "a failed log dir stops the broker with exit code 1\n{}",
        b.log_tail(30)
    );
    let log = b.log();
    assert!(
        log.contains("stopping the broker: a log directory failed")
            && log.contains(&*disk.path.to_string_lossy()),
        "the last lines name the failed directory\n{}",
        b.log_tail(30)
    );
    assert!(
        !disk
            .path
            .join(runnel::log::manager::CLEAN_SHUTDOWN_FILE)
            .exists(),
        "a failed log dir is never marked as cleanly shut down"
    );

    // Room again: the restart recovers the log, every acknowledged record
    // is there at its offset, and new writes are taken.
    disk.grow(64);
    b.restart();
    let mut c = b.connect();
    let mut offset = 0;
    let mut read = Vec::new();
    while offset < acknowledged.last().map_or(0, |(base, n)| base + n) {
        let p = fetch(&mut c, 13, &topic, id, 0, offset);
        assert_eq!(p.error_code, 0, "fetch at {offset} after the restart");
        let got = batches(p.records.as_deref().unwrap_or_default());
        assert!(
            !got.is_empty(),
            "no batch at offset {offset} after the restart"
        );
        for batch in got {
            read.push((batch.base_offset, i64::from(batch.record_count)));
            offset = batch.last_offset + 1;
        }
    }
    let read_acknowledged: Vec<(i64, i64)> =
        read.iter().copied().take(acknowledged.len()).collect();
    assert_eq!(
        read_acknowledged, acknowledged,
        "every acknowledged batch at its offset"
    );
    let r = produce(&mut c, 9, &topic, 0, make_value_batch(1, 100, 5_000), -1);
    assert_eq!(r.error_code, 0, "a write after the restart");
    assert!(
        r.base_offset >= offset,
        "offsets continue after the recovered log"
    );
}
