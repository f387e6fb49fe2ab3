//! Folds the workers' own reports ([`WorkerEvent`]) into totals, worker states, the recent
//! notifications and our members' partition assignments (from their rebalance callbacks,
//! which the embedded broker cannot describe).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::snapshot::{NotificationLine, Totals, WorkerStatus};
use crate::ops::{WorkerId, WorkerState};
use crate::workers::report::WorkerEvent;

/// How many notifications the snapshot keeps, newest first.
pub const NOTIFICATIONS_KEPT: usize = 500;

/// The worker whose delivery failures `Produced` reports.
const PRODUCER: &str = WorkerId::Producer.as_str();

pub type Partition = (String, i32);

#[derive(Debug, Clone, Default)]
pub struct Telemetry {
    pub totals: Totals,
    workers: BTreeMap<String, WorkerStatus>,
    notifications: VecDeque<NotificationLine>,
    /// group → worker → the partitions it owns now.
    assignments: BTreeMap<String, BTreeMap<String, BTreeSet<Partition>>>,
    /// Workers running or retrying (members of their groups), and since when.
    alive_since: BTreeMap<String, i64>,
    /// When each worker last stopped or failed (it left its groups then).
    left_at: BTreeMap<String, i64>,
    /// (group, worker) → since when the worker, a member, has owned nothing there.
    empty_since: BTreeMap<(String, String), i64>,
}

impl Telemetry {
    pub fn fold(&mut self, event: WorkerEvent, at_ms: i64) {
        match event {
            WorkerEvent::State { worker, state } => {
                let worker = worker.to_string();
                if matches!(state, WorkerState::Stopped | WorkerState::Failed { .. }) {
                    // It left its groups: it owns nothing any more.
                    for members in self.assignments.values_mut() {
                        members.remove(&worker);
                    }
                    self.empty_since.retain(|(_, w), _| *w != worker);
                    self.left_at.insert(worker.clone(), at_ms);
                }
                if is_alive(&state) {
                    self.alive_since.entry(worker.clone()).or_insert(at_ms);
                } else {
                    self.alive_since.remove(&worker);
                }
                let w = self.worker(&worker);
                if let WorkerState::BackingOff { error, .. } | WorkerState::Failed { error } =
                    &state
                {
                    w.errors += 1;
                    w.last_error = Some(error.clone());
                }
                w.state = state;
            }
            // Union semantics fit both protocols: eager revokes everything before it assigns
            // the full new set, cooperative sends the increments.
            WorkerEvent::Assigned {
                worker,
                group,
                partitions,
            } => {
                let worker = worker.to_string();
                let alive = is_alive(&self.worker(&worker).state);
                if alive {
                    self.alive_since.entry(worker.clone()).or_insert(at_ms);
                }
                let members = self.assignments.entry(group.clone()).or_default();
                let first = !members.contains_key(&worker);
                let owned = members.entry(worker.clone()).or_default();
                owned.extend(partitions);
                let empty = owned.is_empty();
                // Assigned nothing at its first assignment: it has owned nothing since it
                // started running.
                let since = if first {
                    self.alive_since.get(&worker).copied().unwrap_or(at_ms)
                } else {
                    at_ms
                };
                self.note_empty(group, worker, empty, since);
            }
            WorkerEvent::Revoked {
                worker,
                group,
                partitions,
            } => {
                let worker = worker.to_string();
                if let Some(owned) = self
                    .assignments
                    .get_mut(&group)
                    .and_then(|m| m.get_mut(&worker))
                {
                    for p in &partitions {
                        owned.remove(p);
                    }
                    let empty = owned.is_empty();
                    self.note_empty(group, worker, empty, at_ms);
                }
            }
            WorkerEvent::Processed {
                worker, records, ..
            } => {
                match worker {
                    WorkerId::Indexer => self.totals.indexed += records,
                    // What the relay published from the outbox counts as produced too.
                    WorkerId::Relay => self.totals.produced += records,
                    _ => {}
                }
                self.worker(worker.as_str()).processed += records;
            }
            WorkerEvent::Produced {
                ok,
                failed,
                last_error,
            } => {
                self.totals.produced += ok;
                self.totals.produce_failed += failed;
                if failed > 0 {
                    let w = self.worker(PRODUCER);
                    w.errors += failed;
                    w.last_error = last_error.or(w.last_error.take());
                }
            }
            WorkerEvent::DeadLettered { .. } => self.totals.dead_lettered += 1,
            WorkerEvent::Notification(notification) => {
                self.totals.notified += 1;
                if self.notifications.len() == NOTIFICATIONS_KEPT {
                    self.notifications.pop_back();
                }
                self.notifications.push_front(NotificationLine {
                    received_ms: at_ms,
                    notification,
                });
            }
        }
    }

