//! The ground floor every layer may use: the rule for blocking disk work
//! inside async code, the durable small-file write, and owned background
//! tasks. (The cluster work adds the shared newtypes, the clock and the
//! internal-topics list here.)

pub mod blocking;
pub mod durable_file;
pub mod tasks;

pub use blocking::blocking;
pub use durable_file::{sync_dir, write_file_durably};
pub use tasks::BackgroundTasks;
