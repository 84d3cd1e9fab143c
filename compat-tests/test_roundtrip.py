"""Records survive a produce/fetch round trip byte for byte, in order, per partition.

Keys, null keys, tombstones, repeated header names and explicit CreateTime
timestamps, written by one client and read back by a different one.
"""

import time

import pytest

from clients import (RECENT_TS_MS,
    aio_consume,
    aio_produce,
    assert_same_records,
    ck_consume,
    ck_create_topic,
    ck_produce,
    counts,
    expected_offsets,
    kcat_consume,
    kcat_headers,
    kcat_metadata,
    kcat_produce,
    kp_consume,
    kp_produce,
    make_records,
    Rec,
)

TS_BASE = RECENT_TS_MS
from registry import covers


@covers("admin-topics", clients=["ck", "kp", "aio", "kcat"])
def test_all_clients_see_the_broker(broker, kcat_path):
    """Four metadata implementations agree on the one broker and its port."""
    from confluent_kafka.admin import AdminClient
    from kafka import KafkaAdminClient

    md = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10)
    assert [(b.host, b.port) for b in md.brokers.values()] == [("127.0.0.1", broker.port)]

    kp = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        cluster = kp.describe_cluster()
    finally:
        kp.close()
    assert [(b["host"], b["port"]) for b in cluster["brokers"]] == [("127.0.0.1", broker.port)]
    assert cluster["controller_id"] == cluster["brokers"][0]["node_id"]

    kc = kcat_metadata(broker.bootstrap)
    assert [b["name"] for b in kc["brokers"]] == [f"127.0.0.1:{broker.port}"]

    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    async def aio():
        a = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await a.start()
        try:
            return await a.describe_cluster()
        finally:
            await a.close()

    aio_cluster = asyncio.run(aio())
    assert [(b["host"], b["port"]) for b in aio_cluster["brokers"]] == [("127.0.0.1", broker.port)]
    assert aio_cluster["cluster_id"] == cluster["cluster_id"] and cluster["cluster_id"]


@covers("produce", "consume", clients=["ck", "kp"])
@pytest.mark.timeout(300)
def test_confluent_100k_with_keys_headers_timestamps(broker, topic_name):
    """100k records over 4 partitions from librdkafka, read back by librdkafka and kafka-python."""
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, partitions=4)
    recs = make_records(100_000, 4, seed="ck100k", timestamp_base_ms=TS_BASE)

    delivered = ck_produce(broker.bootstrap, topic, recs, **{"linger.ms": 20, "batch.num.messages": 5000})
    # Offsets are assigned densely from 0 in produce order within each partition.
    assert delivered == expected_offsets(recs)

    want = counts(recs)
    assert_same_records(recs, ck_consume(broker.bootstrap, topic, want), first_offset={p: 0 for p in want})
    assert_same_records(recs, kp_consume(broker.bootstrap, topic, want), first_offset={p: 0 for p in want})


CROSS = [
    ("kp", "aio"),
    ("aio", "ck"),
    ("ck", "kp"),
]
PRODUCE = {"ck": ck_produce, "kp": kp_produce, "aio": aio_produce}
CONSUME = {"ck": ck_consume, "kp": kp_consume, "aio": aio_consume}


@pytest.mark.parametrize("producer,consumer", [
    pytest.param(p, c, id=f"{p}-to-{c}", marks=[covers("produce", clients=[p]), covers("consume", clients=[c])])
    for p, c in CROSS])
def test_cross_client_10k(broker, topic_name, producer, consumer):
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, partitions=3)
    recs = make_records(10_000, 3, seed=producer, timestamp_base_ms=TS_BASE + 10_000_000)
    delivered = PRODUCE[producer](broker.bootstrap, topic, recs)
    assert delivered == expected_offsets(recs)
    want = counts(recs)
    assert_same_records(recs, CONSUME[consumer](broker.bootstrap, topic, want), first_offset={p: 0 for p in want})


@covers("produce", clients=["kcat"])
@covers("consume", clients=["kp"])
def test_kcat_produce_read_by_kafka_python(broker, topic_name, kcat_path):
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, partitions=2)
    before_ms = int(time.time() * 1000)
    lines = {p: [(f"k{p}-{i}", f"v{p}-{i}-" + "x" * (i % 50)) for i in range(5000)] for p in range(2)}
    for p, ls in lines.items():
        kcat_produce(broker.bootstrap, topic, p, ls, headers=[("origin", "kcat"), ("part", str(p))])
    after_ms = int(time.time() * 1000)

    got = kp_consume(broker.bootstrap, topic, {0: 5000, 1: 5000})
    for p, ls in lines.items():
        assert [(g.key.decode(), g.value.decode()) for g in got[p]] == ls
        assert [g.offset for g in got[p]] == list(range(5000))
        assert all(g.headers == (("origin", b"kcat"), ("part", str(p).encode())) for g in got[p])
        # kcat lets librdkafka stamp CreateTime at produce time.
        assert all(before_ms - 1000 <= g.timestamp_ms <= after_ms + 1000 for g in got[p])


@covers("produce", clients=["ck"])
@covers("consume", clients=["kcat"])
def test_confluent_produce_read_by_kcat(broker, topic_name, kcat_path):
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, partitions=1)
    # kcat prints payloads as JSON text: keep this data printable.
    recs = [Rec(0, f"key-{i}".encode(), f"value-{i}".encode(), r.headers, r.timestamp_ms)
            for i, r in enumerate(make_records(3000, 1, seed="tokcat", timestamp_base_ms=TS_BASE))]
    ck_produce(broker.bootstrap, topic, recs)

    envelopes = kcat_consume(broker.bootstrap, topic, 0)
    assert len(envelopes) == len(recs)
    for i, (e, r) in enumerate(zip(envelopes, recs)):
        assert e["offset"] == i
        assert e["key"] == r.key.decode() and e["payload"] == r.value.decode()
        assert kcat_headers(e) == r.headers
        assert e["tstype"] == "create" and e["ts"] == r.timestamp_ms
