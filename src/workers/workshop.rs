//! How each worker is built and started: the pipeline's table. A [`Workshop`] holds what
//! every worker needs (configuration, cluster, search index, data directory) and can start
//! any worker of [`WorkerId`] again and again — the supervisor restarts workers through it.
//! Adding a worker is one [`WorkerId`] variant and one row of [`TABLE`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::analyst::Analyst;
use super::archiver::{Archiver, ARCHIVE_DIR};
use super::batch::BatchLimits;
use super::consumer::{run_pipelined_worker, run_worker, BatchHandler, ConsumerSpec, Lifecycle};
use super::dlq::DeadLetters;
use super::indexer::{IndexWriter, Indexer};
use super::notifier::{Notifier, SentMemory};
use super::publisher::{run_publisher, Publisher, PublisherRequest};
use super::relay::{run_relay, Relay};
use super::report::Reporter;
use super::state_keeper::StateKeeper;
use crate::bus::producer::{EventProducer, ProducerUnavailable};
use crate::bus::Cluster;
use crate::config::Config;
use crate::monitor::cqrs::CqrsMeter;
use crate::ops::WorkerId;
use crate::search::SearchIndex;
use crate::store::{SharedStore, StoreUnavailable};

/// Requests the producer worker can queue before a sender is told it is busy.
const PUBLISH_QUEUE: usize = 1024;
/// Outbox entries per relay claim.
const RELAY_BATCH: usize = 500;
/// How soon an idle relay looks at the outbox again after finding it empty; each empty look
/// doubles the wait up to [`RELAY_IDLE_MAX`]. A commit in this process wakes it at once
/// (`store::notifying`), so these only bound the delay for commits made by other processes
/// (another eventdeck on the same PostgreSQL): 50 ms while busy, at most 1 s when idle —
/// polling at 50 ms always cost ~1.4 % of a core doing nothing.
const RELAY_IDLE: Duration = Duration::from_millis(50);
const RELAY_IDLE_MAX: Duration = Duration::from_secs(1);

/// A started worker: its task and, for the producer, where its requests go.
pub struct Started {
    pub task: JoinHandle<anyhow::Result<()>>,
    pub requests: Option<mpsc::Sender<PublisherRequest>>,
}

pub type StartFn = fn(&Workshop, Reporter, Lifecycle) -> anyhow::Result<Started>;

/// One row per worker: the pipeline is built from this table, in this order.
pub const TABLE: [(WorkerId, StartFn); 7] = [
    (WorkerId::Producer, Workshop::start_producer),
    (WorkerId::Indexer, Workshop::start_indexer),
    (WorkerId::Notifier, Workshop::start_notifier),
    (WorkerId::Relay, Workshop::start_relay),
    (WorkerId::Archive, Workshop::start_archive),
    (WorkerId::State, Workshop::start_state_keeper),
    (WorkerId::Analytics, Workshop::start_analyst),
];

/// What workers are built from; cheap to clone.
#[derive(Clone)]
pub struct Workshop {
    pub config: Config,
    /// The process's one producer (see `Services::producer`), or why there is none.
    pub producer: Result<EventProducer, ProducerUnavailable>,
    pub cluster: Cluster,
    pub index: Arc<dyn SearchIndex>,
    /// The data directory (its lock is held by the `Services` that made this workshop).
    pub data_dir: PathBuf,
    /// The write model, or why it could not be opened.
    pub store: Result<SharedStore, StoreUnavailable>,
    /// Raised by each commit of `store`: the relay publishes at once.
    pub committed: Arc<tokio::sync::Notify>,
    /// Write/read figures; the indexer records commit→searchable delays.
    pub meter: Arc<CqrsMeter>,
    /// The analytics worker's counters, read by the monitor.
    pub board: Arc<crate::analytics::Board>,
    /// The embedded broker's high-watermark watcher: consumers pause while idle (see
    /// `workers::idle`). `None` on a real cluster.
    pub high_water: Option<super::idle::HighWater>,
}

