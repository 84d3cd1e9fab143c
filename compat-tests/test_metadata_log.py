"""Runnel's logs read by Kafka's own tools (the reference jars): the metadata
log `__cluster_metadata-0` holds Kafka's metadata records, which
`kafka-dump-log --cluster-metadata-decoder` decodes record by record and
`kafka-metadata-shell` loads into Kafka's own metadata image; a data
partition's segment, offset index and time index are dumped by
`kafka-dump-log` with every entry pointing at a batch Runnel wrote; and
`__consumer_offsets` decodes with `--offsets-decoder`. The state is made by
real clients (the Java admin client and librdkafka) and by the node's own
broker lifecycle (registration, unfencing and controlled shutdown, KIP-631,
over two starts), and every value the tools print is compared with what
those clients were told or the node was configured with."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from clients import ck_conf
from harness import kafka
from registry import DRIVER_CLIENTS, covers
import wire

JAVA = next(c for c in DRIVER_CLIENTS if c.name == "java-4.4")


def ok(results: list[dict]) -> list:
    failed = [r for r in results if not r["ok"]]
    assert not failed, failed
    return [r.get("result") for r in results]


def dump(args: list[str], cwd) -> str:
    return kafka.run_tool("kafka.tools.DumpLogSegments", args, timeout=120, cwd=cwd)


def dump_each(files: list, args: list[str], cwd) -> dict:
    """One JVM for many files: the tool's output split per file."""
    text = dump(["--files", ",".join(str(f) for f in files), *args], cwd)
    parts = re.split(r"^Dumping (\S+)$", text, flags=re.M)
    return {Path(name): body for name, body in zip(parts[1::2], parts[2::2])}


def metadata_records(log_dir, cwd) -> list[dict]:
    """Every metadata record Kafka's decoder reads, in offset order."""
    out = []
    segments = sorted((log_dir / "__cluster_metadata-0").glob("*.log"))
    for text in dump_each(segments, ["--cluster-metadata-decoder"], cwd).values():
        assert "isvalid: true" in text and "isvalid: false" not in text, text[-2000:]
        for offset, payload in re.findall(r"^\| offset: (\d+) .* payload: (.*)$", text, re.M):
            record = json.loads(payload)
            record["offset"] = int(offset)
            out.append(record)
    return out


def shell(snapshot, cwd, *command: str, until=lambda out: True) -> str:
    """The shell's answer, without its own log lines (it logs at ERROR each
    snapshot header and footer it passes over, for Kafka's snapshots too).

    Kafka 4.1's shell runs a non-interactive command as soon as its loader
    applied any offset (`waitUntilCaughtUp` checks `lastAppliedOffset > 0`),
    not once the whole file is read, so on a loaded machine an answer can
    miss the file's later records: the command is run again, up to five
    times, until `until(answer)` holds."""
    for _ in range(5):
        out = kafka.run_tool("org.apache.kafka.shell.MetadataShell",
                             ["--snapshot", str(snapshot), *command], timeout=120, cwd=cwd)
        out = "\n".join(line for line in out.splitlines()
                        if not re.match(r"^\d{4}-\d\d-\d\dT.* (ERROR|WARN|INFO) ", line))
        if until(out):
            break
    return out


