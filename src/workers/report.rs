//! What workers tell the rest of eventdeck. Workers never draw and never hold UI state: they
//! send [`WorkerEvent`]s, which the monitor folds into the snapshot and `run` logs. Every
//! reporter of one pipeline also keeps a small board of each worker's latest state, so that
//! another process (`eventdeck status`) can ask why a worker is not moving.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::mpsc;

use crate::event::NotificationSent;
pub use crate::monitor::snapshot::WorkerStatus;
use crate::ops::WorkerId;
pub use crate::ops::WorkerState;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum WorkerEvent {
    State {
        worker: WorkerId,
        state: WorkerState,
    },
    /// The full assignment after a rebalance (eager protocol) or an incremental change.
    Assigned {
        worker: WorkerId,
        group: String,
        partitions: Vec<(String, i32)>,
    },
    Revoked {
        worker: WorkerId,
        group: String,
        partitions: Vec<(String, i32)>,
    },
    /// A batch was handled and committed.
    Processed {
        worker: WorkerId,
        records: u64,
        /// Timestamp (ms) of the newest event in the batch.
        newest_event_ms: Option<i64>,
    },
    Produced {
        ok: u64,
        failed: u64,
        last_error: Option<String>,
    },
    DeadLettered {
        worker: WorkerId,
        topic: String,
        partition: i32,
        offset: i64,
        reason: String,
    },
    Notification(NotificationSent),
}

/// A cheap handle for sending events; sending never blocks and never fails the worker
/// (when nobody listens any more, events are dropped).
#[derive(Clone, Debug)]
pub struct Reporter {
    tx: Option<mpsc::UnboundedSender<WorkerEvent>>,
    /// Shared by every clone: worker name → its latest state and counts.
    board: Arc<Mutex<BTreeMap<String, WorkerStatus>>>,
}

impl Reporter {
    pub fn new(tx: mpsc::UnboundedSender<WorkerEvent>) -> Self {
        Self {
            tx: Some(tx),
            board: Arc::default(),
        }
    }

    /// A reporter that drops everything (tests, one-shot commands).
    pub fn silent() -> Self {
        Self {
            tx: None,
            board: Arc::default(),
        }
    }

    pub fn send(&self, event: WorkerEvent) {
        if let Ok(mut board) = self.board.lock() {
            note(&mut board, &event);
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(event);
        }
    }

    /// Each worker's latest state, in name order.
    pub fn workers(&self) -> Vec<WorkerStatus> {
        self.board
            .lock()
            .map(|b| b.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Puts the status of a part that is not a worker (the embedded broker) on the board, so
    /// that `status` lists it with the workers.
    pub fn post(&self, status: WorkerStatus) {
        if let Ok(mut board) = self.board.lock() {
            board.insert(status.name.clone(), status);
        }
    }

    pub fn state(&self, worker: WorkerId, state: WorkerState) {
        self.send(WorkerEvent::State { worker, state });
    }
}

/// Folds one event into the board: states (a failure counts as an error and is kept as the
/// last one) and processed records. Other events leave it as it is.
fn note(board: &mut BTreeMap<String, WorkerStatus>, event: &WorkerEvent) {
    let (worker, records, state) = match event {
        WorkerEvent::State { worker, state } => (worker, 0, Some(state)),
        WorkerEvent::Processed {
            worker, records, ..
        } => (worker, *records, None),
        _ => return,
    };
    let name = worker.to_string();
    let status = board.entry(name.clone()).or_insert_with(|| WorkerStatus {
        name,
        state: WorkerState::Starting,
        processed: 0,
        errors: 0,
        last_error: None,
    });
    status.processed += records;
    if let Some(state) = state {
        if let WorkerState::BackingOff { error, .. } | WorkerState::Failed { error } = state {
            status.errors += 1;
            status.last_error = Some(error.clone());
        }
        status.state = state.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::WorkerId;

    #[test]
    fn the_board_keeps_each_workers_latest_state_across_clones() {
        let reporter = Reporter::silent();
        let clone = reporter.clone();
        clone.state(WorkerId::Indexer, WorkerState::Running);
        clone.send(WorkerEvent::Processed {
            worker: WorkerId::Indexer,
            records: 40,
            newest_event_ms: None,
        });
        clone.state(
            WorkerId::Indexer,
            WorkerState::BackingOff {
                error: "search: connection refused".into(),
                attempt: 3,
            },
        );
        reporter.state(WorkerId::Notifier, WorkerState::Running);
        let board = reporter.workers();
        assert_eq!(board.len(), 2);
        assert_eq!(board[0].name, "indexer");
        assert_eq!(board[0].processed, 40);
        assert_eq!(board[0].errors, 1);
        assert_eq!(
            board[0].last_error.as_deref(),
            Some("search: connection refused")
        );
        assert!(matches!(
            board[0].state,
            WorkerState::BackingOff { attempt: 3, .. }
        ));
        assert_eq!((board[1].name.as_str(), board[1].errors), ("notifier", 0));
    }
}
