//! `runnel group list|describe|seek|delete`: consumer groups seen through
//! ListGroups (every broker), FindCoordinator, DescribeGroups, OffsetFetch
//! and ListOffsets (lag = log end offset − committed offset), moved with
//! OffsetCommit from outside the group, and removed with DeleteGroups.
//! Offsets are moved only while the group has no members, as
//! `kafka-consumer-groups --reset-offsets` insists: a live member would
//! overwrite them with its next commit.
//! Kafka counterpart: `kafka-consumer-groups` (`ConsumerGroupCommand`);
//! the layout follows rpk's `group` commands.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    ApiKey, BrokerId, ConsumerGroupDescribeRequest, ConsumerProtocolAssignment,
    DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest, GroupId, ListGroupsRequest,
    ListOffsetsRequest, OffsetCommitRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, Message, StrBytes};
use serde_json::{Value, json};

use super::client::{AdminClient, Target};
use super::error::{CliError, check};
use super::output::{Report, Table, fields};
use super::topic::error_json;

#[derive(clap::Subcommand, Debug)]
pub enum GroupCommand {
    /// List the groups of every broker (ListGroups).
    List,
    /// State, members and their assignments, and per partition the
    /// committed offset, log end offset and lag.
    Describe {
        #[arg(required = true, value_name = "GROUP")]
        groups: Vec<String>,
    },
    /// Move a group's committed offsets; refused while the group has
    /// members.
    Seek {
        group: String,
        /// `earliest`, `latest`, an offset, or `timestamp:MS` (the first
        /// offset at or after that time, in ms since the epoch).
        #[arg(long, value_name = "earliest|latest|OFFSET|timestamp:MS")]
        to: String,
        /// Only these topics (all their partitions). Default: every
        /// partition the group has an offset for.
        #[arg(long = "topic", value_name = "TOPIC")]
        topics: Vec<String>,
    },
    /// Delete groups and their offsets (DeleteGroups); refused for a group
    /// with members.
    Delete {
        #[arg(required = true, value_name = "GROUP")]
        groups: Vec<String>,
    },
}

pub fn run(client: &mut AdminClient, command: GroupCommand) -> Result<Report, CliError> {
    match command {
        GroupCommand::List => list(client),
        GroupCommand::Describe { groups } => describe(client, &groups),
        GroupCommand::Seek { group, to, topics } => {
            let to = SeekTo::parse(&to)?;
            seek(client, &group, to, &topics)
        }
        GroupCommand::Delete { groups } => delete(client, &groups),
    }
}

