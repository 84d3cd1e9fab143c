"""The checker on made-up histories: a clean one passes, and each anomaly,
planted alone, is found and fails the run (and nothing else is reported)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chaos import checker

REPO = Path(__file__).resolve().parent.parent


def clean_history(n: int = 30, partitions: int = 3) -> list[dict]:
    """n values over `partitions`, each sent, acked, polled by an assign
    reader and a group reader (which commits), and read finally."""
    evs, t = [], 1000.0
    offsets = {p: 0 for p in range(partitions)}
    placed = []
    evs.append({"t": t, "type": "assign", "reader": "r-assign", "session": 1, "partitions": list(range(partitions))})
    evs.append({"t": t, "type": "assign", "reader": "r-sub", "session": 1, "partitions": list(range(partitions))})
    for i in range(n):
        p = i % partitions
        v = f"p0-{i}"
        off = offsets[p]
        offsets[p] += 1
        t += 0.1
        evs.append({"t": t, "type": "send", "proc": "p0", "value": v, "partition": p})
        evs.append({"t": t + 0.01, "type": "ack", "proc": "p0", "value": v, "partition": p, "offset": off,
                    "latency": 0.01})
        evs.append({"t": t + 0.02, "type": "poll", "reader": "r-assign", "session": 1, "partition": p,
                    "offset": off, "value": v})
        evs.append({"t": t + 0.03, "type": "poll", "reader": "r-sub", "session": 1, "partition": p,
                    "offset": off, "value": v})
        evs.append({"t": t + 0.04, "type": "commit", "group": "g", "reader": "r-sub", "partition": p,
                    "offset": off + 1})
        placed.append((p, off, v))
    evs.append({"t": t + 1, "type": "fault_start", "id": 0, "kind": "kill-leader", "target": 2})
    evs.append({"t": t + 2, "type": "fault_end", "id": 0, "kind": "kill-leader", "target": 2})
    for p, off, v in placed:
        evs.append({"t": t + 5, "type": "final", "partition": p, "offset": off, "value": v})
    return evs


def poll(reader: str, session: int, partition: int, offset: int, value: str, t: float = 9000) -> dict:
    return {"t": t, "type": "poll", "reader": reader, "session": session, "partition": partition,
            "offset": offset, "value": value}


def only(summary: dict, kind: str) -> None:
    assert not summary["ok"], summary
    assert summary["anomalies"][kind] >= 1, summary["anomalies"]
    others = {k: v for k, v in summary["anomalies"].items() if k != kind and v}
    assert not others, others


def test_clean_history_passes():
    s = checker.check(clean_history())
    assert s["ok"], s["anomalies"]
    assert s["ops"] == {"sent": 30, "acked": 30, "failed": 0, "unanswered": 0, "polled": 60, "final_read": 30}
    assert s["faults"]["per_kind"] == {"kill-leader": 1}
    assert s["info"]["skips"] == 0


def test_lost_write():
    evs = [e for e in clean_history() if not (e["type"] == "final" and e["value"] == "p0-7")]
    # The readers saw it too, so only the final read misses it.
    s = checker.check(evs)
    only(s, "lost")
    assert s["examples"]["lost"][0]["value"] == "p0-7"


def test_no_final_read_is_lost():
    s = checker.check([e for e in clean_history() if e["type"] != "final"])
    assert not s["ok"] and s["anomalies"]["lost"] >= 1


def test_duplicate_value_at_two_offsets():
    evs = clean_history()
    # p0-3 (partition 0) also appears at a new offset 10 of partition 0.
    evs.append({"t": 9999, "type": "final", "partition": 0, "offset": 10, "value": "p0-3"})
    s = checker.check(evs)
    only(s, "duplicate")
    assert s["examples"]["duplicate"][0]["positions"] == [[0, 1], [0, 10]] or \
        s["examples"]["duplicate"][0]["positions"] == [(0, 1), (0, 10)]


def test_inconsistent_offset_across_readers():
    evs = clean_history()
    # The assign reader saw partition 1 offset 2 holding a value that the
    # final read has at... nowhere else: sent but unacknowledged.
    evs.append({"t": 1000.05, "type": "send", "proc": "p1", "value": "p1-0", "partition": 1})
    for e in evs:
        if e["type"] == "poll" and e["reader"] == "r-assign" and e["partition"] == 1 and e["offset"] == 2:
            e["value"] = "p1-0"
    s = checker.check(evs)
    only(s, "inconsistent")
    assert s["examples"]["inconsistent"][0]["partition"] == 1
    assert s["examples"]["inconsistent"][0]["offset"] == 2


def test_ack_offset_disagreeing_with_the_log_is_inconsistent():
    evs = clean_history()
    for e in evs:
        if e["type"] == "ack" and e["value"] == "p0-4":
            e["offset"] = 0  # p0-0 lives there
    s = checker.check(evs)
    assert s["anomalies"]["inconsistent"] >= 1
    assert s["anomalies"]["lost"] == 0


def test_nonmonotonic_poll():
    evs = clean_history()
    evs.append(poll("r-assign", 1, 0, 2, "p0-6"))
    s = checker.check(evs)
    only(s, "nonmonotonic")


def test_new_session_may_rewind():
    evs = clean_history()
    evs.append({"t": 9000, "type": "assign", "reader": "r-sub", "session": 2, "partitions": [0]})
    evs.append(poll("r-sub", 2, 0, 2, "p0-6", t=9001))
    assert checker.check(evs)["ok"]


def test_unexpected_value():
    evs = clean_history()
    evs.append(poll("r-sub", 1, 2, 10, "nobody-sent-this"))
    s = checker.check(evs)
    only(s, "unexpected")


def test_committed_offset_going_backwards():
    evs = clean_history()
    evs.append({"t": 9000, "type": "commit", "group": "g", "reader": "r-sub", "partition": 0, "offset": 3})
    s = checker.check(evs)
    only(s, "commit_backwards")
    assert s["examples"]["commit_backwards"][0]["after"] == 10


def test_final_unreadable_partition():
    evs = [e for e in clean_history() if not (e["type"] == "final" and e["partition"] == 2)]
    evs.append({"t": 99999, "type": "final_incomplete", "partitions": [2], "positions": {"2": -1}, "ends": {"2": 10}})
    s = checker.check(evs)
    only(s, "final_unreadable")
    assert s["info"]["unverified"] == 10


def test_skip_is_reported_not_failing():
    evs = [e for e in clean_history()
           if not (e["type"] == "poll" and e["reader"] == "r-assign" and e["value"] == "p0-9")]
    s = checker.check(evs)
    assert s["ok"]
    assert s["info"]["skips"] == 1


def test_failed_or_unanswered_writes_are_not_lost():
    evs = clean_history()
    evs.append({"t": 1000.5, "type": "send", "proc": "p1", "value": "p1-0", "partition": 0})
    evs.append({"t": 1000.6, "type": "fail", "proc": "p1", "value": "p1-0", "partition": 0, "error": "timed out"})
    evs.append({"t": 1000.7, "type": "send", "proc": "p1", "value": "p1-1", "partition": 0})
    evs.append({"t": 9999, "type": "final", "partition": 0, "offset": 10, "value": "p1-0"})
    s = checker.check(evs)
    assert s["ok"], s["anomalies"]
    assert s["info"]["recovered"] == 1 and s["info"]["unseen"] == 1
    assert s["ops"]["failed"] == 1 and s["ops"]["unanswered"] == 1


def test_availability_and_failover_from_an_ack_gap():
    evs = []
    for i in range(100):  # 10 s at 10/s, with no ack between 3 s and 6 s
        t = 100 + i * 0.1
        v = f"p-{i}"
        evs.append({"t": t, "type": "send", "proc": "p", "value": v, "partition": 0})
        if not 3 <= i * 0.1 < 6:
            evs.append({"t": t + 0.001, "type": "ack", "proc": "p", "value": v, "partition": 0, "offset": i,
                        "latency": 0.001})
            evs.append({"t": 200, "type": "final", "partition": 0, "offset": i, "value": v})
    evs.append({"t": 103, "type": "fault_start", "id": 0, "kind": "pause-leader", "target": 2})
    evs.append({"t": 105, "type": "fault_end", "id": 0, "kind": "pause-leader", "target": 2})
    s = checker.check(sorted(evs, key=lambda e: e["t"]))
    assert s["ok"]
    assert 2.9 < s["failover_s"]["p50"] < 3.2
    assert 0.6 < s["availability"] < 0.8


def test_cli_exit_code_and_outputs(tmp_path):
    good = tmp_path / "good"
    bad = tmp_path / "bad"
    for d, evs in ((good, clean_history()),
                   (bad, [e for e in clean_history() if not (e["type"] == "final" and e["value"] == "p0-1")])):
        d.mkdir()
        (d / "history.jsonl").write_text("".join(json.dumps(e) + "\n" for e in evs))
    run = lambda d: subprocess.run([sys.executable, "-m", "chaos.checker", str(d / "history.jsonl")],  # noqa: E731
                                   cwd=REPO, capture_output=True, text=True, timeout=120)
    ok, ko = run(good), run(bad)
    assert ok.returncode == 0, ok.stderr
    assert ko.returncode == 1, ko.stderr
    assert "lost" in ko.stdout and "FAIL" in ko.stdout
    for d in (good, bad):
        assert json.loads((d / "summary.json").read_text())["anomalies"]
        assert (d / "summary.txt").is_file()
        assert (d / "plot.png").stat().st_size > 1000


@pytest.mark.parametrize("kind", checker.FAILING)
def test_every_failing_kind_is_tested(kind):
    # Keeps this file in step with the checker's list.
    src = Path(__file__).read_text()
    assert f'"{kind}"' in src
