"""Thin, uniform wrappers over the four clients under test.

Each client produces a list of `Rec` and consumes into `Got`, so a test can
produce with one implementation and check exact content with another. The
wrappers use each client's ordinary public API the way an application would;
consumers use manual assignment (no consumer groups: not in scope yet).

Short names: ck = confluent-kafka (librdkafka), kp = kafka-python,
aio = aiokafka, kcat = the kcat CLI (librdkafka too, but the Debian build, a
different version from the one in the confluent-kafka wheel).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass

import confluent_kafka as ck
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition as AioTP
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTP

CONSUME_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Rec:
    """A record to produce. `timestamp_ms=None` lets the client stamp it."""

    partition: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int | None = None


@dataclass(frozen=True)
class Got:
    """A consumed record, normalised across clients."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int


def by_partition(recs) -> dict[int, list]:
    out: dict[int, list] = defaultdict(list)
    for r in recs:
        out[r.partition].append(r)
    return dict(out)


def counts(recs) -> dict[int, int]:
    return {p: len(rs) for p, rs in by_partition(recs).items()}


def expected_offsets(recs, start: dict[int, int] | None = None) -> list[tuple[int, int]]:
    """The (partition, offset) each record must get: dense per partition, in produce order."""
    nxt = dict(start or {})
    out = []
    for r in recs:
        off = nxt.get(r.partition, 0)
        out.append((r.partition, off))
        nxt[r.partition] = off + 1
    return out


# A timestamp base for records with explicit timestamps: a whole hour one
# day ago, so inside every broker's default retention (seven days) and
# message.timestamp.after.max.ms. A fixed date years back would be deleted
# by the next retention check of a long-lived broker, in the middle of the
# test that wrote it.
RECENT_TS_MS = (int(time.time()) // 3600 - 24) * 3600 * 1000


def make_records(n: int, partitions: int, seed: str = "", headers: bool = True,
                 timestamp_base_ms: int | None = None, value_size: int = 0) -> list[Rec]:
    """Deterministic records whose content says where they belong.

    Keys and values vary in length; every 97th record has a null key and every
    89th a null value (a tombstone), so null handling is exercised too.
    """
    recs = []
    for i in range(n):
        key = None if i % 97 == 5 else f"key-{seed}-{i}".encode()
        if i % 89 == 7 and key is not None:  # kafka-python/aiokafka refuse key=value=None
            value = None
        else:
            body = f"value-{seed}-{i}-".encode()
            pad = value_size if value_size else (i * 7) % 113
            value = body + bytes((i + j) % 256 for j in range(pad))
        hdrs: tuple[tuple[str, bytes], ...] = ()
        if headers and i % 3 != 0:
            hdrs = (("idx", str(i).encode()), ("src", seed.encode() or b"-"))
            if i % 3 == 2:
                hdrs += (("idx", b"dup-name-allowed"),)
        ts = None if timestamp_base_ms is None else timestamp_base_ms + i
        recs.append(Rec(i % partitions, key, value, hdrs, ts))
    return recs


def assert_same_records(expected: list[Rec], got: dict[int, list[Got]], check_timestamps: bool = True,
                        first_offset: dict[int, int] | None = None) -> None:
    """Exact content and order per partition; offsets contiguous from the first."""
    exp = by_partition(expected)
    assert sorted(got) == sorted(exp), f"partitions: got {sorted(got)}, expected {sorted(exp)}"
    for p, recs in exp.items():
        g = got[p]
        assert len(g) == len(recs), f"partition {p}: got {len(g)} records, expected {len(recs)}"
        start = (first_offset or {}).get(p, g[0].offset if g else 0)
        for i, (e, r) in enumerate(zip(recs, g)):
            where = f"partition {p} record {i} (offset {r.offset})"
            assert r.offset == start + i, f"{where}: offset not contiguous, expected {start + i}"
            assert r.key == e.key, f"{where}: key {r.key!r} != {e.key!r}"
            assert r.value == e.value, f"{where}: value {r.value!r:.80} != {e.value!r:.80}"
            assert r.headers == e.headers, f"{where}: headers {r.headers!r} != {e.headers!r}"
            if check_timestamps and e.timestamp_ms is not None:
                assert r.timestamp_ms == e.timestamp_ms, f"{where}: timestamp {r.timestamp_ms} != {e.timestamp_ms}"


# --- confluent-kafka -------------------------------------------------------------

def ck_conf(bootstrap: str, **extra) -> dict:
    conf = {"bootstrap.servers": bootstrap, "log_level": 4}
    conf.update(extra)
    return conf


def ck_create_topic(bootstrap: str, topic: str, partitions: int = 1, config: dict | None = None) -> None:
    admin = AdminClient(ck_conf(bootstrap))
    fs = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1,
                                       config=config or {})], operation_timeout=30)
    fs[topic].result(timeout=30)
    wait_for_topic(bootstrap, topic, partitions)


