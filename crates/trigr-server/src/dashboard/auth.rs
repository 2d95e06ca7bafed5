//! Signing in to the dashboard and the checks every page and action makes.
//!
//! * A session is a cookie `trigr_session` (`HttpOnly; SameSite=Strict; Path=/`, `Secure`
//!   behind TLS) whose secret the store keeps hashed ([`trigr_engine::dashboard`]).
//! * [`Viewer`] reads it before anything else of a request (so before a form body): no
//!   current session on a page is a redirect to the sign-in form, on a live stream a `401`.
//!   An environment the session does not grant is `404`, as if it did not exist.
//! * Every `POST` carries `csrf`, a value derived from the session's secret and checked in
//!   constant time ([`Viewer::check_csrf`]), and is refused when the browser says it comes
//!   from another site (`Sec-Fetch-Site: cross-site`, or an `Origin` of another host).

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use sha2::{Digest, Sha256};
use trigr_store::Environment;

use super::layout::{self, PageError};
use crate::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "trigr_session";
/// Longest form field read from a sign-in form.
const MAX_KEY_CHARS: usize = 256;

/// A signed-in browser: its session's secret and the environments it may see.
pub struct Viewer {
    secret: String,
    pub envs: Vec<Environment>,
}

impl Viewer {
    /// The environment of a URL, if the session grants it; otherwise `404`.
    pub fn env(&self, env_id: &str) -> Result<&Environment, PageError> {
        self.envs
            .iter()
            .find(|e| e.id == env_id)
            .ok_or_else(|| PageError::not_found("No such environment"))
    }

    /// The value every form of this session carries as `csrf`.
    pub fn csrf(&self) -> String {
        csrf_of(&self.secret)
    }

    /// Refuses a state-changing request without this session's CSRF value (`403`).
    pub fn check_csrf(&self, sent: Option<&str>) -> Result<(), PageError> {
        let want = self.csrf();
        match sent {
            Some(s) if constant_time_eq(s.as_bytes(), want.as_bytes()) => Ok(()),
            _ => Err(PageError::new(
                StatusCode::FORBIDDEN,
                "This form is missing its security token or it is out of date: reload the page and try again",
            )),
        }
    }
}

fn csrf_of(secret: &str) -> String {
    hex::encode(Sha256::digest(
        format!("trigr-dashboard-csrf:{secret}").as_bytes(),
    ))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The session cookie's secret, if the request has one.
fn cookie_secret(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// Refuses a request a browser sent from another site (`403`).
pub fn same_site(headers: &HeaderMap) -> Result<(), PageError> {
    let refused = || {
        PageError::new(
            StatusCode::FORBIDDEN,
            "Requests from other sites are refused",
        )
    };
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"))
    {
        return Err(refused());
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
        _ => Err(refused()),
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let wants_page =
            parts.method == axum::http::Method::GET && !parts.uri.path().ends_with("/live");
        let signed_out = || {
            if wants_page {
                Redirect::to("/dashboard/login").into_response()
            } else {
                PageError::new(StatusCode::UNAUTHORIZED, "Sign in first").into_response()
            }
        };
        let Some(secret) = cookie_secret(&parts.headers) else {
            return Err(signed_out());
        };
        let session = state
            .engine
            .dashboard_session(&secret)
            .await
            .map_err(|e| PageError::from(e).into_response())?;
        let Some(session) = session else {
            return Err(signed_out());
        };
        let envs = state
            .engine
            .session_environments(session.env_ids)
            .await
            .map_err(|_| signed_out())?;
        Ok(Viewer { secret, envs })
    }
}

/// The `Set-Cookie` value of a new session.
fn session_cookie(secret: &str, headers: &HeaderMap) -> HeaderValue {
    let max_age = trigr_engine::dashboard::SESSION_TTL.as_secs();
    let secure = if over_tls(headers) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={secret}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn signed_in(secret: &str, env_id: &str, headers: &HeaderMap) -> Response {
    let mut response = Redirect::to(&format!("/dashboard/env/{env_id}/runs")).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie(secret, headers));
    response
}

/// `GET /dashboard/login`.
pub async fn login_form() -> Response {
    login_page(StatusCode::OK, None)
}

fn login_page(status: StatusCode, problem: Option<&str>) -> Response {
    let body = html! {
        main.login {
            div.panel {
                h1 { "Sign in to " span.brand { "trig" span { "r" } } }
                @if let Some(p) = problem { p.notice.error role="alert" { (p) } }
                form method="post" action="/dashboard/login" {
                    label for="key" { "Secret key of an environment"
                        input #key name="key" type="password" autocomplete="off" required autofocus
                            placeholder="tr_dev_…" maxlength=(MAX_KEY_CHARS);
                    }
                    button type="submit" { "Sign in" }
                }
                p.muted { "Or open a sign-in link from " code { "trigr dashboard link" } "." }
            }
        }
    };
    (status, layout::bare("Sign in", body)).into_response()
}

/// The sign-in form.
#[derive(serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    key: String,
}

/// `POST /dashboard/login`: a secret key's environment, signed in.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    same_site(&headers)?;
    let key = form.key.trim();
    let wrong = || {
        login_page(
            StatusCode::UNAUTHORIZED,
            Some("That is not a secret key of any environment."),
        )
    };
    if key.is_empty() || key.len() > MAX_KEY_CHARS || key.contains('\0') {
        return Ok(wrong());
    }
    let Ok(env) = state.keys.by_key(&state.engine, key).await else {
        return Ok(wrong());
    };
    let session = state.engine.sign_in_with_key(&env).await?;
    Ok(signed_in(&session.secret, &env.id, &headers))
}

/// `GET /dashboard/link/{token}`: a one-time link, used.
pub async fn link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    if token.len() > 128 {
        return Err(PageError::not_found(
            "This sign-in link is unknown, used or expired",
        ));
    }
    let Some(session) = state.engine.sign_in_with_link(&token).await? else {
        return Err(PageError::not_found(
            "This sign-in link is unknown, used or expired: make a new one with `trigr dashboard link`",
        ));
    };
    let first = session.session.env_ids.first().cloned().unwrap_or_default();
    Ok(signed_in(&session.secret, &first, &headers))
}

/// A form that only carries its CSRF value.
#[derive(serde::Deserialize)]
pub struct CsrfOnly {
    pub csrf: Option<String>,
}

/// `POST /dashboard/logout`: ends the session and clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    same_site(&headers)?;
    viewer.check_csrf(form.csrf.as_deref())?;
    state.engine.end_dashboard_session(&viewer.secret).await?;
    let mut response = Redirect::to("/dashboard/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("trigr_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    Ok(response)
}

/// `GET /dashboard`: the first environment's runs.
pub async fn home(viewer: Viewer) -> Response {
    match viewer.envs.first() {
        Some(env) => Redirect::to(&format!("/dashboard/env/{}/runs", env.id)).into_response(),
        None => Redirect::to("/dashboard/login").into_response(),
    }
}
