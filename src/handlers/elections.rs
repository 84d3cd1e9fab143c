//! ElectLeaders (KIP-460; `kafka-leader-election`, Admin's `electLeaders`):
//! decided by the controller (a broker-only node forwards the request in
//! an Envelope), answered per partition with Kafka's codes:
//! ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE,
//! ELIGIBLE_LEADERS_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION. A failure of
//! the whole request (an unknown election type, the controller
//! unreachable) is the top-level error from v1, and each asked partition's.

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};

use super::{Broker, str_bytes};
use crate::controller::replication::{ElectLeaders, ElectionType};
use crate::protocol::ApiError;

pub async fn elect_leaders(broker: &Broker, req: ElectLeadersRequest) -> ElectLeadersResponse {
    let asked: Option<Vec<(String, Vec<i32>)>> = req.topic_partitions.as_ref().map(|topics| {
        topics
            .iter()
            .map(|t| (t.topic.0.to_string(), t.partitions.clone()))
            .collect()
    });
    let decided = match ElectionType::from_wire(req.election_type) {
        None => Err(ApiError::InvalidRequest(format!(
            "unknown election type {}",
            req.election_type
        ))),
        Some(election) => broker
            .controller
            .elect_leaders(ElectLeaders {
                election,
                partitions: asked.clone(),
            })
            .await
            .map_err(ApiError::from),
    };
    let partition = |id: i32, result: Result<(), ApiError>| match result {
        Ok(()) => PartitionResult::default().with_partition_id(id),
        Err(e) => PartitionResult::default()
            .with_partition_id(id)
            .with_error_code(e.code())
            .with_error_message(Some(str_bytes(e.message()))),
    };
    match decided {
        Ok(topics) => {
            for t in &topics {
                let elected: Vec<i32> = t
                    .partitions
                    .iter()
                    .filter(|(_, r)| r.is_ok())
                    .map(|(p, _)| *p)
                    .collect();
                if !elected.is_empty() {
                    tracing::info!(topic = %t.topic, partitions = ?elected, election = ?req.election_type, "elected leaders");
                }
            }
            ElectLeadersResponse::default().with_replica_election_results(
                topics
                    .into_iter()
                    .map(|t| {
                        ReplicaElectionResult::default()
                            .with_topic(TopicName(str_bytes(t.topic)))
                            .with_partition_result(
                                t.partitions
                                    .into_iter()
                                    .map(|(p, r)| partition(p, r.map_err(ApiError::from)))
                                    .collect(),
                            )
                    })
                    .collect(),
            )
        }
        Err(e) => {
            tracing::warn!(error = %e, "leader election refused");
            ElectLeadersResponse::default()
                .with_error_code(e.code())
                .with_replica_election_results(
                    asked
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(topic, partitions)| {
                            ReplicaElectionResult::default()
                                .with_topic(TopicName(str_bytes(topic)))
                                .with_partition_result(
                                    partitions
                                        .into_iter()
                                        .map(|p| partition(p, Err(e.clone())))
                                        .collect(),
                                )
                        })
                        .collect(),
                )
        }
    }
}
