//! A read-only view over RecordBatch v2 bytes (Kafka's `DefaultRecordBatch`):
//! header fields are read in place, records are never decoded on the hot path.
//!
//! Layout (big-endian): baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 |
//! magic i8 | crc u32 | attributes i16 | lastOffsetDelta i32 | baseTimestamp i64 |
//! maxTimestamp i64 | producerId i64 | producerEpoch i16 | baseSequence i32 |
//! recordCount i32 | records... The CRC32C covers attributes..end.
//!
//! Invariants: every function here works on untrusted bytes (a Produce
//! request or a file after a crash) and returns a [`LogError`] instead of
//! panicking. The only writers are the `set_*` helpers, which touch fields
//! outside the CRC except [`set_log_append_time`], which recomputes it.

use crate::log::LogError;

/// Size of the fixed batch header.
pub const BATCH_HEADER_LEN: usize = 61;
/// Bytes before `batchLength` counts: baseOffset + batchLength.
pub const LOG_OVERHEAD: usize = 12;
/// The only message format we store.
pub const MAGIC_V2: i8 = 2;

const BASE_OFFSET_POS: usize = 0;
const LENGTH_POS: usize = 8;
const PARTITION_LEADER_EPOCH_POS: usize = 12;
const MAGIC_POS: usize = 16;
const CRC_POS: usize = 17;
const ATTRIBUTES_POS: usize = 21;
const LAST_OFFSET_DELTA_POS: usize = 23;
const BASE_TIMESTAMP_POS: usize = 27;
const MAX_TIMESTAMP_POS: usize = 35;
const PRODUCER_ID_POS: usize = 43;
const PRODUCER_EPOCH_POS: usize = 51;
const BASE_SEQUENCE_POS: usize = 53;
const RECORD_COUNT_POS: usize = 57;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// Compression codec of a batch (attributes bits 0..2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressionCodec {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
    /// A codec id Kafka does not define (5..7).
    Unknown(u8),
}

/// The parsed fixed header of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

fn be_i16(b: &[u8], pos: usize) -> i16 {
    i16::from_be_bytes([b[pos], b[pos + 1]])
}
fn be_i32(b: &[u8], pos: usize) -> i32 {
    i32::from_be_bytes([b[pos], b[pos + 1], b[pos + 2], b[pos + 3]])
}
fn be_i64(b: &[u8], pos: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[pos..pos + 8]);
    i64::from_be_bytes(a)
}

/// Reads `batchLength` and returns the batch's total size on disk
/// (`LOG_OVERHEAD + batchLength`), or an error when `bytes` is too short to
/// hold the length or the length is below a header's size.
pub fn peek_batch_size(bytes: &[u8]) -> Result<usize, LogError> {
    if bytes.len() < LOG_OVERHEAD {
        return Err(LogError::CorruptBatch(format!(
            "{} bytes cannot hold a batch length",
            bytes.len()
        )));
    }
    let length = be_i32(bytes, LENGTH_POS);
    if length < (BATCH_HEADER_LEN - LOG_OVERHEAD) as i32 {
        return Err(LogError::CorruptBatch(format!(
            "batch length {length} is below the v2 header size"
        )));
    }
    Ok(LOG_OVERHEAD + length as usize)
}

impl BatchHeader {
    /// Parses the fixed header. Checks only that the bytes are long enough
    /// and the magic is 2; see [`validate_batch`] for the full checks.
    pub fn parse(bytes: &[u8]) -> Result<BatchHeader, LogError> {
        if bytes.len() < MAGIC_POS + 1 {
            return Err(LogError::CorruptBatch(format!(
                "{} bytes cannot hold a batch header",
                bytes.len()
            )));
        }
        let magic = bytes[MAGIC_POS] as i8;
        if magic != MAGIC_V2 {
            return Err(LogError::UnsupportedMagic(magic));
        }
        if bytes.len() < BATCH_HEADER_LEN {
            return Err(LogError::CorruptBatch(format!(
                "{} bytes cannot hold a v2 batch header",
                bytes.len()
            )));
        }
        Ok(BatchHeader {
            base_offset: be_i64(bytes, BASE_OFFSET_POS),
            batch_length: be_i32(bytes, LENGTH_POS),
            partition_leader_epoch: be_i32(bytes, PARTITION_LEADER_EPOCH_POS),
            magic,
            crc: be_i32(bytes, CRC_POS) as u32,
            attributes: be_i16(bytes, ATTRIBUTES_POS),
            last_offset_delta: be_i32(bytes, LAST_OFFSET_DELTA_POS),
            base_timestamp: be_i64(bytes, BASE_TIMESTAMP_POS),
            max_timestamp: be_i64(bytes, MAX_TIMESTAMP_POS),
            producer_id: be_i64(bytes, PRODUCER_ID_POS),
            producer_epoch: be_i16(bytes, PRODUCER_EPOCH_POS),
            base_sequence: be_i32(bytes, BASE_SEQUENCE_POS),
            record_count: be_i32(bytes, RECORD_COUNT_POS),
        })
    }

