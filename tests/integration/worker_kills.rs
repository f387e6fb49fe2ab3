//! Crash-safe restarts of a deployment in pieces: the embedded broker in one process, and the
//! outbox relay, the indexer, the notifier and the archive each in an `eventdeck run
//! --workers …` process of its own, sharing a PostgreSQL write model and an Elasticsearch-API
//! server. While the test writes LOAD posts (and edits and deletes some) through the write
//! model, a killer SIGKILLs a random one of the four at random moments and starts it again on
//! its data directory. Afterwards the index equals the write model, every mention is notified
//! once, and every record of the message topics is in exactly one archive line.
//!
//! It runs on two brokers: another eventdeck's embedded broker, and noida-db's Kafka service
//! as an external cluster, whose workers are static group members (`[kafka]
//! group_instance_id`, one per process). LOAD is 8,000 posts in the test command; with
//! `SOAK=1` the external cluster's run takes 50,000 (the figure the reliability suite
//! names), and with `SOAK_EMBEDDED=1` the embedded broker's does too (it does not pass yet,
//! see `load_size`). The kill seed is printed, and `KILL_SEED` replays one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventdeck::config::{Config, TopicsConfig};
use eventdeck::store::postgres::PgStore;
use eventdeck::store::{DeleteMessage, EditMessage, MessageStore, PostMessage};

use crate::crash::archived_exactly_once;
use crate::harness::{eventually, read_topic, search_server, Noida};
use crate::load::notified_exactly_once;
use crate::node::{kill9, KeepOnPanic, KillOnDrop, Node};

const WORKERS: [&str; 4] = ["relay", "indexer", "notifier", "archive"];
/// Writers posting at once.
const WRITERS: usize = 8;

fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

/// Where the killed workers' broker is.
#[derive(Clone, Copy, PartialEq)]
enum KillBroker {
    /// Another eventdeck's embedded broker (`run --workers producer`).
    Embedded,
    /// noida-db's Kafka service; the workers are static members of their groups.
    External,
}

/// (posts, seconds to spread them over): the kills land while the load is under way.
///
/// The embedded broker's soak does not pass yet: its SQLite engine falls behind for good
/// (tansu-storage 0.6 answers each fetch with a query over everything from the consumer's
/// offset to the end, and consumers restarted far behind starve the produce requests queued
/// behind them: 3,789 rows still waited in the outbox 180 s after 50,000 posts at 2,000 a
/// second, 30,999 at 500 a second).
///
/// On the external cluster the workers must be static members: noida-db 0.2.3's coordinator
/// never drops a member killed without leaving, so with dynamic membership the rebalance a
/// restarted worker starts waits for the dead one until the rebalance timeout (5 min by
/// default), then starts again for the next one killed.
fn load_size(broker: KillBroker) -> (usize, u64) {
    let soak = match broker {
        KillBroker::Embedded => flag("SOAK_EMBEDDED"),
        KillBroker::External => flag("SOAK"),
    };
    if soak {
        (50_000, 100)
    } else {
        (8_000, 15)
    }
}

/// A small, seedable generator for the kill schedule (xorshift64*).
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) % n
    }
}

/// What the test wrote, message by message: its final state.
#[derive(Clone, Debug)]
struct Written {
    content: String,
    deleted: bool,
    mentioned: Option<String>,
}

