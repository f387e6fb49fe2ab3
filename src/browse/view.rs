//! A record made safe to show in a terminal. Values are whatever producers wrote: text that
//! is not UTF-8, control characters that would move the cursor or ring the bell, bidi
//! controls that reorder a line (the "Trojan Source" characters), megabytes in one value.
//! Everything shown goes through [`safe_text`], so no byte of a record reaches the terminal
//! as a control, and only a bounded prefix of a large value is ever looked at per line. Pure.

use serde_json::Value;

use crate::workers::batch::Record;
use crate::workers::dlq::HEADER_REASON;

/// How much of a value the summary and the filter look at.
pub const SUMMARY_SCAN_BYTES: usize = 4096;
/// How much of a value the detail shows.
pub const DETAIL_MAX_BYTES: usize = 64 * 1024;

/// Whether `c` could disturb the screen: C0/C1 controls and DEL, the bidi embedding,
/// override and isolate controls, and the byte-order mark.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061C}' | '\u{200E}' | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}')
}

/// `bytes` as one line of at most `max_chars` characters: UTF-8 as is, except newlines and
/// tabs as `\n` `\t`, other unsafe characters as `\u{…}`, and bytes that are not UTF-8 as
/// `\xNN`. Longer text ends with `…`.
pub fn safe_text(bytes: &[u8], max_chars: usize) -> String {
    let mut out = String::new();
    // Characters shown so far; an escape counts as its length.
    let mut shown = 0usize;
    for chunk in bytes.utf8_chunks() {
        let escaped_bytes = chunk.invalid().iter().map(|b| format!("\\x{b:02x}"));
        let pieces = chunk
            .valid()
            .chars()
            .map(|c| match c {
                '\n' => "\\n".to_string(),
                '\t' => "\\t".to_string(),
                '\r' => "\\r".to_string(),
                c if is_unsafe(c) => format!("\\u{{{:x}}}", c as u32),
                c => c.to_string(),
            })
            .chain(escaped_bytes);
        for piece in pieces {
            if shown >= max_chars {
                // Something is left out: say so, and stop walking the bytes.
                out.push('…');
                return out;
            }
            shown += piece.chars().count();
            out.push_str(&piece);
        }
    }
    out
}

/// A record as the tail shows it: the record, and what is worked out once on arrival.
#[derive(Debug, Clone, PartialEq)]
pub struct TailRow {
    pub record: Record,
    /// `message.created`, `notification.sent`, … when the value is an event envelope.
    pub event_type: Option<String>,
    /// One line: the event's gist, or the value's first characters.
    pub summary: String,
    /// The key, shown safely ("∅" for a null key).
    pub key: String,
    /// The message the event is about (`payload.message_id`): what `f` follows.
    pub message_id: Option<String>,
    /// Lower case key, event type, dead-letter reason and source, value prefix: what the
    /// `/` filter searches.
    haystack: String,
}

impl TailRow {
    pub fn new(record: Record) -> TailRow {
        let scanned = record
            .payload
            .as_deref()
            .map(|v| &v[..v.len().min(SUMMARY_SCAN_BYTES)]);
        // Parse only values that fit the scan: a summary never costs a 1 MB parse.
        let parsed: Option<Value> = record
            .payload
            .as_deref()
            .filter(|v| v.len() <= SUMMARY_SCAN_BYTES)
            .and_then(|v| serde_json::from_slice(v).ok());
        let event_type = parsed
            .as_ref()
            .and_then(|v| v.get("event_type"))
            .and_then(Value::as_str)
            .map(|t| safe_text(t.as_bytes(), 40));
        let summary = summarize(&record, parsed.as_ref(), scanned);
        let message_id = parsed
            .as_ref()
            .and_then(|v| v.pointer("/payload/message_id"))
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty() && id.len() <= 200)
            .map(|id| safe_text(id.as_bytes(), 200));
        let key = match &record.key {
            None => "∅".to_string(),
            Some(k) => safe_text(k, 40),
        };
        let mut haystack = format!(
            "{key}\u{0}{}\u{0}",
            event_type.as_deref().unwrap_or_default()
        );
        // A dead letter is found by why it failed and where it came from, too.
        for (name, value) in &record.headers {
            if name == HEADER_REASON || name == crate::workers::dlq::HEADER_TOPIC {
                if let Some(v) = value {
                    haystack.push_str(&String::from_utf8_lossy(&v[..v.len().min(512)]));
                    haystack.push('\u{0}');
                }
            }
        }
        if let Some(v) = scanned {
            haystack.push_str(&String::from_utf8_lossy(v));
        }
        TailRow {
            record,
            event_type,
            summary,
            key,
            message_id,
            haystack: haystack.to_lowercase(),
        }
    }

    /// Whether the row matches a filter typed after `/`: every word (case-insensitive) in
    /// the key, the event type, a dead letter's reason or source topic, or the value (its
    /// first [`SUMMARY_SCAN_BYTES`]).
    pub fn matches(&self, filter: &str) -> bool {
        filter
            .split_whitespace()
            .all(|word| self.haystack.contains(&word.to_lowercase()))
    }
}

