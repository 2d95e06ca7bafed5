//! Wait tokens (reference §4.2): create, complete, retrieve, list, and the unauthenticated
//! callback URL whose path carries `hex(HMAC-SHA256(signing secret, waitpoint id))`.

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use trigr_engine::tokens::{self, TokenCompletion};
use trigr_store::{Waitpoint, WaitpointFilter, WaitpointStatus};
use trigr_types::wire::common::CursorPagination;
use trigr_types::wire::rest::{CompleteTokenBody, CreateToken};
use trigr_types::wire::tokens::{Token, TokenCompleted, TokenCreated, TokenList};

use super::runs_list::{list_of, Paging};
use crate::error::{ApiError, ApiResult};
use crate::extract::{signing_secret_of, Auth, KeyOrToken, OptionalJson, Unread};
use crate::{jwt, views, AppState};

/// Public tokens handed out with a new wait token last a day, as upstream's.
const TOKEN_JWT_SECS: i64 = 24 * 3600;

/// HMAC-SHA256 (RFC 2104).
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The hash in a token's callback URL.
fn callback_hash(signing_secret: &str, token_id: &str) -> String {
    hex::encode(hmac_sha256(signing_secret.as_bytes(), token_id.as_bytes()))
}

/// Compares without stopping at the first difference.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn callback_url(headers: &HeaderMap, auth: &Auth, token_id: &str) -> String {
    format!(
        "{}/api/v1/waitpoints/tokens/{token_id}/callback/{}",
        crate::origin::origin(headers),
        callback_hash(&auth.signing_secret, token_id)
    )
}

/// `POST /api/v1/waitpoints/tokens` (secret key): `{id, isCached, url}` and `x-trigger-jwt`.
#[utoipa::path(
    post,
    path = "/api/v1/waitpoints/tokens",
    tag = "waitpoints",
    operation_id = "createWaitToken",
    security(("secretKey" = [])),
    request_body = Option<CreateToken>,
    responses(
        (status = 200, description = "The token (or the one its idempotency key names)", body = TokenCreated, headers(("x-trigger-jwt" = String, description = "A public access token that may complete the token, valid 24 h"))),
        (status = 422, description = "The timeout or a tag is invalid", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<CreateToken>,
) -> ApiResult<impl IntoResponse> {
    let new = tokens::check(body.unwrap_or_default(), state.engine.now())?;
    let created = state.engine.create_token(&auth.env_id, new).await?;
    let id = created.token.id.clone();
    let scopes = vec![format!("write:waitpoints:{id}")];
    let jwt = jwt::headers_valid_for(&auth, scopes, state.engine.now() / 1000, TOKEN_JWT_SECS);
    let url = callback_url(&headers, &auth, &id);
    Ok((
        jwt,
        axum::Json(TokenCreated {
            id,
            is_cached: created.is_cached,
            url,
        }),
    ))
}

/// The header form of `ifVersion` (the only form on a callback URL).
const IF_VERSION_HEADER: &str = "x-trigger-if-version";

/// The `ifVersion` guard of a completion, from the body or the header (both: they must
/// agree). The engine parses it: a malformed one is a 400 naming the bad part.
pub(crate) fn guard_of(body: Option<String>, headers: &HeaderMap) -> ApiResult<Option<String>> {
    let header = match headers.get(IF_VERSION_HEADER) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| {
                    ApiError::bad_request("X-Trigger-If-Version must be visible ASCII text")
                })?
                .to_string(),
        ),
    };
    let expr = match (body, header) {
        (Some(b), Some(h)) if b.trim() != h.trim() => {
            return Err(ApiError::bad_request(format!(
                "ifVersion {b:?} in the body and X-Trigger-If-Version {h:?} disagree: send one"
            )))
        }
        (Some(e), _) | (None, Some(e)) => Some(e),
        (None, None) => None,
    };
    Ok(expr)
}

fn completed(done: TokenCompletion) -> axum::Json<TokenCompleted> {
    axum::Json(TokenCompleted {
        success: true,
        already_completed: (!done.completed).then_some(true),
        run_version: done.run_version,
    })
}

