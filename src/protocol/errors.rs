//! Every error that reaches a client, and its Kafka error code. This is the
//! one place where codes are chosen: handlers return [`ApiError`], the
//! response builders call [`ApiError::code`] and [`ApiError::message`].

use kafka_protocol::ResponseError as Kafka;

pub use crate::log::error::RecordError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("this server does not host this topic-partition")]
    UnknownTopicOrPartition,
    #[error("this server does not host this topic ID")]
    UnknownTopicId,
    #[error("{0}")]
    InvalidTopic(String),
    #[error("topic '{0}' already exists")]
    TopicAlreadyExists(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    CorruptMessage(String),
    #[error("{0}")]
    InvalidRecord(String),
    /// Records of a batch refused one by one (KIP-467), with their indexes.
    #[error("{message}")]
    InvalidRecords {
        message: String,
        record_errors: Vec<RecordError>,
    },
    /// The same, when any of them had a timestamp out of range.
    #[error("{message}")]
    InvalidTimestamps {
        message: String,
        record_errors: Vec<RecordError>,
    },
    /// Records breaking the Produce request's own rules (one v2 batch).
    #[error("{0}")]
    InvalidRequestRecords(String),
    #[error("{0}")]
    UnsupportedCompressionType(String),
    #[error("{0}")]
    NotEnoughReplicas(String),
    #[error("{0}")]
    NotEnoughReplicasAfterAppend(String),
    #[error("{0}")]
    MessageTooLarge(String),
    #[error("{0}")]
    UnsupportedForMessageFormat(String),
    #[error("offset out of range")]
    OffsetOutOfRange,
    #[error("acks must be -1, 0 or 1")]
    InvalidRequiredAcks,
    #[error("{0}")]
    OutOfOrderSequence(String),
    #[error("{0}")]
    InvalidProducerEpoch(String),
    #[error("{0}")]
    UnknownProducerId(String),
    #[error("{0}")]
    KafkaStorage(String),
    #[error("{0}")]
    PolicyViolation(String),
    #[error("topic deletion is disabled (delete.topic.enable=false)")]
    TopicDeletionDisabled,
    #[error("{0}")]
    UnsupportedVersion(String),
    #[error("{0}")]
    InconsistentClusterId(String),
    #[error("{0}")]
    DuplicateBrokerRegistration(String),
    #[error("{0}")]
    StaleBrokerEpoch(String),
    #[error("{0}")]
    BrokerIdNotRegistered(String),
    #[error("{0}")]
    InvalidRegistration(String),
    #[error("{0}")]
    NotController(String),
    #[error("{0}")]
    InvalidUpdateVersion(String),
    #[error("{0}")]
    IneligibleReplica(String),
    #[error("the partition already has the leader asked for")]
    ElectionNotNeeded,
    #[error("{0}")]
    PreferredLeaderNotAvailable(String),
    #[error("{0}")]
    EligibleLeadersNotAvailable(String),
    #[error("{0}")]
    MismatchedEndpointType(String),
    #[error("{0}")]
    UnsupportedEndpointType(String),
    #[error("{0}")]
    CoordinatorNotAvailable(String),
    /// This broker coordinates the group but is still reading its
    /// `__consumer_offsets` partition.
    #[error("{0}")]
    CoordinatorLoadInProgress(String),
    /// Led by another broker, or by none: the client is to go to
    /// `leader_id` (-1 unknown) at `leader_epoch` (KIP-951's hint).
    #[error(
        "this broker is not the leader of the partition (its leader is {leader_id}, epoch {leader_epoch})"
    )]
    NotLeaderOrFollower { leader_id: i32, leader_epoch: i32 },
    #[error(
        "there is no leader for this topic-partition, as it is in the middle of a leadership election"
    )]
    LeaderNotAvailable,
    #[error("{0}")]
    InvalidTimestamp(String),
    #[error("the leader epoch in the request is newer than the broker's")]
    UnknownLeaderEpoch,
    #[error("the leader epoch in the request is older than the broker's")]
    FencedLeaderEpoch,
    #[error("the group generation id is not valid")]
    IllegalGeneration,
    #[error("the coordinator is not aware of this member")]
    UnknownMemberId,
    #[error("the group is rebalancing, so a rejoin is needed")]
    RebalanceInProgress,
    #[error("{0}")]
    InconsistentGroupProtocol(String),
    #[error("{0}")]
    InvalidSessionTimeout(String),
    #[error(
        "the group member needs to have a valid member id before actually entering a consumer group"
    )]
    MemberIdRequired,
    #[error(
        "another member with the same group.instance.id has registered with a different member.id"
    )]
    FencedInstanceId,
    #[error("the group has reached its max size (group.max.size)")]
    GroupMaxSizeReached,
    #[error("the group is not empty")]
    NonEmptyGroup,
    #[error("the metadata field of the offset request was too large")]
    OffsetMetadataTooLarge,
    #[error("the group id is empty or not valid")]
    InvalidGroupId,
    #[error("the group id does not exist")]
    GroupIdNotFound,
    #[error("the consumer group is subscribed to this topic")]
    GroupSubscribedToTopic,
    #[error("{0}")]
    NotCoordinator(String),
    #[error("the member epoch is fenced; the member must rejoin with epoch 0")]
    FencedMemberEpoch,
    #[error("the member epoch is stale; retry with the epoch of the last heartbeat")]
    StaleMemberEpoch,
    #[error("the group.instance.id is still used by another member")]
    UnreleasedInstanceId,
    #[error("{0}")]
    UnsupportedAssignor(String),
    /// A feature not built yet whose clients fail fast only on this code
    /// (transactions, see `handlers/not_supported.rs`).
    #[error("{0}")]
    ClusterAuthorizationFailed(String),
    /// ACLs and SCRAM: Kafka's answer when no authorizer is configured.
    #[error("{0}")]
    SecurityDisabled(String),
    /// A request that needed another node (the controller) which did not
    /// answer in time.
    #[error("{0}")]
    RequestTimedOut(String),
    /// Another node (the controller) refused with this code: passed on
    /// as it was chosen there.
    #[error("{message}")]
    Remote { code: i16, message: String },
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// Kafka's error code for this error.
    pub fn code(&self) -> i16 {
        self.kafka().code()
    }

    fn kafka(&self) -> Kafka {
        match self {
            ApiError::UnknownTopicOrPartition => Kafka::UnknownTopicOrPartition,
            ApiError::UnknownTopicId => Kafka::UnknownTopicId,
            ApiError::InvalidTopic(_) => Kafka::InvalidTopicException,
            ApiError::TopicAlreadyExists(_) => Kafka::TopicAlreadyExists,
            ApiError::InvalidPartitions(_) => Kafka::InvalidPartitions,
            ApiError::InvalidReplicationFactor(_) => Kafka::InvalidReplicationFactor,
            ApiError::InvalidReplicaAssignment(_) => Kafka::InvalidReplicaAssignment,
            ApiError::InvalidConfig(_) => Kafka::InvalidConfig,
            ApiError::InvalidRequest(_) => Kafka::InvalidRequest,
            ApiError::CorruptMessage(_) => Kafka::CorruptMessage,
            ApiError::InvalidRecord(_) => Kafka::InvalidRecord,
            ApiError::InvalidRecords { .. } => Kafka::InvalidRecord,
            ApiError::InvalidTimestamps { .. } => Kafka::InvalidTimestamp,
            ApiError::InvalidRequestRecords(_) => Kafka::InvalidRecord,
            ApiError::UnsupportedCompressionType(_) => Kafka::UnsupportedCompressionType,
            ApiError::NotEnoughReplicas(_) => Kafka::NotEnoughReplicas,
            ApiError::NotEnoughReplicasAfterAppend(_) => Kafka::NotEnoughReplicasAfterAppend,
            ApiError::MessageTooLarge(_) => Kafka::MessageTooLarge,
            ApiError::UnsupportedForMessageFormat(_) => Kafka::UnsupportedForMessageFormat,
            ApiError::OffsetOutOfRange => Kafka::OffsetOutOfRange,
            ApiError::InvalidRequiredAcks => Kafka::InvalidRequiredAcks,
            ApiError::OutOfOrderSequence(_) => Kafka::OutOfOrderSequenceNumber,
            ApiError::InvalidProducerEpoch(_) => Kafka::InvalidProducerEpoch,
            ApiError::UnknownProducerId(_) => Kafka::UnknownProducerId,
            ApiError::KafkaStorage(_) => Kafka::KafkaStorageError,
            ApiError::PolicyViolation(_) => Kafka::PolicyViolation,
            ApiError::TopicDeletionDisabled => Kafka::TopicDeletionDisabled,
            ApiError::UnsupportedVersion(_) => Kafka::UnsupportedVersion,
            ApiError::InconsistentClusterId(_) => Kafka::InconsistentClusterId,
            ApiError::DuplicateBrokerRegistration(_) => Kafka::DuplicateBrokerRegistration,
            ApiError::StaleBrokerEpoch(_) => Kafka::StaleBrokerEpoch,
            ApiError::BrokerIdNotRegistered(_) => Kafka::BrokerIdNotRegistered,
            ApiError::InvalidRegistration(_) => Kafka::InvalidRegistration,
            ApiError::NotController(_) => Kafka::NotController,
            ApiError::InvalidUpdateVersion(_) => Kafka::InvalidUpdateVersion,
            ApiError::IneligibleReplica(_) => Kafka::IneligibleReplica,
            ApiError::ElectionNotNeeded => Kafka::ElectionNotNeeded,
            ApiError::PreferredLeaderNotAvailable(_) => Kafka::PreferredLeaderNotAvailable,
            ApiError::EligibleLeadersNotAvailable(_) => Kafka::EligibleLeadersNotAvailable,
            ApiError::MismatchedEndpointType(_) => Kafka::MismatchedEndpointType,
            ApiError::UnsupportedEndpointType(_) => Kafka::UnsupportedEndpointType,
            ApiError::CoordinatorNotAvailable(_) => Kafka::CoordinatorNotAvailable,
            ApiError::CoordinatorLoadInProgress(_) => Kafka::CoordinatorLoadInProgress,
            ApiError::NotLeaderOrFollower { .. } => Kafka::NotLeaderOrFollower,
            ApiError::LeaderNotAvailable => Kafka::LeaderNotAvailable,
            ApiError::InvalidTimestamp(_) => Kafka::InvalidTimestamp,
            ApiError::UnknownLeaderEpoch => Kafka::UnknownLeaderEpoch,
            ApiError::FencedLeaderEpoch => Kafka::FencedLeaderEpoch,
            ApiError::IllegalGeneration => Kafka::IllegalGeneration,
            ApiError::UnknownMemberId => Kafka::UnknownMemberId,
            ApiError::RebalanceInProgress => Kafka::RebalanceInProgress,
            ApiError::InconsistentGroupProtocol(_) => Kafka::InconsistentGroupProtocol,
            ApiError::InvalidSessionTimeout(_) => Kafka::InvalidSessionTimeout,
            ApiError::MemberIdRequired => Kafka::MemberIdRequired,
            ApiError::FencedInstanceId => Kafka::FencedInstanceId,
            ApiError::GroupMaxSizeReached => Kafka::GroupMaxSizeReached,
            ApiError::NonEmptyGroup => Kafka::NonEmptyGroup,
            ApiError::OffsetMetadataTooLarge => Kafka::OffsetMetadataTooLarge,
            ApiError::InvalidGroupId => Kafka::InvalidGroupId,
            ApiError::GroupIdNotFound => Kafka::GroupIdNotFound,
            ApiError::GroupSubscribedToTopic => Kafka::GroupSubscribedToTopic,
            ApiError::NotCoordinator(_) => Kafka::NotCoordinator,
            ApiError::FencedMemberEpoch => Kafka::FencedMemberEpoch,
            ApiError::StaleMemberEpoch => Kafka::StaleMemberEpoch,
            ApiError::UnreleasedInstanceId => Kafka::UnreleasedInstanceId,
            ApiError::UnsupportedAssignor(_) => Kafka::UnsupportedAssignor,
            ApiError::ClusterAuthorizationFailed(_) => Kafka::ClusterAuthorizationFailed,
            ApiError::SecurityDisabled(_) => Kafka::SecurityDisabled,
            ApiError::RequestTimedOut(_) => Kafka::RequestTimedOut,
            ApiError::Remote { code, .. } => {
                Kafka::try_from_code(*code).unwrap_or(Kafka::UnknownServerError)
            }
            ApiError::Internal(_) => Kafka::UnknownServerError,
        }
    }

    /// The message for responses that carry one.
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// The refused records of a Produce partition (KIP-467), if any.
    pub fn record_errors(&self) -> &[RecordError] {
        match self {
            ApiError::InvalidRecords { record_errors, .. }
            | ApiError::InvalidTimestamps { record_errors, .. } => record_errors,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_protocol_guide() {
        let table: &[(ApiError, i16)] = &[
            (ApiError::UnknownTopicOrPartition, 3),
            (ApiError::InvalidTopic(String::new()), 17),
            (ApiError::TopicAlreadyExists(String::new()), 36),
            (ApiError::InvalidPartitions(String::new()), 37),
            (ApiError::InvalidReplicationFactor(String::new()), 38),
            (ApiError::InvalidReplicaAssignment(String::new()), 39),
            (ApiError::InvalidConfig(String::new()), 40),
            (ApiError::InvalidRequest(String::new()), 42),
            (ApiError::CorruptMessage(String::new()), 2),
            (ApiError::InvalidRecord(String::new()), 87),
            (
                ApiError::InvalidRecords {
                    message: String::new(),
                    record_errors: vec![],
                },
                87,
            ),
            (
                ApiError::InvalidTimestamps {
                    message: String::new(),
                    record_errors: vec![],
                },
                32,
            ),
            (ApiError::UnsupportedCompressionType(String::new()), 76),
            (ApiError::InvalidRequestRecords(String::new()), 87),
            (ApiError::NotEnoughReplicas(String::new()), 19),
            (ApiError::NotEnoughReplicasAfterAppend(String::new()), 20),
            (ApiError::MessageTooLarge(String::new()), 10),
            (ApiError::UnsupportedForMessageFormat(String::new()), 43),
            (ApiError::OffsetOutOfRange, 1),
            (ApiError::InvalidRequiredAcks, 21),
            (ApiError::OutOfOrderSequence(String::new()), 45),
            (ApiError::InvalidProducerEpoch(String::new()), 47),
            (ApiError::UnknownProducerId(String::new()), 59),
            (ApiError::KafkaStorage(String::new()), 56),
            (ApiError::PolicyViolation(String::new()), 44),
            (ApiError::TopicDeletionDisabled, 73),
            (ApiError::UnsupportedVersion(String::new()), 35),
            (ApiError::InconsistentClusterId(String::new()), 104),
            (ApiError::DuplicateBrokerRegistration(String::new()), 101),
            (ApiError::StaleBrokerEpoch(String::new()), 77),
            (ApiError::BrokerIdNotRegistered(String::new()), 102),
            (ApiError::InvalidRegistration(String::new()), 119),
            (ApiError::NotController(String::new()), 41),
            (ApiError::InvalidUpdateVersion(String::new()), 95),
            (ApiError::IneligibleReplica(String::new()), 107),
            (ApiError::ElectionNotNeeded, 84),
            (ApiError::PreferredLeaderNotAvailable(String::new()), 80),
            (ApiError::EligibleLeadersNotAvailable(String::new()), 83),
            (ApiError::MismatchedEndpointType(String::new()), 114),
            (ApiError::UnsupportedEndpointType(String::new()), 115),
            (ApiError::CoordinatorNotAvailable(String::new()), 15),
            (ApiError::CoordinatorLoadInProgress(String::new()), 14),
            (
                ApiError::NotLeaderOrFollower {
                    leader_id: 2,
                    leader_epoch: 1,
                },
                6,
            ),
            (ApiError::LeaderNotAvailable, 5),
            (ApiError::InvalidTimestamp(String::new()), 32),
            (ApiError::UnknownTopicId, 100),
            (ApiError::UnknownLeaderEpoch, 75),
            (ApiError::FencedLeaderEpoch, 74),
            (ApiError::IllegalGeneration, 22),
            (ApiError::UnknownMemberId, 25),
            (ApiError::RebalanceInProgress, 27),
            (ApiError::InconsistentGroupProtocol(String::new()), 23),
            (ApiError::InvalidSessionTimeout(String::new()), 26),
            (ApiError::MemberIdRequired, 79),
            (ApiError::FencedInstanceId, 82),
            (ApiError::GroupMaxSizeReached, 81),
            (ApiError::NonEmptyGroup, 68),
            (ApiError::OffsetMetadataTooLarge, 12),
            (ApiError::InvalidGroupId, 24),
            (ApiError::GroupIdNotFound, 69),
            (ApiError::GroupSubscribedToTopic, 86),
            (ApiError::NotCoordinator(String::new()), 16),
            (ApiError::FencedMemberEpoch, 110),
            (ApiError::StaleMemberEpoch, 113),
            (ApiError::UnreleasedInstanceId, 111),
            (ApiError::UnsupportedAssignor(String::new()), 112),
            (ApiError::ClusterAuthorizationFailed(String::new()), 31),
            (ApiError::SecurityDisabled(String::new()), 54),
            (ApiError::RequestTimedOut(String::new()), 7),
            (
                ApiError::Remote {
                    code: 41,
                    message: String::new(),
                },
                41,
            ),
            (ApiError::Internal(String::new()), -1),
        ];
        for (err, code) in table {
            assert_eq!(err.code(), *code, "{err:?}");
        }
    }
}
