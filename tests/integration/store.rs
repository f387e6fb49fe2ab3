//! The write model on both stores — the embedded file (libsql) and a real PostgreSQL — with
//! one suite (`embedded::…`, `postgres::…`): a command is one transaction that writes the row
//! and its outbox entry, or nothing (a real failure injected by a database trigger); edits and
//! deletes of unknown or deleted messages are refused and write nothing; a retried post with
//! the same Idempotency-Key creates one message, also when the retries race; the outbox keeps
//! commit order and survives a restart.

use eventdeck::config::TopicsConfig;
use eventdeck::event::{parse_message_event, MessageEvent};
use eventdeck::store::postgres::PgStore;
use eventdeck::store::sqlite::SqliteStore;
use eventdeck::store::{
    CommandError, DeleteMessage, EditMessage, MessageStore, PostMessage, StoreError,
};

/// Where a test's store lives.
enum Db {
    Embedded(tempfile::TempDir),
    Postgres(String),
}

#[derive(Clone, Copy)]
enum Kind {
    Embedded,
    Postgres,
}

macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Kind::Embedded).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Kind::Postgres).await;
                }
            )*
        }
    };
}

on_both_stores!(
    post_edit_delete_write_rows_and_outbox_entries_in_commit_order,
    refused_commands_write_nothing,
    a_transaction_that_fails_leaves_neither_row_nor_outbox_entry,
    a_retried_post_with_the_same_idempotency_key_creates_one_message,
);

impl Db {
    async fn new(kind: Kind) -> Db {
        match kind {
            Kind::Embedded => Db::Embedded(tempfile::tempdir().expect("tempdir")),
            Kind::Postgres => Db::Postgres(crate::postgres::database().await),
        }
    }

    async fn open(&self) -> Box<dyn MessageStore> {
        match self {
            Db::Embedded(dir) => Box::new(
                SqliteStore::open(&dir.path().join("store.db"), TopicsConfig::default())
                    .await
                    .expect("store opens"),
            ),
            Db::Postgres(url) => Box::new(
                PgStore::open(url, TopicsConfig::default())
                    .await
                    .expect("store opens"),
            ),
        }
    }

    /// Runs SQL beside the store, as an operator would.
    async fn sql(&self, sql: &str) {
        match self {
            Db::Embedded(dir) => {
                let db = libsql::Builder::new_local(dir.path().join("store.db"))
                    .build()
                    .await
                    .expect("db");
                let conn = db.connect().expect("conn");
                conn.execute_batch(sql).await.expect(sql);
            }
            Db::Postgres(url) => {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url)
                    .await
                    .expect("connect");
                sqlx::raw_sql(sql).execute(&mut conn).await.expect(sql);
            }
        }
    }

    async fn count_messages(&self) -> i64 {
        match self {
            Db::Embedded(dir) => {
                let db = libsql::Builder::new_local(dir.path().join("store.db"))
                    .build()
                    .await
                    .expect("db");
                let conn = db.connect().expect("conn");
                let mut rows = conn
                    .query("SELECT COUNT(*) FROM messages", ())
                    .await
                    .expect("count");
                let row = rows.next().await.expect("row").expect("a row");
                row.get::<i64>(0).expect("count")
            }
            Db::Postgres(url) => {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url)
                    .await
                    .expect("connect");
                sqlx::query_scalar("SELECT COUNT(*) FROM messages")
                    .fetch_one(&mut conn)
                    .await
                    .expect("count")
            }
        }
    }
}

fn post(content: &str) -> PostMessage {
    PostMessage {
        channel_id: "ch_dev".into(),
        author_id: "user_001".into(),
        content: content.into(),
        attachments: vec![],
    }
}

async fn post_edit_delete_write_rows_and_outbox_entries_in_commit_order(kind: Kind) {
    let db = Db::new(kind).await;
    let store = db.open().await;
    let posted = store
        .post(post("배포 시작 @user_002"), None)
        .await
        .expect("post");
    assert!(posted.created);
    let id = posted.message.message_id.clone();
    assert!(id.starts_with("msg_"));
    assert_eq!(posted.message.mentions, ["user_002"]);
    let edited = store
        .edit(
            &id,
            EditMessage {
                content: "배포 완료 @user_003".into(),
                editor_id: None,
            },
        )
        .await
        .expect("edit");
    assert_eq!(
        (edited.version, edited.mentions.clone()),
        (2, vec!["user_003".to_string()])
    );
    let deleted = store
        .delete(&id, DeleteMessage { deleted_by: None })
        .await
        .expect("delete");
    assert!(deleted.deleted_at.is_some());
    assert_eq!(store.get(&id).await.expect("get"), Some(deleted.clone()));

    let pending = store.pending(10).await.expect("pending");
    let kinds: Vec<(&str, &str)> = pending
        .iter()
        .map(|p| (p.entry.topic.as_str(), p.entry.key.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("platform.messages.created", "ch_dev"),
            ("platform.messages.updated", "ch_dev"),
            ("platform.messages.deleted", "ch_dev"),
        ]
    );
    assert!(pending.windows(2).all(|w| w[0].seq < w[1].seq));
    // Each payload is the guide's envelope of the change, with the entry's event id.
    for p in &pending {
        let event = parse_message_event(&p.entry.payload).expect("an event");
        assert_eq!(event.event_id, p.entry.event_id);
        assert_eq!(event.message_id(), id);
    }
    match parse_message_event(&pending[1].entry.payload).map(|e| e.event) {
        Ok(MessageEvent::Updated(u)) => assert_eq!(u.content, "배포 완료 @user_003"),
        other => panic!("{other:?}"),
    }
    let backlog = store.backlog().await.expect("backlog");
    assert_eq!(backlog.rows, 3);
    assert_eq!(backlog.oldest_ms, Some(pending[0].entry.created_at));

    store
        .mark_published(&[pending[0].seq, pending[1].seq], 1)
        .await
        .expect("published");
    assert_eq!(store.backlog().await.expect("backlog").rows, 1);
    // A restart keeps rows and the unpublished entry; the schema is not applied twice.
    drop(store);
    let store = db.open().await;
    assert_eq!(store.get(&id).await.expect("get"), Some(deleted));
    let left = store.pending(10).await.expect("pending");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].seq, pending[2].seq);
}

