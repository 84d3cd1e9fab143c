"""Operability with real clients: config from server.properties, KAFKA_*
environment variables and a TOML file reach the running broker; the
Prometheus endpoint counts what clients did; a bad config stops start-up
with a message naming the key."""

from __future__ import annotations

import subprocess
import urllib.request

from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource

from clients import Rec, ck_produce, kcat_metadata, kp_produce
from conftest import free_port, runnel_bin


def partitions_of(bootstrap: str, topic: str) -> int:
    md = kcat_metadata(bootstrap, topic)
    [t] = [t for t in md["topics"] if t["topic"] == topic]
    return len(t["partitions"])


def test_server_properties_and_env_and_toml_reach_the_broker(broker_factory, tmp_path, topic_name, kcat_path):
    props = tmp_path / "server.properties"
    props.write_text("# a stock Kafka file\nnum.partitions=2\nlog.retention.hours=48\n")
    toml = tmp_path / "runnel.toml"
    toml.write_text('"num.partitions" = 7\n"default.replication.factor" = 1\n')
    # The env var wins over server.properties, which wins over the TOML file.
    b = broker_factory(
        extra_args=["--config", str(toml), "--server-properties", str(props)],
        env={"KAFKA_NUM_PARTITIONS": "3"},
    )
    topic = topic_name()
    assert kp_produce(b.bootstrap, topic, [Rec(0, b"k", b"v")]) == [(0, 0)]
    assert partitions_of(b.bootstrap, topic) == 3

    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = admin.describe_configs([res])[res].result(timeout=30)
    # log.retention.hours=48 from server.properties is the topic's inherited
    # retention.ms. Kafka 4.1 then names the source DEFAULT_CONFIG (its
    # synonym list starts at log.retention.ms, which is unset), and so does
    # Runnel: differential/test_configs.py checks it against Kafka.
    assert configs["retention.ms"].value == str(48 * 3600 * 1000)
    assert configs["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value


def test_invalid_config_stops_startup_naming_the_key(tmp_path):
    port = free_port()
    proc = subprocess.run(
        [str(runnel_bin()), "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}",
         "--override", f"log.dirs={tmp_path / 'data'}", "--override", "num.partitions=many"],
        capture_output=True, timeout=30,
    )
    assert proc.returncode != 0
    assert b"num.partitions" in proc.stderr
    assert b"many" in proc.stderr


def test_metrics_endpoint_counts_client_traffic(broker_factory, topic_name):
    mport = free_port()
    b = broker_factory({"runnel.metrics.listener": f"127.0.0.1:{mport}"})
    topic = topic_name()
    recs = [Rec(0, f"k{i}".encode(), b"v" * 100) for i in range(50)]
    ck_produce(b.bootstrap, topic, recs)
    body = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=10).read().decode()
    lines = body.splitlines()
    produce = [l for l in lines if l.startswith("runnel_requests_total") and 'api="Produce"' in l]
    assert produce and float(produce[0].rsplit(" ", 1)[1]) >= 1
    msgs = [l for l in lines if l.startswith("runnel_messages_in_total") and f'topic="{topic}"' in l]
    assert msgs and float(msgs[0].rsplit(" ", 1)[1]) == 50
    assert any(l.startswith("runnel_bytes_in_total") for l in lines)
    assert any(l.startswith("runnel_request_latency_seconds_bucket") for l in lines)
