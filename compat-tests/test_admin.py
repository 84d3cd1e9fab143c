"""Topic administration through confluent-kafka's AdminClient and kafka-python's KafkaAdminClient.

Each change made by one client is read back by the other (and by kcat -L),
so neither client's view of its own request is trusted alone.
"""

import time

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    ResourceType,
)
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource as KpConfigResource
from kafka.admin import ConfigResourceType as KpConfigResourceType
from kafka.admin import NewPartitions as KpNewPartitions
from kafka.admin import NewTopic as KpNewTopic
from kafka.errors import TopicAlreadyExistsError

import wire
from clients import ck_consume, kcat_metadata, kp_produce, Rec, wait_for_topic

DYNAMIC_TOPIC_CONFIG = 1
STATIC_BROKER_CONFIG = 4
DEFAULT_CONFIG = 5
DEFAULT_RETENTION_MS = str(7 * 24 * 3600 * 1000)
from registry import covers


@pytest.fixture
def ck_admin(broker):
    return AdminClient({"bootstrap.servers": broker.bootstrap})


@pytest.fixture
def kp_admin(broker):
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    yield a
    a.close()


def ck_configs(admin: AdminClient, topic: str) -> dict[str, tuple[str, int]]:
    res = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([res])[res].result(timeout=30)
    return {name: (e.value, ConfigSource(e.source).value) for name, e in entries.items()}


def kp_configs(admin: KafkaAdminClient, topic: str) -> dict[str, tuple[str, int]]:
    [resp] = admin.describe_configs([KpConfigResource(KpConfigResourceType.TOPIC, topic)])
    [resource] = resp.to_object()["resources"]
    assert resource["error_code"] == 0, resource
    assert resource["resource_name"] == topic
    return {e["config_names"]: (e["config_value"], e["config_source"]) for e in resource["config_entries"]}


def ck_partition_count(admin: AdminClient, topic: str) -> int | None:
    t = admin.list_topics(timeout=10).topics.get(topic)
    return None if t is None else len(t.partitions)


def kcat_partition_count(bootstrap: str, topic: str) -> int | None:
    # No -t: naming a topic would make kcat's producer handle auto-create it.
    for t in kcat_metadata(bootstrap)["topics"]:
        if t["topic"] == topic:
            return len(t["partitions"])
    return None


@covers("admin-topics", clients=["ck"])
def test_confluent_create_validate_only_configs_and_duplicate(broker, ck_admin, kp_admin, topic_name, kcat_path):
    topic = topic_name()
    new = NewTopic(topic, num_partitions=4, replication_factor=1, config={"retention.ms": "3600000"})

    fs = ck_admin.create_topics([new], validate_only=True, operation_timeout=30)
    assert fs[topic].result(timeout=30) is None
    assert ck_partition_count(ck_admin, topic) is None, "validate_only must not create the topic"

    ck_admin.create_topics([new], operation_timeout=30)[topic].result(timeout=30)
    wait_for_topic(broker.bootstrap, topic, 4)
    assert kcat_partition_count(broker.bootstrap, topic) == 4

    for configs in (ck_configs(ck_admin, topic), kp_configs(kp_admin, topic)):
        assert configs["retention.ms"] == ("3600000", DYNAMIC_TOPIC_CONFIG)
        assert configs["cleanup.policy"] == ("delete", DEFAULT_CONFIG)

    with pytest.raises(KafkaException) as e:
        ck_admin.create_topics([new], operation_timeout=30)[topic].result(timeout=30)
    assert e.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS


@covers("admin-topics", clients=["kp"])
def test_kafka_python_create_validate_only_configs_and_duplicate(broker, ck_admin, kp_admin, topic_name):
    topic = topic_name()
    new = KpNewTopic(topic, num_partitions=3, replication_factor=1,
                     topic_configs={"retention.ms": "7200000", "cleanup.policy": "compact"})

    resp = kp_admin.create_topics([new], validate_only=True)
    assert [tuple(e[:2]) for e in resp.topic_errors] == [(topic, 0)]
    assert ck_partition_count(ck_admin, topic) is None, "validate_only must not create the topic"

    resp = kp_admin.create_topics([new])
    assert [tuple(e[:2]) for e in resp.topic_errors] == [(topic, 0)]
    wait_for_topic(broker.bootstrap, topic, 3)

    for configs in (kp_configs(kp_admin, topic), ck_configs(ck_admin, topic)):
        assert configs["retention.ms"] == ("7200000", DYNAMIC_TOPIC_CONFIG)
        assert configs["cleanup.policy"] == ("compact", DYNAMIC_TOPIC_CONFIG)
        assert configs["segment.bytes"][1] == DEFAULT_CONFIG

    with pytest.raises(TopicAlreadyExistsError):
        kp_admin.create_topics([new])


