//! Disk work called from async code (appends with their `pwritev` and
//! fsyncs, metadata commits, index reads) must not stall the async workers:
//! with two workers, one partition's fsync would otherwise hold up every
//! heartbeat, long poll and timer behind it. Kafka keeps the same work on
//! its I/O threads, off the network threads.
//!
//! [`blocking`] runs the work in place and tells the multi-thread runtime
//! so (`block_in_place`): the worker's other tasks move to a fresh worker
//! for the duration. The bytes are not moved or copied, unlike a hop to
//! `spawn_blocking`, which would need owned arguments. Outside a
//! multi-thread runtime (unit tests on a current-thread runtime, plain
//! threads) the work simply runs.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs `work`, which may block on disk, without stalling other tasks.
pub fn blocking<R>(work: impl FnOnce() -> R) -> R {
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn other_tasks_run_while_a_worker_blocks() {
        // Two workers; both block for a while. A timer task must still fire
        // while they do, which a plain blocking call would prevent.
        let ticked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let t = ticked.clone();
        let timer = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            t.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let blockers: Vec<_> = (0..2)
            .map(|_| {
                let t = ticked.clone();
                tokio::spawn(async move {
                    blocking(|| {
                        let deadline =
                            std::time::Instant::now() + std::time::Duration::from_secs(5);
                        while !t.load(std::sync::atomic::Ordering::SeqCst) {
                            assert!(std::time::Instant::now() < deadline, "the timer never ran");
                            std::thread::sleep(std::time::Duration::from_millis(5));
                        }
                    })
                })
            })
            .collect();
        for b in blockers {
            b.await.expect("blocker");
        }
        timer.await.expect("timer");
    }

    #[tokio::test]
    async fn a_current_thread_runtime_just_runs_the_work() {
        assert_eq!(blocking(|| 7), 7);
    }
}
