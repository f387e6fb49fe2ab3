//! The in-process Kafka-protocol broker (tansu) on 127.0.0.1, with SQLite storage in the data
//! directory. Any Kafka client can connect to it (Python confluent-kafka, Kafka UI, …).
//!
//! Invariant kept here: when the broker starts, no consumer-group member from before the start
//! is alive, so every group starts empty (see [`groups`]). Committed offsets are kept.
//!
//! The broker is watched: tansu serves its SQLite file from one task, and when that task
//! ends (a panic inside tansu-storage 0.6: one Fetch for a partition that does not exist
//! causes it, and so did an idempotent producer's epoch bump, see `bus::producer`) the
//! broker is alive but can store nothing again. The watch ([`probe`]) sees that at once (a
//! panic in tansu-storage is its hint) or within a second, and starts a new broker on the
//! same port and file; clients reconnect by themselves. Each restart is logged and kept in
//! [`BrokerHealth`], which `status` shows.

use std::path::Path;
use std::time::{Duration, Instant};

use tansu_broker::broker::Broker;
use tansu_broker::coordinator::group::administrator::Controller;
use tansu_storage::StorageContainer;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

use super::probe::{probe, Probe, StorageWatch};

const NODE_ID: i32 = 111;
const CLUSTER_ID: &str = "eventdeck";
/// How often the storage engine is asked whether it still answers: produce requests
/// between its death and the restart are refused, so the gap is kept short.
const PROBE_EVERY: Duration = Duration::from_millis(500);
/// How long one probe waits for its answer; a busy engine answers well within it.
const PROBE_WAIT: Duration = Duration::from_secs(5);
/// How long a restart may take to listen again before it is tried once more.
const LISTEN_WITHIN: Duration = Duration::from_secs(20);

/// The restarts of the embedded broker since this process started it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerHealth {
    pub restarts: u32,
    /// Why the last restart was needed, when (UTC) and how long it took, as `status` shows
    /// it.
    pub last: Option<String>,
}

pub struct EmbeddedBroker {
    pub address: String,
    /// Serves the broker and restarts it when its storage engine has stopped.
    supervision: JoinHandle<()>,
    health: watch::Receiver<BrokerHealth>,
    /// A second handle on the broker's SQLite file, opened to reset the groups; kept open
    /// while the broker runs (see `groups::empty_stale_groups`).
    _storage: StorageContainer,
}

