//! Kafka clients (rdkafka): configuration shared by every client, topic creation, the
//! producer. Everything that talks to Kafka is built from a [`Cluster`].

pub mod admin;
pub mod producer;
pub mod protocol;
pub mod safe_create;

use rdkafka::ClientConfig;

use crate::config::{redact_userinfo, Broker, Config, KafkaProperties};

/// Where the brokers are and how to talk to them. `Debug` and [`Cluster::describe`] never
/// show a secret: the properties redact theirs, the bootstrap list its userinfo.
#[derive(Clone, PartialEq)]
pub struct Cluster {
    pub bootstrap: String,
    /// librdkafka properties from `[kafka.properties]` (security, SASL, TLS, …).
    pub properties: KafkaProperties,
    pub client_id: String,
    /// True for the in-process broker (what the console says, what is offered).
    pub embedded: bool,
    /// `group.instance.id` of the workers' consumers (`[kafka] group_instance_id`): static
    /// membership. `None`: dynamic.
    pub group_instance_id: Option<String>,
}

impl Cluster {
    pub fn from_config(config: &Config, bootstrap: String) -> Self {
        Self {
            bootstrap,
            properties: config.kafka.properties.clone(),
            client_id: config.kafka.client_id.clone(),
            embedded: matches!(config.broker(), Broker::Embedded { .. }),
            // `Config::validate` refused an invalid one already.
            group_instance_id: config.kafka.static_membership().ok().flatten(),
        }
    }

    /// The base client configuration; `role` is appended to the client id so that each
    /// worker is recognisable in group descriptions.
    pub fn client_config(&self, role: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap)
            .set("client.id", format!("{}-{role}", self.client_id))
            // The embedded broker and most clusters speak a recent protocol; asking first
            // avoids a version probe round-trip on every connection.
            .set("api.version.request", "true")
            .set("socket.keepalive.enable", "true")
            .set("reconnect.backoff.max.ms", "5000")
            .set("log_level", "3");
        for (k, v) in self.properties.exposed() {
            c.set(k, v);
        }
        c
    }

    /// "embedded broker 127.0.0.1:9092" or "kafka k1:9092,k2:9092".
    pub fn describe(&self) -> String {
        let bootstrap = redact_userinfo(&self.bootstrap);
        if self.embedded {
            format!("embedded broker {bootstrap}")
        } else {
            format!("kafka {bootstrap}")
        }
    }

    /// Consumer configuration for a worker in `group`: offsets are committed by the worker
    /// only after its work is acknowledged (at-least-once), new groups start at the beginning.
    pub fn consumer_config(&self, role: &str, group: &str) -> ClientConfig {
        let mut c = self.client_config(role);
        c.set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            .set("enable.partition.eof", "false");
        if let Some(id) = &self.group_instance_id {
            // Static membership: a worker restarted under the same id takes its partitions
            // back at once, without a rebalance of the group; one that stops (even cleanly:
            // a static member does not leave) keeps them until `session.timeout.ms` runs
            // out. Each worker has a group of its own, so one id per process is unique in
            // each group.
            c.set("group.instance.id", id);
        }
        if self.properties.get("queued.max.messages.kbytes").is_none() {
            // librdkafka prefetches up to 64 MiB per consumer by default, and every worker
            // has one: 8 MiB is still tens of thousands of events, many batches ahead.
            c.set("queued.max.messages.kbytes", CONSUMER_PREFETCH_KIB);
        }
        if self.properties.get("fetch.max.bytes").is_none() {
            // One fetch answer on top of the prefetch. librdkafka's default is 50 MiB, and
            // tansu answers with the whole backlog up to it, so a stuck worker's memory grew
            // with the backlog (+46 MiB with 100 MB waiting, +85 MiB with 260 MB); with
            // 8 MiB it is +42 MiB whatever waits (the backpressure test in `faults.rs`).
            c.set("fetch.max.bytes", CONSUMER_FETCH_MAX_BYTES);
        }
        if self.embedded && self.properties.get("fetch.wait.max.ms").is_none() {
            // The embedded broker answers a fetch only when its wait runs out, not when a
            // record arrives (tansu 0.6 sleeps out the wait even after finding records), so
            // the wait is added to every record's way. A shorter one costs a read of the
            // broker's SQLite file per fetch while records flow (idle consumers pause, see
            // `workers::idle`); see `latency_consumer_config` for the figures. A real broker
            // answers as soon as data arrives and keeps the default. `[kafka.properties]`
            // overrides it.
            c.set("fetch.wait.max.ms", EMBEDDED_FETCH_WAIT_MS);
        }
        // `[kafka.properties]` win over the settings above too (session and heartbeat
        // timing, say), as they do over the base configuration.
        for (k, v) in self.properties.exposed() {
            c.set(k, v);
        }
        c
    }

    /// [`consumer_config`](Self::consumer_config) for the worker on the way from a record
    /// to what a person waits for (the indexer: posted → searchable). On the embedded broker
    /// it fetches with a wait of [`EMBEDDED_LATENCY_FETCH_WAIT_MS`]. `bench e2e` (1,000
    /// events/s, local index, 20 s, two runs each) measured produce→searchable p99 and the
    /// process's CPU: 200 ms wait → 537–549 ms, 12.9 s of CPU; 100 ms → 350–355 ms, 16.9 s;
    /// 50 ms → 258–260 ms, 19.6 s. 100 ms meets the half-second target for a fifth of a
    /// core under that load; the other workers keep 200 ms.
    pub fn latency_consumer_config(&self, role: &str, group: &str) -> ClientConfig {
        let mut c = self.consumer_config(role, group);
        if self.embedded && self.properties.get("fetch.wait.max.ms").is_none() {
            c.set("fetch.wait.max.ms", EMBEDDED_LATENCY_FETCH_WAIT_MS);
        }
        c
    }
}

