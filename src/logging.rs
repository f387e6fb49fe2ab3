//! Structured logs: to stderr for headless commands, to a file in the data directory when
//! the console owns the terminal (a log line must never land on the screen).

use std::path::Path;

use tracing_subscriber::EnvFilter;

fn filter() -> EnvFilter {
    EnvFilter::try_from_env("EVENTDECK_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,librdkafka=warn,rdkafka=warn,tansu=warn"))
}

pub fn to_stderr() {
    use std::io::IsTerminal;
    // Colour codes only for a person at a terminal, not for journald or a log file.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn to_file(dir: &Path) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("eventdeck.log"))?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
    Ok(())
}
