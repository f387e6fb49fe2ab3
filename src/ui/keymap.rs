//! Every normal-mode key, declared once as data: which key codes, how help and the footer
//! name it, when it applies, and what it does. The keyboard dispatches from these tables
//! and the help overlay and footer are drawn from them, so a key cannot be handled without
//! being documented, nor documented without being handled (`keymap_tests.rs` checks both
//! ways, key by key).
//!
//! The global keys are here; each view declares its own in [`View::keys`], tried first.
//! Modes with their own editing (filter, `:` line, prompts, the compose form, dialogs) read
//! keys in `input.rs`; [`COMPOSE`] only documents the form's.
//!
//! [`View::keys`]: super::views::View::keys

use std::borrow::Cow;

use crossterm::event::KeyCode::{self, Char};
use crossterm::event::KeyEvent;

use super::app::{Action, App, Confirm, Mode};
use super::compose::ComposeForm;
use super::text_input::TextField;
use super::views::ViewId;

/// Where a key's hint goes in the footer: before the focused view's hints, after them, or
/// nowhere (help only). View keys are shown in the view's slot whatever they say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    None,
    Lead(&'static str),
    Tail(&'static str),
}

impl Hint {
    pub fn word(self) -> Option<&'static str> {
        match self {
            Hint::None => None,
            Hint::Lead(w) | Hint::Tail(w) => Some(w),
        }
    }
}

/// What a key does: `Some` when it acted (possibly with nothing for the I/O loop to do),
/// `None` when it does not apply after all and the next table should try.
pub type Run = fn(&mut App, KeyEvent) -> Option<Vec<Action>>;

/// One key (or a few that do one job, as `j` and `↓`).
#[derive(Clone, Copy)]
pub struct KeyBinding {
    pub codes: &'static [KeyCode],
    /// As help shows it: "j k / ↓ ↑".
    pub label: &'static str,
    pub help: &'static str,
    pub hint: Hint,
    /// Whether the key applies now (a drill-down open, filters set). An inactive key is
    /// neither dispatched nor shown in the footer.
    pub active: fn(&App) -> bool,
    pub run: Run,
}

/// Keys that write (send, load, edit, delete) apply unless the console is read-only.
pub fn writable(app: &App) -> bool {
    !app.read_only
}

fn always(_: &App) -> bool {
    true
}

impl KeyBinding {
    /// A key that always applies and has no footer hint; see [`Self::hint`], [`Self::when`].
    pub const fn new(
        codes: &'static [KeyCode],
        label: &'static str,
        help: &'static str,
        run: Run,
    ) -> Self {
        KeyBinding {
            codes,
            label,
            help,
            hint: Hint::None,
            active: always,
            run,
        }
    }

    pub const fn hint(mut self, hint: Hint) -> Self {
        self.hint = hint;
        self
    }

    pub const fn when(mut self, active: fn(&App) -> bool) -> Self {
        self.active = active;
        self
    }

    pub fn handles(&self, code: KeyCode) -> bool {
        self.codes.contains(&code)
    }
}

/// A titled group of keys in the help overlay.
pub struct Section {
    pub title: &'static str,
    pub keys: &'static [KeyBinding],
}

/// Runs the first active binding for the key that acts.
pub fn dispatch<'a>(
    bindings: impl IntoIterator<Item = &'a KeyBinding>,
    app: &mut App,
    key: KeyEvent,
) -> Option<Vec<Action>> {
    bindings
        .into_iter()
        .filter(|b| b.handles(key.code))
        .find_map(|b| {
            if (b.active)(app) {
                (b.run)(app, key)
            } else {
                None
            }
        })
}

const DIGITS: &[KeyCode] = &[
    Char('1'),
    Char('2'),
    Char('3'),
    Char('4'),
    Char('5'),
    Char('6'),
    Char('7'),
    Char('8'),
    Char('9'),
];

