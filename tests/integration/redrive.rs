//! Re-driving dead letters on the embedded broker and the external test cluster: the dry
//! run sends nothing; a re-drive after an interrupted one (its record in doubt already in the
//! source topic) sends every other dead letter back exactly once and the indexer indexes
//! them; a record that keeps failing comes back to the dead-letter topic until the loop
//! guard holds it.

use std::time::Duration;

use eventdeck::browse::redrive::{redrive, RedriveOptions, HEADER_REDRIVES, HEADER_REDRIVE_OF};
use eventdeck::event::{MessageCreated, MessageEvent, ParsedEvent};
use eventdeck::workers::dlq::{HEADER_OFFSET, HEADER_PARTITION, HEADER_REASON, HEADER_TOPIC};
use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::Message;
use tokio::sync::watch;

use crate::harness::{eventually, on_both_clusters, read_topic, Backend, Bench};

on_both_clusters!(dead_letters_are_redriven_once_resumed_and_loops_are_held);

fn header(m: &OwnedMessage, name: &str) -> Option<String> {
    m.headers()?
        .iter()
        .filter(|h| h.key == name)
        .last()
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

async fn dead_letters_are_redriven_once_resumed_and_loops_are_held(backend: Backend) {
    let bench = Bench::on(backend).await;
    let config = bench.services.config.clone();
    let (created, dlq) = (config.topics.created.clone(), config.topics.dlq.clone());
    let publisher = bench.services.publisher().expect("publisher");
    let producer = publisher.producer.clone();
    // Five good events set aside while, say, the index refused them, and one broken one.
    for i in 0..6 {
        let value = if i == 5 {
            b"{not json".to_vec()
        } else {
            ParsedEvent::mint(MessageEvent::Created(MessageCreated {
                message_id: format!("msg_rd_{i}"),
                channel_id: format!("ch_{i}"),
                author_id: "user_001".into(),
                content: format!("redriven {i}"),
                mentions: vec![],
                attachments: vec![],
            }))
            .to_json()
            .expect("json")
        };
        let offset = i.to_string();
        let headers: [(&str, Option<&[u8]>); 4] = [
            (HEADER_REASON, Some(b"the index refused it")),
            (HEADER_TOPIC, Some(created.as_bytes())),
            (HEADER_PARTITION, Some(b"0")),
            (HEADER_OFFSET, Some(offset.as_bytes())),
        ];
        producer
            .send(
                &dlq,
                Some(format!("ch_{i}").as_bytes()),
                Some(&value),
                &headers,
            )
            .await
            .expect("dead letter");
    }
    let options = RedriveOptions {
        filter: String::new(),
        rate: 0,
        max_redrives: 3,
        dry_run: true,
    };
    let plan = redrive(bench.cluster(), &dlq, &producer, &options)
        .await
        .expect("dry run");
    assert_eq!(plan.total_redriven(), 6, "{plan:?}");
    assert_eq!(plan.where_to(), format!("6 to {created}"));
    assert!(
        read_topic(bench.cluster(), &created).await.is_empty(),
        "dry: nothing sent"
    );

    // An interrupted re-drive: it had sent msg_rd_2's dead letter, not yet committed past it.
    let dead = read_topic(bench.cluster(), &dlq).await;
    let doubt = dead
        .iter()
        .find(|m| m.key() == Some(&b"ch_2"[..]))
        .expect("msg_rd_2's dead letter");
    let marker = format!("{}@{}", doubt.partition(), doubt.offset());
    let copy: [(&str, Option<&[u8]>); 2] = [
        (HEADER_REDRIVES, Some(b"1")),
        (HEADER_REDRIVE_OF, Some(marker.as_bytes())),
    ];
    producer
        .send(&created, doubt.key(), doubt.payload(), &copy)
        .await
        .expect("the copy in doubt");

    let options = RedriveOptions {
        dry_run: false,
        rate: 50,
        ..options
    };
    let done = redrive(bench.cluster(), &dlq, &producer, &options)
        .await
        .expect("re-drive");
    assert_eq!(
        (done.total_redriven(), done.already_sent),
        (5, 1),
        "{done:?}"
    );
    let back = read_topic(bench.cluster(), &created).await;
    let mut markers: Vec<String> = back
        .iter()
        .filter_map(|m| header(m, HEADER_REDRIVE_OF))
        .collect();
    markers.sort();
    let count = markers.len();
    markers.dedup();
    assert_eq!(
        (count, markers.len()),
        (6, 6),
        "each dead letter once: {markers:?}"
    );
    // Done: a second re-drive finds nothing new.
    let again = redrive(bench.cluster(), &dlq, &producer, &options)
        .await
        .expect("again");
    assert_eq!(again.read, 0, "{again:?}");

    // The indexer takes the good ones; the broken one is dead-lettered again, re-driven,
    // until the loop guard holds it.
    let (_stop, shutdown) = watch::channel(false);
    let _indexer = bench
        .services
        .spawn_indexer(bench.reporter.clone(), shutdown)
        .expect("indexer");
    let index = bench.services.index.clone();
    eventually(
        "the re-driven messages indexed",
        Duration::from_secs(60),
        || {
            let index = index.clone();
            async move {
                index.refresh().await.map_err(|e| e.to_string())?;
                match index.count().await.map_err(|e| e.to_string())? {
                    5 => Ok(()),
                    n => Err(format!("{n} indexed")),
                }
            }
        },
    )
    .await;
    for round in 1..=3u32 {
        // The broken record comes back to the dead-letter topic, re-driven `round` times.
        let cluster = bench.cluster().clone();
        let dlq_name = dlq.clone();
        eventually(
            "the broken one dead-lettered again",
            Duration::from_secs(60),
            || {
                let (cluster, dlq_name) = (cluster.clone(), dlq_name.clone());
                async move {
                    let n = read_topic(&cluster, &dlq_name)
                        .await
                        .iter()
                        .filter(|m| {
                            header(m, HEADER_REDRIVES).as_deref() == Some(&round.to_string())
                        })
                        .count();
                    if n == 1 {
                        Ok(())
                    } else {
                        Err(format!("{n} dead letters re-driven {round} times"))
                    }
                }
            },
        )
        .await;
        let report = redrive(bench.cluster(), &dlq, &producer, &options)
            .await
            .expect("re-drive");
        assert_eq!(report.read, 1, "round {round}: {report:?}");
        if round < 3 {
            assert_eq!(report.total_redriven(), 1, "round {round}: {report:?}");
        } else {
            assert_eq!((report.held, report.total_redriven()), (1, 0), "{report:?}");
        }
    }
}