/// `POST /api/v1/waitpoints/tokens/{id}/complete` (secret key, or a public token with
/// `write:waitpoints:<id>`).
#[utoipa::path(
    post,
    path = "/api/v1/waitpoints/tokens/{id}/complete",
    tag = "waitpoints",
    operation_id = "completeWaitToken",
    security(("secretKey" = []), ("publicAccessToken" = [])),
    params(
        ("id" = String, Path, description = "The token id (`waitpoint_…`)"),
        ("x-trigger-if-version" = Option<String>, Header, description = "A version guard (docs/versioning.md §2); must agree with ifVersion in the body"),
    ),
    request_body = Option<CompleteTokenBody>,
    responses(
        (status = 200, description = "The token is completed (or already was)", body = TokenCompleted),
        (status = 404, description = "No such token", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The version guard does not hold; nothing was delivered", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn complete(
    State(state): State<AppState>,
    KeyOrToken(auth): KeyOrToken,
    Path(token_id): Path<String>,
    headers: HeaderMap,
    body: Unread,
) -> ApiResult<impl IntoResponse> {
    if !auth.allows(&[
        "write:waitpoints".to_string(),
        format!("write:waitpoints:{token_id}"),
    ]) {
        return Err(auth.forbidden(&format!("complete token {token_id}")));
    }
    let body: Option<CompleteTokenBody> = body.optional_json().await?;
    let (data, if_version) = body.map(|b| (b.data, b.if_version)).unwrap_or_default();
    let guard = guard_of(if_version, &headers)?;
    let done = state
        .engine
        .complete_token(&auth.env_id, &token_id, data, guard)
        .await?;
    Ok(completed(done))
}

/// `GET /api/v1/waitpoints/tokens/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/waitpoints/tokens/{id}",
    tag = "waitpoints",
    operation_id = "retrieveWaitToken",
    security(("secretKey" = [])),
    params(
        ("id" = String, Path, description = "The token id (`waitpoint_…`)"),
    ),
    responses(
        (status = 200, description = "The token", body = Token),
        (status = 404, description = "No such token", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn retrieve(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(token_id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let (t, run_version) = state.engine.token(&auth.env_id, &token_id).await?;
    Ok(axum::Json(views::token(
        &t,
        &callback_url(&headers, &auth, &t.id),
        run_version.as_deref(),
    )))
}

struct ListQuery {
    filter: WaitpointFilter,
    page: Paging,
}

fn parse_list(params: Vec<(String, String)>, now: i64) -> ApiResult<ListQuery> {
    let mut q = ListQuery {
        filter: WaitpointFilter::default(),
        page: Paging::new(),
    };
    for (k, v) in params {
        let f = &mut q.filter;
        if q.page
            .take(&k, &v, now, (&mut f.created_from, &mut f.created_to))?
        {
            continue;
        }
        match k.as_str() {
            "filter[status]" => {
                f.statuses = list_of(&k, &v)?
                    .iter()
                    .map(|s| {
                        WaitpointStatus::parse(&s.to_ascii_uppercase()).ok_or_else(|| {
                            ApiError::bad_request(format!(
                                "filter[status]: unknown status '{s}': use WAITING, COMPLETED or TIMED_OUT"
                            ))
                        })
                    })
                    .collect::<ApiResult<_>>()?
            }
            "filter[idempotencyKey]" if !v.is_empty() => f.idempotency_key = Some(v),
            "filter[tags]" | "filter[tag]" => f.tags = list_of(&k, &v)?,
            _ => {}
        }
    }
    Ok(q)
}

/// `GET /api/v1/waitpoints/tokens`: newest first, cursor pages.
#[utoipa::path(
    get,
    path = "/api/v1/waitpoints/tokens",
    tag = "waitpoints",
    operation_id = "listWaitTokens",
    security(("secretKey" = [])),
    params(
        ("filter[status]" = Option<String>, Query, description = "Comma-separated: WAITING, COMPLETED, TIMED_OUT"),
        ("filter[idempotencyKey]" = Option<String>, Query, description = "An idempotency key"),
        ("filter[tags]" = Option<String>, Query, description = "Comma-separated tags"),
        ("filter[createdAt][from]" = Option<String>, Query, description = "Created at or after: milliseconds since the epoch or an ISO 8601 date"),
        ("filter[createdAt][to]" = Option<String>, Query, description = "Created at or before: milliseconds since the epoch or an ISO 8601 date"),
        ("filter[createdAt][period]" = Option<String>, Query, description = "Created within this duration before now (`1h`, `7d`)"),
        ("page[size]" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Items a page"),
        ("page[after]" = Option<String>, Query, description = "The previous page's pagination.next"),
        ("page[before]" = Option<String>, Query, description = "The next page's pagination.previous"),
    ),
    responses(
        (status = 200, description = "A page of tokens, newest first", body = TokenList),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<impl IntoResponse> {
    let q = parse_list(params, state.engine.now())?;
    let backwards = q.page.before.is_some();
    let had_cursor = q.page.after.is_some() || q.page.before.is_some();
    let mut tokens: Vec<(Waitpoint, Option<String>)> = state
        .engine
        .list_tokens(
            &auth.env_id,
            q.filter,
            q.page.size,
            q.page.after,
            q.page.before,
        )
        .await?;
    let more = tokens.len() > q.page.size;
    if more {
        if backwards {
            tokens.remove(0);
        } else {
            tokens.truncate(q.page.size);
        }
    }
    let (has_next, has_prev) = if backwards {
        (true, more)
    } else {
        (more, had_cursor)
    };
    let pagination = CursorPagination {
        next: tokens
            .last()
            .filter(|_| has_next)
            .map(|(l, _)| l.id.clone()),
        previous: tokens
            .first()
            .filter(|_| has_prev)
            .map(|(f, _)| f.id.clone()),
    };
    let data = tokens
        .iter()
        .map(|(t, run_version)| {
            views::token_list_item(
                t,
                &callback_url(&headers, &auth, &t.id),
                run_version.as_deref(),
            )
        })
        .collect();
    Ok(axum::Json(TokenList { data, pagination }))
}

/// `POST /api/v1/waitpoints/tokens/{id}/callback/{hash}`: no credential but the hash; the
/// whole body (`{}` when it is not JSON) is the token's output.
#[utoipa::path(
    post,
    path = "/api/v1/waitpoints/tokens/{id}/callback/{hash}",
    tag = "waitpoints",
    operation_id = "callbackWaitToken",
    params(
        ("id" = String, Path, description = "The token id (`waitpoint_…`)"),
        ("hash" = String, Path, description = "hex(HMAC-SHA256(signing secret, token id))"),
        ("x-trigger-if-version" = Option<String>, Header, description = "A version guard (docs/versioning.md §2)"),
    ),
    request_body(content = Object, content_type = "application/json", description = "The token's output: the whole body (`{}` when it is not JSON)"),
    responses(
        (status = 200, description = "The token is completed (or already was)", body = TokenCompleted),
        (status = 401, description = "The hash does not match the token", body = crate::openapi::schemas::ErrorBody),
        (status = 404, description = "No such token", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The version guard does not hold; nothing was delivered", body = crate::openapi::schemas::ErrorBody),
        (status = 411, description = "No Content-Length header", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn callback(
    State(state): State<AppState>,
    Path((token_id, hash)): Path<(String, String)>,
    req: Request,
) -> ApiResult<impl IntoResponse> {
    let length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::LENGTH_REQUIRED,
                "A callback needs a Content-Length header",
            )
        })?;
    let max = state.engine.config().max_payload_bytes;
    if length > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("The body is {length} bytes, over the limit of {max} bytes"),
        ));
    }
    let env_id = state.engine.token_environment(&token_id).await?;
    let secret = signing_secret_of(&state, &env_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Waitpoint {token_id} not found")))?;
    if !same(
        &hash.to_ascii_lowercase(),
        &callback_hash(&secret, &token_id),
    ) {
        return Err(ApiError::unauthorized("Invalid URL, hash doesn't match"));
    }
    let headers = req.headers().clone();
    let body = Bytes::from_request(req, &state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "The body is over the size limit",
                )
            } else {
                ApiError::bad_request(format!("Could not read the request body: {rejection}"))
            }
        })?;
    let guard = guard_of(None, &headers)?;
    let data = serde_json::from_slice::<Value>(&body).unwrap_or_else(|_| json!({}));
    let done = state
        .engine
        .complete_token(&env_id, &token_id, data, guard)
        .await?;
    Ok(completed(done))
}

/// Any other method on a callback URL.
pub async fn callback_method() -> Response {
    let mut resp = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "A token callback URL accepts only POST",
    )
    .into_response();
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    resp
}
