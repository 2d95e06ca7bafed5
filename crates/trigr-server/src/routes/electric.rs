//! Run subscriptions for the official SDK's `runs.subscribeToRun`, `subscribeToRunsWithTag`
//! and `subscribeToBatch` (reference §5.1–5.5): the long-poll subset of Electric SQL's HTTP
//! "shape" protocol, without Electric.
//!
//! * `GET /realtime/v1/runs/{runId}`, `GET /realtime/v1/runs?tags=a,b[&createdAt=1h]`,
//!   `GET /realtime/v1/batches/{batchId}`.
//! * A snapshot (`offset=-1`, or no `live`) answers every row as an `insert`, then an
//!   `up-to-date` control message, with `electric-handle`, `electric-offset`,
//!   `electric-schema: {}` (values are plain JSON: encoding (b) of §5.4) and
//!   `electric-up-to-date`.
//! * A live request (`live=true`) holds until a row changed since its offset (up to 20 s), then
//!   answers the rows changed since then (`insert` for runs created since, `update` for the
//!   others), always ending with `up-to-date`; `electric-cursor` on every live answer.
//!
//! Stateless: the offset is `<ms>_<fingerprint>`, the newest `updatedAt` of the rows answered
//! and a fingerprint of their states, so a change within the same millisecond is seen too.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{TimeZone, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use trigr_engine::selection::Selection;
use trigr_engine::trigger::MAX_TAGS;
use trigr_engine::Error as EngineError;
use trigr_store::Run;
use trigr_types::{duration, Millis, RunStatus};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, KeyOrToken};
use crate::{views, AppState};

/// How long a live request holds at most.
const LIVE_HOLD: Duration = Duration::from_secs(20);
/// How often a held request looks again when nothing woke it.
const LOOK_EVERY: Duration = Duration::from_millis(250);
/// Default look-back of a tag feed, and the most runs it carries.
const DEFAULT_TAG_WINDOW_MS: Millis = 24 * 3600 * 1000;
const MAX_FEED_RUNS: usize = 500;
/// Columns `skipColumns` may not remove.
const RESERVED: [&str; 5] = ["id", "taskIdentifier", "friendlyId", "status", "createdAt"];

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ShapeQuery {
    offset: Option<String>,
    live: Option<String>,
    handle: Option<String>,
    skip_columns: Option<String>,
    tags: Option<String>,
    created_at: Option<String>,
}

