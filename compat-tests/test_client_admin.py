"""Admin calls from every registered driver client, each change checked by
another implementation (librdkafka's AdminClient or consumer), never by
the calling client's view of its own request alone.
"""

from __future__ import annotations

import time
import uuid

import confluent_kafka as ck
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from clients import RECENT_TS_MS, ck_committed, ck_conf, ck_create_topic, ck_produce, make_records, wait_for_topic
from registry import for_clients

DEFAULT_RETENTION_MS = str(7 * 24 * 3600 * 1000)


def ok(results: list[dict]) -> list:
    """The results of calls that must all succeed."""
    failed = [r for r in results if not r["ok"]]
    assert not failed, failed
    return [r["result"] for r in results]


def ck_partitions(bootstrap: str, topic: str) -> int | None:
    t = AdminClient(ck_conf(bootstrap)).list_topics(timeout=10).topics.get(topic)
    return None if t is None or t.error is not None else len(t.partitions)


def wait_gone(bootstrap: str, topic: str) -> None:
    deadline = time.monotonic() + 20
    while ck_partitions(bootstrap, topic) is not None:
        assert time.monotonic() < deadline, f"{topic} still listed"
        time.sleep(0.2)


def ck_topic_config(bootstrap: str, topic: str) -> dict[str, str]:
    res = ConfigResource(ResourceType.TOPIC, topic)
    admin = AdminClient(ck_conf(bootstrap))  # kept alive until the future resolves
    entries = admin.describe_configs([res])[res].result(timeout=30)
    return {name: e.value for name, e in entries.items()}


@for_clients("admin-topics")
def test_create_describe_partition_and_delete_topics(broker, topic_name, client):
    topic = topic_name()
    b = broker.bootstrap
    new = {"name": topic, "partitions": 3, "rf": 1, "configs": {"retention.ms": "3600000"}}
    [validated] = ok(client.admin(b, [{"call": "createTopics", "topics": [new], "validate_only": True}]))
    assert validated[topic]["ok"], validated
    assert ck_partitions(b, topic) is None, "validate-only created the topic"

    # kafkajs logs the refused duplicate at ERROR itself.
    [created, again] = ok(client.admin(b, [{"call": "createTopics", "topics": [new]},
                                           {"call": "createTopics", "topics": [new]}],
                                       allow_log=(r"Response CreateTopics.*Topic creation errors",)))
    assert created[topic]["ok"], created
    assert not again[topic]["ok"], "a second create of the same topic must fail"
    wait_for_topic(b, topic, 3)
    assert ck_topic_config(b, topic)["retention.ms"] == "3600000"

    [listed, described, cluster] = ok(client.admin(b, [
        {"call": "listTopics"}, {"call": "describeTopics", "names": [topic]}, {"call": "describeCluster"}]))
    assert topic in listed["names"]
    assert "__consumer_offsets" not in listed["names"]
    parts = described[topic]["partitions"]
    assert [p["partition"] for p in parts] == [0, 1, 2]
    [node] = cluster["nodes"]
    assert (node["host"], node["port"]) == ("127.0.0.1", broker.port)
    assert cluster["controller"]["id"] == node["id"]
    assert all(p["leader"] == node["id"] and p["replicas"] == 1 and p["isr"] == 1 for p in parts), parts
    if cluster.get("cluster_id") is not None:
        ck_admin = AdminClient(ck_conf(b))
        assert cluster["cluster_id"] == ck_admin.describe_cluster().result(timeout=30).cluster_id

    ok(client.admin(b, [{"call": "createPartitions", "counts": {topic: 5}}]))
    wait_for_topic(b, topic, 5)
    ok(client.admin(b, [{"call": "deleteTopics", "names": [topic]}]))
    wait_gone(b, topic)


@for_clients("admin-configs")
def test_describe_and_alter_topic_and_broker_configs(broker, topic_name, client):
    topic = topic_name()
    b = broker.bootstrap
    ck_create_topic(b, topic, partitions=1)
    [described] = ok(client.admin(b, [{"call": "describeConfigs", "resources": [{"type": "topic", "name": topic}]}]))
    assert described[topic]["retention.ms"]["value"] == DEFAULT_RETENTION_MS
    assert described[topic]["cleanup.policy"]["value"] == "delete"

    # kafkajs has only the legacy AlterConfigs (the whole set); the others the incremental API.
    call = "alterConfigs" if client.stack == "kafkajs" else "incrementalAlterConfigs"
    ok(client.admin(b, [{"call": call, "resources": [{"type": "topic", "name": topic, "ops": [
        {"name": "retention.ms", "value": "7200000", "op": "SET"},
        {"name": "max.message.bytes", "value": "300000", "op": "SET"}]}]}]))
    seen = ck_topic_config(b, topic)
    assert (seen["retention.ms"], seen["max.message.bytes"]) == ("7200000", "300000")
    if call == "incrementalAlterConfigs":
        ok(client.admin(b, [{"call": call, "resources": [{"type": "topic", "name": topic, "ops": [
            {"name": "max.message.bytes", "value": None, "op": "DELETE"}]}]}]))
        seen = ck_topic_config(b, topic)
        assert seen["retention.ms"] == "7200000", "an incremental DELETE touched another key"
        assert seen["max.message.bytes"] != "300000"

    [broker_cfg] = ok(client.admin(b, [{"call": "describeConfigs", "resources": [{"type": "broker", "name": "1"}]}]))
    assert broker_cfg["1"]["message.max.bytes"]["value"] == "1048588"
    assert broker_cfg["1"]["log.retention.hours"]["value"] == "168"
    # A broker change, validated only: the shared broker stays as it is.
    [res] = client.admin(b, [{"call": call, "validate_only": True, "resources": [{"type": "broker", "name": "1", "ops": [
        {"name": "log.retention.ms", "value": "3600000", "op": "SET"}]}]}])
    assert res["ok"], res


