//! The console's state: what is focused, which mode the keyboard is in, the latest snapshot
//! and search results. Pure data plus the reactions to snapshots, search responses and
//! deliveries; keys are handled in `input.rs`, `keymap.rs` and the views, drawing in the
//! views and `layout.rs`.

use crate::browse::jobs::{Job, JobDone};
use crate::browse::redrive::RedriveReport;
use crate::browse::reset::ResetRow;
use crate::browse::trace::Trace;
use crate::ops::{Control, ReindexError, ReindexProgress, Reindexed, WorkerId, Write};
use crate::workers::batch::Record;
use std::collections::HashMap;

use crate::monitor::snapshot::Snapshot;
use crate::search::{SearchError, SearchQuery, SearchResults, SortOrder};

use super::compose::ComposeForm;
use super::text_input::TextField;
use super::views::ViewId;

/// Which search field a prompt edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptTarget {
    Query,
    Channel,
    Author,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Confirm {
    Quit,
    Delete {
        message_id: String,
        channel_id: String,
        preview: String,
    },
    /// Every dead letter matching `filter`, counted by a dry run (`report`).
    Redrive {
        filter: String,
        report: RedriveReport,
    },
    /// The selected dead letter, to `to` (its source topic).
    RedriveOne {
        dead: Box<Record>,
        to: String,
    },
    /// A group's offsets moved, as its dry run (`rows`) showed.
    Reset {
        group: String,
        to: String,
        rows: Vec<ResetRow>,
        /// One of our own workers consumes as the group: it is stopped and started around it.
        own_worker: Option<WorkerId>,
    },
}

/// `f`: one message's path through the pipeline, as the trace job found it.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceView {
    pub message_id: String,
    /// `None` while the job runs.
    pub result: Option<Result<Box<Trace>, String>>,
}

/// The keyboard's state machine (see `input.rs` for the transitions).
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    /// `/` on a list pane: the pane's filter, applied as it is typed.
    Filter(TextField),
    /// `:` k9s-style command line.
    Command(TextField),
    /// `/`, `c`, `a` on the search pane.
    SearchPrompt {
        target: PromptTarget,
        field: TextField,
    },
    Compose(ComposeForm),
    Help {
        scroll: u16,
    },
    Confirm(Confirm),
    /// The trace overlay ([`App::trace`]), scrolled this far.
    Trace {
        scroll: u16,
    },
}

/// What the I/O loop must do on behalf of the pure state.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Post, edit or delete through the write model (committed, then relayed).
    Write(Write),
    Search {
        id: u64,
        query: SearchQuery,
    },
    SetLoad(bool),
    SetRate(u32),
    /// Stop, start, restart, pause or resume one worker (`:pause indexer`).
    Control {
        worker: WorkerId,
        control: Control,
    },
    /// Rebuild the search index from the log and switch to it (`:reindex`).
    Reindex,
    /// Tail a topic (`:tail TOPIC`), replacing the tail there was.
    Tail {
        id: u64,
        topic: String,
        from: crate::browse::tail::TailFrom,
    },
    StopTail,
    /// A browse job: trace, re-drive, offset reset (`browse::jobs`).
    Job(Job),
    Quit,
}

impl Action {
    /// Whether it changes anything outside the console: a message, the load, the index.
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Action::Write(_)
                | Action::SetLoad(_)
                | Action::SetRate(_)
                | Action::Reindex
                | Action::Job(Job::Redrive { dry_run: false, .. })
                | Action::Job(Job::RedriveOne { .. })
                | Action::Job(Job::ApplyReset { .. })
        )
    }

    fn what(&self) -> &'static str {
        match self {
            Action::Write(_) => "sending, editing and deleting",
            Action::SetLoad(_) | Action::SetRate(_) => "the load generator",
            Action::Reindex => "reindexing",
            Action::Job(Job::ApplyReset { .. }) => "offset reset",
            Action::Job(_) => "re-driving dead letters",
            _ => "this",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

/// A one-line message in the footer that fades after a few seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Flash {
    pub text: String,
    pub level: Level,
    pub until_ms: i64,
}

