//! Configuration: `config.toml`, then `EVENTDECK_<SECTION>_<KEY>` environment variables, then
//! command-line flags. Every key is known: an unknown key or a value of the wrong type fails
//! at start with the file (or variable), the key and what was expected.
//!
//! Invariants: a configuration that [`Config::load`] returns resolves to a typed
//! [`Broker`] and [`SearchBackend`] (see `typed`); every password, API key and SASL secret is
//! a [`Secret`], and neither `Debug` nor an error message ever shows one (see `secret`).

mod env;
mod secret;
mod sections;
mod typed;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use self::secret::{is_secret_property, redact_userinfo, KafkaProperties, Secret};
pub use self::sections::{
    AnalyticsConfig, ApiConfig, ArchiveConfig, ConsoleConfig, InvalidApiAddr, SearchAnalyzer,
    StateConfig, DEFAULT_API_ADDR,
};
pub use self::typed::{Broker, ElasticAuth, InvalidSetting, SearchBackend};
use crate::event;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the embedded broker, the local index, logs and the lock live. Empty: XDG.
    pub data_dir: String,
    /// How long a stop (SIGTERM, Ctrl-C, `q`) may take to flush and commit.
    pub shutdown_grace_seconds: GraceSeconds,
    pub kafka: KafkaConfig,
    pub topics: TopicsConfig,
    pub groups: GroupsConfig,
    pub search: SearchConfig,
    pub indexer: IndexerConfig,
    pub producer: ProducerConfig,
    pub loadgen: LoadgenConfig,
    pub monitor: MonitorConfig,
    pub notifier: NotifierConfig,
    pub store: StoreConfig,
    pub api: ApiConfig,
    pub archive: ArchiveConfig,
    pub state: StateConfig,
    pub analytics: AnalyticsConfig,
    pub console: ConsoleConfig,
}

/// Seconds a stop may take before eventdeck exits anyway (5 by default; see config.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GraceSeconds(pub u64);

impl Default for GraceSeconds {
    fn default() -> Self {
        Self(5)
    }
}

impl GraceSeconds {
    pub fn duration(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.0)
    }
}

#[derive(Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `postgres://user:password@host:5432/db`. Empty: `store.db` in the data directory.
    pub url: String,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &redact_userinfo(&self.url))
            .finish()
    }
}

/// `Debug` by hand: `brokers` may carry userinfo (see [`redact_userinfo`]).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `host:port,host:port` of a cluster. Empty: start the embedded broker.
    pub brokers: String,
    pub client_id: String,
    /// Port of the embedded broker on 127.0.0.1 (0 picks a free one).
    pub embedded_port: u16,
    /// Static group membership (Kafka's `group.instance.id`) for this process's workers: a
    /// name unique to the process and kept across its restarts. Empty: dynamic membership.
    pub group_instance_id: String,
    /// Passed to librdkafka as they are: `"security.protocol"`, `"sasl.mechanism"`,
    /// `"sasl.username"`, `"ssl.ca.location"`, …; `"sasl.password"` and other secret ones
    /// are kept as [`Secret`]s.
    pub properties: KafkaProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicsConfig {
    pub created: String,
    pub updated: String,
    pub deleted: String,
    pub notifications: String,
    pub user_activity: String,
    pub dlq: String,
    /// The compacted topic of each message's latest state (the state keeper's).
    pub state: String,
    pub partitions: i32,
    pub replication_factor: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupsConfig {
    pub indexer: String,
    pub notifier: String,
    pub archive: String,
    pub state: String,
    pub analytics: String,
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("brokers", &redact_userinfo(&self.brokers))
            .field("client_id", &self.client_id)
            .field("embedded_port", &self.embedded_port)
            .field("group_instance_id", &self.group_instance_id)
            .field("properties", &self.properties)
            .finish()
    }
}

