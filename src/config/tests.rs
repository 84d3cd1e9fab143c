//! Tests of loading: each source, their precedence, and cross-key checks.

use std::io::Write;
use std::path::PathBuf;

use super::*;
use crate::log::TimestampType;

const HOST: &str = "test-host";

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn with_overrides(pairs: &[(&str, &str)]) -> Result<BrokerConfig, ConfigError> {
    let sources = ConfigSources {
        overrides: kv(pairs),
        ..ConfigSources::default()
    };
    load_with_hostname(&sources, HOST).map(|(c, _)| c)
}

fn ok(pairs: &[(&str, &str)]) -> BrokerConfig {
    with_overrides(pairs).unwrap_or_else(|e| panic!("{pairs:?}: {e}"))
}

fn err(pairs: &[(&str, &str)]) -> String {
    match with_overrides(pairs) {
        Ok(_) => panic!("{pairs:?} should be refused"),
        Err(e) => e.to_string(),
    }
}

fn temp_file(contents: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(contents.as_bytes()).expect("write temp file");
    f
}

#[test]
fn defaults() {
    let (c, warnings) = load_with_hostname(&ConfigSources::default(), HOST).expect("defaults load");
    assert!(warnings.is_empty());
    assert!(c.raw.is_empty() && c.sources.is_empty());
    assert_eq!(c.node_id, 1);
    assert_eq!(
        c.process_roles,
        vec![ProcessRole::Broker, ProcessRole::Controller]
    );
    assert_eq!(
        c.listeners,
        vec![Listener::parse("PLAINTEXT://127.0.0.1:9092").expect("valid")]
    );
    assert_eq!(c.advertised_listeners, c.listeners);
    assert_eq!(c.inter_broker_listener_name, "PLAINTEXT");
    assert_eq!(c.log_dirs, vec![PathBuf::from("./data")]);
    assert_eq!(c.num_partitions, 1);
    assert_eq!(c.message_max_bytes, 1_048_588);
    assert_eq!(c.socket_request_max_bytes, 104_857_600);
    assert_eq!(c.replica_fetch_max_bytes, 1_048_576);
    assert_eq!(c.fetch_max_bytes, 57_671_680);
    assert_eq!(c.max_connections, i32::MAX);
    assert_eq!(c.log_segment_bytes, 1 << 30);
    assert_eq!(c.log_roll_ms, 7 * 24 * 3_600_000);
    assert_eq!(c.log_retention_ms, 7 * 24 * 3_600_000);
    assert_eq!(c.log_retention_bytes, -1);
    assert_eq!(c.log_index_size_max_bytes, 10 << 20);
    assert_eq!(c.log_flush_interval_messages, i64::MAX);
    assert_eq!(c.log_flush_interval_ms, i64::MAX);
    assert_eq!(c.log_message_timestamp_type, TimestampType::CreateTime);
    assert_eq!(c.log_cleanup_policy, CleanupPolicy::Delete);
    assert_eq!(c.compression_type, CompressionType::Producer);
    assert_eq!(c.offsets_topic_replication_factor, 1);
    assert_eq!(c.transaction_state_log_replication_factor, 1);
    assert_eq!(c.transaction_state_log_min_isr, 1);
    assert_eq!(c.producer_id_expiration_ms, 86_400_000);
    assert!(!c.unclean_leader_election_enable);
    assert_eq!(c.metrics_listener.as_deref(), Some("127.0.0.1:9308"));
    assert_eq!(c.log_filter, "info");
    assert_eq!(c.log_format, LogFormat::Text);
    assert_eq!(c.cluster_id, None);
    assert_eq!(c.broker_rack, None);
    assert_eq!(BrokerConfig::default().node_id, 1);
}

