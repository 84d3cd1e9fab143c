//! Every advertised version of the group APIs against a real broker:
//! FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! OffsetCommit, OffsetFetch, DescribeGroups, ListGroups, DeleteGroups and
//! OffsetDelete. Each version gets a realistic request and must answer a
//! response that decodes at that version, with the error codes Kafka's group
//! coordinator gives (`GroupCoordinatorService`, `GroupMetadataManager`,
//! `OffsetMetadataManager`, KafkaApis' request filtering).
//!
//! The brokers run with `group.initial.rebalance.delay.ms=0`, so a join
//! completes as soon as every known member has joined. A sweep collects every
//! failing version before it fails, with the broker's log lines about closed
//! connections (a field set that the version lacks makes the codec refuse
//! the response, and the broker closes the connection).

mod common;

use bytes::{BufMut, Bytes, BytesMut};
use common::*;
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedPartition;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Encodable;
use runnel::protocol::versions::supported_range;

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
/// Transaction keys: refused at once until transactions exist (the one
/// code clients fail fast on; handlers/not_supported.rs).
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const ILLEGAL_GENERATION: i16 = 22;
const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
const INVALID_GROUP_ID: i16 = 24;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_SESSION_TIMEOUT: i16 = 26;
const INVALID_REQUEST: i16 = 42;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_ID_NOT_FOUND: i16 = 69;
const MEMBER_ID_REQUIRED: i16 = 79;
const FENCED_INSTANCE_ID: i16 = 82;
const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;

const KEY_GROUP: i8 = 0;
const KEY_TRANSACTION: i8 = 1;

const SESSION_TIMEOUT_MS: i32 = 10_000;
const PROTOCOL_TYPE: &str = "consumer";
const PROTOCOL: &str = "range";
const CLIENT_ID: &str = "runnel-protocol-tests";

const OVERRIDES: &[(&str, &str)] = &[("group.initial.rebalance.delay.ms", "0")];

fn broker() -> &'static BrokerProcess {
    shared_broker_with(OVERRIDES)
}

/// Every advertised version of `key`.
fn versions(key: ApiKey) -> std::ops::RangeInclusive<i16> {
    let r = supported_range(key).expect("API is served");
    r.min..=r.max
}

/// `i` clamped into the advertised range of `key`: a walk over 0..=9 then
/// visits every version of every group API.
fn at(key: ApiKey, i: i16) -> i16 {
    let r = supported_range(key).expect("API is served");
    i.clamp(r.min, r.max)
}

/// Runs `f` for each version on a fresh connection; reports every failing
/// version at once.
fn sweep(
    what: &str,
    vs: impl IntoIterator<Item = i16>,
    mut f: impl FnMut(&mut Client, i16) -> Result<(), String>,
) {
    let b = broker();
    let mut failures = Failures::new(what);
    for v in vs {
        let mut c = b.connect();
        failures.check(v, f(&mut c, v));
    }
    failures.finish(b);
}

fn gid(s: &str) -> GroupId {
    GroupId(str_bytes(s))
}

/// A topic with `partitions` partitions for this test.
fn topic(prefix: &str, partitions: i32) -> String {
    let name = unique_topic(prefix);
    create_topic(&mut broker().connect(), &name, partitions);
    name
}

/// A ConsumerProtocolSubscription (v0) of `topics`, version-prefixed.
fn subscription(topics: &[&str]) -> Bytes {
    let s = ConsumerProtocolSubscription::default()
        .with_topics(topics.iter().map(|t| str_bytes(t)).collect());
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    s.encode(&mut buf, 0).expect("encoding a subscription");
    buf.freeze()
}

/// A ConsumerProtocolAssignment (v0) of every listed partition.
fn assignment(topic: &str, partitions: &[i32]) -> Bytes {
    let a = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
        AssignedPartition::default()
            .with_topic(topic_name(topic))
            .with_partitions(partitions.to_vec()),
    ]);
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    a.encode(&mut buf, 0).expect("encoding an assignment");
    buf.freeze()
}

// ---- requests, with each field only in the versions that carry it

struct Join<'a> {
    group: &'a str,
    member_id: &'a str,
    instance: Option<&'a str>,
    session_timeout_ms: i32,
    protocol_type: &'a str,
    protocols: Vec<(&'a str, Bytes)>,
}

impl<'a> Join<'a> {
    fn new(group: &'a str, metadata: Bytes) -> Join<'a> {
        Join {
            group,
            member_id: "",
            instance: None,
            session_timeout_ms: SESSION_TIMEOUT_MS,
            protocol_type: PROTOCOL_TYPE,
            protocols: vec![(PROTOCOL, metadata)],
        }
    }

    fn member(mut self, member_id: &'a str) -> Self {
        self.member_id = member_id;
        self
    }

    fn instance(mut self, instance: &'a str) -> Self {
        self.instance = Some(instance);
        self
    }

    fn request(&self, v: i16) -> JoinGroupRequest {
        let mut r = JoinGroupRequest::default()
            .with_group_id(gid(self.group))
            .with_session_timeout_ms(self.session_timeout_ms)
            .with_member_id(str_bytes(self.member_id))
            .with_protocol_type(str_bytes(self.protocol_type))
            .with_protocols(
                self.protocols
                    .iter()
                    .map(|(n, m)| {
                        JoinGroupRequestProtocol::default()
                            .with_name(str_bytes(n))
                            .with_metadata(m.clone())
                    })
                    .collect(),
            );
        if v >= 1 {
            r = r.with_rebalance_timeout_ms(SESSION_TIMEOUT_MS);
        }
        if v >= 5 {
            r = r.with_group_instance_id(self.instance.map(str_bytes));
        }
        if v >= 8 {
            r = r.with_reason(Some(str_bytes("protocol test")));
        }
        r
    }

    fn send(&self, c: &mut Client, v: i16) -> Result<JoinGroupResponse, String> {
        c.try_call(&self.request(v), v)
            .map_err(call_err(&format!("JoinGroup v{v}")))
    }

    /// Joins as a new dynamic member; from v4 through MEMBER_ID_REQUIRED
    /// and a second join with the handed-out id (KIP-394).
    fn join_new(self, c: &mut Client, v: i16) -> Result<JoinGroupResponse, String> {
        let first = self.send(c, v)?;
        if v < 4 || self.instance.is_some() {
            return Ok(first);
        }
        ensure_eq!(first.error_code, MEMBER_ID_REQUIRED, "first JoinGroup v{v}");
        ensure!(
            !first.member_id.is_empty(),
            "MEMBER_ID_REQUIRED came without a member id"
        );
        ensure_eq!(
            first.generation_id,
            -1,
            "generation with MEMBER_ID_REQUIRED"
        );
        let again = self.request(v).with_member_id(first.member_id);
        c.try_call(&again, v)
            .map_err(call_err(&format!("second JoinGroup v{v}")))
    }
}

fn sync_request(
    v: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    instance: Option<&str>,
    assignments: &[(&str, Bytes)],
) -> SyncGroupRequest {
    let mut r = SyncGroupRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(generation)
        .with_member_id(str_bytes(member_id))
        .with_assignments(
            assignments
                .iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(str_bytes(m))
                        .with_assignment(a.clone())
                })
                .collect(),
        );
    if v >= 3 {
        r = r.with_group_instance_id(instance.map(str_bytes));
    }
    if v >= 5 {
        r = r
            .with_protocol_type(Some(str_bytes(PROTOCOL_TYPE)))
            .with_protocol_name(Some(str_bytes(PROTOCOL)));
    }
    r
}

fn heartbeat_request(
    v: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    instance: Option<&str>,
) -> HeartbeatRequest {
    let r = HeartbeatRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(generation)
        .with_member_id(str_bytes(member_id));
    if v >= 3 {
        r.with_group_instance_id(instance.map(str_bytes))
    } else {
        r
    }
}

/// LeaveGroup of dynamic members: v0-2 name one at the top level.
fn leave_request(v: i16, group: &str, members: &[&str]) -> LeaveGroupRequest {
    let r = LeaveGroupRequest::default().with_group_id(gid(group));
    if v >= 3 {
        r.with_members(
            members
                .iter()
                .map(|m| {
                    let id = MemberIdentity::default().with_member_id(str_bytes(m));
                    if v >= 5 {
                        id.with_reason(Some(str_bytes("protocol test")))
                    } else {
                        id
                    }
                })
                .collect(),
        )
    } else {
        assert_eq!(members.len(), 1, "v{v} leaves one member");
        r.with_member_id(str_bytes(members[0]))
    }
}

/// One committed partition: (partition, offset, leader epoch, metadata).
type Commit<'a> = (i32, i64, i32, &'a str);

fn commit_request(
    v: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    topic: &str,
    partitions: &[Commit],
) -> OffsetCommitRequest {
    let r = OffsetCommitRequest::default()
        .with_group_id(gid(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(str_bytes(member_id))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|&(p, offset, epoch, metadata)| {
                            let p = OffsetCommitRequestPartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(offset)
                                .with_committed_metadata(Some(str_bytes(metadata)));
                            if v >= 6 {
                                p.with_committed_leader_epoch(epoch)
                            } else {
                                p
                            }
                        })
                        .collect(),
                ),
        ]);
    if v <= 4 {
        r.with_retention_time_ms(-1)
    } else {
        r
    }
}

