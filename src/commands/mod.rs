//! The subcommands other than the console: headless run, serve (API + workers), send, load,
//! search, status, tail.

pub mod bench_cqrs;
pub mod console;
pub mod replay;
pub mod run;
pub mod search;
pub mod send;
pub mod serve;
pub mod status;
pub mod tail;

use crate::bus::Cluster;
use crate::config::{Broker, Config};
use crate::workers::supervisor::BROKER_ADDR_FILE;

/// The cluster a client command talks to: the configured brokers, or the embedded broker of
/// the eventdeck running on this data directory (its address file), or the configured port.
pub fn client_cluster(config: &Config) -> Cluster {
    let port = match config.broker() {
        Broker::Cluster { bootstrap, .. } => return Cluster::from_config(config, bootstrap),
        Broker::Embedded { port } => port,
    };
    let addr = std::fs::read_to_string(config.data_dir().join(BROKER_ADDR_FILE))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("127.0.0.1:{port}"));
    Cluster::from_config(config, addr)
}
