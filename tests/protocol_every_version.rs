//! Every advertised version of every API, against a real broker: each
//! version gets a realistic request and must answer a response that decodes
//! as that same version, with the per-entity error codes Kafka gives.
//!
//! The codec refuses to encode a non-ignorable field set in a version that
//! lacks it; the broker then closes the connection instead of answering.
//! These sweeps exist to find every such case, so each one collects all
//! failing versions and reports them together (with the broker's log lines
//! about closed connections).

mod common;

use bytes::Bytes;
use common::*;
use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::describe_topic_partitions_request::TopicRequest;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::incremental_alter_configs_request as iac;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::*;
use runnel::log::testing::{make_batch, make_value_batch};
use runnel::protocol::versions::{PRODUCE_REFUSED_BELOW, supported_range};
use uuid::Uuid;

const NONE: i16 = 0;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const TOPIC_ALREADY_EXISTS: i16 = 36;
const INVALID_PARTITIONS: i16 = 37;
const INVALID_REPLICATION_FACTOR: i16 = 38;
const INVALID_CONFIG: i16 = 40;
const UNKNOWN_LEADER_EPOCH: i16 = 75;
const UNKNOWN_TOPIC_ID: i16 = 100;

/// DescribeConfigs config sources.
const SOURCE_DYNAMIC_TOPIC: i8 = 1;
const SOURCE_DEFAULT: i8 = 5;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

/// The handled versions of `key` (Produce v0-2 are advertised but refused).
fn versions(key: ApiKey) -> std::ops::RangeInclusive<i16> {
    let r = supported_range(key).expect("API is served");
    let min = if key == ApiKey::Produce {
        PRODUCE_REFUSED_BELOW
    } else {
        r.min
    };
    min..=r.max
}

/// Runs `f` for each handled version on a fresh connection and reports
/// every failing version at once.
fn sweep(key: ApiKey, mut f: impl FnMut(&mut Client, i16) -> Result<(), String>) {
    let broker = shared_broker();
    let mut failures = Failures::new(&format!("{key:?}"));
    for v in versions(key) {
        let mut c = broker.connect();
        failures.check(v, f(&mut c, v));
    }
    failures.finish(broker);
}

fn metadata_request(version: i16, names: &[&str]) -> MetadataRequest {
    let req = MetadataRequest::default().with_topics(Some(
        names
            .iter()
            .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
            .collect(),
    ));
    if version >= 4 {
        req.with_allow_auto_topic_creation(false)
    } else {
        req
    }
}

/// Partition count of `name` as Metadata v12 sees it (None: unknown topic).
fn partition_count(c: &mut Client, name: &str) -> Option<usize> {
    let resp = c.call(&metadata_request(12, &[name]), 12);
    let t = &resp.topics[0];
    (t.error_code == NONE).then_some(t.partitions.len())
}

#[test]
fn metadata_every_version() {
    let broker = shared_broker();
    let topic = unique_topic("md");
    let missing = unique_topic("md-missing");
    create_topic(&mut broker.connect(), &topic, 2);
    let id = topic_id(&mut broker.connect(), &topic);
    sweep(ApiKey::Metadata, |c, v| {
        let resp = c
            .try_call(&metadata_request(v, &[&topic, &missing]), v)
            .map_err(call_err("named topics"))?;
        ensure_eq!(resp.brokers.len(), 1, "brokers");
        ensure_eq!(resp.brokers[0].node_id.0, 1, "broker node_id");
        ensure_eq!(resp.brokers[0].port, i32::from(broker.port), "broker port");
        ensure_eq!(resp.brokers[0].host.as_str(), "127.0.0.1", "broker host");
        if v >= 1 {
            ensure_eq!(resp.controller_id.0, 1, "controller_id");
        }
        if v >= 2 {
            ensure!(
                resp.cluster_id.as_ref().is_some_and(|c| !c.is_empty()),
                "cluster_id missing: {:?}",
                resp.cluster_id
            );
        }
        ensure_eq!(resp.topics.len(), 2, "topics");
        let t = &resp.topics[0];
        ensure_eq!(
            t.name.as_ref().map(|n| n.0.to_string()),
            Some(topic.clone()),
            "first topic name"
        );
        ensure_eq!(t.error_code, NONE, "existing topic error");
        ensure_eq!(t.partitions.len(), 2, "partitions");
        let mut indexes: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
        indexes.sort();
        ensure_eq!(indexes, vec![0, 1], "partition indexes");
        for p in &t.partitions {
            ensure_eq!(p.error_code, NONE, "partition error");
            ensure_eq!(p.leader_id.0, 1, "leader");
            ensure_eq!(
                p.replica_nodes.iter().map(|b| b.0).collect::<Vec<_>>(),
                vec![1],
                "replicas"
            );
            ensure_eq!(
                p.isr_nodes.iter().map(|b| b.0).collect::<Vec<_>>(),
                vec![1],
                "isr"
            );
            if v >= 7 {
                ensure!(p.leader_epoch >= 0, "leader_epoch {}", p.leader_epoch);
            }
        }
        if v >= 1 {
            ensure!(!t.is_internal, "is_internal");
        }
        if v >= 10 {
            ensure_eq!(t.topic_id, id, "topic_id");
        }
        let m = &resp.topics[1];
        ensure_eq!(
            m.error_code,
            UNKNOWN_TOPIC_OR_PARTITION,
            "missing topic error"
        );

        // Every topic: an empty list in v0, null from v1.
        let all = if v == 0 {
            MetadataRequest::default().with_topics(Some(vec![]))
        } else {
            let r = MetadataRequest::default().with_topics(None);
            if v >= 4 {
                r.with_allow_auto_topic_creation(false)
            } else {
                r
            }
        };
        let resp = c.try_call(&all, v).map_err(call_err("all topics"))?;
        ensure!(
            resp.topics
                .iter()
                .any(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic)),
            "all-topics answer lacks {topic}"
        );
        Ok(())
    });
}

#[test]
fn metadata_reports_invalid_topic_names() {
    let mut c = shared_broker().connect();
    for v in [1, 9, 12] {
        let resp = c.call(&metadata_request(v, &["bad/name"]), v);
        assert_eq!(resp.topics[0].error_code, INVALID_TOPIC_EXCEPTION, "v{v}");
    }
}

