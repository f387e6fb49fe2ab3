//! A real PostgreSQL for the tests: Debian's server binaries (`PG_BIN`, found or installed by
//! `scripts/test.sh`), one server per test process in a temp dir on a free loopback port,
//! a fresh database per test. Started with `initdb` + `pg_ctl` as the `postgres` user when
//! the tests run as root (PostgreSQL refuses to run as root). A small `sh` guard holds a pipe
//! from this process: when the process ends in any way, the pipe closes and the guard stops
//! the server and removes its directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use tokio::sync::OnceCell;

struct Server {
    port: u16,
    /// Keeps the guard's stdin open for as long as the test process runs.
    _guard: Mutex<Child>,
}

static SERVER: OnceCell<Server> = OnceCell::const_new();

fn pg_bin() -> PathBuf {
    match std::env::var("PG_BIN") {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => panic!("PG_BIN is not set: run the tests with scripts/test.sh, which finds or installs PostgreSQL"),
    }
}

fn is_root() -> bool {
    // SAFETY-free: `id -u` keeps libc out of the test crate.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

/// util-linux's `runuser`, found even when sbin is not on PATH (a bare CI environment).
fn runuser() -> &'static str {
    ["/usr/sbin/runuser", "/sbin/runuser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("runuser")
}

/// `program args…`, as the `postgres` user when we are root.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new(runuser());
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut c: Command, what: &str) {
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start() -> Server {
    let bin = pg_bin();
    let root = std::env::temp_dir().join(format!("eventdeck-pg-{}", std::process::id()));
    let data = root.join("data");
    std::fs::create_dir_all(&root).expect("pg dir");
    if is_root() {
        run(
            {
                let mut c = Command::new("chown");
                c.args(["-R", "postgres:postgres"]).arg(&root);
                c
            },
            "chown",
        );
    }
    let mut initdb = as_postgres(&bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
    run(initdb, "initdb");
    let port = free_port();
    let mut pg_ctl = as_postgres(&bin.join("pg_ctl"));
    pg_ctl
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(root.join("log"))
        .arg("-o")
        .arg(format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            root.display()
        ))
        .args(["-w", "start"]);
    run(pg_ctl, "pg_ctl start");
    let stop = if is_root() {
        format!(
            "{} -u postgres -- {}",
            runuser(),
            bin.join("pg_ctl").display()
        )
    } else {
        bin.join("pg_ctl").display().to_string()
    };
    let mut guard = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cat >/dev/null; {stop} -D \"$0\" -m fast -w stop >/dev/null 2>&1; rm -rf \"$1\""
        ))
        .arg(&data)
        .arg(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pg guard");
    // Written to once so the pipe is surely open; never closed until the process ends.
    if let Some(stdin) = guard.stdin.as_mut() {
        let _ = stdin.write_all(b"");
    }
    Server {
        port,
        _guard: Mutex::new(guard),
    }
}

/// A fresh, empty database on the test server; its `postgres://` URL.
pub async fn database() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let server = SERVER
        .get_or_init(|| async { tokio::task::spawn_blocking(start).await.expect("pg start") })
        .await;
    let name = format!("test_{}", NEXT.fetch_add(1, Ordering::SeqCst));
    let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port);
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("connect to the test server");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create database");
    format!("postgres://postgres@127.0.0.1:{}/{name}", server.port)
}
