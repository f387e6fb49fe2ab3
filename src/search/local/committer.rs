//! The background commit thread of a writable [`LocalIndex`](super::LocalIndex).
//!
//! Invariant: a commit happens only under the writer lock, through `Inner::commit_locked`, so the
//! pending documents and the reader never disagree; stopping joins the thread, so once `stop`
//! returns nothing but the caller holds the index.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::Inner;
use crate::search::SearchError;

/// How often the committer thread looks for pending documents.
const COMMIT_TICK: Duration = Duration::from_millis(50);

/// A thread that commits pending documents every `interval`. A plain thread rather than a tokio
/// task: `open` may be called outside a runtime, and commits block anyway.
pub(super) struct Committer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: Option<JoinHandle<()>>,
}

impl Committer {
    pub(super) fn start(inner: Arc<Inner>, interval: Duration) -> Result<Committer, SearchError> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = stop.clone();
        let handle = std::thread::Builder::new()
            .name("search-commit".into())
            .spawn(move || loop {
                let (flag, condvar) = &*signal;
                let guard = flag.lock().unwrap_or_else(|p| p.into_inner());
                let (guard, _) = condvar
                    .wait_timeout_while(guard, COMMIT_TICK.min(interval), |stopped| !*stopped)
                    .unwrap_or_else(|p| p.into_inner());
                if *guard {
                    return;
                }
                drop(guard);
                if let Err(e) = inner.commit_if_due(interval) {
                    tracing::warn!(dir = %inner.dir.display(), "commit failed: {e}");
                }
            })
            .map_err(|e| SearchError::Failed(format!("cannot start the commit thread: {e}")))?;
        Ok(Committer {
            stop,
            handle: Some(handle),
        })
    }

    /// Stops the thread and waits for it, so that it no longer holds the index.
    pub(super) fn stop(mut self) {
        let (flag, condvar) = &*self.stop;
        *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        condvar.notify_all();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}
