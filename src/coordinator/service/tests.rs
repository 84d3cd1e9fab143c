//! The shell's timers on an injected clock: deadlines are kept on the
//! monotonic clock, so a step of the wall clock neither loses nor delays a
//! session expiry. And who answers for a group: only the coordinator of its
//! `__consumer_offsets` partition, once that partition's groups are
//! loaded. Driven through real coordinators on a real broker's logs; only
//! the clock is the test's.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::GroupCoordinator;
use crate::common::BackgroundTasks;
use crate::common::clock::{ManualClock, Now};
use crate::config::BrokerConfig;
use crate::controller::channel::CreateTopics;
use crate::controller::topics::NewTopic;
use crate::coordinator::consumer_group::HeartbeatInput;
use crate::coordinator::group::{JoinInput, SyncInput};
use crate::coordinator::offsets::{CommitInput, PartitionCommit};
use crate::log::dir_lock::LogDirLocks;
use crate::node::Node;
use crate::protocol::ApiError;

const SESSION_MS: i32 = 10_000;
/// An NTP correction or a resumed VM: the wall clock jumps an hour back.
const STEP_MS: i64 = -3_600_000;

/// A broker on a fresh directory (with `__consumer_offsets`) and, over its
/// logs, a coordinator on a manual clock, loaded (the broker's own
/// coordinator stays idle).
async fn setup() -> (
    tempfile::TempDir,
    Node,
    Arc<ManualClock>,
    Arc<GroupCoordinator>,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_dirs = vec![dir.path().to_path_buf()];
    let locks = LogDirLocks::acquire(&log_dirs).expect("log dir lock");
    let node = Node::start(
        BrokerConfig {
            log_dirs,
            offsets_topic_num_partitions: 1,
            group_initial_rebalance_delay_ms: 0,
            group_consumer_session_timeout_ms: SESSION_MS,
            ..BrokerConfig::default()
        },
        locks,
        BackgroundTasks::new(),
    )
    .expect("broker starts");
    // Placement needs a registered broker, as in `node::run`.
    node.register_broker().await.expect("broker registers");
    node.broker
        .groups
        .ensure_offsets_topic()
        .await
        .expect("__consumer_offsets");
    let clock = Arc::new(ManualClock::new(Now {
        wall_ms: 1_800_000_000_000,
        monotonic_ms: 0,
    }));
    let g = coordinator(&node, node.broker.config.node_id, clock.clone());
    g.load().expect("loads");
    (dir, node, clock, g)
}

/// A coordinator over the node's logs and metadata, as broker `node_id`;
/// nothing loaded yet.
fn coordinator(node: &Node, node_id: i32, clock: Arc<ManualClock>) -> Arc<GroupCoordinator> {
    let b = &node.broker;
    GroupCoordinator::with_clock(
        Arc::new(BrokerConfig {
            node_id,
            ..(*b.config).clone()
        }),
        b.metadata.clone(),
        b.replicas.clone(),
        b.controller.clone(),
        node.tasks.clone(),
        clock,
    )
}

