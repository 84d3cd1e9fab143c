//! Per-log settings, named after Kafka's topic configs (`segment.bytes`,
//! `retention.ms`, ...). The broker resolves topic overrides over broker
//! defaults and hands the result to each [`crate::log::PartitionLog`].

use crate::log::batch::{CompressionCodec, TimestampType};

/// Settings of one partition log. Defaults are Kafka's.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll when the active segment would grow past this.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when an append's timestamp is this far past the
    /// active segment's first batch (Kafka's `LogSegment.shouldRoll`).
    pub segment_ms: i64,
    /// `segment.index.bytes`: the most bytes an index may hold before a roll.
    pub segment_index_bytes: u64,
    /// `index.interval.bytes`: bytes of log between two index entries.
    pub index_interval_bytes: u64,
    /// `retention.ms`: delete segments whose newest record is older; -1 keeps all.
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest segments while the log is larger; -1 keeps all.
    pub retention_bytes: i64,
    /// `flush.messages`: fsync after this many records; `i64::MAX` leaves it to the OS.
    pub flush_messages: i64,
    /// `flush.ms`: fsync when the oldest unflushed data is this old; `i64::MAX` leaves it to the OS.
    pub flush_ms: i64,
    /// `message.timestamp.type`.
    pub message_timestamp_type: TimestampType,
    /// `max.message.bytes`: the largest batch accepted.
    pub max_message_bytes: usize,
    /// `file.delete.delay.ms`: how long a deleted segment lingers as `.deleted`.
    pub file_delete_delay_ms: i64,
    /// `cleanup.policy` contains `delete`: time and size retention apply.
    /// Without it only DeleteRecords moves the log start (Kafka's
    /// `UnifiedLog.deleteOldSegments`).
    pub cleanup_delete: bool,
    /// `cleanup.policy` contains `compact`: every record needs a key.
    pub cleanup_compact: bool,
    /// `message.timestamp.before.max.ms`: how far behind the broker clock a
    /// CreateTime record may be.
    pub message_timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far ahead of it.
    pub message_timestamp_after_max_ms: i64,
    /// `compression.type`: the codec batches are stored with; `None`
    /// (`producer`) keeps the producer's.
    pub compression: Option<CompressionCodec>,
    /// `min.insync.replicas`: fewest in-sync replicas for an acks=all write.
    pub min_insync_replicas: i32,
    /// `min.cleanable.dirty.ratio`: the cleaner takes a compacted log only
    /// when its dirty share is above this.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: a segment holding a record younger than
    /// this is not cleaned.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a dirty segment whose first batch is older
    /// than this is cleaned whatever the dirty ratio.
    pub max_compaction_lag_ms: i64,
    /// `delete.retention.ms`: how long a tombstone outlives the cleaning
    /// that first kept it (KIP-534's delete horizon).
    pub delete_retention_ms: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            message_timestamp_type: TimestampType::CreateTime,
            max_message_bytes: 1024 * 1024 + 12,
            file_delete_delay_ms: 60_000,
            cleanup_delete: true,
            cleanup_compact: false,
            message_timestamp_before_max_ms: i64::MAX,
            message_timestamp_after_max_ms: 3_600_000,
            compression: None,
            min_insync_replicas: 1,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            delete_retention_ms: 86_400_000,
        }
    }
}
