use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use futures::StreamExt;
use trigr_engine::batch::{self, ItemRun, MAX_ITEMS};
use trigr_engine::batch_cancel::BatchCancel;
use trigr_engine::cancel::CancelReason;
use trigr_types::wire::batches::{
    Batch, BatchCancelBody, BatchCanceled, BatchCreated, BatchErrorGroup, BatchItemRun,
    BatchItemsAccepted, BatchProcessing, BatchStatistics,
};
use trigr_types::wire::rest::{BatchItem, CreateBatch};
use trigr_types::wire::Timestamp;
use trigr_types::RunStatus;

use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_json, Auth, Json, KeyOrToken, Unread};
use crate::{jwt, AppState};

/// `POST /api/v3/batches`: phase 1 of a batch trigger.
#[utoipa::path(
    post,
    path = "/api/v3/batches",
    tag = "batches",
    operation_id = "createBatch",
    security(("secretKey" = []), ("publicAccessToken" = [])),
    request_body = CreateBatch,
    responses(
        (status = 202, description = "A new batch: send its items next", body = BatchCreated, headers(("x-trigger-jwt" = String, description = "A public access token for what was created"))),
        (status = 200, description = "The batch the idempotency key names", body = BatchCreated, headers(("x-trigger-jwt" = String, description = "A public access token for what was created"))),
        (status = 409, description = "The idempotency key is held by a batch this token may not read", body = crate::openapi::schemas::ErrorBody),
        (status = 422, description = "The batch cannot be made as asked (runCount out of range, …)", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    KeyOrToken(auth): KeyOrToken,
    body: Unread,
) -> ApiResult<impl IntoResponse> {
    if !may_batch_trigger_any(&auth) {
        return Err(auth.forbidden("batch-trigger tasks"));
    }
    let body: CreateBatch = body.json().await?;
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
    let new = batch::check(body)?;
    let (batch, cached) = state.engine.create_batch(&auth.env_id, new).await?;
    if cached && !auth.allows(&["read:runs".to_string(), format!("read:batch:{}", batch.id)]) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "The idempotencyKey is held by a batch this token may not read; use a new key",
        ));
    }
    let out = BatchCreated {
        id: batch.id.clone(),
        run_count: batch.run_count,
        is_cached: cached,
        idempotency_key: batch
            .idempotency_key_user
            .clone()
            .or(batch.idempotency_key.clone()),
    };
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
///
/// The caller is authorised before the body is read, and the body is read a line at a time
/// with its limits checked as it arrives: a line over [`line_limit`], more than
/// [`MAX_ITEMS`] items or more than [`BATCH_ITEMS_LIMIT`] bytes are refused at once, and so
/// is the first item of a task the token may not trigger.
#[utoipa::path(
    post,
    path = "/api/v3/batches/{batch_id}/items",
    tag = "batches",
    operation_id = "addBatchItems",
    security(("secretKey" = []), ("publicAccessToken" = [])),
    params(
        ("batch_id" = String, Path, description = "The batch id (`batch_…`)"),
        ("traceparent" = Option<String>, Header, description = "W3C trace context: the runs' traces become children of this span (an invalid value is ignored)"),
    ),
    request_body(content = BatchItem, content_type = "application/x-ndjson", description = "One BatchItem a line (NDJSON), at most 1,000 items"),
    responses(
        (status = 200, description = "The items were accepted", body = BatchItemsAccepted),
        (status = 404, description = "No such batch, or an item names a task the current deployment does not declare", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "An item's idempotency key is held by a run of another task or one this token may not read", body = crate::openapi::schemas::ErrorBody),
        (status = 415, description = "The body is not application/x-ndjson", body = crate::openapi::schemas::ErrorBody),
        (status = 422, description = "An item cannot be triggered (index out of range, payload schema, …)", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn items(
    State(state): State<AppState>,
    KeyOrToken(auth): KeyOrToken,
    Path(batch_id): Path<String>,
    req: Request,
) -> ApiResult<impl IntoResponse> {
    check_ndjson(&req)?;
    let trace = super::trigger::trace_parent(req.headers());
    if !may_batch_trigger_any(&auth) {
        return Err(auth.forbidden("batch-trigger tasks"));
    }
    let _admitted = state.engine.admit_trigger(&auth.env_id).await;
    let limits = ItemLimits {
        line: line_limit(state.engine.config().max_payload_bytes),
        total: BATCH_ITEMS_LIMIT,
    };
    let items = read_items(req.into_body(), &limits, |it| {
        trigr_engine::trigger::refuse_unsupported(&it.options)?;
        super::trigger::check_parent(&auth, &it.options)?;
        if may_batch_trigger(&auth, &it.task) {
            Ok(())
        } else {
            Err(auth.forbidden(&format!(
                "batch-trigger task {} (item {})",
                it.task, it.index
            )))
        }
    })
    .await?;
    let reuse = super::trigger::reuse_check(&auth);
    let mut items = state
        .engine
        .check_batch_items(&auth.env_id, items, reuse)
        .await;
    for run in items.iter_mut().filter_map(|it| it.run.as_mut().ok()) {
        run.trace = trace.clone();
    }
    let r = state
        .engine
        .add_batch_items(&auth.env_id, &batch_id, items)
        .await?;
    Ok(axum::Json(BatchItemsAccepted {
        id: r.batch_id,
        items_accepted: r.accepted,
        items_deduplicated: r.deduplicated,
        sealed: r.sealed,
        // A trigr addition: the runs of the items this call accepted, with their versions.
        items: items_view(&r.items),
        enqueued_count: (!r.sealed).then_some(r.enqueued),
        expected_count: (!r.sealed).then_some(r.expected),
    }))
}

/// Most bytes of one items call: a batch's items may come in several calls.
pub const BATCH_ITEMS_LIMIT: usize = 256 * 1024 * 1024;

/// Most bytes of one NDJSON line: a payload at the server's limit and room for its options.
pub fn line_limit(max_payload_bytes: usize) -> usize {
    max_payload_bytes + 1024 * 1024
}

/// The bounds an items body is read within.
pub struct ItemLimits {
    pub line: usize,
    pub total: usize,
}

fn check_ndjson(req: &Request) -> ApiResult<()> {
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ctype
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/x-ndjson" || mime == "application/ndjson" {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("Batch items must be sent as application/x-ndjson, not '{ctype}'"),
    ))
}

