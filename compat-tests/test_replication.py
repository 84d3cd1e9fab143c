"""ISR replication on a Runnel cluster of processes: a controller-only node
(1) and three brokers (2, 3, 4), topics with replication factor 3 and
`min.insync.replicas=2`, written with acks=all by real clients. Followers
fetch from their leader, the high watermark waits for the ISR, the ISR
shrinks when a broker dies and grows again when it is back and caught up
(AlterPartition), and a leader killed with kill -9 in the middle of a
steady idempotent write loses no acknowledged record: the new leader,
elected from the ISR, has every one, exactly once, in order.
"""

from __future__ import annotations

import re
import threading
import time

import confluent_kafka as ck
from confluent_kafka.admin import AdminClient
import pytest

from clients import (assert_same_records, ck_committed, ck_conf, ck_consume, ck_produce, counts_of,
                     make_records, wait_until)
from harness.runnel import RunnelCluster, free_port
from registry import BY_NAME, covers
from test_health import families, get
from test_kafka_tools import tool
import wire

SESSION_MS = 3000
LAG_MS = 3000

pytestmark = covers("replication", clients=["java-4.1", "librdkafka", "kafka-tools"])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = RunnelCluster(tmp_path_factory.mktemp("replication"), brokers=3, dedicated=True,
                      overrides={"broker.heartbeat.interval.ms": "500", "auto.create.topics.enable": "false",
                                 "replica.lag.time.max.ms": str(LAG_MS),
                                 "offsets.topic.replication.factor": "3"},
                      controller_overrides={"broker.session.timeout.ms": str(SESSION_MS)})
    for b in c.brokers:
        b.metrics_port = free_port()
        b.overrides["runnel.metrics.listener"] = f"127.0.0.1:{b.metrics_port}"
    c.start()
    yield c
    c.stop()


def describe(bootstrap: str, topic: str, broker_down: bool = False) -> dict[int, tuple[int, list[int], list[int]]]:
    """kafka-topics --describe: partition -> (leader, replicas, isr)."""
    run = tool("TopicCommand", "--bootstrap-server", bootstrap, "--describe", "--topic", topic, ok=not broker_down)
    assert run.returncode == 0, run
    parts = {}
    for m in re.finditer(r"Partition: (\d+)\s+Leader: (-?\d+|none)\s+Replicas: ([\d,]*)\s+Isr: ([\d,]*)",
                         run.stdout):
        leader = -1 if m.group(2) == "none" else int(m.group(2))
        ids = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
        parts[int(m.group(1))] = (leader, ids(m.group(3)), ids(m.group(4)))
    return parts


def create_rf3(bootstrap: str, topic: str, partitions: int) -> None:
    # ok=False: the tools share one JVM across the suite, and a client an
    # earlier test left behind may still log that its (stopped) broker is
    # gone; this call is judged by its exit code and output alone.
    run = tool("TopicCommand", "--bootstrap-server", bootstrap, "--create", "--topic", topic,
               "--partitions", str(partitions), "--replication-factor", "3",
               "--config", "min.insync.replicas=2", ok=False)
    assert run.returncode == 0 and f"Created topic {topic}" in run.stdout, run


def full_isr(bootstrap: str, topic: str, partitions: int, broker_down: bool = False):
    try:
        layout = describe(bootstrap, topic, broker_down)
    except AssertionError:
        # A broker that has not yet applied a just-created topic answers that it does not exist.
        return False
    return len(layout) == partitions and all(sorted(isr) == [2, 3, 4] for _, _, isr in layout.values()) and layout


