//! The worker protocol (`docs/worker-protocol.md`).

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use trigr_engine::complete::{Completed, Completion};
use trigr_engine::dequeue::Dequeued;
use trigr_types::manifest::TaskManifest;
use trigr_types::{format_time, packet};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Json};
use crate::{views, AppState};

const MAX_WAIT_MS: u64 = 30_000;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"tasks": [{"id": "send-email", "queue": {"name": "emails", "concurrencyLimit": 10}}], "promote": true}))]
pub struct RegisterBody {
    #[schema(min_items = 1)]
    tasks: Vec<TaskManifest>,
    #[serde(default)]
    promote: bool,
    #[serde(default)]
    content_hash: Option<String>,
}

/// `POST /api/v1/worker/deployments`.
#[utoipa::path(
    post,
    path = "/api/v1/worker/deployments",
    tag = "worker",
    operation_id = "registerDeployment",
    security(("secretKey" = [])),
    request_body = RegisterBody,
    responses(
        (status = 201, description = "A new deployment", body = crate::openapi::schemas::DeploymentRegistered),
        (status = 200, description = "The deployment of the same build (contentHash), reused", body = crate::openapi::schemas::DeploymentRegistered),
        (status = 422, description = "A task's schedule (pattern, zone or window) is invalid", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn register(
    State(state): State<AppState>,
    auth: Auth,
    Json(b): Json<RegisterBody>,
) -> ApiResult<impl IntoResponse> {
    let r = state
        .engine
        .register_deployment(&auth.env_id, b.tasks, b.promote, b.content_hash)
        .await?;
    let d = &r.deployment;
    let mut out = json!({
        "id": d.id,
        "version": d.version,
        "current": r.current,
        "reused": r.reused,
    });
    if let Some(t) = d.promoted_at {
        out["promotedAt"] = json!(format_time(t));
    }
    let status = if r.reused {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(out)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"version": "20261126.1", "maxRuns": 10, "waitMs": 0}))]
pub struct DequeueBody {
    version: String,
    /// Most runs to hand out (1 when absent).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 500)]
    max_runs: Option<usize>,
    /// How long to wait, in milliseconds, when no run is ready (0 when absent).
    #[serde(default)]
    #[schema(maximum = 30000)]
    wait_ms: Option<u64>,
    /// Hand the runs out already `EXECUTING` (no first heartbeat needed).
    #[serde(default)]
    start: bool,
}

/// `POST /api/v1/worker/dequeue`: long-poll for runs of one version.
#[utoipa::path(
    post,
    path = "/api/v1/worker/dequeue",
    tag = "worker",
    operation_id = "dequeueRuns",
    security(("secretKey" = [])),
    request_body = DequeueBody,
    responses(
        (status = 200, description = "The runs handed out (possibly none)", body = crate::openapi::schemas::Dequeued),
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
    let runs = state
        .engine
        .dequeue(
            &auth.env_id,
            &b.version,
            max,
            Duration::from_millis(wait),
            b.start,
        )
        .await?;
    let runs: Vec<Value> = runs.iter().map(|d| dequeued(d, &auth)).collect();
    Ok(axum::Json(json!({ "runs": runs })))
}

