"""RecordBatch v2 bytes and Produce frames built by hand, for the batches no
client sends: a producer id with sequence -1, unknown codec ids, control
batches from a client, zstd in an old Produce version, a timestamp years
ahead. Built from the protocol guide's layout; the CRC32C is computed here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from wire import Reader, header_v1, string

API_PRODUCE = 0
API_OFFSET_FOR_LEADER_EPOCH = 23

_CRC32C_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC32C_TABLE.append(_c)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def varint(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def _nullable(b: bytes | None) -> bytes:
    return varint(-1) if b is None else varint(len(b)) + b


def records_section(records: list[tuple[bytes | None, bytes | None]], timestamp_deltas: list[int] | None = None) -> bytes:
    out = bytearray()
    for i, (key, value) in enumerate(records):
        delta = timestamp_deltas[i] if timestamp_deltas else i
        body = b"\x00" + varint(delta) + varint(i) + _nullable(key) + _nullable(value) + varint(0)
        out += varint(len(body)) + body
    return bytes(out)


def batch(records: list[tuple[bytes | None, bytes | None]], base_timestamp: int, *, attributes: int = 0,
          producer_id: int = -1, producer_epoch: int = -1, base_sequence: int = -1,
          section: bytes | None = None) -> bytes:
    """One v2 batch, base offset 0. `section` replaces the encoded records
    (e.g. a compressed form); `attributes` is written as given."""
    body = section if section is not None else records_section(records)
    count = len(records)
    after_crc = struct.pack(">hiqqqhii", attributes, count - 1, base_timestamp, base_timestamp + max(count - 1, 0),
                            producer_id, producer_epoch, base_sequence, count) + body
    crc = crc32c(after_crc)
    rest = struct.pack(">ibI", -1, 2, crc) + after_crc
    return struct.pack(">qi", 0, len(rest)) + rest


def produce_request(correlation_id: int, version: int, topic: str, partition: int, records: bytes,
                    acks: int = -1, timeout_ms: int = 10_000) -> bytes:
    """Produce v3..v8 (non-flexible; the request body is the same)."""
    assert 3 <= version <= 8
    body = string(None) + struct.pack(">hi", acks, timeout_ms)
    body += struct.pack(">i", 1) + string(topic)
    body += struct.pack(">i", 1) + struct.pack(">i", partition) + struct.pack(">i", len(records)) + records
    return header_v1(API_PRODUCE, version, correlation_id) + body


@dataclass
class PartitionProduce:
    error_code: int
    base_offset: int
    error_message: str | None = None
    record_errors: list[tuple[int, str | None]] = field(default_factory=list)


def parse_produce(payload: bytes, version: int) -> PartitionProduce:
    """One topic, one partition."""
    r = Reader(payload)
    r.take(">i")  # correlation id
    assert r.take(">i") == 1
    r.string()
    assert r.take(">i") == 1
    _index, error_code, base_offset, _append_time = r.take(">ihqq")
    if version >= 5:
        r.take(">q")  # log start offset
    out = PartitionProduce(error_code, base_offset)
    if version >= 8:
        for _ in range(r.take(">i")):
            out.record_errors.append((r.take(">i"), r.string()))
        out.error_message = r.string()
    return out


def offset_for_leader_epoch_v3(correlation_id: int, topic: str, partition: int, leader_epoch: int,
                               current_leader_epoch: int = -1) -> bytes:
    body = struct.pack(">i", -1)  # replica id: a consumer
    body += struct.pack(">i", 1) + string(topic)
    body += struct.pack(">i", 1) + struct.pack(">iii", partition, current_leader_epoch, leader_epoch)
    return header_v1(API_OFFSET_FOR_LEADER_EPOCH, 3, correlation_id) + body


def parse_offset_for_leader_epoch_v3(payload: bytes) -> tuple[int, int, int]:
    """One topic, one partition: (error_code, leader_epoch, end_offset)."""
    r = Reader(payload)
    r.take(">i")  # correlation id
    r.take(">i")  # throttle
    assert r.take(">i") == 1
    r.string()
    assert r.take(">i") == 1
    error_code, _partition, leader_epoch, end_offset = r.take(">hiiq")
    return error_code, leader_epoch, end_offset
