//! SIGTERM under load: `eventdeck run` stops fetching, flushes its open batches, commits,
//! and exits 0 within the grace period — on the embedded broker, which never answers a
//! LeaveGroup (before, every stop waited out librdkafka's 5 s for it). A restart then loses
//! nothing.

use std::time::{Duration, Instant};

use crate::crash::{N, RATE};
use crate::harness::eventually;
use crate::load::Load;
use crate::node::{signal, KillOnDrop, Node};

/// What a stop under load may take: the grace period the reliability issue asks for (a
/// supervisor sends SIGKILL after its own: Kubernetes 30 s, systemd 90 s).
const GRACE: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_exits_zero_within_the_grace_period_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = Node::new(dir.path().join("data"), None, "sigtermmark");
    let (run, _) = node.start();
    let mut run = KillOnDrop(Some(run));
    let load = Load::start(node.cluster(), &node.marker, N, RATE);
    // Under load, with something already searchable (batches flowing).
    eventually("the load under way", Duration::from_secs(60), || {
        let n = load.acked();
        let searchable = node.search_total().unwrap_or(0);
        async move {
            (n >= N / 5 && searchable > 0)
                .then_some(())
                .ok_or_else(|| format!("{n} acknowledged, {searchable} searchable"))
        }
    })
    .await;
    let child = run.0.as_mut().expect("running");
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: sends a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "SIGTERM");
    let asked = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            asked.elapsed() < GRACE,
            "still running {GRACE:?} after SIGTERM\n{}",
            node.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = asked.elapsed();
    run.0 = None;
    assert!(status.success(), "exit {status:?}\n{}", node.logs());
    let log = std::fs::read_to_string(node.log_path(1)).unwrap_or_default();
    assert!(log.contains("stopped cleanly"), "{}", node.logs());
    assert!(!log.contains("final commit failed"), "{}", node.logs());
    eprintln!("SIGTERM under load: exit 0 after {took:?}");

    // A restart picks up where the commits say and the producer's buffered records arrive.
    let (run, _) = node.start();
    let _guard = KillOnDrop(Some(run));
    let want = load.finish().await.len() as u64;
    node.wait_hits(
        "every event searchable once",
        Duration::from_secs(120),
        |n| n == want,
    )
    .await;
}

/// The grace period's other side: the broker stops answering (its process frozen with
/// SIGSTOP), so the workers can neither flush nor commit; SIGTERM then ends `eventdeck run`
/// after the configured grace period (2 s here), saying what it gave up on, instead of
/// waiting for the broker. What it had not committed is read again after the restart: every
/// event is searchable exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_frozen_broker_exits_after_the_grace_period_and_loses_nothing() {
    const SENT: usize = 3_000;
    const GRACE_SECONDS: u64 = 2;
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = "gracetimeoutmark";
    let mut host = Node::new(dir.path().join("broker"), None, marker);
    host.workers = Some("producer".into());
    let host_run = KillOnDrop(Some(host.start().0));
    let mut node = Node::new(
        dir.path().join("workers"),
        Some(crate::harness::search_server().await),
        marker,
    );
    node.brokers = Some(format!("127.0.0.1:{}", host.port));
    node.env.push((
        "EVENTDECK_SHUTDOWN_GRACE_SECONDS".into(),
        GRACE_SECONDS.to_string(),
    ));
    let (run, _) = node.start();
    let mut run = KillOnDrop(Some(run));
    let load = Load::start(node.cluster(), marker, SENT, 1_000);
    node.wait_hits("indexing under way", Duration::from_secs(60), |n| n > 0)
        .await;

    let frozen = host_run.0.as_ref().expect("broker host");
    signal(frozen, libc::SIGSTOP);
    let child = run.0.as_mut().expect("running");
    signal(child, libc::SIGTERM);
    let asked = Instant::now();
    let limit = Duration::from_secs(GRACE_SECONDS + 4);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            asked.elapsed() < limit,
            "still running {limit:?} after SIGTERM with a {GRACE_SECONDS} s grace period\n{}",
            node.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = asked.elapsed();
    run.0 = None;
    signal(frozen, libc::SIGCONT);
    let log = std::fs::read_to_string(node.log_path(1)).unwrap_or_default();
    assert!(
        log.contains("not stopped within shutdown_grace_seconds (2 s)"),
        "no word of the grace period\n{}",
        node.logs()
    );
    assert!(
        !status.success(),
        "a stop that gave up is not a clean exit: {status:?}"
    );
    eprintln!("SIGTERM with a frozen broker: exit {status:?} after {took:?} (grace 2 s)");

    let (run, _) = node.start();
    let _again = KillOnDrop(Some(run));
    let want = load.finish().await.len() as u64;
    assert_eq!(want, SENT as u64, "the producer lost acknowledgements");
    node.wait_hits(
        "every event searchable once",
        Duration::from_secs(120),
        |n| n == want,
    )
    .await;
}
