//! Runs searches for the console off its thread: the UI sends a [`SearchRequest`] and later
//! receives a [`SearchResponse`] with the same id; it never holds a search client itself.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::analytics::activity::ActivityLog;
use crate::monitor::cqrs::CqrsMeter;

/// The user of the console's searches in activity events: the console has no login.
pub const CONSOLE_USER: &str = "console";
pub use crate::ops::{SearchRequest, SearchResponse};
use crate::search::SearchIndex;

/// Answers requests in order until the request channel closes. When requests pile up (a
/// person typing fast) only the newest waiting one is run.
pub async fn run_search_service(
    index: Arc<dyn SearchIndex>,
    meter: Arc<CqrsMeter>,
    activity: Option<ActivityLog>,
    mut requests: mpsc::Receiver<SearchRequest>,
    responses: mpsc::Sender<SearchResponse>,
) {
    while let Some(mut request) = requests.recv().await {
        while let Ok(newer) = requests.try_recv() {
            request = newer;
        }
        let started = std::time::Instant::now();
        let result = index.search(&request.query).await;
        if result.is_ok() {
            meter.record_read(started.elapsed());
            // Only the first page: paging through results is one search, not several.
            if let (Some(log), 0) = (&activity, request.query.page) {
                log.searched(CONSOLE_USER, &request.query.text);
            }
        }
        if responses
            .send(SearchResponse {
                id: request.id,
                result,
            })
            .await
            .is_err()
        {
            break;
        }
    }
}
