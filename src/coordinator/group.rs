//! One consumer group under the classic rebalance protocol (JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup), as a sans-IO state machine.
//!
//! States: Empty → PreparingRebalance → CompletingRebalance → Stable, and
//! Dead once deleted. A rebalance collects JoinGroups until every known
//! member has rejoined or the rebalance timeout (the largest member
//! `rebalance_timeout_ms`) passes; then the generation increments, a protocol
//! every member supports is chosen by vote, and all pending joins are
//! answered (the leader, the first member to join, gets the member list). The
//! leader's SyncGroup carries the assignments; followers' syncs wait for it.
//! The group's metadata is then written as a [`GroupRecord`] and replayed.
//!
//! Hard state is what a [`GroupRecord::Metadata`] carries: it changes only
//! in `replay`, when the leader's assignments are persisted, a static member
//! is replaced, or the group becomes Empty. The join phase (the generation
//! bump, the chosen protocol, who is waiting) is in memory until then, as in
//! Kafka: a coordinator that fails over mid-rebalance reloads the previous
//! generation and the members rejoin.
//!
//! Invariants: the leader, when set, is a member; a member has at most one
//! parked JoinGroup and one parked SyncGroup, and every parked request is
//! answered exactly once (by completion, an error, fencing or removal).
//!
//! Who calls it: the group coordinator's driver, holding the group behind its
//! own lock, with requests tagged by a [`RequestId`] so deferred answers can
//! be routed back. After every call the driver appends emitted records, sends
//! the responses that follow them once the append commits, and calls
//! [`ClassicGroup::tick`] at the last [`Output::Timer`] deadline.
//!
//! Time: every input carries a [`Now`]. Deadlines (sessions, the rebalance
//! and sync timeouts, KIP-394 pending members) and [`Output::Timer`] are on
//! its monotonic clock, so a wall-clock step neither fires nor holds them
//! back; the state timestamp that offset expiry counts from, which is
//! stored, is wall-clock time.
//!
//! Kafka counterpart: `GroupCoordinator`/`GroupMetadata` (classic), KIP-345,
//! KIP-394, KIP-814 (skip assignment for a rejoining static leader).

use bytes::Bytes;
use indexmap::IndexMap;

use super::record::{GroupMetadataValue, GroupRecord, MemberMetadataValue};
use super::{GroupConfig, GroupError};
use crate::common::clock::Now;

/// The driver's handle for one request, echoed in its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

/// Makes member ids from a prefix (the group instance id of a static
/// member, else the client id). Injected so tests are deterministic.
pub trait MemberIdGenerator: Send {
    fn generate(&mut self, prefix: &str) -> String;
}

/// Kafka's shape: `<prefix>-<uuid>`.
#[derive(Debug, Default)]
pub struct UuidMemberIds;

impl MemberIdGenerator for UuidMemberIds {
    fn generate(&mut self, prefix: &str) -> String {
        format!("{prefix}-{}", uuid::Uuid::new_v4())
    }
}

/// A JoinGroup for this group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinInput {
    /// Empty for a member without an id yet.
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    /// `(name, metadata)`, in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a new dynamic member must first fetch an id (KIP-394).
    pub require_known_member_id: bool,
    /// JoinGroup v9+ (KIP-814): the client honours `skip_assignment`.
    pub supports_skip_assignment: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

/// A JoinGroup answer. Kafka's response carries the member id even with an
/// error (MEMBER_ID_REQUIRED), so the error is a field, not a `Result`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResponse {
    pub error: Option<GroupError>,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Filled for the leader only.
    pub members: Vec<JoinMember>,
    /// KIP-814: a static leader that rejoined without a rebalance must not
    /// compute a new assignment.
    pub skip_assignment: bool,
}

