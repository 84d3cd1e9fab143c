//! Metadata snapshots (KIP-630): the whole image as metadata records in a
//! file beside the metadata log, so a restart replays the snapshot and the
//! log after it rather than the whole log. Laid out as Kafka lays them out,
//! so `kafka-metadata-shell --snapshot` and `kafka-dump-log
//! --cluster-metadata-decoder` read them:
//!
//! - the file `<end offset %020d>-<epoch %010d>.checkpoint` in
//!   `__cluster_metadata-0`, where the end offset is one past the last
//!   record it contains; written as `.checkpoint.part`, fsynced, then
//!   renamed (Kafka's `FileRawSnapshotWriter.freeze`);
//! - a control batch with a `SnapshotHeaderRecord`, then the records in
//!   batches from offset 0, then a control batch with a
//!   `SnapshotFooterRecord`.
//!
//! The records are the image written out the way Kafka's `MetadataImage`
//! writes itself: features, brokers, topics with their partitions,
//! configs, producer ids. The epoch is the quorum epoch of the last record
//! it contains. Kafka counterparts: `RecordsSnapshotWriter`, `Snapshots`,
//! `SnapshotPath`.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::{BufMut, Bytes};

use super::MetadataImage;
use super::records::{ConfigResource, MetadataRecord};
use crate::common::durable_file::write_file_durably_via;
use crate::log::records::{ReplayError, encode_batch_at, replay_batches};

const SUFFIX: &str = ".checkpoint";
const PART_SUFFIX: &str = ".checkpoint.part";

/// `ControlRecordType` ids of a snapshot's markers.
const SNAPSHOT_HEADER: i16 = 3;
const SNAPSHOT_FOOTER: i16 = 4;

/// Records per data batch of a snapshot.
const RECORDS_PER_BATCH: usize = 4096;

/// A snapshot's identity: the offset after its last record, and the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SnapshotId {
    pub end_offset: i64,
    pub epoch: i32,
}

impl SnapshotId {
    pub fn file_name(&self) -> String {
        format!("{:020}-{:010}{SUFFIX}", self.end_offset, self.epoch)
    }

