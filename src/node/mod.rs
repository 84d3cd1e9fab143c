//! The composition root: builds the node in start order, owns every task,
//! and shuts down in reverse. Nothing else wires components together or
//! spawns detached work.
//!
//! Start: lock the log dirs → bind every listener (a port in use stops
//! here, before any data is touched) → metrics endpoint → log dirs
//! (`meta.properties`) → log manager → metadata log replayed into the
//! image → replica manager applies the image → controller → group
//! coordinator (replays `__consumer_offsets`) → background tasks →
//! serve. Shutdown: stop accepting and drain connections → abort a log
//! cleaning in progress → stop every background task (a round in
//! progress finishes) → producer snapshots,
//! flush and close the logs with the clean-shutdown marker → release the
//! locks.
//!
//! Kafka counterpart: `KafkaRaftServer`, `BrokerServer.startup` and
//! `shutdown`.

mod alter_partition;
mod scrape;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::common::BackgroundTasks;
use crate::config::BrokerConfig;
use crate::controller::channel::ControllerChannel;
use crate::controller::cluster::{BrokerHeartbeat, BrokerRegistration, HeartbeatReply};
use crate::controller::remote::RemoteController;
use crate::controller::{Controller, ControllerError};
use crate::coordinator::producer_ids::ProducerIdManager;
use crate::coordinator::service::GroupCoordinator;
use crate::handlers::Broker;
use crate::log::LogManager;
use crate::log::cleaner::CleanerSettings;
use crate::log::dir_lock::LogDirLocks;
use crate::log::meta_properties::directory_ids;
use crate::log::meta_properties::prepare_log_dirs;
use crate::metadata::MetadataCache;
use crate::metadata::fetcher::MetadataFetcher;
use crate::metadata::listener::ImageListener;
use crate::metadata::loader::MetadataLoader;
use crate::metadata::records::{BrokerEndpoint, BrokerFeature};
use crate::metadata::store::{METADATA_TOPIC, METADATA_TOPIC_ID, MetadataStore, SnapshotPolicy};
use crate::net::BoundListeners;
use crate::ops;
use crate::partition::ReplicaManager;
use crate::protocol::versions::FEATURES;

/// A started node: the handles handlers use, the tasks it owns, and the
/// locks on its log dirs.
pub struct Node {
    pub broker: Arc<Broker>,
    /// This node's controller, on a combined node (the broker side reaches
    /// it through `broker.controller`, the channel).
    controller: Option<Arc<Controller>>,
    pub tasks: BackgroundTasks,
    /// Held for the life of the node: no other process may open the logs.
    _log_dir_locks: LogDirLocks,
}

