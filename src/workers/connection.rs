//! A consumer's own view of its broker connections. librdkafka reports a lost or refused
//! connection to the client's error callback, and only sometimes to the consumer's queue:
//! its "all brokers down" needs every known broker to have failed since one last connected,
//! which sparse connections (a bootstrap broker never retried) can delay for good. A worker
//! that waited for that error could sit "running" through a whole outage (1 run in 5 of the
//! broker-restart test). So the callback notes the trouble here, and the worker's watch asks
//! the cluster itself before it says anything: a benign disconnect (an idle connection
//! closed by the broker) is answered at once and reports nothing.

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
