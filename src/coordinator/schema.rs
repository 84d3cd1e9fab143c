//! `__consumer_offsets` records in Kafka's own schema, so that the topic's
//! bytes mean the same thing to Kafka's tools as to us.
//!
//! Keys start with an `int16` version: 0 and 1 are an offset commit
//! (`group, topic, partition`), 2 is a group's metadata (`group`). Values
//! start with their own version; a tombstone is a record with a null value.
//! We write `OffsetCommitValue` v3 and `GroupMetadataValue` v3 (the last
//! non-flexible versions, which Kafka still reads) and read v0–v3 of both.
//! Keys of version 3 and above belong to KIP-848 groups and are skipped.
//!
//! Kafka counterpart: `GroupCoordinatorRecordSerde` and the
//! `OffsetCommitKey/Value`, `GroupMetadataKey/Value` schemas.

use bytes::{BufMut, Bytes, BytesMut};

use super::record::{
    GroupMetadataValue, GroupRecord, MemberMetadataValue, OffsetAndMetadata, OffsetRecord,
};

/// One decoded `__consumer_offsets` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredRecord {
    Offset {
        group_id: String,
        record: OffsetRecord,
    },
    Group {
        group_id: String,
        record: GroupRecord,
    },
    /// A record kind this broker does not use (KIP-848, share groups).
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed __consumer_offsets record: {0}")]
pub struct SchemaError(String);

const OFFSET_KEY_VERSION: i16 = 1;
const GROUP_KEY_VERSION: i16 = 2;
const OFFSET_VALUE_VERSION: i16 = 3;
const GROUP_VALUE_VERSION: i16 = 3;

/// Kafka's partition for a group: `abs(groupId.hashCode()) % partitions`,
/// with Java's `String.hashCode` over UTF-16 code units.
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let hash = group_id.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    // Kafka's `Utils.abs` maps i32::MIN to 0.
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions.max(1)
}

/// A record as appended: the key is always set, the value is `None` for a
/// tombstone.
pub type KeyValue = (Option<Bytes>, Option<Bytes>);

/// The records of offset changes, ready to append.
pub fn encode_offsets(group_id: &str, records: &[OffsetRecord]) -> Vec<KeyValue> {
    records
        .iter()
        .map(|r| {
            let (k, v) = encode_offset(group_id, r);
            (Some(k), v)
        })
        .collect()
}

/// `(key, value)` of an offset record; the value is `None` for a tombstone.
pub fn encode_offset(group_id: &str, record: &OffsetRecord) -> (Bytes, Option<Bytes>) {
    let (topic, partition) = match record {
        OffsetRecord::Commit {
            topic, partition, ..
        }
        | OffsetRecord::Tombstone { topic, partition } => (topic, *partition),
    };
    let mut key = BytesMut::new();
    key.put_i16(OFFSET_KEY_VERSION);
    put_string(&mut key, group_id);
    put_string(&mut key, topic);
    key.put_i32(partition);
    let value = match record {
        OffsetRecord::Tombstone { .. } => None,
        OffsetRecord::Commit { value, .. } => {
            let mut v = BytesMut::new();
            v.put_i16(OFFSET_VALUE_VERSION);
            v.put_i64(value.committed_offset);
            v.put_i32(value.leader_epoch.unwrap_or(-1));
            put_string(&mut v, &value.metadata);
            v.put_i64(value.commit_timestamp_ms);
            Some(v.freeze())
        }
    };
    (key.freeze(), value)
}

/// `(key, value)` of a group metadata record.
pub fn encode_group(group_id: &str, record: &GroupRecord) -> (Bytes, Option<Bytes>) {
    let mut key = BytesMut::new();
    key.put_i16(GROUP_KEY_VERSION);
    put_string(&mut key, group_id);
    let value = match record {
        GroupRecord::Tombstone => None,
        GroupRecord::Metadata(g) => {
            let mut v = BytesMut::new();
            v.put_i16(GROUP_VALUE_VERSION);
            put_string(&mut v, g.protocol_type.as_deref().unwrap_or(""));
            v.put_i32(g.generation_id);
            put_nullable_string(&mut v, g.protocol_name.as_deref());
            put_nullable_string(&mut v, g.leader.as_deref());
            v.put_i64(g.current_state_timestamp_ms.unwrap_or(-1));
            v.put_i32(g.members.len() as i32);
            for m in &g.members {
                put_string(&mut v, &m.member_id);
                put_nullable_string(&mut v, m.group_instance_id.as_deref());
                put_string(&mut v, &m.client_id);
                put_string(&mut v, &m.client_host);
                v.put_i32(m.rebalance_timeout_ms);
                v.put_i32(m.session_timeout_ms);
                put_bytes(&mut v, &m.subscription);
                put_bytes(&mut v, &m.assignment);
            }
            Some(v.freeze())
        }
    };
    (key.freeze(), value)
}

