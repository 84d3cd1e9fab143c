"""Consumer groups with real clients: partitions shared among members,
exactly-once consumption across members leaving and dying, committed
offsets across broker restarts, static membership, and group admin.

Members run as separate processes (group_member.py) so one can be stopped
gracefully or killed outright; each writes the records it committed.
"""

from __future__ import annotations

import signal
import struct
import subprocess
import time
import urllib.request
import uuid

import confluent_kafka as ck
import pytest
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient

import wire
from conftest import GROUP_OVERRIDES, free_port
from clients import Rec, ck_committed, ck_conf, ck_create_topic, ck_produce, make_records
from members import PARTITIONS, WAIT_S, Member, assert_exact, wait_assignments, wait_consumed
from registry import covers

BATCH = 300


def produce(bootstrap: str, topic: str, n: int, seed: str) -> None:
    ck_produce(bootstrap, topic, make_records(n, PARTITIONS, seed=seed, headers=False))


@pytest.mark.parametrize("client", [
    pytest.param("ck", marks=covers("groups", clients=["ck"])),
    pytest.param("ck-coop", marks=covers("groups", "cooperative", clients=["ck"])),
    pytest.param("ck-848", marks=covers("kip848", clients=["ck"])),
    pytest.param("kp", marks=covers("groups", clients=["kp"])),
    pytest.param("aio", marks=covers("groups", clients=["aio"])),
])
def test_members_share_partitions_and_survive_leave_and_kill(broker_factory, topic_name, tmp_path, client):
    b = broker_factory(GROUP_OVERRIDES)
    topic = topic_name()
    group = f"g-{uuid.uuid4().hex[:8]}"
    ck_create_topic(b.bootstrap, topic, PARTITIONS)
    produce(b.bootstrap, topic, BATCH, "a")
    members = [Member.python(client, b.bootstrap, topic, group, tmp_path, f"m{i}") for i in range(3)]
    try:
        wait_assignments(members, [2, 2, 2], "three members over six partitions")
        assert_exact(wait_consumed(members, BATCH, "all three members"), BATCH // PARTITIONS)

        # A member leaves: its partitions move without losing or repeating a record.
        members[0].stop()
        produce(b.bootstrap, topic, BATCH, "b")
        wait_assignments(members[1:], [3, 3], "after a leave")
        assert_exact(wait_consumed(members, 2 * BATCH, "after a leave"), 2 * BATCH // PARTITIONS)

        # A member dies: the broker expires its session and hands its partitions on.
        members[1].kill()
        produce(b.bootstrap, topic, BATCH, "c")
        wait_assignments(members[2:], [6], "after a kill")
        assert_exact(wait_consumed(members, 3 * BATCH, "after a kill"), 3 * BATCH // PARTITIONS)
    finally:
        for m in members:
            m.cleanup()


def committed(bootstrap: str, group: str, topic: str, partitions: int = PARTITIONS) -> dict[int, int]:
    return ck_committed(bootstrap, group, topic, partitions)


@covers("groups", clients=["ck"])
@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_committed_offsets_survive_a_broker_restart(broker_factory, topic_name, tmp_path, how):
    b = broker_factory(GROUP_OVERRIDES)
    topic = topic_name()
    group = f"g-{uuid.uuid4().hex[:8]}"
    ck_create_topic(b.bootstrap, topic, PARTITIONS)
    produce(b.bootstrap, topic, BATCH, "a")
    first = Member.python("ck", b.bootstrap, topic, group, tmp_path, "before")
    try:
        assert_exact(wait_consumed([first], BATCH, "before the restart"), BATCH // PARTITIONS)
        first.stop()
    finally:
        first.cleanup()
    # Metadata and leader epochs ride along with the offsets.
    c = ck.Consumer(ck_conf(b.bootstrap, **{"group.id": group, "enable.auto.commit": False}))
    c.commit(offsets=[ck.TopicPartition(topic, 0, BATCH // PARTITIONS, metadata="checkpoint-7")],
             asynchronous=False)
    c.close()
    before = committed(b.bootstrap, group, topic)
    assert before == {p: BATCH // PARTITIONS for p in range(PARTITIONS)}

    if how == "sigterm":
        b.restart()
    else:
        b.kill()
        b.start()

    assert committed(b.bootstrap, group, topic) == before
    kc = ck.Consumer(ck_conf(b.bootstrap, **{"group.id": group, "enable.auto.commit": False}))
    try:
        tp = kc.committed([ck.TopicPartition(topic, 0)], timeout=30)[0]
        assert tp.metadata == "checkpoint-7"
    finally:
        kc.close()
    # The group resumes where it was: only new records are consumed.
    produce(b.bootstrap, topic, BATCH, "b")
    after = Member.python("ck", b.bootstrap, topic, group, tmp_path, "after")
    try:
        seen = wait_consumed([after], BATCH, "after the restart")
        assert min(o for _, o in seen) == BATCH // PARTITIONS
    finally:
        after.cleanup()


@covers("static", clients=["ck", "kp"])
@pytest.mark.parametrize("client", ["ck", "kp"])
def test_static_member_restart_keeps_its_partitions_without_a_rebalance(broker_factory, topic_name,
                                                                         tmp_path, client):
    b = broker_factory(GROUP_OVERRIDES)
    topic = topic_name()
    group = f"g-{uuid.uuid4().hex[:8]}"
    ck_create_topic(b.bootstrap, topic, PARTITIONS)
    produce(b.bootstrap, topic, BATCH, "a")
    # A long session: the restarted member is back well before it expires.
    opts = {"session": "30000"}
    a = Member.python(client, b.bootstrap, topic, group, tmp_path, "a", instance="static-a", **opts)
    s = Member.python(client, b.bootstrap, topic, group, tmp_path, "b", instance="static-b", **opts)
    try:
        wait_assignments([a, s], [3, 3], "two static members")
        assert_exact(wait_consumed([a, s], BATCH, "two static members"), BATCH // PARTITIONS)
        kept = s.last_assignment()
        a_assignments = sum(1 for line in a.lines() if line.startswith("assigned"))

        # A static member that stops does not leave the group (KIP-345).
        s.kill()
        s2 = Member.python(client, b.bootstrap, topic, group, tmp_path, "b2", instance="static-b", **opts)
        try:
            wait_assignments([a, s2], [3, 3], "static member back")
            assert s2.last_assignment() == kept
            produce(b.bootstrap, topic, BATCH, "b")
            assert_exact(wait_consumed([a, s, s2], 2 * BATCH, "after the static restart"),
                         2 * BATCH // PARTITIONS)
            # The other member never saw a rebalance.
            assert sum(1 for line in a.lines() if line.startswith("assigned")) == a_assignments
        finally:
            s2.cleanup()
    finally:
        a.cleanup()
        s.cleanup()


def metric(port: int, name: str) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    values = [float(l.rsplit(" ", 1)[1]) for l in body.splitlines() if l.startswith(name + " ")]
    assert values, f"{name} not exported"
    return values[0]


@covers("admin-groups", clients=["ck", "kp"])
def test_admin_lists_describes_and_deletes_groups_and_reads_lag(broker_factory, topic_name, tmp_path):
    mport = free_port()
    b = broker_factory({**GROUP_OVERRIDES, "runnel.metrics.listener": f"127.0.0.1:{mport}"})
    topic = topic_name()
    group = f"g-{uuid.uuid4().hex[:8]}"
    ck_create_topic(b.bootstrap, topic, PARTITIONS)
    produce(b.bootstrap, topic, BATCH, "a")
    m = Member.python("ck", b.bootstrap, topic, group, tmp_path, "m")
    admin = AdminClient(ck_conf(b.bootstrap))
    kadmin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        wait_consumed([m], BATCH, "one member")
        assert metric(mport, "runnel_groups") >= 1
        assert metric(mport, "runnel_group_rebalances_total") >= 1
        assert metric(mport, "runnel_offset_commits_total") >= BATCH
        # confluent-kafka: list and describe.
        listed = admin.list_consumer_groups().result(timeout=30)
        assert group in {g.group_id for g in listed.valid}
        desc = admin.describe_consumer_groups([group])[group].result(timeout=30)
        assert desc.state == ck.ConsumerGroupState.STABLE
        assert len(desc.members) == 1
        assigned = {tp.partition for tp in desc.members[0].assignment.topic_partitions}
        assert assigned == set(range(PARTITIONS))
        # A live group cannot be deleted.
        with pytest.raises(ck.KafkaException) as err:
            admin.delete_consumer_groups([group])[group].result(timeout=30)
        assert err.value.args[0].code() == ck.KafkaError.NON_EMPTY_GROUP

        # Lag: committed vs. log end, read the way tools do.
        produce(b.bootstrap, topic, 60, "lag")
        m.stop()
        offsets = admin.list_consumer_group_offsets([ck.ConsumerGroupTopicPartitions(group)])[group]
        committed_now = {tp.partition: tp.offset for tp in offsets.result(timeout=30).topic_partitions}
        probe = ck.Consumer(ck_conf(b.bootstrap, **{"group.id": "lag-probe"}))
        ends = {p: probe.get_watermark_offsets(ck.TopicPartition(topic, p), timeout=10)[1]
                for p in range(PARTITIONS)}
        probe.close()
        lag = sum(ends[p] - committed_now[p] for p in range(PARTITIONS))
        # The member consumed (some of) the 60 before it stopped; whatever it
        # did not is lag, and lag plus consumed is everything.
        assert lag == BATCH + 60 - len(m.consumed())

        # kafka-python: the same group from another implementation.
        kp_groups = {g[0] for g in kadmin.list_consumer_groups()}
        assert group in kp_groups
        kp_desc = kadmin.describe_consumer_groups([group])[0]
        assert kp_desc.state == "Empty"
        kp_offsets = kadmin.list_consumer_group_offsets(group)
        assert {tp.partition: om.offset for tp, om in kp_offsets.items()} == committed_now

        # OffsetDelete on an empty group, then the group itself.
        res = admin.alter_consumer_group_offsets(
            [ck.ConsumerGroupTopicPartitions(group, [ck.TopicPartition(topic, 0, 1)])])
        res[group].result(timeout=30)
        assert committed(b.bootstrap, group, topic)[0] == 1
        admin.delete_consumer_groups([group])[group].result(timeout=30)
        listed = admin.list_consumer_groups().result(timeout=30)
        assert group not in {g.group_id for g in listed.valid}
        assert committed(b.bootstrap, group, topic) == {p: ck.OFFSET_INVALID for p in range(PARTITIONS)}
        with pytest.raises(ck.KafkaException) as err:
            admin.delete_consumer_groups([group])[group].result(timeout=30)
        assert err.value.args[0].code() == ck.KafkaError.GROUP_ID_NOT_FOUND
    finally:
        kadmin.close()
        m.cleanup()


@covers("groups", clients=["kcat"])
def test_kcat_balanced_consumers_split_the_topic(broker_factory, topic_name, tmp_path, kcat_path):
    # An initial delay, so both members join the first generation: with none,
    # the first could read all 300 records before the second one joins.
    b = broker_factory({**GROUP_OVERRIDES, "group.initial.rebalance.delay.ms": "1500"})
    topic = topic_name()
    group = f"g-{uuid.uuid4().hex[:8]}"
    ck_create_topic(b.bootstrap, topic, PARTITIONS)
    produce(b.bootstrap, topic, BATCH, "a")
    procs, outs = [], []
    try:
        for i in range(2):
            out = open(tmp_path / f"kcat{i}.out", "wb")
            outs.append(out)
            procs.append(subprocess.Popen(
                [kcat_path, "-b", b.bootstrap, "-G", group, "-X", "auto.offset.reset=earliest",
                 "-f", "%p %o\n", "-u", "-q", topic], stdout=out, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + WAIT_S
        seen: list[tuple[int, int]] = []
        while time.monotonic() < deadline:
            seen = []
            for i in range(2):
                for line in (tmp_path / f"kcat{i}.out").read_text().splitlines():
                    p, o = line.split()
                    seen.append((int(p), int(o)))
            if len(seen) >= BATCH:
                break
            time.sleep(0.2)
        assert len(seen) == len(set(seen)), "a record went to both kcat members"
        assert_exact(seen, BATCH // PARTITIONS)
        per_member = [len((tmp_path / f"kcat{i}.out").read_text().splitlines()) for i in range(2)]
        assert all(n > 0 for n in per_member), f"one kcat member got nothing: {per_member}"
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(30)
        # kcat commits on close: the group's offsets cover the whole topic.
        deadline = time.monotonic() + 30
        while committed(b.bootstrap, group, topic) != {p: BATCH // PARTITIONS for p in range(PARTITIONS)}:
            assert time.monotonic() < deadline, committed(b.bootstrap, group, topic)
            time.sleep(0.5)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        for o in outs:
            o.close()


def test_clients_cannot_write_into_consumer_offsets(broker_factory, topic_name):
    b = broker_factory(GROUP_OVERRIDES)
    topic = topic_name()
    group = f"g-{uuid.uuid4().hex[:8]}"
    ck_create_topic(b.bootstrap, topic, 1)
    c = ck.Consumer(ck_conf(b.bootstrap, **{"group.id": group, "enable.auto.commit": False}))
    c.commit(offsets=[ck.TopicPartition(topic, 0, 5)], asynchronous=False)
    c.close()
    with pytest.raises(ck.KafkaException) as err:
        ck_produce(b.bootstrap, "__consumer_offsets", [Rec(0, b"garbage", b"garbage")], timeout=30)
    assert err.value.args[0].code() == ck.KafkaError.TOPIC_EXCEPTION
    # The coordinator's state is intact, and still is after a restart.
    b.restart()
    assert committed(b.bootstrap, group, topic, partitions=1)[0] == 5


def test_consumer_offsets_is_compacted_and_reloads(broker_factory, topic_name):
    """Thousands of commits of the same keys: the log cleaner compacts the
    group's __consumer_offsets partition like any compacted topic (Kafka's
    cleaner, `cleaner-offset-checkpoint`), and the latest offsets survive
    reloading from the cleaned log after a kill."""
    b = broker_factory({**GROUP_OVERRIDES, "offsets.topic.segment.bytes": "16384",
                        "log.cleaner.backoff.ms": "200"})
    topic = topic_name()
    group = f"g-{uuid.uuid4().hex[:8]}"
    ck_create_topic(b.bootstrap, topic, PARTITIONS)
    c = ck.Consumer(ck_conf(b.bootstrap, **{"group.id": group, "enable.auto.commit": False}))
    rounds = 2200
    for i in range(rounds):
        c.commit(offsets=[ck.TopicPartition(topic, p, i + p) for p in range(PARTITIONS)], asynchronous=False)
    c.close()
    want = {p: rounds - 1 + p for p in range(PARTITIONS)}
    assert committed(b.bootstrap, group, topic) == want

    # The cleaner may run while the commits arrive; each round cleans up to
    # the active segment, until the cleaned segments hold the latest value
    # of each key only: far fewer bytes than the ~13,000 commits took.
    checkpoint = b.data_dir / "cleaner-offset-checkpoint"
    p = None
    deadline = time.monotonic() + 60
    while True:
        entries = checkpoint.read_text().splitlines()[2:] if checkpoint.exists() else []
        cleaned = {int(q): int(o) for t, q, o in (e.split() for e in entries) if t == "__consumer_offsets"}
        if cleaned:
            (p, cleaned_to), = cleaned.items()
            segments = list((b.data_dir / f"__consumer_offsets-{p}").glob("*.log"))
            size = sum(s.stat().st_size for s in segments)
            if size < 16384 * 3:
                break
        assert time.monotonic() < deadline, f"never compacted: {cleaned}"
        time.sleep(0.2)
    assert cleaned_to > 0
    # Offsets stay where they were: a consumer of the partition starts at 0.
    probe = ck.Consumer(ck_conf(b.bootstrap, **{"group.id": "probe"}))
    lo, hi = probe.get_watermark_offsets(ck.TopicPartition("__consumer_offsets", p), timeout=10)
    probe.close()
    assert lo == 0 and hi >= rounds * PARTITIONS, (lo, hi)

    b.kill()
    b.start()
    assert committed(b.bootstrap, group, topic) == want


def offset_delete(bootstrap: str, group: str, topic: str, partition: int) -> tuple[int, int]:
    """OffsetDelete v0 for one partition: (top-level error, partition error)."""
    body = wire.string(group) + struct.pack(">i", 1) + wire.string(topic) + struct.pack(">ii", 1, partition)
    with wire.connect(bootstrap) as s:
        resp = wire.request(s, wire.header_v1(47, 0, 7) + body)
    # correlation id, error code, throttle, topics[1]: name, partitions[1]: index, error.
    (corr, top_error, _throttle, _n) = struct.unpack(">ihii", resp[:14])
    assert corr == 7
    if top_error:
        return top_error, 0
    name_len = struct.unpack(">h", resp[14:16])[0]
    rest = resp[16 + name_len:]
    (_np, _index, part_error) = struct.unpack(">iih", rest[:10])
    return top_error, part_error


@covers("kip848", "admin-groups", clients=["ck"])
def test_kip848_group_is_described_listed_and_guards_its_offsets(broker_factory, topic_name, tmp_path):
    """group.protocol=consumer: the admin client sees the group through
    ConsumerGroupDescribe and ListGroups' type filter; offsets of a topic
    the group subscribes to cannot be deleted."""
    b = broker_factory(GROUP_OVERRIDES)
    topic = topic_name()
    group = f"g-{uuid.uuid4().hex[:8]}"
    ck_create_topic(b.bootstrap, topic, PARTITIONS)
    produce(b.bootstrap, topic, BATCH, "a")
    members = [Member.python("ck-848", b.bootstrap, topic, group, tmp_path, f"m{i}") for i in range(2)]
    admin = AdminClient(ck_conf(b.bootstrap))
    try:
        wait_assignments(members, [3, 3], "two KIP-848 members")
        wait_consumed(members, BATCH, "two KIP-848 members")
        desc = admin.describe_consumer_groups([group])[group].result(timeout=30)
        assert desc.type == ck.ConsumerGroupType.CONSUMER
        assert desc.state == ck.ConsumerGroupState.STABLE
        assert sorted(len(m.assignment.topic_partitions) for m in desc.members) == [3, 3]
        listed = admin.list_consumer_groups(types={ck.ConsumerGroupType.CONSUMER}).result(timeout=30)
        assert group in {g.group_id for g in listed.valid}
        listed = admin.list_consumer_groups(types={ck.ConsumerGroupType.CLASSIC}).result(timeout=30)
        assert group not in {g.group_id for g in listed.valid}
        # No client here has OffsetDelete; a raw v0 request.
        assert offset_delete(b.bootstrap, group, topic, 0) == (0, wire.ERR_GROUP_SUBSCRIBED_TO_TOPIC)
        with pytest.raises(ck.KafkaException) as err:
            admin.delete_consumer_groups([group])[group].result(timeout=30)
        assert err.value.args[0].code() == ck.KafkaError.NON_EMPTY_GROUP
        # After the members leave, the group and its offsets can go.
        for m in members:
            m.stop()
        assert committed(b.bootstrap, group, topic) == {p: BATCH // PARTITIONS for p in range(PARTITIONS)}
        admin.delete_consumer_groups([group])[group].result(timeout=30)
        assert committed(b.bootstrap, group, topic) == {p: ck.OFFSET_INVALID for p in range(PARTITIONS)}
    finally:
        for m in members:
            m.cleanup()


def recreate_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """DeleteTopics, then CreateTopics under the same name (a new topic id)."""
    admin = AdminClient(ck_conf(bootstrap))
    admin.delete_topics([topic], operation_timeout=30)[topic].result(timeout=30)
    deadline = time.monotonic() + 30
    while topic in admin.list_topics(timeout=10).topics:
        assert time.monotonic() < deadline, f"{topic} still listed after DeleteTopics"
        time.sleep(0.1)
    ck_create_topic(bootstrap, topic, partitions)


@pytest.mark.parametrize("restart", [False, True], ids=["live", "restarted"])
@pytest.mark.parametrize("client", ["ck", "kp"])
def test_a_recreated_topic_is_consumed_from_its_start(broker_factory, topic_name, tmp_path, client,
                                                      restart):
    """DeleteTopics takes the topic's committed offsets with it (Kafka writes
    offset tombstones for the deleted partitions in every group), so a group
    reading a topic re-created under the same name starts at its beginning,
    not at the old topic's offset. With `restart`, the broker restarts after
    the re-creation: the tombstones must be in `__consumer_offsets`."""
    b = broker_factory(GROUP_OVERRIDES)
    topic = topic_name()
    group = f"g-{uuid.uuid4().hex[:8]}"
    ck_create_topic(b.bootstrap, topic, 1)
    ck_produce(b.bootstrap, topic, make_records(10, 1, seed="old", headers=False))
    old = Member.python(client, b.bootstrap, topic, group, tmp_path, "old")
    try:
        assert wait_consumed([old], 10, "the old topic") == [(0, o) for o in range(10)]
        old.stop()
    finally:
        old.cleanup()
    assert committed(b.bootstrap, group, topic, 1) == {0: 10}

    recreate_topic(b.bootstrap, topic, 1)
    ck_produce(b.bootstrap, topic, make_records(20, 1, seed="new", headers=False))
    if restart:
        b.restart()
    assert committed(b.bootstrap, group, topic, 1) == {0: ck.OFFSET_INVALID}
    new = Member.python(client, b.bootstrap, topic, group, tmp_path, "new")
    try:
        assert sorted(wait_consumed([new], 20, "the re-created topic")) == [(0, o) for o in range(20)]
    finally:
        new.cleanup()


@pytest.mark.parametrize("client", ["ck", "kp"])
def test_a_commit_too_large_for_the_offsets_topic_fails_at_once(broker_factory, topic_name, client):
    """An OffsetCommit whose records exceed `__consumer_offsets`'
    max.message.bytes can never be written. Kafka answers
    UNKNOWN_SERVER_ERROR, which clients do not retry; a retriable
    COORDINATOR_NOT_AVAILABLE made kafka-python retry until its timeout."""
    b = broker_factory({**GROUP_OVERRIDES, "offset.metadata.max.bytes": "100000"})
    topic = topic_name()
    group = f"g-{uuid.uuid4().hex[:8]}"
    partitions = 40
    ck_create_topic(b.bootstrap, topic, partitions)
    metadata = "m" * 30_000  # 40 x 30 kB: one 1.2 MB batch
    started = time.monotonic()
    if client == "ck":
        c = ck.Consumer(ck_conf(b.bootstrap, **{"group.id": group, "message.max.bytes": 10_000_000}))
        try:
            with pytest.raises(ck.KafkaException) as err:
                c.commit(offsets=[ck.TopicPartition(topic, p, 5, metadata=metadata) for p in range(partitions)],
                         asynchronous=False)
            assert err.value.args[0].code() == ck.KafkaError.UNKNOWN
        finally:
            c.close()
    else:
        from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
        from kafka.errors import UnknownError

        c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=group, enable_auto_commit=False)
        try:
            with pytest.raises(UnknownError):
                c.commit({TopicPartition(topic, p): OffsetAndMetadata(5, metadata, -1) for p in range(partitions)},
                         timeout_ms=30_000)
        finally:
            c.close()
    assert time.monotonic() - started < 10, "the client retried a commit that cannot succeed"
    # Nothing of the refused commit was kept.
    assert committed(b.bootstrap, group, topic, partitions) == {p: ck.OFFSET_INVALID for p in range(partitions)}
