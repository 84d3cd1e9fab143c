"""A Runnel cluster of processes on loopback, as Kafka users run one: a
controller-only node (`process.roles=controller`, node 1) and three
broker-only nodes (2, 3, 4) that join it over KRaft's wire. Clients are
given the whole bootstrap list and must be routed to each partition's
leader; admin requests go to any broker and are forwarded to the
controller; Kafka's tools see the cluster as they would see Kafka's.

Topics here have one replica, so a broker that is killed takes its
partitions offline until it returns; `test_replication` covers replicated
topics.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import yaml

import pytest

from clients import assert_same_records, counts_of, make_records, wait_until
from harness import kafka as kafka_ref
from harness.runnel import REPO_ROOT, RunnelBroker, RunnelCluster, free_port
from registry import BY_NAME, covers
from test_kafka_tools import tool

SESSION_MS = 3000

pytestmark = covers("cluster", clients=["java-4.1", "franz-go", "librdkafka", "kafka-tools"])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = RunnelCluster(tmp_path_factory.mktemp("cluster"), brokers=3, dedicated=True,
                      overrides={"broker.heartbeat.interval.ms": "500", "auto.create.topics.enable": "false"},
                      controller_overrides={"broker.session.timeout.ms": str(SESSION_MS)})
    c.start()
    yield c
    c.stop()


def describe(bootstrap: str, topic: str, broker_down: bool = False) -> dict[int, tuple[int, list[int]]]:
    """kafka-topics --describe: partition -> (leader, replicas). With a
    broker down, the tool's warnings that it cannot reach it are expected.
    A topic the answering broker has not applied yet has no partitions
    there: the waits below poll until it has."""
    try:
        run = tool("TopicCommand", "--bootstrap-server", bootstrap, "--describe", "--topic", topic,
                   ok=not broker_down)
    except AssertionError as e:
        if f"Topic '{topic}' does not exist" in str(e):
            return {}
        raise
    if run.returncode != 0 and f"Topic '{topic}' does not exist" in run.stdout:
        return {}
    assert run.returncode == 0, run
    parts = {}
    for m in re.finditer(r"Partition: (\d+)\s+Leader: (-?\d+|none)\s+Replicas: ([\d,]*)", run.stdout):
        leader = -1 if m.group(2) == "none" else int(m.group(2))
        parts[int(m.group(1))] = (leader, [int(x) for x in m.group(3).split(",") if x])
    return parts


def create(bootstrap: str, topic: str, partitions: int) -> None:
    out = tool("TopicCommand", "--bootstrap-server", bootstrap, "--create", "--topic", topic,
               "--partitions", str(partitions), "--replication-factor", "1").stdout
    assert f"Created topic {topic}" in out, out


def test_topics_created_through_any_broker_are_spread_and_seen_by_all(cluster, topic_name):
    topic_name = topic_name()
    b2, b3, b4 = cluster.brokers
    create(b4.bootstrap, topic_name, 6)
    layouts = [wait_until(f"{topic_name} on {b.name}", lambda b=b: len(describe(b.bootstrap, topic_name)) == 6
                          and describe(b.bootstrap, topic_name)) for b in (b2, b3, b4)]
    assert layouts[0] == layouts[1] == layouts[2], layouts
    leaders = [leader for leader, _ in layouts[0].values()]
    # Six partitions over three brokers: two led by each.
    assert sorted(leaders) == [2, 2, 3, 3, 4, 4], layouts[0]
    assert all(replicas == [leader] for leader, replicas in layouts[0].values()), layouts[0]
    # Each leader holds its partitions' logs; no other broker does.
    for p, (leader, _) in layouts[0].items():
        holders = [b.name for b in cluster.brokers if (b.data_dir / f"{topic_name}-{p}").is_dir()]
        assert holders == [f"node-{leader}"], (p, holders)
    # A replication factor the cluster cannot give is refused.
    run = tool("TopicCommand", "--bootstrap-server", b2.bootstrap, "--create", "--topic", topic_name + "-rf4",
               "--partitions", "1", "--replication-factor", "4", ok=False)
    assert run.returncode != 0 and "InvalidReplicationFactor" in run.stdout + run.stderr, run


@pytest.mark.parametrize("client", ["java-4.1", "franz-go", "librdkafka"])
def test_clients_bootstrapped_on_every_broker_reach_each_leader(cluster, topic_name, client):
    topic_name = topic_name()
    c = BY_NAME[client]
    create(cluster.brokers[0].bootstrap, topic_name, 6)
    wait_until("every broker knows the topic",
               lambda: all(len(describe(b.bootstrap, topic_name)) == 6 for b in cluster.brokers))
    recs = make_records(300, 6, seed=client, timestamp_base_ms=None)
    placed = c.produce(cluster.bootstrap, topic_name, recs)
    assert sorted({p for p, _ in placed}) == list(range(6))
    got = c.consume(cluster.bootstrap, topic_name, counts_of({p: [r for r in recs if r.partition == p]
                                                             for p in range(6)}))
    assert_same_records(recs, got, check_timestamps=False)
    # The records are where the metadata says: on each partition's leader.
    layout = describe(cluster.bootstrap, topic_name)
    for p, (leader, _) in layout.items():
        segs = list((cluster.broker(leader).data_dir / f"{topic_name}-{p}").glob("*.log"))
        assert sum(s.stat().st_size for s in segs) > 0, (p, leader)


def test_a_killed_broker_goes_offline_and_comes_back(cluster, topic_name):
    topic_name = topic_name()
    create(cluster.brokers[0].bootstrap, topic_name, 3)
    wait_until("the topic is known", lambda: len(describe(cluster.bootstrap, topic_name)) == 3)
    c = BY_NAME["librdkafka"]
    recs = make_records(60, 3, seed="offline")
    c.produce(cluster.bootstrap, topic_name, recs)
    layout = describe(cluster.bootstrap, topic_name)
    victim_id = layout[0][0]
    victim = cluster.broker(victim_id)
    others = ",".join(b.bootstrap for b in cluster.brokers if b is not victim)
    victim.kill()
    started = time.monotonic()
    try:
        wait_until("the killed broker's partitions go offline",
                   lambda: all(leader == -1 for leader, replicas in describe(others, topic_name, True).values()
                               if replicas == [victim_id]), timeout=SESSION_MS / 1000 + 15)
        offline_after = time.monotonic() - started
        print(f"partitions of broker {victim_id} offline {offline_after:.1f}s after kill -9 "
              f"(session {SESSION_MS} ms)")
    finally:
        victim.start()
    wait_until("its partitions come back", lambda: describe(cluster.bootstrap, topic_name, True) == layout,
               timeout=30)
    # Nothing acknowledged was lost: everything reads back.
    got = c.consume(cluster.bootstrap, topic_name, counts_of({p: [r for r in recs if r.partition == p]
                                                             for p in range(3)}))
    assert_same_records(recs, got)


def test_kafka_metadata_quorum_and_dump_log_see_the_cluster(cluster):
    b2 = cluster.brokers[0]
    status = tool("MetadataQuorumCommand", "--bootstrap-server", b2.bootstrap, "describe", "--status").stdout
    assert re.search(r"LeaderId:\s+1\b", status), status
    assert re.search(r"CurrentVoters:\s+\[.*\"id\":\s*1\b", status), status
    for n in (2, 3, 4):
        assert re.search(rf"CurrentObservers:\s+\[.*\"id\":\s*{n}\b", status), status
    replication = tool("MetadataQuorumCommand", "--bootstrap-controller", f"127.0.0.1:{cluster.controller_port}",
                       "describe", "--replication").stdout
    rows = [line.split() for line in replication.splitlines()[1:] if line.strip()]
    assert {(int(r[0]), r[-1]) for r in rows} == {(1, "Leader"), (2, "Observer"), (3, "Observer"),
                                                   (4, "Observer")}, replication
    # A broker's copy of the metadata log is Kafka's format: Kafka's decoder reads it.
    segment = sorted((b2.data_dir / "__cluster_metadata-0").glob("*.log"))[-1]
    out = kafka_ref.run_tool("kafka.tools.DumpLogSegments",
                             ["--cluster-metadata-decoder", "--files", str(segment)], timeout=120)
    assert "REGISTER_BROKER_RECORD" in out and "Exception" not in out, out[-3000:]


def test_a_broker_restarted_with_an_old_metadata_offset_catches_up(cluster, topic_name):
    topic_name = topic_name()
    b3 = cluster.brokers[1]
    b3.stop()
    made = [f"{topic_name}-{i}" for i in range(3)]
    for t in made:
        create(cluster.brokers[0].bootstrap, t, 1)
    b3.start()
    wait_until("the restarted broker knows every topic",
               lambda: all(len(describe(b3.bootstrap, t)) == 1 for t in made))


COMPOSE = REPO_ROOT / "docker" / "compose" / "cluster.yml"
ADDRESS_VARS = ("KAFKA_LISTENERS", "KAFKA_ADVERTISED_LISTENERS", "KAFKA_CONTROLLER_QUORUM_VOTERS")


def compose_as_processes(path: Path, workdir: Path) -> list[RunnelBroker]:
    """The services of a compose file as Runnel processes on loopback, with
    exactly their environment: every container port gets a free host port,
    service host names and `localhost` (a published port) become 127.0.0.1,
    and each service's log dir its own directory."""
    services = yaml.safe_load(path.read_text())["services"]
    ports: dict[tuple[str, int], int] = {}

    def mapped(service: str, host: str, port: int) -> str:
        if host in services:
            key = (host, port)
        elif host == "localhost":
            published = {int(h): int(c) for h, c in (p.split(":") for p in services[service].get("ports", []))}
            key = (service, published[port])
        else:
            key = (service, port)
        return f"127.0.0.1:{ports.setdefault(key, free_port())}"

    nodes = []
    for name, spec in services.items():
        env = {k: str(v) for k, v in spec["environment"].items()}
        for var in ADDRESS_VARS:
            if var in env:
                env[var] = re.sub(r"([\w.-]*):(\d+)", lambda m: mapped(name, m.group(1), int(m.group(2))),
                                  env[var])
        env["KAFKA_LOG_DIRS"] = str(workdir / name / "data")
        node = RunnelBroker(workdir / name, name=name, env=env)
        # Configured by the environment alone, as in the container.
        node.overrides = {"runnel.metrics.listener": ""}
        listeners = dict(re.findall(r"(\w+)://([\d.:]+)", env.get("KAFKA_ADVERTISED_LISTENERS")
                                    or env["KAFKA_LISTENERS"]))
        client = listeners.get("EXTERNAL") or listeners["CONTROLLER"]
        node.port = int(client.rsplit(":", 1)[1])
        node.listed_when_ready = "EXTERNAL" in listeners
        nodes.append(node)
    return nodes


