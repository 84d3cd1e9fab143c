"""ListOffsets (earliest, latest, by timestamp, max timestamp) and DeleteRecords.

The partition holds one record per batch with known CreateTime timestamps
that rise by 1 s, except a spike at SPIKE_OFFSET far in the future. Kafka's
rule for a timestamp lookup is "the first offset whose timestamp is >= the
target", so targets past the spike's position but below its timestamp must
find the spike, not the record a naive search would pick.
"""

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition as AioTP
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec
from kafka import KafkaAdminClient
from kafka import TopicPartition as KpTP

from clients import RECENT_TS_MS, ck_consume, ck_consumer, ck_create_topic, ck_produce, kp_consume, kp_consumer, make_records

N = 100
TS0 = RECENT_TS_MS
SPIKE_OFFSET = 57
SPIKE_TS = TS0 + 10_000_000
from registry import covers


def ts_of(i: int) -> int:
    return SPIKE_TS if i == SPIKE_OFFSET else TS0 + i * 1000


def first_offset_at_or_after(target: int) -> int | None:
    for i in range(N):
        if ts_of(i) >= target:
            return i
    return None


# target -> expected offset (None: no such record)
LOOKUPS = {
    TS0 - 5: 0,
    TS0: 0,
    TS0 + 30_500: 31,
    TS0 + 56_000: 56,
    TS0 + 56_001: SPIKE_OFFSET,   # the spike is the first record with ts >= target
    TS0 + 80_000: SPIKE_OFFSET,
    TS0 + 99_000: SPIKE_OFFSET,
    SPIKE_TS: SPIKE_OFFSET,
    SPIKE_TS + 1: None,
}
assert all(first_offset_at_or_after(t) == o for t, o in LOOKUPS.items())


@pytest.fixture
def timed_topic(broker, topic_name):
    """One record per batch (linger 0, flush each) so batch boundaries cannot blur the answers."""
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, partitions=1)
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 0})
    for i in range(N):
        p.produce(topic, key=str(i).encode(), value=f"v{i}".encode(), partition=0, timestamp=ts_of(i))
        assert p.flush(10) == 0
    return topic


@covers("offsets", clients=["ck"])
def test_confluent_list_offsets(broker, timed_topic):
    tp = TopicPartition(timed_topic, 0)
    c = ck_consumer(broker.bootstrap)
    try:
        assert c.get_watermark_offsets(tp, timeout=10) == (0, N)
        for target, expected in LOOKUPS.items():
            [res] = c.offsets_for_times([TopicPartition(timed_topic, 0, target)], timeout=10)
            assert res.error is None
            assert res.offset == (-1 if expected is None else expected), f"target {target}"
    finally:
        c.close()

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})

    def lookup(spec):
        return admin.list_offsets({tp: spec})[tp].result(timeout=30)

    assert lookup(OffsetSpec.earliest()).offset == 0
    assert lookup(OffsetSpec.latest()).offset == N
    mx = lookup(OffsetSpec.max_timestamp())
    assert (mx.offset, mx.timestamp) == (SPIKE_OFFSET, SPIKE_TS)
    found = lookup(OffsetSpec.for_timestamp(TS0 + 30_500))
    assert (found.offset, found.timestamp) == (31, ts_of(31))


@covers("offsets", clients=["kp"])
def test_kafka_python_list_offsets(broker, timed_topic):
    tp = KpTP(timed_topic, 0)
    c = kp_consumer(broker.bootstrap)
    try:
        assert c.beginning_offsets([tp]) == {tp: 0}
        assert c.end_offsets([tp]) == {tp: N}
        for target, expected in LOOKUPS.items():
            got = c.offsets_for_times({tp: target})[tp]
            if expected is None:
                assert got is None, f"target {target}: {got}"
            else:
                assert (got.offset, got.timestamp) == (expected, ts_of(expected)), f"target {target}"
    finally:
        c.close()


@covers("offsets", clients=["aio"])
def test_aiokafka_list_offsets(broker, timed_topic):
    async def run():
        c = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False)
        await c.start()
        try:
            tp = AioTP(timed_topic, 0)
            assert await c.beginning_offsets([tp]) == {tp: 0}
            assert await c.end_offsets([tp]) == {tp: N}
            for target, expected in LOOKUPS.items():
                got = (await c.offsets_for_times({tp: target}))[tp]
                if expected is None:
                    assert got is None, f"target {target}: {got}"
                else:
                    assert (got.offset, got.timestamp) == (expected, ts_of(expected)), f"target {target}"
        finally:
            await c.stop()

    asyncio.run(run())


@covers("delete-records", clients=["ck", "kp"])
def test_delete_records_moves_log_start_offset(broker, topic_name):
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, partitions=3)
    recs = make_records(300, 3, seed="del")
    ck_produce(broker.bootstrap, topic, recs)  # 100 per partition
    values = {p: [r.value for r in recs if r.partition == p] for p in range(3)}

    # confluent-kafka: partition 0 up to offset 40.
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    res = admin.delete_records([TopicPartition(topic, 0, 40)], operation_timeout=30)
    [(tp0, fut)] = res.items()
    info = fut.result(timeout=30)
    assert info.low_watermark == 40

    # kafka-python: partition 1 up to offset 25.
    kp = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        out = kp.delete_records({KpTP(topic, 1): 25})
    finally:
        kp.close()
    assert out[KpTP(topic, 1)]["low_watermark"] == 25

    # Each client sees the other's deletion.
    c = ck_consumer(broker.bootstrap)
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (40, 100)
        assert c.get_watermark_offsets(TopicPartition(topic, 1), timeout=10) == (25, 100)
        assert c.get_watermark_offsets(TopicPartition(topic, 2), timeout=10) == (0, 100)
    finally:
        c.close()
    kc = kp_consumer(broker.bootstrap)
    try:
        tps = [KpTP(topic, p) for p in range(3)]
        assert kc.beginning_offsets(tps) == {tps[0]: 40, tps[1]: 25, tps[2]: 0}
    finally:
        kc.close()

    # Reading "from the beginning" starts at the new log start offset.
    got = kp_consume(broker.bootstrap, topic, {0: 60, 1: 75})
    assert [g.offset for g in got[0]] == list(range(40, 100))
    assert [g.value for g in got[0]] == values[0][40:]
    got = ck_consume(broker.bootstrap, topic, {1: 75})
    assert [g.value for g in got[1]] == values[1][25:]

    # Past the high watermark: OFFSET_OUT_OF_RANGE; the log start does not move.
    res = admin.delete_records([TopicPartition(topic, 2, 500)], operation_timeout=30)
    with pytest.raises(KafkaException) as e:
        list(res.values())[0].result(timeout=30)
    assert e.value.args[0].code() == KafkaError.OFFSET_OUT_OF_RANGE

    # OFFSET_END (-1) deletes up to the high watermark.
    res = admin.delete_records([TopicPartition(topic, 2, -1)], operation_timeout=30)
    assert list(res.values())[0].result(timeout=30).low_watermark == 100
    c = ck_consumer(broker.bootstrap)
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 2), timeout=10) == (100, 100)
    finally:
        c.close()
