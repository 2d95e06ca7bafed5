//! The one HTTP error type: each case maps to a status and a sentence; internals never leak.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use trigr_engine::Error as EngineError;
use trigr_store::Error as StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub code: Option<&'static str>,
    pub extra: Option<serde_json::Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            code: None,
            extra: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        match e {
            EngineError::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, m),
            EngineError::Unprocessable(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m),
            EngineError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, m),
            EngineError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            EngineError::TooLarge(m) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, m),
            EngineError::LeaseLost { run_id, status } => ApiError {
                status: StatusCode::CONFLICT,
                message: format!(
                    "The lease of run {run_id} is no longer valid (the run is {status})"
                ),
                code: Some("lease_lost"),
                extra: Some(json!({ "status": status.as_str() })),
            },
            EngineError::NonDeterminism(m) => ApiError {
                status: StatusCode::CONFLICT,
                message: m,
                code: Some("non_determinism"),
                extra: None,
            },
            EngineError::VersionMismatch {
                run_id,
                expected,
                actual,
            } => ApiError {
                status: StatusCode::CONFLICT,
                message: match (&run_id, &actual) {
                    (None, _) => format!(
                        "No run is waiting on this token, so ifVersion {expected} cannot hold; nothing was delivered"
                    ),
                    (Some(run), Some(v)) => format!(
                        "Run {run} is on version {v}, which does not match ifVersion {expected}; nothing was delivered"
                    ),
                    (Some(run), None) => format!(
                        "Run {run} has no version yet, so ifVersion {expected} cannot hold; nothing was delivered"
                    ),
                },
                code: None,
                extra: Some(json!({
                    "runId": run_id,
                    "expectedVersion": expected,
                    "actualVersion": actual,
                })),
            },
            EngineError::Store(e @ (StoreError::Unavailable(_) | StoreError::Conflict(_))) => {
                tracing::warn!("store busy or unreachable: {e}");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The database is unavailable or busy right now; nothing was changed. Retry shortly.",
                )
            }
            EngineError::Store(e) => {
                tracing::error!("store failure: {e}");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if let Some(code) = self.code {
            body["code"] = json!(code);
        }
        if let Some(serde_json::Value::Object(extra)) = self.extra {
            for (k, v) in extra {
                body[k] = v;
            }
        }
        let mut resp = (self.status, axum::Json(body)).into_response();
        // A client must not retry what will fail the same way again.
        if self.status.is_client_error() && self.status != StatusCode::TOO_MANY_REQUESTS {
            resp.headers_mut()
                .insert("x-should-retry", HeaderValue::from_static("false"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
        }
        resp
    }
}
