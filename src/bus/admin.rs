//! Topic creation at start-up. Missing topics are created; existing ones are left exactly as
//! they are (never deleted, never re-partitioned).

use super::safe_create::SafeCreate;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use super::Cluster;

pub fn admin_client(cluster: &Cluster) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    Ok(cluster.client_config("admin").build()?)
}

/// Creates the topics that do not exist yet. Returns the names it created.
/// Creates `topic` compacted (`cleanup.policy=compact`) when it does not exist; an existing
/// topic is left as it is.
pub async fn ensure_compacted_topic(
    cluster: &Cluster,
    topic: &str,
    partitions: i32,
    replication: i32,
) -> anyhow::Result<bool> {
    let admin = admin_client(cluster)?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication))
        .set("cleanup.policy", "compact");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics([&new], &options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot create {topic} on {}: {e}", cluster.describe()))?;
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(true),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) | None => Ok(false),
        Some(Err((name, code))) => anyhow::bail!("cannot create topic {name}: {code}"),
    }
}

pub async fn ensure_topics(
    cluster: &Cluster,
    topics: &[&str],
    partitions: i32,
    replication: i32,
) -> anyhow::Result<Vec<String>> {
    let admin = admin_client(cluster)?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(replication)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics(&new, &options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot create topics on {}: {e}", cluster.describe()))?;
    let mut created = Vec::new();
    for r in results {
        match r {
            Ok(name) => created.push(name),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("cannot create topic {name}: {code}"),
        }
    }
    Ok(created)
}
