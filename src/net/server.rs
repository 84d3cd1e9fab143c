//! Accept loops, one per configured listener, with a connection cap
//! (`max.connections`) and graceful shutdown: on cancel the listeners stop
//! accepting, connections finish the request in hand and close, and
//! [`Server::shutdown`] waits for them.
//!
//! Listeners named in `controller.listener.names` serve the controller's
//! APIs only ([`ListenerKind::Controller`]): the broker lifecycle RPCs,
//! DescribeQuorum, DescribeCluster for controllers, as Kafka's controller
//! port does. Client APIs there would make it a second, unadvertised
//! client listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connection::Connection;
use crate::config::BrokerConfig;
use crate::handlers::Broker;
use crate::ops::metrics;
use crate::protocol::versions::ListenerKind;

pub struct Server {
    cancel: CancellationToken,
    tasks: TaskTracker,
    /// The bound address of each listener, by name (port 0 resolved).
    pub bound: Vec<(String, SocketAddr)>,
}

/// The listeners, bound but not accepting yet: the node binds them before
/// it opens any log, so a port in use stops a start before it touches the
/// data dirs.
pub struct BoundListeners {
    listeners: Vec<BoundListener>,
}

/// One bound listener: its name, what it serves, its socket.
struct BoundListener {
    name: String,
    kind: ListenerKind,
    socket: TcpListener,
}

impl BoundListeners {
    pub async fn bind(config: &BrokerConfig) -> anyhow::Result<BoundListeners> {
        let mut listeners = Vec::new();
        for l in &config.listeners {
            let kind = if config.controller_listener_names.contains(&l.name) {
                ListenerKind::Controller
            } else {
                ListenerKind::Client
            };
            let addr = l.bind_address();
            let listener = TcpListener::bind(&addr).await.with_context(|| {
                format!(
                    "cannot listen on {addr} for listener {} (config 'listeners'{})",
                    l.name,
                    crate::ops::startup::origin_note(config, "listeners")
                )
            })?;
            listeners.push(BoundListener {
                name: l.name.clone(),
                kind,
                socket: listener,
            });
        }
        Ok(BoundListeners { listeners })
    }

    /// Starts accepting on every listener.
    pub fn serve(self, broker: Arc<Broker>) -> anyhow::Result<Server> {
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        let max = broker.config.max_connections.max(1) as usize;
        let permits = Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS)));
        let open = Arc::new(AtomicUsize::new(0));
        let mut bound = Vec::new();
        for listener in self.listeners {
            let local = listener.socket.local_addr()?;
            let name = listener.name.clone();
            match listener.kind {
                ListenerKind::Client => {
                    tracing::info!(listener = %name, address = %local, "listening")
                }
                ListenerKind::Controller => tracing::info!(
                    listener = %name,
                    address = %local,
                    "listening (controller APIs only)"
                ),
            }
            bound.push((name.clone(), local));
            tasks.spawn(accept_loop(
                listener,
                broker.clone(),
                permits.clone(),
                open.clone(),
                cancel.clone(),
                tasks.clone(),
            ));
        }
        Ok(Server {
            cancel,
            tasks,
            bound,
        })
    }
}

impl Server {
    /// Stops accepting, lets connections finish their current request, and
    /// waits (bounded) for them.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.tasks.close();
        if tokio::time::timeout(Duration::from_secs(30), self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after 30s; closing anyway");
        }
    }
}

async fn accept_loop(
    listener: BoundListener,
    broker: Arc<Broker>,
    permits: Arc<Semaphore>,
    open: Arc<AtomicUsize>,
    cancel: CancellationToken,
    tasks: TaskTracker,
) {
    let BoundListener {
        name,
        kind,
        socket: listener,
    } = listener;
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors and the like: back off, keep serving.
                tracing::warn!(listener = %name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(listener = %name, %peer, "max.connections reached; closing new connection");
            metrics::record_connection_rejected();
            continue;
        };
        let _ = stream.set_nodelay(true);
        metrics::set_connections(open.fetch_add(1, Ordering::Relaxed) + 1);
        let conn = Connection::new(
            stream,
            peer,
            name.clone(),
            kind,
            broker.clone(),
            cancel.clone(),
        );
        let open = open.clone();
        tasks.spawn(async move {
            conn.run().await;
            drop(permit);
            metrics::set_connections(open.fetch_sub(1, Ordering::Relaxed) - 1);
        });
    }
}
