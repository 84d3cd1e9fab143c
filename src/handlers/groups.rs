//! The classic group membership APIs (JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup) and group administration (DescribeGroups, ListGroups,
//! DeleteGroups): translation between Kafka's messages and the group
//! coordinator. Fields are set only in the versions that carry them.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    GroupId, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse, SyncGroupRequest,
    SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::Broker;
use super::{RequestContext, str_bytes};
use crate::coordinator::group::{JoinInput, JoinResponse, LeaveMember, SyncInput};
use crate::protocol::ApiError;

fn opt(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(|s| s.to_string())
}

fn check_group_id(group_id: &str) -> Result<(), ApiError> {
    if group_id.is_empty() {
        Err(ApiError::InvalidGroupId)
    } else {
        Ok(())
    }
}

pub async fn join_group(
    broker: &Broker,
    ctx: &RequestContext,
    req: JoinGroupRequest,
) -> JoinGroupResponse {
    let v = ctx.api_version;
    let group_id = req.group_id.0.to_string();
    let member_id = req.member_id.to_string();
    let input = JoinInput {
        member_id: member_id.clone(),
        group_instance_id: opt(&req.group_instance_id),
        client_id: ctx.client_id.clone().unwrap_or_default(),
        client_host: ctx.client_host(),
        // v0 has no rebalance timeout: it equals the session timeout.
        rebalance_timeout_ms: if v >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        },
        session_timeout_ms: req.session_timeout_ms,
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
        require_known_member_id: v >= 4,
        supports_skip_assignment: v >= 9,
    };
    let result = match check_group_id(&group_id) {
        Ok(()) => broker.groups.join(&group_id, input).await,
        Err(e) => Err(e),
    };
    let (code, r) = match result {
        Ok(r) => (r.error.clone().map_or(0, |e| e.code()), r),
        Err(e) => (
            e.code(),
            JoinResponse {
                error: None,
                generation_id: -1,
                protocol_type: None,
                protocol_name: None,
                leader: String::new(),
                member_id,
                members: Vec::new(),
                skip_assignment: false,
            },
        ),
    };
    if code != 0 {
        tracing::debug!(group_id, code, "JoinGroup answered with an error");
    }
    let members = r
        .members
        .into_iter()
        .map(|m| {
            let member = JoinGroupResponseMember::default()
                .with_member_id(str_bytes(m.member_id))
                .with_metadata(m.metadata);
            if v >= 5 {
                member.with_group_instance_id(m.group_instance_id.map(str_bytes))
            } else {
                member
            }
        })
        .collect();
    let mut resp = JoinGroupResponse::default()
        .with_error_code(code)
        .with_generation_id(r.generation_id)
        .with_leader(str_bytes(r.leader))
        .with_member_id(str_bytes(r.member_id))
        .with_members(members);
    // Before v7 the protocol name is a non-nullable string.
    resp = if v >= 7 {
        resp.with_protocol_type(r.protocol_type.map(str_bytes))
            .with_protocol_name(r.protocol_name.map(str_bytes))
    } else {
        resp.with_protocol_name(Some(str_bytes(r.protocol_name.unwrap_or_default())))
    };
    if v >= 9 {
        resp = resp.with_skip_assignment(r.skip_assignment);
    }
    resp
}

