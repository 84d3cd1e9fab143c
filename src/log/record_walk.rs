//! A walk over the records inside one v2 batch (Kafka's `DefaultRecord`
//! framing) that reads only what validation and look-ups need: each
//! record's attributes, timestamp delta, offset delta and whether it has a
//! key. Keys, values and headers are skipped, never copied, so a walk costs
//! a few varint reads per record on an uncompressed batch and a fixed
//! buffer on a compressed one (decompressed as a stream, as Kafka's
//! `skipKeyValueIterator` does).
//!
//! Record layout: length varint | attributes i8 | timestampDelta varlong |
//! offsetDelta varint | keyLength varint (-1 null) | key | valueLength
//! varint (-1 null) | value | headerCount varint | per header: keyLength
//! varint (never negative) | key | valueLength varint (-1 null) | value.
//!
//! The bytes are untrusted (a Produce request, a file after a crash): every
//! failure is a [`WalkError`], never a panic, and the declared sizes must
//! agree exactly with what was read, as Kafka's `DefaultRecord.readFrom`
//! and its "records still remaining" check require.

use std::io::Read;

use crate::log::batch::{BATCH_HEADER_LEN, BatchHeader, CompressionCodec, TimestampType};
use crate::log::codec::decompressing_reader;

/// What the walk reads of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordInfo {
    /// Position of the record in its batch, from 0.
    pub index: usize,
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub has_key: bool,
}

impl RecordInfo {
    /// The record's timestamp as Kafka's `Record.timestamp()` reports it:
    /// the batch's max timestamp for a LogAppendTime batch.
    pub fn timestamp(&self, header: &BatchHeader) -> i64 {
        match header.timestamp_type() {
            TimestampType::LogAppendTime => header.max_timestamp,
            TimestampType::CreateTime => header.base_timestamp.wrapping_add(self.timestamp_delta),
        }
    }
}

/// Why a batch's records could not be walked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalkError {
    #[error("cannot decompress the {codec} records of the batch: {reason}")]
    Decompress { codec: &'static str, reason: String },
    #[error("invalid record structure: {0}")]
    Malformed(String),
}

/// Walks every record of `batch` (one whole batch, header included, whose
/// parsed header is `header`), calling `visit` for each in order; `visit`
/// returns false to stop early. Checks that exactly `recordCount` records
/// fill the records section. Returns how many records were visited.
pub fn walk_records(
    batch: &[u8],
    header: &BatchHeader,
    mut visit: impl FnMut(RecordInfo) -> bool,
) -> Result<usize, WalkError> {
    let section = batch.get(BATCH_HEADER_LEN..).unwrap_or_default();
    let codec = header.compression();
    let count = header.record_count.max(0) as usize;
    if codec == CompressionCodec::None {
        return walk(
            &mut SliceInput {
                data: section,
                pos: 0,
            },
            count,
            &mut visit,
        );
    }
    let decompress_error = |e: std::io::Error| WalkError::Decompress {
        codec: codec.name(),
        reason: e.to_string(),
    };
    let reader = decompressing_reader(codec, section).map_err(decompress_error)?;
    let mut input = StreamInput::new(reader, codec.name());
    walk(&mut input, count, &mut visit)
}

/// The (offset, timestamp) of every record of a batch whose base offset is
/// real (a stored batch), whatever its codec. None when the records cannot
/// be walked.
pub fn record_offsets_and_timestamps(batch: &[u8]) -> Option<Vec<(i64, i64)>> {
    let header = BatchHeader::parse(batch).ok()?;
    let mut out = Vec::with_capacity(header.record_count.clamp(0, 4096) as usize);
    let mut overflow = false;
    walk_records(batch, &header, |r| {
        match header.base_offset.checked_add(i64::from(r.offset_delta)) {
            Some(offset) => out.push((offset, r.timestamp(&header))),
            // Untrusted bytes: an offset past i64::MAX is no record at all.
            None => overflow = true,
        }
        !overflow
    })
    .ok()?;
    (!overflow).then_some(out)
}

