//! Reads one topic as it grows, for the console's live tail and `eventdeck tail`. The
//! partitions are assigned, never subscribed, and nothing is committed: the tail joins no
//! group, so the real groups see no member come and go and no offset move. It runs on a
//! thread of its own (librdkafka's poll blocks) and hands records over in batches.

use crate::bus::safe_create::SafeCreate;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use crate::bus::Cluster;
use crate::workers::batch::Record;

/// The group id librdkafka requires to be set; the tail never joins it nor commits in it.
pub const TAIL_GROUP: &str = "eventdeck-tail";
/// A batch is handed over at this size, or after [`BATCH_LINGER`].
const BATCH_MAX: usize = 500;
const BATCH_LINGER: Duration = Duration::from_millis(100);
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a tail starts reading each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TailFrom {
    /// Only what arrives from now on.
    End,
    /// Everything the topic still holds.
    Beginning,
    /// The first record at or after this time (ms since the epoch).
    Since(i64),
}

#[derive(Debug)]
pub enum TailEvent {
    /// Reading: each partition with the offset it starts from and its high watermark.
    Started {
        partitions: Vec<(i32, i64, i64)>,
    },
    Records(Vec<Record>),
    /// The tail could not start (no such topic, no broker), or a fetch failed (the tail
    /// keeps trying while it runs).
    Error(String),
}

/// Stops the tail's thread when dropped.
pub struct TailHandle {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TailHandle {
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TailHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Starts tailing `topic` from `from`; events arrive on `events` until the handle is
/// dropped or the receiver is.
pub fn start_tail(
    cluster: &Cluster,
    topic: &str,
    from: TailFrom,
    events: mpsc::Sender<TailEvent>,
) -> TailHandle {
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let (cluster, topic, stop) = (cluster.clone(), topic.to_string(), stop.clone());
        std::thread::Builder::new()
            .name("eventdeck-tail".into())
            .spawn(move || {
                if let Err(e) = run(&cluster, &topic, from, &events, &stop) {
                    let _ = events.blocking_send(TailEvent::Error(format!("{e:#}")));
                }
            })
            .ok()
    };
    TailHandle { stop, thread }
}

fn run(
    cluster: &Cluster,
    topic: &str,
    from: TailFrom,
    events: &mpsc::Sender<TailEvent>,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let consumer: BaseConsumer = cluster
        .client_config("tail")
        .set("group.id", TAIL_GROUP)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .build()?;
    let metadata = consumer
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .map_err(|e| anyhow::anyhow!("reading the partitions of {topic}: {e}"))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        anyhow::bail!("no topic {topic} on {}", cluster.describe());
    }
    let mut starts = Vec::new();
    for &p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, METADATA_TIMEOUT)
            .map_err(|e| anyhow::anyhow!("watermarks of {topic}[{p}]: {e}"))?;
        let start = match from {
            TailFrom::End => high,
            TailFrom::Beginning => low,
            TailFrom::Since(ms) => offset_at(&consumer, topic, p, ms)?.unwrap_or(high),
        };
        starts.push((p, start.clamp(low, high), high));
    }
    let mut assignment = TopicPartitionList::new();
    for &(p, start, _) in &starts {
        assignment.add_partition_offset(topic, p, Offset::Offset(start))?;
    }
    consumer.assign(&assignment)?;
    if events
        .blocking_send(TailEvent::Started { partitions: starts })
        .is_err()
    {
        return Ok(());
    }
    let mut batch = Vec::new();
    let mut since_sent = Instant::now();
    let mut last_error: Option<String> = None;
    while !stop.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => {
                batch.push(Record::from_message(&m));
                last_error = None;
            }
            Some(Err(e)) => {
                // librdkafka reconnects by itself; say it once, not every poll.
                let text = e.to_string();
                if last_error.as_deref() != Some(&text) {
                    if events
                        .blocking_send(TailEvent::Error(text.clone()))
                        .is_err()
                    {
                        return Ok(());
                    }
                    last_error = Some(text);
                }
            }
            None => {}
        }
        if batch.len() >= BATCH_MAX || (!batch.is_empty() && since_sent.elapsed() >= BATCH_LINGER) {
            if events
                .blocking_send(TailEvent::Records(std::mem::take(&mut batch)))
                .is_err()
            {
                return Ok(());
            }
            since_sent = Instant::now();
        }
    }
    Ok(())
}

/// The offset of the first record of `topic[partition]` at or after `ms`; `None` when every
/// record is older.
pub(crate) fn offset_at(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    ms: i64,
) -> anyhow::Result<Option<i64>> {
    let mut query = TopicPartitionList::new();
    query.add_partition_offset(topic, partition, Offset::Offset(ms))?;
    let answer = consumer
        .offsets_for_times(query, METADATA_TIMEOUT)
        .map_err(|e| anyhow::anyhow!("offsets of {topic}[{partition}] at {ms}: {e}"))?;
    Ok(answer.elements().first().and_then(|e| match e.offset() {
        Offset::Offset(o) => Some(o),
        _ => None,
    }))
}

/// A time or age that could not be read, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadTime(pub String);

/// `--since` as people write it: RFC 3339 (`2026-12-02T10:00:00Z`), a date and time in UTC
/// (`2026-12-02 10:00`), or a duration back from `now_ms` (`90s`, `15m`, `2h`, `1d`).
pub fn parse_since(text: &str, now_ms: i64) -> Result<i64, BadTime> {
    let t = text.trim();
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(t) {
        return Ok(at.timestamp_millis());
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(at) = chrono::NaiveDateTime::parse_from_str(t, format) {
            return Ok(at.and_utc().timestamp_millis());
        }
    }
    let (number, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = number.parse().map_err(|_| {
        BadTime(format!(
            "{text:?}: expected a time (2026-12-02T10:00:00Z) or an age (15m)"
        ))
    })?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(BadTime(format!("{text:?}: the age's unit is s, m, h or d"))),
    };
    Ok(now_ms - n * unit_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_times_and_ages() {
        let now = 1_800_000_000_000;
        assert_eq!(parse_since("15m", now), Ok(now - 900_000));
        assert_eq!(parse_since("2h", now), Ok(now - 7_200_000));
        assert_eq!(
            parse_since("2026-12-02T10:00:00Z", now),
            Ok(1_796_205_600_000)
        );
        assert_eq!(parse_since("2026-12-02 10:00", now), Ok(1_796_205_600_000));
        assert!(parse_since("yesterday", now).is_err());
        assert!(parse_since("5w", now).unwrap_err().0.contains("unit"));
    }
}
