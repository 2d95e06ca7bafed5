//! Workflow plans (`docs/workflow-plans.md`): the JSON Schema of a plan and of its state, a
//! plan checked and started on the built-in plan task, and the state of an execution.
//!
//! `POST /api/v1/plans` checks the plan before any run exists — fields (`400` naming the
//! member at fault), then ids, dependencies, cycles and limits (`422` naming the action, or the
//! cycle's path) — and triggers the built-in task `trigr-plan`, which a worker started with
//! `trigr worker --plans` serves. The state is read from the run itself, so it is live while the
//! plan runs.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::Value;
use trigr_engine::trigger::prepare;
use trigr_types::packet;
use trigr_types::plan::{self, ExecutionPlan, Limits, RunRecord, WorkflowState, WorkflowStatus};
use trigr_types::wire::trigger::TriggerOptions;

use crate::error::{ApiError, ApiResult};
use crate::extract::{KeyOrToken, Unread};
use crate::{views, AppState};

/// The answer to a started plan.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanStarted {
    /// The execution id: the run id (`run_…`).
    execution_id: String,
    /// `pending` until a worker starts it.
    #[schema(value_type = String)]
    status: WorkflowStatus,
    /// The deployment version the run is locked to, when one is current.
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
}

/// `GET /api/v1/plans/schema`.
#[utoipa::path(
    get,
    path = "/api/v1/plans/schema",
    tag = "plans",
    operation_id = "planSchema",
    responses((status = 200, description = "The JSON Schema (draft 2020-12) of an execution plan", content_type = "application/schema+json")),
)]
pub async fn plan_schema() -> impl IntoResponse {
    schema(plan::schema::plan())
}

/// `GET /api/v1/plans/state-schema`.
#[utoipa::path(
    get,
    path = "/api/v1/plans/state-schema",
    tag = "plans",
    operation_id = "planStateSchema",
    responses((status = 200, description = "The JSON Schema (draft 2020-12) of a plan execution's state", content_type = "application/schema+json")),
)]
pub async fn state_schema() -> impl IntoResponse {
    schema(plan::schema::state())
}

fn schema(value: Value) -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/schema+json")],
        value.to_string(),
    )
}

/// `POST /api/v1/plans` with an execution plan.
#[utoipa::path(
    post,
    path = "/api/v1/plans",
    tag = "plans",
    operation_id = "startPlan",
    security(("secretKey" = []), ("publicAccessToken" = [])),
    request_body(content = Object, description = "An execution plan (`GET /api/v1/plans/schema`)"),
    responses(
        (status = 201, description = "The plan's execution is triggered on the built-in plan task", body = PlanStarted),
        (status = 400, description = "The body is not a plan: the member at fault is named", body = crate::openapi::schemas::ErrorBody),
        (status = 404, description = "No worker serving the built-in plan task (`trigr worker --plans`) registered yet", body = crate::openapi::schemas::ErrorBody),
        (status = 422, description = "A repeated id, an unknown dependency, a cycle (named by its path), a bad request field or a limit passed", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn start(
    State(state): State<AppState>,
    KeyOrToken(auth): KeyOrToken,
    body: Unread,
) -> ApiResult<impl IntoResponse> {
    let task_id = plan::TASK_ID;
    if !auth.allows(&[
        "trigger:tasks".to_string(),
        format!("trigger:tasks:{task_id}"),
    ]) {
        return Err(auth.forbidden(&format!("trigger task {task_id}")));
    }
    let plan: ExecutionPlan = body.json().await?;
    plan::validate(&plan, &Limits::default())
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let engine = &state.engine;
    let text = serde_json::to_string(&plan)
        .map_err(|e| ApiError::bad_request(format!("The plan is not JSON: {e}")))?;
    let options = TriggerOptions {
        payload_type: Some(packet::JSON.to_string()),
        ..TriggerOptions::default()
    };
    let max_payload = engine.config().max_payload_bytes;
    let new = prepare(
        task_id,
        Some(Value::String(text)),
        options,
        max_payload,
        engine.now(),
    )?;
    let triggered = engine.trigger(&auth.env_id, new).await?;
    crate::middleware::access_log::record_run(&triggered.run.id);
    let body = PlanStarted {
        execution_id: triggered.run.id,
        status: WorkflowStatus::Pending,
        version: triggered.run.version,
    };
    Ok((StatusCode::CREATED, axum::Json(body)))
}

/// `GET /api/v1/plans/{run_id}`: the execution's state.
#[utoipa::path(
    get,
    path = "/api/v1/plans/{run_id}",
    tag = "plans",
    operation_id = "retrievePlanState",
    security(("secretKey" = []), ("publicAccessToken" = [])),
    params(("run_id" = String, Path, description = "The execution id (`run_…`)")),
    responses(
        (status = 200, description = "The execution's state (`GET /api/v1/plans/state-schema`), live while it runs"),
        (status = 404, description = "No such run, or the run is not a plan execution", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn retrieve(
    State(state): State<AppState>,
    KeyOrToken(auth): KeyOrToken,
    Path(run_id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let r = state.engine.retrieve_run(&auth.env_id, &run_id).await?;
    if !auth.may_read_run(&r.run) {
        return Err(auth.forbidden(&format!("read run {run_id}")));
    }
    let view = views::run_detail(&r, Vec::new());
    let common = &view.summary.common;
    let state = WorkflowState::of_run(RunRecord {
        id: &common.id,
        status: r.run.status,
        payload: view.payload.as_ref(),
        output: view.output.as_ref(),
        metadata: common.metadata.as_ref(),
        created_at: common.created_at.to_datetime(),
        finished_at: common.finished_at.map(|t| t.to_datetime()),
    })
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("Run {run_id} is not a plan execution"),
        )
    })?;
    Ok(axum::Json(state))
}
