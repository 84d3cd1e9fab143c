//! Operability: metrics and logging set-up, and the process allocator.

pub mod alloc;
pub mod logging;
pub mod metrics;
