//! The analytics worker against the embedded broker: posts, edits and deletes through the
//! write model (relay → message topics) and searches recorded by the search side's activity
//! log (→ `platform.users.activity`) end up as exactly the expected counters and rankings.

use std::time::Duration;

use eventdeck::ops::WorkerId;
use eventdeck::store::{DeleteMessage, EditMessage, PostMessage};

use crate::harness::{eventually, Bench};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn posts_mentions_and_searches_are_counted_per_channel_user_and_term() {
    let bench = Bench::start().await;
    let store = bench.store();
    let pipeline = bench
        .services
        .spawn_workers(
            &[WorkerId::Relay, WorkerId::Analytics],
            bench.reporter.clone(),
        )
        .expect("pipeline");
    // 12 posts: 6 in ch_dev by user_001 (each mentioning user_002), 4 in ch_ops by user_003,
    // 2 in ch_qa by user_004; then 3 edits and 2 deletes.
    let mut ids = Vec::new();
    for (channel, author, n, text) in [
        ("ch_dev", "user_001", 6, "deploy done @user_002"),
        ("ch_ops", "user_003", 4, "pager quiet"),
        ("ch_qa", "user_004", 2, "tests green"),
    ] {
        for _ in 0..n {
            let post = PostMessage {
                channel_id: channel.into(),
                author_id: author.into(),
                content: text.into(),
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
        }
    }
    for id in &ids[..3] {
        let edit = EditMessage {
            content: "edited".into(),
            editor_id: None,
        };
        store.edit(id, edit).await.expect("edit");
    }
    for id in &ids[10..] {
        store
            .delete(id, DeleteMessage { deleted_by: None })
            .await
            .expect("delete");
    }
    let log = bench.services.activity.clone().expect("activity log");
    log.searched("user_009", "배포 Deploy");
    log.searched("user_009", "배포");
    log.searched("user_009", "   "); // not a search

    let board = bench.services.board.clone();
    let summary = eventually("the counters", Duration::from_secs(30), || {
        let board = board.clone();
        async move {
            let s = board.summary(eventdeck::event::now_ms());
            if s.posted == 12 && s.edited == 3 && s.deleted == 2 && s.searched == 2 {
                Ok(s)
            } else {
                Err(format!(
                    "posted {} edited {} deleted {} searched {}",
                    s.posted, s.edited, s.deleted, s.searched
                ))
            }
        }
    })
    .await;
    let names = |r: &[(String, u64)]| -> Vec<(String, u64)> { r.to_vec() };
    assert_eq!(
        names(&summary.top_channels),
        vec![
            ("ch_dev".to_string(), 6),
            ("ch_ops".to_string(), 4),
            ("ch_qa".to_string(), 2)
        ]
    );
    assert_eq!(summary.top_authors[0], ("user_001".to_string(), 6));
    assert_eq!(
        names(&summary.top_mentioned),
        vec![("user_002".to_string(), 6)]
    );
    assert_eq!(
        names(&summary.top_terms),
        vec![("배포".to_string(), 2), ("deploy".to_string(), 1)]
    );
    assert_eq!(
        summary.posted_history.iter().sum::<u64>(),
        12,
        "the sparkline's minutes"
    );
    // `status --json` from another process asks this one (its control socket) for them.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_eventdeck"))
        .args([
            "--data-dir",
            &bench.services.config.data_dir().display().to_string(),
        ])
        .args(["--config", "/dev/null", "status", "--json"])
        .env_remove("EVENTDECK_SEARCH_URL")
        .env_remove("EVENTDECK_KAFKA_BROKERS")
        .output()
        .await
        .expect("eventdeck status");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "status --json: {e}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(report["analytics"]["posted"], 12, "{report}");
    assert_eq!(report["analytics"]["top_terms"][0][0], "배포", "{report}");
    assert_eq!(report["analytics"]["top_mentioned"][0][0], "user_002");
    assert!(pipeline.stop().await.is_empty());
}
