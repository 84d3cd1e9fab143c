"""Features Runnel does not have yet fail early and loudly: a transactional
producer, ACL calls and SCRAM credential calls get an error the client shows
at once (never a timeout), and the broker logs one WARN line naming the
client id. The codes and why they were chosen: src/handlers/not_supported.rs
and the README's "Not supported yet" section.
"""

from __future__ import annotations

import re
import time
import uuid

import confluent_kafka as ck
import pytest
from confluent_kafka import admin as ck_admin

from registry import DRIVER_CLIENTS, covers

JAVA = [c for c in DRIVER_CLIENTS if c.stack == "java"]
java_clients = pytest.mark.parametrize("client", JAVA, ids=[c.name for c in JAVA])

# Far above what a fast failure takes: a client that waits for it has not
# failed fast.
BLOCK_MS = 60_000
FAST_S = 2.0
TXN_MESSAGE = "transactions are not supported by Runnel yet"

# What the Java producer logs when its transaction manager hits a fatal error.
JAVA_TXN_LOG = (r"ERROR org\.apache\.kafka\.clients\.producer\.internals\.TransactionManager - .*",
                r"WARN org\.apache\.kafka\.clients\.producer\.internals\.Sender - .*")


def warn_lines(broker, since: int, client_id: str) -> list[str]:
    text = broker.tail(since, lines=10_000)
    return [line for line in text.splitlines()
            if " WARN " in line and f'client_id="{client_id}"' in line]


def wait_warn(broker, since: int, client_id: str, timeout: float = 5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        lines = warn_lines(broker, since, client_id)
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


@covers("not-supported", clients=["librdkafka"])
def test_librdkafka_transactional_producer_fails_at_once(broker):
    client_id = f"txn-ck-{uuid.uuid4().hex[:8]}"
    since = broker.stderr_size()
    p = ck.Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": f"tx-{client_id}",
                     "client.id": client_id, "transaction.timeout.ms": str(BLOCK_MS),
                     "logger": lambda *a: None})
    started = time.monotonic()
    with pytest.raises(ck.KafkaException) as info:
        p.init_transactions(BLOCK_MS / 1000)
    elapsed = time.monotonic() - started
    err = info.value.args[0]
    assert elapsed < FAST_S, f"init_transactions took {elapsed:.2f}s"
    assert err.code() == ck.KafkaError.CLUSTER_AUTHORIZATION_FAILED, err
    assert err.fatal(), err
    assert TXN_MESSAGE in err.str(), err.str()
    [line] = wait_warn(broker, since, client_id)
    assert "transactions" in line and 'api="FindCoordinator"' in line, line


@java_clients
@covers("not-supported")
def test_java_transactional_producer_fails_at_once(broker, client):
    client_id = f"txn-java-{uuid.uuid4().hex[:8]}"
    since = broker.stderr_size()
    r = client.call("init_transactions", bootstrap=broker.bootstrap, allow_log=JAVA_TXN_LOG,
                    config={"transactional.id": f"tx-{client_id}", "client.id": client_id,
                            "max.block.ms": str(BLOCK_MS)})
    assert not r["ok"], r
    assert r["elapsed_ms"] < FAST_S * 1000, r
    assert r["error"]["class"] == "KafkaException", r
    assert TXN_MESSAGE in r["error"]["message"], r
    [line] = wait_warn(broker, since, client_id)
    assert 'api="FindCoordinator"' in line, line


@covers("not-supported", clients=["librdkafka"])
def test_librdkafka_acl_and_scram_calls_are_refused(broker):
    client_id = f"sec-ck-{uuid.uuid4().hex[:8]}"
    since = broker.stderr_size()
    a = ck_admin.AdminClient({"bootstrap.servers": broker.bootstrap, "client.id": client_id})
    binding = ck_admin.AclBinding(ck_admin.ResourceType.TOPIC, "t", ck_admin.ResourcePatternType.LITERAL,
                                  "User:alice", "*", ck_admin.AclOperation.READ,
                                  ck_admin.AclPermissionType.ALLOW)
    any_acl = ck_admin.AclBindingFilter(ck_admin.ResourceType.ANY, None, ck_admin.ResourcePatternType.ANY,
                                        None, None, ck_admin.AclOperation.ANY, ck_admin.AclPermissionType.ANY)
    errors = {}
    for name, futures in (
        ("create_acls", a.create_acls([binding])),
        ("delete_acls", a.delete_acls([any_acl])),
        ("describe_scram", a.describe_user_scram_credentials(["alice"])),
        ("alter_scram", a.alter_user_scram_credentials(
            [ck_admin.UserScramCredentialDeletion("alice", ck_admin.ScramMechanism.SCRAM_SHA_256)])),
    ):
        [f] = futures.values()
        with pytest.raises(ck.KafkaException) as info:
            f.result(timeout=10)
        errors[name] = info.value.args[0]
    for name, err in errors.items():
        assert err.code() == ck.KafkaError.SECURITY_DISABLED, (name, err)
        assert "not supported by Runnel yet" in err.str(), (name, err)
    # librdkafka drops DescribeAcls' top-level error (as against Kafka
    # without an authorizer): an empty list.
    assert a.describe_acls(any_acl).result(timeout=10) == []
    lines = wait_warn(broker, since, client_id)
    assert len(lines) == 2, lines  # one per feature, not one per call
    assert {re.search(r"asked for (.+?) which", line).group(1) for line in lines} == {
        "ACLs", "SCRAM credentials"}, lines


@java_clients
@covers("not-supported")
def test_java_admin_acl_and_scram_calls_are_refused(broker, topic_name, client):
    client_id = f"sec-java-{uuid.uuid4().hex[:8]}"
    since = broker.stderr_size()
    calls = [{"call": "describeAcls"}, {"call": "describeUserScramCredentials"}]
    results = client.call("admin", bootstrap=broker.bootstrap, calls=calls, config={"client.id": client_id})
    got = {r["call"]: (r["ok"], (r.get("error") or {}).get("class")) for r in results}
    # Describing every user's credentials answers "none" (see
    # not_supported.rs); the ACL call fails as Kafka's does with no authorizer.
    assert got == {"describeAcls": (False, "SecurityDisabledException"),
                   "describeUserScramCredentials": (True, None)}, results
    acl = next(r for r in results if r["call"] == "describeAcls")
    assert "not supported by Runnel yet" in acl["error"]["message"], acl
    lines = wait_warn(broker, since, client_id)
    assert len(lines) == 2, lines
