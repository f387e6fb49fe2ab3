//! The archive worker against the embedded broker: every record of the platform topics ends
//! up in exactly one archive file line (by topic, partition and offset), with no truncated
//! line and no temporary file left, across a restart of the worker in the middle of traffic.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use eventdeck::archive::writer::read_file;
use eventdeck::ops::{Command, Control, WorkerId};
use eventdeck::replay::read_archive::read_archive;
use eventdeck::replay::read_log::read_log;
use eventdeck::store::PostMessage;

use crate::harness::{eventually, read_topic, Bench};

fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Every (topic, partition, offset) in the archive; panics on a duplicate or a bad line.
fn archived(root: &Path) -> Result<BTreeSet<(String, i64, i64)>, String> {
    let mut seen = BTreeSet::new();
    for f in files(root) {
        let name = f.display().to_string();
        if !name.ends_with(".ndjson.zst") {
            return Err(format!("unexpected file {name}"));
        }
        for line in read_file(&f).map_err(|e| format!("{name}: {e}"))? {
            let v: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("{name}: bad line {e}: {line}"));
            let key = (
                v["topic"].as_str().unwrap_or_default().to_string(),
                v["partition"].as_i64().unwrap_or(-1),
                v["offset"].as_i64().unwrap_or(-1),
            );
            assert!(seen.insert(key.clone()), "{key:?} archived twice");
        }
    }
    Ok(seen)
}

async fn post(store: &eventdeck::store::SharedStore, from: usize, to: usize) {
    for i in from..to {
        store
            .post(
                PostMessage {
                    channel_id: format!("ch_{}", i % 3),
                    author_id: "user_001".into(),
                    content: format!("archived {i} @user_002"),
                    attachments: vec![],
                },
                None,
            )
            .await
            .expect("post");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_record_is_archived_exactly_once_across_a_restart() {
    let bench = Bench::start().await;
    let store = bench.store();
    let pipeline = bench
        .services
        .spawn_workers(
            &[WorkerId::Relay, WorkerId::Notifier, WorkerId::Archive],
            bench.reporter.clone(),
        )
        .expect("pipeline");
    let root = bench.services.data_dir.path().join("archive");
    post(&store, 0, 150).await;
    let (reply, answer) = tokio::sync::oneshot::channel();
    pipeline
        .commands
        .send(Command::Control {
            worker: WorkerId::Archive,
            control: Control::Restart,
            reply: Some(reply),
        })
        .await
        .expect("send");
    post(&store, 150, 300).await;
    answer.await.expect("answer").expect("restarted");
    let config = &bench.services.config;
    let topics = [
        config.topics.created.clone(),
        config.topics.notifications.clone(),
    ];
    let mut expected = BTreeSet::new();
    for topic in &topics {
        let records = eventually(
            &format!("{topic} complete"),
            Duration::from_secs(30),
            || {
                let (cluster, topic) = (bench.cluster().clone(), topic.clone());
                async move {
                    let records = read_topic(&cluster, &topic).await;
                    if records.len() >= 300 {
                        Ok(records)
                    } else {
                        Err(format!("{} records", records.len()))
                    }
                }
            },
        )
        .await;
        use rdkafka::Message;
        for m in records {
            expected.insert((m.topic().to_string(), m.partition() as i64, m.offset()));
        }
    }
    let archive = eventually(
        "the archive holds every record",
        Duration::from_secs(60),
        || {
            let (root, expected) = (root.clone(), expected.clone());
            async move {
                let seen = archived(&root)?;
                let missing = expected.difference(&seen).count();
                if missing == 0 {
                    Ok(seen)
                } else {
                    Err(format!("{missing} of {} not archived yet", expected.len()))
                }
            }
        },
    )
    .await;
    assert!(expected.is_subset(&archive));
    assert!(pipeline.stop().await.is_empty());
    assert_eq!(archived(&root).expect("archive").len(), archive.len());

    // The archive rebuilds the same state as the log.
    let topics: Vec<String> = config
        .message_topics()
        .iter()
        .map(|t| t.to_string())
        .collect();
    let (cluster, log_topics) = (bench.cluster().clone(), topics.clone());
    let from_log = tokio::task::spawn_blocking(move || read_log(&cluster, &log_topics, |_| {}))
        .await
        .expect("join")
        .expect("read the log");
    let from_archive = read_archive(&root, &topics, |_| {}).expect("read the archive");
    assert_eq!(from_archive.events, 300);
    assert_eq!(from_archive.docs, from_log.docs);
    assert_eq!(
        from_archive.from_outbox.len(),
        300,
        "the relay's header survived"
    );
}
