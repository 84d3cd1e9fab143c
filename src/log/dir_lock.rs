//! The exclusive lock on each log dir (Kafka's `.lock` file, taken by
//! `LogManager.lockLogDirs`): a second broker on the same `log.dirs` would
//! write into the same segments, so it refuses to start before touching
//! anything. The lock is an `flock(2)` on `<log dir>/.lock`, held for the
//! life of the process and released by the kernel however it ends (kill -9
//! included). The file holds the holder's process id, for the error message.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The lock file's name, as Kafka's.
pub const LOCK_FILE: &str = ".lock";

/// Why a log dir could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum DirLockError {
    #[error(
        "log dir {dir} is in use by another process{holder}; is another broker running on it? (its lock file {lock} is held)",
        dir = dir.display(),
        lock = dir.join(LOCK_FILE).display(),
        holder = holder.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Held { dir: PathBuf, holder: Option<u32> },
    #[error("cannot lock log dir {dir}: {source}", dir = dir.display())]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The locks on every log dir; dropping it releases them.
#[derive(Debug)]
pub struct LogDirLocks {
    _files: Vec<File>,
}

impl LogDirLocks {
    /// Creates each dir if needed and takes its lock, or fails naming the
    /// first dir another process holds.
    pub fn acquire(dirs: &[PathBuf]) -> Result<LogDirLocks, DirLockError> {
        let files = dirs
            .iter()
            .map(|dir| lock_dir(dir))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LogDirLocks { _files: files })
    }
}

fn lock_dir(dir: &Path) -> Result<File, DirLockError> {
    let io = |source| DirLockError::Io {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LOCK_FILE))
        .map_err(io)?;
    // SAFETY: flock on a descriptor we own and keep open.
    let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    if !taken {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(DirLockError::Held {
                dir: dir.to_path_buf(),
                holder: text.trim().parse().ok(),
            });
        }
        return Err(io(e));
    }
    // Ours now: record who holds it (informational; not fsynced).
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = vec![tmp.path().join("a"), tmp.path().join("b")];
        let first = LogDirLocks::acquire(&dirs).expect("first lock");
        // flock locks belong to the open file description: a second open
        // in this process conflicts just as another process would.
        match LogDirLocks::acquire(&dirs[1..]) {
            Err(DirLockError::Held { dir, holder }) => {
                assert_eq!(dir, dirs[1]);
                assert_eq!(holder, Some(std::process::id()));
            }
            other => panic!("expected Held, got {other:?}"),
        }
        drop(first);
        LogDirLocks::acquire(&dirs).expect("free again");
    }
}
