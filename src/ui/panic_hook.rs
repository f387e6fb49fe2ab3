//! Which panics may touch the terminal.
//!
//! `ratatui::try_init` installs a hook that restores the terminal on every panic, on whatever
//! thread it happens, then prints the message. But only a panic of the UI thread ends the
//! console: a background task that panics (a worker, the embedded broker's storage engine)
//! is caught by tokio and the console goes on drawing. Restoring then left it running on a
//! cooked terminal (no raw mode, no alternate screen) with the message printed across the
//! dashboard. So a panic elsewhere is written to the log instead, and the part that owned
//! the task reports it in the console (a failed worker, a restarted broker).

use std::panic::PanicHookInfo;
use std::thread::ThreadId;

/// Keeps ratatui's restoring hook for the thread that draws; logs panics of other threads.
pub fn restore_only_for(ui_thread: ThreadId) {
    let restore_and_print = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() == ui_thread {
            restore_and_print(info);
        } else {
            crate::embedded::broker::note_panic(info);
            let thread = std::thread::current();
            tracing::error!(
                thread = thread.name().unwrap_or("unnamed"),
                "a background task panicked: {}",
                describe(info)
            );
        }
    }));
}

/// "message (at file:line)".
fn describe(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string());
    match info.location() {
        Some(at) => format!("{message} (at {}:{})", at.file(), at.line()),
        None => message,
    }
}
