//! The configuration as types: which broker ([`Broker`]) and which search backend
//! ([`SearchBackend`]) the strings of `config.toml` select.
//!
//! Invariants:
//! - [`super::Config::validate`] resolves both, so a loaded configuration always resolves:
//!   the call sites match on the enums instead of testing strings for emptiness.
//! - A resolved Elasticsearch URL has no userinfo: `http://user:pass@host` becomes the URL
//!   `http://host` plus [`ElasticAuth::Basic`], so no client error, status line or log that
//!   shows the URL can show the password. Explicit `search.username` / `search.api_key` win
//!   over userinfo in the URL; an API key wins over basic auth.
//! - Every secret is a [`Secret`]; `describe()` and `Debug` never show one.

use super::secret::{percent_decode, redact_userinfo, KafkaProperties, Secret};
use super::{Config, KafkaConfig, SearchAnalyzer, SearchConfig};

/// A setting that does not resolve, by key; the caller adds where it came from.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{key}`: {message}")]
pub struct InvalidSetting {
    pub key: &'static str,
    pub message: String,
}

/// Where the Kafka brokers are. `Debug` by hand: the bootstrap list may carry userinfo.
#[derive(Clone, PartialEq)]
pub enum Broker {
    /// The in-process broker on 127.0.0.1 (`kafka.brokers` empty); port 0 picks a free one.
    Embedded { port: u16 },
    /// A cluster: its bootstrap servers and the librdkafka properties (security, SASL, TLS).
    Cluster {
        bootstrap: String,
        properties: KafkaProperties,
    },
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Broker::Embedded { port } => f.debug_struct("Embedded").field("port", port).finish(),
            Broker::Cluster {
                bootstrap,
                properties,
            } => f
                .debug_struct("Cluster")
                .field("bootstrap", &redact_userinfo(bootstrap))
                .field("properties", properties)
                .finish(),
        }
    }
}

impl Broker {
    pub fn is_embedded(&self) -> bool {
        matches!(self, Broker::Embedded { .. })
    }

    /// "embedded broker on port 9092" or "kafka k1:9092 (SASL_SSL)": never a secret.
    pub fn describe(&self) -> String {
        match self {
            Broker::Embedded { port } => format!("embedded broker on port {port}"),
            Broker::Cluster {
                bootstrap,
                properties,
            } => match properties.get("security.protocol") {
                Some(p) => format!("kafka {} ({p})", redact_userinfo(bootstrap)),
                None => format!("kafka {}", redact_userinfo(bootstrap)),
            },
        }
    }
}

/// How eventdeck authenticates to Elasticsearch / OpenSearch.
#[derive(Debug, Clone, PartialEq)]
pub enum ElasticAuth {
    None,
    Basic {
        username: String,
        password: Secret,
    },
    /// The base64 `id:key` form.
    ApiKey(Secret),
}

/// Where messages are indexed and searched.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchBackend {
    /// tantivy in the data directory (`search.url` empty).
    Local,
    Elastic {
        /// Without userinfo (see the module invariants).
        url: url::Url,
        index: String,
        auth: ElasticAuth,
        analyzer: SearchAnalyzer,
    },
}

impl SearchBackend {
    pub fn is_local(&self) -> bool {
        matches!(self, SearchBackend::Local)
    }

    /// "local index" or "elastic http://es:9200/messages (basic auth as bob)".
    pub fn describe(&self) -> String {
        match self {
            SearchBackend::Local => "local index".into(),
            SearchBackend::Elastic {
                url, index, auth, ..
            } => {
                let base = redact_userinfo(url.as_str().trim_end_matches('/'));
                let how = match auth {
                    ElasticAuth::None => String::new(),
                    ElasticAuth::Basic { username, .. } => format!(" (basic auth as {username})"),
                    ElasticAuth::ApiKey(_) => " (API key)".into(),
                };
                format!("elastic {base}/{index}{how}")
            }
        }
    }
}

