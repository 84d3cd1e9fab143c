//! The group coordinator's async shell around the sans-IO cores: one
//! [`ClassicGroup`] and one [`OffsetStore`] per group, each group behind its
//! own lock, persisted in `__consumer_offsets`.
//!
//! A request takes the group's lock, calls the core, then settles the
//! outputs in order: records are appended to the group's
//! `__consumer_offsets` partition as one batch, and the responses that
//! follow them are released only after that append. Parked requests
//! (JoinGroup, SyncGroup) wait on a oneshot channel keyed by their
//! [`RequestId`]; whichever later call completes them sends the answer.
//! Each group has at most one timer task, re-armed at the core's latest
//! deadline. Time comes from an injected [`Clock`]: deadlines on its
//! monotonic clock, stored timestamps on its wall clock.
//!
//! On start, every partition of `__consumer_offsets` is replayed into the
//! groups before the listeners open, so no request ever sees a group half
//! loaded (Kafka answers COORDINATOR_LOAD_IN_PROGRESS in that window; this
//! single-node broker never has one). The coordinator only writes records
//! and tombstones; `__consumer_offsets` is compacted by the log cleaner
//! (`crate::log::cleaner`) like every `cleanup.policy=compact` topic.
//!
//! Kafka counterpart: `GroupCoordinatorService`/`GroupCoordinatorShard` and
//! the coordinator runtime's load and write paths.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use tokio::sync::{Mutex, oneshot, watch};

use super::consumer_group::{ConsumerGroup, ConsumerGroupConfig, TopicsImage};
use super::group::{
    ClassicGroup, GroupState, JoinInput, JoinResponse, LeaveMember, LeaveResult, Output, RequestId,
    SyncInput, SyncResponse, UuidMemberIds,
};
use super::offsets::{CommitInput, OffsetStore};
use super::record::{GroupRecord, MemberMetadataValue, OffsetAndMetadata, OffsetRecord};
use super::schema::{self, KeyValue, StoredRecord};
use super::{GroupConfig, GroupError};
use crate::common::clock::{Clock, Now, SystemClock};
use crate::common::{BackgroundTasks, blocking};
use crate::config::BrokerConfig;
use crate::controller::ControllerError;
use crate::controller::channel::{ControllerChannel, CreateTopics};
use crate::controller::topics::NewTopic;
use crate::log::LogError;
use crate::log::records::{encode_batch, replay_log};
use crate::metadata::listener::{ImageListener, ListenerFuture, deleted_partitions};
use crate::metadata::{MetadataCache, MetadataImage};
use crate::ops::metrics;
use crate::partition::{ReplicaError, ReplicaManager};
use crate::protocol::ApiError;

mod consumer;
#[cfg(test)]
mod tests;

pub use consumer::CONSUMER_PROTOCOL;

pub use crate::common::internal_topics::OFFSETS_TOPIC;

/// How long a request waits for a `__consumer_offsets` partition that is
/// being opened.
const OPEN_WAIT: Duration = Duration::from_secs(1);

/// What DescribeGroups and ListGroups show of a group.
#[derive(Debug, Clone)]
pub struct GroupSummary {
    pub group_id: String,
    /// Kafka's spelling of the state (classic or KIP-848 states).
    pub state: &'static str,
    /// ListGroups v5's group type: "classic" or "consumer".
    pub group_type: &'static str,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// Metadata and assignments are filled only when the group is Stable,
    /// as Kafka shows them.
    pub members: Vec<MemberMetadataValue>,
}

/// Kafka's name of a group state, as DescribeGroups and ListGroups spell it.
pub fn state_name(state: GroupState) -> &'static str {
    match state {
        GroupState::Empty => "Empty",
        GroupState::PreparingRebalance => "PreparingRebalance",
        GroupState::CompletingRebalance => "CompletingRebalance",
        GroupState::Stable => "Stable",
        GroupState::Dead => "Dead",
    }
}

/// Per-partition result of OffsetCommit, OffsetDelete.
pub type PartitionResults = Vec<(String, i32, Result<(), ApiError>)>;

struct Slot {
    inner: Mutex<GroupInner>,
}

struct GroupInner {
    group_id: String,
    /// The group's `__consumer_offsets` partition.
    partition: i32,
    group: ClassicGroup,
    offsets: OffsetStore,
    waiters: HashMap<RequestId, oneshot::Sender<Output>>,
    timer: Option<tokio::task::AbortHandle>,
    /// Set once the group is a KIP-848 consumer group; its classic core is
    /// then Empty and unused (the offsets are shared).
    consumer: Option<ConsumerGroup>,
}

impl GroupInner {
    fn encode_group_record(&mut self, record: GroupRecord) -> KeyValue {
        let (k, v) = schema::encode_group(&self.group_id, &record);
        (Some(k), v)
    }
}

pub struct GroupCoordinator {
    node_id: i32,
    config: GroupConfig,
    broker_config: Arc<BrokerConfig>,
    metadata: Arc<MetadataCache>,
    replicas: Arc<ReplicaManager>,
    controller: ControllerChannel,
    consumer_config: ConsumerGroupConfig,
    /// The topics as KIP-848 groups see them, cached per metadata image.
    topics: std::sync::Mutex<Option<Arc<TopicsImage>>>,
    groups: DashMap<String, Arc<Slot>>,
    /// `__consumer_offsets` partitions led here whose groups are in
    /// memory. A partition the image says is led here but is not in the
    /// set is being loaded: its groups answer COORDINATOR_LOAD_IN_PROGRESS.
    loaded: watch::Sender<BTreeSet<i32>>,
    next_request: AtomicU64,
    clock: Arc<dyn Clock>,
    /// The node's background tasks: the expiry loop and session timers.
    tasks: BackgroundTasks,
    me: Weak<GroupCoordinator>,
}

impl GroupCoordinator {
    pub fn new(
        broker_config: Arc<BrokerConfig>,
        metadata: Arc<MetadataCache>,
        replicas: Arc<ReplicaManager>,
        controller: ControllerChannel,
        tasks: BackgroundTasks,
    ) -> Arc<GroupCoordinator> {
        Self::with_clock(
            broker_config,
            metadata,
            replicas,
            controller,
            tasks,
            Arc::new(SystemClock::new()),
        )
    }

