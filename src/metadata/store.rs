//! The metadata log on disk: `__cluster_metadata-0`, a partition log in
//! Kafka's format under Kafka's fixed metadata topic id, whose record
//! values are [`MetadataRecord`]s in Kafka's framing. Loading replays it
//! into an image; appending writes one batch per controller decision and
//! fsyncs it before the decision is published (metadata is rare and must
//! never be lost). A new log starts with the bootstrap batch (the finalized
//! feature levels, `metadata.version` first), as a KRaft controller writes
//! it when the cluster is first activated.
//!
//! Snapshots ([`super::snapshot`]) bound the replay: loading starts from
//! the newest snapshot and replays only the log after it. A snapshot is
//! taken after a decision once `metadata.log.max.record.bytes.between.snapshots`
//! bytes of records were written since the last one, or
//! `metadata.log.max.snapshot.interval.ms` passed with any written; the log
//! start offset then moves up to the snapshot, so whole segments below it
//! go, and older snapshots are removed.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use bytes::Bytes;

use super::loader::CommittedBatch;
use super::quorum::QuorumLog;
use super::snapshot::{self, SnapshotError, SnapshotId};
use super::{MetadataImage, MetadataRecord};
use crate::log::records::{ReplayError, encode_batch, replay_log_from};
use crate::log::{LogConfig, LogError, PartitionLog};

pub use super::records::METADATA_TOPIC_ID;
pub use crate::common::internal_topics::METADATA_TOPIC;

/// The epoch of the metadata quorum: its one voter elected itself once, as
/// a single KRaft controller does on its first start. Batches carry it as
/// their partition leader epoch and snapshots in their id; KRaft's
/// elections will move it.
pub const QUORUM_EPOCH: i32 = 1;

/// The feature whose level says how to read the log.
const METADATA_VERSION: &str = "metadata.version";

/// When to take a snapshot (Kafka's `metadata.log.max.*` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// `metadata.log.max.record.bytes.between.snapshots`.
    pub max_bytes_between: u64,
    /// `metadata.log.max.snapshot.interval.ms`; 0 turns the time rule off.
    pub max_interval_ms: i64,
}

impl Default for SnapshotPolicy {
    /// Kafka's defaults: 20 MiB, one hour.
    fn default() -> Self {
        SnapshotPolicy {
            max_bytes_between: 20 * 1024 * 1024,
            max_interval_ms: 3_600_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("metadata log: {0}")]
    Log(#[from] LogError),
    #[error("metadata log batch at offset {offset} is unreadable: {reason}")]
    Decode { offset: i64, reason: String },
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(
        "the metadata log ends at offset {log_end}, before its newest snapshot at {snapshot_end}: segments of the metadata log are missing"
    )]
    LogBehindSnapshot { log_end: i64, snapshot_end: i64 },
}

pub struct MetadataStore {
    log: Arc<PartitionLog>,
    /// The log as fetchers of the quorum see it: told of every durable
    /// append.
    quorum: Arc<QuorumLog>,
    policy: SnapshotPolicy,
    /// Record bytes appended since the newest snapshot.
    bytes_since_snapshot: AtomicU64,
    /// When the newest snapshot was taken (or the store opened).
    last_snapshot_ms: AtomicI64,
}

/// The largest batch one decision may write. A decision's records are one
/// batch (applied all or nothing), and CreateTopics of 10,000 partitions is
/// about 1.7 MB of records, over a data topic's default 1 MiB.
pub const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;

impl MetadataStore {
    pub fn new(log: Arc<PartitionLog>) -> Self {
        Self::with_policy(log, SnapshotPolicy::default())
    }

    pub fn with_policy(log: Arc<PartitionLog>, policy: SnapshotPolicy) -> Self {
        MetadataStore {
            quorum: Arc::new(QuorumLog::new(log.clone())),
            log,
            policy,
            bytes_since_snapshot: AtomicU64::new(0),
            last_snapshot_ms: AtomicI64::new(crate::now_ms()),
        }
    }

    /// The metadata log's settings: never deleted by retention, and batches
    /// up to [`MAX_BATCH_BYTES`].
    pub fn log_config() -> LogConfig {
        LogConfig {
            retention_ms: -1,
            retention_bytes: -1,
            segment_bytes: 64 * 1024 * 1024,
            max_message_bytes: MAX_BATCH_BYTES,
            ..LogConfig::default()
        }
    }

