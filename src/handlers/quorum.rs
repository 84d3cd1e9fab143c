//! DescribeQuorum (KIP-595; directory ids and nodes from KIP-853 in v2):
//! the state of the metadata quorum, which `kafka-metadata-quorum
//! describe` and the Java admin's `describeMetadataQuorum` read. The quorum
//! is this node alone: its controller leads in the quorum epoch, has every
//! record committed (the high watermark is the metadata log end offset),
//! and no observers fetch from it yet. v2 lists the voter's controller
//! endpoints (KIP-853's `Nodes`). Kafka counterpart:
//! `KafkaRaftClient.handleDescribeQuorumRequest` on the leader.

use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse};

use super::{Broker, str_bytes};
use crate::config::{BrokerConfig, Listener as ConfigListener};
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
        .with_nodes(voter_nodes(broker))
}

/// The voter with its controller endpoints; none for a node without a
/// controller listener (it has no endpoint a client could use).
fn voter_nodes(broker: &Broker) -> Vec<Node> {
    let listeners: Vec<Listener> = controller_endpoints(&broker.config)
        .into_iter()
        .map(|l| {
            Listener::default()
                .with_name(str_bytes(l.name))
                .with_host(str_bytes(l.host))
                .with_port(l.port)
        })
        .collect();
    if listeners.is_empty() {
        return vec![];
    }
    vec![
        Node::default()
            .with_node_id(BrokerId(broker.config.node_id))
            .with_listeners(listeners),
    ]
}

/// This node's controller endpoints, as other nodes reach the quorum: for
/// a static quorum the address `controller.quorum.voters` gives it, on the
/// first controller listener (Kafka's `VoterSet.fromInetSocketAddresses`);
/// else each controller listener's own address.
pub fn controller_endpoints(config: &BrokerConfig) -> Vec<ConfigListener> {
    let me = format!("{}@", config.node_id);
    let voter = config
        .controller_quorum_voters
        .split(',')
        .map(str::trim)
        .find_map(|entry| entry.strip_prefix(&me))
        .and_then(|address| address.rsplit_once(':'))
        .and_then(|(host, port)| Some((host.to_string(), port.parse::<u16>().ok()?)));
    match (voter, config.controller_listener_names.first()) {
        (Some((host, port)), Some(name)) => vec![ConfigListener {
            name: name.clone(),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
        }],
        _ => config
            .controller_listener_names
            .iter()
            .filter_map(|name| config.advertised_for(name))
            .collect(),
    }
}
