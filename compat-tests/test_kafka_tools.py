"""Kafka's own command-line tools, from the kafka-tools jars on Maven Central
(drivers/kafka-tools/pom.xml), run as `java -cp … org.apache.kafka.tools.X`
against one broker of this module. Each tool's output is parsed and each
change checked by another client. Tools that need an API Runnel does not
serve yet are run too, and must fail naming that API's absence; the table
in docs/compatibility.md lists the same.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

import confluent_kafka as ck
import pytest

import drivers
from harness import kafka, procs
from clients import ck_committed, ck_conf, ck_consume, ck_create_topic, ck_produce, make_records, wait_for_topic
from conftest import GROUP_OVERRIDES, lend, long_lived_broker
from registry import covers

pytestmark = covers("tools", clients=["kafka-tools"])

TOOL_TIMEOUT_S = 90


@pytest.fixture(scope="module")
def _tools_broker(tmp_path_factory):
    yield from long_lived_broker(tmp_path_factory, "tools", GROUP_OVERRIDES)


@pytest.fixture
def b(request, _tools_broker):
    """This module's own broker: the tools change broker configs."""
    yield from lend(request, _tools_broker)


@dataclass
class ToolRun:
    returncode: int
    stdout: str
    stderr: str


def tool(cls: str, *args: str, input: str | None = None, ok: bool = True) -> ToolRun:
    """Run org.apache.kafka.tools.`cls` with `args` (in the tools driver's JVM, drivers/ToolRunner.java).
    With ok=True it must exit 0 and the client must log no WARN/ERROR."""
    d = drivers.driver("kafka-tools", lambda: drivers.tools_argv("serve"))
    reply = d.raw("tool", timeout=TOOL_TIMEOUT_S, **{"class": f"org.apache.kafka.tools.{cls}", "args": list(args),
                                                     "stdin": input or ""})
    assert reply.ok, f"{cls}: {reply.error}"
    run = ToolRun(reply.result["code"], reply.result["stdout"], reply.result["stderr"])
    if ok:
        assert run.returncode == 0, f"{cls} {' '.join(args)} exited {run.returncode}\n{run.stdout}\n{run.stderr}"
        drivers.check_log(f"kafka-tools {cls}", " ".join(args), reply.log, ())
    return run


def test_topics_create_list_describe_alter_delete(b, topic_name):
    t = topic_name()
    bs = ["--bootstrap-server", b.bootstrap]
    out = tool("TopicCommand", *bs, "--create", "--topic", t, "--partitions", "3", "--replication-factor", "1",
               "--config", "retention.ms=3600000").stdout
    assert f"Created topic {t}." in out
    assert t in tool("TopicCommand", *bs, "--list").stdout.split()
    desc = tool("TopicCommand", *bs, "--describe", "--topic", t).stdout
    assert re.search(rf"Topic: {t}\s+TopicId: \S+\s+PartitionCount: 3\s+ReplicationFactor: 1\s+"
                     r"Configs: .*retention\.ms=3600000", desc), desc
    parts = re.findall(rf"Topic: {t}\s+Partition: (\d+)\s+Leader: 1\s+Replicas: 1\s+Isr: 1", desc)
    assert parts == ["0", "1", "2"], desc
    tool("TopicCommand", *bs, "--alter", "--topic", t, "--partitions", "5")
    wait_for_topic(b.bootstrap, t, 5)
    tool("TopicCommand", *bs, "--delete", "--topic", t)
    assert t not in tool("TopicCommand", *bs, "--list").stdout.split()


