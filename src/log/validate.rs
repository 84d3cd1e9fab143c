//! What a batch must pass before the leader appends it, in Kafka's order:
//! the Produce request's own rules (`ProduceRequest.validateRecords`: one
//! v2 batch, a known codec, zstd only from Produce v7), the batch's framing
//! (`UnifiedLog.analyzeAndValidateRecords`: base offset 0, size, CRC), then
//! `LogValidator`: offset range and count, no control batches or negative
//! sequences from clients, and every record (walked once, without copying
//! keys or values): a key on compacted topics, timestamps within
//! `message.timestamp.before/after.max.ms`. Refused records are reported
//! one by one (KIP-467).
//!
//! The batch is stored as received whenever Kafka would store it in place:
//! only the 16-byte prefix (base offset, leader epoch) changes, later, in
//! the log. It is rewritten, as Kafka rewrites it, when the topic stamps
//! LogAppendTime, when the declared max timestamp disagrees with the
//! records (both: a copy with a new CRC), and when the topic's
//! `compression.type` names another codec or a compressed batch's inner
//! offsets are not 0, 1, 2, ... (the records are re-encoded). Producer
//! state (sequence numbers) is checked after this, by the partition.

use bytes::{BufMut, Bytes, BytesMut};

use crate::log::LogError;
use crate::log::batch::{
    BATCH_HEADER_LEN, BatchHeader, CompressionCodec, LOG_OVERHEAD, TimestampType, Validation,
    compute_crc, set_max_timestamp, validate_batch,
};
use crate::log::codec::{compress, decompressing_reader};
use crate::log::error::RecordError;
use crate::log::record_walk::{WalkError, walk_records};

/// Who is appending: client batches get the client-only checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOrigin {
    /// A Produce request of this version.
    Client { produce_version: i16 },
    /// A coordinator writing its own topic (records it built itself).
    Coordinator,
}

/// The topic's settings and the request's context a batch is checked against.
#[derive(Debug, Clone)]
pub struct ProduceRules {
    pub origin: AppendOrigin,
    pub max_message_bytes: usize,
    pub timestamp_type: TimestampType,
    pub timestamp_before_max_ms: i64,
    pub timestamp_after_max_ms: i64,
    /// `cleanup.policy` contains `compact`: every record needs a key.
    pub compacted: bool,
    /// `compression.type`; `None` keeps the producer's codec.
    pub compression: Option<CompressionCodec>,
    pub now_ms: i64,
}

/// A batch that passed: the bytes to store and their header.
#[derive(Debug, Clone)]
pub struct ValidatedBatch {
    pub bytes: Bytes,
    pub header: BatchHeader,
}

/// The most an uncompressed records section may grow to when a batch must
/// be re-encoded; past it the batch is refused rather than held in memory.
const MAX_REENCODE_BYTES: usize = 256 * 1024 * 1024;

/// Validates the records of one Produce partition entry (see the module doc).
pub fn validate_produced_batch(
    records: Bytes,
    rules: &ProduceRules,
) -> Result<ValidatedBatch, LogError> {
    let header = single_batch(&records)?;
    let source = header.compression();
    if let CompressionCodec::Unknown(id) = source {
        return Err(LogError::InvalidBatch(format!(
            "unknown compression codec id {id}"
        )));
    }
    let client = matches!(rules.origin, AppendOrigin::Client { .. });
    if let AppendOrigin::Client { produce_version } = rules.origin {
        if produce_version < 7 && source == CompressionCodec::Zstd {
            return Err(LogError::UnsupportedCompression(format!(
                "produce requests with version {produce_version} are not allowed to use ZStandard compression"
            )));
        }
        if header.base_offset != 0 {
            return Err(LogError::InvalidBatch(format!(
                "the base offset of a produced batch must be 0, but it is {}",
                header.base_offset
            )));
        }
    }
    // Size, CRC, count against the offset range.
    validate_batch(&records, rules.max_message_bytes, Validation::Produce)?;
    if client {
        if header.is_control() {
            return Err(LogError::InvalidBatch(
                "clients are not allowed to write control records".into(),
            ));
        }
        if header.producer_id >= 0 && header.base_sequence < 0 {
            return Err(LogError::InvalidBatch(format!(
                "invalid sequence number {} in a batch with producer id {}",
                header.base_sequence, header.producer_id
            )));
        }
    }

    let walked = check_records(&records, &header, rules)?;
    let target = rules.compression.unwrap_or(source);
    let reencode =
        target != source || (source != CompressionCodec::None && !walked.offsets_in_order);
    if reencode {
        return reencode_batch(&records, &header, target, walked.max_timestamp, rules);
    }
    let (timestamp_type, max_timestamp) = match rules.timestamp_type {
        TimestampType::LogAppendTime => (TimestampType::LogAppendTime, rules.now_ms),
        TimestampType::CreateTime => (TimestampType::CreateTime, walked.max_timestamp),
    };
    if header.timestamp_type() == timestamp_type && header.max_timestamp == max_timestamp {
        return Ok(ValidatedBatch {
            bytes: records,
            header,
        });
    }
    let mut copy = BytesMut::from(&records[..]);
    set_max_timestamp(&mut copy, timestamp_type, max_timestamp);
    let bytes = copy.freeze();
    let header = BatchHeader::parse(&bytes)?;
    Ok(ValidatedBatch { bytes, header })
}

