//! What workers tell the rest of eventdeck. Workers never draw and never hold UI state: they
//! send [`WorkerEvent`]s, which the monitor folds into the snapshot and `run` logs.

use serde::Serialize;
use tokio::sync::mpsc;

use crate::event::NotificationSent;
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
}

impl Reporter {
    pub fn new(tx: mpsc::UnboundedSender<WorkerEvent>) -> Self {
        Self { tx: Some(tx) }
    }

    /// A reporter that drops everything (tests, one-shot commands).
    pub fn silent() -> Self {
        Self { tx: None }
    }

    pub fn send(&self, event: WorkerEvent) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(event);
        }
    }

    pub fn state(&self, worker: WorkerId, state: WorkerState) {
        self.send(WorkerEvent::State { worker, state });
    }
}
