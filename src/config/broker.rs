//! The typed broker configuration built from the merged raw key/value map.
//!
//! Time keys follow Kafka's precedence: `log.retention.ms` over
//! `log.retention.minutes` over `log.retention.hours`, `log.roll.ms` over
//! `log.roll.hours` (same for the jitter keys); a negative retention means
//! "keep forever" and is normalised to -1.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::catalogue::{DEFAULT_SECURITY_PROTOCOL_MAP, INERT_KEYS, broker_key};
use super::types::{
    CleanupPolicy, CompressionType, ConfigOrigin, Listener, LogFormat, ProcessRole,
    SecurityProtocol,
};
use super::{ConfigError, ConfigSource};
use crate::log::TimestampType;

/// The effective static configuration of this node. Built once at startup by
/// [`load`](super::load); read-only afterwards.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    pub node_id: i32,
    pub process_roles: Vec<ProcessRole>,
    pub cluster_id: Option<String>,
    pub listeners: Vec<Listener>,
    /// The effective advertised listeners: `advertised.listeners`, or the
    /// non-controller listeners with wildcard hosts replaced by the hostname.
    pub advertised_listeners: Vec<Listener>,
    /// Listener name → security protocol.
    pub listener_security_protocol_map: BTreeMap<String, SecurityProtocol>,
    pub inter_broker_listener_name: String,
    pub controller_listener_names: Vec<String>,
    pub controller_quorum_voters: String,
    /// `host:port` of the controller a broker-only node reaches (from
    /// `controller.quorum.voters`, else `controller.quorum.bootstrap.servers`);
    /// empty on a combined node, whose controller is itself.
    pub controller_addresses: Vec<String>,
    /// How long a broker waits at start-up for the controller to register
    /// and unfence it.
    pub initial_broker_registration_timeout_ms: i32,
    /// `controller.quorum.request.timeout.ms`.
    pub controller_quorum_request_timeout_ms: i32,
    pub log_dirs: Vec<PathBuf>,
    pub num_partitions: i32,
    pub default_replication_factor: i32,
    pub min_insync_replicas: i32,
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    pub message_max_bytes: i32,
    pub socket_request_max_bytes: i32,
    pub replica_fetch_max_bytes: i32,
    /// `replica.fetch.wait.max.ms`.
    pub replica_fetch_wait_max_ms: i32,
    /// `replica.fetch.min.bytes`.
    pub replica_fetch_min_bytes: i32,
    /// `replica.fetch.response.max.bytes`.
    pub replica_fetch_response_max_bytes: i32,
    /// `replica.fetch.backoff.ms`.
    pub replica_fetch_backoff_ms: i32,
    /// `replica.socket.timeout.ms`.
    pub replica_socket_timeout_ms: i32,
    pub fetch_max_bytes: i32,
    pub queued_max_requests: i32,
    /// `num.recovery.threads.per.data.dir`: logs opened (recovered after a
    /// crash) at a time in each log dir.
    pub num_recovery_threads_per_data_dir: i32,
    pub max_connections: i32,
    pub connections_max_idle_ms: i64,
    pub log_segment_bytes: i32,
    pub log_roll_ms: i64,
    pub log_roll_jitter_ms: i64,
    pub log_retention_ms: i64,
    pub log_retention_bytes: i64,
    pub log_index_interval_bytes: i32,
    pub log_index_size_max_bytes: i32,
    pub log_flush_interval_messages: i64,
    pub log_flush_interval_ms: i64,
    pub log_flush_scheduler_interval_ms: i64,
    /// `metadata.log.max.record.bytes.between.snapshots`.
    pub metadata_snapshot_max_bytes: i64,
    /// `metadata.log.max.snapshot.interval.ms`.
    pub metadata_snapshot_interval_ms: i64,
    pub log_retention_check_interval_ms: i64,
    pub log_segment_delete_delay_ms: i64,
    pub log_message_timestamp_type: TimestampType,
    pub log_message_timestamp_before_max_ms: i64,
    pub log_message_timestamp_after_max_ms: i64,
    pub log_cleanup_policy: CleanupPolicy,
    /// The `log.cleaner.*` keys.
    pub log_cleaner: LogCleanerConfig,
    pub compression_type: CompressionType,
    pub offsets_topic_num_partitions: i32,
    pub offsets_topic_replication_factor: i16,
    pub offsets_retention_minutes: i32,
    pub transaction_state_log_num_partitions: i32,
    pub transaction_state_log_replication_factor: i16,
    pub transaction_state_log_min_isr: i32,
    pub transactional_id_expiration_ms: i32,
    pub transaction_max_timeout_ms: i32,
    pub group_initial_rebalance_delay_ms: i32,
    pub group_min_session_timeout_ms: i32,
    pub group_max_session_timeout_ms: i32,
    pub group_max_size: i32,
    pub offsets_retention_check_interval_ms: i64,
    pub offsets_topic_segment_bytes: i32,
    pub offset_metadata_max_bytes: i32,
    pub group_consumer_session_timeout_ms: i32,
    pub group_consumer_heartbeat_interval_ms: i32,
    pub group_consumer_max_size: i32,
    pub producer_id_expiration_ms: i32,
    pub unclean_leader_election_enable: bool,
    /// `auto.leader.rebalance.enable`.
    pub auto_leader_rebalance_enable: bool,
    /// `leader.imbalance.check.interval.seconds`.
    pub leader_imbalance_check_interval_seconds: i64,
    pub replica_lag_time_max_ms: i64,
    /// `replica.high.watermark.checkpoint.interval.ms`.
    pub replica_high_watermark_checkpoint_interval_ms: i64,
    pub broker_rack: Option<String>,
    /// `broker.heartbeat.interval.ms`.
    pub broker_heartbeat_interval_ms: i32,
    /// `broker.session.timeout.ms`.
    pub broker_session_timeout_ms: i32,
    /// `runnel.metrics.listener`; `None` when set to the empty string.
    pub metrics_listener: Option<String>,
    /// `runnel.log.filter`.
    pub log_filter: String,
    /// `runnel.log.format`.
    pub log_format: LogFormat,
    /// Final value of every key that was set by any source, by Kafka name,
    /// unknown keys included.
    pub raw: BTreeMap<String, String>,
    /// DescribeConfigs source of every set key (all static today).
    pub sources: BTreeMap<String, ConfigSource>,
    /// Which input set each key in `raw`.
    pub origins: BTreeMap<String, ConfigOrigin>,
}

