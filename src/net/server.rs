//! Accept loops, one per configured listener, with a connection cap
//! (`max.connections`) and graceful shutdown: on cancel the listeners stop
//! accepting, connections finish the request in hand and close, and
//! [`Server::shutdown`] waits for them.
//!
//! Listeners named in `controller.listener.names` are not bound: Runnel's
//! controller quorum runs inside the process and speaks no network protocol
//! yet, and serving client requests there would make the controller port a
//! second, unadvertised client listener.

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

pub struct Server {
    cancel: CancellationToken,
    tasks: TaskTracker,
    /// The bound address of each listener, by name (port 0 resolved).
    pub bound: Vec<(String, SocketAddr)>,
}

/// The client listeners, bound but not accepting yet: the node binds them
/// before it opens any log, so a port in use stops a start before it
/// touches the data dirs.
pub struct BoundListeners {
    listeners: Vec<(String, TcpListener)>,
}

impl BoundListeners {
    pub async fn bind(config: &BrokerConfig) -> anyhow::Result<BoundListeners> {
        let mut listeners = Vec::new();
        for l in &config.listeners {
            if config.controller_listener_names.contains(&l.name) {
                tracing::info!(
                    listener = %l.name,
                    "controller listener not opened: the controller quorum runs in this process"
                );
                continue;
            }
            let addr = l.bind_address();
            let listener = TcpListener::bind(&addr)
                .await
                .with_context(|| format!("cannot listen on {addr} for listener {}", l.name))?;
            listeners.push((l.name.clone(), listener));
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
        for (name, listener) in self.listeners {
            let local = listener.local_addr()?;
            tracing::info!(listener = %name, address = %local, "listening");
            bound.push((name.clone(), local));
            tasks.spawn(accept_loop(
                listener,
                name,
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
    listener: TcpListener,
    name: String,
    broker: Arc<Broker>,
    permits: Arc<Semaphore>,
    open: Arc<AtomicUsize>,
    cancel: CancellationToken,
    tasks: TaskTracker,
) {
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
        let conn = Connection::new(stream, peer, name.clone(), broker.clone(), cancel.clone());
        let open = open.clone();
        tasks.spawn(async move {
            conn.run().await;
            drop(permit);
            metrics::set_connections(open.fetch_sub(1, Ordering::Relaxed) - 1);
        });
    }
}