def test_configs_describe_and_alter_topic_and_broker(b, topic_name):
    t = topic_name()
    bs = ["--bootstrap-server", b.bootstrap]
    ck_create_topic(b.bootstrap, t, partitions=1)
    tool("ConfigCommand", *bs, "--alter", "--entity-type", "topics", "--entity-name", t,
         "--add-config", "retention.ms=7200000,max.message.bytes=200000")
    out = tool("ConfigCommand", *bs, "--describe", "--entity-type", "topics", "--entity-name", t).stdout
    assert f"Dynamic configs for topic {t} are:" in out
    assert re.search(r"retention\.ms=7200000 sensitive=false synonyms=\{DYNAMIC_TOPIC_CONFIG:retention\.ms=7200000",
                     out), out
    tool("ConfigCommand", *bs, "--alter", "--entity-type", "topics", "--entity-name", t,
         "--delete-config", "max.message.bytes")
    out = tool("ConfigCommand", *bs, "--describe", "--entity-type", "topics", "--entity-name", t).stdout
    assert "max.message.bytes" not in out and "retention.ms=7200000" in out

    # Brokers: a dynamic per-broker change, seen by describe --all and removed again.
    tool("ConfigCommand", *bs, "--alter", "--entity-type", "brokers", "--entity-name", "1",
         "--add-config", "log.retention.ms=3600000")
    out = tool("ConfigCommand", *bs, "--describe", "--entity-type", "brokers", "--entity-name", "1").stdout
    assert "log.retention.ms=3600000" in out, out
    out = tool("ConfigCommand", *bs, "--describe", "--all", "--entity-type", "brokers", "--entity-name", "1").stdout
    assert re.search(r"message\.max\.bytes=1048588 sensitive=false", out), out
    tool("ConfigCommand", *bs, "--alter", "--entity-type", "brokers", "--entity-name", "1",
         "--delete-config", "log.retention.ms")
    out = tool("ConfigCommand", *bs, "--describe", "--entity-type", "brokers", "--entity-name", "1").stdout
    assert "log.retention.ms" not in out


def test_console_producer_and_consumer_with_keys_and_headers(b, topic_name):
    t = topic_name()
    bs = ["--bootstrap-server", b.bootstrap]
    ck_create_topic(b.bootstrap, t, partitions=1)
    lines = [f"origin:console,n:{i}\tkey-{i}:value-{i}" for i in range(50)]
    tool("ConsoleProducer", *bs, "--topic", t, "--property", "parse.key=true", "--property", "key.separator=:",
         "--property", "parse.headers=true", input="\n".join(lines) + "\n")
    got = ck_consume(b.bootstrap, t, {0: 50})[0]
    assert [(g.key, g.value) for g in got] == [(f"key-{i}".encode(), f"value-{i}".encode()) for i in range(50)]
    assert got[7].headers == (("origin", b"console"), ("n", b"7"))

    out = tool("consumer.ConsoleConsumer", *bs, "--topic", t, "--from-beginning", "--max-messages", "50",
               "--formatter-property", "print.key=true", "--formatter-property", "print.offset=true",
               "--formatter-property", "print.headers=true", "--formatter-property", "key.separator=|",
               "--formatter-property", "line.separator=\n").stdout
    rows = [l for l in out.splitlines() if l.startswith("Offset:")]
    assert len(rows) == 50, out
    assert rows[3] == "Offset:3|origin:console,n:3|key-3|value-3", rows[3]


def test_get_offsets_and_delete_records(b, topic_name, tmp_path):
    t = topic_name()
    bs = ["--bootstrap-server", b.bootstrap]
    ck_create_topic(b.bootstrap, t, partitions=2)
    ck_produce(b.bootstrap, t, make_records(60, 2, seed="tools", headers=False))
    out = tool("GetOffsetShell", *bs, "--topic", t, "--time", "-1").stdout
    assert sorted(out.split()) == [f"{t}:0:30", f"{t}:1:30"], out
    spec = tmp_path / "delete.json"
    spec.write_text(json.dumps({"version": 1, "partitions": [{"topic": t, "partition": 0, "offset": 12}]}))
    out = tool("DeleteRecordsCommand", *bs, "--offset-json-file", str(spec)).stdout
    assert re.search(rf"partition: {t}-0\s+low_watermark: 12", out), out
    out = tool("GetOffsetShell", *bs, "--topic", t, "--time", "-2").stdout
    assert sorted(out.split()) == [f"{t}:0:12", f"{t}:1:0"], out


