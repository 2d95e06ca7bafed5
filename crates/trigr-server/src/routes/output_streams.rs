//! Output streams (reference §5.6): a task writes chunks under a stream key
//! (`PUT`/`POST`/`HEAD /realtime/v1/streams/{runId}/{target}/{key}`, `POST …/append`, fenced
//! by the writer's lease: worker protocol §7.8); clients read them as server-sent events
//! (`GET /realtime/v1/streams/{runId}/{key}`), live until the run is final, or afterwards.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use trigr_engine::output_streams::{check_key, chunk_body, Target};
use trigr_engine::Engine;
use trigr_types::wire::streams::{ChunkAppended, ChunksWritten, StreamOpened};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, StreamAuth};
use crate::AppState;

/// Header (or `lease` query parameter) carrying the writer's lease.
const LEASE_HEADER: &str = "x-trigr-lease";
/// Default and largest `Timeout-Seconds` of a read.
const DEFAULT_TIMEOUT_SECS: u64 = 60;
const MAX_TIMEOUT_SECS: u64 = 600;
/// A `: ping` comment is sent when nothing else was for this long.
const PING_EVERY: Duration = Duration::from_secs(15);

#[derive(Deserialize)]
pub struct LeaseQuery {
    lease: Option<String>,
}

/// The writer's lease: the one the request names, else (a task the Trigger.dev CLI runs,
/// whose SDK sends no lease) the lease of the CLI worker that holds the run.
async fn lease_of(
    state: &AppState,
    auth: &Auth,
    run_id: &str,
    headers: &HeaderMap,
    q: LeaseQuery,
) -> ApiResult<String> {
    let named = headers
        .get(LEASE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(q.lease)
        .filter(|l| !l.is_empty());
    if let Some(lease) = named {
        return Ok(lease);
    }
    state
        .engine
        .cli_lease(&auth.env_id, run_id)
        .await?
        .ok_or_else(|| {
            ApiError::bad_request(
                "The writer's lease is required: send it in the X-Trigr-Lease header or the lease query parameter",
            )
        })
}

/// `PUT /realtime/v1/streams/{runId}/{target}/{key}`: opens the stream (it is listed among
/// the run's `realtimeStreams` from now on) → `{"version": "v1"}`.
#[utoipa::path(
    put,
    path = "/realtime/v1/streams/{run_id}/{target}/{key}",
    tag = "realtime",
    operation_id = "openOutputStream",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
        ("target" = String, Path, description = "The run written to: `self` (or the run's own id), `parent` or `root` (or their ids)"),
        ("key" = String, Path, description = "The stream key (1-128 characters, no control characters)"),
        ("lease" = Option<String>, Query, description = "The writer's lease, when not in X-Trigr-Lease"),
        ("x-trigr-lease" = Option<String>, Header, description = "The writer's lease"),
    ),
    responses(
        (status = 200, description = "The stream is open", body = StreamOpened),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The lease is no longer the run's (code `lease_lost`), or the journal disagrees (code `non_determinism`)", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn open(
    State(state): State<AppState>,
    auth: Auth,
    Path((run_id, target, key)): Path<(String, String, String)>,
    Query(q): Query<LeaseQuery>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let lease = lease_of(&state, &auth, &run_id, &headers, q).await?;
    state
        .engine
        .open_output_stream(&auth.env_id, &run_id, &lease, Target::parse(&target), &key)
        .await?;
    Ok(axum::Json(StreamOpened {
        version: "v1".into(),
    }))
}

