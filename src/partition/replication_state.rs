//! The replication state of one partition, as its leader (or a follower)
//! keeps it: leader epoch, partition epoch, replica set, the ISR with the
//! change to it waiting for the controller, each follower's fetch position,
//! and the high watermark. A plain struct without I/O and without a clock:
//! the caller feeds it the metadata image's registration, follower fetches,
//! local appends, timer ticks and the controller's AlterPartition answers,
//! each with `now_ms`, and acts on what each method returns (an
//! AlterPartition request to send, a new high watermark to publish).
//!
//! Kafka counterparts: `kafka.cluster.Partition` (`makeLeader`,
//! `makeFollower`, `updateFollowerFetchState`, `maybeExpandIsr`,
//! `maybeShrinkIsr`, `maybeIncrementLeaderHW`, `checkEnoughReplicasReachOffset`,
//! the append-time `min.insync.replicas` check of `appendRecordsToLeader`,
//! the AlterPartition answer handling); its `PartitionState` family
//! (`CommittedPartitionState`, `PendingExpandIsr`, `PendingShrinkIsr`, KIP-497)
//! as [`IsrState`]; `Replica`/`ReplicaState` as [`FollowerState`]; the
//! broker-epoch rules of KIP-903.
//!
//! Invariants (checked by `debug_assert!` after every transition):
//! - `high_watermark <= log_end_offset`, and the high watermark never moves
//!   back while this node leads (a follower whose log end offset drops, as
//!   after a truncation, holds it where it is);
//! - at most one AlterPartition is in flight ([`IsrState::is_inflight`]), and
//!   while one is, no other is prepared;
//! - the high watermark is computed over the *maximal* ISR: the committed ISR
//!   plus a replica being added (an addition only makes the rule stricter, so
//!   it is safe before the controller agrees); a replica being removed still
//!   counts until the controller commits its removal;
//! - the high watermark does not advance while the committed ISR is smaller
//!   than `min.insync.replicas` (capped at the replication factor), as Kafka
//!   4.x does (KIP-966 part 1);
//! - a registration (from a `PartitionRecord`/`PartitionChangeRecord`) older
//!   than the state's leader or partition epoch is refused, and accepting
//!   one drops any pending ISR change (the image is the truth; a late answer
//!   to the dropped request is then ignored).
//!
//! Who calls it: the partition's driver, under the partition's own lock, in
//! the order events happen. The leader's log end offset is reported by the
//! driver ([`ReplicationState::leader_appended`]) before a follower fetch
//! can see the appended records. Not yet wired into the broker.

use std::collections::BTreeMap;

use crate::common::ids::{BrokerEpoch, BrokerId, LeaderEpoch, Offset, PartitionEpoch};
use crate::metadata::{MetadataImage, PartitionImage};

#[cfg(test)]
mod tests;

/// The configs the replication rules read, resolved for this partition's
/// topic by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicationConfig {
    /// `min.insync.replicas`.
    pub min_insync_replicas: i32,
    /// `replica.lag.time.max.ms`: how long a follower may go without
    /// catching up to the leader's log end offset before it leaves the ISR.
    pub replica_lag_time_max_ms: i64,
}

/// The partition as the metadata image registers it: what a
/// `PartitionRecord` and the `PartitionChangeRecord`s after it add up to
/// (Kafka's `PartitionRegistration`, the part replication reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRegistration {
    /// [`BrokerId::NONE`] when the partition has no leader.
    pub leader: BrokerId,
    pub leader_epoch: LeaderEpoch,
    pub partition_epoch: PartitionEpoch,
    pub replicas: Vec<BrokerId>,
    pub isr: Vec<BrokerId>,
}

impl From<&PartitionImage> for PartitionRegistration {
    fn from(image: &PartitionImage) -> Self {
        PartitionRegistration {
            leader: BrokerId(image.leader),
            leader_epoch: LeaderEpoch(image.leader_epoch),
            partition_epoch: PartitionEpoch(image.partition_epoch),
            replicas: image.replicas.iter().copied().map(BrokerId).collect(),
            isr: image.isr.iter().copied().map(BrokerId).collect(),
        }
    }
}

/// A broker as the image registers it: what ISR eligibility reads (Kafka's
/// `isReplicaIsrEligible` over the `KRaftMetadataCache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerStatus {
    pub broker_epoch: BrokerEpoch,
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
}

/// Where the state looks brokers up: the metadata image in the broker, a
/// map in tests. `None` for a broker that is not registered.
pub trait BrokerRegistry {
    fn broker_status(&self, broker_id: BrokerId) -> Option<BrokerStatus>;
}

impl BrokerRegistry for MetadataImage {
    fn broker_status(&self, broker_id: BrokerId) -> Option<BrokerStatus> {
        self.brokers.get(&broker_id.0).map(|b| BrokerStatus {
            broker_epoch: BrokerEpoch(b.broker_epoch),
            fenced: b.fenced,
            in_controlled_shutdown: b.in_controlled_shutdown,
        })
    }
}

impl BrokerRegistry for BTreeMap<BrokerId, BrokerStatus> {
    fn broker_status(&self, broker_id: BrokerId) -> Option<BrokerStatus> {
        self.get(&broker_id).copied()
    }
}

/// The epoch of a registered, unfenced broker (Kafka's
/// `getAliveBrokerEpoch`).
fn alive_broker_epoch(brokers: &impl BrokerRegistry, id: BrokerId) -> Option<BrokerEpoch> {
    brokers
        .broker_status(id)
        .filter(|b| !b.fenced)
        .map(|b| b.broker_epoch)
}

