//! What the binary checks and says before the node starts: the version
//! with its commit and build date, the config sources, each log dir, every
//! listener with its advertised address; `--print-config` (each effective
//! value with its source) and `--check`; and the one-line errors of a start
//! that cannot go on.
//!
//! Exit codes of `runnel` (documented in the README):
//! - 0: clean shutdown (SIGTERM/SIGINT), or `--check`/`--print-config` done;
//! - 1 ([`EXIT_LOG_DIR_FAILED`]): a log dir failed a write or fsync (a full
//!   or broken disk); the broker stops at once, as Kafka halts, and
//!   recovers the logs when restarted.
//! - 2 ([`EXIT_BAD_CONFIG`]): bad configuration or environment: an invalid
//!   value, an unknown `--override` shape, a log dir that is a file or not
//!   writable, a port in use, a locked data dir. One line on stderr naming
//!   the key, path or variable; no backtrace.
//! - 101: a panic, a bug: Rust's panic message, with a backtrace when
//!   `RUST_BACKTRACE` asks for one.
//!
//! Kafka counterpart: the `KafkaConfig values:` dump at start-up and
//! `kafka-storage`'s checks; `rpk redpanda config` for the printing.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::config::{BROKER_CONFIGS, BrokerConfig, ConfigOrigin, ConfigSources, ConfigType, env};

/// Exit code for a start refused because of its configuration or
/// environment.
pub const EXIT_BAD_CONFIG: i32 = 2;

/// Exit code of a broker stopped by a failed log dir (Kafka's `Exit.halt(1)`).
pub const EXIT_LOG_DIR_FAILED: i32 = 1;

/// `0.1.0 (commit 0123abcd4567, built 2026-12-01)`.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("RUNNEL_GIT_COMMIT"),
    ", built ",
    env!("RUNNEL_BUILD_DATE"),
    ")"
);

/// ", set by environment variable KAFKA_LOG_DIRS", or "" for a default:
/// goes after the key, as in `(config 'log.dirs', set by ...)`.
pub fn origin_note(config: &BrokerConfig, key: &str) -> String {
    config
        .origins
        .get(key)
        .map(|o| format!(", set by {o}"))
        .unwrap_or_default()
}

/// Where `key` came from when loading failed (no config to ask): the
/// strongest source that sets it among `--override` and `KAFKA_*`
/// variables, which are the ones a person cannot see in a file.
pub fn failed_origin_note(sources: &ConfigSources, key: &str) -> String {
    if sources.overrides.iter().any(|(k, _)| k.trim() == key) {
        return " (set by --override)".to_string();
    }
    env::config_from_env(&sources.env)
        .into_iter()
        .find(|(k, _, _)| k == key)
        .map(|(_, _, var)| format!(" (set by environment variable {var})"))
        .unwrap_or_default()
}

/// Checks every log dir before anything opens it: it is a directory (or
/// can be made one) and this process may write in it. With `create` the
/// missing ones are made, as the start does; `--check` creates nothing.
pub fn check_log_dirs(config: &BrokerConfig, create: bool) -> Result<(), String> {
    let note = origin_note(config, "log.dirs");
    for dir in &config.log_dirs {
        let fail =
            |what: String| format!("log dir {} (config 'log.dirs'{note}) {what}", dir.display());
        match std::fs::metadata(dir) {
            Ok(m) if !m.is_dir() => return Err(fail("is not a directory".into())),
            Ok(_) => writable(dir).map_err(|e| fail(format!("is not writable: {e}")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if create {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| fail(format!("cannot be created: {e}")))?;
                } else {
                    let parent = nearest_existing(dir);
                    if !parent.is_dir() {
                        return Err(fail(format!(
                            "cannot be created: {} is not a directory",
                            parent.display()
                        )));
                    }
                    writable(&parent).map_err(|e| {
                        fail(format!("cannot be created in {}: {e}", parent.display()))
                    })?;
                }
            }
            Err(e) => return Err(fail(format!("cannot be read: {e}"))),
        }
    }
    Ok(())
}

fn nearest_existing(path: &Path) -> std::path::PathBuf {
    let mut p = path.to_path_buf();
    while !p.exists() {
        match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => p = parent.to_path_buf(),
            _ => return std::path::PathBuf::from("."),
        }
    }
    p
}

