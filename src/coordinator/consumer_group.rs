//! One consumer group under the KIP-848 consumer group protocol
//! (`group.protocol=consumer` clients, ConsumerGroupHeartbeat), as a sans-IO
//! state machine: requests, the topic metadata and `now_ms` in; answers and
//! the next timer deadline out.
//!
//! The protocol has three layers, each with its own epoch:
//! 1. **Group epoch**: bumped whenever the membership, a member's
//!    subscription, or the subscribed topics' metadata (ids, partition
//!    counts) change.
//! 2. **Target assignment** (assignment epoch): recomputed by the server
//!    assignor (`uniform`, `range`; see [`super::assignor`]) when the group
//!    epoch moves past the assignment epoch. It says where every partition
//!    should end up.
//! 3. **Current assignment** per member (member epoch): each member
//!    converges on its target one heartbeat at a time. A member must first
//!    revoke what it may no longer keep (state `UnrevokedPartitions`, epoch
//!    unchanged); it then moves to the target epoch, and gets only those new
//!    partitions that no other member still holds (`UnreleasedPartitions`
//!    until they are released). A member reports the partitions it owns on
//!    full heartbeats (`topic_partitions`); a revocation is complete once it
//!    no longer reports them.
//!
//! Invariant (checked by `debug_assert!` after every call and by the
//! property test): a partition is held, as assigned or pending revocation,
//! by at most one member; `partition_owner` is exactly that relation.
//!
//! Durability: membership, epochs and assignments are kept **in memory
//! only**. After a broker restart the group is gone; members heartbeating
//! with their old epoch get UNKNOWN_MEMBER_ID (use
//! [`missing_group_error`] when no group exists) or FENCED_MEMBER_EPOCH and
//! rejoin with epoch 0, as the protocol foresees. Committed offsets are
//! persisted by the existing `OffsetStore` and survive.
//!
//! Time: `now_ms` is the coordinator's monotonic clock (see
//! [`super::clock`]); nothing here is stored, so no wall-clock time is
//! needed.
//!
//! Who calls it: the group coordinator's driver, holding the group behind
//! its lock. After each call it arms (replacing any earlier one) a timer at
//! the returned deadline and calls [`ConsumerGroup::tick`] then; a tick with
//! nothing due is harmless.
//!
//! Kafka counterpart: `GroupMetadataManager.consumerGroupHeartbeat`,
//! `ConsumerGroup`, `CurrentAssignmentBuilder`, `TargetAssignmentBuilder`
//! (KIP-848), KAFKA-19233 (a fenced member may rejoin with epoch 0).
//! Deliberate differences: a static member rejoining with epoch 0 under its
//! *own* member id is accepted like a dynamic rejoin rather than refused
//! with UNRELEASED_INSTANCE_ID; an invalid `subscribed_topic_regex` is
//! answered INVALID_REQUEST (Kafka 4 has INVALID_REGULAR_EXPRESSION, 128,
//! which `ApiError` lacks).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use indexmap::IndexMap;
use uuid::Uuid;

use super::GroupError;
use super::assignor::{Assignment, MemberSubscription, ServerAssignor};
use super::group::MemberIdGenerator;
use crate::common::internal_topics::is_internal;

/// `MemberEpoch` of a heartbeat that leaves the group.
pub const LEAVE_GROUP_MEMBER_EPOCH: i32 = -1;
/// `MemberEpoch` of a static member that leaves and will come back.
pub const LEAVE_GROUP_STATIC_MEMBER_EPOCH: i32 = -2;

