"""Runnel beside Apache Kafka in one `make bench` run (issue 12).

Each run starts a fresh Runnel and a fresh Kafka (harness/kafka.py, the jars
`make kafka-ref` fetched) one after the other on the same data disk (the
bench's work dir), the order alternating between runs, and drives both with
the same load generators: the librdkafka and raw kafka-protocol loadgen
(benches/loadgen) and Kafka's own producer-perf-test and consumer-perf-test
(org.apache.kafka.tools.ProducerPerformance / ConsumerPerformance from the
kafka-tools jar). Kafka runs with its shipped heap and GC settings
(harness.kafka.BROKER_JVM_OPTS) and both with the same mirrored settings.

Per scenario it records the figure, the broker's CPU (user + system from
/proc/<pid>/stat) and the load generator's CPU (getrusage of the waited-for
child), so the table can say where the client, not the broker, is the
ceiling: on this 2-core box a scenario is client-bound when broker and
client together use at least CLIENT_BOUND_CORES and the client uses more
than the broker. Per broker: CPU seconds per GB moved (produce and consume
apart), CPU per record, idle RSS after start, peak RSS under load, and
start-up to the first answered request.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from harness import procs
from harness.kafka import MIRRORED, KafkaBroker, java_command, kafka_version
from harness.runnel import RunnelBroker

CLIENT_BOUND_CORES = 1.7
KINDS = ("runnel", "kafka")


def log(msg: str) -> None:
    import sys
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def machine_busy_secs() -> float:
    """CPU seconds all cores spent busy (not idle or waiting for I/O) since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_leaders(port: int, topic: str, partitions: int, timeout: float = 60.0) -> None:
    """Kafka creates a topic's partitions asynchronously: wait until a
    Metadata answer shows a leader for each (raw Metadata v1) and the
    partitions answer ListOffsets (the raw loadgen stops at any error)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if procs.topic_leaders(port, topic) == partitions and procs.partitions_serving(port, topic, partitions):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{topic}: no leaders for {partitions} partitions within {timeout}s")


# Figure id → label, unit, which way is better, the traffic kind for CPU per GB.
FIGURES = {
    "rdk_produce_100b_p8": ("librdkafka produce, 100 B, acks=1, 8 partitions", "rec/s", "higher", "produce"),
    "rdk_consume_100b_p8": ("librdkafka consume, 100 B, 8 partitions", "rec/s", "higher", "consume"),
    "rdk_produce_1k_acksall_p1": ("librdkafka produce, 1 KiB, acks=all, 1 partition", "rec/s", "higher", "produce"),
    "java_produce_100b_p8": ("producer-perf-test, 100 B, acks=1, 8 partitions", "rec/s", "higher", "produce"),
    "java_consume_100b_p8": ("consumer-perf-test, 100 B, 8 partitions", "rec/s", "higher", "consume"),
    "raw_produce_1m_p8": ("raw produce, 1 MiB batches, acks=1, 8 partitions", "MB/s", "higher", "produce"),
    "raw_fetch_p8": ("raw fetch, 1 MiB per partition, 8 partitions", "MB/s", "higher", "consume"),
    "latency_p50_ms": ("end-to-end latency p50 at 10,000 rec/s", "ms", "lower", None),
    "latency_p99_ms": ("end-to-end latency p99 at 10,000 rec/s", "ms", "lower", None),
    "latency_p999_ms": ("end-to-end latency p99.9 at 10,000 rec/s", "ms", "lower", None),
}

PER_BROKER = {
    "cpu_s_per_gb_produce": ("broker CPU per GB produced", "CPU s/GB", 3.0),
    "cpu_s_per_gb_consume": ("broker CPU per GB consumed", "CPU s/GB", 3.0),
    "cpu_us_per_record_produce": ("broker CPU per record produced (librdkafka, 100 B)", "CPU µs", None),
    "cpu_us_per_record_consume": ("broker CPU per record consumed (librdkafka, 100 B)", "CPU µs", None),
    "idle_rss_mib": ("idle RSS after start", "MiB", 20.0),
    "peak_rss_mib": ("peak RSS under the load above", "MiB", 20.0),
    "startup_answer_ms": ("start-up to first answered request, empty data dir", "ms", 20.0),
}


class SideBySide:
    def __init__(self, bench):
        self.bench = bench
        self.lg = bench.loadgen
        self.smoke = bench.smoke
        # kind → fid → list of {"value", "broker_cores", "client_cores"}
        self.samples: dict[str, dict[str, list[dict]]] = {k: {} for k in KINDS}
        # kind → per-broker figure → list of values
        self.per_broker: dict[str, dict[str, list[float]]] = {k: {} for k in KINDS}
        self.kafka_format_secs: list[float] = []
        self.seq = 0
        self.last_machine = 0.0

    def s(self, full, smoke):
        return smoke if self.smoke else full

    def topic(self, stem: str) -> str:
        self.seq += 1
        return f"sbs-{stem}-{self.seq}"

    def make_broker(self, kind: str, run: int):
        work = self.bench.work / f"sbs-{kind}-{run}"
        if kind == "runnel":
            b = RunnelBroker(work, dict(MIRRORED), name=f"sbs-runnel-{run}", binary=self.bench.runnel)
        else:
            b = KafkaBroker(work)
        self.bench.brokers.append(b)
        return b

    def run(self) -> None:
        log(f"side by side with Apache Kafka {kafka_version()}")
        for run in range(self.bench.runs):
            order = KINDS if run % 2 == 0 else KINDS[::-1]
            for kind in order:
                log(f"side by side run {run + 1}/{self.bench.runs}: {kind}")
                self.one_run(kind, run)

    def sample(self, kind, fid, value, broker_cpu, client_cpu, wall):
        self.samples[kind].setdefault(fid, []).append({
            "value": value, "broker_cores": broker_cpu / wall, "client_cores": client_cpu / wall,
            "machine_cores": self.last_machine / wall, "broker_cpu_s": broker_cpu, "wall_s": wall})

    def measured(self, b, fn):
        """Runs fn(); returns (its result, broker CPU s, client CPU s, wall s).
        The whole machine's busy CPU over the same time is kept for `sample`."""
        cpu0, cl0, m0, t0 = b.cpu_secs(), children_cpu(), machine_busy_secs(), time.monotonic()
        out = fn()
        self.last_machine = machine_busy_secs() - m0
        return out, b.cpu_secs() - cpu0, children_cpu() - cl0, time.monotonic() - t0

    def create(self, b, stem, partitions):
        t = self.topic(stem)
        self.lg.run(b.bootstrap, "create-topic", "--topic", t, "--partitions", str(partitions))
        wait_leaders(b.port, t, partitions)
        return t

    def one_run(self, kind: str, run: int) -> None:
        b = self.make_broker(kind, run)
        b.start(timeout=180)
        if kind == "kafka":
            self.kafka_format_secs.append(b.format_secs)
        pb = self.per_broker[kind]
        pb.setdefault("startup_answer_ms", []).append(b.answer_secs * 1e3)
        time.sleep(self.s(3.0, 0.5))
        pb.setdefault("idle_rss_mib", []).append(b.rss_mib())
        moved = {"produce": [0.0, 0.0], "consume": [0.0, 0.0]}  # bytes, broker CPU s
        per_record = {}
        lg, boot = self.lg, b.bootstrap
        n100 = int(self.s(2_000_000, 20_000))
        n1k = int(self.s(500_000, 5_000))
        try:
            with procs.RssSampler(b.pid) as rss:
                # librdkafka producer and consumer, 100 B, 8 partitions.
                t = self.create(b, "rdk", 8)
                os.sync()  # as bench.settle(): a page cache with room
                out, bc, cc, wall = self.measured(b, lambda: lg.run(
                    boot, "rdkafka-produce", "--topic", t, "--records", str(n100), "--record-size", "100",
                    "--acks", "1", "--linger-ms", "10", "--batch-size", str(1024 * 1024)))
                self.sample(kind, "rdk_produce_100b_p8", out["records_per_s"], bc, cc, wall)
                moved["produce"][0] += out["bytes"]
                moved["produce"][1] += bc
                per_record["produce"] = bc / out["records"] * 1e6
                out, bc, cc, wall = self.measured(b, lambda: lg.run(
                    boot, "rdkafka-consume", "--topic", t, "--records", str(n100)))
                self.sample(kind, "rdk_consume_100b_p8", out["records_per_s"], bc, cc, wall)
                moved["consume"][0] += out["bytes"]
                moved["consume"][1] += bc
                per_record["consume"] = bc / out["records"] * 1e6
                # librdkafka, 1 KiB, acks=all, 1 partition.
                t = self.create(b, "rdk1k", 1)
                os.sync()  # as bench.settle(): a page cache with room
                out, bc, cc, wall = self.measured(b, lambda: lg.run(
                    boot, "rdkafka-produce", "--topic", t, "--records", str(n1k), "--record-size", "1024",
                    "--acks", "all", "--linger-ms", "10", "--batch-size", str(1024 * 1024)))
                self.sample(kind, "rdk_produce_1k_acksall_p1", out["records_per_s"], bc, cc, wall)
                moved["produce"][0] += out["bytes"]
                moved["produce"][1] += bc
                # Kafka's own perf tools.
                t = self.create(b, "java", 8)
                os.sync()  # as bench.settle(): a page cache with room
                out, bc, cc, wall = self.measured(b, lambda: self.producer_perf(boot, t, n100))
                self.sample(kind, "java_produce_100b_p8", out["records_per_s"], bc, cc, wall)
                moved["produce"][0] += out["bytes"]
                moved["produce"][1] += bc
                out, bc, cc, wall = self.measured(b, lambda: self.consumer_perf(boot, t, n100))
                self.sample(kind, "java_consume_100b_p8", out["records_per_s"], bc, cc, wall)
                moved["consume"][0] += out["bytes"]
                moved["consume"][1] += bc
                # Broker-bound raw produce and fetch.
                t = self.create(b, "raw", 8)
                os.sync()  # as bench.settle(): a page cache with room
                secs = str(self.s(4, 0.3))
                out, bc, cc, wall = self.measured(b, lambda: lg.run(
                    boot, "raw-produce", "--topic", t, "--partitions", "8", "--batch-bytes", str(1024 * 1024),
                    "--connections", "2", "--inflight", "8", "--secs", secs))
                self.sample(kind, "raw_produce_1m_p8", out["mb_per_s"], bc, cc, wall)
                moved["produce"][0] += out["bytes"]
                moved["produce"][1] += bc
                out, bc, cc, wall = self.measured(b, lambda: lg.run(
                    boot, "raw-fetch", "--topic", t, "--partitions", "8", "--connections", "2",
                    "--inflight", "4", "--secs", secs))
                self.sample(kind, "raw_fetch_p8", out["mb_per_s"], bc, cc, wall)
                moved["consume"][0] += out["bytes"]
                moved["consume"][1] += bc
                # Latency at a fixed rate.
                t = self.create(b, "lat", 1)
                out, bc, cc, wall = self.measured(b, lambda: lg.run(
                    boot, "latency", "--topic", t, "--rate", "10000", "--secs", str(self.s(10, 1))))
                for q in ("p50", "p99", "p999"):
                    self.sample(kind, f"latency_{q}_ms", out[f"{q}_ms"], bc, cc, wall)
            pb.setdefault("peak_rss_mib", []).append(rss.peak)
            for traffic in ("produce", "consume"):
                nbytes, cpu = moved[traffic]
                pb.setdefault(f"cpu_s_per_gb_{traffic}", []).append(cpu / (nbytes / 1e9))
                pb.setdefault(f"cpu_us_per_record_{traffic}", []).append(per_record[traffic])
        finally:
            b.stop()
            shutil.rmtree(b.workdir, ignore_errors=True)

    def producer_perf(self, boot: str, topic: str, records: int) -> dict:
        """producer-perf-test with the librdkafka producer's settings."""
        cmd = java_command("org.apache.kafka.tools.ProducerPerformance", [
            "--topic", topic, "--num-records", str(records), "--record-size", "100", "--throughput", "-1",
            "--producer-props", f"bootstrap.servers={boot}", "acks=1", "linger.ms=10",
            f"batch.size={1024 * 1024}", "buffer.memory=268435456", "compression.type=none"])
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
        if out.returncode != 0:
            raise RuntimeError(f"producer-perf-test failed:\n{out.stderr[-2000:]}")
        # "N records sent, X records/sec (Y MB/sec), ..." is the last summary line.
        m = None
        for line in out.stdout.splitlines():
            m = re.match(r"(\d+) records sent, ([\d.]+) records/sec", line) or m
        if m is None:
            raise RuntimeError(f"producer-perf-test printed no summary:\n{out.stdout[-2000:]}")
        return {"records": int(m.group(1)), "records_per_s": float(m.group(2)), "bytes": int(m.group(1)) * 100}

    def consumer_perf(self, boot: str, topic: str, records: int) -> dict:
        """consumer-perf-test reading the topic back (its own group); the rate
        is its fetch.nMsg.sec, which leaves out the group join."""
        cmd = java_command("org.apache.kafka.tools.ConsumerPerformance", [
            "--bootstrap-server", boot, "--topic", topic, "--messages", str(records),
            "--timeout", "60000", "--group", f"perf-{topic}"])
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
        if out.returncode != 0:
            raise RuntimeError(f"consumer-perf-test failed:\n{out.stderr[-2000:]}")
        lines = [line for line in out.stdout.splitlines() if line.strip()]
        header_i = next(i for i, line in enumerate(lines) if "fetch.nMsg.sec" in line)
        names = [c.strip() for c in lines[header_i].split(",")]
        values = [c.strip() for c in lines[header_i + 1].split(",")]
        row = dict(zip(names, values))
        n = int(float(row["data.consumed.in.nMsg"]))
        if n < records:
            raise RuntimeError(f"consumer-perf-test read {n} of {records} records")
        return {"records": n, "records_per_s": float(row["fetch.nMsg.sec"]),
                "bytes": int(float(row["data.consumed.in.MB"]) * 1024 * 1024)}

    def summary(self) -> dict:
        figures = {}
        for fid, (label, unit, better, traffic) in FIGURES.items():
            f = {"label": label, "unit": unit, "better": better}
            for kind in KINDS:
                ss = self.samples[kind].get(fid)
                if not ss:
                    continue
                vals = [s["value"] for s in ss]
                f[kind] = {"values": vals, "median": statistics.median(vals), "min": min(vals), "max": max(vals),
                           "broker_cores": statistics.median(s["broker_cores"] for s in ss),
                           "client_cores": statistics.median(s["client_cores"] for s in ss),
                           "machine_cores": statistics.median(s["machine_cores"] for s in ss)}
            if "runnel" in f and "kafka" in f and f["kafka"]["median"]:
                f["ratio"] = f["runnel"]["median"] / f["kafka"]["median"]
                f["ceiling"] = {k: ceiling(f[k]) for k in KINDS}
            figures[fid] = f
        per = {}
        for pid, (label, unit, target) in PER_BROKER.items():
            e = {"label": label, "unit": unit, "target_factor": target}
            for kind in KINDS:
                vals = self.per_broker[kind].get(pid)
                if vals:
                    e[kind] = {"values": vals, "median": statistics.median(vals), "min": min(vals), "max": max(vals)}
            if "runnel" in e and "kafka" in e and e["runnel"]["median"]:
                e["factor"] = e["kafka"]["median"] / e["runnel"]["median"]
                e["target_met"] = None if target is None else e["factor"] >= target
            per[pid] = e
        return {"kafka_version": kafka_version(), "figures": figures, "per_broker": per,
                "kafka_format_s": statistics.median(self.kafka_format_secs) if self.kafka_format_secs else None,
                "client_bound_cores": CLIENT_BOUND_CORES}


