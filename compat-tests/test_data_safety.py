"""Data safety on one node (issue 10): what a review against Kafka's
semantics found losing, resurrecting or mangling data, each shown with real
clients (raw frames where no client sends the bytes) against the real broker.

- Retention honours `cleanup.policy` (compacted topics, `__consumer_offsets`
  included, are never aged out), deletes an expired active segment, and
  `segment.ms` survives restarts.
- Produce validates records as Kafka's LogValidator does: sequence -1 with a
  producer id, unknown codecs, client control batches, zstd below v7,
  timestamps out of range, keyless records on compacted topics; recompresses
  to the topic's codec; enforces `min.insync.replicas`.
- DeleteRecords on a compacted topic is a policy violation.
- Fetch honours `max_bytes` (KIP-74); look-ups by time are exact inside
  compressed batches; a zstd topic is refused to Fetch below v10.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTP
from kafka.errors import InvalidTimestampError, PolicyViolationError

import wire
import wire_records as wr
from clients import ck_conf, ck_consume, ck_create_topic, ck_produce, kp_consume, make_records, Rec, wait_until

ERR_INVALID_RECORD = 87
ERR_INVALID_TIMESTAMP = 32
ERR_UNSUPPORTED_COMPRESSION_TYPE = 76
ERR_POLICY_VIOLATION = 44


def earliest_latest(bootstrap: str, topic: str, partition: int = 0) -> tuple[int, int]:
    admin = AdminClient(ck_conf(bootstrap))
    tp = TopicPartition(topic, partition)
    lo = admin.list_offsets({tp: OffsetSpec.earliest()})[tp].result(timeout=10).offset
    hi = admin.list_offsets({tp: OffsetSpec.latest()})[tp].result(timeout=10).offset
    return lo, hi


def raw_produce(bootstrap: str, topic: str, records: bytes, version: int = 8, acks: int = -1,
                partition: int = 0) -> wr.PartitionProduce:
    with wire.connect(bootstrap) as s:
        return wr.parse_produce(wire.request(s, wr.produce_request(1, version, topic, partition, records, acks)),
                                version)


# --- retention and cleanup.policy ----------------------------------------------------

FAST_RETENTION = {"log.retention.check.interval.ms": "300"}


@pytest.mark.parametrize("client", ["confluent-kafka", "kafka-python"])
def test_a_compacted_topic_is_never_aged_out(broker_factory, topic_name, client):
    """Item 1: time and size retention apply only with `delete` in the policy."""
    b = broker_factory(FAST_RETENTION)
    compacted, deleted = topic_name("compact"), topic_name("delete")
    short = {"retention.ms": "500", "retention.bytes": "1", "segment.ms": "100"}
    ck_create_topic(b.bootstrap, compacted, config={"cleanup.policy": "compact", **short})
    ck_create_topic(b.bootstrap, deleted, config={"cleanup.policy": "delete", **short})
    now = int(time.time() * 1000)
    for topic in (compacted, deleted):
        recs = [Rec(0, f"k{i}".encode(), b"v", timestamp_ms=now - 5_000 + i) for i in range(3)]
        if client == "confluent-kafka":
            ck_produce(b.bootstrap, topic, recs)
        else:
            p = KafkaProducer(bootstrap_servers=b.bootstrap, acks="all")
            for r in recs:
                p.send(topic, key=r.key, value=r.value, partition=0, timestamp_ms=r.timestamp_ms).get(30)
            p.close()
    # The delete topic is purged (its active segment too); the compacted one keeps everything.
    wait_until("the delete topic purged", lambda: earliest_latest(b.bootstrap, deleted) == (3, 3))
    time.sleep(1.0)  # several more retention rounds
    assert earliest_latest(b.bootstrap, compacted) == (0, 3)
    b.restart()
    assert earliest_latest(b.bootstrap, compacted) == (0, 3)
    got = ck_consume(b.bootstrap, compacted, {0: 3})
    assert [m.key for m in got[0]] == [b"k0", b"k1", b"k2"]


def test_idle_group_offsets_survive_short_retention_and_a_restart(broker_factory, topic_name):
    """Item 1, seen as 42 -> -1001: `__consumer_offsets` is compacted and was aged out."""
    b = broker_factory({"log.retention.ms": "500", "log.roll.ms": "200", **FAST_RETENTION})
    topic = topic_name()
    ck_create_topic(b.bootstrap, topic)
    ck_produce(b.bootstrap, topic, make_records(50, 1))
    group = topic_name("idle-group")
    from confluent_kafka import Consumer
    c = Consumer(ck_conf(b.bootstrap, **{"group.id": group, "enable.auto.commit": False}))
    c.commit(offsets=[TopicPartition(topic, 0, 42)], asynchronous=False)
    c.close()
    time.sleep(2.0)  # many retention rounds past log.retention.ms
    b.restart()
    for committed in (
        lambda: Consumer(ck_conf(b.bootstrap, **{"group.id": group})).committed([TopicPartition(topic, 0)],
                                                                               timeout=10)[0].offset,
        lambda: KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=group,
                              enable_auto_commit=False).committed(KpTP(topic, 0)),
    ):
        assert committed() == 42


def test_retention_purges_an_idle_topic_without_a_roll(broker_factory, topic_name):
    """Item 8: an expired active segment is rolled and deleted, as Kafka does,
    however often the broker restarts."""
    b = broker_factory(FAST_RETENTION)
    topic = topic_name()
    ck_create_topic(b.bootstrap, topic, config={"retention.ms": "1000"})
    ck_produce(b.bootstrap, topic, make_records(3, 1))
    b.restart()  # a restart used to restart the segment.ms clock
    wait_until("the topic purged", lambda: earliest_latest(b.bootstrap, topic) == (3, 3), timeout=15)
    # Keep what comes next, and append after the purge.
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource
    res = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "600000", incremental_operation=AlterConfigOpType.SET)])
    admin = AdminClient(ck_conf(b.bootstrap))
    admin.incremental_alter_configs([res])[res].result(timeout=10)
    ck_produce(b.bootstrap, topic, make_records(2, 1, seed="after"))
    got = ck_consume(b.bootstrap, topic, {0: 2}, start={0: 3})
    assert [m.offset for m in got[0]] == [3, 4]


# --- produce validation --------------------------------------------------------------

def test_a_producer_id_with_sequence_minus_one_is_refused(broker, topic_name):
    """Item 3: three such batches were each acknowledged at offset 0 and two dropped."""
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic)
    now = int(time.time() * 1000)
    for values in ([b"first"], [b"second"], [b"third", b"fourth"]):
        b = wr.batch([(None, v) for v in values], now, producer_id=4242, producer_epoch=0, base_sequence=-1)
        got = raw_produce(broker.bootstrap, topic, b, version=3)
        assert got.error_code == ERR_INVALID_RECORD, got
    assert earliest_latest(broker.bootstrap, topic) == (0, 0)


def test_batches_that_would_poison_consumers_are_refused(broker, topic_name):
    """Item 6: unknown codecs, client control batches and zstd below Produce v7
    were stored and broke every consumer of the partition."""
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic)
    now = int(time.time() * 1000)
    recs = [(None, b"poison")]
    for codec in (5, 6, 7):
        got = raw_produce(broker.bootstrap, topic, wr.batch(recs, now, attributes=codec))
        assert got.error_code == ERR_INVALID_RECORD, (codec, got)
        assert "compression" in (got.error_message or ""), got
    got = raw_produce(broker.bootstrap, topic, wr.batch(recs, now, attributes=0x20))
    assert got.error_code == ERR_INVALID_RECORD and "control" in (got.error_message or ""), got
    import zstandard
    section = zstandard.ZstdCompressor().compress(wr.records_section(recs))
    zstd_batch = wr.batch(recs, now, attributes=4, section=section)
    assert raw_produce(broker.bootstrap, topic, zstd_batch, version=6).error_code == ERR_UNSUPPORTED_COMPRESSION_TYPE
    # Records that do not decode inside a valid compressed envelope.
    garbage = wr.batch(recs, now, attributes=4, section=zstandard.ZstdCompressor().compress(b"\x99" * 40))
    assert raw_produce(broker.bootstrap, topic, garbage).error_code == ERR_INVALID_RECORD
    assert earliest_latest(broker.bootstrap, topic) == (0, 0)
    # zstd from v7 on is fine, and both a librdkafka and a kafka-python consumer read it.
    assert raw_produce(broker.bootstrap, topic, zstd_batch, version=7).error_code == 0
    ck_produce(broker.bootstrap, topic, make_records(5, 1))
    assert len(ck_consume(broker.bootstrap, topic, {0: 6})[0]) == 6
    assert len(kp_consume(broker.bootstrap, topic, {0: 6})[0]) == 6


def test_timestamps_out_of_range_are_refused(broker_factory, topic_name):
    """Item 10: `message.timestamp.after.max.ms` (1 h by default in Kafka 4)
    and `before.max.ms` are enforced per record (KIP-467 record errors)."""
    b = broker_factory()
    topic = topic_name()
    ck_create_topic(b.bootstrap, topic, config={"message.timestamp.before.max.ms": "86400000"})
    now = int(time.time() * 1000)
    ten_years = 10 * 365 * 86_400_000
    p = Producer(ck_conf(b.bootstrap, **{"acks": "all", "retries": 0}))
    errors = []
    for ts in (now + ten_years, now - 2 * 86_400_000):
        p.produce(topic, value=b"v", partition=0, timestamp=ts,
                  on_delivery=lambda err, msg: errors.append(err))
        p.flush(30)
    assert [e.code() for e in errors] == [KafkaError.INVALID_TIMESTAMP] * 2, errors
    kp = KafkaProducer(bootstrap_servers=b.bootstrap, acks="all", retries=0)
    with pytest.raises(InvalidTimestampError):
        kp.send(topic, value=b"v", partition=0, timestamp_ms=now + ten_years).get(30)
    kp.close()
    # Raw: the record errors name the offending record of a mixed batch.
    mixed = wr.batch([(None, b"ok"), (None, b"late")], now, section=wr.records_section(
        [(None, b"ok"), (None, b"late")], timestamp_deltas=[0, ten_years]))
    got = raw_produce(b.bootstrap, topic, mixed)
    assert got.error_code == ERR_INVALID_TIMESTAMP
    assert [i for i, _ in got.record_errors] == [1], got
    assert earliest_latest(b.bootstrap, topic) == (0, 0)
    ck_produce(b.bootstrap, topic, [Rec(0, None, b"now", timestamp_ms=now)])
    assert earliest_latest(b.bootstrap, topic) == (0, 1)


def test_a_compacted_topic_refuses_keyless_records(broker, topic_name):
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, config={"cleanup.policy": "compact"})
    now = int(time.time() * 1000)
    got = raw_produce(broker.bootstrap, topic, wr.batch([(b"k", b"v"), (None, b"no key")], now))
    assert got.error_code == ERR_INVALID_RECORD
    assert [i for i, _ in got.record_errors] == [1]
    p = Producer(ck_conf(broker.bootstrap, **{"acks": "all", "retries": 0}))
    errors = []
    p.produce(topic, value=b"no key", partition=0, on_delivery=lambda err, msg: errors.append(err))
    p.flush(30)
    assert [e.code() for e in errors] == [KafkaError.INVALID_RECORD]
    ck_produce(broker.bootstrap, topic, [Rec(0, b"k", b"v")])
    assert earliest_latest(broker.bootstrap, topic) == (0, 1)


@pytest.mark.parametrize("topic_codec,producer_codec", [("zstd", "lz4"), ("uncompressed", "gzip"),
                                                        ("lz4", "none")])
def test_the_topic_codec_is_what_is_stored(broker, topic_name, topic_codec, producer_codec):
    """Item 10: `compression.type` recompresses, as Kafka does."""
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, config={"compression.type": topic_codec})
    recs = make_records(200, 1)
    ck_produce(broker.bootstrap, topic, recs, **{"compression.type": producer_codec, "linger.ms": 50})
    want = {"uncompressed": "none"}.get(topic_codec, topic_codec)
    # Read the stored batches from the segment itself (a zstd topic refuses
    # the raw Fetch v4 of `wire`).
    segment = broker.data_dir / f"{topic}-0" / "00000000000000000000.log"
    headers = wire.batch_headers(segment.read_bytes())
    assert sum(h.record_count for h in headers) == 200
    assert {h.codec for h in headers} == {want}
    got = ck_consume(broker.bootstrap, topic, {0: 200})
    assert [m.value for m in got[0]] == [r.value for r in recs]
    assert [m.key for m in kp_consume(broker.bootstrap, topic, {0: 200})[0]] == [r.key for r in recs]


def test_min_insync_replicas_above_the_replica_count_is_capped_at_it(broker, topic_name):
    """Item 10, as Kafka 4.x answers it: min.insync.replicas counts up to the
    replication factor (Kafka's `Partition.effectiveMinIsr`, since 3.7), so
    one replica in sync satisfies min.insync.replicas=2 on a topic of one
    replica. The refusal below min ISR is test_replication's, on RF=3."""
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, config={"min.insync.replicas": "2"})
    ck_produce(broker.bootstrap, topic, make_records(1, 1), acks="all", **{"enable.idempotence": False})
    kp = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", retries=0)
    kp.send(topic, value=b"v", partition=0).get(30)
    kp.close()
    ck_produce(broker.bootstrap, topic, make_records(1, 1), acks="1")
    assert earliest_latest(broker.bootstrap, topic) == (0, 3)


