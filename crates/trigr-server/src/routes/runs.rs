use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{json, Value};
use trigr_engine::metadata::MetadataUpdate;
use trigr_engine::replay::ReplayOverrides;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Json, KeyOrToken, OptionalJson};
use crate::{views, AppState};

/// `GET /api/v3/runs/{id}`.
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
    let mut view = views::run_detail(&r.run, r.root.as_ref(), r.parent.as_ref(), &r.children);
    // A trigr addition: why a run that is not final and not executing waits.
    if let Some(w) = &r.waiting_for {
        view["waitingFor"] = views::waiting_for(w);
    }
    // The keys of its output streams (reference §5.6).
    let streams = state
        .engine
        .output_streams_of(&auth.env_id, &run_id)
        .await?;
    view["realtimeStreams"] = json!(streams);
    if views::wants_legacy_statuses(&headers) {
        views::legacy_run(&mut view);
    }
    Ok(axum::Json(view))
}

/// `POST /api/v2/runs/{id}/cancel`.
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
    let run = state.engine.cancel(&auth.env_id, &run_id).await?;
    Ok(axum::Json(json!({ "id": run.id })))
}

/// `POST /api/v1/runs/{id}/replay`.
pub async fn replay(
    State(state): State<AppState>,
    auth: Auth,
    Path(run_id): Path<String>,
    OptionalJson(body): OptionalJson<ReplayOverrides>,
) -> ApiResult<impl IntoResponse> {
    let t = state
        .engine
        .replay(&auth.env_id, &run_id, body.unwrap_or_default())
        .await?;
    Ok(axum::Json(json!({ "id": t.run.id })))
}

#[derive(Deserialize)]
pub struct RescheduleBody {
    delay: Value,
}

/// `POST /api/v1/runs/{id}/reschedule`: answers the whole run.
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

#[derive(Deserialize)]
pub struct TagsBody {
    tags: Value,
}

/// `POST /api/v1/runs/{id}/tags`.
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
    Ok(axum::Json(json!({ "message": message })))
}

/// `GET /api/v1/runs/{id}/metadata`.
pub async fn get_metadata(
    State(state): State<AppState>,
    auth: Auth,
    Path(run_id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let m = state.engine.metadata(&auth.env_id, &run_id).await?;
    Ok(axum::Json(
        json!({ "metadata": m, "metadataType": "application/json" }),
    ))
}

/// `PUT /api/v1/runs/{id}/metadata`.
pub async fn put_metadata(
    State(state): State<AppState>,
    auth: Auth,
    Path(run_id): Path<String>,
    Json(body): Json<MetadataUpdate>,
) -> ApiResult<impl IntoResponse> {
    let m = state
        .engine
        .update_metadata(&auth.env_id, &run_id, body)
        .await?;
    Ok(axum::Json(json!({ "metadata": m })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetBody {
    task_identifier: String,
}

/// `POST /api/v1/idempotencyKeys/{key}/reset`.
pub async fn reset_idempotency_key(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
    Json(body): Json<ResetBody>,
) -> ApiResult<impl IntoResponse> {
    state
        .engine
        .reset_idempotency_key(&auth.env_id, &body.task_identifier, &key)
        .await?;
    Ok(axum::Json(json!({ "id": key })))
}