/// `Debug` by hand: the URL may carry `user:password@` (see [`redact_userinfo`]).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// `http://host:9200` of Elasticsearch/OpenSearch. Empty: the local index in the data dir.
    pub url: String,
    pub username: String,
    pub password: Secret,
    pub api_key: Secret,
    pub index: String,
    /// How an Elasticsearch index analyses CJK text (the local index always uses bigrams).
    pub analyzer: SearchAnalyzer,
}

impl std::fmt::Debug for SearchConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchConfig")
            .field("url", &redact_userinfo(&self.url))
            .field("username", &self.username)
            .field("password", &self.password)
            .field("api_key", &self.api_key)
            .field("index", &self.index)
            .field("analyzer", &self.analyzer)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndexerConfig {
    pub batch_max_events: usize,
    pub batch_max_bytes: usize,
    pub flush_interval_ms: u64,
    /// Attempts for a transient failure (429, 5xx, connection) before the worker backs off
    /// and reports itself failing; records are never skipped for a transient failure.
    pub max_retries: u32,
    pub retry_backoff_ms: u64,
    /// Bulk requests written at once; offsets are still committed in order.
    pub in_flight: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProducerConfig {
    pub linger_ms: u32,
    pub delivery_timeout_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadgenConfig {
    /// Events per second when the load generator is on.
    pub rate: u32,
    pub channels: u32,
    pub authors: u32,
    /// Share of events that are edits and deletes of earlier messages (0–1 each).
    pub edit_ratio: f64,
    pub delete_ratio: f64,
    /// Share of messages that mention someone.
    pub mention_ratio: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    pub sample_interval_ms: u64,
    /// Consumer groups of other services to watch besides our workers' groups. Needed on the
    /// embedded broker, which cannot list groups; a real cluster lists them all anyway.
    pub groups: Vec<String>,
    /// Prometheus `/metrics` on 127.0.0.1:PORT; 0 leaves it off.
    pub metrics_port: u16,
    /// Before a status window is complete (`eventdeck status` takes two samples), a group
    /// whose committed offset did not move while it is at least this many seconds behind
    /// is STALL (a member owns the partition) or STOP (none does).
    pub stall_after_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifierConfig {
    /// How long the notifier remembers a (message, user) pair it notified, and a message's
    /// author: a replay of an event older than this could notify again. At least 1.
    pub memory_retention_hours: u64,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        Self {
            memory_retention_hours: 168,
        }
    }
}

impl NotifierConfig {
    pub fn memory_retention(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.memory_retention_hours.saturating_mul(3600))
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: String::new(),
            client_id: "eventdeck".into(),
            embedded_port: 9092,
            group_instance_id: String::new(),
            properties: KafkaProperties::default(),
        }
    }
}

impl Default for TopicsConfig {
    fn default() -> Self {
        Self {
            created: event::TOPIC_CREATED.into(),
            updated: event::TOPIC_UPDATED.into(),
            deleted: event::TOPIC_DELETED.into(),
            notifications: event::TOPIC_NOTIFICATIONS.into(),
            user_activity: event::TOPIC_USER_ACTIVITY.into(),
            dlq: event::TOPIC_DLQ.into(),
            state: event::TOPIC_STATE.into(),
            partitions: 3,
            replication_factor: 1,
        }
    }
}

impl Default for GroupsConfig {
    fn default() -> Self {
        Self {
            indexer: "search-indexer".into(),
            notifier: "notification-service".into(),
            archive: "archive".into(),
            state: "state-keeper".into(),
            analytics: "analytics".into(),
        }
    }
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            username: String::new(),
            password: Secret::default(),
            api_key: Secret::default(),
            index: "messages".into(),
            analyzer: SearchAnalyzer::default(),
        }
    }
}

impl Default for IndexerConfig {
    fn default() -> Self {
        Self {
            batch_max_events: 5000,
            batch_max_bytes: 5 * 1024 * 1024,
            flush_interval_ms: 100,
            max_retries: 5,
            retry_backoff_ms: 200,
            in_flight: 4,
        }
    }
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self {
            linger_ms: 5,
            delivery_timeout_ms: 30_000,
        }
    }
}

