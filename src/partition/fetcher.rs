//! Replica fetchers: one task per leader broker this node follows
//! partitions of, each sending that leader Fetch requests (with this
//! node's replica id and broker epoch, KIP-903) for all of them at once,
//! appending what comes back, taking the leader's high watermark, and
//! truncating where the leader says the logs diverge (KIP-320, Fetch v12+).
//! Kafka counterparts: `ReplicaFetcherManager`, `ReplicaFetcherThread`,
//! `AbstractFetcherThread` (sessionless: every partition in every Fetch).
//!
//! The partitions' replication state decides everything; a fetcher only
//! moves bytes and reports. Which partitions a fetcher serves is read
//! from the replica manager at each round, so a leader change is picked
//! up at the next round, and a fetcher whose leader no longer leads any of
//! our partitions ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use kafka_protocol::messages::{BrokerId as WireBrokerId, FetchRequest};

use tokio_util::task::AbortOnDropHandle;

use super::error::ReplicaError;
use super::replication_state::ReplicationError;
use super::{Partition, ReplicaManager};
use crate::common::blocking;
use crate::common::ids::BrokerId;
use crate::protocol::client::{ClientError, Connection};

const OFFSET_OUT_OF_RANGE: i16 = 1;

/// `replica.fetch.backoff.ms`: the pause after a failed round, and before
/// retrying a partition the leader refused.
fn backoff(replicas: &ReplicaManager) -> Duration {
    Duration::from_millis(replicas.effective_config().replica_fetch_backoff_ms.max(0) as u64)
}

/// Starts and stops one fetcher per followed leader, as the replica
/// manager's assignments change. Runs until the node stops. The
/// `replica.fetch.*` settings and `replica.socket.timeout.ms` are read from
/// the effective config at each connection and round.
pub async fn run_fetchers(replicas: Arc<ReplicaManager>, node_id: i32) {
    let mut changes = replicas.subscribe_follow_changes();
    // Aborted when dropped: when the node's shutdown cancels this task, its
    // fetchers stop with it instead of failing against a closing runtime.
    let mut running: HashMap<BrokerId, AbortOnDropHandle<()>> = HashMap::new();
    loop {
        let followed = replicas.followed();
        running.retain(|leader, task| followed.contains_key(leader) && !task.is_finished());
        for leader in followed.keys() {
            running.entry(*leader).or_insert_with(|| {
                let fetcher = Fetcher {
                    replicas: replicas.clone(),
                    node_id,
                    leader: *leader,
                    delayed: HashMap::new(),
                };
                tracing::info!(leader = leader.0, "starting a replica fetcher");
                AbortOnDropHandle::new(tokio::spawn(fetcher.run()))
            });
        }
        // A changed assignment, or a look now and then for a fetcher that
        // ended on its own.
        let _ = tokio::time::timeout(Duration::from_secs(1), changes.changed()).await;
    }
}

struct Fetcher {
    replicas: Arc<ReplicaManager>,
    node_id: i32,
    leader: BrokerId,
    /// Partitions the leader refused, until when they wait.
    delayed: HashMap<(String, i32), Instant>,
}

#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("the leader has no endpoint on listener {0}")]
    NoEndpoint(String),
    #[error("the leader answered the fetch with error code {0}")]
    Refused(i16),
    #[error("no partitions left to follow from this leader")]
    Idle,
}

impl Fetcher {
    async fn run(mut self) {
        let mut failures = 0u32;
        loop {
            let error = match self.connect().await {
                Err(e) => e,
                Ok(mut conn) => loop {
                    match self.round(&mut conn).await {
                        Ok(()) => failures = 0,
                        Err(e) => break e,
                    }
                },
            };
            if matches!(error, RoundError::Idle) {
                tracing::info!(
                    leader = self.leader.0,
                    "no partitions left to follow; replica fetcher stops"
                );
                return;
            }
            if failures == 0 {
                tracing::warn!(leader = self.leader.0, error = %error, "replica fetch failed; retrying");
            } else {
                tracing::debug!(leader = self.leader.0, error = %error, "replica fetch failed again");
            }
            failures += 1;
            tokio::time::sleep(backoff(&self.replicas)).await;
        }
    }

