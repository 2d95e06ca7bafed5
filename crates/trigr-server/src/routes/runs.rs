use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use trigr_engine::cancel::CancelReason;
use trigr_engine::{metadata, replay};
use trigr_types::wire::rest::{
    IdempotencyKeyReset, MetadataUpdate, ReplayOverrides, RescheduleBody, TagsBody,
};
use trigr_types::wire::{common, runs};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Json, KeyOrToken, OptionalJson};
use crate::{views, AppState};

/// `GET /api/v3/runs/{id}`.
#[utoipa::path(
    get,
    path = "/api/v3/runs/{run_id}",
    tag = "runs",
    operation_id = "retrieveRun",
    security(("secretKey" = []), ("publicAccessToken" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
        ("x-trigger-api-version" = Option<String>, Header, description = "`2025-07-16` for the current status names; any other value (or none) gets the legacy ones"),
    ),
    responses(
        (status = 200, description = "The run", body = runs::Run),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn retrieve(
    State(state): State<AppState>,
    KeyOrToken(auth): KeyOrToken,
    Path(run_id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let r = state.engine.retrieve_run(&auth.env_id, &run_id).await?;
    if !auth.may_read_run(&r.run) {
        return Err(auth.forbidden(&format!("read run {run_id}")));
    }
    // The keys of its output streams (reference §5.6).
    let streams = state
        .engine
        .output_streams_of(&auth.env_id, &run_id)
        .await?;
    let mut view = views::run_detail(&r, streams);
    if views::wants_legacy_statuses(&headers) {
        views::legacy_run(&mut view);
    }
    Ok(axum::Json(view))
}

/// `POST /api/v2/runs/{id}/cancel`.
#[utoipa::path(
    post,
    path = "/api/v2/runs/{run_id}/cancel",
    tag = "runs",
    operation_id = "cancelRun",
    security(("secretKey" = []), ("publicAccessToken" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
    ),
    responses(
        (status = 200, description = "The run is canceled (with its unfinished descendants), or was already final (`alreadyFinished`)", body = runs::Canceled),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn cancel(
    State(state): State<AppState>,
    KeyOrToken(auth): KeyOrToken,
    Path(run_id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    if auth.scopes.is_some() {
        let r = state.engine.retrieve_run(&auth.env_id, &run_id).await?;
        let wanted = [
            "write:runs".to_string(),
            format!("write:runs:{run_id}"),
            format!("write:tasks:{}", r.run.task_id),
        ];
        if !auth.allows(&wanted) {
            return Err(auth.forbidden(&format!("cancel run {run_id}")));
        }
    }
    let c = state.engine.cancel(&auth.env_id, &run_id).await?;
    Ok(axum::Json(runs::Canceled {
        id: c.run.id,
        status: Some(c.run.status.as_str().to_string()),
        already_finished: c.already_finished,
    }))
}

/// `POST /api/v1/runs/cancel`: cancels up to 100 runs by id, with each one's outcome.
#[utoipa::path(
    post,
    path = "/api/v1/runs/cancel",
    tag = "runs",
    operation_id = "cancelRuns",
    security(("secretKey" = [])),
    request_body = runs::CancelRunsBody,
    responses(
        (status = 200, description = "One outcome per id, in the order sent", body = runs::RunsCanceled),
        (status = 400, description = "No ids, or more than 100", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn cancel_many(
    State(state): State<AppState>,
    auth: Auth,
    Json(b): Json<runs::CancelRunsBody>,
) -> ApiResult<impl IntoResponse> {
    let reason = b.reason.as_deref().map(CancelReason::new).transpose()?;
    let outcomes = state
        .engine
        .cancel_runs(&auth.env_id, &b.run_ids, reason.as_ref())
        .await?;
    let data = outcomes
        .into_iter()
        .map(|(id, outcome)| match outcome {
            Ok(c) => runs::CancelOutcome {
                id,
                status: Some(c.run.status.as_str().to_string()),
                already_finished: c.already_finished,
                error: None,
            },
            Err(e) => runs::CancelOutcome {
                id,
                status: None,
                already_finished: false,
                error: Some(e.to_string()),
            },
        })
        .collect();
    Ok(axum::Json(runs::RunsCanceled { data }))
}

/// `POST /api/v1/runs/{id}/replay`.
#[utoipa::path(
    post,
    path = "/api/v1/runs/{run_id}/replay",
    tag = "runs",
    operation_id = "replayRun",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
    ),
    request_body = Option<ReplayOverrides>,
    responses(
        (status = 200, description = "The new run", body = common::Id),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
        (status = 422, description = "The new run cannot be made as asked", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn replay(
    State(state): State<AppState>,
    auth: Auth,
    Path(run_id): Path<String>,
    OptionalJson(body): OptionalJson<ReplayOverrides>,
) -> ApiResult<impl IntoResponse> {
    let replay = replay::check(body.unwrap_or_default())?;
    let t = state.engine.replay(&auth.env_id, &run_id, replay).await?;
    Ok(axum::Json(common::Id { id: t.run.id }))
}

/// `POST /api/v1/runs/{id}/reschedule`: answers the whole run.
#[utoipa::path(
    post,
    path = "/api/v1/runs/{run_id}/reschedule",
    tag = "runs",
    operation_id = "rescheduleRun",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
        ("x-trigger-api-version" = Option<String>, Header, description = "`2025-07-16` for the current status names; any other value (or none) gets the legacy ones"),
    ),
    request_body = RescheduleBody,
    responses(
        (status = 200, description = "The run with its new delay", body = runs::Run),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
        (status = 422, description = "The run is not DELAYED", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn reschedule(
    State(state): State<AppState>,
    auth: Auth,
    Path(run_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<RescheduleBody>,
) -> ApiResult<impl IntoResponse> {
    let delay = body.delay.as_str().ok_or_else(|| {
        ApiError::bad_request("delay must be a duration like 10m or an ISO 8601 date")
    })?;
    state
        .engine
        .reschedule(&auth.env_id, &run_id, delay)
        .await?;
    retrieve(State(state), KeyOrToken(auth), Path(run_id), headers).await
}

/// `POST /api/v1/runs/{id}/tags`.
#[utoipa::path(
    post,
    path = "/api/v1/runs/{run_id}/tags",
    tag = "runs",
    operation_id = "addRunTags",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
    ),
    request_body = TagsBody,
    responses(
        (status = 200, description = "How many tags were new", body = common::Message),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
        (status = 422, description = "The run would have more than 10 tags, or a tag is invalid", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn add_tags(
    State(state): State<AppState>,
    auth: Auth,
    Path(run_id): Path<String>,
    Json(body): Json<TagsBody>,
) -> ApiResult<impl IntoResponse> {
    let added = state
        .engine
        .add_tags(&auth.env_id, &run_id, body.tags)
        .await?;
    let message = if added == 0 {
        "No new tags to add".to_string()
    } else {
        format!("Successfully set {added} new tags.")
    };
    Ok(axum::Json(common::Message { message }))
}

/// `GET /api/v1/runs/{id}/metadata`.
#[utoipa::path(
    get,
    path = "/api/v1/runs/{run_id}/metadata",
    tag = "runs",
    operation_id = "getRunMetadata",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
    ),
    responses(
        (status = 200, description = "The run's metadata", body = runs::Metadata),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn get_metadata(
    State(state): State<AppState>,
    auth: Auth,
    Path(run_id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let m = state.engine.metadata(&auth.env_id, &run_id).await?;
    Ok(axum::Json(runs::Metadata {
        metadata: m,
        metadata_type: trigr_types::packet::JSON.to_string(),
    }))
}

/// `PUT /api/v1/runs/{id}/metadata`.
#[utoipa::path(
    put,
    path = "/api/v1/runs/{run_id}/metadata",
    tag = "runs",
    operation_id = "updateRunMetadata",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
    ),
    request_body = MetadataUpdate,
    responses(
        (status = 200, description = "The run's new metadata", body = runs::MetadataUpdated),
        (status = 404, description = "No such run, parent or root", body = crate::openapi::schemas::ErrorBody),
        (status = 422, description = "The operations cannot apply, or the metadata would be over its size limit", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn put_metadata(
    State(state): State<AppState>,
    auth: Auth,
    Path(run_id): Path<String>,
    Json(body): Json<MetadataUpdate>,
) -> ApiResult<impl IntoResponse> {
    let update = metadata::check(body)?;
    let m = state
        .engine
        .update_metadata(&auth.env_id, &run_id, update)
        .await?;
    Ok(axum::Json(runs::MetadataUpdated { metadata: m }))
}

/// `POST /api/v1/idempotencyKeys/{key}/reset`.
#[utoipa::path(
    post,
    path = "/api/v1/idempotencyKeys/{key}/reset",
    tag = "runs",
    operation_id = "resetIdempotencyKey",
    security(("secretKey" = [])),
    params(
        ("key" = String, Path, description = "The idempotency key, as the caller sent it"),
    ),
    request_body = IdempotencyKeyReset,
    responses(
        (status = 200, description = "The key is released", body = common::Id),
        (status = 404, description = "No run holds this key for the task", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn reset_idempotency_key(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
    Json(body): Json<IdempotencyKeyReset>,
) -> ApiResult<impl IntoResponse> {
    state
        .engine
        .reset_idempotency_key(&auth.env_id, &body.task_identifier, &key)
        .await?;
    Ok(axum::Json(common::Id { id: key }))
}
