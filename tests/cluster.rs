//! A cluster of `runnel` processes on loopback: one node with the
//! controller role and broker-only nodes (`process.roles=broker`) that
//! join it over KRaft's wire. Each broker fetches the metadata log as an
//! observer, registers and heartbeats, and answers clients itself: admin
//! requests are forwarded to the controller in an Envelope, and what one
//! broker was asked shows on every other. A restarted broker catches up
//! from its own copy of the log, a new one from the controller's snapshot;
//! a killed broker is fenced when its session expires.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    BrokerId, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeConfigsRequest, DescribeQuorumRequest, FindCoordinatorRequest,
    IncrementalAlterConfigsRequest, MetadataRequest, OffsetForLeaderEpochRequest,
};
use runnel::log::testing::make_value_batch;

const TOPIC_RESOURCE: i8 = 2;

/// The broker ids a node lists to clients.
fn brokers_seen(b: &BrokerProcess) -> BTreeSet<i32> {
    b.connect()
        .call(&MetadataRequest::default().with_topics(Some(vec![])), 12)
        .brokers
        .iter()
        .map(|x| x.node_id.0)
        .collect()
}

/// The partition count of `topic` as node `b` sees it (None: unknown).
fn partitions_seen(b: &BrokerProcess, topic: &str) -> Option<usize> {
    let resp = b.connect().call(
        &MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name(topic))),
            ]))
            .with_allow_auto_topic_creation(false),
        12,
    );
    let t = &resp.topics[0];
    (t.error_code == 0).then_some(t.partitions.len())
}

/// Polls `check` until it holds or `within` passes; the time it took.
fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if check() {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

const SOON: Duration = Duration::from_secs(10);

#[test]
fn brokers_join_a_controller_and_any_broker_answers_admin() {
    let node1 = BrokerProcess::start_with_controller_listener(&[]);
    let b2 = BrokerProcess::start_broker_of(&node1, 2, &[]);
    let b3 = BrokerProcess::start_broker_of(&node1, 3, &[]);
    let all = BTreeSet::from([1, 2, 3]);
    for b in [&node1, &b2, &b3] {
        eventually("every node lists every broker", SOON, || {
            brokers_seen(b) == all
        });
    }
    // Each broker fetched the controller's log: it is of the same cluster
    // and wrote its own copy.
    assert!(b2.data_dir.join("__cluster_metadata-0").is_dir());
    assert_eq!(b2.cluster_id(), node1.cluster_id());

    // CreateTopics on broker 3: forwarded, visible from every node.
    let topic = unique_topic("forwarded");
    create_topic(&mut b3.connect(), &topic, 3);
    for b in [&node1, &b2, &b3] {
        eventually("the topic reaches every node", SOON, || {
            partitions_seen(b, &topic) == Some(3)
        });
    }
    let forwarded = node1.log_lines_matching(&["serving a request a broker forwarded"]);
    assert!(
        forwarded.iter().any(|l| l.contains("CreateTopics")),
        "{forwarded:?}"
    );
    // A duplicate is refused as the controller refuses it.
    assert_eq!(create_topic_code(&mut b2.connect(), &topic, 3, &[]), 36);

    // CreatePartitions and IncrementalAlterConfigs on broker 2.
    let resp = b2.connect().call(
        &CreatePartitionsRequest::default()
            .with_topics(vec![
                CreatePartitionsTopic::default()
                    .with_name(topic_name(&topic))
                    .with_count(5),
            ])
            .with_timeout_ms(10_000),
        3,
    );
    assert_eq!(resp.results[0].error_code, 0, "{resp:?}");
    eventually("added partitions reach node 1", SOON, || {
        partitions_seen(&node1, &topic) == Some(5)
    });
    let resp = b2.connect().call(
        &IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(str_bytes(&topic))
                .with_configs(vec![
                    AlterableConfig::default()
                        .with_name(str_bytes("retention.ms"))
                        .with_config_operation(0)
                        .with_value(Some(str_bytes("3600000"))),
                ]),
        ]),
        1,
    );
    assert_eq!(resp.responses[0].error_code, 0, "{resp:?}");
    eventually("the config reaches broker 3", SOON, || {
        let resp = b3.connect().call(
            &DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(TOPIC_RESOURCE)
                    .with_resource_name(str_bytes(&topic))
                    .with_configuration_keys(Some(vec![str_bytes("retention.ms")])),
            ]),
            4,
        );
        resp.results[0]
            .configs
            .iter()
            .any(|c| c.value.as_ref().is_some_and(|v| v.as_str() == "3600000"))
    });

    // DescribeQuorum on a broker is the controller's answer: node 1 leads,
    // both brokers fetch as observers.
    let resp = b2.connect().call(
        &DescribeQuorumRequest::default().with_topics(vec![
            TopicData::default()
                .with_topic_name(topic_name("__cluster_metadata"))
                .with_partitions(vec![PartitionData::default().with_partition_index(0)]),
        ]),
        2,
    );
    assert_eq!(resp.error_code, 0, "{resp:?}");
    let p = &resp.topics[0].partitions[0];
    assert_eq!(p.leader_id.0, 1);
    let observers: BTreeSet<i32> = p.observers.iter().map(|o| o.replica_id.0).collect();
    assert!(
        observers.is_superset(&BTreeSet::from([2, 3])),
        "{observers:?}"
    );

    // Producer ids come from the controller's blocks, never twice.
    let (id2, _) = init_producer_id(&mut b2.connect());
    let (id3, _) = init_producer_id(&mut b3.connect());
    let (id1, _) = init_producer_id(&mut node1.connect());
    assert_eq!(
        BTreeSet::from([id1, id2, id3]).len(),
        3,
        "{id1} {id2} {id3}"
    );

    // A group's coordinator is found through any broker: the first such
    // request creates __consumer_offsets through the controller.
    let resp = b3.connect().call(
        &FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![str_bytes("cluster-group")]),
        4,
    );
    let c = &resp.coordinators[0];
    // Retriable until broker 3 has the new topic's metadata.
    if c.error_code != 0 {
        assert_eq!(c.error_code, 15, "{c:?}");
    }
    eventually("the coordinator is found", SOON, || {
        let resp = b3.connect().call(
            &FindCoordinatorRequest::default()
                .with_key_type(0)
                .with_coordinator_keys(vec![str_bytes("cluster-group")]),
            4,
        );
        let c = &resp.coordinators[0];
        c.error_code == 0 && all.contains(&c.node_id.0) && c.port > 0
    });

    // DeleteTopics on broker 2: gone everywhere.
    let resp = b2.connect().call(
        &DeleteTopicsRequest::default()
            .with_topics(vec![
                DeleteTopicState::default().with_name(Some(topic_name(&topic))),
            ])
            .with_timeout_ms(10_000),
        6,
    );
    assert_eq!(resp.responses[0].error_code, 0, "{resp:?}");
    for b in [&node1, &b2, &b3] {
        eventually("the deletion reaches every node", SOON, || {
            partitions_seen(b, &topic).is_none()
        });
    }
}

