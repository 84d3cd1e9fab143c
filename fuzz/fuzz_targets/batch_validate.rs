//! Arbitrary bytes as RecordBatch v2 data, as a Produce request or a replica
//! fetch hands them to the log. `BatchIter`, `BatchHeader::parse`,
//! `validate_batch` and the record framing must never panic, and whatever a
//! `PartitionLog` accepts must read back byte for byte, both straight after
//! the append and after an unclean reopen (recovery).
//!
//! Each input is tried twice: as given, and with every batch's CRC32C
//! recomputed, so the fuzzer also reaches the checks behind the checksum.
//! The top byte of the first `baseOffset`, which the leader overwrites
//! anyway, picks the topic's `message.timestamp.type`: odd is LogAppendTime.
//!
//! The same bytes also go through the produce validator (Kafka's
//! `LogValidator`: the record walk, decompression of every codec,
//! re-encoding to another codec) with rules picked by the last byte; what
//! it accepts must append and read back exactly as validated.
//!
//! Logs live in a fresh directory per accepted input (under `/dev/shm` when
//! it exists, else the system temp dir; `RUNNEL_FUZZ_TMP` overrides), so a
//! crash reproduces from its input alone.

#![no_main]

use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use runnel::log::batch::{
    BatchHeader, BatchIter, CompressionCodec, Validation, compute_crc, peek_batch_size,
    set_base_offset, set_log_append_time, set_partition_leader_epoch, validate_batch,
};
use runnel::log::record_walk::record_offsets_and_timestamps;
use runnel::log::validate::{AppendOrigin, ProduceRules, validate_produced_batch};
use runnel::log::{LogConfig, LogError, PartitionLog, TimestampType};

const NOW_MS: i64 = 1_700_000_000_000;
const LEADER_EPOCH: i32 = 7;
/// Where the CRC32C sits in the v2 header (see the layout in `log::batch`).
const CRC_POS: usize = 17;

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut resealed = data.to_vec();
    if reseal_crcs(&mut resealed) {
        check(&resealed);
    }
});

/// One input through iteration, parsing, validation and both append paths.
fn check(bytes: &[u8]) {
    let max_message_bytes = LogConfig::default().max_message_bytes;
    let _ = peek_batch_size(bytes);
    let mut batches = 0usize;
    let mut produce_ok = true;
    let mut stored_ok = true;
    let mut iter = BatchIter::new(bytes);
    loop {
        let pos = iter.position();
        let Some(item) = iter.next() else { break };
        let (header, batch) = match item {
            Ok(found) => found,
            Err(_) => {
                // The iterator stops for good after its first error.
                assert_eq!(iter.position(), bytes.len());
                assert!(iter.next().is_none());
                produce_ok = false;
                stored_ok = false;
                break;
            }
        };
        batches += 1;
        assert_eq!(batch.len(), header.size());
        assert_eq!(iter.position(), pos + batch.len());
        assert_eq!(BatchHeader::parse(batch).ok(), Some(header));

        let produce = validate_batch(batch, max_message_bytes, Validation::Produce);
        let stored = validate_batch(batch, max_message_bytes, Validation::Stored);
        if let Ok(h) = &produce {
            assert_eq!(*h, header);
            // Stored batches also need real offsets (a produced batch's
            // base offset is replaced on append).
            let offsets_in_range = header.base_offset >= 0
                && header
                    .base_offset
                    .checked_add(i64::from(header.last_offset_delta) + 1)
                    .is_some();
            assert_eq!(stored.is_ok(), offsets_in_range, "a batch fit to produce is fit to store");
        }
        if let Ok(h) = &stored {
            assert_eq!(*h, header);
            let _ = (h.last_offset(), h.compression(), h.timestamp_type());
            // Look-ups by time decode the record framing of stored batches.
            if let Some(records) = record_offsets_and_timestamps(batch) {
                assert!(records.len() <= h.record_count.max(0) as usize);
            }
        }
        produce_ok &= produce.is_ok();
        stored_ok &= stored.is_ok();
    }
    produce_path(bytes);
    if batches == 0 {
        return;
    }
    if produce_ok {
        append_as_leader(bytes);
    }
    if stored_ok {
        append_as_follower(bytes);
    }
}