@for_clients("admin-groups")
def test_list_describe_alter_and_delete_group_offsets(broker, topic_name, client):
    topic = topic_name()
    group = f"g-{uuid.uuid4().hex[:8]}"
    b = broker.bootstrap
    ck_create_topic(b, topic, partitions=2)
    ck_produce(b, topic, make_records(40, 2, seed="admin", headers=False))
    c = ck.Consumer(ck_conf(b, **{"group.id": group, "enable.auto.commit": False}))
    c.commit(offsets=[ck.TopicPartition(topic, 0, 5), ck.TopicPartition(topic, 1, 7)], asynchronous=False)
    c.close()

    [listed, described, offsets] = ok(client.admin(b, [
        {"call": "listConsumerGroups"}, {"call": "describeConsumerGroups", "groups": [group]},
        {"call": "listConsumerGroupOffsets", "group": group}]))
    assert group in listed
    assert described[group]["state"] in ("Empty", "EMPTY"), described
    assert described[group]["members"] == []
    assert {k: v["offset"] for k, v in offsets.items()} == {f"{topic}:0": 5, f"{topic}:1": 7}

    ok(client.admin(b, [{"call": "alterConsumerGroupOffsets", "group": group, "topic": topic, "offsets": {"0": 2}}]))
    assert ck_committed(b, group, topic, 2) == {0: 2, 1: 7}
    if client.stack != "kafkajs":  # kafkajs has no OffsetDelete
        ok(client.admin(b, [{"call": "deleteConsumerGroupOffsets", "group": group, "topic": topic,
                             "partitions": [1]}]))
        assert ck_committed(b, group, topic, 2) == {0: 2, 1: ck.OFFSET_INVALID}
    ok(client.admin(b, [{"call": "deleteConsumerGroups", "groups": [group]}]))
    assert ck_committed(b, group, topic, 2) == {0: ck.OFFSET_INVALID, 1: ck.OFFSET_INVALID}
    ck_admin = AdminClient(ck_conf(b))
    listed = ck_admin.list_consumer_groups().result(timeout=30)
    assert group not in {g.group_id for g in listed.valid}


@for_clients("delete-records", "offsets")
def test_list_offsets_and_delete_records(broker, topic_name, client):
    topic = topic_name()
    b = broker.bootstrap
    ck_create_topic(b, topic, partitions=2)
    ts0 = RECENT_TS_MS
    recs = make_records(100, 2, seed="offsets", timestamp_base_ms=ts0)  # record i: partition i%2, ts ts0+i
    ck_produce(b, topic, recs)
    target = ts0 + 41  # first record at or after: index 41 (partition 1, offset 20); partition 0: index 42 (21)
    [earliest, latest, by_time] = ok(client.admin(b, [
        {"call": "listOffsets", "topic": topic, "partition_count": 2, "spec": "earliest"},
        {"call": "listOffsets", "topic": topic, "partition_count": 2, "spec": "latest"},
        {"call": "listOffsets", "topic": topic, "partition_count": 2, "spec": str(target)}]))
    assert {p: v["offset"] for p, v in earliest.items()} == {"0": 0, "1": 0}
    assert {p: v["offset"] for p, v in latest.items()} == {"0": 50, "1": 50}
    assert {p: v["offset"] for p, v in by_time.items()} == {"0": 21, "1": 20}

    [deleted] = ok(client.admin(b, [{"call": "deleteRecords", "topic": topic, "offsets": {"0": 30}}]))
    if deleted:  # clients that report the new low watermark
        assert deleted == {"0": 30}
    probe = ck.Consumer(ck_conf(b, **{"group.id": "probe"}))
    try:
        assert probe.get_watermark_offsets(ck.TopicPartition(topic, 0), timeout=10) == (30, 50)
        assert probe.get_watermark_offsets(ck.TopicPartition(topic, 1), timeout=10) == (0, 50)
    finally:
        probe.close()
    [earliest] = ok(client.admin(b, [{"call": "listOffsets", "topic": topic, "partition_count": 2, "spec": "earliest"}]))
    assert {p: v["offset"] for p, v in earliest.items()} == {"0": 30, "1": 0}
