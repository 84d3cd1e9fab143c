//! A log dir that failed a write. Kafka counterpart: `LogDirFailureChannel`
//! and `ReplicaManager.handleLogDirFailure`.
//!
//! After a failed write or fsync the state of the page cache is unknown, so
//! no log in that directory is trusted again until a restart recovers it:
//! the first failure takes the whole directory offline (every log in it
//! answers [`LogError::Offline`](super::error::LogError::Offline)) and
//! tells the broker once, through the handler it installed. The broker
//! decides what a failed directory means for the process (see
//! `node::on_log_dir_failure`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Called once per failed directory, with the directory and the error.
pub type FailureHandler = Box<dyn Fn(&Path, &std::io::Error) + Send + Sync>;

/// Where a failure is reported: shared by every directory of one
/// [`LogManager`](super::manager::LogManager).
#[derive(Default)]
pub struct LogDirFailureChannel {
    handler: OnceLock<FailureHandler>,
}

impl LogDirFailureChannel {
    /// Installs the handler; a second call is ignored (one broker owns
    /// the logs). Without one, a failed directory only goes offline.
    pub fn set_handler(&self, handler: FailureHandler) {
        if self.handler.set(handler).is_err() {
            tracing::warn!("a log dir failure handler was already installed");
        }
    }
}

/// One entry of `log.dirs` and whether it is still trusted.
pub struct LogDirHealth {
    path: PathBuf,
    offline: AtomicBool,
    channel: Arc<LogDirFailureChannel>,
}

impl LogDirHealth {
    pub fn new(path: &Path, channel: Arc<LogDirFailureChannel>) -> LogDirHealth {
        LogDirHealth {
            path: path.to_path_buf(),
            offline: AtomicBool::new(false),
            channel,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
    }

    /// Takes the directory offline after `error`; the first call reports
    /// it and returns true, later ones (the other logs of the directory
    /// failing in turn) do nothing.
    pub fn fail(&self, error: &std::io::Error) -> bool {
        if self.offline.swap(true, Ordering::AcqRel) {
            return false;
        }
        tracing::error!(dir = %self.path.display(), error = %error,
            "log directory failed; every partition in it is offline");
        if let Some(handler) = self.channel.handler.get() {
            handler(&self.path, error);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn the_first_failure_reports_once_and_later_ones_do_not() {
        let channel = Arc::new(LogDirFailureChannel::default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        channel.set_handler(Box::new(move |dir, e| {
            sink.lock().unwrap().push((dir.to_path_buf(), e.kind()));
        }));
        let a = LogDirHealth::new(Path::new("/a"), channel.clone());
        let b = LogDirHealth::new(Path::new("/b"), channel);
        assert!(!a.is_offline());
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        assert!(a.fail(&full));
        assert!(!a.fail(&full));
        assert!(a.is_offline());
        assert!(!b.is_offline());
        assert_eq!(
            *seen.lock().unwrap(),
            vec![(PathBuf::from("/a"), std::io::ErrorKind::StorageFull)]
        );
    }

    #[test]
    fn without_a_handler_a_failed_dir_still_goes_offline() {
        let dir = LogDirHealth::new(Path::new("/a"), Arc::default());
        assert!(dir.fail(&std::io::Error::other("EIO")));
        assert!(dir.is_offline());
    }
}
