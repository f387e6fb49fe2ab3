//! Follows one message through the pipeline, which none of the usual consoles does: its
//! events in the message topics (where, when, and whether the indexer's group has committed
//! past them), the document the index holds for it, the dead letters that name it and why,
//! and the notifications it caused. `eventdeck trace MESSAGE_ID` prints it.
//!
//! [`Trace::collect`] folds records into a trace (pure); [`trace`] reads the topics (from the
//! beginning, without a group), the indexer's committed offsets and the index.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use crate::bus::Cluster;
use crate::config::Config;
use crate::search::{SearchDoc, SearchIndex};
use crate::workers::batch::Record;
use crate::workers::dlq::HEADER_REASON;

use super::view::{dead_letter_source, safe_text};

/// Where a record is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Place {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: Option<i64>,
}

impl Place {
    fn of(r: &Record) -> Place {
        Place {
            topic: r.topic.clone(),
            partition: r.partition,
            offset: r.offset,
            timestamp: r.timestamp,
        }
    }
}

/// One event of the message in a message topic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TracedEvent {
    pub at: Place,
    pub event_type: String,
    /// Whether the indexer's group has committed past it (it was indexed or dead-lettered);
    /// `None` when the group has no committed offset on that partition.
    pub passed_indexer: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TracedDeadLetter {
    pub at: Place,
    pub reason: String,
    /// "platform.messages.updated[1]@42", from the dead letter's headers.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TracedNotification {
    pub at: Place,
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    pub message_id: String,
    pub events: Vec<TracedEvent>,
    /// The index's document (a tombstone for a deleted message), or why it could not be read.
    pub document: Option<SearchDoc>,
    pub index_error: Option<String>,
    pub dead_letters: Vec<TracedDeadLetter>,
    pub notifications: Vec<TracedNotification>,
}

fn payload_id(v: &Value) -> Option<&str> {
    v.pointer("/payload/message_id").and_then(Value::as_str)
}

impl Trace {
    pub fn new(message_id: &str) -> Trace {
        Trace {
            message_id: message_id.to_string(),
            events: Vec::new(),
            document: None,
            index_error: None,
            dead_letters: Vec::new(),
            notifications: Vec::new(),
        }
    }

    /// Adds `record` when it concerns the message: an event of a message topic whose
    /// payload names it, a notification for it, or a dead letter whose value names it (a
    /// dead letter may not parse, so its bytes are searched). `committed` holds the indexer
    /// group's committed offsets.
    pub fn collect(
        &mut self,
        record: &Record,
        kind: TopicKind,
        committed: &HashMap<(String, i32), i64>,
    ) {
        let value = record.payload.as_deref().unwrap_or_default();
        match kind {
            TopicKind::Messages | TopicKind::Notifications => {
                let Ok(v) = serde_json::from_slice::<Value>(value) else {
                    return;
                };
                if payload_id(&v) != Some(self.message_id.as_str()) {
                    return;
                }
                let at = Place::of(record);
                if kind == TopicKind::Notifications {
                    self.notifications.push(TracedNotification {
                        at,
                        user_id: v
                            .pointer("/payload/user_id")
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                            .to_string(),
                    });
                    return;
                }
                let passed_indexer = committed
                    .get(&(record.topic.clone(), record.partition))
                    .map(|&c| c > record.offset);
                self.events.push(TracedEvent {
                    at,
                    event_type: v
                        .get("event_type")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_string(),
                    passed_indexer,
                });
            }
            TopicKind::DeadLetters => {
                let id = self.message_id.as_bytes();
                if id.is_empty() || !value.windows(id.len()).any(|w| w == id) {
                    return;
                }
                self.dead_letters.push(TracedDeadLetter {
                    at: Place::of(record),
                    reason: record
                        .last_header(HEADER_REASON)
                        .map(|v| safe_text(v, 300))
                        .unwrap_or_else(|| "(no reason header)".into()),
                    source: dead_letter_source(record),
                });
            }
        }
    }