fn text_of<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("?")
}

/// The gist of a record: the event's who/where/what for the platform's events, the dead
/// letter's reason, else the value's first characters.
fn summarize(record: &Record, parsed: Option<&Value>, scanned: Option<&[u8]>) -> String {
    const WIDTH: usize = 200;
    let shown = |s: &str| safe_text(s.as_bytes(), WIDTH);
    let reason = record
        .headers
        .iter()
        .find(|(name, _)| name == HEADER_REASON)
        .and_then(|(_, v)| v.as_deref());
    let gist = parsed.and_then(|v| {
        let kind = v.get("event_type")?.as_str()?;
        Some(match kind {
            // What people read first; the id (for `trace`) last.
            "message.created" | "message.updated" => format!(
                "#{} @{}: {} · {}",
                text_of(v, "/payload/channel_id"),
                v.pointer("/payload/author_id")
                    .or_else(|| v.pointer("/payload/editor_id"))
                    .and_then(Value::as_str)
                    .unwrap_or("?"),
                text_of(v, "/payload/content"),
                text_of(v, "/payload/message_id")
            ),
            "message.deleted" => format!(
                "#{} by @{} · {}",
                text_of(v, "/payload/channel_id"),
                text_of(v, "/payload/deleted_by"),
                text_of(v, "/payload/message_id")
            ),
            "notification.sent" => format!(
                "→ @{} for {} in #{}",
                text_of(v, "/payload/user_id"),
                text_of(v, "/payload/message_id"),
                text_of(v, "/payload/channel_id")
            ),
            _ => return None,
        })
    });
    let body = match (gist, scanned) {
        (Some(g), _) => shown(&g),
        (None, None) => "(null value: a tombstone)".to_string(),
        (None, Some([])) => "(empty value)".to_string(),
        (None, Some(v)) => safe_text(v, WIDTH),
    };
    match reason {
        Some(r) => format!("{} · {body}", safe_text(r, 120)),
        None => body,
    }
}

/// The detail of one record: where it is, its key and headers, then the value — pretty JSON
/// when it parses, text when it is UTF-8, else a hex dump; at most [`DETAIL_MAX_BYTES`] of it.
pub fn detail_lines(record: &Record) -> Vec<String> {
    let mut lines = vec![
        format!(
            "{} · partition {} · offset {}",
            safe_text(record.topic.as_bytes(), 200),
            record.partition,
            record.offset
        ),
        format!(
            "timestamp {}",
            record
                .timestamp
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string())
                .unwrap_or_else(|| "none".into())
        ),
        format!(
            "key {}",
            record
                .key
                .as_deref()
                .map(|k| safe_text(k, 200))
                .unwrap_or_else(|| "∅ (null)".into())
        ),
    ];
    if record.headers.is_empty() {
        lines.push("headers: none".into());
    } else {
        lines.push(format!("headers ({}):", record.headers.len()));
        for (name, value) in &record.headers {
            lines.push(format!(
                "  {} = {}",
                safe_text(name.as_bytes(), 80),
                value
                    .as_deref()
                    .map(|v| safe_text(v, 200))
                    .unwrap_or_else(|| "∅".into())
            ));
        }
    }
    let Some(value) = record.payload.as_deref() else {
        lines.push("value: null (a tombstone)".into());
        return lines;
    };
    let cut = &value[..value.len().min(DETAIL_MAX_BYTES)];
    let more = value.len() - cut.len();
    lines.push(format!("value ({} bytes):", value.len()));
    if let Some(json) = (more == 0)
        .then(|| serde_json::from_slice::<Value>(value).ok())
        .flatten()
    {
        let pretty = serde_json::to_string_pretty(&json).unwrap_or_default();
        lines.extend(pretty.lines().map(|l| safe_text(l.as_bytes(), 400)));
    } else if std::str::from_utf8(cut).is_ok() || more > 0 && looks_textual(cut) {
        lines.extend(cut.split(|b| *b == b'\n').map(|l| safe_text(l, 400)));
    } else {
        lines.extend(
            cut.chunks(16)
                .enumerate()
                .map(|(n, row)| hex_row(n * 16, row)),
        );
    }
    if more > 0 {
        lines.push(format!("… {more} more bytes not shown"));
    }
    lines
}

/// Mostly valid UTF-8 (a cut through the middle of a character is fine).
fn looks_textual(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(e) => e.valid_up_to() + 4 >= bytes.len(),
    }
}

