//! Runnel: a Kafka wire-protocol compatible broker.

pub mod log;