@pytest.mark.parametrize("client", ["java-4.1", "librdkafka"])
def test_acks_all_records_are_on_every_replica(cluster, topic_name, client):
    topic = topic_name()
    create_rf3(cluster.brokers[0].bootstrap, topic, 3)
    layout = wait_until("the ISR is whole", lambda: full_isr(cluster.bootstrap, topic, 3))
    assert all(sorted(replicas) == [2, 3, 4] for _, replicas, _ in layout.values()), layout
    recs = make_records(600, 3, seed=client, timestamp_base_ms=None)
    BY_NAME[client].produce(cluster.bootstrap, topic, recs)
    want = counts_of({p: [r for r in recs if r.partition == p] for p in range(3)})
    got = BY_NAME[client].consume(cluster.bootstrap, topic, want)
    assert_same_records(recs, got, check_timestamps=False)

    # Every replica holds the same bytes: the followers copied the
    # leader's batches untouched.
    def same_logs():
        for p in range(3):
            sizes = {b.name: sum(s.stat().st_size for s in (b.data_dir / f"{topic}-{p}").glob("*.log"))
                     for b in cluster.brokers}
            if len(set(sizes.values())) != 1 or 0 in sizes.values():
                return False
        return True
    wait_until("every replica has the records", same_logs, timeout=15)


def ck_write_through_a_kill(cluster, topic, victim):
    """librdkafka in-process: produce as fast as the queue takes records, kill the leader once
    500 are acknowledged. (acked as (key, offset, monotonic s), errors, kill time, first ack
    after it)."""
    producer = ck.Producer(ck_conf(cluster.bootstrap, **{
        "acks": "all", "enable.idempotence": True, "linger.ms": 2,
        "message.timeout.ms": 60000, "retry.backoff.ms": 100, "topic.metadata.refresh.interval.ms": 1000}))
    acked: list[tuple[int, int, float]] = []  # (sequence number, offset, when)
    failed: list = []
    stop = threading.Event()

    def on_delivery(err, msg):
        if err is not None:
            failed.append(err)
        else:
            acked.append((int(msg.key()), msg.offset(), time.monotonic()))

    def write():
        i = 0
        while not stop.is_set():
            try:
                producer.produce(topic, key=str(i).encode(), value=f"v{i}".encode(), partition=0,
                                 on_delivery=on_delivery)
                i += 1
            except BufferError:
                pass
            producer.poll(0.002)
        producer.flush(60)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        wait_until("the write is under way", lambda: len(acked) > 500, timeout=30)
        killed_at = time.monotonic()
        acked_before = len(acked)
        victim.kill()
        wait_until("a new leader takes writes", lambda: any(t > killed_at + 0.05 for _, _, t in acked[acked_before:])
                   and len(acked) > acked_before + 500, timeout=60)
        first_after = min(t for _, _, t in acked[acked_before:] if t > killed_at)
    finally:
        stop.set()
        writer.join(90)
    return acked, failed, killed_at, first_after


# What the Java producer logs, at WARN, when its partition leader dies under it: the
# batches in flight fail with a disconnect and are kept for a retry, reconnects are refused
# until the metadata names the new leader, and a batch that reaches a broker not yet leading
# comes back NOT_LEADER_OR_FOLLOWER. Anything else fails the test.
JAVA_FAILOVER_LOG = (
    r"Connection to node \d+ \([^)]*\) could not be established",
    r"Node \d+ disconnected",
    r"Got error produce response with correlation id \d+ on topic-partition \S+, retrying .*"
    r"(NOT_LEADER_OR_FOLLOWER|NETWORK_EXCEPTION\. Error Message: Disconnected from node \d+)",
    r"Received invalid metadata error in produce request on partition \S+ due to "
    r"org\.apache\.kafka\.common\.errors\.(NotLeaderOrFollowerException|NetworkException)",
)

JAVA_WRITE_MS = 10_000
JAVA_KILL_AFTER_S = 2.5


