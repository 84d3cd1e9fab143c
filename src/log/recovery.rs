//! Recovery decisions and the durable per-partition checkpoint.
//!
//! Kafka keeps `recovery-point-offset-checkpoint` and
//! `log-start-offset-checkpoint` per log dir; we keep the same two numbers
//! per partition in `<topic>-<partition>/runnel.checkpoint` (text:
//! `0\n<log_start_offset> <recovery_point>\n`, version first), written temp →
//! fsync → rename → fsync dir so a crash leaves either the old or the new file.
//!
//! The recovery point is an offset below which every byte was fsynced; after
//! an unclean shutdown only the segment holding it and later ones are
//! re-validated (`Segment::recover`), so startup cost does not grow with the
//! total data. The decisions here are pure functions; the file work is in
//! `segment` and `partition_log`.

use std::fs;
use std::io;
use std::path::Path;

pub const CHECKPOINT_FILE: &str = "runnel.checkpoint";
const CHECKPOINT_VERSION: u32 = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub log_start_offset: i64,
    pub recovery_point: i64,
}

impl Checkpoint {
    pub fn encode(&self) -> String {
        format!(
            "{CHECKPOINT_VERSION}\n{} {}\n",
            self.log_start_offset, self.recovery_point
        )
    }

    /// None when the text is not a checkpoint we wrote.
    pub fn parse(text: &str) -> Option<Checkpoint> {
        let mut lines = text.lines();
        if lines.next()?.trim().parse::<u32>().ok()? != CHECKPOINT_VERSION {
            return None;
        }
        let mut fields = lines.next()?.split_whitespace();
        let log_start_offset = fields.next()?.parse().ok()?;
        let recovery_point = fields.next()?.parse().ok()?;
        if log_start_offset < 0 || recovery_point < 0 || fields.next().is_some() {
            return None;
        }
        Some(Checkpoint {
            log_start_offset,
            recovery_point,
        })
    }
}

pub use crate::common::{sync_dir, write_file_durably};

pub fn write_checkpoint(dir: &Path, checkpoint: Checkpoint) -> io::Result<()> {
    write_file_durably(dir, CHECKPOINT_FILE, checkpoint.encode().as_bytes())
}

/// The checkpoint of a partition directory; Ok(None) when absent or unreadable
/// (then the caller re-validates every segment).
pub fn read_checkpoint(dir: &Path) -> io::Result<Option<Checkpoint>> {
    match fs::read_to_string(dir.join(CHECKPOINT_FILE)) {
        Ok(text) => Ok(Checkpoint::parse(&text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => Ok(None),
        Err(e) => Err(e),
    }
}

/// Index (into `base_offsets`, sorted ascending) of the first segment to
/// re-validate after an unclean shutdown: the one holding `recovery_point`.
/// Every later segment is re-validated too; the active one always is.
pub fn first_segment_to_recover(base_offsets: &[i64], recovery_point: Option<i64>) -> usize {
    let Some(point) = recovery_point else {
        return 0;
    };
    let holding = base_offsets.partition_point(|b| *b <= point);
    holding
        .saturating_sub(1)
        .min(base_offsets.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trips_and_rejects_junk() {
        let c = Checkpoint {
            log_start_offset: 5,
            recovery_point: 77,
        };
        assert_eq!(Checkpoint::parse(&c.encode()), Some(c));
        assert_eq!(Checkpoint::parse(""), None);
        assert_eq!(Checkpoint::parse("1\n5 77\n"), None);
        assert_eq!(Checkpoint::parse("0\n5\n"), None);
        assert_eq!(Checkpoint::parse("0\n-5 7\n"), None);
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read_checkpoint(dir.path()).expect("read"), None);
        write_checkpoint(dir.path(), c).expect("write");
        assert_eq!(read_checkpoint(dir.path()).expect("read"), Some(c));
    }

    #[test]
    fn recovery_starts_at_the_segment_holding_the_point() {
        let bases = [0, 100, 200];
        assert_eq!(first_segment_to_recover(&bases, None), 0);
        assert_eq!(first_segment_to_recover(&bases, Some(0)), 0);
        assert_eq!(first_segment_to_recover(&bases, Some(99)), 0);
        assert_eq!(first_segment_to_recover(&bases, Some(100)), 1);
        assert_eq!(first_segment_to_recover(&bases, Some(250)), 2);
        assert_eq!(first_segment_to_recover(&bases, Some(5000)), 2);
        assert_eq!(first_segment_to_recover(&[], Some(5)), 0);
    }
}