#[test]
fn produce_every_version_then_fetch_every_version() {
    let broker = shared_broker();
    let topic = unique_topic("pf");
    let missing = unique_topic("pf-missing");
    create_topic(&mut broker.connect(), &topic, 1);
    let id = topic_id(&mut broker.connect(), &topic);

    // Produce one 3-record batch per version (alternating acks 1 and -1),
    // and one batch to a missing topic.
    let mut expected_offset = 0i64;
    let mut produced = Vec::new();
    sweep(ApiKey::Produce, |c, v| {
        let acks = if v % 2 == 0 { -1 } else { 1 };
        let batch = make_batch(
            &[
                (Some(b"k0"), Some(b"v0")),
                (None, Some(b"v1")),
                (Some(b"k2"), None),
            ],
            1_000 + i64::from(v),
            None,
        );
        let p = try_produce(c, v, &topic, 0, batch, acks).map_err(call_err("produce"))?;
        ensure_eq!(p.error_code, NONE, "produce error");
        ensure_eq!(p.index, 0, "partition index");
        ensure_eq!(p.base_offset, expected_offset, "base_offset");
        ensure_eq!(
            p.log_append_time_ms,
            -1,
            "log_append_time_ms (CreateTime topic)"
        );
        if v >= 5 {
            ensure_eq!(p.log_start_offset, 0, "log_start_offset");
        }
        produced.push(expected_offset);
        expected_offset += 3;

        let p = try_produce(c, v, &missing, 0, make_value_batch(1, 10, 0), 1)
            .map_err(call_err("produce to a missing topic"))?;
        ensure_eq!(
            p.error_code,
            UNKNOWN_TOPIC_OR_PARTITION,
            "missing topic error"
        );
        Ok(())
    });
    let total = expected_offset;
    assert_eq!(total, 27, "9 produce versions of 3 records");

    sweep(ApiKey::Fetch, |c, v| {
        let d = try_fetch(c, v, &topic, id, 0, 0).map_err(call_err("fetch"))?;
        ensure_eq!(d.error_code, NONE, "fetch error");
        ensure_eq!(d.high_watermark, total, "high_watermark");
        ensure_eq!(d.last_stable_offset, total, "last_stable_offset");
        if v >= 5 {
            ensure_eq!(d.log_start_offset, 0, "log_start_offset");
        }
        let records = d.records.clone().unwrap_or_default();
        let got = batches(&records);
        ensure_eq!(
            got.iter().map(|b| b.base_offset).collect::<Vec<_>>(),
            produced,
            "batch base offsets"
        );
        ensure!(
            got.iter().all(|b| b.record_count == 3 && b.magic == 2),
            "batches {got:?}"
        );

        // From the middle of a batch Kafka returns the whole batch.
        let d = try_fetch(c, v, &topic, id, 0, 4).map_err(call_err("fetch mid-batch"))?;
        let got = batches(&d.records.unwrap_or_default());
        ensure_eq!(
            got.first().map(|b| b.base_offset),
            Some(3),
            "mid-batch fetch"
        );

        // At the end: nothing, no error.
        let d = try_fetch(c, v, &topic, id, 0, total).map_err(call_err("fetch at end"))?;
        ensure_eq!(d.error_code, NONE, "fetch at log end error");
        ensure_eq!(
            record_count(&d.records.unwrap_or_default()),
            0,
            "records at end"
        );

        // Past the end.
        let d = try_fetch(c, v, &topic, id, 0, total + 10).map_err(call_err("fetch past end"))?;
        ensure_eq!(d.error_code, OFFSET_OUT_OF_RANGE, "fetch past the end");

        // A partition the topic does not have.
        let d = try_fetch(c, v, &topic, id, 7, 0).map_err(call_err("fetch missing partition"))?;
        ensure_eq!(
            d.error_code,
            UNKNOWN_TOPIC_OR_PARTITION,
            "missing partition"
        );

        // A topic that does not exist (by name before v13, by id after).
        let d = try_fetch(c, v, &missing, Uuid::new_v4(), 0, 0)
            .map_err(call_err("fetch missing topic"))?;
        let want = if v >= 13 {
            UNKNOWN_TOPIC_ID
        } else {
            UNKNOWN_TOPIC_OR_PARTITION
        };
        ensure_eq!(d.error_code, want, "missing topic");
        Ok(())
    });
}

/// A fetch of two partitions of one topic in one request, at every version.
#[test]
fn fetch_two_partitions_in_one_request() {
    let broker = shared_broker();
    let topic = unique_topic("fetch2");
    let mut c = broker.connect();
    create_topic(&mut c, &topic, 2);
    let id = topic_id(&mut c, &topic);
    produce(&mut c, 9, &topic, 0, make_value_batch(2, 8, 10), 1);
    produce(&mut c, 9, &topic, 1, make_value_batch(5, 8, 10), 1);
    sweep(ApiKey::Fetch, |c, v| {
        let parts = (0..2)
            .map(|p| {
                FetchPartition::default()
                    .with_partition(p)
                    .with_fetch_offset(0)
                    .with_partition_max_bytes(1 << 20)
            })
            .collect();
        let t = FetchTopic::default().with_partitions(parts);
        let t = if v >= 13 {
            t.with_topic_id(id)
        } else {
            t.with_topic(topic_name(&topic))
        };
        let req = FetchRequest::default()
            .with_max_wait_ms(100)
            .with_min_bytes(1)
            .with_topics(vec![t]);
        let resp = c.try_call(&req, v).map_err(call_err("fetch"))?;
        ensure_eq!(resp.error_code, NONE, "top-level error");
        ensure_eq!(resp.responses.len(), 1, "topics");
        let t = &resp.responses[0];
        if v >= 13 {
            ensure_eq!(t.topic_id, id, "topic_id");
        } else {
            ensure_eq!(t.topic.0.as_str(), topic.as_str(), "topic");
        }
        let counts: Vec<(i32, i64)> = t
            .partitions
            .iter()
            .map(|p| {
                (
                    p.partition_index,
                    record_count(p.records.as_deref().unwrap_or_default()),
                )
            })
            .collect();
        ensure_eq!(counts, vec![(0, 2), (1, 5)], "records per partition");
        Ok(())
    });
}

fn list_offsets_request(v: i16, topic: &str, queries: &[(i32, i64)]) -> ListOffsetsRequest {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(
                    queries
                        .iter()
                        .map(|&(p, ts)| {
                            ListOffsetsPartition::default()
                                .with_partition_index(p)
                                .with_timestamp(ts)
                        })
                        .collect(),
                ),
        ]);
    let _ = v;
    req
}

#[test]
fn list_offsets_every_version() {
    let broker = shared_broker();
    let topic = unique_topic("lo");
    let missing = unique_topic("lo-missing");
    let mut c = broker.connect();
    create_topic(&mut c, &topic, 1);
    // Offsets 0..=2 stamped 1000..=1002, offsets 3..=4 stamped 2000..=2001.
    produce(&mut c, 9, &topic, 0, make_value_batch(3, 5, 1_000), 1);
    produce(&mut c, 9, &topic, 0, make_value_batch(2, 5, 2_000), 1);

    sweep(ApiKey::ListOffsets, |c, v| {
        let mut queries = vec![
            (-2, "earliest"),
            (-1, "latest"),
            (1_500, "1500"),
            (1_001, "1001"),
            (9_999, "future"),
        ];
        if v >= 7 {
            queries.push((-3, "max timestamp"));
        }
        // One request per query: a partition may appear only once per topic.
        for (ts, what) in queries {
            let resp = c
                .try_call(&list_offsets_request(v, &topic, &[(0, ts)]), v)
                .map_err(call_err(what))?;
            ensure_eq!(resp.topics.len(), 1, "{what}: topics");
            let p = &resp.topics[0].partitions[0];
            ensure_eq!(p.error_code, NONE, "{what}: error");
            let (want_ts, want_offset) = match ts {
                -2 => (-1, 0),
                -1 => (-1, 5),
                1_500 => (2_000, 3),
                1_001 => (1_001, 1),
                9_999 => (-1, -1),
                -3 => (2_001, 4),
                _ => unreachable!(),
            };
            ensure_eq!(p.offset, want_offset, "{what}: offset");
            ensure_eq!(p.timestamp, want_ts, "{what}: timestamp");
            if v >= 4 && want_offset >= 0 {
                ensure!(
                    p.leader_epoch >= 0,
                    "{what}: leader_epoch {}",
                    p.leader_epoch
                );
            }
        }
        let resp = c
            .try_call(&list_offsets_request(v, &missing, &[(0, -1)]), v)
            .map_err(call_err("missing topic"))?;
        ensure_eq!(
            resp.topics[0].partitions[0].error_code,
            UNKNOWN_TOPIC_OR_PARTITION,
            "missing topic"
        );
        let resp = c
            .try_call(&list_offsets_request(v, &topic, &[(3, -1)]), v)
            .map_err(call_err("missing partition"))?;
        ensure_eq!(
            resp.topics[0].partitions[0].error_code,
            UNKNOWN_TOPIC_OR_PARTITION,
            "missing partition"
        );
        if v >= 4 {
            // A leader epoch from the future: UNKNOWN_LEADER_EPOCH.
            let mut req = list_offsets_request(v, &topic, &[(0, -1)]);
            req.topics[0].partitions[0].current_leader_epoch = 1_000;
            let resp = c.try_call(&req, v).map_err(call_err("future epoch"))?;
            ensure_eq!(
                resp.topics[0].partitions[0].error_code,
                UNKNOWN_LEADER_EPOCH,
                "future leader epoch"
            );
        }
        Ok(())
    });
}

