//! `__consumer_offsets` compacted by the log cleaner, against a power loss:
//! the real coordinator commits, the commits are made durable, the cleaner
//! rewrites the partition's segments (each cleaned segment fsynced, then
//! swapped in with the directory fsynced), more commits follow, then every
//! byte the log had not fsynced (everything at or past its recovery point)
//! is thrown away, as a power cut would, and the broker is started again on
//! what is left. The crash states in the middle of a swap are covered file
//! by file in `log::cleaner::tests`.
//!
//! The recovery point is the log's own record of what it fsynced
//! (`PartitionLog::flush` moves it only after `fdatasync` returned), so
//! cutting the segments there is the worst case a power cut may leave.

use std::fs::OpenOptions;
use std::io::Read;
use std::path::Path;

use runnel::common::BackgroundTasks;
use runnel::config::BrokerConfig;
use runnel::controller::channel::CreateTopics;
use runnel::controller::topics::NewTopic;
use runnel::coordinator::offsets::{CommitInput, PartitionCommit};
use runnel::coordinator::service::OFFSETS_TOPIC;
use runnel::log::cleaner::CleanerSettings;
use runnel::log::dir_lock::LogDirLocks;
use runnel::node::Node;

const GROUP: &str = "billing";
const COMMITS: i64 = 10_300;

fn start(dir: &Path) -> anyhow::Result<Node> {
    let config = config(dir);
    let locks = LogDirLocks::acquire(&config.log_dirs)?;
    Node::start(config, locks, BackgroundTasks::new())
}

fn config(dir: &Path) -> BrokerConfig {
    BrokerConfig {
        log_dirs: vec![dir.to_path_buf()],
        offsets_topic_num_partitions: 1,
        // Many segments, so the cleaner has some to clean.
        offsets_topic_segment_bytes: 16 * 1024,
        ..BrokerConfig::default()
    }
}

fn offsets_log(
    broker: &runnel::handlers::Broker,
    partition: i32,
) -> std::sync::Arc<runnel::log::PartitionLog> {
    broker
        .replicas
        .partition(OFFSETS_TOPIC, partition)
        .expect("hosted")
        .log
        .clone()
}

fn commit(offset: i64) -> CommitInput {
    CommitInput {
        member_id: String::new(),
        group_instance_id: None,
        generation_id: -1,
        partitions: vec![PartitionCommit {
            topic: "orders".into(),
            partition: 0,
            committed_offset: offset,
            leader_epoch: None,
            metadata: None,
        }],
    }
}

/// Cuts every segment of `dir` at the first batch that ends at or past
/// `recovery_point`: what a power cut may leave of bytes never fsynced.
fn lose_unsynced_bytes(dir: &Path, recovery_point: i64) -> u64 {
    let mut lost = 0;
    for entry in std::fs::read_dir(dir).expect("reading the partition dir") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("log") {
            continue;
        }
        let mut bytes = Vec::new();
        OpenOptions::new()
            .read(true)
            .open(&path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .expect("reading a segment");
        let mut keep = 0usize;
        while keep + 27 <= bytes.len() {
            let base = i64::from_be_bytes(bytes[keep..keep + 8].try_into().expect("8 bytes"));
            let len = i32::from_be_bytes(bytes[keep + 8..keep + 12].try_into().expect("4 bytes"));
            let delta =
                i32::from_be_bytes(bytes[keep + 23..keep + 27].try_into().expect("4 bytes"));
            if base + i64::from(delta) >= recovery_point {
                break;
            }
            keep += 12 + len as usize;
        }
        lost += (bytes.len() - keep) as u64;
        OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(keep as u64))
            .expect("truncating a segment");
    }
    lost
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_a_power_cut_after_the_cleaner_compacted_them() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("data");
    let node = start(&dir).expect("broker starts");
    // Placement needs a registered broker, as in `node::run`.
    node.register_broker().await.expect("broker registers");
    let broker = &node.broker;
    let orders = NewTopic {
        name: "orders".into(),
        num_partitions: 1,
        replication_factor: 1,
        assignments: vec![],
        configs: vec![],
    };
    let created = broker
        .controller
        .create_topics(CreateTopics {
            topics: vec![orders],
            validate_only: false,
            internal: false,
        })
        .await
        .expect("decided");
    assert!(created[0].is_ok(), "{created:?}");
    let partition = broker
        .groups
        .coordinator_for(GROUP)
        .await
        .map(|_| 0)
        .expect("__consumer_offsets created");
    for offset in 1..=COMMITS {
        let results = broker
            .groups
            .commit(GROUP, commit(offset), 8)
            .await
            .expect("commit accepted");
        assert!(results.iter().all(|(_, _, r)| r.is_ok()), "{results:?}");
    }
    let log = offsets_log(broker, partition);
    log.flush().expect("commits made durable");
    let before = log.size_bytes();
    let settings = CleanerSettings {
        threads: 1,
        dedupe_buffer_size: 1 << 24,
        io_max_bytes_per_second: f64::MAX,
    };
    let cleaned = tokio::task::block_in_place(|| {
        broker
            .replicas
            .logs()
            .run_cleaner(&settings, runnel::now_ms())
    });
    assert_eq!(cleaned, 1, "the cleaner compacted {OFFSETS_TOPIC}");
    assert!(
        log.size_bytes() < before / 10,
        "{} bytes of {before} left",
        log.size_bytes()
    );
    // More commits after the cleaning, left to the page cache.
    for offset in COMMITS + 1..=COMMITS + 5 {
        broker
            .groups
            .commit(GROUP, commit(offset), 8)
            .await
            .expect("commit accepted");
    }

    // Power cut: the process dies without closing anything, and the disk
    // keeps only what was fsynced.
    let recovery_point = log.recovery_point();
    let partition_dir = log.dir().to_path_buf();
    drop(log);
    drop(node);
    let lost = lose_unsynced_bytes(&partition_dir, recovery_point);
    eprintln!("recovery point {recovery_point}, {lost} bytes lost");

    let node = start(&dir).expect("broker restarts");
    node.register_broker().await.expect("broker registers");
    let broker = &node.broker;
    let fetched = broker
        .groups
        .fetch_offsets(GROUP, Some(vec![("orders".into(), 0)]))
        .await
        .expect("this node coordinates the group");
    let offset = fetched[0].2.as_ref().map(|o| o.committed_offset);
    assert!(
        offset.is_some_and(|o| (COMMITS..=COMMITS + 5).contains(&o)),
        "the last durable commit (or a later one) after a power cut that followed a cleaning: {offset:?}"
    );
    // The cleaned segments survived: the partition reloads from far fewer
    // bytes than were written.
    let log = offsets_log(broker, partition);
    assert!(log.size_bytes() < before / 10);
}
