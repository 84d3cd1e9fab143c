"""Produce and consume with every registered driver client (the Java client at
each version, franz-go, sarama, kafkajs): exact content, offsets and
timestamps, read back by the same client and by librdkafka; acks 0 and 1,
every codec, idempotence.
"""

from __future__ import annotations

import pytest

import wire
from clients import RECENT_TS_MS, assert_same_records, ck_consume, ck_create_topic, ck_produce, counts, expected_offsets, \
    make_records
from registry import DRIVER_CLIENTS, for_clients
from test_idempotence import assert_idempotent_batches

TS_BASE = RECENT_TS_MS
N = 1500


def records_for(client, n, partitions, seed, **kw):
    """kafkajs keeps headers in an object: no repeated names out of order."""
    recs = make_records(n, partitions, seed=seed, timestamp_base_ms=TS_BASE, **kw)
    if client.header_order:
        return recs
    from clients import Rec
    return [Rec(r.partition, r.key, r.value, tuple(h for h in r.headers if h[1] != b"dup-name-allowed"),
                r.timestamp_ms) for r in recs]


@for_clients("produce", "consume")
def test_round_trip_with_librdkafka(broker, topic_name, client):
    """The client's records read back by itself and by librdkafka, and librdkafka's by the client."""
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, partitions=3)
    recs = records_for(client, N, 3, client.name)
    assert client.produce(broker.bootstrap, topic, recs) == expected_offsets(recs)
    want = counts(recs)
    zero = {p: 0 for p in want}
    assert_same_records(recs, client.consume(broker.bootstrap, topic, want), first_offset=zero)
    assert_same_records(recs, ck_consume(broker.bootstrap, topic, want), first_offset=zero)

    other = topic_name("from-ck")
    ck_create_topic(broker.bootstrap, other, partitions=2)
    theirs = records_for(client, N, 2, "ck")
    ck_produce(broker.bootstrap, other, theirs)
    assert_same_records(theirs, client.consume(broker.bootstrap, other, counts(theirs)), first_offset={0: 0, 1: 0})

    # A consumer that starts mid-partition gets exactly the rest.
    start = {0: 100, 1: 7}
    rest = [r for r in theirs if r.partition == 0][100:] + [r for r in theirs if r.partition == 1][7:]
    got = client.consume(broker.bootstrap, other, counts(rest), start=start)
    assert_same_records(rest, got, first_offset=start)


@for_clients("acks")
@pytest.mark.parametrize("acks", ["1", "0"])
def test_acks(broker, topic_name, client, acks):
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, partitions=2)
    recs = records_for(client, 300, 2, f"acks{acks}")
    offsets = client.produce(broker.bootstrap, topic, recs, acks=acks)
    if acks == "1":
        assert offsets == expected_offsets(recs)
    assert_same_records(recs, ck_consume(broker.bootstrap, topic, counts(recs)), first_offset={0: 0, 1: 0})


def codec_params():
    from registry import clients_with

    return [pytest.param(c, codec, id=f"{c.name}-{codec}") for c in clients_with("compression") for codec in c.codecs]


@pytest.mark.covers("compression")
@pytest.mark.parametrize("client,codec", codec_params())
def test_codec(broker, topic_name, client, codec):
    """The broker stores the client's batches as sent, codec included; librdkafka
    reads them, and the client reads librdkafka's batches of the same codec."""
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, partitions=2)
    recs = records_for(client, 400, 2, f"{client.name}-{codec}", value_size=300)
    mine = [r for r in recs if r.partition == 0]
    theirs = [r for r in recs if r.partition == 1]
    client.produce(broker.bootstrap, topic, mine, compression=codec)
    ck_produce(broker.bootstrap, topic, theirs, **{"compression.type": codec})
    for p in (0, 1):
        batches = wire.fetch_all_batch_headers(broker.bootstrap, topic, p, 200)
        seen = [(b.codec, b.record_count) for b in batches]
        assert {b.codec for b in batches if b.record_count > 1} == {codec}, (p, seen)
        # librdkafka sends a batch uncompressed when compressing would not
        # make it smaller, which can happen to a batch of one record.
        assert {b.codec for b in batches if b.record_count == 1} <= {codec, "none"}, (p, seen)
    assert_same_records(mine, ck_consume(broker.bootstrap, topic, {0: 200}), first_offset={0: 0})
    assert_same_records(theirs, client.consume(broker.bootstrap, topic, {1: 200}), first_offset={1: 0})


@for_clients("idempotence")
def test_idempotent_producer(broker, topic_name, client):
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, partitions=2)
    recs = records_for(client, 2000, 2, "idem")
    assert client.produce(broker.bootstrap, topic, recs, idempotent=True) == expected_offsets(recs)
    for p in (0, 1):
        batches = assert_idempotent_batches(broker.bootstrap, topic, p, 1000)
        assert len({b.producer_id for b in batches}) == 1
    assert_same_records(recs, ck_consume(broker.bootstrap, topic, counts(recs)), first_offset={0: 0, 1: 0})


SARAMA = [c for c in DRIVER_CLIENTS if c.stack == "sarama"]


@pytest.mark.covers("produce")
@pytest.mark.parametrize("client", SARAMA, ids=[c.name for c in SARAMA])
def test_sarama_async_producer(broker, topic_name, client):
    """sarama's AsyncProducer (the round trips above use its SyncProducer)."""
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, partitions=2)
    recs = records_for(client, 600, 2, "async")
    assert sorted(client.produce(broker.bootstrap, topic, recs, mode="async")) == sorted(expected_offsets(recs))
    assert_same_records(recs, ck_consume(broker.bootstrap, topic, counts(recs)), first_offset={0: 0, 1: 0})
