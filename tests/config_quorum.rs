//! A node whose configuration names a controller quorum of other nodes (the
//! three-node compose file, Kafka's multi-node examples) refuses to start
//! and says why, instead of running as a one-node cluster of its own under
//! the shared cluster id. Run as the real binary with the Apache Kafka
//! image's variables, as a compose file would start it.

use std::process::Command;

fn start_with_env(data: &std::path::Path, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_runnel"));
    cmd.env_clear()
        .env("KAFKA_LOG_DIRS", data)
        .env(
            "KAFKA_LISTENERS",
            "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
        )
        .env("KAFKA_ADVERTISED_LISTENERS", "PLAINTEXT://127.0.0.1:9092")
        .env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
        .env(
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
            "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        );
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("runnel runs")
}

#[test]
fn a_node_of_a_three_node_quorum_refuses_to_start_and_touches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = start_with_env(
        &data,
        &[
            ("KAFKA_NODE_ID", "2"),
            ("KAFKA_PROCESS_ROLES", "broker,controller"),
            (
                "KAFKA_CONTROLLER_QUORUM_VOTERS",
                "1@runnel-1:9093,2@runnel-2:9093,3@runnel-3:9093",
            ),
            ("CLUSTER_ID", "jX1DGqbdQ1u5kXnYjJFbXw"),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("controller.quorum.voters")
            && stderr.contains("controller(s) 1, 3 besides this node (node.id=2)"),
        "{stderr}"
    );
    // Refused before any log dir was created or claimed.
    assert!(!data.exists(), "the data dir was touched");
}

#[test]
fn a_broker_only_node_of_several_voters_refuses_to_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = start_with_env(
        &data,
        &[
            ("KAFKA_NODE_ID", "4"),
            ("KAFKA_PROCESS_ROLES", "broker"),
            ("KAFKA_LISTENERS", "PLAINTEXT://127.0.0.1:0"),
            (
                "KAFKA_CONTROLLER_QUORUM_VOTERS",
                "1@c1:9093,2@c2:9093,3@c3:9093",
            ),
            ("CLUSTER_ID", "jX1DGqbdQ1u5kXnYjJFbXw"),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("controller.quorum.voters") && stderr.contains("it names 3 voters"),
        "{stderr}"
    );
    assert!(!data.exists(), "the data dir was touched");
}

/// A broker-only node joins its controller's cluster: with no cluster id
/// (no formatted log dir, no CLUSTER_ID) it cannot know which, and does
/// not make one up.
#[test]
fn a_broker_only_node_without_a_cluster_id_refuses_to_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = start_with_env(
        &data,
        &[
            ("KAFKA_NODE_ID", "4"),
            ("KAFKA_PROCESS_ROLES", "broker"),
            ("KAFKA_LISTENERS", "PLAINTEXT://127.0.0.1:0"),
            ("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@127.0.0.1:1"),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("no cluster id") && stderr.contains("runnel format"),
        "{stderr}"
    );
    assert!(
        !data.join("meta.properties").exists(),
        "a cluster id was made up"
    );
}
