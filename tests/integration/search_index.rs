//! One suite of cases for both `SearchIndex` implementations on three servers: `elastic`
//! against an osmem-server clone and against noida-db's Elasticsearch API (one noida per
//! test), and `local` (tantivy) in a temp dir. Same documents, same queries, same expected hits
//! and order wherever the order is unambiguous.

use std::any::Any;
use std::sync::Arc;

use eventdeck::config::SearchConfig;
use eventdeck::search::elastic::ElasticIndex;
use eventdeck::search::local::LocalIndex;
use eventdeck::search::{ItemOutcome, SearchDoc, SearchIndex, SearchQuery, SortOrder};

use crate::cjk_corpus::korean_corpus_finds_every_form_words_first;
use crate::harness::{search_server, Noida};

/// An index and what must outlive it (a temp dir, a server).
type Held = (Arc<dyn SearchIndex>, Box<dyn Any + Send>);

async fn elastic_at(url: String) -> Arc<dyn SearchIndex> {
    let config = SearchConfig {
        url,
        ..SearchConfig::default()
    };
    let index = ElasticIndex::new(&config).expect("client");
    index.ensure_index().await.expect("index created");
    Arc::new(index)
}

async fn elastic() -> Held {
    (elastic_at(search_server().await).await, Box::new(()))
}

async fn noida() -> Held {
    let noida = tokio::task::spawn_blocking(Noida::start)
        .await
        .expect("noida start");
    (
        elastic_at(noida.elasticsearch.clone()).await,
        Box::new(noida),
    )
}

async fn local() -> Held {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = LocalIndex::open(&dir.path().join("index")).expect("local index");
    index.ensure_index().await.expect("ensure");
    (Arc::new(index), Box::new(dir))
}

/// Runs each case against every implementation and server: three tests.
macro_rules! all_three {
    ($($case:ident),* $(,)?) => {
        mod elastic_index {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (index, _held) = super::elastic().await;
                    super::$case(index).await;
                }
            )*
        }
        mod noida_index {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (index, _held) = super::noida().await;
                    super::$case(index).await;
                }
            )*
        }
        mod local_index {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (index, _held) = super::local().await;
                    super::$case(index).await;
                }
            )*
        }
    };
}

all_three!(
    match_ors_the_analysed_terms,
    filters_restrict_by_channel_author_and_time,
    newest_first_with_paging,
    the_version_guard_keeps_the_newest_and_tombstones_stay_dead,
    get_and_count_and_stats,
    user_syntax_is_plain_text,
    korean_corpus_finds_every_form_words_first,
);

fn doc(id: &str, channel: &str, author: &str, content: &str, at: i64) -> SearchDoc {
    SearchDoc {
        message_id: id.into(),
        channel: channel.into(),
        author: author.into(),
        content: content.into(),
        mentions: vec![],
        created_at: Some(at),
        updated_at: None,
        deleted: false,
        version: at * 4 + 1,
    }
}

fn corpus() -> Vec<SearchDoc> {
    vec![
        doc("m1", "ch_dev", "alice", "Deploy to staging finished", 1_000),
        doc("m2", "ch_dev", "bob", "deploy is blocked", 2_000),
        doc("m3", "ch_ops", "alice", "staging database restarted", 3_000),
        doc("m4", "ch_ops", "carol", "lunch at noon", 4_000),
        doc("m5", "ch_dev", "carol", "프로젝트 배포 완료", 5_000),
    ]
}

async fn load(index: &Arc<dyn SearchIndex>, docs: &[SearchDoc]) {
    let outcomes = index.apply(docs).await.expect("apply");
    assert!(
        outcomes.iter().all(|o| *o == ItemOutcome::Applied),
        "{outcomes:?}"
    );
    index.refresh().await.expect("refresh");
}

fn q(text: &str) -> SearchQuery {
    SearchQuery {
        text: text.into(),
        page_size: 10,
        ..SearchQuery::default()
    }
}

fn ids(r: &eventdeck::search::SearchResults) -> Vec<&str> {
    r.hits.iter().map(|h| h.doc.message_id.as_str()).collect()
}

async fn match_ors_the_analysed_terms(index: Arc<dyn SearchIndex>) {
    load(&index, &corpus()).await;
    let r = index.search(&q("DEPLOY staging")).await.expect("search");
    assert_eq!(r.total, 3);
    assert_eq!(ids(&r)[0], "m1", "the message with both terms ranks first");
    let mut rest: Vec<&str> = ids(&r)[1..].to_vec();
    rest.sort();
    assert_eq!(rest, vec!["m2", "m3"]);
    let h = &r.hits[0].highlights;
    assert!(h.iter().any(|f| f.contains("<em>Deploy</em>")), "{h:?}");
    let korean = index.search(&q("배포")).await.expect("search");
    assert_eq!(ids(&korean), vec!["m5"]);
    let none = index.search(&q("kubernetes")).await.expect("search");
    assert_eq!(none.total, 0);
}