impl Default for LoadgenConfig {
    fn default() -> Self {
        Self {
            rate: 50,
            channels: 12,
            authors: 40,
            edit_ratio: 0.1,
            delete_ratio: 0.03,
            mention_ratio: 0.3,
        }
    }
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            sample_interval_ms: 1000,
            groups: Vec::new(),
            metrics_port: 0,
            stall_after_seconds: 30,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("invalid value for `{key}` in {origin}: {message}")]
    Invalid {
        origin: String,
        key: String,
        message: String,
    },
}

/// Overrides from the command line; `None` keeps the file/env value. `Debug` by hand: the
/// URLs may carry a password.
#[derive(Clone, Default)]
pub struct Overrides {
    pub brokers: Option<String>,
    pub search_url: Option<String>,
    pub data_dir: Option<String>,
    pub embedded_port: Option<u16>,
    pub metrics_port: Option<u16>,
    /// `--read-only`: sets `console.read_only` (never clears it).
    pub read_only: bool,
}

impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |v: &Option<String>| v.as_deref().map(redact_userinfo);
        f.debug_struct("Overrides")
            .field("brokers", &redacted(&self.brokers))
            .field("search_url", &redacted(&self.search_url))
            .field("data_dir", &self.data_dir)
            .field("embedded_port", &self.embedded_port)
            .field("metrics_port", &self.metrics_port)
            .field("read_only", &self.read_only)
            .finish()
    }
}

/// A TOML error without the excerpt of the file that its `Display` quotes: that line may
/// hold a password. The message and the position are enough to find it.
fn toml_message(e: &toml::de::Error, text: &str) -> String {
    let message = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_string(),
    }
}

