//! The views: one trait, one file per view, and the registry that lists them.
//!
//! A view owns everything about itself: its title and `:` names, the keys it handles
//! (declared once, as [`KeyBinding`] data, from which help and footer are drawn), how many
//! rows it has, and how it draws. The rest of the console goes through the registry and
//! never matches on a particular view.
//!
//! Invariants:
//! - `ViewId::ALL[i].view().id() == ViewId::ALL[i]`: the registry and the ids agree (tested).
//! - Key handling is pure: [`View::handle_key`] changes `App` and returns [`Action`]s, no I/O.
//! - Views hold no state (unit structs in a static table); their state lives in [`App`], so a
//!   view can be drawn and fed keys from anywhere, tests included.
//!
//! Adding a view: a new file with a unit struct implementing [`View`], its `mod` line, and
//! one line in `registry!` below. Its tab position, number key, `:` names, help section and
//! footer hints all follow from those.

pub mod analytics;
pub mod assignments;
pub mod cqrs;
pub mod dlq;
pub mod lag;
pub mod notifications;
pub mod search;
pub mod tail;
pub mod throughput;

use crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::Frame;

use super::app::{Action, App};
use super::keymap::{self, KeyBinding};

pub trait View: Sync {
    fn id(&self) -> ViewId;
    /// The pane title ("Consumer lag").
    fn title(&self) -> &'static str;
    /// The tab-strip label on small terminals ("Lag").
    fn short(&self) -> &'static str;
    /// The names that select it on the `:` command line; the first is the canonical one.
    fn names(&self) -> &'static [&'static str];
    /// The keys this view handles, in the order help and footer show them. They are tried
    /// before the global keymap, so a view may give a global key another meaning.
    fn keys(&self) -> &'static [KeyBinding] {
        &[]
    }
    /// `Some` when the view handled the key, `None` to fall through to the global keymap.
    fn handle_key(&self, app: &mut App, key: KeyEvent) -> Option<Vec<Action>> {
        keymap::dispatch(self.keys(), app, key)
    }
    fn draw(&self, frame: &mut Frame, area: Rect, app: &App);
    /// How many rows the selection moves over (after the filter, inside a drill-down).
    fn row_count(&self, app: &App) -> usize;
    /// The selected row. Most views keep it in their `ListState`.
    fn selection<'a>(&self, app: &'a mut App) -> &'a mut usize {
        &mut app.list_mut(self.id()).selected
    }
    /// `:name ARGS` opened the view; what the arguments ask for (`:search WORDS`).
    fn open(&self, _app: &mut App, _args: &str) -> Vec<Action> {
        Vec::new()
    }
}

/// Declares the views in tab order: the `ViewId` enum and the table of their
/// implementations, from one list so that the two cannot disagree.
macro_rules! registry {
    ($($id:ident => $view:expr,)+) => {
        /// A view, by identity. The order is the tab order; `1`–`9` select by position.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ViewId {
            $($id,)+
        }

        /// The implementations, in the order of `ViewId`.
        static VIEWS: &[&dyn View] = &[$(&$view,)+];

        impl ViewId {
            pub const ALL: &'static [ViewId] = &[$(ViewId::$id,)+];
        }
    };
}

registry! {
    Throughput => throughput::Throughput,
    Lag => lag::Lag,
    Assignments => assignments::Assignments,
    Notifications => notifications::Notifications,
    Search => search::Search,
    Cqrs => cqrs::Cqrs,
    Analytics => analytics::Analytics,
    Tail => tail::Tail,
    Dlq => dlq::Dlq,
}

/// The name that brings back the dashboard on the `:` command line.
pub const DASHBOARD: &[&str] = &["dashboard", "dash", "home"];

impl ViewId {
    pub fn view(self) -> &'static dyn View {
        VIEWS[self as usize]
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn title(self) -> &'static str {
        self.view().title()
    }

    pub fn short(self) -> &'static str {
        self.view().short()
    }

    pub fn next(self) -> ViewId {
        ViewId::ALL[(self.index() + 1) % ViewId::ALL.len()]
    }

    pub fn prev(self) -> ViewId {
        ViewId::ALL[(self.index() + ViewId::ALL.len() - 1) % ViewId::ALL.len()]
    }

    /// The view a `:` name selects, by any of its names.
    pub fn by_name(name: &str) -> Option<ViewId> {
        ViewId::ALL
            .iter()
            .copied()
            .find(|id| id.view().names().contains(&name))
    }
}

/// Opening a drill-down: remember the row to come back to, start at the top.
fn enter_drill(app: &mut App, id: ViewId, from: usize) {
    let list = app.list_mut(id);
    list.parent_selected = from;
    list.selected = 0;
}

/// Leaving a drill-down: back on the row it was opened from.
fn leave_drill(app: &mut App, id: ViewId) {
    let list = app.list_mut(id);
    list.selected = list.parent_selected;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_and_ids_agree_and_names_are_unique() {
        let mut names: Vec<&str> = DASHBOARD.to_vec();
        for (i, id) in ViewId::ALL.iter().enumerate() {
            assert_eq!(id.view().id(), *id, "VIEWS[{i}] is not {id:?}");
            assert_eq!(id.index(), i);
            assert!(!id.view().names().is_empty(), "{id:?} has no : name");
            names.extend(id.view().names());
        }
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "a : name selects two views");
        assert_eq!(ViewId::by_name("groups"), Some(ViewId::Lag));
        assert_eq!(ViewId::by_name("nope"), None);
    }
}
