//! The zero-setup default: an in-process Kafka-protocol broker and the data directory.

pub mod broker;
pub mod datadir;
pub mod groups;
pub mod probe;
