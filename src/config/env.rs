//! Maps `KAFKA_*` environment variables to Kafka config keys the way the
//! Apache Kafka and Confluent container images do, so the same compose files
//! and Kubernetes manifests configure Runnel.
//!
//! The rule: drop the `KAFKA_` prefix, lowercase, then replace `___` with
//! `-`, `__` with `_` and `_` with `.`, in that order. Bitnami's images use a
//! `KAFKA_CFG_` prefix for the same purpose; it is accepted too. Variables the
//! images use for the JVM and the launch scripts are not configs and are
//! skipped without a warning.
//!
//! Two variables without the rule's shape name the cluster id: `CLUSTER_ID`,
//! which the Apache Kafka and Confluent images hand to `kafka-storage
//! format`, and Bitnami's `KAFKA_KRAFT_CLUSTER_ID`. Both set `cluster.id`;
//! a `KAFKA_CLUSTER_ID` (the general rule) wins over them, and `CLUSTER_ID`
//! over Bitnami's.

/// Variables with the `KAFKA_` prefix that configure the JVM or the image's
/// scripts rather than the broker.
const NOT_CONFIGS: &[&str] = &[
    "KAFKA_HEAP_OPTS",
    "KAFKA_OPTS",
    "KAFKA_JMX_OPTS",
    "KAFKA_JMX_PORT",
    "KAFKA_JMX_HOSTNAME",
    "KAFKA_LOG4J_OPTS",
    "KAFKA_LOG4J_ROOT_LOGLEVEL",
    "KAFKA_LOG4J_LOGGERS",
    "KAFKA_TOOLS_LOG4J_LOGLEVEL",
    "KAFKA_GC_LOG_OPTS",
    "KAFKA_JVM_PERFORMANCE_OPTS",
    "KAFKA_DEBUG",
    "KAFKA_VERSION",
    "KAFKA_HOME",
    "KAFKA_CLASSPATH",
    "KAFKA_CONF_DIR",
    "KAFKA_CONFIG_DIR",
    "KAFKA_MX_OPTS",
    "KAFKA_ENABLE_KRAFT",
    "KAFKA_CREATE_TOPICS",
];

/// Variables starting with these prefixes belong to the images' scripts.
const NOT_CONFIG_PREFIXES: &[&str] = &["KAFKA_JVM_", "KAFKA_JMX_", "KAFKA_LOG4J_", "KAFKA_GC_"];

/// Variables that set `cluster.id` outside the general rule, strongest first.
const CLUSTER_ID_ALIASES: &[&str] = &["CLUSTER_ID", "KAFKA_KRAFT_CLUSTER_ID"];

/// The config key a variable sets by the general rule, or `None` for a
/// variable that is not a broker config (the cluster id aliases included).
pub fn env_var_to_key(name: &str) -> Option<String> {
    if CLUSTER_ID_ALIASES.contains(&name)
        || NOT_CONFIGS.contains(&name)
        || NOT_CONFIG_PREFIXES.iter().any(|p| name.starts_with(p))
    {
        return None;
    }
    let rest = name
        .strip_prefix("KAFKA_CFG_")
        .or_else(|| name.strip_prefix("KAFKA_"))?;
    if rest.is_empty() {
        return None;
    }
    // Same order as the images' `sed` chain; `\u{1}` shields the `__`
    // underscores from the final `_` → `.` step.
    let key = rest
        .to_lowercase()
        .replace("___", "-")
        .replace("__", "\u{1}")
        .replace('_', ".")
        .replace('\u{1}', "_");
    Some(key)
}