fn walk(
    input: &mut impl Input,
    count: usize,
    visit: &mut impl FnMut(RecordInfo) -> bool,
) -> Result<usize, WalkError> {
    for index in 0..count {
        let length = input.varint()?;
        if length < 0 {
            return Err(malformed(format!(
                "record {index} has a negative size {length}"
            )));
        }
        let start = input.position();
        let attributes = input.byte()? as i8;
        let timestamp_delta = input.varlong()?;
        let offset_delta = input.varint()?;
        let key_length = input.varint()?;
        if key_length >= 0 {
            input.skip(key_length as u64)?;
        }
        let value_length = input.varint()?;
        if value_length >= 0 {
            input.skip(value_length as u64)?;
        }
        let headers = input.varint()?;
        if headers < 0 {
            return Err(malformed(format!(
                "record {index} has an invalid number of headers {headers}"
            )));
        }
        for _ in 0..headers {
            let header_key = input.varint()?;
            if header_key < 0 {
                return Err(malformed(format!(
                    "record {index} has a negative header key size"
                )));
            }
            input.skip(header_key as u64)?;
            let header_value = input.varint()?;
            if header_value >= 0 {
                input.skip(header_value as u64)?;
            }
        }
        let read = input.position() - start;
        if read != length as u64 {
            return Err(malformed(format!(
                "record {index} declares {length} bytes but holds {read}"
            )));
        }
        let info = RecordInfo {
            index,
            attributes,
            timestamp_delta,
            offset_delta,
            has_key: key_length >= 0,
        };
        if !visit(info) {
            return Ok(index + 1);
        }
    }
    if !input.at_end()? {
        return Err(malformed(format!(
            "bytes remain after the declared {count} records"
        )));
    }
    Ok(count)
}

fn malformed(message: String) -> WalkError {
    WalkError::Malformed(message)
}

/// A source of record bytes: a slice, or a decompressing stream.
trait Input {
    fn byte(&mut self) -> Result<u8, WalkError>;
    fn skip(&mut self, n: u64) -> Result<(), WalkError>;
    /// Bytes consumed so far.
    fn position(&self) -> u64;
    fn at_end(&mut self) -> Result<bool, WalkError>;

    /// A zigzag varint of at most 5 bytes (Kafka's `ByteUtils.readVarint`).
    fn varint(&mut self) -> Result<i32, WalkError> {
        let raw = self.raw_varint(5)?;
        Ok(((raw >> 1) as u32 as i32) ^ -((raw & 1) as i32))
    }

    /// A zigzag varlong of at most 10 bytes.
    fn varlong(&mut self) -> Result<i64, WalkError> {
        let raw = self.raw_varint(10)?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    fn raw_varint(&mut self, max_bytes: usize) -> Result<u64, WalkError> {
        let mut raw: u64 = 0;
        for i in 0..max_bytes {
            let byte = self.byte()?;
            raw |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(raw);
            }
        }
        Err(malformed("a varint is longer than allowed".into()))
    }
}

fn cut_short() -> WalkError {
    malformed("a record runs past the end of the batch".into())
}

struct SliceInput<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input for SliceInput<'_> {
    fn byte(&mut self) -> Result<u8, WalkError> {
        let b = *self.data.get(self.pos).ok_or_else(cut_short)?;
        self.pos += 1;
        Ok(b)
    }

    fn skip(&mut self, n: u64) -> Result<(), WalkError> {
        let left = (self.data.len() - self.pos) as u64;
        if n > left {
            return Err(cut_short());
        }
        self.pos += n as usize;
        Ok(())
    }

    fn position(&self) -> u64 {
        self.pos as u64
    }

    fn at_end(&mut self) -> Result<bool, WalkError> {
        Ok(self.pos == self.data.len())
    }
}

/// Decompressed bytes through a fixed buffer.
struct StreamInput<R> {
    reader: R,
    codec: &'static str,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    consumed: u64,
}

const STREAM_BUFFER_LEN: usize = 16 * 1024;

impl<R: Read> StreamInput<R> {
    fn new(reader: R, codec: &'static str) -> Self {
        StreamInput {
            reader,
            codec,
            buf: vec![0; STREAM_BUFFER_LEN].into_boxed_slice(),
            start: 0,
            end: 0,
            consumed: 0,
        }
    }

    /// Refills the buffer; false at the end of the stream.
    fn fill(&mut self) -> Result<bool, WalkError> {
        loop {
            match self.reader.read(&mut self.buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.start = 0;
                    self.end = n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(WalkError::Decompress {
                        codec: self.codec,
                        reason: e.to_string(),
                    });
                }
            }
        }
    }
}

