//! One partition hosted here as leader: its log, high watermark and
//! producer state. Kafka counterpart: `Partition` (leader side).
//!
//! Appends are serialized by the producer-state mutex, which is held across
//! the sequence check, the log append and the state update so that two
//! in-flight batches of one producer can never both pass the check.
//! Readers use the log directly and never take it.
//!
//! Invariant: high_watermark <= log_end_offset. With a single replica the
//! high watermark follows the log end offset after every append; the
//! replication work replaces that rule with the ISR minimum.

use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::watch;
use uuid::Uuid;

use super::error::ReplicaError;
use super::producer_state::{BatchMetadata, ProducerBatch, ProducerStateManager, SequenceCheck};
use super::snapshot::{self, ProducerSnapshot};
use crate::log::batch::{BatchHeader, BatchIter};
use crate::log::partition_log::SliceInfo;
use crate::log::validate::{AppendOrigin, ProduceRules, ValidatedBatch, validate_produced_batch};
use crate::log::{LogConfig, LogError, PartitionLog};
use crate::ops::metrics::TopicProbe;

/// The outcome of a produce to one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceResult {
    pub base_offset: i64,
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
    pub record_count: u64,
}

pub struct Partition {
    pub topic: String,
    pub partition: i32,
    pub topic_id: Uuid,
    pub log: Arc<PartitionLog>,
    leader_epoch: AtomicI32,
    high_watermark: AtomicI64,
    /// Publishes each new high watermark; long-polling fetches wait on it.
    high_watermark_changed: watch::Sender<i64>,
    producers: Mutex<ProducerStateManager>,
    /// Bumped whenever the producer state changes; snapshots are written
    /// only when it moved since the last one.
    producers_changed: AtomicU64,
    /// The `producers_changed` value the last snapshot holds.
    snapshot_written: Mutex<Option<u64>>,
    probe: TopicProbe,
}

impl Partition {
    /// Wraps an opened log, loading the producer snapshot and replaying the
    /// log tail after it.
    pub fn open(
        topic: String,
        partition: i32,
        topic_id: Uuid,
        leader_epoch: i32,
        log: Arc<PartitionLog>,
    ) -> Partition {
        let (state, from) = match snapshot::read(log.dir()) {
            Some(s) if s.offset <= log.log_end_offset() && s.offset >= log.log_start_offset() => {
                (s.state, s.offset)
            }
            _ => (ProducerStateManager::default(), log.log_start_offset()),
        };
        let p = Partition {
            probe: TopicProbe::for_topic(&topic),
            topic,
            partition,
            topic_id,
            high_watermark: AtomicI64::new(log.log_end_offset()),
            high_watermark_changed: watch::channel(log.log_end_offset()).0,
            log,
            leader_epoch: AtomicI32::new(leader_epoch),
            producers: Mutex::new(state),
            producers_changed: AtomicU64::new(0),
            snapshot_written: Mutex::new(None),
        };
        if let Err(e) = p.rebuild_producer_state(from) {
            tracing::warn!(topic = %p.topic, partition = p.partition, error = %e, "could not rebuild producer state from the log");
        }
        p.begin_epoch(leader_epoch);
        p
    }

    /// The leader-epoch cache learns that `epoch` begins at the log end.
    fn begin_epoch(&self, epoch: i32) {
        if let Err(e) = self.log.assign_leader_epoch(epoch) {
            tracing::warn!(topic = %self.topic, partition = self.partition, epoch, error = %e,
                "could not record the new leader epoch");
        }
    }

    fn rebuild_producer_state(&self, mut offset: i64) -> Result<(), LogError> {
        let mut producers = self.lock_producers();
        let end = self.log.log_end_offset();
        while offset < end {
            let read = self.log.read(offset, 1 << 20, i64::MAX)?;
            if read.records.is_empty() {
                break;
            }
            for item in BatchIter::new(&read.records) {
                let (h, _) = item?;
                if h.producer_id >= 0 && !h.is_control() {
                    let (batch, meta) = producer_entry(&h, h.base_offset, h.max_timestamp);
                    producers.record(batch, meta, h.max_timestamp);
                }
                offset = offset.max(h.next_offset());
            }
        }
        Ok(())
    }

    fn lock_producers(&self) -> std::sync::MutexGuard<'_, ProducerStateManager> {
        self.producers.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    pub fn set_leader_epoch(&self, epoch: i32) {
        if self.leader_epoch.swap(epoch, Ordering::AcqRel) != epoch {
            self.begin_epoch(epoch);
        }
    }

