//! Request decoding and response encoding around the `kafka-protocol` crate.
//!
//! A frame is read whole (its 4-byte length checked against
//! `socket.request.max.bytes` before allocating); its first eight bytes name
//! the API key, version and correlation id, which are checked against
//! [`super::versions`] before the crate is asked to decode anything.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};

/// The fixed leading fields every request header version shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPreamble {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("frame of {0} bytes is too short for a request header")]
    ShortFrame(usize),
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("malformed {api_key:?} v{api_version} request: {reason}")]
    Malformed {
        api_key: ApiKey,
        api_version: i16,
        reason: String,
    },
    #[error("could not encode {api_key:?} v{api_version} response: {reason}")]
    Encode {
        api_key: ApiKey,
        api_version: i16,
        reason: String,
    },
}

/// Reads the key, version and correlation id without consuming the frame.
pub fn peek_preamble(frame: &[u8]) -> Result<RequestPreamble, CodecError> {
    if frame.len() < 8 {
        return Err(CodecError::ShortFrame(frame.len()));
    }
    let mut buf = &frame[..8];
    Ok(RequestPreamble {
        api_key: buf.get_i16(),
        api_version: buf.get_i16(),
        correlation_id: buf.get_i32(),
    })
}

/// Decodes header and body of a request whose version was already checked.
/// Fails rather than panics on any malformed input.
pub fn decode_request(
    api_key: ApiKey,
    api_version: i16,
    mut frame: Bytes,
) -> Result<(RequestHeader, RequestKind), CodecError> {
    let malformed = |e: anyhow::Error| CodecError::Malformed {
        api_key,
        api_version,
        reason: e.to_string(),
    };
    let header_version = api_key.request_header_version(api_version);
    let header = RequestHeader::decode(&mut frame, header_version).map_err(malformed)?;
    let body = RequestKind::decode(api_key, &mut frame, api_version).map_err(malformed)?;
    Ok((header, body))
}

/// Encodes a response with its header, prefixed by the 4-byte frame length.
pub fn encode_response(
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    response: &ResponseKind,
) -> Result<Bytes, CodecError> {
    let fail = |e: anyhow::Error| CodecError::Encode {
        api_key,
        api_version,
        reason: e.to_string(),
    };
    // Fetch responses carry the records: size them up front so the buffer
    // is allocated once instead of doubling (and copying) its way up.
    let body_hint = match response {
        ResponseKind::Fetch(f) => f.compute_size(api_version).unwrap_or(0),
        _ => 0,
    };
    let mut buf = BytesMut::with_capacity(64 + body_hint.max(192));
    buf.put_i32(0);
    // ApiVersions answers with header v0 at every version (KIP-511): a
    // client that sent a version we do not know must still parse it.
    let header_version = if api_key == ApiKey::ApiVersions {
        0
    } else {
        api_key.response_header_version(api_version)
    };
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, header_version)
        .map_err(fail)?;
    response.encode(&mut buf, api_version).map_err(fail)?;
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
    use kafka_protocol::protocol::StrBytes;

    fn frame_of(
        header: RequestHeader,
        header_version: i16,
        body: &impl Encodable,
        version: i16,
    ) -> Bytes {
        let mut buf = BytesMut::new();
        header.encode(&mut buf, header_version).unwrap();
        body.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    #[test]
    fn decodes_a_flexible_request() {
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::ApiVersions as i16)
            .with_request_api_version(3)
            .with_correlation_id(7)
            .with_client_id(Some(StrBytes::from_static_str("t")));
        let body = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("x"))
            .with_client_software_version(StrBytes::from_static_str("1"));
        let frame = frame_of(header, 2, &body, 3);
        let pre = peek_preamble(&frame).unwrap();
        assert_eq!(
            pre,
            RequestPreamble {
                api_key: 18,
                api_version: 3,
                correlation_id: 7
            }
        );
        let (h, b) = decode_request(ApiKey::ApiVersions, 3, frame).unwrap();
        assert_eq!(h.correlation_id, 7);
        assert!(matches!(b, RequestKind::ApiVersions(_)));
    }

    #[test]
    fn truncated_frames_are_errors_not_panics() {
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Metadata as i16)
            .with_request_api_version(12)
            .with_correlation_id(1);
        let frame = frame_of(header, 2, &MetadataRequest::default(), 12);
        for cut in 0..frame.len() {
            let part = frame.slice(..cut);
            if cut < 8 {
                assert!(peek_preamble(&part).is_err());
            } else {
                assert!(
                    decode_request(ApiKey::Metadata, 12, part).is_err(),
                    "cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn response_frame_length_is_its_body() {
        let resp = ResponseKind::ApiVersions(Default::default());
        let out = encode_response(ApiKey::ApiVersions, 3, 9, &resp).unwrap();
        assert_eq!(
            i32::from_be_bytes(out[..4].try_into().unwrap()) as usize,
            out.len() - 4
        );
        assert_eq!(i32::from_be_bytes(out[4..8].try_into().unwrap()), 9);
    }
}
