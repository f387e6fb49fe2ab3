//! Secrets in the configuration: passwords, API keys, SASL and TLS key material.
//!
//! Invariants:
//! - A [`Secret`] never prints its value: `Debug` and `Display` show `***` (or `""` when it
//!   is empty, which says only that nothing is set). The value is read only through
//!   [`Secret::expose`], at the one place that hands it to a client library.
//! - [`KafkaProperties`] keeps the librdkafka properties whose name marks them as secret
//!   (`sasl.password`, `ssl.key.password`, `sasl.jaas.config`, …) as [`Secret`]s, so that a
//!   `Debug` of the configuration or of a `bus::Cluster` shows the other properties only.
//! - [`redact_userinfo`] is applied to every URL or address eventdeck prints: a password in
//!   `http://user:pass@host` becomes `***`.
//!
//! Serialization is transparent (a secret serializes as its string): the configuration is
//! serialized only to type the `EVENTDECK_*` variables after its defaults, which are empty.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A string that is never printed.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the client library that needs it. Never log or format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_string())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("***")
        }
    }
}

/// Whether a librdkafka property holds a secret: passwords, client secrets, JAAS
/// configurations (which embed a password) and private keys in PEM form.
pub fn is_secret_property(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("password")
        || key.contains("secret")
        || key.ends_with("jaas.config")
        || key == "sasl.oauthbearer.config"
        || key == "ssl.key.pem"
}

/// `[kafka.properties]`: passed to librdkafka as they are, secret ones kept as [`Secret`].
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(from = "BTreeMap<String, String>", into = "BTreeMap<String, String>")]
pub struct KafkaProperties {
    plain: BTreeMap<String, String>,
    secret: BTreeMap<String, Secret>,
}

impl KafkaProperties {
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        if is_secret_property(&key) {
            self.plain.remove(&key);
            self.secret.insert(key, Secret(value));
        } else {
            self.secret.remove(&key);
            self.plain.insert(key, value);
        }
    }

    /// A property that is not secret.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.plain.get(key).map(String::as_str)
    }

    /// A secret property (its value through [`Secret::expose`]).
    pub fn secret(&self, key: &str) -> Option<&Secret> {
        self.secret.get(key)
    }

    /// Every property with its value, secrets exposed: only for building a librdkafka
    /// client configuration.
    pub fn exposed(&self) -> impl Iterator<Item = (&str, &str)> {
        self.plain
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(self.secret.iter().map(|(k, v)| (k.as_str(), v.expose())))
    }

    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.secret.is_empty()
    }
}

impl From<BTreeMap<String, String>> for KafkaProperties {
    fn from(map: BTreeMap<String, String>) -> Self {
        let mut p = Self::default();
        for (k, v) in map {
            p.insert(k, v);
        }
        p
    }
}

impl From<KafkaProperties> for BTreeMap<String, String> {
    fn from(p: KafkaProperties) -> Self {
        p.plain
            .into_iter()
            .chain(p.secret.into_iter().map(|(k, v)| (k, v.0)))
            .collect()
    }
}

impl fmt::Debug for KafkaProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut all: BTreeMap<&str, &dyn fmt::Debug> = BTreeMap::new();
        for (k, v) in &self.plain {
            all.insert(k, v);
        }
        for (k, v) in &self.secret {
            all.insert(k, v);
        }
        f.debug_map().entries(all).finish()
    }
}

/// `scheme://user:password@host/…` with the password replaced by `***`; anything else
/// (no scheme, no userinfo, no password) unchanged. Works on text that does not parse as a
/// URL too, and on comma-separated lists of addresses.
pub fn redact_userinfo(text: &str) -> String {
    if text.contains(',') {
        return text
            .split(',')
            .map(redact_userinfo)
            .collect::<Vec<_>>()
            .join(",");
    }
    let Some(scheme_end) = text.find("://") else {
        return text.to_string();
    };
    let authority_start = scheme_end + 3;
    let rest = &text[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let Some(at) = authority.rfind('@') else {
        return text.to_string();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return text.to_string();
    };
    format!(
        "{}{}:***{}",
        &text[..authority_start],
        &userinfo[..colon],
        &text[authority_start + at..]
    )
}

/// Percent-decoding of a URL's userinfo (`%40` → `@`); invalid escapes stay as they are.
pub(super) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let value = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{:?}", Secret::default()), "\"\"");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn secret_properties_are_kept_apart_and_redacted() {
        let mut p = KafkaProperties::default();
        p.insert("security.protocol", "SASL_SSL");
        p.insert("sasl.password", "hunter2");
        p.insert(
            "sasl.jaas.config",
            "org.apache.kafka.common.security.plain.PlainLoginModule required password=\"pw9\";",
        );
        let debug = format!("{p:?}");
        assert!(debug.contains("SASL_SSL"), "{debug}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("pw9"),
            "{debug}"
        );
        assert_eq!(p.get("sasl.password"), None);
        assert_eq!(
            p.secret("sasl.password").map(Secret::expose),
            Some("hunter2")
        );
        let all: BTreeMap<&str, &str> = p.exposed().collect();
        assert_eq!(all.get("sasl.password"), Some(&"hunter2"));
        assert_eq!(all.len(), 3);
    }

    #[test]
    fn userinfo_passwords_are_redacted() {
        assert_eq!(
            redact_userinfo("http://bob:hunter2@es:9200/x?y=1"),
            "http://bob:***@es:9200/x?y=1"
        );
        assert_eq!(redact_userinfo("http://bob@es:9200"), "http://bob@es:9200");
        assert_eq!(redact_userinfo("http://es:9200/a@b"), "http://es:9200/a@b");
        assert_eq!(redact_userinfo("k1:9092,k2:9092"), "k1:9092,k2:9092");
        assert_eq!(
            redact_userinfo("SASL_SSL://u:p@k1:9092,k2:9092"),
            "SASL_SSL://u:***@k1:9092,k2:9092"
        );
        assert_eq!(redact_userinfo("http://a:b:c@h"), "http://a:***@h");
    }

    #[test]
    fn userinfo_is_percent_decoded() {
        assert_eq!(percent_decode("p%40ss%3Aw"), "p@ss:w");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
