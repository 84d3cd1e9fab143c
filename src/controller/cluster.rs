//! Broker lifecycle decisions (KIP-631), as pure functions of the image:
//! a broker registers (BrokerRegistration) and gets an epoch, the offset of
//! its `RegisterBrokerRecord`; it starts fenced and is unfenced by a
//! heartbeat (BrokerHeartbeat) once its metadata has caught up to that
//! record; a heartbeat with `want_fence` fences it, one with
//! `want_shut_down` puts it into controlled shutdown. Fencing and
//! controlled shutdown move the broker's leaderships away, unfencing gives
//! it back those of partitions left without a leader ([`super::replication`]).
//!
//! Kafka counterparts: `ClusterControlManager.registerBroker`,
//! `BrokerHeartbeatManager.calculateNextBrokerState` and the fencing
//! records of `ReplicationControlManager` (`BrokerRegistrationChangeRecord`
//! at `metadata.version` 3.3 and later).

use uuid::Uuid;

use super::error::ControllerError;
use super::replication::{broker_leaving, broker_unfenced};
use crate::metadata::MetadataImage;
use crate::metadata::MetadataRecord;
use crate::metadata::records::{BrokerEndpoint, BrokerFeature, RegisterBrokerRecord, fencing};

/// A BrokerRegistration request.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerRegistration {
    pub broker_id: i32,
    pub cluster_id: String,
    /// New on every start of the broker process.
    pub incarnation_id: Uuid,
    pub listeners: Vec<BrokerEndpoint>,
    pub features: Vec<BrokerFeature>,
    pub rack: Option<String>,
    pub log_dirs: Vec<Uuid>,
    /// A ZooKeeper broker migrating to KRaft: refused, as by Kafka 4.
    pub is_migrating_zk_broker: bool,
}

/// A BrokerHeartbeat request.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerHeartbeat {
    pub broker_id: i32,
    pub broker_epoch: i64,
    /// The offset of the last metadata record the broker applied.
    pub current_metadata_offset: i64,
    pub want_fence: bool,
    pub want_shut_down: bool,
}

/// What a heartbeat is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatReply {
    pub is_caught_up: bool,
    pub is_fenced: bool,
    pub in_controlled_shutdown: bool,
    pub should_shut_down: bool,
}

/// Registers a broker. `next_offset` is where the record will be written
/// (the broker's new epoch); `live_session` says whether the broker id's
/// current registration still has a live heartbeat session.
pub fn register_broker(
    image: &MetadataImage,
    cluster_id: &str,
    request: &BrokerRegistration,
    next_offset: i64,
    live_session: bool,
) -> Result<(Vec<MetadataRecord>, i64), ControllerError> {
    if request.cluster_id != cluster_id {
        return Err(ControllerError::InconsistentClusterId(format!(
            "expected cluster id {cluster_id}, but the registration request named {}",
            request.cluster_id
        )));
    }
    if let Some(existing) = image.brokers.get(&request.broker_id)
        && existing.incarnation_id != request.incarnation_id
        && live_session
    {
        return Err(ControllerError::DuplicateBrokerRegistration(format!(
            "another broker is registered with id {} (incarnation {}) and its session is live",
            request.broker_id, existing.incarnation_id
        )));
    }
    if request.is_migrating_zk_broker {
        return Err(ControllerError::BrokerIdNotRegistered(
            "the controller does not register ZooKeeper brokers".into(),
        ));
    }
    check_log_dirs(image, request)?;
    // Every finalized feature must be within the broker's range.
    for (name, level) in &image.features {
        let supported = request
            .features
            .iter()
            .find(|f| &f.name == name)
            .is_some_and(|f| (f.min..=f.max).contains(level));
        if !supported {
            return Err(ControllerError::UnsupportedVersion(format!(
                "unable to register: broker {} does not support the finalized level {level} of {name}",
                request.broker_id
            )));
        }
    }
    // The same incarnation registering again (its answer was lost) amends
    // its registration: epoch and fencing state stay.
    let (broker_epoch, fenced, in_controlled_shutdown) = match image.brokers.get(&request.broker_id)
    {
        Some(existing) if existing.incarnation_id == request.incarnation_id => (
            existing.broker_epoch,
            existing.fenced,
            existing.in_controlled_shutdown,
        ),
        _ => (next_offset, true, false),
    };
    let record = RegisterBrokerRecord {
        broker_id: request.broker_id,
        incarnation_id: request.incarnation_id,
        broker_epoch,
        endpoints: request.listeners.clone(),
        features: request.features.clone(),
        rack: request.rack.clone(),
        fenced,
        in_controlled_shutdown,
        log_dirs: request.log_dirs.clone(),
    };
    Ok((vec![MetadataRecord::RegisterBroker(record)], broker_epoch))
}