def java_write_through_a_kill(client, cluster, topic, victim):
    """A Java producer in the driver writes ~1000 records/s for JAVA_WRITE_MS; the leader is
    killed JAVA_KILL_AFTER_S into the write. (acked as (key, offset, wall-clock s), errors,
    kill time, first ack after it)."""
    client.call("version")  # the driver's JVM is up before the clock starts
    reply: dict = {}
    writer = threading.Thread(target=lambda: reply.update(r=client.produce_paced(
        cluster.bootstrap, topic, 0, JAVA_WRITE_MS, rate=1000, **{"retry.backoff.ms": "100"})))
    writer.start()
    time.sleep(JAVA_KILL_AFTER_S)
    killed_at = time.time()
    victim.kill()
    writer.join(JAVA_WRITE_MS / 1000 + 150)
    r = reply["r"]
    assert r.ok, r.error
    unexpected = [line for line in r.log if not any(re.search(a, line) for a in JAVA_FAILOVER_LOG)]
    print(f"{client}: {len(r.log)} client WARN/ERROR lines during the failover, first: {r.log[:3]}")
    assert not unexpected, unexpected[:10]
    acked = [(k, o, ms / 1000) for k, o, ms in r.result["acked"]]
    failed = r.result["errors"]
    assert len(acked) + len(failed) == r.result["sent"], r.result["sent"]
    # Responses already on the wire when the signal landed may still be read just after it.
    after = [t for _, _, t in acked if t > killed_at + 0.05]
    assert sum(1 for _, _, t in acked if t < killed_at) > 500, "the leader was not killed mid-write"
    assert len(after) > 500, "the new leader took too few writes"
    return acked, failed, killed_at, min(after)


@pytest.mark.parametrize("client", ["librdkafka", "java-4.1"])
def test_killing_the_leader_in_a_steady_write_loses_no_acknowledged_record(cluster, topic_name, client):
    topic = topic_name()
    create_rf3(cluster.brokers[0].bootstrap, topic, 1)
    layout = wait_until("the ISR is whole", lambda: full_isr(cluster.bootstrap, topic, 1))
    victim_id = layout[0][0]
    victim = cluster.broker(victim_id)
    if client == "librdkafka":
        acked, failed, killed_at, first_after = ck_write_through_a_kill(cluster, topic, victim)
    else:
        acked, failed, killed_at, first_after = java_write_through_a_kill(BY_NAME[client], cluster, topic, victim)
    print(f"{client}: kill -9 of leader {victim_id}: first acknowledged produce on the new leader "
          f"{first_after - killed_at:.2f}s later (session {SESSION_MS} ms); {len(acked)} records acknowledged")
    assert not failed, failed[:3]
    others = ",".join(b.bootstrap for b in cluster.brokers if b is not victim)
    new_layout = describe(others, topic, broker_down=True)
    assert new_layout[0][0] not in (victim_id, -1), new_layout
    assert victim_id not in new_layout[0][2], new_layout

    # Every acknowledged record is there exactly once, in the order sent.
    got = ck_consume(others, topic, {0: len(acked)})[0]
    keys = [int(g.key) for g in got]
    assert len(set(keys)) == len(keys), "a record was written twice"
    assert keys == sorted(keys), "records out of order"
    assert {k for k, _, _ in acked} <= set(keys)
    offsets = {k: o for k, o, _ in acked}
    assert all(offsets[int(g.key)] == g.offset for g in got if int(g.key) in offsets)

    # The killed broker comes back, truncates what it had that the new
    # leader has not, catches up and rejoins the ISR.
    victim.start()
    wait_until("the restarted broker rejoins the ISR", lambda: full_isr(cluster.bootstrap, topic, 1), timeout=60)
    def same_log():
        sizes = {b.name: sum(s.stat().st_size for s in (b.data_dir / f"{topic}-0").glob("*.log"))
                 for b in cluster.brokers}
        return len(set(sizes.values())) == 1 and sizes
    wait_until("every replica has the same log", same_log, timeout=30)


