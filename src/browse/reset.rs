//! Moving a consumer group's committed offsets — to the earliest or latest record, to a
//! time, or to an offset — as `kafka-consumer-groups --reset-offsets` and kafkactl do: a dry
//! run shows every partition's offset before and after and the lag it creates; the reset
//! itself is refused while the group has active members (their next commit would undo it,
//! and Kafka refuses it too). For eventdeck's own workers: stop them first (`:stop indexer`,
//! or stop `eventdeck run`).
//!
//! Not offered on the embedded broker, which does not describe groups (see [`apply`]).
//!
//! [`plan`] is the pure part.

use crate::bus::safe_create::SafeCreate;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use super::tail::BadTime;
use crate::bus::Cluster;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Where a reset moves each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    Earliest,
    Latest,
    /// The first record at or after this time (ms); the end where every record is older.
    Time(i64),
    /// This offset in every partition, within each partition's records.
    Offset(i64),
}

impl ResetTo {
    /// `earliest`, `latest`, an offset (`42`), or a time as `tail --since` takes it.
    pub fn parse(text: &str, now_ms: i64) -> Result<ResetTo, BadTime> {
        match text.trim() {
            "earliest" | "beginning" => Ok(ResetTo::Earliest),
            "latest" | "end" => Ok(ResetTo::Latest),
            t if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) => t
                .parse()
                .map(ResetTo::Offset)
                .map_err(|e| BadTime(format!("{t}: {e}"))),
            t => super::tail::parse_since(t, now_ms).map(ResetTo::Time),
        }
    }
}

/// One partition of a planned reset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResetRow {
    pub topic: String,
    pub partition: i32,
    pub low: i64,
    pub high: i64,
    /// The committed offset now; `None` when the group has none there.
    pub before: Option<i64>,
    pub after: i64,
    /// Records the group will read (again) after the reset.
    pub lag_after: i64,
}

/// A partition as the broker describes it, with the offset a time resolves to there.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionState {
    pub topic: String,
    pub partition: i32,
    pub low: i64,
    pub high: i64,
    pub committed: Option<i64>,
    /// For [`ResetTo::Time`]: the first offset at or after it (`None`: all older).
    pub at_time: Option<i64>,
}

/// The new offset of every partition. Pure.
pub fn plan(partitions: &[PartitionState], to: ResetTo) -> Vec<ResetRow> {
    partitions
        .iter()
        .map(|p| {
            let wanted = match to {
                ResetTo::Earliest => p.low,
                ResetTo::Latest => p.high,
                ResetTo::Time(_) => p.at_time.unwrap_or(p.high),
                ResetTo::Offset(o) => o,
            };
            let after = wanted.clamp(p.low, p.high);
            ResetRow {
                topic: p.topic.clone(),
                partition: p.partition,
                low: p.low,
                high: p.high,
                before: p.committed,
                after,
                lag_after: p.high - after,
            }
        })
        .collect()
}

/// The table of a plan, as `kafka-consumer-groups --reset-offsets --dry-run` prints it.
pub fn render(group: &str, rows: &[ResetRow]) -> String {
    let mut out = format!(
        "{:<32} {:>9} {:>12} {:>12} {:>12} {:>12}\n",
        "TOPIC", "PARTITION", "BEFORE", "AFTER", "END", "LAG AFTER"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<32} {:>9} {:>12} {:>12} {:>12} {:>12}\n",
            r.topic,
            r.partition,
            r.before.map_or("-".to_string(), |b| b.to_string()),
            r.after,
            r.high,
            r.lag_after
        ));
    }
    let lag: i64 = rows.iter().map(|r| r.lag_after).sum();
    out.push_str(&format!(
        "group {group}: {lag} records to read after the reset\n"
    ));
    out
}