@covers("tools", clients=["kafka-tools", "java-4.4", "librdkafka"])
def test_kafka_tools_read_runnel_logs(broker_factory, topic_name, tmp_path):
    b = broker_factory({"log.index.interval.bytes": "4096", "log.segment.bytes": "200000",
                        "broker.rack": "rack-a"})
    topic, gone, group = topic_name("orders"), topic_name("gone"), topic_name("group")
    ok(JAVA.admin(b.bootstrap, [
        {"call": "createTopics", "topics": [
            {"name": topic, "partitions": 2, "configs": {"retention.ms": "3600000"}},
            {"name": gone, "partitions": 1}]},
        {"call": "createPartitions", "counts": {topic: 3}},
        {"call": "incrementalAlterConfigs", "resources": [
            {"type": "broker", "name": "", "ops": [{"name": "log.retention.ms", "value": "86400000"}]}]},
    ]))
    [described] = ok(JAVA.admin(b.bootstrap, [{"call": "describeTopics", "names": [topic, gone]}]))
    ok(JAVA.admin(b.bootstrap, [{"call": "deleteTopics", "names": [gone]}]))

    # An idempotent producer (a producer id block from the controller), a
    # few thousand records in many batches, and a group that commits.
    producer = Producer(ck_conf(b.bootstrap, **{"enable.idempotence": True, "linger.ms": 0}))
    for i in range(3000):
        producer.produce(topic, key=b"k%d" % i, value=b"v" * 100 + b"%d" % i, partition=0)
        if i % 50 == 0:
            producer.flush()
    assert producer.flush(30) == 0
    del producer
    consumer = Consumer(ck_conf(b.bootstrap, **{"group.id": group, "enable.auto.commit": False}))
    consumer.assign([TopicPartition(topic, 0, 0)])
    seen = 0
    while seen < 1234:
        m = consumer.poll(10)
        assert m is not None and m.error() is None, m and m.error()
        seen += 1
    consumer.commit(offsets=[TopicPartition(topic, 0, 1234)], asynchronous=False)
    consumer.close()
    b.stop()
    # A second life of the node: it registers again, with a new epoch.
    b.start()
    assert JAVA.admin(b.bootstrap, [{"call": "listTopics"}])[0]["ok"]
    b.stop()

    # --- the metadata log, record by record -----------------------------
    records = metadata_records(b.data_dir, tmp_path)
    assert [r["offset"] for r in records] == list(range(len(records)))
    assert records[0]["type"] == "FEATURE_LEVEL_RECORD"
    assert records[0]["data"] == {"name": "metadata.version", "featureLevel": 27}
    by_type: dict[str, list[dict]] = {}
    for r in records:
        by_type.setdefault(r["type"], []).append(r["data"])
    topics = {t["name"]: t["topicId"] for t in by_type["TOPIC_RECORD"]}
    assert topics[topic] == described[topic]["topic_id"]
    assert topics[gone] == described[gone]["topic_id"]
    assert "__consumer_offsets" in topics
    parts = sorted(p["partitionId"] for p in by_type["PARTITION_RECORD"] if p["topicId"] == topics[topic])
    assert parts == [0, 1, 2]
    for p in by_type["PARTITION_RECORD"]:
        assert p["replicas"] == p["isr"] == [1] and p["leader"] == 1, p
    assert {"resourceType": 2, "resourceName": topic, "name": "retention.ms",
            "value": "3600000"} in by_type["CONFIG_RECORD"]
    assert {"resourceType": 4, "resourceName": "", "name": "log.retention.ms",
            "value": "86400000"} in by_type["CONFIG_RECORD"]
    assert by_type["REMOVE_TOPIC_RECORD"] == [{"topicId": topics[gone]}]
    assert by_type["PRODUCER_IDS_RECORD"][0]["nextProducerId"] > 0

    # The broker's lifecycle (KIP-631), once per start: registered fenced
    # with its record's offset as epoch, its listener, rack and log dir;
    # unfenced; in controlled shutdown when stopped, and, its leaderships
    # moved, fenced (Kafka's SHUTDOWN_NOW).
    directory_id = re.search(r"^directory.id=(\S+)$", (b.data_dir / "meta.properties").read_text(), re.M)[1]
    lifecycle = [r for r in records if r["type"] in ("REGISTER_BROKER_RECORD", "BROKER_REGISTRATION_CHANGE_RECORD")]
    registrations = [r for r in lifecycle if r["type"] == "REGISTER_BROKER_RECORD"]
    assert len(registrations) == 2 and len(lifecycle) == 8, lifecycle
    for i, reg in enumerate(registrations):
        data = reg["data"]
        assert data["brokerId"] == 1 and data["brokerEpoch"] == reg["offset"] and data["fenced"] is True, data
        assert data["endPoints"] == [{"name": "PLAINTEXT", "host": "127.0.0.1", "port": b.port,
                                      "securityProtocol": 0}], data
        assert data["rack"] == "rack-a" and data["logDirs"] == [directory_id], data
        assert {"name": "metadata.version", "minSupportedVersion": 7,
                "maxSupportedVersion": 27} in data["features"], data
        # Versions as Kafka 4.1 writes them: v0 to (un)fence, v1 for shutdown.
        assert [r["version"] for r in lifecycle[4 * i:4 * i + 4]] == [3, 0, 1, 0], lifecycle
        unfence, leave, fence = [r["data"] for r in lifecycle[4 * i + 1:4 * i + 4]]
        assert unfence == {"brokerId": 1, "brokerEpoch": reg["offset"], "fenced": -1}, unfence
        assert leave == {"brokerId": 1, "brokerEpoch": reg["offset"], "inControlledShutdown": 1}, leave
        assert fence == {"brokerId": 1, "brokerEpoch": reg["offset"], "fenced": 1}, fence
    assert registrations[0]["data"]["incarnationId"] != registrations[1]["data"]["incarnationId"]

    # --- Kafka's metadata image, loaded by the metadata shell -----------
    # (`find /` trips over a shell bug in 4.1, so each subtree is listed.)
    log = b.data_dir / "__cluster_metadata-0" / "00000000000000000000.log"
    want_names = sorted([topic, "__consumer_offsets"])
    names = shell(log, tmp_path, "ls", "/image/topics/byName", until=lambda o: sorted(o.split()) == want_names)
    assert sorted(names.split()) == want_names, names
    # The log ends with the broker's controlled shutdown: its partitions,
    # which it alone holds, were left without a leader, as Kafka leaves them.
    partition = shell(log, tmp_path, "cat", f"/image/topics/byName/{topic}/2", until=lambda o: "leader=-1," in o)
    assert "replicas=[1]" in partition and "isr=[1]" in partition and "leader=-1," in partition, partition
    want_configs = {f"/image/configs/TOPIC:{topic}/retention.ms", "/image/configs/BROKER/log.retention.ms"}
    configs = shell(log, tmp_path, "find", "/image/configs", until=lambda o: want_configs <= set(o.split()))
    assert want_configs <= set(configs.split()), configs
    assert shell(log, tmp_path, "cat", "/image/features/metadataVersion").strip() == "Optional[4.1-IV1]"
    registration = shell(log, tmp_path, "cat", "/image/cluster/brokers/1",
                         until=lambda o: f"epoch={registrations[1]['offset']}," in o)
    assert f"epoch={registrations[1]['offset']}," in registration, registration
    assert f"port={b.port})" in registration and "rack=Optional[rack-a]" in registration, registration
    # Stopped: in controlled shutdown, and fenced once it led nothing.
    assert "fenced=true" in registration and "inControlledShutdown=true" in registration, registration

    # --- a data partition: segments, offset index, time index -----------
    pdir = b.data_dir / f"{topic}-0"
    segments = sorted(pdir.glob("*.log"))
    assert len(segments) > 1, "small segments: several to dump"
    logs = dump_each(segments, ["--deep-iteration", "--print-data-log"], tmp_path)
    indexes = dump_each([s.with_suffix(".index") for s in segments], [], tmp_path)
    timeindexes = dump_each([s.with_suffix(".timeindex") for s in segments], [], tmp_path)
    offsets = []
    for seg in segments:
        offsets += [int(o) for o in re.findall(r"^\| offset: (\d+) .* key: k\d+ payload: v+\d+$", logs[seg], re.M)]
        headers = wire.batch_headers(seg.read_bytes())
        first, last = headers[0].base_offset, headers[-1].base_offset + headers[-1].last_offset_delta
        positions = {}
        pos = 0
        for h in headers:
            positions[pos] = h.base_offset
            pos += 12 + h.batch_length
        index = indexes[seg.with_suffix(".index")]
        entries = [(int(o), int(p)) for o, p in re.findall(r"^offset: (\d+) position: (\d+)$", index, re.M)]
        assert entries, index[-500:]
        for offset, position in entries:
            # Each entry points at the start of a batch, at or below its offset.
            assert position in positions and positions[position] <= offset, (seg, offset, position)
        timeindex = timeindexes[seg.with_suffix(".timeindex")]
        stamps = [int(o) for o in re.findall(r"^timestamp: \d+ offset: (\d+)$", timeindex, re.M)]
        assert stamps and all(first <= o <= last for o in stamps), (seg, first, last, stamps[:5])
        assert "Mismatches" not in index and "Mismatches" not in timeindex
    assert offsets == list(range(3000))
    verify = dump(["--files", ",".join(str(s.with_suffix(".index")) for s in segments),
                   "--verify-index-only"], tmp_path)
    assert "Mismatches" not in verify, verify

    # --- the group's commit in __consumer_offsets ------------------------
    written = [seg for seg in b.data_dir.glob("__consumer_offsets-*/*.log") if seg.stat().st_size > 0]
    committed = [line for text in dump_each(written, ["--offsets-decoder"], tmp_path).values()
                 for line in text.splitlines() if group in line and '"offset":1234' in line]
    assert len(committed) == 1, committed


