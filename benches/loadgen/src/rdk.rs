//! The realistic client: librdkafka through the `rdkafka` crate, measured
//! the way users measure Kafka (a producer perf test, a consumer reading
//! everything back, and end-to-end latency at a fixed rate).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;

/// Counts delivery reports; the last one's time ends the measurement.
#[derive(Default)]
struct Delivered {
    ok: AtomicU64,
    failed: AtomicU64,
}

#[derive(Clone, Default)]
struct Counting(Arc<Delivered>);

impl ClientContext for Counting {}

/// Prints librdkafka's log lines (with `RDKAFKA_DEBUG`) on stderr.
struct Stderr;

impl ClientContext for Stderr {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, msg: &str) {
        eprintln!("{:?} {fac} {msg}", level);
    }
}

impl rdkafka::consumer::ConsumerContext for Stderr {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.0.ok.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.0.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

pub struct ProduceArgs<'a> {
    pub bootstrap: &'a str,
    pub topic: &'a str,
    pub records: u64,
    pub record_size: usize,
    pub acks: &'a str,
    pub linger_ms: u32,
    pub batch_size: u32,
}

fn producer_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("client.id", crate::wire::CLIENT_ID)
        .set("log_level", "3");
    config
}

/// A producer perf test: `records` records of `record_size` bytes, no key
/// (librdkafka's sticky partitioner spreads them over the partitions), as
/// fast as the client can, timed from the first send to the last delivery
/// report.
pub fn produce(a: ProduceArgs) -> Result<serde_json::Value> {
    let ctx = Counting::default();
    let producer: ThreadedProducer<Counting> = producer_config(a.bootstrap)
        .set("acks", a.acks)
        .set("linger.ms", a.linger_ms.to_string())
        .set("batch.size", a.batch_size.to_string())
        // Enough room that the perf loop, not the queue, paces the client.
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("batch.num.messages", "1000000")
        .create_with_context(ctx.clone())?;
    // Metadata first, so the run times producing, not the first look-up.
    producer
        .client()
        .fetch_metadata(Some(a.topic), Duration::from_secs(10))?;
    let payload: Vec<u8> = (0..a.record_size).map(|i| b'a' + (i % 26) as u8).collect();
    let started = Instant::now();
    for _ in 0..a.records {
        let mut record = BaseRecord::<(), [u8]>::to(a.topic).payload(&payload[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err((e, _)) => bail!("send failed: {e}"),
            }
        }
    }
    producer.flush(Duration::from_secs(120))?;
    let secs = started.elapsed().as_secs_f64();
    let (ok, failed) = (
        ctx.0.ok.load(Ordering::Relaxed),
        ctx.0.failed.load(Ordering::Relaxed),
    );
    if failed > 0 || ok != a.records {
        bail!("{ok} of {} records delivered, {failed} failed", a.records);
    }
    let bytes = a.records * a.record_size as u64;
    Ok(json!({
        "secs": secs,
        "records": a.records,
        "bytes": bytes,
        "records_per_s": a.records as f64 / secs,
        "mb_per_s": bytes as f64 / secs / 1e6,
    }))
}

/// `RDKAFKA_DEBUG=fetch,...` turns on librdkafka's debug contexts.
fn with_debug(mut config: ClientConfig) -> ClientConfig {
    if let Ok(contexts) = std::env::var("RDKAFKA_DEBUG") {
        config.set("debug", contexts).set("log_level", "7");
    }
    config
}

fn consumer(bootstrap: &str) -> Result<BaseConsumer<Stderr>> {
    // Partitions are assigned by hand and nothing is committed, so the
    // group is never joined.
    Ok(with_debug(ClientConfig::new())
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "runnel-loadgen")
        .set("client.id", crate::wire::CLIENT_ID)
        .set("log_level", "3")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        // librdkafka pauses fetching for fetch.queue.backoff.ms (1 s by
        // default) whenever its local queue holds queued.min.messages; a
        // consumer that drains faster than that would mostly wait. The
        // usual throughput tuning: a deeper queue and a short backoff.
        .set("queued.min.messages", "1000000")
        .set("fetch.queue.backoff.ms", "10")
        .create_with_context(Stderr)?)
}

fn assign_all(consumer: &BaseConsumer<Stderr>, topic: &str, offset: Offset) -> Result<()> {
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut tpl = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            tpl.add_partition_offset(topic, p.id(), offset)?;
        }
    }
    if tpl.count() == 0 {
        bail!("topic {topic} has no partitions");
    }
    consumer.assign(&tpl)?;
    Ok(())
}

