//! Is the embedded broker's storage engine alive? tansu serves every request that touches
//! its SQLite file through one task; when that task ends (a panic inside tansu-storage, or a
//! requester gone before its answer), the broker keeps accepting connections but can no
//! longer answer anything that needs storage: produce fails with "unknown server error" and
//! metadata gets no answer. The probe asks for metadata over a fresh connection, the way
//! any client would, and says which of the three happened.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What one metadata request came back with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// An answer to our request: storage works.
    Answered,
    /// The broker closed the connection or answered garbage instead of metadata: the
    /// storage engine is gone (a healthy tansu always answers a metadata request).
    Refused(String),
    /// No connection or no answer in time: busy or down, not known to be dead.
    Silent(String),
}

/// Metadata v1 naming no topic: tansu still reads the brokers from storage to answer it.
const API_METADATA: i16 = 3;
const VERSION: i16 = 1;
const CORRELATION: i32 = 0x0ed0_c0de;
const CLIENT: &[u8] = b"eventdeck-probe";

fn metadata_request() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&API_METADATA.to_be_bytes());
    body.extend_from_slice(&VERSION.to_be_bytes());
    body.extend_from_slice(&CORRELATION.to_be_bytes());
    body.extend_from_slice(&(CLIENT.len() as i16).to_be_bytes());
    body.extend_from_slice(CLIENT);
    body.extend_from_slice(&0i32.to_be_bytes()); // an empty (not null) topic array
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

/// Sends one metadata request to `address` and waits up to `wait` for its answer.
pub async fn probe(address: &str, wait: Duration) -> Probe {
    match tokio::time::timeout(wait, exchange(address)).await {
        Ok(result) => result,
        Err(_) => Probe::Silent(format!("no answer within {} s", wait.as_secs())),
    }
}

async fn exchange(address: &str) -> Probe {
    let mut stream = match TcpStream::connect(address).await {
        Ok(s) => s,
        Err(e) => return Probe::Silent(format!("cannot connect: {e}")),
    };
    if let Err(e) = stream.write_all(&metadata_request()).await {
        return Probe::Silent(format!("cannot send: {e}"));
    }
    let mut head = [0u8; 8];
    match stream.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Probe::Refused("closed the connection instead of answering".into())
        }
        Err(e) => return Probe::Refused(format!("connection failed before an answer: {e}")),
    }
    let correlation = i32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    if correlation == CORRELATION {
        Probe::Answered
    } else {
        Probe::Refused(format!("answered another request ({correlation:#x})"))
    }
}

/// Consecutive refusals before the engine counts as dead: one could be a connection torn
/// down by something else.
pub const REFUSALS_TO_RESTART: u32 = 2;

/// Counts consecutive refusals; an answer (or silence, which proves nothing) resets nothing
/// but an answer does.
#[derive(Debug, Default)]
pub struct StorageWatch {
    refused_in_a_row: u32,
}

impl StorageWatch {
    /// Folds one probe; true when the storage engine is to be taken as dead.
    pub fn dead_after(&mut self, probe: &Probe) -> bool {
        match probe {
            Probe::Answered => self.refused_in_a_row = 0,
            Probe::Refused(_) => self.refused_in_a_row += 1,
            Probe::Silent(_) => {}
        }
        self.refused_in_a_row >= REFUSALS_TO_RESTART
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_a_framed_metadata_v1_with_an_empty_topic_array() {
        let r = metadata_request();
        let size = i32::from_be_bytes([r[0], r[1], r[2], r[3]]) as usize;
        assert_eq!(size, r.len() - 4);
        assert_eq!(&r[4..6], &3i16.to_be_bytes());
        assert_eq!(&r[6..8], &1i16.to_be_bytes());
        assert_eq!(&r[r.len() - 4..], &0i32.to_be_bytes());
    }

    #[test]
    fn two_refusals_in_a_row_mean_dead_and_an_answer_between_them_does_not() {
        let refused = Probe::Refused("closed".into());
        let mut w = StorageWatch::default();
        assert!(!w.dead_after(&refused));
        assert!(!w.dead_after(&Probe::Answered));
        assert!(!w.dead_after(&refused));
        assert!(!w.dead_after(&Probe::Silent("slow".into())));
        assert!(w.dead_after(&refused));
    }

    #[tokio::test]
    async fn a_port_nobody_listens_on_is_silence_not_death() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let p = probe(&format!("127.0.0.1:{port}"), Duration::from_secs(2)).await;
        assert!(matches!(p, Probe::Silent(_)), "{p:?}");
    }
}
