//! Runnel: a Kafka wire-protocol compatible broker.

pub mod log;
pub mod metadata;
pub mod protocol;
