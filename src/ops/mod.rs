//! Operability: metrics and logging set-up, the process allocator, and
//! the `runnel healthcheck` probe.

pub mod alloc;
pub mod healthcheck;
pub mod logging;
pub mod metrics;