/// Settings of consumer-protocol groups, under Kafka's config keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupConfig {
    /// `group.consumer.session.timeout.ms`
    pub session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms`
    pub heartbeat_interval_ms: i32,
    /// `group.consumer.max.size`
    pub max_size: usize,
    /// `group.consumer.assignors`; the first is the default.
    pub assignors: Vec<ServerAssignor>,
}

impl Default for ConsumerGroupConfig {
    /// Kafka's defaults.
    fn default() -> Self {
        ConsumerGroupConfig {
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 5_000,
            max_size: i32::MAX as usize,
            assignors: vec![ServerAssignor::Uniform, ServerAssignor::Range],
        }
    }
}

/// Kafka's member ids for this protocol: a random UUID (v1 clients send
/// their own, which is accepted as is).
#[derive(Debug, Default)]
pub struct RandomUuidMemberIds;

impl MemberIdGenerator for RandomUuidMemberIds {
    fn generate(&mut self, _client_id: &str) -> String {
        Uuid::new_v4().to_string()
    }
}

/// One topic as the metadata image has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicInfo {
    pub topic_id: Uuid,
    pub partitions: i32,
}

/// The topics of the cluster, refreshed by the caller. `version` must change
/// whenever `topics` does (the metadata image's offset will do): regex
/// subscriptions are re-resolved only then.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicsImage {
    pub version: u64,
    pub topics: BTreeMap<String, TopicInfo>,
}

/// A ConsumerGroupHeartbeat, fields as in the request. `None` (and -1 for
/// the rebalance timeout) means "unchanged since the last heartbeat".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeartbeatInput {
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    /// The partitions the member owns.
    pub topic_partitions: Option<Vec<(Uuid, Vec<i32>)>>,
    pub client_id: String,
    pub client_host: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatResponse {
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// The partitions the member may own now; `None` when unchanged and the
    /// request was not a full one.
    pub assignment: Option<Assignment>,
}

/// What a heartbeat call returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatOutcome {
    pub result: Result<HeartbeatResponse, GroupError>,
    /// Call `tick` at (or after) this time; replaces any earlier timer.
    /// `None` when the deadline did not change.
    pub timer: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalReason {
    SessionExpired,
    /// It did not revoke its partitions within its rebalance timeout.
    RebalanceTimeout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickOutcome {
    pub removed: Vec<(String, RemovalReason)>,
    pub timer: Option<i64>,
}

/// ConsumerGroupDescribe's `GroupState`, ListGroups' state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerGroupState {
    Empty,
    /// The group epoch moved past the target assignment's.
    Assigning,
    /// Some member has not converged on its target yet.
    Reconciling,
    Stable,
}

impl ConsumerGroupState {
    /// Kafka's spelling.
    pub fn name(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
        }
    }
}

/// Where a member is in converging on its target assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// At the target epoch with every target partition, or waiting for a new
    /// target.
    Stable,
    /// Waiting for the member to revoke partitions (epoch not bumped yet).
    UnrevokedPartitions,
    /// At the target epoch, waiting for other members to release partitions.
    UnreleasedPartitions,
}

impl MemberState {
    /// Kafka's spelling.
    pub fn name(self) -> &'static str {
        match self {
            MemberState::Stable => "stable",
            MemberState::UnrevokedPartitions => "unrevoked_partitions",
            MemberState::UnreleasedPartitions => "unreleased_partitions",
        }
    }
}

/// Partitions of one topic, with its name where the group knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPartitions {
    pub topic_id: Uuid,
    /// Empty if the topic is no longer in the metadata the group saw.
    pub topic_name: String,
    pub partitions: Vec<i32>,
}

/// A member as ConsumerGroupDescribe shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub member_epoch: i32,
    pub state: MemberState,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    /// Assigned now (without partitions pending revocation).
    pub assignment: Vec<TopicPartitions>,
    pub target_assignment: Vec<TopicPartitions>,
}

/// ConsumerGroupDescribe's view of the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupDescription {
    pub group_id: String,
    pub state: ConsumerGroupState,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    /// The server assignor in use.
    pub assignor_name: String,
    pub members: Vec<MemberDescription>,
}

#[derive(Debug, Clone)]
struct Member {
    member_id: String,
    instance_id: Option<String>,
    rack_id: Option<String>,
    client_id: String,
    client_host: String,
    rebalance_timeout_ms: i32,
    subscribed_topic_names: Vec<String>,
    subscribed_topic_regex: Option<String>,
    server_assignor: Option<ServerAssignor>,
    member_epoch: i32,
    previous_member_epoch: i32,
    state: MemberState,
    assigned: Assignment,
    pending_revocation: Assignment,
    session_deadline_ms: i64,
    /// Set while `UnrevokedPartitions`: fenced if still so at this time.
    rebalance_deadline_ms: Option<i64>,
}

impl Member {
    fn new(member_id: String) -> Member {
        Member {
            member_id,
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            rebalance_timeout_ms: 0,
            subscribed_topic_names: Vec::new(),
            subscribed_topic_regex: None,
            server_assignor: None,
            member_epoch: 0,
            previous_member_epoch: 0,
            state: MemberState::Stable,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
            session_deadline_ms: i64::MAX,
            rebalance_deadline_ms: None,
        }
    }

    fn held(&self) -> impl Iterator<Item = (Uuid, i32)> + '_ {
        self.assigned
            .iter()
            .chain(self.pending_revocation.iter())
            .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
    }
}

pub struct ConsumerGroup {
    group_id: String,
    config: ConsumerGroupConfig,
    ids: Box<dyn MemberIdGenerator>,
    group_epoch: i32,
    assignment_epoch: i32,
    /// In join order.
    members: IndexMap<String, Member>,
    /// group.instance.id → member id.
    static_members: HashMap<String, String>,
    /// Target assignment per member id.
    target: HashMap<String, Assignment>,
    /// Who holds each partition (assigned or pending revocation): such a
    /// partition is given to no one else until released.
    partition_owner: HashMap<(Uuid, i32), String>,
    /// The subscribed topics that exist, as last seen.
    subscription_metadata: BTreeMap<String, TopicInfo>,
    /// Regex → matching topic names, for `regex_version` of the image.
    regex_matches: HashMap<String, BTreeSet<String>>,
    regex_version: Option<u64>,
    last_timer_ms: Option<i64>,
}

impl std::fmt::Debug for ConsumerGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerGroup")
            .field("group_id", &self.group_id)
            .field("group_epoch", &self.group_epoch)
            .field("assignment_epoch", &self.assignment_epoch)
            .field("members", &self.members.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The error for a ConsumerGroupHeartbeat to a group that does not exist
/// with an epoch other than 0: UNKNOWN_MEMBER_ID, so the member rejoins
/// (after a restart, memberships are gone). Kafka answers
/// GROUP_ID_NOT_FOUND, which the Java client treats as fatal and librdkafka
/// before 2.14.3 did not handle at all.
pub fn missing_group_error(_member_epoch: i32) -> GroupError {
    GroupError::UnknownMemberId
}

/// Checks that need no group state (Kafka's request validation).
pub fn validate_request(
    input: &HeartbeatInput,
    config: &ConsumerGroupConfig,
) -> Result<(), GroupError> {
    let invalid = |m: &str| Err(GroupError::InvalidRequest(m.to_string()));
    if input.instance_id.as_deref() == Some("") {
        return invalid("InstanceId can't be empty.");
    }
    if input.rack_id.as_deref() == Some("") {
        return invalid("RackId can't be empty.");
    }
    match input.member_epoch {
        e if e > 0 || e == LEAVE_GROUP_MEMBER_EPOCH => {
            if input.member_id.is_empty() {
                return invalid("MemberId can't be empty.");
            }
        }
        0 => {
            if input.rebalance_timeout_ms == -1 {
                return invalid("RebalanceTimeoutMs must be provided in first request.");
            }
            if input
                .topic_partitions
                .as_ref()
                .is_none_or(|tp| !tp.is_empty())
            {
                return invalid("TopicPartitions must be empty when (re-)joining.");
            }
            let no_names = input
                .subscribed_topic_names
                .as_ref()
                .is_none_or(|n| n.is_empty());
            let no_regex = input
                .subscribed_topic_regex
                .as_ref()
                .is_none_or(|r| r.is_empty());
            if no_names && no_regex {
                return invalid(
                    "Either SubscribedTopicNames or SubscribedTopicRegex must be non-empty when (re-)joining.",
                );
            }
        }
        LEAVE_GROUP_STATIC_MEMBER_EPOCH => {
            if input.member_id.is_empty() {
                return invalid("MemberId can't be empty.");
            }
            if input.instance_id.is_none() {
                return invalid("InstanceId can't be null.");
            }
        }
        _ => return invalid("MemberEpoch is invalid."),
    }
    if input.rebalance_timeout_ms < -1 {
        return invalid("RebalanceTimeoutMs is invalid.");
    }
    if let Some(name) = &input.server_assignor
        && !config.assignors.iter().any(|a| a.name() == name)
    {
        let supported: Vec<&str> = config.assignors.iter().map(|a| a.name()).collect();
        return Err(GroupError::UnsupportedAssignor(format!(
            "ServerAssignor {name} is not supported. Supported assignors: {}.",
            supported.join(", ")
        )));
    }
    if let Some(regex) = input
        .subscribed_topic_regex
        .as_deref()
        .filter(|r| !r.is_empty())
        && let Err(e) = compile(regex)
    {
        return Err(GroupError::InvalidRequest(format!(
            "SubscribedTopicRegex `{regex}` is not a valid regular expression: {e}"
        )));
    }
    Ok(())
}

/// Kafka matches the whole topic name (RE2J `matches()`).
fn compile(regex: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!("^(?:{regex})$"))
}

fn owned_assignment(owned: &[(Uuid, Vec<i32>)]) -> Assignment {
    let mut a = Assignment::new();
    for (t, ps) in owned {
        a.entry(*t).or_default().extend(ps.iter().copied());
    }
    a.retain(|_, ps| !ps.is_empty());
    a
}

fn is_subset(a: &Assignment, of: &Assignment) -> bool {
    a.iter()
        .all(|(t, ps)| of.get(t).is_some_and(|o| ps.is_subset(o)))
}

fn intersects(a: &Assignment, b: &Assignment) -> bool {
    a.iter()
        .any(|(t, ps)| b.get(t).is_some_and(|o| !ps.is_disjoint(o)))
}

/// The member a join or heartbeat speaks for.
enum Slot {
    Existing(String),
    New(String),
    /// A static member replacing its departed (epoch -2) instance.
    Replace {
        old: String,
        new: String,
    },
}

impl ConsumerGroup {
    /// A new group, epoch 0, no members.
    pub fn new(
        group_id: impl Into<String>,
        config: ConsumerGroupConfig,
        ids: Box<dyn MemberIdGenerator>,
    ) -> ConsumerGroup {
        ConsumerGroup {
            group_id: group_id.into(),
            config,
            ids,
            group_epoch: 0,
            assignment_epoch: 0,
            members: IndexMap::new(),
            static_members: HashMap::new(),
            target: HashMap::new(),
            partition_owner: HashMap::new(),
            subscription_metadata: BTreeMap::new(),
            regex_matches: HashMap::new(),
            regex_version: None,
            last_timer_ms: None,
        }
    }

    pub fn group_id(&self) -> &str {
        &self.group_id
    }
    pub fn group_epoch(&self) -> i32 {
        self.group_epoch
    }
    pub fn assignment_epoch(&self) -> i32 {
        self.assignment_epoch
    }
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
    pub fn has_member(&self, member_id: &str) -> bool {
        self.members.contains_key(member_id)
    }
    /// Member ids in join order.
    pub fn member_ids(&self) -> Vec<String> {
        self.members.keys().cloned().collect()
    }
    /// The member's epoch, state and current assignment.
    pub fn member(&self, member_id: &str) -> Option<(i32, MemberState, &Assignment)> {
        self.members
            .get(member_id)
            .map(|m| (m.member_epoch, m.state, &m.assigned))
    }
    /// Partitions the member holds but must revoke.
    pub fn pending_revocation(&self, member_id: &str) -> Option<&Assignment> {
        self.members.get(member_id).map(|m| &m.pending_revocation)
    }
    pub fn target_assignment(&self, member_id: &str) -> Option<&Assignment> {
        self.target.get(member_id)
    }

    pub fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.group_epoch > self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self
            .members
            .values()
            .all(|m| self.is_reconciled(m, self.assignment_epoch))
        {
            ConsumerGroupState::Stable
        } else {
            ConsumerGroupState::Reconciling
        }
    }

    fn is_reconciled(&self, m: &Member, epoch: i32) -> bool {
        m.state == MemberState::Stable && m.member_epoch == epoch
    }

    /// The server assignor in use: the one most members asked for (ties go
    /// to the configured order), else the configured default.
    pub fn assignor(&self) -> ServerAssignor {
        let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(a) = m.server_assignor
                && let Some(i) = self.config.assignors.iter().position(|c| *c == a)
            {
                *counts.entry(i).or_default() += 1;
            }
        }
        counts
            .iter()
            .max_by_key(|&(&i, &n)| (n, std::cmp::Reverse(i)))
            .map(|(&i, _)| self.config.assignors[i])
            .or_else(|| self.config.assignors.first().copied())
            .unwrap_or(ServerAssignor::Uniform)
    }

    /// The earliest time `tick` has work to do.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.members
            .values()
            .flat_map(|m| std::iter::once(m.session_deadline_ms).chain(m.rebalance_deadline_ms))
            .filter(|&d| d != i64::MAX)
            .min()
    }

    // ---- ConsumerGroupHeartbeat ----

    /// Handles one ConsumerGroupHeartbeat (join, heartbeat or leave).
    pub fn heartbeat(
        &mut self,
        input: HeartbeatInput,
        topics: &TopicsImage,
        now_ms: i64,
    ) -> HeartbeatOutcome {
        let result = validate_request(&input, &self.config).and_then(|()| {
            if input.member_epoch < 0 {
                self.leave(&input, topics, now_ms)
            } else {
                self.join_or_heartbeat(input, topics, now_ms)
            }
        });
        let timer = self.finish();
        HeartbeatOutcome { result, timer }
    }

    fn join_or_heartbeat(
        &mut self,
        input: HeartbeatInput,
        topics: &TopicsImage,
        now_ms: i64,
    ) -> Result<HeartbeatResponse, GroupError> {
        let owned = input.topic_partitions.as_deref().map(owned_assignment);
        let joining = input.member_epoch == 0;

        // Find the member the request speaks for; nothing changes until every
        // check has passed.
        let slot = match &input.instance_id {
            Some(instance_id) => match self.static_members.get(instance_id).cloned() {
                None if joining => self.new_or_existing(&input)?,
                None => return Err(GroupError::UnknownMemberId),
                Some(old) if joining => {
                    if old == input.member_id {
                        Slot::Existing(old)
                    } else if self.members[&old].member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH {
                        return Err(GroupError::UnreleasedInstanceId);
                    } else {
                        let new = self.fresh_member_id(&input);
                        if self.members.contains_key(&new) {
                            return Err(GroupError::UnreleasedInstanceId);
                        }
                        Slot::Replace { old, new }
                    }
                }
                Some(old) => {
                    if old != input.member_id {
                        return Err(GroupError::FencedInstanceId);
                    }
                    Slot::Existing(old)
                }
            },
            None if joining => self.new_or_existing(&input)?,
            None => {
                if !self.members.contains_key(&input.member_id) {
                    return Err(GroupError::UnknownMemberId);
                }
                Slot::Existing(input.member_id.clone())
            }
        };
        if let Slot::Existing(id) = &slot {
            let m = &self.members[id];
            // KAFKA-19233: epoch 0 is a rejoin, always allowed.
            if !joining {
                self.check_member_epoch(m, input.member_epoch, owned.as_ref())?;
            }
        }
        if let Slot::New(_) = slot
            && self.members.len() >= self.config.max_size
        {
            return Err(GroupError::GroupMaxSizeReached);
        }

        // Create, replace or update the member.
        let mut bump = false;
        let member_id = match slot {
            Slot::Existing(id) => id,
            Slot::New(id) => {
                self.members.insert(id.clone(), Member::new(id.clone()));
                bump = true;
                id
            }
            Slot::Replace { old, new } => {
                self.replace_static_member(&old, &new);
                new
            }
        };
        let before = self.members[&member_id].assigned.clone();
        {
            let m = self.members.get_mut(&member_id).expect("member just found");
            if let Some(i) = &input.instance_id {
                m.instance_id = Some(i.clone());
            }
            if let Some(r) = &input.rack_id {
                m.rack_id = Some(r.clone());
            }
            if input.rebalance_timeout_ms != -1 {
                m.rebalance_timeout_ms = input.rebalance_timeout_ms;
            }
            if let Some(a) = &input.server_assignor {
                m.server_assignor = ServerAssignor::from_name(a);
            }
            if let Some(names) = &input.subscribed_topic_names {
                let mut names = names.clone();
                names.sort();
                names.dedup();
                bump |= names != m.subscribed_topic_names;
                m.subscribed_topic_names = names;
            }
            if let Some(regex) = &input.subscribed_topic_regex {
                let regex = Some(regex.clone()).filter(|r| !r.is_empty());
                bump |= regex != m.subscribed_topic_regex;
                m.subscribed_topic_regex = regex;
            }
            m.client_id = input.client_id.clone();
            m.client_host = input.client_host.clone();
            m.session_deadline_ms = now_ms + i64::from(self.config.session_timeout_ms);
        }
        if let Some(i) = &input.instance_id {
            self.static_members.insert(i.clone(), member_id.clone());
        }

        bump |= self.refresh_subscription_metadata(topics);
        if bump {
            self.bump_group_epoch();
        }
        if self.group_epoch > self.assignment_epoch {
            self.compute_target_assignment();
        }
        self.reconcile(&member_id, owned.as_ref(), now_ms);

        let m = &self.members[&member_id];
        let full = joining
            || (input.rebalance_timeout_ms != -1
                && (input.subscribed_topic_names.is_some()
                    || input.subscribed_topic_regex.is_some())
                && input.topic_partitions.is_some());
        Ok(HeartbeatResponse {
            member_id: member_id.clone(),
            member_epoch: m.member_epoch,
            heartbeat_interval_ms: self.config.heartbeat_interval_ms,
            assignment: (full || m.assigned != before).then(|| m.assigned.clone()),
        })
    }

    fn fresh_member_id(&mut self, input: &HeartbeatInput) -> String {
        if input.member_id.is_empty() {
            self.ids.generate(&input.client_id)
        } else {
            input.member_id.clone()
        }
    }

    fn new_or_existing(&mut self, input: &HeartbeatInput) -> Result<Slot, GroupError> {
        Ok(
            if !input.member_id.is_empty() && self.members.contains_key(&input.member_id) {
                if let Some(i) = &self.members[&input.member_id].instance_id
                    && input.instance_id.as_ref() != Some(i)
                {
                    // A static member's id used without (or with another)
                    // instance id.
                    return Err(GroupError::FencedInstanceId);
                }
                Slot::Existing(input.member_id.clone())
            } else {
                Slot::New(self.fresh_member_id(input))
            },
        )
    }

    /// A heartbeat's epoch must be the member's, or its previous one when the
    /// member owns no more than it is assigned (the answer that bumped the
    /// epoch may have been lost).
    fn check_member_epoch(
        &self,
        m: &Member,
        epoch: i32,
        owned: Option<&Assignment>,
    ) -> Result<(), GroupError> {
        if epoch == m.member_epoch {
            return Ok(());
        }
        if epoch < m.member_epoch
            && epoch == m.previous_member_epoch
            && owned.is_some_and(|o| is_subset(o, &m.assigned))
        {
            return Ok(());
        }
        tracing::debug!(
            group_id = %self.group_id, member_id = %m.member_id,
            received = epoch, expected = m.member_epoch, "fenced member epoch"
        );
        Err(GroupError::FencedMemberEpoch)
    }

    /// A static member comes back under a new member id: it takes over the
    /// departed instance's assignment and target, at epoch 0.
    fn replace_static_member(&mut self, old: &str, new: &str) {
        self.set_held(old, Assignment::new(), Assignment::new());
        let mut m = self
            .members
            .shift_remove(old)
            .expect("static member exists");
        let assigned = std::mem::take(&mut m.assigned);
        m.member_id = new.to_string();
        m.member_epoch = 0;
        m.previous_member_epoch = 0;
        m.state = MemberState::Stable;
        m.rebalance_deadline_ms = None;
        self.members.insert(new.to_string(), m);
        self.set_held(new, assigned, Assignment::new());
        if let Some(t) = self.target.remove(old) {
            self.target.insert(new.to_string(), t);
        }
        tracing::debug!(group_id = %self.group_id, old, new, "static member replaced");
    }

    /// Sets what a member holds, keeping `partition_owner` in step.
    fn set_held(&mut self, member_id: &str, assigned: Assignment, pending: Assignment) {
        let Some(m) = self.members.get_mut(member_id) else {
            return;
        };
        for tp in m.held() {
            if self
                .partition_owner
                .get(&tp)
                .is_some_and(|o| o == member_id)
            {
                self.partition_owner.remove(&tp);
            }
        }
        m.assigned = assigned;
        m.pending_revocation = pending;
        for tp in m.held() {
            let previous = self.partition_owner.insert(tp, member_id.to_string());
            debug_assert!(
                previous.as_deref().is_none_or(|p| p == member_id),
                "partition {tp:?} held by {previous:?} and {member_id}"
            );
        }
    }

    fn bump_group_epoch(&mut self) {
        self.group_epoch += 1;
        tracing::debug!(group_id = %self.group_id, group_epoch = self.group_epoch, "group epoch bumped");
    }

    /// The topic names a member subscribes to, by name or regex.
    fn member_topics(&self, m: &Member) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = m.subscribed_topic_names.iter().cloned().collect();
        if let Some(matches) = m
            .subscribed_topic_regex
            .as_ref()
            .and_then(|r| self.regex_matches.get(r))
        {
            names.extend(matches.iter().cloned());
        }
        names
    }

    /// Re-resolves regex subscriptions (when the image changed) and the
    /// metadata of the subscribed topics. True if the latter changed.
    fn refresh_subscription_metadata(&mut self, topics: &TopicsImage) -> bool {
        if self.regex_version != Some(topics.version) {
            self.regex_matches.clear();
            self.regex_version = Some(topics.version);
        }
        let regexes: BTreeSet<String> = self
            .members
            .values()
            .filter_map(|m| m.subscribed_topic_regex.clone())
            .collect();
        self.regex_matches.retain(|r, _| regexes.contains(r));
        for regex in regexes {
            if self.regex_matches.contains_key(&regex) {
                continue;
            }
            // Validated when the member sent it.
            let matches = match compile(&regex) {
                Ok(re) => topics
                    .topics
                    .keys()
                    .filter(|t| !is_internal(t) && re.is_match(t))
                    .cloned()
                    .collect(),
                Err(_) => BTreeSet::new(),
            };
            self.regex_matches.insert(regex, matches);
        }
        let subscribed: BTreeSet<String> = self
            .members
            .values()
            .flat_map(|m| self.member_topics(m))
            .collect();
        let metadata: BTreeMap<String, TopicInfo> = subscribed
            .into_iter()
            .filter_map(|t| topics.topics.get(&t).map(|i| (t, *i)))
            .collect();
        if metadata == self.subscription_metadata {
            return false;
        }
        self.subscription_metadata = metadata;
        true
    }

    /// The topic metadata changed outside a heartbeat (e.g. partitions were
    /// added): bumps the group epoch if a subscribed topic is affected, so
    /// the next heartbeats compute and hand out a new assignment. Returns the
    /// timer like every call.
    pub fn refresh_topics(&mut self, topics: &TopicsImage) -> Option<i64> {
        if self.refresh_subscription_metadata(topics) {
            self.bump_group_epoch();
        }
        self.finish()
    }

    fn compute_target_assignment(&mut self) {
        let by_name = &self.subscription_metadata;
        let empty = Assignment::new();
        let subs: Vec<MemberSubscription<'_>> = self
            .members
            .values()
            .map(|m| MemberSubscription {
                member_id: &m.member_id,
                instance_id: m.instance_id.as_deref(),
                topics: self
                    .member_topics(m)
                    .iter()
                    .filter_map(|t| by_name.get(t).map(|i| i.topic_id))
                    .collect(),
                current: self.target.get(&m.member_id).unwrap_or(&empty),
            })
            .collect();
        let partitions: BTreeMap<Uuid, i32> = by_name
            .values()
            .map(|i| (i.topic_id, i.partitions))
            .collect();
        let assignor = self.assignor();
        let result = assignor.assign(&subs, &partitions);
        let target: HashMap<String, Assignment> = subs
            .iter()
            .zip(result)
            .map(|(s, a)| (s.member_id.to_string(), a))
            .collect();
        self.target = target;
        self.assignment_epoch = self.group_epoch;
        tracing::debug!(
            group_id = %self.group_id, assignment_epoch = self.assignment_epoch,
            assignor = assignor.name(), "target assignment computed"
        );
    }

    /// Moves a member one step towards its target assignment.
    fn reconcile(&mut self, member_id: &str, owned: Option<&Assignment>, now_ms: i64) {
        let target_epoch = self.assignment_epoch;
        let m = &self.members[member_id];
        if self.is_reconciled(m, target_epoch) {
            return;
        }
        let owns_any = |revoke: &Assignment| owned.is_none_or(|o| intersects(o, revoke));
        let from_epoch = match m.state {
            MemberState::Stable | MemberState::UnreleasedPartitions => m.member_epoch,
            MemberState::UnrevokedPartitions => {
                if owns_any(&m.pending_revocation) {
                    return;
                }
                m.member_epoch + 1
            }
        };
        let empty = Assignment::new();
        let target = self.target.get(member_id).unwrap_or(&empty);
        let mut keep = Assignment::new();
        let mut revoke = Assignment::new();
        let mut to_assign = Assignment::new();
        let mut unreleased = false;
        let topics: BTreeSet<Uuid> = target.keys().chain(m.assigned.keys()).copied().collect();
        for t in topics {
            let want = target.get(&t).cloned().unwrap_or_default();
            let have = m.assigned.get(&t).cloned().unwrap_or_default();
            let kept: BTreeSet<i32> = have.intersection(&want).copied().collect();
            let gone: BTreeSet<i32> = have.difference(&kept).copied().collect();
            let mut new = BTreeSet::new();
            for &p in want.difference(&kept) {
                if self
                    .partition_owner
                    .get(&(t, p))
                    .is_some_and(|o| o != member_id)
                {
                    unreleased = true;
                } else {
                    new.insert(p);
                }
            }
            for (set, a) in [
                (kept, &mut keep),
                (gone, &mut revoke),
                (new, &mut to_assign),
            ] {
                if !set.is_empty() {
                    a.insert(t, set);
                }
            }
        }
        let old_state = m.state;
        let (state, epoch, assigned, pending) = if !revoke.is_empty() && owns_any(&revoke) {
            (MemberState::UnrevokedPartitions, from_epoch, keep, revoke)
        } else {
            for (t, ps) in to_assign {
                keep.entry(t).or_default().extend(ps);
            }
            let state = if unreleased {
                MemberState::UnreleasedPartitions
            } else {
                MemberState::Stable
            };
            (state, target_epoch, keep, Assignment::new())
        };
        let changed = state != old_state
            || epoch != m.member_epoch
            || assigned != m.assigned
            || pending != m.pending_revocation;
        if !changed {
            return;
        }
        self.set_held(member_id, assigned, pending);
        let m = self.members.get_mut(member_id).expect("member exists");
        if epoch != m.member_epoch {
            m.previous_member_epoch = m.member_epoch;
            m.member_epoch = epoch;
        }
        m.state = state;
        m.rebalance_deadline_ms = (state == MemberState::UnrevokedPartitions)
            .then(|| now_ms + i64::from(m.rebalance_timeout_ms));
        tracing::debug!(
            group_id = %self.group_id, member_id, member_epoch = m.member_epoch,
            state = m.state.name(), "member reconciled"
        );
    }

    // ---- leaving ----

    fn leave(
        &mut self,
        input: &HeartbeatInput,
        topics: &TopicsImage,
        now_ms: i64,
    ) -> Result<HeartbeatResponse, GroupError> {
        let member_id = match &input.instance_id {
            None => {
                if !self.members.contains_key(&input.member_id) {
                    return Err(GroupError::UnknownMemberId);
                }
                input.member_id.clone()
            }
            Some(instance_id) => {
                let registered = self
                    .static_members
                    .get(instance_id)
                    .cloned()
                    .ok_or(GroupError::UnknownMemberId)?;
                if registered != input.member_id {
                    return Err(GroupError::FencedInstanceId);
                }
                registered
            }
        };
        if input.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH {
            // The instance keeps its partitions for a session timeout, so it
            // can come back without a rebalance.
            let assigned = self.members[&member_id].assigned.clone();
            self.set_held(&member_id, assigned, Assignment::new());
            let m = self.members.get_mut(&member_id).expect("member exists");
            if m.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH {
                m.previous_member_epoch = m.member_epoch;
            }
            m.member_epoch = LEAVE_GROUP_STATIC_MEMBER_EPOCH;
            m.state = MemberState::Stable;
            m.rebalance_deadline_ms = None;
            m.session_deadline_ms = now_ms + i64::from(self.config.session_timeout_ms);
            tracing::debug!(group_id = %self.group_id, member_id, "static member left temporarily");
        } else {
            self.remove_member(&member_id);
            self.refresh_subscription_metadata(topics);
            tracing::debug!(group_id = %self.group_id, member_id, "member left");
        }
        Ok(HeartbeatResponse {
            member_id,
            member_epoch: input.member_epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        })
    }

    /// Removes a member (leave, expiry, fencing): its partitions are free
    /// at once and the group epoch moves so the others get a new target.
    fn remove_member(&mut self, member_id: &str) {
        self.set_held(member_id, Assignment::new(), Assignment::new());
        if let Some(m) = self.members.shift_remove(member_id) {
            if let Some(i) = &m.instance_id
                && self.static_members.get(i).is_some_and(|id| id == member_id)
            {
                self.static_members.remove(i);
            }
        }
        self.target.remove(member_id);
        // Subscribed topics can only shrink here: drop the ones nobody wants.
        let subscribed: BTreeSet<String> = self
            .members
            .values()
            .flat_map(|m| self.member_topics(m))
            .collect();
        self.subscription_metadata
            .retain(|t, _| subscribed.contains(t));
        self.bump_group_epoch();
    }

    // ---- timers ----

    /// Removes members whose session expired and fences members that did
    /// not revoke within their rebalance timeout.
    pub fn tick(&mut self, now_ms: i64) -> TickOutcome {
        let due: Vec<(String, RemovalReason)> = self
            .members
            .values()
            .filter_map(|m| {
                if m.session_deadline_ms <= now_ms {
                    Some((m.member_id.clone(), RemovalReason::SessionExpired))
                } else if m.state == MemberState::UnrevokedPartitions
                    && m.rebalance_deadline_ms.is_some_and(|d| d <= now_ms)
                {
                    Some((m.member_id.clone(), RemovalReason::RebalanceTimeout))
                } else {
                    None
                }
            })
            .collect();
        for (id, reason) in &due {
            tracing::debug!(group_id = %self.group_id, member_id = %id, ?reason, "member removed");
            self.remove_member(id);
        }
        TickOutcome {
            removed: due,
            timer: self.finish(),
        }
    }

    /// Ends every public mutation: checks invariants, then says when to tick
    /// next if that changed.
    fn finish(&mut self) -> Option<i64> {
        #[cfg(debug_assertions)]
        self.check_invariants();
        let next = self.next_deadline_ms();
        if next == self.last_timer_ms {
            return None;
        }
        self.last_timer_ms = next;
        next
    }

    #[cfg(debug_assertions)]
    fn check_invariants(&self) {
        let mut held: HashMap<(Uuid, i32), &str> = HashMap::new();
        for m in self.members.values() {
            for tp in m.held() {
                let other = held.insert(tp, &m.member_id);
                assert!(
                    other.is_none(),
                    "{tp:?} held by {other:?} and {}",
                    m.member_id
                );
            }
            assert!(
                m.pending_revocation.is_empty() || m.state == MemberState::UnrevokedPartitions,
                "only a revoking member has partitions pending revocation"
            );
        }
        assert_eq!(
            held.len(),
            self.partition_owner.len(),
            "partition_owner in step"
        );
        for (tp, owner) in &held {
            assert_eq!(
                self.partition_owner.get(tp).map(String::as_str),
                Some(*owner)
            );
        }
        for (i, id) in &self.static_members {
            assert_eq!(
                self.members.get(id).and_then(|m| m.instance_id.as_ref()),
                Some(i),
                "static ids point at their members"
            );
        }
        assert!(self.assignment_epoch <= self.group_epoch);
    }

    // ---- offsets, describe ----

    /// OffsetCommit (v9+: member id and epoch) and TxnOffsetCommit checks. A
    /// negative epoch on an empty group is a simple (admin or standalone)
    /// commit. The caller refuses OffsetCommit below v9 from a member of this
    /// group with UNSUPPORTED_VERSION, as Kafka does.
    pub fn validate_offset_commit(
        &self,
        member_id: &str,
        member_epoch: i32,
    ) -> Result<(), GroupError> {
        if member_epoch < 0 && self.members.is_empty() {
            return Ok(());
        }
        let m = self
            .members
            .get(member_id)
            .ok_or(GroupError::UnknownMemberId)?;
        if m.member_epoch != member_epoch {
            return Err(GroupError::StaleMemberEpoch);
        }
        Ok(())
    }

    /// OffsetFetch v9+: without a member id (admin clients) anything goes.
    pub fn validate_offset_fetch(
        &self,
        member_id: Option<&str>,
        member_epoch: i32,
    ) -> Result<(), GroupError> {
        let Some(member_id) = member_id else {
            return Ok(());
        };
        if member_epoch < 0 && member_id.is_empty() {
            return Ok(());
        }
        self.validate_offset_commit(member_id, member_epoch)
    }

    fn named(&self, a: &Assignment) -> Vec<TopicPartitions> {
        a.iter()
            .map(|(id, ps)| TopicPartitions {
                topic_id: *id,
                topic_name: self
                    .subscription_metadata
                    .iter()
                    .find(|(_, i)| i.topic_id == *id)
                    .map(|(n, _)| n.clone())
                    .unwrap_or_default(),
                partitions: ps.iter().copied().collect(),
            })
            .collect()
    }

    /// What ConsumerGroupDescribe shows (and DescribeGroups/ListGroups
    /// summarise, with protocol type "consumer" and the assignor's name as
    /// protocol).
    pub fn describe(&self) -> ConsumerGroupDescription {
        let empty = Assignment::new();
        ConsumerGroupDescription {
            group_id: self.group_id.clone(),
            state: self.state(),
            group_epoch: self.group_epoch,
            assignment_epoch: self.assignment_epoch,
            assignor_name: self.assignor().name().to_string(),
            members: self
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.member_id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    member_epoch: m.member_epoch,
                    state: m.state,
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed_topic_names: m.subscribed_topic_names.clone(),
                    subscribed_topic_regex: m.subscribed_topic_regex.clone(),
                    assignment: self.named(&m.assigned),
                    target_assignment: self.named(self.target.get(&m.member_id).unwrap_or(&empty)),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct SeqIds(u32);
    impl MemberIdGenerator for SeqIds {
        fn generate(&mut self, _client_id: &str) -> String {
            self.0 += 1;
            format!("gen-{}", self.0)
        }
    }

    const FOO: Uuid = Uuid::from_u128(1);
    const BAR: Uuid = Uuid::from_u128(2);
    const SESSION_MS: i64 = 45_000;
    const REBALANCE_MS: i32 = 30_000;

    fn image(version: u64, topics: &[(&str, Uuid, i32)]) -> TopicsImage {
        TopicsImage {
            version,
            topics: topics
                .iter()
                .map(|(n, id, p)| {
                    (
                        n.to_string(),
                        TopicInfo {
                            topic_id: *id,
                            partitions: *p,
                        },
                    )
                })
                .collect(),
        }
    }

    fn foo(partitions: i32) -> TopicsImage {
        image(partitions as u64, &[("foo", FOO, partitions)])
    }

    fn group() -> ConsumerGroup {
        ConsumerGroup::new("g", ConsumerGroupConfig::default(), Box::new(SeqIds(0)))
    }

    fn join_input(member_id: &str, topics: &[&str]) -> HeartbeatInput {
        HeartbeatInput {
            member_id: member_id.into(),
            member_epoch: 0,
            rebalance_timeout_ms: REBALANCE_MS,
            subscribed_topic_names: Some(topics.iter().map(|t| t.to_string()).collect()),
            topic_partitions: Some(Vec::new()),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            ..HeartbeatInput::default()
        }
    }

    fn owned(a: &Assignment) -> Vec<(Uuid, Vec<i32>)> {
        a.iter()
            .map(|(t, ps)| (*t, ps.iter().copied().collect()))
            .collect()
    }

    /// A steady-state heartbeat reporting what the member owns.
    fn hb_input(member_id: &str, epoch: i32, own: &Assignment) -> HeartbeatInput {
        HeartbeatInput {
            member_id: member_id.into(),
            member_epoch: epoch,
            rebalance_timeout_ms: -1,
            topic_partitions: Some(owned(own)),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            ..HeartbeatInput::default()
        }
    }

    fn ok(o: HeartbeatOutcome) -> HeartbeatResponse {
        o.result.expect("heartbeat succeeds")
    }

    fn count(a: &Assignment) -> usize {
        a.values().map(BTreeSet::len).sum()
    }

    fn parts(t: Uuid, ps: &[i32]) -> Assignment {
        Assignment::from([(t, ps.iter().copied().collect())])
    }

    /// A client as the tests model it: it drops revoked partitions and takes
    /// new ones as soon as an answer tells it.
    #[derive(Debug, Clone)]
    struct Client {
        id: String,
        epoch: i32,
        owned: Assignment,
    }

    impl Client {
        fn join(g: &mut ConsumerGroup, id: &str, topics: &TopicsImage, now: i64) -> Client {
            let r = ok(g.heartbeat(join_input(id, &["foo"]), topics, now));
            Client {
                id: r.member_id,
                epoch: r.member_epoch,
                owned: r.assignment.expect("a join gets its assignment"),
            }
        }
        fn hb(&mut self, g: &mut ConsumerGroup, topics: &TopicsImage, now: i64) {
            let r = ok(g.heartbeat(hb_input(&self.id, self.epoch, &self.owned), topics, now));
            self.epoch = r.member_epoch;
            if let Some(a) = r.assignment {
                self.owned = a;
            }
        }
    }

    /// Heartbeats every client until the group is Stable.
    fn converge(g: &mut ConsumerGroup, clients: &mut [Client], topics: &TopicsImage, now: i64) {
        for _ in 0..10 {
            for c in clients.iter_mut() {
                c.hb(g, topics, now);
            }
            if g.state() == ConsumerGroupState::Stable {
                return;
            }
        }
        panic!("no convergence: {:?}", g.describe());
    }

    /// `ids` join at t=0 and converge.
    fn stable(g: &mut ConsumerGroup, ids: &[&str], topics: &TopicsImage) -> Vec<Client> {
        let mut cs: Vec<Client> = ids
            .iter()
            .map(|id| Client::join(g, id, topics, 0))
            .collect();
        converge(g, &mut cs, topics, 0);
        cs
    }

    #[test]
    fn three_members_over_six_partitions_get_two_each() {
        let mut g = group();
        let t = foo(6);
        let cs = stable(&mut g, &["a", "b", "c"], &t);
        assert_eq!(g.group_epoch(), 3);
        for c in &cs {
            assert_eq!(count(&c.owned), 2, "{c:?}");
            assert_eq!(c.epoch, 3);
        }
        let all: BTreeSet<i32> = cs.iter().flat_map(|c| c.owned[&FOO].clone()).collect();
        assert_eq!(all, (0..6).collect());
        assert_eq!(g.describe().state, ConsumerGroupState::Stable);
    }

    #[test]
    fn first_member_gets_everything_at_once_with_a_server_member_id() {
        let mut g = group();
        let r = ok(g.heartbeat(join_input("", &["foo"]), &foo(3), 0));
        assert_eq!(r.member_id, "gen-1");
        assert_eq!(r.member_epoch, 1);
        assert_eq!(r.heartbeat_interval_ms, 5_000);
        assert_eq!(r.assignment, Some(parts(FOO, &[0, 1, 2])));
        // A client-chosen (v1) member id is kept.
        let r = ok(g.heartbeat(join_input("my-uuid", &["foo"]), &foo(3), 0));
        assert_eq!(r.member_id, "my-uuid");
    }

    #[test]
    fn a_leaving_members_partitions_go_to_the_others_without_revocation() {
        let mut g = group();
        let t = foo(6);
        let mut cs = stable(&mut g, &["a", "b", "c"], &t);
        let mut leave = hb_input("c", LEAVE_GROUP_MEMBER_EPOCH, &Assignment::new());
        leave.topic_partitions = None;
        let r = ok(g.heartbeat(leave, &t, 1));
        assert_eq!(r.member_epoch, -1);
        assert!(!g.has_member("c"));
        assert_eq!(g.group_epoch(), 4);
        // One heartbeat each: both grow straight to 3 at the new epoch.
        let before_a = cs[0].owned.clone();
        cs[0].hb(&mut g, &t, 2);
        assert_eq!(cs[0].epoch, 4);
        assert_eq!(count(&cs[0].owned), 3);
        assert!(is_subset(&before_a, &cs[0].owned), "a keeps what it had");
        cs[1].hb(&mut g, &t, 2);
        assert_eq!(count(&cs[1].owned), 3);
        assert_eq!(g.state(), ConsumerGroupState::Stable);
    }

    #[test]
    fn a_joining_member_waits_for_the_others_to_revoke() {
        let mut g = group();
        let t = foo(6);
        let mut a = Client::join(&mut g, "a", &t, 0);
        assert_eq!((a.epoch, count(&a.owned)), (1, 6));
        let mut b = Client::join(&mut g, "b", &t, 1);
        // b is at the new epoch but everything it should get is still a's.
        assert_eq!(b.epoch, 2);
        assert!(b.owned.is_empty());
        assert_eq!(g.member("b").unwrap().1, MemberState::UnreleasedPartitions);
        assert_eq!(g.state(), ConsumerGroupState::Reconciling);

        // a is told to revoke 3, and keeps its epoch until it has.
        let r = ok(g.heartbeat(hb_input("a", 1, &a.owned), &t, 2));
        assert_eq!(r.member_epoch, 1);
        let kept = r.assignment.clone().unwrap();
        assert_eq!(count(&kept), 3);
        assert_eq!(g.member("a").unwrap().1, MemberState::UnrevokedPartitions);
        assert_eq!(count(g.pending_revocation("a").unwrap()), 3);
        // A heartbeat that still reports the revoked partitions changes nothing.
        let r = ok(g.heartbeat(hb_input("a", 1, &a.owned), &t, 3));
        assert_eq!((r.member_epoch, r.assignment), (1, None));
        b.hb(&mut g, &t, 3);
        assert!(b.owned.is_empty(), "not released yet");

        // a acknowledges: epoch bumped, then b gets the released partitions.
        a.owned = kept;
        a.hb(&mut g, &t, 4);
        assert_eq!(a.epoch, 2);
        assert_eq!(g.member("a").unwrap().1, MemberState::Stable);
        b.hb(&mut g, &t, 5);
        assert_eq!(count(&b.owned), 3);
        assert!(!intersects(&a.owned, &b.owned));
        assert_eq!(g.state(), ConsumerGroupState::Stable);
    }

    #[test]
    fn session_expiry_removes_the_member_and_bumps_the_epoch() {
        let mut g = group();
        let t = foo(4);
        let first = g.heartbeat(join_input("a", &["foo"]), &t, 0);
        assert_eq!(first.timer, Some(SESSION_MS));
        // b waits for partitions a never heartbeats to release.
        let mut b = Client::join(&mut g, "b", &t, 1000);
        assert!(b.owned.is_empty());
        let epoch = g.group_epoch();
        let out = g.tick(SESSION_MS - 1);
        assert!(out.removed.is_empty());
        let out = g.tick(SESSION_MS);
        assert_eq!(
            out.removed,
            vec![("a".into(), RemovalReason::SessionExpired)]
        );
        assert_eq!(out.timer, Some(1000 + SESSION_MS));
        assert_eq!(g.group_epoch(), epoch + 1);
        b.hb(&mut g, &t, SESSION_MS + 1);
        assert_eq!(count(&b.owned), 4);
        // The expired member is unknown now and must rejoin.
        let r = g.heartbeat(hb_input("a", 1, &Assignment::new()), &t, SESSION_MS + 2);
        assert_eq!(r.result, Err(GroupError::UnknownMemberId));
    }

    #[test]
    fn epochs_other_than_the_current_or_previous_are_fenced() {
        let mut g = group();
        let t = foo(2);
        let mut a = Client::join(&mut g, "a", &t, 0);
        let _b = Client::join(&mut g, "b", &t, 0);
        a.hb(&mut g, &t, 1); // revoking: epoch stays 1
        a.hb(&mut g, &t, 1); // revoked: epoch 2
        assert_eq!(a.epoch, 2);
        let fenced = |g: &mut ConsumerGroup, epoch, own: &Assignment| {
            g.heartbeat(hb_input("a", epoch, own), &t, 2).result
        };
        assert_eq!(
            fenced(&mut g, 3, &a.owned),
            Err(GroupError::FencedMemberEpoch)
        );
        // The previous epoch is fine while the member owns a subset...
        assert!(fenced(&mut g, 1, &a.owned).is_ok());
        // ...but not with partitions it is not assigned, nor without owned.
        assert_eq!(
            fenced(&mut g, 1, &parts(FOO, &[0, 1])),
            Err(GroupError::FencedMemberEpoch)
        );
        let mut no_owned = hb_input("a", 1, &a.owned);
        no_owned.topic_partitions = None;
        assert_eq!(
            g.heartbeat(no_owned, &t, 2).result,
            Err(GroupError::FencedMemberEpoch)
        );
        // A fenced member rejoins with epoch 0 under the same id
        // (KAFKA-19233) and gets its assignment back.
        let r = ok(g.heartbeat(join_input("a", &["foo"]), &t, 3));
        assert_eq!(r.member_epoch, 2);
        assert_eq!(r.assignment, Some(a.owned.clone()));
        assert_eq!(
            g.heartbeat(hb_input("zz", 1, &Assignment::new()), &t, 3)
                .result,
            Err(GroupError::UnknownMemberId)
        );
    }

    #[test]
    fn a_member_that_does_not_revoke_in_time_is_fenced() {
        let mut g = group();
        let t = foo(4);
        let a = Client::join(&mut g, "a", &t, 0);
        let mut b = Client::join(&mut g, "b", &t, 100);
        let r = ok(g.heartbeat(hb_input("a", a.epoch, &a.owned), &t, 200));
        assert_eq!(g.member("a").unwrap().1, MemberState::UnrevokedPartitions);
        assert_eq!(r.member_epoch, 1);
        assert_eq!(g.next_deadline_ms(), Some(200 + i64::from(REBALANCE_MS)));
        // a keeps heartbeating (session alive) but never revokes.
        ok(g.heartbeat(hb_input("a", 1, &a.owned), &t, 20_000));
        b.hb(&mut g, &t, 20_000);
        let out = g.tick(200 + i64::from(REBALANCE_MS));
        assert_eq!(
            out.removed,
            vec![("a".into(), RemovalReason::RebalanceTimeout)]
        );
        assert_eq!(
            g.heartbeat(hb_input("a", 1, &a.owned), &t, 30_300).result,
            Err(GroupError::UnknownMemberId)
        );
        b.hb(&mut g, &t, 30_300);
        assert_eq!(count(&b.owned), 4);
    }

    fn static_join(member_id: &str, instance: &str) -> HeartbeatInput {
        HeartbeatInput {
            instance_id: Some(instance.into()),
            ..join_input(member_id, &["foo"])
        }
    }

    #[test]
    fn a_static_member_rejoining_keeps_its_assignment() {
        let mut g = group();
        let t = foo(4);
        let r = ok(g.heartbeat(static_join("s1", "i1"), &t, 0));
        let mut cs = vec![
            Client {
                id: r.member_id,
                epoch: r.member_epoch,
                owned: r.assignment.unwrap(),
            },
            Client::join(&mut g, "d", &t, 0),
        ];
        converge(&mut g, &mut cs, &t, 0);
        let epoch = g.group_epoch();
        let held = cs[0].owned.clone();
        assert_eq!(count(&held), 2);

        // The instance is still in use: another process cannot take it.
        assert_eq!(
            g.heartbeat(static_join("s2", "i1"), &t, 1).result,
            Err(GroupError::UnreleasedInstanceId)
        );
        // Temporary leave: no rebalance, partitions stay reserved.
        let mut leave = hb_input("s1", LEAVE_GROUP_STATIC_MEMBER_EPOCH, &Assignment::new());
        leave.instance_id = Some("i1".into());
        assert_eq!(ok(g.heartbeat(leave, &t, 2)).member_epoch, -2);
        assert_eq!(g.group_epoch(), epoch);
        cs[1].hb(&mut g, &t, 3);
        assert_eq!(count(&cs[1].owned), 2, "d does not get i1's partitions");

        // A wrong member id for the instance is fenced.
        let mut wrong = hb_input("other", 5, &Assignment::new());
        wrong.instance_id = Some("i1".into());
        assert_eq!(
            g.heartbeat(wrong, &t, 3).result,
            Err(GroupError::FencedInstanceId)
        );

        // Back under a new member id: same partitions, no new group epoch.
        let r = ok(g.heartbeat(static_join("s2", "i1"), &t, 4));
        assert_eq!(r.member_id, "s2");
        assert_eq!(r.member_epoch, epoch);
        assert_eq!(r.assignment, Some(held));
        assert_eq!(g.group_epoch(), epoch);
        assert!(!g.has_member("s1"));
        assert_eq!(g.state(), ConsumerGroupState::Stable);
    }

    #[test]
    fn a_departed_static_member_is_removed_after_its_session() {
        let mut g = group();
        let t = foo(2);
        ok(g.heartbeat(static_join("s1", "i1"), &t, 0));
        let mut leave = hb_input("s1", LEAVE_GROUP_STATIC_MEMBER_EPOCH, &Assignment::new());
        leave.instance_id = Some("i1".into());
        ok(g.heartbeat(leave, &t, 10));
        let out = g.tick(10 + SESSION_MS);
        assert_eq!(out.removed.len(), 1);
        assert!(g.is_empty());
        assert_eq!(g.state(), ConsumerGroupState::Empty);
        // The instance id is free again.
        assert!(
            g.heartbeat(static_join("s3", "i1"), &t, 10 + SESSION_MS)
                .result
                .is_ok()
        );
    }

    #[test]
    fn range_and_uniform_assignors() {
        let t = image(1, &[("foo", FOO, 3), ("bar", BAR, 3)]);
        let run = |assignor: Option<&str>| {
            let mut g = group();
            let mut cs = Vec::new();
            for id in ["a", "b"] {
                let mut input = join_input(id, &["foo", "bar"]);
                input.server_assignor = assignor.map(str::to_string);
                let r = ok(g.heartbeat(input, &t, 0));
                cs.push(Client {
                    id: r.member_id,
                    epoch: r.member_epoch,
                    owned: r.assignment.unwrap(),
                });
            }
            converge(&mut g, &mut cs, &t, 0);
            (g.describe().assignor_name, cs)
        };
        let (name, cs) = run(Some("range"));
        assert_eq!(name, "range");
        // Range: a gets partitions 0-1 of both topics, b partition 2.
        let want = Assignment::from([(FOO, BTreeSet::from([0, 1])), (BAR, BTreeSet::from([0, 1]))]);
        assert_eq!(cs[0].owned, want);
        let (name, cs) = run(None);
        assert_eq!(name, "uniform");
        assert_eq!(count(&cs[0].owned), 3);
        assert_eq!(count(&cs[1].owned), 3);

        let mut g = group();
        let mut input = join_input("a", &["foo"]);
        input.server_assignor = Some("sticky".into());
        assert!(matches!(
            g.heartbeat(input, &t, 0).result,
            Err(GroupError::UnsupportedAssignor(m)) if m.contains("uniform, range")
        ));
    }

    #[test]
    fn more_partitions_bump_the_epoch_and_get_assigned() {
        let mut g = group();
        let t = foo(2);
        let mut cs = vec![
            Client::join(&mut g, "a", &t, 0),
            Client::join(&mut g, "b", &t, 0),
        ];
        converge(&mut g, &mut cs, &t, 0);
        let epoch = g.group_epoch();
        let t = foo(4);
        cs[0].hb(&mut g, &t, 1);
        assert_eq!(g.group_epoch(), epoch + 1);
        converge(&mut g, &mut cs, &t, 1);
        assert_eq!(count(&cs[0].owned) + count(&cs[1].owned), 4);
        assert_eq!(count(&cs[0].owned), 2);
        // The same image again changes nothing; so does refresh_topics.
        g.refresh_topics(&t);
        assert_eq!(g.group_epoch(), epoch + 1);
        g.refresh_topics(&foo(5));
        assert_eq!(g.group_epoch(), epoch + 2);
        assert_eq!(g.state(), ConsumerGroupState::Assigning);
    }

    #[test]
    fn subscribing_by_regex() {
        let mut g = group();
        let t = image(
            1,
            &[
                ("orders-eu", FOO, 2),
                ("orders-us", BAR, 2),
                ("__consumer_offsets", Uuid::from_u128(9), 50),
            ],
        );
        let mut input = join_input("a", &[]);
        input.subscribed_topic_names = None;
        input.subscribed_topic_regex = Some("orders-.*|__.*".into());
        let r = ok(g.heartbeat(input, &t, 0));
        assert_eq!(
            count(&r.assignment.unwrap()),
            4,
            "internal topics never match"
        );
        // A new matching topic shows up with the next image.
        let mut t2 = t.clone();
        t2.version = 2;
        t2.topics.insert(
            "orders-ap".into(),
            TopicInfo {
                topic_id: Uuid::from_u128(3),
                partitions: 1,
            },
        );
        let r = ok(g.heartbeat(hb_input("a", 1, &Assignment::new()), &t2, 1));
        assert_eq!(r.member_epoch, 2);
        assert_eq!(count(&r.assignment.unwrap()), 5);

        let mut bad = join_input("b", &[]);
        bad.subscribed_topic_regex = Some("(".into());
        assert!(matches!(
            g.heartbeat(bad, &t2, 2).result,
            Err(GroupError::InvalidRequest(_))
        ));
    }

    #[test]
    fn invalid_requests() {
        let mut g = group();
        let t = foo(1);
        let cases: Vec<(HeartbeatInput, &str)> = vec![
            (
                HeartbeatInput {
                    rebalance_timeout_ms: -1,
                    ..join_input("a", &["foo"])
                },
                "RebalanceTimeoutMs",
            ),
            (
                HeartbeatInput {
                    topic_partitions: None,
                    ..join_input("a", &["foo"])
                },
                "TopicPartitions",
            ),
            (join_input("a", &[]), "SubscribedTopic"),
            (hb_input("", 3, &Assignment::new()), "MemberId"),
            (
                HeartbeatInput {
                    member_epoch: -3,
                    ..join_input("a", &["foo"])
                },
                "MemberEpoch",
            ),
            (
                HeartbeatInput {
                    member_epoch: -2,
                    ..join_input("a", &["foo"])
                },
                "InstanceId",
            ),
            (static_join("a", ""), "InstanceId"),
        ];
        for (input, what) in cases {
            match g.heartbeat(input.clone(), &t, 0).result {
                Err(GroupError::InvalidRequest(m)) => assert!(m.contains(what), "{m} / {what}"),
                other => panic!("{input:?}: {other:?}"),
            }
        }
        assert!(g.is_empty());
    }

    #[test]
    fn group_max_size() {
        let mut g = ConsumerGroup::new(
            "g",
            ConsumerGroupConfig {
                max_size: 1,
                ..ConsumerGroupConfig::default()
            },
            Box::new(SeqIds(0)),
        );
        let t = foo(1);
        ok(g.heartbeat(join_input("a", &["foo"]), &t, 0));
        assert_eq!(
            g.heartbeat(join_input("b", &["foo"]), &t, 0).result,
            Err(GroupError::GroupMaxSizeReached)
        );
        // The member already in can rejoin.
        assert!(g.heartbeat(join_input("a", &["foo"]), &t, 0).result.is_ok());
    }

    #[test]
    fn offset_commit_validation() {
        let mut g = group();
        let t = foo(1);
        assert_eq!(g.validate_offset_commit("", -1), Ok(()));
        let r = ok(g.heartbeat(join_input("a", &["foo"]), &t, 0));
        assert_eq!(g.validate_offset_commit("a", r.member_epoch), Ok(()));
        assert_eq!(
            g.validate_offset_commit("a", r.member_epoch + 1),
            Err(GroupError::StaleMemberEpoch)
        );
        assert_eq!(
            g.validate_offset_commit("", -1),
            Err(GroupError::UnknownMemberId)
        );
        assert_eq!(
            g.validate_offset_commit("x", 1),
            Err(GroupError::UnknownMemberId)
        );
        assert_eq!(g.validate_offset_fetch(None, -1), Ok(()));
        assert_eq!(
            g.validate_offset_fetch(Some("a"), 0),
            Err(GroupError::StaleMemberEpoch)
        );
    }

    #[test]
    fn describe_shows_assignment_and_target() {
        let mut g = group();
        let t = foo(2);
        let _a = Client::join(&mut g, "a", &t, 0);
        let _b = Client::join(&mut g, "b", &t, 0);
        let d = g.describe();
        assert_eq!((d.group_epoch, d.assignment_epoch), (2, 2));
        assert_eq!(d.state, ConsumerGroupState::Reconciling);
        assert_eq!(d.state.name(), "Reconciling");
        let a = &d.members[0];
        assert_eq!(a.assignment[0].topic_name, "foo");
        assert_eq!(a.assignment[0].partitions, vec![0, 1]);
        assert_eq!(a.target_assignment[0].partitions.len(), 1);
        assert_eq!(d.members[1].state, MemberState::UnreleasedPartitions);
        assert_eq!(a.subscribed_topic_names, vec!["foo".to_string()]);
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Join(usize),
            Heartbeat(usize),
            Leave(usize),
            StaticLeave(usize),
            /// Advance the clock and tick.
            Wait(i64),
            AddPartitions(i32),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                2 => (0..5usize).prop_map(Op::Join),
                6 => (0..5usize).prop_map(Op::Heartbeat),
                1 => (0..5usize).prop_map(Op::Leave),
                1 => (0..5usize).prop_map(Op::StaticLeave),
                1 => (1_000..50_000i64).prop_map(Op::Wait),
                1 => (1..3i32).prop_map(Op::AddPartitions),
            ]
        }

        fn check_disjoint(clients: &[Option<Client>]) {
            let mut seen = BTreeMap::new();
            for c in clients.iter().flatten() {
                for (t, ps) in &c.owned {
                    for p in ps {
                        if let Some(other) = seen.insert((*t, *p), c.id.clone()) {
                            panic!("{t}-{p} owned by {other} and {}", c.id);
                        }
                    }
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]
            #[test]
            fn no_partition_is_ever_owned_by_two_members(
                ops in proptest::collection::vec(op(), 1..80),
                range in any::<bool>(),
            ) {
                let mut g = group();
                let mut partitions = 3;
                let mut version = 1;
                let mut now = 0i64;
                // Members 0 and 1 are static.
                let mut clients: Vec<Option<Client>> = vec![None; 5];
                for op in ops {
                    let t = image(version, &[("foo", FOO, partitions), ("bar", BAR, 2)]);
                    match op {
                        Op::Join(i) => {
                            if clients[i].is_some() {
                                continue;
                            }
                            let mut input = join_input(&format!("m{i}-{now}"), &["foo", "bar"]);
                            if i < 2 {
                                input.instance_id = Some(format!("i{i}"));
                            }
                            if range {
                                input.server_assignor = Some("range".into());
                            }
                            match g.heartbeat(input, &t, now).result {
                                Ok(r) => clients[i] = Some(Client {
                                    id: r.member_id,
                                    epoch: r.member_epoch,
                                    owned: r.assignment.unwrap(),
                                }),
                                Err(e) => prop_assert_eq!(e, GroupError::UnreleasedInstanceId),
                            }
                        }
                        Op::Heartbeat(i) => {
                            let Some(c) = clients[i].as_mut() else { continue };
                            let mut input = hb_input(&c.id, c.epoch, &c.owned);
                            if i < 2 {
                                input.instance_id = Some(format!("i{i}"));
                            }
                            match g.heartbeat(input, &t, now).result {
                                Ok(r) => {
                                    c.epoch = r.member_epoch;
                                    if let Some(a) = r.assignment {
                                        c.owned = a;
                                    }
                                }
                                // Fenced or removed: the client drops
                                // everything and will rejoin.
                                Err(_) => clients[i] = None,
                            }
                        }
                        Op::Leave(i) | Op::StaticLeave(i) => {
                            let Some(c) = clients[i].take() else { continue };
                            let mut input = hb_input(&c.id, LEAVE_GROUP_MEMBER_EPOCH, &Assignment::new());
                            if i < 2 {
                                input.instance_id = Some(format!("i{i}"));
                                if matches!(op, Op::StaticLeave(_)) {
                                    input.member_epoch = LEAVE_GROUP_STATIC_MEMBER_EPOCH;
                                }
                            }
                            let _ = g.heartbeat(input, &t, now);
                        }
                        Op::Wait(ms) => {
                            now += ms;
                            let out = g.tick(now);
                            // A removed member's client has lost its session
                            // (it stops fetching when it cannot heartbeat).
                            for (id, _) in out.removed {
                                for slot in clients.iter_mut() {
                                    if slot.as_ref().is_some_and(|c| c.id == id) {
                                        *slot = None;
                                    }
                                }
                            }
                        }
                        Op::AddPartitions(n) => {
                            partitions += n;
                            version += 1;
                        }
                    }
                    check_disjoint(&clients);
                }
                // With no more changes, the live members converge and cover
                // every partition.
                let t = image(version, &[("foo", FOO, partitions), ("bar", BAR, 2)]);
                let mut live: Vec<Client> = clients.into_iter().flatten().collect();
                if !live.is_empty() && live.iter().all(|c| g.has_member(&c.id))
                    && g.describe().members.len() == live.len()
                {
                    for c in live.iter_mut() {
                        c.hb(&mut g, &t, now);
                    }
                    converge(&mut g, &mut live, &t, now);
                    let total: usize = live.iter().map(|c| count(&c.owned)).sum();
                    prop_assert_eq!(total, partitions as usize + 2);
                }
            }
        }
    }
}
