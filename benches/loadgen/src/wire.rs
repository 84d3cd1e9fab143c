//! A minimal blocking Kafka client over `kafka-protocol`: frame a request
//! with its header, read a response frame, decode it. The broker-bound
//! generators pre-encode whole frames with it and only patch the
//! correlation id per request, so the client costs almost nothing.

use std::io::{Read, Write};
use std::net::TcpStream;

use anyhow::{Context, Result, bail};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

pub const CLIENT_ID: &str = "runnel-loadgen";

/// Byte offset of the correlation id in a length-prefixed request frame.
pub const CORRELATION_AT: usize = 8;

/// Encodes `req` as a complete frame (4-byte length first).
pub fn encode_request(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    req: &impl Encodable,
) -> Result<BytesMut> {
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32(0);
    RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)))
        .encode(&mut buf, api_key.request_header_version(version))?;
    req.encode(&mut buf, version)?;
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf)
}

/// Sets the correlation id of a frame made by [`encode_request`].
pub fn set_correlation_id(frame: &mut [u8], correlation_id: i32) {
    frame[CORRELATION_AT..CORRELATION_AT + 4].copy_from_slice(&correlation_id.to_be_bytes());
}

/// Reads one response frame (without its length prefix) into `buf`.
pub fn read_frame(stream: &mut impl Read, buf: &mut Vec<u8>) -> Result<()> {
    let mut len = [0u8; 4];
    stream
        .read_exact(&mut len)
        .context("reading a frame length")?;
    let len = i32::from_be_bytes(len);
    if len < 4 {
        bail!("response frame of {len} bytes");
    }
    buf.resize(len as usize, 0);
    stream.read_exact(buf).context("reading a frame")?;
    Ok(())
}

/// Correlation id of a response frame read by [`read_frame`].
pub fn response_correlation_id(frame: &[u8]) -> i32 {
    i32::from_be_bytes(frame[..4].try_into().expect("frames are at least 4 bytes"))
}

/// Decodes a response frame read by [`read_frame`].
pub fn decode_response<R: Decodable>(api_key: ApiKey, version: i16, frame: Vec<u8>) -> Result<R> {
    let mut buf = Bytes::from(frame);
    ResponseHeader::decode(&mut buf, api_key.response_header_version(version))?;
    R::decode(&mut buf, version)
}

/// One connection with one request at a time.
pub struct Client {
    stream: TcpStream,
    correlation_id: i32,
    frame: Vec<u8>,
}

impl Client {
    pub fn connect(addr: &str) -> Result<Client> {
        let stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            correlation_id: 0,
            frame: Vec::new(),
        })
    }

    pub fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        req: &Req,
    ) -> Result<Resp> {
        self.correlation_id += 1;
        let frame = encode_request(api_key, version, self.correlation_id, req)?;
        self.stream.write_all(&frame)?;
        read_frame(&mut self.stream, &mut self.frame)?;
        let got = response_correlation_id(&self.frame);
        if got != self.correlation_id {
            bail!("correlation id {got}, expected {}", self.correlation_id);
        }
        decode_response(api_key, version, std::mem::take(&mut self.frame))
    }

    pub fn into_stream(self) -> TcpStream {
        self.stream
    }
}

/// Walks the RecordBatch v2 headers in `records` and returns
/// (batches, records, next offset after the last whole batch).
pub fn count_batches(mut records: &[u8]) -> (usize, u64, Option<i64>) {
    let (mut batches, mut count, mut next) = (0usize, 0u64, None);
    while records.len() >= 61 {
        let base_offset = (&records[0..8]).get_i64();
        let len = (&records[8..12]).get_i32() as usize + 12;
        if len > records.len() {
            break;
        }
        let last_offset_delta = (&records[23..27]).get_i32();
        let n = (&records[57..61]).get_i32();
        batches += 1;
        count += n.max(0) as u64;
        next = Some(base_offset + i64::from(last_offset_delta) + 1);
        records = &records[len..];
    }
    (batches, count, next)
}
