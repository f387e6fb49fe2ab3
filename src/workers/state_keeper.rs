//! The state keeper (group `groups.state`): keeps the compacted topic `topics.state`
//! (`platform.messages.state`, `cleanup.policy=compact`): key the message id, value its
//! latest state as the index stores it (a [`SearchDoc`] in JSON), a tombstone (null value)
//! once deleted. Compaction then keeps one record per message, so a rebuild can read the
//! state instead of the whole history (`eventdeck replay --from-state`).
//!
//! An edit carries no author and no creation time, so folding needs each message's current
//! state: the keeper holds it in memory (one document per message, like a Kafka Streams
//! table), restored at start from its own topic. A batch's new states are acknowledged by
//! the broker before its offsets are committed. Records that are not message events are
//! skipped here: the indexer dead-letters them, once.

use std::collections::HashMap;

use super::batch::Record;
use super::consumer::{BatchHandler, HandleError, Handled};
use crate::bus::producer::{resolve, EventProducer};
use crate::bus::Cluster;
use crate::event::parse_message_event;
use crate::replay::read_state::read_state_topic;
use crate::search::plan::apply_event;
use crate::search::SearchDoc;

pub struct StateKeeper {
    pub producer: EventProducer,
    pub cluster: Cluster,
    /// The compacted state topic.
    pub topic: String,
    /// Each message's state; `None` until restored from the topic.
    pub docs: Option<HashMap<String, SearchDoc>>,
}

/// A message the state topic says is deleted: no later event can change it (deletes are
/// final in the write model), whatever its version was.
fn deleted_for_good(id: &str) -> SearchDoc {
    SearchDoc {
        message_id: id.to_string(),
        channel: String::new(),
        author: String::new(),
        content: String::new(),
        mentions: Vec::new(),
        created_at: None,
        updated_at: None,
        deleted: true,
        version: i64::MAX,
    }
}

/// The changes a batch makes, folded in order: (message id, its new state). Pure.
pub fn fold_batch(docs: &mut HashMap<String, SearchDoc>, records: &[Record]) -> Vec<String> {
    let mut changed = Vec::new();
    for r in records {
        let Some(Ok(event)) = r.payload.as_deref().map(parse_message_event) else {
            continue;
        };
        let id = event.message_id();
        if docs.get(id).is_some_and(|d| d.deleted) {
            continue; // deletes are final: its tombstone is out already
        }
        if let Some(next) = apply_event(docs.get(id), &event) {
            docs.insert(id.to_string(), next);
            if !changed.iter().any(|c| c == id) {
                changed.push(id.to_string());
            }
        }
    }
    changed
}

impl StateKeeper {
    async fn restore(&mut self) -> Result<HashMap<String, SearchDoc>, HandleError> {
        let (cluster, topic) = (self.cluster.clone(), self.topic.clone());
        let (latest, unreadable) =
            tokio::task::spawn_blocking(move || read_state_topic(&cluster, &topic, |_| {}))
                .await
                .map_err(|e| HandleError::transient("restoring the state", e))?
                .map_err(|e| HandleError::transient("restoring the state", e))?;
        if unreadable > 0 {
            tracing::warn!(topic = %self.topic, unreadable, "state records skipped");
        }
        Ok(latest
            .into_iter()
            .map(|(id, doc)| {
                let doc = doc.unwrap_or_else(|| deleted_for_good(&id));
                (id, doc)
            })
            .collect())
    }
}

#[async_trait::async_trait]
impl BatchHandler for StateKeeper {
    async fn handle(&mut self, records: &[Record]) -> Result<Handled, HandleError> {
        let mut docs = match self.docs.take() {
            Some(docs) => docs,
            None => self.restore().await?,
        };
        // Folding again after a failed produce is harmless: the same states come out.
        let changed = fold_batch(&mut docs, records);
        let mut deliveries = Vec::with_capacity(changed.len());
        let mut failure = None;
        for id in &changed {
            let doc = &docs[id];
            let value = if doc.deleted {
                None
            } else {
                Some(serde_json::to_vec(doc).map_err(|e| HandleError::transient("encoding", e))?)
            };
            match self
                .producer
                .enqueue(&self.topic, Some(id.as_bytes()), value.as_deref(), &[])
                .await
            {
                Ok(d) => deliveries.push(d),
                Err(e) => {
                    failure = Some(HandleError::transient("producing the state", e));
                    break;
                }
            }
        }
        for d in deliveries {
            if let Err(e) = resolve(d).await {
                failure.get_or_insert(HandleError::transient("producing the state", e));
            }
        }
        self.docs = Some(docs);
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(Handled {
            newest_event_ms: records.iter().filter_map(|r| r.timestamp).max(),
            poison: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{MessageCreated, MessageDeleted, MessageEvent, MessageUpdated, ParsedEvent};

    fn record(event: MessageEvent, ms: i64) -> Record {
        let payload = ParsedEvent::mint_at(event, ms).to_json().expect("json");
        Record {
            topic: "t".into(),
            partition: 0,
            offset: ms,
            key: None,
            payload: Some(payload),
            headers: vec![],
            timestamp: Some(ms),
        }
    }

    #[test]
    fn a_batch_folds_to_each_messages_latest_state_and_deletes_are_final() {
        let created = MessageEvent::Created(MessageCreated {
            message_id: "m1".into(),
            channel_id: "ch_a".into(),
            author_id: "user_1".into(),
            content: "v1".into(),
            mentions: vec![],
            attachments: vec![],
        });
        let edited = MessageEvent::Updated(MessageUpdated {
            message_id: "m1".into(),
            channel_id: "ch_a".into(),
            content: "v2".into(),
            mentions: vec![],
            edited_at: Some(20),
            editor_id: None,
        });
        let mut docs = HashMap::new();
        let mut not_json = record(created.clone(), 5);
        not_json.payload = Some(b"not json".to_vec());
        let changed = fold_batch(
            &mut docs,
            &[record(created.clone(), 10), not_json, record(edited, 20)],
        );
        assert_eq!(changed, vec!["m1".to_string()]);
        assert_eq!(docs["m1"].content, "v2");
        assert_eq!(docs["m1"].author, "user_1", "the edit keeps the author");

        docs.insert("m2".into(), deleted_for_good("m2"));
        let recreated = MessageEvent::Created(MessageCreated {
            message_id: "m2".into(),
            channel_id: "ch_a".into(),
            author_id: "user_1".into(),
            content: "back".into(),
            mentions: vec![],
            attachments: vec![],
        });
        assert!(fold_batch(&mut docs, &[record(recreated, 99)]).is_empty());
        let deleted = MessageEvent::Deleted(MessageDeleted {
            message_id: "m1".into(),
            channel_id: "ch_a".into(),
            deleted_by: "user_1".into(),
        });
        assert_eq!(fold_batch(&mut docs, &[record(deleted, 30)]), vec!["m1"]);
        assert!(docs["m1"].deleted);
    }
}
