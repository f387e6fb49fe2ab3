//! Each topic's retention and cleanup policy, as the broker describes them
//! (DescribeConfigs): what the topics view shows next to the watermarks, as Kafka UI and
//! AKHQ do. Read in the background once a minute (configurations rarely change, and some
//! brokers answer slowly or not at all); a broker that cannot describe them leaves the
//! columns empty ("–"), never wrong.

use crate::bus::safe_create::SafeCreate;
use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, OwnedResourceSpecifier, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use serde::Serialize;

use crate::bus::Cluster;

/// How long one DescribeConfigs may take before the columns stay as they were.
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct TopicConfig {
    /// `retention.ms`; -1: kept forever.
    pub retention_ms: Option<i64>,
    /// `retention.bytes` per partition; -1: no size limit.
    pub retention_bytes: Option<i64>,
    /// `cleanup.policy`: delete, compact, or both.
    pub cleanup_policy: Option<String>,
}

impl TopicConfig {
    /// Parses the entries as the broker gave them (name → value). Pure.
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Self {
        let mut c = TopicConfig::default();
        for (name, value) in entries {
            let Some(value) = value else { continue };
            match name {
                "retention.ms" => c.retention_ms = value.trim().parse().ok(),
                "retention.bytes" => c.retention_bytes = value.trim().parse().ok(),
                "cleanup.policy" => c.cleanup_policy = Some(value.trim().to_string()),
                _ => {}
            }
        }
        c
    }

    /// "7 d", "12 h", "forever"; "–" when not described.
    pub fn retention_label(&self) -> String {
        match self.retention_ms {
            None => "–".into(),
            Some(ms) if ms < 0 => "forever".into(),
            Some(ms) => {
                let s = ms / 1000;
                match s {
                    s if s % 86_400 == 0 && s > 0 => format!("{} d", s / 86_400),
                    s if s % 3_600 == 0 && s > 0 => format!("{} h", s / 3_600),
                    s if s % 60 == 0 && s > 0 => format!("{} min", s / 60),
                    s => format!("{s} s"),
                }
            }
        }
    }
}

/// Why the configurations could not be read this time.
#[derive(Debug, thiserror::Error)]
pub enum DescribeError {
    #[error("describe configs: no answer within {0:?}")]
    NoAnswer(Duration),
    #[error("describe configs: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
}

/// The admin client the configurations are read with: made once, kept by the sampler.
pub fn admin(cluster: &Cluster) -> Result<AdminClient<DefaultClientContext>, DescribeError> {
    Ok(cluster.client_config("admin").build()?)
}

/// The configurations of `topics`; the topics the broker would not describe are left out.
pub async fn describe(
    admin: &AdminClient<DefaultClientContext>,
    topics: &[String],
) -> Result<BTreeMap<String, TopicConfig>, DescribeError> {
    if topics.is_empty() {
        return Ok(BTreeMap::new());
    }
    let specifiers: Vec<ResourceSpecifier> = topics
        .iter()
        .map(|t| ResourceSpecifier::Topic(t.as_str()))
        .collect();
    let options = AdminOptions::new().request_timeout(Some(TIMEOUT));
    let answer = tokio::time::timeout(TIMEOUT * 2, admin.describe_configs(&specifiers, &options))
        .await
        .map_err(|_| DescribeError::NoAnswer(TIMEOUT * 2))??;
    Ok(answer
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|resource| match &resource.specifier {
            OwnedResourceSpecifier::Topic(name) => Some((
                name.clone(),
                TopicConfig::from_entries(
                    resource
                        .entries
                        .iter()
                        .map(|e| (e.name.as_str(), e.value.as_deref())),
                ),
            )),
            _ => None,
        })
        // An answer without any of them (the embedded broker's) describes nothing.
        .filter(|(_, config)| *config != TopicConfig::default())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_labels() {
        let c = TopicConfig::from_entries([
            ("retention.ms", Some("604800000")),
            ("cleanup.policy", Some("delete")),
            ("retention.bytes", Some("-1")),
            ("segment.ms", Some("x")),
            ("min.insync.replicas", None),
        ]);
        assert_eq!(c.retention_ms, Some(604_800_000));
        assert_eq!(c.retention_bytes, Some(-1));
        assert_eq!(c.cleanup_policy.as_deref(), Some("delete"));
        assert_eq!(c.retention_label(), "7 d");
        let label = |ms| {
            TopicConfig {
                retention_ms: ms,
                ..Default::default()
            }
            .retention_label()
        };
        assert_eq!(label(Some(-1)), "forever");
        assert_eq!(label(Some(43_200_000)), "12 h");
        assert_eq!(label(Some(90_000)), "90 s");
        assert_eq!(label(Some(600_000)), "10 min");
        assert_eq!(label(None), "–");
        assert_eq!(
            TopicConfig::from_entries([("retention.ms", Some("soon"))]).retention_ms,
            None
        );
    }
}
