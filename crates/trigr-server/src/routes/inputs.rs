//! Input streams: `POST /realtime/v1/streams/{runId}/input/{streamId}` sends a message to a
//! run (management API, the official SDK's `streams.input(…).send`), and the worker calls an
//! `on` handler reads them with (worker protocol §7.6).

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::Value;
use trigr_engine::input_read::MAX_READ_WAIT;
use trigr_types::wire::rest::SendInputBody;
use trigr_types::wire::streams::InputSent;
use trigr_types::wire::worker::{InputAckBody, InputMessage, InputMessages, Recorded};
use trigr_types::wire::Timestamp;

use super::durable::{required_lease, wait_ms};
use super::tokens::guard_of;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Json, KeyOrToken, Unread};
use crate::AppState;

/// `POST /realtime/v1/streams/{runId}/input/{streamId}` (secret key, or a public token with
/// `write:inputStreams:<runId>`): `{"data": …, "ifVersion"?: …}` →
/// `{"ok": true, "seq": n, "runVersion": …}`.
#[utoipa::path(
    post,
    path = "/realtime/v1/streams/{run_id}/input/{stream_id}",
    tag = "realtime",
    operation_id = "sendInputStream",
    security(("secretKey" = []), ("publicAccessToken" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
        ("stream_id" = String, Path, description = "The input stream id (1-128 characters, no control characters)"),
        ("x-trigger-if-version" = Option<String>, Header, description = "A version guard (docs/versioning.md §2); must agree with ifVersion in the body"),
    ),
    request_body = SendInputBody,
    responses(
        (status = 200, description = "The message is stored", body = InputSent),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The version guard does not hold; nothing was delivered", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn send(
    State(state): State<AppState>,
    KeyOrToken(auth): KeyOrToken,
    Path((run_id, stream_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Unread,
) -> ApiResult<impl IntoResponse> {
    if !auth.allows(&[
        "write:inputStreams".to_string(),
        format!("write:inputStreams:{run_id}"),
    ]) {
        return Err(auth.forbidden(&format!("send to the input streams of run {run_id}")));
    }
    let body: SendInputBody = body.json().await?;
    let guard = guard_of(body.if_version, &headers)?;
    let sent = state
        .engine
        .send_input(&auth.env_id, &run_id, &stream_id, body.data, guard)
        .await?;
    Ok(axum::Json(InputSent {
        ok: true,
        seq: sent.seq,
        run_version: sent.run_version,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadQuery {
    lease: Option<String>,
    consumer: Option<String>,
    wait_ms: Option<String>,
}

/// `GET /api/v1/worker/runs/{runId}/input/{streamId}?lease=…&consumer=…&waitMs=…`:
/// `{"position": p, "messages": [{"seq", "data", "sentAt", "runVersion"}, …]}`.
#[utoipa::path(
    get,
    path = "/api/v1/worker/runs/{run_id}/input/{stream_id}",
    tag = "worker",
    operation_id = "readInputStream",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
        ("stream_id" = String, Path, description = "The input stream id (1-128 characters, no control characters)"),
        ("lease" = String, Query, description = "The attempt's lease"),
        ("consumer" = String, Query, description = "The consumer's name"),
        ("waitMs" = Option<u32>, Query, minimum = 0, maximum = 30000, description = "How long to wait, in milliseconds, when nothing is ready yet (0 when absent)"),
    ),
    responses(
        (status = 200, description = "Messages after the consumer's position", body = InputMessages),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The lease is no longer the run's (code `lease_lost`), or the journal disagrees (code `non_determinism`)", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn read(
    State(state): State<AppState>,
    auth: Auth,
    Path((run_id, stream_id)): Path<(String, String)>,
    Query(q): Query<ReadQuery>,
) -> ApiResult<impl IntoResponse> {
    let lease = required_lease(q.lease)?;
    let consumer = q
        .consumer
        .ok_or_else(|| ApiError::bad_request("The query parameter consumer is required"))?;
    let wait = Duration::from_millis(wait_ms(q.wait_ms.as_deref(), MAX_READ_WAIT)?);
    let read = state
        .engine
        .read_input(&auth.env_id, &run_id, &lease, &stream_id, &consumer, wait)
        .await?;
    Ok(axum::Json(InputMessages {
        position: read.position,
        messages: read.messages.iter().map(input_message).collect(),
    }))
}

/// `POST /api/v1/worker/runs/{runId}/input/{streamId}/ack`
/// `{"lease", "consumer", "seq"}` → `{"recorded": bool}`.
#[utoipa::path(
    post,
    path = "/api/v1/worker/runs/{run_id}/input/{stream_id}/ack",
    tag = "worker",
    operation_id = "ackInputStream",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
        ("stream_id" = String, Path, description = "The input stream id (1-128 characters, no control characters)"),
    ),
    request_body = InputAckBody,
    responses(
        (status = 200, description = "Whether the position moved", body = Recorded),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The lease is no longer the run's (code `lease_lost`), or the journal disagrees (code `non_determinism`)", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn ack(
    State(state): State<AppState>,
    auth: Auth,
    Path((run_id, stream_id)): Path<(String, String)>,
    Json(b): Json<InputAckBody>,
) -> ApiResult<impl IntoResponse> {
    let recorded = state
        .engine
        .ack_input(
            &auth.env_id,
            &run_id,
            &b.lease,
            &stream_id,
            &b.consumer,
            b.seq,
        )
        .await?;
    Ok(axum::Json(Recorded { recorded }))
}

/// A message as consumers see it (§7.6): the data as JSON (`null` when it is not).
fn input_message(m: &trigr_store::InputMessage) -> InputMessage {
    InputMessage {
        seq: m.seq,
        data: serde_json::from_str(&m.data).unwrap_or(Value::Null),
        sent_at: Timestamp(m.created_at),
        run_version: m.run_version.clone(),
    }
}
