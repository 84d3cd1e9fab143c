//! The AlterPartition decision, one case per check, on images built by
//! replaying records as the controller does.

use super::*;
use crate::metadata::records::{PartitionRecord, RegisterBrokerRecord};

const TOPIC: Uuid = Uuid::from_u128(7);
const RECOVERING_TOPIC: Uuid = Uuid::from_u128(8);

const STALE_BROKER_EPOCH: i16 = 77;
const UNKNOWN_TOPIC_ID: i16 = 100;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const NOT_CONTROLLER: i16 = 41;
const FENCED_LEADER_EPOCH: i16 = 74;
const INVALID_REQUEST: i16 = 42;
const INVALID_UPDATE_VERSION: i16 = 95;
const INELIGIBLE_REPLICA: i16 = 107;

/// Broker `id`'s registered epoch in these images.
fn epoch_of(id: i32) -> BrokerEpoch {
    BrokerEpoch(100 + i64::from(id))
}

fn register(id: i32, fenced: bool, in_controlled_shutdown: bool) -> MetadataRecord {
    MetadataRecord::RegisterBroker(RegisterBrokerRecord {
        broker_id: id,
        incarnation_id: Uuid::from_u128(id as u128),
        broker_epoch: epoch_of(id).0,
        endpoints: vec![],
        features: vec![],
        rack: None,
        fenced,
        in_controlled_shutdown,
        log_dirs: vec![],
    })
}

fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
    for r in records {
        let next = image.offset + 1;
        image.replay(next, r);
    }
}

/// Brokers 1-3 active, 4 fenced, 5 in controlled shutdown (6 never
/// registers). Topic 7: partition 0 on [1, 2, 3] all in sync; partition 1
/// on [1, 2, 3, 4, 5, 6] with only the leader 1 in sync. Topic 8:
/// partition 0 on [1, 2], led by 1 still recovering from an unclean
/// election. Every epoch 0.
fn cluster() -> MetadataImage {
    let mut image = MetadataImage::empty();
    let records = vec![
        register(1, false, false),
        register(2, false, false),
        register(3, false, false),
        register(4, true, false),
        register(5, false, true),
        MetadataRecord::Topic {
            name: "t".into(),
            topic_id: TOPIC,
        },
        MetadataRecord::Partition(PartitionRecord::new(TOPIC, 0, vec![1, 2, 3])),
        MetadataRecord::Partition(PartitionRecord {
            isr: vec![1],
            ..PartitionRecord::new(TOPIC, 1, vec![1, 2, 3, 4, 5, 6])
        }),
        MetadataRecord::Topic {
            name: "r".into(),
            topic_id: RECOVERING_TOPIC,
        },
        MetadataRecord::Partition(PartitionRecord {
            isr: vec![1],
            leader_recovery_state: RECOVERING,
            ..PartitionRecord::new(RECOVERING_TOPIC, 0, vec![1, 2])
        }),
    ];
    apply(&mut image, &records);
    image
}

fn members(ids: &[i32]) -> Vec<NewIsrMember> {
    ids.iter()
        .map(|&id| NewIsrMember {
            broker_id: BrokerId(id),
            broker_epoch: epoch_of(id),
        })
        .collect()
}

fn data(
    partition: i32,
    leader_epoch: i32,
    partition_epoch: i32,
    isr: &[i32],
) -> AlterPartitionData {
    AlterPartitionData {
        partition_index: partition,
        leader_epoch: LeaderEpoch(leader_epoch),
        partition_epoch: PartitionEpoch(partition_epoch),
        new_isr: members(isr),
        leader_recovery_state: RECOVERED,
    }
}

/// A request from broker 1 at its registered epoch.
fn request(topic_id: Uuid, partitions: Vec<AlterPartitionData>) -> AlterPartition {
    AlterPartition {
        broker_id: BrokerId(1),
        broker_epoch: epoch_of(1),
        topics: vec![AlterPartitionTopic {
            topic_id,
            partitions,
        }],
    }
}

/// The one partition's answer, and the records written.
fn one(
    image: &MetadataImage,
    request: &AlterPartition,
) -> (
    Vec<MetadataRecord>,
    Result<AlteredPartition, ControllerError>,
) {
    let (records, results) = alter_partition(image, request).expect("request accepted");
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].partitions.len(), 1);
    (records, results[0].partitions[0].result.clone())
}

/// The code of a refused partition; a refusal writes nothing.
fn refused(image: &MetadataImage, request: &AlterPartition) -> i16 {
    let (records, result) = one(image, request);
    assert!(records.is_empty(), "{records:?}");
    result.expect_err("partition refused").code()
}

fn isr_change(topic_id: Uuid, partition: i32, isr: &[i32]) -> MetadataRecord {
    MetadataRecord::PartitionChange(PartitionChangeRecord {
        isr: Some(isr.to_vec()),
        ..PartitionChangeRecord::new(topic_id, partition)
    })
}

