//! `runnel healthcheck`: is a broker answering Kafka requests on an address?
//!
//! Container images run health checks as a process inside the container,
//! and Runnel's image has no shell or curl. So the binary checks itself:
//! connect, send one ApiVersions request (the first request every Kafka
//! client sends), and call the broker healthy when a well-formed answer with
//! error code NONE and a non-empty API list comes back within the timeout.
//! A port that accepts but never answers, or answers garbage, is unhealthy.
//!
//! Blocking std I/O on purpose: one request, no runtime needed.
//! Kafka counterpart: none (Kafka images probe with their shell tools).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};

use crate::config::BrokerConfig;

/// ApiVersions v3: flexible, understood by every broker since Kafka 2.4.
const API_VERSIONS_VERSION: i16 = 3;
const CORRELATION_ID: i32 = 1;
/// Larger answers are refused rather than allocated; a real ApiVersions
/// answer is a few hundred bytes.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// Why a probe failed. Each variant is a one-line reason for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot resolve {address}: {source}")]
    Resolve {
        address: String,
        source: std::io::Error,
    },
    #[error("{address} resolves to no address")]
    NoAddress { address: String },
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("request to {address} failed: {source}")]
    Io {
        address: String,
        source: std::io::Error,
    },
    #[error("{address} answered something that is not an ApiVersions response: {reason}")]
    Malformed { address: String, reason: String },
    #[error("{address} answered ApiVersions with error code {code}")]
    ErrorCode { address: String, code: i16 },
}

/// A healthy broker's answer, for the success message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthy {
    pub peer: SocketAddr,
    pub api_count: usize,
}

/// The address a health check inside the node should use when none is
/// given: the first listener that is not a controller listener, with a
/// wildcard host replaced by loopback (the check runs on the same host).
pub fn default_address(config: &BrokerConfig) -> Option<String> {
    let listener = config
        .listeners
        .iter()
        .find(|l| !config.controller_listener_names.contains(&l.name))?;
    let host = match listener.host.as_str() {
        "" | "0.0.0.0" => "127.0.0.1",
        "::" | "[::]" => "::1",
        other => other,
    };
    Some(if host.contains(':') {
        format!("[{host}]:{}", listener.port)
    } else {
        format!("{host}:{}", listener.port)
    })
}

/// Sends one ApiVersions request to `address` (`host:port`) and checks the
/// answer. `timeout` bounds the whole probe, name resolution excepted.
pub fn probe(address: &str, timeout: Duration) -> Result<Healthy, ProbeError> {
    let deadline = Instant::now() + timeout;
    let addrs: Vec<SocketAddr> = address
        .to_socket_addrs()
        .map_err(|source| ProbeError::Resolve {
            address: address.to_string(),
            source,
        })?
        .collect();
    let mut last_error = None;
    for addr in &addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        match TcpStream::connect_timeout(addr, left.max(Duration::from_millis(1))) {
            Ok(stream) => return exchange(address, stream, deadline),
            Err(source) => last_error = Some(source),
        }
    }
    Err(match last_error {
        Some(source) => ProbeError::Connect {
            address: address.to_string(),
            source,
        },
        None => ProbeError::NoAddress {
            address: address.to_string(),
        },
    })
}

fn exchange(
    address: &str,
    mut stream: TcpStream,
    deadline: Instant,
) -> Result<Healthy, ProbeError> {
    let io = |source| ProbeError::Io {
        address: address.to_string(),
        source,
    };
    let malformed = |reason: String| ProbeError::Malformed {
        address: address.to_string(),
        reason,
    };
    let peer = stream.peer_addr().map_err(io)?;
    let set_timeouts = |stream: &TcpStream| -> std::io::Result<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        let left = left.max(Duration::from_millis(1));
        stream.set_read_timeout(Some(left))?;
        stream.set_write_timeout(Some(left))
    };

    set_timeouts(&stream).map_err(io)?;
    stream.write_all(&request_frame()).map_err(io)?;

    let mut len = [0u8; 4];
    set_timeouts(&stream).map_err(io)?;
    stream.read_exact(&mut len).map_err(io)?;
    let first = len;
    let len = i32::from_be_bytes(len);
    let len = usize::try_from(len)
        .ok()
        .filter(|&n| n <= MAX_RESPONSE_BYTES)
        .ok_or_else(|| malformed(frame_length_reason(first)))?;
    let mut body = vec![0u8; len];
    set_timeouts(&stream).map_err(io)?;
    stream.read_exact(&mut body).map_err(io)?;

    let response = decode_response(Bytes::from(body)).map_err(malformed)?;
    if response.error_code != 0 {
        return Err(ProbeError::ErrorCode {
            address: address.to_string(),
            code: response.error_code,
        });
    }
    if response.api_keys.is_empty() {
        return Err(malformed("an empty API list".to_string()));
    }
    Ok(Healthy {
        peer,
        api_count: response.api_keys.len(),
    })
}

