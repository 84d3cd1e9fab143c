//! Request handlers, one module per API family. A handler takes the broker
//! handles and a decoded request and returns a typed response; it never
//! touches the socket and holds no state of its own. Per-partition failures
//! go into that partition's error code and never fail the whole request.

mod alter_partition;
mod api_versions;
mod configs;
mod consumer_groups;
mod context;
mod coordinators;
mod elections;
mod envelope;
pub mod errors;
mod fetch;
mod group_offsets;
mod groups;
mod leader_hint;
mod lifecycle;
mod log_dirs;
mod metadata;
mod not_supported;
mod offsets;
mod produce;
mod producer_ids;
mod quorum;
mod topics;

pub use api_versions::{api_versions_response, unsupported_version_response};
pub use context::Broker;

use kafka_protocol::messages::{RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;

use crate::common::blocking;
use crate::protocol::versions::ListenerKind;

/// What a handler knows about the request besides its body.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<String>,
    /// The listener the request arrived on; Metadata answers with the
    /// advertised endpoints of that listener.
    pub listener_name: String,
    /// Whether that is a client or a controller listener.
    pub listener_kind: ListenerKind,
    /// Forwarded by another broker inside an Envelope (KIP-590): on the
    /// broker's authority, e.g. its auto-creation of an internal topic.
    pub forwarded: bool,
    /// The client's address (group members' `client.host`).
    pub peer: std::net::SocketAddr,
}

impl RequestContext {
    /// The client host as Kafka reports it for group members: `/ip`.
    pub fn client_host(&self) -> String {
        format!("/{}", self.peer.ip())
    }
}

/// What the connection does after a request.
// Moved once from handler to connection, never stored: boxing the large
// variant would only add an allocation per request.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Reply {
    Send(ResponseKind),
    /// Produce with acks=0: no response at all.
    Nothing,
    /// Produce with acks=0 that failed: no response, and the connection is
    /// closed so the client refreshes its metadata (Kafka's behaviour).
    Close,
    /// A request the versions table admitted but no handler serves: a bug
    /// in the table. The connection is closed rather than left waiting.
    Unhandled,
}

