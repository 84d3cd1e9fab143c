"""Fetch answers at the edges: empty partitions, max_bytes and partition
limits (KIP-74), partial batches, out-of-range offsets, a moved log start,
unknown topic ids."""

import pytest

from records import batches
from target import build_batch


def fetch(t, topic_id, parts, max_bytes=50 << 20, version=16, min_bytes=1, max_wait=200):
    r = t.call("Fetch", version, {
        "ReplicaId": -1, "MaxWaitMs": max_wait, "MinBytes": min_bytes, "MaxBytes": max_bytes,
        "IsolationLevel": 0, "SessionId": 0, "SessionEpoch": -1,
        "Topics": [{"TopicId": topic_id, "Partitions": [
            {"Partition": p, "CurrentLeaderEpoch": -1, "FetchOffset": off, "LastFetchedEpoch": -1,
             "LogStartOffset": -1, "PartitionMaxBytes": pmax} for p, off, pmax in parts]}],
        "ForgottenTopicsData": [], "RackId": ""})
    out = {"ErrorCode": r["ErrorCode"], "SessionId": r["SessionId"], "Responses": []}
    for topic in r["Responses"]:
        topic["TopicId"] = t.norm.uuid("topic-id", topic["TopicId"])
        for p in topic["Partitions"]:
            p["Batches"] = batches(p.pop("Records"))
        out["Responses"].append(topic)
    return out


def big_batches(t, topic, partition, count, value_bytes):
    for i in range(count):
        t.produce_ok(topic, partition, build_batch([(None, bytes([65 + i]) * value_bytes, t.ts(1000 + i))]))


@pytest.mark.smoke
def test_fetch_edges(differential):
    def observe(t):
        topic = t.name("fe")
        tid = t.create_topic(topic, partitions=3)
        big_batches(t, topic, 0, 3, 100_000)
        big_batches(t, topic, 1, 2, 100_000)
        out = {}
        out["empty_partition"] = fetch(t, tid, [(2, 0, 1 << 20)], max_wait=10)
        out["max_bytes_150k"] = fetch(t, tid, [(0, 0, 1 << 20), (1, 0, 1 << 20)], max_bytes=150_000)
        out["partition_max_50k"] = fetch(t, tid, [(0, 0, 50_000)])
        out["max_bytes_1"] = fetch(t, tid, [(0, 0, 1 << 20)], max_bytes=1)
        out["from_middle_of_log"] = fetch(t, tid, [(0, 1, 1 << 20)])
        out["at_end"] = fetch(t, tid, [(0, 3, 1 << 20)], max_wait=10)
        out["past_end"] = fetch(t, tid, [(0, 4, 1 << 20)])
        out["negative_offset"] = fetch(t, tid, [(0, -5, 1 << 20)])
        out["unknown_partition"] = fetch(t, tid, [(9, 0, 1 << 20)])
        out["unknown_topic_id"] = fetch(t, "AAAAAAAAAAAAAAAAAAAAAQ", [(0, 0, 1 << 20)])
        return out

    differential(observe)


def test_fetch_after_log_start_moved(differential):
    def observe(t):
        topic = t.name("fls")
        tid = t.create_topic(topic)
        for i in range(4):
            t.produce_ok(topic, 0, build_batch([(None, b"r%d-%d" % (i, j), t.ts(1000 + i)) for j in range(3)]))
        r = t.call("DeleteRecords", 2, {"Topics": [{"Name": topic, "Partitions": [
            {"PartitionIndex": 0, "Offset": 4}]}], "TimeoutMs": 30000})
        out = {"delete": r["Topics"][0]["Partitions"][0]}
        out["below_start"] = fetch(t, tid, [(0, 0, 1 << 20)])
        out["at_start_mid_batch"] = fetch(t, tid, [(0, 4, 1 << 20)])
        out["at_batch"] = fetch(t, tid, [(0, 6, 1 << 20)])
        return out

    differential(observe)


def test_fetch_old_versions(differential):
    """Fetch v4 (names, no ids) and v11: unknown topic and data."""
    def observe(t):
        topic = t.name("fov")
        t.create_topic(topic)
        t.produce_ok(topic, 0, build_batch([(None, b"x", t.ts(1000))]))
        out = {}
        for v in (4, 11):
            body = {"ReplicaId": -1, "MaxWaitMs": 10, "MinBytes": 1, "MaxBytes": 1 << 20, "IsolationLevel": 0,
                    "SessionId": 0, "SessionEpoch": -1, "ForgottenTopicsData": [], "RackId": "",
                    "Topics": [{"Topic": name, "Partitions": [
                        {"Partition": 0, "CurrentLeaderEpoch": -1, "FetchOffset": 0, "LogStartOffset": -1,
                         "PartitionMaxBytes": 1 << 20}]} for name in (topic, t.name("none"))]}
            r = t.call("Fetch", v, body)
            for tr in r["Responses"]:
                tr["Topic"] = tr["Topic"].replace(t.suffix, "<suffix>")
                for p in tr["Partitions"]:
                    p["Batches"] = batches(p.pop("Records"))
            out[f"v{v}"] = r
        return out

    differential(observe)
