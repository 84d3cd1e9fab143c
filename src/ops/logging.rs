//! Structured logs through `tracing`: `RUST_LOG` wins over
//! `runnel.log.filter`; `runnel.log.format` picks text or JSON. Logs go to
//! stderr, coloured only when stderr is a terminal (not in `docker logs`
//! or a log file) and `NO_COLOR` is unset or empty (no-color.org). A
//! filter that does not parse is an error for the caller to report, never
//! silently replaced (`runnel.log.filter` is checked with the config).
//!
//! Logging never takes the broker down: a closed or failing stderr (a log
//! shipper gone, `runnel | head`, an SSH session closed) loses the lines,
//! nothing else. The writer reports every write as done, so tracing never
//! falls back to `eprintln!`, which panics on a broken pipe.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::BrokerConfig;
use crate::config::types::LogFormat;

/// The filter in effect: `RUST_LOG` when set and not empty, else
/// `runnel.log.filter`. The error names the one that does not parse.
pub fn filter(config: &BrokerConfig) -> Result<EnvFilter, String> {
    match std::env::var("RUST_LOG") {
        Ok(f) if !f.trim().is_empty() => EnvFilter::try_new(&f).map_err(|e| {
            format!(
                "invalid RUST_LOG {f:?} (it wins over runnel.log.filter): expected a tracing \
                 filter such as info or runnel=debug ({e})"
            )
        }),
        _ => EnvFilter::try_new(&config.log_filter).map_err(|e| {
            format!(
                "invalid value {:?} for config 'runnel.log.filter': {e}",
                config.log_filter
            )
        }),
    }
}

/// Whether to colour: a terminal, and `NO_COLOR` unset or empty.
pub fn use_colour(is_terminal: bool, no_color: Option<&str>) -> bool {
    is_terminal && no_color.is_none_or(str::is_empty)
}

pub fn init(config: &BrokerConfig, filter: EnvFilter) {
    let no_color = std::env::var("NO_COLOR").ok();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| StderrLossy)
        .with_ansi(use_colour(
            std::io::stderr().is_terminal(),
            no_color.as_deref(),
        ));
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        _ => builder.init(),
    }
}

/// stderr, with write errors dropped.
struct StderrLossy;

impl std::io::Write for StderrLossy {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_turns_colour_off_unless_empty() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some("")));
        assert!(!use_colour(true, Some("1")));
        assert!(!use_colour(false, None));
    }
}