/// Decodes one record of the topic.
pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<StoredRecord, SchemaError> {
    let mut k = Reader(key);
    match k.i16()? {
        0 | 1 => {
            let group_id = k.string()?;
            let topic = k.string()?;
            let partition = k.i32()?;
            let record = match value {
                None => OffsetRecord::Tombstone { topic, partition },
                Some(v) => OffsetRecord::Commit {
                    topic,
                    partition,
                    value: decode_offset_value(v)?,
                },
            };
            Ok(StoredRecord::Offset { group_id, record })
        }
        2 => {
            let group_id = k.string()?;
            let record = match value {
                None => GroupRecord::Tombstone,
                Some(v) => GroupRecord::Metadata(decode_group_value(v)?),
            };
            Ok(StoredRecord::Group { group_id, record })
        }
        _ => Ok(StoredRecord::Other),
    }
}

fn decode_offset_value(bytes: &[u8]) -> Result<OffsetAndMetadata, SchemaError> {
    let mut r = Reader(bytes);
    let version = r.i16()?;
    if !(0..=3).contains(&version) {
        return Err(SchemaError(format!(
            "offset commit value version {version} is not supported"
        )));
    }
    let committed_offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = r.string()?;
    let commit_timestamp_ms = r.i64()?;
    if version == 1 {
        r.i64()?; // expire timestamp, unused since KIP-211
    }
    Ok(OffsetAndMetadata {
        committed_offset,
        leader_epoch: (leader_epoch >= 0).then_some(leader_epoch),
        metadata,
        commit_timestamp_ms,
    })
}

fn decode_group_value(bytes: &[u8]) -> Result<GroupMetadataValue, SchemaError> {
    let mut r = Reader(bytes);
    let version = r.i16()?;
    if !(0..=3).contains(&version) {
        return Err(SchemaError(format!(
            "group metadata value version {version} is not supported"
        )));
    }
    let protocol_type = r.string()?;
    let generation_id = r.i32()?;
    let protocol_name = r.nullable_string()?;
    let leader = r.nullable_string()?;
    let current_state_timestamp_ms = if version >= 2 { r.i64()? } else { -1 };
    let count = r.i32()?;
    let mut members = Vec::new();
    for _ in 0..count.max(0) {
        let member_id = r.string()?;
        let group_instance_id = if version >= 3 {
            r.nullable_string()?
        } else {
            None
        };
        let client_id = r.string()?;
        let client_host = r.string()?;
        let rebalance_timeout_ms = if version >= 1 { Some(r.i32()?) } else { None };
        let session_timeout_ms = r.i32()?;
        members.push(MemberMetadataValue {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms: rebalance_timeout_ms.unwrap_or(session_timeout_ms),
            session_timeout_ms,
            subscription: r.bytes()?,
            assignment: r.bytes()?,
        });
    }
    Ok(GroupMetadataValue {
        protocol_type: (!protocol_type.is_empty()).then_some(protocol_type),
        generation_id,
        protocol_name,
        leader,
        current_state_timestamp_ms: (current_state_timestamp_ms >= 0)
            .then_some(current_state_timestamp_ms),
        members,
    })
}

fn put_string(buf: &mut BytesMut, s: &str) {
    buf.put_i16(s.len() as i16);
    buf.put_slice(s.as_bytes());
}

fn put_nullable_string(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_string(buf, s),
        None => buf.put_i16(-1),
    }
}

fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    buf.put_i32(b.len() as i32);
    buf.put_slice(b);
}

