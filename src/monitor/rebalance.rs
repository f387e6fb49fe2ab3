//! Rebalances per group, from two sources: our workers' rebalance callbacks (every member
//! is told its new assignment) and, where the broker describes groups, changes of the member
//! list between samples. Signals that belong to one rebalance are counted once.

use std::collections::BTreeSet;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rebalances {
    pub count: u64,
    pub last_ms: Option<i64>,
    /// Workers already assigned in the current generation: a second assignment of the same
    /// worker means a new generation.
    assigned: BTreeSet<String>,
    /// Member ids the broker described last time, sorted.
    members: Option<Vec<String>>,
}

impl Rebalances {
    /// A worker of ours received an assignment (including its first join, which Kafka also
    /// counts as a generation). Assignments of other workers within `merge_ms` of the last
    /// counted rebalance are the same rebalance seen by another member.
    pub fn on_assigned(&mut self, worker: &str, at_ms: i64, merge_ms: i64) {
        let recent = self.last_ms.is_some_and(|t| at_ms - t <= merge_ms);
        if !recent || self.assigned.contains(worker) {
            self.count_one(at_ms);
        }
        self.assigned.insert(worker.to_string());
    }

    /// The broker described the group's members. A different member set than last time is a
    /// rebalance, unless our workers' callbacks already counted one within `merge_ms`.
    pub fn on_members(&mut self, mut members: Vec<String>, at_ms: i64, merge_ms: i64) {
        members.sort();
        let changed = self.members.as_ref().is_some_and(|m| *m != members);
        let recent = self.last_ms.is_some_and(|t| at_ms - t <= merge_ms);
        if changed && !recent {
            self.count_one(at_ms);
        }
        self.members = Some(members);
    }

    fn count_one(&mut self, at_ms: i64) {
        self.count += 1;
        self.last_ms = Some(at_ms);
        self.assigned.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MERGE: i64 = 5_000;

    #[test]
    fn first_join_counts_once() {
        let mut r = Rebalances::default();
        r.on_assigned("c1", 1_000, MERGE);
        assert_eq!(r.count, 1);
        assert_eq!(r.last_ms, Some(1_000));
    }

    #[test]
    fn a_second_member_joining_is_one_rebalance_seen_by_both() {
        let mut r = Rebalances::default();
        r.on_assigned("c1", 1_000, MERGE);
        // Ten seconds later c2 joins: c1 is re-assigned, then c2 is assigned.
        r.on_assigned("c1", 11_000, MERGE);
        r.on_assigned("c2", 11_050, MERGE);
        assert_eq!(r.count, 2);
        assert_eq!(r.last_ms, Some(11_000));
    }

    #[test]
    fn the_same_worker_assigned_twice_in_quick_succession_is_two_generations() {
        let mut r = Rebalances::default();
        r.on_assigned("c1", 1_000, MERGE);
        r.on_assigned("c1", 1_500, MERGE);
        assert_eq!(r.count, 2);
    }

    #[test]
    fn broker_member_changes_count_unless_already_seen() {
        let mut r = Rebalances::default();
        r.on_members(vec!["m1".into()], 1_000, MERGE);
        assert_eq!(r.count, 0, "the first description is the starting point");
        r.on_members(vec!["m1".into()], 2_000, MERGE);
        assert_eq!(r.count, 0);
        r.on_members(vec!["m2".into(), "m1".into()], 3_000, MERGE);
        assert_eq!(r.count, 1);
        // Same set in another order: no change.
        r.on_members(vec!["m1".into(), "m2".into()], 4_000, MERGE);
        assert_eq!(r.count, 1);
        // Our worker's callback counted it first: the broker's view is the same rebalance.
        r.on_assigned("c1", 20_000, MERGE);
        r.on_members(vec!["m1".into()], 21_000, MERGE);
        assert_eq!(r.count, 2);
    }
}
