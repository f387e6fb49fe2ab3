//! Dead letters sent back where they came from, after the cause was fixed — what users of
//! Kafka UI, AKHQ and Redpanda Console keep asking those tools for.
//!
//! - **Which**: every dead letter, or those matching a filter (the tail's `/` rules), from
//!   where the last re-drive with the same filter stopped: its progress is the committed
//!   offset of a group of its own (`eventdeck-redrive`, one per filter), so an interrupted
//!   re-drive resumes.
//! - **Where**: the source topic of the newest `dlq.source.topic` header, with the original
//!   key (so the same partition), value and headers.
//! - **Loop guard**: each re-drive sets `eventdeck.redrives` to one more; a dead letter
//!   re-driven `max_redrives` times already is held (reported, never sent again).
//! - **No duplicates after a crash**: each re-driven record carries
//!   `eventdeck.redrive.of = <dlq partition>@<offset>`; before sending, the newest records of
//!   the source topics are read for those markers, so the record in doubt when a re-drive
//!   stopped (sent, not yet committed) is not sent twice.
//! - **Rate-limited**: at most `rate` records a second.
//!
//! [`decide`] is the pure part: what to do with one dead letter.

use crate::bus::safe_create::SafeCreate;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use super::view::TailRow;
use crate::bus::producer::{EventProducer, HeaderRef};
use crate::bus::Cluster;
use crate::workers::batch::{Record, RecordHeader};
use crate::workers::dlq::HEADER_TOPIC;

pub const HEADER_REDRIVES: &str = "eventdeck.redrives";
pub const HEADER_REDRIVE_OF: &str = "eventdeck.redrive.of";
/// A bulk re-drive's pace when none is given: slow enough not to flood the workers that read
/// the source topics again, fast enough for a DLQ of thousands in a minute.
pub const DEFAULT_RATE: u32 = 100;
/// Re-drives before a dead letter is held: a record that fails three times after fixes is
/// not going to pass on the fourth without a person looking at it.
pub const DEFAULT_MAX_REDRIVES: u32 = 3;
/// How many records of each source partition are searched for re-drive markers at start.
const MARKER_WINDOW: i64 = 1_000;

/// What becomes of one dead letter.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Not matched by the filter.
    Skip,
    /// Re-driven this many times already: kept in the dead-letter topic.
    Hold { redrives: u32 },
    /// No `dlq.source.topic` header: nowhere to send it.
    NoSource,
    Redrive {
        topic: String,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        headers: Vec<RecordHeader>,
    },
}

/// The marker of a dead letter: where it is in the dead-letter topic.
pub fn marker(dead: &Record) -> String {
    format!("{}@{}", dead.partition, dead.offset)
}