#[test]
fn precedence_toml_properties_env_override() {
    let toml = temp_file(
        "\"num.partitions\" = 2\n\"default.replication.factor\" = 2\n\"min.insync.replicas\" = 2\n\"queued.max.requests\" = 2\n",
    );
    let props =
        temp_file("num.partitions=3\ndefault.replication.factor=3\nmin.insync.replicas=3\n");
    let sources = ConfigSources {
        config_file: Some(toml.path().to_path_buf()),
        server_properties: Some(props.path().to_path_buf()),
        env: kv(&[
            ("KAFKA_NUM_PARTITIONS", "4"),
            ("KAFKA_DEFAULT_REPLICATION_FACTOR", "4"),
        ]),
        overrides: kv(&[("num.partitions", "5")]),
    };
    let (c, warnings) = load_with_hostname(&sources, HOST).expect("loads");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.num_partitions, 5);
    assert_eq!(c.default_replication_factor, 4);
    assert_eq!(c.min_insync_replicas, 3);
    assert_eq!(c.queued_max_requests, 2);
    assert_eq!(
        c.connections_max_idle_ms, 600_000,
        "untouched keys keep defaults"
    );
    assert_eq!(c.origins["num.partitions"], ConfigOrigin::Override);
    assert_eq!(
        c.origins["default.replication.factor"],
        ConfigOrigin::Env("KAFKA_DEFAULT_REPLICATION_FACTOR".into())
    );
    assert_eq!(
        c.origins["min.insync.replicas"],
        ConfigOrigin::PropertiesFile(props.path().to_path_buf())
    );
    assert_eq!(
        c.origins["queued.max.requests"],
        ConfigOrigin::TomlFile(toml.path().to_path_buf())
    );
    assert_eq!(c.raw["num.partitions"], "5");
    assert!(c.sources.values().all(|s| *s == ConfigSource::StaticBroker));
    assert_eq!(c.sources.len(), 4);
}

#[test]
fn toml_nested_dotted_arrays_and_scalars() {
    let toml = temp_file(
        r#"
"log.dirs" = ["/a", "/b"]
"auto.create.topics.enable" = false
[log.retention]
hours = 24
[log.cleaner.min.cleanable]
ratio = 0.25
[runnel.log]
format = "json"
"#,
    );
    let sources = ConfigSources {
        config_file: Some(toml.path().to_path_buf()),
        ..ConfigSources::default()
    };
    let (c, warnings) = load_with_hostname(&sources, HOST).expect("loads");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.log_dirs, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
    assert_eq!(c.raw["log.dirs"], "/a,/b");
    assert!(!c.auto_create_topics_enable);
    assert_eq!(c.log_retention_ms, 24 * 3_600_000);
    assert_eq!(c.raw["log.cleaner.min.cleanable.ratio"], "0.25");
    assert_eq!(c.log_format, LogFormat::Json);
}

#[test]
fn toml_syntax_error_names_the_file() {
    let toml = temp_file("num.partitions = = 3");
    let sources = ConfigSources {
        config_file: Some(toml.path().to_path_buf()),
        ..ConfigSources::default()
    };
    let e = load_with_hostname(&sources, HOST).expect_err("bad toml");
    assert!(matches!(e, ConfigError::Syntax { .. }), "{e}");
    assert!(
        e.to_string().contains(&toml.path().display().to_string()),
        "{e}"
    );
}

#[test]
fn missing_file_is_an_error() {
    let sources = ConfigSources {
        server_properties: Some(PathBuf::from("/nonexistent/server.properties")),
        ..ConfigSources::default()
    };
    let e = load_with_hostname(&sources, HOST).expect_err("missing file");
    assert!(matches!(e, ConfigError::Io { .. }), "{e}");
}

#[test]
fn properties_syntax_error_names_the_line() {
    let props = temp_file("a=1\n\nb=\\uZZZZ\n");
    let sources = ConfigSources {
        server_properties: Some(props.path().to_path_buf()),
        ..ConfigSources::default()
    };
    let e = load_with_hostname(&sources, HOST).expect_err("bad escape");
    assert!(
        matches!(e, ConfigError::Syntax { line: Some(3), .. }),
        "{e}"
    );
}

