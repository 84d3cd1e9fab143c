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
use crate::common::clock::Now;

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

    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// OffsetCommit. A membership failure fails every partition alike (the
    /// `Err`); an oversized metadata string fails only its partition. The
    /// commit is stamped with the wall clock; the member's session is
    /// extended on the monotonic one.
    pub fn commit(
        &mut self,
        group: &mut ClassicGroup,
        config: &GroupConfig,
        input: CommitInput,
        now: Now,
    ) -> Result<CommitOutcome, GroupError> {
        group.validate_offset_commit(
            &input.member_id,
            input.group_instance_id.as_deref(),
            input.generation_id,
            now,
        )?;
        Ok(self.commit_validated(config, input.partitions, now.wall_ms))
    }

    /// Records the commits of a request whose membership the caller has
    /// already checked (a KIP-848 group validates member epochs itself).
    pub fn commit_validated(
        &mut self,
        config: &GroupConfig,
        partitions: Vec<PartitionCommit>,
        now_ms: i64,
    ) -> CommitOutcome {
        let mut outcome = CommitOutcome {
            records: Vec::new(),
            partitions: Vec::new(),
        };
        for p in partitions {
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
        outcome
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::coordinator::group::{
        JoinInput, LeaveMember, MemberIdGenerator, Output, RequestId, SyncInput,
    };

    struct SeqIds(u32);
    impl MemberIdGenerator for SeqIds {
        fn generate(&mut self, client_id: &str) -> String {
            self.0 += 1;
            format!("{client_id}-{}", self.0)
        }
    }

    const RETENTION_MS: i64 = 60_000;

    fn config() -> GroupConfig {
        GroupConfig {
            offsets_retention_ms: RETENTION_MS,
            offset_metadata_max_bytes: 8,
            ..GroupConfig::default()
        }
    }

    fn join(g: &mut ClassicGroup, client: &str, instance: Option<&str>, now: i64) -> Vec<Output> {
        let input = JoinInput {
            member_id: String::new(),
            group_instance_id: instance.map(str::to_string),
            client_id: client.into(),
            client_host: "/127.0.0.1".into(),
            rebalance_timeout_ms: 30_000,
            session_timeout_ms: 10_000,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::new())],
            require_known_member_id: false,
            supports_skip_assignment: true,
        };
        g.join(RequestId(0), input, Now::at(now))
    }

    /// A group whose single member (`c-1`, or `<instance>-1` when static)
    /// has joined generation 1 and, if `sync`, synced: Stable, else
    /// CompletingRebalance.
    fn group(sync: bool, instance: Option<&str>) -> ClassicGroup {
        let mut g = ClassicGroup::new("g", config(), Box::new(SeqIds(0)));
        join(&mut g, "c", instance, 0);
        g.tick(Now::at(i64::from(config().initial_rebalance_delay_ms)));
        let member_id = format!("{}-1", instance.unwrap_or("c"));
        if sync {
            g.sync(
                RequestId(1),
                SyncInput {
                    member_id: member_id.clone(),
                    group_instance_id: instance.map(str::to_string),
                    generation_id: 1,
                    protocol_type: None,
                    protocol_name: None,
                    assignments: vec![(member_id, Bytes::from_static(b"p0"))],
                },
                Now::at(3_000),
            );
        }
        g
    }

    fn preparing() -> ClassicGroup {
        let mut g = group(true, None);
        join(&mut g, "d", None, 3_000);
        g
    }

    fn empty_group() -> ClassicGroup {
        ClassicGroup::new("g", config(), Box::new(SeqIds(0)))
    }

    fn dead_group() -> ClassicGroup {
        let mut g = empty_group();
        g.delete().expect("an empty group deletes");
        g
    }

    fn commit_input(member: &str, instance: Option<&str>, generation_id: i32) -> CommitInput {
        CommitInput {
            member_id: member.into(),
            group_instance_id: instance.map(str::to_string),
            generation_id,
            partitions: vec![PartitionCommit {
                topic: "t".into(),
                partition: 0,
                committed_offset: 42,
                leader_epoch: Some(3),
                metadata: Some("m".into()),
            }],
        }
    }

    #[test]
    fn commit_validation() {
        type Case = (
            &'static str,
            fn() -> ClassicGroup,
            CommitInput,
            Result<(), GroupError>,
        );
        let cases: Vec<Case> = vec![
            (
                "member of the generation",
                || group(true, None),
                commit_input("c-1", None, 1),
                Ok(()),
            ),
            (
                "old generation",
                || group(true, None),
                commit_input("c-1", None, 0),
                Err(GroupError::IllegalGeneration),
            ),
            (
                "newer generation",
                || group(true, None),
                commit_input("c-1", None, 2),
                Err(GroupError::IllegalGeneration),
            ),
            (
                "unknown member",
                || group(true, None),
                commit_input("x-9", None, 1),
                Err(GroupError::UnknownMemberId),
            ),
            (
                "simple commit to an active group",
                || group(true, None),
                commit_input("", None, -1),
                Err(GroupError::UnknownMemberId),
            ),
            (
                "awaiting sync",
                || group(false, None),
                commit_input("c-1", None, 1),
                Err(GroupError::RebalanceInProgress),
            ),
            (
                "preparing rebalance",
                preparing,
                commit_input("c-1", None, 1),
                Ok(()),
            ),
            (
                "simple commit to an empty group",
                empty_group,
                commit_input("", None, -1),
                Ok(()),
            ),
            (
                "member commit to an empty group",
                empty_group,
                commit_input("c-1", None, 0),
                Err(GroupError::UnknownMemberId),
            ),
            (
                "dead group",
                dead_group,
                commit_input("", None, -1),
                Err(GroupError::CoordinatorNotAvailable),
            ),
            (
                "fenced static member",
                || group(true, Some("i")),
                commit_input("old", Some("i"), 1),
                Err(GroupError::FencedInstanceId),
            ),
            (
                "static member",
                || group(true, Some("i")),
                // A static member's id starts with its instance id.
                commit_input("i-1", Some("i"), 1),
                Ok(()),
            ),
        ];
        for (name, setup, input, expected) in cases {
            let mut g = setup();
            let mut store = OffsetStore::new();
            let result = store.commit(&mut g, &config(), input, Now::at(5_000));
            match (&result, &expected) {
                (Ok(outcome), Ok(())) => {
                    assert_eq!(outcome.records.len(), 1, "{name}");
                    assert_eq!(store.fetch(None).len(), 1, "{name}");
                }
                (Err(e), Err(x)) => {
                    assert_eq!(e, x, "{name}");
                    assert!(store.is_empty(), "{name}: nothing stored");
                }
                _ => panic!("{name}: got {result:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn commit_records_fetch_and_delete() {
        let mut g = empty_group();
        let mut store = OffsetStore::new();
        let mut input = commit_input("", None, -1);
        input.partitions.push(PartitionCommit {
            topic: "t".into(),
            partition: 1,
            committed_offset: 7,
            leader_epoch: None,
            metadata: Some("far too long".into()),
        });
        let outcome = store
            .commit(&mut g, &config(), input, Now::at(100))
            .unwrap();
        assert_eq!(
            outcome.records,
            vec![OffsetRecord::Commit {
                topic: "t".into(),
                partition: 0,
                value: OffsetAndMetadata {
                    committed_offset: 42,
                    leader_epoch: Some(3),
                    metadata: "m".into(),
                    commit_timestamp_ms: 100,
                },
            }]
        );
        assert_eq!(
            outcome.partitions,
            vec![
                ("t".into(), 0, Ok(())),
                ("t".into(), 1, Err(GroupError::OffsetMetadataTooLarge)),
            ]
        );
        let fetched = store.fetch(Some(&[("t".into(), 0), ("t".into(), 1)]));
        assert_eq!(fetched[0].2.as_ref().map(|o| o.committed_offset), Some(42));
        assert_eq!(fetched[1].2, None);

        // Replaying the records elsewhere rebuilds the same table.
        let mut replica = OffsetStore::new();
        for r in &outcome.records {
            replica.replay(r);
        }
        assert_eq!(replica.fetch(None), store.fetch(None));

        let tombstones = store.delete(&[("t".into(), 0), ("t".into(), 5)]);
        assert_eq!(
            tombstones,
            vec![OffsetRecord::Tombstone {
                topic: "t".into(),
                partition: 0
            }]
        );
        assert!(store.is_empty());
    }

    #[test]
    fn empty_group_offsets_expire_together_after_retention() {
        let mut g = group(true, None);
        let mut store = OffsetStore::new();
        store
            .commit(
                &mut g,
                &config(),
                commit_input("c-1", None, 1),
                Now::at(4_000),
            )
            .unwrap();
        // Members keep the offsets alive regardless of age.
        assert!(
            store
                .expire(&g, RETENTION_MS, 4_000 + 10 * RETENTION_MS)
                .is_empty()
        );

        let emptied_at = 50_000;
        g.leave(
            RequestId(2),
            vec![LeaveMember {
                member_id: "c-1".into(),
                group_instance_id: None,
            }],
            Now::at(emptied_at),
        );
        assert_eq!(g.state(), GroupState::Empty);
        // The clock starts when the group became Empty, not at the commit.
        assert!(
            store
                .expire(&g, RETENTION_MS, emptied_at + RETENTION_MS - 1)
                .is_empty()
        );
        let expired = store.expire(&g, RETENTION_MS, emptied_at + RETENTION_MS);
        assert_eq!(
            expired,
            vec![OffsetRecord::Tombstone {
                topic: "t".into(),
                partition: 0
            }]
        );
        assert!(store.is_empty());
    }

    #[test]
    fn simple_group_offsets_expire_by_commit_time() {
        let mut g = empty_group();
        let mut store = OffsetStore::new();
        let mut first = commit_input("", None, -1);
        first.partitions[0].partition = 0;
        store
            .commit(&mut g, &config(), first, Now::at(1_000))
            .unwrap();
        let mut second = commit_input("", None, -1);
        second.partitions[0].partition = 1;
        store
            .commit(&mut g, &config(), second, Now::at(2_000))
            .unwrap();
        let expired = store.expire(&g, RETENTION_MS, 1_000 + RETENTION_MS);
        assert_eq!(
            expired,
            vec![OffsetRecord::Tombstone {
                topic: "t".into(),
                partition: 0
            }]
        );
        assert_eq!(store.fetch(None).len(), 1);
    }
}