/// A client's Produce: the validator never panics, and what it accepts is
/// one batch that appends and reads back as validated (its offsets and
/// leader epoch stamped by the log).
fn produce_path(bytes: &[u8]) {
    let Some(&pick) = bytes.last() else { return };
    let codecs = [
        None,
        Some(CompressionCodec::None),
        Some(CompressionCodec::Gzip),
        Some(CompressionCodec::Snappy),
        Some(CompressionCodec::Lz4),
        Some(CompressionCodec::Zstd),
    ];
    let rules = ProduceRules {
        origin: AppendOrigin::Client {
            produce_version: if pick & 0x40 == 0 { 9 } else { 3 },
        },
        max_message_bytes: LogConfig::default().max_message_bytes,
        timestamp_type: if pick & 1 == 1 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        },
        timestamp_before_max_ms: if pick & 2 == 2 { 1_000 } else { i64::MAX },
        timestamp_after_max_ms: 3_600_000,
        compacted: pick & 4 == 4,
        compression: codecs[usize::from(pick >> 3) % codecs.len()],
        now_ms: NOW_MS,
    };
    let Ok(validated) = validate_produced_batch(Bytes::copy_from_slice(bytes), &rules) else {
        return;
    };
    let header = validate_batch(&validated.bytes, usize::MAX, Validation::Produce)
        .expect("a validated batch is a valid batch");
    assert_eq!(header, validated.header);
    if let Some(codec) = rules.compression {
        assert_eq!(header.compression(), codec);
    }
    let records = record_offsets_and_timestamps(&validated.bytes).expect("its records walk");
    assert_eq!(records.len(), header.record_count as usize);

    let dir = scratch_dir();
    let log = PartitionLog::open(dir.path(), LogConfig::default(), true, NOW_MS).expect("fresh log");
    let info = accepted(
        log.append_validated(&validated, LEADER_EPOCH, NOW_MS),
        "validated append",
    )
    .expect("a validated batch appends");
    assert_eq!(info.base_offset, 0);
    let mut expected = BytesMut::from(&validated.bytes[..]);
    set_base_offset(&mut expected, 0);
    set_partition_leader_epoch(&mut expected, LEADER_EPOCH);
    read_back(&log, 0, info.last_offset + 1, &expected);
}

/// Recomputes the CRC32C of every whole batch; true if any changed.
fn reseal_crcs(bytes: &mut [u8]) -> bool {
    let mut spans = Vec::new();
    let mut iter = BatchIter::new(bytes);
    loop {
        let pos = iter.position();
        match iter.next() {
            Some(Ok((_, batch))) => spans.push((pos, batch.len())),
            _ => break,
        }
    }
    let mut changed = false;
    for (pos, len) in spans {
        let batch = &mut bytes[pos..pos + len];
        let crc = compute_crc(batch).to_be_bytes();
        if batch[CRC_POS..CRC_POS + 4] != crc {
            batch[CRC_POS..CRC_POS + 4].copy_from_slice(&crc);
            changed = true;
        }
    }
    changed
}

fn scratch_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("RUNNEL_FUZZ_TMP") {
        return dir.into();
    }
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    }
}

fn scratch_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("runnel-fuzz-")
        .tempdir_in(scratch_root())
        .expect("a scratch directory for the log")
}

/// Batches that validated never fail an append to a fresh log on I/O; any
/// other refusal is allowed (it is not a panic), and ends the check.
fn accepted<T>(result: Result<T, LogError>, what: &str) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e @ (LogError::Io(_) | LogError::Offline)) => panic!("{what}: {e}"),
        Err(_) => None,
    }
}

