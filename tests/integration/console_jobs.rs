//! The console's browse jobs (`browse::jobs`) against real services, through the channels
//! the console uses: a trace finds the message in the topics and the index; a reset of our
//! own indexer's group (noida-db: the embedded broker does not offer resets) stops the
//! indexer through the supervisor, moves the offsets, starts it again, and the indexer reads
//! everything again without changing the index. And the topics' configurations as the
//! monitor reads them.

use std::collections::BTreeMap;
use std::time::Duration;

use eventdeck::browse::jobs::{run_jobs, Job, JobContext, JobDone};
use eventdeck::browse::reset::ResetTo;
use eventdeck::event::{MessageCreated, MessageEvent, ParsedEvent};
use eventdeck::search::SearchDoc;
use tokio::sync::mpsc;

use crate::harness::{on_both_clusters, wait_committed, Backend, Bench};

on_both_clusters!(console_jobs_trace_and_reset_our_own_indexer);

const N: u64 = 24;

async fn docs(bench: &Bench) -> BTreeMap<String, SearchDoc> {
    let ids: Vec<String> = (0..N).map(|i| format!("msg_jobs_{i:02}")).collect();
    bench
        .services
        .index
        .get(&ids)
        .await
        .expect("get")
        .into_iter()
        .collect()
}

async fn answer(done: &mut mpsc::Receiver<JobDone>) -> JobDone {
    tokio::time::timeout(Duration::from_secs(60), done.recv())
        .await
        .expect("the job answers within 60 s")
        .expect("the job service runs")
}

async fn console_jobs_trace_and_reset_our_own_indexer(backend: Backend) {
    let mut bench = Bench::on(backend).await;
    let config = bench.services.config.clone();
    let pipeline = bench.pipeline();
    let publisher = bench.services.publisher().expect("publisher");
    for i in 0..N {
        let d = publisher
            .enqueue(&ParsedEvent::mint(MessageEvent::Created(MessageCreated {
                message_id: format!("msg_jobs_{i:02}"),
                channel_id: format!("ch_{}", i % 3),
                author_id: "user_001".into(),
                content: format!("jobs {i} @user_002"),
                mentions: vec!["user_002".into()],
                attachments: vec![],
            })))
            .await
            .expect("enqueue");
        eventdeck::bus::producer::resolve(d)
            .await
            .expect("delivered");
    }
    bench
        .wait_processed("indexer", N, Duration::from_secs(60))
        .await;
    let group = config.groups.indexer.clone();
    let topics: Vec<String> = config
        .message_topics()
        .iter()
        .map(|t| t.to_string())
        .collect();
    wait_committed(bench.cluster(), &group, &topics, Duration::from_secs(60)).await;
    bench.services.index.refresh().await.expect("refresh");
    let before = docs(&bench).await;
    assert_eq!(before.len() as u64, N);

    let (jobs, job_rx) = mpsc::channel(8);
    let (done_tx, mut done) = mpsc::channel(8);
    let service = tokio::spawn(run_jobs(
        JobContext {
            cluster: bench.cluster().clone(),
            producer: bench.services.producer.clone(),
            config: config.clone(),
            index: bench.services.index.clone(),
            commands: pipeline.commands.clone(),
        },
        job_rx,
        done_tx,
    ));

    // Follow one message: its event, passed by the indexer, and its document.
    jobs.send(Job::Trace {
        message_id: "msg_jobs_07".into(),
    })
    .await
    .expect("send");
    match answer(&mut done).await {
        JobDone::Traced {
            message_id,
            result: Ok(trace),
        } => {
            assert_eq!(message_id, "msg_jobs_07");
            assert_eq!(trace.events.len(), 1, "{trace:?}");
            assert_eq!(trace.events[0].passed_indexer, Some(true), "{trace:?}");
            let doc = trace.document.as_ref().expect("indexed");
            assert_eq!(doc.content, "jobs 7 @user_002");
            assert!(trace.dead_letters.is_empty(), "{trace:?}");
        }
        other => panic!("{other:?}"),
    }

    // The plan is read on both brokers: every record back to the beginning.
    jobs.send(Job::PlanReset {
        group: group.clone(),
        topics: topics.clone(),
        to: ResetTo::Earliest,
        label: "earliest".into(),
    })
    .await
    .expect("send");
    let rows = match answer(&mut done).await {
        JobDone::ResetPlanned {
            group: g,
            to,
            result: Ok(rows),
        } => {
            assert_eq!((g.as_str(), to.as_str()), (group.as_str(), "earliest"));
            assert_eq!(
                rows.iter().map(|r| r.lag_after).sum::<i64>(),
                N as i64,
                "{rows:?}"
            );
            rows
        }
        other => panic!("{other:?}"),
    };
    if backend == Backend::Embedded {
        // The console does not offer it there; the job, asked anyway, refuses and the
        // indexer runs on.
        jobs.send(Job::ApplyReset {
            group: group.clone(),
            rows,
        })
        .await
        .expect("send");
        match answer(&mut done).await {
            JobDone::ResetApplied { result: Err(e), .. } => {
                let e = e.to_string();
                assert!(e.contains("not offered on the embedded broker"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    } else {
        jobs.send(Job::ApplyReset {
            group: group.clone(),
            rows,
        })
        .await
        .expect("send");
        match answer(&mut done).await {
            JobDone::ResetApplied {
                result: Ok(done), ..
            } => {
                assert_eq!(
                    done.restart,
                    Some((eventdeck::ops::WorkerId::Indexer, Ok(()))),
                    "stopped for the reset and started again"
                );
                assert!(done.to_string().contains("indexer started again"), "{done}");
            }
            other => panic!("{other:?}"),
        }
        // Started again from the beginning: every record read a second time.
        bench
            .wait_processed("indexer", N, Duration::from_secs(60))
            .await;
        wait_committed(bench.cluster(), &group, &topics, Duration::from_secs(60)).await;
        bench.services.index.refresh().await.expect("refresh");
        assert_eq!(docs(&bench).await, before, "reprocessing changed nothing");
    }

    // The topics' configurations, as the monitor reads them.
    // noida-db describes them (its defaults: 7 days, delete); the embedded broker answers
    // without retention or policy, so the console leaves those columns out.
    let admin = eventdeck::monitor::topic_config::admin(bench.cluster()).expect("admin client");
    let described = eventdeck::monitor::topic_config::describe(&admin, &topics)
        .await
        .expect("DescribeConfigs answers");
    if backend == Backend::Embedded {
        assert!(described.is_empty(), "{described:?}");
    } else {
        assert_eq!(described.len(), topics.len(), "{described:?}");
        for c in described.values() {
            assert_eq!(c.retention_label(), "7 d", "{c:?}");
            assert_eq!(c.cleanup_policy.as_deref(), Some("delete"), "{c:?}");
        }
    }
    drop(jobs);
    let _ = service.await;
    let errors = pipeline.stop().await;
    assert!(errors.is_empty(), "{errors:?}");
}
