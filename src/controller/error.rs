//! What a controller decision or commit can fail with, in the controller's
//! own terms. `handlers::errors` maps each variant to a Kafka error code,
//! once; the controller knows nothing of the wire. Kafka counterpart: the
//! `ApiException` subclasses `ReplicationControlManager` and
//! `ConfigurationControlManager` throw.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControllerError {
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
    #[error("topic deletion is disabled (delete.topic.enable=false)")]
    TopicDeletionDisabled,
    #[error("{0}")]
    InconsistentClusterId(String),
    #[error("{0}")]
    DuplicateBrokerRegistration(String),
    #[error("{0}")]
    UnsupportedVersion(String),
    #[error("{0}")]
    StaleBrokerEpoch(String),
    #[error("{0}")]
    BrokerIdNotRegistered(String),
    #[error("{0}")]
    InvalidRegistration(String),
    /// A request made against a newer controller's state than ours.
    #[error("{0}")]
    NotController(String),
    #[error("{0}")]
    FencedLeaderEpoch(String),
    /// AlterPartition from a partition epoch that is not the current one.
    #[error("{0}")]
    InvalidUpdateVersion(String),
    /// A proposed ISR member is fenced, shutting down, unregistered or of
    /// another broker epoch.
    #[error("{0}")]
    IneligibleReplica(String),
    /// The metadata log could not be written: nothing was committed.
    /// ElectLeaders: the partition already has the leader asked for.
    #[error("the partition already has the leader asked for")]
    ElectionNotNeeded,
    #[error("{0}")]
    PreferredLeaderNotAvailable(String),
    #[error("{0}")]
    EligibleLeadersNotAvailable(String),
    #[error("{0}")]
    MetadataLog(String),
    /// The controller of another process could not be reached, or did not
    /// answer in time: the request may or may not have been served.
    #[error("{0}")]
    ControllerUnavailable(String),
    /// The controller of another process refused with this Kafka code.
    #[error("{message} (error code {code})")]
    Remote { code: i16, message: String },
    /// A bug on the serving side (a response of the wrong type).
    #[error("{0}")]
    Internal(String),
}

/// The decisions' tests speak in Kafka's codes, through the one mapping.
#[cfg(test)]
impl ControllerError {
    pub fn code(&self) -> i16 {
        crate::protocol::ApiError::from(self.clone()).code()
    }
}
