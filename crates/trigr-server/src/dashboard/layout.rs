//! The page shell (header, environment switch, tabs), the small pieces every page shows
//! (status badges, times, JSON) and error pages.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use trigr_store::Environment;
use trigr_types::{Millis, RunStatus};

use super::auth::Viewer;

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/live.js");

/// The tabs of an environment, as (path segment, title).
pub const TABS: [(&str, &str); 9] = [
    ("runs", "Runs"),
    ("overview", "Overview"),
    ("tasks", "Tasks"),
    ("deployments", "Deployments"),
    ("queues", "Queues"),
    ("mollifier", "Burst smoothing"),
    ("schedules", "Schedules"),
    ("batches", "Batches"),
    ("tokens", "Tokens"),
];

/// An HTML answer.
pub struct Page {
    pub status: StatusCode,
    pub markup: Markup,
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        (
            self.status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
                (header::X_FRAME_OPTIONS, "DENY"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
                ),
            ],
            self.markup.into_string(),
        )
            .into_response()
    }
}

/// A page of an environment: what the header needs and the page's own content.
pub struct Shell<'a> {
    pub viewer: &'a Viewer,
    pub env: &'a Environment,
    /// The tab's path segment (`runs`, `queues`, …).
    pub tab: &'a str,
    pub title: &'a str,
    /// The live stream this page follows, if any.
    pub live: Option<String>,
}

/// A whole page of an environment.
pub fn page(shell: Shell<'_>, content: Markup) -> Page {
    let env = shell.env;
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(shell.title)) }
            body data-live-source=[shell.live.as_deref()] {
                a.skip href="#content" { "Skip to content" }
                header.top {
                    a.brand href="/dashboard" { "trig" span { "r" } }
                    nav.tabs aria-label="Environment" {
                        @for (segment, title) in TABS {
                            a href=(format!("/dashboard/env/{}/{segment}", env.id))
                                aria-current=[(segment == shell.tab).then_some("page")] { (title) }
                        }
                    }
                    div.env-switch {
                        @if shell.live.is_some() {
                            span.muted title="Live updates" { span #live-dot .live-dot {} span.hide-narrow { "live" } }
                        }
                        (env_menu(shell.viewer, env, shell.tab))
                        form method="post" action="/dashboard/logout" {
                            input type="hidden" name="csrf" value=(shell.viewer.csrf());
                            button.secondary type="submit" { "Sign out" }
                        }
                    }
                }
                main #content { (content) }
                script src="/dashboard/assets/live.js" {}
            }
        }
    };
    Page {
        status: StatusCode::OK,
        markup,
    }
}

fn head(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " · trigr" }
        link rel="stylesheet" href="/dashboard/assets/style.css";
    }
}

fn env_menu(viewer: &Viewer, env: &Environment, tab: &str) -> Markup {
    html! {
        nav.tabs aria-label="Environments" {
            @for e in &viewer.envs {
                a href=(format!("/dashboard/env/{}/{tab}", e.id))
                    aria-current=[(e.id == env.id).then_some("page")] title=(e.id) { (e.slug) }
            }
        }
    }
}

/// A page outside any environment (sign-in, errors).
pub fn bare(title: &str, content: Markup) -> Page {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body { (content) }
        }
    };
    Page {
        status: StatusCode::OK,
        markup,
    }
}

/// `GET /dashboard/assets/style.css`.
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// `GET /dashboard/assets/live.js`.
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// A failure shown as a page: the status and a sentence that names the problem.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> PageError {
        PageError {
            status,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn bad_request(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<trigr_engine::Error> for PageError {
    fn from(e: trigr_engine::Error) -> PageError {
        let api = crate::error::ApiError::from(e);
        PageError::new(api.status, api.message)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = html! {
            main.login {
                div.panel {
                    h1 { (self.status.as_u16()) " · " (title) }
                    p.notice.error role="alert" { (self.message) }
                    p { a href="/dashboard" { "Back to the dashboard" } }
                }
            }
        };
        let mut page = bare(title, body);
        page.status = self.status;
        page.into_response()
    }
}

/// The colour class of a status.
pub fn status_class(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Completed => "s-ok",
        RunStatus::Failed | RunStatus::Crashed | RunStatus::SystemFailure | RunStatus::TimedOut => {
            "s-bad"
        }
        RunStatus::Dequeued | RunStatus::Executing => "s-run",
        RunStatus::Waiting | RunStatus::Delayed | RunStatus::PendingVersion => "s-wait",
        RunStatus::Queued | RunStatus::Canceled | RunStatus::Expired => "s-idle",
    }
}

/// A run status as a coloured badge.
pub fn status_badge(status: RunStatus) -> Markup {
    html! { span.badge.(status_class(status)) data-status=(status.as_str()) { (status.as_str()) } }
}

/// A time as UTC, to the second.
pub fn time(ms: Millis) -> Markup {
    let text = chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ms.to_string());
    html! { time datetime=(text) { (text) } }
}

/// An optional time, or a dash.
pub fn opt_time(ms: Option<Millis>) -> Markup {
    match ms {
        Some(ms) => time(ms),
        None => html! { span.muted { "—" } },
    }
}

/// A duration in milliseconds, short.
pub fn duration(ms: i64) -> String {
    match ms {
        ms if ms < 1000 => format!("{ms} ms"),
        ms if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        ms if ms < 3_600_000 => format!("{}m {}s", ms / 60_000, (ms % 60_000) / 1000),
        ms => format!("{}h {}m", ms / 3_600_000, (ms % 3_600_000) / 60_000),
    }
}

/// JSON text shown indented (or as it is, when it is not JSON).
pub fn json(text: Option<&str>) -> Markup {
    let Some(text) = text else {
        return html! { span.muted { "none" } };
    };
    let shown = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_string());
    html! { pre.json { (shown) } }
}

/// A hidden CSRF field for a form of this session.
pub fn csrf_field(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.csrf()); }
}

/// Nothing to show.
pub fn empty(text: &str) -> Markup {
    html! { p.muted { (text) } }
}