def test_consumer_groups_list_describe_reset_delete_offsets_and_delete(b, topic_name):
    t = topic_name()
    group = f"g-{uuid.uuid4().hex[:8]}"
    bs = ["--bootstrap-server", b.bootstrap]
    ck_create_topic(b.bootstrap, t, partitions=2)
    ck_produce(b.bootstrap, t, make_records(40, 2, seed="cg", headers=False))
    c = ck.Consumer(ck_conf(b.bootstrap, **{"group.id": group, "enable.auto.commit": False}))
    c.commit(offsets=[ck.TopicPartition(t, 0, 15), ck.TopicPartition(t, 1, 20)], asynchronous=False)
    c.close()

    assert group in tool("consumer.group.ConsumerGroupCommand", *bs, "--list").stdout.split()
    out = tool("consumer.group.ConsumerGroupCommand", *bs, "--describe", "--group", group).stdout
    rows = {int(m[0]): (int(m[1]), int(m[2]), int(m[3]))
            for m in re.findall(rf"{group}\s+{t}\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", out)}
    assert rows == {0: (15, 20, 5), 1: (20, 20, 0)}, out

    out = tool("consumer.group.ConsumerGroupCommand", *bs, "--reset-offsets", "--group", group, "--topic", t,
               "--to-earliest", "--execute").stdout
    assert sorted(re.findall(rf"{group}\s+{t}\s+(\d)\s+(\d+)", out)) == [("0", "0"), ("1", "0")], out
    out = tool("consumer.group.ConsumerGroupCommand", *bs, "--delete-offsets", "--group", group, "--topic", f"{t}:1").stdout
    assert re.search(rf"{t}\s+1\s+Successful", out), out
    got = ck_committed(b.bootstrap, group, t, 2)
    assert got == {0: 0, 1: ck.OFFSET_INVALID}
    out = tool("consumer.group.ConsumerGroupCommand", *bs, "--delete", "--group", group).stdout
    assert "successful" in out, out
    assert group not in tool("consumer.group.ConsumerGroupCommand", *bs, "--list").stdout.split()


def test_producer_and_consumer_perf_tests(b, topic_name):
    t = topic_name()
    ck_create_topic(b.bootstrap, t, partitions=2)
    n = 20_000
    out = tool("ProducerPerformance", "--topic", t, "--num-records", str(n), "--record-size", "200",
               "--throughput", "-1", "--producer-props", f"bootstrap.servers={b.bootstrap}", "acks=all").stdout
    assert re.search(rf"^{n} records sent", out, re.M), out
    out = tool("ConsumerPerformance", "--bootstrap-server", b.bootstrap, "--topic", t, "--messages", str(n),
               "--timeout", "60000").stdout
    header, data = [l for l in out.splitlines() if l.strip()][-2:]
    row = dict(zip([h.strip() for h in header.split(",")], [v.strip() for v in data.split(",")]))
    assert int(row["data.consumed.in.nMsg"]) == n, out


def test_features_and_broker_api_versions(b):
    out = tool("FeatureCommand", "--bootstrap-server", b.bootstrap, "describe").stdout
    assert re.search(r"Feature: metadata\.version\s+SupportedMinVersion: 3\.3-IV3\s+SupportedMaxVersion: 4\.1-IV1\s+"
                     r"FinalizedVersionLevel: 4\.1-IV1", out), out
    assert re.search(r"Feature: group\.version\s+SupportedMinVersion: 0\s+SupportedMaxVersion: 1\s+"
                     r"FinalizedVersionLevel: 1", out), out
    out = tool("BrokerApiVersionsCommand", "--bootstrap-server", b.bootstrap).stdout
    assert re.search(r"Produce\(0\): 0 to 11 \[usable: 11\]", out), out
    assert re.search(r"ConsumerGroupHeartbeat\(68\): 0 to 1 \[usable: 1\]", out), out


