"""Consumer groups with every registered driver client, each group flavour
it has (classic range or eager, cooperative-sticky, KIP-848): three member
processes share six partitions; one leaves, one is killed, and every record
is consumed exactly once (members.py). Static membership: a static member
that restarts gets its partitions back without a rebalance of the others.

All run on the session's group broker (conftest.GROUP_OVERRIDES) with
unique topic and group names.
"""

from __future__ import annotations

import time
import uuid

import confluent_kafka as ck
import pytest
from confluent_kafka.admin import AdminClient

from clients import ck_conf, ck_create_topic, ck_produce, make_records
from members import PARTITIONS, Member, assert_exact, wait_assignments, wait_consumed
from registry import clients_with, covers, group_flavours

BATCH = 120


def produce(bootstrap: str, topic: str, seed: str) -> None:
    ck_produce(bootstrap, topic, make_records(BATCH, PARTITIONS, seed=seed, headers=False))


def share_leave_and_kill(b, topic_name, tmp_path, client, flavour):
    topic = topic_name()
    group = f"g-{uuid.uuid4().hex[:8]}"
    ck_create_topic(b.bootstrap, topic, PARTITIONS)
    produce(b.bootstrap, topic, "a")
    members = [Member.of(client, flavour, b.bootstrap, topic, group, tmp_path, f"m{i}", session_ms=6000)
               for i in range(3)]
    try:
        wait_assignments(members, [2, 2, 2], "three members over six partitions")
        assert_exact(wait_consumed(members, BATCH, "all three members"), BATCH // PARTITIONS)

        members[0].stop()  # leaves the group
        produce(b.bootstrap, topic, "b")
        wait_assignments(members[1:], [3, 3], "after a leave")
        assert_exact(wait_consumed(members, 2 * BATCH, "after a leave"), 2 * BATCH // PARTITIONS)

        members[1].kill()  # the broker must expire its session
        produce(b.bootstrap, topic, "c")
        wait_assignments(members[2:], [6], "after a kill")
        assert_exact(wait_consumed(members, 3 * BATCH, "after a kill"), 3 * BATCH // PARTITIONS)
    finally:
        for m in members:
            m.cleanup()


@pytest.mark.parametrize("client,flavour", group_flavours("groups"))
@pytest.mark.timeout(240)
def test_classic_group_members_share_and_survive_leave_and_kill(group_broker, topic_name, tmp_path, client,
                                                               flavour):
    share_leave_and_kill(group_broker, topic_name, tmp_path, client, flavour)


@pytest.mark.parametrize("client,flavour", group_flavours("kip848"))
@pytest.mark.timeout(240)
def test_kip848_group_members_share_and_survive_leave_and_kill(group_broker, topic_name, tmp_path, client,
                                                              flavour):
    share_leave_and_kill(group_broker, topic_name, tmp_path, client, flavour)


def wait_stable(bootstrap: str, group: str, members: list[Member], quiet_s: float = 1.5) -> None:
    """Until the group is Stable and no member wrote an assignment line for `quiet_s`."""
    admin = AdminClient(ck_conf(bootstrap))
    deadline = time.monotonic() + 60
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = [sum(1 for l in m.lines() if l.startswith("assigned")) for m in members]
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            state = admin.describe_consumer_groups([group])[group].result(timeout=30).state
            if state == ck.ConsumerGroupState.STABLE:
                return
        time.sleep(0.2)
    raise AssertionError(f"group {group} not stable and quiet within 60 s")


def static_params():
    return [pytest.param(c, id=c.name) for c in clients_with("static")]


@covers("static")
@pytest.mark.parametrize("client", static_params())
@pytest.mark.timeout(240)
def test_static_member_restart_keeps_its_partitions(group_broker, topic_name, tmp_path, client):
    b = group_broker
    topic = topic_name()
    group = f"g-{uuid.uuid4().hex[:8]}"
    flavour = next(f for f, (proves, _) in client.groups.items() if "groups" in proves)
    ck_create_topic(b.bootstrap, topic, PARTITIONS)
    produce(b.bootstrap, topic, "a")
    # A long session: the restarted member is back well before it expires.
    kw = dict(session_ms=30000)
    # "a" joins first and leads: the member restarted below is a follower. (A
    # restarted static *leader* may rebalance by the client's own choice:
    # franz-go recomputes the plan and rejoins when it differs, KIP-814.)
    a = Member.of(client, flavour, b.bootstrap, topic, group, tmp_path, "a", instance="static-a", **kw)
    s = s2 = None
    try:
        wait_assignments([a], [6], "the first static member")
        s = Member.of(client, flavour, b.bootstrap, topic, group, tmp_path, "b", instance="static-b", **kw)
        wait_assignments([a, s], [3, 3], "two static members")
        assert_exact(wait_consumed([a, s], BATCH, "two static members"), BATCH // PARTITIONS)
        # A cooperative rebalance may still be finishing: count once the group is Stable and quiet.
        wait_stable(b.bootstrap, group, [a, s])
        kept = s.last_assignment()
        a_assignments = sum(1 for line in a.lines() if line.startswith("assigned"))

        s.kill()  # a static member that stops does not leave (KIP-345)
        s2 = Member.of(client, flavour, b.bootstrap, topic, group, tmp_path, "b2", instance="static-b", **kw)
        wait_assignments([a, s2], [3, 3], "static member back")
        assert s2.last_assignment() == kept
        produce(b.bootstrap, topic, "b")
        assert_exact(wait_consumed([a, s, s2], 2 * BATCH, "after the static restart"), 2 * BATCH // PARTITIONS)
        assert sum(1 for line in a.lines() if line.startswith("assigned")) == a_assignments, \
            "the other static member saw a rebalance"
    finally:
        for m in (a, s, s2):
            if m is not None:
                m.cleanup()
