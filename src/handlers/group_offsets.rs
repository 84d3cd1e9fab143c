//! Committed offsets: OffsetCommit, OffsetFetch (one group before v8, a
//! batch of groups from v8) and OffsetDelete. OffsetCommit and OffsetDelete
//! answer partitions of topics that do not exist UNKNOWN_TOPIC_OR_PARTITION,
//! as Kafka does, and never pass them to the coordinator; OffsetFetch, like
//! Kafka, answers them as partitions without a committed offset.

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    GroupId, OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse, TopicName,
};

use super::Broker;
use super::{RequestContext, str_bytes};
use crate::coordinator::offsets::{CommitInput, PartitionCommit};
use crate::coordinator::record::OffsetAndMetadata;
use crate::coordinator::service::PartitionResults;
use crate::metadata::MetadataImage;
use crate::protocol::ApiError;

fn partition_exists(image: &MetadataImage, topic: &str, partition: i32) -> bool {
    image
        .topic(topic)
        .is_some_and(|t| t.partitions.contains_key(&partition))
}

/// Splits a request's partitions: those of existing topics become
/// `known(topic, partition, entry)`; the others are answered
/// UNKNOWN_TOPIC_OR_PARTITION in `results`, as Kafka does.
fn split_known<'a, E, K>(
    image: &MetadataImage,
    partitions: impl Iterator<Item = (&'a str, i32, E)>,
    results: &mut PartitionResults,
    known: impl Fn(String, i32, E) -> K,
) -> Vec<K> {
    let mut out = Vec::new();
    for (topic, partition, entry) in partitions {
        if partition_exists(image, topic, partition) {
            out.push(known(topic.to_string(), partition, entry));
        } else {
            results.push((
                topic.to_string(),
                partition,
                Err(ApiError::UnknownTopicOrPartition),
            ));
        }
    }
    out
}

/// Groups per-partition results by topic, keeping the request's order.
fn by_topic<T>(results: Vec<(String, i32, T)>) -> Vec<(String, Vec<(i32, T)>)> {
    let mut topics: Vec<(String, Vec<(i32, T)>)> = Vec::new();
    for (topic, partition, r) in results {
        match topics.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, ps)) => ps.push((partition, r)),
            None => topics.push((topic, vec![(partition, r)])),
        }
    }
    topics
}

