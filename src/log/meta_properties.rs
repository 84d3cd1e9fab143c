//! `meta.properties` in each log dir, in Kafka's format (`version`,
//! `node.id`, `cluster.id`): which node and which cluster a directory
//! belongs to. Checked before any log is opened, so a dir of another node
//! or cluster is never served. Kafka counterpart: `MetaProperties` and the
//! checks of `MetaPropertiesEnsemble`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::common::write_file_durably;

pub const META_PROPERTIES_FILE: &str = "meta.properties";

#[derive(Debug, thiserror::Error)]
pub enum MetaPropertiesError {
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("log dir {} belongs to node.id {found}, but this node is node.id {node_id}", dir.display())]
    OtherNode {
        dir: PathBuf,
        found: String,
        node_id: i32,
    },
    #[error("log dir {} belongs to cluster {found}, but this node is configured for cluster {configured}", dir.display())]
    OtherCluster {
        dir: PathBuf,
        found: String,
        configured: String,
    },
    #[error(
        "cluster id {0:?} is not a valid cluster id: expected a UUID in URL-safe base64 without padding, 22 characters (`runnel random-uuid` prints one)"
    )]
    InvalidClusterId(String),
    #[error("log directory {} is already formatted; use --ignore-formatted to ignore it and format the others", .0.display())]
    AlreadyFormatted(PathBuf),
    #[error(
        "no cluster id: a broker-only node joins its controller's cluster and must be told which one; \
         format its log dirs with `runnel format -t <cluster id> -c <config>` (as kafka-storage format does) \
         or set CLUSTER_ID (or cluster.id) to the controller's cluster id"
    )]
    NoClusterId,
}

/// Creates the log dirs and their `meta.properties`, and checks that every
/// dir belongs to this node and to one cluster. Returns the cluster id: the
/// configured one, else the one the dirs carry, else a new one when
/// `may_create` (a node with the controller role starting a cluster).
pub fn prepare_log_dirs(
    log_dirs: &[PathBuf],
    node_id: i32,
    configured_cluster_id: Option<&str>,
    may_create: bool,
) -> Result<String, MetaPropertiesError> {
    let io_error = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| MetaPropertiesError::Io {
            action,
            path,
            source,
        }
    };
    let mut cluster_id = configured_cluster_id.map(str::to_string);
    for dir in log_dirs {
        let Some(props) = read(dir)? else { continue };
        if let Some(found) = lookup(&props, "node.id")
            && found != node_id.to_string()
        {
            return Err(MetaPropertiesError::OtherNode {
                dir: dir.clone(),
                found: found.to_string(),
                node_id,
            });
        }
        if let Some(found) = lookup(&props, "cluster.id") {
            match &cluster_id {
                Some(c) if c != found => {
                    return Err(MetaPropertiesError::OtherCluster {
                        dir: dir.clone(),
                        found: found.to_string(),
                        configured: c.clone(),
                    });
                }
                _ => cluster_id = Some(found.to_string()),
            }
        }
    }
    let cluster_id = match cluster_id {
        Some(id) => id,
        None if may_create => new_cluster_id(),
        None => return Err(MetaPropertiesError::NoClusterId),
    };
    for dir in log_dirs {
        fs::create_dir_all(dir).map_err(io_error("creating log dir", dir))?;
        match read(dir)? {
            None => write(dir, node_id, &cluster_id, "on first start")?,
            // A dir formatted before KIP-858 gets its id, as Kafka's start
            // gives it one: the broker registers its dirs by id.
            Some(props) if lookup(&props, "directory.id").is_none() => {
                write(dir, node_id, &cluster_id, "adding a directory.id")?
            }
            Some(_) => {}
        }
    }
    Ok(cluster_id)
}

/// The `directory.id` of each formatted log dir that has one (KIP-858), in
/// `log_dirs` order.
pub fn directory_ids(log_dirs: &[PathBuf]) -> Vec<uuid::Uuid> {
    log_dirs
        .iter()
        .filter_map(|dir| read(dir).ok().flatten())
        .filter_map(|props| {
            lookup(&props, "directory.id").and_then(super::manager::parse_kafka_uuid)
        })
        .collect()
}

/// `runnel format` (Kafka's `kafka-storage format`): writes
/// `meta.properties` into every log dir for `cluster_id`. A dir that is
/// already formatted is an error, or with `ignore_formatted` is left as it
/// is (whatever cluster it names: the start-up check reports a mismatch).
/// Returns the dirs formatted now.
pub fn format(
    log_dirs: &[PathBuf],
    node_id: i32,
    cluster_id: &str,
    ignore_formatted: bool,
) -> Result<Vec<PathBuf>, MetaPropertiesError> {
    parse_cluster_id(cluster_id)?;
    let mut todo = Vec::new();
    for dir in log_dirs {
        if dir.join(META_PROPERTIES_FILE).exists() {
            if !ignore_formatted {
                return Err(MetaPropertiesError::AlreadyFormatted(dir.clone()));
            }
        } else {
            todo.push(dir.clone());
        }
    }
    for dir in &todo {
        fs::create_dir_all(dir).map_err(|source| MetaPropertiesError::Io {
            action: "creating log dir",
            path: dir.clone(),
            source,
        })?;
        write(dir, node_id, cluster_id, "by runnel format")?;
    }
    Ok(todo)
}