def test_delete_records_on_a_compacted_topic_is_a_policy_violation(broker, topic_name):
    """Item 11."""
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, config={"cleanup.policy": "compact"})
    ck_produce(broker.bootstrap, topic, [Rec(0, b"k", b"v1"), Rec(0, b"k", b"v2")])
    admin = AdminClient(ck_conf(broker.bootstrap))
    fut = admin.delete_records([TopicPartition(topic, 0, 1)])[TopicPartition(topic, 0, 1)]
    with pytest.raises(KafkaException) as e:
        fut.result(timeout=10)
    assert e.value.args[0].code() == KafkaError.POLICY_VIOLATION
    kadmin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        with pytest.raises(PolicyViolationError):
            kadmin.delete_records({KpTP(topic, 0): 1})
    finally:
        kadmin.close()
    assert earliest_latest(broker.bootstrap, topic) == (0, 2)
    # An internal topic is refused before any policy, as Kafka refuses it.
    offsets = TopicPartition("__consumer_offsets", 0, 0)
    from confluent_kafka import Consumer
    c = Consumer(ck_conf(broker.bootstrap, **{"group.id": topic}))
    c.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)  # the offsets topic exists
    c.close()
    fut = admin.delete_records([offsets])[offsets]
    with pytest.raises(KafkaException) as e:
        fut.result(timeout=10)
    assert e.value.args[0].code() == KafkaError.TOPIC_EXCEPTION