#[test]
fn env_mapping_and_ignored_variables() {
    let sources = ConfigSources {
        env: kv(&[
            ("KAFKA_ADVERTISED_LISTENERS", "PLAINTEXT://broker1:9092"),
            ("KAFKA_LOG_DIRS", "/var/lib/kafka"),
            ("KAFKA_HEAP_OPTS", "-Xmx1G"),
            ("KAFKA_JMX_PORT", "9999"),
            ("PATH", "/usr/bin"),
        ]),
        ..ConfigSources::default()
    };
    let (c, warnings) = load_with_hostname(&sources, HOST).expect("loads");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        c.advertised_for("PLAINTEXT").expect("exists").host,
        "broker1"
    );
    assert_eq!(c.log_dirs, vec![PathBuf::from("/var/lib/kafka")]);
    assert_eq!(c.raw.len(), 2);
}

#[test]
fn unknown_keys_warn_and_stay_in_raw() {
    let sources = ConfigSources {
        env: kv(&[("KAFKA_NOT_A_REAL_KEY", "x")]),
        overrides: kv(&[("bogus.key", "1")]),
        ..ConfigSources::default()
    };
    let (c, warnings) = load_with_hostname(&sources, HOST).expect("loads");
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("bogus.key") && w.contains("--override"))
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("not.a.real.key") && w.contains("KAFKA_NOT_A_REAL_KEY"))
    );
    assert_eq!(c.raw["bogus.key"], "1");
}

#[test]
fn invalid_values_name_key_and_value() {
    for (key, value, expect) in [
        ("num.partitions", "zero", "integer"),
        ("num.partitions", "0", ">= 1"),
        ("node.id", "-3", ">= 0"),
        ("auto.create.topics.enable", "maybe", "true or false"),
        ("compression.type", "brotli", "one of"),
        ("log.message.timestamp.type", "Now", "CreateTime"),
        ("listeners", "localhost:9092", "NAME://host:port"),
        ("listeners", "PLAINTEXT://h:99999", "port"),
        ("log.dirs", ",", "at least one directory"),
        ("offsets.topic.replication.factor", "100000", "short"),
        ("process.roles", "broker,broker", "once"),
        ("process.roles", "worker", "broker, controller"),
    ] {
        let msg = err(&[(key, value)]);
        assert!(
            msg.contains(key) && msg.contains(value) && msg.contains(expect),
            "{key}={value}: {msg}"
        );
    }
}

/// A node joins the quorum its config names or refuses to start: until
/// multi-voter quorums exist that quorum is one controller, a combined
/// node, which broker-only nodes name as their one voter.
#[test]
fn a_quorum_of_other_nodes_is_refused_not_ignored() {
    // What the Apache Kafka image and Runnel's own compose files set for one
    // combined node keeps working.
    for voters in ["", "1@localhost:9093", " 1@runnel:9093 "] {
        ok(&[("controller.quorum.voters", voters)]);
    }
    ok(&[("controller.quorum.bootstrap.servers", "localhost:9093")]);
    for (pairs, named) in [
        (
            vec![("controller.quorum.voters", "1@a:9093,2@b:9093,3@c:9093")],
            "controller(s) 2, 3 besides this node (node.id=1)",
        ),
        (
            vec![("node.id", "2"), ("controller.quorum.voters", "1@a:9093")],
            "controller(s) 1 besides this node (node.id=2)",
        ),
        (
            vec![("controller.quorum.bootstrap.servers", "a:9093,b:9093")],
            "more than one controller",
        ),
        (
            vec![
                ("process.roles", "broker"),
                ("node.id", "2"),
                ("controller.quorum.voters", "1@a:9093,3@c:9093"),
            ],
            "it names 2 voters",
        ),
        (
            vec![
                ("process.roles", "controller"),
                ("controller.quorum.voters", "1@a:9093,2@b:9093"),
            ],
            "controller(s) 2 besides this node (node.id=1)",
        ),
    ] {
        let msg = err(&pairs);
        assert!(
            msg.contains(pairs.last().unwrap().0) && msg.contains(named),
            "{pairs:?}: {msg}"
        );
        assert!(msg.contains("controller quorum is one node"), "{msg}");
    }
    let msg = err(&[("controller.quorum.voters", "one@a:9093")]);
    assert!(msg.contains("id@host:port"), "{msg}");
    let msg = err(&[("controller.quorum.voters", "1@a")]);
    assert!(msg.contains("id@host:port"), "{msg}");
}

