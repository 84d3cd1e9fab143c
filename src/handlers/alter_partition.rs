//! AlterPartition (KIP-497, KIP-903), served on controller listeners: a
//! partition leader of this cluster asks the controller to commit the ISR
//! it shrank or expanded. Versions 2 (topics by id) and 3 (each ISR member
//! with its broker epoch), the ones Kafka 4's schema keeps; v0-1, which
//! named topics, are no longer in it. The decision is the controller's
//! (`controller::alter_partition`); this edge translates the messages and
//! maps refusals to codes. Kafka counterpart:
//! `ControllerApis.handleAlterPartitionRequest`.

use kafka_protocol::messages::alter_partition_response::{
    PartitionData as PartitionAnswer, TopicData as TopicAnswer,
};
use kafka_protocol::messages::{AlterPartitionRequest, AlterPartitionResponse, BrokerId};

use super::{Broker, RequestContext};
use crate::common::ids::{self, BrokerEpoch, LeaderEpoch, PartitionEpoch};
use crate::controller::alter_partition::{
    AlterPartition, AlterPartitionData, AlterPartitionTopic, NewIsrMember,
};
use crate::protocol::ApiError;

pub async fn alter_partition(
    broker: &Broker,
    ctx: &RequestContext,
    req: AlterPartitionRequest,
) -> AlterPartitionResponse {
    let request = decode(ctx.api_version, &req);
    let broker_id = request.broker_id;
    match broker.controller.alter_partition(request).await {
        Ok(topics) => AlterPartitionResponse::default().with_topics(
            topics
                .into_iter()
                .map(|t| {
                    TopicAnswer::default()
                        .with_topic_id(t.topic_id)
                        .with_partitions(
                            t.partitions
                                .into_iter()
                                .map(|p| {
                                    let answer = PartitionAnswer::default()
                                        .with_partition_index(p.partition_index);
                                    match p.result {
                                        Ok(a) => answer
                                            .with_leader_id(BrokerId(a.leader_id.0))
                                            .with_leader_epoch(a.leader_epoch.0)
                                            .with_isr(a.isr.iter().map(|b| BrokerId(b.0)).collect())
                                            .with_leader_recovery_state(a.leader_recovery_state)
                                            .with_partition_epoch(a.partition_epoch.0),
                                        Err(e) => {
                                            let e = ApiError::from(e);
                                            tracing::debug!(
                                                broker_id = broker_id.0,
                                                topic_id = %t.topic_id,
                                                partition = p.partition_index,
                                                error = %e,
                                                "AlterPartition refused"
                                            );
                                            answer.with_error_code(e.code())
                                        }
                                    }
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
        Err(e) => {
            let e = ApiError::from(e);
            tracing::info!(broker_id = broker_id.0, error = %e, "AlterPartition refused");
            AlterPartitionResponse::default().with_error_code(e.code())
        }
    }
}

/// The typed request: v2's members carry no epoch (not checked), v3's do.
fn decode(version: i16, req: &AlterPartitionRequest) -> AlterPartition {
    AlterPartition {
        broker_id: ids::BrokerId(req.broker_id.0),
        broker_epoch: BrokerEpoch(req.broker_epoch),
        topics: req
            .topics
            .iter()
            .map(|t| AlterPartitionTopic {
                topic_id: t.topic_id,
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| AlterPartitionData {
                        partition_index: p.partition_index,
                        leader_epoch: LeaderEpoch(p.leader_epoch),
                        partition_epoch: PartitionEpoch(p.partition_epoch),
                        new_isr: if version >= 3 {
                            p.new_isr_with_epochs
                                .iter()
                                .map(|m| NewIsrMember {
                                    broker_id: ids::BrokerId(m.broker_id.0),
                                    broker_epoch: BrokerEpoch(m.broker_epoch),
                                })
                                .collect()
                        } else {
                            p.new_isr
                                .iter()
                                .map(|b| NewIsrMember {
                                    broker_id: ids::BrokerId(b.0),
                                    broker_epoch: BrokerEpoch::NONE,
                                })
                                .collect()
                        },
                        leader_recovery_state: p.leader_recovery_state,
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::alter_partition_request::{
        BrokerState, PartitionData, TopicData,
    };
    use uuid::Uuid;

    fn wire(version: i16) -> AlterPartitionRequest {
        let partition = PartitionData::default()
            .with_partition_index(2)
            .with_leader_epoch(4)
            .with_partition_epoch(9)
            .with_leader_recovery_state(1);
        let partition = if version >= 3 {
            partition.with_new_isr_with_epochs(vec![
                BrokerState::default()
                    .with_broker_id(BrokerId(1))
                    .with_broker_epoch(30),
                BrokerState::default()
                    .with_broker_id(BrokerId(2))
                    .with_broker_epoch(-1),
            ])
        } else {
            partition.with_new_isr(vec![BrokerId(1), BrokerId(2)])
        };
        AlterPartitionRequest::default()
            .with_broker_id(BrokerId(1))
            .with_broker_epoch(30)
            .with_topics(vec![
                TopicData::default()
                    .with_topic_id(Uuid::from_u128(5))
                    .with_partitions(vec![partition]),
            ])
    }

    #[test]
    fn v2_members_carry_no_epoch_and_v3_members_their_own() {
        let epochs = |version| -> Vec<(i32, i64)> {
            decode(version, &wire(version)).topics[0].partitions[0]
                .new_isr
                .iter()
                .map(|m| (m.broker_id.0, m.broker_epoch.0))
                .collect()
        };
        assert_eq!(epochs(2), [(1, -1), (2, -1)]);
        assert_eq!(epochs(3), [(1, 30), (2, -1)]);
        let decoded = decode(3, &wire(3));
        assert_eq!((decoded.broker_id.0, decoded.broker_epoch.0), (1, 30));
        let p = &decoded.topics[0].partitions[0];
        assert_eq!(decoded.topics[0].topic_id, Uuid::from_u128(5));
        assert_eq!(
            (
                p.partition_index,
                p.leader_epoch.0,
                p.partition_epoch.0,
                p.leader_recovery_state
            ),
            (2, 4, 9, 1)
        );
    }
}
