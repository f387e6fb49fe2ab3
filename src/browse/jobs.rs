//! The console's one-shot browse jobs, run off its thread: follow a message, re-drive dead
//! letters, plan and apply a group's offset reset. The UI sends a [`Job`] and receives a
//! [`JobDone`]; it never holds a Kafka or search client itself. Every job's failure comes
//! back as text for the footer: none ends the service.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::redrive::{redrive, redrive_one, Decision, RedriveOptions, RedriveReport};
use super::reset::{apply, read_plan, ResetRow, ResetTo};
use super::trace::{trace, Trace};
use crate::bus::producer::{EventProducer, ProducerUnavailable};
use crate::bus::Cluster;
use crate::config::Config;
use crate::ops::{Command, Control, ControlError, WorkerId};
use crate::search::SearchIndex;
use crate::workers::batch::Record;

#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    Trace {
        message_id: String,
    },
    /// Every dead letter matching `filter` (all of them when empty), from where the last
    /// re-drive with that filter stopped; `dry_run` only counts.
    Redrive {
        filter: String,
        dry_run: bool,
    },
    /// One dead letter, chosen in the `:dlq` view.
    RedriveOne {
        dead: Box<Record>,
    },
    PlanReset {
        group: String,
        topics: Vec<String>,
        to: ResetTo,
        /// Where to, as the person wrote it ("earliest", "15m"): the confirmation says it.
        label: String,
    },
    ApplyReset {
        group: String,
        rows: Vec<ResetRow>,
    },
}

#[derive(Debug)]
pub enum JobDone {
    Traced {
        message_id: String,
        result: Result<Box<Trace>, JobError>,
    },
    Redriven {
        filter: String,
        result: Result<RedriveReport, JobError>,
    },
    RedrivenOne(Result<RedroveOne, JobError>),
    ResetPlanned {
        group: String,
        to: String,
        result: Result<Vec<ResetRow>, JobError>,
    },
    ResetApplied {
        group: String,
        result: Result<ResetDone, JobError>,
    },
}

/// One of our workers stopped around a reset, and whether it started again.
pub type Restart = Option<(WorkerId, Result<(), ControlError>)>;

/// "; indexer started again", "; indexer did not start again: …", or nothing.
fn after(restart: &Restart) -> String {
    match restart {
        None => String::new(),
        Some((w, Ok(()))) => format!("; {w} started again"),
        Some((w, Err(e))) => format!("; {w} did not start again: {e}"),
    }
}

/// A single dead letter sent back.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("re-drove dead letter {place} to {topic}")]
pub struct RedroveOne {
    pub place: String,
    pub topic: String,
}

/// The offsets moved; for one of our own groups, what became of its worker.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("committed offsets are moved{}", after(.restart))]
pub struct ResetDone {
    pub restart: Restart,
}