/// The broker's log directories (KIP-858, every `metadata.version` Runnel
/// finalizes): at least one, none of the reserved ids, no repeats, and
/// none another broker registered.
fn check_log_dirs(
    image: &MetadataImage,
    request: &BrokerRegistration,
) -> Result<(), ControllerError> {
    let invalid = |m: String| Err(ControllerError::InvalidRegistration(m));
    if request.log_dirs.is_empty() {
        return invalid("no log directories in the registration".into());
    }
    let mut seen = std::collections::HashSet::new();
    for dir in &request.log_dirs {
        // Kafka keeps the first 100 ids for markers (unassigned, lost, ...).
        if dir.as_u128() < 100 {
            return invalid(format!(
                "reserved log directory id {dir} in the registration"
            ));
        }
        if !seen.insert(dir) {
            return invalid(format!("log directory id {dir} is listed twice"));
        }
        if let Some(other) = image
            .brokers
            .values()
            .find(|b| b.broker_id != request.broker_id && b.log_dirs.contains(dir))
        {
            return invalid(format!(
                "broker {} is already registered with log directory {dir}",
                other.broker_id
            ));
        }
    }
    Ok(())
}

/// Answers a heartbeat, with the records of any change it causes.
pub fn heartbeat(
    image: &MetadataImage,
    request: &BrokerHeartbeat,
) -> Result<(Vec<MetadataRecord>, HeartbeatReply), ControllerError> {
    let Some(broker) = image.brokers.get(&request.broker_id) else {
        return Err(ControllerError::BrokerIdNotRegistered(format!(
            "broker {} is not registered",
            request.broker_id
        )));
    };
    if broker.broker_epoch != request.broker_epoch {
        return Err(ControllerError::StaleBrokerEpoch(format!(
            "broker {} has epoch {}, not {}",
            request.broker_id, broker.broker_epoch, request.broker_epoch
        )));
    }
    // Caught up once the broker has seen its own registration.
    let is_caught_up = request.current_metadata_offset >= broker.broker_epoch;
    let change =
        |fenced: i8, in_controlled_shutdown: i8| MetadataRecord::BrokerRegistrationChange {
            broker_id: request.broker_id,
            broker_epoch: broker.broker_epoch,
            fenced,
            in_controlled_shutdown,
        };
    let mut records = Vec::new();
    let mut reply = HeartbeatReply {
        is_caught_up,
        is_fenced: broker.fenced,
        in_controlled_shutdown: broker.in_controlled_shutdown,
        should_shut_down: false,
    };
    if broker.fenced {
        if request.want_shut_down {
            // A fenced broker leads nothing: it may go at once.
            reply.should_shut_down = true;
        } else if !request.want_fence && is_caught_up {
            // As Kafka: the unfencing first, then the elections it allows.
            records.push(change(fencing::UNFENCE, 0));
            records.extend(broker_unfenced(image, request.broker_id));
            reply.is_fenced = false;
        }
    } else if request.want_fence {
        records.extend(broker_leaving(image, request.broker_id));
        records.push(change(fencing::FENCE, 0));
        reply.is_fenced = true;
    } else if request.want_shut_down {
        let leads = image
            .topics
            .values()
            .any(|t| t.partitions.values().any(|p| p.leader == request.broker_id));
        if leads && !broker.in_controlled_shutdown {
            records.push(change(fencing::NONE, 1));
            reply.in_controlled_shutdown = true;
        }
        // Its leaderships move now: to another in-sync replica, or to none
        // for a partition it alone holds. Leading nothing then, it may go
        // at once: fenced in the same batch (Kafka's SHUTDOWN_NOW, which
        // Kafka's controller reaches at the broker's next heartbeat, once
        // the moves are written), so clients stop being sent to it.
        records.extend(broker_leaving(image, request.broker_id));
        records.push(change(fencing::FENCE, 0));
        reply.is_fenced = true;
        reply.should_shut_down = true;
    }
    Ok((records, reply))
}

