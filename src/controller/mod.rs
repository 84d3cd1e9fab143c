//! The controller: validates admin requests and turns them into metadata
//! records. Decisions are pure functions of the controller's image
//! ([`topics`], [`configs`], [`producer_ids`], [`cluster`],
//! [`alter_partition`]); [`Controller`] is the thin
//! driver that serializes them, makes the records durable in the metadata
//! log, and hands each committed batch to the metadata loader. It never
//! touches the broker side: the replica manager and the coordinators react
//! to committed records as the loader's listeners, exactly as they would
//! if the records had come from a remote controller.
//!
//! Requests arrive typed through [`channel::ControllerChannel`] (a local
//! call in a combined node; forwarded over the network later).
//!
//! Kafka counterparts: `QuorumController`, `ReplicationControlManager`,
//! `ConfigurationControlManager`, `ProducerIdControlManager`. Today the
//! quorum is this one node; KRaft later sits under the same
//! [`crate::metadata::store::MetadataStore`] append.

pub mod alter_partition;
pub mod channel;
pub mod cluster;
pub mod configs;
pub mod error;
pub mod placement;
pub mod producer_ids;
pub mod remote;
pub mod replication;
pub mod topics;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use channel::{ControllerRequest, ControllerResponse};
pub use topics::ClusterView;

use crate::common::blocking;
use crate::config::BrokerConfig;
use crate::metadata::loader::{CommittedBatch, MetadataLoader};
use crate::metadata::store::MetadataStore;
use crate::metadata::{MetadataImage, MetadataRecord};
pub use error::ControllerError;

/// Kafka's `maxElectionsPerImbalance`: preferred elections per decision of
/// the auto leader rebalance.
const MAX_ELECTIONS_PER_ROUND: usize = 1000;

pub struct Controller {
    config: Arc<BrokerConfig>,
    cluster_id: String,
    store: MetadataStore,
    /// Where committed batches go: this node's broker side.
    loader: Arc<MetadataLoader>,
    /// The controller's own image, the input of every decision. Also the
    /// lock that serializes them: each decision sees its predecessor's
    /// records.
    image: tokio::sync::Mutex<Arc<MetadataImage>>,
    /// When each broker was last heard from (Kafka's
    /// `BrokerHeartbeatManager`), by broker id.
    last_heartbeat_ms: Mutex<HashMap<i32, i64>>,
    /// When this controller started (a session's start for brokers not
    /// heard from since).
    started_ms: i64,
    /// When the session-expiry check last ran, to tell a stall of this
    /// process from brokers gone silent.
    last_expiry_check_ms: Mutex<Option<i64>>,
}

impl Controller {
    /// A controller whose metadata log replays to `image`.
    pub fn new(
        config: Arc<BrokerConfig>,
        cluster_id: String,
        store: MetadataStore,
        image: Arc<MetadataImage>,
        loader: Arc<MetadataLoader>,
    ) -> Self {
        Controller {
            config,
            cluster_id,
            store,
            loader,
            image: tokio::sync::Mutex::new(image),
            last_heartbeat_ms: Mutex::default(),
            started_ms: crate::now_ms(),
            last_expiry_check_ms: Mutex::new(None),
        }
    }

    fn session_is_live(&self, broker_id: i32, now_ms: i64) -> bool {
        let seen = self
            .last_heartbeat_ms
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        seen.get(&broker_id)
            .is_some_and(|at| now_ms - at < i64::from(self.config.broker_session_timeout_ms))
    }

    /// Notes a broker's heartbeat at `now_ms`, the time it is served.
    fn touch(&self, broker_id: i32, now_ms: i64) {
        self.last_heartbeat_ms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(broker_id, now_ms);
    }

