//! A worker that holds no partition although its topics have some and nobody else in its
//! group holds them rejoins the group (the decision is `assignment_watch`'s, pure; this is
//! the asking).

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::Consumer;

use super::assignment_watch::{decide, Decision, EmptyAssignment, Probe, HEAL_AFTER};
use super::consumer::{ConsumerSpec, WorkerConsumer};
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
            consumer.unsubscribe();
            let topics: Vec<&str> = spec.topics.iter().map(String::as_str).collect();
            if let Err(e) = consumer.subscribe(&topics) {
                tracing::error!(worker = %spec.worker, error = %e, "subscribing again failed");
            }
        }
        Decision::Keep(reason) => {
            tracing::info!(worker = %spec.worker, group = %spec.group, %reason, "no partitions")
        }
    }
    empty.restart(now);
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
    // The embedded broker drops the connection on DescribeGroups: do not ask it.
    let other_members = if embedded {
        None
    } else {
        consumer
            .fetch_group_list(Some(group), timeout)
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
        embedded,
    })
}