/// `POST /realtime/v1/streams/{runId}/{target}/{key}`: an NDJSON body, one chunk a line
/// (empty lines skipped), the first at index `X-Resume-From-Chunk` (default: the stream's
/// next index). Lines are stored as they arrive, so a body streamed while the task runs is
/// readable live. → `{"ok": true, "accepted": n, "lastChunkIndex": i}`.
#[utoipa::path(
    post,
    path = "/realtime/v1/streams/{run_id}/{target}/{key}",
    tag = "realtime",
    operation_id = "writeOutputStream",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
        ("target" = String, Path, description = "The run written to: `self` (or the run's own id), `parent` or `root` (or their ids)"),
        ("key" = String, Path, description = "The stream key (1-128 characters, no control characters)"),
        ("lease" = Option<String>, Query, description = "The writer's lease, when not in X-Trigr-Lease"),
        ("x-trigr-lease" = Option<String>, Header, description = "The writer's lease"),
        ("x-resume-from-chunk" = Option<u64>, Header, description = "The index of the body's first chunk (the stream's next index when absent)"),
    ),
    request_body(content = String, content_type = "application/x-ndjson", description = "One chunk a line (a line that is not JSON is stored as a JSON string)"),
    responses(
        (status = 200, description = "The chunks are stored", body = ChunksWritten),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The lease is no longer the run's (code `lease_lost`), or the journal disagrees (code `non_determinism`)", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn write(
    State(state): State<AppState>,
    auth: Auth,
    Path((run_id, target, key)): Path<(String, String, String)>,
    Query(q): Query<LeaseQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<impl IntoResponse> {
    let lease = lease_of(&state, &auth, &run_id, &headers, q).await?;
    check_key(&key).map_err(ApiError::from)?;
    let mut next = resume_from(&headers)?;
    let target = Target::parse(&target);
    let limit = state.engine.config().max_payload_bytes;
    let mut frames = body.into_data_stream();
    let mut buffer: Vec<u8> = Vec::new();
    let (mut accepted, mut last_index) = (0u64, None);
    let mut ended = false;
    while !ended {
        match frames.next().await {
            Some(Ok(frame)) => buffer.extend_from_slice(&frame),
            Some(Err(e)) => {
                return Err(ApiError::bad_request(format!(
                    "Could not read the request body: {e}"
                )))
            }
            None => ended = true,
        }
        let bodies = complete_lines(&mut buffer, ended, limit)?;
        if bodies.is_empty() {
            continue;
        }
        let n = bodies.len() as i64;
        let appended = state
            .engine
            .append_output(
                &auth.env_id,
                &run_id,
                &lease,
                target.clone(),
                &key,
                next,
                bodies,
            )
            .await?;
        accepted += appended.accepted;
        last_index = appended.last_index;
        next = Some(match next {
            Some(start) => start + n,
            // Written at the stream's end: it ends with this call's last chunk.
            None => appended.last_index.map_or(0, |l| l + 1),
        });
    }
    Ok(axum::Json(ChunksWritten {
        ok: true,
        accepted,
        last_chunk_index: last_index.unwrap_or(-1),
    }))
}

/// The `X-Resume-From-Chunk` header: the index of the body's first chunk, if given.
fn resume_from(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let Some(v) = headers.get("x-resume-from-chunk") else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "X-Resume-From-Chunk must be a chunk index (0 or more), got {v:?}"
            ))
        })
}

/// Takes the complete lines out of `buffer` (and the rest too once the body `ended`) as chunk
/// bodies, skipping empty lines; a line longer than `limit` is a 413.
fn complete_lines(buffer: &mut Vec<u8>, ended: bool, limit: usize) -> ApiResult<Vec<String>> {
    let mut lines = Vec::new();
    while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
        let line: Vec<u8> = buffer.drain(..=end).collect();
        lines.push(line[..line.len() - 1].to_vec());
    }
    if ended && !buffer.is_empty() {
        lines.push(std::mem::take(buffer));
    }
    if buffer.len() > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("A chunk (line) is over the limit of {limit} bytes"),
        ));
    }
    let mut bodies = Vec::new();
    for line in lines {
        let text = String::from_utf8(line).map_err(|_| {
            ApiError::bad_request("The body is not UTF-8 text: send one JSON value a line")
        })?;
        if !text.trim().is_empty() {
            bodies.push(chunk_body(&text));
        }
    }
    Ok(bodies)
}

/// `POST /realtime/v1/streams/{runId}/{target}/{key}/append`: the whole body is one chunk,
/// stored at the stream's next index → `{"ok": true, "index": i}`.
#[utoipa::path(
    post,
    path = "/realtime/v1/streams/{run_id}/{target}/{key}/append",
    tag = "realtime",
    operation_id = "appendOutputStream",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
        ("target" = String, Path, description = "The run written to: `self` (or the run's own id), `parent` or `root` (or their ids)"),
        ("key" = String, Path, description = "The stream key (1-128 characters, no control characters)"),
        ("lease" = Option<String>, Query, description = "The writer's lease, when not in X-Trigr-Lease"),
        ("x-trigr-lease" = Option<String>, Header, description = "The writer's lease"),
    ),
    request_body(content = String, content_type = "text/plain", description = "The whole body is one chunk"),
    responses(
        (status = 200, description = "The chunk is stored", body = ChunkAppended),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The lease is no longer the run's (code `lease_lost`), or the journal disagrees (code `non_determinism`)", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn append(
    State(state): State<AppState>,
    auth: Auth,
    Path((run_id, target, key)): Path<(String, String, String)>,
    Query(q): Query<LeaseQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let lease = lease_of(&state, &auth, &run_id, &headers, q).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("The body is not UTF-8 text"))?;
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "The body is empty: send the chunk to append",
        ));
    }
    let appended = state
        .engine
        .append_output(
            &auth.env_id,
            &run_id,
            &lease,
            Target::parse(&target),
            &key,
            None,
            vec![chunk_body(text)],
        )
        .await?;
    Ok(axum::Json(ChunkAppended {
        ok: true,
        index: appended.last_index,
    }))
}