fn creatable(
    name: &str,
    partitions: i32,
    replication: i16,
    configs: &[(&str, &str)],
) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(topic_name(name))
        .with_num_partitions(partitions)
        .with_replication_factor(replication)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(str_bytes(k))
                        .with_value(Some(str_bytes(v)))
                })
                .collect(),
        )
}

#[test]
fn create_topics_every_version() {
    let broker = shared_broker();
    let existing = unique_topic("ct-existing");
    create_topic(&mut broker.connect(), &existing, 1);
    sweep(ApiKey::CreateTopics, |c, v| {
        let ok = unique_topic(&format!("ct{v}"));
        let validate = unique_topic(&format!("ct{v}-validate"));
        let zero = unique_topic(&format!("ct{v}-zero"));
        let rf3 = unique_topic(&format!("ct{v}-rf3"));
        let bad_config = unique_topic(&format!("ct{v}-badcfg"));
        let defaults = unique_topic(&format!("ct{v}-defaults"));
        let bad_name = format!("ct{v}/bad");
        let mut topics = vec![
            creatable(
                &ok,
                3,
                1,
                &[("cleanup.policy", "compact"), ("retention.ms", "3600000")],
            ),
            creatable(&bad_name, 1, 1, &[]),
            creatable(&existing, 1, 1, &[]),
            creatable(&zero, 0, 1, &[]),
            creatable(&rf3, 1, 3, &[]),
            creatable(&bad_config, 1, 1, &[("cleanup.policy", "bogus")]),
        ];
        if v >= 4 {
            // -1 means the broker defaults from v4 (KIP-464).
            topics.push(creatable(&defaults, -1, -1, &[]));
        }
        let resp = c
            .try_call(
                &CreateTopicsRequest::default()
                    .with_topics(topics.clone())
                    .with_timeout_ms(10_000),
                v,
            )
            .map_err(call_err("create"))?;
        ensure_eq!(resp.topics.len(), topics.len(), "results");
        let code = |name: &str| {
            resp.topics
                .iter()
                .find(|t| t.name.0.as_str() == name)
                .map(|t| t.error_code)
        };
        ensure_eq!(code(&ok), Some(NONE), "valid topic");
        ensure_eq!(code(&bad_name), Some(INVALID_TOPIC_EXCEPTION), "bad name");
        ensure_eq!(
            code(&existing),
            Some(TOPIC_ALREADY_EXISTS),
            "existing topic"
        );
        ensure_eq!(code(&zero), Some(INVALID_PARTITIONS), "0 partitions");
        ensure_eq!(
            code(&rf3),
            Some(INVALID_REPLICATION_FACTOR),
            "replication factor 3"
        );
        ensure_eq!(code(&bad_config), Some(INVALID_CONFIG), "bad config value");
        if v >= 4 {
            ensure_eq!(
                code(&defaults),
                Some(NONE),
                "default partitions and replication"
            );
        }
        let created = resp
            .topics
            .iter()
            .find(|t| t.name.0.as_str() == ok)
            .expect("present");
        if v >= 5 {
            ensure_eq!(created.num_partitions, 3, "num_partitions");
            ensure_eq!(created.replication_factor, 1, "replication_factor");
            let configs = created.configs.clone().unwrap_or_default();
            let policy = configs.iter().find(|c| c.name.as_str() == "cleanup.policy");
            ensure_eq!(
                policy.and_then(|p| p.value.as_ref().map(|v| v.to_string())),
                Some("compact".to_string()),
                "cleanup.policy in the result"
            );
            ensure_eq!(
                policy.map(|p| p.config_source),
                Some(SOURCE_DYNAMIC_TOPIC),
                "cleanup.policy source"
            );
        }
        if v >= 7 {
            ensure!(!created.topic_id.is_nil(), "topic_id of the created topic");
        }
        ensure_eq!(
            partition_count(c, &ok),
            Some(3),
            "metadata of the created topic"
        );
        if v >= 4 {
            ensure_eq!(
                partition_count(c, &defaults),
                Some(1),
                "num.partitions default"
            );
        }
        ensure_eq!(partition_count(c, &zero), None, "refused topic exists");

        // validate_only: a result, no topic.
        let resp = c
            .try_call(
                &CreateTopicsRequest::default()
                    .with_topics(vec![creatable(&validate, 2, 1, &[])])
                    .with_validate_only(true)
                    .with_timeout_ms(10_000),
                v,
            )
            .map_err(call_err("validate_only"))?;
        ensure_eq!(resp.topics[0].error_code, NONE, "validate_only result");
        if v >= 5 {
            ensure_eq!(
                resp.topics[0].num_partitions,
                2,
                "validate_only num_partitions"
            );
        }
        ensure_eq!(
            partition_count(c, &validate),
            None,
            "validate_only created the topic"
        );
        Ok(())
    });
}

#[test]
fn delete_topics_every_version() {
    let broker = shared_broker();
    sweep(ApiKey::DeleteTopics, |c, v| {
        let doomed = unique_topic(&format!("dt{v}"));
        let missing = unique_topic(&format!("dt{v}-missing"));
        create_topic(c, &doomed, 1);
        let req = if v >= 6 {
            DeleteTopicsRequest::default().with_topics(vec![
                DeleteTopicState::default().with_name(Some(topic_name(&doomed))),
                DeleteTopicState::default().with_name(Some(topic_name(&missing))),
            ])
        } else {
            DeleteTopicsRequest::default()
                .with_topic_names(vec![topic_name(&doomed), topic_name(&missing)])
        }
        .with_timeout_ms(10_000);
        let resp = c.try_call(&req, v).map_err(call_err("delete by name"))?;
        ensure_eq!(resp.responses.len(), 2, "results");
        let code = |name: &str| {
            resp.responses
                .iter()
                .find(|r| r.name.as_ref().is_some_and(|n| n.0.as_str() == name))
                .map(|r| r.error_code)
        };
        ensure_eq!(code(&doomed), Some(NONE), "delete existing");
        ensure_eq!(
            code(&missing),
            Some(UNKNOWN_TOPIC_OR_PARTITION),
            "delete missing"
        );
        ensure_eq!(
            partition_count(c, &doomed),
            None,
            "deleted topic still in metadata"
        );

        if v >= 6 {
            let by_id = unique_topic("dt6-by-id");
            create_topic(c, &by_id, 1);
            let id = topic_id(c, &by_id);
            let unknown = Uuid::new_v4();
            let req = DeleteTopicsRequest::default()
                .with_topics(vec![
                    DeleteTopicState::default().with_topic_id(id),
                    DeleteTopicState::default().with_topic_id(unknown),
                ])
                .with_timeout_ms(10_000);
            let resp = c.try_call(&req, v).map_err(call_err("delete by id"))?;
            let code = |want: Uuid| {
                resp.responses
                    .iter()
                    .find(|r| r.topic_id == want)
                    .map(|r| r.error_code)
            };
            ensure_eq!(code(id), Some(NONE), "delete by id");
            ensure_eq!(code(unknown), Some(UNKNOWN_TOPIC_ID), "delete unknown id");
            ensure_eq!(
                partition_count(c, &by_id),
                None,
                "deleted-by-id topic still in metadata"
            );
        }
        Ok(())
    });
    let _ = broker;
}