def ceiling(side: dict) -> str:
    """What bounds a figure on this 2-core box: when the machine is busy
    (CLIENT_BOUND_CORES or more), the client if it used more CPU than the
    broker, else the broker; "other load" when processes outside the bench
    took most of that; "neither" (disk, network, timers) when the CPUs had room."""
    if side["machine_cores"] < CLIENT_BOUND_CORES:
        return "neither"
    other = side["machine_cores"] - side["broker_cores"] - side["client_cores"]
    if other > max(side["broker_cores"], side["client_cores"]):
        return "other load"
    return "client" if side["client_cores"] > side["broker_cores"] else "broker"


def _fmt(v: float) -> str:
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def render_side_by_side(sbs: dict, plot_name: str) -> str:
    lines = [
        f"### Side by side with Apache Kafka {sbs['kafka_version']}",
        "",
        "Same run, same disk, same load generators, one broker after the other (the order alternates "
        "between runs). Kafka: a KRaft combined node with its shipped JVM settings (1 GiB heap, G1), "
        f"formatted beforehand (`kafka-storage format`, {_fmt(sbs['kafka_format_s'] or 0)} s, not counted). "
        "Ratio = Runnel / Kafka (above 1: Runnel higher). `cores` = CPU of the broker / the load generator / "
        "the whole machine during the scenario (from /proc). The ceiling is judged when the machine was "
        f"busy (at least {CLIENT_BOUND_CORES} of the 2 cores): the client if it used more than the broker, "
        "the broker if it used more, `other load` if processes outside the bench used most; `neither` "
        "when the CPUs had room (then the disk, loopback or the client's own pacing bounds it).",
        "",
        "| figure | Runnel | Kafka | Runnel / Kafka | cores, Runnel (broker / client / machine) "
        "| cores, Kafka (broker / client / machine) | ceiling (Runnel, Kafka) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for fid, f in sbs["figures"].items():
        if "ratio" not in f:
            continue
        r, k = f["runnel"], f["kafka"]
        lines.append(
            f"| {f['label']} | {_fmt(r['median'])} {f['unit']} ({_fmt(r['min'])} – {_fmt(r['max'])}) "
            f"| {_fmt(k['median'])} {f['unit']} ({_fmt(k['min'])} – {_fmt(k['max'])}) | {f['ratio']:.2f} "
            f"| {r['broker_cores']:.2f} / {r['client_cores']:.2f} / {r['machine_cores']:.2f} "
            f"| {k['broker_cores']:.2f} / {k['client_cores']:.2f} / {k['machine_cores']:.2f} "
            f"| {f['ceiling']['runnel']}, {f['ceiling']['kafka']} |")
    lines += ["", "| per broker | Runnel | Kafka | Kafka / Runnel | target | met |", "| --- | --- | --- | --- | --- | --- |"]
    for pid, e in sbs["per_broker"].items():
        if "factor" not in e:
            continue
        target = f">= {e['target_factor']:.0f}×" if e["target_factor"] else ""
        met = {True: "yes", False: "**no**", None: ""}[e.get("target_met")]
        lines.append(f"| {e['label']} | {_fmt(e['runnel']['median'])} {e['unit']} | "
                     f"{_fmt(e['kafka']['median'])} {e['unit']} | {e['factor']:.1f}× | {target} | {met} |")
    lines += ["", f"![Runnel beside Kafka]({plot_name})", ""]
    return "\n".join(lines)


def render_side_by_side_plot(sbs: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = [(f["label"], f["ratio"] if f["better"] == "higher" else 1 / f["ratio"])
            for f in sbs["figures"].values() if "ratio" in f]
    per = [(e["label"], e["factor"], e["target_factor"]) for e in sbs["per_broker"].values() if "factor" in e]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, 5.5))
    ax1.barh(range(len(figs)), [v for _, v in figs], color="#4c72b0")
    ax1.set_yticks(range(len(figs)), [n for n, _ in figs], fontsize=7)
    ax1.axvline(1.0, color="#c44e52", linestyle="--")
    ax1.invert_yaxis()
    ax1.set_xlabel("Runnel better by (×); above 1 = Runnel faster or lower latency")
    ax1.set_title("throughput and latency, Runnel vs Kafka (medians)", fontsize=10)
    ax2.barh(range(len(per)), [v for _, v, _ in per], color="#55a868")
    for i, (_, _, target) in enumerate(per):
        if target:
            ax2.scatter([target], [i], marker="|", s=300, color="#c44e52")
    ax2.set_xscale("log")
    ax2.set_yticks(range(len(per)), [n for n, _, _ in per], fontsize=7)
    ax2.invert_yaxis()
    ax2.set_xlabel("Kafka / Runnel (×, log scale); red: target")
    ax2.set_title("broker cost: how many times less Runnel uses", fontsize=10)
    fig.suptitle(f"Runnel beside Apache Kafka {sbs['kafka_version']}, same run, 2 shared cores", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
