//! Zero-copy fetch responses: record bytes go from the page cache to the
//! socket with `sendfile`, never through our memory (Kafka's
//! `FileRecords.writeTo`, which uses `transferTo`).
//!
//! The `kafka-protocol` crate encodes a response from typed fields, and a
//! partition's records are a `Bytes` field it copies. So a fetch puts a
//! placeholder there: a `Bytes` of the right length over a static zero
//! region, and records the [`FileSlice`] it stands for with [`defer`]. The
//! connection encodes the response through [`encode_response_chunks`],
//! whose buffer recognises each placeholder when the encoder copies it (by
//! address and length, in encoding order) and cuts the output there: the
//! result is the encoded bytes around the records, and the file slices in
//! between, in wire order.
//!
//! Invariants: a placeholder exists only inside a [`collect`] scope, i.e.
//! only for a connection that will encode with the splicing buffer; every
//! deferred slice must be found by that buffer, or encoding fails (a
//! placeholder sent as data would be zeros on the wire); slices outside
//! [`SEND_FILE_MIN`]..=[`PLACEHOLDER_MAX`] are copied instead.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::ops::Range;
use std::sync::LazyLock;

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Encodable;
use kafka_protocol::protocol::buf::ByteBufMut;

use super::CodecError;
use crate::log::segment::FileSlice;

/// The largest slice sent from the file; larger ones (a single batch over
/// 16 MiB) are copied. The region is zero-initialised static memory that
/// is never read, so it costs address space, not resident memory.
pub const PLACEHOLDER_MAX: usize = 16 << 20;

/// Below this, copying the bytes costs less than the extra system calls of
/// sending the response in pieces.
pub const SEND_FILE_MIN: usize = 16 << 10;

/// The placeholders' bytes. Allocated zeroed on first use rather than a
/// `static` array, which the linker placed in the binary's read-only data:
/// 16 MiB of zeros on disk and in every image. A zeroed allocation this big
/// is fresh pages that are never written, so it costs no memory either.
static ZEROS: LazyLock<&'static [u8]> =
    LazyLock::new(|| Box::leak(vec![0u8; PLACEHOLDER_MAX].into_boxed_slice()));

tokio::task_local! {
    static DEFERRED: RefCell<Vec<FileSlice>>;
}

/// Runs a request's handling, collecting the slices its response defers.
pub async fn collect<F: Future>(handling: F) -> (F::Output, Vec<FileSlice>) {
    DEFERRED
        .scope(RefCell::new(Vec::new()), async move {
            let out = handling.await;
            let slices = DEFERRED.with(|d| d.take());
            (out, slices)
        })
        .await
}

/// A placeholder for `slice` when it can be sent from the file, else None
/// (the caller copies the bytes). Call in the order the encoder will meet
/// the records fields, and only for the response that is sent.
pub fn defer(slice: &FileSlice) -> Option<Bytes> {
    let len = slice.len();
    if !(SEND_FILE_MIN..=PLACEHOLDER_MAX).contains(&len) {
        return None;
    }
    DEFERRED
        .try_with(|d| d.borrow_mut().push(slice.clone()))
        .ok()
        .map(|()| Bytes::from_static(&ZEROS[..len]))
}

/// A piece of an encoded response, in wire order.
#[derive(Debug)]
pub enum Chunk {
    Bytes(Bytes),
    File(FileSlice),
}

/// The encoder's buffer: copies everything but deferred placeholders,
/// which become [`Chunk::File`]s.
struct SplicingBuf {
    buf: BytesMut,
    chunks: Vec<Chunk>,
    pending: VecDeque<FileSlice>,
    /// Logical length of the chunks already cut.
    cut: usize,
}

impl SplicingBuf {
    fn is_placeholder(&self, src: &[u8]) -> bool {
        !src.is_empty()
            && std::ptr::eq(src.as_ptr(), ZEROS.as_ptr())
            && self.pending.front().is_some_and(|s| s.len() == src.len())
    }
}

// SAFETY: every method delegates to the inner `BytesMut`, whose own
// implementation upholds the trait's contract.
unsafe impl BufMut for SplicingBuf {
    fn remaining_mut(&self) -> usize {
        self.buf.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { self.buf.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.buf.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        if self.is_placeholder(src) {
            let slice = self.pending.pop_front().expect("checked by is_placeholder");
            self.cut += self.buf.len() + slice.len();
            self.chunks.push(Chunk::Bytes(self.buf.split().freeze()));
            self.chunks.push(Chunk::File(slice));
        } else {
            self.buf.extend_from_slice(src);
        }
    }
}

// Offsets are logical (file chunks included). The crate seeks and reads
// back only while encoding record batches, never around a records field of
// a message, so ranges always fall in the current buffer.
impl ByteBufMut for SplicingBuf {
    fn offset(&self) -> usize {
        self.cut + self.buf.len()
    }

    fn seek(&mut self, offset: usize) {
        self.buf.resize(offset - self.cut, 0);
    }

