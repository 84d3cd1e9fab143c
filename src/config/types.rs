//! Value types of broker configs: listeners, roles and the small enums that
//! Kafka spells as strings.

use std::fmt;
use std::path::PathBuf;

/// One entry of `listeners` or `advertised.listeners`: `NAME://host:port`.
/// An empty host means every interface. Names are upper-cased, as Kafka
/// normalises them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Listener {
    pub name: String,
    pub host: String,
    pub port: u16,
}

impl Listener {
    /// Parses one `NAME://host:port` entry; IPv6 hosts go in brackets.
    /// The error says what was expected.
    pub fn parse(entry: &str) -> Result<Listener, String> {
        let expected = || "NAME://host:port, e.g. PLAINTEXT://127.0.0.1:9092".to_string();
        let (name, address) = entry.trim().split_once("://").ok_or_else(expected)?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(expected());
        }
        let (host, port) = if let Some(rest) = address.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(expected)?;
            (host, after.strip_prefix(':').ok_or_else(expected)?)
        } else {
            address.rsplit_once(':').ok_or_else(expected)?
        };
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("a port in [0, 65535] in {entry:?}"))?;
        Ok(Listener {
            name: name.to_ascii_uppercase(),
            host: host.to_string(),
            port,
        })
    }

    /// Parses a comma-separated list; empty items are skipped.
    pub fn parse_list(list: &str) -> Result<Vec<Listener>, String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Listener::parse)
            .collect()
    }

    /// True for the host forms that mean "every interface".
    pub fn is_wildcard_host(&self) -> bool {
        matches!(self.host.as_str(), "" | "0.0.0.0" | "::" | "[::]")
    }

    /// The address to bind: the host (empty means all interfaces) and port.
    pub fn bind_address(&self) -> String {
        let host = if self.host.is_empty() {
            "0.0.0.0"
        } else {
            &self.host
        };
        if host.contains(':') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.name, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.name, self.host, self.port)
        }
    }
}

/// A KRaft process role (`process.roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProcessRole {
    Broker,
    Controller,
}

impl ProcessRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessRole::Broker => "broker",
            ProcessRole::Controller => "controller",
        }
    }
}

/// Security protocols Kafka names in `listener.security.protocol.map`.
/// Only [`SecurityProtocol::Plaintext`] is served today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    /// Kafka's `SecurityProtocol.id`.
    pub fn id(self) -> i16 {
        match self {
            SecurityProtocol::Plaintext => 0,
            SecurityProtocol::Ssl => 1,
            SecurityProtocol::SaslPlaintext => 2,
            SecurityProtocol::SaslSsl => 3,
        }
    }

    pub fn parse(s: &str) -> Option<SecurityProtocol> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }
}

/// `compression.type` at broker or topic level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompressionType {
    Uncompressed,
    Zstd,
    Lz4,
    Snappy,
    Gzip,
    /// Keep whatever the producer used.
    Producer,
}

impl CompressionType {
    pub fn parse(s: &str) -> Option<CompressionType> {
        match s {
            "uncompressed" => Some(CompressionType::Uncompressed),
            "zstd" => Some(CompressionType::Zstd),
            "lz4" => Some(CompressionType::Lz4),
            "snappy" => Some(CompressionType::Snappy),
            "gzip" => Some(CompressionType::Gzip),
            "producer" => Some(CompressionType::Producer),
            _ => None,
        }
    }
}

/// `cleanup.policy` / `log.cleanup.policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CleanupPolicy {
    Delete,
    Compact,
    /// Both: compact, and also delete by retention.
    CompactDelete,
}

impl CleanupPolicy {
    /// Parses a comma-separated list of `delete` and `compact`.
    pub fn parse(s: &str) -> Option<CleanupPolicy> {
        let mut delete = false;
        let mut compact = false;
        for item in s.split(',').map(str::trim) {
            match item {
                "delete" => delete = true,
                "compact" => compact = true,
                _ => return None,
            }
        }
        match (delete, compact) {
            (true, false) => Some(CleanupPolicy::Delete),
            (false, true) => Some(CleanupPolicy::Compact),
            (true, true) => Some(CleanupPolicy::CompactDelete),
            (false, false) => None,
        }
    }

