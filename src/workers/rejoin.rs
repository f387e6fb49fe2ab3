//! A worker that holds no partition although its topics have some and nobody else in its
//! group holds them rejoins the group (the decision is `assignment_watch`'s, pure; this is
//! the asking).

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::Consumer;

use std::collections::BTreeSet;

use super::assignment_watch::{decide, Decision, EmptyAssignment, Probe, HEAL_AFTER};
use super::consumer::{assigned, ConsumerSpec, WorkerConsumer};
use super::orphans::{OrphanWatch, Positions, ORPHANED_AFTER};
use crate::bus::protocol::decode_assignment;
use crate::bus::Cluster;

/// Rejoins the group when the worker has held no partition for [`HEAL_AFTER`] while its
/// topics have partitions and no other member holds them (see `assignment_watch`).
pub async fn heal_empty_assignment(
    consumer: &Arc<WorkerConsumer>,
    cluster: &Cluster,
    spec: &ConsumerSpec,
    empty: &mut EmptyAssignment,
) {
    let assigned = consumer.assignment().map(|a| a.count()).unwrap_or(0);
    let now = std::time::Instant::now();
    if !empty.observe(assigned, now, HEAL_AFTER) {
        return;
    }
    let empty_for = empty.empty_for(now).unwrap_or_default();
    let probing = consumer.clone();
    let (topics, group, embedded) = (spec.topics.clone(), spec.group.clone(), cluster.embedded);
    let probe = tokio::task::spawn_blocking(move || probe(&probing, &topics, &group, embedded))
        .await
        .map_err(ProbeError::from)
        .and_then(|p| p);
    let probe = match probe {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(worker = %spec.worker, error = %e, "no partitions; cannot ask the cluster why");
            empty.restart(now);
            return;
        }
    };
    match decide(&probe, empty_for) {
        Decision::Rejoin(reason) => {
            tracing::warn!(worker = %spec.worker, group = %spec.group, %reason, "rejoining the group");
            rejoin(consumer, spec);
        }
        Decision::Keep(reason) => {
            tracing::info!(worker = %spec.worker, group = %spec.group, %reason, "no partitions")
        }
    }
    empty.restart(now);
}

/// Leaves the group and joins it again: the rebalance that follows assigns every partition
/// among the members that are alive.
fn rejoin(consumer: &WorkerConsumer, spec: &ConsumerSpec) {
    consumer.unsubscribe();
    let topics: Vec<&str> = spec.topics.iter().map(String::as_str).collect();
    if let Err(e) = consumer.subscribe(&topics) {
        tracing::error!(worker = %spec.worker, error = %e, "subscribing again failed");
    }
}

/// Rejoins the group when partitions not ours have had records to read and an unmoving
/// committed offset for [`ORPHANED_AFTER`], on a broker that cannot describe groups (see
/// `orphans`).
pub async fn heal_orphans(
    consumer: &Arc<WorkerConsumer>,
    cluster: &Cluster,
    spec: &ConsumerSpec,
    watch: &mut OrphanWatch,
) {
    let now = std::time::Instant::now();
    if watch.describes_groups == Some(true) || !watch.due(now) {
        return;
    }
    let ours = assigned(consumer);
    if ours.is_empty() {
        // Holding nothing is the other heal's case.
        watch.reset();
        return;
    }
    let probing = consumer.clone();
    let (topics, group) = (spec.topics.clone(), spec.group.clone());
    let describes = if cluster.embedded {
        Some(false)
    } else {
        watch.describes_groups
    };
    let sampled = tokio::task::spawn_blocking(move || {
        sample_not_ours(&probing, &topics, &group, describes, &ours)
    })
    .await;
    let (describes, not_ours) = match sampled {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(worker = %spec.worker, error = %e, "cannot sample the partitions not ours");
            watch.reset();
            return;
        }
        Err(_) => return,
    };
    watch.describes_groups = Some(describes);
    if describes {
        return;
    }
    let orphaned = watch.observe(now, not_ours);
    if !orphaned.is_empty() {
        tracing::warn!(
            worker = %spec.worker, group = %spec.group, ?orphaned,
            "rejoining the group: partitions not ours have records and an offset that did not move for {} s (a dead member holds them)",
            ORPHANED_AFTER.as_secs()
        );
        rejoin(consumer, spec);
        watch.reset();
    }
}

