//! The `eventdeck` command line: the console by default, `run` for headless workers, and the
//! client commands. Configuration errors are printed with the file and key, never a panic.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use eventdeck::config::{Config, Overrides};
use eventdeck::ops::WorkerId;
use eventdeck::search::{SearchQuery, SortOrder};

#[derive(Parser, Debug)]
#[command(
    name = "eventdeck",
    version,
    about = "Operations console for a chat platform's Kafka event pipeline"
)]
struct Cli {
    /// Configuration file (default: ./config.toml when it exists).
    #[arg(long, global = true, env = "EVENTDECK_CONFIG")]
    config: Option<PathBuf>,
    /// Kafka bootstrap servers; empty runs the embedded broker.
    #[arg(long, global = true)]
    brokers: Option<String>,
    /// Elasticsearch/OpenSearch URL; empty uses the local index.
    #[arg(long, global = true)]
    search_url: Option<String>,
    /// Data directory (embedded broker, local index, logs).
    #[arg(long, global = true)]
    data_dir: Option<String>,
    /// Port of the embedded broker on 127.0.0.1 (0: any free port).
    #[arg(long, global = true)]
    embedded_port: Option<u16>,
    /// Prometheus /metrics port on 127.0.0.1 (0: off).
    #[arg(long, global = true)]
    metrics_port: Option<u16>,
    /// The console offers and does nothing that writes: no send, load, edit, delete or
    /// reindex (`[console] read_only`).
    #[arg(long, global = true)]
    read_only: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Bench {
    /// Write vs read: posts through the command side while searching the index, on a fresh
    /// data directory; throughput, p50/p95/p99 of each, commit→searchable p50/p99.
    Cqrs {
        /// Messages to post.
        #[arg(long, default_value_t = 5000)]
        messages: usize,
        /// Searches to run meanwhile.
        #[arg(long, default_value_t = 5000)]
        searches: usize,
        #[arg(long, default_value_t = 8)]
        writers: usize,
        #[arg(long, default_value_t = 4)]
        searchers: usize,
        /// The write model on PostgreSQL (postgres://…); default: the embedded store.
        #[arg(long, default_value = "")]
        store: String,
    },
    /// The indexer against its baselines: consume-only (local index), or the engine's own
    /// `_bulk` and a one-request-per-event consumer (`--search-url`).
    Ingest {
        /// Events to publish and index.
        #[arg(long, default_value_t = 20_000)]
        events: u64,
        /// An Elasticsearch API to index into (default: the local index).
        #[arg(long, default_value = "")]
        search_url: String,
        /// Events the one-request-per-event baseline indexes.
        #[arg(long, default_value_t = 2_000)]
        guide_events: u64,
    },
    /// Produce→searchable and produce→written p50/p99 under a steady load, and the refresh's
    /// share of it (local index, or `--search-url`).
    E2e {
        /// Events per second.
        #[arg(long, default_value_t = 1_000)]
        rate: u64,
        /// Seconds of load.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// An Elasticsearch API to index into (default: the local index).
        #[arg(long, default_value = "")]
        search_url: String,
        /// How often the pending probes are searched for (resolution and load on the engine).
        #[arg(long, default_value_t = 25)]
        poll_ms: u64,
    },
    /// One monitor pass (fold, evaluate, snapshot) at 1,000 and 100,000 group-partitions,
    /// against summing the same lags.
    Monitor,
    /// The console's frame at 80×24 and 200×60 with 1,000 partitions, against an empty one.
    Render,
    /// Everything above but cqrs, one table: ingest and e2e on the local index and on each
    /// --search-url, then monitor and render.
    All {
        /// Events of the local index's ingest.
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Events of each --search-url engine's ingest.
        #[arg(long, default_value_t = 20_000)]
        engine_events: u64,
        /// Seconds of the end-to-end load.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// An Elasticsearch API to index into as well (repeatable).
        #[arg(long)]
        search_url: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum GroupAction {
    /// Move a group's committed offsets. Prints before/after and the lag it creates; refused
    /// while the group has active members (stop them first).
    Reset {
        group: String,
        /// earliest, latest, an offset (every partition), or a time (2026-12-02T10:00:00Z, 15m).
        #[arg(long)]
        to: String,
        /// The topics (default: the message topics, which eventdeck's groups read).
        #[arg(long = "topic", value_name = "TOPIC")]
        topics: Vec<String>,
        /// Only print the plan.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand, Debug)]
enum DlqAction {
    /// Every dead letter: when, where from, why, how often re-driven, and its gist.
    List {
        /// One JSON object a line, in the archive's format (headers included).
        #[arg(long)]
        json: bool,
    },
    /// Send dead letters back to their source topics (after fixing the cause). Without
    /// --yes, only says how many would go where. Resumes where an interrupted one stopped.
    Redrive {
        /// Only the dead letters whose key, event type, reason, source topic or value hold
        /// every word.
        #[arg(long, default_value = "")]
        filter: String,
        /// Really send them.
        #[arg(long)]
        yes: bool,
        /// At most this many records a second (0: no limit).
        #[arg(long, default_value_t = eventdeck::browse::redrive::DEFAULT_RATE)]
        rate: u32,
        /// A dead letter already re-driven this many times is held, not sent again.
        #[arg(long, default_value_t = eventdeck::browse::redrive::DEFAULT_MAX_REDRIVES)]
        max_redrives: u32,
    },
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the producer, indexer and notifier without the console (logs to stderr).
    Run {
        /// Only these workers, comma-separated (producer, indexer, notifier). Several
        /// processes running the same worker against one cluster share its partitions.
        #[arg(long, value_name = "LIST")]
        workers: Option<String>,
    },
    /// The HTTP API ([api] addr, default 127.0.0.1:8080) and every worker: POST/PATCH/DELETE
    /// /messages go through the write model and its outbox, GET /messages/search to the index.
    Serve {
        /// Only these workers, comma-separated, as for `run`.
        #[arg(long, value_name = "LIST")]
        workers: Option<String>,
    },
    /// Rebuild the message state from the log (the message topics from the beginning);
    /// --verify compares it with the search index and the write model, --reindex rebuilds
    /// the search index without downtime.
    Replay {
        /// Report every difference by id; exit non-zero when there is any.
        #[arg(long)]
        verify: bool,
        /// Read the archive's files (e.g. DATA_DIR/archive) instead of the topics.
        #[arg(long, value_name = "DIR")]
        from_archive: Option<PathBuf>,
        /// Build a new search index from the log while the old one keeps serving, then switch
        /// to it (Elasticsearch: a new messages-<time> index behind the alias). Beside a
        /// running eventdeck it asks that one to do it.
        #[arg(long, conflicts_with = "from_archive")]
        reindex: bool,
        /// Start from the compacted state topic (kept by the state keeper, [state] enabled)
        /// plus the events after its committed offsets, instead of the whole history.
        #[arg(long, conflicts_with_all = ["from_archive", "reindex"])]
        from_state: bool,
        /// With --from-archive: produce every archived record back into its topic (an empty
        /// log: a new data directory or cluster); the workers then rebuild from it.
        #[arg(long, requires = "from_archive")]
        republish: bool,
    },
    /// Benchmarks, printed with ratios against a baseline measured in the same run.
    Bench {
        #[command(subcommand)]
        bench: Bench,
    },
    /// Post one message through the write model, e.g. `eventdeck send --channel ch_dev --author user_001 "deployed @user_002"`.
    Send {
        #[arg(long, default_value = "ch_general")]
        channel: String,
        #[arg(long, default_value = "user_001")]
        author: String,
        /// The text; @user words become mentions.
        text: String,
    },
    /// Publish generated traffic: COUNT events at RATE per second (0: as fast as possible).
    Load {
        #[arg(long, default_value_t = 1000)]
        count: u64,
        #[arg(long, default_value_t = 0)]
        rate: u32,
    },
    /// Search the message index with a match query.
    Search {
        /// Words to match (any of them); empty lists the newest messages.
        #[arg(default_value = "")]
        text: String,
        #[arg(long)]
        channel: Option<String>,
        #[arg(long)]
        author: Option<String>,
        /// Newest first instead of by relevance.
        #[arg(long)]
        newest: bool,
        #[arg(long, default_value_t = 20)]
        size: usize,
        #[arg(long, default_value_t = 0)]
        page: usize,
        /// Print the results as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The records of a topic as they arrive (like `kcat -C`): partition/offset, key, event
    /// type and a one-line summary, or JSON lines. Joins no group and commits nothing.
    Tail {
        topic: String,
        /// Everything the topic still holds, not only what arrives from now on.
        #[arg(long, conflicts_with = "since")]
        from_beginning: bool,
        /// From a time: 2026-12-02T10:00:00Z, "2026-12-02 10:00" (UTC), or an age: 15m, 2h.
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// One JSON object a line, in the archive's format (binary as base64).
        #[arg(long)]
        json: bool,
        /// Stop after this many records.
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
    },
    /// The dead-letter topic: list it, or re-drive its records to their source topics.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// A consumer group's offsets: reset them (with a dry run).
    Group {
        #[command(subcommand)]
        action: GroupAction,
    },
    /// One message's way through the pipeline: its events (and whether the indexer has
    /// passed them), the index's document, its dead letters, the notifications it caused.
    Trace {
        message_id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Topics, consumer groups, lag (messages and seconds), status and members, like
    /// `kafka-consumer-groups --describe`.
    Status {
        /// Print JSON of a stable, documented shape (see README).
        #[arg(long)]
        json: bool,
        /// Refresh every sample interval until Ctrl-C.
        #[arg(long)]
        watch: bool,
    },
}

fn load_config(cli: &Cli) -> Result<Config, eventdeck::config::ConfigError> {
    let (path, required) = match &cli.config {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from("config.toml"), false),
    };
    let flags = Overrides {
        brokers: cli.brokers.clone(),
        search_url: cli.search_url.clone(),
        data_dir: cli.data_dir.clone(),
        embedded_port: cli.embedded_port,
        metrics_port: cli.metrics_port,
        read_only: cli.read_only,
    };
    Config::load(&path, required, std::env::vars(), &flags)
}

fn main() -> ExitCode {
    eventdeck::allocator::limit_arenas();
    eventdeck::allocator::trim_periodically(eventdeck::allocator::TRIM_EVERY);
    // A panic inside the embedded broker's storage engine makes its watch look at once.
    eventdeck::embedded::broker::watch_panics();
    let cli = Cli::parse();
    let config = match load_config(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("eventdeck: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("eventdeck: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(dispatch(cli.command, config));
    // Worker threads of librdkafka and tansu may linger; do not wait for them long: the
    // stop already waited up to `shutdown_grace_seconds` for what matters (commits).
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eventdeck: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn worker_list(list: Option<String>, config: &Config) -> anyhow::Result<Vec<WorkerId>> {
    match list {
        Some(list) => WorkerId::parse_list(&list).map_err(|e| anyhow::anyhow!("--workers: {e}")),
        None => Ok(config.default_workers()),
    }
}

async fn dispatch(command: Option<Command>, config: Config) -> anyhow::Result<()> {
    use eventdeck::commands;
    if matches!(command, Some(Command::Bench { .. })) && std::env::var_os("EVENTDECK_LOG").is_some()
    {
        // Asked for: a worker backing off or a rebalance explains a figure. Not by default:
        // each benchmark stops its broker under its clients, and their complaints would
        // bury the table.
        eventdeck::logging::to_stderr();
    }
    match command {
        None => commands::console::console(config).await,
        Some(Command::Run { workers }) => {
            let workers = worker_list(workers, &config)?;
            eventdeck::logging::to_stderr();
            commands::run::run(config, &workers).await
        }
        Some(Command::Serve { workers }) => {
            let workers = worker_list(workers, &config)?;
            eventdeck::logging::to_stderr();
            commands::serve::serve(config, &workers).await
        }
        Some(Command::Replay {
            verify,
            from_archive,
            reindex,
            republish,
            from_state,
        }) => {
            let mode = match (reindex, republish) {
                (true, _) => commands::replay::Mode::Reindex,
                (_, true) => commands::replay::Mode::Republish,
                _ => commands::replay::Mode::Rebuild,
            };
            let source = match from_archive {
                Some(dir) => commands::replay::Source::Archive(dir),
                None if from_state => commands::replay::Source::State,
                None => commands::replay::Source::Log,
            };
            commands::replay::replay(config, verify, source, mode).await
        }
        Some(Command::Bench {
            bench:
                Bench::Cqrs {
                    messages,
                    searches,
                    writers,
                    searchers,
                    store,
                },
        }) => {
            commands::bench_cqrs::bench_cqrs(
                config,
                commands::bench_cqrs::BenchCqrs {
                    messages,
                    searches,
                    writers,
                    searchers,
                    store,
                },
            )
            .await
        }
        Some(Command::Bench {
            bench:
                Bench::Ingest {
                    events,
                    search_url,
                    guide_events,
                },
        }) => {
            let args = eventdeck::bench::ingest::IngestArgs {
                events,
                search_url,
                guide_events,
            };
            let rows = eventdeck::bench::ingest::run(config, &args).await?;
            print!("{}", eventdeck::bench::markdown(&rows));
            Ok(())
        }
        Some(Command::Bench {
            bench:
                Bench::E2e {
                    rate,
                    seconds,
                    search_url,
                    poll_ms,
                },
        }) => {
            let args = eventdeck::bench::e2e::E2eArgs {
                rate,
                seconds,
                search_url,
                poll: std::time::Duration::from_millis(poll_ms),
            };
            let rows = eventdeck::bench::e2e::run(config, &args).await?;
            print!("{}", eventdeck::bench::markdown(&rows));
            Ok(())
        }
        Some(Command::Bench {
            bench: Bench::Monitor,
        }) => {
            let rows = tokio::task::spawn_blocking(eventdeck::bench::monitor::run).await?;
            print!("{}", eventdeck::bench::markdown(&rows));
            Ok(())
        }
        Some(Command::Bench {
            bench: Bench::Render,
        }) => {
            let rows = tokio::task::spawn_blocking(eventdeck::bench::render::run).await??;
            print!("{}", eventdeck::bench::markdown(&rows));
            Ok(())
        }
        Some(Command::Bench {
            bench:
                Bench::All {
                    events,
                    engine_events,
                    seconds,
                    search_url,
                },
        }) => {
            let args = eventdeck::bench::AllArgs {
                events,
                engine_events,
                seconds,
                search_urls: search_url,
            };
            let rows = eventdeck::bench::all(config, &args).await?;
            print!("{}", eventdeck::bench::markdown(&rows));
            Ok(())
        }
        Some(Command::Send {
            channel,
            author,
            text,
        }) => commands::send::send(config, &channel, &author, &text).await,
        Some(Command::Load { count, rate }) => commands::send::load(config, count, rate).await,
        Some(Command::Search {
            text,
            channel,
            author,
            newest,
            size,
            page,
            json,
        }) => {
            let query = SearchQuery {
                text,
                channel,
                author,
                created_from: None,
                created_to: None,
                sort: if newest {
                    SortOrder::NewestFirst
                } else {
                    SortOrder::Relevance
                },
                page,
                page_size: size,
            };
            commands::search::search(config, query, json).await
        }
        Some(Command::Tail {
            topic,
            from_beginning,
            since,
            json,
            limit,
        }) => {
            use eventdeck::browse::tail::{parse_since, TailFrom};
            let from = match since {
                Some(s) => TailFrom::Since(
                    parse_since(&s, chrono::Utc::now().timestamp_millis())
                        .map_err(|e| anyhow::anyhow!("--since {e}"))?,
                ),
                None if from_beginning => TailFrom::Beginning,
                None => TailFrom::End,
            };
            commands::tail::tail(config, &topic, from, json, limit).await
        }
        Some(Command::Dlq { action }) => match action {
            DlqAction::List { json } => commands::dlq::list(config, json).await,
            DlqAction::Redrive {
                filter,
                yes,
                rate,
                max_redrives,
            } => {
                let options = eventdeck::browse::redrive::RedriveOptions {
                    filter,
                    rate,
                    max_redrives,
                    dry_run: false,
                };
                commands::dlq::redrive_command(config, options, yes).await
            }
        },
        Some(Command::Group {
            action:
                GroupAction::Reset {
                    group,
                    to,
                    topics,
                    dry_run,
                },
        }) => {
            let to = eventdeck::browse::reset::ResetTo::parse(
                &to,
                chrono::Utc::now().timestamp_millis(),
            )
            .map_err(|e| anyhow::anyhow!("--to {e}"))?;
            commands::group::reset(config, &group, topics, to, dry_run).await
        }
        Some(Command::Trace { message_id, json }) => {
            commands::trace::trace(config, &message_id, json).await
        }
        Some(Command::Status { json, watch }) => {
            commands::status::status(config, json, watch).await
        }
    }
}
