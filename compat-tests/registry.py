"""The client registry: every client implementation the suite runs, what it
can do, and one uniform way to produce, consume, run admin calls and start
group members with it.

A test states once which feature it proves and gets parametrized over every
client that has it:

    @for_clients("compression")
    def test_codecs(broker, client): ...

`for_clients` also marks the test with the features it covers, and
`make compat-matrix` prints the feature × client table from the collected
tests (see conftest.py), so the table is true to the tests by construction.
Tests written for fixed clients say so with `covers("feature", clients=[...])`.

Options understood by every adapter's produce: `acks` ("all", "1", "0"),
`compression` (a codec name), `idempotent` (bool); anything else is passed
to the client as is.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Callable

import pytest

import drivers
from clients import (
    Got,
    Rec,
    aio_consume,
    aio_produce,
    ck_consume,
    ck_produce,
    kp_consume,
    kp_produce,
)

# Features, in the order of the table. Descriptions appear in docs/compatibility.md.
FEATURES: dict[str, str] = {
    "produce": "produce with keys, null keys, tombstones, headers, explicit timestamps",
    "consume": "consume by assign + seek, exact content and offsets",
    "acks": "acks=0 and acks=1",
    "compression": "produce compressed (every codec the client has), read back by another client",
    "idempotence": "idempotent producer: producer id and gapless sequences in the stored batches",
    "large-records": "records near and over max.request.size / message.max.bytes",
    "restart": "a producer that keeps going across a broker restart",
    "groups": "classic consumer group: members share partitions, survive a leave and a kill",
    "cooperative": "classic group with incremental cooperative rebalancing",
    "static": "static membership (group.instance.id)",
    "kip848": "KIP-848 consumer group (group.protocol=consumer)",
    "offsets": "list offsets (earliest, latest, by timestamp), committed offsets",
    "admin-topics": "create (validate-only, configs), describe, list, delete topics, create partitions",
    "admin-configs": "describe and alter topic and broker configs",
    "admin-groups": "list, describe, delete groups; list, alter, delete group offsets",
    "delete-records": "DeleteRecords moves the log start offset",
    "streams": "Kafka Streams application (state store, changelog and repartition topics)",
    "connect": "Kafka Connect workers (standalone and distributed) with the file connectors",
    "tools": "Kafka's command-line tools",
    "cluster": "a Runnel cluster (controller + 3 brokers): clients routed to each leader, admin via any broker",
    "replication": "RF=3 with min.insync.replicas=2: acks=all waits for the ISR, kill -9 of a leader loses no acknowledged record",
    "leader-election": "ElectLeaders (kafka-leader-election, Admin electLeaders) and the controller's auto leader rebalance",
    "compaction": "a compacted topic after the log cleaner ran: latest value per key, kill -9 mid-swap, restore",
    "not-supported": "transactions, ACLs and SCRAM refused at once with a documented error and a broker WARN",
}


@dataclass(frozen=True)
class Client:
    """One client implementation at one version (or one configuration of it)."""

    name: str
    stack: str  # the implementation; two clients of one stack are not independent
    version: str
    features: frozenset[str]
    codecs: tuple[str, ...] = ()
    # Group flavours: name -> (features it proves, member config).
    groups: dict = field(default_factory=dict, hash=False, compare=False)
    # Does the client keep the order of headers with repeated names?
    header_order: bool = True
    _produce: Callable | None = field(default=None, hash=False, compare=False, repr=False)
    _consume: Callable | None = field(default=None, hash=False, compare=False, repr=False)
    driver_key: str | None = None  # which driver process serves it
    driver_client: str | None = None  # the "client" field of its commands
    base_config: dict = field(default_factory=dict, hash=False, compare=False)

    def __str__(self) -> str:
        return self.name

    def has(self, *features: str) -> bool:
        return all(f in self.features for f in features)

    # --- driver-backed clients --------------------------------------------------

    def driver(self) -> drivers.Driver:
        assert self.driver_key, f"{self.name} has no driver"
        return drivers.driver(self.driver_key, DRIVER_ARGV[self.driver_key])

    def call(self, op: str, *, allow_log: tuple[str, ...] = (), timeout: float = 150, **args):
        if self.driver_client:
            args["client"] = self.driver_client
        args["config"] = {**self.base_config, **args.get("config", {})}
        return self.driver().call(op, allow_log=allow_log, timeout=timeout, **args)

    # --- the uniform operations ------------------------------------------------------

    def produce(self, bootstrap: str, topic: str, recs: list[Rec], **opts) -> list[tuple[int, int]]:
        """Produce and wait for every acknowledgement; (partition, offset) per record."""
        if self._produce is not None:
            return self._produce(bootstrap, topic, recs, **opts)
        results = self.produce_results(bootstrap, topic, recs, **opts)
        failed = [r for r in results if r.get("error")]
        assert not failed, f"{self.name}: {len(failed)} of {len(results)} records failed, first: {failed[0]}"
        return [(r["partition"], r["offset"]) for r in results]

    def produce_results(self, bootstrap: str, topic: str, recs: list[Rec], allow_log=(), **opts) -> list[dict]:
        """Produce through the driver; each record's outcome, errors included."""
        return self.call("produce", bootstrap=bootstrap, topic=topic, records=[rec_json(r) for r in recs],
                         config=self.produce_config(opts), allow_log=allow_log)

    def produce_config(self, opts: dict) -> dict:
        return PRODUCE_CONFIG[self.stack](opts)

    def consume(self, bootstrap: str, topic: str, want: dict[int, int], start: dict[int, int] | None = None,
                **config) -> dict[int, list[Got]]:
        if self._consume is not None:
            return self._consume(bootstrap, topic, want, start, **config)
        got = self.call("consume", bootstrap=bootstrap, topic=topic, want={str(p): n for p, n in want.items()},
                        start={str(p): o for p, o in (start or {}).items()}, config=config)
        return {int(p): [got_json(r) for r in recs] for p, recs in got.items()}

    def produce_paced(self, bootstrap: str, topic: str, partition: int, duration_ms: int, rate: int = 1000,
                      **config) -> drivers.Reply:
        """A steady write of keys "0", "1", ... to one partition for `duration_ms` at `rate` records/s
        (drivers/java PacedProducer.java; acks=all and idempotence unless `config` says otherwise).
        The reply as it came: its result has `acked` ([key, offset, ack wall-clock ms]) and `errors`,
        and its `log` the client's WARN/ERROR lines, which a test that kills a broker under the
        writer expects some of and judges itself."""
        assert self.stack == "java", f"{self.name}: produce_paced is a Java driver op"
        return self.driver().raw("produce_paced", timeout=duration_ms / 1000 + 120, bootstrap=bootstrap,
                                 topic=topic, partition=partition, duration_ms=duration_ms, rate=rate,
                                 config={**self.base_config, **config})

    def admin(self, bootstrap: str, calls: list[dict], allow_log: tuple[str, ...] = ()) -> list[dict]:
        """Run admin calls in order; one {"call", "ok", "result" | "error"} per call."""
        return self.call("admin", bootstrap=bootstrap, calls=calls, allow_log=allow_log)

    def member_argv(self, flavour: str, bootstrap: str, topic: str, group: str, out: str,
                    instance: str | None = None, session_ms: int | None = None) -> list[str]:
        """The command line of one group member process (group_member.py's output format)."""
        _, config = self.groups[flavour]
        config = {**self.base_config, **config}
        if self.stack == "java":
            if instance:
                config["group.instance.id"] = instance
            if session_ms and config.get("group.protocol") != "consumer":
                config["session.timeout.ms"] = str(session_ms)
        else:
            if instance:
                config["instance_id"] = instance
            if session_ms:
                config["session_ms"] = str(session_ms)
        args = {"bootstrap": bootstrap, "topic": topic, "group": group, "out": out, "config": config}
        if self.driver_client:
            args["client"] = self.driver_client
        return DRIVER_ARGV[self.driver_key](mode="member", arg=json.dumps(args))


