//! Event sourcing's read of the log: the message state rebuilt from the topics alone
//! ([`state`]), compared with the search index and the write model ([`verify`]), and the
//! command that reads the log to do it (`eventdeck replay`, in `commands::replay`).

pub mod read_archive;
pub mod read_log;
pub mod read_state;
pub mod reindex;
pub mod republish;
pub mod state;
pub mod verify;
