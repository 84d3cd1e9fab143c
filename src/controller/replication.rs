//! Leadership follows fencing: when a broker is fenced or enters
//! controlled shutdown, the partitions it leads get a new leader from
//! their ISR among the active brokers, and it leaves every ISR it is in;
//! when it is unfenced, the partitions without a leader whose ISR names it
//! get it back. Each change is a `PartitionChangeRecord`; replaying one
//! with a leader set bumps the leader epoch ([`crate::metadata::image`]).
//!
//! Pure functions of the image, as Kafka's election without eligible
//! leader replicas or unclean election:
//! - the ISR never becomes empty: the last member stays in it, and a
//!   partition whose only in-sync replica left has no leader (-1) until
//!   that replica is back (there is no other copy it could trust);
//! - the current leader is kept while it is valid (in the new ISR and
//!   active); else the first replica, in assignment order, that is;
//! - a change that changes nothing is not written.
//!
//! Kafka counterparts: `ReplicationControlManager.handleBrokerFenced`,
//! `handleBrokerUnfenced`, `handleBrokerInControlledShutdown`,
//! `generateLeaderAndIsrUpdates`, and `PartitionChangeBuilder`
//! (`Election.ONLINE`).

use uuid::Uuid;

use super::error::ControllerError;
use crate::metadata::records::{NO_LEADER, NO_LEADER_CHANGE, PartitionChangeRecord};
use crate::metadata::{MetadataImage, MetadataRecord, PartitionImage};

/// The changes for `broker` leaving leadership and the ISRs: it is being
/// fenced, or is entering controlled shutdown. Computed on the image
/// before the broker's own registration change is applied.
pub fn broker_leaving(image: &MetadataImage, broker: i32) -> Vec<MetadataRecord> {
    changes(
        image,
        |p| p.isr.contains(&broker) || p.leader == broker,
        |p| elect(image, p, Some(broker), None),
    )
}

/// The changes for `broker` being unfenced: every partition without a
/// leader may get one again, this broker counting as active although the
/// image still has it fenced.
pub fn broker_unfenced(image: &MetadataImage, broker: i32) -> Vec<MetadataRecord> {
    changes(
        image,
        |p| p.leader == NO_LEADER,
        |p| elect(image, p, None, Some(broker)),
    )
}

/// ElectLeaders' election types (KIP-460).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    /// Move leadership to the first replica of the assignment.
    Preferred,
    /// Give a partition without a leader one.
    Unclean,
}

impl ElectionType {
    /// The wire value: 0 preferred, 1 unclean.
    pub fn from_wire(value: i8) -> Option<Self> {
        match value {
            0 => Some(ElectionType::Preferred),
            1 => Some(ElectionType::Unclean),
            _ => None,
        }
    }
}

/// Why an election of one partition wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoElection {
    /// The partition already has the leader asked for (ELECTION_NOT_NEEDED).
    NotNeeded,
    /// The preferred replica is not in the ISR or not active
    /// (PREFERRED_LEADER_NOT_AVAILABLE).
    PreferredNotAvailable,
    /// No replica that could lead safely is active
    /// (ELIGIBLE_LEADERS_NOT_AVAILABLE).
    EligibleNotAvailable,
}

/// One partition's election of `kind` (Kafka's `electLeader`): the change
/// to write, or why there is none. A preferred election moves leadership
/// to the first replica when it is in the ISR and active. An unclean
/// election of a partition without a leader takes an active ISR member
/// (a clean choice) when there is one; choosing an out-of-sync replica,
/// which would give up the records only the ISR has, is not done here.
pub fn elect_partition(
    image: &MetadataImage,
    p: &PartitionImage,
    kind: ElectionType,
    topic_id: Uuid,
    partition: i32,
) -> Result<PartitionChangeRecord, NoElection> {
    let leader = match kind {
        ElectionType::Preferred => {
            let preferred = p.replicas.first().copied().unwrap_or(NO_LEADER);
            if p.leader == preferred {
                return Err(NoElection::NotNeeded);
            }
            if !p.isr.contains(&preferred) || !image.is_active_broker(preferred) {
                return Err(NoElection::PreferredNotAvailable);
            }
            preferred
        }
        ElectionType::Unclean => {
            if p.leader != NO_LEADER {
                return Err(NoElection::NotNeeded);
            }
            p.replicas
                .iter()
                .copied()
                .find(|r| p.isr.contains(r) && image.is_active_broker(*r))
                .ok_or(NoElection::EligibleNotAvailable)?
        }
    };
    Ok(PartitionChangeRecord {
        leader,
        ..PartitionChangeRecord::new(topic_id, partition)
    })
}