/// A coordinator that does not lead the group's partition answers
/// NOT_COORDINATOR, and one that leads it but has not read it yet
/// COORDINATOR_LOAD_IN_PROGRESS: never "no committed offset", which would
/// send a consumer back to its reset policy (the chaos harness caught a
/// former coordinator doing that, seed 42).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_loaded_coordinator_of_a_group_answers_for_it() {
    let (_dir, node, clock, g) = setup().await;
    node.broker
        .controller
        .create_topics(CreateTopics {
            topics: vec![NewTopic {
                name: "orders".into(),
                num_partitions: 1,
                replication_factor: 1,
                assignments: vec![],
                configs: vec![],
            }],
            validate_only: false,
            internal: false,
        })
        .await
        .expect("created");
    let commit = || CommitInput {
        member_id: String::new(),
        group_instance_id: None,
        generation_id: -1,
        partitions: vec![PartitionCommit {
            topic: "orders".into(),
            partition: 0,
            committed_offset: 42,
            leader_epoch: None,
            metadata: None,
        }],
    };
    let committed = g.commit("readers", commit(), 8).await.expect("committed");
    assert!(committed.iter().all(|(_, _, r)| r.is_ok()), "{committed:?}");
    let wanted = Some(vec![("orders".to_string(), 0)]);

    let elsewhere = coordinator(&node, 2, clock.clone());
    elsewhere.load().expect("loads");
    for refused in [
        elsewhere
            .fetch_offsets("readers", wanted.clone())
            .await
            .map(|_| ()),
        elsewhere.commit("readers", commit(), 8).await.map(|_| ()),
        elsewhere.heartbeat("readers", "m", None, 1).await,
        elsewhere.describe("readers").await.map(|_| ()),
    ] {
        assert!(
            matches!(refused, Err(ApiError::NotCoordinator(_))),
            "{refused:?}"
        );
    }

    // Not the leader of any __consumer_offsets partition: lists nothing.
    assert_eq!(elsewhere.list_coordinated().await.map(|l| l.len()), Ok(0));

    let unloaded = coordinator(&node, node.broker.config.node_id, clock);
    let early = unloaded.fetch_offsets("readers", wanted.clone()).await;
    assert!(
        matches!(early, Err(ApiError::CoordinatorLoadInProgress(_))),
        "{early:?}"
    );
    for early in [
        unloaded.describe("readers").await.map(|_| ()),
        unloaded.list_coordinated().await.map(|_| ()),
    ] {
        assert!(
            matches!(early, Err(ApiError::CoordinatorLoadInProgress(_))),
            "{early:?}"
        );
    }
    unloaded.load().expect("loads");
    let listed = unloaded
        .list_coordinated()
        .await
        .expect("listed once loaded");
    assert_eq!(
        listed
            .iter()
            .map(|g| g.group_id.as_str())
            .collect::<Vec<_>>(),
        vec!["readers"]
    );
    let fetched = unloaded
        .fetch_offsets("readers", wanted)
        .await
        .expect("answered once loaded");
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].2.as_ref().map(|o| o.committed_offset), Some(42));
}

/// The group's state once the coordinator's tasks have run (they react to
/// the manual clock on other workers).
async fn state_after_timers(g: &GroupCoordinator, group: &str, want: &str) -> &'static str {
    let mut state = g.describe(group).await.expect("coordinated here").state;
    for _ in 0..100 {
        if state == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        state = g.describe(group).await.expect("coordinated here").state;
    }
    state
}

/// The group's only member stops heartbeating and the wall clock steps an
/// hour back: the member is still there a millisecond before its session
/// ends on the monotonic clock, and gone (the group Empty) when it ends.
async fn expires_on_time_after_a_step_back(g: &GroupCoordinator, clock: &ManualClock, group: &str) {
    clock.step_wall(STEP_MS);
    clock.advance(i64::from(SESSION_MS) - 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        g.describe(group).await.expect("coordinated here").state,
        "Stable",
        "expired early"
    );
    clock.advance(2);
    assert_eq!(
        state_after_timers(g, group, "Empty").await,
        "Empty",
        "the dead member's session did not expire"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_classic_member_expires_on_time_when_the_wall_clock_steps_back() {
    let (_dir, _broker, clock, g) = setup().await;
    let joined = g
        .join(
            "classic",
            JoinInput {
                member_id: String::new(),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: "h".into(),
                rebalance_timeout_ms: SESSION_MS,
                session_timeout_ms: SESSION_MS,
                protocol_type: "consumer".into(),
                protocols: vec![("range".into(), Bytes::from_static(b"m"))],
                require_known_member_id: false,
                supports_skip_assignment: false,
            },
        )
        .await
        .expect("joined");
    assert_eq!(joined.error, None);
    let member = joined.member_id.clone();
    g.sync(
        "classic",
        SyncInput {
            member_id: member.clone(),
            group_instance_id: None,
            generation_id: joined.generation_id,
            protocol_type: None,
            protocol_name: None,
            assignments: vec![(member, Bytes::from_static(b"a"))],
        },
    )
    .await
    .expect("synced");
    assert_eq!(
        g.describe("classic").await.expect("coordinated here").state,
        "Stable"
    );

    expires_on_time_after_a_step_back(&g, &clock, "classic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_group_member_expires_on_time_when_the_wall_clock_steps_back() {
    let (_dir, _broker, clock, g) = setup().await;
    let joined = g
        .consumer_heartbeat(
            "kip848",
            HeartbeatInput {
                member_epoch: 0,
                rebalance_timeout_ms: SESSION_MS,
                subscribed_topic_names: Some(vec!["orders".into()]),
                topic_partitions: Some(vec![]),
                client_id: "c".into(),
                client_host: "h".into(),
                ..HeartbeatInput::default()
            },
        )
        .await
        .expect("joined");
    assert!(!joined.member_id.is_empty());
    assert_eq!(
        g.describe("kip848").await.expect("coordinated here").state,
        "Stable"
    );

    expires_on_time_after_a_step_back(&g, &clock, "kip848").await;
}
