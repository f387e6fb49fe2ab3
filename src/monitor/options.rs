//! How the monitor samples and judges: interval, status window, which groups and topics.

use std::time::Duration;

use super::status::Rules;
use crate::config::{Broker, Config};

/// One of our workers, its group and the topics it subscribes to.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub worker: String,
    pub group: String,
    pub topics: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MonitorOptions {
    /// Time between two samples of the cluster (`[monitor] sample_interval_ms`).
    pub interval: Duration,
    /// Samples in a status window (Burrow's window): 10 at 1 s judge the last ~10 s.
    pub window: usize,
    /// Samples a rate is computed over: smooths the bursts of batched commits.
    pub rate_samples: usize,
    /// Before a window is complete, an offset that did not move with the group at least
    /// this far behind is STALL/STOP (`[monitor] stall_after_seconds`).
    pub stall_after: Duration,
    /// One of our workers owning no partition for this long, with nobody else consuming,
    /// is a problem of its group: longer than a rebalance takes.
    pub unassigned_after: Duration,
    /// Our workers' groups and topics (as the supervisor starts them): their topics show
    /// before any commit, and an empty assignment is judged against them.
    pub subscriptions: Vec<Subscription>,
    /// Groups watched even when the broker does not list them (our workers' groups; a test's
    /// group). Groups the broker lists and groups our workers report are added to these.
    pub groups: Vec<String>,
    /// Topics whose watermarks and offsets are read first; other non-internal topics of the
    /// cluster follow, up to `max_topics` in all.
    pub topics: Vec<String>,
    pub max_topics: usize,
    /// Upper bound of each blocking call to the cluster; a call that takes longer marks its
    /// figure stale and the sample goes on.
    pub call_timeout: Duration,
    /// Time budget per sample for reading the records at committed offsets (time lag);
    /// group-topics not reached fall back to the rate estimate.
    pub record_budget: Duration,
    /// Ask the broker to describe groups (members, assignments, state). Off on the embedded
    /// broker, whose DescribeGroups drops the connection (DESIGN.md §3).
    pub describe_groups: bool,
    /// How often the group description is asked for: it is a slow call on big clusters.
    pub describe_every: Duration,
    /// `[kafka] client_id`: our workers' client ids are `<client_id>-<worker>`.
    pub client_id: String,
}

impl MonitorOptions {
    pub fn from_config(config: &Config) -> Self {
        let interval = Duration::from_millis(config.monitor.sample_interval_ms.max(100));
        let mut subscriptions = vec![
            Subscription {
                worker: "indexer".into(),
                group: config.groups.indexer.clone(),
                topics: config.message_topics().map(str::to_string).to_vec(),
            },
            Subscription {
                worker: "notifier".into(),
                group: config.groups.notifier.clone(),
                topics: vec![config.topics.created.clone(), config.topics.updated.clone()],
            },
        ];
        if config.archive.enabled {
            subscriptions.push(Subscription {
                worker: "archive".into(),
                group: config.groups.archive.clone(),
                topics: config.all_topics().iter().map(|t| t.to_string()).collect(),
            });
        }
        if config.analytics.enabled {
            subscriptions.push(Subscription {
                worker: "analytics".into(),
                group: config.groups.analytics.clone(),
                topics: config
                    .message_topics()
                    .map(str::to_string)
                    .into_iter()
                    .chain([config.topics.user_activity.clone()])
                    .collect(),
            });
        }
        if config.state.enabled {
            subscriptions.push(Subscription {
                worker: "state".into(),
                group: config.groups.state.clone(),
                topics: config.message_topics().map(str::to_string).to_vec(),
            });
        }
        let ours: Vec<String> = subscriptions.iter().map(|s| s.group.clone()).collect();
        Self {
            interval,
            window: 10,
            rate_samples: 5,
            stall_after: Duration::from_secs(config.monitor.stall_after_seconds),
            unassigned_after: Duration::from_secs(10),
            subscriptions,
            groups: ours
                .into_iter()
                .chain(config.monitor.groups.iter().cloned())
                .collect(),
            topics: config.all_topics().iter().map(|t| t.to_string()).collect(),
            max_topics: 200,
            call_timeout: Duration::from_secs(3),
            record_budget: (interval / 2).min(Duration::from_secs(1)),
            // The embedded broker (tansu) cannot describe groups (see DESIGN §3).
            describe_groups: matches!(config.broker(), Broker::Cluster { .. }),
            describe_every: Duration::from_secs(5),
            client_id: config.kafka.client_id.clone(),
        }
    }

    pub fn interval_ms(&self) -> i64 {
        i64::try_from(self.interval.as_millis()).unwrap_or(i64::MAX)
    }

    /// The evaluation's thresholds (see [`super::status::evaluate`]).
    pub fn rules(&self) -> Rules {
        Rules {
            full: self.window,
            stall_after_s: self.stall_after.as_secs_f64(),
        }
    }

    pub fn unassigned_after_ms(&self) -> i64 {
        i64::try_from(self.unassigned_after.as_millis()).unwrap_or(i64::MAX)
    }

    /// Signals of one rebalance seen by several members arrive within this time.
    pub fn rebalance_merge_ms(&self) -> i64 {
        (2 * self.interval_ms()).max(5_000)
    }

    /// Samples kept per partition: enough for the status window and for rates.
    pub fn points_kept(&self) -> usize {
        self.window.max(self.rate_samples).max(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_config() {
        let mut c = Config::default();
        c.monitor.sample_interval_ms = 500;
        let o = MonitorOptions::from_config(&c);
        assert_eq!(o.interval, Duration::from_millis(500));
        assert_eq!(o.groups, ["search-indexer", "notification-service"]);
        assert!(o.topics.iter().any(|t| t == "platform.messages.created"));
        assert!(
            !o.describe_groups,
            "the embedded broker is not asked to describe groups"
        );
        assert_eq!(o.record_budget, Duration::from_millis(250));
        assert_eq!(o.rules().stall_after_s, 30.0);
        assert_eq!(o.rules().full, 10);
        assert_eq!(o.subscriptions[0].group, "search-indexer");
        assert_eq!(o.subscriptions[0].topics.len(), 3);
        assert_eq!(o.subscriptions[1].worker, "notifier");
        c.monitor.stall_after_seconds = 120;
        assert_eq!(MonitorOptions::from_config(&c).rules().stall_after_s, 120.0);
        c.kafka.brokers = "k1:9092".into();
        assert!(MonitorOptions::from_config(&c).describe_groups);
    }

    #[test]
    fn the_archive_group_is_watched_when_the_archive_runs() {
        let mut c = Config::default();
        c.archive.enabled = true;
        c.monitor.groups = vec!["billing".into()];
        let o = MonitorOptions::from_config(&c);
        assert_eq!(
            o.groups,
            [
                "search-indexer",
                "notification-service",
                "archive",
                "billing"
            ]
        );
        assert_eq!(o.subscriptions[2].worker, "archive");
        assert_eq!(o.subscriptions[2].topics.len(), c.all_topics().len());
    }
}
