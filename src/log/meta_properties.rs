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
}

/// Creates the log dirs and their `meta.properties`, and checks that every
/// dir belongs to this node and to one cluster. Returns the cluster id: the
/// configured one, else the one the dirs carry, else a new one.
pub fn prepare_log_dirs(
    log_dirs: &[PathBuf],
    node_id: i32,
    configured_cluster_id: Option<&str>,
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
        fs::create_dir_all(dir).map_err(io_error("creating log dir", dir))?;
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
    let cluster_id = cluster_id.unwrap_or_else(new_cluster_id);
    for dir in log_dirs {
        let path = dir.join(META_PROPERTIES_FILE);
        if !path.exists() {
            let text = format!(
                "# Written by runnel on first start.\nversion=1\nnode.id={node_id}\ncluster.id={cluster_id}\n"
            );
            write_file_durably(dir, META_PROPERTIES_FILE, text.as_bytes())
                .map_err(io_error("writing", &path))?;
        }
    }
    Ok(cluster_id)
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

/// A cluster id as Kafka makes them: a random UUID in URL-safe base64, 22 characters.
pub fn new_cluster_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bits = uuid::Uuid::new_v4().as_u128();
    (0..22)
        .map(|i| ALPHABET[((bits >> (i * 6)) & 63) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dir_keeps_its_cluster_and_refuses_another_node_or_cluster() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = vec![tmp.path().join("a"), tmp.path().join("b")];
        let id = prepare_log_dirs(&dirs, 1, None).unwrap();
        assert_eq!(id.len(), 22);
        assert_eq!(prepare_log_dirs(&dirs, 1, None).unwrap(), id);
        assert!(matches!(
            prepare_log_dirs(&dirs, 2, None),
            Err(MetaPropertiesError::OtherNode { node_id: 2, .. })
        ));
        assert!(matches!(
            prepare_log_dirs(&dirs, 1, Some("another-cluster-id-xx")),
            Err(MetaPropertiesError::OtherCluster { .. })
        ));
        let props = read(&dirs[1]).unwrap().unwrap();
        assert_eq!(lookup(&props, "cluster.id"), Some(id.as_str()));
        assert_eq!(lookup(&props, "version"), Some("1"));
    }
}