    fn note_empty(&mut self, group: String, worker: String, empty: bool, since: i64) {
        if empty {
            self.empty_since.entry((group, worker)).or_insert(since);
        } else {
            self.empty_since.remove(&(group, worker));
        }
    }

    fn worker(&mut self, name: &str) -> &mut WorkerStatus {
        self.workers
            .entry(name.to_string())
            .or_insert_with(|| WorkerStatus {
                name: name.to_string(),
                state: WorkerState::Running,
                processed: 0,
                errors: 0,
                last_error: None,
            })
    }

    pub fn workers(&self) -> Vec<WorkerStatus> {
        self.workers.values().cloned().collect()
    }

    /// Newest first.
    pub fn notifications(&self) -> Vec<NotificationLine> {
        self.notifications.iter().cloned().collect()
    }

    /// Groups our workers are (or were) members of.
    pub fn groups(&self) -> impl Iterator<Item = &String> {
        self.assignments.keys()
    }

    /// Since when `worker`, running or retrying, has owned no partition of `group`; None
    /// when it owns some or is not running. A worker never assigned anything in the group
    /// counts from when it started running (ask only about its own group).
    pub fn unassigned_since(&self, group: &str, worker: &str) -> Option<i64> {
        let alive = *self.alive_since.get(worker)?;
        match self.assignments.get(group).and_then(|m| m.get(worker)) {
            Some(owned) if !owned.is_empty() => None,
            Some(_) => Some(
                self.empty_since
                    .get(&(group.to_string(), worker.to_string()))
                    .map_or(alive, |t| (*t).max(alive)),
            ),
            None => Some(alive),
        }
    }

    /// When `worker` last stopped or failed, leaving its groups.
    pub fn left_at(&self, worker: &str) -> Option<i64> {
        self.left_at.get(worker).copied()
    }