/// The global keys, in the order help shows them.
pub static GLOBAL: &[Section] = &[
    Section {
        title: "General",
        keys: &[
            KeyBinding::new(
                &[Char('?'), KeyCode::F(1)],
                "?",
                "this help (esc closes)",
                help,
            )
            .hint(Hint::Lead("help")),
            KeyBinding::new(&[Char(':')], ":", COMMAND_HELP, command).hint(Hint::Lead("command")),
            KeyBinding::new(
                &[Char('s')],
                "s",
                "compose and send a test message",
                compose,
            )
            .hint(Hint::Tail("send"))
            .when(writable),
            KeyBinding::new(&[Char('L')], "L", "load generator on/off", load)
                .hint(Hint::Tail("load"))
                .when(writable),
            KeyBinding::new(
                &[Char('+'), Char('='), Char('-')],
                "+ / -",
                "load generator rate up/down",
                rate,
            )
            .hint(Hint::Tail("rate"))
            .when(writable),
            KeyBinding::new(
                &[Char('q')],
                "q",
                "quit (asks first)   ctrl-c quits at once",
                quit,
            )
            .hint(Hint::Tail("quit")),
        ],
    },
    Section {
        title: "Navigation",
        keys: &[
            KeyBinding::new(
                &[KeyCode::Tab, KeyCode::BackTab],
                "tab / shift-tab",
                "next / previous view",
                cycle,
            )
            .hint(Hint::Tail("pane")),
            KeyBinding::new(
                DIGITS,
                "1 – 9",
                "the view of that number (see Views)",
                number,
            ),
            KeyBinding::new(
                &[
                    Char('j'),
                    KeyCode::Down,
                    Char('k'),
                    KeyCode::Up,
                    KeyCode::PageDown,
                    KeyCode::PageUp,
                ],
                "j k ↓ ↑ pgdn pgup",
                "move the selection (pgdn pgup: by 10)",
                step,
            ),
            KeyBinding::new(
                &[Char('g'), KeyCode::Home, Char('G'), KeyCode::End],
                "g G / home end",
                "first / last row",
                ends,
            ),
            KeyBinding::new(
                &[KeyCode::Esc],
                "esc",
                "from a : view, the dashboard again",
                to_dashboard,
            )
            .hint(Hint::Lead("dashboard"))
            .when(in_colon_view),
            KeyBinding::new(
                &[KeyCode::Esc],
                "esc",
                "back a step: drill-down, filter, zoom",
                back,
            ),
            KeyBinding::new(&[Char('z')], "z", "zoom the focused view", zoom)
                .hint(Hint::Tail("zoom"))
                .when(on_dashboard),
        ],
    },
];

/// The `:` verbs that are not views, written once for help and for the answer to an
/// unknown name (a macro, so that both can be `&'static str` built at compile time).
macro_rules! commands {
    () => {
        ":search WORDS  :send TEXT  :load on|off  :rate N  :q"
    };
}

/// The verbs that act on one worker (the supervisor's controls).
macro_rules! worker_commands {
    () => {
        ":pause :resume :restart :stop :start WORKER  :reindex  :trace ID  :reset GROUP TO"
    };
}

pub const COMMANDS: &str = concat!(commands!(), "  ", worker_commands!());

const COMMAND_HELP: &str = concat!(
    "command: a view by name (tab completes; see Views)\n",
    commands!(),
    "\n",
    worker_commands!()
);

/// Every global binding, in declaration order.
pub fn global() -> impl Iterator<Item = &'static KeyBinding> {
    GLOBAL.iter().flat_map(|s| s.keys.iter())
}

/// `/` on a list view: its filter, applied as it is typed. Shared by the list views, which
/// may narrow when it applies with [`KeyBinding::when`].
pub const FILTER: KeyBinding =
    KeyBinding::new(&[Char('/')], "/", "filter the list (esc clears)", filter)
        .hint(Hint::Lead("filter"));

/// The keys of the help overlay itself, shown on its bottom border.
pub static HELP: &[KeyBinding] = &[
    KeyBinding::new(
        &[KeyCode::Esc, Char('?'), Char('q'), KeyCode::Enter],
        "esc",
        "close the help",
        close_help,
    )
    .hint(Hint::Lead("close")),
    KeyBinding::new(
        &[Char('j'), KeyCode::Down, Char('k'), KeyCode::Up],
        "j / k",
        "scroll the help",
        scroll_help,
    )
    .hint(Hint::Lead("scroll")),
];