#[test]
fn create_partitions_every_version() {
    sweep(ApiKey::CreatePartitions, |c, v| {
        let topic = unique_topic(&format!("cp{v}"));
        let missing = unique_topic(&format!("cp{v}-missing"));
        create_topic(c, &topic, 1);
        let inc = |name: &str, count: i32| {
            CreatePartitionsTopic::default()
                .with_name(topic_name(name))
                .with_count(count)
                .with_assignments(None)
        };
        let resp = c
            .try_call(
                &CreatePartitionsRequest::default()
                    .with_topics(vec![inc(&topic, 3), inc(&missing, 2)])
                    .with_timeout_ms(10_000),
                v,
            )
            .map_err(call_err("increase"))?;
        ensure_eq!(resp.results.len(), 2, "results");
        ensure_eq!(resp.results[0].error_code, NONE, "increase to 3");
        ensure_eq!(
            resp.results[1].error_code,
            UNKNOWN_TOPIC_OR_PARTITION,
            "missing topic"
        );
        ensure_eq!(
            partition_count(c, &topic),
            Some(3),
            "partitions after increase"
        );

        for (count, what) in [(2, "decrease"), (3, "same count")] {
            let resp = c
                .try_call(
                    &CreatePartitionsRequest::default()
                        .with_topics(vec![inc(&topic, count)])
                        .with_timeout_ms(10_000),
                    v,
                )
                .map_err(call_err(what))?;
            ensure_eq!(resp.results[0].error_code, INVALID_PARTITIONS, "{what}");
        }

        let resp = c
            .try_call(
                &CreatePartitionsRequest::default()
                    .with_topics(vec![inc(&topic, 5)])
                    .with_validate_only(true)
                    .with_timeout_ms(10_000),
                v,
            )
            .map_err(call_err("validate_only"))?;
        ensure_eq!(resp.results[0].error_code, NONE, "validate_only");
        ensure_eq!(
            partition_count(c, &topic),
            Some(3),
            "validate_only changed the topic"
        );

        // The new partitions take writes.
        let p = try_produce(c, 9, &topic, 2, make_value_batch(1, 4, 0), 1)
            .map_err(call_err("produce to a new partition"))?;
        ensure_eq!(p.error_code, NONE, "produce to partition 2");
        Ok(())
    });
}

fn describe_configs_request(
    v: i16,
    resources: Vec<(i8, String, Option<Vec<&str>>)>,
) -> DescribeConfigsRequest {
    let req = DescribeConfigsRequest::default().with_resources(
        resources
            .into_iter()
            .map(|(ty, name, keys)| {
                DescribeConfigsResource::default()
                    .with_resource_type(ty)
                    .with_resource_name(str_bytes(&name))
                    .with_configuration_keys(keys.map(|k| k.into_iter().map(str_bytes).collect()))
            })
            .collect(),
    );
    let req = req.with_include_synonyms(true);
    if v >= 3 {
        req.with_include_documentation(true)
    } else {
        req
    }
}

/// (value, source) of `name` in a DescribeConfigs result.
fn config_of(r: &DescribeConfigsResult, name: &str) -> Option<(Option<String>, i8)> {
    r.configs
        .iter()
        .find(|c| c.name.as_str() == name)
        .map(|c| (c.value.as_ref().map(|v| v.to_string()), c.config_source))
}

/// DescribeConfigs v4 of one topic.
fn describe_topic(c: &mut Client, topic: &str) -> DescribeConfigsResult {
    let mut resp = c.call(
        &describe_configs_request(4, vec![(RESOURCE_TOPIC, topic.to_string(), None)]),
        4,
    );
    let r = resp.results.remove(0);
    assert_eq!(r.error_code, NONE, "describe {topic}");
    r
}

#[test]
fn describe_configs_every_version() {
    let broker = shared_broker();
    let topic = unique_topic("dc");
    let missing = unique_topic("dc-missing");
    let mut c = broker.connect();
    assert_eq!(
        create_topic_code(&mut c, &topic, 1, &[("retention.ms", "7200000")]),
        NONE
    );
    sweep(ApiKey::DescribeConfigs, |c, v| {
        let resp = c
            .try_call(
                &describe_configs_request(
                    v,
                    vec![
                        (RESOURCE_TOPIC, topic.clone(), None),
                        (RESOURCE_BROKER, "1".to_string(), None),
                        (RESOURCE_TOPIC, missing.clone(), None),
                        (
                            RESOURCE_TOPIC,
                            topic.clone(),
                            Some(vec!["cleanup.policy", "retention.ms"]),
                        ),
                    ],
                ),
                v,
            )
            .map_err(call_err("describe"))?;
        ensure_eq!(resp.results.len(), 4, "results");
        let t = &resp.results[0];
        ensure_eq!(t.error_code, NONE, "topic error");
        ensure_eq!(t.resource_type, RESOURCE_TOPIC, "resource_type");
        ensure_eq!(t.resource_name.as_str(), topic.as_str(), "resource_name");
        ensure_eq!(
            config_of(t, "cleanup.policy"),
            Some((Some("delete".to_string()), SOURCE_DEFAULT)),
            "cleanup.policy"
        );
        ensure_eq!(
            config_of(t, "retention.ms"),
            Some((Some("7200000".to_string()), SOURCE_DYNAMIC_TOPIC)),
            "retention.ms override"
        );
        let policy = t
            .configs
            .iter()
            .find(|c| c.name.as_str() == "cleanup.policy")
            .expect("listed");
        ensure!(!policy.read_only, "cleanup.policy read_only");
        ensure!(!policy.is_sensitive, "cleanup.policy is_sensitive");
        // Synonyms (v1+): the topic override, then the broker default.
        let retention = t
            .configs
            .iter()
            .find(|c| c.name.as_str() == "retention.ms")
            .expect("listed");
        ensure!(
            retention.synonyms.first().is_some_and(
                |s| s.name.as_str() == "retention.ms" && s.source == SOURCE_DYNAMIC_TOPIC
            ),
            "retention.ms synonyms {:?}",
            retention.synonyms
        );
        if v >= 3 {
            ensure_eq!(policy.config_type, 7, "cleanup.policy config_type (LIST)");
            ensure_eq!(retention.config_type, 5, "retention.ms config_type (LONG)");
            ensure!(
                policy.documentation.as_ref().is_some_and(|d| !d.is_empty()),
                "documentation requested but missing"
            );
        }
        let b = &resp.results[1];
        ensure_eq!(b.error_code, NONE, "broker error");
        ensure!(
            b.configs
                .iter()
                .any(|c| c.name.as_str() == "num.partitions"),
            "broker configs lack num.partitions ({} configs)",
            b.configs.len()
        );
        ensure_eq!(
            resp.results[2].error_code,
            UNKNOWN_TOPIC_OR_PARTITION,
            "missing topic"
        );
        let keys = &resp.results[3];
        ensure_eq!(keys.error_code, NONE, "keyed error");
        let mut names: Vec<&str> = keys.configs.iter().map(|c| c.name.as_str()).collect();
        names.sort();
        ensure_eq!(
            names,
            vec!["cleanup.policy", "retention.ms"],
            "configuration_keys filter"
        );
        Ok(())
    });
}

