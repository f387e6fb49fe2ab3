//! The test bench: real services on 127.0.0.1, started by the tests and torn down by them.
//!
//! Two clusters (DESIGN.md §4): suites that touch Kafka run on both, through
//! [`on_both_clusters!`] and [`Backend`].
//! - **embedded**: the in-process broker (tansu, SQLite in a temp dir) and osmem-server for the
//!   Elasticsearch API (installed by `scripts/test.sh`, found through `OSMEM_SERVER_BIN`), one
//!   osmem process per test binary with an isolated clone per test.
//! - **noida**: noida-db 0.2.3 (`NOIDA_DB_BIN`, installed by `scripts/test.sh`) as an
//!   *external* cluster: `kafka.brokers = "127.0.0.1:P"`, `search.url = "http://127.0.0.1:Q"`.
//!   One noida process per test, with its own data dir, so topics, groups and the index never
//!   collide between tests and a fault injected in one test (`noida-db stop …`) touches no
//!   other. It is cheap: ~9 ms from spawn to both ports accepting, ~55 ms to stop (measured
//!   here, 10 runs).
//!
//! What noida-db 0.2.3 does, tried by hand here:
//! - `noida-db start --data-dir D --only kafka,elasticsearch --kafka-port P
//!   --elasticsearch-port Q` runs in the **foreground** (`up` is the daemon form). It prints
//!   `noida-db 0.2.3 | data dir: D`, one line per service (`  kafka          127.0.0.1:P`,
//!   `  elasticsearch  http://127.0.0.1:Q`) and `press Ctrl-C to stop` on stdout once the
//!   ports are bound (a connect right after that line succeeds): that line is the readiness
//!   signal. On stderr a harmless `weak version GLIBC_2.39 not found` line first.
//! - A port in use: it exits at once with status 1 and `error: kafka: port N is already in
//!   use` on stderr. Port 0 works (the real port is printed), but a service stopped and
//!   started again then comes back on a *new* port; with explicit ports it keeps them. So the
//!   bench picks free ports itself, passes them explicitly and retries on a clash.
//! - Besides the two ports it listens on a third, the control port, written with a token to
//!   `D/noida.control.json`: `noida-db stop|start|restart kafka|elasticsearch --data-dir D`
//!   talk to it (~10 ms) and keep the service's data (`D/kafka.json`,
//!   `D/elasticsearch.json`, rewritten as data changes). `noida-db down --data-dir D` stops
//!   the whole server; so do SIGTERM and SIGINT (exit 0). A second `start` on the same data
//!   dir is refused (`already running for D`).
//! - It does **not** exit when its parent dies (it is re-parented to init) nor when its stdin
//!   closes. So each noida runs under a small `sh` guard (below) that waits for *its* stdin to
//!   close, which happens when the bench drops it or when the test process exits in any way
//!   (panic, abort, SIGKILL), then sends SIGTERM, waits for noida and removes the data dir.
//! - Its idle consumer fetch does not wait for `fetch.wait.max.ms` (~50 % of a core per idle
//!   consumer): tests on noida keep consumers few and stop them when done.
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
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

/// Runs noida in the background and waits for its own stdin (the test process's pipe) to
/// close; then stops noida and removes its data dir. `$0` is the noida binary, `$1` the data
/// dir, `$2`/`$3` the Kafka and Elasticsearch ports. Only noida's start-up lines reach the
/// pipe the bench reads: the guard itself stops writing to it, so an early exit of noida
/// (a port clash) reads as end of file.
const NOIDA_GUARD: &str = r#"
"$0" start --data-dir "$1" --only kafka,elasticsearch --kafka-port "$2" --elasticsearch-port "$3" </dev/null 2>&1 &
pid=$!
exec >/dev/null 2>&1
cat
kill -TERM "$pid"
wait "$pid"
rm -rf "$1"
"#;

