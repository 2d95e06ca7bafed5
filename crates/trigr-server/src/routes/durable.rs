//! Durable execution in the worker protocol (§7.2–7.3): journaling steps, waiting, and the
//! long-poll of a wait the worker holds itself.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use trigr_engine::waits::MAX_POLL;
use trigr_engine::{steps, waits};
use trigr_types::wire::worker::{StepBody, StepRecorded, WaitBody, WaitState};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Json};
use crate::{views, AppState};

/// `POST /api/v1/worker/runs/{id}/steps`.
#[utoipa::path(
    post,
    path = "/api/v1/worker/runs/{run_id}/steps",
    tag = "worker",
    operation_id = "recordStep",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
    ),
    request_body = StepBody,
    responses(
        (status = 200, description = "The step is journaled (or was already)", body = StepRecorded),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The lease is no longer the run's (code `lease_lost`), or the journal disagrees (code `non_determinism`)", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn step(
    State(state): State<AppState>,
    auth: Auth,
    Path(run_id): Path<String>,
    Json(b): Json<StepBody>,
) -> ApiResult<impl IntoResponse> {
    let step = steps::check(b, state.engine.config().max_payload_bytes)?;
    let out = state
        .engine
        .record_step(&auth.env_id, &run_id, step)
        .await?;
    let entry = views::journal_entry(&out.entry);
    Ok(axum::Json(StepRecorded {
        position: entry.position,
        recorded: out.recorded,
        entry: (!out.recorded).then_some(entry),
    }))
}

/// `POST /api/v1/worker/runs/{id}/waits`.
#[utoipa::path(
    post,
    path = "/api/v1/worker/runs/{run_id}/waits",
    tag = "worker",
    operation_id = "waitFor",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
    ),
    request_body = WaitBody,
    responses(
        (status = 200, description = "Where the wait stands", body = WaitState),
        (status = 404, description = "No such run, token or task", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The lease is no longer the run's (code `lease_lost`), or the journal disagrees (code `non_determinism`)", body = crate::openapi::schemas::ErrorBody),
        (status = 422, description = "The wait cannot be made as asked", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn wait(
    State(state): State<AppState>,
    auth: Auth,
    Path(run_id): Path<String>,
    Json(b): Json<WaitBody>,
) -> ApiResult<impl IntoResponse> {
    let engine = &state.engine;
    let req = waits::check(b, engine.config().max_payload_bytes, engine.now())?;
    let out = engine.wait(&auth.env_id, &run_id, req).await?;
    Ok(axum::Json(views::wait_state(&out)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollQuery {
    lease: Option<String>,
    wait_ms: Option<String>,
}

/// `GET /api/v1/worker/runs/{id}/waits/{position}?lease=…&waitMs=…`.
#[utoipa::path(
    get,
    path = "/api/v1/worker/runs/{run_id}/waits/{position}",
    tag = "worker",
    operation_id = "pollWait",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
        ("position" = u32, Path, description = "The wait's journal position"),
        ("lease" = String, Query, description = "The attempt's lease"),
        ("waitMs" = Option<u32>, Query, minimum = 0, maximum = 30000, description = "How long to wait, in milliseconds, when nothing is ready yet (0 when absent)"),
    ),
    responses(
        (status = 200, description = "Where the wait stands", body = WaitState),
        (status = 404, description = "No such run or wait", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The lease is no longer the run's (code `lease_lost`), or the journal disagrees (code `non_determinism`)", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn poll(
    State(state): State<AppState>,
    auth: Auth,
    Path((run_id, position)): Path<(String, String)>,
    Query(q): Query<PollQuery>,
) -> ApiResult<impl IntoResponse> {
    let position: u32 = position.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "The position must be a whole number from 0, got '{position}'"
        ))
    })?;
    let lease = required_lease(q.lease)?;
    let wait_ms = wait_ms(q.wait_ms.as_deref(), MAX_POLL)?;
    let out = state
        .engine
        .poll_wait(
            &auth.env_id,
            &run_id,
            position,
            &lease,
            Duration::from_millis(wait_ms),
        )
        .await?;
    Ok(axum::Json(views::wait_state(&out)))
}

/// The `lease` query parameter of a long-poll.
pub(crate) fn required_lease(lease: Option<String>) -> ApiResult<String> {
    lease
        .filter(|l| !l.is_empty())
        .ok_or_else(|| ApiError::bad_request("The query parameter lease is required"))
}

/// The `waitMs` query parameter of a long-poll: 0 when absent, at most `max`.
pub(crate) fn wait_ms(v: Option<&str>, max: Duration) -> ApiResult<u64> {
    let max = max.as_millis() as u64;
    match v {
        None | Some("") => Ok(0),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|ms| *ms <= max)
            .ok_or_else(|| {
                ApiError::bad_request(format!("waitMs must be a whole number from 0 to {max}"))
            }),
    }
}