impl JoinResponse {
    fn error(member_id: &str, error: GroupError) -> JoinResponse {
        JoinResponse {
            error: Some(error),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncInput {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub generation_id: i32,
    /// SyncGroup v5+; checked when present.
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// Non-empty only from the leader.
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResponse {
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

/// One member named in a LeaveGroup (v3+ batches several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// One member's LeaveGroup outcome.
pub type LeaveResult = (LeaveMember, Result<(), GroupError>);

/// What the driver must do after a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Append to `__consumer_offsets`; already replayed here. Responses that
    /// follow it go out once the append commits.
    Record(GroupRecord),
    Join {
        request: RequestId,
        response: JoinResponse,
    },
    Sync {
        request: RequestId,
        result: Result<SyncResponse, GroupError>,
    },
    Heartbeat {
        request: RequestId,
        result: Result<(), GroupError>,
    },
    Leave {
        request: RequestId,
        result: Result<Vec<LeaveResult>, GroupError>,
    },
    /// Call `tick` at (or after) this monotonic time; replaces any earlier
    /// timer.
    Timer { deadline_ms: i64 },
}

#[derive(Debug, Clone)]
struct Member {
    member_id: String,
    group_instance_id: Option<String>,
    client_id: String,
    client_host: String,
    rebalance_timeout_ms: i32,
    session_timeout_ms: i32,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    pending_join: Option<RequestId>,
    pending_sync: Option<RequestId>,
    /// Session expiry; not enforced while a join or sync is parked.
    heartbeat_deadline_ms: i64,
    /// Joined this generation but has not sent its SyncGroup yet.
    awaiting_sync: bool,
}

impl Member {
    fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
}

/// The initial rebalance delay of a group that was Empty (Kafka's
/// `InitialDelayedJoin`): wait `group.initial.rebalance.delay.ms`, and again
/// while new members keep arriving, up to the rebalance timeout.
#[derive(Debug, Clone, Copy)]
struct InitialDelay {
    remaining_ms: i64,
}

pub struct ClassicGroup {
    group_id: String,
    config: GroupConfig,
    ids: Box<dyn MemberIdGenerator>,
    state: GroupState,
    current_state_timestamp_ms: Option<i64>,
    generation_id: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<String>,
    /// In join order: the first is the leader when one is needed.
    members: IndexMap<String, Member>,
    /// group.instance.id → member id.
    static_members: IndexMap<String, String>,
    /// KIP-394: ids handed out with MEMBER_ID_REQUIRED → expiry time.
    pending_members: IndexMap<String, i64>,
    rebalance_deadline_ms: Option<i64>,
    /// Members that joined must sync within the rebalance timeout, or they
    /// are removed (a member that heartbeats but never syncs would otherwise
    /// hold its partitions unassigned forever).
    sync_deadline_ms: Option<i64>,
    initial_delay: Option<InitialDelay>,
    new_member_added: bool,
    last_timer_ms: Option<i64>,
}

impl std::fmt::Debug for ClassicGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClassicGroup")
            .field("group_id", &self.group_id)
            .field("state", &self.state)
            .field("generation_id", &self.generation_id)
            .field("leader", &self.leader)
            .field("members", &self.members.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ClassicGroup {
    /// A new, Empty group (generation 0).
    pub fn new(
        group_id: impl Into<String>,
        config: GroupConfig,
        ids: Box<dyn MemberIdGenerator>,
    ) -> ClassicGroup {
        ClassicGroup {
            group_id: group_id.into(),
            config,
            ids,
            state: GroupState::Empty,
            current_state_timestamp_ms: None,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: IndexMap::new(),
            static_members: IndexMap::new(),
            pending_members: IndexMap::new(),
            rebalance_deadline_ms: None,
            sync_deadline_ms: None,
            initial_delay: None,
            new_member_added: false,
            last_timer_ms: None,
        }
    }

    pub fn group_id(&self) -> &str {
        &self.group_id
    }
    pub fn state(&self) -> GroupState {
        self.state
    }
    pub fn generation_id(&self) -> i32 {
        self.generation_id
    }
    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }
    pub fn protocol_name(&self) -> Option<&str> {
        self.protocol_name.as_deref()
    }
    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }
    pub fn current_state_timestamp_ms(&self) -> Option<i64> {
        self.current_state_timestamp_ms
    }
    /// Member ids in join order.
    pub fn member_ids(&self) -> Vec<String> {
        self.members.keys().cloned().collect()
    }
    pub fn has_member(&self, member_id: &str) -> bool {
        self.members.contains_key(member_id)
    }
    pub fn assignment(&self, member_id: &str) -> Option<&Bytes> {
        self.members.get(member_id).map(|m| &m.assignment)
    }
    /// Every member as a metadata record carries it: ids, client, timeouts,
    /// its metadata for the chosen protocol, and its assignment.
    pub fn members(&self) -> Vec<MemberMetadataValue> {
        self.metadata_value().members
    }

    /// The earliest time `tick` has work to do (monotonic).
    pub fn next_deadline_ms(&self) -> Option<i64> {
        let sessions = self
            .members
            .values()
            .filter(|m| m.pending_join.is_none() && m.pending_sync.is_none())
            .map(|m| m.heartbeat_deadline_ms);
        let pending = self.pending_members.values().copied();
        sessions
            .chain(pending)
            .chain(self.rebalance_deadline_ms)
            .chain(self.sync_deadline_ms)
            .min()
    }

    /// Arms session timers after the group was loaded by `replay`.
    pub fn on_loaded(&mut self, now: Now) -> Vec<Output> {
        for m in self.members.values_mut() {
            m.heartbeat_deadline_ms = now.monotonic_ms + i64::from(m.session_timeout_ms);
        }
        let mut out = Vec::new();
        self.push_timer(&mut out);
        out
    }

    // ---- JoinGroup ----

    pub fn join(&mut self, request: RequestId, input: JoinInput, now: Now) -> Vec<Output> {
        let mut out = Vec::new();
        if let Err(e) = self.join_inner(request, input.clone(), now, &mut out) {
            out.push(Output::Join {
                request,
                response: JoinResponse::error(&input.member_id, e),
            });
        }
        self.push_timer(&mut out);
        out
    }

    fn join_inner(
        &mut self,
        request: RequestId,
        input: JoinInput,
        now: Now,
        out: &mut Vec<Output>,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if input.session_timeout_ms < self.config.min_session_timeout_ms
            || input.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return Err(GroupError::InvalidSessionTimeout(input.session_timeout_ms));
        }
        self.check_protocols(&input)?;
        if input.member_id.is_empty() {
            self.join_unknown_member(request, input, now, out)
        } else {
            self.join_known_member(request, input, now, out)
        }
    }

    /// A member can join only with the group's protocol type and with at
    /// least one protocol every current member also supports.
    fn check_protocols(&self, input: &JoinInput) -> Result<(), GroupError> {
        if input.protocol_type.is_empty() || input.protocols.is_empty() {
            return Err(GroupError::InconsistentGroupProtocol(
                "empty protocol type or protocol list".into(),
            ));
        }
        if self.members.is_empty() {
            return Ok(());
        }
        if self.protocol_type.as_deref() != Some(input.protocol_type.as_str()) {
            return Err(GroupError::InconsistentGroupProtocol(format!(
                "protocol type {} does not match the group's",
                input.protocol_type
            )));
        }
        let candidates = self.candidate_protocols(Some(&input.member_id));
        let supported = candidates.is_empty()
            || input
                .protocols
                .iter()
                .any(|(name, _)| candidates.contains(name));
        if !supported {
            return Err(GroupError::InconsistentGroupProtocol(
                "no protocol in common with the group's members".into(),
            ));
        }
        Ok(())
    }

    /// Protocols every member (except `skip`) supports, in the first
    /// member's order of preference.
    fn candidate_protocols(&self, skip: Option<&str>) -> Vec<String> {
        let mut members = self
            .members
            .values()
            .filter(|m| Some(m.member_id.as_str()) != skip);
        let Some(first) = members.next() else {
            return Vec::new();
        };
        let mut candidates: Vec<String> = first.protocols.iter().map(|(n, _)| n.clone()).collect();
        for m in members {
            candidates.retain(|c| m.protocols.iter().any(|(n, _)| n == c));
        }
        candidates
    }

    fn join_unknown_member(
        &mut self,
        request: RequestId,
        input: JoinInput,
        now: Now,
        out: &mut Vec<Output>,
    ) -> Result<(), GroupError> {
        // Kafka's `generateMemberId`: `<group.instance.id>-<uuid>` for a
        // static member, `<client.id>-<uuid>` otherwise.
        let prefix = input
            .group_instance_id
            .as_deref()
            .unwrap_or(&input.client_id);
        let new_member_id = self.ids.generate(prefix);
        if let Some(instance_id) = input.group_instance_id.clone() {
            if let Some(old_member_id) = self.static_members.get(&instance_id).cloned() {
                return self.replace_static_member(
                    request,
                    input,
                    &old_member_id,
                    new_member_id,
                    now,
                    out,
                );
            }
            self.check_not_full()?;
            self.add_member_and_rebalance(request, input, new_member_id, now, out);
            return Ok(());
        }
        if input.require_known_member_id {
            // KIP-394: hand out an id and expect the member to come back with
            // it; until then it holds up the rebalance for one session.
            self.check_not_full()?;
            self.pending_members.insert(
                new_member_id.clone(),
                now.monotonic_ms + i64::from(input.session_timeout_ms),
            );
            out.push(Output::Join {
                request,
                response: JoinResponse::error(&new_member_id, GroupError::MemberIdRequired),
            });
            return Ok(());
        }
        self.check_not_full()?;
        self.add_member_and_rebalance(request, input, new_member_id, now, out);
        Ok(())
    }

    fn check_not_full(&self) -> Result<(), GroupError> {
        if self.members.len() + self.pending_members.len() >= self.config.max_size {
            return Err(GroupError::GroupMaxSizeReached);
        }
        Ok(())
    }

    fn join_known_member(
        &mut self,
        request: RequestId,
        input: JoinInput,
        now: Now,
        out: &mut Vec<Output>,
    ) -> Result<(), GroupError> {
        if self
            .pending_members
            .shift_remove(&input.member_id)
            .is_some()
        {
            let member_id = input.member_id.clone();
            self.add_member_and_rebalance(request, input, member_id, now, out);
            return Ok(());
        }
        self.check_static_fencing(&input.member_id, input.group_instance_id.as_deref())?;
        let Some(member) = self.members.get(&input.member_id) else {
            return Err(GroupError::UnknownMemberId);
        };
        let unchanged = member.protocols == input.protocols;
        let is_leader = self.leader.as_deref() == Some(input.member_id.as_str());
        match self.state {
            GroupState::PreparingRebalance => {
                self.update_member_and_rebalance(request, input, now, out);
            }
            // The member lost the join response: resend it if nothing changed.
            GroupState::CompletingRebalance if unchanged => {
                let response = self.join_response(&input.member_id, false);
                out.push(Output::Join { request, response });
            }
            GroupState::Stable if unchanged && !is_leader => {
                let response = self.join_response(&input.member_id, false);
                self.touch(&input.member_id, now);
                out.push(Output::Join { request, response });
            }
            // The leader rejoining, or new protocols, mean a new assignment.
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(request, input, now, out);
            }
            GroupState::Empty | GroupState::Dead => return Err(GroupError::UnknownMemberId),
        }
        Ok(())
    }

    /// KIP-345: a known instance id must come with the member id it is
    /// registered under.
    fn check_static_fencing(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        if let Some(instance_id) = group_instance_id
            && let Some(registered) = self.static_members.get(instance_id)
            && registered != member_id
        {
            return Err(GroupError::FencedInstanceId);
        }
        Ok(())
    }

    fn add_member_and_rebalance(
        &mut self,
        request: RequestId,
        input: JoinInput,
        member_id: String,
        now: Now,
        out: &mut Vec<Output>,
    ) {
        if self.members.is_empty() {
            self.protocol_type = Some(input.protocol_type.clone());
        }
        if let Some(instance_id) = &input.group_instance_id {
            self.static_members
                .insert(instance_id.clone(), member_id.clone());
        }
        self.members.insert(
            member_id.clone(),
            Member {
                member_id: member_id.clone(),
                group_instance_id: input.group_instance_id,
                client_id: input.client_id,
                client_host: input.client_host,
                rebalance_timeout_ms: input.rebalance_timeout_ms,
                session_timeout_ms: input.session_timeout_ms,
                protocols: input.protocols,
                assignment: Bytes::new(),
                pending_join: Some(request),
                pending_sync: None,
                heartbeat_deadline_ms: now.monotonic_ms + i64::from(input.session_timeout_ms),
                awaiting_sync: false,
            },
        );
        if self.leader.is_none() {
            self.leader = Some(member_id);
        }
        if self.state == GroupState::PreparingRebalance && self.generation_id == 0 {
            self.new_member_added = true;
        }
        self.maybe_prepare_rebalance(now, out);
    }

    fn update_member_and_rebalance(
        &mut self,
        request: RequestId,
        input: JoinInput,
        now: Now,
        out: &mut Vec<Output>,
    ) {
        let member = self
            .members
            .get_mut(&input.member_id)
            .expect("caller checked membership");
        member.protocols = input.protocols;
        member.rebalance_timeout_ms = input.rebalance_timeout_ms;
        member.session_timeout_ms = input.session_timeout_ms;
        member.client_id = input.client_id;
        member.client_host = input.client_host;
        if let Some(old) = member.pending_join.replace(request) {
            // A retried join supersedes the parked one.
            out.push(Output::Join {
                request: old,
                response: JoinResponse::error(&input.member_id, GroupError::RebalanceInProgress),
            });
        }
        member.heartbeat_deadline_ms = now.monotonic_ms + i64::from(member.session_timeout_ms);
        self.maybe_prepare_rebalance(now, out);
    }

    /// KIP-345: a static member rejoined with a new member id. The old id is
    /// fenced; in a Stable group with unchanged protocols the member takes
    /// over the old assignment without a rebalance.
    fn replace_static_member(
        &mut self,
        request: RequestId,
        input: JoinInput,
        old_member_id: &str,
        new_member_id: String,
        now: Now,
        out: &mut Vec<Output>,
    ) -> Result<(), GroupError> {
        let mut member = self
            .members
            .shift_remove(old_member_id)
            .expect("static_members points at members");
        if let Some(old) = member.pending_join.take() {
            out.push(Output::Join {
                request: old,
                response: JoinResponse::error(old_member_id, GroupError::FencedInstanceId),
            });
        }
        if let Some(old) = member.pending_sync.take() {
            out.push(Output::Sync {
                request: old,
                result: Err(GroupError::FencedInstanceId),
            });
        }
        // Kafka stores the rejoining member's protocols and rebalances only
        // when they change the protocol the group would select: a restarted
        // client's metadata bytes differ (no owned partitions, generation -1).
        member.protocols = input.protocols.clone();
        member.member_id = new_member_id.clone();
        member.heartbeat_deadline_ms = now.monotonic_ms + i64::from(input.session_timeout_ms);
        member.client_id = input.client_id.clone();
        member.client_host = input.client_host.clone();
        member.session_timeout_ms = input.session_timeout_ms;
        member.rebalance_timeout_ms = input.rebalance_timeout_ms;
        self.members.insert(new_member_id.clone(), member);
        let instance_id = input.group_instance_id.clone().expect("static member");
        self.static_members
            .insert(instance_id, new_member_id.clone());
        let unchanged = self.select_protocol() == self.protocol_name;
        let was_leader = self.leader.as_deref() == Some(old_member_id);
        let supports_skip = input.supports_skip_assignment;
        if was_leader {
            self.leader = Some(new_member_id.clone());
        }
        match self.state {
            GroupState::Stable if unchanged => {
                let record = GroupRecord::Metadata(self.metadata_value());
                self.replay(&record);
                out.push(Output::Record(record));
                let mut response = self.join_response(&new_member_id, was_leader);
                if was_leader && !supports_skip {
                    // Before KIP-814 a rejoining static leader is told the
                    // old leader id, so it acts as a follower and does not
                    // compute an assignment the group does not need.
                    response.leader = old_member_id.to_string();
                    response.members.clear();
                    response.skip_assignment = false;
                }
                out.push(Output::Join { request, response });
            }
            _ => {
                let mut input = input;
                input.member_id = new_member_id;
                self.update_member_and_rebalance(request, input, now, out);
            }
        }
        Ok(())
    }

    fn join_response(&self, member_id: &str, skip_assignment: bool) -> JoinResponse {
        let leader = self.leader.clone().unwrap_or_default();
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = if leader == member_id {
            self.members
                .values()
                .map(|m| JoinMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    metadata: m.metadata(&protocol),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinResponse {
            error: None,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader,
            member_id: member_id.to_string(),
            members,
            skip_assignment,
        }
    }

    // ---- rebalance ----

    fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    fn maybe_prepare_rebalance(&mut self, now: Now, out: &mut Vec<Output>) {
        match self.state {
            GroupState::Empty | GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now, out)
            }
            GroupState::PreparingRebalance => self.try_complete_join(now, out),
            GroupState::Dead => {}
        }
    }

    fn prepare_rebalance(&mut self, now: Now, out: &mut Vec<Output>) {
        if self.state == GroupState::CompletingRebalance {
            // The assignment being synced is void: tell the waiting members.
            for m in self.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(request) = m.pending_sync.take() {
                    out.push(Output::Sync {
                        request,
                        result: Err(GroupError::RebalanceInProgress),
                    });
                }
            }
        }
        self.sync_deadline_ms = None;
        for m in self.members.values_mut() {
            m.awaiting_sync = false;
        }
        let timeout = self.rebalance_timeout_ms();
        if self.state == GroupState::Empty {
            let delay = i64::from(self.config.initial_rebalance_delay_ms);
            self.initial_delay = Some(InitialDelay {
                remaining_ms: (timeout - delay).max(0),
            });
            self.rebalance_deadline_ms = Some(now.monotonic_ms + delay);
        } else {
            self.initial_delay = None;
            self.rebalance_deadline_ms = Some(now.monotonic_ms + timeout);
        }
        self.transition(GroupState::PreparingRebalance, now);
        if self.initial_delay.is_some() && self.config.initial_rebalance_delay_ms == 0 {
            // A zero initial delay: Kafka's delayed join fires at once and
            // completes with the members that joined so far, without
            // waiting for one still pending after MEMBER_ID_REQUIRED.
            self.complete_join(now, out);
            return;
        }
        // With no member left to wait for (the last one left), the join
        // phase is already complete.
        self.try_complete_join(now, out);
    }

