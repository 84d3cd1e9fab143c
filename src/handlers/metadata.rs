//! Metadata, DescribeCluster and DescribeTopicPartitions: read from the
//! current metadata image. Metadata may auto-create topics
//! (`auto.create.topics.enable`) through the controller.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::describe_topic_partitions_response::{
    DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, DescribeTopicPartitionsRequest,
    DescribeTopicPartitionsResponse, MetadataRequest, MetadataResponse, TopicName,
};
use uuid::Uuid;

use super::Broker;
use super::quorum::leader_endpoint;
use super::{RequestContext, str_bytes};
use crate::common::internal_topics::{OFFSETS_TOPIC, is_internal};
use crate::config::Listener;
use crate::controller::channel::CreateTopics;
use crate::controller::topics::{NewTopic, validate_topic_name};
use crate::metadata::{MetadataImage, TopicImage};
use crate::protocol::ApiError;
use crate::protocol::versions::ListenerKind;

/// ACL operation codes (Kafka's `AclOperation`), as bits of the
/// authorized-operations fields.
const READ: i32 = 3;
const WRITE: i32 = 4;
const CREATE: i32 = 5;
const DELETE: i32 = 6;
const ALTER: i32 = 7;
const DESCRIBE: i32 = 8;
const CLUSTER_ACTION: i32 = 9;
const DESCRIBE_CONFIGS: i32 = 10;
const ALTER_CONFIGS: i32 = 11;
const IDEMPOTENT_WRITE: i32 = 12;

fn bits(ops: &[i32]) -> i32 {
    ops.iter().fold(0, |acc, op| acc | (1 << op))
}

/// With no authorizer every operation on a topic is allowed, and Kafka
/// reports exactly that set (clients such as kafka-python decode the bits).
pub fn topic_authorized_operations() -> i32 {
    bits(&[
        READ,
        WRITE,
        CREATE,
        DELETE,
        ALTER,
        DESCRIBE,
        DESCRIBE_CONFIGS,
        ALTER_CONFIGS,
    ])
}

/// A group's operations with no authorizer: READ, DELETE, DESCRIBE.
pub fn group_authorized_operations() -> i32 {
    bits(&[READ, DELETE, DESCRIBE])
}

pub fn cluster_authorized_operations() -> i32 {
    bits(&[
        CREATE,
        ALTER,
        DESCRIBE,
        CLUSTER_ACTION,
        DESCRIBE_CONFIGS,
        ALTER_CONFIGS,
        IDEMPOTENT_WRITE,
    ])
}

/// This node's endpoint as clients on `listener_name` must reach it.
fn endpoint(broker: &Broker, listener_name: &str) -> Option<Listener> {
    broker.config.advertised_for(listener_name)
}

/// A broker as Metadata and DescribeCluster list it.
pub struct BrokerNode {
    pub id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
}

/// Broker `id` as a client on `listener_name` reaches it, if it is alive:
/// registered, unfenced, with an endpoint of that listener (Kafka's
/// `MetadataCache.getAliveBrokerNode`); this node from its config when its
/// own registration does not say.
pub fn alive_broker(
    broker: &Broker,
    image: &MetadataImage,
    id: i32,
    listener_name: &str,
) -> Option<BrokerNode> {
    let registered = image.brokers.get(&id).filter(|b| !b.fenced).and_then(|b| {
        let e = b
            .endpoints
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(listener_name))?;
        Some(BrokerNode {
            id,
            host: e.host.clone(),
            port: e.port,
            rack: b.rack.clone(),
        })
    });
    if registered.is_some() || id != broker.config.node_id {
        return registered;
    }
    endpoint(broker, listener_name).map(|l| BrokerNode {
        id,
        host: l.host,
        port: l.port,
        rack: broker.config.broker_rack.clone(),
    })
}