/// ElectLeaders (KIP-460): the partitions to elect, by topic name; `None`
/// for every partition of every topic.
#[derive(Debug, Clone, PartialEq)]
pub struct ElectLeaders {
    pub election: ElectionType,
    pub partitions: Option<Vec<(String, Vec<i32>)>>,
}

/// One topic's answers, one per partition, in request order.
#[derive(Debug, Clone, PartialEq)]
pub struct ElectionTopicResult {
    pub topic: String,
    pub partitions: Vec<(i32, Result<(), ControllerError>)>,
}

/// The decision of an ElectLeaders (Kafka's `electLeaders`): one change per
/// partition elected. With every partition asked for, those that already
/// have the leader asked for are left out of the answer, as Kafka does.
pub fn elect_leaders(
    image: &MetadataImage,
    request: &ElectLeaders,
) -> (Vec<MetadataRecord>, Vec<ElectionTopicResult>) {
    let mut records = Vec::new();
    let mut results = Vec::new();
    let mut decide = |topic: &str, partition: i32| -> Result<(), ControllerError> {
        let topic_image = image
            .topic(topic)
            .ok_or(ControllerError::UnknownTopicOrPartition)?;
        let p = topic_image
            .partitions
            .get(&partition)
            .ok_or(ControllerError::UnknownTopicOrPartition)?;
        match elect_partition(image, p, request.election, topic_image.topic_id, partition) {
            Ok(record) => {
                records.push(MetadataRecord::PartitionChange(record));
                Ok(())
            }
            Err(NoElection::NotNeeded) => Err(ControllerError::ElectionNotNeeded),
            Err(NoElection::PreferredNotAvailable) => {
                Err(ControllerError::PreferredLeaderNotAvailable(format!(
                    "the preferred leader {} of {topic}-{partition} is not an active in-sync replica",
                    p.replicas.first().copied().unwrap_or(NO_LEADER)
                )))
            }
            Err(NoElection::EligibleNotAvailable) => {
                Err(ControllerError::EligibleLeadersNotAvailable(format!(
                    "no in-sync replica of {topic}-{partition} is active; electing an out-of-sync \
                     replica (which would lose the records only the ISR has) is not supported"
                )))
            }
        }
    };
    match &request.partitions {
        Some(asked) => {
            for (topic, partitions) in asked {
                results.push(ElectionTopicResult {
                    topic: topic.clone(),
                    partitions: partitions.iter().map(|&p| (p, decide(topic, p))).collect(),
                });
            }
        }
        None => {
            for (name, topic) in &image.topics {
                let partitions = topic
                    .partitions
                    .keys()
                    .map(|&p| (p, decide(name, p)))
                    .filter(|(_, r)| !matches!(r, Err(ControllerError::ElectionNotNeeded)))
                    .collect();
                results.push(ElectionTopicResult {
                    topic: name.clone(),
                    partitions,
                });
            }
        }
    }
    (records, results)
}

/// Kafka's auto leader rebalance (`maybeBalancePartitionLeaders`, with
/// `auto.leader.rebalance.enable`): a preferred election for up to
/// `max_elections` partitions not led by their preferred replica, where it
/// is possible. Returns the records and whether more may be possible.
pub fn rebalance_leaders(
    image: &MetadataImage,
    max_elections: usize,
) -> (Vec<MetadataRecord>, bool) {
    let mut records = Vec::new();
    for topic in image.topics.values() {
        for (&partition, p) in &topic.partitions {
            if records.len() >= max_elections {
                return (records, true);
            }
            if let Ok(record) =
                elect_partition(image, p, ElectionType::Preferred, topic.topic_id, partition)
            {
                records.push(MetadataRecord::PartitionChange(record));
            }
        }
    }
    (records, false)
}

