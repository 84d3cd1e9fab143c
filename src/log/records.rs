//! Whole records of the internal topics (the metadata log and
//! `__consumer_offsets`): building a batch from keys and values, and reading
//! a log back record by record. Client data never passes through here: the
//! produce and fetch paths keep batches as opaque bytes.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::batch::BatchIter;
use super::{LogError, PartitionLog};

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("batch at offset {offset} is unreadable: {reason}")]
    Decode { offset: i64, reason: String },
}

/// Exactly one uncompressed v2 batch of `(key, value)` records, all stamped `now_ms`.
pub fn encode_batch(records: &[(Option<Bytes>, Option<Bytes>)], now_ms: i64) -> Bytes {
    encode_batch_at(records, 0, false, now_ms)
}

/// One uncompressed v2 batch whose first record has offset `base_offset`;
/// a control batch (KRaft's snapshot header and footer, transaction
/// markers) when `control`.
pub fn encode_batch_at(
    records: &[(Option<Bytes>, Option<Bytes>)],
    base_offset: i64,
    control: bool,
    now_ms: i64,
) -> Bytes {
    let encoded: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: base_offset + i as i64,
            // The encoder starts a new batch wherever `offset - sequence`
            // changes; counting up from -1 keeps one batch whose base
            // sequence is -1 (no producer).
            sequence: i as i32 - 1,
            timestamp: now_ms,
            key: key.clone(),
            value: value.clone(),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        encoded.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("an uncompressed v2 batch always encodes");
    buf.freeze()
}

/// Calls `apply(offset, key, value)` for every record from the log start to
/// the log end, in offset order. An `Err` from `apply` stops the replay and
/// is reported against the batch it came from. Control batches (KRaft's
/// leader changes and snapshot markers, transaction markers) are not
/// records of the log's own schema and are passed over.
pub fn replay_log(
    log: &PartitionLog,
    apply: impl FnMut(i64, Option<&[u8]>, Option<&[u8]>) -> Result<(), String>,
) -> Result<(), ReplayError> {
    replay_log_from(log, log.log_start_offset(), apply)
}

/// As [`replay_log`], from offset `from` (at or above the log start).
pub fn replay_log_from(
    log: &PartitionLog,
    from: i64,
    mut apply: impl FnMut(i64, Option<&[u8]>, Option<&[u8]>) -> Result<(), String>,
) -> Result<(), ReplayError> {
    let mut offset = from.max(log.log_start_offset());
    while offset < log.log_end_offset() {
        let read = log.read(offset, 1 << 20, i64::MAX)?;
        if read.records.is_empty() {
            break;
        }
        let next = replay_batches(&read.records, offset, |control, offset, key, value| {
            if control {
                return Ok(());
            }
            apply(offset, key, value)
        })?;
        if next <= offset {
            break;
        }
        offset = next;
    }
    Ok(())
}

/// Calls `apply(is_control, offset, key, value)` for every record at or
/// above `from` of the whole batches in `bytes` (a partial batch at the end
/// is left), control batches included. Returns the offset after the last
/// batch read.
pub fn replay_batches(
    bytes: &Bytes,
    from: i64,
    mut apply: impl FnMut(bool, i64, Option<&[u8]>, Option<&[u8]>) -> Result<(), String>,
) -> Result<i64, ReplayError> {
    let mut offset = from;
    for item in BatchIter::new(bytes) {
        let (header, batch) = item?;
        let decode_error = |reason: String| ReplayError::Decode {
            offset: header.base_offset,
            reason,
        };
        let mut buf = bytes.slice_ref(batch);
        let set = RecordBatchDecoder::decode(&mut buf).map_err(|e| decode_error(e.to_string()))?;
        for record in set.records.iter().filter(|r| r.offset >= from) {
            apply(
                header.is_control(),
                record.offset,
                record.key.as_deref(),
                record.value.as_deref(),
            )
            .map_err(decode_error)?;
        }
        offset = offset.max(header.next_offset());
    }
    Ok(offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::LogConfig;

    #[test]
    fn many_records_make_one_batch_that_replays_in_order() {
        let records: Vec<(Option<Bytes>, Option<Bytes>)> = (0..5u8)
            .map(|i| {
                (
                    Some(Bytes::from(vec![i])),
                    (i != 3).then(|| Bytes::from(vec![i; 3])),
                )
            })
            .collect();
        let batch = encode_batch(&records, 1_000);
        let batches: Vec<_> = BatchIter::new(&batch).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            batches.len(),
            1,
            "one batch, so a decision is appended atomically"
        );
        assert_eq!(batches[0].0.record_count, 5);
        assert_eq!(batches[0].0.base_sequence, -1);

        let tmp = tempfile::tempdir().unwrap();
        let log =
            PartitionLog::open(&tmp.path().join("t-0"), LogConfig::default(), true, 0).unwrap();
        log.append(batch.clone(), 0, 1_000).unwrap();
        log.append(batch, 0, 1_000).unwrap();
        let mut seen = Vec::new();
        replay_log(&log, |offset, key, value| {
            seen.push((offset, key.map(<[u8]>::to_vec), value.map(<[u8]>::to_vec)));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 10);
        assert_eq!(seen[8].0, 8);
        assert_eq!(seen[8].1, Some(vec![3]));
        assert_eq!(seen[8].2, None, "a tombstone replays as a null value");
    }
}