    /// OffsetForLeaderEpoch from the log's leader-epoch cache.
    pub fn end_offset_for_epoch(&self, requested: i32) -> (i32, i64) {
        self.log.end_offset_for_epoch(requested)
    }

    /// Checks a client's view of the leader epoch (KIP-320): -1 skips the
    /// check; a newer epoch than ours is UNKNOWN_LEADER_EPOCH (we are
    /// behind), an older one FENCED_LEADER_EPOCH (the client is).
    pub fn check_leader_epoch(&self, requested: i32) -> Result<(), ReplicaError> {
        let current = self.leader_epoch();
        if requested < 0 || requested == current {
            Ok(())
        } else if requested > current {
            Err(ReplicaError::UnknownLeaderEpoch)
        } else {
            Err(ReplicaError::FencedLeaderEpoch)
        }
    }

    /// Counts record bytes a fetch response carries from this partition.
    pub fn record_fetched(&self, bytes: usize) {
        self.probe.record_fetched(bytes);
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log.log_start_offset()
    }

    /// A receiver that changes when the high watermark moves: what a
    /// long-polling fetch of this partition waits on. Subscribe before
    /// reading so an append between the read and the wait is not missed.
    pub fn subscribe_high_watermark(&self) -> watch::Receiver<i64> {
        self.high_watermark_changed.subscribe()
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log.log_end_offset()
    }

    /// Appends the records of one Produce partition entry: exactly one v2
    /// batch, validated as Kafka validates a client's batch
    /// ([`crate::log::validate`]), then checked against its producer's
    /// sequence when idempotent. `acks` -1 needs `min.insync.replicas`
    /// in-sync replicas, and this partition has one.
    pub fn append_produce(
        &self,
        records: Bytes,
        produce_version: i16,
        acks: i16,
        now_ms: i64,
    ) -> Result<ProduceResult, ReplicaError> {
        let config = self.log.config();
        if acks == -1 && IN_SYNC_REPLICAS < config.min_insync_replicas {
            return Err(ReplicaError::NotEnoughReplicas(format!(
                "the in-sync replicas of {}-{} ({IN_SYNC_REPLICAS}) are fewer than min.insync.replicas ({})",
                self.topic, self.partition, config.min_insync_replicas
            )));
        }
        let rules = produce_rules(&config, AppendOrigin::Client { produce_version }, now_ms);
        let batch = validate_produced_batch(records, &rules)?;
        if batch.header.is_transactional() {
            return Err(ReplicaError::InvalidRecord(
                "transactional batches need the transaction coordinator, which this broker does not run yet".into(),
            ));
        }
        self.append_batch(batch, now_ms)
    }

    /// Appends one batch the broker built itself (a coordinator's records):
    /// validated without the client-only checks.
    pub fn append(&self, records: Bytes, now_ms: i64) -> Result<ProduceResult, ReplicaError> {
        let config = self.log.config();
        let rules = produce_rules(&config, AppendOrigin::Coordinator, now_ms);
        let batch = validate_produced_batch(records, &rules)?;
        self.append_batch(batch, now_ms)
    }

    fn append_batch(
        &self,
        batch: ValidatedBatch,
        now_ms: i64,
    ) -> Result<ProduceResult, ReplicaError> {
        let header = batch.header;
        let mut producers = self.lock_producers();
        let idempotent = header.producer_id >= 0;
        if idempotent {
            let (entry, _) = producer_entry(&header, -1, -1);
            if let SequenceCheck::Duplicate(meta) = producers.check(entry)? {
                tracing::debug!(topic = %self.topic, partition = self.partition, producer_id = header.producer_id,
                    first_seq = meta.first_seq, "duplicate batch answered with its original offsets");
                return Ok(ProduceResult {
                    base_offset: meta.base_offset,
                    log_append_time_ms: meta.log_append_time_ms,
                    log_start_offset: self.log.log_start_offset(),
                    record_count: 0,
                });
            }
        }
        let bytes = batch.bytes.len();
        let segments_before = self.log.segment_count();
        let info = self
            .log
            .append_validated(&batch, self.leader_epoch(), now_ms)?;
        self.probe.record(bytes, info.record_count);
        if idempotent {
            // A retry of this batch is answered with its max timestamp as
            // the log append time, as Kafka answers duplicates.
            let (entry, meta) = producer_entry(&header, info.base_offset, header.max_timestamp);
            // The batch's own time, as on rebuild and in Kafka: expiry
            // counts from the producer's last timestamp.
            let timestamp = if info.log_append_time_ms >= 0 {
                info.log_append_time_ms
            } else {
                header.max_timestamp
            };
            producers.record(entry, meta, timestamp);
            self.producers_changed.fetch_add(1, Ordering::AcqRel);
        }
        drop(producers);
        // A single replica: everything appended is committed.
        let high_watermark = info.last_offset + 1;
        self.high_watermark
            .fetch_max(high_watermark, Ordering::AcqRel);
        self.high_watermark_changed.send_replace(high_watermark);
        debug_assert!(self.high_watermark() <= self.log.log_end_offset());
        if idempotent && self.log.segment_count() != segments_before {
            // Kafka snapshots producer state on every roll, so a recovery
            // replays at most the active segment.
            if let Err(e) = self.snapshot_producers(now_ms, i64::MAX, false) {
                tracing::warn!(topic = %self.topic, partition = self.partition, error = %e, "producer snapshot on roll failed");
            }
        }
        Ok(ProduceResult {
            base_offset: info.base_offset,
            log_append_time_ms: info.log_append_time_ms,
            log_start_offset: info.log_start_offset,
            record_count: info.record_count,
        })
    }

