"""How a KIP-848 member (group.protocol=consumer) leaves, with librdkafka:
each way out, and when its partition moves to the member that stays.

Two consumers of one group share a two-partition topic; one leaves. A
leave heartbeat (member epoch -1) frees its partition at once, so the
other member owns both within a few heartbeat intervals: on close() and on
unsubscribe(). A static member's leave (epoch -2) keeps its partition for
the session timeout, so it can come back without a rebalance (KIP-848).

A member that exceeds max.poll.interval.ms logs "leaving group", but
librdkafka (since 2.15) sends the leave heartbeat only once the application
polls again and the revocation is done; until then it sends nothing, and
the member goes at session expiry. Kafka 4.1 behaves the same with this
client (measured: 50.2 s with the default 45 s session, Runnel 49.5 s);
librdkafka 2.14 sent the leave at once and both brokers moved the
partition within half a second. When the stalled member polls again, its
leave is applied and it rejoins.

kafka-python and aiokafka do not implement group.protocol=consumer.
"""

from __future__ import annotations

import time
import uuid

import confluent_kafka as ck
import pytest

from clients import ck_conf, ck_create_topic

HEARTBEAT_MS = 500
SESSION_MS = 10_000
OVERRIDES = {
    "group.consumer.heartbeat.interval.ms": str(HEARTBEAT_MS),
    "group.consumer.session.timeout.ms": str(SESSION_MS),
}
# "Within a few heartbeat intervals", with room for a loaded machine, and
# far below the session timeout that a lost leave would wait for.
LEAVE_S = 8 * HEARTBEAT_MS / 1000
MAX_POLL_MS = 3_000


def owned(c: ck.Consumer) -> list[int]:
    return sorted(tp.partition for tp in c.assignment())


def consumer(bootstrap: str, group: str, topic: str, **conf) -> ck.Consumer:
    c = ck.Consumer(ck_conf(bootstrap, **{
        "group.id": group,
        "group.protocol": "consumer",
        "auto.offset.reset": "earliest",
        **conf,
    }))
    c.subscribe([topic])
    return c


def both_assigned(a: ck.Consumer, b: ck.Consumer, timeout_s: float = 30) -> None:
    """Polls both until each owns one partition (never one partition twice)."""
    deadline = time.monotonic() + timeout_s
    while not (len(owned(a)) == 1 and sorted(owned(a) + owned(b)) == [0, 1]):
        assert time.monotonic() < deadline, f"assignments {owned(a)} / {owned(b)}"
        a.poll(0.1)
        b.poll(0.1)


def seconds_until_a_owns_both(a: ck.Consumer, timeout_s: float, also=None) -> float:
    """Polls `a` (and `also`, if given) until `a` owns both partitions."""
    started = time.monotonic()
    while owned(a) != [0, 1]:
        assert time.monotonic() - started < timeout_s, f"a owns {owned(a)} after {timeout_s}s"
        a.poll(0.1)
        if also is not None:
            also.poll(0.05)
    return time.monotonic() - started


@pytest.fixture
def group(broker_factory, topic_name):
    b = broker_factory(OVERRIDES)
    topic = topic_name()
    ck_create_topic(b.bootstrap, topic, 2)
    return b.bootstrap, topic, f"g-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("how", ["close", "unsubscribe"])
def test_a_leaving_members_partition_moves_within_a_few_heartbeats(group, how):
    bootstrap, topic, group_id = group
    a = consumer(bootstrap, group_id, topic)
    b = consumer(bootstrap, group_id, topic)
    try:
        both_assigned(a, b)
        if how == "close":
            b.close()
            b = None
        else:
            b.unsubscribe()
        assert seconds_until_a_owns_both(a, LEAVE_S, also=b) < LEAVE_S
    finally:
        a.close()
        if b is not None:
            b.close()


def test_a_static_members_leave_keeps_its_partition_for_the_session(group):
    bootstrap, topic, group_id = group
    a = consumer(bootstrap, group_id, topic)
    b = consumer(bootstrap, group_id, topic, **{"group.instance.id": "static-b"})
    try:
        both_assigned(a, b)
        b.close()  # member epoch -2: the instance may come back
        b = None
        took = seconds_until_a_owns_both(a, SESSION_MS / 1000 + LEAVE_S)
        assert took > SESSION_MS / 1000 - 1, f"moved after {took:.1f}s, before the session ended"
    finally:
        a.close()
        if b is not None:
            b.close()


def test_a_member_past_max_poll_interval_goes_at_session_expiry_and_rejoins_when_it_polls(group):
    bootstrap, topic, group_id = group
    a = consumer(bootstrap, group_id, topic)
    b = consumer(bootstrap, group_id, topic, **{"max.poll.interval.ms": MAX_POLL_MS})
    try:
        both_assigned(a, b)
        # b stops polling: past max.poll.interval.ms it revokes its partition
        # as lost, but sends its leave heartbeat only from its next poll.
        took = seconds_until_a_owns_both(a, SESSION_MS / 1000 + LEAVE_S)
        assert took > MAX_POLL_MS / 1000, f"moved after {took:.1f}s, before max.poll.interval.ms"
        # It polls again: its leave is applied and it rejoins, and the two
        # share the partitions again.
        both_assigned(a, b)
    finally:
        a.close()
        b.close()
