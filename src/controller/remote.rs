//! The controller of another process, as a broker reaches it: the typed
//! requests a broker makes on its own behalf (BrokerRegistration,
//! BrokerHeartbeat, AllocateProducerIds, AlterPartition, the CreateTopics
//! of an internal or auto-created topic) go out as Kafka's RPCs on the
//! controller listener, and a client's admin request goes whole inside an
//! Envelope (KIP-590). One connection, one request at a time, reopened
//! after a failure; the controller is the first of the configured voters (or
//! bootstrap servers) that answers.
//!
//! Kafka counterparts: `NodeToControllerChannelManager` and
//! `ForwardingManager`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use kafka_protocol::messages::alter_partition_request::{BrokerState, PartitionData, TopicData};
use kafka_protocol::messages::alter_partition_response::PartitionData as AlterPartitionAnswer;
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::{
    AllocateProducerIdsRequest, AlterPartitionRequest, BrokerHeartbeatRequest, BrokerId,
    BrokerRegistrationRequest, CreateTopicsRequest, EnvelopeRequest, EnvelopeResponse, TopicName,
    broker_registration_request::{Feature, Listener},
};
use kafka_protocol::protocol::{Request, StrBytes};

use super::alter_partition::{
    AlterPartition, AlterPartitionData, AlterPartitionResult, AlterPartitionTopicResult,
    AlteredPartition,
};
use super::channel::{ControllerRequest, ControllerResponse, CreateTopics};
use super::cluster::{BrokerHeartbeat, BrokerRegistration, HeartbeatReply};
use super::error::ControllerError;
use super::producer_ids::ProducerIdsBlock;
use super::topics::TopicCreated;
use crate::common::ids::{BrokerId as Broker, LeaderEpoch, PartitionEpoch};
use crate::protocol::client::{ClientError, Connection};

/// Kafka's `DescribeConfigsResponse` config source of a topic's own value.
const TOPIC_CONFIG_SOURCE: i8 = 1;

pub struct RemoteController {
    /// `host:port` of each controller, tried in order.
    addresses: Vec<String>,
    client_id: String,
    /// Bounds each connect and each request.
    timeout: Duration,
    connection: tokio::sync::Mutex<Option<Connection>>,
    /// The epoch of this broker's registration, once it has one:
    /// AllocateProducerIds carries it.
    broker_epoch: AtomicI64,
}

impl RemoteController {
    pub fn new(addresses: Vec<String>, node_id: i32, timeout: Duration) -> Self {
        RemoteController {
            addresses,
            client_id: format!("runnel-broker-{node_id}-to-controller"),
            timeout,
            connection: tokio::sync::Mutex::new(None),
            broker_epoch: AtomicI64::new(-1),
        }
    }

    pub fn addresses(&self) -> &[String] {
        &self.addresses
    }

    pub async fn call(
        &self,
        request: ControllerRequest,
    ) -> Result<ControllerResponse, ControllerError> {
        match request {
            ControllerRequest::RegisterBroker(r) => {
                let epoch = self.register(r).await?;
                self.broker_epoch.store(epoch, Ordering::Relaxed);
                Ok(ControllerResponse::RegisterBroker(epoch))
            }
            ControllerRequest::BrokerHeartbeat(r) => self
                .heartbeat(r)
                .await
                .map(ControllerResponse::BrokerHeartbeat),
            ControllerRequest::AllocateProducerIds { broker_id } => self
                .allocate_producer_ids(broker_id)
                .await
                .map(ControllerResponse::AllocateProducerIds),
            ControllerRequest::CreateTopics(r) => self
                .create_topics(r)
                .await
                .map(ControllerResponse::CreateTopics),
            ControllerRequest::AlterPartition(r) => self
                .alter_partition(r)
                .await
                .map(ControllerResponse::AlterPartition),
            // A client's admin request goes whole, in an Envelope, before
            // a handler makes it a typed request; it reaches here only when
            // that forwarding failed, and is answered as unreachable.
            other => Err(ControllerError::ControllerUnavailable(format!(
                "{} could not be forwarded to the controller",
                other.name()
            ))),
        }
    }

