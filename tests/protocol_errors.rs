//! Exact error codes on the produce and fetch paths, against a real broker,
//! at every Produce version that is served (v3..): each refusal goes into the
//! partition's error code of a response that still decodes as the request's
//! version. Expected codes are Kafka's (`ProduceRequest.validateRecords`,
//! `LogValidator`, `UnifiedLog.analyzeAndValidateRecords`,
//! `ProducerStateManager`).

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest};
use runnel::log::testing::{make_batch, make_value_batch};
use runnel::protocol::versions::{PRODUCE_REFUSED_BELOW, supported_range};
use uuid::Uuid;

const NONE: i16 = 0;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const CORRUPT_MESSAGE: i16 = 2;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const MESSAGE_TOO_LARGE: i16 = 10;
const INVALID_REQUIRED_ACKS: i16 = 21;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_RECORD: i16 = 87;

/// The errors broker: a small `message.max.bytes` so that "too large" is cheap.
const MAX_MESSAGE_BYTES: usize = 4000;
const OVERRIDES: &[(&str, &str)] = &[("message.max.bytes", "4000")];

fn broker() -> &'static BrokerProcess {
    shared_broker_with(OVERRIDES)
}

fn produce_versions() -> std::ops::RangeInclusive<i16> {
    PRODUCE_REFUSED_BELOW..=supported_range(ApiKey::Produce).expect("served").max
}

/// Produces `records` at every served version (fresh connection each) and
/// expects `code`, reporting every version that differs.
fn expect_code_every_version(what: &str, topic: &str, acks: i16, records: Bytes, code: i16) {
    let b = broker();
    let mut failures = Failures::new(what);
    for v in produce_versions() {
        let mut c = b.connect();
        failures.check(
            v,
            (|| {
                let p = try_produce(&mut c, v, topic, 0, records.clone(), acks)
                    .map_err(call_err("produce"))?;
                ensure_eq!(
                    p.error_code,
                    code,
                    "error_code (message {:?})",
                    p.error_message.as_deref()
                );
                ensure_eq!(p.base_offset, -1, "base_offset of a refused batch");
                Ok(())
            })(),
        );
    }
    failures.finish(b);
}

/// Log end offset as Fetch v12 reports it (high watermark on one node).
fn high_watermark(c: &mut Client, topic: &str) -> i64 {
    let d = fetch(c, 12, topic, Uuid::nil(), 0, 0);
    assert_eq!(d.error_code, NONE, "fetch of {topic}");
    d.high_watermark
}

fn new_topic(prefix: &str) -> String {
    let t = unique_topic(prefix);
    create_topic(&mut broker().connect(), &t, 1);
    t
}

#[test]
fn produce_to_an_unknown_topic_is_unknown_topic_or_partition() {
    let missing = unique_topic("err-missing");
    expect_code_every_version(
        "unknown topic",
        &missing,
        1,
        make_value_batch(1, 10, 0),
        UNKNOWN_TOPIC_OR_PARTITION,
    );
    // A partition the topic does not have.
    let topic = new_topic("err-partition");
    let mut c = broker().connect();
    for v in produce_versions() {
        let p = produce(&mut c, v, &topic, 5, make_value_batch(1, 10, 0), 1);
        assert_eq!(p.error_code, UNKNOWN_TOPIC_OR_PARTITION, "v{v}");
    }
}

#[test]
fn acks_other_than_minus_one_zero_one_is_invalid_required_acks() {
    let topic = new_topic("err-acks");
    expect_code_every_version(
        "acks=2",
        &topic,
        2,
        make_value_batch(1, 10, 0),
        INVALID_REQUIRED_ACKS,
    );
    expect_code_every_version(
        "acks=-2",
        &topic,
        -2,
        make_value_batch(1, 10, 0),
        INVALID_REQUIRED_ACKS,
    );
    assert_eq!(
        high_watermark(&mut broker().connect(), &topic),
        0,
        "nothing appended"
    );
}

#[test]
fn a_flipped_byte_fails_the_crc_with_corrupt_message() {
    let topic = new_topic("err-crc");
    let mut bad = BytesMut::from(&make_value_batch(3, 20, 0)[..]);
    let last = bad.len() - 3; // inside the last record's value
    bad[last] ^= 0x01;
    expect_code_every_version("corrupt CRC", &topic, 1, bad.freeze(), CORRUPT_MESSAGE);
    // The first record's attributes byte (unused by Kafka, covered by the
    // CRC): position 62, after the 61-byte header and a 1-byte length varint.
    let mut bad = BytesMut::from(&make_value_batch(1, 20, 0)[..]);
    assert_eq!(bad[62], 0);
    bad[62] = 0x01;
    expect_code_every_version(
        "corrupt record attributes",
        &topic,
        1,
        bad.freeze(),
        CORRUPT_MESSAGE,
    );
    assert_eq!(
        high_watermark(&mut broker().connect(), &topic),
        0,
        "nothing appended"
    );
}

