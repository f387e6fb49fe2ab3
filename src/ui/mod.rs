//! The console: live panes over the monitor's [`Snapshot`]s, and a keyboard that sends
//! [`Command`]s and [`SearchRequest`]s. The UI holds no Kafka or search client and never
//! does I/O while drawing: everything it shows arrives on channels.
//!
//! Structure: `app` (state); `views/` (one trait, a registry, one file per view: its keys,
//! rows and drawing); `keymap` (the global keys, declared once as data; help and footer are
//! drawn from it and from the focused view's keys); `input` and `command` (key → state
//! change + [`app::Action`]s, pure); `layout` and `panes/` (the screen around the views:
//! title, footer, overlays, shared table helpers); `run`, the only place with terminal and
//! channel I/O.

pub mod app;
pub mod command;
pub mod compose;
pub mod format;
pub mod input;
pub mod keymap;
pub mod layout;
pub mod model;
pub mod panes;
mod panic_hook;
pub mod run;
pub mod scrub;
pub mod tail;
pub mod text_input;
pub mod theme;
pub mod views;

#[cfg(test)]
mod browse_tests;
#[cfg(test)]
mod command_tests;
#[cfg(test)]
mod hostile_render_tests;
#[cfg(test)]
mod input_tests;
#[cfg(test)]
mod keymap_tests;
#[cfg(test)]
mod render_tests;
#[cfg(test)]
pub(crate) mod test_support;

use std::path::PathBuf;

use tokio::sync::{mpsc, watch};

use crate::monitor::snapshot::Snapshot;
use crate::ops::{Command, SearchRequest, SearchResponse};

pub use app::{Action, App, Mode};
pub use input::handle_key;
pub use run::run;
pub use views::{View, ViewId};

/// Everything the console talks to, all of it channels.
pub struct ConsoleLink {
    pub snapshots: watch::Receiver<Snapshot>,
    pub commands: mpsc::Sender<Command>,
    pub search_requests: mpsc::Sender<SearchRequest>,
    pub search_responses: mpsc::Receiver<SearchResponse>,
    /// Where the logs go (shown in the help overlay), when logging to a file.
    pub log_path: Option<PathBuf>,
    /// The live tail: requests to the tail service, its events back (tagged with the
    /// request id), and how many records it keeps (`[console] tail_buffer`).
    pub tail_requests: mpsc::Sender<crate::browse::service::TailRequest>,
    pub tail_events: mpsc::Receiver<(u64, crate::browse::tail::TailEvent)>,
    pub tail_buffer: usize,
    /// `[console] read_only`: see `App::read_only`.
    pub read_only: bool,
    /// Browse jobs (trace, re-drive, offset reset) and their answers (`browse::jobs`).
    pub jobs: mpsc::Sender<crate::browse::jobs::Job>,
    pub job_results: mpsc::Receiver<crate::browse::jobs::JobDone>,
    /// What the views need to know of the configuration and the cluster: see the fields of
    /// the same names on `App`.
    pub dlq_topic: String,
    pub own_groups: std::collections::HashMap<String, crate::ops::WorkerId>,
    pub resets_offered: bool,
    /// What went wrong or needs doing at start-up (an unreachable cluster, an index to
    /// rebuild): shown in the footer when the console opens.
    pub warnings: Vec<String>,
}
