//! The command side over HTTP: `POST /messages`, `PATCH` and `DELETE /messages/{id}`, and
//! `GET /messages/{id}` (the write model's row). Each write is one transaction of the store
//! (row + outbox entry); the relay publishes it afterwards, so a 201 means "committed", and
//! the message reaches the topics and the index even if the broker is down right now.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::auth::authorize;
use super::body::{bytes, check_json_content_type, parse_json};
use super::error::ApiError;
use super::ApiState;
use crate::store::{command, DeleteMessage, EditMessage, Message, PostMessage, SharedStore};

/// Longer ids are never ours: answered 404 without asking the store.
const MAX_PATH_ID: usize = 128;

impl ApiState {
    fn store(&self) -> Result<&SharedStore, ApiError> {
        self.store.as_ref().map_err(ApiError::from)
    }

    /// Authorization first (a 401 says nothing about the body), then the body.
    fn write_body<T: serde::de::DeserializeOwned>(
        &self,
        headers: &HeaderMap,
        body: Result<Bytes, BytesRejection>,
    ) -> Result<T, ApiError> {
        authorize(&self.token, headers)?;
        let body = bytes(body)?;
        check_json_content_type(headers)?;
        parse_json(&body)
    }
}

pub async fn post(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let post: PostMessage = state.write_body(&headers, body)?;
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::unprocessable(format!(
                "1–{} visible ASCII characters",
                command::MAX_IDEMPOTENCY_KEY
            ))
            .field("Idempotency-Key")
        })?),
    };
    let store = state.store()?;
    let started = std::time::Instant::now();
    let posted = store.post(post, key).await?;
    state.meter.record_write(started.elapsed());
    let location = format!("/messages/{}", posted.message.message_id);
    let mut response = if posted.created {
        (StatusCode::CREATED, Json(&posted.message)).into_response()
    } else {
        let mut r = (StatusCode::OK, Json(&posted.message)).into_response();
        r.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        r
    };
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

pub async fn edit(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Message>, ApiError> {
    let edit: EditMessage = state.write_body(&headers, body)?;
    known_form(&id)?;
    let started = std::time::Instant::now();
    let message = state.store()?.edit(&id, edit).await?;
    state.meter.record_write(started.elapsed());
    Ok(Json(message))
}

pub async fn delete(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Message>, ApiError> {
    authorize(&state.token, &headers)?;
    let delete = delete_params(raw.as_deref())?;
    known_form(&id)?;
    let started = std::time::Instant::now();
    let message = state.store()?.delete(&id, delete).await?;
    state.meter.record_write(started.elapsed());
    Ok(Json(message))
}

pub async fn get(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Message>, ApiError> {
    known_form(&id)?;
    match state.store()?.get(&id).await? {
        Some(m) => Ok(Json(m)),
        None => Err(not_found(&id)),
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::from(command::CommandError::NotFound(id.to_string()))
}

/// An id no message can have is simply not found.
fn known_form(id: &str) -> Result<(), ApiError> {
    if id.len() > MAX_PATH_ID {
        return Err(not_found(&format!(
            "{}…",
            &id[..id.floor_char_boundary(32)]
        )));
    }
    Ok(())
}

/// `DELETE /messages/{id}?deleted_by=user_x`: the only parameter.
fn delete_params(raw: Option<&str>) -> Result<DeleteMessage, ApiError> {
    let mut delete = DeleteMessage { deleted_by: None };
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "deleted_by" => delete.deleted_by = Some(value.into_owned()),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?}: only deleted_by"
                ))
                .field(other))
            }
        }
    }
    Ok(delete)
}