/// A Produce append: offsets assigned from 0, the leader epoch stamped, and
/// LogAppendTime applied when configured. Reads back as exactly those bytes.
fn append_as_leader(records: &[u8]) {
    let log_append_time = records[0] & 1 == 1;
    let config = LogConfig {
        message_timestamp_type: if log_append_time {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        },
        ..LogConfig::default()
    };
    let mut expected = BytesMut::from(records);
    let mut next_offset = 0i64;
    let mut spans = Vec::new();
    let mut iter = BatchIter::new(records);
    loop {
        let pos = iter.position();
        let Some(item) = iter.next() else { break };
        let (header, batch) = item.expect("validated above");
        spans.push((pos, batch.len(), header));
    }
    for (pos, len, header) in &spans {
        let batch = &mut expected[*pos..*pos + *len];
        set_base_offset(batch, next_offset);
        set_partition_leader_epoch(batch, LEADER_EPOCH);
        if log_append_time {
            set_log_append_time(batch, NOW_MS);
        }
        next_offset += i64::from(header.last_offset_delta) + 1;
    }

    let dir = scratch_dir();
    let log = PartitionLog::open(dir.path(), config.clone(), true, NOW_MS).expect("fresh log");
    let Some(info) = accepted(
        log.append(Bytes::copy_from_slice(records), LEADER_EPOCH, NOW_MS),
        "leader append",
    ) else {
        return;
    };
    assert_eq!(info.base_offset, 0);
    assert_eq!(info.last_offset, next_offset - 1);
    assert_eq!(log.log_end_offset(), next_offset);
    read_back(&log, 0, next_offset, &expected);

    log.close().expect("close");
    drop(log);
    let log = PartitionLog::open(dir.path(), config, false, NOW_MS).expect("reopen");
    assert_eq!(
        log.log_end_offset(),
        next_offset,
        "recovery kept every batch"
    );
    read_back(&log, 0, next_offset, &expected);
}

/// A replica fetch's append: offsets are the leader's and bytes are stored
/// untouched, so they read back exactly as given.
fn append_as_follower(records: &[u8]) {
    let dir = scratch_dir();
    let config = LogConfig::default();
    let log = PartitionLog::open(dir.path(), config.clone(), true, NOW_MS).expect("fresh log");
    let Some(info) = accepted(
        log.append_as_follower(Bytes::copy_from_slice(records)),
        "follower append",
    ) else {
        return;
    };
    let log_end_offset = info.last_offset + 1;
    assert_eq!(log.log_end_offset(), log_end_offset);
    read_back(&log, info.base_offset, log_end_offset, records);

    log.close().expect("close");
    drop(log);
    let log = PartitionLog::open(dir.path(), config, false, NOW_MS).expect("reopen");
    assert_eq!(
        log.log_end_offset(),
        log_end_offset,
        "recovery kept every batch"
    );
    read_back(&log, info.base_offset, log_end_offset, records);
}

/// Reads everything from `offset` to the log end. A read stays within one
/// segment (as Kafka's does), so a log that rolled takes several.
fn read_back(log: &PartitionLog, offset: i64, log_end_offset: i64, expected: &[u8]) {
    let mut got = Vec::with_capacity(expected.len());
    let mut next = offset;
    while next < log_end_offset {
        let read = log
            .read(next, expected.len().max(1), log_end_offset)
            .expect("read of what was just appended");
        assert_eq!(read.log_end_offset, log_end_offset);
        let mut advanced = false;
        for item in BatchIter::new(&read.records) {
            let (header, _) = item.expect("whole batches");
            next = header.next_offset();
            advanced = true;
        }
        assert!(advanced, "a read below the log end returned no batch at {next}");
        got.extend_from_slice(&read.records);
    }
    assert!(
        got[..] == expected[..],
        "read back {} bytes, appended {}",
        got.len(),
        expected.len()
    );
}
