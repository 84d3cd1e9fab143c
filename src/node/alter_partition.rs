//! The broker's AlterPartition sender: ISR changes the partitions this
//! node leads propose (an expansion on a follower's fetch, a shrink on the
//! ISR check) go to the controller in batches, and each answer goes back
//! to its partition's replication state. A request the controller could
//! not take (unreachable, not the controller, a retriable code) is sent
//! again after a pause; at most one change per partition is ever in flight
//! (the replication state proposes no other until this one is answered).
//! Kafka counterpart: `AlterPartitionManager` (`DefaultAlterPartitionManager`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::common::ids::{BrokerEpoch, BrokerId};
use crate::controller::ControllerError;
use crate::controller::alter_partition::{
    AlterPartition, AlterPartitionData, AlterPartitionTopic, NewIsrMember, RECOVERED,
};
use crate::controller::channel::ControllerChannel;
use crate::partition::Partition;
use crate::partition::manager::AlterPartitionItem;
use crate::partition::replication_state::{
    AlterPartitionAnswer, AlterPartitionOutcome, AlterPartitionRefusal, AlterPartitionRequest,
};
use crate::protocol::ApiError;

/// The pause before a request the controller did not take is sent again.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

pub async fn run_sender(
    mut queue: UnboundedReceiver<AlterPartitionItem>,
    controller: ControllerChannel,
    node_id: i32,
) {
    let mut retry: Vec<AlterPartitionItem> = Vec::new();
    loop {
        let mut batch = std::mem::take(&mut retry);
        if batch.is_empty() {
            match queue.recv().await {
                Some(item) => batch.push(item),
                None => return,
            }
        }
        while let Ok(item) = queue.try_recv() {
            batch.push(item);
        }
        // One request per broker epoch: a change proposed before this
        // broker registered again goes on its own, so that its refusal
        // (STALE_BROKER_EPOCH) does not take the others with it.
        let mut by_epoch: BTreeMap<i64, Vec<AlterPartitionItem>> = BTreeMap::new();
        for item in batch {
            by_epoch
                .entry(item.1.broker_epoch.0)
                .or_default()
                .push(item);
        }
        for (_, batch) in by_epoch {
            retry.extend(send(&controller, node_id, batch).await);
        }
        if !retry.is_empty() {
            tokio::time::sleep(RETRY_BACKOFF).await;
        }
    }
}

/// Sends one batch; returns the items to send again.
async fn send(
    controller: &ControllerChannel,
    node_id: i32,
    batch: Vec<AlterPartitionItem>,
) -> Vec<AlterPartitionItem> {
    let broker_epoch = batch
        .first()
        .map_or(BrokerEpoch::NONE, |(_, r)| r.broker_epoch);
    let mut topics: BTreeMap<uuid::Uuid, Vec<AlterPartitionData>> = BTreeMap::new();
    let mut pending: BTreeMap<(uuid::Uuid, i32), (Arc<Partition>, AlterPartitionRequest)> =
        BTreeMap::new();
    for (partition, request) in batch {
        topics
            .entry(partition.topic_id)
            .or_default()
            .push(AlterPartitionData {
                partition_index: partition.partition,
                leader_epoch: request.leader_epoch,
                partition_epoch: request.partition_epoch,
                new_isr: request
                    .new_isr
                    .iter()
                    .map(|m| NewIsrMember {
                        broker_id: m.broker_id,
                        broker_epoch: m.broker_epoch,
                    })
                    .collect(),
                leader_recovery_state: RECOVERED,
            });
        pending.insert(
            (partition.topic_id, partition.partition),
            (partition, request),
        );
    }
    let request = AlterPartition {
        broker_id: BrokerId(node_id),
        broker_epoch,
        topics: topics
            .into_iter()
            .map(|(topic_id, partitions)| AlterPartitionTopic {
                topic_id,
                partitions,
            })
            .collect(),
    };
    let now = crate::now_ms();
    let results = match controller.alter_partition(request).await {
        Ok(results) => results,
        Err(ControllerError::StaleBrokerEpoch(_)) => {
            // Proposed under an earlier registration of this broker: never
            // to be taken. Dropped, so the partitions propose again with
            // the current epoch.
            tracing::info!(
                broker_epoch = broker_epoch.0,
                partitions = pending.len(),
                "AlterPartition refused for a stale broker epoch; the partitions propose again"
            );
            for (partition, request) in pending.into_values() {
                partition.on_alter_partition_answer(
                    request.id,
                    AlterPartitionAnswer::Refused(AlterPartitionRefusal::OperationNotAttempted),
                    now,
                );
            }
            return Vec::new();
        }
        Err(e) => {
            tracing::warn!(error = ?e, partitions = pending.len(), "AlterPartition not taken by the controller; sending it again");
            return pending.into_values().collect();
        }
    };
    let mut again = Vec::new();
    for topic in results {
        for result in topic.partitions {
            let Some((partition, request)) =
                pending.remove(&(topic.topic_id, result.partition_index))
            else {
                continue;
            };
            let answer = match result.result {
                Ok(altered) => AlterPartitionAnswer::Accepted {
                    leader_epoch: altered.leader_epoch,
                    partition_epoch: altered.partition_epoch,
                    isr: altered.isr,
                },
                Err(e) => {
                    let e = ApiError::from(e);
                    tracing::info!(topic = %partition.topic, partition = partition.partition, error = %e,
                        "the controller refused an ISR change");
                    AlterPartitionAnswer::Refused(refusal(e.code()))
                }
            };
            match partition.on_alter_partition_answer(request.id, answer, now) {
                AlterPartitionOutcome::Retry(request) => again.push((partition, request)),
                outcome => {
                    tracing::debug!(topic = %partition.topic, partition = partition.partition, ?outcome, "AlterPartition answered")
                }
            }
        }
    }
    // Partitions the answer left out: asked again.
    again.extend(pending.into_values());
    again
}

/// A partition-level error code as the replication state reads it.
fn refusal(code: i16) -> AlterPartitionRefusal {
    use kafka_protocol::ResponseError as E;
    match E::try_from_code(code) {
        Some(E::OperationNotAttempted) => AlterPartitionRefusal::OperationNotAttempted,
        Some(E::IneligibleReplica) => AlterPartitionRefusal::IneligibleReplica,
        Some(E::UnknownTopicOrPartition) => AlterPartitionRefusal::UnknownTopicOrPartition,
        Some(E::UnknownTopicId) => AlterPartitionRefusal::UnknownTopicId,
        Some(E::FencedLeaderEpoch) => AlterPartitionRefusal::FencedLeaderEpoch,
        Some(E::InvalidUpdateVersion) => AlterPartitionRefusal::InvalidUpdateVersion,
        Some(E::InvalidRequest) => AlterPartitionRefusal::InvalidRequest,
        Some(E::NewLeaderElected) => AlterPartitionRefusal::NewLeaderElected,
        _ => AlterPartitionRefusal::Other { error_code: code },
    }
}
