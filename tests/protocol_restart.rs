//! Durability across restarts of a real broker process: everything
//! acknowledged with acks=-1 is there after a clean shutdown (SIGTERM) and
//! after a crash (SIGKILL), topics keep their ids, configs and partition
//! counts, offsets continue where they stopped, and an idempotent producer's
//! retry is still recognised as a duplicate.

mod common;

use common::*;
use kafka_protocol::messages::MetadataRequest;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use runnel::log::testing::{make_batch, make_value_batch};

/// A timestamp of now: an idempotent producer's state expires
/// `producer.id.expiration.ms` after its batches' own timestamps, as in Kafka.
fn recent() -> i64 {
    runnel::now_ms()
}
use uuid::Uuid;

/// What one phase wrote: per partition, the (base offset, record count) of
/// each acknowledged batch.
struct Written {
    topic: String,
    id: Uuid,
    batches: Vec<Vec<(i64, i32)>>,
    producer: (i64, i16),
}

const PARTITIONS: i32 = 3;

fn write_phase(b: &BrokerProcess) -> Written {
    let mut c = b.connect();
    let topic = unique_topic("restart");
    assert_eq!(
        create_topic_code(&mut c, &topic, PARTITIONS, &[("retention.ms", "86400000")]),
        0
    );
    let id = topic_id(&mut c, &topic);
    let mut batches = vec![Vec::new(); PARTITIONS as usize];
    for i in 0..30 {
        let p = i % PARTITIONS;
        let n = 1 + (i % 4);
        let r = produce(
            &mut c,
            9,
            &topic,
            p,
            make_value_batch(n as usize, 100, 1_000 + i64::from(i)),
            -1,
        );
        assert_eq!(r.error_code, 0, "batch {i}");
        batches[p as usize].push((r.base_offset, n));
    }
    // An idempotent producer's batch on partition 0.
    let (pid, epoch) = init_producer_id(&mut c);
    let r = produce(
        &mut c,
        9,
        &topic,
        0,
        make_batch(&[(None, Some(b"idem"))], recent(), Some((pid, epoch, 0))),
        -1,
    );
    assert_eq!(r.error_code, 0);
    batches[0].push((r.base_offset, 1));
    Written {
        topic,
        id,
        batches,
        producer: (pid, epoch),
    }
}

