//! The write model of this process, telling its outbox relay when a command committed: the
//! relay then publishes at once instead of at its next look, and can look rarely while
//! nothing happens (an idle relay polled the outbox 20 times a second, ~1.4 % of a core).
//! Writes from other processes (another eventdeck on the same PostgreSQL) are still found
//! by the relay's own looks.

use std::sync::Arc;

use tokio::sync::Notify;

use super::{
    Applied, Backlog, Change, Message, MessageStore, OutboxClaim, Pending, SharedStore, StoreError,
};

pub struct Notifying {
    inner: SharedStore,
    committed: Arc<Notify>,
}

impl Notifying {
    /// `inner`, and the signal its commits raise. A commit while nobody waits leaves one
    /// permit, so the relay never misses a commit between two looks.
    pub fn wrap(inner: SharedStore) -> (SharedStore, Arc<Notify>) {
        let committed = Arc::new(Notify::new());
        let store = Arc::new(Notifying {
            inner,
            committed: committed.clone(),
        });
        (store, committed)
    }
}

#[async_trait::async_trait]
impl MessageStore for Notifying {
    async fn apply(
        &self,
        message_id: &str,
        change: &Change,
        idempotency: Option<(&str, String)>,
    ) -> Result<Applied, StoreError> {
        let applied = self.inner.apply(message_id, change, idempotency).await?;
        self.committed.notify_one();
        Ok(applied)
    }

    async fn get(&self, message_id: &str) -> Result<Option<Message>, StoreError> {
        self.inner.get(message_id).await
    }

    async fn pending(&self, limit: usize) -> Result<Vec<Pending>, StoreError> {
        self.inner.pending(limit).await
    }

    async fn claim(&self, limit: usize) -> Result<Box<dyn OutboxClaim + '_>, StoreError> {
        self.inner.claim(limit).await
    }

    async fn mark_published(&self, seqs: &[i64], at_ms: i64) -> Result<(), StoreError> {
        self.inner.mark_published(seqs, at_ms).await
    }

    async fn backlog(&self) -> Result<Backlog, StoreError> {
        self.inner.backlog().await
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}
