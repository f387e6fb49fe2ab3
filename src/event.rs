//! The event envelope and payloads the platform publishes, the topic names, and the pure
//! parsing every worker shares. Parsing never panics: a record that is not one of our events
//! becomes a [`ParseError`] whose text is the dead-letter reason.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub mod limits;

pub const TOPIC_CREATED: &str = "platform.messages.created";
pub const TOPIC_UPDATED: &str = "platform.messages.updated";
pub const TOPIC_DELETED: &str = "platform.messages.deleted";
pub const TOPIC_NOTIFICATIONS: &str = "platform.notifications.sent";
pub const TOPIC_USER_ACTIVITY: &str = "platform.users.activity";
pub const TOPIC_DLQ: &str = "platform.messages.dlq";
/// Compacted: each message's latest state (kept by the state keeper).
pub const TOPIC_STATE: &str = "platform.messages.state";

/// `{event_type, event_id, timestamp, payload}` exactly as the platform guide writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub event_type: String,
    pub event_id: String,
    /// Milliseconds since the Unix epoch, set by the producer of the event.
    pub timestamp: i64,
    pub payload: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageCreated {
    pub message_id: String,
    pub channel_id: String,
    pub author_id: String,
    pub content: String,
    #[serde(default)]
    pub mentions: Vec<String>,
    #[serde(default)]
    pub attachments: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageUpdated {
    pub message_id: String,
    pub channel_id: String,
    pub content: String,
    #[serde(default)]
    pub mentions: Vec<String>,
    /// Milliseconds since the epoch; the envelope timestamp when absent.
    #[serde(default)]
    pub edited_at: Option<i64>,
    /// Who edited; absent in older producers, so never relied on.
    #[serde(default)]
    pub editor_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageDeleted {
    pub message_id: String,
    pub channel_id: String,
    pub deleted_by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationSent {
    pub notification_id: String,
    pub user_id: String,
    pub message_id: String,
    pub channel_id: String,
    pub author_id: String,
    /// The first characters of the message, for the log line.
    pub preview: String,
    /// Timestamp (ms) of the message event that caused the notification.
    pub source_timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserActivity {
    pub user_id: String,
    /// "searched" (posts, edits and deletes are the message topics' own events).
    pub activity: String,
    #[serde(default)]
    pub channel_id: Option<String>,
    /// What was searched for, as typed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// The envelope type of [`UserActivity`] events.
pub const USER_ACTIVITY: &str = "user.activity";

/// A parsed message event: what the indexer and notifier act on.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageEvent {
    Created(MessageCreated),
    Updated(MessageUpdated),
    Deleted(MessageDeleted),
}

/// A message event with its identity: parsed from a record, or minted once when it is
/// written ([`ParsedEvent::mint`]). Its envelope is a pure function of it, so publishing the
/// same value twice (a retry) publishes the same `event_id` and `timestamp`.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedEvent {
    pub event_id: String,
    pub timestamp: i64,
    pub event: MessageEvent,
}

impl ParsedEvent {
    /// Gives `event` its identity: a new time-ordered id and the current time. Called once,
    /// where the message is written (console, CLI, load generator), never on a retry.
    pub fn mint(event: MessageEvent) -> Self {
        Self::mint_at(event, now_ms())
    }

    /// [`ParsedEvent::mint`] at a given time (load generation, tests).
    pub fn mint_at(event: MessageEvent, timestamp: i64) -> Self {
        Self {
            event_id: new_event_id(),
            timestamp,
            event,
        }
    }

    pub fn event_type(&self) -> &'static str {
        match self.event {
            MessageEvent::Created(_) => "message.created",
            MessageEvent::Updated(_) => "message.updated",
            MessageEvent::Deleted(_) => "message.deleted",
        }
    }

    /// The envelope the platform guide specifies; the same every time for the same event.
    pub fn to_envelope(&self) -> Result<Envelope, serde_json::Error> {
        let payload = match &self.event {
            MessageEvent::Created(p) => serde_json::to_value(p)?,
            MessageEvent::Updated(p) => serde_json::to_value(p)?,
            MessageEvent::Deleted(p) => serde_json::to_value(p)?,
        };
        Ok(Envelope {
            event_type: self.event_type().to_string(),
            event_id: self.event_id.clone(),
            timestamp: self.timestamp,
            payload,
        })
    }

    /// The record value: the envelope as JSON.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&self.to_envelope()?)
    }

    pub fn message_id(&self) -> &str {
        match &self.event {
            MessageEvent::Created(c) => &c.message_id,
            MessageEvent::Updated(u) => &u.message_id,
            MessageEvent::Deleted(d) => &d.message_id,
        }
    }

    pub fn channel_id(&self) -> &str {
        match &self.event {
            MessageEvent::Created(c) => &c.channel_id,
            MessageEvent::Updated(u) => &u.channel_id,
            MessageEvent::Deleted(d) => &d.channel_id,
        }
    }

    /// Version used by the search index guard: later events win, and for the same
    /// millisecond the causal order created < updated < deleted decides.
    pub fn version(&self) -> i64 {
        let rank = match self.event {
            MessageEvent::Created(_) => 1,
            MessageEvent::Updated(_) => 2,
            MessageEvent::Deleted(_) => 3,
        };
        self.timestamp.saturating_mul(4).saturating_add(rank)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("unknown event_type {0:?}")]
    UnknownType(String),
    #[error("invalid {event_type} payload: {reason}")]
    InvalidPayload { event_type: String, reason: String },
    #[error("empty record value")]
    Empty,
}

/// Parses one record value into a message event. Pure: the same bytes always give the same
/// answer, which is what makes a replay harmless.
pub fn parse_message_event(bytes: &[u8]) -> Result<ParsedEvent, ParseError> {
    if bytes.is_empty() {
        return Err(ParseError::Empty);
    }
    let envelope: Envelope =
        serde_json::from_slice(bytes).map_err(|e| ParseError::MalformedJson(e.to_string()))?;
    let invalid = |e: serde_json::Error| ParseError::InvalidPayload {
        event_type: envelope.event_type.clone(),
        reason: e.to_string(),
    };
    let event = match envelope.event_type.as_str() {
        "message.created" => MessageEvent::Created(
            serde_json::from_value(envelope.payload.clone()).map_err(invalid)?,
        ),
        "message.updated" => MessageEvent::Updated(
            serde_json::from_value(envelope.payload.clone()).map_err(invalid)?,
        ),
        "message.deleted" => MessageEvent::Deleted(
            serde_json::from_value(envelope.payload.clone()).map_err(invalid)?,
        ),
        other => return Err(ParseError::UnknownType(other.to_string())),
    };
    limits::check(envelope.timestamp, &event).map_err(|e| ParseError::InvalidPayload {
        event_type: envelope.event_type.clone(),
        reason: e.to_string(),
    })?;
    Ok(ParsedEvent {
        event_id: envelope.event_id,
        timestamp: envelope.timestamp,
        event,
    })
}

/// A new time-ordered event id (UUID v7).
pub fn new_event_id() -> String {
    Uuid::now_v7().to_string()
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Builds an envelope around a payload with a fresh id and the current time.
pub fn envelope<P: Serialize>(event_type: &str, payload: &P) -> Envelope {
    Envelope {
        event_type: event_type.to_string(),
        event_id: new_event_id(),
        timestamp: now_ms(),
        payload: serde_json::to_value(payload).unwrap_or(Value::Null),
    }
}

/// `@user` tokens in a text, in order of first appearance, without duplicates. A user id is
/// letters, digits, `_`, `-` and `.` (not trailing), as chat platforms allow; an `@` inside a
/// word (an e-mail address) is not a mention.
pub fn extract_mentions(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let at_word_start = i == 0 || !is_user_char(chars[i - 1]);
        if chars[i] == '@' && at_word_start {
            let start = i + 1;
            let mut end = start;
            while end < chars.len() && is_user_char(chars[end]) {
                end += 1;
            }
            while end > start && chars[end - 1] == '.' {
                end -= 1;
            }
            if end > start {
                let user: String = chars[start..end].iter().collect();
                if !found.contains(&user) {
                    found.push(user);
                }
            }
            i = end.max(start);
        } else {
            i += 1;
        }
    }
    found
}

fn is_user_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-' || c == '.'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guide_created() -> String {
        r#"{"event_type":"message.created","event_id":"0190b5d2-7c1e-7a3b-9f00-000000000001","timestamp":1718000000000,
            "payload":{"message_id":"msg_1","channel_id":"ch_dev","author_id":"user_001",
            "content":"프로젝트 배포 완료 @user_002","mentions":["user_002"],"attachments":[]}}"#
            .to_string()
    }

    #[test]
    fn parses_the_guide_shape() {
        let e = parse_message_event(guide_created().as_bytes()).expect("parses");
        assert_eq!(e.message_id(), "msg_1");
        assert_eq!(e.channel_id(), "ch_dev");
        assert_eq!(e.timestamp, 1_718_000_000_000);
        match e.event {
            MessageEvent::Created(c) => assert_eq!(c.mentions, vec!["user_002"]),
            other => panic!("expected created, got {other:?}"),
        }
    }

    #[test]
    fn malformed_json_is_an_error_with_a_reason() {
        let err = parse_message_event(b"{not json").unwrap_err();
        assert!(matches!(err, ParseError::MalformedJson(_)));
        assert!(err.to_string().starts_with("malformed JSON"));
    }

    #[test]
    fn unknown_type_is_named() {
        let raw = r#"{"event_type":"message.pinned","event_id":"x","timestamp":1,"payload":{}}"#;
        assert_eq!(
            parse_message_event(raw.as_bytes()).unwrap_err(),
            ParseError::UnknownType("message.pinned".into())
        );
    }

    #[test]
    fn missing_payload_field_is_invalid_payload() {
        let raw = r#"{"event_type":"message.deleted","event_id":"x","timestamp":1,"payload":{"message_id":"m"}}"#;
        let err = parse_message_event(raw.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("channel_id"), "{err}");
    }

    #[test]
    fn a_minted_event_keeps_its_identity_and_round_trips() {
        let minted = ParsedEvent::mint(MessageEvent::Deleted(MessageDeleted {
            message_id: "m1".into(),
            channel_id: "ch_dev".into(),
            deleted_by: "user_001".into(),
        }));
        let first = minted.to_json().expect("json");
        // A retry encodes the same value again: same id, same time, same bytes.
        assert_eq!(minted.to_json().expect("json"), first);
        assert_eq!(parse_message_event(&first), Ok(minted.clone()));
        let other = ParsedEvent::mint(minted.event.clone());
        assert_ne!(
            other.event_id, minted.event_id,
            "each write mints its own id"
        );
    }

    #[test]
    fn empty_value_is_rejected() {
        assert_eq!(parse_message_event(b"").unwrap_err(), ParseError::Empty);
    }

    #[test]
    fn version_orders_same_millisecond_causally() {
        let mk = |event| ParsedEvent {
            event_id: "e".into(),
            timestamp: 10,
            event,
        };
        let c = mk(MessageEvent::Created(MessageCreated {
            message_id: "m".into(),
            channel_id: "c".into(),
            author_id: "a".into(),
            content: "x".into(),
            mentions: vec![],
            attachments: vec![],
        }));
        let d = mk(MessageEvent::Deleted(MessageDeleted {
            message_id: "m".into(),
            channel_id: "c".into(),
            deleted_by: "a".into(),
        }));
        assert!(d.version() > c.version());
    }

    #[test]
    fn mentions_are_extracted_in_order_without_duplicates() {
        assert_eq!(
            extract_mentions("hi @user_002 and @bob, also @user_002."),
            vec!["user_002", "bob"]
        );
    }

    #[test]
    fn email_addresses_and_lone_at_are_not_mentions() {
        assert!(extract_mentions("mail me at a@b.com or @ now").is_empty());
    }

    #[test]
    fn mentions_next_to_wide_characters() {
        assert_eq!(
            extract_mentions("배포 완료 @user_002 확인"),
            vec!["user_002"]
        );
        assert_eq!(extract_mentions("@alice.b."), vec!["alice.b"]);
    }
}
