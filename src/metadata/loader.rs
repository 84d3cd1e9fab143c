//! The metadata loader: turns committed metadata records into the
//! broker's image and tells the listeners. It is the only writer of
//! [`MetadataCache`]. The controller never reaches into the broker side:
//! it commits records, and whatever committed them (the local controller
//! in a combined node today; a KRaft follower or observer fetch later)
//! hands the committed batch to [`MetadataLoader::apply_committed`].
//!
//! Order per batch: replay into a copy of the current image → publish it
//! → each listener in registration order (the replica manager first, so
//! logs exist before a coordinator looks for them). The next batch is
//! applied only after every listener is done with this one.
//!
//! Kafka counterpart: `MetadataLoader` and its `MetadataPublisher`s
//! (`BrokerMetadataPublisher` applies deltas to the replica manager and the
//! coordinators).

use std::sync::{Arc, RwLock, Weak};

use super::listener::ImageListener;
use super::{MetadataCache, MetadataImage, MetadataRecord};

/// Records committed to the metadata log, the first at `base_offset`.
#[derive(Debug, Clone, Copy)]
pub struct CommittedBatch<'a> {
    pub base_offset: i64,
    pub records: &'a [MetadataRecord],
}

impl CommittedBatch<'_> {
    /// `image` with the batch replayed into it.
    pub fn replay_onto(&self, image: &MetadataImage) -> MetadataImage {
        let mut next = image.clone();
        for (i, record) in self.records.iter().enumerate() {
            next.replay(self.base_offset + i as i64, record);
        }
        next
    }
}

pub struct MetadataLoader {
    cache: Arc<MetadataCache>,
    /// Weak: listeners such as the group coordinator are owned by the node.
    listeners: RwLock<Vec<Weak<dyn ImageListener>>>,
    /// Serializes batches: listeners see images in offset order.
    apply: tokio::sync::Mutex<()>,
}

impl MetadataLoader {
    pub fn new(cache: Arc<MetadataCache>) -> Self {
        MetadataLoader {
            cache,
            listeners: RwLock::new(Vec::new()),
            apply: tokio::sync::Mutex::new(()),
        }
    }

    /// Registers a listener for every image published from now on; called
    /// in start order by the composition root.
    pub fn add_listener(&self, listener: Weak<dyn ImageListener>) {
        self.listeners
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(listener);
    }

    pub fn current(&self) -> Arc<MetadataImage> {
        self.cache.current()
    }

    /// Applies one committed batch: the new image is published and every
    /// listener has handled it when this returns. A batch at or below the
    /// image's offset (already applied) is ignored.
    pub async fn apply_committed(&self, batch: CommittedBatch<'_>) -> Arc<MetadataImage> {
        let _serial = self.apply.lock().await;
        let previous = self.cache.current();
        if batch.records.is_empty() || batch.base_offset <= previous.offset {
            return previous;
        }
        debug_assert_eq!(
            batch.base_offset,
            previous.offset + 1,
            "metadata batches are applied in order, without gaps"
        );
        let next = Arc::new(batch.replay_onto(&previous));
        self.publish(&previous, next).await
    }

    /// Applies records a broker fetched from the controller's log, each
    /// at its own offset (control records between them leave gaps), and
    /// publishes them as one image. Records at or below the image's
    /// offset (already applied) are passed over.
    pub async fn apply_replicated(&self, records: &[(i64, MetadataRecord)]) -> Arc<MetadataImage> {
        let _serial = self.apply.lock().await;
        let previous = self.cache.current();
        let fresh: Vec<&(i64, MetadataRecord)> = records
            .iter()
            .filter(|(o, _)| *o > previous.offset)
            .collect();
        if fresh.is_empty() {
            return previous;
        }
        let mut next = (*previous).clone();
        for (offset, record) in fresh {
            next.replay(*offset, record);
        }
        self.publish(&previous, Arc::new(next)).await
    }

    /// Publishes a whole image in place of the current one: a broker that
    /// caught up from a snapshot of the controller's log.
    pub async fn publish_snapshot(&self, image: MetadataImage) -> Arc<MetadataImage> {
        let _serial = self.apply.lock().await;
        let previous = self.cache.current();
        self.publish(&previous, Arc::new(image)).await
    }

    /// Under the apply lock: makes `next` current and tells every
    /// listener, in registration order.
    async fn publish(
        &self,
        previous: &Arc<MetadataImage>,
        next: Arc<MetadataImage>,
    ) -> Arc<MetadataImage> {
        self.cache.publish(next.clone());
        let listeners: Vec<Arc<dyn ImageListener>> = self
            .listeners
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for listener in listeners {
            listener.on_image_published(previous, &next).await;
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use uuid::Uuid;

    use super::*;
    use crate::metadata::listener::ListenerFuture;

    /// Who was told, and of which image offsets (previous, next).
    type Told = Arc<Mutex<Vec<(&'static str, i64, i64)>>>;

    /// Records what it was told, in order.
    struct Seen {
        name: &'static str,
        log: Told,
    }

    impl ImageListener for Seen {
        fn on_image_published<'a>(
            &'a self,
            previous: &'a MetadataImage,
            next: &'a MetadataImage,
        ) -> ListenerFuture<'a> {
            Box::pin(async move {
                self.log
                    .lock()
                    .unwrap()
                    .push((self.name, previous.offset, next.offset));
            })
        }
    }

    fn topic(name: &str, id: u128) -> MetadataRecord {
        MetadataRecord::Topic {
            name: name.into(),
            topic_id: Uuid::from_u128(id),
        }
    }

    #[tokio::test]
    async fn listeners_see_each_batch_in_order_and_replays_are_ignored() {
        let cache = Arc::new(MetadataCache::new(MetadataImage::empty()));
        let loader = MetadataLoader::new(cache.clone());
        let log: Told = Arc::default();
        let first: Arc<dyn ImageListener> = Arc::new(Seen {
            name: "replicas",
            log: log.clone(),
        });
        let second: Arc<dyn ImageListener> = Arc::new(Seen {
            name: "groups",
            log: log.clone(),
        });
        loader.add_listener(Arc::downgrade(&first));
        loader.add_listener(Arc::downgrade(&second));

        let a = [topic("a", 1), topic("b", 2)];
        let image = loader
            .apply_committed(CommittedBatch {
                base_offset: 0,
                records: &a,
            })
            .await;
        assert_eq!(image.offset, 1);
        assert!(cache.current().topic("b").is_some());
        // The same batch again (a re-delivered fetch) changes nothing.
        loader
            .apply_committed(CommittedBatch {
                base_offset: 0,
                records: &a,
            })
            .await;
        let c = [topic("c", 3)];
        loader
            .apply_committed(CommittedBatch {
                base_offset: 2,
                records: &c,
            })
            .await;
        assert_eq!(
            *log.lock().unwrap(),
            vec![
                ("replicas", -1, 1),
                ("groups", -1, 1),
                ("replicas", 1, 2),
                ("groups", 1, 2)
            ]
        );
        // A dropped listener is skipped.
        drop(second);
        let d = [topic("d", 4)];
        loader
            .apply_committed(CommittedBatch {
                base_offset: 3,
                records: &d,
            })
            .await;
        assert_eq!(log.lock().unwrap().last(), Some(&("replicas", 2, 3)));
        assert_eq!(cache.current().offset, 3);
    }
}