    fn range(&mut self, r: Range<usize>) -> &mut [u8] {
        &mut self.buf[r.start - self.cut..r.end - self.cut]
    }
}

/// Encodes a response whose records fields hold the placeholders of
/// `slices` (from [`collect`]), prefixed by the 4-byte frame length, as the
/// pieces to write in order.
pub fn encode_response_chunks(
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    response: &ResponseKind,
    slices: Vec<FileSlice>,
) -> Result<Vec<Chunk>, CodecError> {
    let fail = |reason: String| CodecError::Encode {
        api_key,
        api_version,
        reason,
    };
    let deferred: usize = slices.iter().map(FileSlice::len).sum();
    let hint = match response {
        ResponseKind::Fetch(f) => f.compute_size(api_version).unwrap_or(0),
        _ => 0,
    };
    let mut out = SplicingBuf {
        buf: BytesMut::with_capacity(64 + hint.saturating_sub(deferred).max(192)),
        chunks: Vec::with_capacity(2 * slices.len() + 1),
        pending: slices.into(),
        cut: 0,
    };
    out.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut out, api_key.response_header_version(api_version))
        .map_err(|e| fail(e.to_string()))?;
    // `ResponseKind::encode` writes only into a `BytesMut`; the message
    // types take any `ByteBufMut`. Only fetch responses carry records.
    match response {
        ResponseKind::Fetch(f) => f.encode(&mut out, api_version),
        _ => return Err(fail("only fetch responses carry file slices".into())),
    }
    .map_err(|e| fail(e.to_string()))?;
    if !out.pending.is_empty() {
        return Err(fail(format!(
            "{} deferred record slices were not met while encoding",
            out.pending.len()
        )));
    }
    let len = i32::try_from(out.offset() - 4).map_err(|e| fail(e.to_string()))?;
    out.chunks.push(Chunk::Bytes(out.buf.split().freeze()));
    // The length goes into the first piece, which holds the header.
    let Some(Chunk::Bytes(first)) = out.chunks.first_mut() else {
        unreachable!("the header is always the first piece");
    };
    let mut head = BytesMut::from(&first[..]);
    head[..4].copy_from_slice(&len.to_be_bytes());
    *first = head.freeze();
    Ok(out.chunks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::codec::encode_response;
    use kafka_protocol::messages::FetchResponse;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::protocol::StrBytes;

    use crate::log::testing::make_value_batch;
    use crate::log::{LogConfig, PartitionLog};

    fn response(records: Vec<Option<Bytes>>) -> ResponseKind {
        let partitions = records
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                PartitionData::default()
                    .with_partition_index(i as i32)
                    .with_records(r)
            })
            .collect();
        ResponseKind::Fetch(FetchResponse::default().with_responses(vec![
                FetchableTopicResponse::default()
                    .with_topic(kafka_protocol::messages::TopicName(
                        StrBytes::from_static_str("t"),
                    ))
                    .with_partitions(partitions),
            ]))
    }

    fn filled_log() -> (tempfile::TempDir, PartitionLog) {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = PartitionLog::open(dir.path(), LogConfig::default(), true, 0).expect("open");
        for _ in 0..40 {
            log.append(make_value_batch(4, 1000, 0), 0, 0)
                .expect("append");
        }
        (dir, log)
    }

    fn flatten(chunks: &[Chunk]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks {
            match c {
                Chunk::Bytes(b) => out.extend_from_slice(b),
                Chunk::File(s) => out.extend_from_slice(&s.read().expect("read slice")),
            }
        }
        out
    }

    /// Spliced output, with the file pieces filled in, is byte for byte
    /// what the copying encoder writes, for every version and with small
    /// (copied) and large (deferred) partitions mixed.
    #[tokio::test]
    async fn spliced_responses_match_copied_ones() {
        let (_dir, log) = filled_log();
        let end = log.log_end_offset();
        for version in [4i16, 11, 12, 13, 16] {
            let reads = [(0, 1 << 20), (8, 100), (20, 40_000)];
            let copied: Vec<Option<Bytes>> = reads
                .iter()
                .map(|(o, m)| Some(log.read(*o, *m, end).expect("read").records))
                .collect();
            let expected =
                encode_response(ApiKey::Fetch, version, 7, &response(copied)).expect("encode");
            let (records, slices) = collect(async {
                reads
                    .iter()
                    .map(|(o, m)| {
                        let s = log
                            .read_slice(*o, *m, end)
                            .expect("slice")
                            .slice
                            .expect("data");
                        Some(defer(&s).unwrap_or_else(|| s.read().expect("read")))
                    })
                    .collect::<Vec<_>>()
            })
            .await;
            assert_eq!(slices.len(), 2, "the two large reads are deferred");
            let chunks =
                encode_response_chunks(ApiKey::Fetch, version, 7, &response(records), slices)
                    .expect("encode");
            assert_eq!(
                chunks
                    .iter()
                    .filter(|c| matches!(c, Chunk::File(_)))
                    .count(),
                2
            );
            assert_eq!(flatten(&chunks), expected.to_vec(), "version {version}");
        }
    }

    /// A log of 40 batches of about 4 KiB, and a slice of all of it.
    fn large_slice() -> (tempfile::TempDir, FileSlice) {
        let (dir, log) = filled_log();
        let s = log
            .read_slice(0, 1 << 20, i64::MAX)
            .expect("slice")
            .slice
            .expect("data");
        (dir, s)
    }

    #[test]
    fn nothing_is_deferred_outside_a_scope() {
        let (_dir, s) = large_slice();
        assert!(s.len() >= SEND_FILE_MIN);
        assert!(defer(&s).is_none());
    }

    #[test]
    fn an_unmet_placeholder_fails_the_encoding() {
        let (_dir, s) = large_slice();
        // The response does not carry the placeholder the slice stands for.
        let r = encode_response_chunks(ApiKey::Fetch, 12, 1, &response(vec![None]), vec![s]);
        assert!(r.is_err());
    }
}
