//! The official Trigger.dev CLI as a trigr worker (`npx trigger.dev dev`, `docs/typescript.md`):
//! the registration of its builds, the `/engine/v1/dev/*` calls it makes for the runs it
//! executes, the `/engine/v1/runs/*` waits its tasks make, and its `run:notify` push
//! ([`socket`]). Its dev calls send JSON as `text/plain`, which every body here reads.
//!
//! A build's worker id is the version it was registered as: the CLI names its builds by it in
//! each dequeue, and every run handed out names the version it is locked to.

pub(crate) mod socket;
pub(crate) mod views;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use futures::Stream;
use serde_json::Value;
use trigr_engine::cli_worker::complete::{DevCompletion, DevOutcome};
use trigr_engine::cli_worker::dequeue::MAX_VERSIONS;
use trigr_engine::cli_worker::register;
use trigr_engine::cli_worker::start::DevStarted;
use trigr_engine::metadata;
use trigr_engine::waits::Wait;
use trigr_store::EnvKind;
use trigr_types::wire::dev::{
    AttemptCompleteBody, AttemptCompleted, AttemptResult, AttemptStartBody, AttemptStarted,
    BackgroundWorkerBody, BackgroundWorkerCreated, CompleteResult, DebugLogBody, DequeuedMessage,
    DequeuedRunRef, DequeuedWorker, DevConfig, DevDequeueBody, DevDequeued, DevOk, DisconnectBody,
    Disconnected, ExecutionAttempt, ExecutionDeployment, ExecutionEnvironment,
    ExecutionOrganization, ExecutionProject, ExecutionQueue, ExecutionRun, ExecutionTask,
    FlushedMetadata, IdAndType, IdOnly, InputStreamWaitBody, InputStreamWaitStarted,
    LatestSnapshot, RunExecutionData, TaskRunExecution, WaitDurationBody, WaitDurationStarted,
    WaitStarted,
};
use trigr_types::wire::rest::MetadataUpdate;
use trigr_types::wire::Timestamp;
use trigr_types::{duration, packet, RunStatus};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Json, OptionalJson};
use crate::AppState;

/// Runs one CLI executes at once (its local limit; the environment's limit still applies).
pub const MAX_CONCURRENT_RUNS: u64 = 25;
/// Milliseconds between the CLI's dequeues after one that found runs, and one that did not.
const DEQUEUE_INTERVAL_WITH_RUN: u64 = 250;
const DEQUEUE_INTERVAL_WITHOUT_RUN: u64 = 1000;
/// Runs handed out by one dequeue.
const DEQUEUE_MAX: usize = 10;
/// Longest debug log message kept in the server's log.
const MAX_DEBUG_MESSAGE: usize = 4096;

fn env_type(kind: EnvKind) -> &'static str {
    match kind {
        EnvKind::Development => "DEVELOPMENT",
        EnvKind::Staging => "STAGING",
        EnvKind::Production => "PRODUCTION",
        EnvKind::Preview => "PREVIEW",
    }
}

/// Only development environments take the CLI's builds: `trigger deploy` (images and a
/// supervisor) is not supported.
fn development_only(auth: &Auth) -> ApiResult<()> {
    if auth.kind == EnvKind::Development {
        return Ok(());
    }
    Err(ApiError::bad_request(
        "Only a development environment's key runs `trigger.dev dev`; deployed TypeScript \
         workers (`trigger deploy`) are not supported by trigr",
    ))
}

