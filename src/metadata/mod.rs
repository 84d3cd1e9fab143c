//! Cluster metadata the KRaft way: a log of [`records::MetadataRecord`]s
//! (stored as the partition log `__cluster_metadata-0`) replayed into an
//! immutable [`image::MetadataImage`]. Readers take the current image from
//! [`MetadataCache`]; only the controller writes records. Components that
//! react to changes are [`listener::ImageListener`]s.
//!
//! Kafka counterparts: `MetadataRecordType` records, `MetadataImage`,
//! `MetadataDelta`, the broker's `MetadataCache`.

pub mod fetcher;
pub mod image;
pub mod listener;
pub mod loader;
pub mod quorum;
pub mod records;
pub mod snapshot;
pub mod store;

use std::sync::{Arc, RwLock};

pub use image::{MetadataImage, PartitionImage, TopicImage};
pub use records::MetadataRecord;

/// The published image. Cheap to read (an `Arc` clone under a read lock).
#[derive(Default)]
pub struct MetadataCache {
    image: RwLock<Arc<MetadataImage>>,
}

impl MetadataCache {
    pub fn new(image: MetadataImage) -> Self {
        MetadataCache {
            image: RwLock::new(Arc::new(image)),
        }
    }

    pub fn current(&self) -> Arc<MetadataImage> {
        self.image.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Publishes a new image; returns the previous one.
    pub fn publish(&self, image: Arc<MetadataImage>) -> Arc<MetadataImage> {
        let mut guard = self.image.write().unwrap_or_else(|e| e.into_inner());
        debug_assert!(image.offset >= guard.offset, "metadata offsets only grow");
        std::mem::replace(&mut *guard, image)
    }
}
