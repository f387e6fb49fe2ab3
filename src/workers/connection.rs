//! A consumer's own view of its broker connections. librdkafka reports a lost or refused
//! connection to the client's error callback, and only sometimes to the consumer's queue:
//! its "all brokers down" needs every known broker to have failed since one last connected,
//! which sparse connections (a bootstrap broker never retried) can delay for good. A worker
//! that waited for that error could sit "running" through a whole outage (1 run in 5 of the
//! broker-restart test). So the callback notes the trouble here, and the worker's watch asks
//! the cluster itself before it says anything: a benign disconnect (an idle connection
//! closed by the broker) is answered at once and reports nothing.

use std::future::Future;
use std::sync::Mutex;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// The latest connection error noted since the watch last looked.
#[derive(Debug, Default)]
pub struct ConnectionTrouble(Mutex<Option<String>>);

impl ConnectionTrouble {
    /// Notes `error` if it is about reaching the cluster; other errors are not ours to note.
    pub fn note(&self, error: &KafkaError, reason: &str) {
        if error.rdkafka_error_code().is_some_and(is_connection_error) {
            *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(describe(error, reason));
        }
    }

    /// The latest noted trouble, forgetting it.
    pub fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// What the worker's watch concludes about its connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Unchanged,
    /// Consumer errors were reported and the cluster answers again: running, even with
    /// nothing new to consume (an idle worker has no record to prove it).
    Running,
    /// A connection failed, no consumer error said so, and the cluster does not answer.
    Unreachable(String),
}

/// Decides from the consumer errors reported so far (`recv_errors`) and the trouble the
/// error callback noted since the last look; `answers` asks the cluster, and is called only
/// when one of the two says there is something to find out.
pub async fn verdict<F>(
    recv_errors: u32,
    trouble: Option<String>,
    answers: impl FnOnce() -> F,
) -> Verdict
where
    F: Future<Output = bool>,
{
    if recv_errors > 0 {
        return if answers().await {
            Verdict::Running
        } else {
            Verdict::Unchanged
        };
    }
    match trouble {
        Some(why) if !answers().await => Verdict::Unreachable(why),
        _ => Verdict::Unchanged,
    }
}

/// The errors that say a broker cannot be reached (refused, reset, unresolvable, all down).
pub fn is_connection_error(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::Resolve
            | RDKafkaErrorCode::NetworkException
    )
}

/// What `status` shows: librdkafka's own reason names the broker and the cause.
fn describe(error: &KafkaError, reason: &str) -> String {
    if reason.is_empty() {
        format!("cannot reach the cluster: {error}")
    } else {
        format!("cannot reach the cluster: {reason}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::cell::Cell;

    /// `verdict` with a cluster that answers or not, and how many times it was asked.
    async fn judged(recv_errors: u32, trouble: Option<&str>, cluster_up: bool) -> (Verdict, u32) {
        let asked = Cell::new(0);
        let answers = || {
            asked.set(asked.get() + 1);
            std::future::ready(cluster_up)
        };
        let v = verdict(recv_errors, trouble.map(str::to_string), answers).await;
        (v, asked.get())
    }

    #[tokio::test]
    async fn nothing_noted_and_no_errors_asks_nothing() {
        assert_eq!(judged(0, None, false).await, (Verdict::Unchanged, 0));
    }

    #[tokio::test]
    async fn noted_trouble_is_reported_only_when_the_cluster_does_not_answer() {
        assert_eq!(
            judged(0, Some("refused"), false).await,
            (Verdict::Unreachable("refused".into()), 1)
        );
        // A benign disconnect (an idle connection closed): the cluster answers, no report.
        assert_eq!(
            judged(0, Some("reset"), true).await,
            (Verdict::Unchanged, 1)
        );
    }

    #[tokio::test]
    async fn after_errors_an_answer_means_running_and_silence_changes_nothing() {
        assert_eq!(judged(3, None, true).await, (Verdict::Running, 1));
        assert_eq!(
            judged(3, Some("refused"), false).await,
            (Verdict::Unchanged, 1)
        );
    }

    #[test]
    fn refused_and_lost_connections_are_noted_and_taken_once() {
        let trouble = ConnectionTrouble::default();
        trouble.note(
            &KafkaError::Global(RDKafkaErrorCode::BrokerTransportFailure),
            "127.0.0.1:9092/111: Connect to ipv4#127.0.0.1:9092 failed: Connection refused",
        );
        assert_eq!(
            trouble.take().as_deref(),
            Some(
                "cannot reach the cluster: 127.0.0.1:9092/111: Connect to ipv4#127.0.0.1:9092 \
                 failed: Connection refused"
            )
        );
        assert_eq!(trouble.take(), None);
    }

    #[test]
    fn other_errors_are_not_connection_trouble() {
        let trouble = ConnectionTrouble::default();
        trouble.note(
            &KafkaError::Global(RDKafkaErrorCode::UnknownTopicOrPartition),
            "unknown topic",
        );
        trouble.note(&KafkaError::Canceled, "");
        assert_eq!(trouble.take(), None);
        assert!(is_connection_error(RDKafkaErrorCode::AllBrokersDown));
        assert!(!is_connection_error(RDKafkaErrorCode::RebalanceInProgress));
    }

    #[test]
    fn the_latest_trouble_wins_and_an_empty_reason_falls_back_to_the_error() {
        let trouble = ConnectionTrouble::default();
        trouble.note(&KafkaError::Global(RDKafkaErrorCode::Resolve), "first");
        trouble.note(&KafkaError::Global(RDKafkaErrorCode::AllBrokersDown), "");
        let noted = trouble.take().unwrap_or_default();
        assert!(
            noted.starts_with("cannot reach the cluster: ") && noted.contains("AllBrokersDown"),
            "{noted}"
        );
    }
}
