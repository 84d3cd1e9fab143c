"""The workload, in the shape of Jepsen's Kafka queue test: idempotent
acks=all producers writing unique values to every partition of an RF=3,
min.insync.replicas=2 topic, and readers (assign and subscribe) recording
every record they see, then one final full read of every partition.

Clients: librdkafka (confluent-kafka, in-process threads) and the Java
client through Kafka's own VerifiableProducer / VerifiableConsumer (the
kafka-tools jar of compat-tests/drivers/kafka-tools), as subprocesses whose
JSON-lines output is turned into history events as it arrives.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import confluent_kafka as ck
from confluent_kafka.admin import AdminClient, NewTopic

from .history import History

REPO_ROOT = Path(__file__).resolve().parent.parent
KAFKA_TOOLS_CP = REPO_ROOT / "compat-tests" / "drivers" / "kafka-tools" / "target" / "classpath.txt"
TOPIC = "chaos"


def create_topic(bootstrap: str, partitions: int, timeout: float = 60) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    while True:
        fut = admin.create_topics([NewTopic(TOPIC, partitions, 3, config={"min.insync.replicas": "2"})])[TOPIC]
        try:
            fut.result(15)
            break
        except ck.KafkaException as e:
            if e.args[0].code() == ck.KafkaError.TOPIC_ALREADY_EXISTS:
                break
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    # Every partition led and answering before the clock starts.
    while time.monotonic() < deadline:
        md = admin.list_topics(TOPIC, timeout=5).topics.get(TOPIC)
        if md and not md.error and len(md.partitions) == partitions and all(
                p.leader >= 0 and len(p.isrs) == 3 for p in md.partitions.values()):
            return
        time.sleep(0.5)
    raise TimeoutError(f"topic {TOPIC} not fully in sync after {timeout}s")


def leaders(bootstrap: str) -> dict[int, int]:
    """partition -> leader id, as the cluster's metadata says now ({} if unknown)."""
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 3000})
        md = admin.list_topics(TOPIC, timeout=3).topics.get(TOPIC)
        return {p.id: p.leader for p in md.partitions.values()} if md else {}
    except ck.KafkaException:
        return {}


class CkProducer(threading.Thread):
    """One idempotent librdkafka producer sending `rate` values a second,
    round-robin over the partitions; value = "<name>-<seq>"."""

    def __init__(self, name: str, bootstrap: str, partitions: int, history: History, stop: threading.Event,
                 rate: float, message_timeout_ms: int):
        super().__init__(name=name, daemon=True)
        self.pname, self.bootstrap, self.partitions = name, bootstrap, partitions
        self.h, self.stop_ev, self.rate = history, stop, rate
        self.timeout_ms = message_timeout_ms
        self.error: BaseException | None = None

    def make(self) -> ck.Producer:
        return ck.Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "enable.idempotence": True,
                            "linger.ms": 5, "message.timeout.ms": self.timeout_ms, "retry.backoff.ms": 100,
                            "topic.metadata.refresh.interval.ms": 1000, "socket.timeout.ms": 5000,
                            "client.id": self.pname})

    def run(self) -> None:
        try:
            self._run()
        except BaseException as e:  # noqa: BLE001 - reported by the runner
            self.error = e

    def _run(self) -> None:
        h = self.h
        sent_at: dict[str, float] = {}

        def on_delivery(err, msg):
            value = msg.value().decode()
            now = time.time()
            if err is None:
                h.add("ack", now, proc=self.pname, value=value, partition=msg.partition(), offset=msg.offset(),
                      latency=round(now - sent_at.pop(value, now), 6))
            else:
                sent_at.pop(value, None)
                h.add("fail", now, proc=self.pname, value=value, partition=msg.partition(), error=str(err))

        producer = self.make()
        interval = 1.0 / self.rate
        seq = 0
        start = time.monotonic()
        while not self.stop_ev.is_set():
            due = start + seq * interval
            wait = due - time.monotonic()
            if wait > 0:
                producer.poll(min(wait, 0.05))
                continue
            value = f"{self.pname}-{seq}"
            part = seq % self.partitions
            sent_at[value] = time.time()
            h.add("send", sent_at[value], proc=self.pname, value=value, partition=part)
            try:
                producer.produce(TOPIC, value=value.encode(), partition=part, on_delivery=on_delivery)
            except BufferError:
                sent_at.pop(value, None)
                h.add("fail", proc=self.pname, value=value, partition=part, error="local queue full")
            except ck.KafkaException as e:
                sent_at.pop(value, None)
                h.add("fail", proc=self.pname, value=value, partition=part, error=str(e))
                if e.args[0].fatal():
                    # An idempotent producer that lost its sequence state: a new one goes on.
                    producer.flush(5)
                    producer = self.make()
            seq += 1
            producer.poll(0)
        producer.flush(self.timeout_ms / 1000 + 5)
        for value in list(sent_at):
            h.add("fail", proc=self.pname, value=value, partition=-1, error="no callback before exit")