impl KafkaConfig {
    /// `group_instance_id`, checked: `None` for dynamic membership. Kafka's own rules (at
    /// most 249 of `[A-Za-z0-9._-]`), plus two of ours: not on the embedded broker, whose
    /// group coordinator (tansu 0.6) revokes and reassigns a static member's partitions every
    /// session timeout; and not in `[kafka.properties]`, where it would reach every client,
    /// the tail's and the re-drive's too.
    pub fn static_membership(&self) -> Result<Option<String>, InvalidSetting> {
        let bad = |message: &str| InvalidSetting {
            key: "kafka.group_instance_id",
            message: message.to_string(),
        };
        if self.properties.get("group.instance.id").is_some() {
            return Err(InvalidSetting {
                key: "kafka.properties",
                message: "\"group.instance.id\" would reach every client; set \
                          `kafka.group_instance_id` instead (the workers' consumers only)"
                    .into(),
            });
        }
        let id = self.group_instance_id.trim();
        if id.is_empty() {
            return Ok(None);
        }
        if id.len() > 249
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(bad(
                "expected at most 249 of the characters A-Z a-z 0-9 . _ -",
            ));
        }
        if self.broker().is_embedded() {
            return Err(bad(
                "the embedded broker does not support static membership; set it only with \
                 `kafka.brokers`",
            ));
        }
        Ok(Some(id.to_string()))
    }

    pub fn broker(&self) -> Broker {
        let bootstrap = self.brokers.trim();
        if bootstrap.is_empty() {
            Broker::Embedded {
                port: self.embedded_port,
            }
        } else {
            Broker::Cluster {
                bootstrap: bootstrap.to_string(),
                properties: self.properties.clone(),
            }
        }
    }
}

impl SearchConfig {
    /// The backend `url` and the credentials select. Errors never quote the URL (it may
    /// hold a password) or a credential.
    pub fn backend(&self) -> Result<SearchBackend, InvalidSetting> {
        let raw = self.url.trim();
        if raw.is_empty() {
            return Ok(SearchBackend::Local);
        }
        let bad_url = |message: String| InvalidSetting {
            key: "search.url",
            message,
        };
        let mut url = url::Url::parse(raw)
            .map_err(|e| bad_url(format!("expected http(s)://host:port ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad_url("expected an http:// or https:// URL".into()));
        }
        let url_user = percent_decode(url.username());
        let url_password = url.password().map(percent_decode).unwrap_or_default();
        // Cannot fail for an http(s) URL with a host, which `parse` guaranteed above.
        if url.set_password(None).is_err() || url.set_username("").is_err() {
            return Err(bad_url("expected http(s)://host:port".into()));
        }
        let auth = if !self.api_key.is_empty() {
            ElasticAuth::ApiKey(self.api_key.clone())
        } else if !self.username.is_empty() {
            ElasticAuth::Basic {
                username: self.username.clone(),
                password: self.password.clone(),
            }
        } else if !self.password.is_empty() {
            return Err(InvalidSetting {
                key: "search.password",
                message: "set without search.username".into(),
            });
        } else if !url_user.is_empty() {
            ElasticAuth::Basic {
                username: url_user,
                password: Secret::new(url_password),
            }
        } else {
            ElasticAuth::None
        };
        Ok(SearchBackend::Elastic {
            url,
            index: self.index.clone(),
            auth,
            analyzer: self.analyzer,
        })
    }
}

impl Config {
    /// The broker `kafka.brokers` selects.
    pub fn broker(&self) -> Broker {
        self.kafka.broker()
    }

    /// The search backend `search.url` selects; always `Ok` for a validated configuration.
    pub fn search_backend(&self) -> Result<SearchBackend, InvalidSetting> {
        self.search.backend()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ConfigError, Overrides};
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).expect("write");
        Config::load(&path, true, [], &Overrides::default())
    }

    const SECRETS: [&str; 4] = ["hunter2", "pw%40x", "pw@x", "c2VjcmV0a2V5"];

    fn assert_no_secret(text: &str) {
        for s in SECRETS {
            assert!(!text.contains(s), "{s} in {text}");
        }
    }

    #[test]
    fn the_default_is_the_embedded_broker_and_the_local_index() {
        let c = load("").expect("valid");
        assert_eq!(c.broker(), Broker::Embedded { port: 9092 });
        assert_eq!(c.search_backend(), Ok(SearchBackend::Local));
        assert!(c.broker().is_embedded() && c.search_backend().is_ok_and(|b| b.is_local()));
    }

