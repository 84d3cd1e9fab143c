//! InitProducerId for idempotent producers: a fresh producer id from the
//! controller's durable id blocks, epoch 0. Transactional ids need the
//! transaction coordinator, which is not built yet: they are refused at
//! once with a clear message (`not_supported.rs`) rather than half-served.
//!
//! AllocateProducerIds, on a controller listener: a broker of another
//! process asks for its next block of ids (Kafka's
//! `ControllerApis.handleAllocateProducerIdsRequest`). The broker epoch it
//! sends is not checked yet.

use kafka_protocol::messages::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, InitProducerIdRequest,
    InitProducerIdResponse, ProducerId,
};

use super::not_supported::{self, Missing};
use super::{Broker, RequestContext};
use crate::protocol::ApiError;

pub async fn init_producer_id(
    broker: &Broker,
    ctx: &RequestContext,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let result = if req.transactional_id.is_some() {
        Err(not_supported::refuse(
            Missing::Transactions,
            ctx,
            "InitProducerId",
        ))
    } else {
        broker.producer_ids.generate().await.map_err(ApiError::from)
    };
    match result {
        Ok(id) => {
            tracing::debug!(producer_id = id, "allocated producer id");
            InitProducerIdResponse::default()
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(0)
        }
        Err(e) => {
            tracing::info!(error = %e, "InitProducerId refused");
            InitProducerIdResponse::default()
                .with_error_code(e.code())
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
        }
    }
}

pub async fn allocate_producer_ids(
    broker: &Broker,
    req: AllocateProducerIdsRequest,
) -> AllocateProducerIdsResponse {
    match broker
        .controller
        .allocate_producer_ids(req.broker_id.0)
        .await
    {
        Ok(block) => AllocateProducerIdsResponse::default()
            .with_producer_id_start(ProducerId(block.start))
            .with_producer_id_len(i32::try_from(block.len).unwrap_or(i32::MAX)),
        Err(e) => {
            let e = ApiError::from(e);
            tracing::warn!(broker_id = req.broker_id.0, error = %e, "AllocateProducerIds refused");
            AllocateProducerIdsResponse::default()
                .with_error_code(e.code())
                .with_producer_id_start(ProducerId(-1))
                .with_producer_id_len(0)
        }
    }
}
