//! Idempotent producer state of one partition: for each producer id, its
//! epoch and the metadata of its last five batches. Decides whether a new
//! batch is appended, is a retry of one already written (answered with the
//! original offsets), or breaks the sequence. Kafka counterpart:
//! `ProducerStateManager` / `ProducerAppendInfo` (KIP-98, KIP-360).
//!
//! Sans-IO: the partition calls [`ProducerStateManager::check`] under its
//! append lock, appends, then [`ProducerStateManager::record`]. Persisted as
//! a snapshot file by the partition; rebuilt from the log after a crash.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::error::ReplicaError;

/// Batches remembered per producer for duplicate detection (Kafka's 5, the
/// most in-flight requests an idempotent producer may have).
pub const BATCHES_PER_PRODUCER: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub base_offset: i64,
    pub last_offset: i64,
    /// What a retry of the batch is answered with as its log append time:
    /// the batch's max timestamp (Kafka's `BatchMetadata.timestamp`, which
    /// `UnifiedLog.append` reports for a duplicate).
    pub log_append_time_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerEntry {
    pub epoch: i16,
    pub batches: VecDeque<BatchMetadata>,
    /// Last time (ms) the producer wrote, for `producer.id.expiration.ms`.
    pub last_timestamp_ms: i64,
}

/// The identity and sequence range of a batch being appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub epoch: i16,
    pub first_seq: i32,
    pub last_seq: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// A new batch in sequence: append it.
    Append,
    /// A retry of a batch already in the log.
    Duplicate(BatchMetadata),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
}

/// The sequence that follows `seq` (sequences wrap at i32::MAX).
fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

impl ProducerStateManager {
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    pub fn entry(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// Decides what to do with a batch of an idempotent producer.
    pub fn check(&self, batch: ProducerBatch) -> Result<SequenceCheck, ReplicaError> {
        let Some(entry) = self.producers.get(&batch.producer_id) else {
            // A producer we have no state for (new, or expired) may start at
            // any sequence, as in Kafka since KIP-360.
            return Ok(SequenceCheck::Append);
        };
        if batch.epoch < entry.epoch {
            return Err(ReplicaError::InvalidProducerEpoch(format!(
                "producer {} epoch {} is older than the current epoch {}",
                batch.producer_id, batch.epoch, entry.epoch
            )));
        }
        if batch.epoch > entry.epoch {
            if batch.first_seq != 0 {
                return Err(ReplicaError::OutOfOrderSequence(format!(
                    "producer {} started epoch {} at sequence {} instead of 0",
                    batch.producer_id, batch.epoch, batch.first_seq
                )));
            }
            return Ok(SequenceCheck::Append);
        }
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == batch.first_seq && b.last_seq == batch.last_seq)
        {
            return Ok(SequenceCheck::Duplicate(*dup));
        }
        let expected = entry
            .batches
            .back()
            .map(|b| next_seq(b.last_seq))
            .unwrap_or(0);
        if entry.batches.is_empty() || batch.first_seq == expected {
            Ok(SequenceCheck::Append)
        } else {
            Err(ReplicaError::OutOfOrderSequence(format!(
                "producer {} epoch {}: expected sequence {}, got {}",
                batch.producer_id, batch.epoch, expected, batch.first_seq
            )))
        }
    }

