//! Tests of the index: the version guard, tombstones, commits, queries, paging, read-only use.

use super::*;
use crate::search::SortOrder;

fn doc(
    id: &str,
    channel: &str,
    author: &str,
    content: &str,
    created: i64,
    version: i64,
) -> SearchDoc {
    SearchDoc {
        message_id: id.into(),
        channel: channel.into(),
        author: author.into(),
        content: content.into(),
        mentions: vec![],
        created_at: Some(created),
        updated_at: None,
        deleted: false,
        version,
    }
}

fn tombstone(id: &str, channel: &str, version: i64) -> SearchDoc {
    SearchDoc {
        message_id: id.into(),
        channel: channel.into(),
        author: String::new(),
        content: String::new(),
        mentions: vec![],
        created_at: None,
        updated_at: None,
        deleted: true,
        version,
    }
}

fn text(t: &str) -> SearchQuery {
    SearchQuery {
        text: t.into(),
        ..SearchQuery::default()
    }
}

fn ids(results: &SearchResults) -> Vec<&str> {
    results
        .hits
        .iter()
        .map(|h| h.doc.message_id.as_str())
        .collect()
}
/// An index whose commits happen only on `refresh()`, to test the uncommitted path.
fn manual(dir: &Path) -> LocalIndex {
    LocalIndex::open_with(dir, None, true).expect("open")
}

#[tokio::test]
async fn an_older_version_is_stale_and_an_equal_one_is_reapplied() {
    let dir = tempfile::tempdir().unwrap();
    let index = manual(dir.path());
    let v2 = doc("m1", "c", "a", "second", 1, 2);
    let v1 = doc("m1", "c", "a", "first", 1, 1);
    assert_eq!(
        index.apply(std::slice::from_ref(&v2)).await.unwrap(),
        [ItemOutcome::Applied]
    );
    // Not committed yet: the guard must see the pending version.
    assert_eq!(
        index.apply(std::slice::from_ref(&v1)).await.unwrap(),
        [ItemOutcome::Stale]
    );
    assert_eq!(
        index.apply(std::slice::from_ref(&v2)).await.unwrap(),
        [ItemOutcome::Applied]
    );
    index.refresh().await.unwrap();
    // Committed: the guard reads the index.
    assert_eq!(
        index.apply(std::slice::from_ref(&v1)).await.unwrap(),
        [ItemOutcome::Stale]
    );
    // Within one batch, later items see earlier ones.
    let v3 = doc("m1", "c", "a", "third", 1, 3);
    assert_eq!(
        index.apply(&[v3, v1]).await.unwrap(),
        [ItemOutcome::Applied, ItemOutcome::Stale]
    );
    index.refresh().await.unwrap();
    let got = index.get(&["m1".to_string()]).await.unwrap();
    assert_eq!(got["m1"].content, "third");
    assert_eq!(index.count().await.unwrap(), 1);
    let bad = doc("", "c", "a", "x", 1, 1);
    assert!(matches!(
        index.apply(&[bad]).await.unwrap()[0],
        ItemOutcome::Rejected(_)
    ));
}

#[tokio::test]
async fn a_tombstone_prevents_resurrection_and_is_not_counted() {
    let dir = tempfile::tempdir().unwrap();
    let index = manual(dir.path());
    let v1 = doc("m1", "c", "a", "hello world", 1, 1);
    index
        .apply(&[v1.clone(), doc("m2", "c", "a", "hello again", 2, 1)])
        .await
        .unwrap();
    index.refresh().await.unwrap();
    assert_eq!(index.count().await.unwrap(), 2);
    assert_eq!(
        index.apply(&[tombstone("m1", "c", 2)]).await.unwrap(),
        [ItemOutcome::Applied]
    );
    index.refresh().await.unwrap();
    assert_eq!(index.apply(&[v1]).await.unwrap(), [ItemOutcome::Stale]);
    index.refresh().await.unwrap();
    assert_eq!(index.count().await.unwrap(), 1);
    let results = index.search(&text("hello")).await.unwrap();
    assert_eq!(ids(&results), ["m2"]);
    assert_eq!(results.total, 1);
    assert_eq!(index.search(&text("")).await.unwrap().total, 1);
    // The tombstone is still there for the guard and for `get`.
    let got = index.get(&["m1".to_string()]).await.unwrap();
    assert!(got["m1"].deleted);
    assert_eq!(got["m1"].version, 2);
    let stats = index.stats().await.unwrap();
    assert_eq!(stats.backend, "local");
    assert_eq!(stats.messages, 1);
    assert!(stats.size_bytes.unwrap_or(0) > 0);
    assert_eq!(stats.location, dir.path().display().to_string());
    assert_eq!(
        index.describe(),
        format!("local index {}", dir.path().display())
    );
    index.ensure_index().await.unwrap();
}