#[test]
fn a_restarted_broker_catches_up_from_its_log_and_a_new_one_from_a_snapshot() {
    // Snapshots after every few records: the controller's log start moves
    // past what a stopped broker has.
    let node1 = BrokerProcess::start_with_controller_listener(&[(
        "metadata.log.max.record.bytes.between.snapshots",
        "200",
    )]);
    let mut b2 = BrokerProcess::start_broker_of(&node1, 2, &[]);
    let first = unique_topic("before");
    create_topic(&mut node1.connect(), &first, 1);
    eventually("broker 2 sees the first topic", SOON, || {
        partitions_seen(&b2, &first).is_some()
    });
    b2.terminate();
    let later: Vec<String> = (0..4).map(|_| unique_topic("while-down")).collect();
    for t in &later {
        create_topic(&mut node1.connect(), t, 2);
    }
    b2.restart();
    for t in later.iter().chain([&first]) {
        eventually("the restarted broker has every topic", SOON, || {
            partitions_seen(&b2, t).is_some()
        });
    }
    assert!(
        !b2.log_lines_matching(&["fetched the controller's metadata snapshot"])
            .is_empty(),
        "broker 2 was behind the controller's log start: it caught up from a snapshot\n{}",
        b2.log_tail(40)
    );
    // A broker that never ran starts from the snapshot too.
    let b3 = BrokerProcess::start_broker_of(&node1, 3, &[]);
    for t in later.iter().chain([&first]) {
        assert!(partitions_seen(&b3, t).is_some(), "{t} on a new broker");
    }
    // Its copy of the log is a snapshot and the records after it.
    let dir = b3.data_dir.join("__cluster_metadata-0");
    let snapshots = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".checkpoint")
        })
        .count();
    assert!(snapshots >= 1, "no snapshot in {}", dir.display());
}

#[test]
fn a_killed_broker_is_fenced_within_its_session_and_rejoins() {
    let session_ms = 2_000;
    let node1 = BrokerProcess::start_with_controller_listener(&[(
        "broker.session.timeout.ms",
        &session_ms.to_string(),
    )]);
    let heartbeat = [("broker.heartbeat.interval.ms", "250")];
    let b2 = BrokerProcess::start_broker_of(&node1, 2, &heartbeat);
    let mut b3 = BrokerProcess::start_broker_of(&node1, 3, &heartbeat);
    eventually("both brokers joined", SOON, || {
        brokers_seen(&node1) == BTreeSet::from([1, 2, 3])
    });
    b3.kill();
    let fenced_after = eventually("broker 3 is fenced", SOON, || {
        brokers_seen(&node1) == BTreeSet::from([1, 2])
    });
    eprintln!("broker 3 fenced {fenced_after:?} after kill -9 (session {session_ms} ms)");
    assert!(
        fenced_after >= Duration::from_millis(session_ms / 2),
        "fenced before its session could have expired: {fenced_after:?}"
    );
    // Broker 2 hears of it through the metadata log.
    eventually("broker 2 sees the fencing", SOON, || {
        brokers_seen(&b2) == BTreeSet::from([1, 2])
    });
    // Restarted at once: a new incarnation, registered again.
    b3.restart();
    eventually("broker 3 is back", SOON, || {
        brokers_seen(&node1) == BTreeSet::from([1, 2, 3])
    });
}