    /// The id of a finished snapshot's file name; None for anything else.
    pub fn parse(name: &str) -> Option<SnapshotId> {
        let stem = name.strip_suffix(SUFFIX)?;
        let (offset, epoch) = stem.split_once('-')?;
        if offset.len() != 20 || epoch.len() != 10 {
            return None;
        }
        Some(SnapshotId {
            end_offset: offset.parse().ok()?,
            epoch: epoch.parse().ok()?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("metadata snapshot {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("metadata snapshot {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// The records that rebuild `image` from nothing.
pub fn image_records(image: &MetadataImage) -> Vec<MetadataRecord> {
    let mut out = Vec::new();
    // metadata.version first: it says how to read the rest.
    let mut features: Vec<(&String, &i16)> = image.features.iter().collect();
    features.sort_by_key(|(name, _)| name.as_str() != "metadata.version");
    out.extend(
        features
            .into_iter()
            .map(|(name, level)| MetadataRecord::FeatureLevel {
                name: name.clone(),
                level: *level,
            }),
    );
    out.extend(
        image
            .brokers
            .values()
            .map(|b| MetadataRecord::RegisterBroker(b.clone())),
    );
    for topic in image.topics.values() {
        out.push(MetadataRecord::Topic {
            name: topic.name.clone(),
            topic_id: topic.topic_id,
        });
        out.extend(
            topic.partitions.iter().map(|(&partition, p)| {
                MetadataRecord::Partition(p.record(topic.topic_id, partition))
            }),
        );
    }
    let config =
        |resource: ConfigResource, (name, value): (&String, &String)| MetadataRecord::Config {
            resource,
            name: name.clone(),
            value: Some(value.clone()),
        };
    for (broker, configs) in &image.broker_configs {
        out.extend(
            configs
                .iter()
                .map(|c| config(ConfigResource::Broker(broker.clone()), c)),
        );
    }
    for topic in image.topics.values() {
        out.extend(
            topic
                .configs
                .iter()
                .map(|c| config(ConfigResource::Topic(topic.name.clone()), c)),
        );
    }
    if image.next_producer_id > 0 {
        // As Kafka's ProducerIdsImage writes itself: no broker.
        out.push(MetadataRecord::ProducerIds {
            broker_id: -1,
            broker_epoch: -1,
            next_producer_id: image.next_producer_id,
        });
    }
    out
}

/// A control record's key: version 0 and the type.
fn control_key(kind: i16) -> Bytes {
    let mut key = Vec::with_capacity(4);
    key.put_i16(0);
    key.put_i16(kind);
    Bytes::from(key)
}

/// Writes the snapshot of `image` (which has applied every record below
/// `id.end_offset`) into `dir`, durably. It is taken right after the
/// append of its last record, so `now_ms` is also that record's time (the
/// header's `LastContainedLogTimestamp`).
pub fn write(
    dir: &Path,
    id: SnapshotId,
    image: &MetadataImage,
    now_ms: i64,
) -> Result<PathBuf, SnapshotError> {
    let path = dir.join(id.file_name());
    let io = |source| SnapshotError::Io {
        path: path.clone(),
        source,
    };
    let mut bytes = Vec::new();
    // SnapshotHeaderRecord v0: Version, LastContainedLogTimestamp, no tags.
    let mut header = Vec::new();
    header.put_i16(0);
    header.put_i64(now_ms);
    header.put_u8(0);
    let mut offset = 0i64;
    let header = [(
        Some(control_key(SNAPSHOT_HEADER)),
        Some(Bytes::from(header)),
    )];
    bytes.extend_from_slice(&encode_batch_at(&header, offset, true, now_ms));
    offset += 1;
    let records = image_records(image);
    for chunk in records.chunks(RECORDS_PER_BATCH) {
        let values: Vec<(Option<Bytes>, Option<Bytes>)> = chunk
            .iter()
            .map(|r| (None, Some(Bytes::from(r.to_bytes()))))
            .collect();
        bytes.extend_from_slice(&encode_batch_at(&values, offset, false, now_ms));
        offset += chunk.len() as i64;
    }
    // SnapshotFooterRecord v0: Version, no tags.
    let footer = [(
        Some(control_key(SNAPSHOT_FOOTER)),
        Some(Bytes::from_static(&[0, 0, 0])),
    )];
    bytes.extend_from_slice(&encode_batch_at(&footer, offset, true, now_ms));

    let part = format!("{}{PART_SUFFIX}", id.file_name().trim_end_matches(SUFFIX));
    write_file_durably_via(dir, &id.file_name(), &part, &bytes).map_err(io)?;
    Ok(path)
}

/// Stores a snapshot fetched whole from the quorum's leader (FetchSnapshot)
/// in `dir`, durably, and returns its records. A snapshot that does not
/// read back as one (no header or footer, a bad batch) is removed again.
pub fn install(
    dir: &Path,
    id: SnapshotId,
    bytes: &[u8],
) -> Result<(PathBuf, Vec<MetadataRecord>), SnapshotError> {
    let path = dir.join(id.file_name());
    let part = format!("{}{PART_SUFFIX}", id.file_name().trim_end_matches(SUFFIX));
    write_file_durably_via(dir, &id.file_name(), &part, bytes).map_err(|source| {
        SnapshotError::Io {
            path: path.clone(),
            source,
        }
    })?;
    match read(&path) {
        Ok(records) => Ok((path, records)),
        Err(e) => {
            let _ = fs::remove_file(&path);
            Err(e)
        }
    }
}

/// The newest finished snapshot in `dir`, if any. Leftover `.part` files of
/// an interrupted write are removed.
pub fn latest(dir: &Path) -> Result<Option<(SnapshotId, PathBuf)>, SnapshotError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SnapshotError::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut best: Option<(SnapshotId, PathBuf)> = None;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(PART_SUFFIX) {
            tracing::warn!(file = %entry.path().display(), "removing an unfinished metadata snapshot");
            let _ = fs::remove_file(entry.path());
            continue;
        }
        if let Some(id) = SnapshotId::parse(&name)
            && best.as_ref().is_none_or(|(b, _)| id > *b)
        {
            best = Some((id, entry.path()));
        }
    }
    Ok(best)
}

/// Removes the finished snapshots in `dir` older than `keep`.
pub fn remove_older_than(dir: &Path, keep: SnapshotId) -> Result<(), SnapshotError> {
    let io = |source| SnapshotError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in fs::read_dir(dir).map_err(io)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if SnapshotId::parse(&name).is_some_and(|id| id < keep) {
            fs::remove_file(entry.path()).map_err(io)?;
        }
    }
    Ok(())
}

/// The metadata records of a snapshot file, in order. The file must begin
/// with a snapshot header and end with a footer; other control records
/// (KRaft's voters and version, which `kafka-storage format` writes) are
/// passed over.
pub fn read(path: &Path) -> Result<Vec<MetadataRecord>, SnapshotError> {
    let invalid = |reason: String| SnapshotError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = Bytes::from(fs::read(path).map_err(|source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    })?);
    let mut records = Vec::new();
    let mut markers = Vec::new();
    let end = replay_batches(&bytes, 0, |control, _offset, key, value| {
        if control {
            let kind = key
                .filter(|k| k.len() >= 4)
                .map(|k| i16::from_be_bytes([k[2], k[3]]))
                .ok_or("a control record without a type")?;
            markers.push((records.len(), kind));
            return Ok(());
        }
        let record =
            MetadataRecord::from_bytes(value.unwrap_or_default()).map_err(|e| e.to_string())?;
        records.push(record);
        Ok(())
    })
    .map_err(|e| match e {
        ReplayError::Decode { offset, reason } => {
            invalid(format!("batch at offset {offset}: {reason}"))
        }
        ReplayError::Log(e) => invalid(e.to_string()),
    })?;
    let header_first = markers.first() == Some(&(0, SNAPSHOT_HEADER));
    let footer_last = markers.last() == Some(&(records.len(), SNAPSHOT_FOOTER));
    if !header_first || !footer_last {
        return Err(invalid(format!(
            "not a whole snapshot (header first: {header_first}, footer last: {footer_last}, {end} offsets read)"
        )));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::metadata::records::{
        BrokerEndpoint, PartitionRecord, RegisterBrokerRecord, fencing,
    };

    /// An image built the way a log builds one, and the log's records.
    fn busy_image() -> MetadataImage {
        let id = Uuid::from_u128(1);
        let gone = Uuid::from_u128(2);
        let broker = RegisterBrokerRecord {
            broker_id: 1,
            incarnation_id: Uuid::from_u128(9),
            broker_epoch: 1,
            endpoints: vec![BrokerEndpoint {
                name: "PLAINTEXT".into(),
                host: "h".into(),
                port: 1,
                security_protocol: 0,
            }],
            features: vec![],
            rack: None,
            fenced: true,
            in_controlled_shutdown: false,
            log_dirs: vec![],
        };
        let records = vec![
            MetadataRecord::FeatureLevel {
                name: "group.version".into(),
                level: 1,
            },
            MetadataRecord::FeatureLevel {
                name: "metadata.version".into(),
                level: 27,
            },
            MetadataRecord::RegisterBroker(broker),
            MetadataRecord::BrokerRegistrationChange {
                broker_id: 1,
                broker_epoch: 1,
                fenced: fencing::UNFENCE,
                in_controlled_shutdown: 0,
            },
            MetadataRecord::Topic {
                name: "a".into(),
                topic_id: id,
            },
            MetadataRecord::Partition(PartitionRecord::new(id, 0, vec![1])),
            MetadataRecord::Partition(PartitionRecord::new(id, 1, vec![1])),
            MetadataRecord::Topic {
                name: "gone".into(),
                topic_id: gone,
            },
            MetadataRecord::Config {
                resource: ConfigResource::Topic("a".into()),
                name: "retention.ms".into(),
                value: Some("5".into()),
            },
            MetadataRecord::Config {
                resource: ConfigResource::Broker(String::new()),
                name: "log.retention.ms".into(),
                value: Some("6".into()),
            },
            MetadataRecord::RemoveTopic { topic_id: gone },
            MetadataRecord::ProducerIds {
                broker_id: 1,
                broker_epoch: 1,
                next_producer_id: 3000,
            },
        ];
        let mut image = MetadataImage::empty();
        for (i, r) in records.iter().enumerate() {
            image.replay(i as i64, r);
        }
        image
    }

    #[test]
    fn a_snapshot_rebuilds_the_image_it_was_taken_of() {
        let tmp = tempfile::tempdir().unwrap();
        let image = busy_image();
        let id = SnapshotId {
            end_offset: image.offset + 1,
            epoch: 0,
        };
        let path = write(tmp.path(), id, &image, 6).unwrap();
        assert_eq!(
            path.file_name().unwrap(),
            "00000000000000000012-0000000000.checkpoint"
        );
        let records = read(&path).unwrap();
        assert!(matches!(
            &records[0],
            MetadataRecord::FeatureLevel { name, .. } if name == "metadata.version"
        ));
        let rebuilt = MetadataImage::from_snapshot(&records, id.end_offset);
        assert_eq!(rebuilt, image);
        assert_eq!(latest(tmp.path()).unwrap().unwrap(), (id, path));
    }

    #[test]
    fn the_newest_whole_snapshot_wins_and_leftovers_go() {
        let tmp = tempfile::tempdir().unwrap();
        let image = busy_image();
        for end_offset in [3, 12] {
            write(
                tmp.path(),
                SnapshotId {
                    end_offset,
                    epoch: 0,
                },
                &image,
                1,
            )
            .unwrap();
        }
        let part = tmp
            .path()
            .join("00000000000000000020-0000000000.checkpoint.part");
        fs::write(&part, b"torn").unwrap();
        let (id, _) = latest(tmp.path()).unwrap().unwrap();
        assert_eq!(id.end_offset, 12);
        assert!(!part.exists());
    }

    #[test]
    fn a_cut_or_foreign_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let image = busy_image();
        let id = SnapshotId {
            end_offset: 12,
            epoch: 0,
        };
        let path = write(tmp.path(), id, &image, 1).unwrap();
        let bytes = fs::read(&path).unwrap();
        // Cut inside its footer batch.
        fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains(&id.file_name()), "{e}");
        // Whole batches, but no header first.
        let header_len = 12 + i32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
        fs::write(&path, &bytes[header_len..]).unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains("not a whole snapshot"), "{e}");
        assert!(SnapshotId::parse("00000000000000000012-0000000000.checkpoint.part").is_none());
        assert!(SnapshotId::parse("12-0.checkpoint").is_none());
    }
}
