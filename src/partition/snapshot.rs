//! The producer-state snapshot of a partition: a JSON file in the partition
//! directory naming the log offset it covers. Written temp → fsync → rename
//! → fsync dir at clean shutdown and periodically; on open the state is
//! loaded and the log is replayed from the snapshot's offset, so a clean
//! restart scans nothing and an unclean one scans only the recent tail.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::producer_state::ProducerStateManager;
use crate::common::write_file_durably;

pub const SNAPSHOT_FILE: &str = "producer-state.snapshot.json";

#[derive(Debug, Serialize, Deserialize)]
pub struct ProducerSnapshot {
    /// Every batch below this offset is reflected in `state`.
    pub offset: i64,
    pub state: ProducerStateManager,
}

pub fn write(dir: &Path, snapshot: &ProducerSnapshot) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(snapshot).map_err(std::io::Error::other)?;
    write_file_durably(dir, SNAPSHOT_FILE, &bytes)
}

/// The snapshot, or None when absent or unreadable (then the caller
/// rebuilds from the whole log).
pub fn read(dir: &Path) -> Option<ProducerSnapshot> {
    let bytes = fs::read(dir.join(SNAPSHOT_FILE)).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "producer state snapshot unreadable; rebuilding from the log");
            None
        }
    }
}

/// Removes the snapshot (it covers records a truncation took). A missing
/// one is fine; a failure is logged, and the next open checks the
/// snapshot's offset against the log anyway.
pub fn remove(dir: &Path) {
    match fs::remove_file(dir.join(SNAPSHOT_FILE)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "could not remove a stale producer snapshot")
        }
    }
}
