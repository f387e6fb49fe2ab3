//! SIGTERM under load: `eventdeck run` stops fetching, flushes its open batches, commits,
//! and exits 0 within the grace period — on the embedded broker, which never answers a
//! LeaveGroup (before, every stop waited out librdkafka's 5 s for it). A restart then loses
//! nothing.

use std::time::{Duration, Instant};

use crate::crash::{N, RATE};
use crate::harness::eventually;
use crate::load::Load;
use crate::node::{KillOnDrop, Node};

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
