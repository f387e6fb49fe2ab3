//! The sections of the configuration that switch optional parts on: the HTTP API and the
//! workers that are off by default (archive, state keeper, analytics).

use serde::{Deserialize, Serialize};

use super::Secret;

/// The analytics worker: counters over a sliding hour, the `:analytics` view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyticsConfig {
    /// Run it with the other workers (off by default: one more consumer of every message).
    pub enabled: bool,
}

/// `[search] analyzer`: how an Elasticsearch index is built for Korean, Japanese and Chinese.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchAnalyzer {
    /// `nori` when the cluster has the analysis-nori plugin, else bigrams.
    #[default]
    Auto,
    /// Character bigrams computed by eventdeck into `content_grams`: works on any engine.
    Bigrams,
    /// The cluster's `nori` analyzer (the analysis-nori plugin) on `content.nori`.
    Nori,
}

/// The console itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Records the live tail (`:tail`) keeps: the newest ones, whatever the topic's rate, so
    /// the console's memory stays flat. At least 1.
    pub tail_buffer: usize,
    /// Nothing that writes is offered or done (send, load, edit, delete, reindex), as Kafka
    /// UI and k9s offer for production clusters; `--read-only` sets it too.
    pub read_only: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            tail_buffer: 1_000,
            read_only: false,
        }
    }
}

/// The state keeper: each message's latest state in the compacted topic `topics.state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// Run it with the other workers (off by default: one more consumer, and it holds every
    /// message's state in memory).
    pub enabled: bool,
}

/// The archive worker: every record of the platform topics in `<data_dir>/archive`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    /// Run it with the other workers (it is off by default: its files grow without bound).
    pub enabled: bool,
}

/// The HTTP API (`eventdeck serve`, and the console when `addr` is set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// `127.0.0.1:8080`. Empty: `serve` listens on [`DEFAULT_API_ADDR`], the console not at all.
    pub addr: String,
    /// Bearer token the write routes require; empty: none. Never printed.
    pub token: Secret,
}

/// Where `eventdeck serve` listens when `[api] addr` is empty: loopback only.
pub const DEFAULT_API_ADDR: &str = "127.0.0.1:8080";

impl ApiConfig {
    /// The configured address, or `None` when empty.
    pub fn socket_addr(&self) -> Option<Result<std::net::SocketAddr, InvalidApiAddr>> {
        let addr = self.addr.trim();
        (!addr.is_empty()).then(|| addr.parse().map_err(|_| InvalidApiAddr(addr.to_string())))
    }
}

/// `[api] addr` that is not `ip:port`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected host:port with an IP address, got {0:?}")]
pub struct InvalidApiAddr(pub String);
