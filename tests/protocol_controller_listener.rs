//! The controller listener (`controller.listener.names`) of a combined
//! node, over real sockets: it serves the controller's APIs and nothing
//! else, DescribeCluster answers by endpoint type (KIP-919), and a broker
//! of another process registers and heartbeats there (KIP-631), is listed
//! to clients once unfenced, and is fenced when its session expires.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use kafka_protocol::messages::broker_registration_request::{Feature, Listener};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, BrokerHeartbeatRequest, BrokerId, BrokerRegistrationRequest,
    DescribeClusterRequest, MetadataRequest,
};
use runnel::protocol::versions::{CONTROLLER_APIS, FEATURES, SUPPORTED_APIS};
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
    BrokerRegistrationRequest::default()
        .with_broker_id(BrokerId(id))
        .with_cluster_id(str_bytes(cluster_id))
        .with_incarnation_id(incarnation)
        .with_listeners(vec![
            Listener::default()
                .with_name(str_bytes("PLAINTEXT"))
                .with_host(str_bytes("127.0.0.1"))
                .with_port(port)
                .with_security_protocol(0),
        ])
        .with_features(
            FEATURES
                .iter()
                .map(|f| {
                    Feature::default()
                        .with_name(str_bytes(f.name))
                        .with_min_supported_version(f.min)
                        .with_max_supported_version(f.max)
                })
                .collect(),
        )
        .with_rack(Some(str_bytes("rack-b")))
        .with_log_dirs(vec![Uuid::new_v4()])
}

fn beat(id: i32, epoch: i64, offset: i64) -> BrokerHeartbeatRequest {
    BrokerHeartbeatRequest::default()
        .with_broker_id(BrokerId(id))
        .with_broker_epoch(epoch)
        .with_current_metadata_offset(offset)
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
