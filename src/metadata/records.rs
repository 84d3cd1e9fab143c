//! The metadata records, in Kafka's own schemas. Each durable change to
//! the cluster's state is one of these; [`super::MetadataImage::replay`] is
//! the only code that applies them.
//!
//! On disk a record is the value of a record (null key) of a RecordBatch in
//! `__cluster_metadata-0`, framed as Kafka's `MetadataRecordSerde` frames
//! it: an unsigned varint frame version (1), the record type (its schema's
//! `apiKey`) and the record version as unsigned varints, then the record in
//! the flexible-version encoding of Kafka's message schemas (compact
//! strings and arrays, tagged fields). Kafka's tools read the log:
//! `kafka-dump-log --cluster-metadata-decoder` and `kafka-metadata-shell`.
//! Versions are the ones Kafka 4.1 writes at `metadata.version` 4.1-IV1
//! without eligible leader replicas (`PartitionRecord` v1, with a log
//! directory per replica). The definitions are ours, written from the
//! published schemas (`RegisterBrokerRecord`,
//! `BrokerRegistrationChangeRecord`, `UnregisterBrokerRecord`,
//! `TopicRecord`, `PartitionRecord`, `PartitionChangeRecord`,
//! `ConfigRecord`, `RemoveTopicRecord`,
//! `FeatureLevelRecord`, `ProducerIdsRecord`, `NoOpRecord`; the older
//! `FenceBrokerRecord`/`UnfenceBrokerRecord` are read).
//!
//! Logs written by Runnel before it used Kafka's schemas hold JSON values;
//! they are still read ([`legacy`]) and never written.

use bytes::{Buf, BufMut};
use uuid::Uuid;

/// Kafka's fixed topic id of `__cluster_metadata`
/// (`Topic.METADATA_TOPIC_ID`, `AAAAAAAAAAAAAAAAAAAAAQ`).
pub const METADATA_TOPIC_ID: Uuid = Uuid::from_u128(1);

/// `DirectoryId.UNASSIGNED`: a replica whose log dir the broker picks.
pub const DIRECTORY_UNASSIGNED: Uuid = Uuid::from_u128(1);

/// `DirectoryId.MIGRATING`: a replica on a broker that registered no log
/// directory ids.
pub const DIRECTORY_MIGRATING: Uuid = Uuid::from_u128(2);

/// The only frame version Kafka reads (`AbstractApiMessageSerde`).
const FRAME_VERSION: u32 = 1;

/// Record types (`apiKey` of each schema).
mod record_type {
    pub const REGISTER_BROKER: u16 = 0;
    pub const UNREGISTER_BROKER: u16 = 1;
    pub const TOPIC: u16 = 2;
    pub const PARTITION: u16 = 3;
    pub const CONFIG: u16 = 4;
    pub const PARTITION_CHANGE: u16 = 5;
    pub const FENCE_BROKER: u16 = 7;
    pub const UNFENCE_BROKER: u16 = 8;
    pub const REMOVE_TOPIC: u16 = 9;
    pub const FEATURE_LEVEL: u16 = 12;
    pub const PRODUCER_IDS: u16 = 15;
    pub const BROKER_REGISTRATION_CHANGE: u16 = 17;
    pub const NO_OP: u16 = 20;
}

/// `ConfigResource.Type` codes of a `ConfigRecord`.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

/// What a config record applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigResource {
    Topic(String),
    /// A broker by id; an empty string is the cluster-wide default.
    Broker(String),
}

/// `PartitionRecord`: a partition's whole state, written when it is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRecord {
    pub topic_id: Uuid,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub removing_replicas: Vec<i32>,
    pub adding_replicas: Vec<i32>,
    pub leader: i32,
    /// 1 while a leader elected uncleanly recovers; 0 otherwise.
    pub leader_recovery_state: i8,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// The log dir of each replica, in the order of `replicas`.
    pub directories: Vec<Uuid>,
}

impl PartitionRecord {
    /// A new partition led by its first replica, every replica in sync,
    /// each replica's log dir left to its broker.
    pub fn new(topic_id: Uuid, partition: i32, replicas: Vec<i32>) -> Self {
        PartitionRecord {
            topic_id,
            partition,
            leader: replicas.first().copied().unwrap_or(-1),
            isr: replicas.clone(),
            directories: vec![DIRECTORY_UNASSIGNED; replicas.len()],
            replicas,
            removing_replicas: Vec::new(),
            adding_replicas: Vec::new(),
            leader_recovery_state: 0,
            leader_epoch: 0,
            partition_epoch: 0,
        }
    }
}

/// `PartitionChangeRecord.Leader`: the partition has no leader now.
pub const NO_LEADER: i32 = -1;
/// `PartitionChangeRecord.Leader`: the leader did not change (the field's
/// default, so it is left out of the record).
pub const NO_LEADER_CHANGE: i32 = -2;

