"""The checker: reads a history (chaos/history.py) and finds anomalies.

Anomalies (any one fails the run):
  lost              acknowledged, absent from the final full read
  duplicate         one value at two (partition, offset) positions
  inconsistent      one (partition, offset) holding two values, across
                    every reader, the final read and the acknowledgements
  nonmonotonic      a reader's offsets on a partition not increasing
                    within one assignment (session)
  unexpected        a value read that no producer ever sent
  commit_backwards  a group's committed offset for a partition going down
  final_unreadable  a partition the final read could not read to its end
                    after every fault healed (its acknowledged values are
                    counted as unverified, not lost)
Reported, not failing: skips (a reader's offsets jumping within a session),
unseen (sent, never acknowledged, never read: may or may not have been
written), recovered (failed or unanswered, yet in the final read).

Figures: operations sent/acked/failed, faults per kind, availability (the
share of one-second buckets in which a partition acknowledged a write,
averaged over partitions, from the first to the last send), failover time
per fault (the longest gap between acknowledgements on any partition that
overlaps the fault window), latency percentiles, and a plot of throughput
and latency with the fault windows shaded.

`python -m chaos.checker HISTORY [--out DIR]` exits 1 on any anomaly.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

from .history import load

FAILING = ["lost", "duplicate", "inconsistent", "nonmonotonic", "unexpected", "commit_backwards",
           "final_unreadable"]
EXAMPLES = 20
GAP_FLOOR_S = 0.5


def percentile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    k = min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


def check(events: list[dict]) -> dict:
    sends: dict[str, dict] = {}
    acks: dict[str, list[dict]] = defaultdict(list)
    fails: dict[str, dict] = {}
    final: dict[tuple[int, int], str] = {}
    final_values: set[str] = set()
    reads = []  # (source, session, partition, offset, value)
    commits = defaultdict(list)  # (group, partition) -> [(t, offset, reader)]
    faults: dict[int, dict] = {}
    have_final = False
    unreadable: set[int] = set()
    for ev in events:
        ty = ev["type"]
        if ty == "send":
            sends.setdefault(ev["value"], ev)
        elif ty == "ack":
            acks[ev["value"]].append(ev)
        elif ty == "fail":
            fails.setdefault(ev["value"], ev)
        elif ty == "poll":
            reads.append((ev["reader"], ev.get("session", 0), ev["partition"], ev["offset"], ev["value"]))
        elif ty == "final":
            have_final = True
            final[(ev["partition"], ev["offset"])] = ev["value"]
            final_values.add(ev["value"])
            reads.append(("final", 0, ev["partition"], ev["offset"], ev["value"]))
        elif ty == "commit":
            commits[(ev["group"], ev["partition"])].append((ev["t"], ev["offset"], ev.get("reader")))
        elif ty == "fault_start":
            faults[ev["id"]] = {"id": ev["id"], "kind": ev["kind"], "target": ev["target"], "start": ev["t"],
                                "end": None, "detail": ev.get("detail", "")}
        elif ty == "final_incomplete":
            unreadable.update(ev["partitions"])
        elif ty == "fault_end" and ev["id"] in faults:
            faults[ev["id"]]["end"] = ev["t"]

    anomalies: dict[str, list] = {k: [] for k in FAILING}
    if not have_final:
        anomalies["lost"].append({"error": "the history has no final read"})

    for p in sorted(unreadable):
        anomalies["final_unreadable"].append({"partition": p})
    unverified = 0
    # lost
    for value, evs in acks.items():
        if value not in final_values:
            a = evs[0]
            if a["partition"] in unreadable:
                unverified += 1
                continue
            anomalies["lost"].append({"value": value, "partition": a["partition"], "offset": a["offset"],
                                      "acked_at": a["t"]})

    # positions of each value, values at each position
    positions: dict[str, set] = defaultdict(set)
    at: dict[tuple[int, int], set] = defaultdict(set)
    for _src, _sess, p, off, value in reads:
        positions[value].add((p, off))
        at[(p, off)].add(value)
    for value, evs in acks.items():
        for a in evs:
            positions[value].add((a["partition"], a["offset"]))
            at[(a["partition"], a["offset"])].add(value)
    for value, pos in positions.items():
        if len(pos) > 1:
            anomalies["duplicate"].append({"value": value, "positions": sorted(pos)})
    for (p, off), values in sorted(at.items()):
        if len(values) > 1:
            anomalies["inconsistent"].append({"partition": p, "offset": off, "values": sorted(values)})

    # per reader session order
    last: dict[tuple, int] = {}
    skips = 0
    skip_examples = []
    for src, sess, p, off, value in reads:
        key = (src, sess, p)
        prev = last.get(key)
        if prev is not None:
            if off <= prev:
                anomalies["nonmonotonic"].append({"reader": src, "session": sess, "partition": p,
                                                  "offset": off, "after": prev})
            elif off > prev + 1:
                skips += 1
                if len(skip_examples) < EXAMPLES:
                    skip_examples.append({"reader": src, "session": sess, "partition": p, "from": prev, "to": off})
        last[key] = off if prev is None else max(prev, off)

    for _src, _sess, p, off, value in reads:
        if value not in sends and value not in acks:
            anomalies["unexpected"].append({"value": value, "partition": p, "offset": off})
    # one report per value
    seen_u = set()
    anomalies["unexpected"] = [u for u in anomalies["unexpected"]
                               if not (u["value"] in seen_u or seen_u.add(u["value"]))]

    for (group, p), cs in commits.items():
        cs.sort()
        hi = None
        for t, off, reader in cs:
            if hi is not None and off < hi[1]:
                anomalies["commit_backwards"].append({"group": group, "partition": p, "offset": off,
                                                      "after": hi[1], "reader": reader, "t": t})
            if hi is None or off >= hi[1]:
                hi = (t, off)

    unseen = [v for v in sends if v not in acks and v not in final_values]
    recovered = [v for v in sends if v not in acks and v in final_values]

    # figures
    send_ts = [e["t"] for e in sends.values()]
    t0 = min(send_ts) if send_ts else 0.0
    t1 = max(send_ts) if send_ts else 0.0
    ack_evs = sorted((a for evs in acks.values() for a in evs), key=lambda a: a["t"])
    latencies = [a["latency"] for a in ack_evs if "latency" in a]
    partitions = sorted({a["partition"] for a in ack_evs} | {p for p, _ in final})
    nbuckets = max(1, int(math.ceil(t1 - t0)))
    avail = None
    if ack_evs and partitions:
        per = []
        for p in partitions:
            buckets = {int(a["t"] - t0) for a in ack_evs if a["partition"] == p and t0 <= a["t"] <= t1 + 1}
            per.append(len([b for b in buckets if b < nbuckets]) / nbuckets)
        avail = sum(per) / len(per)
    acks_by_part = defaultdict(list)
    for a in ack_evs:
        acks_by_part[a["partition"]].append(a["t"])
    fault_list = sorted(faults.values(), key=lambda f: f["start"])
    failovers = []
    for f in fault_list:
        end = f["end"] if f["end"] is not None else t1
        worst = 0.0
        for p, ts in acks_by_part.items():
            prev = None
            for t in ts + [t1]:
                if prev is not None and prev <= end and t >= f["start"] - GAP_FLOOR_S and t - prev > GAP_FLOOR_S:
                    worst = max(worst, t - prev)
                prev = t
        f["unavailable_s"] = round(worst, 3)
        failovers.append(worst)
    per_kind: dict[str, int] = defaultdict(int)
    for f in fault_list:
        per_kind[f["kind"]] += 1

    counts = {k: len(v) for k, v in anomalies.items()}
    summary = {
        "ok": not any(counts.values()),
        "anomalies": counts,
        "examples": {k: v[:EXAMPLES] for k, v in anomalies.items() if v},
        "ops": {"sent": len(sends), "acked": len(acks), "failed": len(fails),
                "unanswered": len([v for v in sends if v not in acks and v not in fails]),
                "polled": len([r for r in reads if r[0] != "final"]), "final_read": len(final)},
        "info": {"unverified": unverified, "skips": skips, "skip_examples": skip_examples, "unseen": len(unseen),
                 "recovered": len(recovered), "recovered_examples": recovered[:EXAMPLES]},
        "faults": {"total": len(fault_list), "per_kind": dict(per_kind)},
        "fault_windows": fault_list,
        "availability": None if avail is None else round(avail, 4),
        "failover_s": {"p50": _r(percentile(failovers, 50)), "p99": _r(percentile(failovers, 99)),
                       "max": _r(max(failovers) if failovers else None)},
        "latency_ms": {q: _r(None if not latencies else percentile(latencies, int(q[1:])) * 1000)
                       for q in ("p50", "p99")},
        "duration_s": round(t1 - t0, 1),
    }
    return summary


def _r(x):
    return None if x is None else round(x, 3)


def table(s: dict) -> str:
    o = s["ops"]
    lines = [
        f"{'result':<24}{'PASS' if s['ok'] else 'FAIL'}",
        f"{'duration (s)':<24}{s['duration_s']}",
        f"{'sent':<24}{o['sent']}",
        f"{'acked':<24}{o['acked']}",
        f"{'failed':<24}{o['failed']}",
        f"{'unanswered':<24}{o['unanswered']}",
        f"{'polled':<24}{o['polled']}",
        f"{'final read':<24}{o['final_read']}",
        f"{'faults':<24}{s['faults']['total']} " + ", ".join(f"{k} {v}" for k, v in
                                                             sorted(s['faults']['per_kind'].items())),
        f"{'availability':<24}{s['availability']}",
        f"{'failover p50/p99 (s)':<24}{s['failover_s']['p50']} / {s['failover_s']['p99']}",
        f"{'ack latency p50/p99 ms':<24}{s['latency_ms']['p50']} / {s['latency_ms']['p99']}",
    ]
    for k in FAILING:
        lines.append(f"{k:<24}{s['anomalies'][k]}")
    i = s["info"]
    lines.append(f"{'skips (info)':<24}{i['skips']}")
    lines.append(f"{'unseen (info)':<24}{i['unseen']}")
    lines.append(f"{'recovered (info)':<24}{i['recovered']}")
    lines.append(f"{'unverified (info)':<24}{i['unverified']}")
    return "\n".join(lines) + "\n"


KIND_COLOURS = {"kill-leader": "tab:red", "kill-random": "tab:orange", "kill-controller": "tab:brown",
                "pause-leader": "tab:purple", "isolate": "tab:blue", "isolate-leader": "tab:cyan",
                "oneway": "tab:green", "slow": "tab:olive"}


def plot(events: list[dict], summary: dict, path: Path, title: str = "") -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sends = [e for e in events if e["type"] == "send"]
    if not sends:
        return
    t0 = min(e["t"] for e in sends)
    acks = [e for e in events if e["type"] == "ack"]
    fails = [e for e in events if e["type"] == "fail"]
    n = int(max(e["t"] for e in events) - t0) + 1
    tput = [0] * n
    ftput = [0] * n
    lat: list[list[float]] = [[] for _ in range(n)]
    for a in acks:
        b = int(a["t"] - t0)
        if 0 <= b < n:
            tput[b] += 1
            if "latency" in a:
                lat[b].append(a["latency"] * 1000)
    for f in fails:
        b = int(f["t"] - t0)
        if 0 <= b < n:
            ftput[b] += 1
    xs = list(range(n))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(12, 6), sharex=True)
    ax1.plot(xs, tput, label="acks/s", color="black", lw=1)
    ax1.plot(xs, ftput, label="failures/s", color="red", lw=1)
    ax1.set_ylabel("records/s")
    p50 = [percentile(b, 50) if b else float("nan") for b in lat]
    p99 = [percentile(b, 99) if b else float("nan") for b in lat]
    ax2.plot(xs, p50, label="ack latency p50", lw=1)
    ax2.plot(xs, p99, label="ack latency p99", lw=1)
    ax2.set_yscale("log")
    ax2.set_ylabel("ms")
    ax2.set_xlabel("seconds since the first send")
    seen = set()
    for f in summary["fault_windows"]:
        end = f["end"] if f["end"] is not None else t0 + n
        colour = KIND_COLOURS.get(f["kind"], "grey")
        for ax in (ax1, ax2):
            ax.axvspan(f["start"] - t0, end - t0, color=colour, alpha=0.2,
                       label=f["kind"] if ax is ax1 and f["kind"] not in seen else None)
        seen.add(f["kind"])
    ax1.legend(loc="upper right", fontsize=7, ncol=3)
    ax2.legend(loc="upper right", fontsize=7)
    ax1.set_title(title or "chaos run")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(history: Path, out: Path, title: str = "", with_plot: bool = True) -> dict:
    events = load(history)
    s = check(events)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(s, indent=2) + "\n")
    (out / "summary.txt").write_text(table(s))
    if with_plot:
        plot(events, s, out / "plot.png", title)
    return s


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m chaos.checker")
    ap.add_argument("history", type=Path)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--no-plot", action="store_true")
    a = ap.parse_args()
    s = report(a.history, a.out or a.history.parent, with_plot=not a.no_plot)
    sys.stdout.write(table(s))
    return 0 if s["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
