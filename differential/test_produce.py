"""Produce: error codes for the same bad inputs (unknown topic or
partition, oversize records, bad acks, corrupt batches), and idempotent
producers' sequence checks (duplicates, gaps, fenced epochs, base -1)."""

import struct

import pytest

from target import build_batch


def answer(p):
    p = dict(p)
    p["ErrorMessage"] = None if p.get("ErrorMessage") is None else "<message>"
    if "RecordErrors" in p:
        p["RecordErrors"] = [(e["BatchIndex"], e["BatchIndexErrorMessage"] is not None) for e in p["RecordErrors"]]
    return p


def corrupt(batch: bytes) -> bytes:
    b = bytearray(batch)
    b[-1] ^= 0xFF  # a record byte: the CRC no longer matches
    return bytes(b)


def with_codec(batch: bytes, codec: int) -> bytes:
    """Sets the attributes' codec bits without recomputing anything: the
    CRC then fails, as it covers the attributes. Used with a CRC fix-up."""
    from kafka.record.util import calc_crc32c
    b = bytearray(batch)
    (attrs,) = struct.unpack_from(">h", b, 21)
    struct.pack_into(">h", b, 21, (attrs & ~0x07) | codec)
    struct.pack_into(">I", b, 17, calc_crc32c(bytes(b[21:])))
    return bytes(b)


@pytest.mark.smoke
def test_produce_errors(differential):
    def observe(t):
        topic = t.name("pe")
        t.create_topic(topic)
        small = t.name("pe-small")
        t.create_topic(small, configs={"max.message.bytes": "1000"})
        ok = build_batch([(None, b"v", t.ts(1000))])
        out = {}
        out["ok"] = answer(t.produce(topic, 0, ok))
        out["unknown_topic"] = answer(t.produce(t.name("none"), 0, ok))
        out["unknown_partition"] = answer(t.produce(topic, 5, ok))
        out["too_large"] = answer(t.produce(small, 0, build_batch([(None, b"x" * 2000, t.ts(1000))])))
        out["corrupt_crc"] = answer(t.produce(topic, 0, corrupt(ok)))
        out["codec_7"] = answer(t.produce(topic, 0, with_codec(ok, 7)))
        out["truncated"] = answer(t.produce(topic, 0, ok[:-3]))
        out["empty_records"] = answer(t.produce(topic, 0, b""))
        out["v3_ok"] = answer(t.produce(topic, 0, ok, version=3))
        out["internal_topic"] = answer(t.produce("__consumer_offsets", 0, ok))
        r = t.call("Produce", 9, {"Acks": 2, "TimeoutMs": 1000, "TopicData": [
            {"Name": topic, "PartitionData": [{"Index": 0, "Records": ok}]}]})
        out["acks_2"] = answer(r["Responses"][0]["PartitionResponses"][0])
        return out

    differential(observe)


def init_producer(t):
    """InitProducerId as clients send it: retried while the broker says
    COORDINATOR_LOAD_IN_PROGRESS or NOT_AVAILABLE (Kafka answers so until
    the controller has handed it a block of producer ids)."""
    def attempt():
        r = t.call("InitProducerId", 5, {"TransactionalId": None, "TransactionTimeoutMs": 60000,
                                         "ProducerId": -1, "ProducerEpoch": -1})
        return r if r["ErrorCode"] not in (14, 15) else None
    return t.wait_for("a producer id", attempt, timeout=30, period=0.1)


def test_idempotent_sequences(differential):
    def observe(t):
        topic = t.name("idem")
        t.create_topic(topic)
        ip = init_producer(t)
        pid, epoch = ip["ProducerId"], ip["ProducerEpoch"]
        out = {"init": {"ErrorCode": ip["ErrorCode"], "ProducerEpoch": epoch, "has_id": pid >= 0}}

        def send(seq, n=2, e=epoch, p=pid):
            b = build_batch([(None, b"s%d" % (seq + i), t.ts(1000)) for i in range(n)],
                            producer_id=p, producer_epoch=e, base_sequence=seq)
            return answer(t.produce(topic, 0, b))

        out["seq0"] = send(0)
        out["duplicate_seq0"] = send(0)
        out["seq2"] = send(2)
        out["gap_seq9"] = send(9)
        out["duplicate_older_seq0"] = send(0)
        out["stale_epoch"] = send(4, e=epoch - 1 if epoch > 0 else 32767)
        out["bumped_epoch_seq0"] = send(0, e=epoch + 1)
        out["bumped_epoch_seq5"] = send(5, e=epoch + 2)
        out["unknown_producer_seq3"] = send(3, p=pid + 1000, e=0)
        out["base_sequence_minus1"] = send(-1)
        out["base_sequence_minus1_again"] = send(-1)
        end = t.list_offset(topic, 0, -1)
        out["log_end"] = end["Offset"]
        return out

    differential(observe)


def test_init_producer_id(differential):
    def observe(t):
        out = {}
        r = init_producer(t)
        out["idempotent"] = {"ErrorCode": r["ErrorCode"], "ProducerEpoch": r["ProducerEpoch"]}
        r = t.call("InitProducerId", 5, {"TransactionalId": t.name("txn"), "TransactionTimeoutMs": 60000,
                                         "ProducerId": -1, "ProducerEpoch": -1})
        out["transactional"] = {"ErrorCode": r["ErrorCode"], "ProducerEpoch": r["ProducerEpoch"]}
        r = t.call("InitProducerId", 5, {"TransactionalId": None, "TransactionTimeoutMs": 60000,
                                         "ProducerId": 12345, "ProducerEpoch": 3})
        out["bump_unknown"] = {"ErrorCode": r["ErrorCode"], "ProducerEpoch": r["ProducerEpoch"]}
        return out

    differential(observe)
