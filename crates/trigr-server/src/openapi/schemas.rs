//! The shapes of the answers that are not wire types of `trigr_types::wire` (errors, the
//! realtime feeds, the health, claims and test clock answers), for the document. Fields the
//! server leaves out when they have no value are optional and not nullable; fields it always
//! writes, `null` included, are required and nullable.
#![allow(dead_code)]

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// Every error answer: a sentence naming the problem, sometimes with more members (`code`
/// such as `lease_lost` or `non_determinism`, the run's `status`, or a version guard's
/// `runId`, `expectedVersion` and `actualVersion`).
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub code: Option<String>,
}

/// `GET /healthz`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// The claims the SDK puts in the public tokens it signs.
#[derive(Serialize, ToSchema)]
pub struct JwtClaims {
    /// The environment's id.
    pub sub: String,
    #[serde(rename = "pub")]
    pub public: bool,
}

/// `POST /api/v1/test/clock`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClockMoved {
    pub now: String,
    /// What the timers did, by kind (`delayed`, `expired`, `leasesExpired`, `timedOut`,
    /// `waitpoints`, `schedules`).
    pub fired: Value,
    /// What the retention sweep deleted (`runs`, `kept`, `batches`, `tokens`, `packets`,
    /// `done`).
    pub retention: Value,
    pub run_events_pruned: i64,
}

/// `headers` of a shape message: an `operation` on a row, or a `control` message.
#[derive(Serialize, ToSchema)]
pub struct ShapeHeaders {
    /// `insert` or `update`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub operation: Option<String>,
    /// `up-to-date`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub control: Option<String>,
}

/// One message of a shape answer: a run's row, or the closing control message.
#[derive(Serialize, ToSchema)]
pub struct ShapeMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub key: Option<String>,
    /// The run as a row of plain JSON values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    pub headers: ShapeHeaders,
}

/// One server-sent event of a run subscription (as an event-stream parser reads it).
#[derive(Serialize, ToSchema)]
pub struct RunEvent {
    /// The event's number, for `Last-Event-ID`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub id: Option<String>,
    /// `snapshot`, `status`, `metadata`, `reset` or `end`.
    pub event: String,
    /// The run as JSON text (or, for `reset` and `end`, `{"reason", …}`).
    pub data: String,
}

/// One server-sent event of an output stream: a chunk.
#[derive(Serialize, ToSchema)]
pub struct StreamChunk {
    /// `<ms>-<index>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub id: Option<String>,
    pub event: String,
    /// The chunk as one line of JSON.
    pub data: String,
}
