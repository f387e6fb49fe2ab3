//! What a well-formed message event may not be, whoever produced it: the write model checks
//! its own commands, but any service can write to the topics. An event outside these limits
//! is dead-lettered with the reason, the same on every search backend, instead of being
//! rejected by one engine and accepted by another, or notifying thousands of users at once.

use super::{extract_mentions, MessageEvent};

/// The longest message id: Elasticsearch's limit for a document `_id`.
pub const MAX_ID_BYTES: usize = 512;
/// The most users one message may notify (the payload's list and `@user`s in the text).
pub const MAX_MENTIONS: usize = 1_000;
/// 9999-12-31T23:59:59.999Z: the last instant a date field of every backend can hold.
pub const MAX_TIMESTAMP_MS: i64 = 253_402_300_799_999;

/// Why an event is out of limits: the dead letter's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("{field} {ms} is outside 1970-01-01 to 9999-12-31 (milliseconds since the epoch)")]
    Time { field: &'static str, ms: i64 },
    #[error("message_id is empty")]
    EmptyId,
    #[error("message_id is {0} bytes; at most {MAX_ID_BYTES}")]
    LongId(usize),
    #[error("{0} mentioned users; at most {MAX_MENTIONS}")]
    Mentions(usize),
}

/// Why `event` (with its envelope's `timestamp`) is out of limits; Ok when it is not. Pure.
pub fn check(timestamp: i64, event: &MessageEvent) -> Result<(), LimitError> {
    check_time("timestamp", timestamp)?;
    let (id, mentions) = match event {
        MessageEvent::Created(c) => (&c.message_id, Some((&c.mentions, &c.content))),
        MessageEvent::Updated(u) => {
            if let Some(at) = u.edited_at {
                check_time("edited_at", at)?;
            }
            (&u.message_id, Some((&u.mentions, &u.content)))
        }
        MessageEvent::Deleted(d) => (&d.message_id, None),
    };
    if id.is_empty() {
        return Err(LimitError::EmptyId);
    }
    if id.len() > MAX_ID_BYTES {
        return Err(LimitError::LongId(id.len()));
    }
    if let Some((listed, content)) = mentions {
        let mut users: std::collections::HashSet<&str> =
            listed.iter().map(String::as_str).collect();
        let written = extract_mentions(content);
        users.extend(written.iter().map(String::as_str));
        if users.len() > MAX_MENTIONS {
            return Err(LimitError::Mentions(users.len()));
        }
    }
    Ok(())
}

fn check_time(field: &'static str, ms: i64) -> Result<(), LimitError> {
    if (0..=MAX_TIMESTAMP_MS).contains(&ms) {
        Ok(())
    } else {
        Err(LimitError::Time { field, ms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{MessageCreated, MessageDeleted, MessageUpdated};

    fn created(id: &str, content: &str, mentions: Vec<String>) -> MessageEvent {
        MessageEvent::Created(MessageCreated {
            message_id: id.into(),
            channel_id: "ch".into(),
            author_id: "u".into(),
            content: content.into(),
            mentions,
            attachments: vec![],
        })
    }

    #[test]
    fn ordinary_events_and_the_edges_pass() {
        let ok = created("msg_1", "hi @bob", vec!["bob".into()]);
        assert_eq!(check(1_764_000_000_000, &ok), Ok(()));
        assert_eq!(check(0, &ok), Ok(()));
        assert_eq!(check(MAX_TIMESTAMP_MS, &ok), Ok(()));
        let long_id = "m".repeat(MAX_ID_BYTES);
        assert_eq!(check(1, &created(&long_id, "", vec![])), Ok(()));
        let many: Vec<String> = (0..MAX_MENTIONS).map(|i| format!("u{i}")).collect();
        assert_eq!(check(1, &created("m", "", many)), Ok(()));
    }

    #[test]
    fn times_outside_what_a_date_field_holds_are_refused() {
        let e = created("m", "", vec![]);
        for ms in [-1, i64::MIN, MAX_TIMESTAMP_MS + 1, i64::MAX] {
            let why = check(ms, &e).expect_err("out of range").to_string();
            assert!(
                why.starts_with(&format!("timestamp {ms} is outside")),
                "{why}"
            );
        }
        let edit = MessageEvent::Updated(MessageUpdated {
            message_id: "m".into(),
            channel_id: "c".into(),
            content: String::new(),
            mentions: vec![],
            edited_at: Some(-5),
            editor_id: None,
        });
        assert!(check(1, &edit)
            .expect_err("edited_at")
            .to_string()
            .starts_with("edited_at -5"));
    }

    #[test]
    fn ids_must_be_there_and_fit_a_document_id() {
        assert_eq!(
            check(1, &created("", "", vec![])).map_err(|e| e.to_string()),
            Err("message_id is empty".into())
        );
        let deleted = MessageEvent::Deleted(MessageDeleted {
            message_id: "é".repeat(300),
            channel_id: "c".into(),
            deleted_by: "u".into(),
        });
        assert_eq!(
            check(1, &deleted).map_err(|e| e.to_string()),
            Err("message_id is 600 bytes; at most 512".into())
        );
    }

    #[test]
    fn mentions_count_the_list_and_the_text_once_each() {
        let listed: Vec<String> = (0..600).map(|i| format!("u{i}")).collect();
        // 400 more in the text, and the listed ones again: 1,000 distinct users.
        let text: String = (200..1_000).map(|i| format!("@u{i} ")).collect();
        assert_eq!(check(1, &created("m", &text, listed.clone())), Ok(()));
        let text: String = (0..10_000).map(|i| format!("@u{i} ")).collect();
        assert_eq!(
            check(1, &created("m", &text, listed)).map_err(|e| e.to_string()),
            Err("10000 mentioned users; at most 1000".into())
        );
    }
}
