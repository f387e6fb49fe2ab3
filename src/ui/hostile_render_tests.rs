//! Hostile text wherever a name or a message reaches the screen — topic, group, member and
//! worker names, error texts, notifications, search hits, analytics, tail and dead-letter
//! rows — on the dashboard and in every view, at two sizes. Nothing but printable text
//! reaches the terminal (no control, no bidi formatting character), and the frame's box
//! corners are where they are with ordinary text: long, wide or combining text is clipped
//! inside its pane, never pushes the layout.

use ratatui::buffer::Buffer;

use super::app::{App, SearchStatus};
use super::layout;
use super::test_support::{self as ts, render_with};
use super::views::ViewId;
use crate::browse::view::is_unsafe;
use crate::monitor::snapshot::Snapshot;
use crate::ops::WorkerState;

/// Texts that try to move the cursor, clear the screen, set the title, reorder a line, hide
/// characters, take two columns, stack accents, or just be long.
fn hostile(i: usize) -> String {
    let texts = [
        "\u{1b}[2J\u{1b}]0;pwned\u{7}clear".to_string(),
        "abc\u{202E}txt.exe bidi".to_string(),
        "\u{2066}isolate\u{2069} \u{200F}rlm \u{FEFF}bom".to_string(),
        "zero\u{200B}width\u{200D}joiner".to_string(),
        "wide 한국어 表示 🎉🎉🎉".to_string(),
        "e\u{301}\u{301}\u{301}\u{301} stacked".to_string(),
        "line\r\nbreak\ttab\u{8}\u{7f}del".to_string(),
        "x".repeat(5_000),
    ];
    format!("{}{i}", texts[i % texts.len()])
}

fn hostile_snapshot() -> Snapshot {
    let mut s = ts::normal();
    let mut n = 0;
    let mut next = || {
        n += 1;
        hostile(n)
    };
    for t in &mut s.topics {
        t.topic = next();
    }
    for g in &mut s.groups {
        g.group = next();
        g.reason = next();
        g.state = Some(next());
        for m in &mut g.members {
            m.member = next();
            m.client_id = next();
            m.host = next();
        }
        for t in &mut g.topics {
            t.topic = next();
            t.reason = next();
            for p in &mut t.partitions {
                p.owner = Some(next());
            }
        }
    }
    s.workers[1].state = WorkerState::BackingOff {
        error: next(),
        attempt: 3,
    };
    s.workers[2].state = WorkerState::Failed { error: next() };
    for line in &mut s.notifications {
        let sent = &mut line.notification;
        sent.user_id = next();
        sent.channel_id = next();
        sent.author_id = next();
        sent.preview = next();
    }
    s.cluster = next();
    s.search = next();
    s
}

fn hostile_app() -> App {
    let mut app = ts::app(hostile_snapshot());
    app.utc_offset_secs = 0;
    let mut results = ts::results();
    for (i, hit) in results.hits.iter_mut().enumerate() {
        hit.doc.channel = hostile(i);
        hit.doc.author = hostile(i + 1);
        hit.doc.content = hostile(i + 2);
        hit.highlights = vec![format!("<em>{}</em> {}", hostile(i + 3), hostile(i + 4))];
    }
    app.search.query.text = hostile(6);
    app.search.status = SearchStatus::Done(results);
    app
}

fn ordinary_app() -> App {
    let mut app = ts::app(ts::normal());
    app.utc_offset_secs = 0;
    app.search.query.text = "배포".into();
    app.search.status = SearchStatus::Done(ts::results());
    app
}

fn frame(app: &App, w: u16, h: u16) -> Buffer {
    render_with(w, h, |f, _| layout::draw(f, app)).1
}

/// Where the panes' box corners are.
fn corners(buf: &Buffer) -> Vec<(u16, u16, String)> {
    let area = buf.area;
    let mut out = Vec::new();
    for y in 0..area.height {
        for x in 0..area.width {
            let s = buf[(x, y)].symbol();
            if matches!(s, "┌" | "┐" | "└" | "┘" | "╭" | "╮" | "╰" | "╯") {
                out.push((x, y, s.to_string()));
            }
        }
    }
    out
}

fn assert_printable(buf: &Buffer, what: &str) {
    for (i, cell) in buf.content.iter().enumerate() {
        let bad: Vec<char> = cell.symbol().chars().filter(|c| is_unsafe(*c)).collect();
        assert!(
            bad.is_empty(),
            "{what}: cell {i} holds {bad:?} ({:?})",
            cell.symbol()
        );
    }
}

#[test]
fn hostile_text_reaches_the_terminal_as_plain_text_and_keeps_the_layout() {
    let records: Vec<Vec<u8>> = (0..8).map(|i| hostile(i).into_bytes()).collect();
    let values: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    let mut bad_app = hostile_app();
    let mut ordinary = ordinary_app();
    ts::tail_rows(&mut bad_app, &values);
    ts::tail_rows(&mut ordinary, &[b"plain", b"text"]);
    for (w, h) in [(120, 40), (80, 24)] {
        for view in std::iter::once(None).chain(ViewId::ALL.iter().copied().map(Some)) {
            bad_app.view = view;
            ordinary.view = view;
            let what = format!("{view:?} at {w}x{h}");
            let bad = frame(&bad_app, w, h);
            assert_printable(&bad, &what);
            assert_eq!(
                corners(&bad),
                corners(&frame(&ordinary, w, h)),
                "{what}: the panes moved"
            );
        }
    }
}
