//! The broker-bound generator: raw Produce and Fetch requests encoded once
//! with `kafka-protocol` and re-sent with only the correlation id patched,
//! pipelined on each connection (a writer thread keeps `inflight` requests
//! outstanding, a reader thread takes the responses). What is left is the
//! broker's own cost plus the kernel's.

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse, ProduceRequest,
    ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use serde_json::json;

use crate::wire::{self, Client};

const PRODUCE_VERSION: i16 = 9;
const FETCH_VERSION: i16 = 12;
const LIST_OFFSETS_VERSION: i16 = 7;
const CREATE_TOPICS_VERSION: i16 = 7;

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// Creates `topic` with `partitions` partitions (replication factor 1).
/// An existing topic is an error: every scenario starts from a fresh one.
pub fn create_topic(addr: &str, topic: &str, partitions: i32) -> Result<serde_json::Value> {
    let mut client = Client::connect(addr)?;
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(600_000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(topic_name(topic))
                .with_num_partitions(partitions)
                .with_replication_factor(1),
        ]);
    let started = Instant::now();
    let resp: CreateTopicsResponse =
        client.call(ApiKey::CreateTopics, CREATE_TOPICS_VERSION, &req)?;
    let secs = started.elapsed().as_secs_f64();
    for t in &resp.topics {
        if t.error_code != 0 {
            bail!(
                "CreateTopics {topic}: error {} {:?}",
                t.error_code,
                t.error_message
            );
        }
    }
    Ok(json!({"topic": topic, "partitions": partitions, "secs": secs}))
}

