//! The controller listener (`controller.listener.names`) of a combined
//! node, over real sockets: it serves the controller's APIs and nothing
//! else, DescribeCluster answers by endpoint type (KIP-919), and a broker
//! of another process registers and heartbeats there (KIP-631), is listed
//! to clients once unfenced, and is fenced when its session expires.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use kafka_protocol::messages::fetch_snapshot_request::{
    PartitionSnapshot, SnapshotId as SnapshotIdRequest, TopicSnapshot,
};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, BrokerHeartbeatRequest, BrokerId, BrokerRegistrationRequest,
    CreateTopicsRequest, DescribeClusterRequest, EnvelopeRequest, FetchRequest,
    FetchSnapshotRequest, MetadataRequest,
};
use runnel::metadata::store::METADATA_TOPIC_ID;
use runnel::protocol::versions::{CONTROLLER_APIS, SUPPORTED_APIS};
use uuid::Uuid;

const MISMATCHED_ENDPOINT_TYPE: i16 = 114;
const UNSUPPORTED_ENDPOINT_TYPE: i16 = 115;
const INVALID_REQUEST: i16 = 42;
const STALE_BROKER_EPOCH: i16 = 77;
const DUPLICATE_BROKER_REGISTRATION: i16 = 101;
const INCONSISTENT_CLUSTER_ID: i16 = 104;
const BROKER_ID_NOT_REGISTERED: i16 = 102;

fn keys(c: &mut Client) -> BTreeSet<(i16, i16, i16)> {
    c.call(&ApiVersionsRequest::default(), 2)
        .api_keys
        .iter()
        .map(|k| (k.api_key, k.min_version, k.max_version))
        .collect()
}

#[test]
fn the_controller_listener_serves_controller_apis_only() {
    let b = BrokerProcess::start_with_controller_listener(&[]);
    let table = |apis: &[runnel::protocol::versions::ApiRange]| -> BTreeSet<_> {
        apis.iter().map(|r| (r.key as i16, r.min, r.max)).collect()
    };
    assert_eq!(keys(&mut b.connect_controller()), table(CONTROLLER_APIS));
    let client = keys(&mut b.connect());
    assert_eq!(client, table(SUPPORTED_APIS));
    for lifecycle in [ApiKey::BrokerRegistration, ApiKey::BrokerHeartbeat] {
        assert!(!client.iter().any(|k| k.0 == lifecycle as i16));
    }

    // A client API on the controller port, a lifecycle RPC on the client
    // port: the connection is closed, as Kafka closes it.
    b.connect_controller()
        .expect_closed(&MetadataRequest::default().with_topics(None), 12)
        .unwrap();
    b.connect()
        .expect_closed(&BrokerHeartbeatRequest::default(), 1)
        .unwrap();
    let log = b.log();
    assert!(
        log.contains("Metadata is not served on a controller listener"),
        "{}",
        b.log_tail(20)
    );
    assert!(log.contains("listening (controller APIs only)"));
}

#[test]
fn describe_cluster_answers_by_endpoint_type() {
    let b = BrokerProcess::start_with_controller_listener(&[]);
    let ask = |t: i8| DescribeClusterRequest::default().with_endpoint_type(t);

    let controllers = b.connect_controller().call(&ask(2), 1);
    assert_eq!(controllers.error_code, 0, "{:?}", controllers.error_message);
    assert_eq!(controllers.endpoint_type, 2);
    assert_eq!(controllers.controller_id, BrokerId(1));
    let listed: Vec<(i32, String, i32)> = controllers
        .brokers
        .iter()
        .map(|n| (n.broker_id.0, n.host.to_string(), n.port))
        .collect();
    assert_eq!(
        listed,
        [(
            1,
            "127.0.0.1".to_string(),
            i32::from(b.controller_port.unwrap())
        )]
    );
    let brokers = b.connect().call(&ask(1), 1);
    assert_eq!(brokers.endpoint_type, 1);
    assert_eq!(brokers.brokers[0].port, i32::from(b.port));

    for (on_controller, t, version, code) in [
        (false, 2, 1, MISMATCHED_ENDPOINT_TYPE),
        (true, 1, 1, MISMATCHED_ENDPOINT_TYPE),
        (true, 3, 1, UNSUPPORTED_ENDPOINT_TYPE),
        // v0 has no endpoint type (it means brokers) and no such codes.
        (true, 1, 0, INVALID_REQUEST),
    ] {
        let mut c = if on_controller {
            b.connect_controller()
        } else {
            b.connect()
        };
        let r = c.call(&ask(t), version);
        assert_eq!(
            r.error_code, code,
            "type {t} v{version} on the controller port: {on_controller}"
        );
        assert!(r.brokers.is_empty());
    }
}