/// What the leader knows of one follower, from its fetches (Kafka's
/// `ReplicaState`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerState {
    /// `None` until the follower fetches from this leader.
    pub log_start_offset: Option<Offset>,
    /// The follower's log end offset: the offset of its last fetch. `None`
    /// until it fetches from this leader; an unknown end offset holds the
    /// high watermark back when the follower is in the ISR.
    pub log_end_offset: Option<Offset>,
    /// The leader's log end offset when the previous fetch arrived (`None`:
    /// unknown, which any fetch offset reaches).
    pub last_fetch_leader_log_end_offset: Option<Offset>,
    pub last_fetch_time_ms: i64,
    /// The latest time at which the follower was known to have every record
    /// the leader had: what `replica.lag.time.max.ms` is measured from.
    pub last_caught_up_time_ms: i64,
    /// The broker epoch its last fetch carried ([`BrokerEpoch::NONE`] when
    /// the fetch had none); `None` when it has not fetched from this leader.
    pub broker_epoch: Option<BrokerEpoch>,
}

impl FollowerState {
    /// A replica this leader has not heard from (Kafka's `ReplicaState.Empty`).
    fn empty() -> Self {
        FollowerState {
            log_start_offset: None,
            log_end_offset: None,
            last_fetch_leader_log_end_offset: Some(Offset(0)),
            last_fetch_time_ms: 0,
            last_caught_up_time_ms: 0,
            broker_epoch: None,
        }
    }

    /// Caught up: at the leader's log end offset, or caught up within the
    /// last `replica.lag.time.max.ms` (Kafka's `ReplicaState.isCaughtUp`).
    pub fn is_caught_up(
        &self,
        leader_log_end_offset: Offset,
        now_ms: i64,
        max_lag_ms: i64,
    ) -> bool {
        self.log_end_offset == Some(leader_log_end_offset)
            || now_ms - self.last_caught_up_time_ms <= max_lag_ms
    }

    /// Records a fetch at `fetch_offset` that arrived at `now_ms` while the
    /// leader's log end offset was `leader_log_end_offset`. The follower was
    /// caught up now if it asked for the leader's end; it was caught up at
    /// the previous fetch's time if it now asks for at least what the leader
    /// had then (so a follower that always trails a busy leader by one small
    /// append still counts as in sync).
    fn record_fetch(&mut self, fetch: &FollowerFetch, leader_log_end_offset: Offset, now_ms: i64) {
        let reached_previous = self
            .last_fetch_leader_log_end_offset
            .is_none_or(|previous| fetch.fetch_offset >= previous);
        if fetch.fetch_offset >= leader_log_end_offset {
            self.last_caught_up_time_ms = self.last_caught_up_time_ms.max(now_ms);
        } else if reached_previous {
            self.last_caught_up_time_ms = self.last_caught_up_time_ms.max(self.last_fetch_time_ms);
        }
        self.log_start_offset = Some(fetch.log_start_offset);
        self.log_end_offset = Some(fetch.fetch_offset);
        self.last_fetch_leader_log_end_offset = Some(
            self.last_fetch_leader_log_end_offset
                .map_or(leader_log_end_offset, |o| o.max(leader_log_end_offset)),
        );
        self.last_fetch_time_ms = now_ms;
        self.broker_epoch = Some(fetch.broker_epoch);
    }
}

/// A follower's Fetch of this partition, as far as replication reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerFetch {
    pub replica_id: BrokerId,
    /// `ReplicaState.ReplicaEpoch` (Fetch v15+, KIP-903); [`BrokerEpoch::NONE`]
    /// when the request has none.
    pub broker_epoch: BrokerEpoch,
    /// The follower's view of the leader epoch (KIP-320); `None` skips the
    /// check.
    pub current_leader_epoch: Option<LeaderEpoch>,
    /// The follower's log end offset.
    pub fetch_offset: Offset,
    pub log_start_offset: Offset,
}

/// One member of the ISR an AlterPartition proposes, with the broker epoch
/// the leader last saw from it (`NewIsrWithEpochs`, KIP-903).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsrMember {
    pub broker_id: BrokerId,
    pub broker_epoch: BrokerEpoch,
}

/// Which way a pending AlterPartition moves the ISR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IsrChange {
    Expand { replica: BrokerId },
    Shrink { replicas: Vec<BrokerId> },
}

/// Identifies one AlterPartition this state prepared, so that its answer
/// can be matched to it; a retry keeps the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlterPartitionId(pub u64);

/// An AlterPartition for the controller: the effect of an ISR change (one
/// partition's entry of Kafka's AlterPartition v3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartitionRequest {
    pub id: AlterPartitionId,
    /// The leader (this broker) and its broker epoch.
    pub broker_id: BrokerId,
    pub broker_epoch: BrokerEpoch,
    pub leader_epoch: LeaderEpoch,
    /// The partition epoch the change was computed from.
    pub partition_epoch: PartitionEpoch,
    pub new_isr: Vec<IsrMember>,
    pub change: IsrChange,
}

impl AlterPartitionRequest {
    pub fn new_isr_ids(&self) -> Vec<BrokerId> {
        self.new_isr.iter().map(|m| m.broker_id).collect()
    }
}

/// The ISR and the change to it the controller has not answered yet
/// (Kafka's `CommittedPartitionState`, `PendingExpandIsr`, `PendingShrinkIsr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IsrState {
    Committed {
        isr: Vec<BrokerId>,
    },
    PendingExpand {
        committed: Vec<BrokerId>,
        request: AlterPartitionRequest,
    },
    PendingShrink {
        committed: Vec<BrokerId>,
        request: AlterPartitionRequest,
    },
}