    /// Forwards a client's request (header and body, as received) to the
    /// controller; the answer is the controller's response, header and
    /// body, or the envelope's own error.
    pub async fn forward(
        &self,
        envelope: EnvelopeRequest,
    ) -> Result<EnvelopeResponse, ControllerError> {
        self.send(envelope, 0..=0).await
    }

    async fn register(&self, r: BrokerRegistration) -> Result<i64, ControllerError> {
        let build = |version: i16| {
            let request = BrokerRegistrationRequest::default()
                .with_broker_id(BrokerId(r.broker_id))
                .with_cluster_id(StrBytes::from_string(r.cluster_id.clone()))
                .with_incarnation_id(r.incarnation_id)
                .with_listeners(
                    r.listeners
                        .iter()
                        .map(|l| {
                            Listener::default()
                                .with_name(StrBytes::from_string(l.name.clone()))
                                .with_host(StrBytes::from_string(l.host.clone()))
                                .with_port(l.port)
                                .with_security_protocol(l.security_protocol)
                        })
                        .collect(),
                )
                .with_features(
                    r.features
                        .iter()
                        .map(|f| {
                            Feature::default()
                                .with_name(StrBytes::from_string(f.name.clone()))
                                .with_min_supported_version(f.min)
                                .with_max_supported_version(f.max)
                        })
                        .collect(),
                )
                .with_rack(r.rack.clone().map(StrBytes::from_string));
            match version {
                0 | 1 => request,
                2 => request.with_log_dirs(r.log_dirs.clone()),
                _ => request
                    .with_log_dirs(r.log_dirs.clone())
                    .with_previous_broker_epoch(-1),
            }
        };
        let response = self.send_built(build, 0..=4).await?;
        coded(response.error_code, None)?;
        Ok(response.broker_epoch)
    }

    async fn heartbeat(&self, r: BrokerHeartbeat) -> Result<HeartbeatReply, ControllerError> {
        let request = BrokerHeartbeatRequest::default()
            .with_broker_id(BrokerId(r.broker_id))
            .with_broker_epoch(r.broker_epoch)
            .with_current_metadata_offset(r.current_metadata_offset)
            .with_want_fence(r.want_fence)
            .with_want_shut_down(r.want_shut_down);
        let response = self.send(request, 0..=1).await?;
        coded(response.error_code, None)?;
        Ok(HeartbeatReply {
            is_caught_up: response.is_caught_up,
            is_fenced: response.is_fenced,
            // Not on the wire: a broker that asked to shut down and is not
            // released yet is in controlled shutdown.
            in_controlled_shutdown: r.want_shut_down && !response.should_shut_down,
            should_shut_down: response.should_shut_down,
        })
    }

    async fn allocate_producer_ids(
        &self,
        broker_id: i32,
    ) -> Result<ProducerIdsBlock, ControllerError> {
        let request = AllocateProducerIdsRequest::default()
            .with_broker_id(BrokerId(broker_id))
            .with_broker_epoch(self.broker_epoch.load(Ordering::Relaxed));
        let response = self.send(request, 0..=0).await?;
        coded(response.error_code, None)?;
        Ok(ProducerIdsBlock {
            start: response.producer_id_start.0,
            len: i64::from(response.producer_id_len),
        })
    }

