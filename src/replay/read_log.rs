//! Reads the message topics from the beginning up to their high watermarks at the start (the
//! log as it was when asked), folding every event into a [`RebuiltState`]; [`read_more`]
//! then reads on from where that stopped (a reindex's catch-up). The partitions are
//! assigned, not subscribed: the `state-rebuilder` group never joins, commits nothing and so
//! always starts from the beginning, and the workers' groups are never touched.

use crate::bus::safe_create::SafeCreate;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::state::{LogPosition, RebuiltState};
use crate::bus::Cluster;
use crate::event::parse_message_event;
use crate::workers::relay::HEADER_EVENT_ID;

/// The group id librdkafka requires; nothing is ever committed under it.
pub const REBUILD_GROUP: &str = "state-rebuilder";
/// Reading stops with an error when no record arrives for this long before the end.
const STALL: Duration = Duration::from_secs(30);

/// How far a read has come: for the progress line.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    pub read: u64,
    pub total: u64,
    pub per_sec: f64,
    pub eta: Option<Duration>,
}

impl Progress {
    /// Pure: `read` of `total` after `elapsed`.
    pub fn at(read: u64, total: u64, elapsed: Duration) -> Progress {
        let per_sec = read as f64 / elapsed.as_secs_f64().max(1e-3);
        let eta = (per_sec > 0.0)
            .then(|| Duration::from_secs_f64(total.saturating_sub(read) as f64 / per_sec));
        Progress {
            read,
            total,
            per_sec,
            eta,
        }
    }
}

/// Blocking: run it off the async threads. `progress` is called about once a second.
pub fn read_log(
    cluster: &Cluster,
    topics: &[String],
    progress: impl FnMut(Progress),
) -> anyhow::Result<RebuiltState> {
    let mut state = RebuiltState::default();
    read_more(cluster, topics, &mut state, progress)?;
    Ok(state)
}

/// Reads every partition from where `state` stopped (`state.read_to`; the beginning for a
/// partition it has not read) up to its high watermark now, folding into `state`. Returns
/// the ids of the messages the new events changed. Blocking.
pub fn read_more(
    cluster: &Cluster,
    topics: &[String],
    state: &mut RebuiltState,
    progress: impl FnMut(Progress),
) -> anyhow::Result<HashSet<String>> {
    let mut changed = HashSet::new();
    let mut read_to = std::mem::take(&mut state.read_to);
    let read = read_records(cluster, topics, &mut read_to, progress, |m| {
        let relayed = m
            .headers()
            .is_some_and(|h| h.iter().any(|h| h.key == HEADER_EVENT_ID));
        match m.payload().map(parse_message_event) {
            Some(Ok(event)) => {
                let at = LogPosition {
                    topic: m.topic().to_string(),
                    partition: m.partition(),
                    offset: m.offset(),
                };
                if state.apply(&event, at, relayed) {
                    changed.insert(event.message_id().to_string());
                }
            }
            _ => state.unreadable += 1,
        }
    });
    state.read_to = read_to;
    read?;
    Ok(changed)
}

/// Reads every partition of `topics` from `read_to` (the next offset per partition; the
/// beginning for one it lacks) up to its high watermark now, handing each record to `each`
/// in partition order, and moves `read_to` to the end. Blocking.
pub fn read_records(
    cluster: &Cluster,
    topics: &[String],
    read_to: &mut HashMap<(String, i32), i64>,
    mut progress: impl FnMut(Progress),
    mut each: impl FnMut(&BorrowedMessage<'_>),
) -> anyhow::Result<()> {
    let consumer: BaseConsumer = cluster
        .client_config("replay")
        .set("group.id", REBUILD_GROUP)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .build()?;
    let mut assignment = TopicPartitionList::new();
    // Per (topic, partition): the last offset to read (high watermark - 1).
    let mut last: HashMap<(String, i32), i64> = HashMap::new();
    let mut total = 0u64;
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .map_err(|e| anyhow::anyhow!("reading the partitions of {topic}: {e}"))?;
        let Some(t) = metadata.topics().first() else {
            continue;
        };
        for p in t.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                .map_err(|e| anyhow::anyhow!("watermarks of {topic}[{}]: {e}", p.id()))?;
            let key = (topic.clone(), p.id());
            let from = read_to.get(&key).copied();
            let start = from.unwrap_or(low).max(low);
            if high > start {
                total += (high - start) as u64;
                last.insert(key.clone(), high - 1);
                let offset = from.map(Offset::Offset).unwrap_or(Offset::Beginning);
                assignment.add_partition_offset(topic, p.id(), offset)?;
            }
            read_to.insert(key, high.max(from.unwrap_or(0)));
        }
    }
    if last.is_empty() {
        return Ok(());
    }
    consumer.assign(&assignment)?;
    let started = Instant::now();
    let (mut read, mut reported, mut last_record) = (0u64, Instant::now(), Instant::now());
    let mut last_error: Option<String> = None;
    while !last.is_empty() {
        if reported.elapsed() >= Duration::from_secs(1) {
            progress(Progress::at(read, total, started.elapsed()));
            reported = Instant::now();
        }
        // librdkafka reconnects by itself: an error (a broker restarting, say) is retried
        // until no record came for STALL.
        let m = match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => m,
            other => {
                if let Some(Err(e)) = other {
                    last_error = Some(e.to_string());
                }
                if last_record.elapsed() > STALL {
                    anyhow::bail!(
                        "no record for {} s with {} partitions unfinished ({read} of {total} read){}",
                        STALL.as_secs(),
                        last.len(),
                        last_error.map(|e| format!("; last error: {e}")).unwrap_or_default()
                    );
                }
                continue;
            }
        };
        last_record = Instant::now();
        let key = (m.topic().to_string(), m.partition());
        let Some(&end) = last.get(&key) else {
            continue; // a partition already read to its end
        };
        if m.offset() > end {
            continue;
        }
        read += 1;
        each(&m);
        if m.offset() >= end {
            last.remove(&key);
        }
    }
    progress(Progress::at(read, total, started.elapsed()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_rate_and_eta() {
        let p = Progress::at(5_000, 20_000, Duration::from_secs(2));
        assert_eq!(p.per_sec, 2_500.0);
        assert_eq!(p.eta, Some(Duration::from_secs(6)));
        assert_eq!(Progress::at(0, 10, Duration::from_secs(1)).eta, None);
    }
}
