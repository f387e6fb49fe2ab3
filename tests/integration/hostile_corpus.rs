//! A corpus of 210 hostile records, produced with a plain rdkafka producer as any service
//! on the platform could: empty and null values, not JSON, invalid UTF-8, JSON of the wrong
//! shape, unknown event types, 10,000 mentions, times outside any date field, ids empty or
//! too long, nesting deeper than a parser allows — and valid events with control, bidi,
//! zero-width, wide and combining characters, 300 KB of content, times in 1970 and 3000,
//! and ten sent twice. With every default worker running: none fails, each invalid record
//! is in the dead-letter topic with its reason, each valid one is indexed once and found,
//! no valid one is dead-lettered, and each mention is notified once. On both clusters.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use eventdeck::event::limits::MAX_TIMESTAMP_MS;
use eventdeck::search::SearchQuery;
use eventdeck::workers::dlq::{HEADER_OFFSET, HEADER_PARTITION, HEADER_REASON};
use eventdeck::workers::report::{WorkerEvent, WorkerState};
use rdkafka::message::Headers;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;
use serde_json::json;

use crate::harness::{eventually, on_both_clusters, read_topic, Backend, Bench};

const WAIT: Duration = Duration::from_secs(120);
const MARK: &str = "hostilemark";

/// What a record must become.
enum Expect {
    /// Indexed as this message id; its content holds `tok{n}`; these users notified.
    Valid { id: String, mentions: Vec<String> },
    /// Dead-lettered with a reason containing this.
    Invalid(&'static str),
}

struct Case {
    value: Option<Vec<u8>>,
    expect: Expect,
}

fn envelope(
    event_type: &str,
    event_id: &str,
    timestamp: i64,
    payload: serde_json::Value,
) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event_type": event_type,
        "event_id": event_id,
        "timestamp": timestamp,
        "payload": payload,
    }))
    .expect("json")
}

fn created(id: &str, content: &str, mentions: &[String]) -> serde_json::Value {
    json!({
        "message_id": id, "channel_id": "ch_hostile", "author_id": "user_h",
        "content": content, "mentions": mentions,
    })
}

/// Hostile but valid text: it must be indexed as it is and shown safely.
fn hostile_text(i: usize) -> String {
    match i % 10 {
        0 => "bell\u{7} escape \u{1b}[31mred\u{1b}[0m title \u{1b}]0;pwned\u{7}".into(),
        1 => "bidi \u{202E}gnp.exe\u{202C} isolate \u{2066}x\u{2069}".into(),
        2 => "zero\u{200B}width\u{200D}join \u{FEFF}bom".into(),
        3 => "한국어 배포 完了 🎉🎉 wide".into(),
        4 => "combining e\u{301}\u{301}\u{301}\u{301}\u{301}".into(),
        5 => "lines\r\nand\ttabs\u{0}nul\u{7f}del".into(),
        6 => "quotes \" ' \\ backslash {\"json\":true} *:AND OR".into(),
        7 => "c1 controls \u{85}\u{9b}31m\u{9c}".into(),
        8 => "<script>alert(1)</script> &amp; %s %n".into(),
        _ => "plain".into(),
    }
}

