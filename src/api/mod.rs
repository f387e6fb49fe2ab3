//! The HTTP API (`eventdeck serve`, and the console with `[api] addr`): the command side
//! (`/messages`), the query side (`/messages/search`), `/healthz` and `/metrics` on one
//! server. Every answer that is not a success is the JSON of [`error::ApiError`]; the routes'
//! contract is `api/openapi.yaml`, checked against the running server by the tests.

pub mod auth;
pub mod body;
pub mod error;
pub mod messages;
pub mod search;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::watch;

use crate::config::Secret;
use crate::monitor::cqrs::CqrsMeter;
use crate::monitor::snapshot::Snapshot;
use crate::search::SearchIndex;
use crate::store::{SharedStore, StoreUnavailable};
use error::ApiError;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub store: Result<SharedStore, StoreUnavailable>,
    pub index: Arc<dyn SearchIndex>,
    /// The monitor's latest snapshot, for `/metrics` (absent: an empty exposition).
    pub snapshots: Option<watch::Receiver<Snapshot>>,
    pub token: Secret,
    pub meter: Arc<CqrsMeter>,
    /// Where searches are recorded as activity events (`None`: not recorded).
    pub activity: Option<crate::analytics::activity::ActivityLog>,
}

/// Every route of the API.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/messages", axum::routing::post(messages::post))
        .route("/messages/search", get(search::search))
        .route(
            "/messages/{id}",
            get(messages::get)
                .patch(messages::edit)
                .delete(messages::delete),
        )
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "this route does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(body::MAX_BODY_BYTES))
        .with_state(state)
}

/// Listens on `addr` and serves until `shutdown` turns true (in-flight requests finish).
pub async fn serve(
    addr: SocketAddr,
    state: ApiState,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for the API on {addr}: {e}"))?;
    serve_on(listener, state, async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    })
    .await
}

/// Serves on a bound listener (tests bind port 0 and read the address first).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// How long `/healthz` waits for the store and the index.
const HEALTH_WAIT: Duration = Duration::from_secs(3);

#[derive(serde::Serialize)]
struct Health {
    status: &'static str,
    store: String,
    search: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// 200 when the store and the index answer, 503 (with the reason) when one does not.
async fn healthz(State(state): State<ApiState>) -> Response {
    let search = state.index.describe();
    let (store, store_check) = match &state.store {
        Ok(s) => (
            s.describe(),
            match tokio::time::timeout(HEALTH_WAIT, s.backlog()).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("store: {}", ApiError::from(e).message)),
                Err(_) => Err("store: no answer within 3 s".to_string()),
            },
        ),
        Err(e) => ("unavailable".to_string(), Err(format!("store: {e}"))),
    };
    let search_check = match tokio::time::timeout(HEALTH_WAIT, state.index.count()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("search: {e}")),
        Err(_) => Err("search: no answer within 3 s".to_string()),
    };
    let errors: Vec<String> = [store_check, search_check]
        .into_iter()
        .filter_map(Result::err)
        .collect();
    let healthy = errors.is_empty();
    let body = Health {
        status: if healthy { "ok" } else { "unavailable" },
        store,
        search,
        error: (!healthy).then(|| errors.join("; ")),
    };
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(state): State<ApiState>) -> Response {
    let body = match &state.snapshots {
        Some(s) => crate::monitor::metrics::render(&s.borrow()),
        None => String::new(),
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