/// The per-partition codes of an OffsetCommit response, in response order.
fn commit_codes(resp: &OffsetCommitResponse) -> Vec<(String, i32, i16)> {
    resp.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.to_string(), p.partition_index, p.error_code))
        })
        .collect()
}

fn commit(
    c: &mut Client,
    v: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    topic: &str,
    partitions: &[Commit],
) -> Result<Vec<(String, i32, i16)>, String> {
    let resp = c
        .try_call(
            &commit_request(v, group, generation, member_id, topic, partitions),
            v,
        )
        .map_err(call_err(&format!("OffsetCommit v{v}")))?;
    let mut codes = commit_codes(&resp);
    // Kafka answers the partitions it refuses before it asks the
    // coordinator; only the set matters.
    codes.sort();
    Ok(codes)
}

/// A simple commit (generation -1, no member) at v9; asserts success. A
/// retriable coordinator error (the shared broker's `__consumer_offsets`
/// still being created by another test) is retried, as clients retry it.
fn simple_commit(c: &mut Client, group: &str, topic: &str, partitions: &[Commit]) {
    const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let codes = loop {
        let codes = commit(c, 9, group, -1, "", topic, partitions).expect("simple commit");
        let retriable = codes.iter().any(|(_, _, code)| {
            [COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS].contains(code)
        });
        if !retriable || std::time::Instant::now() > deadline {
            break codes;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        codes.iter().all(|(_, _, code)| *code == NONE),
        "simple commit to {group}: {codes:?}"
    );
}

/// One fetched partition: (topic, partition, offset, leader epoch,
/// metadata, error).
type Fetched = (String, i32, i64, i32, Option<String>, i16);

/// OffsetFetch of one group at `v` (the v8+ batch of one group, if need
/// be). `topics` None asks for every committed partition (v2+).
/// Returns the group's error code and partitions.
fn fetch_offsets(
    c: &mut Client,
    v: i16,
    group: &str,
    topics: Option<&[(&str, &[i32])]>,
) -> Result<(i16, Vec<Fetched>), String> {
    let mut groups = fetch_offsets_batch(c, v, &[(group, topics)])?;
    ensure_eq!(groups.len(), 1, "OffsetFetch v{v} groups");
    Ok(groups.remove(0))
}

/// The partitions of an OffsetFetch answer's topics as [`Fetched`] (the
/// v8+ and the older entries are different types with the same fields).
macro_rules! fetched {
    ($topics:expr) => {
        $topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(move |p| {
                    (
                        t.name.0.to_string(),
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.metadata.as_ref().map(|m| m.to_string()),
                        p.error_code,
                    )
                })
            })
            .collect::<Vec<Fetched>>()
    };
}

/// Topics and partitions an OffsetFetch names; None: every committed one.
type Wanted<'a> = Option<&'a [(&'a str, &'a [i32])]>;

/// OffsetFetch of several groups: one request from v8, else one per group.
fn fetch_offsets_batch(
    c: &mut Client,
    v: i16,
    groups: &[(&str, Wanted)],
) -> Result<Vec<(i16, Vec<Fetched>)>, String> {
    let what = format!("OffsetFetch v{v}");
    if v >= 8 {
        let req = OffsetFetchRequest::default()
            .with_require_stable(true)
            .with_groups(
                groups
                    .iter()
                    .map(|(g, topics)| {
                        OffsetFetchRequestGroup::default()
                            .with_group_id(gid(g))
                            .with_topics(topics.map(|ts| {
                                ts.iter()
                                    .map(|(t, ps)| {
                                        OffsetFetchRequestTopics::default()
                                            .with_name(topic_name(t))
                                            .with_partition_indexes(ps.to_vec())
                                    })
                                    .collect()
                            }))
                    })
                    .collect(),
            );
        let resp = c.try_call(&req, v).map_err(call_err(&what))?;
        ensure_eq!(resp.groups.len(), groups.len(), "{what} groups");
        let mut out = Vec::new();
        for (g, (want, _)) in resp.groups.iter().zip(groups) {
            ensure_eq!(g.group_id.as_str(), *want, "{what} group order");
            out.push((g.error_code, fetched!(g.topics)));
        }
        return Ok(out);
    }
    let mut out = Vec::new();
    for (g, topics) in groups {
        let mut req = OffsetFetchRequest::default()
            .with_group_id(gid(g))
            .with_topics(topics.map(|ts| {
                ts.iter()
                    .map(|(t, ps)| {
                        OffsetFetchRequestTopic::default()
                            .with_name(topic_name(t))
                            .with_partition_indexes(ps.to_vec())
                    })
                    .collect()
            }));
        if v >= 7 {
            req = req.with_require_stable(true);
        }
        let resp = c.try_call(&req, v).map_err(call_err(&what))?;
        out.push((resp.error_code, fetched!(resp.topics)));
    }
    Ok(out)
}

fn describe(c: &mut Client, v: i16, groups: &[&str]) -> Result<DescribeGroupsResponse, String> {
    let mut req =
        DescribeGroupsRequest::default().with_groups(groups.iter().map(|g| gid(g)).collect());
    if v >= 3 {
        req = req.with_include_authorized_operations(true);
    }
    c.try_call(&req, v)
        .map_err(call_err(&format!("DescribeGroups v{v}")))
}

fn list_groups(
    c: &mut Client,
    v: i16,
    states: &[&str],
    types: &[&str],
) -> Result<ListGroupsResponse, String> {
    let mut req = ListGroupsRequest::default();
    if v >= 4 {
        req = req.with_states_filter(states.iter().map(|s| str_bytes(s)).collect());
    }
    if v >= 5 {
        req = req.with_types_filter(types.iter().map(|s| str_bytes(s)).collect());
    }
    let resp = c
        .try_call(&req, v)
        .map_err(call_err(&format!("ListGroups v{v}")))?;
    ensure_eq!(resp.error_code, NONE, "ListGroups v{v} error");
    Ok(resp)
}

fn listed<'a>(resp: &'a ListGroupsResponse, group: &str) -> Option<&'a ListedGroup> {
    resp.groups.iter().find(|g| g.group_id.as_str() == group)
}

fn delete_groups(c: &mut Client, v: i16, groups: &[&str]) -> Result<Vec<i16>, String> {
    let resp = c
        .try_call(
            &DeleteGroupsRequest::default()
                .with_groups_names(groups.iter().map(|g| gid(g)).collect()),
            v,
        )
        .map_err(call_err(&format!("DeleteGroups v{v}")))?;
    ensure_eq!(resp.results.len(), groups.len(), "DeleteGroups results");
    for (r, g) in resp.results.iter().zip(groups) {
        ensure_eq!(r.group_id.as_str(), *g, "DeleteGroups result order");
    }
    Ok(resp.results.iter().map(|r| r.error_code).collect())
}

fn offset_delete(
    c: &mut Client,
    group: &str,
    topic: &str,
    partitions: &[i32],
) -> OffsetDeleteResponse {
    c.call(
        &OffsetDeleteRequest::default()
            .with_group_id(gid(group))
            .with_topics(vec![
                OffsetDeleteRequestTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(
                        partitions
                            .iter()
                            .map(|p| {
                                OffsetDeleteRequestPartition::default().with_partition_index(*p)
                            })
                            .collect(),
                    ),
            ]),
        0,
    )
}

/// A group with one dynamic member that has joined (v5) and, with `sync`,
/// synced: (member id, generation).
fn one_member_group(c: &mut Client, group: &str, topic: &str, sync: bool) -> (String, i32) {
    let j = Join::new(group, subscription(&[topic]))
        .join_new(c, 5)
        .expect("joining");
    assert_eq!(j.error_code, NONE, "join of {group}");
    let member = j.member_id.to_string();
    if sync {
        let s = c.call(
            &sync_request(
                5,
                group,
                j.generation_id,
                &member,
                None,
                &[(&member, assignment(topic, &[0]))],
            ),
            5,
        );
        assert_eq!(s.error_code, NONE, "sync of {group}");
    }
    (member, j.generation_id)
}

// ---- FindCoordinator

/// The first FindCoordinators on a fresh broker race the creation of
/// `__consumer_offsets`: each must get a coordinator or the retriable
/// COORDINATOR_NOT_AVAILABLE, never NOT_COORDINATOR (which sends a client
/// looking for another broker).
#[test]
fn find_coordinator_during_offsets_topic_creation_is_retriable() {
    let b = BrokerProcess::start(&[("offsets.topic.num.partitions", "16")]);
    let clients: Vec<_> = (0..32)
        .map(|i| {
            let mut c = b.connect();
            std::thread::spawn(move || {
                let req = FindCoordinatorRequest::default()
                    .with_key_type(KEY_GROUP)
                    .with_coordinator_keys(vec![str_bytes(&format!("race-{i}"))]);
                c.call(&req, 4).coordinators[0].error_code
            })
        })
        .collect();
    let codes: Vec<i16> = clients.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        codes
            .iter()
            .all(|c| *c == NONE || *c == COORDINATOR_NOT_AVAILABLE),
        "{codes:?}"
    );
}

