//! One partition hosted here, as leader or follower: its log, its
//! replication state (ISR, high watermark: [`ReplicationState`]) and its
//! producer state. Kafka counterpart: `Partition`.
//!
//! Appends are serialized by the producer-state mutex, which is held across
//! the sequence check, the log append and the state update so that two
//! in-flight batches of one producer can never both pass the check.
//! Readers use the log directly and never take it.
//!
//! The replication state is a plain struct under its own mutex; this file
//! is its driver. An append as leader holds that mutex across the log
//! write and the report of the new log end offset, so a role change never
//! lands in the middle of one, and no follower fetch sees records the
//! state has not been told of. Lock order: producers, then replication.
//!
//! Invariant: high_watermark <= log_end_offset; the atomic mirrors the
//! replication state's, for readers that take no lock.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use tokio::sync::watch;
use uuid::Uuid;

use super::error::ReplicaError;
use super::producer_state::{BatchMetadata, ProducerBatch, ProducerStateManager, SequenceCheck};
use super::replication_state::{
    AlterPartitionAnswer, AlterPartitionId, AlterPartitionOutcome, AlterPartitionRequest,
    FollowerFetch, IsrChange, PartitionRegistration, ReplicationConfig, ReplicationError,
    ReplicationState, Role,
};
use super::snapshot::{self, ProducerSnapshot};
use crate::common::ids::{BrokerEpoch, BrokerId, Offset};
use crate::log::batch::{BatchHeader, BatchIter};
use crate::log::partition_log::SliceInfo;
use crate::log::validate::{AppendOrigin, ProduceRules, ValidatedBatch, validate_produced_batch};
use crate::log::{LogConfig, LogError, PartitionLog};
use crate::metadata::MetadataImage;
use crate::ops::metrics::TopicProbe;

/// The metadata image the replica manager applied last, shared with its
/// partitions: replication reads broker registrations (fencing, epochs)
/// from it.
pub type ImageSlot = Arc<RwLock<Arc<MetadataImage>>>;

/// What applying a registration made of this replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleChange {
    /// Leads, newly or in a new leader epoch.
    Leader { is_new: bool },
    /// Follows `leader` ([`BrokerId::NONE`]: none yet); `restart` when the
    /// fetcher must start over against it.
    Follower { leader: BrokerId, restart: bool },
    /// The registration was older than what the replica has: ignored.
    Unchanged,
}

/// What a leader read for one follower's fetch.
#[derive(Debug)]
pub struct FollowerRead {
    pub slice: Option<crate::log::segment::FileSlice>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    /// The follower's log diverges from ours after the epoch's end
    /// (KIP-320): `(epoch, end_offset)` to truncate to; no records then.
    pub diverging: Option<(i32, i64)>,
    /// An ISR expansion for the controller.
    pub alter_partition: Option<AlterPartitionRequest>,
}

/// The outcome of a produce to one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceResult {
    pub base_offset: i64,
    /// The offset of the last record (for an acks=all wait).
    pub last_offset: i64,
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
    pub record_count: u64,
}

pub struct Partition {
    pub topic: String,
    pub partition: i32,
    pub topic_id: Uuid,
    pub log: Arc<PartitionLog>,
    leader_epoch: AtomicI32,
    high_watermark: AtomicI64,
    /// Publishes each new high watermark (and each role change, so that
    /// acks=all waiters re-check); long-polling fetches wait on it.
    high_watermark_changed: watch::Sender<i64>,
    /// Publishes each new log end offset of an append as leader: what a
    /// follower's long-polling fetch waits on.
    log_end_changed: watch::Sender<i64>,
    replication: Mutex<ReplicationState>,
    local_broker: BrokerId,
    /// Mirrors `replication`'s role, for look-ups that take no lock.
    leading: AtomicBool,
    /// The broker's `replica.lag.time.max.ms`.
    replica_lag_time_max_ms: AtomicI64,
    image: ImageSlot,
    producers: Mutex<ProducerStateManager>,
    /// Bumped whenever the producer state changes; snapshots are written
    /// only when it moved since the last one.
    producers_changed: AtomicU64,
    /// The `producers_changed` value the last snapshot holds.
    snapshot_written: Mutex<Option<u64>>,
    probe: TopicProbe,
}

