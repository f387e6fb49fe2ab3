//! The write model (CQRS's command side): messages and a transactional outbox. Posting,
//! editing and deleting a message is one transaction that changes the row and appends the
//! event that records the change; the outbox relay publishes the entries afterwards, so an
//! event is never lost to a failed publish and never published for a change that did not
//! commit. The rules ([`command::decide`]) are pure and shared; the stores only read, decide
//! and write in one transaction.
//!
//! Stores: an SQLite-format file in the data directory through libsql (the embedded
//! default; `sqlite.rs`).

pub mod command;
pub mod notifying;
pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

pub use command::{
    Change, CommandError, DeleteMessage, EditMessage, Message, OutboxEntry, PostMessage,
};

/// Any error, as the cause of a [`StoreError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The command breaks a rule: nothing was written.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The database failed; the transaction was rolled back.
    #[error("{context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    pub fn db(context: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Database {
            context,
            source: source.into(),
        }
    }
}

/// Why the write store could not be opened: kept by the services and shared with the relay
/// (which then reports it) and the start-up warnings. Displayed with any password of a URL
/// masked, whatever the database library put in its message.
#[derive(Debug, Clone)]
pub struct StoreUnavailable(pub Arc<StoreError>);

impl std::fmt::Display for StoreUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::config::redact_userinfo(&self.0.to_string()))
    }
}

impl std::error::Error for StoreUnavailable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.0.as_ref())
    }
}

impl From<StoreError> for StoreUnavailable {
    fn from(e: StoreError) -> Self {
        Self(Arc::new(e))
    }
}

/// A post's answer: the message, and whether this request created it (false: an earlier
/// request with the same `Idempotency-Key` did, and this is its message).
#[derive(Debug, Clone, PartialEq)]
pub struct Posted {
    pub message: Message,
    pub created: bool,
}

/// An outbox entry waiting to be published, with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// Increasing in commit order: the relay publishes in this order.
    pub seq: i64,
    pub entry: OutboxEntry,
}

/// What waits in the outbox: monitored like a consumer lag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    pub rows: u64,
    /// `created_at` (ms) of the oldest unpublished entry.
    pub oldest_ms: Option<i64>,
}

#[async_trait::async_trait]
pub trait MessageStore: Send + Sync {
    /// The one transaction of every command: read the row, [`command::decide`], write the row
    /// and its outbox entry. With an idempotency key (and the request's fingerprint), a key
    /// seen before answers with its message instead, checked inside the same transaction.
    async fn apply(
        &self,
        message_id: &str,
        change: &Change,
        idempotency: Option<(&str, String)>,
    ) -> Result<Applied, StoreError>;

    /// Posts a message. With an idempotency key, a retry of the same request returns the
    /// first answer (`created: false`) and writes nothing; the same key with a different
    /// request is refused.
    async fn post(
        &self,
        post: PostMessage,
        idempotency_key: Option<&str>,
    ) -> Result<Posted, StoreError> {
        let prepared = prepare_post(post, idempotency_key)?;
        Ok(self
            .apply(&prepared.id, &prepared.change, prepared.idempotency)
            .await?
            .posted())
    }

    async fn edit(&self, message_id: &str, edit: EditMessage) -> Result<Message, StoreError> {
        Ok(self
            .apply(message_id, &Change::Edit(edit), None)
            .await?
            .message())
    }

    async fn delete(&self, message_id: &str, delete: DeleteMessage) -> Result<Message, StoreError> {
        Ok(self
            .apply(message_id, &Change::Delete(delete), None)
            .await?
            .message())
    }

    /// The row as the write model has it (deleted ones too, with `deleted_at`).
    async fn get(&self, message_id: &str) -> Result<Option<Message>, StoreError>;
    /// The oldest unpublished entries, in commit order.
    async fn pending(&self, limit: usize) -> Result<Vec<Pending>, StoreError>;
    /// Claims up to `limit` unpublished entries for one relay: no other relay gets them until
    /// the claim is finished or dropped, and for each key only a prefix of what waits is
    /// claimed, so a key's events are published in commit order whatever the relays do.
    async fn claim(&self, limit: usize) -> Result<Box<dyn OutboxClaim + '_>, StoreError>;
    /// Marks entries published (after the broker acknowledged them).
    async fn mark_published(&self, seqs: &[i64], at_ms: i64) -> Result<(), StoreError>;
    async fn backlog(&self) -> Result<Backlog, StoreError>;
    /// "embedded store /path/store.db", for titles and logs (never a password).
    fn describe(&self) -> String;
}

pub type SharedStore = Arc<dyn MessageStore>;

