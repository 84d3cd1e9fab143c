//! Partitions this broker hosts: the log, the offsets around it (log end
//! offset, high watermark), the idempotent producer state, and the waiting
//! of fetches for new data. Kafka counterparts: `Partition`,
//! `ReplicaManager`, `ProducerStateManager`.

pub mod error;
pub mod manager;
pub mod producer_state;
pub mod replica;
pub mod snapshot;

pub use error::ReplicaError;
pub use manager::ReplicaManager;
pub use replica::{Partition, ProduceResult};
