//! The write store on PostgreSQL (sqlx, postgres only). Same rules and same behaviour as the
//! embedded store; what PostgreSQL needs besides:
//! - several eventdeck processes may write at once, so a command locks what it reads: the
//!   row (`FOR UPDATE`), the idempotency key and the channel (transaction-scoped advisory
//!   locks). The channel lock makes the outbox order of one channel (one Kafka key) its
//!   commit order, which a sequence alone does not guarantee under concurrency;
//! - migrations run under an advisory lock, so two processes starting together apply each
//!   step once.

use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};

use super::command::{decide, Change, Message};
use super::{
    key_order_prefix, Applied, Backlog, CommandError, MessageStore, OutboxClaim, OutboxEntry,
    Pending, StoreError,
};
use crate::config::{redact_userinfo, TopicsConfig};
use crate::event::now_ms;

/// Advisory lock key of the migrations ("evdk" in ASCII).
const MIGRATION_LOCK: i64 = 0x6576_646b;

const MIGRATIONS: &[&str] = &[
    // 1: messages, outbox, idempotency keys.
    "CREATE TABLE messages (
        message_id  TEXT PRIMARY KEY,
        channel_id  TEXT NOT NULL,
        author_id   TEXT NOT NULL,
        content     TEXT NOT NULL,
        mentions    JSONB NOT NULL,
        attachments JSONB NOT NULL,
        created_at  BIGINT NOT NULL,
        updated_at  BIGINT,
        deleted_at  BIGINT,
        version     BIGINT NOT NULL
    );
    CREATE TABLE outbox (
        seq          BIGSERIAL PRIMARY KEY,
        event_id     TEXT NOT NULL UNIQUE,
        topic        TEXT NOT NULL,
        key          TEXT NOT NULL,
        payload      BYTEA NOT NULL,
        created_at   BIGINT NOT NULL,
        published_at BIGINT
    );
    CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
    CREATE TABLE idempotency_keys (
        key        TEXT PRIMARY KEY,
        request    TEXT NOT NULL,
        message_id TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );",
];

pub struct PgStore {
    pool: PgPool,
    /// The URL without its password, for `describe`.
    shown: String,
    topics: TopicsConfig,
}

fn db(context: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| StoreError::db(context, e)
}

impl PgStore {
    /// Connects and brings the schema up to date.
    pub async fn open(url: &str, topics: TopicsConfig) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(db("connecting to PostgreSQL"))?;
        migrate(&pool).await?;
        Ok(Self {
            pool,
            shown: redact_userinfo(url),
            topics,
        })
    }

    /// Reads the row, decides, writes the row and the outbox entry: one transaction.
    async fn transact(
        &self,
        message_id: &str,
        change: &Change,
        idempotency: Option<(&str, String)>,
    ) -> Result<Applied, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("beginning a transaction"))?;
        // Dropped without commit on any error below: sqlx rolls the transaction back.
        if let Some((key, request)) = &idempotency {
            lock(&mut tx, "key", key).await?;
            if let Some(message) = replay(&mut tx, key, request).await? {
                tx.commit().await.map_err(db("committing"))?;
                return Ok(Applied::Replayed(message));
            }
        }
        let current = read_message(&mut tx, message_id, true).await?;
        let channel = match (&current, change) {
            (Some(m), _) => m.channel_id.clone(),
            (None, Change::Post(p)) => p.channel_id.clone(),
            (None, _) => String::new(),
        };
        let decided = decide(message_id, change, current.as_ref(), now_ms())?;
        lock(&mut tx, "channel", &channel).await?;
        write_message(&mut tx, &decided.message).await?;
        let entry = decided
            .outbox_entry(&self.topics)
            .map_err(|e| StoreError::db("encoding the event", e))?;
        sqlx::query(
            "INSERT INTO outbox (event_id, topic, key, payload, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&entry.event_id)
        .bind(&entry.topic)
        .bind(&entry.key)
        .bind(&entry.payload)
        .bind(entry.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db("appending to the outbox"))?;
        if let Some((key, request)) = &idempotency {
            sqlx::query(
                "INSERT INTO idempotency_keys (key, request, message_id, created_at)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(key)
            .bind(request)
            .bind(message_id)
            .bind(decided.message.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db("recording the idempotency key"))?;
        }
        tx.commit().await.map_err(db("committing"))?;
        Ok(Applied::Decided(decided))
    }
}

