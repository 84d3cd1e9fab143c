//! AlterPartition (KIP-497, KIP-903) on the controller listener of a real
//! combined node, as a partition leader of another process sends it. The
//! test registers two brokers of its own (2 and 3) and leads their
//! partitions itself, so that it knows every broker epoch involved.

mod common;

use common::*;
use kafka_protocol::messages::alter_partition_request::{BrokerState, PartitionData, TopicData};
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    AlterPartitionRequest, AlterPartitionResponse, BrokerId, CreateTopicsRequest,
    DescribeClusterRequest, MetadataRequest,
};
use uuid::Uuid;

const INVALID_REQUEST: i16 = 42;
const STALE_BROKER_EPOCH: i16 = 77;
const INVALID_UPDATE_VERSION: i16 = 95;
const UNKNOWN_TOPIC_ID: i16 = 100;
const INELIGIBLE_REPLICA: i16 = 107;

/// Registers broker `id` and heartbeats it unfenced; returns its epoch.
fn join(c: &mut Client, cluster_id: &str, id: i32) -> i64 {
    let port = 19_000 + id as u16;
    let registered = c.call(
        &broker_registration(cluster_id, id, Uuid::new_v4(), port, "rack-a"),
        4,
    );
    assert_eq!(registered.error_code, 0, "registering broker {id}");
    let epoch = registered.broker_epoch;
    let beat = c.call(&broker_heartbeat(id, epoch, epoch), 1);
    assert!(!beat.is_fenced, "broker {id} unfenced");
    epoch
}

fn create_assigned(c: &mut Client, name: &str, replicas: &[i32]) {
    let topic = CreatableTopic::default()
        .with_name(topic_name(name))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_assignments(vec![
            CreatableReplicaAssignment::default()
                .with_partition_index(0)
                .with_broker_ids(replicas.iter().copied().map(BrokerId).collect()),
        ]);
    let r = c.call(
        &CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(10_000),
        7,
    );
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
}

/// One partition's proposal from `sender`: (broker id, broker epoch) of
/// each member, v3's `NewIsrWithEpochs` (v2 sends the ids alone).
struct Proposal<'a> {
    sender: (i32, i64),
    topic_id: Uuid,
    leader_epoch: i32,
    partition_epoch: i32,
    isr: &'a [(i32, i64)],
}

fn alter(c: &mut Client, p: &Proposal, version: i16) -> AlterPartitionResponse {
    let data = PartitionData::default()
        .with_partition_index(0)
        .with_leader_epoch(p.leader_epoch)
        .with_partition_epoch(p.partition_epoch);
    let data = if version >= 3 {
        data.with_new_isr_with_epochs(
            p.isr
                .iter()
                .map(|&(id, epoch)| {
                    BrokerState::default()
                        .with_broker_id(BrokerId(id))
                        .with_broker_epoch(epoch)
                })
                .collect(),
        )
    } else {
        data.with_new_isr(p.isr.iter().map(|&(id, _)| BrokerId(id)).collect())
    };
    c.call(
        &AlterPartitionRequest::default()
            .with_broker_id(BrokerId(p.sender.0))
            .with_broker_epoch(p.sender.1)
            .with_topics(vec![
                TopicData::default()
                    .with_topic_id(p.topic_id)
                    .with_partitions(vec![data]),
            ]),
        version,
    )
}

/// The one partition's (error, leader, leader epoch, ISR, partition epoch).
fn answer(r: &AlterPartitionResponse) -> (i16, i32, i32, Vec<i32>, i32) {
    assert_eq!(r.error_code, 0, "the request as a whole is accepted");
    let p = &r.topics[0].partitions[0];
    (
        p.error_code,
        p.leader_id.0,
        p.leader_epoch,
        p.isr.iter().map(|b| b.0).collect(),
        p.partition_epoch,
    )
}

fn code(r: &AlterPartitionResponse) -> i16 {
    answer(r).0
}

