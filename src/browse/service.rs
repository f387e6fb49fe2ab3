//! Runs the console's live tail off its thread: the UI asks for a topic with a
//! [`TailRequest`] and receives the tail's events tagged with the request's id (events of a
//! tail it has moved away from are recognisable and dropped). One tail at a time; the
//! console never holds a Kafka client itself.

use tokio::sync::mpsc;

use super::tail::{start_tail, TailEvent, TailFrom, TailHandle};
use crate::bus::Cluster;

#[derive(Debug, Clone, PartialEq)]
pub enum TailRequest {
    Start {
        id: u64,
        topic: String,
        from: TailFrom,
    },
    Stop,
}

/// Serves requests until the request channel closes. The channel to the UI is bounded: a
/// UI that falls behind slows the tail's reading rather than growing a queue.
pub async fn run_tail_service(
    cluster: Cluster,
    mut requests: mpsc::Receiver<TailRequest>,
    events: mpsc::Sender<(u64, TailEvent)>,
) {
    let mut current: Option<(u64, TailHandle, mpsc::Receiver<TailEvent>)> = None;
    loop {
        let event = async {
            match current.as_mut() {
                Some((_, _, rx)) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            request = requests.recv() => {
                stop(current.take()).await;
                match request {
                    Some(TailRequest::Start { id, topic, from }) => {
                        let (tx, rx) = mpsc::channel(8);
                        current = Some((id, start_tail(&cluster, &topic, from, tx), rx));
                    }
                    Some(TailRequest::Stop) => {}
                    None => return,
                }
            }
            event = event => match event {
                Some(e) => {
                    let id = current.as_ref().map_or(0, |(id, _, _)| *id);
                    if events.send((id, e)).await.is_err() {
                        stop(current.take()).await;
                        return;
                    }
                }
                // The tail's thread ended (it could not start: its error came first).
                None => stop(current.take()).await,
            },
        }
    }
}

/// Joins the tail's thread off the async threads (it finishes its current poll first).
async fn stop(tail: Option<(u64, TailHandle, mpsc::Receiver<TailEvent>)>) {
    if let Some((_, handle, rx)) = tail {
        // Dropping the receiver first unblocks a thread waiting to hand over a batch.
        drop(rx);
        let _ = tokio::task::spawn_blocking(move || handle.stop()).await;
    }
}
