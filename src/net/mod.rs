//! Listeners and connections. One task per connection reads 4-byte framed
//! requests, handles them one at a time in arrival order (as Kafka does: a
//! connection's next request is read only after the previous response was
//! queued, so a producer's in-flight batches are appended in order), and
//! writes the responses back in the same order.

pub mod connection;
pub mod server;

pub use server::{BoundListeners, Server};