fn subject(group: &str) -> String {
    format!("group '{group}'")
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Codes after which the same request may succeed shortly: the offsets
/// topic being created or loaded, a coordinator that moved.
fn retriable(e: &CliError) -> bool {
    matches!(e.code(), Some(14..=16))
}

/// Runs `f` again while it fails with a retriable code, until `timeout`.
fn retrying<T>(
    timeout: Duration,
    mut f: impl FnMut() -> Result<T, CliError>,
) -> Result<T, CliError> {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Err(e) if retriable(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// The node id of `group`'s coordinator.
fn coordinator(client: &mut AdminClient, group: &str) -> Result<i32, CliError> {
    let (version, response) = client.call(Target::Any, 0..=6, |version| {
        if version >= 4 {
            FindCoordinatorRequest::default().with_coordinator_keys(vec![str_bytes(group)])
        } else {
            FindCoordinatorRequest::default().with_key(str_bytes(group))
        }
    })?;
    if version >= 4 {
        let c = response
            .coordinators
            .first()
            .ok_or_else(|| CliError::Refused(format!("no coordinator returned for {group}")))?;
        check(&subject(group), c.error_code, c.error_message.as_deref())?;
        Ok(c.node_id.0)
    } else {
        check(
            &subject(group),
            response.error_code,
            response.error_message.as_deref(),
        )?;
        Ok(response.node_id.0)
    }
}

#[derive(Debug)]
struct Member {
    member_id: String,
    instance_id: Option<String>,
    client_id: String,
    host: String,
    /// (topic, partition) assigned, for consumer-protocol groups.
    assignment: Vec<(String, i32)>,
}

#[derive(Debug)]
struct Described {
    coordinator: i32,
    /// `consumer` (KIP-848) or `classic`.
    group_type: &'static str,
    state: String,
    protocol_type: String,
    protocol: String,
    members: Vec<Member>,
}

/// GROUP_ID_NOT_FOUND: what ConsumerGroupDescribe answers for a classic
/// group (or none), and what `describe` reports for a group nobody knows.
const GROUP_ID_NOT_FOUND: i16 = 69;

/// A group as its coordinator describes it: ConsumerGroupDescribe for a
/// KIP-848 group (DescribeGroups shows those as Dead), else DescribeGroups,
/// the order of Kafka's own admin client.
fn describe_group(client: &mut AdminClient, group: &str) -> Result<Described, CliError> {
    let node = coordinator(client, group)?;
    if client
        .versions(Target::Node(node), ApiKey::ConsumerGroupDescribe)?
        .is_some()
    {
        match describe_consumer_group(client, node, group) {
            Err(e) if e.code() == Some(GROUP_ID_NOT_FOUND) => {}
            other => return other,
        }
    }
    let (_, response) = client.call(Target::Node(node), 0..=5, |_| {
        DescribeGroupsRequest::default().with_groups(vec![GroupId(str_bytes(group))])
    })?;
    let g = the_one(response.groups, group)?;
    check(&subject(group), g.error_code, g.error_message.as_deref())?;
    let consumer = g.protocol_type.as_str() == "consumer";
    let members = g
        .members
        .into_iter()
        .map(|m| Member {
            member_id: m.member_id.to_string(),
            instance_id: m.group_instance_id.map(|i| i.to_string()),
            client_id: m.client_id.to_string(),
            host: m.client_host.to_string(),
            assignment: if consumer {
                decode_assignment(m.member_assignment)
            } else {
                Vec::new()
            },
        })
        .collect();
    Ok(Described {
        coordinator: node,
        group_type: "classic",
        state: g.group_state.to_string(),
        protocol_type: g.protocol_type.to_string(),
        protocol: g.protocol_data.to_string(),
        members,
    })
}

/// The one group of an answer about one group.
fn the_one<T>(groups: Vec<T>, group: &str) -> Result<T, CliError> {
    groups
        .into_iter()
        .next()
        .ok_or_else(|| CliError::Refused(format!("no description returned for {group}")))
}

fn describe_consumer_group(
    client: &mut AdminClient,
    node: i32,
    group: &str,
) -> Result<Described, CliError> {
    let (_, response) = client.call(Target::Node(node), 0..=1, |_| {
        ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(str_bytes(group))])
    })?;
    let g = the_one(response.groups, group)?;
    check(&subject(group), g.error_code, g.error_message.as_deref())?;
    let members = g
        .members
        .into_iter()
        .map(|m| {
            let mut assignment: Vec<(String, i32)> = m
                .assignment
                .topic_partitions
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(|p| (t.topic_name.0.to_string(), *p))
                })
                .collect();
            assignment.sort();
            Member {
                member_id: m.member_id.to_string(),
                instance_id: m.instance_id.map(|i| i.to_string()),
                client_id: m.client_id.to_string(),
                host: m.client_host.to_string(),
                assignment,
            }
        })
        .collect();
    Ok(Described {
        coordinator: node,
        group_type: "consumer",
        state: g.group_state.to_string(),
        protocol_type: "consumer".to_string(),
        protocol: g.assignor_name.to_string(),
        members,
    })
}