#[test]
fn alter_configs_every_version() {
    sweep(ApiKey::AlterConfigs, |c, v| {
        let topic = unique_topic(&format!("ac{v}"));
        let missing = unique_topic(&format!("ac{v}-missing"));
        ensure_eq!(
            create_topic_code(c, &topic, 1, &[("cleanup.policy", "compact")]),
            NONE,
            "create"
        );
        let resource = |name: &str, configs: &[(&str, &str)]| {
            AlterConfigsResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(str_bytes(name))
                .with_configs(
                    configs
                        .iter()
                        .map(|(k, val)| {
                            AlterableConfig::default()
                                .with_name(str_bytes(k))
                                .with_value(Some(str_bytes(val)))
                        })
                        .collect(),
                )
        };
        let resp = c
            .try_call(
                &AlterConfigsRequest::default().with_resources(vec![
                    resource(&topic, &[("retention.ms", "12345")]),
                    resource(&missing, &[("retention.ms", "12345")]),
                ]),
                v,
            )
            .map_err(call_err("alter"))?;
        ensure_eq!(resp.responses.len(), 2, "results");
        ensure_eq!(resp.responses[0].error_code, NONE, "alter existing");
        ensure_eq!(
            resp.responses[0].resource_name.as_str(),
            topic.as_str(),
            "resource_name"
        );
        ensure_eq!(
            resp.responses[1].error_code,
            UNKNOWN_TOPIC_OR_PARTITION,
            "alter missing"
        );
        let described = describe_topic(c, &topic);
        ensure_eq!(
            config_of(&described, "retention.ms"),
            Some((Some("12345".to_string()), SOURCE_DYNAMIC_TOPIC)),
            "retention.ms after AlterConfigs"
        );
        // AlterConfigs replaces the whole set: the earlier override is gone.
        ensure_eq!(
            config_of(&described, "cleanup.policy"),
            Some((Some("delete".to_string()), SOURCE_DEFAULT)),
            "cleanup.policy after a non-incremental alter"
        );

        for (configs, what) in [
            (&[("retention.ms", "abc")][..], "bad value"),
            (&[("no.such.config", "1")][..], "unknown config name"),
        ] {
            let resp = c
                .try_call(
                    &AlterConfigsRequest::default().with_resources(vec![resource(&topic, configs)]),
                    v,
                )
                .map_err(call_err(what))?;
            ensure_eq!(resp.responses[0].error_code, INVALID_CONFIG, "{what}");
        }

        let resp = c
            .try_call(
                &AlterConfigsRequest::default()
                    .with_resources(vec![resource(&topic, &[("retention.ms", "999")])])
                    .with_validate_only(true),
                v,
            )
            .map_err(call_err("validate_only"))?;
        ensure_eq!(resp.responses[0].error_code, NONE, "validate_only");
        ensure_eq!(
            config_of(&describe_topic(c, &topic), "retention.ms"),
            Some((Some("12345".to_string()), SOURCE_DYNAMIC_TOPIC)),
            "retention.ms after validate_only"
        );
        Ok(())
    });
}

#[test]
fn incremental_alter_configs_every_version() {
    const SET: i8 = 0;
    const DELETE: i8 = 1;
    const APPEND: i8 = 2;
    sweep(ApiKey::IncrementalAlterConfigs, |c, v| {
        let topic = unique_topic(&format!("iac{v}"));
        let missing = unique_topic(&format!("iac{v}-missing"));
        ensure_eq!(
            create_topic_code(c, &topic, 1, &[("retention.ms", "1000")]),
            NONE,
            "create"
        );
        let resource = |name: &str, ops: &[(&str, i8, Option<&str>)]| {
            iac::AlterConfigsResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(str_bytes(name))
                .with_configs(
                    ops.iter()
                        .map(|(k, op, val)| {
                            iac::AlterableConfig::default()
                                .with_name(str_bytes(k))
                                .with_config_operation(*op)
                                .with_value(val.map(str_bytes))
                        })
                        .collect(),
                )
        };
        let resp = c
            .try_call(
                &IncrementalAlterConfigsRequest::default().with_resources(vec![
                    resource(&topic, &[("segment.ms", SET, Some("54321"))]),
                    resource(&missing, &[("segment.ms", SET, Some("54321"))]),
                ]),
                v,
            )
            .map_err(call_err("set"))?;
        ensure_eq!(resp.responses.len(), 2, "results");
        ensure_eq!(resp.responses[0].error_code, NONE, "set on existing");
        ensure_eq!(
            resp.responses[1].error_code,
            UNKNOWN_TOPIC_OR_PARTITION,
            "set on missing"
        );
        let d = describe_topic(c, &topic);
        ensure_eq!(
            config_of(&d, "segment.ms"),
            Some((Some("54321".to_string()), SOURCE_DYNAMIC_TOPIC)),
            "segment.ms after SET"
        );
        // Incremental: the override from creation stays.
        ensure_eq!(
            config_of(&d, "retention.ms"),
            Some((Some("1000".to_string()), SOURCE_DYNAMIC_TOPIC)),
            "retention.ms kept"
        );

        let resp = c
            .try_call(
                &IncrementalAlterConfigsRequest::default().with_resources(vec![resource(
                    &topic,
                    &[
                        ("retention.ms", DELETE, None),
                        ("cleanup.policy", APPEND, Some("compact")),
                    ],
                )]),
                v,
            )
            .map_err(call_err("delete + append"))?;
        ensure_eq!(resp.responses[0].error_code, NONE, "delete + append");
        let d = describe_topic(c, &topic);
        ensure_eq!(
            config_of(&d, "retention.ms").map(|(_, s)| s),
            Some(SOURCE_DEFAULT),
            "retention.ms after DELETE"
        );
        ensure_eq!(
            config_of(&d, "cleanup.policy"),
            Some((Some("delete,compact".to_string()), SOURCE_DYNAMIC_TOPIC)),
            "cleanup.policy after APPEND"
        );

        let resp = c
            .try_call(
                &IncrementalAlterConfigsRequest::default()
                    .with_resources(vec![resource(&topic, &[("segment.ms", SET, Some("x"))])]),
                v,
            )
            .map_err(call_err("bad value"))?;
        ensure_eq!(resp.responses[0].error_code, INVALID_CONFIG, "bad value");
        Ok(())
    });
}

#[test]
fn delete_records_every_version() {
    sweep(ApiKey::DeleteRecords, |c, v| {
        let topic = unique_topic(&format!("dr{v}"));
        let missing = unique_topic(&format!("dr{v}-missing"));
        create_topic(c, &topic, 1);
        let id = topic_id(c, &topic);
        produce(c, 9, &topic, 0, make_value_batch(3, 4, 0), 1);
        produce(c, 9, &topic, 0, make_value_batch(2, 4, 0), 1);
        let req = |name: &str, offset: i64| {
            DeleteRecordsRequest::default()
                .with_timeout_ms(10_000)
                .with_topics(vec![
                    DeleteRecordsTopic::default()
                        .with_name(topic_name(name))
                        .with_partitions(vec![
                            DeleteRecordsPartition::default()
                                .with_partition_index(0)
                                .with_offset(offset),
                        ]),
                ])
        };
        let resp = c
            .try_call(&req(&topic, 3), v)
            .map_err(call_err("delete before 3"))?;
        let p = &resp.topics[0].partitions[0];
        ensure_eq!(p.error_code, NONE, "delete before 3");
        ensure_eq!(p.low_watermark, 3, "low_watermark");
        let d = try_fetch(c, 12, &topic, id, 0, 3).map_err(call_err("fetch"))?;
        ensure_eq!(
            d.log_start_offset,
            3,
            "log_start_offset after DeleteRecords"
        );
        let d = try_fetch(c, 12, &topic, id, 0, 0).map_err(call_err("fetch below start"))?;
        ensure_eq!(
            d.error_code,
            OFFSET_OUT_OF_RANGE,
            "fetch below the log start"
        );

        let resp = c
            .try_call(&req(&topic, 100), v)
            .map_err(call_err("past hw"))?;
        ensure_eq!(
            resp.topics[0].partitions[0].error_code,
            OFFSET_OUT_OF_RANGE,
            "delete past the high watermark"
        );
        // -1 means "up to the high watermark".
        let resp = c.try_call(&req(&topic, -1), v).map_err(call_err("to hw"))?;
        ensure_eq!(
            resp.topics[0].partitions[0].error_code,
            NONE,
            "delete to hw"
        );
        ensure_eq!(
            resp.topics[0].partitions[0].low_watermark,
            5,
            "low_watermark at hw"
        );
        let resp = c
            .try_call(&req(&missing, 1), v)
            .map_err(call_err("missing"))?;
        ensure_eq!(
            resp.topics[0].partitions[0].error_code,
            UNKNOWN_TOPIC_OR_PARTITION,
            "missing topic"
        );
        Ok(())
    });
}