# --- fetch and look-ups ----------------------------------------------------------------

def test_fetch_max_bytes_bounds_the_whole_response(broker, topic_name):
    """Item 12: every partition got a whole batch, so two 100 KB batches came
    back for max_bytes=150000. Only the first partition may overshoot."""
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, partitions=2)
    big = b"x" * 100_000
    ck_produce(broker.bootstrap, topic, [Rec(0, None, big), Rec(1, None, big)])
    import struct
    body = struct.pack(">iiiib", -1, 500, 1, 150_000, 0)
    body += struct.pack(">i", 1) + wire.string(topic)
    body += struct.pack(">i", 2) + struct.pack(">iqi", 0, 0, 1 << 20) + struct.pack(">iqi", 1, 0, 1 << 20)
    with wire.connect(broker.bootstrap) as s:
        payload = wire.request(s, wire.header_v1(wire.API_FETCH, 4, 7) + body)
    r = wire.Reader(payload)
    r.take(">i"), r.take(">i")
    assert r.take(">i") == 1
    r.string()
    sizes = {}
    for _ in range(r.take(">i")):
        partition, err, _hw, _lso = r.take(">ihqq")
        assert err == 0
        for _ in range(max(r.take(">i"), 0)):
            r.take(">qq")
        sizes[partition] = len(r.bytes_() or b"")
    assert sum(sizes.values()) <= 150_000, sizes
    assert max(sizes.values()) > 100_000, "the first partition with data still gets its whole batch"
    # A librdkafka consumer whose receive buffer is sized to fetch.max.bytes reads it all.
    got = ck_consume(broker.bootstrap, topic, {0: 1, 1: 1},
                     **{"fetch.max.bytes": 150_000, "message.max.bytes": 150_000,
                        "receive.message.max.bytes": 150_512})
    assert sum(len(v) for v in got.values()) == 2


