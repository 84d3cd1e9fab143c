//! The wire protocol: framing helpers, the supported-versions table and the
//! mapping of every internal error to a Kafka error code. Messages themselves
//! are decoded and encoded by the `kafka-protocol` crate.

pub mod client;
pub mod codec;
pub mod error_counts;
pub mod errors;
pub mod versions;
pub mod zero_copy;

pub use codec::{CodecError, RequestPreamble};
pub use errors::ApiError;
