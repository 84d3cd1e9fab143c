//! Core errors to Kafka's: each core's error enum is mapped here, once,
//! with an exhaustive match (no catch-all, so a new variant cannot reach a
//! client unmapped), into the wire vocabulary `protocol::ApiError`, whose
//! own exhaustive match gives the error code. Today the controller's
//! errors come through here; the replica manager's and the coordinators'
//! follow as they get their own enums.

use crate::controller::ControllerError;
use crate::protocol::ApiError;

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
            ControllerError::MetadataLog(m) => ApiError::KafkaStorage(m),
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
            (ControllerError::MetadataLog(m()), 56),
            (ControllerError::Internal(m()), -1),
        ];
        for (e, code) in table {
            let message = e.to_string();
            let api = ApiError::from(e);
            assert_eq!(api.code(), code, "{api:?}");
            assert_eq!(api.message(), message);
        }
    }
}
