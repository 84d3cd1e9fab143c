//! Fetch for consumers and for followers: whole batches from each
//! partition up to the request's byte limits, waiting up to `max_wait_ms`
//! for `min_bytes` (long poll). A consumer reads up to the high watermark
//! and waits on it; a follower (a replica id in the request) reads up to
//! the log end, its fetch offset moves the leader's view of it (and the
//! high watermark), and it waits on appends; a follower whose log diverges
//! from the leader's gets the epoch and offset to truncate to (KIP-320). Fetch sessions (KIP-227) are
//! answered sessionless: session id 0, every partition in every response,
//! which clients accept as "no session". A partition led by another
//! broker (or by none) is NOT_LEADER_OR_FOLLOWER, with KIP-951's leader
//! hint from v16 ([`super::leader_hint`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{
    EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};

use super::leader_hint::{LeaderHints, node_endpoints};
use super::{Broker, RequestContext};
use crate::common::blocking;
use crate::common::ids::{BrokerEpoch, BrokerId as CoreBrokerId, LeaderEpoch, Offset};
use crate::log::CompressionCodec;
use crate::log::segment::FileSlice;
use crate::ops::metrics;
use crate::partition::Partition;
use crate::partition::replication_state::FollowerFetch;
use crate::protocol::ApiError;
use crate::protocol::zero_copy;

/// Fetch session epochs (KIP-227): -1 is a sessionless full fetch, 0 asks
/// to create a session; anything above names a session we never created.
const INITIAL_EPOCH: i32 = 0;
const FINAL_EPOCH: i32 = -1;

pub async fn fetch(broker: &Broker, ctx: &RequestContext, req: FetchRequest) -> FetchResponse {
    if req.session_epoch != INITIAL_EPOCH && req.session_epoch != FINAL_EPOCH {
        tracing::debug!(
            session_id = req.session_id,
            epoch = req.session_epoch,
            "fetch for an unknown session"
        );
        return FetchResponse::default()
            .with_error_code(ResponseError::FetchSessionIdNotFound.code());
    }
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    loop {
        let mut waiters = Vec::new();
        // Index look-ups and header reads: off the async workers.
        let (response, slices, bytes, any_error) =
            blocking(|| read_once(broker, ctx, &req, &mut waiters));
        let satisfied = bytes >= req.min_bytes.max(0) as usize || any_error;
        if satisfied || tokio::time::Instant::now() >= deadline {
            metrics::record_fetch(bytes);
            record_topic_bytes(&slices);
            return attach_records(response, slices);
        }
        // Long poll: only appends to the partitions asked for wake us.
        if tokio::time::timeout_at(deadline, any_changed(&mut waiters))
            .await
            .is_err()
        {
            let (response, slices, bytes, _) =
                blocking(|| read_once(broker, ctx, &req, &mut Vec::new()));
            metrics::record_fetch(bytes);
            record_topic_bytes(&slices);
            return attach_records(response, slices);
        }
    }
}

