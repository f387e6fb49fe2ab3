//! The analytics worker (group `groups.analytics`): reads the message topics and the activity
//! topic and counts what happened into the shared [`Board`] (sliding one-minute windows, see
//! [`crate::analytics`]). Counting is in memory: a restart starts from the group's committed
//! offsets with empty counters, so the window fills again as events arrive (an hour of
//! history is at most a replay away: reset the group to an hour ago).

use std::sync::Arc;

use super::batch::Record;
use super::consumer::{BatchHandler, HandleError, Handled};
use crate::analytics::activity::read_activity;
use crate::analytics::Board;

pub struct Analyst {
    pub board: Arc<Board>,
}

#[async_trait::async_trait]
impl BatchHandler for Analyst {
    async fn handle(&mut self, records: &[Record]) -> Result<Handled, HandleError> {
        let mut newest = None;
        for r in records {
            let Some((at, activity)) = r.payload.as_deref().and_then(read_activity) else {
                continue;
            };
            self.board.record(at, &activity);
            newest = newest.max(Some(at));
        }
        Ok(Handled {
            newest_event_ms: newest,
            poison: Vec::new(),
        })
    }
}
