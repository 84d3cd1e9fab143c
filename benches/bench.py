#!/usr/bin/env python3
"""`make bench`: Runnel's end-to-end benchmark, beside Apache Kafka.

Starts the release broker on fresh data dirs, drives it with the load
generators of benches/loadgen (librdkafka and raw kafka-protocol), runs each
scenario several times, measures the machine's own limits in the same run,
runs the side-by-side scenarios against Runnel and Apache Kafka
(benches/side_by_side.py; brokers from harness/), and writes

- a JSON results file (docs/bench-results.json), the record later runs are
  compared against;
- the generated part of docs/benchmarks.md (between the `bench:begin` and
  `bench:end` markers): median and spread per figure, each as a fraction of
  the machine limit it is bounded by, the targets of the benchmark issue;
- a PNG plot (docs/bench-plot.png): throughput and latency percentiles.

`--smoke` runs every scenario once, tiny, into a scratch directory, to keep
this script working (`make test` runs it); it never judges the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def settle() -> None:
    """Writes back dirty pages before a produce scenario: each then writes
    into a page cache with room, instead of being throttled to the disk's
    speed by the kernel's dirty-page limits because of the runs before."""
    os.sync()


def vm_setting(name: str) -> str:
    try:
        return Path(f"/proc/sys/vm/{name}").read_text().strip()
    except OSError:
        return "?"


sys.path.insert(0, str(REPO))
from harness.runnel import RunnelBroker  # noqa: E402
from harness.procs import RssSampler  # noqa: E402
from side_by_side import SideBySide, render_side_by_side, render_side_by_side_plot  # noqa: E402


class Broker(RunnelBroker):
    """The shared `runnel` launcher (harness/runnel.py) as the bench uses it:
    `start()` returns the seconds to the first accepted connection."""

    def __init__(self, binary: Path, workdir: Path, overrides: dict[str, str] | None = None):
        super().__init__(workdir, overrides, name=workdir.name, binary=binary)

    def start(self, timeout: float = 120.0) -> float:
        super().start(timeout)
        return self.accept_secs

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            super().stop(sig, timeout=120)


class Loadgen:
    def __init__(self, binary: Path):
        self.binary = binary

    def run(self, bootstrap: str, *args: str, timeout: float = 600) -> dict:
        cmd = [str(self.binary), "--bootstrap", bootstrap, *args]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])


class Results:
    """Figures by id: every run's value, plus how to present and judge them."""

    def __init__(self):
        self.figures: dict[str, dict] = {}

    def add(self, fid: str, value: float, *, label: str, unit: str, group: str,
            limit: str | None = None, limit_scale: float = 1.0,
            target: str | None = None, better: str = "higher") -> None:
        f = self.figures.setdefault(fid, {
            "label": label, "unit": unit, "group": group, "limit": limit,
            "limit_scale": limit_scale, "target": target, "better": better, "values": [],
        })
        f["values"].append(value)


