"""The `runnel` admin command line (`runnel topic|group|cluster`) as a user
runs it: the release binary against a running Runnel broker and against
Apache Kafka (the reference broker), each module-wide. Every result is read
back with an independent client, confluent-kafka's AdminClient and
consumer, and every `--format json` answer is parsed; the error cases check
the exit code and that stderr is one line naming what failed, with no
backtrace even with RUST_BACKTRACE=1."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import uuid

import confluent_kafka as ck
import pytest
from confluent_kafka.admin import (
    AdminClient,
    ConfigResource,
    ConfigSource,
    ResourceType,
)

from clients import ck_conf, ck_produce, make_records, wait_for_topic
from conftest import GROUP_OVERRIDES, free_port, lend, long_lived_broker, runnel_bin
from harness.kafka import KafkaBroker
from registry import covers


# GROUP_OVERRIDES for Kafka, whose minimums are above the values there.
KAFKA_GROUP_OVERRIDES = {
    **GROUP_OVERRIDES,
    "group.consumer.min.session.timeout.ms": GROUP_OVERRIDES["group.consumer.session.timeout.ms"],
    "group.consumer.min.heartbeat.interval.ms": GROUP_OVERRIDES["group.consumer.heartbeat.interval.ms"],
}


@pytest.fixture(scope="module", params=["runnel", "kafka"])
def _target(request, tmp_path_factory):
    """A broker of each kind for the whole module."""
    if request.param == "runnel":
        yield from long_lived_broker(tmp_path_factory, "cli", GROUP_OVERRIDES)
    else:
        k = KafkaBroker(tmp_path_factory.mktemp("cli-kafka"), KAFKA_GROUP_OVERRIDES)
        k.start()
        yield k
        k.stop()


@pytest.fixture
def target(request, _target):
    """The module's broker; Runnel's stderr is attached to a failing test."""
    if _target.kind == "runnel":
        yield from lend(request, _target)
    else:
        yield _target


def cli(broker, *args: str, fmt: str | None = None, brokers: str | None = None,
        env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [str(runnel_bin()), *args, "-b", brokers or broker.bootstrap]
    if fmt:
        cmd += ["--format", fmt]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env={**os.environ, "RUST_BACKTRACE": "1", **(env or {})})


def ok(out: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert out.returncode == 0, f"exit {out.returncode}\nstdout: {out.stdout}\nstderr: {out.stderr}"
    return out


def as_json(out: subprocess.CompletedProcess):
    return json.loads(ok(out).stdout)


def one_error_line(out: subprocess.CompletedProcess, *wanted: str) -> str:
    """A failed command: exit 1, one stderr line starting `runnel: `, no backtrace."""
    assert out.returncode == 1, f"exit {out.returncode}\nstdout: {out.stdout}\nstderr: {out.stderr}"
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("runnel: "), lines
    for w in wanted:
        assert w in lines[0], lines
    assert "panicked" not in out.stderr and "backtrace" not in out.stderr.lower()
    return lines[0]


def ck_topic_configs(admin: AdminClient, topic: str) -> dict:
    res = ConfigResource(ResourceType.TOPIC, topic)
    return admin.describe_configs([res])[res].result(timeout=30)


def eventually(check, timeout: float = 30.0):
    """Runs `check` until it returns a truthy value (metadata propagates
    asynchronously on Kafka); returns it."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def name(prefix: str) -> str:
    return f"cli-{prefix}-{uuid.uuid4().hex[:8]}"