/// Aborts the task when dropped: the serving task must not outlive its supervision.
struct Serving(JoinHandle<()>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Serving {
    /// Aborts the broker and waits until its task is gone, with its listening socket.
    async fn stop(mut self) {
        self.0.abort();
        let _ = (&mut self.0).await;
    }
}

/// What a broker is started with, kept for its restarts.
#[derive(Clone)]
struct Launch {
    address: String,
    storage: Url,
    listener: Url,
}

impl Launch {
    /// Builds a broker on the file and port and waits until it accepts connections.
    async fn start(&self) -> anyhow::Result<Serving> {
        let mut broker = Broker::<Controller<StorageContainer>, StorageContainer>::builder()
            .node_id(NODE_ID)
            .cluster_id(CLUSTER_ID)
            .incarnation_id(uuid::Uuid::now_v7())
            .advertised_listener(self.listener.clone())
            .storage(self.storage.clone())
            .listener(self.listener.clone())
            .silent(true)
            .build()
            .await
            .map_err(|e| anyhow::anyhow!("embedded broker: {e:?}"))?;
        let serving = Serving(tokio::spawn(async move {
            if let Err(e) = broker.serve(tokio::time::Instant::now()).await {
                tracing::error!(error = ?e, "embedded broker stopped");
            }
        }));
        let deadline = tokio::time::Instant::now() + LISTEN_WITHIN;
        loop {
            if tokio::net::TcpStream::connect(&self.address).await.is_ok() {
                return Ok(serving);
            }
            if serving.0.is_finished() || tokio::time::Instant::now() > deadline {
                anyhow::bail!(
                    "embedded broker did not start listening on {}",
                    self.address
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl EmbeddedBroker {
    /// Starts the broker and returns once it accepts connections. `port` 0 picks a free one.
    pub async fn start(data_dir: &Path, port: u16) -> anyhow::Result<Self> {
        let port = if port == 0 { free_port()? } else { port };
        let address = format!("127.0.0.1:{port}");
        if tokio::net::TcpStream::connect(&address).await.is_ok() {
            anyhow::bail!(
                "port {port} on 127.0.0.1 is already taken; set kafka.embedded_port \
                 (or --embedded-port) to a free port, or 0 for any"
            );
        }
        let storage = storage_url(&data_dir.join("broker.db"))?;
        let listener = Url::parse(&format!("tcp://{address}"))?;
        let (storage_handle, emptied) =
            super::groups::empty_stale_groups(&storage, &listener, NODE_ID, CLUSTER_ID)
                .await
                .map_err(|e| anyhow::anyhow!("embedded broker: resetting consumer groups: {e}"))?;
        if emptied > 0 {
            tracing::info!(
                groups = emptied,
                "consumer groups emptied of members from before the start"
            );
        }
        let launch = Launch {
            address: address.clone(),
            storage,
            listener,
        };
        let serving = launch.start().await?;
        let (health_tx, health) = watch::channel(BrokerHealth::default());
        let supervision = tokio::spawn(supervise(launch, serving, health_tx));
        Ok(Self {
            address,
            supervision,
            health,
            _storage: storage_handle,
        })
    }

    /// Its restarts so far, updated as they happen.
    pub fn health(&self) -> watch::Receiver<BrokerHealth> {
        self.health.clone()
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        // Dropping the supervision drops its `Serving`, which aborts the broker.
        self.supervision.abort();
    }
}

/// Raised by a panic inside tansu-storage (see [`note_panic`]): probe now rather than at the
/// next tick. Only a hint: the probe decides.
static LOOK_NOW: std::sync::LazyLock<tokio::sync::Notify> =
    std::sync::LazyLock::new(tokio::sync::Notify::new);

/// Called by the process's panic hook: a panic in tansu-storage may have ended the storage
/// engine of an embedded broker, and every produce request until the restart is refused.
pub fn note_panic(info: &std::panic::PanicHookInfo<'_>) {
    if info
        .location()
        .is_some_and(|at| at.file().contains("tansu-storage"))
    {
        LOOK_NOW.notify_waiters();
    }
}

/// Installs a panic hook that calls [`note_panic`], then the previous hook.
pub fn watch_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        note_panic(info);
        previous(info);
    }));
}

/// The pause before asking again after a refusal (one refusal is not yet a death).
const CONFIRM_AFTER: Duration = Duration::from_millis(50);

/// Probes the broker twice a second, and at once after a panic in tansu-storage; when its
/// storage engine is dead, or the broker stopped, starts a new one on the same port and file.
async fn supervise(launch: Launch, mut serving: Serving, health: watch::Sender<BrokerHealth>) {
    let mut watch = StorageWatch::default();
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = LOOK_NOW.notified() => {}
        }
        let reason = if serving.0.is_finished() {
            "the broker stopped".to_string()
        } else {
            let mut p = probe(&launch.address, PROBE_WAIT).await;
            let mut dead = watch.dead_after(&p);
            while !dead && matches!(p, Probe::Refused(_)) {
                tokio::time::sleep(CONFIRM_AFTER).await;
                p = probe(&launch.address, PROBE_WAIT).await;
                dead = watch.dead_after(&p);
            }
            if !dead {
                continue;
            }
            match p {
                Probe::Refused(why) => format!("its storage engine stopped answering ({why})"),
                other => format!("its storage engine stopped answering ({other:?})"),
            }
        };
        tracing::error!(%reason, address = %launch.address, "embedded broker: restarting it");
        let began = Instant::now();
        serving.stop().await;
        serving = restart(&launch).await;
        watch = StorageWatch::default();
        let took = began.elapsed();
        tracing::warn!(
            took_ms = took.as_millis() as u64,
            "embedded broker restarted"
        );
        health.send_modify(|h| {
            h.restarts += 1;
            h.last = Some(format!(
                "{reason}; restarted at {} UTC in {} ms",
                chrono::Utc::now().format("%H:%M:%S"),
                took.as_millis()
            ));
        });
    }
}

/// Starts the broker again, retrying until it listens (the old one's port is freed as its
/// aborted task is dropped, which can take a moment).
async fn restart(launch: &Launch) -> Serving {
    let mut attempt = 0u32;
    loop {
        match launch.start().await {
            Ok(serving) => return serving,
            Err(e) => {
                attempt += 1;
                tracing::error!(error = %e, attempt, "embedded broker: restart failed; retrying");
                let wait = crate::workers::backoff::backoff(Duration::from_millis(200), attempt);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// tansu joins the URL's path onto the working directory after stripping one leading `/`;
/// a path that still starts with `/` after that replaces the working directory instead, so
/// an absolute file is written as `sqlite:////abs/path`.
pub fn storage_url(file: &Path) -> anyhow::Result<Url> {
    let absolute = if file.is_absolute() {
        file.to_path_buf()
    } else {
        std::env::current_dir()?.join(file)
    };
    Ok(Url::parse(&format!("sqlite:///{}", absolute.display()))?)
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_url_keeps_an_absolute_path_absolute_after_tansu_strips_one_slash() {
        let u = storage_url(Path::new("/var/lib/eventdeck/broker.db")).expect("url");
        let joined =
            std::path::PathBuf::from("/cwd").join(u.path().strip_prefix('/').unwrap_or(u.path()));
        assert_eq!(joined, Path::new("/var/lib/eventdeck/broker.db"));
    }
}