/// Blocking: whether the broker describes groups (asked unless `describes` knows), and, when
/// it does not, the committed offset (or low watermark) and high watermark of every
/// partition of `topics` not in `ours`.
fn sample_not_ours(
    consumer: &WorkerConsumer,
    topics: &[String],
    group: &str,
    describes: Option<bool>,
    ours: &BTreeSet<(String, i32)>,
) -> Result<(bool, Positions), rdkafka::error::KafkaError> {
    let timeout = Duration::from_secs(5);
    let describes = match describes {
        Some(d) => d,
        None => match consumer.fetch_group_list(Some(group), timeout) {
            Ok(_) => true,
            Err(e) if drops_describe(&e) => false,
            Err(e) => return Err(e),
        },
    };
    let mut positions = Positions::new();
    if describes {
        return Ok((true, positions));
    }
    let mut tpl = rdkafka::TopicPartitionList::new();
    for topic in topics {
        let md = consumer.fetch_metadata(Some(topic), timeout)?;
        for p in md.topics().iter().flat_map(|t| t.partitions()) {
            let key = (topic.clone(), p.id());
            if ours.contains(&key) {
                continue;
            }
            let (low, high) = consumer.fetch_watermarks(topic, p.id(), timeout)?;
            tpl.add_partition(topic, p.id());
            positions.insert(key, (low, high));
        }
    }
    if positions.is_empty() {
        return Ok((false, positions));
    }
    let committed = consumer.committed_offsets(tpl, timeout)?;
    for e in committed.elements() {
        if let (rdkafka::Offset::Offset(o), Some(row)) = (
            e.offset(),
            positions.get_mut(&(e.topic().to_string(), e.partition())),
        ) {
            row.0 = o;
        }
    }
    Ok((false, positions))
}

/// Why a worker without partitions could not ask the cluster about its topics and group.
#[derive(Debug, thiserror::Error)]
enum ProbeError {
    #[error("metadata of {topic}: {source}")]
    Metadata {
        topic: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("probe task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Blocking: the partitions of `topics` and the other live members of `group`.
fn probe(
    consumer: &WorkerConsumer,
    topics: &[String],
    group: &str,
    embedded: bool,
) -> Result<Probe, ProbeError> {
    let timeout = Duration::from_secs(5);
    let mut topic_partitions = 0;
    for topic in topics {
        let md = consumer
            .fetch_metadata(Some(topic), timeout)
            .map_err(|source| ProbeError::Metadata {
                topic: topic.clone(),
                source,
            })?;
        topic_partitions += md
            .topics()
            .iter()
            .map(|t| t.partitions().len())
            .sum::<usize>();
    }
    // The embedded broker drops the connection on DescribeGroups: do not ask it. Another
    // eventdeck's embedded broker, used as an external cluster, does the same: a dropped
    // connection is that broker's answer, and it is treated as the embedded one (the fault
    // tests' separate worker processes otherwise waited for partitions for good).
    let mut dropped = false;
    let other_members = if embedded {
        None
    } else {
        consumer
            .fetch_group_list(Some(group), timeout)
            .map_err(|e| dropped = drops_describe(&e))
            .ok()
            .and_then(|list| {
                let g = list.groups().iter().find(|g| g.name() == group)?;
                // We hold nothing, so a member that holds partitions is another one; members
                // without an assignment (ourselves among them) take nothing from us.
                Some(
                    g.members()
                        .iter()
                        .filter(|m| {
                            m.assignment()
                                .and_then(decode_assignment)
                                .is_some_and(|a| !a.is_empty())
                        })
                        .count(),
                )
            })
    };
    Ok(Probe {
        topic_partitions,
        other_members,
        embedded: embedded || dropped,
    })
}

/// Whether a failed group description is a broker dropping the request (tansu) rather than
/// an answer such as "not authorised", after which nothing is assumed.
fn drops_describe(e: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode;
    matches!(
        e.rdkafka_error_code(),
        Some(RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown)
    )
}
