//! Rebuilding the message state from the log: after a mixed history of posts, edits and
//! deletes through the write model (relay → topics → indexer), the state folded from the
//! topics alone equals the write model and the index; an index tampered with afterwards (a
//! document changed, a deleted message brought back) is reported by id with the record that
//! last changed it.

use std::time::Duration;

use eventdeck::replay::read_log::read_log;
use eventdeck::replay::verify::{diff_index, diff_store, DifferenceKind};
use eventdeck::search::SearchDoc;
use eventdeck::store::{DeleteMessage, EditMessage, PostMessage};

use crate::harness::{eventually, Bench};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_from_the_log_equals_the_write_model_and_finds_a_tampered_index() {
    let bench = Bench::start().await;
    let store = bench.store();
    let pipeline = bench.pipeline();
    let ids = crate::harness::post_history(&store, 60, "replay").await;
    let index = bench.services.index.clone();
    let topics: Vec<String> = bench
        .services
        .config
        .message_topics()
        .iter()
        .map(|t| t.to_string())
        .collect();
    let cluster = bench.cluster().clone();
    // Wait until the relay published everything and the index caught up with the log.
    let (state, in_index) = eventually(
        "the index agrees with the log",
        Duration::from_secs(60),
        || {
            let (cluster, topics, index, store) = (
                cluster.clone(),
                topics.clone(),
                index.clone(),
                store.clone(),
            );
            async move {
                if store.backlog().await.map_err(|e| e.to_string())?.rows > 0 {
                    return Err("outbox not drained".into());
                }
                let state =
                    tokio::task::spawn_blocking(move || read_log(&cluster, &topics, |_| {}))
                        .await
                        .map_err(|e| e.to_string())?
                        .map_err(|e| e.to_string())?;
                index.refresh().await.map_err(|e| e.to_string())?;
                let ids: Vec<String> = state.docs.keys().cloned().collect();
                let found = index.get(&ids).await.map_err(|e| e.to_string())?;
                let differences = diff_index(&state, &found);
                if differences.is_empty() {
                    Ok((state, found))
                } else {
                    Err(format!(
                        "{} differences, first {}",
                        differences.len(),
                        differences[0]
                    ))
                }
            }
        },
    )
    .await;
    assert_eq!(state.docs.len(), 60);
    assert_eq!(state.live(), 48, "12 of 60 deleted");
    let mut rows = std::collections::HashMap::new();
    for id in &ids {
        let row = store.get(id).await.expect("get").expect("row");
        rows.insert(id.clone(), row);
    }
    assert_eq!(
        diff_store(&state, &rows),
        vec![],
        "the write model equals the log"
    );

    // Tamper with the index: change one document, bring a deleted one back.
    let changed = &ids[0];
    let revived = &ids[1];
    let mut doc: SearchDoc = in_index[changed].clone();
    doc.content = "tampered".into();
    doc.version += 4;
    let mut back: SearchDoc = in_index[revived].clone();
    assert!(back.deleted);
    back.deleted = false;
    back.content = "back from the dead".into();
    back.version += 4;
    index.apply(&[doc, back]).await.expect("tamper");
    index.refresh().await.expect("refresh");
    let found = index.get(&ids).await.expect("get");
    let differences = diff_index(&state, &found);
    let kinds: Vec<(&str, &DifferenceKind)> = differences
        .iter()
        .map(|d| (d.message_id.as_str(), &d.kind))
        .collect();
    assert_eq!(differences.len(), 2, "{differences:?}");
    assert!(
        kinds.contains(&(revived.as_str(), &DifferenceKind::Resurrected)),
        "{kinds:?}"
    );
    assert!(
        kinds
            .iter()
            .any(|(id, k)| *id == changed.as_str() && matches!(k, DifferenceKind::Stale { .. })),
        "{kinds:?}"
    );
    assert!(
        differences.iter().all(|d| d.at.is_some()),
        "each names the record that last changed it"
    );
    assert!(pipeline.stop().await.is_empty());
}