    /// AlterPartition at v3, or v2 (members without their epochs) from a
    /// controller that serves no more; Kafka 4's schema has nothing older.
    async fn alter_partition(
        &self,
        r: AlterPartition,
    ) -> Result<Vec<AlterPartitionTopicResult>, ControllerError> {
        let build = |version: i16| {
            AlterPartitionRequest::default()
                .with_broker_id(BrokerId(r.broker_id.0))
                .with_broker_epoch(r.broker_epoch.0)
                .with_topics(
                    r.topics
                        .iter()
                        .map(|t| {
                            TopicData::default()
                                .with_topic_id(t.topic_id)
                                .with_partitions(
                                    t.partitions
                                        .iter()
                                        .map(|p| alter_partition_data(p, version))
                                        .collect(),
                                )
                        })
                        .collect(),
                )
        };
        let response = self.send_built(build, 2..=3).await?;
        coded(response.error_code, None)?;
        Ok(r.topics
            .iter()
            .map(|asked| {
                let answered = response
                    .topics
                    .iter()
                    .find(|t| t.topic_id == asked.topic_id);
                let partitions = asked
                    .partitions
                    .iter()
                    .map(|p| AlterPartitionResult {
                        partition_index: p.partition_index,
                        result: altered(
                            answered.and_then(|t| {
                                t.partitions
                                    .iter()
                                    .find(|a| a.partition_index == p.partition_index)
                            }),
                            asked.topic_id,
                            p.partition_index,
                        ),
                    })
                    .collect();
                AlterPartitionTopicResult {
                    topic_id: asked.topic_id,
                    partitions,
                }
            })
            .collect())
    }

