//! The console's only I/O: the terminal (raw mode, alternate screen, restored on every exit
//! path) and a `select!` loop over keys, snapshots, search answers, delivery reports and a
//! 10 Hz tick. It redraws only when something changed, so an idle console costs ~1 frame/s.

use std::time::Duration;

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::app::{Action, App};
use super::{input, layout, ConsoleLink};
use crate::browse::jobs::Job;
use crate::browse::service::TailRequest;
use crate::event::now_ms;
use crate::ops::{
    Command, ControlError, Message, ReindexError, ReindexProgress, Reindexed, SearchRequest,
};

const TICK: Duration = Duration::from_millis(100);
/// A delivery not acknowledged by then is reported as lost (the producer's own timeout is 30 s).
const DELIVERY_WAIT: Duration = Duration::from_secs(35);

/// Restores the terminal when dropped: covers `?` returns and unwinding panics. The panic
/// hook installed by `ratatui::try_init` restores it before the message is printed, for a
/// panic of this thread.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// What a publish or a worker control turned into, reported back to the loop by the task
/// awaiting its answer.
struct DeliveryReport {
    what: String,
    result: Result<Done, DeliveryError>,
}

enum Done {
    /// The write model committed the row and its outbox entry; the relay publishes it.
    Committed(Message),
    Controlled,
    /// A reindex ended, either way: the progress bar goes and the footer says how.
    Reindexed(Result<Reindexed, ReindexError>),
}

/// "post to ch_dev: msg_… v1 committed; the relay publishes it".
fn committed(what: &str, m: &Message) -> String {
    format!(
        "{what}: {} v{} committed; the relay publishes it",
        m.message_id, m.version
    )
}

/// Why a publish was not acknowledged.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    /// The producer answered with an error. Boxed rather than named: the UI only shows it,
    /// and so does not depend on the publisher's error type.
    #[error(transparent)]
    Rejected(Box<dyn std::error::Error + Send + Sync>),
    /// The reply channel closed without an answer.
    #[error("the supervisor stopped")]
    ProducerStopped,
    #[error("no acknowledgement within {} s", DELIVERY_WAIT.as_secs())]
    NoAcknowledgement,
    #[error(transparent)]
    Control(#[from] ControlError),
}

/// Runs the console until the person quits (`q` + `y`, `:q`, Ctrl-C) or SIGINT/SIGTERM.
pub async fn run(link: ConsoleLink) -> anyhow::Result<()> {
    // try_init: raw mode + alternate screen + a panic hook that restores, then chains to the
    // previous hook (so the panic message lands on the normal screen). Only for this thread:
    // a background task's panic does not end the console (see `panic_hook`).
    let mut terminal = ratatui::try_init()?;
    super::panic_hook::restore_only_for(std::thread::current().id());
    let _guard = TerminalGuard;
    event_loop(&mut terminal, link).await
}

fn utc_offset_secs() -> i32 {
    chrono::Local::now().offset().local_minus_utc()
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    link: ConsoleLink,
) -> anyhow::Result<()> {
    let ConsoleLink {
        mut snapshots,
        commands,
        search_requests,
        mut search_responses,
        log_path,
        warnings,
        tail_requests,
        mut tail_events,
        tail_buffer,
        read_only,
        jobs,
        mut job_results,
        dlq_topic,
        own_groups,
        resets_offered,
    } = link;
    let first = snapshots.borrow_and_update().clone();
    let mut app = App::new(first, now_ms());
    app.utc_offset_secs = utc_offset_secs();
    app.log_path = log_path.map(|p| p.display().to_string());
    app.tail = super::tail::TailState::new(tail_buffer);
    app.read_only = read_only;
    app.dlq_topic = dlq_topic;
    app.own_groups = own_groups;
    app.resets_offered = resets_offered;
    if !warnings.is_empty() {
        app.flash_error(warnings.join(" · "));
    }

    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (report_tx, mut reports) = mpsc::unbounded_channel::<DeliveryReport>();
    let (progress_tx, mut progress) = mpsc::unbounded_channel::<ReindexProgress>();
    let mut snapshots_open = true;
    let mut responses_open = true;
    let mut dirty = true;
    // Created once: a signal between two loop turns must not be lost.
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);

    while !app.quit {
        if dirty {
            terminal.draw(|frame| layout::draw(frame, &app))?;
            dirty = false;
        }
        let mut actions = Vec::new();
        tokio::select! {
            event = keys.next() => match event {
                Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                    app.now_ms = now_ms();
                    actions = input::handle_key(&mut app, key);
                    dirty = true;
                }
                Some(Ok(Event::Resize(_, _))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(anyhow::anyhow!("reading the terminal: {e}")),
                None => break,
            },
            changed = snapshots.changed(), if snapshots_open => match changed {
                Ok(()) => {
                    let snapshot = snapshots.borrow_and_update().clone();
                    actions = app.on_snapshot(snapshot);
                    dirty = true;
                }
                Err(_) => {
                    // The monitor stopped: keep the last picture and say so.
                    snapshots_open = false;
                    app.flash_error("monitor stopped: figures are no longer updated");
                    dirty = true;
                }
            },
            response = search_responses.recv(), if responses_open => match response {
                Some(r) => {
                    app.on_search_response(r.id, r.result);
                    dirty = true;
                }
                None => {
                    responses_open = false;
                    app.flash_error("search service stopped");
                    dirty = true;
                }
            },
            Some(report) = reports.recv() => {
                match report.result {
                    Ok(Done::Committed(m)) => app.flash_info(committed(&report.what, &m)),
                    Ok(Done::Controlled) => app.flash_info(format!("{}: done", report.what)),
                    Ok(Done::Reindexed(result)) => app.on_reindex_done(result),
                    Err(e) => app.flash_error(format!("{} failed: {e}", report.what)),
                }
                dirty = true;
            },
            Some((id, event)) = tail_events.recv() => {
                dirty |= app.on_tail_event(id, event);
            },
            Some(done) = job_results.recv() => {
                app.on_job_done(done);
                dirty = true;
            },
            Some(p) = progress.recv() => {
                app.on_reindex_progress(p);
                dirty = true;
            },
            _ = tick.tick() => dirty |= app.tick(now_ms()),
            _ = &mut shutdown => break,
        }
        let channels = Channels {
            commands: &commands,
            search_requests: &search_requests,
            tail_requests: &tail_requests,
            jobs: &jobs,
            reports: &report_tx,
            progress: &progress_tx,
        };
        for action in actions {
            perform(&mut app, action, &channels);
        }
    }
    Ok(())
}

