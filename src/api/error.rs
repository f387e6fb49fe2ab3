//! The API's one error shape: `{"error": code, "message": text, "field": name?}` with the HTTP
//! status that says the same thing. Bad input is always a 4xx; a 5xx only ever means the
//! store or the index failed, never the request.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::search::SearchError;
use crate::store::{CommandError, StoreError, StoreUnavailable};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub error: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            error: code(status),
            message: message.into(),
            field: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }
}

/// The machine-readable name of a status, as the OpenAPI document lists them.
fn code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "unprocessable",
        503 => "unavailable",
        _ => "internal",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut response = (status, axum::Json(&self)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        let field = match &e {
            CommandError::Invalid { field, .. } => Some(field.to_string()),
            _ => None,
        };
        Self {
            field,
            ..Self::new(status, e.to_string())
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Command(c) => c.into(),
            // The database failed: not the request's fault, and worth a retry.
            other => {
                tracing::warn!(error = %crate::config::redact_userinfo(&other.to_string()), "store failed");
                Self::unavailable(format!(
                    "the write store failed: {}",
                    crate::config::redact_userinfo(&other.to_string())
                ))
            }
        }
    }
}

impl From<&StoreUnavailable> for ApiError {
    fn from(e: &StoreUnavailable) -> Self {
        Self::unavailable(format!("the write store is unavailable: {e}"))
    }
}

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::Unavailable(_) => Self::unavailable(e.to_string()),
            // A 4xx from the search engine for a query we built: our fault, not the caller's.
            SearchError::Failed(_) => Self::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    }
}
