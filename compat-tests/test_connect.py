"""Kafka Connect (connect-runtime, connect-file, connect-json 4.3.1 from
Maven Central): FileStreamSource -> topic -> FileStreamSink.

- standalone: one worker with both connectors from properties files; every
  line arrives in order.
- distributed: a worker creates and checks its compacted config, offset and
  status topics (it refuses to start when their cleanup.policy reads
  wrong), runs the same pipeline created over its REST API, and after a
  restart resumes from its stored offsets: every line exactly once.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

import drivers
from clients import ck_conf, ck_consume, ck_create_topic
from conftest import free_port
from registry import covers

pytestmark = covers("connect", clients=["kafka-connect"])

WAIT_S = 120
SOURCE = "org.apache.kafka.connect.file.FileStreamSourceConnector"
SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"
STRING = "org.apache.kafka.connect.storage.StringConverter"
# WARNs a Connect worker logs against Apache Kafka too: a distributed worker
# catching up on its config topic after a restart, and the coordinator
# closed with a zero timeout (its LeaveGroup still in flight).
EXPECTED_WARNINGS = (
    r"Catching up to assignment's config offset",
    r"Close timed out with 1 pending requests to coordinator",
)


def props(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


class Worker:
    def __init__(self, main: str, workdir: Path, name: str, *prop_files: Path, port: int):
        self.name = name
        self.port = port
        self.log_path = workdir / f"{name}.log"
        cp = drivers.need_file(drivers.CONNECT_CP, "Kafka Connect classpath").read_text().strip()
        argv = [drivers.java_bin(), "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-Xmx512m",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=info", "-cp", cp,
                f"org.apache.kafka.connect.cli.{main}", *map(str, prop_files)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    def rest(self, method: str, path: str, body: dict | None = None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read().decode()
        return json.loads(text) if text else None

    def wait_rest(self) -> None:
        deadline = time.monotonic() + WAIT_S
        while True:
            assert self.proc.poll() is None, f"{self.name} exited {self.proc.returncode}\n{self.log_tail()}"
            try:
                self.rest("GET", "/connectors")
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                assert time.monotonic() < deadline, f"{self.name}: no REST API\n{self.log_tail()}"
                time.sleep(0.5)

    def log_tail(self, n: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> None:
        """SIGTERM; the worker's log must hold no WARN/ERROR beyond EXPECTED_WARNINGS."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        unexpected = [l for l in self.log_path.read_text(errors="replace").splitlines()
                      if (" WARN " in l or " ERROR " in l) and not any(re.search(e, l) for e in EXPECTED_WARNINGS)]
        assert not unexpected, f"{self.name} logged:\n" + "\n".join(unexpected[:10])

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def wait_lines(path: Path, want: list[str], worker: Worker) -> None:
    deadline = time.monotonic() + WAIT_S
    got: list[str] = []
    while time.monotonic() < deadline:
        got = path.read_text().splitlines() if path.exists() else []
        if len(got) >= len(want):
            break
        assert worker.proc.poll() is None, f"{worker.name} exited\n{worker.log_tail()}"
        time.sleep(0.3)
    assert got == want, f"sink has {len(got)} lines, want {len(want)}; first difference at " \
        f"{next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))}"


def append(path: Path, lines: list[str]) -> None:
    with open(path, "a") as f:
        f.write("".join(l + "\n" for l in lines))


def cleanup_policy(bootstrap: str, topic: str) -> str:
    res = ConfigResource(ResourceType.TOPIC, topic)
    admin = AdminClient(ck_conf(bootstrap))  # kept alive until the future resolves
    entries = admin.describe_configs([res])[res].result(timeout=30)
    return entries["cleanup.policy"].value


def worker_base(bootstrap: str, port: int) -> dict[str, str]:
    return {
        "bootstrap.servers": bootstrap,
        "key.converter": STRING,
        "value.converter": STRING,
        "listeners": f"http://127.0.0.1:{port}",
        "plugin.discovery": "service_load",
        "offset.flush.interval.ms": "500",
    }


