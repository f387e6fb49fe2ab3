//! Background workers. Each reports `WorkerEvent`s and never draws.

pub mod analyst;
pub mod archiver;
pub mod assignment_watch;
pub mod backoff;
pub mod batch;
pub mod consumer;
pub mod control;
pub mod dlq;
pub mod idle;
pub mod idle_pause;
pub mod indexer;
pub mod loadgen;
pub mod notifier;
pub mod notify_recovery;
pub mod orphans;
pub mod publisher;
pub mod rejoin;
pub mod relay;
pub mod report;
pub mod search_service;
pub mod sent_memory;
pub mod settle;
pub mod stages;
pub mod state_keeper;
pub mod supervisor;
pub mod workshop;
