//! Runnel: a Kafka wire-protocol compatible broker. See
//! `docs/architecture.md` for the layers and how a request flows.

pub mod cli;
pub mod common;
pub mod config;
pub mod controller;
pub mod coordinator;
pub mod handlers;
pub mod log;
pub mod metadata;
pub mod net;
pub mod node;
pub mod ops;
pub mod partition;
pub mod protocol;

/// See [`ops::alloc`]: keeps a hostile array length from aborting the process.
#[global_allocator]
static ALLOCATOR: ops::alloc::ReservingAllocator = ops::alloc::ReservingAllocator;

/// Wall-clock milliseconds since the epoch. Only the async shell reads the
/// clock; cores take `now_ms` as an argument.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