impl Partition {
    /// Wraps an opened log, loading the producer snapshot and replaying the
    /// log tail after it. The replica neither leads nor follows until
    /// [`Partition::apply_registration`]; its high watermark starts at
    /// `high_watermark` (capped at the log end), and a leader's rises from
    /// there as its ISR confirms.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        topic: String,
        partition: i32,
        topic_id: Uuid,
        log: Arc<PartitionLog>,
        local_broker: (BrokerId, BrokerEpoch),
        high_watermark: i64,
        replica_lag_time_max_ms: i64,
        image: ImageSlot,
    ) -> Partition {
        let end = log.log_end_offset();
        let high_watermark = high_watermark.clamp(log.log_start_offset(), end);
        let p = Partition {
            probe: TopicProbe::for_topic(&topic),
            topic,
            partition,
            topic_id,
            high_watermark: AtomicI64::new(high_watermark),
            high_watermark_changed: watch::channel(high_watermark).0,
            log_end_changed: watch::channel(end).0,
            replication: Mutex::new(ReplicationState::new(
                local_broker.0,
                local_broker.1,
                Offset(end),
                Offset(high_watermark),
            )),
            leading: AtomicBool::new(false),
            local_broker: local_broker.0,
            replica_lag_time_max_ms: AtomicI64::new(replica_lag_time_max_ms),
            image,
            log,
            leader_epoch: AtomicI32::new(-1),
            producers: Mutex::new(ProducerStateManager::default()),
            producers_changed: AtomicU64::new(0),
            snapshot_written: Mutex::new(None),
        };
        p.reload_producer_state();
        p
    }

    /// Loads the producer snapshot when it lies within the log, and replays
    /// the log after it (or the whole log without one): at open, and after
    /// a truncation took records the state had counted.
    fn reload_producer_state(&self) {
        let (state, from) = match snapshot::read(self.log.dir()) {
            Some(s)
                if s.offset <= self.log.log_end_offset()
                    && s.offset >= self.log.log_start_offset() =>
            {
                (s.state, s.offset)
            }
            _ => (ProducerStateManager::default(), self.log.log_start_offset()),
        };
        *self.lock_producers() = state;
        self.producers_changed.fetch_add(1, Ordering::AcqRel);
        if let Err(e) = self.rebuild_producer_state(from) {
            tracing::warn!(topic = %self.topic, partition = self.partition, error = %e, "could not rebuild producer state from the log");
        }
    }

    fn lock_replication(&self) -> std::sync::MutexGuard<'_, ReplicationState> {
        self.replication.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn current_image(&self) -> Arc<MetadataImage> {
        self.image.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn replication_config(&self) -> ReplicationConfig {
        ReplicationConfig {
            min_insync_replicas: self.log.config().min_insync_replicas,
            replica_lag_time_max_ms: self.replica_lag_time_max_ms.load(Ordering::Relaxed),
        }
    }

    pub fn set_replica_lag_time_max_ms(&self, ms: i64) {
        self.replica_lag_time_max_ms.store(ms, Ordering::Relaxed);
    }

    /// Publishes a high watermark the replication state moved to.
    fn publish_high_watermark(&self, high_watermark: Option<Offset>) {
        if let Some(Offset(hw)) = high_watermark {
            self.high_watermark.store(hw, Ordering::Release);
            self.high_watermark_changed.send_replace(hw);
        }
    }

    /// Takes a registration from the metadata image (Kafka's `makeLeader` /
    /// `makeFollower`): this replica leads or follows as it says.
    pub fn apply_registration(
        &self,
        registration: &PartitionRegistration,
        now_ms: i64,
    ) -> RoleChange {
        let image = self.current_image();
        let config = self.replication_config();
        let mut state = self.lock_replication();
        // The image repeats a registration with every change of its topic;
        // taking it again would drop an ISR change in flight.
        if state.role() != Role::None
            && state.leader_epoch() == registration.leader_epoch
            && state.partition_epoch() == registration.partition_epoch
        {
            return RoleChange::Unchanged;
        }
        let change = if registration.leader == self.local_broker {
            let end = Offset(self.log.log_end_offset());
            let hw = state.high_watermark();
            let isr_before = state.is_leader().then(|| state.isr().to_vec());
            match state.become_leader(registration, end, hw, now_ms, &config, &*image) {
                Ok(change) => {
                    // An ISR change the image brought before the
                    // controller's answer to our AlterPartition did.
                    if let Some(before) = isr_before.filter(|_| !change.is_new_leader_epoch) {
                        let after = state.isr();
                        if after.iter().any(|id| !before.contains(id)) {
                            crate::ops::metrics::on_isr_change(false);
                        }
                        if before.iter().any(|id| !after.contains(id)) {
                            crate::ops::metrics::on_isr_change(true);
                        }
                    }
                    if change.is_new_leader_epoch {
                        self.begin_epoch(registration.leader_epoch.0);
                    }
                    self.leader_epoch
                        .store(registration.leader_epoch.0, Ordering::Release);
                    self.leading.store(true, Ordering::Release);
                    self.publish_high_watermark(change.high_watermark);
                    RoleChange::Leader {
                        is_new: change.is_new_leader_epoch,
                    }
                }
                Err(e) => {
                    tracing::debug!(topic = %self.topic, partition = self.partition, error = %e, "registration ignored");
                    RoleChange::Unchanged
                }
            }
        } else {
            let was_leader = state.is_leader();
            match state.become_follower(registration) {
                Ok(change) => {
                    self.leader_epoch
                        .store(registration.leader_epoch.0, Ordering::Release);
                    self.leading.store(false, Ordering::Release);
                    RoleChange::Follower {
                        leader: registration.leader,
                        restart: change.is_new_leader_epoch || was_leader,
                    }
                }
                Err(e) => {
                    tracing::debug!(topic = %self.topic, partition = self.partition, error = %e, "registration ignored");
                    RoleChange::Unchanged
                }
            }
        };
        drop(state);
        // acks=all waiters re-check: they may now be answered
        // NOT_LEADER_OR_FOLLOWER.
        self.high_watermark_changed
            .send_replace(self.high_watermark());
        change
    }

    /// The broker's epoch as the image now registers it.
    pub fn set_broker_epoch(&self, epoch: BrokerEpoch) {
        self.lock_replication().set_local_broker_epoch(epoch);
    }

    pub fn is_leader(&self) -> bool {
        self.leading.load(Ordering::Acquire)
    }

    /// The leader this replica follows, when it follows one.
    pub fn following(&self) -> Option<BrokerId> {
        match self.lock_replication().role() {
            Role::Follower { leader } if leader != BrokerId::NONE => Some(leader),
            _ => None,
        }
    }

    /// Replicas, ISR and whether the ISR is below the replica set, as this
    /// replica's state has them (the ISR only on the leader).
    pub fn isr(&self) -> Vec<i32> {
        self.lock_replication().isr().iter().map(|b| b.0).collect()
    }

    pub fn is_under_replicated(&self) -> bool {
        self.lock_replication().is_under_replicated()
    }

    pub fn is_under_min_isr(&self) -> bool {
        let min_isr = self.log.config().min_insync_replicas;
        self.lock_replication().is_under_min_isr(min_isr)
    }

    /// The leader-epoch cache learns that `epoch` begins at the log end.
    fn begin_epoch(&self, epoch: i32) {
        if let Err(e) = self.log.assign_leader_epoch(epoch) {
            tracing::warn!(topic = %self.topic, partition = self.partition, epoch, error = %e,
                "could not record the new leader epoch");
        }
    }

    fn rebuild_producer_state(&self, mut offset: i64) -> Result<(), LogError> {
        let mut producers = self.lock_producers();
        let end = self.log.log_end_offset();
        while offset < end {
            let read = self.log.read(offset, 1 << 20, i64::MAX)?;
            if read.records.is_empty() {
                break;
            }
            let (_, next) = record_stored_batches(&mut producers, &read.records)?;
            offset = offset.max(next);
        }
        Ok(())
    }

    fn lock_producers(&self) -> std::sync::MutexGuard<'_, ProducerStateManager> {
        self.producers.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    /// OffsetForLeaderEpoch from the log's leader-epoch cache.
    pub fn end_offset_for_epoch(&self, requested: i32) -> (i32, i64) {
        self.log.end_offset_for_epoch(requested)
    }

    /// Checks a client's view of the leader epoch (KIP-320): -1 skips the
    /// check; a newer epoch than ours is UNKNOWN_LEADER_EPOCH (we are
    /// behind), an older one FENCED_LEADER_EPOCH (the client is).
    pub fn check_leader_epoch(&self, requested: i32) -> Result<(), ReplicaError> {
        let current = self.leader_epoch();
        if requested < 0 || requested == current {
            Ok(())
        } else if requested > current {
            Err(ReplicaError::UnknownLeaderEpoch)
        } else {
            Err(ReplicaError::FencedLeaderEpoch)
        }
    }

    /// Counts record bytes a fetch response carries from this partition.
    pub fn record_fetched(&self, bytes: usize) {
        self.probe.record_fetched(bytes);
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log.log_start_offset()
    }

    /// A receiver that changes when the high watermark moves: what a
    /// long-polling fetch of this partition waits on. Subscribe before
    /// reading so an append between the read and the wait is not missed.
    pub fn subscribe_high_watermark(&self) -> watch::Receiver<i64> {
        self.high_watermark_changed.subscribe()
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log.log_end_offset()
    }

    /// Appends the records of one Produce partition entry: exactly one v2
    /// batch, validated as Kafka validates a client's batch
    /// ([`crate::log::validate`]), then checked against its producer's
    /// sequence when idempotent. `acks` -1 is refused NOT_ENOUGH_REPLICAS,
    /// before anything is written, while the ISR is below
    /// `min.insync.replicas`; its wait for the ISR is the caller's
    /// ([`Partition::check_enough_replicas`]).
    pub fn append_produce(
        &self,
        records: Bytes,
        produce_version: i16,
        acks: i16,
        now_ms: i64,
    ) -> Result<ProduceResult, ReplicaError> {
        let config = self.log.config();
        self.lock_replication()
            .check_append(acks, config.min_insync_replicas)
            .map_err(|e| self.replication_error(e))?;
        let rules = produce_rules(&config, AppendOrigin::Client { produce_version }, now_ms);
        let batch = validate_produced_batch(records, &rules)?;
        if batch.header.is_transactional() {
            return Err(ReplicaError::InvalidRecord(
                "transactional batches need the transaction coordinator, which this broker does not run yet".into(),
            ));
        }
        self.append_batch(batch, now_ms)
    }

    /// Appends one batch the broker built itself (a coordinator's records):
    /// validated without the client-only checks.
    pub fn append(&self, records: Bytes, now_ms: i64) -> Result<ProduceResult, ReplicaError> {
        let config = self.log.config();
        let rules = produce_rules(&config, AppendOrigin::Coordinator, now_ms);
        let batch = validate_produced_batch(records, &rules)?;
        self.append_batch(batch, now_ms)
    }

    /// The replica manager's answer for a replication refusal: where the
    /// client is to go for NOT_LEADER_OR_FOLLOWER (KIP-951), else the
    /// matching error.
    fn replication_error(&self, e: ReplicationError) -> ReplicaError {
        match e {
            ReplicationError::NotLeaderOrFollower | ReplicationError::StaleBrokerEpoch { .. } => {
                let image = self.current_image();
                super::manager::not_served(&image, &self.topic, self.partition)
            }
            e => ReplicaError::Replication(e),
        }
    }

    fn append_batch(
        &self,
        batch: ValidatedBatch,
        now_ms: i64,
    ) -> Result<ProduceResult, ReplicaError> {
        let header = batch.header;
        let mut producers = self.lock_producers();
        let idempotent = header.producer_id >= 0;
        if idempotent {
            let (entry, _) = producer_entry(&header, -1, -1);
            if let SequenceCheck::Duplicate(meta) = producers.check(entry)? {
                tracing::debug!(topic = %self.topic, partition = self.partition, producer_id = header.producer_id,
                    first_seq = meta.first_seq, "duplicate batch answered with its original offsets");
                return Ok(ProduceResult {
                    base_offset: meta.base_offset,
                    last_offset: meta.last_offset,
                    log_append_time_ms: meta.log_append_time_ms,
                    log_start_offset: self.log.log_start_offset(),
                    record_count: 0,
                });
            }
        }
        let image = self.current_image();
        let config = self.replication_config();
        // Held across the write: no role change in the middle of it, and
        // the state knows the new end before any follower can fetch it.
        let mut state = self.lock_replication();
        if !state.is_leader() {
            drop(state);
            return Err(self.replication_error(ReplicationError::NotLeaderOrFollower));
        }
        let bytes = batch.bytes.len();
        let segments_before = self.log.segment_count();
        let info = self
            .log
            .append_validated(&batch, self.leader_epoch(), now_ms)?;
        let end = self.log.log_end_offset();
        let high_watermark = state
            .leader_appended(Offset(end), now_ms, &config, &*image)
            .unwrap_or(None);
        self.publish_high_watermark(high_watermark);
        drop(state);
        self.log_end_changed.send_replace(end);
        self.probe.record(bytes, info.record_count);
        if idempotent {
            // A retry of this batch is answered with its max timestamp as
            // the log append time, as Kafka answers duplicates.
            let (entry, meta) = producer_entry(&header, info.base_offset, header.max_timestamp);
            // The batch's own time, as on rebuild and in Kafka: expiry
            // counts from the producer's last timestamp.
            let timestamp = if info.log_append_time_ms >= 0 {
                info.log_append_time_ms
            } else {
                header.max_timestamp
            };
            producers.record(entry, meta, timestamp);
            self.producers_changed.fetch_add(1, Ordering::AcqRel);
        }
        drop(producers);
        debug_assert!(self.high_watermark() <= self.log.log_end_offset());
        if idempotent && self.log.segment_count() != segments_before {
            // Kafka snapshots producer state on every roll, so a recovery
            // replays at most the active segment.
            if let Err(e) = self.snapshot_producers(now_ms, i64::MAX, false) {
                tracing::warn!(topic = %self.topic, partition = self.partition, error = %e, "producer snapshot on roll failed");
            }
        }
        Ok(ProduceResult {
            base_offset: info.base_offset,
            last_offset: info.last_offset,
            log_append_time_ms: info.log_append_time_ms,
            log_start_offset: info.log_start_offset,
            record_count: info.record_count,
        })
    }

    /// Whether an acks=all append ending before `required_offset` is
    /// committed: `Ok(false)` while the ISR has not all of it; then
    /// `Ok(true)`, or NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank
    /// below `min.insync.replicas` meanwhile, or NOT_LEADER_OR_FOLLOWER when
    /// leadership moved.
    pub fn check_enough_replicas(&self, required_offset: i64) -> Result<bool, ReplicaError> {
        let min_isr = self.log.config().min_insync_replicas;
        let result = self
            .lock_replication()
            .check_enough_replicas(Offset(required_offset), min_isr);
        result.map_err(|e| self.replication_error(e))
    }

    /// A follower's fetch at `fetch.fetch_offset` whose last batch was of
    /// `last_fetched_epoch` (-1: not said, Fetch below v12): the follower's
    /// state is recorded (the high watermark may advance, an ISR expansion
    /// be proposed), then the records from there up to the log end are
    /// read. A follower whose log diverges from ours (KIP-320) gets where
    /// to truncate to instead, and nothing is recorded for it.
    pub fn read_for_follower(
        &self,
        fetch: &FollowerFetch,
        last_fetched_epoch: i32,
        max_bytes: usize,
        now_ms: i64,
    ) -> Result<FollowerRead, ReplicaError> {
        let image = self.current_image();
        let config = self.replication_config();
        let mut state = self.lock_replication();
        if !state.is_leader() {
            drop(state);
            return Err(self.replication_error(ReplicationError::NotLeaderOrFollower));
        }
        if let Some(requested) = fetch.current_leader_epoch
            && requested != state.leader_epoch()
        {
            let current = state.leader_epoch();
            drop(state);
            return Err(if requested > current {
                ReplicaError::UnknownLeaderEpoch
            } else {
                ReplicaError::FencedLeaderEpoch
            });
        }
        if last_fetched_epoch >= 0 {
            let (epoch, end) = self.log.end_offset_for_epoch(last_fetched_epoch);
            if epoch < last_fetched_epoch || end < fetch.fetch_offset.0 {
                return Ok(FollowerRead {
                    slice: None,
                    high_watermark: state.high_watermark().0,
                    log_start_offset: self.log.log_start_offset(),
                    log_end_offset: self.log.log_end_offset(),
                    diverging: Some((epoch, end)),
                    alter_partition: None,
                });
            }
        }
        let outcome = state
            .follower_fetch(fetch, now_ms, &config, &*image)
            .map_err(|e| match e {
                ReplicationError::OffsetOutOfRange { .. } => ReplicaError::OffsetOutOfRange,
                ReplicationError::FencedLeaderEpoch { .. } => ReplicaError::FencedLeaderEpoch,
                ReplicationError::UnknownLeaderEpoch { .. }
                | ReplicationError::UnknownReplica { .. } => ReplicaError::UnknownLeaderEpoch,
                e => ReplicaError::Replication(e),
            });
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                drop(state);
                return Err(match e {
                    ReplicaError::Replication(e) => self.replication_error(e),
                    e => e,
                });
            }
        };
        self.publish_high_watermark(outcome.high_watermark);
        let high_watermark = state.high_watermark().0;
        drop(state);
        let end = self.log.log_end_offset();
        let info = self
            .log
            .fetch_slice(fetch.fetch_offset.0, max_bytes, end, true)?;
        Ok(FollowerRead {
            slice: info.slice,
            high_watermark,
            log_start_offset: info.log_start_offset,
            log_end_offset: info.log_end_offset,
            diverging: None,
            alter_partition: outcome.alter_partition,
        })
    }

    /// Appends what a replica fetch brought from the leader (offsets and
    /// epochs as the leader assigned them), builds producer state from the
    /// batches (so a retry after a failover to this replica is still known
    /// as a duplicate), and takes the leader's high watermark, capped at
    /// our end. A trailing batch cut short by the leader's byte limit is
    /// left for the next fetch.
    pub fn append_as_follower(
        &self,
        records: &Bytes,
        leader_high_watermark: i64,
    ) -> Result<(), ReplicaError> {
        let whole = whole_batches(records);
        let mut producers = self.lock_producers();
        let mut state = self.lock_replication();
        check_follower(&state)?;
        let mut idempotent = false;
        if !whole.is_empty() {
            // Only batches past our end: a response to a fetch raced by a
            // truncation may repeat what we have.
            let from = self.log.log_end_offset();
            let new = skip_below(&whole, from);
            if !new.is_empty() {
                self.log.append_as_follower(new.clone())?;
                idempotent = record_stored_batches(&mut producers, &new)?.0;
            }
        }
        if idempotent {
            self.producers_changed.fetch_add(1, Ordering::AcqRel);
        }
        drop(producers);
        let end = Offset(self.log.log_end_offset());
        let moved = state
            .follower_appended(end, Offset(leader_high_watermark))
            .unwrap_or(None);
        self.publish_high_watermark(moved);
        Ok(())
    }

    /// Truncates this follower's log to `offset` (a batch holding it goes
    /// whole), rebuilding the producer state the removed batches counted.
    pub fn truncate_as_follower(&self, offset: i64) -> Result<(), ReplicaError> {
        let _producers = self.lock_producers();
        let mut state = self.lock_replication();
        check_follower(&state)?;
        if offset >= self.log.log_end_offset() {
            return Ok(());
        }
        tracing::info!(topic = %self.topic, partition = self.partition, from = self.log.log_end_offset(), to = offset,
            "truncating the follower's log where it diverges from the leader's");
        self.log.truncate_to(offset)?;
        let end = self.log.log_end_offset();
        let _ = state.follower_truncated(Offset(end));
        let hw = state.high_watermark().0;
        self.high_watermark.store(hw, Ordering::Release);
        drop(state);
        drop(_producers);
        // The snapshot may cover the removed batches: rebuild from one
        // that lies within the log, or from its start.
        if snapshot::read(self.log.dir()).is_some_and(|s| s.offset > end) {
            snapshot::remove(self.log.dir());
        }
        self.reload_producer_state();
        Ok(())
    }

    /// Empties this follower's log and starts it at `offset`: the leader's
    /// log starts past our end (retention or DeleteRecords upstream).
    pub fn restart_as_follower_at(&self, offset: i64) -> Result<(), ReplicaError> {
        let _producers = self.lock_producers();
        let mut state = self.lock_replication();
        check_follower(&state)?;
        tracing::info!(topic = %self.topic, partition = self.partition, offset,
            "the leader's log starts past ours; starting the follower's log again there");
        self.log.truncate_fully_and_start_at(offset)?;
        let _ = state.follower_truncated(Offset(self.log.log_end_offset()));
        drop(state);
        drop(_producers);
        snapshot::remove(self.log.dir());
        self.reload_producer_state();
        Ok(())
    }

    /// The periodic ISR check: followers lagging past
    /// `replica.lag.time.max.ms` are proposed for removal.
    pub fn maybe_shrink_isr(&self, now_ms: i64) -> Option<AlterPartitionRequest> {
        let config = self.replication_config();
        let request = self.lock_replication().maybe_shrink_isr(now_ms, &config);
        if let Some(r) = &request {
            tracing::info!(topic = %self.topic, partition = self.partition, change = ?r.change,
                "proposing to shrink the ISR");
        }
        request
    }

    /// The controller's answer to the AlterPartition `id`.
    pub fn on_alter_partition_answer(
        &self,
        id: AlterPartitionId,
        answer: AlterPartitionAnswer,
        now_ms: i64,
    ) -> AlterPartitionOutcome {
        let image = self.current_image();
        let config = self.replication_config();
        let mut state = self.lock_replication();
        let change = state.isr_state().pending().map(|p| p.change.clone());
        let outcome = state.on_alter_partition_answer(id, answer, now_ms, &config, &*image);
        if let (AlterPartitionOutcome::Committed { .. }, Some(change)) = (&outcome, change) {
            crate::ops::metrics::on_isr_change(matches!(change, IsrChange::Shrink { .. }));
        }
        if let AlterPartitionOutcome::Committed {
            high_watermark,
            isr,
            ..
        } = &outcome
        {
            self.publish_high_watermark(*high_watermark);
            tracing::info!(topic = %self.topic, partition = self.partition, isr = ?isr, "ISR updated");
        }
        outcome
    }

    /// A receiver that changes when an append as leader moves the log end.
    pub fn subscribe_log_end(&self) -> watch::Receiver<i64> {
        self.log_end_changed.subscribe()
    }

    /// What a consumer's Fetch reads, never past the high watermark, left in
    /// the segment file for a zero-copy send (see
    /// [`PartitionLog::fetch_slice`] for the byte limits).
    pub fn fetch_slice(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_message: bool,
    ) -> Result<SliceInfo, ReplicaError> {
        Ok(self
            .log
            .fetch_slice(offset, max_bytes, self.high_watermark(), min_one_message)?)
    }

    /// A client's DeleteRecords: only a `delete` cleanup policy allows it,
    /// since a compacted topic keeps every key's latest value (Kafka's
    /// `Partition.deleteRecordsOnLeader`). `-1` means the high watermark.
    pub fn delete_records(&self, offset: i64) -> Result<i64, ReplicaError> {
        if !self.log.config().cleanup_delete {
            return Err(ReplicaError::PolicyViolation(format!(
                "records of partition {}-{} can not be deleted due to the configured policy",
                self.topic, self.partition
            )));
        }
        let hw = self.high_watermark();
        let target = if offset == -1 { hw } else { offset };
        if target < 0 || target > hw {
            return Err(ReplicaError::OffsetOutOfRange);
        }
        Ok(self.log.delete_records_before(target)?)
    }

    /// Expires idle producers and persists the producer state when it
    /// changed since the last snapshot (or always, with `flush_log`, at a
    /// clean shutdown). With `flush_log` the log is fsynced first, so the
    /// snapshot never covers bytes the disk may not have; without it
    /// (periodic), a snapshot past the log end after a power loss is
    /// discarded at open and the state rebuilt from the log.
    pub fn checkpoint(
        &self,
        now_ms: i64,
        producer_expiration_ms: i64,
        flush_log: bool,
    ) -> Result<(), ReplicaError> {
        if flush_log {
            self.log.flush()?;
        }
        self.snapshot_producers(now_ms, producer_expiration_ms, flush_log)
    }

    fn snapshot_producers(
        &self,
        now_ms: i64,
        producer_expiration_ms: i64,
        always: bool,
    ) -> Result<(), ReplicaError> {
        // One snapshot at a time per partition: they share the temp file.
        let mut written = self.lock_snapshot();
        let mut producers = self.lock_producers();
        let expired = producers.expire(now_ms, producer_expiration_ms);
        if expired > 0 {
            self.producers_changed.fetch_add(1, Ordering::AcqRel);
        }
        let version = self.producers_changed.load(Ordering::Acquire);
        if !always && *written == Some(version) {
            return Ok(());
        }
        let snap = ProducerSnapshot {
            offset: self.log.log_end_offset(),
            state: producers.clone(),
        };
        drop(producers);
        snapshot::write(self.log.dir(), &snap).map_err(|e| {
            // Kafka's `UnifiedLog`: a failed snapshot write fails the log dir.
            ReplicaError::Storage(self.log.fail_file_write(e).to_string())
        })?;
        *written = Some(version);
        Ok(())
    }

    fn lock_snapshot(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.snapshot_written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

fn producer_entry(
    h: &BatchHeader,
    base_offset: i64,
    log_append_time_ms: i64,
) -> (ProducerBatch, BatchMetadata) {
    let last_seq = if h.base_sequence < 0 {
        h.base_sequence
    } else {
        ((h.base_sequence as i64 + h.last_offset_delta as i64) % (i32::MAX as i64 + 1)) as i32
    };
    (
        ProducerBatch {
            producer_id: h.producer_id,
            epoch: h.producer_epoch,
            first_seq: h.base_sequence,
            last_seq,
        },
        BatchMetadata {
            first_seq: h.base_sequence,
            last_seq,
            base_offset,
            last_offset: base_offset + h.last_offset_delta as i64,
            log_append_time_ms,
        },
    )
}

/// Producer state learnt from batches already in the log (a rebuild, or
/// what a follower appended): returns whether any was a producer's, and
/// the offset after the last batch.
fn record_stored_batches(
    producers: &mut ProducerStateManager,
    records: &[u8],
) -> Result<(bool, i64), LogError> {
    let (mut any, mut next) = (false, 0);
    for item in BatchIter::new(records) {
        let (h, _) = item?;
        if h.producer_id >= 0 && !h.is_control() {
            let (batch, meta) = producer_entry(&h, h.base_offset, h.max_timestamp);
            producers.record(batch, meta, h.max_timestamp);
            any = true;
        }
        next = next.max(h.next_offset());
    }
    Ok((any, next))
}

/// Only a follower appends or truncates what its leader sends.
fn check_follower(state: &ReplicationState) -> Result<(), ReplicaError> {
    match state.role() {
        Role::Follower { .. } => Ok(()),
        _ => Err(ReplicaError::Replication(
            ReplicationError::NotLeaderOrFollower,
        )),
    }
}

/// The leading whole batches of `records`: a fetch response may end with
/// a batch cut at the byte limit.
fn whole_batches(records: &Bytes) -> Bytes {
    let mut iter = BatchIter::new(records);
    let mut end = 0;
    while let Some(Ok(_)) = iter.next() {
        end = iter.position();
    }
    records.slice(..end)
}

/// `records` from the first batch that ends past `offset`.
fn skip_below(records: &Bytes, offset: i64) -> Bytes {
    let mut iter = BatchIter::new(records);
    let mut start = 0;
    while let Some(Ok((h, _))) = iter.next() {
        if h.next_offset() > offset {
            break;
        }
        start = iter.position();
    }
    records.slice(start..)
}

fn produce_rules(config: &LogConfig, origin: AppendOrigin, now_ms: i64) -> ProduceRules {
    ProduceRules {
        origin,
        max_message_bytes: config.max_message_bytes,
        timestamp_type: config.message_timestamp_type,
        timestamp_before_max_ms: config.message_timestamp_before_max_ms,
        timestamp_after_max_ms: config.message_timestamp_after_max_ms,
        compacted: config.cleanup_compact,
        compression: config.compression,
        now_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::testing::make_batch;

    fn registration(
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        replicas: &[i32],
        isr: &[i32],
    ) -> PartitionRegistration {
        use crate::common::ids::{LeaderEpoch, PartitionEpoch};
        PartitionRegistration {
            leader: BrokerId(leader),
            leader_epoch: LeaderEpoch(leader_epoch),
            partition_epoch: PartitionEpoch(partition_epoch),
            replicas: replicas.iter().copied().map(BrokerId).collect(),
            isr: isr.iter().copied().map(BrokerId).collect(),
        }
    }

    /// Brokers 1 to 3 registered and unfenced.
    fn image() -> ImageSlot {
        use crate::metadata::MetadataRecord;
        use crate::metadata::records::RegisterBrokerRecord;
        let mut image = MetadataImage::empty();
        for id in 1..=3 {
            image.replay(
                i64::from(id),
                &MetadataRecord::RegisterBroker(RegisterBrokerRecord {
                    broker_id: id,
                    incarnation_id: Uuid::from_u128(id as u128),
                    broker_epoch: 100 + i64::from(id),
                    endpoints: vec![],
                    features: vec![],
                    rack: None,
                    fenced: false,
                    in_controlled_shutdown: false,
                    log_dirs: vec![],
                }),
            );
        }
        Arc::new(RwLock::new(Arc::new(image)))
    }

    /// A replica on broker `local` of partition t-0, at `dir`.
    fn replica(dir: &std::path::Path, clean: bool, local: i32) -> Partition {
        let log = Arc::new(PartitionLog::open(dir, LogConfig::default(), clean, 0).unwrap());
        Partition::open(
            "t".into(),
            0,
            Uuid::nil(),
            log,
            (BrokerId(local), BrokerEpoch(100 + i64::from(local))),
            0,
            30_000,
            image(),
        )
    }

    /// A partition led by broker 1 alone.
    fn open(dir: &std::path::Path, clean: bool) -> Partition {
        let p = replica(dir, clean, 1);
        p.apply_registration(&registration(1, 0, 0, &[1], &[1]), 0);
        p
    }

    fn batch(seq: i32, n: usize) -> Bytes {
        let recs: Vec<_> = (0..n).map(|_| (None, Some(&b"v"[..]))).collect();
        make_batch(&recs, 1000, Some((42, 0, seq)))
    }

    #[test]
    fn producer_snapshots_are_written_only_when_the_state_changed() {
        // Issue 10 item 16: two fsyncs per partition every round, even for
        // idle partitions, cost 20,000 fsyncs a round at 10,000 partitions.
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("t-0");
        let p = open(&dir, true);
        let file = dir.join(snapshot::SNAPSHOT_FILE);
        p.checkpoint(2, i64::MAX, false).unwrap();
        assert!(file.exists(), "the first round writes the initial state");
        std::fs::remove_file(&file).unwrap();
        p.checkpoint(3, i64::MAX, false).unwrap();
        assert!(!file.exists(), "nothing changed: no snapshot");
        p.append(batch(0, 2), 1).unwrap();
        p.checkpoint(4, i64::MAX, false).unwrap();
        assert!(file.exists(), "an append changed the state");
        std::fs::remove_file(&file).unwrap();
        // Expiry changes the state too (the batch is stamped 1000).
        p.checkpoint(5_000, 1_000, false).unwrap();
        assert!(file.exists(), "an expired producer changed the state");
        assert!(snapshot::read(&dir).unwrap().state.is_empty());
        // A clean shutdown always writes it.
        std::fs::remove_file(&file).unwrap();
        p.checkpoint(6_000, 1_000, true).unwrap();
        assert!(file.exists());
    }

    #[test]
    fn duplicates_are_answered_with_original_offsets_across_restarts() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("t-0");
        {
            let p = open(&dir, true);
            assert_eq!(p.append(batch(0, 3), 1).unwrap().base_offset, 0);
            assert_eq!(p.append(batch(3, 2), 1).unwrap().base_offset, 3);
            assert_eq!(
                p.append(batch(0, 3), 1).unwrap().base_offset,
                0,
                "retry of the first batch"
            );
            assert_eq!(p.log_end_offset(), 5);
            p.checkpoint(2, i64::MAX, true).unwrap();
            p.log.close().unwrap();
        }
        // Clean restart: the snapshot carries the state.
        {
            let p = open(&dir, true);
            assert_eq!(p.append(batch(3, 2), 3).unwrap().base_offset, 3);
            assert_eq!(p.append(batch(9, 1), 3).unwrap_err().code(), 45);
            assert_eq!(p.append(batch(5, 1), 3).unwrap().base_offset, 5);
            p.log.close().unwrap();
        }
        // No snapshot and an unclean start: the state is rebuilt from the log.
        std::fs::remove_file(dir.join(snapshot::SNAPSHOT_FILE)).unwrap();
        let p = open(&dir, false);
        assert_eq!(p.append(batch(5, 1), 4).unwrap().base_offset, 5);
        assert_eq!(p.append(batch(6, 1), 4).unwrap().base_offset, 6);
        assert_eq!(p.high_watermark(), 7);
    }

    #[test]
    fn more_than_one_batch_or_none_is_an_invalid_record() {
        let tmp = tempfile::tempdir().unwrap();
        let p = open(&tmp.path().join("t-0"), true);
        let mut two = bytes::BytesMut::new();
        two.extend_from_slice(&make_batch(&[(None, Some(b"a"))], 0, None));
        two.extend_from_slice(&make_batch(&[(None, Some(b"b"))], 0, None));
        assert_eq!(p.append(two.freeze(), 0).unwrap_err().code(), 87);
        assert_eq!(p.append(Bytes::new(), 0).unwrap_err().code(), 87);
        assert_eq!(p.log_end_offset(), 0);
    }

    /// What a follower's fetch at its own end brings it from `leader`.
    fn replicate(leader: &Partition, follower: &Partition, follower_id: i32) -> Option<(i32, i64)> {
        let fetch = FollowerFetch {
            replica_id: BrokerId(follower_id),
            broker_epoch: BrokerEpoch(100 + i64::from(follower_id)),
            current_leader_epoch: Some(crate::common::ids::LeaderEpoch(leader.leader_epoch())),
            fetch_offset: Offset(follower.log_end_offset()),
            log_start_offset: Offset(follower.log_start_offset()),
        };
        let last_epoch = follower.log.latest_epoch().unwrap_or(-1);
        let read = leader
            .read_for_follower(&fetch, last_epoch, 1 << 20, 10)
            .unwrap();
        if let Some(diverging) = read.diverging {
            return Some(diverging);
        }
        let records = read.slice.map(|s| s.read().unwrap()).unwrap_or_default();
        follower
            .append_as_follower(&records, read.high_watermark)
            .unwrap();
        None
    }

    #[test]
    fn the_high_watermark_waits_for_the_isr_and_followers_learn_it() {
        let tmp = tempfile::tempdir().unwrap();
        let leader = replica(&tmp.path().join("1/t-0"), true, 1);
        let follower = replica(&tmp.path().join("2/t-0"), true, 2);
        let reg = registration(1, 3, 7, &[1, 2], &[1, 2]);
        assert_eq!(
            leader.apply_registration(&reg, 0),
            RoleChange::Leader { is_new: true }
        );
        assert_eq!(
            follower.apply_registration(&reg, 0),
            RoleChange::Follower {
                leader: BrokerId(1),
                restart: true
            }
        );
        assert!(!follower.is_leader() && follower.following() == Some(BrokerId(1)));
        // acks=all is accepted (the ISR has two), and is not committed
        // until the follower has the records.
        let r = leader.append_produce(batch(0, 3), 9, -1, 1).unwrap();
        assert_eq!((r.base_offset, r.last_offset), (0, 2));
        assert_eq!(leader.high_watermark(), 0);
        assert!(!leader.check_enough_replicas(3).unwrap());
        assert_eq!(replicate(&leader, &follower, 2), None);
        assert_eq!(follower.log_end_offset(), 3);
        assert_eq!(
            follower.high_watermark(),
            0,
            "the leader's was 0 when it answered"
        );
        // The next fetch, at 3, tells the leader the follower has them all.
        assert_eq!(replicate(&leader, &follower, 2), None);
        assert_eq!(leader.high_watermark(), 3);
        assert!(leader.check_enough_replicas(3).unwrap());
        assert_eq!(follower.high_watermark(), 3);
        // The batches kept the leader's epoch, and the producer's state
        // came with them: the same batch again is a duplicate after a
        // failover to the follower.
        assert_eq!(follower.log.latest_epoch(), Some(3));
        let failover = registration(2, 4, 8, &[1, 2], &[2]);
        follower.apply_registration(&failover, 0);
        assert!(follower.is_leader());
        let retry = follower.append_produce(batch(0, 3), 9, -1, 2).unwrap();
        assert_eq!(
            (retry.base_offset, retry.record_count),
            (0, 0),
            "answered as a duplicate"
        );
        assert_eq!(
            follower
                .append_produce(batch(3, 1), 9, 1, 2)
                .unwrap()
                .base_offset,
            3
        );
        // The old leader refuses appends once it follows.
        leader.apply_registration(&failover, 0);
        // (The test image has no topics: the refusal reads as unknown.)
        let end = leader.log_end_offset();
        assert!(leader.append_produce(batch(4, 1), 9, 1, 2).is_err());
        assert_eq!(leader.log_end_offset(), end);
    }

    #[test]
    fn acks_all_is_refused_below_min_insync_replicas() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("t-0");
        let leader = replica(&dir, true, 1);
        leader.log.update_config(LogConfig {
            min_insync_replicas: 2,
            ..LogConfig::default()
        });
        leader.apply_registration(&registration(1, 0, 0, &[1, 2, 3], &[1]), 0);
        let err = leader.append_produce(batch(0, 1), 9, -1, 1).unwrap_err();
        assert_eq!(err.code(), 19, "NOT_ENOUGH_REPLICAS");
        assert_eq!(leader.log_end_offset(), 0, "nothing written");
        // acks=1 is not held to it, and is committed by the leader's own
        // fetch rule only once the ISR is big enough: the high watermark
        // does not move under min ISR.
        leader.append_produce(batch(0, 1), 9, 1, 1).unwrap();
        assert_eq!(leader.high_watermark(), 0);
    }

    /// KIP-101/279: a follower that appended records of an epoch its new
    /// leader never had truncates them away, and the leader's records
    /// replace them.
    #[test]
    fn a_diverging_follower_truncates_to_the_leaders_epoch_end() {
        let tmp = tempfile::tempdir().unwrap();
        let a = replica(&tmp.path().join("1/t-0"), true, 1);
        let b = replica(&tmp.path().join("2/t-0"), true, 2);
        // Epoch 1: a leads, b copies 2 records, then a writes 3 more that b
        // never gets.
        let e1 = registration(1, 1, 1, &[1, 2], &[1, 2]);
        a.apply_registration(&e1, 0);
        b.apply_registration(&e1, 0);
        a.append_produce(batch(0, 2), 9, 1, 1).unwrap();
        assert_eq!(replicate(&a, &b, 2), None);
        a.append_produce(batch(2, 3), 9, 1, 1).unwrap();
        assert_eq!((a.log_end_offset(), b.log_end_offset()), (5, 2));
        // Epoch 2: b leads and writes 1 record; a follows.
        let e2 = registration(2, 2, 2, &[1, 2], &[2]);
        b.apply_registration(&e2, 0);
        a.apply_registration(&e2, 0);
        b.append_produce(batch(2, 1), 9, 1, 1).unwrap();
        // a's last epoch is 1, which ended at 2 on b: a truncates to 2.
        assert_eq!(replicate(&b, &a, 1), Some((1, 2)));
        a.truncate_as_follower(truncate_target(&a, 1, 2)).unwrap();
        assert_eq!(a.log_end_offset(), 2);
        assert_eq!(replicate(&b, &a, 1), None);
        assert_eq!(a.log_end_offset(), 3);
        assert_eq!(a.log.latest_epoch(), Some(2));
        let (epoch, end) = a.end_offset_for_epoch(1);
        assert_eq!((epoch, end), (1, 2));
        // The producer state forgot the truncated batch (sequences 2-4)
        // and learnt b's (sequence 2 at offset 2): on a's next leadership
        // a retry of b's batch is a duplicate, and sequence 3 is next.
        a.apply_registration(&registration(1, 3, 3, &[1, 2], &[1]), 0);
        let retry = a.append_produce(batch(2, 1), 9, 1, 1).unwrap();
        assert_eq!((retry.base_offset, retry.record_count), (2, 0));
        assert_eq!(
            a.append_produce(batch(3, 1), 9, 1, 1).unwrap().base_offset,
            3
        );
    }

    fn truncate_target(p: &Partition, epoch: i32, end: i64) -> i64 {
        super::super::fetcher::truncation_offset(p, epoch, end)
    }
}