/// The leader epoch of partition 0 of `topic` in `b`'s metadata.
/// Produces `records` to partition 0 of `topic` on `b` once `b` serves it:
/// NOT_LEADER_OR_FOLLOWER while its log is being opened is retried, as a
/// client retries it.
fn produce_served(
    b: &BrokerProcess,
    topic: &str,
    records: usize,
) -> kafka_protocol::messages::produce_response::PartitionProduceResponse {
    let start = Instant::now();
    loop {
        let batch = make_value_batch(records, 10, 1_700_000_000_000);
        let r = produce(&mut b.connect(), 9, topic, 0, batch, -1);
        if r.error_code != 6 || start.elapsed() > SOON {
            return r;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// (-1, -1) while `b` does not know the topic yet.
fn leader_epoch_seen(b: &BrokerProcess, topic: &str) -> (i32, i32) {
    let resp = b.connect().call(
        &MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name(topic))),
        ])),
        12,
    );
    resp.topics[0]
        .partitions
        .first()
        .map_or((-1, -1), |p| (p.leader_id.0, p.leader_epoch))
}

/// Leadership that leaves a broker and comes back starts a new epoch; the
/// broker's leader-epoch cache (Kafka's `leader-epoch-checkpoint`) keeps
/// where each began, and OffsetForLeaderEpoch answers an old epoch with
/// where it ended, as Kafka's `endOffsetFor` does.
#[test]
fn offsets_for_leader_epochs_survive_leadership_leaving_and_returning() {
    let node1 =
        BrokerProcess::start_with_controller_listener(&[("broker.session.timeout.ms", "2000")]);
    let heartbeat = [("broker.heartbeat.interval.ms", "250")];
    let mut b2 = BrokerProcess::start_broker_of(&node1, 2, &heartbeat);
    let topic = unique_topic("epochs");
    let resp = node1.connect().call(
        &CreateTopicsRequest::default()
            .with_topics(vec![
                CreatableTopic::default()
                    .with_name(topic_name(&topic))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1)
                    .with_assignments(vec![
                        CreatableReplicaAssignment::default()
                            .with_partition_index(0)
                            .with_broker_ids(vec![BrokerId(2)]),
                    ]),
            ])
            .with_timeout_ms(10_000),
        7,
    );
    assert_eq!(resp.topics[0].error_code, 0, "{resp:?}");
    eventually("broker 2 leads the partition", SOON, || {
        leader_epoch_seen(&b2, &topic).0 == 2
    });
    let (_, first_epoch) = leader_epoch_seen(&b2, &topic);
    let produced = produce_served(&b2, &topic, 5);
    assert_eq!(
        (produced.error_code, produced.base_offset),
        (0, 0),
        "{}",
        b2.log_tail(30)
    );

    // Killed: fenced when its session expires, the partition goes offline
    // (a new epoch); restarted and unfenced, it leads again (another one).
    b2.kill();
    eventually("the partition goes offline", SOON, || {
        leader_epoch_seen(&node1, &topic).0 == -1
    });
    b2.restart();
    eventually("broker 2 leads again", SOON, || {
        let (leader, epoch) = leader_epoch_seen(&b2, &topic);
        leader == 2 && epoch > first_epoch + 1
    });
    let (_, epoch) = leader_epoch_seen(&b2, &topic);
    let produced = produce_served(&b2, &topic, 3);
    assert_eq!((produced.error_code, produced.base_offset), (0, 5));

    let ask = |requested: i32| {
        let resp = b2.connect().call(
            &OffsetForLeaderEpochRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![
                    OffsetForLeaderTopic::default()
                        .with_topic(topic_name(&topic))
                        .with_partitions(vec![
                            OffsetForLeaderPartition::default()
                                .with_partition(0)
                                .with_current_leader_epoch(epoch)
                                .with_leader_epoch(requested),
                        ]),
                ]),
            4,
        );
        let p = &resp.topics[0].partitions[0];
        assert_eq!(p.error_code, 0, "{p:?}");
        (p.leader_epoch, p.end_offset)
    };
    assert_eq!(
        ask(epoch),
        (epoch, 8),
        "the current epoch ends at the log end"
    );
    assert_eq!(
        ask(first_epoch),
        (first_epoch, 5),
        "the first epoch ended where the next began"
    );
    // The offline epoch between them led nothing here: the floor epoch.
    assert_eq!(ask(first_epoch + 1), (first_epoch, 5));
    assert_eq!(
        ask(epoch + 1),
        (-1, -1),
        "an epoch not seen yet is undefined"
    );
    let checkpoint = std::fs::read_to_string(
        b2.data_dir
            .join(format!("{topic}-0"))
            .join("leader-epoch-checkpoint"),
    )
    .unwrap();
    assert_eq!(checkpoint, format!("0\n2\n{first_epoch} 0\n{epoch} 5\n"));
}