#[test]
fn init_producer_id_every_version() {
    let mut seen = Vec::new();
    sweep(ApiKey::InitProducerId, |c, v| {
        let req = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000);
        let resp = c.try_call(&req, v).map_err(call_err("init"))?;
        ensure_eq!(resp.error_code, NONE, "error");
        ensure!(
            resp.producer_id.0 >= 0,
            "producer_id {}",
            resp.producer_id.0
        );
        ensure_eq!(resp.producer_epoch, 0, "producer_epoch");
        ensure!(
            !seen.contains(&resp.producer_id.0),
            "producer id {} handed out twice",
            resp.producer_id.0
        );
        seen.push(resp.producer_id.0);
        // The id works for an idempotent produce.
        let topic = unique_topic(&format!("ipid{v}"));
        create_topic(c, &topic, 1);
        let batch = make_batch(&[(None, Some(b"x"))], 0, Some((resp.producer_id.0, 0, 0)));
        let p = try_produce(c, 9, &topic, 0, batch, -1).map_err(call_err("idempotent produce"))?;
        ensure_eq!(p.error_code, NONE, "idempotent produce");
        Ok(())
    });
}

#[test]
fn offset_for_leader_epoch_every_version() {
    let broker = shared_broker();
    let topic = unique_topic("ofle");
    let missing = unique_topic("ofle-missing");
    let mut c = broker.connect();
    create_topic(&mut c, &topic, 1);
    produce(&mut c, 9, &topic, 0, make_value_batch(5, 4, 0), 1);
    let md = c.call(&metadata_request(12, &[&topic]), 12);
    let epoch = md.topics[0].partitions[0].leader_epoch;
    assert!(epoch >= 0, "leader epoch {epoch}");
    sweep(ApiKey::OffsetForLeaderEpoch, |c, v| {
        let part = |p: i32, current: i32, leader_epoch: i32| {
            OffsetForLeaderPartition::default()
                .with_partition(p)
                .with_current_leader_epoch(current)
                .with_leader_epoch(leader_epoch)
        };
        let mut req = OffsetForLeaderEpochRequest::default().with_topics(vec![
            OffsetForLeaderTopic::default()
                .with_topic(topic_name(&topic))
                .with_partitions(vec![part(0, -1, epoch), part(0, epoch + 5, epoch)]),
            OffsetForLeaderTopic::default()
                .with_topic(topic_name(&missing))
                .with_partitions(vec![part(0, -1, 0)]),
        ]);
        if v >= 3 {
            req = req.with_replica_id(BrokerId(-1));
        }
        let resp = c.try_call(&req, v).map_err(call_err("call"))?;
        ensure_eq!(resp.topics.len(), 2, "topics");
        let ps = &resp.topics[0].partitions;
        ensure_eq!(ps.len(), 2, "partitions");
        ensure_eq!(ps[0].error_code, NONE, "current epoch error");
        ensure_eq!(ps[0].leader_epoch, epoch, "leader_epoch");
        ensure_eq!(ps[0].end_offset, 5, "end_offset");
        ensure_eq!(
            ps[1].error_code,
            UNKNOWN_LEADER_EPOCH,
            "future current_leader_epoch"
        );
        ensure_eq!(
            resp.topics[1].partitions[0].error_code,
            UNKNOWN_TOPIC_OR_PARTITION,
            "missing topic"
        );
        Ok(())
    });
}

#[test]
fn describe_cluster_every_version() {
    let broker = shared_broker();
    let md = broker.connect().call(&metadata_request(12, &[]), 12);
    let cluster_id = md.cluster_id.expect("cluster id").to_string();
    sweep(ApiKey::DescribeCluster, |c, v| {
        let resp = c
            .try_call(&DescribeClusterRequest::default(), v)
            .map_err(call_err("call"))?;
        ensure_eq!(resp.error_code, NONE, "error");
        ensure_eq!(resp.cluster_id.to_string(), cluster_id, "cluster_id");
        ensure_eq!(resp.controller_id.0, 1, "controller_id");
        ensure_eq!(resp.brokers.len(), 1, "brokers");
        ensure_eq!(resp.brokers[0].broker_id.0, 1, "broker_id");
        ensure_eq!(resp.brokers[0].port, i32::from(broker.port), "port");
        if v >= 1 {
            ensure_eq!(resp.endpoint_type, 1, "endpoint_type (brokers)");
        }
        Ok(())
    });
}

#[test]
fn describe_topic_partitions_every_version() {
    let broker = shared_broker();
    let topic = unique_topic("dtp");
    let missing = unique_topic("dtp-missing");
    create_topic(&mut broker.connect(), &topic, 3);
    let id = topic_id(&mut broker.connect(), &topic);
    sweep(ApiKey::DescribeTopicPartitions, |c, v| {
        let req = DescribeTopicPartitionsRequest::default().with_topics(vec![
            TopicRequest::default().with_name(topic_name(&topic)),
            TopicRequest::default().with_name(topic_name(&missing)),
        ]);
        let resp = c.try_call(&req, v).map_err(call_err("call"))?;
        let find = |name: &str| {
            resp.topics
                .iter()
                .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == name))
        };
        let t = find(&topic).ok_or("topic missing from the answer")?;
        ensure_eq!(t.error_code, NONE, "topic error");
        ensure_eq!(t.topic_id, id, "topic_id");
        ensure_eq!(
            t.partitions
                .iter()
                .map(|p| p.partition_index)
                .collect::<Vec<_>>(),
            vec![0, 1, 2],
            "partitions"
        );
        ensure!(
            t.partitions
                .iter()
                .all(|p| p.leader_id.0 == 1 && p.error_code == NONE),
            "partition leaders"
        );
        ensure_eq!(
            find(&missing).map(|t| t.error_code),
            Some(UNKNOWN_TOPIC_OR_PARTITION),
            "missing topic"
        );
        ensure!(resp.next_cursor.is_none(), "cursor with no limit hit");

        // A limit of 2 partitions: a cursor at partition 2, then the rest.
        let req = DescribeTopicPartitionsRequest::default()
            .with_topics(vec![TopicRequest::default().with_name(topic_name(&topic))])
            .with_response_partition_limit(2);
        let resp = c.try_call(&req, v).map_err(call_err("limited"))?;
        ensure_eq!(resp.topics[0].partitions.len(), 2, "limited partitions");
        let cursor = resp.next_cursor.ok_or("no cursor after the limit")?;
        ensure_eq!(cursor.topic_name.0.as_str(), topic.as_str(), "cursor topic");
        ensure_eq!(cursor.partition_index, 2, "cursor partition");
        let req = DescribeTopicPartitionsRequest::default()
            .with_topics(vec![TopicRequest::default().with_name(topic_name(&topic))])
            .with_cursor(Some(
                describe_topic_partitions_request::Cursor::default()
                    .with_topic_name(topic_name(&topic))
                    .with_partition_index(2),
            ));
        let resp = c.try_call(&req, v).map_err(call_err("from cursor"))?;
        ensure_eq!(
            resp.topics[0]
                .partitions
                .iter()
                .map(|p| p.partition_index)
                .collect::<Vec<_>>(),
            vec![2],
            "partitions from the cursor"
        );
        Ok(())
    });
}

/// Keep the unused-import lint quiet for helpers used only in some sweeps.
#[allow(dead_code)]
fn _bytes(_: Bytes) {}

const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
const INVALID_REQUEST: i16 = 42;

