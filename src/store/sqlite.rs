//! The embedded write store: an SQLite-format file (`store.db` in the data directory) through
//! libsql — the same library the embedded broker links, so one SQLite is in the binary (a
//! second one, sqlx's or rusqlite's, does not link beside it). One connection, behind a lock:
//! every command is a short `BEGIN IMMEDIATE` transaction, so they serialize without
//! deadlocks; a 5 s busy timeout covers another process (`eventdeck send`) on the same file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use libsql::{params, Connection, TransactionBehavior};
use tokio::sync::Mutex;

use super::command::{decide, Change, Message};
use super::{Applied, Backlog, CommandError, MessageStore, OutboxClaim, Pending, StoreError};
use crate::config::TopicsConfig;
use crate::event::now_ms;

/// The schema, applied at open; each step once, in order (`PRAGMA user_version` counts them).
const MIGRATIONS: &[&str] = &[
    // 1: messages, outbox, idempotency keys.
    "CREATE TABLE messages (
        message_id  TEXT PRIMARY KEY,
        channel_id  TEXT NOT NULL,
        author_id   TEXT NOT NULL,
        content     TEXT NOT NULL,
        mentions    TEXT NOT NULL,
        attachments TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER,
        deleted_at  INTEGER,
        version     INTEGER NOT NULL
    );
    CREATE TABLE outbox (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id     TEXT NOT NULL UNIQUE,
        topic        TEXT NOT NULL,
        key          TEXT NOT NULL,
        payload      BLOB NOT NULL,
        created_at   INTEGER NOT NULL,
        published_at INTEGER
    );
    CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
    CREATE TABLE idempotency_keys (
        key        TEXT PRIMARY KEY,
        request    TEXT NOT NULL,
        message_id TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );",
];

pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// Held by the open claim: one relay at a time publishes (one process owns the file).
    claim_lock: Mutex<()>,
    path: PathBuf,
    topics: TopicsConfig,
    /// Keeps the database open for as long as the store lives.
    _db: libsql::Database,
}

fn db(context: &'static str) -> impl Fn(libsql::Error) -> StoreError {
    move |e| StoreError::db(context, e)
}

impl SqliteStore {
    /// Opens (creating when missing) the store file and brings its schema up to date.
    pub async fn open(path: &Path, topics: TopicsConfig) -> Result<Self, StoreError> {
        let database = libsql::Builder::new_local(path)
            .build()
            .await
            .map_err(db("opening the store"))?;
        let conn = database.connect().map_err(db("connecting to the store"))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(db("setting the busy timeout"))?;
        // WAL: readers never wait for the writer; NORMAL sync is durable at each commit in WAL
        // mode except for the last transactions on power loss, not on a process crash.
        let _ = conn.query("PRAGMA journal_mode = WAL", ()).await;
        migrate(&conn).await?;
        Ok(Self {
            conn: Mutex::new(conn),
            claim_lock: Mutex::new(()),
            path: path.to_path_buf(),
            topics,
            _db: database,
        })
    }

    /// Reads the row, decides, writes the row and the outbox entry: one transaction. With an
    /// idempotency key, a key seen before answers with its message instead (checked inside
    /// the same transaction, so two concurrent retries cannot both create).
    async fn transact(
        &self,
        message_id: &str,
        change: &Change,
        idempotency: Option<(&str, String)>,
    ) -> Result<Applied, StoreError> {
        let conn = self.conn.lock().await;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .await
            .map_err(db("beginning a transaction"))?;
        let result = async {
            if let Some((key, request)) = &idempotency {
                if let Some(message) = replay(&tx, key, request).await? {
                    return Ok(Applied::Replayed(message));
                }
            }
            let current = read_message(&tx, message_id).await?;
            let decided = decide(message_id, change, current.as_ref(), now_ms())?;
            write_message(&tx, &decided.message, current.is_none()).await?;
            let entry = decided
                .outbox_entry(&self.topics)
                .map_err(|e| StoreError::db("encoding the event", e))?;
            tx.execute(
                "INSERT INTO outbox (event_id, topic, key, payload, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    entry.event_id.as_str(),
                    entry.topic.as_str(),
                    entry.key.as_str(),
                    entry.payload.clone(),
                    entry.created_at
                ],
            )
            .await
            .map_err(db("appending to the outbox"))?;
            if let Some((key, request)) = &idempotency {
                tx.execute(
                    "INSERT INTO idempotency_keys (key, request, message_id, created_at)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![
                        *key,
                        request.as_str(),
                        message_id,
                        decided.message.created_at
                    ],
                )
                .await
                .map_err(db("recording the idempotency key"))?;
            }
            Ok::<_, StoreError>(Applied::Decided(decided))
        }
        .await;
        match result {
            Ok(applied) => {
                tx.commit().await.map_err(db("committing"))?;
                Ok(applied)
            }
            Err(e) => {
                // Nothing of the command stays: neither the row nor the outbox entry.
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }
}

async fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let mut rows = conn
        .query("PRAGMA user_version", ())
        .await
        .map_err(db("reading the schema version"))?;
    let version: i64 = match rows
        .next()
        .await
        .map_err(db("reading the schema version"))?
    {
        Some(row) => row.get(0).map_err(db("reading the schema version"))?,
        None => 0,
    };
    drop(rows);
    for (i, step) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        let to = i + 1;
        conn.execute_batch(&format!(
            "BEGIN; {step}; PRAGMA user_version = {to}; COMMIT;"
        ))
        .await
        .map_err(db("migrating the store schema"))?;
        tracing::info!(version = to, "store schema migrated");
    }
    Ok(())
}

async fn read_message(conn: &Connection, id: &str) -> Result<Option<Message>, StoreError> {
    let mut rows = conn
        .query(
            "SELECT message_id, channel_id, author_id, content, mentions, attachments,
                    created_at, updated_at, deleted_at, version
             FROM messages WHERE message_id = ?1",
            params![id],
        )
        .await
        .map_err(db("reading a message"))?;
    let Some(row) = rows.next().await.map_err(db("reading a message"))? else {
        return Ok(None);
    };
    let get = db("reading a message");
    Ok(Some(Message {
        message_id: row.get(0).map_err(&get)?,
        channel_id: row.get(1).map_err(&get)?,
        author_id: row.get(2).map_err(&get)?,
        content: row.get(3).map_err(&get)?,
        mentions: from_json(&row.get::<String>(4).map_err(&get)?)?,
        attachments: from_json(&row.get::<String>(5).map_err(&get)?)?,
        created_at: row.get(6).map_err(&get)?,
        updated_at: row.get(7).map_err(&get)?,
        deleted_at: row.get(8).map_err(&get)?,
        version: row.get(9).map_err(&get)?,
    }))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::db("decoding a stored message", e))
}

async fn write_message(conn: &Connection, m: &Message, new: bool) -> Result<(), StoreError> {
    let mentions =
        serde_json::to_string(&m.mentions).map_err(|e| StoreError::db("encoding mentions", e))?;
    let attachments = serde_json::to_string(&m.attachments)
        .map_err(|e| StoreError::db("encoding attachments", e))?;
    let sql = if new {
        "INSERT INTO messages (message_id, channel_id, author_id, content, mentions,
             attachments, created_at, updated_at, deleted_at, version)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
    } else {
        "UPDATE messages SET channel_id = ?2, author_id = ?3, content = ?4, mentions = ?5,
             attachments = ?6, created_at = ?7, updated_at = ?8, deleted_at = ?9, version = ?10
         WHERE message_id = ?1"
    };
    conn.execute(
        sql,
        params![
            m.message_id.as_str(),
            m.channel_id.as_str(),
            m.author_id.as_str(),
            m.content.as_str(),
            mentions,
            attachments,
            m.created_at,
            m.updated_at,
            m.deleted_at,
            m.version
        ],
    )
    .await
    .map_err(db("writing a message"))?;
    Ok(())
}

#[async_trait::async_trait]
impl MessageStore for SqliteStore {
    async fn apply(
        &self,
        message_id: &str,
        change: &Change,
        idempotency: Option<(&str, String)>,
    ) -> Result<Applied, StoreError> {
        self.transact(message_id, change, idempotency).await
    }

    async fn get(&self, message_id: &str) -> Result<Option<Message>, StoreError> {
        let conn = self.conn.lock().await;
        read_message(&conn, message_id).await
    }

