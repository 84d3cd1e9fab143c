//! `runnel format` and `runnel random-uuid`, run as the real binary the way
//! Kafka's `kafka-storage` is run in scripts and images: format the log
//! dirs for a cluster id, then start a node on them and see that id.

mod common;

use std::process::{Command, Output};

use common::*;
use kafka_protocol::messages::DescribeClusterRequest;

fn runnel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(args)
        .env_remove("CLUSTER_ID")
        .output()
        .expect("runnel runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn formatted_dirs_start_a_node_of_that_cluster() {
    let out = runnel(&["random-uuid"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let cluster_id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(cluster_id.len(), 22, "{cluster_id}");

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let dirs = format!("log.dirs={}", dir.display());
    let format = |extra: &[&str]| {
        let mut args = vec!["format", "--override", &dirs];
        args.extend_from_slice(extra);
        runnel(&args)
    };

    // Refusals touch nothing.
    let out = format(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--cluster-id"), "{}", text(&out));
    let out = format(&["-t", "not-a-cluster-id"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("not a valid cluster id"),
        "{}",
        text(&out)
    );
    let out = format(&[
        "-t",
        &cluster_id,
        "--initial-controllers",
        "1@a:9093:AAAAAAAAAAAAAAAAAAAAAA,2@b:9093:AAAAAAAAAAAAAAAAAAAAAA",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("besides this node"), "{}", text(&out));
    assert!(!dir.exists(), "a refused format created the dir");

    let out = format(&["-t", &cluster_id, "--standalone"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("Formatting"), "{}", text(&out));
    let props = std::fs::read_to_string(dir.join("meta.properties")).unwrap();
    assert!(
        props.contains(&format!("cluster.id={cluster_id}")),
        "{props}"
    );
    assert!(
        props.contains("node.id=1") && props.contains("directory.id="),
        "{props}"
    );

    // Once formatted: an error, unless told to ignore it.
    let out = format(&["-t", &cluster_id]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("already formatted"), "{}", text(&out));
    let out = format(&["-t", &cluster_id, "--ignore-formatted"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("already formatted"), "{}", text(&out));

    // A node on those dirs is a node of that cluster.
    let data = dir.display().to_string();
    let broker = BrokerProcess::start(&[("log.dirs", data.as_str())]);
    let cluster = broker.connect().call(&DescribeClusterRequest::default(), 0);
    assert_eq!(cluster.cluster_id.to_string(), cluster_id);
}
