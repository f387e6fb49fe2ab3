//! Pure planning of a bulk write: folds a batch of message events onto what the index already
//! holds and yields one document per message. The version guard lives here and again in the
//! index (external versions), so a replay or an out-of-order topic can never make an older
//! event win, and a delete can never be undone by a replayed create.

use std::collections::{HashMap, HashSet};

use crate::event::{MessageEvent, ParsedEvent};
use crate::search::SearchDoc;

/// The documents to write, and for each the positions (in the input batch) of the events
/// that shaped it, so that a rejected document can dead-letter exactly those events.
#[derive(Debug, Default, PartialEq)]
pub struct BulkPlan {
    pub docs: Vec<SearchDoc>,
    pub sources: Vec<Vec<usize>>,
}

/// Messages whose stored document is needed to apply this batch: edits and deletes of
/// messages not created earlier in the same batch. A created event never needs a look-up.
pub fn ids_to_look_up(events: &[ParsedEvent]) -> Vec<String> {
    let mut created_here: HashSet<&str> = HashSet::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut wanted: Vec<String> = Vec::new();
    for e in events {
        match &e.event {
            MessageEvent::Created(c) => {
                created_here.insert(&c.message_id);
            }
            _ => {
                let id = e.message_id();
                if !created_here.contains(id) && seen.insert(id) {
                    wanted.push(id.to_string());
                }
            }
        }
    }
    wanted
}

/// Folds `events` (in log order) onto `stored` and returns the documents that changed.
pub fn plan_bulk(events: &[ParsedEvent], stored: &HashMap<String, SearchDoc>) -> BulkPlan {
    let mut order: Vec<String> = Vec::new();
    let mut state: HashMap<String, (Option<SearchDoc>, Vec<usize>, bool)> = HashMap::new();
    for (pos, e) in events.iter().enumerate() {
        let id = e.message_id().to_string();
        let entry = state.entry(id.clone()).or_insert_with(|| {
            order.push(id.clone());
            (stored.get(&id).cloned(), Vec::new(), false)
        });
        entry.1.push(pos);
        if let Some(next) = apply_event(entry.0.as_ref(), e) {
            entry.0 = Some(next);
            entry.2 = true;
        }
    }
    let mut plan = BulkPlan::default();
    for id in order {
        if let Some((Some(doc), sources, true)) = state.remove(&id) {
            plan.docs.push(doc);
            plan.sources.push(sources);
        }
    }
    plan
}