/// `00000010  7b 22 61 …  |{"a…|`, as hexdump -C shows it.
fn hex_row(at: usize, row: &[u8]) -> String {
    let hex: Vec<String> = row.iter().map(|b| format!("{b:02x}")).collect();
    let text: String = row
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    format!("{at:08x}  {:<47}  |{text}|", hex.join(" "))
}

/// Where a dead letter came from, from its newest `dlq.source.*` headers:
/// `platform.messages.created[2]@41`, `?` for what the headers do not say. Safe to show.
pub fn dead_letter_source(r: &Record) -> String {
    use crate::workers::dlq::{HEADER_OFFSET, HEADER_PARTITION, HEADER_TOPIC};
    let h = |name| {
        r.last_header(name)
            .map(|v| safe_text(v, 120))
            .unwrap_or_else(|| "?".into())
    };
    format!(
        "{}[{}]@{}",
        h(HEADER_TOPIC),
        h(HEADER_PARTITION),
        h(HEADER_OFFSET)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: Option<&[u8]>, value: Option<&[u8]>) -> Record {
        Record {
            topic: "t".into(),
            partition: 1,
            offset: 7,
            key: key.map(<[u8]>::to_vec),
            payload: value.map(<[u8]>::to_vec),
            headers: vec![],
            timestamp: Some(0),
        }
    }

    #[test]
    fn safe_text_escapes_what_would_disturb_the_screen() {
        assert_eq!(safe_text(b"plain", 10), "plain");
        assert_eq!(
            safe_text("a\nb\tc\x1b[2J".as_bytes(), 40),
            "a\\nb\\tc\\u{1b}[2J"
        );
        assert_eq!(
            safe_text("abc\u{202E}def\u{2066}".as_bytes(), 40),
            "abc\\u{202e}def\\u{2066}"
        );
        assert_eq!(safe_text(b"ok\xff\xfeok", 40), "ok\\xff\\xfeok");
        assert_eq!(safe_text("배포를 시작".as_bytes(), 40), "배포를 시작");
        assert_eq!(safe_text(b"abcdefgh", 3), "abc…");
        // A megabyte is cut without being walked: the result is short.
        let big = vec![b'x'; 1 << 20];
        assert_eq!(safe_text(&big, 50).chars().count(), 51);
        for c in safe_text("\u{0}\u{7}\u{7f}\u{9b}".as_bytes(), 40).chars() {
            assert!(!c.is_control(), "{c:?}");
        }
    }

    #[test]
    fn a_row_summarises_the_platforms_events_and_anything_else() {
        let created = br#"{"event_type":"message.created","event_id":"e","timestamp":1,
            "payload":{"message_id":"m1","channel_id":"ch_dev","author_id":"u1",
            "content":"deploy\ndone","mentions":[]}}"#;
        let row = TailRow::new(record(Some(b"ch_dev"), Some(created)));
        assert_eq!(row.event_type.as_deref(), Some("message.created"));
        assert_eq!(row.summary, "#ch_dev @u1: deploy\\ndone · m1");
        assert!(row.matches("DEPLOY ch_dev"));
        assert!(!row.matches("lunch"));
        let row = TailRow::new(record(None, Some(b"\xff\x00binary")));
        assert_eq!(row.key, "∅");
        assert_eq!(row.summary, "\\xff\\u{0}binary");
        assert_eq!(
            TailRow::new(record(None, None)).summary,
            "(null value: a tombstone)"
        );
        let mut dead = record(None, Some(b"not json"));
        dead.headers.push((
            HEADER_REASON.into(),
            Some(b"invalid JSON: expected value".to_vec()),
        ));
        assert_eq!(
            TailRow::new(dead).summary,
            "invalid JSON: expected value · not json"
        );
        // A huge value is summarised from its first bytes only.
        let huge = vec![b'a'; 1 << 20];
        let row = TailRow::new(record(None, Some(&huge)));
        assert!(row.summary.chars().count() <= 201);
    }

    #[test]
    fn the_detail_is_pretty_json_text_or_hex() {
        let lines = detail_lines(&record(Some(b"k"), Some(br#"{"a":[1,2]}"#)));
        assert!(lines.contains(&"  \"a\": [".to_string()), "{lines:?}");
        let lines = detail_lines(&record(None, Some(b"\x00\x01\x02hello\xff")));
        assert!(lines
            .iter()
            .any(|l| l.starts_with("00000000  00 01 02 68") && l.ends_with("|...hello.|")));
        let big = vec![b'z'; DETAIL_MAX_BYTES + 10];
        let lines = detail_lines(&record(None, Some(&big)));
        assert_eq!(
            lines.last().map(String::as_str),
            Some("… 10 more bytes not shown")
        );
        for line in detail_lines(&record(
            Some(b"\x1b]0;x\x07"),
            Some("\u{202e}evil\n".as_bytes()),
        )) {
            assert!(!line.chars().any(is_unsafe), "{line:?}");
        }
    }
}
