//! One archived record as one JSON line, and where its file goes. Pure.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::workers::batch::Record;

/// Bytes as text when they are UTF-8 (every event is), else base64 under `<name>_base64`:
/// nothing is lost either way, and a null stays null.
fn bytes_field(out: &mut Map<String, Value>, name: &str, bytes: Option<&[u8]>) {
    match bytes {
        None => {
            out.insert(name.into(), Value::Null);
        }
        Some(b) => match std::str::from_utf8(b) {
            Ok(text) => {
                out.insert(name.into(), Value::String(text.into()));
            }
            Err(_) => {
                out.insert(name.into(), Value::Null);
                out.insert(
                    format!("{name}_base64"),
                    Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
                );
            }
        },
    }
}

/// `{"topic","partition","offset","timestamp","key","headers":[[name, value]…],"value"}`.
pub fn archive_line(record: &Record) -> String {
    let mut out = Map::new();
    out.insert("topic".into(), json!(record.topic));
    out.insert("partition".into(), json!(record.partition));
    out.insert("offset".into(), json!(record.offset));
    out.insert("timestamp".into(), json!(record.timestamp));
    bytes_field(&mut out, "key", record.key.as_deref());
    let headers: Vec<Value> = record
        .headers
        .iter()
        .map(|(name, value)| {
            let mut h = Map::new();
            h.insert("name".into(), json!(name));
            bytes_field(&mut h, "value", value.as_deref());
            Value::Object(h)
        })
        .collect();
    out.insert("headers".into(), Value::Array(headers));
    bytes_field(&mut out, "value", record.payload.as_deref());
    Value::Object(out).to_string()
}

/// Why an archive line cannot be read back.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("archive line: {0}")]
pub struct BadLine(String);

/// The inverse of [`bytes_field`]: text, base64, or null.
fn read_bytes(v: &Map<String, Value>, name: &str) -> Result<Option<Vec<u8>>, BadLine> {
    if let Some(b64) = v.get(&format!("{name}_base64")).and_then(Value::as_str) {
        return base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map(Some)
            .map_err(|e| BadLine(format!("{name}_base64: {e}")));
    }
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_bytes().to_vec())),
        Some(other) => Err(BadLine(format!("{name} is not text: {other}"))),
    }
}

/// Reads a line written by [`archive_line`] back into the record it was.
pub fn parse_line(line: &str) -> Result<Record, BadLine> {
    let v: Map<String, Value> =
        serde_json::from_str(line).map_err(|e| BadLine(format!("not a JSON object: {e}")))?;
    let topic = v
        .get("topic")
        .and_then(Value::as_str)
        .ok_or_else(|| BadLine("no topic".into()))?
        .to_string();
    let number = |name: &str| {
        v.get(name)
            .and_then(Value::as_i64)
            .ok_or_else(|| BadLine(format!("no {name}")))
    };
    let mut headers = Vec::new();
    for h in v
        .get("headers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let h = h
            .as_object()
            .ok_or_else(|| BadLine(format!("a header is not an object: {h}")))?;
        let name = h
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| BadLine("a header without a name".into()))?;
        headers.push((name.to_string(), read_bytes(h, "value")?));
    }
    Ok(Record {
        topic,
        partition: i32::try_from(number("partition")?)
            .map_err(|_| BadLine("partition out of range".into()))?,
        offset: number("offset")?,
        key: read_bytes(&v, "key")?,
        payload: read_bytes(&v, "value")?,
        headers,
        timestamp: v.get("timestamp").and_then(Value::as_i64),
    })
}

/// `<root>/<topic>/<yyyy-mm-dd>/<partition>-<first offset>.ndjson.zst`; the day is the first
/// record's (UTC), or 1970-01-01 without a timestamp. Offsets are zero-padded so that file
/// names sort in log order.
pub fn file_path(root: &Path, first: &Record) -> PathBuf {
    let day = first
        .timestamp
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "1970-01-01".into());
    root.join(&first.topic).join(day).join(format!(
        "{}-{:020}.ndjson.zst",
        first.partition, first.offset
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(payload: Option<&[u8]>, key: Option<&[u8]>) -> Record {
        Record {
            topic: "platform.messages.created".into(),
            partition: 2,
            offset: 1203,
            key: key.map(<[u8]>::to_vec),
            payload: payload.map(<[u8]>::to_vec),
            headers: vec![
                ("event_id".into(), Some(b"e1".to_vec())),
                ("n".into(), None),
            ],
            timestamp: Some(1_796_083_200_123),
        }
    }

    #[test]
    fn a_line_keeps_everything_and_binary_survives_as_base64() {
        let line = archive_line(&record(Some(br#"{"a":1}"#), Some(&[0xff, 0x00])));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["topic"], "platform.messages.created");
        assert_eq!(
            (v["partition"].as_i64(), v["offset"].as_i64()),
            (Some(2), Some(1203))
        );
        assert_eq!(v["timestamp"], 1_796_083_200_123i64);
        assert_eq!(v["value"], r#"{"a":1}"#);
        assert_eq!(v["key"], Value::Null);
        assert_eq!(v["key_base64"], "/wA=");
        assert_eq!(v["headers"][0]["name"], "event_id");
        assert_eq!(v["headers"][0]["value"], "e1");
        assert_eq!(v["headers"][1]["value"], Value::Null);
        assert!(!line.contains('\n'), "one line");
        let tombstone: Value = serde_json::from_str(&archive_line(&record(None, None))).unwrap();
        assert_eq!(tombstone["value"], Value::Null);
        assert!(tombstone.get("value_base64").is_none());
    }

    #[test]
    fn a_line_reads_back_into_the_record_it_was() {
        for r in [
            record(Some(br#"{"a":1}"#), Some(b"ch_a")),
            record(Some(&[0xc3, 0x28]), Some(&[0xff, 0x00])),
            record(None, None),
        ] {
            assert_eq!(parse_line(&archive_line(&r)), Ok(r));
        }
        assert!(parse_line("{\"partition\":1}").is_err());
        assert!(parse_line("not json").is_err());
    }

    #[test]
    fn files_are_named_by_topic_day_partition_and_first_offset() {
        let path = file_path(Path::new("/a"), &record(None, None));
        assert_eq!(
            path,
            Path::new("/a/platform.messages.created/2026-12-01/2-00000000000000001203.ndjson.zst")
        );
    }
}
