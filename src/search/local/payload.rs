//! Which analysis built the documents of a local index, kept in tantivy's commit payload so
//! that it survives restarts and is read by read-only openers too.

use tantivy::Index;

use super::analysis::ANALYZER;
use crate::search::WORDS_ONLY;

/// What every commit records about the index, as JSON in tantivy's commit payload.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Payload {
    /// The analysis that built the documents: [`ANALYZER`], or [`WORDS_ONLY`] for an index
    /// an older eventdeck built (it recorded no payload).
    pub analyzer: String,
}

impl Payload {
    pub(super) fn written_by(analyzer: &str) -> Payload {
        Payload {
            analyzer: analyzer.to_string(),
        }
    }

    /// What the last commit recorded; an empty index is as good as a current one.
    pub(super) fn of(index: &Index, docs: u64) -> Payload {
        let recorded = index
            .load_metas()
            .ok()
            .and_then(|m| m.payload)
            .and_then(|p| serde_json::from_str(&p).ok());
        match recorded {
            Some(payload) => payload,
            None if docs == 0 => Payload::written_by(ANALYZER),
            None => Payload::written_by(WORDS_ONLY),
        }
    }
}