def test_the_cluster_compose_file_runs_as_processes(tmp_path, topic_name):
    """docker/compose/cluster.yml's configuration, run without a Docker engine."""
    topic_name = topic_name()
    nodes = compose_as_processes(COMPOSE, tmp_path)
    try:
        for node in nodes:
            node.start()
        brokers = [n for n in nodes if n.listed_when_ready]
        bootstrap = ",".join(b.bootstrap for b in brokers)
        c = BY_NAME["librdkafka"]
        # Created with KAFKA_NUM_PARTITIONS=3, spread over the brokers.
        out = tool("TopicCommand", "--bootstrap-server", bootstrap, "--create", "--topic", topic_name).stdout
        assert f"Created topic {topic_name}" in out, out
        wait_until("every broker knows the topic",
                   lambda: all(len(describe(b.bootstrap, topic_name)) == 3 for b in brokers))
        recs = make_records(90, 3, seed="compose")
        c.produce(bootstrap, topic_name, recs)
        layout = describe(bootstrap, topic_name)
        assert sorted(leader for leader, _ in layout.values()) == [2, 3, 4], layout
        got = c.consume(bootstrap, topic_name, counts_of({p: [r for r in recs if r.partition == p]
                                                         for p in range(3)}))
        assert_same_records(recs, got)
    finally:
        for node in reversed(nodes):
            if node.alive:
                node.stop()


