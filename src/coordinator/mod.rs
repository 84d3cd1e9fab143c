//! The group coordinator's cores: one classic-protocol group state machine
//! ([`group::ClassicGroup`]) and one committed-offset store per group
//! ([`offsets::OffsetStore`]). Both are sans-IO: callers pass inputs and
//! `now_ms`, and get back [`group::Output`]s (responses, records to append,
//! when to tick next). Nothing here reads the clock, a socket or a file.
//!
//! Durable changes are [`record::GroupRecord`]s and [`record::OffsetRecord`]s;
//! `replay()` is the only code that changes hard state, on the live path (the
//! core replays its own records as it emits them) and on load alike. The
//! driver appends the records to `__consumer_offsets` and sends the responses
//! emitted after a record only once that append has committed.
//!
//! Groups of the KIP-848 consumer protocol (ConsumerGroupHeartbeat) are
//! [`consumer_group::ConsumerGroup`]s, with server-side assignors in
//! [`assignor`]; their membership is in memory only (see that module).
//!
//! Kafka counterpart: `GroupCoordinator` / `GroupMetadata` (classic protocol),
//! `OffsetMetadataManager`, KIP-345 (static membership), KIP-394 (member id
//! required), KIP-211 (offset expiry of empty groups).

pub mod assignor;
pub mod consumer_group;
pub mod group;
pub mod offsets;
pub mod producer_ids;
pub mod record;
pub mod schema;
pub mod service;

use crate::protocol::ApiError;

