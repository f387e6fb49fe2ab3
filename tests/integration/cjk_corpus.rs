//! Korean (and Japanese, Chinese) search on every backend: a corpus of sentences with
//! particles, verb endings, spacing variants and mixed scripts, and queries with their
//! expected hits in ranked tiers — whole-word hits above hits of the word's CJK grams only,
//! above nothing. Inside a tier the engines may order by their own length norms; between
//! tiers every backend must agree. Run by `search_index`'s `all_three!` on the local index,
//! osmem-server and noida-db; each run prints its results table (`--nocapture`).

use std::sync::Arc;

use eventdeck::search::{SearchDoc, SearchIndex, SearchQuery};

/// (id, sentence).
const SENTENCES: &[(&str, &str)] = &[
    ("k01", "프로젝트 배포 완료"),
    ("k02", "배포를 시작합니다"),
    ("k03", "어제 배포가 실패했어요"),
    ("k04", "배포는 내일 오전에 진행됩니다"),
    ("k05", "배포했습니다 확인 부탁드려요"),
    ("k06", "배포 deploy 완료"),
    ("k07", "신규배포 공지"),
    ("k08", "분배 포인트 정산"),
    ("k09", "재배포 일정을 공유합니다"),
    ("k10", "회의록 공유드립니다"),
    ("k11", "회의는 3시에 시작합니다"),
    ("k12", "오늘 회의 취소"),
    ("k13", "주간회의 자료 올렸어요"),
    ("k14", "로그 확인 부탁드립니다"),
    ("k15", "확인했습니다"),
    ("k16", "확인 완료"),
    ("k17", "서버가 다운됐어요"),
    ("k18", "서버 재시작 완료"),
    ("k19", "서버를 점검 중입니다"),
    ("k20", "장애 대응 회고"),
    ("k21", "장애가 발생했습니다 긴급"),
    ("k22", "결제 장애는 해결됐습니다"),
    ("k23", "코드 리뷰 요청드립니다"),
    ("k24", "리뷰요청 드려요"),
    ("k25", "kafka 컨슈머 lag 확인 필요"),
    ("k26", "Elasticsearch 인덱스를 재생성했습니다"),
    ("k27", "인덱스 rebuild done"),
    ("k28", "東京タワーに行きました"),
    ("k29", "デプロイが完了しました"),
    ("k30", "本番環境へのデプロイ"),
    ("k31", "部署完成了"),
    ("k32", "明天开始部署"),
    ("k33", "服务器部署失败"),
    ("k34", "deploy finished on staging"),
    ("k35", "the deploy was rolled back"),
    ("k36", "배 고파요"),
];

/// (query, expected hits in ranked tiers).
const QUERIES: &[(&str, &[&[&str]])] = &[
    // The word itself, then every form of it: particles, endings, compounds; not 분배 포인트.
    (
        "배포",
        &[&["k01", "k06"], &["k02", "k03", "k04", "k05", "k07", "k09"]],
    ),
    // With its particle: the exact form first, then messages sharing only the pair 배포.
    (
        "배포를",
        &[&["k02"], &["k01", "k03", "k04", "k05", "k06", "k07", "k09"]],
    ),
    (
        "배포 완료",
        &[
            &["k01", "k06"],
            &["k16", "k18"],
            &["k02", "k03", "k04", "k05", "k07", "k09"],
        ],
    ),
    (
        "배포가 실패",
        &[&["k03"], &["k01", "k02", "k04", "k05", "k06", "k07", "k09"]],
    ),
    ("회의", &[&["k12"], &["k10", "k11", "k13"]]),
    ("확인", &[&["k05", "k14", "k16", "k25"], &["k15"]]),
    ("서버", &[&["k18"], &["k17", "k19"]]),
    ("장애", &[&["k20"], &["k21", "k22"]]),
    // Spacing variants: 리뷰 요청 and 리뷰요청.
    ("리뷰 요청", &[&["k23"], &["k24"]]),
    ("인덱스", &[&["k27"], &["k26"]]),
    // One syllable: the word 배, then every word that holds it.
    (
        "배",
        &[
            &["k36"],
            &[
                "k01", "k02", "k03", "k04", "k05", "k06", "k07", "k08", "k09",
            ],
        ],
    ),
    ("デプロイ", &[&["k29", "k30"]]),
    ("東京", &[&["k28"]]),
    ("部署", &[&["k31", "k32", "k33"]]),
    // English is untouched by the grams.
    ("deploy", &[&["k06", "k34", "k35"]]),
];

fn corpus() -> Vec<SearchDoc> {
    SENTENCES
        .iter()
        .enumerate()
        .map(|(n, (id, content))| SearchDoc {
            message_id: id.to_string(),
            channel: "ch_ko".into(),
            author: "user_001".into(),
            content: content.to_string(),
            mentions: vec![],
            created_at: Some(1_000 + n as i64),
            updated_at: None,
            deleted: false,
            version: 1,
        })
        .collect()
}

/// The hits of `got` cut into the expected tiers' sizes, each tier sorted: equal to the
/// expected tiers exactly when every hit is in its tier and nothing else was found.
fn as_tiers(got: &[String], expected: &[&[&str]]) -> Vec<Vec<String>> {
    let mut tiers = Vec::new();
    let mut rest = got;
    for tier in expected {
        let n = tier.len().min(rest.len());
        let mut cut: Vec<String> = rest[..n].to_vec();
        cut.sort();
        tiers.push(cut);
        rest = &rest[n..];
    }
    if !rest.is_empty() {
        tiers.push(rest.to_vec());
    }
    tiers
}