# Open defect, seen in about 3 of 12 whole-file runs on a loaded machine:
# either the acks=all produce is not answered NOT_ENOUGH_REPLICAS within the
# client's timeout, or the restarted followers are not all back in the ISR
# within 60 s. Not yet diagnosed; the closing note of the stop tracks it.
def test_the_isr_shrinks_below_min_insync_and_acks_all_is_refused(cluster, topic_name):
    topic = topic_name()
    create_rf3(cluster.brokers[0].bootstrap, topic, 1)
    layout = wait_until("the ISR is whole", lambda: full_isr(cluster.bootstrap, topic, 1))
    leader = layout[0][0]
    followers = [cluster.broker(b) for b in layout[0][1] if b != leader]
    for f in followers:
        f.kill()
    try:
        alive = cluster.broker(leader).bootstrap
        wait_until("the ISR is down to the leader",
                   lambda: describe(alive, topic, broker_down=True)[0][2] == [leader], timeout=30)
        # The metadata a broker answers with is published just before its
        # partitions take it (Kafka's publisher does the same), so an
        # acks=all write sent in between is taken under the old ISR and,
        # with the high watermark held below min ISR, times out, as it does
        # on Kafka. Once the leader's partition has the new ISR, every
        # acks=all write is refused before it is appended.
        producer = ck.Producer(ck_conf(alive, **{"acks": "all", "retries": 0, "message.timeout.ms": 5000,
                                                 "request.timeout.ms": 2000}))
        outcomes = []

        def refused():
            errors = []
            producer.produce(topic, value=b"x", partition=0, on_delivery=lambda err, msg: errors.append(err))
            producer.flush(10)
            outcomes.append(errors)
            assert len(errors) == 1 and errors[0] is not None, outcomes
            assert errors[0].code() in (ck.KafkaError.NOT_ENOUGH_REPLICAS, ck.KafkaError.REQUEST_TIMED_OUT), outcomes
            return errors[0].code() == ck.KafkaError.NOT_ENOUGH_REPLICAS

        wait_until("acks=all is refused NOT_ENOUGH_REPLICAS", refused, timeout=30)
        assert len(outcomes) <= 3, f"the leader kept taking acks=all writes under min ISR: {outcomes}"
        # acks=1 is still taken by the leader alone.
        ok = []
        p1 = ck.Producer(ck_conf(alive, **{"acks": "1"}))
        p1.produce(topic, value=b"y", partition=0, on_delivery=lambda err, msg: ok.append(err))
        p1.flush(10)
        assert ok == [None], ok
        # The leader's metrics say so, by Kafka's names.
        status, text = get(cluster.broker(leader).metrics_port, "/metrics")
        fams = families(text)
        assert fams["kafka_server_replicamanager_underreplicatedpartitions"]["samples"][0][1] >= 1, fams
        assert fams["kafka_server_replicamanager_underminisrpartitioncount"]["samples"][0][1] >= 1, fams
        # kafka-topics lists it among the under-replicated partitions.
        listed = tool("TopicCommand", "--bootstrap-server", alive, "--describe",
                      "--under-replicated-partitions", ok=False).stdout
        assert re.search(rf"Topic: {topic}\s+Partition: 0\b", listed), listed
    finally:
        for f in followers:
            f.start()
    wait_until("the ISR is whole again", lambda: full_isr(cluster.bootstrap, topic, 1), timeout=60)
    # The followers came back through AlterPartition expansions.
    status, text = get(cluster.broker(leader).metrics_port, "/metrics")
    assert families(text)["kafka_server_replicamanager_isrexpands_total"]["samples"][0][1] >= 2


def test_a_controlled_shutdown_of_the_leader_moves_it_without_losing_a_record(cluster, topic_name):
    """SIGTERM: the broker asks the controller to move its leaderships
    first, so a steady idempotent write sees only retriable errors, and
    everything acknowledged is there once."""
    topic = topic_name()
    create_rf3(cluster.brokers[0].bootstrap, topic, 1)
    layout = wait_until("the ISR is whole", lambda: full_isr(cluster.bootstrap, topic, 1))
    victim = cluster.broker(layout[0][0])
    producer = ck.Producer(ck_conf(cluster.bootstrap, **{
        "acks": "all", "enable.idempotence": True, "linger.ms": 2, "message.timeout.ms": 60000}))
    acked: list[int] = []
    failed: list = []
    stop = threading.Event()

    def on_delivery(err, msg):
        (failed.append(err) if err is not None else acked.append(int(msg.key())))

    def write():
        i = 0
        while not stop.is_set():
            try:
                producer.produce(topic, key=str(i).encode(), value=b"v", partition=0, on_delivery=on_delivery)
                i += 1
            except BufferError:
                pass
            producer.poll(0.002)
        producer.flush(60)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        wait_until("the write is under way", lambda: len(acked) > 300, timeout=30)
        started = time.monotonic()
        assert victim.stop() == 0
        stopped_in = time.monotonic() - started
        before = len(acked)
        wait_until("writes go on", lambda: len(acked) > before + 300, timeout=60)
    finally:
        stop.set()
        writer.join(90)
    print(f"controlled shutdown of leader {victim.name} took {stopped_in:.2f}s")
    assert not failed, failed[:3]
    others = ",".join(b.bootstrap for b in cluster.brokers if b is not victim)
    got = ck_consume(others, topic, {0: len(acked)})[0]
    keys = [int(g.key) for g in got]
    assert len(set(keys)) == len(keys) and keys == sorted(keys) and set(acked) <= set(keys)
    victim.start()
    wait_until("the stopped broker rejoins the ISR", lambda: full_isr(cluster.bootstrap, topic, 1), timeout=60)