/// A transaction-scoped advisory lock on `kind:name`.
async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    kind: &str,
    name: &str,
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("eventdeck:{kind}:{name}"))
        .execute(&mut **tx)
        .await
        .map_err(db("taking an advisory lock"))?;
    Ok(())
}

async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    let mut tx = pool
        .begin()
        .await
        .map_err(db("migrating the store schema"))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(db("locking the migrations"))?;
    sqlx::query("CREATE TABLE IF NOT EXISTS eventdeck_schema (version INT NOT NULL)")
        .execute(&mut *tx)
        .await
        .map_err(db("migrating the store schema"))?;
    let version: Option<i32> = sqlx::query_scalar("SELECT MAX(version) FROM eventdeck_schema")
        .fetch_one(&mut *tx)
        .await
        .map_err(db("reading the schema version"))?;
    for (i, step) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(version.unwrap_or(0).max(0) as usize)
    {
        sqlx::raw_sql(step)
            .execute(&mut *tx)
            .await
            .map_err(db("migrating the store schema"))?;
        sqlx::query("INSERT INTO eventdeck_schema (version) VALUES ($1)")
            .bind(i as i32 + 1)
            .execute(&mut *tx)
            .await
            .map_err(db("migrating the store schema"))?;
        tracing::info!(version = i + 1, "store schema migrated");
    }
    tx.commit().await.map_err(db("migrating the store schema"))
}

const SELECT_MESSAGE: &str = "SELECT message_id, channel_id, author_id, content,
    mentions::text AS mentions, attachments::text AS attachments,
    created_at, updated_at, deleted_at, version FROM messages WHERE message_id = $1";

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::db("decoding a stored message", e))
}

fn message_of(row: &PgRow) -> Result<Message, StoreError> {
    let get = db("reading a message");
    Ok(Message {
        message_id: row.try_get("message_id").map_err(&get)?,
        channel_id: row.try_get("channel_id").map_err(&get)?,
        author_id: row.try_get("author_id").map_err(&get)?,
        content: row.try_get("content").map_err(&get)?,
        mentions: from_json(&row.try_get::<String, _>("mentions").map_err(&get)?)?,
        attachments: from_json(&row.try_get::<String, _>("attachments").map_err(&get)?)?,
        created_at: row.try_get("created_at").map_err(&get)?,
        updated_at: row.try_get("updated_at").map_err(&get)?,
        deleted_at: row.try_get("deleted_at").map_err(&get)?,
        version: row.try_get("version").map_err(&get)?,
    })
}

async fn read_message(
    tx: &mut Transaction<'_, Postgres>,
    id: &str,
    for_update: bool,
) -> Result<Option<Message>, StoreError> {
    let sql = if for_update {
        format!("{SELECT_MESSAGE} FOR UPDATE")
    } else {
        SELECT_MESSAGE.to_string()
    };
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db("reading a message"))?;
    row.as_ref().map(message_of).transpose()
}

async fn write_message(tx: &mut Transaction<'_, Postgres>, m: &Message) -> Result<(), StoreError> {
    let mentions =
        serde_json::to_string(&m.mentions).map_err(|e| StoreError::db("encoding mentions", e))?;
    let attachments = serde_json::to_string(&m.attachments)
        .map_err(|e| StoreError::db("encoding attachments", e))?;
    sqlx::query(
        "INSERT INTO messages (message_id, channel_id, author_id, content, mentions,
             attachments, created_at, updated_at, deleted_at, version)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9, $10)
         ON CONFLICT (message_id) DO UPDATE SET content = EXCLUDED.content,
             mentions = EXCLUDED.mentions, attachments = EXCLUDED.attachments,
             updated_at = EXCLUDED.updated_at, deleted_at = EXCLUDED.deleted_at,
             version = EXCLUDED.version",
    )
    .bind(&m.message_id)
    .bind(&m.channel_id)
    .bind(&m.author_id)
    .bind(&m.content)
    .bind(mentions)
    .bind(attachments)
    .bind(m.created_at)
    .bind(m.updated_at)
    .bind(m.deleted_at)
    .bind(m.version)
    .execute(&mut **tx)
    .await
    .map_err(db("writing a message"))?;
    Ok(())
}

fn pending_of(row: &PgRow) -> Result<Pending, StoreError> {
    let get = db("reading the outbox");
    Ok(Pending {
        seq: row.try_get("seq").map_err(&get)?,
        entry: OutboxEntry {
            event_id: row.try_get("event_id").map_err(&get)?,
            topic: row.try_get("topic").map_err(&get)?,
            key: row.try_get("key").map_err(&get)?,
            payload: row.try_get("payload").map_err(&get)?,
            created_at: row.try_get("created_at").map_err(&get)?,
        },
    })
}