impl IsrState {
    /// The ISR the controller has committed.
    pub fn isr(&self) -> &[BrokerId] {
        match self {
            IsrState::Committed { isr } => isr,
            IsrState::PendingExpand { committed, .. }
            | IsrState::PendingShrink { committed, .. } => committed,
        }
    }

    /// The ISR the high watermark and acks=all wait for: the committed one
    /// plus a replica being added; a replica being removed still counts.
    pub fn maximal_isr(&self) -> Vec<BrokerId> {
        let mut isr = self.isr().to_vec();
        if let IsrState::PendingExpand { request, .. } = self
            && let IsrChange::Expand { replica } = request.change
            && !isr.contains(&replica)
        {
            isr.push(replica);
        }
        isr
    }

    pub fn is_inflight(&self) -> bool {
        self.pending().is_some()
    }

    /// The AlterPartition waiting for the controller, if any.
    pub fn pending(&self) -> Option<&AlterPartitionRequest> {
        match self {
            IsrState::Committed { .. } => None,
            IsrState::PendingExpand { request, .. } | IsrState::PendingShrink { request, .. } => {
                Some(request)
            }
        }
    }
}

/// This node's part in the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Neither: no registration accepted yet.
    None,
    Leader,
    /// Following `leader` ([`BrokerId::NONE`] when the partition has none).
    Follower {
        leader: BrokerId,
    },
}

/// The controller's answer to one AlterPartition, for this partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterPartitionAnswer {
    /// The partition as the controller now registers it.
    Accepted {
        leader_epoch: LeaderEpoch,
        partition_epoch: PartitionEpoch,
        isr: Vec<BrokerId>,
    },
    Refused(AlterPartitionRefusal),
}

/// Why the controller refused an AlterPartition (its partition-level error
/// code, as the driver decodes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlterPartitionRefusal {
    /// OPERATION_NOT_ATTEMPTED: the request was not applied.
    OperationNotAttempted,
    /// INELIGIBLE_REPLICA: a proposed member is fenced, shutting down or
    /// of another broker epoch; not applied.
    IneligibleReplica,
    /// UNKNOWN_TOPIC_OR_PARTITION.
    UnknownTopicOrPartition,
    /// UNKNOWN_TOPIC_ID.
    UnknownTopicId,
    /// FENCED_LEADER_EPOCH: the controller has a newer leader epoch.
    FencedLeaderEpoch,
    /// INVALID_UPDATE_VERSION: the partition epoch is not the controller's.
    InvalidUpdateVersion,
    /// INVALID_REQUEST.
    InvalidRequest,
    /// NEW_LEADER_ELECTED: applied, but a reassignment moved the leadership.
    NewLeaderElected,
    /// Any other code: worth another try.
    Other { error_code: i16 },
}

/// What an AlterPartition answer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterPartitionOutcome {
    /// The new ISR and partition epoch are committed; the high watermark may
    /// have advanced (a shrink committed).
    Committed {
        isr: Vec<BrokerId>,
        partition_epoch: PartitionEpoch,
        high_watermark: Option<Offset>,
    },
    /// The answer is for no pending request: the registration from the
    /// image replaced it, or an answer was already taken. Nothing changed.
    NotPending,
    /// Accepted for another leader epoch, or for an older partition epoch
    /// than ours: ignored, the change stays pending until the image speaks.
    Stale,
    /// Refused without being applied: back to the committed ISR, so that the
    /// next fetch or shrink tick may propose again.
    Reverted(AlterPartitionRefusal),
    /// Refused because our view is out of date: the change stays pending
    /// (no other is proposed) until a registration from the image replaces
    /// it.
    AwaitingMetadata(AlterPartitionRefusal),
    /// Send this same request again.
    Retry(AlterPartitionRequest),
}

/// What accepting a registration as leader did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderChange {
    /// This node did not lead the partition before.
    pub is_new_leader: bool,
    /// The leader epoch moved: followers' fetch state was reset and the
    /// epoch starts at [`ReplicationState::leader_epoch_start_offset`].
    pub is_new_leader_epoch: bool,
    /// The high watermark advanced to this (the ISR may be down to one).
    pub high_watermark: Option<Offset>,
}

/// What accepting a registration as follower did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerChange {
    /// The fetcher must restart against the (possibly same) leader.
    pub is_new_leader_epoch: bool,
}

/// What a follower's fetch did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FollowerFetchOutcome {
    /// The high watermark advanced to this.
    pub high_watermark: Option<Offset>,
    /// An ISR expansion to send to the controller.
    pub alter_partition: Option<AlterPartitionRequest>,
}

/// A registration the state refuses: older than what it has. Logged by the
/// driver; never a client's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationRefused {
    #[error("leader epoch {registered} is older than the current {current}")]
    StaleLeaderEpoch {
        registered: LeaderEpoch,
        current: LeaderEpoch,
    },
    #[error("partition epoch {registered} is older than the current {current}")]
    StalePartitionEpoch {
        registered: PartitionEpoch,
        current: PartitionEpoch,
    },
    #[error("the registration names leader {leader}, not this broker")]
    NotLeader { leader: BrokerId },
    #[error("the registration names this broker as its leader")]
    IsLeader,
}