/// Reads the NDJSON items of `body` as they arrive, checking each with `admit`.
async fn read_items(
    body: Body,
    limits: &ItemLimits,
    mut admit: impl FnMut(&BatchItem) -> ApiResult<()>,
) -> ApiResult<Vec<BatchItem>> {
    let mut lines = NdjsonLines::new(limits);
    let mut items = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request(format!("Could not read the request body: {e}")))?;
        for item in lines.push(&chunk)? {
            admit(&item)?;
            items.push(item);
        }
    }
    if let Some(item) = lines.finish()? {
        admit(&item)?;
        items.push(item);
    }
    Ok(items)
}

/// Splits NDJSON into items within [`ItemLimits`]: the incomplete last line is the only
/// thing kept unparsed, it never grows past the line limit, and parsing stops at the item
/// after [`MAX_ITEMS`].
pub struct NdjsonLines<'a> {
    limits: &'a ItemLimits,
    partial: Vec<u8>,
    /// Bytes taken so far.
    read: usize,
    /// Lines seen so far, blank ones too (for error messages).
    line_no: usize,
    /// Items parsed so far.
    count: usize,
}

impl<'a> NdjsonLines<'a> {
    pub fn new(limits: &'a ItemLimits) -> NdjsonLines<'a> {
        NdjsonLines {
            limits,
            partial: Vec::new(),
            read: 0,
            line_no: 0,
            count: 0,
        }
    }

    /// Takes the next chunk of the body; returns the items its complete lines hold.
    pub fn push(&mut self, chunk: &[u8]) -> ApiResult<Vec<BatchItem>> {
        self.read += chunk.len();
        if self.read > self.limits.total {
            return Err(too_large(format!(
                "The NDJSON body is over the limit of {} bytes for one call; send the items in several calls",
                self.limits.total
            )));
        }
        let mut out = Vec::new();
        let mut rest = chunk;
        while let Some(end) = memchr::memchr(b'\n', rest) {
            // A line wholly inside this chunk is parsed where it is; only a line that began
            // in an earlier chunk was kept, and is completed first.
            let item = if self.partial.is_empty() {
                self.check_line_length(end)?;
                self.parse_line(&rest[..end])?
            } else {
                self.extend_partial(&rest[..end])?;
                let line = std::mem::take(&mut self.partial);
                self.parse_line(&line)?
            };
            out.extend(item);
            rest = &rest[end + 1..];
        }
        self.extend_partial(rest)?;
        Ok(out)
    }

    /// The item of the last line, when the body does not end with a newline.
    pub fn finish(&mut self) -> ApiResult<Option<BatchItem>> {
        let line = std::mem::take(&mut self.partial);
        self.parse_line(&line)
    }

    fn extend_partial(&mut self, bytes: &[u8]) -> ApiResult<()> {
        self.check_line_length(self.partial.len() + bytes.len())?;
        self.partial.extend_from_slice(bytes);
        Ok(())
    }

    /// Refuses the line being read once it is `len` bytes, over the line limit.
    fn check_line_length(&self, len: usize) -> ApiResult<()> {
        if len > self.limits.line {
            return Err(too_large(format!(
                "Line {} of the NDJSON body is over the limit of {} bytes",
                self.line_no + 1,
                self.limits.line
            )));
        }
        Ok(())
    }

    fn parse_line(&mut self, line: &[u8]) -> ApiResult<Option<BatchItem>> {
        self.line_no += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        if self.count >= MAX_ITEMS as usize {
            return Err(too_large(format!(
                "The NDJSON body has more than {MAX_ITEMS} items, the most a batch can have"
            )));
        }
        let n = self.line_no;
        self.count += 1;
        // The JSON parser refuses invalid UTF-8 itself.
        parse_json::<BatchItem>(line).map(Some).map_err(|e| {
            ApiError::bad_request(format!(
                "Line {n} of the NDJSON body is not a valid batch item: {}",
                e.message
            ))
        })
    }
}

fn too_large(message: String) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message)
}