    /// The image of the newest snapshot with the log after it replayed.
    pub fn load(&self) -> Result<MetadataImage, StoreError> {
        let (mut image, from) = match snapshot::latest(self.log.dir())? {
            Some((id, path)) => {
                let records = snapshot::read(&path)?;
                let log_end = self.log.log_end_offset();
                if log_end < id.end_offset {
                    return Err(StoreError::LogBehindSnapshot {
                        log_end,
                        snapshot_end: id.end_offset,
                    });
                }
                tracing::info!(snapshot = %path.display(), records = records.len(),
                    "metadata snapshot loaded");
                (
                    MetadataImage::from_snapshot(&records, id.end_offset),
                    id.end_offset,
                )
            }
            None => (MetadataImage::empty(), 0),
        };
        let mut replayed_bytes = 0u64;
        self.replay_records(from, |offset, len, record| {
            replayed_bytes += len as u64;
            image.replay(offset, &record);
        })?;
        self.bytes_since_snapshot
            .store(replayed_bytes, Ordering::Relaxed);
        Ok(image)
    }

    /// Writes `features` (name, level) as the log's first batch when the
    /// log has no `metadata.version` yet: a new log, or one Runnel wrote
    /// before it kept feature levels. Returns the image with them applied.
    pub fn bootstrap(
        &self,
        image: MetadataImage,
        features: &[(&str, i16)],
        now_ms: i64,
    ) -> Result<MetadataImage, StoreError> {
        if image.features.contains_key(METADATA_VERSION) {
            return Ok(image);
        }
        let records: Vec<MetadataRecord> = features
            .iter()
            .filter(|(name, level)| *level > 0 && !image.features.contains_key(*name))
            .map(|(name, level)| MetadataRecord::FeatureLevel {
                name: name.to_string(),
                level: *level,
            })
            .collect();
        let base_offset = self.append(&records, now_ms)?;
        Ok(CommittedBatch {
            base_offset,
            records: &records,
        }
        .replay_onto(&image))
    }

    /// The log as the quorum serves it to fetching brokers.
    pub fn quorum_log(&self) -> Arc<QuorumLog> {
        self.quorum.clone()
    }

    /// The offset the next record appended will get.
    pub fn next_offset(&self) -> i64 {
        self.log.log_end_offset()
    }

    /// Appends the records as one batch and fsyncs it. Returns the offset of
    /// the first record.
    pub fn append(&self, records: &[MetadataRecord], now_ms: i64) -> Result<i64, StoreError> {
        let encoded: Vec<(Option<Bytes>, Option<Bytes>)> = records
            .iter()
            .map(|r| (None, Some(Bytes::from(r.to_bytes()))))
            .collect();
        let bytes: u64 = encoded
            .iter()
            .map(|(_, v)| v.as_ref().map_or(0, |v| v.len() as u64))
            .sum();
        let info = self
            .log
            .append(encode_batch(&encoded, now_ms), QUORUM_EPOCH, now_ms)?;
        self.log.flush()?;
        self.quorum.committed_to(self.log.log_end_offset());
        self.bytes_since_snapshot
            .fetch_add(bytes, Ordering::Relaxed);
        Ok(info.base_offset)
    }

    /// Removes every batch at or past `offset`: an uncommitted tail the
    /// controller's log does not have.
    pub fn truncate_to(&self, offset: i64) -> Result<(), StoreError> {
        Ok(self.log.truncate_to(offset)?)
    }

    /// The offset after the log's last record.
    pub fn log_end_offset(&self) -> i64 {
        self.log.log_end_offset()
    }

    /// Appends batches fetched from the controller's log, at the offsets
    /// the controller gave them, and fsyncs them (a broker's copy of the
    /// metadata log). Returns the epoch of the last batch.
    pub fn append_replicated(&self, records: Bytes) -> Result<Option<i32>, StoreError> {
        let bytes = records.len() as u64;
        self.log.append_as_follower(records)?;
        self.log.flush()?;
        self.bytes_since_snapshot
            .fetch_add(bytes, Ordering::Relaxed);
        Ok(self.log.latest_epoch())
    }

    /// The epoch of the log's last batch (its leader-epoch cache's
    /// latest): of the newest snapshot when the log is empty past it, 0
    /// for a log with neither.
    pub fn last_epoch(&self) -> Result<i32, StoreError> {
        if let Some(epoch) = self.log.latest_epoch() {
            return Ok(epoch);
        }
        Ok(snapshot::latest(self.log.dir())?.map_or(0, |(id, _)| id.epoch))
    }

    /// The metadata records at offsets `from..below` of the log, each with
    /// its offset; control records are passed over.
    pub fn records_between(
        &self,
        from: i64,
        below: i64,
    ) -> Result<Vec<(i64, MetadataRecord)>, StoreError> {
        let mut out = Vec::new();
        self.replay_records(from, |offset, _, record| {
            if offset < below {
                out.push((offset, record));
            }
        })?;
        Ok(out)
    }

