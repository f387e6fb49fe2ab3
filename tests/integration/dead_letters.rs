//! Dead letters keep the record whole: key bytes (a null key stays null), value bytes (a null
//! value stays null), every original header in order with repeated names and null values, and
//! then the `dlq.*` headers. The bad records are produced with a plain rdkafka producer, as
//! another service would, and first read back from the source topic: that separates what the
//! broker keeps from what eventdeck keeps. Runs on the embedded broker and on noida-db
//! (`embedded::…`, `noida::…`).

use std::time::Duration;

use eventdeck::event::{MessageCreated, MessageEvent};
use eventdeck::workers::dlq::{
    HEADER_OFFSET, HEADER_PARTITION, HEADER_REASON, HEADER_TOPIC, HEADER_WORKER,
};
use rdkafka::message::{Header, Headers, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;
use tokio::sync::watch;

use crate::harness::{eventually, on_both_clusters, read_topic, Backend, Bench};

const WAIT: Duration = Duration::from_secs(90);

type OwnedHeader = (String, Option<Vec<u8>>);

/// One record as another service might produce it.
struct Raw {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<OwnedHeader>,
}

fn header(name: &str, value: Option<&[u8]>) -> OwnedHeader {
    (name.to_string(), value.map(<[u8]>::to_vec))
}

fn headers_of(m: &OwnedMessage) -> Vec<OwnedHeader> {
    m.headers()
        .map(|hs| {
            hs.iter()
                .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                .collect()
        })
        .unwrap_or_default()
}

fn text(v: &Option<Vec<u8>>) -> String {
    v.as_deref()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

fn bad_records() -> Vec<Raw> {
    vec![
        // Key bytes that are not UTF-8 (0xff), with a NUL in the middle, and a trace header.
        Raw {
            key: Some(vec![0xff, 0x00, 0x6b]),
            value: Some(b"bad 1: \xff not an event".to_vec()),
            headers: vec![header("trace", Some(b"00-4bf92f3577b34da6-01"))],
        },
        // A null key: a re-drive must be partitioned as a null key, not as "".
        Raw {
            key: None,
            value: Some(
                br#"{"event_type":"message.pinned","event_id":"bad-2","timestamp":1,"payload":{}}"#
                    .to_vec(),
            ),
            headers: vec![],
        },
        // The same header name twice (and a third time with a null value).
        Raw {
            key: Some(b"ch_dup".to_vec()),
            value: Some(b"bad 3: {not json".to_vec()),
            headers: vec![
                header("a", Some(b"1")),
                header("a", Some(b"2")),
                header("a", None),
            ],
        },
        // A null value (a tombstone) with a null header value.
        Raw {
            key: Some(b"ch_tombstone".to_vec()),
            value: None,
            headers: vec![header("n", None)],
        },
    ]
}

fn created(i: usize) -> MessageEvent {
    MessageEvent::Created(MessageCreated {
        message_id: format!("msg_{i:05}"),
        channel_id: "ch_01".into(),
        author_id: "user_001".into(),
        content: format!("a good neighbour {i}"),
        mentions: vec![],
        attachments: vec![],
    })
}

/// The source record a read-back message is, by its key and value.
fn which(bad: &[Raw], m: &OwnedMessage) -> Option<usize> {
    bad.iter()
        .position(|r| r.key.as_deref() == m.key() && r.value.as_deref() == m.payload())
}

on_both_clusters!(dead_letters_keep_key_value_and_headers_byte_for_byte);

async fn dead_letters_keep_key_value_and_headers_byte_for_byte(backend: Backend) {
    let mut bench = Bench::on(backend).await;
    let topic = bench.services.config.topics.created.clone();
    let dlq_topic = bench.services.config.topics.dlq.clone();
    let publisher = bench.services.publisher().expect("publisher");
    let raw: FutureProducer = bench
        .cluster()
        .client_config("test")
        .create()
        .expect("raw producer");
    let bad = bad_records();

    let good = |i| {
        let publisher = publisher.clone();
        async move {
            let d = publisher
                .enqueue(&eventdeck::event::ParsedEvent::mint(created(i)))
                .await
                .expect("enqueue");
            eventdeck::bus::producer::resolve(d)
                .await
                .expect("delivered");
        }
    };
    good(1).await;
    for r in &bad {
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&topic);
        record.key = r.key.as_deref();
        record.payload = r.value.as_deref();
        if !r.headers.is_empty() {
            let mut hs = OwnedHeaders::new();
            for (name, value) in &r.headers {
                hs = hs.insert(Header {
                    key: name,
                    value: value.as_deref(),
                });
            }
            record.headers = Some(hs);
        }
        raw.send(record, Duration::from_secs(10))
            .await
            .map_err(|(e, _)| e)
            .expect("raw send");
    }
    good(2).await;

    // What the broker itself gives back, with no eventdeck code in between.
    let source = read_topic(bench.cluster(), &topic).await;
    let mut stored: Vec<Option<&OwnedMessage>> = vec![None; bad.len()];
    for m in &source {
        if let Some(i) = which(&bad, m) {
            stored[i] = Some(m);
        }
    }
    for (i, (r, m)) in bad.iter().zip(&stored).enumerate() {
        let m = m.unwrap_or_else(|| {
            panic!(
                "broker round trip: bad record {} not found with its key and value in {}: {:?}",
                i + 1,
                topic,
                source
                    .iter()
                    .map(|m| (m.key().map(<[u8]>::to_vec), m.payload().map(<[u8]>::to_vec)))
                    .collect::<Vec<_>>()
            )
        });
        assert_eq!(
            headers_of(m),
            r.headers,
            "broker round trip: headers of bad record {}",
            i + 1
        );
    }

    let (_stop, rx) = watch::channel(false);
    let _indexer = bench
        .services
        .spawn_indexer(bench.reporter.clone(), rx)
        .expect("indexer");
    bench.wait_processed("indexer", 6, WAIT).await;

    // At least once: a batch handled again after a rebalance sends its dead letters again,
    // so a bad record may have more than one; each must be whole.
    let dlq = eventually("a dead letter for each bad record", WAIT, || {
        let cluster = bench.cluster().clone();
        let dlq_topic = dlq_topic.clone();
        async move {
            let records = read_topic(&cluster, &dlq_topic).await;
            match records.len() {
                n if n >= 4 => Ok(records),
                n => Err(format!("{n} records in {dlq_topic}")),
            }
        }
    })
    .await;

    // Where a dead letter says it came from (its last dlq.source.* headers).
    let source_of = |m: &OwnedMessage| {
        let h = headers_of(m);
        let get = |name: &str| {
            h.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| text(v))
        };
        (get(HEADER_PARTITION), get(HEADER_OFFSET))
    };
    for m in &dlq {
        let from = source_of(m);
        assert!(
            stored.iter().flatten().any(|s| from
                == (
                    Some(s.partition().to_string()),
                    Some(s.offset().to_string())
                )),
            "a dead letter of no bad record: {from:?}"
        );
    }
    for (i, (r, source)) in bad.iter().zip(&stored).enumerate() {
        let n = i + 1;
        let source = source.expect("read back above");
        let from = (
            Some(source.partition().to_string()),
            Some(source.offset().to_string()),
        );
        let letters: Vec<&OwnedMessage> = dlq.iter().filter(|m| source_of(m) == from).collect();
        assert!(!letters.is_empty(), "no dead letter for bad record {n}");
        for m in letters {
            assert_eq!(m.key(), r.key.as_deref(), "key of dead letter {n}");
            assert_eq!(m.payload(), r.value.as_deref(), "value of dead letter {n}");
            let headers = headers_of(m);
            assert!(
                headers.len() == r.headers.len() + 5,
                "dead letter {n}: headers {headers:?}"
            );
            let (original, ours) = headers.split_at(r.headers.len());
            assert_eq!(
                original,
                &r.headers[..],
                "original headers of dead letter {n}"
            );
            let names: Vec<&str> = ours.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(
                names,
                [
                    HEADER_REASON,
                    HEADER_TOPIC,
                    HEADER_PARTITION,
                    HEADER_OFFSET,
                    HEADER_WORKER
                ],
                "dlq headers of dead letter {n}"
            );
            assert!(!text(&ours[0].1).is_empty(), "a reason for dead letter {n}");
            assert_eq!(text(&ours[1].1), topic);
            assert_eq!(text(&ours[4].1), "indexer");
        }
    }
    let reason_of = |n: usize| {
        let source = stored[n - 1].expect("read back");
        dlq.iter()
            .find(|m| m.key() == source.key() && m.payload() == source.payload())
            .map(|m| text(&headers_of(m)[bad[n - 1].headers.len()].1))
            .unwrap_or_default()
    };
    assert!(reason_of(2).contains("message.pinned"), "{}", reason_of(2));

    // The neighbours of the bad records are indexed.
    bench.services.index.refresh().await.expect("refresh");
    assert_eq!(bench.services.index.count().await.expect("count"), 2);
    let docs = bench
        .services
        .index
        .get(&["msg_00001".to_string(), "msg_00002".to_string()])
        .await
        .expect("get");
    assert_eq!(docs.len(), 2, "both neighbours indexed");
}