pub async fn sync_group(
    broker: &Broker,
    ctx: &RequestContext,
    req: SyncGroupRequest,
) -> SyncGroupResponse {
    let v = ctx.api_version;
    let group_id = req.group_id.0.to_string();
    // From v5 the protocol type and name are mandatory (KafkaApis checks
    // this before anything else).
    let protocol_missing = v >= 5 && (req.protocol_type.is_none() || req.protocol_name.is_none());
    let input = SyncInput {
        member_id: req.member_id.to_string(),
        group_instance_id: opt(&req.group_instance_id),
        generation_id: req.generation_id,
        protocol_type: if v >= 5 {
            opt(&req.protocol_type)
        } else {
            None
        },
        protocol_name: if v >= 5 {
            opt(&req.protocol_name)
        } else {
            None
        },
        assignments: req
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    let result = if protocol_missing {
        Err(ApiError::InconsistentGroupProtocol(
            "SyncGroup v5+ must name the protocol type and name".into(),
        ))
    } else {
        match check_group_id(&group_id) {
            Ok(()) => broker.groups.sync(&group_id, input).await,
            Err(e) => Err(e),
        }
    };
    match result {
        Ok(r) => {
            let resp = SyncGroupResponse::default().with_assignment(r.assignment);
            if v >= 5 {
                resp.with_protocol_type(r.protocol_type.map(str_bytes))
                    .with_protocol_name(r.protocol_name.map(str_bytes))
            } else {
                resp
            }
        }
        Err(e) => {
            tracing::debug!(group_id, error = %e, "SyncGroup answered with an error");
            SyncGroupResponse::default().with_error_code(e.code())
        }
    }
}

pub async fn heartbeat(broker: &Broker, req: HeartbeatRequest) -> HeartbeatResponse {
    let group_id = req.group_id.0.as_str();
    let result = match check_group_id(group_id) {
        Ok(()) => {
            broker
                .groups
                .heartbeat(
                    group_id,
                    req.member_id.as_str(),
                    req.group_instance_id.as_deref(),
                    req.generation_id,
                )
                .await
        }
        Err(e) => Err(e),
    };
    HeartbeatResponse::default().with_error_code(result.err().map_or(0, |e| e.code()))
}

pub async fn leave_group(
    broker: &Broker,
    ctx: &RequestContext,
    req: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let v = ctx.api_version;
    let group_id = req.group_id.0.to_string();
    // v0-2 name one member at the top level; v3+ batch them.
    let members: Vec<LeaveMember> = if v >= 3 {
        req.members
            .iter()
            .map(|m| LeaveMember {
                member_id: m.member_id.to_string(),
                group_instance_id: opt(&m.group_instance_id),
            })
            .collect()
    } else {
        vec![LeaveMember {
            member_id: req.member_id.to_string(),
            group_instance_id: None,
        }]
    };
    let result = match check_group_id(&group_id) {
        Ok(()) => broker.groups.leave(&group_id, members).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(results) if v >= 3 => LeaveGroupResponse::default().with_members(
            results
                .into_iter()
                .map(|(m, r)| {
                    MemberResponse::default()
                        .with_member_id(str_bytes(m.member_id))
                        .with_group_instance_id(m.group_instance_id.map(str_bytes))
                        .with_error_code(r.err().map_or(0, |e| e.code()))
                })
                .collect(),
        ),
        Ok(results) => LeaveGroupResponse::default().with_error_code(
            results
                .into_iter()
                .find_map(|(_, r)| r.err())
                .map_or(0, |e| e.code()),
        ),
        Err(e) => {
            tracing::debug!(group_id, error = %e, "LeaveGroup answered with an error");
            LeaveGroupResponse::default().with_error_code(e.code())
        }
    }
}

pub async fn describe_groups(
    broker: &Broker,
    ctx: &RequestContext,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let v = ctx.api_version;
    let mut groups = Vec::with_capacity(req.groups.len());
    for group_id in req.groups {
        let described = DescribedGroup::default().with_authorized_operations(
            if v >= 3 && req.include_authorized_operations {
                super::metadata::group_authorized_operations()
            } else {
                i32::MIN
            },
        );
        // The empty group id is described like any unknown group, as in
        // Kafka (kept for backwards compatibility).
        let mut summary = match broker.groups.describe(group_id.as_str()).await {
            Ok(summary) => summary,
            // Another broker coordinates it, or its groups are being loaded.
            Err(e) => {
                groups.push(described.with_group_id(group_id).with_error_code(e.code()));
                continue;
            }
        };
        // Kafka's DescribeGroups describes classic groups only: a KIP-848
        // consumer group reads as Dead there (ConsumerGroupDescribe shows it).
        if summary.group_type != "classic" {
            summary.state = "Dead";
            summary.protocol_type = None;
            summary.protocol_name = None;
            summary.members.clear();
        }
        // The protocol is named only while the group is Stable.
        if summary.state != "Stable" {
            summary.protocol_name = None;
        }
        let members = summary
            .members
            .into_iter()
            .map(|m| {
                let member = DescribedGroupMember::default()
                    .with_member_id(str_bytes(m.member_id))
                    .with_client_id(str_bytes(m.client_id))
                    .with_client_host(str_bytes(m.client_host))
                    .with_member_metadata(m.subscription)
                    .with_member_assignment(m.assignment);
                if v >= 4 {
                    member.with_group_instance_id(m.group_instance_id.map(str_bytes))
                } else {
                    member
                }
            })
            .collect();
        groups.push(
            described
                .with_group_id(group_id)
                .with_group_state(str_bytes(summary.state))
                .with_protocol_type(str_bytes(summary.protocol_type.unwrap_or_default()))
                .with_protocol_data(str_bytes(summary.protocol_name.unwrap_or_default()))
                .with_members(members),
        );
    }
    DescribeGroupsResponse::default().with_groups(groups)
}

pub async fn list_groups(
    broker: &Broker,
    ctx: &RequestContext,
    req: ListGroupsRequest,
) -> ListGroupsResponse {
    let v = ctx.api_version;
    let states: Vec<String> = req.states_filter.iter().map(|s| s.to_lowercase()).collect();
    let types: Vec<String> = req.types_filter.iter().map(|s| s.to_lowercase()).collect();
    let listed = match broker.groups.list_coordinated().await {
        Ok(listed) => listed,
        Err(e) => return ListGroupsResponse::default().with_error_code(e.code()),
    };
    let groups = listed
        .into_iter()
        .filter(|g| states.is_empty() || states.contains(&g.state.to_lowercase()))
        .filter(|g| types.is_empty() || types.iter().any(|t| t == g.group_type))
        .map(|g| {
            let listed = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(g.group_id)))
                .with_protocol_type(str_bytes(g.protocol_type.unwrap_or_default()));
            let listed = if v >= 4 {
                listed.with_group_state(str_bytes(g.state))
            } else {
                listed
            };
            if v >= 5 {
                listed.with_group_type(str_bytes(g.group_type))
            } else {
                listed
            }
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}

pub async fn delete_groups(broker: &Broker, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(req.groups_names.len());
    for group_id in req.groups_names {
        // The empty group id is not refused: Kafka answers it like any
        // unknown group (GROUP_ID_NOT_FOUND), for backwards compatibility.
        let result = broker.groups.delete_group(group_id.as_str()).await;
        match &result {
            Ok(()) => tracing::info!(group_id = %group_id.as_str(), "deleted group"),
            Err(e) => {
                tracing::debug!(group_id = %group_id.as_str(), error = %e, "DeleteGroups refused")
            }
        }
        results.push(
            DeletableGroupResult::default()
                .with_group_id(group_id)
                .with_error_code(result.err().map_or(0, |e| e.code())),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}