fn registration(
    cluster_id: &str,
    id: i32,
    incarnation: Uuid,
    port: u16,
) -> BrokerRegistrationRequest {
    broker_registration(cluster_id, id, incarnation, port, "rack-b")
}

fn beat(id: i32, epoch: i64, offset: i64) -> BrokerHeartbeatRequest {
    broker_heartbeat(id, epoch, offset)
}

fn listed_brokers(b: &BrokerProcess) -> Vec<(i32, i32, Option<String>)> {
    let mut listed: Vec<_> = b
        .connect()
        .call(&MetadataRequest::default().with_topics(Some(vec![])), 12)
        .brokers
        .iter()
        .map(|n| (n.node_id.0, n.port, n.rack.as_ref().map(|r| r.to_string())))
        .collect();
    listed.sort();
    listed
}

#[test]
fn a_broker_registers_heartbeats_and_is_fenced_when_its_session_expires() {
    let session_ms = 1500;
    let b = BrokerProcess::start_with_controller_listener(&[
        ("broker.session.timeout.ms", &session_ms.to_string()),
        ("broker.heartbeat.interval.ms", "200"),
    ]);
    let cluster_id = b
        .connect_controller()
        .call(&DescribeClusterRequest::default().with_endpoint_type(2), 1)
        .cluster_id
        .to_string();
    let mut c = b.connect_controller();

    let wrong = c.call(
        &registration("AAAAAAAAAAAAAAAAAAAAAA", 2, Uuid::new_v4(), 7),
        4,
    );
    assert_eq!(wrong.error_code, INCONSISTENT_CLUSTER_ID);
    let unknown = c.call(&beat(2, 0, 0), 1);
    assert_eq!(unknown.error_code, BROKER_ID_NOT_REGISTERED);
    assert!(unknown.is_fenced);

    let incarnation = Uuid::new_v4();
    let first = registration(&cluster_id, 2, incarnation, 19_092);
    let registered = c.call(&first, 4);
    assert_eq!(registered.error_code, 0);
    let epoch = registered.broker_epoch;
    assert!(epoch > 0, "the offset of its registration record: {epoch}");
    // The same incarnation again (an answer lost): the same epoch.
    assert_eq!(c.call(&first, 4).broker_epoch, epoch);

    // Fenced until its metadata reached its own registration.
    let behind = c.call(&beat(2, epoch, epoch - 1), 1);
    assert!(behind.is_fenced && !behind.is_caught_up && behind.error_code == 0);
    assert_eq!(listed_brokers(&b).len(), 1, "only this node");
    let caught_up = c.call(&beat(2, epoch, epoch), 1);
    assert!(!caught_up.is_fenced && caught_up.is_caught_up);
    let listed = listed_brokers(&b);
    assert_eq!(
        listed[1],
        (2, 19_092, Some("rack-b".to_string())),
        "{listed:?}"
    );

    assert_eq!(
        c.call(&beat(2, epoch - 1, epoch), 1).error_code,
        STALE_BROKER_EPOCH
    );
    // Another process with id 2 while the session is live.
    let other = c.call(&registration(&cluster_id, 2, Uuid::new_v4(), 19_093), 4);
    assert_eq!(other.error_code, DUPLICATE_BROKER_REGISTRATION);

    // Silence: fenced within the session timeout (and a check period).
    let quiet = Instant::now();
    while listed_brokers(&b).len() > 1 {
        assert!(
            quiet.elapsed() < Duration::from_millis(session_ms as u64 * 3),
            "broker 2 still listed {:?} after its session",
            quiet.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let fenced_after = quiet.elapsed();
    assert!(
        fenced_after >= Duration::from_millis(session_ms as u64 / 2),
        "fenced after {fenced_after:?}, before its session could expire"
    );
    assert!(
        b.log().contains("broker session expired"),
        "{}",
        b.log_tail(20)
    );
    // This node kept its own session all along.
    assert_eq!(listed_brokers(&b)[0].0, 1);
    // Now another incarnation may take the id, with a new epoch.
    let next = c.call(&registration(&cluster_id, 2, Uuid::new_v4(), 19_094), 4);
    assert_eq!(next.error_code, 0);
    assert!(next.broker_epoch > epoch);
}

fn metadata_fetch(offset: i64, last_epoch: i32, leader_epoch: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_state(ReplicaState::default().with_replica_id(BrokerId(5)))
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic_id(METADATA_TOPIC_ID)
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(offset)
                        .with_last_fetched_epoch(last_epoch)
                        .with_current_leader_epoch(leader_epoch)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ])
}