    async fn create_topics(
        &self,
        r: CreateTopics,
    ) -> Result<Vec<Result<TopicCreated, ControllerError>>, ControllerError> {
        let timeout_ms = i32::try_from(self.timeout.as_millis()).unwrap_or(i32::MAX);
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(timeout_ms)
            .with_validate_only(r.validate_only)
            .with_topics(
                r.topics
                    .iter()
                    .map(|t| {
                        CreatableTopic::default()
                            .with_name(TopicName(StrBytes::from_string(t.name.clone())))
                            .with_num_partitions(t.num_partitions)
                            .with_replication_factor(t.replication_factor)
                            .with_assignments(
                                t.assignments
                                    .iter()
                                    .map(|(p, replicas)| {
                                        CreatableReplicaAssignment::default()
                                            .with_partition_index(*p)
                                            .with_broker_ids(
                                                replicas.iter().copied().map(BrokerId).collect(),
                                            )
                                    })
                                    .collect(),
                            )
                            .with_configs(
                                t.configs
                                    .iter()
                                    .map(|(name, value)| {
                                        CreatableTopicConfig::default()
                                            .with_name(StrBytes::from_string(name.clone()))
                                            .with_value(value.clone().map(StrBytes::from_string))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let response = self.send(request, 2..=7).await?;
        if response.topics.len() != r.topics.len() {
            return Err(ControllerError::Internal(format!(
                "the controller answered {} of {} topics",
                response.topics.len(),
                r.topics.len()
            )));
        }
        Ok(r.topics
            .iter()
            .map(|asked| {
                let Some(t) = response
                    .topics
                    .iter()
                    .find(|t| t.name.0.as_str() == asked.name)
                else {
                    return Err(ControllerError::Internal(format!(
                        "the controller did not answer for topic {}",
                        asked.name
                    )));
                };
                if t.error_code == 36 {
                    return Err(ControllerError::TopicAlreadyExists(asked.name.clone()));
                }
                coded(
                    t.error_code,
                    t.error_message.as_ref().map(|m| m.to_string()),
                )?;
                Ok(TopicCreated {
                    topic_id: t.topic_id,
                    num_partitions: t.num_partitions,
                    replication_factor: t.replication_factor,
                    configs: t
                        .configs
                        .iter()
                        .flatten()
                        .filter(|c| c.config_source == TOPIC_CONFIG_SOURCE)
                        .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                        .collect(),
                })
            })
            .collect())
    }

    async fn send<R: Request>(
        &self,
        request: R,
        versions: std::ops::RangeInclusive<i16>,
    ) -> Result<R::Response, ControllerError> {
        self.send_built(|_| request, versions).await
    }

    /// Sends the request `build(version)` makes in the highest version
    /// both sides know, on the open connection or a new one.
    async fn send_built<R: Request>(
        &self,
        build: impl FnOnce(i16) -> R,
        versions: std::ops::RangeInclusive<i16>,
    ) -> Result<R::Response, ControllerError> {
        let mut slot = self.connection.lock().await;
        if slot.is_none() {
            *slot = Some(self.connect().await?);
        }
        let conn = slot.as_mut().expect("connected just above");
        let version = conn.version_for::<R>(versions).map_err(unreachable)?;
        let request = build(version);
        match conn.call(&request, version, self.timeout).await {
            Ok(response) => Ok(response),
            Err(e) => {
                // Not reused: the answer may still be on its way.
                *slot = None;
                Err(unreachable(e))
            }
        }
    }

    async fn connect(&self) -> Result<Connection, ControllerError> {
        let mut last = None;
        for address in &self.addresses {
            match Connection::open(address, &self.client_id, self.timeout).await {
                Ok(conn) => return Ok(conn),
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) => unreachable(e),
            None => {
                ControllerError::ControllerUnavailable("no controller address is configured".into())
            }
        })
    }
}

/// One partition's proposal on the wire: v3 names each member's epoch.
fn alter_partition_data(p: &AlterPartitionData, version: i16) -> PartitionData {
    let data = PartitionData::default()
        .with_partition_index(p.partition_index)
        .with_leader_epoch(p.leader_epoch.0)
        .with_partition_epoch(p.partition_epoch.0)
        .with_leader_recovery_state(p.leader_recovery_state);
    if version >= 3 {
        data.with_new_isr_with_epochs(
            p.new_isr
                .iter()
                .map(|m| {
                    BrokerState::default()
                        .with_broker_id(BrokerId(m.broker_id.0))
                        .with_broker_epoch(m.broker_epoch.0)
                })
                .collect(),
        )
    } else {
        data.with_new_isr(p.new_isr.iter().map(|m| BrokerId(m.broker_id.0)).collect())
    }
}

/// One partition's answer, typed; a partition the controller left out of
/// its answer is a bug there.
fn altered(
    answer: Option<&AlterPartitionAnswer>,
    topic_id: uuid::Uuid,
    partition: i32,
) -> Result<AlteredPartition, ControllerError> {
    let Some(a) = answer else {
        return Err(ControllerError::Internal(format!(
            "the controller did not answer for partition {partition} of topic {topic_id}"
        )));
    };
    coded(a.error_code, None)?;
    Ok(AlteredPartition {
        leader_id: Broker(a.leader_id.0),
        leader_epoch: LeaderEpoch(a.leader_epoch),
        partition_epoch: PartitionEpoch(a.partition_epoch),
        isr: a.isr.iter().map(|b| Broker(b.0)).collect(),
        leader_recovery_state: a.leader_recovery_state,
    })
}

fn unreachable(e: ClientError) -> ControllerError {
    ControllerError::ControllerUnavailable(format!("the controller is not reachable: {e}"))
}

/// A Kafka error code from the controller: as the controller's own error
/// where a caller here acts on it, else kept as the controller chose it.
fn coded(code: i16, message: Option<String>) -> Result<(), ControllerError> {
    let message = message.unwrap_or_default();
    Err(match code {
        0 => return Ok(()),
        3 => ControllerError::UnknownTopicOrPartition,
        41 => ControllerError::NotController(message),
        42 => ControllerError::InvalidRequest(message),
        74 => ControllerError::FencedLeaderEpoch(message),
        95 => ControllerError::InvalidUpdateVersion(message),
        100 => ControllerError::UnknownTopicId,
        107 => ControllerError::IneligibleReplica(message),
        77 => ControllerError::StaleBrokerEpoch(message),
        101 => ControllerError::DuplicateBrokerRegistration(message),
        102 => ControllerError::BrokerIdNotRegistered(message),
        104 => ControllerError::InconsistentClusterId(message),
        119 => ControllerError::InvalidRegistration(message),
        _ => ControllerError::Remote { code, message },
    })
}