#[test]
fn find_coordinator_every_version() {
    let b = broker();
    sweep(
        "FindCoordinator",
        versions(ApiKey::FindCoordinator),
        |c, v| {
            let g1 = unique_topic("fc-group");
            let g2 = unique_topic("fc-group");
            let check_node = |node: i32, host: &str, port: i32, what: &str| -> Result<(), String> {
                ensure_eq!(node, 1, "{what} node id");
                ensure_eq!(host, "127.0.0.1", "{what} host");
                ensure_eq!(port, i32::from(b.port), "{what} port");
                Ok(())
            };
            if v < 4 {
                let mut req = FindCoordinatorRequest::default().with_key(str_bytes(&g1));
                if v >= 1 {
                    req = req.with_key_type(KEY_GROUP);
                }
                let r = c.try_call(&req, v).map_err(call_err("group key"))?;
                ensure_eq!(r.error_code, NONE, "group key error");
                check_node(r.node_id.0, r.host.as_str(), r.port, "group key")?;
                if v >= 1 {
                    let r = c
                        .try_call(
                            &FindCoordinatorRequest::default()
                                .with_key(str_bytes("txn-1"))
                                .with_key_type(KEY_TRANSACTION),
                            v,
                        )
                        .map_err(call_err("transaction key"))?;
                    ensure_eq!(
                        r.error_code,
                        CLUSTER_AUTHORIZATION_FAILED,
                        "transaction key"
                    );
                    ensure_eq!(r.node_id.0, -1, "transaction key node id");
                    ensure!(
                        r.error_message.is_some(),
                        "transaction key without a message"
                    );
                }
                return Ok(());
            }
            let r = c
                .try_call(
                    &FindCoordinatorRequest::default()
                        .with_key_type(KEY_GROUP)
                        .with_coordinator_keys(vec![str_bytes(&g1), str_bytes(&g2)]),
                    v,
                )
                .map_err(call_err("batched group keys"))?;
            ensure_eq!(r.coordinators.len(), 2, "coordinators");
            for (co, key) in r.coordinators.iter().zip([&g1, &g2]) {
                ensure_eq!(co.key.as_str(), key.as_str(), "coordinator key");
                ensure_eq!(co.error_code, NONE, "group key {key}");
                check_node(co.node_id.0, co.host.as_str(), co.port, key)?;
            }
            let r = c
                .try_call(
                    &FindCoordinatorRequest::default()
                        .with_key_type(KEY_TRANSACTION)
                        .with_coordinator_keys(vec![str_bytes("txn-1"), str_bytes("txn-2")]),
                    v,
                )
                .map_err(call_err("batched transaction keys"))?;
            ensure_eq!(r.coordinators.len(), 2, "transaction coordinators");
            for co in &r.coordinators {
                ensure_eq!(
                    co.error_code,
                    CLUSTER_AUTHORIZATION_FAILED,
                    "transaction key"
                );
                ensure_eq!(co.node_id.0, -1, "transaction key node id");
            }
            // Share keys (type 2): no share coordinator, Kafka's INVALID_REQUEST.
            let r = c
                .try_call(
                    &FindCoordinatorRequest::default()
                        .with_key_type(2)
                        .with_coordinator_keys(vec![str_bytes("g:t:0")]),
                    v,
                )
                .map_err(call_err("share key"))?;
            ensure_eq!(r.coordinators[0].error_code, INVALID_REQUEST, "share key");
            Ok(())
        },
    );
}

// ---- the classic dance, one member per version

/// For i in 0..=9 every group API runs at `at(key, i)`: FindCoordinator,
/// join (with MEMBER_ID_REQUIRED from v4), sync as leader, heartbeat,
/// commit with generation and member, fetch back, describe and list the
/// Stable group, leave, and the group is Empty with its offsets kept.
#[test]
fn classic_group_dance_every_version() {
    let b = broker();
    let t = topic("dance", 2);
    sweep("classic group dance", 0..=9, |c, i| {
        let group = unique_topic(&format!("dance-{i}"));
        let (fcv, jv, sv, hv, ocv, ofv, dv, lgv, lv) = (
            at(ApiKey::FindCoordinator, i),
            at(ApiKey::JoinGroup, i),
            at(ApiKey::SyncGroup, i),
            at(ApiKey::Heartbeat, i),
            at(ApiKey::OffsetCommit, i),
            at(ApiKey::OffsetFetch, i),
            at(ApiKey::DescribeGroups, i),
            at(ApiKey::ListGroups, i),
            at(ApiKey::LeaveGroup, i),
        );

        // FindCoordinator names this broker.
        let fc = if fcv >= 4 {
            FindCoordinatorRequest::default().with_coordinator_keys(vec![str_bytes(&group)])
        } else {
            FindCoordinatorRequest::default().with_key(str_bytes(&group))
        };
        let fc = c
            .try_call(&fc, fcv)
            .map_err(call_err(&format!("FindCoordinator v{fcv}")))?;
        let port = if fcv >= 4 {
            ensure_eq!(fc.coordinators[0].error_code, NONE, "FindCoordinator");
            fc.coordinators[0].port
        } else {
            ensure_eq!(fc.error_code, NONE, "FindCoordinator");
            fc.port
        };
        ensure_eq!(port, i32::from(b.port), "coordinator port");

        // JoinGroup: the only member is the leader of generation 1.
        let sub = subscription(&[&t]);
        let j = Join::new(&group, sub.clone()).join_new(c, jv)?;
        ensure_eq!(j.error_code, NONE, "JoinGroup v{jv}");
        let member = j.member_id.to_string();
        ensure!(!member.is_empty(), "JoinGroup v{jv} without a member id");
        ensure_eq!(j.generation_id, 1, "JoinGroup v{jv} generation");
        ensure_eq!(j.leader.as_str(), member.as_str(), "JoinGroup v{jv} leader");
        ensure_eq!(
            j.protocol_name.as_deref(),
            Some(PROTOCOL),
            "JoinGroup v{jv} protocol name"
        );
        if jv >= 7 {
            ensure_eq!(
                j.protocol_type.as_deref(),
                Some(PROTOCOL_TYPE),
                "JoinGroup v{jv} protocol type"
            );
        }
        ensure_eq!(j.members.len(), 1, "JoinGroup v{jv} members (leader)");
        ensure_eq!(
            j.members[0].member_id.as_str(),
            member.as_str(),
            "member id"
        );
        ensure_eq!(j.members[0].metadata, sub, "member metadata");
        ensure!(!j.skip_assignment, "skip_assignment on a first join");

        // SyncGroup as leader with an assignment.
        let assigned = assignment(&t, &[0, 1]);
        let s = c
            .try_call(
                &sync_request(sv, &group, 1, &member, None, &[(&member, assigned.clone())]),
                sv,
            )
            .map_err(call_err(&format!("SyncGroup v{sv}")))?;
        ensure_eq!(s.error_code, NONE, "SyncGroup v{sv}");
        ensure_eq!(s.assignment, assigned, "SyncGroup v{sv} assignment");
        if sv >= 5 {
            ensure_eq!(s.protocol_type.as_deref(), Some(PROTOCOL_TYPE), "sync type");
            ensure_eq!(s.protocol_name.as_deref(), Some(PROTOCOL), "sync name");
        }

        // Heartbeat.
        let h = c
            .try_call(&heartbeat_request(hv, &group, 1, &member, None), hv)
            .map_err(call_err(&format!("Heartbeat v{hv}")))?;
        ensure_eq!(h.error_code, NONE, "Heartbeat v{hv}");

        // OffsetCommit with generation and member.
        let meta = format!("meta-{i}");
        let codes = commit(
            c,
            ocv,
            &group,
            1,
            &member,
            &t,
            &[(0, 42, 7, &meta), (1, 43, 8, "")],
        )?;
        ensure_eq!(
            codes,
            vec![(t.clone(), 0, NONE), (t.clone(), 1, NONE)],
            "OffsetCommit v{ocv}"
        );

        // OffsetFetch reads back offset, metadata and (v6+ commit, v5+
        // fetch) the leader epoch.
        let check_fetched = |fetched: &[Fetched], when: &str| -> Result<(), String> {
            let epoch = |e: i32| if ocv >= 6 && ofv >= 5 { e } else { -1 };
            let want = vec![
                (t.clone(), 0, 42, epoch(7), Some(meta.clone()), NONE),
                (t.clone(), 1, 43, epoch(8), Some(String::new()), NONE),
            ];
            let mut got = fetched.to_vec();
            got.sort();
            if ofv < 5 {
                for g in &mut got {
                    g.3 = -1;
                }
            }
            ensure_eq!(got, want, "OffsetFetch v{ofv} {when}");
            Ok(())
        };
        let parts: &[i32] = &[0, 1];
        let (code, fetched) = fetch_offsets(c, ofv, &group, Some(&[(&t, parts)]))?;
        ensure_eq!(code, NONE, "OffsetFetch v{ofv} error");
        check_fetched(&fetched, "named partitions")?;
        if ofv >= 2 {
            let (code, fetched) = fetch_offsets(c, ofv, &group, None)?;
            ensure_eq!(code, NONE, "OffsetFetch v{ofv} (all) error");
            check_fetched(&fetched, "all partitions")?;
        }

        // DescribeGroups: Stable, one member with its assignment.
        let d = describe(c, dv, &[&group])?;
        let g = &d.groups[0];
        ensure_eq!(g.error_code, NONE, "DescribeGroups v{dv}");
        ensure_eq!(g.group_id.as_str(), group.as_str(), "described group id");
        ensure_eq!(
            g.group_state.as_str(),
            "Stable",
            "DescribeGroups v{dv} state"
        );
        ensure_eq!(g.protocol_type.as_str(), PROTOCOL_TYPE, "described type");
        ensure_eq!(g.protocol_data.as_str(), PROTOCOL, "described protocol");
        ensure_eq!(g.members.len(), 1, "described members");
        let m = &g.members[0];
        ensure_eq!(m.member_id.as_str(), member.as_str(), "described member");
        ensure_eq!(m.client_id.as_str(), CLIENT_ID, "described client id");
        ensure!(!m.client_host.is_empty(), "described client host is empty");
        ensure_eq!(m.member_metadata, sub, "described metadata");
        ensure_eq!(m.member_assignment, assigned, "described assignment");
        if dv >= 3 {
            ensure!(
                g.authorized_operations != i32::MIN,
                "authorized operations not included"
            );
        }

        // ListGroups.
        let l = list_groups(c, lgv, &[], &[])?;
        let lg = listed(&l, &group).ok_or(format!("ListGroups v{lgv} lacks {group}"))?;
        ensure_eq!(lg.protocol_type.as_str(), PROTOCOL_TYPE, "listed type");
        if lgv >= 4 {
            ensure_eq!(lg.group_state.as_str(), "Stable", "listed state");
        }
        if lgv >= 5 {
            ensure_eq!(lg.group_type.as_str(), "classic", "listed type");
        }

        // LeaveGroup: the group is Empty and keeps its offsets.
        let r = c
            .try_call(&leave_request(lv, &group, &[&member]), lv)
            .map_err(call_err(&format!("LeaveGroup v{lv}")))?;
        ensure_eq!(r.error_code, NONE, "LeaveGroup v{lv}");
        if lv >= 3 {
            ensure_eq!(r.members.len(), 1, "LeaveGroup v{lv} members");
            ensure_eq!(
                r.members[0].member_id.as_str(),
                member.as_str(),
                "left member"
            );
            ensure_eq!(r.members[0].error_code, NONE, "left member error");
        }
        let d = describe(c, dv, &[&group])?;
        ensure_eq!(
            d.groups[0].group_state.as_str(),
            "Empty",
            "state after leave"
        );
        ensure!(d.groups[0].members.is_empty(), "members after leave");
        let (_, fetched) = fetch_offsets(c, ofv, &group, Some(&[(&t, parts)]))?;
        check_fetched(&fetched, "after leave")?;
        Ok(())
    });
}