/// Exactly one complete batch, as Kafka requires from Produce v3 on.
fn single_batch(records: &[u8]) -> Result<BatchHeader, LogError> {
    use crate::log::batch::{BatchIter, peek_batch_size};
    // Like Kafka's batch iterator, a batch cut short is no batch at all:
    // "at least one record batch" (INVALID_RECORD), not a corrupt one.
    let incomplete = records.len() < LOG_OVERHEAD
        || matches!(peek_batch_size(records), Ok(size) if size > records.len());
    if incomplete {
        return Err(LogError::RequestRecords(
            "produce requests must carry at least one complete record batch per partition".into(),
        ));
    }
    let mut iter = BatchIter::new(records);
    let header = match iter.next() {
        Some(Ok((header, _))) => header,
        Some(Err(LogError::UnsupportedMagic(magic))) => {
            return Err(LogError::RequestRecords(format!(
                "produce requests may only carry record batches of magic 2, not {magic}"
            )));
        }
        Some(Err(e)) => return Err(e),
        None => {
            return Err(LogError::RequestRecords(
                "produce request has no record batch".into(),
            ));
        }
    };
    if iter.next().is_some() {
        return Err(LogError::RequestRecords(
            "produce requests must carry exactly one record batch per partition".into(),
        ));
    }
    Ok(header)
}

/// What the walk over a batch's records found.
struct Walked {
    /// The largest record timestamp (-1 when none has one).
    max_timestamp: i64,
    /// Every record's offset delta equals its position.
    offsets_in_order: bool,
}

/// Kafka's per-record checks (`LogValidator.validateRecord`): all records
/// are checked and every failure reported, then the batch is refused.
fn check_records(
    batch: &[u8],
    header: &BatchHeader,
    rules: &ProduceRules,
) -> Result<Walked, LogError> {
    let mut walked = Walked {
        max_timestamp: -1,
        offsets_in_order: true,
    };
    let mut errors = Vec::new();
    let mut bad_timestamp = false;
    let low = rules.now_ms.saturating_sub(rules.timestamp_before_max_ms);
    let high = rules.now_ms.saturating_add(rules.timestamp_after_max_ms);
    walk_records(batch, header, |r| {
        let timestamp = r.timestamp(header);
        if rules.compacted && !r.has_key {
            errors.push(RecordError {
                batch_index: r.index as i32,
                message: "compacted topic cannot accept a record without a key".into(),
            });
        } else if rules.timestamp_type == TimestampType::CreateTime && timestamp != -1 {
            if timestamp < low || timestamp > high {
                bad_timestamp = true;
                errors.push(RecordError {
                    batch_index: r.index as i32,
                    message: format!(
                        "timestamp {timestamp} of the record at offset delta {} is out of range; it must be within [{low}, {high}]",
                        r.offset_delta
                    ),
                });
            }
        } else if header.timestamp_type() == TimestampType::LogAppendTime {
            bad_timestamp = true;
            errors.push(RecordError {
                batch_index: r.index as i32,
                message: "producers must not set the timestamp type to LogAppendTime".into(),
            });
        }
        walked.max_timestamp = walked.max_timestamp.max(timestamp);
        if i64::from(r.offset_delta) != r.index as i64 {
            walked.offsets_in_order = false;
        }
        true
    })
    .map_err(walk_error)?;
    if errors.is_empty() {
        return Ok(walked);
    }
    Err(if bad_timestamp {
        LogError::RecordErrors {
            timestamp: true,
            message: "one or more records have been rejected due to invalid timestamp".into(),
            errors,
        }
    } else {
        let shown: Vec<_> = errors.iter().take(3).map(|e| e.to_string()).collect();
        LogError::RecordErrors {
            timestamp: false,
            message: format!(
                "one or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
                errors.len(),
                shown.join(", ")
            ),
            errors,
        }
    })
}