/// The brokers a client on `listener_name` can use: every registered,
/// unfenced broker with an endpoint of that listener (Kafka's
/// `MetadataCache.getAliveBrokerNodes`). This node is listed from its
/// config when its registration is not in the image or has no such
/// listener (a client on a listener that is not advertised).
fn reachable_brokers(
    broker: &Broker,
    image: &MetadataImage,
    listener_name: &str,
) -> Vec<BrokerNode> {
    let mut nodes: Vec<BrokerNode> = image
        .unfenced_brokers()
        .filter_map(|b| {
            let e = b
                .endpoints
                .iter()
                .find(|e| e.name.eq_ignore_ascii_case(listener_name))?;
            Some(BrokerNode {
                id: b.broker_id,
                host: e.host.clone(),
                port: e.port,
                rack: b.rack.clone(),
            })
        })
        .collect();
    let me = broker.config.node_id;
    if !nodes.iter().any(|n| n.id == me)
        && let Some(l) = endpoint(broker, listener_name)
    {
        nodes.push(BrokerNode {
            id: me,
            host: l.host,
            port: l.port,
            rack: broker.config.broker_rack.clone(),
        });
        nodes.sort_by_key(|n| n.id);
    }
    nodes
}

pub async fn metadata(
    broker: &Broker,
    ctx: &RequestContext,
    req: MetadataRequest,
) -> MetadataResponse {
    let mut image = broker.metadata.current();
    // v0 sends an empty list to mean every topic; v1+ sends null.
    let requested: Option<Vec<(Option<String>, Uuid)>> = match req.topics {
        None => None,
        Some(t) if t.is_empty() && ctx.api_version == 0 => None,
        Some(t) => Some(
            t.into_iter()
                .map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id))
                .collect(),
        ),
    };
    if let Some(requested) = &requested {
        let auto_create = req.allow_auto_topic_creation && broker.config.auto_create_topics_enable;
        let missing: Vec<String> = requested
            .iter()
            .filter_map(|(n, _)| n.clone())
            .filter(|n| image.topic(n).is_none() && validate_topic_name(n).is_ok())
            .collect();
        if auto_create && !missing.is_empty() {
            let (internal, ordinary): (Vec<String>, Vec<String>) =
                missing.into_iter().partition(|n| is_internal(n));
            // An internal topic is created by its coordinator with its own
            // settings, never with the broker defaults, as in Kafka's
            // AutoTopicCreationManager. Only the group coordinator exists
            // here; the other internal names stay unknown.
            if internal.iter().any(|n| n == OFFSETS_TOPIC)
                && let Err(e) = broker.groups.ensure_offsets_topic().await
            {
                tracing::debug!(error = %e, "auto-create of {OFFSETS_TOPIC} failed");
            }
            if !ordinary.is_empty() {
                auto_create_topics(broker, ordinary).await;
            }
            image = broker.metadata.current();
        }
    }
    let me = broker.config.node_id;
    let listener = ctx.listener_name.as_str();
    // Kafka's `getAliveEndpoint`: a leader is reachable when it is
    // registered with an endpoint of the request's listener.
    let reachable = |id: i32| {
        id == me
            || image.brokers.get(&id).is_some_and(|b| {
                b.endpoints
                    .iter()
                    .any(|e| e.name.eq_ignore_ascii_case(listener))
            })
    };
    let offline = |id: i32| id != me && image.brokers.get(&id).is_none_or(|b| b.fenced);
    let topic_metadata = |t: &TopicImage| topic_metadata(t, &reachable, &offline);
    let mut topics: Vec<MetadataResponseTopic> = match requested {
        None => image.topics.values().map(|t| topic_metadata(t)).collect(),
        Some(requested) => requested
            .into_iter()
            .map(|(name, id)| match name {
                Some(name) => match image.topic(&name) {
                    Some(t) => topic_metadata(t),
                    None => {
                        let err = validate_topic_name(&name)
                            .err()
                            .map_or(ApiError::UnknownTopicOrPartition, ApiError::from);
                        // Kafka marks an internal name internal even when
                        // the topic does not exist.
                        MetadataResponseTopic::default()
                            .with_is_internal(is_internal(&name))
                            .with_name(Some(TopicName(str_bytes(name))))
                            .with_error_code(err.code())
                    }
                },
                None => match image.topic_by_id(&id) {
                    Some(t) => topic_metadata(t),
                    None => MetadataResponseTopic::default()
                        .with_topic_id(id)
                        .with_error_code(ApiError::UnknownTopicId.code()),
                },
            })
            .collect(),
    };
    let brokers = reachable_brokers(broker, &image, &ctx.listener_name)
        .into_iter()
        .map(|n| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(n.id))
                .with_host(str_bytes(n.host))
                .with_port(i32::from(n.port))
                .with_rack(n.rack.map(str_bytes))
        })
        .collect();
    // Authorized operations: topics v8+, cluster v8..=10, only when asked.
    // Kafka sets them on every topic of the answer, unknown ones included.
    if ctx.api_version >= 8 && req.include_topic_authorized_operations {
        for t in topics.iter_mut() {
            t.topic_authorized_operations = topic_authorized_operations();
        }
    }
    let mut response = MetadataResponse::default();
    if (8..=10).contains(&ctx.api_version) && req.include_cluster_authorized_operations {
        response.cluster_authorized_operations = cluster_authorized_operations();
    }
    response
        .with_brokers(brokers)
        .with_cluster_id(Some(str_bytes(broker.cluster_id.clone())))
        .with_controller_id(BrokerId(broker.config.node_id))
        .with_topics(topics)
}

