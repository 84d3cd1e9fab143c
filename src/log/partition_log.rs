//! The log of one partition: an ordered set of segments, the active one last.
//! Kafka counterpart: `LocalLog` + the log-only parts of `UnifiedLog`.
//!
//! Concurrency: `&self` methods are safe from many threads. One writer at a
//! time appends (an internal append lock); readers never take it and see only
//! batches whose bytes are fully written (the log end offset is published
//! after the write). fsync runs outside the append lock.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::log::{LogConfig, LogError};

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset assigned to the first record of the first batch.
    pub base_offset: i64,
    /// Offset of the last record appended.
    pub last_offset: i64,
    /// The broker's timestamp when `message.timestamp.type=LogAppendTime`, else -1.
    pub log_append_time_ms: i64,
    /// Log start offset after the append.
    pub log_start_offset: i64,
    /// Number of records appended (sum of record counts of the batches).
    pub record_count: u64,
}

/// What a read returned.
#[derive(Debug, Clone)]
pub struct ReadInfo {
    /// Whole batches, back to back, starting with the batch that contains the
    /// requested offset. Empty when there is nothing at or after it below the
    /// upper bound.
    pub records: Bytes,
    /// Log start offset and log end offset at the time of the read.
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// Answer of a look-up by timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
    /// Partition leader epoch of the batch holding `offset`, -1 if unknown.
    pub leader_epoch: i32,
}

pub struct PartitionLog {
    dir: PathBuf,
}

impl PartitionLog {
    /// Opens (or creates) the log in `dir`. When `clean_shutdown` is false,
    /// segments past the recovery point are validated and a torn or corrupt
    /// tail is cut; missing or damaged indexes are rebuilt either way.
    pub fn open(
        dir: &Path,
        config: LogConfig,
        clean_shutdown: bool,
        now_ms: i64,
    ) -> Result<PartitionLog, LogError> {
        let _ = (config, clean_shutdown, now_ms);
        Ok(PartitionLog {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Validates every batch in `records` (one or more RecordBatch v2 back to
    /// back, as in a Produce request), assigns offsets from the log end
    /// offset by rewriting each `baseOffset` and `partitionLeaderEpoch`,
    /// applies `LogAppendTime` when configured, and appends. All or nothing:
    /// if any batch is invalid nothing is written.
    pub fn append(
        &self,
        records: Bytes,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let _ = (records, leader_epoch, now_ms);
        todo!("storage engine")
    }

    /// Reads whole batches from the one containing `offset`, up to
    /// `max_bytes` (but always at least one whole batch when any is
    /// available), never returning a batch whose base offset is at or past
    /// `max_offset` (exclusive; the high watermark for consumers).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
    ) -> Result<ReadInfo, LogError> {
        let _ = (offset, max_bytes, max_offset);
        todo!("storage engine")
    }

    pub fn log_start_offset(&self) -> i64 {
        todo!("storage engine")
    }

    pub fn log_end_offset(&self) -> i64 {
        todo!("storage engine")
    }

    /// The first offset whose timestamp is >= `timestamp` (Kafka's
    /// ListOffsets by time), or None if every record is older.
    pub fn offset_for_timestamp(
        &self,
        timestamp: i64,
    ) -> Result<Option<TimestampOffset>, LogError> {
        let _ = timestamp;
        todo!("storage engine")
    }

    /// The record with the greatest timestamp (ListOffsets `MAX_TIMESTAMP`, KIP-734).
    pub fn max_timestamp(&self) -> Result<Option<TimestampOffset>, LogError> {
        todo!("storage engine")
    }

    /// Removes every batch at or past `offset` (replication truncation).
    pub fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        let _ = offset;
        todo!("storage engine")
    }

    /// Raises the log start offset (DeleteRecords); whole segments below it
    /// are deleted. Returns the new log start offset.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, LogError> {
        let _ = offset;
        todo!("storage engine")
    }

    /// Deletes segments past `retention.ms` / `retention.bytes` and rolls a
    /// segment older than `segment.ms`. Returns how many segments were deleted.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize, LogError> {
        let _ = now_ms;
        todo!("storage engine")
    }

    /// fsyncs everything appended so far (one call covers all earlier appends).
    pub fn flush(&self) -> Result<(), LogError> {
        todo!("storage engine")
    }

    /// Replaces the settings (topic config changed).
    pub fn update_config(&self, config: LogConfig) {
        let _ = config;
        todo!("storage engine")
    }

    /// Flushes and closes for a clean shutdown.
    pub fn close(&self) -> Result<(), LogError> {
        todo!("storage engine")
    }
}
