//! Topic-level configs: the catalogue of every key Kafka 4.x accepts on a
//! topic (Kafka 4.0 removed `message.downconversion.enable` and
//! `message.timestamp.difference.max.ms`, so they are refused), validation for CreateTopics/AlterConfigs, DescribeConfigs
//! output, and the [`LogConfig`] a partition log runs with.
//!
//! A topic value comes from, in order: the topic's own override
//! (TOPIC_CONFIG), the broker key it is a synonym of if that was set
//! (STATIC_BROKER_CONFIG), else Kafka's default (DEFAULT_CONFIG). Synonyms
//! are listed as Kafka lists them (see `broker_synonyms`). Kafka counterparts:
//! `LogConfig`, `ServerTopicConfigSynonyms`, `ConfigHelper`.

use std::collections::BTreeMap;

use super::catalogue::{
    BROKER_CONFIGS, CLEANUP_POLICIES, COMPRESSION_TYPES, Check, ConfigType, KeyDef,
    TIMESTAMP_TYPES, broker_key, check_gzip_level, check_value,
};
use super::types::{CleanupPolicy, CompressionType, ConfigOrigin};
use super::{BrokerConfig, ConfigError};
use crate::log::{CompressionCodec, LogConfig, TimestampType};

/// Where a described value comes from, with DescribeConfigs' `config_source`
/// ids (0 is UNKNOWN, which Runnel never reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigSource {
    /// TOPIC_CONFIG: an override on the topic.
    DynamicTopic,
    /// DYNAMIC_BROKER_LOGGER_CONFIG.
    DynamicBrokerLogger,
    /// DYNAMIC_BROKER_CONFIG: set at runtime for one broker.
    DynamicBroker,
    /// DYNAMIC_DEFAULT_BROKER_CONFIG: set at runtime for all brokers.
    DynamicDefaultBroker,
    /// STATIC_BROKER_CONFIG: set in this node's config files, env or flags.
    StaticBroker,
    /// DEFAULT_CONFIG: nobody set it.
    Default,
}

impl ConfigSource {
    /// The `config_source` id in DescribeConfigs responses (v1+).
    pub fn code(&self) -> i8 {
        match self {
            ConfigSource::DynamicTopic => 1,
            ConfigSource::DynamicBroker => 2,
            ConfigSource::DynamicDefaultBroker => 3,
            ConfigSource::StaticBroker => 4,
            ConfigSource::Default => 5,
            ConfigSource::DynamicBrokerLogger => 6,
        }
    }
}

/// One entry of a DescribeConfigs answer.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribedConfig {
    pub name: String,
    /// `None` for a null value or a sensitive one.
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    pub is_sensitive: bool,
    /// [`ConfigType::id`].
    pub config_type: i8,
    pub documentation: Option<String>,
    /// `(name, value, source)`, most specific first.
    pub synonyms: Vec<(String, Option<String>, ConfigSource)>,
}

/// A topic-level config and the broker keys that supply its default,
/// strongest first.
#[derive(Debug, Clone, Copy)]
pub struct TopicDef {
    pub key: KeyDef,
    pub synonyms: &'static [&'static str],
}

const LONG_MAX: &str = "9223372036854775807";

const fn topic(
    name: &'static str,
    ty: ConfigType,
    default: &'static str,
    check: Check,
    synonyms: &'static [&'static str],
    doc: &'static str,
) -> TopicDef {
    TopicDef {
        key: KeyDef {
            name,
            ty,
            default: Some(default),
            check,
            doc,
        },
        synonyms,
    }
}

const fn at_least(min: i64) -> Check {
    Check::Range { min, max: i64::MAX }
}

fn check_throttled_replicas(v: &str) -> Result<(), String> {
    let ok = v.trim().is_empty()
        || v.trim() == "*"
        || v.split(',').all(|entry| {
            entry.trim().split_once(':').is_some_and(|(p, b)| {
                p.trim().parse::<u32>().is_ok() && b.trim().parse::<u32>().is_ok()
            })
        });
    if ok {
        Ok(())
    } else {
        Err("'*' or a list of partition:broker pairs".to_string())
    }
}

use ConfigType::{Boolean, Double, Int, List, Long, String as Str};