/// `POST /api/v1/projects/{project_ref}/background-workers`.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{project_ref}/background-workers",
    tag = "cli",
    operation_id = "createBackgroundWorker",
    security(("secretKey" = [])),
    params(("project_ref" = String, Path, description = "The project's reference (proj_…)")),
    request_body(content = BackgroundWorkerBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The build's version (the same one for a build registered before)", body = BackgroundWorkerCreated),
        (status = 400, description = "A task's settings are invalid, the project is not the key's, or the key is not a development one", body = crate::openapi::schemas::ErrorBody),
        (status = 422, description = "A task's schedule or payload schema is invalid", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn register(
    State(state): State<AppState>,
    auth: Auth,
    Path(project_ref): Path<String>,
    Json(body): Json<BackgroundWorkerBody>,
) -> ApiResult<axum::Json<BackgroundWorkerCreated>> {
    development_only(&auth)?;
    state
        .engine
        .env_var_target(&auth.env_id, &project_ref, &auth.slug)
        .await?;
    let build = register::check(body)?;
    let content_hash = build.content_hash.clone();
    let r = state.engine.register_cli_build(&auth.env_id, build).await?;
    Ok(axum::Json(BackgroundWorkerCreated {
        id: r.deployment.version.clone(),
        version: r.deployment.version,
        content_hash,
    }))
}

/// `GET /engine/v1/dev/config`.
#[utoipa::path(
    get,
    path = "/engine/v1/dev/config",
    tag = "cli",
    operation_id = "devConfig",
    security(("secretKey" = [])),
    responses((status = 200, description = "How the CLI polls, and where", body = DevConfig)),
)]
pub async fn config(auth: Auth, headers: HeaderMap) -> ApiResult<axum::Json<DevConfig>> {
    development_only(&auth)?;
    Ok(axum::Json(DevConfig {
        environment_id: auth.env_id,
        dequeue_interval_with_run: DEQUEUE_INTERVAL_WITH_RUN,
        dequeue_interval_without_run: DEQUEUE_INTERVAL_WITHOUT_RUN,
        max_concurrent_runs: MAX_CONCURRENT_RUNS,
        engine_url: crate::origin::origin(&headers),
    }))
}

