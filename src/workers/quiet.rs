//! When a consuming worker asks the cluster itself whether it is there. librdkafka tells a
//! consumer of a broker gone only through an error event, and in about 1 run of 5 of the
//! broker-restart test on a busy CPU it gave the consumers none at all: they said "running"
//! through the whole outage while the producers of the same process heard "all brokers
//! down" every few seconds. A worker that has received nothing for [`QUIET_AFTER`] asks for
//! metadata, at most every [`ASK_EVERY`]: one small request per idle worker per 10 s.

use std::time::{Duration, Instant};

/// Nothing received for this long: time to wonder.
pub const QUIET_AFTER: Duration = Duration::from_secs(5);
/// At most one question per this long while it stays quiet.
pub const ASK_EVERY: Duration = Duration::from_secs(10);

/// Decides when a quiet worker asks; pure, so that the timing is tested without a cluster.
#[derive(Debug)]
pub struct QuietWatch {
    last_received: Instant,
    last_asked: Option<Instant>,
}

impl QuietWatch {
    pub fn new(now: Instant) -> Self {
        Self {
            last_received: now,
            last_asked: None,
        }
    }

    /// A record arrived: the cluster is there.
    pub fn received(&mut self, now: Instant) {
        self.last_received = now;
    }

    /// True when the worker should ask now (and counts it as asked).
    pub fn due(&mut self, now: Instant) -> bool {
        let quiet = now.duration_since(self.last_received) >= QUIET_AFTER;
        let rested = self
            .last_asked
            .is_none_or(|at| now.duration_since(at) >= ASK_EVERY);
        let due = quiet && rested;
        if due {
            self.last_asked = Some(now);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_worker_never_asks() {
        let t0 = Instant::now();
        let mut w = QuietWatch::new(t0);
        for s in 1..30 {
            let now = t0 + Duration::from_secs(s);
            w.received(now);
            assert!(!w.due(now));
        }
    }

    #[test]
    fn a_quiet_worker_asks_after_quiet_after_then_every_ask_every() {
        let t0 = Instant::now();
        let mut w = QuietWatch::new(t0);
        assert!(!w.due(t0 + Duration::from_secs(4)));
        assert!(w.due(t0 + QUIET_AFTER));
        assert!(!w.due(t0 + QUIET_AFTER + Duration::from_secs(9)));
        assert!(w.due(t0 + QUIET_AFTER + ASK_EVERY));
    }

    #[test]
    fn a_record_puts_off_the_next_question() {
        let t0 = Instant::now();
        let mut w = QuietWatch::new(t0);
        assert!(w.due(t0 + Duration::from_secs(5)));
        w.received(t0 + Duration::from_secs(14));
        assert!(!w.due(t0 + Duration::from_secs(16)));
        assert!(w.due(t0 + Duration::from_secs(19)));
    }
}