/// Writes Kafka's v1 (KRaft) `meta.properties`, with a fresh
/// `directory.id` (KIP-858).
fn write(
    dir: &Path,
    node_id: i32,
    cluster_id: &str,
    when: &str,
) -> Result<(), MetaPropertiesError> {
    let directory_id = new_cluster_id();
    let text = format!(
        "# Written by runnel {when}.\nversion=1\nnode.id={node_id}\ncluster.id={cluster_id}\ndirectory.id={directory_id}\n"
    );
    write_file_durably(dir, META_PROPERTIES_FILE, text.as_bytes()).map_err(|source| {
        MetaPropertiesError::Io {
            action: "writing",
            path: dir.join(META_PROPERTIES_FILE),
            source,
        }
    })
}

/// A cluster id as Kafka reads it (`Uuid.fromString`): 16 bytes in
/// URL-safe base64 without padding.
pub fn parse_cluster_id(text: &str) -> Result<uuid::Uuid, MetaPropertiesError> {
    use base64::Engine;
    let invalid = || MetaPropertiesError::InvalidClusterId(text.to_string());
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| invalid())?;
    let bytes: [u8; 16] = bytes.try_into().map_err(|_| invalid())?;
    Ok(uuid::Uuid::from_bytes(bytes))
}

fn encode_uuid(id: uuid::Uuid) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn lookup<'a>(props: &'a [(String, String)], key: &str) -> Option<&'a str> {
    props
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The key/value pairs of `dir/meta.properties`, or None when absent.
pub fn read(dir: &Path) -> Result<Option<Vec<(String, String)>>, MetaPropertiesError> {
    let path = dir.join(META_PROPERTIES_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(MetaPropertiesError::Io {
                action: "reading",
                path,
                source,
            });
        }
    };
    Ok(Some(
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
    ))
}

/// A cluster id as Kafka makes them (`kafka-storage random-uuid`): a random
/// UUID in URL-safe base64 without padding, 22 characters, never starting
/// with '-' (Kafka's `Uuid.randomUuid` draws again then: such an id would
/// read as a flag on a command line, `format -t -F...`).
pub fn new_cluster_id() -> String {
    loop {
        let id = encode_uuid(uuid::Uuid::new_v4());
        if !id.starts_with('-') {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dir_keeps_its_cluster_and_refuses_another_node_or_cluster() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = vec![tmp.path().join("a"), tmp.path().join("b")];
        let id = prepare_log_dirs(&dirs, 1, None, true).unwrap();
        assert_eq!(id.len(), 22);
        assert_eq!(prepare_log_dirs(&dirs, 1, None, true).unwrap(), id);
        assert!(matches!(
            prepare_log_dirs(&dirs, 2, None, true),
            Err(MetaPropertiesError::OtherNode { node_id: 2, .. })
        ));
        assert!(matches!(
            prepare_log_dirs(&dirs, 1, Some("another-cluster-id-xx"), true),
            Err(MetaPropertiesError::OtherCluster { .. })
        ));
        let props = read(&dirs[1]).unwrap().unwrap();
        assert_eq!(lookup(&props, "cluster.id"), Some(id.as_str()));
        assert_eq!(lookup(&props, "version"), Some("1"));
        assert!(
            parse_cluster_id(&id).is_ok(),
            "a generated id is one Kafka reads"
        );
        assert!(lookup(&props, "directory.id").is_some_and(|d| parse_cluster_id(d).is_ok()));
    }

    #[test]
    fn a_dir_formatted_before_directory_ids_gets_one_and_keeps_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a");
        fs::create_dir_all(&dir).unwrap();
        let cluster = "MkU3OEVBNTcwNTJENDM2Qg";
        let old = format!("version=1\nnode.id=1\ncluster.id={cluster}\n");
        fs::write(dir.join(META_PROPERTIES_FILE), old).unwrap();
        let dirs = vec![dir.clone()];
        assert_eq!(prepare_log_dirs(&dirs, 1, None, true).unwrap(), cluster);
        let ids = directory_ids(&dirs);
        assert_eq!(ids.len(), 1);
        prepare_log_dirs(&dirs, 1, None, true).unwrap();
        assert_eq!(directory_ids(&dirs), ids, "written once, then kept");
    }

    #[test]
    fn format_writes_each_dir_once_and_checks_the_cluster_id() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = vec![tmp.path().join("a"), tmp.path().join("b")];
        let id = "MkU3OEVBNTcwNTJENDM2Qg";
        for bad in [
            "",
            "not-a-uuid",
            "MkU3OEVBNTcwNTJENDM2Qg==",
            "MkU3OEVBNTcwNTJENDM2QgAA",
        ] {
            assert!(
                matches!(
                    format(&dirs, 1, bad, false),
                    Err(MetaPropertiesError::InvalidClusterId(_))
                ),
                "{bad}"
            );
        }
        assert!(!dirs[0].exists(), "a refused format touches nothing");
        assert_eq!(
            format(&dirs[..1], 1, id, false).unwrap(),
            dirs[..1].to_vec()
        );
        assert!(matches!(
            format(&dirs, 1, id, false),
            Err(MetaPropertiesError::AlreadyFormatted(d)) if d == dirs[0]
        ));
        // The formatted dir is skipped, the other formatted.
        assert_eq!(format(&dirs, 1, id, true).unwrap(), dirs[1..].to_vec());
        assert_eq!(format(&dirs, 1, id, true).unwrap(), Vec::<PathBuf>::new());
        // A node then starts on them under that cluster id.
        assert_eq!(prepare_log_dirs(&dirs, 1, None, true).unwrap(), id);
    }
}
