//! Integration tests against real services (one binary, so the large dependency set is
//! linked once). See harness.rs for what is started and how.

mod analytics;
mod api;
mod archive;
mod bench;
mod broker_storage;
mod cjk_corpus;
mod console;
mod console_jobs;
mod crash;
mod dead_letters;
mod default_setup;
mod faults;
mod group_reset;
mod harness;
mod hostile_corpus;
mod http;
mod load;
mod monitor;
mod monitor_noida;
mod monitor_status;
mod node;
mod pipeline;
mod postgres;
mod redrive;
mod reindex;
mod relay;
mod replay;
mod search_index;
mod secrets;
mod shutdown;
mod store;
mod tail;
mod trace;
mod worker_kills;
mod workers;
