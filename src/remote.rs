//! Requests from another eventdeck process to the one that holds the data directory, on a
//! Unix socket in that directory (`control.sock`, mode 0600: only its owner can connect). Some work
//! can only be done by the holder: the local index has one writer, so `eventdeck replay
//! --reindex` beside a running console asks the console to do it and shows its progress.
//!
//! The protocol is one JSON request line, answered by JSON lines: progress, then one `done`
//! or `error`. The server turns a request into an [`ops::Command`](crate::ops::Command) for
//! the supervisor, exactly as the console's own keys do.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch};

use crate::analytics::AnalyticsSummary;
use crate::monitor::snapshot::WorkerStatus;
use crate::ops::{Command, ReindexProgress, Reindexed};

/// The socket's name in the data directory.
pub const SOCKET_FILE: &str = "control.sock";

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Request {
    Reindex,
    Analytics,
    Workers,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Progress(ReindexProgress),
    Done(Reindexed),
    Analytics(Option<AnalyticsSummary>),
    Workers(Vec<WorkerStatus>),
    Error(String),
}

/// Serves requests until `shutdown`; removes the socket when it ends. Binding fails when the
/// path is too long for a Unix socket (108 bytes): then other processes cannot ask, which is
/// logged, and nothing else changes.
pub fn serve(
    data_dir: &Path,
    commands: mpsc::Sender<Command>,
    mut shutdown: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let path = data_dir.join(SOCKET_FILE);
    // Ours: the data directory's lock is held by this process, so any file here is stale.
    let _ = std::fs::remove_file(&path);
    let listener = match UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(path = %path.display(), "control socket not opened: {e}");
            return None;
        }
    };
    // Connecting needs write permission on the socket: its owner only.
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!(path = %path.display(), "control socket left without owner-only mode: {e}");
        }
    }
    Some(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        tokio::spawn(answer(stream, commands.clone()));
                    }
                    Err(e) => tracing::warn!("control socket: {e}"),
                },
            }
        }
        let _ = std::fs::remove_file(&path);
    }))
}

async fn answer(stream: UnixStream, commands: mpsc::Sender<Command>) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    if BufReader::new(read).read_line(&mut line).await.is_err() {
        return;
    }
    let request: Request = match serde_json::from_str(&line) {
        Ok(r) => r,
        Err(e) => {
            let _ = send(
                &mut write,
                &Answer::Error(format!("unreadable request: {e}")),
            )
            .await;
            return;
        }
    };
    match request {
        Request::Analytics => {
            let (reply, answer) = oneshot::channel();
            let last = match commands.send(Command::Analytics { reply }).await {
                Ok(()) => match answer.await {
                    Ok(summary) => Answer::Analytics(summary),
                    Err(_) => Answer::Error("the supervisor stopped".into()),
                },
                Err(_) => Answer::Error("the supervisor stopped".into()),
            };
            let _ = send(&mut write, &last).await;
        }
        Request::Workers => {
            let (reply, answer) = oneshot::channel();
            let last = match commands.send(Command::Workers { reply }).await {
                Ok(()) => match answer.await {
                    Ok(workers) => Answer::Workers(workers),
                    Err(_) => Answer::Error("the supervisor stopped".into()),
                },
                Err(_) => Answer::Error("the supervisor stopped".into()),
            };
            let _ = send(&mut write, &last).await;
        }
        Request::Reindex => {
            let (progress, mut progress_rx) = mpsc::unbounded_channel();
            let (reply, mut answer) = oneshot::channel();
            let command = Command::Reindex {
                progress: Some(progress),
                reply: Some(reply),
            };
            if commands.send(command).await.is_err() {
                let _ = send(&mut write, &Answer::Error("the supervisor stopped".into())).await;
                return;
            }
            let last = loop {
                tokio::select! {
                    Some(p) = progress_rx.recv() => {
                        // The asker went away: the reindex goes on, nobody watches.
                        if send(&mut write, &Answer::Progress(p)).await.is_err() {
                            return;
                        }
                    }
                    result = &mut answer => break match result {
                        Ok(Ok(done)) => Answer::Done(done),
                        Ok(Err(e)) => Answer::Error(e.to_string()),
                        Err(_) => Answer::Error("the supervisor stopped".into()),
                    },
                }
            };
            let _ = send(&mut write, &last).await;
        }
    }
}

