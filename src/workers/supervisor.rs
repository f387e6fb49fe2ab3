//! Starts what the configuration asks for — the embedded broker or a cluster, the local index
//! or Elasticsearch — creates missing topics and the index, and runs the chosen workers under
//! a supervisor (`control`) until asked to stop. `eventdeck run` and the console share it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::consumer::ConsumerSpec;
use super::control::Supervisor;
use super::publisher::Publisher;
use super::report::Reporter;
use super::workshop::Workshop;
use crate::analytics::activity::ActivityLog;
use crate::bus::admin::{ensure_compacted_topic, ensure_topics};
use crate::bus::producer::{EventProducer, ProducerUnavailable};
use crate::bus::Cluster;
use crate::config::Config;
use crate::embedded::broker::EmbeddedBroker;
use crate::embedded::datadir::DataDir;
use crate::monitor::cqrs::CqrsMeter;
use crate::ops::{Command, WorkerId};
use crate::search::{self, SearchIndex};
use crate::store::notifying::Notifying;
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{SharedStore, StoreUnavailable};

/// The store file of the embedded write model, in the data directory.
pub const STORE_FILE: &str = "store.db";

/// PostgreSQL when `[store] url` is set, else the embedded file.
pub async fn open_store(
    config: &Config,
    data_dir: &std::path::Path,
) -> Result<SharedStore, StoreUnavailable> {
    let topics = config.topics.clone();
    let store: SharedStore = if config.store.url.is_empty() {
        Arc::new(SqliteStore::open(&data_dir.join(STORE_FILE), topics).await?)
    } else {
        Arc::new(PgStore::open(&config.store.url, topics).await?)
    };
    Ok(store)
}

/// File in the data directory holding the embedded broker's address, for `eventdeck send`
/// and other clients started while the console runs.
pub const BROKER_ADDR_FILE: &str = "broker.addr";

/// What the workers run against.
pub struct Services {
    pub config: Config,
    pub data_dir: DataDir,
    /// The one producer every worker, the API and the activity log of this process share
    /// (an rdkafka producer is thread-safe and cheap to clone): one polling thread and one
    /// broker connection instead of one per worker — idle, each cost ~0.8 % of a core. Or
    /// why it could not be made. Declared before the broker, so dropped first.
    pub producer: Result<EventProducer, ProducerUnavailable>,
    /// Where the search side's activity events go (`None`: no producer could be made).
    pub activity: Option<crate::analytics::activity::ActivityLog>,
    pub broker: Option<EmbeddedBroker>,
    pub cluster: Cluster,
    pub index: Arc<dyn SearchIndex>,
    /// The write model, or why it could not be opened (the relay then reports that).
    pub store: Result<SharedStore, StoreUnavailable>,
    /// Problems met at start that the workers will retry (an unreachable cluster, say).
    pub warnings: Vec<String>,
    /// Write vs read figures, shared by the API, the indexer and the monitor.
    pub meter: Arc<CqrsMeter>,
    /// The analytics worker's counters, shared with the monitor.
    pub board: Arc<crate::analytics::Board>,
    /// Raised by every command the store commits (see `store::notifying`): wakes the relay.
    pub committed: Arc<tokio::sync::Notify>,
    /// The embedded broker's high-watermark watcher (see `workers::idle`).
    pub high_water: Option<super::idle::HighWater>,
}

