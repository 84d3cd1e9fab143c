"""The log cleaner (issue 18) with real clients: a compacted topic written by
librdkafka and the Java client, cleaned by the broker's cleaner task, read
back by both clients and by Kafka's own `kafka-dump-log`
(`kafka.tools.DumpLogSegments` from the reference jars); the cleaner
killed with SIGKILL in the middle of a segment swap (a failpoint pauses it
there) and resumed; the broker's cleaner settings changed at run time;
Kafka Streams restoring its state from a cleaned changelog; a Connect
distributed worker's compacted offset and status topics kept to one
record per key below the cleaned offset, and resumed from after a restart.

What a read must return after a cleaning up to offset C (the
`cleaner-offset-checkpoint` entry): below C the latest record of each key
among the records below C, tombstones included (delete.retention.ms is a
day here); from C on, every record.
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

import wire
from clients import Rec, ck_conf, ck_consume, ck_create_topic, ck_produce
from conftest import free_port
from harness import kafka as kafka_ref
from registry import BY_NAME, covers

JAVA = BY_NAME["java-4.1"]
CLEANER = {"log.cleaner.backoff.ms": "200"}
# Produced while the cleaner must wait; lowered to 0 once everything is written.
HOLD = {"cleanup.policy": "compact", "segment.bytes": "1024", "min.cleanable.dirty.ratio": "0.01",
        "min.compaction.lag.ms": "3600000"}
WAIT_S = 60
# Many batches, so many segments.
SMALL_BATCHES = {"linger.ms": 0, "batch.num.messages": 10}


def cleaner_checkpoint(b, topic: str, partition: int = 0) -> int | None:
    """The topic's entry in the log dir's cleaner-offset-checkpoint (Kafka's format)."""
    path = b.data_dir / "cleaner-offset-checkpoint"
    if not path.exists():
        return None
    lines = path.read_text().splitlines()
    assert lines[0] == "0" and int(lines[1]) == len(lines) - 2, lines
    for line in lines[2:]:
        t, p, offset = line.split()
        if t == topic and int(p) == partition:
            return int(offset)
    return None


def wait_cleaned(b, topic: str) -> int:
    deadline = time.monotonic() + WAIT_S
    while (c := cleaner_checkpoint(b, topic)) is None or c == 0:
        assert time.monotonic() < deadline, f"{topic} never cleaned"
        time.sleep(0.2)
    return c


def set_topic_config(bootstrap: str, topic: str, key: str, value: str) -> None:
    admin = AdminClient(ck_conf(bootstrap))
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([res])[res].result(timeout=30)


def expected_after_cleaning(written: list[tuple[int, bytes, bytes | None]], cleaned_to: int):
    """(offset, key, value) a full read returns after a cleaning up to `cleaned_to`."""
    latest: dict[bytes, int] = {}
    for offset, key, _ in written:
        if offset < cleaned_to:
            latest[key] = offset
    return [(o, k, v) for o, k, v in written if o >= cleaned_to or latest.get(k) == o]


def write_keyed(b, topic: str) -> list[tuple[int, bytes, bytes | None]]:
    """600 lz4 records of 30 keys from librdkafka, a tombstone, 50 zstd records
    of 10 keys from the Java client, then tombstones for three keys: (offset,
    key, value)."""
    written = []
    recs = [Rec(0, f"key-{i % 30:02}".encode(), f"ck-{i:04}-".encode() + b"x" * 40) for i in range(600)]
    for r, (_, offset) in zip(recs, ck_produce(b.bootstrap, topic, recs, **SMALL_BATCHES, **{"compression.type": "lz4"})):
        written.append((offset, r.key, r.value))
    [(_, offset)] = ck_produce(b.bootstrap, topic, [Rec(0, b"key-29", None)])
    written.append((offset, b"key-29", None))
    recs = [Rec(0, f"key-{i % 10:02}".encode(), f"java-{i:04}-".encode() + b"y" * 40) for i in range(50)]
    for r, (_, offset) in zip(recs, JAVA.produce(b.bootstrap, topic, recs, compression="zstd", **{"batch.size": "400"})):
        written.append((offset, r.key, r.value))
    recs = [Rec(0, f"key-{i:02}".encode(), None) for i in (3, 13, 23)]
    for r, (_, offset) in zip(recs, ck_produce(b.bootstrap, topic, recs)):
        written.append((offset, r.key, None))
    assert [o for o, _, _ in written] == list(range(len(written)))
    return written


def read_back(b, topic: str, want: int, client) -> list[tuple[int, bytes, bytes | None]]:
    got = client(b.bootstrap, topic, {0: want})[0]
    return [(g.offset, g.key, g.value) for g in got]


def segment_files(b, topic: str) -> list[Path]:
    return sorted((b.data_dir / f"{topic}-0").glob("*.log"))


@covers("compaction", clients=["librdkafka", "java-4.1", "kafka-tools"])
@pytest.mark.timeout(240)
def test_a_cleaned_topic_reads_back_the_latest_value_per_key_in_every_client(broker_factory, topic_name):
    mport = free_port()
    b = broker_factory({**CLEANER, "runnel.metrics.listener": f"127.0.0.1:{mport}"})
    topic = topic_name()
    ck_create_topic(b.bootstrap, topic, config=HOLD)
    written = write_keyed(b, topic)
    segments_before = len(segment_files(b, topic))
    assert segments_before > 8
    bytes_before = sum(f.stat().st_size for f in segment_files(b, topic))
    time.sleep(1.5)
    assert cleaner_checkpoint(b, topic) is None, "min.compaction.lag.ms holds the cleaner off"

    # The topic config change reaches the cleaner without a restart.
    set_topic_config(b.bootstrap, topic, "min.compaction.lag.ms", "0")
    cleaned_to = wait_cleaned(b, topic)
    active_base = int(segment_files(b, topic)[-1].stem)
    assert cleaned_to == active_base, (cleaned_to, active_base)
    want = expected_after_cleaning(written, cleaned_to)
    assert len(want) < len(written) / 5, f"{len(want)} of {len(written)} left"
    assert sum(f.stat().st_size for f in segment_files(b, topic)) < bytes_before / 2

    # Both clients read exactly that, then nothing more (a later record
    # would show up as a wrong entry in the same count).
    for name, consume in (("librdkafka", ck_consume), ("java-4.1", JAVA.consume)):
        got = read_back(b, topic, len(want), consume)
        assert got == want, f"{name}: {len(got)} records, first differences " \
                            f"{[(g, w) for g, w in zip(got, want) if g != w][:3]}"

    # The cleaned batches keep their codecs and offsets; Kafka's dump tool
    # reads every cleaned segment, record by record.
    dumped = []
    horizons = []
    for seg in segment_files(b, topic):
        headers = wire.batch_headers(seg.read_bytes())
        assert {h.codec for h in headers if h.record_count > 0} <= {"lz4", "zstd", "none"}, seg
        out = kafka_ref.run_tool("kafka.tools.DumpLogSegments",
                                 ["--files", str(seg), "--deep-iteration", "--print-data-log"], timeout=120)
        dumped += [(int(o), k.encode(), v.encode() if p else None)
                   for o, k, p, v in re.findall(r"^\| offset: (\d+) .*?key: (\S+)( payload: (.*))?$", out, re.M)]
        horizons += re.findall(r"deleteHorizonMs: OptionalLong\[(\d+)\]", out)
        assert f"Dumping {seg}" in out
    assert dumped == want
    # The kept tombstone of key-29 got its KIP-534 delete horizon, a day on.
    assert (written[600][0], b"key-29", None) in want
    assert len(horizons) == 1 and int(horizons[0]) > time.time() * 1000 + 23 * 3600_000, horizons
    stderr = b.stderr_path.read_text(errors="replace")
    lines = [l for l in stderr.splitlines() if "cleaned log" in l and f"topic={topic}" in l]
    assert len(lines) == 1 and " INFO " in lines[0], "one INFO line per cleaning"
    assert re.search(r"bytes=\d+ -> \d+ records=\d+ -> \d+ .*total_ms=\d+", lines[0]), lines[0]
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=10).read().decode()
    value = {m[0]: float(m[1]) for m in re.findall(r"^(runnel_log_cleaner_\w+) (\S+)$", metrics, re.M)}
    assert value["runnel_log_cleaner_cleanings_total"] == 1, value
    assert value["runnel_log_cleaner_bytes_read_total"] > value["runnel_log_cleaner_bytes_written_total"] > 0
    assert value["runnel_log_cleaner_uncleanable_partitions_count"] == 0
    assert "runnel_log_cleaner_max_dirty_percent" in value and "runnel_log_cleaner_time_since_last_run_ms" in value


