//! The supervisor: owns the running workers and takes [`Command`]s on one channel. Publishing
//! requests go to the producer worker; [`Command::Control`] stops, starts, restarts, pauses or
//! resumes one worker, so that replay, re-drive and offset reset can first take our own group
//! member out of the way. Commands are handled one at a time, in order: a stop answers once
//! the worker has flushed, committed and left its group.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::consumer::Lifecycle;
use super::publisher::PublisherRequest;
use super::report::Reporter;
use super::workshop::Workshop;
use crate::ops::{
    Command, Control, ControlError, PublishError, ReindexError, ReindexProgress, Reindexed,
    WorkerId, Write, WriteError,
};
use crate::replay::reindex::{reindex, ReindexProgressFn};
use crate::store::Message;

/// How long a worker may take to flush, commit and leave its group when stopped.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// One running worker and the levers on it.
pub(super) struct Running {
    stop: watch::Sender<bool>,
    pause: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
    requests: Option<mpsc::Sender<PublisherRequest>>,
}

pub(super) struct Supervisor {
    pub(super) workshop: Workshop,
    pub(super) reporter: Reporter,
    /// The workers this pipeline may run (`run --workers`); others are refused.
    pub(super) chosen: Vec<WorkerId>,
    pub(super) running: BTreeMap<WorkerId, Running>,
    /// The reindex under way, if any: one at a time.
    pub(super) reindexing: Option<JoinHandle<()>>,
}

impl Supervisor {
    pub(super) fn start(&mut self, worker: WorkerId) -> Result<(), ControlError> {
        if !self.chosen.contains(&worker) {
            return Err(ControlError::NotConfigured(worker));
        }
        if let Some(r) = self.running.get(&worker) {
            if !r.task.is_finished() {
                return Err(ControlError::AlreadyRunning(worker));
            }
        }
        let (stop, shutdown) = watch::channel(false);
        let (pause, paused) = watch::channel(false);
        let started = self
            .workshop
            .start(
                worker,
                self.reporter.clone(),
                Lifecycle {
                    shutdown,
                    paused,
                    idle: None,
                },
            )
            .map_err(|e| ControlError::StartFailed {
                worker,
                reason: format!("{e:#}"),
            })?;
        tracing::info!(%worker, "worker started");
        self.running.insert(
            worker,
            Running {
                stop,
                pause,
                task: started.task,
                requests: started.requests,
            },
        );
        Ok(())
    }

    /// Asks the worker to stop and waits (bounded) until it has.
    async fn stop(&mut self, worker: WorkerId) -> Result<(), ControlError> {
        let running = self
            .running
            .remove(&worker)
            .ok_or(ControlError::NotRunning(worker))?;
        let _ = running.stop.send(true);
        ended(worker, running.task).await
    }

    fn set_paused(&mut self, worker: WorkerId, pause: bool) -> Result<(), ControlError> {
        if !worker.consumes() {
            return Err(ControlError::NotAConsumer(worker));
        }
        let running = self
            .running
            .get(&worker)
            .filter(|r| !r.task.is_finished())
            .ok_or(ControlError::NotRunning(worker))?;
        running.pause.send_replace(pause);
        Ok(())
    }

    async fn control(&mut self, worker: WorkerId, control: Control) -> Result<(), ControlError> {
        if !self.chosen.contains(&worker) {
            return Err(ControlError::NotConfigured(worker));
        }
        tracing::info!(%worker, control = control.verb(), "worker control");
        match control {
            Control::Stop => self.stop(worker).await,
            Control::Start => self.start(worker),
            Control::Restart => {
                if self.running.contains_key(&worker) {
                    // A failed stop is reported, but the worker is started again anyway.
                    let stopped = self.stop(worker).await;
                    self.start(worker)?;
                    stopped
                } else {
                    self.start(worker)
                }
            }
            Control::Pause => self.set_paused(worker, true),
            Control::Resume => self.set_paused(worker, false),
        }
    }

    /// Hands a publishing request to the producer worker without waiting for room.
    fn forward(&self, request: PublisherRequest) {
        let sender = self
            .running
            .get(&WorkerId::Producer)
            .filter(|r| !r.task.is_finished())
            .and_then(|r| r.requests.as_ref());
        let refused = match sender {
            None => Some((request, PublishError::ProducerNotRunning)),
            Some(tx) => match tx.try_send(request) {
                Ok(()) => None,
                Err(mpsc::error::TrySendError::Full(r)) => {
                    Some((r, PublishError::ProducerBusy(tx.max_capacity())))
                }
                Err(mpsc::error::TrySendError::Closed(r)) => {
                    Some((r, PublishError::ProducerNotRunning))
                }
            },
        };
        match refused {
            Some((PublisherRequest::Publish { reply: Some(r), .. }, e)) => {
                let _ = r.send(Err(e));
            }
            Some((_, e)) => tracing::warn!(error = %e, "request to the producer dropped"),
            None => {}
        }
    }

