"""The release `runnel` binary as a child process, for tests and the bench.

One broker on a free loopback port with its data under its own work dir and
its stdout/stderr appended to `runnel.stderr.log` there; it survives
restarts on the same port and data dir. `start()` waits until the broker
answers a Metadata request that lists it, and records how long the first
accepted connection, the first answered request and that took.

`RUNNEL_BIN` overrides the binary (default: target/release/runnel). A
missing binary is an error, never a skip.
"""

from __future__ import annotations

import os
import resource
import signal
import time
from pathlib import Path

from . import procs
from .procs import free_port  # noqa: F401 - re-exported for the suites

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BIN = REPO_ROOT / "target" / "release" / "runnel"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
TAIL_LINES = 80


class BrokerError(Exception):
    pass


def runnel_bin() -> Path:
    path = Path(os.environ.get("RUNNEL_BIN", DEFAULT_BIN))
    if not path.is_file() or not os.access(path, os.X_OK):
        raise BrokerError(
            f"runnel binary not found or not executable at {path}; "
            "run `make build` or set RUNNEL_BIN"
        )
    return path


def raise_nofile() -> None:
    """Many partitions hold three files per segment: lift the limit, as a
    Kafka deployment would (root may raise the hard limit too)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for want in (262144, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
            return
        except (ValueError, OSError):
            continue


class RunnelBroker:
    """One `runnel` child process; survives restarts on the same port and data dir."""

    kind = "runnel"

    def __init__(self, workdir: Path, overrides: dict[str, str] | None = None, name: str = "broker",
                 extra_args: list[str] | None = None, env: dict[str, str] | None = None,
                 binary: Path | None = None):
        self.name = name
        self.extra_args = list(extra_args or [])
        self.env = dict(env or {})
        self.binary = binary
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = workdir / "data"
        self.stderr_path = workdir / "runnel.stderr.log"
        self.port = free_port()
        self.overrides = {
            "node.id": "1",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "log.dirs": str(self.data_dir),
            # Metrics off: a fixed metrics port would collide between brokers.
            "runnel.metrics.listener": "",
        }
        self.overrides.update(overrides or {})
        self.proc = None
        # A controller-only node serves no Metadata: ready once it answers.
        self.listed_when_ready = True
        self.last_returncode: int | None = None
        # Seconds from spawn to the first accepted connection, the first
        # answered ApiVersions, and a Metadata answer that lists this broker.
        self.accept_secs = self.answer_secs = self.ready_secs = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def command(self) -> list[str]:
        cmd = [str(self.binary or runnel_bin())]
        for key, value in self.overrides.items():
            cmd += ["--override", f"{key}={value}"]
        return cmd + self.extra_args

    def start(self, timeout: float = READY_TIMEOUT_S) -> "RunnelBroker":
        assert not self.alive, "broker already running"
        cmd = self.command()
        started = time.monotonic()
        self.proc = procs.spawn(cmd, self.stderr_path, self.workdir,
                                env={**os.environ, "RUST_BACKTRACE": "1", **self.env},
                                preexec=raise_nofile)
        self.wait_ready(started, timeout)
        return self

    def wait_ready(self, started: float, timeout: float) -> None:
        self.accept_secs = self.answer_secs = self.ready_secs = None
        try:
            self.accept_secs, self.answer_secs, self.ready_secs = procs.wait_ready(
                self.port, started, timeout, lambda: self.alive, self.listed_when_ready)
        except procs.NotReady as e:
            code = None if self.proc.poll() is None else self.proc.returncode
            raise BrokerError(f"runnel on port {self.port} (exit code {code}): {e}\n{self.tail()}") from None

    def _check_running(self, what: str) -> None:
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise BrokerError(f"runnel exited ({code}) {what}\n{self.tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S) -> int:
        """Send `sig` and wait; escalate to SIGKILL after `timeout`. Returns the exit code."""
        if self.proc is None:
            raise BrokerError("broker was never started")
        clean = procs.stop_group(self.proc, sig, timeout)
        self.last_returncode = self.proc.returncode
        if not clean:
            raise BrokerError(f"runnel ignored signal {sig} for {timeout}s; killed\n{self.tail()}")
        return self.last_returncode

    def kill(self) -> int:
        """kill -9: no chance to flush or clean up."""
        return self.stop(signal.SIGKILL, timeout=10)

    def restart(self, sig: int = signal.SIGTERM) -> int:
        code = self.stop(sig)
        self.start()
        return code

    def cpu_secs(self) -> float:
        return procs.cpu_secs(self.proc.pid)

    def rss_mib(self) -> float:
        return procs.rss_mib(self.proc.pid)

    def stderr_size(self) -> int:
        try:
            return self.stderr_path.stat().st_size
        except FileNotFoundError:
            return 0

    def tail(self, since: int = 0, lines: int = TAIL_LINES) -> str:
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(since)
                text = f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return "(no stderr captured)"
        return "\n".join(text.splitlines()[-lines:])

    def log_tail(self, lines: int = 200) -> list[str]:
        return self.tail(lines=lines).splitlines()


class RunnelCluster:
    """Runnel processes on loopback as one KRaft cluster: node 1 holds the
    controller (`dedicated=True`: a controller-only node; else a combined
    node that is also broker 1) and broker-only nodes join it over the
    controller listener. Each node has its own work dir, ports and data.
    `ports` fixes the brokers' client ports (`make run-cluster`); by default
    they are free ones."""

    def __init__(self, workdir: Path, brokers: int = 3, dedicated: bool = True,
                 overrides: dict[str, str] | None = None,
                 controller_overrides: dict[str, str] | None = None,
                 ports: list[int] | None = None, controller_port: int | None = None,
                 binary: Path | None = None):
        from .kafka import random_cluster_id
        self.cluster_id = random_cluster_id()
        self.controller_port = controller_port or free_port()
        common = {"cluster.id": self.cluster_id,
                  "controller.listener.names": "CONTROLLER",
                  "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}"}
        common.update(overrides or {})
        ports = list(ports or [])
        controller = RunnelBroker(workdir / "node-1", {**common, **(controller_overrides or {})},
                                  name="node-1", binary=binary)
        if dedicated:
            controller.port = self.controller_port
            controller.overrides.update({"process.roles": "controller",
                                         "listeners": f"CONTROLLER://127.0.0.1:{self.controller_port}"})
            controller.listed_when_ready = False
        else:
            if ports:
                controller.port = ports.pop(0)
            controller.overrides["listeners"] = (
                f"PLAINTEXT://127.0.0.1:{controller.port},CONTROLLER://127.0.0.1:{self.controller_port}")
        self.controller = controller
        self.nodes = [controller]
        first_broker = 2
        for node_id in range(first_broker, first_broker + brokers - (0 if dedicated else 1)):
            b = RunnelBroker(workdir / f"node-{node_id}",
                             {**common, "node.id": str(node_id), "process.roles": "broker"},
                             name=f"node-{node_id}", binary=binary)
            if ports:
                b.port = ports.pop(0)
            b.overrides["listeners"] = f"PLAINTEXT://127.0.0.1:{b.port}"
            self.nodes.append(b)

    @property
    def brokers(self) -> list[RunnelBroker]:
        """The nodes with the broker role."""
        return [n for n in self.nodes if n.listed_when_ready]

    def broker(self, node_id: int) -> RunnelBroker:
        return next(n for n in self.nodes if n.overrides["node.id"] == str(node_id))

    @property
    def bootstrap(self) -> str:
        return ",".join(b.bootstrap for b in self.brokers)

    def start(self) -> "RunnelCluster":
        for node in self.nodes:
            node.start()
        return self

    def stop(self) -> None:
        # Brokers first: their controlled shutdown needs the controller.
        for node in reversed(self.nodes):
            if node.alive:
                node.stop()


def main() -> int:
    """`python3 -m harness.runnel cluster DIR`: a controller and three
    brokers on 127.0.0.1:19092, 29092 and 39092 (controller 19093), with
    data under DIR, until Ctrl-C."""
    import argparse
    parser = argparse.ArgumentParser(prog="python3 -m harness.runnel")
    parser.add_argument("command", choices=["cluster"])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--brokers", type=int, default=3)
    args = parser.parse_args()
    ports = [19092 + 10000 * i for i in range(args.brokers)]
    cluster = RunnelCluster(args.dir, brokers=args.brokers, ports=ports, controller_port=19093)
    # A restarted cluster keeps its id: the data dirs are formatted with it.
    stamp = args.dir / "cluster.id"
    if stamp.exists():
        cluster.cluster_id = stamp.read_text().strip()
        for node in cluster.nodes:
            node.overrides["cluster.id"] = cluster.cluster_id
    else:
        args.dir.mkdir(parents=True, exist_ok=True)
        stamp.write_text(cluster.cluster_id + "\n")
    try:
        cluster.start()
    except BrokerError as e:
        print(e)
        cluster.stop()
        return 1
    print(f"controller node 1 on 127.0.0.1:19093; brokers on {cluster.bootstrap}")
    print(f"logs: {args.dir}/node-*/runnel.stderr.log; Ctrl-C stops the cluster")
    try:
        while all(n.alive for n in cluster.nodes):
            time.sleep(0.5)
        print("a node exited; stopping the cluster")
    except KeyboardInterrupt:
        pass
    cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