    /// Fences the brokers whose session expired: no heartbeat for
    /// `broker.session.timeout.ms`. A broker never heard from since this
    /// controller started gets a whole session from the start, as Kafka's
    /// controller gives every registered broker when it becomes active.
    /// Sessions are judged as of the call, not of when the decision lock
    /// is had: heartbeats queued behind a long decision are not held
    /// against their brokers. Called every `period_ms`; a call that comes
    /// much later than that finds this process was stalled (starved of
    /// CPU, or its runtime blocked on a slow disk), and the stall is not
    /// held against the brokers either: a combined node whose heartbeat
    /// task could not run would otherwise fence its own broker. Returns
    /// the ids fenced.
    pub async fn fence_expired_sessions(
        &self,
        period_ms: i64,
    ) -> Result<Vec<i32>, ControllerError> {
        let timeout = i64::from(self.config.broker_session_timeout_ms);
        let now = crate::now_ms();
        let previous = self
            .last_expiry_check_ms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(now);
        self.try_commit(|image, _| {
            let mut seen = self
                .last_heartbeat_ms
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            for id in image.brokers.keys() {
                seen.entry(*id).or_insert(self.started_ms);
            }
            if let Some(stalled) = forgive_stall(&mut seen, previous, now, period_ms) {
                tracing::warn!(
                    stalled_ms = stalled,
                    "the controller could not run for a while; broker sessions are extended by that time"
                );
            }
            let records = cluster::fence_expired_sessions(image, |id| {
                seen.get(&id).is_none_or(|at| now - at >= timeout)
            });
            let fenced = records
                .iter()
                .filter_map(|r| match r {
                    MetadataRecord::BrokerRegistrationChange { broker_id, .. } => Some(*broker_id),
                    _ => None,
                })
                .collect();
            Ok((records, fenced))
        })
        .await
    }

    /// Kafka's auto leader rebalance: preferred elections for the
    /// partitions not led by their preferred replica, where that replica
    /// is active and in sync, at most `MAX_ELECTIONS_PER_ROUND` a decision
    /// and again at once while more remain. Returns how many were elected.
    pub async fn rebalance_leaders(&self) -> Result<usize, ControllerError> {
        let mut elected = 0;
        loop {
            let (count, more) = self
                .commit(|image| {
                    let (records, more) =
                        replication::rebalance_leaders(image, MAX_ELECTIONS_PER_ROUND);
                    let count = records.len();
                    (records, (count, more))
                })
                .await?;
            elected += count;
            if !more {
                return Ok(elected);
            }
        }
    }

    /// Serves one request. The response is returned only after its records
    /// are durable and the broker side has applied them.
    pub async fn handle(
        &self,
        request: ControllerRequest,
    ) -> Result<ControllerResponse, ControllerError> {
        // Kafka's placer starts its stripes at random, so that topics
        // created one after another do not all lead on the same broker.
        let placement_start = uuid::Uuid::new_v4().as_u128() as usize;
        let cluster =
            |image: &MetadataImage| ClusterView::of_image(image, &self.config, placement_start);
        let config = self.config.clone();
        match request {
            ControllerRequest::CreateTopics(r) => self
                .commit(|image| {
                    topics::create_topics_request(image, &cluster(image), &r, uuid::Uuid::new_v4)
                })
                .await
                .map(ControllerResponse::CreateTopics),
            ControllerRequest::DeleteTopics(r) => self
                .commit(|image| topics::delete_topics(image, config.delete_topic_enable, &r))
                .await
                .map(ControllerResponse::DeleteTopics),
            ControllerRequest::CreatePartitions(r) => self
                .commit(|image| {
                    let (records, results) =
                        topics::create_partitions(image, &cluster(image), &r.increases);
                    (if r.validate_only { vec![] } else { records }, results)
                })
                .await
                .map(ControllerResponse::CreatePartitions),
            ControllerRequest::ElectLeaders(r) => self
                .commit(|image| replication::elect_leaders(image, &r))
                .await
                .map(ControllerResponse::ElectLeaders),
            ControllerRequest::AlterConfigs(r) => self
                .commit(|image| {
                    let (records, results) = configs::alter_configs(image, &config, &r.requests);
                    (if r.validate_only { vec![] } else { records }, results)
                })
                .await
                .map(ControllerResponse::AlterConfigs),
            ControllerRequest::AllocateProducerIds { broker_id } => self
                .commit(|image| producer_ids::allocate_producer_ids(image, broker_id))
                .await
                .map(ControllerResponse::AllocateProducerIds),
            ControllerRequest::RegisterBroker(r) => {
                let live = self.session_is_live(r.broker_id, crate::now_ms());
                self.try_commit(|image, next_offset| {
                    cluster::register_broker(image, &self.cluster_id, &r, next_offset, live)
                })
                .await
                .map(ControllerResponse::RegisterBroker)
            }
            ControllerRequest::UnregisterBroker { broker_id } => {
                self.try_commit(|image, _| Ok((cluster::unregister_broker(image, broker_id)?, ())))
                    .await?;
                Ok(ControllerResponse::UnregisterBroker)
            }
            ControllerRequest::AlterPartition(r) => self
                .try_commit(|image, _| alter_partition::alter_partition(image, &r))
                .await
                .map(ControllerResponse::AlterPartition),
            ControllerRequest::BrokerHeartbeat(r) => {
                let reply = self
                    .try_commit(|image, _| {
                        let decided = cluster::heartbeat(image, &r);
                        // Only a heartbeat of the registered epoch keeps
                        // a session; noted under the decision lock, so an
                        // expiry check queued behind it sees it, and as of
                        // when it is served (Kafka's heartbeat manager
                        // notes the time it handles it): a heartbeat that
                        // waited behind a long decision (a combined node
                        // opening 10,000 logs) starts a whole session, as
                        // the broker sends its next one only after this
                        // answer.
                        if decided.is_ok() {
                            self.touch(r.broker_id, crate::now_ms());
                        }
                        decided
                    })
                    .await?;
                Ok(ControllerResponse::BrokerHeartbeat(reply))
            }
        }
    }