/// Group settings, under Kafka's config keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms`
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`
    pub initial_rebalance_delay_ms: i32,
    /// `group.max.size`
    pub max_size: usize,
    /// `offsets.retention.minutes`, in milliseconds.
    pub offsets_retention_ms: i64,
    /// `offset.metadata.max.bytes`
    pub offset_metadata_max_bytes: usize,
}

impl Default for GroupConfig {
    /// Kafka's defaults.
    fn default() -> Self {
        GroupConfig {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3_000,
            max_size: i32::MAX as usize,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            offset_metadata_max_bytes: 4096,
        }
    }
}

/// Why a group request failed. Mapped to Kafka codes once, in
/// `From<GroupError> for ApiError`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// The group is Dead: it was removed, the client must find the
    /// coordinator again.
    #[error("the group is being removed from this coordinator")]
    CoordinatorNotAvailable,
    #[error("the group generation id is not valid")]
    IllegalGeneration,
    #[error("the coordinator is not aware of this member")]
    UnknownMemberId,
    #[error("the group is rebalancing, so a rejoin is needed")]
    RebalanceInProgress,
    #[error("{0}")]
    InconsistentGroupProtocol(String),
    #[error("session timeout {0} ms is outside group.min/max.session.timeout.ms")]
    InvalidSessionTimeout(i32),
    #[error("a member id is required to join the group")]
    MemberIdRequired,
    #[error("the group.instance.id is registered with a different member.id")]
    FencedInstanceId,
    #[error("the group has reached group.max.size")]
    GroupMaxSizeReached,
    #[error("the group is not empty")]
    NonEmptyGroup,
    #[error("offset metadata is longer than offset.metadata.max.bytes")]
    OffsetMetadataTooLarge,
    /// KIP-848: the member epoch is neither the current one nor the
    /// previous one; the member must abandon its partitions and rejoin.
    #[error("the member epoch is fenced by the group coordinator")]
    FencedMemberEpoch,
    /// KIP-848 OffsetCommit/OffsetFetch with an epoch other than the
    /// member's current one.
    #[error("the member epoch is stale")]
    StaleMemberEpoch,
    #[error("the group.instance.id is still in use by another static member")]
    UnreleasedInstanceId,
    #[error("{0}")]
    UnsupportedAssignor(String),
    /// The group does not exist, or is not of the type the request expects.
    #[error("the group does not exist or has another type")]
    GroupIdNotFound,
    #[error("{0}")]
    InvalidRequest(String),
    /// The group's `__consumer_offsets` partition is not here (any more),
    /// or its log failed: the client must find the coordinator again.
    #[error("{0}")]
    NotCoordinator(String),
    /// A write the coordinator can never make, such as a record batch over
    /// the offsets topic's `max.message.bytes`. Not retriable: Kafka maps
    /// MESSAGE_TOO_LARGE and RECORD_LIST_TOO_LARGE to UNKNOWN_SERVER_ERROR
    /// (`CoordinatorOperationExceptionHelper`).
    #[error("{0}")]
    UnknownServerError(String),
}

impl From<GroupError> for ApiError {
    fn from(e: GroupError) -> Self {
        match e {
            GroupError::CoordinatorNotAvailable => ApiError::CoordinatorNotAvailable(e.to_string()),
            GroupError::IllegalGeneration => ApiError::IllegalGeneration,
            GroupError::UnknownMemberId => ApiError::UnknownMemberId,
            GroupError::RebalanceInProgress => ApiError::RebalanceInProgress,
            GroupError::InconsistentGroupProtocol(m) => ApiError::InconsistentGroupProtocol(m),
            GroupError::InvalidSessionTimeout(_) => ApiError::InvalidSessionTimeout(e.to_string()),
            GroupError::MemberIdRequired => ApiError::MemberIdRequired,
            GroupError::FencedInstanceId => ApiError::FencedInstanceId,
            GroupError::GroupMaxSizeReached => ApiError::GroupMaxSizeReached,
            GroupError::NonEmptyGroup => ApiError::NonEmptyGroup,
            GroupError::OffsetMetadataTooLarge => ApiError::OffsetMetadataTooLarge,
            GroupError::FencedMemberEpoch => ApiError::FencedMemberEpoch,
            GroupError::StaleMemberEpoch => ApiError::StaleMemberEpoch,
            GroupError::UnreleasedInstanceId => ApiError::UnreleasedInstanceId,
            GroupError::UnsupportedAssignor(m) => ApiError::UnsupportedAssignor(m),
            GroupError::GroupIdNotFound => ApiError::GroupIdNotFound,
            GroupError::InvalidRequest(m) => ApiError::InvalidRequest(m),
            GroupError::NotCoordinator(m) => ApiError::NotCoordinator(m),
            GroupError::UnknownServerError(m) => ApiError::Internal(m),
        }
    }
}

impl GroupError {
    /// Kafka's error code for this error.
    pub fn code(&self) -> i16 {
        ApiError::from(self.clone()).code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_errors_map_to_kafka_codes() {
        let table: &[(GroupError, i16)] = &[
            (GroupError::CoordinatorNotAvailable, 15),
            (GroupError::IllegalGeneration, 22),
            (GroupError::UnknownMemberId, 25),
            (GroupError::RebalanceInProgress, 27),
            (GroupError::InconsistentGroupProtocol(String::new()), 23),
            (GroupError::InvalidSessionTimeout(1), 26),
            (GroupError::MemberIdRequired, 79),
            (GroupError::FencedInstanceId, 82),
            (GroupError::GroupMaxSizeReached, 81),
            (GroupError::NonEmptyGroup, 68),
            (GroupError::OffsetMetadataTooLarge, 12),
            (GroupError::FencedMemberEpoch, 110),
            (GroupError::StaleMemberEpoch, 113),
            (GroupError::UnreleasedInstanceId, 111),
            (GroupError::UnsupportedAssignor(String::new()), 112),
            (GroupError::GroupIdNotFound, 69),
            (GroupError::InvalidRequest(String::new()), 42),
            (GroupError::NotCoordinator(String::new()), 16),
            (GroupError::UnknownServerError(String::new()), -1),
        ];
        for (err, code) in table {
            assert_eq!(err.code(), *code, "{err:?}");
        }
    }
}