    /// Completes the join phase early once every member has rejoined (never
    /// during the initial delay, which waits for stragglers on purpose).
    fn try_complete_join(&mut self, now: Now, out: &mut Vec<Output>) {
        if self.state == GroupState::PreparingRebalance
            && self.initial_delay.is_none()
            && self.pending_members.is_empty()
            && self.members.values().all(|m| m.pending_join.is_some())
        {
            self.complete_join(now, out);
        }
    }

    fn complete_join(&mut self, now: Now, out: &mut Vec<Output>) {
        // Dynamic members that did not rejoin are gone. Static ones stay
        // (KIP-345): only their session timeout removes them.
        let missing: Vec<String> = self
            .members
            .values()
            .filter(|m| m.pending_join.is_none() && m.group_instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in missing {
            self.remove_member(&member_id, GroupError::UnknownMemberId, out);
        }
        if !self.members.is_empty() && self.members.values().all(|m| m.pending_join.is_none()) {
            // Only absent static members are left: wait another rebalance
            // timeout for them to rejoin or for their sessions to expire.
            self.rebalance_deadline_ms = Some(now.monotonic_ms + self.rebalance_timeout_ms());
            self.initial_delay = None;
            return;
        }
        if self
            .leader
            .as_ref()
            .and_then(|l| self.members.get(l))
            .is_none_or(|l| l.pending_join.is_none())
        {
            // The leader must be able to receive the member list.
            self.leader = self
                .members
                .values()
                .find(|m| m.pending_join.is_some())
                .map(|m| m.member_id.clone());
        }
        self.rebalance_deadline_ms = None;
        self.initial_delay = None;
        self.new_member_added = false;
        self.generation_id += 1;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.transition(GroupState::Empty, now);
            let record = GroupRecord::Metadata(self.metadata_value());
            self.replay(&record);
            out.push(Output::Record(record));
            return;
        }
        self.protocol_name = self.select_protocol();
        self.transition(GroupState::CompletingRebalance, now);
        self.sync_deadline_ms = Some(now.monotonic_ms + self.rebalance_timeout_ms());
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for member_id in ids {
            let response = self.join_response(&member_id, false);
            let member = self.members.get_mut(&member_id).expect("listed above");
            member.heartbeat_deadline_ms = now.monotonic_ms + i64::from(member.session_timeout_ms);
            member.awaiting_sync = true;
            if let Some(request) = member.pending_join.take() {
                out.push(Output::Join { request, response });
            }
        }
    }