#[test]
fn a_sender_of_another_or_no_registration_is_refused_whole() {
    let image = cluster();
    for (broker, epoch) in [(1, epoch_of(1).0 - 1), (1, -1), (9, 0)] {
        let mut r = request(TOPIC, vec![data(0, 0, 0, &[1, 2])]);
        r.broker_id = BrokerId(broker);
        r.broker_epoch = BrokerEpoch(epoch);
        let e = alter_partition(&image, &r).unwrap_err();
        assert_eq!(
            e.code(),
            STALE_BROKER_EPOCH,
            "broker {broker} epoch {epoch}: {e}"
        );
    }
}

#[test]
fn an_unknown_topic_id_fails_each_of_its_partitions() {
    let image = cluster();
    for id in [Uuid::from_u128(99), Uuid::nil()] {
        let r = request(id, vec![data(0, 0, 0, &[1]), data(1, 0, 0, &[1])]);
        let (records, results) = alter_partition(&image, &r).unwrap();
        assert!(records.is_empty());
        assert_eq!(results[0].topic_id, id);
        let answers: Vec<(i32, i16)> = results[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.result.clone().unwrap_err().code()))
            .collect();
        assert_eq!(answers, [(0, UNKNOWN_TOPIC_ID), (1, UNKNOWN_TOPIC_ID)]);
    }
}

#[test]
fn an_unknown_partition_of_a_known_topic() {
    let image = cluster();
    let r = request(TOPIC, vec![data(5, 0, 0, &[1])]);
    assert_eq!(refused(&image, &r), UNKNOWN_TOPIC_OR_PARTITION);
}

#[test]
fn epochs_newer_than_the_controllers_mean_another_controller() {
    let image = cluster();
    for (leader_epoch, partition_epoch) in [(1, 0), (0, 1)] {
        let r = request(TOPIC, vec![data(0, leader_epoch, partition_epoch, &[1, 2])]);
        assert_eq!(refused(&image, &r), NOT_CONTROLLER);
    }
}

/// Leadership moved from 1 to 2 (leader epoch 1, partition epoch 1): the
/// old leader is fenced by its epoch before it is told it is not the
/// leader; the same epochs from a follower are an invalid request.
#[test]
fn an_old_leader_epoch_is_fenced_and_a_follower_may_not_ask() {
    let mut image = cluster();
    apply(
        &mut image,
        &[MetadataRecord::PartitionChange(PartitionChangeRecord {
            leader: 2,
            ..PartitionChangeRecord::new(TOPIC, 0)
        })],
    );
    let p = &image.topic("t").unwrap().partitions[&0];
    assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (2, 1, 1));

    let old = request(TOPIC, vec![data(0, 0, 1, &[1, 2])]);
    assert_eq!(refused(&image, &old), FENCED_LEADER_EPOCH);
    let from_follower = request(TOPIC, vec![data(0, 1, 1, &[1, 2])]);
    assert_eq!(refused(&image, &from_follower), INVALID_REQUEST);
}

#[test]
fn an_old_partition_epoch_is_an_invalid_update_version() {
    let mut image = cluster();
    apply(&mut image, &[isr_change(TOPIC, 0, &[1, 2])]);
    let stale = request(TOPIC, vec![data(0, 0, 0, &[1])]);
    assert_eq!(refused(&image, &stale), INVALID_UPDATE_VERSION);
    // From the current epoch, the same proposal is taken.
    let (records, result) = one(&image, &request(TOPIC, vec![data(0, 0, 1, &[1])]));
    assert_eq!(records, [isr_change(TOPIC, 0, &[1])]);
    assert_eq!(result.unwrap().partition_epoch, PartitionEpoch(2));
}

#[test]
fn the_new_isr_is_a_duplicate_free_subset_of_the_replicas_with_the_leader() {
    let image = cluster();
    for isr in [&[][..], &[1, 7], &[1, 2, 2], &[2, 3], &[-1, 1]] {
        let r = request(TOPIC, vec![data(0, 0, 0, isr)]);
        assert_eq!(refused(&image, &r), INVALID_REQUEST, "new ISR {isr:?}");
    }
}

#[test]
fn ineligible_members_are_refused_and_an_epoch_of_minus_one_skips_its_check() {
    let image = cluster();
    // 4 fenced, 5 shutting down, 6 not registered.
    for isr in [&[1, 4][..], &[1, 5], &[1, 6]] {
        let r = request(TOPIC, vec![data(1, 0, 0, isr)]);
        assert_eq!(refused(&image, &r), INELIGIBLE_REPLICA, "new ISR {isr:?}");
    }
    // 2 under another broker epoch (an earlier incarnation of it).
    let mut stale_member = data(1, 0, 0, &[1, 2]);
    stale_member.new_isr[1].broker_epoch = BrokerEpoch(epoch_of(2).0 - 1);
    assert_eq!(
        refused(&image, &request(TOPIC, vec![stale_member.clone()])),
        INELIGIBLE_REPLICA
    );
    // No epoch given (a request before v3): only registration counts.
    stale_member.new_isr[1].broker_epoch = BrokerEpoch::NONE;
    let (records, result) = one(&image, &request(TOPIC, vec![stale_member]));
    assert_eq!(records, [isr_change(TOPIC, 1, &[1, 2])]);
    assert_eq!(result.unwrap().isr, [BrokerId(1), BrokerId(2)]);
}

