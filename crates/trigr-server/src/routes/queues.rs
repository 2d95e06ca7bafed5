//! Queues API (reference §4.3). Names arrive double-encoded: `my%252Fqueue` is `my/queue`.
//!
//! Beyond Trigger.dev's routes (list, retrieve, pause, override, reset), queues can be made
//! (`POST /api/v1/queues`), edited (`PATCH /api/v1/queues/{queue}`) and deleted
//! (`DELETE /api/v1/queues/{queue}`) through the API; see `trigr_engine::queues`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use trigr_engine::queues::{QueueChange, QueueEdit, QueueRef, QueueSpec, MAX_TAG_BYTES};
use trigr_types::wire::manage::{Queue, QueueDeleted, QueueList};
use trigr_types::wire::rest::{
    CreateQueueBody, PauseQueueBody, QueueConcurrencyReset, QueueOverrideBody, UpdateQueueBody,
};

use super::offset_page::OffsetPage;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Json};
use crate::{views, AppState};

/// Most queues on one page.
const MAX_PER_PAGE: usize = 100;

/// `GET /api/v1/queues?page=&perPage=&tag=` (default 25, at most 100 a page).
#[utoipa::path(
    get,
    path = "/api/v1/queues",
    tag = "queues",
    operation_id = "listQueues",
    security(("secretKey" = [])),
    params(
        ("page" = Option<u32>, Query, minimum = 1, maximum = 1000000, description = "The page, from 1"),
        ("perPage" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Items a page (25 when absent)"),
        ("tag" = Option<String>, Query, description = "Only the queues carrying this tag"),
    ),
    responses(
        (status = 200, description = "A page of queues", body = QueueList),
        (status = 400, description = "A paging parameter or the tag is invalid", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<impl IntoResponse> {
    let asked = OffsetPage::from_query(&params, 25, MAX_PER_PAGE)?;
    let tag = tag_filter(&params)?;
    let (queues, total) = state
        .engine
        .list_queues(&auth.env_id, tag, asked.page, asked.per_page)
        .await?;
    Ok(axum::Json(QueueList {
        data: queues.iter().map(views::queue).collect(),
        pagination: asked.pagination(total),
    }))
}

/// The `tag` query parameter, once, of at most [`MAX_TAG_BYTES`].
fn tag_filter(params: &[(String, String)]) -> ApiResult<Option<String>> {
    let mut tags = params.iter().filter(|(n, _)| n == "tag").map(|(_, v)| v);
    let tag = tags.next().cloned();
    if tags.next().is_some() {
        return Err(ApiError::bad_request("tag may be given once"));
    }
    match tag {
        Some(t) if t.is_empty() || t.len() > MAX_TAG_BYTES => Err(ApiError::bad_request(format!(
            "tag must be 1 to {MAX_TAG_BYTES} bytes"
        ))),
        other => Ok(other),
    }
}

/// `POST /api/v1/queues`: makes a queue marked as made through the API.
#[utoipa::path(
    post,
    path = "/api/v1/queues",
    tag = "queues",
    operation_id = "createQueue",
    security(("secretKey" = [])),
    request_body = CreateQueueBody,
    responses(
        (status = 201, description = "The new queue", body = Queue),
        (status = 400, description = "The name, limit, description or tags are invalid", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "A queue of that name exists", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Json(b): Json<CreateQueueBody>,
) -> ApiResult<impl IntoResponse> {
    let spec = QueueSpec {
        name: b.name,
        concurrency_limit: b.concurrency_limit,
        description: b.description,
        tags: b.tags,
    };
    let v = state.engine.create_queue(&auth.env_id, spec).await?;
    Ok((StatusCode::CREATED, axum::Json(views::queue(&v))))
}

/// `PATCH /api/v1/queues/{queue}`: edits a queue made through the API.
#[utoipa::path(
    patch,
    path = "/api/v1/queues/{queue}",
    tag = "queues",
    operation_id = "updateQueue",
    security(("secretKey" = [])),
    params(
        ("queue" = String, Path, description = "The queue: its id (`queue_…`), a task id or a custom queue name, with `/` encoded twice (`%252F`)"),
    ),
    request_body = UpdateQueueBody,
    responses(
        (status = 200, description = "The queue", body = Queue),
        (status = 400, description = "The name, limit, description or tags are invalid", body = crate::openapi::schemas::ErrorBody),
        (status = 404, description = "No such queue", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The queue is defined in code, or the new name is taken", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path(queue): Path<String>,
    Json(b): Json<UpdateQueueBody>,
) -> ApiResult<impl IntoResponse> {
    let r = queue_ref(&queue, b.kind.as_deref())?;
    let edit = QueueEdit {
        name: b.name,
        concurrency_limit: b.concurrency_limit,
        description: b.description,
        tags: b.tags,
    };
    let v = state.engine.edit_queue(&auth.env_id, r, edit).await?;
    Ok(axum::Json(views::queue(&v)))
}

#[derive(Deserialize)]
pub struct DeleteParams {
    #[serde(rename = "type")]
    kind: Option<String>,
    force: Option<String>,
}

/// `DELETE /api/v1/queues/{queue}?force=`: deletes a queue made through the API.
#[utoipa::path(
    delete,
    path = "/api/v1/queues/{queue}",
    tag = "queues",
    operation_id = "deleteQueue",
    security(("secretKey" = [])),
    params(
        ("queue" = String, Path, description = "The queue: its id (`queue_…`), a task id or a custom queue name, with `/` encoded twice (`%252F`)"),
        ("type" = Option<String>, Query, description = "How the path names the queue: `id`, `task` or `custom`"),
        ("force" = Option<bool>, Query, description = "`true`: move the runs not finished yet to their task's own queue instead of refusing"),
    ),
    responses(
        (status = 200, description = "The queue is deleted", body = QueueDeleted),
        (status = 400, description = "force is not true or false", body = crate::openapi::schemas::ErrorBody),
        (status = 404, description = "No such queue", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The queue is defined in code, or has runs not finished yet and force is not set", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    Path(queue): Path<String>,
    Query(p): Query<DeleteParams>,
) -> ApiResult<impl IntoResponse> {
    let force = match p.force.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "force must be true or false, not '{other}'"
            )))
        }
    };
    let r = queue_ref(&queue, p.kind.as_deref())?;
    let d = state.engine.delete_queue(&auth.env_id, r, force).await?;
    Ok(axum::Json(QueueDeleted {
        id: d.id,
        deleted: true,
        moved_runs: d.moved_runs,
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