@covers("admin-configs", clients=["ck"])
def test_incremental_alter_configs(broker, ck_admin, kp_admin, topic_name):
    """Incremental changes touch only the named keys (KIP-339), from librdkafka and from raw frames."""
    topic = topic_name()
    ck_admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    wait_for_topic(broker.bootstrap, topic, 1)

    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("max.message.bytes", "200000", incremental_operation=AlterConfigOpType.SET),
    ])
    ck_admin.incremental_alter_configs([res])[res].result(timeout=30)
    configs = kp_configs(kp_admin, topic)
    assert configs["retention.ms"] == ("7200000", DYNAMIC_TOPIC_CONFIG)
    assert configs["max.message.bytes"] == ("200000", DYNAMIC_TOPIC_CONFIG)

    with wire.connect(broker.bootstrap) as s:
        payload = wire.request(s, wire.incremental_alter_configs_v0(77, topic, [
            ("cleanup.policy", wire.OP_SET, "compact"),
            ("max.message.bytes", wire.OP_DELETE, None),
        ]))
    cid, results = wire.parse_incremental_alter_configs_v0(payload)
    assert cid == 77
    assert [(code, rtype, name) for code, _msg, rtype, name in results] == [(0, wire.RESOURCE_TOPIC, topic)]

    configs = ck_configs(ck_admin, topic)
    assert configs["cleanup.policy"] == ("compact", DYNAMIC_TOPIC_CONFIG)
    assert configs["retention.ms"] == ("7200000", DYNAMIC_TOPIC_CONFIG), "untouched key must survive"
    assert configs["max.message.bytes"][1] != DYNAMIC_TOPIC_CONFIG, "DELETE must drop the override"
    assert kp_configs(kp_admin, topic)["max.message.bytes"] == configs["max.message.bytes"]

    # An undefined operation code refuses the whole resource: the valid SET
    # beside it is not applied either.
    with wire.connect(broker.bootstrap) as s:
        payload = wire.request(s, wire.incremental_alter_configs_v0(78, topic, [
            ("segment.bytes", wire.OP_SET, "2097152"),
            ("retention.ms", 9, "1"),
        ]))
    _, results = wire.parse_incremental_alter_configs_v0(payload)
    assert [code for code, _msg, _rtype, _name in results] == [42]
    assert ck_configs(ck_admin, topic)["segment.bytes"][1] != DYNAMIC_TOPIC_CONFIG


@covers("admin-configs", clients=["ck", "kp"])
def test_legacy_alter_configs_replaces_the_whole_set(broker, ck_admin, kp_admin, topic_name):
    """AlterConfigs (non-incremental) sets exactly the given keys; every other override is dropped."""
    topic = topic_name()
    kp_admin.create_topics([KpNewTopic(topic, 1, 1, topic_configs={"retention.ms": "3600000"})])
    wait_for_topic(broker.bootstrap, topic, 1)

    resp = kp_admin.alter_configs([KpConfigResource(KpConfigResourceType.TOPIC, topic,
                                                    configs={"cleanup.policy": "compact"})])
    assert [(r[0], r[3]) for r in resp.resources] == [(0, topic)]
    configs = ck_configs(ck_admin, topic)
    assert configs["cleanup.policy"] == ("compact", DYNAMIC_TOPIC_CONFIG)
    assert configs["retention.ms"] == (DEFAULT_RETENTION_MS, DEFAULT_CONFIG)

    res = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.ms": "1000000"})
    ck_admin.alter_configs([res])[res].result(timeout=30)
    configs = kp_configs(kp_admin, topic)
    assert configs["retention.ms"] == ("1000000", DYNAMIC_TOPIC_CONFIG)
    assert configs["cleanup.policy"] == ("delete", DEFAULT_CONFIG)


