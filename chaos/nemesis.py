"""Nemeses on a seeded schedule. Each fault is a window: it starts (the
fault is applied), lasts, and ends (healed: process continued, restarted or
rules flushed); both edges go into the history as fault_start/fault_end
with the kind, the target node and what was done.

Kinds:
  kill-leader      kill -9 the leader of a random partition, restart at the end
  kill-random      kill -9 a random broker, restart at the end
  kill-controller  kill -9 the (single) controller, restart at the end
  pause-leader     SIGSTOP the leader of a random partition, SIGCONT at the end
  isolate          cut a random broker off from every other host (iptables)
  isolate-leader   the same for a partition leader
  oneway           a random broker receives nothing from one other node
  slow             latency and loss on a random broker (netem, else tbf + iptables)
  disk             fill a random broker's log dir (its own small tmpfs) to the
                   last byte; at the end free it and restart the broker if it
                   stopped (a broker whose only log dir fails stops, as Kafka's)
"""

from __future__ import annotations

import random
import signal
import threading
import time
from dataclasses import dataclass

from . import net, workload
from .history import History

KINDS = ["kill-leader", "kill-random", "kill-controller", "pause-leader", "isolate", "isolate-leader",
         "oneway", "slow", "disk"]


@dataclass
class Fault:
    at: float        # seconds after the workload starts
    length: float
    kind: str
    pick: float      # a seeded draw in [0, 1) that chooses the target
    pick2: float


def schedule(seed: int, duration: float, kinds: list[str], once_each: bool = False,
             warmup: float = 8.0, cooldown: float = 15.0) -> list[Fault]:
    """Faults one after another, never overlapping: a fault of 4-12 s, then
    4-10 s of calm. `once_each`: every kind once, in the order given."""
    rnd = random.Random(seed)
    out, t = [], warmup
    i = 0
    while True:
        if once_each and i >= len(kinds):
            break
        kind = kinds[i % len(kinds)] if once_each else rnd.choice(kinds)
        length = rnd.uniform(4, 12) if not once_each else 8.0
        if t + length > duration - cooldown:
            break
        out.append(Fault(round(t, 3), round(length, 3), kind, rnd.random(), rnd.random()))
        t += length + (rnd.uniform(4, 10) if not once_each else 6.0)
        i += 1
    return out


class Nemesis(threading.Thread):
    def __init__(self, cluster, faults: list[Fault], history: History, start_mono: float, netem: bool):
        super().__init__(name="nemesis", daemon=True)
        self.cluster, self.faults, self.h, self.start_mono = cluster, faults, history, start_mono
        self.netem = netem
        self.stop_ev = threading.Event()
        self.error: BaseException | None = None
        self.counts: dict[str, int] = {}
        # Nodes this nemesis has killed and not yet restarted: any other
        # dead node crashed by itself.
        self.down: set[int] = set()

    def run(self) -> None:
        try:
            for i, f in enumerate(self.faults):
                if self._sleep_until(self.start_mono + f.at):
                    return
                self.inject(i, f)
        except BaseException as e:  # noqa: BLE001
            self.error = e

    def _sleep_until(self, when: float) -> bool:
        return self.stop_ev.wait(max(0.0, when - time.monotonic()))

    def _leader(self, pick: float) -> int | None:
        ls = workload.leaders(self.cluster.bootstrap)
        live = {p: n for p, n in ls.items() if n >= 0}
        if not live:
            return None
        parts = sorted(live)
        return live[parts[int(pick * len(parts))]]

    def _broker(self, pick: float) -> int:
        ids = [b.node_id for b in self.cluster.brokers]
        return ids[int(pick * len(ids))]

    def inject(self, i: int, f: Fault) -> None:
        c = self.cluster
        kind = f.kind
        if kind in ("kill-leader", "pause-leader", "isolate-leader"):
            target = self._leader(f.pick) or self._broker(f.pick)
        elif kind == "kill-controller":
            target = c.controller.node_id
        else:
            target = self._broker(f.pick)
        node = c.node(target)
        detail = ""
        if kind.startswith("kill"):
            self.h.add("fault_start", id=i, kind=kind, target=target, detail="SIGKILL")
            self.down.add(target)
            node.kill()
        elif kind == "pause-leader":
            self.h.add("fault_start", id=i, kind=kind, target=target, detail="SIGSTOP")
            node.signal(signal.SIGSTOP)
        elif kind.startswith("isolate"):
            others = [net.node_addr(n) for n in c.node_ids if n != target] + [net.CLIENT_ADDR]
            self.h.add("fault_start", id=i, kind=kind, target=target, detail="drop to/from " + ",".join(others))
            net.isolate(target, others)
        elif kind == "oneway":
            others = [n for n in c.node_ids if n != target]
            src = others[int(f.pick2 * len(others))]
            detail = f"node {target} receives nothing from node {src}"
            self.h.add("fault_start", id=i, kind=kind, target=target, detail=detail)
            net.drop_from(target, [net.node_addr(src)])
        elif kind == "slow":
            self.h.add("fault_start", id=i, kind=kind, target=target, detail="applying")
            detail = net.slow(target, 200, 100, 10.0, self.netem)
        elif kind == "disk":
            self.down.add(target)  # it may stop; that is not a crash
            self.h.add("fault_start", id=i, kind=kind, target=target, detail="filling")
            n = net.fill_disk(node.data_dir)
            detail = f"filled {n >> 20} MiB"
        else:
            raise ValueError(f"unknown nemesis {kind}")
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.stop_ev.wait(f.length)
        # Heal even when stopping: the final read needs the whole cluster.
        if kind.startswith("kill"):
            node.start_nowait()
            self.down.discard(target)
            self.h.add("fault_end", id=i, kind=kind, target=target, detail="restarted")
            self._wait_ready(node)
        elif kind == "pause-leader":
            node.signal(signal.SIGCONT)
            self.h.add("fault_end", id=i, kind=kind, target=target, detail="SIGCONT")
        elif kind == "disk":
            net.free_disk(node.data_dir)
            if not node.alive:
                code = node.proc.returncode
                self.h.add("node_exit", target=target, code=code, during="disk")
                node.start_nowait()
                detail += f"; freed; restarted (it exited {code})"
                self.h.add("fault_end", id=i, kind=kind, target=target, detail=detail)
                self._wait_ready(node)
            else:
                self.h.add("fault_end", id=i, kind=kind, target=target, detail=detail + "; freed")
            self.down.discard(target)
        else:
            net.heal(target)
            self.h.add("fault_end", id=i, kind=kind, target=target, detail=detail or "healed")

    def _wait_ready(self, node, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not node.alive:
                self.h.add("node_exit", target=node.node_id, code=node.proc.returncode)
                return
            if node.ready():
                self.h.add("node_ready", target=node.node_id)
                return
            time.sleep(0.2)
        self.h.add("node_not_ready", target=node.node_id, after_s=timeout)


def heal_all(cluster, history: History) -> None:
    """After the schedule: every node continued, every rule flushed, every dead node restarted."""
    for n in cluster.nodes:
        n.signal(signal.SIGCONT)
        net.heal(n.node_id)
    for n in cluster.nodes:
        if not n.alive:
            history.add("node_exit", target=n.node_id, code=n.proc.returncode if n.proc else None)
            n.start_nowait()
    history.add("phase", name="healed")