    /// Nothing at all was found for the message.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.document.is_none()
            && self.dead_letters.is_empty()
            && self.notifications.is_empty()
    }

    /// The human form: one section per stage, in the order a message flows.
    pub fn render(&self) -> String {
        let when = |t: Option<i64>| {
            t.and_then(chrono::DateTime::from_timestamp_millis)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
                .unwrap_or_else(|| "-".into())
        };
        let place = |p: &Place| format!("{}[{}]@{}", p.topic, p.partition, p.offset);
        let id = safe_text(self.message_id.as_bytes(), 200);
        let mut out = format!("message {id}\n\nevents ({}):\n", self.events.len());
        if self.events.is_empty() {
            out.push_str(
                "  none in the message topics (expired by retention, or never produced)\n",
            );
        }
        for e in &self.events {
            let indexer = match e.passed_indexer {
                Some(true) => "the indexer has passed it",
                Some(false) => "NOT YET passed by the indexer",
                None => "the indexer has committed nothing there",
            };
            out.push_str(&format!(
                "  {}  {:<16} {}  · {indexer}\n",
                when(e.at.timestamp),
                e.event_type,
                place(&e.at)
            ));
        }
        out.push_str("\nindex:\n");
        match (&self.document, &self.index_error) {
            (_, Some(e)) => out.push_str(&format!("  cannot read the index: {e}\n")),
            (None, None) => out.push_str("  no document\n"),
            (Some(d), None) if d.deleted => out.push_str(&format!(
                "  deleted (a tombstone, version {}), searches leave it out\n",
                d.version
            )),
            (Some(d), None) => out.push_str(&format!(
                "  version {} · #{} @{} · {}\n",
                d.version,
                safe_text(d.channel.as_bytes(), 80),
                safe_text(d.author.as_bytes(), 80),
                safe_text(d.content.as_bytes(), 200)
            )),
        }
        out.push_str(&format!("\ndead letters ({}):\n", self.dead_letters.len()));
        for d in &self.dead_letters {
            out.push_str(&format!(
                "  {}  {}  from {} · {}\n",
                when(d.at.timestamp),
                place(&d.at),
                d.source,
                d.reason
            ));
        }
        out.push_str(&format!(
            "\nnotifications ({}):\n",
            self.notifications.len()
        ));
        for n in &self.notifications {
            out.push_str(&format!(
                "  {}  → @{}  {}\n",
                when(n.at.timestamp),
                safe_text(n.user_id.as_bytes(), 80),
                place(&n.at)
            ));
        }
        out
    }
}

/// What a traced topic holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicKind {
    Messages,
    Notifications,
    DeadLetters,
}

/// Reads the message, dead-letter and notification topics from the beginning to their ends
/// now (blocking: run it off the async threads) and the indexer group's committed offsets,
/// into a trace without the document.
pub fn read_trace(cluster: &Cluster, config: &Config, message_id: &str) -> anyhow::Result<Trace> {
    let message_topics: Vec<String> = config
        .message_topics()
        .iter()
        .map(|t| t.to_string())
        .collect();
    let committed = crate::replay::read_state::committed_offsets(
        cluster,
        &config.groups.indexer,
        &message_topics,
    )?;
    let mut kinds: HashMap<String, TopicKind> = message_topics
        .iter()
        .map(|t| (t.clone(), TopicKind::Messages))
        .collect();
    kinds.insert(
        config.topics.notifications.clone(),
        TopicKind::Notifications,
    );
    kinds.insert(config.topics.dlq.clone(), TopicKind::DeadLetters);
    let topics: Vec<String> = kinds.keys().cloned().collect();
    let mut trace = Trace::new(message_id);
    let mut read_to = HashMap::new();
    crate::replay::read_log::read_records(
        cluster,
        &topics,
        &mut read_to,
        |_| {},
        |m| {
            let record = Record::from_message(m);
            if let Some(&kind) = kinds.get(&record.topic) {
                trace.collect(&record, kind, &committed);
            }
        },
    )?;
    let by_place = |p: &Place| (p.timestamp, p.topic.clone(), p.partition, p.offset);
    trace.events.sort_by_key(|e| by_place(&e.at));
    trace.dead_letters.sort_by_key(|d| by_place(&d.at));
    trace.notifications.sort_by_key(|n| by_place(&n.at));
    Ok(trace)
}