@covers("tools", clients=["kafka-tools", "java-4.4", "librdkafka"])
def test_metadata_snapshots_are_kafkas_and_bound_the_replay(broker_factory, topic_name, tmp_path):
    """With a small `metadata.log.max.record.bytes.between.snapshots`, the
    controller writes KIP-630 snapshots: Kafka's decoder reads each one
    (header, records, footer), the metadata shell loads it, the snapshot
    plus the log after it is exactly the cluster the clients see, and a
    restart loads the snapshot and replays only what came after."""
    b = broker_factory({"metadata.log.max.record.bytes.between.snapshots": "3000"})
    names = [topic_name(f"s{i}") for i in range(16)]
    for i in range(0, 16, 4):
        ok(JAVA.admin(b.bootstrap, [{"call": "createTopics", "topics": [
            {"name": n, "partitions": 2, "configs": {"retention.ms": str(1000 + j)}}
            for j, n in enumerate(names[i:i + 4])]}]))
    ok(JAVA.admin(b.bootstrap, [{"call": "deleteTopics", "names": names[:3]}]))
    admin = AdminClient(ck_conf(b.bootstrap))
    before = sorted(t for t in admin.list_topics(timeout=30).topics if t in names)
    assert before == sorted(names[3:])
    del admin
    b.stop()

    meta = b.data_dir / "__cluster_metadata-0"
    [snap] = sorted(meta.glob("*-*.checkpoint"))  # older ones were removed
    end_offset = int(snap.name.split("-")[0])
    assert end_offset > 0 and snap.name.endswith("-0000000001.checkpoint"), snap.name
    text = dump(["--cluster-metadata-decoder", "--files", str(snap)], tmp_path)
    assert f"Snapshot end offset: {end_offset}, epoch: 1" in text, text[:500]
    assert text.count("isControl: true") == 2 and "SnapshotHeader" in text and "SnapshotFooter" in text
    in_snapshot = [json.loads(p) for p in re.findall(r"^\| offset: \d+ .* payload: (.*)$", text, re.M)]
    assert in_snapshot[0]["type"] == "FEATURE_LEVEL_RECORD"
    assert in_snapshot[0]["data"]["name"] == "metadata.version"
    topics = {r["data"]["topicId"]: r["data"]["name"] for r in in_snapshot if r["type"] == "TOPIC_RECORD"}
    assert not any(r["type"] == "REMOVE_TOPIC_RECORD" for r in in_snapshot), "a snapshot holds state, not history"

    # The shell loads the snapshot into Kafka's image.
    shell_names = shell(snap, tmp_path, "ls", "/image/topics/byName",
                        until=lambda o: sorted(o.split()) == sorted(topics.values())).split()
    assert sorted(shell_names) == sorted(topics.values())

    # Snapshot + the log's records from its end offset = what clients saw.
    for r in metadata_records(b.data_dir, tmp_path):
        if r["offset"] < end_offset:
            continue
        if r["type"] == "TOPIC_RECORD":
            topics[r["data"]["topicId"]] = r["data"]["name"]
        elif r["type"] == "REMOVE_TOPIC_RECORD":
            topics.pop(r["data"]["topicId"])
    assert sorted(n for n in topics.values() if n in names) == before

    # A restart starts from the snapshot, and nothing is lost.
    b.start()
    stderr = b.stderr_path.read_text(errors="replace")
    assert "metadata snapshot loaded" in stderr and snap.name in stderr
    [listed, configs] = ok(JAVA.admin(b.bootstrap, [
        {"call": "listTopics"},
        {"call": "describeConfigs", "resources": [{"type": "topic", "name": names[5]}]}]))
    assert sorted(n for n in listed["names"] if n in names) == before
    assert configs[names[5]]["retention.ms"]["value"] == "1001"

    # kill -9 after more acknowledged decisions: the next start recovers
    # the newest snapshot and every decision after it.
    late = [topic_name(f"late{i}") for i in range(8)]
    ok(JAVA.admin(b.bootstrap, [{"call": "createTopics", "topics": [
        {"name": n, "partitions": 2} for n in late]}]))
    ok(JAVA.admin(b.bootstrap, [{"call": "deleteTopics", "names": late[:2]}]))
    b.stop(signal.SIGKILL)
    b.start()
    [listed] = ok(JAVA.admin(b.bootstrap, [{"call": "listTopics"}]))
    assert sorted(n for n in listed["names"] if n in names + late) == sorted(before + late[2:])
    assert not list(meta.glob("*.checkpoint.part"))