/// Reads `records` records from the start of every partition, timed from
/// the assignment to the last record (no final "is that all" long poll).
pub fn consume(bootstrap: &str, topic: &str, records: u64) -> Result<serde_json::Value> {
    let consumer = consumer(bootstrap)?;
    let started = Instant::now();
    assign_all(&consumer, topic, Offset::Beginning)?;
    let (mut count, mut bytes) = (0u64, 0u64);
    let deadline = started + Duration::from_secs(300);
    while count < records {
        if Instant::now() > deadline {
            bail!("read {count} of {records} records in 300 s");
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                count += 1;
                bytes += m.payload_len() as u64;
            }
            Some(Err(e)) => bail!("consume error: {e}"),
            None => {}
        }
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(json!({
        "secs": secs,
        "records": count,
        "bytes": bytes,
        "records_per_s": count as f64 / secs,
        "mb_per_s": bytes as f64 / secs / 1e6,
    }))
}

/// End-to-end latency at a fixed rate: a producer thread sends `rate`
/// records per second (in 1 ms ticks) each carrying its send time; a
/// consumer in this process reads them and records now - sent. The first
/// second is warm-up and not counted.
pub fn latency(
    bootstrap: &str,
    topic: &str,
    rate: u64,
    secs: f64,
    record_size: usize,
) -> Result<serde_json::Value> {
    let epoch = Instant::now();
    let consumer = consumer(bootstrap)?;
    consumer
        .client()
        .fetch_metadata(Some(topic), Duration::from_secs(10))?;
    assign_all(&consumer, topic, Offset::End)?;
    // Let the consumer reach the end before the first record is sent.
    let _ = consumer.poll(Duration::from_millis(500));
    let producer: ThreadedProducer<Counting> = producer_config(bootstrap)
        .set("acks", "1")
        .set("linger.ms", "0")
        .create_with_context(Counting::default())?;
    producer
        .client()
        .fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let total = (rate as f64 * (secs + 1.0)) as u64;
    let record_size = record_size.max(16);
    let topic_owned = topic.to_string();
    let sender = std::thread::spawn(move || -> Result<()> {
        let mut payload = vec![b'x'; record_size];
        let start = Instant::now();
        let per_tick = rate as f64 / 1000.0;
        let mut sent = 0u64;
        let mut tick = 0u64;
        while sent < total {
            tick += 1;
            let due = ((tick as f64 * per_tick) as u64).min(total);
            while sent < due {
                let now = epoch.elapsed().as_nanos() as u64;
                payload[..8].copy_from_slice(&now.to_be_bytes());
                payload[8..16].copy_from_slice(&sent.to_be_bytes());
                let record = BaseRecord::<(), [u8]>::to(&topic_owned).payload(&payload[..]);
                if let Err((e, _)) = producer.send(record) {
                    bail!("send failed: {e}");
                }
                sent += 1;
            }
            let next = start + Duration::from_micros(tick * 1000);
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        producer.flush(Duration::from_secs(30))?;
        Ok(())
    });
    let warmup = rate;
    let mut latencies_us: Vec<f64> = Vec::with_capacity(total as usize);
    let mut received = 0u64;
    let deadline = Instant::now() + Duration::from_secs_f64(secs + 30.0);
    while received < total && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let now = epoch.elapsed().as_nanos() as u64;
                let Some(p) = m.payload() else { continue };
                if p.len() < 16 {
                    continue;
                }
                let sent_ns = u64::from_be_bytes(p[..8].try_into().expect("8 bytes"));
                let seq = u64::from_be_bytes(p[8..16].try_into().expect("8 bytes"));
                received += 1;
                if seq >= warmup {
                    latencies_us.push(now.saturating_sub(sent_ns) as f64 / 1e3);
                }
            }
            Some(Err(e)) => bail!("consume error: {e}"),
            None => {}
        }
    }
    sender.join().expect("sender thread")?;
    if received < total {
        bail!("received {received} of {total} records");
    }
    latencies_us.sort_by(f64::total_cmp);
    let pct = |q: f64| latencies_us[((latencies_us.len() - 1) as f64 * q).round() as usize];
    Ok(json!({
        "rate": rate,
        "records": latencies_us.len(),
        "p50_ms": pct(0.50) / 1e3,
        "p99_ms": pct(0.99) / 1e3,
        "p999_ms": pct(0.999) / 1e3,
        "max_ms": pct(1.0) / 1e3,
    }))
}
