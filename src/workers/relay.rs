//! The outbox relay: publishes what the write model committed, in commit order per key, and
//! marks an entry published only after the broker acknowledged it. A crash between the two
//! publishes the entry again on restart, with the same event id (consumers already tolerate
//! duplicates: the index keeps the highest version, the notifier remembers what it sent).
//! On PostgreSQL several relays may run: a claim locks its rows (`SKIP LOCKED`), so no entry
//! is published by two relays at once.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::report::{Reporter, WorkerEvent, WorkerState};
use crate::bus::producer::{resolve, EventProducer};
use crate::event::now_ms;
use crate::ops::WorkerId;
use crate::store::{Pending, SharedStore};

/// The header carrying the event id, so kcat and the DLQ show it without parsing the value.
pub const HEADER_EVENT_ID: &str = "event_id";

pub struct Relay {
    pub store: SharedStore,
    pub producer: EventProducer,
    /// Entries per claim.
    pub batch: usize,
    /// How long to wait when the outbox is empty, doubled by each empty look up to
    /// `idle_max`; a commit through this process's store (`committed`) ends the wait.
    pub idle: Duration,
    pub idle_max: Duration,
    pub committed: Arc<tokio::sync::Notify>,
    pub retry_backoff: Duration,
}

/// Publishes until `shutdown`; the claim in hand is finished first (its acknowledged entries
/// are marked), so a clean stop repeats nothing.
pub async fn run_relay(
    relay: Relay,
    reporter: Reporter,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    const WORKER: WorkerId = WorkerId::Relay;
    reporter.state(WORKER, WorkerState::Running);
    let mut failures = 0u32;
    let mut idle = relay.idle;
    while !*shutdown.borrow() {
        let pause = match relay_once(&relay).await {
            Ok(0) => {
                if failures > 0 {
                    failures = 0;
                    reporter.state(WORKER, WorkerState::Running);
                }
                let pause = idle;
                idle = (idle * 2).min(relay.idle_max);
                pause
            }
            Ok(n) => {
                idle = relay.idle;
                if failures > 0 {
                    failures = 0;
                    reporter.state(WORKER, WorkerState::Running);
                }
                reporter.send(WorkerEvent::Processed {
                    worker: WORKER,
                    records: n as u64,
                    newest_event_ms: None,
                });
                Duration::ZERO
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, attempt = failures, "outbox relay");
                reporter.state(
                    WORKER,
                    WorkerState::BackingOff {
                        error: e.to_string(),
                        attempt: failures,
                    },
                );
                super::backoff::backoff(relay.retry_backoff, failures)
            }
        };
        if !pause.is_zero() {
            tokio::select! {
                _ = shutdown.changed() => {}
                _ = tokio::time::sleep(pause) => {}
                // A commit: look again now (not after a failure: that waits its backoff).
                _ = relay.committed.notified(), if failures == 0 => idle = relay.idle,
            }
        }
    }
    reporter.state(WORKER, WorkerState::Stopped);
    Ok(())
}

/// Why a round of the relay did not publish everything it claimed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{failed} of {claimed} outbox entries were not acknowledged: {first}")]
    Unacknowledged {
        failed: usize,
        claimed: usize,
        first: crate::bus::producer::ProduceError,
    },
}

/// One claim: enqueue every entry in order, wait for the acknowledgements, mark what was
/// acknowledged — for each key only up to its first failure, so a key's order holds. Returns
/// how many entries were published.
pub async fn relay_once(relay: &Relay) -> Result<usize, RelayError> {
    let claim = relay.store.claim(relay.batch).await?;
    let entries: Vec<Pending> = claim.entries().to_vec();
    if entries.is_empty() {
        claim.finish(&[], now_ms()).await?;
        return Ok(0);
    }
    let mut deliveries = Vec::with_capacity(entries.len());
    for p in &entries {
        let headers = [(HEADER_EVENT_ID, Some(p.entry.event_id.as_bytes()))];
        deliveries.push(
            relay
                .producer
                .enqueue(
                    &p.entry.topic,
                    Some(p.entry.key.as_bytes()),
                    Some(&p.entry.payload),
                    &headers,
                )
                .await,
        );
    }
    let mut published = Vec::with_capacity(entries.len());
    let mut failed_keys: HashSet<&str> = HashSet::new();
    let mut first_error = None;
    let mut failed = 0;
    for (p, delivery) in entries.iter().zip(deliveries) {
        let result = match delivery {
            Ok(d) => resolve(d).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(_) if !failed_keys.contains(p.entry.key.as_str()) => published.push(p.seq),
            // Acknowledged after an older entry of its key failed: published again later,
            // after that one (a duplicate with the same event id, never a reordering).
            Ok(_) => {}
            Err(e) => {
                failed += 1;
                failed_keys.insert(p.entry.key.as_str());
                first_error.get_or_insert(e);
            }
        }
    }
    claim.finish(&published, now_ms()).await?;
    match first_error {
        None => Ok(published.len()),
        Some(first) => Err(RelayError::Unacknowledged {
            failed,
            claimed: entries.len(),
            first,
        }),
    }
}
