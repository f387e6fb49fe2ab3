//! Search: the query and its filters, total and took-ms, and the hits (channel, author,
//! relative time, the fragment with matched terms highlighted). `/` asks for words, `c`/`a`
//! filter by channel/author, `n`/`p` page, `e` edits and `d` deletes the selected hit.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{HighlightSpacing, List, ListItem, ListState, Paragraph};
use ratatui::Frame;

use crossterm::event::KeyCode::{self, Char};
use crossterm::event::KeyEvent;

use super::{View, ViewId};
use crate::monitor::snapshot::Health;
use crate::search::{SearchHit, SortOrder};
use crate::ui::app::{Action, App, Confirm, Mode, PromptTarget, SearchStatus};
use crate::ui::compose::ComposeForm;
use crate::ui::format::{ago, one_line, split_highlight, thousands, truncate};
use crate::ui::keymap::{self, Hint, KeyBinding};
use crate::ui::panes::{message, pane_block};
use crate::ui::text_input::TextField;
use crate::ui::{model, theme};

pub struct Search;

static KEYS: &[KeyBinding] = &[
    KeyBinding::new(&[Char('/')], "/", "search words (match query)", ask_words)
        .hint(Hint::Lead("search")),
    KeyBinding::new(
        &[Char('c'), Char('a')],
        "c / a",
        "filter by channel / author (empty: any)",
        ask_filter,
    )
    .hint(Hint::Lead("channel/author")),
    KeyBinding::new(
        &[Char('n'), Char('p')],
        "n / p",
        "next / previous page",
        turn_page,
    )
    .hint(Hint::Lead("page")),
    KeyBinding::new(&[Char('o')], "o", "order: relevance / newest", reorder),
    KeyBinding::new(&[Char('r')], "r", "run the search again", rerun),
    KeyBinding::new(
        &[Char('e')],
        "e",
        "edit the selected message (message.updated)",
        edit,
    )
    .hint(Hint::Lead("edit"))
    .when(keymap::writable),
    KeyBinding::new(
        &[Char('d')],
        "d",
        "delete the selected message (message.deleted, asks)",
        delete,
    )
    .hint(Hint::Lead("delete"))
    .when(keymap::writable),
    KeyBinding::new(
        &[Char('f')],
        "f",
        "follow the selected message: events, index, dead letters, notifications",
        follow,
    )
    .hint(Hint::Lead("follow")),
    KeyBinding::new(
        &[KeyCode::Esc],
        "esc",
        "clear the channel and author filters",
        clear_filters,
    )
    .when(has_filters),
];

fn ask_words(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    prompt(app, PromptTarget::Query)
}

fn ask_filter(app: &mut App, key: KeyEvent) -> Option<Vec<Action>> {
    let target = if key.code == Char('c') {
        PromptTarget::Channel
    } else {
        PromptTarget::Author
    };
    prompt(app, target)
}

fn turn_page(app: &mut App, key: KeyEvent) -> Option<Vec<Action>> {
    Some(page(app, if key.code == Char('n') { 1 } else { -1 }))
}

fn reorder(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    app.toggle_sort();
    app.search.query.page = 0;
    Some(vec![app.search_action()])
}

fn rerun(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    Some(vec![app.search_action()])
}

/// `e` and `d` need a selected hit; without one they pass (nothing else uses them).
fn edit(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    let hit = model::search_hits(app).get(app.search.selected)?.clone();
    app.mode = Mode::Compose(ComposeForm::edit(
        &hit.doc.message_id,
        &hit.doc.channel,
        &app.author,
        &hit.doc.content,
    ));
    Some(Vec::new())
}

fn delete(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    let hit = model::search_hits(app).get(app.search.selected)?.clone();
    app.mode = Mode::Confirm(Confirm::Delete {
        message_id: hit.doc.message_id,
        channel_id: hit.doc.channel,
        preview: hit.doc.content,
    });
    Some(Vec::new())
}

fn follow(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    let hit = model::search_hits(app).get(app.search.selected)?.clone();
    Some(vec![app.trace_action(&hit.doc.message_id)])
}

fn has_filters(app: &App) -> bool {
    app.search.query.channel.is_some() || app.search.query.author.is_some()
}

