//! Problems of a group as a whole, apart from its partitions' offsets. Pure functions.
//!
//! "Assigned no partitions": one of our workers is a live member of its group (its rebalance
//! callbacks say so) and owns nothing, for longer than a rebalance takes, while its topics
//! have partitions and nobody else is known to consume them. Nothing is read then, and if
//! no new records arrive the lag rules see nothing wrong (lag 0 stays OK): this rule does.

use super::snapshot::LagStatus;
use super::status::Verdict;

/// What is known about one of our workers in one group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AssignmentFacts<'a> {
    pub worker: &'a str,
    /// How long it has been a live member (running or retrying) owning no partition of the
    /// group; None when it owns some or is not running.
    pub empty_for_ms: Option<i64>,
    /// Partitions of the topics it subscribes to, as the cluster has them now.
    pub topic_partitions: usize,
    /// Another member of the group is known to be alive: the broker describes one, another
    /// of our workers owns partitions, or the group's committed offsets moved lately.
    pub other_live_member: bool,
}

/// The "assigned no partitions" problem, when `f` shows it: WARN once the worker has owned
/// nothing for at least `bound_ms`.
pub fn no_partitions(f: &AssignmentFacts<'_>, bound_ms: i64) -> Option<Verdict> {
    let empty_for = f.empty_for_ms?;
    if empty_for < bound_ms || f.topic_partitions == 0 || f.other_live_member {
        return None;
    }
    Some(Verdict::new(
        LagStatus::Warn,
        format!(
            "{} has no partitions for {} s (topics have {})",
            f.worker,
            empty_for / 1000,
            f.topic_partitions
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: i64 = 10_000;

    fn facts(empty_for_ms: Option<i64>) -> AssignmentFacts<'static> {
        AssignmentFacts {
            worker: "indexer",
            empty_for_ms,
            topic_partitions: 9,
            other_live_member: false,
        }
    }

    #[test]
    fn a_running_worker_owning_nothing_for_longer_than_the_bound_is_warn() {
        assert_eq!(
            no_partitions(&facts(Some(25_400)), BOUND),
            Some(Verdict::new(
                LagStatus::Warn,
                "indexer has no partitions for 25 s (topics have 9)"
            ))
        );
        // The bound itself counts.
        assert!(no_partitions(&facts(Some(BOUND)), BOUND).is_some());
    }

    #[test]
    fn a_rebalance_in_progress_is_not_a_problem() {
        assert_eq!(no_partitions(&facts(Some(BOUND - 1)), BOUND), None);
    }

    #[test]
    fn owning_partitions_or_not_running_is_not_a_problem() {
        assert_eq!(no_partitions(&facts(None), BOUND), None);
    }

    #[test]
    fn topics_without_partitions_leave_nothing_to_assign() {
        let f = AssignmentFacts {
            topic_partitions: 0,
            ..facts(Some(60_000))
        };
        assert_eq!(no_partitions(&f, BOUND), None);
    }

    #[test]
    fn another_live_member_may_rightly_own_everything() {
        // More members than partitions leaves some with none: not a problem.
        let f = AssignmentFacts {
            other_live_member: true,
            ..facts(Some(60_000))
        };
        assert_eq!(no_partitions(&f, BOUND), None);
    }
}