    /// [`GroupCoordinator::new`] on a clock of the caller's (tests).
    pub fn with_clock(
        broker_config: Arc<BrokerConfig>,
        metadata: Arc<MetadataCache>,
        replicas: Arc<ReplicaManager>,
        controller: ControllerChannel,
        tasks: BackgroundTasks,
        clock: Arc<dyn Clock>,
    ) -> Arc<GroupCoordinator> {
        let config = GroupConfig {
            min_session_timeout_ms: broker_config.group_min_session_timeout_ms,
            max_session_timeout_ms: broker_config.group_max_session_timeout_ms,
            initial_rebalance_delay_ms: broker_config.group_initial_rebalance_delay_ms,
            max_size: broker_config.group_max_size.max(1) as usize,
            offsets_retention_ms: i64::from(broker_config.offsets_retention_minutes) * 60_000,
            offset_metadata_max_bytes: broker_config.offset_metadata_max_bytes.max(0) as usize,
        };
        let consumer_config = consumer::consumer_config(&broker_config);
        Arc::new_cyclic(|me| GroupCoordinator {
            consumer_config,
            node_id: broker_config.node_id,
            config,
            broker_config,
            metadata,
            replicas,
            controller,
            topics: std::sync::Mutex::new(None),
            groups: DashMap::new(),
            loaded: watch::Sender::new(BTreeSet::new()),
            next_request: AtomicU64::new(1),
            clock,
            tasks,
            me: me.clone(),
        })
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    // ---- load ----

    /// Replays every `__consumer_offsets` partition into the groups. Called
    /// once at start, before any request. Returns the number of groups.
    pub fn load(&self) -> anyhow::Result<usize> {
        // Partitions led elsewhere (or by nobody yet) are loaded when their
        // leadership comes here (`on_image_published`).
        let led_here: Vec<i32> = self.led_partitions().into_iter().collect();
        self.load_partitions(&led_here)
    }

    /// The `__consumer_offsets` partitions the current image has this
    /// node lead.
    fn led_partitions(&self) -> BTreeSet<i32> {
        self.metadata
            .current()
            .topic(OFFSETS_TOPIC)
            .map(|t| {
                t.partitions
                    .iter()
                    .filter(|(_, p)| p.leader == self.node_id)
                    .map(|(&partition, _)| partition)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The group's `__consumer_offsets` partition, if this node coordinates
    /// the group now: NOT_COORDINATOR when another broker (or none) leads
    /// it, COORDINATOR_LOAD_IN_PROGRESS while its groups are being read.
    /// Checked before every answer about a group, so a former coordinator
    /// never answers from what it held (an OffsetFetch answered "no
    /// offset" there sends a consumer back to its reset policy).
    fn owned_partition(&self, group_id: &str) -> Result<i32, ApiError> {
        let image = self.metadata.current();
        let Some(topic) = image.topic(OFFSETS_TOPIC) else {
            return Err(ApiError::NotCoordinator(format!(
                "{OFFSETS_TOPIC} does not exist yet; FindCoordinator creates it"
            )));
        };
        let partition = schema::partition_for(group_id, topic.partitions.len() as i32);
        let leader = topic.partitions.get(&partition).map_or(-1, |p| p.leader);
        if leader != self.node_id {
            return Err(ApiError::NotCoordinator(format!(
                "{OFFSETS_TOPIC}-{partition} is led by broker {leader}, not this one"
            )));
        }
        if !self.loaded.borrow().contains(&partition) {
            return Err(ApiError::CoordinatorLoadInProgress(format!(
                "the groups of {OFFSETS_TOPIC}-{partition} are being loaded"
            )));
        }
        Ok(partition)
    }

    /// [`Self::owned_partition`], waiting up to `OPEN_WAIT` for a load in
    /// progress (a partition just created or just elected here).
    async fn owned_partition_loaded(&self, group_id: &str) -> Result<i32, ApiError> {
        let deadline = tokio::time::Instant::now() + OPEN_WAIT;
        let mut changed = self.loaded.subscribe();
        loop {
            match self.owned_partition(group_id) {
                Err(ApiError::CoordinatorLoadInProgress(m)) => {
                    if tokio::time::timeout_at(deadline, changed.changed())
                        .await
                        .is_err()
                    {
                        return Err(ApiError::CoordinatorLoadInProgress(m));
                    }
                }
                other => return other,
            }
        }
    }

    /// The group's slot if this node coordinates it (see
    /// [`Self::owned_partition`]); `None` for a group it does not hold.
    fn owned(&self, group_id: &str) -> Result<Option<Arc<Slot>>, ApiError> {
        self.owned_partition(group_id)?;
        Ok(self.existing(group_id))
    }

    /// Replays the given `__consumer_offsets` partitions into the groups
    /// (Kafka's `onElection` load; whatever memory held of them was
    /// dropped first) and marks them loaded. Returns the number of groups
    /// held.
    fn load_partitions(&self, partitions: &[i32]) -> anyhow::Result<usize> {
        let mut loaded: HashMap<String, GroupInner> = HashMap::new();
        for &partition in partitions {
            let Some(p) = self.replicas.partition(OFFSETS_TOPIC, partition) else {
                anyhow::bail!("{OFFSETS_TOPIC}-{partition} is not hosted; cannot load its groups");
            };
            replay_log(&p.log, |offset, key, value| {
                // A record we cannot read is skipped, not fatal: one bad
                // record must not keep the broker from starting.
                let decoded = key
                    .ok_or_else(|| "a record without a key".to_string())
                    .and_then(|k| schema::decode(k, value).map_err(|e| e.to_string()));
                let decoded = match decoded {
                    Ok(d) => d,
                    Err(reason) => {
                        tracing::warn!(partition, offset, %reason, "skipping unreadable {OFFSETS_TOPIC} record");
                        return Ok(());
                    }
                };
                match decoded {
                    StoredRecord::Offset { group_id, record } => {
                        self.loading(&mut loaded, &group_id, partition)
                            .offsets
                            .replay(&record);
                    }
                    StoredRecord::Group { group_id, record } => {
                        let inner = self.loading(&mut loaded, &group_id, partition);
                        inner.group.replay(&record);
                    }
                    StoredRecord::Other => {}
                }
                Ok(())
            })
            .map_err(|e| anyhow::anyhow!("loading {OFFSETS_TOPIC}-{partition}: {e}"))?;
        }
        let now = self.clock.now();
        let image = self.metadata.current();
        let mut orphaned = 0;
        for (group_id, mut inner) in loaded {
            if self.groups.contains_key(&group_id) {
                continue;
            }
            // Offsets of partitions the image no longer has: their topic was
            // deleted and the process stopped before the tombstones were
            // written (or before they were written at all, by an older
            // version). Deleted now, as the listener would have.
            let gone: Vec<(String, i32)> = inner
                .offsets
                .fetch(None)
                .into_iter()
                .filter(|(t, p, _)| !image.topic(t).is_some_and(|t| t.partitions.contains_key(p)))
                .map(|(t, p, _)| (t, p))
                .collect();
            if !gone.is_empty() {
                match self.delete_offsets_of(&mut inner, &gone) {
                    Ok(n) => orphaned += n,
                    Err(e) => {
                        tracing::warn!(%group_id, error = %e, "could not delete the offsets of deleted topics")
                    }
                }
            }
            if inner.group.state() == GroupState::Dead {
                if inner.offsets.is_empty() {
                    continue;
                }
                // Offsets committed after the group was deleted belong to a
                // new, simple group of the same id.
                inner.group = self.new_group(&group_id);
            }
            // Members get a full session to come back; timers are armed by
            // `start`.
            let _ = inner.group.on_loaded(now);
            self.groups.insert(
                group_id,
                Arc::new(Slot {
                    inner: Mutex::new(inner),
                }),
            );
        }
        if orphaned > 0 {
            tracing::info!(
                offsets = orphaned,
                "deleted committed offsets of topics that no longer exist"
            );
        }
        self.loaded.send_modify(|loaded| loaded.extend(partitions));
        let count = self.groups.len();
        metrics::set_groups(count);
        Ok(count)
    }

    fn loading<'a>(
        &self,
        loaded: &'a mut HashMap<String, GroupInner>,
        group_id: &str,
        partition: i32,
    ) -> &'a mut GroupInner {
        loaded
            .entry(group_id.to_string())
            .or_insert_with(|| self.inner(group_id, partition))
    }

    fn new_group(&self, group_id: &str) -> ClassicGroup {
        ClassicGroup::new(group_id, self.config.clone(), Box::new(UuidMemberIds))
    }

    fn inner(&self, group_id: &str, partition: i32) -> GroupInner {
        GroupInner {
            group_id: group_id.to_string(),
            partition,
            group: self.new_group(group_id),
            offsets: OffsetStore::new(),
            waiters: HashMap::new(),
            timer: None,
            consumer: None,
        }
    }

    /// Arms the session timers of loaded groups and starts the offset
    /// expiry task. Needs the async runtime.
    pub fn start(&self) {
        let slots: Vec<Arc<Slot>> = self.groups.iter().map(|e| e.value().clone()).collect();
        for slot in slots {
            if let Ok(mut g) = slot.inner.try_lock()
                && let Some(deadline) = g.group.next_deadline_ms()
            {
                self.arm_timer(&slot, &mut g, deadline);
            }
        }
        let me = self.me.clone();
        let every = Duration::from_millis(
            self.broker_config
                .offsets_retention_check_interval_ms
                .max(100) as u64,
        );
        self.tasks.spawn("group-offsets-expiry", async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(me) = me.upgrade() else { return };
                me.expire_offsets().await;
            }
        });
    }