/// Creates topics named in a Metadata request with the broker defaults.
/// Failures (e.g. a concurrent create) are logged; the caller re-reads the image.
/// Never called with an internal name.
pub async fn auto_create_topics(broker: &Broker, names: Vec<String>) {
    debug_assert!(!names.iter().any(|n| is_internal(n)));
    let new: Vec<NewTopic> = names
        .into_iter()
        .map(|name| NewTopic {
            name,
            num_partitions: -1,
            replication_factor: -1,
            assignments: vec![],
            configs: vec![],
        })
        .collect();
    let result = broker
        .controller
        .create_topics(CreateTopics {
            topics: new.clone(),
            validate_only: false,
            internal: false,
        })
        .await;
    match result {
        Ok(results) => {
            for (t, r) in new.iter().zip(results) {
                match r {
                    Ok(created) => {
                        tracing::info!(topic = %t.name, partitions = created.num_partitions, "auto-created topic")
                    }
                    Err(e) => {
                        tracing::debug!(topic = %t.name, error = %e, "auto-create did not create topic")
                    }
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "auto-create failed"),
    }
}

/// A topic's partitions as Metadata lists them (Kafka's
/// `KRaftMetadataCache.partitionMetadata`): a partition whose leader is
/// none (-1) or not `reachable` on the listener is LEADER_NOT_AVAILABLE
/// with leader -1 and its epoch; replicas on fenced or unregistered
/// brokers are listed as offline.
fn topic_metadata(
    t: &TopicImage,
    reachable: &dyn Fn(i32) -> bool,
    offline: &dyn Fn(i32) -> bool,
) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(t.name.clone()))))
        .with_topic_id(t.topic_id)
        .with_is_internal(is_internal(&t.name))
        .with_partitions(
            t.partitions
                .iter()
                .map(|(&p, s)| {
                    let ids = |v: &[i32]| v.iter().map(|&b| BrokerId(b)).collect();
                    let offline_replicas: Vec<i32> =
                        s.replicas.iter().copied().filter(|b| offline(*b)).collect();
                    let partition = MetadataResponsePartition::default()
                        .with_partition_index(p)
                        .with_leader_epoch(s.leader_epoch)
                        .with_replica_nodes(ids(&s.replicas))
                        .with_isr_nodes(ids(&s.isr))
                        .with_offline_replicas(ids(&offline_replicas));
                    if s.leader >= 0 && reachable(s.leader) {
                        partition.with_leader_id(BrokerId(s.leader))
                    } else {
                        partition
                            .with_leader_id(BrokerId(-1))
                            .with_error_code(ApiError::LeaderNotAvailable.code())
                    }
                })
                .collect(),
        )
}

/// `EndpointType` of DescribeCluster v1+ (KIP-919).
const ENDPOINT_BROKER: i8 = 1;
const ENDPOINT_CONTROLLER: i8 = 2;

