//! The producer worker: publishes the message events it is given keyed by channel, counts
//! deliveries without awaiting them one by one, and reports failures instead of dropping them
//! silently. Its load generator writes through the write model when there is one (each
//! generated message gets a row and an outbox entry, so the console can edit and delete it
//! like any other; the relay publishes), and straight to the topics when there is none.

use std::sync::Arc;
use std::time::Duration;

use crate::bus::producer::Delivery;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};

use super::loadgen::LoadGenerator;
use super::report::{Reporter, WorkerEvent, WorkerState};
use crate::bus::producer::{resolve, EventProducer, ProduceError};
use crate::config::{LoadgenConfig, TopicsConfig};
use crate::event::{MessageEvent, ParsedEvent};
use crate::monitor::cqrs::CqrsMeter;
use crate::ops::{Delivered, PublishError, WorkerId};
use crate::store::{
    Change, CommandError, DeleteMessage, EditMessage, PostMessage, SharedStore, StoreError,
};

/// What the supervisor hands the producer worker (the publishing part of [`crate::ops::Command`]).
#[derive(Debug)]
pub enum PublisherRequest {
    Publish {
        event: ParsedEvent,
        reply: Option<oneshot::Sender<Result<Delivered, PublishError>>>,
    },
    SetLoad(bool),
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

    /// Enqueues a minted event on its topic, keyed by channel so a channel's events stay in
    /// order. Enqueuing the same value again publishes the same envelope (a retry).
    pub async fn enqueue(&self, event: &ParsedEvent) -> Result<Delivery, PublishError> {
        let bytes = event.to_json()?;
        Ok(self
            .producer
            .enqueue_keyed(self.topic_for(&event.event), event.channel_id(), &bytes)
            .await?)
    }
}

/// Generated writes waiting for the store at once; past this the generator waits, so the
/// rate it reaches is what the write model sustains.
const MAX_LOAD_WRITES: usize = 64;

/// Commits one generated event through the write model under the generator's own id. An edit
/// or a delete of a message whose post is still in flight (or was deleted) is skipped, not
/// a failure: the generator picks recent messages at random.
async fn write_generated(
    store: SharedStore,
    meter: Arc<CqrsMeter>,
    event: MessageEvent,
) -> Result<(), StoreError> {
    let (id, change) = match event {
        MessageEvent::Created(c) => (
            c.message_id,
            Change::Post(PostMessage {
                channel_id: c.channel_id,
                author_id: c.author_id,
                content: c.content,
                attachments: c.attachments,
            }),
        ),
        MessageEvent::Updated(u) => (
            u.message_id,
            Change::Edit(EditMessage {
                content: u.content,
                editor_id: u.editor_id,
            }),
        ),
        MessageEvent::Deleted(d) => (
            d.message_id,
            Change::Delete(DeleteMessage {
                deleted_by: Some(d.deleted_by),
            }),
        ),
    };
    let started = std::time::Instant::now();
    match store.apply(&id, &change, None).await {
        Ok(_) => {
            meter.record_write(started.elapsed());
            Ok(())
        }
        Err(StoreError::Command(CommandError::NotFound(_) | CommandError::Deleted(_))) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Runs until shutdown; on shutdown waits (bounded) for the deliveries still in flight.
pub async fn run_publisher(
    publisher: Publisher,
    store: Option<SharedStore>,
    meter: Arc<CqrsMeter>,
    loadgen_config: LoadgenConfig,
    mut commands: mpsc::Receiver<PublisherRequest>,
    reporter: Reporter,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    const WORKER: WorkerId = WorkerId::Producer;
    reporter.state(WORKER, WorkerState::Running);
    let mut in_flight = FuturesUnordered::new();
    let mut writes = FuturesUnordered::new();
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
                Some(PublisherRequest::Publish { event, reply }) => match publisher.enqueue(&event).await {
                    Ok(d) => in_flight.push(track(d, reply)),
                    Err(e) => {
                        failed += 1;
                        last_error = Some(e.to_string());
                        if let Some(r) = reply { let _ = r.send(Err(e)); }
                    }
                },
                Some(PublisherRequest::SetLoad(on)) => { load_on = on; load.reset_clock(); }
                Some(PublisherRequest::SetRate(rate)) => load.set_rate(rate),
            },
            _ = tick.tick(), if load_on && writes.len() < MAX_LOAD_WRITES => {
                for event in load.due(std::time::Instant::now()) {
                    if let Some(store) = &store {
                        writes.push(write_generated(store.clone(), meter.clone(), event));
                        continue;
                    }
                    // Generated now: this is where a load event is written, so minted here.
                    match publisher.enqueue(&ParsedEvent::mint(event)).await {
                        Ok(d) => in_flight.push(track(d, None)),
                        Err(e) => { failed += 1; last_error = Some(e.to_string()); }
                    }
                }
            },
            Some(result) = writes.next(), if !writes.is_empty() => {
                // Committed writes are counted when the relay publishes them.
                if let Err(e) = result { failed += 1; last_error = Some(e.to_string()); }
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
    delivery: Delivery,
    reply: Option<oneshot::Sender<Result<Delivered, PublishError>>>,
) -> Result<(), ProduceError> {
    let result = resolve(delivery).await;
    let summary = result.as_ref().map(|_| ()).map_err(Clone::clone);
    if let Some(r) = reply {
        let _ = r.send(result.map_err(PublishError::from));
    }
    summary
}