    /// Runs one decision against the controller's image, makes its records
    /// durable, then hands them to the loader.
    async fn commit<R>(
        &self,
        decide: impl FnOnce(&MetadataImage) -> (Vec<MetadataRecord>, R),
    ) -> Result<R, ControllerError> {
        self.try_commit(|image, _| Ok(decide(image))).await
    }

    /// As [`Self::commit`], for a decision that may refuse the whole
    /// request, and that needs the offset its first record will get.
    async fn try_commit<R>(
        &self,
        decide: impl FnOnce(&MetadataImage, i64) -> Result<(Vec<MetadataRecord>, R), ControllerError>,
    ) -> Result<R, ControllerError> {
        let mut image = self.image.lock().await;
        let (records, result) = decide(&image, self.store.next_offset())?;
        if records.is_empty() {
            return Ok(result);
        }
        let now = crate::now_ms();
        let base_offset = blocking(|| self.store.append(&records, now)).map_err(|e| {
            tracing::error!(error = %e, "metadata log append failed");
            ControllerError::MetadataLog(format!("metadata log append failed: {e}"))
        })?;
        let batch = CommittedBatch {
            base_offset,
            records: &records,
        };
        *image = Arc::new(batch.replay_onto(&image));
        self.loader.apply_committed(batch).await;
        // Still under the decision lock: the image is the whole log.
        if let Err(e) = blocking(|| self.store.maybe_snapshot(&image, now)) {
            tracing::warn!(error = %e, "metadata snapshot failed; the next decision tries again");
        }
        Ok(result)
    }
}

/// When the expiry check at `now` comes more than a `period_ms` late after
/// the one at `previous`, moves every broker's last heartbeat forward by
/// the lateness and returns it.
fn forgive_stall(
    last_heard_ms: &mut HashMap<i32, i64>,
    previous: Option<i64>,
    now: i64,
    period_ms: i64,
) -> Option<i64> {
    let late = now - previous? - period_ms;
    if late <= period_ms {
        return None;
    }
    for at in last_heard_ms.values_mut() {
        *at += late;
    }
    Some(late)
}

#[cfg(test)]
mod tests {
    use super::channel::{ControllerChannel, CreateTopics};
    use super::topics::NewTopic;
    use super::*;
    use crate::common::internal_topics::OFFSETS_TOPIC;

    #[test]
    fn a_stalled_expiry_check_does_not_hold_the_stall_against_brokers() {
        let mut heard = HashMap::from([(1, 10_000), (2, 4_000)]);
        // The first check, and checks on time or a little late: no change.
        for (previous, now) in [
            (None, 11_000),
            (Some(10_000), 11_000),
            (Some(10_000), 11_900),
        ] {
            assert_eq!(forgive_stall(&mut heard, previous, now, 1_000), None);
        }
        assert_eq!(heard, HashMap::from([(1, 10_000), (2, 4_000)]));
        // Nine seconds without running: both sessions move on by eight
        // (the period the check would have waited anyway is not forgiven).
        assert_eq!(
            forgive_stall(&mut heard, Some(10_000), 19_000, 1_000),
            Some(8_000)
        );
        assert_eq!(heard, HashMap::from([(1, 18_000), (2, 12_000)]));
    }
    use crate::log::PartitionLog;
    use crate::metadata::MetadataCache;

