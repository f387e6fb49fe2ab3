//! The test bench: real services on 127.0.0.1 for each test. The Kafka-protocol broker is the
//! embedded one (tansu, SQLite in a temp dir); the search server is osmem-server (installed by
//! `scripts/test.sh`, found through OSMEM_SERVER_BIN), started once per test binary, with an
//! isolated clone per test.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use eventdeck::bus::Cluster;
use eventdeck::config::Config;
use eventdeck::workers::report::{Reporter, WorkerEvent};
use eventdeck::workers::supervisor::Services;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::mpsc;

struct Osmem {
    url: String,
    _child: Child,
}

static OSMEM: OnceLock<Mutex<Option<Osmem>>> = OnceLock::new();

fn osmem_base_url() -> String {
    let cell = OSMEM.get_or_init(|| Mutex::new(None));
    let mut guard = cell.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(o) = guard.as_ref() {
        return o.url.clone();
    }
    let bin = std::env::var("OSMEM_SERVER_BIN").unwrap_or_else(|_| {
        panic!("OSMEM_SERVER_BIN is not set: run the tests with scripts/test.sh, which installs osmem-server")
    });
    // stdin stays open as long as this process lives; osmem exits when it closes.
    let mut child = Command::new(&bin)
        .args(["-addr", "127.0.0.1:0", "-no-ja"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    let stdout = child.stdout.take().expect("osmem stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("osmem first line");
    let v: serde_json::Value = serde_json::from_str(&line).expect("osmem prints JSON");
    let url = v["url"].as_str().expect("url").to_string();
    // Keep stdin open: leak the handle inside the child kept in the static.
    *guard = Some(Osmem {
        url: url.clone(),
        _child: child,
    });
    url
}

/// A fresh, isolated search server (a clone of the base) for one test.
pub async fn search_server() -> String {
    let base = tokio::task::spawn_blocking(osmem_base_url)
        .await
        .expect("osmem start");
    let transport =
        elasticsearch::http::transport::Transport::single_node(&base).expect("transport");
    let client = elasticsearch::Elasticsearch::new(transport);
    let response = client
        .send::<elasticsearch::http::request::JsonBody<serde_json::Value>, ()>(
            elasticsearch::http::Method::Post,
            "/_osmem/clones",
            elasticsearch::http::headers::HeaderMap::new(),
            None,
            None,
            None,
        )
        .await
        .expect("osmem clone");
    let body: serde_json::Value = response.json().await.expect("clone json");
    body["url"].as_str().expect("clone url").to_string()
}

pub struct Bench {
    pub dir: tempfile::TempDir,
    pub services: Services,
    pub events: mpsc::UnboundedReceiver<WorkerEvent>,
    pub reporter: Reporter,
}

pub fn test_config(dir: &std::path::Path, search_url: &str) -> Config {
    let mut c = Config {
        data_dir: dir.join("data").display().to_string(),
        ..Config::default()
    };
    c.kafka.embedded_port = 0;
    c.search.url = search_url.to_string();
    c.indexer.flush_interval_ms = 50;
    c.indexer.retry_backoff_ms = 50;
    c
}

impl Bench {
    /// Embedded broker in a temp dir + an osmem clone.
    pub async fn start() -> Bench {
        let url = search_server().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let config = test_config(dir.path(), &url);
        Self::with_config(dir, config).await
    }

    pub async fn with_config(dir: tempfile::TempDir, config: Config) -> Bench {
        let services = Services::start(config).await.expect("services start");
        assert!(services.warnings.is_empty(), "{:?}", services.warnings);
        let (tx, events) = mpsc::unbounded_channel();
        Bench {
            dir,
            services,
            events,
            reporter: Reporter::new(tx),
        }
    }

    pub fn cluster(&self) -> &Cluster {
        &self.services.cluster
    }

    /// Waits until the workers reported `n` handled records in total for `worker`.
    pub async fn wait_processed(&mut self, worker: &str, n: u64, within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        let mut seen = 0;
        while seen < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(WorkerEvent::Processed {
                    worker: w, records, ..
                })) if w == worker => seen += records,
                Ok(Some(_)) => {}
                Ok(None) => panic!("reporter closed"),
                Err(_) => panic!("{worker} handled {seen} of {n} records within {within:?}"),
            }
        }
        seen
    }
}

/// Polls `check` until it returns Some, or fails the test after `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + within;
    loop {
        let last = match check().await {
            Ok(v) => return v,
            Err(e) => e,
        };
        if Instant::now() > deadline {
            panic!("{what}: not within {within:?}; last: {last}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every record of `topic` from the beginning up to its high watermarks at call time.
pub async fn read_topic(cluster: &Cluster, topic: &str) -> Vec<OwnedMessage> {
    let cluster = cluster.clone();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = cluster
            .client_config("test-reader")
            .set("group.id", "test-reader")
            .set("enable.auto.commit", "false")
            .create()
            .expect("reader");
        let md = consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .expect("metadata");
        let partitions: Vec<i32> = md.topics()[0].partitions().iter().map(|p| p.id()).collect();
        let mut tpl = TopicPartitionList::new();
        let mut remaining = 0i64;
        let mut highs = Vec::new();
        for p in &partitions {
            let (low, high) = consumer
                .fetch_watermarks(&topic, *p, Duration::from_secs(10))
                .expect("watermarks");
            tpl.add_partition_offset(&topic, *p, Offset::Beginning)
                .expect("tpl");
            remaining += high - low;
            highs.push((*p, high));
        }
        consumer.assign(&tpl).expect("assign");
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while remaining > 0 && Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                let high = highs.iter().find(|(p, _)| *p == m.partition()).map(|h| h.1);
                if high.is_some_and(|h| m.offset() < h) {
                    remaining -= 1;
                    out.push(m.detach());
                }
            }
        }
        assert_eq!(remaining, 0, "could not read all of {topic}");
        out
    })
    .await
    .expect("reader task")
}