    /// Records a batch that was appended (live, or replayed from the log).
    pub fn record(&mut self, batch: ProducerBatch, meta: BatchMetadata, now_ms: i64) {
        let entry = self
            .producers
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch: batch.epoch,
                batches: VecDeque::new(),
                last_timestamp_ms: now_ms,
            });
        if batch.epoch != entry.epoch {
            entry.epoch = batch.epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == BATCHES_PER_PRODUCER {
            entry.batches.pop_front();
        }
        entry.batches.push_back(meta);
        entry.last_timestamp_ms = now_ms;
    }

    /// Forgets producers idle for longer than `producer.id.expiration.ms`.
    /// Forgets producers whose last batch is `expiration_ms` or more older
    /// than `now_ms` (Kafka's `ProducerStateManager.removeExpiredProducers`;
    /// times are the batches' own timestamps). Returns how many went.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers
            .retain(|_, e| now_ms.saturating_sub(e.last_timestamp_ms) < expiration_ms);
        before - self.producers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(pid: i64, epoch: i16, first: i32, last: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id: pid,
            epoch,
            first_seq: first,
            last_seq: last,
        }
    }

    fn meta(first: i32, last: i32, base: i64) -> BatchMetadata {
        BatchMetadata {
            first_seq: first,
            last_seq: last,
            base_offset: base,
            last_offset: base + (last - first) as i64,
            log_append_time_ms: -1,
        }
    }

    #[test]
    fn sequences_in_order_append() {
        let mut s = ProducerStateManager::default();
        assert_eq!(s.check(b(1, 0, 0, 4)).ok(), Some(SequenceCheck::Append));
        s.record(b(1, 0, 0, 4), meta(0, 4, 0), 0);
        assert_eq!(s.check(b(1, 0, 5, 9)).ok(), Some(SequenceCheck::Append));
    }

    #[test]
    fn retries_of_the_last_five_batches_are_duplicates() {
        let mut s = ProducerStateManager::default();
        for i in 0..6 {
            s.record(
                b(1, 0, i * 10, i * 10 + 9),
                meta(i * 10, i * 10 + 9, i as i64 * 10),
                0,
            );
        }
        assert_eq!(
            s.check(b(1, 0, 50, 59)).ok(),
            Some(SequenceCheck::Duplicate(meta(50, 59, 50)))
        );
        assert_eq!(
            s.check(b(1, 0, 10, 19)).ok(),
            Some(SequenceCheck::Duplicate(meta(10, 19, 10)))
        );
        // The oldest fell out of the window: it is now out of order.
        assert_eq!(s.check(b(1, 0, 0, 9)).unwrap_err().code(), 45);
    }

    #[test]
    fn gaps_are_out_of_order() {
        let mut s = ProducerStateManager::default();
        s.record(b(1, 0, 0, 4), meta(0, 4, 0), 0);
        assert_eq!(s.check(b(1, 0, 6, 6)).unwrap_err().code(), 45);
    }

    #[test]
    fn older_epochs_are_fenced_and_new_epochs_restart_at_zero() {
        let mut s = ProducerStateManager::default();
        s.record(b(1, 3, 0, 0), meta(0, 0, 0), 0);
        assert_eq!(s.check(b(1, 2, 1, 1)).unwrap_err().code(), 47);
        assert_eq!(s.check(b(1, 4, 0, 0)).ok(), Some(SequenceCheck::Append));
        assert_eq!(s.check(b(1, 4, 3, 3)).unwrap_err().code(), 45);
        s.record(b(1, 4, 0, 0), meta(0, 0, 1), 0);
        assert_eq!(s.entry(1).unwrap().batches.len(), 1);
    }

    #[test]
    fn unknown_producers_may_start_anywhere_and_sequences_wrap() {
        let mut s = ProducerStateManager::default();
        assert_eq!(s.check(b(9, 0, 77, 80)).ok(), Some(SequenceCheck::Append));
        s.record(
            b(9, 0, i32::MAX - 1, i32::MAX),
            meta(i32::MAX - 1, i32::MAX, 0),
            0,
        );
        assert_eq!(s.check(b(9, 0, 0, 3)).ok(), Some(SequenceCheck::Append));
    }

    #[test]
    fn idle_producers_expire() {
        let mut s = ProducerStateManager::default();
        s.record(b(1, 0, 0, 0), meta(0, 0, 0), 0);
        s.record(b(2, 0, 0, 0), meta(0, 0, 1), 500);
        s.expire(1000, 600);
        assert!(s.entry(1).is_none());
        assert!(s.entry(2).is_some());
    }
}