@pytest.mark.timeout(240)
def test_standalone_file_source_to_file_sink(group_broker, topic_name, tmp_path):
    b = group_broker.bootstrap
    topic = topic_name()
    ck_create_topic(b, topic, partitions=1)
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    lines = [f"line {i} of the standalone pipeline" for i in range(300)]
    append(src, lines)
    port = free_port()
    worker = props(tmp_path / "worker.properties", {**worker_base(b, port),
                                                    "offset.storage.file.filename": str(tmp_path / "offsets")})
    source = props(tmp_path / "source.properties", {"name": "file-source", "connector.class": SOURCE,
                                                    "tasks.max": "1", "file": str(src), "topic": topic})
    sink = props(tmp_path / "sink.properties", {"name": "file-sink", "connector.class": SINK, "tasks.max": "1",
                                                "file": str(dst), "topics": topic})
    w = Worker("ConnectStandalone", tmp_path, "standalone", worker, source, sink, port=port)
    try:
        wait_lines(dst, lines, w)
        more = [f"appended line {i}" for i in range(100)]
        append(src, more)
        wait_lines(dst, lines + more, w)
        got = ck_consume(b, topic, {0: 400})[0]
        assert [g.value.decode() for g in got] == lines + more
        w.stop()
    finally:
        w.cleanup()


@pytest.mark.timeout(300)
def test_distributed_worker_internal_topics_pipeline_and_restart(group_broker, topic_name, tmp_path):
    b = group_broker.bootstrap
    topic = topic_name()
    ck_create_topic(b, topic, partitions=1)  # one partition: the sink file keeps the source's order
    tag = uuid.uuid4().hex[:8]
    internal = {"config": f"connect-configs-{tag}", "offset": f"connect-offsets-{tag}",
                "status": f"connect-status-{tag}"}
    port = free_port()
    worker = props(tmp_path / "worker.properties", {
        **worker_base(b, port),
        "group.id": f"connect-{tag}",
        "config.storage.topic": internal["config"],
        "offset.storage.topic": internal["offset"],
        "status.storage.topic": internal["status"],
        "config.storage.replication.factor": "1",
        "offset.storage.replication.factor": "1",
        "status.storage.replication.factor": "1",
        "offset.storage.partitions": "5",
        "status.storage.partitions": "2",
        "rest.advertised.host.name": "127.0.0.1",
        "scheduled.rebalance.max.delay.ms": "1000",
    })
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    lines = [f"line {i} of the distributed pipeline" for i in range(300)]
    append(src, lines)
    w = Worker("ConnectDistributed", tmp_path, "distributed", worker, port=port)
    try:
        w.wait_rest()
        for name in internal.values():
            assert cleanup_policy(b, name) == "compact", name
        w.rest("POST", "/connectors", {"name": "file-source", "config": {
            "connector.class": SOURCE, "tasks.max": "1", "file": str(src), "topic": topic}})
        w.rest("POST", "/connectors", {"name": "file-sink", "config": {
            "connector.class": SINK, "tasks.max": "1", "file": str(dst), "topics": topic}})
        wait_lines(dst, lines, w)
        assert sorted(w.rest("GET", "/connectors")) == ["file-sink", "file-source"]
        status = w.rest("GET", "/connectors/file-source/status")
        assert status["connector"]["state"] == "RUNNING", status

        # A restart: the connectors come back from the config topic, the
        # source resumes at its stored file offset, the sink at its group's.
        w.stop()
        more = [f"line {i} written while the worker was down" for i in range(100)]
        append(src, more)
        w = Worker("ConnectDistributed", tmp_path, "distributed", worker, port=port)
        w.wait_rest()
        wait_lines(dst, lines + more, w)
        again = [f"line {i} after the restart" for i in range(50)]
        append(src, again)
        wait_lines(dst, lines + more + again, w)
        w.stop()
    finally:
        w.cleanup()
