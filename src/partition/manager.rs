//! The partitions hosted by this broker, kept in step with the metadata
//! image: every partition whose replica set names this node gets a local
//! log and takes the image's registration, leading (served to clients)
//! or following (fed by a replica fetcher, [`super::fetcher`]); one whose
//! replica set no longer names it stops, its log kept on disk; one that
//! left the image is deleted. ISR changes a leader proposes queue here for
//! the node's AlterPartition sender. Kafka counterpart: `ReplicaManager`
//! plus the broker's metadata publisher that applies deltas to it
//! (`applyDelta`: become leader, become follower, stop serving).
//!
//! Called from the controller driver after each published image, and from
//! request handlers (look-ups only).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use dashmap::DashMap;

use super::Partition;
use super::error::ReplicaError;
use super::replica::{ImageSlot, RoleChange};
use super::replication_state::{AlterPartitionRequest, PartitionRegistration};
use crate::common::blocking;
use crate::common::ids::{BrokerEpoch, BrokerId};
use crate::common::parallel::{DISK_THREADS, map_in_parallel};
use crate::config::BrokerConfig;
use crate::config::topic::resolve_log_config;
use crate::log::offset_checkpoint::{self, OffsetCheckpoints};
use crate::log::{LogConfig, LogManager};
use crate::metadata::listener::{ImageListener, ListenerFuture};
use crate::metadata::store::METADATA_TOPIC;
use crate::metadata::{MetadataImage, PartitionImage, TopicImage};

pub struct ReplicaManager {
    node_id: i32,
    /// The static config from start-up.
    config: Arc<BrokerConfig>,
    /// `config` with the image's dynamic broker configs applied.
    effective: RwLock<Arc<BrokerConfig>>,
    /// The dynamic broker configs `effective` was built from.
    applied_broker_configs: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
    logs: Arc<LogManager>,
    /// Hosted partitions by topic, then partition: looked up by `&str` on
    /// every produce and fetch without allocating a key.
    partitions: DashMap<String, HashMap<i32, Arc<Partition>>>,
    /// The topic images last applied, to re-apply configs only on change.
    applied_topics: Mutex<HashMap<String, Arc<TopicImage>>>,
    /// Woken after every image applied: partitions may have opened.
    applied: tokio::sync::Notify,
    /// The image last applied, shared with every partition.
    image: ImageSlot,
    /// This broker's epoch in that image (-1: not registered in it).
    applied_broker_epoch: std::sync::atomic::AtomicI64,
    /// Bumped whenever a partition starts following (anew): the replica
    /// fetchers re-read their assignments.
    follow_generation: tokio::sync::watch::Sender<u64>,
    alter_partitions: tokio::sync::mpsc::UnboundedSender<AlterPartitionItem>,
    alter_partitions_rx: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<AlterPartitionItem>>>,
    /// The high watermarks `replication-offset-checkpoint` held at start-up,
    /// each taken by its partition when it opens.
    checkpointed_high_watermarks: Mutex<OffsetCheckpoints>,
    /// What was last written to each log dir's `replication-offset-checkpoint`.
    written_high_watermarks: Mutex<HashMap<PathBuf, OffsetCheckpoints>>,
}

/// Kafka's file of each partition's high watermark, per log dir.
pub const HIGH_WATERMARK_CHECKPOINT_FILE: &str = "replication-offset-checkpoint";

/// An ISR change for the controller, with the partition to answer.
pub type AlterPartitionItem = (Arc<Partition>, AlterPartitionRequest);

