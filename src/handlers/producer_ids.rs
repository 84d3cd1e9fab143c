//! InitProducerId for idempotent producers: a fresh producer id from the
//! controller's durable id blocks, epoch 0. Transactional ids need the
//! transaction coordinator, which is not built yet: they are refused at
//! once with a clear message (`not_supported.rs`) rather than half-served.

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

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
