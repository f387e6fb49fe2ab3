//! Timestamps of the records at committed offsets, for the lag in seconds: the oldest record
//! a group has not consumed yet tells how far behind it is. Read with a short-lived
//! assignment of a reader client (no group, no commits), within a time budget per sample,
//! and cached: the record at an offset never changes, so a stuck group costs nothing.

use crate::bus::safe_create::SafeCreate;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Deserialize;

use super::reader::reader_config;
use crate::bus::Cluster;

pub type Position = (String, i32, i64);

pub struct RecordReader {
    consumer: BaseConsumer,
    cache: BTreeMap<Position, i64>,
    /// The last error the reads met (shown in tests and logs, never fatal).
    pub last_error: Option<String>,
}

/// Only the field we need from our envelope.
#[derive(Deserialize)]
struct Stamped {
    timestamp: i64,
}

impl RecordReader {
    pub fn new(cluster: &Cluster) -> anyhow::Result<Self> {
        let consumer: BaseConsumer = reader_config(cluster, "monitor-records")
            // librdkafka refuses assign() without a group id. This one never subscribes
            // and never commits, so it never joins (or shows up as) a group.
            .set("group.id", "eventdeck-monitor-reader")
            // One record per partition is all we want: do not prefetch megabytes.
            .set("fetch.wait.max.ms", "50")
            .set("queued.min.messages", "1")
            .set("queued.max.messages.kbytes", "1024")
            .set("auto.offset.reset", "earliest")
            .build()?;
        Ok(Self {
            consumer,
            cache: BTreeMap::new(),
            last_error: None,
        })
    }

    /// Timestamps (ms) of the records at `wanted` positions, from the cache or read now
    /// within `budget`; positions not read in time are left out (the caller estimates).
    /// Blocking.
    pub fn timestamps(
        &mut self,
        wanted: &BTreeSet<Position>,
        budget: Duration,
    ) -> BTreeMap<Position, i64> {
        // Only current positions stay cached: memory follows the watched partitions.
        self.cache.retain(|k, _| wanted.contains(k));
        // Several groups may wait at different offsets of one partition: one round per
        // offset, all partitions of a round in one assignment.
        let mut rounds: BTreeMap<(String, i32), Vec<i64>> = BTreeMap::new();
        for (t, p, o) in wanted.iter().filter(|k| !self.cache.contains_key(*k)) {
            rounds.entry((t.clone(), *p)).or_default().push(*o);
        }
        let deadline = Instant::now() + budget;
        while !rounds.is_empty() && Instant::now() < deadline {
            let round: Vec<Position> = rounds
                .iter_mut()
                .filter_map(|((t, p), offsets)| offsets.pop().map(|o| (t.clone(), *p, o)))
                .collect();
            rounds.retain(|_, offsets| !offsets.is_empty());
            if round.is_empty() {
                break;
            }
            self.read_round(&round, deadline);
        }
        let _ = self.consumer.unassign();
        wanted
            .iter()
            .filter_map(|k| self.cache.get(k).map(|ts| (k.clone(), *ts)))
            .collect()
    }

    fn read_round(&mut self, round: &[Position], deadline: Instant) {
        let mut tpl = TopicPartitionList::new();
        for (t, p, o) in round {
            let _ = tpl.add_partition_offset(t, *p, Offset::Offset(*o));
        }
        if let Err(e) = self.consumer.assign(&tpl) {
            self.last_error = Some(format!("assign: {e}"));
            return;
        }
        let mut missing: BTreeMap<(String, i32), i64> = round
            .iter()
            .map(|(t, p, o)| ((t.clone(), *p), *o))
            .collect();
        while !missing.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let m = match self.consumer.poll(left.min(Duration::from_millis(100))) {
                None => continue,
                Some(Err(e)) => {
                    self.last_error = Some(format!("fetch: {e}"));
                    continue;
                }
                Some(Ok(m)) => m,
            };
            let key = (m.topic().to_string(), m.partition());
            // A record left over from an earlier assignment, or before the wanted offset.
            let Some(wanted) = missing.get(&key).copied() else {
                continue;
            };
            if m.offset() < wanted {
                continue;
            }
            let ts = m
                .payload()
                .and_then(|b| serde_json::from_slice::<Stamped>(b).ok())
                .map(|s| s.timestamp)
                .or_else(|| m.timestamp().to_millis());
            if let Some(ts) = ts {
                self.cache.insert((key.0.clone(), key.1, wanted), ts);
            }
            missing.remove(&key);
        }
    }
}