/// Kafka's `CleanerConfig`: the broker's log cleaner settings and the
/// broker defaults of the topic compaction configs.
#[derive(Debug, Clone, PartialEq)]
pub struct LogCleanerConfig {
    /// `log.cleaner.enable`.
    pub enable: bool,
    /// `log.cleaner.threads`: logs cleaned at the same time.
    pub threads: i32,
    /// `log.cleaner.backoff.ms`: the pause when no log needs cleaning.
    pub backoff_ms: i64,
    /// `log.cleaner.dedupe.buffer.size`: memory of the offset maps, shared
    /// by the threads.
    pub dedupe_buffer_size: i64,
    /// `log.cleaner.io.max.bytes.per.second`: read plus write throttle.
    pub io_max_bytes_per_second: f64,
    /// `log.cleaner.min.cleanable.ratio`.
    pub min_cleanable_ratio: f64,
    /// `log.cleaner.min.compaction.lag.ms`.
    pub min_compaction_lag_ms: i64,
    /// `log.cleaner.max.compaction.lag.ms`.
    pub max_compaction_lag_ms: i64,
    /// `log.cleaner.delete.retention.ms`.
    pub delete_retention_ms: i64,
}

impl Default for BrokerConfig {
    /// The built-in defaults, as `load` returns them with no input at all.
    fn default() -> Self {
        build(BTreeMap::new(), BTreeMap::new(), &super::machine_hostname())
            .expect("the built-in defaults are valid (tested)")
    }
}

impl BrokerConfig {
    /// The address clients should use for `listener_name`: its advertised
    /// entry, else (e.g. for a controller listener) the listener itself with
    /// a wildcard host replaced by the machine's hostname. `None` when no
    /// listener has that name.
    pub fn advertised_for(&self, listener_name: &str) -> Option<Listener> {
        let name = listener_name.to_ascii_uppercase();
        if let Some(l) = self.advertised_listeners.iter().find(|l| l.name == name) {
            return Some(l.clone());
        }
        let listener = self.listeners.iter().find(|l| l.name == name)?;
        let mut listener = listener.clone();
        if listener.is_wildcard_host() {
            listener.host = super::machine_hostname();
        }
        Some(listener)
    }