    /// Applies a write off the command loop: a slow store never holds up worker controls.
    fn write(&self, write: Write, reply: Option<oneshot::Sender<Result<Message, WriteError>>>) {
        let store = self.workshop.store.clone();
        let meter = self.workshop.meter.clone();
        tokio::spawn(async move {
            let what = write.describe();
            let started = std::time::Instant::now();
            let result = match store {
                Ok(store) => write.apply(store.as_ref()).await.map_err(WriteError::from),
                Err(e) => Err(WriteError::from(e)),
            };
            match &result {
                Ok(_) => meter.record_write(started.elapsed()),
                Err(e) => tracing::warn!(%what, error = %e, "write refused or failed"),
            }
            if let Some(reply) = reply {
                let _ = reply.send(result);
            }
        });
    }

    /// Starts a reindex off the command loop (it takes seconds to minutes); refused while
    /// one runs. The indexer keeps running: see [`crate::replay::reindex`].
    fn reindex(
        &mut self,
        progress: Option<mpsc::UnboundedSender<ReindexProgress>>,
        reply: Option<oneshot::Sender<Result<Reindexed, ReindexError>>>,
    ) {
        if self.reindexing.as_ref().is_some_and(|t| !t.is_finished()) {
            if let Some(reply) = reply {
                let _ = reply.send(Err(ReindexError::AlreadyRunning));
            }
            return;
        }
        let cluster = self.workshop.cluster.clone();
        let index = self.workshop.index.clone();
        let topics = self
            .workshop
            .config
            .message_topics()
            .iter()
            .map(|t| t.to_string())
            .collect();
        let report: ReindexProgressFn = Arc::new(move |p| {
            if let Some(tx) = &progress {
                let _ = tx.send(p);
            }
        });
        tracing::info!(index = %index.describe(), "reindex started");
        self.reindexing = Some(tokio::spawn(async move {
            let result = reindex(cluster, topics, index, report).await;
            match &result {
                Ok(done) => tracing::info!(
                    events = done.events,
                    documents = done.replaced.documents,
                    caught_up = done.caught_up,
                    new = %done.replaced.new,
                    "reindex done"
                ),
                Err(e) => tracing::warn!(error = %e, "reindex failed"),
            }
            if let Some(reply) = reply {
                let _ = reply.send(result);
            }
        }));
    }

    /// Takes commands until shutdown (or until every sender is gone), then stops every
    /// worker. Returns the errors of workers that failed or did not stop cleanly.
    pub(super) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Vec<String> {
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                command = commands.recv() => match command {
                    None => {
                        // Nobody can send commands any more; workers run until shutdown.
                        let _ = shutdown.changed().await;
                        break;
                    }
                    Some(Command::Publish { event, reply }) => {
                        self.forward(PublisherRequest::Publish { event, reply })
                    }
                    Some(Command::Write { write, reply }) => self.write(write, reply),
                    Some(Command::SetLoad(on)) => self.forward(PublisherRequest::SetLoad(on)),
                    Some(Command::SetRate(r)) => self.forward(PublisherRequest::SetRate(r)),
                    Some(Command::Reindex { progress, reply }) => self.reindex(progress, reply),
                    Some(Command::Analytics { reply }) => {
                        let summary = self
                            .chosen
                            .contains(&WorkerId::Analytics)
                            .then(|| self.workshop.board.summary(crate::event::now_ms()));
                        let _ = reply.send(summary);
                    }
                    Some(Command::Workers { reply }) => {
                        let _ = reply.send(self.reporter.workers());
                    }
                    Some(Command::Control { worker, control, reply }) => {
                        let result = self.control(worker, control).await;
                        if let Err(e) = &result {
                            tracing::warn!(%worker, error = %e, "worker control refused or failed");
                        }
                        if let Some(reply) = reply {
                            let _ = reply.send(result);
                        }
                    }
                },
            }
        }
        self.stop_all().await
    }

    /// Signals every worker at once (they flush in parallel), then waits for each.
    async fn stop_all(self) -> Vec<String> {
        if let Some(task) = &self.reindexing {
            // Nothing is switched until the end: an abandoned rebuild leaves the old index.
            task.abort();
        }
        for running in self.running.values() {
            let _ = running.stop.send(true);
        }
        let mut errors = Vec::new();
        for (worker, running) in self.running {
            if let Err(e) = ended(worker, running.task).await {
                errors.push(e.to_string());
            }
        }
        errors
    }
}

/// Waits for a stopping worker's task, at most [`STOP_GRACE`].
async fn ended(worker: WorkerId, task: JoinHandle<anyhow::Result<()>>) -> Result<(), ControlError> {
    let reason = match tokio::time::timeout(STOP_GRACE, task).await {
        Ok(Ok(Ok(()))) => return Ok(()),
        Ok(Ok(Err(e))) => format!("{e:#}"),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("did not stop within {} s", STOP_GRACE.as_secs()),
    };
    Err(ControlError::StopFailed { worker, reason })
}

/// Asks the supervisor behind `commands` to apply `control` to `worker` and waits for the
/// answer: what the console, replay and re-drive call.
pub async fn request_control(
    commands: &mpsc::Sender<Command>,
    worker: WorkerId,
    control: Control,
) -> Result<(), ControlError> {
    let (reply, answer) = oneshot::channel();
    commands
        .send(Command::Control {
            worker,
            control,
            reply: Some(reply),
        })
        .await
        .map_err(|_| ControlError::SupervisorGone)?;
    answer.await.map_err(|_| ControlError::SupervisorGone)?
}