/// A framed ApiVersions v3 request.
fn request_frame() -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::ApiVersions as i16)
        .with_request_api_version(API_VERSIONS_VERSION)
        .with_correlation_id(CORRELATION_ID)
        .with_client_id(Some(StrBytes::from_static_str("runnel-healthcheck")));
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("runnel-healthcheck"))
        .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
    let mut body = BytesMut::new();
    header
        .encode(
            &mut body,
            ApiVersionsRequest::header_version(API_VERSIONS_VERSION),
        )
        .expect("a default request header encodes");
    request
        .encode(&mut body, API_VERSIONS_VERSION)
        .expect("an ApiVersions request with short strings encodes");
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as i32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// Decodes an ApiVersions answer. A broker that does not serve v3 answers
/// in v0 (KIP-511), which a v0 decode reads; that answer carries an error
/// code and counts as unhealthy, since Runnel serves v3.
fn decode_response(mut frame: Bytes) -> Result<ApiVersionsResponse, String> {
    let header = kafka_protocol::messages::ResponseHeader::decode(
        &mut frame,
        ApiVersionsResponse::header_version(API_VERSIONS_VERSION),
    )
    .map_err(|e| format!("response header: {e}"))?;
    if header.correlation_id != CORRELATION_ID {
        return Err(format!(
            "correlation id {} instead of {CORRELATION_ID}",
            header.correlation_id
        ));
    }
    let mut v3 = frame.clone();
    match ApiVersionsResponse::decode(&mut v3, API_VERSIONS_VERSION) {
        Ok(r) if !v3.has_remaining() => Ok(r),
        _ => {
            let r = ApiVersionsResponse::decode(&mut frame, 0).map_err(|e| format!("body: {e}"))?;
            if frame.has_remaining() {
                return Err(format!("{} bytes after the body", frame.remaining()));
            }
            Ok(r)
        }
    }
}

/// Why a response's first four bytes are not a frame length; an HTTP
/// server (most often the metrics port) answers with "HTTP".
fn frame_length_reason(first: [u8; 4]) -> String {
    if &first == b"HTTP" {
        "it speaks HTTP: is this the metrics port (runnel.metrics.listener) rather than a \
         Kafka listener?"
            .to_string()
    } else {
        format!("frame length {}", i32::from_be_bytes(first))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn config(pairs: &[(&str, &str)]) -> BrokerConfig {
        crate::config::config_for_test(pairs, "test-host")
    }

    #[test]
    fn an_http_answer_is_named_as_such() {
        assert!(frame_length_reason(*b"HTTP").contains("metrics port"));
        assert_eq!(
            frame_length_reason([0x7f, 0, 0, 0]),
            "frame length 2130706432"
        );
    }

    #[test]
    fn default_address_skips_the_controller_listener_and_wildcards() {
        let table = [
            (
                "PLAINTEXT://127.0.0.1:9092,CONTROLLER://:9093",
                "127.0.0.1:9092",
            ),
            ("CONTROLLER://:9093,PLAINTEXT://:9092", "127.0.0.1:9092"),
            (
                "PLAINTEXT://0.0.0.0:19092,CONTROLLER://:9093",
                "127.0.0.1:19092",
            ),
            ("PLAINTEXT://[::]:9092,CONTROLLER://:9093", "[::1]:9092"),
            (
                "PLAINTEXT://broker:29092,CONTROLLER://:9093",
                "broker:29092",
            ),
        ];
        for (listeners, want) in table {
            let c = config(&[
                ("listeners", listeners),
                ("controller.listener.names", "CONTROLLER"),
            ]);
            assert_eq!(default_address(&c).as_deref(), Some(want), "{listeners}");
        }
    }

    /// A peer that accepts and answers `reply` to whatever it reads.
    fn fake_peer(reply: Vec<u8>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("addr").to_string();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf);
                let _ = s.write_all(&reply);
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        address
    }

    fn response_frame(
        response: &ApiVersionsResponse,
        version: i16,
        correlation_id: i32,
    ) -> Vec<u8> {
        let mut body = BytesMut::new();
        kafka_protocol::messages::ResponseHeader::default()
            .with_correlation_id(correlation_id)
            .encode(&mut body, 0)
            .expect("header");
        response.encode(&mut body, version).expect("body");
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        frame
    }

    fn one_api() -> ApiVersionsResponse {
        ApiVersionsResponse::default().with_api_keys(vec![
            kafka_protocol::messages::api_versions_response::ApiVersion::default()
                .with_api_key(18)
                .with_max_version(4),
        ])
    }

    #[test]
    fn a_valid_answer_is_healthy() {
        let address = fake_peer(response_frame(&one_api(), 3, CORRELATION_ID));
        let healthy = probe(&address, Duration::from_secs(5)).expect("healthy");
        assert_eq!(healthy.api_count, 1);
    }

    #[test]
    fn error_codes_garbage_and_silence_are_unhealthy() {
        let v0_fallback = one_api().with_error_code(35);
        let address = fake_peer(response_frame(&v0_fallback, 0, CORRELATION_ID));
        let e = probe(&address, Duration::from_secs(5)).expect_err("error code");
        assert!(matches!(e, ProbeError::ErrorCode { code: 35, .. }), "{e}");

        let address = fake_peer(response_frame(&one_api(), 3, 99));
        let e = probe(&address, Duration::from_secs(5)).expect_err("wrong id");
        assert!(matches!(e, ProbeError::Malformed { .. }), "{e}");

        let address = fake_peer(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec());
        let e = probe(&address, Duration::from_secs(5)).expect_err("not kafka");
        assert!(matches!(e, ProbeError::Malformed { .. }), "{e}");

        let address = fake_peer(Vec::new());
        let e = probe(&address, Duration::from_millis(100)).expect_err("silence");
        assert!(matches!(e, ProbeError::Io { .. }), "{e}");
    }

    #[test]
    fn nobody_listening_is_a_connect_error() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let e = probe(&format!("127.0.0.1:{port}"), Duration::from_secs(2)).expect_err("refused");
        assert!(matches!(e, ProbeError::Connect { .. }), "{e}");
    }
}
