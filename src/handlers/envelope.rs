//! Envelope (KIP-590) on a controller listener: a broker of another
//! process forwards a client's admin request (or its own auto-creation of
//! a topic) to the controller, wrapped with the client's principal and
//! address. The inner request is decoded, served by the same handler a
//! client listener would use, and its response (header and body) goes back
//! inside the envelope. Kafka counterparts: `ControllerApis.
//! handleEnvelopeRequest` and `EnvelopeUtils`.
//!
//! Runnel has no authentication, so the principal is not read. Refusals
//! are the envelope's own error code, as Kafka answers them: a request
//! that may not be forwarded is INVALID_REQUEST; an unreadable one, or a
//! version the controller does not serve, UNSUPPORTED_VERSION.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use kafka_protocol::messages::{ApiKey, EnvelopeRequest, EnvelopeResponse};

use super::{Broker, Reply, RequestContext};
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
    ApiKey::IncrementalAlterConfigs,
    ApiKey::AlterUserScramCredentials,
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
