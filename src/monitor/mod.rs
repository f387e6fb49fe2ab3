//! Monitoring.

pub mod snapshot;
