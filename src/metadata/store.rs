//! The metadata log on disk: `__cluster_metadata-0`, a partition log in
//! Kafka's format whose record values are serialized
//! [`MetadataRecord`]s. Loading replays it into an image; appending writes
//! one batch per controller decision and fsyncs it before the decision is
//! published (metadata is rare and must never be lost).

use std::sync::Arc;

use bytes::BytesMut;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::{MetadataImage, MetadataRecord};
use crate::log::batch::BatchIter;
use crate::log::{LogError, PartitionLog};

pub const METADATA_TOPIC: &str = "__cluster_metadata";

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

impl MetadataStore {
    pub fn new(log: Arc<PartitionLog>) -> Self {
        MetadataStore { log }
    }

    /// Replays the whole log into a fresh image.
    pub fn load(&self) -> Result<MetadataImage, StoreError> {
        let mut image = MetadataImage::empty();
        let mut offset = self.log.log_start_offset();
        while offset < self.log.log_end_offset() {
            let read = self.log.read(offset, 1 << 20, i64::MAX)?;
            if read.records.is_empty() {
                break;
            }
            for item in BatchIter::new(&read.records) {
                let (header, bytes) = item?;
                let decode_error = |reason: String| StoreError::Decode {
                    offset: header.base_offset,
                    reason,
                };
                let mut buf = read.records.slice_ref(bytes);
                let set = RecordBatchDecoder::decode(&mut buf)
                    .map_err(|e| decode_error(e.to_string()))?;
                for record in set.records.iter().filter(|r| r.offset >= offset) {
                    let value = record.value.as_deref().unwrap_or_default();
                    let parsed = MetadataRecord::from_bytes(value)
                        .map_err(|e| decode_error(e.to_string()))?;
                    image.replay(record.offset, &parsed);
                }
                offset = offset.max(header.next_offset());
            }
        }
        Ok(image)
    }

    /// Appends the records as one batch and fsyncs it. Returns the offset of
    /// the first record.
    pub fn append(&self, records: &[MetadataRecord], now_ms: i64) -> Result<i64, StoreError> {
        let encoded: Vec<Record> = records
            .iter()
            .enumerate()
            .map(|(i, r)| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: -1,
                timestamp: now_ms,
                key: None,
                value: Some(r.to_bytes().into()),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            encoded.iter(),
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .map_err(|e| StoreError::Decode {
            offset: -1,
            reason: format!("encoding metadata batch: {e}"),
        })?;
        let info = self.log.append(buf.freeze(), 0, now_ms)?;
        self.log.flush()?;
        Ok(info.base_offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::LogConfig;
    use crate::metadata::records::ConfigResource;
    use uuid::Uuid;

    fn open(dir: &std::path::Path, clean: bool) -> MetadataStore {
        let log = PartitionLog::open(dir, LogConfig::default(), clean, 0).unwrap();
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