/// One noida-db server (Kafka + Elasticsearch API) for one test. Dropping it stops the
/// server and removes its data.
pub struct Noida {
    /// `127.0.0.1:P`, for `kafka.brokers`.
    pub kafka: String,
    /// `http://127.0.0.1:Q`, for `search.url`.
    pub elasticsearch: String,
    pub data_dir: PathBuf,
    bin: String,
    guard: Child,
    _stdout: ChildStdout,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Noida {
    /// Starts a server on free loopback ports and returns once both ports accept.
    pub fn start() -> Noida {
        let bin = std::env::var("NOIDA_DB_BIN").unwrap_or_else(|_| {
            panic!("NOIDA_DB_BIN is not set: run the tests with scripts/test.sh, which installs noida-db")
        });
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let mut last = String::new();
        for _ in 0..5 {
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let data_dir =
                std::env::temp_dir().join(format!("eventdeck-noida-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&data_dir);
            std::fs::create_dir_all(&data_dir).expect("noida data dir");
            let (kafka_port, es_port) = (free_port(), free_port());
            let mut guard = Command::new("sh")
                .arg("-c")
                .arg(NOIDA_GUARD)
                .arg(&bin)
                .arg(&data_dir)
                .arg(kafka_port.to_string())
                .arg(es_port.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start sh for {bin}: {e}"));
            let stdout = guard.stdout.take().expect("noida stdout");
            let mut reader = BufReader::new(stdout);
            let mut output = String::new();
            let ready = loop {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break false,
                    Ok(_) => {}
                }
                output.push_str(&line);
                if line.starts_with("press Ctrl-C to stop") {
                    break true;
                }
            };
            if ready {
                let kafka = format!("127.0.0.1:{kafka_port}");
                let elasticsearch = format!("http://127.0.0.1:{es_port}");
                assert!(
                    output.contains(&kafka) && output.contains(&elasticsearch),
                    "noida-db did not listen where asked: {output}"
                );
                return Noida {
                    kafka,
                    elasticsearch,
                    data_dir,
                    bin,
                    guard,
                    _stdout: reader.into_inner(),
                };
            }
            // noida exited (a port taken meanwhile, most likely): the guard waits on stdin.
            drop(guard.stdin.take());
            let _ = guard.wait();
            last = output;
        }
        panic!("noida-db did not start in 5 attempts; last output:\n{last}");
    }

    fn control(&self, verb: &str, service: &str) {
        let out = Command::new(&self.bin)
            .args([verb, service, "--data-dir"])
            .arg(&self.data_dir)
            .output()
            .unwrap_or_else(|e| panic!("noida-db {verb} {service}: {e}"));
        assert!(
            out.status.success(),
            "noida-db {verb} {service}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `noida-db stop SERVICE` (`kafka` or `elasticsearch`): the port refuses connections,
    /// the data is kept.
    pub fn stop_service(&self, service: &str) {
        self.control("stop", service);
    }

    /// `noida-db start SERVICE`: back on the same port with the data it had.
    pub fn start_service(&self, service: &str) {
        self.control("start", service);
    }
}

impl Drop for Noida {
    fn drop(&mut self) {
        // The guard stops noida when its stdin closes, waits for it, removes the data dir.
        drop(self.guard.stdin.take());
        let _ = self.guard.wait();
    }
}

/// The cluster a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The in-process broker (tansu) and an osmem-server clone.
    Embedded,
    /// noida-db as an external cluster: its Kafka and its Elasticsearch API.
    Noida,
}

/// Runs each case (an `async fn(Backend)`) as two tests, `embedded::case` and
/// `noida::case`.
macro_rules! on_both_clusters {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case($crate::harness::Backend::Embedded).await;
                }
            )*
        }
        mod noida {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case($crate::harness::Backend::Noida).await;
                }
            )*
        }
    };
}
pub(crate) use on_both_clusters;

pub struct Bench {
    pub dir: tempfile::TempDir,
    pub services: Services,
    pub events: mpsc::UnboundedReceiver<WorkerEvent>,
    pub reporter: Reporter,
    pub backend: Backend,
    /// The external cluster on [`Backend::Noida`]; dropped last, after the clients.
    pub noida: Option<Noida>,
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
        Self::on(Backend::Embedded).await
    }

    /// The embedded broker + an osmem clone, or a fresh noida-db as an external cluster
    /// (Kafka and search both on it).
    pub async fn on(backend: Backend) -> Bench {
        let dir = tempfile::tempdir().expect("tempdir");
        match backend {
            Backend::Embedded => {
                let url = search_server().await;
                let config = test_config(dir.path(), &url);
                Self::with_config(dir, config).await
            }
            Backend::Noida => {
                let noida = tokio::task::spawn_blocking(Noida::start)
                    .await
                    .expect("noida start");
                let mut config = test_config(dir.path(), &noida.elasticsearch);
                config.kafka.brokers = noida.kafka.clone();
                let mut bench = Self::with_config(dir, config).await;
                bench.backend = Backend::Noida;
                bench.noida = Some(noida);
                bench
            }
        }
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
            backend: Backend::Embedded,
            noida: None,
        }
    }

    /// The noida-db of this bench (fault injection); panics on the embedded backend.
    pub fn noida(&self) -> &Noida {
        self.noida
            .as_ref()
            .expect("this bench runs on the embedded broker")
    }

    /// Environment for an `eventdeck` process started by the test, so that it talks to this
    /// bench's cluster and search server (the data dir is passed by the test).
    pub fn child_env(&self) -> Vec<(&'static str, String)> {
        let c = &self.services.config;
        [
            ("EVENTDECK_KAFKA_BROKERS", c.kafka.brokers.clone()),
            ("EVENTDECK_SEARCH_URL", c.search.url.clone()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect()
    }

    pub fn cluster(&self) -> &Cluster {
        &self.services.cluster
    }

    /// The write model of this bench (the embedded store file).
    pub fn store(&self) -> eventdeck::store::SharedStore {
        self.services.store.clone().expect("the embedded store")
    }

    /// Every default worker, reporting to this bench.
    pub fn pipeline(&self) -> eventdeck::workers::supervisor::Pipeline {
        self.services
            .spawn_pipeline(self.reporter.clone())
            .expect("pipeline")
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
                })) if w.as_str() == worker => seen += records,
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

