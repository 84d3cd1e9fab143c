"""ListOffsets (earliest, latest, by time, max timestamp) and
OffsetForLeaderEpoch after writes, DeleteRecords and retention."""

import time

import pytest

from target import build_batch

EARLIEST, LATEST, MAX_TIMESTAMP, EARLIEST_LOCAL = -2, -1, -3, -4


def write_known_log(t, topic, compression=0):
    """Three batches with fixed timestamps (t0 + ...): offsets 0-4 (ts 1000-1004),
    5-9 (ts 2000-2009 step 2, max in the middle), 10-11 (ts 3000, 2500)."""
    t.produce_ok(topic, 0, build_batch([(None, b"a%d" % i, t.ts(1000 + i)) for i in range(5)],
                                       compression=compression))
    ts = [2000, 2002, 2009, 2004, 2006]
    t.produce_ok(topic, 0, build_batch([(None, b"b%d" % i, t.ts(ts[i])) for i in range(5)], compression=compression))
    t.produce_ok(topic, 0, build_batch([(None, b"c0", t.ts(3000)), (None, b"c1", t.ts(2500))],
                                       compression=compression))


def offsets_table(t, topic):
    out = {}
    for label, ts in (("latest", LATEST), ("earliest", EARLIEST), ("max_timestamp", MAX_TIMESTAMP),
                      ("earliest_local", EARLIEST_LOCAL), ("before_all", 10), ("ts_1003", 1003),
                      ("ts_2003", 2003), ("ts_2009", 2009), ("ts_2600", 2600), ("ts_3000", 3000),
                      ("after_all", 4000)):
        r = t.list_offset(topic, 0, ts if ts < 0 else t.ts(ts))
        if r["Timestamp"] >= t.t0:
            r["Timestamp"] = f"t0 + {r['Timestamp'] - t.t0}"
        out[label] = r
    return out


@pytest.mark.smoke
def test_list_offsets_after_writes(differential):
    def observe(t):
        topic = t.name("lo")
        t.create_topic(topic)
        write_known_log(t, topic)
        return offsets_table(t, topic)

    differential(observe)


def test_list_offsets_compressed(differential):
    def observe(t):
        topic = t.name("loz")
        t.create_topic(topic)
        write_known_log(t, topic, compression=1)  # gzip
        return offsets_table(t, topic)

    differential(observe)


def test_list_offsets_errors_and_versions(differential):
    def observe(t):
        topic = t.name("loe")
        t.create_topic(topic)
        write_known_log(t, topic)
        out = {}
        out["unknown_topic"] = t.list_offset(t.name("none"), 0, LATEST)
        out["unknown_partition"] = t.list_offset(topic, 7, LATEST)
        out["v1_latest"] = t.list_offset(topic, 0, LATEST, version=1)
        out["v4_max_ts_not_in_version"] = t.list_offset(topic, 0, MAX_TIMESTAMP, version=4)
        r = t.call("ListOffsets", 9, {"ReplicaId": -1, "IsolationLevel": 0, "Topics": [
            {"Name": topic, "Partitions": [{"PartitionIndex": 0, "Timestamp": LATEST, "CurrentLeaderEpoch": 7}]}]})
        out["fenced_epoch"] = r["Topics"][0]["Partitions"][0]
        r = t.call("ListOffsets", 9, {"ReplicaId": -1, "IsolationLevel": 1, "Topics": [
            {"Name": topic, "Partitions": [{"PartitionIndex": 0, "Timestamp": LATEST, "CurrentLeaderEpoch": 0}]}]})
        out["read_committed"] = r["Topics"][0]["Partitions"][0]
        return out

    differential(observe)


def epochs(t, topic, epoch, current=-1, version=4, partition=0):
    r = t.call("OffsetForLeaderEpoch", version, {"ReplicaId": -1, "Topics": [
        {"Topic": topic, "Partitions": [{"Partition": partition, "CurrentLeaderEpoch": current,
                                         "LeaderEpoch": epoch}]}]})
    return r["Topics"][0]["Partitions"][0]


def test_offset_for_leader_epoch(differential):
    def observe(t):
        topic = t.name("ofle")
        t.create_topic(topic)
        empty = {"epoch0_empty": epochs(t, topic, 0)}
        write_known_log(t, topic)
        return {**empty,
                "epoch0": epochs(t, topic, 0),
                "epoch_above": epochs(t, topic, 5),
                "current_fenced": epochs(t, topic, 0, current=9),
                "current_ok": epochs(t, topic, 0, current=0),
                "unknown_topic": epochs(t, t.name("none"), 0),
                "unknown_partition": epochs(t, topic, 0, partition=3),
                "v2": epochs(t, topic, 0, version=2)}

    differential(observe)


def delete_records(t, topic, offset, partition=0):
    r = t.call("DeleteRecords", 2, {"Topics": [{"Name": topic, "Partitions": [
        {"PartitionIndex": partition, "Offset": offset}]}], "TimeoutMs": 30000})
    return r["Topics"][0]["Partitions"][0]


def test_delete_records_and_offsets(differential):
    def observe(t):
        topic = t.name("dr")
        t.create_topic(topic)
        write_known_log(t, topic)
        out = {"delete_to_7": delete_records(t, topic, 7)}
        out["offsets_after"] = offsets_table(t, topic)
        out["epoch0_after"] = epochs(t, topic, 0)
        out["delete_backwards"] = delete_records(t, topic, 3)
        out["delete_past_hw"] = delete_records(t, topic, 99)
        out["delete_to_hw"] = delete_records(t, topic, -1)
        out["offsets_after_all"] = offsets_table(t, topic)
        out["unknown_topic"] = delete_records(t, t.name("none"), 1)
        out["unknown_partition"] = delete_records(t, topic, 1, partition=4)
        compacted = t.name("drc")
        t.create_topic(compacted, configs={"cleanup.policy": "compact"})
        t.produce_ok(compacted, 0, build_batch([(b"k", b"v", t.ts(1000))]))
        out["compacted"] = delete_records(t, compacted, 1)
        out["offsets_topic"] = delete_records(t, "__consumer_offsets", 0)
        return out

    differential(observe)


def test_retention_moves_log_start(differential):
    """retention.ms small: how far the log start moves within a few seconds
    (Kafka rolls and deletes the expired active segment)."""
    def observe(t):
        topic = t.name("ret")
        t.create_topic(topic, configs={"retention.ms": "1000", "segment.ms": "1000"})
        now = int(time.time() * 1000)
        t.produce_ok(topic, 0, build_batch([(None, b"old%d" % i, now - 60_000) for i in range(3)]))
        t.produce_ok(topic, 0, build_batch([(None, b"new%d" % i, now) for i in range(2)]))
        # Poll for the start to reach the end; observe wherever it is after 15 s.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if t.list_offset(topic, 0, EARLIEST)["Offset"] == 5:
                break
            time.sleep(0.25)
        out = {"earliest": t.list_offset(topic, 0, EARLIEST), "latest": t.list_offset(topic, 0, LATEST)}
        out["earliest"]["Timestamp"] = t.norm.timestamp(out["earliest"]["Timestamp"], now - 60_000, now)
        return out

    differential(observe)
