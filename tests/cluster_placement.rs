//! A cluster of brokers around one combined node, over real sockets: two
//! more brokers register on the controller listener (this test plays
//! their part, as a raw protocol client), with racks. Topics created on
//! the client listener are placed over all three, rack-aware; a manual
//! assignment may name any registered broker and no other; Produce and
//! Fetch to the combined node for a partition another broker leads get
//! NOT_LEADER_OR_FOLLOWER with KIP-951's hint; when a broker's session
//! expires its partitions move (or go offline, with a higher epoch) and
//! come back when it is unfenced again. FindCoordinator follows the
//! leaders of `__consumer_offsets`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    ApiKey, BrokerHeartbeatRequest, BrokerId, BrokerRegistrationRequest, CreateTopicsRequest,
    FindCoordinatorRequest, MetadataRequest, MetadataResponse,
};
use runnel::log::testing::make_value_batch;
use runnel::protocol::versions::supported_range;
use uuid::Uuid;

const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const LEADER_NOT_AVAILABLE: i16 = 5;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_REPLICATION_FACTOR: i16 = 38;
const INVALID_REPLICA_ASSIGNMENT: i16 = 39;

const SESSION_MS: u64 = 1500;

/// The client port each simulated broker registers (nothing listens).
fn port_of(id: i32) -> u16 {
    19_000 + id as u16
}

fn rack_of(id: i32) -> String {
    format!("rack-{id}")
}

fn registration(cluster_id: &str, id: i32) -> BrokerRegistrationRequest {
    broker_registration(cluster_id, id, Uuid::new_v4(), port_of(id), &rack_of(id))
}

fn beat(id: i32, epoch: i64, offset: i64) -> BrokerHeartbeatRequest {
    broker_heartbeat(id, epoch, offset)
}

/// A broker of another process, played over the controller listener: it
/// registers, heartbeats until unfenced, then keeps its session alive
/// from a thread until told to go quiet.
struct SimulatedBroker {
    epoch: i64,
    quiet: Arc<AtomicBool>,
    heart: Option<JoinHandle<()>>,
}

impl SimulatedBroker {
    fn join(b: &BrokerProcess, cluster_id: &str, id: i32) -> SimulatedBroker {
        let mut c = b.connect_controller();
        let r = c.call(&registration(cluster_id, id), 4);
        assert_eq!(r.error_code, 0, "broker {id} registers");
        let epoch = r.broker_epoch;
        // Its metadata "caught up" with its own registration: unfenced.
        let unfenced = c.call(&beat(id, epoch, i64::MAX / 2), 1);
        assert!(
            unfenced.error_code == 0 && !unfenced.is_fenced,
            "{unfenced:?}"
        );
        let quiet = Arc::new(AtomicBool::new(false));
        let stop = quiet.clone();
        let heart = std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                let r = c.call(&beat(id, epoch, i64::MAX / 2), 1);
                assert_eq!(r.error_code, 0, "broker {id} heartbeat");
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        SimulatedBroker {
            epoch,
            quiet,
            heart: Some(heart),
        }
    }

    /// Stops heartbeating: its session expires.
    fn go_quiet(&mut self) {
        self.quiet.store(true, Ordering::Release);
        if let Some(h) = self.heart.take() {
            h.join().expect("heartbeat thread");
        }
    }
}

impl Drop for SimulatedBroker {
    fn drop(&mut self) {
        self.go_quiet();
    }
}

fn metadata(b: &BrokerProcess, topics: &[&str]) -> MetadataResponse {
    let req = MetadataRequest::default().with_topics(Some(
        topics
            .iter()
            .map(|t| {
                kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(topic_name(t)))
            })
            .collect(),
    ));
    b.connect().call(&req, 12)
}

/// Partition → (error, leader, leader epoch, replicas, isr).
type PartitionView = (i16, i32, i32, Vec<i32>, Vec<i32>);

fn partitions(t: &MetadataResponseTopic) -> BTreeMap<i32, PartitionView> {
    assert_eq!(t.error_code, 0, "topic {:?}", t.name);
    t.partitions
        .iter()
        .map(|p| {
            let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
            (
                p.partition_index,
                (
                    p.error_code,
                    p.leader_id.0,
                    p.leader_epoch,
                    ids(&p.replica_nodes),
                    ids(&p.isr_nodes),
                ),
            )
        })
        .collect()
}