    /// What a consumer's Fetch reads, never past the high watermark, left in
    /// the segment file for a zero-copy send (see
    /// [`PartitionLog::fetch_slice`] for the byte limits).
    pub fn fetch_slice(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_message: bool,
    ) -> Result<SliceInfo, ReplicaError> {
        Ok(self
            .log
            .fetch_slice(offset, max_bytes, self.high_watermark(), min_one_message)?)
    }

    /// A client's DeleteRecords: only a `delete` cleanup policy allows it,
    /// since a compacted topic keeps every key's latest value (Kafka's
    /// `Partition.deleteRecordsOnLeader`). `-1` means the high watermark.
    pub fn delete_records(&self, offset: i64) -> Result<i64, ReplicaError> {
        if !self.log.config().cleanup_delete {
            return Err(ReplicaError::PolicyViolation(format!(
                "records of partition {}-{} can not be deleted due to the configured policy",
                self.topic, self.partition
            )));
        }
        let hw = self.high_watermark();
        let target = if offset == -1 { hw } else { offset };
        if target < 0 || target > hw {
            return Err(ReplicaError::OffsetOutOfRange);
        }
        Ok(self.log.delete_records_before(target)?)
    }

    /// Expires idle producers and persists the producer state when it
    /// changed since the last snapshot (or always, with `flush_log`, at a
    /// clean shutdown). With `flush_log` the log is fsynced first, so the
    /// snapshot never covers bytes the disk may not have; without it
    /// (periodic), a snapshot past the log end after a power loss is
    /// discarded at open and the state rebuilt from the log.
    pub fn checkpoint(
        &self,
        now_ms: i64,
        producer_expiration_ms: i64,
        flush_log: bool,
    ) -> Result<(), ReplicaError> {
        if flush_log {
            self.log.flush()?;
        }
        self.snapshot_producers(now_ms, producer_expiration_ms, flush_log)
    }

    fn snapshot_producers(
        &self,
        now_ms: i64,
        producer_expiration_ms: i64,
        always: bool,
    ) -> Result<(), ReplicaError> {
        // One snapshot at a time per partition: they share the temp file.
        let mut written = self.lock_snapshot();
        let mut producers = self.lock_producers();
        let expired = producers.expire(now_ms, producer_expiration_ms);
        if expired > 0 {
            self.producers_changed.fetch_add(1, Ordering::AcqRel);
        }
        let version = self.producers_changed.load(Ordering::Acquire);
        if !always && *written == Some(version) {
            return Ok(());
        }
        let snap = ProducerSnapshot {
            offset: self.log.log_end_offset(),
            state: producers.clone(),
        };
        drop(producers);
        snapshot::write(self.log.dir(), &snap).map_err(|e| ReplicaError::Storage(e.to_string()))?;
        *written = Some(version);
        Ok(())
    }

