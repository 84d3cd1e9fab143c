"""message.max.bytes: a batch just under the limit is stored, one just over is refused.

The broker limits the size of a whole record batch (61 bytes of batch header
plus the record), with MESSAGE_TOO_LARGE (10). Each record is produced alone
so no client can put two large records into one batch.
"""

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError as AioMessageSizeTooLargeError
from confluent_kafka import KafkaError, Producer, TopicPartition
from kafka.errors import MessageSizeTooLargeError

from clients import ck_consume, ck_consumer, ck_create_topic, kp_consume, kp_producer

LIMIT = 100_000
UNDER = LIMIT - 300  # value bytes; batch ~ LIMIT - 220
OVER = LIMIT + 100
from registry import covers


@pytest.fixture
def small_broker(broker_factory):
    return broker_factory({"message.max.bytes": str(LIMIT), "auto.create.topics.enable": "false"})


def value_of(size: int, tag: str) -> bytes:
    head = f"{tag}:".encode()
    return head + bytes(i % 251 for i in range(size - len(head)))


@covers("large-records", clients=["ck"])
def test_confluent_near_and_over_limit(small_broker, topic_name):
    topic = topic_name()
    ck_create_topic(small_broker.bootstrap, topic)
    p = Producer({"bootstrap.servers": small_broker.bootstrap, "acks": "all", "linger.ms": 0,
                  "compression.type": "none", "retries": 0})
    results = []

    def cb(err, msg):
        results.append((err, msg.offset()))

    under = value_of(UNDER, "under")
    p.produce(topic, key=b"k", value=under, partition=0, on_delivery=cb)
    assert p.flush(30) == 0
    p.produce(topic, key=b"k", value=value_of(OVER, "over"), partition=0, on_delivery=cb)
    assert p.flush(30) == 0
    p.produce(topic, key=b"k2", value=b"small after refusal", partition=0, on_delivery=cb)
    assert p.flush(30) == 0

    assert results[0] == (None, 0)
    err, _ = results[1]
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, f"over-limit record: {err}"
    assert results[2] == (None, 1), "the refused batch must not take an offset"

    got = kp_consume(small_broker.bootstrap, topic, {0: 2}, max_partition_fetch_bytes=2 * LIMIT)[0]
    assert [(g.offset, g.key, g.value) for g in got] == [(0, b"k", under), (1, b"k2", b"small after refusal")]


@covers("large-records", clients=["kp", "aio"])
def test_kafka_python_and_aiokafka_near_and_over_limit(small_broker, topic_name):
    topic = topic_name()
    ck_create_topic(small_broker.bootstrap, topic)

    p = kp_producer(small_broker.bootstrap, linger_ms=0, retries=0)
    try:
        under = value_of(UNDER, "kp-under")
        md = p.send(topic, key=b"k", value=under, partition=0).get(timeout=30)
        assert md.offset == 0
        with pytest.raises(MessageSizeTooLargeError):
            p.send(topic, key=b"k", value=value_of(OVER, "kp-over"), partition=0).get(timeout=30)
    finally:
        p.close(timeout=10)

    async def aio():
        ap = AIOKafkaProducer(bootstrap_servers=small_broker.bootstrap, acks="all", linger_ms=0,
                              max_request_size=4 * LIMIT)
        await ap.start()
        try:
            under2 = value_of(UNDER, "aio-under")
            md2 = await ap.send_and_wait(topic, key=b"a", value=under2, partition=0)
            with pytest.raises(AioMessageSizeTooLargeError):
                await ap.send_and_wait(topic, key=b"a", value=value_of(OVER, "aio-over"), partition=0)
            return under2, md2.offset
        finally:
            await ap.stop()

    under2, off2 = asyncio.run(aio())
    assert off2 == 1

    got = ck_consume(small_broker.bootstrap, topic, {0: 2})[0]
    assert [(g.offset, g.value) for g in got] == [(0, under), (1, under2)]

    c = ck_consumer(small_broker.bootstrap)
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 2)
    finally:
        c.close()


def test_describe_configs_shows_the_limit(small_broker, topic_name):
    """The topic's max.message.bytes defaults to the broker's message.max.bytes."""
    from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, ResourceType

    topic = topic_name()
    ck_create_topic(small_broker.bootstrap, topic)
    admin = AdminClient({"bootstrap.servers": small_broker.bootstrap})
    res = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([res])[res].result(timeout=30)
    entry = entries["max.message.bytes"]
    assert entry.value == str(LIMIT)
    assert ConfigSource(entry.source) == ConfigSource.STATIC_BROKER_CONFIG, f"source {entry.source}"

