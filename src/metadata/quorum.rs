//! The leader side of the metadata quorum's replication, as KRaft serves it
//! (KIP-595, observers of KIP-853): brokers of other processes fetch
//! `__cluster_metadata-0` with Fetch on a controller listener, from the
//! offset and epoch their own copy ends at. The decisions are pure
//! functions: where a fetch position stands against the log
//! ([`validate_fetch_position`], Kafka's `ReplicatedLog.validateOffsetAndEpoch`
//! and `LeaderEpochFileCache.endOffsetFor`), and what the leader knows of
//! each observer ([`Observers`], Kafka's `LeaderState` replica states).
//! [`QuorumLog`] is the thin shell: the log, the committed end offset that
//! long-polling fetches wait on, and the observer table.
//!
//! The quorum is this node alone, leading in [`QUORUM_EPOCH`]: a record is
//! committed once its batch is durable here, so the high watermark is the
//! log end offset.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use uuid::Uuid;

use super::snapshot::{self, SnapshotId};
use super::store::QUORUM_EPOCH;
use crate::log::{LogError, PartitionLog};

/// An observer not heard from for this long is no longer listed (Kafka's
/// `LeaderState` drops observers after five minutes).
pub const OBSERVER_SESSION_MS: i64 = 5 * 60 * 1000;

/// What the leader's log looks like to a fetcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogShape {
    pub start_offset: i64,
    pub end_offset: i64,
    /// Each epoch of the log and the offset it starts at, oldest first.
    pub epochs: Vec<(i32, i64)>,
    /// The newest snapshot (Runnel keeps one, so it is also the oldest).
    pub snapshot: Option<SnapshotId>,
}

/// Where a fetch at an offset and last fetched epoch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchPosition {
    /// Records follow the fetcher's log: read from its offset.
    Valid,
    /// The fetcher's log forks from ours: it truncates to `end_offset`
    /// (at most) and fetches again.
    Diverging { epoch: i32, end_offset: i64 },
    /// The fetcher must load this snapshot first (FetchSnapshot).
    Snapshot(SnapshotId),
}

/// Kafka's `LeaderEpochFileCache.endOffsetFor`: the largest epoch at or
/// below `epoch` and the offset where it ends; `None` when `epoch` is past
/// every epoch of the log.
fn end_offset_for_epoch(log: &LogShape, epoch: i32) -> Option<(i32, i64)> {
    let &(latest, _) = log.epochs.last()?;
    if epoch == latest {
        return Some((latest, log.end_offset));
    }
    let &(_, higher_start) = log.epochs.iter().find(|(e, _)| *e > epoch)?;
    match log.epochs.iter().rev().find(|(e, _)| *e <= epoch) {
        Some(&(floor, _)) => Some((floor, higher_start)),
        // Older than the oldest epoch: it ends where the oldest starts.
        None => Some((epoch, higher_start)),
    }
}

/// Where a fetch position stands, as Kafka's leader decides it.
pub fn validate_fetch_position(
    log: &LogShape,
    offset: i64,
    last_fetched_epoch: i32,
) -> FetchPosition {
    if log.start_offset == 0 && offset == 0 {
        return FetchPosition::Valid;
    }
    if let Some(s) = log.snapshot {
        // An empty fetcher loads the snapshot rather than replay the log.
        let behind = offset == 0
            || offset < log.start_offset
            || (offset == log.start_offset && last_fetched_epoch != s.epoch)
            || last_fetched_epoch < s.epoch;
        if behind {
            return FetchPosition::Snapshot(s);
        }
    }
    let (epoch, end_offset) = match end_offset_for_epoch(log, last_fetched_epoch) {
        // At the oldest snapshot: the snapshot's id is where it diverges.
        Some((e, o))
            if e == last_fetched_epoch && log.snapshot.is_some_and(|s| s.end_offset == o) =>
        {
            let s = log.snapshot.expect("checked");
            (s.epoch, s.end_offset)
        }
        Some(found) => found,
        None => (
            log.epochs.last().map_or(last_fetched_epoch, |&(e, _)| e),
            log.end_offset,
        ),
    };
    if epoch != last_fetched_epoch || end_offset < offset {
        FetchPosition::Diverging { epoch, end_offset }
    } else {
        FetchPosition::Valid
    }
}

