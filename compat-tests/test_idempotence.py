"""Idempotent producers: every record exactly once, in order, even across retries.

Besides reading the records back with another client, a raw Fetch checks
the batch headers: a real producer id, and base sequences that continue
without gap from one batch to the next (so the client really produced
idempotently and the broker kept what it sent).
"""

import time

from confluent_kafka import Producer, TopicPartition

import wire
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
    kp_consume,
    kp_produce,
    make_records,
)
from registry import covers


def assert_idempotent_batches(bootstrap, topic, partition, n_records):
    """Batches carry a producer id and per-(pid, epoch) gapless sequences from 0."""
    batches = wire.fetch_all_batch_headers(bootstrap, topic, partition, n_records)
    assert sum(b.record_count for b in batches) == n_records
    next_seq: dict[tuple[int, int], int] = {}
    for b in batches:
        assert b.producer_id >= 0 and b.producer_epoch >= 0, f"batch at {b.base_offset} not idempotent: {b}"
        key = (b.producer_id, b.producer_epoch)
        expected = next_seq.get(key, 0)
        assert b.base_sequence == expected, f"batch at {b.base_offset}: base_sequence {b.base_sequence} != {expected}"
        next_seq[key] = expected + b.record_count
    return batches


@covers("idempotence", clients=["ck"])
def test_confluent_idempotent_read_by_kafka_python(broker, topic_name):
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, partitions=2)
    recs = make_records(20_000, 2, seed="ck-idem", timestamp_base_ms=RECENT_TS_MS)
    p = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "linger.ms": 5,
                  "max.in.flight.requests.per.connection": 5})
    assert ck_produce(broker.bootstrap, topic, recs, producer=p) == expected_offsets(recs)
    assert_same_records(recs, kp_consume(broker.bootstrap, topic, counts(recs)), first_offset={0: 0, 1: 0})
    for part in (0, 1):
        batches = assert_idempotent_batches(broker.bootstrap, topic, part, 10_000)
        assert len({b.producer_id for b in batches}) == 1


@covers("idempotence", clients=["aio"])
def test_aiokafka_idempotent_read_by_confluent(broker, topic_name):
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, partitions=2)
    recs = make_records(5_000, 2, seed="aio-idem", timestamp_base_ms=RECENT_TS_MS)
    assert aio_produce(broker.bootstrap, topic, recs, enable_idempotence=True) == expected_offsets(recs)
    assert_same_records(recs, ck_consume(broker.bootstrap, topic, counts(recs)), first_offset={0: 0, 1: 0})
    for part in (0, 1):
        assert_idempotent_batches(broker.bootstrap, topic, part, 2_500)


@covers("idempotence", clients=["kp"])
def test_kafka_python_idempotent_read_by_aiokafka(broker, topic_name):
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, partitions=2)
    recs = make_records(5_000, 2, seed="kp-idem", timestamp_base_ms=RECENT_TS_MS)
    assert kp_produce(broker.bootstrap, topic, recs, enable_idempotence=True) == expected_offsets(recs)
    assert_same_records(recs, aio_consume(broker.bootstrap, topic, counts(recs)), first_offset={0: 0, 1: 0})
    for part in (0, 1):
        assert_idempotent_batches(broker.bootstrap, topic, part, 2_500)


@covers("idempotence", "restart", clients=["ck"])
def test_idempotent_retries_across_kill_mid_stream(broker_factory, topic_name):
    """kill -9 with batches in flight: librdkafka retries them with the same sequences.

    Batches the broker wrote before dying must be recognised as duplicates
    after restart (producer state rebuilt from the log), so the log holds
    every record exactly once and in order.
    """
    b = broker_factory()
    topic = topic_name()
    ck_create_topic(b.bootstrap, topic, partitions=2)
    recs = make_records(30_000, 2, seed="kill-idem", timestamp_base_ms=RECENT_TS_MS)
    p = Producer({"bootstrap.servers": b.bootstrap, "enable.idempotence": True, "linger.ms": 2,
                  "batch.num.messages": 500, "message.timeout.ms": 120_000,
                  "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500, "log_level": 3})
    errors = []

    def cb(err, msg):
        if err is not None:
            errors.append(err)

    def produce(rs):
        for r in rs:
            while True:
                try:
                    p.produce(topic, key=r.key, value=r.value, headers=list(r.headers) or None,
                              partition=r.partition, timestamp=r.timestamp_ms, on_delivery=cb)
                    break
                except BufferError:
                    p.poll(0.05)
            p.poll(0)

    produce(recs[:10_000])
    p.poll(0.05)  # let some requests get on the wire, then pull the plug
    b.kill()
    time.sleep(0.3)
    produce(recs[10_000:20_000])
    b.start()
    produce(recs[20_000:])
    assert p.flush(120) == 0
    assert errors == [], f"{len(errors)} delivery errors, first: {errors[0]}"

    assert_same_records(recs, kp_consume(b.bootstrap, topic, counts(recs)), first_offset={0: 0, 1: 0})
    c = ck_consumer(b.bootstrap)
    try:
        for part in (0, 1):
            assert c.get_watermark_offsets(TopicPartition(topic, part), timeout=10) == (0, 15_000)
    finally:
        c.close()
