//! The write side's rules, pure: what a post, an edit or a delete must look like, and what it
//! turns a message row into, with the one event that records the change. The stores apply
//! [`decide`] inside their transaction (read the row, decide, write the row and the outbox
//! entry), so the rules are the same on PostgreSQL and on the embedded file and are tested
//! here without a database.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::TopicsConfig;
use crate::event::{
    extract_mentions, new_event_id, MessageCreated, MessageDeleted, MessageEvent, MessageUpdated,
    ParsedEvent,
};

/// Longest message text, in characters (not bytes: Korean text is 3 bytes a character).
pub const MAX_CONTENT_CHARS: usize = 4_000;
/// Most attachments on one message.
pub const MAX_ATTACHMENTS: usize = 10;
/// Longest id after its prefix (`ch_`, `user_`).
pub const MAX_ID_CHARS: usize = 64;
/// Longest `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// A message as the write model keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub message_id: String,
    pub channel_id: String,
    pub author_id: String,
    pub content: String,
    pub mentions: Vec<String>,
    pub attachments: Vec<Value>,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    pub updated_at: Option<i64>,
    pub deleted_at: Option<i64>,
    /// 1 when posted, +1 at every change.
    pub version: i64,
}

/// `POST /messages`, the compose form, `eventdeck send`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PostMessage {
    pub channel_id: String,
    pub author_id: String,
    pub content: String,
    #[serde(default)]
    pub attachments: Vec<Value>,
}

/// `PATCH /messages/{id}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EditMessage {
    pub content: String,
    /// Who edits; the author when absent.
    #[serde(default)]
    pub editor_id: Option<String>,
}

/// `DELETE /messages/{id}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeleteMessage {
    /// Who deletes; the author when absent.
    #[serde(default)]
    pub deleted_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Post(PostMessage),
    Edit(EditMessage),
    Delete(DeleteMessage),
}

/// Why the write side refused a command. Each maps to one HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// A field breaks a rule (422).
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// No message with this id (404).
    #[error("no message {0}")]
    NotFound(String),
    /// The message was deleted (409).
    #[error("message {0} was deleted")]
    Deleted(String),
    /// The idempotency key was used before for a different request (422, as Stripe answers).
    #[error("Idempotency-Key {0:?} was used for a different request")]
    KeyReused(String),
}

impl CommandError {
    fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// The HTTP status that says this.
    pub fn status(&self) -> u16 {
        match self {
            CommandError::Invalid { .. } | CommandError::KeyReused(_) => 422,
            CommandError::NotFound(_) => 404,
            CommandError::Deleted(_) => 409,
        }
    }
}

/// A change decided: the row as it is now, and the event that says so (minted here, once).
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub message: Message,
    pub event: ParsedEvent,
}

/// An outbox entry: the event as it will be published.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub event_id: String,
    pub topic: String,
    pub key: String,
    pub payload: Vec<u8>,
    pub created_at: i64,
}

impl Decided {
    /// The outbox entry of this change, keyed by channel like every message event.
    pub fn outbox_entry(&self, topics: &TopicsConfig) -> Result<OutboxEntry, serde_json::Error> {
        let topic = match self.event.event {
            MessageEvent::Created(_) => &topics.created,
            MessageEvent::Updated(_) => &topics.updated,
            MessageEvent::Deleted(_) => &topics.deleted,
        };
        Ok(OutboxEntry {
            event_id: self.event.event_id.clone(),
            topic: topic.clone(),
            key: self.message.channel_id.clone(),
            payload: self.event.to_json()?,
            created_at: self.event.timestamp,
        })
    }
}

/// `ch_` or `user_` followed by 1–64 of `a-z 0-9 _ - .`: the ids the platform guide uses.
pub fn check_id(field: &'static str, prefix: &str, id: &str) -> Result<(), CommandError> {
    let Some(rest) = id.strip_prefix(prefix) else {
        return Err(CommandError::invalid(
            field,
            format!("must start with {prefix:?}, e.g. {prefix}general"),
        ));
    };
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.".contains(c);
    if rest.is_empty() || rest.chars().count() > MAX_ID_CHARS || !rest.chars().all(ok_char) {
        return Err(CommandError::invalid(
            field,
            format!("{prefix} then 1–{MAX_ID_CHARS} of a-z 0-9 _ - ."),
        ));
    }
    Ok(())
}

