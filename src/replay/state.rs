//! The message state as the log alone says it: every event folded, in log order, with the
//! same rule the indexer applies ([`crate::search::plan::apply_event`]: the highest version
//! wins, a delete leaves a tombstone a replayed create cannot undo). So a rebuilt state and a
//! healthy index agree document for document, whatever order the topics interleave in.

use std::collections::{HashMap, HashSet};

use crate::event::ParsedEvent;
use crate::search::plan::apply_event;
use crate::search::SearchDoc;

/// Where a record was in the log: for reports, "partition 2 @ offset 1,203".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPosition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

impl std::fmt::Display for LogPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]@{}", self.topic, self.partition, self.offset)
    }
}

#[derive(Debug, Default)]
pub struct RebuiltState {
    /// One document per message, tombstones included.
    pub docs: HashMap<String, SearchDoc>,
    /// The record that last changed each message.
    pub last_change: HashMap<String, LogPosition>,
    /// Events folded (changing or not).
    pub events: u64,
    /// Records that were not message events (they went to the dead-letter topic when first
    /// consumed); counted, not folded.
    pub unreadable: u64,
    /// Messages with an event the outbox relay published (its `event_id` header): the write
    /// model's. The others were written straight to the topics (`eventdeck load`, another
    /// producer) and have no row to compare.
    pub from_outbox: HashSet<String>,
    /// Where the read of the log stopped: per (topic, partition), the next offset to read.
    pub read_to: HashMap<(String, i32), i64>,
}

impl RebuiltState {
    /// Folds one event read at `at`; `relayed` when the outbox relay published it. True when
    /// it changed the message's state.
    pub fn apply(&mut self, event: &ParsedEvent, at: LogPosition, relayed: bool) -> bool {
        self.events += 1;
        let id = event.message_id();
        if relayed && !self.from_outbox.contains(id) {
            self.from_outbox.insert(id.to_string());
        }
        match apply_event(self.docs.get(id), event) {
            Some(next) => {
                self.docs.insert(id.to_string(), next);
                self.last_change.insert(id.to_string(), at);
                true
            }
            None => false,
        }
    }

    /// Messages that exist and are not deleted.
    pub fn live(&self) -> usize {
        self.docs.values().filter(|d| !d.deleted).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{MessageCreated, MessageDeleted, MessageEvent, MessageUpdated};

    fn at(offset: i64) -> LogPosition {
        LogPosition {
            topic: "t".into(),
            partition: 0,
            offset,
        }
    }

    fn created(id: &str, text: &str, ms: i64) -> ParsedEvent {
        ParsedEvent::mint_at(
            MessageEvent::Created(MessageCreated {
                message_id: id.into(),
                channel_id: "ch_a".into(),
                author_id: "user_1".into(),
                content: text.into(),
                mentions: vec![],
                attachments: vec![],
            }),
            ms,
        )
    }

    fn edited(id: &str, text: &str, ms: i64) -> ParsedEvent {
        ParsedEvent::mint_at(
            MessageEvent::Updated(MessageUpdated {
                message_id: id.into(),
                channel_id: "ch_a".into(),
                content: text.into(),
                mentions: vec![],
                edited_at: Some(ms),
                editor_id: None,
            }),
            ms,
        )
    }

    fn deleted(id: &str, ms: i64) -> ParsedEvent {
        ParsedEvent::mint_at(
            MessageEvent::Deleted(MessageDeleted {
                message_id: id.into(),
                channel_id: "ch_a".into(),
                deleted_by: "user_1".into(),
            }),
            ms,
        )
    }

    #[test]
    fn the_latest_version_wins_whatever_the_order_and_deletes_stay_deleted() {
        let mut s = RebuiltState::default();
        // The edit's topic was read before the create's: the create fills in, the edit stays.
        s.apply(&edited("m1", "v2", 20), at(1), false);
        s.apply(&created("m1", "v1", 10), at(2), false);
        s.apply(&created("m2", "hello", 11), at(3), false);
        s.apply(&deleted("m2", 30), at(4), false);
        // A replayed create cannot bring m2 back.
        assert!(!s.apply(&created("m2", "hello", 11), at(5), false));
        assert_eq!(s.events, 5);
        assert_eq!(s.docs["m1"].content, "v2");
        assert_eq!(s.docs["m1"].created_at, Some(10));
        assert!(s.docs["m2"].deleted);
        assert_eq!(s.live(), 1);
        assert_eq!(
            s.last_change["m2"].offset, 4,
            "the replayed create changed nothing"
        );
    }
}
