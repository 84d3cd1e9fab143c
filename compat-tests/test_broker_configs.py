"""Dynamic broker configs: the broker-level topic defaults (log.retention.ms,
message.max.bytes, ...) change at runtime through IncrementalAlterConfigs
(confluent-kafka) and AlterConfigs (kafka-python), show up with Kafka's
dynamic sources, reach topics without overrides, survive a restart, and
static-only keys are refused."""

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    ResourceType,
)
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource as KpConfigResource
from kafka.admin import ConfigResourceType as KpConfigResourceType

import wire
from clients import ck_create_topic

RESOURCE_BROKER = 4
from registry import covers


def ck_describe(admin: AdminClient, rtype, name: str) -> dict:
    res = ConfigResource(rtype, name)
    return admin.describe_configs([res])[res].result(timeout=30)


def ck_set(admin: AdminClient, name: str, key: str, value: str) -> None:
    res = ConfigResource(ResourceType.BROKER, name, incremental_configs=[
        ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([res])[res].result(timeout=30)


@covers("admin-configs", clients=["ck"])
def test_incremental_broker_config_reaches_topics_and_survives_restart(broker_factory, topic_name):
    b = broker_factory()
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    topic = topic_name()
    ck_create_topic(b.bootstrap, topic, partitions=1)
    assert ck_describe(admin, ResourceType.TOPIC, topic)["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value

    ck_set(admin, "1", "log.retention.ms", "3600000")
    broker_cfg = ck_describe(admin, ResourceType.BROKER, "1")["log.retention.ms"]
    assert broker_cfg.value == "3600000"
    assert broker_cfg.source == ConfigSource.DYNAMIC_BROKER_CONFIG.value
    assert not broker_cfg.is_read_only
    topic_cfg = ck_describe(admin, ResourceType.TOPIC, topic)["retention.ms"]
    assert (topic_cfg.value, topic_cfg.source) == ("3600000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)

    # The cluster-wide default (broker resource "", which confluent-kafka
    # cannot name) is its own source.
    with wire.connect(b.bootstrap) as s:
        payload = wire.request(s, wire.incremental_alter_configs_v0(
            7, "", [("log.segment.bytes", 0, "2097152")], resource_type=RESOURCE_BROKER))
    assert wire.parse_incremental_alter_configs_v0(payload)[1][0][0] == 0
    seg = ck_describe(admin, ResourceType.TOPIC, topic)["segment.bytes"]
    assert (seg.value, seg.source) == ("2097152", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)

    b.restart()
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    topic_cfg = ck_describe(admin, ResourceType.TOPIC, topic)["retention.ms"]
    assert (topic_cfg.value, topic_cfg.source) == ("3600000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)


def test_static_broker_keys_are_refused(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    res = ConfigResource(ResourceType.BROKER, "1", incremental_configs=[
        ConfigEntry("listeners", "PLAINTEXT://:1", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as e:
        admin.incremental_alter_configs([res])[res].result(timeout=30)
    assert e.value.args[0].code() == 42  # INVALID_REQUEST, as Kafka
    listeners = ck_describe(admin, ResourceType.BROKER, "1")["listeners"]
    assert listeners.is_read_only


@covers("admin-configs", clients=["kp"])
def test_kafka_python_alter_broker_config(broker_factory):
    b = broker_factory()
    kp = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        resp = kp.alter_configs([KpConfigResource(KpConfigResourceType.BROKER, "1",
                                                  configs={"message.max.bytes": "2000000"})])
        [r] = resp.to_object()["resources"]
        assert r["error_code"] == 0, r
        [resp] = kp.describe_configs([KpConfigResource(KpConfigResourceType.BROKER, "1")])
        [resource] = resp.to_object()["resources"]
        entries = {e["config_names"]: e for e in resource["config_entries"]}
        assert entries["message.max.bytes"]["config_value"] == "2000000"
        assert entries["message.max.bytes"]["config_source"] == 2  # DYNAMIC_BROKER_CONFIG
    finally:
        kp.close()