/// What the leader knows of one fetching replica (DescribeQuorum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaProgress {
    pub replica_id: i32,
    pub directory_id: Uuid,
    /// The fetch offset of its last fetch: the end of its copy.
    pub log_end_offset: i64,
    pub last_fetch_ms: i64,
    /// The last time it had every committed record.
    pub last_caught_up_ms: i64,
}

/// The observers: replicas that fetch but do not vote (brokers).
#[derive(Debug, Default)]
pub struct Observers {
    by_key: BTreeMap<(i32, Uuid), ReplicaProgress>,
}

impl Observers {
    /// A fetch from `replica_id` at `fetch_offset` while the leader's log
    /// ends at `leader_end`. Anonymous fetchers (id < 0) are not tracked.
    pub fn on_fetch(
        &mut self,
        replica_id: i32,
        directory_id: Uuid,
        fetch_offset: i64,
        leader_end: i64,
        now_ms: i64,
    ) {
        if replica_id < 0 {
            return;
        }
        let entry = self
            .by_key
            .entry((replica_id, directory_id))
            .or_insert(ReplicaProgress {
                replica_id,
                directory_id,
                log_end_offset: -1,
                last_fetch_ms: -1,
                last_caught_up_ms: -1,
            });
        entry.log_end_offset = fetch_offset;
        entry.last_fetch_ms = now_ms;
        if fetch_offset >= leader_end {
            entry.last_caught_up_ms = now_ms;
        }
    }

    /// The observers heard from within [`OBSERVER_SESSION_MS`]; older ones
    /// are forgotten.
    pub fn current(&mut self, now_ms: i64) -> Vec<ReplicaProgress> {
        self.by_key
            .retain(|_, p| now_ms - p.last_fetch_ms < OBSERVER_SESSION_MS);
        self.by_key.values().copied().collect()
    }
}

/// The metadata log as the quorum leader serves it.
pub struct QuorumLog {
    log: Arc<PartitionLog>,
    /// The committed end offset (the high watermark), for fetches waiting
    /// for new records.
    committed: watch::Sender<i64>,
    observers: Mutex<Observers>,
}

/// What a fetch reads.
pub struct QuorumRead {
    pub position: FetchPosition,
    pub records: Bytes,
    pub log_start_offset: i64,
    pub high_watermark: i64,
}

impl QuorumLog {
    pub fn new(log: Arc<PartitionLog>) -> Self {
        let end = log.log_end_offset();
        QuorumLog {
            log,
            committed: watch::channel(end).0,
            observers: Mutex::default(),
        }
    }

    /// Called once a batch is durable: it is committed up to `end_offset`.
    pub fn committed_to(&self, end_offset: i64) {
        self.committed.send_replace(end_offset);
    }

    pub fn high_watermark(&self) -> i64 {
        *self.committed.borrow()
    }

    fn shape(&self) -> Result<LogShape, LogError> {
        let start_offset = self.log.log_start_offset();
        let snapshot = snapshot::latest(self.log.dir())
            .ok()
            .flatten()
            .map(|(id, _)| id);
        Ok(LogShape {
            start_offset,
            end_offset: self.high_watermark(),
            // Every batch Runnel's controller writes carries the one epoch.
            epochs: vec![(QUORUM_EPOCH, start_offset)],
            snapshot,
        })
    }

    /// Serves a fetch: validates the position, notes the observer, and
    /// reads committed batches from `offset`, at most `max_bytes` (at
    /// least one whole batch).
    pub fn read(
        &self,
        replica_id: i32,
        directory_id: Uuid,
        offset: i64,
        last_fetched_epoch: i32,
        max_bytes: usize,
        now_ms: i64,
    ) -> Result<QuorumRead, LogError> {
        let shape = self.shape()?;
        let position = validate_fetch_position(&shape, offset, last_fetched_epoch);
        let records = if position == FetchPosition::Valid {
            self.observers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .on_fetch(replica_id, directory_id, offset, shape.end_offset, now_ms);
            self.log.read(offset, max_bytes, shape.end_offset)?.records
        } else {
            Bytes::new()
        };
        Ok(QuorumRead {
            position,
            records,
            log_start_offset: shape.start_offset,
            high_watermark: shape.end_offset,
        })
    }

