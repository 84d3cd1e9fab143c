//! Kafka's per-log-dir offset checkpoint files (`OffsetCheckpointFile`):
//! one offset per partition, as text, version first. The cleaner keeps
//! `cleaner-offset-checkpoint` in this format, and the replica manager
//! `replication-offset-checkpoint` (each partition's high watermark):
//!
//! ```text
//! 0
//! <number of entries>
//! <topic> <partition> <offset>
//! ...
//! ```
//!
//! Written temp → fsync → rename → fsync dir, so a crash leaves either the
//! previous or the new file.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use crate::common::write_file_durably;

const VERSION: u32 = 0;

/// An offset by (topic, partition).
pub type OffsetCheckpoints = BTreeMap<(String, i32), i64>;

pub fn encode(entries: &OffsetCheckpoints) -> String {
    let mut out = format!("{VERSION}\n{}\n", entries.len());
    for ((topic, partition), offset) in entries {
        out.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    out
}

/// None when the text is not a checkpoint of this version.
pub fn parse(text: &str) -> Option<OffsetCheckpoints> {
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

/// The checkpoint `file` of the log dir `dir`: empty when absent; when
/// unreadable, empty too, with a warning saying what that costs.
pub fn read(dir: &Path, file: &str, when_unreadable: &str) -> io::Result<OffsetCheckpoints> {
    match std::fs::read_to_string(dir.join(file)) {
        Ok(text) => Ok(parse(&text).unwrap_or_else(|| {
            tracing::warn!(dir = %dir.display(), "unreadable {file}; {when_unreadable}");
            BTreeMap::new()
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e),
    }
}

pub fn write(dir: &Path, file: &str, entries: &OffsetCheckpoints) -> io::Result<()> {
    write_file_durably(dir, file, encode(entries).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_kafkas_format_and_refuses_junk() {
        let mut entries = OffsetCheckpoints::new();
        entries.insert(("__consumer_offsets".into(), 7), 1234);
        entries.insert(("changelog".into(), 0), 0);
        let text = encode(&entries);
        assert_eq!(text, "0\n2\n__consumer_offsets 7 1234\nchangelog 0 0\n");
        assert_eq!(parse(&text), Some(entries.clone()));
        assert_eq!(parse("1\n0\n"), None);
        assert_eq!(parse("0\n2\nt 0 5\n"), None, "fewer entries than declared");
        assert_eq!(parse("0\n1\nt 0 -5\n"), None);
        let dir = tempfile::tempdir().expect("tempdir");
        let file = "some-offset-checkpoint";
        assert!(read(dir.path(), file, "").expect("absent").is_empty());
        write(dir.path(), file, &entries).expect("write");
        assert_eq!(read(dir.path(), file, "").expect("read"), entries);
        std::fs::write(dir.path().join(file), "junk").expect("junk");
        assert!(read(dir.path(), file, "ignored").expect("junk").is_empty());
    }
}