/// A bounds-checked reader over a record key or value.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SchemaError> {
        if self.0.len() < n {
            return Err(SchemaError(format!(
                "needed {n} more bytes, {} left",
                self.0.len()
            )));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn i16(&mut self) -> Result<i16, SchemaError> {
        Ok(i16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn i32(&mut self) -> Result<i32, SchemaError> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn i64(&mut self) -> Result<i64, SchemaError> {
        Ok(i64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn nullable_string(&mut self) -> Result<Option<String>, SchemaError> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        let raw = self.take(len as usize)?;
        String::from_utf8(raw.to_vec())
            .map(Some)
            .map_err(|_| SchemaError("a string is not UTF-8".into()))
    }
    fn string(&mut self) -> Result<String, SchemaError> {
        self.nullable_string()?
            .ok_or_else(|| SchemaError("a required string is null".into()))
    }
    fn bytes(&mut self) -> Result<Bytes, SchemaError> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(Bytes::new());
        }
        Ok(Bytes::copy_from_slice(self.take(len as usize)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_matches_java_string_hash_code() {
        // Values of Java's "x".hashCode(), worked by hand.
        assert_eq!(partition_for("", 50), 0);
        // "a".hashCode() = 97
        assert_eq!(partition_for("a", 50), 97 % 50);
        // "ab".hashCode() = 97 * 31 + 98 = 3105
        assert_eq!(partition_for("ab", 50), 3105 % 50);
        // A long id overflows i32 and goes negative before abs.
        let long = "consumer-group-with-a-rather-long-name";
        let p = partition_for(long, 50);
        assert!((0..50).contains(&p));
        // A code point outside the BMP counts as two UTF-16 units.
        let h = 0xD83Di32 * 31 + 0xDE00;
        assert_eq!(partition_for("\u{1F600}", 1000), h % 1000);
    }

    #[test]
    fn offset_records_round_trip() {
        let commit = OffsetRecord::Commit {
            topic: "t".into(),
            partition: 4,
            value: OffsetAndMetadata {
                committed_offset: 42,
                leader_epoch: Some(3),
                metadata: "meta".into(),
                commit_timestamp_ms: 1_700_000_000_000,
            },
        };
        let (k, v) = encode_offset("g", &commit);
        assert_eq!(
            decode(&k, v.as_deref()).unwrap(),
            StoredRecord::Offset {
                group_id: "g".into(),
                record: commit
            }
        );
        let tomb = OffsetRecord::Tombstone {
            topic: "t".into(),
            partition: 4,
        };
        let (k2, v2) = encode_offset("g", &tomb);
        assert_eq!(
            k, k2,
            "a tombstone has the commit's key, so compaction drops both"
        );
        assert!(v2.is_none());
        assert_eq!(
            decode(&k2, None).unwrap(),
            StoredRecord::Offset {
                group_id: "g".into(),
                record: tomb
            }
        );
    }

    #[test]
    fn group_records_round_trip() {
        let value = GroupMetadataValue {
            protocol_type: Some("consumer".into()),
            generation_id: 7,
            protocol_name: Some("range".into()),
            leader: Some("m1".into()),
            current_state_timestamp_ms: Some(123),
            members: vec![MemberMetadataValue {
                member_id: "m1".into(),
                group_instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"asg"),
            }],
        };
        let record = GroupRecord::Metadata(value);
        let (k, v) = encode_group("g", &record);
        assert_eq!(
            decode(&k, v.as_deref()).unwrap(),
            StoredRecord::Group {
                group_id: "g".into(),
                record
            }
        );
        assert_eq!(
            decode(&k, None).unwrap(),
            StoredRecord::Group {
                group_id: "g".into(),
                record: GroupRecord::Tombstone
            }
        );
    }

    #[test]
    fn older_value_versions_decode() {
        // OffsetCommitValue v1: offset, metadata, commit ts, expire ts.
        let mut v = BytesMut::new();
        v.put_i16(1);
        v.put_i64(9);
        put_string(&mut v, "m");
        v.put_i64(5);
        v.put_i64(6);
        let o = decode_offset_value(&v).unwrap();
        assert_eq!(
            (o.committed_offset, o.leader_epoch, o.commit_timestamp_ms),
            (9, None, 5)
        );
        // GroupMetadataValue v0: no rebalance timeout, no state timestamp.
        let mut g = BytesMut::new();
        g.put_i16(0);
        put_string(&mut g, "consumer");
        g.put_i32(2);
        put_nullable_string(&mut g, Some("range"));
        put_nullable_string(&mut g, Some("m"));
        g.put_i32(1);
        put_string(&mut g, "m");
        put_string(&mut g, "c");
        put_string(&mut g, "h");
        g.put_i32(10_000);
        put_bytes(&mut g, b"s");
        put_bytes(&mut g, b"a");
        let d = decode_group_value(&g).unwrap();
        assert_eq!(d.members[0].rebalance_timeout_ms, 10_000);
        assert_eq!(d.current_state_timestamp_ms, None);
    }

    #[test]
    fn malformed_and_unknown_records_are_errors_or_skipped() {
        assert!(decode(&[0], None).is_err());
        assert!(decode(&[0, 1, 0, 5, b'a'], None).is_err());
        assert_eq!(
            decode(&[0, 3, 0, 0], Some(b"x")).unwrap(),
            StoredRecord::Other
        );
        let (k, _) = encode_offset(
            "g",
            &OffsetRecord::Tombstone {
                topic: "t".into(),
                partition: 0,
            },
        );
        assert!(decode(&k, Some(&[0, 9])).is_err());
    }
}