    /// Each member votes for its most preferred protocol among those all
    /// members support; most votes wins, ties go to the leader's preference.
    fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols(None);
        let mut votes: Vec<(String, usize)> = candidates.iter().map(|c| (c.clone(), 0)).collect();
        for m in self.members.values() {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(n))
                && let Some(v) = votes.iter_mut().find(|(c, _)| c == name)
            {
                v.1 += 1;
            }
        }
        let mut best: Option<(String, usize)> = None;
        for (name, count) in votes {
            if best.as_ref().is_none_or(|(_, b)| count > *b) {
                best = Some((name, count));
            }
        }
        best.map(|(name, _)| name)
    }

    fn transition(&mut self, state: GroupState, now: Now) {
        self.state = state;
        self.current_state_timestamp_ms = Some(now.wall_ms);
    }

    /// Removes a member and answers whatever it had parked with `error`.
    fn remove_member(&mut self, member_id: &str, error: GroupError, out: &mut Vec<Output>) {
        let Some(member) = self.members.shift_remove(member_id) else {
            return;
        };
        if let Some(request) = member.pending_join {
            out.push(Output::Join {
                request,
                response: JoinResponse::error(member_id, error.clone()),
            });
        }
        if let Some(request) = member.pending_sync {
            out.push(Output::Sync {
                request,
                result: Err(error),
            });
        }
        if let Some(instance_id) = &member.group_instance_id {
            self.static_members.shift_remove(instance_id);
        }
        if self.leader.as_deref() == Some(member_id) {
            self.leader = self.members.keys().next().cloned();
        }
    }

    fn on_member_removed(&mut self, now: Now, out: &mut Vec<Output>) {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now, out)
            }
            GroupState::PreparingRebalance => self.try_complete_join(now, out),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    fn touch(&mut self, member_id: &str, now: Now) {
        if let Some(m) = self.members.get_mut(member_id) {
            m.heartbeat_deadline_ms = now.monotonic_ms + i64::from(m.session_timeout_ms);
        }
    }

    // ---- SyncGroup ----

    pub fn sync(&mut self, request: RequestId, input: SyncInput, now: Now) -> Vec<Output> {
        let mut out = Vec::new();
        if let Err(e) = self.sync_inner(request, input, now, &mut out) {
            out.push(Output::Sync {
                request,
                result: Err(e),
            });
        }
        self.push_timer(&mut out);
        out
    }

    fn sync_inner(
        &mut self,
        request: RequestId,
        input: SyncInput,
        now: Now,
        out: &mut Vec<Output>,
    ) -> Result<(), GroupError> {
        self.validate_member(
            &input.member_id,
            input.group_instance_id.as_deref(),
            input.generation_id,
        )?;
        if input
            .protocol_type
            .as_ref()
            .is_some_and(|t| Some(t) != self.protocol_type.as_ref())
            || input
                .protocol_name
                .as_ref()
                .is_some_and(|n| Some(n) != self.protocol_name.as_ref())
        {
            return Err(GroupError::InconsistentGroupProtocol(
                "protocol type or name does not match the group's".into(),
            ));
        }
        match self.state {
            GroupState::Empty => Err(GroupError::UnknownMemberId),
            GroupState::Dead => Err(GroupError::CoordinatorNotAvailable),
            GroupState::PreparingRebalance => Err(GroupError::RebalanceInProgress),
            GroupState::CompletingRebalance => {
                let member = self.members.get_mut(&input.member_id).expect("validated");
                member.heartbeat_deadline_ms =
                    now.monotonic_ms + i64::from(member.session_timeout_ms);
                member.awaiting_sync = false;
                if let Some(old) = member.pending_sync.replace(request) {
                    out.push(Output::Sync {
                        request: old,
                        result: Err(GroupError::RebalanceInProgress),
                    });
                }
                if self.leader.as_deref() == Some(input.member_id.as_str()) {
                    self.complete_sync(input.assignments, now, out);
                }
                self.maybe_clear_sync_deadline();
                Ok(())
            }
            GroupState::Stable => {
                self.touch(&input.member_id, now);
                if let Some(m) = self.members.get_mut(&input.member_id) {
                    m.awaiting_sync = false;
                }
                self.maybe_clear_sync_deadline();
                out.push(Output::Sync {
                    request,
                    result: Ok(self.sync_response(&input.member_id)),
                });
                Ok(())
            }
        }
    }

    /// The leader's assignments arrived: persist the generation, then answer
    /// every parked sync. Members the leader left out get an empty one.
    fn complete_sync(
        &mut self,
        assignments: Vec<(String, Bytes)>,
        now: Now,
        out: &mut Vec<Output>,
    ) {
        let mut value = self.metadata_value();
        value.current_state_timestamp_ms = Some(now.wall_ms);
        for m in &mut value.members {
            m.assignment = assignments
                .iter()
                .find(|(id, _)| *id == m.member_id)
                .map(|(_, a)| a.clone())
                .unwrap_or_default();
        }
        let record = GroupRecord::Metadata(value);
        self.replay(&record);
        out.push(Output::Record(record));
        let parked: Vec<(String, RequestId)> = self
            .members
            .values_mut()
            .filter_map(|m| m.pending_sync.take().map(|r| (m.member_id.clone(), r)))
            .collect();
        for (member_id, request) in parked {
            out.push(Output::Sync {
                request,
                result: Ok(self.sync_response(&member_id)),
            });
        }
    }

    fn maybe_clear_sync_deadline(&mut self) {
        if self.members.values().all(|m| !m.awaiting_sync) {
            self.sync_deadline_ms = None;
        }
    }

    fn sync_response(&self, member_id: &str) -> SyncResponse {
        SyncResponse {
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment: self
                .members
                .get(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
        }
    }

    /// The checks Heartbeat, SyncGroup and OffsetCommit share, in Kafka's
    /// order: dead group, fenced instance, unknown member, generation.
    fn validate_member(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        self.check_static_fencing(member_id, group_instance_id)?;
        if !self.members.contains_key(member_id) {
            return Err(GroupError::UnknownMemberId);
        }
        if generation_id != self.generation_id {
            return Err(GroupError::IllegalGeneration);
        }
        Ok(())
    }

    // ---- Heartbeat ----

    pub fn heartbeat(
        &mut self,
        request: RequestId,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        now: Now,
    ) -> Vec<Output> {
        let result = self
            .validate_member(member_id, group_instance_id, generation_id)
            .and_then(|()| match self.state {
                GroupState::Empty => Err(GroupError::UnknownMemberId),
                GroupState::Dead => Err(GroupError::CoordinatorNotAvailable),
                GroupState::PreparingRebalance => {
                    self.touch(member_id, now);
                    Err(GroupError::RebalanceInProgress)
                }
                GroupState::CompletingRebalance | GroupState::Stable => {
                    self.touch(member_id, now);
                    Ok(())
                }
            });
        let mut out = vec![Output::Heartbeat { request, result }];
        self.push_timer(&mut out);
        out
    }

    // ---- LeaveGroup ----

    pub fn leave(
        &mut self,
        request: RequestId,
        leaving: Vec<LeaveMember>,
        now: Now,
    ) -> Vec<Output> {
        let mut out = Vec::new();
        if self.state == GroupState::Dead {
            out.push(Output::Leave {
                request,
                result: Err(GroupError::CoordinatorNotAvailable),
            });
            return out;
        }
        let mut results = Vec::with_capacity(leaving.len());
        let mut removed_any = false;
        for lm in leaving {
            let result = self.leave_one(&lm, &mut out);
            removed_any |= result.is_ok();
            results.push((lm, result));
        }
        if removed_any {
            self.on_member_removed(now, &mut out);
        }
        // The leave answer goes out after any record the departure caused.
        out.push(Output::Leave {
            request,
            result: Ok(results),
        });
        self.push_timer(&mut out);
        out
    }

    fn leave_one(&mut self, lm: &LeaveMember, out: &mut Vec<Output>) -> Result<(), GroupError> {
        let member_id = match &lm.group_instance_id {
            Some(instance_id) => {
                let registered = self
                    .static_members
                    .get(instance_id)
                    .cloned()
                    .ok_or(GroupError::UnknownMemberId)?;
                if !lm.member_id.is_empty() && lm.member_id != registered {
                    return Err(GroupError::FencedInstanceId);
                }
                registered
            }
            None => {
                if self.pending_members.shift_remove(&lm.member_id).is_some() {
                    return Ok(());
                }
                if !self.members.contains_key(&lm.member_id) {
                    return Err(GroupError::UnknownMemberId);
                }
                lm.member_id.clone()
            }
        };
        self.remove_member(&member_id, GroupError::UnknownMemberId, out);
        Ok(())
    }

    // ---- timers ----

    /// Expires sessions, KIP-394 pending members and the rebalance timeout.
    pub fn tick(&mut self, now: Now) -> Vec<Output> {
        let mut out = Vec::new();
        let expired_pending: Vec<String> = self
            .pending_members
            .iter()
            .filter(|&(_, &deadline)| deadline <= now.monotonic_ms)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired_pending {
            self.pending_members.shift_remove(id);
        }
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                m.pending_join.is_none()
                    && m.pending_sync.is_none()
                    && m.heartbeat_deadline_ms <= now.monotonic_ms
            })
            .map(|m| m.member_id.clone())
            .collect();
        for id in &expired {
            tracing::debug!(group_id = %self.group_id, member_id = %id, "session expired");
            self.remove_member(id, GroupError::UnknownMemberId, &mut out);
        }
        if !expired.is_empty() || !expired_pending.is_empty() {
            self.on_member_removed(now, &mut out);
        }
        if matches!(
            self.state,
            GroupState::CompletingRebalance | GroupState::Stable
        ) && self.sync_deadline_ms.is_some_and(|d| d <= now.monotonic_ms)
        {
            self.sync_deadline_ms = None;
            let unsynced: Vec<String> = self
                .members
                .values()
                .filter(|m| m.awaiting_sync)
                .map(|m| m.member_id.clone())
                .collect();
            for id in &unsynced {
                tracing::debug!(group_id = %self.group_id, member_id = %id, "no SyncGroup within the rebalance timeout");
                self.remove_member(id, GroupError::UnknownMemberId, &mut out);
            }
            if !unsynced.is_empty() {
                self.on_member_removed(now, &mut out);
            }
        }
        if self.state == GroupState::PreparingRebalance
            && self
                .rebalance_deadline_ms
                .is_some_and(|d| d <= now.monotonic_ms)
        {
            match self.initial_delay {
                Some(delay) if self.new_member_added && delay.remaining_ms > 0 => {
                    // Members are still arriving: wait one more delay.
                    self.new_member_added = false;
                    let step =
                        i64::from(self.config.initial_rebalance_delay_ms).min(delay.remaining_ms);
                    self.initial_delay = Some(InitialDelay {
                        remaining_ms: (delay.remaining_ms - step).max(0),
                    });
                    self.rebalance_deadline_ms = Some(now.monotonic_ms + step);
                }
                _ => self.complete_join(now, &mut out),
            }
        }
        self.push_timer(&mut out);
        out
    }

    /// Ends every public operation: checks invariants, then tells the driver
    /// when to tick next. A tick with nothing due is harmless, so a stale
    /// timer needs no cancelling.
    fn push_timer(&mut self, out: &mut Vec<Output>) {
        debug_assert!(
            self.leader
                .as_ref()
                .is_none_or(|l| self.members.contains_key(l)),
            "the leader is a member"
        );
        debug_assert!(
            self.static_members.iter().all(|(i, m)| self
                .members
                .get(m)
                .is_some_and(|m| m.group_instance_id.as_ref() == Some(i))),
            "static ids point at their members"
        );
        debug_assert!(
            self.state != GroupState::Empty || self.members.is_empty(),
            "an Empty group has no members"
        );
        let next = self.next_deadline_ms();
        if next != self.last_timer_ms {
            self.last_timer_ms = next;
            if let Some(deadline_ms) = next {
                out.push(Output::Timer { deadline_ms });
            }
        }
    }

    // ---- offsets, deletion ----

    /// OffsetCommit's membership checks. A commit with a negative generation
    /// to an Empty group is a simple (admin or standalone) commit.
    pub fn validate_offset_commit(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        now: Now,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if generation_id < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        self.validate_member(member_id, group_instance_id, generation_id)?;
        match self.state {
            GroupState::CompletingRebalance => Err(GroupError::RebalanceInProgress),
            _ => {
                self.touch(member_id, now);
                Ok(())
            }
        }
    }

    /// DeleteGroups: only an Empty group can go.
    pub fn delete(&mut self) -> Result<Vec<Output>, GroupError> {
        match self.state {
            GroupState::Dead => Err(GroupError::CoordinatorNotAvailable),
            GroupState::Empty => {
                let record = GroupRecord::Tombstone;
                self.replay(&record);
                Ok(vec![Output::Record(record)])
            }
            _ => Err(GroupError::NonEmptyGroup),
        }
    }

    // ---- records ----

    fn metadata_value(&self) -> GroupMetadataValue {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        GroupMetadataValue {
            protocol_type: self.protocol_type.clone(),
            generation_id: self.generation_id,
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone(),
            current_state_timestamp_ms: self.current_state_timestamp_ms,
            members: self
                .members
                .values()
                .map(|m| MemberMetadataValue {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// Applies a durable change: the only code that sets the generation,
    /// the protocol, the leader and the assignments. Used on the live path
    /// (the group replays what it emits) and when loading.
    pub fn replay(&mut self, record: &GroupRecord) {
        match record {
            GroupRecord::Tombstone => {
                self.state = GroupState::Dead;
                self.members.clear();
                self.static_members.clear();
                self.pending_members.clear();
                self.leader = None;
                self.rebalance_deadline_ms = None;
            }
            GroupRecord::Metadata(v) => {
                self.generation_id = v.generation_id;
                self.protocol_type = v.protocol_type.clone();
                self.protocol_name = v.protocol_name.clone();
                self.leader = v.leader.clone();
                let protocol = v.protocol_name.clone().unwrap_or_default();
                let mut members = IndexMap::new();
                for mv in &v.members {
                    let mut m = self.members.shift_remove(&mv.member_id).unwrap_or(Member {
                        member_id: mv.member_id.clone(),
                        group_instance_id: mv.group_instance_id.clone(),
                        client_id: mv.client_id.clone(),
                        client_host: mv.client_host.clone(),
                        rebalance_timeout_ms: mv.rebalance_timeout_ms,
                        session_timeout_ms: mv.session_timeout_ms,
                        protocols: vec![(protocol.clone(), mv.subscription.clone())],
                        assignment: Bytes::new(),
                        pending_join: None,
                        pending_sync: None,
                        heartbeat_deadline_ms: i64::MAX,
                        awaiting_sync: false,
                    });
                    m.assignment = mv.assignment.clone();
                    members.insert(mv.member_id.clone(), m);
                }
                self.members = members;
                self.static_members = self
                    .members
                    .values()
                    .filter_map(|m| {
                        m.group_instance_id
                            .clone()
                            .map(|i| (i, m.member_id.clone()))
                    })
                    .collect();
                self.state = if self.members.is_empty() {
                    GroupState::Empty
                } else {
                    GroupState::Stable
                };
                self.current_state_timestamp_ms = v.current_state_timestamp_ms;
                debug_assert!(
                    self.leader
                        .as_ref()
                        .is_none_or(|l| self.members.contains_key(l))
                        || self.members.is_empty()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic ids: `<client_id>-<n>`.
    struct SeqIds(u32);
    impl MemberIdGenerator for SeqIds {
        fn generate(&mut self, client_id: &str) -> String {
            self.0 += 1;
            format!("{client_id}-{}", self.0)
        }
    }

    const SESSION_MS: i32 = 10_000;
    const REBALANCE_MS: i32 = 30_000;
    const DELAY_MS: i64 = 3_000;

    fn config() -> GroupConfig {
        GroupConfig {
            initial_rebalance_delay_ms: DELAY_MS as i32,
            ..GroupConfig::default()
        }
    }

    fn new_group() -> ClassicGroup {
        ClassicGroup::new("g", config(), Box::new(SeqIds(0)))
    }

    fn input(member_id: &str, client_id: &str) -> JoinInput {
        JoinInput {
            member_id: member_id.into(),
            group_instance_id: None,
            client_id: client_id.into(),
            client_host: "/127.0.0.1".into(),
            rebalance_timeout_ms: REBALANCE_MS,
            session_timeout_ms: SESSION_MS,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"sub"))],
            require_known_member_id: false,
            supports_skip_assignment: true,
        }
    }

    fn static_input(member_id: &str, instance: &str) -> JoinInput {
        JoinInput {
            group_instance_id: Some(instance.into()),
            ..input(member_id, instance)
        }
    }

    fn sync_input(member_id: &str, generation_id: i32, assignments: &[(&str, &str)]) -> SyncInput {
        SyncInput {
            member_id: member_id.into(),
            group_instance_id: None,
            generation_id,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments: assignments
                .iter()
                .map(|(m, a)| (m.to_string(), Bytes::copy_from_slice(a.as_bytes())))
                .collect(),
        }
    }

    fn joins(out: &[Output]) -> Vec<(RequestId, JoinResponse)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Join { request, response } => Some((*request, response.clone())),
                _ => None,
            })
            .collect()
    }

    fn syncs(out: &[Output]) -> Vec<(RequestId, Result<SyncResponse, GroupError>)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Sync { request, result } => Some((*request, result.clone())),
                _ => None,
            })
            .collect()
    }

    fn records(out: &[Output]) -> Vec<GroupRecord> {
        out.iter()
            .filter_map(|o| match o {
                Output::Record(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    fn heartbeat_result(out: &[Output]) -> Result<(), GroupError> {
        match &out[0] {
            Output::Heartbeat { result, .. } => result.clone(),
            other => panic!("expected a heartbeat answer, got {other:?}"),
        }
    }

    fn timers(out: &[Output]) -> Vec<i64> {
        out.iter()
            .filter_map(|o| match o {
                Output::Timer { deadline_ms } => Some(*deadline_ms),
                _ => None,
            })
            .collect()
    }

    /// `inputs` join an Empty group at t=0 and the initial delay runs out;
    /// returns the members in join order and the time the joins completed.
    fn joined(g: &mut ClassicGroup, inputs: Vec<JoinInput>) -> (Vec<String>, i64) {
        let n = inputs.len();
        for (i, inp) in inputs.into_iter().enumerate() {
            let out = g.join(RequestId(i as u64), inp, Now::at(0));
            assert!(joins(&out).is_empty(), "parked during the initial delay");
        }
        let mut now = DELAY_MS;
        let mut out = g.tick(Now::at(now));
        if n > 1 {
            // Members arrived during the delay: it runs once more.
            assert!(joins(&out).is_empty());
            now += DELAY_MS;
            out = g.tick(Now::at(now));
        }
        let answered = joins(&out);
        assert_eq!(answered.len(), n);
        assert_eq!(g.state(), GroupState::CompletingRebalance);
        (
            answered.into_iter().map(|(_, r)| r.member_id).collect(),
            now,
        )
    }

    /// A Stable group of `n` dynamic members with assignments `a<i>`.
    fn stable(n: usize) -> (ClassicGroup, Vec<String>, i64) {
        let mut g = new_group();
        let inputs = (0..n).map(|i| input("", &format!("c{i}"))).collect();
        let (ids, now) = joined(&mut g, inputs);
        sync_all(&mut g, &ids, now);
        (g, ids, now)
    }

    fn sync_all(g: &mut ClassicGroup, ids: &[String], now: i64) -> Vec<Output> {
        let generation = g.generation_id();
        for id in ids.iter().skip(1) {
            let out = g.sync(
                RequestId(100),
                sync_input(id, generation, &[]),
                Now::at(now),
            );
            assert!(syncs(&out).is_empty(), "followers wait for the leader");
        }
        let assignments: Vec<(String, String)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), format!("a{i}")))
            .collect();
        let refs: Vec<(&str, &str)> = assignments
            .iter()
            .map(|(m, a)| (m.as_str(), a.as_str()))
            .collect();
        let out = g.sync(
            RequestId(200),
            sync_input(&ids[0], generation, &refs),
            Now::at(now),
        );
        assert_eq!(g.state(), GroupState::Stable);
        out
    }

    #[test]
    fn three_members_join_and_sync() {
        let mut g = new_group();
        let inputs = (0..3).map(|i| input("", &format!("c{i}"))).collect();
        let (ids, now) = joined(&mut g, inputs);
        assert_eq!(ids, vec!["c0-1", "c1-2", "c2-3"]);
        assert_eq!(g.generation_id(), 1);
        assert_eq!(g.leader(), Some("c0-1"));
        assert_eq!(g.protocol_name(), Some("range"));

        let out = sync_all(&mut g, &ids, now);
        let recs = records(&out);
        assert_eq!(recs.len(), 1);
        let GroupRecord::Metadata(v) = &recs[0] else {
            panic!("expected metadata")
        };
        assert_eq!(v.generation_id, 1);
        assert_eq!(v.leader.as_deref(), Some("c0-1"));
        assert_eq!(v.members.len(), 3);
        // The record precedes the answers: they go out after it commits.
        assert!(matches!(out[0], Output::Record(_)));
        let mut answers: Vec<String> = syncs(&out)
            .into_iter()
            .map(|(_, r)| String::from_utf8(r.expect("sync ok").assignment.to_vec()).unwrap())
            .collect();
        answers.sort();
        assert_eq!(answers, vec!["a0", "a1", "a2"]);
        assert_eq!(g.assignment("c2-3").unwrap(), &Bytes::from_static(b"a2"));
    }

    #[test]
    fn only_the_leader_sees_the_member_list() {
        let mut g = new_group();
        g.join(RequestId(1), input("", "a"), Now::at(0));
        g.join(RequestId(2), input("", "b"), Now::at(0));
        g.tick(Now::at(DELAY_MS));
        let out = g.tick(Now::at(2 * DELAY_MS));
        let answered = joins(&out);
        let leader = &answered.iter().find(|(r, _)| *r == RequestId(1)).unwrap().1;
        let follower = &answered.iter().find(|(r, _)| *r == RequestId(2)).unwrap().1;
        assert_eq!(leader.leader, "a-1");
        assert_eq!(leader.members.len(), 2);
        assert_eq!(follower.leader, "a-1");
        assert!(follower.members.is_empty());
        assert_eq!(follower.generation_id, 1);
    }

    #[test]
    fn a_leaving_member_triggers_a_rebalance() {
        let (mut g, ids, now) = stable(3);
        let out = g.leave(
            RequestId(9),
            vec![LeaveMember {
                member_id: ids[1].clone(),
                group_instance_id: None,
            }],
            Now::at(now),
        );
        assert!(
            matches!(out.iter().find(|o| matches!(o, Output::Leave { .. })),
            Some(Output::Leave { result: Ok(r), .. }) if r[0].1.is_ok())
        );
        assert_eq!(g.state(), GroupState::PreparingRebalance);
        assert_eq!(
            heartbeat_result(&g.heartbeat(RequestId(1), &ids[0], None, 1, Now::at(now))),
            Err(GroupError::RebalanceInProgress)
        );
        assert!(joins(&g.join(RequestId(10), input(&ids[0], "c0"), Now::at(now))).is_empty());
        // The last remaining member's rejoin completes the join at once.
        let out = g.join(RequestId(11), input(&ids[2], "c2"), Now::at(now));
        assert_eq!(joins(&out).len(), 2);
        assert_eq!(g.generation_id(), 2);
        assert_eq!(g.member_ids(), vec![ids[0].clone(), ids[2].clone()]);
    }

    #[test]
    fn leaving_leader_hands_leadership_to_the_next_member() {
        let (mut g, ids, now) = stable(2);
        g.leave(
            RequestId(9),
            vec![LeaveMember {
                member_id: ids[0].clone(),
                group_instance_id: None,
            }],
            Now::at(now),
        );
        assert_eq!(g.leader(), Some(ids[1].as_str()));
    }

    #[test]
    fn the_last_member_leaving_empties_the_group_durably() {
        let (mut g, ids, now) = stable(1);
        let out = g.leave(
            RequestId(9),
            vec![LeaveMember {
                member_id: ids[0].clone(),
                group_instance_id: None,
            }],
            Now::at(now + 5),
        );
        assert_eq!(g.state(), GroupState::Empty);
        assert_eq!(g.generation_id(), 2);
        let recs = records(&out);
        assert!(
            matches!(&recs[..], [GroupRecord::Metadata(v)] if v.members.is_empty() && v.generation_id == 2)
        );
        assert_eq!(g.current_state_timestamp_ms(), Some(now + 5));
    }

    #[test]
    fn session_expiry_triggers_a_rebalance() {
        let (mut g, ids, now) = stable(3);
        let later = now + i64::from(SESSION_MS) - 1;
        for id in &ids[..2] {
            assert_eq!(
                heartbeat_result(&g.heartbeat(RequestId(1), id, None, 1, Now::at(later))),
                Ok(())
            );
        }
        assert_eq!(g.next_deadline_ms(), Some(now + i64::from(SESSION_MS)));
        assert!(
            g.tick(Now::at(now + i64::from(SESSION_MS) - 1))
                .iter()
                .all(|o| matches!(o, Output::Timer { .. }))
        );
        assert_eq!(g.state(), GroupState::Stable);
        let out = g.tick(Now::at(now + i64::from(SESSION_MS)));
        assert_eq!(g.state(), GroupState::PreparingRebalance);
        assert!(!g.has_member(&ids[2]));
        // Next wake-up: the earliest of the survivors' sessions.
        assert_eq!(timers(&out), vec![later + i64::from(SESSION_MS)]);
        assert_eq!(
            heartbeat_result(&g.heartbeat(RequestId(1), &ids[2], None, 1, Now::at(later))),
            Err(GroupError::UnknownMemberId)
        );
    }

    /// Deadlines follow the monotonic clock, whatever the wall clock does;
    /// the state timestamp (stored, and what offset expiry counts from) is
    /// wall-clock time.
    #[test]
    fn sessions_run_on_the_monotonic_clock_and_state_times_on_the_wall_clock() {
        let (mut g, ids, now) = stable(1);
        let wall = 1_800_000_000_000;
        let at = |monotonic_ms: i64, wall_ms: i64| Now {
            wall_ms,
            monotonic_ms,
        };
        let session = i64::from(SESSION_MS);
        // The wall clock jumps a day ahead: no session is over.
        let out = g.tick(at(now + 1, wall + 86_400_000));
        assert!(records(&out).is_empty());
        assert_eq!(g.state(), GroupState::Stable);
        // It jumps an hour back: the session still ends on time.
        let ahead = g.tick(at(now + session - 1, wall - 3_600_000));
        assert!(ahead.iter().all(|o| matches!(o, Output::Timer { .. })));
        assert_eq!(g.state(), GroupState::Stable);
        g.tick(at(now + session, wall - 3_600_000));
        assert!(!g.has_member(&ids[0]));
        assert_eq!(g.state(), GroupState::Empty);
        assert_eq!(g.current_state_timestamp_ms(), Some(wall - 3_600_000));
    }

    #[test]
    fn rebalance_timeout_drops_members_that_did_not_rejoin() {
        let (mut g, ids, now) = stable(2);
        // A third member joins; only it and the first member rejoin.
        let out = g.join(RequestId(5), input("", "new"), Now::at(now));
        assert!(joins(&out).is_empty());
        g.join(RequestId(6), input(&ids[0], "c0"), Now::at(now));
        // Keep the second member's session alive past the rebalance timeout.
        let deadline = now + i64::from(REBALANCE_MS);
        for t in (now..deadline).step_by(5_000) {
            g.heartbeat(RequestId(7), &ids[1], None, 1, Now::at(t));
        }
        let out = g.tick(Now::at(deadline));
        assert_eq!(joins(&out).len(), 2);
        assert_eq!(g.generation_id(), 2);
        assert!(!g.has_member(&ids[1]));
        assert_eq!(g.state(), GroupState::CompletingRebalance);
    }

    #[test]
    fn rebalance_timeout_keeps_static_members_that_did_not_rejoin() {
        let mut g = new_group();
        let (ids, now) = joined(&mut g, vec![static_input("", "i0"), static_input("", "i1")]);
        sync_all(&mut g, &ids, now);
        g.join(RequestId(5), input("", "new"), Now::at(now));
        g.join(RequestId(6), static_input(&ids[1], "i1"), Now::at(now));
        let deadline = now + i64::from(REBALANCE_MS);
        for t in (now..deadline).step_by(5_000) {
            g.heartbeat(RequestId(7), &ids[0], Some("i0"), 1, Now::at(t));
        }
        let out = g.tick(Now::at(deadline));
        let answered = joins(&out);
        assert_eq!(answered.len(), 2);
        assert!(
            g.has_member(&ids[0]),
            "a static member outlives the rebalance"
        );
        // The absent leader cannot get the member list: a rejoined member leads.
        assert_eq!(g.leader(), Some(ids[1].as_str()));
        let leader = answered.iter().find(|(r, _)| *r == RequestId(6)).unwrap();
        assert_eq!(leader.1.members.len(), 3);
        // Its old generation tells the absent member to rejoin.
        let hb = g.heartbeat(RequestId(8), &ids[0], Some("i0"), 1, Now::at(deadline));
        assert_eq!(heartbeat_result(&hb), Err(GroupError::IllegalGeneration));
    }

    #[test]
    fn join_completion_waits_while_only_absent_static_members_remain() {
        let mut g = new_group();
        let (ids, now) = joined(&mut g, vec![static_input("", "i0")]);
        sync_all(&mut g, &ids, now);
        // A dynamic newcomer joins, then leaves; i0 never rejoins.
        g.join(RequestId(1), input("", "d"), Now::at(now));
        let deadline = now + i64::from(REBALANCE_MS);
        for t in (now..deadline).step_by(5_000) {
            g.heartbeat(RequestId(2), &ids[0], Some("i0"), 1, Now::at(t));
        }
        let newcomer = g.member_ids()[1].clone();
        g.leave(
            RequestId(3),
            vec![LeaveMember {
                member_id: newcomer,
                group_instance_id: None,
            }],
            Now::at(now),
        );
        let out = g.tick(Now::at(deadline));
        assert!(joins(&out).is_empty());
        assert_eq!(g.state(), GroupState::PreparingRebalance);
        assert_eq!(g.generation_id(), 1);
        // Its session runs out; with nobody left the group empties.
        let out = g.tick(Now::at(deadline + i64::from(SESSION_MS)));
        assert!(!records(&out).is_empty());
        assert_eq!(g.state(), GroupState::Empty);
    }

    #[test]
    fn a_member_that_never_syncs_is_removed_after_the_rebalance_timeout() {
        let mut g = new_group();
        let (ids, now) = joined(&mut g, vec![input("", "c0"), input("", "c1")]);
        let out = g.sync(
            RequestId(1),
            sync_input(&ids[0], 1, &[(&ids[0], "a0")]),
            Now::at(now),
        );
        assert_eq!(syncs(&out).len(), 1);
        assert_eq!(g.state(), GroupState::Stable);
        let deadline = now + i64::from(REBALANCE_MS);
        // c1 heartbeats happily but never asks for its assignment.
        for t in (now..deadline).step_by(5_000) {
            g.heartbeat(RequestId(2), &ids[1], None, 1, Now::at(t));
            g.heartbeat(RequestId(2), &ids[0], None, 1, Now::at(t));
        }
        g.tick(Now::at(deadline));
        assert!(!g.has_member(&ids[1]));
        assert_eq!(g.state(), GroupState::PreparingRebalance);
    }

    #[test]
    fn members_that_sync_in_time_are_kept() {
        let (mut g, ids, now) = stable(2);
        let deadline = now + i64::from(REBALANCE_MS);
        for t in (now..=deadline).step_by(5_000) {
            for id in &ids {
                g.heartbeat(RequestId(2), id, None, 1, Now::at(t));
            }
            g.tick(Now::at(t));
        }
        assert_eq!(g.state(), GroupState::Stable);
        assert_eq!(g.member_ids(), ids);
    }

    /// (state setup, member, generation, expected)
    #[test]
    fn heartbeat_codes_in_every_state() {
        type Setup = fn() -> (ClassicGroup, Vec<String>, i64);
        type Case = (&'static str, Setup, usize, i32, Result<(), GroupError>);
        let cases: &[Case] = &[
            ("stable", || stable(2), 0, 1, Ok(())),
            ("stable follower", || stable(2), 1, 1, Ok(())),
            (
                "stable wrong generation",
                || stable(2),
                1,
                0,
                Err(GroupError::IllegalGeneration),
            ),
            ("completing", completing, 1, 1, Ok(())),
            (
                "completing wrong generation",
                completing,
                1,
                2,
                Err(GroupError::IllegalGeneration),
            ),
            (
                "preparing",
                preparing,
                0,
                1,
                Err(GroupError::RebalanceInProgress),
            ),
            ("empty", empty, 0, 1, Err(GroupError::UnknownMemberId)),
            ("dead", dead, 0, 1, Err(GroupError::CoordinatorNotAvailable)),
        ];
        fn completing() -> (ClassicGroup, Vec<String>, i64) {
            let mut g = new_group();
            let (ids, now) = joined(&mut g, vec![input("", "c0"), input("", "c1")]);
            (g, ids, now)
        }
        fn preparing() -> (ClassicGroup, Vec<String>, i64) {
            let (mut g, ids, now) = stable(2);
            g.join(RequestId(50), input("", "x"), Now::at(now));
            (g, ids, now)
        }
        fn empty() -> (ClassicGroup, Vec<String>, i64) {
            let (mut g, ids, now) = stable(1);
            let leaving = vec![LeaveMember {
                member_id: ids[0].clone(),
                group_instance_id: None,
            }];
            g.leave(RequestId(50), leaving, Now::at(now));
            (g, ids, now)
        }
        fn dead() -> (ClassicGroup, Vec<String>, i64) {
            let (mut g, ids, now) = empty();
            g.delete().expect("empty group deletes");
            (g, ids, now)
        }
        for (name, setup, member, generation, expected) in cases {
            let (mut g, ids, now) = setup();
            let out = g.heartbeat(RequestId(1), &ids[*member], None, *generation, Now::at(now));
            assert_eq!(heartbeat_result(&out), *expected, "{name}");
        }
        let (mut g, _, now) = stable(1);
        let out = g.heartbeat(RequestId(1), "nobody", None, 1, Now::at(now));
        assert_eq!(heartbeat_result(&out), Err(GroupError::UnknownMemberId));
    }

    #[test]
    fn kip_394_member_id_required_then_join() {
        let mut g = new_group();
        let mut first = input("", "c");
        first.require_known_member_id = true;
        let out = g.join(RequestId(1), first.clone(), Now::at(0));
        let answered = joins(&out);
        assert_eq!(answered.len(), 1);
        assert_eq!(answered[0].1.error, Some(GroupError::MemberIdRequired));
        assert_eq!(answered[0].1.member_id, "c-1");
        assert_eq!(g.state(), GroupState::Empty);
        assert!(g.member_ids().is_empty());
        // The pending id expires after one session if never used.
        assert_eq!(timers(&out), vec![i64::from(SESSION_MS)]);

        first.member_id = "c-1".into();
        let out = g.join(RequestId(2), first, Now::at(10));
        assert!(joins(&out).is_empty());
        assert_eq!(g.state(), GroupState::PreparingRebalance);
        let out = g.tick(Now::at(10 + DELAY_MS));
        let answered = joins(&out);
        assert_eq!(answered[0].1.member_id, "c-1");
        assert_eq!(answered[0].1.error, None);
        assert_eq!(answered[0].1.generation_id, 1);
    }

    #[test]
    fn kip_394_pending_member_holds_the_rebalance_until_it_expires() {
        let (mut g, ids, now) = stable(1);
        let mut newcomer = input("", "n");
        newcomer.require_known_member_id = true;
        g.join(RequestId(1), newcomer, Now::at(now));
        // The rejoin of the only member does not complete: a pending member
        // is expected.
        g.join(RequestId(2), input("", "z"), Now::at(now)); // a second newcomer, no KIP-394
        let out = g.join(RequestId(3), input(&ids[0], "c0"), Now::at(now));
        assert!(joins(&out).is_empty());
        let out = g.tick(Now::at(now + i64::from(SESSION_MS)));
        assert_eq!(joins(&out).len(), 2);
        assert_eq!(g.generation_id(), 2);
    }

    #[test]
    fn static_member_rejoins_without_rebalance_and_fences_the_old_id() {
        let mut g = new_group();
        let (ids, now) = joined(&mut g, vec![static_input("", "i0"), static_input("", "i1")]);
        sync_all(&mut g, &ids, now);
        let generation = g.generation_id();

        // i1 restarts and joins with no member id and the same protocols.
        let out = g.join(RequestId(7), static_input("", "i1"), Now::at(now + 100));
        assert_eq!(g.state(), GroupState::Stable);
        assert_eq!(g.generation_id(), generation);
        let recs = records(&out);
        assert_eq!(recs.len(), 1, "the new member id is durable");
        let answered = joins(&out);
        let new_id = answered[0].1.member_id.clone();
        assert_ne!(new_id, ids[1]);
        assert_eq!(answered[0].1.generation_id, generation);
        assert_eq!(answered[0].1.error, None);

        // The old id is fenced; the new one gets the old assignment.
        let hb = g.heartbeat(
            RequestId(8),
            &ids[1],
            Some("i1"),
            generation,
            Now::at(now + 100),
        );
        assert_eq!(heartbeat_result(&hb), Err(GroupError::FencedInstanceId));
        let hb = g.heartbeat(RequestId(8), &ids[1], None, generation, Now::at(now + 100));
        assert_eq!(heartbeat_result(&hb), Err(GroupError::UnknownMemberId));
        let mut s = sync_input(&new_id, generation, &[]);
        s.group_instance_id = Some("i1".into());
        let out = g.sync(RequestId(9), s, Now::at(now + 100));
        assert_eq!(
            syncs(&out)[0].1.as_ref().unwrap().assignment,
            Bytes::from_static(b"a1")
        );
        let mut old = static_input(&ids[1], "i1");
        old.member_id = ids[1].clone();
        let out = g.join(RequestId(10), old, Now::at(now + 100));
        assert_eq!(joins(&out)[0].1.error, Some(GroupError::FencedInstanceId));
    }

    #[test]
    fn static_member_rejoining_with_new_metadata_keeps_the_group_stable() {
        let mut g = new_group();
        let (ids, now) = joined(&mut g, vec![static_input("", "i0"), static_input("", "i1")]);
        sync_all(&mut g, &ids, now);
        let generation = g.generation_id();

        // A restarted client sends other subscription bytes for the same protocol.
        let mut rejoin = static_input("", "i1");
        rejoin.protocols = vec![("range".into(), Bytes::from_static(b"sub-after-restart"))];
        let out = g.join(RequestId(7), rejoin, Now::at(now + 100));
        assert_eq!(g.state(), GroupState::Stable);
        assert_eq!(g.generation_id(), generation);
        assert_eq!(joins(&out)[0].1.error, None);

        // The leader (i0) sees the new metadata when it next rejoins.
        let out = g.join(RequestId(8), static_input("", "i0"), Now::at(now + 200));
        let members = &joins(&out)[0].1.members;
        let i1 = members
            .iter()
            .find(|m| m.group_instance_id.as_deref() == Some("i1"))
            .expect("i1 listed");
        assert_eq!(i1.metadata, Bytes::from_static(b"sub-after-restart"));
    }

    #[test]
    fn static_leader_rejoin_skips_assignment() {
        let mut g = new_group();
        let (ids, now) = joined(&mut g, vec![static_input("", "i0"), static_input("", "i1")]);
        sync_all(&mut g, &ids, now);
        let out = g.join(RequestId(7), static_input("", "i0"), Now::at(now));
        let answered = joins(&out);
        assert_eq!(g.state(), GroupState::Stable);
        assert!(answered[0].1.skip_assignment);
        assert_eq!(answered[0].1.leader, answered[0].1.member_id);
        assert_eq!(answered[0].1.members.len(), 2);
    }

    #[test]
    fn static_leader_rejoin_before_kip_814_is_told_the_old_leader() {
        let mut g = new_group();
        let (ids, now) = joined(&mut g, vec![static_input("", "i0"), static_input("", "i1")]);
        sync_all(&mut g, &ids, now);
        let mut rejoin = static_input("", "i0");
        rejoin.supports_skip_assignment = false;
        let out = g.join(RequestId(7), rejoin, Now::at(now));
        let answered = joins(&out);
        assert_eq!(g.state(), GroupState::Stable);
        let r = &answered[0].1;
        assert_eq!(r.error, None);
        assert_eq!(r.leader, ids[0], "the old leader id, so the client follows");
        assert_ne!(r.member_id, ids[0]);
        assert!(r.members.is_empty() && !r.skip_assignment);
        // The group's real leader is the new id.
        assert_eq!(g.leader(), Some(r.member_id.as_str()));
    }

    #[test]
    fn static_member_changing_the_selected_protocol_triggers_a_rebalance() {
        let both = |first: &str, second: &str| {
            let mut i = static_input("", "i0");
            i.protocols = vec![
                (first.into(), Bytes::from_static(b"sub")),
                (second.into(), Bytes::from_static(b"sub")),
            ];
            i
        };
        let mut g = new_group();
        let (ids, now) = joined(&mut g, vec![both("range", "roundrobin")]);
        sync_all(&mut g, &ids, now);
        let generation = g.generation_id();
        // The only member now prefers roundrobin: the group would select it,
        // so it rebalances (at once: every member has joined).
        let out = g.join(RequestId(7), both("roundrobin", "range"), Now::at(now));
        assert_eq!(g.generation_id(), generation + 1);
        assert_eq!(g.state(), GroupState::CompletingRebalance);
        let answered = joins(&out);
        assert_eq!(answered.len(), 1);
        assert_eq!(answered[0].1.protocol_name.as_deref(), Some("roundrobin"));
    }

    #[test]
    fn static_leave_with_wrong_member_id_is_fenced() {
        let mut g = new_group();
        let (ids, now) = joined(&mut g, vec![static_input("", "i0")]);
        sync_all(&mut g, &ids, now);
        let out = g.leave(
            RequestId(1),
            vec![
                LeaveMember {
                    member_id: "other".into(),
                    group_instance_id: Some("i0".into()),
                },
                LeaveMember {
                    member_id: String::new(),
                    group_instance_id: Some("nope".into()),
                },
            ],
            Now::at(now),
        );
        let Some(Output::Leave { result: Ok(r), .. }) = out.last() else {
            panic!("expected a leave answer: {out:?}")
        };
        assert_eq!(r[0].1, Err(GroupError::FencedInstanceId));
        assert_eq!(r[1].1, Err(GroupError::UnknownMemberId));
        assert_eq!(g.state(), GroupState::Stable);
    }

    #[test]
    fn concurrent_joins_during_preparing_rebalance() {
        let (mut g, ids, now) = stable(2);
        let out = g.join(RequestId(1), input("", "n"), Now::at(now));
        assert!(joins(&out).is_empty());
        assert_eq!(g.state(), GroupState::PreparingRebalance);
        let out = g.join(RequestId(2), input(&ids[0], "c0"), Now::at(now + 1));
        assert!(joins(&out).is_empty());
        // A retried join from the same member replaces the parked one.
        let out = g.join(RequestId(3), input(&ids[0], "c0"), Now::at(now + 2));
        assert_eq!(
            joins(&out),
            vec![(
                RequestId(2),
                JoinResponse::error(&ids[0], GroupError::RebalanceInProgress)
            )]
        );
        let out = g.join(RequestId(4), input(&ids[1], "c1"), Now::at(now + 3));
        let mut answered: Vec<RequestId> = joins(&out).into_iter().map(|(r, _)| r).collect();
        answered.sort();
        assert_eq!(answered, vec![RequestId(1), RequestId(3), RequestId(4)]);
        assert_eq!(g.generation_id(), 2);
        assert_eq!(g.member_ids().len(), 3);
        assert_eq!(g.leader(), Some(ids[0].as_str()));
    }

    #[test]
    fn initial_rebalance_delay_waits_for_stragglers_up_to_the_rebalance_timeout() {
        let mut g = new_group();
        let mut a = input("", "a");
        a.rebalance_timeout_ms = 5_000; // remaining after the first delay: 2000
        let out = g.join(RequestId(1), a.clone(), Now::at(0));
        assert_eq!(timers(&out), vec![DELAY_MS]);
        g.join(RequestId(2), input("", "b"), Now::at(1_000));
        // b's rebalance timeout (30 s) raised the group's; use a's for both.
        let out = g.tick(Now::at(DELAY_MS));
        assert!(joins(&out).is_empty(), "b arrived: wait another delay");
        let out = g.tick(Now::at(2 * DELAY_MS));
        assert_eq!(joins(&out).len(), 2);

        // A lone member waits exactly one delay.
        let mut g = new_group();
        g.join(RequestId(1), a, Now::at(0));
        assert!(joins(&g.tick(Now::at(DELAY_MS - 1))).is_empty());
        assert_eq!(joins(&g.tick(Now::at(DELAY_MS))).len(), 1);
    }

    #[test]
    fn initial_delay_extensions_are_capped_by_the_rebalance_timeout() {
        let mut g = new_group();
        let mut a = input("", "a");
        a.rebalance_timeout_ms = 4_000; // 1000 left after the first delay
        g.join(RequestId(1), a.clone(), Now::at(0));
        g.join(RequestId(2), a, Now::at(100));
        let out = g.tick(Now::at(DELAY_MS));
        assert_eq!(timers(&out), vec![DELAY_MS + 1_000]);
        assert_eq!(joins(&g.tick(Now::at(DELAY_MS + 1_000))).len(), 2);
    }

    #[test]
    fn follower_sync_is_cancelled_by_a_new_rebalance() {
        let mut g = new_group();
        let (ids, now) = joined(&mut g, vec![input("", "c0"), input("", "c1")]);
        let out = g.sync(RequestId(5), sync_input(&ids[1], 1, &[]), Now::at(now));
        assert!(syncs(&out).is_empty());
        let out = g.join(RequestId(6), input("", "late"), Now::at(now));
        assert_eq!(
            syncs(&out),
            vec![(RequestId(5), Err(GroupError::RebalanceInProgress))]
        );
        assert_eq!(g.state(), GroupState::PreparingRebalance);
    }

    #[test]
    fn sync_errors() {
        let mut g = new_group();
        let (ids, now) = joined(&mut g, vec![input("", "c0")]);
        let cases = [
            (sync_input(&ids[0], 0, &[]), GroupError::IllegalGeneration),
            (sync_input("nobody", 1, &[]), GroupError::UnknownMemberId),
            (
                SyncInput {
                    protocol_name: Some("roundrobin".into()),
                    ..sync_input(&ids[0], 1, &[])
                },
                GroupError::InconsistentGroupProtocol(
                    "protocol type or name does not match the group's".into(),
                ),
            ),
        ];
        for (inp, expected) in cases {
            let out = g.sync(RequestId(1), inp, Now::at(now));
            assert_eq!(syncs(&out), vec![(RequestId(1), Err(expected))]);
        }
        let (mut g, ids, now) = stable(2);
        g.join(RequestId(2), input("", "x"), Now::at(now));
        let out = g.sync(RequestId(3), sync_input(&ids[1], 1, &[]), Now::at(now));
        assert_eq!(
            syncs(&out),
            vec![(RequestId(3), Err(GroupError::RebalanceInProgress))]
        );
    }

    #[test]
    fn join_validation_errors() {
        let (mut g, ids, now) = stable(1);
        let mut wrong_type = input("", "x");
        wrong_type.protocol_type = "connect".into();
        let mut no_common = input("", "x");
        no_common.protocols = vec![("roundrobin".into(), Bytes::new())];
        let mut short_session = input("", "x");
        short_session.session_timeout_ms = 10;
        let cases = [
            (wrong_type, 23),
            (no_common, 23),
            (short_session, 26),
            (input("unknown", "x"), 25),
        ];
        for (inp, code) in cases {
            let out = g.join(RequestId(1), inp.clone(), Now::at(now));
            let answered = joins(&out);
            assert_eq!(
                answered[0].1.error.as_ref().map(GroupError::code),
                Some(code),
                "{inp:?}"
            );
        }
        assert_eq!(g.state(), GroupState::Stable);
        assert_eq!(g.member_ids(), ids);

        let mut g = ClassicGroup::new(
            "g",
            GroupConfig {
                max_size: 1,
                ..config()
            },
            Box::new(SeqIds(0)),
        );
        g.join(RequestId(1), input("", "a"), Now::at(0));
        let out = g.join(RequestId(2), input("", "b"), Now::at(0));
        assert_eq!(
            joins(&out)[0].1.error,
            Some(GroupError::GroupMaxSizeReached)
        );
    }

    #[test]
    fn protocol_is_chosen_by_vote_among_common_protocols() {
        let mut g = new_group();
        let with = |client: &str, names: &[&str]| JoinInput {
            protocols: names
                .iter()
                .map(|n| (n.to_string(), Bytes::new()))
                .collect(),
            ..input("", client)
        };
        let (_, _) = joined(
            &mut g,
            vec![
                with("a", &["sticky", "range", "roundrobin"]),
                with("b", &["range", "roundrobin"]),
                with("c", &["roundrobin", "range"]),
                with("d", &["range"]),
            ],
        );
        assert_eq!(g.protocol_name(), Some("range"));
    }

    #[test]
    fn completed_group_reloads_from_its_records() {
        let mut rebuilt = new_group();
        let mut h = new_group();
        let (ids2, now2) = joined(
            &mut h,
            (0..3).map(|i| input("", &format!("c{i}"))).collect(),
        );
        for rec in records(&sync_all(&mut h, &ids2, now2)) {
            rebuilt.replay(&rec);
        }
        assert_eq!(rebuilt.state(), GroupState::Stable);
        assert_eq!(rebuilt.generation_id(), 1);
        assert_eq!(rebuilt.leader(), h.leader());
        assert_eq!(rebuilt.member_ids(), h.member_ids());
        assert_eq!(rebuilt.assignment(&ids2[1]), h.assignment(&ids2[1]));
        let out = rebuilt.on_loaded(Now::at(1_000));
        assert_eq!(timers(&out), vec![1_000 + i64::from(SESSION_MS)]);
        let hb = rebuilt.heartbeat(RequestId(1), &ids2[2], None, 1, Now::at(1_000));
        assert_eq!(heartbeat_result(&hb), Ok(()));
    }

    #[test]
    fn only_an_empty_group_can_be_deleted() {
        let (mut g, _, now) = stable(1);
        assert_eq!(g.delete().unwrap_err(), GroupError::NonEmptyGroup);
        let mut g = new_group();
        assert_eq!(
            g.delete().unwrap(),
            vec![Output::Record(GroupRecord::Tombstone)]
        );
        assert_eq!(g.state(), GroupState::Dead);
        let out = g.join(RequestId(1), input("", "a"), Now::at(now));
        assert_eq!(
            joins(&out)[0].1.error,
            Some(GroupError::CoordinatorNotAvailable)
        );
    }

    #[test]
    fn static_rejoin_during_a_rebalance_fences_the_parked_join() {
        let mut g = new_group();
        let (ids, now) = joined(&mut g, vec![static_input("", "i0"), static_input("", "i1")]);
        sync_all(&mut g, &ids, now);
        g.join(RequestId(1), input("", "n"), Now::at(now));
        g.join(RequestId(2), static_input(&ids[1], "i1"), Now::at(now));
        // i1 restarts before the rebalance completes.
        let out = g.join(RequestId(3), static_input("", "i1"), Now::at(now + 1));
        assert_eq!(
            joins(&out),
            vec![(
                RequestId(2),
                JoinResponse::error(&ids[1], GroupError::FencedInstanceId)
            )]
        );
        let out = g.join(RequestId(4), static_input(&ids[0], "i0"), Now::at(now + 2));
        let mut answered: Vec<RequestId> = joins(&out).into_iter().map(|(r, _)| r).collect();
        answered.sort();
        assert_eq!(answered, vec![RequestId(1), RequestId(3), RequestId(4)]);
        assert!(!g.has_member(&ids[1]));
    }

    #[test]
    fn leave_of_a_kip_394_pending_member_unblocks_the_rebalance() {
        let (mut g, ids, now) = stable(1);
        let mut newcomer = input("", "n");
        newcomer.require_known_member_id = true;
        let pending_id = joins(&g.join(RequestId(1), newcomer, Now::at(now)))[0]
            .1
            .member_id
            .clone();
        g.join(RequestId(2), input("", "z"), Now::at(now));
        assert!(joins(&g.join(RequestId(3), input(&ids[0], "c0"), Now::at(now))).is_empty());
        let out = g.leave(
            RequestId(4),
            vec![LeaveMember {
                member_id: pending_id,
                group_instance_id: None,
            }],
            Now::at(now),
        );
        assert_eq!(joins(&out).len(), 2);
        assert_eq!(g.state(), GroupState::CompletingRebalance);
    }

    #[test]
    fn rebalance_deadline_is_announced_as_a_timer() {
        let (mut g, _, now) = stable(2);
        // Sessions end at now + SESSION_MS; the rebalance timeout is later.
        let out = g.join(RequestId(1), input("", "n"), Now::at(now));
        assert!(
            timers(&out).is_empty(),
            "the earliest deadline is unchanged"
        );
        assert_eq!(g.next_deadline_ms(), Some(now + i64::from(SESSION_MS)));
    }

    mod sequences {
        //! Random operation sequences: every request is answered exactly
        //! once, and the group can always be drained back to Empty.

        use std::collections::BTreeMap;

        use proptest::prelude::*;

        use super::*;

        #[derive(Debug, Clone)]
        enum Op {
            JoinNew {
                client: u8,
                kip394: bool,
                instance: Option<u8>,
            },
            Rejoin {
                member: u8,
            },
            Sync {
                member: u8,
                leader_assigns: bool,
            },
            Heartbeat {
                member: u8,
            },
            Leave {
                member: u8,
            },
            Advance {
                ms: u16,
            },
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (0u8..4, any::<bool>(), proptest::option::of(0u8..3)).prop_map(
                    |(client, kip394, instance)| Op::JoinNew {
                        client,
                        kip394,
                        instance
                    }
                ),
                (0u8..8).prop_map(|member| Op::Rejoin { member }),
                (0u8..8, any::<bool>()).prop_map(|(member, leader_assigns)| Op::Sync {
                    member,
                    leader_assigns
                }),
                (0u8..8).prop_map(|member| Op::Heartbeat { member }),
                (0u8..8).prop_map(|member| Op::Leave { member }),
                (0u16..20_000).prop_map(|ms| Op::Advance { ms }),
            ]
        }

        fn record_answers(out: &[Output], answered: &mut BTreeMap<RequestId, usize>) {
            for o in out {
                let request = match o {
                    Output::Join { request, .. }
                    | Output::Sync { request, .. }
                    | Output::Heartbeat { request, .. }
                    | Output::Leave { request, .. } => *request,
                    Output::Record(_) | Output::Timer { .. } => continue,
                };
                *answered.entry(request).or_default() += 1;
            }
        }

        proptest! {
            #[test]
            fn every_request_is_answered_once(ops in proptest::collection::vec(op(), 1..60)) {
                let mut g = new_group();
                let mut now = 0i64;
                let mut next = 0u64;
                let mut issued = Vec::new();
                let mut answered = BTreeMap::new();
                // Ids handed out so far, member or not, to exercise stale ids.
                let mut known: Vec<(String, Option<String>)> = Vec::new();
                let pick = |known: &[(String, Option<String>)], i: u8| {
                    known.get(usize::from(i) % known.len().max(1)).cloned()
                };
                for op in ops {
                    let request = RequestId(next);
                    next += 1;
                    let out = match op {
                        Op::JoinNew { client, kip394, instance } => {
                            let mut inp = input("", &format!("c{client}"));
                            inp.require_known_member_id = kip394;
                            inp.group_instance_id = instance.map(|i| format!("i{i}"));
                            issued.push(request);
                            g.join(request, inp, Now::at(now))
                        }
                        Op::Rejoin { member } => {
                            let Some((id, instance)) = pick(&known, member) else { continue };
                            let mut inp = input(&id, "c");
                            inp.group_instance_id = instance;
                            issued.push(request);
                            g.join(request, inp, Now::at(now))
                        }
                        Op::Sync { member, leader_assigns } => {
                            let Some((id, instance)) = pick(&known, member) else { continue };
                            let mut s = sync_input(&id, g.generation_id(), &[]);
                            s.group_instance_id = instance;
                            if leader_assigns {
                                s.assignments = g
                                    .member_ids()
                                    .into_iter()
                                    .map(|m| (m, Bytes::from_static(b"x")))
                                    .collect();
                            }
                            issued.push(request);
                            g.sync(request, s, Now::at(now))
                        }
                        Op::Heartbeat { member } => {
                            let Some((id, instance)) = pick(&known, member) else { continue };
                            issued.push(request);
                            g.heartbeat(request, &id, instance.as_deref(), g.generation_id(), Now::at(now))
                        }
                        Op::Leave { member } => {
                            let Some((id, instance)) = pick(&known, member) else { continue };
                            issued.push(request);
                            g.leave(request, vec![LeaveMember { member_id: id, group_instance_id: instance }], Now::at(now))
                        }
                        Op::Advance { ms } => {
                            now += i64::from(ms);
                            g.tick(Now::at(now))
                        }
                    };
                    for o in &out {
                        if let Output::Join { response, .. } = o
                            && !response.member_id.is_empty()
                        {
                            let instance = g
                                .members
                                .get(&response.member_id)
                                .and_then(|m| m.group_instance_id.clone());
                            known.push((response.member_id.clone(), instance));
                        }
                    }
                    record_answers(&out, &mut answered);
                }
                // Drain: everyone leaves, then every timer runs out.
                let leaving: Vec<LeaveMember> = g
                    .member_ids()
                    .into_iter()
                    .map(|m| LeaveMember { member_id: m, group_instance_id: None })
                    .collect();
                issued.push(RequestId(next));
                record_answers(&g.leave(RequestId(next), leaving, Now::at(now)), &mut answered);
                // An initial delay may extend itself a few times.
                for _ in 0..100 {
                    let Some(deadline) = g.next_deadline_ms() else { break };
                    now = now.max(deadline);
                    record_answers(&g.tick(Now::at(now)), &mut answered);
                }
                prop_assert_eq!(g.state(), GroupState::Empty);
                for r in &issued {
                    prop_assert_eq!(answered.get(r).copied(), Some(1), "request {:?}", r);
                }
                prop_assert_eq!(answered.len(), issued.len());
            }
        }
    }
}
