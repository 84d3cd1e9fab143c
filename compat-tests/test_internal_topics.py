"""Internal topics belong to their coordinator, which alone creates them, with
its own settings.

Kafka's AutoTopicCreationManager hands a Metadata request that may
auto-create `__consumer_offsets` to the group coordinator's settings
(`offsets.topic.num.partitions`, `cleanup.policy=compact`), never to the
broker defaults; Runnel does the same. Runnel has no transaction
coordinator, so `__transaction_state` is never created. A client's
CreateTopics of an internal topic is refused (Kafka would create
`__consumer_offsets` with the request's settings; the coordinator's rule
is the safer one), and answered TOPIC_ALREADY_EXISTS once it exists.
"""

from __future__ import annotations

import struct

import confluent_kafka as ck
import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from kafka import KafkaProducer

import wire
from clients import ck_conf

OFFSETS = "__consumer_offsets"
TXN = "__transaction_state"
OFFSETS_PARTITIONS = 7
ERR_UNKNOWN_TOPIC_OR_PARTITION = 3
ERR_INVALID_REQUEST = 42


def metadata_v4(bootstrap: str, names: list[str], auto_create: bool) -> dict[str, tuple[int, bool, int]]:
    """Metadata v4 for `names`: name -> (error code, is_internal, partitions)."""
    body = struct.pack(">i", len(names)) + b"".join(wire.string(n) for n in names)
    body += struct.pack(">?", auto_create)
    with wire.connect(bootstrap) as s:
        r = wire.request(s, wire.header_v1(wire.API_METADATA, 4, 11) + body)
    off = 8  # correlation id, throttle time
    (brokers,) = struct.unpack_from(">i", r, off)
    off += 4
    for _ in range(brokers):
        off += 4  # node id
        (host,) = struct.unpack_from(">h", r, off)
        off += 2 + host + 4  # host, port
        (rack,) = struct.unpack_from(">h", r, off)
        off += 2 + max(rack, 0)
    (cluster,) = struct.unpack_from(">h", r, off)
    off += 2 + max(cluster, 0) + 4  # cluster id, controller id
    (topics,) = struct.unpack_from(">i", r, off)
    off += 4
    out = {}
    for _ in range(topics):
        (err, name_len) = struct.unpack_from(">hh", r, off)
        off += 4
        name = r[off:off + name_len].decode()
        off += name_len
        (internal, partitions) = struct.unpack_from(">?i", r, off)
        off += 5
        for _ in range(partitions):
            off += 10  # error, index, leader
            for _ in range(2):  # replicas, isr
                (n,) = struct.unpack_from(">i", r, off)
                off += 4 + 4 * n
        out[name] = (err, internal, partitions)
    return out


def topic_configs(bootstrap: str, topic: str) -> dict[str, str]:
    admin = AdminClient(ck_conf(bootstrap))
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return {k: v.value for k, v in admin.describe_configs([res])[res].result(timeout=30).items()}


@pytest.fixture
def fresh_broker(broker_factory):
    return broker_factory({
        "auto.create.topics.enable": "true",
        "num.partitions": "1",
        "offsets.topic.num.partitions": str(OFFSETS_PARTITIONS),
    })


def test_metadata_auto_create_makes_the_offsets_topic_with_the_coordinators_settings(fresh_broker):
    bs = fresh_broker.bootstrap
    # Without auto-creation nothing is created.
    assert metadata_v4(bs, [OFFSETS], False) == {OFFSETS: (ERR_UNKNOWN_TOPIC_OR_PARTITION, True, 0)}
    got = metadata_v4(bs, [OFFSETS, TXN], True)
    assert got[OFFSETS] == (0, True, OFFSETS_PARTITIONS)
    # No transaction coordinator here, so nobody creates its topic.
    assert got[TXN] == (ERR_UNKNOWN_TOPIC_OR_PARTITION, True, 0)
    assert metadata_v4(bs, [TXN], True)[TXN] == (ERR_UNKNOWN_TOPIC_OR_PARTITION, True, 0)
    configs = topic_configs(bs, OFFSETS)
    assert configs["cleanup.policy"] == "compact"
    assert configs["compression.type"] == "producer"


@pytest.mark.parametrize("client", ["ck", "kp"])
def test_clients_asking_for_the_offsets_topic_get_the_coordinators_topic(fresh_broker, client):
    """A tool that reads `__consumer_offsets` before any group exists (a
    console consumer, a lag exporter) must not fix it at the broker
    defaults: here, one partition and `cleanup.policy=delete`."""
    bs = fresh_broker.bootstrap
    if client == "ck":
        # librdkafka producers allow auto-creation in their Metadata requests.
        p = ck.Producer(ck_conf(bs))
        md = p.list_topics(topic=OFFSETS, timeout=30).topics[OFFSETS]
        partitions = len(md.partitions)
    else:
        # kafka-python's producer names the topic in its Metadata request,
        # with auto-creation allowed (its consumer asks for all topics).
        p = KafkaProducer(bootstrap_servers=bs)
        try:
            partitions = len(p.partitions_for(OFFSETS))
        finally:
            p.close()
    assert partitions == OFFSETS_PARTITIONS
    assert topic_configs(bs, OFFSETS)["cleanup.policy"] == "compact"


def test_clients_cannot_create_internal_topics(fresh_broker):
    bs = fresh_broker.bootstrap
    admin = AdminClient(ck_conf(bs))
    for name in (OFFSETS, TXN):
        fs = admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1,
                                           config={"cleanup.policy": "delete"})])
        with pytest.raises(ck.KafkaException) as err:
            fs[name].result(timeout=30)
        assert err.value.args[0].code() == ck.KafkaError.INVALID_REQUEST, name
    assert metadata_v4(bs, [OFFSETS, TXN], False) == {
        OFFSETS: (ERR_UNKNOWN_TOPIC_OR_PARTITION, True, 0),
        TXN: (ERR_UNKNOWN_TOPIC_OR_PARTITION, True, 0),
    }
    # The coordinator creates it on the first group request; from then on a
    # CreateTopics is answered like any other for an existing topic.
    c = ck.Consumer(ck_conf(bs, **{"group.id": "internal-topics"}))
    try:
        assert c.committed([ck.TopicPartition("anything", 0)], timeout=30)[0].offset == ck.OFFSET_INVALID
    finally:
        c.close()
    assert metadata_v4(bs, [OFFSETS], False)[OFFSETS] == (0, True, OFFSETS_PARTITIONS)
    fs = admin.create_topics([NewTopic(OFFSETS, num_partitions=1, replication_factor=1)])
    with pytest.raises(ck.KafkaException) as err:
        fs[OFFSETS].result(timeout=30)
    assert err.value.args[0].code() == ck.KafkaError.TOPIC_ALREADY_EXISTS