pub fn check_content(content: &str) -> Result<(), CommandError> {
    if content.trim().is_empty() {
        return Err(CommandError::invalid("content", "must not be empty"));
    }
    let chars = content.chars().count();
    if chars > MAX_CONTENT_CHARS {
        return Err(CommandError::invalid(
            "content",
            format!("{chars} characters; at most {MAX_CONTENT_CHARS}"),
        ));
    }
    // NUL and other C0 controls (but tab and newlines) are never chat text; they break
    // terminals and some stores.
    if content
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(CommandError::invalid(
            "content",
            "control characters other than tab and newline are not allowed",
        ));
    }
    Ok(())
}

/// Checks an `Idempotency-Key` header value: 1–255 visible ASCII characters.
pub fn check_idempotency_key(key: &str) -> Result<(), CommandError> {
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !key.chars().all(|c| c.is_ascii_graphic())
    {
        return Err(CommandError::invalid(
            "Idempotency-Key",
            format!("1–{MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
        ));
    }
    Ok(())
}

/// A new message id: time-ordered, in the form the platform uses.
pub fn new_message_id() -> String {
    format!("msg_{}", new_event_id())
}

/// Decides a change. `current` is the row of `message_id` (`None` when there is none);
/// for a post, `message_id` is the id to give the new message.
pub fn decide(
    message_id: &str,
    change: &Change,
    current: Option<&Message>,
    now_ms: i64,
) -> Result<Decided, CommandError> {
    match change {
        Change::Post(post) => {
            check_id("channel_id", "ch_", &post.channel_id)?;
            check_id("author_id", "user_", &post.author_id)?;
            check_content(&post.content)?;
            if post.attachments.len() > MAX_ATTACHMENTS {
                return Err(CommandError::invalid(
                    "attachments",
                    format!("at most {MAX_ATTACHMENTS}"),
                ));
            }
            let message = Message {
                message_id: message_id.to_string(),
                channel_id: post.channel_id.clone(),
                author_id: post.author_id.clone(),
                content: post.content.clone(),
                mentions: extract_mentions(&post.content),
                attachments: post.attachments.clone(),
                created_at: now_ms,
                updated_at: None,
                deleted_at: None,
                version: 1,
            };
            let event = MessageEvent::Created(MessageCreated {
                message_id: message.message_id.clone(),
                channel_id: message.channel_id.clone(),
                author_id: message.author_id.clone(),
                content: message.content.clone(),
                mentions: message.mentions.clone(),
                attachments: message.attachments.clone(),
            });
            Ok(Decided {
                event: ParsedEvent::mint_at(event, now_ms),
                message,
            })
        }
        Change::Edit(edit) => {
            let current = live(message_id, current)?;
            check_content(&edit.content)?;
            let editor = edit.editor_id.as_deref().unwrap_or(&current.author_id);
            check_id("editor_id", "user_", editor)?;
            let message = Message {
                content: edit.content.clone(),
                mentions: extract_mentions(&edit.content),
                updated_at: Some(now_ms),
                version: current.version + 1,
                ..current.clone()
            };
            let event = MessageEvent::Updated(MessageUpdated {
                message_id: message.message_id.clone(),
                channel_id: message.channel_id.clone(),
                content: message.content.clone(),
                mentions: message.mentions.clone(),
                edited_at: Some(now_ms),
                editor_id: Some(editor.to_string()),
            });
            Ok(Decided {
                event: ParsedEvent::mint_at(event, now_ms),
                message,
            })
        }
        Change::Delete(delete) => {
            let current = live(message_id, current)?;
            let by = delete.deleted_by.as_deref().unwrap_or(&current.author_id);
            check_id("deleted_by", "user_", by)?;
            let message = Message {
                deleted_at: Some(now_ms),
                version: current.version + 1,
                ..current.clone()
            };
            let event = MessageEvent::Deleted(MessageDeleted {
                message_id: message.message_id.clone(),
                channel_id: message.channel_id.clone(),
                deleted_by: by.to_string(),
            });
            Ok(Decided {
                event: ParsedEvent::mint_at(event, now_ms),
                message,
            })
        }
    }
}

/// The row, when it exists and is not deleted.
fn live<'a>(id: &str, current: Option<&'a Message>) -> Result<&'a Message, CommandError> {
    match current {
        None => Err(CommandError::NotFound(id.to_string())),
        Some(m) if m.deleted_at.is_some() => Err(CommandError::Deleted(id.to_string())),
        Some(m) => Ok(m),
    }
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
