//! The one table of API keys and version ranges Runnel serves. ApiVersions is
//! answered from it and every request's version is checked against it before
//! decoding. Ranges are chosen by hand, never taken from the codec crate:
//! advertise exactly what the handlers implement.
//!
//! Deliberate choices (lessons Apache Kafka 4 learned):
//! - Produce is advertised from v0 although v0-2 are refused: librdkafka
//!   stops compressing when a broker's Produce minimum is above 0.
//! - Metadata and FindCoordinator keep v0.
//! - FindCoordinator is always served (transaction keys answer
//!   COORDINATOR_NOT_AVAILABLE): librdkafka disables LZ4 without it.
//! - Produce v12+ and EndTxn v5 (transactions V2) are never advertised
//!   without the `transaction.version` finalized feature.

use kafka_protocol::messages::ApiKey;

/// A served API: key and inclusive version range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRange {
    pub key: ApiKey,
    /// Kafka's name of the API, for logs and metric labels.
    pub name: &'static str,
    pub min: i16,
    pub max: i16,
}

const fn api(key: ApiKey, name: &'static str, min: i16, max: i16) -> ApiRange {
    ApiRange {
        key,
        name,
        min,
        max,
    }
}

/// The APIs both listener kinds serve, with one range each: a Kafka
/// broker offers its clients of a forwarded API only the versions its
/// controller serves, so the two tables must not drift apart.
const API_VERSIONS: ApiRange = api(ApiKey::ApiVersions, "ApiVersions", 0, 4);
const CREATE_TOPICS: ApiRange = api(ApiKey::CreateTopics, "CreateTopics", 2, 7);
const DELETE_TOPICS: ApiRange = api(ApiKey::DeleteTopics, "DeleteTopics", 1, 6);
const CREATE_ACLS: ApiRange = api(ApiKey::CreateAcls, "CreateAcls", 1, 3);
const DELETE_ACLS: ApiRange = api(ApiKey::DeleteAcls, "DeleteAcls", 1, 3);
const ALTER_CONFIGS: ApiRange = api(ApiKey::AlterConfigs, "AlterConfigs", 0, 2);
const CREATE_PARTITIONS: ApiRange = api(ApiKey::CreatePartitions, "CreatePartitions", 0, 3);
const ELECT_LEADERS: ApiRange = api(ApiKey::ElectLeaders, "ElectLeaders", 0, 2);
const INCREMENTAL_ALTER_CONFIGS: ApiRange = api(
    ApiKey::IncrementalAlterConfigs,
    "IncrementalAlterConfigs",
    0,
    1,
);
const ALTER_USER_SCRAM_CREDENTIALS: ApiRange = api(
    ApiKey::AlterUserScramCredentials,
    "AlterUserScramCredentials",
    0,
    0,
);
const DESCRIBE_QUORUM: ApiRange = api(ApiKey::DescribeQuorum, "DescribeQuorum", 0, 2);
const DESCRIBE_CLUSTER: ApiRange = api(ApiKey::DescribeCluster, "DescribeCluster", 0, 1);
const UNREGISTER_BROKER: ApiRange = api(ApiKey::UnregisterBroker, "UnregisterBroker", 0, 0);

