//! Every transition of [`ReplicationState`], and the interleavings where
//! replication goes wrong in practice, asserted on what each step returns.
//! Broker 1 is the local broker; broker `n` is registered at epoch `100 + n`.

use std::collections::BTreeMap;

use super::*;

const LOCAL: BrokerId = BrokerId(1);
const LOCAL_EPOCH: BrokerEpoch = BrokerEpoch(101);
/// A wall-clock time: far enough from 0 that "never caught up" (0) is
/// always older than `replica.lag.time.max.ms`.
const T0: i64 = 1_700_000_000_000;
const LAG_MS: i64 = 30_000;

fn ids(v: &[i32]) -> Vec<BrokerId> {
    v.iter().copied().map(BrokerId).collect()
}

fn registration(
    leader: i32,
    leader_epoch: i32,
    partition_epoch: i32,
    replicas: &[i32],
    isr: &[i32],
) -> PartitionRegistration {
    PartitionRegistration {
        leader: BrokerId(leader),
        leader_epoch: LeaderEpoch(leader_epoch),
        partition_epoch: PartitionEpoch(partition_epoch),
        replicas: ids(replicas),
        isr: ids(isr),
    }
}

fn registered(id: i32) -> BrokerStatus {
    BrokerStatus {
        broker_epoch: BrokerEpoch(100 + id as i64),
        fenced: false,
        in_controlled_shutdown: false,
    }
}

/// A partition led by broker 1 over replicas 1, 2, 3, driven step by step.
struct Fixture {
    state: ReplicationState,
    brokers: BTreeMap<BrokerId, BrokerStatus>,
    config: ReplicationConfig,
    now: i64,
}

impl Fixture {
    /// Leader at leader epoch 5, partition epoch 10, the log at 0.
    fn leader(isr: &[i32], min_insync_replicas: i32) -> Self {
        Self::leader_at(isr, min_insync_replicas, 0, 0)
    }

    fn leader_at(
        isr: &[i32],
        min_insync_replicas: i32,
        log_end_offset: i64,
        high_watermark: i64,
    ) -> Self {
        let mut f = Fixture {
            state: ReplicationState::new(
                LOCAL,
                LOCAL_EPOCH,
                Offset(log_end_offset),
                Offset(high_watermark),
            ),
            brokers: (1..=3).map(|id| (BrokerId(id), registered(id))).collect(),
            config: ReplicationConfig {
                min_insync_replicas,
                replica_lag_time_max_ms: LAG_MS,
            },
            now: T0,
        };
        let change = f
            .state
            .become_leader(
                &registration(1, 5, 10, &[1, 2, 3], isr),
                Offset(log_end_offset),
                Offset(high_watermark),
                f.now,
                &f.config,
                &f.brokers,
            )
            .unwrap();
        assert!(change.is_new_leader && change.is_new_leader_epoch);
        f
    }

    /// The image's `registration` for this node as leader, the local log at
    /// `log_end_offset` with `high_watermark`.
    fn become_leader(
        &mut self,
        registration: &PartitionRegistration,
        log_end_offset: Offset,
        high_watermark: Offset,
    ) -> Result<LeaderChange, RegistrationRefused> {
        self.state.become_leader(
            registration,
            log_end_offset,
            high_watermark,
            self.now,
            &self.config,
            &self.brokers,
        )
    }

    fn fetch_as(
        &mut self,
        replica: i32,
        offset: i64,
        broker_epoch: BrokerEpoch,
    ) -> Result<FollowerFetchOutcome, ReplicationError> {
        let fetch = FollowerFetch {
            replica_id: BrokerId(replica),
            broker_epoch,
            current_leader_epoch: Some(self.state.leader_epoch()),
            fetch_offset: Offset(offset),
            log_start_offset: Offset(0),
        };
        self.state
            .follower_fetch(&fetch, self.now, &self.config, &self.brokers)
    }

    /// A fetch with the follower's registered broker epoch.
    fn fetch(&mut self, replica: i32, offset: i64) -> FollowerFetchOutcome {
        let epoch = self.brokers[&BrokerId(replica)].broker_epoch;
        self.fetch_as(replica, offset, epoch).unwrap()
    }

    fn append(&mut self, log_end_offset: i64) -> Option<Offset> {
        self.state
            .leader_appended(
                Offset(log_end_offset),
                self.now,
                &self.config,
                &self.brokers,
            )
            .unwrap()
    }

    fn shrink(&mut self) -> Option<AlterPartitionRequest> {
        self.state.maybe_shrink_isr(self.now, &self.config)
    }

    fn answer(
        &mut self,
        id: AlterPartitionId,
        answer: AlterPartitionAnswer,
    ) -> AlterPartitionOutcome {
        self.state
            .on_alter_partition_answer(id, answer, self.now, &self.config, &self.brokers)
    }

    /// The controller applies `request` as sent.
    fn accept(&mut self, request: &AlterPartitionRequest) -> AlterPartitionOutcome {
        self.answer(
            request.id,
            AlterPartitionAnswer::Accepted {
                leader_epoch: request.leader_epoch,
                partition_epoch: PartitionEpoch(request.partition_epoch.0 + 1),
                isr: request.new_isr_ids(),
            },
        )
    }

    fn hw(&self) -> i64 {
        self.state.high_watermark().0
    }

    fn isr(&self) -> Vec<i32> {
        self.state.isr().iter().map(|b| b.0).collect()
    }
}