def test_metadata_quorum_tool_shows_the_voter(b):
    """kafka-metadata-quorum describe --status / --replication: this node
    leads the quorum alone; its log end offset is the high watermark."""
    status = tool("MetadataQuorumCommand", "--bootstrap-server", b.bootstrap, "describe", "--status").stdout
    fields = dict(re.findall(r"^(\w+):\s+(.*)$", status, re.M))
    assert fields["LeaderId"] == "1" and fields["LeaderEpoch"] == "1", status
    assert int(fields["HighWatermark"]) > 0 and fields["MaxFollowerLag"] == "0", status
    assert re.fullmatch(r'\[\{"id": 1, "directoryId": "[\w-]{22}"\}\]', fields["CurrentVoters"]), status
    assert fields["CurrentObservers"] == "[]", status
    replication = tool("MetadataQuorumCommand", "--bootstrap-server", b.bootstrap, "describe",
                       "--replication").stdout
    [header, row] = [line.split() for line in replication.strip().splitlines()]
    assert header[:4] == ["NodeId", "DirectoryId", "LogEndOffset", "Lag"], replication
    node = dict(zip(header, row))
    assert node["NodeId"] == "1" and node["Lag"] == "0" and node["Status"] == "Leader", replication
    assert int(node["LogEndOffset"]) >= int(fields["HighWatermark"]), replication


def _controller_views(bootstrap_controller: str) -> dict:
    """What the --bootstrap-controller tools (KIP-919) show of a controller
    port, with ids, ports, offsets and times masked."""
    bc = bootstrap_controller
    status = tool("MetadataQuorumCommand", "--bootstrap-controller", bc, "describe", "--status").stdout
    fields = dict(re.findall(r"^(\w+):\s+(.*)$", status, re.M))
    fields["ClusterId"] = re.sub(r"[\w-]{22}", "<id>", fields["ClusterId"])
    fields["HighWatermark"] = "<positive>" if int(fields["HighWatermark"]) > 0 else fields["HighWatermark"]
    fields["CurrentVoters"] = re.sub(r":\d+\"", ':<port>"',
                                     re.sub(r'"directoryId": "[\w-]{22}"', '"directoryId": "<id>"',
                                            fields["CurrentVoters"]))
    replication = tool("MetadataQuorumCommand", "--bootstrap-controller", bc, "describe", "--replication").stdout
    [header, row] = [line.split() for line in replication.strip().splitlines()]
    node = dict(zip(header, row))
    features = tool("FeatureCommand", "--bootstrap-controller", bc, "describe").stdout
    cluster = tool("ClusterTool", "cluster-id", "--bootstrap-controller", bc).stdout
    return {
        "status": fields,
        "replication": (header, {k: node[k] for k in ("NodeId", "Lag", "Status")}),
        # Runnel finalizes fewer features (no transactions V2, ELR, KIP-853).
        "features": sorted(re.sub(r"\s+Epoch: \d+", "", line) for line in features.splitlines()
                           if re.match(r"Feature: (metadata|group)\.version", line)),
        "cluster_id": re.sub(r"[\w-]{22}", "<id>", cluster.strip()),
    }


