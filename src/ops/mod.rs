//! Operability: metrics and logging set-up.

pub mod logging;
pub mod metrics;