/// `POST /engine/v1/dev/dequeue`.
#[utoipa::path(
    post,
    path = "/engine/v1/dev/dequeue",
    tag = "cli",
    operation_id = "devDequeue",
    security(("secretKey" = [])),
    request_body(content = DevDequeueBody, content_type = "text/plain"),
    responses(
        (status = 200, description = "The runs handed out (possibly none), each with the snapshot to start it from", body = DevDequeued),
        (status = 400, description = "A worker id is not a version", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn dequeue(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<DevDequeueBody>,
) -> ApiResult<axum::Json<DevDequeued>> {
    development_only(&auth)?;
    let mut versions = vec![body.current_worker];
    versions.extend(body.old_workers.into_iter().take(MAX_VERSIONS - 1));
    if let Some(bad) = versions.iter().find(|v| !is_worker_id(v)) {
        return Err(ApiError::bad_request(format!(
            "'{}' is not a worker id this server gave (a version such as 20261207.1)",
            bad.escape_debug()
        )));
    }
    let taken = state
        .engine
        .dev_dequeue(&auth.env_id, versions, Some("trigger.dev dev"), DEQUEUE_MAX)
        .await?;
    let now = state.engine.now();
    let environment = IdAndType {
        id: auth.env_id.clone(),
        kind: env_type(auth.kind).to_string(),
    };
    let dequeued_messages = taken
        .into_iter()
        .map(|d| {
            let version = d.run.version.clone().unwrap_or_default();
            DequeuedMessage {
                version: "1".to_string(),
                snapshot: views::snapshot(&d.snapshot),
                dequeued_at: Timestamp(now),
                completed_waitpoints: Vec::new(),
                background_worker: DequeuedWorker {
                    id: version.clone(),
                    friendly_id: version.clone(),
                    version,
                },
                deployment: BTreeMap::new(),
                run: DequeuedRunRef {
                    id: d.run.id.clone(),
                    friendly_id: d.run.id.clone(),
                    is_test: d.run.is_test,
                    machine: views::machine(d.run.machine.as_deref()),
                    attempt_number: d.run.attempt,
                    master_queue: d.run.queue_name.clone(),
                    trace_context: BTreeMap::new(),
                },
                environment: environment.clone(),
                organization: IdOnly {
                    id: auth.env_id.clone(),
                },
                project: IdOnly {
                    id: auth.env_id.clone(),
                },
            }
        })
        .collect();
    Ok(axum::Json(DevDequeued { dequeued_messages }))
}

/// A worker id this server gives: a version, `YYYYMMDD.N`.
fn is_worker_id(v: &str) -> bool {
    match v.split_once('.') {
        Some((day, n)) => {
            day.len() == 8
                && (1..=9).contains(&n.len())
                && day.bytes().chain(n.bytes()).all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// `POST /engine/v1/dev/runs/{run_id}/snapshots/{snapshot_id}/attempts/start`.
#[utoipa::path(
    post,
    path = "/engine/v1/dev/runs/{run_id}/snapshots/{snapshot_id}/attempts/start",
    tag = "cli",
    operation_id = "devStartAttempt",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run"),
        ("snapshot_id" = String, Path, description = "The snapshot the attempt starts from"),
    ),
    request_body(content = AttemptStartBody, content_type = "text/plain"),
    responses(
        (status = 200, description = "The attempt started: the task's context and its process's variables", body = AttemptStarted),
        (status = 404, description = "No such run or snapshot", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The run is no longer held by this worker", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn start(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path((run_id, snapshot_id)): Path<(String, String)>,
    OptionalJson(_): OptionalJson<AttemptStartBody>,
) -> ApiResult<axum::Json<AttemptStarted>> {
    let started = state
        .engine
        .dev_start(&auth.env_id, &run_id, &snapshot_id)
        .await?;
    let mut env_vars = match state.engine.env_var_values(&auth.env_id).await {
        Ok(vars) => vars,
        // No key to open the variables with: the task runs without them.
        Err(trigr_engine::Error::Conflict(_)) => BTreeMap::new(),
        Err(e) => return Err(e.into()),
    };
    env_vars.insert(
        "TRIGGER_OTEL_EXPORTER_OTLP_ENDPOINT".to_string(),
        format!(
            "{}/otel/env/{}",
            crate::origin::origin(&headers),
            super::otlp::env_token(&auth.env_id, &auth.signing_secret)
        ),
    );
    Ok(axum::Json(AttemptStarted {
        run: views::run_ref(&started.run, started.run.attempt),
        snapshot: views::snapshot(&started.snapshot),
        execution: execution(&started, &auth),
        env_vars,
    }))
}

/// The task's `ctx`.
fn execution(s: &DevStarted, auth: &Auth) -> TaskRunExecution {
    let run = &s.run;
    let task = s.task.as_ref();
    TaskRunExecution {
        attempt: ExecutionAttempt {
            number: run.attempt,
            started_at: Timestamp(run.attempt_started_at.unwrap_or(run.created_at)),
        },
        run: ExecutionRun {
            id: run.id.clone(),
            payload: run.payload.clone().unwrap_or_default(),
            payload_type: run.payload_type.clone(),
            tags: run.tags.clone(),
            is_test: run.is_test,
            created_at: Timestamp(run.created_at),
            started_at: Timestamp(run.started_at.unwrap_or(run.created_at)),
            idempotency_key: run.idempotency_key_user.clone(),
            max_attempts: run.max_attempts,
            version: run.version.clone(),
            metadata: run
                .metadata
                .as_deref()
                .and_then(|m| packet::to_value(m, &run.metadata_type).ok())
                .filter(Value::is_object),
            max_duration: run.max_duration,
            parent_task_run_id: run.parent_run_id.clone(),
            root_task_run_id: run.root_run_id.clone(),
            trace_context: BTreeMap::new(),
            duration_ms: 0,
            cost_in_cents: 0.0,
            base_cost_in_cents: 0.0,
        },
        task: ExecutionTask {
            id: run.task_id.clone(),
            file_path: task.and_then(|t| t.file_path.clone()).unwrap_or_default(),
            export_name: task.and_then(|t| t.export_name.clone()),
        },
        queue: ExecutionQueue {
            id: run.queue_id.clone(),
            name: run.queue_name.clone(),
        },
        environment: ExecutionEnvironment {
            id: auth.env_id.clone(),
            slug: s.environment.slug.clone(),
            kind: env_type(s.environment.kind).to_string(),
        },
        organization: ExecutionOrganization {
            id: s.project.org_id.clone(),
            slug: s.project.org_id.clone(),
            name: s.project.org_id.clone(),
        },
        project: ExecutionProject {
            id: s.project.id.clone(),
            project_ref: s.project.project_ref.clone(),
            slug: s.project.name.clone(),
            name: s.project.name.clone(),
        },
        machine: views::machine(run.machine.as_deref()),
        batch: run.batch_id.clone().map(|id| IdOnly { id }),
        deployment: match (&s.deployment_id, &run.version) {
            (Some(id), Some(version)) => Some(ExecutionDeployment {
                id: id.clone(),
                short_code: version.clone(),
                version: version.clone(),
                runtime: "node".to_string(),
                runtime_version: String::new(),
            }),
            _ => None,
        },
    }
}

/// `POST /engine/v1/dev/runs/{run_id}/snapshots/{snapshot_id}/attempts/complete`.
#[utoipa::path(
    post,
    path = "/engine/v1/dev/runs/{run_id}/snapshots/{snapshot_id}/attempts/complete",
    tag = "cli",
    operation_id = "devCompleteAttempt",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run"),
        ("snapshot_id" = String, Path, description = "A snapshot of the attempt"),
    ),
    request_body(content = AttemptCompleteBody, content_type = "text/plain"),
    responses(
        (status = 200, description = "What became of the run: RUN_FINISHED or RETRY_QUEUED", body = AttemptCompleted),
        (status = 400, description = "A failure without its error", body = crate::openapi::schemas::ErrorBody),
        (status = 404, description = "No such run or snapshot", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The run is held by another attempt", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn complete(
    State(state): State<AppState>,
    auth: Auth,
    Path((run_id, snapshot_id)): Path<(String, String)>,
    Json(body): Json<AttemptCompleteBody>,
) -> ApiResult<axum::Json<AttemptCompleted>> {
    let flushed = metadata_update(body.completion.flushed_metadata.as_ref())?;
    let completion = completion(body.completion)?;
    if let Some(update) = flushed {
        // The metadata changes the task made last, applied before the run ends; a run that
        // ended meanwhile (canceled) keeps what it had.
        match state
            .engine
            .update_metadata(&auth.env_id, &run_id, update)
            .await
        {
            Ok(_) | Err(trigr_engine::Error::Unprocessable(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let done = state
        .engine
        .dev_complete(&auth.env_id, &run_id, &snapshot_id, completion)
        .await?;
    Ok(axum::Json(AttemptCompleted {
        result: CompleteResult {
            attempt_status: done.attempt_status.as_str().to_string(),
            snapshot: views::snapshot(&done.snapshot),
            run: views::run_ref(&done.run, done.snapshot.attempt),
        },
    }))
}

/// The metadata a completion flushed: the operations the task queued since its last flush
/// (`{"operations", "parentOperations", "rootOperations"}`, as a metadata `PUT` sends them),
/// or a whole metadata object, in a JSON or SuperJSON packet.
fn metadata_update(flushed: Option<&FlushedMetadata>) -> ApiResult<Option<metadata::Update>> {
    let Some(FlushedMetadata {
        data: Some(data),
        data_type,
    }) = flushed
    else {
        return Ok(None);
    };
    let value = packet::to_value(data, data_type).map_err(|e| {
        ApiError::bad_request(format!("flushedMetadata is not a {data_type} packet: {e}"))
    })?;
    let ops = ["operations", "parentOperations", "rootOperations"];
    let update = match value {
        Value::Object(m) if ops.iter().any(|k| m.contains_key(*k)) => {
            serde_json::from_value::<MetadataUpdate>(Value::Object(m))
                .map_err(|e| ApiError::bad_request(format!("flushedMetadata: {e}")))?
        }
        Value::Object(m) if m.is_empty() => return Ok(None),
        v @ Value::Object(_) => MetadataUpdate {
            metadata: Some(v),
            ..MetadataUpdate::default()
        },
        _ => {
            return Err(ApiError::bad_request(
                "flushedMetadata must hold a JSON object",
            ))
        }
    };
    Ok(Some(metadata::check(update)?))
}

/// Checks a completion: a failure names its error.
fn completion(r: AttemptResult) -> ApiResult<DevCompletion> {
    let outcome = if r.ok {
        DevOutcome::Succeeded {
            output: r.output,
            output_type: r.output_type.unwrap_or_else(|| packet::JSON.to_string()),
        }
    } else {
        let error = r.error.ok_or_else(|| {
            ApiError::bad_request("A failed completion (ok: false) needs its error")
        })?;
        let code = error.get("code").and_then(Value::as_str);
        let final_status = match code {
            Some("MAX_DURATION_EXCEEDED") => RunStatus::TimedOut,
            Some("TASK_RUN_CANCELLED") => RunStatus::Canceled,
            _ => RunStatus::Failed,
        };
        let retry_after_ms = r
            .retry
            .filter(|_| final_status == RunStatus::Failed)
            .map(|retry| retry.delay.clamp(0.0, duration::MAX as f64) as u64);
        DevOutcome::Failed {
            error: views::stored_error(&error),
            retry_after_ms,
            final_status,
        }
    };
    Ok(DevCompletion { outcome })
}

/// `POST /engine/v1/dev/runs/{run_id}/snapshots/{snapshot_id}/heartbeat`.
#[utoipa::path(
    post,
    path = "/engine/v1/dev/runs/{run_id}/snapshots/{snapshot_id}/heartbeat",
    tag = "cli",
    operation_id = "devHeartbeat",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run"),
        ("snapshot_id" = String, Path, description = "A snapshot of the attempt"),
    ),
    responses(
        (status = 200, description = "The attempt's lease was extended", body = DevOk),
        (status = 404, description = "No such run or snapshot", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The run is no longer held by this worker", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn heartbeat(
    State(state): State<AppState>,
    auth: Auth,
    Path((run_id, snapshot_id)): Path<(String, String)>,
) -> ApiResult<axum::Json<DevOk>> {
    state
        .engine
        .dev_heartbeat(&auth.env_id, &run_id, &snapshot_id)
        .await?;
    Ok(axum::Json(DevOk { ok: true }))
}

/// `GET /engine/v1/dev/runs/{run_id}/snapshots/latest`.
#[utoipa::path(
    get,
    path = "/engine/v1/dev/runs/{run_id}/snapshots/latest",
    tag = "cli",
    operation_id = "devLatestSnapshot",
    security(("secretKey" = [])),
    params(("run_id" = String, Path, description = "The run")),
    responses(
        (status = 200, description = "The run's newest snapshot and the waitpoints it hands back", body = LatestSnapshot),
        (status = 404, description = "No such run, or it was never handed to a CLI worker", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn latest(
    State(state): State<AppState>,
    auth: Auth,
    Path(run_id): Path<String>,
) -> ApiResult<axum::Json<LatestSnapshot>> {
    let l = state.engine.dev_latest(&auth.env_id, &run_id).await?;
    Ok(axum::Json(LatestSnapshot {
        execution: RunExecutionData {
            version: "1".to_string(),
            snapshot: views::snapshot(&l.snapshot),
            run: views::run_ref(&l.run, l.snapshot.attempt),
            completed_waitpoints: l
                .waitpoints
                .iter()
                .map(views::completed_waitpoint)
                .collect(),
        },
    }))
}

/// `POST /engine/v1/dev/runs/{run_id}/logs/debug`: the CLI's own notes about a run, written
/// to the server's log at debug level.
#[utoipa::path(
    post,
    path = "/engine/v1/dev/runs/{run_id}/logs/debug",
    tag = "cli",
    operation_id = "devDebugLog",
    security(("secretKey" = [])),
    params(("run_id" = String, Path, description = "The run")),
    request_body(content = DebugLogBody, content_type = "application/json"),
    responses((status = 204, description = "Noted")),
)]
pub async fn debug_log(
    auth: Auth,
    Path(run_id): Path<String>,
    Json(body): Json<DebugLogBody>,
) -> StatusCode {
    let message: String = body.message.chars().take(MAX_DEBUG_MESSAGE).collect();
    tracing::debug!(env = %auth.env_id, run = %run_id.escape_debug(), "trigger.dev dev: {}", message.escape_debug());
    StatusCode::NO_CONTENT
}

/// `POST /engine/v1/dev/disconnect`.
#[utoipa::path(
    post,
    path = "/engine/v1/dev/disconnect",
    tag = "cli",
    operation_id = "devDisconnect",
    security(("secretKey" = [])),
    request_body(content = DisconnectBody, content_type = "application/json"),
    responses(
        (status = 200, description = "How many of the runs the CLI held were canceled", body = Disconnected),
        (status = 400, description = "Too many runs", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn disconnect(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<DisconnectBody>,
) -> ApiResult<axum::Json<Disconnected>> {
    let cancelled = state
        .engine
        .dev_disconnect(&auth.env_id, &body.run_friendly_ids)
        .await?;
    Ok(axum::Json(Disconnected {
        cancelled: cancelled as u64,
    }))
}

/// How long one presence stream lasts; the CLI's EventSource opens the next (and gives up
/// after five failed reconnects, so a stream that ended too often would end its presence).
const PRESENCE_FOR: Duration = Duration::from_secs(600);
/// How often it says the time (and looks whether the server is closing).
const PRESENCE_EVERY: Duration = Duration::from_secs(5);

/// `GET /engine/v1/dev/presence`: Server-Sent Events while the CLI is connected.
#[utoipa::path(
    get,
    path = "/engine/v1/dev/presence",
    tag = "cli",
    operation_id = "devPresence",
    security(("secretKey" = [])),
    responses((status = 200, description = "`start`, then `time` every 5 s, for 10 minutes or until the server closes", content_type = "text/event-stream")),
)]
pub async fn presence(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    development_only(&auth)?;
    let stream = presence_events(state.engine.clone());
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn presence_events(engine: trigr_engine::Engine) -> impl Stream<Item = Result<Event, Infallible>> {
    let ticks = (PRESENCE_FOR.as_secs() / PRESENCE_EVERY.as_secs()) as usize;
    let start = futures::stream::once(async { Ok(Event::default().event("start").data("{}")) });
    let times = futures::stream::unfold(0usize, move |n| {
        let engine = engine.clone();
        async move {
            if n >= ticks || engine.is_closing() {
                return None;
            }
            tokio::time::sleep(PRESENCE_EVERY).await;
            let time = format!("{{\"time\":{}}}", engine.now());
            Some((Ok(Event::default().event("time").data(time)), n + 1))
        }
    });
    futures::StreamExt::chain(start, times)
}

/// `POST /engine/v1/runs/{run_id}/wait/duration`: `wait.for`/`wait.until` past 5 s.
#[utoipa::path(
    post,
    path = "/engine/v1/runs/{run_id}/wait/duration",
    tag = "cli",
    operation_id = "devWaitDuration",
    security(("secretKey" = [])),
    params(("run_id" = String, Path, description = "The waiting run")),
    request_body(content = WaitDurationBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The wait started; its waitpoint completes at the date", body = WaitDurationStarted),
        (status = 400, description = "The date is not a date", body = crate::openapi::schemas::ErrorBody),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The run is not executing under a CLI worker", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn wait_duration(
    State(state): State<AppState>,
    auth: Auth,
    Path(run_id): Path<String>,
    Json(body): Json<WaitDurationBody>,
) -> ApiResult<axum::Json<WaitDurationStarted>> {
    let at = duration::parse_date(&body.date).ok_or_else(|| {
        ApiError::bad_request(format!(
            "date must be an ISO 8601 date, got '{}'",
            body.date.escape_debug()
        ))
    })?;
    let w = state
        .engine
        .dev_wait(&auth.env_id, &run_id, "wait.for", Wait::Until { at })
        .await?;
    Ok(axum::Json(WaitDurationStarted {
        wait_until: Timestamp(at),
        waitpoint: IdOnly {
            id: w.state.waitpoint_id,
        },
    }))
}

/// `POST /engine/v1/runs/{run_id}/waitpoints/tokens/{token_id}/wait`: `wait.forToken`.
#[utoipa::path(
    post,
    path = "/engine/v1/runs/{run_id}/waitpoints/tokens/{token_id}/wait",
    tag = "cli",
    operation_id = "devWaitToken",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The waiting run"),
        ("token_id" = String, Path, description = "The token (waitpoint_…)"),
    ),
    responses(
        (status = 200, description = "The wait started (or the token was already complete: the run gets it at once)", body = WaitStarted),
        (status = 404, description = "No such token", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The run is not executing under a CLI worker", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn wait_token(
    State(state): State<AppState>,
    auth: Auth,
    Path((run_id, token_id)): Path<(String, String)>,
) -> ApiResult<axum::Json<WaitStarted>> {
    state
        .engine
        .dev_wait(
            &auth.env_id,
            &run_id,
            "wait.forToken",
            Wait::Token { token_id },
        )
        .await?;
    Ok(axum::Json(WaitStarted { success: true }))
}

/// `POST /api/v1/runs/{run_id}/input-streams/wait`: `inputStream.wait()` in a task the CLI
/// runs; the task then waits on the waitpoint as on a token.
#[utoipa::path(
    post,
    path = "/api/v1/runs/{run_id}/input-streams/wait",
    tag = "cli",
    operation_id = "devWaitInputStream",
    security(("secretKey" = [])),
    params(("run_id" = String, Path, description = "The waiting run")),
    request_body(content = InputStreamWaitBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The wait's waitpoint: it completes with the next message's data, or times out", body = InputStreamWaitStarted),
        (status = 400, description = "A bad stream id, timeout or message number", body = crate::openapi::schemas::ErrorBody),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The run is not executing under a CLI worker", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn wait_input(
    State(state): State<AppState>,
    auth: Auth,
    Path(run_id): Path<String>,
    Json(body): Json<InputStreamWaitBody>,
) -> ApiResult<axum::Json<InputStreamWaitStarted>> {
    let now = state.engine.now();
    let timeout_ms = match &body.timeout {
        Some(t) => Some(
            duration::parse_delay(t, now)
                .map_err(|e| ApiError::bad_request(format!("timeout: {e}")))?
                .saturating_sub(now)
                .max(0),
        ),
        None => None,
    };
    if body.last_seq_num.is_some_and(|n| n < 0) {
        return Err(ApiError::bad_request("lastSeqNum must be 0 or more"));
    }
    let w = state
        .engine
        .dev_wait_input(
            &auth.env_id,
            &run_id,
            &body.stream_id,
            body.last_seq_num,
            timeout_ms,
        )
        .await?;
    Ok(axum::Json(InputStreamWaitStarted {
        waitpoint_id: w.state.waitpoint_id,
        is_cached: false,
    }))
}
