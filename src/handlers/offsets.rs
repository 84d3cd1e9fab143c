//! ListOffsets, OffsetForLeaderEpoch and DeleteRecords: offset look-ups and
//! the log start offset, per partition.

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{
    DeleteRecordsRequest, DeleteRecordsResponse, ListOffsetsRequest, ListOffsetsResponse,
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
};

use super::Broker;
use crate::common::internal_topics::is_internal;
use crate::partition::Partition;
use crate::protocol::ApiError;

/// Special timestamps of ListOffsets.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// What a look-up answers: (timestamp, offset, leader epoch).
type OffsetAnswer = (i64, i64, i32);

pub fn list_offsets(broker: &Broker, version: i16, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let image = broker.metadata.current();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let result = broker
                        .replicas
                        .leader(&image, t.name.0.as_str(), p.partition_index)
                        .map_err(ApiError::from)
                        .and_then(|part| {
                            part.check_leader_epoch(p.current_leader_epoch)?;
                            look_up(&part, version, p.timestamp)
                        });
                    let resp = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    match result {
                        // leader_epoch exists from v4 on and may not be set before.
                        Ok((ts, offset, epoch)) => resp
                            .with_timestamp(ts)
                            .with_offset(offset)
                            .with_leader_epoch(if version >= 4 { epoch } else { -1 }),
                        Err(e) => resp
                            .with_error_code(e.code())
                            .with_offset(-1)
                            .with_timestamp(-1),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// The first ListOffsets version that knows each special timestamp
/// (KIP-734 MAX_TIMESTAMP, KIP-1005 EARLIEST_LOCAL and LATEST_TIERED);
/// Kafka answers UNSUPPORTED_VERSION for one asked in an older version.
fn special_timestamp_version(timestamp: i64) -> i16 {
    match timestamp {
        MAX_TIMESTAMP => 7,
        EARLIEST_LOCAL => 8,
        LATEST_TIERED => 9,
        _ => 0,
    }
}

fn look_up(part: &Partition, version: i16, timestamp: i64) -> Result<OffsetAnswer, ApiError> {
    if version < special_timestamp_version(timestamp) {
        return Err(ApiError::UnsupportedVersion(format!(
            "ListOffsets v{version} does not support the timestamp {timestamp}"
        )));
    }
    let epoch = part.leader_epoch();
    let hw = part.high_watermark();
    Ok(match timestamp {
        LATEST => (-1, hw, epoch),
        EARLIEST | EARLIEST_LOCAL => (-1, part.log_start_offset(), epoch),
        LATEST_TIERED => (-1, -1, -1),
        MAX_TIMESTAMP => match part.log.max_timestamp()? {
            Some(t) if t.offset < hw => (t.timestamp, t.offset, t.leader_epoch),
            _ => (-1, -1, -1),
        },
        ts if ts < 0 => {
            return Err(ApiError::InvalidRequest(format!(
                "unknown special timestamp {ts}"
            )));
        }
        ts => match part.log.offset_for_timestamp(ts)? {
            Some(t) if t.offset < hw => (t.timestamp, t.offset, t.leader_epoch),
            _ => (-1, -1, -1),
        },
    })
}

pub fn offset_for_leader_epoch(
    broker: &Broker,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let image = broker.metadata.current();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let resp = EpochEndOffset::default().with_partition(p.partition);
                    match broker
                        .replicas
                        .leader(&image, t.topic.0.as_str(), p.partition)
                    {
                        Err(e) => resp.with_error_code(ApiError::from(e).code()),
                        Ok(part) => match part.check_leader_epoch(p.current_leader_epoch) {
                            Err(e) => resp.with_error_code(ApiError::from(e).code()),
                            // From the log's leader-epoch cache: the current
                            // epoch ends at the log end offset, an older one
                            // where the next began, an unknown newer one is
                            // UNDEFINED (Kafka's `endOffsetFor`).
                            Ok(()) => {
                                let (epoch, end) = part.end_offset_for_epoch(p.leader_epoch);
                                resp.with_leader_epoch(epoch).with_end_offset(end)
                            }
                        },
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}

pub fn delete_records(broker: &Broker, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let image = broker.metadata.current();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let name = t.name.0.as_str();
                    let result = broker
                        .replicas
                        .leader(&image, name, p.partition_index)
                        .map_err(ApiError::from)
                        .and_then(|part| {
                            // Kafka's ReplicaManager.deleteRecordsOnLocalLog
                            // refuses internal topics before any policy.
                            if is_internal(name) {
                                return Err(ApiError::InvalidTopic(format!(
                                    "cannot delete records of internal topic {name}"
                                )));
                            }
                            part.delete_records(p.offset).map_err(ApiError::from)
                        });
                    let resp = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index);
                    match result {
                        Ok(low) => resp.with_low_watermark(low),
                        Err(e) => resp.with_error_code(e.code()).with_low_watermark(-1),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