def test_kafka_cluster_unregister_removes_a_stopped_broker(cluster):
    b2, _, b4 = cluster.brokers
    b4.stop()
    try:
        # Stopped cleanly, it is fenced at once; unregistered, it is gone
        # from the cluster's registrations, not only from the live list.
        tool("ClusterTool", "unregister", "--bootstrap-server", b2.bootstrap, "--id", "4")
        run = tool("ClusterTool", "unregister", "--bootstrap-server", b2.bootstrap, "--id", "9", ok=False)
        assert run.returncode != 0 and "BrokerIdNotRegistered" in run.stdout + run.stderr, run
        brokers = tool("BrokerApiVersionsCommand", "--bootstrap-server", b2.bootstrap).stdout
        assert "(id: 4" not in brokers, brokers
        # The controller wrote Kafka's UnregisterBrokerRecord for it.
        segments = sorted((cluster.controller.data_dir / "__cluster_metadata-0").glob("*.log"))
        out = kafka_ref.run_tool("kafka.tools.DumpLogSegments",
                                 ["--cluster-metadata-decoder", "--files", str(segments[-1])], timeout=120)
        assert re.search(r'"type":"UNREGISTER_BROKER_RECORD".*"brokerId":4\b', out), out[-3000:]
    finally:
        b4.start()
    # Started again, it registers anew.
    wait_until("broker 4 is back", lambda: f"(id: 4" in tool(
        "BrokerApiVersionsCommand", "--bootstrap-server", b2.bootstrap).stdout)