// ---- errors, per API and version

#[test]
fn join_group_errors_every_version() {
    let t = topic("join-err", 1);
    sweep("JoinGroup errors", versions(ApiKey::JoinGroup), |c, v| {
        let group = unique_topic("join-err");
        let sub = subscription(&[&t]);
        let code = |r: JoinGroupResponse| r.error_code;

        let r = Join::new("", sub.clone()).send(c, v)?;
        ensure_eq!(r.error_code, INVALID_GROUP_ID, "empty group id");
        for timeout in [1, 1_800_001] {
            let mut j = Join::new(&group, sub.clone());
            j.session_timeout_ms = timeout;
            ensure_eq!(
                code(j.send(c, v)?),
                INVALID_SESSION_TIMEOUT,
                "session timeout {timeout}"
            );
        }
        let mut j = Join::new(&group, sub.clone());
        j.protocol_type = "";
        ensure_eq!(
            code(j.send(c, v)?),
            INCONSISTENT_GROUP_PROTOCOL,
            "empty protocol type"
        );
        let mut j = Join::new(&group, sub.clone());
        j.protocols.clear();
        ensure_eq!(
            code(j.send(c, v)?),
            INCONSISTENT_GROUP_PROTOCOL,
            "no protocols"
        );
        let r = Join::new(&group, sub.clone()).member("ghost").send(c, v)?;
        ensure_eq!(
            r.error_code,
            UNKNOWN_MEMBER_ID,
            "unknown member of a new group"
        );
        ensure_eq!(r.member_id.as_str(), "ghost", "member id echoed");

        // A first member, then members that do not fit its protocols.
        let first = Join::new(&group, sub.clone()).join_new(c, v)?;
        ensure_eq!(first.error_code, NONE, "first member");
        let mut j = Join::new(&group, sub.clone());
        j.protocol_type = "connect";
        ensure_eq!(
            code(j.send(c, v)?),
            INCONSISTENT_GROUP_PROTOCOL,
            "other protocol type"
        );
        let mut j = Join::new(&group, sub.clone());
        j.protocols = vec![("roundrobin", sub.clone())];
        ensure_eq!(
            code(j.send(c, v)?),
            INCONSISTENT_GROUP_PROTOCOL,
            "no common protocol"
        );
        let r = Join::new(&group, sub.clone()).member("ghost").send(c, v)?;
        ensure_eq!(r.error_code, UNKNOWN_MEMBER_ID, "unknown member");
        Ok(())
    });
}

#[test]
fn sync_group_errors_every_version() {
    let t = topic("sync-err", 1);
    sweep("SyncGroup errors", versions(ApiKey::SyncGroup), |c, v| {
        let group = unique_topic("sync-err");
        let (member, generation) = one_member_group(c, &group, &t, false);
        let a = assignment(&t, &[0]);
        let sync = |c: &mut Client, g: &str, generation: i32, m: &str| -> Result<i16, String> {
            let r = c
                .try_call(
                    &sync_request(v, g, generation, m, None, &[(m, a.clone())]),
                    v,
                )
                .map_err(call_err(&format!("SyncGroup v{v}")))?;
            Ok(r.error_code)
        };
        ensure_eq!(
            sync(c, "", generation, &member)?,
            INVALID_GROUP_ID,
            "empty group id"
        );
        let missing = unique_topic("sync-missing");
        ensure_eq!(
            sync(c, &missing, 1, "ghost")?,
            UNKNOWN_MEMBER_ID,
            "unknown group"
        );
        ensure_eq!(
            sync(c, &group, generation, "ghost")?,
            UNKNOWN_MEMBER_ID,
            "unknown member"
        );
        ensure_eq!(
            sync(c, &group, generation + 1, &member)?,
            ILLEGAL_GENERATION,
            "wrong generation"
        );
        if v >= 5 {
            // From v5 the protocol type and name are mandatory and must match.
            let wrong = sync_request(v, &group, generation, &member, None, &[])
                .with_protocol_name(Some(str_bytes("roundrobin")));
            let r = c.try_call(&wrong, v).map_err(call_err("wrong protocol"))?;
            ensure_eq!(
                r.error_code,
                INCONSISTENT_GROUP_PROTOCOL,
                "wrong protocol name"
            );
            let missing = sync_request(v, &group, generation, &member, None, &[])
                .with_protocol_type(None)
                .with_protocol_name(None);
            let r = c.try_call(&missing, v).map_err(call_err("no protocol"))?;
            ensure_eq!(
                r.error_code,
                INCONSISTENT_GROUP_PROTOCOL,
                "protocol missing"
            );
        }
        ensure_eq!(
            sync(c, &group, generation, &member)?,
            NONE,
            "the leader's sync"
        );
        Ok(())
    });
}

#[test]
fn heartbeat_errors_every_version() {
    let t = topic("hb-err", 1);
    sweep("Heartbeat errors", versions(ApiKey::Heartbeat), |c, v| {
        let group = unique_topic("hb-err");
        let (member, generation) = one_member_group(c, &group, &t, false);
        let mut hb = |g: &str, generation: i32, m: &str| -> Result<i16, String> {
            let r = c
                .try_call(&heartbeat_request(v, g, generation, m, None), v)
                .map_err(call_err(&format!("Heartbeat v{v}")))?;
            Ok(r.error_code)
        };
        ensure_eq!(
            hb("", generation, &member)?,
            INVALID_GROUP_ID,
            "empty group id"
        );
        let missing = unique_topic("hb-missing");
        ensure_eq!(
            hb(&missing, 1, "ghost")?,
            UNKNOWN_MEMBER_ID,
            "unknown group"
        );
        ensure_eq!(
            hb(&group, generation, "ghost")?,
            UNKNOWN_MEMBER_ID,
            "unknown member"
        );
        ensure_eq!(
            hb(&group, generation + 1, &member)?,
            ILLEGAL_GENERATION,
            "wrong generation"
        );
        // Between join and sync (CompletingRebalance) a heartbeat is fine.
        ensure_eq!(hb(&group, generation, &member)?, NONE, "before sync");
        Ok(())
    });
}

