//! The in-memory image of the cluster's metadata at one metadata offset.
//! Immutable once published: a change builds a new image by replaying
//! records onto a copy (topics are shared between images through `Arc`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use uuid::Uuid;

use super::records::{
    ConfigResource, MetadataRecord, NO_LEADER_CHANGE, PartitionChangeRecord, PartitionRecord,
    RegisterBrokerRecord, fencing,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionImage {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// Kept so a snapshot writes back the record it was built from.
    pub removing_replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    pub leader_recovery_state: i8,
    pub directories: Vec<Uuid>,
}

impl PartitionImage {
    fn of(record: &PartitionRecord) -> Self {
        PartitionImage {
            replicas: record.replicas.clone(),
            isr: record.isr.clone(),
            leader: record.leader,
            leader_epoch: record.leader_epoch,
            partition_epoch: record.partition_epoch,
            removing_replicas: record.removing_replicas.clone(),
            adding_replicas: record.adding_replicas.clone(),
            leader_recovery_state: record.leader_recovery_state,
            directories: record.directories.clone(),
        }
    }

    /// This partition after `change` (Kafka's `PartitionRegistration.merge`):
    /// each field the change sets replaces ours; a set leader, even the
    /// same one, bumps the leader epoch; every change bumps the partition
    /// epoch.
    fn merge(&mut self, change: &PartitionChangeRecord) {
        if let Some(replicas) = &change.replicas {
            self.replicas = replicas.clone();
            if change.directories.is_none() {
                self.directories
                    .resize(replicas.len(), super::records::DIRECTORY_UNASSIGNED);
            }
        }
        if let Some(directories) = &change.directories {
            self.directories = directories.clone();
        }
        if let Some(isr) = &change.isr {
            self.isr = isr.clone();
        }
        if let Some(removing) = &change.removing_replicas {
            self.removing_replicas = removing.clone();
        }
        if let Some(adding) = &change.adding_replicas {
            self.adding_replicas = adding.clone();
        }
        if change.leader != NO_LEADER_CHANGE {
            self.leader = change.leader;
            self.leader_epoch += 1;
        }
        if change.leader_recovery_state != -1 {
            self.leader_recovery_state = change.leader_recovery_state;
        }
        self.partition_epoch += 1;
    }

    /// The `PartitionRecord` that creates this partition as it is now.
    pub fn record(&self, topic_id: Uuid, partition: i32) -> PartitionRecord {
        PartitionRecord {
            topic_id,
            partition,
            replicas: self.replicas.clone(),
            isr: self.isr.clone(),
            removing_replicas: self.removing_replicas.clone(),
            adding_replicas: self.adding_replicas.clone(),
            leader: self.leader,
            leader_recovery_state: self.leader_recovery_state,
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            directories: self.directories.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    pub name: String,
    pub topic_id: Uuid,
    pub partitions: BTreeMap<i32, PartitionImage>,
    /// Topic-level config overrides.
    pub configs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    /// Offset of the last record applied, -1 for none.
    pub offset: i64,
    /// Each registered broker's latest registration, with the fencing and
    /// controlled-shutdown changes since applied (Kafka's `ClusterImage`).
    pub brokers: BTreeMap<i32, RegisterBrokerRecord>,
    pub topics: BTreeMap<String, Arc<TopicImage>>,
    pub topic_names_by_id: HashMap<Uuid, String>,
    /// Dynamic broker configs by broker id ("" = cluster default).
    pub broker_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// The next producer id the controller may hand out.
    pub next_producer_id: i64,
    /// Finalized feature levels (`metadata.version`, ...) by name.
    pub features: BTreeMap<String, i16>,
}

impl MetadataImage {
    pub fn empty() -> Self {
        MetadataImage {
            offset: -1,
            ..Default::default()
        }
    }

    /// Brokers that are registered and not fenced: the ones clients may use.
    pub fn unfenced_brokers(&self) -> impl Iterator<Item = &RegisterBrokerRecord> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    /// Whether the broker may lead and be in an ISR: registered, unfenced
    /// and not in controlled shutdown (Kafka's `ClusterControlManager.isActive`).
    pub fn is_active_broker(&self, broker_id: i32) -> bool {
        self.brokers
            .get(&broker_id)
            .is_some_and(|b| !b.fenced && !b.in_controlled_shutdown)
    }

    pub fn topic(&self, name: &str) -> Option<&Arc<TopicImage>> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<&Arc<TopicImage>> {
        self.topic_names_by_id
            .get(id)
            .and_then(|n| self.topics.get(n))
    }

    /// Applies one record at metadata offset `offset`. The only code that
    /// changes an image. Records that refer to unknown topics are ignored
    /// (a removed topic's late records), never a panic.
    pub fn replay(&mut self, offset: i64, record: &MetadataRecord) {
        debug_assert!(offset > self.offset, "metadata records replay in order");
        self.offset = offset;
        self.apply(record);
    }

    /// The image a snapshot's records rebuild, at the snapshot's offset
    /// (the last record it contains is at `end_offset - 1`).
    pub fn from_snapshot(records: &[MetadataRecord], end_offset: i64) -> Self {
        let mut image = MetadataImage::empty();
        records.iter().for_each(|r| image.apply(r));
        image.offset = end_offset - 1;
        image
    }

    fn apply(&mut self, record: &MetadataRecord) {
        match record {
            MetadataRecord::RegisterBroker(registration) => {
                self.brokers
                    .insert(registration.broker_id, registration.clone());
            }
            MetadataRecord::BrokerRegistrationChange {
                broker_id,
                broker_epoch,
                fenced,
                in_controlled_shutdown,
            } => {
                // A change for an older registration is stale.
                if let Some(b) = self
                    .brokers
                    .get_mut(broker_id)
                    .filter(|b| b.broker_epoch == *broker_epoch)
                {
                    match *fenced {
                        fencing::FENCE => b.fenced = true,
                        fencing::UNFENCE => b.fenced = false,
                        _ => {}
                    }
                    if *in_controlled_shutdown == 1 {
                        b.in_controlled_shutdown = true;
                    }
                }
            }
            MetadataRecord::UnregisterBroker {
                broker_id,
                broker_epoch,
            } => {
                if self.brokers.get(broker_id).map(|b| b.broker_epoch) == Some(*broker_epoch) {
                    self.brokers.remove(broker_id);
                }
            }
            MetadataRecord::Topic { name, topic_id } => {
                self.topic_names_by_id.insert(*topic_id, name.clone());
                self.topics.insert(
                    name.clone(),
                    Arc::new(TopicImage {
                        name: name.clone(),
                        topic_id: *topic_id,
                        partitions: BTreeMap::new(),
                        configs: BTreeMap::new(),
                    }),
                );
            }
            MetadataRecord::Partition(p) => {
                if let Some(topic) = self.topic_mut_by_id(&p.topic_id) {
                    topic.partitions.insert(p.partition, PartitionImage::of(p));
                }
            }
            MetadataRecord::PartitionChange(change) => {
                // A change to a partition of a removed topic is late: ignored.
                if let Some(partition) = self
                    .topic_mut_by_id(&change.topic_id)
                    .and_then(|t| t.partitions.get_mut(&change.partition))
                {
                    partition.merge(change);
                }
            }
            MetadataRecord::Config {
                resource,
                name,
                value,
            } => {
                let configs = match resource {
                    ConfigResource::Topic(topic) => match self.topics.get_mut(topic) {
                        Some(t) => &mut Arc::make_mut(t).configs,
                        None => return,
                    },
                    ConfigResource::Broker(id) => {
                        self.broker_configs.entry(id.clone()).or_default()
                    }
                };
                match value {
                    Some(v) => configs.insert(name.clone(), v.clone()),
                    None => configs.remove(name),
                };
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                if let Some(name) = self.topic_names_by_id.remove(topic_id) {
                    self.topics.remove(&name);
                }
            }
            MetadataRecord::ProducerIds {
                next_producer_id, ..
            } => {
                self.next_producer_id = self.next_producer_id.max(*next_producer_id);
            }
            MetadataRecord::FeatureLevel { name, level } => {
                if *level == 0 {
                    self.features.remove(name);
                } else {
                    self.features.insert(name.clone(), *level);
                }
            }
            MetadataRecord::NoOp | MetadataRecord::Unhandled { .. } => {}
        }
    }

    fn topic_mut_by_id(&mut self, id: &Uuid) -> Option<&mut TopicImage> {
        let name = self.topic_names_by_id.get(id)?;
        self.topics.get_mut(name).map(Arc::make_mut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, id: u128) -> MetadataRecord {
        MetadataRecord::Topic {
            name: name.into(),
            topic_id: Uuid::from_u128(id),
        }
    }

    fn partition(id: u128, p: i32) -> MetadataRecord {
        MetadataRecord::Partition(PartitionRecord::new(Uuid::from_u128(id), p, vec![1]))
    }

    #[test]
    fn replay_builds_topics_partitions_and_configs() {
        let mut image = MetadataImage::empty();
        let records = [
            topic("a", 1),
            partition(1, 0),
            partition(1, 1),
            MetadataRecord::Config {
                resource: ConfigResource::Topic("a".into()),
                name: "retention.ms".into(),
                value: Some("1000".into()),
            },
        ];
        for (i, r) in records.iter().enumerate() {
            image.replay(i as i64, r);
        }
        let a = image.topic("a").unwrap();
        assert_eq!(a.partitions.len(), 2);
        assert_eq!(
            a.configs.get("retention.ms").map(String::as_str),
            Some("1000")
        );
        assert_eq!(image.topic_by_id(&Uuid::from_u128(1)).unwrap().name, "a");
        assert_eq!(image.offset, 3);
    }

    #[test]
    fn remove_topic_and_late_records_are_harmless() {
        let mut image = MetadataImage::empty();
        image.replay(0, &topic("a", 1));
        let before = image.clone();
        image.replay(
            1,
            &MetadataRecord::RemoveTopic {
                topic_id: Uuid::from_u128(1),
            },
        );
        image.replay(2, &partition(1, 0));
        assert!(image.topics.is_empty());
        assert!(image.topic_names_by_id.is_empty());
        assert_eq!(before.topics.len(), 1, "earlier images are untouched");
    }

    #[test]
    fn a_partition_change_merges_as_kafka_merges_it() {
        use crate::metadata::records::NO_LEADER;
        let mut image = MetadataImage::empty();
        let id = Uuid::from_u128(1);
        image.replay(0, &topic("a", 1));
        image.replay(
            1,
            &MetadataRecord::Partition(PartitionRecord::new(id, 0, vec![2, 3])),
        );
        // The ISR shrinks, the leader stays: only the partition epoch moves.
        image.replay(
            2,
            &MetadataRecord::PartitionChange(PartitionChangeRecord {
                isr: Some(vec![2]),
                ..PartitionChangeRecord::new(id, 0)
            }),
        );
        let p = &image.topic("a").unwrap().partitions[&0];
        assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (2, 0, 1));
        assert_eq!(p.isr, vec![2]);
        // No leader now: the epoch is bumped, the ISR left as it was.
        image.replay(
            3,
            &MetadataRecord::PartitionChange(PartitionChangeRecord {
                leader: NO_LEADER,
                ..PartitionChangeRecord::new(id, 0)
            }),
        );
        let p = &image.topic("a").unwrap().partitions[&0];
        assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (-1, 1, 2));
        assert_eq!((p.isr.clone(), p.replicas.clone()), (vec![2], vec![2, 3]));
        // A change to a partition that does not exist, or of a removed
        // topic, is passed over.
        image.replay(
            4,
            &MetadataRecord::PartitionChange(PartitionChangeRecord {
                leader: 3,
                ..PartitionChangeRecord::new(id, 9)
            }),
        );
        image.replay(5, &MetadataRecord::RemoveTopic { topic_id: id });
        image.replay(
            6,
            &MetadataRecord::PartitionChange(PartitionChangeRecord {
                leader: 3,
                ..PartitionChangeRecord::new(id, 0)
            }),
        );
        assert!(image.topics.is_empty());
    }

    #[test]
    fn producer_id_blocks_only_grow() {
        let mut image = MetadataImage::empty();
        image.replay(
            0,
            &MetadataRecord::ProducerIds {
                broker_id: 1,
                broker_epoch: -1,
                next_producer_id: 1000,
            },
        );
        image.replay(
            1,
            &MetadataRecord::ProducerIds {
                broker_id: 1,
                broker_epoch: -1,
                next_producer_id: 10,
            },
        );
        assert_eq!(image.next_producer_id, 1000);
    }
}
