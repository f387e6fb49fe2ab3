//! Differences between the state rebuilt from the log and what the index (or the write
//! model) holds, message by message, each with the record that last changed it — the
//! report of `eventdeck replay --verify`. Pure: the caller fetches, this compares.

use std::collections::HashMap;

use super::state::{LogPosition, RebuiltState};
use crate::search::SearchDoc;
use crate::store::Message;

#[derive(Debug, Clone, PartialEq)]
pub enum DifferenceKind {
    /// The log has the message; the other side does not.
    Missing,
    /// The other side holds an older version (or other content at the same version).
    Stale { expected: i64, found: i64 },
    /// Deleted in the log, alive on the other side.
    Resurrected,
    /// Alive in the log, deleted on the other side.
    WronglyDeleted,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub message_id: String,
    pub kind: DifferenceKind,
    /// The record that last changed the message in the log.
    pub at: Option<LogPosition>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match &self.kind {
            DifferenceKind::Missing => "missing".to_string(),
            DifferenceKind::Stale { expected, found } => {
                format!("stale (version {found}, the log has {expected})")
            }
            DifferenceKind::Resurrected => "resurrected (deleted in the log)".to_string(),
            DifferenceKind::WronglyDeleted => "deleted (alive in the log)".to_string(),
        };
        match &self.at {
            Some(at) => write!(f, "{} {what}; last changed at {at}", self.message_id),
            None => write!(f, "{} {what}", self.message_id),
        }
    }
}

/// What the index should hold against what it holds (`found`: the index's documents for the
/// rebuilt ids, tombstones included). A message never created in the log (an edit or delete
/// alone) is compared too: the indexer keeps those as partial documents.
pub fn diff_index(rebuilt: &RebuiltState, found: &HashMap<String, SearchDoc>) -> Vec<Difference> {
    let mut out = Vec::new();
    for (id, want) in &rebuilt.docs {
        let kind = match found.get(id) {
            None if want.deleted => None, // a tombstone never written is harmless
            None => Some(DifferenceKind::Missing),
            Some(got) if want.deleted && !got.deleted => Some(DifferenceKind::Resurrected),
            Some(got) if !want.deleted && got.deleted => Some(DifferenceKind::WronglyDeleted),
            Some(got)
                if got.version < want.version || (!want.deleted && got.content != want.content) =>
            {
                Some(DifferenceKind::Stale {
                    expected: want.version,
                    found: got.version,
                })
            }
            Some(_) => None,
        };
        if let Some(kind) = kind {
            out.push(difference(rebuilt, id, kind));
        }
    }
    out.sort_by(|a, b| a.message_id.cmp(&b.message_id));
    out
}

/// What the write model holds against the log, for the messages the outbox relay published
/// (the others were written straight to the topics and never had a row).
pub fn diff_store(rebuilt: &RebuiltState, rows: &HashMap<String, Message>) -> Vec<Difference> {
    let mut out = Vec::new();
    for (id, want) in &rebuilt.docs {
        if !rebuilt.from_outbox.contains(id) {
            continue;
        }
        let kind = match rows.get(id) {
            None => Some(DifferenceKind::Missing),
            Some(row) if want.deleted && row.deleted_at.is_none() => {
                Some(DifferenceKind::Resurrected)
            }
            Some(row) if !want.deleted && row.deleted_at.is_some() => {
                Some(DifferenceKind::WronglyDeleted)
            }
            Some(row) if !want.deleted && row.content != want.content => {
                Some(DifferenceKind::Stale {
                    expected: want.version,
                    found: row.version,
                })
            }
            Some(_) => None,
        };
        if let Some(kind) = kind {
            out.push(difference(rebuilt, id, kind));
        }
    }
    out.sort_by(|a, b| a.message_id.cmp(&b.message_id));
    out
}

fn difference(rebuilt: &RebuiltState, id: &str, kind: DifferenceKind) -> Difference {
    Difference {
        message_id: id.to_string(),
        kind,
        at: rebuilt.last_change.get(id).cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, content: &str, version: i64, deleted: bool) -> SearchDoc {
        SearchDoc {
            message_id: id.into(),
            channel: "ch_a".into(),
            author: "user_1".into(),
            content: content.into(),
            mentions: vec![],
            created_at: Some(1),
            updated_at: None,
            deleted,
            version,
        }
    }

    fn rebuilt(docs: &[SearchDoc]) -> RebuiltState {
        let mut s = RebuiltState::default();
        for d in docs {
            s.docs.insert(d.message_id.clone(), d.clone());
            s.last_change.insert(
                d.message_id.clone(),
                LogPosition {
                    topic: "platform.messages.created".into(),
                    partition: 2,
                    offset: 7,
                },
            );
        }
        s
    }

    #[test]
    fn every_kind_of_difference_is_found_and_agreement_is_silent() {
        let log = rebuilt(&[
            doc("same", "x", 5, false),
            doc("gone", "x", 5, false),
            doc("old", "new text", 9, false),
            doc("back", "", 9, true),
            doc("killed", "x", 5, false),
            doc("never-indexed-tombstone", "", 9, true),
        ]);
        let index: HashMap<String, SearchDoc> = [
            doc("same", "x", 5, false),
            doc("old", "old text", 5, false),
            doc("back", "x", 5, false),
            doc("killed", "", 9, true),
        ]
        .into_iter()
        .map(|d| (d.message_id.clone(), d))
        .collect();
        let kinds: Vec<(String, DifferenceKind)> = diff_index(&log, &index)
            .into_iter()
            .map(|d| (d.message_id, d.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("back".to_string(), DifferenceKind::Resurrected),
                ("gone".to_string(), DifferenceKind::Missing),
                ("killed".to_string(), DifferenceKind::WronglyDeleted),
                (
                    "old".to_string(),
                    DifferenceKind::Stale {
                        expected: 9,
                        found: 5
                    }
                ),
            ]
        );
        let shown = diff_index(&log, &index)[0].to_string();
        assert_eq!(
            shown,
            "back resurrected (deleted in the log); last changed at platform.messages.created[2]@7"
        );
    }

    #[test]
    fn the_write_model_is_compared_only_for_what_the_relay_published() {
        let mut log = rebuilt(&[doc("relayed", "x", 5, false), doc("direct", "y", 5, false)]);
        log.from_outbox.insert("relayed".into());
        let missing: Vec<String> = diff_store(&log, &HashMap::new())
            .into_iter()
            .map(|d| d.message_id)
            .collect();
        assert_eq!(
            missing,
            vec!["relayed"],
            "a message loaded straight to Kafka has no row"
        );
    }
}