async fn refused_commands_write_nothing(kind: Kind) {
    let db = Db::new(kind).await;
    let store = db.open().await;
    let edit = || EditMessage {
        content: "x".into(),
        editor_id: None,
    };
    match store.edit("msg_nope", edit()).await {
        Err(StoreError::Command(e @ CommandError::NotFound(_))) => assert_eq!(e.status(), 404),
        other => panic!("{other:?}"),
    }
    match store.post(post(""), None).await {
        Err(StoreError::Command(e @ CommandError::Invalid { .. })) => assert_eq!(e.status(), 422),
        other => panic!("{other:?}"),
    }
    let id = store
        .post(post("hi"), None)
        .await
        .expect("post")
        .message
        .message_id;
    store
        .delete(&id, DeleteMessage { deleted_by: None })
        .await
        .expect("delete");
    match store.edit(&id, edit()).await {
        Err(StoreError::Command(e @ CommandError::Deleted(_))) => assert_eq!(e.status(), 409),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.backlog().await.expect("backlog").rows,
        2,
        "post + delete only"
    );
}

async fn a_transaction_that_fails_leaves_neither_row_nor_outbox_entry(kind: Kind) {
    let db = Db::new(kind).await;
    let store = db.open().await;
    // A real failure inside the transaction, after the row was written: the database
    // refuses the outbox insert.
    match kind {
        Kind::Embedded => {
            db.sql("CREATE TRIGGER refuse BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'injected'); END")
                .await
        }
        Kind::Postgres => {
            db.sql(
                "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected'; END $$ LANGUAGE plpgsql;
                 CREATE TRIGGER refuse BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION refuse();",
            )
            .await
        }
    }
    let err = store.post(post("never stored"), None).await.unwrap_err();
    assert!(matches!(err, StoreError::Database { .. }), "{err}");
    assert!(err.to_string().contains("appending to the outbox"), "{err}");
    assert_eq!(db.count_messages().await, 0, "the row was rolled back");
    match kind {
        Kind::Embedded => db.sql("DROP TRIGGER refuse").await,
        Kind::Postgres => db.sql("DROP TRIGGER refuse ON outbox").await,
    }
    assert_eq!(store.backlog().await.expect("backlog").rows, 0);
    // And the store goes on working.
    store.post(post("stored"), None).await.expect("post");
    assert_eq!(store.backlog().await.expect("backlog").rows, 1);
}

async fn a_retried_post_with_the_same_idempotency_key_creates_one_message(kind: Kind) {
    let db = Db::new(kind).await;
    let store = db.open().await;
    let first = store
        .post(post("once"), Some("retry-1"))
        .await
        .expect("first");
    let again = store
        .post(post("once"), Some("retry-1"))
        .await
        .expect("again");
    assert!(first.created && !again.created);
    assert_eq!(first.message, again.message);
    assert_eq!(store.backlog().await.expect("backlog").rows, 1);
    match store.post(post("something else"), Some("retry-1")).await {
        Err(StoreError::Command(CommandError::KeyReused(k))) => assert_eq!(k, "retry-1"),
        other => panic!("{other:?}"),
    }
    match store.post(post("x"), Some("bad key")).await {
        Err(StoreError::Command(CommandError::Invalid { field, .. })) => {
            assert_eq!(field, "Idempotency-Key")
        }
        other => panic!("{other:?}"),
    }
    // Concurrent retries of one request: still one message.
    let store: std::sync::Arc<dyn MessageStore> = std::sync::Arc::from(store);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.post(post("burst"), Some("burst-1")).await })
        })
        .collect();
    let mut created = 0;
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let posted = t.await.expect("join").expect("post");
        created += posted.created as usize;
        ids.insert(posted.message.message_id);
    }
    assert_eq!((created, ids.len()), (1, 1));
    assert_eq!(store.backlog().await.expect("backlog").rows, 2);
}
