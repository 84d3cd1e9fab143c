//! DescribeLogDirs (KIP-113): every log dir of this node with the
//! partitions it holds, each partition's size (the bytes of its segment
//! files, as Kafka's `UnifiedLog.size`), and from v4 the file system's total
//! and usable bytes (KIP-827). Kafka counterpart:
//! `ReplicaManager.describeLogDirs`.
//!
//! The metadata log is left out, as Kafka keeps `__cluster_metadata` outside
//! its log manager. `offset_lag` is 0: on a single node every log is the
//! current one and its own leader (no future logs, no AlterReplicaLogDirs).
//! A dir whose file system cannot be read is reported with
//! KAFKA_STORAGE_ERROR and no partitions.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};

use super::Broker;
use super::str_bytes;
use crate::metadata::store::METADATA_TOPIC;

/// One partition log as DescribeLogDirs reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDirEntry {
    pub dir: PathBuf,
    pub topic: String,
    pub partition: i32,
    pub size_bytes: u64,
}

/// A file system's capacity: total and usable bytes (`statvfs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub total_bytes: u64,
    pub usable_bytes: u64,
}

pub fn describe_log_dirs(
    broker: &Broker,
    version: i16,
    req: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    let logs = broker.replicas.logs();
    let dirs: Vec<PathBuf> = logs.log_dirs().to_vec();
    let entries: Vec<LogDirEntry> = logs
        .all()
        .into_iter()
        .filter(|(topic, _, _)| topic != METADATA_TOPIC)
        .filter_map(|(topic, partition, log)| {
            Some(LogDirEntry {
                dir: log.dir().parent()?.to_path_buf(),
                topic,
                partition,
                size_bytes: log.size_bytes(),
            })
        })
        .collect();
    let capacity: HashMap<PathBuf, std::io::Result<Capacity>> = dirs
        .iter()
        .map(|d| (d.clone(), file_system_capacity(d)))
        .collect();
    build_response(version, &dirs, &entries, &capacity, req)
}