/// Per partition of `topics`: (topic, partition, low, high, committed offset of `group`),
/// read with the Kafka API (a client that never joins the group).
pub async fn group_positions(
    cluster: &Cluster,
    group: &str,
    topics: &[String],
) -> Result<Vec<(String, i32, i64, i64, Option<i64>)>, String> {
    let (cluster, group, topics) = (cluster.clone(), group.to_string(), topics.to_vec());
    tokio::task::spawn_blocking(move || {
        let c: BaseConsumer = cluster
            .client_config("test-positions")
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .create()
            .map_err(|e| e.to_string())?;
        let mut tpl = TopicPartitionList::new();
        let mut out = Vec::new();
        for topic in &topics {
            let md = c
                .fetch_metadata(Some(topic), Duration::from_secs(10))
                .map_err(|e| format!("metadata of {topic}: {e}"))?;
            for p in md.topics()[0].partitions() {
                let (low, high) = c
                    .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                    .map_err(|e| format!("watermarks of {topic}/{}: {e}", p.id()))?;
                tpl.add_partition(topic, p.id());
                out.push((topic.clone(), p.id(), low, high, None));
            }
        }
        let committed = c
            .committed_offsets(tpl, Duration::from_secs(10))
            .map_err(|e| format!("committed offsets of {group}: {e}"))?;
        for row in out.iter_mut() {
            if let Some(Offset::Offset(o)) =
                committed.find_partition(&row.0, row.1).map(|e| e.offset())
            {
                row.4 = Some(o);
            }
        }
        Ok(out)
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Waits until `group` has committed every partition of `topics` up to its high watermark
/// (an empty partition needs no commit): every record there was handled, acknowledged and
/// committed, whatever redeliveries or rebalances happened on the way.
pub async fn wait_committed(cluster: &Cluster, group: &str, topics: &[String], within: Duration) {
    eventually(
        &format!("{group} committed up to the high watermarks"),
        within,
        || async {
            let rows = group_positions(cluster, group, topics).await?;
            let behind: Vec<String> = rows
                .iter()
                .filter(|(_, _, low, high, c)| match c {
                    Some(c) => c < high,
                    None => high > low,
                })
                .map(|(t, p, _, high, c)| format!("{t}/{p} at {c:?} of {high}"))
                .collect();
            behind.is_empty().then_some(()).ok_or(behind.join(", "))
        },
    )
    .await
}

/// (partition, low, high, committed offset) of every partition of `topic` for `group`,
/// read directly with the Kafka API.
pub async fn kafka_view(
    cluster: &Cluster,
    group: &str,
    topic: &str,
) -> Vec<(i32, i64, i64, Option<i64>)> {
    let (cluster, group, topic) = (cluster.clone(), group.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        let c: BaseConsumer = cluster
            .consumer_config("test-view", &group)
            .create()
            .expect("consumer");
        let md = c
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .expect("metadata");
        let mut tpl = TopicPartitionList::new();
        let mut out = Vec::new();
        for p in md.topics()[0].partitions() {
            let (low, high) = c
                .fetch_watermarks(&topic, p.id(), Duration::from_secs(10))
                .expect("watermarks");
            tpl.add_partition(&topic, p.id());
            out.push((p.id(), low, high, None));
        }
        let committed = c
            .committed_offsets(tpl, Duration::from_secs(10))
            .expect("committed");
        for row in out.iter_mut() {
            if let Some(Offset::Offset(o)) =
                committed.find_partition(&topic, row.0).map(|e| e.offset())
            {
                row.3 = Some(o);
            }
        }
        out
    })
    .await
    .expect("view task")
}

/// Posts `n` messages (content "history N" + `tag`), edits every third, deletes every fifth
/// from the second; returns the ids.
pub async fn post_history(
    store: &eventdeck::store::SharedStore,
    n: usize,
    tag: &str,
) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let posted = store
            .post(
                eventdeck::store::PostMessage {
                    channel_id: format!("ch_{}", i % 4),
                    author_id: "user_001".into(),
                    content: format!("history {i} {tag}"),
                    attachments: vec![],
                },
                None,
            )
            .await
            .expect("post");
        ids.push(posted.message.message_id);
    }
    for id in ids.iter().step_by(3) {
        let edit = eventdeck::store::EditMessage {
            content: format!("edited history {id} {tag}"),
            editor_id: None,
        };
        store.edit(id, edit).await.expect("edit");
    }
    for id in ids.iter().skip(1).step_by(5) {
        store
            .delete(id, eventdeck::store::DeleteMessage { deleted_by: None })
            .await
            .expect("delete");
    }
    ids
}
