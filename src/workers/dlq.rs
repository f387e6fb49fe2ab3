//! The dead-letter topic: the original record, byte for byte, with the reason and its source
//! topic/partition/offset in headers (`dlq.reason`, `dlq.source.topic`, …), the convention of
//! Kafka Connect's DLQ, so kcat/Kafka UI show why a record was set aside.

use futures::future::try_join_all;

use super::batch::Record;
use super::report::{Reporter, WorkerEvent};
use crate::bus::producer::{resolve, EventProducer};

pub const HEADER_REASON: &str = "dlq.reason";
pub const HEADER_TOPIC: &str = "dlq.source.topic";
pub const HEADER_PARTITION: &str = "dlq.source.partition";
pub const HEADER_OFFSET: &str = "dlq.source.offset";
pub const HEADER_WORKER: &str = "dlq.worker";

#[derive(Clone)]
pub struct DeadLetters {
    pub producer: EventProducer,
    pub topic: String,
    pub worker: String,
    pub reporter: Reporter,
}

impl DeadLetters {
    /// Publishes every record with its reason and waits for all acknowledgements.
    pub async fn send_all(&self, dead: &[(&Record, String)]) -> Result<(), String> {
        if dead.is_empty() {
            return Ok(());
        }
        let mut deliveries = Vec::with_capacity(dead.len());
        for (record, reason) in dead {
            let partition = record.partition.to_string();
            let offset = record.offset.to_string();
            let headers = [
                (HEADER_REASON, reason.as_str()),
                (HEADER_TOPIC, record.topic.as_str()),
                (HEADER_PARTITION, partition.as_str()),
                (HEADER_OFFSET, offset.as_str()),
                (HEADER_WORKER, self.worker.as_str()),
            ];
            let key = record.key.as_deref().unwrap_or("");
            let delivery = self
                .producer
                .enqueue(&self.topic, key, &record.payload, &headers)
                .await
                .map_err(|e| format!("dead-letter topic {}: {e}", self.topic))?;
            deliveries.push(resolve(delivery));
        }
        try_join_all(deliveries)
            .await
            .map_err(|e| format!("dead-letter topic {}: {e}", self.topic))?;
        for (record, reason) in dead {
            tracing::warn!(topic = %record.topic, partition = record.partition, offset = record.offset, %reason, "dead-lettered");
            self.reporter.send(WorkerEvent::DeadLettered {
                worker: self.worker.clone(),
                topic: record.topic.clone(),
                partition: record.partition,
                offset: record.offset,
                reason: reason.clone(),
            });
        }
        Ok(())
    }
}