#[test]
fn a_shrink_is_one_change_record_and_the_answer_matches_its_replay() {
    let mut image = cluster();
    let (records, result) = one(&image, &request(TOPIC, vec![data(0, 0, 0, &[1, 3])]));
    assert_eq!(records, [isr_change(TOPIC, 0, &[1, 3])]);
    let answer = result.unwrap();
    assert_eq!(
        answer,
        AlteredPartition {
            leader_id: BrokerId(1),
            leader_epoch: LeaderEpoch(0),
            partition_epoch: PartitionEpoch(1),
            isr: vec![BrokerId(1), BrokerId(3)],
            leader_recovery_state: RECOVERED,
        }
    );
    apply(&mut image, &records);
    let p = &image.topic("t").unwrap().partitions[&0];
    assert_eq!(
        (p.leader, p.leader_epoch, p.partition_epoch, p.isr.clone()),
        (1, 0, 1, vec![1, 3]),
        "the image after replay is what the leader was told"
    );
}

#[test]
fn an_expansion_with_the_members_epochs_is_taken() {
    let image = cluster();
    let (records, result) = one(&image, &request(TOPIC, vec![data(1, 0, 0, &[1, 2, 3])]));
    assert_eq!(records, [isr_change(TOPIC, 1, &[1, 2, 3])]);
    assert_eq!(result.unwrap().partition_epoch, PartitionEpoch(1));
}

#[test]
fn an_unchanged_isr_writes_nothing_and_is_answered_as_it_stands() {
    let image = cluster();
    let (records, result) = one(&image, &request(TOPIC, vec![data(0, 0, 0, &[1, 2, 3])]));
    assert!(records.is_empty());
    let answer = result.unwrap();
    assert_eq!(answer.partition_epoch, PartitionEpoch(0));
    assert_eq!(answer.isr, [BrokerId(1), BrokerId(2), BrokerId(3)]);
}

#[test]
fn leader_recovery_only_moves_forward_and_only_with_the_leader_alone() {
    let image = cluster();
    let recovering = |p: i32, topic: Uuid, isr: &[i32]| {
        let mut d = data(p, 0, 0, isr);
        d.leader_recovery_state = RECOVERING;
        request(topic, vec![d])
    };
    // Recovered may not become recovering again.
    assert_eq!(
        refused(&image, &recovering(0, TOPIC, &[1])),
        INVALID_REQUEST
    );
    // Still recovering: the leader alone, then nothing to change.
    assert_eq!(
        refused(&image, &recovering(0, RECOVERING_TOPIC, &[1, 2])),
        INVALID_REQUEST
    );
    let (records, result) = one(&image, &recovering(0, RECOVERING_TOPIC, &[1]));
    assert!(records.is_empty());
    assert_eq!(result.unwrap().leader_recovery_state, RECOVERING);
    // Recovered, with a follower back in sync: both in one record.
    let (records, result) = one(
        &image,
        &request(RECOVERING_TOPIC, vec![data(0, 0, 0, &[1, 2])]),
    );
    assert_eq!(
        records,
        [MetadataRecord::PartitionChange(PartitionChangeRecord {
            isr: Some(vec![1, 2]),
            leader_recovery_state: RECOVERED,
            ..PartitionChangeRecord::new(RECOVERING_TOPIC, 0)
        })]
    );
    assert_eq!(result.unwrap().leader_recovery_state, RECOVERED);
    let mut unknown = data(0, 0, 0, &[1]);
    unknown.leader_recovery_state = 5;
    assert_eq!(
        refused(&image, &request(TOPIC, vec![unknown])),
        INVALID_REQUEST
    );
}

/// One refused partition does not hold up the others; answers keep the
/// request's order.
#[test]
fn partitions_are_decided_one_by_one_in_request_order() {
    let image = cluster();
    let r = AlterPartition {
        topics: vec![
            AlterPartitionTopic {
                topic_id: TOPIC,
                partitions: vec![data(1, 0, 0, &[1, 4]), data(0, 0, 0, &[1])],
            },
            AlterPartitionTopic {
                topic_id: Uuid::from_u128(99),
                partitions: vec![data(0, 0, 0, &[1])],
            },
        ],
        ..request(TOPIC, vec![])
    };
    let (records, results) = alter_partition(&image, &r).unwrap();
    assert_eq!(records, [isr_change(TOPIC, 0, &[1])]);
    let codes: Vec<(Uuid, i32, i16)> = results
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                let code = p.result.as_ref().map_or_else(ControllerError::code, |_| 0);
                (t.topic_id, p.partition_index, code)
            })
        })
        .collect();
    assert_eq!(
        codes,
        [
            (TOPIC, 1, INELIGIBLE_REPLICA),
            (TOPIC, 0, 0),
            (Uuid::from_u128(99), 0, UNKNOWN_TOPIC_ID)
        ]
    );
}
