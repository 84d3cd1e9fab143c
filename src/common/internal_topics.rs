//! The one list of Kafka's internal topics. Each belongs to a coordinator
//! (or, for the metadata log, to the controller quorum), which alone
//! creates it with its own settings; clients see them flagged
//! `is_internal` (Kafka's `Topic.isInternal`), regex subscriptions never
//! match them, and clients may not create, delete records from or produce
//! to them.

/// The group coordinator's topic.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// The transaction coordinator's topic.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";
/// The share-group coordinator's topic (KIP-932).
pub const SHARE_GROUP_STATE_TOPIC: &str = "__share_group_state";
/// The KRaft metadata log. Not a topic of the image: it is never listed,
/// and no client request may name it.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// The internal topics a client can see in Metadata.
pub const INTERNAL_TOPICS: [&str; 3] = [
    OFFSETS_TOPIC,
    TRANSACTION_STATE_TOPIC,
    SHARE_GROUP_STATE_TOPIC,
];

/// Whether `name` is an internal topic of a coordinator.
pub fn is_internal(name: &str) -> bool {
    INTERNAL_TOPICS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_coordinators_topics_are_internal() {
        for name in INTERNAL_TOPICS {
            assert!(is_internal(name));
        }
        // A double underscore alone does not make a topic internal (Kafka
        // lets users create `__my_topic`).
        assert!(!is_internal("__my_topic"));
        assert!(!is_internal("consumer_offsets"));
        assert!(!is_internal(METADATA_TOPIC));
    }
}
