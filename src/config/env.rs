//! `EVENTDECK_<SECTION>_<KEY>` environment variables over the configuration file, typed
//! after the defaults.

use super::{Config, ConfigError};

/// Variables of the `EVENTDECK_` family that are not settings: the configuration file's path
/// (`--config`) and the log filter (`logging`).
const NOT_SETTINGS: [&str; 2] = ["EVENTDECK_CONFIG", "EVENTDECK_LOG"];

/// Applies `EVENTDECK_<SECTION>_<KEY>` (or `EVENTDECK_<KEY>` for top-level keys) onto the
/// table, typed after the default configuration so that `EVENTDECK_TOPICS_PARTITIONS=6` is a
/// number. Unknown names are errors, like unknown keys in the file.
pub(super) fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let defaults = toml::Table::try_from(Config::default()).map_err(|e| ConfigError::Env {
        var: "EVENTDECK_*".into(),
        message: e.to_string(),
    })?;
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("EVENTDECK_") && !NOT_SETTINGS.contains(&k.as_str()))
        .collect();
    vars.sort();
    for (var, raw) in vars {
        let name = var["EVENTDECK_".len()..].to_lowercase();
        let (section, key) = locate(&defaults, &name).ok_or_else(|| ConfigError::Env {
            var: var.clone(),
            message: "no such setting (see config.toml for the keys)".into(),
        })?;
        let template = match &section {
            Some(s) => defaults.get(s).and_then(|t| t.get(&key)),
            None => defaults.get(&key),
        };
        let value = typed_like(template, &raw).map_err(|e| ConfigError::Env {
            var: var.clone(),
            message: e.to_string(),
        })?;
        let target = match section {
            Some(s) => table
                .entry(s)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .ok_or_else(|| ConfigError::Env {
                    var: var.clone(),
                    message: "the section in the file is not a table".into(),
                })?,
            None => &mut *table,
        };
        target.insert(key, value);
    }
    Ok(())
}

fn locate(defaults: &toml::Table, name: &str) -> Option<(Option<String>, String)> {
    if defaults.get(name).is_some_and(|v| !v.is_table()) {
        return Some((None, name.to_string()));
    }
    for (section, v) in defaults {
        if let (Some(t), Some(rest)) = (v.as_table(), name.strip_prefix(&format!("{section}_"))) {
            if t.contains_key(rest) {
                return Some((Some(section.clone()), rest.to_string()));
            }
        }
    }
    None
}

/// Why an `EVENTDECK_*` value does not fit the type of its setting. The value is quoted:
/// only settings of string type hold secrets, and a string never fails to convert.
#[derive(Debug, thiserror::Error)]
pub(super) enum EnvValueError {
    #[error("expected an integer, got {raw:?}")]
    Integer {
        raw: String,
        #[source]
        source: std::num::ParseIntError,
    },
    #[error("expected a number, got {raw:?}")]
    Float {
        raw: String,
        #[source]
        source: std::num::ParseFloatError,
    },
    #[error("expected true or false, got {raw:?}")]
    Boolean {
        raw: String,
        #[source]
        source: std::str::ParseBoolError,
    },
    #[error("a table cannot be set from the environment")]
    Table,
}

pub(super) fn typed_like(
    template: Option<&toml::Value>,
    raw: &str,
) -> Result<toml::Value, EnvValueError> {
    Ok(match template {
        Some(toml::Value::Integer(_)) => toml::Value::Integer(raw.trim().parse().map_err(
            |source| EnvValueError::Integer {
                raw: raw.to_string(),
                source,
            },
        )?),
        Some(toml::Value::Float(_)) => {
            toml::Value::Float(raw.trim().parse().map_err(|source| EnvValueError::Float {
                raw: raw.to_string(),
                source,
            })?)
        }
        Some(toml::Value::Boolean(_)) => toml::Value::Boolean(raw.trim().parse().map_err(
            |source| EnvValueError::Boolean {
                raw: raw.to_string(),
                source,
            },
        )?),
        // Lists come as comma-separated words: EVENTDECK_MONITOR_GROUPS=billing,audit.
        Some(toml::Value::Array(_)) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .map(|w| toml::Value::String(w.to_string()))
                .collect(),
        ),
        Some(toml::Value::Table(_)) => return Err(EnvValueError::Table),
        _ => toml::Value::String(raw.to_string()),
    })
}