/// `GET /realtime/v1/runs/{runId}`.
#[utoipa::path(
    get,
    path = "/realtime/v1/runs/{run_id}",
    tag = "realtime",
    operation_id = "subscribeToRunShape",
    security(("secretKey" = []), ("publicAccessToken" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
        ("offset" = Option<String>, Query, description = "`-1` for a snapshot, or the electric-offset of the previous answer"),
        ("live" = Option<String>, Query, description = "`true`: hold until a run changed since offset (up to 20 s)"),
        ("handle" = Option<String>, Query, description = "The electric-handle of the previous answer"),
        ("skipColumns" = Option<String>, Query, description = "Comma-separated columns to leave out"),
        ("x-trigger-api-version" = Option<String>, Header, description = "`2025-07-16` for the current status names; any other value (or none) gets the legacy ones"),
    ),
    responses(
        (status = 200, description = "The changed rows, then an up-to-date control message", body = Vec<crate::openapi::schemas::ShapeMessage>),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn run(
    State(state): State<AppState>,
    KeyOrToken(auth): KeyOrToken,
    Path(run_id): Path<String>,
    Query(q): Query<ShapeQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let handle = format!("run-{run_id}");
    serve(state, auth, Selection::Run(run_id), handle, q, headers).await
}

/// `GET /realtime/v1/batches/{batchId}`.
#[utoipa::path(
    get,
    path = "/realtime/v1/batches/{batch_id}",
    tag = "realtime",
    operation_id = "subscribeToBatchShape",
    security(("secretKey" = []), ("publicAccessToken" = [])),
    params(
        ("batch_id" = String, Path, description = "The batch id (`batch_…`)"),
        ("offset" = Option<String>, Query, description = "`-1` for a snapshot, or the electric-offset of the previous answer"),
        ("live" = Option<String>, Query, description = "`true`: hold until a run changed since offset (up to 20 s)"),
        ("handle" = Option<String>, Query, description = "The electric-handle of the previous answer"),
        ("skipColumns" = Option<String>, Query, description = "Comma-separated columns to leave out"),
        ("x-trigger-api-version" = Option<String>, Header, description = "`2025-07-16` for the current status names; any other value (or none) gets the legacy ones"),
    ),
    responses(
        (status = 200, description = "The changed rows, then an up-to-date control message", body = Vec<crate::openapi::schemas::ShapeMessage>),
        (status = 404, description = "No such batch", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn batch(
    State(state): State<AppState>,
    KeyOrToken(auth): KeyOrToken,
    Path(batch_id): Path<String>,
    Query(q): Query<ShapeQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if !auth.allows(&["read:runs".to_string(), format!("read:batch:{batch_id}")]) {
        return Err(auth.forbidden(&format!("read batch {batch_id}")));
    }
    let handle = format!("batch-{batch_id}");
    serve(state, auth, Selection::Batch(batch_id), handle, q, headers).await
}

/// `GET /realtime/v1/runs?tags=a,b&createdAt=1h`.
#[utoipa::path(
    get,
    path = "/realtime/v1/runs",
    tag = "realtime",
    operation_id = "subscribeToTaggedRunsShape",
    security(("secretKey" = []), ("publicAccessToken" = [])),
    params(
        ("tags" = String, Query, description = "1-10 comma-separated tags; runs carrying all of them"),
        ("createdAt" = Option<String>, Query, description = "How far back (a duration like 1h; 24 h when absent)"),
        ("offset" = Option<String>, Query, description = "`-1` for a snapshot, or the electric-offset of the previous answer"),
        ("live" = Option<String>, Query, description = "`true`: hold until a run changed since offset (up to 20 s)"),
        ("handle" = Option<String>, Query, description = "The electric-handle of the previous answer"),
        ("skipColumns" = Option<String>, Query, description = "Comma-separated columns to leave out"),
        ("x-trigger-api-version" = Option<String>, Header, description = "`2025-07-16` for the current status names; any other value (or none) gets the legacy ones"),
    ),
    responses(
        (status = 200, description = "The changed rows, then an up-to-date control message", body = Vec<crate::openapi::schemas::ShapeMessage>),
    ),
)]
pub async fn tagged(
    State(state): State<AppState>,
    KeyOrToken(auth): KeyOrToken,
    Query(q): Query<ShapeQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let tags: Vec<String> = q
        .tags
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    if tags.is_empty() {
        return Err(ApiError::bad_request(
            "tags is required: one or more tags separated by commas",
        ));
    }
    // A run has at most that many tags, so more can never match all together.
    if tags.len() > MAX_TAGS {
        return Err(ApiError::bad_request(format!(
            "At most {MAX_TAGS} tags per subscription, got {}",
            tags.len()
        )));
    }
    let wanted: Vec<String> = std::iter::once("read:runs".to_string())
        .chain(tags.iter().map(|t| format!("read:tags:{t}")))
        .collect();
    if !auth.allows(&wanted) {
        return Err(auth.forbidden("read runs with these tags"));
    }
    // The handle pins the window's floor, so every request of one subscription sees the
    // same runs.
    let since = match q.handle.as_deref().and_then(|h| h.strip_prefix("tags-")) {
        Some(ms) => ms
            .parse::<Millis>()
            .map_err(|_| ApiError::bad_request(format!("unknown handle {:?}", q.handle)))?,
        None => {
            let window = match q.created_at.as_deref() {
                None => DEFAULT_TAG_WINDOW_MS,
                Some(w) => duration::parse(w).map_err(|e| {
                    ApiError::bad_request(format!(
                        "createdAt must be a duration like 1h or 7d, got '{w}': {e}"
                    ))
                })?,
            };
            state.engine.now() - window
        }
    };
    let handle = format!("tags-{since}");
    serve(
        state,
        auth,
        Selection::Tags {
            tags,
            all: true,
            since: Some(since),
            limit: MAX_FEED_RUNS,
        },
        handle,
        q,
        headers,
    )
    .await
}

/// The rows of a feed now.
async fn rows(
    state: &AppState,
    env_id: &str,
    feed: &Selection,
) -> ApiResult<Vec<(Run, Vec<String>)>> {
    state
        .engine
        .selected_runs_with_streams(env_id, feed)
        .await?
        .ok_or_else(|| ApiError::from(EngineError::not_found("Not found")))
}

/// The offset of a set of rows: newest `updatedAt` and a fingerprint of every row's state.
fn offset_of(rows: &[(Run, Vec<String>)]) -> (Millis, u64) {
    let mut hasher = DefaultHasher::new();
    let mut newest = 0;
    for (r, streams) in rows {
        newest = newest.max(r.updated_at);
        (
            &r.id,
            r.status.as_str(),
            r.updated_at,
            r.attempt,
            &r.metadata,
            &r.tags,
            &r.output,
            streams,
        )
            .hash(&mut hasher);
    }
    (newest, hasher.finish())
}

fn parse_offset(text: &str) -> Option<(Millis, u64)> {
    let (ms, fp) = text.split_once('_')?;
    Some((ms.parse().ok()?, fp.parse().ok()?))
}

async fn serve(
    state: AppState,
    auth: Auth,
    feed: Selection,
    handle: String,
    q: ShapeQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let legacy = views::wants_legacy_statuses(&headers);
    let skip: Vec<String> = q
        .skip_columns
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty() && !RESERVED.contains(c))
        .map(str::to_string)
        .collect();
    let live = q.live.as_deref() == Some("true");
    let since = match q.offset.as_deref() {
        None | Some("-1") => None,
        Some(o) => Some(parse_offset(o).ok_or_else(|| {
            ApiError::bad_request(format!(
                "offset must be -1 or an offset this server gave, got '{o}'"
            ))
        })?),
    };
    let mut current = rows(&state, &auth.env_id, &feed).await?;
    if let Selection::Run(_) = feed {
        if let Some((run, _)) = current.first() {
            if !auth.may_read_run(run) {
                return Err(auth.forbidden(&format!("read run {}", run.id)));
            }
        }
    }
    let mut changed = Vec::new();
    let mut since_ms = None;
    match (live, since) {
        (true, Some((ms, fp))) => {
            since_ms = Some(ms);
            let deadline = tokio::time::Instant::now() + LIVE_HOLD;
            let signal = state.engine.signal(&auth.env_id);
            loop {
                let notified = signal.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if offset_of(&current) != (ms, fp) {
                    changed = current
                        .iter()
                        .filter(|(r, _)| r.updated_at >= ms)
                        .cloned()
                        .collect();
                    break;
                }
                let now = tokio::time::Instant::now();
                if now >= deadline || state.engine.is_closing() {
                    break;
                }
                tokio::select! {
                    _ = &mut notified => {}
                    _ = tokio::time::sleep(LOOK_EVERY.min(deadline - now)) => {}
                }
                current = rows(&state, &auth.env_id, &feed).await?;
            }
        }
        _ => changed = current.clone(),
    }
    let mut messages: Vec<Value> = changed
        .iter()
        .map(|(r, streams)| {
            // A single run's subscriber has its row since the snapshot; in a feed, a run
            // created since the offset is new to the subscriber.
            let operation = match (since_ms, &feed) {
                (Some(_), Selection::Run(_)) => "update",
                (Some(ms), _) if r.created_at < ms => "update",
                _ => "insert",
            };
            json!({
                "key": format!("\"public\".\"TaskRun\"/\"{}\"", r.id),
                "value": row(r, streams, legacy, &skip),
                "headers": { "operation": operation },
            })
        })
        .collect();
    messages.push(json!({ "headers": { "control": "up-to-date" } }));
    let (ms, fp) = if live && changed.is_empty() {
        since.unwrap_or_else(|| offset_of(&current))
    } else {
        offset_of(&current)
    };
    let mut resp = (StatusCode::OK, axum::Json(Value::Array(messages))).into_response();
    let h = resp.headers_mut();
    let put = |h: &mut HeaderMap, k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    // And the names of Electric clients before 1.0 (no `x-trigger-electric-version`).
    put(h, "electric-shape-id", handle.clone());
    put(h, "electric-chunk-last-offset", format!("{ms}_{fp}"));
    put(h, "electric-handle", handle);
    put(h, "electric-offset", format!("{ms}_{fp}"));
    put(h, "electric-schema", "{}".to_string());
    put(h, "electric-up-to-date", String::new());
    put(
        h,
        "electric-cursor",
        Utc::now().timestamp_millis().to_string(),
    );
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    h.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("*"),
    );
    Ok(resp)
}

