"""One chaos run: namespaces up, the cluster started in them, the topic
created, the workload started, the nemesis schedule played, everything
healed, a final full read, the checker. Then every process, namespace and
link is removed, however the run ends (atexit, SIGTERM/SIGINT/SIGHUP).

  python -m chaos.run --duration 60 --seed 1 --nemeses kill-leader,isolate
  python -m chaos.run --smoke           # the `make chaos-smoke` run
  python -m chaos.run --cleanup         # remove what a crashed run left

Output under --out (default target/chaos/<target>-<seed>-<time>):
history.jsonl, summary.json, summary.txt, plot.png, node logs.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

from . import checker, net, nemesis, workload
from .cluster import Cluster
from .history import History

REPO_ROOT = Path(__file__).resolve().parent.parent
SMOKE_NEMESES = ["kill-leader", "isolate-leader"]
SMOKE_SEED = 1
DEFAULT_NEMESES = ["kill-leader", "kill-random", "kill-controller", "pause-leader", "isolate",
                   "isolate-leader", "oneway", "slow", "disk"]

_cleanup_state: dict = {"cluster": None, "done": False, "keep": False}


def _cleanup() -> None:
    if _cleanup_state["done"]:
        return
    _cleanup_state["done"] = True
    c = _cleanup_state["cluster"]
    if c is not None:
        try:
            c.stop()
        except Exception:  # noqa: BLE001
            pass
    from harness import procs
    procs._kill_all()
    net.cleanup()


def _on_signal(signum, frame):
    _cleanup()
    raise SystemExit(128 + signum)


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m chaos.run")
    ap.add_argument("--duration", type=float, default=None, help="seconds of workload (default 300; smoke 50)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--nemeses", default=None, help="comma-separated kinds: " + ",".join(nemesis.KINDS))
    ap.add_argument("--nodes", type=int, default=3, help="brokers (besides the controller)")
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--target", choices=["runnel", "kafka"], default="runnel")
    ap.add_argument("--clients", default=None, help="comma-separated: librdkafka,java (default both; smoke librdkafka)")
    ap.add_argument("--producers", type=int, default=None, help="librdkafka producers (default 3; smoke 2)")
    ap.add_argument("--rate", type=float, default=100.0, help="sends per second per producer")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--cleanup", action="store_true", help="remove leftovers of earlier runs and exit")
    a = ap.parse_args()
    if a.smoke:
        a.duration = a.duration or 50
        a.seed = SMOKE_SEED if a.seed is None else a.seed
        a.nemeses = a.nemeses or ",".join(SMOKE_NEMESES)
        a.clients = a.clients or "librdkafka"
        a.producers = a.producers or 2
    a.duration = a.duration or 300
    a.seed = int(time.time()) % 100000 if a.seed is None else a.seed
    a.nemeses = [k for k in (a.nemeses or ",".join(DEFAULT_NEMESES)).split(",") if k]
    for k in a.nemeses:
        if k not in nemesis.KINDS:
            ap.error(f"unknown nemesis {k!r}; kinds: {', '.join(nemesis.KINDS)}")
    a.clients = (a.clients or "librdkafka,java").split(",")
    a.producers = a.producers or 3
    return a


def main() -> int:
    a = parse()
    if a.cleanup:
        removed = net.cleanup(every_slot=True)
        print("chaos: removed " + (", ".join(removed) if removed else "nothing"))
        return 0
    if os.geteuid() != 0:
        print("chaos: error: must run as root (network namespaces, iptables)", file=sys.stderr)
        return 2
    try:
        net.require_tools()
    except net.NetError as e:
        print(f"chaos: error: {e}", file=sys.stderr)
        return 2
    out = a.out or REPO_ROOT / "target" / "chaos" / f"{a.target}-seed{a.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    atexit.register(_cleanup)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, _on_signal)

    faults = nemesis.schedule(a.seed, a.duration, a.nemeses, once_each=a.smoke)
    netem = net.netem_available()
    print(f"chaos: {a.target}, seed {a.seed}, {a.duration:.0f} s, {len(faults)} faults "
          f"({', '.join(f.kind for f in faults)}), netem {'yes' if netem else 'no'}; output in {out}", flush=True)
    cluster = Cluster(a.target, out, brokers=a.nodes)
    _cleanup_state["cluster"] = cluster
    net.setup(cluster.node_ids)
    if "disk" in a.nemeses:
        cluster.mount_disks()
    hist = History(out / "history.jsonl")
    hist.add("meta", target=a.target, seed=a.seed, duration=a.duration, nemeses=a.nemeses, nodes=a.nodes,
             partitions=a.partitions, clients=a.clients, netem=netem,
             schedule=[f.__dict__ for f in faults])
    started = time.monotonic()
    cluster.start()
    print(f"chaos: cluster up in {time.monotonic() - started:.1f} s at {cluster.bootstrap}", flush=True)
    workload.create_topic(cluster.bootstrap, a.partitions)

    stop = threading.Event()
    threads = []
    if "librdkafka" in a.clients:
        for i in range(a.producers):
            threads.append(workload.CkProducer(f"ck{i}", cluster.bootstrap, a.partitions, hist, stop, a.rate,
                                               message_timeout_ms=30000))
        threads.append(workload.CkReader("ck-assign", cluster.bootstrap, a.partitions, hist, stop, None))
        threads.append(workload.CkReader("ck-sub", cluster.bootstrap, a.partitions, hist, stop, "chaos-ck"))
    java = []
    if "java" in a.clients:
        java.append(workload.verifiable_producer("vp0", cluster.bootstrap, hist, out, int(a.rate), a.duration, 7))
        java.append(workload.verifiable_consumer("vc0", cluster.bootstrap, hist, out))
    hist.add("phase", name="workload")
    start_mono = time.monotonic()
    for t in threads + java:
        t.start()
    nem = nemesis.Nemesis(cluster, faults, hist, start_mono, netem)
    nem.start()
    stop_at = start_mono + a.duration
    crashes = []
    while time.monotonic() < stop_at:
        time.sleep(0.5)
        for n in cluster.nodes:
            if not n.alive and n.node_id not in nem.down and n.name not in [c[0] for c in crashes]:
                crashes.append((n.name, n.proc.returncode))
                hist.add("node_crash", target=n.node_id, code=n.proc.returncode)
                print(f"chaos: {n.name} exited by itself (code {n.proc.returncode})", file=sys.stderr, flush=True)
    nem.stop_ev.set()
    nem.join(120)
    nemesis.heal_all(cluster, hist)
    hist.add("phase", name="stopping")
    # Producers get the rest of their timeout to hear back; readers keep
    # reading until the producers are done.
    prods = [t for t in threads if isinstance(t, workload.CkProducer)]
    stop_prod = threading.Event()
    for p in prods:
        p.stop_ev = stop_prod
    stop_prod.set()
    for p in prods:
        p.join(60)
    for j in java:
        if j.tname.startswith("vp"):
            j.join(90)
            j.terminate()
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join(30)
    for j in java:
        j.terminate()
    # Every node back before the final read.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not all(n.ready() for n in cluster.nodes):
        time.sleep(0.5)
    workload.final_read(cluster.bootstrap, a.partitions, hist)
    hist.add("phase", name="done")
    hist.close()
    errors = [f"{t.name}: {t.error!r}" for t in threads + java + [nem] if t.error is not None]
    summary = checker.report(out / "history.jsonl", out,
                             title=f"{a.target} seed {a.seed}: {', '.join(a.nemeses)}")
    summary["harness_errors"] = errors
    summary["nemesis_counts"] = nem.counts
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    sys.stdout.write(checker.table(summary))
    for e in errors:
        print(f"chaos: harness error: {e}", file=sys.stderr)
    print(f"chaos: history, summary and plot in {out}")
    crashed = [n.name for n in cluster.nodes if n.proc is not None and not n.alive] + [c[0] for c in crashes]
    summary["node_crashes"] = crashes
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if crashed:
        print(f"chaos: nodes not running at the end: {crashed}", file=sys.stderr)
    return 0 if summary["ok"] and not errors and not crashed else 1


if __name__ == "__main__":
    raise SystemExit(main())