#[tokio::test]
async fn get_sees_documents_not_yet_committed() {
    let dir = tempfile::tempdir().unwrap();
    let index = manual(dir.path());
    index
        .apply(&[doc("m1", "c", "a", "hi", 1, 1)])
        .await
        .unwrap();
    // Not searchable before a commit ...
    assert_eq!(index.search(&text("hi")).await.unwrap().total, 0);
    // ... but `get` already sees it.
    let got = index.get(&["m1".into(), "nope".into()]).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got["m1"].content, "hi");
    index.refresh().await.unwrap();
    assert_eq!(index.search(&text("hi")).await.unwrap().total, 1);
    assert_eq!(index.get(&["m1".into()]).await.unwrap()["m1"].content, "hi");
}

#[tokio::test]
async fn applied_documents_become_searchable_without_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let index = LocalIndex::open(dir.path()).unwrap();
    index
        .apply(&[doc("m1", "c", "a", "soon visible", 1, 1)])
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        if index.search(&text("visible")).await.unwrap().total == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "not searchable within 1 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn sample(index: &LocalIndex) {
    index
        .apply(&[
            doc("m1", "dev", "alice", "Deploy to staging done", 100, 1),
            doc("m2", "dev", "bob", "staging server is down", 200, 1),
            doc("m3", "ops", "alice", "deploy failed on prod", 300, 1),
            doc("m4", "ops", "carol", "lunch time", 400, 1),
            doc("m5", "kr", "dana", "프로젝트 배포 완료", 500, 1),
        ])
        .await
        .unwrap();
    index.refresh().await.unwrap();
}

#[tokio::test]
async fn match_queries_or_the_analysed_terms() {
    let dir = tempfile::tempdir().unwrap();
    let index = manual(dir.path());
    sample(&index).await;
    let r = index.search(&text("deploy staging")).await.unwrap();
    assert_eq!(r.total, 3);
    // Both terms first; then by score.
    assert_eq!(ids(&r)[0], "m1");
    assert!(r.hits.iter().all(|h| h.score.is_some()));
    assert_eq!(
        r.hits[0].highlights,
        ["<em>Deploy</em> to <em>staging</em> done"]
    );
    let r = index.search(&text("DEPLOY")).await.unwrap();
    let mut found = ids(&r);
    found.sort();
    assert_eq!(found, ["m1", "m3"]);
    let r = index.search(&text("배포")).await.unwrap();
    assert_eq!(ids(&r), ["m5"]);
    assert_eq!(r.hits[0].highlights, ["프로젝트 <em>배포</em> 완료"]);
    assert_eq!(index.search(&text("?!")).await.unwrap().total, 0);
    assert_eq!(index.search(&text("nothing")).await.unwrap().total, 0);
    let all = index.search(&text("  ")).await.unwrap();
    assert_eq!(all.total, 5);
    assert!(all.hits.iter().all(|h| h.highlights.is_empty()));
    // Match-all ties on score: newest first.
    assert_eq!(ids(&all), ["m5", "m4", "m3", "m2", "m1"]);
}

#[tokio::test]
async fn filters_restrict_without_changing_order() {
    let dir = tempfile::tempdir().unwrap();
    let index = manual(dir.path());
    sample(&index).await;
    let q = SearchQuery {
        channel: Some("dev".into()),
        ..text("deploy staging")
    };
    assert_eq!(ids(&index.search(&q).await.unwrap()), ["m1", "m2"]);
    let q = SearchQuery {
        author: Some("alice".into()),
        sort: SortOrder::NewestFirst,
        ..text("")
    };
    assert_eq!(ids(&index.search(&q).await.unwrap()), ["m3", "m1"]);
    // Inclusive at both ends.
    let q = SearchQuery {
        created_from: Some(200),
        created_to: Some(400),
        sort: SortOrder::NewestFirst,
        ..text("")
    };
    assert_eq!(ids(&index.search(&q).await.unwrap()), ["m4", "m3", "m2"]);
    let q = SearchQuery {
        created_to: Some(200),
        channel: Some("dev".into()),
        ..text("staging")
    };
    let r = index.search(&q).await.unwrap();
    assert_eq!(r.total, 2);
    let q = SearchQuery {
        channel: Some("nope".into()),
        ..text("")
    };
    assert_eq!(index.search(&q).await.unwrap().total, 0);
    // An empty range matches nothing, as in Elasticsearch.
    let q = SearchQuery {
        created_from: Some(400),
        created_to: Some(200),
        ..text("")
    };
    assert_eq!(index.search(&q).await.unwrap().total, 0);
}

