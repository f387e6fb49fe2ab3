//! A third-party client's load: message.created events at a steady rate through rdkafka,
//! riding out the broker's deaths (librdkafka keeps the records and retries), recording which
//! the broker acknowledged; and what such a load must leave behind (its mentions, notified
//! once each).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eventdeck::bus::Cluster;
use eventdeck::event::{envelope, MessageCreated};
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;

use crate::harness::{eventually, read_topic};

/// Every MENTION_EVERY-th message mentions one user.
const MENTION_EVERY: usize = 3;
const ID_PREFIX: &str = "msg_load_";

pub(crate) fn message_id(i: usize) -> String {
    format!("{ID_PREFIX}{i:06}")
}

/// The user message `i` mentions, if any.
pub(crate) fn mentioned(i: usize) -> Option<String> {
    i.is_multiple_of(MENTION_EVERY)
        .then(|| format!("user_{:03}", 100 + i % 17))
}

/// (message id, user) of every mention among `ids`.
pub(crate) fn expected_mentions(ids: &BTreeSet<String>) -> BTreeSet<(String, String)> {
    ids.iter()
        .filter_map(|id| {
            let i: usize = id.strip_prefix(ID_PREFIX)?.parse().ok()?;
            mentioned(i).map(|u| (id.clone(), u))
        })
        .collect()
}

/// A record the broker refused, and when the producer was told.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    /// The message id and the error.
    pub(crate) what: String,
    pub(crate) at: Instant,
}

/// A load under way.
pub(crate) struct Load {
    n: usize,
    acked: Arc<Mutex<BTreeSet<String>>>,
    failed: Arc<Mutex<Vec<Refusal>>>,
    done: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    /// Produces `n` events holding the word `marker` at about `rate` a second.
    pub(crate) fn start(cluster: Cluster, marker: &str, n: usize, rate: u64) -> Load {
        Load::start_padded(cluster, marker, n, rate, 0)
    }

    /// [`Load::start`] with `pad` more bytes of content in every event.
    pub(crate) fn start_padded(
        cluster: Cluster,
        marker: &str,
        n: usize,
        rate: u64,
        pad: usize,
    ) -> Load {
        let acked = Arc::new(Mutex::new(BTreeSet::new()));
        let failed = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(produce(
            cluster,
            marker.to_string(),
            (n, rate, pad),
            acked.clone(),
            failed.clone(),
            done.clone(),
        ));
        Load {
            n,
            acked,
            failed,
            done,
            task,
        }
    }

    /// How many the broker has acknowledged so far.
    pub(crate) fn acked(&self) -> usize {
        self.acked.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Ordering::SeqCst)
    }

    /// Waits until at least `count` are acknowledged.
    pub(crate) async fn until_acked(&self, count: usize, within: Duration) {
        eventually("the load under way", within, || {
            let n = self.acked();
            async move {
                (n >= count)
                    .then_some(())
                    .ok_or_else(|| format!("{n} acknowledged"))
            }
        })
        .await;
    }

    /// Waits for the end and checks that the broker acknowledged every event; their ids.
    pub(crate) async fn finish(self) -> BTreeSet<String> {
        let n = self.n;
        let (acked, failed) = self.finish_with_failures().await;
        assert!(
            failed.is_empty(),
            "deliveries failed: {:?}",
            &failed[..failed.len().min(5)]
        );
        assert_eq!(acked.len(), n, "every event acknowledged");
        acked
    }

    /// Waits for the end: the ids the broker acknowledged, and the deliveries it refused
    /// (each reported to the producer, as a client sees it). Together they are every event.
    pub(crate) async fn finish_with_failures(self) -> (BTreeSet<String>, Vec<Refusal>) {
        eventually("the producer finished", Duration::from_secs(150), || {
            let done = self.is_done();
            async move {
                done.then_some(())
                    .ok_or_else(|| "still producing".to_string())
            }
        })
        .await;
        self.task.await.expect("producer task");
        let failed = self
            .failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let acked = self.acked.lock().unwrap_or_else(|p| p.into_inner()).clone();
        assert_eq!(
            acked.len() + failed.len(),
            self.n,
            "an event neither acknowledged nor refused"
        );
        (acked, failed)
    }
}

