//! Error answers the routes did not write as JSON (the framework's extractor rejections, a
//! method an endpoint does not take, a body over the limit) become `{"error": "…"}` with the
//! same status and headers (such as `Allow`), through [`ApiError`] like every other error.
//! The text the framework wrote becomes the sentence; an empty answer gets one for its status.
//! JSON error answers pass unchanged.

use axum::body::Body;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Longest plain-text error body taken over as the error sentence.
const MAX_TEXT_BYTES: usize = 4096;

/// Rewrites a non-JSON error answer to a `method` request as JSON.
pub(super) async fn rewrite(response: Response, method: &Method) -> Response {
    if !response.status().is_client_error() && !response.status().is_server_error() {
        return response;
    }
    if is_json(response.headers()) || is_html(response.headers()) {
        return response;
    }
    as_json(response, method).await
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
        })
}

/// A page (the dashboard's error pages explain themselves).
fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"))
}

/// The answer with its text (or a sentence for its status) as `{"error": …}`, keeping the
/// status and every header but the body's own.
async fn as_json(response: Response, method: &Method) -> Response {
    let (mut parts, body) = response.into_parts();
    let message = match error_text(body).await {
        Some(text) => text,
        None => sentence(parts.status, method),
    };
    let json = ApiError::new(parts.status, message).into_response();
    let (json_parts, json_body) = json.into_parts();
    parts.headers.remove(CONTENT_TYPE);
    parts.headers.remove(CONTENT_LENGTH);
    for (name, value) in &json_parts.headers {
        parts.headers.insert(name, value.clone());
    }
    Response::from_parts(parts, json_body)
}

/// The body as a trimmed line of text, if it is short, UTF-8 and not empty.
async fn error_text(body: Body) -> Option<String> {
    let bytes = axum::body::to_bytes(body, MAX_TEXT_BYTES).await.ok()?;
    let text = String::from_utf8(bytes.to_vec()).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// A sentence naming the problem of an error answer that came without text.
fn sentence(status: StatusCode, method: &Method) -> String {
    match status {
        // The `Allow` header, which lists the methods the endpoint takes, is added after
        // this layer: the sentence points to it.
        StatusCode::METHOD_NOT_ALLOWED => format!(
            "This endpoint does not take {method} requests; the Allow header lists the ones it takes"
        ),
        StatusCode::NOT_FOUND => "No such endpoint".to_string(),
        StatusCode::PAYLOAD_TOO_LARGE => "The request body is too large".to_string(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            "The request body's Content-Type is not one this endpoint takes".to_string()
        }
        other => format!(
            "The request failed: {} {}",
            other.as_u16(),
            other.canonical_reason().unwrap_or("error")
        ),
    }
}