#[test]
fn leave_group_errors_every_version() {
    let t = topic("leave-err", 1);
    sweep("LeaveGroup errors", versions(ApiKey::LeaveGroup), |c, v| {
        let group = unique_topic("leave-err");
        let (member, _) = one_member_group(c, &group, &t, true);
        let mut leave = |g: &str, ms: &[&str]| {
            c.try_call(&leave_request(v, g, ms), v)
                .map_err(call_err(&format!("LeaveGroup v{v}")))
        };
        ensure_eq!(
            leave("", &[&member])?.error_code,
            INVALID_GROUP_ID,
            "empty group id"
        );
        let missing = unique_topic("leave-missing");
        ensure_eq!(
            leave(&missing, &["ghost"])?.error_code,
            UNKNOWN_MEMBER_ID,
            "unknown group"
        );
        let r = leave(&group, &["ghost"])?;
        if v >= 3 {
            ensure_eq!(r.error_code, NONE, "top level, unknown member");
            ensure_eq!(r.members.len(), 1, "member results");
            ensure_eq!(r.members[0].member_id.as_str(), "ghost", "member echoed");
            ensure_eq!(r.members[0].error_code, UNKNOWN_MEMBER_ID, "unknown member");
        } else {
            ensure_eq!(r.error_code, UNKNOWN_MEMBER_ID, "unknown member");
        }
        ensure_eq!(
            leave(&group, &[&member])?.error_code,
            NONE,
            "the member leaves"
        );
        Ok(())
    });
}

#[test]
fn offset_commit_every_version() {
    let t = topic("commit", 2);
    sweep("OffsetCommit", versions(ApiKey::OffsetCommit), |c, v| {
        let missing_topic = unique_topic("commit-missing");
        // A simple commit creates an Empty group without a protocol type.
        let simple = unique_topic("commit-simple");
        let codes = commit(c, v, &simple, -1, "", &t, &[(0, 5, 1, "s"), (7, 1, 1, "")])?;
        ensure_eq!(
            codes,
            vec![
                (t.clone(), 0, NONE),
                (t.clone(), 7, UNKNOWN_TOPIC_OR_PARTITION)
            ],
            "simple commit (partition 7 does not exist)"
        );
        let d = describe(c, 0, &[&simple])?;
        ensure_eq!(
            d.groups[0].group_state.as_str(),
            "Empty",
            "simple group state"
        );
        ensure_eq!(d.groups[0].protocol_type.as_str(), "", "simple group type");
        let l = list_groups(c, 0, &[], &[])?;
        ensure!(listed(&l, &simple).is_some(), "simple group not listed");
        // A missing topic.
        let codes = commit(c, v, &simple, -1, "", &missing_topic, &[(0, 1, 1, "")])?;
        ensure_eq!(
            codes,
            vec![(missing_topic.clone(), 0, UNKNOWN_TOPIC_OR_PARTITION)],
            "missing topic"
        );

        // A managed group.
        let group = unique_topic("commit-managed");
        let (member, generation) = one_member_group(c, &group, &t, true);
        let one: &[Commit] = &[(0, 9, 1, "")];
        let code = |codes: Vec<(String, i32, i16)>| codes.first().map_or(-1, |c| c.2);
        ensure_eq!(
            code(commit(c, v, &group, generation + 1, &member, &t, one)?),
            ILLEGAL_GENERATION,
            "wrong generation"
        );
        ensure_eq!(
            code(commit(c, v, &group, generation, "ghost", &t, one)?),
            UNKNOWN_MEMBER_ID,
            "unknown member"
        );
        ensure_eq!(
            code(commit(c, v, &group, -1, "", &t, one)?),
            UNKNOWN_MEMBER_ID,
            "simple commit to a group with members"
        );
        ensure_eq!(
            code(commit(c, v, &group, generation, &member, &t, one)?),
            NONE,
            "member commit"
        );
        // A generation for a group that does not exist.
        let unknown = unique_topic("commit-unknown");
        ensure_eq!(
            code(commit(c, v, &unknown, 1, "ghost", &t, one)?),
            if v >= 9 {
                GROUP_ID_NOT_FOUND
            } else {
                ILLEGAL_GENERATION
            },
            "generation for an unknown group"
        );
        Ok(())
    });
}

#[test]
fn offset_fetch_every_version() {
    let t = topic("fetch", 3);
    let missing_topic = unique_topic("fetch-missing");
    let group = unique_topic("fetch");
    let other = unique_topic("fetch-other");
    let mut c = broker().connect();
    simple_commit(&mut c, &group, &t, &[(0, 10, 3, "a"), (1, 11, 4, "b")]);
    simple_commit(&mut c, &other, &t, &[(2, 20, 5, "c")]);
    sweep("OffsetFetch", versions(ApiKey::OffsetFetch), |c, v| {
        let epoch = |e: i32| if v >= 5 { e } else { -1 };
        let unknown = unique_topic("fetch-unknown");
        let all: &[i32] = &[0, 1, 2];
        let one: &[i32] = &[0];
        let topics: &[(&str, &[i32])] = &[(&t, all), (&missing_topic, one)];
        let mut want = vec![
            (t.clone(), 0, 10, epoch(3), Some("a".to_string()), NONE),
            (t.clone(), 1, 11, epoch(4), Some("b".to_string()), NONE),
            (t.clone(), 2, -1, -1, Some(String::new()), NONE),
            // Kafka answers a topic it does not know like an uncommitted
            // partition.
            (missing_topic.clone(), 0, -1, -1, Some(String::new()), NONE),
        ];
        want.sort();
        let mut results = fetch_offsets_batch(
            c,
            v,
            &[
                (&group, Some(topics)),
                (&other, Some(topics)),
                (&unknown, Some(topics)),
            ],
        )?;
        for r in &mut results {
            r.1.sort();
            if v < 5 {
                for p in &mut r.1 {
                    p.3 = -1;
                }
            }
        }
        ensure_eq!(results[0], (NONE, want.clone()), "group");
        let mut other_want = vec![
            (t.clone(), 0, -1, -1, Some(String::new()), NONE),
            (t.clone(), 1, -1, -1, Some(String::new()), NONE),
            (t.clone(), 2, 20, epoch(5), Some("c".to_string()), NONE),
            (missing_topic.clone(), 0, -1, -1, Some(String::new()), NONE),
        ];
        other_want.sort();
        ensure_eq!(results[1], (NONE, other_want), "other group");
        let unknown_want: Vec<Fetched> = want
            .iter()
            .map(|(t, p, ..)| (t.clone(), *p, -1, -1, Some(String::new()), NONE))
            .collect();
        ensure_eq!(results[2], (NONE, unknown_want), "unknown group");
        if v >= 2 {
            let (code, mut got) = fetch_offsets(c, v, &group, None)?;
            got.sort();
            ensure_eq!(code, NONE, "all partitions error");
            ensure_eq!(got, want[..2].to_vec(), "all committed partitions");
            let (code, got) = fetch_offsets(c, v, &unknown, None)?;
            ensure_eq!(
                (code, got),
                (NONE, vec![]),
                "all partitions of an unknown group"
            );
        }
        Ok(())
    });
}

#[test]
fn describe_groups_every_version() {
    sweep(
        "DescribeGroups",
        versions(ApiKey::DescribeGroups),
        |c, v| {
            let unknown = unique_topic("describe-unknown");
            let d = describe(c, v, &[&unknown])?;
            ensure_eq!(d.groups.len(), 1, "groups");
            let g = &d.groups[0];
            ensure_eq!(g.error_code, NONE, "unknown group error");
            ensure_eq!(g.group_id.as_str(), unknown.as_str(), "group id");
            ensure_eq!(g.group_state.as_str(), "Dead", "unknown group state");
            ensure!(g.members.is_empty(), "unknown group members");
            if v >= 3 {
                ensure!(
                    g.authorized_operations != i32::MIN,
                    "authorized operations not included"
                );
                let req = DescribeGroupsRequest::default()
                    .with_groups(vec![gid(&unknown)])
                    .with_include_authorized_operations(false);
                let d = c
                    .try_call(&req, v)
                    .map_err(call_err("without operations"))?;
                ensure_eq!(
                    d.groups[0].authorized_operations,
                    i32::MIN,
                    "operations when not asked for"
                );
            }
            Ok(())
        },
    );
}

#[test]
fn list_groups_every_version() {
    let t = topic("list", 1);
    let mut c = broker().connect();
    let stable = unique_topic("list-stable");
    one_member_group(&mut c, &stable, &t, true);
    let empty = unique_topic("list-empty");
    simple_commit(&mut c, &empty, &t, &[(0, 1, 1, "")]);
    let joined = unique_topic("list-joined");
    one_member_group(&mut c, &joined, &t, false);
    sweep("ListGroups", versions(ApiKey::ListGroups), |c, v| {
        let l = list_groups(c, v, &[], &[])?;
        for (g, state, ptype) in [
            (&stable, "Stable", PROTOCOL_TYPE),
            (&empty, "Empty", ""),
            (&joined, "CompletingRebalance", PROTOCOL_TYPE),
        ] {
            let lg = listed(&l, g).ok_or(format!("{g} not listed"))?;
            ensure_eq!(lg.protocol_type.as_str(), ptype, "{g} protocol type");
            if v >= 4 {
                ensure_eq!(lg.group_state.as_str(), state, "{g} state");
            }
        }
        if v >= 4 {
            let l = list_groups(c, v, &["Stable", "CompletingRebalance"], &[])?;
            ensure!(
                listed(&l, &stable).is_some(),
                "Stable filter lacks {stable}"
            );
            ensure!(listed(&l, &joined).is_some(), "filter lacks {joined}");
            ensure!(listed(&l, &empty).is_none(), "Stable filter lists {empty}");
            ensure!(
                l.groups
                    .iter()
                    .all(|g| ["Stable", "CompletingRebalance"].contains(&g.group_state.as_str())),
                "state filter let other states through"
            );
            let l = list_groups(c, v, &["Dead"], &[])?;
            ensure!(listed(&l, &stable).is_none(), "Dead filter lists {stable}");
        }
        if v >= 5 {
            let l = list_groups(c, v, &[], &["classic"])?;
            ensure!(
                listed(&l, &stable).is_some(),
                "classic filter lacks {stable}"
            );
            ensure!(listed(&l, &empty).is_some(), "classic filter lacks {empty}");
            let l = list_groups(c, v, &[], &["consumer"])?;
            ensure!(
                listed(&l, &stable).is_none()
                    && l.groups.iter().all(|g| g.group_type.as_str() == "consumer"),
                "consumer filter lists {:?}",
                l.groups
            );
            let l = list_groups(c, v, &["Empty"], &["classic"])?;
            ensure!(listed(&l, &empty).is_some(), "both filters lack {empty}");
            ensure!(listed(&l, &stable).is_none(), "both filters list {stable}");
        }
        Ok(())
    });
}

