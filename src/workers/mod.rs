//! Background workers. Each reports `WorkerEvent`s and never draws.

pub mod batch;
pub mod consumer;
pub mod dlq;
pub mod indexer;
pub mod loadgen;
pub mod notifier;
pub mod publisher;
pub mod report;
pub mod search_service;
pub mod supervisor;