    /// True when this node runs the broker role.
    pub fn is_broker(&self) -> bool {
        self.process_roles.contains(&ProcessRole::Broker)
    }

    /// True when this node runs the controller role.
    pub fn is_controller(&self) -> bool {
        self.process_roles.contains(&ProcessRole::Controller)
    }

    /// The value of `key` in effect: what was set, else the catalogue default.
    pub fn value_of(&self, key: &str) -> Option<&str> {
        self.raw
            .get(key)
            .map(String::as_str)
            .or_else(|| broker_key(key).and_then(|d| d.default))
    }

    /// The keys some source set that Runnel accepts but does not act on
    /// yet ([`INERT_KEYS`]), in that table's order.
    pub fn inert_keys_set(&self) -> Vec<&'static str> {
        INERT_KEYS
            .iter()
            .copied()
            .filter(|k| self.raw.contains_key(*k))
            .collect()
    }

    /// True when some source set `key`.
    pub fn is_set(&self, key: &str) -> bool {
        self.raw.contains_key(key)
    }

    /// This config with dynamic broker configs laid over it: the
    /// cluster-wide defaults, then this broker's own (which win), as Kafka
    /// orders them. Fails, naming the key, when a value does not check.
    pub fn with_dynamic(
        &self,
        cluster_default: &BTreeMap<String, String>,
        this_broker: &BTreeMap<String, String>,
    ) -> Result<BrokerConfig, ConfigError> {
        let mut raw = self.raw.clone();
        let mut origins = self.origins.clone();
        for (layer, default) in [(cluster_default, true), (this_broker, false)] {
            for (key, value) in layer {
                if let Some(def) = broker_key(key) {
                    super::catalogue::check_value(def, value)?;
                }
                raw.insert(key.clone(), value.clone());
                origins.insert(key.clone(), ConfigOrigin::Dynamic { default });
            }
        }
        build(raw, origins, &super::machine_hostname())
    }
}

/// Reads typed values out of the raw map, falling back to catalogue defaults.
struct Lookup<'a> {
    raw: &'a BTreeMap<String, String>,
}

impl Lookup<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.raw
            .get(key)
            .map(String::as_str)
            .or_else(|| broker_key(key).and_then(|d| d.default))
    }

    fn set(&self, key: &str) -> Option<&str> {
        self.raw.get(key).map(String::as_str)
    }

    fn parse<T: std::str::FromStr>(&self, key: &str, what: &str) -> Result<T, ConfigError> {
        let value = self.get(key).unwrap_or("");
        value
            .parse::<T>()
            .map_err(|_| ConfigError::invalid(key, value, what))
    }

    fn i32(&self, key: &str) -> Result<i32, ConfigError> {
        self.parse(key, "an integer")
    }

    fn i16(&self, key: &str) -> Result<i16, ConfigError> {
        self.parse(key, "a short integer")
    }

    fn i64(&self, key: &str) -> Result<i64, ConfigError> {
        self.parse(key, "a long integer")
    }

    fn bool(&self, key: &str) -> Result<bool, ConfigError> {
        let value = self.get(key).unwrap_or("");
        match value.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(ConfigError::invalid(key, value, "true or false")),
        }
    }

    fn string(&self, key: &str) -> String {
        self.get(key).unwrap_or("").to_string()
    }

    fn non_empty(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.is_empty()).map(str::to_string)
    }

    /// `ms` key over a coarser unit key, in milliseconds.
    fn millis(&self, ms_key: &str, coarse: &[(&str, i64)]) -> Result<i64, ConfigError> {
        if self.set(ms_key).is_some() {
            return self.i64(ms_key);
        }
        for (key, factor) in coarse {
            if self.set(key).is_some() {
                return Ok(self.i64(key)?.saturating_mul(*factor));
            }
        }
        let (key, factor) = coarse.last().expect("at least one coarse key");
        Ok(self.i64(key)?.saturating_mul(*factor))
    }
}

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;

fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Builds and cross-checks the typed config. Every known key in `raw` has
/// already passed its catalogue check.
pub(crate) fn build(
    raw: BTreeMap<String, String>,
    origins: BTreeMap<String, ConfigOrigin>,
    hostname: &str,
) -> Result<BrokerConfig, ConfigError> {
    let v = Lookup { raw: &raw };

    // node.id, with Kafka's older broker.id accepted as a stand-in.
    let node_id = match (v.set("node.id"), v.set("broker.id")) {
        (Some(_), Some(_)) if v.i32("node.id")? != v.i32("broker.id")? => {
            return Err(ConfigError::invalid(
                "broker.id",
                &v.string("broker.id"),
                format!("the same id as node.id ({})", v.string("node.id")),
            ));
        }
        (None, Some(_)) if v.i32("broker.id")? >= 0 => v.i32("broker.id")?,
        _ => v.i32("node.id")?,
    };
    if node_id < 0 {
        return Err(ConfigError::invalid(
            "node.id",
            &node_id.to_string(),
            "an integer >= 0",
        ));
    }

    let roles_text = v.string("process.roles");
    let mut process_roles = Vec::new();
    for role in split_list(&roles_text) {
        let role = match role {
            "broker" => ProcessRole::Broker,
            "controller" => ProcessRole::Controller,
            _ => {
                return Err(ConfigError::invalid(
                    "process.roles",
                    &roles_text,
                    "broker, controller or both",
                ));
            }
        };
        if process_roles.contains(&role) {
            return Err(ConfigError::invalid(
                "process.roles",
                &roles_text,
                "each role at most once",
            ));
        }
        process_roles.push(role);
    }
    if process_roles.is_empty() {
        return Err(ConfigError::invalid(
            "process.roles",
            &roles_text,
            "broker, controller or both",
        ));
    }
    process_roles.sort();
    let controller_addresses = check_quorum(
        node_id,
        &process_roles,
        &v.string("controller.quorum.voters"),
        &v.string("controller.quorum.bootstrap.servers"),
    )?;

    // Listeners and their security protocols.
    let listeners_text = v.string("listeners");
    let listeners = Listener::parse_list(&listeners_text)
        .map_err(|e| ConfigError::invalid("listeners", &listeners_text, e))?;
    if listeners.is_empty() {
        return Err(ConfigError::invalid(
            "listeners",
            &listeners_text,
            "at least one NAME://host:port",
        ));
    }
    check_unique_names("listeners", &listeners_text, &listeners)?;

    let map_text = v
        .get("listener.security.protocol.map")
        .unwrap_or(DEFAULT_SECURITY_PROTOCOL_MAP)
        .to_string();
    let listener_security_protocol_map = parse_protocol_map(&map_text)?;
    for l in &listeners {
        match listener_security_protocol_map.get(&l.name) {
            None => {
                return Err(ConfigError::invalid(
                    "listener.security.protocol.map",
                    &map_text,
                    format!("an entry for listener {}", l.name),
                ));
            }
            Some(SecurityProtocol::Plaintext) => {}
            Some(other) => {
                return Err(ConfigError::Unsupported {
                    key: "listeners".to_string(),
                    value: l.to_string(),
                    reason: format!(
                        "listener {} uses security protocol {}; only PLAINTEXT is supported",
                        l.name,
                        other.as_str()
                    ),
                });
            }
        }
    }

    let controller_text = v.string("controller.listener.names");
    let controller_listener_names: Vec<String> = split_list(&controller_text)
        .map(str::to_ascii_uppercase)
        .collect();
    if process_roles == [ProcessRole::Broker] {
        // Kafka's own checks (`KafkaConfig.validateControllerListenerNames`).
        if controller_listener_names.is_empty() {
            return Err(ConfigError::invalid(
                "controller.listener.names",
                &controller_text,
                "at least one listener name when running KRaft with just the broker role \
                 (the listener name of the controller this broker connects to)",
            ));
        }
        if let Some(both) = controller_listener_names
            .iter()
            .find(|n| listeners.iter().any(|l| &l.name == *n))
        {
            return Err(ConfigError::invalid(
                "controller.listener.names",
                &controller_text,
                format!(
                    "no name appearing in listeners when running KRaft with just the broker role ({both} does)"
                ),
            ));
        }
    }
    if process_roles == [ProcessRole::Controller]
        && let Some(client) = listeners
            .iter()
            .find(|l| !controller_listener_names.contains(&l.name))
    {
        return Err(ConfigError::invalid(
            "listeners",
            &listeners_text,
            format!(
                "only the controller listeners of controller.listener.names when process.roles=controller ({} is not one)",
                client.name
            ),
        ));
    }
    if process_roles.contains(&ProcessRole::Controller) {
        if let Some(missing) = controller_listener_names
            .iter()
            .find(|n| !listeners.iter().any(|l| &l.name == *n))
        {
            return Err(ConfigError::invalid(
                "controller.listener.names",
                &controller_text,
                format!("names of entries in listeners ({missing} is not one)"),
            ));
        }
    }

    // An empty value (e.g. `KAFKA_ADVERTISED_LISTENERS=`) means "not set".
    let advertised_listeners = match v
        .set("advertised.listeners")
        .filter(|s| !s.trim().is_empty())
    {
        Some(text) => {
            let parsed = Listener::parse_list(text)
                .map_err(|e| ConfigError::invalid("advertised.listeners", text, e))?;
            check_unique_names("advertised.listeners", text, &parsed)?;
            let mut out = Vec::with_capacity(parsed.len());
            for mut l in parsed {
                if !listeners.iter().any(|b| b.name == l.name) {
                    return Err(ConfigError::invalid(
                        "advertised.listeners",
                        text,
                        format!("listener names defined in listeners ({} is not)", l.name),
                    ));
                }
                if l.is_wildcard_host() && !l.host.is_empty() {
                    return Err(ConfigError::invalid(
                        "advertised.listeners",
                        text,
                        format!(
                            "a routable host for {} (clients cannot connect to {})",
                            l.name, l.host
                        ),
                    ));
                }
                if l.host.is_empty() {
                    l.host = hostname.to_string();
                }
                out.push(l);
            }
            out
        }
        None => listeners
            .iter()
            .filter(|l| !controller_listener_names.contains(&l.name))
            .map(|l| {
                let mut l = l.clone();
                if l.is_wildcard_host() {
                    l.host = hostname.to_string();
                }
                l
            })
            .collect(),
    };

    let inter_broker_listener_name = v.string("inter.broker.listener.name").to_ascii_uppercase();
    if process_roles.contains(&ProcessRole::Broker)
        && !advertised_listeners
            .iter()
            .any(|l| l.name == inter_broker_listener_name)
    {
        return Err(ConfigError::invalid(
            "inter.broker.listener.name",
            &inter_broker_listener_name,
            "the name of a broker listener in listeners/advertised.listeners",
        ));
    }

    // Storage.
    let dirs_key = if v.set("log.dirs").is_some_and(|s| !s.trim().is_empty()) {
        "log.dirs"
    } else {
        "log.dir"
    };
    let dirs_text = v.string(dirs_key);
    let log_dirs: Vec<PathBuf> = split_list(&dirs_text).map(PathBuf::from).collect();
    if log_dirs.is_empty() {
        return Err(ConfigError::invalid(
            dirs_key,
            &dirs_text,
            "at least one directory",
        ));
    }

    let log_retention_ms = v
        .millis(
            "log.retention.ms",
            &[
                ("log.retention.minutes", MINUTE_MS),
                ("log.retention.hours", HOUR_MS),
            ],
        )?
        .max(-1);
    let log_roll_ms = v.millis("log.roll.ms", &[("log.roll.hours", HOUR_MS)])?;
    let log_roll_jitter_ms =
        v.millis("log.roll.jitter.ms", &[("log.roll.jitter.hours", HOUR_MS)])?;
    let log_flush_scheduler_interval_ms = v.i64("log.flush.scheduler.interval.ms")?;
    let metadata_snapshot_max_bytes = v.i64("metadata.log.max.record.bytes.between.snapshots")?;
    let metadata_snapshot_interval_ms = v.i64("metadata.log.max.snapshot.interval.ms")?;
    let log_flush_interval_ms = match v.set("log.flush.interval.ms") {
        Some(_) => v.i64("log.flush.interval.ms")?,
        None => log_flush_scheduler_interval_ms,
    };

    let ts_text = v.string("log.message.timestamp.type");
    let log_message_timestamp_type = match ts_text.as_str() {
        "CreateTime" => TimestampType::CreateTime,
        "LogAppendTime" => TimestampType::LogAppendTime,
        _ => {
            return Err(ConfigError::invalid(
                "log.message.timestamp.type",
                &ts_text,
                "CreateTime or LogAppendTime",
            ));
        }
    };
    let policy_text = v.string("log.cleanup.policy");
    let log_cleanup_policy = CleanupPolicy::parse(&policy_text).ok_or_else(|| {
        ConfigError::invalid(
            "log.cleanup.policy",
            &policy_text,
            "delete, compact or compact,delete",
        )
    })?;
    let compression_text = v.string("compression.type");
    let compression_type = CompressionType::parse(&compression_text).ok_or_else(|| {
        ConfigError::invalid(
            "compression.type",
            &compression_text,
            "uncompressed, zstd, lz4, snappy, gzip or producer",
        )
    })?;
    let log_format = match v.string("runnel.log.format").as_str() {
        "json" => LogFormat::Json,
        "text" => LogFormat::Text,
        other => {
            return Err(ConfigError::invalid(
                "runnel.log.format",
                other,
                "text or json",
            ));
        }
    };

    let sources = raw
        .keys()
        .map(|k| (k.clone(), ConfigSource::StaticBroker))
        .collect();
    Ok(BrokerConfig {
        node_id,
        process_roles,
        cluster_id: v.non_empty("cluster.id"),
        listeners,
        advertised_listeners,
        listener_security_protocol_map,
        inter_broker_listener_name,
        controller_listener_names,
        controller_quorum_voters: v.string("controller.quorum.voters"),
        controller_addresses,
        initial_broker_registration_timeout_ms: v.i32("initial.broker.registration.timeout.ms")?,
        controller_quorum_request_timeout_ms: v.i32("controller.quorum.request.timeout.ms")?,
        log_dirs,
        num_partitions: v.i32("num.partitions")?,
        default_replication_factor: v.i32("default.replication.factor")?,
        min_insync_replicas: v.i32("min.insync.replicas")?,
        auto_create_topics_enable: v.bool("auto.create.topics.enable")?,
        delete_topic_enable: v.bool("delete.topic.enable")?,
        message_max_bytes: v.i32("message.max.bytes")?,
        socket_request_max_bytes: v.i32("socket.request.max.bytes")?,
        replica_fetch_max_bytes: v.i32("replica.fetch.max.bytes")?,
        replica_fetch_wait_max_ms: v.i32("replica.fetch.wait.max.ms")?,
        replica_fetch_min_bytes: v.i32("replica.fetch.min.bytes")?,
        replica_fetch_response_max_bytes: v.i32("replica.fetch.response.max.bytes")?,
        replica_fetch_backoff_ms: v.i32("replica.fetch.backoff.ms")?,
        replica_socket_timeout_ms: v.i32("replica.socket.timeout.ms")?,
        fetch_max_bytes: v.i32("fetch.max.bytes")?,
        queued_max_requests: v.i32("queued.max.requests")?,
        num_recovery_threads_per_data_dir: v.i32("num.recovery.threads.per.data.dir")?,
        max_connections: v.i32("max.connections")?,
        connections_max_idle_ms: v.i64("connections.max.idle.ms")?,
        log_segment_bytes: v.i32("log.segment.bytes")?,
        log_roll_ms,
        log_roll_jitter_ms,
        log_retention_ms,
        log_retention_bytes: v.i64("log.retention.bytes")?,
        log_index_interval_bytes: v.i32("log.index.interval.bytes")?,
        log_index_size_max_bytes: v.i32("log.index.size.max.bytes")?,
        log_flush_interval_messages: v.i64("log.flush.interval.messages")?,
        log_flush_interval_ms,
        log_flush_scheduler_interval_ms,
        metadata_snapshot_max_bytes,
        metadata_snapshot_interval_ms,
        log_retention_check_interval_ms: v.i64("log.retention.check.interval.ms")?,
        log_segment_delete_delay_ms: v.i64("log.segment.delete.delay.ms")?,
        log_message_timestamp_type,
        log_message_timestamp_before_max_ms: v.i64("log.message.timestamp.before.max.ms")?,
        log_message_timestamp_after_max_ms: v.i64("log.message.timestamp.after.max.ms")?,
        log_cleanup_policy,
        compression_type,
        offsets_topic_num_partitions: v.i32("offsets.topic.num.partitions")?,
        offsets_topic_replication_factor: v.i16("offsets.topic.replication.factor")?,
        offsets_retention_minutes: v.i32("offsets.retention.minutes")?,
        transaction_state_log_num_partitions: v.i32("transaction.state.log.num.partitions")?,
        transaction_state_log_replication_factor: v
            .i16("transaction.state.log.replication.factor")?,
        transaction_state_log_min_isr: v.i32("transaction.state.log.min.isr")?,
        transactional_id_expiration_ms: v.i32("transactional.id.expiration.ms")?,
        transaction_max_timeout_ms: v.i32("transaction.max.timeout.ms")?,
        group_initial_rebalance_delay_ms: v.i32("group.initial.rebalance.delay.ms")?,
        group_min_session_timeout_ms: v.i32("group.min.session.timeout.ms")?,
        group_max_session_timeout_ms: v.i32("group.max.session.timeout.ms")?,
        group_max_size: v.i32("group.max.size")?,
        offsets_retention_check_interval_ms: v.i64("offsets.retention.check.interval.ms")?,
        offsets_topic_segment_bytes: v.i32("offsets.topic.segment.bytes")?,
        offset_metadata_max_bytes: v.i32("offset.metadata.max.bytes")?,
        group_consumer_session_timeout_ms: v.i32("group.consumer.session.timeout.ms")?,
        group_consumer_heartbeat_interval_ms: v.i32("group.consumer.heartbeat.interval.ms")?,
        group_consumer_max_size: v.i32("group.consumer.max.size")?,
        producer_id_expiration_ms: v.i32("producer.id.expiration.ms")?,
        log_cleaner: LogCleanerConfig {
            enable: v.bool("log.cleaner.enable")?,
            threads: v.i32("log.cleaner.threads")?,
            backoff_ms: v.i64("log.cleaner.backoff.ms")?,
            dedupe_buffer_size: v.i64("log.cleaner.dedupe.buffer.size")?,
            io_max_bytes_per_second: v.parse("log.cleaner.io.max.bytes.per.second", "a number")?,
            min_cleanable_ratio: v.parse("log.cleaner.min.cleanable.ratio", "a number")?,
            min_compaction_lag_ms: v.i64("log.cleaner.min.compaction.lag.ms")?,
            max_compaction_lag_ms: v.i64("log.cleaner.max.compaction.lag.ms")?,
            delete_retention_ms: v.i64("log.cleaner.delete.retention.ms")?,
        },
        unclean_leader_election_enable: v.bool("unclean.leader.election.enable")?,
        auto_leader_rebalance_enable: v.bool("auto.leader.rebalance.enable")?,
        leader_imbalance_check_interval_seconds: v
            .i64("leader.imbalance.check.interval.seconds")?,
        replica_lag_time_max_ms: v.i64("replica.lag.time.max.ms")?,
        replica_high_watermark_checkpoint_interval_ms: v
            .i64("replica.high.watermark.checkpoint.interval.ms")?,
        broker_rack: v.non_empty("broker.rack"),
        broker_heartbeat_interval_ms: v.i32("broker.heartbeat.interval.ms")?,
        broker_session_timeout_ms: v.i32("broker.session.timeout.ms")?,
        metrics_listener: v.non_empty("runnel.metrics.listener"),
        log_filter: v.string("runnel.log.filter"),
        log_format,
        sources,
        origins,
        raw,
    })
}