fn walk_error(e: WalkError) -> LogError {
    LogError::InvalidBatch(e.to_string())
}

/// Re-encodes a validated batch with `target` compression and offset
/// deltas 0, 1, 2, ...: each record keeps its bytes but for its offset
/// delta (and so its length prefix). Producer id, epoch, base sequence,
/// the transactional flag and the base timestamp are kept.
fn reencode_batch(
    batch: &[u8],
    header: &BatchHeader,
    target: CompressionCodec,
    max_create_timestamp: i64,
    rules: &ProduceRules,
) -> Result<ValidatedBatch, LogError> {
    let section = &batch[BATCH_HEADER_LEN..];
    let owned;
    let plain: &[u8] = if header.compression() == CompressionCodec::None {
        section
    } else {
        let reader = decompressing_reader(header.compression(), section)
            .map_err(|e| LogError::InvalidBatch(format!("cannot decompress the batch: {e}")))?;
        let mut buf = Vec::new();
        let read = std::io::Read::read_to_end(
            &mut std::io::Read::take(reader, MAX_REENCODE_BYTES as u64 + 1),
            &mut buf,
        )
        .map_err(|e| LogError::InvalidBatch(format!("cannot decompress the batch: {e}")))?;
        if read > MAX_REENCODE_BYTES {
            return Err(LogError::InvalidBatch(format!(
                "the batch decompresses to more than {MAX_REENCODE_BYTES} bytes"
            )));
        }
        owned = buf;
        &owned
    };
    let mut records = Vec::with_capacity(plain.len() + 16);
    let mut pos = 0usize;
    for index in 0..header.record_count.max(0) as usize {
        let (length, length_len) = read_varint_at(plain, pos)?;
        let body_start = pos + length_len;
        let body_end = body_start + length as usize;
        let body = plain
            .get(body_start..body_end)
            .ok_or_else(|| LogError::InvalidBatch("a record runs past the batch".into()))?;
        // attributes i8 | timestampDelta varlong | offsetDelta varint | rest
        let (_, ts_len) = read_varlong_at(body, 1)?;
        let (_, offset_len) = read_varint_at(body, 1 + ts_len)?;
        let rest = &body[1 + ts_len + offset_len..];
        let mut head = Vec::with_capacity(16);
        head.extend_from_slice(&body[..1 + ts_len]);
        put_varint(&mut head, index as i64);
        put_varint(&mut records, (head.len() + rest.len()) as i64);
        records.extend_from_slice(&head);
        records.extend_from_slice(rest);
        pos = body_end;
    }
    let section = compress(target, &records).map_err(|e| {
        LogError::InvalidBatch(format!(
            "cannot compress the batch with {}: {e}",
            target.name()
        ))
    })?;
    let (timestamp_type, max_timestamp) = match rules.timestamp_type {
        TimestampType::LogAppendTime => (TimestampType::LogAppendTime, rules.now_ms),
        TimestampType::CreateTime => (TimestampType::CreateTime, max_create_timestamp),
    };
    let mut attributes = i16::from(target.id());
    if header.is_transactional() {
        attributes |= 0x10;
    }
    if timestamp_type == TimestampType::LogAppendTime {
        attributes |= 0x08;
    }
    let mut buf = BytesMut::with_capacity(BATCH_HEADER_LEN + section.len());
    buf.put_i64(0);
    buf.put_i32((BATCH_HEADER_LEN - LOG_OVERHEAD + section.len()) as i32);
    buf.put_i32(-1);
    buf.put_i8(2);
    buf.put_u32(0);
    buf.put_i16(attributes);
    buf.put_i32(header.record_count - 1);
    buf.put_i64(header.base_timestamp);
    buf.put_i64(max_timestamp);
    buf.put_i64(header.producer_id);
    buf.put_i16(header.producer_epoch);
    buf.put_i32(header.base_sequence);
    buf.put_i32(header.record_count);
    buf.put_slice(&section);
    let crc = compute_crc(&buf);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
    let bytes = buf.freeze();
    if bytes.len() > rules.max_message_bytes {
        return Err(LogError::BatchTooLarge {
            size: bytes.len(),
            max: rules.max_message_bytes,
        });
    }
    let header = BatchHeader::parse(&bytes)?;
    Ok(ValidatedBatch { bytes, header })
}