/// Fences every unfenced broker whose session expired (`expired(id)`):
/// Kafka's `BrokerHeartbeatManager.findStaleBrokers` and the fencing of
/// `ReplicationControlManager.maybeFenceOneStaleBroker`, each broker's
/// leaderships moved before its fencing record. A broker in controlled
/// shutdown that stopped heartbeating is fenced too. Brokers fenced
/// together are fenced one after the other: the second one's elections
/// see the first one gone.
pub fn fence_expired_sessions(
    image: &MetadataImage,
    expired: impl Fn(i32) -> bool,
) -> Vec<MetadataRecord> {
    let stale: Vec<(i32, i64)> = image
        .brokers
        .values()
        .filter(|b| !b.fenced && expired(b.broker_id))
        .map(|b| (b.broker_id, b.broker_epoch))
        .collect();
    let mut records = Vec::new();
    let mut scratch = image.clone();
    for (broker_id, broker_epoch) in stale {
        let mut these = broker_leaving(&scratch, broker_id);
        these.push(MetadataRecord::BrokerRegistrationChange {
            broker_id,
            broker_epoch,
            fenced: fencing::FENCE,
            in_controlled_shutdown: 0,
        });
        for r in &these {
            let next = scratch.offset + 1;
            scratch.replay(next, r);
        }
        records.extend(these);
    }
    records
}