    /// The leader's endpoint on the inter-broker listener, from the image.
    async fn connect(&self) -> Result<Connection, RoundError> {
        let config = self.replicas.effective_config();
        let listener = &config.inter_broker_listener_name;
        let address = {
            let image = self.replicas.current_image();
            let broker = image.brokers.get(&self.leader.0);
            broker
                .and_then(|b| b.endpoints.iter().find(|e| &e.name == listener))
                .map(|e| format!("{}:{}", e.host, e.port))
                .ok_or_else(|| RoundError::NoEndpoint(listener.clone()))?
        };
        let client_id = format!(
            "runnel-broker-{}-replica-fetcher-{}",
            self.node_id, self.leader.0
        );
        let timeout = socket_timeout(&config);
        Ok(Connection::open(&address, &client_id, timeout).await?)
    }

    /// The partitions to fetch now: those following this leader and not
    /// waiting out a refusal.
    fn assigned(&mut self) -> Vec<Arc<Partition>> {
        let now = Instant::now();
        self.delayed.retain(|_, until| *until > now);
        let mut followed = self.replicas.followed();
        followed
            .remove(&self.leader)
            .unwrap_or_default()
            .into_iter()
            .filter(|p| !self.delayed.contains_key(&(p.topic.clone(), p.partition)))
            .collect()
    }

    async fn round(&mut self, conn: &mut Connection) -> Result<(), RoundError> {
        let partitions = self.assigned();
        if partitions.is_empty() {
            if self.replicas.followed().contains_key(&self.leader) {
                // All waiting out a refusal.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Ok(());
            }
            return Err(RoundError::Idle);
        }
        let version = conn.version_for::<FetchRequest>(13..=17)?;
        let config = self.replicas.effective_config();
        let broker_epoch = self
            .replicas
            .current_image()
            .brokers
            .get(&self.node_id)
            .map_or(-1, |b| b.broker_epoch);
        let mut by_topic: HashMap<uuid::Uuid, Vec<FetchPartition>> = HashMap::new();
        let mut index: HashMap<(uuid::Uuid, i32), (Arc<Partition>, i32)> = HashMap::new();
        for p in &partitions {
            let leader_epoch = p.leader_epoch();
            let fetch = FetchPartition::default()
                .with_partition(p.partition)
                .with_current_leader_epoch(leader_epoch)
                .with_fetch_offset(p.log_end_offset())
                .with_last_fetched_epoch(p.log.latest_epoch().unwrap_or(-1))
                .with_log_start_offset(p.log_start_offset())
                .with_partition_max_bytes(config.replica_fetch_max_bytes);
            by_topic.entry(p.topic_id).or_default().push(fetch);
            index.insert((p.topic_id, p.partition), (p.clone(), leader_epoch));
        }
        let topics = by_topic
            .into_iter()
            .map(|(id, partitions)| {
                FetchTopic::default()
                    .with_topic_id(id)
                    .with_partitions(partitions)
            })
            .collect();
        let mut request = FetchRequest::default()
            .with_max_wait_ms(config.replica_fetch_wait_max_ms)
            .with_min_bytes(config.replica_fetch_min_bytes)
            .with_max_bytes(config.replica_fetch_response_max_bytes)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(topics);
        request = if version >= 15 {
            request.with_replica_state(
                ReplicaState::default()
                    .with_replica_id(WireBrokerId(self.node_id))
                    .with_replica_epoch(broker_epoch),
            )
        } else {
            request.with_replica_id(WireBrokerId(self.node_id))
        };
        let timeout = socket_timeout(&config)
            + Duration::from_millis(config.replica_fetch_wait_max_ms.max(0) as u64);
        let response = conn.call(&request, version, timeout).await?;
        if response.error_code != 0 {
            return Err(RoundError::Refused(response.error_code));
        }
        let mut refused = Vec::new();
        blocking(|| {
            for topic in &response.responses {
                for data in &topic.partitions {
                    let Some((p, fetched_epoch)) =
                        index.get(&(topic.topic_id, data.partition_index))
                    else {
                        continue;
                    };
                    // Kafka's fetcher drops an answer to a fetch made under
                    // another leader epoch: the partition changed role or
                    // leader while the fetch was out.
                    if p.leader_epoch() != *fetched_epoch || p.following() != Some(self.leader) {
                        tracing::debug!(topic = %p.topic, partition = p.partition,
                            "the partition's leadership moved during the fetch; its answer is dropped");
                        continue;
                    }
                    if let Err(code) = apply(p, data) {
                        refused.push(((p.topic.clone(), p.partition), code));
                    }
                }
            }
        });
        for (key, code) in refused {
            tracing::debug!(leader = self.leader.0, topic = %key.0, partition = key.1, code,
                "the leader refused the replica fetch of a partition; retrying it later");
            self.delayed
                .insert(key, Instant::now() + backoff(&self.replicas));
        }
        Ok(())
    }
}

