"""The metrics endpoint's health paths and the families every dashboard
needs from the first scrape: /ready answers 200 only once logs, metadata
and consumer groups are loaded (503 before), /live and /health while the
process runs; every family has # HELP and # TYPE; build info, uptime,
process CPU/RSS/open files, and Kafka's under-replicated and offline
partition counts present at 0.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import urllib.error
import urllib.request

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from clients import ck_consume, ck_create_topic, ck_produce, make_records
from conftest import free_port, runnel_bin
from harness import procs


def get(port: int, path: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def families(text: str) -> dict[str, dict]:
    """name -> {"help", "type", "samples": [(labels, value)]} from Prometheus text."""
    out: dict[str, dict] = {}
    for line in text.splitlines():
        if m := re.match(r"# (HELP|TYPE) (\S+) (.*)", line):
            out.setdefault(m.group(2), {"samples": []})[m.group(1).lower()] = m.group(3)
        elif line and not line.startswith("#"):
            name, labels, value = re.match(r"([^{ ]+)(\{[^}]*\})? (\S+)", line).groups()
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            fam = out.get(name) or out.get(base)
            assert fam is not None, f"sample {name} before its # TYPE"
            fam["samples"].append((labels or "", float(value)))
    return out


def test_health_paths(broker_factory):
    mport = free_port()
    broker_factory({"runnel.metrics.listener": f"127.0.0.1:{mport}"})
    assert get(mport, "/ready") == (200, "ready\n")
    assert get(mport, "/live") == (200, "live\n")
    assert get(mport, "/health") == (200, "OK")
    assert get(mport, "/no-such-path")[0] == 404


def test_ready_only_after_logs_and_groups_are_loaded(broker_factory):
    """Enough partitions that loading after a kill -9 takes a while: /ready
    is polled from the moment the process exists; it answers 503 until the
    node logged that groups are loaded and it serves, then 200."""
    mport = free_port()
    b = broker_factory({"runnel.metrics.listener": f"127.0.0.1:{mport}", "num.partitions": "1"})
    for i in range(40):
        topic = f"load-{i}"
        ck_create_topic(b.bootstrap, topic, partitions=10)
        ck_produce(b.bootstrap, topic, make_records(200, 10, seed=str(i), value_size=200))
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    offsets = [TopicPartition("load-0", p, 20) for p in range(10)]
    [f] = admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions("load-group", offsets)]).values()
    f.result(timeout=30)
    b.kill()
    since = b.stderr_size()
    b.proc = procs.spawn(b.command(), b.stderr_path, b.workdir, env={**os.environ, **b.env})
    statuses = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status, _ = get(mport, "/ready", timeout=1)
        except (urllib.error.URLError, ConnectionError, OSError):
            continue  # the endpoint is not bound yet
        log = b.tail(since, lines=100_000)
        statuses.append(status)
        if status == 200:
            assert "consumer groups loaded" in log and "runnel started" in log, log
            break
        assert "runnel started" not in log or status == 200
    assert statuses and statuses[-1] == 200, statuses
    assert 503 in statuses, f"loading was never observed: {statuses}"
    assert "recovered log after unclean shutdown" in b.tail(since, lines=100_000)


def test_every_family_has_help_and_the_base_families_are_there(broker_factory, topic_name):
    mport = free_port()
    b = broker_factory({"runnel.metrics.listener": f"127.0.0.1:{mport}"})
    topic = topic_name()
    ck_produce(b.bootstrap, topic, make_records(30, 1))
    ck_consume(b.bootstrap, topic, {0: 30})
    status, text = get(mport, "/metrics")
    assert status == 200
    fams = families(text)
    missing = [name for name, f in fams.items() if not f.get("help") or not f.get("type")]
    assert not missing, f"families without # HELP or # TYPE: {missing}"
    for name in ("kafka_server_replicamanager_underreplicatedpartitions",
                 "kafka_controller_kafkacontroller_offlinepartitionscount"):
        assert fams[name]["samples"] == [("", 0.0)], (name, fams.get(name))
    version = subprocess.run([str(runnel_bin()), "--version"], capture_output=True, text=True).stdout
    commit = re.search(r"commit (\S+),", version).group(1)
    [(labels, one)] = fams["runnel_build_info"]["samples"]
    assert one == 1 and f'commit="{commit}"' in labels, labels
    [(_, uptime)] = fams["runnel_uptime_seconds"]["samples"]
    assert 0 < uptime < 600
    [(_, rss)] = fams["process_resident_memory_bytes"]["samples"]
    # Read from /proc by the test a moment later: close, not equal.
    assert abs(rss - procs.rss_mib(b.pid) * 2**20) < 64 * 2**20, rss
    [(_, fds)] = fams["process_open_fds"]["samples"]
    assert abs(fds - len(os.listdir(f"/proc/{b.pid}/fd"))) <= 4, fds
    [(_, cpu)] = fams["process_cpu_seconds_total"]["samples"]
    assert 0 < cpu and abs(cpu - procs.cpu_secs(b.pid)) < 1.0, cpu
    assert fams["process_max_fds"]["samples"][0][1] > 0
    assert fams["process_start_time_seconds"]["samples"][0][1] > time.time() - 600
    produce = [v for labels, v in fams["runnel_requests_total"]["samples"] if 'api="Produce"' in labels]
    assert produce and produce[0] >= 1
    assert fams["runnel_request_latency_seconds"]["type"] == "histogram"