    /// Part of snapshot `id` for FetchSnapshot: its size and up to
    /// `max_bytes` from `position` (unaligned: cut anywhere). `None` when
    /// no such snapshot is kept (a newer one replaced it).
    pub fn read_snapshot(
        &self,
        id: SnapshotId,
        position: u64,
        max_bytes: usize,
    ) -> std::io::Result<Option<(u64, Bytes)>> {
        use std::io::{Read, Seek, SeekFrom};
        let path = self.log.dir().join(id.file_name());
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let size = file.metadata()?.len();
        if position >= size {
            return Ok(Some((size, Bytes::new())));
        }
        file.seek(SeekFrom::Start(position))?;
        let want = ((size - position) as usize).min(max_bytes);
        let mut buf = Vec::with_capacity(want);
        file.take(want as u64).read_to_end(&mut buf)?;
        Ok(Some((size, Bytes::from(buf))))
    }

    /// Waits until the committed end passes `offset`, at most `max_wait`.
    pub async fn wait_past(&self, offset: i64, max_wait: Duration) {
        let mut rx = self.committed.subscribe();
        let _ = tokio::time::timeout(max_wait, rx.wait_for(|end| *end > offset)).await;
    }

    /// The observers fetching now.
    pub fn observers(&self, now_ms: i64) -> Vec<ReplicaProgress> {
        self.observers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .current(now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(
        start: i64,
        end: i64,
        epochs: &[(i32, i64)],
        snapshot: Option<(i64, i32)>,
    ) -> LogShape {
        LogShape {
            start_offset: start,
            end_offset: end,
            epochs: epochs.to_vec(),
            snapshot: snapshot.map(|(end_offset, epoch)| SnapshotId { end_offset, epoch }),
        }
    }

    #[test]
    fn fetch_positions_as_kafkas_leader_judges_them() {
        use FetchPosition::*;
        let one = shape(0, 10, &[(1, 0)], None);
        assert_eq!(
            validate_fetch_position(&one, 0, 0),
            Valid,
            "an empty fetcher"
        );
        assert_eq!(validate_fetch_position(&one, 4, 1), Valid);
        assert_eq!(validate_fetch_position(&one, 10, 1), Valid, "caught up");
        assert_eq!(
            validate_fetch_position(&one, 12, 1),
            Diverging {
                epoch: 1,
                end_offset: 10
            },
            "past our end"
        );
        assert_eq!(
            validate_fetch_position(&one, 12, 3),
            Diverging {
                epoch: 1,
                end_offset: 10
            },
            "an epoch we never had"
        );
        assert_eq!(
            validate_fetch_position(&one, 3, 0),
            Diverging {
                epoch: 0,
                end_offset: 0
            },
            "an epoch older than the log"
        );

        let two = shape(0, 20, &[(1, 0), (3, 8)], None);
        assert_eq!(
            validate_fetch_position(&two, 9, 1),
            Diverging {
                epoch: 1,
                end_offset: 8
            },
            "epoch 1 ended at 8"
        );
        assert_eq!(validate_fetch_position(&two, 8, 1), Valid);
        assert_eq!(
            validate_fetch_position(&two, 9, 2),
            Diverging {
                epoch: 1,
                end_offset: 8
            },
            "no epoch 2: the one below it"
        );

        let snapped = shape(100, 150, &[(1, 100)], Some((100, 1)));
        let snap = Snapshot(SnapshotId {
            end_offset: 100,
            epoch: 1,
        });
        assert_eq!(validate_fetch_position(&snapped, 0, 0), snap);
        assert_eq!(
            validate_fetch_position(&snapped, 50, 1),
            snap,
            "before the log start"
        );
        assert_eq!(
            validate_fetch_position(&snapped, 100, 1),
            Valid,
            "at the snapshot"
        );
        assert_eq!(validate_fetch_position(&snapped, 120, 1), Valid);
    }

    #[test]
    fn observers_are_tracked_by_id_and_directory_and_forgotten_when_silent() {
        let mut o = Observers::default();
        let dir = Uuid::from_u128(7);
        o.on_fetch(-1, Uuid::nil(), 5, 10, 1_000);
        o.on_fetch(2, dir, 5, 10, 1_000);
        let [p] = o.current(1_000)[..] else {
            panic!("one observer")
        };
        assert_eq!(
            (p.replica_id, p.log_end_offset, p.last_caught_up_ms),
            (2, 5, -1)
        );
        o.on_fetch(2, dir, 10, 10, 2_000);
        let [p] = o.current(2_000)[..] else {
            panic!("one observer")
        };
        assert_eq!(
            (p.log_end_offset, p.last_fetch_ms, p.last_caught_up_ms),
            (10, 2_000, 2_000)
        );
        assert!(o.current(2_000 + OBSERVER_SESSION_MS).is_empty());
    }
}
