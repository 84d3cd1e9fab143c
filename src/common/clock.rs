//! Time, injected so tests can drive it (the group coordinator's shell
//! today; every shell that keeps deadlines as the cluster work adds them).
//! There are two clocks: the wall clock for what is stored and compared across
//! restarts (commit timestamps, the time a group changed state, which
//! offset expiry counts from), and a monotonic clock for deadlines (member
//! sessions, rebalance and join timeouts), which a step of the wall clock
//! (an NTP correction, a VM resumed) must neither fire early nor hold back.
//! Kafka does the same: `Time.milliseconds()` for timestamps, a timer on
//! `hiResClockMs()` for deadlines.
//!
//! The cores take a [`Now`] (both readings) as input and never read a clock;
//! a shell reads one [`Clock`] and sleeps on it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// One reading of both clocks, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Wall-clock time since the Unix epoch.
    pub wall_ms: i64,
    /// Monotonic time on the coordinator's own scale (only differences and
    /// comparisons mean anything). Deadlines are on this scale.
    pub monotonic_ms: i64,
}

impl Now {
    /// Both clocks reading `ms`: a clock that never stepped.
    pub fn at(ms: i64) -> Now {
        Now {
            wall_ms: ms,
            monotonic_ms: ms,
        }
    }
}

/// What [`Clock::sleep_until`] returns.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

pub trait Clock: Send + Sync {
    fn now(&self) -> Now;
    /// Resolves once the monotonic clock has reached `monotonic_ms`.
    fn sleep_until(&self, monotonic_ms: i64) -> Sleep;
}

/// The process's clocks: `crate::now_ms` and tokio's monotonic `Instant`
/// (which `tokio::time::pause` also controls), counted from creation.
pub struct SystemClock {
    origin: tokio::time::Instant,
}

impl SystemClock {
    pub fn new() -> SystemClock {
        SystemClock {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Now {
        Now {
            wall_ms: crate::now_ms(),
            monotonic_ms: i64::try_from(self.origin.elapsed().as_millis()).unwrap_or(i64::MAX),
        }
    }

    fn sleep_until(&self, monotonic_ms: i64) -> Sleep {
        let at = self.origin + Duration::from_millis(monotonic_ms.max(0) as u64);
        Box::pin(tokio::time::sleep_until(at))
    }
}

/// A clock a test sets by hand: the wall clock may be stepped anywhere,
/// the monotonic one only moves forward, and sleepers wake when it passes
/// their deadline.
#[cfg(test)]
pub struct ManualClock {
    now: std::sync::Mutex<Now>,
    monotonic: tokio::sync::watch::Sender<i64>,
}

#[cfg(test)]
impl ManualClock {
    pub fn new(now: Now) -> ManualClock {
        ManualClock {
            now: std::sync::Mutex::new(now),
            monotonic: tokio::sync::watch::channel(now.monotonic_ms).0,
        }
    }

    /// Both clocks move forward by `ms`.
    pub fn advance(&self, ms: i64) {
        let mut now = self.now.lock().expect("clock lock");
        now.wall_ms += ms;
        now.monotonic_ms += ms;
        self.monotonic.send_replace(now.monotonic_ms);
    }

    /// The wall clock jumps by `ms` (negative: backwards); the monotonic
    /// clock does not move.
    pub fn step_wall(&self, ms: i64) {
        self.now.lock().expect("clock lock").wall_ms += ms;
    }
}

#[cfg(test)]
impl Clock for ManualClock {
    fn now(&self) -> Now {
        *self.now.lock().expect("clock lock")
    }

    fn sleep_until(&self, monotonic_ms: i64) -> Sleep {
        let mut changed = self.monotonic.subscribe();
        Box::pin(async move {
            while *changed.borrow_and_update() < monotonic_ms {
                if changed.changed().await.is_err() {
                    return;
                }
            }
        })
    }
}
