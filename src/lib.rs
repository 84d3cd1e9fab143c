//! Runnel: a Kafka wire-protocol compatible broker.

pub mod config;
pub mod log;
pub mod metadata;
pub mod protocol;