/// Fetch options beyond the plain read, at every version that has them:
/// read_committed, a partition limit below the first batch (KIP-74: the
/// first batch is returned whole), a future leader epoch (v9+), and an
/// incremental fetch of a session that does not exist (v7+).
#[test]
fn fetch_options_every_version() {
    let broker = shared_broker();
    let topic = unique_topic("fo");
    let mut c = broker.connect();
    create_topic(&mut c, &topic, 1);
    let id = topic_id(&mut c, &topic);
    produce(&mut c, 9, &topic, 0, make_value_batch(4, 300, 0), 1);
    produce(&mut c, 9, &topic, 0, make_value_batch(1, 10, 0), 1);
    sweep(ApiKey::Fetch, |c, v| {
        let mut req = fetch_request(v, &topic, id, 0, 0).with_isolation_level(1);
        let resp = c.try_call(&req, v).map_err(call_err("read_committed"))?;
        let d = &resp.responses[0].partitions[0];
        ensure_eq!(d.error_code, NONE, "read_committed error");
        ensure_eq!(d.last_stable_offset, 5, "last_stable_offset");
        ensure_eq!(
            record_count(d.records.as_deref().unwrap_or_default()),
            5,
            "read_committed records"
        );
        ensure!(
            d.aborted_transactions.as_ref().is_none_or(|a| a.is_empty()),
            "aborted transactions {:?}",
            d.aborted_transactions
        );

        req.topics[0].partitions[0].partition_max_bytes = 10;
        req.isolation_level = 0;
        let resp = c
            .try_call(&req, v)
            .map_err(call_err("tiny partition limit"))?;
        let got = batches(
            resp.responses[0].partitions[0]
                .records
                .as_deref()
                .unwrap_or_default(),
        );
        ensure_eq!(
            got.first().map(|b| (b.base_offset, b.record_count)),
            Some((0, 4)),
            "first batch despite partition_max_bytes=10"
        );
        req.topics[0].partitions[0].partition_max_bytes = 1 << 20;
        req.max_bytes = 10;
        let resp = c
            .try_call(&req, v)
            .map_err(call_err("tiny response limit"))?;
        let got = batches(
            resp.responses[0].partitions[0]
                .records
                .as_deref()
                .unwrap_or_default(),
        );
        ensure_eq!(
            got.first().map(|b| (b.base_offset, b.record_count)),
            Some((0, 4)),
            "first batch despite max_bytes=10"
        );

        if v >= 9 {
            let mut req = fetch_request(v, &topic, id, 0, 0);
            req.topics[0].partitions[0].current_leader_epoch = 1_000;
            let resp = c.try_call(&req, v).map_err(call_err("future epoch"))?;
            ensure_eq!(
                resp.responses[0].partitions[0].error_code,
                UNKNOWN_LEADER_EPOCH,
                "future current_leader_epoch"
            );
        }
        if v >= 7 {
            let req = fetch_request(v, &topic, id, 0, 0)
                .with_session_id(0)
                .with_session_epoch(5);
            let resp = c.try_call(&req, v).map_err(call_err("unknown session"))?;
            ensure_eq!(
                resp.error_code,
                FETCH_SESSION_ID_NOT_FOUND,
                "unknown session"
            );
            // A full fetch asking for a session (epoch 0) is served; a
            // session id of 0 in the answer means "no session".
            let req = fetch_request(v, &topic, id, 0, 0).with_session_epoch(0);
            let resp = c.try_call(&req, v).map_err(call_err("new session"))?;
            ensure_eq!(resp.error_code, NONE, "new session");
            ensure_eq!(
                record_count(
                    resp.responses[0].partitions[0]
                        .records
                        .as_deref()
                        .unwrap_or_default()
                ),
                5,
                "records in a session-opening fetch"
            );
        }
        Ok(())
    });
}

/// A long poll at the log end returns as soon as a produce arrives, and an
/// unsatisfied one returns after max_wait_ms.
#[test]
fn fetch_long_poll_wakes_on_produce() {
    let broker = shared_broker();
    let topic = unique_topic("poll");
    let mut c = broker.connect();
    create_topic(&mut c, &topic, 1);
    let id = topic_id(&mut c, &topic);

    let started = std::time::Instant::now();
    let req = fetch_request(12, &topic, id, 0, 0)
        .with_min_bytes(1)
        .with_max_wait_ms(300);
    let resp = c.call(&req, 12);
    let waited = started.elapsed();
    assert_eq!(resp.responses[0].partitions[0].error_code, NONE);
    assert!(
        waited >= std::time::Duration::from_millis(250),
        "an unsatisfied long poll returned after {waited:?}"
    );

    let port = broker.port;
    let t = topic.clone();
    let producer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let mut c = Client::try_connect(port).expect("connect");
        produce(&mut c, 9, &t, 0, make_value_batch(2, 10, 0), 1);
    });
    let started = std::time::Instant::now();
    let req = fetch_request(16, &topic, id, 0, 0)
        .with_min_bytes(1)
        .with_max_wait_ms(8_000);
    let resp = c.call(&req, 16);
    let waited = started.elapsed();
    producer.join().expect("producer thread");
    assert_eq!(
        record_count(
            resp.responses[0].partitions[0]
                .records
                .as_deref()
                .unwrap_or_default()
        ),
        2
    );
    assert!(
        waited < std::time::Duration::from_secs(4),
        "long poll woke only after {waited:?}"
    );
}

#[test]
fn create_topics_with_replica_assignments_every_version() {
    use kafka_protocol::messages::create_topics_request::CreatableReplicaAssignment;
    sweep(ApiKey::CreateTopics, |c, v| {
        let assigned = unique_topic(&format!("cta{v}"));
        let unknown_broker = unique_topic(&format!("cta{v}-b7"));
        let both = unique_topic(&format!("cta{v}-both"));
        let assignment = |p: i32, b: i32| {
            CreatableReplicaAssignment::default()
                .with_partition_index(p)
                .with_broker_ids(vec![BrokerId(b)])
        };
        let topics = vec![
            creatable(&assigned, -1, -1, &[])
                .with_assignments(vec![assignment(0, 1), assignment(1, 1)]),
            creatable(&unknown_broker, -1, -1, &[]).with_assignments(vec![assignment(0, 7)]),
            creatable(&both, 2, 1, &[]).with_assignments(vec![assignment(0, 1), assignment(1, 1)]),
        ];
        let resp = c
            .try_call(
                &CreateTopicsRequest::default()
                    .with_topics(topics)
                    .with_timeout_ms(10_000),
                v,
            )
            .map_err(call_err("create"))?;
        let code = |name: &str| {
            resp.topics
                .iter()
                .find(|t| t.name.0.as_str() == name)
                .map(|t| t.error_code)
        };
        ensure_eq!(code(&assigned), Some(NONE), "manual assignment");
        ensure_eq!(
            code(&unknown_broker),
            Some(INVALID_REPLICA_ASSIGNMENT),
            "unknown broker"
        );
        ensure_eq!(
            code(&both),
            Some(INVALID_REQUEST),
            "assignment plus partition count"
        );
        ensure_eq!(
            partition_count(c, &assigned),
            Some(2),
            "assigned topic partitions"
        );
        Ok(())
    });
}

#[test]
fn metadata_v12_by_topic_id() {
    let broker = shared_broker();
    let topic = unique_topic("md-id");
    let mut c = broker.connect();
    create_topic(&mut c, &topic, 1);
    let id = topic_id(&mut c, &topic);
    let unknown = Uuid::new_v4();
    let req = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default()
                .with_name(None)
                .with_topic_id(id),
            MetadataRequestTopic::default()
                .with_name(None)
                .with_topic_id(unknown),
        ]))
        .with_allow_auto_topic_creation(false);
    let resp = c.call(&req, 12);
    assert_eq!(resp.topics.len(), 2);
    assert_eq!(resp.topics[0].error_code, NONE);
    assert_eq!(resp.topics[0].topic_id, id);
    assert_eq!(
        resp.topics[0].name.as_ref().map(|n| n.0.to_string()),
        Some(topic)
    );
    assert_eq!(resp.topics[1].error_code, UNKNOWN_TOPIC_ID);
    assert_eq!(resp.topics[1].topic_id, unknown);
}

#[test]
fn delete_topics_v6_by_id_names_the_topic() {
    let mut c = shared_broker().connect();
    let topic = unique_topic("dt-name");
    create_topic(&mut c, &topic, 1);
    let id = topic_id(&mut c, &topic);
    let resp = c.call(
        &DeleteTopicsRequest::default()
            .with_topics(vec![DeleteTopicState::default().with_topic_id(id)])
            .with_timeout_ms(10_000),
        6,
    );
    let r = &resp.responses[0];
    assert_eq!(r.error_code, NONE);
    assert_eq!(r.topic_id, id);
    assert_eq!(r.name.as_ref().map(|n| n.0.to_string()), Some(topic));
}