    // ---- FindCoordinator ----

    /// The node coordinating `group_id`, creating `__consumer_offsets` on
    /// first use as Kafka does.
    /// The broker that coordinates `group_id`: the leader of its
    /// `__consumer_offsets` partition, here or on another broker.
    pub async fn coordinator_for(&self, group_id: &str) -> Result<i32, ApiError> {
        let partitions = self.ensure_offsets_topic().await?;
        let partition = schema::partition_for(group_id, partitions);
        match self.offsets_leader(partition) {
            // As Kafka, FindCoordinator does not wait for the load: the
            // group's own requests are told COORDINATOR_LOAD_IN_PROGRESS.
            Some(leader) if leader == self.node_id => {
                self.hosted_partition(group_id).await?;
                Ok(leader)
            }
            Some(leader) if leader >= 0 => Ok(leader),
            Some(_) => Err(ApiError::CoordinatorNotAvailable(format!(
                "{OFFSETS_TOPIC}-{partition} has no leader"
            ))),
            // Created by the controller, not in this broker's metadata yet.
            None => Err(ApiError::CoordinatorNotAvailable(format!(
                "{OFFSETS_TOPIC} is not in this broker's metadata yet"
            ))),
        }
    }

    /// The leader of `__consumer_offsets` partition `partition` in the
    /// current image.
    fn offsets_leader(&self, partition: i32) -> Option<i32> {
        self.metadata
            .current()
            .topic(OFFSETS_TOPIC)
            .and_then(|t| t.partitions.get(&partition).map(|p| p.leader))
    }

    /// The group's `__consumer_offsets` partition, hosted and loaded here.
    async fn partition_for(&self, group_id: &str) -> Result<i32, ApiError> {
        self.hosted_partition(group_id).await?;
        self.owned_partition_loaded(group_id).await
    }

    /// The group's `__consumer_offsets` partition, open here.
    async fn hosted_partition(&self, group_id: &str) -> Result<i32, ApiError> {
        let partitions = self.ensure_offsets_topic().await?;
        let partition = schema::partition_for(group_id, partitions);
        if self.replicas.partition(OFFSETS_TOPIC, partition).is_some() {
            return Ok(partition);
        }
        // Led here by the image but not open yet: another request is
        // creating the topic and the replica manager is opening its logs,
        // which takes milliseconds; wait for that rather than fail a
        // client's first request, then answer the retriable
        // COORDINATOR_NOT_AVAILABLE, as Kafka does while a coordinator is
        // not ready (NOT_COORDINATOR would send the client to look for
        // another broker).
        if self.offsets_leader(partition) != Some(self.node_id) {
            return Err(ApiError::NotCoordinator(format!(
                "{OFFSETS_TOPIC}-{partition} is not hosted by this node"
            )));
        }
        match self
            .replicas
            .partition_opened(OFFSETS_TOPIC, partition, OPEN_WAIT)
            .await
        {
            Some(_) => Ok(partition),
            None => Err(ApiError::CoordinatorNotAvailable(format!(
                "{OFFSETS_TOPIC}-{partition} is not open yet"
            ))),
        }
    }

