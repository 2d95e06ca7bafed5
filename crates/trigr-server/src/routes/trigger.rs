use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{json, Value};
use trigr_engine::trigger::{prepare, TriggerOptions};

use crate::error::ApiResult;
use crate::extract::{Json, KeyOrToken};
use crate::{jwt, AppState};

#[derive(Deserialize)]
pub struct TriggerBody {
    #[serde(default)]
    payload: Option<Value>,
    #[serde(default)]
    options: Option<TriggerOptions>,
}

/// `POST /api/v1/tasks/{taskId}/trigger`.
pub async fn trigger(
    State(state): State<AppState>,
    KeyOrToken(auth): KeyOrToken,
    Path(task_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<TriggerBody>,
) -> ApiResult<impl IntoResponse> {
    if !auth.allows(&[
        "trigger:tasks".to_string(),
        format!("trigger:tasks:{task_id}"),
    ]) {
        return Err(auth.forbidden(&format!("trigger task {task_id}")));
    }
    let engine = &state.engine;
    let mut options = body.options.unwrap_or_default();
    let payload = engine
        .resolve_payload(&auth.env_id, body.payload, &mut options)
        .await?;
    let mut new = prepare(&task_id, payload, options, engine.config.max_payload_bytes)?;
    new.request_key = headers
        .get("x-trigger-request-idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= 256)
        .map(str::to_string);
    let t = engine.trigger(&auth.env_id, new).await?;
    let id = t.run.id.clone();
    let scopes = vec![
        format!("read:runs:{id}"),
        format!("write:inputStreams:{id}"),
    ];
    let mut body = json!({ "id": id, "isCached": t.is_cached });
    if let Some(v) = &t.run.version {
        body["version"] = json!(v);
    }
    Ok((
        jwt::headers(&auth, scopes, engine.now() / 1000),
        axum::Json(body),
    ))
}