/// `access(W_OK | X_OK)`: may this process create files in `dir`?
fn writable(dir: &Path) -> std::io::Result<()> {
    let path = CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: a NUL-terminated path that outlives the call.
    if unsafe { libc::access(path.as_ptr(), libc::W_OK | libc::X_OK) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The sources actually used, for the start-up log.
pub fn describe_sources(sources: &ConfigSources) -> String {
    let mut used = vec!["defaults".to_string()];
    if let Some(p) = &sources.config_file {
        used.push(format!("config file {}", p.display()));
    }
    if let Some(p) = &sources.server_properties {
        used.push(format!("properties file {}", p.display()));
    }
    let vars: Vec<String> = env::config_from_env(&sources.env)
        .into_iter()
        .map(|(_, _, var)| var)
        .collect();
    if !vars.is_empty() {
        used.push(format!("environment ({})", vars.join(", ")));
    }
    if !sources.overrides.is_empty() {
        used.push(format!("{} --override", sources.overrides.len()));
    }
    used.join(", ")
}

/// The start-up lines before the node opens anything: version, sources,
/// log dirs, listeners with what they advertise, metrics address.
pub fn log_startup(config: &BrokerConfig, sources: &ConfigSources) {
    tracing::info!(version = LONG_VERSION, "runnel starting");
    tracing::info!(sources = %describe_sources(sources), "configuration loaded");
    for dir in &config.log_dirs {
        tracing::info!(dir = %dir.display(), "log dir");
    }
    for l in &config.listeners {
        let advertised = config
            .advertised_for(&l.name)
            .map(|a| format!("{}:{}", a.host, a.port))
            .unwrap_or_else(|| "-".into());
        tracing::info!(
            listener = %l.name,
            bind = %l.bind_address(),
            advertised = %advertised,
            "listener (clients connect to the advertised address)"
        );
    }
    match config.metrics_listener.as_deref() {
        Some(addr) => tracing::info!(address = addr, "metrics endpoint configured"),
        None => tracing::info!("metrics endpoint disabled (runnel.metrics.listener is empty)"),
    }
}

/// `--print-config`: every key with its effective value and its source,
/// in properties syntax (sensitive values hidden), sorted by key.
pub fn print_config(config: &BrokerConfig) -> String {
    let mut defs: Vec<_> = BROKER_CONFIGS.iter().collect();
    defs.sort_by_key(|d| d.name);
    let mut out = String::new();
    for def in defs {
        let value = config
            .raw
            .get(def.name)
            .map(String::as_str)
            .or(def.default)
            .unwrap_or("");
        let value = if def.ty == ConfigType::Password && !value.is_empty() {
            "[hidden]"
        } else {
            value
        };
        let source = match config.origins.get(def.name) {
            Some(o) => source_label(o),
            None => "default".to_string(),
        };
        out.push_str(&format!("{}={value}  # {source}\n", def.name));
    }
    out
}

fn source_label(origin: &ConfigOrigin) -> String {
    origin.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::config_for_test;

    #[test]
    fn the_long_version_has_the_commit_and_date() {
        assert!(LONG_VERSION.starts_with(env!("CARGO_PKG_VERSION")));
        assert!(LONG_VERSION.contains("(commit ") && LONG_VERSION.contains(", built "));
    }

    #[test]
    fn print_config_lists_every_key_with_its_source() {
        let config = config_for_test(&[("num.partitions", "3")], "host");
        let text = print_config(&config);
        assert_eq!(text.lines().count(), BROKER_CONFIGS.len());
        assert!(text.contains("num.partitions=3  # --override\n"), "{text}");
        assert!(
            text.contains("log.retention.hours=168  # default\n"),
            "{text}"
        );
    }

    #[test]
    fn a_log_dir_that_is_a_file_is_named_with_its_key() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("afile");
        std::fs::write(&file, b"x").unwrap();
        let config = config_for_test(&[("log.dirs", file.to_str().unwrap())], "host");
        let e = check_log_dirs(&config, false).unwrap_err();
        assert!(
            e.contains("afile") && e.contains("(config 'log.dirs', set by --override)"),
            "{e}"
        );
        assert!(e.ends_with("is not a directory"), "{e}");
        let missing = tmp.path().join("a/b");
        let config = config_for_test(&[("log.dirs", missing.to_str().unwrap())], "host");
        check_log_dirs(&config, false).unwrap();
        assert!(!missing.exists(), "--check creates nothing");
        check_log_dirs(&config, true).unwrap();
        assert!(missing.is_dir());
    }

    #[test]
    fn a_failed_load_names_the_variable_or_the_override() {
        let sources = ConfigSources {
            env: vec![("KAFKA_NUM_PARTITIONS".into(), "three".into())],
            ..ConfigSources::default()
        };
        assert_eq!(
            failed_origin_note(&sources, "num.partitions"),
            " (set by environment variable KAFKA_NUM_PARTITIONS)"
        );
        let sources = ConfigSources {
            overrides: vec![("num.partitions".into(), "x".into())],
            ..sources
        };
        assert_eq!(
            failed_origin_note(&sources, "num.partitions"),
            " (set by --override)"
        );
        assert_eq!(failed_origin_note(&sources, "log.dirs"), "");
    }
}