#[tokio::test]
async fn newest_first_breaks_ties_by_id_and_puts_undated_last() {
    let dir = tempfile::tempdir().unwrap();
    let index = manual(dir.path());
    let mut undated = doc("m0", "c", "a", "edit seen first", 0, 1);
    undated.created_at = None;
    // Its own segment, where created_at has no value at all.
    index.apply(&[undated]).await.unwrap();
    index.refresh().await.unwrap();
    index
        .apply(&[
            doc("b", "c", "a", "same time", 10, 1),
            doc("a", "c", "a", "same time", 10, 1),
            doc("z", "c", "a", "older", 5, 1),
        ])
        .await
        .unwrap();
    index.refresh().await.unwrap();
    let q = SearchQuery {
        sort: SortOrder::NewestFirst,
        ..text("")
    };
    let r = index.search(&q).await.unwrap();
    assert_eq!(ids(&r), ["a", "b", "z", "m0"]);
    assert!(r.hits.iter().all(|h| h.score.is_none()));
    let r = index.search(&text("")).await.unwrap();
    assert_eq!(ids(&r), ["a", "b", "z", "m0"]);
}

#[tokio::test]
async fn pages_cover_all_hits_once() {
    let dir = tempfile::tempdir().unwrap();
    let index = manual(dir.path());
    let docs: Vec<SearchDoc> = (0..25)
        .map(|i| doc(&format!("m{i:02}"), "c", "a", "page me", i, 1))
        .collect();
    index.apply(&docs).await.unwrap();
    index.refresh().await.unwrap();
    let mut seen = Vec::new();
    for page in 0..3 {
        let q = SearchQuery {
            page,
            page_size: 10,
            sort: SortOrder::NewestFirst,
            ..text("page")
        };
        let r = index.search(&q).await.unwrap();
        assert_eq!(r.total, 25);
        assert_eq!(r.hits.len(), if page < 2 { 10 } else { 5 });
        seen.extend(r.hits.into_iter().map(|h| h.doc.message_id));
    }
    let expected: Vec<String> = (0..25).rev().map(|i| format!("m{i:02}")).collect();
    assert_eq!(seen, expected);
    // page_size 0 means the default of 10.
    assert_eq!(index.search(&text("page")).await.unwrap().hits.len(), 10);
    let q = SearchQuery {
        page: 5,
        page_size: 10,
        ..text("page")
    };
    assert!(index.search(&q).await.unwrap().hits.is_empty());
    let q = SearchQuery {
        page: 10_000,
        page_size: 10,
        ..text("page")
    };
    assert!(matches!(
        index.search(&q).await,
        Err(SearchError::Failed(_))
    ));
}

#[tokio::test]
async fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = LocalIndex::open(dir.path()).unwrap();
        index
            .apply(&[doc("m1", "c", "a", "persistent words", 1, 3)])
            .await
            .unwrap();
        // Dropped without refresh: the final commit keeps it.
    }
    let index = LocalIndex::open(dir.path()).unwrap();
    assert_eq!(index.search(&text("persistent")).await.unwrap().total, 1);
    assert_eq!(index.get(&["m1".into()]).await.unwrap()["m1"].version, 3);
    let older = doc("m1", "c", "a", "older", 1, 2);
    assert_eq!(index.apply(&[older]).await.unwrap(), [ItemOutcome::Stale]);
}

#[tokio::test]
async fn a_second_process_searches_read_only() {
    let dir = tempfile::tempdir().unwrap();
    assert!(LocalIndex::open_read_only(dir.path()).is_err());
    let writer = manual(dir.path());
    writer
        .apply(&[doc("m1", "c", "a", "first", 1, 1)])
        .await
        .unwrap();
    writer.refresh().await.unwrap();
    // Only one writer per directory.
    match LocalIndex::open(dir.path()) {
        Err(SearchError::Unavailable(m)) => assert!(m.contains("read-only"), "{m}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a second writer opened"),
    }
    let reader = LocalIndex::open_read_only(dir.path()).unwrap();
    assert!(reader.is_read_only());
    assert_eq!(reader.search(&text("first")).await.unwrap().total, 1);
    assert!(reader
        .apply(&[doc("m2", "c", "a", "x", 1, 1)])
        .await
        .is_err());
    writer
        .apply(&[doc("m2", "c", "a", "second", 2, 1)])
        .await
        .unwrap();
    writer.refresh().await.unwrap();
    reader.refresh().await.unwrap();
    assert_eq!(reader.search(&text("second")).await.unwrap().total, 1);
    assert_eq!(reader.count().await.unwrap(), 2);
}