/// Entries claimed by one relay (see [`MessageStore::claim`]).
#[async_trait::async_trait]
pub trait OutboxClaim: Send {
    fn entries(&self) -> &[Pending];
    /// Marks `published` (entries of this claim the broker acknowledged) published and
    /// releases the rest, which the next claim offers again.
    async fn finish(self: Box<Self>, published: &[i64], at_ms: i64) -> Result<(), StoreError>;
}

/// Keeps, for each key, the entries of `ours` that come before any unpublished entry of that
/// key which is not ours (claimed by another relay, or past our limit): publishing them
/// cannot overtake an older event of the same key. `waiting` is every unpublished
/// (seq, key) of the keys in `ours`.
pub fn key_order_prefix(ours: Vec<Pending>, waiting: &[(i64, String)]) -> Vec<Pending> {
    use std::collections::{BTreeMap, BTreeSet};
    let mine: BTreeSet<i64> = ours.iter().map(|p| p.seq).collect();
    // The first seq of each key that is not ours: ours at or after it must wait.
    let mut blocked_from: BTreeMap<&str, i64> = BTreeMap::new();
    let mut sorted: Vec<&(i64, String)> = waiting.iter().collect();
    sorted.sort();
    for (seq, key) in sorted {
        if !mine.contains(seq) {
            blocked_from.entry(key.as_str()).or_insert(*seq);
        }
    }
    ours.into_iter()
        .filter(|p| {
            blocked_from
                .get(p.entry.key.as_str())
                .is_none_or(|first| p.seq < *first)
        })
        .collect()
}

/// What a store's transaction did with a command.
pub enum Applied {
    Decided(command::Decided),
    /// An idempotency key seen before: its message, nothing written.
    Replayed(Message),
}

impl Applied {
    pub fn message(self) -> Message {
        match self {
            Applied::Decided(d) => d.message,
            Applied::Replayed(m) => m,
        }
    }

    pub fn posted(self) -> Posted {
        match self {
            Applied::Decided(d) => Posted {
                message: d.message,
                created: true,
            },
            Applied::Replayed(message) => Posted {
                message,
                created: false,
            },
        }
    }
}

/// A post made ready for a store's transaction: the key checked, a new message id, and the
/// key with the request's fingerprint.
struct PreparedPost<'a> {
    id: String,
    change: Change,
    idempotency: Option<(&'a str, String)>,
}

fn prepare_post(
    post: PostMessage,
    idempotency_key: Option<&str>,
) -> Result<PreparedPost<'_>, CommandError> {
    if let Some(key) = idempotency_key {
        command::check_idempotency_key(key)?;
    }
    let request = post_fingerprint(&post);
    Ok(PreparedPost {
        id: command::new_message_id(),
        change: Change::Post(post),
        idempotency: idempotency_key.map(|k| (k, request)),
    })
}

/// The fingerprint of a post, to tell a retry from another request under the same key.
fn post_fingerprint(post: &PostMessage) -> String {
    serde_json::json!({
        "channel_id": post.channel_id,
        "author_id": post.author_id,
        "content": post.content,
        "attachments": post.attachments,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(seq: i64, key: &str) -> Pending {
        Pending {
            seq,
            entry: OutboxEntry {
                event_id: format!("e{seq}"),
                topic: "t".into(),
                key: key.into(),
                payload: vec![],
                created_at: 0,
            },
        }
    }

    fn waiting(rows: &[(i64, &str)]) -> Vec<(i64, String)> {
        rows.iter().map(|(s, k)| (*s, k.to_string())).collect()
    }

    #[test]
    fn a_key_is_published_only_up_to_an_entry_that_is_not_ours() {
        // Another relay holds 2 (key a): our 3 and 5 of key a must wait; key b is free.
        let ours = vec![
            pending(1, "a"),
            pending(3, "a"),
            pending(4, "b"),
            pending(5, "a"),
        ];
        let all = waiting(&[(1, "a"), (2, "a"), (3, "a"), (4, "b"), (5, "a")]);
        let kept: Vec<i64> = key_order_prefix(ours, &all).iter().map(|p| p.seq).collect();
        assert_eq!(kept, [1, 4]);
    }

    #[test]
    fn everything_is_kept_when_nothing_older_is_elsewhere() {
        let ours = vec![pending(7, "a"), pending(8, "b"), pending(9, "a")];
        let all = waiting(&[(7, "a"), (8, "b"), (9, "a"), (12, "a")]);
        let kept: Vec<i64> = key_order_prefix(ours, &all).iter().map(|p| p.seq).collect();
        assert_eq!(
            kept,
            [7, 8, 9],
            "a newer entry past our limit does not block"
        );
    }
}
