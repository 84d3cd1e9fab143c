//! Owned background work. Every task the node runs besides connections
//! (maintenance rounds, the flusher, the group coordinator's expiry loop
//! and session timers) is spawned through one [`BackgroundTasks`], so
//! shutdown can stop them all and wait for each to end before the logs are
//! closed: nothing is detached. Connections have their own tracker in
//! `net::server`, drained first.
//!
//! Who calls it: the composition root creates one and hands clones to the
//! components that spawn; [`BackgroundTasks::shutdown`] is called once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

#[derive(Clone, Default)]
pub struct BackgroundTasks {
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl BackgroundTasks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `task` until it ends or shutdown begins, whichever is first
    /// (at shutdown the future is dropped at its next await point). The
    /// handle may abort it earlier.
    pub fn spawn<F>(&self, name: &'static str, task: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let cancel = self.cancel.clone();
        self.tracker.spawn(
            async move {
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = task => {}
                }
            }
            .instrument(tracing::info_span!("task", name)),
        )
    }

    /// Runs `work` on a blocking thread every `period` (the first round one
    /// period after the start). A round in progress always finishes, and
    /// shutdown waits for it.
    pub fn every(
        &self,
        name: &'static str,
        period: Duration,
        work: impl Fn() + Send + Sync + 'static,
    ) -> JoinHandle<()> {
        let cancel = self.cancel.clone();
        let work = Arc::new(work);
        self.tracker.spawn(
            async move {
                let mut tick = tokio::time::interval(period);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tick.tick() => {}
                    }
                    let w = work.clone();
                    if let Err(e) = tokio::task::spawn_blocking(move || w()).await {
                        tracing::error!(error = %e, "a background round failed");
                    }
                }
            }
            .instrument(tracing::info_span!("task", name)),
        )
    }

    /// True once shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Stops every task and waits until all have ended.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn shutdown_waits_for_a_round_in_progress_and_stops_the_rest() {
        let tasks = BackgroundTasks::new();
        let rounds = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        let (r, f) = (rounds.clone(), finished.clone());
        tasks.every("slow", Duration::from_millis(5), move || {
            r.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(50));
            f.fetch_add(1, Ordering::SeqCst);
        });
        tasks.spawn("forever", std::future::pending());
        while rounds.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tasks.shutdown().await;
        // The round that had begun ran to its end; no new one started.
        assert_eq!(
            rounds.load(Ordering::SeqCst),
            finished.load(Ordering::SeqCst)
        );
        let after = rounds.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(rounds.load(Ordering::SeqCst), after);
        assert!(tasks.is_shutting_down());
    }
}