def b64(b: bytes | None) -> str | None:
    return None if b is None else base64.b64encode(b).decode()


def unb64(s: str | None) -> bytes | None:
    return None if s is None else base64.b64decode(s)


def rec_json(r: Rec) -> dict:
    return {"p": r.partition, "k": b64(r.key), "v": b64(r.value),
            "h": [[k, b64(v)] for k, v in r.headers], "ts": r.timestamp_ms}


def got_json(r: dict) -> Got:
    return Got(r["p"], r["o"], unb64(r["k"]), unb64(r["v"]), tuple((k, unb64(v)) for k, v in r["h"]), r["ts"])


# --- per-stack option mapping ---------------------------------------------------------

def _java_produce(opts: dict) -> dict:
    conf = {"linger.ms": "5"}
    for k, v in opts.items():
        if k == "compression":
            conf["compression.type"] = v
        elif k == "idempotent":
            conf["enable.idempotence"] = "true" if v else "false"
        else:
            conf[k] = str(v)
    if conf.get("acks") in ("0", "1") and "enable.idempotence" not in conf:
        conf["enable.idempotence"] = "false"  # the default (true) requires acks=all
    return conf


def _go_produce(opts: dict) -> dict:
    conf = {}
    for k, v in opts.items():
        if k == "idempotent":
            conf["idempotent"] = "true" if v else "false"
        else:
            conf[k] = str(v)
    return conf


