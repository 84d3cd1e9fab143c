//! Partitions this broker hosts: the log, the offsets around it (log end
//! offset, high watermark), the idempotent producer state, the waiting of
//! fetches for new data, the sans-IO replication state (ISR, high
//! watermark, AlterPartition) and the replica fetchers that feed
//! followers. Kafka
//! counterparts: `Partition`, `ReplicaManager`, `ProducerStateManager`.

pub mod error;
pub mod fetcher;
pub mod manager;
pub mod producer_state;
pub mod replica;
pub mod replication_state;
pub mod snapshot;

pub use error::ReplicaError;
pub use manager::ReplicaManager;
pub use replica::{Partition, ProduceResult};