/// The whole trace: the topics, then the index's document.
pub async fn trace(
    cluster: &Cluster,
    config: &Config,
    index: &dyn SearchIndex,
    message_id: &str,
) -> anyhow::Result<Trace> {
    let (c, cfg, id) = (cluster.clone(), config.clone(), message_id.to_string());
    let mut trace = tokio::task::spawn_blocking(move || read_trace(&c, &cfg, &id)).await??;
    match index.get(&[message_id.to_string()]).await {
        Ok(mut docs) => trace.document = docs.remove(message_id),
        Err(e) => trace.index_error = Some(e.to_string()),
    }
    Ok(trace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workers::dlq::{HEADER_OFFSET, HEADER_PARTITION, HEADER_TOPIC};

    fn record(topic: &str, offset: i64, value: &[u8], headers: Vec<(&str, &[u8])>) -> Record {
        Record {
            topic: topic.into(),
            partition: 1,
            offset,
            key: None,
            payload: Some(value.to_vec()),
            headers: headers
                .into_iter()
                .map(|(n, v)| (n.to_string(), Some(v.to_vec())))
                .collect(),
            timestamp: Some(offset),
        }
    }

    #[test]
    fn a_trace_collects_the_messages_events_dead_letters_and_notifications() {
        let committed = HashMap::from([(("created".to_string(), 1), 5)]);
        let mut t = Trace::new("m1");
        let ev = |id: &str, kind: &str| {
            format!(r#"{{"event_type":"{kind}","payload":{{"message_id":"{id}","user_id":"u2"}}}}"#)
        };
        t.collect(
            &record("created", 3, ev("m1", "message.created").as_bytes(), vec![]),
            TopicKind::Messages,
            &committed,
        );
        t.collect(
            &record("created", 7, ev("m1", "message.created").as_bytes(), vec![]),
            TopicKind::Messages,
            &committed,
        );
        t.collect(
            &record("created", 4, ev("m2", "message.created").as_bytes(), vec![]),
            TopicKind::Messages,
            &committed,
        );
        t.collect(
            &record("updated", 0, ev("m1", "message.updated").as_bytes(), vec![]),
            TopicKind::Messages,
            &committed,
        );
        t.collect(
            &record("sent", 0, ev("m1", "notification.sent").as_bytes(), vec![]),
            TopicKind::Notifications,
            &committed,
        );
        t.collect(
            &record(
                "dlq",
                0,
                br#"{"broken": "m1"#,
                vec![
                    (HEADER_REASON, b"invalid JSON"),
                    (HEADER_TOPIC, b"updated"),
                    (HEADER_PARTITION, b"1"),
                    (HEADER_OFFSET, b"9"),
                ],
            ),
            TopicKind::DeadLetters,
            &committed,
        );
        let passed: Vec<Option<bool>> = t.events.iter().map(|e| e.passed_indexer).collect();
        assert_eq!(passed, [Some(true), Some(false), None]);
        assert_eq!(t.notifications[0].user_id, "u2");
        assert_eq!(t.dead_letters[0].reason, "invalid JSON");
        assert_eq!(t.dead_letters[0].source, "updated[1]@9");
        let text = t.render();
        assert!(text.contains("NOT YET passed by the indexer"), "{text}");
        assert!(text.contains("→ @u2"), "{text}");
        assert!(text.contains("no document"), "{text}");
        assert!(!Trace::new("zzz").render().is_empty());
        assert!(Trace::new("zzz").is_empty());
    }
}
