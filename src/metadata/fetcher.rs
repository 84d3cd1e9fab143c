//! A broker-only node's copy of the metadata log, kept as a KRaft observer
//! keeps it: Fetch from the controller's `__cluster_metadata` (by its fixed
//! topic id, with this node's id as replica id), append what comes back to
//! the local log at the controller's offsets, apply what is committed
//! (below the high watermark) through the loader, and catch up from a
//! snapshot (FetchSnapshot) when the controller answers that the wanted
//! offset is below its log start. The leader's epoch is learnt from its
//! answers (FENCED_LEADER_EPOCH carries the current one); a diverging
//! epoch truncates the uncommitted tail. Snapshots of the local copy are
//! taken by the same policy as on the controller.
//!
//! Kafka counterpart: `KafkaRaftClient` as an observer (`maybeSendFetch`,
//! `handleFetchResponse`, `handleFetchSnapshotResponse`) feeding the
//! broker's `MetadataLoader`.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use kafka_protocol::messages::fetch_snapshot_request::{
    PartitionSnapshot, SnapshotId as WireSnapshotId, TopicSnapshot,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchSnapshotRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::loader::MetadataLoader;
use super::snapshot::SnapshotId;
use super::store::{METADATA_TOPIC, METADATA_TOPIC_ID, MetadataStore, StoreError};
use crate::common::blocking;
use crate::protocol::client::{ClientError, Connection};

