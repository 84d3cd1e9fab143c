//! Runnel as a Kafka client of another node: one connection, one request
//! at a time, every message framed by the `kafka-protocol` codec. A broker
//! uses it to reach its controller (registration, heartbeats, forwarded
//! admin requests, the metadata log's Fetch). The connection asks
//! ApiVersions first; each request then goes out in the highest version
//! both sides know. The frame helpers are shared with the blocking admin
//! client of the command line.
//!
//! Kafka counterpart: `NetworkClient` under `NodeToControllerChannelManager`
//! and the raft client's `KafkaNetworkChannel`.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Larger answers are refused rather than allocated.
pub const MAX_RESPONSE_BYTES: usize = 256 << 20;
/// The ApiVersions version asked first (flexible, since Kafka 2.4); a
/// broker that lacks it answers in v0 with UNSUPPORTED_VERSION (KIP-511).
pub const API_VERSIONS_VERSION: i16 = 3;
/// The code of an ApiVersions answer that lacks the version asked.
pub const UNSUPPORTED_VERSION: i16 = 35;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach {address}: {reason}")]
    Unreachable { address: String, reason: String },
    #[error("connection to {address} failed: {reason}")]
    Io { address: String, reason: String },
    #[error("{address} sent an unreadable answer: {reason}")]
    Protocol { address: String, reason: String },
    #[error("{address} serves {api} {offered}, not {wanted}")]
    Unsupported {
        address: String,
        api: String,
        wanted: String,
        offered: String,
    },
    #[error("cannot encode the request: {0}")]
    Encode(String),
}

/// A request frame: length, header, body.
pub fn encode_request_frame<R: Request>(
    request: &R,
    version: i16,
    correlation_id: i32,
    client_id: &str,
) -> Result<BytesMut, ClientError> {
    let mut frame = BytesMut::new();
    frame.extend_from_slice(&[0; 4]);
    RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_string())))
        .encode(&mut frame, R::header_version(version))
        .map_err(|e| ClientError::Encode(format!("request header: {e}")))?;
    request
        .encode(&mut frame, version)
        .map_err(|e| ClientError::Encode(e.to_string()))?;
    let len = (frame.len() - 4) as u32;
    frame[..4].copy_from_slice(&len.to_be_bytes());
    Ok(frame)
}

/// Checks a response frame's length prefix; the body length.
pub fn response_length(prefix: [u8; 4]) -> Result<usize, String> {
    let len = i32::from_be_bytes(prefix);
    usize::try_from(len)
        .ok()
        .filter(|&n| (4..=MAX_RESPONSE_BYTES).contains(&n))
        .ok_or_else(|| format!("frame length {len}"))
}

/// Strips and checks the response header; the body after it.
pub fn strip_response_header<R: Request>(
    mut frame: Bytes,
    version: i16,
    correlation_id: i32,
) -> Result<Bytes, String> {
    let header = ResponseHeader::decode(&mut frame, R::Response::header_version(version))
        .map_err(|e| format!("response header: {e}"))?;
    if header.correlation_id != correlation_id {
        return Err(format!(
            "correlation id {} instead of {correlation_id}",
            header.correlation_id
        ));
    }
    Ok(frame)
}

/// An ApiVersions body: one that does not decode whole in `version` is a
/// v0 answer (the broker lacks the version asked).
pub fn decode_api_versions(body: Bytes, version: i16) -> Result<ApiVersionsResponse, String> {
    let mut exact = body.clone();
    match ApiVersionsResponse::decode(&mut exact, version) {
        Ok(r) if !exact.has_remaining() => Ok(r),
        _ => {
            let mut v0 = body;
            ApiVersionsResponse::decode(&mut v0, 0).map_err(|e| e.to_string())
        }
    }
}

/// API key → (min, max) version the peer serves, from its ApiVersions.
pub fn version_ranges(response: &ApiVersionsResponse) -> HashMap<i16, (i16, i16)> {
    response
        .api_keys
        .iter()
        .map(|k| (k.api_key, (k.min_version, k.max_version)))
        .collect()
}

/// The ApiVersions request a client opens with.
pub fn api_versions_request(software: &'static str) -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str(software))
        .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")))
}

