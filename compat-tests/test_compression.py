"""Every codec from every client, decompressed by another client.

The broker stores batches as sent, so a raw Fetch must also show the
producer's codec in the batch attributes (nothing recompressed on the way).
"""

import pytest

import wire
from clients import (RECENT_TS_MS,
    aio_consume,
    aio_produce,
    assert_same_records,
    ck_consume,
    ck_create_topic,
    ck_produce,
    counts,
    kcat_produce,
    kp_consume,
    kp_produce,
    make_records,
)

CODECS = ["gzip", "snappy", "lz4", "zstd"]
N = 2000
from registry import covers


def produce(client, bootstrap, topic, recs, codec):
    if client == "ck":
        return ck_produce(bootstrap, topic, recs, **{"compression.type": codec, "linger.ms": 20})
    if client == "kp":
        return kp_produce(bootstrap, topic, recs, compression_type=codec, linger_ms=20)
    if client == "aio":
        return aio_produce(bootstrap, topic, recs, compression_type=codec, linger_ms=20)
    raise AssertionError(client)


CONSUMER_OF = {"ck": ("kp", kp_consume), "kp": ("aio", aio_consume), "aio": ("ck", ck_consume)}


def assert_stored_with(bootstrap, topic, partitions, codec):
    for p in range(partitions):
        batches = wire.fetch_all_batch_headers(bootstrap, topic, p, N // partitions)
        assert batches, f"partition {p}: no batches"
        assert {b.codec for b in batches} == {codec}, f"partition {p}: stored codecs {[b.codec for b in batches]}"
        assert all(b.magic == 2 for b in batches)


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("producer", [
    pytest.param(p, marks=covers("compression", clients=[p, CONSUMER_OF[p][0]])) for p in ("ck", "kp", "aio")])
def test_codec_round_trip(broker, topic_name, producer, codec):
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, partitions=2)
    # Long repetitive values so every codec actually has something to squeeze.
    recs = make_records(N, 2, seed=f"{producer}-{codec}", timestamp_base_ms=RECENT_TS_MS, value_size=300)
    produce(producer, broker.bootstrap, topic, recs, codec)

    _, consume = CONSUMER_OF[producer]
    assert_same_records(recs, consume(broker.bootstrap, topic, counts(recs)), first_offset={0: 0, 1: 0})
    assert_stored_with(broker.bootstrap, topic, 2, codec)


@covers("compression", clients=["kcat", "ck"])
@pytest.mark.parametrize("codec", CODECS)
def test_kcat_codec_read_by_confluent(broker, topic_name, codec, kcat_path):
    topic = topic_name()
    ck_create_topic(broker.bootstrap, topic, partitions=1)
    lines = [(f"key-{i}", f"value-{i}-" + "abcdefgh" * 40) for i in range(N)]
    kcat_produce(broker.bootstrap, topic, 0, lines, headers=[("codec", codec)], extra=["-z", codec])

    got = ck_consume(broker.bootstrap, topic, {0: N})[0]
    assert [(g.key.decode(), g.value.decode()) for g in got] == lines
    assert [g.offset for g in got] == list(range(N))
    assert all(g.headers == (("codec", codec.encode()),) for g in got)
    assert_stored_with(broker.bootstrap, topic, 1, codec)
