//! What one batch becomes when its log is cleaned (Kafka's
//! `MemoryRecords.filterTo` with the cleaner's `RecordFilter`), as a pure
//! function of the batch bytes, the offset map and `now`.
//!
//! A record is kept when its offset is past what the map covers, or when it
//! is the latest of its key and either has a value or is a tombstone whose
//! delete horizon has not passed. Keyless records are dropped (a compacted
//! topic refuses them on produce). A batch keeps its base offset, its last
//! offset delta (so a producer's last sequence survives), its producer id,
//! epoch, base sequence, partition leader epoch, timestamp type and codec;
//! a batch that loses nothing and needs no delete horizon is kept byte for
//! byte. The first cleaning that keeps a tombstone sets the batch's delete
//! horizon to `now + delete.retention.ms` (KIP-534: attribute bit 6, the
//! horizon stored as the base timestamp, record timestamp deltas rebased on
//! it); a later cleaning past the horizon removes the tombstone.
//!
//! Control batches (transaction markers) are kept as they are: transactions
//! do not exist yet. When they do, this is where aborted transactional
//! batches are dropped and markers get a delete horizon of their own
//! (Kafka's `shouldDiscardBatch` and `checkBatchRetention`).

use bytes::{BufMut, Bytes, BytesMut};

use crate::log::LogError;
use crate::log::batch::{
    BATCH_HEADER_LEN, BatchHeader, CompressionCodec, LOG_OVERHEAD, TimestampType, compute_crc,
};
use crate::log::cleaner::offset_map::OffsetMap;
use crate::log::codec::{compress, decompressing_reader};
use crate::log::validate::{put_varint, read_varint_at, read_varlong_at};

/// Attribute bit of a batch whose base timestamp is its delete horizon.
pub const DELETE_HORIZON_FLAG: i16 = 0x40;
/// Attribute bits a rebuilt batch carries over: timestamp type,
/// transactional, control.
const KEPT_ATTRIBUTES: i16 = 0x08 | 0x10 | 0x20;

/// One record of a batch, borrowed from its (decompressed) records section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub has_value: bool,
    /// The record's bytes from its key length to its end (key, value,
    /// headers), copied as they are into a rebuilt batch.
    pub tail: &'a [u8],
}

/// The uncompressed records section of a stored batch.
pub fn records_section(batch: &[u8], header: &BatchHeader) -> Result<Vec<u8>, LogError> {
    let section = batch.get(BATCH_HEADER_LEN..).unwrap_or_default();
    let codec = header.compression();
    if codec == CompressionCodec::None {
        return Ok(section.to_vec());
    }
    let mut plain = Vec::with_capacity(section.len() * 4);
    decompressing_reader(codec, section)
        .and_then(|mut r| std::io::Read::read_to_end(&mut r, &mut plain))
        .map_err(|e| LogError::InvalidBatch(format!("cannot decompress a stored batch: {e}")))?;
    Ok(plain)
}

/// Parses `count` records from an uncompressed records section.
pub fn parse_records(plain: &[u8], count: usize) -> Result<Vec<Record<'_>>, LogError> {
    let mut records = Vec::with_capacity(count.min(1 << 16));
    let mut pos = 0usize;
    for _ in 0..count {
        let (length, length_len) = read_varint_at(plain, pos)?;
        let start = pos + length_len;
        let body = usize::try_from(length)
            .ok()
            .and_then(|len| plain.get(start..start.checked_add(len)?))
            .ok_or_else(|| LogError::InvalidBatch("a record runs past the batch".into()))?;
        let attributes = *body
            .first()
            .ok_or_else(|| LogError::InvalidBatch("an empty record".into()))?
            as i8;
        let (timestamp_delta, ts_len) = read_varlong_at(body, 1)?;
        let (offset_delta, od_len) = read_varint_at(body, 1 + ts_len)?;
        let tail_start = 1 + ts_len + od_len;
        let tail = &body[tail_start..];
        let (key_len, kl_len) = read_varint_at(tail, 0)?;
        let (key, value_at) = if key_len < 0 {
            (None, kl_len)
        } else {
            let end = kl_len + key_len as usize;
            let key = tail
                .get(kl_len..end)
                .ok_or_else(|| LogError::InvalidBatch("a key runs past its record".into()))?;
            (Some(key), end)
        };
        let (value_len, _) = read_varint_at(tail, value_at)?;
        records.push(Record {
            attributes,
            timestamp_delta,
            offset_delta: offset_delta as i32,
            key,
            has_value: value_len >= 0,
            tail,
        });
        pos = start + body.len();
    }
    if pos != plain.len() {
        return Err(LogError::InvalidBatch(
            "bytes remain after the declared records".into(),
        ));
    }
    Ok(records)
}