async fn send(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    answer: &Answer,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(answer).map_err(std::io::Error::other)?;
    line.push(b'\n');
    write.write_all(&line).await
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("no eventdeck answers on {path}: {source}")]
    NotRunning {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the eventdeck holding the data directory: {0}")]
    Refused(String),
    #[error("the connection to the running eventdeck broke: {0}")]
    Broken(String),
}

/// Sends `request` to the eventdeck holding `data_dir`; its answers come on the lines.
async fn ask(
    data_dir: &Path,
    request: &Request,
) -> Result<tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>, RemoteError> {
    let path = data_dir.join(SOCKET_FILE);
    let stream = UnixStream::connect(&path)
        .await
        .map_err(|source| RemoteError::NotRunning {
            path: path.clone(),
            source,
        })?;
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_vec(request).map_err(|e| RemoteError::Broken(e.to_string()))?;
    line.push(b'\n');
    write
        .write_all(&line)
        .await
        .map_err(|e| RemoteError::Broken(e.to_string()))?;
    Ok(BufReader::new(read).lines())
}

/// The analytics counters of the eventdeck holding `data_dir` (`None`: it does not run
/// the analytics worker).
pub async fn analytics(data_dir: &Path) -> Result<Option<AnalyticsSummary>, RemoteError> {
    match one_answer(data_dir, &Request::Analytics).await? {
        Answer::Analytics(summary) => Ok(summary),
        _ => Err(RemoteError::Broken("an answer to another question".into())),
    }
}

/// Each worker's latest state in the eventdeck holding `data_dir`.
pub async fn workers(data_dir: &Path) -> Result<Vec<WorkerStatus>, RemoteError> {
    match one_answer(data_dir, &Request::Workers).await? {
        Answer::Workers(workers) => Ok(workers),
        _ => Err(RemoteError::Broken("an answer to another question".into())),
    }
}

/// Asks, and reads the one answer line (an error answer is an error).
async fn one_answer(data_dir: &Path, request: &Request) -> Result<Answer, RemoteError> {
    let mut lines = ask(data_dir, request).await?;
    let line = lines
        .next_line()
        .await
        .map_err(|e| RemoteError::Broken(e.to_string()))?
        .ok_or_else(|| RemoteError::Broken("closed before the answer".into()))?;
    match serde_json::from_str::<Answer>(&line) {
        Ok(Answer::Error(e)) => Err(RemoteError::Refused(e)),
        Ok(answer) => Ok(answer),
        Err(e) => Err(RemoteError::Broken(format!("unreadable answer: {e}"))),
    }
}

/// Asks the eventdeck holding `data_dir` to reindex; `progress` sees its progress.
pub async fn reindex(
    data_dir: &Path,
    mut progress: impl FnMut(ReindexProgress),
) -> Result<Reindexed, RemoteError> {
    let mut lines = ask(data_dir, &Request::Reindex).await?;
    loop {
        let line = lines
            .next_line()
            .await
            .map_err(|e| RemoteError::Broken(e.to_string()))?
            .ok_or_else(|| RemoteError::Broken("closed before the end".into()))?;
        match serde_json::from_str::<Answer>(&line) {
            Ok(Answer::Progress(p)) => progress(p),
            Ok(Answer::Done(done)) => return Ok(done),
            Ok(Answer::Error(e)) => return Err(RemoteError::Refused(e)),
            Ok(Answer::Analytics(_) | Answer::Workers(_)) => {
                return Err(RemoteError::Broken("an answer to another question".into()))
            }
            Err(e) => return Err(RemoteError::Broken(format!("unreadable answer: {e}"))),
        }
    }
}