    /// The partition count of `__consumer_offsets`, creating the topic with
    /// the coordinator's settings (`offsets.topic.num.partitions`,
    /// `cleanup.policy=compact`, ...) if it does not exist. This is the only
    /// way the topic is created: on a group's first request, and for a
    /// Metadata request that may auto-create it (Kafka's
    /// `AutoTopicCreationManager` also hands that to the coordinator's
    /// settings); a client's CreateTopics is refused.
    pub async fn ensure_offsets_topic(&self) -> Result<i32, ApiError> {
        match self.metadata.current().topic(OFFSETS_TOPIC) {
            Some(t) => Ok(t.partitions.len() as i32),
            None => self.create_offsets_topic().await,
        }
    }

    async fn create_offsets_topic(&self) -> Result<i32, ApiError> {
        let c = &self.broker_config;
        let topic = NewTopic {
            name: OFFSETS_TOPIC.to_string(),
            num_partitions: c.offsets_topic_num_partitions,
            replication_factor: c.offsets_topic_replication_factor,
            assignments: vec![],
            configs: vec![
                ("cleanup.policy".into(), Some("compact".into())),
                (
                    "segment.bytes".into(),
                    Some(c.offsets_topic_segment_bytes.to_string()),
                ),
                ("compression.type".into(), Some("producer".into())),
            ],
        };
        let unavailable = |e: ControllerError| {
            tracing::warn!(error = %e, "could not create {OFFSETS_TOPIC}");
            ApiError::CoordinatorNotAvailable(format!("{OFFSETS_TOPIC} cannot be created: {e}"))
        };
        let result = self
            .controller
            .create_topics(CreateTopics {
                topics: vec![topic],
                validate_only: false,
                internal: true,
            })
            .await
            .map_err(unavailable)?;
        match result.into_iter().next() {
            Some(Ok(created)) => {
                tracing::info!(
                    partitions = created.num_partitions,
                    "created {OFFSETS_TOPIC}"
                );
                Ok(created.num_partitions)
            }
            // Another request created it first.
            Some(Err(ControllerError::TopicAlreadyExists(_))) => self
                .metadata
                .current()
                .topic(OFFSETS_TOPIC)
                .map(|t| t.partitions.len() as i32)
                .ok_or_else(|| unavailable(ControllerError::UnknownTopicOrPartition)),
            Some(Err(e)) => Err(unavailable(e)),
            None => Err(unavailable(ControllerError::Internal("no result".into()))),
        }
    }

    // ---- slots ----

    fn existing(&self, group_id: &str) -> Option<Arc<Slot>> {
        self.groups.get(group_id).map(|e| e.value().clone())
    }

    async fn get_or_create(&self, group_id: &str) -> Result<Arc<Slot>, ApiError> {
        let partition = self.partition_for(group_id).await?;
        if let Some(slot) = self.existing(group_id) {
            return Ok(slot);
        }
        let slot = self
            .groups
            .entry(group_id.to_string())
            .or_insert_with(|| {
                Arc::new(Slot {
                    inner: Mutex::new(self.inner(group_id, partition)),
                })
            })
            .value()
            .clone();
        metrics::set_groups(self.groups.len());
        Ok(slot)
    }