/// Every API served on a client listener, in key order.
pub const SUPPORTED_APIS: &[ApiRange] = &[
    api(ApiKey::Produce, "Produce", 0, 11),
    api(ApiKey::Fetch, "Fetch", 4, 16),
    api(ApiKey::ListOffsets, "ListOffsets", 1, 9),
    api(ApiKey::Metadata, "Metadata", 0, 12),
    api(ApiKey::OffsetCommit, "OffsetCommit", 2, 9),
    api(ApiKey::OffsetFetch, "OffsetFetch", 1, 9),
    api(ApiKey::FindCoordinator, "FindCoordinator", 0, 6),
    api(ApiKey::JoinGroup, "JoinGroup", 0, 9),
    api(ApiKey::Heartbeat, "Heartbeat", 0, 4),
    api(ApiKey::LeaveGroup, "LeaveGroup", 0, 5),
    api(ApiKey::SyncGroup, "SyncGroup", 0, 5),
    api(ApiKey::DescribeGroups, "DescribeGroups", 0, 5),
    api(ApiKey::ListGroups, "ListGroups", 0, 5),
    API_VERSIONS,
    CREATE_TOPICS,
    DELETE_TOPICS,
    api(ApiKey::DeleteRecords, "DeleteRecords", 0, 2),
    api(ApiKey::InitProducerId, "InitProducerId", 0, 5),
    api(ApiKey::OffsetForLeaderEpoch, "OffsetForLeaderEpoch", 2, 4),
    // ACLs: answered SECURITY_DISABLED, as Kafka without an authorizer.
    api(ApiKey::DescribeAcls, "DescribeAcls", 1, 3),
    CREATE_ACLS,
    DELETE_ACLS,
    api(ApiKey::DescribeConfigs, "DescribeConfigs", 1, 4),
    ALTER_CONFIGS,
    api(ApiKey::DescribeLogDirs, "DescribeLogDirs", 1, 4),
    CREATE_PARTITIONS,
    api(ApiKey::DeleteGroups, "DeleteGroups", 0, 2),
    ELECT_LEADERS,
    INCREMENTAL_ALTER_CONFIGS,
    api(ApiKey::OffsetDelete, "OffsetDelete", 0, 0),
    // SCRAM: answered SECURITY_DISABLED (no SASL yet).
    api(
        ApiKey::DescribeUserScramCredentials,
        "DescribeUserScramCredentials",
        0,
        0,
    ),
    ALTER_USER_SCRAM_CREDENTIALS,
    DESCRIBE_QUORUM,
    DESCRIBE_CLUSTER,
    UNREGISTER_BROKER,
    api(
        ApiKey::ConsumerGroupHeartbeat,
        "ConsumerGroupHeartbeat",
        0,
        1,
    ),
    api(ApiKey::ConsumerGroupDescribe, "ConsumerGroupDescribe", 0, 1),
    api(
        ApiKey::DescribeTopicPartitions,
        "DescribeTopicPartitions",
        0,
        0,
    ),
];

/// Every API a controller listener serves, in key order: the controller
/// side of Kafka's `ApiMessageType` listeners (`"controller"`). The broker
/// lifecycle RPCs are served only here, as in Kafka; client APIs are never
/// served on a controller port, so the port is not a second, unadvertised
/// client listener.
///
/// The admin APIs a broker forwards (inside Envelope, KIP-590) are listed
/// too, with the client listener's ranges: a Kafka broker offers its
/// clients only the versions its controller serves.
pub const CONTROLLER_APIS: &[ApiRange] = &[
    // The metadata log, to brokers observing the quorum (KIP-595); from
    // v13, where the partition is keyed by its topic id.
    api(ApiKey::Fetch, "Fetch", 13, 17),
    API_VERSIONS,
    CREATE_TOPICS,
    DELETE_TOPICS,
    CREATE_ACLS,
    DELETE_ACLS,
    ALTER_CONFIGS,
    CREATE_PARTITIONS,
    ELECT_LEADERS,
    INCREMENTAL_ALTER_CONFIGS,
    ALTER_USER_SCRAM_CREDENTIALS,
    DESCRIBE_QUORUM,
    // From partition leaders: v2-3, the versions Kafka 4's schema keeps
    // (v0-1 named topics).
    api(ApiKey::AlterPartition, "AlterPartition", 2, 3),
    api(ApiKey::Envelope, "Envelope", 0, 0),
    api(ApiKey::FetchSnapshot, "FetchSnapshot", 0, 1),
    DESCRIBE_CLUSTER,
    api(ApiKey::BrokerRegistration, "BrokerRegistration", 0, 4),
    api(ApiKey::BrokerHeartbeat, "BrokerHeartbeat", 0, 1),
    UNREGISTER_BROKER,
    api(ApiKey::AllocateProducerIds, "AllocateProducerIds", 0, 0),
];

/// What a listener is for: clients (every listener not named in
/// `controller.listener.names`) or the controller quorum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    Client,
    Controller,
}

impl ListenerKind {
    /// The APIs served on a listener of this kind.
    pub fn apis(self) -> &'static [ApiRange] {
        match self {
            ListenerKind::Client => SUPPORTED_APIS,
            ListenerKind::Controller => CONTROLLER_APIS,
        }
    }

    /// The served range of `key`, if any.
    pub fn range(self, key: ApiKey) -> Option<ApiRange> {
        self.apis().iter().copied().find(|r| r.key == key)
    }

    /// Whether a request of this key and version is decoded and handled.
    pub fn is_handled(self, key: ApiKey, version: i16) -> bool {
        match self.range(key) {
            Some(r) if key == ApiKey::Produce => {
                version >= PRODUCE_REFUSED_BELOW && version <= r.max
            }
            Some(r) => version >= r.min && version <= r.max,
            None => false,
        }
    }
}

