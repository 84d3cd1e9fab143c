//! Structured logs through `tracing`: `RUST_LOG` wins over
//! `runnel.log.filter`; `runnel.log.format` picks text or JSON. Logs go to
//! stderr, coloured only when stderr is a terminal (not in `docker logs`
//! or a log file).
//!
//! Logging never takes the broker down: a closed or failing stderr (a log
//! shipper gone, `runnel | head`, an SSH session closed) loses the lines,
//! nothing else. The writer reports every write as done, so tracing never
//! falls back to `eprintln!`, which panics on a broken pipe.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::BrokerConfig;
use crate::config::types::LogFormat;

pub fn init(config: &BrokerConfig) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_new(&config.log_filter).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| StderrLossy)
        .with_ansi(std::io::stderr().is_terminal());
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
