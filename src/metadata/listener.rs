//! Reactions to committed metadata: an [`ImageListener`] is told of every
//! image the controller publishes, in publication order, with the image it
//! replaced, so it can act on what changed (a topic id that left, for
//! example). Kafka counterpart: `MetadataPublisher.onMetadataUpdate`, which
//! the broker's metadata loader calls for each delta.
//!
//! Who calls it: the controller, after the image is visible in
//! [`super::MetadataCache`] and the replica manager applied it, and before
//! the decision that made it is answered. It awaits each listener, so the
//! next image is published only after every listener is done with this one.
//! A listener must therefore never wait for the controller itself.

use std::future::Future;
use std::pin::Pin;

use super::MetadataImage;

/// What [`ImageListener::on_image_published`] returns.
pub type ListenerFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

pub trait ImageListener: Send + Sync {
    /// `next` was just published in place of `previous`. Failures are the
    /// listener's to log; the image stays published either way.
    fn on_image_published<'a>(
        &'a self,
        previous: &'a MetadataImage,
        next: &'a MetadataImage,
    ) -> ListenerFuture<'a>;
}

/// Partitions of the topics whose id is in `previous` and not in `next`,
/// under their name in `previous` (Kafka's `TopicsDelta.deletedTopicIds`).
pub fn deleted_partitions(previous: &MetadataImage, next: &MetadataImage) -> Vec<(String, i32)> {
    previous
        .topics
        .values()
        .filter(|t| !next.topic_names_by_id.contains_key(&t.topic_id))
        .flat_map(|t| t.partitions.keys().map(|&p| (t.name.clone(), p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::metadata::MetadataRecord;
    use crate::metadata::records::PartitionRecord;

    fn with_topic(image: &mut MetadataImage, name: &str, id: Uuid, partitions: i32) {
        let mut offset = image.offset;
        let mut next = |image: &mut MetadataImage, r: MetadataRecord| {
            offset += 1;
            image.replay(offset, &r);
        };
        next(
            image,
            MetadataRecord::Topic {
                name: name.into(),
                topic_id: id,
            },
        );
        for partition in 0..partitions {
            next(
                image,
                MetadataRecord::Partition(PartitionRecord::new(id, partition, vec![1])),
            );
        }
    }

    #[test]
    fn a_topic_id_that_leaves_is_deleted_even_when_its_name_comes_back() {
        let (old, new, kept) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut previous = MetadataImage::empty();
        with_topic(&mut previous, "orders", old, 2);
        with_topic(&mut previous, "kept", kept, 1);
        let mut next = previous.clone();
        next.replay(
            next.offset + 1,
            &MetadataRecord::RemoveTopic { topic_id: old },
        );
        assert_eq!(
            deleted_partitions(&previous, &next),
            vec![("orders".to_string(), 0), ("orders".to_string(), 1)]
        );
        // Re-created under the same name in the same image: still the old
        // topic's partitions, by id.
        with_topic(&mut next, "orders", new, 3);
        assert_eq!(deleted_partitions(&previous, &next).len(), 2);
        assert!(deleted_partitions(&next, &next).is_empty());
    }
}
