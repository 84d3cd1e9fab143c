//! Core errors to Kafka's: each core's error enum is mapped here, once,
//! with an exhaustive match (no catch-all, so a new variant cannot reach a
//! client unmapped), into the wire vocabulary `protocol::ApiError`, whose
//! own exhaustive match gives the error code. The controller's, the
//! replica manager's and the log's errors come through here; the group
//! coordinator's follow when it gets its own enum.

use crate::controller::ControllerError;
use crate::log::LogError;
use crate::partition::ReplicaError;
use crate::partition::replication_state::ReplicationError;
use crate::protocol::ApiError;

impl From<ReplicaError> for ApiError {
    fn from(e: ReplicaError) -> Self {
        match e {
            ReplicaError::UnknownTopicOrPartition => ApiError::UnknownTopicOrPartition,
            ReplicaError::NotLeaderOrFollower {
                leader_id,
                leader_epoch,
            } => ApiError::NotLeaderOrFollower {
                leader_id,
                leader_epoch,
            },
            ReplicaError::UnknownLeaderEpoch => ApiError::UnknownLeaderEpoch,
            ReplicaError::FencedLeaderEpoch => ApiError::FencedLeaderEpoch,
            ReplicaError::NotEnoughReplicas(m) => ApiError::NotEnoughReplicas(m),
            ReplicaError::InvalidRecord(m) => ApiError::InvalidRecord(m),
            ReplicaError::InvalidProducerEpoch(m) => ApiError::InvalidProducerEpoch(m),
            ReplicaError::OutOfOrderSequence(m) => ApiError::OutOfOrderSequence(m),
            ReplicaError::PolicyViolation(m) => ApiError::PolicyViolation(m),
            ReplicaError::OffsetOutOfRange => ApiError::OffsetOutOfRange,
            ReplicaError::Storage(m) => ApiError::KafkaStorage(m),
            ReplicaError::Replication(e) => ApiError::from(e),
            ReplicaError::Log(e) => ApiError::from(e),
        }
    }
}

impl From<ReplicationError> for ApiError {
    fn from(e: ReplicationError) -> Self {
        let message = e.to_string();
        match e {
            ReplicationError::NotLeaderOrFollower | ReplicationError::StaleBrokerEpoch { .. } => {
                ApiError::NotLeaderOrFollower {
                    leader_id: -1,
                    leader_epoch: -1,
                }
            }
            ReplicationError::FencedLeaderEpoch { .. } => ApiError::FencedLeaderEpoch,
            ReplicationError::UnknownLeaderEpoch { .. }
            | ReplicationError::UnknownReplica { .. } => ApiError::UnknownLeaderEpoch,
            ReplicationError::OffsetOutOfRange { .. } => ApiError::OffsetOutOfRange,
            ReplicationError::NotEnoughReplicas { .. } => ApiError::NotEnoughReplicas(message),
            ReplicationError::NotEnoughReplicasAfterAppend { .. } => {
                ApiError::NotEnoughReplicasAfterAppend(message)
            }
        }
    }
}

impl From<LogError> for ApiError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::CorruptBatch(_) | LogError::CrcMismatch { .. } => {
                ApiError::CorruptMessage(e.to_string())
            }
            LogError::UnsupportedMagic(_) | LogError::InvalidBatch(_) => {
                ApiError::InvalidRecord(e.to_string())
            }
            LogError::RecordErrors {
                timestamp: false,
                message,
                errors,
            } => ApiError::InvalidRecords {
                message,
                record_errors: errors,
            },
            LogError::RecordErrors {
                timestamp: true,
                message,
                errors,
            } => ApiError::InvalidTimestamps {
                message,
                record_errors: errors,
            },
            LogError::UnsupportedCompression(m) => ApiError::UnsupportedCompressionType(m),
            LogError::RequestRecords(m) => ApiError::InvalidRequestRecords(m),
            LogError::BatchTooLarge { .. } => ApiError::MessageTooLarge(e.to_string()),
            LogError::OffsetOutOfRange { .. } => ApiError::OffsetOutOfRange,
            LogError::Offline | LogError::Io(_) => ApiError::KafkaStorage(e.to_string()),
        }
    }
}