/// `PartitionChangeRecord` (v1, with directories): what changed in a
/// partition. Every field but the ids is optional (`None`, or the
/// [`NO_LEADER_CHANGE`] / -1 sentinels, for "unchanged") and written as a
/// tagged field only when set. Replaying one bumps the partition epoch, and
/// the leader epoch when `leader` is set, even to the same leader (Kafka's
/// `PartitionRegistration.merge`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionChangeRecord {
    pub topic_id: Uuid,
    pub partition: i32,
    pub isr: Option<Vec<i32>>,
    /// The new leader, [`NO_LEADER`], or [`NO_LEADER_CHANGE`].
    pub leader: i32,
    pub replicas: Option<Vec<i32>>,
    pub removing_replicas: Option<Vec<i32>>,
    pub adding_replicas: Option<Vec<i32>>,
    /// -1 unchanged; else as in [`PartitionRecord`].
    pub leader_recovery_state: i8,
    pub directories: Option<Vec<Uuid>>,
}

impl PartitionChangeRecord {
    /// A change of nothing yet, to set fields on.
    pub fn new(topic_id: Uuid, partition: i32) -> Self {
        PartitionChangeRecord {
            topic_id,
            partition,
            isr: None,
            leader: NO_LEADER_CHANGE,
            replicas: None,
            removing_replicas: None,
            adding_replicas: None,
            leader_recovery_state: -1,
            directories: None,
        }
    }
}

/// One listener of a broker, as its registration names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerEndpoint {
    pub name: String,
    pub host: String,
    pub port: u16,
    /// `SecurityProtocol` id: 0 PLAINTEXT, 1 SSL, 2 SASL_PLAINTEXT,
    /// 3 SASL_SSL.
    pub security_protocol: i16,
}

/// A feature level range a broker supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerFeature {
    pub name: String,
    pub min: i16,
    pub max: i16,
}

/// `RegisterBrokerRecord` (v3): a broker process registered (KIP-631).
/// Its epoch is the offset of this record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterBrokerRecord {
    pub broker_id: i32,
    pub incarnation_id: Uuid,
    pub broker_epoch: i64,
    pub endpoints: Vec<BrokerEndpoint>,
    pub features: Vec<BrokerFeature>,
    pub rack: Option<String>,
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
    /// The broker's online log dirs (`directory.id`s).
    pub log_dirs: Vec<Uuid>,
}

/// How a `BrokerRegistrationChangeRecord` changes fencing.
pub mod fencing {
    pub const UNFENCE: i8 = -1;
    pub const NONE: i8 = 0;
    pub const FENCE: i8 = 1;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataRecord {
    RegisterBroker(RegisterBrokerRecord),
    /// `BrokerRegistrationChangeRecord` (v0, v1 with InControlledShutdown);
    /// also what the older
    /// `FenceBrokerRecord` and `UnfenceBrokerRecord` are read as.
    BrokerRegistrationChange {
        broker_id: i32,
        broker_epoch: i64,
        /// [`fencing`]: -1 unfenced, 0 no change, 1 fenced.
        fenced: i8,
        /// 1 when the broker entered controlled shutdown, 0 no change.
        in_controlled_shutdown: i8,
    },
    UnregisterBroker {
        broker_id: i32,
        broker_epoch: i64,
    },
    Topic {
        name: String,
        topic_id: Uuid,
    },
    Partition(PartitionRecord),
    PartitionChange(PartitionChangeRecord),
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
        broker_id: i32,
        broker_epoch: i64,
        next_producer_id: i64,
    },
    /// A finalized feature level (KIP-584); `metadata.version` comes first
    /// in a new log.
    FeatureLevel {
        name: String,
        level: i16,
    },
    NoOp,
    /// A record type Runnel does not act on yet (broker registrations and
    /// fencing, ACLs, quotas, ... in a log Kafka wrote). Decoded only so a
    /// replay can pass over it; never written.
    Unhandled {
        record_type: u16,
        version: u16,
    },
}

/// Why a metadata record could not be read.
#[derive(Debug, thiserror::Error)]
#[error("metadata record: {0}")]
pub struct RecordError(String);

fn err(e: impl std::fmt::Display) -> RecordError {
    RecordError(e.to_string())
}

impl MetadataRecord {
    fn type_and_version(&self) -> (u16, u16) {
        match self {
            MetadataRecord::RegisterBroker(_) => (record_type::REGISTER_BROKER, 3),
            // As Kafka 4.1 writes it: v0 for fencing, v1 once it carries
            // InControlledShutdown (seen in a metadata log Kafka wrote).
            MetadataRecord::BrokerRegistrationChange {
                in_controlled_shutdown,
                ..
            } => (
                record_type::BROKER_REGISTRATION_CHANGE,
                u16::from(*in_controlled_shutdown != 0),
            ),
            MetadataRecord::UnregisterBroker { .. } => (record_type::UNREGISTER_BROKER, 0),
            MetadataRecord::Topic { .. } => (record_type::TOPIC, 0),
            MetadataRecord::Partition(_) => (record_type::PARTITION, 1),
            // v1 as Kafka 4.1 writes it without eligible leader replicas.
            MetadataRecord::PartitionChange(_) => (record_type::PARTITION_CHANGE, 1),
            MetadataRecord::Config { .. } => (record_type::CONFIG, 0),
            MetadataRecord::RemoveTopic { .. } => (record_type::REMOVE_TOPIC, 0),
            MetadataRecord::ProducerIds { .. } => (record_type::PRODUCER_IDS, 0),
            MetadataRecord::FeatureLevel { .. } => (record_type::FEATURE_LEVEL, 0),
            MetadataRecord::NoOp => (record_type::NO_OP, 0),
            MetadataRecord::Unhandled {
                record_type,
                version,
            } => (*record_type, *version),
        }
    }

