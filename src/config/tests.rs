//! Loading, env and flag overrides, errors that name the key and the file.

use super::env::typed_like;
use super::*;

fn load_text(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).expect("write");
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Config::load(&path, true, env, &Overrides::default())
}

#[test]
fn shipped_config_toml_is_valid_and_equals_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let c = Config::load(&path, true, [], &Overrides::default()).expect("valid");
    assert_eq!(c, Config::default());
}

#[test]
fn unknown_key_names_the_key_and_the_file() {
    let err = load_text("[indexer]\nbatch_sise = 10\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("batch_sise"), "{err}");
    assert!(err.contains("config.toml"), "{err}");
}

#[test]
fn wrong_type_says_what_was_expected() {
    let err = load_text("[topics]\npartitions = \"three\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("partitions"), "{err}");
    assert!(err.contains("integer") || err.contains("i32"), "{err}");
}

#[test]
fn out_of_range_value_names_the_key() {
    let err = load_text("[topics]\npartitions = 0\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("topics.partitions"), "{err}");
}

#[test]
fn env_overrides_file_with_types() {
    let c = load_text(
        "[topics]\npartitions = 2\n",
        &[
            ("EVENTDECK_TOPICS_PARTITIONS", "6"),
            ("EVENTDECK_SEARCH_URL", "http://127.0.0.1:9200"),
            ("EVENTDECK_INDEXER_BATCH_MAX_EVENTS", "77"),
            ("EVENTDECK_DATA_DIR", "/tmp/x"),
            ("EVENTDECK_MONITOR_GROUPS", "billing, audit"),
        ],
    )
    .expect("valid");
    assert_eq!(c.topics.partitions, 6);
    assert_eq!(c.search.url, "http://127.0.0.1:9200");
    assert_eq!(c.indexer.batch_max_events, 77);
    assert_eq!(c.data_dir, "/tmp/x");
    assert_eq!(c.monitor.groups, vec!["billing", "audit"]);
}

#[test]
fn stall_after_seconds_is_set_and_checked() {
    assert_eq!(Config::default().monitor.stall_after_seconds, 30);
    let c = load_text("", &[("EVENTDECK_MONITOR_STALL_AFTER_SECONDS", "90")]).expect("valid");
    assert_eq!(c.monitor.stall_after_seconds, 90);
    let err = load_text("[monitor]\nstall_after_seconds = 0\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("monitor.stall_after_seconds"), "{err}");
}

#[test]
fn unknown_env_var_is_named() {
    let err = load_text("", &[("EVENTDECK_SEARCH_URLL", "x")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("EVENTDECK_SEARCH_URLL"), "{err}");
}

#[test]
fn the_shutdown_grace_period_is_five_seconds_and_bounded() {
    assert_eq!(
        load_text("", &[])
            .expect("defaults")
            .shutdown_grace_seconds
            .0,
        5
    );
    let c = load_text("shutdown_grace_seconds = 30\n", &[]).expect("valid");
    assert_eq!(c.shutdown_grace_seconds.duration().as_secs(), 30);
    let c = load_text("", &[("EVENTDECK_SHUTDOWN_GRACE_SECONDS", "2")]).expect("valid");
    assert_eq!(c.shutdown_grace_seconds.0, 2);
    let err = load_text("shutdown_grace_seconds = 0\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("shutdown_grace_seconds"), "{err}");
    assert!(err.contains("config.toml"), "{err}");
}

#[test]
fn config_path_and_log_filter_are_not_settings() {
    let c = load_text(
        "",
        &[
            ("EVENTDECK_CONFIG", "/elsewhere/config.toml"),
            ("EVENTDECK_LOG", "debug"),
        ],
    )
    .expect("neither is a setting to reject");
    assert_eq!(c.kafka.brokers, Config::default().kafka.brokers);
}

#[test]
fn bad_env_value_is_named() {
    let err = load_text("", &[("EVENTDECK_TOPICS_PARTITIONS", "many")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("EVENTDECK_TOPICS_PARTITIONS"), "{err}");
}

#[test]
fn kafka_properties_pass_through() {
    let c = load_text(
        "[kafka]\nbrokers = \"k1:9092\"\n[kafka.properties]\n\"security.protocol\" = \"SASL_SSL\"\n",
        &[],
    )
    .expect("valid");
    assert_eq!(
        c.kafka.properties.get("security.protocol"),
        Some("SASL_SSL")
    );
    assert!(!c.uses_embedded_broker());
}

#[test]
fn missing_optional_file_gives_defaults() {
    let c = Config::load(
        Path::new("/nonexistent/eventdeck.toml"),
        false,
        [],
        &Overrides::default(),
    )
    .expect("defaults");
    assert_eq!(c.broker(), Broker::Embedded { port: 9092 });
    assert_eq!(c.search_backend(), Ok(SearchBackend::Local));
}

#[test]
fn a_bad_env_value_keeps_its_text_and_its_cause() {
    let e = typed_like(Some(&toml::Value::Integer(1)), "many").expect_err("not a number");
    assert_eq!(e.to_string(), "expected an integer, got \"many\"");
    assert!(std::error::Error::source(&e).is_some());
    let e = typed_like(Some(&toml::Value::Boolean(true)), "yes").expect_err("not a bool");
    assert_eq!(e.to_string(), "expected true or false, got \"yes\"");
    let e = typed_like(Some(&toml::Value::Table(toml::Table::new())), "x").expect_err("table");
    assert_eq!(e.to_string(), "a table cannot be set from the environment");
    assert_eq!(
        typed_like(Some(&toml::Value::Float(0.5)), " 0.25 ").ok(),
        Some(toml::Value::Float(0.25))
    );
}

#[test]
fn notifier_memory_retention_is_set_and_checked() {
    let c = Config::default();
    assert_eq!(c.notifier.memory_retention_hours, 168);
    assert_eq!(
        c.notifier.memory_retention(),
        std::time::Duration::from_secs(7 * 24 * 3600)
    );
    let c = load_text("", &[("EVENTDECK_NOTIFIER_MEMORY_RETENTION_HOURS", "2")]).expect("valid");
    assert_eq!(c.notifier.memory_retention_hours, 2);
    let err = load_text("[notifier]\nmemory_retention_hours = 0\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("notifier.memory_retention_hours"), "{err}");
}

#[test]
fn a_group_instance_id_is_checked_and_named_by_its_key() {
    let ok = load_text(
        "[kafka]\nbrokers = \"k1:9092\"\ngroup_instance_id = \"worker-3.eu_1\"\n",
        &[],
    )
    .expect("valid");
    assert_eq!(
        ok.kafka.static_membership().expect("valid").as_deref(),
        Some("worker-3.eu_1")
    );
    let from_env = load_text(
        "[kafka]\nbrokers = \"k1:9092\"\n",
        &[("EVENTDECK_KAFKA_GROUP_INSTANCE_ID", "pod-0")],
    )
    .expect("valid");
    assert_eq!(from_env.kafka.group_instance_id, "pod-0");
    let err = |text: &str| load_text(text, &[]).unwrap_err().to_string();
    for (text, key, why) in [
        (
            "[kafka]\nbrokers = \"k1:9092\"\ngroup_instance_id = \"pod 7\"\n",
            "kafka.group_instance_id",
            "249",
        ),
        (
            "[kafka]\ngroup_instance_id = \"pod-7\"\n",
            "kafka.group_instance_id",
            "embedded broker",
        ),
        (
            "[kafka]\nbrokers = \"k1:9092\"\n[kafka.properties]\n\"group.instance.id\" = \"x\"\n",
            "kafka.properties",
            "kafka.group_instance_id",
        ),
    ] {
        let e = err(text);
        assert!(e.contains(key) && e.contains(why), "{text}: {e}");
        assert!(e.contains("config.toml"), "{e}");
    }
}
