"""The cluster under test, one node per network namespace (chaos/net.py).

Runnel: node 1 is the controller (controller-only, as in
compat-tests/test_replication.py), nodes 2.. are brokers; the same binary
(`RUNNEL_BIN`) and config keys as harness.runnel's RunnelCluster, with each
node listening on its own namespace address. Apache Kafka (TARGET=kafka):
the same shape from harness.kafka's KafkaBroker, a JVM per namespace.

A node is `ip netns exec <ns> <command>`; `ip netns exec` execs the
command, so the child's pid is the broker's own and kill -9 / SIGSTOP reach
it directly.
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import procs
from harness.runnel import RunnelBroker, BrokerError, raise_nofile
from harness.kafka import KafkaBroker, random_cluster_id, java_bin, lib_dir, LOG4J_CONFIG, jvm_opts_with_heap

from . import net

BROKER_PORT = 9092
CONTROLLER_PORT = 9093

# As compat-tests/test_replication.py's cluster: quick fencing, quick ISR shrink.
RUNNEL_BROKER_OVERRIDES = {
    "broker.heartbeat.interval.ms": "500",
    "auto.create.topics.enable": "false",
    "replica.lag.time.max.ms": "3000",
    "offsets.topic.replication.factor": "3",
}
RUNNEL_CONTROLLER_OVERRIDES = {"broker.session.timeout.ms": "3000"}

KAFKA_OVERRIDES = {
    "broker.heartbeat.interval.ms": "500",
    "broker.session.timeout.ms": "3000",
    "auto.create.topics.enable": "false",
    "replica.lag.time.max.ms": "3000",
    "offsets.topic.replication.factor": "3",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
}


# Children get PR_SET_PDEATHSIG (harness/procs.py), which fires when the
# *thread* that forked them exits: a broker restarted by the nemesis thread
# would be killed when that thread ends. Every spawn goes through this one
# worker thread, which lives as long as the run.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spawner")


def spawn(*args, **kwargs):
    return _SPAWNER.submit(procs.spawn, *args, **kwargs).result()


class Node:
    """What the nemeses need of a node, whichever broker it runs."""

    node_id: int
    is_controller: bool

    @property
    def ns(self) -> str:
        return net.ns_name(self.node_id)

    @property
    def addr(self) -> str:
        return net.node_addr(self.node_id)

    def signal(self, sig: int) -> None:
        if self.alive:
            os.kill(self.pid, sig)

    def ready(self) -> bool:
        """Answers now: a broker lists itself in Metadata, the controller answers ApiVersions."""
        if not self.alive:
            return False
        if self.listed_when_ready:
            ports = procs.metadata_broker_ports(self.port, timeout=1.0, host=self.addr)
            return ports is not None and self.port in ports
        return procs.answers_api_versions(self.port, 1.0, self.addr)


class RunnelNode(Node, RunnelBroker):
    def __init__(self, workdir: Path, node_id: int, overrides: dict[str, str], is_controller: bool):
        RunnelBroker.__init__(self, workdir, overrides, name=f"node-{node_id}")
        self.node_id = node_id
        self.is_controller = is_controller
        self.port = CONTROLLER_PORT if is_controller else BROKER_PORT
        self.listed_when_ready = not is_controller

    @property
    def bootstrap(self) -> str:
        return f"{self.addr}:{self.port}"

    def command(self) -> list[str]:
        return ["ip", "netns", "exec", self.ns] + RunnelBroker.command(self)

    def start(self, timeout: float = 60.0) -> "RunnelNode":
        assert not self.alive, "node already running"
        started = time.monotonic()
        self.proc = spawn(self.command(), self.stderr_path, self.workdir,
                                env={**os.environ, "RUST_BACKTRACE": "1", **self.env}, preexec=raise_nofile)
        self.wait_ready(started, timeout)
        return self

    def start_nowait(self) -> None:
        self.proc = spawn(self.command(), self.stderr_path, self.workdir,
                                env={**os.environ, "RUST_BACKTRACE": "1", **self.env}, preexec=raise_nofile)

    def wait_ready(self, started: float, timeout: float) -> None:
        try:
            procs.wait_ready(self.port, started, timeout, lambda: self.alive, self.listed_when_ready,
                             host=self.addr)
        except procs.NotReady as e:
            code = None if self.proc.poll() is None else self.proc.returncode
            raise BrokerError(f"{self.name} at {self.bootstrap} (exit code {code}): {e}\n{self.tail()}") from None

    def log_path(self) -> Path:
        return self.stderr_path


class KafkaNode(Node, KafkaBroker):
    def __init__(self, workdir: Path, node_id: int, cluster_id: str, is_controller: bool, voters: str):
        KafkaBroker.__init__(self, workdir, name=f"kafka-node-{node_id}",
                             jvm_opts=jvm_opts_with_heap("256M" if is_controller else "512M"))
        self.node_id = node_id
        self.is_controller = is_controller
        self.cluster_id = cluster_id
        self.standalone = False
        addr = net.node_addr(node_id)
        self.config.pop("controller.quorum.bootstrap.servers", None)
        self.config.update({"node.id": str(node_id), "controller.quorum.voters": voters})
        if is_controller:
            for k in ("advertised.listeners", "inter.broker.listener.name"):
                self.config.pop(k, None)
            self.config.update({"process.roles": "controller",
                                "listeners": f"CONTROLLER://{addr}:{CONTROLLER_PORT}",
                                "listener.security.protocol.map": "CONTROLLER:PLAINTEXT",
                                "broker.session.timeout.ms": KAFKA_OVERRIDES["broker.session.timeout.ms"]})
            self.port = CONTROLLER_PORT
            self.listed_when_ready = False
        else:
            self.config.update({"process.roles": "broker",
                                "listeners": f"PLAINTEXT://{addr}:{BROKER_PORT}",
                                "advertised.listeners": f"PLAINTEXT://{addr}:{BROKER_PORT}",
                                **KAFKA_OVERRIDES})
            self.port = BROKER_PORT

    @property
    def bootstrap(self) -> str:
        return f"{self.addr}:{self.port}"

    def _cmd(self) -> list[str]:
        return ["ip", "netns", "exec", self.ns, java_bin(), *self.jvm_opts,
                f"-Dlog4j2.configurationFile={LOG4J_CONFIG}", f"-Dkafka.logs.dir={self.workdir}",
                "-cp", str(lib_dir() / "*"), "kafka.Kafka", str(self.properties_path)]

    def start_nowait(self) -> None:
        if not self.formatted:
            self.format()
        self.proc = spawn(self._cmd(), self.log_path, self.workdir)

    def start(self, timeout: float = 120.0) -> "KafkaNode":
        started = time.monotonic()
        self.start_nowait()
        try:
            procs.wait_ready(self.port, started, timeout, lambda: self.alive, self.listed_when_ready,
                             host=self.addr)
        except procs.NotReady as e:
            raise BrokerError(f"{self.name}: {e}\n{self.tail()}") from None
        return self

    def kill(self) -> int:
        return self.stop(signal.SIGKILL, timeout=10)


class Cluster:
    def __init__(self, target: str, workdir: Path, brokers: int = 3):
        self.target = target
        ids = list(range(1, 2 + brokers))
        self.node_ids = ids
        voters = f"1@{net.node_addr(1)}:{CONTROLLER_PORT}"
        self.nodes: list[Node] = []
        if target == "runnel":
            cluster_id = random_cluster_id()
            common = {"cluster.id": cluster_id, "controller.listener.names": "CONTROLLER",
                      "controller.quorum.voters": voters}
            for n in ids:
                if n == 1:
                    o = {**common, **RUNNEL_CONTROLLER_OVERRIDES, "node.id": "1", "process.roles": "controller",
                         "listeners": f"CONTROLLER://{net.node_addr(1)}:{CONTROLLER_PORT}"}
                else:
                    o = {**common, **RUNNEL_BROKER_OVERRIDES, "node.id": str(n), "process.roles": "broker",
                         "listeners": f"PLAINTEXT://{net.node_addr(n)}:{BROKER_PORT}"}
                self.nodes.append(RunnelNode(workdir / f"node-{n}", n, o, n == 1))
        elif target == "kafka":
            cluster_id = random_cluster_id()
            for n in ids:
                self.nodes.append(KafkaNode(workdir / f"node-{n}", n, cluster_id, n == 1, voters))
        else:
            raise ValueError(f"unknown target {target!r} (runnel or kafka)")

    def node(self, node_id: int) -> Node:
        return next(n for n in self.nodes if n.node_id == node_id)

    @property
    def controller(self) -> Node:
        return self.nodes[0]

    @property
    def brokers(self) -> list[Node]:
        return [n for n in self.nodes if not n.is_controller]

    @property
    def bootstrap(self) -> str:
        return ",".join(b.bootstrap for b in self.brokers)

    def mount_disks(self) -> None:
        """Each broker's log dir on its own small filesystem (the disk nemesis fills it)."""
        for b in self.brokers:
            net.mount_disk(b.node_id, b.data_dir)

    def start(self) -> None:
        if self.target == "kafka":
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(len(self.nodes)) as pool:
                for f in [pool.submit(n.format) for n in self.nodes]:
                    f.result()
        for n in self.nodes:
            n.start()

    def stop(self) -> None:
        for n in reversed(self.nodes):
            if n.alive:
                try:
                    n.signal(signal.SIGCONT)
                    n.stop(signal.SIGTERM, timeout=15)
                except Exception:  # noqa: BLE001 - the group is killed whatever happens
                    pass
