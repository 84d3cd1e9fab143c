//! The machine's own limits, measured in the same run as the broker so each
//! broker figure can be stated as a fraction of them: loopback TCP
//! bandwidth, sequential write bandwidth of the data dir's disk, and the
//! latency of one small write + fdatasync there.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

/// One sender and one receiver thread over loopback TCP, 1 MiB writes,
/// 64 KiB reads: the most a single connection can move on this machine
/// with both ends sharing its cores, like broker and client do.
pub fn loopback(secs: f64) -> Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let receiver = std::thread::spawn(move || -> Result<u64> {
        let (mut s, _) = listener.accept()?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = s.read(&mut buf)?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    });
    let mut s = TcpStream::connect(addr)?;
    let buf = vec![7u8; 1024 * 1024];
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(secs);
    while Instant::now() < deadline {
        s.write_all(&buf)?;
    }
    drop(s);
    let total = receiver.join().expect("receiver thread")?;
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// Writes `bytes` sequentially in 1 MiB writes and fdatasyncs once: the
/// rate at which the data dir's disk takes a stream (page cache included
/// until the final sync, which is counted).
pub fn sequential_write(dir: &Path, bytes: u64) -> Result<f64> {
    let path = dir.join("loadgen-seqwrite.tmp");
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    let buf = vec![3u8; 1024 * 1024];
    let started = Instant::now();
    let mut written = 0u64;
    while written < bytes {
        f.write_all(&buf)?;
        written += buf.len() as u64;
    }
    f.sync_data()?;
    let secs = started.elapsed().as_secs_f64();
    drop(f);
    std::fs::remove_file(&path)?;
    Ok(written as f64 / secs)
}

/// `count` rounds of a 4 KiB write at the end of a file + fdatasync;
/// returns the sorted latencies in microseconds.
pub fn fdatasync_latency(dir: &Path, count: usize) -> Result<Vec<f64>> {
    let path = dir.join("loadgen-fdatasync.tmp");
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    let buf = vec![5u8; 4096];
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        f.write_all(&buf)?;
        // SAFETY: fdatasync on a file descriptor we own.
        if unsafe { libc::fdatasync(f.as_raw_fd()) } != 0 {
            bail!("fdatasync: {}", std::io::Error::last_os_error());
        }
        out.push(started.elapsed().as_secs_f64() * 1e6);
    }
    drop(f);
    std::fs::remove_file(&path)?;
    out.sort_by(f64::total_cmp);
    Ok(out)
}

pub fn limits(dir: &Path, secs: f64, write_bytes: u64, syncs: usize) -> Result<serde_json::Value> {
    let loopback = loopback(secs)?;
    let seq = sequential_write(dir, write_bytes)?;
    let lat = fdatasync_latency(dir, syncs)?;
    let pct = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize];
    Ok(json!({
        "loopback_mb_per_s": loopback / 1e6,
        "seq_write_mb_per_s": seq / 1e6,
        "seq_write_bytes": write_bytes,
        "fdatasync_p50_us": pct(0.5),
        "fdatasync_p99_us": pct(0.99),
    }))
}