fn socket_timeout(config: &crate::config::BrokerConfig) -> Duration {
    Duration::from_millis(config.replica_socket_timeout_ms.max(1) as u64)
}

/// What one partition's answer does to the local replica. `Err` carries a
/// refusal's error code: the partition waits before it is fetched again.
fn apply(
    p: &Partition,
    data: &kafka_protocol::messages::fetch_response::PartitionData,
) -> Result<(), i16> {
    let fetched_at = p.log_end_offset();
    match data.error_code {
        0 => {}
        OFFSET_OUT_OF_RANGE if data.log_start_offset > fetched_at => {
            // The leader's log starts past our end: start again there.
            if let Err(e) = p.restart_as_follower_at(data.log_start_offset) {
                tracing::warn!(topic = %p.topic, partition = p.partition, error = %e, "could not restart the follower's log");
            }
            return Ok(());
        }
        code => return Err(code),
    }
    if data.diverging_epoch.epoch >= 0 || data.diverging_epoch.end_offset >= 0 {
        let offset = truncation_offset(
            p,
            data.diverging_epoch.epoch,
            data.diverging_epoch.end_offset,
        );
        if let Err(e) = p.truncate_as_follower(offset) {
            tracing::warn!(topic = %p.topic, partition = p.partition, error = %e, "could not truncate the follower's log");
            return Err(-1);
        }
        return Ok(());
    }
    let empty = bytes::Bytes::new();
    let records = data.records.as_ref().unwrap_or(&empty);
    match p.append_as_follower(records, data.high_watermark) {
        Ok(()) => Ok(()),
        // Became leader (or stopped) since the check before the append.
        Err(ReplicaError::Replication(ReplicationError::NotLeaderOrFollower)) => {
            tracing::debug!(topic = %p.topic, partition = p.partition,
                "no longer a follower; the fetched records are dropped");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(topic = %p.topic, partition = p.partition, error = %e, "could not append what the leader sent");
            Err(-1)
        }
    }
}

/// Where a follower truncates to when its leader reports that their logs
/// diverge after `epoch`'s end at `end_offset` (Kafka's
/// `getOffsetTruncationState`): when we know that epoch, to the earlier of
/// both ends of it; when we do not, to the end of our largest earlier
/// epoch, and the next fetch asks again from there; when the leader knows
/// no epoch, to our high watermark.
pub(super) fn truncation_offset(p: &Partition, epoch: i32, end_offset: i64) -> i64 {
    if epoch < 0 || end_offset < 0 {
        return p.high_watermark().min(p.log_end_offset());
    }
    let (local_epoch, local_end) = p.end_offset_for_epoch(epoch);
    if local_epoch < 0 {
        end_offset.min(p.log_end_offset())
    } else if local_epoch == epoch {
        end_offset.min(local_end)
    } else {
        local_end.min(p.log_end_offset())
    }
}
