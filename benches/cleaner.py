"""The log cleaner beside Apache Kafka's (`make bench-cleaner`).

Per broker (the release `runnel`, then Kafka from the reference jars, each
on its own scratch dir): one compacted partition is filled with keyed
records (20,000 keys, 1 KB values, 16 MiB segments) while
`min.compaction.lag.ms` holds the cleaner off; a probe producer then sends
one record at a time (acks=all) to another topic while the lag is lowered
to 0 through IncrementalAlterConfigs, until the broker logs its cleaning.
The figures: the cleaner's own MB/s and seconds (Runnel's `cleaned log`
line, Kafka's `MB of log processed in` line, both over the bytes of the
cleaned segments), and the probe's produce latency before and during the
cleaning. Prints one Markdown table.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import confluent_kafka as ck  # noqa: E402
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,  # noqa: E402
                                   NewTopic, ResourceType)

from harness.kafka import KafkaBroker  # noqa: E402
from harness.runnel import RunnelBroker  # noqa: E402

KEYS = 20_000
VALUE = b"v" * 1000
WAIT_S = 300


def cleaner_line(kind: str, b) -> tuple[float, float] | None:
    """(MB/s, seconds) of the broker's first cleaning, once it is logged."""
    if kind == "runnel":
        text = b.stderr_path.read_text(errors="replace")
        m = re.search(r"cleaned log .*total_ms=(\d+) mb_per_s=([\d.]+)", text)
        return (float(m.group(2)), int(m.group(1)) / 1000) if m else None
    text = (b.workdir / "server.log").read_text(errors="replace")
    m = re.search(r"([\d.]+) MB of log processed in ([\d.]+) seconds \(([\d.]+) MB/sec\)", text)
    return (float(m.group(3)), float(m.group(2))) if m else None


def quantile(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(len(xs) * q))] * 1000 if xs else float("nan")


def one(kind: str, records: int, work: Path) -> dict:
    overrides = {"log.cleaner.backoff.ms": "200"}
    b = RunnelBroker(work, overrides, name="bench-cleaner") if kind == "runnel" else KafkaBroker(work, overrides)
    b.start(timeout=180)
    try:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        topic = "compacted"
        admin.create_topics([NewTopic(topic, 1, 1, config={
            "cleanup.policy": "compact", "segment.bytes": str(16 << 20), "min.cleanable.dirty.ratio": "0.01",
            "min.compaction.lag.ms": "3600000"}), NewTopic("probe", 1, 1)])[topic].result(timeout=60)
        time.sleep(2)
        p = ck.Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 20, "batch.size": 1 << 20})
        for i in range(records):
            while True:
                try:
                    p.produce(topic, key=f"key-{i % KEYS}".encode(), value=VALUE, partition=0)
                    break
                except BufferError:
                    p.poll(0.01)
        assert p.flush(120) == 0
        latencies: list[float] = []
        stop = threading.Event()

        def probe() -> None:
            pp = ck.Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 0, "acks": "all"})
            while not stop.is_set():
                t0 = time.monotonic()
                pp.produce("probe", value=b"x", partition=0,
                           on_delivery=lambda err, msg, t0=t0: latencies.append(time.monotonic() - t0))
                pp.flush(10)
                time.sleep(0.005)

        thread = threading.Thread(target=probe)
        thread.start()
        time.sleep(3)
        before = list(latencies)
        latencies.clear()
        res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
            ConfigEntry("min.compaction.lag.ms", "0", incremental_operation=AlterConfigOpType.SET)])
        admin.incremental_alter_configs([res])[res].result(timeout=30)
        deadline = time.monotonic() + WAIT_S
        while (found := cleaner_line(kind, b)) is None:
            assert time.monotonic() < deadline, f"{kind} never logged a cleaning"
            time.sleep(0.05)
        during = list(latencies)
        stop.set()
        thread.join()
        mb_per_s, secs = found
        return {"mb_per_s": mb_per_s, "secs": secs,
                "p50_before": quantile(before, 0.5), "p99_before": quantile(before, 0.99),
                "p50_during": quantile(during, 0.5), "p99_during": quantile(during, 0.99)}
    finally:
        b.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=250_000)
    args = ap.parse_args()
    rows = {}
    scratch = Path(tempfile.mkdtemp(prefix="runnel-bench-cleaner-"))
    try:
        for kind in ("runnel", "kafka"):
            rows[kind] = one(kind, args.records, scratch / kind)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{args.records} records of 1 KB, {KEYS} keys, one partition, 16 MiB segments\n")
    print("| broker | cleaner MB/s | cleaning s | produce p50 / p99 before (ms) | during cleaning (ms) |")
    print("| --- | --- | --- | --- | --- |")
    for kind, r in rows.items():
        print(f"| {kind} | {r['mb_per_s']:.0f} | {r['secs']:.2f} | {r['p50_before']:.2f} / {r['p99_before']:.2f} "
              f"| {r['p50_during']:.2f} / {r['p99_during']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
