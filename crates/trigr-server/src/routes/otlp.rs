//! OTLP/HTTP JSON intake (`POST /otel/v1/traces`, `/otel/v1/logs`, `/otel/v1/metrics`): what a
//! run's code exports itself. Spans become run spans and log records run logs, keyed by the
//! run id attribute (`ctx.run.id`, which the official Trigger.dev SDK sets, or
//! `trigr.run_id`) of the item, its scope or its resource. Items naming no run of the key's
//! environment are dropped and counted in the answer's `partialSuccess`. Metrics are counted
//! and not kept.
//!
//! Authorised by the environment's secret key before the body is read; the body is bounded
//! like every other JSON body. Only JSON is read: protobuf is refused with 415.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use serde_json::Value;

use trigr_engine::logs::LogLine;
use trigr_engine::spans::{check_attributes, check_message, NewSpan, MAX_NAME_BYTES};
use trigr_types::trace;
use trigr_types::wire::otlp::{
    any_value_text, attribute, attributes_json, ExportAnswer, KeyValue, LogRecord, LogsRequest,
    PartialSuccess, Span, TracesRequest,
};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Unread};
use crate::{telemetry, AppState};

/// The attributes naming a run, first found first: the Trigger.dev SDK 4.x puts the run id of
/// its spans and log records in `$metadata.ctx.run.id` (its metric points keep `ctx.run.id`).
pub const RUN_ID_KEYS: [&str; 3] = ["ctx.run.id", "$metadata.ctx.run.id", "trigr.run_id"];
/// Most spans, log records or metric data points in one export.
pub const MAX_ITEMS: usize = 5_000;

