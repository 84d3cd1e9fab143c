//! The metadata log on disk: `__cluster_metadata-0`, a partition log in
//! Kafka's format under Kafka's fixed metadata topic id, whose record
//! values are [`MetadataRecord`]s in Kafka's framing. Loading replays it
//! into an image; appending writes one batch per controller decision and
//! fsyncs it before the decision is published (metadata is rare and must
//! never be lost). A new log starts with the bootstrap batch (the finalized
//! feature levels, `metadata.version` first), as a KRaft controller writes
//! it when the cluster is first activated.

use std::sync::Arc;

use bytes::Bytes;

use super::{MetadataImage, MetadataRecord};
use crate::log::records::{ReplayError, encode_batch, replay_log};
use crate::log::{LogConfig, LogError, PartitionLog};

pub use super::records::METADATA_TOPIC_ID;
pub use crate::common::internal_topics::METADATA_TOPIC;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("metadata log: {0}")]
    Log(#[from] LogError),
    #[error("metadata log batch at offset {offset} is unreadable: {reason}")]
    Decode { offset: i64, reason: String },
}

pub struct MetadataStore {
    log: Arc<PartitionLog>,
}

/// The largest batch one decision may write. A decision's records are one
/// batch (applied all or nothing), and CreateTopics of 10,000 partitions is
/// about 1.7 MB of records, over a data topic's default 1 MiB.
pub const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;

impl MetadataStore {
    pub fn new(log: Arc<PartitionLog>) -> Self {
        MetadataStore { log }
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

    /// Replays the whole log into a fresh image.
    pub fn load(&self) -> Result<MetadataImage, StoreError> {
        let mut image = MetadataImage::empty();
        replay_log(&self.log, |offset, _key, value| {
            let parsed = MetadataRecord::from_bytes(value.unwrap_or_default())
                .map_err(|e| format!("record at offset {offset}: {e}"))?;
            image.replay(offset, &parsed);
            Ok(())
        })
        .map_err(|e| match e {
            ReplayError::Log(e) => StoreError::Log(e),
            ReplayError::Decode { offset, reason } => StoreError::Decode { offset, reason },
        })?;
        Ok(image)
    }

    /// Writes `features` (name, level) as the log's first batch when the
    /// log is empty; returns the image with them applied.
    pub fn bootstrap(
        &self,
        image: MetadataImage,
        features: &[(&str, i16)],
        now_ms: i64,
    ) -> Result<MetadataImage, StoreError> {
        if image.offset >= 0 || self.log.log_end_offset() > 0 {
            return Ok(image);
        }
        let records: Vec<MetadataRecord> = features
            .iter()
            .filter(|(_, level)| *level > 0)
            .map(|(name, level)| MetadataRecord::FeatureLevel {
                name: name.to_string(),
                level: *level,
            })
            .collect();
        let base = self.append(&records, now_ms)?;
        let mut image = image;
        for (i, record) in records.iter().enumerate() {
            image.replay(base + i as i64, record);
        }
        Ok(image)
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
        let info = self.log.append(encode_batch(&encoded, now_ms), 0, now_ms)?;
        self.log.flush()?;
        Ok(info.base_offset)
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
}
