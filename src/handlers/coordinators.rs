//! FindCoordinator. The group and transaction coordinators are not built
//! yet, so every key is answered COORDINATOR_NOT_AVAILABLE (retriable: a
//! client keeps working with manual assignment and retries later).
//!
//! The API is served anyway because librdkafka decides whether a broker
//! supports LZ4 by whether it advertises FindCoordinator; without it kcat
//! and confluent-kafka silently stop compressing with LZ4.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::str_bytes;
use crate::protocol::ApiError;

pub fn find_coordinator(version: i16, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let kind = match req.key_type {
        0 => "group",
        1 => "transaction",
        _ => "unknown",
    };
    let err = ApiError::CoordinatorNotAvailable(format!(
        "the {kind} coordinator is not available on this broker yet"
    ));
    // v4+ batches keys; earlier versions carry one key at the top level.
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                Coordinator::default()
                    .with_key(key)
                    .with_node_id(BrokerId(-1))
                    .with_host(str_bytes(""))
                    .with_port(-1)
                    .with_error_code(err.code())
                    .with_error_message(Some(str_bytes(err.message())))
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let mut resp = FindCoordinatorResponse::default()
        .with_error_code(err.code())
        .with_node_id(BrokerId(-1))
        .with_host(str_bytes(""))
        .with_port(-1);
    if version >= 1 {
        resp = resp.with_error_message(Some(str_bytes(err.message())));
    }
    resp
}
