//! Colours and styles in one place, so every pane speaks the same visual language:
//! green healthy, yellow warning, red broken, cyan for focus and keys.

use ratatui::style::{Color, Modifier, Style};

use crate::monitor::snapshot::{Health, LagStatus};
use crate::ops::WorkerState;

pub const ACCENT: Color = Color::Cyan;
pub const OK: Color = Color::Green;
pub const WARN: Color = Color::Yellow;
pub const BAD: Color = Color::Red;
pub const MUTED: Color = Color::DarkGray;
pub const FLASH: Color = Color::Magenta;
/// No verdict yet (lag with no evidence either way): not green, not an alarm.
pub const UNKNOWN: Color = Color::LightBlue;

pub fn title_bar() -> Style {
    Style::new().bg(Color::Blue).fg(Color::White)
}

pub fn header() -> Style {
    Style::new().fg(Color::Gray).add_modifier(Modifier::BOLD)
}

pub fn selected() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

pub fn muted() -> Style {
    Style::new().fg(MUTED)
}

pub fn key() -> Style {
    Style::new().fg(ACCENT).add_modifier(Modifier::BOLD)
}

pub fn error() -> Style {
    Style::new().fg(BAD).add_modifier(Modifier::BOLD)
}

pub fn highlight_term() -> Style {
    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
}

pub fn border(focused: bool, flashing: bool) -> Style {
    if flashing {
        Style::new().fg(FLASH).add_modifier(Modifier::BOLD)
    } else if focused {
        Style::new().fg(ACCENT)
    } else {
        Style::new().fg(MUTED)
    }
}

pub fn status_color(status: LagStatus) -> Color {
    match status {
        LagStatus::Ok => OK,
        LagStatus::Unknown => UNKNOWN,
        LagStatus::Warn => WARN,
        LagStatus::Rewind => FLASH,
        LagStatus::Stall | LagStatus::Stop | LagStatus::Err => BAD,
    }
}

/// The whole row of a lagging group/partition turns yellow or red; healthy rows stay plain.
pub fn lag_row(status: LagStatus) -> Style {
    match status {
        LagStatus::Ok => Style::new(),
        other => Style::new().fg(status_color(other)),
    }
}

pub fn status(status: LagStatus) -> Style {
    Style::new()
        .fg(status_color(status))
        .add_modifier(Modifier::BOLD)
}

pub fn health(h: &Health) -> Style {
    match h {
        Health::Up => Style::new().fg(OK),
        Health::Unknown | Health::Slow(_) => Style::new().fg(WARN),
        Health::Down(_) => error(),
    }
}

pub fn worker(state: &WorkerState) -> Style {
    match state {
        WorkerState::Running => Style::new().fg(OK),
        WorkerState::Starting => Style::new().fg(WARN),
        WorkerState::BackingOff { .. } => Style::new().fg(WARN).add_modifier(Modifier::BOLD),
        WorkerState::Failed { .. } => error(),
        WorkerState::Paused => Style::new().fg(WARN),
        WorkerState::Stopped => muted(),
    }
}