/// What replication refuses a fetch, an append or an acks=all wait with.
/// `handlers::errors` maps each variant to a Kafka code, once (the code
/// Kafka answers is named on each).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicationError {
    /// NOT_LEADER_OR_FOLLOWER.
    #[error("this broker is not the leader of the partition")]
    NotLeaderOrFollower,
    /// FENCED_LEADER_EPOCH: the requester is behind.
    #[error("the leader epoch in the request ({requested}) is older than the broker's ({current})")]
    FencedLeaderEpoch {
        requested: LeaderEpoch,
        current: LeaderEpoch,
    },
    /// UNKNOWN_LEADER_EPOCH: the broker is behind.
    #[error("the leader epoch in the request ({requested}) is newer than the broker's ({current})")]
    UnknownLeaderEpoch {
        requested: LeaderEpoch,
        current: LeaderEpoch,
    },
    /// UNKNOWN_LEADER_EPOCH, as Kafka answers a replica fetch from a broker
    /// outside the replica set (e.g. one a reassignment is still adding),
    /// so that it retries.
    #[error(
        "replica {replica_id} is not a replica of the partition in leader epoch {leader_epoch}"
    )]
    UnknownReplica {
        replica_id: BrokerId,
        leader_epoch: LeaderEpoch,
    },
    /// NOT_LEADER_OR_FOLLOWER: the fetch comes from an earlier incarnation
    /// of the follower's broker (KIP-903).
    #[error(
        "stale fetch from replica {replica_id}: broker epoch {fetch_epoch}, registered {registered_epoch}"
    )]
    StaleBrokerEpoch {
        replica_id: BrokerId,
        fetch_epoch: BrokerEpoch,
        registered_epoch: BrokerEpoch,
    },
    /// OFFSET_OUT_OF_RANGE: a follower cannot be ahead of its leader.
    #[error("fetch offset {fetch_offset} is past the log end offset {log_end_offset}")]
    OffsetOutOfRange {
        fetch_offset: Offset,
        log_end_offset: Offset,
    },
    /// NOT_ENOUGH_REPLICAS: refused before the append.
    #[error(
        "the ISR {isr:?} is insufficient to satisfy the min.isr requirement of {min_insync_replicas}"
    )]
    NotEnoughReplicas {
        isr: Vec<BrokerId>,
        min_insync_replicas: i32,
    },
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND: appended and replicated, but the
    /// ISR shrank below `min.insync.replicas` meanwhile.
    #[error(
        "the records were appended, but the ISR {isr:?} has fewer than min.insync.replicas {min_insync_replicas} members"
    )]
    NotEnoughReplicasAfterAppend {
        isr: Vec<BrokerId>,
        min_insync_replicas: i32,
    },
}

/// One partition's replication state on this broker. See the module header
/// for the rules and invariants.
#[derive(Debug, Clone)]
pub struct ReplicationState {
    local_broker_id: BrokerId,
    local_broker_epoch: BrokerEpoch,
    role: Role,
    leader_epoch: LeaderEpoch,
    partition_epoch: PartitionEpoch,
    replicas: Vec<BrokerId>,
    isr: IsrState,
    /// Every replica but this one, while this node leads; empty otherwise.
    followers: BTreeMap<BrokerId, FollowerState>,
    /// The local log's end offset, as the driver reports it.
    log_end_offset: Offset,
    high_watermark: Offset,
    /// Where the current leader epoch's records start, while leading.
    leader_epoch_start_offset: Option<Offset>,
    next_alter_partition_id: u64,
}

impl ReplicationState {
    /// A partition this broker (`local_broker_id`, registered at
    /// `local_broker_epoch`) hosts, with the local log's end offset and high
    /// watermark as opened; it neither leads nor follows until a
    /// registration is accepted.
    pub fn new(
        local_broker_id: BrokerId,
        local_broker_epoch: BrokerEpoch,
        log_end_offset: Offset,
        high_watermark: Offset,
    ) -> Self {
        let state = ReplicationState {
            local_broker_id,
            local_broker_epoch,
            role: Role::None,
            leader_epoch: LeaderEpoch::NONE,
            partition_epoch: PartitionEpoch::NONE,
            replicas: Vec::new(),
            isr: IsrState::Committed { isr: Vec::new() },
            followers: BTreeMap::new(),
            log_end_offset,
            high_watermark: high_watermark.min(log_end_offset),
            leader_epoch_start_offset: None,
            next_alter_partition_id: 0,
        };
        state.debug_check();
        state
    }