/// What the cleaning of one batch needs to know besides its bytes.
#[derive(Debug, Clone, Copy)]
pub struct FilterContext<'a> {
    pub map: &'a OffsetMap,
    pub now_ms: i64,
    pub delete_retention_ms: i64,
    /// Keep the batch even when no record survives (Kafka's
    /// `RETAIN_EMPTY`): the last batch of a producer, whose sequence
    /// numbers the producer state needs, or the last batch of the cleaning
    /// round, which keeps the round's last offset.
    pub retain_empty: bool,
}

/// What became of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filtered {
    /// Kept byte for byte.
    Original,
    /// Rebuilt with fewer records or a new delete horizon (possibly no
    /// records at all, to keep its offsets and producer fields).
    Rebuilt(Bytes),
    /// Nothing of it remains.
    Removed,
}

/// Counts of one batch's cleaning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilterCounts {
    pub records_read: u64,
    pub records_retained: u64,
}

/// Whether a batch carries a delete horizon, and which.
pub fn delete_horizon(header: &BatchHeader) -> Option<i64> {
    (header.attributes & DELETE_HORIZON_FLAG != 0).then_some(header.base_timestamp)
}

/// Cleans one stored batch (`batch` is exactly its bytes).
pub fn filter_batch(
    batch: &[u8],
    header: &BatchHeader,
    ctx: &FilterContext<'_>,
) -> Result<(Filtered, FilterCounts), LogError> {
    let count = header.record_count.max(0) as u64;
    if header.is_control() {
        // Transactions hook: markers stay until transactions exist.
        return Ok((
            Filtered::Original,
            FilterCounts {
                records_read: count,
                records_retained: count,
            },
        ));
    }
    let plain = records_section(batch, header)?;
    let records = parse_records(&plain, count as usize)?;
    let horizon = delete_horizon(header);
    let tombstones_removable = horizon.is_some_and(|h| ctx.now_ms >= h);
    let map_end = ctx.map.latest_offset();
    let mut kept = Vec::with_capacity(records.len());
    let mut kept_tombstone = false;
    for r in &records {
        let offset = header.base_offset + i64::from(r.offset_delta);
        let keep = if offset > map_end {
            true
        } else {
            match r.key {
                None => false,
                Some(key) => offset >= ctx.map.get(key) && (r.has_value || !tombstones_removable),
            }
        };
        if keep {
            kept_tombstone |= !r.has_value;
            kept.push(*r);
        }
    }
    let counts = FilterCounts {
        records_read: count,
        records_retained: kept.len() as u64,
    };
    let needs_horizon = kept_tombstone && horizon.is_none();
    if kept.len() == records.len() && !needs_horizon {
        return Ok((Filtered::Original, counts));
    }
    if kept.is_empty() && !ctx.retain_empty {
        return Ok((Filtered::Removed, counts));
    }
    let new_horizon = if needs_horizon {
        Some(ctx.now_ms.saturating_add(ctx.delete_retention_ms.max(0)))
    } else {
        horizon
    };
    Ok((
        Filtered::Rebuilt(rebuild(header, &kept, new_horizon)?),
        counts,
    ))
}