/// UnregisterBroker (KIP-631; `kafka-cluster unregister`): the broker's
/// registration is removed, after it left every leadership and ISR as a
/// fenced broker does. Refused for an id that is not registered.
pub fn unregister_broker(
    image: &MetadataImage,
    broker_id: i32,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let registration = image.brokers.get(&broker_id).ok_or_else(|| {
        ControllerError::BrokerIdNotRegistered(format!(
            "broker ID {broker_id} is not currently registered"
        ))
    })?;
    let mut records = broker_leaving(image, broker_id);
    records.push(MetadataRecord::UnregisterBroker {
        broker_id,
        broker_epoch: registration.broker_epoch,
    });
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLUSTER: &str = "MkU3OEVBNTcwNTJENDM2Qg";

    fn registration(id: i32, incarnation: u128) -> BrokerRegistration {
        BrokerRegistration {
            broker_id: id,
            cluster_id: CLUSTER.into(),
            incarnation_id: Uuid::from_u128(incarnation),
            listeners: vec![BrokerEndpoint {
                name: "PLAINTEXT".into(),
                host: "127.0.0.1".into(),
                port: 9092,
                security_protocol: 0,
            }],
            features: vec![BrokerFeature {
                name: "metadata.version".into(),
                min: 7,
                max: 27,
            }],
            rack: None,
            log_dirs: vec![Uuid::from_u128(1000 + id as u128)],
            is_migrating_zk_broker: false,
        }
    }

    /// An image at offset `at - 1` with `metadata.version` 27 finalized.
    fn image_at(at: i64) -> MetadataImage {
        let mut image = MetadataImage::empty();
        image.replay(
            at - 1,
            &MetadataRecord::FeatureLevel {
                name: "metadata.version".into(),
                level: 27,
            },
        );
        image
    }

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for r in records {
            let next = image.offset + 1;
            image.replay(next, r);
        }
    }

    #[test]
    fn unregistering_removes_the_registration_and_its_leaderships() {
        let (mut image, epoch) = registered_at(10);
        with_topic(&mut image, &[1]);
        let records = unregister_broker(&image, 1).unwrap();
        assert_eq!(
            records.last(),
            Some(&MetadataRecord::UnregisterBroker {
                broker_id: 1,
                broker_epoch: epoch,
            })
        );
        apply(&mut image, &records);
        assert!(!image.brokers.contains_key(&1));
        // Its only partition has no leader; the ISR keeps its last member.
        let p = &image.topic("t").unwrap().partitions[&0];
        assert_eq!((p.leader, p.isr.clone()), (-1, vec![1]));
        let again = unregister_broker(&image, 1).unwrap_err();
        assert_eq!(again.code(), 102, "{again}");
    }

    /// Topic "t" (id 77) whose partition `p` has the one replica
    /// `leaders[p]`.
    fn with_topic(image: &mut MetadataImage, leaders: &[i32]) {
        let topic_id = Uuid::from_u128(77);
        let mut records = vec![MetadataRecord::Topic {
            name: "t".into(),
            topic_id,
        }];
        records.extend(leaders.iter().zip(0..).map(|(&broker, p)| {
            MetadataRecord::Partition(crate::metadata::records::PartitionRecord::new(
                topic_id,
                p,
                vec![broker],
            ))
        }));
        apply(image, &records);
    }

    /// Broker 1 registered (fenced) with its record at offset `at`.
    fn registered_at(at: i64) -> (MetadataImage, i64) {
        let mut image = image_at(at);
        let (records, epoch) =
            register_broker(&image, CLUSTER, &registration(1, 1), at, false).unwrap();
        apply(&mut image, &records);
        (image, epoch)
    }

    fn beat(id: i32, epoch: i64, offset: i64) -> BrokerHeartbeat {
        BrokerHeartbeat {
            broker_id: id,
            broker_epoch: epoch,
            current_metadata_offset: offset,
            want_fence: false,
            want_shut_down: false,
        }
    }

    #[test]
    fn a_broker_registers_fenced_with_its_record_offset_as_epoch() {
        let mut image = image_at(5);
        let (records, epoch) =
            register_broker(&image, CLUSTER, &registration(1, 1), 5, false).unwrap();
        assert_eq!(epoch, 5);
        apply(&mut image, &records);
        let b = &image.brokers[&1];
        assert!(b.fenced && b.broker_epoch == 5 && b.log_dirs == vec![Uuid::from_u128(1001)]);
        assert_eq!(image.unfenced_brokers().count(), 0);
    }

    #[test]
    fn registration_refusals_name_the_reason() {
        let mut image = image_at(3);
        let wrong = BrokerRegistration {
            cluster_id: "other".into(),
            ..registration(1, 1)
        };
        let e = register_broker(&image, CLUSTER, &wrong, 3, false).unwrap_err();
        assert_eq!(e.code(), 104, "INCONSISTENT_CLUSTER_ID");

        let old = BrokerRegistration {
            features: vec![BrokerFeature {
                name: "metadata.version".into(),
                min: 7,
                max: 20,
            }],
            ..registration(1, 1)
        };
        let e = register_broker(&image, CLUSTER, &old, 3, false).unwrap_err();
        assert_eq!(e.code(), 35, "UNSUPPORTED_VERSION");
        assert!(e.to_string().contains("metadata.version"), "{e}");

        let (records, _) = register_broker(&image, CLUSTER, &registration(1, 1), 3, false).unwrap();
        apply(&mut image, &records);
        // Another process with the same id while the first is alive.
        let e = register_broker(&image, CLUSTER, &registration(1, 2), 4, true).unwrap_err();
        assert_eq!(e.code(), 101, "DUPLICATE_BROKER_REGISTRATION");
        // Once the old session expired, the new incarnation takes over with
        // a new epoch; the same incarnation may always re-register.
        let (records, epoch) =
            register_broker(&image, CLUSTER, &registration(1, 2), 4, false).unwrap();
        assert_eq!(epoch, 4);
        apply(&mut image, &records);
        assert_eq!(image.brokers[&1].incarnation_id, Uuid::from_u128(2));
        // The same incarnation again (a lost answer) keeps its epoch.
        let (_, again) = register_broker(&image, CLUSTER, &registration(1, 2), 9, true).unwrap();
        assert_eq!(again, 4);

        let zk = BrokerRegistration {
            is_migrating_zk_broker: true,
            ..registration(2, 7)
        };
        let e = register_broker(&image, CLUSTER, &zk, 5, false).unwrap_err();
        assert_eq!(e.code(), 102, "BROKER_ID_NOT_REGISTERED");
        for log_dirs in [
            vec![],
            vec![Uuid::from_u128(1)],
            vec![Uuid::from_u128(2002), Uuid::from_u128(2002)],
            // Broker 1's directory.
            vec![Uuid::from_u128(1001)],
        ] {
            let bad = BrokerRegistration {
                log_dirs: log_dirs.clone(),
                ..registration(2, 7)
            };
            let e = register_broker(&image, CLUSTER, &bad, 5, false).unwrap_err();
            assert_eq!(e.code(), 119, "INVALID_REGISTRATION for {log_dirs:?}");
        }
    }

    #[test]
    fn heartbeats_unfence_a_caught_up_broker_and_fence_on_request() {
        let (mut image, epoch) = registered_at(2);

        // Behind its own registration: stays fenced, nothing written.
        let (records, reply) = heartbeat(&image, &beat(1, epoch, 1)).unwrap();
        assert!(records.is_empty() && reply.is_fenced && !reply.is_caught_up);

        let (records, reply) = heartbeat(&image, &beat(1, epoch, 2)).unwrap();
        assert!(reply.is_caught_up && !reply.is_fenced);
        apply(&mut image, &records);
        assert!(!image.brokers[&1].fenced);
        // Again: no change, no record.
        let (records, reply) = heartbeat(&image, &beat(1, epoch, 3)).unwrap();
        assert!(records.is_empty() && !reply.is_fenced);

        let fence = BrokerHeartbeat {
            want_fence: true,
            ..beat(1, epoch, 3)
        };
        let (records, reply) = heartbeat(&image, &fence).unwrap();
        assert!(reply.is_fenced);
        apply(&mut image, &records);
        assert!(image.brokers[&1].fenced);
    }

    #[test]
    fn a_broker_leading_nothing_is_fenced_when_it_shuts_down() {
        let (mut image, epoch) = registered_at(1);
        let (records, _) = heartbeat(&image, &beat(1, epoch, 1)).unwrap();
        apply(&mut image, &records);
        let leaving = BrokerHeartbeat {
            want_shut_down: true,
            ..beat(1, epoch, 2)
        };
        let (records, reply) = heartbeat(&image, &leaving).unwrap();
        assert!(reply.should_shut_down && reply.is_fenced);
        apply(&mut image, &records);
        assert!(image.brokers[&1].fenced);
        assert_eq!(image.unfenced_brokers().count(), 0);
    }

    #[test]
    fn controlled_shutdown_is_recorded_once_and_lets_the_broker_go() {
        let (mut image, epoch) = registered_at(1);
        // Broker 1 leads a partition.
        with_topic(&mut image, &[1]);
        let (records, _) = heartbeat(&image, &beat(1, epoch, 1)).unwrap();
        apply(&mut image, &records);
        let leaving = BrokerHeartbeat {
            want_shut_down: true,
            ..beat(1, epoch, 2)
        };
        let (records, reply) = heartbeat(&image, &leaving).unwrap();
        assert!(reply.in_controlled_shutdown && reply.should_shut_down && reply.is_fenced);
        // Controlled shutdown, its only partition left without a leader,
        // and, leading nothing then, fenced.
        assert_eq!(records.len(), 3, "{records:?}");
        assert!(matches!(
            records.last(),
            Some(MetadataRecord::BrokerRegistrationChange {
                fenced: fencing::FENCE,
                ..
            })
        ));
        apply(&mut image, &records);
        assert!(image.brokers[&1].in_controlled_shutdown && image.brokers[&1].fenced);
        let p = &image.topic("t").unwrap().partitions[&0];
        assert_eq!((p.leader, p.leader_epoch), (-1, 1));
        // Asked again: nothing more to write, it may go.
        let (records, reply) = heartbeat(&image, &leaving).unwrap();
        assert!(reply.should_shut_down && records.is_empty(), "{records:?}");
    }

    /// Broker 1 (registered at offset 1) and broker 2, both unfenced;
    /// broker 2's epoch.
    fn two_unfenced_brokers() -> (MetadataImage, i64) {
        let (mut image, epoch1) = registered_at(1);
        let (records, _) = heartbeat(&image, &beat(1, epoch1, 1)).unwrap();
        apply(&mut image, &records);
        let (records, epoch2) = register_broker(
            &image,
            CLUSTER,
            &registration(2, 9),
            image.offset + 1,
            false,
        )
        .unwrap();
        apply(&mut image, &records);
        let (records, _) = heartbeat(&image, &beat(2, epoch2, epoch2)).unwrap();
        apply(&mut image, &records);
        assert_eq!(image.unfenced_brokers().count(), 2);
        (image, epoch2)
    }

    #[test]
    fn expired_sessions_fence_live_brokers_only() {
        let (image, _) = registered_at(1);
        // Still fenced: nothing to write, whatever its session.
        assert!(fence_expired_sessions(&image, |_| true).is_empty());
        let (mut image, epoch2) = two_unfenced_brokers();

        // Only broker 2 went quiet.
        let records = fence_expired_sessions(&image, |id| id == 2);
        assert_eq!(records.len(), 1);
        apply(&mut image, &records);
        assert!(image.brokers[&2].fenced && !image.brokers[&1].fenced);
        assert!(fence_expired_sessions(&image, |id| id == 2).is_empty());
        // A heartbeat of the caught-up broker unfences it again.
        let (records, reply) = heartbeat(&image, &beat(2, epoch2, image.offset)).unwrap();
        assert!(!reply.is_fenced);
        apply(&mut image, &records);
        assert!(!image.brokers[&2].fenced);
    }

    /// Session expiry and the unfencing heartbeat move leaderships: an
    /// RF=1 partition of the expired broker goes offline (leader -1, epoch
    /// bumped) and comes back to it, one epoch later, when it is unfenced.
    #[test]
    fn an_expired_session_takes_leadership_and_unfencing_gives_it_back() {
        let (mut image, epoch2) = two_unfenced_brokers();
        with_topic(&mut image, &[2, 1]);
        let leader = |image: &MetadataImage, p: i32| {
            let p = &image.topic("t").unwrap().partitions[&p];
            (p.leader, p.leader_epoch)
        };
        let records = fence_expired_sessions(&image, |id| id == 2);
        assert_eq!(records.len(), 2, "{records:?}");
        apply(&mut image, &records);
        assert_eq!(leader(&image, 0), (-1, 1));
        assert_eq!(leader(&image, 1), (1, 0));
        let (records, reply) = heartbeat(&image, &beat(2, epoch2, image.offset)).unwrap();
        assert!(!reply.is_fenced);
        apply(&mut image, &records);
        assert_eq!(leader(&image, 0), (2, 2));
        // Asking to be fenced takes it away again, in the same batch.
        let fence_me = BrokerHeartbeat {
            want_fence: true,
            ..beat(2, epoch2, image.offset)
        };
        let (records, _) = heartbeat(&image, &fence_me).unwrap();
        apply(&mut image, &records);
        assert_eq!(leader(&image, 0), (-1, 3));
    }

    #[test]
    fn stale_epochs_and_unknown_brokers_are_refused() {
        let (image, epoch) = registered_at(1);
        assert_eq!(
            heartbeat(&image, &beat(1, epoch - 1, 5))
                .unwrap_err()
                .code(),
            77,
            "STALE_BROKER_EPOCH"
        );
        assert_eq!(
            heartbeat(&image, &beat(2, epoch, 5)).unwrap_err().code(),
            102,
            "BROKER_ID_NOT_REGISTERED"
        );
        // A change record of an older registration is ignored on replay.
        let mut stale = image.clone();
        stale.replay(
            10,
            &MetadataRecord::BrokerRegistrationChange {
                broker_id: 1,
                broker_epoch: epoch - 1,
                fenced: fencing::UNFENCE,
                in_controlled_shutdown: 0,
            },
        );
        assert!(stale.brokers[&1].fenced);
    }
}
