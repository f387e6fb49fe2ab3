//! The in-process Kafka-protocol broker (tansu) on 127.0.0.1, with SQLite storage in the data
//! directory. Any Kafka client can connect to it (Python confluent-kafka, Kafka UI, …).
//!
//! Invariant kept here: when the broker starts, no consumer-group member from before the start
//! is alive, so every group starts empty (see [`groups`]). Committed offsets are kept.

use std::path::Path;
use std::time::Duration;

use tansu_broker::broker::Broker;
use tansu_broker::coordinator::group::administrator::Controller;
use tansu_storage::StorageContainer;
use tokio::task::JoinHandle;
use url::Url;

const NODE_ID: i32 = 111;
const CLUSTER_ID: &str = "eventdeck";

pub struct EmbeddedBroker {
    pub address: String,
    task: JoinHandle<()>,
    /// A second handle on the broker's SQLite file, opened to reset the groups; kept open
    /// while the broker runs (see `groups::empty_stale_groups`).
    _storage: StorageContainer,
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
        let mut broker = Broker::<Controller<StorageContainer>, StorageContainer>::builder()
            .node_id(NODE_ID)
            .cluster_id(CLUSTER_ID)
            .incarnation_id(uuid::Uuid::now_v7())
            .advertised_listener(listener.clone())
            .storage(storage)
            .listener(listener)
            .silent(true)
            .build()
            .await
            .map_err(|e| anyhow::anyhow!("embedded broker: {e:?}"))?;
        let task = tokio::spawn(async move {
            if let Err(e) = broker.serve(tokio::time::Instant::now()).await {
                tracing::error!(error = ?e, "embedded broker stopped");
            }
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if tokio::net::TcpStream::connect(&address).await.is_ok() {
                break;
            }
            if task.is_finished() || tokio::time::Instant::now() > deadline {
                anyhow::bail!("embedded broker did not start listening on {address}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Self {
            address,
            task,
            _storage: storage_handle,
        })
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        self.task.abort();
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
