//! AlterPartition (KIP-497, broker epochs per ISR member from KIP-903): a
//! partition leader asks the controller to commit the ISR it shrank or
//! expanded. A pure function of the controller's image: the request in,
//! the `PartitionChangeRecord`s to write and the per-partition answers
//! out.
//!
//! The checks, in Kafka's order (it matters: a leader reads the first
//! failing one as the reason):
//! 1. the sender's broker epoch is its registered one, else the whole
//!    request is refused with STALE_BROKER_EPOCH;
//! 2. per topic: known by id, else UNKNOWN_TOPIC_ID for its partitions;
//! 3. per partition: known, else UNKNOWN_TOPIC_OR_PARTITION; a leader or
//!    partition epoch newer than ours means this controller is behind
//!    (NOT_CONTROLLER); an older leader epoch is FENCED_LEADER_EPOCH; a
//!    sender that is not the leader is INVALID_REQUEST; an older partition
//!    epoch is INVALID_UPDATE_VERSION; the new ISR must be a duplicate-free
//!    subset of the replicas that holds the leader (INVALID_REQUEST); a
//!    recovering leader (after an unclean election) proposes itself alone,
//!    and a recovered one never goes back to recovering (INVALID_REQUEST);
//!    every member of the new ISR must be registered, unfenced, not in
//!    controlled shutdown and, where the leader gave one, of the broker
//!    epoch it names (INELIGIBLE_REPLICA).
//!
//! An accepted request writes one `PartitionChangeRecord` with the new ISR
//! (and leader recovery state, if that changed); one that changes nothing
//! writes nothing and is answered with the partition as it is. The leader
//! never changes here: it is in the new ISR and eligible, so Kafka's
//! election keeps it, and at our `metadata.version` (4.1) an ISR shrink no
//! longer bumps the leader epoch (KAFKA-15021). Reassignments, whose
//! completion Kafka folds into AlterPartition, and eligible leader replicas
//! (KIP-966) are not modelled.
//!
//! Kafka counterparts: `ReplicationControlManager.alterPartition` and
//! `validateAlterPartitionData`, `PartitionChangeBuilder` (ISR and leader
//! recovery state only).

use std::collections::HashSet;

use uuid::Uuid;

use super::error::ControllerError;
use crate::common::ids::{BrokerEpoch, BrokerId, LeaderEpoch, PartitionEpoch};
use crate::metadata::records::PartitionChangeRecord;
use crate::metadata::{MetadataImage, MetadataRecord, PartitionImage};

/// `LeaderRecoveryState` (KIP-704): the leader's log is whole.
pub const RECOVERED: i8 = 0;
/// `LeaderRecoveryState`: the leader was elected uncleanly and has not
/// yet told the controller its log is recovered.
pub const RECOVERING: i8 = 1;

/// One AlterPartition request from the leader `broker_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartition {
    pub broker_id: BrokerId,
    pub broker_epoch: BrokerEpoch,
    pub topics: Vec<AlterPartitionTopic>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartitionTopic {
    pub topic_id: Uuid,
    pub partitions: Vec<AlterPartitionData>,
}

/// The ISR one partition's leader proposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartitionData {
    pub partition_index: i32,
    /// The leader epoch the proposal was made in.
    pub leader_epoch: LeaderEpoch,
    /// The partition epoch the proposal was computed from.
    pub partition_epoch: PartitionEpoch,
    pub new_isr: Vec<NewIsrMember>,
    /// [`RECOVERED`] or [`RECOVERING`].
    pub leader_recovery_state: i8,
}

/// A member of a proposed ISR, with the broker epoch the leader last saw
/// from it (`NewIsrWithEpochs`); [`BrokerEpoch::NONE`] skips that check
/// (requests before v3 carry no epochs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewIsrMember {
    pub broker_id: BrokerId,
    pub broker_epoch: BrokerEpoch,
}

/// The answers for one topic, its partitions in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartitionTopicResult {
    pub topic_id: Uuid,
    pub partitions: Vec<AlterPartitionResult>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartitionResult {
    pub partition_index: i32,
    pub result: Result<AlteredPartition, ControllerError>,
}

