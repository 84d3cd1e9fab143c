//! Writes the seed corpora under `fuzz/seeds/`: valid request frame bodies
//! (no length prefix) for `request_decode` and valid RecordBatch v2 bytes for
//! `batch_validate`. Every seed is checked with the code it seeds before it
//! is written. Run from the repository root:
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --example make_seeds

use std::path::Path;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use runnel::log::batch::{Validation, set_base_offset, validate_batch};
use runnel::log::testing::{make_batch, make_value_batch};
use runnel::protocol::codec::{decode_request, peek_preamble};
use runnel::protocol::versions::is_handled;

fn s(text: &'static str) -> StrBytes {
    StrBytes::from_static_str(text)
}

fn topic(name: &'static str) -> TopicName {
    TopicName(s(name))
}

/// A request frame body: header then message, as the connection reads it.
fn frame(key: ApiKey, version: i16, body: &impl Encodable) -> Bytes {
    assert!(is_handled(key, version), "{key:?} v{version} is not served");
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(42)
        .with_client_id(Some(s("seed")));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, key.request_header_version(version))
        .expect("header encodes");
    body.encode(&mut buf, version).expect("body encodes");
    let frame = buf.freeze();
    let pre = peek_preamble(&frame).expect("preamble");
    assert_eq!((pre.api_key, pre.api_version), (key as i16, version));
    decode_request(key, version, frame.clone()).expect("seed decodes");
    frame
}

fn request_seeds() -> Vec<(&'static str, Bytes)> {
    let batch = make_batch(&[(Some(b"k"), Some(b"v"))], 1_700_000_000_000, None);
    let produce = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic("t"))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch)),
                ]),
        ]);
    let fetch = FetchRequest::default()
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic("t"))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_fetch_offset(3)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let metadata = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(topic("t"))),
    ]));
    let create_topics = CreateTopicsRequest::default()
        .with_timeout_ms(1000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(topic("t"))
                .with_num_partitions(3)
                .with_replication_factor(1)
                .with_configs(vec![
                    CreatableTopicConfig::default()
                        .with_name(s("cleanup.policy"))
                        .with_value(Some(s("compact"))),
                ]),
        ]);
    let api_versions = ApiVersionsRequest::default()
        .with_client_software_name(s("seed"))
        .with_client_software_version(s("1"));
    vec![
        (
            "api_versions_v0",
            frame(ApiKey::ApiVersions, 0, &api_versions),
        ),
        (
            "api_versions_v3",
            frame(ApiKey::ApiVersions, 3, &api_versions),
        ),
        ("produce_v3", frame(ApiKey::Produce, 3, &produce)),
        ("produce_v9", frame(ApiKey::Produce, 9, &produce)),
        ("fetch_v4", frame(ApiKey::Fetch, 4, &fetch)),
        ("fetch_v12", frame(ApiKey::Fetch, 12, &fetch)),
        ("metadata_v1", frame(ApiKey::Metadata, 1, &metadata)),
        ("metadata_v12", frame(ApiKey::Metadata, 12, &metadata)),
        (
            "create_topics_v5",
            frame(ApiKey::CreateTopics, 5, &create_topics),
        ),
        (
            "list_offsets_v7",
            frame(ApiKey::ListOffsets, 7, &ListOffsetsRequest::default()),
        ),
        (
            "delete_topics_v6",
            frame(ApiKey::DeleteTopics, 6, &DeleteTopicsRequest::default()),
        ),
        (
            "init_producer_id_v4",
            frame(ApiKey::InitProducerId, 4, &InitProducerIdRequest::default()),
        ),
        (
            "describe_configs_v4",
            frame(
                ApiKey::DescribeConfigs,
                4,
                &DescribeConfigsRequest::default(),
            ),
        ),
        (
            "describe_topic_partitions_v0",
            frame(
                ApiKey::DescribeTopicPartitions,
                0,
                &DescribeTopicPartitionsRequest::default(),
            ),
        ),
    ]
}

fn batch_seeds() -> Vec<(&'static str, Bytes)> {
    let ts = 1_700_000_000_000;
    let one = make_batch(&[(Some(b"key"), Some(b"value"))], ts, None);
    let idempotent = make_batch(
        &[(None, Some(b"a")), (Some(b"k"), None), (None, Some(b""))],
        ts,
        Some((1000, 0, 0)),
    );
    let values = make_value_batch(4, 32, ts);
    let mut two = BytesMut::from(&one[..]);
    two.extend_from_slice(&idempotent);
    // The top byte of the first baseOffset selects LogAppendTime in the target.
    let mut log_append_time = BytesMut::from(&one[..]);
    set_base_offset(&mut log_append_time, 1 << 56);
    vec![
        ("one_record", one),
        ("idempotent_three_records", idempotent),
        ("four_values", values),
        ("two_batches", two.freeze()),
        ("log_append_time", log_append_time.freeze()),
    ]
}

fn write(dir: &Path, seeds: Vec<(&'static str, Bytes)>) {
    std::fs::create_dir_all(dir).expect("seed directory");
    for (name, bytes) in seeds {
        std::fs::write(dir.join(format!("{name}.bin")), &bytes).expect("seed written");
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let batches = batch_seeds();
    for (name, bytes) in &batches {
        let mut pos = 0;
        while pos < bytes.len() {
            let size = runnel::log::batch::peek_batch_size(&bytes[pos..]).expect("size");
            validate_batch(&bytes[pos..pos + size], 1 << 20, Validation::Produce)
                .unwrap_or_else(|e| panic!("seed {name} is invalid: {e}"));
            pos += size;
        }
    }
    write(&root.join("request_decode"), request_seeds());
    write(&root.join("batch_validate"), batches);
}