/// DescribeCluster: on a client listener the live brokers, on a controller
/// listener the controllers (KIP-919, what `--bootstrap-controller` tools
/// ask). A request for the other kind of endpoint is refused as Kafka's
/// `AuthHelper.computeDescribeClusterResponse` refuses it.
pub fn describe_cluster(
    broker: &Broker,
    ctx: &RequestContext,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let served = match ctx.listener_kind {
        ListenerKind::Client => ENDPOINT_BROKER,
        ListenerKind::Controller => ENDPOINT_CONTROLLER,
    };
    let kind_name = |t: i8| {
        if t == ENDPOINT_CONTROLLER {
            "CONTROLLER"
        } else {
            "BROKER"
        }
    };
    let refusal = if !matches!(req.endpoint_type, ENDPOINT_BROKER | ENDPOINT_CONTROLLER) {
        Some(ApiError::UnsupportedEndpointType(format!(
            "Unsupported endpoint type {}",
            req.endpoint_type
        )))
    } else if req.endpoint_type != served {
        Some(ApiError::MismatchedEndpointType(format!(
            "The request was sent to an endpoint of type {}, but we wanted an endpoint of type {}",
            kind_name(served),
            kind_name(req.endpoint_type)
        )))
    } else {
        None
    };
    if let Some(e) = refusal {
        // v0 has neither the field nor these codes.
        let code = if ctx.api_version == 0 {
            ApiError::InvalidRequest(String::new()).code()
        } else {
            e.code()
        };
        return DescribeClusterResponse::default()
            .with_error_code(code)
            .with_error_message(Some(str_bytes(e.message())));
    }
    let image = broker.metadata.current();
    let brokers = match ctx.listener_kind {
        ListenerKind::Client => reachable_brokers(broker, &image, &ctx.listener_name)
            .into_iter()
            .map(|n| {
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(n.id))
                    .with_host(str_bytes(n.host))
                    .with_port(i32::from(n.port))
                    .with_rack(n.rack.map(str_bytes))
            })
            .collect(),
        // The quorum is this node: its endpoint on the asked listener.
        ListenerKind::Controller => leader_endpoint(broker, ctx)
            .into_iter()
            .map(|l| {
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(broker.config.node_id))
                    .with_host(str_bytes(l.host))
                    .with_port(i32::from(l.port))
                    .with_rack(broker.config.broker_rack.clone().map(str_bytes))
            })
            .collect(),
    };
    let mut response = DescribeClusterResponse::default().with_endpoint_type(served);
    if req.include_cluster_authorized_operations {
        response.cluster_authorized_operations = cluster_authorized_operations();
    }
    response
        .with_cluster_id(str_bytes(broker.cluster_id.clone()))
        .with_controller_id(BrokerId(broker.config.node_id))
        .with_brokers(brokers)
}

pub fn describe_topic_partitions(
    broker: &Broker,
    req: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let image: std::sync::Arc<MetadataImage> = broker.metadata.current();
    let names: Vec<String> = if req.topics.is_empty() {
        image.topics.keys().cloned().collect()
    } else {
        req.topics.iter().map(|t| t.name.0.to_string()).collect()
    };
    let limit = req.response_partition_limit.max(1) as usize;
    let (start_topic, start_partition) = req
        .cursor
        .as_ref()
        .map(|c| (c.topic_name.0.to_string(), c.partition_index))
        .unwrap_or_default();
    let mut names: Vec<String> = names.into_iter().filter(|n| *n >= start_topic).collect();
    names.sort();
    let mut topics = Vec::new();
    let mut budget = limit;
    let mut next_cursor = None;
    for name in names {
        let Some(t) = image.topic(&name) else {
            topics.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_name(Some(TopicName(str_bytes(name))))
                    .with_error_code(ApiError::UnknownTopicOrPartition.code()),
            );
            continue;
        };
        let first = if name == start_topic {
            start_partition
        } else {
            0
        };
        let mut partitions = Vec::new();
        for (&p, s) in t.partitions.range(first..) {
            if budget == 0 {
                next_cursor = Some(
                    kafka_protocol::messages::describe_topic_partitions_response::Cursor::default()
                        .with_topic_name(TopicName(str_bytes(name.clone())))
                        .with_partition_index(p),
                );
                break;
            }
            budget -= 1;
            partitions.push(
                DescribeTopicPartitionsResponsePartition::default()
                    .with_partition_index(p)
                    .with_leader_id(BrokerId(s.leader))
                    .with_leader_epoch(s.leader_epoch)
                    .with_replica_nodes(s.replicas.iter().map(|&b| BrokerId(b)).collect())
                    .with_isr_nodes(s.isr.iter().map(|&b| BrokerId(b)).collect())
                    .with_eligible_leader_replicas(Some(vec![]))
                    .with_last_known_elr(Some(vec![])),
            );
        }
        topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(TopicName(str_bytes(name))))
                .with_topic_id(t.topic_id)
                .with_is_internal(is_internal(&t.name))
                // Always set: this API has no flag to ask for them.
                .with_topic_authorized_operations(topic_authorized_operations())
                .with_partitions(partitions),
        );
        if next_cursor.is_some() {
            break;
        }
    }
    DescribeTopicPartitionsResponse::default()
        .with_topics(topics)
        .with_next_cursor(next_cursor)
}
