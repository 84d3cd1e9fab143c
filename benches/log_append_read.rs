//! Append and read throughput of one partition log on real files, for
//! batches of 1 KiB, 16 KiB, 256 KiB and 1 MiB (criterion reports MB/s).
//! Appends go to the page cache (default flush policy: no fsync); reads hit
//! the page cache, as a consumer close to the head of the log does.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use runnel::log::testing::{TestRecord, make_batch};
use runnel::log::{LogConfig, PartitionLog};

const SIZES: [(&str, usize); 4] = [
    ("1KiB", 1024),
    ("16KiB", 16 * 1024),
    ("256KiB", 256 * 1024),
    ("1MiB", 1024 * 1024),
];

/// A batch of about `size` bytes: 1 KiB records.
fn batch_of(size: usize) -> Bytes {
    let records = (size / 1024).max(1);
    let value = vec![7u8; 1024 - 80];
    let recs: Vec<TestRecord<'_>> = (0..records).map(|_| (None, Some(&value[..]))).collect();
    make_batch(&recs, 1_700_000_000_000, None)
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 256 * 1024 * 1024,
        max_message_bytes: 2 * 1024 * 1024,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    for (name, size) in SIZES {
        let batch = batch_of(size);
        let dir = tempfile::tempdir().expect("tempdir");
        let log = PartitionLog::open(dir.path(), config(), true, 0).expect("open");
        group.throughput(Throughput::Bytes(batch.len() as u64));
        let mut written = 0usize;
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let info = log.append(batch.clone(), 0, 0).expect("append");
                written += batch.len();
                // Keep the files bounded: start over every ~512 MiB.
                if written > 512 * 1024 * 1024 {
                    log.truncate_to(0).expect("truncate");
                    written = 0;
                }
                black_box(info)
            })
        });
    }
    group.finish();
}

fn read(c: &mut Criterion) {
    let mut group = c.benchmark_group("read");
    for (name, size) in SIZES {
        let batch = batch_of(size);
        let dir = tempfile::tempdir().expect("tempdir");
        let log = PartitionLog::open(dir.path(), config(), true, 0).expect("open");
        // About 64 MiB of log, read back one fetch (1 MiB or one batch) at a time.
        let batches = (64 * 1024 * 1024 / batch.len()).max(8);
        let mut bases = Vec::with_capacity(batches);
        for _ in 0..batches {
            bases.push(log.append(batch.clone(), 0, 0).expect("append").base_offset);
        }
        let fetch_bytes = (1024 * 1024).max(batch.len());
        let per_read = (fetch_bytes / batch.len()).max(1) as u64 * batch.len() as u64;
        group.throughput(Throughput::Bytes(per_read));
        let mut i = 0usize;
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                // Never start within one fetch of the end, so every read is full.
                let span = bases.len() - fetch_bytes / batch.len();
                let offset = bases[i % span.max(1)];
                i = i.wrapping_add(fetch_bytes / batch.len());
                black_box(log.read(offset, fetch_bytes, i64::MAX).expect("read"))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, append, read);
criterion_main!(benches);