/// A feature flag (KIP-584): the levels this broker supports (ApiVersions
/// v3+, the broker's registration) and the level a new cluster finalizes,
/// written to the metadata log as its bootstrap records (0: off, and then
/// not listed as finalized, as in Kafka). ApiVersions reports the
/// finalized levels of the metadata image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    pub name: &'static str,
    pub min: i16,
    pub max: i16,
    pub finalized: i16,
}

/// Every feature flag, with the levels that match the versions table above
/// (Kafka 4.1's protocol level). Clients read these: Kafka's admin
/// `describeFeatures` and `kafka-features describe`, and the Java producer,
/// which uses transactions V2 only when `transaction.version` >= 2.
pub const FEATURES: &[Feature] = &[
    // 3.3-IV3 (the oldest level Kafka 4 supports) to 4.1-IV1.
    Feature {
        name: "metadata.version",
        min: 7,
        max: 27,
        finalized: 27,
    },
    // KIP-848 consumer groups are served.
    Feature {
        name: "group.version",
        min: 0,
        max: 1,
        finalized: 1,
    },
    // No transactions V2 (KIP-890), no eligible leader replicas (KIP-966),
    // a static controller quorum (no KIP-853), no share or streams groups.
    Feature {
        name: "transaction.version",
        min: 0,
        max: 0,
        finalized: 0,
    },
    Feature {
        name: "eligible.leader.replicas.version",
        min: 0,
        max: 0,
        finalized: 0,
    },
    Feature {
        name: "kraft.version",
        min: 0,
        max: 0,
        finalized: 0,
    },
];

/// Produce versions that are advertised but refused (message formats v0/v1).
pub const PRODUCE_REFUSED_BELOW: i16 = 3;

/// The served range of `key` on a client listener, if any.
pub fn supported_range(key: ApiKey) -> Option<ApiRange> {
    ListenerKind::Client.range(key)
}