def wait_until(what: str, predicate, timeout: float = 30.0, interval: float = 0.1):
    """Polls `predicate` until it returns something true, which is returned."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def wait_for_topic(bootstrap: str, topic: str, partitions: int, timeout: float = 30) -> None:
    """Wait until metadata shows the topic with every partition led."""
    admin = AdminClient(ck_conf(bootstrap))
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        md = admin.list_topics(topic=topic, timeout=5)
        t = md.topics.get(topic)
        seen = t
        if t is not None and t.error is None and len(t.partitions) == partitions and all(
            p.leader >= 0 for p in t.partitions.values()
        ):
            return
        time.sleep(0.1)
    raise AssertionError(f"topic {topic} not ready with {partitions} partitions: {seen}")


def ck_produce(bootstrap: str, topic: str, recs: list[Rec], timeout: float = 120, producer=None,
               **conf) -> list[tuple[int, int]]:
    """Produce and wait for every delivery report; raises on any failed delivery.

    Returns (partition, offset) per record in input order.
    """
    p = producer or ck.Producer(ck_conf(bootstrap, **{"acks": "all", "linger.ms": 5, **conf}))
    results: list = [None] * len(recs)

    def on_delivery(i):
        def cb(err, msg):
            results[i] = err if err is not None else (msg.partition(), msg.offset())
        return cb

    for i, r in enumerate(recs):
        kwargs = {"partition": r.partition, "on_delivery": on_delivery(i)}
        if r.key is not None:
            kwargs["key"] = r.key
        if r.value is not None:
            kwargs["value"] = r.value
        if r.headers:
            kwargs["headers"] = list(r.headers)
        if r.timestamp_ms is not None:
            kwargs["timestamp"] = r.timestamp_ms
        while True:
            try:
                p.produce(topic, **kwargs)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    remaining = p.flush(timeout)
    assert remaining == 0, f"{remaining} messages still undelivered after {timeout}s"
    errors = [(i, e) for i, e in enumerate(results) if not isinstance(e, tuple)]
    if errors:
        raise ck.KafkaException(errors[0][1]) if isinstance(errors[0][1], ck.KafkaError) else AssertionError(
            f"{len(errors)} deliveries failed, first: {errors[0]}")
    return results


def ck_consumer(bootstrap: str, **conf):
    # librdkafka wants a group.id even for assign(); nothing is committed.
    return ck.Consumer(ck_conf(bootstrap, **{
        "group.id": f"compat-unused-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        **conf,
    }))


def ck_consume(bootstrap: str, topic: str, want: dict[int, int], start: dict[int, int] | None = None,
               timeout: float = CONSUME_TIMEOUT_S, **conf) -> dict[int, list[Got]]:
    """Read `want[p]` records from each partition, starting at `start[p]` (default: beginning)."""
    c = ck_consumer(bootstrap, **conf)
    try:
        c.assign([ck.TopicPartition(topic, p, (start or {}).get(p, ck.OFFSET_BEGINNING)) for p in want])
        got: dict[int, list[Got]] = {p: [] for p in want}
        deadline = time.monotonic() + timeout
        while any(len(got[p]) < n for p, n in want.items()):
            assert time.monotonic() < deadline, f"timed out: got {counts_of(got)}, want {want}"
            for m in c.consume(num_messages=5000, timeout=0.5):
                if m.error():
                    raise ck.KafkaException(m.error())
                ts_type, ts = m.timestamp()
                got[m.partition()].append(Got(m.partition(), m.offset(), m.key(), m.value(),
                                              tuple(m.headers() or ()), ts))
        return got
    finally:
        c.close()


def ck_committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """The group's committed offsets per partition, as librdkafka reads them (OFFSET_INVALID: none)."""
    c = ck.Consumer(ck_conf(bootstrap, **{"group.id": group, "enable.auto.commit": False}))
    try:
        tps = c.committed([ck.TopicPartition(topic, p) for p in range(partitions)], timeout=30)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