impl Node {
    /// Opens the data directories (whose locks the caller took) and
    /// rebuilds all state from disk. Tasks the cores spawn go to `tasks`.
    pub fn start(
        config: BrokerConfig,
        log_dir_locks: LogDirLocks,
        tasks: BackgroundTasks,
    ) -> anyhow::Result<Node> {
        let config = Arc::new(config);
        let cluster_id = prepare_log_dirs(
            &config.log_dirs,
            config.node_id,
            config.cluster_id.as_deref(),
            config.is_controller(),
        )?;
        let now = crate::now_ms();
        let logs = Arc::new(
            LogManager::open_with_threads(
                &config.log_dirs,
                crate::config::topic::resolve_log_config(&Default::default(), &config),
                now,
                config.num_recovery_threads_per_data_dir.max(1) as usize,
            )
            .context("opening log directories")?,
        );
        logs.on_dir_failure(Box::new(on_log_dir_failure));
        let metadata_log = logs
            .get_or_create(
                METADATA_TOPIC,
                0,
                Some(METADATA_TOPIC_ID),
                MetadataStore::log_config(),
                now,
            )
            .context("opening the metadata log")?;
        metadata_log.update_config(MetadataStore::log_config());
        let store = MetadataStore::with_policy(
            metadata_log,
            SnapshotPolicy {
                max_bytes_between: config.metadata_snapshot_max_bytes.max(1) as u64,
                max_interval_ms: config.metadata_snapshot_interval_ms,
            },
        );
        let image = store.load().context("replaying the metadata log")?;
        // A combined node's controller writes the bootstrap records; a
        // broker-only node fetches them with the rest of the log.
        let image = if config.is_controller() {
            let features: Vec<(&str, i16)> =
                FEATURES.iter().map(|f| (f.name, f.finalized)).collect();
            store
                .bootstrap(image, &features, now)
                .context("writing the metadata log's bootstrap records")?
        } else {
            image
        };
        tracing::info!(
            topics = image.topics.len(),
            metadata_offset = image.offset,
            "metadata loaded"
        );
        let image = Arc::new(image);
        let metadata = Arc::new(MetadataCache::new((*image).clone()));
        let loader = Arc::new(MetadataLoader::new(metadata.clone()));
        let replicas = Arc::new(ReplicaManager::new(config.clone(), logs));
        replicas.apply_image(&image, now);
        // Listeners in start order: logs exist before a coordinator looks.
        let replicas_listener: Arc<dyn ImageListener> = replicas.clone();
        loader.add_listener(Arc::downgrade(&replicas_listener));
        let quorum_log = store.quorum_log();
        let (quorum_controller, controller, fetcher) = if config.is_controller() {
            let quorum_controller = Arc::new(Controller::new(
                config.clone(),
                cluster_id.clone(),
                store,
                image,
                loader.clone(),
            ));
            let channel = ControllerChannel::local(quorum_controller.clone());
            (Some(quorum_controller), channel, None)
        } else {
            let request_timeout =
                Duration::from_millis(config.controller_quorum_request_timeout_ms.max(1) as u64);
            let remote = RemoteController::new(
                config.controller_addresses.clone(),
                config.node_id,
                request_timeout,
            );
            let fetcher = MetadataFetcher::new(
                config.controller_addresses.clone(),
                config.node_id,
                cluster_id.clone(),
                directory_ids(&config.log_dirs)[0],
                Arc::new(store),
                loader.clone(),
                request_timeout,
            );
            (
                None,
                ControllerChannel::remote(Arc::new(remote)),
                Some(fetcher),
            )
        };
        let producer_ids = Arc::new(ProducerIdManager::new(config.node_id, controller.clone()));
        let groups = GroupCoordinator::new(
            config.clone(),
            metadata.clone(),
            replicas.clone(),
            controller.clone(),
            tasks.clone(),
        );
        let loaded = groups
            .load()
            .context("loading consumer groups from __consumer_offsets")?;
        tracing::info!(groups = loaded, "consumer groups loaded");
        let groups_listener: Arc<dyn ImageListener> = groups.clone();
        loader.add_listener(Arc::downgrade(&groups_listener));
        // A broker-only node's image is fed by its fetcher (a combined
        // node's by its own controller), once every listener is in place.
        if let Some(fetcher) = fetcher {
            tasks.spawn("metadata-fetcher", fetcher.run());
        }
        Ok(Node {
            broker: Arc::new(Broker {
                log_dir_ids: directory_ids(&config.log_dirs),
                config,
                cluster_id,
                metadata,
                quorum_log,
                replicas,
                controller,
                groups,
                producer_ids,
            }),
            controller: quorum_controller,
            tasks,
            _log_dir_locks: log_dir_locks,
        })
    }

    /// Starts the periodic work: retention, the recovery point and
    /// producer-state snapshots of changed partitions every
    /// `log.retention.check.interval.ms`; Kafka's `kafka-log-flusher`
    /// (logs whose `flush.ms` has passed) every
    /// `log.flush.scheduler.interval.ms`; the group coordinator's timers.
    fn start_background_work(&self) {
        let config = &self.broker.config;
        let retention_check =
            Duration::from_millis(config.log_retention_check_interval_ms.max(100) as u64);
        let replicas = self.broker.replicas.clone();
        self.tasks
            .every("log-maintenance", retention_check, move || {
                let now = crate::now_ms();
                replicas.logs().run_maintenance(now);
                replicas.checkpoint_all(now, false);
                ops::metrics::set_partitions(replicas.partition_count());
            });
        let flush_check = u64::try_from(config.log_flush_scheduler_interval_ms)
            .ok()
            .filter(|ms| *ms < i64::MAX as u64)
            .map(|ms| Duration::from_millis(ms.max(10)));
        if let Some(period) = flush_check {
            let replicas = self.broker.replicas.clone();
            self.tasks.every("log-flusher", period, move || {
                replicas.logs().flush_dirty(crate::now_ms())
            });
        }
        self.start_log_cleaner();
        if config.is_broker() {
            self.broker.groups.start();
            self.start_replication();
        }
        self.start_session_expiry();
        self.start_leader_rebalance();
    }