impl Services {
    pub async fn start(config: Config) -> anyhow::Result<Services> {
        let data_dir = DataDir::open(&config.data_dir())?;
        let broker = if config.uses_embedded_broker() {
            let b = EmbeddedBroker::start(data_dir.path(), config.kafka.embedded_port).await?;
            std::fs::write(data_dir.join(BROKER_ADDR_FILE), &b.address)?;
            Some(b)
        } else {
            None
        };
        let bootstrap = broker
            .as_ref()
            .map(|b| b.address.clone())
            .unwrap_or_else(|| config.kafka.brokers.clone());
        let cluster = Cluster::from_config(&config, bootstrap);
        let index = search::open_index(&config, data_dir.path())?;
        // The relay of this process hears of every commit made through it.
        let (store, committed) = match open_store(&config, data_dir.path()).await {
            Ok(store) => {
                let (store, committed) = Notifying::wrap(store);
                (Ok(store), committed)
            }
            Err(e) => (Err(e), Arc::default()),
        };
        let mut warnings = Vec::new();
        let topics = config.all_topics();
        let ensure = async {
            let mut created = ensure_topics(
                &cluster,
                &topics,
                config.topics.partitions,
                config.topics.replication_factor,
            )
            .await?;
            if ensure_compacted_topic(
                &cluster,
                &config.topics.state,
                config.topics.partitions,
                config.topics.replication_factor,
            )
            .await?
            {
                created.push(config.topics.state.clone());
            }
            Ok::<_, anyhow::Error>(created)
        };
        match tokio::time::timeout(Duration::from_secs(15), ensure).await {
            Ok(Ok(created)) if !created.is_empty() => {
                tracing::info!(?created, "created topics")
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warnings.push(format!("{e:#}")),
            Err(_) => warnings.push(format!(
                "{} did not answer within 15 s; workers keep retrying",
                cluster.describe()
            )),
        }
        match index.ensure_index().await {
            Err(e) => warnings.push(format!("search index: {e}")),
            // An index of an older eventdeck finds CJK words only whole: say how to fix it.
            Ok(()) => {
                if let Some(w) = index.analysis().await.ok().and_then(|a| a.warning()) {
                    warnings.push(w);
                }
            }
        }
        if let Err(e) = &store {
            warnings.push(format!("write store: {e}"));
        }
        let producer = EventProducer::new(&cluster, &config.producer, "producer")
            .map_err(|e| ProducerUnavailable(Arc::new(e)));
        let activity = match &producer {
            Ok(producer) => Some(ActivityLog {
                producer: producer.clone(),
                topic: config.topics.user_activity.clone(),
            }),
            Err(e) => {
                warnings.push(e.to_string());
                None
            }
        };
        // Only the embedded broker answers idle long polls by reading its storage.
        let high_water = if broker.is_some() {
            let mut topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
            topics.push(config.topics.state.clone());
            match super::idle::HighWater::spawn(&cluster, topics) {
                Ok(h) => Some(h),
                Err(e) => {
                    warnings.push(format!("idle pause off: {e}"));
                    None
                }
            }
        } else {
            None
        };
        for w in &warnings {
            tracing::warn!("{w}");
        }
        Ok(Services {
            config,
            data_dir,
            producer,
            activity,
            broker,
            cluster,
            index,
            store,
            warnings,
            meter: Arc::default(),
            board: Arc::default(),
            committed,
            high_water,
        })
    }

    /// What the workers are built from.
    pub fn workshop(&self) -> Workshop {
        Workshop {
            config: self.config.clone(),
            producer: self.producer.clone(),
            cluster: self.cluster.clone(),
            index: self.index.clone(),
            data_dir: self.data_dir.path().to_path_buf(),
            store: self.store.clone(),
            committed: self.committed.clone(),
            meter: self.meter.clone(),
            board: self.board.clone(),
            high_water: self.high_water.clone(),
        }
    }

    /// The indexer's group, topics and batching.
    pub fn indexer_spec(&self) -> ConsumerSpec {
        self.workshop()
            .consumer_spec(WorkerId::Indexer)
            .expect("the indexer consumes")
    }

    pub fn publisher(&self) -> anyhow::Result<Publisher> {
        self.workshop().publisher()
    }

    /// Starts one indexer outside any pipeline (tests, the benchmark).
    pub fn spawn_indexer(
        &self,
        reporter: Reporter,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<JoinHandle<anyhow::Result<()>>> {
        Ok(self
            .workshop()
            .start(WorkerId::Indexer, reporter, shutdown.into())?
            .task)
    }

    /// Starts one notifier outside any pipeline (tests).
    pub fn spawn_notifier(
        &self,
        reporter: Reporter,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<JoinHandle<anyhow::Result<()>>> {
        Ok(self
            .workshop()
            .start(WorkerId::Notifier, reporter, shutdown.into())?
            .task)
    }

    /// Starts every worker.
    pub fn spawn_pipeline(&self, reporter: Reporter) -> anyhow::Result<Pipeline> {
        self.spawn_workers(&self.config.default_workers(), reporter)
    }

    /// Starts the chosen workers (`run --workers`) under a supervisor that takes
    /// [`Command`]s: publishing goes to the producer, [`Command::Control`] to the supervisor.
    pub fn spawn_workers(
        &self,
        chosen: &[WorkerId],
        reporter: Reporter,
    ) -> anyhow::Result<Pipeline> {
        if let Some(broker) = &self.broker {
            tokio::spawn(post_broker_restarts(broker.health(), reporter.clone()));
        }
        let mut supervisor = Supervisor {
            workshop: self.workshop(),
            reporter,
            chosen: chosen.to_vec(),
            running: BTreeMap::new(),
            reindexing: None,
        };
        for id in WorkerId::ALL.into_iter().filter(|id| chosen.contains(id)) {
            // One worker that cannot start (no write store, an unwritable file) is shown
            // failed; the others run.
            if let Err(e) = supervisor.start(id) {
                tracing::error!(worker = %id, error = %e, "worker not started");
                supervisor.reporter.state(
                    id,
                    crate::ops::WorkerState::Failed {
                        error: e.to_string(),
                    },
                );
            }
        }
        let (commands, command_rx) = mpsc::channel(1024);
        let (shutdown, shutdown_rx) = watch::channel(false);
        // Other eventdeck processes ask through the data directory (replay --reindex).
        let remote =
            crate::remote::serve(self.data_dir.path(), commands.clone(), shutdown_rx.clone());
        let task = tokio::spawn(supervisor.run(command_rx, shutdown_rx));
        Ok(Pipeline {
            commands,
            shutdown,
            supervisor: task,
            remote,
        })
    }
}

/// Puts the embedded broker on the workers' board once it has been restarted, so that
/// `status` says so beside the workers. Ends with the broker.
async fn post_broker_restarts(
    mut health: watch::Receiver<crate::embedded::broker::BrokerHealth>,
    reporter: Reporter,
) {
    while health.changed().await.is_ok() {
        let h = health.borrow_and_update().clone();
        reporter.post(crate::monitor::snapshot::WorkerStatus {
            name: "embedded broker".into(),
            state: crate::ops::WorkerState::Running,
            processed: 0,
            errors: u64::from(h.restarts),
            last_error: h.last,
        });
    }
}

/// The running workers, behind their supervisor.
pub struct Pipeline {
    pub commands: mpsc::Sender<Command>,
    shutdown: watch::Sender<bool>,
    supervisor: JoinHandle<Vec<String>>,
    /// The control socket's server (`remote`), if it could bind.
    remote: Option<JoinHandle<()>>,
}

impl Pipeline {
    /// Stops fetching, flushes open batches, commits, leaves the groups. Returns the errors
    /// of workers that failed.
    pub async fn stop(self) -> Vec<String> {
        let _ = self.shutdown.send(true);
        if let Some(remote) = self.remote {
            let _ = remote.await;
        }
        match self.supervisor.await {
            Ok(errors) => errors,
            Err(e) => vec![format!("supervisor: {e}")],
        }
    }

    /// [`stop`](Self::stop), waiting at most `grace`. A worker still flushing then is an
    /// error; what it had not committed is read again at the next start.
    pub async fn stop_within(self, grace: crate::config::GraceSeconds) -> Vec<String> {
        match tokio::time::timeout(grace.duration(), self.stop()).await {
            Ok(errors) => errors,
            Err(_) => vec![format!(
                "not stopped within shutdown_grace_seconds ({} s): exiting anyway; what was \
                 not committed is read again at the next start",
                grace.0
            )],
        }
    }
}