/// Writer `w` posts every WRITERS-th message of `0..n`, spread over `seconds`, edits every
/// 10th after posting it and deletes every 25th.
async fn write(store: Arc<PgStore>, w: usize, n: usize, seconds: u64) -> BTreeMap<String, Written> {
    let mut out = BTreeMap::new();
    let started = tokio::time::Instant::now();
    for i in (w..n).step_by(WRITERS) {
        let due = started + Duration::from_micros(i as u64 * seconds * 1_000_000 / n as u64);
        tokio::time::sleep_until(due).await;
        let mentioned = i.is_multiple_of(3).then(|| format!("user_k{:02}", i % 17));
        let mut content = format!("killmark post {i}");
        if let Some(u) = &mentioned {
            content.push_str(&format!(" @{u}"));
        }
        let post = PostMessage {
            channel_id: format!("ch_k{:02}", i % 11),
            author_id: format!("user_a{:02}", i % 13),
            content: content.clone(),
            attachments: vec![],
        };
        let posted = store.post(post, None).await.expect("post").message;
        let id = posted.message_id;
        let mut deleted = false;
        if i.is_multiple_of(10) {
            content.push_str(" edited");
            let edit = EditMessage {
                content: content.clone(),
                editor_id: None,
            };
            store.edit(&id, edit).await.expect("edit");
        }
        if i.is_multiple_of(25) {
            let delete = DeleteMessage { deleted_by: None };
            store.delete(&id, delete).await.expect("delete");
            deleted = true;
        }
        out.insert(
            id,
            Written {
                content,
                deleted,
                mentioned,
            },
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_of_separate_worker_processes_under_load_loses_and_duplicates_nothing() {
    kill_workers_under_load(KillBroker::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn static_members_on_an_external_cluster_killed_under_load_lose_and_duplicate_nothing() {
    kill_workers_under_load(KillBroker::External).await;
}

async fn kill_workers_under_load(kind: KillBroker) {
    let (load, seconds) = load_size(kind);
    let seed: u64 = std::env::var("KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| eventdeck::event::now_ms() as u64 | 1);
    eprintln!("worker kills: {load} posts, kill seed {seed}");
    let dir = KeepOnPanic::new();
    let pg = crate::postgres::database().await;
    let search_url = search_server().await;

    let noida = (kind == KillBroker::External).then(Noida::start);
    let mut broker = Node::new(dir.path().join("broker"), None, "killmark");
    let _broker = match &noida {
        Some(n) => {
            broker.brokers = Some(n.kafka.clone());
            KillOnDrop(None)
        }
        None => {
            broker.workers = Some("producer".into());
            KillOnDrop(Some(broker.start().0))
        }
    };
    let brokers = broker
        .brokers
        .clone()
        .unwrap_or_else(|| format!("127.0.0.1:{}", broker.port));
    eprintln!("worker kills: broker {brokers}");
    let mut nodes: Vec<(Node, KillOnDrop)> = WORKERS
        .iter()
        .map(|w| {
            let mut node = Node::new(dir.path().join(w), Some(search_url.clone()), "killmark");
            node.brokers = Some(brokers.clone());
            node.workers = Some(w.to_string());
            node.env.push(("EVENTDECK_STORE_URL".into(), pg.clone()));
            // Workers on another eventdeck's embedded broker turn idempotence off, as the
            // README says: tansu-storage 0.6 panics on an idempotent producer's epoch bump.
            // On the external cluster each process is a static member under a name of its
            // own, kept across its restarts.
            let config = dir.path().join(format!("{w}.toml"));
            let settings = match kind {
                KillBroker::Embedded => {
                    "[kafka.properties]\n\"enable.idempotence\" = \"false\"\n".to_string()
                }
                KillBroker::External => format!("[kafka]\ngroup_instance_id = \"killmark-{w}\"\n"),
            };
            std::fs::write(&config, settings).expect("workers' config");
            node.config = Some(config);
            let run = KillOnDrop(Some(node.start().0));
            (node, run)
        })
        .collect();

    let store = Arc::new(
        PgStore::open(&pg, TopicsConfig::default())
            .await
            .expect("postgres store"),
    );
    let writing = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(write(store.clone(), w, load, seconds)))
        .collect();

    // The killer: a random worker at a random moment (0.3–2.5 s apart) while the writers
    // write, then twice more once they are done.
    let done = Arc::new(AtomicBool::new(false));
    let killer = {
        let done = done.clone();
        tokio::task::spawn_blocking(move || {
            let mut dice = Dice(seed);
            let mut kills: Vec<(String, f64)> = Vec::new();
            let mut after_done = 0;
            let started = Instant::now();
            while after_done < 2 {
                std::thread::sleep(Duration::from_millis(300 + dice.below(2_200)));
                if done.load(Ordering::SeqCst) {
                    after_done += 1;
                }
                let (node, run) = &mut nodes[dice.below(WORKERS.len() as u64) as usize];
                if let Some(child) = run.0.take() {
                    kill9(child);
                }
                kills.push((
                    node.workers.clone().unwrap_or_default(),
                    started.elapsed().as_secs_f64(),
                ));
                run.0 = Some(node.start().0);
            }
            (nodes, kills)
        })
    };
    let mut written: BTreeMap<String, Written> = BTreeMap::new();
    for w in writers {
        written.extend(w.await.expect("writer"));
    }
    let wrote_for = writing.elapsed();
    done.store(true, Ordering::SeqCst);
    let (nodes, kills) = killer.await.expect("killer");
    let last_restart = Instant::now();
    let logs = || {
        nodes
            .iter()
            .map(|(n, _)| n.logs())
            .collect::<Vec<_>>()
            .join("\n")
    };

    // Everything published, and the index equal to the write model.
    eventually("the outbox drained", Duration::from_secs(180), || {
        let store = store.clone();
        async move {
            let b = store.backlog().await.map_err(|e| e.to_string())?;
            (b.rows == 0)
                .then_some(())
                .ok_or(format!("{} rows wait", b.rows))
        }
    })
    .await;
    let mut config = Config::default();
    config.search.url = search_url.clone();
    let index = eventdeck::search::open_index(&config, dir.path()).expect("index");
    let ids: Vec<String> = written.keys().cloned().collect();
    let deadline = Instant::now() + Duration::from_secs(180);
    let indexed = loop {
        let mut wrong = Vec::new();
        for chunk in ids.chunks(500) {
            let docs = index.get(chunk).await.unwrap_or_default();
            for id in chunk {
                let want = &written[id];
                let ok = match docs.get(id) {
                    Some(d) if want.deleted => d.deleted,
                    Some(d) => !d.deleted && d.content == want.content,
                    None => want.deleted,
                };
                if !ok {
                    wrong.push(id.clone());
                }
            }
        }
        if wrong.is_empty() {
            break last_restart.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} messages differ from the write model, e.g. {:?}\n{}",
            wrong.len(),
            ids.len(),
            &wrong[..wrong.len().min(3)],
            logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let live = written.values().filter(|w| !w.deleted).count() as u64;
    let mut q = eventdeck::search::SearchQuery {
        text: "killmark".into(),
        page_size: 1,
        ..Default::default()
    };
    q.page = 0;
    let found = index.search(&q).await.expect("search").total;
    assert_eq!(found, live, "searchable: every live message once");

    // Every mention notified once.
    let cluster = broker.cluster();
    let expected: BTreeSet<(String, String)> = written
        .iter()
        .filter_map(|(id, w)| w.mentioned.clone().map(|u| (id.clone(), u)))
        .collect();
    let notified = notified_exactly_once(&cluster, &expected, Duration::from_secs(120)).await;

    // Every record of the message topics in exactly one archive line.
    let archive = dir.path().join("archive").join("archive");
    let mut archived_total = 0;
    for topic in ["created", "updated", "deleted"] {
        let topic = format!("platform.messages.{topic}");
        archived_total +=
            archived_exactly_once(&cluster, &archive, &topic, Duration::from_secs(120)).await;
    }
    let recovered = last_restart.elapsed();
    // The relay publishes at least once: one killed between the broker's acknowledgement
    // and marking its outbox rows publishes them again when it restarts. The consumers take
    // such a record as the same event (the index by its version, the notifier by its
    // memory of what it sent), which the checks above prove; the count is printed.
    let republished = archived_total.saturating_sub(events_of(&written));
    let dlq = read_topic(&cluster, "platform.messages.dlq").await;
    assert!(dlq.is_empty(), "{} dead letters", dlq.len());

    let per_worker: BTreeMap<&str, usize> = WORKERS
        .iter()
        .map(|w| (*w, kills.iter().filter(|(k, _)| k == w).count()))
        .collect();
    let events = events_of(&written);
    eprintln!(
        "worker kills: {} posts written in {:.1} s ({events} events), {} kills {per_worker:?} at \
         {:?} s; index equal to the write model {:.1} s after the last restart, everything \
         (notifications, archive) {:.1} s; {notified} notifications; {archived_total} archive \
         lines ({republished} records published twice by a relay killed before marking them)",
        written.len(),
        wrote_for.as_secs_f64(),
        kills.len(),
        kills
            .iter()
            .map(|(_, t)| (t * 10.0).round() / 10.0)
            .collect::<Vec<_>>(),
        indexed.as_secs_f64(),
        recovered.as_secs_f64()
    );
    eprintln!(
        "reliability | worker processes killed ({}) | SIGKILL of a random one of relay, indexer, \
         notifier, archive every 0.3-2.5 s, restarted | sent {events} | found {found} live of \
         {live} | duplicates 0 ({republished} republished by the relay, absorbed) | recovered \
         in {:.1} s",
        match kind {
            KillBroker::Embedded => "embedded broker",
            KillBroker::External => "external cluster, static members",
        },
        recovered.as_secs_f64()
    );
    drop(nodes);
}

/// The events the writers caused: every post, an edit of every 10th, a delete of every
/// 25th.
fn events_of(written: &BTreeMap<String, Written>) -> usize {
    written.len() + written.len() / 10 + written.values().filter(|w| w.deleted).count()
}