/// Every topic-level config, sorted by name.
pub static TOPIC_CONFIGS: &[TopicDef] = &[
    topic(
        "cleanup.policy",
        List,
        "delete",
        Check::ListOf(CLEANUP_POLICIES),
        &["log.cleanup.policy"],
        "What happens to old segments: delete them, compact them by key, or both.",
    ),
    topic(
        "compression.gzip.level",
        Int,
        "-1",
        Check::Custom(check_gzip_level),
        &["compression.gzip.level"],
        "Level used when this topic's data is compressed with gzip by the broker.",
    ),
    topic(
        "compression.lz4.level",
        Int,
        "9",
        Check::Range { min: 1, max: 17 },
        &["compression.lz4.level"],
        "Level used when this topic's data is compressed with lz4 by the broker.",
    ),
    topic(
        "compression.type",
        Str,
        "producer",
        Check::OneOf(COMPRESSION_TYPES),
        &["compression.type"],
        "Codec for stored batches; producer keeps the producer's own codec.",
    ),
    topic(
        "compression.zstd.level",
        Int,
        "3",
        Check::Range {
            min: -131072,
            max: 22,
        },
        &["compression.zstd.level"],
        "Level used when this topic's data is compressed with zstd by the broker.",
    ),
    topic(
        "delete.retention.ms",
        Long,
        "86400000",
        at_least(0),
        &["log.cleaner.delete.retention.ms"],
        "How long a tombstone stays readable after compaction reaches it.",
    ),
    topic(
        "file.delete.delay.ms",
        Long,
        "60000",
        at_least(0),
        &["log.segment.delete.delay.ms"],
        "How long a removed segment lingers on disk before the file is deleted.",
    ),
    topic(
        "flush.messages",
        Long,
        LONG_MAX,
        at_least(1),
        &["log.flush.interval.messages"],
        "Force an fsync after this many records; the default leaves it to the OS and replication.",
    ),
    topic(
        "flush.ms",
        Long,
        LONG_MAX,
        at_least(0),
        &["log.flush.interval.ms"],
        "Force an fsync once unflushed data is this old; the default leaves it to the OS.",
    ),
    topic(
        "follower.replication.throttled.replicas",
        List,
        "",
        Check::Custom(check_throttled_replicas),
        &[],
        "Replicas whose follower-side replication is throttled: '*' or partition:broker pairs.",
    ),
    topic(
        "index.interval.bytes",
        Int,
        "4096",
        at_least(0),
        &["log.index.interval.bytes"],
        "Bytes of log between two offset index entries.",
    ),
    topic(
        "leader.replication.throttled.replicas",
        List,
        "",
        Check::Custom(check_throttled_replicas),
        &[],
        "Replicas whose leader-side replication is throttled: '*' or partition:broker pairs.",
    ),
    topic(
        "local.retention.bytes",
        Long,
        "-2",
        at_least(-2),
        &["log.local.retention.bytes"],
        "Tiered storage: bytes kept locally; -2 follows retention.bytes.",
    ),
    topic(
        "local.retention.ms",
        Long,
        "-2",
        at_least(-2),
        &["log.local.retention.ms"],
        "Tiered storage: time data is kept locally; -2 follows retention.ms.",
    ),
    topic(
        "max.compaction.lag.ms",
        Long,
        LONG_MAX,
        at_least(1),
        &["log.cleaner.max.compaction.lag.ms"],
        "Longest a record may wait before it becomes eligible for compaction.",
    ),
    topic(
        "max.message.bytes",
        Int,
        "1048588",
        at_least(0),
        &["message.max.bytes"],
        "Largest record batch this topic accepts, after compression.",
    ),
    topic(
        "message.timestamp.after.max.ms",
        Long,
        "3600000",
        at_least(0),
        &["log.message.timestamp.after.max.ms"],
        "How far ahead of the broker clock a CreateTime timestamp may be.",
    ),
    topic(
        "message.timestamp.before.max.ms",
        Long,
        LONG_MAX,
        at_least(0),
        &["log.message.timestamp.before.max.ms"],
        "How far behind the broker clock a CreateTime timestamp may be.",
    ),
    topic(
        "message.timestamp.type",
        Str,
        "CreateTime",
        Check::OneOf(TIMESTAMP_TYPES),
        &["log.message.timestamp.type"],
        "Keep the producer's timestamps (CreateTime) or stamp records on append (LogAppendTime).",
    ),
    topic(
        "min.cleanable.dirty.ratio",
        Double,
        "0.5",
        Check::DoubleRange { min: 0.0, max: 1.0 },
        &["log.cleaner.min.cleanable.ratio"],
        "Share of uncompacted log above which the cleaner compacts this topic.",
    ),
    topic(
        "min.compaction.lag.ms",
        Long,
        "0",
        at_least(0),
        &["log.cleaner.min.compaction.lag.ms"],
        "Shortest time a record stays uncompacted.",
    ),
    topic(
        "min.insync.replicas",
        Int,
        "1",
        at_least(1),
        &["min.insync.replicas"],
        "Fewest in-sync replicas needed to accept an acks=all write.",
    ),
    topic(
        "preallocate",
        Boolean,
        "false",
        Check::Any,
        &["log.preallocate"],
        "Preallocate the file of a new segment.",
    ),
    topic(
        "remote.log.copy.disable",
        Boolean,
        "false",
        Check::Any,
        &[],
        "Tiered storage: stop copying new segments to remote storage.",
    ),
    topic(
        "remote.log.delete.on.disable",
        Boolean,
        "false",
        Check::Any,
        &[],
        "Tiered storage: delete remote data when remote storage is turned off.",
    ),
    topic(
        "remote.storage.enable",
        Boolean,
        "false",
        Check::Any,
        &[],
        "Tiered storage: keep older segments in remote storage.",
    ),
    topic(
        "retention.bytes",
        Long,
        "-1",
        Check::Any,
        &["log.retention.bytes"],
        "Largest size a partition may reach before old segments are deleted; -1 means no limit.",
    ),
    topic(
        "retention.ms",
        Long,
        "604800000",
        at_least(-1),
        &[
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
        ],
        "How long data is kept before old segments are deleted; -1 keeps it forever.",
    ),
    topic(
        "segment.bytes",
        Int,
        "1073741824",
        at_least(14),
        &["log.segment.bytes"],
        "Size at which the active segment is closed and a new one begun.",
    ),
    topic(
        "segment.index.bytes",
        Int,
        "10485760",
        at_least(4),
        &["log.index.size.max.bytes"],
        "Largest size of a segment's offset or time index.",
    ),
    topic(
        "segment.jitter.ms",
        Long,
        "0",
        at_least(0),
        &["log.roll.jitter.ms", "log.roll.jitter.hours"],
        "Random time subtracted from segment.ms so that segments do not all roll at once.",
    ),
    topic(
        "segment.ms",
        Long,
        "604800000",
        at_least(1),
        &["log.roll.ms", "log.roll.hours"],
        "Age at which the active segment is rolled even when not full.",
    ),
    topic(
        "unclean.leader.election.enable",
        Boolean,
        "false",
        Check::Any,
        &["unclean.leader.election.enable"],
        "Let an out-of-sync replica become leader when no in-sync one is left, losing data.",
    ),
];