def test_librdkafka_admin_through_a_broker_is_decided_by_the_controller(cluster, topic_name):
    """A second stack's admin requests to a broker-only node: forwarded in
    Envelopes and decided by the controller, seen by every broker."""
    from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic
    from clients import ck_conf
    topic_name = topic_name()
    admin = AdminClient(ck_conf(cluster.brokers[2].bootstrap))
    admin.create_topics([NewTopic(topic_name, 2, 1)])[topic_name].result(30)
    wait_until("the topic on every broker",
               lambda: all(len(describe(b.bootstrap, topic_name)) == 2 for b in cluster.brokers))
    admin.create_partitions([NewPartitions(topic_name, 4)])[topic_name].result(30)
    resource = ConfigResource("topic", topic_name, set_config={"retention.ms": "7200000"})
    admin.alter_configs([resource])[resource].result(30)
    wait_until("four partitions on every broker",
               lambda: all(len(describe(b.bootstrap, topic_name)) == 4 for b in cluster.brokers))
    other = AdminClient(ck_conf(cluster.brokers[0].bootstrap))
    described = other.describe_configs([ConfigResource("topic", topic_name)])
    configs = next(iter(described.values())).result(30)
    assert configs["retention.ms"].value == "7200000", configs["retention.ms"]
    failed = admin.create_topics([NewTopic(topic_name, 1, 1)])[topic_name]
    with pytest.raises(Exception, match="TOPIC_ALREADY_EXISTS|already exists"):
        failed.result(30)
    admin.delete_topics([topic_name])[topic_name].result(30)
    wait_until("gone from every broker",
               lambda: all(topic_name not in tool("TopicCommand", "--bootstrap-server", b.bootstrap,
                                                  "--list").stdout.split() for b in cluster.brokers))