#[test]
fn delete_groups_every_version() {
    let t = topic("delete", 1);
    sweep("DeleteGroups", versions(ApiKey::DeleteGroups), |c, v| {
        let unknown = unique_topic("delete-unknown");
        let busy = unique_topic("delete-busy");
        one_member_group(c, &busy, &t, true);
        let idle = unique_topic("delete-idle");
        simple_commit(c, &idle, &t, &[(0, 3, 1, "x")]);
        let codes = delete_groups(c, v, &[&unknown, &busy, &idle])?;
        ensure_eq!(
            codes,
            vec![GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, NONE],
            "unknown, non-empty, empty"
        );
        // The deleted group and its offsets are gone; deleting again fails.
        let d = describe(c, 0, &[&idle])?;
        ensure_eq!(
            d.groups[0].group_state.as_str(),
            "Dead",
            "deleted group state"
        );
        let l = list_groups(c, 0, &[], &[])?;
        ensure!(listed(&l, &idle).is_none(), "deleted group still listed");
        let zero: &[i32] = &[0];
        let (_, got) = fetch_offsets(c, 2, &idle, Some(&[(&t, zero)]))?;
        ensure_eq!(got[0].2, -1, "offset of a deleted group");
        ensure_eq!(
            delete_groups(c, v, &[&idle])?,
            vec![GROUP_ID_NOT_FOUND],
            "again"
        );
        let d = describe(c, 0, &[&busy])?;
        ensure_eq!(
            d.groups[0].group_state.as_str(),
            "Stable",
            "the non-empty group survived"
        );
        Ok(())
    });
}

#[test]
fn offset_delete_errors() {
    let b = broker();
    let mut c = b.connect();
    let t = topic("odel", 2);
    let other = topic("odel-other", 1);
    let missing = unique_topic("odel-missing");

    let r = offset_delete(&mut c, &unique_topic("odel-unknown"), &t, &[0]);
    assert_eq!(r.error_code, GROUP_ID_NOT_FOUND, "unknown group");
    let r = offset_delete(&mut c, "", &t, &[0]);
    assert_eq!(r.error_code, INVALID_GROUP_ID, "empty group id");

    // An Empty group: the offsets go, other partitions stay.
    let idle = unique_topic("odel-idle");
    simple_commit(&mut c, &idle, &t, &[(0, 1, 1, ""), (1, 2, 1, "")]);
    let r = offset_delete(&mut c, &idle, &t, &[0]);
    assert_eq!(r.error_code, NONE);
    assert_eq!(r.topics[0].partitions[0].error_code, NONE);
    let r = offset_delete(&mut c, &idle, &missing, &[0]);
    assert_eq!(r.error_code, NONE);
    assert_eq!(
        r.topics[0].partitions[0].error_code, UNKNOWN_TOPIC_OR_PARTITION,
        "missing topic"
    );
    let both: &[i32] = &[0, 1];
    let (_, mut got) = fetch_offsets(&mut c, 8, &idle, Some(&[(&t, both)])).expect("fetch");
    got.sort();
    assert_eq!((got[0].2, got[1].2), (-1, 2), "offsets after OffsetDelete");

    // A Stable consumer group: subscribed topics are refused per partition,
    // others go.
    let busy = unique_topic("odel-busy");
    let (member, generation) = one_member_group(&mut c, &busy, &t, true);
    let codes =
        commit(&mut c, 8, &busy, generation, &member, &t, &[(0, 4, 1, "")]).expect("commit");
    assert_eq!(codes[0].2, NONE);
    let codes = commit(
        &mut c,
        8,
        &busy,
        generation,
        &member,
        &other,
        &[(0, 4, 1, "")],
    )
    .expect("commit");
    assert_eq!(codes[0].2, NONE);
    let r = offset_delete(&mut c, &busy, &t, &[0]);
    assert_eq!(r.error_code, NONE);
    assert_eq!(
        r.topics[0].partitions[0].error_code, GROUP_SUBSCRIBED_TO_TOPIC,
        "subscribed topic"
    );
    let r = offset_delete(&mut c, &busy, &other, &[0]);
    assert_eq!(
        r.topics[0].partitions[0].error_code, NONE,
        "unsubscribed topic"
    );

    // A non-consumer group with members: NON_EMPTY_GROUP.
    let connect = unique_topic("odel-connect");
    let mut j = Join::new(&connect, Bytes::from_static(b"cfg"));
    j.protocol_type = "connect";
    j.protocols = vec![("default", Bytes::from_static(b"cfg"))];
    let jr = j.join_new(&mut c, 5).expect("connect join");
    assert_eq!(jr.error_code, NONE);
    let r = offset_delete(&mut c, &connect, &t, &[0]);
    assert_eq!(r.error_code, NON_EMPTY_GROUP, "non-empty connect group");
}

/// Kafka keeps accepting the empty group id where it always did (offset
/// commits and fetches, DescribeGroups, DeleteGroups: only a null id is
/// invalid there); the membership APIs and OffsetDelete refuse it (the
/// sweeps above check those). Only this test uses the empty group id.
#[test]
fn empty_group_id_where_kafka_accepts_it() {
    let mut c = broker().connect();
    let t = topic("empty-id", 1);
    let d = describe(&mut c, 5, &[""]).expect("describe");
    assert_eq!(
        (d.groups[0].error_code, d.groups[0].group_state.as_str()),
        (NONE, "Dead")
    );
    assert_eq!(
        delete_groups(&mut c, 2, &[""]).expect("delete"),
        vec![GROUP_ID_NOT_FOUND]
    );
    let zero: &[i32] = &[0];
    for v in [1, 7, 8] {
        let (code, got) = fetch_offsets(&mut c, v, "", Some(&[(&t, zero)])).expect("fetch");
        assert_eq!(code, NONE, "OffsetFetch v{v} of the empty group id");
        assert_eq!(got[0].2, -1, "OffsetFetch v{v}");
    }
    // A simple commit creates the group "", which can be read and deleted.
    for v in [2, 9] {
        let codes = commit(&mut c, v, "", -1, "", &t, &[(0, 5, 1, "e")]).expect("commit");
        assert_eq!(codes, vec![(t.clone(), 0, NONE)], "OffsetCommit v{v}");
    }
    let (_, got) = fetch_offsets(&mut c, 8, "", Some(&[(&t, zero)])).expect("fetch");
    assert_eq!(
        (got[0].2, got[0].4.as_deref()),
        (5, Some("e")),
        "offset of the group"
    );
    let d = describe(&mut c, 5, &[""]).expect("describe");
    assert_eq!(d.groups[0].group_state.as_str(), "Empty");
    assert_eq!(delete_groups(&mut c, 2, &[""]).expect("delete"), vec![NONE]);
}

// ---- static membership (KIP-345)