impl<R: Read> Input for StreamInput<R> {
    fn byte(&mut self) -> Result<u8, WalkError> {
        if self.start == self.end && !self.fill()? {
            return Err(cut_short());
        }
        let b = self.buf[self.start];
        self.start += 1;
        self.consumed += 1;
        Ok(b)
    }

    fn skip(&mut self, mut n: u64) -> Result<(), WalkError> {
        while n > 0 {
            if self.start == self.end && !self.fill()? {
                return Err(cut_short());
            }
            let step = n.min((self.end - self.start) as u64);
            self.start += step as usize;
            self.consumed += step;
            n -= step;
        }
        Ok(())
    }

    fn position(&self) -> u64 {
        self.consumed
    }

    fn at_end(&mut self) -> Result<bool, WalkError> {
        Ok(self.start == self.end && !self.fill()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::testing::{make_batch, make_compressed_batch};

    #[test]
    fn walks_every_record_of_an_uncompressed_batch() {
        let b = make_batch(
            &[(Some(b"k"), Some(b"v")), (None, Some(b"w")), (None, None)],
            1000,
            None,
        );
        let header = BatchHeader::parse(&b).unwrap();
        let mut seen = Vec::new();
        let n = walk_records(&b, &header, |r| {
            seen.push((r.index, r.offset_delta, r.timestamp(&header), r.has_key));
            true
        })
        .unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            seen,
            vec![(0, 0, 1000, true), (1, 1, 1001, false), (2, 2, 1002, false)]
        );
    }

    #[test]
    fn walks_compressed_batches_of_every_codec() {
        let values: Vec<Vec<u8>> = (0..500)
            .map(|i| format!("value-{i}").into_bytes())
            .collect();
        let recs: Vec<_> = values.iter().map(|v| (None, Some(&v[..]))).collect();
        for codec in [
            CompressionCodec::Gzip,
            CompressionCodec::Snappy,
            CompressionCodec::Lz4,
            CompressionCodec::Zstd,
        ] {
            let b = make_compressed_batch(&recs, 5000, codec);
            let header = BatchHeader::parse(&b).unwrap();
            assert_eq!(header.compression(), codec);
            let got = record_offsets_and_timestamps(&b).expect("walkable");
            let want: Vec<_> = (0..500).map(|i| (i as i64, 5000 + i as i64)).collect();
            assert_eq!(got, want, "{codec:?}");
        }
    }

    #[test]
    fn sizes_that_disagree_are_malformed() {
        let b = make_batch(&[(None, Some(b"value"))], 0, None);
        let header = BatchHeader::parse(&b).unwrap();
        // One record more than the batch holds.
        let mut more = header;
        more.record_count = 2;
        assert!(matches!(
            walk_records(&b, &more, |_| true),
            Err(WalkError::Malformed(_))
        ));
        // One fewer: bytes remain.
        let mut fewer = header;
        fewer.record_count = 0;
        assert!(matches!(
            walk_records(&b, &fewer, |_| true),
            Err(WalkError::Malformed(_))
        ));
        // A record length one byte too long.
        let mut long = b.to_vec();
        long[BATCH_HEADER_LEN] += 2; // zigzag: +1
        assert!(matches!(
            walk_records(&long, &header, |_| true),
            Err(WalkError::Malformed(_))
        ));
    }

    #[test]
    fn garbage_never_panics() {
        let b = make_batch(&[(Some(b"k"), Some(b"v"))], 0, None);
        let header = BatchHeader::parse(&b).unwrap();
        for len in BATCH_HEADER_LEN..b.len() {
            let _ = walk_records(&b[..len], &header, |_| true);
        }
        for seed in 0..64u32 {
            let mut junk = b.to_vec();
            for (i, byte) in junk.iter_mut().enumerate().skip(BATCH_HEADER_LEN) {
                *byte = (i as u32 * 37 + seed * 11) as u8;
            }
            let _ = walk_records(&junk, &header, |_| true);
            for codec in [1u8, 2, 3, 4] {
                let mut h = header;
                h.attributes = codec as i16;
                let _ = walk_records(&junk, &h, |_| true);
            }
        }
    }
}