async fn filters_restrict_by_channel_author_and_time(index: Arc<dyn SearchIndex>) {
    load(&index, &corpus()).await;
    let mut query = q("deploy staging");
    query.channel = Some("ch_dev".into());
    let r = index.search(&query).await.expect("search");
    let mut got = ids(&r);
    got.sort();
    assert_eq!(got, vec!["m1", "m2"]);
    query.author = Some("bob".into());
    assert_eq!(
        ids(&index.search(&query).await.expect("search")),
        vec!["m2"]
    );
    let mut ranged = q("");
    ranged.created_from = Some(2_000);
    ranged.created_to = Some(4_000);
    ranged.sort = SortOrder::NewestFirst;
    assert_eq!(
        ids(&index.search(&ranged).await.expect("search")),
        vec!["m4", "m3", "m2"]
    );
}

async fn newest_first_with_paging(index: Arc<dyn SearchIndex>) {
    let docs: Vec<SearchDoc> = (0..25)
        .map(|i| doc(&format!("p{i:02}"), "ch", "u", "paging test", 10_000 + i))
        .collect();
    load(&index, &docs).await;
    let mut query = q("paging");
    query.sort = SortOrder::NewestFirst;
    query.page_size = 10;
    let first = index.search(&query).await.expect("page 0");
    assert_eq!(first.total, 25);
    assert_eq!(ids(&first)[0], "p24");
    assert_eq!(ids(&first)[9], "p15");
    query.page = 2;
    let last = index.search(&query).await.expect("page 2");
    assert_eq!(ids(&last), vec!["p04", "p03", "p02", "p01", "p00"]);
}

async fn the_version_guard_keeps_the_newest_and_tombstones_stay_dead(index: Arc<dyn SearchIndex>) {
    load(&index, &corpus()).await;
    let mut newer = doc("m1", "ch_dev", "alice", "rolled back", 1_000);
    newer.version = 9_000;
    assert_eq!(
        index.apply(&[newer.clone()]).await.expect("apply"),
        vec![ItemOutcome::Applied]
    );
    let older = doc("m1", "ch_dev", "alice", "Deploy to staging finished", 1_000);
    assert_eq!(
        index.apply(&[older]).await.expect("apply"),
        vec![ItemOutcome::Stale]
    );
    assert_eq!(
        index.apply(&[newer]).await.expect("apply"),
        vec![ItemOutcome::Applied],
        "equal version is re-applied"
    );

    let mut tomb = doc("m2", "ch_dev", "bob", "", 2_000);
    tomb.deleted = true;
    tomb.version = 9_001;
    assert_eq!(
        index.apply(&[tomb]).await.expect("apply"),
        vec![ItemOutcome::Applied]
    );
    let replayed = doc("m2", "ch_dev", "bob", "deploy is blocked", 2_000);
    assert_eq!(
        index.apply(&[replayed]).await.expect("apply"),
        vec![ItemOutcome::Stale]
    );
    index.refresh().await.expect("refresh");
    let r = index.search(&q("deploy rolled")).await.expect("search");
    assert_eq!(ids(&r), vec!["m1"]);
    assert_eq!(index.count().await.expect("count"), 4);
}

async fn get_and_count_and_stats(index: Arc<dyn SearchIndex>) {
    load(&index, &corpus()).await;
    let got = index
        .get(&["m3".to_string(), "nope".to_string()])
        .await
        .expect("get");
    assert_eq!(got.len(), 1);
    assert_eq!(got["m3"].content, "staging database restarted");
    assert_eq!(index.count().await.expect("count"), 5);
    let stats = index.stats().await.expect("stats");
    assert_eq!(stats.messages, 5);
    assert!(!index.describe().is_empty());
}

async fn user_syntax_is_plain_text(index: Arc<dyn SearchIndex>) {
    load(&index, &corpus()).await;
    // AND, quotes and field: mean nothing to a match query: they are words (or nothing).
    let r = index
        .search(&q("\"lunch AND channel:ch_dev\""))
        .await
        .expect("search");
    assert_eq!(ids(&r), vec!["m4"]);
    // Query syntax, JSON and escapes are words or nothing: never "everything", never an
    // error from the engine's parser.
    for (text, expected) in [
        ("*", vec![]),
        ("content:*", vec![]),
        ("{\"query\":{\"match_all\":{}}}", vec![]),
        ("staging\\", vec!["m3", "m1"]),
        ("(deploy OR", vec!["m2", "m1"]),
        ("lunch~2 noon^10", vec!["m4"]),
        ("\\\"}] lunch", vec!["m4"]),
    ] {
        let r = index.search(&q(text)).await.expect(text);
        let mut got = ids(&r);
        got.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(got, expected, "{text}");
    }
}
