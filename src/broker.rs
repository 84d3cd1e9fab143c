//! The running node: the handles every request handler needs, and the
//! start-up order that builds them. Start: log dirs (meta.properties) →
//! log manager → metadata log replayed into the image → replica manager
//! applies the image → controller → group coordinator (replays
//! `__consumer_offsets`). Shutdown runs the reverse, in
//! [`Broker::shutdown`].

use std::fs;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use crate::config::BrokerConfig;
use crate::controller::Controller;
use crate::coordinator::service::GroupCoordinator;
use crate::log::dir_lock::LogDirLocks;
use crate::log::{LogConfig, LogManager};
use crate::metadata::MetadataCache;
use crate::metadata::store::{METADATA_TOPIC, MetadataStore};
use crate::partition::ReplicaManager;

pub struct Broker {
    /// Held for the life of the node: no other process may open the logs.
    _log_dir_locks: LogDirLocks,
    pub config: Arc<BrokerConfig>,
    pub cluster_id: String,
    pub metadata: Arc<MetadataCache>,
    pub replicas: Arc<ReplicaManager>,
    pub controller: Arc<Controller>,
    pub groups: Arc<GroupCoordinator>,
}

impl Broker {
    /// Opens the data directories (whose locks the caller took) and
    /// rebuilds all state from disk.
    pub fn start(config: BrokerConfig, log_dir_locks: LogDirLocks) -> anyhow::Result<Broker> {
        let config = Arc::new(config);
        let cluster_id = prepare_log_dirs(&config)?;
        let now = crate::now_ms();
        let logs = Arc::new(
            LogManager::open(
                &config.log_dirs,
                crate::config::topic::resolve_log_config(&Default::default(), &config),
                now,
            )
            .context("opening log directories")?,
        );
        let metadata_log = logs
            .get_or_create(METADATA_TOPIC, 0, None, metadata_log_config(), now)
            .context("opening the metadata log")?;
        metadata_log.update_config(metadata_log_config());
        let store = MetadataStore::new(metadata_log);
        let image = store.load().context("replaying the metadata log")?;
        tracing::info!(
            topics = image.topics.len(),
            metadata_offset = image.offset,
            "metadata loaded"
        );
        let metadata = Arc::new(MetadataCache::new(image));
        let replicas = Arc::new(ReplicaManager::new(config.clone(), logs));
        replicas.apply_image(&metadata.current(), now);
        let controller = Arc::new(Controller::new(
            config.node_id,
            store,
            metadata.clone(),
            replicas.clone(),
        ));
        let groups = GroupCoordinator::new(
            config.clone(),
            metadata.clone(),
            replicas.clone(),
            controller.clone(),
        );
        let loaded = groups
            .load()
            .context("loading consumer groups from __consumer_offsets")?;
        tracing::info!(groups = loaded, "consumer groups loaded");
        let groups_listener: std::sync::Weak<GroupCoordinator> = Arc::downgrade(&groups);
        controller.add_listener(groups_listener);
        Ok(Broker {
            _log_dir_locks: log_dir_locks,
            config,
            cluster_id,
            metadata,
            replicas,
            controller,
            groups,
        })
    }

    /// The broker config in effect: the static config with the dynamic
    /// broker configs of the current metadata image laid over it.
    pub fn effective_config(&self) -> Arc<BrokerConfig> {
        self.replicas.effective_config()
    }

    /// Periodic work: retention, the recovery point, and producer-state
    /// snapshots of the partitions whose state changed (they bound the log
    /// replay after a crash).
    pub fn run_maintenance(&self) {
        let now = crate::now_ms();
        self.replicas.logs().run_maintenance(now);
        self.replicas.checkpoint_all(now, false);
    }

    /// Writes producer snapshots, flushes and closes every log with the
    /// clean-shutdown marker. Called once, after the listeners stopped.
    pub fn shutdown(&self) {
        self.replicas.checkpoint_all(crate::now_ms(), true);
        if let Err(e) = self.replicas.logs().shutdown() {
            tracing::error!(error = %e, "log shutdown failed; the next start will recover");
        }
    }
}

/// The metadata log is never deleted by retention.
fn metadata_log_config() -> LogConfig {
    LogConfig {
        retention_ms: -1,
        retention_bytes: -1,
        segment_bytes: 64 * 1024 * 1024,
        ..LogConfig::default()
    }
}

/// Creates the log dirs and their `meta.properties` (Kafka's format:
/// `version`, `node.id`, `cluster.id`), and checks that every dir belongs
/// to this node and one cluster. Returns the cluster id.
fn prepare_log_dirs(config: &BrokerConfig) -> anyhow::Result<String> {
    let mut cluster_id = config.cluster_id.clone();
    for dir in &config.log_dirs {
        fs::create_dir_all(dir).with_context(|| format!("creating log dir {}", dir.display()))?;
        if let Some(props) = read_meta_properties(dir)? {
            if let Some(node) = props
                .iter()
                .find(|(k, _)| k == "node.id")
                .map(|(_, v)| v.clone())
                && node != config.node_id.to_string()
            {
                anyhow::bail!(
                    "log dir {} belongs to node.id {node}, but this node is node.id {}",
                    dir.display(),
                    config.node_id
                );
            }
            if let Some(found) = props
                .iter()
                .find(|(k, _)| k == "cluster.id")
                .map(|(_, v)| v.clone())
            {
                match &cluster_id {
                    Some(c) if *c != found => anyhow::bail!(
                        "log dir {} belongs to cluster {found}, but this node is configured for cluster {c}",
                        dir.display()
                    ),
                    _ => cluster_id = Some(found),
                }
            }
        }
    }
    let cluster_id = cluster_id.unwrap_or_else(new_cluster_id);
    for dir in &config.log_dirs {
        let path = dir.join("meta.properties");
        if !path.exists() {
            let text = format!(
                "# Written by runnel on first start.\nversion=1\nnode.id={}\ncluster.id={}\n",
                config.node_id, cluster_id
            );
            write_durably(&path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(cluster_id)
}

fn read_meta_properties(dir: &Path) -> anyhow::Result<Option<Vec<(String, String)>>> {
    let path = dir.join("meta.properties");
    if !path.exists() {
        return Ok(None);
    }
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
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
fn new_cluster_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bits = uuid::Uuid::new_v4().as_u128();
    (0..22)
        .map(|i| ALPHABET[((bits >> (i * 6)) & 63) as usize] as char)
        .collect()
}

fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}