@pytest.mark.parametrize("codec", ["lz4", "zstd", "gzip", "snappy"])
def test_offsets_for_times_is_exact_inside_a_compressed_batch(broker, topic_name, codec):
    """Item 13: a compressed batch answered with its base offset and max timestamp."""
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic)
    t0 = int(time.time() * 1000) - 60_000
    # Compressible values: librdkafka sends a batch uncompressed when
    # compression would not make it smaller.
    recs = [Rec(0, None, f"v{i}-".encode() + b"z" * 300, timestamp_ms=t0 + i) for i in range(10)]
    ck_produce(broker.bootstrap, topic, recs, **{"compression.type": codec, "linger.ms": 200})
    headers = wire.fetch_all_batch_headers(broker.bootstrap, topic, 0, 10)
    assert len(headers) == 1 and headers[0].codec == codec, headers
    from confluent_kafka import Consumer
    c = Consumer(ck_conf(broker.bootstrap, **{"group.id": topic}))
    found = c.offsets_for_times([TopicPartition(topic, 0, t0 + 5)], timeout=10)[0]
    c.close()
    assert found.offset == 5
    kc = KafkaConsumer(bootstrap_servers=broker.bootstrap)
    answer = kc.offsets_for_times({KpTP(topic, 0): t0 + 5})[KpTP(topic, 0)]
    kc.close()
    assert (answer.offset, answer.timestamp) == (5, t0 + 5)
    admin = AdminClient(ck_conf(broker.bootstrap))
    tp = TopicPartition(topic, 0)
    latest = admin.list_offsets({tp: OffsetSpec.max_timestamp()})[tp].result(timeout=10)
    assert (latest.offset, latest.timestamp) == (9, t0 + 9)