    /// The record framed as Kafka's `MetadataRecordSerde` writes it.
    ///
    /// # Panics
    /// On [`MetadataRecord::Unhandled`], which is only ever read.
    pub fn to_bytes(&self) -> Vec<u8> {
        let (record_type, version) = self.type_and_version();
        let mut w = Writer(Vec::with_capacity(64));
        w.uvarint(FRAME_VERSION);
        w.uvarint(u32::from(record_type));
        w.uvarint(u32::from(version));
        // Tagged fields set to other than their defaults, in tag order.
        let mut tags: Vec<(u32, Vec<u8>)> = Vec::new();
        match self {
            MetadataRecord::RegisterBroker(b) => {
                w.0.put_i32(b.broker_id);
                w.0.put_u8(0); // IsMigratingZkBroker: no ZooKeeper here.
                w.uuid(&b.incarnation_id);
                w.0.put_i64(b.broker_epoch);
                w.uvarint(b.endpoints.len() as u32 + 1);
                for e in &b.endpoints {
                    w.string(&e.name);
                    w.string(&e.host);
                    w.0.put_u16(e.port);
                    w.0.put_i16(e.security_protocol);
                    w.uvarint(0);
                }
                w.uvarint(b.features.len() as u32 + 1);
                for f in &b.features {
                    w.string(&f.name);
                    w.0.put_i16(f.min);
                    w.0.put_i16(f.max);
                    w.uvarint(0);
                }
                w.nullable_string(b.rack.as_deref());
                w.0.put_u8(u8::from(b.fenced));
                w.0.put_u8(u8::from(b.in_controlled_shutdown));
                if !b.log_dirs.is_empty() {
                    let mut dirs = Writer(Vec::new());
                    dirs.uuids(&b.log_dirs);
                    tags.push((0, dirs.0));
                }
            }
            MetadataRecord::BrokerRegistrationChange {
                broker_id,
                broker_epoch,
                fenced,
                in_controlled_shutdown,
            } => {
                w.0.put_i32(*broker_id);
                w.0.put_i64(*broker_epoch);
                // Tags 0 (Fenced) and 1 (InControlledShutdown).
                tags.extend(
                    [(0, *fenced), (1, *in_controlled_shutdown)]
                        .into_iter()
                        .filter(|(_, v)| *v != 0)
                        .map(|(tag, v)| (tag, vec![v as u8])),
                );
            }
            MetadataRecord::UnregisterBroker {
                broker_id,
                broker_epoch,
            } => {
                w.0.put_i32(*broker_id);
                w.0.put_i64(*broker_epoch);
            }
            MetadataRecord::Topic { name, topic_id } => {
                w.string(name);
                w.uuid(topic_id);
            }
            MetadataRecord::Partition(p) => {
                w.0.put_i32(p.partition);
                w.uuid(&p.topic_id);
                w.ids(&p.replicas);
                w.ids(&p.isr);
                w.ids(&p.removing_replicas);
                w.ids(&p.adding_replicas);
                w.0.put_i32(p.leader);
                w.0.put_i32(p.leader_epoch);
                w.0.put_i32(p.partition_epoch);
                w.uuids(&p.directories);
                // Tag 0: LeaderRecoveryState.
                if p.leader_recovery_state != 0 {
                    tags.push((0, vec![p.leader_recovery_state as u8]));
                }
            }
            MetadataRecord::PartitionChange(c) => {
                w.0.put_i32(c.partition);
                w.uuid(&c.topic_id);
                let ids = |v: &Vec<i32>| {
                    let mut f = Writer(Vec::new());
                    f.ids(v);
                    f.0
                };
                // Tags in order: 0 Isr, 1 Leader, 2 Replicas,
                // 3 RemovingReplicas, 4 AddingReplicas, 5
                // LeaderRecoveryState, 8 Directories.
                if let Some(isr) = &c.isr {
                    tags.push((0, ids(isr)));
                }
                if c.leader != NO_LEADER_CHANGE {
                    tags.push((1, c.leader.to_be_bytes().to_vec()));
                }
                for (tag, field) in [
                    (2, &c.replicas),
                    (3, &c.removing_replicas),
                    (4, &c.adding_replicas),
                ] {
                    if let Some(v) = field {
                        tags.push((tag, ids(v)));
                    }
                }
                if c.leader_recovery_state != -1 {
                    tags.push((5, vec![c.leader_recovery_state as u8]));
                }
                if let Some(dirs) = &c.directories {
                    let mut f = Writer(Vec::new());
                    f.uuids(dirs);
                    tags.push((8, f.0));
                }
            }
            MetadataRecord::Config {
                resource,
                name,
                value,
            } => {
                let (kind, resource_name) = match resource {
                    ConfigResource::Topic(n) => (RESOURCE_TOPIC, n),
                    ConfigResource::Broker(n) => (RESOURCE_BROKER, n),
                };
                w.0.put_i8(kind);
                w.string(resource_name);
                w.string(name);
                w.nullable_string(value.as_deref());
            }
            MetadataRecord::RemoveTopic { topic_id } => w.uuid(topic_id),
            MetadataRecord::ProducerIds {
                broker_id,
                broker_epoch,
                next_producer_id,
            } => {
                w.0.put_i32(*broker_id);
                w.0.put_i64(*broker_epoch);
                w.0.put_i64(*next_producer_id);
            }
            MetadataRecord::FeatureLevel { name, level } => {
                w.string(name);
                w.0.put_i16(*level);
            }
            MetadataRecord::NoOp => {}
            MetadataRecord::Unhandled { .. } => {
                panic!("record type {record_type} is read, never written")
            }
        }
        w.tags(&tags);
        w.0
    }

