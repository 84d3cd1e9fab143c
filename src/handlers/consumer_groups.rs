//! The KIP-848 consumer group APIs: ConsumerGroupHeartbeat (join,
//! heartbeat and leave in one request; the broker computes assignments)
//! and ConsumerGroupDescribe. Translation only; the protocol is in
//! `coordinator::consumer_group`.

use kafka_protocol::messages::consumer_group_describe_response::{
    self as describe, DescribedGroup,
};
use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::Broker;
use super::{RequestContext, str_bytes};
use crate::coordinator::consumer_group::{HeartbeatInput, TopicPartitions as Named};
use crate::protocol::ApiError;

fn opt(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(|s| s.to_string())
}

pub async fn heartbeat(
    broker: &Broker,
    ctx: &RequestContext,
    req: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let group_id = req.group_id.0.to_string();
    let input = HeartbeatInput {
        member_id: req.member_id.to_string(),
        member_epoch: req.member_epoch,
        instance_id: opt(&req.instance_id),
        rack_id: opt(&req.rack_id),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        subscribed_topic_names: req
            .subscribed_topic_names
            .map(|names| names.into_iter().map(|n| n.0.to_string()).collect()),
        subscribed_topic_regex: opt(&req.subscribed_topic_regex),
        server_assignor: opt(&req.server_assignor),
        topic_partitions: req.topic_partitions.map(|tps| {
            tps.into_iter()
                .map(|tp| (tp.topic_id, tp.partitions))
                .collect()
        }),
        client_id: ctx.client_id.clone().unwrap_or_default(),
        client_host: ctx.client_host(),
    };
    // Kafka's request checks (GroupMetadataManager.throwIfConsumerGroupHeartbeatRequestIsInvalid):
    // an empty group id, and from v1 (client-chosen member ids) an empty member id.
    let result = if group_id.is_empty() {
        Err(ApiError::InvalidRequest("GroupId can't be empty.".into()))
    } else if ctx.api_version >= 1 && req.member_id.is_empty() {
        Err(ApiError::InvalidRequest("MemberId can't be empty.".into()))
    } else {
        broker.groups.consumer_heartbeat(&group_id, input).await
    };
    match result {
        Ok(r) => ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(str_bytes(r.member_id)))
            .with_member_epoch(r.member_epoch)
            .with_heartbeat_interval_ms(r.heartbeat_interval_ms)
            .with_assignment(r.assignment.map(|a| {
                Assignment::default().with_topic_partitions(
                    a.into_iter()
                        .map(|(topic_id, ps)| {
                            TopicPartitions::default()
                                .with_topic_id(topic_id)
                                .with_partitions(ps.into_iter().collect())
                        })
                        .collect(),
                )
            })),
        Err(e) => {
            tracing::debug!(group_id, error = %e, "ConsumerGroupHeartbeat answered with an error");
            // Only the error: member id, epoch and interval keep their
            // defaults (null, 0, 0), as Kafka answers.
            ConsumerGroupHeartbeatResponse::default()
                .with_error_code(e.code())
                .with_error_message(Some(str_bytes(e.message())))
        }
    }
}

fn assignment(tps: Vec<Named>) -> describe::Assignment {
    describe::Assignment::default().with_topic_partitions(
        tps.into_iter()
            .map(|t| {
                describe::TopicPartitions::default()
                    .with_topic_id(t.topic_id)
                    .with_topic_name(TopicName(str_bytes(t.topic_name)))
                    .with_partitions(t.partitions)
            })
            .collect(),
    )
}

pub async fn describe(
    broker: &Broker,
    ctx: &RequestContext,
    req: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let mut groups = Vec::with_capacity(req.group_ids.len());
    for group_id in req.group_ids {
        let ops = if req.include_authorized_operations {
            super::metadata::group_authorized_operations()
        } else {
            i32::MIN
        };
        let described = DescribedGroup::default().with_authorized_operations(ops);
        match broker.groups.consumer_describe(group_id.as_str()).await {
            Ok(d) => {
                let members = d
                    .members
                    .into_iter()
                    .map(|m| {
                        let member = describe::Member::default()
                            .with_member_id(str_bytes(m.member_id))
                            .with_instance_id(m.instance_id.map(str_bytes))
                            .with_rack_id(m.rack_id.map(str_bytes))
                            .with_member_epoch(m.member_epoch)
                            .with_client_id(str_bytes(m.client_id))
                            .with_client_host(str_bytes(m.client_host))
                            .with_subscribed_topic_names(
                                m.subscribed_topic_names
                                    .into_iter()
                                    .map(|n| TopicName(str_bytes(n)))
                                    .collect(),
                            )
                            // Kafka describes "no regex" as an empty one.
                            .with_subscribed_topic_regex(Some(str_bytes(
                                m.subscribed_topic_regex.unwrap_or_default(),
                            )))
                            .with_assignment(assignment(m.assignment))
                            .with_target_assignment(assignment(m.target_assignment));
                        // v1: 1 = a consumer-protocol member (0 = classic).
                        if ctx.api_version >= 1 {
                            member.with_member_type(1)
                        } else {
                            member
                        }
                    })
                    .collect();
                groups.push(
                    described
                        .with_group_id(group_id)
                        .with_group_state(str_bytes(d.state.name()))
                        .with_group_epoch(d.group_epoch)
                        .with_assignment_epoch(d.assignment_epoch)
                        .with_assignor_name(str_bytes(d.assignor_name))
                        .with_members(members),
                );
            }
            // An error answer carries no authorized operations.
            Err(e) => groups.push(
                described
                    .with_authorized_operations(i32::MIN)
                    .with_group_id(group_id.clone())
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(format!(
                        "group {} is not a consumer group",
                        group_id.as_str()
                    )))),
            ),
        }
    }
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}