/// The partition as the controller registers it after the request: the
/// epochs the leader continues from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlteredPartition {
    pub leader_id: BrokerId,
    pub leader_epoch: LeaderEpoch,
    pub partition_epoch: PartitionEpoch,
    pub isr: Vec<BrokerId>,
    pub leader_recovery_state: i8,
}

/// Decides one AlterPartition request against `image`. `Err` refuses the
/// whole request (a stale or unknown sender); per-partition refusals are
/// inside the results.
pub fn alter_partition(
    image: &MetadataImage,
    request: &AlterPartition,
) -> Result<(Vec<MetadataRecord>, Vec<AlterPartitionTopicResult>), ControllerError> {
    check_broker_epoch(image, request.broker_id, request.broker_epoch)?;
    let mut records = Vec::new();
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let known = image
            .topic_by_id(&topic.topic_id)
            .filter(|_| !topic.topic_id.is_nil());
        let partitions = topic
            .partitions
            .iter()
            .map(|data| {
                let result = match known {
                    None => Err(ControllerError::UnknownTopicId),
                    Some(t) => match t.partitions.get(&data.partition_index) {
                        None => Err(ControllerError::UnknownTopicOrPartition),
                        Some(p) => decide(image, request.broker_id, p, data).map(|change| {
                            let altered = after(p, &change);
                            if let Some(record) = change {
                                records.push(MetadataRecord::PartitionChange(
                                    PartitionChangeRecord {
                                        isr: record.isr,
                                        leader_recovery_state: record.leader_recovery_state,
                                        ..PartitionChangeRecord::new(
                                            topic.topic_id,
                                            data.partition_index,
                                        )
                                    },
                                ));
                            }
                            altered
                        }),
                    },
                };
                AlterPartitionResult {
                    partition_index: data.partition_index,
                    result,
                }
            })
            .collect();
        results.push(AlterPartitionTopicResult {
            topic_id: topic.topic_id,
            partitions,
        });
    }
    Ok((records, results))
}

/// The sender must be registered with exactly this epoch (Kafka's
/// `ClusterControlManager.checkBrokerEpoch`).
fn check_broker_epoch(
    image: &MetadataImage,
    broker_id: BrokerId,
    broker_epoch: BrokerEpoch,
) -> Result<(), ControllerError> {
    match image.brokers.get(&broker_id.0) {
        None => Err(ControllerError::StaleBrokerEpoch(format!(
            "no broker registration found for broker id {broker_id}"
        ))),
        Some(b) if b.broker_epoch != broker_epoch.0 => {
            Err(ControllerError::StaleBrokerEpoch(format!(
                "expected broker epoch {}, but got broker epoch {broker_epoch}",
                b.broker_epoch
            )))
        }
        Some(_) => Ok(()),
    }
}

/// What an accepted proposal changes: `None` when nothing does.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Change {
    isr: Option<Vec<i32>>,
    /// -1: unchanged.
    leader_recovery_state: i8,
}

