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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_archive_republished_into_an_empty_data_directory_reproduces_the_index() {
    let bench = Bench::start().await;
    let store = bench.store();
    let pipeline = bench
        .services
        .spawn_workers(
            &[WorkerId::Relay, WorkerId::Indexer, WorkerId::Archive],
            bench.reporter.clone(),
        )
        .expect("pipeline");
    // A history of posts, edits and deletes.
    let mut ids = Vec::new();
    for i in 0..80 {
        let posted = store
            .post(
                PostMessage {
                    channel_id: format!("ch_{}", i % 3),
                    author_id: "user_001".into(),
                    content: format!("kept {i}"),
                    attachments: vec![],
                },
                None,
            )
            .await
            .expect("post");
        ids.push(posted.message.message_id);
    }
    for id in ids.iter().step_by(4) {
        let edit = eventdeck::store::EditMessage {
            content: format!("edited {id}"),
            editor_id: None,
        };
        store.edit(id, edit).await.expect("edit");
    }
    for id in ids.iter().skip(1).step_by(6) {
        let delete = eventdeck::store::DeleteMessage { deleted_by: None };
        store.delete(id, delete).await.expect("delete");
    }
    let root = bench.services.data_dir.path().join("archive");
    let topics: Vec<String> = bench
        .services
        .config
        .message_topics()
        .iter()
        .map(|t| t.to_string())
        .collect();
    // Everything archived and indexed.
    let original = eventually(
        "archive and index complete",
        Duration::from_secs(60),
        || {
            let (cluster, topics, root) = (bench.cluster().clone(), topics.clone(), root.clone());
            let index = bench.services.index.clone();
            async move {
                let log = tokio::task::spawn_blocking({
                    let topics = topics.clone();
                    move || read_log(&cluster, &topics, |_| {})
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
                let archive = read_archive(&root, &topics, |_| {}).map_err(|e| e.to_string())?;
                if log.events < 80 + 20 + 14 || archive.docs != log.docs {
                    return Err(format!(
                        "{} in the log, {} archived",
                        log.events, archive.events
                    ));
                }
                index.refresh().await.map_err(|e| e.to_string())?;
                let ids: Vec<String> = log.docs.keys().cloned().collect();
                let docs = index.get(&ids).await.map_err(|e| e.to_string())?;
                if docs == log.docs {
                    Ok(docs)
                } else {
                    Err(format!("{} of {} indexed so far", docs.len(), ids.len()))
                }
            }
        },
    )
    .await;
    assert!(pipeline.stop().await.is_empty());

    // A new, empty data directory gets the history back from the archive alone.
    let fresh = tempfile::tempdir().expect("tempdir");
    let config = crate::harness::test_config(fresh.path(), &crate::harness::search_server().await);
    let data_dir = config.data_dir();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_eventdeck"))
        .args(["--data-dir", &data_dir.display().to_string()])
        .args(["--config", "/dev/null", "replay", "--from-archive"])
        .arg(&root)
        .arg("--republish")
        .env_remove("EVENTDECK_SEARCH_URL")
        .env_remove("EVENTDECK_KAFKA_BROKERS")
        .output()
        .await
        .expect("eventdeck replay --republish");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.contains("republished"), "{out}");
    // Twice would duplicate the history: refused.
    let again = tokio::process::Command::new(env!("CARGO_BIN_EXE_eventdeck"))
        .args(["--data-dir", &data_dir.display().to_string()])
        .args(["--config", "/dev/null", "replay", "--from-archive"])
        .arg(&root)
        .arg("--republish")
        .env_remove("EVENTDECK_SEARCH_URL")
        .env_remove("EVENTDECK_KAFKA_BROKERS")
        .output()
        .await
        .expect("eventdeck replay --republish");
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("republishing is for an empty log"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let restored = Bench::with_config(fresh, config).await;
    let pipeline = restored
        .services
        .spawn_workers(&[WorkerId::Indexer], restored.reporter.clone())
        .expect("pipeline");
    let ids: Vec<String> = original.keys().cloned().collect();
    let index = restored.services.index.clone();
    let rebuilt = eventually(
        "the restored index holds every message as the original did",
        Duration::from_secs(60),
        || {
            let (index, ids, original) = (index.clone(), ids.clone(), &original);
            async move {
                index.refresh().await.map_err(|e| e.to_string())?;
                let docs = index.get(&ids).await.map_err(|e| e.to_string())?;
                let differing: Vec<_> = original
                    .iter()
                    .filter(|(id, doc)| docs.get(*id) != Some(doc))
                    .collect();
                match differing.first() {
                    None => Ok(docs),
                    Some((id, doc)) => Err(format!(
                        "{} of {} documents differ, e.g. {doc:?} restored as {:?}",
                        differing.len(),
                        ids.len(),
                        docs.get(*id)
                    )),
                }
            }
        },
    )
    .await;
    let differing: Vec<&String> = original
        .iter()
        .filter(|(id, doc)| rebuilt.get(*id) != Some(doc))
        .map(|(id, _)| id)
        .collect();
    assert!(
        differing.is_empty(),
        "{} of {} documents differ, e.g. {:?} vs {:?}",
        differing.len(),
        original.len(),
        original.get(differing[0]),
        rebuilt.get(differing[0])
    );
    assert!(pipeline.stop().await.is_empty());
}