fn dequeued(d: &Dequeued, auth: &Auth) -> Value {
    let r = &d.run;
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    };
    put("runId", Some(json!(r.id)));
    put("taskIdentifier", Some(json!(r.task_id)));
    put("attempt", Some(json!(r.attempt)));
    put("lease", r.lease.clone().map(Value::String));
    put(
        "leaseExpiresAt",
        r.lease_expires_at.map(|t| json!(format_time(t))),
    );
    put(
        "payload",
        Some(
            r.payload
                .as_deref()
                .and_then(|p| packet::to_value(p, &r.payload_type).ok())
                .unwrap_or(Value::Null),
        ),
    );
    put("payloadType", Some(json!(r.payload_type)));
    put(
        "metadata",
        r.metadata
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok()),
    );
    put("tags", Some(json!(r.tags)));
    put("isTest", Some(json!(r.is_test)));
    put("version", r.version.clone().map(Value::String));
    put("queue", Some(json!(r.queue_name)));
    put(
        "concurrencyKey",
        (!r.ckey.is_empty()).then(|| json!(r.ckey)),
    );
    put("maxAttempts", r.max_attempts.map(Value::from));
    put("maxDuration", r.max_duration.map(Value::from));
    put("machine", r.machine.clone().map(Value::String));
    put(
        "idempotencyKey",
        r.idempotency_key_user
            .clone()
            .or(r.idempotency_key.clone())
            .map(Value::String),
    );
    put("createdAt", Some(json!(format_time(r.created_at))));
    put("startedAt", r.started_at.map(|t| json!(format_time(t))));
    put("parentRunId", r.parent_run_id.clone().map(Value::String));
    put("rootRunId", r.root_run_id.clone().map(Value::String));
    put("batchId", r.batch_id.clone().map(Value::String));
    put(
        "environment",
        Some(json!({ "id": auth.env_id, "slug": auth.slug, "type": auth.kind.as_str() })),
    );
    put(
        "journal",
        Some(Value::Array(
            d.journal.iter().map(views::journal_entry).collect(),
        )),
    );
    put("resumed", Some(Value::Bool(r.resumed)));
    Value::Object(m)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"lease": "lease_0"}))]
pub struct LeaseBody {
    lease: String,
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
        (status = 200, description = "The lease is extended", body = crate::openapi::schemas::Heartbeat),
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
    Ok(axum::Json(json!({
        "status": run.status.as_str(),
        "leaseExpiresAt": run.lease_expires_at.map(format_time),
    })))
}

fn completed(c: &Completed) -> Value {
    let mut v =
        json!({ "runId": c.run_id, "status": c.status.as_str(), "willRetry": c.will_retry });
    if let Some(t) = c.retry_at {
        v["retryAt"] = json!(format_time(t));
    }
    v
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
    request_body = Completion,
    responses(
        (status = 200, description = "What became of the run", body = crate::openapi::schemas::Completed),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The lease is no longer the run's (code `lease_lost`), or the journal disagrees (code `non_determinism`)", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn complete(
    State(state): State<AppState>,
    auth: Auth,
    Path(run_id): Path<String>,
    Json(c): Json<Completion>,
) -> ApiResult<impl IntoResponse> {
    check_completion(&c)?;
    let out = state.engine.complete(&auth.env_id, &run_id, c).await?;
    Ok(axum::Json(completed(&out)))
}

fn check_completion(c: &Completion) -> ApiResult<()> {
    if !c.ok && c.error.is_none() {
        return Err(ApiError::bad_request(
            "A failed completion (ok: false) needs an error with a message",
        ));
    }
    Ok(())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CompleteManyBody {
    completions: Vec<Completion>,
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
        (status = 200, description = "One result per completion, in order", body = crate::openapi::schemas::CompletionResults),
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
    for (i, c) in b.completions.into_iter().enumerate() {
        check_completion(&c)?;
        let id = c
            .run_id
            .clone()
            .ok_or_else(|| ApiError::bad_request(format!("completions[{i}] has no runId")))?;
        items.push((id, c));
    }
    let ids: Vec<String> = items.iter().map(|(id, _)| id.clone()).collect();
    let results = state.engine.complete_many(&auth.env_id, items).await?;
    let out: Vec<Value> = results
        .into_iter()
        .zip(ids)
        .map(|(r, id)| match r {
            Ok(c) => completed(&c),
            Err(e) => {
                let api = ApiError::from(e);
                json!({ "runId": id, "error": api.message, "code": api.code.unwrap_or("error"), "status": api.status.as_u16() })
            }
        })
        .collect();
    Ok(axum::Json(json!({ "results": out })))
}