fn corpus() -> Vec<Case> {
    let mut cases = Vec::new();
    let valid = |n: usize, value: Vec<u8>, mentions: Vec<String>| Case {
        value: Some(value),
        expect: Expect::Valid {
            id: format!("msg_hostile_{n:03}"),
            mentions,
        },
    };
    // 100 valid events with hostile content.
    for n in 0..100 {
        let id = format!("msg_hostile_{n:03}");
        let mut content = format!("{MARK} tok{n} {}", hostile_text(n));
        if n == 17 || n == 71 {
            content.push_str(&" huge".repeat(60_000)); // 300 KB
        }
        let mentions: Vec<String> = if n % 4 == 0 {
            vec![format!("user_m{n}")]
        } else {
            vec![]
        };
        let timestamp = match n % 25 {
            0 => 0,                  // 1970-01-01
            1 => 32_503_680_000_000, // 3000-01-01
            2 => MAX_TIMESTAMP_MS,   // the last representable instant
            _ => eventdeck::event::now_ms(),
        };
        let value = envelope(
            "message.created",
            &format!("ev_h_{n}"),
            timestamp,
            created(&id, &content, &mentions),
        );
        cases.push(valid(n, value, mentions));
    }
    // Ten of them again, byte for byte (the same event id).
    for n in 0..10 {
        let again = cases[n].value.clone().expect("value");
        let mentions = match &cases[n].expect {
            Expect::Valid { mentions, .. } => mentions.clone(),
            Expect::Invalid(_) => unreachable!(),
        };
        cases.push(valid(n, again, mentions));
    }
    let invalid = |value: Option<Vec<u8>>, why: &'static str| Case {
        value,
        expect: Expect::Invalid(why),
    };
    for _ in 0..5 {
        cases.push(invalid(Some(Vec::new()), "empty record value"));
        cases.push(invalid(None, "empty record value"));
    }
    for i in 0..20 {
        let v: Vec<u8> = match i % 5 {
            0 => format!("not json {i}").into_bytes(),
            1 => vec![0xff, 0xfe, 0x00, i as u8],
            2 => b"{\"event_type\":".to_vec(),
            3 => format!("<event id='{i}'/>").into_bytes(),
            _ => b"\x1b[2J\x1b]0;pwned\x07".to_vec(),
        };
        cases.push(invalid(Some(v), "malformed JSON"));
    }
    for i in 0..10 {
        // Invalid UTF-8 inside a string of an otherwise good event.
        let mut v = envelope(
            "message.created",
            &format!("ev_u_{i}"),
            1,
            created("msg_utf8_XX", "bad", &[]),
        );
        let at = v.windows(2).position(|w| w == b"XX").expect("XX");
        v[at] = 0xc3;
        v[at + 1] = 0x28;
        cases.push(invalid(Some(v), "malformed JSON"));
    }
    for i in 0..10 {
        let payload = match i % 5 {
            0 => json!({"message_id": 5, "channel_id": "c", "author_id": "a", "content": "x"}),
            1 => json!({"message_id": "m", "channel_id": "c", "author_id": "a"}),
            2 => json!(["an", "array"]),
            3 => {
                json!({"message_id": "m", "channel_id": "c", "author_id": "a", "content": "x", "mentions": "bob"})
            }
            _ => json!(null),
        };
        cases.push(invalid(
            Some(envelope("message.created", "ev_s", 1, payload)),
            "invalid message.created payload",
        ));
    }
    for i in 0..10 {
        let v: Vec<u8> = match i % 5 {
            0 => br#"{"event_type":"message.created","event_id":"e","payload":{}}"#.to_vec(),
            1 => br#"{"event_type":"message.created","event_id":"e","timestamp":"yesterday","payload":{}}"#.to_vec(),
            2 => b"[1,2,3]".to_vec(),
            3 => b"null".to_vec(),
            _ => b"\"a string\"".to_vec(),
        };
        cases.push(invalid(Some(v), "malformed JSON"));
    }
    for t in [
        "message.pinned",
        "",
        "MESSAGE.CREATED",
        "message.created ",
        "message.created\u{0}",
        "message.\u{202E}created",
        "user.activity",
        "notification.sent",
        "message",
        "x".repeat(1000).leak(),
        "message.reacted",
        "message.deleted.v2",
        "🎉",
        "message.Created",
        "null",
    ] {
        let v = envelope(t, "ev_t", 1, created("msg_type", "x", &[]));
        cases.push(invalid(Some(v), "unknown event_type"));
    }
    let many: Vec<String> = (0..10_000).map(|i| format!("u{i}")).collect();
    let many_text: String = many.iter().map(|u| format!("@{u} ")).collect();
    cases.push(invalid(
        Some(envelope(
            "message.created",
            "ev_m1",
            1,
            created("msg_many_1", "x", &many),
        )),
        "mentioned users; at most 1000",
    ));
    cases.push(invalid(
        Some(envelope(
            "message.created",
            "ev_m2",
            1,
            created("msg_many_2", &many_text, &[]),
        )),
        "mentioned users; at most 1000",
    ));
    cases.push(invalid(
        Some(envelope(
            "message.created",
            "ev_m3",
            1,
            created("msg_many_3", &many_text, &many),
        )),
        "mentioned users; at most 1000",
    ));
    for ts in [-1, i64::MIN, i64::MAX, MAX_TIMESTAMP_MS + 1] {
        cases.push(invalid(
            Some(envelope(
                "message.created",
                "ev_time",
                ts,
                created("msg_time", "x", &[]),
            )),
            "is outside 1970-01-01",
        ));
    }
    for edited_at in [-86_400_000i64, i64::MAX] {
        let payload = json!({"message_id": "msg_hostile_000", "channel_id": "ch_hostile", "content": "edited", "edited_at": edited_at});
        cases.push(invalid(
            Some(envelope("message.updated", "ev_edit", 1, payload)),
            "edited_at",
        ));
    }
    let deep = |open: &str, close: &str| {
        format!("{}{}", open.repeat(10_000), close.repeat(10_000)).into_bytes()
    };
    cases.push(invalid(Some(deep("[", "]")), "malformed JSON"));
    cases.push(invalid(Some(deep("{\"a\":", "}")), "malformed JSON"));
    cases.push(invalid(
        Some(envelope(
            "message.created",
            "ev_id",
            1,
            created("", "x", &[]),
        )),
        "message_id is empty",
    ));
    cases.push(invalid(
        Some(envelope(
            "message.created",
            "ev_id",
            1,
            created(&"i".repeat(513), "x", &[]),
        )),
        "message_id is 513 bytes",
    ));
    let deleted = json!({"message_id": "", "channel_id": "c", "deleted_by": "u"});
    cases.push(invalid(
        Some(envelope("message.deleted", "ev_id", 1, deleted)),
        "message_id is empty",
    ));
    let updated = json!({"message_id": "é".repeat(300), "channel_id": "c", "content": "x"});
    cases.push(invalid(
        Some(envelope("message.updated", "ev_id", 1, updated)),
        "message_id is 600 bytes",
    ));
    cases
}

