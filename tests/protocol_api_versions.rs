//! ApiVersions against a real broker: every served version answers with the
//! versions table exactly, and an unknown version gets the KIP-511 fallback
//! (a v0 response with UNSUPPORTED_VERSION and the table).

mod common;

use common::*;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::{Decodable, Encodable};
use runnel::protocol::versions::{FEATURES, SUPPORTED_APIS};

const UNSUPPORTED_VERSION: i16 = 35;

fn expected_keys() -> Vec<(i16, i16, i16)> {
    SUPPORTED_APIS
        .iter()
        .map(|r| (r.key as i16, r.min, r.max))
        .collect()
}

fn only_api_versions() -> Vec<(i16, i16, i16)> {
    expected_keys().into_iter().filter(|k| k.0 == 18).collect()
}

fn listed(keys: &[ApiVersion]) -> Vec<(i16, i16, i16)> {
    keys.iter()
        .map(|k| (k.api_key, k.min_version, k.max_version))
        .collect()
}

fn request(version: i16) -> ApiVersionsRequest {
    let r = ApiVersionsRequest::default();
    if version >= 3 {
        r.with_client_software_name(str_bytes("runnel-protocol-tests"))
            .with_client_software_version(str_bytes("0.1.0"))
    } else {
        r
    }
}

/// v3+ reports the feature flags (KIP-584): every supported range, and the
/// finalized levels above 0 with the metadata offset as epoch; v0-2 have no
/// such fields.
#[test]
fn v3_and_later_report_supported_and_finalized_features() {
    let broker = shared_broker();
    let mut failures = Failures::new("ApiVersions features");
    for v in 0..=4 {
        let mut c = broker.connect();
        failures.check(
            v,
            (|| {
                let resp = c.try_call(&request(v), v).map_err(call_err("call"))?;
                let supported: Vec<(String, i16, i16)> = resp
                    .supported_features
                    .iter()
                    .map(|f| (f.name.to_string(), f.min_version, f.max_version))
                    .collect();
                let finalized: Vec<(String, i16, i16)> = resp
                    .finalized_features
                    .iter()
                    .map(|f| (f.name.to_string(), f.min_version_level, f.max_version_level))
                    .collect();
                if v < 3 {
                    ensure_eq!(
                        supported,
                        Vec::<(String, i16, i16)>::new(),
                        "supported_features below v3"
                    );
                    ensure_eq!(
                        finalized,
                        Vec::<(String, i16, i16)>::new(),
                        "finalized_features below v3"
                    );
                    return Ok(());
                }
                let want: Vec<(String, i16, i16)> = FEATURES
                    .iter()
                    .map(|f| (f.name.to_string(), f.min, f.max))
                    .collect();
                ensure_eq!(supported, want, "supported_features");
                ensure_eq!(
                    finalized,
                    vec![
                        ("metadata.version".to_string(), 27, 27),
                        ("group.version".to_string(), 1, 1),
                    ],
                    "finalized_features (the metadata log's FeatureLevelRecords)"
                );
                // The metadata offset: past the bootstrap features and the
                // broker's registration.
                ensure_eq!(
                    resp.finalized_features_epoch >= 2,
                    true,
                    "finalized_features_epoch is the metadata offset"
                );
                Ok(())
            })(),
        );
    }
    failures.finish(broker);
}

#[test]
fn every_served_version_lists_exactly_the_versions_table() {
    let broker = shared_broker();
    let mut failures = Failures::new("ApiVersions");
    for v in 0..=4 {
        let mut c = broker.connect();
        failures.check(
            v,
            (|| {
                let resp = c.try_call(&request(v), v).map_err(call_err("call"))?;
                ensure_eq!(resp.error_code, 0, "error_code");
                ensure_eq!(listed(&resp.api_keys), expected_keys(), "api_keys");
                // A second request on the same connection is still served.
                let again = c
                    .try_call(&request(v), v)
                    .map_err(call_err("second call"))?;
                ensure_eq!(again.error_code, 0, "second error_code");
                Ok(())
            })(),
        );
    }
    failures.finish(broker);
}

/// KIP-511: a client newer than the broker sends a version the broker does
/// not know, with a body it cannot parse. The broker answers in v0 (header
/// v0, body v0) with UNSUPPORTED_VERSION and, as Kafka does, only
/// ApiVersions' own range.
#[test]
fn unknown_version_gets_a_v0_unsupported_version_answer() {
    let broker = shared_broker();
    let mut c = broker.connect();
    // Header v2 (flexible) as a v3+ client would send, version 99, and a
    // body the broker must not try to decode.
    let mut body = Vec::new();
    body.extend_from_slice(&18i16.to_be_bytes());
    body.extend_from_slice(&99i16.to_be_bytes());
    body.extend_from_slice(&4242i32.to_be_bytes());
    body.extend_from_slice(&(-1i16).to_be_bytes()); // null client id
    body.push(0); // no tagged fields
    body.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    c.send_raw(&frame).expect("sending the request");
    let mut resp = c.read_frame().expect("a response, not a closed connection");
    let header =
        kafka_protocol::messages::ResponseHeader::decode(&mut resp, 0).expect("response header v0");
    assert_eq!(header.correlation_id, 4242);
    let body = ApiVersionsResponse::decode(&mut resp, 0).expect("a v0 body");
    assert!(
        bytes::Buf::remaining(&resp) == 0,
        "v0 body followed by {} extra bytes",
        bytes::Buf::remaining(&resp)
    );
    assert_eq!(body.error_code, UNSUPPORTED_VERSION);
    assert_eq!(listed(&body.api_keys), only_api_versions());

    // The connection stays usable: the client retries with a version it
    // now knows the broker serves.
    let retry = c.call(&request(3), 3);
    assert_eq!(retry.error_code, 0);
}

/// The same with a well-formed v4 body sent as version 5 (one past our max).
#[test]
fn one_past_the_max_version_gets_the_fallback_too() {
    let broker = shared_broker();
    let mut c = broker.connect();
    let req = request(4);
    let header = kafka_protocol::messages::RequestHeader::default()
        .with_request_api_key(18)
        .with_request_api_version(5)
        .with_correlation_id(7)
        .with_client_id(Some(str_bytes("runnel-protocol-tests")));
    let mut body = bytes::BytesMut::new();
    header.encode(&mut body, 2).expect("header v2");
    req.encode(&mut body, 4).expect("body v4");
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    c.send_raw(&frame).expect("sending");
    let mut resp = c.read_frame().expect("a response");
    let header = kafka_protocol::messages::ResponseHeader::decode(&mut resp, 0).expect("header v0");
    assert_eq!(header.correlation_id, 7);
    let body = ApiVersionsResponse::decode(&mut resp, 0).expect("a v0 body");
    assert_eq!(body.error_code, UNSUPPORTED_VERSION);
    assert_eq!(listed(&body.api_keys), only_api_versions());
}