fn clear_filters(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    app.search.query.channel = None;
    app.search.query.author = None;
    app.search.query.page = 0;
    Some(vec![app.search_action()])
}

impl View for Search {
    fn id(&self) -> ViewId {
        ViewId::Search
    }
    fn title(&self) -> &'static str {
        "Search"
    }
    fn short(&self) -> &'static str {
        "Search"
    }
    fn names(&self) -> &'static [&'static str] {
        &["search", "s"]
    }
    fn keys(&self) -> &'static [KeyBinding] {
        KEYS
    }
    fn draw(&self, frame: &mut Frame, area: Rect, app: &App) {
        draw(frame, area, app)
    }
    fn row_count(&self, app: &App) -> usize {
        model::search_hits(app).len()
    }
    /// The hits are not a `ListState` list: their selection lives with the search.
    fn selection<'a>(&self, app: &'a mut App) -> &'a mut usize {
        &mut app.search.selected
    }
    /// `:search WORDS` runs a search from page 1 (no words: every message).
    fn open(&self, app: &mut App, args: &str) -> Vec<Action> {
        vec![app.start_search(args)]
    }
}

/// Opens the prompt for one of the query's fields, holding its current value.
fn prompt(app: &mut App, target: PromptTarget) -> Option<Vec<Action>> {
    let current = match target {
        PromptTarget::Query => app.search.query.text.clone(),
        PromptTarget::Channel => app.search.query.channel.clone().unwrap_or_default(),
        PromptTarget::Author => app.search.query.author.clone().unwrap_or_default(),
    };
    app.mode = Mode::SearchPrompt {
        target,
        field: TextField::new(&current),
    };
    Some(Vec::new())
}

fn page(app: &mut App, delta: i64) -> Vec<Action> {
    let total = app.search_results().map(|r| r.total).unwrap_or(0) as usize;
    let pages = total.div_ceil(app.search.query.page_size.max(1)).max(1);
    let next = (app.search.query.page as i64 + delta).clamp(0, pages as i64 - 1) as usize;
    if next == app.search.query.page {
        return Vec::new();
    }
    app.search.query.page = next;
    app.search.selected = 0;
    vec![app.search_action()]
}

fn query_line(app: &App, width: usize) -> Line<'static> {
    let q = &app.search.query;
    let mut spans = vec![Span::styled("query ", theme::muted())];
    if q.text.is_empty() {
        spans.push(Span::styled("(all messages)", theme::muted()));
    } else {
        spans.push(Span::styled(
            truncate(&q.text, width / 2),
            theme::header().fg(theme::ACCENT),
        ));
    }
    let filter = |label: &str, v: &Option<String>| -> Vec<Span<'static>> {
        vec![
            Span::styled(format!("  {label} "), theme::muted()),
            match v {
                Some(v) => Span::styled(v.clone(), theme::header()),
                None => Span::styled("any", theme::muted()),
            },
        ]
    };
    spans.extend(filter("channel", &q.channel));
    spans.extend(filter("author", &q.author));
    spans.push(Span::styled("  order ", theme::muted()));
    spans.push(Span::raw(match q.sort {
        SortOrder::Relevance => "relevance",
        SortOrder::NewestFirst => "newest",
    }));
    Line::from(spans)
}

fn summary_line(app: &App) -> Line<'static> {
    let q = &app.search.query;
    match &app.search.status {
        SearchStatus::Idle => Line::styled("press / to search, or :search WORDS", theme::muted()),
        SearchStatus::Running if app.search.last.is_none() => {
            Line::styled("searching…", theme::muted())
        }
        SearchStatus::Failed(e) => Line::styled(format!("search failed: {e}"), theme::error()),
        _ => {
            let Some(r) = app.search_results() else {
                return Line::default();
            };
            let pages = (r.total as usize).div_ceil(q.page_size.max(1)).max(1);
            let noun = if r.total == 1 { "hit" } else { "hits" };
            let mut spans = vec![
                Span::styled(format!("{} {noun}", thousands(r.total)), theme::header()),
                Span::styled(
                    format!(" · took {} ms", thousands(r.took_ms)),
                    theme::muted(),
                ),
                Span::styled(format!(" · page {}/{pages}", q.page + 1), theme::muted()),
            ];
            if matches!(app.search.status, SearchStatus::Running) {
                spans.push(Span::styled(" · refreshing…", theme::muted()));
            }
            Line::from(spans)
        }
    }
}