async fn produce(
    cluster: Cluster,
    marker: String,
    (n, rate, pad): (usize, u64, usize),
    acked: Arc<Mutex<BTreeSet<String>>>,
    failed: Arc<Mutex<Vec<Refusal>>>,
    done: Arc<AtomicBool>,
) {
    let producer: FutureProducer = cluster
        .client_config("load-test-producer")
        .set("acks", "all")
        .set("message.timeout.ms", "120000")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let mut inflight = FuturesUnordered::new();
    let started = Instant::now();
    for i in 0..n {
        let due = started + Duration::from_micros(i as u64 * 1_000_000 / rate);
        tokio::time::sleep_until(due.into()).await;
        let id = message_id(i);
        let mut content = format!("{marker} load event {i} {}", "x".repeat(pad));
        let mentions: Vec<String> = mentioned(i).into_iter().collect();
        for m in &mentions {
            content.push_str(&format!(" @{m}"));
        }
        let created = MessageCreated {
            message_id: id.clone(),
            channel_id: format!("ch_{:02}", i % 11),
            author_id: format!("user_{:03}", i % 13),
            content,
            mentions,
            attachments: vec![],
        };
        let bytes = serde_json::to_vec(&envelope("message.created", &created)).expect("json");
        let key = created.channel_id.clone();
        let delivery = loop {
            let record = FutureRecord::to("platform.messages.created")
                .key(&key)
                .payload(&bytes);
            match producer.send_result(record) {
                Ok(d) => break d,
                // The local queue is full (a broker away for long): wait for room.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        };
        inflight.push(async move { (id, delivery.await) });
        while let Some(Some((id, result))) = inflight.next().now_or_never() {
            record(&acked, &failed, id, result);
        }
    }
    while let Some((id, result)) = inflight.next().await {
        record(&acked, &failed, id, result);
    }
    done.store(true, Ordering::SeqCst);
}

type DeliveryResult = Result<
    rdkafka::producer::future_producer::OwnedDeliveryResult,
    futures::channel::oneshot::Canceled,
>;

fn record(
    acked: &Mutex<BTreeSet<String>>,
    failed: &Mutex<Vec<Refusal>>,
    id: String,
    result: DeliveryResult,
) {
    let what = match result {
        Ok(Ok(_)) => {
            acked.lock().unwrap_or_else(|p| p.into_inner()).insert(id);
            return;
        }
        Ok(Err((e, _))) => format!("{id}: {e}"),
        Err(_) => format!("{id}: producer dropped"),
    };
    failed
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Refusal {
            what,
            at: Instant::now(),
        });
}

/// (message id, user) → how many notification records name it.
pub(crate) async fn notifications(cluster: &Cluster) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for m in read_topic(cluster, "platform.notifications.sent").await {
        let Some(payload) = m.payload() else { continue };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(payload) else {
            continue;
        };
        let p = &v["payload"];
        let key = (
            p["message_id"].as_str().unwrap_or_default().to_string(),
            p["user_id"].as_str().unwrap_or_default().to_string(),
        );
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// Waits until every expected mention is notified; fails on any pair notified twice or
/// not expected. Returns how many notifications there are.
/// Downstream of an acknowledged load: every mention notified exactly once and nothing
/// dead-lettered. Returns how many notifications.
pub(crate) async fn notified_once_none_dead(cluster: &Cluster, acked: &BTreeSet<String>) -> usize {
    let notified =
        notified_exactly_once(cluster, &expected_mentions(acked), Duration::from_secs(60)).await;
    let dlq = read_topic(cluster, "platform.messages.dlq").await;
    assert!(dlq.is_empty(), "{} dead letters", dlq.len());
    notified
}

pub(crate) async fn notified_exactly_once(
    cluster: &Cluster,
    expected: &BTreeSet<(String, String)>,
    within: Duration,
) -> usize {
    let notified = eventually(&format!("{} notifications", expected.len()), within, || {
        let cluster = cluster.clone();
        let want = expected.len();
        async move {
            let counts = notifications(&cluster).await;
            let total: usize = counts.values().sum();
            (total >= want && counts.len() >= want)
                .then_some(counts)
                .ok_or(format!("{total} notifications of {want}"))
        }
    })
    .await;
    let twice: Vec<_> = notified.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "notified more than once: {} pairs, e.g. {:?}",
        twice.len(),
        &twice[..twice.len().min(5)]
    );
    let got: BTreeSet<(String, String)> = notified.keys().cloned().collect();
    assert_eq!(
        &got, expected,
        "exactly the mentions of acknowledged messages"
    );
    notified.len()
}