@covers("admin-topics", "admin-configs", clients=["ck"])
def test_topic_create_list_describe_alter_delete(target):
    admin = AdminClient(ck_conf(target.bootstrap))
    topic = name("t")
    out = ok(cli(target, "topic", "create", topic, "-p", "3", "-r", "1", "-c", "retention.ms=3600000"))
    assert f"created topic '{topic}'" in out.stdout and "3 partition(s)" in out.stdout
    wait_for_topic(target.bootstrap, topic, 3)
    assert ck_topic_configs(admin, topic)["retention.ms"].value == "3600000"

    listed = as_json(cli(target, "topic", "list", fmt="json"))["topics"]
    [mine] = [t for t in listed if t["name"] == topic]
    assert (mine["partitions"], mine["replicas"], mine["internal"]) == (3, 1, False)
    assert not any(t["name"] == "__consumer_offsets" for t in listed)
    assert topic in ok(cli(target, "topic", "list")).stdout

    [described] = as_json(cli(target, "topic", "describe", topic, fmt="json"))["topics"]
    md = admin.list_topics(topic=topic, timeout=30).topics[topic]
    assert [p["partition"] for p in described["partitions"]] == [0, 1, 2]
    for p in described["partitions"]:
        theirs = md.partitions[p["partition"]]
        assert (p["leader"], p["replicas"], p["isr"]) == (theirs.leader, theirs.replicas, theirs.isrs)
    configs = {c["name"]: c for c in described["configs"]}
    assert configs["retention.ms"]["value"] == "3600000"
    assert configs["retention.ms"]["source"] == "DYNAMIC_TOPIC_CONFIG"
    assert not any(c["source"] == "DEFAULT_CONFIG" for c in described["configs"])
    text = ok(cli(target, "topic", "describe", topic)).stdout
    assert "retention.ms" in text and "DYNAMIC_TOPIC_CONFIG" in text and "ISR" in text

    # Kafka's broker applies a config change when its record reaches it.
    ok(cli(target, "topic", "alter-config", topic, "--set", "retention.ms=7200000",
           "--set", "cleanup.policy=compact"))
    assert eventually(lambda: (lambda got: (got["retention.ms"].value, got["cleanup.policy"].value)
                               == ("7200000", "compact"))(ck_topic_configs(admin, topic)))
    ok(cli(target, "topic", "alter-config", topic, "--delete", "retention.ms"))
    assert eventually(lambda: ck_topic_configs(admin, topic)["retention.ms"].source
                      != ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    assert ck_topic_configs(admin, topic)["cleanup.policy"].value == "compact"

    out = ok(cli(target, "topic", "delete", topic, fmt="json"))
    assert json.loads(out.stdout)["topics"] == [{"name": topic, "error": None}]
    assert eventually(lambda: topic not in admin.list_topics(timeout=30).topics)


@covers("admin-topics", clients=["ck"])
def test_topic_errors_name_the_kafka_code(target):
    topic = name("dup")
    ok(cli(target, "topic", "create", topic))
    wait_for_topic(target.bootstrap, topic, 1)
    one_error_line(cli(target, "topic", "create", topic),
                   f"topic '{topic}' already exists", "(TOPIC_ALREADY_EXISTS)")
    # Several names: the good one is created, the bad one reported, exit 1.
    other = name("other")
    out = cli(target, "topic", "create", topic, other, fmt="json")
    one_error_line(out, "(TOPIC_ALREADY_EXISTS)")
    results = {t["name"]: t["error"] for t in json.loads(out.stdout)["topics"]}
    assert results[other] is None and results[topic]["name"] == "TOPIC_ALREADY_EXISTS"

    missing = name("missing")
    one_error_line(cli(target, "topic", "describe", missing),
                   f"topic '{missing}' does not exist", "(UNKNOWN_TOPIC_OR_PARTITION)")
    one_error_line(cli(target, "topic", "delete", missing), "(UNKNOWN_TOPIC_OR_PARTITION)")
    one_error_line(cli(target, "topic", "alter-config", missing, "--set", "retention.ms=1"),
                   f"topic '{missing}'", "(UNKNOWN_TOPIC_OR_PARTITION)")
    one_error_line(cli(target, "topic", "create", name("bad"), "-c", "retention.ms"), "KEY=VALUE")
    ok(cli(target, "topic", "delete", topic, other))


def ck_group_offsets(admin: AdminClient, group: str) -> dict:
    fut = admin.list_consumer_group_offsets([ck.ConsumerGroupTopicPartitions(group)])[group]
    return {(tp.topic, tp.partition): tp.offset for tp in fut.result(timeout=30).topic_partitions}


def group_member(target, group: str, topic: str, **conf) -> ck.Consumer:
    """A confluent-kafka group member subscribed to the two partitions of
    `topic`, once it owns both; it commits only when told to."""
    consumer = ck.Consumer(ck_conf(target.bootstrap, **{
        "group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest", **conf}))
    consumer.subscribe([topic])
    deadline = time.monotonic() + 60
    while len(consumer.assignment()) < 2:
        if time.monotonic() > deadline:
            consumer.close()
            raise AssertionError("the consumer never got both partitions")
        consumer.poll(0.2)
    return consumer


@covers("admin-groups", "offsets", clients=["ck"])
def test_group_describe_seek_delete_with_a_lagging_group(target):
    admin = AdminClient(ck_conf(target.bootstrap))
    topic, group = name("gt"), name("g")
    ok(cli(target, "topic", "create", topic, "-p", "2"))
    wait_for_topic(target.bootstrap, topic, 2)
    # 10 per partition; record i goes to partition i % 2, stamped base + i.
    base_ms = int(time.time() * 1000) - 60_000
    ck_produce(target.bootstrap, topic, make_records(20, 2, seed=topic, timestamp_base_ms=base_ms))

    consumer = group_member(target, group, topic, **{"client.id": "cli-lag-consumer", "session.timeout.ms": 10000})
    try:
        consumer.commit(offsets=[ck.TopicPartition(topic, 0, 4), ck.TopicPartition(topic, 1, 7)],
                        asynchronous=False)

        [g] = as_json(cli(target, "group", "describe", group, fmt="json"))["groups"]
        assert g["state"] == "Stable" and g["protocol_type"] == "consumer"
        [member] = g["members"]
        assert member["client_id"] == "cli-lag-consumer"
        assert sorted((a["topic"], a["partition"]) for a in member["assignment"]) == [(topic, 0), (topic, 1)]
        theirs = admin.describe_consumer_groups([group])[group].result(timeout=30)
        [their_member] = theirs.members
        assert (member["member_id"], member["host"]) == (their_member.member_id, their_member.host)
        rows = {(p["topic"], p["partition"]): p for p in g["partitions"]}
        committed = ck_group_offsets(admin, group)
        for p, want_lag in ((0, 6), (1, 3)):
            row = rows[(topic, p)]
            low, high = consumer.get_watermark_offsets(ck.TopicPartition(topic, p), timeout=30)
            assert row["committed_offset"] == committed[(topic, p)]
            assert row["log_end_offset"] == high == 10
            assert row["lag"] == want_lag and row["member_id"] == member["member_id"]
        assert g["total_lag"] == 9
        text = ok(cli(target, "group", "describe", group)).stdout
        assert "LOG-END-OFFSET" in text and "cli-lag-consumer" in text
        assert re.search(r"^TOTAL-LAG +9$", text, re.M), text

        # Offsets cannot move under an active member.
        one_error_line(cli(target, "group", "seek", group, "--to", "earliest"),
                       f"group '{group}' has 1 active member(s)")
        assert ck_group_offsets(admin, group) == {(topic, 0): 4, (topic, 1): 7}
    finally:
        consumer.close()

    assert eventually(lambda: as_json(cli(target, "group", "describe", group, fmt="json"))
                      ["groups"][0]["state"] == "Empty")
    listed = {g["group"]: g for g in as_json(cli(target, "group", "list", fmt="json"))["groups"]}
    assert listed[group]["state"] == "Empty"
    theirs = {g.group_id for g in admin.list_consumer_groups().result(timeout=30).valid}
    assert group in theirs and group in ok(cli(target, "group", "list")).stdout

    seek = as_json(cli(target, "group", "seek", group, "--to", "earliest", fmt="json"))
    assert {(p["partition"], p["prior_offset"], p["new_offset"]) for p in seek["partitions"]} == {(0, 4, 0), (1, 7, 0)}
    assert ck_group_offsets(admin, group) == {(topic, 0): 0, (topic, 1): 0}
    ok(cli(target, "group", "seek", group, "--to", "3", "--topic", topic))
    assert ck_group_offsets(admin, group) == {(topic, 0): 3, (topic, 1): 3}
    ok(cli(target, "group", "seek", group, "--to", "99"))  # kept within the log
    assert ck_group_offsets(admin, group) == {(topic, 0): 10, (topic, 1): 10}
    # The first records at or after base + 10: i = 10 and 11, offset 5 of each partition.
    ok(cli(target, "group", "seek", group, "--to", f"timestamp:{base_ms + 10}"))
    assert ck_group_offsets(admin, group) == {(topic, 0): 5, (topic, 1): 5}
    ok(cli(target, "group", "seek", group, "--to", "latest"))
    assert ck_group_offsets(admin, group) == {(topic, 0): 10, (topic, 1): 10}
    [g] = as_json(cli(target, "group", "describe", group, fmt="json"))["groups"]
    assert g["total_lag"] == 0 and g["members"] == []

    out = ok(cli(target, "group", "delete", group))
    assert f"deleted group '{group}'" in out.stdout
    assert group not in {g.group_id for g in admin.list_consumer_groups().result(timeout=30).valid}
    one_error_line(cli(target, "group", "describe", group), f"group '{group}' does not exist",
                   "(GROUP_ID_NOT_FOUND)")
    one_error_line(cli(target, "group", "delete", group), "(GROUP_ID_NOT_FOUND)")
    one_error_line(cli(target, "group", "seek", group, "--to", "soon"), "--to 'soon'")
    ok(cli(target, "topic", "delete", topic))


@covers("admin-groups", "kip848", clients=["ck-848"])
def test_group_describe_and_seek_a_kip848_group(target):
    """A KIP-848 group (group.protocol=consumer) is described with
    ConsumerGroupDescribe: DescribeGroups shows such a group as Dead."""
    admin = AdminClient(ck_conf(target.bootstrap))
    topic, group = name("kt"), name("k")
    ok(cli(target, "topic", "create", topic, "-p", "2"))
    wait_for_topic(target.bootstrap, topic, 2)
    ck_produce(target.bootstrap, topic, make_records(10, 2, seed=topic))
    consumer = group_member(target, group, topic, **{"group.protocol": "consumer", "client.id": "cli-848-consumer"})
    try:
        consumer.commit(offsets=[ck.TopicPartition(topic, 0, 2)], asynchronous=False)
        [g] = as_json(cli(target, "group", "describe", group, fmt="json"))["groups"]
        assert (g["type"], g["state"], g["protocol_type"]) == ("consumer", "Stable", "consumer")
        [member] = g["members"]
        [their_member] = admin.describe_consumer_groups([group])[group].result(timeout=30).members
        assert (member["member_id"], member["client_id"]) == (their_member.member_id, "cli-848-consumer")
        assert sorted((a["topic"], a["partition"]) for a in member["assignment"]) == sorted(
            (tp.topic, tp.partition) for tp in their_member.assignment.topic_partitions)
        rows = {p["partition"]: p for p in g["partitions"]}
        assert (rows[0]["committed_offset"], rows[0]["log_end_offset"], rows[0]["lag"]) == (2, 5, 3)
        assert (rows[1]["committed_offset"], rows[1]["lag"]) == (None, None)
        one_error_line(cli(target, "group", "seek", group, "--to", "latest"), "1 active member(s)")
    finally:
        consumer.close()
    assert eventually(lambda: as_json(cli(target, "group", "describe", group, fmt="json"))
                      ["groups"][0]["state"] == "Empty")
    ok(cli(target, "group", "seek", group, "--to", "latest"))
    assert ck_group_offsets(admin, group) == {(topic, 0): 5}
    ok(cli(target, "group", "delete", group))
    ok(cli(target, "topic", "delete", topic))


@covers("admin-configs", clients=["ck"])
def test_cluster_info_and_broker_configs(target):
    admin = AdminClient(ck_conf(target.bootstrap))
    info = as_json(cli(target, "cluster", "info", fmt="json"))
    md = admin.list_topics(timeout=30)
    assert info["cluster_id"] == md.cluster_id
    assert [(b["id"], b["endpoint"]) for b in info["brokers"]] == [
        (b.id, f"{b.host}:{b.port}") for b in md.brokers.values()]
    assert info["brokers"][0]["endpoint"] == target.bootstrap
    text = ok(cli(target, "cluster", "info")).stdout
    assert md.cluster_id in text and target.bootstrap.rsplit(":", 1)[1] in text

    broker = ConfigResource(ResourceType.BROKER, "1")

    def theirs():
        return admin.describe_configs([broker])[broker].result(timeout=30)["log.retention.ms"]

    ok(cli(target, "cluster", "config", "set", "log.retention.ms=5400000"))
    # Kafka's brokers apply a dynamic config when its record reaches them.
    dynamic_default = ("5400000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)
    assert eventually(lambda: (theirs().value, theirs().source) == dynamic_default), theirs()
    assert ok(cli(target, "cluster", "config", "get", "log.retention.ms")).stdout == "5400000\n"
    entry = as_json(cli(target, "cluster", "config", "get", "log.retention.ms", fmt="json"))
    assert (entry["value"], entry["source"]) == ("5400000", "DYNAMIC_DEFAULT_BROKER_CONFIG")
    everything = as_json(cli(target, "cluster", "config", "get", fmt="json"))
    assert everything["broker"] == 1
    assert {c["name"]: c["value"] for c in everything["configs"]}["log.retention.ms"] == "5400000"

    ok(cli(target, "cluster", "config", "delete", "log.retention.ms"))
    assert eventually(lambda: theirs().source != ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)
    one_error_line(cli(target, "cluster", "config", "get", "no.such.key"), "no config 'no.such.key'")
    one_error_line(cli(target, "cluster", "config", "set", "listeners=PLAINTEXT://:1"),
                   "the cluster default")


def test_unreachable_broker_is_one_line_naming_the_address():
    address = f"127.0.0.1:{free_port()}"
    for args in (["topic", "list"], ["group", "list"], ["cluster", "info"]):
        out = cli(None, *args, brokers=address)
        one_error_line(out, f"cannot connect to {address}")
        assert out.stdout == ""


def test_a_silent_broker_times_out_in_one_line():
    """A port that accepts and never answers: the request timeout, not a hang."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        address = "127.0.0.1:%d" % server.getsockname()[1]
        started = time.monotonic()
        out = cli(None, "topic", "list", "--timeout-ms", "500", brokers=address)
        one_error_line(out, address, "no answer within the request timeout")
        assert time.monotonic() - started < 10


def test_the_first_reachable_bootstrap_broker_answers(target):
    dead = f"127.0.0.1:{free_port()}"
    info = as_json(cli(target, "cluster", "info", fmt="json", brokers=f"{dead},{target.bootstrap}"))
    assert info["brokers"][0]["endpoint"] == target.bootstrap


def test_default_broker_is_the_local_listener(target):
    """No -b: the first non-controller listener of the same configuration
    the broker loads, its wildcard host replaced by loopback."""
    port = target.bootstrap.rsplit(":", 1)[1]
    out = subprocess.run([str(runnel_bin()), "--override", f"listeners=PLAINTEXT://0.0.0.0:{port}",
                          "cluster", "info", "--format", "json"],
                         capture_output=True, text=True, timeout=60)
    assert json.loads(ok(out).stdout)["brokers"][0]["endpoint"] == target.bootstrap


def test_shell_completions():
    for shell, word in (("bash", "_runnel"), ("zsh", "#compdef runnel"), ("fish", "complete -c runnel")):
        out = ok(subprocess.run([str(runnel_bin()), "completion", shell], capture_output=True, text=True,
                                timeout=30))
        assert word in out.stdout and "seek" in out.stdout and "alter-config" in out.stdout
    script = ok(subprocess.run([str(runnel_bin()), "completion", "bash"], capture_output=True, text=True,
                               timeout=30)).stdout
    assert shutil.which("bash"), "bash is needed to check the completion script"
    ok(subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, timeout=30))