def counts_of(got: dict[int, list]) -> dict[int, int]:
    return {p: len(v) for p, v in got.items()}


# --- kafka-python ------------------------------------------------------------------

def kp_producer(bootstrap: str, **conf) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, **{"acks": "all", "linger_ms": 5, **conf})


def kp_produce(bootstrap: str, topic: str, recs: list[Rec], producer: KafkaProducer | None = None,
               timeout: float = 120, **conf) -> list[tuple[int, int]]:
    p = producer or kp_producer(bootstrap, **conf)
    try:
        futures = [
            p.send(topic, value=r.value, key=r.key, partition=r.partition,
                   headers=list(r.headers) or None, timestamp_ms=r.timestamp_ms)
            for r in recs
        ]
        p.flush(timeout)
        out = []
        for f in futures:
            md = f.get(timeout=timeout)
            out.append((md.partition, md.offset))
        return out
    finally:
        if producer is None:
            p.close(timeout=10)


def kp_consumer(bootstrap: str, **conf) -> KafkaConsumer:
    return KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                         auto_offset_reset="earliest", **conf)


def kp_consume(bootstrap: str, topic: str, want: dict[int, int], start: dict[int, int] | None = None,
               timeout: float = CONSUME_TIMEOUT_S, **conf) -> dict[int, list[Got]]:
    c = kp_consumer(bootstrap, **conf)
    try:
        tps = [KpTP(topic, p) for p in want]
        c.assign(tps)
        for tp in tps:
            if start and tp.partition in start:
                c.seek(tp, start[tp.partition])
            else:
                c.seek_to_beginning(tp)
        got: dict[int, list[Got]] = {p: [] for p in want}
        deadline = time.monotonic() + timeout
        while any(len(got[p]) < n for p, n in want.items()):
            assert time.monotonic() < deadline, f"timed out: got {counts_of(got)}, want {want}"
            for tp, msgs in c.poll(timeout_ms=500, max_records=10000).items():
                for m in msgs:
                    got[tp.partition].append(Got(tp.partition, m.offset, m.key, m.value,
                                                 tuple((k, v) for k, v in (m.headers or [])), m.timestamp))
        return got
    finally:
        c.close()


# --- aiokafka ----------------------------------------------------------------------

async def aio_produce_async(bootstrap: str, topic: str, recs: list[Rec], **conf) -> list[tuple[int, int]]:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, **{"acks": "all", "linger_ms": 5, **conf})
    await p.start()
    try:
        futures = []
        for r in recs:
            futures.append(await p.send(topic, value=r.value, key=r.key, partition=r.partition,
                                        headers=list(r.headers) or None, timestamp_ms=r.timestamp_ms))
        mds = await asyncio.gather(*futures)
        return [(md.partition, md.offset) for md in mds]
    finally:
        await p.stop()


