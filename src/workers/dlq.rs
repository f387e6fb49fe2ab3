//! The dead-letter topic: the original record whole — key bytes (a null key stays null, so a
//! re-drive is partitioned as the original was), value bytes (a null value stays null), every
//! original header in order with repeated names and null values kept — followed by headers
//! saying why and from where it was set aside: `dlq.reason`, `dlq.source.topic`,
//! `dlq.source.partition`, `dlq.source.offset`, `dlq.worker` (the convention of Kafka
//! Connect's DLQ, so kcat/Kafka UI show why). A record dead-lettered twice carries two sets of
//! `dlq.*` headers, the newest last.

use futures::future::try_join_all;

use super::batch::{Record, RecordHeader};
use super::report::{Reporter, WorkerEvent};
use crate::bus::producer::{resolve, EventProducer, HeaderRef, ProduceError};
use crate::ops::WorkerId;

pub const HEADER_REASON: &str = "dlq.reason";
pub const HEADER_TOPIC: &str = "dlq.source.topic";
pub const HEADER_PARTITION: &str = "dlq.source.partition";
pub const HEADER_OFFSET: &str = "dlq.source.offset";
pub const HEADER_WORKER: &str = "dlq.worker";

/// The headers of the dead letter for `record`: its own, in order, then the `dlq.*` ones.
pub fn dead_letter_headers(record: &Record, reason: &str, worker: &str) -> Vec<RecordHeader> {
    let ours = [
        (HEADER_REASON, reason.to_string()),
        (HEADER_TOPIC, record.topic.clone()),
        (HEADER_PARTITION, record.partition.to_string()),
        (HEADER_OFFSET, record.offset.to_string()),
        (HEADER_WORKER, worker.to_string()),
    ];
    let mut headers = Vec::with_capacity(record.headers.len() + ours.len());
    headers.extend(record.headers.iter().cloned());
    headers.extend(
        ours.into_iter()
            .map(|(name, value)| (name.to_string(), Some(value.into_bytes()))),
    );
    headers
}

/// A dead letter that the broker did not take: the batch it belongs to is not committed.
#[derive(Debug, thiserror::Error)]
#[error("dead-letter topic {topic}: {source}")]
pub struct DeadLetterError {
    pub topic: String,
    #[source]
    pub source: ProduceError,
}

/// Where a consumer loop sets aside the records its worker can never handle. Owned by the
/// loop (`consumer::run_worker`), one per worker: `worker` names it in `dlq.worker`.
#[derive(Clone)]
pub struct DeadLetters {
    pub producer: EventProducer,
    pub topic: String,
    pub worker: WorkerId,
    pub reporter: Reporter,
}

impl DeadLetters {
    /// Publishes every record with its reason and waits for all acknowledgements.
    pub async fn send_all(&self, dead: &[(&Record, String)]) -> Result<(), DeadLetterError> {
        if dead.is_empty() {
            return Ok(());
        }
        let mut deliveries = Vec::with_capacity(dead.len());
        for (record, reason) in dead {
            let headers = dead_letter_headers(record, reason, self.worker.as_str());
            let headers: Vec<HeaderRef<'_>> = headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_deref()))
                .collect();
            let delivery = self
                .producer
                .enqueue(
                    &self.topic,
                    record.key.as_deref(),
                    record.payload.as_deref(),
                    &headers,
                )
                .await
                .map_err(|source| self.error(source))?;
            deliveries.push(resolve(delivery));
        }
        try_join_all(deliveries)
            .await
            .map_err(|source| self.error(source))?;
        for (record, reason) in dead {
            tracing::warn!(topic = %record.topic, partition = record.partition, offset = record.offset, %reason, "dead-lettered");
            self.reporter.send(WorkerEvent::DeadLettered {
                worker: self.worker,
                topic: record.topic.clone(),
                partition: record.partition,
                offset: record.offset,
                reason: reason.clone(),
            });
        }
        Ok(())
    }

    fn error(&self, source: ProduceError) -> DeadLetterError {
        DeadLetterError {
            topic: self.topic.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_headers_come_first_in_order_then_ours() {
        let record = Record {
            topic: "platform.messages.created".into(),
            partition: 3,
            offset: 17,
            key: Some(vec![0xff, 0x00, 0x6b]),
            payload: None,
            headers: vec![
                ("trace".into(), Some(b"t-1".to_vec())),
                ("a".into(), Some(b"1".to_vec())),
                ("a".into(), None),
                (HEADER_REASON.into(), Some(b"an earlier failure".to_vec())),
            ],
            timestamp: None,
        };
        let h = dead_letter_headers(&record, "malformed JSON", "indexer");
        let text = |v: &Option<Vec<u8>>| {
            v.as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
        };
        let got: Vec<(&str, Option<String>)> =
            h.iter().map(|(n, v)| (n.as_str(), text(v))).collect();
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            got,
            vec![
                ("trace", s("t-1")),
                ("a", s("1")),
                ("a", None),
                (HEADER_REASON, s("an earlier failure")),
                (HEADER_REASON, s("malformed JSON")),
                (HEADER_TOPIC, s("platform.messages.created")),
                (HEADER_PARTITION, s("3")),
                (HEADER_OFFSET, s("17")),
                (HEADER_WORKER, s("indexer")),
            ]
        );
    }

    #[test]
    fn a_record_without_headers_gets_only_ours() {
        let record = Record {
            topic: "t".into(),
            partition: 0,
            offset: 0,
            key: None,
            payload: Some(Vec::new()),
            headers: Vec::new(),
            timestamp: None,
        };
        let names: Vec<String> = dead_letter_headers(&record, "r", "w")
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            names,
            [
                HEADER_REASON,
                HEADER_TOPIC,
                HEADER_PARTITION,
                HEADER_OFFSET,
                HEADER_WORKER
            ]
        );
    }
}