    /// The broker's side of ISR replication: the replica fetchers, the ISR
    /// check every half of `replica.lag.time.max.ms` (Kafka's
    /// `isr-expiration` task), the AlterPartition sender, and the high
    /// watermark checkpoint (Kafka's `highwatermark-checkpoint`).
    fn start_replication(&self) {
        let replicas = self.broker.replicas.clone();
        let checkpoint_every = Duration::from_millis(
            self.broker
                .config
                .replica_high_watermark_checkpoint_interval_ms
                .max(1) as u64,
        );
        let checkpointed = replicas.clone();
        self.tasks
            .every("highwatermark-checkpoint", checkpoint_every, move || {
                checkpointed.checkpoint_high_watermarks()
            });
        self.tasks.spawn(
            "replica-fetchers",
            crate::partition::fetcher::run_fetchers(replicas.clone(), self.broker.config.node_id),
        );
        let lag = self.broker.config.replica_lag_time_max_ms.max(2) as u64;
        self.tasks.every(
            "isr-expiration",
            Duration::from_millis(lag / 2),
            move || replicas.maybe_shrink_isrs(crate::now_ms()),
        );
        if let Some(queue) = self.broker.replicas.take_alter_partition_queue() {
            self.tasks.spawn(
                "alter-partition-sender",
                alter_partition::run_sender(
                    queue,
                    self.broker.controller.clone(),
                    self.broker.config.node_id,
                ),
            );
        }
    }