    /// Calls `apply(offset, value length, record)` for every metadata
    /// record of the log from `from` on, control records passed over.
    fn replay_records(
        &self,
        from: i64,
        mut apply: impl FnMut(i64, usize, MetadataRecord),
    ) -> Result<(), StoreError> {
        replay_log_from(&self.log, from, |offset, _key, value| {
            let value = value.unwrap_or_default();
            let parsed = MetadataRecord::from_bytes(value)
                .map_err(|e| format!("record at offset {offset}: {e}"))?;
            apply(offset, value.len(), parsed);
            Ok(())
        })
        .map_err(|e| match e {
            ReplayError::Log(e) => StoreError::Log(e),
            ReplayError::Decode { offset, reason } => StoreError::Decode { offset, reason },
        })
    }

    /// Installs a snapshot fetched from the controller: stored durably,
    /// the log emptied to start at its end, older snapshots removed.
    /// Returns the image it holds.
    pub fn install_snapshot(
        &self,
        id: SnapshotId,
        bytes: &[u8],
        now_ms: i64,
    ) -> Result<MetadataImage, StoreError> {
        let (path, records) = snapshot::install(self.log.dir(), id, bytes)?;
        self.log.truncate_fully_and_start_at(id.end_offset)?;
        snapshot::remove_older_than(self.log.dir(), id)?;
        self.bytes_since_snapshot.store(0, Ordering::Relaxed);
        self.last_snapshot_ms.store(now_ms, Ordering::Relaxed);
        tracing::info!(snapshot = %path.display(), records = records.len(), "metadata snapshot fetched from the controller");
        Ok(MetadataImage::from_snapshot(&records, id.end_offset))
    }

