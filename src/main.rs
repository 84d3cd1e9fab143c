//! The `runnel` binary: parse flags, load config, start the node, serve
//! until SIGTERM/SIGINT, shut down in reverse start order. `runnel
//! healthcheck` instead probes a running broker and exits 0 when it answers
//! (the container image's HEALTHCHECK; the image has no shell). `runnel
//! topic|group|cluster` are the admin commands of [`runnel::cli`], a Kafka
//! client like any other.
//!
//! A start that cannot go on prints one line, `runnel: <what> (config
//! '<key>' (set by <source>))`, and exits with
//! [`EXIT_BAD_CONFIG`](ops::startup::EXIT_BAD_CONFIG); errors are printed
//! here, never through `main`'s `Result`, so no backtrace is printed even
//! with `RUST_BACKTRACE=1`. Panics keep Rust's own report.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
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
    /// Format the log dirs for a cluster, as Kafka's `kafka-storage format`
    /// does: `meta.properties` with the cluster id and this node's id in
    /// each dir. (A node started on empty dirs formats them itself, with
    /// `cluster.id`/`CLUSTER_ID` or a new id.)
    Format {
        /// The cluster id (`runnel random-uuid` prints a new one); default:
        /// `cluster.id` / `CLUSTER_ID` of the configuration.
        #[arg(short = 't', long = "cluster-id")]
        cluster_id: Option<String>,
        /// A Kafka `server.properties` file (as `--server-properties`).
        #[arg(short = 'c', value_name = "FILE")]
        properties: Option<PathBuf>,
        /// Skip dirs that are already formatted instead of failing.
        #[arg(short = 'g', long)]
        ignore_formatted: bool,
        /// This node is the only controller (KIP-853), as Runnel's
        /// quorum is today.
        #[arg(short = 's', long, conflicts_with = "initial_controllers")]
        standalone: bool,
        /// The initial controllers, `id@host:port:directory-id,...`
        /// (KIP-853): only this node, until multi-node quorums land.
        #[arg(short = 'I', long, value_name = "CONTROLLERS")]
        initial_controllers: Option<String>,
    },
    /// Print a new random cluster id (Kafka's `kafka-storage random-uuid`).
    RandomUuid,
    #[command(flatten)]
    Admin(runnel::cli::AdminCommand),
    /// Print a shell completion script: `runnel completion bash > ...`.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn main() {
    let mut args = Args::parse();
    if let Some(Command::RandomUuid) = args.command {
        println!("{}", runnel::log::meta_properties::new_cluster_id());
        std::process::exit(0);
    }
    if let Some(Command::Completion { shell }) = args.command {
        clap_complete::generate(
            shell,
            &mut Args::command(),
            "runnel",
            &mut std::io::stdout(),
        );
        std::process::exit(0);
    }
    // An admin command with -b needs no configuration at all.
    if let Some(Command::Admin(admin)) = args
        .command
        .take_if(|c| matches!(c, Command::Admin(a) if !a.connect().brokers.is_empty()))
    {
        let brokers = admin.connect().brokers.clone();
        std::process::exit(runnel::cli::run(admin, brokers));
    }
    if let Some(Command::Format {
        properties: Some(p),
        ..
    }) = &args.command
    {
        args.server_properties = Some(p.clone());
    }
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
    if let Some(Command::Admin(admin)) = args.command.take_if(|c| matches!(c, Command::Admin(_))) {
        let Some(address) = ops::healthcheck::default_address(&config) else {
            refuse("no broker listener configured; pass -b/--brokers HOST:PORT");
        };
        std::process::exit(runnel::cli::run(admin, vec![address]));
    }
    if let Some(Command::Healthcheck { timeout_ms, .. }) = args.command {
        let Some(address) = ops::healthcheck::default_address(&config) else {
            eprintln!("runnel healthcheck: no broker listener configured; pass --bootstrap");
            std::process::exit(1);
        };
        healthcheck(&address, Duration::from_millis(timeout_ms));
    }
    if let Some(Command::Format {
        cluster_id,
        ignore_formatted,
        initial_controllers,
        ..
    }) = &args.command
    {
        format(
            &config,
            cluster_id.as_deref(),
            *ignore_formatted,
            initial_controllers.as_deref(),
        );
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

/// `runnel format`: prints what it formatted and exits 0, or refuses (2).
fn format(
    config: &runnel::config::BrokerConfig,
    cluster_id: Option<&str>,
    ignore_formatted: bool,
    initial_controllers: Option<&str>,
) -> ! {
    use runnel::log::meta_properties;
    if let Some(controllers) = initial_controllers {
        let others: Vec<&str> = controllers
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .filter(|c| c.split_once('@').map(|(id, _)| id) != Some(&*config.node_id.to_string()))
            .collect();
        if !others.is_empty() {
            refuse(&format!(
                "--initial-controllers names {} besides this node (node.id={}); Runnel runs a controller quorum of this node only until multi-node quorums land",
                others.join(", "),
                config.node_id
            ));
        }
    }
    let Some(cluster_id) = cluster_id.or(config.cluster_id.as_deref()) else {
        refuse(
            "format needs a cluster id: pass -t/--cluster-id (`runnel random-uuid` prints one) or set cluster.id / CLUSTER_ID",
        );
    };
    match meta_properties::format(
        &config.log_dirs,
        config.node_id,
        cluster_id,
        ignore_formatted,
    ) {
        Ok(formatted) if formatted.is_empty() => {
            println!("All of the log directories are already formatted.");
        }
        Ok(formatted) => {
            for dir in formatted {
                println!(
                    "Formatting {} for cluster {cluster_id} (node.id {}).",
                    dir.display(),
                    config.node_id
                );
            }
        }
        Err(e) => refuse(&e.to_string()),
    }
    std::process::exit(0);
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