class CkReader(threading.Thread):
    """A librdkafka consumer recording every record it polls. `group=None`:
    assign() of every partition from the start; else subscribe() in that
    group, committing synchronously once a second and recording each commit."""

    def __init__(self, name: str, bootstrap: str, partitions: int, history: History, stop: threading.Event,
                 group: str | None):
        super().__init__(name=name, daemon=True)
        self.rname, self.bootstrap, self.partitions, self.h, self.stop_ev = name, bootstrap, partitions, history, stop
        self.group = group
        self.session = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as e:  # noqa: BLE001
            self.error = e

    def _run(self) -> None:
        h = self.h
        conf = {"bootstrap.servers": self.bootstrap, "group.id": self.group or f"{self.rname}-unused",
                "enable.auto.commit": False, "auto.offset.reset": "earliest", "client.id": self.rname,
                "session.timeout.ms": 10000, "heartbeat.interval.ms": 1000,
                "topic.metadata.refresh.interval.ms": 1000, "isolation.level": "read_uncommitted"}
        c = ck.Consumer(conf)

        def on_assign(consumer, parts):
            self.session += 1
            h.add("assign", reader=self.rname, session=self.session, partitions=[p.partition for p in parts])

        if self.group is None:
            parts = [ck.TopicPartition(TOPIC, p, ck.OFFSET_BEGINNING) for p in range(self.partitions)]
            on_assign(c, parts)
            c.assign(parts)
        else:
            c.subscribe([TOPIC], on_assign=on_assign)
        last_commit = time.monotonic()
        while not self.stop_ev.is_set():
            msgs = c.consume(500, 0.2)
            for m in msgs:
                if m.error():
                    continue
                h.add("poll", reader=self.rname, session=self.session, partition=m.partition(), offset=m.offset(),
                      value=m.value().decode(errors="replace"))
            if self.group and time.monotonic() - last_commit > 1.0:
                last_commit = time.monotonic()
                try:
                    done = c.commit(asynchronous=False)
                except ck.KafkaException:
                    continue
                for tp in done or []:
                    if tp.error is None and tp.offset >= 0:
                        h.add("commit", group=self.group, reader=self.rname, partition=tp.partition, offset=tp.offset)
        c.close()


def java_cp() -> str:
    if not KAFKA_TOOLS_CP.is_file():
        raise FileNotFoundError(f"{KAFKA_TOOLS_CP} missing: run `make drivers`")
    return KAFKA_TOOLS_CP.read_text().strip()


class JavaTool(threading.Thread):
    """Kafka's VerifiableProducer or VerifiableConsumer as a subprocess; its
    JSON lines become history events."""

    def __init__(self, name: str, main_class: str, args: list[str], history: History, workdir: Path):
        super().__init__(name=name, daemon=True)
        self.tname, self.h = name, history
        self.cmd = ["java", "-Xmx256M", "-cp", java_cp(), main_class, *args]
        self.log = workdir / f"{name}.stderr.log"
        self.proc: subprocess.Popen | None = None
        self.session = 0
        self.terminated = False
        self.error: BaseException | None = None

    def run(self) -> None:
        from harness import procs
        try:
            with open(self.log, "ab") as err:
                self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                             start_new_session=True, text=True)
            with procs._LIVE_LOCK:
                procs._LIVE.add(self.proc)
            for line in self.proc.stdout:
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                self.event(ev)
            code = self.proc.wait()
            if code != 0 and not self.terminated:
                self.error = RuntimeError(f"{self.tname} exited {code}; see {self.log}")
        except BaseException as e:  # noqa: BLE001
            self.error = e

    def event(self, ev: dict) -> None:
        name = ev.get("name")
        t = ev.get("timestamp", time.time() * 1000) / 1000
        h = self.h
        if name == "producer_send_success":
            h.add("send", t, proc=self.tname, value=ev["value"], partition=ev["partition"], inferred=True)
            h.add("ack", t, proc=self.tname, value=ev["value"], partition=ev["partition"], offset=ev["offset"])
        elif name == "producer_send_error":
            h.add("send", t, proc=self.tname, value=ev["value"], partition=-1, inferred=True)
            h.add("fail", t, proc=self.tname, value=ev["value"], partition=-1,
                  error=f"{ev.get('exception')}: {ev.get('message')}")
        elif name == "partitions_assigned":
            self.session += 1
            h.add("assign", t, reader=self.tname, session=self.session,
                  partitions=[p["partition"] for p in ev.get("partitions", [])])
        elif name == "record_data":
            h.add("poll", t, reader=self.tname, session=self.session, partition=ev["partition"],
                  offset=ev["offset"], value=ev["value"])
        elif name == "offsets_committed" and ev.get("success"):
            for o in ev.get("offsets", []):
                h.add("commit", t, group=self.group, reader=self.tname, partition=o["partition"], offset=o["offset"])

    group = "chaos-java"

    def terminate(self, timeout: float = 30) -> None:
        if self.proc and self.proc.poll() is None:
            self.terminated = True
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.join(timeout)