/// `POST /otel/v1/traces`.
#[utoipa::path(
    post,
    path = "/otel/v1/traces",
    tag = "otel",
    operation_id = "otlpTraces",
    security(("secretKey" = [])),
    request_body(content = Object, content_type = "application/json", description = "An OTLP ExportTraceServiceRequest in the OTLP JSON encoding"),
    responses(
        (status = 200, description = "Spans naming a run of this environment are kept with it; the others are counted in partialSuccess.rejectedSpans", body = ExportAnswer),
        (status = 400, description = "The body is not an OTLP JSON export", body = crate::openapi::schemas::ErrorBody),
        (status = 415, description = "The body is not application/json", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn traces(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Unread,
) -> ApiResult<axum::Json<ExportAnswer>> {
    take_traces(&state, &auth.env_id, &headers, body).await
}

async fn take_traces(
    state: &AppState,
    env_id: &str,
    headers: &HeaderMap,
    body: Unread,
) -> ApiResult<axum::Json<ExportAnswer>> {
    check_json(headers)?;
    let req: TracesRequest = body.json().await?;
    let (spans, mut rejected) = run_spans(req)?;
    let r = state.engine.ingest_spans(env_id, spans).await?;
    telemetry::export_run_spans(&r.stored);
    rejected += r.dropped;
    Ok(axum::Json(answer(
        rejected,
        |n| PartialSuccess {
            rejected_spans: Some(n),
            ..Default::default()
        },
        "spans",
    )))
}

/// `POST /otel/v1/logs`.
#[utoipa::path(
    post,
    path = "/otel/v1/logs",
    tag = "otel",
    operation_id = "otlpLogs",
    security(("secretKey" = [])),
    request_body(content = Object, content_type = "application/json", description = "An OTLP ExportLogsServiceRequest in the OTLP JSON encoding"),
    responses(
        (status = 200, description = "Log records naming a run of this environment are added to its logs; the others are counted in partialSuccess.rejectedLogRecords", body = ExportAnswer),
        (status = 400, description = "The body is not an OTLP JSON export", body = crate::openapi::schemas::ErrorBody),
        (status = 415, description = "The body is not application/json", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn logs(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Unread,
) -> ApiResult<axum::Json<ExportAnswer>> {
    take_logs(&state, &auth.env_id, &headers, body).await
}

async fn take_logs(
    state: &AppState,
    env_id: &str,
    headers: &HeaderMap,
    body: Unread,
) -> ApiResult<axum::Json<ExportAnswer>> {
    check_json(headers)?;
    let req: LogsRequest = body.json().await?;
    let (lines, mut rejected) = run_logs(req)?;
    rejected += state.engine.ingest_logs(env_id, lines).await?;
    Ok(axum::Json(answer(
        rejected,
        |n| PartialSuccess {
            rejected_log_records: Some(n),
            ..Default::default()
        },
        "log records",
    )))
}

/// `POST /otel/v1/metrics`: accepted and counted, not kept.
#[utoipa::path(
    post,
    path = "/otel/v1/metrics",
    tag = "otel",
    operation_id = "otlpMetrics",
    security(("secretKey" = [])),
    request_body(content = Object, content_type = "application/json", description = "An OTLP ExportMetricsServiceRequest in the OTLP JSON encoding"),
    responses(
        (status = 200, description = "The metrics were accepted (trigr counts their data points and does not keep them)", body = ExportAnswer),
        (status = 400, description = "The body is not an OTLP JSON export", body = crate::openapi::schemas::ErrorBody),
        (status = 415, description = "The body is not application/json", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn metrics(
    auth: Auth,
    headers: HeaderMap,
    body: Unread,
) -> ApiResult<axum::Json<ExportAnswer>> {
    take_metrics(&auth.env_id, &headers, body).await
}

async fn take_metrics(
    env_id: &str,
    headers: &HeaderMap,
    body: Unread,
) -> ApiResult<axum::Json<ExportAnswer>> {
    check_json(headers)?;
    let req: Value = body.json().await?;
    let points = data_points(&req);
    if points > MAX_ITEMS {
        return Err(too_many("metric data points", points));
    }
    tracing::debug!(env = %env_id, points, "OTLP metrics received and not kept");
    Ok(axum::Json(ExportAnswer::default()))
}

/// The path token of an environment's OTLP endpoint (`/otel/env/{token}`): the environment's
/// id and an HMAC of it under the environment's signing secret. The task processes of the
/// Trigger.dev CLI export without credentials (their exporter sends no header), so the URL
/// they are given carries one.
pub fn env_token(env_id: &str, signing_secret: &str) -> String {
    format!("{env_id}.{}", env_token_mac(env_id, signing_secret))
}

fn env_token_mac(env_id: &str, signing_secret: &str) -> String {
    let message = format!("otlp:{env_id}");
    hex::encode(super::tokens::hmac_sha256(
        signing_secret.as_bytes(),
        message.as_bytes(),
    ))
}

/// The environment an OTLP path token names, when its HMAC holds (401 otherwise).
async fn env_of_token(state: &AppState, token: &str) -> ApiResult<String> {
    let bad = || ApiError::unauthorized("This OTLP endpoint's token is not valid");
    let (env_id, mac) = token.split_once('.').ok_or_else(bad)?;
    if env_id.is_empty() || env_id.len() > 64 || env_id.contains('\0') {
        return Err(bad());
    }
    let secret = crate::extract::signing_secret_of(state, env_id)
        .await?
        .ok_or_else(bad)?;
    if !super::tokens::same(&env_token_mac(env_id, &secret), mac) {
        return Err(bad());
    }
    Ok(env_id.to_string())
}

/// `POST /otel/env/{token}/v1/traces`: [`traces`] for the task processes of the Trigger.dev
/// CLI, authorised by the path's token.
#[utoipa::path(
    post,
    path = "/otel/env/{token}/v1/traces",
    tag = "otel",
    operation_id = "otlpTracesForEnv",
    params(("token" = String, Path, description = "The environment's OTLP token, from the CLI's attempt start")),
    request_body(content = Object, content_type = "application/json", description = "An OTLP ExportTraceServiceRequest in the OTLP JSON encoding"),
    responses(
        (status = 200, description = "As `POST /otel/v1/traces`", body = ExportAnswer),
        (status = 401, description = "The token is not valid", body = crate::openapi::schemas::ErrorBody),
        (status = 415, description = "The body is not application/json", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn env_traces(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Unread,
) -> ApiResult<axum::Json<ExportAnswer>> {
    let env_id = env_of_token(&state, &token).await?;
    take_traces(&state, &env_id, &headers, body).await
}

/// `POST /otel/env/{token}/v1/logs`.
#[utoipa::path(
    post,
    path = "/otel/env/{token}/v1/logs",
    tag = "otel",
    operation_id = "otlpLogsForEnv",
    params(("token" = String, Path, description = "The environment's OTLP token, from the CLI's attempt start")),
    request_body(content = Object, content_type = "application/json", description = "An OTLP ExportLogsServiceRequest in the OTLP JSON encoding"),
    responses(
        (status = 200, description = "As `POST /otel/v1/logs`", body = ExportAnswer),
        (status = 401, description = "The token is not valid", body = crate::openapi::schemas::ErrorBody),
        (status = 415, description = "The body is not application/json", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn env_logs(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Unread,
) -> ApiResult<axum::Json<ExportAnswer>> {
    let env_id = env_of_token(&state, &token).await?;
    take_logs(&state, &env_id, &headers, body).await
}

/// `POST /otel/env/{token}/v1/metrics`.
#[utoipa::path(
    post,
    path = "/otel/env/{token}/v1/metrics",
    tag = "otel",
    operation_id = "otlpMetricsForEnv",
    params(("token" = String, Path, description = "The environment's OTLP token, from the CLI's attempt start")),
    request_body(content = Object, content_type = "application/json", description = "An OTLP ExportMetricsServiceRequest in the OTLP JSON encoding"),
    responses(
        (status = 200, description = "As `POST /otel/v1/metrics`", body = ExportAnswer),
        (status = 401, description = "The token is not valid", body = crate::openapi::schemas::ErrorBody),
        (status = 415, description = "The body is not application/json", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn env_metrics(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Unread,
) -> ApiResult<axum::Json<ExportAnswer>> {
    let env_id = env_of_token(&state, &token).await?;
    take_metrics(&env_id, &headers, body).await
}

/// Only OTLP's JSON encoding is read.
fn check_json(headers: &HeaderMap) -> ApiResult<()> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ctype.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/json") {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("OTLP must be sent as JSON (Content-Type: application/json), not '{ctype}'"),
    ))
}

fn too_many(what: &str, n: usize) -> ApiError {
    ApiError::bad_request(format!(
        "At most {MAX_ITEMS} {what} per export, got {n}; export in smaller batches"
    ))
}

/// `{}`, or a `partialSuccess` naming how many items were rejected.
fn answer(rejected: usize, counts: impl Fn(String) -> PartialSuccess, what: &str) -> ExportAnswer {
    if rejected == 0 {
        return ExportAnswer::default();
    }
    ExportAnswer {
        partial_success: Some(PartialSuccess {
            error_message: format!(
                "{rejected} {what} named no run of this environment (attribute {}) or were invalid",
                RUN_ID_KEYS.join(" or ")
            ),
            ..counts(rejected.to_string())
        }),
    }
}

/// The run an item names: its own attributes first, then its scope's, then its resource's.
fn run_id(levels: [&[KeyValue]; 3]) -> Option<String> {
    levels.iter().find_map(|attrs| {
        RUN_ID_KEYS
            .iter()
            .find_map(|k| attribute(attrs, k).and_then(any_value_text))
            .filter(|id| !id.is_empty())
    })
}

/// The spans of an export that name a run, checked, and how many were rejected.
fn run_spans(req: TracesRequest) -> ApiResult<(Vec<(String, NewSpan)>, usize)> {
    let total: usize = req
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    if total > MAX_ITEMS {
        return Err(too_many("spans", total));
    }
    let (mut kept, mut rejected) = (Vec::new(), 0);
    for rs in &req.resource_spans {
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                let levels = [
                    &span.attributes[..],
                    &ss.scope.attributes,
                    &rs.resource.attributes,
                ];
                match run_id(levels).zip(new_span(span)) {
                    Some(item) => kept.push(item),
                    None => rejected += 1,
                }
            }
        }
    }
    Ok((kept, rejected))
}

/// An OTLP span as a run span, or `None` when it does not fit one.
fn new_span(s: &Span) -> Option<NewSpan> {
    let span_id = s.span_id.to_ascii_lowercase();
    let parent = s.parent_span_id.to_ascii_lowercase();
    let parent_span_id = match parent.as_str() {
        "" => None,
        p if trace::is_span_id(p) => Some(parent.clone()),
        _ => return None,
    };
    let ok = trace::is_span_id(&span_id)
        && !s.name.is_empty()
        && s.name.len() <= MAX_NAME_BYTES
        && s.start_time_unix_nano >= 0
        && s.end_time_unix_nano >= s.start_time_unix_nano;
    if !ok {
        return None;
    }
    let status = match s.status.code {
        1 => "ok",
        2 => "error",
        _ => "unset",
    };
    let attrs = Value::Object(attributes_json(&s.attributes));
    Some(NewSpan {
        span_id,
        parent_span_id,
        name: s.name.clone(),
        kind: if s.kind == 3 && attrs.get("http.request.method").is_some() {
            "http"
        } else {
            "other"
        }
        .to_string(),
        start_ns: s.start_time_unix_nano,
        end_ns: s.end_time_unix_nano,
        status: status.to_string(),
        message: Some(s.status.message.clone())
            .filter(|m| !m.is_empty())
            .map(|m| check_message(&m))
            .transpose()
            .ok()?,
        attributes: match attrs.as_object().is_some_and(|o| o.is_empty()) {
            true => None,
            false => Some(check_attributes(&attrs).ok()?),
        },
    })
}

/// The log records of an export that name a run, as log lines, and how many were rejected.
fn run_logs(req: LogsRequest) -> ApiResult<(Vec<(String, LogLine)>, usize)> {
    let total: usize = req
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum();
    if total > MAX_ITEMS {
        return Err(too_many("log records", total));
    }
    let (mut kept, mut rejected) = (Vec::new(), 0);
    for rl in &req.resource_logs {
        for sl in &rl.scope_logs {
            for record in &sl.log_records {
                let levels = [
                    &record.attributes[..],
                    &sl.scope.attributes,
                    &rl.resource.attributes,
                ];
                match run_id(levels).zip(log_line(record)) {
                    Some(item) => kept.push(item),
                    None => rejected += 1,
                }
            }
        }
    }
    Ok((kept, rejected))
}

/// An OTLP log record as a run log line, or `None` when it does not fit one.
fn log_line(r: &LogRecord) -> Option<LogLine> {
    let level = match r.severity_number {
        1..=8 => "debug",
        9..=12 => "info",
        13..=16 => "warn",
        17.. => "error",
        _ => "log",
    };
    let message = any_value_text(&r.body).unwrap_or_default();
    if message.len() > trigr_engine::logs::MAX_MESSAGE_BYTES {
        return None;
    }
    let fields = attributes_json(&r.attributes);
    let fields = (!fields.is_empty()).then(|| Value::Object(fields).to_string());
    if fields
        .as_ref()
        .is_some_and(|f| f.len() > trigr_engine::logs::MAX_FIELDS_BYTES)
    {
        return None;
    }
    let nanos = if r.time_unix_nano > 0 {
        r.time_unix_nano
    } else {
        r.observed_time_unix_nano
    };
    Some(LogLine {
        level: level.to_string(),
        message,
        fields,
        time: (nanos > 0).then_some(nanos / 1_000_000),
    })
}

/// The data points of a metrics export, however its metrics are kinded.
fn data_points(req: &Value) -> usize {
    let metrics = req["resourceMetrics"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|rm| rm["scopeMetrics"].as_array().into_iter().flatten())
        .flat_map(|sm| sm["metrics"].as_array().into_iter().flatten());
    metrics
        .map(|m| {
            [
                "gauge",
                "sum",
                "histogram",
                "exponentialHistogram",
                "summary",
            ]
            .iter()
            .filter_map(|k| m[k]["dataPoints"].as_array())
            .map(Vec::len)
            .sum::<usize>()
        })
        .sum()
}
