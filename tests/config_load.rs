//! Loads configuration from real files on disk, as `runnel --config ...
//! --server-properties ...` does.

use std::path::PathBuf;

use runnel::config::{
    ConfigError, ConfigOrigin, ConfigSource, ConfigSources, describe_topic_configs, load,
    load_with_hostname,
};

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write config file");
    path
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The example documents the defaults; the one active line is the
/// development setting Kafka's own sample config also makes.
#[test]
fn the_example_file_is_the_defaults_but_the_rebalance_delay() {
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/runnel.toml");
    let sources = ConfigSources {
        config_file: Some(example),
        ..ConfigSources::default()
    };
    let (config, warnings) = load(&sources).expect("the example loads");
    assert!(warnings.is_empty(), "{warnings:?}");
    let active: Vec<&str> = config.sources.keys().map(String::as_str).collect();
    assert_eq!(active, ["group.initial.rebalance.delay.ms"]);
    assert_eq!(config.group_initial_rebalance_delay_ms, 0);
    let mut reset = config.clone();
    reset.raw.clear();
    reset.sources.clear();
    reset.origins.clear();
    reset.group_initial_rebalance_delay_ms =
        runnel::config::BrokerConfig::default().group_initial_rebalance_delay_ms;
    assert_eq!(reset, runnel::config::BrokerConfig::default());
}

#[test]
fn every_example_line_is_a_valid_setting() {
    // Uncommenting any documented setting must load without warnings.
    let example = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/runnel.toml"),
    )
    .expect("read example");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut checked = 0;
    for line in example
        .lines()
        .filter(|l| l.starts_with("# \"") && l.contains("\" = "))
    {
        let setting = line.trim_start_matches("# ");
        let setting = setting.split("  #").next().unwrap_or(setting).trim();
        let path = write(&dir, "one.toml", setting);
        let sources = ConfigSources {
            config_file: Some(path),
            ..ConfigSources::default()
        };
        match load_with_hostname(&sources, "h") {
            Ok((_, warnings)) => assert!(warnings.is_empty(), "{setting}: {warnings:?}"),
            Err(e) => panic!("{setting}: {e}"),
        }
        checked += 1;
    }
    assert!(checked > 40, "only {checked} settings found in the example");
}

#[test]
fn all_sources_from_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = write(
        &dir,
        "runnel.toml",
        r#"
"node.id" = 3
"num.partitions" = 2
[log]
dirs = ["/data/a", "/data/b"]
[log.retention]
hours = 48
"#,
    );
    let props = write(
        &dir,
        "server.properties",
        "# Kafka server.properties\n\
         process.roles=broker,controller\n\
         listeners=PLAINTEXT://:19092,\\\n    CONTROLLER://:19093\n\
         controller.listener.names=CONTROLLER\n\
         num.partitions: 6\n\
         log.retention.minutes = 30\n\
         num.network.threads=3\n\
         some.unknown.key=1\n",
    );
    let sources = ConfigSources {
        config_file: Some(toml.clone()),
        server_properties: Some(props.clone()),
        env: pairs(&[
            (
                "KAFKA_ADVERTISED_LISTENERS",
                "PLAINTEXT://broker3.example:19092",
            ),
            ("KAFKA_HEAP_OPTS", "-Xmx1G"),
            ("HOME", "/root"),
        ]),
        overrides: pairs(&[("num.partitions", "12")]),
    };
    let (config, warnings) = load(&sources).expect("loads");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("some.unknown.key"));
    assert_eq!(config.node_id, 3);
    assert_eq!(config.num_partitions, 12);
    assert_eq!(
        config.log_dirs,
        vec![PathBuf::from("/data/a"), PathBuf::from("/data/b")]
    );
    assert_eq!(
        config.log_retention_ms,
        30 * 60_000,
        "minutes beat hours across sources"
    );
    assert_eq!(config.listeners.len(), 2);
    let advertised = config.advertised_for("PLAINTEXT").expect("advertised");
    assert_eq!(
        (advertised.host.as_str(), advertised.port),
        ("broker3.example", 19092)
    );
    assert_eq!(
        config
            .advertised_for("CONTROLLER")
            .expect("controller")
            .port,
        19093
    );
    assert_eq!(config.origins["node.id"], ConfigOrigin::TomlFile(toml));
    assert_eq!(
        config.origins["listeners"],
        ConfigOrigin::PropertiesFile(props)
    );
    assert_eq!(
        config.origins["advertised.listeners"],
        ConfigOrigin::Env("KAFKA_ADVERTISED_LISTENERS".into())
    );
    assert_eq!(config.origins["num.partitions"], ConfigOrigin::Override);
    assert_eq!(config.sources["num.partitions"], ConfigSource::StaticBroker);

    let described = describe_topic_configs(&Default::default(), &config);
    let retention = described
        .iter()
        .find(|d| d.name == "retention.ms")
        .expect("retention.ms");
    assert_eq!(retention.value.as_deref(), Some("1800000"));
    // Set through log.retention.minutes only: Kafka 4.1 lists no synonym
    // before the primary key log.retention.ms and so says DEFAULT_CONFIG
    // (differential/test_configs.py checks it against Kafka).
    assert_eq!(retention.source, ConfigSource::Default);
}

#[test]
fn a_bad_value_in_a_file_names_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let props = write(&dir, "server.properties", "message.max.bytes=lots\n");
    let sources = ConfigSources {
        server_properties: Some(props),
        ..ConfigSources::default()
    };
    let e = load(&sources).expect_err("invalid");
    assert!(
        matches!(e, ConfigError::InvalidValue { ref key, .. } if key == "message.max.bytes"),
        "{e}"
    );
    assert!(e.to_string().contains("lots"));
}

#[test]
fn a_missing_file_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sources = ConfigSources {
        config_file: Some(dir.path().join("absent.toml")),
        ..ConfigSources::default()
    };
    assert!(matches!(load(&sources), Err(ConfigError::Io { .. })));
}
