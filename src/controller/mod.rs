//! The controller: validates admin requests and turns them into metadata
//! records. Decisions are pure functions of the current image
//! ([`topics`], [`configs`]); [`Controller`] is the thin driver that
//! serializes them, makes the records durable in the metadata log,
//! publishes the new image and lets the broker side react: the replica
//! manager applies it, then each registered
//! [`ImageListener`] is told of it.
//!
//! Kafka counterparts: `QuorumController`, `ReplicationControlManager`,
//! `ConfigurationControlManager`, `ProducerIdControlManager`. Today the
//! quorum is this one node; a Raft quorum later sits under the same
//! [`crate::metadata::store::MetadataStore`] append.

pub mod configs;
pub mod topics;

use std::sync::{Arc, RwLock, Weak};

use crate::common::blocking;
use crate::metadata::listener::ImageListener;
use crate::metadata::store::MetadataStore;
use crate::metadata::{MetadataCache, MetadataImage, MetadataRecord};
use crate::partition::ReplicaManager;
use crate::protocol::ApiError;

/// Producer ids are handed out in blocks recorded in the metadata log, so
/// an id is never reused after a restart (Kafka's `ProducerIdsRecord`).
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

pub struct Controller {
    node_id: i32,
    store: MetadataStore,
    cache: Arc<MetadataCache>,
    replicas: Arc<ReplicaManager>,
    /// Serializes decisions: each one sees the image its predecessor made.
    lock: tokio::sync::Mutex<ProducerIdRange>,
    /// Told of every published image, in order (weak: listeners such as the
    /// group coordinator hold the controller themselves).
    listeners: RwLock<Vec<Weak<dyn ImageListener>>>,
}

/// The unused part of the producer-id block this node holds.
#[derive(Debug, Default)]
struct ProducerIdRange {
    next: i64,
    end: i64,
}

impl Controller {
    pub fn new(
        node_id: i32,
        store: MetadataStore,
        cache: Arc<MetadataCache>,
        replicas: Arc<ReplicaManager>,
    ) -> Self {
        Controller {
            node_id,
            store,
            cache,
            replicas,
            lock: tokio::sync::Mutex::new(ProducerIdRange::default()),
            listeners: RwLock::new(Vec::new()),
        }
    }

    /// Registers a listener for every image published from now on.
    pub fn add_listener(&self, listener: Weak<dyn ImageListener>) {
        self.listeners
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(listener);
    }

    pub fn image(&self) -> Arc<MetadataImage> {
        self.cache.current()
    }

    /// Runs one decision against the current image and commits its records.
    /// The result is returned only after the records are durable, the new
    /// image is published and every listener has handled it.
    pub async fn decide<R>(
        &self,
        decide: impl FnOnce(&MetadataImage) -> (Vec<MetadataRecord>, R),
    ) -> Result<R, ApiError> {
        let _guard = self.lock.lock().await;
        self.commit_locked(decide).await
    }

    async fn commit_locked<R>(
        &self,
        decide: impl FnOnce(&MetadataImage) -> (Vec<MetadataRecord>, R),
    ) -> Result<R, ApiError> {
        let image = self.cache.current();
        let (records, result) = decide(&image);
        if records.is_empty() {
            return Ok(result);
        }
        let now = crate::now_ms();
        let base = blocking(|| self.store.append(&records, now)).map_err(|e| {
            tracing::error!(error = %e, "metadata log append failed");
            ApiError::KafkaStorage(format!("metadata log append failed: {e}"))
        })?;
        let mut next = (*image).clone();
        for (i, r) in records.iter().enumerate() {
            next.replay(base + i as i64, r);
        }
        let next = Arc::new(next);
        self.cache.publish(next.clone());
        // Creating, reconfiguring and deleting logs: directory fsyncs.
        blocking(|| self.replicas.apply_image(&next, now));
        let listeners: Vec<Arc<dyn ImageListener>> = self
            .listeners
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for listener in listeners {
            listener.on_image_published(&image, &next).await;
        }
        Ok(result)
    }

    /// A new producer id for InitProducerId (no transactional id).
    pub async fn allocate_producer_id(&self) -> Result<i64, ApiError> {
        let mut range = self.lock.lock().await;
        if range.next >= range.end {
            let node_id = self.node_id;
            let (start, end) = self
                .commit_locked(|image| {
                    let start = image.next_producer_id;
                    let end = start + PRODUCER_ID_BLOCK_SIZE;
                    (
                        vec![MetadataRecord::ProducerIds {
                            node_id,
                            next_producer_id: end,
                        }],
                        (start, end),
                    )
                })
                .await?;
            range.next = start;
            range.end = end;
        }
        let id = range.next;
        range.next += 1;
        Ok(id)
    }
}
