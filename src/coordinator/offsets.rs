//! One group's committed offsets, sans-IO. Commits and deletions become
//! [`OffsetRecord`]s; `replay()` is the only code that changes the table.
//! The store replays its own records as it emits them, so the driver must
//! hold the OffsetCommit response until the append commits.
//!
//! Invariant: at most one committed offset per partition.
//!
//! Kafka counterpart: `OffsetMetadataManager` and `GroupMetadata`'s offset
//! expiry (KIP-211: an Empty consumer group's offsets expire together,
//! `offsets.retention.minutes` after the group became Empty).

use std::collections::BTreeMap;

use super::group::{ClassicGroup, GroupState};
use super::record::{OffsetAndMetadata, OffsetRecord};
use super::{GroupConfig, GroupError};

/// One partition in an OffsetCommit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionCommit {
    pub topic: String,
    pub partition: i32,
    pub committed_offset: i64,
    pub leader_epoch: Option<i32>,
    pub metadata: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInput {
    /// Empty with `generation_id` -1 for a simple (non-member) commit.
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub generation_id: i32,
    pub partitions: Vec<PartitionCommit>,
}

/// Records to append, then the per-partition answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOutcome {
    pub records: Vec<OffsetRecord>,
    pub partitions: Vec<(String, i32, Result<(), GroupError>)>,
}

#[derive(Debug, Clone, Default)]
pub struct OffsetStore {
    offsets: BTreeMap<(String, i32), OffsetAndMetadata>,
}

impl OffsetStore {
    pub fn new() -> OffsetStore {
        OffsetStore::default()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// OffsetCommit. A membership failure fails every partition alike (the
    /// `Err`); an oversized metadata string fails only its partition.
    pub fn commit(
        &mut self,
        group: &mut ClassicGroup,
        config: &GroupConfig,
        input: CommitInput,
        now_ms: i64,
    ) -> Result<CommitOutcome, GroupError> {
        group.validate_offset_commit(
            &input.member_id,
            input.group_instance_id.as_deref(),
            input.generation_id,
            now_ms,
        )?;
        let mut outcome = CommitOutcome {
            records: Vec::new(),
            partitions: Vec::new(),
        };
        for p in input.partitions {
            let metadata = p.metadata.unwrap_or_default();
            if metadata.len() > config.offset_metadata_max_bytes {
                outcome.partitions.push((
                    p.topic,
                    p.partition,
                    Err(GroupError::OffsetMetadataTooLarge),
                ));
                continue;
            }
            let record = OffsetRecord::Commit {
                topic: p.topic.clone(),
                partition: p.partition,
                value: OffsetAndMetadata {
                    committed_offset: p.committed_offset,
                    leader_epoch: p.leader_epoch,
                    metadata,
                    commit_timestamp_ms: now_ms,
                },
            };
            self.replay(&record);
            outcome.records.push(record);
            outcome.partitions.push((p.topic, p.partition, Ok(())));
        }
        Ok(outcome)
    }

    /// OffsetFetch: the named partitions (`None` for the offset) or, with
    /// `None`, every committed partition.
    pub fn fetch(
        &self,
        partitions: Option<&[(String, i32)]>,
    ) -> Vec<(String, i32, Option<OffsetAndMetadata>)> {
        match partitions {
            Some(list) => list
                .iter()
                .map(|(t, p)| (t.clone(), *p, self.offsets.get(&(t.clone(), *p)).cloned()))
                .collect(),
            None => self
                .offsets
                .iter()
                .map(|((t, p), v)| (t.clone(), *p, Some(v.clone())))
                .collect(),
        }
    }

    /// Tombstones for the given partitions that have an offset. The caller
    /// checks OffsetDelete's rule that the group is not subscribed to them.
    pub fn delete(&mut self, partitions: &[(String, i32)]) -> Vec<OffsetRecord> {
        let mut records = Vec::new();
        for (topic, partition) in partitions {
            if self.offsets.contains_key(&(topic.clone(), *partition)) {
                let record = OffsetRecord::Tombstone {
                    topic: topic.clone(),
                    partition: *partition,
                };
                self.replay(&record);
                records.push(record);
            }
        }
        records
    }

    /// Tombstones for every offset. Used when the group is deleted.
    pub fn delete_all(&mut self) -> Vec<OffsetRecord> {
        let all: Vec<(String, i32)> = self.offsets.keys().cloned().collect();
        self.delete(&all)
    }

    /// Expired offsets (KIP-211). An Empty group with a protocol type
    /// expires all offsets `retention_ms` after it became Empty; a group that
    /// never had members expires each offset `retention_ms` after its
    /// commit. A group with members keeps its offsets.
    pub fn expire(
        &mut self,
        group: &ClassicGroup,
        retention_ms: i64,
        now_ms: i64,
    ) -> Vec<OffsetRecord> {
        if group.state() != GroupState::Empty {
            return Vec::new();
        }
        let base = |v: &OffsetAndMetadata| match group.protocol_type() {
            Some(_) => group
                .current_state_timestamp_ms()
                .unwrap_or(v.commit_timestamp_ms),
            None => v.commit_timestamp_ms,
        };
        let expired: Vec<(String, i32)> = self
            .offsets
            .iter()
            .filter(|(_, v)| base(v).saturating_add(retention_ms) <= now_ms)
            .map(|(k, _)| k.clone())
            .collect();
        self.delete(&expired)
    }

    /// The only code that changes the table.
    pub fn replay(&mut self, record: &OffsetRecord) {
        match record {
            OffsetRecord::Commit {
                topic,
                partition,
                value,
            } => {
                self.offsets
                    .insert((topic.clone(), *partition), value.clone());
            }
            OffsetRecord::Tombstone { topic, partition } => {
                self.offsets.remove(&(topic.clone(), *partition));
            }
        }
    }
}
