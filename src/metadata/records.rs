//! The metadata records. Each durable change to the cluster's state is one
//! of these; [`super::MetadataImage::replay`] is the only code that applies
//! them. Kafka counterparts: `TopicRecord`, `PartitionRecord`,
//! `PartitionChangeRecord`, `ConfigRecord`, `RemoveTopicRecord`,
//! `ProducerIdsRecord`.
//!
//! Stored as JSON in the value of a record of a RecordBatch in
//! `__cluster_metadata-0`: readable with any Kafka tool that dumps values,
//! and independent of Kafka's own metadata schema versions.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a config record applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name")]
pub enum ConfigResource {
    Topic(String),
    /// A broker by id; an empty string is the cluster-wide default.
    Broker(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MetadataRecord {
    Topic {
        name: String,
        topic_id: Uuid,
    },
    Partition {
        topic_id: Uuid,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
    },
    Config {
        resource: ConfigResource,
        name: String,
        /// None removes the setting.
        value: Option<String>,
    },
    RemoveTopic {
        topic_id: Uuid,
    },
    /// The controller handed out producer ids below `next_producer_id`.
    ProducerIds {
        node_id: i32,
        next_producer_id: i64,
    },
}

impl MetadataRecord {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("metadata records always serialize")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}
