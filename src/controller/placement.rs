//! Replica placement: which brokers hold the replicas of new partitions,
//! as a pure function of the usable brokers and a starting point the
//! caller draws at random (Kafka draws one per placement too).
//!
//! The rules are Kafka's `StripedReplicaPlacer`'s, in our own shape:
//! - the usable brokers are the registered ones not in controlled
//!   shutdown; a fenced broker may hold a follower, never the leader
//!   (the first replica);
//! - leaders stripe across racks (a broker without `broker.rack` is in the
//!   rack "none"), and across the brokers of each rack in turn, so they
//!   spread evenly;
//! - the followers of a partition come from the racks after the leader's,
//!   one per rack, before any rack gets a second replica;
//! - too few brokers, or none unfenced, is INVALID_REPLICATION_FACTOR with
//!   Kafka's messages.
//!
//! Kafka counterparts: `StripedReplicaPlacer`, `ClusterDescriber.usableBrokers`
//! (`BrokerHeartbeatManager.usableBrokers`).

use std::collections::BTreeMap;

use super::error::ControllerError;

/// A broker placement may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsableBroker {
    pub id: i32,
    pub rack: Option<String>,
    pub fenced: bool,
}

/// One rack's brokers, and where the next leader and follower picks start.
struct Rack {
    unfenced: Vec<i32>,
    fenced: Vec<i32>,
    next_leader: usize,
    next_follower: usize,
}

impl Rack {
    fn leader(&mut self) -> Option<i32> {
        if self.unfenced.is_empty() {
            return None;
        }
        let id = self.unfenced[self.next_leader % self.unfenced.len()];
        self.next_leader += 1;
        Some(id)
    }

    /// The next broker of this rack not yet among `chosen`, unfenced ones
    /// first (as Kafka's `Rack.next`).
    fn follower(&mut self, chosen: &[i32]) -> Option<i32> {
        let pick = |list: &[i32], from: usize| {
            (0..list.len())
                .map(|i| list[(from + i) % list.len()])
                .find(|id| !chosen.contains(id))
        };
        let id = pick(&self.unfenced, self.next_follower)
            .or_else(|| pick(&self.fenced, self.next_follower))?;
        self.next_follower += 1;
        Some(id)
    }
}

/// Kafka's refusals, under the "Unable to replicate" the controller puts
/// before them.
fn refuse(replication_factor: i16, why: String) -> ControllerError {
    ControllerError::InvalidReplicationFactor(format!(
        "Unable to replicate the partition {replication_factor} time(s): {why}"
    ))
}