/// The definition of a topic config key.
pub fn topic_config(name: &str) -> Option<&'static TopicDef> {
    TOPIC_CONFIGS.iter().find(|d| d.key.name == name)
}

/// Checks one topic config as given to CreateTopics or AlterConfigs.
pub fn validate_topic_config(key: &str, value: &str) -> Result<(), ConfigError> {
    let def = topic_config(key).ok_or_else(|| ConfigError::UnknownTopicConfig {
        key: key.to_string(),
        value: value.to_string(),
    })?;
    check_value(&def.key, value.trim())
}

/// The broker-level value a topic inherits when some synonym was set, in
/// the topic key's unit (hours and minutes become milliseconds).
fn broker_value(def: &TopicDef, broker: &BrokerConfig) -> Option<String> {
    let first_set = def.synonyms.iter().find(|s| broker.is_set(s))?;
    Some(match def.key.name {
        "retention.ms" => broker.log_retention_ms.to_string(),
        "segment.ms" => broker.log_roll_ms.to_string(),
        "segment.jitter.ms" => broker.log_roll_jitter_ms.to_string(),
        _ => broker.raw[*first_set].clone(),
    })
}

/// Where a broker key's value came from, as DescribeConfigs reports it.
pub fn broker_source(broker: &BrokerConfig, key: &str) -> ConfigSource {
    match broker.origins.get(key) {
        Some(ConfigOrigin::Dynamic { default: false }) => ConfigSource::DynamicBroker,
        Some(ConfigOrigin::Dynamic { default: true }) => ConfigSource::DynamicDefaultBroker,
        Some(_) => ConfigSource::StaticBroker,
        None => ConfigSource::Default,
    }
}

/// Whether a broker key may be changed at runtime with
/// IncrementalAlterConfigs/AlterConfigs: the broker-level defaults of topic
/// configs, as in Kafka's dynamic log configs, which are the primary
/// synonym of each (`log.retention.ms`, not `log.retention.hours`).
pub fn is_dynamic_broker_key(key: &str) -> bool {
    TOPIC_CONFIGS
        .iter()
        .any(|d| d.synonyms.first() == Some(&key))
        || OTHER_DYNAMIC_BROKER_KEYS.contains(&key)
}