/// Resolves when any of the receivers sees a new value (or its partition
/// went away, which a re-read reports).
pub(super) async fn any_changed(waiters: &mut [watch::Receiver<i64>]) {
    if waiters.is_empty() {
        return std::future::pending().await;
    }
    let mut changes: Vec<_> = waiters.iter_mut().map(|w| Box::pin(w.changed())).collect();
    std::future::poll_fn(|cx| {
        for change in changes.iter_mut() {
            if change.as_mut().poll(cx).is_ready() {
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// Where each partition's records are: (topic index, partition index) in
/// the response, and the bytes in the log.
/// Each slice at its topic and partition index in the response, with the
/// partition it came from (whose probe counts the bytes sent).
type Slices = Vec<(usize, usize, FileSlice, Arc<Partition>)>;

/// Puts the records into the response that is sent: a placeholder for a
/// zero-copy send where the connection can (see `protocol::zero_copy`),
/// else the bytes. In encoding order, as `zero_copy::defer` requires.
fn attach_records(mut response: FetchResponse, slices: Slices) -> FetchResponse {
    for (t, p, slice, _) in slices {
        let records = zero_copy::defer(&slice).unwrap_or_else(|| match slice.read() {
            Ok(bytes) => bytes,
            Err(e) => {
                // Only a truncation racing the read shrinks a file: the
                // consumer retries from the same offset.
                tracing::debug!(error = %e, ?slice, "fetch read failed");
                Default::default()
            }
        });
        response.responses[t].partitions[p].records = Some(records);
    }
    response
}

/// Bytes out per topic: each slice a response carries, on its partition's
/// probe (registered once per partition, so nothing is looked up or
/// allocated per fetch).
fn record_topic_bytes(slices: &Slices) {
    for (_, _, slice, part) in slices {
        part.record_fetched(slice.len());
    }
}

/// One pass over the requested partitions. Returns the response (records
/// not attached yet), where its records are, their bytes, and whether any
/// partition carried an error.
/// Each partition read is first subscribed to in `waiters`, so an append
/// that lands after its read wakes the long poll.
fn read_once(
    broker: &Broker,
    ctx: &RequestContext,
    req: &FetchRequest,
    waiters: &mut Vec<watch::Receiver<i64>>,
) -> (FetchResponse, Slices, usize, bool) {
    let version = ctx.api_version;
    let image = broker.metadata.current();
    let follower = follower_of(req, version);
    let now_ms = crate::now_ms();
    let mut hints = LeaderHints::default();
    let mut remaining = if req.max_bytes <= 0 {
        i32::MAX as usize
    } else {
        req.max_bytes as usize
    };
    let mut total = 0usize;
    let mut any_error = false;
    let mut diverged = false;
    // No transactions yet, so none was aborted: read_committed gets an empty
    // list, read_uncommitted none at all, as Kafka answers.
    let aborted = (req.isolation_level == 1).then(Vec::new);
    let mut topics = Vec::with_capacity(req.topics.len());
    let mut slices = Slices::new();
    for (ti, t) in req.topics.iter().enumerate() {
        // v13+ names topics by id.
        let name: Option<&str> = if version >= 13 {
            image.topic_by_id(&t.topic_id).map(|ti| ti.name.as_str())
        } else {
            Some(t.topic.0.as_str())
        };
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for (pi, p) in t.partitions.iter().enumerate() {
            let mut data = PartitionData::default().with_partition_index(p.partition);
            let mut out_of_range_at = None;
            let result = match name {
                None => Err(ApiError::UnknownTopicId),
                Some(name) => {
                    match broker.replicas.leader(&image, name, p.partition) {
                        Err(e) => Err(ApiError::from(e)),
                        Ok(part) => match follower {
                            Some((replica_id, broker_epoch)) => {
                                waiters.push(part.subscribe_log_end());
                                let limit = (p.partition_max_bytes.max(0) as usize).min(remaining);
                                let fetch = FollowerFetch {
                                    replica_id,
                                    broker_epoch,
                                    current_leader_epoch: (p.current_leader_epoch >= 0)
                                        .then_some(LeaderEpoch(p.current_leader_epoch)),
                                    fetch_offset: Offset(p.fetch_offset),
                                    log_start_offset: Offset(p.log_start_offset),
                                };
                                let last_fetched_epoch = if version >= 12 {
                                    p.last_fetched_epoch
                                } else {
                                    -1
                                };
                                match part.read_for_follower(
                                    &fetch,
                                    last_fetched_epoch,
                                    limit,
                                    now_ms,
                                ) {
                                    Ok(read) => {
                                        data.high_watermark = read.high_watermark;
                                        data.last_stable_offset = read.high_watermark;
                                        data.log_start_offset = read.log_start_offset;
                                        if let Some((epoch, end_offset)) = read.diverging {
                                            data.diverging_epoch = EpochEndOffset::default()
                                                .with_epoch(epoch)
                                                .with_end_offset(end_offset);
                                            // Answered now: nothing to wait for.
                                            diverged = true;
                                        }
                                        if let Some(request) = read.alter_partition {
                                            broker
                                                .replicas
                                                .send_alter_partition(part.clone(), request);
                                        }
                                        Ok(read.slice.map(|s| (s, Arc::clone(&part))))
                                    }
                                    Err(e) => {
                                        if matches!(
                                            e,
                                            crate::partition::ReplicaError::OffsetOutOfRange
                                        ) {
                                            // Where the follower is to start again.
                                            out_of_range_at = Some((
                                                part.high_watermark(),
                                                part.log_start_offset(),
                                            ));
                                        }
                                        Err(ApiError::from(e))
                                    }
                                }
                            }
                            None => {
                                let high_watermark = part.high_watermark();
                                data.high_watermark = high_watermark;
                                data.last_stable_offset = high_watermark;
                                data.log_start_offset = part.log_start_offset();
                                waiters.push(part.subscribe_high_watermark());
                                // Kafka's `ReplicaManager.readFromLocalLog`: each
                                // partition reads at most its own limit and what is
                                // left of the response's; only until the first
                                // partition that returns data may a batch larger
                                // than that come whole (KIP-74).
                                let limit = (p.partition_max_bytes.max(0) as usize).min(remaining);
                                let min_one_message = total == 0;
                                part.check_leader_epoch(p.current_leader_epoch)
                            .map_err(ApiError::from)
                            .and_then(|()| {
                                if version < 10 && part.log.config().compression == Some(CompressionCodec::Zstd) {
                                    return Err(ApiError::UnsupportedCompressionType(
                                        "fetch requests below version 10 cannot read a zstd topic".into(),
                                    ));
                                }
                                part.fetch_slice(p.fetch_offset, limit, min_one_message)
                                    .map(|info| info.slice.map(|s| (s, Arc::clone(&part))))
                                    .map_err(ApiError::from)
                            })
                            }
                        },
                    }
                }
            };
            match result {
                Ok(Some((slice, part))) => {
                    let n = slice.len();
                    total += n;
                    remaining = remaining.saturating_sub(n);
                    slices.push((ti, pi, slice, part));
                    data = data
                        .with_records(Some(Default::default()))
                        .with_aborted_transactions(aborted.clone());
                }
                Ok(None) => {
                    data = data
                        .with_records(Some(Default::default()))
                        .with_aborted_transactions(aborted.clone());
                }
                Err(e) => {
                    any_error = true;
                    tracing::debug!(topic = ?name, partition = p.partition, offset = p.fetch_offset, error = %e, "fetch partition error");
                    if version >= 16
                        && let Some(name) = name
                        && let Some((leader_id, leader_epoch)) =
                            hints.hint(broker, &image, &ctx.listener_name, (name, p.partition), &e)
                    {
                        data.current_leader = LeaderIdAndEpoch::default()
                            .with_leader_id(BrokerId(leader_id))
                            .with_leader_epoch(leader_epoch);
                    }
                    // As Kafka: an errored partition reports no offsets;
                    // but a follower out of range is told where the
                    // leader's log is (a Runnel leader's courtesy to its
                    // own followers, which need no ListOffsets then).
                    let (hw, start) = out_of_range_at.unwrap_or((-1, -1));
                    data = data
                        .with_error_code(e.code())
                        .with_high_watermark(hw)
                        .with_last_stable_offset(hw)
                        .with_log_start_offset(start)
                        .with_records(Some(Default::default()))
                        .with_aborted_transactions(errored_aborted_transactions(&e));
                }
            }
            partitions.push(data);
        }
        let mut topic = FetchableTopicResponse::default().with_partitions(partitions);
        if version >= 13 {
            topic = topic.with_topic_id(t.topic_id);
        } else {
            topic = topic.with_topic(t.topic.clone());
        }
        topics.push(topic);
    }
    let node_endpoints = node_endpoints!(hints, NodeEndpoint);
    let response = FetchResponse::default()
        .with_session_id(0)
        .with_responses(topics)
        .with_node_endpoints(node_endpoints);
    (response, slices, total, any_error || diverged)
}

/// The follower a Fetch comes from, with its broker epoch: the replica id
/// is in the header fields before v15 and in `ReplicaState` from v15
/// (KIP-903); a consumer's is -1.
fn follower_of(req: &FetchRequest, version: i16) -> Option<(CoreBrokerId, BrokerEpoch)> {
    if version >= 15 {
        let state = &req.replica_state;
        (state.replica_id.0 >= 0).then_some((
            CoreBrokerId(state.replica_id.0),
            BrokerEpoch(state.replica_epoch),
        ))
    } else {
        (req.replica_id.0 >= 0).then_some((CoreBrokerId(req.replica_id.0), BrokerEpoch::NONE))
    }
}

/// What an errored partition reports as aborted transactions: Kafka
/// answers errors it finds before reading (unknown topic, partition or
/// topic id; a zstd topic for an old version) with an empty list, and
/// errors of the read itself with none.
fn errored_aborted_transactions(
    e: &ApiError,
) -> Option<Vec<kafka_protocol::messages::fetch_response::AbortedTransaction>> {
    match e {
        ApiError::UnknownTopicOrPartition
        | ApiError::NotLeaderOrFollower { .. }
        | ApiError::UnknownTopicId
        | ApiError::UnsupportedCompressionType(_) => Some(Vec::new()),
        _ => None,
    }
}
