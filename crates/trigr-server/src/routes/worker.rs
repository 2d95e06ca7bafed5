//! The worker protocol (`docs/worker-protocol.md`).

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::Value;
use trigr_engine::complete::{self, Completed as EngineCompleted};
use trigr_engine::dequeue::Dequeued as EngineDequeued;
use trigr_engine::trigger::check_region;
use trigr_types::packet;
use trigr_types::wire::worker::{
    CompleteManyBody, Completed, CompletionBody, CompletionRefused, CompletionResult,
    CompletionResults, DeploymentRegistered, DequeueBody, Dequeued, DequeuedEnvironment,
    DequeuedRun, Heartbeat, LeaseBody, RegisterBody,
};
use trigr_types::wire::Timestamp;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Json};
use crate::{views, AppState};

const MAX_WAIT_MS: u64 = 30_000;

/// `POST /api/v1/worker/deployments`.
#[utoipa::path(
    post,
    path = "/api/v1/worker/deployments",
    tag = "worker",
    operation_id = "registerDeployment",
    security(("secretKey" = [])),
    request_body = RegisterBody,
    responses(
        (status = 201, description = "A new deployment", body = DeploymentRegistered),
        (status = 200, description = "The deployment of the same build (contentHash), reused", body = DeploymentRegistered),
        (status = 422, description = "A task's schedule (pattern, zone or window) is invalid", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn register(
    State(state): State<AppState>,
    auth: Auth,
    Json(b): Json<RegisterBody>,
) -> ApiResult<impl IntoResponse> {
    let region = check_region(b.region, "region")?;
    let r = state
        .engine
        .register_deployment(&auth.env_id, b.tasks, b.promote, b.content_hash, region)
        .await?;
    let d = r.deployment;
    let answer = DeploymentRegistered {
        id: d.id,
        version: d.version,
        current: r.current,
        reused: r.reused,
        promoted_at: d.promoted_at.map(Timestamp),
    };
    let status = if r.reused {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(answer)))
}

/// `POST /api/v1/worker/dequeue`: long-poll for runs of one version and one region.
#[utoipa::path(
    post,
    path = "/api/v1/worker/dequeue",
    tag = "worker",
    operation_id = "dequeueRuns",
    security(("secretKey" = [])),
    request_body = DequeueBody,
    responses(
        (status = 200, description = "The runs handed out (possibly none)", body = Dequeued),
    ),
)]
pub async fn dequeue(
    State(state): State<AppState>,
    auth: Auth,
    Json(b): Json<DequeueBody>,
) -> ApiResult<impl IntoResponse> {
    let max = b.max_runs.unwrap_or(1);
    if !(1..=trigr_engine::dequeue::MAX_RUNS).contains(&max) {
        return Err(ApiError::bad_request(format!(
            "maxRuns must be between 1 and {}",
            trigr_engine::dequeue::MAX_RUNS
        )));
    }
    let wait = b.wait_ms.unwrap_or(0);
    if wait > MAX_WAIT_MS {
        return Err(ApiError::bad_request(format!(
            "waitMs must be at most {MAX_WAIT_MS}"
        )));
    }
    let region = check_region(b.region, "region")?;
    let runs = state
        .engine
        .dequeue(
            &auth.env_id,
            &b.version,
            region.as_deref(),
            b.worker_id.as_deref(),
            max,
            Duration::from_millis(wait),
            b.start,
        )
        .await?;
    let runs = runs
        .iter()
        .map(|d| dequeued(d, &auth))
        .collect::<ApiResult<_>>()?;
    Ok(axum::Json(Dequeued { runs }))
}

/// A dequeued run as the worker gets it (§3, §7.1).
fn dequeued(d: &EngineDequeued, auth: &Auth) -> ApiResult<DequeuedRun> {
    let r = &d.run;
    Ok(DequeuedRun {
        run_id: r.id.clone(),
        task_identifier: r.task_id.clone(),
        attempt: u32::try_from(r.attempt).unwrap_or_default(),
        // A dequeue always leases the runs it hands out.
        lease: r.lease.clone().unwrap_or_default(),
        lease_expires_at: r.lease_expires_at.map(Timestamp),
        payload: r
            .payload
            .as_deref()
            .and_then(|p| packet::to_value(p, &r.payload_type).ok())
            .unwrap_or(Value::Null),
        payload_type: r.payload_type.clone(),
        metadata: r
            .metadata
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok()),
        tags: r.tags.clone(),
        is_test: r.is_test,
        version: r.version.clone(),
        queue: r.queue_name.clone(),
        concurrency_key: (!r.ckey.is_empty()).then(|| r.ckey.clone()),
        max_attempts: r.max_attempts.and_then(|n| u32::try_from(n).ok()),
        max_duration: r.max_duration.and_then(|s| u64::try_from(s).ok()),
        machine: r.machine.clone(),
        idempotency_key: r.idempotency_key_user.clone().or(r.idempotency_key.clone()),
        created_at: Timestamp(r.created_at),
        started_at: r.started_at.map(Timestamp),
        parent_run_id: r.parent_run_id.clone(),
        root_run_id: r.root_run_id.clone(),
        batch_id: r.batch_id.clone(),
        environment: DequeuedEnvironment {
            id: auth.env_id.clone(),
            slug: auth.slug.clone(),
            kind: auth.kind.as_str().to_string(),
        },
        journal: d.journal.iter().map(views::journal_entry).collect(),
        resumed: r.resumed,
        trace_id: Some(r.trace().trace_id),
    })
}

