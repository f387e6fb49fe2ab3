//! Where analytics' events come from. Posts, edits and deletes are the message topics' own
//! events (the command side writes them through the outbox); searches are `user.activity`
//! events on `platform.users.activity`, which the search side (the API, the console, the
//! `search` command) emits through an [`ActivityLog`]. Reading a record into an [`Activity`]
//! is pure.

use crate::bus::producer::{resolve, EventProducer};
use crate::event::{envelope, parse_message_event, MessageEvent, UserActivity, USER_ACTIVITY};

use super::window::Activity;

/// Search terms counted per search: the first few distinct words.
const MAX_TERMS: usize = 8;

/// The words of a query as analytics ranks them: lower case, punctuation trimmed, distinct.
pub fn terms(query: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in query.split_whitespace() {
        let word = word
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        if !word.is_empty() && !out.contains(&word) {
            out.push(word);
        }
        if out.len() == MAX_TERMS {
            break;
        }
    }
    out
}

/// A record of a message topic or of the activity topic, as analytics counts it, with the
/// event's time; `None` for anything else (the indexer dead-letters what it cannot read).
pub fn read_activity(value: &[u8]) -> Option<(i64, Activity)> {
    if let Ok(event) = parse_message_event(value) {
        let activity = match event.event {
            MessageEvent::Created(c) => Activity::Posted {
                channel: c.channel_id,
                author: c.author_id,
                mentions: c.mentions,
            },
            MessageEvent::Updated(u) => Activity::Edited {
                channel: u.channel_id,
                user: u.editor_id,
            },
            MessageEvent::Deleted(d) => Activity::Deleted {
                channel: d.channel_id,
                user: Some(d.deleted_by),
            },
        };
        return Some((event.timestamp, activity));
    }
    let envelope: crate::event::Envelope = serde_json::from_slice(value).ok()?;
    if envelope.event_type != USER_ACTIVITY {
        return None;
    }
    let a: UserActivity = serde_json::from_value(envelope.payload).ok()?;
    match a.activity.as_str() {
        "searched" => Some((
            envelope.timestamp,
            Activity::Searched {
                user: Some(a.user_id).filter(|u| !u.is_empty()),
                terms: terms(a.query.as_deref().unwrap_or_default()),
            },
        )),
        _ => None,
    }
}

/// Emits the search side's activity events. Fire and forget: a search never waits for its
/// activity event, and a lost one is logged, not retried.
#[derive(Clone)]
pub struct ActivityLog {
    pub producer: EventProducer,
    pub topic: String,
}

impl ActivityLog {
    /// `user` searched for `query` (an empty query, a browse, is not a search).
    pub fn searched(&self, user: &str, query: &str) {
        if query.trim().is_empty() {
            return;
        }
        let event = envelope(
            USER_ACTIVITY,
            &UserActivity {
                user_id: user.to_string(),
                activity: "searched".into(),
                channel_id: None,
                query: Some(query.to_string()),
            },
        );
        let Ok(bytes) = serde_json::to_vec(&event) else {
            return;
        };
        let log = self.clone();
        let key = user.to_string();
        tokio::spawn(async move {
            let sent = match log
                .producer
                .enqueue(&log.topic, Some(key.as_bytes()), Some(&bytes), &[])
                .await
            {
                Ok(delivery) => resolve(delivery).await.map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(e) = sent {
                tracing::warn!(error = %e, "an activity event was not published");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{MessageCreated, ParsedEvent};

    #[test]
    fn records_read_as_activity_with_their_event_time() {
        let created = ParsedEvent::mint_at(
            MessageEvent::Created(MessageCreated {
                message_id: "m1".into(),
                channel_id: "ch_dev".into(),
                author_id: "user_1".into(),
                content: "hi @user_2".into(),
                mentions: vec!["user_2".into()],
                attachments: vec![],
            }),
            1_000,
        );
        let bytes = created.to_json().expect("json");
        assert_eq!(
            read_activity(&bytes),
            Some((
                1_000,
                Activity::Posted {
                    channel: "ch_dev".into(),
                    author: "user_1".into(),
                    mentions: vec!["user_2".into()]
                }
            ))
        );
        let mut search = envelope(
            USER_ACTIVITY,
            &UserActivity {
                user_id: "user_3".into(),
                activity: "searched".into(),
                channel_id: None,
                query: Some("배포 Deploy, deploy!".into()),
            },
        );
        search.timestamp = 2_000;
        let bytes = serde_json::to_vec(&search).expect("json");
        assert_eq!(
            read_activity(&bytes),
            Some((
                2_000,
                Activity::Searched {
                    user: Some("user_3".into()),
                    terms: vec!["배포".into(), "deploy".into()]
                }
            ))
        );
        assert_eq!(read_activity(b"not json"), None);
    }
}
