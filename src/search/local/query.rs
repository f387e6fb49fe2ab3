//! Searching and counting: an Elasticsearch `bool` query rebuilt on tantivy.
//!
//! Invariants: tombstones are excluded from every search and count (`MustNot` on `deleted`);
//! filters (channel, author, date range) never change scores, like `bool.filter`; the text is
//! analysed exactly as the content was indexed ([`analyze`]); sorts end with `message_id` so
//! that pages are stable; `(page + 1) * page_size` may not exceed Elasticsearch's default
//! `max_result_window`.

use std::collections::HashSet;
use std::ops::Bound;
use std::time::Instant;

use tantivy::collector::sort_key::{SortBySimilarityScore, SortByStaticFastValue, SortByString};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, EmptyQuery, Occur, Query, RangeQuery,
    TermQuery,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, Order, Term};

use super::analysis::{analyze, gram_term};
use super::{tantivy_error, Inner};
use crate::search::grams::query_grams;
use crate::search::highlight::highlight;
use crate::search::{SearchError, SearchHit, SearchQuery, SearchResults, SortOrder, WORD_BOOST};

/// Elasticsearch's default `index.max_result_window`: from + size may not exceed it.
const MAX_RESULT_WINDOW: usize = 10_000;
const DEFAULT_PAGE_SIZE: usize = 10;

impl Inner {
    /// Matches tombstones: every search and count excludes it with `MustNot`.
    pub(super) fn deleted_query(&self) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_bool(self.fields.deleted, true),
            IndexRecordOption::Basic,
        ))
    }

    /// A filter clause: matches like `query` but adds nothing to the score, as in an
    /// Elasticsearch `bool.filter`.
    fn filter(query: impl Query + 'static) -> (Occur, Box<dyn Query>) {
        (
            Occur::Must,
            Box::new(ConstScoreQuery::new(Box::new(query), 0.0)),
        )
    }

    pub(super) fn count(&self) -> Result<u64, SearchError> {
        let query = BooleanQuery::new(vec![
            (Occur::Must, Box::new(AllQuery) as Box<dyn Query>),
            (Occur::MustNot, self.deleted_query()),
        ]);
        let n = self
            .reader
            .searcher()
            .search(&query, &Count)
            .map_err(|e| tantivy_error("count failed", e))?;
        Ok(n as u64)
    }

    pub(super) fn search(&self, query: &SearchQuery) -> Result<SearchResults, SearchError> {
        let started = Instant::now();
        let f = &self.fields;
        let size = if query.page_size == 0 {
            DEFAULT_PAGE_SIZE
        } else {
            query.page_size
        };
        let from = query
            .page
            .checked_mul(size)
            .filter(|from| from.saturating_add(size) <= MAX_RESULT_WINDOW)
            .ok_or_else(|| {
                SearchError::Failed(format!(
                    "result window too large: (page + 1) * page_size must be at most \
                     {MAX_RESULT_WINDOW}"
                ))
            })?;

        // An Elasticsearch `match` query on the words (the text analysed like the content,
        // terms OR-ed, boosted) OR-ed with one on the CJK grams, as the Elasticsearch backend
        // queries `content` and `content_grams`: whole-word hits rank above gram-only ones.
        let terms: Vec<String> = analyze(&query.text).into_iter().map(|t| t.text).collect();
        let grams: Vec<String> = query_grams(&query.text)
            .into_iter()
            .map(|g| g.text)
            .collect();
        let term_query = |text: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(f.content, text),
                IndexRecordOption::WithFreqs,
            ))
        };
        let text_query: Box<dyn Query> = if query.text.trim().is_empty() {
            Box::new(AllQuery)
        } else if terms.is_empty() && grams.is_empty() {
            // Only punctuation: Elasticsearch's zero_terms_query "none" matches nothing.
            Box::new(EmptyQuery)
        } else if grams.is_empty() {
            // No CJK text: exactly the plain `match` query, scores and all.
            Box::new(BooleanQuery::new(
                terms
                    .iter()
                    .map(|t| (Occur::Should, term_query(t)))
                    .collect(),
            ))
        } else {
            let words = BooleanQuery::new(
                terms
                    .iter()
                    .map(|t| (Occur::Should, term_query(t)))
                    .collect(),
            );
            let gram_terms = BooleanQuery::new(
                grams
                    .iter()
                    .map(|g| (Occur::Should, term_query(&gram_term(g))))
                    .collect(),
            );
            Box::new(BooleanQuery::new(vec![
                (
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(words), WORD_BOOST)),
                ),
                (Occur::Should, Box::new(gram_terms)),
            ]))
        };
        let mut clauses = vec![(Occur::Must, text_query)];
        if let Some(channel) = &query.channel {
            clauses.push(Self::filter(TermQuery::new(
                Term::from_field_text(f.channel, channel),
                IndexRecordOption::Basic,
            )));
        }
        if let Some(author) = &query.author {
            clauses.push(Self::filter(TermQuery::new(
                Term::from_field_text(f.author, author),
                IndexRecordOption::Basic,
            )));
        }
        if query.created_from.is_some() || query.created_to.is_some() {
            let bound = |v: Option<i64>| match v {
                Some(v) => Bound::Included(Term::from_field_i64(f.created_at, v)),
                None => Bound::Unbounded,
            };
            clauses.push(Self::filter(RangeQuery::new(
                bound(query.created_from),
                bound(query.created_to),
            )));
        }
        clauses.push((Occur::MustNot, self.deleted_query()));
        let bool_query = BooleanQuery::new(clauses);

        let searcher = self.reader.searcher();
        let top = TopDocs::with_limit(size).and_offset(from);
        let created = (
            SortByStaticFastValue::<i64>::for_field("created_at"),
            Order::Desc,
        );
        let id = (SortByString::for_field("message_id"), Order::Asc);
        let (total, addresses): (usize, Vec<(Option<f32>, DocAddress)>) = match query.sort {
            SortOrder::Relevance => {
                let collector = top.order_by(((SortBySimilarityScore, Order::Desc), created, id));
                let (total, hits) = searcher
                    .search(&bool_query, &(Count, collector))
                    .map_err(|e| tantivy_error("search failed", e))?;
                let hits = hits
                    .into_iter()
                    .map(|((score, _, _), address)| (Some(score), address));
                (total, hits.collect())
            }
            SortOrder::NewestFirst => {
                // Like Elasticsearch sorting on fields: no score.
                let collector = top.order_by((created, id));
                let (total, hits) = searcher
                    .search(&bool_query, &(Count, collector))
                    .map_err(|e| tantivy_error("search failed", e))?;
                (total, hits.into_iter().map(|(_, a)| (None, a)).collect())
            }
        };

        let words: HashSet<String> = terms.into_iter().collect();
        let grams: HashSet<String> = grams.into_iter().collect();
        let mut hits = Vec::with_capacity(addresses.len());
        for (score, address) in addresses {
            let doc = self.stored_doc(&searcher, address)?;
            let highlights = highlight(&doc.content, &words, &grams);
            hits.push(SearchHit {
                doc,
                score,
                highlights,
            });
        }
        Ok(SearchResults {
            total: total as u64,
            took_ms: started.elapsed().as_millis() as u64,
            hits,
        })
    }
}