    /// Calls the core with a fresh request id and waits for that request's
    /// answer, which may come from a later call (a parked join or sync).
    async fn call(
        &self,
        slot: Arc<Slot>,
        f: impl FnOnce(&mut ClassicGroup, RequestId, Now) -> Vec<Output>,
    ) -> Result<Output, ApiError> {
        let request = RequestId(self.next_request.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        {
            let mut g = slot.inner.lock().await;
            if g.consumer.is_some() {
                return Err(ApiError::InconsistentGroupProtocol(format!(
                    "group {} uses the consumer protocol (KIP-848), not the classic one",
                    g.group_id
                )));
            }
            g.waiters.insert(request, tx);
            let outputs = f(&mut g.group, request, self.clock.now());
            self.settle(&slot, &mut g, outputs);
        }
        Ok(rx.await.unwrap_or(Output::Heartbeat {
            request,
            result: Err(GroupError::CoordinatorNotAvailable),
        }))
    }

    /// Carries out the core's outputs in order: records are appended before
    /// any response that follows them is released.
    fn settle(&self, slot: &Arc<Slot>, g: &mut GroupInner, outputs: Vec<Output>) {
        let mut pending: Vec<KeyValue> = Vec::new();
        let mut failed: Option<GroupError> = None;
        for output in outputs {
            match output {
                Output::Record(record) => pending.push(g.encode_group_record(record)),
                Output::Timer { deadline_ms } => self.arm_timer(slot, g, deadline_ms),
                response => {
                    if !pending.is_empty()
                        && let Err(e) = self.append(g.partition, &std::mem::take(&mut pending))
                    {
                        failed = Some(e);
                    }
                    let response = match &failed {
                        Some(e) => fail_response(response, e.clone()),
                        None => response,
                    };
                    if let Output::Join { response: r, .. } = &response
                        && r.error.is_none()
                        && r.member_id == r.leader
                    {
                        metrics::record_rebalance();
                    }
                    if let Some(tx) = g.waiters.remove(&request_of(&response)) {
                        let _ = tx.send(response);
                    }
                }
            }
        }
        if !pending.is_empty() {
            let _ = self.append(g.partition, &pending);
        }
    }

    /// Appends one batch to the group's partition. A failure comes back as
    /// what the client must be told ([`write_error`]).
    fn append(&self, partition: i32, records: &[KeyValue]) -> Result<(), GroupError> {
        let now = self.clock.now().wall_ms;
        let Some(p) = self.replicas.partition(OFFSETS_TOPIC, partition) else {
            return Err(GroupError::NotCoordinator(format!(
                "{OFFSETS_TOPIC}-{partition} is gone"
            )));
        };
        blocking(|| p.append(encode_batch(records, now), now))
            .map(|_| ())
            .map_err(|e| write_error(partition, e))
    }

    fn arm_timer(&self, slot: &Arc<Slot>, g: &mut GroupInner, deadline_ms: i64) {
        if let Some(old) = g.timer.take() {
            old.abort();
        }
        let me = self.me.clone();
        let task_slot = slot.clone();
        // Deadlines are on the monotonic clock: a wall-clock step neither
        // fires this timer early nor holds it back.
        let wake = self.clock.sleep_until(deadline_ms);
        let task = self.tasks.spawn("group-timer", async move {
            wake.await;
            let Some(me) = me.upgrade() else { return };
            let mut g = task_slot.inner.lock().await;
            // This task is the current timer; arming a new one must not
            // abort the task that is doing the arming.
            g.timer = None;
            let now = me.clock.now();
            if let Some(consumer) = g.consumer.as_mut() {
                let outcome = consumer.tick(now.monotonic_ms);
                for (member, reason) in &outcome.removed {
                    tracing::info!(group_id = %g.group_id, member_id = %member, ?reason, "consumer group member removed");
                }
                if let Some(deadline) = outcome.timer {
                    me.arm_timer(&task_slot, &mut g, deadline);
                }
            } else {
                let outputs = g.group.tick(now);
                me.settle(&task_slot, &mut g, outputs);
            }
        });
        g.timer = Some(task.abort_handle());
    }

    // ---- classic protocol ----

    /// JoinGroup. `Err` is a failure before the group was reached; the
    /// group's own errors are in the response, which always carries the
    /// member id.
    pub async fn join(&self, group_id: &str, input: JoinInput) -> Result<JoinResponse, ApiError> {
        let slot = self.get_or_create(group_id).await?;
        match self
            .call(slot, |g, request, now| g.join(request, input, now))
            .await?
        {
            Output::Join { response, .. } => Ok(response),
            _ => Err(removed()),
        }
    }

    pub async fn sync(&self, group_id: &str, input: SyncInput) -> Result<SyncResponse, ApiError> {
        let slot = self.owned(group_id)?.ok_or(ApiError::UnknownMemberId)?;
        match self
            .call(slot, |g, request, now| g.sync(request, input, now))
            .await?
        {
            Output::Sync { result, .. } => result.map_err(ApiError::from),
            _ => Err(removed()),
        }
    }

    pub async fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<(), ApiError> {
        let slot = self.owned(group_id)?.ok_or(ApiError::UnknownMemberId)?;
        match self
            .call(slot, |g, request, now| {
                g.heartbeat(request, member_id, group_instance_id, generation_id, now)
            })
            .await?
        {
            Output::Heartbeat { result, .. } => result.map_err(ApiError::from),
            _ => Err(removed()),
        }
    }

    pub async fn leave(
        &self,
        group_id: &str,
        members: Vec<LeaveMember>,
    ) -> Result<Vec<LeaveResult>, ApiError> {
        let slot = self.owned(group_id)?.ok_or(ApiError::UnknownMemberId)?;
        match self
            .call(slot, |g, request, now| g.leave(request, members, now))
            .await?
        {
            Output::Leave { result, .. } => result.map_err(ApiError::from),
            _ => Err(removed()),
        }
    }

    // ---- offsets ----

    /// OffsetCommit. `Err` fails every partition alike.
    pub async fn commit(
        &self,
        group_id: &str,
        input: CommitInput,
        api_version: i16,
    ) -> Result<PartitionResults, ApiError> {
        let slot = match self.owned(group_id) {
            Ok(Some(slot)) => slot,
            // A commit without group management creates a simple group
            // (and `__consumer_offsets` with it, as FindCoordinator would),
            // here if this node coordinates it once that is done.
            Ok(None) | Err(_) if input.generation_id < 0 => self.get_or_create(group_id).await?,
            Ok(None) if api_version >= 9 => return Err(ApiError::GroupIdNotFound),
            Ok(None) => return Err(ApiError::IllegalGeneration),
            Err(e) => return Err(e),
        };
        let mut g = slot.inner.lock().await;
        // The handler checked the topics against an earlier image. Checked
        // again under the group lock: a topic deleted since then may already
        // have had its offsets tombstoned (`on_partitions_deleted` takes this
        // lock after the image without it is published), and a commit
        // landing after that would outlive the topic.
        let mut input = input;
        let image = self.metadata.current();
        let (known, gone): (Vec<_>, Vec<_>) = input.partitions.into_iter().partition(|p| {
            image
                .topic(&p.topic)
                .is_some_and(|t| t.partitions.contains_key(&p.partition))
        });
        input.partitions = known;
        let keys: Vec<(String, i32)> = input
            .partitions
            .iter()
            .map(|p| (p.topic.clone(), p.partition))
            .collect();
        let before = g.offsets.fetch(Some(&keys));
        let now = self.clock.now();
        let outcome = match &g.consumer {
            Some(consumer) => {
                consumer::validate_commit(
                    &g,
                    consumer,
                    &input.member_id,
                    input.generation_id,
                    api_version,
                )?;
                g.offsets
                    .commit_validated(&self.config, input.partitions, now.wall_ms)
            }
            None => {
                let GroupInner { group, offsets, .. } = &mut *g;
                offsets.commit(group, &self.config, input, now)?
            }
        };
        let written = self.append_offsets(&mut g, before, &outcome.records)?;
        metrics::record_offset_commits(written);
        // Acknowledged once the partition's ISR has the records (Kafka's
        // coordinator appends with acks=all), waited for without the lock.
        let appended = (written > 0)
            .then(|| self.replicas.partition(OFFSETS_TOPIC, g.partition))
            .flatten()
            .map(|p| {
                let end = p.log_end_offset();
                (p, end)
            });
        drop(g);
        if let Some((p, end)) = appended {
            await_replicated(&p, end, COMMIT_REPLICATION_TIMEOUT).await?;
        }
        Ok(outcome
            .partitions
            .into_iter()
            .map(|(t, p, r)| (t, p, r.map_err(ApiError::from)))
            .collect::<PartitionResults>()
            .into_iter()
            .chain(
                gone.into_iter()
                    .map(|p| (p.topic, p.partition, Err(ApiError::UnknownTopicOrPartition))),
            )
            .collect())
    }

    /// Appends offset records the store has already replayed. If the append
    /// fails, the store gets back what it held (`before`, as
    /// [`OffsetStore::fetch`] gave it), so memory never runs ahead of the
    /// log. Returns how many records were written.
    fn append_offsets(
        &self,
        g: &mut GroupInner,
        before: Vec<(String, i32, Option<OffsetAndMetadata>)>,
        records: &[OffsetRecord],
    ) -> Result<usize, ApiError> {
        let encoded = schema::encode_offsets(&g.group_id, records);
        if encoded.is_empty() {
            return Ok(0);
        }
        if let Err(e) = self.append(g.partition, &encoded) {
            for (topic, partition, old) in before {
                g.offsets.replay(&match old {
                    Some(value) => OffsetRecord::Commit {
                        topic,
                        partition,
                        value,
                    },
                    None => OffsetRecord::Tombstone { topic, partition },
                });
            }
            return Err(e.into());
        }
        Ok(encoded.len())
    }

    /// Tombstones every group's offsets of these partitions (of topics just
    /// deleted), through the ordinary write path, and drops them from
    /// memory, so a topic re-created under the same name is consumed from
    /// its start and not from the old topic's offsets. Kafka:
    /// `OffsetMetadataManager.onPartitionsDeleted`. A group whose append
    /// fails keeps its offsets (logged); the others go on.
    /// Kafka's `onResignation`: the groups of `__consumer_offsets`
    /// partitions another broker now leads leave memory (their timers
    /// stopped, requests parked in them answered COORDINATOR_NOT_AVAILABLE),
    /// so that leading them again loads them from the log as the other
    /// coordinator left it, not as they were here.
    pub async fn on_partitions_resigned(&self, partitions: &[i32]) {
        self.loaded.send_modify(|loaded| {
            for p in partitions {
                loaded.remove(p);
            }
        });
        let unloaded = self.unload(partitions).await;
        tracing::info!(partitions = ?partitions, groups = unloaded,
            "no longer the coordinator of these {OFFSETS_TOPIC} partitions; their groups unloaded");
    }

    /// Drops the groups of `partitions` from memory; how many.
    async fn unload(&self, partitions: &[i32]) -> usize {
        let slots: Vec<(String, Arc<Slot>)> = self
            .groups
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        let mut unloaded = 0usize;
        for (group_id, slot) in slots {
            let mut g = slot.inner.lock().await;
            if !partitions.contains(&g.partition) {
                continue;
            }
            if let Some(timer) = g.timer.take() {
                timer.abort();
            }
            g.waiters.clear();
            self.groups.remove(&group_id);
            unloaded += 1;
        }
        metrics::set_groups(self.groups.len());
        unloaded
    }

    pub async fn on_partitions_deleted(&self, partitions: &[(String, i32)]) {
        let slots: Vec<Arc<Slot>> = self.groups.iter().map(|e| e.value().clone()).collect();
        let (mut deleted, mut groups) = (0usize, 0usize);
        for slot in slots {
            let mut g = slot.inner.lock().await;
            match self.delete_offsets_of(&mut g, partitions) {
                Ok(0) => {}
                Ok(n) => {
                    deleted += n;
                    groups += 1;
                }
                Err(e) => {
                    tracing::error!(group_id = %g.group_id, error = %e,
                        "could not delete the offsets of deleted partitions; they stay committed");
                }
            }
        }
        if deleted > 0 {
            tracing::info!(
                offsets = deleted,
                groups,
                "deleted the committed offsets of deleted topics"
            );
        }
    }

    /// Tombstones the group's offsets of `partitions`; how many it held.
    fn delete_offsets_of(
        &self,
        g: &mut GroupInner,
        partitions: &[(String, i32)],
    ) -> Result<usize, ApiError> {
        let before: Vec<_> = g
            .offsets
            .fetch(Some(partitions))
            .into_iter()
            .filter(|(_, _, v)| v.is_some())
            .collect();
        if before.is_empty() {
            return Ok(0);
        }
        let held: Vec<(String, i32)> = before.iter().map(|(t, p, _)| (t.clone(), *p)).collect();
        let records = g.offsets.delete(&held);
        self.append_offsets(g, before, &records)
    }

    /// OffsetFetch: the named partitions, or every committed one.
    /// `Err` when this node does not coordinate the group (or is still
    /// loading it): never "no offset" from a former coordinator.
    pub async fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<Vec<(String, i32)>>,
    ) -> Result<Vec<(String, i32, Option<OffsetAndMetadata>)>, ApiError> {
        Ok(match self.owned(group_id)? {
            Some(slot) => {
                let g = slot.inner.lock().await;
                g.offsets.fetch(partitions.as_deref())
            }
            None => partitions
                .unwrap_or_default()
                .into_iter()
                .map(|(t, p)| (t, p, None))
                .collect(),
        })
    }

