use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use std::sync::Arc;

use trigr_engine::trigger::{prepare, ReuseCheck};
use trigr_types::trace::TraceParent;
use trigr_types::wire::rest::TriggerBody;
use trigr_types::wire::runs::Triggered;
use trigr_types::wire::trigger::TriggerOptions;

use crate::error::ApiResult;
use crate::extract::{Auth, KeyOrToken, Unread};
use crate::{jwt, AppState};

/// `POST /api/v1/tasks/{taskId}/trigger`.
#[utoipa::path(
    post,
    path = "/api/v1/tasks/{task_id}/trigger",
    tag = "runs",
    operation_id = "triggerTask",
    security(("secretKey" = []), ("publicAccessToken" = [])),
    params(
        ("task_id" = String, Path, description = "The task id"),
        ("x-trigger-request-idempotency-key" = Option<String>, Header, description = "The same key (1-256 characters) on a retried request answers the run the first one created"),
        ("traceparent" = Option<String>, Header, description = "W3C trace context: the run's trace becomes a child of this span (an invalid value is ignored)"),
    ),
    request_body = TriggerBody,
    responses(
        (status = 200, description = "The run (a new one, or the one an idempotency key names)", body = Triggered, headers(("x-trigger-jwt" = String, description = "A public access token for what was created"))),
        (status = 404, description = "The current deployment does not declare the task, or the parent run does not exist", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The idempotency key belongs to a run of another task, or to one this token may not read", body = crate::openapi::schemas::ErrorBody),
        (status = 422, description = "The payload does not match the task's schema, or lockToVersion names no deployment", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn trigger(
    State(state): State<AppState>,
    KeyOrToken(auth): KeyOrToken,
    Path(task_id): Path<String>,
    headers: HeaderMap,
    body: Unread,
) -> ApiResult<impl IntoResponse> {
    if !auth.allows(&[
        "trigger:tasks".to_string(),
        format!("trigger:tasks:{task_id}"),
    ]) {
        return Err(auth.forbidden(&format!("trigger task {task_id}")));
    }
    let _admitted = state.engine.admit_trigger(&auth.env_id).await;
    let body: TriggerBody = body.json().await?;
    let engine = &state.engine;
    let mut options = body.options.unwrap_or_default();
    check_parent(&auth, &options)?;
    let payload = engine
        .resolve_payload(&auth.env_id, body.payload, &mut options.payload_type)
        .await?;
    let max_payload = engine.config().max_payload_bytes;
    let and_wait = options.resume_parent_on_completion == Some(true);
    let mut new = prepare(&task_id, payload, options, max_payload, engine.now())?;
    new.request_key = headers
        .get("x-trigger-request-idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= 256)
        .map(str::to_string);
    new.reuse = reuse_check(&auth);
    new.trace = trace_parent(&headers);
    // A task the Trigger.dev CLI runs waits for its child (`triggerAndWait`).
    let waited = match and_wait {
        true => {
            engine
                .dev_trigger_and_wait(&auth.env_id, new.clone())
                .await?
        }
        false => None,
    };
    let t = match waited {
        Some(run) => trigr_engine::trigger::Triggered {
            run,
            is_cached: false,
        },
        None => engine.trigger(&auth.env_id, new).await?,
    };
    let id = t.run.id.clone();
    crate::middleware::access_log::record_run(&id);
    let scopes = vec![
        format!("read:runs:{id}"),
        format!("write:inputStreams:{id}"),
    ];
    let body = Triggered {
        id,
        is_cached: t.is_cached,
        version: t.run.version,
    };
    Ok((
        jwt::headers(&auth, scopes, engine.now() / 1000),
        axum::Json(body),
    ))
}

/// The caller's trace from a `traceparent` header; an invalid one is ignored (W3C Trace
/// Context), never refused.
pub(super) fn trace_parent(headers: &HeaderMap) -> Option<TraceParent> {
    TraceParent::parse(headers.get("traceparent")?.to_str().ok()?)
}

/// A public access token may make a run the child of another only if it may write that run
/// (`write:runs` or `write:runs:{id}`); a secret key may always.
pub(super) fn check_parent(auth: &Auth, options: &TriggerOptions) -> ApiResult<()> {
    let Some(parent) = &options.parent_run_id else {
        return Ok(());
    };
    if auth.allows(&["write:runs".to_string(), format!("write:runs:{parent}")]) {
        Ok(())
    } else {
        Err(auth.forbidden(&format!("trigger a child of run {parent}")))
    }
}

/// For a public access token, the runs it may be answered with when a key matches an
/// existing run: those it may read.
pub(super) fn reuse_check(auth: &Auth) -> Option<ReuseCheck> {
    auth.scopes.as_ref()?;
    let auth = auth.clone();
    Some(ReuseCheck(Arc::new(move |run| auth.may_read_run(run))))
}