/// Reads what a reset of `group` on `topics` would do (blocking).
pub fn read_plan(
    cluster: &Cluster,
    group: &str,
    topics: &[String],
    to: ResetTo,
) -> anyhow::Result<Vec<ResetRow>> {
    let consumer = group_client(cluster, group)?;
    let committed = crate::replay::read_state::committed_offsets(cluster, group, topics)?;
    let mut partitions = Vec::new();
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), TIMEOUT)
            .map_err(|e| anyhow::anyhow!("reading the partitions of {topic}: {e}"))?;
        for t in metadata.topics().iter().filter(|t| t.error().is_none()) {
            for p in t.partitions() {
                let (low, high) = consumer
                    .fetch_watermarks(topic, p.id(), TIMEOUT)
                    .map_err(|e| anyhow::anyhow!("watermarks of {topic}[{}]: {e}", p.id()))?;
                let at_time = match to {
                    ResetTo::Time(ms) => super::tail::offset_at(&consumer, topic, p.id(), ms)?,
                    _ => None,
                };
                partitions.push(PartitionState {
                    topic: topic.clone(),
                    partition: p.id(),
                    low,
                    high,
                    committed: committed.get(&(topic.clone(), p.id())).copied(),
                    at_time,
                });
            }
        }
    }
    if partitions.is_empty() {
        anyhow::bail!("none of {} exists", topics.join(", "));
    }
    Ok(plan(&partitions, to))
}

/// Refuses a reset on the embedded broker: tansu closes the connection on DescribeGroups,
/// so there is no way to be sure no member would undo it (DESIGN §3: what the embedded
/// broker mishandles is not offered).
pub fn offered(cluster: &Cluster, group: &str) -> anyhow::Result<()> {
    if cluster.embedded {
        anyhow::bail!(
            "offset reset is not offered on the embedded broker: it does not describe \
             groups, so eventdeck cannot make sure no member of {group} would undo it \
             (the dry run works; point eventdeck at a Kafka cluster to reset)"
        );
    }
    Ok(())
}

/// Commits `rows` for `group`, after checking it has no active member (blocking).
pub fn apply(cluster: &Cluster, group: &str, rows: &[ResetRow]) -> anyhow::Result<()> {
    offered(cluster, group)?;
    let consumer = group_client(cluster, group)?;
    let groups = consumer
        .fetch_group_list(Some(group), TIMEOUT)
        .map_err(|e| {
            anyhow::anyhow!("cannot tell whether {group} has active members, so no reset: {e}")
        })?;
    if let Some(g) = groups.groups().iter().find(|g| g.name() == group) {
        if !g.members().is_empty() {
            let who: Vec<String> = g
                .members()
                .iter()
                .map(|m| format!("{} ({})", m.client_id(), m.client_host()))
                .collect();
            anyhow::bail!(
                "{group} has {} active member(s): {}; stop them first (for eventdeck's \
                 workers: `:stop WORKER` in the console, or stop `eventdeck run`)",
                who.len(),
                who.join(", ")
            );
        }
    }
    let mut tpl = TopicPartitionList::new();
    for r in rows {
        tpl.add_partition_offset(&r.topic, r.partition, Offset::Offset(r.after))?;
    }
    consumer
        .commit(&tpl, CommitMode::Sync)
        .map_err(|e| anyhow::anyhow!("committing the new offsets of {group}: {e}"))?;
    Ok(())
}

fn group_client(cluster: &Cluster, group: &str) -> anyhow::Result<BaseConsumer> {
    Ok(cluster
        .client_config("group-reset")
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(partition: i32, low: i64, high: i64, committed: Option<i64>) -> PartitionState {
        PartitionState {
            topic: "t".into(),
            partition,
            low,
            high,
            committed,
            at_time: (partition == 0).then_some(7),
        }
    }

    #[test]
    fn a_plan_moves_every_partition_within_its_records() {
        let parts = [p(0, 2, 10, Some(10)), p(1, 0, 5, None)];
        let after = |to| plan(&parts, to).iter().map(|r| r.after).collect::<Vec<_>>();
        assert_eq!(after(ResetTo::Earliest), [2, 0]);
        assert_eq!(after(ResetTo::Latest), [10, 5]);
        assert_eq!(after(ResetTo::Time(0)), [7, 5], "all older: the end");
        assert_eq!(after(ResetTo::Offset(6)), [6, 5], "clamped to the records");
        let rows = plan(&parts, ResetTo::Earliest);
        assert_eq!((rows[0].before, rows[0].lag_after), (Some(10), 8));
        assert!(render("g", &rows).contains("group g: 13 records to read"));
    }

    #[test]
    fn reset_targets_parse() {
        assert_eq!(ResetTo::parse("earliest", 0), Ok(ResetTo::Earliest));
        assert_eq!(ResetTo::parse("latest", 0), Ok(ResetTo::Latest));
        assert_eq!(ResetTo::parse("42", 0), Ok(ResetTo::Offset(42)));
        assert_eq!(ResetTo::parse("15m", 900_000), Ok(ResetTo::Time(0)));
        assert!(ResetTo::parse("soon", 0).is_err());
    }
}