    pub fn deletes(self) -> bool {
        matches!(self, CleanupPolicy::Delete | CleanupPolicy::CompactDelete)
    }

    pub fn compacts(self) -> bool {
        matches!(self, CleanupPolicy::Compact | CleanupPolicy::CompactDelete)
    }
}

/// `runnel.log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogFormat {
    Text,
    Json,
}

/// Which input set a config value: useful in logs and error reports.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConfigOrigin {
    TomlFile(PathBuf),
    PropertiesFile(PathBuf),
    /// The environment variable that set it.
    Env(String),
    /// A `--override key=value` argument.
    Override,
    /// A dynamic broker config from the metadata log: for this broker, or
    /// the cluster-wide default (`default`).
    Dynamic {
        default: bool,
    },
}

impl fmt::Display for ConfigOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigOrigin::TomlFile(p) => write!(f, "config file {}", p.display()),
            ConfigOrigin::PropertiesFile(p) => write!(f, "properties file {}", p.display()),
            ConfigOrigin::Env(var) => write!(f, "environment variable {var}"),
            ConfigOrigin::Override => write!(f, "--override"),
            ConfigOrigin::Dynamic { default: false } => write!(f, "dynamic broker config"),
            ConfigOrigin::Dynamic { default: true } => {
                write!(f, "dynamic cluster-default broker config")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(name: &str, host: &str, port: u16) -> Listener {
        Listener {
            name: name.to_string(),
            host: host.to_string(),
            port,
        }
    }

    #[test]
    fn listener_forms() {
        assert_eq!(
            Listener::parse("PLAINTEXT://0.0.0.0:9092"),
            Ok(l("PLAINTEXT", "0.0.0.0", 9092))
        );
        assert_eq!(
            Listener::parse("PLAINTEXT://:9092"),
            Ok(l("PLAINTEXT", "", 9092))
        );
        assert_eq!(
            Listener::parse("INTERNAL://[::1]:9093"),
            Ok(l("INTERNAL", "::1", 9093))
        );
        assert_eq!(
            Listener::parse("internal://broker-1.example:0"),
            Ok(l("INTERNAL", "broker-1.example", 0))
        );
        assert_eq!(
            Listener::parse(" CONTROLLER://localhost:9093 "),
            Ok(l("CONTROLLER", "localhost", 9093))
        );
        for bad in [
            "localhost:9092",
            "PLAINTEXT://localhost",
            "PLAINTEXT://h:70000",
            "PLAINTEXT://h:-1",
            "://h:1",
            "A B://h:1",
        ] {
            assert!(Listener::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn listener_display_round_trips() {
        for s in [
            "PLAINTEXT://127.0.0.1:9092",
            "PLAINTEXT://:9092",
            "INTERNAL://[::1]:9093",
        ] {
            assert_eq!(Listener::parse(s).expect("valid").to_string(), s);
        }
        assert_eq!(l("X", "", 1).bind_address(), "0.0.0.0:1");
        assert_eq!(l("X", "::1", 1).bind_address(), "[::1]:1");
    }

    #[test]
    fn cleanup_policy_lists() {
        assert_eq!(CleanupPolicy::parse("delete"), Some(CleanupPolicy::Delete));
        assert_eq!(
            CleanupPolicy::parse("compact, delete"),
            Some(CleanupPolicy::CompactDelete)
        );
        assert_eq!(
            CleanupPolicy::parse("delete,compact"),
            Some(CleanupPolicy::CompactDelete)
        );
        assert_eq!(CleanupPolicy::parse(""), None);
        assert_eq!(CleanupPolicy::parse("remove"), None);
    }
}
