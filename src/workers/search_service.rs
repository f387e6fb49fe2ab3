//! Runs searches for the console off its thread: the UI sends a [`SearchRequest`] and later
//! receives a [`SearchResponse`] with the same id; it never holds a search client itself.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::search::{SearchError, SearchIndex, SearchQuery, SearchResults};

#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// Chosen by the requester; a response to an older id can be ignored.
    pub id: u64,
    pub query: SearchQuery,
}

#[derive(Debug, Clone)]
pub struct SearchResponse {
    pub id: u64,
    pub result: Result<SearchResults, SearchError>,
}

/// Answers requests in order until the request channel closes. When requests pile up (a
/// person typing fast) only the newest waiting one is run.
pub async fn run_search_service(
    index: Arc<dyn SearchIndex>,
    mut requests: mpsc::Receiver<SearchRequest>,
    responses: mpsc::Sender<SearchResponse>,
) {
    while let Some(mut request) = requests.recv().await {
        while let Ok(newer) = requests.try_recv() {
            request = newer;
        }
        let result = index.search(&request.query).await;
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
