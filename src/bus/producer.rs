//! The idempotent producer (`acks=all`) every publisher shares. Enqueuing is synchronous and
//! cheap; a delivery is a future the caller may await later, so a hot loop never waits for
//! one record's acknowledgement before sending the next.
//!
//! It is rdkafka's `BaseProducer` with a polling thread of our own rather than its
//! `FutureProducer`: that one polls in 100 ms slices, and each slice ends in a busy loop —
//! rust-rdkafka truncates the time left to whole milliseconds, so the last millisecond is
//! spent in non-blocking polls and clock reads. That was ~0.9 % of a core in an idle
//! `eventdeck run` (`perf`: a quarter of its idle CPU). Our thread polls in one-second slices:
//! the same loop costs a tenth, and a delivery report still wakes the poll at once.

use super::safe_create::SafeCreate;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use tokio::sync::oneshot;

use super::Cluster;
use crate::config::ProducerConfig;

/// One outgoing header: a name and its value bytes (`None` sends a null value).
pub type HeaderRef<'a> = (&'a str, Option<&'a [u8]>);

/// Where and when a record goes; `None`: the partitioner's choice (by key), and now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Placement {
    pub partition: Option<i32>,
    pub timestamp: Option<i64>,
}

/// Why this process has no producer (librdkafka refused its configuration): said once at
/// start, and by every worker or job that needed one.
#[derive(Debug, Clone, thiserror::Error)]
#[error("no producer: {0:#}")]
pub struct ProducerUnavailable(pub std::sync::Arc<anyhow::Error>);

#[derive(Clone)]
pub struct EventProducer {
    inner: Arc<Polled>,
}

/// How long one poll of the producer's thread may block (see the module's comment).
const POLL_SLICE: Duration = Duration::from_secs(1);

/// The acknowledgement of one record, or why it failed; await it with [`resolve`].
pub struct Delivery(oneshot::Receiver<Result<Delivered, KafkaError>>);

/// Sends each delivery report to the [`Delivery`] of its record.
pub struct DeliveryReports;

impl ClientContext for DeliveryReports {}

impl ProducerContext for DeliveryReports {
    type DeliveryOpaque = Box<oneshot::Sender<Result<Delivered, KafkaError>>>;

    fn delivery(&self, result: &DeliveryResult<'_>, reply: Self::DeliveryOpaque) {
        let outcome = match result {
            Ok(m) => Ok(Delivered {
                partition: m.partition(),
                offset: m.offset(),
            }),
            Err((e, _)) => Err(e.clone()),
        };
        // The caller may have stopped waiting; the record was delivered (or not) anyway.
        let _ = reply.send(outcome);
    }
}

/// The producer and its polling thread, which stops when the last clone is dropped.
struct Polled {
    producer: Arc<BaseProducer<DeliveryReports>>,
    stop: Arc<AtomicBool>,
}

impl Polled {
    fn start(producer: BaseProducer<DeliveryReports>) -> anyhow::Result<Self> {
        let producer = Arc::new(producer);
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (producer.clone(), stop.clone());
        std::thread::Builder::new()
            .name("producer-poll".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    p.poll(POLL_SLICE);
                }
                // Dropping the last handle here purges what is still queued (rdkafka's
                // drop), as the owner's flush decided; nothing waits for this thread.
            })?;
        Ok(Self { producer, stop })
    }
}