def aio_produce(bootstrap: str, topic: str, recs: list[Rec], **conf) -> list[tuple[int, int]]:
    return asyncio.run(aio_produce_async(bootstrap, topic, recs, **conf))


async def aio_consume_async(bootstrap: str, topic: str, want: dict[int, int], start: dict[int, int] | None = None,
                            timeout: float = CONSUME_TIMEOUT_S, **conf) -> dict[int, list[Got]]:
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                         auto_offset_reset="earliest", **conf)
    await c.start()
    try:
        tps = [AioTP(topic, p) for p in want]
        c.assign(tps)
        for tp in tps:
            if start and tp.partition in start:
                c.seek(tp, start[tp.partition])
            else:
                await c.seek_to_beginning(tp)
        got: dict[int, list[Got]] = {p: [] for p in want}
        deadline = time.monotonic() + timeout
        while any(len(got[p]) < n for p, n in want.items()):
            assert time.monotonic() < deadline, f"timed out: got {counts_of(got)}, want {want}"
            batches = await c.getmany(*tps, timeout_ms=500, max_records=10000)
            for tp, msgs in batches.items():
                for m in msgs:
                    got[tp.partition].append(Got(tp.partition, m.offset, m.key, m.value,
                                                 tuple((k, v) for k, v in (m.headers or ())), m.timestamp))
        return got
    finally:
        await c.stop()


def aio_consume(bootstrap: str, topic: str, want: dict[int, int], start: dict[int, int] | None = None,
                **conf) -> dict[int, list[Got]]:
    return asyncio.run(aio_consume_async(bootstrap, topic, want, start, **conf))


# --- kcat --------------------------------------------------------------------------
# kcat speaks text lines: values and keys must be printable and free of the
# delimiters, and headers given with -H apply to every record of a run.

KCAT_KEY_DELIM = "\t"


def kcat(args: list[str], input: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(["kcat", *args], input=input, capture_output=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"kcat {' '.join(args)} exited {proc.returncode}\nstderr: {proc.stderr.decode(errors='replace')[-3000:]}"
    )
    return proc


def kcat_produce(bootstrap: str, topic: str, partition: int, lines: list[tuple[str, str]],
                 headers: list[tuple[str, str]] = (), extra: list[str] = ()) -> None:
    """Produce `key<TAB>value` lines to one partition with acks=all."""
    payload = "".join(f"{k}{KCAT_KEY_DELIM}{v}\n" for k, v in lines).encode()
    args = ["-b", bootstrap, "-P", "-t", topic, "-p", str(partition), "-K", KCAT_KEY_DELIM,
            "-X", "acks=all", "-q"]
    for hk, hv in headers:
        args += ["-H", f"{hk}={hv}"]
    kcat([*args, *extra], input=payload)


def kcat_consume(bootstrap: str, topic: str, partition: int, count: int | None = None,
                 offset: str = "beginning", extra: list[str] = ()) -> list[dict]:
    """Consume to the end of the partition (-e) as JSON envelopes (-J)."""
    args = ["-b", bootstrap, "-C", "-t", topic, "-p", str(partition), "-o", offset, "-e", "-J", "-q"]
    if count is not None:
        args += ["-c", str(count)]
    # Values may hold arbitrary bytes, which kcat -J writes raw.
    out = kcat([*args, *extra]).stdout.decode("utf-8", errors="replace")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def kcat_metadata(bootstrap: str, topic: str | None = None) -> dict:
    args = ["-b", bootstrap, "-L", "-J"]
    if topic:
        args += ["-t", topic]
    return json.loads(kcat(args).stdout)


def kcat_headers(envelope: dict) -> tuple[tuple[str, bytes], ...]:
    """kcat -J prints headers as a flat [name, value, name, value, ...] list."""
    flat = envelope.get("headers") or []
    return tuple((flat[i], flat[i + 1].encode()) for i in range(0, len(flat), 2))
