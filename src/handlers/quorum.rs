//! DescribeQuorum (KIP-595; directory ids and nodes from KIP-853 in v2):
//! the state of the metadata quorum, which `kafka-metadata-quorum
//! describe` and the Java admin's `describeMetadataQuorum` read. The quorum
//! is this node alone: its controller leads in the quorum epoch, has every
//! record committed (the high watermark is the metadata log end offset),
//! and no observers fetch from it yet. No nodes are listed: the controller
//! listener is not opened yet. Kafka counterpart:
//! `KafkaRaftClient.handleDescribeQuorumRequest` on the leader.

use kafka_protocol::messages::describe_quorum_response::{PartitionData, ReplicaState, TopicData};
use kafka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse};

use super::{Broker, str_bytes};
use crate::metadata::store::{METADATA_TOPIC, QUORUM_EPOCH};
use crate::protocol::ApiError;

pub fn describe_quorum(
    broker: &Broker,
    version: i16,
    req: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    // v2 has error messages; Kafka sends them empty rather than null.
    let no_message = (version >= 2).then(|| str_bytes(String::new()));
    // Exactly the metadata partition, as Kafka's raft client insists.
    let asks_for_metadata = matches!(req.topics.as_slice(), [t]
        if t.topic_name.0.as_str() == METADATA_TOPIC
            && matches!(t.partitions.as_slice(), [p] if p.partition_index == 0));
    if !asks_for_metadata {
        return DescribeQuorumResponse::default()
            .with_error_code(ApiError::UnknownTopicOrPartition.code())
            .with_error_message(
                (version >= 2).then(|| str_bytes(ApiError::UnknownTopicOrPartition.message())),
            );
    }
    let me = broker.config.node_id;
    let log_end_offset = broker.metadata.current().offset + 1;
    let now = crate::now_ms();
    let voter = ReplicaState::default()
        .with_replica_id(BrokerId(me))
        .with_replica_directory_id(broker.log_dir_ids.first().copied().unwrap_or_default())
        .with_log_end_offset(log_end_offset)
        .with_last_fetch_timestamp(now)
        .with_last_caught_up_timestamp(now);
    let partition = PartitionData::default()
        .with_partition_index(0)
        .with_error_message(no_message.clone())
        .with_leader_id(BrokerId(me))
        .with_leader_epoch(QUORUM_EPOCH)
        .with_high_watermark(log_end_offset)
        .with_current_voters(vec![voter])
        .with_observers(vec![]);
    DescribeQuorumResponse::default()
        .with_error_message(no_message)
        .with_topics(vec![
            TopicData::default()
                .with_topic_name(str_bytes(METADATA_TOPIC.to_string()).into())
                .with_partitions(vec![partition]),
        ])
        // The voters' controller endpoints: none yet, since the controller
        // listener is not opened (the quorum runs in this process).
        .with_nodes(vec![])
}