PRODUCE_CONFIG = {"java": _java_produce, "franz-go": _go_produce, "sarama": _go_produce, "kafkajs": _go_produce}


def _ck_produce(bootstrap, topic, recs, **opts):
    conf = {}
    for k, v in opts.items():
        conf[{"compression": "compression.type", "idempotent": "enable.idempotence"}.get(k, k)] = v
    return ck_produce(bootstrap, topic, recs, **conf)


def _kp_like(fn):
    def produce(bootstrap, topic, recs, **opts):
        conf = {}
        for k, v in opts.items():
            if k == "acks":
                conf["acks"] = v if v == "all" else int(v)
            else:
                conf[{"compression": "compression_type", "idempotent": "enable_idempotence"}.get(k, k)] = v
        return fn(bootstrap, topic, recs, **conf)
    return produce


def _driver_argv(base):
    def make(mode: str = "serve", arg: str | None = None) -> list[str]:
        return base(mode, *([arg] if arg is not None else []))
    return make


DRIVER_ARGV = {
    **{f"java-{v}": _driver_argv(lambda mode, *a, v=v: drivers.java_argv(v, "runnel.compat.Driver", mode, *a))
       for v in drivers.JAVA_VERSIONS},
    "go": _driver_argv(lambda mode, *a: drivers.go_argv(mode, *a)),
    "js": _driver_argv(lambda mode, *a: drivers.js_argv(mode, *a)),
}

# --- the clients ------------------------------------------------------------------------

ALL_CODECS = ("gzip", "snappy", "lz4", "zstd")
BASE = frozenset({"produce", "consume", "acks", "compression", "idempotence"})

JAVA_GROUPS = {
    "range": ({"groups"}, {"group.protocol": "classic", "heartbeat.interval.ms": "500",
                           "session.timeout.ms": "6000",
                           "partition.assignment.strategy": "org.apache.kafka.clients.consumer.RangeAssignor"}),
    "cooperative-sticky": ({"groups", "cooperative"}, {
        "group.protocol": "classic", "heartbeat.interval.ms": "500", "session.timeout.ms": "6000",
        "partition.assignment.strategy": "org.apache.kafka.clients.consumer.CooperativeStickyAssignor"}),
    "consumer": ({"kip848"}, {"group.protocol": "consumer"}),
}


def _java(version: str) -> Client:
    short = ".".join(version.split(".")[:2])
    return Client(
        name=f"java-{short}", stack="java", version=f"kafka-clients {version}",
        features=BASE | {"large-records", "restart", "groups", "cooperative", "static", "kip848", "offsets",
                         "admin-topics", "admin-configs", "admin-groups", "delete-records"},
        codecs=ALL_CODECS, groups=JAVA_GROUPS, driver_key=f"java-{version}")


def _module_version(path: str) -> str:
    for line in (drivers.DRIVERS / "go" / "go.mod").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == path:
            return parts[1]
    raise AssertionError(f"{path} not in drivers/go/go.mod")


def _npm_version(name: str) -> str:
    return json.loads((drivers.DRIVERS / "js" / "package.json").read_text())["dependencies"][name]


FRANZ = Client(
    name="franz-go", stack="franz-go",
    version=f"franz-go {_module_version('github.com/twmb/franz-go')}, kadm "
            f"{_module_version('github.com/twmb/franz-go/pkg/kadm')}",
    features=BASE | {"groups", "cooperative", "static", "kip848", "offsets", "admin-topics", "admin-configs",
                     "admin-groups", "delete-records"},
    codecs=ALL_CODECS,
    groups={"cooperative-sticky": ({"groups", "cooperative"}, {}),
            "consumer": ({"kip848"}, {"group_protocol": "consumer", "balancer": "range"})},
    driver_key="go", driver_client="franz")

SARAMA_FEATURES = BASE | {"groups", "static", "offsets", "admin-topics", "admin-configs", "admin-groups",
                          "delete-records"}


