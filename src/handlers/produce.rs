//! Produce: validate acks, append each partition's batch through its
//! partition (validation as Kafka's `LogValidator`, sequence checks for
//! idempotent producers), answer with the assigned offsets or each
//! partition's own error, refused records listed one by one (KIP-467).
//! With acks=all the answer waits until the ISR has every appended record
//! (the high watermark passed them), up to the request's `timeout_ms`
//! (then REQUEST_TIMED_OUT, as Kafka's delayed produce expires), and is
//! NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below
//! `min.insync.replicas` meanwhile.
//! With acks=0 there is no response; an error then closes the connection,
//! as Kafka does, so the producer refreshes its metadata. A partition led
//! by another broker (or by none) is NOT_LEADER_OR_FOLLOWER, with KIP-951's
//! leader hint from v10 ([`super::leader_hint`]).

use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse,
    TopicProduceResponse,
};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::{BrokerId, ProduceRequest, ProduceResponse, ResponseKind};

use super::leader_hint::{LeaderHints, node_endpoints};
use super::{Broker, RequestContext};
use super::{Reply, str_bytes};
use crate::common::blocking;
use crate::common::internal_topics::is_internal;
use crate::partition::Partition;
use crate::protocol::ApiError;

pub async fn produce(broker: &Broker, ctx: &RequestContext, req: ProduceRequest) -> Reply {
    let timeout = Duration::from_millis(req.timeout_ms.max(0) as u64);
    // Appends write and may fsync: off the async workers (common::blocking).
    let (reply, waits) = blocking(|| produce_blocking(broker, ctx, req));
    match reply {
        Reply::Send(ResponseKind::Produce(mut response)) if !waits.is_empty() => {
            wait_for_isr(&mut response, waits, timeout).await;
            Reply::Send(ResponseKind::Produce(response))
        }
        reply => reply,
    }
}

/// An acks=all partition answer waiting for its ISR: (topic index,
/// partition index) in the response, and the offset the high watermark
/// must reach.
type IsrWait = (usize, usize, Arc<Partition>, i64);

/// Kafka's delayed produce: each waiting partition is answered once its
/// high watermark passes its records, with an error if leadership moved
/// or the ISR shrank below `min.insync.replicas`, or REQUEST_TIMED_OUT at
/// the deadline.
async fn wait_for_isr(response: &mut ProduceResponse, mut waits: Vec<IsrWait>, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut watches = Vec::with_capacity(waits.len());
        let mut still = Vec::with_capacity(waits.len());
        for (t, p, partition, required) in waits {
            // Subscribed before the check: a change after it still wakes us.
            let watch = partition.subscribe_high_watermark();
            match partition.check_enough_replicas(required) {
                Ok(true) => {}
                Ok(false) => {
                    watches.push(watch);
                    still.push((t, p, partition, required));
                }
                Err(e) => fail_after_append(response, t, p, ApiError::from(e)),
            }
        }
        waits = still;
        if waits.is_empty() {
            return;
        }
        if tokio::time::timeout_at(deadline, super::fetch::any_changed(&mut watches))
            .await
            .is_err()
        {
            for (t, p, partition, required) in waits {
                // One last look: the change may have come with the deadline.
                match partition.check_enough_replicas(required) {
                    Ok(true) => {}
                    Ok(false) => fail_after_append(
                        response,
                        t,
                        p,
                        ApiError::RequestTimedOut(format!(
                            "the in-sync replicas of {}-{} did not confirm the records within the request's timeout",
                            partition.topic, partition.partition
                        )),
                    ),
                    Err(e) => fail_after_append(response, t, p, ApiError::from(e)),
                }
            }
            return;
        }
    }
}

fn fail_after_append(response: &mut ProduceResponse, t: usize, p: usize, e: ApiError) {
    tracing::debug!(error = %e, "acks=all produce not confirmed");
    let entry = &mut response.responses[t].partition_responses[p];
    entry.error_code = e.code();
    entry.error_message = Some(str_bytes(e.message()));
    entry.base_offset = -1;
    entry.log_append_time_ms = -1;
    entry.log_start_offset = -1;
}