/// The config entries in an environment: `(key, value, variable name)`,
/// each key once.
pub fn config_from_env(env: &[(String, String)]) -> Vec<(String, String, String)> {
    let mut entries: Vec<(String, String, String)> = env
        .iter()
        .filter_map(|(name, value)| {
            env_var_to_key(name).map(|key| (key, value.trim().to_string(), name.clone()))
        })
        .collect();
    if !entries.iter().any(|(key, _, _)| key == "cluster.id") {
        let alias = CLUSTER_ID_ALIASES.iter().find_map(|alias| {
            env.iter()
                .find(|(name, value)| name == alias && !value.trim().is_empty())
        });
        if let Some((name, value)) = alias {
            entries.push((
                "cluster.id".to_string(),
                value.trim().to_string(),
                name.clone(),
            ));
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_table() {
        let table = [
            ("KAFKA_ADVERTISED_LISTENERS", Some("advertised.listeners")),
            ("KAFKA_LOG_DIRS", Some("log.dirs")),
            ("KAFKA_LOG_DIR", Some("log.dir")),
            ("KAFKA_NODE_ID", Some("node.id")),
            ("KAFKA_PROCESS_ROLES", Some("process.roles")),
            (
                "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
                Some("listener.security.protocol.map"),
            ),
            (
                "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
                Some("offsets.topic.replication.factor"),
            ),
            (
                "KAFKA_CONFLUENT_SUPPORT__METRICS",
                Some("confluent.support_metrics"),
            ),
            ("KAFKA_SOME___DASHED_KEY", Some("some-dashed.key")),
            ("KAFKA_CFG_LOG_RETENTION_HOURS", Some("log.retention.hours")),
            (
                "KAFKA_RUNNEL_METRICS_LISTENER",
                Some("runnel.metrics.listener"),
            ),
            ("KAFKA_HEAP_OPTS", None),
            ("KAFKA_OPTS", None),
            ("KAFKA_JMX_OPTS", None),
            ("KAFKA_JMX_PORT", None),
            ("KAFKA_LOG4J_OPTS", None),
            ("KAFKA_LOG4J_ROOT_LOGLEVEL", None),
            ("KAFKA_LOG4J_LOGGERS", None),
            ("KAFKA_GC_LOG_OPTS", None),
            ("KAFKA_JVM_PERFORMANCE_OPTS", None),
            ("KAFKA_DEBUG", None),
            ("KAFKA_VERSION", None),
            ("KAFKA_HOME", None),
            ("KAFKA_", None),
            ("CLUSTER_ID", None),
            ("KAFKA_KRAFT_CLUSTER_ID", None),
            ("KAFKA_CLUSTER_ID", Some("cluster.id")),
            ("PATH", None),
            ("RUST_LOG", None),
            ("MY_KAFKA_THING", None),
        ];
        for (var, key) in table {
            assert_eq!(env_var_to_key(var).as_deref(), key, "{var}");
        }
    }

    #[test]
    fn values_are_trimmed_and_variable_kept() {
        let env = vec![
            ("KAFKA_NODE_ID".to_string(), " 3 ".to_string()),
            ("HOME".to_string(), "/root".to_string()),
        ];
        assert_eq!(
            config_from_env(&env),
            vec![(
                "node.id".to_string(),
                "3".to_string(),
                "KAFKA_NODE_ID".to_string()
            )]
        );
    }

    #[test]
    fn cluster_id_aliases() {
        let key_of = |pairs: &[(&str, &str)]| {
            let env: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            config_from_env(&env)
                .into_iter()
                .filter(|(key, _, _)| key == "cluster.id")
                .map(|(_, value, var)| (value, var))
                .collect::<Vec<_>>()
        };
        let one = |value: &str, var: &str| vec![(value.to_string(), var.to_string())];
        assert_eq!(key_of(&[("CLUSTER_ID", "abc")]), one("abc", "CLUSTER_ID"));
        assert_eq!(
            key_of(&[("KAFKA_KRAFT_CLUSTER_ID", "b")]),
            one("b", "KAFKA_KRAFT_CLUSTER_ID")
        );
        assert_eq!(
            key_of(&[("KAFKA_KRAFT_CLUSTER_ID", "b"), ("CLUSTER_ID", "a")]),
            one("a", "CLUSTER_ID")
        );
        assert_eq!(
            key_of(&[("CLUSTER_ID", "a"), ("KAFKA_CLUSTER_ID", "k")]),
            one("k", "KAFKA_CLUSTER_ID")
        );
        assert_eq!(key_of(&[("CLUSTER_ID", " ")]), vec![]);
        assert_eq!(key_of(&[("MY_CLUSTER_ID", "x")]), vec![]);
    }
}