#[test]
fn describe_configs_of_another_broker_is_invalid_request() {
    let mut c = shared_broker().connect();
    for v in versions(ApiKey::DescribeConfigs) {
        let resp = c.call(
            &describe_configs_request(v, vec![(RESOURCE_BROKER, "2".to_string(), None)]),
            v,
        );
        assert_eq!(resp.results[0].error_code, INVALID_REQUEST, "v{v}");
    }
}

#[test]
fn init_producer_id_with_a_transactional_id_answers_every_version() {
    // Transactions are not served yet; whatever the refusal, it must be a
    // decodable response of the request's version with a non-zero code.
    sweep(ApiKey::InitProducerId, |c, v| {
        let req = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(str_bytes("tx-1"))))
            .with_transaction_timeout_ms(60_000);
        let resp = c.try_call(&req, v).map_err(call_err("transactional"))?;
        ensure!(
            resp.error_code != NONE,
            "transactional id accepted without a coordinator"
        );
        ensure_eq!(resp.producer_id.0, -1, "producer_id on error");
        Ok(())
    });
}

#[test]
fn create_partitions_with_assignments_every_version() {
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsAssignment;
    sweep(ApiKey::CreatePartitions, |c, v| {
        let topic = unique_topic(&format!("cpa{v}"));
        create_topic(c, &topic, 1);
        let a = |b: i32| CreatePartitionsAssignment::default().with_broker_ids(vec![BrokerId(b)]);
        let req = |count: i32, assignments: Vec<CreatePartitionsAssignment>| {
            CreatePartitionsRequest::default()
                .with_topics(vec![
                    CreatePartitionsTopic::default()
                        .with_name(topic_name(&topic))
                        .with_count(count)
                        .with_assignments(Some(assignments)),
                ])
                .with_timeout_ms(10_000)
        };
        let resp = c
            .try_call(&req(3, vec![a(1)]), v)
            .map_err(call_err("too few"))?;
        ensure_eq!(
            resp.results[0].error_code,
            INVALID_REPLICA_ASSIGNMENT,
            "1 assignment for 2 new partitions"
        );
        let resp = c
            .try_call(&req(2, vec![a(7)]), v)
            .map_err(call_err("unknown broker"))?;
        ensure_eq!(
            resp.results[0].error_code,
            INVALID_REPLICA_ASSIGNMENT,
            "unknown broker"
        );
        let resp = c
            .try_call(&req(3, vec![a(1), a(1)]), v)
            .map_err(call_err("valid"))?;
        ensure_eq!(resp.results[0].error_code, NONE, "valid assignments");
        ensure_eq!(partition_count(c, &topic), Some(3), "partitions");
        Ok(())
    });
}

#[test]
fn describe_topic_partitions_of_every_topic() {
    let broker = shared_broker();
    let topic = unique_topic("dtp-all");
    let mut c = broker.connect();
    create_topic(&mut c, &topic, 1);
    let resp = c.call(&DescribeTopicPartitionsRequest::default(), 0);
    assert!(
        resp.topics
            .iter()
            .any(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic)),
        "empty topic list should describe every topic"
    );
}

#[test]
fn describe_log_dirs_every_version() {
    use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
    let broker = shared_broker();
    let topic = unique_topic("ldirs");
    let mut c = broker.connect();
    create_topic(&mut c, &topic, 2);
    produce(&mut c, 9, &topic, 1, make_value_batch(5, 4, 0), 1);
    let on_disk = |p: i32| -> i64 {
        std::fs::read_dir(broker.data_dir.join(format!("{topic}-{p}")))
            .expect("partition dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
            .map(|e| e.metadata().expect("metadata").len() as i64)
            .sum()
    };
    sweep(ApiKey::DescribeLogDirs, |c, v| {
        let req = DescribeLogDirsRequest::default().with_topics(Some(vec![
            DescribableLogDirTopic::default()
                .with_topic(topic_name(&topic))
                .with_partitions(vec![0, 1, 9]),
        ]));
        let resp = c.try_call(&req, v).map_err(call_err("call"))?;
        ensure_eq!(resp.results.len(), 1, "log dirs");
        let d = &resp.results[0];
        ensure_eq!(d.error_code, NONE, "dir error");
        ensure_eq!(d.topics.len(), 1, "topics");
        let sizes: Vec<(i32, i64)> = d.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.partition_size))
            .collect();
        ensure_eq!(sizes, vec![(0, on_disk(0)), (1, on_disk(1))], "sizes");
        ensure!(on_disk(1) > 0, "the produced partition is empty on disk");
        if v >= 4 {
            ensure!(
                d.total_bytes > 0 && d.usable_bytes > 0 && d.usable_bytes <= d.total_bytes,
                "capacity {} / {}",
                d.usable_bytes,
                d.total_bytes
            );
        }
        Ok(())
    });
}

/// ACL and SCRAM calls are served only to refuse them: SECURITY_DISABLED,
/// as Kafka without an authorizer, in a response of the request's version.
#[test]
fn acl_and_scram_apis_refuse_every_version() {
    use kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialDeletion;
    use kafka_protocol::messages::create_acls_request::AclCreation;
    use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
    use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
    const SECURITY_DISABLED: i16 = 54;
    sweep(ApiKey::DescribeAcls, |c, v| {
        let req = DescribeAclsRequest::default()
            .with_resource_type_filter(1)
            .with_pattern_type_filter(1)
            .with_operation(1)
            .with_permission_type(1);
        let resp = c.try_call(&req, v).map_err(call_err("describe"))?;
        ensure_eq!(resp.error_code, SECURITY_DISABLED, "describe");
        Ok(())
    });
    sweep(ApiKey::CreateAcls, |c, v| {
        let req = CreateAclsRequest::default().with_creations(vec![
            AclCreation::default()
                .with_resource_type(2)
                .with_resource_name(str_bytes("t"))
                .with_resource_pattern_type(3)
                .with_principal(str_bytes("User:alice"))
                .with_host(str_bytes("*"))
                .with_operation(3)
                .with_permission_type(3),
        ]);
        let resp = c.try_call(&req, v).map_err(call_err("create"))?;
        ensure_eq!(resp.results.len(), 1, "results");
        ensure_eq!(resp.results[0].error_code, SECURITY_DISABLED, "create");
        Ok(())
    });
    sweep(ApiKey::DeleteAcls, |c, v| {
        let req = DeleteAclsRequest::default().with_filters(vec![
            DeleteAclsFilter::default()
                .with_resource_type_filter(1)
                .with_pattern_type_filter(1)
                .with_operation(1)
                .with_permission_type(1),
        ]);
        let resp = c.try_call(&req, v).map_err(call_err("delete"))?;
        ensure_eq!(resp.filter_results.len(), 1, "filter results");
        ensure_eq!(
            resp.filter_results[0].error_code,
            SECURITY_DISABLED,
            "delete"
        );
        Ok(())
    });
    sweep(ApiKey::DescribeUserScramCredentials, |c, v| {
        let req = DescribeUserScramCredentialsRequest::default().with_users(Some(vec![
            UserName::default().with_name(str_bytes("alice")),
        ]));
        let resp = c.try_call(&req, v).map_err(call_err("describe scram"))?;
        ensure_eq!(
            resp.error_code,
            NONE,
            "top-level (librdkafka crashes on one)"
        );
        ensure_eq!(resp.results.len(), 1, "users");
        ensure_eq!(resp.results[0].error_code, SECURITY_DISABLED, "user");
        Ok(())
    });
    sweep(ApiKey::AlterUserScramCredentials, |c, v| {
        let req = AlterUserScramCredentialsRequest::default().with_deletions(vec![
            ScramCredentialDeletion::default()
                .with_name(str_bytes("alice"))
                .with_mechanism(1),
        ]);
        let resp = c.try_call(&req, v).map_err(call_err("alter scram"))?;
        ensure_eq!(resp.results.len(), 1, "users");
        ensure_eq!(resp.results[0].error_code, SECURITY_DISABLED, "user");
        Ok(())
    });
}
