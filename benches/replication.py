#!/usr/bin/env python3
"""Replication factor 3 with acks=all, Runnel beside Apache Kafka
(`make bench-replication`, part of `make bench`).

Per run, a three-broker cluster of each kind on loopback, one after the
other (the order alternates between runs): Runnel's RunnelCluster and
Kafka's KafkaCluster (harness/), both a controller-only node plus three
broker-only nodes. On each, two topics with the same partition count: one
with replication factor 1, one with replication factor 3 and
min.insync.replicas=2. The client is librdkafka through confluent-kafka,
run as a child process of this script (`replication.py produce ...`) so its
CPU is its own:

- max-throughput produce, acks=all, into each topic (the RF=1 and RF=3
  order alternates too): records per second from the first send to the
  last delivery report, and RF=3 as a fraction of RF=1;
- produce paced at a fixed rate (10,000 rec/s by default, sent per 1 ms
  tick), acks=all, linger.ms=0, into each topic: the produce latency of
  every record (librdkafka's own send-to-delivery-report time,
  `Message.latency()`), the first second left out as warm-up; p50, p99 and
  p99.9.

Medians over the runs go to a JSON file (docs/bench-replication.json) and a
Markdown table (docs/bench-replication.md, also printed), with
Runnel/Kafka ratios and the issue's goals judged. `--smoke` runs it once,
tiny, into a scratch dir, judging nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

KINDS = ("runnel", "kafka")
# The goals for RF=3 acks=all on loopback.
GOAL_RATIO = 0.8
GOAL_P99_MS = 5.0
# Records per produce_batch call of the max-throughput client.
BATCH = 1000


def log(msg: str) -> None:
    print(f"bench-replication: {msg}", file=sys.stderr, flush=True)


def percentile(sorted_vals: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, max(0, int(round(q / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[i]


# --- the client, run as a child process ---------------------------------------

def produce(args) -> dict:
    import confluent_kafka as ck

    paced = args.rate > 0
    conf = {
        "bootstrap.servers": args.bootstrap,
        "acks": "all",
        "linger.ms": args.linger_ms if paced else 10,
        "batch.size": 1024 * 1024,
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1024 * 1024,
        "compression.type": "none",
        "enable.idempotence": False,
        # The Java producer's default: with librdkafka's own (a million)
        # a slow acks=all answer turns into a queue of one-record requests
        # instead of bigger batches.
        "max.in.flight.requests.per.connection": 5,
        # TCP_NODELAY, as the Java client sets it: with Nagle on, a small
        # request behind an unacknowledged one waits for the broker's
        # delayed ACK, tens of milliseconds.
        "socket.nagle.disable": True,
    }
    p = ck.Producer(conf)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    state = {"done": 0, "last": 0.0}

    def on_delivery(err, msg):
        state["done"] += 1
        state["last"] = time.monotonic()
        if err is not None:
            errors[err.name()] = errors.get(err.name(), 0) + 1
        elif paced:
            latencies.append(msg.latency())

    # Delivery reports are served by a thread of their own, blocked in
    # poll() until one arrives, so a report is not held back by the pacing.
    stop = threading.Event()

    def serve_reports():
        while not stop.is_set():
            p.poll(0.05)

    payload = b"x" * args.record_size
    # The topic's metadata first, so the first sends measure the broker.
    p.list_topics(args.topic, timeout=30)
    total = int(args.rate * (args.secs + 1)) if paced else args.records
    start = time.monotonic()
    sent = 0
    reporter = threading.Thread(target=serve_reports, daemon=True)
    reporter.start()
    if paced:
        per_tick = args.rate / 1000.0
        tick = 0
        while sent < total:
            tick += 1
            due = min(total, int(tick * per_tick))
            while sent < due:
                p.produce(args.topic, payload, on_delivery=on_delivery)
                sent += 1
            wait = start + tick / 1000.0 - time.monotonic()
            if wait > 0:
                time.sleep(wait)
    else:
        # Batches of BATCH records, each to one partition in turn (as a
        # sticky partitioner would), queued with one call: Python's cost
        # per record is what bounds this client.
        partitions = len(p.list_topics(args.topic, timeout=30).topics[args.topic].partitions)
        batch = [{"value": payload} for _ in range(BATCH)]
        n = 0
        while sent < total:
            chunk = batch if total - sent >= BATCH else batch[:total - sent]
            try:
                queued = p.produce_batch(args.topic, chunk, partition=n % partitions, on_delivery=on_delivery)
            except BufferError:
                time.sleep(0.001)
                continue
            n += 1
            sent += queued
            if queued < len(chunk):
                # The queue was full part-way: the records not taken are failed, not sent.
                for m in chunk:
                    m.pop("_error", None)
                time.sleep(0.001)
    stop.set()
    reporter.join()
    left = p.flush(60)
    secs = (state["last"] or time.monotonic()) - start
    out = {"records": state["done"], "sent": sent, "unacked": left, "errors": errors,
           "secs": secs, "records_per_s": state["done"] / secs if secs > 0 else 0.0}
    if paced:
        kept = sorted(latencies[int(args.rate):] or latencies)
        out.update({f"{q}_ms": percentile(kept, v) * 1e3
                    for q, v in (("p50", 50), ("p99", 99), ("p999", 99.9))})
        out["max_ms"] = kept[-1] * 1e3 if kept else float("nan")
        out["measured"] = len(kept)
    return out


# --- the clusters ---------------------------------------------------------------

def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def make_cluster(kind: str, work: Path, runnel_bin: Path | None):
    from harness.kafka import MIRRORED, KafkaCluster
    from harness.runnel import RunnelCluster

    if kind == "runnel":
        return RunnelCluster(work, brokers=3, overrides=dict(MIRRORED), binary=runnel_bin)
    return KafkaCluster(work, brokers=3)


def cluster_cpu(cluster) -> float:
    return sum(n.cpu_secs() for n in cluster.nodes if n.alive)


def create_topics(bootstrap: str, partitions: int, stem: str) -> dict[int, str]:
    """One topic per replication factor; waits until every partition has a
    leader and, for RF=3, all three replicas in its ISR."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = {1: f"{stem}-rf1", 3: f"{stem}-rf3"}
    new = [NewTopic(topics[1], partitions, 1),
           NewTopic(topics[3], partitions, 3, config={"min.insync.replicas": "2"})]
    for t, fut in admin.create_topics(new, operation_timeout=30).items():
        fut.result(60)
    deadline = time.monotonic() + 60
    while True:
        md = admin.list_topics(timeout=10)
        ready = True
        for rf, t in topics.items():
            tm = md.topics.get(t)
            if tm is None or tm.error is not None or len(tm.partitions) != partitions:
                ready = False
                break
            for pm in tm.partitions.values():
                if pm.leader < 0 or len(pm.replicas) != rf or len(pm.isrs) != rf:
                    ready = False
        if ready:
            return topics
        if time.monotonic() > deadline:
            raise RuntimeError(f"topics {list(topics.values())} not ready (leaders, full ISR) within 60 s")
        time.sleep(0.2)