def test_a_group_keeps_its_committed_offsets_when_its_coordinator_dies(cluster, topic_name):
    """__consumer_offsets is replicated (offsets.topic.replication.factor=3):
    a commit is acknowledged once its ISR has it, so when the coordinator's
    broker is killed the new leader of the group's partition loads the
    group with the offsets, and the group resumes where it committed."""
    topic = topic_name()
    group = f"{topic}-group"
    create_rf3(cluster.brokers[0].bootstrap, topic, 2)
    wait_until("the ISR is whole", lambda: full_isr(cluster.bootstrap, topic, 2))
    ck_produce(cluster.bootstrap, topic, make_records(100, 2, seed="failover"))
    consumer = ck.Consumer(ck_conf(cluster.bootstrap, **{
        "group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest"}))
    try:
        consumer.subscribe([topic])
        seen = 0
        deadline = time.monotonic() + 60
        while seen < 60 and time.monotonic() < deadline:
            seen += len([m for m in consumer.consume(num_messages=60 - seen, timeout=1) if not m.error()])
        assert seen == 60
        committed = {tp.partition: tp.offset for tp in consumer.commit(asynchronous=False)}
    finally:
        consumer.close()
    assert sum(committed.values()) == 60, committed
    admin = AdminClient(ck_conf(cluster.bootstrap))
    desc = admin.describe_consumer_groups([group])[group].result(30)
    coordinator = cluster.broker(desc.coordinator.id)
    # Only the coordinator answers for the group; the others say so
    # (NOT_COORDINATOR), never "no offset", which would send a consumer
    # back to its reset policy.
    assert_only_the_coordinator_answers(cluster, coordinator, group, topic, committed)
    others = ",".join(b.bootstrap for b in cluster.brokers if b is not coordinator)
    coordinator.kill()
    try:
        got = wait_until("the new coordinator serves the group's offsets",
                         lambda: _committed_or_none(others, group, topic), timeout=60)
        assert got == committed, (got, committed)
        desc = admin.describe_consumer_groups([group])[group].result(30)
        successor = cluster.broker(desc.coordinator.id)
        assert successor is not coordinator
        assert_only_the_coordinator_answers(cluster, successor, group, topic, committed, down=coordinator)
        # The group resumes from there: 40 records are left.
        rest = ck.Consumer(ck_conf(others, **{"group.id": group, "enable.auto.commit": False,
                                               "auto.offset.reset": "earliest"}))
        try:
            rest.subscribe([topic])
            left = 0
            deadline = time.monotonic() + 60
            while left < 40 and time.monotonic() < deadline:
                left += len([m for m in rest.consume(num_messages=100, timeout=1) if not m.error()])
            assert left == 40, left
        finally:
            rest.close()
    finally:
        coordinator.start()
    # Back, and following: the former coordinator does not answer from
    # what it held before it died.
    desc = admin.describe_consumer_groups([group])[group].result(30)
    assert_only_the_coordinator_answers(cluster, cluster.broker(desc.coordinator.id), group, topic, committed)