/// One RecordBatch v2 of `count` records of `size` value bytes (no key),
/// uncompressed, with producer id -1 so the broker accepts it again and again.
pub fn make_batch(count: usize, size: usize) -> Result<Bytes> {
    let value = Bytes::from(
        (0..size)
            .map(|i| b'a' + (i % 26) as u8)
            .collect::<Vec<u8>>(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // offset - sequence is constant, so the encoder makes one batch
            // (base sequence -1: not idempotent).
            sequence: i as i32 - 1,
            timestamp: now,
            key: None,
            value: Some(value.clone()),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )?;
    Ok(buf.freeze())
}

/// What one response counted for.
struct Tally {
    /// Record bytes fetched, or partitions acknowledged by a produce.
    units: u64,
    records: u64,
    error: bool,
}

/// Totals the connections' reader threads add to.
#[derive(Default)]
struct Totals {
    requests: AtomicU64,
    units: AtomicU64,
    records: AtomicU64,
    errors: AtomicU64,
}

/// Runs `connections` connections for `secs` seconds; each keeps `inflight`
/// copies of its frame outstanding. `on_response` turns a response frame
/// into what it counts for.
fn pipelined(
    addr: &str,
    connections: usize,
    inflight: usize,
    secs: f64,
    frames: Vec<Vec<BytesMut>>,
    on_response: fn(Vec<u8>) -> Result<Tally>,
) -> Result<(f64, Totals)> {
    let totals = Arc::new(Totals::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    let started = Instant::now();
    for (c, mut cycle) in frames.into_iter().cycle().take(connections).enumerate() {
        let stream = Client::connect(addr)?.into_stream();
        let mut reader = stream.try_clone()?;
        let totals = Arc::clone(&totals);
        let stop = Arc::clone(&stop);
        // Tokens bound the requests in flight: the writer takes one per
        // request, the reader returns it per response.
        let (token_tx, token_rx) = sync_channel::<()>(inflight);
        for _ in 0..inflight {
            token_tx.send(())?;
        }
        let writer = std::thread::spawn(move || -> Result<u64> {
            let mut stream: TcpStream = stream;
            let mut correlation_id = (c as i32) << 24;
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if token_rx.recv_timeout(Duration::from_millis(100)).is_err() {
                    continue;
                }
                correlation_id = correlation_id.wrapping_add(1);
                let slot = sent as usize % cycle.len();
                let frame = &mut cycle[slot];
                wire::set_correlation_id(frame, correlation_id);
                stream.write_all(frame)?;
                sent += 1;
            }
            Ok(sent)
        });
        let reader = std::thread::spawn(move || -> Result<()> {
            let mut buf = Vec::new();
            loop {
                if wire::read_frame(&mut reader, &mut buf).is_err() {
                    // The writer stopped and the socket was shut down.
                    return Ok(());
                }
                let tally = on_response(std::mem::take(&mut buf))?;
                totals.requests.fetch_add(1, Ordering::Relaxed);
                totals.units.fetch_add(tally.units, Ordering::Relaxed);
                totals.records.fetch_add(tally.records, Ordering::Relaxed);
                if tally.error {
                    totals.errors.fetch_add(1, Ordering::Relaxed);
                }
                if token_tx.send(()).is_err() {
                    return Ok(());
                }
            }
        });
        handles.push((writer, reader));
    }
    std::thread::sleep(Duration::from_secs_f64(secs));
    // Snapshot at the deadline: responses after it do not count.
    let elapsed = started.elapsed().as_secs_f64();
    let snapshot = Totals::default();
    snapshot
        .requests
        .store(totals.requests.load(Ordering::Relaxed), Ordering::Relaxed);
    snapshot
        .units
        .store(totals.units.load(Ordering::Relaxed), Ordering::Relaxed);
    snapshot
        .records
        .store(totals.records.load(Ordering::Relaxed), Ordering::Relaxed);
    snapshot
        .errors
        .store(totals.errors.load(Ordering::Relaxed), Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for (writer, reader) in handles {
        writer.join().expect("writer thread")?;
        // Let the outstanding responses drain, then let the reader go.
        std::thread::sleep(Duration::from_millis(50));
        drop(reader);
    }
    Ok((elapsed, snapshot))
}

pub struct ProduceArgs<'a> {
    pub addr: &'a str,
    pub topic: &'a str,
    pub partitions: i32,
    pub batch_bytes: usize,
    pub record_size: usize,
    pub acks: i16,
    pub connections: usize,
    pub inflight: usize,
    pub secs: f64,
}

/// Pipelined Produce: each request carries one pre-encoded batch for each
/// partition of the connection's share.
pub fn produce(a: ProduceArgs) -> Result<serde_json::Value> {
    // The most records of `record_size` that fit in `batch_bytes`.
    let mut count = (a.batch_bytes.saturating_sub(61) / (a.record_size + 8)).max(1);
    let mut batch = make_batch(count, a.record_size)?;
    while batch.len() > a.batch_bytes && count > 1 {
        count = (count * a.batch_bytes / batch.len()).min(count - 1).max(1);
        batch = make_batch(count, a.record_size)?;
    }
    let mut frames = Vec::new();
    for c in 0..a.connections {
        // Connection c produces to partitions c, c + connections, ...
        let partitions: Vec<i32> = if a.partitions as usize >= a.connections {
            (0..a.partitions)
                .filter(|p| *p as usize % a.connections == c)
                .collect()
        } else {
            vec![c as i32 % a.partitions]
        };
        let req = ProduceRequest::default()
            .with_acks(a.acks)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(topic_name(a.topic))
                    .with_partition_data(
                        partitions
                            .iter()
                            .map(|p| {
                                PartitionProduceData::default()
                                    .with_index(*p)
                                    .with_records(Some(batch.clone()))
                            })
                            .collect(),
                    ),
            ]);
        frames.push(vec![wire::encode_request(
            ApiKey::Produce,
            PRODUCE_VERSION,
            0,
            &req,
        )?]);
    }
    let (secs, totals) = pipelined(a.addr, a.connections, a.inflight, a.secs, frames, |frame| {
        let resp: ProduceResponse = wire::decode_response(ApiKey::Produce, PRODUCE_VERSION, frame)?;
        let mut error = false;
        let mut partitions = 0u64;
        for t in &resp.responses {
            for p in &t.partition_responses {
                partitions += 1;
                if p.error_code != 0 && !error {
                    error = true;
                    eprintln!("produce error {} {:?}", p.error_code, p.error_message);
                }
            }
        }
        // Bytes and records follow from the request's shape.
        Ok(Tally {
            units: partitions,
            records: 0,
            error,
        })
    })?;
    if a.acks == 0 {
        bail!("acks=0 has no responses to count; use acks=1 or -1");
    }
    let partitions_acked = totals.units.load(Ordering::Relaxed);
    let errors = totals.errors.load(Ordering::Relaxed);
    if errors > 0 {
        bail!("{errors} produce responses carried errors");
    }
    let bytes = partitions_acked * batch.len() as u64;
    let records = partitions_acked * count as u64;
    Ok(json!({
        "secs": secs,
        "requests": totals.requests.load(Ordering::Relaxed),
        "batch_bytes": batch.len(),
        "records_per_batch": count,
        "bytes": bytes,
        "records": records,
        "mb_per_s": bytes as f64 / secs / 1e6,
        "records_per_s": records as f64 / secs,
    }))
}

