//! KIP-951's leader hints: a Produce (v10+) or Fetch (v16+) partition
//! refused with NOT_LEADER_OR_FOLLOWER (Fetch also FENCED_LEADER_EPOCH)
//! says who leads it now (`current_leader`: id and epoch, -1 when
//! unknown), and the response lists that leader's endpoint on the
//! request's listener (`node_endpoints`), so the client goes there without
//! a Metadata round trip. Kafka counterpart: `KafkaApis.getCurrentLeader`
//! and the `nodeEndpoints` of `handleProduceRequest` / `handleFetchRequest`.

use std::collections::BTreeMap;

use super::Broker;
use super::metadata::{BrokerNode, alive_broker};
use crate::metadata::MetadataImage;
use crate::protocol::ApiError;

/// A response's `node_endpoints` from its [`LeaderHints`]: `$endpoint` is
/// the response's own generated `NodeEndpoint` type (Produce and Fetch
/// each have one, with the same fields).
macro_rules! node_endpoints {
    ($hints:expr, $endpoint:ty) => {
        $hints
            .into_nodes()
            .map(|n| {
                <$endpoint>::default()
                    .with_node_id(kafka_protocol::messages::BrokerId(n.id))
                    .with_host($crate::handlers::str_bytes(n.host))
                    .with_port(i32::from(n.port))
                    .with_rack(n.rack.map($crate::handlers::str_bytes))
            })
            .collect::<Vec<$endpoint>>()
    };
}
pub(crate) use node_endpoints;

/// The leaders named by one response's hints, each listed once.
#[derive(Default)]
pub struct LeaderHints {
    nodes: BTreeMap<i32, BrokerNode>,
}

impl LeaderHints {
    /// The `(leader id, leader epoch)` to report for a partition refused
    /// with `e`, or None when `e` carries no hint. The leader's endpoint,
    /// when it is alive on `listener`, is noted for the response.
    pub fn hint(
        &mut self,
        broker: &Broker,
        image: &MetadataImage,
        listener: &str,
        (topic, partition): (&str, i32),
        e: &ApiError,
    ) -> Option<(i32, i32)> {
        let (leader_id, leader_epoch) = match e {
            ApiError::NotLeaderOrFollower {
                leader_id,
                leader_epoch,
            } => (*leader_id, *leader_epoch),
            ApiError::FencedLeaderEpoch => image
                .topic(topic)
                .and_then(|t| t.partitions.get(&partition))
                .map_or((-1, -1), |p| (p.leader, p.leader_epoch)),
            _ => return None,
        };
        if leader_id >= 0
            && !self.nodes.contains_key(&leader_id)
            && let Some(node) = alive_broker(broker, image, leader_id, listener)
        {
            self.nodes.insert(leader_id, node);
        }
        Some((leader_id, leader_epoch))
    }

    /// The noted leaders, by id.
    pub fn into_nodes(self) -> impl Iterator<Item = BrokerNode> {
        self.nodes.into_values()
    }
}
