//! CreateTopics, DeleteTopics, CreatePartitions: requests turned into
//! controller decisions ([`crate::controller::topics`]).

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, TopicName,
};
use uuid::Uuid;

use super::str_bytes;
use super::{Broker, RequestContext};
use crate::config::topic::describe_topic_configs;
use crate::controller::channel::{CreatePartitions, CreateTopics};
use crate::controller::topics::{NewTopic, PartitionIncrease, TopicRef};
use crate::protocol::ApiError;
use crate::protocol::versions::ListenerKind;

/// CreateTopics. A client may not create an internal topic; a broker may,
/// for its coordinators: directly on a controller listener, or forwarding
/// its own auto-creation of one (an Envelope).
pub async fn create_topics(
    broker: &Broker,
    ctx: &RequestContext,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let version = ctx.api_version;
    let new: Vec<NewTopic> = req
        .topics
        .iter()
        .map(|t| NewTopic {
            name: t.name.0.to_string(),
            num_partitions: t.num_partitions,
            replication_factor: t.replication_factor,
            assignments: t
                .assignments
                .iter()
                .map(|a| {
                    (
                        a.partition_index,
                        a.broker_ids.iter().map(|b| b.0).collect(),
                    )
                })
                .collect(),
            configs: t
                .configs
                .iter()
                .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
                .collect(),
        })
        .collect();
    let validate_only = req.validate_only;
    let decided = broker
        .controller
        .create_topics(CreateTopics {
            topics: new.clone(),
            validate_only,
            internal: ctx.forwarded || ctx.listener_kind == ListenerKind::Controller,
        })
        .await;
    let results = match decided {
        Ok(r) => super::errors::entries(r),
        Err(e) => new.iter().map(|_| Err(ApiError::from(e.clone()))).collect(),
    };
    let topics = new
        .iter()
        .zip(results)
        .map(|(t, r)| {
            let base = CreatableTopicResult::default().with_name(TopicName(str_bytes(t.name.clone())));
            match r {
                Ok(created) => {
                    tracing::info!(topic = %t.name, partitions = created.num_partitions, validate_only, "created topic");
                    // Kafka sends a null message on success, not an empty one.
                    let mut res = base
                        .with_error_message(None)
                        .with_topic_id(if validate_only { Uuid::nil() } else { created.topic_id })
                        .with_num_partitions(created.num_partitions)
                        .with_replication_factor(created.replication_factor);
                    if version >= 5 {
                        let configs = describe_topic_configs(&created.configs, &broker.effective_config())
                            .into_iter()
                            .map(|c| {
                                CreatableTopicConfigs::default()
                                    .with_name(str_bytes(c.name))
                                    .with_value(c.value.map(str_bytes))
                                    .with_read_only(c.read_only)
                                    .with_config_source(c.source.code())
                                    .with_is_sensitive(c.is_sensitive)
                            })
                            .collect();
                        res = res.with_configs(Some(configs));
                    }
                    res
                }
                Err(e) => {
                    tracing::debug!(topic = %t.name, error = %e, "create topic refused");
                    base.with_error_code(e.code())
                        .with_error_message(Some(str_bytes(e.message())))
                        .with_num_partitions(-1)
                        .with_replication_factor(-1)
                }
            }
        })
        .collect();
    CreateTopicsResponse::default()
        .with_topics(one_result_per_name(topics, |t| t.name.0.to_string()))
}

/// Kafka answers a topic named twice in one request once (its responses are
/// keyed by name): keep the first result for each name.
fn one_result_per_name<T>(results: Vec<T>, name: impl Fn(&T) -> String) -> Vec<T> {
    let mut seen = std::collections::HashSet::new();
    results
        .into_iter()
        .filter(|r| seen.insert(name(r)))
        .collect()
}

pub async fn delete_topics(
    broker: &Broker,
    version: i16,
    req: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    // v6 names topics in `topics` (by name or id); earlier versions in `topic_names`.
    let refs: Vec<TopicRef> = if version >= 6 {
        req.topics
            .iter()
            .map(|t| match &t.name {
                Some(n) => TopicRef::Name(n.0.to_string()),
                None => TopicRef::Id(t.topic_id),
            })
            .collect()
    } else {
        req.topic_names
            .iter()
            .map(|n| TopicRef::Name(n.0.to_string()))
            .collect()
    };
    let results = match broker.controller.delete_topics(refs.clone()).await {
        Ok(r) => super::errors::entries(r),
        Err(e) => refs
            .iter()
            .map(|_| Err(ApiError::from(e.clone())))
            .collect(),
    };
    let responses =
        refs.iter()
            .zip(results)
            .map(|(r, res)| {
                let base = match r {
                    TopicRef::Name(n) => DeletableTopicResult::default()
                        .with_name(Some(TopicName(str_bytes(n.clone())))),
                    TopicRef::Id(id) => DeletableTopicResult::default().with_topic_id(*id),
                };
                match res {
                    Ok((name, id)) => {
                        tracing::info!(topic = %name, "deleted topic");
                        base.with_name(Some(TopicName(str_bytes(name))))
                            .with_topic_id(id)
                    }
                    Err(e) => base
                        .with_error_code(e.code())
                        .with_error_message(Some(str_bytes(e.message()))),
                }
            })
            .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

pub async fn create_partitions(
    broker: &Broker,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let incs: Vec<PartitionIncrease> = req
        .topics
        .iter()
        .map(|t| PartitionIncrease {
            name: t.name.0.to_string(),
            count: t.count,
            assignments: t
                .assignments
                .as_ref()
                .map(|a| {
                    a.iter()
                        .map(|x| x.broker_ids.iter().map(|b| b.0).collect())
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    let results = match broker
        .controller
        .create_partitions(CreatePartitions {
            increases: incs.clone(),
            validate_only: req.validate_only,
        })
        .await
    {
        Ok(r) => super::errors::entries(r),
        Err(e) => incs
            .iter()
            .map(|_| Err::<(), ApiError>(ApiError::from(e.clone())))
            .collect(),
    };
    let results = incs
        .iter()
        .zip(results)
        .map(|(inc, r)| {
            let base = CreatePartitionsTopicResult::default()
                .with_name(TopicName(str_bytes(inc.name.clone())));
            match r {
                Ok(()) => base.with_error_message(None),
                // Kafka names no reason for an unknown topic here.
                Err(e @ ApiError::UnknownTopicOrPartition) => {
                    base.with_error_code(e.code()).with_error_message(None)
                }
                Err(e) => base
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(e.message()))),
            }
        })
        .collect();
    CreatePartitionsResponse::default()
        .with_results(one_result_per_name(results, |r| r.name.0.to_string()))
}
