//! Errors of the storage engine. Each variant is distinct so that the broker
//! maps it to one Kafka error code (see `crate::protocol::errors`).

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Bytes too short to hold a batch header, or a length that runs past the buffer.
    #[error("corrupt record batch: {0}")]
    CorruptBatch(String),
    /// The stored CRC32C does not match the bytes.
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    /// Magic other than 2 (message formats v0 and v1 are refused).
    #[error("unsupported record batch magic {0}")]
    UnsupportedMagic(i8),
    /// A batch whose fields disagree (record count vs. offset delta, negative count, ...).
    #[error("invalid record batch: {0}")]
    InvalidBatch(String),
    /// Records refused one by one (KIP-467): `INVALID_TIMESTAMP` when any
    /// has a timestamp out of range, else `INVALID_RECORD`.
    #[error("{message}")]
    RecordErrors {
        timestamp: bool,
        message: String,
        errors: Vec<RecordError>,
    },
    /// Records that break the Produce request's own rules (Kafka's
    /// `ProduceRequest.validateRecords`): not exactly one complete v2 batch.
    #[error("{0}")]
    RequestRecords(String),
    /// A codec the request's version may not use (zstd below Produce v7).
    #[error("{0}")]
    UnsupportedCompression(String),
    /// A batch larger than `max.message.bytes`.
    #[error("record batch of {size} bytes exceeds the limit of {max} bytes")]
    BatchTooLarge { size: usize, max: usize },
    /// A read below the log start offset or past the log end offset.
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    /// The log's directory failed an fsync or write earlier and is offline.
    #[error("log directory is offline after an I/O failure")]
    Offline,
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// One refused record of a batch: its position and why (Kafka's
/// `ProduceResponse.RecordError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub batch_index: i32,
    pub message: String,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "record {}: {}", self.batch_index, self.message)
    }
}
