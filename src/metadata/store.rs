//! The metadata log on disk: `__cluster_metadata-0`, a partition log in
//! Kafka's format whose record values are serialized
//! [`MetadataRecord`]s. Loading replays it into an image; appending writes
//! one batch per controller decision and fsyncs it before the decision is
//! published (metadata is rare and must never be lost).

use std::sync::Arc;

use bytes::Bytes;

use super::{MetadataImage, MetadataRecord};
use crate::log::records::{ReplayError, encode_batch, replay_log};
use crate::log::{LogConfig, LogError, PartitionLog};

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
            let parsed =
                MetadataRecord::from_bytes(value.unwrap_or_default()).map_err(|e| e.to_string())?;
            image.replay(offset, &parsed);
            Ok(())
        })
        .map_err(|e| match e {
            ReplayError::Log(e) => StoreError::Log(e),
            ReplayError::Decode { offset, reason } => StoreError::Decode { offset, reason },
        })?;
        Ok(image)
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
                    node_id: 1,
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
}
