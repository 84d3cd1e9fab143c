//! Server-side partition assignors of the consumer group protocol (KIP-848):
//! the group coordinator, not a member, computes each member's target
//! assignment from the members' subscriptions and the subscribed topics'
//! partition counts.
//!
//! * `uniform` (the default): balances the number of partitions per member
//!   (every two members subscribed to a common topic differ by at most one
//!   partition where moving one would fix it) while keeping each member's
//!   previous target partitions when balance allows, so a rebalance moves as
//!   few partitions as it can.
//! * `range`: per topic, the members subscribed to it, sorted by
//!   `group.instance.id` (static members keep their place across restarts)
//!   or member id, get contiguous ranges of partitions, the first
//!   `partitions % members` one more. Topics with the same partition count
//!   and subscribers are therefore co-partitioned. Not sticky.
//!
//! Both are pure functions of their input: no clock, no randomness, so the
//! same input gives the same assignment on every coordinator.
//!
//! Kafka counterpart: `UniformAssignor` (`UniformHomogeneousAssignmentBuilder`,
//! `UniformHeterogeneousAssignmentBuilder`) and the server-side
//! `RangeAssignor` in the group-coordinator module. The algorithms here are
//! our own; the guarantees (balance, stickiness, co-partitioning) are the
//! ones Kafka documents.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

/// Partitions by topic id: what a member owns, is assigned or must revoke.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// One member as the assignors see it.
#[derive(Debug, Clone)]
pub struct MemberSubscription<'a> {
    pub member_id: &'a str,
    pub instance_id: Option<&'a str>,
    /// Ids of the subscribed topics that exist.
    pub topics: BTreeSet<Uuid>,
    /// The member's previous target assignment (for stickiness).
    pub current: &'a Assignment,
}

/// The server assignors this coordinator offers, by their Kafka names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServerAssignor {
    Uniform,
    Range,
}

impl ServerAssignor {
    pub const ALL: [ServerAssignor; 2] = [ServerAssignor::Uniform, ServerAssignor::Range];

    pub fn from_name(name: &str) -> Option<ServerAssignor> {
        ServerAssignor::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The name clients put in `ServerAssignor` (`group.remote.assignor`).
    pub fn name(self) -> &'static str {
        match self {
            ServerAssignor::Uniform => "uniform",
            ServerAssignor::Range => "range",
        }
    }

