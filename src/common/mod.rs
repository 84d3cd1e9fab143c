//! The ground floor every layer may use: the rule for blocking disk work
//! inside async code, the clock (wall and monotonic, injectable), the
//! durable small-file write, owned background tasks, the list of
//! internal topics, the metric family catalogue entry, disk work on a few threads
//! ([`parallel`]), and the newtypes for
//! ids, epochs and offsets ([`ids`]).

pub mod blocking;
pub mod clock;
pub mod durable_file;
pub mod ids;
pub mod internal_topics;
pub mod metric_family;
pub mod parallel;
pub mod tasks;

pub use blocking::blocking;
pub use durable_file::{sync_dir, write_file_durably};
pub use tasks::BackgroundTasks;
