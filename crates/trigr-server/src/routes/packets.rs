//! Payload packets the official SDK offloads (reference §1.10): it asks for a presigned URL,
//! PUTs the packet there, then triggers with `payloadType: application/store`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::extract::Auth;
use crate::{jwt, AppState};

const MAX_PATH: usize = 1024;

fn check_path(path: &str) -> ApiResult<()> {
    if path.is_empty() || path.len() > MAX_PATH || path.split('/').any(|p| p == "..") {
        return Err(ApiError::bad_request(
            "The packet path must be 1-1024 characters without '..' parts",
        ));
    }
    Ok(())
}

fn blob_url(headers: &HeaderMap, token: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:3030");
    format!("http://{host}/api/v1/blobs/{token}")
}

/// `PUT /api/v2/packets/{path}`: a URL to upload a packet to.
pub async fn presign_put(
    State(state): State<AppState>,
    auth: Auth,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    check_path(&path)?;
    let token = jwt::sign_blob(&auth, &path, "put", state.engine.now() / 1000);
    Ok(axum::Json(
        json!({ "presignedUrl": blob_url(&headers, &token), "storagePath": path }),
    ))
}

/// `GET /api/v1/packets/{path}`: a URL to download a stored packet from.
pub async fn presign_get(
    State(state): State<AppState>,
    auth: Auth,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    check_path(&path)?;
    state.engine.packet(&auth.env_id, &path).await?;
    let token = jwt::sign_blob(&auth, &path, "get", state.engine.now() / 1000);
    Ok(axum::Json(
        json!({ "presignedUrl": blob_url(&headers, &token) }),
    ))
}

/// `PUT /api/v1/blobs/{token}`: the upload itself (no other credential than the URL).
pub async fn upload(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let claims = jwt::verify_blob(&token, "put", &state).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(trigr_types::packet::JSON)
        .to_string();
    state
        .engine
        .put_packet(&claims.sub, &claims.path, &content_type, body.to_vec())
        .await?;
    Ok(axum::Json(json!({ "ok": true })))
}

/// `GET /api/v1/blobs/{token}`: the download, with the packet's type as `Content-Type`.
pub async fn download(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let claims = jwt::verify_blob(&token, "get", &state).await?;
    let p = state.engine.packet(&claims.sub, &claims.path).await?;
    let ctype = HeaderValue::from_str(&p.content_type)
        .unwrap_or(HeaderValue::from_static("application/json"));
    Ok(([(header::CONTENT_TYPE, ctype)], p.data))
}