    #[test]
    fn a_cluster_resolves_with_its_properties() {
        let c = load(
            "[kafka]\nbrokers = \" k1:9092,k2:9092 \"\n[kafka.properties]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.password\" = \"hunter2\"\n",
        )
        .expect("valid");
        let Broker::Cluster {
            bootstrap,
            properties,
        } = c.broker()
        else {
            panic!("a cluster expected");
        };
        assert_eq!(bootstrap, "k1:9092,k2:9092");
        assert_eq!(properties.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(
            properties.secret("sasl.password").map(Secret::expose),
            Some("hunter2")
        );
        assert_eq!(c.broker().describe(), "kafka k1:9092,k2:9092 (SASL_SSL)");
    }

    #[test]
    fn elastic_with_basic_auth_from_the_keys() {
        let c = load(
            "[search]\nurl = \"https://es.example:9200\"\nusername = \"bob\"\npassword = \"hunter2\"\n",
        )
        .expect("valid");
        let backend = c.search_backend().expect("resolves");
        let SearchBackend::Elastic {
            url, index, auth, ..
        } = &backend
        else {
            panic!("elastic expected");
        };
        assert_eq!(url.as_str(), "https://es.example:9200/");
        assert_eq!(index, "messages");
        assert_eq!(
            auth,
            &ElasticAuth::Basic {
                username: "bob".into(),
                password: Secret::new("hunter2")
            }
        );
        assert_eq!(
            backend.describe(),
            "elastic https://es.example:9200/messages (basic auth as bob)"
        );
        assert_no_secret(&format!("{backend:?} {c:?}"));
    }

    #[test]
    fn elastic_with_an_api_key_which_wins_over_basic_auth() {
        let c = load(
            "[search]\nurl = \"http://es:9200\"\nusername = \"bob\"\npassword = \"hunter2\"\napi_key = \"c2VjcmV0a2V5\"\n",
        )
        .expect("valid");
        let backend = c.search_backend().expect("resolves");
        assert!(matches!(
            &backend,
            SearchBackend::Elastic { auth: ElasticAuth::ApiKey(k), .. } if k.expose() == "c2VjcmV0a2V5"
        ));
        assert!(backend.describe().ends_with("(API key)"));
        assert_no_secret(&format!("{backend:?} {} {c:?}", backend.describe()));
    }

    #[test]
    fn userinfo_in_the_url_becomes_basic_auth_and_leaves_the_url() {
        let c = load("[search]\nurl = \"http://bob:pw%40x@es:9200/\"\n").expect("valid");
        let backend = c.search_backend().expect("resolves");
        let SearchBackend::Elastic { url, auth, .. } = &backend else {
            panic!("elastic expected");
        };
        assert_eq!(url.as_str(), "http://es:9200/");
        assert_eq!(
            auth,
            &ElasticAuth::Basic {
                username: "bob".into(),
                password: Secret::new("pw@x")
            }
        );
        assert_no_secret(&format!("{backend:?} {} {c:?}", backend.describe()));
    }

    #[test]
    fn a_password_without_a_user_is_an_error_that_names_the_key_only() {
        let err = load("[search]\nurl = \"http://es:9200\"\npassword = \"hunter2\"\n")
            .expect_err("invalid")
            .to_string();
        assert!(err.contains("search.password"), "{err}");
        assert!(err.contains("config.toml"), "{err}");
        assert_no_secret(&err);
    }

    #[test]
    fn errors_about_the_url_do_not_quote_it() {
        for url in ["ftp://bob:hunter2@es:21", "http://bob:hunter2@:9200"] {
            let err = load(&format!("[search]\nurl = \"{url}\"\n"))
                .expect_err("invalid")
                .to_string();
            assert!(err.contains("search.url"), "{err}");
            assert_no_secret(&err);
        }
    }

    #[test]
    fn a_syntax_error_does_not_echo_the_line() {
        let err = load("[search]\npassword = \"hunter2\n")
            .expect_err("invalid")
            .to_string();
        assert!(
            err.contains("config.toml") && err.contains("line 2"),
            "{err}"
        );
        assert_no_secret(&err);
    }

    #[test]
    fn cluster_descriptions_and_debug_hold_no_secret() {
        let mut c = Config::default();
        c.kafka.brokers = "SASL_SSL://u:hunter2@k1:9092".into();
        c.kafka.properties.insert("sasl.password", "hunter2");
        c.kafka.properties.insert("ssl.key.password", "pw@x");
        let cluster = crate::bus::Cluster::from_config(&c, c.kafka.brokers.clone());
        assert_no_secret(&cluster.describe());
        assert_no_secret(&format!("{cluster:?}"));
        assert_no_secret(&c.broker().describe());
        assert_no_secret(&format!("{:?} {c:?}", c.broker()));
        // …while librdkafka still gets them.
        let rd = cluster.client_config("t");
        assert_eq!(rd.get("sasl.password"), Some("hunter2"));
    }

    #[test]
    fn overrides_debug_redacts_the_url() {
        let o = Overrides {
            search_url: Some("http://bob:hunter2@es:9200".into()),
            ..Overrides::default()
        };
        let text = format!("{o:?}");
        assert!(text.contains("bob:***@es"), "{text}");
        assert_no_secret(&text);
    }
}