/// The ISR clients see in Metadata.
fn metadata_isr(b: &BrokerProcess, name: &str) -> Vec<i32> {
    let r = b.connect().call(
        &MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name(name))),
        ])),
        12,
    );
    r.topics[0].partitions[0]
        .isr_nodes
        .iter()
        .map(|b| b.0)
        .collect()
}

#[test]
fn a_leader_alters_its_isr_and_stale_or_foreign_requests_are_refused() {
    // The test's brokers never heartbeat again: a long session.
    let b =
        BrokerProcess::start_with_controller_listener(&[("broker.session.timeout.ms", "120000")]);
    let mut c = b.connect_controller();
    let cluster_id = c
        .call(&DescribeClusterRequest::default().with_endpoint_type(2), 1)
        .cluster_id
        .to_string();
    let epoch2 = join(&mut c, &cluster_id, 2);
    let epoch3 = join(&mut c, &cluster_id, 3);

    let solo = unique_topic("alter-solo");
    let pair = unique_topic("alter-pair");
    create_assigned(&mut b.connect(), &solo, &[2]);
    create_assigned(&mut b.connect(), &pair, &[2, 3]);
    let solo_id = topic_id(&mut b.connect(), &solo);
    let pair_id = topic_id(&mut b.connect(), &pair);
    assert_eq!(metadata_isr(&b, &pair), [2, 3]);

    // RF=1, the ISR as it stands: answered unchanged, nothing written.
    let unchanged = Proposal {
        sender: (2, epoch2),
        topic_id: solo_id,
        leader_epoch: 0,
        partition_epoch: 0,
        isr: &[(2, epoch2)],
    };
    for version in [2, 3] {
        assert_eq!(
            answer(&alter(&mut c, &unchanged, version)),
            (0, 2, 0, vec![2], 0),
            "v{version}"
        );
    }
    // From a registered broker that does not lead the partition.
    let foreign = Proposal {
        sender: (3, epoch3),
        ..unchanged
    };
    assert_eq!(code(&alter(&mut c, &foreign, 3)), INVALID_REQUEST);
    // From the leader's earlier incarnation: the whole request.
    let stale_sender = Proposal {
        sender: (2, epoch2 - 1),
        ..unchanged
    };
    let r = alter(&mut c, &stale_sender, 3);
    assert_eq!(r.error_code, STALE_BROKER_EPOCH);
    assert!(r.topics.is_empty());
    let unknown = Proposal {
        topic_id: Uuid::new_v4(),
        ..unchanged
    };
    assert_eq!(code(&alter(&mut c, &unknown, 3)), UNKNOWN_TOPIC_ID);

    // RF=2: the leader drops 3 from the ISR.
    let shrink = Proposal {
        sender: (2, epoch2),
        topic_id: pair_id,
        leader_epoch: 0,
        partition_epoch: 0,
        isr: &[(2, epoch2)],
    };
    assert_eq!(
        answer(&alter(&mut c, &shrink, 3)),
        (0, 2, 0, vec![2], 1),
        "a shrink bumps the partition epoch, not the leader epoch"
    );
    assert_eq!(metadata_isr(&b, &pair), [2]);
    // The same proposal again, from the epoch it was made at: stale.
    assert_eq!(code(&alter(&mut c, &shrink, 3)), INVALID_UPDATE_VERSION);

    // Back to both: refused while 3's epoch is not its own, then taken.
    let expand_stale_member = Proposal {
        partition_epoch: 1,
        isr: &[(2, epoch2), (3, epoch3 - 1)],
        ..shrink
    };
    assert_eq!(
        code(&alter(&mut c, &expand_stale_member, 3)),
        INELIGIBLE_REPLICA
    );
    // v2 carries no member epochs: only registration is checked.
    assert_eq!(
        answer(&alter(&mut c, &expand_stale_member, 2)),
        (0, 2, 0, vec![2, 3], 2)
    );
    assert_eq!(metadata_isr(&b, &pair), [2, 3]);
}

