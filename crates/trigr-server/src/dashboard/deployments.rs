//! `GET /dashboard/env/{env_id}/tasks` and `…/deployments`: the tasks of the current
//! version, every version with whether its workers are live, promote and roll back (the
//! engine's `promote` and `rollback`, as the API's routes call them).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;

use super::auth::{same_site, CsrfOnly, Viewer};
use super::layout::{self, csrf_field, opt_time, page, time, PageError, Shell};
use crate::AppState;

/// Most versions shown.
const MAX_VERSIONS: usize = 100;

/// `GET /dashboard/env/{env_id}/tasks`.
pub async fn tasks(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(env_id): Path<String>,
) -> Result<Response, PageError> {
    let env = viewer.env(&env_id)?;
    let list = state.engine.deployments(&env.id, MAX_VERSIONS).await?;
    let current = list
        .deployments
        .iter()
        .find(|d| Some(&d.version) == list.current.as_ref());
    let content = html! {
        h1 { "Tasks" }
        div.panel {
            @match current {
                None => (layout::empty("No version is current yet: deploy or start a worker.")),
                Some(d) => {
                    p.muted { "Version " span.mono { (d.version) } }
                    table {
                        thead { tr { th { "Task" } th { "Queue" } th { "Runs" } } }
                        tbody { @for t in &d.tasks { tr {
                            td { (t.id) }
                            td { (t.queue.as_ref().map(|q| q.name.clone()).unwrap_or_else(|| format!("task/{}", t.id))) }
                            td { a href=(format!("/dashboard/env/{}/runs?task={}", env.id, t.id)) { "Runs →" } }
                        } } }
                    }
                }
            }
        }
    };
    let shell = Shell {
        viewer: &viewer,
        env,
        tab: "tasks",
        title: "Tasks",
        live: None,
    };
    Ok(page(shell, content).into_response())
}

/// `GET /dashboard/env/{env_id}/deployments`.
pub async fn deployments(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(env_id): Path<String>,
) -> Result<Response, PageError> {
    let env = viewer.env(&env_id)?;
    let list = state.engine.deployments(&env.id, MAX_VERSIONS).await?;
    let content = html! {
        h1 { "Deployments" }
        div.panel {
            @if list.deployments.is_empty() { (layout::empty("No deployments yet.")) }
            @else {
                table {
                    thead { tr { th { "Version" } th { "Tasks" } th { "Created" } th { "Promoted" } th { "Workers" } th { "" } } }
                    tbody { @for d in &list.deployments {
                        @let is_current = Some(&d.version) == list.current.as_ref();
                        tr {
                            td.mono { (d.version) @if is_current { " " span.badge.s-ok { "current" } } }
                            td { (d.tasks.len()) }
                            td { (time(d.created_at)) }
                            td { (opt_time(d.promoted_at)) }
                            td { @if list.workers.has_workers(&d.version) { span.badge.s-run { (live_label(list.workers.live_workers(&d.version))) } }
                                 @else { span.muted { "last seen " (opt_time(list.workers.last_seen(&d.version))) } } }
                            td { @if !is_current {
                                form method="post" action=(format!("/dashboard/env/{}/deployments/{}/promote", env.id, d.version)) {
                                    (csrf_field(&viewer)) button.secondary type="submit" { "Promote" }
                                }
                            } }
                        }
                    } }
                }
                form method="post" action=(format!("/dashboard/env/{}/deployments/rollback", env.id)) {
                    (csrf_field(&viewer)) button.secondary type="submit" { "Roll back to the previous version" }
                }
            }
        }
    };
    let shell = Shell {
        viewer: &viewer,
        env,
        tab: "deployments",
        title: "Deployments",
        live: None,
    };
    Ok(page(shell, content).into_response())
}

/// `POST /dashboard/env/{env_id}/deployments/{version}/promote`.
pub async fn promote(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((env_id, version)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    same_site(&headers)?;
    viewer.check_csrf(form.csrf.as_deref())?;
    let env = viewer.env(&env_id)?;
    state.engine.promote(&env.id, &version).await?;
    Ok(Redirect::to(&format!("/dashboard/env/{}/deployments", env.id)).into_response())
}

/// `POST /dashboard/env/{env_id}/deployments/rollback`.
pub async fn rollback(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(env_id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    same_site(&headers)?;
    viewer.check_csrf(form.csrf.as_deref())?;
    let env = viewer.env(&env_id)?;
    state.engine.rollback(&env.id).await?;
    Ok(Redirect::to(&format!("/dashboard/env/{}/deployments", env.id)).into_response())
}

/// The badge of a version with live workers: how many, when any asked for runs.
fn live_label(workers: i64) -> String {
    match workers {
        0 => "live".to_string(),
        1 => "1 worker".to_string(),
        n => format!("{n} workers"),
    }
}