def run_client(bootstrap: str, topic: str, *args: str, timeout: float = 600) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "produce", "--bootstrap", bootstrap,
           "--topic", topic, *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {out.returncode}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


class Bench:
    def __init__(self, args):
        self.args = args
        self.smoke = args.smoke
        self.runs = 1 if args.smoke else args.runs
        self.work = Path(tempfile.mkdtemp(prefix="runnel-bench-replication-", dir=args.work_dir))
        # kind → figure id → list of samples (dicts from the client, plus CPU)
        self.samples: dict[str, dict[str, list[dict]]] = {k: {} for k in KINDS}
        self.problems: list[str] = []
        self.log_lines: list[dict] = []
        self.isr_changes: list[dict] = []
        self.kinds = tuple(k for k in KINDS if k in args.kinds.split(","))

    def measured(self, cluster, fn) -> dict:
        cpu0, cl0, t0 = cluster_cpu(cluster), children_cpu(), time.monotonic()
        out = fn()
        wall = time.monotonic() - t0
        out["broker_cores"] = (cluster_cpu(cluster) - cpu0) / wall
        out["client_cores"] = (children_cpu() - cl0) / wall
        return out

    def add(self, kind: str, fid: str, out: dict, run: int) -> None:
        self.samples[kind].setdefault(fid, []).append(out)
        if out["errors"] or out["unacked"] or out["records"] < out["sent"]:
            msg = (f"{kind} run {run + 1} {fid}: {out['records']} of {out['sent']} delivered, "
                   f"{out['unacked']} unacked, errors {out['errors']}")
            self.problems.append(msg)
            log("PROBLEM " + msg)

    def one_run(self, kind: str, run: int) -> None:
        a = self.args
        cluster = make_cluster(kind, self.work / f"{kind}-{run}", a.runnel)
        t0 = time.monotonic()
        cluster.start()
        log(f"{kind} cluster up in {time.monotonic() - t0:.1f} s on {cluster.bootstrap}")
        try:
            topics = create_topics(cluster.bootstrap, a.partitions, f"repl-{run}")
            rfs = (1, 3) if run % 2 == 0 else (3, 1)
            for rf in rfs:
                os.sync()
                out = self.measured(cluster, lambda: run_client(
                    cluster.bootstrap, topics[rf], "--records", str(a.records),
                    "--record-size", str(a.record_size)))
                log(f"{kind} run {run + 1} RF={rf} max throughput: {out['records_per_s']:,.0f} rec/s "
                    f"(broker {out['broker_cores']:.2f} cores, client {out['client_cores']:.2f})")
                self.add(kind, f"throughput_rf{rf}", out, run)
            for rf in rfs:
                out = self.measured(cluster, lambda: run_client(
                    cluster.bootstrap, topics[rf], "--rate", str(a.rate), "--secs", str(a.secs),
                    "--record-size", str(a.latency_record_size),
                    "--linger-ms", str(a.latency_linger_ms)))
                log(f"{kind} run {run + 1} RF={rf} at {a.rate:,} rec/s: p50 {out['p50_ms']:.2f} ms, "
                    f"p99 {out['p99_ms']:.2f} ms, p99.9 {out['p999_ms']:.2f} ms, max {out['max_ms']:.1f} ms "
                    f"(broker {out['broker_cores']:.2f} cores, client {out['client_cores']:.2f})")
                self.add(kind, f"latency_rf{rf}", out, run)
        finally:
            cluster.stop()
            self.scan_logs(kind, run, cluster)
            shutil.rmtree(self.work / f"{kind}-{run}", ignore_errors=True)

    def scan_logs(self, kind: str, run: int, cluster) -> None:
        """Keeps the WARN and ERROR lines a node logged during the run (a few
        per node), before its work dir goes: a replication problem shows
        there even when every record was delivered."""
        for node in cluster.nodes:
            # The scratch dir's path says nothing about the run: kept out.
            logged = [line.replace(str(self.work), "<work>") for line in node.log_tail(lines=100_000)]
            lines = [line for line in logged
                     if (" WARN " in line or " ERROR " in line or "panicked" in line)
                     # The mirrored settings include Kafka-only ones Runnel names and ignores.
                     and "unknown config" not in line]
            # An ISR change during a steady load means a follower fell behind.
            isr = [line for line in logged if "ISR updated" in line]
            if isr:
                self.isr_changes.append({"kind": kind, "run": run + 1, "node": node.name,
                                         "count": len(isr), "first": isr[:5]})
                log(f"{kind} run {run + 1} {node.name}: {len(isr)} ISR changes, first: {isr[0][:300]}")
            if lines:
                self.log_lines.append({"kind": kind, "run": run + 1, "node": node.name,
                                       "count": len(lines), "first": lines[:5]})
                log(f"{kind} run {run + 1} {node.name}: {len(lines)} WARN/ERROR lines, first: {lines[0][:300]}")

    def run(self) -> dict:
        started = time.monotonic()
        try:
            for run in range(self.runs):
                for kind in (self.kinds if run % 2 == 0 else self.kinds[::-1]):
                    log(f"run {run + 1}/{self.runs}: {kind}")
                    self.one_run(kind, run)
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
        return self.summary(time.monotonic() - started)

    def summary(self, wall: float) -> dict:
        from harness.kafka import kafka_version

        def med(kind, fid, key):
            ss = self.samples[kind].get(fid) or []
            vals = [s[key] for s in ss]
            return {"values": vals, "median": statistics.median(vals)} if vals else None

        figures: dict[str, dict] = {}
        for kind in KINDS:
            f = {}
            for rf in (1, 3):
                f[f"throughput_rf{rf}"] = med(kind, f"throughput_rf{rf}", "records_per_s")
                f[f"throughput_rf{rf}_broker_cores"] = med(kind, f"throughput_rf{rf}", "broker_cores")
                f[f"throughput_rf{rf}_client_cores"] = med(kind, f"throughput_rf{rf}", "client_cores")
                for q in ("p50", "p99", "p999", "max"):
                    f[f"latency_rf{rf}_{q}_ms"] = med(kind, f"latency_rf{rf}", f"{q}_ms")
                f[f"latency_rf{rf}_broker_cores"] = med(kind, f"latency_rf{rf}", "broker_cores")
                f[f"latency_rf{rf}_client_cores"] = med(kind, f"latency_rf{rf}", "client_cores")
            # The ratio per run (both figures from one cluster), then the median.
            pairs = zip(self.samples[kind].get("throughput_rf3", []), self.samples[kind].get("throughput_rf1", []))
            ratios = [r3["records_per_s"] / r1["records_per_s"] for r3, r1 in pairs if r1["records_per_s"]]
            f["rf3_over_rf1"] = {"values": ratios, "median": statistics.median(ratios)} if ratios else None
            figures[kind] = f
        a = self.args
        return {
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "smoke": self.smoke, "runs": self.runs, "wall_secs": round(wall),
            "kafka_version": kafka_version(),
            "params": {"partitions": a.partitions, "records": a.records, "record_size": a.record_size,
                       "rate": a.rate, "secs": a.secs, "latency_record_size": a.latency_record_size,
                       "latency_linger_ms": a.latency_linger_ms,
                       "min_insync_replicas": 2},
            "figures": figures, "problems": self.problems, "broker_log_warnings": self.log_lines,
            "isr_changes": self.isr_changes,
        }