/// The highest version in `ours`, the codec's range and `offered`.
pub fn pick_version<R: Request>(
    address: &str,
    versions: &HashMap<i16, (i16, i16)>,
    ours: &RangeInclusive<i16>,
) -> Result<i16, ClientError> {
    let key = ApiKey::try_from(R::KEY).expect("a request type has a known key");
    let api = format!("{key:?}");
    let low = (*ours.start()).max(R::VERSIONS.min);
    let high = (*ours.end()).min(R::VERSIONS.max);
    let unsupported = |offered: String| ClientError::Unsupported {
        address: address.to_string(),
        api: api.clone(),
        wanted: format!("v{low}-{high}"),
        offered,
    };
    let Some(&(min, max)) = versions.get(&R::KEY) else {
        return Err(unsupported("no version of it".into()));
    };
    let version = high.min(max);
    if version < low.max(min) {
        return Err(unsupported(format!("v{min}-{max}")));
    }
    Ok(version)
}

/// One connection to another node, after ApiVersions.
pub struct Connection {
    address: String,
    client_id: String,
    stream: TcpStream,
    versions: HashMap<i16, (i16, i16)>,
    correlation_id: i32,
}

impl Connection {
    /// Connects to `address` (`host:port`) and negotiates versions, all
    /// within `timeout`.
    pub async fn open(
        address: &str,
        client_id: &str,
        timeout: Duration,
    ) -> Result<Connection, ClientError> {
        let unreachable = |reason: String| ClientError::Unreachable {
            address: address.to_string(),
            reason,
        };
        let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| unreachable("no connection within the timeout".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let mut conn = Connection {
            address: address.to_string(),
            client_id: client_id.to_string(),
            stream,
            versions: HashMap::new(),
            correlation_id: 0,
        };
        conn.negotiate(timeout).await?;
        Ok(conn)
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// The version `R` goes out in: the highest of `ours` the peer serves.
    pub fn version_for<R: Request>(&self, ours: RangeInclusive<i16>) -> Result<i16, ClientError> {
        pick_version::<R>(&self.address, &self.versions, &ours)
    }

    /// Sends `request` in `version` and waits up to `timeout` for its
    /// answer. A connection that failed mid-request must not be reused.
    pub async fn call<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, ClientError> {
        let mut body = self.round_trip(request, version, timeout).await?;
        R::Response::decode(&mut body, version).map_err(|e| self.protocol(e.to_string()))
    }

    async fn negotiate(&mut self, timeout: Duration) -> Result<(), ClientError> {
        let request = api_versions_request("runnel");
        let body = self
            .round_trip(&request, API_VERSIONS_VERSION, timeout)
            .await?;
        let mut response =
            decode_api_versions(body, API_VERSIONS_VERSION).map_err(|e| self.protocol(e))?;
        if response.error_code == UNSUPPORTED_VERSION {
            let body = self
                .round_trip(&ApiVersionsRequest::default(), 0, timeout)
                .await?;
            response = decode_api_versions(body, 0).map_err(|e| self.protocol(e))?;
        }
        if response.error_code != 0 {
            return Err(self.protocol(format!(
                "ApiVersions answered with error code {}",
                response.error_code
            )));
        }
        self.versions = version_ranges(&response);
        Ok(())
    }

    async fn round_trip<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<Bytes, ClientError> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let correlation_id = self.correlation_id;
        let frame = encode_request_frame(request, version, correlation_id, &self.client_id)?;
        let exchange = async {
            self.stream.write_all(&frame).await?;
            let mut prefix = [0u8; 4];
            self.stream.read_exact(&mut prefix).await?;
            let len = response_length(prefix)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            let mut body = vec![0u8; len];
            self.stream.read_exact(&mut body).await?;
            Ok::<_, std::io::Error>(Bytes::from(body))
        };
        let frame = match tokio::time::timeout(timeout, exchange).await {
            Err(_) => return Err(self.io("no answer within the request timeout".into())),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(self.io("the peer closed the connection".into()));
            }
            Ok(Err(e)) => return Err(self.io(e.to_string())),
            Ok(Ok(frame)) => frame,
        };
        strip_response_header::<R>(frame, version, correlation_id).map_err(|e| self.protocol(e))
    }

    fn io(&self, reason: String) -> ClientError {
        ClientError::Io {
            address: self.address.clone(),
            reason,
        }
    }

    fn protocol(&self, reason: String) -> ClientError {
        ClientError::Protocol {
            address: self.address.clone(),
            reason,
        }
    }
}
