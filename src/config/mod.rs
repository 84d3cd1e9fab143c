//! Runnel's configuration: where settings come from, how they merge, and
//! what each Kafka config key means to the broker.
//!
//! Kafka's property names are the canonical names everywhere: in the TOML
//! file, in `server.properties`, in `KAFKA_*` variables, in `--override`
//! and in DescribeConfigs. Sources merge with figment, lowest first:
//! built-in defaults < TOML file (`--config`) < `server.properties`
//! (`--server-properties`) < `KAFKA_*` environment variables < `--override`.
//! Keys stay flat dotted strings (`log.dirs`); a nested TOML table
//! `[log] dirs = ...` is flattened to the same key.
//!
//! - [`catalogue`]: every broker key with its type, default and range.
//! - [`broker`]: the typed [`BrokerConfig`] and its cross-key checks.
//! - [`topic`]: topic-level configs, their validation, DescribeConfigs
//!   output and the [`LogConfig`](crate::log::LogConfig) a partition uses.
//! - [`properties`], [`env`]: the Java properties reader and the container
//!   images' environment-variable naming.
//!
//! Kafka counterparts: `KafkaConfig`, `LogConfig`, `ConfigDef`,
//! `ServerTopicConfigSynonyms`.

pub mod broker;
pub mod catalogue;
pub mod env;
pub mod error;
pub mod properties;
pub mod reference;
pub mod topic;
pub mod types;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::providers::Format;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

pub use broker::BrokerConfig;
pub use catalogue::{BROKER_CONFIGS, ConfigType, KeyDef};
pub use error::ConfigError;
pub use topic::{
    ConfigSource, DescribedConfig, TOPIC_CONFIGS, describe_broker_configs, describe_topic_configs,
    resolve_log_config, validate_topic_config,
};
pub use types::{
    CleanupPolicy, CompressionType, ConfigOrigin, Listener, LogFormat, ProcessRole,
    SecurityProtocol,
};

/// The inputs of [`load`]. Every field is optional; an empty value yields
/// the built-in defaults.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    /// A Runnel TOML file (`--config`).
    pub config_file: Option<PathBuf>,
    /// A Kafka `server.properties` file (`--server-properties`).
    pub server_properties: Option<PathBuf>,
    /// The process environment, passed in so tests need not mutate it.
    pub env: Vec<(String, String)>,
    /// `--override key=value` arguments, in command-line order.
    pub overrides: Vec<(String, String)>,
}

/// Loads, merges and validates the configuration. Returns the config and
/// warnings for the operator (unknown keys, one line each).
pub fn load(sources: &ConfigSources) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
    load_with_hostname(sources, &machine_hostname())
}

/// [`load`] with the hostname used for wildcard advertised listeners given
/// explicitly, so tests are independent of the machine.
pub fn load_with_hostname(
    sources: &ConfigSources,
    hostname: &str,
) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
    let mut layers: Vec<Layer> = Vec::new();
    if let Some(path) = &sources.config_file {
        let text = read_file(path)?;
        layers.push(Layer {
            name: "toml",
            entries: toml_entries(path, &text)?,
        });
    }
    if let Some(path) = &sources.server_properties {
        let text = read_file(path)?;
        let entries = properties::parse_properties(&text).map_err(|e| ConfigError::Syntax {
            path: path.clone(),
            line: Some(e.line),
            message: e.message,
        })?;
        layers.push(Layer {
            name: "properties",
            entries: entries.into_iter().collect(),
        });
    }
    let env_entries = env::config_from_env(&sources.env);
    let mut env_vars = BTreeMap::new();
    let mut entries = BTreeMap::new();
    for (key, value, var) in env_entries {
        env_vars.insert(key.clone(), var);
        entries.insert(key, value);
    }
    layers.push(Layer {
        name: "env",
        entries,
    });
    layers.push(Layer {
        name: "override",
        entries: sources
            .overrides
            .iter()
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
    });

    let figment = layers
        .into_iter()
        .fold(Figment::new(), |figment, layer| figment.merge(layer));
    let data = figment.data().map_err(|e| ConfigError::Syntax {
        path: sources.config_file.clone().unwrap_or_default(),
        line: None,
        message: e.to_string(),
    })?;

    let mut raw = BTreeMap::new();
    let mut origins = BTreeMap::new();
    if let Some(dict) = data.get(&Profile::Default) {
        for (key, value) in dict {
            let text = value.as_str().unwrap_or_default().to_string();
            let layer = figment.get_metadata(value.tag()).map(|m| m.name.as_ref());
            let origin = match layer {
                Some("toml") => {
                    ConfigOrigin::TomlFile(sources.config_file.clone().unwrap_or_default())
                }
                Some("properties") => ConfigOrigin::PropertiesFile(
                    sources.server_properties.clone().unwrap_or_default(),
                ),
                Some("env") => ConfigOrigin::Env(env_vars.get(key).cloned().unwrap_or_default()),
                _ => ConfigOrigin::Override,
            };
            raw.insert(key.clone(), text);
            origins.insert(key.clone(), origin);
        }
    }

    let mut warnings = Vec::new();
    for (key, value) in &raw {
        match catalogue::broker_key(key) {
            Some(def) => catalogue::check_value(def, value)?,
            None => warnings.push(format!(
                "unknown config '{key}' (set by {}) is ignored{}",
                origins[key],
                catalogue::closest_key(key)
                    .map(|k| format!("; did you mean '{k}'?"))
                    .unwrap_or_default()
            )),
        }
    }
    let config = broker::build(raw, origins, hostname)?;
    Ok((config, warnings))
}

