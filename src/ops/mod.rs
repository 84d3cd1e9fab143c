//! Operability: metrics and logging set-up, the process allocator, the
//! `runnel healthcheck` probe, and the start-up checks and report.

pub mod alloc;
pub mod healthcheck;
pub mod logging;
pub mod metrics;
pub mod startup;
