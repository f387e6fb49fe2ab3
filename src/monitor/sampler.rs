//! The monitor task: every interval it reads a sample from the cluster (blocking rdkafka
//! calls inside `spawn_blocking`), asks the search index for its count, folds the workers'
//! reports as they arrive, and publishes a [`Snapshot`] on a watch channel. Nothing here
//! blocks an async thread, and no failure stops the loop: it shows in the snapshot.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::cqrs::CqrsMeter;
use super::engine::Engine;
use super::options::MonitorOptions;
use super::reader::{ClusterReader, ReaderError};
use super::sample::{ClusterSample, DescribedGroup};
use super::snapshot::{Health, OutboxStatus, Snapshot};
use super::topic_config::{DescribeError, TopicConfig};
use crate::bus::Cluster;
use crate::event::now_ms;
use crate::search::SearchIndex;
use crate::store::{MessageStore, SharedStore};
use crate::workers::report::WorkerEvent;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;

/// Snapshots that only carry new worker reports are published at most this often.
const EVENT_PUBLISH_EVERY: Duration = Duration::from_millis(200);

/// Why the monitor could not sample at all (a failure of one figure shows in the snapshot).
#[derive(Debug, thiserror::Error)]
pub enum SamplerError {
    #[error("cannot create Kafka clients: {0:#}")]
    Clients(#[source] anyhow::Error),
    #[error("cannot create Kafka clients: {0}")]
    ClientsTask(#[source] tokio::task::JoinError),
    #[error("{0}")]
    Reader(#[from] ReaderError),
    #[error("describe groups: {0}")]
    DescribeTask(#[source] tokio::task::JoinError),
}

/// A group description as the background job answers it.
type Described = Result<Vec<DescribedGroup>, ReaderError>;

/// What the monitor watches and where its inputs come from.
pub struct MonitorSetup {
    pub cluster: Cluster,
    pub options: MonitorOptions,
    /// The search index, for its document count and health; None for client commands.
    pub index: Option<Arc<dyn SearchIndex>>,
    /// The workers' reports; None when no worker runs in this process.
    pub events: Option<mpsc::UnboundedReceiver<WorkerEvent>>,
    /// The write model, for its outbox backlog.
    pub store: Option<SharedStore>,
    /// Write vs read figures, when this process serves commands or searches.
    pub meter: Option<Arc<CqrsMeter>>,
    /// The analytics worker's counters, when it runs in this process.
    pub board: Option<Arc<crate::analytics::Board>>,
}

impl MonitorSetup {
    pub fn new(cluster: Cluster, options: MonitorOptions) -> Self {
        Self {
            cluster,
            options,
            index: None,
            events: None,
            store: None,
            meter: None,
            board: None,
        }
    }

    pub fn with_board(mut self, board: Arc<crate::analytics::Board>) -> Self {
        self.board = Some(board);
        self
    }

    pub fn with_store(mut self, store: SharedStore) -> Self {
        self.store = Some(store);
        self
    }

    pub fn with_meter(mut self, meter: Arc<CqrsMeter>) -> Self {
        self.meter = Some(meter);
        self
    }

    pub fn with_index(mut self, index: Arc<dyn SearchIndex>) -> Self {
        self.index = Some(index);
        self
    }

    pub fn with_events(mut self, events: mpsc::UnboundedReceiver<WorkerEvent>) -> Self {
        self.events = Some(events);
        self
    }
}

/// Starts the monitor. The first snapshot is the empty one; a sampled one follows within an
/// interval. The task ends when every receiver is dropped (or when aborted).
pub fn spawn_monitor(setup: MonitorSetup) -> (watch::Receiver<Snapshot>, JoinHandle<()>) {
    let search = setup
        .index
        .as_ref()
        .map(|i| i.describe())
        .unwrap_or_else(|| "no search index".into());
    let engine = Engine::new(setup.options.clone(), &setup.cluster.describe(), &search);
    let (tx, rx) = watch::channel(engine.snapshot());
    let task = tokio::spawn(run(setup, engine, tx));
    (rx, task)
}

async fn run(setup: MonitorSetup, mut engine: Engine, tx: watch::Sender<Snapshot>) {
    let MonitorSetup {
        cluster,
        options,
        index,
        mut events,
        store,
        meter,
        board,
    } = setup;
    let mut reader: Option<Arc<ClusterReader>> = None;
    let mut describing: Option<JoinHandle<Described>> = None;
    let mut described_at: Option<(Instant, i64)> = None;
    let mut configs = ConfigPoll::default();
    let mut tick = tokio::time::interval(options.interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut publish = tokio::time::interval(EVENT_PUBLISH_EVERY);
    let mut dirty = false;
    loop {
        tokio::select! {
            _ = tx.closed() => break,
            event = recv(&mut events) => match event {
                Some(e) => {
                    engine.fold_event(e, now_ms());
                    dirty = true;
                }
                None => events = None,
            },
            _ = publish.tick(), if dirty => {
                tx.send_replace(engine.snapshot());
                dirty = false;
            }
            _ = tick.tick() => {
                let r = match &reader {
                    Some(r) => r.clone(),
                    None => match connect(&cluster, &options).await {
                        Ok(r) => reader.insert(r).clone(),
                        Err(e) => {
                            engine.ingest(failed_sample(e.to_string()));
                            tx.send_replace(engine.snapshot());
                            continue;
                        }
                    },
                };
                let (mut sample, search) = sample_once(&r, &engine, index.as_deref()).await;
                if let Some((health, count)) = search {
                    engine.set_search(health, count);
                }
                if let Some(store) = &store {
                    engine.set_outbox(outbox_status(store.as_ref()).await);
                }
                if let Some(meter) = &meter {
                    engine.set_cqrs(meter.figures());
                }
                if let Some(board) = &board {
                    engine.set_analytics(board.summary(crate::event::now_ms()));
                }
                if options.describe_groups {
                    // The sample keeps the error as the text it shows.
                    if let Some((asked_ms, described)) =
                        poll_describe(&r, &options, &mut describing, &mut described_at).await
                    {
                        sample.described = Some(described.map_err(|e| e.to_string()));
                        sample.described_ms = Some(asked_ms);
                    }
                }
                engine.ingest(sample);
                if let Some(described) = configs.poll(&cluster, engine.topic_names()).await {
                    engine.set_topic_configs(described);
                }
                tx.send_replace(engine.snapshot());
                dirty = false;
            }
        }
    }
    if let Some(job) = describing {
        job.abort();
    }
    if let Some(job) = configs.job {
        job.abort();
    }
}

/// How often the topics' retention and cleanup policy are read again.
const CONFIGS_EVERY: Duration = Duration::from_secs(60);

/// The topic configurations, described in the background every [`CONFIGS_EVERY`] (and as
/// soon as new topics appear); a finished answer joins the next snapshot.
#[derive(Default)]
struct ConfigPoll {
    job: Option<JoinHandle<Result<BTreeMap<String, TopicConfig>, DescribeError>>>,
    started: Option<Instant>,
    asked_for: Vec<String>,
    /// One admin client for the life of the sampler (made at the first look).
    admin: Option<Arc<AdminClient<DefaultClientContext>>>,
}

impl ConfigPoll {
    async fn poll(
        &mut self,
        cluster: &Cluster,
        topics: Vec<String>,
    ) -> Option<BTreeMap<String, TopicConfig>> {
        let mut answer = None;
        if self.job.as_ref().is_some_and(|j| j.is_finished()) {
            if let Some(j) = self.job.take() {
                match j.await {
                    Ok(Ok(configs)) => answer = Some(configs),
                    // Kept quiet: the columns stay "–" and the log says why once a minute.
                    Ok(Err(e)) => tracing::debug!("topic configurations: {e}"),
                    Err(e) => tracing::debug!("topic configurations: {e}"),
                }
            }
        }
        let due = self.started.is_none_or(|t| t.elapsed() >= CONFIGS_EVERY);
        let new_topics = topics != self.asked_for;
        if self.job.is_none() && !topics.is_empty() && (due || new_topics) {
            self.started = Some(Instant::now());
            let admin = match &self.admin {
                Some(admin) => admin.clone(),
                None => match super::topic_config::admin(cluster) {
                    Ok(admin) => self.admin.insert(Arc::new(admin)).clone(),
                    Err(e) => {
                        tracing::debug!("topic configurations: {e}");
                        return answer;
                    }
                },
            };
            self.asked_for = topics.clone();
            self.job = Some(tokio::spawn(async move {
                super::topic_config::describe(&admin, &topics).await
            }));
        }
        answer
    }
}

async fn recv(events: &mut Option<mpsc::UnboundedReceiver<WorkerEvent>>) -> Option<WorkerEvent> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn connect(
    cluster: &Cluster,
    options: &MonitorOptions,
) -> Result<Arc<ClusterReader>, SamplerError> {
    let (cluster, options) = (cluster.clone(), options.clone());
    match tokio::task::spawn_blocking(move || ClusterReader::new(&cluster, options)).await {
        Ok(Ok(r)) => Ok(Arc::new(r)),
        Ok(Err(e)) => Err(SamplerError::Clients(e)),
        Err(e) => Err(SamplerError::ClientsTask(e)),
    }
}

fn failed_sample(error: String) -> ClusterSample {
    ClusterSample {
        taken_ms: now_ms(),
        metadata_error: Some(error),
        ..ClusterSample::default()
    }
}

/// One sample of the cluster and, at the same time, the index health and count.
async fn sample_once(
    reader: &Arc<ClusterReader>,
    engine: &Engine,
    index: Option<&dyn SearchIndex>,
) -> (ClusterSample, Option<(Health, Option<u64>)>) {
    let groups = engine.groups_to_watch();
    let r = reader.clone();
    let timeout = engine.options().call_timeout;
    let blocking = tokio::task::spawn_blocking(move || r.sample(&groups));
    let count = async {
        match index {
            None => None,
            Some(i) => Some(tokio::time::timeout(timeout, i.count()).await),
        }
    };
    let (sample, count) = tokio::join!(blocking, count);
    let search = count.map(|answer| match answer {
        Ok(Ok(n)) => (Health::Up, Some(n)),
        Ok(Err(e)) => (Health::Down(e.to_string()), None),
        Err(_) => (
            Health::Down(format!("no answer within {} s", timeout.as_secs())),
            None,
        ),
    });
    let sample = sample.unwrap_or_else(|e| failed_sample(format!("sampler failed: {e}")));
    (sample, search)
}

/// The group description runs in the background (slow on big clusters, unsupported by
/// some brokers) every `describe_every`; a finished answer joins the next sample.
async fn poll_describe(
    reader: &Arc<ClusterReader>,
    options: &MonitorOptions,
    job: &mut Option<JoinHandle<Described>>,
    started: &mut Option<(Instant, i64)>,
) -> Option<(i64, Result<Vec<DescribedGroup>, SamplerError>)> {
    let mut answer = None;
    if job.as_ref().is_some_and(|j| j.is_finished()) {
        if let (Some(j), Some((_, asked_ms))) = (job.take(), *started) {
            answer = Some((
                asked_ms,
                match j.await {
                    Ok(described) => described.map_err(SamplerError::from),
                    Err(e) => Err(SamplerError::DescribeTask(e)),
                },
            ));
        }
    }
    let due = started.is_none_or(|(t, _)| t.elapsed() >= options.describe_every);
    if job.is_none() && due {
        let r = reader.clone();
        *job = Some(tokio::task::spawn_blocking(move || r.describe_groups()));
        *started = Some((Instant::now(), now_ms()));
    }
    answer
}

/// For client commands (`eventdeck status`): `samples` samples one interval apart (rates
/// need two), evaluated into a snapshot. The wait between samples is the measurement.
pub async fn sample_now(
    cluster: &Cluster,
    options: MonitorOptions,
    samples: usize,
) -> Result<Snapshot, SamplerError> {
    let reader = connect(cluster, &options).await?;
    let mut engine = Engine::new(options.clone(), &cluster.describe(), "no search index");
    for i in 0..samples.max(1) {
        if i > 0 {
            tokio::time::sleep(options.interval).await;
        }
        let (mut sample, _) = sample_once(&reader, &engine, None).await;
        let down = sample.metadata_error.is_some();
        // Not when the cluster did not answer metadata: describing would wait out another
        // call timeout (it made `status` take 6 s to say a cluster was down, not 3).
        if options.describe_groups && i == 0 && !down {
            let r = reader.clone();
            sample.described = Some(
                match tokio::task::spawn_blocking(move || r.describe_groups()).await {
                    Ok(described) => described.map_err(|e| e.to_string()),
                    Err(e) => Err(SamplerError::DescribeTask(e).to_string()),
                },
            );
        }
        engine.ingest(sample);
        if down {
            // Unreachable: a second try would only double the wait.
            break;
        }
    }
    Ok(engine.snapshot())
}

/// The outbox backlog, bounded in time like every other probe of a sample.
pub async fn outbox_status(store: &dyn MessageStore) -> OutboxStatus {
    let answer = tokio::time::timeout(Duration::from_secs(2), store.backlog()).await;
    let (rows, oldest_age_ms, error) = match answer {
        Ok(Ok(b)) => (
            Some(b.rows),
            b.oldest_ms.map(|t| (now_ms() - t).max(0)),
            None,
        ),
        Ok(Err(e)) => (None, None, Some(e.to_string())),
        Err(_) => (
            None,
            None,
            Some("the store did not answer within 2 s".into()),
        ),
    };
    OutboxStatus {
        store: store.describe(),
        rows,
        oldest_age_ms,
        error,
    }
}