pub(crate) fn read_varint_at(b: &[u8], pos: usize) -> Result<(i64, usize), LogError> {
    read_zigzag(b, pos, 5)
}

pub(crate) fn read_varlong_at(b: &[u8], pos: usize) -> Result<(i64, usize), LogError> {
    read_zigzag(b, pos, 10)
}

fn read_zigzag(b: &[u8], pos: usize, max_bytes: usize) -> Result<(i64, usize), LogError> {
    let mut raw: u64 = 0;
    for i in 0..max_bytes {
        let byte = *b
            .get(pos + i)
            .ok_or_else(|| LogError::InvalidBatch("a record runs past the batch".into()))?;
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((((raw >> 1) as i64) ^ -((raw & 1) as i64), i + 1));
        }
    }
    Err(LogError::InvalidBatch(
        "a varint is longer than allowed".into(),
    ))
}

pub(crate) fn put_varint(buf: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    buf.push(z as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record_walk::record_offsets_and_timestamps;
    use crate::log::testing::{make_batch, make_compressed_batch};

    fn rules() -> ProduceRules {
        ProduceRules {
            origin: AppendOrigin::Client { produce_version: 9 },
            max_message_bytes: 1 << 20,
            timestamp_type: TimestampType::CreateTime,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: 3_600_000,
            compacted: false,
            compression: None,
            now_ms: 10_000,
        }
    }

    fn reseal(mut b: Vec<u8>) -> Bytes {
        let crc = compute_crc(&b);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        Bytes::from(b)
    }

    #[test]
    fn a_valid_batch_is_stored_as_received() {
        let b = make_batch(&[(Some(b"k"), Some(b"v")), (None, Some(b"w"))], 9_000, None);
        let v = validate_produced_batch(b.clone(), &rules()).unwrap();
        assert_eq!(v.bytes.as_ptr(), b.as_ptr(), "no copy");
        assert_eq!(v.header.max_timestamp, 9_001);
    }

    #[test]
    fn client_only_checks_refuse_bad_batches() {
        let codes = |b: Bytes, r: &ProduceRules| match validate_produced_batch(b, r) {
            Err(LogError::InvalidBatch(m)) => m,
            other => panic!("expected InvalidBatch, got {other:?}"),
        };
        let good = make_batch(&[(None, Some(b"v"))], 9_000, None).to_vec();
        // Unknown codec ids 5-7.
        for id in 5..=7 {
            let mut b = good.clone();
            b[22] = id;
            assert!(codes(reseal(b), &rules()).contains("unknown compression codec"));
        }
        // A control batch.
        let mut b = good.clone();
        b[22] |= 0x20;
        assert!(codes(reseal(b), &rules()).contains("control"));
        // A producer id with sequence -1 (issue 10 item 3).
        let b = make_batch(&[(None, Some(b"v"))], 9_000, Some((4242, 0, -1)));
        assert!(codes(b, &rules()).contains("sequence"));
        // A base offset other than 0.
        let mut b = good.clone();
        b[..8].copy_from_slice(&5i64.to_be_bytes());
        assert!(codes(Bytes::from(b), &rules()).contains("base offset"));
        // zstd below Produce v7.
        let z = make_compressed_batch(&[(None, Some(b"v"))], 9_000, CompressionCodec::Zstd);
        let old = ProduceRules {
            origin: AppendOrigin::Client { produce_version: 6 },
            ..rules()
        };
        assert!(matches!(
            validate_produced_batch(z.clone(), &old),
            Err(LogError::UnsupportedCompression(_))
        ));
        assert!(validate_produced_batch(z, &rules()).is_ok());
    }

    #[test]
    fn each_bad_record_is_reported() {
        let compacted = ProduceRules {
            compacted: true,
            ..rules()
        };
        let b = make_batch(
            &[(Some(b"k"), Some(b"v")), (None, Some(b"w")), (None, None)],
            9_000,
            None,
        );
        match validate_produced_batch(b, &compacted) {
            Err(LogError::RecordErrors {
                timestamp: false,
                errors,
                ..
            }) => assert_eq!(
                errors.iter().map(|e| e.batch_index).collect::<Vec<_>>(),
                vec![1, 2]
            ),
            other => panic!("{other:?}"),
        }
        // Ten years ahead, inside a compressed batch.
        let future = 10_000 + 10 * 365 * 86_400_000;
        let b = make_compressed_batch(
            &[(None, Some(b"v")), (None, Some(b"w"))],
            future - 1,
            CompressionCodec::Lz4,
        );
        match validate_produced_batch(b, &rules()) {
            Err(LogError::RecordErrors {
                timestamp: true,
                errors,
                ..
            }) => assert_eq!(errors.len(), 2),
            other => panic!("{other:?}"),
        }
        let past = ProduceRules {
            timestamp_before_max_ms: 1_000,
            ..rules()
        };
        let b = make_batch(&[(None, Some(b"v")), (None, Some(b"w"))], 8_999, None);
        match validate_produced_batch(b, &past) {
            Err(LogError::RecordErrors {
                timestamp: true,
                errors,
                ..
            }) => {
                assert_eq!(errors.len(), 1, "only the record 1001 ms old");
                assert_eq!(errors[0].batch_index, 0);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn log_append_time_and_a_wrong_max_timestamp_rewrite_the_batch() {
        let append = ProduceRules {
            timestamp_type: TimestampType::LogAppendTime,
            ..rules()
        };
        let b = make_batch(&[(None, Some(b"v"))], 9_000, None);
        let v = validate_produced_batch(b, &append).unwrap();
        assert_eq!(v.header.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(v.header.max_timestamp, 10_000);
        validate_batch(&v.bytes, 1 << 20, Validation::Produce).unwrap();

        let mut lie = make_batch(&[(None, Some(b"v")), (None, Some(b"w"))], 9_000, None).to_vec();
        lie[35..43].copy_from_slice(&5i64.to_be_bytes());
        let v = validate_produced_batch(reseal(lie), &rules()).unwrap();
        assert_eq!(
            v.header.max_timestamp, 9_001,
            "taken from the records, as Kafka does"
        );
        validate_batch(&v.bytes, 1 << 20, Validation::Produce).unwrap();
    }

    #[test]
    fn a_topic_codec_recompresses_and_keeps_every_record() {
        let values: Vec<Vec<u8>> = (0..300)
            .map(|i| format!("value-{i}").into_bytes())
            .collect();
        let recs: Vec<_> = values
            .iter()
            .map(|v| (Some(&b"k"[..]), Some(&v[..])))
            .collect();
        let sources = [
            make_batch(&recs, 9_000, None),
            make_compressed_batch(&recs, 9_000, CompressionCodec::Gzip),
            make_compressed_batch(&recs, 9_000, CompressionCodec::Snappy),
        ];
        for source in sources {
            for target in [
                CompressionCodec::None,
                CompressionCodec::Lz4,
                CompressionCodec::Zstd,
            ] {
                let r = ProduceRules {
                    compression: Some(target),
                    ..rules()
                };
                let v = validate_produced_batch(source.clone(), &r).unwrap();
                assert_eq!(v.header.compression(), target);
                validate_batch(&v.bytes, 1 << 20, Validation::Produce).unwrap();
                let got = record_offsets_and_timestamps(&v.bytes).unwrap();
                assert_eq!(got.len(), 300);
                assert_eq!(got[299], (299, 9_299));
            }
        }
    }
}
