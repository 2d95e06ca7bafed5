//! Run traces: the spans a worker reports for a run (`POST /api/v1/worker/runs/{id}/spans`,
//! worker protocol §7.8) and a run's trace as the API answers it (`GET /api/v1/runs/{id}/spans`).
//!
//! Times are nanoseconds since the Unix epoch written as decimal strings, as OTLP writes them
//! (a JSON number cannot hold them exactly).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Timestamp;

/// Body of `POST /api/v1/worker/runs/{id}/spans`: finished spans of the attempt holding the
/// lease.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"lease": "lease_0", "spans": [{"spanId": "00f067aa0ba902b7", "name": "charge-card", "kind": "step", "startTimeUnixNano": "1764190800000000000", "endTimeUnixNano": "1764190800250000000", "status": "ok"}]}))
)]
pub struct SpansBody {
    pub lease: String,
    #[cfg_attr(feature = "openapi", schema(max_items = 500))]
    #[serde(deserialize_with = "super::object::list")]
    pub spans: Vec<SpanLine>,
}

/// One finished span as a worker reports it. It belongs to the run's trace; a span without a
/// parent hangs under the run's root span.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SpanLine {
    /// 16 lowercase hex digits, not all zeros.
    pub span_id: String,
    /// Another span of the run (or the run's root span); the run's root span when absent.
    #[serde(
        default,
        deserialize_with = "super::given",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub parent_span_id: Option<String>,
    /// 1-256 bytes.
    pub name: String,
    /// `attempt`, `step`, `wait`, `trigger`, `http` or `other`.
    pub kind: String,
    /// Nanoseconds since the Unix epoch, as a decimal string.
    pub start_time_unix_nano: String,
    /// Nanoseconds since the Unix epoch, as a decimal string; not before the start.
    pub end_time_unix_nano: String,
    /// `ok`, `error` or `unset` (`unset` when absent).
    #[serde(
        default,
        deserialize_with = "super::given",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub status: Option<String>,
    /// What went wrong, for an `error` span (at most 4 KiB).
    #[serde(
        default,
        deserialize_with = "super::given",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub message: Option<String>,
    /// A JSON object of attributes (at most 16 KiB of JSON).
    #[serde(
        default,
        deserialize_with = "super::given",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false, value_type = Object))]
    pub attributes: Option<Value>,
}

/// Answer of `POST /api/v1/worker/runs/{id}/spans`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpansAccepted {
    /// Spans stored.
    pub accepted: u64,
    /// Spans dropped because the run already keeps as many as it may.
    pub dropped: u64,
}

/// Answer of `GET /api/v1/runs/{id}/spans`: the run's trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RunTrace {
    /// The run's W3C trace id; absent for runs from before traces.
    #[serde(
        default,
        deserialize_with = "super::given",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub trace_id: Option<String>,
    /// The run's root span, the parent of its attempts' spans.
    #[serde(
        default,
        deserialize_with = "super::given",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub span_id: Option<String>,
    /// The caller's span (`traceparent`) or the parent run's root span.
    #[serde(
        default,
        deserialize_with = "super::given",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub parent_span_id: Option<String>,
    /// The spans in order of arrival.
    pub data: Vec<SpanView>,
}

/// One span of a run's trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SpanView {
    pub span_id: String,
    #[serde(
        default,
        deserialize_with = "super::given",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub parent_span_id: Option<String>,
    pub name: String,
    /// `attempt`, `step`, `wait`, `trigger`, `http` or `other`.
    pub kind: String,
    pub start_time_unix_nano: String,
    pub end_time_unix_nano: String,
    /// The start, to the millisecond.
    pub start_time: Timestamp,
    pub duration_ms: f64,
    /// `ok`, `error` or `unset`.
    pub status: String,
    #[serde(
        default,
        deserialize_with = "super::given",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub message: Option<String>,
    #[serde(
        default,
        deserialize_with = "super::given",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false, value_type = Object))]
    pub attributes: Option<Value>,
}
