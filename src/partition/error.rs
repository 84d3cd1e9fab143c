//! What a hosted partition can fail with, in the replica manager's own
//! terms; `handlers::errors` maps each variant to a Kafka error code, once.
//! Kafka counterpart: the `ApiException`s `ReplicaManager`, `Partition` and
//! `ProducerStateManager` raise.

use crate::log::LogError;

#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// Not in the metadata image.
    #[error("this server does not host this topic-partition")]
    UnknownTopicOrPartition,
    /// In the image, led by another broker or by none (-1): where the
    /// client is to go instead (KIP-951).
    #[error(
        "this broker is not the leader of the partition (its leader is {leader_id}, epoch {leader_epoch})"
    )]
    NotLeaderOrFollower { leader_id: i32, leader_epoch: i32 },
    /// The client's leader epoch is newer than ours (we are behind).
    #[error("the leader epoch in the request is newer than the broker's")]
    UnknownLeaderEpoch,
    /// The client's leader epoch is older than ours (it is behind).
    #[error("the leader epoch in the request is older than the broker's")]
    FencedLeaderEpoch,
    #[error("{0}")]
    NotEnoughReplicas(String),
    /// A batch the partition refuses whole (e.g. transactional, until the
    /// transaction coordinator exists).
    #[error("{0}")]
    InvalidRecord(String),
    #[error("{0}")]
    InvalidProducerEpoch(String),
    #[error("{0}")]
    OutOfOrderSequence(String),
    /// A client's DeleteRecords on a log whose policy keeps records.
    #[error("{0}")]
    PolicyViolation(String),
    #[error("offset out of range")]
    OffsetOutOfRange,
    /// Producer state could not be made durable.
    #[error("{0}")]
    Storage(String),
    /// Replication refused it (min.insync.replicas, a follower's fetch).
    #[error(transparent)]
    Replication(#[from] super::replication_state::ReplicationError),
    /// The log refused or failed the operation.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// The partition's tests speak in Kafka's codes, through the one mapping.
#[cfg(test)]
impl ReplicaError {
    pub fn code(self) -> i16 {
        crate::protocol::ApiError::from(self).code()
    }
}
