//! Puts the archive back into the topics: every record of the archive's files produced again
//! to its topic, with its key, headers, value and timestamp, into the partition it came from
//! (when the topic has it; else the key decides, as for any producer). So a data directory
//! created empty gets its history back and its workers rebuild the index from it, whatever
//! the topics' retention had dropped. Offsets are the new log's, not the old.

use crate::bus::safe_create::SafeCreate;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};

use super::read_archive::some_archive_files;
use super::read_log::Progress;
use crate::archive::line::parse_line;
use crate::archive::writer::read_file;
use crate::bus::producer::{resolve, EventProducer, HeaderRef, Placement};
use crate::bus::Cluster;
use crate::config::ProducerConfig;

/// Acknowledgements awaited at once; the producer's queue holds the rest.
const IN_FLIGHT: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Republished {
    /// Records produced, per topic.
    pub per_topic: HashMap<String, u64>,
    pub files: usize,
}

impl Republished {
    pub fn records(&self) -> u64 {
        self.per_topic.values().sum()
    }
}

/// Partitions per topic, as the cluster describes them (a topic it does not know: absent),
/// and the records the topics hold now.
fn describe_topics(
    cluster: &Cluster,
    topics: &[String],
) -> anyhow::Result<(HashMap<String, i32>, HashMap<String, i64>)> {
    let consumer: BaseConsumer = cluster.client_config("republish").build()?;
    let (mut counts, mut held) = (HashMap::new(), HashMap::new());
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .map_err(|e| anyhow::anyhow!("reading the partitions of {topic}: {e}"))?;
        let Some(t) = metadata.topics().first() else {
            continue;
        };
        if t.partitions().is_empty() {
            continue;
        }
        counts.insert(topic.clone(), t.partitions().len() as i32);
        for p in t.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                .map_err(|e| anyhow::anyhow!("watermarks of {topic}[{}]: {e}", p.id()))?;
            *held.entry(topic.clone()).or_default() += high - low;
        }
    }
    Ok((counts, held))
}

/// Produces every record of `topics` archived under `root`, file by file in log order, and
/// waits for every acknowledgement. Topics the cluster does not have are refused up front.
pub async fn republish(
    cluster: &Cluster,
    producer_config: &ProducerConfig,
    root: &Path,
    topics: &[String],
    mut progress: impl FnMut(Progress),
) -> anyhow::Result<Republished> {
    let files = some_archive_files(root, topics)?;
    let (counts, held) = {
        let (cluster, topics) = (cluster.clone(), topics.to_vec());
        tokio::task::spawn_blocking(move || describe_topics(&cluster, &topics)).await??
    };
    // Into a log that has records the history would be there twice: refuse.
    let mut busy: Vec<String> = held
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(t, n)| format!("{t} ({n} records)"))
        .collect();
    if !busy.is_empty() {
        busy.sort();
        anyhow::bail!(
            "republishing is for an empty log (a new data directory or cluster), but {} already \
             hold records",
            busy.join(", ")
        );
    }
    let producer = EventProducer::new(cluster, producer_config, "republish")?;
    let started = Instant::now();
    let mut done = Republished {
        files: files.len(),
        ..Republished::default()
    };
    let mut pending = Vec::with_capacity(IN_FLIGHT);
    let mut reported = Instant::now();
    for (i, file) in files.iter().enumerate() {
        let lines =
            read_file(file).map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
        for line in lines {
            let record =
                parse_line(&line).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let Some(&partitions) = counts.get(&record.topic) else {
                anyhow::bail!(
                    "{} has records of {}, which the cluster does not have",
                    file.display(),
                    record.topic
                );
            };
            let placement = Placement {
                partition: (record.partition < partitions).then_some(record.partition),
                timestamp: record.timestamp,
            };
            let headers: Vec<HeaderRef<'_>> = record
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_deref()))
                .collect();
            let delivery = producer
                .enqueue_placed(
                    &record.topic,
                    placement,
                    record.key.as_deref(),
                    record.payload.as_deref(),
                    &headers,
                )
                .await?;
            pending.push(delivery);
            *done.per_topic.entry(record.topic).or_default() += 1;
            if pending.len() >= IN_FLIGHT {
                for d in pending.drain(..) {
                    resolve(d).await?;
                }
            }
        }
        if reported.elapsed() >= Duration::from_secs(1) {
            let sent = done.records();
            let estimate = sent * files.len() as u64 / (i as u64 + 1);
            progress(Progress::at(sent, estimate, started.elapsed()));
            reported = Instant::now();
        }
    }
    for d in pending {
        resolve(d).await?;
    }
    let sent = done.records();
    progress(Progress::at(sent, sent, started.elapsed()));
    Ok(done)
}
