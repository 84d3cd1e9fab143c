//! Topic decisions: create, delete, add partitions. Pure functions from the
//! current image and a request to `(records, per-topic results)`; no I/O.
//! Replicas are placed over the brokers of the image ([`ClusterView`],
//! [`super::placement`]); a new partition's ISR is its replicas that are
//! active (unfenced, not in controlled shutdown), led by the first.
//! Kafka counterpart: `ReplicationControlManager` and `Topic.validate`.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use uuid::Uuid;

use super::channel::CreateTopics;
use super::error::ControllerError;
use super::placement::{UsableBroker, place};
use crate::common::internal_topics::is_internal;
use crate::config::topic::validate_topic_config;
use crate::metadata::records::{DIRECTORY_MIGRATING, DIRECTORY_UNASSIGNED, PartitionRecord};
use crate::metadata::store::METADATA_TOPIC;
use crate::metadata::{MetadataImage, MetadataRecord};

/// Kafka's longest legal topic name.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Checks a topic name by Kafka's rules: 1..=249 of `[a-zA-Z0-9._-]`, and
/// not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), ControllerError> {
    if name.is_empty() {
        return Err(ControllerError::InvalidTopic(
            "topic name is illegal, it can't be empty".into(),
        ));
    }
    if name == "." || name == ".." {
        return Err(ControllerError::InvalidTopic(format!(
            "topic name cannot be \"{name}\""
        )));
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return Err(ControllerError::InvalidTopic(format!(
            "topic name is illegal, it can't be longer than {MAX_TOPIC_NAME_LEN} characters, topic name: {name}"
        )));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(ControllerError::InvalidTopic(format!(
            "topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        )));
    }
    Ok(())
}

/// Names that differ only in '.' vs '_' collide in metric names (Kafka refuses them).
fn collision_key(name: &str) -> String {
    name.replace('.', "_")
}

/// Cluster facts the decisions need, read from the controller's image.
#[derive(Debug, Clone)]
pub struct ClusterView {
    /// What placement may use: registered brokers not in controlled
    /// shutdown, fenced ones flagged (they may follow, never lead).
    pub usable: Vec<UsableBroker>,
    /// Every registered broker: what a manual assignment may name.
    pub registered: BTreeSet<i32>,
    /// Registered, unfenced, not in controlled shutdown: what may lead
    /// and be in an ISR.
    pub active: BTreeSet<i32>,
    pub default_num_partitions: i32,
    pub default_replication_factor: i16,
    /// Where placement's stripes start (drawn at random per request).
    pub placement_start: usize,
    /// The log directory a new replica on each broker is recorded in
    /// (Kafka's `ClusterControlManager.defaultDir`): a broker's only
    /// directory, else unassigned (the broker picks and reports it), or
    /// "migrating" for a broker that registered none.
    pub default_dirs: BTreeMap<i32, Uuid>,
}

impl ClusterView {
    /// The brokers of `image`, with the defaults of `config`.
    pub fn of_image(
        image: &MetadataImage,
        config: &crate::config::BrokerConfig,
        placement_start: usize,
    ) -> ClusterView {
        ClusterView {
            usable: image
                .brokers
                .values()
                .filter(|b| !b.in_controlled_shutdown)
                .map(|b| UsableBroker {
                    id: b.broker_id,
                    rack: b.rack.clone(),
                    fenced: b.fenced,
                })
                .collect(),
            registered: image.brokers.keys().copied().collect(),
            active: image
                .brokers
                .keys()
                .copied()
                .filter(|id| image.is_active_broker(*id))
                .collect(),
            default_num_partitions: config.num_partitions,
            default_replication_factor: config.default_replication_factor as i16,
            placement_start,
            default_dirs: image
                .brokers
                .values()
                .map(|b| {
                    let dir = match b.log_dirs.as_slice() {
                        [] => DIRECTORY_MIGRATING,
                        [only] => *only,
                        _ => DIRECTORY_UNASSIGNED,
                    };
                    (b.broker_id, dir)
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewTopic {
    pub name: String,
    /// -1 = the broker default.
    pub num_partitions: i32,
    /// -1 = the broker default.
    pub replication_factor: i16,
    /// Manual assignment: partition → replicas. Empty = assign automatically.
    pub assignments: Vec<(i32, Vec<i32>)>,
    pub configs: Vec<(String, Option<String>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TopicCreated {
    pub topic_id: Uuid,
    pub num_partitions: i32,
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
}

/// Decides a CreateTopics request as it arrives: a client's request for an
/// internal topic that does not exist is refused (its coordinator creates
/// it, with its own settings, when first needed; one that exists is
/// answered TOPIC_ALREADY_EXISTS like any other; Kafka refuses only
/// `__cluster_metadata` here and would create `__consumer_offsets` with the
/// request's settings), and a validate-only request writes nothing.
pub fn create_topics_request(
    image: &MetadataImage,
    cluster: &ClusterView,
    request: &CreateTopics,
    new_id: impl FnMut() -> Uuid,
) -> (
    Vec<MetadataRecord>,
    Vec<Result<TopicCreated, ControllerError>>,
) {
    let refused: Vec<Option<ControllerError>> = request
        .topics
        .iter()
        .map(|t| {
            (!request.internal && is_internal(&t.name) && image.topic(&t.name).is_none()).then(
                || {
                    ControllerError::InvalidRequest(format!(
                        "Creation of internal topic {} is prohibited; its coordinator creates it",
                        t.name
                    ))
                },
            )
        })
        .collect();
    let allowed: Vec<NewTopic> = request
        .topics
        .iter()
        .zip(&refused)
        .filter(|(_, r)| r.is_none())
        .map(|(t, _)| t.clone())
        .collect();
    let (records, results) = create_topics(image, cluster, &allowed, new_id);
    let mut results = results.into_iter();
    let results = refused
        .into_iter()
        .map(|r| match r {
            Some(e) => Err(e),
            None => results.next().expect("one result per allowed topic"),
        })
        .collect();
    (
        if request.validate_only {
            vec![]
        } else {
            records
        },
        results,
    )
}

/// Decides a CreateTopics request. Topics named twice in one request all fail.
pub fn create_topics(
    image: &MetadataImage,
    cluster: &ClusterView,
    topics: &[NewTopic],
    mut new_id: impl FnMut() -> Uuid,
) -> (
    Vec<MetadataRecord>,
    Vec<Result<TopicCreated, ControllerError>>,
) {
    let mut records = Vec::new();
    let mut results = Vec::with_capacity(topics.len());
    let mut seen = HashSet::new();
    let duplicated: HashSet<&str> = topics
        .iter()
        .filter(|t| !seen.insert(t.name.as_str()))
        .map(|t| t.name.as_str())
        .collect();
    let mut taken: HashSet<String> = image.topics.keys().map(|n| collision_key(n)).collect();
    for topic in topics {
        if duplicated.contains(topic.name.as_str()) {
            results.push(Err(ControllerError::InvalidRequest(format!(
                "found multiple requests for topic {}",
                topic.name
            ))));
            continue;
        }
        match plan_topic(image, cluster, topic, &taken) {
            Ok((assignments, configs)) => {
                let topic_id = new_id();
                taken.insert(collision_key(&topic.name));
                records.push(MetadataRecord::Topic {
                    name: topic.name.clone(),
                    topic_id,
                });
                for (name, value) in &configs {
                    records.push(MetadataRecord::Config {
                        resource: crate::metadata::records::ConfigResource::Topic(
                            topic.name.clone(),
                        ),
                        name: name.clone(),
                        value: Some(value.clone()),
                    });
                }
                let replication_factor = assignments.first().map_or(0, |(_, r)| r.len()) as i16;
                for (p, replicas) in &assignments {
                    records.push(partition_record(cluster, topic_id, *p, replicas.clone()));
                }
                results.push(Ok(TopicCreated {
                    topic_id,
                    num_partitions: assignments.len() as i32,
                    replication_factor,
                    configs,
                }));
            }
            Err(e) => results.push(Err(e)),
        }
    }
    (records, results)
}

/// A new partition: its ISR the active replicas, led by the first of them
/// (planned so that there is one), each replica in its broker's default
/// log directory. A broker with one directory then has nothing to assign
/// (no AssignReplicasToDirs from a Kafka broker).
fn partition_record(
    cluster: &ClusterView,
    topic_id: Uuid,
    partition: i32,
    replicas: Vec<i32>,
) -> MetadataRecord {
    let isr: Vec<i32> = active_replicas(cluster, &replicas);
    debug_assert!(!isr.is_empty(), "placement leaves an active replica");
    let mut record = PartitionRecord::new(topic_id, partition, replicas);
    record.directories = record
        .replicas
        .iter()
        .map(|b| {
            cluster
                .default_dirs
                .get(b)
                .copied()
                .unwrap_or(DIRECTORY_UNASSIGNED)
        })
        .collect();
    record.leader = isr.first().copied().unwrap_or(-1);
    record.isr = isr;
    MetadataRecord::Partition(record)
}

fn active_replicas(cluster: &ClusterView, replicas: &[i32]) -> Vec<i32> {
    replicas
        .iter()
        .copied()
        .filter(|b| cluster.active.contains(b))
        .collect()
}

type Plan = (Vec<(i32, Vec<i32>)>, BTreeMap<String, String>);

fn plan_topic(
    image: &MetadataImage,
    cluster: &ClusterView,
    topic: &NewTopic,
    taken: &HashSet<String>,
) -> Result<Plan, ControllerError> {
    validate_topic_name(&topic.name)?;
    // The metadata log lives in `__cluster_metadata-0`: a topic of that name
    // would share its directory. Kafka reserves the name too.
    if topic.name == METADATA_TOPIC {
        return Err(ControllerError::InvalidRequest(format!(
            "creation of internal topic {METADATA_TOPIC} is prohibited"
        )));
    }
    if image.topic(&topic.name).is_some() {
        return Err(ControllerError::TopicAlreadyExists(topic.name.clone()));
    }
    if taken.contains(&collision_key(&topic.name)) {
        return Err(ControllerError::InvalidTopic(format!(
            "topic '{}' collides with an existing topic: '.' and '_' are interchangeable in topic names",
            topic.name
        )));
    }
    let mut configs = BTreeMap::new();
    for (key, value) in &topic.configs {
        let Some(value) = value else {
            return Err(ControllerError::InvalidConfig(format!(
                "null value not supported for topic config '{key}'"
            )));
        };
        validate_topic_config(key, value)
            .map_err(|e| ControllerError::InvalidConfig(e.to_string()))?;
        configs.insert(key.clone(), value.clone());
    }
    let assignments = if topic.assignments.is_empty() {
        let partitions = match topic.num_partitions {
            -1 => cluster.default_num_partitions,
            n if n <= 0 => {
                return Err(ControllerError::InvalidPartitions(
                    "number of partitions was set to an invalid non-positive value".into(),
                ));
            }
            n => n,
        };
        let rf = match topic.replication_factor {
            -1 => cluster.default_replication_factor,
            n if n <= 0 => {
                return Err(ControllerError::InvalidReplicationFactor(
                    "replication factor must be larger than 0, or -1 to use the default value"
                        .into(),
                ));
            }
            n => n,
        };
        assign_replicas(cluster, 0, partitions, rf)?
    } else {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err(ControllerError::InvalidRequest(
                "both a manual partition assignment and a partition count or replication factor were given".into(),
            ));
        }
        let mut a = topic.assignments.clone();
        a.sort_by_key(|(p, _)| *p);
        let rf = a.first().map(|(_, r)| r.len());
        for (i, (p, replicas)) in a.iter().enumerate() {
            if i > 0 && a[i - 1].0 == *p {
                return Err(ControllerError::InvalidReplicaAssignment(format!(
                    "Found multiple manual partition assignments for partition {p}"
                )));
            }
            check_replicas(cluster, *p, replicas, rf)?;
            if *p != i as i32 {
                return Err(ControllerError::InvalidReplicaAssignment(
                    "partitions should be a consecutive 0-based integer sequence".into(),
                ));
            }
        }
        a
    };
    Ok((assignments, configs))
}

/// A manual assignment of `partition`, as Kafka's
/// `validateManualPartitionAssignment` checks it: any registered broker,
/// fenced or not, each once, as many as the other partitions have
/// (`replication_factor`), and at least one of them active to lead.
fn check_replicas(
    cluster: &ClusterView,
    partition: i32,
    replicas: &[i32],
    replication_factor: Option<usize>,
) -> Result<(), ControllerError> {
    let invalid = |m: String| Err(ControllerError::InvalidReplicaAssignment(m));
    if replicas.is_empty() {
        return invalid("The manual partition assignment includes an empty replica list.".into());
    }
    let mut sorted = replicas.to_vec();
    sorted.sort_unstable();
    for (i, b) in sorted.iter().enumerate() {
        if !cluster.registered.contains(b) {
            return invalid(format!(
                "The manual partition assignment includes broker {b}, but no such broker is registered."
            ));
        }
        if i > 0 && sorted[i - 1] == *b {
            return invalid(format!(
                "The manual partition assignment includes the broker {b} more than once."
            ));
        }
    }
    if let Some(rf) = replication_factor.filter(|rf| *rf != replicas.len()) {
        return invalid(format!(
            "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {rf} replica(s).",
            replicas.len()
        ));
    }
    if active_replicas(cluster, replicas).is_empty() {
        return invalid(format!(
            "All brokers specified in the manual partition assignment for partition {partition} are fenced or in controlled shutdown."
        ));
    }
    Ok(())
}

/// Automatic placement of partitions `first_partition..+count`.
fn assign_replicas(
    cluster: &ClusterView,
    first_partition: i32,
    count: i32,
    rf: i16,
) -> Result<Vec<(i32, Vec<i32>)>, ControllerError> {
    let placed = place(&cluster.usable, count, rf, cluster.placement_start)?;
    Ok((first_partition..).zip(placed).collect())
}

/// A topic to delete, by name or by id (DeleteTopics v6).
#[derive(Debug, Clone, PartialEq)]
pub enum TopicRef {
    Name(String),
    Id(Uuid),
}

/// A deleted topic's name and id.
pub type DeletedTopic = (String, Uuid);

/// Decides a DeleteTopics request. Returns for each topic its name and id.
pub fn delete_topics(
    image: &MetadataImage,
    delete_enabled: bool,
    topics: &[TopicRef],
) -> (
    Vec<MetadataRecord>,
    Vec<Result<DeletedTopic, ControllerError>>,
) {
    let mut records = Vec::new();
    let mut removed = HashSet::new();
    let results = topics
        .iter()
        .map(|t| {
            let topic = match t {
                TopicRef::Name(n) => image
                    .topic(n)
                    .ok_or(ControllerError::UnknownTopicOrPartition)?,
                TopicRef::Id(id) => image
                    .topic_by_id(id)
                    .ok_or(ControllerError::UnknownTopicId)?,
            };
            if !delete_enabled {
                return Err(ControllerError::TopicDeletionDisabled);
            }
            if removed.insert(topic.topic_id) {
                records.push(MetadataRecord::RemoveTopic {
                    topic_id: topic.topic_id,
                });
            }
            Ok((topic.name.clone(), topic.topic_id))
        })
        .collect();
    (records, results)
}

/// One topic of a CreatePartitions request.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionIncrease {
    pub name: String,
    pub count: i32,
    /// Replicas of each new partition, or empty for automatic placement.
    pub assignments: Vec<Vec<i32>>,
}

pub fn create_partitions(
    image: &MetadataImage,
    cluster: &ClusterView,
    requests: &[PartitionIncrease],
) -> (Vec<MetadataRecord>, Vec<Result<(), ControllerError>>) {
    let mut records = Vec::new();
    let mut seen = HashSet::new();
    // As for CreateTopics (and Kafka): a topic named twice fails in every entry.
    let duplicated: HashSet<&str> = requests
        .iter()
        .filter(|r| !seen.insert(r.name.as_str()))
        .map(|r| r.name.as_str())
        .collect();
    let results = requests
        .iter()
        .map(|req| {
            if duplicated.contains(req.name.as_str()) {
                return Err(ControllerError::InvalidRequest(format!("duplicate topic {} in request", req.name)));
            }
            let topic = image.topic(&req.name).ok_or(ControllerError::UnknownTopicOrPartition)?;
            let current = topic.partitions.len() as i32;
            if req.count < current {
                return Err(ControllerError::InvalidPartitions(format!(
                    "topic currently has {current} partitions, which is higher than the requested {}",
                    req.count
                )));
            }
            if req.count == current {
                return Err(ControllerError::InvalidPartitions(format!("topic already has {current} partitions")));
            }
            let rf = topic.partitions.values().next().map_or(1, |p| p.replicas.len()) as i16;
            let added = if req.assignments.is_empty() {
                assign_replicas(cluster, current, req.count - current, rf)?
            } else {
                if req.assignments.len() as i32 != req.count - current {
                    return Err(ControllerError::InvalidReplicaAssignment(format!(
                        "{} new partitions were requested but {} assignments given",
                        req.count - current,
                        req.assignments.len()
                    )));
                }
                for (p, r) in (current..).zip(&req.assignments) {
                    check_replicas(cluster, p, r, Some(rf as usize))?;
                }
                (current..).zip(req.assignments.iter().cloned()).collect()
            };
            for (p, replicas) in added {
                records.push(partition_record(cluster, topic.topic_id, p, replicas));
            }
            Ok(())
        })
        .collect();
    (records, results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> ClusterView {
        cluster_of(&[(1, None)], &[])
    }

    /// Brokers `(id, rack)`, all active but those in `fenced`.
    fn cluster_of(brokers: &[(i32, Option<&str>)], fenced: &[i32]) -> ClusterView {
        ClusterView {
            usable: brokers
                .iter()
                .map(|(id, rack)| UsableBroker {
                    id: *id,
                    rack: rack.map(str::to_string),
                    fenced: fenced.contains(id),
                })
                .collect(),
            registered: brokers.iter().map(|(id, _)| *id).collect(),
            active: brokers
                .iter()
                .map(|(id, _)| *id)
                .filter(|id| !fenced.contains(id))
                .collect(),
            default_num_partitions: 3,
            default_replication_factor: 1,
            placement_start: 0,
            default_dirs: brokers
                .iter()
                .map(|(id, _)| (*id, Uuid::from_u128(1000 + *id as u128)))
                .collect(),
        }
    }

    fn new_topic(name: &str, partitions: i32) -> NewTopic {
        NewTopic {
            name: name.into(),
            num_partitions: partitions,
            replication_factor: -1,
            assignments: vec![],
            configs: vec![],
        }
    }

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for r in records {
            let next = image.offset + 1;
            image.replay(next, r);
        }
    }

    fn ids() -> impl FnMut() -> Uuid {
        let mut n = 0u128;
        move || {
            n += 1;
            Uuid::from_u128(n)
        }
    }

    #[test]
    fn topic_names_follow_kafkas_rules() {
        for ok in ["a", "A-b_c.d", &"x".repeat(249), "__consumer_offsets"] {
            assert!(validate_topic_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "é", &"x".repeat(250)] {
            assert_eq!(validate_topic_name(bad).unwrap_err().code(), 17, "{bad}");
        }
    }

    #[test]
    fn create_uses_defaults_and_writes_records() {
        let mut image = MetadataImage::empty();
        let mut t = new_topic("t", -1);
        t.configs = vec![("retention.ms".into(), Some("1000".into()))];
        let (records, results) = create_topics(&image, &cluster(), &[t], ids());
        let created = results[0].as_ref().unwrap();
        assert_eq!(created.num_partitions, 3);
        assert_eq!(created.replication_factor, 1);
        apply(&mut image, &records);
        let topic = image.topic("t").unwrap();
        assert_eq!(topic.partitions.len(), 3);
        assert_eq!(topic.partitions[&2].leader, 1);
        assert_eq!(topic.configs["retention.ms"], "1000");
    }

    #[test]
    fn create_refuses_with_kafkas_codes() {
        let mut image = MetadataImage::empty();
        let (records, _) = create_topics(&image, &cluster(), &[new_topic("a.b", 1)], ids());
        apply(&mut image, &records);
        let mut bad_rf = new_topic("rf", 1);
        bad_rf.replication_factor = 3;
        let mut bad_config = new_topic("cfg", 1);
        bad_config.configs = vec![("cleanup.policy".into(), Some("shred".into()))];
        let mut unknown_config = new_topic("cfg2", 1);
        unknown_config.configs = vec![("no.such.config".into(), Some("1".into()))];
        let cases = [
            (new_topic("a.b", 1), 36),
            (new_topic("a_b", 1), 17),
            (new_topic("bad/name", 1), 17),
            (new_topic("zero", 0), 37),
            (new_topic("__cluster_metadata", 1), 42),
            (bad_rf, 38),
            (bad_config, 40),
            (unknown_config, 40),
        ];
        for (topic, code) in cases {
            let name = topic.name.clone();
            let (records, results) = create_topics(&image, &cluster(), &[topic], ids());
            assert!(records.is_empty(), "{name}");
            assert_eq!(results[0].as_ref().unwrap_err().code(), code, "{name}");
        }
    }

    #[test]
    fn a_topic_named_twice_in_one_request_fails_both_times() {
        let image = MetadataImage::empty();
        let (records, results) = create_topics(
            &image,
            &cluster(),
            &[new_topic("d", 1), new_topic("d", 1)],
            ids(),
        );
        assert!(records.is_empty());
        assert!(results.iter().all(|r| r.as_ref().unwrap_err().code() == 42));
    }

    #[test]
    fn delete_by_name_and_id() {
        let mut image = MetadataImage::empty();
        let (records, _) = create_topics(
            &image,
            &cluster(),
            &[new_topic("a", 1), new_topic("b", 1)],
            ids(),
        );
        apply(&mut image, &records);
        let b_id = image.topic("b").unwrap().topic_id;
        let (records, results) = delete_topics(
            &image,
            true,
            &[
                TopicRef::Name("a".into()),
                TopicRef::Id(b_id),
                TopicRef::Name("zz".into()),
                TopicRef::Id(Uuid::from_u128(99)),
            ],
        );
        assert_eq!(records.len(), 2);
        assert_eq!(results[2].as_ref().unwrap_err().code(), 3);
        assert_eq!(results[3].as_ref().unwrap_err().code(), 100);
        apply(&mut image, &records);
        assert!(image.topics.is_empty());
        let (records, results) = delete_topics(&image, false, &[TopicRef::Name("a".into())]);
        assert!(records.is_empty());
        assert_eq!(results[0].as_ref().unwrap_err().code(), 3);
    }

    #[test]
    fn partitions_are_placed_over_the_registered_brokers_by_rack() {
        let three = cluster_of(&[(1, Some("a")), (2, Some("b")), (3, Some("c"))], &[]);
        let mut image = MetadataImage::empty();
        let mut t = new_topic("spread", 6);
        t.replication_factor = 3;
        let (records, results) = create_topics(&image, &three, &[t], ids());
        assert_eq!(results[0].as_ref().unwrap().replication_factor, 3);
        apply(&mut image, &records);
        let topic = image.topic("spread").unwrap();
        let mut leaders = std::collections::HashMap::<i32, usize>::new();
        for p in topic.partitions.values() {
            let mut replicas = p.replicas.clone();
            replicas.sort_unstable();
            assert_eq!(replicas, vec![1, 2, 3]);
            assert_eq!((p.leader, &p.isr), (p.replicas[0], &p.replicas));
            *leaders.entry(p.leader).or_default() += 1;
        }
        assert_eq!(leaders.values().copied().collect::<Vec<_>>(), vec![2, 2, 2]);
        // CreatePartitions places the new ones the same way.
        let inc = PartitionIncrease {
            name: "spread".into(),
            count: 9,
            assignments: vec![],
        };
        let (records, res) = create_partitions(&image, &three, &[inc]);
        assert!(res[0].is_ok());
        apply(&mut image, &records);
        let topic = image.topic("spread").unwrap();
        let new_leaders: HashSet<i32> = (6..9).map(|p| topic.partitions[&p].leader).collect();
        assert_eq!(new_leaders, HashSet::from([1, 2, 3]));
        // More replicas than brokers: Kafka's code and message.
        let mut four = new_topic("four", 1);
        four.replication_factor = 4;
        let (records, results) = create_topics(&image, &three, &[four], ids());
        assert!(records.is_empty());
        let e = results[0].as_ref().unwrap_err();
        assert_eq!(e.code(), 38);
        assert!(
            e.to_string().contains("only 3 broker(s) are registered"),
            "{e}"
        );
    }

    #[test]
    fn a_manual_assignment_may_name_any_registered_broker() {
        // Broker 2 fenced, 9 never registered.
        let cluster = cluster_of(&[(1, None), (2, None), (3, None)], &[2]);
        let image = MetadataImage::empty();
        let manual = |name: &str, assignments: Vec<(i32, Vec<i32>)>| NewTopic {
            name: name.into(),
            num_partitions: -1,
            replication_factor: -1,
            assignments,
            configs: vec![],
        };
        let (records, results) = create_topics(
            &image,
            &cluster,
            &[manual("ok", vec![(0, vec![2, 3]), (1, vec![3, 1])])],
            ids(),
        );
        assert!(results[0].is_ok());
        let mut after = image.clone();
        apply(&mut after, &records);
        let p0 = &after.topic("ok").unwrap().partitions[&0];
        // The fenced broker holds a replica, outside the ISR; the first
        // active replica leads.
        assert_eq!(
            (p0.replicas.clone(), p0.isr.clone(), p0.leader),
            (vec![2, 3], vec![3], 3)
        );
        // Each replica in its broker's only log directory.
        assert_eq!(
            p0.directories,
            vec![Uuid::from_u128(1002), Uuid::from_u128(1003)]
        );
        let refusals = [
            manual("unknown", vec![(0, vec![9])]),
            manual("twice", vec![(0, vec![1, 1])]),
            manual("empty", vec![(0, vec![])]),
            manual("uneven", vec![(0, vec![1]), (1, vec![1, 3])]),
            manual("gap", vec![(0, vec![1]), (2, vec![1])]),
            manual("fenced", vec![(0, vec![2])]),
        ];
        for t in refusals {
            let name = t.name.clone();
            let (records, results) = create_topics(&image, &cluster, &[t], ids());
            assert!(records.is_empty(), "{name}");
            let e = results[0].as_ref().unwrap_err();
            assert_eq!(e.code(), 39, "{name}: {e}");
        }
        let (_, results) = create_topics(
            &image,
            &cluster,
            &[manual("unknown", vec![(0, vec![1, 9])])],
            ids(),
        );
        assert_eq!(
            results[0].as_ref().unwrap_err().to_string(),
            "The manual partition assignment includes broker 9, but no such broker is registered."
        );
        // CreatePartitions: the same rules, at the topic's replication factor.
        let inc = |assignments| PartitionIncrease {
            name: "ok".into(),
            count: 3,
            assignments,
        };
        assert!(create_partitions(&after, &cluster, &[inc(vec![vec![2, 1]])]).1[0].is_ok());
        for bad in [vec![9, 1], vec![1], vec![2]] {
            let (r, res) = create_partitions(&after, &cluster, &[inc(vec![bad.clone()])]);
            assert!(r.is_empty());
            assert_eq!(res[0].as_ref().unwrap_err().code(), 39, "{bad:?}");
        }
    }

    #[test]
    fn no_usable_broker_is_invalid_replication_factor() {
        let image = MetadataImage::empty();
        for cluster in [cluster_of(&[], &[]), cluster_of(&[(1, None)], &[1])] {
            let (records, results) = create_topics(&image, &cluster, &[new_topic("t", 1)], ids());
            assert!(records.is_empty());
            let e = results[0].as_ref().unwrap_err();
            assert_eq!(e.code(), 38);
            assert!(
                e.to_string()
                    .starts_with("Unable to replicate the partition 1 time(s)"),
                "{e}"
            );
        }
    }

    #[test]
    fn partitions_only_grow() {
        let mut image = MetadataImage::empty();
        let (records, _) = create_topics(&image, &cluster(), &[new_topic("a", 2)], ids());
        apply(&mut image, &records);
        let inc = |count| PartitionIncrease {
            name: "a".into(),
            count,
            assignments: vec![],
        };
        let (r, res) = create_partitions(&image, &cluster(), &[inc(1)]);
        assert!(r.is_empty());
        assert_eq!(res[0].as_ref().unwrap_err().code(), 37);
        let (r, res) = create_partitions(&image, &cluster(), &[inc(5)]);
        assert!(res[0].is_ok());
        apply(&mut image, &r);
        assert_eq!(image.topic("a").unwrap().partitions.len(), 5);
        let missing = PartitionIncrease {
            name: "nope".into(),
            count: 2,
            assignments: vec![],
        };
        assert_eq!(
            create_partitions(&image, &cluster(), &[missing]).1[0]
                .as_ref()
                .unwrap_err()
                .code(),
            3
        );
    }
}