/// Whether a client listener decodes and handles this key and version.
pub fn is_handled(key: ApiKey, version: i16) -> bool {
    ListenerKind::Client.is_handled(key, version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::Message;

    fn codec_range(key: ApiKey) -> (i16, i16) {
        let v = match key {
            ApiKey::Produce => ProduceRequest::VERSIONS,
            ApiKey::Fetch => FetchRequest::VERSIONS,
            ApiKey::ListOffsets => ListOffsetsRequest::VERSIONS,
            ApiKey::Metadata => MetadataRequest::VERSIONS,
            ApiKey::OffsetForLeaderEpoch => OffsetForLeaderEpochRequest::VERSIONS,
            ApiKey::ApiVersions => ApiVersionsRequest::VERSIONS,
            ApiKey::FindCoordinator => FindCoordinatorRequest::VERSIONS,
            ApiKey::CreateTopics => CreateTopicsRequest::VERSIONS,
            ApiKey::DeleteTopics => DeleteTopicsRequest::VERSIONS,
            ApiKey::DeleteRecords => DeleteRecordsRequest::VERSIONS,
            ApiKey::InitProducerId => InitProducerIdRequest::VERSIONS,
            ApiKey::DescribeConfigs => DescribeConfigsRequest::VERSIONS,
            ApiKey::AlterConfigs => AlterConfigsRequest::VERSIONS,
            ApiKey::CreatePartitions => CreatePartitionsRequest::VERSIONS,
            ApiKey::ElectLeaders => ElectLeadersRequest::VERSIONS,
            ApiKey::IncrementalAlterConfigs => IncrementalAlterConfigsRequest::VERSIONS,
            ApiKey::DescribeCluster => DescribeClusterRequest::VERSIONS,
            ApiKey::DescribeQuorum => DescribeQuorumRequest::VERSIONS,
            ApiKey::DescribeTopicPartitions => DescribeTopicPartitionsRequest::VERSIONS,
            ApiKey::OffsetCommit => OffsetCommitRequest::VERSIONS,
            ApiKey::OffsetFetch => OffsetFetchRequest::VERSIONS,
            ApiKey::JoinGroup => JoinGroupRequest::VERSIONS,
            ApiKey::Heartbeat => HeartbeatRequest::VERSIONS,
            ApiKey::LeaveGroup => LeaveGroupRequest::VERSIONS,
            ApiKey::SyncGroup => SyncGroupRequest::VERSIONS,
            ApiKey::DescribeGroups => DescribeGroupsRequest::VERSIONS,
            ApiKey::ListGroups => ListGroupsRequest::VERSIONS,
            ApiKey::DeleteGroups => DeleteGroupsRequest::VERSIONS,
            ApiKey::OffsetDelete => OffsetDeleteRequest::VERSIONS,
            ApiKey::ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest::VERSIONS,
            ApiKey::ConsumerGroupDescribe => ConsumerGroupDescribeRequest::VERSIONS,
            ApiKey::DescribeAcls => DescribeAclsRequest::VERSIONS,
            ApiKey::CreateAcls => CreateAclsRequest::VERSIONS,
            ApiKey::DeleteAcls => DeleteAclsRequest::VERSIONS,
            ApiKey::DescribeUserScramCredentials => DescribeUserScramCredentialsRequest::VERSIONS,
            ApiKey::AlterUserScramCredentials => AlterUserScramCredentialsRequest::VERSIONS,
            ApiKey::DescribeLogDirs => DescribeLogDirsRequest::VERSIONS,
            ApiKey::BrokerRegistration => BrokerRegistrationRequest::VERSIONS,
            ApiKey::BrokerHeartbeat => BrokerHeartbeatRequest::VERSIONS,
            ApiKey::Envelope => EnvelopeRequest::VERSIONS,
            ApiKey::FetchSnapshot => FetchSnapshotRequest::VERSIONS,
            ApiKey::AllocateProducerIds => AllocateProducerIdsRequest::VERSIONS,
            ApiKey::UnregisterBroker => UnregisterBrokerRequest::VERSIONS,
            ApiKey::AlterPartition => AlterPartitionRequest::VERSIONS,
            other => panic!("no codec range listed for {other:?}"),
        };
        (v.min, v.max)
    }

    #[test]
    fn every_handled_version_is_decodable_by_the_codec() {
        for r in SUPPORTED_APIS.iter().chain(CONTROLLER_APIS) {
            let (min, max) = codec_range(r.key);
            let first_handled = if r.key == ApiKey::Produce {
                PRODUCE_REFUSED_BELOW
            } else {
                r.min
            };
            assert!(
                first_handled >= min && r.max <= max,
                "{:?} {}..{} outside codec {}..{}",
                r.key,
                r.min,
                r.max,
                min,
                max
            );
        }
    }

    #[test]
    fn transaction_v2_versions_are_not_advertised() {
        assert!(supported_range(ApiKey::Produce).unwrap().max < 12);
        assert!(supported_range(ApiKey::EndTxn).is_none_or(|r| r.max < 5));
    }

    #[test]
    fn produce_is_advertised_from_zero_but_refused_below_three() {
        assert_eq!(supported_range(ApiKey::Produce).unwrap().min, 0);
        assert!(!is_handled(ApiKey::Produce, 2));
        assert!(is_handled(ApiKey::Produce, 3));
        assert_eq!(supported_range(ApiKey::Metadata).unwrap().min, 0);
    }

    #[test]
    fn keys_are_listed_once_in_order() {
        for table in [SUPPORTED_APIS, CONTROLLER_APIS] {
            for w in table.windows(2) {
                assert!((w[0].key as i16) < (w[1].key as i16));
            }
        }
    }

    #[test]
    fn lifecycle_rpcs_are_served_on_controller_listeners_only() {
        for key in [ApiKey::BrokerRegistration, ApiKey::BrokerHeartbeat] {
            assert!(ListenerKind::Controller.range(key).is_some());
            assert!(ListenerKind::Client.range(key).is_none());
        }
        assert!(!ListenerKind::Controller.is_handled(ApiKey::Produce, 9));
        assert!(!ListenerKind::Controller.is_handled(ApiKey::Metadata, 12));
        // Shared APIs have the same range on both; the controller's Fetch
        // serves the metadata log only.
        for r in CONTROLLER_APIS.iter().filter(|r| r.key != ApiKey::Fetch) {
            if let Some(client) = ListenerKind::Client.range(r.key) {
                assert_eq!(client, *r);
            }
        }
    }
}