fn produce_blocking(
    broker: &Broker,
    ctx: &RequestContext,
    req: ProduceRequest,
) -> (Reply, Vec<IsrWait>) {
    let mut waits = Vec::new();
    let version = ctx.api_version;
    let image = broker.metadata.current();
    let mut hints = LeaderHints::default();
    let acks = req.acks;
    let acks_valid = matches!(acks, -1..=1);
    let now = crate::now_ms();
    let mut failed = false;
    let mut responses = Vec::with_capacity(req.topic_data.len());
    for topic in req.topic_data {
        let name = topic.name.0.as_str();
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for pd in topic.partition_data {
            let hosted = broker
                .replicas
                .leader(&image, name, pd.index)
                .map_err(ApiError::from);
            let result = if !acks_valid {
                Err(ApiError::InvalidRequiredAcks)
            } else if hosted.is_ok() && is_internal(name) {
                // Only the coordinators write their own topics; a client's
                // record could make the group state unreadable.
                Err(ApiError::InvalidTopic(format!(
                    "cannot append to internal topic {name}"
                )))
            } else {
                match &hosted {
                    Ok(partition) => match pd.records {
                        Some(records) => partition
                            .append_produce(records, version, acks, now)
                            .map_err(ApiError::from),
                        None => Err(ApiError::CorruptMessage(
                            "produce request without records".into(),
                        )),
                    },
                    Err(e) => Err(e.clone()),
                }
            };
            let hosted = hosted.ok();
            if acks == -1
                && let (Ok(r), Some(partition)) = (&result, &hosted)
            {
                waits.push((
                    responses.len(),
                    partitions.len(),
                    partition.clone(),
                    r.last_offset + 1,
                ));
            }
            partitions.push(match result {
                Ok(r) => PartitionProduceResponse::default()
                    .with_index(pd.index)
                    .with_base_offset(r.base_offset)
                    .with_log_append_time_ms(r.log_append_time_ms)
                    .with_log_start_offset(r.log_start_offset),
                Err(e) => {
                    failed = true;
                    tracing::debug!(topic = %name, partition = pd.index, error = %e, "produce refused");
                    let record_errors = e
                        .record_errors()
                        .iter()
                        .map(|r| {
                            BatchIndexAndErrorMessage::default()
                                .with_batch_index(r.batch_index)
                                .with_batch_index_error_message(Some(str_bytes(r.message.clone())))
                        })
                        .collect();
                    let mut response = PartitionProduceResponse::default();
                    if version >= 10
                        && matches!(e, ApiError::NotLeaderOrFollower { .. })
                        && let Some((leader_id, leader_epoch)) = hints.hint(
                            broker,
                            &image,
                            &ctx.listener_name,
                            (name, pd.index),
                            &e,
                        )
                    {
                        response.current_leader = LeaderIdAndEpoch::default()
                            .with_leader_id(BrokerId(leader_id))
                            .with_leader_epoch(leader_epoch);
                    }
                    response
                        .with_index(pd.index)
                        .with_error_code(e.code())
                        .with_error_message(Some(str_bytes(e.message())))
                        .with_record_errors(record_errors)
                        .with_base_offset(-1)
                        .with_log_start_offset(failed_log_start_offset(&e, hosted.as_deref()))
                }
            });
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partitions),
        );
    }
    if acks == 0 {
        return (if failed { Reply::Close } else { Reply::Nothing }, waits);
    }
    let node_endpoints = if version >= 10 {
        node_endpoints!(hints, NodeEndpoint)
    } else {
        Vec::new()
    };
    let reply = Reply::Send(ResponseKind::Produce(
        ProduceResponse::default()
            .with_responses(responses)
            .with_node_endpoints(node_endpoints),
    ));
    (reply, waits)
}

/// The log start offset a failed partition reports: Kafka's
/// `ReplicaManager.appendToLocalLog` gives the log's start offset for a
/// failure inside the log (validation, sequence, epoch), and -1 for one
/// found before it (the request's own rules, an unknown partition) or in
/// the storage (too large, corrupt, storage error).
fn failed_log_start_offset(e: &ApiError, partition: Option<&Partition>) -> i64 {
    match (e, partition) {
        (
            ApiError::UnknownTopicOrPartition
            | ApiError::NotLeaderOrFollower { .. }
            | ApiError::InvalidTopic(_)
            | ApiError::InvalidRequiredAcks
            | ApiError::InvalidRequestRecords(_)
            | ApiError::UnsupportedCompressionType(_)
            | ApiError::MessageTooLarge(_)
            | ApiError::CorruptMessage(_)
            | ApiError::KafkaStorage(_),
            _,
        )
        | (_, None) => -1,
        (_, Some(p)) => p.log_start_offset(),
    }
}
