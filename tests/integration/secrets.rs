//! Secrets stay secret, through the real binary: a configuration file holding a SASL password,
//! the search server's password and URL userinfo, and the API token, with the search server
//! unreachable so that errors are logged and reported. `eventdeck serve` logs at debug level,
//! takes a request with the right token and one with a wrong one, backs off on the search
//! server; `status --json` (the workers' errors included), the human `status`, and a failing
//! `search` all run beside it. Then the same file with a TLS key password this build's
//! librdkafka refuses, so that client creation fails on it. None of the secrets appears in
//! any line any of them printed, nor does a panic's message and backtrace in the log.

use std::time::Duration;

use crate::harness::eventually;
use crate::http::request;
use crate::node::{free_port, KeepOnPanic, KillOnDrop, Node};

const SECRETS: [&str; 5] = [
    "kafka-sasl-secret-7d1",
    "tls-key-secret-3f9",
    "search-password-secret-b27",
    "url-userinfo-secret-e40",
    "api-token-secret-5c8",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_status_errors_or_answers() {
    let dir = KeepOnPanic::new();
    let dead_search = free_port();
    let api = format!("127.0.0.1:{}", free_port());
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[kafka.properties]
"sasl.username" = "svc-eventdeck"
"sasl.password" = "{}"

[search]
url = "http://elastic:{}@127.0.0.1:{dead_search}"
username = "elastic"
password = "{}"

[api]
addr = "{api}"
token = "{}"
"#,
            SECRETS[0], SECRETS[3], SECRETS[2], SECRETS[4]
        ),
    )
    .expect("config");
    // The same, with a property librdkafka refuses (no OpenSSL in this build) or, in a build
    // that has it, accepts: either way its value must not show.
    let refused_config = dir.path().join("refused.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &refused_config,
        text.replace(
            "[search]",
            &format!("\"ssl.key.password\" = \"{}\"\n\n[search]", SECRETS[1]),
        ),
    )
    .expect("refused config");
    let mut node = Node::new(dir.path().join("data"), None, "secretmark");
    node.workers = Some("indexer".into());
    node.config = Some(config.clone());
    let command = |node: &Node| {
        let mut c = node.command();
        c.env_remove("EVENTDECK_SEARCH_URL")
            .env("EVENTDECK_LOG", "debug");
        c
    };
    let log = dir.path().join("serve.log");
    let out = dir.path().join("serve.out");
    let serve = command(&node)
        .arg("serve")
        .stdout(std::fs::File::create(&out).expect("out"))
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn serve");
    let mut serve = KillOnDrop(Some(serve));
    let addr: std::net::SocketAddr = api.parse().expect("addr");
    eventually("serve answers", Duration::from_secs(60), || async {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(_) => Ok(()),
            Err(e) => Err(format!(
                "{e}: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )),
        }
    })
    .await;
    let body = br#"{"channel_id":"ch_s","author_id":"user_s","content":"secretmark hello"}"#;
    let json = ("content-type", "application/json");
    let good = format!("Bearer {}", SECRETS[4]);
    let posted = request(
        addr,
        "POST",
        "/messages",
        &[("authorization", good.as_str()), json],
        body,
    )
    .await;
    assert_eq!(posted.status, 201, "{}", posted.text());
    let refused = request(
        addr,
        "POST",
        "/messages",
        &[("authorization", "Bearer api-token-secret-5c9"), json],
        body,
    )
    .await;
    assert_eq!(refused.status, 401, "{}", refused.text());
    let searched = request(addr, "GET", "/messages/search?q=secretmark", &[], b"").await;

    // A panic, with the secrets configured: the embedded broker's storage engine killed (a
    // Fetch for a partition that does not exist), whose message and backtrace go to the log.
    crate::broker_storage::send_poison(&format!("127.0.0.1:{}", node.port));
    eventually(
        "the panic logged and the broker restarted",
        Duration::from_secs(30),
        || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            async move {
                (text.contains("panicked at") && text.contains("embedded broker restarted"))
                    .then_some(())
                    .ok_or_else(|| "not yet".to_string())
            }
        },
    )
    .await;

    // The indexer cannot reach the search server: status says so, with the error. (Right
    // after the broker's restart above, the workers back off for the broker first: waiting
    // for any "backing off" raced with that.)
    let search_error = format!("127.0.0.1:{dead_search}");
    let report = eventually(
        "status reports the indexer backing off for the search server",
        Duration::from_secs(60),
        || {
            let out = command(&node).args(["status", "--json"]).output();
            let search_error = &search_error;
            async move {
                let out = out.map_err(|e| e.to_string())?;
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                (text.contains("backing off") && text.contains(search_error.as_str()))
                    .then(|| format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
                    .ok_or(text)
            }
        },
    )
    .await;
    let human = command(&node).arg("status").output().expect("status");
    let search = command(&node)
        .args(["search", "secretmark"])
        .output()
        .expect("search");
    assert!(!search.status.success(), "the search server is unreachable");

    let mut refused_node = Node::new(node.data.clone(), None, "secretmark");
    refused_node.config = Some(refused_config);
    let refused_status = command(&refused_node)
        .args(["status", "--json"])
        .output()
        .expect("status");
    let refused_search = command(&refused_node)
        .args(["search", "x"])
        .output()
        .expect("search");

    let refused_text = String::from_utf8_lossy(&refused_status.stderr).into_owned();
    if !refused_status.status.success() {
        // This build's librdkafka has no OpenSSL: the error names the property, not its value.
        assert!(refused_text.contains("ssl.key.password"), "{refused_text}");
    }

    let child = serve.0.as_mut().expect("serve");
    // SAFETY: sends a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let _ = child.wait();
    serve.0 = None;

    let mut seen = vec![
        (
            "serve's log",
            std::fs::read_to_string(&log).unwrap_or_default(),
        ),
        (
            "serve's output",
            std::fs::read_to_string(&out).unwrap_or_default(),
        ),
        ("the accepted post's answer", posted.text()),
        ("the refused post's answer", refused.text()),
        ("the API's search answer", searched.text()),
        ("status --json", report),
        (
            "status",
            String::from_utf8_lossy(&human.stdout).into_owned(),
        ),
        (
            "status's errors",
            String::from_utf8_lossy(&human.stderr).into_owned(),
        ),
        (
            "search's error",
            String::from_utf8_lossy(&search.stderr).into_owned(),
        ),
        (
            "status with a refused TLS key password",
            format!(
                "{}{}",
                String::from_utf8_lossy(&refused_status.stdout),
                String::from_utf8_lossy(&refused_status.stderr)
            ),
        ),
        (
            "search with a refused TLS key password",
            String::from_utf8_lossy(&refused_search.stderr).into_owned(),
        ),
    ];
    seen.push((
        "every file in the data directory but the store",
        files_text(&node.data),
    ));
    assert!(seen[0].1.contains("DEBUG"), "serve logged at debug level");
    for (what, text) in &seen {
        for secret in SECRETS {
            assert!(
                !text.contains(secret),
                "{what} shows {secret}:\n{}",
                text.lines()
                    .filter(|l| l.contains(secret))
                    .take(3)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
    eprintln!(
        "secrets: {} secrets, none in {} outputs ({} log lines at debug level)",
        SECRETS.len(),
        seen.len(),
        seen[0].1.lines().count()
    );
}

/// The text of every small file under `dir` (logs, state), lossily.
fn files_text(dir: &std::path::Path) -> String {
    let mut out = String::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if entry.metadata().is_ok_and(|m| m.len() < 10_000_000) {
                out.push_str(&String::from_utf8_lossy(
                    &std::fs::read(&path).unwrap_or_default(),
                ));
            }
        }
    }
    out
}
