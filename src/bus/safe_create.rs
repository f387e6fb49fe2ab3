//! Creating rdkafka clients without leaking a secret: rust-rdkafka's error for a property
//! librdkafka refuses (`KafkaError::ClientConfig`) prints the property's value, and
//! librdkafka's own message may quote it too. With a SASL password or a TLS key password
//! that librdkafka does not accept ("not supported in this build"), that text reached the
//! log, `status` and the console (the secrets test found it). Every client is created
//! through [`SafeCreate`], which redacts the value of a secret property in such an error.

use rdkafka::config::{FromClientConfig, FromClientConfigAndContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::ClientConfig;

use crate::config::is_secret_property;

const REDACTED: &str = "[redacted]";

pub trait SafeCreate {
    /// `create`, with a secret value redacted from a configuration error.
    fn build<T: FromClientConfig>(&self) -> KafkaResult<T>;
    /// `create_with_context`, likewise.
    fn build_with_context<C: rdkafka::ClientContext, T: FromClientConfigAndContext<C>>(
        &self,
        context: C,
    ) -> KafkaResult<T>;
}

impl SafeCreate for ClientConfig {
    fn build<T: FromClientConfig>(&self) -> KafkaResult<T> {
        self.create().map_err(redact)
    }

    fn build_with_context<C: rdkafka::ClientContext, T: FromClientConfigAndContext<C>>(
        &self,
        context: C,
    ) -> KafkaResult<T> {
        self.create_with_context(context).map_err(redact)
    }
}

/// The error with a secret property's value replaced, in its fields and in the message.
pub fn redact(e: KafkaError) -> KafkaError {
    match e {
        KafkaError::ClientConfig(code, message, key, value) if is_secret_property(&key) => {
            let message = if value.is_empty() {
                message
            } else {
                message.replace(&value, REDACTED)
            };
            KafkaError::ClientConfig(code, message, key, REDACTED.to_string())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::consumer::BaseConsumer;

    #[test]
    fn a_refused_secret_property_never_shows_its_value() {
        let mut c = ClientConfig::new();
        // Refused by a build without OpenSSL (this one): the error names the property only.
        c.set("ssl.key.password", "hunter2-secret");
        if let Err(e) = c.build::<BaseConsumer>() {
            let e = e.to_string();
            assert!(!e.contains("hunter2-secret"), "{e}");
            assert!(e.contains("ssl.key.password"), "{e}");
        }
        let direct = KafkaError::ClientConfig(
            rdkafka::types::RDKafkaConfRes::RD_KAFKA_CONF_INVALID,
            "Invalid value \"s3cr3t\" for configuration property \"sasl.password\"".into(),
            "sasl.password".into(),
            "s3cr3t".into(),
        );
        let text = redact(direct).to_string();
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("sasl.password"), "{text}");
        let plain = KafkaError::ClientConfig(
            rdkafka::types::RDKafkaConfRes::RD_KAFKA_CONF_INVALID,
            "Invalid value \"lots\" for configuration property \"linger.ms\"".into(),
            "linger.ms".into(),
            "lots".into(),
        );
        assert!(
            redact(plain).to_string().contains("lots"),
            "not a secret: kept"
        );
    }
}