/// The response from what the node holds; pure, for the unit tests.
fn build_response(
    version: i16,
    dirs: &[PathBuf],
    entries: &[LogDirEntry],
    capacity: &HashMap<PathBuf, std::io::Result<Capacity>>,
    req: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    // None: every partition. Some: only those named (an empty list: none).
    let wanted: Option<HashSet<(String, i32)>> = req.topics.map(|topics| {
        topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |p| (t.topic.as_str().to_owned(), *p))
            })
            .collect()
    });
    let results = dirs
        .iter()
        .map(|dir| {
            let mut result = DescribeLogDirsResult::default().with_log_dir(str_bytes(
                std::path::absolute(dir)
                    .unwrap_or_else(|_| dir.clone())
                    .display()
                    .to_string(),
            ));
            let cap = match capacity.get(dir) {
                Some(Ok(cap)) => *cap,
                Some(Err(e)) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "log dir cannot be read for DescribeLogDirs");
                    return result.with_error_code(ResponseError::KafkaStorageError.code());
                }
                None => {
                    return result.with_error_code(ResponseError::KafkaStorageError.code());
                }
            };
            if version >= 4 {
                result = result
                    .with_total_bytes(clamp(cap.total_bytes))
                    .with_usable_bytes(clamp(cap.usable_bytes));
            }
            let mut topics: BTreeMap<&str, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
            for e in entries.iter().filter(|e| same_dir(&e.dir, dir)) {
                if wanted
                    .as_ref()
                    .is_some_and(|w| !w.contains(&(e.topic.clone(), e.partition)))
                {
                    continue;
                }
                topics.entry(&e.topic).or_default().push(
                    DescribeLogDirsPartition::default()
                        .with_partition_index(e.partition)
                        .with_partition_size(clamp(e.size_bytes))
                        .with_offset_lag(0)
                        .with_is_future_key(false),
                );
            }
            result.with_topics(
                topics
                    .into_iter()
                    .map(|(name, mut partitions)| {
                        partitions.sort_by_key(|p| p.partition_index);
                        DescribeLogDirsTopic::default()
                            .with_name(TopicName(str_bytes(name)))
                            .with_partitions(partitions)
                    })
                    .collect(),
            )
        })
        .collect();
    DescribeLogDirsResponse::default().with_results(results)
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Whether a log's parent is this configured dir (spelled the same, or
/// the same directory on disk).
fn same_dir(parent: &Path, dir: &Path) -> bool {
    parent == dir
        || match (parent.canonicalize(), dir.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
}

/// Total and usable bytes of the file system holding `dir`, as Java's
/// `FileStore.getTotalSpace` / `getUsableSpace` (blocks available to an
/// unprivileged user).
fn file_system_capacity(dir: &Path) -> std::io::Result<Capacity> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and outlives the call; `st` is only
    // read after statvfs reported success, which means it filled it in.
    let rc = unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: initialised by the successful call above.
    let st = unsafe { st.assume_init() };
    let frsize = st.f_frsize;
    Ok(Capacity {
        total_bytes: st.f_blocks.saturating_mul(frsize),
        usable_bytes: st.f_bavail.saturating_mul(frsize),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;

    fn entry(dir: &str, topic: &str, partition: i32, size: u64) -> LogDirEntry {
        LogDirEntry {
            dir: PathBuf::from(dir),
            topic: topic.into(),
            partition,
            size_bytes: size,
        }
    }

    fn fixture() -> (Vec<PathBuf>, Vec<LogDirEntry>) {
        let dirs = vec![PathBuf::from("/d1"), PathBuf::from("/d2")];
        let entries = vec![
            entry("/d1", "a", 1, 10),
            entry("/d1", "a", 0, 20),
            entry("/d2", "b", 0, 30),
        ];
        (dirs, entries)
    }

    fn caps(dirs: &[PathBuf]) -> HashMap<PathBuf, std::io::Result<Capacity>> {
        dirs.iter()
            .map(|d| {
                (
                    d.clone(),
                    Ok(Capacity {
                        total_bytes: 1000,
                        usable_bytes: 400,
                    }),
                )
            })
            .collect()
    }

    /// Every partition (`topics` null; the crate's default is an empty list).
    fn all() -> DescribeLogDirsRequest {
        DescribeLogDirsRequest::default().with_topics(None)
    }

    fn sizes(r: &DescribeLogDirsResult) -> Vec<(String, i32, i64)> {
        r.topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    (
                        t.name.as_str().to_owned(),
                        p.partition_index,
                        p.partition_size,
                    )
                })
            })
            .collect()
    }

    #[test]
    fn every_dir_lists_its_own_partitions_in_order_with_capacity_from_v4() {
        let (dirs, entries) = fixture();
        let r = build_response(4, &dirs, &entries, &caps(&dirs), all());
        assert_eq!(r.results.len(), 2);
        assert_eq!(r.results[0].log_dir.as_str(), "/d1");
        assert_eq!(
            sizes(&r.results[0]),
            vec![("a".into(), 0, 20), ("a".into(), 1, 10)]
        );
        assert_eq!(sizes(&r.results[1]), vec![("b".into(), 0, 30)]);
        assert_eq!(
            (r.results[0].total_bytes, r.results[0].usable_bytes),
            (1000, 400)
        );
        let v3 = build_response(3, &dirs, &entries, &caps(&dirs), all());
        assert_eq!(
            (v3.results[0].total_bytes, v3.results[0].usable_bytes),
            (-1, -1)
        );
    }

    #[test]
    fn named_partitions_only_and_an_empty_list_means_none() {
        let (dirs, entries) = fixture();
        let req = DescribeLogDirsRequest::default().with_topics(Some(vec![
            DescribableLogDirTopic::default()
                .with_topic(TopicName(str_bytes("a")))
                .with_partitions(vec![1, 7]),
        ]));
        let r = build_response(4, &dirs, &entries, &caps(&dirs), req);
        assert_eq!(sizes(&r.results[0]), vec![("a".into(), 1, 10)]);
        assert!(r.results[1].topics.is_empty());
        let none = DescribeLogDirsRequest::default().with_topics(Some(vec![]));
        let r = build_response(4, &dirs, &entries, &caps(&dirs), none);
        assert!(r.results.iter().all(|d| d.topics.is_empty()));
    }

    #[test]
    fn an_unreadable_dir_is_a_storage_error_without_partitions() {
        let (dirs, entries) = fixture();
        let mut capacity = caps(&dirs);
        capacity.insert(
            PathBuf::from("/d2"),
            Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
        );
        let r = build_response(4, &dirs, &entries, &capacity, all());
        assert_eq!(r.results[1].error_code, 56);
        assert!(r.results[1].topics.is_empty());
        assert_eq!(r.results[0].error_code, 0);
    }

    #[test]
    fn capacity_of_a_real_dir_is_plausible() {
        let cap = file_system_capacity(Path::new(".")).unwrap();
        assert!(cap.total_bytes > 0 && cap.usable_bytes <= cap.total_bytes);
        assert!(file_system_capacity(Path::new("/no/such/dir/here")).is_err());
    }
}
