//! The official `trigger.dev` CLI's login calls, with a personal access token (`tr_pat_…`,
//! `trigr keys pat create`; `trigr_engine::pats`): `GET /api/v2/whoami`, the secret key of an
//! environment (`GET /api/v1/projects/{ref}/{env}`), the platform notification the CLI asks
//! for at start (there is none), and preview branches (refused: trigr has none). Also the
//! variables the CLI reads with the secret key it was handed, before it indexes a build
//! (`GET /api/v1/projects/{ref}/envvars`).
//!
//! The login routes take a personal access token only, read from the store on every call (a
//! revoked token is refused at once); a secret key or public access token is a 401 naming
//! what is needed. None of them reads a body.
//!
//! `trigger.dev login` (`POST /api/v1/authorization-code`, `POST /api/v1/token`) needs no
//! credential: the CLI's PKCE verifier and the approval code an operator made on the store
//! (`trigr keys pat approve`) are what it proves (`trigr_engine::pat_login`). The page its URL
//! names says how to approve.
//!
//! The addresses handed out (`apiUrl`, `dashboardUrl`) are the origin the caller reached this
//! server at (`crate::origin`): its `Host`, `https` behind a proxy that says so.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::Json;
use trigr_engine::pat_login::{self, Exchange};
use trigr_types::wire::cli::{
    AuthorizationCode, AuthorizationCodeBody, IssuedToken, PlatformNotifications, ProjectEnv,
    TokenAnswer, TokenBody, WhoAmI, WhoAmIProject,
};
use trigr_types::wire::env_vars::EnvVarValues;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Json as Body};
use crate::origin::origin;
use crate::AppState;

/// The longest `projectRef` looked up; a longer one names no project.
const MAX_REF_BYTES: usize = 256;

/// The bearer credential of a login call, which must be a personal access token.
fn token(headers: &HeaderMap) -> ApiResult<String> {
    let missing = || {
        ApiError::unauthorized(
            "Missing personal access token: send Authorization: Bearer tr_pat_… (made with `trigr keys pat create`)",
        )
    };
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(missing)?;
    let credential = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(missing)?;
    if !credential.starts_with(trigr_engine::pats::TOKEN_PREFIX) {
        return Err(ApiError::unauthorized(
            "This endpoint needs a personal access token (tr_pat_…, made with `trigr keys pat create`): secret keys and public access tokens are not accepted here",
        ));
    }
    Ok(credential.to_string())
}

fn refused() -> ApiError {
    ApiError::unauthorized(
        "Invalid personal access token: it is unknown or was revoked (see `trigr keys pat list`)",
    )
}

/// The `projectRef` of a query string, if it has one of a sane length.
fn project_ref(query: Option<&str>) -> Option<String> {
    let raw = query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "projectRef")
        .map(|(_, v)| v)?;
    let value = percent_encoding::percent_decode_str(&raw.replace('+', " "))
        .decode_utf8()
        .ok()?
        .into_owned();
    (!value.is_empty() && value.len() <= MAX_REF_BYTES && !value.contains('\0')).then_some(value)
}