/// Places `count` partitions of `replication_factor` replicas each over
/// `brokers`; `start` picks where the stripes begin (any value; the
/// controller draws it at random). Each list of replicas starts with its
/// leader, an unfenced broker.
pub fn place(
    brokers: &[UsableBroker],
    count: i32,
    replication_factor: i16,
    start: usize,
) -> Result<Vec<Vec<i32>>, ControllerError> {
    if replication_factor <= 0 {
        return Err(refuse(
            replication_factor,
            format!(
                "Invalid replication factor {replication_factor}: the replication factor must be positive."
            ),
        ));
    }
    // Kafka's order: no unfenced broker is refused before too few brokers.
    if brokers.iter().all(|b| b.fenced) {
        return Err(refuse(
            replication_factor,
            "All brokers are currently fenced.".into(),
        ));
    }
    if replication_factor as usize > brokers.len() {
        return Err(refuse(
            replication_factor,
            format!(
                "The target replication factor of {replication_factor} cannot be reached because only {} broker(s) are registered.",
                brokers.len()
            ),
        ));
    }
    let mut by_rack: BTreeMap<Option<&str>, Rack> = BTreeMap::new();
    for b in brokers {
        let rack = by_rack.entry(b.rack.as_deref()).or_insert(Rack {
            unfenced: Vec::new(),
            fenced: Vec::new(),
            next_leader: start,
            next_follower: start,
        });
        if b.fenced {
            rack.fenced.push(b.id);
        } else {
            rack.unfenced.push(b.id);
        }
    }
    let mut racks: Vec<Rack> = by_rack.into_values().collect();
    for r in &mut racks {
        r.unfenced.sort_unstable();
        r.fenced.sort_unstable();
    }
    let n = racks.len();
    let rf = replication_factor as usize;
    let mut placements = Vec::with_capacity(count.max(0) as usize);
    for k in 0..count.max(0) as usize {
        let mut replicas = Vec::with_capacity(rf);
        // The leader's rack: the stripe's next, or the first after it
        // with an unfenced broker (there is one: checked above).
        let (leader_rack, leader) = (0..n)
            .map(|i| (start + k + i) % n)
            .find_map(|r| racks[r].leader().map(|id| (r, id)))
            .expect("an unfenced broker exists");
        replicas.push(leader);
        // Followers: the racks after the leader's in turn, the leader's
        // rack last, round again while replicas are missing.
        let mut rack = leader_rack;
        let mut idle = 0;
        while replicas.len() < rf && idle < n {
            rack = (rack + 1) % n;
            match racks[rack].follower(&replicas) {
                Some(id) => {
                    replicas.push(id);
                    idle = 0;
                }
                None => idle += 1,
            }
        }
        debug_assert_eq!(replicas.len(), rf, "rf <= brokers, checked above");
        placements.push(replicas);
    }
    Ok(placements)
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    fn broker(id: i32, rack: Option<&str>) -> UsableBroker {
        UsableBroker {
            id,
            rack: rack.map(str::to_string),
            fenced: false,
        }
    }

    fn leaders(placements: &[Vec<i32>]) -> HashMap<i32, usize> {
        let mut count = HashMap::new();
        for p in placements {
            *count.entry(p[0]).or_default() += 1;
        }
        count
    }

    #[test]
    fn leaders_spread_evenly_whatever_the_start() {
        let brokers: Vec<_> = [(1, "a"), (2, "b"), (3, "c")]
            .into_iter()
            .map(|(id, r)| broker(id, Some(r)))
            .collect();
        for start in [0, 1, 2, 7, usize::MAX / 2] {
            let placed = place(&brokers, 6, 1, start).unwrap();
            assert_eq!(
                leaders(&placed),
                HashMap::from([(1, 2), (2, 2), (3, 2)]),
                "start {start}"
            );
        }
        // Without racks too.
        let plain: Vec<_> = (1..=4).map(|id| broker(id, None)).collect();
        let placed = place(&plain, 8, 2, 3).unwrap();
        assert!(leaders(&placed).values().all(|n| *n == 2), "{placed:?}");
        assert!(placed.iter().all(|r| r[0] != r[1]));
    }

    #[test]
    fn replicas_of_a_partition_are_on_distinct_racks_where_possible() {
        let brokers = vec![
            broker(1, Some("a")),
            broker(2, Some("a")),
            broker(3, Some("b")),
            broker(4, Some("b")),
            broker(5, Some("c")),
        ];
        let rack = |id: i32| brokers.iter().find(|b| b.id == id).unwrap().rack.clone();
        for start in 0..5 {
            let placed = place(&brokers, 10, 3, start).unwrap();
            for replicas in &placed {
                let racks: HashSet<_> = replicas.iter().map(|&id| rack(id)).collect();
                assert_eq!(racks.len(), 3, "{replicas:?}");
            }
            // Four replicas over three racks: every rack holds one, and no
            // broker is named twice.
            for replicas in place(&brokers, 10, 4, start).unwrap() {
                let racks: HashSet<_> = replicas.iter().map(|&id| rack(id)).collect();
                let ids: HashSet<_> = replicas.iter().collect();
                assert_eq!((racks.len(), ids.len()), (3, 4), "{replicas:?}");
            }
        }
        // Two racks of two, RF 2: each partition in both racks, every
        // broker leading once in four partitions.
        let two = &brokers[..4];
        let placed = place(two, 4, 2, 0).unwrap();
        for r in &placed {
            assert_ne!(rack(r[0]), rack(r[1]), "{r:?}");
        }
        assert_eq!(leaders(&placed).len(), 4, "{placed:?}");
    }

    #[test]
    fn a_fenced_broker_follows_but_never_leads() {
        let brokers = vec![
            broker(1, None),
            UsableBroker {
                fenced: true,
                ..broker(2, None)
            },
        ];
        for start in 0..4 {
            let placed = place(&brokers, 3, 2, start).unwrap();
            assert!(placed.iter().all(|r| r == &vec![1, 2]), "{placed:?}");
            let placed = place(&brokers, 3, 1, start).unwrap();
            assert!(placed.iter().all(|r| r == &vec![1]), "{placed:?}");
        }
    }

    #[test]
    fn too_few_brokers_get_kafkas_messages() {
        let three: Vec<_> = (1..=3).map(|id| broker(id, None)).collect();
        let e = place(&three, 1, 4, 0).unwrap_err();
        assert_eq!(e.code(), 38);
        assert_eq!(
            e.to_string(),
            "Unable to replicate the partition 4 time(s): The target replication factor of 4 cannot be reached because only 3 broker(s) are registered."
        );
        let fenced: Vec<_> = three
            .iter()
            .cloned()
            .map(|b| UsableBroker { fenced: true, ..b })
            .collect();
        for brokers in [&fenced[..], &[]] {
            let e = place(brokers, 1, 1, 0).unwrap_err();
            assert_eq!(e.code(), 38);
            assert_eq!(
                e.to_string(),
                "Unable to replicate the partition 1 time(s): All brokers are currently fenced."
            );
        }
        assert_eq!(place(&three, 1, 0, 0).unwrap_err().code(), 38);
        assert!(place(&three, 0, 1, 0).unwrap().is_empty());
    }
}
