"""An Apache Kafka 4.1.2 broker (`process.roles=broker`) joins a Runnel
controller: it replicates Runnel's metadata log with KRaft's Fetch on the
controller listener, registers and heartbeats (KIP-631), is unfenced, and
serves Metadata built from Runnel's records. Kafka's own broker is the
client of the quorum's wire here: it decodes every record Runnel wrote, at
the versions it wrote them.

Clients then use the two-broker cluster as one: librdkafka bootstrapped on
the Kafka broker is routed to Runnel, the leader of the partitions made
before it joined, and reads what was produced there; partitions made after
it joined are placed on both brokers, and librdkafka bootstrapped on Runnel
produces to and consumes from the ones the Kafka broker leads. Admin
requests sent to the Kafka broker are forwarded (Envelope) to Runnel's
controller and decided there. A Kafka broker that stops is fenced at once,
its partitions left without a leader until it is back; one killed is
fenced when its session expires.
"""

from __future__ import annotations

import re
import signal
import time

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from clients import (assert_same_records, by_partition, ck_conf, ck_consume, ck_produce, counts_of,
                     make_records, wait_until)
from harness import kafka, procs
from registry import covers

SESSION_MS = 4000

pytestmark = covers("tools", clients=["kafka-tools", "librdkafka"])


def counts_of_records(recs) -> dict[int, int]:
    return {p: len(v) for p, v in by_partition(recs).items()}


def brokers_of(bootstrap: str) -> dict[int, int]:
    md = AdminClient(ck_conf(bootstrap)).list_topics(timeout=15)
    return {b.id: b.port for b in md.brokers.values()}


def leaders_of(bootstrap: str, topic: str) -> dict[int, int]:
    md = AdminClient(ck_conf(bootstrap)).list_topics(topic, timeout=15)
    return {p: v.leader for p, v in md.topics[topic].partitions.items()}


def runnel_controller(broker_factory, overrides: dict[str, str]):
    """A Runnel combined node with a controller listener in a static quorum
    of itself, as Kafka's single-node examples configure one."""
    r = broker_factory(overrides, start=False)
    r.controller_port = procs.free_port()
    r.overrides["listeners"] += f",CONTROLLER://127.0.0.1:{r.controller_port}"
    r.overrides["controller.listener.names"] = "CONTROLLER"
    r.overrides["controller.quorum.voters"] = f"1@127.0.0.1:{r.controller_port}"
    return r.start()


@pytest.fixture
def controller(broker_factory):
    return runnel_controller(broker_factory, {"broker.session.timeout.ms": str(SESSION_MS)})


