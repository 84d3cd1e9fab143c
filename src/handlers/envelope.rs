//! Envelope (KIP-590), both ends. On a broker-only node, a client's admin
//! request ([`FORWARDABLE`]) is forwarded whole to the controller, wrapped
//! with the client's principal and address, and the controller's answer
//! goes back to the client as the controller wrote it ([`forward`]). On a
//! controller listener, the inner request is decoded, served by the same
//! handler a client listener would use, and its response (header and
//! body) goes back inside the envelope ([`envelope`]). Kafka counterparts:
//! `ForwardingManager` on the broker, `ControllerApis.
//! handleEnvelopeRequest` and `EnvelopeUtils` on the controller.
//!
//! Runnel has no authentication, so the principal is not read. Refusals
//! are the envelope's own error code, as Kafka answers them: a request
//! that may not be forwarded is INVALID_REQUEST; an unreadable one, or a
//! version the controller does not serve, UNSUPPORTED_VERSION.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::{
    ApiKey, EnvelopeRequest, EnvelopeResponse, RequestHeader, RequestKind, ResponseHeader,
    ResponseKind,
};
use kafka_protocol::protocol::{Decodable, Encodable};

use super::{Broker, Reply, RequestContext};
use crate::controller::remote::RemoteController;
use crate::protocol::ApiError;
use crate::protocol::codec::{decode_request, encode_response, peek_preamble};
use crate::protocol::versions::ListenerKind;

/// The APIs a broker forwards to the controller that Runnel serves (those
/// Kafka marks forwardable).
pub const FORWARDABLE: &[ApiKey] = &[
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::CreateAcls,
    ApiKey::DeleteAcls,
    ApiKey::AlterConfigs,
    ApiKey::CreatePartitions,
    ApiKey::ElectLeaders,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::AlterUserScramCredentials,
    ApiKey::DescribeQuorum,
    ApiKey::UnregisterBroker,
];

pub async fn envelope(
    broker: &Broker,
    ctx: &RequestContext,
    req: EnvelopeRequest,
) -> EnvelopeResponse {
    match forwarded(broker, ctx, req).await {
        Ok(response_data) => EnvelopeResponse::default().with_response_data(Some(response_data)),
        Err(e) => {
            tracing::warn!(error = %e, "forwarded request refused");
            EnvelopeResponse::default()
                .with_error_code(e.code())
                .with_response_data(None)
        }
    }
}

async fn forwarded(
    broker: &Broker,
    ctx: &RequestContext,
    req: EnvelopeRequest,
) -> Result<bytes::Bytes, ApiError> {
    let unreadable =
        |what: String| ApiError::UnsupportedVersion(format!("forwarded request: {what}"));
    let data = req.request_data;
    let pre = peek_preamble(&data).map_err(|e| unreadable(e.to_string()))?;
    let api_key = ApiKey::try_from(pre.api_key)
        .map_err(|_| unreadable(format!("unknown API key {}", pre.api_key)))?;
    if !FORWARDABLE.contains(&api_key) {
        return Err(ApiError::InvalidRequest(format!(
            "{api_key:?} is not eligible for forwarding"
        )));
    }
    if !ListenerKind::Controller.is_handled(api_key, pre.api_version) {
        return Err(unreadable(format!(
            "{api_key:?} v{} is not served by the controller",
            pre.api_version
        )));
    }
    let client = client_address(&req.client_host_address).ok_or_else(|| {
        ApiError::InvalidRequest("forwarded request: unreadable client address".into())
    })?;
    let (header, request) =
        decode_request(api_key, pre.api_version, data).map_err(|e| unreadable(e.to_string()))?;
    let inner = RequestContext {
        api_version: pre.api_version,
        correlation_id: pre.correlation_id,
        client_id: header.client_id.as_ref().map(|c| c.to_string()),
        listener_name: ctx.listener_name.clone(),
        listener_kind: ListenerKind::Controller,
        peer: SocketAddr::new(client, 0),
        forwarded: true,
    };
    tracing::info!(api = ?api_key, version = pre.api_version, client = %client, "serving a request a broker forwarded");
    let reply = Box::pin(super::handle(broker, &inner, request)).await;
    let Reply::Send(response) = reply else {
        return Err(ApiError::Internal(format!(
            "forwarded {api_key:?} produced no response"
        )));
    };
    let framed = encode_response(api_key, pre.api_version, pre.correlation_id, &response)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    // The envelope carries header and body, without the frame length.
    Ok(framed.slice(4..))
}

