//! The JSON eventdeck sends to and reads from an Elasticsearch-API server for CJK text and
//! searches: the index's analysis (as its mapping's `_meta` records it), the mapping, a
//! document's `_source` with its grams, the search body, and hits with their highlights. Pure.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::super::grams::{grams_field, has_cjk, query_grams};
use super::super::highlight::highlight;
use super::super::{
    SearchDoc, SearchError, SearchHit, SearchQuery, SortOrder, CJK_BIGRAMS, WORDS_ONLY, WORD_BOOST,
};

/// How an index analyses CJK text, as its mapping's `_meta.eventdeck.analyzer` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Analysis {
    /// eventdeck's bigrams in `content_grams`.
    Bigrams,
    /// The cluster's `nori` on `content.nori`.
    Nori,
    /// Built by an older eventdeck: the standard analyzer only.
    WordsOnly,
}

impl Analysis {
    pub fn name(self) -> &'static str {
        match self {
            Analysis::Bigrams => CJK_BIGRAMS,
            Analysis::Nori => "nori",
            Analysis::WordsOnly => WORDS_ONLY,
        }
    }

    /// What a mapping records; no record is an index of an older eventdeck.
    pub fn of_mapping(mapping: &Value) -> Analysis {
        match mapping
            .pointer("/_meta/eventdeck/analyzer")
            .and_then(Value::as_str)
        {
            Some(name) if name == Analysis::Bigrams.name() => Analysis::Bigrams,
            Some("nori") => Analysis::Nori,
            _ => Analysis::WordsOnly,
        }
    }
}

/// The explicit mapping of the message index (the guide's fields plus the guard fields), with
/// the fields of its CJK `analysis`, which `_meta` records.
pub fn mapping(analysis: Analysis) -> Value {
    let mut content = json!({ "type": "text" });
    let mut properties = json!({
        "message_id": { "type": "keyword" },
        "channel":    { "type": "keyword" },
        "author":     { "type": "keyword" },
        "mentions":   { "type": "keyword" },
        "created_at": { "type": "date", "format": "epoch_millis" },
        "updated_at": { "type": "date", "format": "epoch_millis" },
        "deleted":    { "type": "boolean" },
        "version":    { "type": "long" }
    });
    match analysis {
        Analysis::Bigrams => {
            properties["content_grams"] = json!({ "type": "text", "analyzer": "whitespace" });
        }
        Analysis::Nori => {
            content["fields"] = json!({ "nori": { "type": "text", "analyzer": "nori" } });
        }
        Analysis::WordsOnly => {}
    }
    properties["content"] = content;
    json!({
        "settings": { "number_of_shards": 1 },
        "mappings": {
            "_meta": { "eventdeck": { "analyzer": analysis.name() } },
            "properties": properties
        }
    })
}

/// The `_source` of `doc` as written with `analysis`: the document, plus its grams.
pub fn source(doc: &SearchDoc, analysis: Analysis) -> Result<Value, SearchError> {
    let mut value = serde_json::to_value(doc).map_err(|e| SearchError::Failed(e.to_string()))?;
    if analysis == Analysis::Bigrams && has_cjk(&doc.content) {
        value["content_grams"] = Value::String(grams_field(&doc.content));
    }
    Ok(value)
}

/// The body of a search request for `query` on an index built with `analysis`: a `match` on
/// content (OR of the analysed terms); with CJK text, OR-ed with a `match` on the grams (or
/// on `content.nori`), the whole words boosted so that they rank first.
pub fn search_body(query: &SearchQuery, analysis: Analysis) -> Value {
    let mut must = Vec::new();
    let words = |boost: f32| json!({ "match": { "content": { "query": query.text, "operator": "or", "boost": boost } } });
    if query.text.trim().is_empty() {
        must.push(json!({ "match_all": {} }));
    } else if analysis == Analysis::Bigrams && has_cjk(&query.text) {
        let grams: Vec<String> = query_grams(&query.text)
            .into_iter()
            .map(|g| g.text)
            .collect();
        must.push(json!({ "bool": {
            "should": [
                words(WORD_BOOST),
                { "match": { "content_grams": { "query": grams.join(" "), "operator": "or" } } }
            ],
            "minimum_should_match": 1
        } }));
    } else if analysis == Analysis::Nori {
        must.push(json!({ "bool": {
            "should": [
                words(WORD_BOOST),
                { "match": { "content.nori": { "query": query.text, "operator": "or" } } }
            ],
            "minimum_should_match": 1
        } }));
    } else {
        must.push(json!({ "match": { "content": { "query": query.text, "operator": "or" } } }));
    }
    let mut filter = Vec::new();
    if let Some(c) = &query.channel {
        filter.push(json!({ "term": { "channel": c } }));
    }
    if let Some(a) = &query.author {
        filter.push(json!({ "term": { "author": a } }));
    }
    if query.created_from.is_some() || query.created_to.is_some() {
        let mut range = serde_json::Map::new();
        if let Some(f) = query.created_from {
            range.insert("gte".into(), json!(f));
        }
        if let Some(t) = query.created_to {
            range.insert("lte".into(), json!(t));
        }
        filter.push(json!({ "range": { "created_at": range } }));
    }
    // 0 means the default page, as in the local index.
    let size = if query.page_size == 0 {
        10
    } else {
        query.page_size
    };
    let mut body = json!({
        "query": { "bool": {
            "must": must,
            "filter": filter,
            "must_not": [ { "term": { "deleted": true } } ]
        } },
        "from": query.page * size,
        "size": size,
        "track_total_hits": true,
        "highlight": { "fields": highlight_fields(analysis) }
    });
    let sort = match query.sort {
        SortOrder::NewestFirst => json!([{ "created_at": "desc" }, { "message_id": "asc" }]),
        SortOrder::Relevance => {
            json!([{ "_score": "desc" }, { "created_at": "desc" }, { "message_id": "asc" }])
        }
    };
    body["sort"] = sort;
    body
}