/// CRC-32 (IEEE), the checksum of message format v0/v1.
fn crc32_ieee(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A valid message set of one magic-1 message (the pre-0.11 format).
fn magic1_message(value: &[u8]) -> Bytes {
    let mut body = Vec::new();
    body.push(1u8); // magic
    body.push(0u8); // attributes
    body.extend_from_slice(&1_000i64.to_be_bytes()); // timestamp
    body.extend_from_slice(&(-1i32).to_be_bytes()); // null key
    body.extend_from_slice(&(value.len() as i32).to_be_bytes());
    body.extend_from_slice(value);
    let mut msg = Vec::new();
    msg.extend_from_slice(&0i64.to_be_bytes()); // offset
    msg.extend_from_slice(&((4 + body.len()) as i32).to_be_bytes()); // size
    msg.extend_from_slice(&crc32_ieee(&body).to_be_bytes());
    msg.extend_from_slice(&body);
    Bytes::from(msg)
}

/// Kafka: "Produce requests with version N are only allowed to contain
/// record batches with magic version 2" (InvalidRecordException).
#[test]
fn a_magic_one_message_set_is_invalid_record() {
    let topic = new_topic("err-magic");
    expect_code_every_version("magic 1", &topic, 1, magic1_message(b"old"), INVALID_RECORD);
    assert_eq!(
        high_watermark(&mut broker().connect(), &topic),
        0,
        "nothing appended"
    );
}

/// Kafka: exactly one batch per partition, and at least one
/// (`ProduceRequest.validateRecords`, InvalidRecordException).
#[test]
fn not_exactly_one_batch_is_invalid_record() {
    let topic = new_topic("err-batches");
    let mut two = BytesMut::from(&make_value_batch(1, 10, 0)[..]);
    two.extend_from_slice(&make_value_batch(1, 10, 0));
    expect_code_every_version("two batches", &topic, 1, two.freeze(), INVALID_RECORD);
    expect_code_every_version("no batch", &topic, 1, Bytes::new(), INVALID_RECORD);
    // A batch cut short has no complete batch in it either: Kafka's batch
    // iterator yields nothing, so this is "at least one record batch", not a
    // CRC failure.
    let whole = make_value_batch(2, 50, 0);
    expect_code_every_version(
        "truncated batch",
        &topic,
        1,
        whole.slice(..whole.len() - 10),
        INVALID_RECORD,
    );
    assert_eq!(
        high_watermark(&mut broker().connect(), &topic),
        0,
        "nothing appended"
    );
}

#[test]
fn a_batch_over_message_max_bytes_is_message_too_large() {
    let topic = new_topic("err-large");
    let big = make_value_batch(2, MAX_MESSAGE_BYTES, 0);
    assert!(big.len() > MAX_MESSAGE_BYTES);
    expect_code_every_version("over message.max.bytes", &topic, 1, big, MESSAGE_TOO_LARGE);
    // Just under the limit is fine.
    let fits = make_value_batch(1, MAX_MESSAGE_BYTES - 200, 0);
    assert!(fits.len() <= MAX_MESSAGE_BYTES);
    let p = produce(&mut broker().connect(), 9, &topic, 0, fits, 1);
    assert_eq!(p.error_code, NONE);
    assert_eq!(high_watermark(&mut broker().connect(), &topic), 1);
}

/// The topic-level `max.message.bytes` overrides the broker default.
#[test]
fn topic_max_message_bytes_overrides_the_broker_limit() {
    let topic = unique_topic("err-topic-limit");
    let mut c = broker().connect();
    assert_eq!(
        create_topic_code(&mut c, &topic, 1, &[("max.message.bytes", "500")]),
        NONE
    );
    let p = produce(&mut c, 9, &topic, 0, make_value_batch(1, 600, 0), 1);
    assert_eq!(p.error_code, MESSAGE_TOO_LARGE);
    let p = produce(&mut c, 9, &topic, 0, make_value_batch(1, 100, 0), 1);
    assert_eq!(p.error_code, NONE);
}

#[test]
fn fetch_past_the_log_end_is_offset_out_of_range() {
    let topic = new_topic("err-fetch");
    let mut c = broker().connect();
    let id = topic_id(&mut c, &topic);
    produce(&mut c, 9, &topic, 0, make_value_batch(4, 10, 0), 1);
    let mut failures = Failures::new("fetch past the end");
    let range = supported_range(ApiKey::Fetch).expect("served");
    for v in range.min..=range.max {
        let mut c = broker().connect();
        failures.check(
            v,
            (|| {
                let d = try_fetch(&mut c, v, &topic, id, 0, 5).map_err(call_err("fetch"))?;
                ensure_eq!(d.error_code, OFFSET_OUT_OF_RANGE, "offset 5 of 4");
                ensure_eq!(
                    record_count(d.records.as_deref().unwrap_or_default()),
                    0,
                    "records with the error"
                );
                let d = try_fetch(&mut c, v, &topic, id, 0, -7).map_err(call_err("fetch"))?;
                ensure_eq!(d.error_code, OFFSET_OUT_OF_RANGE, "negative offset");
                let d = try_fetch(&mut c, v, &topic, id, 0, 4).map_err(call_err("fetch"))?;
                ensure_eq!(d.error_code, NONE, "offset at the log end");
                Ok(())
            })(),
        );
    }
    failures.finish(broker());
}

/// Produce v3 and v11 with a fixed producer's batches.
fn idempotent(
    c: &mut Client,
    v: i16,
    topic: &str,
    pid: i64,
    epoch: i16,
    seq: i32,
    n: usize,
) -> (i16, i64) {
    let values: Vec<Vec<u8>> = (0..n).map(|i| format!("s{seq}-{i}").into_bytes()).collect();
    let records: Vec<_> = values.iter().map(|v| (None, Some(&v[..]))).collect();
    let batch = make_batch(&records, 1_000, Some((pid, epoch, seq)));
    let p = produce(c, v, topic, 0, batch, -1);
    (p.error_code, p.base_offset)
}

#[test]
fn idempotent_duplicates_gaps_and_old_epochs() {
    for v in [3, 7, 11] {
        let topic = new_topic(&format!("err-idem{v}"));
        let mut c = broker().connect();
        let (pid, epoch) = init_producer_id(&mut c);
        assert_eq!(epoch, 0);

        assert_eq!(
            idempotent(&mut c, v, &topic, pid, 0, 0, 3),
            (NONE, 0),
            "v{v} first batch"
        );
        assert_eq!(
            idempotent(&mut c, v, &topic, pid, 0, 3, 2),
            (NONE, 3),
            "v{v} second batch"
        );
        // Retries of the last and an earlier batch: the original offsets, no append.
        assert_eq!(
            idempotent(&mut c, v, &topic, pid, 0, 3, 2),
            (NONE, 3),
            "v{v} retry of the last batch"
        );
        assert_eq!(
            idempotent(&mut c, v, &topic, pid, 0, 0, 3),
            (NONE, 0),
            "v{v} retry of an earlier batch"
        );
        assert_eq!(
            high_watermark(&mut c, &topic),
            5,
            "v{v}: duplicates were appended"
        );

        // A gap in the sequence.
        let (code, _) = idempotent(&mut c, v, &topic, pid, 0, 10, 1);
        assert_eq!(code, OUT_OF_ORDER_SEQUENCE_NUMBER, "v{v} sequence gap");
        // The next expected sequence still works after the refusal.
        assert_eq!(
            idempotent(&mut c, v, &topic, pid, 0, 5, 1),
            (NONE, 5),
            "v{v} after the gap"
        );

        // A bumped epoch must start again at sequence 0.
        let (code, _) = idempotent(&mut c, v, &topic, pid, 1, 6, 1);
        assert_eq!(
            code, OUT_OF_ORDER_SEQUENCE_NUMBER,
            "v{v} new epoch, non-zero sequence"
        );
        assert_eq!(
            idempotent(&mut c, v, &topic, pid, 1, 0, 2),
            (NONE, 6),
            "v{v} new epoch"
        );
        // The old epoch is fenced.
        let (code, _) = idempotent(&mut c, v, &topic, pid, 0, 6, 1);
        assert_eq!(code, INVALID_PRODUCER_EPOCH, "v{v} older epoch");
        assert_eq!(
            high_watermark(&mut c, &topic),
            8,
            "v{v}: refused batches were appended"
        );

        // Fetch shows exactly the accepted batches, in order.
        let d = fetch(&mut c, 12, &topic, Uuid::nil(), 0, 0);
        let got: Vec<(i64, i32)> = batches(d.records.as_deref().unwrap_or_default())
            .iter()
            .map(|b| (b.base_offset, b.record_count))
            .collect();
        assert_eq!(got, vec![(0, 3), (3, 2), (5, 1), (6, 2)], "v{v} batches");
    }
}

/// Two partitions in one request: one refusal does not fail the other.
#[test]
fn one_partition_failing_does_not_fail_the_request() {
    let topic = unique_topic("err-mixed");
    let mut c = broker().connect();
    create_topic(&mut c, &topic, 2);
    let mut bad = BytesMut::from(&make_value_batch(1, 20, 0)[..]);
    let n = bad.len();
    bad[n - 1] ^= 0xff;
    let req = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic_name(&topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(make_value_batch(2, 20, 0))),
                    PartitionProduceData::default()
                        .with_index(1)
                        .with_records(Some(bad.freeze())),
                ]),
        ]);
    for v in produce_versions() {
        let resp = c.call(&req, v);
        let mut ps: Vec<(i32, i16)> = resp.responses[0]
            .partition_responses
            .iter()
            .map(|p| (p.index, p.error_code))
            .collect();
        ps.sort();
        assert_eq!(ps, vec![(0, NONE), (1, CORRUPT_MESSAGE)], "v{v}");
    }
}