/// `POST /api/v1/worker/runs/{id}/heartbeat`.
#[utoipa::path(
    post,
    path = "/api/v1/worker/runs/{run_id}/heartbeat",
    tag = "worker",
    operation_id = "heartbeatRun",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
    ),
    request_body = LeaseBody,
    responses(
        (status = 200, description = "The lease is extended", body = Heartbeat),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The lease is no longer the run's (code `lease_lost`), or the journal disagrees (code `non_determinism`)", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn heartbeat(
    State(state): State<AppState>,
    auth: Auth,
    Path(run_id): Path<String>,
    Json(b): Json<LeaseBody>,
) -> ApiResult<impl IntoResponse> {
    let run = state
        .engine
        .heartbeat(&auth.env_id, &run_id, &b.lease)
        .await?;
    Ok(axum::Json(Heartbeat {
        status: run.status,
        lease_expires_at: run.lease_expires_at.map(Timestamp),
    }))
}

fn completed(c: EngineCompleted) -> Completed {
    Completed {
        run_id: c.run_id,
        status: c.status,
        will_retry: c.will_retry,
        retry_at: c.retry_at.map(Timestamp),
    }
}

/// `POST /api/v1/worker/runs/{id}/complete`.
#[utoipa::path(
    post,
    path = "/api/v1/worker/runs/{run_id}/complete",
    tag = "worker",
    operation_id = "completeRun",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
    ),
    request_body = CompletionBody,
    responses(
        (status = 200, description = "What became of the run", body = Completed),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The lease is no longer the run's (code `lease_lost`), or the journal disagrees (code `non_determinism`)", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn complete(
    State(state): State<AppState>,
    auth: Auth,
    Path(run_id): Path<String>,
    Json(b): Json<CompletionBody>,
) -> ApiResult<impl IntoResponse> {
    let c = complete::check(b)?;
    let out = state.engine.complete(&auth.env_id, &run_id, c).await?;
    Ok(axum::Json(completed(out)))
}

/// `POST /api/v1/worker/complete`: many completions in one commit.
#[utoipa::path(
    post,
    path = "/api/v1/worker/complete",
    tag = "worker",
    operation_id = "completeRuns",
    security(("secretKey" = [])),
    request_body = CompleteManyBody,
    responses(
        (status = 200, description = "One result per completion, in order", body = CompletionResults),
    ),
)]
pub async fn complete_many(
    State(state): State<AppState>,
    auth: Auth,
    Json(b): Json<CompleteManyBody>,
) -> ApiResult<impl IntoResponse> {
    if b.completions.len() > 500 {
        return Err(ApiError::bad_request("At most 500 completions per call"));
    }
    let mut items = Vec::with_capacity(b.completions.len());
    for (i, body) in b.completions.into_iter().enumerate() {
        let run_id = body.run_id.clone();
        let c = complete::check(body)?;
        let id = run_id
            .ok_or_else(|| ApiError::bad_request(format!("completions[{i}] has no runId")))?;
        items.push((id, c));
    }
    let ids: Vec<String> = items.iter().map(|(id, _)| id.clone()).collect();
    let results = state.engine.complete_many(&auth.env_id, items).await?;
    let results = results
        .into_iter()
        .zip(ids)
        .map(|(r, run_id)| match r {
            Ok(c) => CompletionResult::Completed(completed(c)),
            Err(e) => {
                let api = ApiError::from(e);
                CompletionResult::Refused(CompletionRefused {
                    run_id,
                    error: api.message,
                    code: api.code.unwrap_or("error").to_string(),
                    status: api.status.as_u16(),
                })
            }
        })
        .collect();
    Ok(axum::Json(CompletionResults { results }))
}
