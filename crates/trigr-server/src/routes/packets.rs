//! Payload packets the official SDK offloads (reference §1.10): it asks for a presigned URL,
//! PUTs the packet there, then triggers with `payloadType: application/store`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use trigr_types::packet;
use trigr_types::wire::common::OkBody;
use trigr_types::wire::streams::{PresignedDownload, PresignedUpload};

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
    format!("{}/api/v1/blobs/{token}", crate::origin::origin(headers))
}

/// `PUT /api/v2/packets/{path}`: a URL to upload a packet to.
#[utoipa::path(
    put,
    path = "/api/v2/packets/{*path}",
    tag = "packets",
    operation_id = "presignPacketUpload",
    security(("secretKey" = [])),
    params(
        ("path" = String, Path, description = "The packet's storage path (1-1024 characters, no `..` parts)"),
    ),
    responses(
        (status = 200, description = "Where to upload the packet", body = PresignedUpload),
    ),
)]
pub async fn presign_put(
    State(state): State<AppState>,
    auth: Auth,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    check_path(&path)?;
    let token = jwt::sign_blob(&auth, &path, "put", state.engine.now() / 1000);
    Ok(axum::Json(PresignedUpload {
        presigned_url: blob_url(&headers, &token),
        storage_path: path,
    }))
}

/// `GET /api/v1/packets/{path}`: a URL to download a stored packet from.
#[utoipa::path(
    get,
    path = "/api/v1/packets/{*path}",
    tag = "packets",
    operation_id = "presignPacketDownload",
    security(("secretKey" = [])),
    params(
        ("path" = String, Path, description = "The packet's storage path (1-1024 characters, no `..` parts)"),
    ),
    responses(
        (status = 200, description = "Where to download the packet from", body = PresignedDownload),
        (status = 404, description = "No such packet", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn presign_get(
    State(state): State<AppState>,
    auth: Auth,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    check_path(&path)?;
    state.engine.packet(&auth.env_id, &path).await?;
    let token = jwt::sign_blob(&auth, &path, "get", state.engine.now() / 1000);
    Ok(axum::Json(PresignedDownload {
        presigned_url: blob_url(&headers, &token),
    }))
}

/// `PUT /api/v1/blobs/{token}`: the upload itself (no other credential than the URL).
#[utoipa::path(
    put,
    path = "/api/v1/blobs/{token}",
    tag = "packets",
    operation_id = "uploadBlob",
    params(
        ("token" = String, Path, description = "The token of a presigned upload URL"),
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The packet; its Content-Type is kept"),
    responses(
        (status = 200, description = "The packet is stored", body = OkBody),
        (status = 403, description = "The URL is invalid or has expired, or is not for uploads", body = crate::openapi::schemas::ErrorBody),
    ),
)]
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
        .unwrap_or(packet::JSON)
        .to_string();
    state
        .engine
        .put_packet(&claims.sub, &claims.path, &content_type, body.to_vec())
        .await?;
    Ok(axum::Json(OkBody { ok: true }))
}

/// `GET /api/v1/blobs/{token}`: the download. It comes from the API's own origin, so it is
/// never something a browser would render or run: a stored JSON type is kept, anything else
/// (whatever the uploader claimed) is `application/octet-stream`, always with `nosniff` and as
/// an attachment.
#[utoipa::path(
    get,
    path = "/api/v1/blobs/{token}",
    tag = "packets",
    operation_id = "downloadBlob",
    params(
        ("token" = String, Path, description = "The token of a presigned download URL"),
    ),
    responses(
        (status = 200, description = "The packet: a stored JSON type as it is, anything else as application/octet-stream", content((Object = "application/json"), (Object = "application/super+json"), (Vec<u8> = "application/octet-stream"))),
        (status = 403, description = "The URL is invalid or has expired, or is not for downloads", body = crate::openapi::schemas::ErrorBody),
        (status = 404, description = "No such packet", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn download(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let claims = jwt::verify_blob(&token, "get", &state).await?;
    let p = state.engine.packet(&claims.sub, &claims.path).await?;
    let ctype = match p.content_type.as_str() {
        packet::JSON => HeaderValue::from_static(packet::JSON),
        packet::SUPER_JSON => HeaderValue::from_static(packet::SUPER_JSON),
        _ => HeaderValue::from_static("application/octet-stream"),
    };
    Ok((
        [
            (header::CONTENT_TYPE, ctype),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment"),
            ),
        ],
        p.data,
    ))
}