/// Per-pane list state: selection and the `/` filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListState {
    pub selected: usize,
    pub filter: String,
    /// The selection to return to when leaving a drill-down.
    pub parent_selected: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SearchStatus {
    /// Nothing asked yet.
    Idle,
    Running,
    Done(SearchResults),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchState {
    pub query: SearchQuery,
    pub status: SearchStatus,
    /// The id of the newest request; older responses are ignored.
    pub pending: Option<u64>,
    /// Results shown while a refresh runs, so the list does not blink.
    pub last: Option<SearchResults>,
    pub selected: usize,
    /// `totals.indexed` when the search last ran: more indexed → refresh the results.
    pub indexed_at_run: u64,
    pub ran_at_ms: i64,
}

pub const PAGE_SIZE: usize = 20;

impl Default for SearchState {
    fn default() -> Self {
        SearchState {
            query: SearchQuery {
                page_size: PAGE_SIZE,
                ..SearchQuery::default()
            },
            status: SearchStatus::Idle,
            pending: None,
            last: None,
            selected: 0,
            indexed_at_run: 0,
            ran_at_ms: 0,
        }
    }
}

/// Steps of the load generator rate for `+` / `-`.
pub const RATES: [u32; 13] = [
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000,
];

pub struct App {
    pub snapshot: Snapshot,
    /// False until the monitor sends its first snapshot.
    pub loaded: bool,
    pub now_ms: i64,
    pub utc_offset_secs: i32,
    pub focus: ViewId,
    /// The view chosen on the `:` line, which takes the main area; `None`: the dashboard.
    /// When set it is the focused view (`keymap::focus` keeps them together).
    pub view: Option<ViewId>,
    pub zoomed: bool,
    pub mode: Mode,
    pub lists: HashMap<ViewId, ListState>,
    /// Enter on a lag row: (group, topic) whose partitions are shown.
    pub lag_drill: Option<(String, String)>,
    /// Enter on a throughput row: the topic whose partitions are shown.
    pub topic_drill: Option<String>,
    pub search: SearchState,
    pub load_on: bool,
    pub load_rate: u32,
    pub flash: Option<Flash>,
    /// Rebalance count last seen per group, and until when its rows flash.
    pub rebalances_seen: HashMap<String, u64>,
    pub rebalance_flash: HashMap<String, i64>,
    /// Last channel/author typed in the compose form, reused as defaults.
    pub channel: String,
    pub author: String,
    pub next_search_id: u64,
    pub log_path: Option<String>,
    /// The reindex under way (`:reindex`), as last reported: the footer's progress bar.
    pub reindex: Option<ReindexProgress>,
    /// The live tail (`:tail`).
    pub tail: super::tail::TailState,
    /// `--read-only` / `[console] read_only`: nothing that writes is offered or done.
    pub read_only: bool,
    /// `i` on the topics: the broker's internal topics are listed too.
    pub show_internal: bool,
    /// The trace overlay's message and what was found (`f`).
    pub trace: Option<TraceView>,
    /// The dead-letter topic (`[topics] dlq`): what `:dlq` tails.
    pub dlq_topic: String,
    /// Which of our workers consumes as each of our groups (`[groups]`): a reset of one of
    /// them stops and restarts it.
    pub own_groups: HashMap<String, WorkerId>,
    /// False on the embedded broker, which cannot describe groups: no offset reset there.
    pub resets_offered: bool,
    pub quit: bool,
}

const FLASH_MS: i64 = 5_000;
const REBALANCE_FLASH_MS: i64 = 3_000;
/// Refresh visible search results at most this often while the index grows.
const SEARCH_REFRESH_MS: i64 = 1_000;

impl App {
    pub fn new(snapshot: Snapshot, now_ms: i64) -> Self {
        let loaded = snapshot.taken_ms > 0;
        let mut app = App {
            snapshot: Snapshot::empty("", ""),
            loaded: false,
            now_ms,
            utc_offset_secs: 0,
            focus: ViewId::Throughput,
            view: None,
            zoomed: false,
            mode: Mode::Normal,
            lists: HashMap::new(),
            lag_drill: None,
            topic_drill: None,
            search: SearchState::default(),
            load_on: false,
            load_rate: 50,
            flash: None,
            rebalances_seen: HashMap::new(),
            rebalance_flash: HashMap::new(),
            channel: "ch_general".to_string(),
            author: "user_001".to_string(),
            next_search_id: 1,
            reindex: None,
            log_path: None,
            tail: super::tail::TailState::new(crate::config::ConsoleConfig::default().tail_buffer),
            read_only: false,
            show_internal: false,
            trace: None,
            dlq_topic: crate::config::Config::default().topics.dlq,
            own_groups: HashMap::new(),
            resets_offered: true,
            quit: false,
        };
        app.on_snapshot(snapshot);
        app.loaded = loaded;
        app
    }

    pub fn list(&self, pane: ViewId) -> ListState {
        self.lists.get(&pane).cloned().unwrap_or_default()
    }

    pub fn list_mut(&mut self, pane: ViewId) -> &mut ListState {
        self.lists.entry(pane).or_default()
    }

    pub fn filter(&self, pane: ViewId) -> &str {
        self.lists
            .get(&pane)
            .map(|l| l.filter.as_str())
            .unwrap_or("")
    }

    /// In read-only mode, drops the actions that write, saying so in the footer: the one
    /// guard every key, `:` command and form goes through.
    pub fn guard_read_only(&mut self, actions: Vec<Action>) -> Vec<Action> {
        if !self.read_only {
            return actions;
        }
        let (writes, rest): (Vec<Action>, Vec<Action>) =
            actions.into_iter().partition(Action::writes);
        if let Some(first) = writes.first() {
            self.flash_error(format!(
                "read-only: {} is turned off (started with --read-only)",
                first.what()
            ));
        }
        rest
    }

    /// Starts tailing `topic`: the action for the I/O loop, and the state reset.
    pub fn tail_action(&mut self, topic: &str, from: crate::browse::tail::TailFrom) -> Action {
        self.next_search_id += 1;
        let id = self.next_search_id;
        self.tail.restart(id, topic, from);
        *self.list_mut(ViewId::Tail) = ListState::default();
        Action::Tail {
            id,
            topic: topic.to_string(),
            from,
        }
    }

    /// The tail reported: rows go into the bounded buffer; a selection on the newest row
    /// follows the new ones.
    pub fn on_tail_event(&mut self, id: u64, event: crate::browse::tail::TailEvent) -> bool {
        let filter = self.filter(ViewId::Tail).to_string();
        let before = self.tail.buffer.visible(&filter).count();
        let selected = self.list(ViewId::Tail).selected;
        let follow = before == 0 || selected + 1 >= before;
        if !self.tail.on_event(id, event) {
            return false;
        }
        if follow && self.tail.detail.is_none() {
            let after = self.tail.buffer.visible(&filter).count();
            self.list_mut(ViewId::Tail).selected = after.saturating_sub(1);
        }
        true
    }

    /// `f`: follows one message through the pipeline; the overlay opens at once and fills
    /// in when the job answers.
    pub fn trace_action(&mut self, message_id: &str) -> Action {
        self.trace = Some(TraceView {
            message_id: message_id.to_string(),
            result: None,
        });
        self.mode = Mode::Trace { scroll: 0 };
        Action::Job(Job::Trace {
            message_id: message_id.to_string(),
        })
    }

    /// A browse job answered: a trace fills its overlay, a dry run opens its confirmation,
    /// the rest say in the footer what was done.
    pub fn on_job_done(&mut self, done: JobDone) {
        match done {
            JobDone::Traced { message_id, result } => {
                if let Some(t) = self.trace.as_mut().filter(|t| t.message_id == message_id) {
                    // Kept as its text: that is all the overlay shows.
                    t.result = Some(result.map_err(|e| e.to_string()));
                }
            }
            JobDone::Redriven {
                filter,
                result: Ok(report),
            } if report.dry_run => {
                if report.total_redriven() == 0 {
                    self.flash_info(format!(
                        "nothing to re-drive: {} dead letters read, {} held, {} not matching",
                        report.read, report.held, report.not_matching
                    ));
                } else if matches!(self.mode, Mode::Normal) {
                    self.mode = Mode::Confirm(Confirm::Redrive { filter, report });
                }
            }
            JobDone::Redriven {
                result: Ok(report), ..
            } => self.flash_info(format!(
                "re-drove {} of {} dead letters: {}{}",
                report.total_redriven(),
                report.read,
                report.where_to(),
                if report.held > 0 {
                    format!("; {} held by the loop guard", report.held)
                } else {
                    String::new()
                }
            )),
            JobDone::Redriven { result: Err(e), .. } => {
                self.flash_error(format!("re-drive failed: {e}"))
            }
            JobDone::RedrivenOne(Ok(done)) => self.flash_info(done.to_string()),
            JobDone::RedrivenOne(Err(e)) => self.flash_error(e.to_string()),
            JobDone::ResetPlanned { group, to, result } => match result {
                Ok(rows) if matches!(self.mode, Mode::Normal) => {
                    let own_worker = self.own_groups.get(&group).copied();
                    self.mode = Mode::Confirm(Confirm::Reset {
                        group,
                        to,
                        rows,
                        own_worker,
                    });
                }
                Ok(_) => {}
                Err(e) => self.flash_error(format!("reset of {group}: {e}")),
            },
            JobDone::ResetApplied { group, result } => match result {
                // Moved, but our worker did not start again: that needs a look.
                Ok(done) if matches!(done.restart, Some((_, Err(_)))) => {
                    self.flash_error(format!("{group}'s {done}"))
                }
                Ok(done) => self.flash_info(format!("{group}'s {done}")),
                Err(e) => self.flash_error(format!("reset of {group} failed: {e}")),
            },
        }
    }

    /// A reindex reported progress: the footer's bar follows it.
    pub fn on_reindex_progress(&mut self, progress: ReindexProgress) {
        self.reindex = Some(progress);
    }

    /// A reindex ended: the bar goes, the footer says what it did or why it failed.
    pub fn on_reindex_done(&mut self, result: Result<Reindexed, ReindexError>) {
        self.reindex = None;
        match result {
            Ok(done) => self.flash_info(format!(
                "reindexed {} events into {} documents in {:.1} s; now serving {} ({})",
                done.events,
                done.replaced.documents,
                done.took.as_secs_f64(),
                done.replaced.new,
                done.replaced.analyzer
            )),
            Err(e) => self.flash_error(format!("reindex failed: {e}")),
        }
    }

    pub fn flash_info(&mut self, text: impl Into<String>) {
        self.flash = Some(Flash {
            text: text.into(),
            level: Level::Info,
            until_ms: self.now_ms + FLASH_MS,
        });
    }

    pub fn flash_error(&mut self, text: impl Into<String>) {
        self.flash = Some(Flash {
            text: text.into(),
            level: Level::Error,
            until_ms: self.now_ms + 2 * FLASH_MS,
        });
    }

    pub fn is_flashing(&self, group: &str) -> bool {
        self.rebalance_flash
            .get(group)
            .is_some_and(|until| *until > self.now_ms)
    }

    /// Takes a new snapshot; notes rebalances (to flash them) and may refresh search results.
    pub fn on_snapshot(&mut self, snapshot: Snapshot) -> Vec<Action> {
        if snapshot.taken_ms > 0 {
            self.loaded = true;
        }
        for g in &snapshot.groups {
            let seen = self.rebalances_seen.insert(g.group.clone(), g.rebalances);
            // The first sight of a group is not a rebalance worth flashing.
            if seen.is_some_and(|s| g.rebalances > s) {
                self.rebalance_flash
                    .insert(g.group.clone(), self.now_ms + REBALANCE_FLASH_MS);
            }
        }
        // The monitor is the truth about the load generator once it reports it.
        if let Some(rate) = snapshot.load_generator {
            self.load_on = rate > 0;
            if rate > 0 {
                self.load_rate = rate;
            }
        }
        let indexed = snapshot.totals.indexed;
        self.snapshot = snapshot;
        let searched = !matches!(self.search.status, SearchStatus::Idle);
        let grew = indexed != self.search.indexed_at_run;
        let due = self.now_ms - self.search.ran_at_ms >= SEARCH_REFRESH_MS;
        if searched && grew && due && self.search.pending.is_none() {
            return vec![self.search_action()];
        }
        Vec::new()
    }

    /// A request for the current query; marks it pending so its answer is the one shown.
    pub fn search_action(&mut self) -> Action {
        let id = self.next_search_id;
        self.next_search_id += 1;
        self.search.pending = Some(id);
        self.search.indexed_at_run = self.snapshot.totals.indexed;
        self.search.ran_at_ms = self.now_ms;
        if matches!(
            self.search.status,
            SearchStatus::Idle | SearchStatus::Failed(_)
        ) {
            self.search.status = SearchStatus::Running;
        }
        Action::Search {
            id,
            query: self.search.query.clone(),
        }
    }

    /// Starts a new search from page 0 with the given text.
    pub fn start_search(&mut self, text: &str) -> Action {
        self.search.query.text = text.trim().to_string();
        self.search.query.page = 0;
        self.search.selected = 0;
        self.search.status = SearchStatus::Running;
        self.search_action()
    }

    /// The search service's answer; one for an older request than the newest is dropped.
    pub fn on_search_response(&mut self, id: u64, result: Result<SearchResults, SearchError>) {
        if self.search.pending != Some(id) {
            return;
        }
        self.search.pending = None;
        match result {
            Ok(results) => {
                let n = results.hits.len();
                self.search.selected = self.search.selected.min(n.saturating_sub(1));
                self.search.last = Some(results.clone());
                self.search.status = SearchStatus::Done(results);
            }
            // Kept as its text: that is all the pane shows, and the status stays comparable.
            Err(e) => self.search.status = SearchStatus::Failed(e.to_string()),
        }
    }

    /// The search results on screen (the last answer while a refresh is running).
    pub fn search_results(&self) -> Option<&SearchResults> {
        match &self.search.status {
            SearchStatus::Done(r) => Some(r),
            SearchStatus::Running => self.search.last.as_ref(),
            _ => None,
        }
    }

    /// Advances the clock; true when something visible changed (the second, a fading flash).
    pub fn tick(&mut self, now_ms: i64) -> bool {
        let before = self.now_ms;
        self.now_ms = now_ms;
        let mut changed = before / 1000 != now_ms / 1000;
        if self.flash.as_ref().is_some_and(|f| f.until_ms <= now_ms) {
            self.flash = None;
            changed = true;
        }
        let expired: Vec<String> = self
            .rebalance_flash
            .iter()
            .filter(|(_, until)| **until <= now_ms)
            .map(|(g, _)| g.clone())
            .collect();
        for g in expired {
            self.rebalance_flash.remove(&g);
            changed = true;
        }
        changed
    }

    pub fn rate_step(&self, up: bool) -> u32 {
        let i = RATES
            .iter()
            .position(|r| *r >= self.load_rate)
            .unwrap_or(RATES.len() - 1);
        if up {
            if RATES[i] > self.load_rate {
                RATES[i]
            } else {
                RATES[(i + 1).min(RATES.len() - 1)]
            }
        } else {
            RATES[i.saturating_sub(1)]
        }
    }

    pub fn toggle_sort(&mut self) {
        self.search.query.sort = match self.search.query.sort {
            SortOrder::Relevance => SortOrder::NewestFirst,
            SortOrder::NewestFirst => SortOrder::Relevance,
        };
    }
}
