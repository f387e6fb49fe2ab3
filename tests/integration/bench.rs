//! `eventdeck bench cqrs` end to end on the embedded default, small: it must post and search
//! everything it was asked to, find every tracked message searchable, and print both sides.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_eventdeck");

#[test]
fn bench_cqrs_prints_both_sides_and_finds_every_tracked_message() {
    let out = Command::new(BIN)
        .args(["--config", "/dev/null", "bench", "cqrs"])
        .args(["--messages", "300", "--searches", "300"])
        .env_remove("EVENTDECK_SEARCH_URL")
        .env_remove("EVENTDECK_KAFKA_BROKERS")
        .env_remove("EVENTDECK_STORE_URL")
        .output()
        .expect("run bench cqrs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |start: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(start))
            .unwrap_or_else(|| panic!("no line {start:?} in:\n{stdout}"))
            .to_string()
    };
    let write = line("write: post (row + outbox)");
    assert!(write.contains(" 300 "), "every post committed: {write}");
    assert!(!write.contains("failed"), "{write}");
    let read = line("read: search (index)");
    assert!(read.contains(" 300 "), "every search answered: {read}");
    let visible = line("commit → searchable");
    assert!(
        visible.contains("(200 of 200 tracked messages found)")
            || visible.contains("(300 of 300 tracked messages found)"),
        "{visible}"
    );
    line("baseline: row by id (write model)");
}
