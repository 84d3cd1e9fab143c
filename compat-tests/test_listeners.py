"""Several named listeners: each answers Metadata with its own advertised
endpoint, and clients on either produce and consume the same data."""

from clients import Rec, ck_consume, kcat_metadata, kp_produce
from conftest import free_port


def test_two_named_listeners_advertise_themselves(broker_factory, topic_name, kcat_path):
    external = free_port()
    b = broker_factory({
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT",
        # `listeners` is set by the harness for PLAINTEXT; add a second one.
    })
    port = b.port
    b.stop()
    b.overrides["listeners"] = f"PLAINTEXT://127.0.0.1:{port},EXTERNAL://127.0.0.1:{external}"
    b.overrides["advertised.listeners"] = f"PLAINTEXT://127.0.0.1:{port},EXTERNAL://localhost:{external}"
    b.start()

    internal_md = kcat_metadata(f"127.0.0.1:{port}")
    external_md = kcat_metadata(f"127.0.0.1:{external}")
    assert [(br["name"]) for br in internal_md["brokers"]] == [f"127.0.0.1:{port}"]
    assert [(br["name"]) for br in external_md["brokers"]] == [f"localhost:{external}"]

    topic = topic_name()
    assert kp_produce(f"127.0.0.1:{external}", topic, [Rec(0, b"k", b"via-external")]) == [(0, 0)]
    got = ck_consume(f"127.0.0.1:{port}", topic, {0: 1})
    assert [g.value for g in got[0]] == [b"via-external"]
