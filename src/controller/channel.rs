//! The one way into the controller: typed requests and responses, so that
//! any request can be served locally (a combined node calls its own
//! controller) or forwarded to the active controller over the network
//! (KIP-590's Envelope, when brokers and controllers are separate
//! processes). Callers never hand the controller a closure.
//!
//! Kafka counterpart: `ControllerApis` on the controller side and
//! `ForwardingManager` / `NodeToControllerChannelManager` on the broker.

use std::sync::Arc;

use super::Controller;
use super::alter_partition::{AlterPartition, AlterPartitionTopicResult};
use super::cluster::{BrokerHeartbeat, BrokerRegistration, HeartbeatReply};
use super::configs::AlterRequest;
use super::error::ControllerError;
use super::producer_ids::ProducerIdsBlock;
use super::remote::RemoteController;
use super::replication::{ElectLeaders, ElectionTopicResult};
use super::topics::{DeletedTopic, NewTopic, PartitionIncrease, TopicCreated, TopicRef};

/// CreateTopics. `internal` marks a coordinator creating its own topic;
/// clients may not create internal topics.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateTopics {
    pub topics: Vec<NewTopic>,
    pub validate_only: bool,
    pub internal: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreatePartitions {
    pub increases: Vec<PartitionIncrease>,
    pub validate_only: bool,
}

/// AlterConfigs and IncrementalAlterConfigs alike.
#[derive(Debug, Clone, PartialEq)]
pub struct AlterConfigs {
    pub requests: Vec<AlterRequest>,
    pub validate_only: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ControllerRequest {
    CreateTopics(CreateTopics),
    DeleteTopics(Vec<TopicRef>),
    CreatePartitions(CreatePartitions),
    AlterConfigs(AlterConfigs),
    AllocateProducerIds { broker_id: i32 },
    RegisterBroker(BrokerRegistration),
    BrokerHeartbeat(BrokerHeartbeat),
    UnregisterBroker { broker_id: i32 },
    AlterPartition(AlterPartition),
    ElectLeaders(ElectLeaders),
}

/// One result per entry of the request, in request order.
#[derive(Debug, Clone, PartialEq)]
pub enum ControllerResponse {
    CreateTopics(Vec<Result<TopicCreated, ControllerError>>),
    DeleteTopics(Vec<Result<DeletedTopic, ControllerError>>),
    CreatePartitions(Vec<Result<(), ControllerError>>),
    AlterConfigs(Vec<Result<(), ControllerError>>),
    AllocateProducerIds(ProducerIdsBlock),
    /// The broker's new epoch.
    RegisterBroker(i64),
    BrokerHeartbeat(HeartbeatReply),
    UnregisterBroker,
    /// One result per topic, in request order.
    AlterPartition(Vec<AlterPartitionTopicResult>),
    /// One result per topic.
    ElectLeaders(Vec<ElectionTopicResult>),
}

impl ControllerRequest {
    pub fn name(&self) -> &'static str {
        match self {
            ControllerRequest::CreateTopics(_) => "CreateTopics",
            ControllerRequest::DeleteTopics(_) => "DeleteTopics",
            ControllerRequest::CreatePartitions(_) => "CreatePartitions",
            ControllerRequest::AlterConfigs(_) => "AlterConfigs",
            ControllerRequest::AllocateProducerIds { .. } => "AllocateProducerIds",
            ControllerRequest::RegisterBroker(_) => "BrokerRegistration",
            ControllerRequest::BrokerHeartbeat(_) => "BrokerHeartbeat",
            ControllerRequest::UnregisterBroker { .. } => "UnregisterBroker",
            ControllerRequest::AlterPartition(_) => "AlterPartition",
            ControllerRequest::ElectLeaders(_) => "ElectLeaders",
        }
    }
}

/// Where controller requests go.
#[derive(Clone)]
pub struct ControllerChannel {
    target: Target,
}

#[derive(Clone)]
enum Target {
    /// This process's own controller (a combined node).
    Local(Arc<Controller>),
    /// The controller of another process (a broker-only node).
    Remote(Arc<RemoteController>),
}

/// Unwraps the response variant a request must get; any other is a bug of
/// the serving side, reported as an internal error.
macro_rules! call_expecting {
    ($channel:expr, $request:expr, $variant:ident) => {{
        let request = $request;
        let name = request.name();
        match $channel.call(request).await? {
            ControllerResponse::$variant(r) => Ok(r),
            other => Err(mismatched(name, &other)),
        }
    }};
}

impl ControllerChannel {
    pub fn local(controller: Arc<Controller>) -> Self {
        ControllerChannel {
            target: Target::Local(controller),
        }
    }

    pub fn remote(controller: Arc<RemoteController>) -> Self {
        ControllerChannel {
            target: Target::Remote(controller),
        }
    }

