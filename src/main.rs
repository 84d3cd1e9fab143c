//! The `runnel` binary: parse flags, load config, start the node, serve
//! until SIGTERM/SIGINT, shut down in reverse start order. `runnel
//! healthcheck` instead probes a running broker and exits 0 when it answers
//! (the container image's HEALTHCHECK; the image has no shell).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use runnel::config::{self, ConfigSources};
use runnel::ops;

/// A Kafka wire-protocol compatible broker.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// TOML config file (Kafka property names as keys).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// A Kafka `server.properties` file; its keys override the TOML file.
    #[arg(long, global = true)]
    server_properties: Option<PathBuf>,
    /// `key=value` with a Kafka property name; overrides every other source.
    #[arg(long = "override", value_name = "KEY=VALUE", global = true)]
    overrides: Vec<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Exit 0 when a broker answers an ApiVersions request, 1 otherwise.
    Healthcheck {
        /// host:port to probe. Default: this node's first non-controller
        /// listener from the same configuration the broker loads, with a
        /// wildcard host replaced by loopback.
        #[arg(long, value_name = "HOST:PORT")]
        bootstrap: Option<String>,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // An explicit address needs no configuration at all.
    if let Some(Command::Healthcheck {
        bootstrap: Some(address),
        timeout_ms,
    }) = &args.command
    {
        healthcheck(address, Duration::from_millis(*timeout_ms));
    }
    let overrides = args
        .overrides
        .iter()
        .map(|o| config::parse_override(o))
        .collect::<Result<Vec<_>, _>>()?;
    let sources = ConfigSources {
        config_file: args.config,
        server_properties: args.server_properties,
        env: std::env::vars().collect(),
        overrides,
    };
    let (config, warnings) = match config::load(&sources) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("runnel: invalid configuration: {e}");
            std::process::exit(2);
        }
    };
    if let Some(Command::Healthcheck { timeout_ms, .. }) = args.command {
        let Some(address) = ops::healthcheck::default_address(&config) else {
            eprintln!("runnel healthcheck: no broker listener configured; pass --bootstrap");
            std::process::exit(1);
        };
        healthcheck(&address, Duration::from_millis(timeout_ms));
    }
    ops::logging::init(&config);
    for w in warnings {
        tracing::warn!("{w}");
    }
    let inert = config.inert_keys_set();
    if !inert.is_empty() {
        tracing::info!(
            keys = %inert.join(","),
            "accepted Kafka settings that Runnel does not act on yet"
        );
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("runnel")
        .build()
        .context("starting the async runtime")?
        .block_on(runnel::node::run(config))
}

/// Runs the probe, prints one line, and exits: 0 healthy, 1 not.
fn healthcheck(address: &str, timeout: Duration) -> ! {
    match ops::healthcheck::probe(address, timeout) {
        Ok(h) => {
            println!(
                "runnel healthcheck: {address} ({}) healthy, {} APIs",
                h.peer, h.api_count
            );
            std::process::exit(0);
        }
        Err(e) => {
            eprintln!("runnel healthcheck: unhealthy: {e}");
            std::process::exit(1);
        }
    }
}
