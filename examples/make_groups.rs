//! Makes consumer groups on a cluster, for trying `eventdeck status` at scale: each group
//! commits one offset on one partition of a topic (assign + commit, without joining), as a
//! standalone consumer does. No messages are needed: the offset is only stored.
//!
//! `cargo run --release --example make_groups -- BROKERS GROUPS [TOPIC] [PREFIX]`
//! (defaults: topic `scale.groups`, 3 partitions, made if missing; groups `scale-group-N`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const PARTITIONS: i32 = 3;
/// Clients at work at once: each makes its connection, commits and goes.
const THREADS: usize = 16;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(brokers), Some(groups)) = (args.first(), args.get(1)) else {
        anyhow::bail!("usage: make_groups BROKERS GROUPS [TOPIC] [PREFIX]");
    };
    let groups: usize = groups.parse()?;
    let topic = args.get(2).map_or("scale.groups", String::as_str);
    let prefix = args.get(3).map_or("scale-group", String::as_str);
    make_topic(brokers, topic)?;
    let start = Instant::now();
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= groups {
                    break;
                }
                if let Err(e) = commit_one(brokers, topic, &format!("{prefix}-{i}"), i) {
                    if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("{prefix}-{i}: {e}");
                    }
                }
            });
        }
    });
    let failed = failed.load(Ordering::Relaxed);
    println!(
        "{} groups committed on {topic} in {:.1} s ({failed} failed)",
        groups - failed,
        start.elapsed().as_secs_f64()
    );
    if failed > 0 {
        anyhow::bail!("{failed} groups failed");
    }
    Ok(())
}

fn make_topic(brokers: &str, topic: &str) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let new = NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    // An existing topic answers TopicAlreadyExists: fine.
    let answer = runtime.block_on(admin.create_topics([&new], &options))?;
    for r in answer {
        if let Err((t, e)) = r {
            if e != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists {
                anyhow::bail!("create {t}: {e}");
            }
        }
    }
    Ok(())
}

/// Group `group` commits offset `i` on partition `i % PARTITIONS`.
fn commit_one(brokers: &str, topic: &str, group: &str, i: usize) -> anyhow::Result<()> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(
        topic,
        (i % PARTITIONS as usize) as i32,
        Offset::Offset(i as i64),
    )?;
    consumer.commit(&tpl, CommitMode::Sync)?;
    Ok(())
}
