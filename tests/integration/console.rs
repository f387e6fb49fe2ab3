//! The console end to end, under tmux: the real binary on an empty data directory (embedded
//! broker, local index), driven by keys and read back with `capture-pane`, as a person would
//! see it: a message from the compose form into the live tails, followed with `f`, and a dead
//! letter re-driven from `:dlq`. Skipped, with a message, only when tmux is not installed.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const STARTUP: Duration = Duration::from_secs(120);
const FLOW: Duration = Duration::from_secs(60);
/// Between two looks at the screen while polling (not a synchronisation: every wait below
/// is a poll of the screen with a deadline).
const POLL: Duration = Duration::from_millis(150);
const SESSION: &str = "console";

/// A private tmux server (own socket), killed when the test ends, pass or fail.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Runs `command` in a detached 120×40 session.
    fn new_session(&self, command: &str) {
        self.ok(&[
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            "120",
            "-y",
            "40",
            command,
        ]);
    }

    fn cmd(&self, args: &[&str]) -> std::io::Result<Output> {
        Command::new("tmux")
            .args(["-u", "-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
    }

    fn ok(&self, args: &[&str]) {
        match self.cmd(args) {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!(
                "tmux {args:?} failed: {}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => panic!("tmux {args:?}: {e}"),
        }
    }

    fn screen(&self) -> String {
        match self.cmd(&["capture-pane", "-p", "-t", SESSION]) {
            Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
            Err(e) => format!("(capture-pane failed: {e})"),
        }
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", SESSION];
        args.extend_from_slice(keys);
        self.ok(&args);
    }

    /// Types text literally (no key-name lookup), wide characters included.
    fn type_text(&self, text: &str) {
        self.ok(&["send-keys", "-t", SESSION, "-l", text]);
    }

    /// The first message of a console: composed with `s`, mentioning @user_002, and seen
    /// produced, indexed and notified, after `event`.
    fn compose_and_see_it_flow(&self, event: &str) {
        self.keys(&["s"]);
        self.wait(
            "the compose form",
            FLOW,
            |s| s.contains("New message"),
            |_, _| {},
        );
        self.type_text(&format!("quince after {event} @user_002"));
        self.keys(&["Enter"]);
        self.wait(
            &format!("the message produced, indexed and notified after {event}"),
            FLOW,
            |s| {
                s.contains("produced 1 ·") && s.contains("indexed 1 ·") && s.contains("→ @user_002")
            },
            |_, _| {},
        );
    }

    /// Polls the screen until `done` holds; fails with the last screen at the deadline or
    /// as soon as the program has exited. `between` runs after each miss (e.g. to re-ask).
    fn wait(
        &self,
        what: &str,
        limit: Duration,
        done: impl Fn(&str) -> bool,
        mut between: impl FnMut(&Tmux, u32),
    ) -> String {
        let deadline = Instant::now() + limit;
        let mut misses = 0;
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            if screen.contains("[eventdeck exited") {
                panic!("eventdeck exited while waiting for {what}:\n{screen}");
            }
            if Instant::now() > deadline {
                panic!("timed out after {limit:?} waiting for {what}; the screen:\n{screen}");
            }
            std::thread::sleep(POLL);
            misses += 1;
            between(self, misses);
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The command tmux runs: eventdeck on the temp data dir, with any EVENTDECK_* variables
/// of the test environment removed, then a marker line so an exit is visible on screen.
fn console_command(data_dir: &Path, config: &Path) -> String {
    let mut unset = String::new();
    for (k, _) in std::env::vars() {
        if k.starts_with("EVENTDECK_") {
            unset.push_str(&format!("-u {k} "));
        }
    }
    format!(
        "env {unset}{} --config {} --data-dir {} --embedded-port 0; echo \"[eventdeck exited: $?]\"; sleep 600",
        shell_quote(env!("CARGO_BIN_EXE_eventdeck")),
        shell_quote(&config.display().to_string()),
        shell_quote(&data_dir.display().to_string()),
    )
}

/// The README's promise, through the real binary in a real terminal: a message typed in the
/// compose form, and one posted with HTTP to the console's API, each flow through (produced,
/// indexed, notified, found by search).
#[test]
fn console_sends_a_message_and_shows_it_flow_through() {
    if !tmux_available() {
        eprintln!(
            "SKIPPED console_sends_a_message_and_shows_it_flow_through: tmux is not installed \
             (apt-get install tmux; .ci/run installs it)"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).expect("data dir");
    // Every default (embedded broker, local index, embedded store), plus the HTTP API.
    let config = dir.path().join("config.toml");
    let api_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let api: std::net::SocketAddr = format!("127.0.0.1:{api_port}").parse().expect("addr");
    std::fs::write(
        &config,
        format!("# eventdeck e2e: defaults, and the API\n[api]\naddr = \"{api}\"\n"),
    )
    .expect("config");

    let tmux = Tmux {
        socket: format!("eventdeck-e2e-{}", std::process::id()),
    };
    let command = console_command(&data_dir, &config);
    tmux.new_session(&command);

    // The console is up, the embedded broker answers and the topics exist.
    tmux.wait(
        "the console with the embedded broker up and its topics",
        STARTUP,
        |s| {
            s.contains("1 Throughput")
                && s.contains("Consumer lag")
                && s.contains("embedded broker")
                && s.contains("platform.messages.created")
        },
        |_, _| {},
    );

    // s → the compose form, with the text field focused; type a message with a mention.
    tmux.keys(&["s"]);
    tmux.wait(
        "the compose form",
        FLOW,
        |s| s.contains("New message"),
        |_, _| {},
    );
    tmux.type_text("kumquat 배포 완료 @user_002");
    tmux.wait(
        "the typed text and its mention in the form",
        FLOW,
        |s| s.contains("kumquat 배포 완료 @user_002") && s.contains("Mentions  @user_002"),
        |_, _| {},
    );
    tmux.keys(&["Enter"]);

    // Counted in throughput (the totals line under the throughput pane).
    tmux.wait(
        "the message counted as produced and indexed",
        FLOW,
        |s| s.contains("produced 1 ·") && s.contains("indexed 1 ·"),
        |_, _| {},
    );

    // The notifier's line in the notification log.
    tmux.wait(
        "the notification line",
        FLOW,
        |s| s.contains("→ @user_002") && s.contains("@user_001: kumquat"),
        |_, _| {},
    );

    // Search for a word of it; re-run (r) now and then until the index has it.
    tmux.keys(&[":"]);
    tmux.type_text("search kumquat");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait(
        "the search hit",
        FLOW,
        |s| s.contains("1 hit ·") && s.contains("#ch_general  @user_001"),
        |t, misses| {
            if misses % 15 == 0 {
                t.keys(&["r"]);
            }
        },
    );
    assert!(
        screen.contains("query kumquat"),
        "the query is shown:\n{screen}"
    );

    // A message posted with HTTP to the console's API flows the same way, on screen.
    tmux.keys(&[":"]);
    tmux.type_text("dashboard");
    tmux.keys(&["Enter"]);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let posted = runtime.block_on(crate::http::request(
        api,
        "POST",
        "/messages",
        &[("Content-Type", "application/json")],
        r#"{"channel_id":"ch_api","author_id":"user_003","content":"persimmon via curl @user_004"}"#
            .as_bytes(),
    ));
    assert_eq!(posted.status, 201, "{}", posted.text());
    tmux.wait(
        "the posted message counted and its notification shown",
        FLOW,
        |s| s.contains("produced 2 ·") && s.contains("indexed 2 ·") && s.contains("→ @user_004"),
        |_, _| {},
    );
    tmux.keys(&[":"]);
    tmux.type_text("search persimmon");
    tmux.keys(&["Enter"]);
    tmux.wait(
        "the posted message found by the console's search",
        FLOW,
        |s| s.contains("1 hit ·") && s.contains("#ch_api  @user_003"),
        |t, misses| {
            if misses % 15 == 0 {
                t.keys(&["r"]);
            }
        },
    );

    // Both messages in the live tail of the created topic, from its beginning, and the
    // notification the first one caused in the tail of the notifications topic.
    tmux.keys(&[":"]);
    tmux.type_text("tail platform.messages.created beginning");
    tmux.keys(&["Enter"]);
    tmux.wait(
        "both messages in the live tail",
        FLOW,
        |s| {
            s.contains("8 Tail › platform.messages.created")
                && s.contains("message.created")
                && s.contains("#ch_general @user_001: kumquat 배포 완료 @user_002")
                && s.contains("#ch_api @user_003: persimmon via curl @user_004")
        },
        |_, _| {},
    );
    tmux.keys(&[":"]);
    tmux.type_text("tail platform.notifications.sent beginning");
    tmux.keys(&["Enter"]);
    tmux.wait(
        "the notification in the live tail",
        FLOW,
        |s| {
            s.contains("platform.notifications.sent")
                && s.contains("notification.sent")
                && s.contains("→ @user_002 for msg_")
        },
        |_, _| {},
    );

    // f on the notification: the mentioned message's whole path, in an overlay.
    tmux.keys(&["f"]);
    tmux.wait(
        "the trace of the message the notification is about",
        FLOW,
        |s| {
            s.contains("Trace msg_")
                && s.contains("events (1):")
                && s.contains("message.created")
                && s.contains("the indexer has passed it")
                && s.contains("notifications (1):")
        },
        |_, _| {},
    );
    tmux.keys(&["Escape"]);

    // Another client produces a malformed event: it is a dead letter in :dlq with where it
    // came from; r and y send it back to its source topic; it fails again and comes back
    // marked re-driven once.
    let broker = std::fs::read_to_string(data_dir.join("broker.addr")).expect("broker.addr");
    runtime.block_on(async {
        use rdkafka::producer::{FutureProducer, FutureRecord};
        let producer: FutureProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", broker.trim())
            .create()
            .expect("producer");
        producer
            .send(
                FutureRecord::to("platform.messages.created")
                    .key("ch_bad")
                    .payload(
                        r#"{"event_type":"message.created","payload":{"channel_id":"ch_bad"}}"#,
                    ),
                Duration::from_secs(10),
            )
            .await
            .expect("the malformed event is produced");
    });
    tmux.keys(&[":"]);
    tmux.type_text("dlq");
    tmux.keys(&["Enter"]);
    tmux.wait(
        "the dead letter with its source",
        FLOW,
        |s| s.contains("9 Dead letters") && s.contains("platform.messages.created["),
        |_, _| {},
    );
    tmux.keys(&["r"]);
    tmux.wait(
        "the re-drive question",
        FLOW,
        |s| s.contains("to platform.messages.created?"),
        |_, _| {},
    );
    tmux.keys(&["y"]);
    tmux.wait(
        "the dead letter back, re-driven once",
        FLOW,
        |s| s.contains("×1"),
        |_, _| {},
    );

    // q asks first; y quits and the terminal comes back (the shell prints the marker).
    tmux.keys(&["q"]);
    tmux.wait(
        "the quit question",
        FLOW,
        |s| s.contains("Quit eventdeck?"),
        |_, _| {},
    );
    tmux.keys(&["y"]);
    let deadline = Instant::now() + FLOW;
    loop {
        let screen = tmux.screen();
        if screen.contains("[eventdeck exited: 0]") {
            assert!(
                !screen.contains("1 Throughput"),
                "the alternate screen was left:\n{screen}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "eventdeck did not exit cleanly after q, y:\n{screen}"
        );
        std::thread::sleep(POLL);
    }
}

/// The console through a fault of the broker it runs: the embedded broker's storage engine
/// killed (a Fetch for a partition that does not exist makes tansu-storage panic). The panic
/// of that background task must not touch the terminal (before, ratatui's panic hook
/// restored it, leaving the console drawing on a cooked screen with the message printed
/// across it); the broker is restarted in-process, and a message composed afterwards flows
/// through as usual.
#[test]
fn console_keeps_its_screen_and_works_on_when_the_broker_storage_dies() {
    if !tmux_available() {
        eprintln!("SKIPPED console_keeps_its_screen…: tmux is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).expect("data dir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "# eventdeck e2e: defaults\n").expect("config");
    let tmux = Tmux {
        socket: format!("eventdeck-e2e-fault-{}", std::process::id()),
    };
    let command = console_command(&data_dir, &config);
    tmux.new_session(&command);
    tmux.wait(
        "the console with the embedded broker up",
        STARTUP,
        |s| s.contains("1 Throughput") && s.contains("platform.messages.created"),
        |_, _| {},
    );
    let address = std::fs::read_to_string(data_dir.join("broker.addr")).expect("broker.addr");
    crate::broker_storage::send_poison(address.trim());

    let log = data_dir.join("eventdeck.log");
    let deadline = Instant::now() + FLOW;
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("embedded broker restarted")
    {
        assert!(
            Instant::now() < deadline,
            "no restart in the log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(POLL);
    }
    let screen = tmux.screen();
    assert!(
        !screen.contains("panicked"),
        "a panic message on the screen:\n{screen}"
    );
    let alternate = tmux
        .cmd(&["display-message", "-p", "-t", SESSION, "#{alternate_on}"])
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    assert_eq!(alternate, "1", "the console left its screen:\n{screen}");
    assert!(
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("a background task panicked"),
        "the panic is in the log"
    );

    tmux.compose_and_see_it_flow("the restart");
}

/// The console's title bar through a broker outage: on noida-db's Kafka (an external
/// cluster), `noida-db stop kafka` turns the cluster's dot into "✗ down" with the error, and
/// `noida-db start kafka` back into "● up"; a message composed afterwards flows through.
#[test]
fn console_shows_a_broker_outage_and_the_recovery_in_its_title_bar() {
    if !tmux_available() {
        eprintln!("SKIPPED console_shows_a_broker_outage…: tmux is not installed");
        return;
    }
    let noida = crate::harness::Noida::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).expect("data dir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, format!("[kafka]\nbrokers = \"{}\"\n", noida.kafka)).expect("config");
    let tmux = Tmux {
        socket: format!("eventdeck-e2e-outage-{}", std::process::id()),
    };
    tmux.new_session(&console_command(&data_dir, &config));
    // The cluster's part of the title bar: from "kafka 127.0.0.1:P" (shortened when the bar
    // is short of room) to the next separator.
    let title = |screen: &str| -> String {
        let first = screen.lines().next().unwrap_or_default();
        first
            .split('│')
            .find(|part| part.trim_start().starts_with("kafka 127.0.0.1:"))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    tmux.wait(
        "the console with the cluster up",
        STARTUP,
        |s| title(s).contains("● up") && s.contains("platform.messages.created"),
        |_, _| {},
    );

    noida.stop_service("kafka");
    let stopped = Instant::now();
    let down = tmux.wait(
        "the title bar saying the cluster is down",
        FLOW,
        |s| title(s).contains("✗ down"),
        |_, _| {},
    );
    let said_down = stopped.elapsed();
    noida.start_service("kafka");
    let started = Instant::now();
    tmux.wait(
        "the title bar saying the cluster is up again",
        FLOW,
        |s| title(s).contains("● up"),
        |_, _| {},
    );
    let said_up = started.elapsed();

    tmux.compose_and_see_it_flow("the outage");
    eprintln!(
        "console outage: title said \"{}\" {:.1} s after the stop, up {:.1} s after the start",
        title(&down),
        said_down.as_secs_f64(),
        said_up.as_secs_f64()
    );
}
