//! A broker that answers, but late. The process holding the embedded broker is paused again
//! and again for 2.4 s (SIGSTOP, then SIGCONT 0.3 s later), as a long GC pause, swapping or
//! a saturated storage engine would make it. `status` of another process must say the
//! cluster is up but slow, and why, with no error for the cluster; once the pauses end it
//! is plain up again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::harness::eventually;
use crate::node::{KeepOnPanic, KillOnDrop, Node};

/// Under `status`'s 3 s call timeout (longer would be "down"), and long enough that a
/// request arriving a second after a thaw (`status` samples a second apart, each sample
/// ending just after a thaw) still waits over the 1 s that marks the cluster slow.
const PAUSED: Duration = Duration::from_millis(2_400);
const RUNNING: Duration = Duration::from_millis(300);

/// Sends `signal` to the process `pid` (a child of this test).
fn send(pid: i32, signal: i32) {
    // SAFETY: signals our own child process.
    unsafe { libc::kill(pid, signal) };
}

/// (up, why slow, the cluster's errors) from `status --json`.
fn cluster(report: &Value) -> (bool, Option<String>, Vec<String>) {
    let errors = report["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|e| e.starts_with("cluster:"))
        .map(str::to_string)
        .collect();
    (
        report["cluster_up"].as_bool() == Some(true),
        report["cluster_slow"].as_str().map(str::to_string),
        errors,
    )
}

/// Polls `status --json` of `node` until `want` takes what its cluster figures say.
async fn status_until<T>(
    node: &Node,
    what: &str,
    within: Duration,
    want: impl Fn(&(bool, Option<String>, Vec<String>)) -> Option<T>,
) -> T {
    let want = &want;
    eventually(
        &format!("status says the cluster is {what}"),
        within,
        || {
            let report = node.status();
            async move {
                let figures = cluster(&report?);
                want(&figures).ok_or(format!("(up, slow, errors) = {figures:?}"))
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_answers_late_is_reported_slow_not_down() {
    let dir = KeepOnPanic::new();
    let mut host = Node::new(dir.path().join("broker"), None, "slowmark");
    host.workers = Some("producer".into());
    let host_run = KillOnDrop(Some(host.start().0));
    let pid = i32::try_from(host_run.0.as_ref().expect("broker host").id()).expect("pid");
    let mut watcher = Node::new(dir.path().join("watcher"), None, "slowmark");
    watcher.brokers = Some(format!("127.0.0.1:{}", host.port));
    let healthy = watcher.status().expect("status before the pauses");
    assert_eq!(cluster(&healthy), (true, None, vec![]), "{healthy}");

    // The fault: pauses in a loop, until the check below has seen what it waits for.
    let pausing = Arc::new(AtomicBool::new(true));
    let pauser = {
        let pausing = pausing.clone();
        std::thread::spawn(move || {
            while pausing.load(Ordering::SeqCst) {
                send(pid, libc::SIGSTOP);
                std::thread::sleep(PAUSED);
                send(pid, libc::SIGCONT);
                std::thread::sleep(RUNNING);
            }
        })
    };
    let slow = status_until(&watcher, "slow", Duration::from_secs(90), |c| match c {
        (true, Some(why), errors) if errors.is_empty() => Some(why.clone()),
        _ => None,
    })
    .await;
    pausing.store(false, Ordering::SeqCst);
    pauser.join().expect("pauser");
    send(pid, libc::SIGCONT);
    assert!(slow.starts_with("metadata answered in "), "{slow}");

    status_until(&watcher, "up again", Duration::from_secs(60), |c| {
        matches!(c, (true, None, errors) if errors.is_empty()).then_some(())
    })
    .await;
    eprintln!("slow broker: status said \"{slow}\" while the broker paused 2.4 s of every 2.7 s");
}