#[tokio::test]
async fn replace_all_swaps_every_document_in_one_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = manual(dir.path());
    index
        .apply(&[
            doc("m1", "ch_a", "u1", "deploy started", 1, 1),
            doc("m2", "ch_a", "u1", "corrupted copy", 2, 1),
        ])
        .await
        .expect("apply");
    // Applied, not committed: the replace must not lose it nor keep it.
    index
        .apply(&[doc("m9", "ch_a", "u1", "stray", 3, 1)])
        .await
        .expect("apply");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let progress: ReplaceProgress = {
        let seen = seen.clone();
        Arc::new(move |done, total| seen.lock().expect("lock").push((done, total)))
    };
    let replaced = index
        .replace_all(
            vec![
                doc("m1", "ch_a", "u1", "deploy started", 1, 1),
                doc("m2", "ch_a", "u1", "deploy finished", 2, 2),
                tombstone("m3", "ch_a", 5),
            ],
            progress,
        )
        .await
        .expect("replace");
    assert_eq!(replaced.documents, 3);
    assert_eq!(
        ids(&index.search(&text("deploy")).await.expect("search")).len(),
        2
    );
    assert!(index
        .search(&text("corrupted"))
        .await
        .expect("search")
        .hits
        .is_empty());
    assert!(index
        .search(&text("stray"))
        .await
        .expect("search")
        .hits
        .is_empty());
    let got = index
        .get(&["m3".to_string(), "m9".to_string()])
        .await
        .expect("get");
    assert!(got["m3"].deleted, "tombstones are kept");
    assert!(!got.contains_key("m9"));
    assert_eq!(seen.lock().expect("lock").last(), Some(&(3, 3)));
    // The guard holds on the new documents.
    let outcome = index
        .apply(&[doc("m2", "ch_a", "u1", "older", 2, 1)])
        .await
        .expect("apply");
    assert_eq!(outcome, vec![ItemOutcome::Stale]);
}

#[tokio::test]
async fn an_index_of_an_older_eventdeck_says_so_and_a_reindex_brings_the_grams() {
    let dir = tempfile::tempdir().unwrap();
    let at = dir.path().join("index");
    let docs = vec![
        doc("m1", "c", "a", "프로젝트 배포 완료", 1, 1),
        doc("m2", "c", "a", "배포를 시작합니다", 2, 1),
    ];
    {
        let older = LocalIndex::open_words_only(&at).expect("open");
        older.apply(&docs).await.expect("apply");
    }
    let index = LocalIndex::open(&at).expect("reopen");
    let analysis = index.analysis().await.expect("analysis");
    assert_eq!(analysis.built_with, WORDS_ONLY);
    assert!(analysis
        .warning()
        .is_some_and(|w| w.contains("eventdeck replay --reindex")));
    // Words only: the particle hides the word.
    let r = index.search(&text("배포")).await.expect("search");
    assert_eq!(ids(&r), ["m1"]);
    // A reopened index keeps saying what built it, new commits or not.
    index
        .apply(&[doc("m3", "c", "a", "unrelated", 3, 1)])
        .await
        .expect("apply");
    index.refresh().await.expect("refresh");
    drop(index);
    let index = LocalIndex::open(&at).expect("reopen");
    assert_eq!(
        index.analysis().await.expect("analysis").built_with,
        WORDS_ONLY
    );

    let progress: ReplaceProgress = Arc::new(|_, _| {});
    let replaced = index.replace_all(docs, progress).await.expect("replace");
    assert_eq!(replaced.analyzer, ANALYZER);
    let analysis = index.analysis().await.expect("analysis");
    assert!(analysis.is_current(), "{analysis:?}");
    assert_eq!(analysis.warning(), None);
    let r = index.search(&text("배포")).await.expect("search");
    assert_eq!(ids(&r), ["m1", "m2"], "the word first, then its form");
    drop(index);
    let reader = LocalIndex::open_read_only(&at).expect("read-only");
    assert!(reader.analysis().await.expect("analysis").is_current());
}
