//! After a crash, settles the notifier's pairs in doubt (see `sent_memory`): which of them
//! reached the notification topic. The topic is read from a little before the oldest intent
//! up to its end at the time of the call, so the cost is bounded by what was produced since.

use crate::bus::safe_create::SafeCreate;
use std::collections::HashSet;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::sent_memory::Pair;
use crate::bus::Cluster;

/// Records are stamped by their producer when enqueued, which may be a little before the
/// intent was written on another clock: start the scan this much earlier.
const CLOCK_MARGIN_MS: i64 = 60_000;
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("reading {topic} to settle notifications in doubt: {source}")]
    Kafka {
        topic: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error(
        "reading {topic} to settle notifications in doubt: no progress for {0:?}",
        TIMEOUT
    )]
    Stuck { topic: String },
}

/// The (message, user) pairs of the notifications in `topic` stamped at or after
/// `since_ms` − a margin. Blocking: call it from `spawn_blocking`.
pub fn notified_since(
    cluster: &Cluster,
    topic: &str,
    since_ms: i64,
) -> Result<HashSet<Pair>, RecoveryError> {
    let kafka = |source| RecoveryError::Kafka {
        topic: topic.to_string(),
        source,
    };
    let consumer: BaseConsumer = cluster
        .client_config("notifier-recovery")
        .set("group.id", "eventdeck-notifier-recovery")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .build()
        .map_err(kafka)?;
    let metadata = consumer
        .fetch_metadata(Some(topic), TIMEOUT)
        .map_err(kafka)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut by_time = TopicPartitionList::new();
    for p in &partitions {
        by_time
            .add_partition_offset(
                topic,
                *p,
                Offset::Offset(since_ms.saturating_sub(CLOCK_MARGIN_MS)),
            )
            .map_err(kafka)?;
    }
    let starts = consumer
        .offsets_for_times(by_time, TIMEOUT)
        .map_err(kafka)?;
    let mut assignment = TopicPartitionList::new();
    let mut remaining: Vec<(i32, i64)> = Vec::new();
    for e in starts.elements() {
        let (_, high) = consumer
            .fetch_watermarks(topic, e.partition(), TIMEOUT)
            .map_err(kafka)?;
        // No record at or after the time: nothing to read in this partition.
        let start = match e.offset() {
            Offset::Offset(o) if o < high => o,
            _ => continue,
        };
        assignment
            .add_partition_offset(topic, e.partition(), Offset::Offset(start))
            .map_err(kafka)?;
        remaining.push((e.partition(), high));
    }
    let mut found = HashSet::new();
    if remaining.is_empty() {
        return Ok(found);
    }
    consumer.assign(&assignment).map_err(kafka)?;
    let mut last_progress = Instant::now();
    while !remaining.is_empty() {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                last_progress = Instant::now();
                if let Some(pair) = m.payload().and_then(pair_of) {
                    found.insert(pair);
                }
                let (p, o) = (m.partition(), m.offset());
                remaining.retain(|(rp, high)| !(*rp == p && o + 1 >= *high));
            }
            Some(Err(e)) => return Err(kafka(e)),
            None if last_progress.elapsed() > TIMEOUT => {
                return Err(RecoveryError::Stuck {
                    topic: topic.to_string(),
                })
            }
            None => {}
        }
    }
    Ok(found)
}

/// The (message, user) a `notification.sent` record names; `None` for anything else.
pub fn pair_of(payload: &[u8]) -> Option<Pair> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let p = v.get("payload")?;
    let message = p.get("message_id")?.as_str()?;
    let user = p.get("user_id")?.as_str()?;
    Some((message.to_string(), user.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_names_its_pair_and_other_records_none() {
        let sent = br#"{"event_id":"e","event_type":"notification.sent","timestamp":1,
            "payload":{"notification_id":"n","user_id":"bob","message_id":"m1"}}"#;
        assert_eq!(pair_of(sent), Some(("m1".into(), "bob".into())));
        assert_eq!(pair_of(b"not json"), None);
        assert_eq!(pair_of(br#"{"payload":{"message_id":"m1"}}"#), None);
    }
}