# --- the report -----------------------------------------------------------------

def _fmt(v) -> str:
    if v is None:
        return "–"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def render(res: dict) -> str:
    p = res["params"]
    fig = res["figures"]

    def m(kind, key):
        e = fig[kind].get(key)
        return e["median"] if e else None

    def spread(kind, key):
        e = fig[kind].get(key)
        if not e:
            return "–"
        vals = e["values"]
        return f"{_fmt(e['median'])} ({_fmt(min(vals))} – {_fmt(max(vals))})" if len(vals) > 1 else _fmt(e["median"])

    rows = [
        ("max throughput, RF=1, acks=all", "throughput_rf1", "rec/s"),
        ("max throughput, RF=3, acks=all", "throughput_rf3", "rec/s"),
        ("RF=3 / RF=1 throughput", "rf3_over_rf1", ""),
    ]
    for rf in (3, 1):
        for q, name in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9"), ("max", "max")):
            rows.append((f"produce latency {name} at {p['rate']:,} rec/s, RF={rf}", f"latency_rf{rf}_{q}_ms", "ms"))
    lines = [
        f"### Replication: RF=3 acks=all beside RF=1, Runnel and Apache Kafka {res['kafka_version']}",
        "",
        f"{res['date']}, {res['runs']} run(s){' (smoke: figures not judged)' if res['smoke'] else ''}. "
        "Each kind: a controller-only node and three broker-only nodes on loopback, one cluster at a time "
        f"on the same 2 shared cores. Topics: {p['partitions']} partitions, RF=1, and RF=3 with "
        "min.insync.replicas=2. Client: librdkafka (confluent-kafka), acks=all. Max throughput: "
        f"{p['records']:,} records of {p['record_size']} B, linger.ms=10. Latency: {p['latency_record_size']} B "
        f"records at {p['rate']:,} rec/s for {p['secs']} s, linger.ms={p.get('latency_linger_ms', 0)}, the send-to-delivery-report time of "
        "each record, the first second left out. Medians, range in brackets.",
        "",
        "| figure | Runnel | Kafka | Runnel / Kafka |",
        "| --- | --- | --- | --- |",
    ]
    for label, key, unit in rows:
        r, k = m("runnel", key), m("kafka", key)
        ratio = f"{r / k:.2f}" if r is not None and k else "–"
        lines.append(f"| {label}{f' ({unit})' if unit else ''} | {spread('runnel', key)} "
                     f"| {spread('kafka', key)} | {ratio} |")
    lines += ["", "| cores (all brokers / client) | Runnel | Kafka |", "| --- | --- | --- |"]
    for what, name in (("throughput", "max throughput"), ("latency", f"{p['rate']:,} rec/s")):
        for rf in (1, 3):
            cells = [f"{_fmt(m(k, f'{what}_rf{rf}_broker_cores'))} / {_fmt(m(k, f'{what}_rf{rf}_client_cores'))}"
                     for k in KINDS]
            lines.append(f"| {name}, RF={rf} | {cells[0]} | {cells[1]} |")
    if not res["smoke"]:
        ratio, p99 = m("runnel", "rf3_over_rf1"), m("runnel", "latency_rf3_p99_ms")
        lines += ["", "Goals (Runnel, RF=3 acks=all): throughput >= "
                  f"{GOAL_RATIO:.0%} of RF=1: {_fmt(ratio)} → {'met' if ratio and ratio >= GOAL_RATIO else '**not met**'}; "
                  f"p99 <= {GOAL_P99_MS:g} ms at {p['rate']:,} rec/s: {_fmt(p99)} ms → "
                  f"{'met' if p99 is not None and p99 <= GOAL_P99_MS else '**not met**'}."]
    if res["problems"]:
        lines += ["", "Delivery problems:", *[f"- {x}" for x in res["problems"]]]
    warned = [w for w in res.get("broker_log_warnings", []) if w["kind"] == "runnel"]
    if warned:
        lines += ["", "WARN/ERROR lines in Runnel's logs (count per node and run; the JSON has the first few):",
                  *[f"- run {w['run']} {w['node']}: {w['count']}" for w in warned]]
    for kind, name in (("runnel", "Runnel"), ("kafka", "Kafka")):
        changes = [w for w in res.get("isr_changes", []) if w["kind"] == kind]
        if changes:
            lines += ["", f"ISR changes {name} logged under the steady load (per node and run):",
                      *[f"- run {w['run']} {w['node']}: {w['count']}" for w in changes]]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command")
    c = sub.add_parser("produce", help="(internal) one producer run, JSON on stdout")
    c.add_argument("--bootstrap", required=True)
    c.add_argument("--topic", required=True)
    c.add_argument("--records", type=int, default=0)
    c.add_argument("--record-size", type=int, default=1024)
    c.add_argument("--rate", type=int, default=0, help="records per second; 0: as fast as it goes")
    c.add_argument("--secs", type=float, default=10.0)
    c.add_argument("--linger-ms", type=int, default=0, help="linger.ms of the paced producer")
    p.add_argument("--runnel", type=Path, default=None, help="the runnel binary (default: RUNNEL_BIN)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--records", type=int, default=500_000)
    p.add_argument("--record-size", type=int, default=1024)
    p.add_argument("--rate", type=int, default=10_000)
    p.add_argument("--secs", type=float, default=20.0)
    p.add_argument("--latency-record-size", type=int, default=100)
    p.add_argument("--latency-linger-ms", type=int, default=0)
    p.add_argument("--work-dir", default=None)
    p.add_argument("--kinds", default="runnel,kafka", help="which clusters, comma-separated")
    p.add_argument("--json", default=str(REPO_ROOT / "docs/bench-replication.json"))
    p.add_argument("--markdown", default=str(REPO_ROOT / "docs/bench-replication.md"))
    p.add_argument("--smoke", action="store_true", help="one tiny run into a scratch dir, no judging")
    args = p.parse_args()
    if args.command == "produce":
        print(json.dumps(produce(args)))
        return 0
    out_json, out_md = Path(args.json), Path(args.markdown)
    scratch = None
    if args.smoke:
        args.records, args.secs, args.partitions = 20_000, 2.0, 4
        scratch = Path(tempfile.mkdtemp(prefix="runnel-bench-replication-smoke-"))
        out_json, out_md = scratch / "results.json", scratch / "replication.md"
    res = Bench(args).run()
    out_json.write_text(json.dumps(res, indent=1) + "\n")
    text = render(res)
    out_md.write_text(text)
    print(text)
    log(f"done in {res['wall_secs']} s; wrote {out_json}, {out_md}")
    if args.smoke:
        shutil.rmtree(scratch, ignore_errors=True)
        if res["problems"]:
            log("smoke failed: records went undelivered")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
