//! Partitions held by a dead member. tansu 0.6 never expires a member that stopped
//! heartbeating: a worker process killed while it held partitions keeps them, and the group's
//! live members share only the rest, for good (the fault tests' separate worker processes
//! lost two thirds of the notifications that way). A partition that is not ours, has records
//! to read, and whose committed offset has not moved for a whole watch period has no live
//! owner: the worker rejoins its group, and the rebalance leaves the dead members out.
//!
//! Only on brokers that cannot describe groups (tansu: ours embedded, or another eventdeck's
//! used as an external cluster). A real Kafka expires dead members after the session
//! timeout, and there a slow owner (say, with the search server down) must not make every
//! other member rejoin every period. Pure: samples come in, a decision comes out.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// (topic, partition) → (committed offset or the low watermark, high watermark).
pub type Positions = BTreeMap<(String, i32), (i64, i64)>;

/// How long a partition not ours may wait with records and an unmoving offset.
pub const ORPHANED_AFTER: Duration = Duration::from_secs(20);

#[derive(Debug, Default)]
pub struct OrphanWatch {
    /// The last sample of the partitions not ours, and when it was taken.
    last: Option<(Instant, Positions)>,
    /// Whether the broker answers DescribeGroups: asked once.
    pub describes_groups: Option<bool>,
}

impl OrphanWatch {
    /// Whether a sample is due now.
    pub fn due(&self, now: Instant) -> bool {
        self.last
            .as_ref()
            .is_none_or(|(at, _)| now.duration_since(*at) >= ORPHANED_AFTER)
    }

    /// Forgets the samples (the assignment changed, or the worker rejoined).
    pub fn reset(&mut self) {
        self.last = None;
    }

    /// Takes a sample of the partitions not ours; returns those orphaned since the last one.
    pub fn observe(&mut self, now: Instant, not_ours: Positions) -> Vec<(String, i32)> {
        let orphaned = match &self.last {
            Some((_, before)) => orphaned(before, &not_ours),
            None => Vec::new(),
        };
        self.last = Some((now, not_ours));
        orphaned
    }
}

/// The partitions in both samples with records to read whose committed offset did not move.
pub fn orphaned(before: &Positions, now: &Positions) -> Vec<(String, i32)> {
    now.iter()
        .filter(|(key, (committed, high))| {
            before
                .get(*key)
                .is_some_and(|(was, _)| was == committed && high > committed)
        })
        .map(|(key, _)| key.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions(rows: &[(&str, i32, i64, i64)]) -> Positions {
        rows.iter()
            .map(|(t, p, c, h)| ((t.to_string(), *p), (*c, *h)))
            .collect()
    }

    #[test]
    fn a_partition_with_records_and_a_still_offset_is_orphaned() {
        let before = positions(&[("t", 0, 10, 50), ("t", 1, 10, 50), ("t", 2, 40, 40)]);
        let now = positions(&[("t", 0, 10, 80), ("t", 1, 30, 80), ("t", 2, 40, 40)]);
        // 0: still at 10 with 70 to read; 1: moving; 2: nothing to read.
        assert_eq!(orphaned(&before, &now), vec![("t".to_string(), 0)]);
    }

    #[test]
    fn a_partition_seen_once_is_not_judged() {
        let before = positions(&[("t", 0, 10, 50)]);
        let now = positions(&[("t", 1, 10, 50)]);
        assert!(orphaned(&before, &now).is_empty());
    }

    #[test]
    fn samples_are_due_one_period_apart_and_judged_against_the_last() {
        let t0 = Instant::now();
        let mut w = OrphanWatch::default();
        assert!(w.due(t0));
        assert!(w.observe(t0, positions(&[("t", 0, 5, 9)])).is_empty());
        assert!(!w.due(t0 + Duration::from_secs(19)));
        assert!(w.due(t0 + ORPHANED_AFTER));
        let found = w.observe(t0 + ORPHANED_AFTER, positions(&[("t", 0, 5, 12)]));
        assert_eq!(found, vec![("t".to_string(), 0)]);
        w.reset();
        assert!(w.due(t0 + ORPHANED_AFTER));
    }
}
