//! The shell's side of KIP-848 consumer groups: ConsumerGroupHeartbeat and
//! ConsumerGroupDescribe over [`ConsumerGroup`], and how such a group
//! answers the APIs it shares with classic groups (OffsetCommit v9 member
//! epochs, ListGroups, DescribeGroups, DeleteGroups, OffsetDelete).
//!
//! A consumer group lives in the same slot as a classic one (its offsets
//! are the same table, persisted the same way); its membership is in
//! memory only. After a restart the group is gone: a member heartbeating
//! with its old epoch gets UNKNOWN_MEMBER_ID and rejoins with epoch 0.

use std::sync::Arc;

use super::{GroupCoordinator, GroupInner, GroupSummary};
use crate::coordinator::GroupError;
use crate::coordinator::assignor::ServerAssignor;
use crate::coordinator::consumer_group::{
    ConsumerGroup, ConsumerGroupConfig, ConsumerGroupDescription, HeartbeatInput,
    HeartbeatResponse, RandomUuidMemberIds, TopicInfo, TopicsImage, missing_group_error,
    validate_request,
};
use crate::coordinator::group::GroupState;
use crate::protocol::ApiError;

/// The protocol type and group type of KIP-848 groups.
pub const CONSUMER_PROTOCOL: &str = "consumer";

pub(super) fn consumer_config(c: &crate::config::BrokerConfig) -> ConsumerGroupConfig {
    ConsumerGroupConfig {
        session_timeout_ms: c.group_consumer_session_timeout_ms,
        heartbeat_interval_ms: c.group_consumer_heartbeat_interval_ms,
        max_size: c.group_consumer_max_size.max(1) as usize,
        assignors: ServerAssignor::ALL.to_vec(),
    }
}

impl GroupCoordinator {
    /// The topics as consumer groups see them, rebuilt only when the
    /// metadata image changed.
    fn topics_image(&self) -> Arc<TopicsImage> {
        let image = self.metadata.current();
        let version = image.offset.max(0) as u64;
        let mut cached = self.topics.lock().expect("topics cache lock");
        if let Some(t) = cached.as_ref()
            && t.version == version
        {
            return t.clone();
        }
        let topics = image
            .topics
            .values()
            .map(|t| {
                (
                    t.name.clone(),
                    TopicInfo {
                        topic_id: t.topic_id,
                        partitions: t.partitions.len() as i32,
                    },
                )
            })
            .collect();
        let fresh = Arc::new(TopicsImage { version, topics });
        *cached = Some(fresh.clone());
        fresh
    }

    /// ConsumerGroupHeartbeat: join (epoch 0), heartbeat, or leave (-1, -2).
    pub async fn consumer_heartbeat(
        &self,
        group_id: &str,
        input: HeartbeatInput,
    ) -> Result<HeartbeatResponse, ApiError> {
        validate_request(&input, &self.consumer_config).map_err(ApiError::from)?;
        let slot = match self.owned(group_id)? {
            Some(slot) => slot,
            None if input.member_epoch == 0 => self.get_or_create(group_id).await?,
            None => return Err(missing_group_error(input.member_epoch).into()),
        };
        let topics = self.topics_image();
        let mut g = slot.inner.lock().await;
        if g.consumer.is_none() {
            if g.group.state() != GroupState::Empty {
                return Err(ApiError::GroupIdNotFound);
            }
            if input.member_epoch != 0 {
                return Err(missing_group_error(input.member_epoch).into());
            }
            g.consumer = Some(ConsumerGroup::new(
                group_id,
                self.consumer_config.clone(),
                Box::new(RandomUuidMemberIds),
            ));
        }
        let consumer = g.consumer.as_mut().expect("set above");
        let outcome = consumer.heartbeat(input, &topics, self.clock.now().monotonic_ms);
        if let Some(deadline) = outcome.timer {
            self.arm_timer(&slot, &mut g, deadline);
        }
        outcome.result.map_err(ApiError::from)
    }

    /// ConsumerGroupDescribe: GROUP_ID_NOT_FOUND for a group that is not a
    /// consumer group (the admin client then falls back to DescribeGroups).
    pub async fn consumer_describe(
        &self,
        group_id: &str,
    ) -> Result<ConsumerGroupDescription, ApiError> {
        let slot = self.owned(group_id)?.ok_or(ApiError::GroupIdNotFound)?;
        let g = slot.inner.lock().await;
        g.consumer
            .as_ref()
            .map(ConsumerGroup::describe)
            .ok_or(ApiError::GroupIdNotFound)
    }
}

/// A consumer group's summary for ListGroups and DescribeGroups.
pub(super) fn summarize(consumer: &ConsumerGroup) -> GroupSummary {
    let d = consumer.describe();
    GroupSummary {
        group_id: d.group_id,
        state: d.state.name(),
        group_type: CONSUMER_PROTOCOL,
        protocol_type: Some(CONSUMER_PROTOCOL.to_string()),
        protocol_name: Some(d.assignor_name),
        members: Vec::new(),
    }
}

/// OffsetCommit checks of a consumer group: v9 carries the member epoch;
/// older versions may only make simple commits (Kafka: UNSUPPORTED_VERSION).
pub(super) fn validate_commit(
    g: &GroupInner,
    consumer: &ConsumerGroup,
    member_id: &str,
    epoch: i32,
    api_version: i16,
) -> Result<(), ApiError> {
    if api_version < 9 && !(epoch < 0 && member_id.is_empty()) {
        return Err(ApiError::UnsupportedVersion(format!(
            "group {} uses the consumer protocol; commit with OffsetCommit v9 or later",
            g.group_id
        )));
    }
    consumer
        .validate_offset_commit(member_id, epoch)
        .map_err(ApiError::from)
}

/// Topics the group's members subscribe to by name (OffsetDelete refuses
/// to delete their offsets).
pub(super) fn subscribed_topics(consumer: &ConsumerGroup) -> Vec<String> {
    consumer
        .describe()
        .members
        .into_iter()
        .flat_map(|m| m.subscribed_topic_names)
        .collect()
}

/// DeleteGroups: only a group without members goes.
pub(super) fn check_deletable(consumer: &ConsumerGroup) -> Result<(), ApiError> {
    if consumer.is_empty() {
        Ok(())
    } else {
        Err(GroupError::NonEmptyGroup.into())
    }
}

/// Slots whose consumer group has members are never expired.
pub(super) fn has_members(slot_inner: &GroupInner) -> bool {
    slot_inner.consumer.as_ref().is_some_and(|c| !c.is_empty())
}