fn show(tiers: &[Vec<String>]) -> String {
    tiers
        .iter()
        .map(|t| t.join(" "))
        .collect::<Vec<_>>()
        .join(" > ")
}

pub async fn korean_corpus_finds_every_form_words_first(index: Arc<dyn SearchIndex>) {
    let docs = corpus();
    let outcomes = index.apply(&docs).await.expect("apply");
    assert!(outcomes
        .iter()
        .all(|o| *o == eventdeck::search::ItemOutcome::Applied));
    index.refresh().await.expect("refresh");

    let mut failures = Vec::new();
    println!("| query | expected | got |");
    println!("|---|---|---|");
    for (text, expected) in QUERIES {
        let r = index
            .search(&SearchQuery {
                text: text.to_string(),
                page_size: 50,
                ..SearchQuery::default()
            })
            .await
            .expect("search");
        let got: Vec<String> = r.hits.iter().map(|h| h.doc.message_id.clone()).collect();
        let want: Vec<Vec<String>> = expected
            .iter()
            .map(|t| {
                let mut t: Vec<String> = t.iter().map(|s| s.to_string()).collect();
                t.sort();
                t
            })
            .collect();
        let tiers = as_tiers(&got, expected);
        println!("| {text} | {} | {} |", show(&want), show(&tiers));
        if tiers != want || r.total != got.len() as u64 {
            failures.push(format!(
                "{text}: expected {}, got {} (total {})",
                show(&want),
                show(&tiers),
                r.total
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The matched part of the word is marked, on every backend.
    let r = index
        .search(&SearchQuery {
            text: "배포".into(),
            page_size: 50,
            ..SearchQuery::default()
        })
        .await
        .expect("search");
    let highlight = |id: &str| {
        r.hits
            .iter()
            .find(|h| h.doc.message_id == id)
            .map(|h| h.highlights.clone())
            .unwrap_or_default()
    };
    assert_eq!(highlight("k02"), ["<em>배포</em>를 시작합니다"]);
    assert_eq!(highlight("k01"), ["프로젝트 <em>배포</em> 완료"]);
    assert_eq!(highlight("k09"), ["재<em>배포</em> 일정을 공유합니다"]);
}

/// An index built by an older eventdeck (words only, no `_meta`) keeps answering, says so,
/// and `replace_all` (`eventdeck replay --reindex`) rebuilds it with the grams.
async fn an_older_index_is_upgraded_by_a_reindex(url: String) {
    use eventdeck::config::{ElasticAuth, SearchAnalyzer};
    use eventdeck::search::elastic::{Analysis, ElasticIndex};
    use eventdeck::search::WORDS_ONLY;

    let url = url::Url::parse(&url).expect("url");
    let older = ElasticIndex::connect(&url, "messages", &ElasticAuth::None, SearchAnalyzer::Auto)
        .expect("client")
        .building_with(Analysis::WordsOnly);
    older.ensure_index().await.expect("older index");
    let docs = corpus();
    older.apply(&docs).await.expect("apply");
    drop(older);

    let index: Arc<dyn SearchIndex> = Arc::new(
        ElasticIndex::connect(&url, "messages", &ElasticAuth::None, SearchAnalyzer::Auto)
            .expect("client"),
    );
    index.ensure_index().await.expect("ensure");
    index.refresh().await.expect("refresh");
    let analysis = index.analysis().await.expect("analysis");
    assert_eq!(analysis.built_with, WORDS_ONLY);
    assert!(analysis.warning().is_some());
    let search = |text: &str| SearchQuery {
        text: text.into(),
        page_size: 50,
        ..SearchQuery::default()
    };
    // Written and queried as it was built: whole words only, no grams field appears.
    index
        .apply(&[SearchDoc {
            message_id: "late".into(),
            content: "배포합니다".into(),
            version: 2,
            ..docs[0].clone()
        }])
        .await
        .expect("apply");
    index.refresh().await.expect("refresh");
    let r = index.search(&search("배포")).await.expect("search");
    let mut got: Vec<&str> = r.hits.iter().map(|h| h.doc.message_id.as_str()).collect();
    got.sort();
    assert_eq!(got, ["k01", "k06"]);

    let mut all = docs.clone();
    all.push(SearchDoc {
        message_id: "late".into(),
        content: "배포합니다".into(),
        version: 2,
        ..docs[0].clone()
    });
    let replaced = index
        .replace_all(all, Arc::new(|_, _| {}))
        .await
        .expect("reindex");
    assert_eq!(replaced.analyzer, eventdeck::search::CJK_BIGRAMS);
    let analysis = index.analysis().await.expect("analysis");
    assert!(analysis.is_current(), "{analysis:?}");
    let r = index.search(&search("배포")).await.expect("search");
    assert_eq!(r.total, 9, "every form, and the late one");
    let top: Vec<&str> = r.hits[..2]
        .iter()
        .map(|h| h.doc.message_id.as_str())
        .collect();
    assert!(top.contains(&"k01") && top.contains(&"k06"), "{top:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_index_is_upgraded_by_a_reindex_on_osmem() {
    an_older_index_is_upgraded_by_a_reindex(crate::harness::search_server().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_index_is_upgraded_by_a_reindex_on_noida() {
    let noida = tokio::task::spawn_blocking(crate::harness::Noida::start)
        .await
        .expect("noida start");
    an_older_index_is_upgraded_by_a_reindex(noida.elasticsearch.clone()).await;
}
