//! The `runnel` binary: parse flags, load config, start the node, serve
//! until SIGTERM/SIGINT, shut down in reverse start order. `runnel
//! healthcheck` instead probes a running broker and exits 0 when it answers
//! (the container image's HEALTHCHECK; the image has no shell).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use runnel::broker::Broker;
use runnel::config::{self, ConfigSources};
use runnel::log::dir_lock::LogDirLocks;
use runnel::net::BoundListeners;
use runnel::ops;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
        .block_on(run(config))
}

async fn run(config: runnel::config::BrokerConfig) -> anyhow::Result<()> {
    // Start order: lock the log dirs, bind every listener, and only then
    // open the logs. A second broker on the same dirs, or a port in use,
    // stops here without touching the data (no recovery skipped later
    // because a failed start wrote the clean-shutdown marker).
    let locks = tokio::task::block_in_place(|| LogDirLocks::acquire(&config.log_dirs))?;
    let listeners = BoundListeners::bind(&config).await?;
    if let Some(addr) = config.metrics_listener.as_deref() {
        let bound = ops::metrics::install(addr)?;
        tracing::info!(address = %bound, "metrics endpoint listening");
    }
    let retention_check =
        Duration::from_millis(config.log_retention_check_interval_ms.max(100) as u64);
    let flush_check = u64::try_from(config.log_flush_scheduler_interval_ms)
        .ok()
        .filter(|ms| *ms < i64::MAX as u64)
        .map(|ms| Duration::from_millis(ms.max(10)));
    let broker = Arc::new(tokio::task::block_in_place(|| {
        Broker::start(config, locks)
    })?);
    broker.groups.start();
    let server = listeners.serve(broker.clone())?;
    tracing::info!(node_id = broker.config.node_id, cluster_id = %broker.cluster_id, "runnel started");

    // Background rounds, owned here: shutdown waits for a round in progress
    // to finish before the logs are closed.
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    {
        let b = broker.clone();
        tasks.spawn(every(retention_check, cancel.clone(), move || {
            b.run_maintenance();
            ops::metrics::set_partitions(b.replicas.partition_count());
        }));
    }
    if let Some(period) = flush_check {
        // Kafka's `kafka-log-flusher`: logs whose `flush.ms` has passed.
        let b = broker.clone();
        tasks.spawn(every(period, cancel.clone(), move || {
            b.replicas.logs().flush_dirty(runnel::now_ms())
        }));
    }

    {
        // Kafka's `LogCleaner` threads: one owned task runs the rounds,
        // each with up to `log.cleaner.threads` threads; the settings are
        // read afresh every round, so dynamic changes apply at the next one.
        let b = broker.clone();
        tasks.spawn(cleaner_loop(b, cancel.clone()));
    }

    shutdown_signal().await;
    tracing::info!("shutting down");
    // Reverse start order: stop accepting and drain connections, stop
    // background work (waiting for a round in progress), then checkpoint
    // and close the logs.
    server.shutdown().await;
    broker.replicas.logs().cleaner().abort();
    cancel.cancel();
    tasks.close();
    tasks.wait().await;
    tokio::task::block_in_place(|| broker.shutdown());
    tracing::info!("shutdown complete");
    Ok(())
}

/// Runs `work` on a blocking thread every `period` until `cancel`; a round
/// in progress always finishes.
async fn every(
    period: Duration,
    cancel: CancellationToken,
    work: impl Fn() + Send + Sync + 'static,
) {
    let work = Arc::new(work);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let w = work.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || w()).await {
            tracing::error!(error = %e, "a background round failed");
        }
    }
}

/// The log cleaner's rounds until `cancel`: a round right after one that
/// cleaned something, else after `log.cleaner.backoff.ms`.
async fn cleaner_loop(broker: Arc<Broker>, cancel: CancellationToken) {
    loop {
        let config = broker.effective_config();
        let c = &config.log_cleaner;
        let mut cleaned = 0;
        if c.enable && c.threads > 0 {
            let settings = runnel::log::cleaner::CleanerSettings {
                threads: c.threads as usize,
                dedupe_buffer_size: usize::try_from(c.dedupe_buffer_size).unwrap_or(0),
                io_max_bytes_per_second: c.io_max_bytes_per_second,
            };
            let b = broker.clone();
            match tokio::task::spawn_blocking(move || {
                b.replicas.logs().run_cleaner(&settings, runnel::now_ms())
            })
            .await
            {
                Ok(n) => cleaned = n,
                Err(e) => tracing::error!(error = %e, "a log cleaner round failed"),
            }
        }
        if cleaned > 0 && !cancel.is_cancelled() {
            continue;
        }
        let backoff = Duration::from_millis(c.backoff_ms.clamp(10, 3_600_000) as u64);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
    }
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

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing the SIGINT handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