    fn lock_snapshot(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.snapshot_written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

fn producer_entry(
    h: &BatchHeader,
    base_offset: i64,
    log_append_time_ms: i64,
) -> (ProducerBatch, BatchMetadata) {
    let last_seq = if h.base_sequence < 0 {
        h.base_sequence
    } else {
        ((h.base_sequence as i64 + h.last_offset_delta as i64) % (i32::MAX as i64 + 1)) as i32
    };
    (
        ProducerBatch {
            producer_id: h.producer_id,
            epoch: h.producer_epoch,
            first_seq: h.base_sequence,
            last_seq,
        },
        BatchMetadata {
            first_seq: h.base_sequence,
            last_seq,
            base_offset,
            last_offset: base_offset + h.last_offset_delta as i64,
            log_append_time_ms,
        },
    )
}

/// Replicas of a partition in sync with the leader: this broker alone
/// until replication.
const IN_SYNC_REPLICAS: i32 = 1;

fn produce_rules(config: &LogConfig, origin: AppendOrigin, now_ms: i64) -> ProduceRules {
    ProduceRules {
        origin,
        max_message_bytes: config.max_message_bytes,
        timestamp_type: config.message_timestamp_type,
        timestamp_before_max_ms: config.message_timestamp_before_max_ms,
        timestamp_after_max_ms: config.message_timestamp_after_max_ms,
        compacted: config.cleanup_compact,
        compression: config.compression,
        now_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::testing::make_batch;

    fn open(dir: &std::path::Path, clean: bool) -> Partition {
        let log = Arc::new(PartitionLog::open(dir, LogConfig::default(), clean, 0).unwrap());
        Partition::open("t".into(), 0, Uuid::nil(), 0, log)
    }

    fn batch(seq: i32, n: usize) -> Bytes {
        let recs: Vec<_> = (0..n).map(|_| (None, Some(&b"v"[..]))).collect();
        make_batch(&recs, 1000, Some((42, 0, seq)))
    }

    #[test]
    fn producer_snapshots_are_written_only_when_the_state_changed() {
        // Issue 10 item 16: two fsyncs per partition every round, even for
        // idle partitions, cost 20,000 fsyncs a round at 10,000 partitions.
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("t-0");
        let p = open(&dir, true);
        let file = dir.join(snapshot::SNAPSHOT_FILE);
        p.checkpoint(2, i64::MAX, false).unwrap();
        assert!(file.exists(), "the first round writes the initial state");
        std::fs::remove_file(&file).unwrap();
        p.checkpoint(3, i64::MAX, false).unwrap();
        assert!(!file.exists(), "nothing changed: no snapshot");
        p.append(batch(0, 2), 1).unwrap();
        p.checkpoint(4, i64::MAX, false).unwrap();
        assert!(file.exists(), "an append changed the state");
        std::fs::remove_file(&file).unwrap();
        // Expiry changes the state too (the batch is stamped 1000).
        p.checkpoint(5_000, 1_000, false).unwrap();
        assert!(file.exists(), "an expired producer changed the state");
        assert!(snapshot::read(&dir).unwrap().state.is_empty());
        // A clean shutdown always writes it.
        std::fs::remove_file(&file).unwrap();
        p.checkpoint(6_000, 1_000, true).unwrap();
        assert!(file.exists());
    }

    #[test]
    fn duplicates_are_answered_with_original_offsets_across_restarts() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("t-0");
        {
            let p = open(&dir, true);
            assert_eq!(p.append(batch(0, 3), 1).unwrap().base_offset, 0);
            assert_eq!(p.append(batch(3, 2), 1).unwrap().base_offset, 3);
            assert_eq!(
                p.append(batch(0, 3), 1).unwrap().base_offset,
                0,
                "retry of the first batch"
            );
            assert_eq!(p.log_end_offset(), 5);
            p.checkpoint(2, i64::MAX, true).unwrap();
            p.log.close().unwrap();
        }
        // Clean restart: the snapshot carries the state.
        {
            let p = open(&dir, true);
            assert_eq!(p.append(batch(3, 2), 3).unwrap().base_offset, 3);
            assert_eq!(p.append(batch(9, 1), 3).unwrap_err().code(), 45);
            assert_eq!(p.append(batch(5, 1), 3).unwrap().base_offset, 5);
            p.log.close().unwrap();
        }
        // No snapshot and an unclean start: the state is rebuilt from the log.
        std::fs::remove_file(dir.join(snapshot::SNAPSHOT_FILE)).unwrap();
        let p = open(&dir, false);
        assert_eq!(p.append(batch(5, 1), 4).unwrap().base_offset, 5);
        assert_eq!(p.append(batch(6, 1), 4).unwrap().base_offset, 6);
        assert_eq!(p.high_watermark(), 7);
    }

    #[test]
    fn more_than_one_batch_or_none_is_an_invalid_record() {
        let tmp = tempfile::tempdir().unwrap();
        let p = open(&tmp.path().join("t-0"), true);
        let mut two = bytes::BytesMut::new();
        two.extend_from_slice(&make_batch(&[(None, Some(b"a"))], 0, None));
        two.extend_from_slice(&make_batch(&[(None, Some(b"b"))], 0, None));
        assert_eq!(p.append(two.freeze(), 0).unwrap_err().code(), 87);
        assert_eq!(p.append(Bytes::new(), 0).unwrap_err().code(), 87);
        assert_eq!(p.log_end_offset(), 0);
    }
}