/// Why a job did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    NoProducer(#[from] ProducerUnavailable),
    #[error(
        "dead letter {place} held: re-driven {redrives} times already (fix the cause; \
         eventdeck dlq redrive --max-redrives raises the limit)"
    )]
    Held { place: String, redrives: u32 },
    #[error("dead letter {place} has no source topic header: nowhere to send it")]
    NoSource { place: String },
    #[error("stopping {worker} before the reset: {source}")]
    NotStopped {
        worker: WorkerId,
        #[source]
        source: ControlError,
    },
    /// The reset failed; our worker, stopped for it, was started again (or not).
    #[error("{source:#}{}", after(.restart))]
    ResetFailed {
        source: anyhow::Error,
        restart: Restart,
    },
    /// Reading or writing the cluster or the index failed.
    #[error("{0:#}")]
    Failed(#[from] anyhow::Error),
    #[error("the job's thread: {0}")]
    Thread(#[from] tokio::task::JoinError),
}

/// What the jobs need: the cluster, the topics and groups, the index, and the supervisor
/// (to stop and restart one of our own workers around a reset of its group).
#[derive(Clone)]
pub struct JobContext {
    pub cluster: Cluster,
    /// The process's producer (`Services::producer`), or why there is none.
    pub producer: Result<EventProducer, ProducerUnavailable>,
    pub config: Config,
    pub index: Arc<dyn SearchIndex>,
    pub commands: mpsc::Sender<Command>,
}

/// Serves jobs until the request channel closes; each runs in its own task, so a long
/// re-drive does not hold up a trace.
pub async fn run_jobs(
    context: JobContext,
    mut jobs: mpsc::Receiver<Job>,
    done: mpsc::Sender<JobDone>,
) {
    while let Some(job) = jobs.recv().await {
        let (context, done) = (context.clone(), done.clone());
        tokio::spawn(async move {
            let _ = done.send(run(&context, job).await).await;
        });
    }
}

async fn run(ctx: &JobContext, job: Job) -> JobDone {
    match job {
        Job::Trace { message_id } => {
            let result = trace(&ctx.cluster, &ctx.config, ctx.index.as_ref(), &message_id)
                .await
                .map(Box::new)
                .map_err(JobError::from);
            JobDone::Traced { message_id, result }
        }
        Job::Redrive { filter, dry_run } => {
            let options = RedriveOptions {
                filter: filter.clone(),
                rate: super::redrive::DEFAULT_RATE,
                max_redrives: super::redrive::DEFAULT_MAX_REDRIVES,
                dry_run,
            };
            let result = match &ctx.producer {
                Ok(producer) => redrive(&ctx.cluster, &ctx.config.topics.dlq, producer, &options)
                    .await
                    .map_err(JobError::from),
                Err(e) => Err(e.clone().into()),
            };
            JobDone::Redriven { filter, result }
        }
        Job::RedriveOne { dead } => JobDone::RedrivenOne(redrive_single(ctx, &dead).await),
        Job::PlanReset {
            group,
            topics,
            to,
            label,
        } => {
            let (c, g) = (ctx.cluster.clone(), group.clone());
            let result =
                match tokio::task::spawn_blocking(move || read_plan(&c, &g, &topics, to)).await {
                    Ok(plan) => plan.map_err(JobError::from),
                    Err(e) => Err(e.into()),
                };
            JobDone::ResetPlanned {
                group,
                to: label,
                result,
            }
        }
        Job::ApplyReset { group, rows } => {
            let result = apply_reset(ctx, &group, rows).await;
            JobDone::ResetApplied { group, result }
        }
    }
}

async fn redrive_single(ctx: &JobContext, dead: &Record) -> Result<RedroveOne, JobError> {
    let producer = ctx.producer.as_ref().map_err(|e| e.clone())?;
    let place = super::redrive::marker(dead);
    match redrive_one(producer, dead, super::redrive::DEFAULT_MAX_REDRIVES).await? {
        Ok(topic) => Ok(RedroveOne { place, topic }),
        Err(Decision::Hold { redrives }) => Err(JobError::Held { place, redrives }),
        Err(_) => Err(JobError::NoSource { place }),
    }
}

/// The group a worker of ours consumes as; `None` for those that consume nothing.
pub fn group_of(config: &Config, worker: WorkerId) -> Option<String> {
    let g = &config.groups;
    Some(
        match worker {
            WorkerId::Indexer => &g.indexer,
            WorkerId::Notifier => &g.notifier,
            WorkerId::Archive => &g.archive,
            WorkerId::State => &g.state,
            WorkerId::Analytics => &g.analytics,
            WorkerId::Producer | WorkerId::Relay => return None,
        }
        .clone(),
    )
}

/// Which of our workers consumes as `group`, if any.
pub fn own_worker(config: &Config, group: &str) -> Option<WorkerId> {
    WorkerId::ALL
        .into_iter()
        .find(|&w| group_of(config, w).as_deref() == Some(group))
}

/// Applies a reset; for one of our own groups the worker is stopped first through the
/// supervisor (it commits and leaves the group) and started again afterwards, whatever the
/// reset's outcome.
async fn apply_reset(
    ctx: &JobContext,
    group: &str,
    rows: Vec<ResetRow>,
) -> Result<ResetDone, JobError> {
    // Refused before our worker is stopped for nothing.
    super::reset::offered(&ctx.cluster, group)?;
    let worker = own_worker(&ctx.config, group);
    if let Some(worker) = worker {
        control(ctx, worker, Control::Stop)
            .await
            .map_err(|source| JobError::NotStopped { worker, source })?;
    }
    let (c, g) = (ctx.cluster.clone(), group.to_string());
    let applied = match tokio::task::spawn_blocking(move || apply(&c, &g, &rows)).await {
        Ok(applied) => applied,
        Err(e) => Err(e.into()),
    };
    let restart = match worker {
        Some(worker) => Some((worker, control(ctx, worker, Control::Start).await)),
        None => None,
    };
    match applied {
        Ok(()) => Ok(ResetDone { restart }),
        Err(source) => Err(JobError::ResetFailed { source, restart }),
    }
}

async fn control(ctx: &JobContext, worker: WorkerId, control: Control) -> Result<(), ControlError> {
    let (tx, rx) = oneshot::channel();
    ctx.commands
        .send(Command::Control {
            worker,
            control,
            reply: Some(tx),
        })
        .await
        .map_err(|_| ControlError::SupervisorGone)?;
    rx.await.unwrap_or(Err(ControlError::SupervisorGone))
}
