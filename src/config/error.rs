//! The configuration layer's error type. Every variant names the key and the
//! offending value so that an operator can fix the input without guessing.

use std::path::PathBuf;

/// Why a configuration could not be loaded or a config value was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value does not parse as the key's type or falls outside its range.
    #[error("invalid value {value:?} for config '{key}': expected {expected}")]
    InvalidValue {
        key: String,
        value: String,
        expected: String,
    },
    /// A value parses but names something Runnel does not implement yet.
    #[error("unsupported value {value:?} for config '{key}': {reason}")]
    Unsupported {
        key: String,
        value: String,
        reason: String,
    },
    /// A topic-level config Kafka does not know (the broker answers INVALID_CONFIG).
    #[error("unknown topic config '{key}' (value {value:?})")]
    UnknownTopicConfig { key: String, value: String },
    /// A configuration file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A configuration file is not well formed.
    #[error("syntax error in {path}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Syntax {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// A `--override` argument that is not `key=value`.
    #[error("invalid override {argument:?}: expected key=value")]
    InvalidOverride { argument: String },
}

impl ConfigError {
    pub(crate) fn invalid(key: &str, value: &str, expected: impl Into<String>) -> Self {
        ConfigError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// The config key this error is about, when it is about one key.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::InvalidValue { key, .. }
            | ConfigError::Unsupported { key, .. }
            | ConfigError::UnknownTopicConfig { key, .. } => Some(key),
            ConfigError::Io { .. }
            | ConfigError::Syntax { .. }
            | ConfigError::InvalidOverride { .. } => None,
        }
    }
}