fn check_phase(b: &BrokerProcess, w: &Written) {
    let mut c = b.connect();
    // The topic is known under the same id, with its partitions and config.
    let md = c.call(
        &MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name(&w.topic))),
            ]))
            .with_allow_auto_topic_creation(false),
        12,
    );
    let t = &md.topics[0];
    assert_eq!(t.error_code, 0, "topic after restart");
    assert_eq!(t.topic_id, w.id, "topic id after restart");
    assert_eq!(t.partitions.len(), PARTITIONS as usize);
    let dc = c.call(
        &kafka_protocol::messages::DescribeConfigsRequest::default().with_resources(vec![
            kafka_protocol::messages::describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(str_bytes(&w.topic))
                .with_configuration_keys(Some(vec![str_bytes("retention.ms")])),
        ]),
        4,
    );
    let cfg = &dc.results[0].configs[0];
    assert_eq!(
        cfg.value.as_deref(),
        Some("86400000"),
        "config after restart"
    );
    assert_eq!(cfg.config_source, 1, "config source after restart");

    for p in 0..PARTITIONS {
        let want = &w.batches[p as usize];
        let end = want.last().map(|(o, n)| o + i64::from(*n)).unwrap_or(0);
        // By name (v12) and by id (v16).
        for v in [12, 16] {
            let mut got = Vec::new();
            let mut offset = 0;
            while offset < end {
                let d = fetch(&mut c, v, &w.topic, w.id, p, offset);
                assert_eq!(d.error_code, 0, "fetch v{v} p{p} at {offset}");
                assert_eq!(d.high_watermark, end, "high watermark of p{p}");
                let bs = batches(d.records.as_deref().unwrap_or_default());
                assert!(!bs.is_empty(), "no progress at {offset} of p{p}");
                for b in &bs {
                    got.push((b.base_offset, b.record_count));
                    offset = b.last_offset + 1;
                }
            }
            assert_eq!(&got, want, "batches of p{p} (fetch v{v})");
        }
        // New writes continue at the log end.
        let r = produce(&mut c, 9, &w.topic, p, make_value_batch(1, 10, 9_000), -1);
        assert_eq!(
            (r.error_code, r.base_offset),
            (0, end),
            "append after restart to p{p}"
        );
    }
    // The idempotent producer's retry is still a duplicate.
    let (pid, epoch) = w.producer;
    let original = w.batches[0].last().expect("idempotent batch").0;
    let r = produce(
        &mut c,
        9,
        &w.topic,
        0,
        make_batch(&[(None, Some(b"idem"))], recent(), Some((pid, epoch, 0))),
        -1,
    );
    assert_eq!(
        (r.error_code, r.base_offset),
        (0, original),
        "retry of the idempotent batch after restart"
    );
    // And the next sequence is accepted.
    let r = produce(
        &mut c,
        9,
        &w.topic,
        0,
        make_batch(&[(None, Some(b"idem2"))], recent(), Some((pid, epoch, 1))),
        -1,
    );
    assert_eq!(r.error_code, 0, "next idempotent sequence after restart");
    // A fresh producer id is not one handed out before.
    let (pid2, _) = init_producer_id(&mut c);
    assert_ne!(pid2, pid, "producer id reused after restart");
}

#[test]
fn everything_acknowledged_survives_sigterm() {
    let mut b = BrokerProcess::start(&[]);
    let w = write_phase(&b);
    let status = b.terminate();
    assert!(
        status.success(),
        "exit after SIGTERM: {status}\n{}",
        b.log_tail(20)
    );
    b.restart();
    check_phase(&b, &w);
}

#[test]
fn everything_acknowledged_survives_sigkill() {
    let mut b = BrokerProcess::start(&[]);
    let w = write_phase(&b);
    b.kill();
    b.restart();
    check_phase(&b, &w);
    // And a second crash right after the restart.
    b.kill();
    b.restart();
    let mut c = b.connect();
    let d = fetch(&mut c, 12, &w.topic, w.id, 1, 0);
    assert_eq!(d.error_code, 0);
    let end = w.batches[1]
        .last()
        .map(|(o, n)| o + i64::from(*n))
        .unwrap_or(0);
    assert_eq!(d.high_watermark, end + 1, "p1 after the second crash");
}

/// A deleted topic stays deleted after a restart.
#[test]
fn a_deleted_topic_stays_deleted() {
    let mut b = BrokerProcess::start(&[]);
    let mut c = b.connect();
    let topic = unique_topic("restart-deleted");
    create_topic(&mut c, &topic, 1);
    produce(&mut c, 9, &topic, 0, make_value_batch(2, 10, 0), -1);
    let resp = c.call(
        &kafka_protocol::messages::DeleteTopicsRequest::default()
            .with_topic_names(vec![topic_name(&topic)])
            .with_timeout_ms(10_000),
        5,
    );
    assert_eq!(resp.responses[0].error_code, 0);
    drop(c);
    b.kill();
    b.restart();
    let mut c = b.connect();
    let md = c.call(
        &MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name(&topic))),
            ]))
            .with_allow_auto_topic_creation(false),
        12,
    );
    assert_eq!(md.topics[0].error_code, 3, "deleted topic came back");
    // The name can be used again, from offset 0.
    create_topic(&mut c, &topic, 1);
    let r = produce(&mut c, 9, &topic, 0, make_value_batch(1, 10, 0), -1);
    assert_eq!((r.error_code, r.base_offset), (0, 0));
}