    /// Takes a snapshot of `image` (which has applied every record of the
    /// log) when the policy says one is due; returns its id. The log start
    /// offset then moves up to it and older snapshots are removed.
    pub fn maybe_snapshot(
        &self,
        image: &MetadataImage,
        now_ms: i64,
    ) -> Result<Option<SnapshotId>, StoreError> {
        let bytes = self.bytes_since_snapshot.load(Ordering::Relaxed);
        let age = now_ms - self.last_snapshot_ms.load(Ordering::Relaxed);
        let by_time = self.policy.max_interval_ms > 0 && age >= self.policy.max_interval_ms;
        if bytes == 0 || (bytes < self.policy.max_bytes_between && !by_time) {
            return Ok(None);
        }
        let id = SnapshotId {
            end_offset: image.offset + 1,
            epoch: QUORUM_EPOCH,
        };
        debug_assert_eq!(id.end_offset, self.log.log_end_offset());
        let path = snapshot::write(self.log.dir(), id, image, now_ms)?;
        self.bytes_since_snapshot.store(0, Ordering::Relaxed);
        self.last_snapshot_ms.store(now_ms, Ordering::Relaxed);
        snapshot::remove_older_than(self.log.dir(), id)?;
        self.log.delete_records_before(id.end_offset)?;
        tracing::info!(snapshot = %path.display(), record_bytes = bytes, "metadata snapshot written");
        Ok(Some(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::records::ConfigResource;
    use uuid::Uuid;

    fn open(dir: &std::path::Path, clean: bool) -> MetadataStore {
        let log = PartitionLog::open(dir, MetadataStore::log_config(), clean, 0).unwrap();
        MetadataStore::new(Arc::new(log))
    }

    #[test]
    fn records_survive_a_reopen_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("__cluster_metadata-0");
        let id = Uuid::from_u128(7);
        let batches = vec![
            vec![MetadataRecord::Topic {
                name: "a".into(),
                topic_id: id,
            }],
            vec![
                MetadataRecord::Config {
                    resource: ConfigResource::Topic("a".into()),
                    name: "retention.ms".into(),
                    value: Some("5".into()),
                },
                MetadataRecord::ProducerIds {
                    broker_id: 1,
                    broker_epoch: -1,
                    next_producer_id: 1000,
                },
            ],
            vec![MetadataRecord::RemoveTopic { topic_id: id }],
            vec![MetadataRecord::Topic {
                name: "b".into(),
                topic_id: Uuid::from_u128(8),
            }],
        ];
        let mut expected = MetadataImage::empty();
        {
            let store = open(&dir, true);
            for batch in &batches {
                let base = store.append(batch, 1).unwrap();
                for (i, r) in batch.iter().enumerate() {
                    expected.replay(base + i as i64, r);
                }
            }
            store.log.close().unwrap();
        }
        let loaded = open(&dir, true).load().unwrap();
        assert_eq!(loaded, expected);
        assert_eq!(loaded.offset, 4);
        assert!(loaded.topic("a").is_none());
        assert_eq!(loaded.next_producer_id, 1000);
        // An unclean reopen recovers the same records.
        assert_eq!(open(&dir, false).load().unwrap(), expected);
    }

    #[test]
    fn a_new_log_starts_with_the_feature_levels_and_only_once() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("__cluster_metadata-0");
        let features = [("metadata.version", 27), ("group.version", 1), ("x", 0)];
        let store = open(&dir, true);
        let image = store
            .bootstrap(store.load().unwrap(), &features, 1)
            .unwrap();
        assert_eq!(image.offset, 1);
        assert_eq!(image.features.get("metadata.version"), Some(&27));
        assert!(!image.features.contains_key("x"));
        // A second start appends nothing.
        let again = store
            .bootstrap(store.load().unwrap(), &features, 2)
            .unwrap();
        assert_eq!(again, image);
        assert_eq!(store.log.log_end_offset(), 2);
    }

    #[test]
    fn a_log_without_feature_levels_gets_them_after_its_records() {
        let tmp = tempfile::tempdir().unwrap();
        let store = open(&tmp.path().join("__cluster_metadata-0"), true);
        let topic = MetadataRecord::Topic {
            name: "a".into(),
            topic_id: Uuid::from_u128(1),
        };
        store.append(&[topic], 1).unwrap();
        let image = store
            .bootstrap(store.load().unwrap(), &[("metadata.version", 27)], 2)
            .unwrap();
        assert_eq!((image.offset, image.features.len()), (1, 1));
        assert!(image.topic("a").is_some());
    }

    #[test]
    fn a_log_of_the_earlier_json_format_still_loads() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("__cluster_metadata-0");
        let store = open(&dir, true);
        let id = Uuid::from_u128(3);
        let json = format!(r#"{{"type":"Topic","name":"old","topic_id":"{id}"}}"#);
        let batch = encode_batch(&[(None, Some(Bytes::from(json)))], 1);
        store.log.append(batch, 0, 1).unwrap();
        store
            .append(&[MetadataRecord::RemoveTopic { topic_id: id }], 2)
            .unwrap();
        store
            .append(
                &[MetadataRecord::Topic {
                    name: "new".into(),
                    topic_id: Uuid::from_u128(4),
                }],
                3,
            )
            .unwrap();
        let image = store.load().unwrap();
        assert!(image.topic("old").is_none());
        assert_eq!(image.topic("new").unwrap().topic_id, Uuid::from_u128(4));
        assert_eq!(image.offset, 2);
    }

    #[test]
    fn a_snapshot_replaces_the_log_below_it_on_the_next_load() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("__cluster_metadata-0");
        let policy = SnapshotPolicy {
            max_bytes_between: 40,
            max_interval_ms: 0,
        };
        let log = PartitionLog::open(&dir, MetadataStore::log_config(), true, 0).unwrap();
        let store = MetadataStore::with_policy(Arc::new(log), policy);
        let mut image = MetadataImage::empty();
        let mut taken = Vec::new();
        for i in 0..6u128 {
            let record = MetadataRecord::Topic {
                name: format!("t{i}"),
                topic_id: Uuid::from_u128(i + 1),
            };
            let base = store.append(std::slice::from_ref(&record), 1).unwrap();
            image.replay(base, &record);
            taken.extend(store.maybe_snapshot(&image, 1).unwrap());
        }
        // Topic records are about 25 bytes: every second decision.
        assert_eq!(
            taken.iter().map(|id| id.end_offset).collect::<Vec<_>>(),
            vec![2, 4, 6]
        );
        assert_eq!(store.log.log_start_offset(), 6);
        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".checkpoint") && n != "runnel.checkpoint")
            .collect();
        assert_eq!(files, vec!["00000000000000000006-0000000001.checkpoint"]);
        store.log.close().unwrap();

        let reopened = open(&dir, true);
        assert_eq!(reopened.log.log_start_offset(), 6);
        assert_eq!(reopened.load().unwrap(), image);
        // Decisions after the snapshot replay on top of it.
        let late = MetadataRecord::RemoveTopic {
            topic_id: Uuid::from_u128(1),
        };
        let base = reopened.append(std::slice::from_ref(&late), 2).unwrap();
        image.replay(base, &late);
        assert_eq!(reopened.load().unwrap(), image);
    }
}