/// Encodes `records` (all from the batch `header` describes) as a new
/// batch with the same offsets, producer fields and codec.
fn rebuild(
    header: &BatchHeader,
    records: &[Record<'_>],
    horizon: Option<i64>,
) -> Result<Bytes, LogError> {
    let timestamp = |r: &Record<'_>| header.base_timestamp.wrapping_add(r.timestamp_delta);
    let base_timestamp = match (horizon, records.first()) {
        (Some(h), _) => h,
        (None, Some(first)) => timestamp(first),
        (None, None) => header.max_timestamp,
    };
    let mut plain = Vec::with_capacity(records.iter().map(|r| r.tail.len() + 16).sum());
    let mut max_create_timestamp = -1;
    for r in records {
        let ts = timestamp(r);
        max_create_timestamp = max_create_timestamp.max(ts);
        let mut head = Vec::with_capacity(16);
        head.push(r.attributes as u8);
        put_varint(&mut head, ts.wrapping_sub(base_timestamp));
        put_varint(&mut head, i64::from(r.offset_delta));
        put_varint(&mut plain, (head.len() + r.tail.len()) as i64);
        plain.extend_from_slice(&head);
        plain.extend_from_slice(r.tail);
    }
    let (codec, section) = if records.is_empty() {
        // Kafka writes an empty batch uncompressed, with no records section.
        (CompressionCodec::None, Vec::new())
    } else {
        let codec = header.compression();
        let section = compress(codec, &plain).map_err(|e| {
            LogError::InvalidBatch(format!("cannot compress with {}: {e}", codec.name()))
        })?;
        (codec, section)
    };
    let max_timestamp = match header.timestamp_type() {
        TimestampType::LogAppendTime => header.max_timestamp,
        TimestampType::CreateTime if records.is_empty() => header.max_timestamp,
        TimestampType::CreateTime => max_create_timestamp,
    };
    let mut attributes = i16::from(codec.id()) | (header.attributes & KEPT_ATTRIBUTES);
    if horizon.is_some() {
        attributes |= DELETE_HORIZON_FLAG;
    }
    let mut buf = BytesMut::with_capacity(BATCH_HEADER_LEN + section.len());
    buf.put_i64(header.base_offset);
    buf.put_i32((BATCH_HEADER_LEN - LOG_OVERHEAD + section.len()) as i32);
    buf.put_i32(header.partition_leader_epoch);
    buf.put_i8(2);
    buf.put_u32(0);
    buf.put_i16(attributes);
    buf.put_i32(header.last_offset_delta);
    buf.put_i64(base_timestamp);
    buf.put_i64(max_timestamp);
    buf.put_i64(header.producer_id);
    buf.put_i16(header.producer_epoch);
    buf.put_i32(header.base_sequence);
    buf.put_i32(records.len() as i32);
    buf.put_slice(&section);
    let crc = compute_crc(&buf);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::{Validation, set_base_offset, validate_batch};
    use crate::log::record_walk::record_offsets_and_timestamps;
    use crate::log::testing::{make_batch, make_compressed_batch};

    fn at(batch: Bytes, base: i64) -> (Bytes, BatchHeader) {
        let mut b = BytesMut::from(&batch[..]);
        set_base_offset(&mut b, base);
        let b = b.freeze();
        let h = BatchHeader::parse(&b).expect("header");
        (b, h)
    }

    fn keys_and_values(batch: &[u8]) -> Vec<(Option<Vec<u8>>, bool)> {
        let h = validate_batch(batch, usize::MAX, Validation::Stored).expect("valid batch");
        let plain = records_section(batch, &h).expect("section");
        parse_records(&plain, h.record_count as usize)
            .expect("records")
            .iter()
            .map(|r| (r.key.map(<[u8]>::to_vec), r.has_value))
            .collect()
    }

    #[test]
    fn keeps_the_latest_per_key_with_offsets_timestamps_and_codec() {
        for codec in [
            CompressionCodec::None,
            CompressionCodec::Gzip,
            CompressionCodec::Snappy,
            CompressionCodec::Lz4,
            CompressionCodec::Zstd,
        ] {
            let (batch, header) = at(
                make_compressed_batch(
                    &[
                        (Some(b"a"), Some(b"1")),
                        (Some(b"b"), Some(b"2")),
                        (Some(b"a"), Some(b"3")),
                        (None, Some(b"keyless")),
                    ],
                    1000,
                    codec,
                ),
                100,
            );
            let mut map = OffsetMap::new(1 << 20);
            map.put(b"b", 101);
            map.put(b"a", 102);
            map.cover(103);
            let ctx = FilterContext {
                map: &map,
                now_ms: 0,
                delete_retention_ms: 10,
                retain_empty: false,
            };
            let (out, counts) = filter_batch(&batch, &header, &ctx).expect("filter");
            assert_eq!(
                counts,
                FilterCounts {
                    records_read: 4,
                    records_retained: 2
                }
            );
            let Filtered::Rebuilt(b) = out else {
                panic!("{codec:?}: expected a rebuilt batch")
            };
            let h = validate_batch(&b, usize::MAX, Validation::Stored).expect("CRC and framing");
            assert_eq!(h.compression(), codec);
            assert_eq!((h.base_offset, h.last_offset()), (100, 103), "offsets kept");
            assert_eq!(h.record_count, 2);
            assert_eq!(
                record_offsets_and_timestamps(&b).expect("walk"),
                vec![(101, 1001), (102, 1002)]
            );
            assert_eq!(h.max_timestamp, 1002);
            assert_eq!(
                keys_and_values(&b),
                vec![(Some(b"b".to_vec()), true), (Some(b"a".to_vec()), true)]
            );
        }
    }

    #[test]
    fn an_untouched_batch_stays_byte_for_byte_and_an_emptied_one_goes() {
        let (batch, header) = at(make_batch(&[(Some(b"k"), Some(b"v"))], 5, None), 7);
        let mut map = OffsetMap::new(1 << 20);
        map.put(b"k", 7);
        let ctx = FilterContext {
            map: &map,
            now_ms: 0,
            delete_retention_ms: 0,
            retain_empty: false,
        };
        assert_eq!(
            filter_batch(&batch, &header, &ctx).expect("filter").0,
            Filtered::Original
        );
        let mut later = OffsetMap::new(1 << 20);
        later.put(b"k", 9);
        let ctx = FilterContext { map: &later, ..ctx };
        assert_eq!(
            filter_batch(&batch, &header, &ctx).expect("filter").0,
            Filtered::Removed
        );
    }

    #[test]
    fn a_producers_last_batch_stays_as_an_empty_batch() {
        let (batch, header) = at(
            make_batch(&[(Some(b"k"), Some(b"v"))], 5, Some((42, 3, 17))),
            7,
        );
        let mut map = OffsetMap::new(1 << 20);
        map.put(b"k", 8);
        let ctx = FilterContext {
            map: &map,
            now_ms: 0,
            delete_retention_ms: 0,
            retain_empty: true,
        };
        let Filtered::Rebuilt(b) = filter_batch(&batch, &header, &ctx).expect("filter").0 else {
            panic!("expected an empty batch")
        };
        let h = validate_batch(&b, usize::MAX, Validation::Stored).expect("valid");
        assert_eq!((h.record_count, h.base_offset, h.last_offset()), (0, 7, 7));
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (42, 3, 17)
        );
        assert_eq!(b.len(), BATCH_HEADER_LEN);
    }

    #[test]
    fn a_tombstone_gets_a_delete_horizon_then_goes_once_it_passed() {
        let (batch, header) = at(
            make_batch(
                &[(Some(b"gone"), None), (Some(b"live"), Some(b"v"))],
                500,
                None,
            ),
            0,
        );
        let mut map = OffsetMap::new(1 << 20);
        map.put(b"gone", 0);
        map.put(b"live", 1);
        let first = FilterContext {
            map: &map,
            now_ms: 10_000,
            delete_retention_ms: 1_000,
            retain_empty: false,
        };
        let Filtered::Rebuilt(b) = filter_batch(&batch, &header, &first).expect("filter").0 else {
            panic!("the tombstone needs a horizon")
        };
        let h = validate_batch(&b, usize::MAX, Validation::Stored).expect("valid");
        assert_eq!(delete_horizon(&h), Some(11_000));
        assert_eq!(h.record_count, 2);
        // Record timestamps survive the rebasing on the horizon.
        assert_eq!(
            record_offsets_and_timestamps(&b).expect("walk"),
            vec![(0, 500), (1, 501)]
        );
        // Before the horizon: kept byte for byte.
        let before = FilterContext {
            now_ms: 10_999,
            ..first
        };
        assert_eq!(
            filter_batch(&b, &h, &before).expect("filter").0,
            Filtered::Original
        );
        // At the horizon: the tombstone goes, the value stays, the horizon stays.
        let after = FilterContext {
            now_ms: 11_000,
            ..first
        };
        let Filtered::Rebuilt(c) = filter_batch(&b, &h, &after).expect("filter").0 else {
            panic!("the tombstone should go")
        };
        let hc = validate_batch(&c, usize::MAX, Validation::Stored).expect("valid");
        assert_eq!(keys_and_values(&c), vec![(Some(b"live".to_vec()), true)]);
        assert_eq!(
            record_offsets_and_timestamps(&c).expect("walk"),
            vec![(1, 501)]
        );
        assert_eq!(hc.last_offset(), 1);
    }

    #[test]
    fn records_past_the_map_are_kept_whatever_their_key() {
        let (batch, header) = at(
            make_batch(&[(None, Some(b"x")), (Some(b"k"), Some(b"v"))], 0, None),
            50,
        );
        let mut map = OffsetMap::new(1 << 20);
        map.put(b"k", 10);
        let ctx = FilterContext {
            map: &map,
            now_ms: i64::MAX,
            delete_retention_ms: 0,
            retain_empty: false,
        };
        assert_eq!(
            filter_batch(&batch, &header, &ctx).expect("filter").0,
            Filtered::Original
        );
    }
}
