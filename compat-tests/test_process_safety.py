"""Data safety around the broker process (issue 10): the data dir lock, a
failed start that must not touch the data, a closed stderr, stale partition
directories that must never be adopted by a new topic, and the log flusher.
Real processes, real kills, real clients."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest
from confluent_kafka.admin import AdminClient

from clients import Rec, ck_conf, ck_consume, ck_create_topic, ck_produce, kp_consume, make_records
from conftest import free_port, runnel_bin


def read_all(bootstrap: str, topic: str, partition: int = 0, wait: float = 3.0) -> list[bytes]:
    """Every value in the partition from the beginning (waits `wait` s for stragglers)."""
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    c = Consumer(ck_conf(bootstrap, **{"group.id": f"read-{topic[-8:]}", "enable.auto.commit": False,
                                       "enable.partition.eof": True}))
    c.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
    out = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            m = c.poll(wait)
            if m is None:
                break
            if m.error():
                if m.error().code() == m.error()._PARTITION_EOF:
                    break
                raise AssertionError(m.error())
            out.append(m.value())
    finally:
        c.close()
    return out


def delete_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient(ck_conf(bootstrap))
    admin.delete_topics([topic], operation_timeout=30)[topic].result(timeout=30)
    deadline = time.monotonic() + 30
    while topic in AdminClient(ck_conf(bootstrap)).list_topics(timeout=5).topics:
        assert time.monotonic() < deadline, f"{topic} still listed"
        time.sleep(0.1)


# --- item 5: partition directories carry their topic id ---------------------------------------

def test_a_long_topic_name_is_deleted_and_never_resurrected(broker_factory):
    """A name over 213 characters could not be renamed for deletion, and the
    next topic of that name served the old records."""
    b = broker_factory()
    topic = "x" * 220
    ck_create_topic(b.bootstrap, topic)
    ck_produce(b.bootstrap, topic, [Rec(0, None, f"secret-{i}".encode()) for i in range(3)])
    delete_topic(b.bootstrap, topic)
    assert not (b.data_dir / f"{topic}-0").exists(), "the directory was deleted"
    ck_create_topic(b.bootstrap, topic)
    assert read_all(b.bootstrap, topic) == []
    ck_produce(b.bootstrap, topic, [Rec(0, None, b"fresh")])
    assert read_all(b.bootstrap, topic) == [b"fresh"]
    assert [m.value for m in kp_consume(b.bootstrap, topic, {0: 1})[0]] == [b"fresh"]


def test_a_directory_left_behind_by_a_crash_is_moved_aside(broker_factory):
    """The crash window between the metadata commit of a delete and the
    directory's rename, simulated: the old directory is back when the broker
    starts. It belongs to a topic id the metadata no longer has."""
    b = broker_factory()
    topic = "payroll"
    ck_create_topic(b.bootstrap, topic)
    ck_produce(b.bootstrap, topic, [Rec(0, b"salary", b"alice=1"), Rec(0, b"salary", b"bob=2")])
    b.stop()
    saved = b.workdir / "saved-payroll-0"
    shutil.copytree(b.data_dir / "payroll-0", saved)
    assert (saved / "partition.metadata").read_text().startswith("version: 0\ntopic_id: ")
    b.start()
    delete_topic(b.bootstrap, topic)
    b.kill()
    shutil.copytree(saved, b.data_dir / "payroll-0")
    b.start()
    ck_create_topic(b.bootstrap, topic)
    assert read_all(b.bootstrap, topic) == []
    strays = [p.name for p in b.data_dir.iterdir() if p.name.endswith("-stray")]
    assert len(strays) == 1 and strays[0].startswith("payroll-0."), strays
    assert (b.data_dir / strays[0] / "00000000000000000000.log").stat().st_size > 0, "kept for an operator"


# --- item 17: the data directory lock ----------------------------------------------------------

def test_a_second_broker_on_the_same_data_dir_refuses_to_start(broker_factory):
    a = broker_factory()
    topic = "locked"
    ck_produce(a.bootstrap, topic, make_records(10, 1))
    port = free_port()
    proc = subprocess.run(
        [str(runnel_bin()), "--override", "node.id=1", "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}",
         "--override", f"log.dirs={a.data_dir}", "--override", "runnel.metrics.listener="],
        capture_output=True, timeout=30, env={k: v for k, v in os.environ.items() if k != "RUST_BACKTRACE"},
    )
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert str(a.data_dir) in err and "in use" in err and f"pid {a.proc.pid}" in err, err
    assert "panicked" not in err
    # The first broker was not disturbed.
    ck_produce(a.bootstrap, topic, make_records(5, 1, seed="after"))
    assert len(ck_consume(a.bootstrap, topic, {0: 15})[0]) == 15


# --- item 18: a failed start leaves the data alone ----------------------------------------------

def test_a_start_that_fails_to_bind_never_marks_a_live_dir_clean(broker_factory):
    """A failed start (port in use) wrote the clean-shutdown marker into the
    live data dir, so after a later kill -9 the next start skipped recovery."""
    a = broker_factory()
    topic = "unclean"
    ck_produce(a.bootstrap, topic, make_records(20, 1))
    # A second start on the same port and data: refused before it touches anything.
    proc = subprocess.run(a.command(), capture_output=True, timeout=30, cwd=a.workdir)
    assert proc.returncode != 0
    assert not (a.data_dir / ".kafka_cleanshutdown").exists()
    # A fresh data dir and a port in use: nothing but the lock file is made.
    fresh = a.workdir / "fresh"
    cmd = [str(runnel_bin()), "--override", f"listeners=PLAINTEXT://127.0.0.1:{a.port}",
           "--override", f"log.dirs={fresh}", "--override", "runnel.metrics.listener="]
    proc = subprocess.run(cmd, capture_output=True, timeout=30)
    assert proc.returncode != 0 and b"cannot listen" in proc.stderr, proc.stderr
    assert sorted(p.name for p in fresh.iterdir()) == [".lock"]
    # kill -9 the live broker: its next start recovers.
    since = a.stderr_size()
    a.kill()
    a.start()
    assert "recovered log after unclean shutdown" in a.tail(since), a.tail(since)
    assert len(ck_consume(a.bootstrap, topic, {0: 20})[0]) == 20


# --- item 19: a closed stderr ---------------------------------------------------------------------

def test_a_closed_stderr_does_not_stop_the_broker(tmp_path, topic_name):
    """`runnel ... 2>&1 | head -2` exited 101 on the broken pipe."""
    port = free_port()
    cmd = [str(runnel_bin()), "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}",
           "--override", f"log.dirs={tmp_path / 'data'}", "--override", "runnel.metrics.listener="]
    env = {**os.environ, "RUST_LOG": "debug"}
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=env)
    try:
        proc.stderr.readline()
        proc.stderr.readline()
        proc.stderr.close()  # what `head -2` does: the pipe's reader is gone
        bootstrap = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                AdminClient(ck_conf(bootstrap)).list_topics(timeout=2)
                break
            except Exception:  # noqa: BLE001 - retried until the deadline
                assert proc.poll() is None, f"broker exited with {proc.returncode}"
                assert time.monotonic() < deadline
                time.sleep(0.2)
        topic = topic_name()
        for round_ in range(3):  # debug logging writes on every request
            ck_produce(bootstrap, topic, make_records(100, 1, seed=str(round_)))
        assert len(ck_consume(bootstrap, topic, {0: 300})[0]) == 300
        assert proc.poll() is None, f"broker exited with {proc.returncode}"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, "a clean shutdown, marker written"
        assert (tmp_path / "data" / ".kafka_cleanshutdown").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


# --- item 9: the log flusher ---------------------------------------------------------------------------

def flushes(mport: int) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=10).read().decode()
    for line in body.splitlines():
        if line.startswith("runnel_log_flushes_total"):
            return float(line.split()[-1])
    return 0.0


def test_flush_ms_is_honoured_every_scheduler_interval(broker_factory, topic_name):
    """`flush.ms` was checked only every log.retention.check.interval.ms (5 min):
    0 fsyncs in 8 s with flush.ms=1000. Kafka's flusher runs every
    log.flush.scheduler.interval.ms."""
    mport = free_port()
    b = broker_factory({"runnel.metrics.listener": f"127.0.0.1:{mport}",
                        "log.flush.scheduler.interval.ms": "100"})
    topic = topic_name()
    ck_create_topic(b.bootstrap, topic, config={"flush.ms": "300"})
    from confluent_kafka import Producer
    p = Producer(ck_conf(b.bootstrap, **{"acks": "1", "linger.ms": 0}))
    before = flushes(mport)
    for i in range(20):
        p.produce(topic, value=f"v{i}".encode(), partition=0)
        p.flush(10)
        time.sleep(0.1)
    grown = flushes(mport) - before
    # About one flush per 300 ms of a steady trickle over 2 s.
    assert 3 <= grown <= 12, grown