/// Validates one partition's proposal and says what it changes.
fn decide(
    image: &MetadataImage,
    sender: BrokerId,
    p: &PartitionImage,
    data: &AlterPartitionData,
) -> Result<Option<Change>, ControllerError> {
    // Epochs newer than ours: the sender heard from a newer controller.
    if data.leader_epoch.0 > p.leader_epoch || data.partition_epoch.0 > p.partition_epoch {
        return Err(ControllerError::NotController(format!(
            "the request has leader epoch {} and partition epoch {}, newer than this controller's {} and {}",
            data.leader_epoch, data.partition_epoch, p.leader_epoch, p.partition_epoch
        )));
    }
    if data.leader_epoch.0 < p.leader_epoch {
        return Err(ControllerError::FencedLeaderEpoch(format!(
            "the leader epoch is {}, not {}",
            p.leader_epoch, data.leader_epoch
        )));
    }
    if sender.0 != p.leader {
        return Err(ControllerError::InvalidRequest(format!(
            "broker {sender} is not the leader of the partition (its leader is {})",
            p.leader
        )));
    }
    if data.partition_epoch.0 < p.partition_epoch {
        return Err(ControllerError::InvalidUpdateVersion(format!(
            "the partition epoch is {}, not {}",
            p.partition_epoch, data.partition_epoch
        )));
    }
    let new_isr: Vec<i32> = data.new_isr.iter().map(|m| m.broker_id.0).collect();
    let mut seen = HashSet::new();
    if let Some(bad) = new_isr
        .iter()
        .find(|r| !p.replicas.contains(r) || !seen.insert(**r))
    {
        return Err(ControllerError::InvalidRequest(format!(
            "the new ISR {new_isr:?} names {bad} twice or outside the replicas {:?}",
            p.replicas
        )));
    }
    if !new_isr.contains(&p.leader) {
        return Err(ControllerError::InvalidRequest(format!(
            "the new ISR {new_isr:?} does not include the leader {}",
            p.leader
        )));
    }
    match data.leader_recovery_state {
        RECOVERED => {}
        RECOVERING if new_isr.len() > 1 => {
            return Err(ControllerError::InvalidRequest(format!(
                "the new ISR {new_isr:?} has more than the leader while it is still recovering"
            )));
        }
        RECOVERING if p.leader_recovery_state == RECOVERED => {
            return Err(ControllerError::InvalidRequest(
                "the leader recovery state cannot go from recovered back to recovering".into(),
            ));
        }
        RECOVERING => {}
        other => {
            return Err(ControllerError::InvalidRequest(format!(
                "unknown leader recovery state {other}"
            )));
        }
    }
    let ineligible: Vec<String> = data
        .new_isr
        .iter()
        .filter_map(|m| ineligibility(image, *m).map(|why| format!("{} ({why})", m.broker_id)))
        .collect();
    if !ineligible.is_empty() {
        return Err(ControllerError::IneligibleReplica(format!(
            "the new ISR {new_isr:?} has ineligible replicas: {}",
            ineligible.join(", ")
        )));
    }
    let change = Change {
        isr: (new_isr != p.isr).then_some(new_isr),
        leader_recovery_state: if data.leader_recovery_state == p.leader_recovery_state {
            -1
        } else {
            data.leader_recovery_state
        },
    };
    Ok((change.isr.is_some() || change.leader_recovery_state != -1).then_some(change))
}

/// Why a proposed ISR member may not be in the ISR, if it may not.
fn ineligibility(image: &MetadataImage, member: NewIsrMember) -> Option<String> {
    let Some(b) = image.brokers.get(&member.broker_id.0) else {
        return Some("not registered".into());
    };
    if b.in_controlled_shutdown {
        Some("shutting down".into())
    } else if b.fenced {
        Some("fenced".into())
    } else if member.broker_epoch != BrokerEpoch::NONE && member.broker_epoch.0 != b.broker_epoch {
        Some(format!(
            "broker epoch {} is not the registered {}",
            member.broker_epoch, b.broker_epoch
        ))
    } else {
        None
    }
}

/// The partition after `change` is replayed, as the answer reports it:
/// every change bumps the partition epoch, none here the leader epoch.
fn after(p: &PartitionImage, change: &Option<Change>) -> AlteredPartition {
    let (isr, leader_recovery_state, bump) = match change {
        None => (&p.isr, p.leader_recovery_state, 0),
        Some(c) => (
            c.isr.as_ref().unwrap_or(&p.isr),
            if c.leader_recovery_state == -1 {
                p.leader_recovery_state
            } else {
                c.leader_recovery_state
            },
            1,
        ),
    };
    AlteredPartition {
        leader_id: BrokerId(p.leader),
        leader_epoch: LeaderEpoch(p.leader_epoch),
        partition_epoch: PartitionEpoch(p.partition_epoch + bump),
        isr: isr.iter().copied().map(BrokerId).collect(),
        leader_recovery_state,
    }
}

#[cfg(test)]
mod tests;