/// A config from `--override`-style pairs alone, for tests anywhere in the
/// crate; panics on an invalid one.
#[cfg(test)]
pub(crate) fn config_for_test(pairs: &[(&str, &str)], hostname: &str) -> BrokerConfig {
    let sources = ConfigSources {
        overrides: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..ConfigSources::default()
    };
    load_with_hostname(&sources, hostname)
        .unwrap_or_else(|e| panic!("{pairs:?}: {e}"))
        .0
}

/// Splits a `--override key=value` argument.
pub fn parse_override(argument: &str) -> Result<(String, String), ConfigError> {
    match argument.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(ConfigError::InvalidOverride {
            argument: argument.to_string(),
        }),
    }
}

/// One input, already flattened to dotted Kafka keys and string values.
struct Layer {
    name: &'static str,
    entries: BTreeMap<String, String>,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let dict: Dict = self
            .entries
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        Ok(Map::from([(Profile::Default, dict)]))
    }
}

fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Parses a TOML file with figment and flattens it to dotted keys.
fn toml_entries(path: &Path, text: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let data = figment::providers::Toml::string(text)
        .data()
        .map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            line: None,
            message: e.to_string(),
        })?;
    let mut out = BTreeMap::new();
    for dict in data.values() {
        flatten("", dict, &mut out)?;
    }
    Ok(out)
}

fn flatten(
    prefix: &str,
    dict: &Dict,
    out: &mut BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    for (key, value) in dict {
        let full = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Dict(_, inner) => flatten(&full, inner, out)?,
            Value::Array(_, items) => {
                let parts = items
                    .iter()
                    .map(|item| scalar_text(&full, item))
                    .collect::<Result<Vec<_>, _>>()?;
                out.insert(full, parts.join(","));
            }
            other => {
                let text = scalar_text(&full, other)?;
                out.insert(full, text);
            }
        }
    }
    Ok(())
}

fn scalar_text(key: &str, value: &Value) -> Result<String, ConfigError> {
    match value {
        Value::String(_, s) => Ok(s.trim().to_string()),
        Value::Char(_, c) => Ok(c.to_string()),
        Value::Bool(_, b) => Ok(b.to_string()),
        Value::Num(_, n) => Ok(match (n.to_i128(), n.to_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => f.to_string(),
            (None, None) => String::new(),
        }),
        Value::Empty(..) => Ok(String::new()),
        Value::Dict(..) | Value::Array(..) => Err(ConfigError::invalid(
            key,
            "<nested table or array>",
            "a string, number, boolean or an array of those",
        )),
    }
}

/// The machine's hostname, used where Kafka advertises its canonical host
/// name for a wildcard listener. Falls back to `localhost`.
pub fn machine_hostname() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: the pointer and length describe `buf`, which outlives the call.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            if let Ok(name) = std::str::from_utf8(&buf[..end]) {
                if !name.is_empty() {
                    return name.to_string();
                }
            }
        }
    }
    std::env::var("COMPUTERNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests;
