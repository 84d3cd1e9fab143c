//! The storage engine: a partition's log as a directory of segments in Apache
//! Kafka's on-disk format.
//!
//! Layering follows Kafka's (`OffsetIndex`/`TimeIndex` → `LogSegment` →
//! `LocalLog` → `UnifiedLog`), written as Rust ownership rather than class
//! shapes:
//! - [`batch`]: a zero-copy view over RecordBatch v2 bytes and its validation.
//! - [`cleaner`]: compaction of `cleanup.policy=compact` logs (the log
//!   cleaner), and the crash-safe swap of cleaned segments.
//! - [`codec`]: the compression codecs, as streams over a batch's records.
//! - [`record_walk`]: a copy-free walk over the records inside a batch.
//! - [`validate`]: what a produced batch must pass before it is appended
//!   (Kafka's `LogValidator`), and the rewrites Kafka makes.
//! - [`index`]: the sparse `.index` and `.timeindex` files.
//! - [`segment`]: one `.log` file with its two indexes.
//! - [`partition_log`]: the ordered segments of one partition: append, read,
//!   roll, truncate, retention, look-ups by offset and time.
//! - [`records`]: batches of whole records for the internal topics.
//! - [`recovery`]: the scan that validates a segment after an unclean shutdown.
//! - [`metrics`]: metric names and probes.
//! - [`testing`]: builders of valid batches for tests.
//! - [`manager`]: every partition log under `log.dirs`, the clean-shutdown
//!   marker and the background retention and flush rounds.
//! - [`dir_lock`]: the exclusive `.lock` on each log dir.
//! - [`dir_failure`]: a log dir that failed a write goes offline whole.
//!
//! Invariants: offsets in a log only grow; a reader never observes a batch
//! before all of its bytes are written (the end offset is published last);
//! every batch handed out by a read passed CRC validation when written or
//! when recovered.

pub mod batch;
pub mod cleaner;
pub mod codec;
pub mod config;
pub mod dir_failure;
pub mod dir_lock;
pub mod error;
pub mod index;
pub mod leader_epoch;
pub mod manager;
pub mod meta_properties;
pub mod metrics;
pub mod offset_checkpoint;
pub mod partition_log;
pub mod record_walk;
pub mod records;
pub mod recovery;
pub mod segment;
pub mod testing;
pub mod validate;

pub use batch::{BatchHeader, CompressionCodec, TimestampType};
pub use config::LogConfig;
pub use error::LogError;
pub use manager::LogManager;
pub use partition_log::{AppendInfo, OpenReport, PartitionLog, ReadInfo, TimestampOffset};
