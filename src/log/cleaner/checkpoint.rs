//! The `cleaner-offset-checkpoint` file of a log dir: for each compacted
//! partition, the offset below which its log is clean, in Kafka's offset
//! checkpoint format (`log::offset_checkpoint`). A checkpoint only ever says
//! less is clean than really is (it is written after the cleaned segments
//! are swapped in), so a lost update costs one more cleaning, never a record.

use std::io;
use std::path::Path;

use crate::log::offset_checkpoint;

pub const CLEANER_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";

/// First dirty offset by (topic, partition).
pub type CleanerCheckpoints = offset_checkpoint::OffsetCheckpoints;

/// Without the file (or with an unreadable one) every compacted log is
/// taken as wholly dirty, as Kafka does.
pub fn read(dir: &Path) -> io::Result<CleanerCheckpoints> {
    offset_checkpoint::read(
        dir,
        CLEANER_CHECKPOINT_FILE,
        "every compacted log counts as dirty",
    )
}

pub fn write(dir: &Path, entries: &CleanerCheckpoints) -> io::Result<()> {
    offset_checkpoint::write(dir, CLEANER_CHECKPOINT_FILE, entries)
}
