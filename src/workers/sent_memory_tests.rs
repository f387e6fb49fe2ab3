//! The sent memory: its file format (old and new), recovery of intents, retention and
//! compaction, and its bound.

use std::sync::atomic::{AtomicI64, Ordering};

use super::*;

const HOUR: i64 = 3_600_000;

fn pair(m: &str, u: &str) -> Pair {
    (m.into(), u.into())
}

/// A clock the test moves by hand.
fn clock(start: i64) -> (Arc<AtomicI64>, Clock) {
    let now = Arc::new(AtomicI64::new(start));
    let read = now.clone();
    (now, Arc::new(move || read.load(Ordering::SeqCst)))
}

fn open(path: &Path, clock: &Clock) -> SentMemory {
    SentMemory::open_at(path.to_path_buf(), HOUR, clock.clone()).expect("open")
}

fn append_raw(path: &Path, bytes: &[u8]) {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .expect("append");
}

#[test]
fn lines_parse_and_torn_ones_are_skipped() {
    assert_eq!(
        parse_line("m1\tbob"),
        Some(Entry::Sent(pair("m1", "bob"), None))
    );
    assert_eq!(
        parse_line("+\t9\tm1\tbob"),
        Some(Entry::Sent(pair("m1", "bob"), Some(9)))
    );
    assert_eq!(
        parse_line("?\t17\tm1\tbob"),
        Some(Entry::Intent(pair("m1", "bob"), 17))
    );
    assert_eq!(
        parse_line("-\tm1\tbob"),
        Some(Entry::NotSent(pair("m1", "bob")))
    );
    assert_eq!(
        parse_line("@\t3\tm1\talice"),
        Some(Entry::Author {
            message: "m1".into(),
            author: "alice".into(),
            at: 3
        })
    );
    assert_eq!(parse_line("?\t17\tm1"), None);
    assert_eq!(parse_line("+\t17\tm1"), None);
    assert_eq!(parse_line("m1"), None);
    assert_eq!(parse_line("?\tx\tm1\tbob"), None);
    assert_eq!(parse_line("+\tx\tm1\tbob"), None);
    assert_eq!(parse_line(""), None);
}

#[test]
fn memory_survives_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sent.tsv");
    let mut m = SentMemory::open(path.clone()).expect("open");
    m.remember("m1", "bob").expect("write");
    m.remember("m1", "bob").expect("write");
    drop(m);
    let again = SentMemory::open(path).expect("reopen");
    assert!(again.contains("m1", "bob"));
    assert_eq!(again.len(), 1);
    assert!(again.in_doubt().is_empty());
}

#[test]
fn an_intent_without_its_outcome_is_in_doubt_after_a_restart_until_resolved() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sent.tsv");
    let mut m = SentMemory::open(path.clone()).expect("open");
    m.intend(
        &[pair("m1", "bob"), pair("m1", "carol"), pair("m2", "dave")],
        1_000,
    )
    .expect("intent");
    m.remember("m1", "bob").expect("sent");
    drop(m); // killed before carol's and dave's acknowledgements were written
             // …and a torn last line, as a kill in the middle of a write leaves.
    append_raw(&path, b"+\t5\tm2\tda");

    let mut m = SentMemory::open(path.clone()).expect("reopen");
    let doubts: HashSet<Pair> = m.in_doubt().keys().cloned().collect();
    assert_eq!(
        doubts,
        HashSet::from([pair("m1", "carol"), pair("m2", "dave")])
    );
    assert_eq!(m.in_doubt()[&pair("m1", "carol")], 1_000);
    assert!(!m.contains("m2", "da"), "the torn line is ignored");
    // carol's notification is found in the topic, dave's is not.
    m.resolve(&HashSet::from([pair("m1", "carol")]))
        .expect("resolve");
    assert!(m.contains("m1", "carol"));
    assert!(!m.contains("m2", "dave"));
    assert!(m.in_doubt().is_empty());
    drop(m);

    let m = SentMemory::open(path).expect("reopen again");
    assert!(m.in_doubt().is_empty(), "resolved for good");
    assert!(m.contains("m1", "carol"));
    assert!(!m.contains("m2", "dave"));
}

#[test]
fn intents_in_flight_survive_a_compaction_as_doubts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sent.tsv");
    let (_, c) = clock(10 * HOUR);
    let mut m = open(&path, &c);
    m.set_min_compact_bytes(1);
    m.intend(&[pair("m1", "bob")], 10 * HOUR).expect("intent");
    // Enough writes to compact while bob's send is in flight.
    for i in 0..20 {
        m.remember(&format!("x{i}"), "carol").expect("sent");
    }
    drop(m); // killed before bob's acknowledgement was written
    let m = open(&path, &c);
    assert_eq!(m.in_doubt().get(&pair("m1", "bob")), Some(&(10 * HOUR)));
    assert_eq!(m.len(), 20);
}

