//! `eventdeck replay`: rebuilds the message state from the log alone (the message topics
//! from the beginning) with progress on stderr, and with `--verify` compares it with the
//! search index and the write model, printing every difference by id with the record that
//! last changed the message; exits non-zero when there is any. Works beside a running
//! eventdeck (its embedded broker, a read-only view of its index) or alone (it then starts
//! the embedded broker on the data directory itself). `--reindex` rebuilds the index without
//! downtime: itself when it may write the index (alone, or Elasticsearch, whose alias any
//! client can switch), else through the running eventdeck's control socket (`remote`).

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;

use super::client_cluster;
use crate::bus::Cluster;
use crate::config::{Config, SearchBackend};
use crate::embedded::datadir::DataDir;
use crate::replay::read_archive::read_archive;
use crate::replay::read_log::{read_log, Progress};
use crate::replay::read_state::rebuild_from_state;
use crate::replay::reindex::{
    reindex as reindex_from_log, ReindexProgress, ReindexProgressFn, Reindexed,
};
use crate::replay::republish::republish;
use crate::replay::state::RebuiltState;
use crate::replay::verify::{diff_index, diff_store, Difference};
use crate::search::{elastic::ElasticIndex, local::LocalIndex, SearchIndex};
use crate::store::SharedStore;
use crate::workers::supervisor::{open_store, Services};

/// Differences printed one by one; past this only the count.
const SHOWN: usize = 50;

struct Sources {
    cluster: Cluster,
    index: Arc<dyn SearchIndex>,
    store: Option<SharedStore>,
    /// Held while we run the embedded broker ourselves.
    _services: Option<Services>,
}

async fn sources(config: Config) -> anyhow::Result<Sources> {
    let data_dir = config.data_dir();
    let alone = config.uses_embedded_broker()
        && std::fs::create_dir_all(&data_dir).is_ok()
        && DataDir::open(&data_dir).is_ok();
    if alone {
        // Nothing runs on this data directory: start its broker (and index) ourselves.
        let services = Services::start(config).await?;
        return Ok(Sources {
            cluster: services.cluster.clone(),
            index: services.index.clone(),
            store: services.store.clone().ok(),
            _services: Some(services),
        });
    }
    let index: Arc<dyn SearchIndex> = match config.search_backend()? {
        SearchBackend::Local => Arc::new(LocalIndex::open_read_only(&data_dir.join("index"))?),
        SearchBackend::Elastic {
            url,
            index,
            auth,
            analyzer,
        } => Arc::new(ElasticIndex::connect(&url, &index, &auth, analyzer)?),
    };
    Ok(Sources {
        cluster: client_cluster(&config),
        index,
        store: open_store(&config, &data_dir).await.ok(),
        _services: None,
    })
}

/// What `replay` does besides rebuilding the state (and `--verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Rebuild,
    /// `--reindex`: a new search index from the log, switched to without downtime.
    Reindex,
    /// `--from-archive DIR --republish`: the archive's records back into the topics.
    Republish,
}

/// Where the history is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The message topics from the beginning.
    Log,
    /// The archive's files under this directory.
    Archive(std::path::PathBuf),
    /// The compacted state topic, then the events after the state keeper's offsets.
    State,
}