fn highlight_fields(analysis: Analysis) -> Value {
    match analysis {
        Analysis::Nori => json!({ "content": {}, "content.nori": {} }),
        _ => json!({ "content": {} }),
    }
}

/// Where a hit's highlights come from: the engine's, or eventdeck's own highlighter for a
/// CJK query on a bigrams index (the engine can only mark the grams field's own text).
pub(super) enum Highlighting {
    Engine,
    Grams {
        words: HashSet<String>,
        grams: HashSet<String>,
    },
}

impl Highlighting {
    pub(super) fn for_query(query: &SearchQuery, analysis: Analysis) -> Highlighting {
        if analysis != Analysis::Bigrams || !has_cjk(&query.text) {
            return Highlighting::Engine;
        }
        Highlighting::Grams {
            words: crate::search::local::analyze(&query.text)
                .into_iter()
                .map(|t| t.text)
                .collect(),
            grams: query_grams(&query.text)
                .into_iter()
                .map(|g| g.text)
                .collect(),
        }
    }
}

pub(super) fn parse_hit(hit: &Value, highlighting: &Highlighting) -> Option<SearchHit> {
    let doc: SearchDoc = serde_json::from_value(hit.get("_source")?.clone()).ok()?;
    let engine = |field: &str| -> Vec<String> {
        hit.get("highlight")
            .and_then(|h| h.get(field))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let highlights = match highlighting {
        Highlighting::Grams { words, grams } => highlight(&doc.content, words, grams),
        Highlighting::Engine => {
            // nori marks the word stems; the standard field whole words.
            let nori = engine("content.nori");
            if nori.is_empty() {
                engine("content")
            } else {
                nori
            }
        }
    };
    Some(SearchHit {
        doc,
        score: hit.get("_score").and_then(Value::as_f64).map(|s| s as f32),
        highlights,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn search_body_is_a_match_query_with_filters_and_paging() {
        let q = SearchQuery {
            text: "deploy done".into(),
            channel: Some("ch_dev".into()),
            author: None,
            created_from: Some(5),
            created_to: None,
            sort: SortOrder::NewestFirst,
            page: 2,
            page_size: 10,
        };
        let b = search_body(&q, Analysis::Bigrams);
        assert_eq!(
            b.pointer("/query/bool/must/0/match/content/query"),
            Some(&json!("deploy done"))
        );
        // No CJK text: the plain match, whatever the index's analysis.
        assert_eq!(search_body(&q, Analysis::WordsOnly), b);
        assert_eq!(
            b.pointer("/query/bool/filter/0/term/channel"),
            Some(&json!("ch_dev"))
        );
        assert_eq!(
            b.pointer("/query/bool/filter/1/range/created_at/gte"),
            Some(&json!(5))
        );
        assert_eq!(b["from"], json!(20));
        assert_eq!(b.pointer("/sort/0/created_at"), Some(&json!("desc")));
    }

    #[test]
    fn a_cjk_query_matches_boosted_words_or_grams_by_the_index_analysis() {
        let q = SearchQuery {
            text: "배포를 deploy".into(),
            ..SearchQuery::default()
        };
        let b = search_body(&q, Analysis::Bigrams);
        let should = b.pointer("/query/bool/must/0/bool/should").expect("should");
        assert_eq!(
            should[0].pointer("/match/content/boost"),
            Some(&json!(WORD_BOOST))
        );
        assert_eq!(
            should[1].pointer("/match/content_grams/query"),
            Some(&json!("배포 포를"))
        );
        let n = search_body(&q, Analysis::Nori);
        assert_eq!(
            n.pointer("/query/bool/must/0/bool/should/1/match/content.nori/query"),
            Some(&json!("배포를 deploy"))
        );
        assert!(n.pointer("/highlight/fields/content.nori").is_some());
        // An index of an older eventdeck has no grams field to query.
        let w = search_body(&q, Analysis::WordsOnly);
        assert!(w.pointer("/query/bool/must/0/match/content").is_some());
    }

    #[test]
    fn the_mapping_records_its_analysis_and_has_its_fields() {
        for analysis in [Analysis::Bigrams, Analysis::Nori] {
            let m = mapping(analysis);
            assert_eq!(Analysis::of_mapping(&m["mappings"]), analysis);
        }
        let bigrams = mapping(Analysis::Bigrams);
        assert_eq!(
            bigrams.pointer("/mappings/properties/content_grams/analyzer"),
            Some(&json!("whitespace"))
        );
        let nori = mapping(Analysis::Nori);
        assert_eq!(
            nori.pointer("/mappings/properties/content/fields/nori/analyzer"),
            Some(&json!("nori"))
        );
        assert_eq!(
            Analysis::of_mapping(&json!({ "properties": {} })),
            Analysis::WordsOnly
        );
        let doc = SearchDoc {
            message_id: "m".into(),
            channel: "c".into(),
            author: "a".into(),
            content: "배포를 시작".into(),
            mentions: vec![],
            created_at: Some(1),
            updated_at: None,
            deleted: false,
            version: 1,
        };
        assert_eq!(
            source(&doc, Analysis::Bigrams).expect("source")["content_grams"],
            json!("배포 포를 시작 배 포 를 시 작")
        );
        assert!(source(&doc, Analysis::Nori)
            .expect("source")
            .get("content_grams")
            .is_none());
    }
}