/// A claim on PostgreSQL: the claimed rows stay locked (`FOR UPDATE`) by this transaction
/// until it finishes; a relay that dies drops the connection, the transaction rolls back and
/// the rows are offered again.
struct PgClaim {
    entries: Vec<Pending>,
    tx: Transaction<'static, Postgres>,
}

#[async_trait::async_trait]
impl OutboxClaim for PgClaim {
    fn entries(&self) -> &[Pending] {
        &self.entries
    }

    async fn finish(mut self: Box<Self>, published: &[i64], at_ms: i64) -> Result<(), StoreError> {
        if !published.is_empty() {
            sqlx::query("UPDATE outbox SET published_at = $1 WHERE seq = ANY($2)")
                .bind(at_ms)
                .bind(published)
                .execute(&mut *self.tx)
                .await
                .map_err(db("marking outbox entries published"))?;
        }
        self.tx.commit().await.map_err(db("committing"))
    }
}

async fn replay(
    tx: &mut Transaction<'_, Postgres>,
    key: &str,
    request: &str,
) -> Result<Option<Message>, StoreError> {
    let row = sqlx::query("SELECT request, message_id FROM idempotency_keys WHERE key = $1")
        .bind(key)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db("reading idempotency keys"))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let get = db("reading idempotency keys");
    let first: String = row.try_get("request").map_err(&get)?;
    let message_id: String = row.try_get("message_id").map_err(&get)?;
    if first != request {
        return Err(CommandError::KeyReused(key.to_string()).into());
    }
    read_message(tx, &message_id, false)
        .await?
        .map(Some)
        .ok_or_else(|| CommandError::NotFound(message_id).into())
}

#[async_trait::async_trait]
impl MessageStore for PgStore {
    async fn apply(
        &self,
        message_id: &str,
        change: &Change,
        idempotency: Option<(&str, String)>,
    ) -> Result<Applied, StoreError> {
        self.transact(message_id, change, idempotency).await
    }

    async fn get(&self, message_id: &str) -> Result<Option<Message>, StoreError> {
        let row = sqlx::query(SELECT_MESSAGE)
            .bind(message_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading a message"))?;
        row.as_ref().map(message_of).transpose()
    }

    async fn pending(&self, limit: usize) -> Result<Vec<Pending>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, event_id, topic, key, payload, created_at FROM outbox
             WHERE published_at IS NULL ORDER BY seq LIMIT $1",
        )
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading the outbox"))?;
        rows.iter().map(pending_of).collect()
    }

    async fn claim(&self, limit: usize) -> Result<Box<dyn OutboxClaim + '_>, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("beginning a transaction"))?;
        // Rows another relay holds are skipped, never waited for, never taken twice.
        let rows = sqlx::query(
            "SELECT seq, event_id, topic, key, payload, created_at FROM outbox
             WHERE published_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("claiming outbox entries"))?;
        let ours = rows.iter().map(pending_of).collect::<Result<Vec<_>, _>>()?;
        let keys: Vec<String> = ours.iter().map(|p| p.entry.key.clone()).collect();
        let waiting: Vec<(i64, String)> = sqlx::query_as(
            "SELECT seq, key FROM outbox WHERE published_at IS NULL AND key = ANY($1)",
        )
        .bind(&keys)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("claiming outbox entries"))?;
        Ok(Box::new(PgClaim {
            entries: key_order_prefix(ours, &waiting),
            tx,
        }))
    }

    async fn mark_published(&self, seqs: &[i64], at_ms: i64) -> Result<(), StoreError> {
        if seqs.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE outbox SET published_at = $1 WHERE seq = ANY($2) AND published_at IS NULL",
        )
        .bind(at_ms)
        .bind(seqs)
        .execute(&self.pool)
        .await
        .map_err(db("marking outbox entries published"))?;
        Ok(())
    }

    async fn backlog(&self) -> Result<Backlog, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS rows, MIN(created_at) AS oldest FROM outbox
             WHERE published_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db("measuring the outbox"))?;
        let get = db("measuring the outbox");
        Ok(Backlog {
            rows: row.try_get::<i64, _>("rows").map_err(&get)?.max(0) as u64,
            oldest_ms: row.try_get("oldest").map_err(&get)?,
        })
    }

    fn describe(&self) -> String {
        format!("postgres {}", self.shown)
    }
}
