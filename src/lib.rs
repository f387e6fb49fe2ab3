//! eventdeck: a terminal operations console for a chat platform's Kafka event pipeline.
//! See DESIGN.md in the steering repository and README.md for the map of the modules.

pub mod allocator;
pub mod analytics;
pub mod api;
pub mod archive;
pub mod bench;
pub mod browse;
pub mod bus;
pub mod commands;
pub mod config;
pub mod embedded;
pub mod event;
pub mod logging;
pub mod monitor;
pub mod ops;
pub mod remote;
pub mod replay;
pub mod search;
pub mod store;
pub mod ui;
pub mod workers;

#[cfg(test)]
mod fuzz_tests;
