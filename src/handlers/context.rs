//! What a handler may use: the broker's handles to the cores, built by the
//! composition root ([`crate::node`]) and shared by every connection. It
//! holds no state of its own. Kafka counterpart: the collaborators
//! `KafkaApis` is constructed with.

use std::sync::Arc;

use crate::config::BrokerConfig;
use crate::controller::channel::ControllerChannel;
use crate::coordinator::producer_ids::ProducerIdManager;
use crate::coordinator::service::GroupCoordinator;
use crate::metadata::MetadataCache;
use crate::metadata::quorum::QuorumLog;
use crate::partition::ReplicaManager;

pub struct Broker {
    pub config: Arc<BrokerConfig>,
    pub cluster_id: String,
    /// The `directory.id` of each log dir, in `log.dirs` order (the first
    /// holds the metadata log).
    pub log_dir_ids: Vec<uuid::Uuid>,
    pub metadata: Arc<MetadataCache>,
    /// The metadata log as this node's quorum leader serves it to brokers
    /// fetching on a controller listener.
    pub quorum_log: Arc<QuorumLog>,
    pub replicas: Arc<ReplicaManager>,
    pub controller: ControllerChannel,
    pub groups: Arc<GroupCoordinator>,
    pub producer_ids: Arc<ProducerIdManager>,
}

impl Broker {
    /// The broker config in effect: the static config with the dynamic
    /// broker configs of the current metadata image laid over it.
    pub fn effective_config(&self) -> Arc<BrokerConfig> {
        self.replicas.effective_config()
    }
}