/// Where `perform` sends requests and where their answers come back.
struct Channels<'a> {
    commands: &'a mpsc::Sender<Command>,
    search_requests: &'a mpsc::Sender<SearchRequest>,
    tail_requests: &'a mpsc::Sender<TailRequest>,
    jobs: &'a mpsc::Sender<Job>,
    reports: &'a mpsc::UnboundedSender<DeliveryReport>,
    progress: &'a mpsc::UnboundedSender<ReindexProgress>,
}

/// Sends an action's message without waiting: a full channel is reported, never awaited.
fn perform(app: &mut App, action: Action, channels: &Channels) {
    let Channels {
        commands,
        search_requests,
        tail_requests,
        jobs,
        reports,
        progress,
    } = *channels;
    let sent = match action {
        Action::Quit => {
            app.quit = true;
            return;
        }
        Action::Search { id, query } => search_requests
            .try_send(SearchRequest { id, query })
            .map_err(|e| format!("search not sent: {e}")),
        Action::Tail { id, topic, from } => tail_requests
            .try_send(TailRequest::Start { id, topic, from })
            .map_err(|e| format!("tail not started: {e}")),
        Action::Job(job) => jobs.try_send(job).map_err(|e| format!("not started: {e}")),
        Action::StopTail => tail_requests
            .try_send(TailRequest::Stop)
            .map_err(|e| format!("tail not stopped: {e}")),
        Action::SetLoad(on) => commands
            .try_send(Command::SetLoad(on))
            .map_err(|e| format!("load generator not switched: {e}")),
        Action::SetRate(rate) => commands
            .try_send(Command::SetRate(rate))
            .map_err(|e| format!("rate not changed: {e}")),
        Action::Write(write) => {
            let what = write.describe();
            let (tx, rx) = oneshot::channel();
            let sent = commands
                .try_send(Command::Write {
                    write,
                    reply: Some(tx),
                })
                .map_err(|e| format!("{what} not sent: {e}"));
            if sent.is_ok() {
                app.flash_info(format!("{what}: committing…"));
                let reports = reports.clone();
                tokio::spawn(async move {
                    let result = match tokio::time::timeout(DELIVERY_WAIT, rx).await {
                        Ok(Ok(r)) => r
                            .map(Done::Committed)
                            .map_err(|e| DeliveryError::Rejected(Box::new(e))),
                        Ok(Err(_)) => Err(DeliveryError::ProducerStopped),
                        Err(_) => Err(DeliveryError::NoAcknowledgement),
                    };
                    let _ = reports.send(DeliveryReport { what, result });
                });
            }
            sent
        }
        Action::Reindex => {
            let (tx, rx) = oneshot::channel();
            let sent = commands
                .try_send(Command::Reindex {
                    progress: Some(progress.clone()),
                    reply: Some(tx),
                })
                .map_err(|e| format!("reindex not sent: {e}"));
            if sent.is_ok() {
                app.flash_info("reindex: reading the log…");
                let reports = reports.clone();
                tokio::spawn(async move {
                    // No timeout: a rebuild of a long log takes as long as it takes, and
                    // its progress shows it is alive.
                    let result = rx.await.unwrap_or(Err(ReindexError::SupervisorGone));
                    let _ = reports.send(DeliveryReport {
                        what: "reindex".to_string(),
                        result: Ok(Done::Reindexed(result)),
                    });
                });
            }
            sent
        }
        Action::Control { worker, control } => {
            let what = format!("{} {worker}", control.verb());
            let (tx, rx) = oneshot::channel();
            let sent = commands
                .try_send(Command::Control {
                    worker,
                    control,
                    reply: Some(tx),
                })
                .map_err(|e| format!("{what} not sent: {e}"));
            if sent.is_ok() {
                app.flash_info(format!("{what}…"));
                let reports = reports.clone();
                tokio::spawn(async move {
                    // A stop waits for the worker to flush, commit and leave its group.
                    let result = match tokio::time::timeout(DELIVERY_WAIT, rx).await {
                        Ok(Ok(r)) => r.map(|()| Done::Controlled).map_err(DeliveryError::from),
                        Ok(Err(_)) => Err(DeliveryError::Control(ControlError::SupervisorGone)),
                        Err(_) => Err(DeliveryError::NoAcknowledgement),
                    };
                    let _ = reports.send(DeliveryReport { what, result });
                });
            }
            sent
        }
    };
    if let Err(e) = sent {
        app.flash_error(e);
    }
}

/// SIGINT/SIGTERM from outside (raw mode turns a typed Ctrl-C into a key instead).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {},
                    _ = term.recv() => {},
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