    /// One assignment per member, in `members` order. `partitions` holds the
    /// partition count of every topic any member may be given.
    pub fn assign(
        self,
        members: &[MemberSubscription<'_>],
        partitions: &BTreeMap<Uuid, i32>,
    ) -> Vec<Assignment> {
        let result = match self {
            ServerAssignor::Uniform => uniform(members, partitions),
            ServerAssignor::Range => range(members, partitions),
        };
        debug_assert!(disjoint(&result), "a partition is assigned to one member");
        result
    }
}

fn disjoint(assignments: &[Assignment]) -> bool {
    let mut seen = BTreeSet::new();
    assignments
        .iter()
        .flat_map(|a| a.iter())
        .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
        .all(|tp| seen.insert(tp))
}

fn uniform(
    members: &[MemberSubscription<'_>],
    partitions: &BTreeMap<Uuid, i32>,
) -> Vec<Assignment> {
    let mut owner: BTreeMap<(Uuid, i32), usize> = BTreeMap::new();
    let mut counts = vec![0usize; members.len()];
    let subscribed = |m: usize, topic: &Uuid| members[m].topics.contains(topic);

    // 1. Keep every previous target partition that still exists and is still
    //    subscribed (the first claimant wins, should two claim one).
    for (i, m) in members.iter().enumerate() {
        for (topic, ps) in m.current {
            let Some(&count) = partitions.get(topic) else {
                continue;
            };
            if !subscribed(i, topic) {
                continue;
            }
            for &p in ps.iter().filter(|&&p| p >= 0 && p < count) {
                if let std::collections::btree_map::Entry::Vacant(e) = owner.entry((*topic, p)) {
                    e.insert(i);
                    counts[i] += 1;
                }
            }
        }
    }

    // 2. Hand out the rest, each to the least loaded subscriber.
    for (topic, &count) in partitions {
        for p in 0..count {
            if owner.contains_key(&(*topic, p)) {
                continue;
            }
            let least = (0..members.len())
                .filter(|&m| subscribed(m, topic))
                .min_by_key(|&m| (counts[m], m));
            if let Some(m) = least {
                owner.insert((*topic, p), m);
                counts[m] += 1;
            }
        }
    }

    // 3. Move partitions from a member to a subscriber that holds at least
    //    two fewer. Each move lowers the sum of squared counts, so this ends.
    loop {
        let mut moved = false;
        let keys: Vec<(Uuid, i32)> = owner.keys().rev().copied().collect();
        for tp in keys {
            let from = owner[&tp];
            let to = (0..members.len())
                .filter(|&m| subscribed(m, &tp.0) && counts[m] + 2 <= counts[from])
                .min_by_key(|&m| (counts[m], m));
            if let Some(to) = to {
                owner.insert(tp, to);
                counts[from] -= 1;
                counts[to] += 1;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }

    let mut result = vec![Assignment::new(); members.len()];
    for ((topic, p), m) in owner {
        result[m].entry(topic).or_default().insert(p);
    }
    result
}

fn range(members: &[MemberSubscription<'_>], partitions: &BTreeMap<Uuid, i32>) -> Vec<Assignment> {
    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by_key(|&i| {
        let m = &members[i];
        (m.instance_id.unwrap_or(m.member_id), m.member_id)
    });
    let mut result = vec![Assignment::new(); members.len()];
    for (topic, &count) in partitions {
        let subscribers: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| members[i].topics.contains(topic))
            .collect();
        if subscribers.is_empty() || count <= 0 {
            continue;
        }
        let n = subscribers.len() as i32;
        let (per_member, extra) = (count / n, count % n);
        let mut next = 0;
        for (k, &m) in subscribers.iter().enumerate() {
            let take = per_member + i32::from((k as i32) < extra);
            if take > 0 {
                result[m]
                    .entry(*topic)
                    .or_default()
                    .extend(next..next + take);
            }
            next += take;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn sizes(a: &[Assignment]) -> Vec<usize> {
        a.iter()
            .map(|m| m.values().map(BTreeSet::len).sum())
            .collect()
    }

    struct Spec {
        ids: Vec<String>,
        topics: Vec<BTreeSet<Uuid>>,
        current: Vec<Assignment>,
    }

    impl Spec {
        fn homogeneous(n: usize, topics: &[Uuid]) -> Spec {
            Spec {
                ids: (0..n).map(|i| format!("m{i}")).collect(),
                topics: vec![topics.iter().copied().collect(); n],
                current: vec![Assignment::new(); n],
            }
        }
        fn members(&self) -> Vec<MemberSubscription<'_>> {
            self.ids
                .iter()
                .zip(&self.topics)
                .zip(&self.current)
                .map(|((id, topics), current)| MemberSubscription {
                    member_id: id,
                    instance_id: None,
                    topics: topics.clone(),
                    current,
                })
                .collect()
        }
    }

    #[test]
    fn names_round_trip() {
        for a in ServerAssignor::ALL {
            assert_eq!(ServerAssignor::from_name(a.name()), Some(a));
        }
        assert_eq!(ServerAssignor::from_name("sticky"), None);
    }

    #[test]
    fn uniform_balances_and_covers_every_partition() {
        let t = topic(1);
        let spec = Spec::homogeneous(3, &[t]);
        let parts = BTreeMap::from([(t, 7)]);
        let a = ServerAssignor::Uniform.assign(&spec.members(), &parts);
        let mut s = sizes(&a);
        s.sort();
        assert_eq!(s, vec![2, 2, 3]);
        let all: BTreeSet<i32> = a.iter().flat_map(|m| m[&t].iter().copied()).collect();
        assert_eq!(all, (0..7).collect());
    }

    #[test]
    fn uniform_is_sticky_when_a_member_joins() {
        let t = topic(1);
        let parts = BTreeMap::from([(t, 6)]);
        let mut spec = Spec::homogeneous(2, &[t]);
        let before = ServerAssignor::Uniform.assign(&spec.members(), &parts);
        spec.ids.push("m2".into());
        spec.topics.push([t].into());
        spec.current = before.clone();
        spec.current.push(Assignment::new());
        let after = ServerAssignor::Uniform.assign(&spec.members(), &parts);
        assert_eq!(sizes(&after), vec![2, 2, 2]);
        // The old members only gave partitions away, never took new ones.
        for i in 0..2 {
            assert!(
                after[i][&t].is_subset(&before[i][&t]),
                "{after:?} {before:?}"
            );
        }
    }

    #[test]
    fn uniform_heterogeneous_subscriptions() {
        let (t1, t2) = (topic(1), topic(2));
        let parts = BTreeMap::from([(t1, 4), (t2, 2)]);
        let spec = Spec {
            ids: vec!["a".into(), "b".into()],
            topics: vec![[t1].into(), [t1, t2].into()],
            current: vec![Assignment::new(); 2],
        };
        let a = ServerAssignor::Uniform.assign(&spec.members(), &parts);
        assert_eq!(sizes(&a), vec![3, 3]);
        assert!(!a[0].contains_key(&t2), "a is not subscribed to t2");
    }

    #[test]
    fn uniform_drops_partitions_that_no_longer_exist() {
        let t = topic(1);
        let spec = Spec {
            ids: vec!["a".into()],
            topics: vec![[t].into()],
            current: vec![Assignment::from([(t, BTreeSet::from([0, 5]))])],
        };
        let a = ServerAssignor::Uniform.assign(&spec.members(), &BTreeMap::from([(t, 2)]));
        assert_eq!(a[0][&t], BTreeSet::from([0, 1]));
    }

    #[test]
    fn range_gives_contiguous_co_partitioned_ranges() {
        let (t1, t2) = (topic(1), topic(2));
        let spec = Spec::homogeneous(2, &[t1, t2]);
        let a = ServerAssignor::Range.assign(&spec.members(), &BTreeMap::from([(t1, 3), (t2, 3)]));
        assert_eq!(a[0][&t1], BTreeSet::from([0, 1]));
        assert_eq!(a[1][&t1], BTreeSet::from([2]));
        assert_eq!(a[0][&t2], a[0][&t1]);
        assert_eq!(a[1][&t2], a[1][&t1]);
    }

    #[test]
    fn range_orders_static_members_by_instance_id() {
        let t = topic(1);
        let empty = Assignment::new();
        let members = vec![
            MemberSubscription {
                member_id: "a",
                instance_id: Some("z"),
                topics: [t].into(),
                current: &empty,
            },
            MemberSubscription {
                member_id: "b",
                instance_id: Some("y"),
                topics: [t].into(),
                current: &empty,
            },
        ];
        let a = ServerAssignor::Range.assign(&members, &BTreeMap::from([(t, 2)]));
        assert_eq!(a[1][&t], BTreeSet::from([0]));
        assert_eq!(a[0][&t], BTreeSet::from([1]));
    }

    #[test]
    fn more_members_than_partitions() {
        let t = topic(1);
        let spec = Spec::homogeneous(3, &[t]);
        for assignor in ServerAssignor::ALL {
            let a = assignor.assign(&spec.members(), &BTreeMap::from([(t, 2)]));
            let mut s = sizes(&a);
            s.sort();
            assert_eq!(s, vec![0, 1, 1], "{assignor:?}");
        }
    }
}
