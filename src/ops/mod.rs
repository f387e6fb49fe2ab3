//! What the console and the command line ask a running eventdeck to do, in words neutral to
//! the workers: publish a message event, switch the load generator, stop, start, restart,
//! pause or resume one worker, and run a search. The console depends on this module and on
//! the monitor's snapshot, never on `workers`; the supervisor turns these requests into work.
//!
//! Invariant: an event is minted (its `event_id` and `timestamp` fixed) before it becomes a
//! [`Command::Publish`], so every retry of the same request publishes the same envelope.

mod worker_id;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

pub use crate::bus::producer::{Delivered, ProduceError};
pub use worker_id::{UnknownWorker, WorkerId};

use crate::event::ParsedEvent;
pub use crate::replay::reindex::{ReindexError, ReindexProgress, Reindexed, Stage};
use crate::search::{SearchError, SearchQuery, SearchResults};
pub use crate::store::{
    CommandError, DeleteMessage, EditMessage, Message, MessageStore, PostMessage, StoreError,
    StoreUnavailable,
};

/// How a worker is doing, as it reports itself (shown by the console and `status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WorkerState {
    Starting,
    Running,
    /// A transient failure is being retried; nothing is skipped meanwhile.
    BackingOff {
        error: String,
        attempt: u32,
    },
    Failed {
        error: String,
    },
    /// Asked to pause: keeps its group membership and partitions, fetches nothing.
    Paused,
    Stopped,
}

impl WorkerState {
    /// The state in one lower-case word or two, as `status` prints it.
    pub fn word(&self) -> &'static str {
        match self {
            WorkerState::Starting => "starting",
            WorkerState::Running => "running",
            WorkerState::BackingOff { .. } => "backing off",
            WorkerState::Failed { .. } => "failed",
            WorkerState::Paused => "paused",
            WorkerState::Stopped => "stopped",
        }
    }

    /// Why it is not running normally: the error it is retrying or failed with.
    pub fn error(&self) -> Option<&str> {
        match self {
            WorkerState::BackingOff { error, .. } | WorkerState::Failed { error } => Some(error),
            _ => None,
        }
    }
}

/// A request to the running pipeline. Replies, when asked for, come on the oneshot.
#[derive(Debug)]
pub enum Command {
    /// Publish a minted event (see [`ParsedEvent::mint`]); the reply says where it landed.
    Publish {
        event: ParsedEvent,
        reply: Option<oneshot::Sender<Result<Delivered, PublishError>>>,
    },
    /// Post, edit or delete a message through the write model (row + outbox entry in one
    /// transaction); the reply is the row as committed. The relay publishes the event.
    Write {
        write: Write,
        reply: Option<oneshot::Sender<Result<Message, WriteError>>>,
    },
    /// Turn the load generator on or off.
    SetLoad(bool),
    /// Events per second of the load generator.
    SetRate(u32),
    /// Change one worker's life: the reply comes once it is done (a stopped consumer has
    /// committed and left its group).
    Control {
        worker: WorkerId,
        control: Control,
        reply: Option<oneshot::Sender<Result<(), ControlError>>>,
    },
    /// Rebuild the search index from the log while it keeps serving, then switch to the new
    /// one (see [`crate::replay::reindex`]). One at a time; `progress` is sent about once a
    /// second, the reply comes at the end.
    Reindex {
        progress: Option<mpsc::UnboundedSender<ReindexProgress>>,
        reply: Option<oneshot::Sender<Result<Reindexed, ReindexError>>>,
    },
    /// The analytics worker's counters now; `None` when it is not part of this pipeline.
    Analytics {
        reply: oneshot::Sender<Option<crate::analytics::AnalyticsSummary>>,
    },
    /// Each worker's latest state, as it reported it (for `eventdeck status`).
    Workers {
        reply: oneshot::Sender<Vec<crate::monitor::snapshot::WorkerStatus>>,
    },
}

