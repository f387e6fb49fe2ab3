//! Starts what the configuration asks for — the embedded broker or a cluster, the local index
//! or Elasticsearch — creates missing topics and the index, and runs the workers until asked
//! to stop. `eventdeck run` and the console share it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::batch::BatchLimits;
use super::consumer::{run_worker, ConsumerSpec};
use super::dlq::DeadLetters;
use super::indexer::Indexer;
use super::notifier::{Notifier, SentMemory};
use super::publisher::{run_publisher, Command, Publisher};
use super::report::Reporter;
use crate::bus::admin::ensure_topics;
use crate::bus::producer::EventProducer;
use crate::bus::Cluster;
use crate::config::Config;
use crate::embedded::broker::EmbeddedBroker;
use crate::embedded::datadir::DataDir;
use crate::search::{self, SearchIndex};

/// File in the data directory holding the embedded broker's address, for `eventdeck send`
/// and other clients started while the console runs.
pub const BROKER_ADDR_FILE: &str = "broker.addr";

/// What the workers run against.
pub struct Services {
    pub config: Config,
    pub data_dir: DataDir,
    pub broker: Option<EmbeddedBroker>,
    pub cluster: Cluster,
    pub index: Arc<dyn SearchIndex>,
    /// Problems met at start that the workers will retry (an unreachable cluster, say).
    pub warnings: Vec<String>,
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
        let mut warnings = Vec::new();
        let topics = config.all_topics();
        match tokio::time::timeout(
            Duration::from_secs(15),
            ensure_topics(
                &cluster,
                &topics,
                config.topics.partitions,
                config.topics.replication_factor,
            ),
        )
        .await
        {
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
        if let Err(e) = index.ensure_index().await {
            warnings.push(format!("search index: {e}"));
        }
        for w in &warnings {
            tracing::warn!("{w}");
        }
        Ok(Services {
            config,
            data_dir,
            broker,
            cluster,
            index,
            warnings,
        })
    }

    fn limits(&self) -> BatchLimits {
        BatchLimits {
            max_records: self.config.indexer.batch_max_events,
            max_bytes: self.config.indexer.batch_max_bytes,
            max_age: Duration::from_millis(self.config.indexer.flush_interval_ms),
        }
    }

    /// The dead-letter topic as the consumer loop of `spec`'s worker uses it.
    fn dead_letters(
        &self,
        producer: EventProducer,
        spec: &ConsumerSpec,
        reporter: &Reporter,
    ) -> DeadLetters {
        DeadLetters {
            producer,
            topic: self.config.topics.dlq.clone(),
            worker: spec.worker.clone(),
            reporter: reporter.clone(),
        }
    }

    pub fn indexer_spec(&self) -> ConsumerSpec {
        ConsumerSpec {
            worker: "indexer".into(),
            group: self.config.groups.indexer.clone(),
            topics: self
                .config
                .message_topics()
                .iter()
                .map(|t| t.to_string())
                .collect(),
            limits: self.limits(),
            retry_backoff: Duration::from_millis(self.config.indexer.retry_backoff_ms),
        }
    }

    pub fn notifier_spec(&self) -> ConsumerSpec {
        ConsumerSpec {
            worker: "notifier".into(),
            group: self.config.groups.notifier.clone(),
            topics: vec![
                self.config.topics.created.clone(),
                self.config.topics.updated.clone(),
            ],
            limits: self.limits(),
            retry_backoff: Duration::from_millis(self.config.indexer.retry_backoff_ms),
        }
    }

    pub fn spawn_indexer(
        &self,
        reporter: Reporter,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<JoinHandle<anyhow::Result<()>>> {
        let producer = EventProducer::new(&self.cluster, &self.config.producer, "indexer-dlq")?;
        let spec = self.indexer_spec();
        let dead_letters = self.dead_letters(producer, &spec, &reporter);
        let handler = Indexer {
            index: self.index.clone(),
            max_retries: self.config.indexer.max_retries,
            retry_backoff: Duration::from_millis(self.config.indexer.retry_backoff_ms),
        };
        Ok(tokio::spawn(run_worker(
            self.cluster.clone(),
            spec,
            handler,
            dead_letters,
            reporter,
            shutdown,
        )))
    }

    pub fn spawn_notifier(
        &self,
        reporter: Reporter,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<JoinHandle<anyhow::Result<()>>> {
        let memory = SentMemory::open_with(
            self.data_dir.join("notified.tsv"),
            self.config.notifier.memory_retention(),
        )?;
        let producer = EventProducer::new(&self.cluster, &self.config.producer, "notifier")?;
        let spec = self.notifier_spec();
        let dead_letters = self.dead_letters(producer.clone(), &spec, &reporter);
        let handler = Notifier {
            producer,
            topic: self.config.topics.notifications.clone(),
            memory,
            reporter: reporter.clone(),
            cluster: self.cluster.clone(),
        };
        Ok(tokio::spawn(run_worker(
            self.cluster.clone(),
            spec,
            handler,
            dead_letters,
            reporter,
            shutdown,
        )))
    }

    pub fn publisher(&self) -> anyhow::Result<Publisher> {
        Ok(Publisher {
            producer: EventProducer::new(&self.cluster, &self.config.producer, "producer")?,
            topics: self.config.topics.clone(),
        })
    }

    /// Starts the producer, indexer and notifier.
    pub fn spawn_pipeline(&self, reporter: Reporter) -> anyhow::Result<Pipeline> {
        let (shutdown, rx) = watch::channel(false);
        let (commands, command_rx) = mpsc::channel(1024);
        let mut tasks = vec![(
            "indexer".to_string(),
            self.spawn_indexer(reporter.clone(), rx.clone())?,
        )];
        tasks.push((
            "notifier".to_string(),
            self.spawn_notifier(reporter.clone(), rx.clone())?,
        ));
        tasks.push((
            "producer".to_string(),
            tokio::spawn(run_publisher(
                self.publisher()?,
                self.config.loadgen.clone(),
                command_rx,
                reporter,
                rx,
            )),
        ));
        Ok(Pipeline {
            commands,
            shutdown,
            tasks,
        })
    }
}

/// The running workers.
pub struct Pipeline {
    pub commands: mpsc::Sender<Command>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<(String, JoinHandle<anyhow::Result<()>>)>,
}

impl Pipeline {
    /// Stops fetching, flushes open batches, commits, leaves the groups. Returns the errors
    /// of workers that failed.
    pub async fn stop(self) -> Vec<String> {
        let _ = self.shutdown.send(true);
        let mut errors = Vec::new();
        for (name, task) in self.tasks {
            match tokio::time::timeout(Duration::from_secs(30), task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => errors.push(format!("{name}: {e:#}")),
                Ok(Err(e)) => errors.push(format!("{name}: {e}")),
                Err(_) => errors.push(format!("{name}: did not stop within 30 s")),
            }
        }
        errors
    }
}
