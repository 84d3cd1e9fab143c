"""RecordBatch headers, for comparing what Fetch returned batch by batch."""

import struct

HEADER = ">qiibIhiqqqhii"  # base offset .. record count: 61 bytes
HEADER_LEN = 61


def batches(records: bytes | None) -> list[dict]:
    """Every whole batch's header fields; a partial batch at the end is
    reported as such (its size), as KIP-74 lets a broker send one."""
    out = []
    pos = 0
    data = records or b""
    while pos < len(data):
        if pos + 12 > len(data):
            out.append({"partial_bytes": len(data) - pos})
            break
        base_offset, length = struct.unpack_from(">qi", data, pos)
        if pos + 12 + length > len(data) or length < HEADER_LEN - 12:
            out.append({"partial_batch_at": base_offset, "partial_bytes": len(data) - pos})
            break
        (base_offset, length, leader_epoch, magic, crc, attributes, last_delta, base_ts, max_ts, pid, epoch,
         base_seq, count) = struct.unpack_from(HEADER, data, pos)
        out.append({"BaseOffset": base_offset, "Length": length, "PartitionLeaderEpoch": leader_epoch,
                    "Magic": magic, "Crc": crc, "Attributes": attributes, "LastOffsetDelta": last_delta,
                    "BaseTimestamp": base_ts, "MaxTimestamp": max_ts, "ProducerId": pid,
                    "ProducerEpoch": epoch, "BaseSequence": base_seq, "RecordCount": count})
        pos += 12 + length
    return out