impl ReplicaManager {
    pub fn new(config: Arc<BrokerConfig>, logs: Arc<LogManager>) -> Self {
        let (alter_partitions, alter_partitions_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut checkpointed = OffsetCheckpoints::new();
        for dir in logs.log_dirs() {
            match offset_checkpoint::read(
                dir,
                HIGH_WATERMARK_CHECKPOINT_FILE,
                "its partitions start with the high watermark at their log start",
            ) {
                Ok(entries) => checkpointed.extend(entries),
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "could not read {HIGH_WATERMARK_CHECKPOINT_FILE}")
                }
            }
        }
        ReplicaManager {
            checkpointed_high_watermarks: Mutex::new(checkpointed),
            written_high_watermarks: Mutex::new(HashMap::new()),
            image: Arc::new(RwLock::new(Arc::new(MetadataImage::empty()))),
            applied_broker_epoch: std::sync::atomic::AtomicI64::new(-1),
            follow_generation: tokio::sync::watch::channel(0).0,
            alter_partitions,
            alter_partitions_rx: Mutex::new(Some(alter_partitions_rx)),
            node_id: config.node_id,
            effective: RwLock::new(config.clone()),
            applied_broker_configs: Mutex::new(BTreeMap::new()),
            config,
            logs,
            partitions: DashMap::new(),
            applied_topics: Mutex::new(HashMap::new()),
            applied: tokio::sync::Notify::new(),
        }
    }

    pub fn effective_config(&self) -> Arc<BrokerConfig> {
        self.effective
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Rebuilds the effective config when the image's dynamic broker configs
    /// changed. Returns whether it changed. A dynamic config that no longer
    /// checks (validated when written, so only a hand-edited log) is logged
    /// and the previous config kept.
    fn apply_broker_configs(&self, image: &MetadataImage) -> bool {
        let mut applied = self
            .applied_broker_configs
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if *applied == image.broker_configs {
            return false;
        }
        let empty = BTreeMap::new();
        let default = image.broker_configs.get("").unwrap_or(&empty);
        let own = image
            .broker_configs
            .get(&self.node_id.to_string())
            .unwrap_or(&empty);
        match self.config.with_dynamic(default, own) {
            Ok(effective) => {
                tracing::info!(cluster_default = ?default, this_broker = ?own, "applied dynamic broker configs");
                *self.effective.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(effective);
            }
            Err(e) => {
                tracing::error!(error = %e, "dynamic broker configs do not check; keeping the previous ones")
            }
        }
        *applied = image.broker_configs.clone();
        true
    }

    pub fn logs(&self) -> &Arc<LogManager> {
        &self.logs
    }

    /// The metadata image applied last.
    pub fn current_image(&self) -> Arc<MetadataImage> {
        self.image.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The partition, when this node leads it.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.hosted(topic, partition).filter(|p| p.is_leader())
    }

    /// The partition, leading or following.
    pub fn hosted(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.partitions.get(topic)?.get(&partition).cloned()
    }

    /// Every hosted partition following a leader, by leader.
    pub fn followed(&self) -> HashMap<BrokerId, Vec<Arc<Partition>>> {
        let mut by_leader: HashMap<BrokerId, Vec<Arc<Partition>>> = HashMap::new();
        for entry in self.partitions.iter() {
            for partition in entry.value().values() {
                if let Some(leader) = partition.following() {
                    by_leader.entry(leader).or_default().push(partition.clone());
                }
            }
        }
        by_leader
    }

    /// Every partition this node leads.
    pub fn led(&self) -> Vec<Arc<Partition>> {
        self.partitions
            .iter()
            .flat_map(|e| {
                e.value()
                    .values()
                    .filter(|p| p.is_leader())
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Changes when partitions start following anew.
    pub fn subscribe_follow_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.follow_generation.subscribe()
    }

    /// Queues an ISR change for the controller.
    pub fn send_alter_partition(&self, partition: Arc<Partition>, request: AlterPartitionRequest) {
        // Closed only when the node stops: the change is moot then.
        let _ = self.alter_partitions.send((partition, request));
    }

    /// The queue of ISR changes, for the node's one sender task.
    pub fn take_alter_partition_queue(
        &self,
    ) -> Option<tokio::sync::mpsc::UnboundedReceiver<AlterPartitionItem>> {
        self.alter_partitions_rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// The periodic ISR check of every partition led here.
    pub fn maybe_shrink_isrs(&self, now_ms: i64) {
        for partition in self.led() {
            if let Some(request) = partition.maybe_shrink_isr(now_ms) {
                self.send_alter_partition(partition, request);
            }
        }
    }

    /// The partition this node serves as leader, or why not, by `image`
    /// ([`not_served`]): what every per-partition request handler starts
    /// with.
    pub fn leader(
        &self,
        image: &MetadataImage,
        topic: &str,
        partition: i32,
    ) -> Result<Arc<Partition>, ReplicaError> {
        self.partition(topic, partition)
            .ok_or_else(|| not_served(image, topic, partition))
    }

    /// The hosted partition, waiting up to `timeout` for it to open: a
    /// partition is in the published image before this manager has opened
    /// its log (the loader publishes, then tells its listeners), and a
    /// request can arrive in between.
    pub async fn partition_opened(
        &self,
        topic: &str,
        partition: i32,
        timeout: std::time::Duration,
    ) -> Option<Arc<Partition>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let applied = self.applied.notified();
            tokio::pin!(applied);
            // Registered before the check, so an image applied between the
            // check and the wait still wakes it.
            applied.as_mut().enable();
            if let Some(p) = self.partition(topic, partition) {
                return Some(p);
            }
            if tokio::time::timeout_at(deadline, applied).await.is_err() {
                return self.partition(topic, partition);
            }
        }
    }

    pub fn partition_count(&self) -> usize {
        self.partitions.iter().map(|t| t.value().len()).sum()
    }

    /// Brings local partitions in line with `image`: deletes those that left
    /// it, stops serving those led elsewhere now, opens those this node now
    /// leads, and pushes changed topic configs and leader epochs to them. A failure to open one partition is logged and leaves
    /// the others working.
    pub fn apply_image(&self, image: &MetadataImage, now_ms: i64) {
        let broker_configs_changed = self.apply_broker_configs(image);
        let config = self.effective_config();
        let mut applied = self
            .applied_topics
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if broker_configs_changed {
            // Every topic inherits broker defaults: re-resolve them all.
            applied.clear();
        }

        *self.image.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(image.clone());
        let local = BrokerId(self.node_id);
        let broker_epoch = image
            .brokers
            .get(&self.node_id)
            .map_or(BrokerEpoch::NONE, |b| BrokerEpoch(b.broker_epoch));

        // A restart opens partitions from the metadata on disk, before the
        // new registration: once the image has it, they speak with its epoch.
        if self
            .applied_broker_epoch
            .swap(broker_epoch.0, std::sync::atomic::Ordering::AcqRel)
            != broker_epoch.0
        {
            for entry in self.partitions.iter() {
                for partition in entry.value().values() {
                    partition.set_broker_epoch(broker_epoch);
                }
            }
        }

        let mut stale: Vec<(String, i32)> = Vec::new();
        let mut resigned: Vec<(String, i32)> = Vec::new();
        for entry in self.partitions.iter() {
            let in_image = image.topic(entry.key());
            for (&p, partition) in entry.value() {
                let state = in_image
                    .filter(|t| t.topic_id == partition.topic_id)
                    .and_then(|t| t.partitions.get(&p));
                match state {
                    None => stale.push((entry.key().clone(), p)),
                    Some(s) if !s.replicas.contains(&self.node_id) && s.leader != self.node_id => {
                        resigned.push((entry.key().clone(), p));
                    }
                    Some(_) => {}
                }
            }
        }
        // No longer a replica here: not served, producer state written so
        // a later assignment here starts from it, the log left in place.
        let expiration = i64::from(config.producer_id_expiration_ms);
        for (topic, p) in resigned {
            let Some(partition) = self
                .partitions
                .get_mut(&topic)
                .and_then(|mut hosted| hosted.remove(&p))
            else {
                continue;
            };
            self.partitions
                .remove_if(&topic, |_, hosted| hosted.is_empty());
            if let Err(e) = partition.checkpoint(now_ms, expiration, false) {
                tracing::warn!(topic, partition = p, error = %e, "producer state checkpoint failed on leaving the replica set");
            }
            tracing::info!(
                topic,
                partition = p,
                "no longer a replica here; partition not served"
            );
        }
        for (topic, p) in stale {
            if let Some(mut hosted) = self.partitions.get_mut(&topic) {
                hosted.remove(&p);
            }
            self.partitions
                .remove_if(&topic, |_, hosted| hosted.is_empty());
            applied.remove(&topic);
            if let Err(e) = self.logs.delete(&topic, p) {
                tracing::error!(topic, partition = p, error = %e, "could not delete the log of a deleted partition");
            } else {
                tracing::info!(topic, partition = p, "deleted partition log");
            }
        }

        let mut follow_changed = false;
        for (name, topic) in &image.topics {
            let changed = applied
                .get(name)
                .is_none_or(|prev| !Arc::ptr_eq(prev, topic));
            if !changed {
                continue;
            }
            let log_config = resolve_log_config(&topic.configs, &config);
            let here: Vec<(i32, &PartitionImage)> = topic
                .partitions
                .iter()
                .filter(|(_, state)| {
                    state.replicas.contains(&self.node_id) || state.leader == self.node_id
                })
                .map(|(&p, state)| (p, state))
                .collect();
            let applying = Applying {
                name,
                topic,
                log_config: &log_config,
                replica_lag_time_max_ms: config.replica_lag_time_max_ms,
                broker: (local, broker_epoch),
                now_ms,
            };
            let applied_one =
                |&(p, state): &(i32, &PartitionImage)| self.apply_partition(&applying, p, state);
            // A topic of thousands of partitions: a log each to create.
            if map_in_parallel(&here, DISK_THREADS, applied_one)
                .into_iter()
                .any(|c| c)
            {
                follow_changed = true;
            }
            applied.insert(name.clone(), topic.clone());
        }
        drop(applied);
        if follow_changed {
            self.follow_generation.send_modify(|g| *g += 1);
        }

        // Logs no partition of the image claims (a topic deleted while this
        // broker was down, a delete cut short) are strays: moved aside,
        // never served or adopted by a new topic of the same name.
        self.logs.move_aside_strays(|topic, partition, topic_id| {
            topic == METADATA_TOPIC
                || image.topic(topic).is_some_and(|t| {
                    t.partitions.contains_key(&partition)
                        && topic_id.is_none_or(|id| id == t.topic_id)
                })
        });
        self.applied.notify_waiters();
    }

    /// One partition of a committed image that names this broker: its log
    /// opened (created if new) and its registration applied. True when
    /// the broker's followed leaders changed.
    fn apply_partition(&self, applying: &Applying<'_>, p: i32, state: &PartitionImage) -> bool {
        let Applying {
            name,
            topic,
            log_config,
            replica_lag_time_max_ms,
            broker,
            now_ms,
        } = *applying;
        let partition = match self.hosted(name, p) {
            Some(existing) => {
                existing.log.update_config(log_config.clone());
                existing.set_replica_lag_time_max_ms(replica_lag_time_max_ms);
                existing
            }
            None => match self.logs.get_or_create(
                name,
                p,
                Some(topic.topic_id),
                log_config.clone(),
                now_ms,
            ) {
                Ok(log) => {
                    log.update_config(log_config.clone());
                    let high_watermark = self
                        .checkpointed_high_watermarks
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&(name.clone(), p))
                        .unwrap_or(0);
                    let partition = Arc::new(Partition::open(
                        name.clone(),
                        p,
                        topic.topic_id,
                        log,
                        broker,
                        high_watermark,
                        replica_lag_time_max_ms,
                        self.image.clone(),
                    ));
                    self.partitions
                        .entry(name.clone())
                        .or_default()
                        .insert(p, partition.clone());
                    partition
                }
                Err(e) => {
                    tracing::error!(topic = %name, partition = p, error = %e, "could not open partition log");
                    return false;
                }
            },
        };
        let registration = PartitionRegistration::from(state);
        match partition.apply_registration(&registration, now_ms) {
            RoleChange::Leader { is_new: true } => {
                tracing::info!(topic = %name, partition = p, leader_epoch = state.leader_epoch,
                    isr = ?state.isr, "leading the partition");
                true
            }
            RoleChange::Follower {
                leader,
                restart: true,
            } => {
                tracing::info!(topic = %name, partition = p, leader = leader.0,
                    leader_epoch = state.leader_epoch, "following the partition's leader");
                true
            }
            _ => false,
        }
    }

    /// Writes each log dir's `replication-offset-checkpoint`: the high
    /// watermark of every partition hosted there (Kafka's
    /// `checkpointHighWatermarks`, every
    /// `replica.high.watermark.checkpoint.interval.ms` and at shutdown), so
    /// a restarted leader serves its committed records at once instead of
    /// waiting for its followers. Skipped for a dir whose watermarks have
    /// not moved since the last write.
    pub fn checkpoint_high_watermarks(&self) {
        if !self.config.is_broker() {
            return;
        }
        let mut by_dir: HashMap<PathBuf, OffsetCheckpoints> = self
            .logs
            .log_dirs()
            .iter()
            .map(|dir| (dir.clone(), OffsetCheckpoints::new()))
            .collect();
        for entry in self.partitions.iter() {
            for (p, partition) in entry.value() {
                let Some(dir) = partition.log.dir().parent() else {
                    continue;
                };
                by_dir
                    .entry(dir.to_path_buf())
                    .or_default()
                    .insert((entry.key().clone(), *p), partition.high_watermark());
            }
        }
        let mut written = self
            .written_high_watermarks
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for (dir, entries) in by_dir {
            if written.get(&dir) == Some(&entries) || self.logs.is_dir_offline(&dir) {
                continue;
            }
            match offset_checkpoint::write(&dir, HIGH_WATERMARK_CHECKPOINT_FILE, &entries) {
                Ok(()) => {
                    written.insert(dir, entries);
                }
                Err(e) => {
                    tracing::error!(dir = %dir.display(), error = %e, "could not write {HIGH_WATERMARK_CHECKPOINT_FILE}");
                    // Kafka's `OffsetCheckpointFile`: a failed checkpoint
                    // write fails its log dir.
                    self.logs.fail_dir(&dir, &e);
                }
            }
        }
    }

    /// Writes every partition's producer snapshot; with `flush_log` the
    /// logs are fsynced first (clean shutdown).
    pub fn checkpoint_all(&self, now_ms: i64, flush_log: bool) {
        let expiration = i64::from(self.effective_config().producer_id_expiration_ms);
        for entry in self.partitions.iter() {
            for (p, partition) in entry.value() {
                if let Err(e) = partition.checkpoint(now_ms, expiration, flush_log) {
                    tracing::error!(topic = %entry.key(), partition = p, error = %e, "partition checkpoint failed");
                }
            }
        }
    }
}

