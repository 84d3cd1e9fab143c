//! Builders of valid RecordBatch v2 bytes for tests (ours and the broker's).
//! Encodes by hand: the fixed header, each record with zigzag varints, and
//! the CRC32C over attributes..end. Always compiled because integration
//! tests in other crates' targets reuse it; it is small and never on a hot path.

use bytes::{BufMut, Bytes, BytesMut};

use crate::log::batch::{BATCH_HEADER_LEN, CompressionCodec, LOG_OVERHEAD, compute_crc};
use crate::log::codec::compress;

/// A record as `(key, value)`; None is a null key or value.
pub type TestRecord<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

fn put_varlong(buf: &mut BytesMut, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.put_u8((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    buf.put_u8(z as u8);
}

fn put_bytes_field(buf: &mut BytesMut, field: Option<&[u8]>) {
    match field {
        None => put_varlong(buf, -1),
        Some(b) => {
            put_varlong(buf, b.len() as i64);
            buf.put_slice(b);
        }
    }
}

/// One uncompressed batch of `records` (key, value), base offset 0, record
/// `i` stamped `base_timestamp + i` (CreateTime). `producer` is
/// `(producer_id, producer_epoch, base_sequence)`; None means -1 for all.
pub fn make_batch(
    records: &[TestRecord<'_>],
    base_timestamp: i64,
    producer: Option<(i64, i16, i32)>,
) -> Bytes {
    build_batch(records, base_timestamp, producer, CompressionCodec::None)
}

/// [`make_batch`] with its records section compressed by `codec`.
pub fn make_compressed_batch(
    records: &[TestRecord<'_>],
    base_timestamp: i64,
    codec: CompressionCodec,
) -> Bytes {
    build_batch(records, base_timestamp, None, codec)
}

fn build_batch(
    records: &[TestRecord<'_>],
    base_timestamp: i64,
    producer: Option<(i64, i16, i32)>,
    codec: CompressionCodec,
) -> Bytes {
    let (producer_id, producer_epoch, base_sequence) = producer.unwrap_or((-1, -1, -1));
    let mut body = BytesMut::new();
    for (i, (key, value)) in records.iter().enumerate() {
        let mut rec = BytesMut::new();
        rec.put_i8(0); // attributes
        put_varlong(&mut rec, i as i64); // timestamp delta
        put_varlong(&mut rec, i as i64); // offset delta
        put_bytes_field(&mut rec, *key);
        put_bytes_field(&mut rec, *value);
        put_varlong(&mut rec, 0); // no headers
        put_varlong(&mut body, rec.len() as i64);
        body.put_slice(&rec);
    }
    let body = compress(codec, &body).expect("test records compress");
    let count = records.len() as i32;
    let max_timestamp = base_timestamp + i64::from(count.max(1) - 1);
    let mut buf = BytesMut::with_capacity(BATCH_HEADER_LEN + body.len());
    buf.put_i64(0); // base offset
    buf.put_i32((BATCH_HEADER_LEN - LOG_OVERHEAD + body.len()) as i32);
    buf.put_i32(-1); // partition leader epoch
    buf.put_i8(2); // magic
    buf.put_u32(0); // crc, filled below
    buf.put_i16(i16::from(codec.id())); // attributes
    buf.put_i32(count - 1); // last offset delta
    buf.put_i64(base_timestamp);
    buf.put_i64(max_timestamp);
    buf.put_i64(producer_id);
    buf.put_i16(producer_epoch);
    buf.put_i32(base_sequence);
    buf.put_i32(count);
    buf.put_slice(&body);
    let crc = compute_crc(&buf);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
    buf.freeze()
}

/// A batch of `record_count` records each holding a `value_len`-byte value.
pub fn make_value_batch(record_count: usize, value_len: usize, base_timestamp: i64) -> Bytes {
    let value = vec![b'x'; value_len];
    let records: Vec<TestRecord<'_>> = (0..record_count)
        .map(|_| (None, Some(&value[..])))
        .collect();
    make_batch(&records, base_timestamp, None)
}