/// What to do with `dead` (a record of the dead-letter topic). Pure.
pub fn decide(dead: &Record, filter: &str, max_redrives: u32) -> Decision {
    if !filter.trim().is_empty() && !TailRow::new(dead.clone()).matches(filter) {
        return Decision::Skip;
    }
    let redrives = dead
        .last_header(HEADER_REDRIVES)
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(0);
    if redrives >= max_redrives {
        return Decision::Hold { redrives };
    }
    let Some(topic) = dead
        .last_header(HEADER_TOPIC)
        .and_then(|v| std::str::from_utf8(v).ok())
        .filter(|t| !t.is_empty())
    else {
        return Decision::NoSource;
    };
    // The original headers and the dead-letter history stay; the re-drive count and the
    // marker are replaced.
    let mut headers: Vec<RecordHeader> = dead
        .headers
        .iter()
        .filter(|(n, _)| n != HEADER_REDRIVES && n != HEADER_REDRIVE_OF)
        .cloned()
        .collect();
    headers.push((
        HEADER_REDRIVES.to_string(),
        Some((redrives + 1).to_string().into_bytes()),
    ));
    headers.push((
        HEADER_REDRIVE_OF.to_string(),
        Some(marker(dead).into_bytes()),
    ));
    Decision::Redrive {
        topic: topic.to_string(),
        key: dead.key.clone(),
        value: dead.payload.clone(),
        headers,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RedriveOptions {
    pub filter: String,
    /// Records a second; 0: no limit.
    pub rate: u32,
    pub max_redrives: u32,
    /// Count only: nothing is sent or committed.
    pub dry_run: bool,
}

/// What a re-drive did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RedriveReport {
    /// Dead letters read (from where the last re-drive with this filter stopped).
    pub read: u64,
    /// Re-driven, by source topic.
    pub redriven: BTreeMap<String, u64>,
    /// Held by the loop guard.
    pub held: u64,
    pub not_matching: u64,
    pub without_source: u64,
    /// Found already re-driven by an interrupted run (their marker is in the source topic).
    pub already_sent: u64,
    pub dry_run: bool,
}

impl RedriveReport {
    pub fn total_redriven(&self) -> u64 {
        self.redriven.values().sum()
    }

    /// "3 to platform.messages.created, 1 to platform.messages.updated".
    pub fn where_to(&self) -> String {
        if self.redriven.is_empty() {
            return "nothing".into();
        }
        self.redriven
            .iter()
            .map(|(t, n)| format!("{n} to {t}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The re-drive group of `filter`: its own progress per filter, so re-driving one kind of
/// dead letter leaves the others to a later re-drive.
pub fn redrive_group(filter: &str) -> String {
    let f = filter.trim().to_lowercase();
    if f.is_empty() {
        return "eventdeck-redrive".into();
    }
    // FNV-1a: stable across runs and builds (std's hasher is not).
    let hash = f.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    format!("eventdeck-redrive-{hash:016x}")
}

/// Re-drives the dead letters of `dlq` (see the module). Blocking reads run off the async
/// threads; each record is sent, acknowledged, then its offset committed.
pub async fn redrive(
    cluster: &Cluster,
    dlq: &str,
    producer: &EventProducer,
    options: &RedriveOptions,
) -> anyhow::Result<RedriveReport> {
    let group = redrive_group(&options.filter);
    let (c, g, topic) = (cluster.clone(), group.clone(), dlq.to_string());
    let dead: Vec<Record> =
        tokio::task::spawn_blocking(move || read_from_committed(&c, &g, &topic)).await??;
    let mut report = RedriveReport {
        dry_run: options.dry_run,
        read: dead.len() as u64,
        ..RedriveReport::default()
    };
    let decisions: Vec<(Record, Decision)> = dead
        .into_iter()
        .map(|d| {
            let decision = decide(&d, &options.filter, options.max_redrives);
            (d, decision)
        })
        .collect();
    let sources: HashSet<String> = decisions
        .iter()
        .filter_map(|(_, d)| match d {
            Decision::Redrive { topic, .. } => Some(topic.clone()),
            _ => None,
        })
        .collect();
    let sent_before = if options.dry_run || sources.is_empty() {
        HashSet::new()
    } else {
        let c = cluster.clone();
        let sources: Vec<String> = sources.into_iter().collect();
        tokio::task::spawn_blocking(move || markers_in(&c, &sources)).await??
    };
    let committer: Option<BaseConsumer> = if options.dry_run {
        None
    } else {
        Some(
            cluster
                .client_config("redrive")
                .set("group.id", &group)
                .set("enable.auto.commit", "false")
                .build()?,
        )
    };
    let pace = (options.rate > 0).then(|| Duration::from_secs_f64(1.0 / options.rate as f64));
    let mut next_at = Instant::now();
    for (dead, decision) in decisions {
        match decision {
            Decision::Skip => report.not_matching += 1,
            Decision::Hold { .. } => report.held += 1,
            Decision::NoSource => report.without_source += 1,
            Decision::Redrive { .. } if sent_before.contains(&marker(&dead)) => {
                report.already_sent += 1
            }
            Decision::Redrive {
                topic,
                key,
                value,
                headers,
            } => {
                *report.redriven.entry(topic.clone()).or_default() += 1;
                if options.dry_run {
                    continue;
                }
                if let Some(pace) = pace {
                    tokio::time::sleep_until(next_at.into()).await;
                    next_at = Instant::now() + pace;
                }
                send(producer, &dead, &topic, &key, &value, &headers).await?;
            }
        }
        // Past this dead letter, whatever became of it: a later re-drive with the same
        // filter starts after it.
        if let Some(committer) = &committer {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(dlq, dead.partition, Offset::Offset(dead.offset + 1))?;
            committer
                .commit(&tpl, CommitMode::Sync)
                .map_err(|e| anyhow::anyhow!("committing the re-drive's progress: {e}"))?;
        }
    }
    Ok(report)
}

/// Sends a decided re-drive and waits for its acknowledgement.
async fn send(
    producer: &EventProducer,
    dead: &Record,
    topic: &str,
    key: &Option<Vec<u8>>,
    value: &Option<Vec<u8>>,
    headers: &[RecordHeader],
) -> anyhow::Result<()> {
    let refs: Vec<HeaderRef<'_>> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_deref()))
        .collect();
    producer
        .send(topic, key.as_deref(), value.as_deref(), &refs)
        .await
        .map_err(|e| anyhow::anyhow!("re-driving {} to {topic}: {e}", marker(dead)))?;
    Ok(())
}

/// Re-drives one dead letter chosen in the console: the same decision (loop guard, source
/// topic, marker) as a bulk re-drive, without a group's progress — there is none to resume.
/// `Ok(None)`: held or without a source, nothing sent (the reason is in the `Decision`).
pub async fn redrive_one(
    producer: &EventProducer,
    dead: &Record,
    max_redrives: u32,
) -> anyhow::Result<Result<String, Decision>> {
    match decide(dead, "", max_redrives) {
        Decision::Redrive {
            topic,
            key,
            value,
            headers,
        } => {
            send(producer, dead, &topic, &key, &value, &headers).await?;
            Ok(Ok(topic))
        }
        other => Ok(Err(other)),
    }
}

/// The dead letters after `group`'s committed offsets, up to the ends now. Blocking.
fn read_from_committed(cluster: &Cluster, group: &str, dlq: &str) -> anyhow::Result<Vec<Record>> {
    let topics = vec![dlq.to_string()];
    let mut read_to: HashMap<(String, i32), i64> =
        crate::replay::read_state::committed_offsets(cluster, group, &topics)?;
    let mut out = Vec::new();
    crate::replay::read_log::read_records(
        cluster,
        &topics,
        &mut read_to,
        |_| {},
        |m| out.push(Record::from_message(m)),
    )?;
    Ok(out)
}

/// The re-drive markers among the newest records of `topics`. Blocking.
fn markers_in(cluster: &Cluster, topics: &[String]) -> anyhow::Result<HashSet<String>> {
    let consumer: BaseConsumer = cluster
        .client_config("redrive-check")
        .set("group.id", "eventdeck-redrive-check")
        .build()?;
    let mut read_to = HashMap::new();
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .map_err(|e| anyhow::anyhow!("reading the partitions of {topic}: {e}"))?;
        for t in metadata.topics() {
            for p in t.partitions() {
                let (low, high) = consumer
                    .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                    .map_err(|e| anyhow::anyhow!("watermarks of {topic}[{}]: {e}", p.id()))?;
                read_to.insert((topic.clone(), p.id()), (high - MARKER_WINDOW).max(low));
            }
        }
    }
    let mut markers = HashSet::new();
    crate::replay::read_log::read_records(
        cluster,
        topics,
        &mut read_to,
        |_| {},
        |m| {
            let r = Record::from_message(m);
            if let Some(v) = r.last_header(HEADER_REDRIVE_OF) {
                markers.insert(String::from_utf8_lossy(v).into_owned());
            }
        },
    )?;
    Ok(markers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workers::dlq::HEADER_REASON;

    fn dead(headers: &[(&str, &str)]) -> Record {
        Record {
            topic: "dlq".into(),
            partition: 2,
            offset: 41,
            key: Some(b"ch_dev".to_vec()),
            payload: Some(b"{\"event_type\":\"message.created\"}".to_vec()),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), Some(v.as_bytes().to_vec())))
                .collect(),
            timestamp: None,
        }
    }

    #[test]
    fn a_dead_letter_goes_back_to_its_newest_source_with_one_more_redrive() {
        let d = dead(&[
            ("trace", "t1"),
            (HEADER_TOPIC, "old.topic"),
            (HEADER_REASON, "first"),
            (HEADER_REDRIVES, "1"),
            (HEADER_REDRIVE_OF, "0@3"),
            (HEADER_TOPIC, "platform.messages.created"),
            (HEADER_REASON, "second"),
        ]);
        let Decision::Redrive {
            topic,
            key,
            headers,
            ..
        } = decide(&d, "", 3)
        else {
            panic!("re-driven");
        };
        assert_eq!(topic, "platform.messages.created");
        assert_eq!(key.as_deref(), Some(&b"ch_dev"[..]));
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[0], "trace", "the original headers stay first");
        assert_eq!(names.iter().filter(|n| **n == HEADER_REDRIVES).count(), 1);
        let value = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| v.clone())
                .map(|v| String::from_utf8(v).unwrap_or_default())
        };
        assert_eq!(value(HEADER_REDRIVES).as_deref(), Some("2"));
        assert_eq!(value(HEADER_REDRIVE_OF).as_deref(), Some("2@41"));
    }

    #[test]
    fn the_loop_guard_the_filter_and_a_missing_source() {
        let looping = dead(&[(HEADER_TOPIC, "t"), (HEADER_REDRIVES, "3")]);
        assert_eq!(decide(&looping, "", 3), Decision::Hold { redrives: 3 });
        let d = dead(&[(HEADER_TOPIC, "t")]);
        assert_eq!(decide(&d, "message.updated", 3), Decision::Skip);
        assert!(matches!(
            decide(&d, "message.created", 3),
            Decision::Redrive { .. }
        ));
        assert_eq!(decide(&dead(&[]), "", 3), Decision::NoSource);
        assert_eq!(redrive_group(""), "eventdeck-redrive");
        assert_eq!(redrive_group(" Created "), redrive_group("created"));
        assert_ne!(redrive_group("created"), redrive_group("updated"));
    }
}
