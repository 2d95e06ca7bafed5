//! Queues API (reference §4.3). Names arrive double-encoded: `my%252Fqueue` is `my/queue`.

use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use trigr_engine::queues::{QueueChange, QueueRef};

use super::offset_page::{page_json, OffsetParams};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Json};
use crate::{views, AppState};

pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Query(p): Query<OffsetParams>,
) -> ApiResult<impl IntoResponse> {
    let (page, per_page) = p.resolve(25, 100);
    let (queues, total) = state
        .engine
        .list_queues(&auth.env_id, page, per_page)
        .await?;
    let data = queues.iter().map(views::queue).collect();
    Ok(axum::Json(page_json(data, page, per_page, total)))
}

/// Resolves a queue named in a path by its `type` (`id`, `task`, `custom`).
fn queue_ref(raw: &str, kind: Option<&str>) -> ApiResult<QueueRef> {
    let name = raw.replace("%2F", "/").replace("%2f", "/");
    match kind {
        Some("id") => Ok(QueueRef::Id(name)),
        Some("task") => Ok(QueueRef::Task(name)),
        Some("custom") => Ok(QueueRef::Custom(name)),
        None if name.starts_with("queue_") => Ok(QueueRef::Id(name)),
        None => Ok(QueueRef::Named(name)),
        Some(other) => Err(ApiError::bad_request(format!(
            "Unknown queue type '{other}': use id, task or custom"
        ))),
    }
}

#[derive(Deserialize)]
pub struct TypeParam {
    #[serde(rename = "type")]
    kind: Option<String>,
}

pub async fn retrieve(
    State(state): State<AppState>,
    auth: Auth,
    Path(queue): Path<String>,
    Query(t): Query<TypeParam>,
) -> ApiResult<impl IntoResponse> {
    let r = queue_ref(&queue, t.kind.as_deref())?;
    let v = state.engine.retrieve_queue(&auth.env_id, r).await?;
    Ok(axum::Json(views::queue(&v)))
}

#[derive(Deserialize)]
pub struct PauseBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    action: String,
}

pub async fn pause(
    State(state): State<AppState>,
    auth: Auth,
    Path(queue): Path<String>,
    Json(b): Json<PauseBody>,
) -> ApiResult<impl IntoResponse> {
    let change = match b.action.as_str() {
        "pause" => QueueChange::Pause,
        "resume" => QueueChange::Resume,
        other => {
            return Err(ApiError::bad_request(format!(
                "Unknown action '{other}': use pause or resume"
            )))
        }
    };
    change_queue(state, auth, queue, b.kind, change).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverrideBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    concurrency_limit: i64,
}

pub async fn override_limit(
    State(state): State<AppState>,
    auth: Auth,
    Path(queue): Path<String>,
    Json(b): Json<OverrideBody>,
) -> ApiResult<impl IntoResponse> {
    change_queue(
        state,
        auth,
        queue,
        b.kind,
        QueueChange::Override(b.concurrency_limit),
    )
    .await
}

#[derive(Deserialize)]
pub struct ResetBody {
    #[serde(rename = "type")]
    kind: Option<String>,
}

pub async fn reset_limit(
    State(state): State<AppState>,
    auth: Auth,
    Path(queue): Path<String>,
    Json(b): Json<ResetBody>,
) -> ApiResult<impl IntoResponse> {
    change_queue(state, auth, queue, b.kind, QueueChange::Reset).await
}

async fn change_queue(
    state: AppState,
    auth: Auth,
    queue: String,
    kind: Option<String>,
    change: QueueChange,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let r = queue_ref(&queue, kind.as_deref())?;
    let v = state.engine.change_queue(&auth.env_id, r, change).await?;
    Ok(axum::Json(views::queue(&v)))
}