/// The partitions of a consumer member's assignment (the consumer
/// protocol's `Assignment`: a version, then the body in that version). An
/// assignment that does not decode counts as none.
fn decode_assignment(mut bytes: Bytes) -> Vec<(String, i32)> {
    if bytes.remaining() < 2 {
        return Vec::new();
    }
    let version = bytes
        .get_i16()
        .min(ConsumerProtocolAssignment::VERSIONS.max);
    let Ok(a) = ConsumerProtocolAssignment::decode(&mut bytes, version) else {
        return Vec::new();
    };
    let mut out: Vec<(String, i32)> = a
        .assigned_partitions
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.topic.0.to_string(), *p)))
        .collect();
    out.sort();
    out
}

/// Committed offsets, (topic, partition) → offset, of every partition the
/// group has one for.
fn committed(
    client: &mut AdminClient,
    node: i32,
    group: &str,
) -> Result<BTreeMap<(String, i32), i64>, CliError> {
    // v2+: no topic list asks for every topic.
    let (version, response) = client.call(Target::Node(node), 2..=9, |version| {
        if version >= 8 {
            OffsetFetchRequest::default().with_groups(vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(str_bytes(group)))
                    .with_topics(None),
            ])
        } else {
            OffsetFetchRequest::default()
                .with_group_id(GroupId(str_bytes(group)))
                .with_topics(None)
        }
    })?;
    // v8+ nests the topics under groups; the topic and partition types of
    // the two layouts differ but have the same fields.
    macro_rules! rows {
        ($topics:expr) => {
            $topics
                .flat_map(|t| {
                    let name = t.name.0.to_string();
                    t.partitions.into_iter().map(move |p| {
                        let at = (name.clone(), p.partition_index);
                        (at, p.committed_offset, p.error_code)
                    })
                })
                .collect::<Vec<_>>()
        };
    }
    let (group_error, rows) = if version >= 8 {
        let error = response
            .groups
            .iter()
            .map(|g| g.error_code)
            .find(|&c| c != 0);
        let rows = rows!(response.groups.into_iter().flat_map(|g| g.topics));
        (error.unwrap_or(0), rows)
    } else {
        (response.error_code, rows!(response.topics.into_iter()))
    };
    check(&subject(group), group_error, None)?;
    let mut out = BTreeMap::new();
    for (at, offset, error) in rows {
        check(&subject(group), error, None)?;
        if offset >= 0 {
            out.insert(at, offset);
        }
    }
    Ok(out)
}

/// Leader node id of each partition of `topics`. A topic that does not
/// exist is an error unless `skip_unknown` (a group may still hold offsets
/// of a topic deleted since; `describe` shows them without a log end).
fn leaders(
    client: &mut AdminClient,
    topics: &BTreeSet<String>,
    skip_unknown: bool,
) -> Result<BTreeMap<(String, i32), i32>, CliError> {
    const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    let names: Vec<String> = topics.iter().cloned().collect();
    let metadata = client.metadata(Some(&names))?;
    let mut out = BTreeMap::new();
    for t in metadata.topics {
        let name = t.name.map(|n| n.0.to_string()).unwrap_or_default();
        if skip_unknown && t.error_code == UNKNOWN_TOPIC_OR_PARTITION {
            continue;
        }
        check(&format!("topic '{name}'"), t.error_code, None)?;
        for p in t.partitions {
            out.insert((name.clone(), p.partition_index), p.leader_id.0);
        }
    }
    Ok(out)
}

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;