/// Handles one request.
pub async fn handle(broker: &Broker, ctx: &RequestContext, request: RequestKind) -> Reply {
    let v = ctx.api_version;
    // A broker-only node's admin requests are the controller's to answer.
    if let Some(remote) = broker.controller.remote_controller()
        && let Some(api_key) = envelope::forwarded_key(&request)
    {
        match envelope::forward(remote, ctx, api_key, &request).await {
            Ok(response) => return Reply::Send(response),
            // Answered here instead: each entry as unreachable.
            Err(reason) => {
                tracing::warn!(api = ?api_key, reason, "forwarding to the controller failed")
            }
        }
    }
    Reply::Send(match request {
        RequestKind::ApiVersions(r) => ResponseKind::ApiVersions(api_versions::api_versions(
            &broker.metadata.current(),
            ctx.listener_kind,
            v,
            &r,
        )),
        RequestKind::FetchSnapshot(r) => {
            ResponseKind::FetchSnapshot(quorum::fetch_snapshot(broker, ctx, r).await)
        }
        RequestKind::Envelope(r) => {
            ResponseKind::Envelope(envelope::envelope(broker, ctx, r).await)
        }
        RequestKind::BrokerRegistration(r) => {
            ResponseKind::BrokerRegistration(lifecycle::broker_registration(broker, r).await)
        }
        RequestKind::BrokerHeartbeat(r) => {
            ResponseKind::BrokerHeartbeat(lifecycle::broker_heartbeat(broker, r).await)
        }
        RequestKind::AlterPartition(r) => {
            ResponseKind::AlterPartition(alter_partition::alter_partition(broker, ctx, r).await)
        }
        RequestKind::UnregisterBroker(r) => {
            ResponseKind::UnregisterBroker(lifecycle::unregister_broker(broker, r).await)
        }
        RequestKind::Metadata(r) => {
            ResponseKind::Metadata(metadata::metadata(broker, ctx, r).await)
        }
        RequestKind::DescribeQuorum(r) => {
            ResponseKind::DescribeQuorum(quorum::describe_quorum(broker, v, r))
        }
        RequestKind::DescribeCluster(r) => {
            ResponseKind::DescribeCluster(metadata::describe_cluster(broker, ctx, r))
        }
        RequestKind::DescribeTopicPartitions(r) => {
            ResponseKind::DescribeTopicPartitions(metadata::describe_topic_partitions(broker, r))
        }
        RequestKind::Produce(r) => return produce::produce(broker, ctx, r).await,
        RequestKind::Fetch(r) => ResponseKind::Fetch(match ctx.listener_kind {
            ListenerKind::Client => fetch::fetch(broker, ctx, r).await,
            ListenerKind::Controller => quorum::fetch(broker, ctx, r).await,
        }),
        // Look-ups by time read batches; DeleteRecords fsyncs a checkpoint.
        RequestKind::ListOffsets(r) => {
            ResponseKind::ListOffsets(blocking(|| offsets::list_offsets(broker, v, r)))
        }
        RequestKind::OffsetForLeaderEpoch(r) => {
            ResponseKind::OffsetForLeaderEpoch(offsets::offset_for_leader_epoch(broker, r))
        }
        RequestKind::DeleteRecords(r) => {
            ResponseKind::DeleteRecords(blocking(|| offsets::delete_records(broker, r)))
        }
        RequestKind::CreateTopics(r) => {
            ResponseKind::CreateTopics(topics::create_topics(broker, ctx, r).await)
        }
        RequestKind::DeleteTopics(r) => {
            ResponseKind::DeleteTopics(topics::delete_topics(broker, v, r).await)
        }
        RequestKind::CreatePartitions(r) => {
            ResponseKind::CreatePartitions(topics::create_partitions(broker, r).await)
        }
        RequestKind::ElectLeaders(r) => {
            ResponseKind::ElectLeaders(elections::elect_leaders(broker, r).await)
        }
        RequestKind::DescribeConfigs(r) => {
            ResponseKind::DescribeConfigs(configs::describe_configs(broker, v, r))
        }
        RequestKind::AlterConfigs(r) => {
            ResponseKind::AlterConfigs(configs::alter_configs(broker, r).await)
        }
        RequestKind::IncrementalAlterConfigs(r) => ResponseKind::IncrementalAlterConfigs(
            configs::incremental_alter_configs(broker, r).await,
        ),
        RequestKind::FindCoordinator(r) => {
            ResponseKind::FindCoordinator(coordinators::find_coordinator(broker, ctx, r).await)
        }
        RequestKind::JoinGroup(r) => {
            ResponseKind::JoinGroup(groups::join_group(broker, ctx, r).await)
        }
        RequestKind::SyncGroup(r) => {
            ResponseKind::SyncGroup(groups::sync_group(broker, ctx, r).await)
        }
        RequestKind::Heartbeat(r) => ResponseKind::Heartbeat(groups::heartbeat(broker, r).await),
        RequestKind::LeaveGroup(r) => {
            ResponseKind::LeaveGroup(groups::leave_group(broker, ctx, r).await)
        }
        RequestKind::DescribeGroups(r) => {
            ResponseKind::DescribeGroups(groups::describe_groups(broker, ctx, r).await)
        }
        RequestKind::ListGroups(r) => {
            ResponseKind::ListGroups(groups::list_groups(broker, ctx, r).await)
        }
        RequestKind::DeleteGroups(r) => {
            ResponseKind::DeleteGroups(groups::delete_groups(broker, r).await)
        }
        RequestKind::OffsetCommit(r) => {
            ResponseKind::OffsetCommit(group_offsets::offset_commit(broker, ctx, r).await)
        }
        RequestKind::OffsetFetch(r) => {
            ResponseKind::OffsetFetch(group_offsets::offset_fetch(broker, ctx, r).await)
        }
        RequestKind::ConsumerGroupHeartbeat(r) => {
            ResponseKind::ConsumerGroupHeartbeat(consumer_groups::heartbeat(broker, ctx, r).await)
        }
        RequestKind::ConsumerGroupDescribe(r) => {
            ResponseKind::ConsumerGroupDescribe(consumer_groups::describe(broker, ctx, r).await)
        }
        RequestKind::OffsetDelete(r) => {
            ResponseKind::OffsetDelete(group_offsets::offset_delete(broker, r).await)
        }
        RequestKind::AllocateProducerIds(r) => {
            ResponseKind::AllocateProducerIds(producer_ids::allocate_producer_ids(broker, r).await)
        }
        RequestKind::InitProducerId(r) => {
            ResponseKind::InitProducerId(producer_ids::init_producer_id(broker, ctx, r).await)
        }
        // statvfs and the segment sizes: cheap, but file system calls.
        RequestKind::DescribeLogDirs(r) => {
            ResponseKind::DescribeLogDirs(blocking(|| log_dirs::describe_log_dirs(broker, v, r)))
        }
        RequestKind::DescribeAcls(_) => {
            ResponseKind::DescribeAcls(not_supported::describe_acls(ctx))
        }
        RequestKind::CreateAcls(r) => ResponseKind::CreateAcls(not_supported::create_acls(ctx, r)),
        RequestKind::DeleteAcls(r) => ResponseKind::DeleteAcls(not_supported::delete_acls(ctx, r)),
        RequestKind::DescribeUserScramCredentials(r) => ResponseKind::DescribeUserScramCredentials(
            not_supported::describe_user_scram_credentials(ctx, r),
        ),
        RequestKind::AlterUserScramCredentials(r) => ResponseKind::AlterUserScramCredentials(
            not_supported::alter_user_scram_credentials(ctx, r),
        ),
        other => {
            // The versions table admits only the keys above; reaching this
            // is a bug in the table, not a client's fault.
            tracing::error!(request = ?std::mem::discriminant(&other), "request admitted by the versions table has no handler");
            return Reply::Unhandled;
        }
    })
}

pub(crate) fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}
