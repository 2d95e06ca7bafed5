//! `GET /dashboard/env/{env_id}/queues`: each queue's depth, running runs against its limit,
//! and pause, resume, override and reset of its limit (the engine's `change_queue`, as the
//! API's routes call it). The table is live.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use trigr_engine::queues::{QueueChange, QueueRef};

use super::auth::{same_site, Viewer};
use super::layout::{self, csrf_field, page, PageError, Shell};
use crate::AppState;

/// Most queues shown.
const MAX_QUEUES: usize = 100;

/// `GET /dashboard/env/{env_id}/queues`.
pub async fn queues(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(env_id): Path<String>,
) -> Result<Response, PageError> {
    let env = viewer.env(&env_id)?;
    let table = table_for(&state, &env.id, Some(&viewer)).await?;
    let content = html! { h1 { "Queues" } div.panel data-live="queues" { (table) } };
    let shell = Shell {
        viewer: &viewer,
        env,
        tab: "queues",
        title: "Queues",
        live: Some(format!("/dashboard/env/{}/queues/live", env.id)),
    };
    Ok(page(shell, content).into_response())
}

/// The live table (its forms carry no CSRF value: the page's own first rendering does, and a
/// live update keeps the forms of the page by rendering with the same session).
pub async fn table(state: &AppState, env_id: &str) -> Result<Markup, PageError> {
    table_for(state, env_id, None).await
}

async fn table_for(
    state: &AppState,
    env_id: &str,
    viewer: Option<&Viewer>,
) -> Result<Markup, PageError> {
    let (list, total) = state
        .engine
        .list_queues(env_id, None, 1, MAX_QUEUES)
        .await?;
    Ok(html! {
        @if list.is_empty() { (layout::empty("No queues yet: they appear with the first deployment or run.")) }
        @else {
            table #queues-table {
                thead { tr { th { "Queue" } th { "Queued" } th { "Running" } th { "Limit" } th { "State" } th { "Actions" } } }
                tbody { @for v in &list {
                    @let q = &v.queue;
                    tr data-queue=(q.name) {
                        td { (q.name) }
                        td { (v.queued) }
                        td { (v.running) }
                        td { (q.limit().map_or("—".to_string(), |l| l.to_string()))
                             @if q.override_limit.is_some() { " " span.badge.s-wait { "override" } } }
                        td { @if q.paused { span.badge.s-wait { "paused" } } @else { span.badge.s-ok { "running" } } }
                        td { div.actions {
                            form method="post" action=(format!("/dashboard/env/{env_id}/queues/{}/{}", q.id, if q.paused { "resume" } else { "pause" })) {
                                (csrf_or_live(viewer))
                                button.secondary type="submit" { @if q.paused { "Resume" } @else { "Pause" } }
                            }
                            form method="post" action=(format!("/dashboard/env/{env_id}/queues/{}/override", q.id)) {
                                (csrf_or_live(viewer))
                                input name="limit" type="number" min="0" max="100000" size="5" aria-label=(format!("Limit of {}", q.name)) required;
                                button.secondary type="submit" { "Set limit" }
                            }
                            @if q.override_limit.is_some() {
                                form method="post" action=(format!("/dashboard/env/{env_id}/queues/{}/reset", q.id)) {
                                    (csrf_or_live(viewer))
                                    button.secondary type="submit" { "Reset limit" }
                                }
                            }
                        } }
                    }
                } }
            }
            @if total as usize > list.len() { p.muted { "Showing " (list.len()) " of " (total) " queues." } }
        }
    })
}

/// The CSRF field when rendering for a session; a live update's forms get it from the page
/// (`live.js` copies the page's value into them).
fn csrf_or_live(viewer: Option<&Viewer>) -> Markup {
    match viewer {
        Some(v) => csrf_field(v),
        None => html! { input type="hidden" name="csrf" value="" data-csrf; },
    }
}

/// A queue action's form.
#[derive(serde::Deserialize)]
pub struct QueueForm {
    csrf: Option<String>,
    limit: Option<String>,
}

/// `POST /dashboard/env/{env_id}/queues/{queue_id}/{action}`: pause, resume, override, reset.
pub async fn act(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((env_id, queue_id, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    Form(form): Form<QueueForm>,
) -> Result<Response, PageError> {
    same_site(&headers)?;
    viewer.check_csrf(form.csrf.as_deref())?;
    let env = viewer.env(&env_id)?;
    let change = match action.as_str() {
        "pause" => QueueChange::Pause,
        "resume" => QueueChange::Resume,
        "reset" => QueueChange::Reset,
        "override" => {
            let text = form.limit.as_deref().unwrap_or("").trim();
            let n = text.parse::<i64>().map_err(|_| {
                PageError::bad_request(format!("The limit must be a whole number, got '{text}'"))
            })?;
            QueueChange::Override(n)
        }
        _ => return Err(PageError::not_found("No such action")),
    };
    state
        .engine
        .change_queue(&env.id, QueueRef::Id(queue_id), change)
        .await?;
    Ok(Redirect::to(&format!("/dashboard/env/{}/queues", env.id)).into_response())
}
