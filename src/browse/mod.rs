//! Looking at the records themselves, as Kafka UI or kcat let people do: a live tail of one
//! topic. `view` (pure) makes a record safe to show — one summary line, a pretty detail —
//! whatever its bytes; `buffer` (pure) keeps the newest records within a bound, filtered and
//! pausable; `tail` (I/O) reads a topic without joining any group or committing anything,
//! so the real groups never notice it. `trace`, `redrive` and `reset` follow one message,
//! send dead letters back and move a group's offsets; `service` and `jobs` run the tail and
//! those for the console.

pub mod buffer;
pub mod jobs;
pub mod redrive;
pub mod reset;
pub mod service;
pub mod tail;
pub mod trace;
pub mod view;