/// `GET /api/v2/whoami[?projectRef=]`.
#[utoipa::path(
    get,
    path = "/api/v2/whoami",
    tag = "cli",
    operation_id = "whoAmI",
    security(("personalAccessToken" = [])),
    params(
        ("projectRef" = Option<String>, Query, description = "A project's reference (`proj_…`): the answer names it when it exists"),
    ),
    responses(
        (status = 200, description = "Who the token is", body = WhoAmI),
        (status = 401, description = "No personal access token, an unknown or revoked one, or another kind of credential", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn whoami(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<WhoAmI>> {
    let token = token(&headers)?;
    let project_ref = project_ref(query.as_deref());
    let identity = state
        .engine
        .pat_identity(&token, project_ref)
        .await?
        .ok_or_else(refused)?;
    let dashboard = format!("{}/dashboard", origin(&headers));
    Ok(Json(WhoAmI {
        user_id: identity.pat.id,
        email: identity.email,
        dashboard_url: dashboard.clone(),
        project: identity.project.map(|p| WhoAmIProject {
            name: p.project.name,
            url: dashboard,
            org_title: p.org_title,
        }),
    }))
}

/// `GET /api/v1/projects/{ref}/{env}`.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{projectRef}/{env}",
    tag = "cli",
    operation_id = "projectEnvironmentKey",
    security(("personalAccessToken" = [])),
    params(
        ("projectRef" = String, Path, description = "The project's reference, `proj_…`"),
        ("env" = String, Path, description = "`dev`, `staging` (or `stg`) or `prod`; trigr has no `preview`"),
    ),
    responses(
        (status = 200, description = "A secret key of the environment, the same on every call with the same token", body = ProjectEnv),
        (status = 400, description = "An environment trigr does not have", body = crate::openapi::schemas::ErrorBody),
        (status = 401, description = "No personal access token, an unknown or revoked one, or another kind of credential", body = crate::openapi::schemas::ErrorBody),
        (status = 404, description = "`Project not found`", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn project_env(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((project_ref, env)): Path<(String, String)>,
) -> ApiResult<Json<ProjectEnv>> {
    let token = token(&headers)?;
    let handed = state
        .engine
        .pat_env_key(&token, project_ref, env)
        .await?
        .ok_or_else(refused)?;
    Ok(Json(ProjectEnv {
        api_key: handed.key,
        name: handed.project.name,
        api_url: origin(&headers),
        project_id: handed.project.id,
        default_runtime: None,
    }))
}

/// `GET /api/v1/platform-notifications[?projectRef=]`.
#[utoipa::path(
    get,
    path = "/api/v1/platform-notifications",
    tag = "cli",
    operation_id = "platformNotifications",
    security(("personalAccessToken" = [])),
    params(
        ("projectRef" = Option<String>, Query, description = "The project the CLI runs (ignored)"),
    ),
    responses(
        (status = 200, description = "No notification: `{\"notification\": null}`", body = PlatformNotifications),
        (status = 401, description = "No personal access token, an unknown or revoked one, or another kind of credential", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn platform_notifications(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Json<PlatformNotifications>> {
    let token = token(&headers)?;
    state
        .engine
        .pat_identity(&token, None)
        .await?
        .ok_or_else(refused)?;
    Ok(Json(PlatformNotifications::default()))
}

/// `POST /api/v1/projects/{ref}/branches`: trigr has no preview branches.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{projectRef}/branches",
    tag = "cli",
    operation_id = "createPreviewBranch",
    security(("personalAccessToken" = [])),
    params(
        ("projectRef" = String, Path, description = "The project's reference, `proj_…`"),
    ),
    responses(
        (status = 200, description = "Never given: every authorised request is answered 400, since trigr has no preview branches"),
        (status = 400, description = "`preview branches are not supported by trigr`", body = crate::openapi::schemas::ErrorBody),
        (status = 401, description = "No personal access token, an unknown or revoked one, or another kind of credential", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn branches(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(_project_ref): Path<String>,
) -> ApiResult<axum::http::StatusCode> {
    let token = token(&headers)?;
    state
        .engine
        .pat_identity(&token, None)
        .await?
        .ok_or_else(refused)?;
    Err(ApiError::bad_request(
        "preview branches are not supported by trigr",
    ))
}

/// `GET /api/v1/projects/{ref}/envvars`: every variable of the key's environment with its
/// value, as the CLI reads them before indexing a build.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{projectRef}/envvars",
    tag = "cli",
    operation_id = "cliEnvVars",
    security(("secretKey" = [])),
    params(
        ("projectRef" = String, Path, description = "The project's reference, `proj_…`: the key's own"),
    ),
    responses(
        (status = 200, description = "Every variable of the key's environment with its value", body = EnvVarValues),
        (status = 400, description = "Another project than the key's", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "A value was encrypted with another key than the server's", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn env_vars(
    State(state): State<AppState>,
    auth: Auth,
    Path(project_ref): Path<String>,
) -> ApiResult<Json<EnvVarValues>> {
    let target = state
        .engine
        .env_var_target(&auth.env_id, &project_ref, &auth.slug)
        .await?;
    let variables = state.engine.env_var_values(&target.env_id).await?;
    Ok(Json(EnvVarValues { variables }))
}

/// `POST /api/v1/authorization-code`: starts `trigger.dev login`.
#[utoipa::path(
    post,
    path = "/api/v1/authorization-code",
    tag = "cli",
    operation_id = "createAuthorizationCode",
    request_body = AuthorizationCodeBody,
    responses(
        (status = 200, description = "The login's code, and the page saying how an operator approves it", body = AuthorizationCode),
        (status = 400, description = "A challenge that is not 43 characters of base64url, a method other than S256, or a callback port out of range", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "Too many logins wait for approval", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn authorization_code(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(body): Body<AuthorizationCodeBody>,
) -> ApiResult<Json<AuthorizationCode>> {
    pat_login::check_challenge(&body.code_challenge, &body.code_challenge_method)?;
    if body
        .callback_port
        .is_some_and(|p| !(1024..=65535).contains(&p))
    {
        return Err(ApiError::bad_request(
            "callbackPort must be between 1024 and 65535",
        ));
    }
    let code = state.engine.start_pat_login(body.code_challenge).await?;
    Ok(Json(AuthorizationCode {
        url: format!("{}/api/v1/authorization-code/{code}", origin(&headers)),
        authorization_code: code,
        approval: "paste".to_string(),
    }))
}

/// `GET /api/v1/authorization-code/{code}`: how to approve a login (the page the CLI opens).
#[utoipa::path(
    get,
    path = "/api/v1/authorization-code/{code}",
    tag = "cli",
    operation_id = "authorizationCodePage",
    params(("code" = String, Path, description = "The login's authorization code")),
    responses(
        (status = 200, description = "How an operator approves the login", content_type = "text/plain", body = String),
    ),
)]
pub async fn authorization_page(Path(code): Path<String>) -> impl axum::response::IntoResponse {
    let shown = if !code.is_empty()
        && code.len() <= 64
        && code.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        code
    } else {
        "<authorization code>".to_string()
    };
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        format!(
            "trigr: approve this trigger.dev login on the server's store.\n\n\
             A personal access token reaches every project, so only someone who can open the\n\
             store may make one. Run, with the --data-dir or --database-url the server uses:\n\n\
             \ttrigr keys pat approve {shown} --name <what the token is for>\n\n\
             and paste the approval code it prints into the trigger.dev CLI. The login\n\
             expires 10 minutes after it started.\n"
        ),
    )
}

/// `POST /api/v1/token`: exchanges an approved login for its personal access token, once.
#[utoipa::path(
    post,
    path = "/api/v1/token",
    tag = "cli",
    operation_id = "exchangeAuthorizationCode",
    request_body = TokenBody,
    responses(
        (status = 200, description = "The token, once; `{\"token\": null}` while the login waits for approval", body = TokenAnswer),
        (status = 400, description = "No approval code, or the approval code or the verifier does not match", body = crate::openapi::schemas::ErrorBody),
        (status = 404, description = "No login has this code (it may have expired)", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The login was exchanged already", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn exchange(
    State(state): State<AppState>,
    Body(body): Body<TokenBody>,
) -> ApiResult<Json<TokenAnswer>> {
    let answer = state
        .engine
        .finish_pat_login(
            body.authorization_code,
            body.code_verifier,
            body.approval_code,
        )
        .await?;
    Ok(Json(TokenAnswer {
        token: match answer {
            Exchange::Pending => None,
            Exchange::Made(created) => Some(IssuedToken {
                obfuscated_token: format!("{}{}", created.pat.prefix, "•".repeat(8)),
                token: created.token,
            }),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_ref_is_read_from_the_query() {
        assert_eq!(
            project_ref(Some("a=1&projectRef=proj_abc")).as_deref(),
            Some("proj_abc")
        );
        assert_eq!(
            project_ref(Some("projectRef=proj%5Fx+y")).as_deref(),
            Some("proj_x y")
        );
        assert_eq!(project_ref(Some("projectRef=")), None);
        assert_eq!(project_ref(Some("projectRef=%FF")), None);
        assert_eq!(project_ref(Some("projectRef=a%00")), None);
        assert_eq!(
            project_ref(Some(&format!("projectRef={}", "x".repeat(300)))),
            None
        );
        assert_eq!(project_ref(None), None);
    }
}