@covers("admin-topics", clients=["ck", "kp"])
def test_create_partitions(broker, ck_admin, kp_admin, topic_name, kcat_path):
    topic = topic_name()
    ck_admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(timeout=30)
    wait_for_topic(broker.bootstrap, topic, 2)

    ck_admin.create_partitions([NewPartitions(topic, 4)])[topic].result(timeout=30)
    wait_for_topic(broker.bootstrap, topic, 4)
    assert kcat_partition_count(broker.bootstrap, topic) == 4

    resp = kp_admin.create_partitions({topic: KpNewPartitions(6)})
    assert [tuple(e[:2]) for e in resp.topic_errors] == [(topic, 0)]
    wait_for_topic(broker.bootstrap, topic, 6)

    # Shrinking is refused with INVALID_PARTITIONS.
    with pytest.raises(KafkaException) as e:
        ck_admin.create_partitions([NewPartitions(topic, 3)])[topic].result(timeout=30)
    assert e.value.args[0].code() == KafkaError.INVALID_PARTITIONS
    assert ck_partition_count(ck_admin, topic) == 6

    # The new partitions take records.
    assert kp_produce(broker.bootstrap, topic, [Rec(5, b"k5", b"in a new partition")]) == [(5, 0)]
    assert [g.value for g in ck_consume(broker.bootstrap, topic, {5: 1})[5]] == [b"in a new partition"]


@covers("admin-topics", clients=["ck", "kp"])
def test_delete_topics(broker, ck_admin, kp_admin, topic_name, kcat_path):
    t_ck, t_kp = topic_name("a"), topic_name("b")
    ck_admin.create_topics([NewTopic(t_ck, 2, 1)])[t_ck].result(timeout=30)
    kp_admin.create_topics([KpNewTopic(t_kp, 2, 1)])
    wait_for_topic(broker.bootstrap, t_ck, 2)
    wait_for_topic(broker.bootstrap, t_kp, 2)

    ck_admin.delete_topics([t_kp], operation_timeout=30)[t_kp].result(timeout=30)
    resp = kp_admin.delete_topics([t_ck])
    assert [tuple(e[:2]) for e in resp.topic_error_codes] == [(t_ck, 0)]

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if ck_partition_count(ck_admin, t_ck) is None and ck_partition_count(ck_admin, t_kp) is None:
            break
        time.sleep(0.2)
    assert ck_partition_count(ck_admin, t_ck) is None and ck_partition_count(ck_admin, t_kp) is None
    assert kcat_partition_count(broker.bootstrap, t_ck) is None
    assert kcat_partition_count(broker.bootstrap, t_kp) is None

    with pytest.raises(KafkaException) as e:
        ck_admin.delete_topics([t_ck], operation_timeout=30)[t_ck].result(timeout=30)
    assert e.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_describe_cluster(broker, ck_admin, kp_admin):
    desc = ck_admin.describe_cluster(request_timeout=10).result(timeout=30)
    assert desc.cluster_id
    assert [(n.host, n.port) for n in desc.nodes] == [("127.0.0.1", broker.port)]
    assert desc.controller is not None and desc.controller.id == desc.nodes[0].id
    assert kp_admin.describe_cluster()["cluster_id"] == desc.cluster_id


INVALID_NAMES = ["a/b", "x" * 250, ".", "..", "has space"]


@pytest.mark.parametrize("name", INVALID_NAMES, ids=["slash", "250-chars", "dot", "dotdot", "space"])
def test_invalid_topic_names_refused(broker, ck_admin, name):
    with pytest.raises(KafkaException) as e:
        ck_admin.create_topics([NewTopic(name, 1, 1)], operation_timeout=30)[name].result(timeout=30)
    assert e.value.args[0].code() == KafkaError.TOPIC_EXCEPTION, e.value.args[0]


@pytest.mark.parametrize("name", INVALID_NAMES[:4], ids=["slash", "250-chars", "dot", "dotdot"])
def test_invalid_topic_names_refused_kafka_python(broker, kp_admin, name):
    from kafka.errors import InvalidTopicError

    with pytest.raises(InvalidTopicError):
        kp_admin.create_topics([KpNewTopic(name, 1, 1)])
