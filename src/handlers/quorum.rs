//! The metadata quorum on the wire, as its leader (this node) serves it:
//! DescribeQuorum (KIP-595; directory ids and nodes from KIP-853 in v2),
//! which `kafka-metadata-quorum describe` and the Java admin's
//! `describeMetadataQuorum` read, and Fetch of the metadata log on a
//! controller listener, by which brokers of other processes observe the
//! quorum. The quorum is this node alone: its controller leads in the
//! quorum epoch and has every record committed (the high watermark is the
//! metadata log end offset); the brokers fetching are its observers. v2
//! lists the voter's controller endpoints (KIP-853's `Nodes`). Kafka
//! counterparts: `KafkaRaftClient.handleDescribeQuorumRequest` and
//! `handleFetchRequest` on the leader.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::fetch_response::{
    EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint,
    PartitionData as FetchPartitionData, SnapshotId as FetchSnapshotId,
};
use kafka_protocol::messages::fetch_snapshot_response::{
    LeaderIdAndEpoch as SnapshotLeader, NodeEndpoint as SnapshotNodeEndpoint,
    PartitionSnapshot as SnapshotPartition, SnapshotId as SnapshotIdOnWire,
    TopicSnapshot as SnapshotTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, FetchRequest, FetchResponse,
    FetchSnapshotRequest, FetchSnapshotResponse, TopicName,
};