pub async fn replay(
    config: Config,
    verify: bool,
    source: Source,
    mode: Mode,
) -> anyhow::Result<()> {
    let state_topic = config.topics.state.clone();
    let state_group = config.groups.state.clone();
    let from_archive = match &source {
        Source::Archive(dir) => Some(dir.clone()),
        _ => None,
    };
    let reindex = mode == Mode::Reindex;
    let every_topic: Vec<String> = config.all_topics().iter().map(|t| t.to_string()).collect();
    let producer_config = config.producer.clone();
    let topics: Vec<String> = config
        .message_topics()
        .iter()
        .map(|t| t.to_string())
        .collect();
    let data_dir = config.data_dir();
    let local = matches!(config.search_backend()?, SearchBackend::Local);
    let sources = sources(config).await?;
    if let (Mode::Republish, Some(dir)) = (mode, &from_archive) {
        eprintln!(
            "republishing the archive in {} to {}",
            dir.display(),
            sources.cluster.describe()
        );
        let done = republish(
            &sources.cluster,
            &producer_config,
            dir,
            &every_topic,
            show_progress,
        )
        .await?;
        eprintln!();
        let mut per_topic: Vec<_> = done.per_topic.iter().collect();
        per_topic.sort();
        println!(
            "republished {} records from {} files: {}",
            done.records(),
            done.files,
            per_topic
                .iter()
                .map(|(t, n)| format!("{t} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if sources._services.is_some() {
            println!("start eventdeck (or `eventdeck run`) on this data directory: its workers index the republished history");
        }
        return Ok(());
    }
    if reindex {
        let done = if local && sources._services.is_none() {
            // The local index has one writer: the eventdeck holding it does the work.
            eprintln!(
                "asking the eventdeck running on {} to reindex",
                data_dir.display()
            );
            crate::remote::reindex(&data_dir, show_reindex_progress).await?
        } else {
            eprintln!(
                "reindexing {} from {}",
                sources.index.describe(),
                topics.join(", ")
            );
            let report: ReindexProgressFn = Arc::new(show_reindex_progress);
            reindex_from_log(
                sources.cluster.clone(),
                topics.clone(),
                sources.index.clone(),
                report,
            )
            .await?
        };
        eprintln!();
        print_reindexed(&done);
        if !verify {
            return Ok(());
        }
    }
    let state = match from_archive {
        None if source == Source::State => {
            eprintln!(
                "replaying from {state_topic} and the events after {state_group}'s offsets on {}",
                sources.cluster.describe()
            );
            let cluster = sources.cluster.clone();
            tokio::task::spawn_blocking(move || {
                rebuild_from_state(&cluster, &state_topic, &state_group, &topics, show_progress)
            })
            .await??
        }
        Some(dir) => {
            eprintln!(
                "replaying {} from the archive in {}",
                topics.join(", "),
                dir.display()
            );
            tokio::task::spawn_blocking(move || read_archive(&dir, &topics, show_progress))
                .await??
        }
        None => {
            eprintln!(
                "replaying {} from the beginning on {}",
                topics.join(", "),
                sources.cluster.describe()
            );
            let cluster = sources.cluster.clone();
            tokio::task::spawn_blocking(move || read_log(&cluster, &topics, show_progress))
                .await??
        }
    };
    eprintln!();
    let deleted = state.docs.len() - state.live();
    println!(
        "rebuilt from {} events: {} messages ({} live, {deleted} deleted){}",
        state.events,
        state.docs.len(),
        state.live(),
        if state.unreadable > 0 {
            format!(", {} unreadable records skipped", state.unreadable)
        } else {
            String::new()
        }
    );
    if !verify {
        return Ok(());
    }
    let mut differences = 0;
    let in_index = index_docs(sources.index.as_ref(), &state).await?;
    differences += report(
        &format!("search index ({})", sources.index.describe()),
        &diff_index(&state, &in_index),
    );
    match &sources.store {
        Some(store) => {
            let direct = state.docs.len() - state.from_outbox.len();
            if direct > 0 {
                println!(
                    "{direct} messages were written straight to the topics (not through the write model): compared with the index only"
                );
            }
            let rows = store_rows(store, &state).await?;
            differences += report(
                &format!("write model ({})", store.describe()),
                &diff_store(&state, &rows),
            );
        }
        None => println!("write model: none to compare (no store configured or created)"),
    }
    if differences > 0 {
        anyhow::bail!("{differences} differences between the log and the read or write side");
    }
    Ok(())
}

fn show_reindex_progress(p: ReindexProgress) {
    let eta = p
        .progress
        .eta
        .map(|e| format!(" · ETA {:.0} s", e.as_secs_f64()))
        .unwrap_or_default();
    eprint!(
        "\r  {}: {} of {} · {:.0}/s{eta}          ",
        p.stage.label(),
        p.progress.read,
        p.progress.total,
        p.progress.per_sec
    );
    let _ = std::io::stderr().flush();
}

fn print_reindexed(done: &Reindexed) {
    println!(
        "reindexed from {} events ({:.0} events/s): {} documents; now serving {} (was {})",
        done.events, done.read_rate, done.replaced.documents, done.replaced.new, done.replaced.old
    );
    println!("analysis: {}", done.replaced.analyzer);
    println!(
        "caught up {} messages changed during the rebuild{}; took {:.1} s",
        done.caught_up,
        if done.refused > 0 {
            format!(", {} refused by the index", done.refused)
        } else {
            String::new()
        },
        done.took.as_secs_f64()
    );
}

fn show_progress(p: Progress) {
    let eta = p
        .eta
        .map(|e| format!(" · ETA {:.0} s", e.as_secs_f64()))
        .unwrap_or_default();
    eprint!(
        "\r  {} of {} events · {:.0} events/s{eta}   ",
        p.read, p.total, p.per_sec
    );
    let _ = std::io::stderr().flush();
}

fn report(side: &str, differences: &[Difference]) -> usize {
    if differences.is_empty() {
        println!("{side}: agrees with the log");
        return 0;
    }
    println!("{side}: {} differences", differences.len());
    for d in differences.iter().take(SHOWN) {
        println!("  {d}");
    }
    if differences.len() > SHOWN {
        println!("  … and {} more", differences.len() - SHOWN);
    }
    differences.len()
}

async fn index_docs(
    index: &dyn SearchIndex,
    state: &RebuiltState,
) -> anyhow::Result<HashMap<String, crate::search::SearchDoc>> {
    index.refresh().await.ok();
    let ids: Vec<String> = state.docs.keys().cloned().collect();
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        found.extend(index.get(chunk).await?);
    }
    Ok(found)
}

async fn store_rows(
    store: &SharedStore,
    state: &RebuiltState,
) -> anyhow::Result<HashMap<String, crate::store::Message>> {
    use futures::stream::{self, StreamExt, TryStreamExt};
    let rows: Vec<Option<crate::store::Message>> = stream::iter(state.from_outbox.iter().cloned())
        .map(|id| {
            let store = store.clone();
            async move { store.get(&id).await }
        })
        .buffer_unordered(16)
        .try_collect()
        .await?;
    Ok(rows
        .into_iter()
        .flatten()
        .map(|m| (m.message_id.clone(), m))
        .collect())
}
