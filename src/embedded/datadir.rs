//! The data directory: created on first use and locked so that a second eventdeck on the same
//! directory stops with a clear message instead of corrupting the broker's or the index's files.

use std::fs::File;
use std::path::{Path, PathBuf};

/// Holds the lock for as long as it lives.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    _lock: File,
}

impl DataDir {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(path)
            .map_err(|e| anyhow::anyhow!("cannot create data directory {}: {e}", path.display()))?;
        let path = path
            .canonicalize()
            .map_err(|e| anyhow::anyhow!("data directory {}: {e}", path.display()))?;
        let lock_path = path.join("eventdeck.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "another eventdeck is already using the data directory {} (lock {}). \
                 Stop it, or start this one with --data-dir pointing elsewhere.",
                path.display(),
                lock_path.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                anyhow::bail!("cannot lock {}: {e}", lock_path.display())
            }
        }
        let _ = std::fs::write(&lock_path, format!("{}\n", std::process::id()));
        Ok(Self { path, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_of_the_same_directory_fails_clearly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = DataDir::open(&dir.path().join("data")).expect("first");
        let err = DataDir::open(&dir.path().join("data"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("already using the data directory"), "{err}");
        drop(first);
        DataDir::open(&dir.path().join("data")).expect("free again after the first closes");
    }
}
