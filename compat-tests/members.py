"""Consumer-group member processes and the checks made on what they wrote.

A member (group_member.py, or a driver's `member` mode) commits each record
synchronously and only then writes "partition offset" to its output file;
assignments are written as "assigned p,p,...", and "closed" after a clean
leave. So the union of the files lists every record exactly once, or the
broker lost or duplicated one.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTITIONS = 6
WAIT_S = 90.0


class Member:
    """A member process; `argv` gets the path of its output file appended by `make_argv(out)`."""

    def __init__(self, make_argv, workdir: Path, name: str):
        self.name = name
        self.out = workdir / f"{name}.out"
        self.log = open(workdir / f"{name}.log", "wb")
        self.proc = subprocess.Popen(make_argv(str(self.out)), stdout=self.log, stderr=subprocess.STDOUT)

    @classmethod
    def python(cls, client: str, bootstrap: str, topic: str, group: str, workdir: Path, name: str,
               **opts: str) -> "Member":
        """A group_member.py member (ck, ck-coop, ck-848, kp, aio)."""
        def argv(out):
            args = [sys.executable, str(HERE / "group_member.py"), client, bootstrap, topic, group, out]
            return args + [f"{k}={v}" for k, v in opts.items()]
        return cls(argv, workdir, name)

    @classmethod
    def of(cls, client, flavour: str, bootstrap: str, topic: str, group: str, workdir: Path, name: str,
           instance: str | None = None, session_ms: int | None = None) -> "Member":
        """A member run by a registry client's driver."""
        return cls(lambda out: client.member_argv(flavour, bootstrap, topic, group, out, instance=instance,
                                                  session_ms=session_ms), workdir, name)

    def lines(self) -> list[str]:
        try:
            return self.out.read_text().splitlines()
        except FileNotFoundError:
            return []

    def consumed(self) -> list[tuple[int, int]]:
        out = []
        for line in self.lines():
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit():
                out.append((int(parts[0]), int(parts[1])))
        return out

    def last_assignment(self) -> list[int] | None:
        found = None
        for line in self.lines():
            if line.startswith("assigned"):
                rest = line[len("assigned"):].strip()
                found = sorted(int(p) for p in rest.split(",") if p)
        return found

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        assert "closed" in self.lines(), f"{self.name} did not close cleanly:\n{self.log_tail()}"

    def log_tail(self, lines: int = 40) -> str:
        self.log.flush()
        text = Path(self.log.name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


def wait_consumed(members: list[Member], total: int, what: str) -> list[tuple[int, int]]:
    deadline = time.monotonic() + WAIT_S
    while True:
        seen = [r for m in members for r in m.consumed()]
        if len(seen) >= total or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    dupes = len(seen) - len(set(seen))
    assert dupes == 0, f"{what}: {dupes} records consumed twice"
    assert len(seen) == total, f"{what}: consumed {len(seen)} of {total} within {WAIT_S}s"
    return seen


def assert_exact(seen: list[tuple[int, int]], per_partition: int) -> None:
    want = {(p, o) for p in range(PARTITIONS) for o in range(per_partition)}
    assert set(seen) == want, f"missing {sorted(want - set(seen))[:10]}, extra {sorted(set(seen) - want)[:10]}"


def wait_assignments(members: list[Member], sizes: list[int], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        got = [m.last_assignment() for m in members]
        if all(g is not None for g in got) and sorted(len(g) for g in got) == sorted(sizes):
            union = sorted(p for g in got for p in g)
            if union == list(range(PARTITIONS)):
                return
        time.sleep(0.2)
    raise AssertionError(f"{what}: assignments {[m.last_assignment() for m in members]}, want sizes {sizes}")