impl Workshop {
    /// The shared producer, or why there is none (a worker that needs one cannot start).
    fn producer(&self) -> anyhow::Result<EventProducer> {
        Ok(self.producer.clone()?)
    }

    /// Starts `worker` as its row of [`TABLE`] says.
    pub fn start(
        &self,
        worker: WorkerId,
        reporter: Reporter,
        lifecycle: Lifecycle,
    ) -> anyhow::Result<Started> {
        let start = TABLE
            .iter()
            .find(|(id, _)| *id == worker)
            .map(|(_, start)| *start)
            .ok_or_else(|| anyhow::anyhow!("{worker} has no row in the worker table"))?;
        let mut lifecycle = lifecycle;
        if lifecycle.idle.is_none() {
            lifecycle.idle = self.high_water.clone();
        }
        start(self, reporter, lifecycle)
    }

    fn limits(&self) -> BatchLimits {
        BatchLimits {
            max_records: self.config.indexer.batch_max_events,
            max_bytes: self.config.indexer.batch_max_bytes,
            max_age: Duration::from_millis(self.config.indexer.flush_interval_ms),
        }
    }

    fn retry_backoff(&self) -> Duration {
        Duration::from_millis(self.config.indexer.retry_backoff_ms)
    }

    /// The group, topics and batching of a consuming worker; `None` for the producer.
    pub fn consumer_spec(&self, worker: WorkerId) -> Option<ConsumerSpec> {
        let (group, topics) = match worker {
            WorkerId::Producer | WorkerId::Relay => return None,
            WorkerId::Indexer => (
                self.config.groups.indexer.clone(),
                self.config
                    .message_topics()
                    .iter()
                    .map(|t| t.to_string())
                    .collect(),
            ),
            WorkerId::Archive => (
                self.config.groups.archive.clone(),
                self.config
                    .all_topics()
                    .iter()
                    .map(|t| t.to_string())
                    .collect(),
            ),
            WorkerId::State => (
                self.config.groups.state.clone(),
                self.config
                    .message_topics()
                    .iter()
                    .map(|t| t.to_string())
                    .collect(),
            ),
            WorkerId::Analytics => (
                self.config.groups.analytics.clone(),
                self.config
                    .message_topics()
                    .iter()
                    .map(|t| t.to_string())
                    .chain([self.config.topics.user_activity.clone()])
                    .collect(),
            ),
            WorkerId::Notifier => (
                self.config.groups.notifier.clone(),
                vec![
                    self.config.topics.created.clone(),
                    self.config.topics.updated.clone(),
                ],
            ),
        };
        Some(ConsumerSpec {
            worker,
            group,
            topics,
            limits: self.limits(),
            retry_backoff: self.retry_backoff(),
            in_flight: match worker {
                WorkerId::Indexer => self.config.indexer.in_flight,
                _ => 1,
            },
        })
    }

