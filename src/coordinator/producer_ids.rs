//! Producer ids on the broker: handed out one by one from a block the
//! controller allocated (AllocateProducerIds); a new block is asked for
//! when this one runs out. Ids are never reused, even across restarts,
//! because every block is in the metadata log before it is used; the unused
//! rest of a block is skipped after a restart, as in Kafka. Kafka
//! counterpart: `RPCProducerIdManager`.

use crate::controller::ControllerError;
use crate::controller::channel::ControllerChannel;

pub struct ProducerIdManager {
    broker_id: i32,
    controller: ControllerChannel,
    /// The unused part of the current block: `next .. end`.
    block: tokio::sync::Mutex<(i64, i64)>,
}

impl ProducerIdManager {
    pub fn new(broker_id: i32, controller: ControllerChannel) -> Self {
        ProducerIdManager {
            broker_id,
            controller,
            block: tokio::sync::Mutex::new((0, 0)),
        }
    }

    /// A producer id never handed out before.
    pub async fn generate(&self) -> Result<i64, ControllerError> {
        let mut block = self.block.lock().await;
        if block.0 >= block.1 {
            let next = self
                .controller
                .allocate_producer_ids(self.broker_id)
                .await?;
            *block = (next.start, next.start + next.len);
        }
        let id = block.0;
        block.0 += 1;
        Ok(id)
    }
}
