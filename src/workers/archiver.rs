//! The archive worker (group `archive`): each batch of the platform topics' records becomes
//! archive files (see [`crate::archive`]), on disk and synced before the consumer loop
//! commits the batch's offsets. Nothing is poison: any record, even one no other worker can
//! read, is kept as it came.

use std::path::PathBuf;

use super::batch::Record;
use super::consumer::{BatchHandler, HandleError, Handled};
use crate::archive::writer::write_batch;

/// Under the data directory.
pub const ARCHIVE_DIR: &str = "archive";

pub struct Archiver {
    pub root: PathBuf,
}

#[async_trait::async_trait]
impl BatchHandler for Archiver {
    async fn handle(&mut self, records: &[Record]) -> Result<Handled, HandleError> {
        let root = self.root.clone();
        let batch = records.to_vec();
        let newest_event_ms = records.iter().filter_map(|r| r.timestamp).max();
        tokio::task::spawn_blocking(move || write_batch(&root, &batch))
            .await
            .map_err(|e| HandleError::transient("archive writer", e))?
            .map_err(|e| HandleError::transient("writing the archive", e))?;
        Ok(Handled {
            newest_event_ms,
            poison: Vec::new(),
        })
    }
}