/// A change to the write model, as the console and `eventdeck send` ask for it (the HTTP API
/// calls the store the same way).
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Post(PostMessage),
    Edit {
        message_id: String,
        edit: EditMessage,
    },
    Delete {
        message_id: String,
        delete: DeleteMessage,
    },
}

impl Write {
    /// "post to ch_dev", "edit msg_…", "delete msg_…": for footers and logs.
    pub fn describe(&self) -> String {
        match self {
            Write::Post(p) => format!("post to {}", p.channel_id),
            Write::Edit { message_id, .. } => format!("edit {message_id}"),
            Write::Delete { message_id, .. } => format!("delete {message_id}"),
        }
    }

    /// The write side's rules that need no stored row (ids, text): what a form can check
    /// before sending. The store checks everything again in its transaction.
    pub fn check(&self) -> Result<(), CommandError> {
        use crate::store::command::{decide, Change};
        match self {
            Write::Post(post) => {
                decide("msg_check", &Change::Post(post.clone()), None, 0).map(|_| ())
            }
            Write::Edit { edit, .. } => {
                if let Some(editor) = &edit.editor_id {
                    crate::store::command::check_id("editor_id", "user_", editor)?;
                }
                crate::store::command::check_content(&edit.content)
            }
            Write::Delete { delete, .. } => match &delete.deleted_by {
                Some(by) => crate::store::command::check_id("deleted_by", "user_", by),
                None => Ok(()),
            },
        }
    }

    /// Applies this change to `store`: one transaction, row and outbox entry.
    pub async fn apply(self, store: &dyn MessageStore) -> Result<Message, StoreError> {
        match self {
            Write::Post(post) => Ok(store.post(post, None).await?.message),
            Write::Edit { message_id, edit } => store.edit(&message_id, edit).await,
            Write::Delete { message_id, delete } => store.delete(&message_id, delete).await,
        }
    }
}

/// Why a [`Command::Write`] was not committed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
    #[error("the supervisor stopped")]
    SupervisorGone,
}

/// What can be done to one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Flush, commit, leave the group, end the task.
    Stop,
    /// Start a stopped worker again (it rejoins its group from the committed offsets).
    Start,
    /// Stop, then start.
    Restart,
    /// Keep the group membership and the partitions but fetch nothing.
    Pause,
    /// Fetch again after a pause.
    Resume,
}

impl Control {
    pub fn verb(self) -> &'static str {
        match self {
            Control::Stop => "stop",
            Control::Start => "start",
            Control::Restart => "restart",
            Control::Pause => "pause",
            Control::Resume => "resume",
        }
    }
}

/// Why a [`Command::Control`] was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("{0} is not part of this pipeline (see run --workers)")]
    NotConfigured(WorkerId),
    #[error("{0} is already running")]
    AlreadyRunning(WorkerId),
    #[error("{0} is not running")]
    NotRunning(WorkerId),
    #[error("{0} consumes no partitions: it cannot be paused or resumed")]
    NotAConsumer(WorkerId),
    #[error("{worker} did not stop cleanly: {reason}")]
    StopFailed { worker: WorkerId, reason: String },
    #[error("{worker} could not start: {reason}")]
    StartFailed { worker: WorkerId, reason: String },
    #[error("the supervisor stopped")]
    SupervisorGone,
}

/// Why an event was not published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("encoding the event: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("{0}")]
    Produce(#[from] ProduceError),
    #[error("the producer is not running")]
    ProducerNotRunning,
    #[error("the producer is busy: {0} requests wait")]
    ProducerBusy(usize),
}

/// A search asked for by the console; answered off its thread by the search service.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// Chosen by the requester; a response to an older id can be ignored.
    pub id: u64,
    pub query: SearchQuery,
}

#[derive(Debug, Clone)]
pub struct SearchResponse {
    pub id: u64,
    pub result: Result<SearchResults, SearchError>,
}