/// ListOffsets for `partitions` at `timestamp` (`LATEST`, `EARLIEST` or
/// ms), each asked of its leader. A timestamp past the last record gives
/// no offset (`None`).
fn list_offsets(
    client: &mut AdminClient,
    partitions: &BTreeMap<(String, i32), i32>,
    timestamp: i64,
) -> Result<BTreeMap<(String, i32), Option<i64>>, CliError> {
    let mut by_leader: BTreeMap<i32, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
    for ((topic, partition), leader) in partitions {
        by_leader
            .entry(*leader)
            .or_default()
            .entry(topic.clone())
            .or_default()
            .push(*partition);
    }
    let mut out = BTreeMap::new();
    for (leader, topics) in by_leader {
        if leader < 0 {
            let (topic, _) = topics.iter().next().expect("grouped from a partition");
            return Err(CliError::kafka(format!("topic '{topic}'"), 5, None));
        }
        let (_, response) = client.call(Target::Node(leader), 1..=9, |_| {
            ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(
                    topics
                        .iter()
                        .map(|(topic, ps)| {
                            ListOffsetsTopic::default()
                                .with_name(TopicName(str_bytes(topic)))
                                .with_partitions(
                                    ps.iter()
                                        .map(|p| {
                                            ListOffsetsPartition::default()
                                                .with_partition_index(*p)
                                                .with_timestamp(timestamp)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                )
        })?;
        for t in response.topics {
            let name = t.name.0.to_string();
            for p in t.partitions {
                check(
                    &format!("partition {name}-{}", p.partition_index),
                    p.error_code,
                    None,
                )?;
                let offset = (p.offset >= 0).then_some(p.offset);
                out.insert((name.clone(), p.partition_index), offset);
            }
        }
    }
    Ok(out)
}

fn list(client: &mut AdminClient) -> Result<Report, CliError> {
    let metadata = client.metadata(Some(&[]))?;
    let mut nodes: Vec<i32> = metadata.brokers.iter().map(|b| b.node_id.0).collect();
    nodes.sort();
    let mut groups: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    for node in nodes {
        let (_, response) =
            client.call(Target::Node(node), 0..=5, |_| ListGroupsRequest::default())?;
        check(
            &format!("ListGroups on broker {node}"),
            response.error_code,
            None,
        )?;
        for g in response.groups {
            groups.insert(
                g.group_id.0.to_string(),
                (
                    g.group_state.to_string(),
                    g.group_type.to_string(),
                    g.protocol_type.to_string(),
                ),
            );
        }
    }
    let mut table = Table::new(&["GROUP", "STATE", "TYPE", "PROTOCOL-TYPE"]);
    let mut items = Vec::new();
    for (group, (state, group_type, protocol_type)) in &groups {
        let shown = |s: &str| {
            if s.is_empty() {
                "-".to_string()
            } else {
                s.to_string()
            }
        };
        table.row(vec![
            group.clone(),
            shown(state),
            shown(group_type),
            shown(protocol_type),
        ]);
        let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        items.push(json!({
            "group": group,
            "state": nonempty(state),
            "type": nonempty(group_type),
            "protocol_type": protocol_type,
        }));
    }
    Ok(Report::new(table.render(), json!({ "groups": items })))
}

/// A group in state Dead with nothing committed is one the coordinator
/// does not know (DescribeGroups below v6 has no error for it).
fn unknown_group(d: &Described, offsets: &BTreeMap<(String, i32), i64>) -> bool {
    d.state == "Dead" && d.members.is_empty() && offsets.is_empty()
}

fn describe(client: &mut AdminClient, groups: &[String]) -> Result<Report, CliError> {
    let timeout = Duration::from_millis(client.timeout_ms() as u64);
    let mut text = String::new();
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for group in groups {
        let found = retrying(timeout, || {
            let d = describe_group(client, group)?;
            let offsets = committed(client, d.coordinator, group)?;
            Ok((d, offsets))
        });
        let (d, offsets) = match found {
            Ok(found) => found,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if unknown_group(&d, &offsets) {
            errors.push(CliError::kafka(subject(group), GROUP_ID_NOT_FOUND, None));
            continue;
        }
        // Every partition assigned or committed, with its owner.
        let mut owner: BTreeMap<(String, i32), usize> = BTreeMap::new();
        for (i, m) in d.members.iter().enumerate() {
            for tp in &m.assignment {
                owner.insert(tp.clone(), i);
            }
        }
        let partitions: BTreeSet<(String, i32)> =
            owner.keys().chain(offsets.keys()).cloned().collect();
        let topics: BTreeSet<String> = partitions.iter().map(|(t, _)| t.clone()).collect();
        let log_end = if topics.is_empty() {
            BTreeMap::new()
        } else {
            let mut leaders = leaders(client, &topics, true)?;
            leaders.retain(|tp, _| partitions.contains(tp));
            list_offsets(client, &leaders, LATEST)?
        };

        let mut rows = Table::new(&[
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "MEMBER-ID",
            "CLIENT-ID",
            "HOST",
        ]);
        let mut partition_items = Vec::new();
        let mut total_lag = 0i64;
        for tp in &partitions {
            let current = offsets.get(tp).copied();
            let end = log_end.get(tp).copied().flatten();
            let lag = match (current, end) {
                (Some(c), Some(e)) => Some((e - c).max(0)),
                _ => None,
            };
            total_lag += lag.unwrap_or(0);
            let member = owner.get(tp).map(|&i| &d.members[i]);
            let dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_string());
            rows.row(vec![
                tp.0.clone(),
                tp.1.to_string(),
                dash(current.map(|v| v.to_string())),
                dash(end.map(|v| v.to_string())),
                dash(lag.map(|v| v.to_string())),
                dash(member.map(|m| m.member_id.clone())),
                dash(member.map(|m| m.client_id.clone())),
                dash(member.map(|m| m.host.clone())),
            ]);
            partition_items.push(json!({
                "topic": tp.0,
                "partition": tp.1,
                "committed_offset": current,
                "log_end_offset": end,
                "lag": lag,
                "member_id": member.map(|m| &m.member_id),
                "client_id": member.map(|m| &m.client_id),
                "host": member.map(|m| &m.host),
            }));
        }
        let mut members = Table::new(&[
            "MEMBER-ID",
            "INSTANCE-ID",
            "CLIENT-ID",
            "HOST",
            "ASSIGNMENT",
        ]);
        let mut member_items = Vec::new();
        for m in &d.members {
            let assignment: Vec<String> = m
                .assignment
                .iter()
                .map(|(t, p)| format!("{t}-{p}"))
                .collect();
            members.row(vec![
                m.member_id.clone(),
                m.instance_id.clone().unwrap_or_else(|| "-".to_string()),
                m.client_id.clone(),
                m.host.clone(),
                assignment.join(","),
            ]);
            member_items.push(json!({
                "member_id": m.member_id,
                "instance_id": m.instance_id,
                "client_id": m.client_id,
                "host": m.host,
                "assignment": m.assignment.iter()
                    .map(|(t, p)| json!({"topic": t, "partition": p}))
                    .collect::<Vec<_>>(),
            }));
        }

        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&fields(&[
            ("GROUP", group.clone()),
            ("COORDINATOR", d.coordinator.to_string()),
            ("TYPE", d.group_type.to_string()),
            ("STATE", d.state.clone()),
            ("PROTOCOL-TYPE", d.protocol_type.clone()),
            ("PROTOCOL", d.protocol.clone()),
            ("MEMBERS", d.members.len().to_string()),
            ("TOTAL-LAG", total_lag.to_string()),
        ]));
        if !members.is_empty() {
            text.push('\n');
            text.push_str(&members.render());
        }
        if !rows.is_empty() {
            text.push('\n');
            text.push_str(&rows.render());
        }
        items.push(json!({
            "group": group,
            "coordinator": d.coordinator,
            "type": d.group_type,
            "state": d.state,
            "protocol_type": d.protocol_type,
            "protocol": d.protocol,
            "members": member_items,
            "partitions": partition_items,
            "total_lag": total_lag,
        }));
    }
    Ok(Report::new(text, json!({ "groups": items })).with_errors(errors))
}

/// Where `group seek` moves offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeekTo {
    Earliest,
    Latest,
    Offset(i64),
    Timestamp(i64),
}

impl SeekTo {
    pub fn parse(s: &str) -> Result<SeekTo, CliError> {
        let bad = || {
            CliError::Usage(format!(
                "--to '{s}': expected earliest, latest, an offset, or timestamp:MS"
            ))
        };
        match s {
            "earliest" | "start" => Ok(SeekTo::Earliest),
            "latest" | "end" => Ok(SeekTo::Latest),
            _ => match s.strip_prefix("timestamp:") {
                Some(ms) => ms
                    .parse::<i64>()
                    .ok()
                    .filter(|&ms| ms >= 0)
                    .map(SeekTo::Timestamp)
                    .ok_or_else(bad),
                None => s
                    .parse::<i64>()
                    .ok()
                    .filter(|&o| o >= 0)
                    .map(SeekTo::Offset)
                    .ok_or_else(bad),
            },
        }
    }
}

/// The offset a partition moves to, as `kafka-consumer-groups` computes
/// it: an explicit offset is kept within [earliest, latest]; a timestamp
/// past the last record goes to the log end.
fn target_offset(to: SeekTo, earliest: i64, latest: i64, by_time: Option<i64>) -> i64 {
    match to {
        SeekTo::Earliest => earliest,
        SeekTo::Latest => latest,
        SeekTo::Offset(o) => o.clamp(earliest, latest.max(earliest)),
        SeekTo::Timestamp(_) => by_time.unwrap_or(latest),
    }
}

fn seek(
    client: &mut AdminClient,
    group: &str,
    to: SeekTo,
    topics: &[String],
) -> Result<Report, CliError> {
    let timeout = Duration::from_millis(client.timeout_ms() as u64);
    let (d, offsets) = retrying(timeout, || {
        let d = describe_group(client, group)?;
        let offsets = committed(client, d.coordinator, group)?;
        Ok((d, offsets))
    })?;
    if !d.members.is_empty() || !matches!(d.state.as_str(), "Empty" | "Dead") {
        return Err(CliError::Refused(format!(
            "group '{group}' has {} active member(s) (state {}): offsets can only be moved \
             while the group is empty; stop its consumers first",
            d.members.len(),
            d.state
        )));
    }
    let wanted: BTreeSet<String> = if topics.is_empty() {
        offsets.keys().map(|(t, _)| t.clone()).collect()
    } else {
        topics.iter().cloned().collect()
    };
    if wanted.is_empty() {
        return Err(CliError::Refused(format!(
            "group '{group}' has no committed offsets; name the topics with --topic"
        )));
    }
    let mut leaders = leaders(client, &wanted, false)?;
    if topics.is_empty() {
        leaders.retain(|tp, _| offsets.contains_key(tp));
    }
    let earliest = list_offsets(client, &leaders, EARLIEST)?;
    let latest = list_offsets(client, &leaders, LATEST)?;
    let by_time = match to {
        SeekTo::Timestamp(ms) => list_offsets(client, &leaders, ms)?,
        _ => BTreeMap::new(),
    };
    let mut moves: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for tp in leaders.keys() {
        let first = earliest.get(tp).copied().flatten().unwrap_or(0);
        let end = latest.get(tp).copied().flatten().unwrap_or(first);
        moves.insert(
            tp.clone(),
            target_offset(to, first, end, by_time.get(tp).copied().flatten()),
        );
    }

    let mut by_topic: BTreeMap<&str, Vec<(i32, i64)>> = BTreeMap::new();
    for ((t, p), o) in &moves {
        by_topic.entry(t).or_default().push((*p, *o));
    }
    let node = d.coordinator;
    let (_, response) = client.call(Target::Node(node), 2..=9, |_| {
        // Generation -1 and no member id: a commit from outside the group,
        // which a coordinator accepts only while the group is empty.
        OffsetCommitRequest::default()
            .with_group_id(GroupId(str_bytes(group)))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(StrBytes::default())
            .with_topics(
                by_topic
                    .iter()
                    .map(|(t, ps)| {
                        OffsetCommitRequestTopic::default()
                            .with_name(TopicName(str_bytes(t)))
                            .with_partitions(
                                ps.iter()
                                    .map(|(p, o)| {
                                        OffsetCommitRequestPartition::default()
                                            .with_partition_index(*p)
                                            .with_committed_offset(*o)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
    })?;
    let mut errors = Vec::new();
    for t in &response.topics {
        for p in &t.partitions {
            if p.error_code != 0 {
                errors.push(CliError::kafka(
                    format!(
                        "{} (partition {}-{})",
                        subject(group),
                        t.name.0,
                        p.partition_index
                    ),
                    p.error_code,
                    None,
                ));
            }
        }
    }
    let mut table = Table::new(&["TOPIC", "PARTITION", "PRIOR-OFFSET", "NEW-OFFSET"]);
    let mut items = Vec::new();
    for (tp, new) in &moves {
        let prior = offsets.get(tp).copied();
        table.row(vec![
            tp.0.clone(),
            tp.1.to_string(),
            prior.map_or_else(|| "-".to_string(), |o| o.to_string()),
            new.to_string(),
        ]);
        items.push(json!({
            "topic": tp.0,
            "partition": tp.1,
            "prior_offset": prior,
            "new_offset": new,
        }));
    }
    Ok(Report::new(
        table.render(),
        json!({ "group": group, "partitions": items }),
    )
    .with_errors(errors))
}

fn delete(client: &mut AdminClient, groups: &[String]) -> Result<Report, CliError> {
    let timeout = Duration::from_millis(client.timeout_ms() as u64);
    let mut text = String::new();
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for group in groups {
        let result = retrying(timeout, || {
            let node = coordinator(client, group)?;
            let (_, response) = client.call(Target::Node(node), 0..=2, |_| {
                DeleteGroupsRequest::default().with_groups_names(vec![GroupId(str_bytes(group))])
            })?;
            for r in response.results {
                check(&subject(group), r.error_code, None)?;
            }
            Ok(())
        });
        match result {
            Ok(()) => {
                text.push_str(&format!("deleted group '{group}'\n"));
                items.push(json!({"group": group, "error": Value::Null}));
            }
            Err(e) => {
                items.push(json!({"group": group, "error": error_json(Some(&e))}));
                errors.push(e);
            }
        }
    }
    Ok(Report::new(text, json!({ "groups": items })).with_errors(errors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn seek_targets_parse() {
        assert_eq!(SeekTo::parse("earliest").unwrap(), SeekTo::Earliest);
        assert_eq!(SeekTo::parse("latest").unwrap(), SeekTo::Latest);
        assert_eq!(SeekTo::parse("42").unwrap(), SeekTo::Offset(42));
        assert_eq!(
            SeekTo::parse("timestamp:1700000000000").unwrap(),
            SeekTo::Timestamp(1_700_000_000_000)
        );
        for bad in ["", "-1", "soon", "timestamp:", "timestamp:x"] {
            assert!(
                matches!(SeekTo::parse(bad), Err(CliError::Usage(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn seek_offsets_stay_within_the_log() {
        // (to, earliest, latest, by time) → offset
        let table = [
            (SeekTo::Earliest, 5, 10, None, 5),
            (SeekTo::Latest, 5, 10, None, 10),
            (SeekTo::Offset(7), 5, 10, None, 7),
            (SeekTo::Offset(1), 5, 10, None, 5),
            (SeekTo::Offset(99), 5, 10, None, 10),
            (SeekTo::Timestamp(1), 5, 10, Some(6), 6),
            (SeekTo::Timestamp(1), 5, 10, None, 10),
        ];
        for (to, first, end, by_time, want) in table {
            assert_eq!(target_offset(to, first, end, by_time), want, "{to:?}");
        }
    }

    #[test]
    fn consumer_assignments_decode_in_their_own_version() {
        let a = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            TopicPartition::default()
                .with_topic(TopicName(str_bytes("t")))
                .with_partitions(vec![1, 0]),
        ]);
        for version in 0..=3i16 {
            let mut buf = BytesMut::new();
            buf.extend_from_slice(&version.to_be_bytes());
            a.encode(&mut buf, version).unwrap();
            assert_eq!(
                decode_assignment(buf.freeze()),
                vec![("t".to_string(), 0), ("t".to_string(), 1)]
            );
        }
        assert!(decode_assignment(Bytes::from_static(&[0])).is_empty());
        assert!(decode_assignment(Bytes::new()).is_empty());
    }
}