    /// Reads one framed record (the value of a metadata log record). JSON
    /// values from Runnel's earlier format are read too.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RecordError> {
        if bytes.first() == Some(&b'{') {
            return legacy::from_json(bytes);
        }
        let mut r = Reader(bytes);
        let frame = r.uvarint()?;
        if frame != FRAME_VERSION {
            return Err(err(format!(
                "unknown frame version {frame} (only {FRAME_VERSION} is defined)"
            )));
        }
        let record_type = r.small("record type")?;
        let version = r.small("record version")?;
        let record = r
            .body(record_type, version)
            .map_err(|e| err(format!("record type {record_type} v{version}: {}", e.0)))?;
        if !r.0.is_empty() && !matches!(record, MetadataRecord::Unhandled { .. }) {
            return Err(err(format!(
                "{} byte(s) after record type {record_type}",
                r.0.len()
            )));
        }
        Ok(record)
    }
}

/// The flexible-version encoding of Kafka's message schemas, as far as the
/// metadata records need it.
struct Writer(Vec<u8>);

impl Writer {
    fn uvarint(&mut self, mut value: u32) {
        while value >= 0x80 {
            self.0.put_u8((value as u8) | 0x80);
            value >>= 7;
        }
        self.0.put_u8(value as u8);
    }

    /// A compact string: length + 1, then UTF-8 bytes.
    fn string(&mut self, value: &str) {
        self.uvarint(value.len() as u32 + 1);
        self.0.put_slice(value.as_bytes());
    }

    fn nullable_string(&mut self, value: Option<&str>) {
        match value {
            Some(v) => self.string(v),
            None => self.uvarint(0),
        }
    }

    fn uuid(&mut self, value: &Uuid) {
        self.0.put_slice(value.as_bytes());
    }

    /// A tagged-field section: (tag, field bytes) in tag order.
    fn tags(&mut self, fields: &[(u32, Vec<u8>)]) {
        self.uvarint(fields.len() as u32);
        for (tag, bytes) in fields {
            self.uvarint(*tag);
            self.uvarint(bytes.len() as u32);
            self.0.put_slice(bytes);
        }
    }

    /// A compact array of uuids.
    fn uuids(&mut self, values: &[Uuid]) {
        self.uvarint(values.len() as u32 + 1);
        values.iter().for_each(|v| self.uuid(v));
    }