/// `HEAD /realtime/v1/streams/{runId}/{target}/{key}`: `X-Last-Chunk-Index` (the stream's
/// highest index, `-1` when it has none), where a resumed writer continues.
#[utoipa::path(
    head,
    path = "/realtime/v1/streams/{run_id}/{target}/{key}",
    tag = "realtime",
    operation_id = "lastOutputChunk",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
        ("target" = String, Path, description = "The run written to: `self` (or the run's own id), `parent` or `root` (or their ids)"),
        ("key" = String, Path, description = "The stream key (1-128 characters, no control characters)"),
    ),
    responses(
        (status = 200, description = "The stream's highest index", headers(("x-last-chunk-index" = i64, description = "The highest stored index, -1 for none"))),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn last_chunk(
    State(state): State<AppState>,
    auth: Auth,
    Path((run_id, target, key)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let run_id = match Target::parse(&target) {
        Target::Own => run_id,
        Target::Run(id) => id,
        Target::Parent => {
            let r = state.engine.retrieve_run(&auth.env_id, &run_id).await?;
            r.run
                .parent_run_id
                .ok_or_else(|| ApiError::bad_request(format!("run {run_id} has no parent run")))?
        }
        Target::Root => {
            let r = state.engine.retrieve_run(&auth.env_id, &run_id).await?;
            r.run.root_run_id.unwrap_or(run_id)
        }
    };
    let last = state
        .engine
        .last_output_chunk(&auth.env_id, &run_id, &key)
        .await?;
    let mut resp = StatusCode::OK.into_response();
    resp.headers_mut()
        .insert("x-last-chunk-index", HeaderValue::from(last.unwrap_or(-1)));
    Ok(resp)
}

/// Where a read starts and how long it lasts, from its headers.
pub fn read_options(headers: &HeaderMap) -> ApiResult<(Option<i64>, bool, Duration)> {
    let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let from = match text("last-event-id") {
        None => None,
        Some(id) => {
            let seq = id.rsplit('-').next().unwrap_or(id);
            Some(
                seq.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "Last-Event-ID must be an event id of this stream (<ms>-<index>), got {id:?}"
                        ))
                    })?
                    // The chunk after the last one seen; after the largest index, none.
                    .saturating_add(1),
            )
        }
    };
    let latest = match text("x-trigger-stream-start") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("latest") => true,
        Some(v) if v.eq_ignore_ascii_case("earliest") => false,
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "X-Trigger-Stream-Start must be latest or earliest, got {v:?}"
            )))
        }
    };
    let timeout = match text("timeout-seconds") {
        None => DEFAULT_TIMEOUT_SECS,
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=MAX_TIMEOUT_SECS).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Timeout-Seconds must be a whole number from 1 to {MAX_TIMEOUT_SECS}, got {v:?}"
                ))
            })?,
    };
    Ok((from, latest, Duration::from_secs(timeout)))
}

