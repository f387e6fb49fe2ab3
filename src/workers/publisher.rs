//! The producer worker: publishes the message events it is given (console, CLI, load
//! generator) keyed by channel, counts deliveries without awaiting them one by one, and
//! reports failures instead of dropping them silently.

use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::producer::DeliveryFuture;
use tokio::sync::{mpsc, oneshot, watch};

use super::loadgen::LoadGenerator;
use super::report::{Reporter, WorkerEvent, WorkerState};
use crate::bus::producer::{resolve, Delivered, EventProducer, ProduceError};
use crate::config::{LoadgenConfig, TopicsConfig};
use crate::event::{envelope, Envelope, MessageEvent};

/// Why an event was not published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("encoding the event: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("{0}")]
    Produce(#[from] ProduceError),
}

/// What the console and the CLI ask the pipeline to do.
#[derive(Debug)]
pub enum Command {
    /// Publish an event; the reply (if asked) says where it landed.
    Publish {
        event: MessageEvent,
        reply: Option<oneshot::Sender<Result<Delivered, PublishError>>>,
    },
    /// Turn the load generator on or off.
    SetLoad(bool),
    /// Events per second of the load generator.
    SetRate(u32),
}

#[derive(Clone)]
pub struct Publisher {
    pub producer: EventProducer,
    pub topics: TopicsConfig,
}

impl Publisher {
    pub fn topic_for(&self, event: &MessageEvent) -> &str {
        match event {
            MessageEvent::Created(_) => &self.topics.created,
            MessageEvent::Updated(_) => &self.topics.updated,
            MessageEvent::Deleted(_) => &self.topics.deleted,
        }
    }

    /// The envelope the platform guide specifies, for `event`.
    pub fn wrap(event: &MessageEvent) -> Envelope {
        match event {
            MessageEvent::Created(p) => envelope("message.created", p),
            MessageEvent::Updated(p) => envelope("message.updated", p),
            MessageEvent::Deleted(p) => envelope("message.deleted", p),
        }
    }

    /// Enqueues `event` on its topic, keyed by channel so a channel's events stay in order.
    pub async fn enqueue(&self, event: &MessageEvent) -> Result<DeliveryFuture, PublishError> {
        let env = Self::wrap(event);
        let bytes = serde_json::to_vec(&env)?;
        let key = match event {
            MessageEvent::Created(p) => &p.channel_id,
            MessageEvent::Updated(p) => &p.channel_id,
            MessageEvent::Deleted(p) => &p.channel_id,
        };
        Ok(self
            .producer
            .enqueue_keyed(self.topic_for(event), key, &bytes)
            .await?)
    }
}

/// Runs until shutdown; on shutdown waits (bounded) for the deliveries still in flight.
pub async fn run_publisher(
    publisher: Publisher,
    loadgen_config: LoadgenConfig,
    mut commands: mpsc::Receiver<Command>,
    reporter: Reporter,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    const WORKER: &str = "producer";
    reporter.state(WORKER, WorkerState::Running);
    let mut in_flight = FuturesUnordered::new();
    let mut load = LoadGenerator::new(loadgen_config);
    let mut load_on = false;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut report_tick = tokio::time::interval(Duration::from_millis(250));
    let (mut ok, mut failed, mut last_error) = (0u64, 0u64, None::<String>);
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            cmd = commands.recv() => match cmd {
                None => break,
                Some(Command::Publish { event, reply }) => match publisher.enqueue(&event).await {
                    Ok(d) => in_flight.push(track(d, reply)),
                    Err(e) => {
                        failed += 1;
                        last_error = Some(e.to_string());
                        if let Some(r) = reply { let _ = r.send(Err(e)); }
                    }
                },
                Some(Command::SetLoad(on)) => { load_on = on; load.reset_clock(); }
                Some(Command::SetRate(rate)) => load.set_rate(rate),
            },
            _ = tick.tick(), if load_on => {
                for event in load.due(std::time::Instant::now()) {
                    match publisher.enqueue(&event).await {
                        Ok(d) => in_flight.push(track(d, None)),
                        Err(e) => { failed += 1; last_error = Some(e.to_string()); }
                    }
                }
            },
            Some(result) = in_flight.next(), if !in_flight.is_empty() => match result {
                Ok(()) => ok += 1,
                Err(e) => { failed += 1; last_error = Some(e.to_string()); }
            },
            _ = report_tick.tick() => {
                if ok > 0 || failed > 0 {
                    reporter.send(WorkerEvent::Produced { ok, failed, last_error: last_error.take() });
                    ok = 0;
                    failed = 0;
                }
            }
        }
    }
    let drain = async {
        while let Some(result) = in_flight.next().await {
            match result {
                Ok(()) => ok += 1,
                Err(e) => {
                    failed += 1;
                    last_error = Some(e.to_string());
                }
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), drain).await;
    reporter.send(WorkerEvent::Produced {
        ok,
        failed,
        last_error,
    });
    reporter.state(WORKER, WorkerState::Stopped);
    Ok(())
}

async fn track(
    delivery: DeliveryFuture,
    reply: Option<oneshot::Sender<Result<Delivered, PublishError>>>,
) -> Result<(), ProduceError> {
    let result = resolve(delivery).await;
    let summary = result.as_ref().map(|_| ()).map_err(Clone::clone);
    if let Some(r) = reply {
        let _ = r.send(result.map_err(PublishError::from));
    }
    summary
}