    /// A compact array of int32: length + 1, then the values.
    fn ids(&mut self, values: &[i32]) {
        self.uvarint(values.len() as u32 + 1);
        values.iter().for_each(|v| self.0.put_i32(*v));
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn need(&self, n: usize, what: &str) -> Result<(), RecordError> {
        if self.0.len() < n {
            return Err(err(format!("cut short in {what}")));
        }
        Ok(())
    }

    fn uvarint(&mut self) -> Result<u32, RecordError> {
        let mut value = 0u32;
        for shift in (0..35).step_by(7) {
            self.need(1, "a varint")?;
            let byte = self.0.get_u8();
            value |= u32::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(err("a varint longer than 5 bytes"))
    }

    /// Kafka reads the frame's type and version into a short.
    fn small(&mut self, what: &str) -> Result<u16, RecordError> {
        let value = self.uvarint()?;
        u16::try_from(value)
            .ok()
            .filter(|v| *v <= i16::MAX as u16)
            .ok_or_else(|| err(format!("{what} {value} is too large")))
    }

    /// The next `N` bytes of a fixed-size field.
    fn fixed<const N: usize>(&mut self, what: &str) -> Result<[u8; N], RecordError> {
        self.need(N, what)?;
        let mut bytes = [0u8; N];
        self.0.copy_to_slice(&mut bytes);
        Ok(bytes)
    }

    fn i8(&mut self) -> Result<i8, RecordError> {
        self.fixed("an int8").map(i8::from_be_bytes)
    }

    fn bool(&mut self) -> Result<bool, RecordError> {
        self.fixed::<1>("a boolean").map(|[b]| b != 0)
    }

    fn u16(&mut self) -> Result<u16, RecordError> {
        self.fixed("a uint16").map(u16::from_be_bytes)
    }

    fn i16(&mut self) -> Result<i16, RecordError> {
        self.fixed("an int16").map(i16::from_be_bytes)
    }

    fn i32(&mut self) -> Result<i32, RecordError> {
        self.fixed("an int32").map(i32::from_be_bytes)
    }

    fn i64(&mut self) -> Result<i64, RecordError> {
        self.fixed("an int64").map(i64::from_be_bytes)
    }

    fn uuid(&mut self) -> Result<Uuid, RecordError> {
        self.fixed("a uuid").map(Uuid::from_bytes)
    }

    /// The length of a compact string or array; None for null.
    fn compact_len(&mut self) -> Result<Option<usize>, RecordError> {
        Ok(self.uvarint()?.checked_sub(1).map(|n| n as usize))
    }

    fn nullable_string(&mut self) -> Result<Option<String>, RecordError> {
        let Some(len) = self.compact_len()? else {
            return Ok(None);
        };
        self.need(len, "a string")?;
        let (bytes, rest) = self.0.split_at(len);
        self.0 = rest;
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| err("a string that is not UTF-8"))
    }

    fn string(&mut self) -> Result<String, RecordError> {
        self.nullable_string()?
            .ok_or_else(|| err("a null string where one is required"))
    }

    fn array<T>(
        &mut self,
        size: usize,
        mut item: impl FnMut(&mut Self) -> Result<T, RecordError>,
    ) -> Result<Vec<T>, RecordError> {
        let len = self
            .compact_len()?
            .ok_or_else(|| err("a null array where one is required"))?;
        self.need(len.saturating_mul(size), "an array")?;
        (0..len).map(|_| item(self)).collect()
    }

    fn ids(&mut self) -> Result<Vec<i32>, RecordError> {
        self.array(4, Self::i32)
    }

    fn uuids(&mut self) -> Result<Vec<Uuid>, RecordError> {
        self.array(16, Self::uuid)
    }

    /// A tagged-field section, each field's bytes handed to `field`.
    fn tags(
        &mut self,
        mut field: impl FnMut(u32, &mut Reader<'_>) -> Result<(), RecordError>,
    ) -> Result<(), RecordError> {
        for _ in 0..self.uvarint()? {
            let tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.need(size, "a tagged field")?;
            let (bytes, rest) = self.0.split_at(size);
            self.0 = rest;
            field(tag, &mut Reader(bytes))?;
        }
        Ok(())
    }

    fn no_tags(&mut self) -> Result<(), RecordError> {
        self.tags(|_, _| Ok(()))
    }

    fn body(&mut self, record_type: u16, version: u16) -> Result<MetadataRecord, RecordError> {
        let known_version = |max: u16| {
            if version > max {
                return Err(err(format!("version {version} is newer than {max}")));
            }
            Ok(())
        };
        let record = match record_type {
            record_type::REGISTER_BROKER => {
                known_version(3)?;
                let broker_id = self.i32()?;
                if version >= 2 {
                    self.bool()?; // IsMigratingZkBroker
                }
                let incarnation_id = self.uuid()?;
                let broker_epoch = self.i64()?;
                let endpoints = self.array(1, |r| {
                    let e = BrokerEndpoint {
                        name: r.string()?,
                        host: r.string()?,
                        port: r.u16()?,
                        security_protocol: r.i16()?,
                    };
                    r.no_tags()?;
                    Ok(e)
                })?;
                let features = self.array(1, |r| {
                    let f = BrokerFeature {
                        name: r.string()?,
                        min: r.i16()?,
                        max: r.i16()?,
                    };
                    r.no_tags()?;
                    Ok(f)
                })?;
                let rack = self.nullable_string()?;
                let fenced = self.bool()?;
                let in_controlled_shutdown = version >= 1 && self.bool()?;
                let mut log_dirs = Vec::new();
                self.tags(|tag, value| {
                    if tag == 0 && version >= 3 {
                        log_dirs = value.uuids()?;
                    }
                    Ok(())
                })?;
                MetadataRecord::RegisterBroker(RegisterBrokerRecord {
                    broker_id,
                    incarnation_id,
                    broker_epoch,
                    endpoints,
                    features,
                    rack,
                    fenced,
                    in_controlled_shutdown,
                    log_dirs,
                })
            }
            record_type::BROKER_REGISTRATION_CHANGE => {
                known_version(2)?;
                let broker_id = self.i32()?;
                let broker_epoch = self.i64()?;
                let (mut fenced, mut in_controlled_shutdown) = (0, 0);
                self.tags(|tag, value| {
                    match tag {
                        0 => fenced = value.i8()?,
                        1 => in_controlled_shutdown = value.i8()?,
                        _ => {}
                    }
                    Ok(())
                })?;
                MetadataRecord::BrokerRegistrationChange {
                    broker_id,
                    broker_epoch,
                    fenced,
                    in_controlled_shutdown,
                }
            }
            record_type::FENCE_BROKER | record_type::UNFENCE_BROKER => {
                known_version(0)?;
                let broker_id = self.i32()?;
                let broker_epoch = self.i64()?;
                self.no_tags()?;
                MetadataRecord::BrokerRegistrationChange {
                    broker_id,
                    broker_epoch,
                    fenced: if record_type == record_type::FENCE_BROKER {
                        fencing::FENCE
                    } else {
                        fencing::UNFENCE
                    },
                    in_controlled_shutdown: 0,
                }
            }
            record_type::UNREGISTER_BROKER => {
                known_version(0)?;
                let broker_id = self.i32()?;
                let broker_epoch = self.i64()?;
                self.no_tags()?;
                MetadataRecord::UnregisterBroker {
                    broker_id,
                    broker_epoch,
                }
            }
            record_type::TOPIC => {
                known_version(0)?;
                let name = self.string()?;
                let topic_id = self.uuid()?;
                self.no_tags()?;
                MetadataRecord::Topic { name, topic_id }
            }
            record_type::PARTITION => {
                known_version(2)?;
                let partition = self.i32()?;
                let topic_id = self.uuid()?;
                let replicas = self.ids()?;
                let isr = self.ids()?;
                let removing_replicas = self.ids()?;
                let adding_replicas = self.ids()?;
                let leader = self.i32()?;
                let leader_epoch = self.i32()?;
                let partition_epoch = self.i32()?;
                let directories = if version >= 1 {
                    self.uuids()?
                } else {
                    vec![DIRECTORY_UNASSIGNED; replicas.len()]
                };
                let mut leader_recovery_state = 0;
                self.tags(|tag, value| {
                    if tag == 0 {
                        leader_recovery_state = value.i8()?;
                    }
                    Ok(())
                })?;
                MetadataRecord::Partition(PartitionRecord {
                    topic_id,
                    partition,
                    replicas,
                    isr,
                    removing_replicas,
                    adding_replicas,
                    leader,
                    leader_recovery_state,
                    leader_epoch,
                    partition_epoch,
                    directories,
                })
            }
            record_type::PARTITION_CHANGE => {
                known_version(2)?;
                let partition = self.i32()?;
                let topic_id = self.uuid()?;
                let mut c = PartitionChangeRecord::new(topic_id, partition);
                self.tags(|tag, value| {
                    match tag {
                        0 => c.isr = Some(value.ids()?),
                        1 => c.leader = value.i32()?,
                        2 => c.replicas = Some(value.ids()?),
                        3 => c.removing_replicas = Some(value.ids()?),
                        4 => c.adding_replicas = Some(value.ids()?),
                        5 => c.leader_recovery_state = value.i8()?,
                        8 if version >= 1 => c.directories = Some(value.uuids()?),
                        // 6 and 7 (v2): eligible leader replicas, not
                        // enabled by Runnel's metadata.version.
                        _ => {}
                    }
                    Ok(())
                })?;
                MetadataRecord::PartitionChange(c)
            }
            record_type::CONFIG => {
                known_version(0)?;
                let kind = self.i8()?;
                let resource_name = self.string()?;
                let name = self.string()?;
                let value = self.nullable_string()?;
                self.no_tags()?;
                let resource = match kind {
                    RESOURCE_TOPIC => ConfigResource::Topic(resource_name),
                    RESOURCE_BROKER => ConfigResource::Broker(resource_name),
                    // Broker loggers, client metrics and groups: not
                    // modelled yet.
                    _ => {
                        return Ok(MetadataRecord::Unhandled {
                            record_type,
                            version,
                        });
                    }
                };
                MetadataRecord::Config {
                    resource,
                    name,
                    value,
                }
            }
            record_type::REMOVE_TOPIC => {
                known_version(0)?;
                let topic_id = self.uuid()?;
                self.no_tags()?;
                MetadataRecord::RemoveTopic { topic_id }
            }
            record_type::PRODUCER_IDS => {
                known_version(0)?;
                let broker_id = self.i32()?;
                let broker_epoch = self.i64()?;
                let next_producer_id = self.i64()?;
                self.no_tags()?;
                MetadataRecord::ProducerIds {
                    broker_id,
                    broker_epoch,
                    next_producer_id,
                }
            }
            record_type::FEATURE_LEVEL => {
                known_version(0)?;
                let name = self.string()?;
                let level = self.i16()?;
                self.no_tags()?;
                MetadataRecord::FeatureLevel { name, level }
            }
            record_type::NO_OP => {
                self.no_tags()?;
                MetadataRecord::NoOp
            }
            _ => MetadataRecord::Unhandled {
                record_type,
                version,
            },
        };
        Ok(record)
    }
}

/// Runnel's metadata values before Kafka's schemas: JSON objects with a
/// `type` tag. Read so that existing data dirs keep their topics.
pub mod legacy {
    use serde::Deserialize;
    use uuid::Uuid;

    use super::{ConfigResource, MetadataRecord, PartitionRecord, RecordError, err};

    #[derive(Deserialize)]
    #[serde(tag = "kind", content = "name")]
    enum Resource {
        Topic(String),
        Broker(String),
    }

    #[derive(Deserialize)]
    #[serde(tag = "type")]
    enum Record {
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
            resource: Resource,
            name: String,
            value: Option<String>,
        },
        RemoveTopic {
            topic_id: Uuid,
        },
        ProducerIds {
            node_id: i32,
            next_producer_id: i64,
        },
    }

    pub fn from_json(bytes: &[u8]) -> Result<MetadataRecord, RecordError> {
        let record: Record = serde_json::from_slice(bytes).map_err(err)?;
        Ok(match record {
            Record::Topic { name, topic_id } => MetadataRecord::Topic { name, topic_id },
            Record::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
            } => {
                let mut p = PartitionRecord::new(topic_id, partition, replicas);
                p.isr = isr;
                p.leader = leader;
                p.leader_epoch = leader_epoch;
                p.partition_epoch = partition_epoch;
                MetadataRecord::Partition(p)
            }
            Record::Config {
                resource,
                name,
                value,
            } => MetadataRecord::Config {
                resource: match resource {
                    Resource::Topic(n) => ConfigResource::Topic(n),
                    Resource::Broker(n) => ConfigResource::Broker(n),
                },
                name,
                value,
            },
            Record::RemoveTopic { topic_id } => MetadataRecord::RemoveTopic { topic_id },
            Record::ProducerIds {
                node_id,
                next_producer_id,
            } => MetadataRecord::ProducerIds {
                broker_id: node_id,
                broker_epoch: -1,
                next_producer_id,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Vec<MetadataRecord> {
        let id = Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10);
        let mut recovering = PartitionRecord::new(id, 3, vec![1, 2, 3]);
        recovering.leader_recovery_state = 1;
        recovering.isr = vec![2];
        recovering.leader = 2;
        recovering.leader_epoch = 7;
        recovering.partition_epoch = 9;
        let broker = RegisterBrokerRecord {
            broker_id: 2,
            incarnation_id: Uuid::from_u128(77),
            broker_epoch: 12,
            endpoints: vec![BrokerEndpoint {
                name: "PLAINTEXT".into(),
                host: "10.0.0.2".into(),
                port: 9092,
                security_protocol: 0,
            }],
            features: vec![BrokerFeature {
                name: "metadata.version".into(),
                min: 7,
                max: 27,
            }],
            rack: Some("r1".into()),
            fenced: true,
            in_controlled_shutdown: false,
            log_dirs: vec![Uuid::from_u128(88)],
        };
        vec![
            MetadataRecord::RegisterBroker(broker.clone()),
            MetadataRecord::RegisterBroker(RegisterBrokerRecord {
                rack: None,
                log_dirs: vec![],
                in_controlled_shutdown: true,
                ..broker
            }),
            MetadataRecord::BrokerRegistrationChange {
                broker_id: 2,
                broker_epoch: 12,
                fenced: fencing::UNFENCE,
                in_controlled_shutdown: 0,
            },
            MetadataRecord::BrokerRegistrationChange {
                broker_id: 2,
                broker_epoch: 12,
                fenced: fencing::NONE,
                in_controlled_shutdown: 1,
            },
            MetadataRecord::UnregisterBroker {
                broker_id: 2,
                broker_epoch: 12,
            },
            MetadataRecord::FeatureLevel {
                name: "metadata.version".into(),
                level: 27,
            },
            MetadataRecord::Topic {
                name: "orders".into(),
                topic_id: id,
            },
            MetadataRecord::Partition(PartitionRecord::new(id, 0, vec![1])),
            MetadataRecord::Partition(recovering),
            MetadataRecord::PartitionChange(PartitionChangeRecord {
                leader: NO_LEADER,
                ..PartitionChangeRecord::new(id, 3)
            }),
            MetadataRecord::PartitionChange(PartitionChangeRecord {
                isr: Some(vec![1, 3]),
                replicas: Some(vec![1, 3]),
                removing_replicas: Some(vec![]),
                adding_replicas: Some(vec![4]),
                leader_recovery_state: 0,
                directories: Some(vec![DIRECTORY_UNASSIGNED; 2]),
                ..PartitionChangeRecord::new(id, 4)
            }),
            MetadataRecord::Config {
                resource: ConfigResource::Topic("orders".into()),
                name: "retention.ms".into(),
                value: Some("1000".into()),
            },
            MetadataRecord::Config {
                resource: ConfigResource::Broker(String::new()),
                name: "log.retention.ms".into(),
                value: None,
            },
            MetadataRecord::RemoveTopic { topic_id: id },
            MetadataRecord::ProducerIds {
                broker_id: 1,
                broker_epoch: -1,
                next_producer_id: 2000,
            },
            MetadataRecord::NoOp,
        ]
    }

    #[test]
    fn every_record_kind_round_trips() {
        for record in every_kind() {
            let bytes = record.to_bytes();
            assert_eq!(MetadataRecord::from_bytes(&bytes).unwrap(), record);
        }
    }

    #[test]
    fn a_topic_record_is_framed_as_kafka_frames_it() {
        let record = MetadataRecord::Topic {
            name: "ab".into(),
            topic_id: Uuid::from_u128(5),
        };
        let mut expected = vec![1, 2, 0, 3, b'a', b'b'];
        expected.extend_from_slice(&[0; 15]);
        expected.extend_from_slice(&[5, 0]);
        assert_eq!(record.to_bytes(), expected);
    }

    /// The leader sentinels as Kafka encodes them: "no change" (-2) is the
    /// field's default and left out; "no leader" (-1) is written; an
    /// unchanged ISR is left out (null), not an empty array.
    #[test]
    fn a_partition_change_writes_only_what_changed() {
        let id = Uuid::from_u128(5);
        let mut head = vec![1, 5, 1, 0, 0, 0, 2];
        head.extend_from_slice(id.as_bytes());
        let nothing = PartitionChangeRecord::new(id, 2);
        let mut expected = head.clone();
        expected.push(0);
        assert_eq!(
            MetadataRecord::PartitionChange(nothing.clone()).to_bytes(),
            expected
        );
        let offline = PartitionChangeRecord {
            leader: NO_LEADER,
            ..nothing.clone()
        };
        let mut expected = head.clone();
        expected.extend_from_slice(&[1, 1, 4, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            MetadataRecord::PartitionChange(offline).to_bytes(),
            expected
        );
        let shrunk = PartitionChangeRecord {
            isr: Some(vec![3]),
            ..nothing
        };
        let mut expected = head;
        expected.extend_from_slice(&[1, 0, 5, 2, 0, 0, 0, 3]);
        assert_eq!(MetadataRecord::PartitionChange(shrunk).to_bytes(), expected);
    }

    #[test]
    fn a_config_deletion_has_a_null_value() {
        let record = MetadataRecord::Config {
            resource: ConfigResource::Broker("1".into()),
            name: "x".into(),
            value: None,
        };
        // frame 1, type 4, version 0, BROKER (4), "1", "x", null, no tags.
        assert_eq!(record.to_bytes(), vec![1, 4, 0, 4, 2, b'1', 2, b'x', 0, 0]);
    }

    #[test]
    fn older_fencing_records_read_as_registration_changes() {
        // FenceBrokerRecord v0: id 3, epoch 5, no tags.
        let mut bytes = vec![1, 7, 0, 0, 0, 0, 3];
        bytes.extend_from_slice(&5i64.to_be_bytes());
        bytes.push(0);
        assert_eq!(
            MetadataRecord::from_bytes(&bytes).unwrap(),
            MetadataRecord::BrokerRegistrationChange {
                broker_id: 3,
                broker_epoch: 5,
                fenced: fencing::FENCE,
                in_controlled_shutdown: 0
            }
        );
    }

    #[test]
    fn unknown_types_are_passed_over_and_bad_frames_refused() {
        // An AccessControlEntryRecord (type 6) from a log Kafka wrote.
        let record = MetadataRecord::from_bytes(&[1, 6, 0, 9, 9, 9]).unwrap();
        assert_eq!(
            record,
            MetadataRecord::Unhandled {
                record_type: 6,
                version: 0
            }
        );
        assert!(MetadataRecord::from_bytes(&[0, 2, 0]).is_err());
        assert!(MetadataRecord::from_bytes(&[1, 2, 0, 3, b'a']).is_err());
        let mut trailing = MetadataRecord::NoOp.to_bytes();
        trailing.push(0);
        assert!(MetadataRecord::from_bytes(&trailing).is_err());
        // A TopicRecord version this code does not know.
        assert!(MetadataRecord::from_bytes(&[1, 2, 1, 1, 0]).is_err());
    }

    #[test]
    fn json_values_of_the_earlier_format_are_read() {
        let id = Uuid::from_u128(9);
        let json = format!(
            r#"{{"type":"Partition","topic_id":"{id}","partition":2,"replicas":[1],"isr":[1],"leader":1,"leader_epoch":3,"partition_epoch":4}}"#
        );
        let MetadataRecord::Partition(p) = MetadataRecord::from_bytes(json.as_bytes()).unwrap()
        else {
            panic!("a partition record")
        };
        assert_eq!((p.partition, p.leader_epoch, p.partition_epoch), (2, 3, 4));
        assert_eq!(p.directories, vec![DIRECTORY_UNASSIGNED]);
        let json =
            br#"{"type":"Config","resource":{"kind":"Broker","name":""},"name":"a","value":null}"#;
        assert_eq!(
            MetadataRecord::from_bytes(json).unwrap(),
            MetadataRecord::Config {
                resource: ConfigResource::Broker(String::new()),
                name: "a".into(),
                value: None
            }
        );
        let json = br#"{"type":"ProducerIds","node_id":1,"next_producer_id":5000}"#;
        assert!(matches!(
            MetadataRecord::from_bytes(json).unwrap(),
            MetadataRecord::ProducerIds {
                next_producer_id: 5000,
                ..
            }
        ));
    }
}