/// `GET /realtime/v1/streams/{runId}/{key}`: the stream as server-sent events, one event a
/// chunk (`id: <ms>-<index>`, `data: <the chunk's JSON>`), `: ping` comments while nothing
/// happens; from the start, after `Last-Event-ID`, or only new chunks with
/// `X-Trigger-Stream-Start: latest`. The response ends after `Timeout-Seconds` (default 60),
/// or once the run is final and every chunk was sent (then with a `: end` comment). A public
/// token may come as `?access_token=` (a browser's `EventSource`).
#[utoipa::path(
    get,
    path = "/realtime/v1/streams/{run_id}/{target}",
    tag = "realtime",
    operation_id = "readOutputStream",
    security(("secretKey" = []), ("publicAccessToken" = []), ("accessTokenQuery" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
        ("target" = String, Path, description = "The stream key"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this chunk (`<ms>-<index>` or an index)"),
        ("X-Trigger-Stream-Start" = Option<String>, Header, description = "`latest`: only chunks written after the request; `earliest` (default): from the first"),
        ("Timeout-Seconds" = Option<u32>, Header, minimum = 1, maximum = 600, description = "End the answer after this many seconds (60 when absent)"),
    ),
    responses(
        (status = 200, description = "The chunks as server-sent events, then `: end` once the run is final", content_type = "text/event-stream", body = crate::openapi::schemas::StreamChunk),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn read(
    State(state): State<AppState>,
    StreamAuth(auth): StreamAuth,
    Path((run_id, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (from, latest, timeout) = read_options(&headers)?;
    let engine = state.engine.clone();
    let (run, _) = engine.read_output(&auth.env_id, &run_id, &key, 0).await?;
    if !auth.may_read_run(&run) {
        return Err(auth.forbidden(&format!("read the streams of run {run_id}")));
    }
    let from = match (from, latest) {
        (Some(f), _) => f,
        (None, true) => engine
            .last_output_chunk(&auth.env_id, &run_id, &key)
            .await?
            .map_or(0, |l| l + 1),
        (None, false) => 0,
    };
    let reader = Reader {
        engine,
        env_id: auth.env_id,
        run_id,
        key,
        next: from,
        signal: None,
        deadline: tokio::time::Instant::now() + timeout,
        quiet_since: None,
        done: false,
    };
    let events = futures::stream::unfold(reader, |mut r| async move {
        let bytes = r.next_event().await?;
        Some((Ok::<_, std::convert::Infallible>(Bytes::from(bytes)), r))
    });
    let mut resp = Response::new(Body::from_stream(events));
    let h = resp.headers_mut();
    h.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(resp)
}

/// One live read of a stream.
struct Reader {
    engine: Engine,
    env_id: String,
    run_id: String,
    key: String,
    /// The next chunk index to send.
    next: i64,
    /// Rung when chunks are added to the run's streams.
    signal: Option<std::sync::Arc<tokio::sync::Notify>>,
    deadline: tokio::time::Instant,
    /// Since when nothing was sent (`None` before the first event: a ping goes first, so the
    /// client knows it is connected).
    quiet_since: Option<tokio::time::Instant>,
    done: bool,
}

impl Reader {
    /// The next piece of the response, or `None` to end it.
    async fn next_event(&mut self) -> Option<String> {
        if self.done {
            return None;
        }
        if self.quiet_since.is_none() {
            self.quiet_since = Some(tokio::time::Instant::now());
            return Some(": ping\n\n".to_string());
        }
        let signal = self
            .signal
            .get_or_insert_with(|| self.engine.output_signal(&self.run_id))
            .clone();
        loop {
            // Enabled before the read, so a chunk stored after it wakes the wait below.
            let notified = signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let page = self
                .engine
                .read_output(&self.env_id, &self.run_id, &self.key, self.next)
                .await;
            let (_, page) = match page {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!("reading output stream {} failed: {e}", self.key);
                    self.done = true;
                    return None;
                }
            };
            let now = tokio::time::Instant::now();
            if !page.chunks.is_empty() {
                let mut out = String::new();
                for c in &page.chunks {
                    out.push_str(&format!(
                        "id: {}-{}\ndata: {}\n\n",
                        c.created_at, c.index, c.body
                    ));
                    self.next = c.index + 1;
                }
                self.quiet_since = Some(now);
                return Some(out);
            }
            if page.run_final {
                self.done = true;
                return Some(": end\n\n".to_string());
            }
            if now >= self.deadline || self.engine.is_closing() {
                self.done = true;
                return None;
            }
            let quiet_since = self.quiet_since.unwrap_or(now);
            if now >= quiet_since + PING_EVERY {
                self.quiet_since = Some(now);
                return Some(": ping\n\n".to_string());
            }
            // The poll interval at most: for writers on other servers, and the run's end.
            let wait = (self.deadline - now)
                .min(quiet_since + PING_EVERY - now)
                .min(self.engine.config().poll_interval);
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        drop(self.signal.take());
        self.engine.release_output_signal(&self.run_id);
    }
}
