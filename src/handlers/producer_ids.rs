//! InitProducerId for idempotent producers: a fresh producer id from the
//! controller's durable id blocks, epoch 0. Transactional ids need the
//! transaction coordinator, which is not built yet: they are refused with
//! a clear message rather than half-served.

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::Broker;
use crate::protocol::ApiError;

pub async fn init_producer_id(
    broker: &Broker,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let result = if req.transactional_id.is_some() {
        Err(ApiError::CoordinatorNotAvailable(
            "transactions are not supported yet (no transaction coordinator)".into(),
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