    /// Offset of the last record (`baseOffset + lastOffsetDelta`).
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// Offset just past the batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }

    /// Total size on disk and on the wire.
    pub fn size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    pub fn compression(&self) -> CompressionCodec {
        match (self.attributes & COMPRESSION_MASK) as u8 {
            0 => CompressionCodec::None,
            1 => CompressionCodec::Gzip,
            2 => CompressionCodec::Snappy,
            3 => CompressionCodec::Lz4,
            4 => CompressionCodec::Zstd,
            other => CompressionCodec::Unknown(other),
        }
    }

    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }
}

/// CRC32C over attributes..end, as stored in the header.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES_POS..])
}

/// What [`validate_batch`] checks beyond the framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// A Produce request: `recordCount == lastOffsetDelta + 1`.
    Produce,
    /// Replicated or recovered bytes: a compacted batch may hold fewer
    /// records than its offset range, so only signs are checked.
    Stored,
}

/// Validates one whole batch (`batch` is exactly the batch's bytes):
/// magic, declared length, CRC32C, record count against the last offset
/// delta, and the size limit.
pub fn validate_batch(
    batch: &[u8],
    max_message_bytes: usize,
    mode: Validation,
) -> Result<BatchHeader, LogError> {
    let header = BatchHeader::parse(batch)?;
    let size = peek_batch_size(batch)?;
    if size != batch.len() {
        return Err(LogError::CorruptBatch(format!(
            "declared batch size {size} but {} bytes given",
            batch.len()
        )));
    }
    if size > max_message_bytes {
        return Err(LogError::BatchTooLarge {
            size,
            max: max_message_bytes,
        });
    }
    let computed = compute_crc(batch);
    if computed != header.crc {
        return Err(LogError::CrcMismatch {
            stored: header.crc,
            computed,
        });
    }
    if header.record_count < 0 || header.last_offset_delta < 0 {
        return Err(LogError::InvalidBatch(format!(
            "record count {} and last offset delta {} must not be negative",
            header.record_count, header.last_offset_delta
        )));
    }
    if mode == Validation::Produce
        && i64::from(header.record_count) != i64::from(header.last_offset_delta) + 1
    {
        return Err(LogError::InvalidBatch(format!(
            "record count {} disagrees with last offset delta {}",
            header.record_count, header.last_offset_delta
        )));
    }
    // A Produce batch's base offset is the client's and is replaced; a
    // stored one is a real offset: not negative, and the offset after it
    // must exist.
    if mode == Validation::Stored
        && (header.base_offset < 0
            || header
                .base_offset
                .checked_add(i64::from(header.last_offset_delta) + 1)
                .is_none())
    {
        return Err(LogError::InvalidBatch(format!(
            "base offset {} with last offset delta {} is outside the offset range",
            header.base_offset, header.last_offset_delta
        )));
    }
    Ok(header)
}

/// Iterates back-to-back batches, yielding each header with its bytes.
/// Stops with an error at the first batch that does not fit (a torn tail);
/// does not check CRCs.
pub struct BatchIter<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BatchIter<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        BatchIter { bytes, pos: 0 }
    }

    /// Byte position of the next batch.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<(BatchHeader, &'a [u8]), LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.bytes[self.pos..];
        if rest.is_empty() {
            return None;
        }
        if rest.len() > MAGIC_POS && rest[MAGIC_POS] as i8 != MAGIC_V2 {
            // v0/v1 message sets have their magic at the same position.
            self.pos = self.bytes.len();
            return Some(Err(LogError::UnsupportedMagic(rest[MAGIC_POS] as i8)));
        }
        let result = peek_batch_size(rest).and_then(|size| {
            if size > rest.len() {
                return Err(LogError::CorruptBatch(format!(
                    "batch of {size} bytes runs past the {} bytes left",
                    rest.len()
                )));
            }
            let header = BatchHeader::parse(&rest[..size])?;
            Ok((header, &rest[..size]))
        });
        match result {
            Ok((header, slice)) => {
                self.pos += slice.len();
                Some(Ok((header, slice)))
            }
            Err(e) => {
                // Stop after the first error so a caller cannot loop forever.
                self.pos = self.bytes.len();
                Some(Err(e))
            }
        }
    }
}

/// Writes the base offset (outside the CRC).
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[BASE_OFFSET_POS..BASE_OFFSET_POS + 8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Writes the partition leader epoch (outside the CRC).
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[PARTITION_LEADER_EPOCH_POS..PARTITION_LEADER_EPOCH_POS + 4]
        .copy_from_slice(&epoch.to_be_bytes());
}

/// Stamps `LogAppendTime`: sets the timestamp-type bit and maxTimestamp,
/// then recomputes the CRC (both fields are inside it).
pub fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    set_max_timestamp(batch, TimestampType::LogAppendTime, now_ms);
}