@covers("tools", clients=["kafka-tools"])
def test_controller_listener_answers_the_controller_tools_as_kafka_does(tmp_path, broker_factory):
    """A controller listener serves what Kafka's controller port serves to
    `--bootstrap-controller` tools: the quorum with the voter's endpoint,
    the feature levels and the cluster id, compared with Kafka 4.1.2's
    own controller port in the same run."""
    k = kafka.KafkaBroker(tmp_path / "kafka")
    k.format()
    k.start()
    try:
        expected = _controller_views(f"127.0.0.1:{k.controller_port}")
    finally:
        k.stop()
    r = broker_factory(start=False)
    controller_port = procs.free_port()
    r.overrides["listeners"] += f",CONTROLLER://127.0.0.1:{controller_port}"
    r.overrides["controller.listener.names"] = "CONTROLLER"
    r.overrides["controller.quorum.voters"] = f"1@127.0.0.1:{controller_port}"
    r.start()
    got = _controller_views(f"127.0.0.1:{controller_port}")
    assert got == expected
    assert got["status"]["LeaderId"] == "1" and got["replication"][1]["Status"] == "Leader", got
    assert '"endpoints": ["CONTROLLER://127.0.0.1:<port>"]' in got["status"]["CurrentVoters"], got
    # The client port answers the same cluster id.
    out = tool("ClusterTool", "cluster-id", "--bootstrap-server", r.bootstrap).stdout
    assert re.sub(r"[\w-]{22}", "<id>", out.strip()) == got["cluster_id"], out


# Tools whose API Runnel does not serve yet, with that API; each must fail
# saying the broker does not support it. docs/compatibility.md lists them.
UNSERVED_TOOLS = [
    ("reassign.ReassignPartitionsCommand", ["--list"], "ListPartitionReassignments"),
    ("TransactionsCommand", ["list"], "ListTransactions"),
]


def test_leader_election_tool_over_every_partition_has_nothing_to_do_on_one_broker(b, topic_name):
    """kafka-leader-election --all-topic-partitions: every partition is led
    by its preferred (only) replica, so nothing is elected and nothing
    fails. Real elections: test_replication.py."""
    ck_create_topic(b.bootstrap, topic_name(), partitions=3)
    run = tool("LeaderElectionCommand", "--bootstrap-server", b.bootstrap, "--election-type", "PREFERRED",
               "--all-topic-partitions", ok=False)
    assert run.returncode == 0, run
    assert "Error" not in run.stdout + run.stderr and "Successfully" not in run.stdout, run


def test_log_dirs_tool_shows_sizes_that_match_the_files(b, topic_name):
    """kafka-log-dirs --describe: each partition in the broker's log dir,
    with the bytes of its segment files."""
    t = topic_name()
    ck_create_topic(b.bootstrap, t, partitions=2)
    ck_produce(b.bootstrap, t, make_records(50, 2, seed="log-dirs"))
    out = tool("LogDirsCommand", "--bootstrap-server", b.bootstrap, "--describe", "--topic-list", t).stdout
    [line] = [x for x in out.splitlines() if x.startswith("{")]
    [broker] = json.loads(line)["brokers"]
    assert broker["broker"] == 1, broker
    [log_dir] = broker["logDirs"]
    assert log_dir["error"] is None, log_dir
    got = {p["partition"]: p["size"] for p in log_dir["partitions"]}
    files = {f"{t}-{p}": sum(f.stat().st_size for f in (b.data_dir / f"{t}-{p}").glob("*.log")) for p in (0, 1)}
    assert got == files and all(files.values()), (got, files)


def test_acl_tool_fails_saying_acls_are_not_supported(b):
    """DescribeAcls is served only to refuse it (SECURITY_DISABLED, as Kafka
    without an authorizer), so kafka-acls says why instead of timing out."""
    proc = tool("AclCommand", "--bootstrap-server", b.bootstrap, "--list", ok=False)
    text = proc.stdout + proc.stderr
    assert "SecurityDisabledException" in text, text
    assert "ACLs are not supported by Runnel yet" in text, text


@pytest.mark.parametrize("cls,args,api", UNSERVED_TOOLS, ids=[f"{c}-{a[0]}" for c, a, _ in UNSERVED_TOOLS])
def test_tools_needing_unserved_apis_fail_as_unsupported(b, cls, args, api):
    proc = tool(cls, "--bootstrap-server", b.bootstrap, *args, ok=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text
    assert "UnsupportedVersionException" in text or "does not support" in text, text