/// From JoinGroup v5 a member with a group.instance.id joins without
/// MEMBER_ID_REQUIRED; its rejoin under a new member id replaces the old
/// one, which is then fenced.
#[test]
fn static_membership_every_version() {
    let t = topic("static", 1);
    sweep(
        "static membership",
        5..=at(ApiKey::JoinGroup, 9),
        |c, jv| {
            let group = unique_topic("static");
            let (sv, hv, ocv, lv) = (
                at(ApiKey::SyncGroup, jv),
                at(ApiKey::Heartbeat, jv),
                at(ApiKey::OffsetCommit, jv),
                at(ApiKey::LeaveGroup, jv),
            );
            let sub = subscription(&[&t]);
            let first = Join::new(&group, sub.clone())
                .instance("instance-1")
                .send(c, jv)?;
            ensure_eq!(first.error_code, NONE, "static join");
            let old = first.member_id.to_string();
            ensure!(!old.is_empty(), "static join without a member id");
            if jv >= 5 {
                ensure_eq!(
                    first.members[0].group_instance_id.as_deref(),
                    Some("instance-1"),
                    "instance id in the leader's member list"
                );
            }
            let a = assignment(&t, &[0]);
            let s = c
                .try_call(
                    &sync_request(
                        sv,
                        &group,
                        first.generation_id,
                        &old,
                        Some("instance-1"),
                        &[(&old, a.clone())],
                    ),
                    sv,
                )
                .map_err(call_err("sync"))?;
            ensure_eq!(s.error_code, NONE, "static sync");
            let d = describe(c, 4, &[&group])?;
            ensure_eq!(
                d.groups[0].members[0].group_instance_id.as_deref(),
                Some("instance-1"),
                "described instance id"
            );

            // The same instance restarts: a new member id replaces the old.
            let second = Join::new(&group, sub.clone())
                .instance("instance-1")
                .send(c, jv)?;
            ensure_eq!(second.error_code, NONE, "static rejoin");
            let new = second.member_id.to_string();
            ensure!(new != old, "the rejoin kept member id {old}");
            ensure_eq!(second.generation_id, first.generation_id, "no rebalance");
            // Before v9 the old member id is named as leader and no members
            // are listed, so the replaced leader does not assign again; v9+
            // names the new id and says to skip the assignment (KIP-814).
            if jv >= 9 {
                ensure_eq!(second.leader.as_str(), new.as_str(), "leader v{jv}");
                ensure!(
                    second.skip_assignment,
                    "the new leader must skip the assignment"
                );
            } else {
                ensure_eq!(second.leader.as_str(), old.as_str(), "leader v{jv}");
                ensure!(second.members.is_empty(), "members listed at v{jv}");
            }
            let d = describe(c, 4, &[&group])?;
            let ids: Vec<&str> = d.groups[0]
                .members
                .iter()
                .map(|m| m.member_id.as_str())
                .collect();
            ensure_eq!(ids, vec![new.as_str()], "members after the rejoin");

            // The old member id is fenced.
            let h = c
                .try_call(
                    &heartbeat_request(hv, &group, first.generation_id, &old, Some("instance-1")),
                    hv,
                )
                .map_err(call_err("heartbeat"))?;
            ensure_eq!(h.error_code, FENCED_INSTANCE_ID, "old member's heartbeat");
            let r = Join::new(&group, sub.clone())
                .instance("instance-1")
                .member(&old)
                .send(c, jv)?;
            ensure_eq!(r.error_code, FENCED_INSTANCE_ID, "old member's join");
            let r = c
                .try_call(
                    &sync_request(
                        sv,
                        &group,
                        first.generation_id,
                        &old,
                        Some("instance-1"),
                        &[],
                    ),
                    sv,
                )
                .map_err(call_err("sync"))?;
            ensure_eq!(r.error_code, FENCED_INSTANCE_ID, "old member's sync");
            // OffsetCommit carries the instance id from v7; before, the old
            // member id is just unknown.
            let mut req =
                commit_request(ocv, &group, first.generation_id, &old, &t, &[(0, 1, 1, "")]);
            if ocv >= 7 {
                req = req.with_group_instance_id(Some(str_bytes("instance-1")));
            }
            let r = c.try_call(&req, ocv).map_err(call_err("commit"))?;
            ensure_eq!(
                commit_codes(&r)[0].2,
                if ocv >= 7 {
                    FENCED_INSTANCE_ID
                } else {
                    UNKNOWN_MEMBER_ID
                },
                "old member's commit"
            );

            // The new member carries on, and leaves by instance id.
            let h = c
                .try_call(
                    &heartbeat_request(hv, &group, first.generation_id, &new, Some("instance-1")),
                    hv,
                )
                .map_err(call_err("heartbeat"))?;
            ensure_eq!(h.error_code, NONE, "new member's heartbeat");
            let leave = LeaveGroupRequest::default()
                .with_group_id(gid(&group))
                .with_members(vec![
                    MemberIdentity::default()
                        .with_member_id(str_bytes(&old))
                        .with_group_instance_id(Some(str_bytes("instance-1"))),
                ]);
            let r = c.try_call(&leave, lv).map_err(call_err("leave"))?;
            ensure_eq!(
                r.members[0].error_code,
                FENCED_INSTANCE_ID,
                "old member's leave"
            );
            let leave = LeaveGroupRequest::default()
                .with_group_id(gid(&group))
                .with_members(vec![
                    MemberIdentity::default()
                        .with_member_id(str_bytes(""))
                        .with_group_instance_id(Some(str_bytes("instance-1"))),
                ]);
            let r = c.try_call(&leave, lv).map_err(call_err("leave"))?;
            ensure_eq!(
                (r.error_code, r.members[0].error_code),
                (NONE, NONE),
                "leave by instance id"
            );
            let d = describe(c, 4, &[&group])?;
            ensure_eq!(d.groups[0].group_state.as_str(), "Empty", "after the leave");
            Ok(())
        },
    );
}

// ---- persistence

/// What the first broker life left behind.
struct Committed {
    topic: String,
    stable: String,
    member: String,
    generation: i32,
    simple: String,
}

fn commit_and_complete(b: &BrokerProcess) -> Committed {
    let mut c = b.connect();
    let topic = unique_topic("persist");
    create_topic(&mut c, &topic, 2);
    // A consumer group that completed a rebalance and committed.
    let stable = unique_topic("persist-stable");
    let j = Join::new(&stable, subscription(&[&topic]))
        .join_new(&mut c, 9)
        .expect("join");
    assert_eq!(j.error_code, NONE);
    let member = j.member_id.to_string();
    let s = c.call(
        &sync_request(
            5,
            &stable,
            j.generation_id,
            &member,
            None,
            &[(&member, assignment(&topic, &[0, 1]))],
        ),
        5,
    );
    assert_eq!(s.error_code, NONE);
    let codes = commit(
        &mut c,
        9,
        &stable,
        j.generation_id,
        &member,
        &topic,
        &[(0, 100, 3, "first"), (1, 200, 4, "second")],
    )
    .expect("commit");
    assert!(codes.iter().all(|c| c.2 == NONE), "{codes:?}");
    // A simple group; its first offset is overwritten.
    let simple = unique_topic("persist-simple");
    simple_commit(&mut c, &simple, &topic, &[(0, 1, 1, "old")]);
    simple_commit(&mut c, &simple, &topic, &[(0, 7, 2, "new"), (1, 8, 2, "")]);
    // A deleted group stays deleted.
    let deleted = unique_topic("persist-deleted");
    simple_commit(&mut c, &deleted, &topic, &[(0, 1, 1, "")]);
    assert_eq!(
        delete_groups(&mut c, 2, &[&deleted]).expect("delete"),
        vec![NONE]
    );
    Committed {
        topic,
        stable,
        member,
        generation: j.generation_id,
        simple,
    }
}

fn check_after_restart(b: &BrokerProcess, w: &Committed) {
    let mut c = b.connect();
    let both: &[i32] = &[0, 1];
    let topics: &[(&str, &[i32])] = &[(&w.topic, both)];
    let mut results = fetch_offsets_batch(
        &mut c,
        9,
        &[(&w.stable, Some(topics)), (&w.simple, Some(topics))],
    )
    .expect("fetch");
    for r in &mut results {
        r.1.sort();
    }
    let t = &w.topic;
    assert_eq!(
        results[0].1,
        vec![
            (t.clone(), 0, 100, 3, Some("first".into()), NONE),
            (t.clone(), 1, 200, 4, Some("second".into()), NONE),
        ],
        "offsets of the consumer group"
    );
    assert_eq!(
        results[1].1,
        vec![
            (t.clone(), 0, 7, 2, Some("new".into()), NONE),
            (t.clone(), 1, 8, 2, Some(String::new()), NONE),
        ],
        "offsets of the simple group"
    );
    let d = describe(&mut c, 5, &[&w.stable, &w.simple]).expect("describe");
    let g = &d.groups[0];
    assert_eq!(g.group_state.as_str(), "Stable", "consumer group state");
    assert_eq!(g.protocol_type.as_str(), PROTOCOL_TYPE);
    assert_eq!(g.protocol_data.as_str(), PROTOCOL);
    let ids: Vec<&str> = g.members.iter().map(|m| m.member_id.as_str()).collect();
    assert_eq!(ids, vec![w.member.as_str()], "members after the restart");
    assert_eq!(
        d.groups[1].group_state.as_str(),
        "Empty",
        "simple group state"
    );
    let l = list_groups(&mut c, 5, &[], &[]).expect("list");
    assert!(listed(&l, &w.stable).is_some(), "consumer group not listed");
    assert!(listed(&l, &w.simple).is_some(), "simple group not listed");
    assert_eq!(l.groups.len(), 2, "groups listed: {:?}", l.groups);
    // The member carries on in its generation.
    let h = c.call(
        &heartbeat_request(4, &w.stable, w.generation, &w.member, None),
        4,
    );
    assert_eq!(h.error_code, NONE, "heartbeat after the restart");
    let codes = commit(
        &mut c,
        9,
        &w.stable,
        w.generation,
        &w.member,
        t,
        &[(0, 101, 3, "")],
    )
    .expect("commit");
    assert_eq!(codes[0].2, NONE, "commit after the restart");
}

#[test]
fn groups_and_offsets_survive_sigterm() {
    let mut b = BrokerProcess::start(OVERRIDES);
    let w = commit_and_complete(&b);
    let status = b.terminate();
    assert!(
        status.success(),
        "exit after SIGTERM: {status}\n{}",
        b.log_tail(20)
    );
    b.restart();
    check_after_restart(&b, &w);
}