/// The log end offset of each partition of `topic`.
pub fn end_offsets(addr: &str, topic: &str, partitions: i32) -> Result<Vec<i64>> {
    let mut client = Client::connect(addr)?;
    let req = ListOffsetsRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(
                    (0..partitions)
                        .map(|p| {
                            ListOffsetsPartition::default()
                                .with_partition_index(p)
                                .with_timestamp(-1)
                        })
                        .collect(),
                ),
        ]);
    let resp: ListOffsetsResponse = client.call(ApiKey::ListOffsets, LIST_OFFSETS_VERSION, &req)?;
    let mut out = vec![0; partitions as usize];
    for t in &resp.topics {
        for p in &t.partitions {
            if p.error_code != 0 {
                bail!(
                    "ListOffsets {topic}-{}: error {}",
                    p.partition_index,
                    p.error_code
                );
            }
            out[p.partition_index as usize] = p.offset;
        }
    }
    Ok(out)
}

pub struct FetchArgs<'a> {
    pub addr: &'a str,
    pub topic: &'a str,
    pub partitions: i32,
    pub partition_max_bytes: i32,
    pub connections: usize,
    pub inflight: usize,
    pub secs: f64,
}

/// Pipelined Fetch of data already in the log (page cache). Offsets are
/// spread evenly over each partition, one per request slot, so pipelined
/// requests never wait for each other's answers: request i of a connection
/// reads from the i-th of `slots` evenly spaced offsets.
pub fn fetch(a: FetchArgs) -> Result<serde_json::Value> {
    let ends = end_offsets(a.addr, a.topic, a.partitions)?;
    if ends.iter().all(|e| *e == 0) {
        bail!("topic {} is empty; produce first", a.topic);
    }
    // Each connection cycles through its own frames, one per offset slot.
    let slots = 16usize;
    let mut frames = Vec::new();
    for slot in 0..slots {
        let req = FetchRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(i32::MAX)
            .with_isolation_level(0)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(topic_name(a.topic))
                    .with_partitions(
                        (0..a.partitions)
                            .filter(|p| ends[*p as usize] > 0)
                            .map(|p| {
                                let end = ends[p as usize];
                                let offset = end * slot as i64 / slots as i64;
                                FetchPartition::default()
                                    .with_partition(p)
                                    .with_fetch_offset(offset)
                                    .with_log_start_offset(-1)
                                    .with_partition_max_bytes(a.partition_max_bytes)
                            })
                            .collect(),
                    ),
            ]);
        frames.push(wire::encode_request(ApiKey::Fetch, FETCH_VERSION, 0, &req)?);
    }
    // Each connection cycles through every slot, starting at its own.
    let frames: Vec<Vec<BytesMut>> = (0..a.connections)
        .map(|c| {
            (0..slots)
                .map(|i| frames[(c * 5 + i) % slots].clone())
                .collect()
        })
        .collect();
    let (secs, totals) = pipelined(a.addr, a.connections, a.inflight, a.secs, frames, |frame| {
        let resp: FetchResponse = wire::decode_response(ApiKey::Fetch, FETCH_VERSION, frame)?;
        let (mut bytes, mut records, mut error) = (0u64, 0u64, resp.error_code != 0);
        for t in &resp.responses {
            for p in &t.partitions {
                error |= p.error_code != 0;
                if let Some(r) = &p.records {
                    bytes += r.len() as u64;
                    records += wire::count_batches(r).1;
                }
            }
        }
        Ok(Tally {
            units: bytes,
            records,
            error,
        })
    })?;
    let errors = totals.errors.load(Ordering::Relaxed);
    if errors > 0 {
        bail!("{errors} fetch responses carried errors");
    }
    let bytes = totals.units.load(Ordering::Relaxed);
    let records = totals.records.load(Ordering::Relaxed);
    Ok(json!({
        "secs": secs,
        "requests": totals.requests.load(Ordering::Relaxed),
        "bytes": bytes,
        "records": records,
        "mb_per_s": bytes as f64 / secs / 1e6,
        "records_per_s": records as f64 / secs,
    }))
}

/// Opens `count` connections, each answering one ApiVersions, and keeps
/// them open and silent until stdin closes or `hold_secs` pass.
pub fn idle_connections(addr: &str, count: usize, hold_secs: f64) -> Result<()> {
    raise_nofile_limit();
    let started = Instant::now();
    let mut held = Vec::with_capacity(count);
    for i in 0..count {
        let mut client = Client::connect(addr).with_context(|| format!("connection {i}"))?;
        let _: ApiVersionsResponse =
            client.call(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default())?;
        held.push(client.into_stream());
    }
    println!(
        "{}",
        json!({"connections": held.len(), "open_secs": started.elapsed().as_secs_f64()})
    );
    std::io::stdout().flush()?;
    // Hold until stdin closes (the driver is done) or the time is up.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        let _ = tx.send(());
    });
    let _ = rx.recv_timeout(Duration::from_secs_f64(hold_secs));
    drop(held);
    Ok(())
}

/// Lifts the soft open-files limit to the hard one (1,000 sockets).
pub fn raise_nofile_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