def verifiable_producer(name: str, bootstrap: str, history: History, workdir: Path, rate: int,
                        duration_s: float, prefix: int) -> JavaTool:
    conf = workdir / f"{name}.properties"
    # VerifiableProducer sets retries=0 unless told; idempotence needs retries.
    conf.write_text("enable.idempotence=true\nacks=all\nretries=2147483647\nlinger.ms=5\ndelivery.timeout.ms=60000\n"
                    "retry.backoff.ms=100\nmetadata.max.age.ms=2000\n")
    return JavaTool(name, "org.apache.kafka.tools.VerifiableProducer",
                    ["--bootstrap-server", bootstrap, "--topic", TOPIC, "--acks", "-1",
                     "--throughput", str(rate), "--max-messages", str(int(rate * duration_s)),
                     "--producer.config", str(conf), "--value-prefix", str(prefix)], history, workdir)


def verifiable_consumer(name: str, bootstrap: str, history: History, workdir: Path) -> JavaTool:
    conf = workdir / f"{name}.properties"
    conf.write_text("metadata.max.age.ms=2000\nauto.offset.reset=earliest\n")
    return JavaTool(name, "org.apache.kafka.tools.VerifiableConsumer",
                    ["--bootstrap-server", bootstrap, "--topic", TOPIC, "--group-id", JavaTool.group,
                     "--verbose", "--reset-policy", "earliest", "--session-timeout", "10000",
                     "--consumer.config", str(conf)], history, workdir)


def final_read(bootstrap: str, partitions: int, history: History, timeout: float = 120) -> None:
    """Reads every partition from its start to its high watermark (as the
    leader reports it now) with a fresh consumer; records every record."""
    c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": "chaos-final", "enable.auto.commit": False,
                     "auto.offset.reset": "earliest", "enable.partition.eof": True})
    deadline = time.monotonic() + timeout
    ends = {}
    for p in range(partitions):
        while True:
            try:
                lo, hi = c.get_watermark_offsets(ck.TopicPartition(TOPIC, p), timeout=5)
                ends[p] = hi
                break
            except ck.KafkaException:
                if time.monotonic() > deadline:
                    ends[p] = 1 << 62  # unknown: the partition counts as unreadable
                    break
                time.sleep(1)
    history.add("phase", name="final_read", ends={str(k): v for k, v in ends.items()})
    c.assign([ck.TopicPartition(TOPIC, p, ck.OFFSET_BEGINNING) for p in range(partitions)])
    pos = {p: -1 for p in range(partitions)}
    while any(pos[p] + 1 < ends[p] for p in ends):
        if time.monotonic() > deadline:
            # Recorded, not raised: the checker reports the partitions it
            # could not read, and judges the others.
            history.add("final_incomplete", partitions=[p for p in ends if pos[p] + 1 < ends[p]],
                        leaders={str(k): v for k, v in leaders(bootstrap).items()},
                        positions={str(k): v for k, v in pos.items()}, ends={str(k): v for k, v in ends.items()})
            break
        for m in c.consume(1000, 1.0):
            if m.error():
                continue
            p = m.partition()
            if m.offset() >= ends[p]:
                continue
            pos[p] = max(pos[p], m.offset())
            history.add("final", partition=p, offset=m.offset(), value=m.value().decode(errors="replace"))
    c.close()