/// `fetch.wait.max.ms` of the indexer on the embedded broker (see `latency_consumer_config`).
pub const EMBEDDED_LATENCY_FETCH_WAIT_MS: &str = "100";

/// `queued.max.messages.kbytes` of every consumer (see `consumer_config`).
pub const CONSUMER_PREFETCH_KIB: &str = "8192";

/// `fetch.max.bytes` of every consumer (see `consumer_config`).
pub const CONSUMER_FETCH_MAX_BYTES: &str = "8388608";

/// `fetch.wait.max.ms` of consumers of the embedded broker (see `consumer_config`).
pub const EMBEDDED_FETCH_WAIT_MS: &str = "200";

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("bootstrap", &redact_userinfo(&self.bootstrap))
            .field("properties", &self.properties)
            .field("client_id", &self.client_id)
            .field("embedded", &self.embedded)
            .field("group_instance_id", &self.group_instance_id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_pass_through_and_override() {
        let mut config = Config::default();
        config
            .kafka
            .properties
            .insert("security.protocol", "SASL_SSL");
        let cluster = Cluster::from_config(&config, "k1:9092".into());
        let c = cluster.consumer_config("indexer", "search-indexer");
        assert_eq!(c.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(c.get("group.id"), Some("search-indexer"));
        assert_eq!(c.get("enable.auto.commit"), Some("false"));
        assert_eq!(c.get("client.id"), Some("eventdeck-indexer"));
        assert!(cluster.describe().contains("k1:9092"));
        assert_eq!(
            c.get("group.instance.id"),
            None,
            "dynamic membership by default"
        );
    }

    #[test]
    fn a_group_instance_id_makes_the_workers_static_members_and_nobody_else() {
        let mut config = Config::default();
        config.kafka.brokers = "k1:9092".into();
        config.kafka.group_instance_id = "pod-7".into();
        let cluster = Cluster::from_config(&config, "k1:9092".into());
        let worker = cluster.consumer_config("indexer", "search-indexer");
        assert_eq!(worker.get("group.instance.id"), Some("pod-7"));
        let indexer = cluster.latency_consumer_config("indexer", "search-indexer");
        assert_eq!(indexer.get("group.instance.id"), Some("pod-7"));
        // The tail, the re-drive, the producer: built on the base configuration.
        assert_eq!(cluster.client_config("tail").get("group.instance.id"), None);
    }

    #[test]
    fn on_the_embedded_broker_the_indexer_fetches_with_the_shorter_wait() {
        let config = Config::default();
        let mut cluster = Cluster::from_config(&config, "127.0.0.1:9092".into());
        cluster.embedded = true;
        let wait = |c: &ClientConfig| c.get("fetch.wait.max.ms").map(str::to_string);
        assert_eq!(
            wait(&cluster.latency_consumer_config("indexer", "g")).as_deref(),
            Some(EMBEDDED_LATENCY_FETCH_WAIT_MS)
        );
        assert_eq!(
            wait(&cluster.consumer_config("notifier", "g")).as_deref(),
            Some(EMBEDDED_FETCH_WAIT_MS)
        );
        // A real cluster answers when data arrives: librdkafka's default stays.
        cluster.embedded = false;
        assert_eq!(wait(&cluster.latency_consumer_config("indexer", "g")), None);
        // `[kafka.properties]` win.
        let mut config = Config::default();
        config.kafka.properties.insert("fetch.wait.max.ms", "20");
        let mut cluster = Cluster::from_config(&config, "127.0.0.1:9092".into());
        cluster.embedded = true;
        assert_eq!(
            wait(&cluster.latency_consumer_config("indexer", "g")).as_deref(),
            Some("20")
        );
    }
}