fn changes(
    image: &MetadataImage,
    affected: impl Fn(&PartitionImage) -> bool,
    decide: impl Fn(&PartitionImage) -> Change,
) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for topic in image.topics.values() {
        for (&partition, p) in &topic.partitions {
            if !affected(p) {
                continue;
            }
            if let Some(record) = decide(p).record(topic.topic_id, partition) {
                records.push(MetadataRecord::PartitionChange(record));
            }
        }
    }
    records
}

/// What changes in one partition.
#[derive(Debug, PartialEq, Eq)]
struct Change {
    isr: Option<Vec<i32>>,
    leader: i32,
}

impl Change {
    fn record(self, topic_id: Uuid, partition: i32) -> Option<PartitionChangeRecord> {
        if self.isr.is_none() && self.leader == NO_LEADER_CHANGE {
            return None;
        }
        Some(PartitionChangeRecord {
            isr: self.isr,
            leader: self.leader,
            ..PartitionChangeRecord::new(topic_id, partition)
        })
    }
}

/// One partition's election with `remove` leaving (out of the ISR, not
/// acceptable as leader) and `add` arriving (acceptable as leader).
fn elect(
    image: &MetadataImage,
    p: &PartitionImage,
    remove: Option<i32>,
    add: Option<i32>,
) -> Change {
    let target_isr: Vec<i32> = p
        .isr
        .iter()
        .copied()
        .filter(|r| Some(*r) != remove)
        .collect();
    let acceptable = |r: i32| Some(r) != remove && (Some(r) == add || image.is_active_broker(r));
    let valid = |r: i32| target_isr.contains(&r) && acceptable(r);
    let leader = if valid(p.leader) {
        p.leader
    } else {
        p.replicas
            .iter()
            .copied()
            .find(|r| valid(*r))
            .unwrap_or(NO_LEADER)
    };
    Change {
        // An ISR is never emptied (no eligible leader replicas here).
        isr: (!target_isr.is_empty() && target_isr != p.isr).then_some(target_isr),
        leader: if leader == p.leader {
            NO_LEADER_CHANGE
        } else {
            leader
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::records::{
        BrokerEndpoint, PartitionRecord, RegisterBrokerRecord, fencing,
    };

    const TOPIC: Uuid = Uuid::from_u128(7);

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for r in records {
            let next = image.offset + 1;
            image.replay(next, r);
        }
    }

    fn register(id: i32) -> MetadataRecord {
        MetadataRecord::RegisterBroker(RegisterBrokerRecord {
            broker_id: id,
            incarnation_id: Uuid::from_u128(id as u128),
            broker_epoch: 0,
            endpoints: vec![BrokerEndpoint {
                name: "PLAINTEXT".into(),
                host: "localhost".into(),
                port: 9000 + id as u16,
                security_protocol: 0,
            }],
            features: vec![],
            rack: None,
            fenced: false,
            in_controlled_shutdown: false,
            log_dirs: vec![],
        })
    }

    fn fence(id: i32, how: i8) -> MetadataRecord {
        MetadataRecord::BrokerRegistrationChange {
            broker_id: id,
            broker_epoch: 0,
            fenced: how,
            in_controlled_shutdown: 0,
        }
    }

    /// Brokers 1..=3 active; topic "t" with the given replicas per
    /// partition, every replica in sync, led by the first.
    fn cluster(partitions: &[&[i32]]) -> MetadataImage {
        let mut image = MetadataImage::empty();
        let mut records: Vec<MetadataRecord> = (1..=3).map(register).collect();
        records.push(MetadataRecord::Topic {
            name: "t".into(),
            topic_id: TOPIC,
        });
        for (i, replicas) in partitions.iter().enumerate() {
            records.push(MetadataRecord::Partition(PartitionRecord::new(
                TOPIC,
                i as i32,
                replicas.to_vec(),
            )));
        }
        apply(&mut image, &records);
        image
    }

    /// Fences `id` as the controller does: the changes, then the record.
    fn fenced(image: &mut MetadataImage, id: i32) -> Vec<MetadataRecord> {
        let mut records = broker_leaving(image, id);
        records.push(fence(id, fencing::FENCE));
        apply(image, &records);
        records
    }

    fn unfenced(image: &mut MetadataImage, id: i32) -> Vec<MetadataRecord> {
        let mut records = vec![fence(id, fencing::UNFENCE)];
        records.extend(broker_unfenced(image, id));
        apply(image, &records);
        records
    }

    fn state(image: &MetadataImage, p: i32) -> (i32, i32, Vec<i32>) {
        let p = &image.topic("t").unwrap().partitions[&p];
        (p.leader, p.leader_epoch, p.isr.clone())
    }

    #[test]
    fn a_partition_whose_only_replica_is_fenced_goes_offline_and_comes_back() {
        let mut image = cluster(&[&[2], &[1]]);
        let records = fenced(&mut image, 2);
        assert_eq!(records.len(), 2, "one change, then the fence: {records:?}");
        assert_eq!(state(&image, 0), (NO_LEADER, 1, vec![2]));
        assert_eq!(state(&image, 1), (1, 0, vec![1]), "others untouched");
        unfenced(&mut image, 2);
        assert_eq!(state(&image, 0), (2, 2, vec![2]));
    }

    #[test]
    fn leadership_moves_to_an_active_in_sync_replica() {
        let mut image = cluster(&[&[2, 3], &[3, 2], &[1, 3]]);
        fenced(&mut image, 2);
        // Led by 2: 3 takes over, 2 leaves the ISR.
        assert_eq!(state(&image, 0), (3, 1, vec![3]));
        // Followed by 2: out of the ISR, leader and its epoch unchanged.
        assert_eq!(state(&image, 1), (3, 0, vec![3]));
        assert_eq!(state(&image, 2), (1, 0, vec![1, 3]));
        // Unfenced while its partitions have another leader: nothing moves
        // back (it rejoins the ISR by catching up, not by being unfenced).
        let records = unfenced(&mut image, 2);
        assert_eq!(records.len(), 1, "only the unfence: {records:?}");
        assert_eq!(state(&image, 0), (3, 1, vec![3]));
    }

    #[test]
    fn a_broker_fenced_twice_changes_nothing_the_second_time() {
        let mut image = cluster(&[&[2], &[2, 3]]);
        fenced(&mut image, 2);
        let before = image.clone();
        assert!(broker_leaving(&image, 2).is_empty());
        fenced(&mut image, 2);
        assert_eq!(image.topics, before.topics);
    }

    #[test]
    fn the_last_in_sync_replica_is_the_only_one_that_may_lead_again() {
        let mut image = cluster(&[&[2, 3]]);
        fenced(&mut image, 2);
        fenced(&mut image, 3);
        assert_eq!(state(&image, 0), (NO_LEADER, 2, vec![3]));
        // 2 left the ISR before the partition went offline: not eligible.
        assert_eq!(unfenced(&mut image, 2).len(), 1);
        assert_eq!(state(&image, 0), (NO_LEADER, 2, vec![3]));
        unfenced(&mut image, 3);
        assert_eq!(state(&image, 0), (3, 3, vec![3]));
    }

    #[test]
    fn controlled_shutdown_moves_leadership_like_fencing() {
        let mut image = cluster(&[&[1, 2], &[1]]);
        let mut records = vec![MetadataRecord::BrokerRegistrationChange {
            broker_id: 1,
            broker_epoch: 0,
            fenced: fencing::NONE,
            in_controlled_shutdown: 1,
        }];
        records.extend(broker_leaving(&image, 1));
        apply(&mut image, &records);
        assert_eq!(state(&image, 0), (2, 1, vec![2]));
        assert_eq!(state(&image, 1), (NO_LEADER, 1, vec![1]));
        // A broker in controlled shutdown is not a candidate either.
        assert!(!image.is_active_broker(1));
        assert!(broker_unfenced(&image, 3).is_empty());
    }

    #[test]
    fn a_topic_deleted_meanwhile_is_left_alone() {
        let mut image = cluster(&[&[2]]);
        fenced(&mut image, 2);
        apply(
            &mut image,
            &[MetadataRecord::RemoveTopic { topic_id: TOPIC }],
        );
        assert!(unfenced(&mut image, 2).len() == 1);
        assert!(image.topics.is_empty());
    }

    fn isr_change(p: i32, isr: &[i32]) -> MetadataRecord {
        MetadataRecord::PartitionChange(PartitionChangeRecord {
            isr: Some(isr.to_vec()),
            ..PartitionChangeRecord::new(TOPIC, p)
        })
    }

    fn elect(image: &MetadataImage, p: i32, kind: ElectionType) -> Result<i32, NoElection> {
        let part = &image.topic("t").unwrap().partitions[&p];
        elect_partition(image, part, kind, TOPIC, p).map(|r| r.leader)
    }

    #[test]
    fn a_preferred_election_needs_the_first_replica_active_and_in_sync() {
        let mut image = cluster(&[&[2, 3], &[3, 2]]);
        assert_eq!(
            elect(&image, 0, ElectionType::Preferred),
            Err(NoElection::NotNeeded)
        );
        fenced(&mut image, 2);
        // Fenced: not a candidate, and out of the ISR.
        assert_eq!(
            elect(&image, 0, ElectionType::Preferred),
            Err(NoElection::PreferredNotAvailable)
        );
        unfenced(&mut image, 2);
        // Active again but not caught up: still not.
        assert_eq!(
            elect(&image, 0, ElectionType::Preferred),
            Err(NoElection::PreferredNotAvailable)
        );
        apply(
            &mut image,
            &[isr_change(0, &[3, 2]), isr_change(1, &[3, 2])],
        );
        assert_eq!(elect(&image, 0, ElectionType::Preferred), Ok(2));
        assert_eq!(
            elect(&image, 1, ElectionType::Preferred),
            Err(NoElection::NotNeeded)
        );
        // The rebalance elects exactly that partition, and the leader
        // epoch moves with it.
        let (records, more) = rebalance_leaders(&image, 10);
        assert!(!more);
        assert_eq!(records.len(), 1, "{records:?}");
        apply(&mut image, &records);
        assert_eq!(state(&image, 0), (2, 2, vec![3, 2]));
        assert!(rebalance_leaders(&image, 10).0.is_empty());
    }

    #[test]
    fn the_rebalance_stops_at_its_bound_and_says_there_is_more() {
        let mut image = cluster(&[&[1, 2], &[1, 2], &[1, 2]]);
        fenced(&mut image, 1);
        unfenced(&mut image, 1);
        apply(
            &mut image,
            &[
                isr_change(0, &[2, 1]),
                isr_change(1, &[2, 1]),
                isr_change(2, &[2, 1]),
            ],
        );
        let (records, more) = rebalance_leaders(&image, 2);
        assert_eq!((records.len(), more), (2, true));
        apply(&mut image, &records);
        let (records, more) = rebalance_leaders(&image, 2);
        assert_eq!((records.len(), more), (1, false));
    }

    #[test]
    fn an_unclean_election_only_fills_an_empty_leadership_from_the_isr() {
        let mut image = cluster(&[&[2], &[1, 3]]);
        assert_eq!(
            elect(&image, 1, ElectionType::Unclean),
            Err(NoElection::NotNeeded)
        );
        fenced(&mut image, 2);
        // Its only replica is gone: nobody could lead without losing data.
        assert_eq!(
            elect(&image, 0, ElectionType::Unclean),
            Err(NoElection::EligibleNotAvailable)
        );
        unfenced(&mut image, 2);
        assert_eq!(
            elect(&image, 0, ElectionType::Unclean),
            Err(NoElection::NotNeeded)
        );
        assert_eq!(ElectionType::from_wire(1), Some(ElectionType::Unclean));
        assert_eq!(ElectionType::from_wire(2), None);
    }
}
