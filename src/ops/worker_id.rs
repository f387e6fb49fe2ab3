//! The workers eventdeck runs, by name: the one spelling of each name, shared by the
//! supervisor, the reports, the monitor, `run --workers` and the console.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerId {
    /// Publishes what the console, the CLI and the load generator write.
    Producer,
    /// Consumes the message topics into the search index.
    Indexer,
    /// Consumes created and updated messages and notifies the mentioned users.
    Notifier,
    /// Publishes the write model's outbox.
    Relay,
    /// Keeps every record of the platform topics in compressed files (`[archive] enabled`).
    Archive,
    /// Keeps the compacted state topic: each message's latest state (`[state] enabled`).
    State,
    /// Counts posts, edits, deletes, mentions and searches over a sliding window
    /// (`[analytics] enabled`).
    Analytics,
}

impl WorkerId {
    /// Every worker, in the order the pipeline starts them.
    pub const ALL: [WorkerId; 7] = [
        WorkerId::Producer,
        WorkerId::Indexer,
        WorkerId::Notifier,
        WorkerId::Relay,
        WorkerId::Archive,
        WorkerId::State,
        WorkerId::Analytics,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            WorkerId::Producer => "producer",
            WorkerId::Indexer => "indexer",
            WorkerId::Notifier => "notifier",
            WorkerId::Relay => "relay",
            WorkerId::Archive => "archive",
            WorkerId::State => "state",
            WorkerId::Analytics => "analytics",
        }
    }

    /// Whether the worker consumes partitions (and so can be paused and resumed).
    pub fn consumes(self) -> bool {
        !matches!(self, WorkerId::Producer | WorkerId::Relay)
    }

    /// Parses `run --workers`: names separated by commas, spaces allowed, each once.
    pub fn parse_list(list: &str) -> Result<Vec<WorkerId>, UnknownWorker> {
        let mut ids = Vec::new();
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let id: WorkerId = name.parse()?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        if ids.is_empty() {
            return Err(UnknownWorker(list.to_string()));
        }
        Ok(ids)
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A worker name that is not one of [`WorkerId::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown worker {0:?}; the workers are: producer, indexer, notifier, relay, archive, state, analytics"
)]
pub struct UnknownWorker(pub String);

impl FromStr for WorkerId {
    type Err = UnknownWorker;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WorkerId::ALL
            .into_iter()
            .find(|id| id.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownWorker(s.to_string()))
    }
}

impl From<WorkerId> for String {
    fn from(id: WorkerId) -> String {
        id.as_str().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for id in WorkerId::ALL {
            assert_eq!(id.as_str().parse::<WorkerId>(), Ok(id));
            assert_eq!(id.to_string(), id.as_str());
        }
    }

    #[test]
    fn a_list_keeps_its_order_and_drops_repeats() {
        assert_eq!(
            WorkerId::parse_list("notifier, indexer,notifier"),
            Ok(vec![WorkerId::Notifier, WorkerId::Indexer])
        );
    }

    #[test]
    fn an_unknown_name_is_named_with_the_valid_ones() {
        let e = WorkerId::parse_list("indexer,archiver").unwrap_err();
        assert_eq!(e, UnknownWorker("archiver".into()));
        assert!(e.to_string().contains("producer, indexer, notifier, relay"));
        assert!(WorkerId::parse_list(" , ").is_err());
    }

    #[test]
    fn only_consumers_can_pause() {
        assert!(!WorkerId::Producer.consumes() && !WorkerId::Relay.consumes());
        assert!(WorkerId::Indexer.consumes() && WorkerId::Notifier.consumes());
    }
}