/// The document after `event`, or `None` when the event changes nothing (it is older than
/// what is held and brings no missing field).
pub fn apply_event(current: Option<&SearchDoc>, event: &ParsedEvent) -> Option<SearchDoc> {
    let version = event.version();
    let newer = current.is_none_or(|c| version >= c.version);
    match &event.event {
        MessageEvent::Created(c) => {
            if newer {
                let mut doc = SearchDoc {
                    message_id: c.message_id.clone(),
                    channel: c.channel_id.clone(),
                    author: c.author_id.clone(),
                    content: c.content.clone(),
                    mentions: c.mentions.clone(),
                    created_at: Some(event.timestamp),
                    updated_at: None,
                    deleted: false,
                    version,
                };
                if let Some(cur) = current.filter(|cur| cur.deleted) {
                    // Same version as a delete cannot happen (rank), but keep it a tombstone.
                    doc = cur.clone();
                }
                Some(doc)
            } else {
                // An edit or delete was applied first (topics are not ordered with each
                // other): fill the immutable fields it could not know, keep its version.
                let cur = current?;
                if cur.created_at.is_some() && !cur.author.is_empty() {
                    return None;
                }
                let mut doc = cur.clone();
                doc.created_at = Some(event.timestamp);
                doc.author = c.author_id.clone();
                Some(doc)
            }
        }
        MessageEvent::Updated(u) => {
            if !newer {
                return None;
            }
            if current.is_some_and(|c| c.deleted) {
                return None;
            }
            let mut doc = current.cloned().unwrap_or_else(|| SearchDoc {
                message_id: u.message_id.clone(),
                channel: u.channel_id.clone(),
                author: String::new(),
                content: String::new(),
                mentions: Vec::new(),
                created_at: None,
                updated_at: None,
                deleted: false,
                version,
            });
            doc.content = u.content.clone();
            doc.mentions = u.mentions.clone();
            doc.updated_at = Some(u.edited_at.unwrap_or(event.timestamp));
            doc.version = version;
            Some(doc)
        }
        MessageEvent::Deleted(d) => {
            if !newer {
                return None;
            }
            let (author, created_at) = current
                .map(|c| (c.author.clone(), c.created_at))
                .unwrap_or_default();
            Some(SearchDoc {
                message_id: d.message_id.clone(),
                channel: d.channel_id.clone(),
                author,
                content: String::new(),
                mentions: Vec::new(),
                created_at,
                updated_at: Some(event.timestamp),
                deleted: true,
                version,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{MessageCreated, MessageDeleted, MessageUpdated};

    fn created(id: &str, ts: i64, text: &str) -> ParsedEvent {
        ParsedEvent {
            event_id: format!("c-{id}-{ts}"),
            timestamp: ts,
            event: MessageEvent::Created(MessageCreated {
                message_id: id.into(),
                channel_id: "ch".into(),
                author_id: "alice".into(),
                content: text.into(),
                mentions: vec![],
                attachments: vec![],
            }),
        }
    }

    fn updated(id: &str, ts: i64, text: &str) -> ParsedEvent {
        ParsedEvent {
            event_id: format!("u-{id}-{ts}"),
            timestamp: ts,
            event: MessageEvent::Updated(MessageUpdated {
                message_id: id.into(),
                channel_id: "ch".into(),
                content: text.into(),
                mentions: vec!["bob".into()],
                edited_at: None,
                editor_id: None,
            }),
        }
    }

    fn deleted(id: &str, ts: i64) -> ParsedEvent {
        ParsedEvent {
            event_id: format!("d-{id}-{ts}"),
            timestamp: ts,
            event: MessageEvent::Deleted(MessageDeleted {
                message_id: id.into(),
                channel_id: "ch".into(),
                deleted_by: "alice".into(),
            }),
        }
    }

    fn stored(plan: &BulkPlan) -> HashMap<String, SearchDoc> {
        plan.docs
            .iter()
            .map(|d| (d.message_id.clone(), d.clone()))
            .collect()
    }

    #[test]
    fn create_update_delete_in_one_batch_collapse_to_a_tombstone() {
        let events = [created("m", 1, "a"), updated("m", 2, "b"), deleted("m", 3)];
        let plan = plan_bulk(&events, &HashMap::new());
        assert_eq!(plan.docs.len(), 1);
        assert!(plan.docs[0].deleted);
        assert_eq!(plan.docs[0].created_at, Some(1));
        assert_eq!(plan.sources, vec![vec![0, 1, 2]]);
    }

    #[test]
    fn replay_after_delete_does_not_resurrect() {
        let first = plan_bulk(&[created("m", 1, "a"), deleted("m", 3)], &HashMap::new());
        let replay = plan_bulk(
            &[created("m", 1, "a"), updated("m", 2, "b")],
            &stored(&first),
        );
        assert!(replay.docs.is_empty(), "{replay:?}");
    }

    #[test]
    fn older_update_loses_to_newer_one() {
        let held = stored(&plan_bulk(&[updated("m", 5, "new")], &HashMap::new()));
        let plan = plan_bulk(&[updated("m", 4, "old")], &held);
        assert!(plan.docs.is_empty());
    }

    #[test]
    fn late_create_fills_author_and_time_but_keeps_the_edit() {
        let held = stored(&plan_bulk(&[updated("m", 5, "edited")], &HashMap::new()));
        let plan = plan_bulk(&[created("m", 1, "original")], &held);
        assert_eq!(plan.docs.len(), 1);
        let d = &plan.docs[0];
        assert_eq!(
            (d.content.as_str(), d.author.as_str(), d.created_at),
            ("edited", "alice", Some(1))
        );
        assert_eq!(d.version, updated("m", 5, "").version());
    }

    #[test]
    fn identical_replay_rewrites_the_same_document() {
        let events = [created("m", 1, "a"), updated("m", 2, "b")];
        let first = plan_bulk(&events, &HashMap::new());
        let again = plan_bulk(&events, &stored(&first));
        assert_eq!(again.docs, first.docs);
    }

    #[test]
    fn look_ups_skip_messages_created_in_the_batch() {
        let events = [
            created("a", 1, "x"),
            updated("a", 2, "y"),
            updated("b", 2, "y"),
            deleted("b", 3),
        ];
        assert_eq!(ids_to_look_up(&events), vec!["b".to_string()]);
    }
}
