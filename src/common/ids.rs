//! Newtypes for the numbers replication multiplies: broker ids, broker
//! epochs, leader and partition epochs, offsets. Each wraps the integer
//! Kafka puts on the wire (`int32` ids and epochs, `int64` offsets and
//! broker epochs), so that a broker epoch can never be passed where an
//! offset is expected; a swapped `i64` there is a silent data-loss bug.
//!
//! The inner value stays public: the wire layer builds and reads them
//! directly. Kafka's "none" sentinels (-1) are named constants.

use std::fmt;

macro_rules! newtype {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

newtype!(
    /// A broker's `node.id`, as it appears in replica sets and ISRs.
    BrokerId(i32)
);
newtype!(
    /// The offset of a broker's `RegisterBrokerRecord`: changes each time
    /// the broker process registers anew (KIP-631), so a request from an
    /// earlier incarnation can be told apart (KIP-903).
    BrokerEpoch(i64)
);
newtype!(
    /// Bumped by the controller each time a partition gets a leader (KIP-101,
    /// KIP-320).
    LeaderEpoch(i32)
);
newtype!(
    /// Bumped by the controller on every change of a partition's
    /// registration (leader, ISR, replicas); AlterPartition names the one it
    /// was computed from (KIP-497's `PartitionEpoch`).
    PartitionEpoch(i32)
);
newtype!(
    /// A position in a partition's log.
    Offset(i64)
);

impl BrokerId {
    /// No broker (a partition without a leader).
    pub const NONE: BrokerId = BrokerId(-1);
}

impl BrokerEpoch {
    /// No epoch given: a Fetch before v15, or a field Kafka leaves at -1.
    pub const NONE: BrokerEpoch = BrokerEpoch(-1);
}

impl LeaderEpoch {
    /// No epoch known or given.
    pub const NONE: LeaderEpoch = LeaderEpoch(-1);
}

impl PartitionEpoch {
    /// No registration seen yet.
    pub const NONE: PartitionEpoch = PartitionEpoch(-1);
}
