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
    /// Posts a message. With an idempotency key, a retry of the same request returns the
    /// first answer (`created: false`) and writes nothing; the same key with a different
    /// request is refused.
    async fn post(
        &self,
        post: PostMessage,
        idempotency_key: Option<&str>,
    ) -> Result<Posted, StoreError>;
    async fn edit(&self, message_id: &str, edit: EditMessage) -> Result<Message, StoreError>;
    async fn delete(&self, message_id: &str, delete: DeleteMessage) -> Result<Message, StoreError>;
    /// The row as the write model has it (deleted ones too, with `deleted_at`).
    async fn get(&self, message_id: &str) -> Result<Option<Message>, StoreError>;
    /// The oldest unpublished entries, in commit order.
    async fn pending(&self, limit: usize) -> Result<Vec<Pending>, StoreError>;
    /// Marks entries published (after the broker acknowledged them).
    async fn mark_published(&self, seqs: &[i64], at_ms: i64) -> Result<(), StoreError>;
    async fn backlog(&self) -> Result<Backlog, StoreError>;
    /// "embedded store /path/store.db", for titles and logs (never a password).
    fn describe(&self) -> String;
}

pub type SharedStore = Arc<dyn MessageStore>;

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