    /// Our workers in `group` and what each owns now (workers that own nothing included:
    /// a member with an empty assignment is still a member).
    pub fn members(&self, group: &str) -> Vec<(String, Vec<Partition>)> {
        self.assignments
            .get(group)
            .map(|m| {
                m.iter()
                    .map(|(w, ps)| (w.clone(), ps.iter().cloned().collect()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Running, retrying or paused: a member of its groups.
fn is_alive(state: &WorkerState) -> bool {
    matches!(
        state,
        WorkerState::Running | WorkerState::BackingOff { .. } | WorkerState::Paused
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::NotificationSent;

    fn assigned(worker: &str, ps: &[i32]) -> WorkerEvent {
        WorkerEvent::Assigned {
            worker: worker.parse().expect("a worker name"),
            group: "g".into(),
            partitions: ps.iter().map(|p| ("t".to_string(), *p)).collect(),
        }
    }

    fn revoked(worker: &str, ps: &[i32]) -> WorkerEvent {
        WorkerEvent::Revoked {
            worker: worker.parse().expect("a worker name"),
            group: "g".into(),
            partitions: ps.iter().map(|p| ("t".to_string(), *p)).collect(),
        }
    }

    fn notification(i: usize) -> WorkerEvent {
        WorkerEvent::Notification(NotificationSent {
            notification_id: format!("n{i}"),
            user_id: "u".into(),
            message_id: "m".into(),
            channel_id: "c".into(),
            author_id: "a".into(),
            preview: "p".into(),
            source_timestamp: 0,
        })
    }

    #[test]
    fn eager_rebalance_moves_partitions_between_members() {
        let mut t = Telemetry::default();
        t.fold(assigned("indexer", &[0, 1, 2]), 0);
        t.fold(revoked("indexer", &[0, 1, 2]), 1);
        t.fold(assigned("indexer", &[0, 1]), 2);
        t.fold(assigned("notifier", &[2]), 2);
        let m = t.members("g");
        assert_eq!(
            m[0],
            ("indexer".into(), vec![("t".into(), 0), ("t".into(), 1)])
        );
        assert_eq!(m[1], ("notifier".into(), vec![("t".into(), 2)]));
    }

    #[test]
    fn a_stopped_worker_owns_nothing() {
        let mut t = Telemetry::default();
        t.fold(assigned("indexer", &[0]), 0);
        t.fold(
            WorkerEvent::State {
                worker: WorkerId::Indexer,
                state: WorkerState::Stopped,
            },
            1,
        );
        assert!(t.members("g").is_empty());
        assert_eq!(t.workers()[0].state, WorkerState::Stopped);
    }

    fn state(worker: &str, state: WorkerState) -> WorkerEvent {
        WorkerEvent::State {
            worker: worker.parse().expect("a worker name"),
            state,
        }
    }

    #[test]
    fn a_running_worker_without_partitions_is_unassigned_since_it_started() {
        let mut t = Telemetry::default();
        t.fold(state("indexer", WorkerState::Starting), 0);
        assert_eq!(t.unassigned_since("g", "indexer"), None, "not a member yet");
        t.fold(state("indexer", WorkerState::Running), 1_000);
        assert_eq!(t.unassigned_since("g", "indexer"), Some(1_000));
        // The broker assigns it nothing: still since it started.
        t.fold(assigned("indexer", &[]), 4_000);
        assert_eq!(t.unassigned_since("g", "indexer"), Some(1_000));
        // Retrying is still being a member.
        t.fold(
            state(
                "indexer",
                WorkerState::BackingOff {
                    error: "x".into(),
                    attempt: 1,
                },
            ),
            5_000,
        );
        assert_eq!(t.unassigned_since("g", "indexer"), Some(1_000));
        t.fold(assigned("indexer", &[0]), 6_000);
        assert_eq!(t.unassigned_since("g", "indexer"), None);
    }

    #[test]
    fn losing_every_partition_counts_from_the_revocation() {
        let mut t = Telemetry::default();
        t.fold(state("indexer", WorkerState::Running), 0);
        t.fold(assigned("indexer", &[0, 1]), 1_000);
        t.fold(revoked("indexer", &[0]), 2_000);
        assert_eq!(t.unassigned_since("g", "indexer"), None);
        t.fold(revoked("indexer", &[1]), 3_000);
        assert_eq!(t.unassigned_since("g", "indexer"), Some(3_000));
        // An eager rebalance: everything back at once.
        t.fold(assigned("indexer", &[0, 1]), 3_100);
        assert_eq!(t.unassigned_since("g", "indexer"), None);
        // A stopped worker is not a member at all; started again, it counts anew.
        t.fold(state("indexer", WorkerState::Stopped), 9_000);
        assert_eq!(t.unassigned_since("g", "indexer"), None);
        t.fold(state("indexer", WorkerState::Running), 10_000);
        assert_eq!(t.unassigned_since("g", "indexer"), Some(10_000));
    }

    #[test]
    fn totals_and_worker_counters() {
        let mut t = Telemetry::default();
        t.fold(
            WorkerEvent::Processed {
                worker: WorkerId::Indexer,
                records: 7,
                newest_event_ms: None,
            },
            0,
        );
        t.fold(
            WorkerEvent::Processed {
                worker: WorkerId::Notifier,
                records: 3,
                newest_event_ms: None,
            },
            0,
        );
        t.fold(
            WorkerEvent::Produced {
                ok: 10,
                failed: 2,
                last_error: Some("timeout".into()),
            },
            0,
        );
        t.fold(
            WorkerEvent::DeadLettered {
                worker: WorkerId::Indexer,
                topic: "t".into(),
                partition: 0,
                offset: 1,
                reason: "bad json".into(),
            },
            0,
        );
        t.fold(
            WorkerEvent::State {
                worker: WorkerId::Notifier,
                state: WorkerState::BackingOff {
                    error: "down".into(),
                    attempt: 1,
                },
            },
            0,
        );
        assert_eq!(
            t.totals,
            Totals {
                produced: 10,
                produce_failed: 2,
                indexed: 7,
                notified: 0,
                dead_lettered: 1
            }
        );
        let w = t.workers();
        let names: Vec<&str> = w.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["indexer", "notifier", "producer"]);
        assert_eq!(w[1].processed, 3);
        assert_eq!((w[1].errors, w[1].last_error.as_deref()), (1, Some("down")));
        assert_eq!(
            (w[2].errors, w[2].last_error.as_deref()),
            (2, Some("timeout"))
        );
    }

    #[test]
    fn notifications_are_bounded_newest_first() {
        let mut t = Telemetry::default();
        for i in 0..NOTIFICATIONS_KEPT + 20 {
            t.fold(notification(i), i as i64);
        }
        let n = t.notifications();
        assert_eq!(n.len(), NOTIFICATIONS_KEPT);
        assert_eq!(
            n[0].notification.notification_id,
            format!("n{}", NOTIFICATIONS_KEPT + 19)
        );
        assert_eq!(n[0].received_ms, (NOTIFICATIONS_KEPT + 19) as i64);
        assert_eq!(t.totals.notified, (NOTIFICATIONS_KEPT + 20) as u64);
    }
}