/// Why a partition that is not open here is not served, as Kafka's
/// `ReplicaManager.getPartitionOrError` answers: absent from the image is
/// UNKNOWN_TOPIC_OR_PARTITION; in the image but not hosted here is
/// NOT_LEADER_OR_FOLLOWER with the image's leader and epoch. That covers
/// a partition led by another broker or by none, and one the image gives
/// this broker that is still being opened (the image is published just
/// before the replica manager applies it): the client retries, as it does
/// against Kafka in the same window.
pub fn not_served(image: &MetadataImage, topic: &str, partition: i32) -> ReplicaError {
    match image
        .topic(topic)
        .and_then(|t| t.partitions.get(&partition))
    {
        None => ReplicaError::UnknownTopicOrPartition,
        Some(p) => ReplicaError::NotLeaderOrFollower {
            leader_id: p.leader,
            leader_epoch: p.leader_epoch,
        },
    }
}

/// What every partition of one topic of an image is applied with.
#[derive(Clone, Copy)]
struct Applying<'a> {
    name: &'a String,
    topic: &'a TopicImage,
    log_config: &'a LogConfig,
    replica_lag_time_max_ms: i64,
    broker: (BrokerId, BrokerEpoch),
    now_ms: i64,
}

/// The replica manager reacts to every committed image: partitions are
/// created, reconfigured and deleted before the other listeners run.
/// Kafka counterpart: `ReplicaManager.applyDelta`, called by the broker's
/// metadata publisher.
impl ImageListener for ReplicaManager {
    fn on_image_published<'a>(
        &'a self,
        _previous: &'a MetadataImage,
        next: &'a MetadataImage,
    ) -> ListenerFuture<'a> {
        // Creating, reconfiguring and deleting logs: directory fsyncs.
        Box::pin(async move { blocking(|| self.apply_image(next, crate::now_ms())) })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use uuid::Uuid;

    use super::*;
    use crate::log::LogConfig;
    use crate::metadata::MetadataRecord;
    use crate::metadata::records::PartitionRecord;

    fn image_with(topic: &str, partitions: i32) -> MetadataImage {
        let mut image = MetadataImage::empty();
        let id = Uuid::from_u128(1);
        image.replay(
            0,
            &MetadataRecord::Topic {
                name: topic.into(),
                topic_id: id,
            },
        );
        for partition in 0..partitions {
            image.replay(
                1 + i64::from(partition),
                &MetadataRecord::Partition(PartitionRecord::new(id, partition, vec![1])),
            );
        }
        image
    }

    /// Leadership that moves away stops the serving, not the log; when it
    /// comes back the partition is served again, on the same log, with the
    /// image's newer epoch.
    #[test]
    fn a_partition_led_elsewhere_is_not_served_and_keeps_its_log() {
        use crate::metadata::records::{NO_LEADER, PartitionChangeRecord};
        let tmp = tempfile::tempdir().unwrap();
        let config = Arc::new(BrokerConfig {
            log_dirs: vec![tmp.path().to_path_buf()],
            ..BrokerConfig::default()
        });
        let logs = Arc::new(LogManager::open(&config.log_dirs, LogConfig::default(), 0).unwrap());
        let replicas = ReplicaManager::new(config, logs);
        let mut image = image_with("t", 2);
        replicas.apply_image(&image, 0);
        let dir = replicas.partition("t", 0).unwrap().log.dir().to_path_buf();
        let change = |image: &mut MetadataImage, leader| {
            let next = image.offset + 1;
            image.replay(
                next,
                &MetadataRecord::PartitionChange(PartitionChangeRecord {
                    leader,
                    ..PartitionChangeRecord::new(Uuid::from_u128(1), 0)
                }),
            );
        };
        for leader in [NO_LEADER, 2] {
            change(&mut image, leader);
            replicas.apply_image(&image, 0);
            assert!(replicas.partition("t", 0).is_none(), "leader {leader}");
            assert!(dir.exists(), "the log stays");
            assert!(replicas.partition("t", 1).is_some(), "the other stays");
        }
        change(&mut image, 1);
        replicas.apply_image(&image, 0);
        let back = replicas.partition("t", 0).expect("served again");
        assert_eq!(back.leader_epoch(), 3);
        assert_eq!(back.log.dir(), dir);
    }

    /// A restarted leader of a replicated partition starts from the high
    /// watermark it checkpointed, not from its log start: its committed
    /// records are served (and ListOffsets latest answered) before any
    /// follower has fetched.
    #[test]
    fn a_restarted_leader_starts_from_its_checkpointed_high_watermark() {
        let tmp = tempfile::tempdir().unwrap();
        let config = Arc::new(BrokerConfig {
            log_dirs: vec![tmp.path().to_path_buf()],
            ..BrokerConfig::default()
        });
        let image_with_isr = |isr: Vec<i32>| {
            let mut image = MetadataImage::empty();
            let id = Uuid::from_u128(1);
            image.replay(
                0,
                &MetadataRecord::Topic {
                    name: "t".into(),
                    topic_id: id,
                },
            );
            let mut record = PartitionRecord::new(id, 0, vec![1, 2, 3]);
            record.isr = isr;
            image.replay(1, &MetadataRecord::Partition(record));
            image
        };
        {
            let logs =
                Arc::new(LogManager::open(&config.log_dirs, LogConfig::default(), 0).unwrap());
            let replicas = ReplicaManager::new(config.clone(), logs);
            // Alone in the ISR (min ISR 1): the high watermark follows the log end.
            replicas.apply_image(&image_with_isr(vec![1]), 0);
            let leader = replicas.partition("t", 0).unwrap();
            let recs: Vec<_> = (0..5).map(|_| (None, Some(&b"v"[..]))).collect();
            leader
                .append(crate::log::testing::make_batch(&recs, 1000, None), 0)
                .unwrap();
            assert_eq!(leader.high_watermark(), 5);
            replicas.checkpoint_high_watermarks();
            replicas.logs().shutdown().unwrap();
        }
        let text =
            std::fs::read_to_string(tmp.path().join(HIGH_WATERMARK_CHECKPOINT_FILE)).unwrap();
        assert_eq!(text, "0\n1\nt 0 5\n", "Kafka's format");
        let logs = Arc::new(LogManager::open(&config.log_dirs, LogConfig::default(), 0).unwrap());
        let replicas = ReplicaManager::new(config, logs);
        // The whole replica set in the ISR, no follower heard from yet.
        replicas.apply_image(&image_with_isr(vec![1, 2, 3]), 0);
        let leader = replicas.partition("t", 0).unwrap();
        assert_eq!(leader.high_watermark(), 5);
    }

    #[test]
    fn a_partition_not_open_here_is_refused_by_what_the_image_says() {
        use crate::metadata::records::{NO_LEADER, PartitionChangeRecord};
        let mut image = image_with("t", 1);
        // Led here but not open yet: retriable, as Kafka answers it.
        assert!(matches!(
            not_served(&image, "t", 0),
            ReplicaError::NotLeaderOrFollower {
                leader_id: 1,
                leader_epoch: 0
            }
        ));
        assert!(matches!(
            not_served(&image, "t", 1),
            ReplicaError::UnknownTopicOrPartition
        ));
        assert!(matches!(
            not_served(&image, "u", 0),
            ReplicaError::UnknownTopicOrPartition
        ));
        let next = image.offset + 1;
        image.replay(
            next,
            &MetadataRecord::PartitionChange(PartitionChangeRecord {
                leader: NO_LEADER,
                ..PartitionChangeRecord::new(Uuid::from_u128(1), 0)
            }),
        );
        assert!(matches!(
            not_served(&image, "t", 0),
            ReplicaError::NotLeaderOrFollower {
                leader_id: -1,
                leader_epoch: 1
            }
        ));
    }

    /// A request that finds a partition in the image before its log is
    /// open is woken when the image has been applied, and one for a
    /// partition that never opens gives up at its deadline.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiter_sees_the_partition_once_the_image_is_applied() {
        let tmp = tempfile::tempdir().unwrap();
        let config = Arc::new(BrokerConfig {
            log_dirs: vec![tmp.path().to_path_buf()],
            ..BrokerConfig::default()
        });
        let logs = Arc::new(LogManager::open(&config.log_dirs, LogConfig::default(), 0).unwrap());
        let replicas = Arc::new(ReplicaManager::new(config, logs));
        let waiter = {
            let r = replicas.clone();
            tokio::spawn(async move { r.partition_opened("t", 1, Duration::from_secs(30)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "nothing is open yet");
        let r = replicas.clone();
        tokio::task::spawn_blocking(move || r.apply_image(&image_with("t", 2), 0))
            .await
            .unwrap();
        let opened = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken by the applied image")
            .unwrap();
        assert_eq!(opened.map(|p| p.partition), Some(1));
        let never = replicas
            .partition_opened("t", 7, Duration::from_millis(30))
            .await;
        assert!(never.is_none());
    }
}
