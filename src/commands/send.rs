//! `eventdeck send` publishes one test message (and waits for its acknowledgement);
//! `eventdeck load` publishes a stream of generated traffic and prints the rate.

use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};

use super::client_cluster;
use crate::bus::producer::{resolve, EventProducer};
use crate::config::Config;
use crate::event::{extract_mentions, new_event_id, MessageCreated, MessageEvent, ParsedEvent};
use crate::workers::loadgen::LoadGenerator;
use crate::workers::publisher::Publisher;

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

pub async fn send(config: Config, channel: &str, author: &str, text: &str) -> anyhow::Result<()> {
    let (publisher, where_) = publisher(&config)?;
    // Minted once: a retried enqueue publishes the same event id and time.
    let event = ParsedEvent::mint(created(channel, author, text));
    let topic = publisher.topic_for(&event.event).to_string();
    let delivery = publisher
        .enqueue(&event)
        .await
        .map_err(|e| anyhow::anyhow!("cannot publish to {where_}: {e}"))?;
    let d = tokio::time::timeout(Duration::from_secs(30), resolve(delivery))
        .await
        .map_err(|_| anyhow::anyhow!("no acknowledgement from {where_} within 30 s"))?
        .map_err(|e| anyhow::anyhow!("{where_} refused the message: {e}"))?;
    if let MessageEvent::Created(c) = &event.event {
        println!(
            "published {} to {topic} [partition {} @ offset {}] on {where_}",
            c.message_id, d.partition, d.offset
        );
    }
    Ok(())
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