pub async fn offset_commit(
    broker: &Broker,
    ctx: &RequestContext,
    req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let v = ctx.api_version;
    let group_id = req.group_id.0.to_string();
    let image = broker.metadata.current();
    let mut results: PartitionResults = Vec::new();
    let commits = split_known(
        &image,
        req.topics.iter().flat_map(|t| {
            let name = t.name.0.as_str();
            t.partitions
                .iter()
                .map(move |p| (name, p.partition_index, p))
        }),
        &mut results,
        |topic, partition, p| PartitionCommit {
            topic,
            partition,
            committed_offset: p.committed_offset,
            leader_epoch: (v >= 6 && p.committed_leader_epoch >= 0)
                .then_some(p.committed_leader_epoch),
            metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
        },
    );
    // The empty group id is a group like any other here, as in Kafka ("for
    // backwards compatibility, we support offset commits for the empty
    // groupId").
    let outcome = if commits.is_empty() {
        Ok(Vec::new())
    } else {
        let input = CommitInput {
            member_id: req.member_id.to_string(),
            group_instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
            generation_id: req.generation_id_or_member_epoch,
            partitions: commits.clone(),
        };
        broker.groups.commit(&group_id, input, v).await
    };
    match outcome {
        Ok(committed) => results.extend(committed),
        Err(e) => {
            tracing::debug!(group_id, error = %e, "OffsetCommit refused");
            results.extend(
                commits
                    .into_iter()
                    .map(|c| (c.topic, c.partition, Err(e.clone()))),
            );
        }
    }
    let topics = by_topic(results)
        .into_iter()
        .map(|(topic, partitions)| {
            OffsetCommitResponseTopic::default()
                .with_name(TopicName(str_bytes(topic)))
                .with_partitions(
                    partitions
                        .into_iter()
                        .map(|(p, r)| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p)
                                .with_error_code(r.err().map_or(0, |e| e.code()))
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

/// One group's answer: `(topic, partition, committed or None, error)`.
type FetchedGroup = Vec<(String, i32, Option<OffsetAndMetadata>, i16)>;

/// As Kafka's `OffsetMetadataManager.fetchOffsets`: a partition without a
/// committed offset, whether or not its topic exists, is answered offset -1
/// with no error (a Java consumer treats UNKNOWN_TOPIC_OR_PARTITION here as
/// fatal), and the empty group id is a group like any other. `Err` (not
/// this group's coordinator, or still loading it) is the group's error.
async fn fetch_group(
    broker: &Broker,
    group_id: &str,
    requested: Option<Vec<(String, i32)>>,
) -> Result<FetchedGroup, ApiError> {
    let fetched = broker.groups.fetch_offsets(group_id, requested).await;
    if let Err(e) = &fetched {
        tracing::debug!(group_id, error = %e, "OffsetFetch refused");
    }
    Ok(fetched?.into_iter().map(|(t, p, o)| (t, p, o, 0)).collect())
}

pub async fn offset_fetch(
    broker: &Broker,
    ctx: &RequestContext,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let v = ctx.api_version;
    if v >= 8 {
        let mut groups = Vec::with_capacity(req.groups.len());
        for g in req.groups {
            let requested = g.topics.map(|topics| {
                topics
                    .into_iter()
                    .flat_map(|t| {
                        let name = t.name.0.to_string();
                        t.partition_indexes
                            .into_iter()
                            .map(move |p| (name.clone(), p))
                    })
                    .collect()
            });
            let group = match fetch_group(broker, g.group_id.as_str(), requested).await {
                Ok(fetched) => group_response(g.group_id, fetched),
                Err(e) => OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id)
                    .with_error_code(e.code()),
            };
            groups.push(group);
        }
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let requested = req.topics.map(|topics| {
        topics
            .into_iter()
            .flat_map(|t| {
                let name = t.name.0.to_string();
                t.partition_indexes
                    .into_iter()
                    .map(move |p| (name.clone(), p))
            })
            .collect()
    });
    let (partitions, error) =
        match fetch_group(broker, req.group_id.as_str(), requested.clone()).await {
            Ok(partitions) => (partitions, 0),
            // v2 has the group's error at the top; v0-1 only per partition.
            Err(e) => (
                requested
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(t, p)| (t, p, None, e.code()))
                    .collect(),
                e.code(),
            ),
        };
    let topics = build_topics(
        partitions,
        |name, ps| {
            OffsetFetchResponseTopic::default()
                .with_name(name)
                .with_partitions(ps)
        },
        |p| {
            let r = OffsetFetchResponsePartition::default()
                .with_partition_index(p.index)
                .with_error_code(p.error_code)
                .with_committed_offset(p.offset)
                .with_metadata(Some(str_bytes(p.metadata)));
            // The leader epoch arrived in v5.
            if v >= 5 {
                r.with_committed_leader_epoch(p.leader_epoch)
            } else {
                r
            }
        },
    );
    let response = OffsetFetchResponse::default().with_topics(topics);
    if v >= 2 {
        response.with_error_code(error)
    } else {
        response
    }
}

/// One partition of an OffsetFetch answer.
struct FetchedPartition {
    index: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: String,
    error_code: i16,
}

/// Groups a group's partitions by topic and builds the version's topic and
/// partition entries with `topic` and `partition`.
fn build_topics<T, P>(
    partitions: Vec<(String, i32, Option<OffsetAndMetadata>, i16)>,
    topic: impl Fn(TopicName, Vec<P>) -> T,
    partition: impl Fn(FetchedPartition) -> P,
) -> Vec<T> {
    by_topic(
        partitions
            .into_iter()
            .map(|(t, p, o, code)| (t, p, (o, code)))
            .collect(),
    )
    .into_iter()
    .map(|(name, ps)| {
        let entries = ps
            .into_iter()
            .map(|(index, (o, error_code))| {
                let (offset, leader_epoch, metadata) = match o {
                    Some(o) => (o.committed_offset, o.leader_epoch.unwrap_or(-1), o.metadata),
                    None => (-1, -1, String::new()),
                };
                partition(FetchedPartition {
                    index,
                    offset,
                    leader_epoch,
                    metadata,
                    error_code,
                })
            })
            .collect();
        topic(TopicName(str_bytes(name)), entries)
    })
    .collect()
}

fn group_response(group_id: GroupId, partitions: FetchedGroup) -> OffsetFetchResponseGroup {
    let topics = build_topics(
        partitions,
        |name, ps| {
            OffsetFetchResponseTopics::default()
                .with_name(name)
                .with_partitions(ps)
        },
        |p| {
            OffsetFetchResponsePartitions::default()
                .with_partition_index(p.index)
                .with_error_code(p.error_code)
                .with_committed_offset(p.offset)
                .with_committed_leader_epoch(p.leader_epoch)
                .with_metadata(Some(str_bytes(p.metadata)))
        },
    );
    OffsetFetchResponseGroup::default()
        .with_group_id(group_id)
        .with_topics(topics)
}

pub async fn offset_delete(broker: &Broker, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let group_id = req.group_id.0.to_string();
    let image = broker.metadata.current();
    let mut results: PartitionResults = Vec::new();
    let known = split_known(
        &image,
        req.topics.iter().flat_map(|t| {
            let name = t.name.0.as_str();
            t.partitions
                .iter()
                .map(move |p| (name, p.partition_index, ()))
        }),
        &mut results,
        |topic, partition, ()| (topic, partition),
    );
    let outcome = if group_id.is_empty() {
        Err(ApiError::InvalidGroupId)
    } else {
        broker.groups.delete_offsets(&group_id, known).await
    };
    match outcome {
        Err(e) => {
            tracing::debug!(group_id, error = %e, "OffsetDelete refused");
            OffsetDeleteResponse::default().with_error_code(e.code())
        }
        Ok(deleted) => {
            results.extend(deleted);
            let topics = by_topic(results)
                .into_iter()
                .map(|(topic, ps)| {
                    OffsetDeleteResponseTopic::default()
                        .with_name(TopicName(str_bytes(topic)))
                        .with_partitions(
                            ps.into_iter()
                                .map(|(p, r)| {
                                    OffsetDeleteResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_error_code(r.err().map_or(0, |e| e.code()))
                                })
                                .collect(),
                        )
                })
                .collect();
            OffsetDeleteResponse::default().with_topics(topics)
        }
    }
}
