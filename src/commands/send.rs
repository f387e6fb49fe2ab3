//! `eventdeck send` posts one message through the write model and waits until it is
//! published; `eventdeck load` publishes a stream of generated traffic straight to the topics
//! and prints the rate.

use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};

use super::client_cluster;
use crate::bus::producer::{resolve, EventProducer};
use crate::config::Config;
use crate::embedded::datadir::DataDir;
use crate::event::{extract_mentions, new_event_id, MessageCreated, MessageEvent, ParsedEvent};
use crate::ops::{PostMessage, Write};
use crate::store::{MessageStore, SharedStore, StoreError};
use crate::workers::loadgen::LoadGenerator;
use crate::workers::publisher::Publisher;
use crate::workers::relay::{relay_once, Relay};
use crate::workers::supervisor::open_store;

pub fn created(channel: &str, author: &str, text: &str) -> MessageEvent {
    MessageEvent::Created(MessageCreated {
        message_id: format!("msg_{}", new_event_id()),
        channel_id: channel.to_string(),
        author_id: author.to_string(),
        content: text.to_string(),
        mentions: extract_mentions(text),
        attachments: vec![],
    })
}

fn publisher(config: &Config) -> anyhow::Result<(Publisher, String)> {
    let cluster = client_cluster(config);
    let where_ = cluster.describe();
    let producer = EventProducer::new(&cluster, &config.producer, "cli")?;
    Ok((
        Publisher {
            producer,
            topics: config.topics.clone(),
        },
        where_,
    ))
}

/// How long `send` waits for its message to leave the outbox.
const PUBLISH_WAIT: Duration = Duration::from_secs(30);

/// Posts one message through the write model (row + outbox entry, one transaction), then
/// sees it published: by the relay of the eventdeck running on this data directory, or by
/// this process (always on PostgreSQL, where relays never publish an entry twice at once).
pub async fn send(config: Config, channel: &str, author: &str, text: &str) -> anyhow::Result<()> {
    let data_dir = config.data_dir();
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| anyhow::anyhow!("cannot create data directory {}: {e}", data_dir.display()))?;
    let store = open_store(&config, &data_dir).await?;
    let post = PostMessage {
        channel_id: channel.to_string(),
        author_id: author.to_string(),
        content: text.to_string(),
        attachments: vec![],
    };
    let message = Write::Post(post)
        .apply(store.as_ref())
        .await
        .map_err(|e| anyhow::anyhow!("not posted: {e}"))?;
    println!(
        "committed {} to {} in {} (row and outbox entry, one transaction)",
        message.message_id,
        message.channel_id,
        store.describe()
    );
    // The embedded store's running eventdeck holds the data directory: its relay publishes.
    let running_elsewhere = config.store.url.is_empty() && DataDir::open(&data_dir).is_err();
    let published = if running_elsewhere {
        wait_for_relay(store.as_ref(), message.created_at).await
    } else {
        let (publisher, _) = publisher(&config)?;
        relay_until_published(store.clone(), publisher.producer, message.created_at).await
    };
    match published {
        Ok(by) => {
            println!(
                "published to {} on {} by {by}",
                config.topics.created,
                client_cluster(&config).describe()
            );
            Ok(())
        }
        Err(why) => anyhow::bail!(
            "{} is committed but not yet published ({why}); it waits in the outbox and is published when a relay runs (eventdeck, eventdeck serve or eventdeck run)",
            message.message_id
        ),
    }
}

/// Why `send` could not see its message published (it stays committed in the outbox).
#[derive(Debug, thiserror::Error)]
enum NotPublished {
    #[error("the write store did not answer: {0}")]
    Store(#[from] StoreError),
    #[error("the running eventdeck's relay did not publish it within {} s", PUBLISH_WAIT.as_secs())]
    RelayTooSlow,
    #[error("no broker acknowledged it within {} s", PUBLISH_WAIT.as_secs())]
    NoAcknowledgement,
}

/// True when nothing committed at or before `committed_ms` waits in the outbox.
async fn is_published(store: &dyn MessageStore, committed_ms: i64) -> Result<bool, StoreError> {
    let backlog = store.backlog().await?;
    Ok(backlog.oldest_ms.is_none_or(|oldest| oldest > committed_ms))
}

async fn wait_for_relay(
    store: &dyn MessageStore,
    committed_ms: i64,
) -> Result<&'static str, NotPublished> {
    let deadline = tokio::time::Instant::now() + PUBLISH_WAIT;
    loop {
        if is_published(store, committed_ms).await? {
            return Ok("the running eventdeck's relay");
        }
        if tokio::time::Instant::now() > deadline {
            return Err(NotPublished::RelayTooSlow);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn relay_until_published(
    store: SharedStore,
    producer: EventProducer,
    committed_ms: i64,
) -> Result<&'static str, NotPublished> {
    let relay = Relay {
        store,
        producer,
        batch: 500,
        idle: Duration::from_millis(50),
        idle_max: Duration::from_millis(50),
        committed: Default::default(),
        retry_backoff: Duration::from_millis(200),
    };
    let attempt = async {
        loop {
            if let Err(e) = relay_once(&relay).await {
                tracing::debug!(error = %e, "relay round");
            }
            if is_published(relay.store.as_ref(), committed_ms).await? {
                return Ok("this command's relay");
            }
            tokio::time::sleep(relay.idle).await;
        }
    };
    tokio::time::timeout(PUBLISH_WAIT, attempt)
        .await
        .unwrap_or(Err(NotPublished::NoAcknowledgement))
}

/// Publishes `count` generated events as fast as the producer takes them (`rate` 0) or at
/// `rate` per second, and prints how many were acknowledged and how fast.
pub async fn load(config: Config, count: u64, rate: u32) -> anyhow::Result<()> {
    let (publisher, where_) = publisher(&config)?;
    let mut generator = LoadGenerator::new(config.loadgen.clone());
    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut first_error = None;
    for i in 0..count {
        if rate > 0 {
            let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        let event = ParsedEvent::mint(generator.next_event());
        let d = publisher
            .enqueue(&event)
            .await
            .map_err(|e| anyhow::anyhow!("cannot publish to {where_}: {e}"))?;
        in_flight.push(resolve(d));
        while in_flight.len() > 50_000 {
            tally(
                in_flight.next().await,
                &mut ok,
                &mut failed,
                &mut first_error,
            );
        }
    }
    while let Some(r) = in_flight.next().await {
        tally(Some(r), &mut ok, &mut failed, &mut first_error);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "published {ok} events ({failed} failed) in {secs:.2} s: {:.0} events/s to {where_}",
        ok as f64 / secs.max(1e-9)
    );
    if let Some(e) = first_error {
        anyhow::bail!("{failed} deliveries failed, first: {e}");
    }
    Ok(())
}

fn tally(
    r: Option<Result<crate::bus::producer::Delivered, crate::bus::producer::ProduceError>>,
    ok: &mut u64,
    failed: &mut u64,
    first_error: &mut Option<String>,
) {
    match r {
        Some(Ok(_)) => *ok += 1,
        Some(Err(e)) => {
            *failed += 1;
            first_error.get_or_insert(e.to_string());
        }
        None => {}
    }
}