    fn topic(name: &str) -> NewTopic {
        NewTopic {
            name: name.into(),
            num_partitions: 2,
            replication_factor: -1,
            assignments: vec![],
            configs: vec![],
        }
    }

    fn create(topics: Vec<NewTopic>, validate_only: bool, internal: bool) -> ControllerRequest {
        ControllerRequest::CreateTopics(CreateTopics {
            topics,
            validate_only,
            internal,
        })
    }

    /// A controller over a real metadata log, feeding a loader whose image
    /// stands for the broker side.
    fn setup(dir: &std::path::Path) -> (ControllerChannel, Arc<MetadataCache>, MetadataStore) {
        let open = || {
            let log = PartitionLog::open(dir, MetadataStore::log_config(), true, 0).unwrap();
            MetadataStore::new(Arc::new(log))
        };
        let cache = Arc::new(MetadataCache::new(MetadataImage::empty()));
        let loader = Arc::new(MetadataLoader::new(cache.clone()));
        let controller = Controller::new(
            Arc::new(BrokerConfig::default()),
            "MkU3OEVBNTcwNTJENDM2Qg".into(),
            open(),
            Arc::new(MetadataImage::empty()),
            loader,
        );
        (
            ControllerChannel::local(Arc::new(controller)),
            cache,
            open(),
        )
    }

    /// Registers and unfences broker 1, as a combined node does before it
    /// serves: placement needs a broker.
    async fn register_node(channel: &ControllerChannel) {
        register_broker(channel, 1).await;
    }

    /// Registers and unfences broker `id`; returns its epoch.
    async fn register_broker(channel: &ControllerChannel, id: i32) -> i64 {
        let epoch = channel
            .register_broker(cluster::BrokerRegistration {
                broker_id: id,
                cluster_id: "MkU3OEVBNTcwNTJENDM2Qg".into(),
                incarnation_id: uuid::Uuid::from_u128(id as u128),
                listeners: vec![],
                features: vec![],
                rack: None,
                log_dirs: vec![uuid::Uuid::from_u128(1000 + id as u128)],
                is_migrating_zk_broker: false,
            })
            .await
            .unwrap();
        let reply = channel
            .broker_heartbeat(cluster::BrokerHeartbeat {
                broker_id: id,
                broker_epoch: epoch,
                current_metadata_offset: epoch,
                want_fence: false,
                want_shut_down: false,
            })
            .await
            .unwrap();
        assert!(!reply.is_fenced);
        epoch
    }

    /// With no broker registered, nothing can be placed: Kafka's
    /// INVALID_REPLICATION_FACTOR, internal topics included.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn topics_need_a_registered_unfenced_broker() {
        let tmp = tempfile::tempdir().unwrap();
        let (channel, _, _) = setup(&tmp.path().join("__cluster_metadata-0"));
        let create_offsets_topic = || {
            channel.create_topics(CreateTopics {
                topics: vec![topic(OFFSETS_TOPIC)],
                validate_only: false,
                internal: true,
            })
        };
        let refused = create_offsets_topic().await.unwrap();
        let e = refused[0].as_ref().unwrap_err();
        assert_eq!(e.code(), 38, "{e}");
        register_node(&channel).await;
        let created = create_offsets_topic().await.unwrap();
        assert!(created[0].is_ok(), "{created:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn committed_decisions_reach_the_broker_image_and_the_log_alike() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("__cluster_metadata-0");
        let (channel, cache, _) = setup(&dir);
        register_node(&channel).await;
        let registered_at = cache.current().offset;

        // Validate-only: answered, nothing written.
        let r = channel
            .call(create(vec![topic("a")], true, false))
            .await
            .unwrap();
        assert!(matches!(&r, ControllerResponse::CreateTopics(v) if v.len() == 1 && v[0].is_ok()));
        assert_eq!(cache.current().offset, registered_at);

        // A client may not create an internal topic; its coordinator may.
        let refused = channel
            .create_topics(CreateTopics {
                topics: vec![topic(OFFSETS_TOPIC), topic("a")],
                validate_only: false,
                internal: false,
            })
            .await
            .unwrap();
        assert!(matches!(
            refused[0],
            Err(ControllerError::InvalidRequest(_))
        ));
        assert!(refused[1].is_ok());
        let created = channel
            .call(create(vec![topic(OFFSETS_TOPIC)], false, true))
            .await
            .unwrap();
        assert!(matches!(&created, ControllerResponse::CreateTopics(v) if v[0].is_ok()));

        let block = channel.allocate_producer_ids(1).await.unwrap();
        let next = channel.allocate_producer_ids(1).await.unwrap();
        assert_eq!(next.start, block.start + block.len);

        // The broker's image is what replaying the log gives.
        let image = cache.current();
        assert!(image.topic("a").is_some() && image.topic(OFFSETS_TOPIC).is_some());
        let (_, _, reopened) = setup(&dir);
        assert_eq!(reopened.load().unwrap(), *image);
    }