def test_a_zstd_topic_is_refused_to_old_fetch_versions(broker, topic_name):
    """Item 14: Kafka answers UNSUPPORTED_COMPRESSION_TYPE below Fetch v10."""
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, config={"compression.type": "zstd"})
    ck_produce(broker.bootstrap, topic, make_records(3, 1))
    with wire.connect(broker.bootstrap) as s:
        err, _hw, _records = wire.parse_fetch_v4(wire.request(s, wire.fetch_v4(1, topic, 0, 0)))
    assert err == ERR_UNSUPPORTED_COMPRESSION_TYPE
    assert len(ck_consume(broker.bootstrap, topic, {0: 3})[0]) == 3


def test_offset_for_leader_epoch_past_the_current_epoch_is_undefined(broker, topic_name):
    """Item 14: Kafka's LeaderEpochFileCache answers (-1, -1) for a newer epoch."""
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic)
    ck_produce(broker.bootstrap, topic, make_records(4, 1))
    with wire.connect(broker.bootstrap) as s:
        now = wr.parse_offset_for_leader_epoch_v3(wire.request(s, wr.offset_for_leader_epoch_v3(1, topic, 0, 0)))
        later = wr.parse_offset_for_leader_epoch_v3(wire.request(s, wr.offset_for_leader_epoch_v3(2, topic, 0, 5)))
    assert now == (0, 0, 4)
    assert later == (0, -1, -1)


def test_a_failed_acks0_produce_closes_the_connection(broker, topic_name):
    """Item 14: Kafka closes the connection so the producer refreshes its metadata."""
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic)
    now = int(time.time() * 1000)
    ok = wr.batch([(None, b"v")], now)
    with wire.connect(broker.bootstrap) as s:
        s.sendall(wire.frame(wr.produce_request(1, 8, topic, 0, ok, acks=0)))
        s.sendall(wire.frame(wr.produce_request(2, 8, topic, 9, ok, acks=0)))  # no partition 9
        closed, sent = wire.closed_by_peer(s, timeout=10)
    assert closed and sent == b""
    with wire.connect(broker.bootstrap) as s:
        s.sendall(wire.frame(wr.produce_request(3, 8, topic, 0, ok, acks=0)))
        closed, _ = wire.closed_by_peer(s, timeout=1)
    assert not closed, "a successful acks=0 produce keeps the connection"
    assert earliest_latest(broker.bootstrap, topic) == (0, 2)


def test_producer_expiry_follows_the_dynamic_config_and_batch_timestamps(broker_factory, topic_name):
    """Item 14: producer.id.expiration.ms is a dynamic broker config in Kafka,
    and a producer expires that long after its last batch's own timestamp."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource
    b = broker_factory(FAST_RETENTION)
    topic = topic_name()
    ck_create_topic(b.bootstrap, topic)
    now = int(time.time() * 1000)
    idem = lambda seq: wr.batch([(None, b"v")], now, producer_id=777, producer_epoch=0, base_sequence=seq)  # noqa: E731
    assert raw_produce(b.bootstrap, topic, idem(0)).error_code == 0
    assert raw_produce(b.bootstrap, topic, idem(5)).error_code == 45, "a gap while the producer is known"
    admin = AdminClient(ck_conf(b.bootstrap))
    res = ConfigResource(ConfigResource.Type.BROKER, "1", incremental_configs=[
        ConfigEntry("producer.id.expiration.ms", "1000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([res])[res].result(timeout=10)
    # The batch is stamped `now`: a second later, the next round expires it,
    # and an unknown producer may start at any sequence (KIP-360).
    wait_until("the producer expired", lambda: raw_produce(b.bootstrap, topic, idem(5)).error_code == 0,
               timeout=15, interval=0.5)
    assert earliest_latest(b.bootstrap, topic) == (0, 2)