/// Broker configs besides the topic defaults that Kafka lets
/// IncrementalAlterConfigs change at run time, and Runnel applies.
const OTHER_DYNAMIC_BROKER_KEYS: &[&str] = &[
    "log.cleaner.backoff.ms",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.max.bytes.per.second",
    "log.cleaner.threads",
    "producer.id.expiration.ms",
];

/// Every topic config with the value in effect for a topic with these
/// overrides.
pub fn describe_topic_configs(
    overrides: &BTreeMap<String, String>,
    broker: &BrokerConfig,
) -> Vec<DescribedConfig> {
    TOPIC_CONFIGS
        .iter()
        .map(|def| {
            let name = def.key.name;
            let broker_synonyms = broker_synonyms(def, broker);
            let mut synonyms = Vec::new();
            if let Some(v) = overrides.get(name) {
                synonyms.push((
                    name.to_string(),
                    Some(v.clone()),
                    ConfigSource::DynamicTopic,
                ));
            }
            synonyms.extend(broker_synonyms.iter().cloned());
            // The value is what the topic gets; its source is the first
            // synonym Kafka lists (DEFAULT_CONFIG when it lists none).
            let (value, source) = match overrides.get(name) {
                Some(v) => (v.clone(), ConfigSource::DynamicTopic),
                None => {
                    let source = broker_synonyms
                        .first()
                        .map_or(ConfigSource::Default, |s| s.2);
                    let value = broker_value(def, broker)
                        .unwrap_or_else(|| def.key.default.unwrap_or_default().to_string());
                    (value, source)
                }
            };
            DescribedConfig {
                name: name.to_string(),
                value: Some(value),
                source,
                read_only: false,
                is_sensitive: false,
                config_type: def.key.ty.id(),
                documentation: Some(def.key.doc.to_string()),
                synonyms,
            }
        })
        .collect()
}

/// The broker-level synonyms of a topic config as Kafka lists them
/// (`ConfigHelper.configSynonyms`): every synonym that is set, ordered by
/// source (dynamic for this broker, dynamic default, static), each source
/// in synonym order, then the defaults of the synonyms that have one; and
/// everything before the first entry named after the primary broker key
/// (`log.retention.ms` for `retention.ms`) is dropped. So a topic on a
/// broker that sets only `log.retention.hours` lists no synonym and says
/// DEFAULT_CONFIG, exactly as Kafka 4.1 does.
fn broker_synonyms(
    def: &TopicDef,
    broker: &BrokerConfig,
) -> Vec<(String, Option<String>, ConfigSource)> {
    ordered_synonyms(def.synonyms, broker)
}

/// Kafka's synonym list for `names` (the primary key first): set values by
/// source, then defaults, cut to start at the primary key.
fn ordered_synonyms(
    names: &[&str],
    broker: &BrokerConfig,
) -> Vec<(String, Option<String>, ConfigSource)> {
    let rank = |s: ConfigSource| match s {
        ConfigSource::DynamicBroker => 0,
        ConfigSource::DynamicDefaultBroker => 1,
        ConfigSource::StaticBroker => 2,
        _ => 3,
    };
    let mut set: Vec<(String, Option<String>, ConfigSource)> = names
        .iter()
        .filter_map(|syn| {
            broker
                .raw
                .get(*syn)
                .map(|v| (syn.to_string(), Some(v.clone()), broker_source(broker, syn)))
        })
        .collect();
    // A stable sort keeps synonym order within one source.
    set.sort_by_key(|s| rank(s.2));
    set.extend(names.iter().filter_map(|syn| {
        broker_key(syn)
            .and_then(|d| d.default)
            .map(|v| (syn.to_string(), Some(v.to_string()), ConfigSource::Default))
    }));
    match names.first() {
        Some(primary) => set.into_iter().skip_while(|s| s.0 != *primary).collect(),
        None => set,
    }
}

