//! The two stages of a consuming worker's batch, so that a worker can keep several batches in
//! flight: `prepare` runs one batch at a time in log order (what must see the batches before
//! it: parsing, look-ups, planning), the returned [`BatchWrite`] runs on its own task, several
//! at once (the round trips to the index). The consumer loop commits the batches in offset
//! order whatever order their writes finish in. A [`BatchHandler`] is a worker with nothing to
//! overlap: [`Serial`] does all its work in `prepare`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::backoff::backoff;
use super::batch::Record;
use super::consumer::{BatchHandler, HandleError, Handled};
use super::report::{Reporter, WorkerState};
use crate::ops::WorkerId;

/// The serial stage of a worker that writes several batches at a time.
#[async_trait::async_trait]
pub trait PipelinedHandler: Send {
    /// Called one batch at a time, in log order; retried with backoff on error.
    async fn prepare(&mut self, records: &[Record]) -> Result<Arc<dyn BatchWrite>, HandleError>;
}

/// The concurrent stage of one batch. `write` is retried on error until it succeeds, so it
/// must be safe to run again (the index's version guard makes a second write a no-op).
#[async_trait::async_trait]
pub trait BatchWrite: Send + Sync {
    async fn write(&self) -> Result<Handled, HandleError>;
}

/// A plain handler in the pipelined loop: everything happens in `prepare`.
pub struct Serial<H>(pub H);

struct Done(Handled);

#[async_trait::async_trait]
impl BatchWrite for Done {
    async fn write(&self) -> Result<Handled, HandleError> {
        Ok(self.0.clone())
    }
}

#[async_trait::async_trait]
impl<H: BatchHandler> PipelinedHandler for Serial<H> {
    async fn prepare(&mut self, records: &[Record]) -> Result<Arc<dyn BatchWrite>, HandleError> {
        let handled = self.0.handle(records).await?;
        Ok(Arc::new(Done(handled)))
    }
}

/// Who is retrying and how to say so.
#[derive(Clone)]
pub struct RetryReport {
    pub worker: WorkerId,
    pub reporter: Reporter,
    pub base: Duration,
}

impl RetryReport {
    /// Logs and reports a failed attempt, then waits the backoff; false when shutdown was
    /// asked for while waiting (the caller gives up without committing).
    pub async fn failed(
        &self,
        stage: &str,
        error: String,
        attempt: u32,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        tracing::warn!(worker = %self.worker, attempt, %error, "{stage} failed, retrying");
        self.reporter
            .state(self.worker, WorkerState::BackingOff { error, attempt });
        if *shutdown.borrow() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff(self.base, attempt)) => true,
            _ = shutdown.changed() => false,
        }
    }
}

/// `prepare` until it succeeds; `None` when shutdown was asked for while retrying.
pub async fn prepare_with_retries<H: PipelinedHandler>(
    handler: &mut H,
    records: &[Record],
    retry: &RetryReport,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<(Arc<dyn BatchWrite>, u32)> {
    let mut attempt = 0u32;
    loop {
        match handler.prepare(records).await {
            Ok(write) => return Some((write, attempt)),
            Err(error) => {
                attempt += 1;
                if !retry
                    .failed("batch", error.to_string(), attempt, shutdown)
                    .await
                {
                    return None;
                }
            }
        }
    }
}

/// `write` until it succeeds; `None` when shutdown was asked for while retrying. The second
/// value counts the failed attempts, so that the loop can say "running" again afterwards.
pub async fn write_with_retries(
    write: Arc<dyn BatchWrite>,
    retry: RetryReport,
    mut shutdown: watch::Receiver<bool>,
) -> Option<(Handled, u32)> {
    let mut attempt = 0u32;
    loop {
        match write.write().await {
            Ok(handled) => return Some((handled, attempt)),
            Err(error) => {
                attempt += 1;
                if !retry
                    .failed("batch write", error.to_string(), attempt, &mut shutdown)
                    .await
                {
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Flaky {
        fails: u32,
    }

    #[async_trait::async_trait]
    impl BatchHandler for Flaky {
        async fn handle(&mut self, _records: &[Record]) -> Result<Handled, HandleError> {
            if self.fails > 0 {
                self.fails -= 1;
                return Err(HandleError::transient("test", "down"));
            }
            Ok(Handled {
                newest_event_ms: Some(7),
                poison: Vec::new(),
            })
        }
    }

    fn retry() -> RetryReport {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        RetryReport {
            worker: WorkerId::Indexer,
            reporter: Reporter::new(tx),
            base: Duration::from_millis(1),
        }
    }

    #[tokio::test]
    async fn a_serial_handler_is_retried_in_prepare_and_its_write_answers_its_outcome() {
        let mut handler = Serial(Flaky { fails: 2 });
        let (_stop, mut shutdown) = watch::channel(false);
        let (write, attempts) = prepare_with_retries(&mut handler, &[], &retry(), &mut shutdown)
            .await
            .expect("prepared");
        assert_eq!(attempts, 2);
        let (handled, write_attempts) = write_with_retries(write, retry(), shutdown)
            .await
            .expect("written");
        assert_eq!(handled.newest_event_ms, Some(7));
        assert_eq!(write_attempts, 0);
    }

    #[tokio::test]
    async fn shutdown_while_retrying_gives_up_without_an_outcome() {
        let mut handler = Serial(Flaky { fails: u32::MAX });
        let (stop, mut shutdown) = watch::channel(false);
        stop.send(true).expect("receiver alive");
        assert!(
            prepare_with_retries(&mut handler, &[], &retry(), &mut shutdown)
                .await
                .is_none()
        );
    }
}