    /// The controller's auto leader rebalance (`auto.leader.rebalance.enable`),
    /// every `leader.imbalance.check.interval.seconds`: leadership moves
    /// back to each partition's preferred replica once it is in sync again.
    fn start_leader_rebalance(&self) {
        let Some(controller) = self.controller.clone() else {
            return;
        };
        let config = &self.broker.config;
        if !config.auto_leader_rebalance_enable {
            return;
        }
        let period =
            Duration::from_secs(config.leader_imbalance_check_interval_seconds.max(1) as u64);
        self.tasks.spawn("leader-rebalance", async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                match controller.rebalance_leaders().await {
                    Ok(0) => {}
                    Ok(elected) => tracing::info!(
                        partitions = elected,
                        "leadership moved back to preferred replicas"
                    ),
                    Err(e) => tracing::warn!(error = %e, "the leader rebalance failed"),
                }
            }
        });
    }

    /// The controller's side of broker sessions: fences every broker that
    /// sent no heartbeat for `broker.session.timeout.ms`, checked several
    /// times a session (Kafka's `maybeFenceStaleBroker`).
    fn start_session_expiry(&self) {
        let Some(controller) = self.controller.clone() else {
            return;
        };
        let session = self.broker.config.broker_session_timeout_ms.max(1) as u64;
        let period = Duration::from_millis((session / 8).clamp(50, 1000));
        self.tasks.spawn("broker-session-expiry", async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match controller
                    .fence_expired_sessions(period.as_millis() as i64)
                    .await
                {
                    Ok(fenced) if !fenced.is_empty() => tracing::warn!(
                        brokers = ?fenced,
                        session_timeout_ms = session,
                        "broker session expired without a heartbeat; broker fenced"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "fencing expired broker sessions failed"),
                }
            }
        });
    }

    /// Kafka's `LogCleaner` threads: a round with up to
    /// `log.cleaner.threads` threads, again at once after a round that
    /// cleaned something, else after `log.cleaner.backoff.ms`. The settings
    /// are read afresh before every round, so dynamic changes apply at the
    /// next one; the tick only looks at the clock.
    fn start_log_cleaner(&self) {
        let replicas = self.broker.replicas.clone();
        let next_round_ms = std::sync::atomic::AtomicI64::new(0);
        self.tasks.every("log-cleaner", CLEANER_TICK, move || {
            let now = crate::now_ms();
            if now < next_round_ms.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            let config = replicas.effective_config();
            let c = &config.log_cleaner;
            let mut cleaned = 0;
            if c.enable && c.threads > 0 {
                let settings = CleanerSettings {
                    threads: c.threads as usize,
                    dedupe_buffer_size: usize::try_from(c.dedupe_buffer_size).unwrap_or(0),
                    io_max_bytes_per_second: c.io_max_bytes_per_second,
                };
                cleaned = replicas.logs().run_cleaner(&settings, now);
            }
            let wait = if cleaned > 0 { 0 } else { c.backoff_ms.max(0) };
            next_round_ms.store(
                crate::now_ms().saturating_add(wait),
                std::sync::atomic::Ordering::Relaxed,
            );
        });
    }

    /// Registers this node's broker with the controller (KIP-631) and
    /// heartbeats until it is unfenced: at once on a combined node (the
    /// broker applied its own registration before the controller
    /// answered), once the fetched metadata reaches the registration on a
    /// broker-only node. Gives up after
    /// `initial.broker.registration.timeout.ms`, as Kafka's broker does.
    /// Returns the broker epoch. A refusal stops the start.
    pub async fn register_broker(&self) -> anyhow::Result<i64> {
        let timeout = Duration::from_millis(
            self.broker
                .config
                .initial_broker_registration_timeout_ms
                .max(1) as u64,
        );
        let controllers = self.broker.config.controller_addresses.join(",");
        tokio::time::timeout(timeout, self.register_and_unfence())
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "the broker was not registered and unfenced by the controller ({}) within \
                     initial.broker.registration.timeout.ms={} ms",
                    if controllers.is_empty() {
                        "this node"
                    } else {
                        &controllers
                    },
                    timeout.as_millis()
                )
            })?
    }

    async fn register_and_unfence(&self) -> anyhow::Result<i64> {
        let mut failures = 0u32;
        // One incarnation per start: a retry after a lost answer amends
        // the registration instead of looking like another process.
        let incarnation_id = uuid::Uuid::new_v4();
        let epoch = loop {
            let registration = self.registration(incarnation_id);
            match self.broker.controller.register_broker(registration).await {
                Ok(epoch) => break epoch,
                // The controller may still be starting, or still hold the
                // live session of this broker's previous process (killed,
                // then restarted at once): try again, as Kafka's broker does.
                Err(
                    e @ (ControllerError::ControllerUnavailable(_)
                    | ControllerError::DuplicateBrokerRegistration(_)),
                ) => {
                    if failures == 0 {
                        tracing::warn!(error = %e, "cannot register with the controller yet; retrying");
                    }
                    failures += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => {
                    return Err(
                        anyhow::Error::new(e).context("registering the broker with the controller")
                    );
                }
            }
        };
        let interval = Duration::from_millis(
            self.broker
                .config
                .broker_heartbeat_interval_ms
                .clamp(1, 500) as u64,
        );
        loop {
            match self.heartbeat(epoch, false).await {
                Ok(reply) if !reply.is_fenced => {
                    tracing::info!(broker_epoch = epoch, "broker registered and unfenced");
                    return Ok(epoch);
                }
                Ok(reply) => tracing::debug!(
                    broker_epoch = epoch,
                    caught_up = reply.is_caught_up,
                    metadata_offset = self.broker.metadata.current().offset,
                    "broker still fenced: catching up with the metadata log"
                ),
                Err(e) => tracing::warn!(error = %e, "broker heartbeat failed"),
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// This node's BrokerRegistration.
    fn registration(&self, incarnation_id: uuid::Uuid) -> BrokerRegistration {
        let broker = &self.broker;
        let config = &broker.config;
        let listeners = config
            .advertised_listeners
            .iter()
            .map(|l| BrokerEndpoint {
                name: l.name.clone(),
                host: l.host.clone(),
                port: l.port,
                security_protocol: config
                    .listener_security_protocol_map
                    .get(&l.name)
                    .map_or(0, |p| p.id()),
            })
            .collect();
        BrokerRegistration {
            broker_id: config.node_id,
            cluster_id: broker.cluster_id.clone(),
            incarnation_id,
            listeners,
            features: FEATURES
                .iter()
                .map(|f| BrokerFeature {
                    name: f.name.to_string(),
                    min: f.min,
                    max: f.max,
                })
                .collect(),
            rack: config.broker_rack.clone(),
            log_dirs: broker.log_dir_ids.clone(),
            is_migrating_zk_broker: false,
        }
    }

    async fn heartbeat(&self, epoch: i64, want_shut_down: bool) -> anyhow::Result<HeartbeatReply> {
        Ok(send_heartbeat(&self.broker, epoch, want_shut_down).await?)
    }

    /// Heartbeats every `broker.heartbeat.interval.ms`, which keeps the
    /// broker's session with the controller live. The task ends at
    /// shutdown, at its next await.
    fn start_heartbeats(&self, epoch: i64) {
        let broker = self.broker.clone();
        let interval =
            Duration::from_millis(broker.config.broker_heartbeat_interval_ms.max(1) as u64);
        self.tasks.spawn("broker-heartbeat", async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = send_heartbeat(&broker, epoch, false).await {
                    tracing::warn!(error = %e, "broker heartbeat failed");
                }
            }
        });
    }

    /// Tells the controller this broker is going (a heartbeat with
    /// `wantShutDown`), as Kafka's controlled shutdown does; failures are
    /// logged, and the shutdown goes on.
    /// Then waits, up to [`CONTROLLED_SHUTDOWN_WAIT`], until the image
    /// applied here shows every partition's leadership moved away, so that
    /// requests in hand (an acks=all produce waiting for its ISR) are
    /// answered NOT_LEADER_OR_FOLLOWER and retried on the new leader rather
    /// than cut off.
    async fn controlled_shutdown(&self, epoch: i64) {
        match self.heartbeat(epoch, true).await {
            Ok(reply) => tracing::info!(
                ready = reply.should_shut_down,
                "controlled shutdown acknowledged by the controller"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "controlled shutdown request failed");
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + CONTROLLED_SHUTDOWN_WAIT;
        loop {
            let led = self.broker.replicas.led().len();
            if led == 0 {
                tracing::info!("leadership moved away; shutting down");
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(partitions = led, "partitions still led here at shutdown");
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Writes producer snapshots, flushes and closes every log with the
    /// clean-shutdown marker. Called once, after connections and tasks
    /// stopped.
    pub fn close_logs(&self) {
        let replicas = &self.broker.replicas;
        replicas.checkpoint_all(crate::now_ms(), true);
        replicas.checkpoint_high_watermarks();
        if let Err(e) = replicas.logs().shutdown() {
            tracing::error!(error = %e, "log shutdown failed; the next start will recover");
        }
    }
}

/// One BrokerHeartbeat of this node's broker, with the metadata offset it
/// has applied.
async fn send_heartbeat(
    broker: &Broker,
    epoch: i64,
    want_shut_down: bool,
) -> Result<HeartbeatReply, ControllerError> {
    broker
        .controller
        .broker_heartbeat(BrokerHeartbeat {
            broker_id: broker.config.node_id,
            broker_epoch: epoch,
            current_metadata_offset: broker.metadata.current().offset,
            want_fence: false,
            want_shut_down,
        })
        .await
}

/// Runs a node until SIGTERM or SIGINT, then shuts it down in reverse
/// start order.
pub async fn run(config: BrokerConfig) -> anyhow::Result<()> {
    let locks = tokio::task::block_in_place(|| LogDirLocks::acquire(&config.log_dirs))?;
    let listeners = BoundListeners::bind(&config).await?;
    if let Some(addr) = config.metrics_listener.as_deref() {
        let bound = ops::metrics::install(addr)?;
        tracing::info!(address = %bound, "metrics endpoint listening");
    }
    let tasks = BackgroundTasks::new();
    let node = tokio::task::block_in_place(|| Node::start(config, locks, tasks))?;
    // A controller-only node has no broker to register.
    let epoch = if node.broker.config.is_broker() {
        Some(node.register_broker().await?)
    } else {
        None
    };
    node.start_background_work();
    if let Some(epoch) = epoch {
        node.start_heartbeats(epoch);
    }
    let server = listeners.serve(node.broker.clone())?;
    tracing::info!(node_id = node.broker.config.node_id, cluster_id = %node.broker.cluster_id, "runnel started");
    ops::metrics::set_collector(Box::new(scrape::collector(
        node.broker.clone(),
        tokio::runtime::Handle::current(),
    )));
    ops::metrics::set_ready();

    shutdown_signal().await;
    tracing::info!("shutting down");
    if let Some(epoch) = epoch {
        node.controlled_shutdown(epoch).await;
    }
    server.shutdown().await;
    // A cleaning in progress stops at its next batch, so the wait is short.
    node.broker.replicas.logs().cleaner().abort();
    node.tasks.shutdown().await;
    tokio::task::block_in_place(|| node.close_logs());
    tracing::info!("shutdown complete");
    Ok(())
}

/// How long a controlled shutdown waits for leadership to move away.
const CONTROLLED_SHUTDOWN_WAIT: Duration = Duration::from_secs(10);
/// How often the cleaner task looks whether its backoff has passed.
const CLEANER_TICK: Duration = Duration::from_millis(100);

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing the SIGINT handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}

/// A log dir failed a write or fsync. Kafka halts when its metadata log
/// dir or its last online log dir fails, and otherwise reports the
/// directory to the controller (KIP-858), which moves its partitions'
/// leadership away. Runnel's controller does not take directory reports
/// yet, so a failed dir of any kind stops the process: its leaders would
/// otherwise stay here answering KAFKA_STORAGE_ERROR. Once it stops, its
/// session with the controller expires, the controller fences it and
/// elects other in-sync replicas; the restart recovers the logs (no clean
/// shutdown marker is written).
fn on_log_dir_failure(dir: &std::path::Path, error: &std::io::Error) {
    tracing::error!(
        dir = %dir.display(),
        error = %error,
        exit_code = crate::ops::startup::EXIT_LOG_DIR_FAILED,
        "stopping the broker: a log directory failed; free or replace the disk, then restart (its logs are recovered)"
    );
    std::process::exit(crate::ops::startup::EXIT_LOG_DIR_FAILED);
}
