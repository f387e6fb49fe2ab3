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
    let mut ids = Vec::new();
    for i in 0..60 {
        let posted = store
            .post(
                PostMessage {
                    channel_id: format!("ch_{}", i % 4),
                    author_id: "user_001".into(),
                    content: format!("history {i}"),
                    attachments: vec![],
                },
                None,
            )
            .await
            .expect("post");
        ids.push(posted.message.message_id);
    }
    for id in ids.iter().step_by(3) {
        let edit = EditMessage {
            content: format!("edited {id}"),
            editor_id: None,
        };
        store.edit(id, edit).await.expect("edit");
    }
    for id in ids.iter().skip(1).step_by(5) {
        store
            .delete(id, DeleteMessage { deleted_by: None })
            .await
            .expect("delete");
    }
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
