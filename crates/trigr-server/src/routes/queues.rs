//! Queues API (reference §4.3). Names arrive double-encoded: `my%252Fqueue` is `my/queue`.

use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use trigr_engine::queues::{QueueChange, QueueRef};
use trigr_types::wire::manage::{Queue, QueueList};
use trigr_types::wire::rest::{PauseQueueBody, QueueConcurrencyReset, QueueOverrideBody};

use super::offset_page::OffsetPage;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Json};
use crate::{views, AppState};

/// Most queues on one page.
const MAX_PER_PAGE: usize = 100;

/// `GET /api/v1/queues?page=&perPage=` (default 25, at most 100 a page).
#[utoipa::path(
    get,
    path = "/api/v1/queues",
    tag = "queues",
    operation_id = "listQueues",
    security(("secretKey" = [])),
    params(
        ("page" = Option<u32>, Query, minimum = 1, maximum = 1000000, description = "The page, from 1"),
        ("perPage" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Items a page (25 when absent)"),
    ),
    responses(
        (status = 200, description = "A page of queues", body = QueueList),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<impl IntoResponse> {
    let asked = OffsetPage::from_query(&params, 25, MAX_PER_PAGE)?;
    let (queues, total) = state
        .engine
        .list_queues(&auth.env_id, asked.page, asked.per_page)
        .await?;
    Ok(axum::Json(QueueList {
        data: queues.iter().map(views::queue).collect(),
        pagination: asked.pagination(total),
    }))
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

#[utoipa::path(
    get,
    path = "/api/v1/queues/{queue}",
    tag = "queues",
    operation_id = "retrieveQueue",
    security(("secretKey" = [])),
    params(
        ("queue" = String, Path, description = "The queue: its id (`queue_…`), a task id or a custom queue name, with `/` encoded twice (`%252F`)"),
        ("type" = Option<String>, Query, description = "How the path names the queue: `id`, `task` or `custom`"),
    ),
    responses(
        (status = 200, description = "The queue", body = Queue),
        (status = 404, description = "No such queue", body = crate::openapi::schemas::ErrorBody),
    ),
)]
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

#[utoipa::path(
    post,
    path = "/api/v1/queues/{queue}/pause",
    tag = "queues",
    operation_id = "pauseQueue",
    security(("secretKey" = [])),
    params(
        ("queue" = String, Path, description = "The queue: its id (`queue_…`), a task id or a custom queue name, with `/` encoded twice (`%252F`)"),
    ),
    request_body = PauseQueueBody,
    responses(
        (status = 200, description = "The queue", body = Queue),
        (status = 404, description = "No such queue", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn pause(
    State(state): State<AppState>,
    auth: Auth,
    Path(queue): Path<String>,
    Json(b): Json<PauseQueueBody>,
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

#[utoipa::path(
    post,
    path = "/api/v1/queues/{queue}/concurrency/override",
    tag = "queues",
    operation_id = "overrideQueueConcurrency",
    security(("secretKey" = [])),
    params(
        ("queue" = String, Path, description = "The queue: its id (`queue_…`), a task id or a custom queue name, with `/` encoded twice (`%252F`)"),
    ),
    request_body = QueueOverrideBody,
    responses(
        (status = 200, description = "The queue", body = Queue),
        (status = 404, description = "No such queue", body = crate::openapi::schemas::ErrorBody),
        (status = 422, description = "The limit is out of range", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn override_limit(
    State(state): State<AppState>,
    auth: Auth,
    Path(queue): Path<String>,
    Json(b): Json<QueueOverrideBody>,
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

#[utoipa::path(
    post,
    path = "/api/v1/queues/{queue}/concurrency/reset",
    tag = "queues",
    operation_id = "resetQueueConcurrency",
    security(("secretKey" = [])),
    params(
        ("queue" = String, Path, description = "The queue: its id (`queue_…`), a task id or a custom queue name, with `/` encoded twice (`%252F`)"),
    ),
    request_body = QueueConcurrencyReset,
    responses(
        (status = 200, description = "The queue", body = Queue),
        (status = 404, description = "No such queue", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn reset_limit(
    State(state): State<AppState>,
    auth: Auth,
    Path(queue): Path<String>,
    Json(b): Json<QueueConcurrencyReset>,
) -> ApiResult<impl IntoResponse> {
    change_queue(state, auth, queue, b.kind, QueueChange::Reset).await
}

async fn change_queue(
    state: AppState,
    auth: Auth,
    queue: String,
    kind: Option<String>,
    change: QueueChange,
) -> ApiResult<axum::Json<Queue>> {
    let r = queue_ref(&queue, kind.as_deref())?;
    let v = state.engine.change_queue(&auth.env_id, r, change).await?;
    Ok(axum::Json(views::queue(&v)))
}