fn check_unique_names(key: &str, text: &str, listeners: &[Listener]) -> Result<(), ConfigError> {
    let mut seen = BTreeSet::new();
    for l in listeners {
        if !seen.insert(l.name.as_str()) {
            return Err(ConfigError::invalid(
                key,
                text,
                format!("unique listener names ({} appears twice)", l.name),
            ));
        }
    }
    Ok(())
}

fn parse_protocol_map(text: &str) -> Result<BTreeMap<String, SecurityProtocol>, ConfigError> {
    let mut map = BTreeMap::new();
    for entry in split_list(text) {
        let parsed = entry
            .split_once(':')
            .and_then(|(name, proto)| Some((name.trim(), SecurityProtocol::parse(proto)?)))
            .filter(|(name, _)| !name.is_empty());
        let Some((name, proto)) = parsed else {
            return Err(ConfigError::invalid(
                "listener.security.protocol.map",
                text,
                "NAME:PROTOCOL pairs with PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
            ));
        };
        if map.insert(name.to_ascii_uppercase(), proto).is_some() {
            return Err(ConfigError::invalid(
                "listener.security.protocol.map",
                text,
                format!("each listener name once ({name} appears twice)"),
            ));
        }
    }
    Ok(map)
}

/// The controllers a node's config names, checked against its roles.
/// Until the KRaft quorum of several voters exists (a later issue) a
/// quorum is one controller: a combined or controller-only node is its own
/// (voters empty or this node alone); a broker-only node names one
/// controller elsewhere,
/// in `controller.quorum.voters` or `controller.quorum.bootstrap.servers`,
/// and reaches it there. Any other configuration is refused: started
/// anyway, each node would be a one-node cluster of its own under the
/// shared cluster id, and three of them three diverging clusters.
/// Returns the `host:port` of the controller(s) a broker-only node asks.
fn check_quorum(
    node_id: i32,
    process_roles: &[ProcessRole],
    voters_text: &str,
    bootstrap_text: &str,
) -> Result<Vec<String>, ConfigError> {
    let not_yet = |key: &str, value: &str, reason: String| ConfigError::Unsupported {
        key: key.to_string(),
        value: value.to_string(),
        reason: format!(
            "{reason}; until multi-voter quorums land, Runnel's controller quorum is one node: \
             a combined or controller-only node (process.roles=broker,controller or controller) \
             with controller.quorum.voters empty or {node_id}@host:port, which brokers \
             (process.roles=broker) name as their one voter"
        ),
    };
    let mut voters = Vec::new();
    for entry in split_list(voters_text) {
        let parsed = entry.split_once('@').and_then(|(id, address)| {
            let (h, p) = address.rsplit_once(':')?;
            (!h.is_empty() && p.parse::<u16>().is_ok()).then_some(())?;
            Some((id.parse::<i32>().ok()?, address.to_string()))
        });
        let voter = parsed.ok_or_else(|| {
            ConfigError::invalid(
                "controller.quorum.voters",
                voters_text,
                "comma-separated id@host:port entries",
            )
        })?;
        voters.push(voter);
    }
    let bootstrap: Vec<String> = split_list(bootstrap_text).map(str::to_string).collect();
    match process_roles {
        [ProcessRole::Broker, ProcessRole::Controller] | [ProcessRole::Controller] => {
            let others: Vec<String> = voters
                .iter()
                .filter(|(id, _)| *id != node_id)
                .map(|(id, _)| id.to_string())
                .collect();
            if !others.is_empty() {
                return Err(not_yet(
                    "controller.quorum.voters",
                    voters_text,
                    format!(
                        "it names controller(s) {} besides this node (node.id={node_id})",
                        others.join(", ")
                    ),
                ));
            }
            if bootstrap.len() > 1 {
                return Err(not_yet(
                    "controller.quorum.bootstrap.servers",
                    bootstrap_text,
                    "it names more than one controller".into(),
                ));
            }
            Ok(vec![])
        }
        [ProcessRole::Broker] => {
            if voters.iter().any(|(id, _)| *id == node_id) {
                return Err(ConfigError::invalid(
                    "controller.quorum.voters",
                    voters_text,
                    format!(
                        "the controllers of this broker, not itself (node.id={node_id} has no controller role)"
                    ),
                ));
            }
            if voters.len() > 1 {
                return Err(not_yet(
                    "controller.quorum.voters",
                    voters_text,
                    format!("it names {} voters", voters.len()),
                ));
            }
            let addresses: Vec<String> = match voters.pop() {
                Some((_, address)) => vec![address],
                None => bootstrap,
            };
            if addresses.is_empty() {
                return Err(ConfigError::invalid(
                    "controller.quorum.voters",
                    voters_text,
                    "the controller of this broker-only node as id@host:port (or \
                     controller.quorum.bootstrap.servers as host:port)",
                ));
            }
            Ok(addresses)
        }
        _ => unreachable!("process.roles is broker, controller or both, each once"),
    }
}
