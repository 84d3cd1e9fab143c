"""Apache Kafka itself as a child process: the reference broker of issue 12.

The jars come from Maven Central through kafka-ref/pom.xml; `make kafka-ref`
copies them into target/kafka-ref/lib (git-ignored; KAFKA_REF_LIB
overrides). A broker here is one KRaft combined node (broker + a standalone
controller quorum of one), formatted with `kafka-storage format` in its own
scratch dir with a random cluster id, on free loopback ports, with the
settings Runnel's tests run with mirrored (`MIRRORED`). `start()` waits
until the broker answers a Metadata request that lists it (an answer, not a
sleep) and records how long the first accepted connection, the first
answered request and that took. `stop()` kills the JVM's process group
whatever happens; see harness/procs.py for the exit guarantees.

Also a command line: `python3 -m harness.kafka check` starts a broker,
prints its start-up times and stops it (what `make kafka-ref` runs);
`python3 -m harness.kafka run` keeps one running until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import secrets
import base64
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import procs

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LIB = REPO_ROOT / "target" / "kafka-ref" / "lib"
LOG4J_CONFIG = REPO_ROOT / "kafka-ref" / "log4j2.properties"
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0

# The settings Runnel's tests and bench run with (its built-in defaults with
# `--override`), written out for Kafka where its own default differs or is
# meant for a cluster: one node, so every internal topic has replication
# factor 1, and a lone consumer gets its assignment at once.
MIRRORED = {
    "auto.create.topics.enable": "true",
    "num.partitions": "1",
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "50",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
}

# Kafka's own launch scripts (kafka-server-start.sh, kafka-run-class.sh):
# a 1 GiB heap and G1 with short pauses. The same for every run, so the
# bench measures the broker as shipped.
BROKER_JVM_OPTS = [
    "-Xmx1G", "-Xms1G", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
]
TOOL_JVM_OPTS = ["-Xmx512M", "-server", "-XX:+UseG1GC", "-Djava.awt.headless=true"]


class KafkaRefError(Exception):
    pass


def lib_dir() -> Path:
    path = Path(os.environ.get("KAFKA_REF_LIB", DEFAULT_LIB))
    if not any(path.glob("kafka_2.13-*.jar")):
        raise KafkaRefError(f"no Kafka jars in {path}; run `make kafka-ref` (it fetches them with Maven)")
    return path


def kafka_version() -> str:
    jar = next(lib_dir().glob("kafka_2.13-*.jar"))
    return jar.name.removeprefix("kafka_2.13-").removesuffix(".jar")


def clients_jar() -> Path:
    return next(lib_dir().glob("kafka-clients-*.jar"))


def java_bin() -> str:
    java = os.environ.get("JAVA") or shutil.which("java")
    if not java:
        raise KafkaRefError("no `java` on PATH (Kafka 4.1 needs Java 17 or newer); set JAVA or install a JRE")
    return java


def java_command(main_class: str, args: list[str], jvm_opts: list[str] | None = None) -> list[str]:
    return [java_bin(), *(jvm_opts or TOOL_JVM_OPTS), "-cp", str(lib_dir() / "*"), main_class, *args]


def random_cluster_id() -> str:
    """A random Uuid in Kafka's text form (22 url-safe base64 characters), as
    `kafka-storage random-uuid` makes them: never one starting with '-',
    which a command line would take for an option."""
    while True:
        text = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def run_tool(main_class: str, args: list[str], timeout: float = 600, cwd: Path | None = None) -> str:
    """Runs a Kafka command-line tool (its main class) to completion; returns stdout."""
    cmd = java_command(main_class, args)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                         stdin=subprocess.DEVNULL,
                         env={**os.environ, "LOG_DIR": str(cwd or tempfile.gettempdir())})
    if out.returncode != 0:
        raise KafkaRefError(f"{main_class} {' '.join(args)} exited {out.returncode}:\n"
                            f"{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    return out.stdout


class KafkaBroker:
    """One Kafka KRaft combined node in its own scratch dir."""

    kind = "kafka"

    def __init__(self, workdir: Path, overrides: dict[str, str] | None = None, name: str = "kafka",
                 jvm_opts: list[str] | None = None):
        self.name = name
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = workdir / "data"
        self.port = procs.free_port()
        self.controller_port = procs.free_port()
        self.jvm_opts = list(jvm_opts or BROKER_JVM_OPTS)
        self.config = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            **MIRRORED,
            **(overrides or {}),
        }
        self.cluster_id = random_cluster_id()
        self.standalone = True
        self.properties_path = workdir / "server.properties"
        self.log_path = workdir / "kafka.stdout.log"
        self.proc = None
        # A controller-only node serves no Metadata: ready once it answers.
        self.listed_when_ready = True
        self.formatted = False
        self.format_secs = None
        self.accept_secs = self.answer_secs = self.ready_secs = None

    @classmethod
    def broker_of(cls, workdir: Path, cluster_id: str, voters: str, node_id: int = 2,
                  overrides: dict[str, str] | None = None, name: str = "kafka-broker") -> "KafkaBroker":
        """A broker-only node (`process.roles=broker`) of another cluster:
        it joins the static controller quorum `voters` (`id@host:port`)
        under `cluster_id` as a KRaft observer."""
        k = cls(workdir, overrides, name=name)
        k.config.pop("controller.quorum.bootstrap.servers", None)
        k.config.update({
            "process.roles": "broker",
            "node.id": str(node_id),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://127.0.0.1:{k.port}",
            **(overrides or {}),
        })
        k.cluster_id = cluster_id
        k.standalone = False
        return k

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def write_properties(self) -> None:
        self.properties_path.write_text("".join(f"{k}={v}\n" for k, v in self.config.items()))

    def format(self) -> None:
        """`kafka-storage format --standalone`: the log dir gets meta.properties
        and the controller's first voter set (this node alone); a broker-only
        node gets meta.properties alone."""
        self.write_properties()
        started = time.monotonic()
        standalone = ["--standalone"] if self.standalone else []
        run_tool("kafka.tools.StorageTool",
                 ["format", *standalone, "-t", self.cluster_id, "-c", str(self.properties_path)],
                 timeout=120, cwd=self.workdir)
        self.format_secs = time.monotonic() - started
        self.formatted = True

    def start(self, timeout: float = READY_TIMEOUT_S) -> "KafkaBroker":
        assert not self.alive, "kafka already running"
        if not self.formatted:
            self.format()
        cmd = [java_bin(), *self.jvm_opts,
               f"-Dlog4j2.configurationFile={LOG4J_CONFIG}", f"-Dkafka.logs.dir={self.workdir}",
               "-cp", str(lib_dir() / "*"), "kafka.Kafka", str(self.properties_path)]
        started = time.monotonic()
        self.proc = procs.spawn(cmd, self.log_path, self.workdir)
        self.accept_secs = self.answer_secs = self.ready_secs = None
        try:
            self.accept_secs, self.answer_secs, self.ready_secs = procs.wait_ready(
                self.port, started, timeout, lambda: self.alive, self.listed_when_ready)
        except procs.NotReady as e:
            procs.kill_group(self.proc)
            raise KafkaRefError(f"kafka on port {self.port}: {e}\n{self.tail()}") from None
        except BaseException:
            procs.kill_group(self.proc)
            raise
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S) -> int:
        """Graceful shutdown (SIGTERM); the JVM's process group is killed after
        `timeout` or once it has exited."""
        if self.proc is None:
            return 0
        clean = procs.stop_group(self.proc, sig, timeout)
        if not clean and sig != signal.SIGKILL:
            raise KafkaRefError(f"kafka ignored signal {sig} for {timeout}s; killed\n{self.tail()}")
        return self.proc.returncode

    def kill(self) -> int:
        return self.stop(signal.SIGKILL, timeout=10)

    def cpu_secs(self) -> float:
        return procs.cpu_secs(self.proc.pid)

    def rss_mib(self) -> float:
        return procs.rss_mib(self.proc.pid)

    def tail(self, lines: int = 60) -> str:
        out = []
        for path in (self.log_path, self.workdir / "server.log"):
            try:
                text = path.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                continue
            out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out) or "(no kafka log)"

    def log_tail(self, lines: int = 200) -> list[str]:
        try:
            return (self.workdir / "server.log").read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return []


# Heaps for the nodes of a KafkaCluster: four JVMs share the machine with
# the other cluster of the same run, so each gets less than Kafka's
# shipped 1 GiB (the rest of BROKER_JVM_OPTS is kept).
CLUSTER_BROKER_HEAP = "512M"
CLUSTER_CONTROLLER_HEAP = "256M"


def jvm_opts_with_heap(heap: str) -> list[str]:
    opts = [o for o in BROKER_JVM_OPTS if not o.startswith(("-Xmx", "-Xms"))]
    return [f"-Xmx{heap}", f"-Xms{heap}", *opts]


class KafkaCluster:
    """Kafka as a KRaft cluster on loopback, shaped as harness.runnel's
    RunnelCluster: node 1 is a controller-only node (a static quorum of
    one voter) and nodes 2.. are broker-only nodes joining it. Every node
    has its own scratch dir and ports, and its storage is formatted with
    the cluster's one id before the first start."""

    def __init__(self, workdir: Path, brokers: int = 3, overrides: dict[str, str] | None = None,
                 broker_heap: str = CLUSTER_BROKER_HEAP, controller_heap: str = CLUSTER_CONTROLLER_HEAP):
        self.cluster_id = random_cluster_id()
        controller = KafkaBroker(workdir / "node-1", name="kafka-node-1",
                                 jvm_opts=jvm_opts_with_heap(controller_heap))
        voters = f"1@127.0.0.1:{controller.controller_port}"
        controller.config.pop("controller.quorum.bootstrap.servers", None)
        controller.config.pop("advertised.listeners", None)
        controller.config.pop("inter.broker.listener.name", None)
        controller.config.update({
            "process.roles": "controller",
            "controller.quorum.voters": voters,
            "listeners": f"CONTROLLER://127.0.0.1:{controller.controller_port}",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT",
        })
        # Readiness is probed on the controller's own listener.
        controller.port = controller.controller_port
        controller.listed_when_ready = False
        controller.cluster_id = self.cluster_id
        controller.standalone = False
        self.controller = controller
        self.nodes = [controller]
        for node_id in range(2, 2 + brokers):
            b = KafkaBroker.broker_of(workdir / f"node-{node_id}", self.cluster_id, voters, node_id=node_id,
                                      overrides=overrides, name=f"kafka-node-{node_id}")
            b.jvm_opts = jvm_opts_with_heap(broker_heap)
            self.nodes.append(b)

    @property
    def brokers(self) -> list[KafkaBroker]:
        return self.nodes[1:]

    @property
    def bootstrap(self) -> str:
        return ",".join(b.bootstrap for b in self.brokers)

    def start(self, timeout: float = READY_TIMEOUT_S) -> "KafkaCluster":
        """Formats every node, then starts the controller and the brokers
        one after the other, each waited for (the brokers until they list
        themselves, so the controller has registered them)."""
        try:
            # Formatting is one short JVM per node: run them side by side.
            with ThreadPoolExecutor(len(self.nodes)) as pool:
                for done in [pool.submit(n.format) for n in self.nodes if not n.formatted]:
                    done.result()
            for node in self.nodes:
                node.start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        # Brokers first: their controlled shutdown needs the controller.
        for node in reversed(self.nodes):
            if node.alive:
                try:
                    node.stop()
                except KafkaRefError:
                    pass

    def cpu_secs(self) -> float:
        return sum(n.cpu_secs() for n in self.nodes if n.alive)

    def rss_mib(self) -> float:
        return sum(n.rss_mib() for n in self.nodes if n.alive)


def main() -> int:
    p = argparse.ArgumentParser(description="Run the reference Apache Kafka broker.")
    p.add_argument("command", choices=["check", "run"])
    p.add_argument("--work-dir", default=None, help="scratch dir (default: a new temp dir, removed after)")
    args = p.parse_args()
    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="kafka-ref-"))
    broker = KafkaBroker(work / "node")
    try:
        broker.start()
        print(f"kafka-ref: Apache Kafka {kafka_version()} on {broker.bootstrap}, cluster id {broker.cluster_id}; "
              f"format {broker.format_secs:.1f} s, first answered request after {broker.answer_secs:.1f} s, "
              f"ready after {broker.ready_secs:.1f} s; RSS {broker.rss_mib():.0f} MiB", flush=True)
        if args.command == "run":
            print("kafka-ref: running until Ctrl-C", flush=True)
            while broker.alive:
                time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