def median_spread(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def parse_target(target: str | None) -> tuple[str, float] | None:
    if not target:
        return None
    op, num = target.split()
    return op, float(num)


def target_met(f: dict) -> bool | None:
    t = parse_target(f["target"])
    if t is None:
        return None
    op, num = t
    med = f["median"]
    return med >= num if op == ">=" else med <= num


# --- scenarios -----------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.smoke = args.smoke
        self.runs = 1 if args.smoke else args.runs
        self.runnel = Path(args.runnel).resolve()
        self.loadgen = Loadgen(Path(args.loadgen).resolve())
        self.work = Path(tempfile.mkdtemp(prefix="runnel-bench-", dir=args.work_dir))
        self.results = Results()
        self.limits: dict[str, list[float]] = {}
        self.topic_seq = 0
        self.brokers: list[Broker] = []

    def topic(self, stem: str) -> str:
        self.topic_seq += 1
        return f"{stem}-{self.topic_seq}"

    def broker(self, name: str, **overrides) -> Broker:
        b = Broker(self.runnel, self.work / name, overrides)
        self.brokers.append(b)
        return b

    def s(self, full: float, smoke: float) -> float:
        return smoke if self.smoke else full

    def machine_limits(self) -> None:
        log("machine limits")
        for _ in range(self.runs):
            out = self.loadgen.run(
                "127.0.0.1:1", "machine", "--dir", str(self.work),
                "--secs", str(self.s(3, 0.3)),
                "--write-bytes", str(int(self.s(1024, 16)) * MIB),
                "--syncs", str(int(self.s(200, 10))))
            for k in ("loopback_mb_per_s", "seq_write_mb_per_s", "fdatasync_p50_us", "fdatasync_p99_us"):
                self.limits.setdefault(k, []).append(out[k])

    def startup_empty(self) -> None:
        log("startup, empty data dir")
        for i in range(max(self.runs, 3)):
            b = self.broker(f"empty-{i}")
            secs = b.start()
            self.results.add("startup_empty_ms", secs * 1e3, label="startup to first accepted connection, empty data dir",
                             unit="ms", group="footprint", target="<= 50", better="lower")
            self.results.add("startup_empty_answer_ms", b.answer_secs * 1e3,
                             label="startup to first answered request, empty data dir",
                             unit="ms", group="footprint", better="lower")
            time.sleep(self.s(1.0, 0.2))
            self.results.add("idle_rss_mib", b.rss_mib(), label="idle RSS after start", unit="MiB",
                             group="footprint", target="<= 16", better="lower")
            b.stop()

    def throughput(self) -> None:
        """One broker for the throughput scenarios; each run uses fresh topics."""
        b = self.broker("throughput")
        b.start()
        lg, boot = self.loadgen, b.bootstrap
        raw_secs = str(self.s(4, 0.3))
        rec_100 = int(self.s(2_000_000, 20_000))
        rec_1k = int(self.s(500_000, 5_000))
        with RssSampler(b.pid) as rss:
            for run in range(self.runs):
                log(f"throughput run {run + 1}/{self.runs}")
                # Broker-bound produce and fetch.
                for parts, conns, batch in ((1, 1, 64 * 1024), (1, 1, 1024 * 1024), (8, 2, 64 * 1024)):
                    t = self.topic("raw")
                    lg.run(boot, "create-topic", "--topic", t, "--partitions", str(parts))
                    settle()
                    cpu0 = b.cpu_secs()
                    out = lg.run(boot, "raw-produce", "--topic", t, "--partitions", str(parts),
                                 "--batch-bytes", str(batch), "--connections", str(conns),
                                 "--inflight", "8", "--secs", raw_secs)
                    cpu = (b.cpu_secs() - cpu0) / out["secs"]
                    kib = batch // 1024
                    self.results.add(f"raw_produce_{kib}k_p{parts}", out["mb_per_s"],
                                     label=f"raw produce, acks=1, {kib} KiB batches, {parts} partition(s)",
                                     unit="MB/s", group="raw", limit="seq_write_mb_per_s",
                                     target=">= 1000" if batch >= 64 * 1024 else None)
                    self.results.add(f"raw_produce_{kib}k_p{parts}_cpu", cpu,
                                     label=f"broker CPU during raw produce ({kib} KiB, {parts} partition(s))",
                                     unit="cores", group="cpu", better="lower")
                    cpu0 = b.cpu_secs()
                    out = lg.run(boot, "raw-fetch", "--topic", t, "--partitions", str(parts),
                                 "--connections", str(conns), "--inflight", "4", "--secs", raw_secs)
                    cpu = (b.cpu_secs() - cpu0) / out["secs"]
                    if batch == 64 * 1024:
                        self.results.add(f"raw_fetch_p{parts}", out["mb_per_s"],
                                         label=f"raw fetch from page cache, 1 MiB per partition, {parts} partition(s)",
                                         unit="MB/s", group="raw", limit="loopback_mb_per_s", target=">= 2000")
                        self.results.add(f"raw_fetch_p{parts}_cpu", cpu,
                                         label=f"broker CPU during raw fetch ({parts} partition(s))",
                                         unit="cores", group="cpu", better="lower")
                # librdkafka producer perf and consumer.
                for size, records in ((100, rec_100), (1024, rec_1k)):
                    for acks in ("1", "all"):
                        for parts in (1, 8):
                            t = self.topic("rdk")
                            lg.run(boot, "create-topic", "--topic", t, "--partitions", str(parts))
                            settle()
                            cpu0 = b.cpu_secs()
                            out = lg.run(boot, "rdkafka-produce", "--topic", t, "--records", str(records),
                                         "--record-size", str(size), "--acks", acks,
                                         "--linger-ms", "10", "--batch-size", str(1024 * 1024))
                            cpu = (b.cpu_secs() - cpu0) / out["secs"]
                            fid = f"rdk_produce_{size}b_acks{acks}_p{parts}"
                            self.results.add(fid, out["records_per_s"],
                                             label=f"librdkafka produce, {size} B, acks={acks}, {parts} partition(s)",
                                             unit="rec/s", group="rdkafka", limit="seq_write_mb_per_s",
                                             limit_scale=size / 1e6,
                                             target=">= 2500000" if (size, acks) == (100, "1") else None)
                            if (size, acks) == (100, "1"):
                                self.results.add(fid + "_cpu", cpu,
                                                 label=f"broker CPU during librdkafka produce (100 B, acks=1, {parts} p.)",
                                                 unit="cores", group="cpu", better="lower", target="<= 0.5")
                                cpu0 = b.cpu_secs()
                                out = lg.run(boot, "rdkafka-consume", "--topic", t, "--records", str(records))
                                cpu = (b.cpu_secs() - cpu0) / out["secs"]
                                self.results.add(f"rdk_consume_100b_p{parts}", out["records_per_s"],
                                                 label=f"librdkafka consume, 100 B, {parts} partition(s)",
                                                 unit="rec/s", group="rdkafka", limit="loopback_mb_per_s",
                                                 limit_scale=100 / 1e6, target=">= 3000000")
                # End-to-end latency at a fixed rate below saturation.
                t = self.topic("lat")
                lg.run(boot, "create-topic", "--topic", t)
                out = lg.run(boot, "latency", "--topic", t, "--rate", "10000",
                             "--secs", str(self.s(10, 1)))
                for q, target in (("p50", None), ("p99", "<= 3"), ("p999", "<= 10")):
                    self.results.add(f"latency_{q}_ms", out[f"{q}_ms"],
                                     label=f"end-to-end latency {q.replace('p999', 'p99.9')} at 10,000 rec/s",
                                     unit="ms", group="latency", target=target, better="lower")
        self.results.add("rss_under_load_mib", rss.peak, label="peak RSS under the throughput scenarios",
                         unit="MiB", group="footprint", better="lower")
        b.stop()

    def many_connections(self) -> None:
        b = self.broker("connections")
        b.start()
        count = int(self.s(1000, 50))
        log(f"{count} idle connections + load")
        idle = subprocess.Popen([str(self.loadgen.binary), "--bootstrap", b.bootstrap, "idle-connections",
                                 "--count", str(count), "--hold-secs", "900"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            line = idle.stdout.readline()
            if not line:
                raise RuntimeError("idle-connections exited early")
            opened = json.loads(line)
            time.sleep(self.s(1.0, 0.1))
            self.results.add("rss_1000_idle_conns_mib", b.rss_mib(),
                             label=f"RSS with {count} idle connections", unit="MiB",
                             group="footprint", better="lower")
            for run in range(self.runs):
                t = self.topic("conn")
                self.loadgen.run(b.bootstrap, "create-topic", "--topic", t)
                out = self.loadgen.run(b.bootstrap, "rdkafka-produce", "--topic", t,
                                       "--records", str(int(self.s(2_000_000, 20_000))),
                                       "--record-size", "100", "--acks", "1", "--linger-ms", "10")
                self.results.add("rdk_produce_100b_with_idle_conns", out["records_per_s"],
                                 label=f"librdkafka produce, 100 B, acks=1, beside {count} idle connections",
                                 unit="rec/s", group="rdkafka")
                t = self.topic("conn-lat")
                self.loadgen.run(b.bootstrap, "create-topic", "--topic", t)
                out = self.loadgen.run(b.bootstrap, "latency", "--topic", t, "--rate", "10000",
                                       "--secs", str(self.s(5, 1)))
                self.results.add("latency_p99_with_idle_conns_ms", out["p99_ms"],
                                 label=f"end-to-end latency p99 at 10,000 rec/s, beside {count} idle connections",
                                 unit="ms", group="latency", better="lower")
        finally:
            idle.stdin.close()
            idle.wait(30)
        assert opened["connections"] == count
        b.stop()

    def many_partitions(self) -> None:
        for count in ((100,) if self.smoke else (1000, 10000)):
            log(f"{count} partitions")
            b = self.broker(f"partitions-{count}")
            b.start()
            t = self.topic("many")
            out = self.loadgen.run(b.bootstrap, "create-topic", "--topic", t, "--partitions", str(count))
            self.results.add(f"create_{count}_partitions_s", out["secs"],
                             label=f"CreateTopics with {count} partitions", unit="s",
                             group="partitions", better="lower")
            time.sleep(self.s(1.0, 0.1))
            self.results.add(f"idle_rss_{count}_partitions_mib", b.rss_mib(),
                             label=f"idle RSS hosting {count} partitions", unit="MiB",
                             group="footprint", better="lower")
            for run in range(self.runs):
                out = self.loadgen.run(b.bootstrap, "rdkafka-produce", "--topic", t,
                                       "--records", str(int(self.s(2_000_000, 20_000))),
                                       "--record-size", "100", "--acks", "1", "--linger-ms", "10")
                self.results.add(f"rdk_produce_100b_p{count}", out["records_per_s"],
                                 label=f"librdkafka produce, 100 B, acks=1, over {count} partitions",
                                 unit="rec/s", group="rdkafka")
            for run in range(max(self.runs, 3)):
                b.stop()
                secs = b.start()
                self.results.add(f"startup_clean_{count}_partitions_ms", secs * 1e3,
                                 label=f"startup after clean shutdown, {count} partitions",
                                 unit="ms", group="footprint", better="lower",
                                 target="<= 1000" if count == 10000 else None)
            b.stop()
            shutil.rmtree(b.data_dir, ignore_errors=True)

    def lots_of_data(self) -> None:
        gib = self.args.data_gib if not self.smoke else 1 / 32
        log(f"startup with {gib} GiB of data")
        b = self.broker("data")
        b.start()
        t = self.topic("data")
        self.loadgen.run(b.bootstrap, "create-topic", "--topic", t, "--partitions", "8")
        target = gib * 1024 * MIB
        written = 0
        while written < target:
            out = self.loadgen.run(b.bootstrap, "raw-produce", "--topic", t, "--partitions", "8",
                                   "--connections", "2", "--batch-bytes", str(1024 * 1024),
                                   "--secs", str(self.s(5, 0.1)))
            written += out["bytes"]
        size = sum(f.stat().st_size for f in b.data_dir.rglob("*") if f.is_file())
        self.data_bytes = size
        label_gib = f"{size / 1024**3:.1f} GiB"
        for run in range(max(self.runs, 3)):
            b.stop()
            secs = b.start()
            self.results.add("startup_clean_data_ms", secs * 1e3,
                             label=f"startup after clean shutdown, {label_gib} in 8 partitions",
                             unit="ms", group="footprint", better="lower")
        for run in range(max(self.runs, 3)):
            # More data, then kill -9: the restart recovers what is past the
            # recovery point.
            self.loadgen.run(b.bootstrap, "raw-produce", "--topic", t, "--partitions", "8",
                             "--connections", "2", "--batch-bytes", str(1024 * 1024),
                             "--secs", str(self.s(2, 0.1)))
            b.stop(signal.SIGKILL)
            secs = b.start()
            self.results.add("startup_unclean_data_ms", secs * 1e3,
                             label=f"startup after kill -9, {label_gib} in 8 partitions",
                             unit="ms", group="footprint", better="lower")
        b.stop()
        shutil.rmtree(b.data_dir, ignore_errors=True)

    def side_by_side(self) -> None:
        """The scenarios of benches/side_by_side.py against Runnel and Kafka."""
        self.sbs = SideBySide(self)
        self.sbs.run()

    def run(self) -> dict:
        """Every scenario, each on its own broker; one that fails is
        reported (and fails a smoke run) but does not stop the others."""
        self.failures: list[str] = []
        try:
            for scenario in (self.machine_limits, self.startup_empty, self.side_by_side, self.throughput,
                             self.many_connections, self.many_partitions, self.lots_of_data):
                if self.args.only and scenario.__name__ not in self.args.only:
                    continue
                try:
                    scenario()
                except Exception as e:  # noqa: BLE001 - reported in the results
                    log(f"{scenario.__name__} failed: {e}")
                    for b in self.brokers:
                        errors = [line for line in b.log_tail() if "ERROR" in line]
                        if errors:
                            log(f"{b.workdir.name} broker log:\n" + "\n".join(errors[-5:]))
                    # No machine paths in the committed record; a few lines suffice.
                    text = "\n".join(str(e).replace(f"{REPO}/", "").splitlines()[:4])
                    self.failures.append(f"{scenario.__name__}: {text}")
                    kill_all(self.brokers)
        finally:
            # No broker outlives the run, whatever happened.
            kill_all(self.brokers)
            if not self.args.keep:
                shutil.rmtree(self.work, ignore_errors=True)
        return self.summary()

    def summary(self) -> dict:
        limits = {}
        for k, vals in self.limits.items():
            med, lo, hi = median_spread(vals)
            limits[k] = {"median": med, "min": lo, "max": hi, "values": vals}
        figures = {}
        for fid, f in self.results.figures.items():
            med, lo, hi = median_spread(f["values"])
            f = {**f, "median": med, "min": lo, "max": hi}
            if f["limit"] and f["limit"] in limits:
                f["fraction_of_limit"] = med * f["limit_scale"] / limits[f["limit"]]["median"]
            f["target_met"] = target_met(f)
            figures[fid] = f
        return {
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "cores": os.cpu_count(),
            "cpu": cpu_model(),
            "kernel": platform.release(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1),
            "load_average_at_end": os.getloadavg(),
            "vm_dirty_ratio": vm_setting("dirty_ratio"),
            "vm_dirty_background_ratio": vm_setting("dirty_background_ratio"),
            "commit": git_commit(),
            "runs": self.runs,
            "smoke": self.smoke,
            "data_gib": getattr(self, "data_bytes", 0) / 1024**3,
            "limits": limits,
            "figures": figures,
            "failures": self.failures,
            "side_by_side": self.sbs.summary() if getattr(self, "sbs", None) else None,
        }


def kill_all(brokers) -> None:
    for b in brokers:
        if b.proc is not None:
            try:
                b.stop(signal.SIGKILL)
            except Exception:  # noqa: BLE001 - stop() has killed its process group anyway
                pass


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# --- report ----------------------------------------------------------------

LIMIT_LABELS = {
    "loopback_mb_per_s": ("loopback TCP, one connection", "MB/s"),
    "seq_write_mb_per_s": ("sequential write + one fdatasync, data dir", "MB/s"),
    "fdatasync_p50_us": ("4 KiB write + fdatasync, p50", "µs"),
    "fdatasync_p99_us": ("4 KiB write + fdatasync, p99", "µs"),
}
LIMIT_SHORT = {"loopback_mb_per_s": "loopback", "seq_write_mb_per_s": "disk write"}
GROUP_ORDER = ["raw", "rdkafka", "latency", "partitions", "footprint", "cpu"]


def fmt(v: float) -> str:
    if abs(v) >= 100_000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def render_markdown(res: dict, previous: dict | None, plot_name: str, sbs_plot_name: str) -> str:
    lines = [
        f"Generated by `make bench` on {res['date'][:10]} at commit `{res['commit']}`: "
        f"{res['cores']} cores ({res['cpu']}), {res['memory_gib']} GiB RAM, Linux {res['kernel']}; "
        f"broker and load generator share the cores. Each figure is the median of "
        f"{res['runs']} runs (at least 3 for start-up times) with the spread (min – max); "
        f"load average at the end {res['load_average_at_end'][0]:.1f}. "
        "Produce scenarios start after a `sync`, so they write into a page cache with room "
        f"(vm.dirty_ratio {res.get('vm_dirty_ratio', '?')} %). "
        "Raw JSON: `docs/bench-results.json`.",
        "",
        "### The machine's limits (same run)",
        "",
        "| limit | median | spread |",
        "| --- | --- | --- |",
    ]
    for k, (label, unit) in LIMIT_LABELS.items():
        if k in res["limits"]:
            l = res["limits"][k]
            lines.append(f"| {label} | {fmt(l['median'])} {unit} | {fmt(l['min'])} – {fmt(l['max'])} |")
    if res.get("side_by_side"):
        lines += ["", render_side_by_side(res["side_by_side"], sbs_plot_name)]
    lines += ["", "### Runnel's own figures", ""]
    header = "| figure | median | spread | of limit | target | met |"
    sep = "| --- | --- | --- | --- | --- | --- |"
    if previous:
        header += f" previous ({previous.get('commit', '?')}) |"
        sep += " --- |"
    lines += [header, sep]
    figs = res["figures"]
    for group in GROUP_ORDER:
        for fid, f in figs.items():
            if f["group"] != group:
                continue
            frac = ""
            if "fraction_of_limit" in f:
                frac = f"{f['fraction_of_limit'] * 100:.0f} % of {LIMIT_SHORT.get(f['limit'], f['limit'])}"
            met = {True: "yes", False: "**no**", None: ""}[f["target_met"]]
            target = f"{f['target']} {f['unit']}" if f["target"] else ""
            row = (f"| {f['label']} | {fmt(f['median'])} {f['unit']} | {fmt(f['min'])} – {fmt(f['max'])} "
                   f"| {frac} | {target} | {met} |")
            if previous:
                p = previous.get("figures", {}).get(fid)
                if p and p.get("median"):
                    change = (f["median"] - p["median"]) / p["median"] * 100
                    row += f" {fmt(p['median'])} ({change:+.0f} %) |"
                else:
                    row += " |"
            lines.append(row)
    if res.get("failures"):
        lines += ["", "Scenarios that failed in this run:", ""]
        lines += [f"- {f}" for f in res["failures"]]
    lines += ["", f"![throughput and latency]({plot_name})", ""]
    return "\n".join(lines)


def render_plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = res["figures"]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 5.5), gridspec_kw={"width_ratios": [3, 2, 2]})

    def bars(ax, ids, scale, unit, title):
        ids = [i for i in ids if i in figs]
        labels = [figs[i]["label"].replace("librdkafka ", "").replace(", ", "\n", 2) for i in ids]
        med = [figs[i]["median"] * scale for i in ids]
        lo = [(figs[i]["median"] - figs[i]["min"]) * scale for i in ids]
        hi = [(figs[i]["max"] - figs[i]["median"]) * scale for i in ids]
        ax.barh(range(len(ids)), med, xerr=[lo, hi], color="#4c72b0", capsize=3)
        ax.set_yticks(range(len(ids)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel(unit)
        ax.set_title(title, fontsize=10)

    rdk = [i for i in figs if i.startswith(("rdk_produce", "rdk_consume")) and not i.endswith("_cpu")]
    bars(ax1, rdk, 1e-6, "million records/s", "librdkafka throughput (median, min–max)")
    raw = [i for i in figs if i.startswith("raw_") and not i.endswith("_cpu")]
    bars(ax2, raw, 1e-3, "GB/s", "broker-bound raw throughput")
    for k, color in (("loopback_mb_per_s", "#c44e52"), ("seq_write_mb_per_s", "#55a868")):
        if k in res["limits"]:
            ax2.axvline(res["limits"][k]["median"] / 1e3, color=color, linestyle="--",
                        label=LIMIT_SHORT[k] + " limit")
    if ax2.get_legend_handles_labels()[0]:
        ax2.legend(fontsize=7)
    qs = [("p50", "latency_p50_ms"), ("p99", "latency_p99_ms"), ("p99.9", "latency_p999_ms")]
    qs = [(n, i) for n, i in qs if i in figs]
    ax3.bar([n for n, _ in qs], [figs[i]["median"] for _, i in qs],
            yerr=[[figs[i]["median"] - figs[i]["min"] for _, i in qs],
                  [figs[i]["max"] - figs[i]["median"] for _, i in qs]],
            color="#8172b2", capsize=4)
    for n, i in qs:
        if figs[i]["target"]:
            ax3.scatter([n], [parse_target(figs[i]["target"])[1]], marker="_", s=600, color="#c44e52")
    ax3.set_ylabel("ms")
    ax3.set_title("end-to-end latency at 10,000 rec/s\n(red: target)", fontsize=10)
    fig.suptitle(f"Runnel {res['commit']}, {res['date'][:10]}, {res['cores']} cores shared with the load generator",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def write_markdown(path: Path, generated: str) -> None:
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip() + f"\n\n## `make bench`\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n{generated}\n{END}{tail}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runnel", default=str(REPO / "target/release/runnel"))
    p.add_argument("--loadgen", default=str(REPO / "target/release/runnel-loadgen"))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--data-gib", type=float, default=10.0)
    p.add_argument("--work-dir", default=None, help="where the scratch data dirs go (default: $TMPDIR)")
    p.add_argument("--json", default=str(REPO / "docs/bench-results.json"))
    p.add_argument("--markdown", default=str(REPO / "docs/benchmarks.md"))
    p.add_argument("--plot", default=str(REPO / "docs/bench-plot.png"))
    p.add_argument("--smoke", action="store_true", help="every scenario once, tiny; output to a scratch dir")
    p.add_argument("--keep", action="store_true", help="keep the scratch data dirs")
    p.add_argument("--only", nargs="*", help="run only these scenarios (method names, e.g. lots_of_data)")
    args = p.parse_args()

    out_json, out_md, out_png = Path(args.json), Path(args.markdown), Path(args.plot)
    if args.smoke:
        scratch = Path(tempfile.mkdtemp(prefix="runnel-bench-smoke-"))
        out_json, out_md, out_png = scratch / "results.json", scratch / "benchmarks.md", scratch / "bench-plot.png"
    previous = None
    if out_json.exists():
        previous = json.loads(out_json.read_text())

    started = time.monotonic()
    res = Bench(args).run()
    res["wall_secs"] = round(time.monotonic() - started, 1)

    out_json.write_text(json.dumps(res, indent=1) + "\n")
    render_plot(res, out_png)
    sbs_png = out_png.with_name("bench-kafka-plot.png")
    if res.get("side_by_side"):
        render_side_by_side_plot(res["side_by_side"], sbs_png)
    write_markdown(out_md, render_markdown(res, previous, out_png.name, sbs_png.name))
    for fid, f in res["figures"].items():
        log(f"{f['label']}: {fmt(f['median'])} {f['unit']} ({fmt(f['min'])} – {fmt(f['max'])})")
    log(f"done in {res['wall_secs']} s; wrote {out_json}, {out_md}, {out_png}")
    for failure in res["failures"]:
        log(f"FAILED {failure}")
    if res["failures"]:
        return 1
    if args.smoke:
        shutil.rmtree(scratch, ignore_errors=True)
        print("bench-smoke: every scenario ran (figures not judged)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
