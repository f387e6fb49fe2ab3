//! The notifier (group `notification-service`): one `notification.sent` per mentioned user of
//! a message, never to the author, never twice for the same message and user (a replay, or an
//! edit that keeps the mention), and again for a user an edit adds. Who wrote each message
//! is remembered with the notified pairs (see `sent_memory`: same file, same retention
//! window), so that an edit adding a self-mention never notifies the author, after a
//! restart too.
//!
//! Records that do not parse are skipped, never reported as poison: the indexer reads the
//! same topics (and one more) and owns dead-lettering of malformed message events, so a bad
//! record is dead-lettered once, by the indexer, rather than once per worker.

use futures::future::join_all;

use super::batch::Record;
use super::consumer::{BatchHandler, HandleError, Handled};
use super::notify_recovery::{notified_since, RecoveryError};
use super::report::{Reporter, WorkerEvent};
use super::sent_memory::MemoryError;
pub use super::sent_memory::SentMemory;
use crate::bus::producer::{resolve, EventProducer, ProduceError};
use crate::bus::Cluster;
use crate::event::{
    envelope, extract_mentions, new_event_id, now_ms, parse_message_event, MessageEvent,
    NotificationSent,
};

/// A notification to send, before it has an id.
#[derive(Debug, Clone, PartialEq)]
pub struct Mention {
    pub message_id: String,
    pub channel_id: String,
    pub author_id: String,
    pub user_id: String,
    pub preview: String,
    pub source_timestamp: i64,
}

/// The mentions an event calls for (pure): the payload's `mentions` and any `@user` in the
/// text, minus the author, minus what `already` holds. The author of an edit is the one
/// `already` remembers for the message (see [`SentMemory::remember_author`]), else its
/// editor.
pub fn mentions_to_notify(event: &crate::event::ParsedEvent, already: &SentMemory) -> Vec<Mention> {
    let (message_id, channel_id, author, content, listed) = match &event.event {
        MessageEvent::Created(c) => (
            &c.message_id,
            &c.channel_id,
            c.author_id.clone(),
            &c.content,
            &c.mentions,
        ),
        MessageEvent::Updated(u) => {
            let author = already
                .author_of(&u.message_id)
                .map(str::to_string)
                .or_else(|| u.editor_id.clone())
                .unwrap_or_default();
            (
                &u.message_id,
                &u.channel_id,
                author,
                &u.content,
                &u.mentions,
            )
        }
        MessageEvent::Deleted(_) => return Vec::new(),
    };
    let mut users: Vec<String> = listed.clone();
    for u in extract_mentions(content) {
        if !users.contains(&u) {
            users.push(u);
        }
    }
    users
        .into_iter()
        .filter(|u| !u.is_empty() && *u != author && !already.contains(message_id, u))
        .map(|user_id| Mention {
            message_id: message_id.clone(),
            channel_id: channel_id.clone(),
            author_id: author.clone(),
            user_id,
            preview: content.chars().take(120).collect(),
            source_timestamp: event.timestamp,
        })
        .collect()
}