    /// The controller of another process, when there is one: client admin
    /// requests are then forwarded to it whole (Envelope).
    pub fn remote_controller(&self) -> Option<&RemoteController> {
        match &self.target {
            Target::Local(_) => None,
            Target::Remote(remote) => Some(remote),
        }
    }

    /// Sends one request. `Err` fails the whole request (the controller
    /// could not commit, or could not be reached); per-entry failures are
    /// inside the response.
    pub async fn call(
        &self,
        request: ControllerRequest,
    ) -> Result<ControllerResponse, ControllerError> {
        match &self.target {
            Target::Local(controller) => controller.handle(request).await,
            Target::Remote(controller) => controller.call(request).await,
        }
    }

    pub async fn create_topics(
        &self,
        request: CreateTopics,
    ) -> Result<Vec<Result<TopicCreated, ControllerError>>, ControllerError> {
        call_expecting!(self, ControllerRequest::CreateTopics(request), CreateTopics)
    }

    pub async fn delete_topics(
        &self,
        topics: Vec<TopicRef>,
    ) -> Result<Vec<Result<DeletedTopic, ControllerError>>, ControllerError> {
        call_expecting!(self, ControllerRequest::DeleteTopics(topics), DeleteTopics)
    }

    pub async fn create_partitions(
        &self,
        request: CreatePartitions,
    ) -> Result<Vec<Result<(), ControllerError>>, ControllerError> {
        call_expecting!(
            self,
            ControllerRequest::CreatePartitions(request),
            CreatePartitions
        )
    }

    pub async fn alter_configs(
        &self,
        request: AlterConfigs,
    ) -> Result<Vec<Result<(), ControllerError>>, ControllerError> {
        call_expecting!(self, ControllerRequest::AlterConfigs(request), AlterConfigs)
    }

    pub async fn allocate_producer_ids(
        &self,
        broker_id: i32,
    ) -> Result<ProducerIdsBlock, ControllerError> {
        call_expecting!(
            self,
            ControllerRequest::AllocateProducerIds { broker_id },
            AllocateProducerIds
        )
    }
}

impl ControllerChannel {
    /// BrokerRegistration: the broker's new epoch.
    pub async fn register_broker(
        &self,
        request: BrokerRegistration,
    ) -> Result<i64, ControllerError> {
        call_expecting!(
            self,
            ControllerRequest::RegisterBroker(request),
            RegisterBroker
        )
    }

    pub async fn broker_heartbeat(
        &self,
        request: BrokerHeartbeat,
    ) -> Result<HeartbeatReply, ControllerError> {
        call_expecting!(
            self,
            ControllerRequest::BrokerHeartbeat(request),
            BrokerHeartbeat
        )
    }
}

impl ControllerChannel {
    /// UnregisterBroker: the broker's registration is removed.
    pub async fn unregister_broker(&self, broker_id: i32) -> Result<(), ControllerError> {
        let request = ControllerRequest::UnregisterBroker { broker_id };
        let name = request.name();
        match self.call(request).await? {
            ControllerResponse::UnregisterBroker => Ok(()),
            other => Err(mismatched(name, &other)),
        }
    }
}

impl ControllerChannel {
    /// AlterPartition from a partition leader: per partition, the
    /// partition as the controller now registers it, or why the proposal
    /// was refused. `Err` refuses the whole request (STALE_BROKER_EPOCH
    /// for a sender not registered at that epoch, or the controller
    /// unreachable).
    pub async fn alter_partition(
        &self,
        request: AlterPartition,
    ) -> Result<Vec<AlterPartitionTopicResult>, ControllerError> {
        call_expecting!(
            self,
            ControllerRequest::AlterPartition(request),
            AlterPartition
        )
    }
}

impl ControllerChannel {
    /// ElectLeaders, decided by the controller: per topic, per partition,
    /// whether a new leader was elected or why not.
    pub async fn elect_leaders(
        &self,
        request: ElectLeaders,
    ) -> Result<Vec<ElectionTopicResult>, ControllerError> {
        call_expecting!(self, ControllerRequest::ElectLeaders(request), ElectLeaders)
    }
}

fn mismatched(request: &str, response: &ControllerResponse) -> ControllerError {
    tracing::error!(
        request,
        ?response,
        "the controller answered with the wrong response type"
    );
    ControllerError::Internal(format!(
        "the controller answered {request} with another response type"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_has_a_name() {
        let names: Vec<&str> = [
            ControllerRequest::DeleteTopics(vec![]),
            ControllerRequest::AllocateProducerIds { broker_id: 1 },
            ControllerRequest::AlterPartition(AlterPartition {
                broker_id: crate::common::ids::BrokerId(1),
                broker_epoch: crate::common::ids::BrokerEpoch(0),
                topics: vec![],
            }),
        ]
        .iter()
        .map(ControllerRequest::name)
        .collect();
        assert_eq!(
            names,
            ["DeleteTopics", "AllocateProducerIds", "AlterPartition"]
        );
    }
}