def test_a_kafka_broker_joins_a_runnel_controller(tmp_path, controller):
    r = controller
    admin = AdminClient(ck_conf(r.bootstrap))
    admin.create_topics([NewTopic("made-before", 3, 1)])["made-before"].result(30)
    recs = make_records(300, 3, seed="observer")
    ck_produce(r.bootstrap, "made-before", recs)
    cluster_id = admin.list_topics(timeout=15).cluster_id

    k = kafka.KafkaBroker.broker_of(tmp_path / "kafka", cluster_id, f"1@127.0.0.1:{r.controller_port}")
    k.start(timeout=90)
    try:
        # Registered, caught up and unfenced: both sides list both brokers.
        want = {1: r.port, 2: k.port}
        wait_until("broker 2 listed by Runnel", lambda: brokers_of(r.bootstrap) == want)
        assert brokers_of(k.bootstrap) == want

        # The Kafka broker's metadata is built from Runnel's records.
        kmd = AdminClient(ck_conf(k.bootstrap)).list_topics(timeout=15)
        assert kmd.cluster_id == cluster_id
        assert {p: v.leader for p, v in kmd.topics["made-before"].partitions.items()} == {0: 1, 1: 1, 2: 1}
        # A topic made after it joined reaches it through the fetch loop.
        admin.create_topics([NewTopic("made-after", 2, 1)])["made-after"].result(30)
        wait_until("made-after on the Kafka broker",
                   lambda: "made-after" in AdminClient(ck_conf(k.bootstrap)).list_topics(timeout=15).topics)
        # Placed over both brokers: one partition each.
        after_leaders = leaders_of(r.bootstrap, "made-after")
        assert sorted(after_leaders.values()) == [1, 2], after_leaders
        on_kafka = next(p for p, leader in after_leaders.items() if leader == 2)
        # Bootstrapped on Runnel, librdkafka produces to and reads from the
        # partition the Kafka broker leads, at the Kafka broker.
        after_recs = make_records(200, 2, seed="placed")
        ck_produce(r.bootstrap, "made-after", after_recs)
        got_after = ck_consume(r.bootstrap, "made-after", counts_of_records(after_recs))
        assert_same_records(after_recs, got_after)
        assert counts_of(got_after)[on_kafka] > 0

        # A client bootstrapped on the Kafka broker reads from the leader.
        got = ck_consume(k.bootstrap, "made-before", {p: 100 for p in range(3)})
        assert counts_of(got) == {0: 100, 1: 100, 2: 100}
        assert_same_records(recs, got)

        # The Kafka broker auto-creates a topic a producer asks it about
        # (auto.create.topics.enable) through Runnel's controller, in an
        # Envelope: the first Metadata request goes to the bootstrap broker.
        producer = Producer(ck_conf(k.bootstrap))
        producer.list_topics("auto-via-kafka", timeout=15)
        wait_until("auto-via-kafka on Runnel", lambda: "auto-via-kafka" in admin.list_topics(timeout=15).topics)
        assert re.search(r"serving a request a broker forwarded api=CreateTopics", r.tail(lines=400)), r.tail()

        # Admin through the Kafka broker: forwarded to Runnel's controller.
        kadmin = AdminClient(ck_conf(k.bootstrap))
        kadmin.create_topics([NewTopic("made-via-kafka", 4, 1, config={"retention.ms": "3600000"})])[
            "made-via-kafka"].result(30)
        wait_until("made-via-kafka on Runnel", lambda: "made-via-kafka" in admin.list_topics(timeout=15).topics)
        assert len(admin.list_topics(timeout=15).topics["made-via-kafka"].partitions) == 4
        kadmin.create_partitions([NewPartitions("made-via-kafka", 6)])["made-via-kafka"].result(30)
        wait_until("six partitions", lambda: len(
            admin.list_topics(timeout=15).topics["made-via-kafka"].partitions) == 6)
        with pytest.raises(KafkaException) as refused:
            kadmin.create_topics([NewTopic("made-before", 1, 1)])["made-before"].result(30)
        assert refused.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS, refused.value
        kadmin.delete_topics(["made-via-kafka"])["made-via-kafka"].result(30)
        wait_until("made-via-kafka gone", lambda: "made-via-kafka" not in admin.list_topics(timeout=15).topics)
        assert "forwarded request refused" not in r.tail(lines=400)

        # Kafka's quorum tool on Runnel's controller port: the observer.
        out = kafka.run_tool("org.apache.kafka.tools.MetadataQuorumCommand",
                             ["--bootstrap-controller", f"127.0.0.1:{r.controller_port}",
                              "describe", "--replication"], timeout=60)
        rows = {line.split()[0]: line.split() for line in out.strip().splitlines()[1:]}
        assert rows["1"][-1] == "Leader" and rows["2"][-1] == "Observer", out
        assert re.fullmatch(r"[\w-]{22}", rows["2"][1]), out

        # A controlled shutdown: its leaderships move (the partition only it
        # holds has no leader), and it is fenced at once.
        k.stop()
        wait_until("broker 2 fenced after its shutdown", lambda: brokers_of(r.bootstrap) == {1: r.port},
                   timeout=10)
        assert "broker session expired" not in r.tail(lines=400)
        assert leaders_of(r.bootstrap, "made-after")[on_kafka] == -1

        # Back, and then killed: fenced when its session expires. Unfenced,
        # it leads its partition again, with the records it kept.
        k.start(timeout=90)
        wait_until("broker 2 back", lambda: brokers_of(r.bootstrap) == want)
        wait_until("broker 2 leads again", lambda: leaders_of(r.bootstrap, "made-after")[on_kafka] == 2)
        again = ck_consume(r.bootstrap, "made-after", {on_kafka: counts_of(got_after)[on_kafka]})
        assert [g.value for g in again[on_kafka]] == [g.value for g in got_after[on_kafka]]
        k.stop(signal.SIGKILL, timeout=10)
        killed = time.monotonic()
        wait_until("broker 2 fenced after kill -9", lambda: brokers_of(r.bootstrap) == {1: r.port},
                   timeout=SESSION_MS / 1000 * 4)
        assert time.monotonic() - killed >= SESSION_MS / 1000 / 2
        assert "broker session expired" in r.tail(lines=400)
    finally:
        if k.alive:
            k.stop(signal.SIGKILL, timeout=10)
        errors = [line for line in k.log_tail(2000) if re.search(r"\] (ERROR|WARN) ", line)]
        print("\n".join(errors[:20]))
    # The Kafka broker never logged an error about what Runnel sent. One
    # ERROR is Kafka's own: its ReplicaManager.getOrCreatePartition logs
    # "Expected partition ... to exist, but it was missing" for any partition
    # added (CreatePartitions) to a topic the broker's previous image had,
    # whichever controller placed it there.
    added_partition = re.compile(r"Expected partition made-via-kafka-\d+ with topic id \S+ to exist")
    assert not [e for e in errors if "ERROR" in e and not added_partition.search(e)], errors[:20]