#[test]
fn compaction_drops_old_pairs_and_keeps_recent_and_in_doubt_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sent.tsv");
    let (now, c) = clock(100 * HOUR);
    let mut m = open(&path, &c);
    m.remember("old", "bob").expect("sent");
    m.remember_author("old", "alice");
    m.intend(&[pair("doubt", "dave")], 100 * HOUR)
        .expect("intent");
    drop(m); // dave's outcome never written

    now.store(100 * HOUR + HOUR / 2, Ordering::SeqCst);
    let mut m = open(&path, &c);
    m.remember("recent", "carol").expect("sent");
    m.remember_author("recent", "erin");
    m.intend(&[], 0).expect("authors written");
    drop(m);

    now.store(101 * HOUR + 1, Ordering::SeqCst);
    let m = open(&path, &c);
    assert!(!m.contains("old", "bob"), "older than the window");
    assert_eq!(m.author_of("old"), None);
    assert!(m.contains("recent", "carol"), "inside the window");
    assert_eq!(m.author_of("recent"), Some("erin"));
    assert!(
        m.in_doubt().contains_key(&pair("doubt", "dave")),
        "in doubt until settled, whatever its age"
    );
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(!text.contains("old"), "{text}");
    assert!(!path.with_extension("tsv.compacting").exists());
}

#[test]
fn a_file_of_the_old_format_loads_and_is_kept_one_more_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sent.tsv");
    std::fs::write(&path, "m1\tbob\n?\t5\tm2\tcarol\nm3\tdave\n-\tm3\tdave\n").expect("write");
    let (now, c) = clock(50 * HOUR);
    let m = open(&path, &c);
    assert!(m.contains("m1", "bob") && m.contains("m3", "dave"));
    assert_eq!(m.in_doubt().get(&pair("m2", "carol")), Some(&5));
    drop(m);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(
        text.contains(&format!("+\t{}\tm1\tbob\n", 50 * HOUR)),
        "{text}"
    );

    now.store(51 * HOUR - 1, Ordering::SeqCst);
    assert!(open(&path, &c).contains("m1", "bob"), "kept for the window");
    now.store(51 * HOUR + 1, Ordering::SeqCst);
    let m = open(&path, &c);
    assert!(!m.contains("m1", "bob"), "then forgotten");
    assert_eq!(m.in_doubt().len(), 1);
}

#[test]
fn authors_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sent.tsv");
    let (_, c) = clock(HOUR);
    let mut m = open(&path, &c);
    m.remember_author("m1", "alice");
    assert_eq!(m.author_of("m1"), Some("alice"));
    m.intend(&[pair("m1", "bob")], HOUR).expect("intent");
    drop(m);
    assert_eq!(open(&path, &c).author_of("m1"), Some("alice"));
}

#[test]
fn a_crash_during_compaction_leaves_the_old_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sent.tsv");
    let (_, c) = clock(HOUR);
    let mut m = open(&path, &c);
    m.remember("m1", "bob").expect("sent");
    drop(m);
    // Killed while writing the temporary file: the file itself is untouched.
    std::fs::write(
        dir.path().join("sent.tsv.compacting"),
        "+\t1\tjunk\tx\n+\t2\tha",
    )
    .expect("tmp");
    let m = open(&path, &c);
    assert!(m.contains("m1", "bob"));
    assert!(!m.contains("junk", "x"));
}

#[test]
fn memory_and_file_stay_bounded_over_many_operations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sent.tsv");
    let (now, c) = clock(0);
    let mut m = open(&path, &c);
    m.set_min_compact_bytes(1024);
    // One message a minute for ~7 windows: the window holds 61 minutes of them.
    let per_window = 61;
    let mut largest = (0, 0, 0);
    for i in 0..420_i64 {
        now.store(i * 60_000, Ordering::SeqCst);
        let id = format!("msg_{i:05}");
        m.remember_author(&id, "alice");
        m.intend(&[(id.clone(), "bob".into())], i * 60_000)
            .expect("intent");
        m.remember(&id, "bob").expect("sent");
        largest = (
            largest.0.max(m.len()),
            largest.1.max(m.authors_len()),
            largest.2.max(m.file_len().unwrap_or(0)),
        );
    }
    assert!(largest.0 <= 3 * per_window, "pairs: {largest:?}");
    assert!(largest.1 <= 3 * per_window, "authors: {largest:?}");
    // ~90 bytes of lines per operation.
    assert!(
        largest.2 <= 3 * per_window as u64 * 120,
        "file: {largest:?}"
    );
    drop(m);
    let m = open(&path, &c);
    assert!(m.len() <= per_window && m.len() >= 60, "{}", m.len());
    assert!(m.contains("msg_00419", "bob") && m.contains("msg_00360", "bob"));
}

#[test]
fn authors_are_capped_at_the_newest_and_written_without_mentions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sent.tsv");
    let (now, c) = clock(0);
    let mut m = open(&path, &c);
    let n = MAX_AUTHORS + MAX_AUTHORS / 2;
    let mut largest = 0;
    for i in 0..n {
        // All inside the window: only the cap can forget them.
        now.store(i as i64, Ordering::SeqCst);
        m.remember_author(&format!("msg_{i:06}"), "alice");
        largest = largest.max(m.authors_len());
    }
    assert!(largest <= MAX_AUTHORS + MAX_AUTHORS / 4 + 1, "{largest}");
    assert_eq!(m.author_of(&format!("msg_{:06}", n - 1)), Some("alice"));
    assert_eq!(m.author_of("msg_000000"), None, "the oldest are forgotten");
    // No mention was ever written, yet the author lines reached the file in chunks.
    assert!(m.file_len().unwrap_or(0) > 1_000_000, "{:?}", m.file_len());
}