    /// AlterPartition through the channel: a shrink is committed to the
    /// log and reaches the broker side's image, a repeat of it is stale,
    /// and a sender of another epoch is refused whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_isr_shrink_is_committed_and_reaches_the_broker_image() {
        use crate::common::ids::{BrokerEpoch, BrokerId, LeaderEpoch, PartitionEpoch};
        use alter_partition::{
            AlterPartition, AlterPartitionData, AlterPartitionTopic, NewIsrMember,
        };

        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("__cluster_metadata-0");
        let (channel, cache, _) = setup(&dir);
        let epoch1 = register_broker(&channel, 1).await;
        let epoch2 = register_broker(&channel, 2).await;
        let created = channel
            .create_topics(CreateTopics {
                topics: vec![NewTopic {
                    num_partitions: -1,
                    assignments: vec![(0, vec![1, 2])],
                    ..topic("pair")
                }],
                validate_only: false,
                internal: false,
            })
            .await
            .unwrap();
        let topic_id = created[0].as_ref().unwrap().topic_id;
        let shrink = AlterPartition {
            broker_id: BrokerId(1),
            broker_epoch: BrokerEpoch(epoch1),
            topics: vec![AlterPartitionTopic {
                topic_id,
                partitions: vec![AlterPartitionData {
                    partition_index: 0,
                    leader_epoch: LeaderEpoch(0),
                    partition_epoch: PartitionEpoch(0),
                    new_isr: vec![NewIsrMember {
                        broker_id: BrokerId(1),
                        broker_epoch: BrokerEpoch(epoch1),
                    }],
                    leader_recovery_state: alter_partition::RECOVERED,
                }],
            }],
        };
        let answered = channel.alter_partition(shrink.clone()).await.unwrap();
        let altered = answered[0].partitions[0].result.clone().unwrap();
        assert_eq!(
            (altered.partition_epoch, altered.isr.clone()),
            (PartitionEpoch(1), vec![BrokerId(1)])
        );
        let image = cache.current();
        let p = &image.topic("pair").unwrap().partitions[&0];
        assert_eq!(
            (p.isr.clone(), p.partition_epoch, p.leader_epoch),
            (vec![1], 1, 0)
        );

        let again = channel.alter_partition(shrink.clone()).await.unwrap();
        let e = again[0].partitions[0].result.clone().unwrap_err();
        assert_eq!(e.code(), 95, "INVALID_UPDATE_VERSION: {e}");
        let stale = channel
            .alter_partition(AlterPartition {
                broker_epoch: BrokerEpoch(epoch2),
                ..shrink
            })
            .await
            .unwrap_err();
        assert_eq!(stale.code(), 77, "{stale}");
        assert_eq!(
            cache.current().offset,
            image.offset,
            "refusals write nothing"
        );
        let (_, _, reopened) = setup(&dir);
        assert_eq!(reopened.load().unwrap(), *cache.current());
    }

    /// Kafka creates a topic of 10,000 partitions in one CreateTopics; its
    /// records are one batch of about 1.7 MB, over a data log's limit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_topic_of_ten_thousand_partitions_is_one_committed_batch() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("__cluster_metadata-0");
        let (channel, cache, _) = setup(&dir);
        register_node(&channel).await;
        let mut big = topic("big");
        big.num_partitions = 10_000;
        let created = channel
            .create_topics(CreateTopics {
                topics: vec![big],
                validate_only: false,
                internal: false,
            })
            .await
            .unwrap();
        assert!(created[0].is_ok(), "{created:?}");
        assert_eq!(
            cache.current().topic("big").unwrap().partitions.len(),
            10_000
        );
        let (_, _, reopened) = setup(&dir);
        assert_eq!(reopened.load().unwrap(), *cache.current());
    }
}