/// Why the notifier could not finish a batch; the consumer loop retries it.
#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    #[error("{0}")]
    Recovery(#[from] RecoveryError),
    #[error("settling notifications in doubt: {0}")]
    RecoveryTask(#[from] tokio::task::JoinError),
    #[error("{0}")]
    Memory(#[from] MemoryError),
    #[error("encoding a notification: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("{topic}: {source}")]
    Produce {
        topic: String,
        #[source]
        source: ProduceError,
    },
}

impl From<NotifierError> for HandleError {
    fn from(e: NotifierError) -> Self {
        HandleError::transient("notifier", e)
    }
}

pub struct Notifier {
    pub producer: EventProducer,
    pub topic: String,
    /// Notified pairs, intents, and the authors of messages.
    pub memory: SentMemory,
    pub reporter: Reporter,
    /// Where to look for notifications in doubt after a crash (see `sent_memory`).
    pub cluster: Cluster,
}

impl Notifier {
    /// Settles the pairs a crash left in doubt, before anything else is sent: those found in
    /// the notification topic were sent; the others were not.
    async fn settle_in_doubt(&mut self) -> Result<(), NotifierError> {
        let Some(since) = self.memory.in_doubt().values().min().copied() else {
            return Ok(());
        };
        let (cluster, topic) = (self.cluster.clone(), self.topic.clone());
        let found =
            tokio::task::spawn_blocking(move || notified_since(&cluster, &topic, since)).await??;
        let doubts = self.memory.in_doubt().len();
        self.memory.resolve(&found)?;
        tracing::info!(
            in_doubt = doubts,
            "notifications in doubt after a crash settled from {}",
            self.topic
        );
        Ok(())
    }
}

#[async_trait::async_trait]
impl BatchHandler for Notifier {
    async fn handle(&mut self, records: &[Record]) -> Result<Handled, HandleError> {
        Ok(Handled {
            newest_event_ms: self.notify(records).await?,
            poison: Vec::new(),
        })
    }
}

impl Notifier {
    /// Sends what `records` call for; returns the timestamp of the newest event.
    async fn notify(&mut self, records: &[Record]) -> Result<Option<i64>, NotifierError> {
        self.settle_in_doubt().await?;
        let mut newest = None;
        let mut pending: Vec<Mention> = Vec::new();
        for r in records {
            // Records that do not parse are the indexer's to dead-letter (see the top).
            let Ok(event) = parse_message_event(r.value()) else {
                continue;
            };
            newest = newest.max(Some(event.timestamp));
            if let MessageEvent::Created(c) = &event.event {
                // Written with this batch's intents, before anything is sent.
                self.memory.remember_author(&c.message_id, &c.author_id);
            }
            for m in mentions_to_notify(&event, &self.memory) {
                if !pending
                    .iter()
                    .any(|p| p.message_id == m.message_id && p.user_id == m.user_id)
                {
                    pending.push(m);
                }
            }
        }
        // The intent first: a kill after the broker's acknowledgement and before `remember`
        // then leaves a pair in doubt rather than a duplicate or a loss.
        let pairs: Vec<(String, String)> = pending
            .iter()
            .map(|m| (m.message_id.clone(), m.user_id.clone()))
            .collect();
        self.memory.intend(&pairs, now_ms())?;
        let mut sends = Vec::with_capacity(pending.len());
        for m in &pending {
            let sent = NotificationSent {
                notification_id: new_event_id(),
                user_id: m.user_id.clone(),
                message_id: m.message_id.clone(),
                channel_id: m.channel_id.clone(),
                author_id: m.author_id.clone(),
                preview: m.preview.clone(),
                source_timestamp: m.source_timestamp,
            };
            let bytes = serde_json::to_vec(&envelope("notification.sent", &sent))?;
            let delivery = self
                .producer
                .enqueue_keyed(&self.topic, &m.user_id, &bytes)
                .await
                .map_err(|source| NotifierError::Produce {
                    topic: self.topic.clone(),
                    source,
                })?;
            sends.push(async move { (sent, resolve(delivery).await) });
        }
        let mut first_error = None;
        for (sent, result) in join_all(sends).await {
            match result {
                Ok(_) => {
                    self.memory.remember(&sent.message_id, &sent.user_id)?;
                    self.reporter.send(WorkerEvent::Notification(sent));
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(source) => Err(NotifierError::Produce {
                topic: self.topic.clone(),
                source,
            }),
            None => Ok(newest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{MessageCreated, MessageUpdated, ParsedEvent};

    fn created(author: &str, text: &str, listed: &[&str]) -> ParsedEvent {
        ParsedEvent {
            event_id: "e".into(),
            timestamp: 1,
            event: MessageEvent::Created(MessageCreated {
                message_id: "m1".into(),
                channel_id: "ch".into(),
                author_id: author.into(),
                content: text.into(),
                mentions: listed.iter().map(|s| s.to_string()).collect(),
                attachments: vec![],
            }),
        }
    }

    fn edit(text: &str, listed: &[&str]) -> ParsedEvent {
        ParsedEvent {
            event_id: "e2".into(),
            timestamp: 2,
            event: MessageEvent::Updated(MessageUpdated {
                message_id: "m1".into(),
                channel_id: "ch".into(),
                content: text.into(),
                mentions: listed.iter().map(|s| s.to_string()).collect(),
                edited_at: Some(2),
                editor_id: None,
            }),
        }
    }

    fn users(mentions: Vec<Mention>) -> Vec<String> {
        mentions.into_iter().map(|m| m.user_id).collect()
    }

    #[test]
    fn author_is_never_notified_of_a_self_mention() {
        let m = mentions_to_notify(
            &created("alice", "@alice @bob", &["alice"]),
            &SentMemory::in_memory(),
        );
        assert_eq!(users(m), vec!["bob"]);
    }

    #[test]
    fn listed_and_written_mentions_are_merged_once() {
        let m = mentions_to_notify(
            &created("alice", "hi @bob and @carol", &["bob"]),
            &SentMemory::in_memory(),
        );
        assert_eq!(users(m), vec!["bob", "carol"]);
    }

    #[test]
    fn an_edit_notifies_only_the_added_user() {
        let mut memory = SentMemory::in_memory();
        memory.remember_author("m1", "alice");
        for m in mentions_to_notify(&created("alice", "@bob", &["bob"]), &memory) {
            memory.remember(&m.message_id, &m.user_id).expect("memory");
        }
        let m = mentions_to_notify(
            &edit("@bob @dave @alice", &["bob", "dave", "alice"]),
            &memory,
        );
        assert_eq!(users(m), vec!["dave"]);
    }

    #[test]
    fn the_author_is_still_known_after_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notified.tsv");
        let mut memory = SentMemory::open(path.clone()).expect("open");
        memory.remember_author("m1", "alice");
        // The batch's intents (none here) carry the author line.
        memory.intend(&[], now_ms()).expect("write");
        drop(memory);
        let memory = SentMemory::open(path).expect("reopen");
        let m = mentions_to_notify(&edit("@alice @dave", &[]), &memory);
        assert_eq!(users(m), vec!["dave"]);
    }
}
