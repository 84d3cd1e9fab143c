"""`runnel format` against Kafka's own `kafka-storage` (the reference jars):
an id from `kafka-storage random-uuid` formats Runnel's log dirs, and
`kafka-storage info` reads the meta.properties Runnel wrote; a dir that
`kafka-storage format` made is served by Runnel under Kafka's cluster id
(seen by the Java client and librdkafka); and both tools refuse to format a
formatted dir again unless told to ignore it."""

from __future__ import annotations

import subprocess

import pytest
from confluent_kafka.admin import AdminClient

from clients import ck_conf
from conftest import runnel_bin
from harness import kafka
from harness.kafka import KafkaRefError
from registry import DRIVER_CLIENTS, covers

JAVA = next(c for c in DRIVER_CLIENTS if c.name == "java-4.4")


def runnel_format(log_dir, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(runnel_bin()), "format", "--override", f"log.dirs={log_dir}", *args],
                          capture_output=True, text=True, timeout=60)


def kafka_properties(tmp_path, log_dir) -> str:
    props = tmp_path / "server.properties"
    props.write_text("process.roles=broker,controller\nnode.id=1\n"
                     "controller.quorum.bootstrap.servers=127.0.0.1:9093\n"
                     "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093\n"
                     f"controller.listener.names=CONTROLLER\nlog.dirs={log_dir}\n")
    return str(props)


@covers("tools", clients=["kafka-tools"])
def test_kafka_storage_reads_what_runnel_format_wrote(tmp_path):
    cluster_id = kafka.run_tool("kafka.tools.StorageTool", ["random-uuid"], cwd=tmp_path).strip()
    log_dir = tmp_path / "data"
    out = runnel_format(log_dir, "-t", cluster_id, "--standalone")
    assert out.returncode == 0, out.stderr
    info = kafka.run_tool("kafka.tools.StorageTool", ["info", "-c", kafka_properties(tmp_path, log_dir)],
                          cwd=tmp_path)
    assert f"cluster.id={cluster_id}" in info and "node.id=1" in info and "directory.id=" in info, info

    # Formatted already: each tool refuses, and passes with --ignore-formatted.
    again = runnel_format(log_dir, "-t", cluster_id)
    assert again.returncode == 2 and "already formatted" in again.stderr, again.stderr
    assert runnel_format(log_dir, "-t", cluster_id, "--ignore-formatted").returncode == 0
    with pytest.raises(KafkaRefError, match="already formatted"):
        kafka.run_tool("kafka.tools.StorageTool",
                       ["format", "-t", cluster_id, "-c", kafka_properties(tmp_path, log_dir), "--standalone"],
                       cwd=tmp_path)


@covers("tools", clients=["kafka-tools", "java-4.4", "librdkafka"])
def test_runnel_serves_a_dir_kafka_storage_formatted(tmp_path, broker_factory):
    k = kafka.KafkaBroker(tmp_path / "kafka")
    k.format()
    b = broker_factory({"log.dirs": str(k.data_dir)})
    md = AdminClient(ck_conf(b.bootstrap)).list_topics(timeout=30)
    assert md.cluster_id == k.cluster_id
    [cluster] = JAVA.admin(b.bootstrap, [{"call": "describeCluster"}])
    assert cluster["ok"] and cluster["result"]["cluster_id"] == k.cluster_id, cluster
