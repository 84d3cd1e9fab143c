"""Hostile and odd input from raw sockets: the offending connection is closed,
everyone else keeps being served.

Kafka closes a connection whose frame is larger than socket.request.max.bytes
or whose request it cannot parse (including an unknown API key). ApiVersions
is the exception (KIP-511): an unsupported version gets a v0 response with
UNSUPPORTED_VERSION and the versions the broker does support.
"""

import random
import struct

import pytest
from confluent_kafka.admin import AdminClient

import wire

DEFAULT_SOCKET_REQUEST_MAX_BYTES = 104_857_600


def assert_still_serving(broker):
    """The process is alive, a raw ApiVersions works, and a real client gets metadata."""
    assert broker.alive, f"broker died\n{broker.tail()}"
    with wire.connect(broker.bootstrap) as s:
        resp = wire.parse_api_versions_v0(wire.request(s, wire.api_versions_request(0, 4242)))
    assert (resp.correlation_id, resp.error_code) == (4242, wire.ERR_NONE)
    md = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10)
    assert [b.port for b in md.brokers.values()] == [broker.port]


def test_api_versions_v0_and_v3(broker):
    with wire.connect(broker.bootstrap) as s:
        v0 = wire.parse_api_versions_v0(wire.request(s, wire.api_versions_request(0, 1)))
        # v3 response: header v0, error, compact array... just check the header and error here.
        payload = wire.request(s, wire.api_versions_request(3, 2))
    assert (v0.correlation_id, v0.error_code) == (1, 0)
    for api in (wire.API_PRODUCE, wire.API_FETCH, wire.API_METADATA, wire.API_API_VERSIONS):
        lo, hi = v0.versions[api]
        assert 0 <= lo <= hi, (api, lo, hi)
    assert v0.versions[wire.API_API_VERSIONS][1] >= 3
    cid, err = struct.unpack_from(">ih", payload)
    assert (cid, err) == (2, 0)


def test_api_versions_unsupported_version_falls_back_to_v0(broker):
    """KIP-511: ApiVersions v127 -> a v0 response, UNSUPPORTED_VERSION, and,
    as Apache Kafka sends it, only ApiVersions' own range."""
    with wire.connect(broker.bootstrap) as s:
        resp = wire.parse_api_versions_v0(wire.request(s, wire.api_versions_request(127, 99)))
        assert resp.correlation_id == 99
        assert resp.error_code == wire.ERR_UNSUPPORTED_VERSION
        lo, hi = resp.versions[wire.API_API_VERSIONS]
        assert lo == 0 and 3 <= hi < 127
        assert set(resp.versions) == {wire.API_API_VERSIONS}
        # The connection stays usable: the client retries with a version it now knows.
        again = wire.parse_api_versions_v0(wire.request(s, wire.api_versions_request(0, 100)))
        assert (again.correlation_id, again.error_code) == (100, 0)
        assert again.versions[wire.API_API_VERSIONS] == (lo, hi)
        assert wire.API_PRODUCE in again.versions and wire.API_FETCH in again.versions


@pytest.mark.parametrize("length", [DEFAULT_SOCKET_REQUEST_MAX_BYTES + 1, 0x7FFFFFFF, -1],
                         ids=["max-plus-one", "int32-max", "negative"])
def test_oversize_or_negative_frame_closes_connection(broker, length):
    with wire.connect(broker.bootstrap) as s:
        s.sendall(struct.pack(">i", length) + wire.header_v1(wire.API_METADATA, 1, 7))
        closed, data = wire.closed_by_peer(s)
    assert closed, "broker kept a connection whose frame exceeds socket.request.max.bytes"
    assert data == b"", f"broker answered an oversize frame: {data[:64]!r}"
    assert_still_serving(broker)


def test_smaller_socket_request_max_bytes_is_enforced(broker_factory):
    b = broker_factory({"socket.request.max.bytes": "4096"})
    with wire.connect(b.bootstrap) as s:
        # A frame that fits is served...
        ok = wire.parse_api_versions_v0(wire.request(s, wire.api_versions_request(0, 5)))
        assert ok.error_code == 0
    with wire.connect(b.bootstrap) as s:
        # ...one byte over is not, even though its body would be harmless.
        s.sendall(struct.pack(">i", 4097) + wire.header_v1(wire.API_METADATA, 1, 8) + b"\x00" * 100)
        closed, data = wire.closed_by_peer(s)
    assert closed and data == b""
    assert_still_serving(b)


def test_unknown_api_key_closes_connection(broker):
    with wire.connect(broker.bootstrap) as s:
        s.sendall(wire.frame(wire.header_v1(9999, 0, 11) + b"\x00" * 16))
        closed, data = wire.closed_by_peer(s)
    assert closed and data == b"", f"closed={closed}, answer={data[:64]!r}"
    assert_still_serving(broker)


def test_truncated_request_closes_connection(broker):
    """A Metadata v1 whose topic array claims more than the frame holds."""
    body = struct.pack(">i", 1000) + wire.string("only-one")
    with wire.connect(broker.bootstrap) as s:
        s.sendall(wire.frame(wire.header_v1(wire.API_METADATA, 1, 12) + body))
        closed, data = wire.closed_by_peer(s)
    assert closed and data == b"", f"closed={closed}, answer={data[:64]!r}"
    assert_still_serving(broker)


def test_garbage_bytes_do_not_hurt_other_clients(broker):
    """Random bytes (seeded): whatever the broker makes of them, it stays up for others."""
    rng = random.Random(0x52554E4E)
    other = wire.connect(broker.bootstrap)  # an innocent bystander connected throughout
    try:
        for round_ in range(20):
            with wire.connect(broker.bootstrap) as s:
                junk = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4096)))
                try:
                    s.sendall(junk)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                wire.closed_by_peer(s, timeout=0.5)
            resp = wire.parse_api_versions_v0(wire.request(other, wire.api_versions_request(0, 1000 + round_)))
            assert (resp.correlation_id, resp.error_code) == (1000 + round_, 0)
    finally:
        other.close()
    assert_still_serving(broker)


def test_half_sent_frame_then_disconnect(broker):
    with wire.connect(broker.bootstrap) as s:
        s.sendall(struct.pack(">i", 500) + b"\x00\x03\x00\x01")
    assert_still_serving(broker)
