//! The `runnel` binary: parse flags, load config, start the node, serve
//! until SIGTERM/SIGINT, shut down in reverse start order. `runnel
//! healthcheck` instead probes a running broker and exits 0 when it answers
//! (the container image's HEALTHCHECK; the image has no shell).
//!
//! A start that cannot go on prints one line, `runnel: <what> (config
//! '<key>' (set by <source>))`, and exits with
//! [`EXIT_BAD_CONFIG`](ops::startup::EXIT_BAD_CONFIG); errors are printed
//! here, never through `main`'s `Result`, so no backtrace is printed even
//! with `RUST_BACKTRACE=1`. Panics keep Rust's own report.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use runnel::config::{self, ConfigSources};
use runnel::ops;
use runnel::ops::startup::{self, EXIT_BAD_CONFIG};

/// A Kafka wire-protocol compatible broker.
#[derive(Parser, Debug)]
#[command(version = startup::LONG_VERSION, about)]
struct Args {
    /// TOML config file (Kafka property names as keys).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// A Kafka `server.properties` file; its keys override the TOML file.
    #[arg(long, global = true)]
    server_properties: Option<PathBuf>,
    /// `key=value` with a Kafka property name; overrides every other source.
    /// Repeat it for several keys.
    #[arg(long = "override", value_name = "KEY=VALUE", global = true)]
    overrides: Vec<String>,
    /// Print every config key with its effective value and where it came
    /// from, then exit.
    #[arg(long, conflicts_with = "check")]
    print_config: bool,
    /// Validate the configuration and the log dirs (nothing is created or
    /// bound), print the result, and exit: 0 when the node could start,
    /// 2 when not.
    #[arg(long)]
    check: bool,
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

fn main() {
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
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| refuse(&format!("invalid configuration: {e}")));
    let sources = ConfigSources {
        config_file: args.config,
        server_properties: args.server_properties,
        env: std::env::vars().collect(),
        overrides,
    };
    let (config, warnings) = match config::load(&sources) {
        Ok(c) => c,
        Err(e) => {
            let note = e
                .key()
                .map(|k| startup::failed_origin_note(&sources, k))
                .unwrap_or_default();
            refuse(&format!("invalid configuration: {e}{note}"));
        }
    };
    if let Some(Command::Healthcheck { timeout_ms, .. }) = args.command {
        let Some(address) = ops::healthcheck::default_address(&config) else {
            eprintln!("runnel healthcheck: no broker listener configured; pass --bootstrap");
            std::process::exit(1);
        };
        healthcheck(&address, Duration::from_millis(timeout_ms));
    }
    if args.print_config {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(startup::print_config(&config).as_bytes());
        let _ = out.flush();
        for w in &warnings {
            say(&format!("warning: {w}"));
        }
        std::process::exit(0);
    }
    let filter = ops::logging::filter(&config).unwrap_or_else(|e| refuse(&e));
    if args.check {
        if let Err(e) = startup::check_log_dirs(&config, false) {
            refuse(&e);
        }
        for w in &warnings {
            say(&format!("warning: {w}"));
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "runnel: configuration OK ({}; {} log dir(s), {} listener(s))",
            startup::describe_sources(&sources),
            config.log_dirs.len(),
            config.listeners.len()
        );
        std::process::exit(0);
    }
    ops::logging::init(&config, filter);
    startup::log_startup(&config, &sources);
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
    if let Err(e) = startup::check_log_dirs(&config, true) {
        refuse(&e);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("runnel")
        .build()
        .unwrap_or_else(|e| refuse(&format!("cannot start the async runtime: {e}")));
    // Every error out of the node is a start that could not go on (a port
    // in use, a locked or foreign data dir, a log that cannot be opened);
    // once serving, the node only returns after a clean shutdown.
    if let Err(e) = runtime.block_on(runnel::node::run(config)) {
        refuse(&format!("{e:#}"));
    }
}

/// One line on stderr; a closed stderr is ignored (never a panic).
fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "runnel: {line}");
}

/// The start is refused: one line, the bad-configuration exit code.
fn refuse(line: &str) -> ! {
    say(line);
    std::process::exit(EXIT_BAD_CONFIG);
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
