//! The metadata log on disk: `__cluster_metadata-0`, a partition log in
//! Kafka's format whose record values are serialized
//! [`MetadataRecord`]s. Loading replays it into an image; appending writes
//! one batch per controller decision and fsyncs it before the decision is
//! published (metadata is rare and must never be lost).

use std::sync::Arc;

use bytes::{Buf, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::{MetadataImage, MetadataRecord};
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
        let end = self.log.log_end_offset();
        while offset < end {
            let read = self.log.read(offset, 1 << 20, i64::MAX)?;
            if read.records.is_empty() {
                break;
            }
            let mut buf = read.records.clone();
            let sets =
                RecordBatchDecoder::decode_all(&mut buf).map_err(|e| StoreError::Decode {
                    offset,
                    reason: e.to_string(),
                })?;
            for set in sets {
                for record in set.records {
                    if record.offset < offset {
                        continue;
                    }
                    let value = record.value.unwrap_or_default();
                    let parsed =
                        MetadataRecord::from_bytes(&value).map_err(|e| StoreError::Decode {
                            offset: record.offset,
                            reason: e.to_string(),
                        })?;
                    image.replay(record.offset, &parsed);
                    offset = record.offset + 1;
                }
            }
            let mut rest = read.records;
            // Guard against a batch with no records: step past it.
            while rest.len() >= 12 {
                let base = (&rest[0..8]).get_i64();
                let len = (&rest[8..12]).get_i32() as usize;
                let last_delta = if rest.len() >= 27 {
                    (&rest[23..27]).get_i32() as i64
                } else {
                    0
                };
                offset = offset.max(base + last_delta + 1);
                if rest.len() < 12 + len {
                    break;
                }
                rest.advance(12 + len);
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