    /// OffsetDelete: only partitions the group is not subscribed to.
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        partitions: Vec<(String, i32)>,
    ) -> Result<PartitionResults, ApiError> {
        let slot = self.owned(group_id)?.ok_or(ApiError::GroupIdNotFound)?;
        let mut g = slot.inner.lock().await;
        let group = &g.group;
        if group.state() == GroupState::Dead {
            return Err(ApiError::GroupIdNotFound);
        }
        let consumer = group.protocol_type() == Some(CONSUMER_PROTOCOL);
        if !consumer && g.consumer.is_none() && group.state() != GroupState::Empty {
            return Err(ApiError::NonEmptyGroup);
        }
        let subscribed: Vec<String> = if let Some(c) = &g.consumer {
            consumer::subscribed_topics(c)
        } else if consumer {
            group
                .members()
                .iter()
                .flat_map(|m| subscribed_topics(&m.subscription))
                .collect()
        } else {
            Vec::new()
        };
        let mut results = Vec::with_capacity(partitions.len());
        let mut deletable = Vec::new();
        for (topic, partition) in partitions {
            if subscribed.contains(&topic) {
                results.push((topic, partition, Err(ApiError::GroupSubscribedToTopic)));
            } else {
                deletable.push((topic.clone(), partition));
                results.push((topic, partition, Ok(())));
            }
        }
        let before = g.offsets.fetch(Some(&deletable));
        let records = g.offsets.delete(&deletable);
        self.append_offsets(&mut g, before, &records)?;
        Ok(results)
    }

    // ---- admin ----

    pub async fn describe(&self, group_id: &str) -> Result<GroupSummary, ApiError> {
        let Some(slot) = self.owned(group_id)? else {
            return Ok(GroupSummary {
                group_id: group_id.to_string(),
                state: state_name(GroupState::Dead),
                group_type: "classic",
                protocol_type: None,
                protocol_name: None,
                members: Vec::new(),
            });
        };
        let g = slot.inner.lock().await;
        Ok(summarize_slot(&g))
    }

    /// Every live group held in memory (the metrics).
    pub async fn list(&self) -> Vec<GroupSummary> {
        self.list_where(|_| true).await
    }

    /// ListGroups: the live groups of the `__consumer_offsets` partitions
    /// this node leads, never those of a partition it has just lost;
    /// COORDINATOR_LOAD_IN_PROGRESS while one of them is being loaded
    /// (Kafka's `listGroups` fails whole then, as its read of that
    /// partition does).
    pub async fn list_coordinated(&self) -> Result<Vec<GroupSummary>, ApiError> {
        let led = self.led_partitions();
        if let Some(loading) = led.difference(&self.loaded.borrow()).next() {
            return Err(ApiError::CoordinatorLoadInProgress(format!(
                "the groups of {OFFSETS_TOPIC}-{loading} are being loaded"
            )));
        }
        Ok(self.list_where(|partition| led.contains(&partition)).await)
    }

    async fn list_where(&self, partition: impl Fn(i32) -> bool) -> Vec<GroupSummary> {
        let slots: Vec<Arc<Slot>> = self.groups.iter().map(|e| e.value().clone()).collect();
        let mut out = Vec::with_capacity(slots.len());
        for slot in slots {
            let g = slot.inner.lock().await;
            if g.group.state() != GroupState::Dead && partition(g.partition) {
                out.push(summarize_slot(&g));
            }
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// DeleteGroups for one group: only an Empty group goes, with its
    /// offsets.
    pub async fn delete_group(&self, group_id: &str) -> Result<(), ApiError> {
        let slot = self.owned(group_id)?.ok_or(ApiError::GroupIdNotFound)?;
        let mut g = slot.inner.lock().await;
        if g.group.state() == GroupState::Dead {
            return Err(ApiError::GroupIdNotFound);
        }
        if let Some(c) = &g.consumer {
            consumer::check_deletable(c)?;
        }
        self.remove_locked(&slot, &mut g)
    }

    /// Writes tombstones for the offsets and the group, and drops the slot.
    fn remove_locked(&self, slot: &Arc<Slot>, g: &mut GroupInner) -> Result<(), ApiError> {
        let outputs = g.group.delete().map_err(ApiError::from)?;
        let deleted = g.offsets.delete_all();
        let mut encoded = schema::encode_offsets(&g.group_id, &deleted);
        for output in outputs {
            if let Output::Record(r) = output {
                encoded.push(g.encode_group_record(r));
            }
        }
        if let Some(t) = g.timer.take() {
            t.abort();
        }
        self.groups
            .remove_if(&g.group_id, |_, v| Arc::ptr_eq(v, slot));
        metrics::set_groups(self.groups.len());
        Ok(self.append(g.partition, &encoded)?)
    }

    /// KIP-211 expiry, then removal of Empty groups left without offsets.
    pub async fn expire_offsets(&self) {
        let now = self.clock.now().wall_ms;
        let slots: Vec<Arc<Slot>> = self.groups.iter().map(|e| e.value().clone()).collect();
        let mut expired = 0usize;
        for slot in slots {
            let mut g = slot.inner.lock().await;
            if g.group.state() == GroupState::Dead || consumer::has_members(&g) {
                continue;
            }
            let GroupInner {
                group,
                offsets,
                group_id,
                partition,
                ..
            } = &mut *g;
            let records = offsets.expire(group, self.config.offsets_retention_ms, now);
            expired += records.len();
            let encoded = schema::encode_offsets(group_id, &records);
            if !encoded.is_empty() {
                let _ = self.append(*partition, &encoded);
            }
            if g.group.state() == GroupState::Empty && g.offsets.is_empty() {
                tracing::debug!(group_id = %g.group_id, "removing empty group without offsets");
                let _ = self.remove_locked(&slot, &mut g);
            }
        }
        if expired > 0 {
            tracing::info!(offsets = expired, "expired committed offsets");
        }
    }
}

/// Committed metadata reaches the coordinator here: a topic id that left
/// the image takes its partitions' offsets with it, in every group.
impl ImageListener for GroupCoordinator {
    fn on_image_published<'a>(
        &'a self,
        previous: &'a MetadataImage,
        next: &'a MetadataImage,
    ) -> ListenerFuture<'a> {
        Box::pin(async move {
            let deleted = deleted_partitions(previous, next);
            if !deleted.is_empty() {
                self.on_partitions_deleted(&deleted).await;
            }
            let resigned = elected_offsets_partitions(next, previous, self.node_id);
            if !resigned.is_empty() {
                self.on_partitions_resigned(&resigned).await;
            }
            let elected = elected_offsets_partitions(previous, next, self.node_id);
            if !elected.is_empty() {
                // Anything of these partitions still in memory is from an
                // earlier term here (a request that raced the resignation):
                // the log is newer.
                self.unload(&elected).await;
                // Reading the partitions' logs: off the async workers.
                if let Err(e) = crate::common::blocking(|| self.load_partitions(&elected)) {
                    tracing::error!(partitions = ?elected, error = %e, "could not load the groups of newly led {OFFSETS_TOPIC} partitions");
                }
            }
        })
    }
}

