//! The HTTP API against real parts: every route with good and bad input on both stores (the
//! embedded file and PostgreSQL) behind a real server on 127.0.0.1; a message posted to
//! `eventdeck serve` (the binary, embedded default) found by `GET /messages/search` after
//! row → outbox → topic → index; and the OpenAPI document checked against the running
//! server by schemathesis (a bounded run).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use eventdeck::api::{self, ApiState};
use eventdeck::config::{Secret, TopicsConfig};
use eventdeck::search::local::LocalIndex;
use eventdeck::store::postgres::PgStore;
use eventdeck::store::sqlite::SqliteStore;
use eventdeck::store::SharedStore;

use crate::harness::eventually;
use crate::http::{request, Response};

const TOKEN: &str = "t0ken-for-tests";
const AUTH: (&str, &str) = ("Authorization", "Bearer t0ken-for-tests");
const JSON: (&str, &str) = ("Content-Type", "application/json");

struct Server {
    addr: SocketAddr,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn server(postgres: bool) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: SharedStore = if postgres {
        let url = crate::postgres::database().await;
        Arc::new(
            PgStore::open(&url, TopicsConfig::default())
                .await
                .expect("store"),
        )
    } else {
        Arc::new(
            SqliteStore::open(&dir.path().join("store.db"), TopicsConfig::default())
                .await
                .expect("store"),
        )
    };
    let index = Arc::new(LocalIndex::open(&dir.path().join("index")).expect("index"));
    let state = ApiState {
        store: Ok(store),
        index,
        snapshots: None,
        token: Secret::new(TOKEN),
        meter: Default::default(),
        activity: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel();
    tokio::spawn(api::serve_on(listener, state, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        _dir: dir,
        _stop: stop,
    }
}

fn assert_error(r: &Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(r.status, status, "{}", r.text());
    let body = r.json();
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_with_good_and_bad_input_on_the_embedded_store() {
    every_route(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_with_good_and_bad_input_on_postgresql() {
    every_route(true).await;
}

async fn every_route(postgres: bool) {
    let s = server(postgres).await;
    let a = s.addr;
    let post = |body: &'static str| async move {
        request(a, "POST", "/messages", &[AUTH, JSON], body.as_bytes()).await
    };

    // Good post: 201, the message with its id, and where it lives.
    let r = post(r#"{"channel_id":"ch_dev","author_id":"user_1","content":"deploy done @user_2"}"#)
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let m = r.json();
    let id = m["message_id"].as_str().expect("message_id").to_string();
    assert!(id.starts_with("msg_"), "{id}");
    assert_eq!(m["mentions"], serde_json::json!(["user_2"]));
    assert_eq!(m["version"], 1);
    assert_eq!(
        r.header("location"),
        Some(format!("/messages/{id}").as_str())
    );
    let got = request(a, "GET", &format!("/messages/{id}"), &[], b"").await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json(), m);

    // Bad posts: each its own status, a JSON body, nothing written.
    assert_error(
        &post(r#"{"channel_id":"ch_dev","#).await,
        400,
        "bad_request",
    );
    assert_error(&post("").await, 400, "bad_request");
    let e = assert_error(
        &post(r#"{"channel_id":"ch_dev","author_id":"user_1"}"#).await,
        422,
        "unprocessable",
    );
    assert_eq!(e["field"], "content");
    assert_error(
        &post(r#"{"channel_id":7,"author_id":"user_1","content":"x"}"#).await,
        422,
        "unprocessable",
    );
    let e = assert_error(
        &post(r#"{"channel_id":"ch_dev","author_id":"user_1","content":"   "}"#).await,
        422,
        "unprocessable",
    );
    assert_eq!(e["field"], "content");
    let e = assert_error(
        &post(r#"{"channel_id":"general","author_id":"user_1","content":"x"}"#).await,
        422,
        "unprocessable",
    );
    assert_eq!(e["field"], "channel_id");
    let long = format!(
        r#"{{"channel_id":"ch_dev","author_id":"user_1","content":"{}"}}"#,
        "가".repeat(4_001)
    );
    let r = request(a, "POST", "/messages", &[AUTH, JSON], long.as_bytes()).await;
    assert_eq!(assert_error(&r, 422, "unprocessable")["field"], "content");
    let huge = format!(
        r#"{{"channel_id":"ch_dev","author_id":"user_1","content":"{}"}}"#,
        "x".repeat(70_000)
    );
    let r = request(a, "POST", "/messages", &[AUTH, JSON], huge.as_bytes()).await;
    assert_error(&r, 413, "payload_too_large");
    let r = request(
        a,
        "POST",
        "/messages",
        &[AUTH, ("Content-Type", "text/plain")],
        br#"{"channel_id":"ch_dev","author_id":"user_1","content":"x"}"#,
    )
    .await;
    assert_error(&r, 415, "unsupported_media_type");
    let good = br#"{"channel_id":"ch_dev","author_id":"user_1","content":"x"}"#;
    let r = request(a, "POST", "/messages", &[JSON], good).await;
    assert_error(&r, 401, "unauthorized");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let r = request(
        a,
        "POST",
        "/messages",
        &[JSON, ("Authorization", "Bearer wrong")],
        good,
    )
    .await;
    let e = assert_error(&r, 401, "unauthorized");
    assert!(!e.to_string().contains(TOKEN), "the token is never echoed");

    // Idempotency-Key: a retry answers the first message; another body under it is refused.
    let keyed = |body: &'static [u8]| async move {
        request(
            a,
            "POST",
            "/messages",
            &[AUTH, JSON, ("Idempotency-Key", "retry-1")],
            body,
        )
        .await
    };
    let first = keyed(br#"{"channel_id":"ch_ops","author_id":"user_3","content":"once"}"#).await;
    assert_eq!(first.status, 201, "{}", first.text());
    let again = keyed(br#"{"channel_id":"ch_ops","author_id":"user_3","content":"once"}"#).await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json()["message_id"], first.json()["message_id"]);
    let other = keyed(br#"{"channel_id":"ch_ops","author_id":"user_3","content":"twice"}"#).await;
    assert_error(&other, 422, "unprocessable");

    // Edit: good, unknown, bad input.
    let path = format!("/messages/{id}");
    let r = request(
        a,
        "PATCH",
        &path,
        &[AUTH, JSON],
        br#"{"content":"deploy v2"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["version"], 2);
    assert_eq!(r.json()["content"], "deploy v2");
    let r = request(
        a,
        "PATCH",
        "/messages/msg_unknown",
        &[AUTH, JSON],
        br#"{"content":"x"}"#,
    )
    .await;
    assert_error(&r, 404, "not_found");
    let r = request(a, "PATCH", &path, &[AUTH, JSON], br#"{"content":""}"#).await;
    assert_error(&r, 422, "unprocessable");
    let r = request(a, "PATCH", &path, &[AUTH, JSON], br#"{"content":"#).await;
    assert_error(&r, 400, "bad_request");
    let r = request(a, "PATCH", &path, &[JSON], br#"{"content":"x"}"#).await;
    assert_error(&r, 401, "unauthorized");

    // Delete, then every change of the deleted message is a conflict; reading it still works.
    let r = request(
        a,
        "DELETE",
        &format!("{path}?deleted_by=user_9"),
        &[AUTH],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["deleted_at"].as_i64().is_some());
    assert_error(
        &request(a, "DELETE", &path, &[AUTH], b"").await,
        409,
        "conflict",
    );
    assert_error(
        &request(a, "PATCH", &path, &[AUTH, JSON], br#"{"content":"back"}"#).await,
        409,
        "conflict",
    );
    assert_error(
        &request(a, "DELETE", "/messages/msg_unknown", &[AUTH], b"").await,
        404,
        "not_found",
    );
    assert_error(
        &request(
            a,
            "DELETE",
            "/messages/msg_x?deleted_by=nobody",
            &[AUTH],
            b"",
        )
        .await,
        404,
        "not_found",
    );
    let r = request(a, "GET", &path, &[], b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["version"], 3);
    assert_error(
        &request(a, "GET", "/messages/msg_unknown", &[], b"").await,
        404,
        "not_found",
    );

    // The query side: parameters checked, answers shaped like messages.
    let r = request(a, "GET", "/messages/search?q=deploy&size=5", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["size"], 5);
    for bad in ["size=0", "page=x", "from=yesterday", "sort=up", "limit=3"] {
        let r = request(a, "GET", &format!("/messages/search?{bad}"), &[], b"").await;
        assert_error(&r, 400, "bad_request");
    }

    // Health, metrics, unknown routes and methods.
    let r = request(a, "GET", "/healthz", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "ok");
    let r = request(a, "GET", "/metrics", &[], b"").await;
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/plain")));
    assert_error(
        &request(a, "GET", "/nope", &[], b"").await,
        404,
        "not_found",
    );
    assert_error(
        &request(a, "PUT", "/messages", &[AUTH, JSON], b"{}").await,
        405,
        "method_not_allowed",
    );
}

const BIN: &str = env!("CARGO_BIN_EXE_eventdeck");

/// `eventdeck serve` on an empty data directory (embedded broker, local index, store file),
/// on a free port with a token; killed when dropped.
struct Serve {
    child: std::process::Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn start_serve() -> Serve {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let child = std::process::Command::new(BIN)
        .args([
            "--config",
            "/dev/null",
            "--embedded-port",
            "0",
            "--data-dir",
        ])
        .arg(dir.path())
        .arg("serve")
        .env_remove("EVENTDECK_SEARCH_URL")
        .env_remove("EVENTDECK_KAFKA_BROKERS")
        .env_remove("EVENTDECK_STORE_URL")
        .env("EVENTDECK_API_ADDR", addr.to_string())
        .env("EVENTDECK_API_TOKEN", TOKEN)
        .env("EVENTDECK_INDEXER_FLUSH_INTERVAL_MS", "50")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn eventdeck serve");
    let serve = Serve {
        child,
        addr,
        _dir: dir,
    };
    eventually(
        "eventdeck serve answers /healthz",
        Duration::from_secs(60),
        || async {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(_) => {
                    let r = request(addr, "GET", "/healthz", &[], b"").await;
                    (r.status == 200).then_some(()).ok_or(r.text())
                }
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await;
    serve
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_posted_to_serve_goes_row_outbox_topic_index_and_is_found() {
    let serve = start_serve().await;
    let a = serve.addr;
    let r = request(
        a,
        "POST",
        "/messages",
        &[AUTH, JSON],
        r#"{"channel_id":"ch_launch","author_id":"user_7","content":"rocket 발사 at noon @user_8"}"#
            .as_bytes(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["message_id"].as_str().expect("id").to_string();
    let hit = eventually(
        "the posted message is searchable",
        Duration::from_secs(60),
        || async {
            let r = request(
                a,
                "GET",
                "/messages/search?q=rocket&channel=ch_launch",
                &[],
                b"",
            )
            .await;
            let body = r.json();
            body["hits"]
                .as_array()
                .and_then(|hits| {
                    hits.iter()
                        .find(|h| h["message_id"] == id.as_str())
                        .cloned()
                })
                .ok_or(body.to_string())
        },
    )
    .await;
    assert_eq!(hit["author_id"], "user_7");
    assert_eq!(hit["mentions"], serde_json::json!(["user_8"]));

    // The edit travels the same way; the index keeps the newer version.
    let r = request(
        a,
        "PATCH",
        &format!("/messages/{id}"),
        &[AUTH, JSON],
        br#"{"content":"rocket launch moved to 3pm"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    eventually(
        "the edit is searchable",
        Duration::from_secs(60),
        || async {
            let r = request(a, "GET", "/messages/search?q=3pm", &[], b"").await;
            let body = r.json();
            (body["total"] == 1).then_some(()).ok_or(body.to_string())
        },
    )
    .await;
    // /metrics counts the writes, and the outbox has drained.
    let metrics = eventually(
        "metrics show the writes and an empty outbox",
        Duration::from_secs(30),
        || async {
            let text = request(a, "GET", "/metrics", &[], b"").await.text();
            (text.contains("eventdeck_cqrs_operations_total{side=\"write\"} 2")
                && text.contains("eventdeck_outbox_backlog_rows{store=")
                && text
                    .lines()
                    .any(|l| l.starts_with("eventdeck_outbox_backlog_rows{") && l.ends_with(" 0")))
            .then_some(text.clone())
            .ok_or(text)
        },
    )
    .await;
    assert!(metrics.contains("eventdeck_cqrs_latency_seconds{side=\"commit_to_searchable\""));
}

/// schemathesis (pinned, installed by the test command) generates requests from
/// api/openapi.yaml — valid and invalid — and fails on any 5xx, any answer whose status or
/// body the document does not describe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_holds_against_the_running_server() {
    let st = std::env::var("SCHEMATHESIS_BIN").expect(
        "SCHEMATHESIS_BIN is not set: run the tests with bash scripts/test.sh (it installs schemathesis)",
    );
    let serve = start_serve().await;
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/api/openapi.yaml");
    // schemathesis keeps state in ./.schemathesis: run it in a directory of its own.
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = tokio::process::Command::new("bash")
        .current_dir(cwd.path())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/schemathesis.sh"
        ))
        .args(["run", spec, &format!("http://{}", serve.addr), TOKEN])
        .env("SCHEMATHESIS_BIN", &st)
        .output()
        .await
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
