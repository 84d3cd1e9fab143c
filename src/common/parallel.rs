//! Disk work over many independent items (the logs of a topic of
//! thousands of partitions, every log at start-up) on a few threads: each
//! item is a directory, a few files and several fsyncs, which wait on the
//! disk rather than on a core, so a handful of threads finish several
//! times sooner than one on the same cores.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Threads for work that has no setting of its own (creating the logs of
/// a new topic).
pub const DISK_THREADS: usize = 8;
/// Below this many items one thread does them all (no spawn cost).
const PARALLEL_FROM: usize = 64;

/// `f` of every item, in the items' order, computed on up to `threads`
/// threads for a long list.
pub fn map_in_parallel<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    if items.len() < PARALLEL_FROM || threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { return };
                    let r = f(item);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every item was mapped"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_order_short_and_long() {
        for n in [0, 3, PARALLEL_FROM, 1000] {
            let items: Vec<usize> = (0..n).collect();
            assert_eq!(
                map_in_parallel(&items, DISK_THREADS, |i| i * 2),
                items.iter().map(|i| i * 2).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn a_long_list_runs_on_several_threads() {
        let items: Vec<usize> = (0..200).collect();
        let threads = map_in_parallel(&items, DISK_THREADS, |_| {
            std::thread::sleep(std::time::Duration::from_millis(2));
            std::thread::current().id()
        });
        let distinct: std::collections::HashSet<_> = threads.into_iter().collect();
        assert!(distinct.len() > 1, "one thread did all");
    }
}