#[test]
fn caught_up_time_follows_kafkas_rule() {
    // (why, last fetch's leader end, last fetch time, last caught up, fetch offset,
    //  leader end now, expected last caught up)
    type Row = (&'static str, Option<i64>, i64, i64, i64, i64, i64);
    #[rustfmt::skip]
    let rows: &[Row] = &[
        ("asks for the leader's end: caught up now", Some(5), 900, 800, 10, 10, 1000),
        ("reaches what the leader had at the previous fetch: caught up then", Some(8), 900, 800, 8, 10, 900),
        ("behind both: unchanged", Some(8), 900, 800, 7, 10, 800),
        ("unknown previous end: any offset reaches it", None, 900, 800, 3, 10, 900),
        ("never moves back in time", Some(8), 700, 800, 8, 10, 800),
    ];
    for &(why, previous_end, last_fetch, caught_up, fetch_offset, leader_end, expected) in rows {
        let mut follower = FollowerState {
            log_start_offset: None,
            log_end_offset: Some(Offset(0)),
            last_fetch_leader_log_end_offset: previous_end.map(Offset),
            last_fetch_time_ms: last_fetch,
            last_caught_up_time_ms: caught_up,
            broker_epoch: None,
        };
        let fetch = FollowerFetch {
            replica_id: BrokerId(2),
            broker_epoch: BrokerEpoch(102),
            current_leader_epoch: None,
            fetch_offset: Offset(fetch_offset),
            log_start_offset: Offset(0),
        };
        follower.record_fetch(&fetch, Offset(leader_end), 1000);
        assert_eq!(follower.last_caught_up_time_ms, expected, "{why}");
        assert_eq!(follower.log_end_offset, Some(Offset(fetch_offset)), "{why}");
        assert_eq!(follower.last_fetch_time_ms, 1000, "{why}");
        assert_eq!(follower.broker_epoch, Some(BrokerEpoch(102)), "{why}");
        let kept = previous_end.map_or(leader_end, |p| p.max(leader_end));
        assert_eq!(
            follower.last_fetch_leader_log_end_offset,
            Some(Offset(kept)),
            "{why}"
        );
    }
}

#[test]
fn registrations_older_than_the_state_are_refused() {
    // The state leads at leader epoch 5, partition epoch 10.
    // (why, leader, leader epoch, partition epoch, expected)
    type Row = (&'static str, i32, i32, i32, Result<(), RegistrationRefused>);
    let stale_partition = Err(RegistrationRefused::StalePartitionEpoch {
        registered: PartitionEpoch(9),
        current: PartitionEpoch(10),
    });
    let stale_leader = Err(RegistrationRefused::StaleLeaderEpoch {
        registered: LeaderEpoch(4),
        current: LeaderEpoch(5),
    });
    #[rustfmt::skip]
    let rows: &[Row] = &[
        ("the same registration again", 1, 5, 10, Ok(())),
        ("an ISR change: newer partition epoch", 1, 5, 11, Ok(())),
        ("re-elected", 1, 6, 12, Ok(())),
        ("older partition epoch", 1, 5, 9, stale_partition),
        ("older leader epoch", 1, 4, 11, stale_leader),
        ("another leader, newer epochs", 2, 6, 11, Ok(())),
        ("another leader, older leader epoch", 2, 4, 11, stale_leader),
        ("another leader, older partition epoch", 2, 6, 9, stale_partition),
        ("no leader", -1, 6, 11, Ok(())),
    ];
    for (why, leader, leader_epoch, partition_epoch, expected) in rows {
        let mut f = Fixture::leader(&[1, 2, 3], 1);
        let reg = registration(
            *leader,
            *leader_epoch,
            *partition_epoch,
            &[1, 2, 3],
            &[1, 2, 3],
        );
        let got = if *leader == 1 {
            f.become_leader(&reg, Offset(0), Offset(0)).map(|_| ())
        } else {
            f.state.become_follower(&reg).map(|_| ())
        };
        assert_eq!(&got, expected, "{why}");
        if got.is_err() {
            assert_eq!(
                (
                    f.state.role(),
                    f.state.leader_epoch(),
                    f.state.partition_epoch()
                ),
                (Role::Leader, LeaderEpoch(5), PartitionEpoch(10)),
                "{why}: a refused registration changes nothing"
            );
        } else {
            assert_eq!(f.state.leader_epoch(), LeaderEpoch(*leader_epoch), "{why}");
            assert_eq!(
                f.state.partition_epoch(),
                PartitionEpoch(*partition_epoch),
                "{why}"
            );
        }
    }
    // The role a registration is applied as must be the one it names.
    let mut f = Fixture::leader(&[1, 2, 3], 1);
    let theirs = registration(2, 6, 11, &[1, 2, 3], &[1, 2, 3]);
    assert_eq!(
        f.become_leader(&theirs, Offset(0), Offset(0)),
        Err(RegistrationRefused::NotLeader {
            leader: BrokerId(2)
        })
    );
    assert_eq!(
        f.state
            .become_follower(&registration(1, 6, 11, &[1, 2, 3], &[1, 2, 3])),
        Err(RegistrationRefused::IsLeader)
    );
}

#[test]
fn becoming_leader_resets_followers_as_kafka_does() {
    let mut f = Fixture::leader(&[1, 2, 3], 1);
    // Never fetched from this new leader: unknown, ISR members caught up now.
    for id in [2, 3] {
        let follower = f.state.follower(BrokerId(id)).unwrap();
        assert_eq!(follower.log_end_offset, None);
        assert_eq!(follower.last_caught_up_time_ms, T0);
        assert_eq!(follower.broker_epoch, None);
    }
    assert_eq!(f.state.leader_epoch_start_offset(), Some(Offset(0)));
    f.append(10);
    f.fetch(2, 10);
    f.fetch(3, 4);
    // Past the lag: 3 (caught up as of T0) no longer holds the watermark.
    f.now += LAG_MS + 1;

    // An ISR change at the same leader epoch keeps what is known.
    let shrunk = registration(1, 5, 11, &[1, 2, 3], &[1, 2]);
    let change = f.become_leader(&shrunk, Offset(10), Offset(4)).unwrap();
    assert!(!change.is_new_leader && !change.is_new_leader_epoch);
    assert_eq!(
        change.high_watermark,
        Some(Offset(10)),
        "3 left the ISR, 2 is at the end"
    );
    assert_eq!(f.isr(), vec![1, 2]);
    assert_eq!(
        f.state.follower(BrokerId(3)).unwrap().log_end_offset,
        Some(Offset(4))
    );
    assert_eq!(
        f.state
            .follower(BrokerId(3))
            .unwrap()
            .last_caught_up_time_ms,
        T0
    );

    // Re-elected at a new epoch: positions kept, times reset by ISR membership.
    let reelected = registration(1, 6, 12, &[1, 2, 3], &[1, 2]);
    let change = f.become_leader(&reelected, Offset(10), Offset(10)).unwrap();
    assert!(!change.is_new_leader && change.is_new_leader_epoch);
    assert_eq!(f.state.leader_epoch_start_offset(), Some(Offset(10)));
    let two = f.state.follower(BrokerId(2)).unwrap();
    assert_eq!(
        (
            two.log_end_offset,
            two.last_caught_up_time_ms,
            two.last_fetch_time_ms
        ),
        (Some(Offset(10)), f.now, f.now)
    );
    assert_eq!(two.last_fetch_leader_log_end_offset, Some(Offset(10)));
    assert_eq!(two.broker_epoch, Some(BrokerEpoch(102)));
    let three = f.state.follower(BrokerId(3)).unwrap();
    assert_eq!(
        (
            three.log_end_offset,
            three.last_caught_up_time_ms,
            three.last_fetch_time_ms
        ),
        (Some(Offset(4)), 0, 0)
    );

    // A reassignment: replica 3 leaves, 4 joins with nothing known.
    let reassigned = registration(1, 6, 13, &[1, 2, 4], &[1, 2]);
    f.become_leader(&reassigned, Offset(10), Offset(10))
        .unwrap();
    assert!(f.state.follower(BrokerId(3)).is_none());
    assert_eq!(f.state.follower(BrokerId(4)).unwrap().log_end_offset, None);
    assert_eq!(f.state.replicas(), &ids(&[1, 2, 4])[..]);
}

#[test]
fn becoming_follower_forgets_followers_and_the_pending_change() {
    let mut f = Fixture::leader(&[1, 2], 1);
    f.append(10);
    let expand = f.fetch(3, 10).alter_partition.expect("3 caught up");
    let change = f
        .state
        .become_follower(&registration(2, 6, 11, &[1, 2, 3], &[2, 3]))
        .unwrap();
    assert!(change.is_new_leader_epoch);
    assert_eq!(
        f.state.role(),
        Role::Follower {
            leader: BrokerId(2)
        }
    );
    assert!(f.state.isr().is_empty() && f.state.follower(BrokerId(3)).is_none());
    assert_eq!(f.state.leader_epoch_start_offset(), None);
    assert_eq!(f.accept(&expand), AlterPartitionOutcome::NotPending);
    // Same leader epoch (only the ISR moved): the fetcher need not restart.
    let change = f
        .state
        .become_follower(&registration(2, 6, 12, &[1, 2, 3], &[2]))
        .unwrap();
    assert!(!change.is_new_leader_epoch);
    // A follower answers nothing as leader.
    assert_eq!(
        f.fetch_as(3, 10, BrokerEpoch(103)),
        Err(ReplicationError::NotLeaderOrFollower)
    );
    assert_eq!(
        f.state
            .leader_appended(Offset(11), f.now, &f.config, &f.brokers),
        Err(ReplicationError::NotLeaderOrFollower)
    );
    assert_eq!(
        f.state.check_append(1, 1),
        Err(ReplicationError::NotLeaderOrFollower)
    );
    assert_eq!(
        f.state.check_enough_replicas(Offset(0), 1),
        Err(ReplicationError::NotLeaderOrFollower)
    );
    assert_eq!(f.shrink(), None);
}

#[test]
fn high_watermark_is_the_minimum_over_the_maximal_isr() {
    // (why, ISR, min.insync.replicas, fetches after appending to 10, expected HW)
    type Row = (
        &'static str,
        &'static [i32],
        i32,
        &'static [(i32, i64)],
        i64,
    );
    #[rustfmt::skip]
    let rows: &[Row] = &[
        ("every ISR member at the end", &[1, 2, 3], 2, &[(2, 10), (3, 10)], 10),
        ("the slowest ISR member decides", &[1, 2, 3], 2, &[(2, 10), (3, 4)], 4),
        ("an ISR member that has not fetched holds it", &[1, 2, 3], 1, &[(2, 10)], 0),
        ("ISR at one member: the leader alone commits", &[1], 1, &[], 10),
        ("ISR at one member, under min.insync.replicas: no advance", &[1], 2, &[], 0),
        ("min.insync.replicas above the replica count is capped", &[1, 2, 3], 5, &[(2, 10), (3, 10)], 10),
        ("ISR of two meeting min.insync.replicas", &[1, 2], 2, &[(2, 7)], 7),
        ("a lagging non-member does not hold it", &[1, 2], 2, &[(2, 10), (3, 2)], 10),
    ];
    for (why, isr, min_isr, fetches, expected) in rows {
        let mut f = Fixture::leader(isr, *min_isr);
        f.append(10);
        for (replica, offset) in *fetches {
            f.fetch(*replica, *offset);
        }
        assert_eq!(f.hw(), *expected, "{why}");
        assert!(
            f.state.high_watermark() <= f.state.log_end_offset(),
            "{why}"
        );
    }
}

#[test]
fn a_caught_up_follower_joining_a_one_member_isr_holds_the_high_watermark() {
    // Without waiting for it, a follower of a busy single-member ISR would
    // trail the high watermark forever and never join.
    let mut f = Fixture::leader(&[1], 1);
    f.append(10);
    assert_eq!(f.hw(), 10);
    // 2's first fetch: not caught up (never was), at 4 < HW: no expansion.
    assert_eq!(f.fetch(2, 4), FollowerFetchOutcome::default());
    f.append(20);
    assert_eq!(f.hw(), 20);
    f.now += 100;
    // It reached what the leader had at its previous fetch: caught up as of
    // then, so it now holds the high watermark while it catches up.
    assert_eq!(f.fetch(2, 10), FollowerFetchOutcome::default());
    f.append(30);
    assert_eq!(f.hw(), 20, "2 at 10 would hold it, but it never moves back");
    f.now += 100;
    let out = f.fetch(2, 20);
    assert_eq!(out.high_watermark, None, "2 at 20 holds it at 20");
    let expand = out.alter_partition.expect("2 reached the high watermark");
    assert_eq!(
        expand.change,
        IsrChange::Expand {
            replica: BrokerId(2)
        }
    );
    assert_eq!(expand.new_isr_ids(), ids(&[1, 2]));
    f.append(40);
    assert_eq!(f.hw(), 20, "a member being added holds it");
    assert_eq!(f.fetch(2, 40).high_watermark, Some(Offset(40)));
}

#[test]
fn fetches_the_leader_refuses_change_nothing() {
    let mut f = Fixture::leader(&[1, 2, 3], 1);
    f.append(10);
    f.fetch(2, 5);
    let fetch = |replica: i32, epoch: Option<i32>, offset: i64, broker_epoch: i64| FollowerFetch {
        replica_id: BrokerId(replica),
        broker_epoch: BrokerEpoch(broker_epoch),
        current_leader_epoch: epoch.map(LeaderEpoch),
        fetch_offset: Offset(offset),
        log_start_offset: Offset(0),
    };
    // (why, fetch, expected error)
    let rows: Vec<(&str, FollowerFetch, ReplicationError)> = vec![
        (
            "an older leader epoch",
            fetch(2, Some(4), 6, 102),
            ReplicationError::FencedLeaderEpoch {
                requested: LeaderEpoch(4),
                current: LeaderEpoch(5),
            },
        ),
        (
            "a newer leader epoch",
            fetch(2, Some(6), 6, 102),
            ReplicationError::UnknownLeaderEpoch {
                requested: LeaderEpoch(6),
                current: LeaderEpoch(5),
            },
        ),
        (
            "not a replica",
            fetch(4, Some(5), 6, 104),
            ReplicationError::UnknownReplica {
                replica_id: BrokerId(4),
                leader_epoch: LeaderEpoch(5),
            },
        ),
        (
            "the leader itself",
            fetch(1, None, 6, 101),
            ReplicationError::UnknownReplica {
                replica_id: BrokerId(1),
                leader_epoch: LeaderEpoch(5),
            },
        ),
        (
            "past the leader's end",
            fetch(2, None, 11, 102),
            ReplicationError::OffsetOutOfRange {
                fetch_offset: Offset(11),
                log_end_offset: Offset(10),
            },
        ),
        (
            "an earlier incarnation of the broker",
            fetch(2, Some(5), 6, 99),
            ReplicationError::StaleBrokerEpoch {
                replica_id: BrokerId(2),
                fetch_epoch: BrokerEpoch(99),
                registered_epoch: BrokerEpoch(102),
            },
        ),
    ];
    for (why, fetch, expected) in rows {
        let before = f.state.follower(BrokerId(2)).cloned();
        let got = f
            .state
            .follower_fetch(&fetch, f.now + 1, &f.config, &f.brokers);
        assert_eq!(got, Err(expected), "{why}");
        assert_eq!(f.state.follower(BrokerId(2)).cloned(), before, "{why}");
        assert_eq!(f.hw(), 0, "{why}");
    }
    // Without an epoch (Fetch < v15) or with a newer one than the image has
    // seen yet, the fetch is taken.
    assert!(f.fetch_as(2, 6, BrokerEpoch::NONE).is_ok());
    assert!(f.fetch_as(2, 7, BrokerEpoch(150)).is_ok());
    assert_eq!(
        f.state.follower(BrokerId(2)).unwrap().log_end_offset,
        Some(Offset(7))
    );
}

#[test]
fn a_follower_joins_the_isr_only_when_eligible() {
    // ISR {1, 3}, both at 10: HW 10. Replica 2 fetches at `offset`.
    // (why, 2's registration, 2's fetch broker epoch, fetch offset, expands)
    type Row = (&'static str, Option<BrokerStatus>, BrokerEpoch, i64, bool);
    let ok = Some(registered(2));
    let fenced = Some(BrokerStatus {
        fenced: true,
        ..registered(2)
    });
    let shutting_down = Some(BrokerStatus {
        in_controlled_shutdown: true,
        ..registered(2)
    });
    #[rustfmt::skip]
    let rows: &[Row] = &[
        ("caught up to the HW, registered epoch", ok, BrokerEpoch(102), 10, true),
        ("caught up, the fetch had no epoch", ok, BrokerEpoch::NONE, 10, true),
        ("below the high watermark", ok, BrokerEpoch(102), 9, false),
        ("fenced", fenced, BrokerEpoch(102), 10, false),
        ("in controlled shutdown", shutting_down, BrokerEpoch(102), 10, false),
        ("not registered", None, BrokerEpoch(102), 10, false),
        ("fetching as an incarnation the image has not seen", ok, BrokerEpoch(105), 10, false),
    ];
    for &(why, status, broker_epoch, offset, expands) in rows {
        let mut f = Fixture::leader(&[1, 3], 1);
        f.append(10);
        f.fetch(3, 10);
        assert_eq!(f.hw(), 10);
        match status {
            Some(s) => f.brokers.insert(BrokerId(2), s),
            None => f.brokers.remove(&BrokerId(2)),
        };
        let out = f.fetch_as(2, offset, broker_epoch).unwrap();
        assert_eq!(out.alter_partition.is_some(), expands, "{why}");
        assert_eq!(f.state.isr_state().is_inflight(), expands, "{why}");
        if let Some(request) = out.alter_partition {
            assert_eq!(
                request,
                AlterPartitionRequest {
                    id: request.id,
                    broker_id: LOCAL,
                    broker_epoch: LOCAL_EPOCH,
                    leader_epoch: LeaderEpoch(5),
                    partition_epoch: PartitionEpoch(10),
                    new_isr: vec![
                        IsrMember {
                            broker_id: BrokerId(1),
                            broker_epoch: LOCAL_EPOCH
                        },
                        IsrMember {
                            broker_id: BrokerId(3),
                            broker_epoch: BrokerEpoch(103)
                        },
                        IsrMember {
                            broker_id: BrokerId(2),
                            broker_epoch
                        },
                    ],
                    change: IsrChange::Expand {
                        replica: BrokerId(2)
                    },
                },
                "{why}"
            );
            assert_eq!(f.state.isr_state().maximal_isr(), ids(&[1, 3, 2]), "{why}");
            assert_eq!(
                f.isr(),
                vec![1, 3],
                "{why}: committed only when the controller answers"
            );
        }
    }
}

#[test]
fn a_follower_joins_only_once_inside_the_leader_epoch() {
    // A new leader at 10 whose checkpointed HW is 2: a follower at 5 has
    // the HW but not this epoch's start; it could lose 5..10 if elected.
    let mut f = Fixture::leader_at(&[1, 3], 1, 10, 2);
    assert_eq!(f.state.leader_epoch_start_offset(), Some(Offset(10)));
    assert_eq!(f.fetch(2, 5).alter_partition, None);
    assert!(f.fetch(2, 10).alter_partition.is_some());
}

#[test]
fn one_change_in_flight_at_a_time() {
    let mut f = Fixture::leader(&[1], 1);
    f.append(10);
    let expand = f.fetch(2, 10).alter_partition.expect("2 joins");
    assert_eq!(
        f.fetch(3, 10).alter_partition,
        None,
        "3 waits for 2's change"
    );
    f.now += LAG_MS * 2;
    assert_eq!(f.shrink(), None, "no shrink while an expansion is pending");
    let committed = f.accept(&expand);
    assert_eq!(
        committed,
        AlterPartitionOutcome::Committed {
            isr: ids(&[1, 2]),
            partition_epoch: PartitionEpoch(11),
            high_watermark: None,
        }
    );
    assert_eq!(
        (f.isr(), f.state.partition_epoch()),
        (vec![1, 2], PartitionEpoch(11))
    );
    assert!(!f.state.isr_state().is_inflight());
    let expand3 = f.fetch(3, 10).alter_partition.expect("now 3 may join");
    assert_eq!(expand3.partition_epoch, PartitionEpoch(11));
    assert_ne!(expand3.id, expand.id);
    assert_eq!(
        f.accept(&expand),
        AlterPartitionOutcome::NotPending,
        "a second answer to the first"
    );
}

#[test]
fn shrink_removes_followers_lagging_past_replica_lag_time_max_ms() {
    // (why, ms since 3 last caught up, shrinks)
    let rows: &[(&str, i64, bool)] = &[
        ("within the lag", LAG_MS - 1, false),
        ("exactly the lag", LAG_MS, false),
        ("past the lag", LAG_MS + 1, true),
    ];
    for &(why, elapsed, shrinks) in rows {
        let mut f = Fixture::leader(&[1, 2, 3], 2);
        f.append(10);
        f.fetch(2, 10);
        f.fetch(3, 10);
        f.append(20);
        f.now += elapsed;
        f.fetch(2, 20);
        let got = f.shrink();
        assert_eq!(got.is_some(), shrinks, "{why}");
        if let Some(request) = got {
            assert_eq!(
                request.change,
                IsrChange::Shrink {
                    replicas: ids(&[3])
                },
                "{why}"
            );
            assert_eq!(request.new_isr_ids(), ids(&[1, 2]), "{why}");
            assert_eq!(request.new_isr[1].broker_epoch, BrokerEpoch(102), "{why}");
        }
    }
    // A follower at the leader's end is in sync however long ago it fetched.
    let mut f = Fixture::leader(&[1, 2], 1);
    f.append(10);
    f.fetch(2, 10);
    f.now += LAG_MS * 10;
    assert_eq!(f.shrink(), None);
    // One that never fetched from this leader is out once the lag passes.
    let mut f = Fixture::leader(&[1, 2, 3], 1);
    f.fetch(2, 0);
    f.now += LAG_MS + 1;
    assert_eq!(f.shrink().unwrap().new_isr_ids(), ids(&[1, 2]));
}

#[test]
fn a_pending_shrink_counts_for_the_high_watermark_until_committed() {
    let mut f = Fixture::leader(&[1, 2, 3], 2);
    f.append(10);
    f.fetch(2, 10);
    f.fetch(3, 10);
    assert_eq!(f.hw(), 10);
    f.append(20);
    f.now += LAG_MS + 1;
    assert_eq!(f.fetch(2, 20).high_watermark, None, "3 at 10 holds it");
    let shrink = f.shrink().expect("3 lags");
    assert_eq!(f.append(25), None);
    assert_eq!(
        f.hw(),
        10,
        "a removal does not count until the controller agrees"
    );
    assert_eq!(
        f.accept(&shrink),
        AlterPartitionOutcome::Committed {
            isr: ids(&[1, 2]),
            partition_epoch: PartitionEpoch(11),
            high_watermark: Some(Offset(20)),
        }
    );
    assert_eq!(f.hw(), 20);
}

#[test]
fn a_follower_catching_up_while_its_shrink_is_pending_leaves_then_rejoins() {
    let mut f = Fixture::leader(&[1, 2, 3], 2);
    f.append(10);
    f.fetch(2, 10);
    f.fetch(3, 10);
    f.append(20);
    f.now += LAG_MS + 1;
    f.fetch(2, 20);
    let shrink = f.shrink().expect("3 lags");
    // 3 catches up before the controller answers: no expansion while the
    // shrink is in flight, but as a (still) committed member it moves the HW.
    f.now += 10;
    let out = f.fetch(3, 20);
    assert_eq!(
        out,
        FollowerFetchOutcome {
            high_watermark: Some(Offset(20)),
            alter_partition: None
        }
    );
    assert_eq!(f.shrink(), None, "still pending");
    // The controller removes 3 as asked.
    assert!(matches!(
        f.accept(&shrink),
        AlterPartitionOutcome::Committed { .. }
    ));
    assert_eq!(f.isr(), vec![1, 2]);
    // Its next fetch, at the high watermark, proposes it back.
    f.append(30);
    let rejoin = f
        .fetch(3, 20)
        .alter_partition
        .expect("3 is caught up to the HW");
    assert_eq!(
        rejoin.change,
        IsrChange::Expand {
            replica: BrokerId(3)
        }
    );
    assert_eq!(
        (rejoin.partition_epoch, rejoin.new_isr_ids()),
        (PartitionEpoch(11), ids(&[1, 2, 3]))
    );
    assert!(matches!(
        f.accept(&rejoin),
        AlterPartitionOutcome::Committed { .. }
    ));
    assert_eq!(f.isr(), vec![1, 2, 3]);
    assert_eq!(f.state.partition_epoch(), PartitionEpoch(12));
    f.fetch(2, 30);
    assert_eq!(f.hw(), 20, "3 at 20 holds it");
    assert_eq!(f.fetch(3, 30).high_watermark, Some(Offset(30)));
}

#[test]
fn an_answer_after_a_new_leader_epoch_is_ignored() {
    let mut f = Fixture::leader(&[1, 2, 3], 1);
    f.append(10);
    f.fetch(2, 10);
    f.now += LAG_MS + 1;
    let shrink = f.shrink().expect("3 never fetched");
    // Re-elected (say after a controller failover) before the answer.
    let reelected = registration(1, 6, 11, &[1, 2, 3], &[1, 2, 3]);
    let change = f.become_leader(&reelected, Offset(10), Offset(0)).unwrap();
    assert!(change.is_new_leader_epoch);
    assert!(
        !f.state.isr_state().is_inflight(),
        "the registration replaced the pending change"
    );
    assert_eq!(f.accept(&shrink), AlterPartitionOutcome::NotPending);
    assert_eq!(f.isr(), vec![1, 2, 3]);
    assert_eq!(f.state.partition_epoch(), PartitionEpoch(11));
    // 3 counts as caught up as of the new epoch: no shrink yet.
    assert_eq!(f.shrink(), None);
}

#[test]
fn an_accepted_answer_for_other_epochs_is_stale() {
    // (why, leader epoch answered, partition epoch answered)
    let rows: &[(&str, i32, i32)] = &[
        ("another leader epoch", 6, 11),
        ("an older leader epoch", 4, 11),
        ("an older partition epoch", 5, 9),
    ];
    for &(why, leader_epoch, partition_epoch) in rows {
        let mut f = Fixture::leader(&[1], 1);
        f.append(10);
        let expand = f.fetch(2, 10).alter_partition.unwrap();
        let answer = AlterPartitionAnswer::Accepted {
            leader_epoch: LeaderEpoch(leader_epoch),
            partition_epoch: PartitionEpoch(partition_epoch),
            isr: ids(&[1, 2]),
        };
        assert_eq!(
            f.answer(expand.id, answer),
            AlterPartitionOutcome::Stale,
            "{why}"
        );
        assert_eq!(
            f.state.isr_state().pending(),
            Some(&expand),
            "{why}: still pending"
        );
        assert_eq!(
            (f.isr(), f.state.partition_epoch()),
            (vec![1], PartitionEpoch(10)),
            "{why}"
        );
    }
    // The same partition epoch: nothing needed changing, but it is settled.
    let mut f = Fixture::leader(&[1], 1);
    f.append(10);
    let expand = f.fetch(2, 10).alter_partition.unwrap();
    let same = AlterPartitionAnswer::Accepted {
        leader_epoch: LeaderEpoch(5),
        partition_epoch: PartitionEpoch(10),
        isr: ids(&[1, 2]),
    };
    assert!(matches!(
        f.answer(expand.id, same),
        AlterPartitionOutcome::Committed { .. }
    ));
    assert_eq!(f.isr(), vec![1, 2]);
}

#[test]
fn refusals_revert_wait_for_metadata_or_retry_as_kafka_does() {
    use AlterPartitionRefusal as R;
    #[derive(Debug, PartialEq)]
    enum Then {
        Reverted,
        Awaiting,
        Retry,
    }
    let rows: &[(R, Then)] = &[
        (R::OperationNotAttempted, Then::Reverted),
        (R::IneligibleReplica, Then::Reverted),
        (R::UnknownTopicOrPartition, Then::Awaiting),
        (R::UnknownTopicId, Then::Awaiting),
        (R::FencedLeaderEpoch, Then::Awaiting),
        (R::InvalidUpdateVersion, Then::Awaiting),
        (R::InvalidRequest, Then::Awaiting),
        (R::NewLeaderElected, Then::Awaiting),
        (R::Other { error_code: -1 }, Then::Retry),
    ];
    for (refusal, then) in rows {
        let mut f = Fixture::leader(&[1, 2, 3], 1);
        f.append(10);
        f.fetch(2, 10);
        f.now += LAG_MS + 1;
        let shrink = f.shrink().expect("3 lags");
        let outcome = f.answer(shrink.id, AlterPartitionAnswer::Refused(*refusal));
        assert_eq!(
            f.isr(),
            vec![1, 2, 3],
            "{refusal:?}: the committed ISR is unchanged"
        );
        match then {
            Then::Reverted => {
                assert_eq!(outcome, AlterPartitionOutcome::Reverted(*refusal));
                assert!(!f.state.isr_state().is_inflight());
                assert_eq!(
                    f.shrink().map(|r| r.new_isr_ids()),
                    Some(ids(&[1, 2])),
                    "{refusal:?}: proposed anew"
                );
            }
            Then::Awaiting => {
                assert_eq!(outcome, AlterPartitionOutcome::AwaitingMetadata(*refusal));
                assert_eq!(f.state.isr_state().pending(), Some(&shrink), "{refusal:?}");
                assert_eq!(
                    f.shrink(),
                    None,
                    "{refusal:?}: nothing new until the image speaks"
                );
                // The image's registration settles it.
                let reg = registration(1, 5, 11, &[1, 2, 3], &[1, 2]);
                f.become_leader(&reg, Offset(10), Offset(10)).unwrap();
                assert!(!f.state.isr_state().is_inflight(), "{refusal:?}");
                assert_eq!(f.isr(), vec![1, 2], "{refusal:?}");
            }
            Then::Retry => {
                assert_eq!(
                    outcome,
                    AlterPartitionOutcome::Retry(shrink.clone()),
                    "same id, same ISR"
                );
                assert!(matches!(
                    f.accept(&shrink),
                    AlterPartitionOutcome::Committed { .. }
                ));
            }
        }
    }
}

#[test]
fn our_own_change_seen_in_the_image_before_the_answer() {
    let mut f = Fixture::leader(&[1], 1);
    f.append(10);
    let expand = f.fetch(2, 10).alter_partition.unwrap();
    // The controller applied it and the metadata log delivered it first.
    let applied = registration(1, 5, 11, &[1, 2, 3], &[1, 2]);
    let change = f.become_leader(&applied, Offset(10), Offset(10)).unwrap();
    assert!(!change.is_new_leader_epoch);
    assert_eq!(
        (f.isr(), f.state.isr_state().is_inflight()),
        (vec![1, 2], false)
    );
    assert_eq!(f.accept(&expand), AlterPartitionOutcome::NotPending);
    // And the other way round: answered first, then the image catches up;
    // an older image arriving late is refused.
    let expand3 = f.fetch(3, 10).alter_partition.unwrap();
    assert!(matches!(
        f.accept(&expand3),
        AlterPartitionOutcome::Committed { .. }
    ));
    assert_eq!(f.state.partition_epoch(), PartitionEpoch(12));
    let late = registration(1, 5, 11, &[1, 2, 3], &[1, 2]);
    assert!(f.become_leader(&late, Offset(10), Offset(10)).is_err());
    let caught_up = registration(1, 5, 12, &[1, 2, 3], &[1, 2, 3]);
    assert!(f.become_leader(&caught_up, Offset(10), Offset(10)).is_ok());
    assert_eq!(f.isr(), vec![1, 2, 3]);
}

#[test]
fn a_restarted_follower_is_fenced_until_it_fetches_with_its_new_epoch() {
    let mut f = Fixture::leader(&[1, 3], 1);
    f.append(10);
    f.fetch(3, 10);
    f.fetch(2, 5);
    // Broker 2 restarts and registers anew at epoch 110.
    f.brokers.insert(
        BrokerId(2),
        BrokerStatus {
            broker_epoch: BrokerEpoch(110),
            ..registered(2)
        },
    );
    // A fetch of the old incarnation still in flight is refused.
    assert_eq!(
        f.fetch_as(2, 10, BrokerEpoch(102)),
        Err(ReplicationError::StaleBrokerEpoch {
            replica_id: BrokerId(2),
            fetch_epoch: BrokerEpoch(102),
            registered_epoch: BrokerEpoch(110)
        })
    );
    assert_eq!(
        f.state.follower(BrokerId(2)).unwrap().log_end_offset,
        Some(Offset(5))
    );
    // The new incarnation's fetch is taken, and it may join.
    let expand = f
        .fetch_as(2, 10, BrokerEpoch(110))
        .unwrap()
        .alter_partition
        .unwrap();
    assert_eq!(
        expand.new_isr.last(),
        Some(&IsrMember {
            broker_id: BrokerId(2),
            broker_epoch: BrokerEpoch(110)
        })
    );
    // An ISR member whose epoch the leader never saw goes as -1.
    let mut g = Fixture::leader(&[1, 2], 1);
    g.append(10);
    let expand = g.fetch(3, 10).alter_partition.unwrap();
    assert_eq!(
        expand.new_isr[1],
        IsrMember {
            broker_id: BrokerId(2),
            broker_epoch: BrokerEpoch::NONE
        }
    );
}

#[test]
fn a_truncated_follower_never_moves_the_high_watermark_back() {
    let mut f = Fixture::leader(&[1, 2, 3], 2);
    f.append(10);
    f.fetch(2, 10);
    f.fetch(3, 10);
    assert_eq!(f.hw(), 10);
    // 2 truncates (an unclean restart) and fetches from 6.
    assert_eq!(f.fetch(2, 6), FollowerFetchOutcome::default());
    assert_eq!(f.hw(), 10);
    assert_eq!(
        f.state.follower(BrokerId(2)).unwrap().log_end_offset,
        Some(Offset(6))
    );
    f.append(15);
    assert_eq!(
        f.fetch(3, 15).high_watermark,
        None,
        "2 at 6 holds it, and it stays at 10"
    );
    assert_eq!(f.hw(), 10);
    assert_eq!(f.fetch(2, 12).high_watermark, Some(Offset(12)));
    assert_eq!(f.fetch(2, 15).high_watermark, Some(Offset(15)));
}

#[test]
fn acks_all_is_refused_before_the_append_under_min_isr() {
    // (why, ISR, min.insync.replicas, acks, expected)
    let rows: &[(&str, &[i32], i32, i16, bool)] = &[
        ("ISR meets min.isr", &[1, 2], 2, -1, true),
        ("ISR below min.isr", &[1], 2, -1, false),
        ("acks=1 ignores min.isr", &[1], 2, 1, true),
        ("acks=0 ignores min.isr", &[1], 2, 0, true),
        (
            "min.isr above the replica count is capped",
            &[1, 2, 3],
            4,
            -1,
            true,
        ),
    ];
    for (why, isr, min_isr, acks, allowed) in rows {
        let f = Fixture::leader(isr, *min_isr);
        let got = f.state.check_append(*acks, *min_isr);
        if *allowed {
            assert_eq!(got, Ok(()), "{why}");
        } else {
            assert_eq!(
                got,
                Err(ReplicationError::NotEnoughReplicas {
                    isr: ids(isr),
                    min_insync_replicas: *min_isr
                }),
                "{why}"
            );
        }
    }
}

#[test]
fn acks_all_waits_for_the_high_watermark_and_notices_a_shrink() {
    let mut f = Fixture::leader(&[1, 2], 2);
    f.state.check_append(-1, 2).unwrap();
    f.append(10);
    assert_eq!(
        f.state.check_enough_replicas(Offset(10), 2),
        Ok(false),
        "2 has not fetched"
    );
    f.fetch(2, 10);
    assert_eq!(f.state.check_enough_replicas(Offset(10), 2), Ok(true));
    // Another acks=all append; 2 stops fetching and is removed meanwhile.
    f.state.check_append(-1, 2).unwrap();
    f.append(20);
    f.now += LAG_MS + 1;
    let shrink = f.shrink().unwrap();
    assert_eq!(
        f.state.check_enough_replicas(Offset(20), 2),
        Ok(false),
        "pending: 2 still counts"
    );
    f.accept(&shrink);
    assert_eq!(f.isr(), vec![1]);
    assert_eq!(f.hw(), 10, "under min.isr: the high watermark stays");
    assert_eq!(f.state.check_enough_replicas(Offset(20), 2), Ok(false));
    assert_eq!(
        f.state.check_enough_replicas(Offset(10), 2),
        Err(ReplicationError::NotEnoughReplicasAfterAppend {
            isr: ids(&[1]),
            min_insync_replicas: 2
        }),
        "committed, but the ISR shrank below min.isr after the append"
    );
    assert_eq!(f.state.check_enough_replicas(Offset(10), 1), Ok(true));
    assert!(matches!(
        f.state.check_append(-1, 2),
        Err(ReplicationError::NotEnoughReplicas { .. })
    ));
    // 2 comes back: a pending addition counts for acks=all at once.
    assert!(
        f.fetch(2, 10).alter_partition.is_some(),
        "back at the high watermark"
    );
    assert_eq!(f.fetch(2, 20).alter_partition, None, "already proposed");
    assert!(f.state.isr_state().is_inflight());
    assert_eq!(f.state.isr_state().maximal_isr(), ids(&[1, 2]));
    assert_eq!(f.hw(), 10, "the committed ISR is still below min.isr");
    assert_eq!(f.state.check_enough_replicas(Offset(10), 2), Ok(true));
}

/// A follower's high watermark is the leader's, capped at its own end,
/// and a truncation never leaves it past the end; a leader refuses both.
#[test]
fn a_follower_takes_the_leaders_high_watermark_capped_at_its_end() {
    let mut state = ReplicationState::new(LOCAL, LOCAL_EPOCH, Offset(0), Offset(0));
    assert_eq!(
        state.follower_appended(Offset(5), Offset(3)),
        Err(ReplicationError::NotLeaderOrFollower),
        "no registration yet"
    );
    state
        .become_follower(&registration(2, 4, 9, &[1, 2, 3], &[1, 2, 3]))
        .unwrap();
    assert_eq!(
        state.follower_appended(Offset(5), Offset(3)),
        Ok(Some(Offset(3)))
    );
    assert_eq!(
        state.follower_appended(Offset(6), Offset(9)),
        Ok(Some(Offset(6))),
        "capped"
    );
    assert_eq!(
        state.follower_appended(Offset(6), Offset(9)),
        Ok(None),
        "unchanged"
    );
    state.follower_truncated(Offset(4)).unwrap();
    assert_eq!(
        (state.log_end_offset(), state.high_watermark()),
        (Offset(4), Offset(4))
    );
    let mut f = Fixture::leader(&[1, 2, 3], 2);
    assert_eq!(
        f.state.follower_appended(Offset(1), Offset(1)),
        Err(ReplicationError::NotLeaderOrFollower)
    );
    assert_eq!(
        f.state.follower_truncated(Offset(0)),
        Err(ReplicationError::NotLeaderOrFollower)
    );
}

#[test]
fn the_metadata_image_is_read_as_kafka_registers_it() {
    use crate::metadata::records::{PartitionRecord, RegisterBrokerRecord};
    let record = PartitionRecord {
        isr: vec![3, 1],
        leader: 3,
        leader_epoch: 4,
        partition_epoch: 9,
        ..PartitionRecord::new(uuid::Uuid::nil(), 0, vec![3, 1, 2])
    };
    let mut image = MetadataImage::empty();
    image.brokers.insert(
        2,
        RegisterBrokerRecord {
            broker_id: 2,
            incarnation_id: uuid::Uuid::nil(),
            broker_epoch: 42,
            endpoints: Vec::new(),
            features: Vec::new(),
            rack: None,
            fenced: true,
            in_controlled_shutdown: false,
            log_dirs: Vec::new(),
        },
    );
    let partition = PartitionImage {
        replicas: record.replicas.clone(),
        isr: record.isr.clone(),
        leader: record.leader,
        leader_epoch: record.leader_epoch,
        partition_epoch: record.partition_epoch,
        removing_replicas: Vec::new(),
        adding_replicas: Vec::new(),
        leader_recovery_state: 0,
        directories: record.directories.clone(),
    };
    assert_eq!(
        PartitionRegistration::from(&partition),
        registration(3, 4, 9, &[3, 1, 2], &[3, 1])
    );
    assert_eq!(
        image.broker_status(BrokerId(2)),
        Some(BrokerStatus {
            broker_epoch: BrokerEpoch(42),
            fenced: true,
            in_controlled_shutdown: false
        })
    );
    assert_eq!(image.broker_status(BrokerId(5)), None);
    assert_eq!(
        alive_broker_epoch(&image, BrokerId(2)),
        None,
        "a fenced broker has no alive epoch"
    );
}

mod random_sequences {
    //! Random interleavings of appends, fetches (truncations included),
    //! time, shrink ticks, controller answers and re-elections, checking the
    //! module's invariants after every step.
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Append(u8),
        /// Replica 2 or 3 fetches `behind` offsets short of the leader's end.
        Fetch {
            replica: i32,
            behind: u8,
        },
        Tick(u16),
        Shrink,
        Accept,
        Refuse(u8),
        /// The image re-elects this leader at the next epochs, with the
        /// committed ISR.
        Reelect,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (1u8..5).prop_map(Op::Append),
            6 => ((2i32..=3), prop_oneof![3 => Just(0u8), 1 => 0u8..20]).prop_map(|(replica, behind)| Op::Fetch { replica, behind }),
            2 => (0u16..40_000).prop_map(Op::Tick),
            2 => Just(Op::Shrink),
            2 => Just(Op::Accept),
            1 => (0u8..9).prop_map(Op::Refuse),
            1 => Just(Op::Reelect),
        ]
    }

    fn refusal(i: u8) -> AlterPartitionRefusal {
        use AlterPartitionRefusal as R;
        [
            R::OperationNotAttempted,
            R::IneligibleReplica,
            R::UnknownTopicOrPartition,
            R::UnknownTopicId,
            R::FencedLeaderEpoch,
            R::InvalidUpdateVersion,
            R::InvalidRequest,
            R::NewLeaderElected,
            R::Other { error_code: -1 },
        ][usize::from(i) % 9]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn invariants_hold_under_any_interleaving(
            ops in proptest::collection::vec(op(), 1..80),
            min_isr in 1i32..=3,
        ) {
            let mut f = Fixture::leader(&[1, 2, 3], min_isr);
            for op in ops {
                let hw_before = f.state.high_watermark();
                let pending_before = f.state.isr_state().pending().cloned();
                let mut reported = None;
                let mut proposed = None;
                match op {
                    Op::Append(n) => {
                        let end = f.state.log_end_offset().0 + i64::from(n);
                        reported = f.append(end);
                    }
                    Op::Fetch { replica, behind } => {
                        let offset = (f.state.log_end_offset().0 - i64::from(behind)).max(0);
                        let out = f.fetch(replica, offset);
                        reported = out.high_watermark;
                        proposed = out.alter_partition;
                    }
                    Op::Tick(ms) => f.now += i64::from(ms),
                    Op::Shrink => proposed = f.shrink(),
                    Op::Accept => {
                        if let Some(pending) = pending_before.clone() {
                            if let AlterPartitionOutcome::Committed { high_watermark, .. } = f.accept(&pending) {
                                reported = high_watermark;
                            } else {
                                prop_assert!(false, "an answer as sent commits");
                            }
                            prop_assert_eq!(f.state.isr(), &pending.new_isr_ids()[..]);
                        }
                    }
                    Op::Refuse(i) => {
                        if let Some(pending) = pending_before.clone() {
                            let outcome = f.answer(pending.id, AlterPartitionAnswer::Refused(refusal(i)));
                            let committed = matches!(outcome, AlterPartitionOutcome::Committed { .. });
                            prop_assert!(!committed, "a refusal commits nothing");
                        }
                    }
                    Op::Reelect => {
                        let reg = PartitionRegistration {
                            leader: LOCAL,
                            leader_epoch: LeaderEpoch(f.state.leader_epoch().0 + 1),
                            partition_epoch: PartitionEpoch(f.state.partition_epoch().0 + 1),
                            replicas: ids(&[1, 2, 3]),
                            isr: f.state.isr().to_vec(),
                        };
                        let end = f.state.log_end_offset();
                        let change = f.become_leader(&reg, end, Offset(0))
                            .unwrap();
                        reported = change.high_watermark;
                        prop_assert!(!f.state.isr_state().is_inflight());
                    }
                }
                let hw = f.state.high_watermark();
                prop_assert!(hw <= f.state.log_end_offset());
                prop_assert!(hw >= hw_before, "the high watermark moved back");
                prop_assert_eq!(reported.is_some(), hw > hw_before);
                if let Some(reported) = reported {
                    prop_assert_eq!(reported, hw);
                }
                if hw > hw_before {
                    // Committed means every member of the maximal ISR has it.
                    prop_assert!(!f.state.is_under_min_isr(min_isr));
                    for id in f.state.isr_state().maximal_isr() {
                        if id != LOCAL {
                            let end = f.state.follower(id).and_then(|s| s.log_end_offset);
                            prop_assert!(end.is_some_and(|e| e >= hw), "{} at {:?} below {}", id, end, hw);
                        }
                    }
                    prop_assert_eq!(f.state.check_enough_replicas(hw, min_isr), Ok(true));
                }
                if proposed.is_some() {
                    prop_assert!(pending_before.is_none(), "a second change while one is in flight");
                    prop_assert_eq!(f.state.isr_state().pending(), proposed.as_ref());
                }
                let isr = f.state.isr();
                prop_assert!(isr.contains(&LOCAL), "the leader never leaves its ISR");
            }
        }
    }
}