/// Every broker config Runnel knows, with its value and source, sorted by
/// name. Passwords are sensitive and their values withheld. Only the
/// broker-level topic defaults are writable ([`is_dynamic_broker_key`]).
pub fn describe_broker_configs(broker: &BrokerConfig) -> Vec<DescribedConfig> {
    let mut out: Vec<DescribedConfig> = BROKER_CONFIGS
        .iter()
        .map(|def| {
            let sensitive = def.ty == ConfigType::Password;
            let hide = |v: Option<String>| if sensitive { None } else { v };
            let set = broker.raw.get(def.name).cloned();
            // Kafka's `brokerConfigSynonyms`: a time-unit family (log.roll.ms,
            // log.roll.hours) lists its coarser keys after the key itself.
            let family: &[&str] = TOPIC_CONFIGS
                .iter()
                .find(|d| d.synonyms.first() == Some(&def.name))
                .map_or(std::slice::from_ref(&def.name), |d| d.synonyms);
            let synonyms: Vec<_> = ordered_synonyms(family, broker)
                .into_iter()
                .map(|(n, v, s)| (n, hide(v), s))
                .collect();
            let source = synonyms.first().map_or(ConfigSource::Default, |s| s.2);
            DescribedConfig {
                name: def.name.to_string(),
                value: hide(set.or_else(|| def.default.map(str::to_string))),
                source,
                read_only: !is_dynamic_broker_key(def.name),
                is_sensitive: sensitive,
                config_type: def.ty.id(),
                documentation: Some(def.doc.to_string()),
                synonyms,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The log settings for a partition of a topic with these overrides. An
/// override that does not parse (it was validated when stored, so this
/// means a bug or a hand-edited record) is logged and the broker value used.
pub fn resolve_log_config(
    overrides: &BTreeMap<String, String>,
    broker: &BrokerConfig,
) -> LogConfig {
    fn pick<T: std::str::FromStr>(
        overrides: &BTreeMap<String, String>,
        key: &str,
        broker_value: T,
    ) -> T {
        match overrides.get(key) {
            None => broker_value,
            Some(v) => match validate_topic_config(key, v)
                .ok()
                .and_then(|()| v.trim().parse::<T>().ok())
            {
                Some(parsed) => parsed,
                None => {
                    tracing::warn!(key, value = %v, "ignoring an invalid topic config override");
                    broker_value
                }
            },
        }
    }
    let unsigned = |n: i64| u64::try_from(n).unwrap_or(0);
    let timestamp_type = match overrides.get("message.timestamp.type").map(|s| s.trim()) {
        Some("CreateTime") => TimestampType::CreateTime,
        Some("LogAppendTime") => TimestampType::LogAppendTime,
        Some(other) => {
            tracing::warn!(key = "message.timestamp.type", value = %other, "ignoring an invalid topic config override");
            broker.log_message_timestamp_type
        }
        None => broker.log_message_timestamp_type,
    };
    let cleanup_policy = match overrides.get("cleanup.policy") {
        None => broker.log_cleanup_policy,
        Some(v) => CleanupPolicy::parse(v.trim()).unwrap_or_else(|| {
            tracing::warn!(key = "cleanup.policy", value = %v, "ignoring an invalid topic config override");
            broker.log_cleanup_policy
        }),
    };
    let compression = match overrides.get("compression.type") {
        None => broker.compression_type,
        Some(v) => CompressionType::parse(v.trim()).unwrap_or_else(|| {
            tracing::warn!(key = "compression.type", value = %v, "ignoring an invalid topic config override");
            broker.compression_type
        }),
    };
    LogConfig {
        segment_bytes: unsigned(pick(
            overrides,
            "segment.bytes",
            broker.log_segment_bytes as i64,
        )),
        segment_ms: pick(overrides, "segment.ms", broker.log_roll_ms),
        segment_index_bytes: unsigned(pick(
            overrides,
            "segment.index.bytes",
            broker.log_index_size_max_bytes as i64,
        )),
        index_interval_bytes: unsigned(pick(
            overrides,
            "index.interval.bytes",
            broker.log_index_interval_bytes as i64,
        )),
        retention_ms: pick(overrides, "retention.ms", broker.log_retention_ms).max(-1),
        retention_bytes: pick(overrides, "retention.bytes", broker.log_retention_bytes),
        flush_messages: pick(
            overrides,
            "flush.messages",
            broker.log_flush_interval_messages,
        ),
        flush_ms: pick(overrides, "flush.ms", broker.log_flush_interval_ms),
        message_timestamp_type: timestamp_type,
        max_message_bytes: usize::try_from(pick(
            overrides,
            "max.message.bytes",
            broker.message_max_bytes as i64,
        ))
        .unwrap_or(0),
        file_delete_delay_ms: pick(
            overrides,
            "file.delete.delay.ms",
            broker.log_segment_delete_delay_ms,
        ),
        cleanup_delete: cleanup_policy.deletes(),
        cleanup_compact: cleanup_policy.compacts(),
        message_timestamp_before_max_ms: pick(
            overrides,
            "message.timestamp.before.max.ms",
            broker.log_message_timestamp_before_max_ms,
        ),
        message_timestamp_after_max_ms: pick(
            overrides,
            "message.timestamp.after.max.ms",
            broker.log_message_timestamp_after_max_ms,
        ),
        compression: match compression {
            CompressionType::Producer => None,
            CompressionType::Uncompressed => Some(CompressionCodec::None),
            CompressionType::Gzip => Some(CompressionCodec::Gzip),
            CompressionType::Snappy => Some(CompressionCodec::Snappy),
            CompressionType::Lz4 => Some(CompressionCodec::Lz4),
            CompressionType::Zstd => Some(CompressionCodec::Zstd),
        },
        min_insync_replicas: pick(overrides, "min.insync.replicas", broker.min_insync_replicas),
        min_cleanable_dirty_ratio: pick(
            overrides,
            "min.cleanable.dirty.ratio",
            broker.log_cleaner.min_cleanable_ratio,
        ),
        min_compaction_lag_ms: pick(
            overrides,
            "min.compaction.lag.ms",
            broker.log_cleaner.min_compaction_lag_ms,
        ),
        max_compaction_lag_ms: pick(
            overrides,
            "max.compaction.lag.ms",
            broker.log_cleaner.max_compaction_lag_ms,
        ),
        delete_retention_ms: pick(
            overrides,
            "delete.retention.ms",
            broker.log_cleaner.delete_retention_ms,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(pairs: &[(&str, &str)]) -> BrokerConfig {
        crate::config::config_for_test(pairs, "h")
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn find<'a>(all: &'a [DescribedConfig], name: &str) -> &'a DescribedConfig {
        all.iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("{name} described"))
    }

    #[test]
    fn catalogue_is_sorted_and_defaults_are_valid() {
        let names: Vec<_> = TOPIC_CONFIGS.iter().map(|d| d.key.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
        for d in TOPIC_CONFIGS {
            validate_topic_config(d.key.name, d.key.default.unwrap_or_default())
                .unwrap_or_else(|e| panic!("{}: {e}", d.key.name));
            for s in d.synonyms {
                assert!(
                    broker_key(s).is_some(),
                    "synonym {s} of {} is a known broker key",
                    d.key.name
                );
            }
        }
    }

    #[test]
    fn topic_defaults_match_broker_defaults() {
        // With nothing set, the described value must equal the log defaults
        // the storage engine was written against.
        let described = describe_topic_configs(&BTreeMap::new(), &broker(&[]));
        let log = LogConfig::default();
        assert_eq!(
            find(&described, "segment.bytes").value,
            Some(log.segment_bytes.to_string())
        );
        assert_eq!(
            find(&described, "segment.ms").value,
            Some(log.segment_ms.to_string())
        );
        assert_eq!(
            find(&described, "retention.ms").value,
            Some(log.retention_ms.to_string())
        );
        assert_eq!(
            find(&described, "max.message.bytes").value,
            Some(log.max_message_bytes.to_string())
        );
        assert_eq!(resolve_log_config(&BTreeMap::new(), &broker(&[])), log);
    }

    #[test]
    fn validation() {
        for (k, v) in [
            ("cleanup.policy", "compact,delete"),
            ("cleanup.policy", "delete"),
            ("compression.type", "zstd"),
            ("message.timestamp.type", "LogAppendTime"),
            ("retention.ms", "-1"),
            ("retention.bytes", "-1"),
            ("min.cleanable.dirty.ratio", "0.9"),
            ("leader.replication.throttled.replicas", "0:1,1:2"),
            ("follower.replication.throttled.replicas", "*"),
            ("preallocate", "true"),
            ("segment.bytes", " 1048576 "),
        ] {
            validate_topic_config(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
        }
        for (k, v, expect) in [
            ("cleanup.policy", "shred", "delete, compact"),
            ("compression.type", "brotli", "one of"),
            ("message.timestamp.type", "createtime", "CreateTime"),
            ("retention.ms", "-2", ">= -1"),
            ("segment.bytes", "10", ">= 14"),
            ("segment.bytes", "4294967296", "integer"),
            ("min.insync.replicas", "0", ">= 1"),
            ("min.cleanable.dirty.ratio", "1.5", "[0, 1]"),
            (
                "leader.replication.throttled.replicas",
                "0-1",
                "partition:broker",
            ),
            ("preallocate", "yes", "true or false"),
        ] {
            let msg = validate_topic_config(k, v)
                .expect_err("invalid")
                .to_string();
            assert!(
                msg.contains(k) && msg.contains(v) && msg.contains(expect),
                "{k}={v}: {msg}"
            );
        }
        let e = validate_topic_config("retention.hours", "1").expect_err("unknown");
        assert!(matches!(e, ConfigError::UnknownTopicConfig { .. }));
        assert!(e.to_string().contains("retention.hours"));
    }

    #[test]
    fn describe_sources_and_synonyms() {
        let b = broker(&[("log.retention.hours", "24"), ("log.segment.bytes", "2048")]);
        let described = describe_topic_configs(&map(&[("retention.ms", "1000")]), &b);
        assert_eq!(described.len(), TOPIC_CONFIGS.len());

        let r = find(&described, "retention.ms");
        assert_eq!(r.value.as_deref(), Some("1000"));
        assert_eq!(r.source, ConfigSource::DynamicTopic);
        assert_eq!(r.config_type, 5);
        assert!(!r.read_only && !r.is_sensitive && r.documentation.is_some());
        assert_eq!(
            r.synonyms,
            vec![(
                "retention.ms".to_string(),
                Some("1000".to_string()),
                ConfigSource::DynamicTopic
            ),]
        );

        let s = find(&described, "segment.bytes");
        assert_eq!(s.value.as_deref(), Some("2048"));
        assert_eq!(s.source, ConfigSource::StaticBroker);
        assert_eq!(s.config_type, 3);
        assert_eq!(
            s.synonyms,
            vec![
                (
                    "log.segment.bytes".to_string(),
                    Some("2048".to_string()),
                    ConfigSource::StaticBroker
                ),
                (
                    "log.segment.bytes".to_string(),
                    Some("1073741824".to_string()),
                    ConfigSource::Default
                ),
            ]
        );

        let c = find(&described, "cleanup.policy");
        assert_eq!(c.value.as_deref(), Some("delete"));
        assert_eq!(c.source, ConfigSource::Default);
        assert_eq!(c.config_type, 7);
        assert_eq!(
            c.synonyms,
            vec![(
                "log.cleanup.policy".to_string(),
                Some("delete".to_string()),
                ConfigSource::Default
            )]
        );

        let remote = find(&described, "remote.storage.enable");
        assert_eq!(remote.value.as_deref(), Some("false"));
        assert!(remote.synonyms.is_empty());
    }

    #[test]
    fn describe_converts_broker_time_units() {
        let described = describe_topic_configs(
            &BTreeMap::new(),
            &broker(&[("log.retention.minutes", "5"), ("log.roll.hours", "1")]),
        );
        // The value honours the minutes; the synonyms and the source follow
        // Kafka 4.1, which lists nothing before the primary key
        // (log.retention.ms) and so says DEFAULT_CONFIG (checked against
        // Apache Kafka by differential/test_configs.py).
        let r = find(&described, "retention.ms");
        assert_eq!(
            (r.value.as_deref(), r.source),
            (Some("300000"), ConfigSource::Default)
        );
        assert!(r.synonyms.is_empty());
        let s = find(&described, "segment.ms");
        assert_eq!(s.value.as_deref(), Some("3600000"));
        assert!(s.synonyms.is_empty());
    }

    #[test]
    fn synonyms_start_at_the_primary_broker_key() {
        // Kafka: segment.ms on a broker with log.roll.ms set lists the static
        // log.roll.ms, then log.roll.hours' default.
        let described =
            describe_topic_configs(&BTreeMap::new(), &broker(&[("log.roll.ms", "3600000")]));
        let s = find(&described, "segment.ms");
        assert_eq!(
            (s.value.as_deref(), s.source),
            (Some("3600000"), ConfigSource::StaticBroker)
        );
        assert_eq!(
            s.synonyms,
            vec![
                (
                    "log.roll.ms".to_string(),
                    Some("3600000".to_string()),
                    ConfigSource::StaticBroker
                ),
                (
                    "log.roll.hours".to_string(),
                    Some("168".to_string()),
                    ConfigSource::Default
                ),
            ]
        );
    }

    #[test]
    fn describe_broker() {
        let b = broker(&[("num.partitions", "3"), ("ssl.keystore.password", "secret")]);
        let described = describe_broker_configs(&b);
        assert_eq!(described.len(), BROKER_CONFIGS.len());
        let n = find(&described, "num.partitions");
        assert_eq!(
            (n.value.as_deref(), n.source, n.config_type),
            (Some("3"), ConfigSource::StaticBroker, 3)
        );
        assert_eq!(n.synonyms.len(), 2);
        assert!(n.read_only);
        let p = find(&described, "ssl.keystore.password");
        assert!(p.is_sensitive && p.value.is_none() && p.config_type == 9);
        assert!(p.synonyms.iter().all(|(_, v, _)| v.is_none()));
        let d = find(&described, "log.retention.ms");
        assert_eq!(
            (d.value.as_deref(), d.source),
            (None, ConfigSource::Default)
        );
        let r = find(&described, "log.retention.hours");
        assert_eq!(r.value.as_deref(), Some("168"));
    }

    #[test]
    fn source_codes() {
        let codes: Vec<i8> = [
            ConfigSource::DynamicTopic,
            ConfigSource::DynamicBroker,
            ConfigSource::DynamicDefaultBroker,
            ConfigSource::StaticBroker,
            ConfigSource::Default,
            ConfigSource::DynamicBrokerLogger,
        ]
        .iter()
        .map(ConfigSource::code)
        .collect();
        assert_eq!(codes, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn resolve_log_config_layers() {
        let b = broker(&[
            ("log.segment.bytes", "4096"),
            ("log.retention.hours", "1"),
            ("log.flush.interval.messages", "10"),
            ("log.message.timestamp.type", "LogAppendTime"),
            ("message.max.bytes", "2000"),
            ("log.segment.delete.delay.ms", "5"),
            ("log.index.interval.bytes", "100"),
            ("log.index.size.max.bytes", "1024"),
            ("log.cleanup.policy", "compact,delete"),
            ("compression.type", "lz4"),
            ("min.insync.replicas", "2"),
            ("log.message.timestamp.after.max.ms", "60000"),
            ("log.cleaner.min.cleanable.ratio", "0.3"),
            ("log.cleaner.delete.retention.ms", "5000"),
        ]);
        let from_broker = resolve_log_config(&BTreeMap::new(), &b);
        assert_eq!(
            from_broker,
            LogConfig {
                segment_bytes: 4096,
                segment_ms: 604_800_000,
                segment_index_bytes: 1024,
                index_interval_bytes: 100,
                retention_ms: 3_600_000,
                retention_bytes: -1,
                flush_messages: 10,
                flush_ms: i64::MAX,
                message_timestamp_type: TimestampType::LogAppendTime,
                max_message_bytes: 2000,
                file_delete_delay_ms: 5,
                cleanup_delete: true,
                cleanup_compact: true,
                message_timestamp_before_max_ms: i64::MAX,
                message_timestamp_after_max_ms: 60_000,
                compression: Some(CompressionCodec::Lz4),
                min_insync_replicas: 2,
                min_cleanable_dirty_ratio: 0.3,
                min_compaction_lag_ms: 0,
                max_compaction_lag_ms: i64::MAX,
                delete_retention_ms: 5000,
            }
        );
        let overrides = map(&[
            ("segment.bytes", "8192"),
            ("segment.ms", "1000"),
            ("segment.index.bytes", "2048"),
            ("index.interval.bytes", "200"),
            ("retention.ms", "-1"),
            ("retention.bytes", "123"),
            ("flush.messages", "1"),
            ("flush.ms", "50"),
            ("message.timestamp.type", "CreateTime"),
            ("max.message.bytes", "3000"),
            ("file.delete.delay.ms", "0"),
            ("cleanup.policy", "compact"),
            ("compression.type", "producer"),
            ("min.insync.replicas", "1"),
            ("message.timestamp.before.max.ms", "1000"),
            ("message.timestamp.after.max.ms", "2000"),
            ("min.cleanable.dirty.ratio", "0.9"),
            ("min.compaction.lag.ms", "100"),
            ("max.compaction.lag.ms", "200"),
            ("delete.retention.ms", "300"),
        ]);
        assert_eq!(
            resolve_log_config(&overrides, &b),
            LogConfig {
                segment_bytes: 8192,
                segment_ms: 1000,
                segment_index_bytes: 2048,
                index_interval_bytes: 200,
                retention_ms: -1,
                retention_bytes: 123,
                flush_messages: 1,
                flush_ms: 50,
                message_timestamp_type: TimestampType::CreateTime,
                max_message_bytes: 3000,
                file_delete_delay_ms: 0,
                cleanup_delete: false,
                cleanup_compact: true,
                message_timestamp_before_max_ms: 1000,
                message_timestamp_after_max_ms: 2000,
                compression: None,
                min_insync_replicas: 1,
                min_cleanable_dirty_ratio: 0.9,
                min_compaction_lag_ms: 100,
                max_compaction_lag_ms: 200,
                delete_retention_ms: 300,
            }
        );
        // An invalid stored override falls back to the broker value.
        let bad = map(&[
            ("segment.bytes", "tiny"),
            ("message.timestamp.type", "Whenever"),
        ]);
        let resolved = resolve_log_config(&bad, &b);
        assert_eq!(resolved.segment_bytes, 4096);
        assert_eq!(
            resolved.message_timestamp_type,
            TimestampType::LogAppendTime
        );
    }
}