/// How long an offset commit waits for the ISR of its `__consumer_offsets`
/// partition (`offsets.commit.timeout.ms`'s default).
const COMMIT_REPLICATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Waits until `p`'s high watermark reaches `end` (the ISR has every record
/// below it). As Kafka's coordinator maps its append errors: leadership
/// gone is NOT_COORDINATOR, an ISR that did not confirm in time (or fell
/// below `min.insync.replicas`) COORDINATOR_NOT_AVAILABLE, both retriable.
async fn await_replicated(
    p: &crate::partition::Partition,
    end: i64,
    timeout: std::time::Duration,
) -> Result<(), ApiError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut changed = p.subscribe_high_watermark();
        match p.check_enough_replicas(end) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(crate::partition::ReplicaError::NotLeaderOrFollower { .. })
            | Err(crate::partition::ReplicaError::UnknownTopicOrPartition) => {
                return Err(ApiError::NotCoordinator(format!(
                    "{OFFSETS_TOPIC}-{} is led elsewhere now",
                    p.partition
                )));
            }
            Err(e) => {
                return Err(ApiError::CoordinatorNotAvailable(format!(
                    "the offsets were written but not replicated: {e}"
                )));
            }
        }
        if tokio::time::timeout_at(deadline, changed.changed())
            .await
            .is_err()
        {
            return Err(ApiError::CoordinatorNotAvailable(format!(
                "the in-sync replicas of {OFFSETS_TOPIC}-{} did not confirm the commit in time",
                p.partition
            )));
        }
    }
}