/// Upstream's internal status name (§5.4), which the SDK maps back.
fn internal_status(status: RunStatus, legacy: bool) -> &'static str {
    match status {
        RunStatus::PendingVersion => "PENDING_VERSION",
        RunStatus::Delayed => "DELAYED",
        RunStatus::Queued => "PENDING",
        RunStatus::Dequeued if legacy => "EXECUTING",
        RunStatus::Dequeued => "DEQUEUED",
        RunStatus::Executing => "EXECUTING",
        RunStatus::Waiting => "WAITING_TO_RESUME",
        RunStatus::Completed => "COMPLETED_SUCCESSFULLY",
        RunStatus::Canceled => "CANCELED",
        RunStatus::Failed => "COMPLETED_WITH_ERRORS",
        RunStatus::Crashed => "CRASHED",
        RunStatus::SystemFailure => "SYSTEM_FAILURE",
        RunStatus::Expired => "EXPIRED",
        RunStatus::TimedOut => "TIMED_OUT",
    }
}

/// A timestamp as the SDK wants it: ISO 8601 without the trailing `Z`.
fn stamp(ms: Millis) -> Value {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(t) => Value::String(t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()),
        None => Value::Null,
    }
}

fn opt_stamp(ms: Option<Millis>) -> Value {
    ms.map_or(Value::Null, stamp)
}

