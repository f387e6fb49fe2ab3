//! `GET /messages/search`: the query side. The parameters are parsed by a pure function
//! (every mistake is a 400 naming the parameter) and the answer is the index's, shaped like
//! the write model's messages so a client reads both the same way.

use axum::extract::{RawQuery, State};
use axum::Json;
use serde::Serialize;

use super::error::ApiError;
use super::ApiState;
use crate::search::{SearchHit, SearchQuery, SearchResults, SortOrder};

pub const MAX_PAGE_SIZE: usize = 100;
/// Deepest result reachable by paging, as Elasticsearch's `index.max_result_window`.
pub const MAX_RESULT_WINDOW: usize = 10_000;
const MAX_QUERY_CHARS: usize = 1_000;
/// 9999-12-31T23:59:59.999Z: the last instant an Elasticsearch date can hold.
const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// The parameters of a search URL (`q`, `channel`, `author`, `from`, `to`, `page`, `size`,
/// `sort`), as a [`SearchQuery`].
pub fn parse_search(raw: Option<&str>) -> Result<SearchQuery, ApiError> {
    let mut query = SearchQuery {
        page_size: 20,
        ..SearchQuery::default()
    };
    let bad = |name: &str, message: String| ApiError::bad_request(message).field(name);
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let value = value.trim();
        match name.as_ref() {
            "q" => {
                if value.chars().count() > MAX_QUERY_CHARS {
                    return Err(bad("q", format!("at most {MAX_QUERY_CHARS} characters")));
                }
                query.text = value.to_string();
            }
            "channel" => query.channel = (!value.is_empty()).then(|| value.to_string()),
            "author" => query.author = (!value.is_empty()).then(|| value.to_string()),
            "from" => query.created_from = Some(time("from", value)?),
            "to" => query.created_to = Some(time("to", value)?),
            "page" => {
                query.page = value
                    .parse()
                    .map_err(|_| bad("page", format!("{value:?}: expected 0, 1, 2, …")))?
            }
            "size" => {
                query.page_size = value
                    .parse()
                    .ok()
                    .filter(|s| (1..=MAX_PAGE_SIZE).contains(s))
                    .ok_or_else(|| {
                        bad("size", format!("{value:?}: expected 1 to {MAX_PAGE_SIZE}"))
                    })?
            }
            "sort" => {
                query.sort = match value {
                    "relevance" | "" => SortOrder::Relevance,
                    "newest" => SortOrder::NewestFirst,
                    _ => {
                        return Err(bad(
                            "sort",
                            format!("{value:?}: expected relevance or newest"),
                        ))
                    }
                }
            }
            other => {
                return Err(bad(
                    other,
                    format!(
                        "unknown parameter {other:?}: use q, channel, author, from, to, page, size, sort"
                    ),
                ))
            }
        }
    }
    if (query.page + 1).saturating_mul(query.page_size) > MAX_RESULT_WINDOW {
        return Err(bad(
            "page",
            format!("page × size may reach at most the first {MAX_RESULT_WINDOW} results"),
        ));
    }
    if let (Some(from), Some(to)) = (query.created_from, query.created_to) {
        if from > to {
            return Err(bad("from", "from is after to".into()));
        }
    }
    Ok(query)
}

/// An RFC 3339 time (`2026-12-02T13:00:00Z`) or milliseconds since the epoch.
fn time(name: &str, value: &str) -> Result<i64, ApiError> {
    if let Ok(ms) = value.parse::<i64>() {
        if (0..=MAX_TIME_MS).contains(&ms) {
            return Ok(ms);
        }
    }
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.timestamp_millis())
        .ok()
        .filter(|ms| (0..=MAX_TIME_MS).contains(ms))
        .ok_or(())
        .map_err(|_| {
            ApiError::bad_request(format!(
                "{value:?}: expected an RFC 3339 time (2026-12-02T13:00:00Z) or milliseconds since the epoch"
            ))
            .field(name)
        })
}

#[derive(Debug, Serialize)]
pub struct Found {
    pub total: u64,
    pub took_ms: u64,
    pub page: usize,
    pub size: usize,
    pub hits: Vec<FoundMessage>,
}

#[derive(Debug, Serialize)]
pub struct FoundMessage {
    pub message_id: String,
    pub channel_id: String,
    pub author_id: String,
    pub content: String,
    pub mentions: Vec<String>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub score: Option<f32>,
    pub highlights: Vec<String>,
}

impl Found {
    fn new(query: &SearchQuery, results: SearchResults) -> Self {
        Found {
            total: results.total,
            took_ms: results.took_ms,
            page: query.page,
            size: query.page_size,
            hits: results.hits.into_iter().map(FoundMessage::from).collect(),
        }
    }
}

impl From<SearchHit> for FoundMessage {
    fn from(hit: SearchHit) -> Self {
        let d = hit.doc;
        FoundMessage {
            message_id: d.message_id,
            channel_id: d.channel,
            author_id: d.author,
            content: d.content,
            mentions: d.mentions,
            created_at: d.created_at,
            updated_at: d.updated_at,
            score: hit.score.filter(|s| s.is_finite()),
            highlights: hit.highlights,
        }
    }
}

/// The user of the API's searches in activity events: the bearer token names no user.
pub const API_USER: &str = "api";

pub async fn search(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Found>, ApiError> {
    let query = parse_search(raw.as_deref())?;
    let started = std::time::Instant::now();
    let results = state.index.search(&query).await?;
    state.meter.record_read(started.elapsed());
    if let (Some(log), 0) = (&state.activity, query.page) {
        log.searched(API_USER, &query.text);
    }
    Ok(Json(Found::new(&query, results)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn every_parameter_is_read() {
        let q = parse_search(Some(
            "q=deploy%20%EB%B0%B0%ED%8F%AC&channel=ch_dev&author=user_1&from=2026-12-01T00:00:00Z&to=1800000000000&page=2&size=50&sort=newest",
        ))
        .unwrap();
        assert_eq!(q.text, "deploy 배포");
        assert_eq!(q.channel.as_deref(), Some("ch_dev"));
        assert_eq!(q.author.as_deref(), Some("user_1"));
        assert_eq!(q.created_from, Some(1_796_083_200_000));
        assert_eq!(q.created_to, Some(1_800_000_000_000));
        assert_eq!((q.page, q.page_size), (2, 50));
        assert_eq!(q.sort, SortOrder::NewestFirst);
    }

    #[test]
    fn defaults_without_parameters() {
        let q = parse_search(None).unwrap();
        assert_eq!((q.text.as_str(), q.page, q.page_size), ("", 0, 20));
        assert_eq!(q.sort, SortOrder::Relevance);
    }

    #[test]
    fn each_mistake_is_a_400_naming_the_parameter() {
        for (raw, field) in [
            ("size=0", "size"),
            ("size=101", "size"),
            ("size=ten", "size"),
            ("page=-1", "page"),
            ("page=500&size=100", "page"),
            ("from=yesterday", "from"),
            ("to=-5", "to"),
            ("to=9223372036854775807", "to"),
            ("from=0001-01-01T00:00:00Z", "from"),
            ("from=2000&to=1000", "from"),
            ("sort=oldest", "sort"),
            ("limit=5", "limit"),
        ] {
            let e = parse_search(Some(raw)).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{raw}");
            assert_eq!(e.field.as_deref(), Some(field), "{raw}");
        }
    }
}