impl From<ControllerError> for ApiError {
    fn from(e: ControllerError) -> Self {
        match e {
            ControllerError::UnknownTopicOrPartition => ApiError::UnknownTopicOrPartition,
            ControllerError::UnknownTopicId => ApiError::UnknownTopicId,
            ControllerError::InvalidTopic(m) => ApiError::InvalidTopic(m),
            ControllerError::TopicAlreadyExists(m) => ApiError::TopicAlreadyExists(m),
            ControllerError::InvalidPartitions(m) => ApiError::InvalidPartitions(m),
            ControllerError::InvalidReplicationFactor(m) => ApiError::InvalidReplicationFactor(m),
            ControllerError::InvalidReplicaAssignment(m) => ApiError::InvalidReplicaAssignment(m),
            ControllerError::InvalidConfig(m) => ApiError::InvalidConfig(m),
            ControllerError::InvalidRequest(m) => ApiError::InvalidRequest(m),
            ControllerError::TopicDeletionDisabled => ApiError::TopicDeletionDisabled,
            ControllerError::InconsistentClusterId(m) => ApiError::InconsistentClusterId(m),
            ControllerError::DuplicateBrokerRegistration(m) => {
                ApiError::DuplicateBrokerRegistration(m)
            }
            ControllerError::UnsupportedVersion(m) => ApiError::UnsupportedVersion(m),
            ControllerError::StaleBrokerEpoch(m) => ApiError::StaleBrokerEpoch(m),
            ControllerError::BrokerIdNotRegistered(m) => ApiError::BrokerIdNotRegistered(m),
            ControllerError::InvalidRegistration(m) => ApiError::InvalidRegistration(m),
            ControllerError::NotController(m) => ApiError::NotController(m),
            // AlterPartition's answer carries no message to keep.
            ControllerError::FencedLeaderEpoch(_) => ApiError::FencedLeaderEpoch,
            ControllerError::InvalidUpdateVersion(m) => ApiError::InvalidUpdateVersion(m),
            ControllerError::IneligibleReplica(m) => ApiError::IneligibleReplica(m),
            ControllerError::ElectionNotNeeded => ApiError::ElectionNotNeeded,
            ControllerError::PreferredLeaderNotAvailable(m) => {
                ApiError::PreferredLeaderNotAvailable(m)
            }
            ControllerError::EligibleLeadersNotAvailable(m) => {
                ApiError::EligibleLeadersNotAvailable(m)
            }
            ControllerError::MetadataLog(m) => ApiError::KafkaStorage(m),
            ControllerError::ControllerUnavailable(m) => ApiError::RequestTimedOut(m),
            ControllerError::Remote { code, message } => ApiError::Remote { code, message },
            ControllerError::Internal(m) => ApiError::Internal(m),
        }
    }
}

/// Maps each entry's error of a controller response.
pub fn entries<T>(results: Vec<Result<T, ControllerError>>) -> Vec<Result<T, ApiError>> {
    results
        .into_iter()
        .map(|r| r.map_err(ApiError::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's codes for what the controller refuses (the protocol guide's
    /// table), and the message carried through unchanged.
    #[test]
    fn controller_errors_get_kafkas_codes() {
        let m = || "why".to_string();
        let table: Vec<(ControllerError, i16)> = vec![
            (ControllerError::UnknownTopicOrPartition, 3),
            (ControllerError::UnknownTopicId, 100),
            (ControllerError::InvalidTopic(m()), 17),
            (ControllerError::TopicAlreadyExists(m()), 36),
            (ControllerError::InvalidPartitions(m()), 37),
            (ControllerError::InvalidReplicationFactor(m()), 38),
            (ControllerError::InvalidReplicaAssignment(m()), 39),
            (ControllerError::InvalidConfig(m()), 40),
            (ControllerError::InvalidRequest(m()), 42),
            (ControllerError::TopicDeletionDisabled, 73),
            (ControllerError::InconsistentClusterId(m()), 104),
            (ControllerError::DuplicateBrokerRegistration(m()), 101),
            (ControllerError::UnsupportedVersion(m()), 35),
            (ControllerError::StaleBrokerEpoch(m()), 77),
            (ControllerError::InvalidRegistration(m()), 119),
            (ControllerError::BrokerIdNotRegistered(m()), 102),
            (ControllerError::NotController(m()), 41),
            (ControllerError::InvalidUpdateVersion(m()), 95),
            (ControllerError::IneligibleReplica(m()), 107),
            (ControllerError::MetadataLog(m()), 56),
            (ControllerError::Internal(m()), -1),
        ];
        for (e, code) in table {
            let message = e.to_string();
            let api = ApiError::from(e);
            assert_eq!(api.code(), code, "{api:?}");
            assert_eq!(api.message(), message);
        }
        assert_eq!(
            ApiError::from(ControllerError::FencedLeaderEpoch(m())).code(),
            74
        );
    }

    #[test]
    fn log_errors_map_to_their_codes() {
        assert_eq!(
            ApiError::from(LogError::CrcMismatch {
                stored: 1,
                computed: 2
            })
            .code(),
            2
        );
        // Kafka refuses v0/v1 batches in a v3+ Produce as an invalid record.
        assert_eq!(ApiError::from(LogError::UnsupportedMagic(1)).code(), 87);
        assert_eq!(
            ApiError::from(LogError::BatchTooLarge { size: 2, max: 1 }).code(),
            10
        );
        assert_eq!(
            ApiError::from(LogError::InvalidBatch("x".into())).code(),
            87
        );
        assert_eq!(ApiError::from(LogError::Offline).code(), 56);
    }

    #[test]
    fn replica_errors_get_kafkas_codes() {
        let m = || "why".to_string();
        let table: Vec<(ReplicaError, i16)> = vec![
            (ReplicaError::UnknownTopicOrPartition, 3),
            (
                ReplicaError::NotLeaderOrFollower {
                    leader_id: -1,
                    leader_epoch: 4,
                },
                6,
            ),
            (ReplicaError::UnknownLeaderEpoch, 75),
            (ReplicaError::FencedLeaderEpoch, 74),
            (ReplicaError::NotEnoughReplicas(m()), 19),
            (ReplicaError::InvalidRecord(m()), 87),
            (ReplicaError::InvalidProducerEpoch(m()), 47),
            (ReplicaError::OutOfOrderSequence(m()), 45),
            (ReplicaError::PolicyViolation(m()), 44),
            (ReplicaError::OffsetOutOfRange, 1),
            (ReplicaError::Storage(m()), 56),
            (ReplicaError::Log(LogError::Offline), 56),
        ];
        for (e, code) in table {
            let message = e.to_string();
            let api = ApiError::from(e);
            assert_eq!(api.code(), code, "{api:?}");
            assert_eq!(api.message(), message);
        }
    }
}