def _sarama(name: str, version: str, codecs: tuple[str, ...]) -> Client:
    return Client(
        name=name, stack="sarama",
        version=f"sarama {_module_version('github.com/IBM/sarama')}, Config.Version={version}",
        features=SARAMA_FEATURES, codecs=codecs,
        groups={"range": ({"groups"}, {"balancer": "range"})},
        driver_key="go", driver_client="sarama", base_config={"version": version})


KAFKAJS = Client(
    name="kafkajs", stack="kafkajs", version=f"kafkajs {_npm_version('kafkajs')}",
    features=BASE | {"groups", "offsets", "admin-topics", "admin-configs", "admin-groups", "delete-records"},
    codecs=("gzip",),  # the others need codec plugins kafkajs does not ship
    groups={"eager": ({"groups"}, {})},
    header_order=False, driver_key="js")

LIBRDKAFKA = Client(name="librdkafka", stack="librdkafka", version="confluent-kafka (librdkafka) 2.16",
                    features=BASE, codecs=ALL_CODECS, _produce=_ck_produce, _consume=ck_consume)
KAFKA_PYTHON = Client(name="kafka-python", stack="kafka-python", version="kafka-python 2.3",
                      features=BASE, codecs=ALL_CODECS, _produce=_kp_like(kp_produce), _consume=kp_consume)
AIOKAFKA = Client(name="aiokafka", stack="aiokafka", version="aiokafka 0.14",
                  features=BASE, codecs=ALL_CODECS, _produce=_kp_like(aio_produce), _consume=aio_consume)
KCAT = Client(name="kcat", stack="librdkafka", version="kcat (Debian's librdkafka)", features=frozenset())

# Applications built on the Java client, run from Maven Central jars
# (drivers/kafka-tools, drivers/java, drivers/connect pom files).
KAFKA_TOOLS = Client(name="kafka-tools", stack="java", version="kafka-tools 4.4.0", features=frozenset({"tools"}))
STREAMS = Client(name="kafka-streams", stack="java", version="kafka-streams 4.4.0", features=frozenset({"streams"}))
CONNECT = Client(name="kafka-connect", stack="java", version="connect-runtime, connect-file, connect-json 4.3.1",
                 features=frozenset({"connect"}))

# sarama's codec code does not depend on Config.Version, only the Produce
# version does (zstd needs v7+): the second sarama runs zstd alone.
DRIVER_CLIENTS = [*(_java(v) for v in drivers.JAVA_VERSIONS), FRANZ, _sarama("sarama", "default", ALL_CODECS),
                  _sarama("sarama-v4.1", "4.1.0", ("zstd",)), KAFKAJS]
PYTHON_CLIENTS = [LIBRDKAFKA, KAFKA_PYTHON, AIOKAFKA, KCAT]
APPLICATIONS = [KAFKA_TOOLS, STREAMS, CONNECT]
CLIENTS = DRIVER_CLIENTS + PYTHON_CLIENTS + APPLICATIONS
BY_NAME = {c.name: c for c in CLIENTS}

# Old short names used by the pre-registry tests (clients.py prefixes).
SHORT = {"ck": "librdkafka", "ck-coop": "librdkafka", "ck-848": "librdkafka", "kp": "kafka-python",
         "aio": "aiokafka", "kcat": "kcat"}


def clients_with(*features: str, among: list[Client] | None = None) -> list[Client]:
    return [c for c in (among or DRIVER_CLIENTS) if c.has(*features)]


def covers(*features: str, clients=None):
    """Mark a test as covering `features` with fixed `clients` (names or short names)."""
    unknown = [f for f in features if f not in FEATURES]
    assert not unknown, f"unknown features {unknown}"
    names = [SHORT.get(c, c) for c in (clients or [])]
    return pytest.mark.covers(*features, clients=names)


def for_clients(*features: str, among: list[Client] | None = None):
    """Parametrize `client` over every registered client that has `features`."""
    chosen = clients_with(*features, among=among)
    assert chosen, f"no client has {features}"

    def wrap(fn):
        fn = pytest.mark.parametrize("client", chosen, ids=[c.name for c in chosen])(fn)
        return covers(*features)(fn)
    return wrap


def group_flavours(feature: str, among: list[Client] | None = None) -> list:
    """(client, flavour) pairs whose group flavour proves `feature`, as pytest params."""
    out = []
    for c in among or DRIVER_CLIENTS:
        for flavour, (proves, _) in c.groups.items():
            if feature in proves:
                out.append(pytest.param(c, flavour, id=f"{c.name}-{flavour}", marks=covers(*sorted(proves))))
    return out