fn topic_partitions(b: &BrokerProcess, name: &str) -> BTreeMap<i32, PartitionView> {
    partitions(&metadata(b, &[name]).topics[0])
}

fn create(
    b: &BrokerProcess,
    name: &str,
    partitions: i32,
    rf: i16,
    assignment: &[&[i32]],
) -> (i16, Option<String>) {
    let mut topic = CreatableTopic::default()
        .with_name(topic_name(name))
        .with_num_partitions(partitions)
        .with_replication_factor(rf);
    if !assignment.is_empty() {
        topic = topic.with_assignments(
            assignment
                .iter()
                .enumerate()
                .map(|(i, ids)| {
                    CreatableReplicaAssignment::default()
                        .with_partition_index(i as i32)
                        .with_broker_ids(ids.iter().map(|&b| BrokerId(b)).collect())
                })
                .collect(),
        );
    }
    let r = b.connect().call(
        &CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(10_000),
        7,
    );
    let t = &r.topics[0];
    (
        t.error_code,
        t.error_message.as_ref().map(|m| m.to_string()),
    )
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn partitions_spread_over_registered_brokers_and_leadership_follows_fencing() {
    let b = BrokerProcess::start_with_controller_listener(&[
        ("broker.rack", "rack-1"),
        ("broker.session.timeout.ms", &SESSION_MS.to_string()),
        ("broker.heartbeat.interval.ms", "200"),
    ]);
    let cluster_id = b.cluster_id();
    let mut two = SimulatedBroker::join(&b, &cluster_id, 2);
    let _three = SimulatedBroker::join(&b, &cluster_id, 3);

    // The cluster clients see: three brokers, each with its rack.
    let listed: Vec<(i32, Option<String>)> = metadata(&b, &[])
        .brokers
        .iter()
        .map(|n| (n.node_id.0, n.rack.as_ref().map(|r| r.to_string())))
        .collect();
    assert_eq!(
        listed,
        (1..=3)
            .map(|id| (id, Some(rack_of(id))))
            .collect::<Vec<_>>()
    );

    // RF 1: leaders spread evenly over the three brokers.
    assert_eq!(create(&b, "spread", 6, 1, &[]).0, 0);
    let spread = topic_partitions(&b, "spread");
    let mut leads: BTreeMap<i32, usize> = BTreeMap::new();
    for (error, leader, epoch, replicas, isr) in spread.values() {
        assert_eq!((*error, *epoch), (0, 0));
        assert_eq!((replicas, isr), (&vec![*leader], &vec![*leader]));
        *leads.entry(*leader).or_default() += 1;
    }
    assert_eq!(
        leads,
        BTreeMap::from([(1, 2), (2, 2), (3, 2)]),
        "{spread:?}"
    );

    // RF 3 over three racks: every partition on every rack, leaders spread.
    assert_eq!(create(&b, "racks", 3, 3, &[]).0, 0);
    let racks = topic_partitions(&b, "racks");
    let leaders: BTreeSet<i32> = racks.values().map(|p| p.1).collect();
    assert_eq!(leaders, BTreeSet::from([1, 2, 3]), "{racks:?}");
    for (_, leader, _, replicas, isr) in racks.values() {
        let mut on = replicas.clone();
        on.sort_unstable();
        assert_eq!(on, vec![1, 2, 3]);
        assert_eq!((replicas[0], isr), (*leader, replicas));
    }

    // More replicas than brokers: Kafka's refusal.
    let (code, message) = create(&b, "four", 1, 4, &[]);
    assert_eq!(code, INVALID_REPLICATION_FACTOR);
    let message = message.unwrap_or_default();
    assert!(
        message.contains("only 3 broker(s) are registered"),
        "{message}"
    );

    // A manual assignment may name another registered broker, not an
    // unknown one.
    assert_eq!(create(&b, "manual", -1, -1, &[&[2]]).0, 0);
    assert_eq!(topic_partitions(&b, "manual")[&0].1, 2);
    let (code, message) = create(&b, "nowhere", -1, -1, &[&[9]]);
    assert_eq!(code, INVALID_REPLICA_ASSIGNMENT, "{message:?}");
    assert!(
        message.unwrap_or_default().contains("broker 9"),
        "names the broker"
    );

    // Produce and Fetch to this node for a partition broker 2 leads.
    let led_by = |view: &BTreeMap<i32, PartitionView>, id: i32| -> Vec<i32> {
        view.iter()
            .filter(|(_, p)| p.1 == id)
            .map(|(&p, _)| p)
            .collect()
    };
    let on_two = led_by(&spread, 2);
    let on_one = led_by(&spread, 1);
    let p2 = on_two[0];
    let produce_max = supported_range(ApiKey::Produce).unwrap().max;
    let fetch_max = supported_range(ApiKey::Fetch).unwrap().max;
    assert!(produce_max >= 10 && fetch_max >= 16);
    let mut c = b.connect();
    let batch = || make_value_batch(1, 10, 1_700_000_000_000);
    let resp = c.call(&produce_request("spread", p2, batch(), 1), produce_max);
    let part = &resp.responses[0].partition_responses[0];
    assert_eq!(part.error_code, NOT_LEADER_OR_FOLLOWER);
    assert_eq!(
        (
            part.current_leader.leader_id.0,
            part.current_leader.leader_epoch
        ),
        (2, 0)
    );
    let endpoints: Vec<(i32, String, i32, Option<String>)> = resp
        .node_endpoints
        .iter()
        .map(|n| {
            (
                n.node_id.0,
                n.host.to_string(),
                n.port,
                n.rack.as_ref().map(|r| r.to_string()),
            )
        })
        .collect();
    assert_eq!(
        endpoints,
        [(
            2,
            "127.0.0.1".to_string(),
            i32::from(port_of(2)),
            Some(rack_of(2))
        )]
    );
    // Before v10 the code alone.
    let old = c.call(&produce_request("spread", p2, batch(), 1), 9);
    assert_eq!(
        old.responses[0].partition_responses[0].error_code,
        NOT_LEADER_OR_FOLLOWER
    );
    // A topic the image does not have stays unknown; this node's own
    // partitions are served.
    let unknown = c.call(&produce_request("no-such-topic", 0, batch(), 1), 9);
    assert_eq!(
        unknown.responses[0].partition_responses[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        produce(&mut c, 9, "spread", on_one[0], batch(), 1).error_code,
        0
    );

    let id = topic_id(&mut c, "spread");
    let resp = c.call(&fetch_request(fetch_max, "spread", id, p2, 0), fetch_max);
    let part = &resp.responses[0].partitions[0];
    assert_eq!(part.error_code, NOT_LEADER_OR_FOLLOWER);
    assert_eq!(
        (
            part.current_leader.leader_id.0,
            part.current_leader.leader_epoch
        ),
        (2, 0)
    );
    assert_eq!(
        resp.node_endpoints
            .iter()
            .map(|n| (n.node_id.0, n.port))
            .collect::<Vec<_>>(),
        [(2, i32::from(port_of(2)))]
    );
    assert_eq!(
        fetch(&mut c, 12, "spread", id, p2, 0).error_code,
        NOT_LEADER_OR_FOLLOWER
    );

    // FindCoordinator: __consumer_offsets is placed over the brokers too,
    // and each group goes to its partition's leader, at its endpoint.
    let keys: Vec<String> = (0..24).map(|i| format!("group-{i}")).collect();
    let found = c.call(
        &FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(keys.iter().map(|k| str_bytes(k)).collect()),
        4,
    );
    let mut coordinators = BTreeSet::new();
    for co in &found.coordinators {
        assert_eq!(co.error_code, 0, "{co:?}");
        let expected_port = match co.node_id.0 {
            1 => i32::from(b.port),
            id => i32::from(port_of(id)),
        };
        assert_eq!(co.port, expected_port, "{co:?}");
        coordinators.insert(co.node_id.0);
    }
    assert!(coordinators.len() > 1, "{coordinators:?}");

    // Broker 2 goes quiet: fenced when its session expires. Its RF=1
    // partitions have no leader now (LEADER_NOT_AVAILABLE, epoch bumped);
    // an RF=3 partition it led moves to another in-sync replica.
    let racks_on_two = led_by(&racks, 2);
    two.go_quiet();
    wait_for(
        "broker 2's partitions offline",
        Duration::from_millis(SESSION_MS * 4),
        || {
            let now = topic_partitions(&b, "spread");
            on_two.iter().all(|p| now[p].1 == -1)
        },
    );
    let now = topic_partitions(&b, "spread");
    for p in &on_two {
        let (error, leader, epoch, replicas, isr) = &now[p];
        assert_eq!((*error, *leader, *epoch), (LEADER_NOT_AVAILABLE, -1, 1));
        assert_eq!(
            (replicas, isr),
            (&vec![2], &vec![2]),
            "the ISR is never emptied"
        );
    }
    for p in &on_one {
        assert_eq!((now[p].0, now[p].1, now[p].2), (0, 1, 0), "untouched");
    }
    let racks_now = topic_partitions(&b, "racks");
    for p in &racks_on_two {
        let (error, leader, epoch, _, isr) = &racks_now[p];
        assert_eq!((*error, *epoch), (0, 1), "{:?}", racks_now[p]);
        assert!(*leader != 2 && !isr.contains(&2), "{:?}", racks_now[p]);
    }
    // Produce to it now: no leader to point at.
    let resp = c.call(&produce_request("spread", p2, batch(), 1), produce_max);
    let part = &resp.responses[0].partition_responses[0];
    assert_eq!(part.error_code, NOT_LEADER_OR_FOLLOWER);
    assert_eq!(
        (
            part.current_leader.leader_id.0,
            part.current_leader.leader_epoch
        ),
        (-1, 1)
    );
    assert!(resp.node_endpoints.is_empty());

    // Broker 2 comes back (a new process): once unfenced, its offline
    // partitions are led by it again, one epoch later.
    let back = SimulatedBroker::join(&b, &cluster_id, 2);
    assert!(back.epoch > two.epoch);
    wait_for("broker 2 leads again", Duration::from_secs(5), || {
        let now = topic_partitions(&b, "spread");
        on_two.iter().all(|p| now[p].1 == 2)
    });
    let now = topic_partitions(&b, "spread");
    for p in &on_two {
        assert_eq!((now[p].0, now[p].2), (0, 2));
    }
    // It left the RF=3 ISRs and is not the leader there again.
    let racks_now = topic_partitions(&b, "racks");
    for p in &racks_on_two {
        assert_ne!(racks_now[p].1, 2);
    }
}

/// With a real broker-only `runnel` process as broker 2: partitions placed
/// on it are served by it (its replica manager follows the fetched image),
/// and the combined node points a producer there.
#[test]
fn a_broker_only_node_serves_the_partitions_placed_on_it() {
    let node1 = BrokerProcess::start_with_controller_listener(&[]);
    let b2 = BrokerProcess::start_broker_of(&node1, 2, &[]);
    wait_for("broker 2 listed", Duration::from_secs(30), || {
        metadata(&node1, &[]).brokers.len() == 2
    });
    assert_eq!(create(&node1, "served", 4, 1, &[]).0, 0);
    let placed = topic_partitions(&node1, "served");
    let on_two: Vec<i32> = placed
        .iter()
        .filter(|(_, p)| p.1 == 2)
        .map(|(&p, _)| p)
        .collect();
    assert_eq!(on_two.len(), 2, "{placed:?}");
    let p = on_two[0];
    let batch = || make_value_batch(3, 10, 1_700_000_000_000);
    let produce_max = supported_range(ApiKey::Produce).unwrap().max;

    // The combined node sends the producer to broker 2's port.
    let resp = node1
        .connect()
        .call(&produce_request("served", p, batch(), 1), produce_max);
    assert_eq!(
        resp.responses[0].partition_responses[0].error_code,
        NOT_LEADER_OR_FOLLOWER
    );
    assert_eq!(
        resp.node_endpoints
            .iter()
            .map(|n| (n.node_id.0, n.port))
            .collect::<Vec<_>>(),
        [(2, i32::from(b2.port))]
    );
    // Broker 2 takes the batch (once its fetched image has the topic) and
    // serves it back.
    let mut c2 = b2.connect();
    let mut written = None;
    wait_for(
        "broker 2 leads its partition",
        Duration::from_secs(10),
        || {
            let r = produce(&mut c2, produce_max, "served", p, batch(), 1);
            written = (r.error_code == 0).then_some(r.base_offset);
            written.is_some()
        },
    );
    assert_eq!(written, Some(0));
    let id = topic_id(&mut c2, "served");
    let read = fetch(&mut c2, 12, "served", id, p, 0);
    assert_eq!(read.error_code, 0);
    assert_eq!(record_count(read.records.as_ref().unwrap()), 3);
    // And refuses, with the hint, a partition node 1 leads.
    let on_one = placed
        .iter()
        .find(|(_, v)| v.1 == 1)
        .map(|(&p, _)| p)
        .unwrap();
    let refused = fetch(&mut c2, 12, "served", id, on_one, 0);
    assert_eq!(refused.error_code, NOT_LEADER_OR_FOLLOWER);
}
