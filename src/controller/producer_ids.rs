//! Producer-id blocks: the controller hands each broker a block of ids,
//! recorded in the metadata log so that an id is never reused after a
//! restart; the broker gives them out one by one
//! ([`crate::coordinator::producer_ids`]). Pure; no I/O. Kafka counterpart:
//! `ProducerIdControlManager` (AllocateProducerIds, KIP-730).

use crate::metadata::{MetadataImage, MetadataRecord};

/// Ids per block (Kafka's `ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`).
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

/// Ids `start .. start + len`, handed to one broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdsBlock {
    pub start: i64,
    pub len: i64,
}

/// The next block for `broker_id`, and the record that makes it durable.
pub fn allocate_producer_ids(
    image: &MetadataImage,
    broker_id: i32,
) -> (Vec<MetadataRecord>, ProducerIdsBlock) {
    let start = image.next_producer_id;
    let block = ProducerIdsBlock {
        start,
        len: PRODUCER_ID_BLOCK_SIZE,
    };
    let record = MetadataRecord::ProducerIds {
        broker_id,
        // Brokers do not register yet (KIP-631), so no epoch is known.
        broker_epoch: -1,
        next_producer_id: start + PRODUCER_ID_BLOCK_SIZE,
    };
    (vec![record], block)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_follow_each_other_through_the_image() {
        let mut image = MetadataImage::empty();
        let (records, first) = allocate_producer_ids(&image, 1);
        for (i, r) in records.iter().enumerate() {
            image.replay(i as i64, r);
        }
        let (_, second) = allocate_producer_ids(&image, 2);
        assert_eq!(
            first,
            ProducerIdsBlock {
                start: 0,
                len: 1000
            }
        );
        assert_eq!(second.start, 1000);
    }
}