impl Config {
    /// Loads `path` (when it exists, or always when `required`), applies `env` overrides
    /// (`EVENTDECK_*`), then `flags`, and validates.
    pub fn load(
        path: &Path,
        required: bool,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &Overrides,
    ) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => String::new(),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let mut value: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: toml_message(&e, &text),
        })?;
        // Validate the file alone first so that its errors name the file.
        let _: Config =
            toml::Value::Table(value.clone())
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?;
        env::apply_env(&mut value, env)?;
        let mut config: Config =
            toml::Value::Table(value)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Env {
                    var: "EVENTDECK_*".into(),
                    message: e.to_string(),
                })?;
        config.apply_flags(flags);
        config.validate(&path.display().to_string())?;
        Ok(config)
    }

    fn apply_flags(&mut self, flags: &Overrides) {
        if let Some(b) = &flags.brokers {
            self.kafka.brokers = b.clone();
        }
        if let Some(u) = &flags.search_url {
            self.search.url = u.clone();
        }
        if let Some(d) = &flags.data_dir {
            self.data_dir = d.clone();
        }
        if let Some(p) = flags.embedded_port {
            self.kafka.embedded_port = p;
        }
        if let Some(p) = flags.metrics_port {
            self.monitor.metrics_port = p;
        }
        if flags.read_only {
            self.console.read_only = true;
        }
    }

    /// Checks the values serde cannot: ranges and URLs.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, message: &str| ConfigError::Invalid {
            origin: origin.to_string(),
            key: key.to_string(),
            message: message.to_string(),
        };
        if !(1..=3600).contains(&self.shutdown_grace_seconds.0) {
            return Err(bad("shutdown_grace_seconds", "expected 1 to 3600"));
        }
        if self.topics.partitions < 1 {
            return Err(bad("topics.partitions", "expected at least 1"));
        }
        if self.topics.replication_factor < 1 {
            return Err(bad("topics.replication_factor", "expected at least 1"));
        }
        if self.indexer.batch_max_events == 0 {
            return Err(bad("indexer.batch_max_events", "expected at least 1"));
        }
        if self.indexer.batch_max_bytes < 1024 {
            return Err(bad("indexer.batch_max_bytes", "expected at least 1024"));
        }
        if !(1..=64).contains(&self.indexer.in_flight) {
            return Err(bad("indexer.in_flight", "expected 1 to 64"));
        }
        if self.monitor.sample_interval_ms < 100 {
            return Err(bad("monitor.sample_interval_ms", "expected at least 100"));
        }
        if self.monitor.stall_after_seconds == 0 {
            return Err(bad("monitor.stall_after_seconds", "expected at least 1"));
        }
        if self.console.tail_buffer == 0 {
            return Err(bad("console.tail_buffer", "expected at least 1"));
        }
        if self.notifier.memory_retention_hours == 0 {
            return Err(bad(
                "notifier.memory_retention_hours",
                "expected at least 1",
            ));
        }
        for (key, v) in [
            ("loadgen.edit_ratio", self.loadgen.edit_ratio),
            ("loadgen.delete_ratio", self.loadgen.delete_ratio),
            ("loadgen.mention_ratio", self.loadgen.mention_ratio),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(bad(key, "expected a number from 0 to 1"));
            }
        }
        if self.loadgen.channels == 0 || self.loadgen.authors < 2 {
            return Err(bad(
                "loadgen.channels/authors",
                "expected at least 1 channel and 2 authors",
            ));
        }
        self.search_backend().map_err(|e| bad(e.key, &e.message))?;
        if let Some(Err(e)) = self.api.socket_addr() {
            return Err(bad("api.addr", &e.to_string()));
        }
        for b in self
            .kafka
            .brokers
            .split(',')
            .filter(|b| !b.trim().is_empty())
        {
            if !b.trim().contains(':') {
                return Err(bad(
                    "kafka.brokers",
                    &format!("expected host:port, got {:?}", redact_userinfo(b.trim())),
                ));
            }
        }
        self.kafka
            .static_membership()
            .map_err(|e| bad(e.key, &e.message))?;
        if self.search.index.is_empty() || self.search.index != self.search.index.to_lowercase() {
            return Err(bad(
                "search.index",
                "expected a non-empty lowercase index name",
            ));
        }
        Ok(())
    }

    pub fn message_topics(&self) -> [&str; 3] {
        [
            &self.topics.created,
            &self.topics.updated,
            &self.topics.deleted,
        ]
    }

    /// Every topic eventdeck creates at start-up.
    pub fn all_topics(&self) -> Vec<&str> {
        vec![
            &self.topics.created,
            &self.topics.updated,
            &self.topics.deleted,
            &self.topics.notifications,
            &self.topics.user_activity,
            &self.topics.dlq,
        ]
    }

    /// Shorthand for `self.broker().is_embedded()`.
    /// The workers `run`, `serve` and the console start when none are chosen.
    pub fn default_workers(&self) -> Vec<crate::ops::WorkerId> {
        use crate::ops::WorkerId;
        WorkerId::ALL
            .into_iter()
            .filter(|w| *w != WorkerId::Archive || self.archive.enabled)
            .filter(|w| *w != WorkerId::State || self.state.enabled)
            .filter(|w| *w != WorkerId::Analytics || self.analytics.enabled)
            .collect()
    }

    pub fn uses_embedded_broker(&self) -> bool {
        self.broker().is_embedded()
    }

    /// The data directory: the configured one, else `$XDG_DATA_HOME/eventdeck`, else
    /// `~/.local/share/eventdeck`.
    pub fn data_dir(&self) -> PathBuf {
        if !self.data_dir.is_empty() {
            return expand_home(&self.data_dir);
        }
        if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
            return PathBuf::from(x).join("eventdeck");
        }
        home().join(".local/share/eventdeck")
    }
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn expand_home(p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => home().join(rest),
        None => PathBuf::from(p),
    }
}

#[cfg(test)]
mod tests;
