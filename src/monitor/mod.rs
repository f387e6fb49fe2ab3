//! Monitoring: samples of the cluster and the workers' own reports, folded into a
//! [`snapshot::Snapshot`].
//!
//! - pure, unit-tested without a broker: [`rates`], [`lag`], [`status`] (Burrow's rules,
//!   never OK without evidence), [`problems`] (a worker assigned nothing), [`rebalance`],
//!   [`history`], [`telemetry`] (workers' reports), [`protocol`] (member
//!   assignments), the [`engine`] that keeps the windows and evaluates them, [`metrics`]
//!   (Prometheus text) and [`report`] (`status --json` and the table);
//! - I/O: [`reader`] (blocking rdkafka calls, run in `spawn_blocking`; [`group_offsets`]
//!   reads every group's committed offsets on one client) and [`sampler`]
//!   (the task that samples every interval and publishes snapshots on a watch channel).

mod assemble;
pub mod cqrs;
pub mod engine;
pub mod group_offsets;
pub mod history;
pub mod lag;
pub mod metrics;
pub mod options;
pub mod problems;
pub mod rates;
pub mod reader;
pub mod rebalance;
pub mod records;
pub mod report;
pub mod sample;
pub mod sampler;
pub mod snapshot;
pub mod status;
pub mod table;
pub mod telemetry;
pub mod topic_config;

#[cfg(test)]
mod engine_tests;

pub use engine::Engine;
pub use metrics::serve_metrics;
pub use options::MonitorOptions;
pub use sampler::{sample_now, spawn_monitor, MonitorSetup};