impl Drop for Polled {
    fn drop(&mut self) {
        // Not joined: the thread notices within one slice and lets go of the producer.
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Why a record was not produced (or not acknowledged).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProduceError {
    /// librdkafka refused to enqueue the record (unknown topic, record too large, ...).
    #[error("enqueue to {topic}: {source}")]
    Enqueue {
        topic: String,
        #[source]
        source: KafkaError,
    },
    /// The broker did not acknowledge the record (timed out, not enough replicas, ...).
    #[error("delivery: {source}")]
    Delivery {
        #[source]
        source: KafkaError,
    },
    /// Waiting for outstanding deliveries timed out or failed.
    #[error("flush: {source}")]
    Flush {
        #[source]
        source: KafkaError,
    },
    /// The producer was dropped before it reported the delivery.
    #[error("producer closed before delivery")]
    Closed,
}

/// Where a record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

/// Idempotence (no duplicate from a retried batch, order kept) everywhere but on the
/// embedded broker, unless `[kafka.properties]` says otherwise. After a delivery error whose
/// outcome is unknown, librdkafka's idempotent producer raises its epoch by itself, as Kafka
/// allows; tansu-storage 0.6 looks that epoch up with a query that must return exactly one
/// row, panics on none, and its storage engine dies with it (the broker restarts, and the
/// producer's next batch killed it again). Without idempotence a batch retried after a lost
/// acknowledgement may be written twice: the index keeps the highest version, so search
/// is unaffected. Workers of another process on an eventdeck's embedded broker set
/// `"enable.idempotence" = "false"` themselves.
fn idempotent(cluster: &Cluster) -> bool {
    !cluster.embedded
}

impl EventProducer {
    pub fn new(cluster: &Cluster, config: &ProducerConfig, role: &str) -> anyhow::Result<Self> {
        let mut c = cluster.client_config(role);
        if c.get("enable.idempotence").is_none() {
            c.set("enable.idempotence", idempotent(cluster).to_string());
        }
        c.set("acks", "all")
            .set("linger.ms", config.linger_ms.to_string())
            .set(
                "delivery.timeout.ms",
                config.delivery_timeout_ms.to_string(),
            )
            .set("queue.buffering.max.messages", "200000")
            .set("compression.type", "lz4");
        let producer: BaseProducer<DeliveryReports> = c.build_with_context(DeliveryReports)?;
        Ok(Self {
            inner: Arc::new(Polled::start(producer)?),
        })
    }

    /// Puts a record on the send queue, byte for byte: `None` key or payload is sent as
    /// null (a null key is partitioned by the producer, unlike an empty one), and headers
    /// go out in the given order, repeated names and null values included. Waits
    /// (asynchronously) only while the queue is full.
    pub async fn enqueue(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: &[HeaderRef<'_>],
    ) -> Result<Delivery, ProduceError> {
        self.enqueue_placed(topic, Placement::default(), key, payload, headers)
            .await
    }

    /// [`enqueue`](Self::enqueue) with the partition and the timestamp fixed by the caller
    /// (a republish from the archive keeps a record where and when it was).
    pub async fn enqueue_placed(
        &self,
        topic: &str,
        placement: Placement,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: &[HeaderRef<'_>],
    ) -> Result<Delivery, ProduceError> {
        loop {
            let (reply, delivery) = oneshot::channel();
            let mut record: BaseRecord<'_, [u8], [u8], _> =
                BaseRecord::with_opaque_to(topic, Box::new(reply));
            record.key = key;
            record.payload = payload;
            record.partition = placement.partition;
            record.timestamp = placement.timestamp;
            if !headers.is_empty() {
                record = record.headers(owned_headers(headers));
            }
            match self.inner.producer.send(record) {
                Ok(()) => return Ok(Delivery(delivery)),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((source, _)) => {
                    return Err(ProduceError::Enqueue {
                        topic: topic.to_string(),
                        source,
                    })
                }
            }
        }
    }

    /// [`enqueue`](Self::enqueue) for our own events: a text key (an id), a value, no headers.
    pub async fn enqueue_keyed(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
    ) -> Result<Delivery, ProduceError> {
        self.enqueue(topic, Some(key.as_bytes()), Some(payload), &[])
            .await
    }

    /// Enqueues and waits for the acknowledgement (for the dead-letter topic and the CLI,
    /// where the caller must know the record is safe before going on).
    pub async fn send(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: &[HeaderRef<'_>],
    ) -> Result<Delivered, ProduceError> {
        let delivery = self.enqueue(topic, key, payload, headers).await?;
        resolve(delivery).await
    }

    /// Waits until everything enqueued is acknowledged or `timeout` passes.
    pub fn flush(&self, timeout: Duration) -> Result<(), ProduceError> {
        self.inner
            .producer
            .flush(timeout)
            .map_err(|source| ProduceError::Flush { source })
    }

    pub fn in_flight(&self) -> i32 {
        self.inner.producer.in_flight_count()
    }
}

/// The rdkafka header list for `headers`, in order, repeated names and null values kept.
pub fn owned_headers(headers: &[HeaderRef<'_>]) -> OwnedHeaders {
    let mut h = OwnedHeaders::new_with_capacity(headers.len());
    for (key, value) in headers {
        h = h.insert(Header { key, value: *value });
    }
    h
}

/// Turns a delivery future into where the record landed, or the reason it did not.
pub async fn resolve(delivery: Delivery) -> Result<Delivered, ProduceError> {
    match delivery.0.await {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(source)) => Err(ProduceError::Delivery { source }),
        Err(_) => Err(ProduceError::Closed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::Headers;

    #[test]
    fn headers_keep_order_duplicates_and_nulls() {
        let h = owned_headers(&[
            ("trace", Some(&b"t-1"[..])),
            ("a", Some(&[0xff, 0x00][..])),
            ("a", None),
            ("a", Some(&b""[..])),
        ]);
        let got: Vec<(String, Option<Vec<u8>>)> = h
            .iter()
            .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
            .collect();
        assert_eq!(
            got,
            vec![
                ("trace".to_string(), Some(b"t-1".to_vec())),
                ("a".to_string(), Some(vec![0xff, 0x00])),
                ("a".to_string(), None),
                ("a".to_string(), Some(Vec::new())),
            ]
        );
    }
}