use super::{Broker, RequestContext, str_bytes};
use crate::common::blocking;
use crate::config::{BrokerConfig, Listener as ConfigListener};
use crate::metadata::quorum::{FetchPosition, QuorumRead};
use crate::metadata::snapshot::SnapshotId;
use crate::metadata::store::{METADATA_TOPIC, METADATA_TOPIC_ID, QUORUM_EPOCH};
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
    // A broker-only node forwards DescribeQuorum; here only when that
    // failed: it knows no quorum state of its own to describe.
    if broker.controller.remote_controller().is_some() {
        let e = ApiError::RequestTimedOut(
            "the request could not be forwarded to the controller".into(),
        );
        return DescribeQuorumResponse::default()
            .with_error_code(e.code())
            .with_error_message((version >= 2).then(|| str_bytes(e.message())));
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
        .with_observers(
            broker
                .quorum_log
                .observers(now)
                .into_iter()
                .map(|o| {
                    ReplicaState::default()
                        .with_replica_id(BrokerId(o.replica_id))
                        .with_replica_directory_id(o.directory_id)
                        .with_log_end_offset(o.log_end_offset)
                        .with_last_fetch_timestamp(o.last_fetch_ms)
                        .with_last_caught_up_timestamp(o.last_caught_up_ms)
                })
                .collect(),
        );
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

/// This node's controller endpoint on the listener a request came in on:
/// where a fetcher or tool on that listener reaches the quorum's leader.
pub fn leader_endpoint(broker: &Broker, ctx: &RequestContext) -> Option<ConfigListener> {
    controller_endpoints(&broker.config)
        .into_iter()
        .find(|l| l.name.eq_ignore_ascii_case(&ctx.listener_name))
}

/// Fetch of `__cluster_metadata-0` on a controller listener: a broker of
/// another process (a KRaft observer) replicating the metadata log, as
/// Kafka's `KafkaRaftClient.handleFetchRequest` serves it. The position is
/// judged by [`crate::metadata::quorum::validate_fetch_position`]; a fetch
/// with nothing new waits up to `max_wait_ms` for the next commit.
pub async fn fetch(broker: &Broker, ctx: &RequestContext, req: FetchRequest) -> FetchResponse {
    let refuse = |e: ApiError| FetchResponse::default().with_error_code(e.code());
    if let Some(id) = &req.cluster_id
        && id.as_str() != broker.cluster_id
    {
        return refuse(ApiError::InconsistentClusterId(String::new()));
    }
    // Exactly the metadata partition, keyed by its fixed id (or its name
    // before v13), as Kafka's raft client insists.
    let [topic] = req.topics.as_slice() else {
        return refuse(ApiError::InvalidRequest(String::new()));
    };
    let [partition] = topic.partitions.as_slice() else {
        return refuse(ApiError::InvalidRequest(String::new()));
    };
    let is_metadata = if ctx.api_version >= 13 {
        topic.topic_id == METADATA_TOPIC_ID
    } else {
        topic.topic.0.as_str() == METADATA_TOPIC
    };
    if !is_metadata || partition.partition != 0 {
        return refuse(ApiError::InvalidRequest(String::new()));
    }
    let reply = |error: i16, read: Option<QuorumRead>| {
        partition_response(
            broker,
            ctx,
            error,
            read,
            topic.topic.clone(),
            topic.topic_id,
        )
    };
    if req.max_wait_ms < 0
        || partition.fetch_offset < 0
        || partition.last_fetched_epoch < 0
        || partition.last_fetched_epoch > partition.current_leader_epoch
    {
        return reply(ApiError::InvalidRequest(String::new()).code(), None);
    }
    // Kafka's `validateLeaderOnlyRequest`: the fetcher's idea of the epoch.
    if partition.current_leader_epoch < QUORUM_EPOCH {
        return reply(ApiError::FencedLeaderEpoch.code(), None);
    }
    if partition.current_leader_epoch > QUORUM_EPOCH {
        return reply(ApiError::UnknownLeaderEpoch.code(), None);
    }
    let replica_id = if ctx.api_version >= 15 {
        req.replica_state.replica_id.0
    } else {
        req.replica_id.0
    };
    let max_bytes = partition.partition_max_bytes.clamp(0, req.max_bytes.max(0)) as usize;
    let read = || {
        broker.quorum_log.read(
            replica_id,
            partition.replica_directory_id,
            partition.fetch_offset,
            partition.last_fetched_epoch,
            max_bytes,
            crate::now_ms(),
        )
    };
    let mut result = blocking(read);
    // Nothing new for a fetcher at the end: wait for the next commit.
    if let Ok(r) = &result
        && r.position == FetchPosition::Valid
        && r.records.is_empty()
        && req.max_wait_ms > 0
    {
        let wait = Duration::from_millis(req.max_wait_ms as u64);
        broker
            .quorum_log
            .wait_past(partition.fetch_offset, wait)
            .await;
        result = blocking(read);
    }
    match result {
        Ok(r) => reply(0, Some(r)),
        Err(e) => {
            tracing::warn!(error = %e, "reading the metadata log for a fetch failed");
            reply(ApiError::KafkaStorage(e.to_string()).code(), None)
        }
    }
}

fn partition_response(
    broker: &Broker,
    ctx: &RequestContext,
    error: i16,
    read: Option<QuorumRead>,
    topic: TopicName,
    topic_id: uuid::Uuid,
) -> FetchResponse {
    let me = broker.config.node_id;
    let mut p = FetchPartitionData::default()
        .with_partition_index(0)
        .with_error_code(error)
        .with_current_leader(
            LeaderIdAndEpoch::default()
                .with_leader_id(BrokerId(me))
                .with_leader_epoch(QUORUM_EPOCH),
        )
        .with_high_watermark(-1)
        .with_records(Some(Bytes::new()));
    if let Some(r) = read {
        p = p
            .with_high_watermark(r.high_watermark)
            .with_log_start_offset(r.log_start_offset)
            .with_records(Some(r.records));
        match r.position {
            FetchPosition::Valid => {}
            FetchPosition::Diverging { epoch, end_offset } => {
                p = p.with_diverging_epoch(
                    EpochEndOffset::default()
                        .with_epoch(epoch)
                        .with_end_offset(end_offset),
                );
            }
            FetchPosition::Snapshot(id) => {
                p = p.with_snapshot_id(
                    FetchSnapshotId::default()
                        .with_end_offset(id.end_offset)
                        .with_epoch(id.epoch),
                );
            }
        }
    }
    let mut response = FetchResponse::default().with_responses(vec![
        FetchableTopicResponse::default()
            .with_topic(topic)
            .with_topic_id(topic_id)
            .with_partitions(vec![p]),
    ]);
    // v17: where the leader is, on the listener the fetcher uses.
    if ctx.api_version >= 17 {
        response.node_endpoints = leader_endpoint(broker, ctx)
            .into_iter()
            .map(|l| {
                NodeEndpoint::default()
                    .with_node_id(BrokerId(me))
                    .with_host(str_bytes(l.host))
                    .with_port(i32::from(l.port))
            })
            .collect();
    }
    response
}

/// FetchSnapshot (KIP-630) on a controller listener: a broker behind the
/// metadata log start loads the snapshot it was pointed to, in chunks, as
/// Kafka's `KafkaRaftClient.handleFetchSnapshotRequest` serves it.
pub async fn fetch_snapshot(
    broker: &Broker,
    ctx: &RequestContext,
    req: FetchSnapshotRequest,
) -> FetchSnapshotResponse {
    use kafka_protocol::ResponseError;
    let top = |code: i16| FetchSnapshotResponse::default().with_error_code(code);
    if let Some(id) = &req.cluster_id
        && id.as_str() != broker.cluster_id
    {
        return top(ApiError::InconsistentClusterId(String::new()).code());
    }
    let [topic] = req.topics.as_slice() else {
        return top(ApiError::InvalidRequest(String::new()).code());
    };
    let [partition] = topic.partitions.as_slice() else {
        return top(ApiError::InvalidRequest(String::new()).code());
    };
    let me = broker.config.node_id;
    let answer = |p: SnapshotPartition| {
        let mut response = FetchSnapshotResponse::default().with_topics(vec![
            SnapshotTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(vec![
                    p.with_current_leader(
                        SnapshotLeader::default()
                            .with_leader_id(BrokerId(me))
                            .with_leader_epoch(QUORUM_EPOCH),
                    ),
                ]),
        ]);
        if ctx.api_version >= 1 {
            response.node_endpoints = leader_endpoint(broker, ctx)
                .into_iter()
                .map(|l| {
                    SnapshotNodeEndpoint::default()
                        .with_node_id(BrokerId(me))
                        .with_host(str_bytes(l.host))
                        .with_port(l.port)
                })
                .collect();
        }
        response
    };
    let error = |code: i16| {
        answer(
            SnapshotPartition::default()
                .with_index(partition.partition)
                .with_error_code(code),
        )
    };
    if topic.name.0.as_str() != METADATA_TOPIC || partition.partition != 0 {
        return error(ApiError::UnknownTopicOrPartition.code());
    }
    if partition.current_leader_epoch < QUORUM_EPOCH {
        return error(ApiError::FencedLeaderEpoch.code());
    }
    if partition.current_leader_epoch > QUORUM_EPOCH {
        return error(ApiError::UnknownLeaderEpoch.code());
    }
    let id = SnapshotId {
        end_offset: partition.snapshot_id.end_offset,
        epoch: partition.snapshot_id.epoch,
    };
    if partition.position < 0 {
        return error(ResponseError::PositionOutOfRange.code());
    }
    let max_bytes = req.max_bytes.max(1) as usize;
    let read = blocking(|| {
        broker
            .quorum_log
            .read_snapshot(id, partition.position as u64, max_bytes)
    });
    match read {
        // Kafka never replicates the bootstrap checkpoint (0-0).
        Ok(None) => error(ResponseError::SnapshotNotFound.code()),
        Ok(Some(_)) if id.end_offset == 0 && id.epoch == 0 => {
            error(ResponseError::SnapshotNotFound.code())
        }
        Ok(Some((size, _))) if partition.position as u64 >= size => {
            error(ResponseError::PositionOutOfRange.code())
        }
        Ok(Some((size, chunk))) => answer(
            SnapshotPartition::default()
                .with_index(0)
                .with_snapshot_id(
                    SnapshotIdOnWire::default()
                        .with_end_offset(id.end_offset)
                        .with_epoch(id.epoch),
                )
                .with_size(size as i64)
                .with_position(partition.position)
                .with_unaligned_records(chunk),
        ),
        Err(e) => {
            tracing::warn!(error = %e, snapshot = %id.file_name(), "reading a metadata snapshot for a fetch failed");
            error(ApiError::KafkaStorage(e.to_string()).code())
        }
    }
}