fn header(m: &rdkafka::message::OwnedMessage, name: &str) -> Option<String> {
    m.headers()?
        .iter()
        .filter(|h| h.key == name)
        .last()
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

on_both_clusters!(a_hostile_corpus_is_dead_lettered_or_indexed_and_nothing_fails);

async fn a_hostile_corpus_is_dead_lettered_or_indexed_and_nothing_fails(backend: Backend) {
    let mut bench = Bench::on(backend).await;
    let topic = bench.services.config.topics.created.clone();
    let dlq_topic = bench.services.config.topics.dlq.clone();
    let pipeline = bench.pipeline();
    let raw: FutureProducer = bench
        .cluster()
        .client_config("hostile-producer")
        .set("message.max.bytes", "2000000")
        .create()
        .expect("producer");
    let cases = corpus();
    assert!(cases.len() >= 200, "{} records", cases.len());
    // Where each record landed: (partition, offset) → its case.
    let mut at: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    for (i, case) in cases.iter().enumerate() {
        let key = format!("ch_hostile_{}", i % 7);
        let mut record: FutureRecord<'_, str, [u8]> = FutureRecord::to(&topic).key(&key);
        record.payload = case.value.as_deref();
        let delivered = raw
            .send(record, Duration::from_secs(30))
            .await
            .map_err(|(e, _)| e)
            .unwrap_or_else(|e| panic!("record {i}: {e}"));
        let (partition, offset) = (delivered.partition, delivered.offset);
        at.insert((partition, offset), i);
    }
    let invalid: BTreeMap<(i32, i64), &'static str> = at
        .iter()
        .filter_map(|(k, &i)| match cases[i].expect {
            Expect::Invalid(why) => Some((*k, why)),
            Expect::Valid { .. } => None,
        })
        .collect();
    let valid_ids: BTreeSet<String> = cases
        .iter()
        .filter_map(|c| match &c.expect {
            Expect::Valid { id, .. } => Some(id.clone()),
            Expect::Invalid(_) => None,
        })
        .collect();

    // Each invalid record dead-lettered (at least once), with its reason; nothing else.
    let cluster = bench.cluster().clone();
    let letters = eventually("a dead letter for each invalid record", WAIT, || {
        let (cluster, dlq_topic, invalid) = (cluster.clone(), dlq_topic.clone(), invalid.clone());
        async move {
            let mut seen: BTreeMap<(i32, i64), String> = BTreeMap::new();
            for m in read_topic(&cluster, &dlq_topic).await {
                let source = (
                    header(&m, HEADER_PARTITION).and_then(|p| p.parse().ok()),
                    header(&m, HEADER_OFFSET).and_then(|o| o.parse().ok()),
                );
                if let (Some(p), Some(o)) = source {
                    seen.insert((p, o), header(&m, HEADER_REASON).unwrap_or_default());
                }
            }
            let missing = invalid.keys().filter(|k| !seen.contains_key(k)).count();
            (missing == 0).then_some(seen.clone()).ok_or(format!(
                "{missing} of {} not dead-lettered yet",
                invalid.len()
            ))
        }
    })
    .await;
    for (source, reason) in &letters {
        let i = at.get(source).copied();
        match (i, invalid.get(source)) {
            (_, Some(why)) => assert!(
                reason.contains(why),
                "record {i:?} at {source:?}: reason {reason:?} lacks {why:?}"
            ),
            (Some(i), None) => panic!("valid record {i} dead-lettered: {reason}"),
            (None, None) => panic!("a dead letter of no record of ours: {source:?} {reason}"),
        }
    }

    // Each valid message indexed once, found by its own token and by the marker.
    let index = bench.services.index.clone();
    let want = valid_ids.len() as u64;
    eventually("every valid message indexed", WAIT, || {
        let index = index.clone();
        async move {
            let n = index.count().await.map_err(|e| e.to_string())?;
            (n == want)
                .then_some(())
                .ok_or(format!("{n} of {want} documents"))
        }
    })
    .await;
    let search = |text: String| SearchQuery {
        text,
        page_size: 10,
        ..SearchQuery::default()
    };
    let marked = index.search(&search(MARK.into())).await.expect("search");
    assert_eq!(marked.total, want, "{MARK}");
    for n in [0usize, 1, 2, 5, 7, 17, 25, 71, 99] {
        let r = index
            .search(&search(format!("tok{n}")))
            .await
            .expect("search");
        assert_eq!(r.total, 1, "tok{n}");
        assert_eq!(r.hits[0].doc.message_id, format!("msg_hostile_{n:03}"));
        assert!(
            r.hits[0].doc.content.contains(&hostile_text(n)),
            "tok{n} kept its text"
        );
    }

    // Each mention notified once, the duplicates included.
    let expected: BTreeSet<(String, String)> = cases
        .iter()
        .filter_map(|c| match &c.expect {
            Expect::Valid { id, mentions } => Some(
                mentions
                    .iter()
                    .map(|u| (id.clone(), u.clone()))
                    .collect::<Vec<_>>(),
            ),
            Expect::Invalid(_) => None,
        })
        .flatten()
        .collect();
    crate::load::notified_exactly_once(&cluster, &expected, WAIT).await;

    let errors = pipeline.stop().await;
    assert!(errors.is_empty(), "workers failed: {errors:?}");
    while let Ok(event) = bench.events.try_recv() {
        if let WorkerEvent::State {
            worker,
            state: WorkerState::Failed { error },
        } = event
        {
            panic!("{worker} failed: {error}");
        }
    }
    eprintln!(
        "hostile corpus ({backend:?}): {} records, {} dead-lettered with their reasons, {} \
         messages indexed once, {} notifications",
        cases.len(),
        invalid.len(),
        want,
        expected.len()
    );
}