/// The footer's short form of a help label: "c / a" → "c/a", "tab / shift-tab" → "tab".
pub fn short_label(label: &'static str) -> Cow<'static, str> {
    let parts: Vec<&str> = label.split(" / ").collect();
    if parts.len() > 1 && parts.iter().all(|p| p.chars().count() == 1) {
        Cow::Owned(parts.join("/"))
    } else {
        Cow::Borrowed(parts[0])
    }
}

/// The compose form's keys, for help only: the form reads them itself (`compose.rs`).
pub const COMPOSE: &[(&str, &str)] = &[
    ("tab / shift-tab", "next / previous field"),
    ("enter", "send (on the text field)"),
    ("ctrl-u ctrl-w ctrl-k", "clear line / word / to end"),
    ("esc", "cancel"),
];

// The global keys' actions. Each is handled whatever the state (`Some`), so that a global
// key is never passed on.

fn help(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    app.mode = Mode::Help { scroll: 0 };
    Some(Vec::new())
}

fn command(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    app.mode = Mode::Command(TextField::default());
    Some(Vec::new())
}

fn filter(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    app.mode = Mode::Filter(TextField::new(app.filter(app.focus)));
    Some(Vec::new())
}

fn compose(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    app.mode = Mode::Compose(ComposeForm::new_message(&app.channel, &app.author));
    Some(Vec::new())
}

fn load(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    let on = !app.load_on;
    let mut actions = set_load(app, on);
    if !on {
        // Switching off needs no rate.
        actions.retain(|a| !matches!(a, Action::SetRate(_)));
    }
    Some(actions)
}

fn rate(app: &mut App, key: KeyEvent) -> Option<Vec<Action>> {
    let rate = app.rate_step(key.code != Char('-'));
    Some(set_rate(app, rate))
}

fn quit(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    app.mode = Mode::Confirm(Confirm::Quit);
    Some(Vec::new())
}

fn cycle(app: &mut App, key: KeyEvent) -> Option<Vec<Action>> {
    let next = if key.code == KeyCode::Tab {
        app.focus.next()
    } else {
        app.focus.prev()
    };
    focus(app, next);
    Some(Vec::new())
}

fn number(app: &mut App, key: KeyEvent) -> Option<Vec<Action>> {
    // A number without a view does nothing, but is still this key's.
    let n = DIGITS.iter().position(|c| *c == key.code);
    if let Some(id) = n.and_then(|i| ViewId::ALL.get(i)) {
        focus(app, *id);
    }
    Some(Vec::new())
}

fn step(app: &mut App, key: KeyEvent) -> Option<Vec<Action>> {
    let delta = match key.code {
        Char('j') | KeyCode::Down => 1,
        KeyCode::PageDown => 10,
        KeyCode::PageUp => -10,
        _ => -1,
    };
    move_selection(app, delta);
    Some(Vec::new())
}

fn ends(app: &mut App, key: KeyEvent) -> Option<Vec<Action>> {
    let first = matches!(key.code, Char('g') | KeyCode::Home);
    move_selection(app, if first { i64::MIN / 2 } else { i64::MAX / 2 });
    Some(Vec::new())
}

/// In a `:` view with nothing of its own for `esc` to undo (a drill-down, a filter).
fn in_colon_view(app: &App) -> bool {
    app.view.is_some() && app.filter(app.focus).is_empty()
}

fn to_dashboard(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    app.view = None;
    Some(Vec::new())
}

/// `esc` once a view had its say (leaving its drill-down): clear the filter, else leave zoom.
fn back(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    let list = app.list_mut(app.focus);
    if !list.filter.is_empty() {
        list.filter.clear();
        list.selected = 0;
    } else {
        app.zoomed = false;
    }
    Some(Vec::new())
}

fn close_help(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    app.mode = Mode::Normal;
    Some(Vec::new())
}

fn scroll_help(app: &mut App, key: KeyEvent) -> Option<Vec<Action>> {
    if let Mode::Help { scroll } = &mut app.mode {
        *scroll = match key.code {
            Char('j') | KeyCode::Down => scroll.saturating_add(1),
            _ => scroll.saturating_sub(1),
        };
    }
    Some(Vec::new())
}

/// Zoom is the dashboard's: a `:` view has the main area already.
fn on_dashboard(app: &App) -> bool {
    app.view.is_none()
}

fn zoom(app: &mut App, _: KeyEvent) -> Option<Vec<Action>> {
    app.zoomed = !app.zoomed;
    Some(Vec::new())
}

/// Focuses a view; with a `:` view on screen, that view follows the focus, so the keys
/// always go to the view that is shown.
pub fn focus(app: &mut App, id: ViewId) {
    app.focus = id;
    if app.view.is_some() {
        app.view = Some(id);
    }
}

fn move_selection(app: &mut App, delta: i64) {
    let view = app.focus.view();
    let n = view.row_count(app) as i64;
    let sel = view.selection(app);
    let next = (*sel as i64).saturating_add(delta).clamp(0, (n - 1).max(0));
    *sel = next as usize;
}

/// Switches the load generator; the rate goes first so it starts at the rate shown.
pub fn set_load(app: &mut App, on: bool) -> Vec<Action> {
    app.load_on = on;
    let state = if on { "on" } else { "off" };
    app.flash_info(format!("load generator {state} at {}/s", app.load_rate));
    vec![Action::SetRate(app.load_rate), Action::SetLoad(on)]
}

pub fn set_rate(app: &mut App, rate: u32) -> Vec<Action> {
    app.load_rate = rate;
    app.flash_info(format!("load generator rate {rate}/s"));
    vec![Action::SetRate(rate)]
}