/// A broker-only node names its controller and the controller's listener,
/// as Kafka requires, and is told where it went wrong.
#[test]
fn a_broker_only_node_names_its_one_controller() {
    let broker = [
        ("process.roles", "broker"),
        ("node.id", "2"),
        ("controller.listener.names", "CONTROLLER"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut pairs = broker.to_vec();
        pairs.extend_from_slice(extra);
        pairs
    };
    let c = ok(&with(&[("controller.quorum.voters", "1@ctl:9093")]));
    assert_eq!(c.controller_addresses, vec!["ctl:9093".to_string()]);
    assert!(c.is_broker() && !c.is_controller());
    let c = ok(&with(&[(
        "controller.quorum.bootstrap.servers",
        "c1:9093,c2:9093",
    )]));
    assert_eq!(c.controller_addresses, vec!["c1:9093", "c2:9093"]);
    for (extra, expect) in [
        (vec![], "the controller of this broker-only node"),
        (
            vec![("controller.quorum.voters", "2@self:9093")],
            "not itself (node.id=2",
        ),
    ] {
        let msg = err(&with(&extra));
        assert!(
            msg.contains("controller.quorum.voters") && msg.contains(expect),
            "{msg}"
        );
    }
    let msg = err(&[
        ("process.roles", "broker"),
        ("node.id", "2"),
        ("controller.quorum.voters", "1@ctl:9093"),
    ]);
    assert!(
        msg.contains("controller.listener.names") && msg.contains("at least one"),
        "{msg}"
    );
    let msg = err(&with(&[
        ("controller.quorum.voters", "1@ctl:9093"),
        ("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093"),
    ]));
    assert!(msg.contains("no name appearing in listeners"), "{msg}");
}

/// A controller-only node serves the controller listeners alone, as Kafka
/// insists.
#[test]
fn a_controller_only_node_has_only_controller_listeners() {
    let controller = [
        ("process.roles", "controller"),
        ("controller.listener.names", "CONTROLLER"),
        ("controller.quorum.voters", "1@127.0.0.1:9093"),
    ];
    let mut pairs = controller.to_vec();
    pairs.push(("listeners", "CONTROLLER://127.0.0.1:9093"));
    let c = ok(&pairs);
    assert!(c.is_controller() && !c.is_broker());
    assert!(c.advertised_listeners.is_empty());
    let mut pairs = controller.to_vec();
    pairs.push(("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093"));
    let msg = err(&pairs);
    assert!(
        msg.contains("only the controller listeners") && msg.contains("PLAINTEXT"),
        "{msg}"
    );
}

#[test]
fn log_dir_fallback() {
    assert_eq!(ok(&[("log.dir", "/x")]).log_dirs, vec![PathBuf::from("/x")]);
    assert_eq!(
        ok(&[("log.dir", "/x"), ("log.dirs", "/y, /z")]).log_dirs,
        vec![PathBuf::from("/y"), PathBuf::from("/z")]
    );
    assert!(err(&[("log.dir", "")]).contains("log.dir"));
}

#[test]
fn time_key_precedence() {
    let hour = 3_600_000;
    assert_eq!(ok(&[("log.retention.hours", "1")]).log_retention_ms, hour);
    assert_eq!(
        ok(&[("log.retention.hours", "1"), ("log.retention.minutes", "2")]).log_retention_ms,
        120_000
    );
    assert_eq!(
        ok(&[
            ("log.retention.hours", "1"),
            ("log.retention.minutes", "2"),
            ("log.retention.ms", "5")
        ])
        .log_retention_ms,
        5
    );
    assert_eq!(ok(&[("log.retention.ms", "-1")]).log_retention_ms, -1);
    assert_eq!(ok(&[("log.retention.hours", "-1")]).log_retention_ms, -1);
    assert_eq!(ok(&[("log.retention.minutes", "-5")]).log_retention_ms, -1);
    assert_eq!(ok(&[("log.roll.hours", "2")]).log_roll_ms, 2 * hour);
    assert_eq!(
        ok(&[("log.roll.hours", "2"), ("log.roll.ms", "1000")]).log_roll_ms,
        1000
    );
    assert_eq!(
        ok(&[("log.roll.jitter.hours", "1")]).log_roll_jitter_ms,
        hour
    );
    assert!(err(&[("log.roll.hours", "0")]).contains("log.roll.hours"));
    assert_eq!(
        ok(&[("log.flush.scheduler.interval.ms", "3000")]).log_flush_interval_ms,
        3000
    );
    assert_eq!(
        ok(&[
            ("log.flush.scheduler.interval.ms", "3000"),
            ("log.flush.interval.ms", "10")
        ])
        .log_flush_interval_ms,
        10
    );
}

#[test]
fn listeners_and_advertised_listeners() {
    let c = ok(&[
        ("listeners", "PLAINTEXT://:9092,INTERNAL://[::1]:9093"),
        (
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
        ),
    ]);
    assert_eq!(c.listeners.len(), 2);
    assert_eq!(c.advertised_for("plaintext").expect("exists").host, HOST);
    assert_eq!(c.advertised_for("INTERNAL").expect("exists").host, "::1");
    assert_eq!(c.advertised_for("NOPE"), None);

    let c = ok(&[("listeners", "PLAINTEXT://0.0.0.0:9092")]);
    assert_eq!(c.advertised_listeners[0].host, HOST);
    assert_eq!(c.listeners[0].host, "0.0.0.0");

    let c = ok(&[
        ("listeners", "PLAINTEXT://0.0.0.0:9092"),
        ("advertised.listeners", "PLAINTEXT://:19092"),
    ]);
    assert_eq!(
        c.advertised_for("PLAINTEXT").expect("exists"),
        Listener {
            name: "PLAINTEXT".into(),
            host: HOST.into(),
            port: 19092
        }
    );

    let c = ok(&[("advertised.listeners", "")]);
    assert_eq!(c.advertised_listeners, c.listeners, "empty means unset");

    let msg = err(&[("advertised.listeners", "OTHER://h:1")]);
    assert!(
        msg.contains("advertised.listeners") && msg.contains("OTHER"),
        "{msg}"
    );
    let msg = err(&[("advertised.listeners", "PLAINTEXT://0.0.0.0:9092")]);
    assert!(
        msg.contains("advertised.listeners") && msg.contains("routable"),
        "{msg}"
    );
    let msg = err(&[("listeners", "PLAINTEXT://:1,PLAINTEXT://:2")]);
    assert!(msg.contains("listeners") && msg.contains("twice"), "{msg}");
}

#[test]
fn controller_listener_is_not_advertised_by_default() {
    let c = ok(&[
        ("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093"),
        ("controller.listener.names", "CONTROLLER"),
    ]);
    assert_eq!(c.advertised_listeners.len(), 1);
    assert_eq!(c.advertised_for("CONTROLLER").expect("exists").port, 9093);
    let msg = err(&[("controller.listener.names", "CONTROLLER")]);
    assert!(msg.contains("controller.listener.names"), "{msg}");
}

#[test]
fn security_protocols() {
    let msg = err(&[("listeners", "SSL://:9093")]);
    assert!(
        msg.contains("SSL") && msg.contains("only PLAINTEXT"),
        "{msg}"
    );
    let msg = err(&[("listeners", "EXTERNAL://:9093")]);
    assert!(
        msg.contains("listener.security.protocol.map") && msg.contains("EXTERNAL"),
        "{msg}"
    );
    let msg = err(&[("listener.security.protocol.map", "PLAINTEXT:TLS")]);
    assert!(
        msg.contains("listener.security.protocol.map") && msg.contains("PLAINTEXT:TLS"),
        "{msg}"
    );
    let c = ok(&[
        ("listeners", "EXTERNAL://:9093"),
        ("listener.security.protocol.map", "EXTERNAL:PLAINTEXT"),
        ("inter.broker.listener.name", "EXTERNAL"),
    ]);
    assert_eq!(
        c.listener_security_protocol_map["EXTERNAL"],
        SecurityProtocol::Plaintext
    );
    let msg = err(&[
        ("listeners", "EXTERNAL://:9093"),
        ("listener.security.protocol.map", "EXTERNAL:PLAINTEXT"),
    ]);
    assert!(msg.contains("inter.broker.listener.name"), "{msg}");
}

#[test]
fn node_id_and_broker_id() {
    assert_eq!(ok(&[("broker.id", "7")]).node_id, 7);
    assert_eq!(ok(&[("node.id", "7"), ("broker.id", "7")]).node_id, 7);
    assert!(err(&[("node.id", "7"), ("broker.id", "8")]).contains("broker.id"));
    assert_eq!(ok(&[("node.id", "0")]).node_id, 0);
}

#[test]
fn optional_and_runnel_keys() {
    let c = ok(&[
        ("runnel.metrics.listener", ""),
        ("cluster.id", "abc"),
        ("broker.rack", "r1"),
        ("runnel.log.filter", "runnel=debug"),
    ]);
    assert_eq!(c.metrics_listener, None);
    assert_eq!(c.cluster_id.as_deref(), Some("abc"));
    assert_eq!(c.broker_rack.as_deref(), Some("r1"));
    assert_eq!(c.log_filter, "runnel=debug");
    assert_eq!(
        ok(&[("log.cleanup.policy", "delete,compact")]).log_cleanup_policy,
        CleanupPolicy::CompactDelete
    );
}

#[test]
fn parse_override_arguments() {
    assert_eq!(
        parse_override("a.b=c=d").expect("valid"),
        ("a.b".to_string(), "c=d".to_string())
    );
    assert_eq!(
        parse_override(" k = v ").expect("valid"),
        ("k".to_string(), "v".to_string())
    );
    assert!(matches!(
        parse_override("novalue"),
        Err(ConfigError::InvalidOverride { .. })
    ));
    assert!(matches!(
        parse_override("=v"),
        Err(ConfigError::InvalidOverride { .. })
    ));
}

#[test]
fn error_key_accessor() {
    let e = with_overrides(&[("num.partitions", "x")]).expect_err("invalid");
    assert_eq!(e.key(), Some("num.partitions"));
}

/// The environment the Apache Kafka image's single-node KRaft examples set
/// (our own values): it loads without a warning, the controller listener is
/// neither advertised nor a broker listener, CLUSTER_ID (no prefix) names the
/// cluster, and the settings Runnel does not act on are reported as inert.
#[test]
fn kafka_image_quickstart_environment() {
    let sources = ConfigSources {
        env: kv(&[
            ("KAFKA_NODE_ID", "1"),
            ("KAFKA_PROCESS_ROLES", "broker,controller"),
            ("KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093"),
            ("KAFKA_ADVERTISED_LISTENERS", "PLAINTEXT://localhost:9092"),
            (
                "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            ),
            ("KAFKA_INTER_BROKER_LISTENER_NAME", "PLAINTEXT"),
            ("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER"),
            ("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093"),
            ("CLUSTER_ID", "q1Sh-9_ZTWOVRbUhK3cvxQ"),
            ("KAFKA_LOG_DIRS", "/var/lib/kafka/data"),
            ("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false"),
            ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1"),
            ("KAFKA_NUM_PARTITIONS", "3"),
            ("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0"),
            ("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1"),
            ("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1"),
            ("KAFKA_HEAP_OPTS", "-Xmx1G"),
        ]),
        ..ConfigSources::default()
    };
    let (c, warnings) = load_with_hostname(&sources, HOST).expect("loads");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.node_id, 1);
    assert!(c.is_broker() && c.is_controller());
    assert_eq!(c.cluster_id.as_deref(), Some("q1Sh-9_ZTWOVRbUhK3cvxQ"));
    assert_eq!(
        c.origins["cluster.id"],
        ConfigOrigin::Env("CLUSTER_ID".into())
    );
    assert_eq!(c.listeners.len(), 2);
    assert_eq!(c.controller_listener_names, vec!["CONTROLLER".to_string()]);
    let advertised: Vec<String> = c
        .advertised_listeners
        .iter()
        .map(|l| l.to_string())
        .collect();
    assert_eq!(advertised, vec!["PLAINTEXT://localhost:9092".to_string()]);
    assert_eq!(c.log_dirs, vec![PathBuf::from("/var/lib/kafka/data")]);
    assert!(!c.auto_create_topics_enable);
    assert_eq!(c.offsets_topic_replication_factor, 1);
    assert_eq!(c.num_partitions, 3);
    assert_eq!(c.group_initial_rebalance_delay_ms, 0);
    assert_eq!(c.inter_broker_listener_name, "PLAINTEXT");
    assert!(c.inert_keys_set().is_empty(), "{:?}", c.inert_keys_set());

    // Bitnami spells the same settings KAFKA_CFG_*.
    let bitnami = ConfigSources {
        env: sources
            .env
            .iter()
            .map(|(k, v)| match k.strip_prefix("KAFKA_") {
                Some(rest) if k != "KAFKA_HEAP_OPTS" => (format!("KAFKA_CFG_{rest}"), v.clone()),
                _ => (k.clone(), v.clone()),
            })
            .collect(),
        ..ConfigSources::default()
    };
    let (b, warnings) = load_with_hostname(&bitnami, HOST).expect("loads");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(b.listeners, c.listeners);
    assert_eq!(b.advertised_listeners, c.advertised_listeners);
    assert_eq!(b.num_partitions, 3);
}

#[test]
fn broker_lifecycle_and_snapshot_keys_have_kafkas_defaults() {
    let c = ok(&[]);
    assert_eq!(
        (c.broker_heartbeat_interval_ms, c.broker_session_timeout_ms),
        (2000, 9000)
    );
    assert_eq!(
        (
            c.metadata_snapshot_max_bytes,
            c.metadata_snapshot_interval_ms
        ),
        (20 * 1024 * 1024, 3_600_000)
    );
    let c = ok(&[
        ("broker.heartbeat.interval.ms", "500"),
        ("broker.session.timeout.ms", "3000"),
        ("metadata.log.max.record.bytes.between.snapshots", "1000"),
    ]);
    assert_eq!(c.broker_heartbeat_interval_ms, 500);
    assert_eq!(c.broker_session_timeout_ms, 3000);
    assert_eq!(c.metadata_snapshot_max_bytes, 1000);
    assert!(err(&[("broker.heartbeat.interval.ms", "0")]).contains("broker.heartbeat.interval.ms"));
    assert!(
        err(&[("metadata.log.max.record.bytes.between.snapshots", "x")])
            .contains("metadata.log.max.record.bytes.between.snapshots")
    );
}