@covers("compaction", clients=["librdkafka"])
@pytest.mark.timeout(240)
def test_broker_cleaner_settings_change_at_run_time(broker_factory, topic_name):
    """log.cleaner.io.max.bytes.per.second and log.cleaner.threads altered as
    dynamic configs of this broker: the next cleaning is throttled to the new
    rate, with no restart."""
    b = broker_factory(CLEANER)
    admin = AdminClient(ck_conf(b.bootstrap))
    res = ConfigResource(ResourceType.BROKER, "1", incremental_configs=[
        ConfigEntry("log.cleaner.io.max.bytes.per.second", "40000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("log.cleaner.threads", "2", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([res])[res].result(timeout=30)
    topic = topic_name()
    ck_create_topic(b.bootstrap, topic, config=HOLD)
    written = write_keyed(b, topic)
    set_topic_config(b.bootstrap, topic, "min.compaction.lag.ms", "0")
    cleaned_to = wait_cleaned(b, topic)
    [line] = [l for l in b.stderr_path.read_text(errors="replace").splitlines()
              if "cleaned log" in l and f"topic={topic}" in l]
    read, wrote, total_ms = map(int, re.search(r"bytes=(\d+) -> (\d+) .*total_ms=(\d+)", line).groups())
    # Reads (the map pass and the rewrite) plus writes at 40 kB/s.
    assert total_ms >= 1000 * (read + wrote) / 40000 * 0.9, line
    got = read_back(b, topic, len(expected_after_cleaning(written, cleaned_to)), ck_consume)
    assert got == expected_after_cleaning(written, cleaned_to)


@covers("compaction", clients=["librdkafka"])
@pytest.mark.timeout(240)
def test_kill_9_in_the_middle_of_a_swap_loses_nothing_and_the_cleaner_resumes(broker_factory, topic_name):
    b = broker_factory(CLEANER, env={"RUNNEL_FAILPOINT_CLEANER_SWAP_PAUSE_MS": "60000"})
    topic = topic_name()
    ck_create_topic(b.bootstrap, topic, config=HOLD)
    written = write_keyed(b, topic)
    set_topic_config(b.bootstrap, topic, "min.compaction.lag.ms", "0")
    deadline = time.monotonic() + WAIT_S
    while "failpoint: pausing in the middle of a segment swap" not in b.stderr_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, "the cleaner never reached its swap"
        time.sleep(0.1)
    swaps = list((b.data_dir / f"{topic}-0").glob("*.swap"))
    assert len(swaps) == 1, "killed with a half-done swap"
    b.kill()

    b.env = {}
    b.start()
    stderr = b.stderr_path.read_text(errors="replace")
    assert "completed a segment swap interrupted by a crash" in stderr
    assert not list((b.data_dir / f"{topic}-0").glob("*.swap"))
    cleaned_to = wait_cleaned(b, topic)
    want = expected_after_cleaning(written, cleaned_to)
    got = read_back(b, topic, len(want), ck_consume)
    assert got == want
    # The partition takes writes again, at the next offset.
    [(_, offset)] = ck_produce(b.bootstrap, topic, [Rec(0, b"key-00", b"after")])
    assert offset == len(written)


WORDS = "alpha beta gamma delta epsilon zeta eta theta".split()


@covers("compaction", clients=["kafka-streams"])
@pytest.mark.timeout(300)
def test_streams_restores_its_counts_from_a_cleaned_changelog(broker_factory, topic_name, tmp_path):
    """A word count runs, stops, its changelog is cleaned, its local state is
    thrown away; the restarted instance restores from the cleaned changelog
    and goes on counting exactly."""
    from conftest import GROUP_OVERRIDES
    from test_streams import Instance, latest_counts, produce_lines

    b = broker_factory({**CLEANER, **GROUP_OVERRIDES, "log.segment.bytes": "4096",
                        "log.cleaner.min.cleanable.ratio": "0.01"})
    app = f"wc-{topic_name('app')[-8:]}"
    source, sink = topic_name("in"), topic_name("out")
    ck_create_topic(b.bootstrap, source, partitions=1)
    ck_create_topic(b.bootstrap, sink, partitions=1)
    lines = [" ".join(WORDS[(i + j) % len(WORDS)] for j in range(3)) for i in range(1500)]
    produce_lines(b.bootstrap, source, lines, 1)
    want = Counter(w for l in lines for w in l.split())
    inst = Instance(b.bootstrap, app, source, sink, tmp_path, "wc0")
    try:
        inst.wait_state("RUNNING")
        assert latest_counts(b.bootstrap, sink, 1, want) == dict(want)
    finally:
        inst.cleanup()
    changelog = f"{app}-counts-changelog"
    written = ck_consume(b.bootstrap, changelog, {0: 1}, timeout=30)[0]
    assert written
    cleaned_to = wait_cleaned(b, changelog)
    assert cleaned_to > 0
    # The next instance has a state dir of its own: it restores from the
    # changelog alone.
    more = [" ".join(WORDS[(i * 3) % len(WORDS)] for _ in range(2)) for i in range(200)]
    produce_lines(b.bootstrap, source, more, 1)
    want.update(w for l in more for w in l.split())
    inst = Instance(b.bootstrap, app, source, sink, tmp_path, "wc1")
    try:
        inst.wait_state("RUNNING")
        assert latest_counts(b.bootstrap, sink, 1, want) == dict(want)
    finally:
        inst.cleanup()


@covers("compaction", clients=["kafka-connect"])
@pytest.mark.timeout(300)
def test_a_connect_workers_compacted_topics_stay_bounded(broker_factory, topic_name, tmp_path):
    """A distributed Connect worker commits its source offset every 100 ms
    under one key: the cleaner keeps one record per key in the cleaned part
    of connect-offsets and connect-status, and a restarted worker resumes
    from the cleaned offsets with every line exactly once."""
    from conftest import GROUP_OVERRIDES
    from test_connect import SINK, SOURCE, Worker, append, props, wait_lines, worker_base

    b = broker_factory({**CLEANER, **GROUP_OVERRIDES, "log.segment.bytes": "1024",
                        "log.cleaner.min.cleanable.ratio": "0.01"})
    topic = topic_name()
    ck_create_topic(b.bootstrap, topic, partitions=1)
    tag = topic[-8:]
    internal = {"config": f"connect-configs-{tag}", "offset": f"connect-offsets-{tag}",
                "status": f"connect-status-{tag}"}
    port = free_port()
    worker = props(tmp_path / "worker.properties", {
        **worker_base(b.bootstrap, port), "offset.flush.interval.ms": "100",
        "group.id": f"connect-{tag}", "config.storage.topic": internal["config"],
        "offset.storage.topic": internal["offset"], "status.storage.topic": internal["status"],
        "config.storage.replication.factor": "1", "offset.storage.replication.factor": "1",
        "status.storage.replication.factor": "1", "offset.storage.partitions": "1",
        "status.storage.partitions": "1", "rest.advertised.host.name": "127.0.0.1",
        "scheduled.rebalance.max.delay.ms": "1000"})
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    lines: list[str] = []
    src.touch()
    w = Worker("ConnectDistributed", tmp_path, "distributed", worker, port=port)
    try:
        w.wait_rest()
        w.rest("POST", "/connectors", {"name": "file-source", "config": {
            "connector.class": SOURCE, "tasks.max": "1", "file": str(src), "topic": topic}})
        w.rest("POST", "/connectors", {"name": "file-sink", "config": {
            "connector.class": SINK, "tasks.max": "1", "file": str(dst), "topics": topic}})
        for round in range(40):
            more = [f"round {round} line {i}" for i in range(5)]
            append(src, more)
            lines += more
            # Each round read and its offset flushed before the next.
            wait_lines(dst, lines, w)
            time.sleep(0.15)
        offsets_end = {}
        for kind in ("offset", "status"):
            name = internal[kind]
            cleaned_to = wait_cleaned(b, name)
            consumer_got = _read_all(b.bootstrap, name)
            offsets_end[kind] = (len(consumer_got), consumer_got[-1][0] + 1)
            keys_below = [k for o, k, _ in consumer_got if o < cleaned_to]
            assert len(keys_below) == len(set(keys_below)), f"{name}: a key twice below {cleaned_to}"
            assert consumer_got[-1][0] >= cleaned_to
        # The source committed its offset many times; few records are left.
        left, written = offsets_end["offset"]
        assert written >= 20 and left < written / 2, offsets_end
        w.stop()
        restarted = [f"after the restart {i}" for i in range(20)]
        append(src, restarted)
        w = Worker("ConnectDistributed", tmp_path, "distributed", worker, port=port)
        w.wait_rest()
        wait_lines(dst, lines + restarted, w)
        w.stop()
    finally:
        w.cleanup()


def _read_all(bootstrap: str, topic: str) -> list[tuple[int, bytes | None, bytes | None]]:
    """Every record of partition 0 from its start to its current end."""
    import confluent_kafka as ck

    c = ck.Consumer(ck_conf(bootstrap, **{"group.id": f"reader-{topic}", "enable.auto.commit": False,
                                          "auto.offset.reset": "earliest"}))
    try:
        lo, hi = c.get_watermark_offsets(ck.TopicPartition(topic, 0), timeout=10)
        c.assign([ck.TopicPartition(topic, 0, lo)])
        out = []
        deadline = time.monotonic() + WAIT_S
        while not out or out[-1][0] < hi - 1:
            assert time.monotonic() < deadline, f"{topic}: read {len(out)} records up to {hi}"
            for m in c.consume(num_messages=1000, timeout=0.5):
                assert not m.error(), m.error()
                out.append((m.offset(), m.key(), m.value()))
        return out
    finally:
        c.close()