def assert_only_the_coordinator_answers(cluster, coordinator, group, topic, committed, down=None):
    for b in cluster.brokers:
        if b is down:
            continue
        error, got = wire.offset_fetch_v2(b.bootstrap, group, topic, sorted(committed))
        described = wire.describe_groups_v0(b.bootstrap, group)
        listed_error, listed = wire.list_groups_v0(b.bootstrap)
        assert listed_error == 0, (b.name, listed_error)
        if b is coordinator:
            assert (error, got) == (0, {p: (o, 0) for p, o in committed.items()}), (b.name, error, got)
            assert described == (0, "Empty"), (b.name, described)
            assert group in listed, (b.name, listed)
        else:
            assert error == wire.ERR_NOT_COORDINATOR, (b.name, error, got)
            assert got == {p: (-1, wire.ERR_NOT_COORDINATOR) for p in committed}, (b.name, got)
            # Kafka's DescribeGroups and ListGroups answer for a group only
            # where it is coordinated; `kafka-consumer-groups --list` asks
            # every broker and would otherwise see a stale copy.
            assert described[0] == wire.ERR_NOT_COORDINATOR, (b.name, described)
            assert group not in listed, (b.name, listed)


def _committed_or_none(bootstrap: str, group: str, topic: str):
    try:
        got = ck_committed(bootstrap, group, topic, 2)
    except ck.KafkaException:
        return None
    return got if all(o >= 0 for o in got.values()) else None


def test_a_restarted_broker_that_comes_to_lead_grows_the_isr_again(cluster, topic_name):
    """A broker opens the partitions it already hosts from the metadata it had on disk; once it
    has registered again (a new broker epoch) and is elected leader of one of them, the
    followers that come back must rejoin the ISR through its AlterPartition."""
    topic = topic_name()
    create_rf3(cluster.brokers[0].bootstrap, topic, 1)
    layout = wait_until("the ISR is whole", lambda: full_isr(cluster.bootstrap, topic, 1))
    restarted_id = layout[0][0]
    restarted = cluster.broker(restarted_id)
    restarted.kill()
    restarted.start()
    wait_until("the restarted broker rejoins the ISR", lambda: full_isr(cluster.bootstrap, topic, 1), timeout=60)
    others = [b for b in cluster.brokers if b is not restarted]
    for b in others:
        b.kill()
    try:
        def leads_alone():
            # With two of three brokers down the describe itself may fail for a while.
            try:
                return describe(restarted.bootstrap, topic, broker_down=True)[0][0::2] == (restarted_id,
                                                                                           [restarted_id])
            except (AssertionError, KeyError):
                return False
        wait_until("the restarted broker leads alone", leads_alone, timeout=30)
    finally:
        for b in others:
            b.start()
    wait_until("the other two rejoin the ISR", lambda: full_isr(cluster.bootstrap, topic, 1), timeout=60)


def elect(bootstrap: str, *args: str):
    """kafka-leader-election; judged by its exit code and output (ok=False:
    a failed election exits non-zero on purpose)."""
    return tool("LeaderElectionCommand", "--bootstrap-server", bootstrap, *args, ok=False)


def moved_off_its_preferred_replica(cluster, topic: str) -> int:
    """Restarts the preferred (first) replica of partition 0 with SIGTERM:
    the controlled shutdown moves the leadership away and nothing brings it
    back on its own (the auto rebalance runs every 300 s by default). Returns the
    preferred replica once the ISR is whole again."""
    layout = wait_until("the ISR is whole", lambda: full_isr(cluster.bootstrap, topic, 1))
    preferred = layout[0][1][0]
    assert layout[0][0] == preferred, layout
    victim = cluster.broker(preferred)
    victim.stop()
    victim.start()
    layout = wait_until("the ISR is whole again", lambda: full_isr(cluster.bootstrap, topic, 1), timeout=60)
    assert layout[0][0] != preferred, layout
    return preferred