/// Each item's run, and the version the run is locked to (`null` while it has none).
fn items_view(items: &[ItemRun]) -> Vec<BatchItemRun> {
    items
        .iter()
        .map(|it| BatchItemRun {
            index: it.index,
            run_id: it.run_id.clone(),
            version: it.version.clone(),
        })
        .collect()
}

/// Whether the credential may batch-trigger some task: checked before an items body is read.
fn may_batch_trigger_any(auth: &Auth) -> bool {
    match &auth.scopes {
        None => true,
        Some(scopes) => scopes.iter().any(|s| {
            s == "admin"
                || ["batchTrigger:tasks", "trigger:tasks"]
                    .iter()
                    .any(|p| s == p || s.starts_with(&format!("{p}:")))
        }),
    }
}

fn may_batch_trigger(auth: &Auth, task: &str) -> bool {
    auth.allows(&[
        "batchTrigger:tasks".to_string(),
        format!("batchTrigger:tasks:{task}"),
        "trigger:tasks".to_string(),
        format!("trigger:tasks:{task}"),
    ])
}

/// `GET /api/v2/batches/{id}`.
#[utoipa::path(
    get,
    path = "/api/v2/batches/{batch_id}",
    tag = "batches",
    operation_id = "retrieveBatch",
    security(("secretKey" = []), ("publicAccessToken" = [])),
    params(
        ("batch_id" = String, Path, description = "The batch id (`batch_…`)"),
    ),
    responses(
        (status = 200, description = "The batch", body = Batch),
        (status = 404, description = "No such batch", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn retrieve(
    State(state): State<AppState>,
    KeyOrToken(auth): KeyOrToken,
    Path(batch_id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    may_read(&auth, &batch_id)?;
    let v = state.engine.retrieve_batch(&auth.env_id, &batch_id).await?;
    let completed_at = v.runs.iter().filter_map(|r| r.finished_at).max();
    let processing = BatchProcessing {
        errors: Vec::new(),
        completed_at: completed_at
            .filter(|_| matches!(v.status, "COMPLETED" | "PARTIAL_FAILED"))
            .map(Timestamp),
    };
    Ok(axum::Json(Batch {
        id: v.batch.id.clone(),
        status: v.status.to_string(),
        created_at: Timestamp(v.batch.created_at),
        updated_at: Timestamp(v.batch.updated_at),
        run_count: v.batch.run_count,
        runs: v.runs.iter().map(|r| r.id.clone()).collect(),
        // A trigr addition: each item's run and the version it is locked to.
        items: items_view(&v.items()),
        processing,
        idempotency_key: v
            .batch
            .idempotency_key_user
            .clone()
            .or(v.batch.idempotency_key.clone()),
        total_runs: v.runs.len() as i64,
        completed_runs: count(&v.runs, |s| s == RunStatus::Completed),
        failed_runs: count(&v.runs, |s| s.is_final() && s != RunStatus::Completed),
        running_runs: count(&v.runs, |s| {
            matches!(
                s,
                RunStatus::Dequeued | RunStatus::Executing | RunStatus::Waiting
            )
        }),
    }))
}

/// Whether the credential may read the batch: a secret key, or a token with `read:runs` or
/// `read:batch:<id>`.
fn may_read(auth: &Auth, batch_id: &str) -> ApiResult<()> {
    if auth.allows(&["read:runs".to_string(), format!("read:batch:{batch_id}")]) {
        return Ok(());
    }
    Err(auth.forbidden(&format!("read batch {batch_id}")))
}

fn count(runs: &[trigr_store::Run], pick: impl Fn(RunStatus) -> bool) -> i64 {
    runs.iter().filter(|r| pick(r.status)).count() as i64
}

/// `POST /api/v1/batches/{id}/cancel`: cancels the batch's unfinished runs, those not started
/// (`cancelPending`), those started (`cancelRunning`), or both.
#[utoipa::path(
    post,
    path = "/api/v1/batches/{batch_id}/cancel",
    tag = "batches",
    operation_id = "cancelBatch",
    security(("secretKey" = [])),
    params(
        ("batch_id" = String, Path, description = "The batch id (`batch_…`)"),
    ),
    request_body = BatchCancelBody,
    responses(
        (status = 200, description = "What was cancelled", body = BatchCanceled),
        (status = 400, description = "The body is invalid", body = crate::openapi::schemas::ErrorBody),
        (status = 404, description = "No such batch", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn cancel(
    State(state): State<AppState>,
    auth: Auth,
    Path(batch_id): Path<String>,
    Json(b): Json<BatchCancelBody>,
) -> ApiResult<impl IntoResponse> {
    let which = BatchCancel {
        pending: b.cancel_pending,
        running: b.cancel_running,
    };
    let reason = b.reason.as_deref().map(CancelReason::new).transpose()?;
    let done = state
        .engine
        .cancel_batch(&auth.env_id, &batch_id, which, reason.as_ref())
        .await?;
    Ok(axum::Json(BatchCanceled {
        id: batch_id,
        canceled: done.canceled,
        skipped: done.skipped as u64,
    }))
}

/// `GET /api/v1/batches/{id}/statistics`: how the batch's runs went.
#[utoipa::path(
    get,
    path = "/api/v1/batches/{batch_id}/statistics",
    tag = "batches",
    operation_id = "batchStatistics",
    security(("secretKey" = []), ("publicAccessToken" = [])),
    params(
        ("batch_id" = String, Path, description = "The batch id (`batch_…`)"),
    ),
    responses(
        (status = 200, description = "Counts by outcome, mean duration, success rate and the errors grouped", body = BatchStatistics),
        (status = 404, description = "No such batch", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn statistics(
    State(state): State<AppState>,
    KeyOrToken(auth): KeyOrToken,
    Path(batch_id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    may_read(&auth, &batch_id)?;
    let s = state
        .engine
        .batch_statistics(&auth.env_id, &batch_id)
        .await?;
    Ok(axum::Json(BatchStatistics {
        id: s.batch_id,
        status: s.status.to_string(),
        total_runs: s.total_runs,
        pending_runs: s.pending_runs,
        running_runs: s.running_runs,
        completed_runs: s.completed_runs,
        failed_runs: s.failed_runs,
        canceled_runs: s.canceled_runs,
        average_duration: s.average_duration_ms,
        success_rate: s.success_rate,
        error_breakdown: s
            .error_breakdown
            .into_iter()
            .map(|g| BatchErrorGroup {
                name: g.name,
                code: g.code,
                count: g.count,
            })
            .collect(),
    }))
}