def test_a_kafka_broker_catches_up_from_a_runnel_snapshot(tmp_path, broker_factory):
    """Runnel snapshots its metadata after every decision here, so the log
    starts past what a new broker has: the Kafka broker is pointed to the
    snapshot (Fetch's SnapshotId), loads it with FetchSnapshot, and then
    follows the log."""
    r = runnel_controller(broker_factory, {"metadata.log.max.record.bytes.between.snapshots": "1"})
    admin = AdminClient(ck_conf(r.bootstrap))
    for i in range(3):
        admin.create_topics([NewTopic(f"snapped-{i}", i + 1, 1)])[f"snapped-{i}"].result(30)
    metadata_dir = r.data_dir / "__cluster_metadata-0"
    snapshots = sorted(metadata_dir.glob("*.checkpoint"))
    assert snapshots, sorted(p.name for p in metadata_dir.iterdir())
    served = {p.name: p.read_bytes() for p in snapshots}
    cluster_id = admin.list_topics(timeout=15).cluster_id

    k = kafka.KafkaBroker.broker_of(tmp_path / "kafka", cluster_id, f"1@127.0.0.1:{r.controller_port}")
    k.start(timeout=90)
    try:
        wait_until("broker 2 listed", lambda: brokers_of(r.bootstrap) == {1: r.port, 2: k.port})
        topics = AdminClient(ck_conf(k.bootstrap)).list_topics(timeout=15).topics
        assert {f"snapped-{i}": len(topics[f"snapped-{i}"].partitions) for i in range(3)} == \
            {"snapped-0": 1, "snapped-1": 2, "snapped-2": 3}
        # And it follows the log after the snapshot.
        admin.create_topics([NewTopic("after-snapshot", 2, 1)])["after-snapshot"].result(30)
        wait_until("after-snapshot on the Kafka broker",
                   lambda: "after-snapshot" in AdminClient(ck_conf(k.bootstrap)).list_topics(timeout=15).topics)
        # The Kafka broker fetched the snapshot Runnel had, byte for byte.
        assert any("Fetching snapshot OffsetAndEpoch" in line for line in k.log_tail(5000))
        kafka_copy = tmp_path / "kafka" / "data" / "__cluster_metadata-0"
        fetched = {p.name: p.read_bytes() for p in kafka_copy.glob("*.checkpoint")}
        same = [name for name in fetched if served.get(name) == fetched[name]]
        assert same, (sorted(fetched), sorted(served))
    finally:
        k.stop(signal.SIGKILL, timeout=10)
        errors = [line for line in k.log_tail(2000) if re.search(r"\] ERROR ", line)]
    assert not errors, errors[:20]