/// KRaft's Fetch of the metadata log, as an observer sends it: records
/// from its position, the leader and high watermark, and Kafka's answers
/// to a wrong cluster, partition, epoch or position.
#[test]
fn the_metadata_log_is_fetched_as_kraft_serves_it() {
    let b = BrokerProcess::start_with_controller_listener(&[]);
    let mut c = b.connect_controller();
    let first = c.call(&metadata_fetch(0, 0, 1), 17);
    let p = &first.responses[0].partitions[0];
    assert_eq!((first.error_code, p.error_code), (0, 0));
    assert_eq!(first.responses[0].topic_id, METADATA_TOPIC_ID);
    assert_eq!(
        (p.current_leader.leader_id, p.current_leader.leader_epoch),
        (BrokerId(1), 1)
    );
    let end = p.high_watermark;
    assert!(end > 0);
    let read = batches(p.records.as_ref().unwrap());
    assert_eq!(read[0].base_offset, 0);
    assert!(
        read.iter().all(|h| h.partition_leader_epoch == 1),
        "{read:?}"
    );
    assert_eq!(
        first
            .node_endpoints
            .iter()
            .map(|n| n.port)
            .collect::<Vec<_>>(),
        [i32::from(b.controller_port.unwrap())]
    );

    // Caught up: nothing to read; past the end: diverging at the end.
    let caught_up = c.call(&metadata_fetch(end, 1, 1), 17);
    assert!(
        batches(
            caught_up.responses[0].partitions[0]
                .records
                .as_ref()
                .unwrap()
        )
        .is_empty()
    );
    let past = c.call(&metadata_fetch(end + 5, 1, 1), 17);
    let d = &past.responses[0].partitions[0].diverging_epoch;
    assert_eq!((d.epoch, d.end_offset), (1, end));

    let stale = c.call(&metadata_fetch(0, 0, 0), 17);
    assert_eq!(
        stale.responses[0].partitions[0].error_code, 74,
        "FENCED_LEADER_EPOCH"
    );
    let ahead = c.call(&metadata_fetch(0, 0, 2), 17);
    assert_eq!(
        ahead.responses[0].partitions[0].error_code, 75,
        "UNKNOWN_LEADER_EPOCH"
    );
    let other = c.call(
        &metadata_fetch(0, 0, 1).with_cluster_id(Some(str_bytes("AAAAAAAAAAAAAAAAAAAAAA"))),
        17,
    );
    assert_eq!(other.error_code, INCONSISTENT_CLUSTER_ID);
    let mut wrong_topic = metadata_fetch(0, 0, 1);
    wrong_topic.topics[0].topic_id = Uuid::new_v4();
    assert_eq!(c.call(&wrong_topic, 17).error_code, INVALID_REQUEST);

    // An empty fetch at the end waits for the next commit: a topic created
    // meanwhile ends the wait early with its records.
    let waiting = std::thread::spawn({
        let port = b.controller_port.unwrap();
        move || {
            let mut c = Client::try_connect(port).unwrap();
            let started = Instant::now();
            let r = c.call(&metadata_fetch(end, 1, 1).with_max_wait_ms(8_000), 17);
            (started.elapsed(), r)
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    create_topic(&mut b.connect(), &unique_topic("woken"), 1);
    let (waited, r) = waiting.join().unwrap();
    assert!(waited < Duration::from_secs(6), "waited {waited:?}");
    assert!(!batches(r.responses[0].partitions[0].records.as_ref().unwrap()).is_empty());
}

/// An Envelope (KIP-590) as a Kafka broker forwards a client's request:
/// the inner request is served and its response comes back inside; what
/// may not be forwarded, or cannot be read, is refused in the envelope.
#[test]
fn forwarded_requests_are_served_inside_the_envelope() {
    let b = BrokerProcess::start_with_controller_listener(&[]);
    let mut c = b.connect_controller();
    let envelope = |inner: Bytes| {
        EnvelopeRequest::default()
            .with_request_data(inner)
            .with_client_host_address(Bytes::from_static(&[127, 0, 0, 1]))
    };
    let topic = unique_topic("forwarded");
    let create = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(topic_name(&topic))
            .with_num_partitions(2)
            .with_replication_factor(1),
    ]);
    let (correlation_id, framed) = c.encode_request(&create, 7).unwrap();
    let answer = c.call(&envelope(framed.slice(4..)), 0);
    assert_eq!(answer.error_code, 0);
    let inner = Client::decode_response::<CreateTopicsRequest>(
        answer.response_data.expect("a response inside"),
        7,
        correlation_id,
    )
    .unwrap();
    assert_eq!(
        inner.topics[0].error_code, 0,
        "{:?}",
        inner.topics[0].error_message
    );
    assert_ne!(topic_id(&mut b.connect(), &topic), Uuid::nil());
    assert!(b.log().contains("serving a request a broker forwarded"));

    // Metadata is not forwardable; garbage is unreadable.
    let (_, metadata) = c
        .encode_request(&MetadataRequest::default().with_topics(None), 12)
        .unwrap();
    let refused = c.call(&envelope(metadata.slice(4..)), 0);
    assert_eq!(
        (refused.error_code, refused.response_data),
        (INVALID_REQUEST, None)
    );
    let garbage = c.call(&envelope(Bytes::from_static(b"\x00\x13\x00")), 0);
    assert_eq!(garbage.error_code, 35, "UNSUPPORTED_VERSION");
    // An Envelope on a client listener closes the connection.
    b.connect()
        .expect_closed(&envelope(framed.slice(4..)), 0)
        .unwrap();
}

fn snapshot_request(
    end_offset: i64,
    epoch: i32,
    position: i64,
    max_bytes: i32,
) -> FetchSnapshotRequest {
    FetchSnapshotRequest::default()
        .with_replica_id(BrokerId(5))
        .with_max_bytes(max_bytes)
        .with_topics(vec![
            TopicSnapshot::default()
                .with_name(topic_name("__cluster_metadata"))
                .with_partitions(vec![
                    PartitionSnapshot::default()
                        .with_partition(0)
                        .with_current_leader_epoch(1)
                        .with_snapshot_id(
                            SnapshotIdRequest::default()
                                .with_end_offset(end_offset)
                                .with_epoch(epoch),
                        )
                        .with_position(position),
                ]),
        ])
}

/// A fetcher behind the log start is pointed to the snapshot and reads it
/// in chunks with FetchSnapshot; what is not there gets Kafka's codes.
#[test]
fn a_fetcher_behind_the_log_start_loads_the_snapshot_in_chunks() {
    let b = BrokerProcess::start_with_controller_listener(&[(
        "metadata.log.max.record.bytes.between.snapshots",
        "1",
    )]);
    create_topic(&mut b.connect(), &unique_topic("snapped"), 3);
    let mut c = b.connect_controller();
    let pointed = c.call(&metadata_fetch(0, 0, 1), 17);
    let id = &pointed.responses[0].partitions[0].snapshot_id;
    assert!(id.end_offset > 0 && id.epoch == 1, "{id:?}");
    let file = b
        .data_dir
        .join("__cluster_metadata-0")
        .join(format!("{:020}-{:010}.checkpoint", id.end_offset, id.epoch));
    let on_disk = std::fs::read(&file).unwrap();

    let mut got = Vec::new();
    while got.len() < on_disk.len() {
        let r = c.call(
            &snapshot_request(id.end_offset, id.epoch, got.len() as i64, 100),
            1,
        );
        let p = &r.topics[0].partitions[0];
        assert_eq!(p.error_code, 0);
        assert_eq!(p.size, on_disk.len() as i64);
        assert!(p.unaligned_records.len() <= 100);
        got.extend_from_slice(&p.unaligned_records);
    }
    assert_eq!(got, on_disk);
    let past = c.call(
        &snapshot_request(id.end_offset, id.epoch, on_disk.len() as i64, 100),
        1,
    );
    assert_eq!(
        past.topics[0].partitions[0].error_code, 99,
        "POSITION_OUT_OF_RANGE"
    );
    let missing = c.call(&snapshot_request(id.end_offset + 1000, 1, 0, 100), 1);
    assert_eq!(
        missing.topics[0].partitions[0].error_code, 98,
        "SNAPSHOT_NOT_FOUND"
    );
}
