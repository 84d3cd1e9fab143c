//! The ground floor every layer may use: today the rule for blocking disk
//! work inside async code. (The cluster work adds the shared newtypes, the
//! clock and the internal-topics list here.)

pub mod blocking;

pub use blocking::blocking;