fn client_address(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?))),
        16 => Some(IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(bytes).ok()?,
        ))),
        _ => None,
    }
}

/// The API key of `request` when a broker-only node forwards it to the
/// controller (Kafka forwards these and the ACL and SCRAM changes, which
/// Runnel answers itself: it has no authorizer). DescribeQuorum, too, is
/// the controller's to answer.
pub fn forwarded_key(request: &RequestKind) -> Option<ApiKey> {
    Some(match request {
        RequestKind::CreateTopics(_) => ApiKey::CreateTopics,
        RequestKind::DeleteTopics(_) => ApiKey::DeleteTopics,
        RequestKind::CreatePartitions(_) => ApiKey::CreatePartitions,
        RequestKind::ElectLeaders(_) => ApiKey::ElectLeaders,
        RequestKind::AlterConfigs(_) => ApiKey::AlterConfigs,
        RequestKind::IncrementalAlterConfigs(_) => ApiKey::IncrementalAlterConfigs,
        RequestKind::DescribeQuorum(_) => ApiKey::DescribeQuorum,
        RequestKind::UnregisterBroker(_) => ApiKey::UnregisterBroker,
        _ => return None,
    })
}

/// Forwards a client's request to the controller in an Envelope and
/// returns the controller's answer. `Err` when it could not be forwarded
/// or the controller refused the envelope: the caller then answers the
/// request itself, as unreachable.
pub async fn forward(
    remote: &RemoteController,
    ctx: &RequestContext,
    api_key: ApiKey,
    request: &RequestKind,
) -> Result<ResponseKind, String> {
    let version = ctx.api_version;
    let mut data = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(ctx.correlation_id)
        .with_client_id(ctx.client_id.clone().map(super::str_bytes))
        .encode(&mut data, api_key.request_header_version(version))
        .and_then(|()| request.encode(&mut data, version))
        .map_err(|e| format!("cannot encode the forwarded {api_key:?}: {e}"))?;
    let envelope = EnvelopeRequest::default()
        .with_request_data(data.freeze())
        .with_request_principal(Some(anonymous_principal()))
        .with_client_host_address(match ctx.peer.ip() {
            IpAddr::V4(ip) => bytes::Bytes::copy_from_slice(&ip.octets()),
            IpAddr::V6(ip) => bytes::Bytes::copy_from_slice(&ip.octets()),
        });
    let answer = remote.forward(envelope).await.map_err(|e| e.to_string())?;
    if answer.error_code != 0 {
        return Err(format!(
            "the controller refused the envelope with error code {}",
            answer.error_code
        ));
    }
    let mut body = answer
        .response_data
        .ok_or_else(|| "the controller's envelope carried no response".to_string())?;
    let header = ResponseHeader::decode(&mut body, api_key.response_header_version(version))
        .map_err(|e| format!("unreadable forwarded response header: {e}"))?;
    if header.correlation_id != ctx.correlation_id {
        return Err(format!(
            "the forwarded response answers correlation id {} instead of {}",
            header.correlation_id, ctx.correlation_id
        ));
    }
    ResponseKind::decode(api_key, &mut body, version)
        .map_err(|e| format!("unreadable forwarded {api_key:?} response: {e}"))
}

/// Kafka's serialized principal of an unauthenticated client: the
/// version-prefixed `DefaultPrincipalData` v0 of `User:ANONYMOUS`.
fn anonymous_principal() -> bytes::Bytes {
    let mut out = BytesMut::new();
    out.put_i16(0);
    for text in ["User", "ANONYMOUS"] {
        // A compact string: unsigned varint of length + 1, then the bytes.
        out.put_u8(text.len() as u8 + 1);
        out.put_slice(text.as_bytes());
    }
    out.put_u8(0); // tokenAuthenticated
    out.put_u8(0); // no tagged fields
    out.freeze()
}
