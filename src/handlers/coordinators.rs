//! FindCoordinator. A group key is answered with the leader of the group's
//! `__consumer_offsets` partition (the topic is created on the first
//! request, as Kafka does), here or on another broker. Transaction keys are refused at once: there is no
//! transaction coordinator yet, and a transactional producer must fail on
//! its first call, not after `max.block.ms` (see `not_supported.rs` for
//! the code chosen).
//!
//! The API must be served in any case: librdkafka decides whether a broker
//! supports LZ4 by whether it advertises FindCoordinator.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::Broker;
use super::metadata::alive_broker;
use super::not_supported::{self, Missing};
use super::{RequestContext, str_bytes};
use crate::protocol::ApiError;

const KEY_GROUP: i8 = 0;
const KEY_TRANSACTION: i8 = 1;

async fn find(
    broker: &Broker,
    ctx: &RequestContext,
    key_type: i8,
    key: &str,
) -> Result<(i32, (String, i32)), ApiError> {
    match key_type {
        KEY_GROUP => {
            let node = broker.groups.coordinator_for(key).await?;
            let image = broker.metadata.current();
            // This node's or another broker's, as it registered it on this
            // listener.
            let endpoint = alive_broker(broker, &image, node, &ctx.listener_name)
                .map(|n| (n.host, i32::from(n.port)))
                .ok_or_else(|| {
                    ApiError::CoordinatorNotAvailable(format!(
                        "coordinator {node} has no live endpoint for listener {}",
                        ctx.listener_name
                    ))
                })?;
            Ok((node, endpoint))
        }
        KEY_TRANSACTION => Err(not_supported::refuse(
            Missing::Transactions,
            ctx,
            "FindCoordinator",
        )),
        other => Err(ApiError::InvalidRequest(format!(
            "unknown coordinator key type {other}"
        ))),
    }
}

pub async fn find_coordinator(
    broker: &Broker,
    ctx: &RequestContext,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let version = ctx.api_version;
    // v4+ batches keys; earlier versions carry one key at the top level.
    if version >= 4 {
        let mut coordinators = Vec::with_capacity(req.coordinator_keys.len());
        for key in req.coordinator_keys {
            let c = Coordinator::default();
            coordinators.push(match find(broker, ctx, req.key_type, key.as_str()).await {
                Ok((node, (host, port))) => c
                    .with_key(key)
                    .with_node_id(BrokerId(node))
                    .with_host(str_bytes(host))
                    .with_port(port),
                Err(e) => {
                    tracing::debug!(key = %key.as_str(), error = %e, "FindCoordinator refused");
                    c.with_key(key)
                        .with_node_id(BrokerId(-1))
                        .with_host(str_bytes(""))
                        .with_port(-1)
                        .with_error_code(e.code())
                        .with_error_message(Some(str_bytes(e.message())))
                }
            });
        }
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let resp = FindCoordinatorResponse::default();
    match find(broker, ctx, req.key_type, req.key.as_str()).await {
        Ok((node, (host, port))) => resp
            .with_node_id(BrokerId(node))
            .with_host(str_bytes(host))
            .with_port(port),
        Err(e) => {
            tracing::debug!(key = %req.key.as_str(), error = %e, "FindCoordinator refused");
            let resp = resp
                .with_error_code(e.code())
                .with_node_id(BrokerId(-1))
                .with_host(str_bytes(""))
                .with_port(-1);
            if version >= 1 {
                resp.with_error_message(Some(str_bytes(e.message())))
            } else {
                resp
            }
        }
    }
}
