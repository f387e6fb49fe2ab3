//! The compacted state topic (`platform.messages.state`, kept by the state keeper) read back:
//! one record per message id, its latest state, or a tombstone once deleted. A rebuild can
//! start from it instead of the whole history: the state topic, then only the message events
//! after the state keeper's committed offsets. Events the keeper had already folded but not
//! yet committed are folded again, which changes nothing (the highest version wins).

use crate::bus::safe_create::SafeCreate;
use std::collections::HashMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::read_log::{read_more, read_records, Progress};
use super::state::RebuiltState;
use crate::bus::Cluster;
use crate::search::SearchDoc;

/// The latest record of each key of `topic`: `Some(doc)`, or `None` for a tombstone.
/// Records that are not a document are counted in the second value. Blocking.
pub fn read_state_topic(
    cluster: &Cluster,
    topic: &str,
    progress: impl FnMut(Progress),
) -> anyhow::Result<(HashMap<String, Option<SearchDoc>>, u64)> {
    let mut latest = HashMap::new();
    let mut unreadable = 0;
    let mut from = HashMap::new();
    read_records(cluster, &[topic.to_string()], &mut from, progress, |m| {
        let Some(key) = m.key().and_then(|k| std::str::from_utf8(k).ok()) else {
            unreadable += 1;
            return;
        };
        match m.payload().map(serde_json::from_slice::<SearchDoc>) {
            None => {
                latest.insert(key.to_string(), None);
            }
            Some(Ok(doc)) => {
                latest.insert(key.to_string(), Some(doc));
            }
            Some(Err(_)) => unreadable += 1,
        }
    })?;
    Ok((latest, unreadable))
}

/// The offsets `group` has committed on `topics`, per partition (none: absent). Fetching
/// them joins nothing: the group's members are not disturbed.
pub fn committed_offsets(
    cluster: &Cluster,
    group: &str,
    topics: &[String],
) -> anyhow::Result<HashMap<(String, i32), i64>> {
    let consumer: BaseConsumer = cluster
        .client_config("replay")
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .build()?;
    let mut list = TopicPartitionList::new();
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .map_err(|e| anyhow::anyhow!("reading the partitions of {topic}: {e}"))?;
        if let Some(t) = metadata.topics().first() {
            for p in t.partitions() {
                list.add_partition(topic, p.id());
            }
        }
    }
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .map_err(|e| anyhow::anyhow!("the committed offsets of {group}: {e}"))?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
            _ => None,
        })
        .collect())
}

/// The message state from the state topic plus the events after `group`'s committed offsets.
/// Deleted messages are absent (their tombstones say only that they are gone). Blocking.
pub fn rebuild_from_state(
    cluster: &Cluster,
    state_topic: &str,
    group: &str,
    message_topics: &[String],
    mut progress: impl FnMut(Progress),
) -> anyhow::Result<RebuiltState> {
    let (latest, unreadable) = read_state_topic(cluster, state_topic, &mut progress)?;
    let mut state = RebuiltState {
        read_to: committed_offsets(cluster, group, message_topics)?,
        unreadable,
        ..RebuiltState::default()
    };
    for (id, doc) in latest {
        if let Some(doc) = doc {
            state.docs.insert(id, doc);
        }
    }
    read_more(cluster, message_topics, &mut state, progress)?;
    Ok(state)
}
