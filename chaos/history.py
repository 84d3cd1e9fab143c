"""The run's history: one JSON object per line, each with `t` (wall-clock
seconds, float) and `type`. Written by every workload thread and the
nemesis; read by chaos/checker.py.

Types: send, ack (offset, latency), fail (error), poll (reader, session,
partition, offset, value), assign (reader, session, partitions), commit
(group, reader, partition, offset), final (partition, offset, value),
fault_start / fault_end (id, kind, target, detail), phase (name), meta.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path


class History:
    def __init__(self, path: Path):
        self.path = path
        self._f = open(path, "w", buffering=1 << 16)
        self._lock = threading.Lock()

    def add(self, type_: str, t: float | None = None, **fields) -> None:
        rec = {"t": round(time.time() if t is None else t, 6), "type": type_, **fields}
        line = json.dumps(rec, separators=(",", ":")) + "\n"
        with self._lock:
            self._f.write(line)

    def flush(self) -> None:
        with self._lock:
            self._f.flush()

    def close(self) -> None:
        with self._lock:
            self._f.close()


def load(path: Path) -> list[dict]:
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    out.sort(key=lambda r: r["t"])
    return out
