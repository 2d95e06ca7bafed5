use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use serde_json::{json, Value};
use trigr_engine::batch::{BatchItem, CreateBatch, ItemRun};
use trigr_types::format_time;

use crate::error::{ApiError, ApiResult};
use crate::extract::{body_bytes, Auth, Json, KeyOrToken};
use crate::{jwt, AppState};

/// `POST /api/v3/batches`: phase 1 of a batch trigger.
pub async fn create(
    State(state): State<AppState>,
    KeyOrToken(auth): KeyOrToken,
    Json(body): Json<CreateBatch>,
) -> ApiResult<impl IntoResponse> {
    if auth.scopes.is_some() {
        if body.task_identifiers.is_empty() {
            return Err(
                auth.forbidden("trigger a batch without naming its tasks (taskIdentifiers)")
            );
        }
        if let Some(t) = body
            .task_identifiers
            .iter()
            .find(|t| !may_batch_trigger(&auth, t))
        {
            return Err(auth.forbidden(&format!("batch-trigger task {t}")));
        }
    }
    let (batch, cached) = state.engine.create_batch(&auth.env_id, body).await?;
    let mut out = json!({ "id": batch.id, "runCount": batch.run_count, "isCached": cached });
    if let Some(k) = batch
        .idempotency_key_user
        .clone()
        .or(batch.idempotency_key.clone())
    {
        out["idempotencyKey"] = json!(k);
    }
    let status = if cached {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let headers = jwt::headers(
        &auth,
        vec![format!("read:batch:{}", batch.id)],
        state.engine.now() / 1000,
    );
    Ok((status, headers, axum::Json(out)))
}

/// `POST /api/v3/batches/{id}/items`: phase 2, an NDJSON stream of items.
pub async fn items(
    State(state): State<AppState>,
    KeyOrToken(auth): KeyOrToken,
    Path(batch_id): Path<String>,
    req: Request,
) -> ApiResult<impl IntoResponse> {
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mime = ctype
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "application/x-ndjson" && mime != "application/ndjson" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Batch items must be sent as application/x-ndjson, not '{ctype}'"),
        ));
    }
    let bytes = body_bytes(req, &state).await?;
    let items = parse_items(&bytes)?;
    if let Some(it) = items.iter().find(|it| !may_batch_trigger(&auth, &it.task)) {
        return Err(auth.forbidden(&format!(
            "batch-trigger task {} (item {})",
            it.task, it.index
        )));
    }
    let r = state
        .engine
        .add_batch_items(&auth.env_id, &batch_id, items)
        .await?;
    let mut out = json!({
        "id": r.batch_id,
        "itemsAccepted": r.accepted,
        "itemsDeduplicated": r.deduplicated,
        "sealed": r.sealed,
        // A trigr addition: the runs of the items this call accepted, with their versions.
        "items": items_view(&r.items),
    });
    if !r.sealed {
        out["enqueuedCount"] = json!(r.enqueued);
        out["expectedCount"] = json!(r.expected);
    }
    Ok(axum::Json(out))
}

/// `[{"index", "runId", "version"}]`, `version` null while the run has none.
fn items_view(items: &[ItemRun]) -> Value {
    items
        .iter()
        .map(|it| json!({ "index": it.index, "runId": it.run_id, "version": it.version }))
        .collect()
}

fn may_batch_trigger(auth: &Auth, task: &str) -> bool {
    auth.allows(&[
        "batchTrigger:tasks".to_string(),
        format!("batchTrigger:tasks:{task}"),
        "trigger:tasks".to_string(),
        format!("trigger:tasks:{task}"),
    ])
}

fn parse_items(bytes: &[u8]) -> ApiResult<Vec<BatchItem>> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiError::bad_request("The NDJSON body is not valid UTF-8"))?;
    let mut items = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let item: BatchItem = serde_json::from_str(line).map_err(|e| {
            ApiError::bad_request(format!(
                "Line {} of the NDJSON body is not a valid batch item: {e}",
                n + 1
            ))
        })?;
        items.push(item);
    }
    Ok(items)
}

/// `GET /api/v2/batches/{id}`.
pub async fn retrieve(
    State(state): State<AppState>,
    KeyOrToken(auth): KeyOrToken,
    Path(batch_id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    if !auth.allows(&["read:runs".to_string(), format!("read:batch:{batch_id}")]) {
        return Err(auth.forbidden(&format!("read batch {batch_id}")));
    }
    let v = state.engine.retrieve_batch(&auth.env_id, &batch_id).await?;
    let completed_at = v.runs.iter().filter_map(|r| r.finished_at).max();
    let mut processing = json!({ "errors": [] });
    if matches!(v.status, "COMPLETED" | "PARTIAL_FAILED") {
        if let Some(t) = completed_at {
            processing["completedAt"] = json!(format_time(t));
        }
    }
    let mut out = json!({
        "id": v.batch.id,
        "status": v.status,
        "createdAt": format_time(v.batch.created_at),
        "updatedAt": format_time(v.batch.updated_at),
        "runCount": v.batch.run_count,
        "runs": v.runs.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        // A trigr addition: each item's run and the version it is locked to.
        "items": items_view(&v.items()),
        "processing": processing,
    });
    if let Some(k) = v
        .batch
        .idempotency_key_user
        .clone()
        .or(v.batch.idempotency_key.clone())
    {
        out["idempotencyKey"] = json!(k);
    }
    Ok(axum::Json(out))
}
