"""Hand-packed Kafka frames for what no client will send or show.

Clients never send garbage, oversize frames or unknown API keys, and none of
them shows batch headers (codec bits, producer id, base sequence). This module
speaks just enough of the wire protocol for those checks, with struct, from
the protocol spec: non-flexible request header v1 unless a test needs v2.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

API_PRODUCE = 0
API_FETCH = 1
API_METADATA = 3
API_OFFSET_FETCH = 9
API_DESCRIBE_GROUPS = 15
API_LIST_GROUPS = 16
API_API_VERSIONS = 18
API_INCREMENTAL_ALTER_CONFIGS = 44

ERR_NONE = 0
ERR_COORDINATOR_LOAD_IN_PROGRESS = 14
ERR_NOT_COORDINATOR = 16
ERR_UNSUPPORTED_VERSION = 35
ERR_GROUP_SUBSCRIBED_TO_TOPIC = 86

CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def string(s: str | None) -> bytes:
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def compact_string(s: str) -> bytes:
    b = s.encode()
    return uvarint(len(b) + 1) + b


def header_v1(api_key: int, api_version: int, correlation_id: int, client_id: str | None = "compat-raw") -> bytes:
    return struct.pack(">hhi", api_key, api_version, correlation_id) + string(client_id)


def header_v2(api_key: int, api_version: int, correlation_id: int, client_id: str | None = "compat-raw") -> bytes:
    # Flexible header: client_id stays a classic nullable string, then tagged fields.
    return header_v1(api_key, api_version, correlation_id, client_id) + b"\x00"


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def connect(bootstrap: str, timeout: float = 10.0) -> socket.socket:
    host, port = bootstrap.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def recv_frame(s: socket.socket) -> bytes:
    (size,) = struct.unpack(">i", recv_exact(s, 4))
    assert 0 <= size < 64 * 1024 * 1024, f"implausible response size {size}"
    return recv_exact(s, size)


def request(s: socket.socket, payload: bytes) -> bytes:
    s.sendall(frame(payload))
    return recv_frame(s)


def closed_by_peer(s: socket.socket, timeout: float = 10.0) -> tuple[bool, bytes]:
    """Wait for the peer to close. Returns (closed, any bytes it sent first)."""
    s.settimeout(timeout)
    got = bytearray()
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return True, bytes(got)
            got += chunk
    except (ConnectionResetError, BrokenPipeError):
        return True, bytes(got)
    except socket.timeout:
        return False, bytes(got)


class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        vals = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return vals if len(vals) > 1 else vals[0]

    def string(self) -> str | None:
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def bytes_(self) -> bytes | None:
        n = self.take(">i")
        if n < 0:
            return None
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def remaining(self) -> int:
        return len(self.data) - self.pos


# --- ApiVersions ------------------------------------------------------------------

def api_versions_request(version: int, correlation_id: int) -> bytes:
    if version >= 3:
        body = compact_string("compat-raw") + compact_string("1.0") + b"\x00"
        return header_v2(API_API_VERSIONS, version, correlation_id) + body
    return header_v1(API_API_VERSIONS, version, correlation_id)


@dataclass
class ApiVersionsV0:
    correlation_id: int
    error_code: int
    versions: dict[int, tuple[int, int]]


def parse_api_versions_v0(payload: bytes) -> ApiVersionsV0:
    """Response header v0 (ApiVersions responses never use the flexible header) + body v0."""
    r = Reader(payload)
    correlation_id = r.take(">i")
    error_code = r.take(">h")
    n = r.take(">i")
    versions = {}
    for _ in range(max(n, 0)):
        key, lo, hi = r.take(">hhh")
        versions[key] = (lo, hi)
    return ApiVersionsV0(correlation_id, error_code, versions)


# --- IncrementalAlterConfigs v0 (non-flexible) ---------------------------------------

OP_SET, OP_DELETE, OP_APPEND, OP_SUBTRACT = 0, 1, 2, 3
RESOURCE_TOPIC = 2


def incremental_alter_configs_v0(correlation_id: int, topic: str, ops: list[tuple[str, int, str | None]],
                                 validate_only: bool = False, resource_type: int = RESOURCE_TOPIC) -> bytes:
    body = struct.pack(">i", 1) + struct.pack(">b", resource_type) + string(topic)
    body += struct.pack(">i", len(ops))
    for name, op, value in ops:
        body += string(name) + struct.pack(">b", op) + string(value)
    body += struct.pack(">?", validate_only)
    return header_v1(API_INCREMENTAL_ALTER_CONFIGS, 0, correlation_id) + body


def parse_incremental_alter_configs_v0(payload: bytes) -> tuple[int, list[tuple[int, str | None, int, str]]]:
    r = Reader(payload)
    correlation_id = r.take(">i")
    r.take(">i")  # throttle_time_ms
    out = []
    for _ in range(r.take(">i")):
        code = r.take(">h")
        msg = r.string()
        rtype = r.take(">b")
        name = r.string()
        out.append((code, msg, rtype, name))
    return correlation_id, out


# --- Fetch v4 (non-flexible) and RecordBatch headers ----------------------------------

@dataclass
class BatchHeader:
    base_offset: int
    batch_length: int
    magic: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int

    @property
    def codec(self) -> str:
        return CODECS.get(self.attributes & 0x07, f"unknown({self.attributes & 0x07})")


def fetch_v4(correlation_id: int, topic: str, partition: int, offset: int, max_bytes: int = 8 << 20) -> bytes:
    body = struct.pack(">iiiib", -1, 500, 1, max_bytes, 0)
    body += struct.pack(">i", 1) + string(topic)
    body += struct.pack(">i", 1) + struct.pack(">iqi", partition, offset, max_bytes)
    return header_v1(API_FETCH, 4, correlation_id) + body


def parse_fetch_v4(payload: bytes) -> tuple[int, int, bytes]:
    """One topic, one partition: returns (error_code, high_watermark, records bytes)."""
    r = Reader(payload)
    r.take(">i")  # correlation id
    r.take(">i")  # throttle
    assert r.take(">i") == 1
    r.string()
    assert r.take(">i") == 1
    _partition, error_code, high_watermark, _lso = r.take(">ihqq")
    n_aborted = r.take(">i")
    for _ in range(max(n_aborted, 0)):
        r.take(">qq")
    records = r.bytes_() or b""
    return error_code, high_watermark, records


def batch_headers(records: bytes) -> list[BatchHeader]:
    """Walk whole RecordBatch v2 headers; a partial batch at the end (fetch size cut) is ignored."""
    out = []
    pos = 0
    while pos + 61 <= len(records):
        base_offset, batch_length = struct.unpack_from(">qi", records, pos)
        if pos + 12 + batch_length > len(records):
            break
        (_leader_epoch, magic, _crc, attributes, last_offset_delta, base_ts, max_ts, pid, epoch, base_seq,
         count) = struct.unpack_from(">ibIhiqqqhii", records, pos + 12)
        out.append(BatchHeader(base_offset, batch_length, magic, attributes, last_offset_delta, base_ts,
                               max_ts, pid, epoch, base_seq, count))
        pos += 12 + batch_length
    return out


def fetch_all_batch_headers(bootstrap: str, topic: str, partition: int, end_offset: int) -> list[BatchHeader]:
    """Every batch header of the partition from offset 0 up to `end_offset`."""
    out: list[BatchHeader] = []
    offset = 0
    with connect(bootstrap) as s:
        cid = 1
        while offset < end_offset:
            err, _hw, records = parse_fetch_v4(request(s, fetch_v4(cid, topic, partition, offset)))
            cid += 1
            assert err == 0, f"raw fetch of {topic}-{partition}@{offset}: error {err}"
            batches = batch_headers(records)
            assert batches, f"raw fetch of {topic}-{partition}@{offset} returned no whole batch"
            for b in batches:
                if b.base_offset + b.last_offset_delta >= offset:
                    out.append(b)
            offset = batches[-1].base_offset + batches[-1].last_offset_delta + 1
    return out


# --- OffsetFetch ------------------------------------------------------------------

def offset_fetch_v2(bootstrap: str, group: str, topic: str, partitions: list[int]) -> tuple[int, dict[int, tuple[int, int]]]:
    """OffsetFetch v2 of `partitions` straight to one broker, whether or
    not it coordinates `group` (a client would ask FindCoordinator first):
    (the group's error, partition -> (committed offset, error))."""
    body = string(group) + struct.pack(">i", 1) + string(topic) + struct.pack(">i", len(partitions))
    body += b"".join(struct.pack(">i", p) for p in partitions)
    with connect(bootstrap) as s:
        r = Reader(request(s, header_v1(API_OFFSET_FETCH, 2, 11) + body))
    assert r.take(">i") == 11
    got = {}
    for _ in range(r.take(">i")):
        r.string()
        for _ in range(r.take(">i")):
            partition, offset = r.take(">iq")
            r.string()
            got[partition] = (offset, r.take(">h"))
    return r.take(">h"), got


def describe_groups_v0(bootstrap: str, group: str) -> tuple[int, str]:
    """DescribeGroups v0 of one group straight to one broker: (error, state)."""
    body = struct.pack(">i", 1) + string(group)
    with connect(bootstrap) as s:
        r = Reader(request(s, header_v1(API_DESCRIBE_GROUPS, 0, 12) + body))
    assert r.take(">i") == 12
    assert r.take(">i") == 1
    error = r.take(">h")
    assert r.string() == group
    return error, r.string()


def list_groups_v0(bootstrap: str) -> tuple[int, list[str]]:
    """ListGroups v0 straight to one broker: (error, group ids)."""
    with connect(bootstrap) as s:
        r = Reader(request(s, header_v1(API_LIST_GROUPS, 0, 13)))
    assert r.take(">i") == 13
    error = r.take(">h")
    groups = []
    for _ in range(r.take(">i")):
        groups.append(r.string())
        r.string()
    return error, groups
