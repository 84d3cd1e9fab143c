//! The durable shapes of a group: what goes into `__consumer_offsets`.
//! Kafka counterpart: `GroupMetadataKey/Value` and `OffsetCommitKey/Value`.
//! Encoding them in Kafka's on-disk schema comes with the persistence driver;
//! here they are plain values that `replay()` applies.

use bytes::Bytes;

/// A change to one group's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRecord {
    /// The group after a completed rebalance (the leader's assignments), a
    /// static member's replacement, or the group becoming Empty.
    Metadata(GroupMetadataValue),
    /// The group is deleted: it becomes Dead.
    Tombstone,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadataValue {
    /// Empty for a group that only ever had simple offset commits.
    pub protocol_type: Option<String>,
    pub generation_id: i32,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    /// When the group entered its current state (KIP-211 expiry base).
    pub current_state_timestamp_ms: Option<i64>,
    pub members: Vec<MemberMetadataValue>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadataValue {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// The member's metadata for the group's selected protocol.
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// A committed offset of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    pub committed_offset: i64,
    pub leader_epoch: Option<i32>,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
}

/// A change to one group's committed offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetRecord {
    Commit {
        topic: String,
        partition: i32,
        value: OffsetAndMetadata,
    },
    /// The offset is deleted (OffsetDelete, expiry, group deletion).
    Tombstone { topic: String, partition: i32 },
}