/// Two lines per hit: where/who/when, then the highlighted fragment (or the content).
fn hit_item(hit: &SearchHit, now_ms: i64, width: usize) -> ListItem<'static> {
    let d = &hit.doc;
    let when = d
        .updated_at
        .or(d.created_at)
        .map(|t| ago(t, now_ms))
        .unwrap_or_else(|| "–".into());
    let edited = if d.updated_at.is_some() {
        " · edited"
    } else {
        ""
    };
    let head = Line::from(vec![
        Span::styled(format!("#{}", d.channel), Style::new().fg(theme::OK)),
        Span::raw("  "),
        Span::styled(format!("@{}", d.author), Style::new().fg(theme::ACCENT)),
        Span::styled(format!("  {when}{edited}  "), theme::muted()),
        Span::styled(d.message_id.clone(), theme::muted()),
    ]);
    let fragment = hit
        .highlights
        .first()
        .cloned()
        .unwrap_or_else(|| d.content.clone());
    let mut body = vec![Span::raw("  ")];
    let mut room = width.saturating_sub(2);
    for (text, em) in split_highlight(&one_line(&fragment)) {
        if room == 0 {
            break;
        }
        let piece = truncate(&text, room);
        room = room.saturating_sub(unicode_width::UnicodeWidthStr::width(piece.as_str()));
        body.push(if em {
            Span::styled(piece, theme::highlight_term())
        } else {
            Span::raw(piece)
        });
    }
    ListItem::new(Text::from(vec![head, Line::from(body)]))
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let right = match app.snapshot.indexed_messages {
        Some(n) => Some(format!("{} · {} docs", app.snapshot.search, thousands(n))),
        None => Some(app.snapshot.search.clone()).filter(|s| !s.is_empty()),
    };
    let mut block = pane_block(app, ViewId::Search, &[], right, area.width);
    if let Health::Down(e) = &app.snapshot.search_health {
        block = block.title_bottom(Line::styled(
            format!(" search unreachable: {e} "),
            theme::error(),
        ));
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [prompt, summary, list_area] = inner.layout(&Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
    ]));
    draw_prompt(frame, prompt, app);
    frame.render_widget(Paragraph::new(summary_line(app)), summary);
    let hits = app
        .search_results()
        .map(|r| r.hits.as_slice())
        .unwrap_or(&[]);
    if hits.is_empty() {
        if let Some(r) = app.search_results() {
            let text = if r.total > 0 {
                "no hits on this page (p: previous page)".to_string()
            } else {
                "no message matches".to_string()
            };
            message(frame, list_area, vec![Line::styled(text, theme::muted())]);
        }
        return;
    }
    let width = list_area.width.saturating_sub(2) as usize;
    let items: Vec<ListItem> = hits
        .iter()
        .map(|h| hit_item(h, app.now_ms, width))
        .collect();
    let focused = app.focus == ViewId::Search;
    let list = List::new(items)
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("▌ ")
        .highlight_spacing(HighlightSpacing::Always);
    let mut state = ListState::default().with_selected(focused.then_some(app.search.selected));
    frame.render_stateful_widget(list, list_area, &mut state);
}

/// The query line, or the live prompt while one is open (with the terminal cursor in it).
fn draw_prompt(frame: &mut Frame, area: Rect, app: &App) {
    let Mode::SearchPrompt { target, field } = &app.mode else {
        frame.render_widget(Paragraph::new(query_line(app, area.width as usize)), area);
        return;
    };
    let label = match target {
        PromptTarget::Query => "search › ",
        PromptTarget::Channel => "channel › ",
        PromptTarget::Author => "author › ",
    };
    let lw = unicode_width::UnicodeWidthStr::width(label) as u16;
    let (shown, col) = field.window(area.width.saturating_sub(lw) as usize);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(label, theme::key()),
            Span::raw(shown),
        ])),
        area,
    );
    frame.set_cursor_position((area.x + lw + col as u16, area.y));
}
