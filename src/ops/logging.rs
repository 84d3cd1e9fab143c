//! Structured logs through `tracing`: `RUST_LOG` wins over
//! `runnel.log.filter`; `runnel.log.format` picks text or JSON. Logs go to
//! stderr, coloured only when stderr is a terminal (not in `docker logs`
//! or a log file).

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
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        _ => builder.init(),
    }
}
