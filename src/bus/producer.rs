//! The idempotent producer (`acks=all`) every publisher shares. Enqueuing is synchronous and
//! cheap; a delivery is a future the caller may await later, so a hot loop never waits for
//! one record's acknowledgement before sending the next.

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};

use super::Cluster;
use crate::config::ProducerConfig;

#[derive(Clone)]
pub struct EventProducer {
    inner: FutureProducer,
}

/// Where a record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

impl EventProducer {
    pub fn new(cluster: &Cluster, config: &ProducerConfig, role: &str) -> anyhow::Result<Self> {
        let mut c = cluster.client_config(role);
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", config.linger_ms.to_string())
            .set(
                "delivery.timeout.ms",
                config.delivery_timeout_ms.to_string(),
            )
            .set("queue.buffering.max.messages", "200000")
            .set("compression.type", "lz4");
        Ok(Self { inner: c.create()? })
    }

    /// Puts a record on the send queue; waits (asynchronously) only while the queue is full.
    pub async fn enqueue(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        headers: &[(&str, &str)],
    ) -> Result<DeliveryFuture, KafkaError> {
        loop {
            let mut record = FutureRecord::to(topic).key(key).payload(payload);
            if !headers.is_empty() {
                let mut h = OwnedHeaders::new_with_capacity(headers.len());
                for (k, v) in headers {
                    h = h.insert(Header {
                        key: k,
                        value: Some(*v),
                    });
                }
                record = record.headers(h);
            }
            match self.inner.send_result(record) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Enqueues and waits for the acknowledgement (for the dead-letter topic and the CLI,
    /// where the caller must know the record is safe before going on).
    pub async fn send(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        headers: &[(&str, &str)],
    ) -> Result<Delivered, String> {
        let delivery = self
            .enqueue(topic, key, payload, headers)
            .await
            .map_err(|e| e.to_string())?;
        resolve(delivery).await
    }

    /// Waits until everything enqueued is acknowledged or `timeout` passes.
    pub fn flush(&self, timeout: Duration) -> Result<(), String> {
        self.inner.flush(timeout).map_err(|e| e.to_string())
    }

    pub fn in_flight(&self) -> i32 {
        self.inner.in_flight_count()
    }
}

/// Turns a delivery future into where the record landed, or the reason it did not.
pub async fn resolve(delivery: DeliveryFuture) -> Result<Delivered, String> {
    match delivery.await {
        Ok(Ok(d)) => Ok(Delivered {
            partition: d.partition,
            offset: d.offset,
        }),
        Ok(Err((e, _))) => Err(e.to_string()),
        Err(_) => Err("producer closed before delivery".into()),
    }
}
