//! The one way a small file is made durable: write a temporary file,
//! fsync it, rename it over the target, fsync the directory. A crash at
//! any point leaves either the old file or the new one, never a torn one.
//! Used for checkpoints, producer snapshots and `meta.properties` (Kafka's
//! `CheckpointFile` and `Utils.atomicMoveWithFallback` do the same).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// fsyncs a directory so that a create, rename or delete in it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `contents` to `dir/name` atomically and durably.
pub fn write_file_durably(dir: &Path, name: &str, contents: &[u8]) -> io::Result<()> {
    write_file_durably_via(dir, name, &format!("{name}.tmp"), contents)
}

/// As [`write_file_durably`], through a temporary file of a given name
/// (Kafka's snapshots are written as `<name>.part`).
pub fn write_file_durably_via(
    dir: &Path,
    name: &str,
    tmp_name: &str,
    contents: &[u8],
) -> io::Result<()> {
    let tmp = dir.join(tmp_name);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let tmp = tempfile::tempdir().unwrap();
        write_file_durably(tmp.path(), "state", b"one").unwrap();
        write_file_durably(tmp.path(), "state", b"two").unwrap();
        assert_eq!(fs::read(tmp.path().join("state")).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["state"]);
    }
}