/// `__consumer_offsets` partitions `node` leads in `next` and did not in
/// `previous` (new partitions included): their groups are to be loaded.
/// With the images swapped: the partitions it resigned.
fn elected_offsets_partitions(
    previous: &MetadataImage,
    next: &MetadataImage,
    node: i32,
) -> Vec<i32> {
    let Some(topic) = next.topic(OFFSETS_TOPIC) else {
        return Vec::new();
    };
    let before = previous
        .topic(OFFSETS_TOPIC)
        .filter(|t| t.topic_id == topic.topic_id);
    topic
        .partitions
        .iter()
        .filter(|(p, state)| {
            state.leader == node
                && before
                    .and_then(|t| t.partitions.get(p))
                    .is_none_or(|was| was.leader != node)
        })
        .map(|(&p, _)| p)
        .collect()
}

fn summarize_slot(g: &GroupInner) -> GroupSummary {
    match &g.consumer {
        Some(consumer) => consumer::summarize(consumer),
        None => summarize(&g.group),
    }
}

fn summarize(group: &ClassicGroup) -> GroupSummary {
    let stable = group.state() == GroupState::Stable;
    GroupSummary {
        group_id: group.group_id().to_string(),
        state: state_name(group.state()),
        group_type: "classic",
        protocol_type: group.protocol_type().map(str::to_string),
        protocol_name: group.protocol_name().map(str::to_string),
        members: group
            .members()
            .into_iter()
            .map(|mut m| {
                // Kafka's DescribeGroups outside Stable drops the members'
                // metadata but keeps their last assignment.
                if !stable {
                    m.subscription = Bytes::new();
                }
                m
            })
            .collect(),
    }
}

/// Topics in a consumer-protocol subscription; none if it does not parse.
pub fn subscribed_topics(metadata: &Bytes) -> Vec<String> {
    use bytes::Buf;
    use kafka_protocol::messages::ConsumerProtocolSubscription;
    use kafka_protocol::protocol::Decodable;
    let mut buf = metadata.clone();
    if buf.len() < 2 {
        return Vec::new();
    }
    let version = buf.get_i16();
    ConsumerProtocolSubscription::decode(&mut buf, version.clamp(0, 3))
        .map(|s| s.topics.into_iter().map(|t| t.to_string()).collect())
        .unwrap_or_default()
}

/// The answer when a group was deleted under a waiting request.
fn removed() -> ApiError {
    ApiError::CoordinatorNotAvailable("the group was removed; find the coordinator again".into())
}

fn request_of(output: &Output) -> RequestId {
    match output {
        Output::Join { request, .. }
        | Output::Sync { request, .. }
        | Output::Heartbeat { request, .. }
        | Output::Leave { request, .. } => *request,
        Output::Record(_) | Output::Timer { .. } => RequestId(0),
    }
}

/// What a client is told when a coordinator write fails, by Kafka's rules
/// (`CoordinatorOperationExceptionHelper.handleOperationException`): a batch
/// too large for the offsets topic is UNKNOWN_SERVER_ERROR, which clients do
/// not retry (retrying could never succeed); a partition that is gone or a
/// failed log is NOT_COORDINATOR; anything else is our own fault.
fn write_error(partition: i32, e: ReplicaError) -> GroupError {
    match e {
        ReplicaError::Log(e @ LogError::BatchTooLarge { .. }) => {
            tracing::debug!(partition, error = %e, "a coordinator write is too large for {OFFSETS_TOPIC}");
            GroupError::UnknownServerError(format!(
                "the group state to write is too large for {OFFSETS_TOPIC}: {e}"
            ))
        }
        ReplicaError::UnknownTopicOrPartition => GroupError::CoordinatorNotAvailable,
        ReplicaError::Storage(m) => {
            tracing::error!(partition, error = %m, "appending to {OFFSETS_TOPIC} failed");
            GroupError::NotCoordinator(format!("writing group state failed: {m}"))
        }
        ReplicaError::Log(e @ (LogError::Offline | LogError::Io(_))) => {
            let m = e.to_string();
            tracing::error!(partition, error = %m, "appending to {OFFSETS_TOPIC} failed");
            GroupError::NotCoordinator(format!("writing group state failed: {m}"))
        }
        other => {
            tracing::error!(partition, error = %other, "appending to {OFFSETS_TOPIC} failed");
            GroupError::UnknownServerError(format!("writing group state failed: {other}"))
        }
    }
}

/// The answer to give when the records before it could not be written.
fn fail_response(output: Output, err: GroupError) -> Output {
    match output {
        Output::Join {
            request,
            mut response,
        } => {
            response.error = Some(err);
            Output::Join { request, response }
        }
        Output::Sync { request, .. } => Output::Sync {
            request,
            result: Err(err),
        },
        Output::Heartbeat { request, .. } => Output::Heartbeat {
            request,
            result: Err(err),
        },
        Output::Leave { request, .. } => Output::Leave {
            request,
            result: Err(err),
        },
        other => other,
    }
}