@covers("leader-election", clients=["kafka-tools", "librdkafka"])
def test_kafka_leader_election_moves_leadership_back_to_the_preferred_replica(cluster, topic_name):
    topic = topic_name()
    create_rf3(cluster.brokers[0].bootstrap, topic, 1)
    before = make_records(200, 1, seed="before")
    ck_produce(cluster.bootstrap, topic, before)
    preferred = moved_off_its_preferred_replica(cluster, topic)

    run = elect(cluster.bootstrap, "--election-type", "PREFERRED", "--topic", topic, "--partition", "0")
    assert run.returncode == 0, run
    assert f"Successfully completed leader election (PREFERRED) for partitions {topic}-0" in run.stdout, run
    wait_until("the preferred replica leads", lambda: describe(cluster.bootstrap, topic)[0][0] == preferred)
    # Asked again: nothing to do, said in Kafka's words (ELECTION_NOT_NEEDED).
    run = elect(cluster.bootstrap, "--election-type", "PREFERRED", "--topic", topic, "--partition", "0")
    assert run.returncode == 0 and f"Valid replica already elected for partitions {topic}-0" in run.stdout, run
    # An unclean election of a partition that has a leader is not needed either.
    run = elect(cluster.bootstrap, "--election-type", "UNCLEAN", "--topic", topic, "--partition", "0")
    assert run.returncode == 0 and f"Valid replica already elected for partitions {topic}-0" in run.stdout, run
    # A partition that does not exist is refused by name.
    run = elect(cluster.bootstrap, "--election-type", "PREFERRED", "--topic", topic, "--partition", "7")
    assert run.returncode != 0 and "UnknownTopicOrPartitionException" in run.stdout + run.stderr, run

    # The new leader has every record written before, and takes more.
    after = make_records(200, 1, seed="after")
    ck_produce(cluster.bootstrap, topic, after)
    got = ck_consume(cluster.bootstrap, topic, {0: 400})
    assert [g.value for g in got[0]] == [r.value for r in before + after]
    assert [g.offset for g in got[0]] == list(range(400))


@covers("leader-election", clients=["librdkafka"])
def test_librdkafka_elect_leaders_answers_per_partition(cluster, topic_name):
    from confluent_kafka import ElectionType, TopicPartition
    topic = topic_name()
    create_rf3(cluster.brokers[0].bootstrap, topic, 1)
    preferred = moved_off_its_preferred_replica(cluster, topic)
    admin = AdminClient(ck_conf(cluster.bootstrap))
    result = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(topic, 0)]).result(30)
    [(tp, error)] = result.items()
    assert (tp.topic, tp.partition, error) == (topic, 0, None), result
    wait_until("the preferred replica leads", lambda: describe(cluster.bootstrap, topic)[0][0] == preferred)
    result = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(topic, 0)]).result(30)
    [error] = result.values()
    assert error is not None and error.code() == ck.KafkaError.ELECTION_NOT_NEEDED, result


@covers("leader-election", clients=["kafka-tools"])
def test_the_controller_moves_leadership_back_on_its_own(tmp_path_factory, topic_name):
    """auto.leader.rebalance.enable (on by default): once the preferred
    replica is back in sync, the controller elects it within
    leader.imbalance.check.interval.seconds."""
    c = RunnelCluster(tmp_path_factory.mktemp("rebalance"), brokers=2, dedicated=True,
                      overrides={"broker.heartbeat.interval.ms": "500", "auto.create.topics.enable": "false",
                                 "replica.lag.time.max.ms": str(LAG_MS)},
                      controller_overrides={"broker.session.timeout.ms": str(SESSION_MS),
                                            "leader.imbalance.check.interval.seconds": "2"})
    c.start()
    try:
        topic = topic_name()
        run = tool("TopicCommand", "--bootstrap-server", c.bootstrap, "--create", "--topic", topic,
                   "--partitions", "4", "--replication-factor", "2", ok=False)
        assert run.returncode == 0, run
        layout = wait_until("the ISR is whole", lambda: (lambda d: len(d) == 4 and all(
            sorted(isr) == [2, 3] for _, _, isr in d.values()) and d)(describe(c.bootstrap, topic)))
        preferred = {p: replicas[0] for p, (_, replicas, _) in layout.items()}
        assert {leader for leader, _, _ in layout.values()} == {2, 3}, layout
        victim = c.broker(2)
        victim.stop()
        wait_until("broker 3 leads everything", lambda: all(
            leader == 3 for leader, _, _ in describe(c.bootstrap, topic, broker_down=True).values()))
        victim.start()
        wait_until("every partition led by its preferred replica again",
                   lambda: {p: leader for p, (leader, _, _) in describe(c.bootstrap, topic).items()} == preferred,
                   timeout=60)
        assert "leadership moved back to preferred replicas" in c.controller.tail(lines=400)
    finally:
        c.stop()