/// The state keeper's compacted topic holds each message's latest state (a tombstone once
/// deleted), across a restart of the keeper (which restores its memory from the topic), and
/// a rebuild from it plus the events after its offsets equals a rebuild from the whole log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_state_topic_holds_each_messages_latest_state_and_a_rebuild_can_start_from_it() {
    use eventdeck::ops::{Command, Control, WorkerId};
    use eventdeck::replay::read_state::{read_state_topic, rebuild_from_state};
    let bench = Bench::start().await;
    let store = bench.store();
    let pipeline = bench
        .services
        .spawn_workers(&[WorkerId::Relay, WorkerId::State], bench.reporter.clone())
        .expect("pipeline");
    let mut ids = Vec::new();
    for i in 0..40 {
        let post = PostMessage {
            channel_id: format!("ch_{}", i % 3),
            author_id: "user_007".into(),
            content: format!("state {i}"),
            attachments: vec![],
        };
        ids.push(
            store
                .post(post, None)
                .await
                .expect("post")
                .message
                .message_id,
        );
        if i == 20 {
            // Restarted mid-history: it restores its memory from its own topic.
            let (reply, answer) = tokio::sync::oneshot::channel();
            pipeline
                .commands
                .send(Command::Control {
                    worker: WorkerId::State,
                    control: Control::Restart,
                    reply: Some(reply),
                })
                .await
                .expect("send");
            answer.await.expect("answer").expect("restart");
        }
    }
    for id in ids.iter().step_by(4) {
        let edit = EditMessage {
            content: format!("edited {id}"),
            editor_id: None,
        };
        store.edit(id, edit).await.expect("edit");
    }
    for id in ids.iter().skip(2).step_by(5) {
        store
            .delete(id, DeleteMessage { deleted_by: None })
            .await
            .expect("delete");
    }
    let config = bench.services.config.clone();
    let topics: Vec<String> = config
        .message_topics()
        .iter()
        .map(|t| t.to_string())
        .collect();
    let cluster = bench.cluster().clone();
    let (log, latest) = eventually(
        "the state topic agrees with the log",
        Duration::from_secs(60),
        || {
            let (cluster, topics, state_topic) =
                (cluster.clone(), topics.clone(), config.topics.state.clone());
            async move {
                tokio::task::spawn_blocking(move || {
                    let log = read_log(&cluster, &topics, |_| {}).map_err(|e| e.to_string())?;
                    let (latest, unreadable) = read_state_topic(&cluster, &state_topic, |_| {})
                        .map_err(|e| e.to_string())?;
                    if unreadable > 0 {
                        return Err(format!("{unreadable} unreadable state records"));
                    }
                    let agrees = log.docs.iter().all(|(id, doc)| match latest.get(id) {
                        Some(None) => doc.deleted,
                        Some(Some(state)) => state == doc,
                        None => false,
                    });
                    if agrees && log.docs.len() == 40 {
                        Ok((log, latest))
                    } else {
                        Err(format!(
                            "{} states for {} messages",
                            latest.len(),
                            log.docs.len()
                        ))
                    }
                })
                .await
                .map_err(|e| e.to_string())?
            }
        },
    )
    .await;
    assert_eq!(
        latest.values().filter(|d| d.is_none()).count(),
        8,
        "8 tombstones"
    );
    assert!(pipeline.stop().await.is_empty());

    let (cluster2, topics2) = (cluster.clone(), topics.clone());
    let from_state = tokio::task::spawn_blocking(move || {
        rebuild_from_state(
            &cluster2,
            &config.topics.state,
            &config.groups.state,
            &topics2,
            |_| {},
        )
    })
    .await
    .expect("join")
    .expect("rebuild from the state");
    let live_log: std::collections::HashMap<_, _> =
        log.docs.iter().filter(|(_, d)| !d.deleted).collect();
    let live_state: std::collections::HashMap<_, _> =
        from_state.docs.iter().filter(|(_, d)| !d.deleted).collect();
    assert_eq!(live_state, live_log);
    assert_eq!(live_log.len(), 32);
}