    async fn pending(&self, limit: usize) -> Result<Vec<Pending>, StoreError> {
        let conn = self.conn.lock().await;
        let mut rows = conn
            .query(
                "SELECT seq, event_id, topic, key, payload, created_at FROM outbox
                 WHERE published_at IS NULL ORDER BY seq LIMIT ?1",
                params![limit as i64],
            )
            .await
            .map_err(db("reading the outbox"))?;
        let get = db("reading the outbox");
        let mut out = Vec::new();
        while let Some(row) = rows.next().await.map_err(&get)? {
            out.push(Pending {
                seq: row.get(0).map_err(&get)?,
                entry: super::OutboxEntry {
                    event_id: row.get(1).map_err(&get)?,
                    topic: row.get(2).map_err(&get)?,
                    key: row.get(3).map_err(&get)?,
                    payload: row.get(4).map_err(&get)?,
                    created_at: row.get(5).map_err(&get)?,
                },
            });
        }
        Ok(out)
    }

    async fn claim(&self, limit: usize) -> Result<Box<dyn OutboxClaim + '_>, StoreError> {
        let guard = self.claim_lock.lock().await;
        let entries = self.pending(limit).await?;
        Ok(Box::new(SqliteClaim {
            store: self,
            entries,
            _guard: guard,
        }))
    }

    async fn mark_published(&self, seqs: &[i64], at_ms: i64) -> Result<(), StoreError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let conn = self.conn.lock().await;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .await
            .map_err(db("beginning a transaction"))?;
        for seq in seqs {
            if let Err(e) = tx
                .execute(
                    "UPDATE outbox SET published_at = ?1 WHERE seq = ?2 AND published_at IS NULL",
                    params![at_ms, *seq],
                )
                .await
            {
                let _ = tx.rollback().await;
                return Err(StoreError::db("marking outbox entries published", e));
            }
        }
        tx.commit().await.map_err(db("committing"))
    }

    async fn backlog(&self) -> Result<Backlog, StoreError> {
        let conn = self.conn.lock().await;
        let mut rows = conn
            .query(
                "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE published_at IS NULL",
                (),
            )
            .await
            .map_err(db("measuring the outbox"))?;
        let get = db("measuring the outbox");
        match rows.next().await.map_err(&get)? {
            Some(row) => Ok(Backlog {
                rows: row.get::<i64>(0).map_err(&get)?.max(0) as u64,
                oldest_ms: row.get(1).map_err(&get)?,
            }),
            None => Ok(Backlog::default()),
        }
    }

    fn describe(&self) -> String {
        format!("embedded store {}", self.path.display())
    }
}

/// A claim on the embedded store: the entries in commit order (a single relay, so every
/// key's prefix is whole), and the claim lock.
struct SqliteClaim<'a> {
    store: &'a SqliteStore,
    entries: Vec<Pending>,
    _guard: tokio::sync::MutexGuard<'a, ()>,
}

#[async_trait::async_trait]
impl OutboxClaim for SqliteClaim<'_> {
    fn entries(&self) -> &[Pending] {
        &self.entries
    }

    async fn finish(self: Box<Self>, published: &[i64], at_ms: i64) -> Result<(), StoreError> {
        self.store.mark_published(published, at_ms).await
    }
}

/// The message created by an earlier request with `key`, when it was the same request.
async fn replay(
    conn: &Connection,
    key: &str,
    request: &str,
) -> Result<Option<Message>, StoreError> {
    let mut rows = conn
        .query(
            "SELECT request, message_id FROM idempotency_keys WHERE key = ?1",
            params![key],
        )
        .await
        .map_err(db("reading idempotency keys"))?;
    let get = db("reading idempotency keys");
    let Some(row) = rows.next().await.map_err(&get)? else {
        return Ok(None);
    };
    let first: String = row.get(0).map_err(&get)?;
    let message_id: String = row.get(1).map_err(&get)?;
    drop(rows);
    if first != request {
        return Err(CommandError::KeyReused(key.to_string()).into());
    }
    read_message(conn, &message_id)
        .await?
        .map(Some)
        .ok_or_else(|| CommandError::NotFound(message_id).into())
}
