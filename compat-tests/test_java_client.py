"""The official Java client (kafka-clients 4.1 and 4.4) beyond the shared
round trips: record size limits, a producer across a broker restart, the
consumer's partition API (offsets for times, beginning/end offsets, seek,
committed, pause/resume), read_committed, and the admin calls Runnel does
and does not serve yet.

Every driver call fails the test on a WARN or ERROR line in the client's
own log unless the test names that line as expected (drivers.check_log).
"""

from __future__ import annotations

import re
import time
import uuid

import confluent_kafka as ck
import pytest

from clients import RECENT_TS_MS, Rec, assert_same_records, ck_conf, ck_consume, ck_create_topic, ck_produce, counts, make_records
from registry import DRIVER_CLIENTS, covers, for_clients, rec_json

JAVA = [c for c in DRIVER_CLIENTS if c.stack == "java"]
java_clients = pytest.mark.parametrize("client", JAVA, ids=[c.name for c in JAVA])

# What the Java client logs while a broker restarts under it: the broker
# went away and is back on the same address.
RESTART_LOG = (
    r"WARN org\.apache\.kafka\.clients\.NetworkClient - .*Connection to node .* could not be established",
    r"WARN org\.apache\.kafka\.clients\.NetworkClient - .*Node .* disconnected",
)


def value_of(size: int, tag: str) -> bytes:
    head = f"{tag}:".encode()
    return head + bytes(i % 251 for i in range(size - len(head)))


@for_clients("large-records", among=JAVA)
def test_records_near_and_over_the_size_limits(broker, topic_name, client):
    """max.message.bytes=100000 on the topic: just under is stored, just over is
    refused by the broker (RecordTooLargeException); over the producer's own
    max.request.size is refused before sending."""
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, config={"max.message.bytes": "100000"})
    under = Rec(0, b"under", value_of(100_000 - 300, "under"))
    over = Rec(0, b"over", value_of(100_100, "over"))
    opts = {"linger.ms": "0", "compression.type": "none", "retries": "0"}
    [r1] = client.produce_results(broker.bootstrap, topic, [under], **opts)
    assert r1 == {"partition": 0, "offset": 0, "timestamp": r1["timestamp"]}, r1
    [r2] = client.produce_results(broker.bootstrap, topic, [over], **opts)
    assert r2["error"]["class"] == "RecordTooLargeException", r2
    [r3] = client.produce_results(broker.bootstrap, topic, [under], **{**opts, "max.request.size": "50000"})
    assert r3["error"]["class"] == "RecordTooLargeException", r3
    assert "max.request.size" in r3["error"]["message"]
    got = ck_consume(broker.bootstrap, topic, {0: 1})[0]
    assert [g.value for g in got] == [under.value]


@for_clients("restart", among=JAVA)
@pytest.mark.timeout(240)
def test_producer_keeps_going_across_a_broker_restart(broker_factory, topic_name, client):
    """The default producer (idempotent, acks=all) sends while the broker
    restarts: every record is acknowledged and stored exactly once, in order."""
    b = broker_factory()
    topic = topic_name()
    ck_create_topic(b.bootstrap, topic, partitions=2)
    recs = make_records(400, 2, seed="restart", timestamp_base_ms=RECENT_TS_MS)
    handle = client.call("produce_start", bootstrap=b.bootstrap, topic=topic,
                         records=[rec_json(r) for r in recs],
                         config={"linger.ms": "0", "delivery.timeout.ms": "120000"}, interval_ms=10)["handle"]
    time.sleep(1.5)
    b.restart()
    results = client.call("wait", handle=handle, timeout_s=150, allow_log=RESTART_LOG, timeout=170)
    failed = [r for r in results if r.get("error")]
    assert not failed, failed[:3]
    assert_same_records(recs, ck_consume(b.bootstrap, topic, counts(recs)), first_offset={0: 0, 1: 0})


@java_clients
@covers("offsets", "consume")
@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_consumer_partition_api(broker, topic_name, client, protocol):
    topic = topic_name()
    ts0 = RECENT_TS_MS
    ck_create_topic(broker.bootstrap, topic, partitions=2)
    recs = make_records(200, 2, seed="api", timestamp_base_ms=ts0)  # record i: partition i%2, ts ts0+i
    ck_produce(broker.bootstrap, topic, recs)
    group = f"g-{uuid.uuid4().hex[:8]}"
    seen = client.call("consumer_api", bootstrap=broker.bootstrap, topic=topic, partitions=2,
                       times={"0": ts0 + 101, "1": ts0 + 10_000}, seek={"0": 17, "1": 99},
                       commit={"0": 42, "1": 7},
                       config={"group.id": group, "group.protocol": protocol}, pause_ms=1200)
    assert seen["beginning"] == {"0": 0, "1": 0}
    assert seen["end"] == {"0": 100, "1": 100}
    # The first record at or after ts0+101 in partition 0 is index 102 (offset 51); none in partition 1.
    assert seen["for_times"] == {"0": {"offset": 51, "timestamp": ts0 + 102}, "1": None}
    assert seen["first_after_seek"] == {"0": 17, "1": 99}
    assert seen["committed"] == {"0": {"offset": 42, "metadata": "driver-0"},
                                 "1": {"offset": 7, "metadata": "driver-1"}}
    assert seen["paused"] == 1
    assert seen["polled_from_paused"] == 0
    assert seen["polled_from_others"] == 100
    assert seen["first_after_resume"] == 0