    fn spec(&self, worker: WorkerId) -> anyhow::Result<ConsumerSpec> {
        self.consumer_spec(worker)
            .ok_or_else(|| anyhow::anyhow!("{worker} consumes nothing"))
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
            worker: spec.worker,
            reporter: reporter.clone(),
        }
    }

    pub fn publisher(&self) -> anyhow::Result<Publisher> {
        Ok(Publisher {
            producer: self.producer()?,
            topics: self.config.topics.clone(),
        })
    }

    fn start_producer(&self, reporter: Reporter, lifecycle: Lifecycle) -> anyhow::Result<Started> {
        let (requests, request_rx) = mpsc::channel(PUBLISH_QUEUE);
        let task = tokio::spawn(run_publisher(
            self.publisher()?,
            self.store.as_ref().ok().cloned(),
            self.meter.clone(),
            self.config.loadgen.clone(),
            request_rx,
            reporter,
            lifecycle.shutdown,
        ));
        Ok(Started {
            task,
            requests: Some(requests),
        })
    }

    fn start_relay(&self, reporter: Reporter, lifecycle: Lifecycle) -> anyhow::Result<Started> {
        let store = match &self.store {
            Ok(store) => store.clone(),
            Err(why) => anyhow::bail!("no write store: {why}"),
        };
        let relay = Relay {
            store,
            producer: self.producer()?,
            batch: RELAY_BATCH,
            idle: RELAY_IDLE,
            idle_max: RELAY_IDLE_MAX,
            committed: self.committed.clone(),
            retry_backoff: self.retry_backoff(),
        };
        Ok(Started {
            task: tokio::spawn(run_relay(relay, reporter, lifecycle.shutdown)),
            requests: None,
        })
    }

    fn start_indexer(&self, reporter: Reporter, lifecycle: Lifecycle) -> anyhow::Result<Started> {
        let spec = self.spec(WorkerId::Indexer)?;
        let producer = self.producer()?;
        let handler = Indexer::new(
            IndexWriter {
                index: self.index.clone(),
                max_retries: self.config.indexer.max_retries,
                retry_backoff: self.retry_backoff(),
            },
            self.meter.clone(),
        );
        let dead_letters = self.dead_letters(producer, &spec, &reporter);
        let task = tokio::spawn(run_pipelined_worker(
            self.cluster.clone(),
            spec,
            handler,
            dead_letters,
            reporter,
            lifecycle,
        ));
        Ok(Started {
            task,
            requests: None,
        })
    }

    fn start_notifier(&self, reporter: Reporter, lifecycle: Lifecycle) -> anyhow::Result<Started> {
        let spec = self.spec(WorkerId::Notifier)?;
        let memory = SentMemory::open_with(
            self.data_dir.join("notified.tsv"),
            self.config.notifier.memory_retention(),
        )?;
        let producer = self.producer()?;
        let handler = Notifier {
            producer: producer.clone(),
            topic: self.config.topics.notifications.clone(),
            memory,
            reporter: reporter.clone(),
            cluster: self.cluster.clone(),
        };
        Ok(self.spawn_consumer(spec, handler, producer, reporter, lifecycle))
    }

    fn start_archive(&self, reporter: Reporter, lifecycle: Lifecycle) -> anyhow::Result<Started> {
        let spec = self.spec(WorkerId::Archive)?;
        let producer = self.producer()?;
        let handler = Archiver {
            root: self.data_dir.join(ARCHIVE_DIR),
        };
        Ok(self.spawn_consumer(spec, handler, producer, reporter, lifecycle))
    }

    fn start_state_keeper(
        &self,
        reporter: Reporter,
        lifecycle: Lifecycle,
    ) -> anyhow::Result<Started> {
        let spec = self.spec(WorkerId::State)?;
        let producer = self.producer()?;
        let handler = StateKeeper {
            producer: producer.clone(),
            cluster: self.cluster.clone(),
            topic: self.config.topics.state.clone(),
            docs: None,
        };
        Ok(self.spawn_consumer(spec, handler, producer, reporter, lifecycle))
    }

    fn start_analyst(&self, reporter: Reporter, lifecycle: Lifecycle) -> anyhow::Result<Started> {
        let spec = self.spec(WorkerId::Analytics)?;
        let producer = self.producer()?;
        let handler = Analyst {
            board: self.board.clone(),
        };
        Ok(self.spawn_consumer(spec, handler, producer, reporter, lifecycle))
    }

    /// Runs a consuming worker's loop, its poison dead-lettered through `producer`.
    fn spawn_consumer<H: BatchHandler + 'static>(
        &self,
        spec: ConsumerSpec,
        handler: H,
        producer: EventProducer,
        reporter: Reporter,
        lifecycle: Lifecycle,
    ) -> Started {
        let dead_letters = self.dead_letters(producer, &spec, &reporter);
        let task = tokio::spawn(run_worker(
            self.cluster.clone(),
            spec,
            handler,
            dead_letters,
            reporter,
            lifecycle,
        ));
        Started {
            task,
            requests: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_worker_has_exactly_one_row() {
        for id in WorkerId::ALL {
            assert_eq!(TABLE.iter().filter(|(w, _)| *w == id).count(), 1, "{id}");
        }
        assert_eq!(TABLE.len(), WorkerId::ALL.len());
    }
}
