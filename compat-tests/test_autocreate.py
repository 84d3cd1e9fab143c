"""auto.create.topics.enable: unknown topics are created with num.partitions, or refused.

Kafka creates a topic when a Metadata request that allows auto-creation names
it (producers allow it); with the setting off it answers
UNKNOWN_TOPIC_OR_PARTITION (3) and creates nothing.
"""

import time

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from clients import aio_produce, ck_consume, kcat_metadata, kp_consumer, kp_produce, Rec

PARTITIONS = 3


def wait_partitions_kp(bootstrap: str, topic: str, timeout: float = 20) -> set[int]:
    """kafka-python's view of the topic's partitions (empty = unknown topic)."""
    c = kp_consumer(bootstrap)
    try:
        deadline = time.monotonic() + timeout
        parts: set[int] = set()
        while time.monotonic() < deadline:
            # An unknown topic makes kafka-python fetch all-topics metadata again.
            parts = c.partitions_for_topic(topic)
            if parts:
                return parts
            time.sleep(0.1)
        return parts
    finally:
        c.close()


@pytest.fixture
def autocreate_broker(broker_factory):
    return broker_factory({"auto.create.topics.enable": "true", "num.partitions": str(PARTITIONS)})


@pytest.fixture
def no_autocreate_broker(broker_factory):
    return broker_factory({"auto.create.topics.enable": "false", "num.partitions": str(PARTITIONS)})


def test_produce_to_unknown_topic_creates_it(autocreate_broker, topic_name, kcat_path):
    bs = autocreate_broker.bootstrap
    t_kp, t_aio = topic_name("kp"), topic_name("aio")

    assert kp_produce(bs, t_kp, [Rec(2, b"k", b"first")]) == [(2, 0)]
    assert aio_produce(bs, t_aio, [Rec(1, b"k", b"first")]) == [(1, 0)]

    for topic in (t_kp, t_aio):
        md = AdminClient({"bootstrap.servers": bs}).list_topics(topic=topic, timeout=10).topics[topic]
        assert md.error is None and sorted(md.partitions) == list(range(PARTITIONS))
        kc = kcat_metadata(bs, topic)
        assert [len(t["partitions"]) for t in kc["topics"] if t["topic"] == topic] == [PARTITIONS]

    assert [g.value for g in ck_consume(bs, t_kp, {2: 1})[2]] == [b"first"]


def test_metadata_request_creates_topic(autocreate_broker, topic_name):
    """A producer's Metadata request alone (no record) creates the topic."""
    bs = autocreate_broker.bootstrap
    topic = topic_name()
    p = Producer({"bootstrap.servers": bs})  # allow.auto.create.topics defaults to true for producers
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        t = p.list_topics(topic=topic, timeout=5).topics[topic]
        if t.error is None and len(t.partitions) == PARTITIONS:
            break
        # The first answer may be LEADER_NOT_AVAILABLE while the topic is being made.
        assert t.error is None or t.error.code() in (KafkaError.LEADER_NOT_AVAILABLE,
                                                     KafkaError.UNKNOWN_TOPIC_OR_PART), t.error
        time.sleep(0.2)
    assert wait_partitions_kp(bs, topic) == set(range(PARTITIONS))


def test_unknown_topic_refused_when_off(no_autocreate_broker, topic_name, kcat_path):
    bs = no_autocreate_broker.bootstrap
    topic = topic_name()

    md = Producer({"bootstrap.servers": bs}).list_topics(topic=topic, timeout=10)
    assert md.topics[topic].error is not None
    assert md.topics[topic].error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART

    kc = kcat_metadata(bs, topic)
    [entry] = [t for t in kc["topics"] if t["topic"] == topic]
    assert "Unknown topic" in entry.get("error", ""), entry

    p = Producer({"bootstrap.servers": bs, "message.timeout.ms": 3000, "topic.metadata.propagation.max.ms": 1000})
    errors = []
    p.produce(topic, value=b"nowhere", on_delivery=lambda err, msg: errors.append(err))
    p.flush(10)
    assert len(errors) == 1 and errors[0] is not None
    assert errors[0].code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC), errors[0]

    # Nothing was created behind our back.
    assert wait_partitions_kp(bs, topic, timeout=2) == set()
    assert topic not in AdminClient({"bootstrap.servers": bs}).list_topics(timeout=10).topics


def test_the_metadata_log_name_is_reserved(autocreate_broker, kcat_path):
    """`__cluster_metadata-0` holds the metadata log: neither auto-create nor
    CreateTopics may make a topic of that name, and the broker still starts."""
    b = autocreate_broker
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    fut = admin.create_topics([NewTopic("__cluster_metadata", 1, 1)])["__cluster_metadata"]
    with pytest.raises(Exception) as e:
        fut.result(timeout=30)
    assert e.value.args[0].code() == KafkaError.INVALID_REQUEST
    # Metadata with auto-create on: refused, nothing created.
    md = kcat_metadata(b.bootstrap, "__cluster_metadata")
    [t] = md["topics"]
    assert t.get("error") or not t.get("partitions"), t
    assert kp_produce(b.bootstrap, "ordinary-after-reserved", [Rec(0, b"k", b"v")]) == [(0, 0)]
    b.restart()
    assert wait_partitions_kp(b.bootstrap, "ordinary-after-reserved") == set(range(PARTITIONS))