@java_clients
@covers("consume")
def test_read_committed_on_non_transactional_data(broker, topic_name, client):
    """With no transactions the last stable offset is the high watermark: a
    read_committed consumer sees everything."""
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, partitions=2)
    recs = make_records(500, 2, seed="rc", timestamp_base_ms=RECENT_TS_MS)
    ck_produce(broker.bootstrap, topic, recs)
    got = client.consume(broker.bootstrap, topic, counts(recs), **{"isolation.level": "read_committed"})
    assert_same_records(recs, got, first_offset={0: 0, 1: 0})


@java_clients
@covers("admin-groups", "admin-topics")
def test_admin_features_groups_and_internal_topics(group_broker, topic_name, client):
    b = group_broker.bootstrap
    topic = topic_name()
    group = f"g-{uuid.uuid4().hex[:8]}"
    ck_create_topic(b, topic, partitions=2)
    ck_produce(b, topic, make_records(20, 2, seed="g", headers=False))
    client.consume(b, topic, {0: 10, 1: 10}, **{"group.id": group})  # no commit: an empty group is not made
    c = ck.Consumer(ck_conf(b, **{"group.id": group, "enable.auto.commit": False}))
    c.commit(offsets=[ck.TopicPartition(topic, 0, 3)], asynchronous=False)
    c.close()
    results = client.admin(b, [
        {"call": "describeFeatures"},
        {"call": "listGroups"},
        {"call": "describeClassicGroups", "groups": [group]},
        {"call": "listTopics", "internal": True},
        {"call": "createTopics", "topics": [{"name": topic, "partitions": 1}], "validate_only": True},
        {"call": "createTopics", "topics": [{"name": topic_name("bad"), "partitions": 1,
                                             "configs": {"cleanup.policy": "sometimes"}}]},
    ])
    assert all(r["ok"] for r in results), results
    features, groups, classic, internal, dup, bad = (r["result"] for r in results)
    assert "metadata.version" in features["finalized"], features
    assert groups[group]["type"] in ("Classic", "CLASSIC", "classic"), groups[group]
    assert classic[group]["state"] in ("EMPTY", "Empty"), classic
    assert "__consumer_offsets" in internal["names"]
    assert not dup[topic]["ok"] and dup[topic]["error"]["class"] == "TopicExistsException", dup
    [(bad_name, bad_res)] = bad.items()
    assert not bad_res["ok"] and bad_res["error"]["class"] == "InvalidConfigurationException", bad_res


@java_clients
def test_describe_metadata_quorum_shows_the_single_voter(broker, client):
    """Admin.describeMetadataQuorum (DescribeQuorum): this node leads the
    metadata quorum alone, with its metadata log dir's directory id, every
    record committed and no observers."""
    [quorum] = [r["result"] for r in client.admin(broker.bootstrap, [{"call": "describeMetadataQuorum"}])]
    assert quorum["leader_id"] == 1 and quorum["leader_epoch"] == 1 and quorum["observers"] == 0, quorum
    [voter] = quorum["voters"]
    directory_id = re.search(r"^directory.id=(\S+)$", (broker.data_dir / "meta.properties").read_text(), re.M)[1]
    assert voter["id"] == 1 and voter["directory_id"] == directory_id, voter
    assert voter["log_end_offset"] == quorum["high_watermark"] > 0, quorum
    assert voter["last_caught_up_ms"] > 0, voter


# Admin calls Runnel does not serve yet: the API each needs, and how the
# Java client fails when the broker does not advertise it. Kept in step with
# the "Admin calls" table in docs/compatibility.md.
UNSERVED = [
    ("describeClientQuotas", "DescribeClientQuotas (48)", "UnsupportedVersionException"),
    ("describeDelegationToken", "DescribeDelegationToken (41)", "UnsupportedVersionException"),
    ("listTransactions", "ListTransactions (66)", "UnsupportedVersionException"),
    ("describeProducers", "DescribeProducers (61)", "UnsupportedVersionException"),
    ("listPartitionReassignments", "ListPartitionReassignments (46)", "UnsupportedVersionException"),
    ("describeShareGroups", "ShareGroupDescribe (77)", "UnsupportedVersionException"),
    ("describeStreamsGroups", "StreamsGroupDescribe (89)", "UnsupportedVersionException"),
    ("listConfigResources", "ListConfigResources (74)", "UnsupportedVersionException"),
]


@java_clients
def test_elect_leaders_of_a_partition_led_by_its_preferred_replica_is_not_needed(broker, topic_name, client):
    """Admin.electLeaders reaches the controller (a real election is in
    test_replication.py): on one broker every partition is led by its
    preferred replica, so Kafka's answer is ELECTION_NOT_NEEDED."""
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, partitions=1)
    [r] = client.admin(broker.bootstrap, [{"call": "electLeaders", "topic": topic}])
    assert (r["ok"], r["error"]["class"]) == (False, "ElectionNotNeededException"), r


@java_clients
def test_admin_calls_not_served_yet_fail_as_unsupported(broker, topic_name, client):
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, partitions=1)
    calls = [{"call": name, "topic": topic, "broker": 1} for name, _, _ in UNSERVED]
    results = client.admin(broker.bootstrap, calls)
    got = {r["call"]: (r["ok"], (r.get("error") or {}).get("class")) for r in results}
    want = {name: (False, error) for name, _, error in UNSERVED}
    assert got == want
