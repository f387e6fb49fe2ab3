//! The subcommands other than the console: headless run, serve (API + workers), send, load,
//! search, status, tail, trace, dlq, group.

pub mod bench_cqrs;
pub mod console;
pub mod dlq;
pub mod group;
pub mod replay;
pub mod run;
pub mod search;
pub mod send;
pub mod serve;
pub mod status;
pub mod tail;
pub mod trace;

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

/// The search index a client command reads: the configured cluster's, or the local index of
/// the data directory read-only (an eventdeck running there holds its writer).
pub fn client_index(config: &Config) -> anyhow::Result<Box<dyn crate::search::SearchIndex>> {
    use crate::config::SearchBackend;
    Ok(match config.search_backend()? {
        SearchBackend::Local => Box::new(crate::search::local::LocalIndex::open_read_only(
            &config.data_dir().join("index"),
        )?),
        SearchBackend::Elastic {
            url,
            index,
            auth,
            analyzer,
        } => Box::new(crate::search::elastic::ElasticIndex::connect(
            &url, &index, &auth, analyzer,
        )?),
    })
}
