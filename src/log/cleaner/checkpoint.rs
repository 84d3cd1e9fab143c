//! The `cleaner-offset-checkpoint` file of a log dir: for each compacted
//! partition, the offset below which its log is clean (Kafka's
//! `OffsetCheckpointFile`, the same format as Kafka's
//! `recovery-point-offset-checkpoint`):
//!
//! ```text
//! 0
//! <number of entries>
//! <topic> <partition> <offset>
//! ...
//! ```
//!
//! Written temp → fsync → rename → fsync dir, so a crash leaves either the
//! previous or the new file. A checkpoint only ever says less is clean than
//! really is (it is written after the cleaned segments are swapped in), so
//! a lost update costs one more cleaning, never a record.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use crate::common::write_file_durably;

pub const CLEANER_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";
const VERSION: u32 = 0;

/// First dirty offset by (topic, partition).
pub type CleanerCheckpoints = BTreeMap<(String, i32), i64>;

pub fn encode(entries: &CleanerCheckpoints) -> String {
    let mut out = format!("{VERSION}\n{}\n", entries.len());
    for ((topic, partition), offset) in entries {
        out.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    out
}

/// None when the text is not a checkpoint of this version (then every
/// compacted log is taken as wholly dirty, as Kafka does without the file).
pub fn parse(text: &str) -> Option<CleanerCheckpoints> {
    let mut lines = text.lines();
    if lines.next()?.trim().parse::<u32>().ok()? != VERSION {
        return None;
    }
    let count: usize = lines.next()?.trim().parse().ok()?;
    let mut entries = BTreeMap::new();
    for _ in 0..count {
        let mut fields = lines.next()?.split_whitespace();
        let topic = fields.next()?.to_string();
        let partition = fields.next()?.parse().ok()?;
        let offset: i64 = fields.next()?.parse().ok()?;
        if fields.next().is_some() || offset < 0 {
            return None;
        }
        entries.insert((topic, partition), offset);
    }
    Some(entries)
}

pub fn read(dir: &Path) -> io::Result<CleanerCheckpoints> {
    match std::fs::read_to_string(dir.join(CLEANER_CHECKPOINT_FILE)) {
        Ok(text) => Ok(parse(&text).unwrap_or_else(|| {
            tracing::warn!(dir = %dir.display(), "unreadable {CLEANER_CHECKPOINT_FILE}; every compacted log counts as dirty");
            BTreeMap::new()
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e),
    }
}

pub fn write(dir: &Path, entries: &CleanerCheckpoints) -> io::Result<()> {
    write_file_durably(dir, CLEANER_CHECKPOINT_FILE, encode(entries).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_kafkas_format_and_refuses_junk() {
        let mut entries = CleanerCheckpoints::new();
        entries.insert(("__consumer_offsets".into(), 7), 1234);
        entries.insert(("changelog".into(), 0), 0);
        let text = encode(&entries);
        assert_eq!(text, "0\n2\n__consumer_offsets 7 1234\nchangelog 0 0\n");
        assert_eq!(parse(&text), Some(entries.clone()));
        assert_eq!(parse("1\n0\n"), None);
        assert_eq!(parse("0\n2\nt 0 5\n"), None, "fewer entries than declared");
        assert_eq!(parse("0\n1\nt 0 -5\n"), None);
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(read(dir.path()).expect("absent").is_empty());
        write(dir.path(), &entries).expect("write");
        assert_eq!(read(dir.path()).expect("read"), entries);
    }
}
