"""What a scenario sees of one broker: connections, names and set-up helpers.

The helpers do the same thing on either broker through the same raw
requests (kproto), and wait for what Kafka makes asynchronous (a new topic's
leader, a group's state) by polling an answer, never by sleeping a fixed
time. Their own answers are checked (a set-up that failed is a test error,
not an observation); scenarios observe with `conn()` calls.
"""

from __future__ import annotations

import time

from kafka.record.default_records import DefaultRecordBatchBuilder

import kproto
from compare import Normalizer


class SetupError(Exception):
    pass


def build_batch(records: list[tuple[bytes | None, bytes | None, int]], *, compression: int = 0,
                producer_id: int = -1, producer_epoch: int = -1, base_sequence: int = -1) -> bytes:
    """A RecordBatch v2 of (key, value, timestamp ms) records, built by
    kafka-python's encoder (CRC32C included)."""
    b = DefaultRecordBatchBuilder(magic=2, compression_type=compression, is_transactional=False,
                                  producer_id=producer_id, producer_epoch=producer_epoch,
                                  base_sequence=base_sequence, batch_size=64 << 20)
    for i, (key, value, ts) in enumerate(records):
        b.append(i, timestamp=ts, key=key, value=value, headers=[])
    return bytes(b.build())


class Target:
    def __init__(self, broker, kind: str, suffix: str, t0: int):
        self.broker, self.kind, self.suffix = broker, kind, suffix
        # Record timestamps are `t0 + x`, the same on both brokers of one
        # scenario run and recent enough that no retention deletes them.
        self.t0 = t0
        self.norm = Normalizer()
        self._conn = None
        self._coordinators = {}

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    @property
    def port(self) -> int:
        return self.broker.port

    def ts(self, x: int) -> int:
        return self.t0 + x

    def name(self, stem: str) -> str:
        """The same name on both brokers within one scenario run."""
        return f"{stem}-{self.suffix}"

    def conn(self) -> kproto.Connection:
        """A connection kept for the scenario (opened on first use)."""
        if self._conn is None:
            self._conn = kproto.Connection(self.bootstrap)
        return self._conn

    def new_conn(self, client_id: str | None = "differential") -> kproto.Connection:
        return kproto.Connection(self.bootstrap, client_id=client_id)

    def call(self, api: str, version: int, body: dict | None = None) -> dict:
        return self.conn().call(api, version, body)

    # --- set-up helpers ----------------------------------------------------------

    def create_topic(self, name: str, partitions: int = 1, configs: dict[str, str] | None = None) -> str:
        r = self.call("CreateTopics", 7, {
            "Topics": [{"Name": name, "NumPartitions": partitions, "ReplicationFactor": 1,
                        "Configs": [{"Name": k, "Value": v} for k, v in (configs or {}).items()]}],
            "TimeoutMs": 30000,
        })
        err = r["Topics"][0]["ErrorCode"]
        if err != 0:
            raise SetupError(f"{self.kind}: CreateTopics {name}: error {err} {r['Topics'][0]['ErrorMessage']}")
        self.wait_leaders(name, partitions)
        return r["Topics"][0]["TopicId"]

    def wait_leaders(self, name: str, partitions: int, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            md = self.call("Metadata", 12, {"Topics": [{"Name": name}], "AllowAutoTopicCreation": False})
            t = md["Topics"][0]
            if t["ErrorCode"] == 0 and len(t["Partitions"]) == partitions and \
                    all(p["LeaderId"] >= 0 and p["ErrorCode"] == 0 for p in t["Partitions"]):
                return t
            if time.monotonic() > deadline:
                raise SetupError(f"{self.kind}: {name} has no leaders after {timeout}s: {t}")
            time.sleep(0.05)

    def produce(self, topic: str, partition: int, batch: bytes, acks: int = -1, version: int = 9) -> dict:
        """One Produce request with one batch; returns the partition's answer."""
        r = self.call("Produce", version, {
            "Acks": acks, "TimeoutMs": 30000,
            "TopicData": [{"Name": topic, "PartitionData": [{"Index": partition, "Records": batch}]}],
        })
        return r["Responses"][0]["PartitionResponses"][0]

    def produce_ok(self, topic: str, partition: int, batch: bytes) -> int:
        """Set-up writes, retried as clients retry while a new partition's
        leader is being installed (Kafka: NOT_LEADER_OR_FOLLOWER for a moment
        after Metadata already names the leader)."""
        deadline = time.monotonic() + 30
        while True:
            p = self.produce(topic, partition, batch)
            if p["ErrorCode"] not in (3, 5, 6) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if p["ErrorCode"] != 0:
            raise SetupError(f"{self.kind}: produce to {topic}-{partition}: error {p['ErrorCode']}")
        return p["BaseOffset"]

    def list_offset(self, topic: str, partition: int, timestamp: int, version: int = 9) -> dict:
        r = self.call("ListOffsets", version, {
            "ReplicaId": -1, "IsolationLevel": 0,
            "Topics": [{"Name": topic, "Partitions": [{"PartitionIndex": partition, "Timestamp": timestamp,
                                                       "CurrentLeaderEpoch": -1}]}],
        })
        return r["Topics"][0]["Partitions"][0]

    def wait_for(self, what: str, predicate, timeout: float = 30.0, period: float = 0.1):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise SetupError(f"{self.kind}: {what} not within {timeout}s")
            time.sleep(period)

    def find_coordinator(self, group: str, key_type: int = 0) -> dict:
        """FindCoordinator until it names a node, as every client does before
        using a group: Kafka creates `__consumer_offsets` on the first one
        and answers COORDINATOR_NOT_AVAILABLE until its partitions lead."""
        if (group, key_type) in self._coordinators:
            return self._coordinators[(group, key_type)]

        def found():
            r = self.call("FindCoordinator", 6, {"Key": "", "KeyType": key_type, "CoordinatorKeys": [group]})
            c = r["Coordinators"][0]
            return c if c["ErrorCode"] == 0 else None
        c = self.wait_for(f"a coordinator for {group}", found, timeout=60, period=0.1)
        # The coordinator answers NOT_COORDINATOR until it has loaded the
        # group's offsets partition: wait for a DescribeGroups answer.
        self.wait_for(f"group coordinator of {group} loaded", lambda: self.call(
            "DescribeGroups", 5, {"Groups": [group], "IncludeAuthorizedOperations": False}
        )["Groups"][0]["ErrorCode"] == 0, timeout=60)
        self._coordinators[(group, key_type)] = c
        return c