/// How long the controller may hold a fetch that finds nothing new.
const MAX_WAIT_MS: i32 = 500;
/// The most one fetch (or one snapshot chunk) asks for.
const MAX_BYTES: i32 = 8 << 20;
/// Kafka's codes the fetcher acts on.
const FENCED_LEADER_EPOCH: i16 = 74;
const UNKNOWN_LEADER_EPOCH: i16 = 75;
/// Waits between attempts after a failure, doubling up to the last.
const BACKOFF: [u64; 5] = [50, 100, 200, 500, 1000];

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the controller refused the {what} with error code {code}")]
    Refused { what: &'static str, code: i16 },
    #[error("the controller's {0} answer is malformed")]
    Malformed(&'static str),
}

pub struct MetadataFetcher {
    /// `host:port` of the controller(s), tried in turn.
    addresses: Vec<String>,
    node_id: i32,
    cluster_id: String,
    /// The `directory.id` of the log dir holding the metadata log.
    directory_id: Uuid,
    store: Arc<MetadataStore>,
    loader: Arc<MetadataLoader>,
    /// Bounds each request (beyond the controller's long-poll wait).
    request_timeout: Duration,
}

/// What the fetcher knows of the quorum and of its own log.
#[derive(Debug, Clone, Copy)]
struct Position {
    /// The leader's epoch as last learnt.
    leader_epoch: i32,
    /// The epoch of the local log's last batch.
    last_fetched_epoch: i32,
}

impl MetadataFetcher {
    pub fn new(
        addresses: Vec<String>,
        node_id: i32,
        cluster_id: String,
        directory_id: Uuid,
        store: Arc<MetadataStore>,
        loader: Arc<MetadataLoader>,
        request_timeout: Duration,
    ) -> Self {
        MetadataFetcher {
            addresses,
            node_id,
            cluster_id,
            directory_id,
            store,
            loader,
            request_timeout,
        }
    }

    /// Fetches until the task is stopped: reconnects after any failure,
    /// to the next controller address, with a growing backoff.
    pub async fn run(self) {
        let last_fetched_epoch = match blocking(|| self.store.last_epoch()) {
            Ok(epoch) => epoch,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the local metadata log; fetching it again from offset 0");
                0
            }
        };
        let mut position = Position {
            leader_epoch: last_fetched_epoch,
            last_fetched_epoch,
        };
        let mut failures = 0usize;
        let mut next_address = 0usize;
        loop {
            let address = &self.addresses[next_address % self.addresses.len()];
            let client_id = format!("runnel-broker-{}-metadata-fetcher", self.node_id);
            let error = match Connection::open(address, &client_id, self.request_timeout).await {
                Err(e) => FetchError::from(e),
                Ok(mut conn) => loop {
                    match self.fetch_round(&mut conn, &mut position).await {
                        Ok(()) => {
                            if failures > 0 {
                                tracing::info!(controller = %address, "fetching the metadata log again");
                                failures = 0;
                            }
                        }
                        Err(e) => break e,
                    }
                },
            };
            if failures == 0 {
                tracing::warn!(controller = %address, error = %error, "fetching the metadata log failed; retrying");
            } else {
                tracing::debug!(controller = %address, error = %error, "fetching the metadata log failed again");
            }
            let wait = BACKOFF[failures.min(BACKOFF.len() - 1)];
            failures += 1;
            next_address += 1;
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }

    /// One Fetch and what follows from its answer.
    async fn fetch_round(
        &self,
        conn: &mut Connection,
        position: &mut Position,
    ) -> Result<(), FetchError> {
        let version = conn.version_for::<FetchRequest>(13..=17)?;
        let fetch_offset = self.store.log_end_offset();
        let mut partition = FetchPartition::default()
            .with_partition(0)
            .with_current_leader_epoch(position.leader_epoch)
            .with_fetch_offset(fetch_offset)
            .with_last_fetched_epoch(position.last_fetched_epoch)
            .with_log_start_offset(-1)
            .with_partition_max_bytes(MAX_BYTES);
        if version >= 17 {
            partition = partition.with_replica_directory_id(self.directory_id);
        }
        let mut request = FetchRequest::default()
            .with_cluster_id(Some(StrBytes::from_string(self.cluster_id.clone())))
            .with_max_wait_ms(MAX_WAIT_MS)
            .with_min_bytes(0)
            .with_max_bytes(MAX_BYTES)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic_id(METADATA_TOPIC_ID)
                    .with_partitions(vec![partition]),
            ]);
        request = if version >= 15 {
            request.with_replica_state(
                ReplicaState::default()
                    .with_replica_id(BrokerId(self.node_id))
                    .with_replica_epoch(-1),
            )
        } else {
            request.with_replica_id(BrokerId(self.node_id))
        };
        let timeout = self.request_timeout + Duration::from_millis(MAX_WAIT_MS as u64);
        let response = conn.call(&request, version, timeout).await?;
        if response.error_code != 0 {
            return Err(FetchError::Refused {
                what: "metadata fetch",
                code: response.error_code,
            });
        }
        let p = response
            .responses
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or(FetchError::Malformed("Fetch"))?;
        let learnt = p.current_leader.leader_epoch > position.leader_epoch;
        if learnt {
            position.leader_epoch = p.current_leader.leader_epoch;
        }
        match p.error_code {
            0 => {}
            FENCED_LEADER_EPOCH | UNKNOWN_LEADER_EPOCH if learnt => return Ok(()),
            code => {
                return Err(FetchError::Refused {
                    what: "metadata fetch",
                    code,
                });
            }
        }
        if p.snapshot_id.end_offset >= 0 && p.snapshot_id.epoch >= 0 {
            let id = SnapshotId {
                end_offset: p.snapshot_id.end_offset,
                epoch: p.snapshot_id.epoch,
            };
            let bytes = self.fetch_snapshot(conn, id, position.leader_epoch).await?;
            let image = blocking(|| self.store.install_snapshot(id, &bytes, crate::now_ms()))?;
            self.loader.publish_snapshot(image).await;
            position.last_fetched_epoch = id.epoch;
            return Ok(());
        }
        if p.diverging_epoch.epoch >= 0 {
            let end = p.diverging_epoch.end_offset;
            tracing::info!(
                epoch = p.diverging_epoch.epoch,
                end_offset = end,
                "the local metadata log diverges from the controller's; truncating its tail"
            );
            blocking(|| self.store.truncate_to(end))?;
            position.last_fetched_epoch = p.diverging_epoch.epoch;
            return Ok(());
        }
        if let Some(records) = p.records.clone().filter(|r| !r.is_empty())
            && let Some(epoch) = blocking(|| self.store.append_replicated(records))?
        {
            position.last_fetched_epoch = epoch;
        }
        self.apply_committed(p.high_watermark).await
    }

    /// Applies the local log's records below `high_watermark` that the
    /// image has not applied yet; snapshots the local copy when due.
    async fn apply_committed(&self, high_watermark: i64) -> Result<(), FetchError> {
        let from = self.loader.current().offset + 1;
        let below = high_watermark.min(self.store.log_end_offset());
        if below <= from {
            return Ok(());
        }
        let records = blocking(|| self.store.records_between(from, below))?;
        let image = self.loader.apply_replicated(&records).await;
        if image.offset + 1 == self.store.log_end_offset()
            && let Err(e) = blocking(|| self.store.maybe_snapshot(&image, crate::now_ms()))
        {
            tracing::warn!(error = %e, "metadata snapshot failed; the next fetch tries again");
        }
        Ok(())
    }

    /// The whole snapshot `id`, in chunks of at most [`MAX_BYTES`].
    async fn fetch_snapshot(
        &self,
        conn: &mut Connection,
        id: SnapshotId,
        leader_epoch: i32,
    ) -> Result<Vec<u8>, FetchError> {
        let version = conn.version_for::<FetchSnapshotRequest>(0..=1)?;
        let mut bytes = Vec::new();
        loop {
            let mut partition = PartitionSnapshot::default()
                .with_partition(0)
                .with_current_leader_epoch(leader_epoch)
                .with_snapshot_id(
                    WireSnapshotId::default()
                        .with_end_offset(id.end_offset)
                        .with_epoch(id.epoch),
                )
                .with_position(bytes.len() as i64);
            if version >= 1 {
                partition = partition.with_replica_directory_id(self.directory_id);
            }
            let request = FetchSnapshotRequest::default()
                .with_cluster_id(Some(StrBytes::from_string(self.cluster_id.clone())))
                .with_replica_id(BrokerId(self.node_id))
                .with_max_bytes(MAX_BYTES)
                .with_topics(vec![
                    TopicSnapshot::default()
                        .with_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
                        .with_partitions(vec![partition]),
                ]);
            let response = conn.call(&request, version, self.request_timeout).await?;
            let refused = |code| FetchError::Refused {
                what: "snapshot fetch",
                code,
            };
            if response.error_code != 0 {
                return Err(refused(response.error_code));
            }
            let p = response
                .topics
                .first()
                .and_then(|t| t.partitions.first())
                .ok_or(FetchError::Malformed("FetchSnapshot"))?;
            if p.error_code != 0 {
                return Err(refused(p.error_code));
            }
            if p.position != bytes.len() as i64
                || (p.unaligned_records.is_empty() && (bytes.len() as i64) < p.size)
            {
                return Err(FetchError::Malformed("FetchSnapshot"));
            }
            bytes.extend_from_slice(&p.unaligned_records);
            if bytes.len() as i64 >= p.size {
                tracing::info!(
                    end_offset = id.end_offset,
                    bytes = bytes.len(),
                    "fetched the controller's metadata snapshot"
                );
                return Ok(bytes);
            }
        }
    }
}
