"""A topic of 10,000 partitions, as Kafka creates one in a single
CreateTopics: its records are one metadata batch of about 1.7 MB (over a
data topic's 1 MiB limit, which refused it before). Created with the Java
client and with librdkafka, each listed whole by the other, and still
whole after a kill -9 and a restart: the metadata batch was durable, and
recovery of 10,000 idle partitions holds one descriptor per partition, as
the running broker does (it held three, and ran out of descriptors).
One topic at a time: machines here allow 20,000 descriptors per process."""

from __future__ import annotations

import time

from confluent_kafka.admin import AdminClient, NewTopic

from clients import ck_conf
from registry import DRIVER_CLIENTS, covers

PARTITIONS = 10_000
JAVA = next(c for c in DRIVER_CLIENTS if c.name == "java-4.4")
SLOW_ADMIN = {"request.timeout.ms": "170000", "default.api.timeout.ms": "180000"}


def ck_listed(bootstrap: str, topic: str) -> int | None:
    # All topics: naming one would auto-create it once deleted.
    t = AdminClient(ck_conf(bootstrap)).list_topics(timeout=60).topics.get(topic)
    return None if t is None or t.error is not None else len(t.partitions)


def java_described(bootstrap: str, topic: str) -> int:
    [r] = JAVA.admin(bootstrap, [{"call": "describeTopics", "names": [topic]}])
    assert r["ok"], r
    return len(r["result"][topic]["partitions"])


@covers("admin-topics", clients=["java-4.4", "librdkafka"])
def test_ten_thousand_partitions_in_one_java_create_topics_survive_a_kill(broker_factory):
    b = broker_factory()
    # The answer comes once the node has made the 10,000 logs (several
    # durable files each): on a loaded 2-core machine that can take longer
    # than the client's default 30 s request timeout.
    [java] = JAVA.call("admin", bootstrap=b.bootstrap, config=SLOW_ADMIN, timeout_s=170, timeout=200, calls=[
        {"call": "createTopics", "topics": [{"name": "wide-java", "partitions": PARTITIONS, "rf": 1}]}])
    assert java["ok"] and java["result"]["wide-java"]["ok"], java
    assert java["result"]["wide-java"]["partitions"] == PARTITIONS
    assert ck_listed(b.bootstrap, "wide-java") == PARTITIONS

    b.kill()
    b.start(timeout=180)
    assert ck_listed(b.bootstrap, "wide-java") == PARTITIONS
    assert java_described(b.bootstrap, "wide-java") == PARTITIONS


# Each in a broker of its own: deleting 10,000 logs and creating 10,000 more
# on the same file system is slow on ext4 without a journal (each new inode
# is checked against the recently deleted ones), and says nothing more.
@covers("admin-topics", clients=["java-4.4", "librdkafka"])
def test_ten_thousand_partitions_in_one_librdkafka_create_topics_and_their_delete(broker_factory):
    b = broker_factory()
    admin = AdminClient(ck_conf(b.bootstrap))
    futures = admin.create_topics([NewTopic("wide-ck", PARTITIONS, 1)], request_timeout=170,
                                  operation_timeout=170)
    assert futures["wide-ck"].result(timeout=180) is None
    assert java_described(b.bootstrap, "wide-ck") == PARTITIONS
    assert ck_listed(b.bootstrap, "wide-ck") == PARTITIONS

    assert admin.delete_topics(["wide-ck"], operation_timeout=60)["wide-ck"].result(timeout=120) is None
    deadline = time.monotonic() + 60
    while ck_listed(b.bootstrap, "wide-ck") is not None:
        assert time.monotonic() < deadline, "wide-ck still listed"
        time.sleep(0.5)
