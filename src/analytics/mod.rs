//! Analytics: what happens on the platform, counted over a sliding window (`window`, pure),
//! from the message topics and the search side's activity events (`activity`). The
//! analytics worker (`workers::analyst`) feeds a shared [`Board`]; the monitor puts its
//! summary in every snapshot (the `:analytics` view, `/metrics`-free).

pub mod activity;
pub mod window;

use std::sync::Mutex;

pub use window::{Activity, AnalyticsSummary, Counters};

/// Rankings shown: the top this many of each.
pub const TOP: usize = 5;

/// The counters shared by the analytics worker (writer) and the monitor (reader).
#[derive(Debug, Default)]
pub struct Board {
    counters: Mutex<Counters>,
}

impl Board {
    pub fn record(&self, at_ms: i64, activity: &Activity) {
        self.lock().record(at_ms, activity);
    }

    pub fn summary(&self, now_ms: i64) -> AnalyticsSummary {
        self.lock().summary(now_ms, TOP)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