/// The broker side's way in: `ControllerChannel::alter_partition` with a
/// remote target sends the RPC to the controller listener at the highest
/// version both sides know (v3) and turns the answer into typed results,
/// refusals into the controller's own errors.
#[test]
fn the_remote_channel_speaks_alter_partition() {
    use runnel::common::ids::{BrokerEpoch, BrokerId as Broker, LeaderEpoch, PartitionEpoch};
    use runnel::controller::ControllerError;
    use runnel::controller::alter_partition::{
        AlterPartition, AlterPartitionData, AlterPartitionTopic, NewIsrMember, RECOVERED,
    };
    use runnel::controller::channel::ControllerChannel;
    use runnel::controller::remote::RemoteController;

    let b =
        BrokerProcess::start_with_controller_listener(&[("broker.session.timeout.ms", "120000")]);
    let mut c = b.connect_controller();
    let cluster_id = c
        .call(&DescribeClusterRequest::default().with_endpoint_type(2), 1)
        .cluster_id
        .to_string();
    let epoch2 = join(&mut c, &cluster_id, 2);
    let epoch3 = join(&mut c, &cluster_id, 3);
    let pair = unique_topic("alter-remote");
    create_assigned(&mut b.connect(), &pair, &[2, 3]);
    let topic_id = topic_id(&mut b.connect(), &pair);

    let member = |id: i32, epoch: i64| NewIsrMember {
        broker_id: Broker(id),
        broker_epoch: BrokerEpoch(epoch),
    };
    let proposal = |partition_epoch: i32, new_isr: Vec<NewIsrMember>| AlterPartition {
        broker_id: Broker(2),
        broker_epoch: BrokerEpoch(epoch2),
        topics: vec![AlterPartitionTopic {
            topic_id,
            partitions: vec![AlterPartitionData {
                partition_index: 0,
                leader_epoch: LeaderEpoch(0),
                partition_epoch: PartitionEpoch(partition_epoch),
                new_isr,
                leader_recovery_state: RECOVERED,
            }],
        }],
    };
    let address = format!("127.0.0.1:{}", b.controller_port.unwrap());
    let channel = ControllerChannel::remote(std::sync::Arc::new(RemoteController::new(
        vec![address],
        2,
        std::time::Duration::from_secs(10),
    )));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let shrunk = channel
            .alter_partition(proposal(0, vec![member(2, epoch2)]))
            .await
            .unwrap();
        assert_eq!(shrunk[0].topic_id, topic_id);
        let altered = shrunk[0].partitions[0].result.clone().unwrap();
        assert_eq!(
            (
                altered.leader_id,
                altered.leader_epoch,
                altered.partition_epoch,
                altered.isr
            ),
            (
                Broker(2),
                LeaderEpoch(0),
                PartitionEpoch(1),
                vec![Broker(2)]
            )
        );
        // v3 carried 3's epoch: an earlier one is refused.
        let stale_member = channel
            .alter_partition(proposal(1, vec![member(2, epoch2), member(3, epoch3 - 1)]))
            .await
            .unwrap();
        assert!(matches!(
            stale_member[0].partitions[0].result,
            Err(ControllerError::IneligibleReplica(_))
        ));
        let stale = channel
            .alter_partition(proposal(0, vec![member(2, epoch2), member(3, epoch3)]))
            .await
            .unwrap();
        assert!(matches!(
            stale[0].partitions[0].result,
            Err(ControllerError::InvalidUpdateVersion(_))
        ));
        let whole = channel
            .alter_partition(AlterPartition {
                broker_epoch: BrokerEpoch(epoch2 + 1),
                ..proposal(1, vec![member(2, epoch2)])
            })
            .await
            .unwrap_err();
        assert!(
            matches!(whole, ControllerError::StaleBrokerEpoch(_)),
            "{whole}"
        );
    });
    assert_eq!(metadata_isr(&b, &pair), [2]);
}