#[test]
fn groups_and_offsets_survive_sigkill() {
    let mut b = BrokerProcess::start(OVERRIDES);
    let w = commit_and_complete(&b);
    b.kill();
    b.restart();
    check_after_restart(&b, &w);
    // Twice: what the restarted broker wrote survives a crash too.
    b.kill();
    b.restart();
    let mut c = b.connect();
    let zero: &[i32] = &[0];
    let (_, got) = fetch_offsets(&mut c, 9, &w.stable, Some(&[(&w.topic, zero)])).expect("fetch");
    assert_eq!(got[0].2, 101, "commit after the first restart");
}

// ---- KIP-848: ConsumerGroupHeartbeat and ConsumerGroupDescribe ----

const FENCED_MEMBER_EPOCH: i16 = 110;
const UNSUPPORTED_ASSIGNOR: i16 = 112;

fn cg_join(group: &str, topic: &str, member_id: &str) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(gid(group))
        .with_member_id(str_bytes(member_id))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![topic_name(topic)]))
        .with_topic_partitions(Some(vec![]))
}

#[test]
fn consumer_group_heartbeat_every_version() {
    let t = topic("cg-hb", 4);
    sweep(
        "ConsumerGroupHeartbeat",
        versions(ApiKey::ConsumerGroupHeartbeat),
        |c, v| {
            let group = format!("cg-{}", unique_topic("g"));
            // v0 lets the broker pick the member id; v1 clients bring one.
            let own_id = if v >= 1 {
                uuid::Uuid::new_v4().to_string()
            } else {
                String::new()
            };
            let joined = c.call(&cg_join(&group, &t, &own_id), v);
            if joined.error_code != NONE {
                return Err(format!("join: error {}", joined.error_code));
            }
            let member_id = joined
                .member_id
                .clone()
                .map(|m| m.to_string())
                .unwrap_or_default();
            if member_id.is_empty() || (v >= 1 && member_id != own_id) {
                return Err(format!("member id {member_id:?}, sent {own_id:?}"));
            }
            if joined.member_epoch < 1 {
                return Err(format!("member epoch {}", joined.member_epoch));
            }
            let assigned: usize = joined
                .assignment
                .as_ref()
                .map(|a| {
                    a.topic_partitions
                        .iter()
                        .map(|tp| tp.partitions.len())
                        .sum()
                })
                .unwrap_or(0);
            if assigned != 4 {
                return Err(format!("a lone member got {assigned} of 4 partitions"));
            }
            if joined.heartbeat_interval_ms <= 0 {
                return Err(format!(
                    "heartbeat interval {}",
                    joined.heartbeat_interval_ms
                ));
            }
            // A wrong epoch is fenced.
            let fenced = c.call(
                &ConsumerGroupHeartbeatRequest::default()
                    .with_group_id(gid(&group))
                    .with_member_id(str_bytes(&member_id))
                    .with_member_epoch(joined.member_epoch + 5),
                v,
            );
            if fenced.error_code != FENCED_MEMBER_EPOCH {
                return Err(format!("wrong epoch: error {}", fenced.error_code));
            }
            // From v1 the member id is the client's: an empty one is
            // INVALID_REQUEST, as in Kafka, whatever else the request says.
            let newcomer = if v >= 1 {
                uuid::Uuid::new_v4().to_string()
            } else {
                String::new()
            };
            if v >= 1 {
                let anonymous = c.call(&cg_join(&group, &t, ""), v);
                if anonymous.error_code != INVALID_REQUEST || anonymous.member_epoch != 0 {
                    return Err(format!(
                        "empty member id: error {}, epoch {}",
                        anonymous.error_code, anonymous.member_epoch
                    ));
                }
            }
            // An unknown assignor is refused.
            let bad = c.call(
                &cg_join(&group, &t, &newcomer).with_server_assignor(Some(str_bytes("nope"))),
                v,
            );
            if bad.error_code != UNSUPPORTED_ASSIGNOR {
                return Err(format!("unknown assignor: error {}", bad.error_code));
            }
            // Describe, then leave.
            let d = c.call(
                &ConsumerGroupDescribeRequest::default().with_group_ids(vec![gid(&group)]),
                at(ApiKey::ConsumerGroupDescribe, v),
            );
            let g = &d.groups[0];
            if g.error_code != NONE || g.members.len() != 1 || g.group_state.as_str() != "Stable" {
                return Err(format!(
                    "describe: error {}, {} members, state {}",
                    g.error_code,
                    g.members.len(),
                    g.group_state.as_str()
                ));
            }
            let left = c.call(
                &ConsumerGroupHeartbeatRequest::default()
                    .with_group_id(gid(&group))
                    .with_member_id(str_bytes(&member_id))
                    .with_member_epoch(-1),
                v,
            );
            if left.error_code != NONE || left.member_epoch != -1 {
                return Err(format!(
                    "leave: error {}, epoch {}",
                    left.error_code, left.member_epoch
                ));
            }
            // A heartbeat with an epoch to a group that never existed.
            let unknown = c.call(
                &ConsumerGroupHeartbeatRequest::default()
                    .with_group_id(gid(&format!("{group}-none")))
                    .with_member_id(str_bytes("m"))
                    .with_member_epoch(3),
                v,
            );
            if unknown.error_code != UNKNOWN_MEMBER_ID {
                return Err(format!("unknown group: error {}", unknown.error_code));
            }
            Ok(())
        },
    );
}

#[test]
fn consumer_group_describe_refuses_classic_and_unknown_groups() {
    sweep(
        "ConsumerGroupDescribe",
        versions(ApiKey::ConsumerGroupDescribe),
        |c, v| {
            let classic = format!("classic-{}", unique_topic("g"));
            let t = topic("cg-desc", 1);
            simple_commit(c, &classic, &t, &[(0, 1, -1, "")]);
            let d = c.call(
                &ConsumerGroupDescribeRequest::default()
                    .with_group_ids(vec![gid(&classic), gid("never-seen-group")]),
                v,
            );
            let codes: Vec<i16> = d.groups.iter().map(|g| g.error_code).collect();
            if codes != [GROUP_ID_NOT_FOUND, GROUP_ID_NOT_FOUND] {
                return Err(format!("codes {codes:?}"));
            }
            Ok(())
        },
    );
}

// ---- coordinator writes too large for __consumer_offsets

const UNKNOWN_SERVER_ERROR: i16 = -1;

/// A coordinator write larger than `__consumer_offsets`' max.message.bytes
/// can never succeed. Kafka answers UNKNOWN_SERVER_ERROR, which clients do
/// not retry (`CoordinatorOperationExceptionHelper` maps MESSAGE_TOO_LARGE
/// so), for OffsetCommit and for the SyncGroup that writes the group's
/// metadata; COORDINATOR_NOT_AVAILABLE would send them looking for the
/// coordinator again and again. Nothing of the refused write stays behind.
#[test]
fn coordinator_writes_too_large_for_the_offsets_topic_are_not_retriable() {
    let b = BrokerProcess::start(&[
        ("group.initial.rebalance.delay.ms", "0"),
        ("offset.metadata.max.bytes", "100000"),
    ]);
    let mut c = b.connect();
    // Forty partitions of 30,000 bytes of metadata each (the most a string
    // can hold before v8): one commit of 1.2 MB.
    let t = unique_topic("too-large");
    create_topic(&mut c, &t, 40);
    let metadata = "m".repeat(30_000);
    let huge: Vec<Commit> = (0..40).map(|p| (p, 5, -1, metadata.as_str())).collect();
    for v in [2, 7, 9] {
        let group = format!("too-large-commit-v{v}");
        let codes = commit(&mut c, v, &group, -1, "", &t, &huge).expect("OffsetCommit answered");
        assert_eq!(
            codes,
            (0..40)
                .map(|p| (t.clone(), p, UNKNOWN_SERVER_ERROR))
                .collect::<Vec<_>>(),
            "OffsetCommit v{v}"
        );
        // Nothing of it was kept, and a commit that fits goes through.
        let codes = commit(&mut c, v, &group, -1, "", &t, &[(0, 7, -1, "ok")])
            .expect("OffsetCommit answered");
        assert_eq!(codes, vec![(t.clone(), 0, NONE)], "OffsetCommit v{v}");
        let (code, fetched) = fetch_offsets(&mut c, 5, &group, None).expect("OffsetFetch");
        assert_eq!(code, NONE);
        assert_eq!(
            fetched.iter().map(|f| (f.1, f.2)).collect::<Vec<_>>(),
            vec![(0, 7)]
        );
    }

    // The group's metadata record carries every member's subscription.
    let group = "too-large-group";
    let j = Join::new(group, Bytes::from(vec![0u8; 1_500_000]))
        .join_new(&mut c, 5)
        .expect("JoinGroup answered");
    assert_eq!(j.error_code, NONE, "JoinGroup");
    let member = j.member_id.to_string();
    let s = c.call(
        &sync_request(
            5,
            group,
            j.generation_id,
            &member,
            None,
            &[(&member, assignment(&t, &[0]))],
        ),
        5,
    );
    assert_eq!(s.error_code, UNKNOWN_SERVER_ERROR, "SyncGroup");
}
