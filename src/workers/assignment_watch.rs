//! A worker that runs with no partitions while its topics have some and nobody else in its
//! group holds them is stuck: a coordinator handed it an empty assignment (tansu 0.6.0 does
//! so when a dead member stays the group's leader) and nothing will change that by itself.
//! The worker notices, asks the cluster whether that is really so, and rejoins its group.
//! Pure: the clock, the assignment and the cluster's answers come in, a decision comes out.

use std::time::{Duration, Instant};

/// How long an empty assignment is allowed before the cluster is asked: longer than a normal
/// rebalance (a join round, tansu's 3 s follower pause, a session timeout of 10 s).
pub const HEAL_AFTER: Duration = Duration::from_secs(20);

/// Tracks since when the assignment has been empty.
#[derive(Debug, Default)]
pub struct EmptyAssignment {
    since: Option<Instant>,
}

impl EmptyAssignment {
    /// Notes the current number of assigned partitions; true when it has been zero for at
    /// least `after` (then the caller probes the cluster).
    pub fn observe(&mut self, assigned: usize, now: Instant, after: Duration) -> bool {
        if assigned > 0 {
            self.since = None;
            return false;
        }
        let since = *self.since.get_or_insert(now);
        now.duration_since(since) >= after
    }

    /// Starts the wait again (after a rejoin, so that the next probe comes `after` later).
    pub fn restart(&mut self, now: Instant) {
        self.since = Some(now);
    }

    /// For how long the assignment has been empty.
    pub fn empty_for(&self, now: Instant) -> Option<Duration> {
        self.since.map(|s| now.duration_since(s))
    }
}

/// What the cluster says about the worker's topics and group.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// Partitions of the topics the worker subscribes to.
    pub topic_partitions: usize,
    /// Live members of the group other than this worker; `None` when the broker cannot
    /// describe groups (the embedded one).
    pub other_members: Option<usize>,
    /// The embedded broker: only this process's workers use its groups, unless someone
    /// points another client at it on purpose.
    pub embedded: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Leave the group and join it again, with this reason for the log.
    Rejoin(String),
    /// Nothing to heal, with the reason.
    Keep(String),
}

pub fn decide(probe: &Probe, empty_for: Duration) -> Decision {
    let secs = empty_for.as_secs();
    if probe.topic_partitions == 0 {
        return Decision::Keep("its topics have no partitions".into());
    }
    match (probe.other_members, probe.embedded) {
        (Some(0), _) | (None, true) => Decision::Rejoin(format!(
            "no partitions for {secs} s while its topics have {} and no other member holds them",
            probe.topic_partitions
        )),
        (Some(n), _) => Decision::Keep(format!(
            "{n} other member(s) in the group may hold the {} partitions",
            probe.topic_partitions
        )),
        (None, false) => Decision::Keep(
            "the cluster does not describe the group; cannot tell whether others hold the partitions"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assignment_empty_for_the_whole_bound_asks_for_a_probe_and_a_partition_clears_it() {
        let t0 = Instant::now();
        let mut w = EmptyAssignment::default();
        let after = Duration::from_secs(20);
        assert!(!w.observe(0, t0, after));
        assert!(!w.observe(0, t0 + Duration::from_secs(19), after));
        assert!(w.observe(0, t0 + Duration::from_secs(20), after));
        assert!(!w.observe(3, t0 + Duration::from_secs(21), after));
        assert_eq!(w.empty_for(t0 + Duration::from_secs(22)), None);
        assert!(!w.observe(0, t0 + Duration::from_secs(30), after));
        w.restart(t0 + Duration::from_secs(45));
        assert!(!w.observe(0, t0 + Duration::from_secs(60), after));
        assert!(w.observe(0, t0 + Duration::from_secs(65), after));
    }

    #[test]
    fn alone_with_partitions_to_take_rejoins_otherwise_keeps() {
        let d = Duration::from_secs(25);
        let probe = |parts, others, embedded| Probe {
            topic_partitions: parts,
            other_members: others,
            embedded,
        };
        assert!(matches!(
            decide(&probe(9, Some(0), false), d),
            Decision::Rejoin(r) if r.contains("25 s") && r.contains("have 9")
        ));
        assert!(matches!(
            decide(&probe(9, None, true), d),
            Decision::Rejoin(_)
        ));
        assert!(matches!(
            decide(&probe(9, Some(2), false), d),
            Decision::Keep(_)
        ));
        assert!(matches!(
            decide(&probe(9, None, false), d),
            Decision::Keep(_)
        ));
        assert!(matches!(
            decide(&probe(0, Some(0), true), d),
            Decision::Keep(_)
        ));
    }
}