    /// This broker registered again (a restart opened the partition from
    /// the metadata on disk, before the new registration): the epoch the
    /// next AlterPartition carries, for the leader and its own ISR entry.
    pub fn set_local_broker_epoch(&mut self, epoch: BrokerEpoch) {
        self.local_broker_epoch = epoch;
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    pub fn leader_epoch(&self) -> LeaderEpoch {
        self.leader_epoch
    }

    pub fn partition_epoch(&self) -> PartitionEpoch {
        self.partition_epoch
    }

    pub fn replicas(&self) -> &[BrokerId] {
        &self.replicas
    }

    /// The committed ISR (empty on a follower, as in Kafka).
    pub fn isr(&self) -> &[BrokerId] {
        self.isr.isr()
    }

    pub fn isr_state(&self) -> &IsrState {
        &self.isr
    }

    pub fn high_watermark(&self) -> Offset {
        self.high_watermark
    }

    pub fn log_end_offset(&self) -> Offset {
        self.log_end_offset
    }

    pub fn leader_epoch_start_offset(&self) -> Option<Offset> {
        self.leader_epoch_start_offset
    }

    pub fn follower(&self, replica_id: BrokerId) -> Option<&FollowerState> {
        self.followers.get(&replica_id)
    }

    /// `min.insync.replicas` capped at the replication factor, as Kafka caps
    /// it (`effectiveMinIsr`): a setting above the replica count would
    /// otherwise block every acks=all write.
    pub fn effective_min_isr(&self, min_insync_replicas: i32) -> usize {
        (min_insync_replicas.max(0) as usize).min(self.replicas.len().max(1))
    }

    /// Leading with a committed ISR below the effective `min.insync.replicas`.
    pub fn is_under_min_isr(&self, min_insync_replicas: i32) -> bool {
        self.is_leader() && self.isr().len() < self.effective_min_isr(min_insync_replicas)
    }

    /// Leading with a committed ISR smaller than the replica set.
    pub fn is_under_replicated(&self) -> bool {
        self.is_leader() && self.isr().len() < self.replicas.len()
    }

    /// Accepts a registration naming this broker as leader (Kafka's
    /// `makeLeader`). The local log is at `log_end_offset` with
    /// `high_watermark` (as checkpointed, or as last learnt as follower).
    /// A new leader epoch starts at the log end offset, and every follower's
    /// fetch state is reset: an ISR member counts as caught up now, others
    /// as never. Any pending ISR change is dropped for the registration's
    /// ISR.
    pub fn become_leader(
        &mut self,
        registration: &PartitionRegistration,
        log_end_offset: Offset,
        high_watermark: Offset,
        now_ms: i64,
        config: &ReplicationConfig,
        brokers: &impl BrokerRegistry,
    ) -> Result<LeaderChange, RegistrationRefused> {
        if registration.leader != self.local_broker_id {
            return Err(RegistrationRefused::NotLeader {
                leader: registration.leader,
            });
        }
        self.check_not_stale(registration)?;
        let is_new_leader = !self.is_leader();
        let is_new_leader_epoch = registration.leader_epoch > self.leader_epoch || is_new_leader;
        if is_new_leader {
            self.followers.clear();
            self.high_watermark = high_watermark.min(log_end_offset);
        }
        debug_assert!(
            is_new_leader || log_end_offset >= self.log_end_offset,
            "a leader's log does not shrink"
        );
        self.log_end_offset = self.log_end_offset.max(log_end_offset);
        self.set_assignment(registration);
        if is_new_leader_epoch {
            let start = self.log_end_offset;
            for (id, follower) in &mut self.followers {
                let in_sync = registration.isr.contains(id);
                *follower = reset_follower(follower, is_new_leader, in_sync, start, now_ms);
            }
            self.leader_epoch_start_offset = Some(start);
        }
        self.leader_epoch = registration.leader_epoch;
        self.partition_epoch = registration.partition_epoch;
        self.role = Role::Leader;
        let high_watermark = self.maybe_increment_high_watermark(now_ms, config, brokers);
        self.debug_check();
        Ok(LeaderChange {
            is_new_leader,
            is_new_leader_epoch,
            high_watermark,
        })
    }

    /// Accepts a registration naming another broker (or none) as leader
    /// (Kafka's `makeFollower`): the follower keeps no ISR and no follower
    /// state, and drops any pending ISR change.
    pub fn become_follower(
        &mut self,
        registration: &PartitionRegistration,
    ) -> Result<FollowerChange, RegistrationRefused> {
        if registration.leader == self.local_broker_id {
            return Err(RegistrationRefused::IsLeader);
        }
        self.check_not_stale(registration)?;
        let is_new_leader_epoch = registration.leader_epoch > self.leader_epoch;
        self.role = Role::Follower {
            leader: registration.leader,
        };
        self.leader_epoch = registration.leader_epoch;
        self.partition_epoch = registration.partition_epoch;
        self.leader_epoch_start_offset = None;
        self.replicas = registration.replicas.clone();
        self.followers.clear();
        self.isr = IsrState::Committed { isr: Vec::new() };
        self.debug_check();
        Ok(FollowerChange {
            is_new_leader_epoch,
        })
    }

    /// A registration's epochs may equal ours (an AlterPartition answer can
    /// tell us a partition epoch before the image does), never be older.
    fn check_not_stale(
        &self,
        registration: &PartitionRegistration,
    ) -> Result<(), RegistrationRefused> {
        if registration.leader_epoch < self.leader_epoch {
            return Err(RegistrationRefused::StaleLeaderEpoch {
                registered: registration.leader_epoch,
                current: self.leader_epoch,
            });
        }
        if registration.partition_epoch < self.partition_epoch {
            return Err(RegistrationRefused::StalePartitionEpoch {
                registered: registration.partition_epoch,
                current: self.partition_epoch,
            });
        }
        Ok(())
    }

    /// Replaces the replica set and the ISR with the registration's: new
    /// followers start unknown, departed ones are forgotten.
    fn set_assignment(&mut self, registration: &PartitionRegistration) {
        let local = self.local_broker_id;
        self.replicas = registration.replicas.clone();
        self.followers
            .retain(|id, _| registration.replicas.contains(id));
        for id in registration.replicas.iter().filter(|id| **id != local) {
            self.followers
                .entry(*id)
                .or_insert_with(FollowerState::empty);
        }
        self.isr = IsrState::Committed {
            isr: registration.isr.clone(),
        };
    }

    /// Checks a requester's leader epoch (KIP-320) on the leader.
    fn check_leader(&self, requested: Option<LeaderEpoch>) -> Result<(), ReplicationError> {
        if let Some(requested) = requested {
            let current = self.leader_epoch;
            if requested > current {
                return Err(ReplicationError::UnknownLeaderEpoch { requested, current });
            }
            if requested < current {
                return Err(ReplicationError::FencedLeaderEpoch { requested, current });
            }
        }
        if !self.is_leader() {
            return Err(ReplicationError::NotLeaderOrFollower);
        }
        Ok(())
    }

    /// A follower fetched at `fetch.fetch_offset` (Kafka's
    /// `updateFollowerFetchState`): records its position and catch-up time,
    /// may propose adding it to the ISR, and may advance the high watermark.
    /// A fetch from an earlier incarnation of the follower's broker is
    /// refused and changes nothing.
    pub fn follower_fetch(
        &mut self,
        fetch: &FollowerFetch,
        now_ms: i64,
        config: &ReplicationConfig,
        brokers: &impl BrokerRegistry,
    ) -> Result<FollowerFetchOutcome, ReplicationError> {
        self.check_leader(fetch.current_leader_epoch)?;
        let leader_epoch = self.leader_epoch;
        let log_end_offset = self.log_end_offset;
        let Some(follower) = self.followers.get_mut(&fetch.replica_id) else {
            return Err(ReplicationError::UnknownReplica {
                replica_id: fetch.replica_id,
                leader_epoch,
            });
        };
        if fetch.fetch_offset > log_end_offset {
            return Err(ReplicationError::OffsetOutOfRange {
                fetch_offset: fetch.fetch_offset,
                log_end_offset,
            });
        }
        if fetch.broker_epoch != BrokerEpoch::NONE
            && let Some(registered) = alive_broker_epoch(brokers, fetch.replica_id)
            && registered > fetch.broker_epoch
        {
            return Err(ReplicationError::StaleBrokerEpoch {
                replica_id: fetch.replica_id,
                fetch_epoch: fetch.broker_epoch,
                registered_epoch: registered,
            });
        }
        let previous_end = follower.log_end_offset;
        follower.record_fetch(fetch, log_end_offset, now_ms);
        let moved = follower.log_end_offset != previous_end;
        let alter_partition = self.maybe_expand_isr(fetch.replica_id, brokers);
        // A proposed addition only makes the rule stricter: only a moved
        // end offset can advance the high watermark.
        let high_watermark = if moved {
            self.maybe_increment_high_watermark(now_ms, config, brokers)
        } else {
            None
        };
        self.debug_check();
        Ok(FollowerFetchOutcome {
            high_watermark,
            alter_partition,
        })
    }

    /// The local log grew to `log_end_offset` by an append as leader. The
    /// high watermark may advance (with the ISR down to this node alone,
    /// every append is committed at once).
    pub fn leader_appended(
        &mut self,
        log_end_offset: Offset,
        now_ms: i64,
        config: &ReplicationConfig,
        brokers: &impl BrokerRegistry,
    ) -> Result<Option<Offset>, ReplicationError> {
        if !self.is_leader() {
            return Err(ReplicationError::NotLeaderOrFollower);
        }
        debug_assert!(
            log_end_offset >= self.log_end_offset,
            "appends only grow the log"
        );
        self.log_end_offset = self.log_end_offset.max(log_end_offset);
        let high_watermark = self.maybe_increment_high_watermark(now_ms, config, brokers);
        self.debug_check();
        Ok(high_watermark)
    }

    /// The local log grew to `log_end_offset` by a replica fetch from the
    /// leader, whose high watermark was `leader_high_watermark` (Kafka's
    /// `Partition.updateFollowerHighWatermark`): a follower's high watermark
    /// is the leader's, capped at its own end. Returns the new one when it
    /// moved.
    pub fn follower_appended(
        &mut self,
        log_end_offset: Offset,
        leader_high_watermark: Offset,
    ) -> Result<Option<Offset>, ReplicationError> {
        if !matches!(self.role, Role::Follower { .. }) {
            return Err(ReplicationError::NotLeaderOrFollower);
        }
        self.log_end_offset = log_end_offset;
        let high_watermark = leader_high_watermark.min(log_end_offset);
        let moved = high_watermark != self.high_watermark;
        self.high_watermark = high_watermark;
        self.debug_check();
        Ok(moved.then_some(high_watermark))
    }

    /// The local log was truncated to `log_end_offset` as a follower (a
    /// diverging epoch, or the leader's log start past ours): the high
    /// watermark never stays past the end.
    pub fn follower_truncated(&mut self, log_end_offset: Offset) -> Result<(), ReplicationError> {
        if !matches!(self.role, Role::Follower { .. }) {
            return Err(ReplicationError::NotLeaderOrFollower);
        }
        self.log_end_offset = log_end_offset;
        self.high_watermark = self.high_watermark.min(log_end_offset);
        self.debug_check();
        Ok(())
    }

    /// The periodic ISR check (Kafka's `maybeShrinkIsr`, run every half of
    /// `replica.lag.time.max.ms`): the ISR followers not caught up within
    /// `replica.lag.time.max.ms` are proposed for removal. Nothing while a
    /// change is pending or when every follower is in sync. The leader
    /// itself is never removed, so the ISR never empties.
    pub fn maybe_shrink_isr(
        &mut self,
        now_ms: i64,
        config: &ReplicationConfig,
    ) -> Option<AlterPartitionRequest> {
        let IsrState::Committed { isr } = &self.isr else {
            return None;
        };
        if !self.is_leader() {
            return None;
        }
        let out_of_sync: Vec<BrokerId> = isr
            .iter()
            .copied()
            .filter(|id| *id != self.local_broker_id)
            .filter(|id| {
                self.followers.get(id).is_none_or(|f| {
                    !f.is_caught_up(self.log_end_offset, now_ms, config.replica_lag_time_max_ms)
                })
            })
            .collect();
        if out_of_sync.is_empty() {
            return None;
        }
        let new_isr: Vec<BrokerId> = isr
            .iter()
            .copied()
            .filter(|id| !out_of_sync.contains(id))
            .collect();
        let request = self.propose(
            &new_isr,
            IsrChange::Shrink {
                replicas: out_of_sync,
            },
        );
        self.debug_check();
        Some(request)
    }

    /// The controller answered the AlterPartition `id` (Kafka's
    /// `handleAlterPartitionUpdate` / `handleAlterPartitionError`).
    pub fn on_alter_partition_answer(
        &mut self,
        id: AlterPartitionId,
        answer: AlterPartitionAnswer,
        now_ms: i64,
        config: &ReplicationConfig,
        brokers: &impl BrokerRegistry,
    ) -> AlterPartitionOutcome {
        let Some(pending) = self.isr.pending().filter(|p| p.id == id).cloned() else {
            return AlterPartitionOutcome::NotPending;
        };
        let outcome = match answer {
            AlterPartitionAnswer::Accepted {
                leader_epoch,
                partition_epoch,
                isr,
            } => {
                if leader_epoch != self.leader_epoch || partition_epoch < self.partition_epoch {
                    return AlterPartitionOutcome::Stale;
                }
                // A higher partition epoch: the change was applied; an equal
                // one: nothing needed changing. Either way it is settled.
                self.partition_epoch = partition_epoch;
                self.isr = IsrState::Committed { isr: isr.clone() };
                let high_watermark = self.maybe_increment_high_watermark(now_ms, config, brokers);
                AlterPartitionOutcome::Committed {
                    isr,
                    partition_epoch,
                    high_watermark,
                }
            }
            AlterPartitionAnswer::Refused(refusal) => match refusal {
                // The controller says the request was not applied, and will
                // not be by any controller: safe to go back.
                AlterPartitionRefusal::OperationNotAttempted
                | AlterPartitionRefusal::IneligibleReplica => {
                    self.isr = IsrState::Committed {
                        isr: self.isr.isr().to_vec(),
                    };
                    AlterPartitionOutcome::Reverted(refusal)
                }
                // Our view is out of date (or, for NEW_LEADER_ELECTED, the
                // change was applied but this node no longer leads): keep
                // the change pending until the image tells what happened.
                AlterPartitionRefusal::UnknownTopicOrPartition
                | AlterPartitionRefusal::UnknownTopicId
                | AlterPartitionRefusal::FencedLeaderEpoch
                | AlterPartitionRefusal::InvalidUpdateVersion
                | AlterPartitionRefusal::InvalidRequest
                | AlterPartitionRefusal::NewLeaderElected => {
                    AlterPartitionOutcome::AwaitingMetadata(refusal)
                }
                AlterPartitionRefusal::Other { .. } => AlterPartitionOutcome::Retry(pending),
            },
        };
        self.debug_check();
        outcome
    }

    /// The append-time check of an acks=all produce (Kafka's
    /// `appendRecordsToLeader`): refused with NOT_ENOUGH_REPLICAS, before
    /// anything is written, when the committed ISR is smaller than the
    /// effective `min.insync.replicas`. Other acks only need leadership.
    pub fn check_append(
        &self,
        required_acks: i16,
        min_insync_replicas: i32,
    ) -> Result<(), ReplicationError> {
        if !self.is_leader() {
            return Err(ReplicationError::NotLeaderOrFollower);
        }
        if required_acks == -1 && self.is_under_min_isr(min_insync_replicas) {
            return Err(ReplicationError::NotEnoughReplicas {
                isr: self.isr().to_vec(),
                min_insync_replicas,
            });
        }
        Ok(())
    }

    /// Whether an acks=all produce whose last record is before
    /// `required_offset` is committed (Kafka's `checkEnoughReplicasReachOffset`):
    /// `Ok(false)` while the high watermark is below it; once it is reached,
    /// `Ok(true)`, or NOT_ENOUGH_REPLICAS_AFTER_APPEND when the maximal ISR
    /// has shrunk below the effective `min.insync.replicas` since the append.
    pub fn check_enough_replicas(
        &self,
        required_offset: Offset,
        min_insync_replicas: i32,
    ) -> Result<bool, ReplicationError> {
        if !self.is_leader() {
            return Err(ReplicationError::NotLeaderOrFollower);
        }
        if self.high_watermark < required_offset {
            return Ok(false);
        }
        let maximal_isr = self.isr.maximal_isr();
        if maximal_isr.len() < self.effective_min_isr(min_insync_replicas) {
            return Err(ReplicationError::NotEnoughReplicasAfterAppend {
                isr: maximal_isr,
                min_insync_replicas,
            });
        }
        Ok(true)
    }

    /// Proposes adding `replica_id` to the ISR (Kafka's `maybeExpandIsr`)
    /// when nothing is pending, it is not in the ISR, its broker is eligible
    /// and it has caught up to the high watermark and into this leader's
    /// epoch (or it could become leader without the records between the
    /// high watermark and our end).
    fn maybe_expand_isr(
        &mut self,
        replica_id: BrokerId,
        brokers: &impl BrokerRegistry,
    ) -> Option<AlterPartitionRequest> {
        let IsrState::Committed { isr } = &self.isr else {
            return None;
        };
        if isr.contains(&replica_id) || !self.is_isr_eligible(replica_id, brokers) {
            return None;
        }
        let end = self.followers.get(&replica_id)?.log_end_offset?;
        let epoch_start = self.leader_epoch_start_offset?;
        if end < self.high_watermark || end < epoch_start {
            return None;
        }
        let mut new_isr = isr.clone();
        new_isr.push(replica_id);
        Some(self.propose(
            &new_isr,
            IsrChange::Expand {
                replica: replica_id,
            },
        ))
    }

    /// Kafka's `isReplicaIsrEligible` in KRaft mode: the broker is
    /// registered, not fenced, not in controlled shutdown, and the epoch of
    /// its last fetch is the registered one (or the fetch had none).
    fn is_isr_eligible(&self, replica_id: BrokerId, brokers: &impl BrokerRegistry) -> bool {
        let Some(follower) = self.followers.get(&replica_id) else {
            return false;
        };
        let Some(status) = brokers.broker_status(replica_id) else {
            return false;
        };
        let Some(fetched) = follower.broker_epoch else {
            return false;
        };
        !status.fenced
            && !status.in_controlled_shutdown
            && (fetched == BrokerEpoch::NONE || fetched == status.broker_epoch)
    }

    /// Moves the high watermark up to the smallest log end offset among the
    /// maximal ISR and the followers caught up enough to be joining it
    /// (Kafka's `maybeIncrementLeaderHW`; waiting for a joining follower
    /// keeps a single-member ISR from outrunning it forever). Never down,
    /// never past the leader's end, not at all while under min ISR.
    fn maybe_increment_high_watermark(
        &mut self,
        now_ms: i64,
        config: &ReplicationConfig,
        brokers: &impl BrokerRegistry,
    ) -> Option<Offset> {
        if !self.is_leader() || self.is_under_min_isr(config.min_insync_replicas) {
            return None;
        }
        let maximal_isr = self.isr.maximal_isr();
        let mut candidate = self.log_end_offset;
        for (id, follower) in &self.followers {
            // An unknown end offset holds the watermark where it is.
            let end = follower.log_end_offset.unwrap_or(Offset(-1));
            if end >= candidate {
                continue;
            }
            let counts = maximal_isr.contains(id)
                || (follower.is_caught_up(
                    self.log_end_offset,
                    now_ms,
                    config.replica_lag_time_max_ms,
                ) && self.is_isr_eligible(*id, brokers));
            if counts {
                candidate = end;
            }
        }
        if candidate > self.high_watermark {
            self.high_watermark = candidate;
            Some(candidate)
        } else {
            None
        }
    }

    /// Builds the AlterPartition for `new_isr` and makes it the pending
    /// change; the committed ISR stays what it was until the answer.
    fn propose(&mut self, new_isr: &[BrokerId], change: IsrChange) -> AlterPartitionRequest {
        let id = AlterPartitionId(self.next_alter_partition_id);
        self.next_alter_partition_id += 1;
        let new_isr = new_isr
            .iter()
            .map(|&broker_id| IsrMember {
                broker_id,
                // A member whose epoch we have not seen goes as -1: if it
                // restarted meanwhile, the controller has removed it and
                // bumped the partition epoch, which refuses this request.
                broker_epoch: if broker_id == self.local_broker_id {
                    self.local_broker_epoch
                } else {
                    self.followers
                        .get(&broker_id)
                        .and_then(|f| f.broker_epoch)
                        .unwrap_or(BrokerEpoch::NONE)
                },
            })
            .collect();
        let request = AlterPartitionRequest {
            id,
            broker_id: self.local_broker_id,
            broker_epoch: self.local_broker_epoch,
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            new_isr,
            change,
        };
        let committed = self.isr.isr().to_vec();
        self.isr = match request.change {
            IsrChange::Expand { .. } => IsrState::PendingExpand {
                committed,
                request: request.clone(),
            },
            IsrChange::Shrink { .. } => IsrState::PendingShrink {
                committed,
                request: request.clone(),
            },
        };
        request
    }

    fn debug_check(&self) {
        debug_assert!(self.high_watermark <= self.log_end_offset, "{self:?}");
        debug_assert!(
            self.followers
                .values()
                .all(|f| f.log_end_offset.is_none_or(|o| o <= self.log_end_offset)),
            "no follower is ahead of its leader: {self:?}"
        );
        debug_assert!(self.is_leader() || self.followers.is_empty());
        debug_assert!(self.is_leader() || !self.isr.is_inflight());
    }
}

/// A follower's state when this node starts a leader epoch (Kafka's
/// `resetReplicaState`). An ISR member is caught up as of now, so it is not
/// shrunk away before it can fetch; anyone else as of never, so it does not
/// hold the high watermark back. A new leader knows nothing of any
/// follower's log; a re-elected one keeps what it knew.
fn reset_follower(
    previous: &FollowerState,
    is_new_leader: bool,
    in_sync: bool,
    leader_epoch_start_offset: Offset,
    now_ms: i64,
) -> FollowerState {
    let caught_up = if in_sync { now_ms } else { 0 };
    if is_new_leader {
        FollowerState {
            log_start_offset: None,
            log_end_offset: None,
            last_fetch_leader_log_end_offset: None,
            last_fetch_time_ms: 0,
            last_caught_up_time_ms: caught_up,
            broker_epoch: None,
        }
    } else {
        FollowerState {
            last_fetch_leader_log_end_offset: Some(leader_epoch_start_offset),
            last_fetch_time_ms: caught_up,
            last_caught_up_time_ms: caught_up,
            ..previous.clone()
        }
    }
}