/// Sets the timestamp type and max timestamp and recomputes the CRC (both
/// are inside it), as Kafka's `setMaxTimestamp` does after validation.
pub fn set_max_timestamp(batch: &mut [u8], timestamp_type: TimestampType, max_timestamp: i64) {
    let mut attributes = be_i16(batch, ATTRIBUTES_POS) & !TIMESTAMP_TYPE_BIT;
    if timestamp_type == TimestampType::LogAppendTime {
        attributes |= TIMESTAMP_TYPE_BIT;
    }
    batch[ATTRIBUTES_POS..ATTRIBUTES_POS + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP_POS..MAX_TIMESTAMP_POS + 8].copy_from_slice(&max_timestamp.to_be_bytes());
    let crc = compute_crc(batch);
    batch[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::testing::make_batch;
    use bytes::BytesMut;

    #[test]
    fn stored_batches_need_offsets_inside_the_range() {
        // Found by fuzzing: a replicated batch ending at i64::MAX has no
        // next offset. A produced batch's base offset is replaced, so only
        // stored batches are held to it.
        for base in [-1, i64::MAX - 1, i64::MAX] {
            let mut b =
                BytesMut::from(&make_batch(&[(None, Some(b"v")), (None, Some(b"w"))], 0, None)[..]);
            set_base_offset(&mut b, base);
            assert!(
                matches!(
                    validate_batch(&b, 1 << 20, Validation::Stored),
                    Err(LogError::InvalidBatch(_))
                ),
                "{base}"
            );
            assert!(
                validate_batch(&b, 1 << 20, Validation::Produce).is_ok(),
                "{base}"
            );
        }
    }

    #[test]
    fn parses_a_batch_made_by_the_test_encoder() {
        let b = make_batch(&[(Some(b"k"), Some(b"v")), (None, Some(b"w"))], 1000, None);
        let h = validate_batch(&b, 1 << 20, Validation::Produce).expect("valid");
        assert_eq!(h.record_count, 2);
        assert_eq!(h.last_offset_delta, 1);
        assert_eq!(h.base_timestamp, 1000);
        assert_eq!(h.max_timestamp, 1001);
        assert_eq!(h.size(), b.len());
        assert_eq!(h.compression(), CompressionCodec::None);
        assert_eq!(h.timestamp_type(), TimestampType::CreateTime);
        assert!(!h.is_transactional() && !h.is_control());
    }

    #[test]
    fn each_failure_is_its_own_error() {
        let b = make_batch(&[(None, Some(b"value"))], 5, None);
        let mut bad_magic = b.to_vec();
        bad_magic[MAGIC_POS] = 1;
        assert!(matches!(
            validate_batch(&bad_magic, 1 << 20, Validation::Produce),
            Err(LogError::UnsupportedMagic(1))
        ));
        let mut bad_crc = b.to_vec();
        let last = bad_crc.len() - 1;
        bad_crc[last] ^= 0xff;
        assert!(matches!(
            validate_batch(&bad_crc, 1 << 20, Validation::Produce),
            Err(LogError::CrcMismatch { .. })
        ));
        assert!(matches!(
            validate_batch(&b[..b.len() - 1], 1 << 20, Validation::Produce),
            Err(LogError::CorruptBatch(_))
        ));
        assert!(matches!(
            validate_batch(&b, 10, Validation::Produce),
            Err(LogError::BatchTooLarge { .. })
        ));
        let mut bad_count = b.to_vec();
        bad_count[RECORD_COUNT_POS..RECORD_COUNT_POS + 4].copy_from_slice(&3i32.to_be_bytes());
        let crc = compute_crc(&bad_count);
        bad_count[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            validate_batch(&bad_count, 1 << 20, Validation::Produce),
            Err(LogError::InvalidBatch(_))
        ));
        assert!(validate_batch(&bad_count, 1 << 20, Validation::Stored).is_ok());
    }

    #[test]
    fn iterates_back_to_back_batches_and_stops_at_a_torn_tail() {
        let a = make_batch(&[(None, Some(b"a"))], 1, None);
        let b = make_batch(&[(None, Some(b"bb")), (None, None)], 2, None);
        let mut all = a.to_vec();
        all.extend_from_slice(&b);
        let sizes: Vec<usize> = BatchIter::new(&all)
            .map(|r| r.expect("whole").1.len())
            .collect();
        assert_eq!(sizes, vec![a.len(), b.len()]);
        let torn = &all[..all.len() - 3];
        let results: Vec<_> = BatchIter::new(torn).collect();
        assert_eq!(results.len(), 2);
        assert!(results[0].is_ok());
        assert!(matches!(results[1], Err(LogError::CorruptBatch(_))));
    }

    #[test]
    fn log_append_time_rewrite_keeps_the_crc_valid() {
        let mut b = make_batch(&[(None, Some(b"x"))], 7, None).to_vec();
        set_base_offset(&mut b, 42);
        set_partition_leader_epoch(&mut b, 3);
        set_log_append_time(&mut b, 99);
        let h = validate_batch(&b, 1 << 20, Validation::Produce).expect("valid");
        assert_eq!(h.base_offset, 42);
        assert_eq!(h.partition_leader_epoch, 3);
        assert_eq!(h.max_timestamp, 99);
        assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..80 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = validate_batch(&junk, 1 << 20, Validation::Stored);
            let _ = BatchIter::new(&junk).count();
        }
    }
}
