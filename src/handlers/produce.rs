//! Produce: validate acks, append each partition's batch through its
//! partition (sequence checks for idempotent producers), answer with the
//! assigned offsets or each partition's own error.

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::str_bytes;
use crate::broker::Broker;
use crate::protocol::ApiError;

pub async fn produce(
    broker: &Broker,
    _version: i16,
    req: ProduceRequest,
) -> Option<ProduceResponse> {
    let acks = req.acks;
    let acks_valid = matches!(acks, -1..=1);
    let now = crate::now_ms();
    let mut responses = Vec::with_capacity(req.topic_data.len());
    for topic in req.topic_data {
        let name = topic.name.0.as_str();
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for pd in topic.partition_data {
            let result = if !acks_valid {
                Err(ApiError::InvalidRequiredAcks)
            } else if super::metadata::is_internal(name) {
                // Only the coordinators write their own topics; a client's
                // record could make the group state unreadable.
                Err(ApiError::InvalidTopic(format!(
                    "cannot append to internal topic {name}"
                )))
            } else {
                match broker.replicas.partition(name, pd.index) {
                    Some(partition) => match pd.records {
                        Some(records) => partition.append(records, now),
                        None => Err(ApiError::CorruptMessage(
                            "produce request without records".into(),
                        )),
                    },
                    // In the image but not hosted: its log failed to open.
                    None if broker
                        .metadata
                        .current()
                        .topic(name)
                        .is_some_and(|t| t.partitions.contains_key(&pd.index)) =>
                    {
                        Err(ApiError::KafkaStorage(
                            "partition is not available on this broker".into(),
                        ))
                    }
                    None => Err(ApiError::UnknownTopicOrPartition),
                }
            };
            partitions.push(match result {
                Ok(r) => PartitionProduceResponse::default()
                    .with_index(pd.index)
                    .with_base_offset(r.base_offset)
                    .with_log_append_time_ms(r.log_append_time_ms)
                    .with_log_start_offset(r.log_start_offset),
                Err(e) => {
                    tracing::debug!(topic = %name, partition = pd.index, error = %e, "produce refused");
                    PartitionProduceResponse::default()
                        .with_index(pd.index)
                        .with_error_code(e.code())
                        .with_error_message(Some(str_bytes(e.message())))
                        .with_base_offset(-1)
                }
            });
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partitions),
        );
    }
    if acks == 0 {
        return None;
    }
    Some(ProduceResponse::default().with_responses(responses))
}