/// A run's error as a `TaskRunError`.
fn task_run_error(text: &str) -> Value {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let message = v["message"].as_str().unwrap_or(text);
    json!({
        "type": "BUILT_IN_ERROR",
        "name": v["name"].as_str().unwrap_or("Error"),
        "message": message,
        "stackTrace": v["stackTrace"].as_str().unwrap_or(""),
    })
}

/// The row of a run (§5.4), as plain JSON values.
fn row(r: &Run, streams: &[String], legacy: bool, skip: &[String]) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(r.id));
    m.insert("friendlyId".into(), json!(r.id));
    m.insert("taskIdentifier".into(), json!(r.task_id));
    m.insert("status".into(), json!(internal_status(r.status, legacy)));
    m.insert("createdAt".into(), stamp(r.created_at));
    m.insert("updatedAt".into(), stamp(r.updated_at));
    m.insert("startedAt".into(), opt_stamp(r.started_at));
    m.insert("delayUntil".into(), opt_stamp(r.delay_until));
    m.insert("queuedAt".into(), stamp(r.created_at));
    let expired = (r.status == RunStatus::Expired)
        .then_some(r.finished_at)
        .flatten();
    m.insert("expiredAt".into(), opt_stamp(expired));
    let completed = if r.status.is_final() {
        Some(r.finished_at.unwrap_or(r.updated_at))
    } else {
        None
    };
    m.insert("completedAt".into(), opt_stamp(completed));
    m.insert("number".into(), json!(0));
    m.insert("isTest".into(), json!(r.is_test));
    m.insert("usageDurationMs".into(), json!(0));
    m.insert("costInCents".into(), json!(0));
    m.insert("baseCostInCents".into(), json!(0));
    m.insert("idempotencyKey".into(), json!(r.idempotency_key_user));
    m.insert("ttl".into(), json!(r.ttl));
    m.insert("payload".into(), json!(r.payload));
    m.insert("payloadType".into(), json!(r.payload_type));
    m.insert("output".into(), json!(r.output));
    m.insert("outputType".into(), json!(r.output_type));
    m.insert("metadata".into(), json!(r.metadata));
    m.insert("metadataType".into(), json!(r.metadata_type));
    m.insert("runTags".into(), json!(r.tags));
    m.insert(
        "error".into(),
        r.error.as_deref().map_or(Value::Null, task_run_error),
    );
    m.insert("realtimeStreams".into(), json!(streams));
    for c in skip {
        m.remove(c);
    }
    Value::Object(m)
}
