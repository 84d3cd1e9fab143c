"""Acknowledged records survive a broker restart: graceful (SIGTERM) and kill -9.

With acks=all on one node an acknowledged record is in the log; without
fsync it still survives a process kill through the page cache. Each test
restarts the broker on the same port and data dir.
"""

import signal
import socket

import pytest
from confluent_kafka import Producer, TopicPartition

from clients import (RECENT_TS_MS,
    aio_consume,
    aio_produce,
    assert_same_records,
    ck_consume,
    ck_consumer,
    ck_create_topic,
    ck_produce,
    counts,
    expected_offsets,
    kcat_consume,
    kp_consume,
    kp_produce,
    make_records,
    Rec,
)
from conftest import BrokerError
from test_idempotence import assert_idempotent_batches
from registry import covers


def watermarks(bootstrap, topic, partitions):
    c = ck_consumer(bootstrap)
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in range(partitions)}
    finally:
        c.close()


@covers("restart", clients=["ck"])
def test_sigterm_keeps_every_acked_record(broker_factory, topic_name):
    b = broker_factory()
    topic = topic_name()
    ck_create_topic(b.bootstrap, topic, partitions=2)
    recs = make_records(5_000, 2, seed="term", timestamp_base_ms=RECENT_TS_MS)
    assert ck_produce(b.bootstrap, topic, recs) == expected_offsets(recs)

    assert b.stop(signal.SIGTERM) == 0, "graceful shutdown must exit 0"
    b.start()

    assert watermarks(b.bootstrap, topic, 2) == {0: (0, 2_500), 1: (0, 2_500)}
    assert_same_records(recs, kp_consume(b.bootstrap, topic, counts(recs)), first_offset={0: 0, 1: 0})

    # The log keeps growing from where it stopped.
    more = [Rec(0, b"after", b"restart-0"), Rec(1, b"after", b"restart-1")]
    assert aio_produce(b.bootstrap, topic, more) == [(0, 2_500), (1, 2_500)]


def test_sigkill_keeps_every_acked_record(broker_factory, topic_name, kcat_path):
    b = broker_factory()
    topic = topic_name()
    ck_create_topic(b.bootstrap, topic, partitions=2)
    recs = make_records(5_000, 2, seed="kill", timestamp_base_ms=RECENT_TS_MS)
    assert aio_produce(b.bootstrap, topic, recs, acks="all") == expected_offsets(recs)

    assert b.kill() == -signal.SIGKILL
    b.start()

    assert watermarks(b.bootstrap, topic, 2) == {0: (0, 2_500), 1: (0, 2_500)}
    assert_same_records(recs, ck_consume(b.bootstrap, topic, counts(recs)), first_offset={0: 0, 1: 0})
    envelopes = kcat_consume(b.bootstrap, topic, 1)
    assert [e["offset"] for e in envelopes] == list(range(2_500))
    assert [e["key"] for e in envelopes[:10]] == [
        r.key.decode() if r.key is not None else None for r in recs if r.partition == 1
    ][:10]

    assert kp_produce(b.bootstrap, topic, [Rec(0, b"after", b"kill")]) == [(0, 2_500)]


def test_restart_twice_in_a_row_with_writes_between(broker_factory, topic_name):
    """Recovery must also handle a log that was itself recovered once."""
    b = broker_factory()
    topic = topic_name()
    ck_create_topic(b.bootstrap, topic, partitions=1)
    first = make_records(1_000, 1, seed="r1", timestamp_base_ms=RECENT_TS_MS)
    second = make_records(1_000, 1, seed="r2", timestamp_base_ms=1_730_000_100_000)
    ck_produce(b.bootstrap, topic, first)
    b.kill()
    b.start()
    kp_produce(b.bootstrap, topic, second)
    b.kill()
    b.start()
    assert_same_records(first + second, aio_consume(b.bootstrap, topic, {0: 2_000}), first_offset={0: 0})


@covers("restart", "idempotence", clients=["ck"])
def test_idempotent_producer_continues_after_restart(broker_factory, topic_name):
    """The same librdkafka producer keeps producing after a restart; a new producer works too."""
    b = broker_factory()
    topic = topic_name()
    ck_create_topic(b.bootstrap, topic, partitions=2)
    before = make_records(2_000, 2, seed="before", timestamp_base_ms=RECENT_TS_MS)
    after = make_records(2_000, 2, seed="after", timestamp_base_ms=1_730_000_200_000)
    late = make_records(1_000, 2, seed="late", timestamp_base_ms=1_730_000_400_000)

    p = Producer({"bootstrap.servers": b.bootstrap, "enable.idempotence": True, "linger.ms": 5,
                  "message.timeout.ms": 60_000, "reconnect.backoff.max.ms": 500, "log_level": 3})
    assert ck_produce(b.bootstrap, topic, before, producer=p) == expected_offsets(before)
    assert b.stop(signal.SIGTERM) == 0
    b.start()
    # No OutOfOrderSequence / UnknownProducerId: every delivery succeeds where it should land.
    assert ck_produce(b.bootstrap, topic, after, producer=p) == expected_offsets(after, {0: 1_000, 1: 1_000})
    # A fresh idempotent producer of another implementation.
    assert kp_produce(b.bootstrap, topic, late, enable_idempotence=True) == expected_offsets(late, {0: 2_000, 1: 2_000})

    want = counts(before + after + late)
    assert_same_records(before + after + late, aio_consume(b.bootstrap, topic, want), first_offset={0: 0, 1: 0})
    for part in (0, 1):
        batches = assert_idempotent_batches(b.bootstrap, topic, part, 2_500)
        assert len({b_.producer_id for b_ in batches}) >= 2  # librdkafka's and kafka-python's


def test_a_taken_port_at_start_leaves_the_logs_clean(broker_factory, topic_name):
    """Start fails after the logs are open (the port is taken): the failed
    start still closes them cleanly, so the next start recovers nothing."""
    b = broker_factory()
    topic = topic_name()
    ck_produce(b.bootstrap, topic, [Rec(0, b"k", b"v")])
    b.stop()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", b.port))
        squatter.listen()
        with pytest.raises(BrokerError):
            b.start(timeout=10)
    since = b.stderr_size()
    b.start()
    assert "recovered log after unclean shutdown" not in b.tail(since=since, lines=400)
