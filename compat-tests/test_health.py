"""The metrics endpoint's health paths and the families every dashboard
needs from the first scrape: /ready answers 200 only once logs, metadata
and consumer groups are loaded (503 before), /live and /health while the
process runs; every family has # HELP and # TYPE; build info, uptime,
process CPU/RSS/open files, and Kafka's under-replicated and offline
partition counts present at 0.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

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


def commit_offsets(bootstrap: str, group: str, offsets: list) -> None:
    """A group member that commits these offsets and leaves: a group with lag."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        c.commit(offsets=offsets, asynchronous=False)
    finally:
        c.close()


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
    commit_offsets(b.bootstrap, "load-group", [TopicPartition("load-0", p, 20) for p in range(10)])
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
        statuses.append(status)
        if status == 200:
            # Read after the answer: the node logs these before it turns ready.
            log = b.tail(since, lines=100_000)
            assert "consumer groups loaded" in log and "runnel started" in log, log
            break
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


# --- the shipped Grafana dashboard ---------------------------------------------------------------

DASHBOARD = Path(__file__).resolve().parent.parent / "docs" / "grafana-dashboard.json"
PROMQL_WORDS = {"sum", "rate", "by", "without", "histogram_quantile", "le", "max", "min", "avg", "count",
                "irate", "increase", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and",
                "or", "unless", "topk", "bottomk"}


def dashboard_queries() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


def series_in(expr: str) -> list[tuple[str, dict[str, str]]]:
    """(metric name, {label: matcher value}) for each selector of a PromQL expression."""
    out = []
    expr = re.sub(r"\b(by|without)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # range selectors: [1m]
    for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?", expr):
        name, matchers = m.group(1), m.group(2) or ""
        after = expr[m.end():m.end() + 1]
        if name in PROMQL_WORDS or after == "(":
            continue
        if expr[max(0, m.start() - 1):m.start()] in ("{", '"', ","):
            continue
        labels = dict(re.findall(r'(\w+)\s*!?=~?\s*"([^"]*)"', matchers))
        out.append((name, labels))
    return out


def grouping_labels(expr: str) -> set[str]:
    labels = set()
    for group in re.findall(r"by\s*\(([^)]*)\)", expr):
        labels |= {g.strip() for g in group.split(",") if g.strip() and g.strip() != "le"}
    return labels


def test_every_series_the_dashboard_queries_exists(broker_factory, topic_name):
    """Drive produce, consume, a group that lags and an error, scrape, and
    check every metric and label each dashboard query uses is there."""
    mport = free_port()
    b = broker_factory({"runnel.metrics.listener": f"127.0.0.1:{mport}"})
    topic = topic_name()
    ck_create_topic(b.bootstrap, topic, partitions=2)
    ck_produce(b.bootstrap, topic, make_records(100, 2, seed="dash"))
    ck_consume(b.bootstrap, topic, {0: 50, 1: 50})
    commit_offsets(b.bootstrap, "dash-lagging", [TopicPartition(topic, 0, 10), TopicPartition(topic, 1, 20)])
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    # An error a client gets: creating the topic again (TOPIC_ALREADY_EXISTS).
    [f] = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)]).values()
    try:
        f.result(timeout=30)
        raise AssertionError("a second create succeeded")
    except KafkaException as e:
        assert e.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS

    status, text = get(mport, "/metrics")
    assert status == 200
    fams = families(text)
    queries = dashboard_queries()
    assert len(queries) >= 15
    for expr in queries:
        selectors = series_in(expr)
        assert selectors, f"no metric found in {expr!r}"
        for name, matchers in selectors:
            base = re.sub(r"_bucket$", "", name)
            assert base in fams, f"{expr!r}: {name} is not in the scrape"
            samples = fams[base]["samples"]
            assert samples, f"{expr!r}: {name} has no samples"
            keys = set()
            for labels, _ in samples:
                keys |= set(re.findall(r'(\w+)="', labels))
            wanted = (set(matchers) | grouping_labels(expr)) - {"le"}
            assert wanted <= keys, f"{expr!r}: labels {wanted - keys} missing from {name}"
    # The figures behind the panels are right, not only present.
    lag = {labels: v for labels, v in fams["kafka_consumergroup_lag"]["samples"]
           if 'consumergroup="dash-lagging"' in labels}
    assert sorted(lag.values()) == [30.0, 40.0], lag
    leo = {labels: v for labels, v in fams["kafka_log_log_logendoffset"]["samples"] if f'topic="{topic}"' in labels}
    assert sorted(leo.values()) == [50.0, 50.0], leo
    sizes = {int(re.search(r'partition="(\d+)"', labels).group(1)): v
             for labels, v in fams["kafka_log_log_size"]["samples"] if f'topic="{topic}"' in labels}
    assert sizes == {p: sum(f.stat().st_size for f in (b.data_dir / f"{topic}-{p}").glob("*.log"))
                     for p in (0, 1)}, sizes
    errors = [labels for labels, v in fams["kafka_network_requestmetrics_errors_total"]["samples"] if v > 0]
    assert any('request="CreateTopics"' in l and 'error="TOPIC_ALREADY_EXISTS"' in l for l in errors), errors
    msgs = [v for labels, v in fams["kafka_server_brokertopicmetrics_messagesin_total"]["samples"]
            if f'topic="{topic}"' in labels]
    assert msgs == [100.0], msgs
    out = [v for labels, v in fams["kafka_server_brokertopicmetrics_bytesout_total"]["samples"]
           if f'topic="{topic}"' in labels and 'internal="false"' in labels]
    assert out and out[0] > 0, out


def test_every_family_in_a_scrape_is_documented(broker_factory, topic_name):
    """Every family a busy node exports is in the reference docs/metrics.md
    generates from the metric catalogue, with the same type, help text and
    labels: the catalogue is what the recorder was told."""
    mport = free_port()
    b = broker_factory({"runnel.metrics.listener": f"127.0.0.1:{mport}"})
    topic = topic_name()
    ck_produce(b.bootstrap, topic, make_records(20, 1))
    ck_consume(b.bootstrap, topic, {0: 20})
    commit_offsets(b.bootstrap, "doc-group", [TopicPartition(topic, 0, 5)])
    doc = (Path(__file__).resolve().parent.parent / "docs" / "metrics.md").read_text()
    table = doc.split("<!-- metrics:begin -->")[1].split("<!-- metrics:end -->")[0]
    reference = {m[0]: (m[1], set(re.findall(r"`(\w+)`", m[2])), m[3])
                 for m in re.findall(r"^\| `(\w+)` \| (\w+) \| ([^|]*) \| (.*) \|$", table, re.M)}
    text = get(mport, "/metrics")[1]
    helps = dict(re.findall(r"^# HELP (\w+) (.*)$", text, re.M))
    kinds = dict(re.findall(r"^# TYPE (\w+) (\w+)$", text, re.M))
    assert set(families(text)) <= set(reference), set(families(text)) - set(reference)
    for name, kind in kinds.items():
        want_kind, want_labels, want_help = reference[name]
        assert (kind, helps.get(name)) == (want_kind, want_help), name
        for labels in re.findall(rf"^{name}(?:_bucket|_sum|_count)?{{([^}}]*)}}", text, re.M):
            used = set(re.findall(r'(\w+)="', labels)) - {"le", "quantile"}
            assert used <= want_labels, (name, used, want_labels)
