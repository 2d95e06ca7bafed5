//! `GET /dashboard/env/{env_id}/schedules`: each schedule's pattern, next and last tick, and
//! activate or deactivate (the engine's `set_schedule_active`).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;

use super::auth::{same_site, CsrfOnly, Viewer};
use super::layout::{self, csrf_field, opt_time, page, PageError, Shell};
use crate::AppState;

/// `GET /dashboard/env/{env_id}/schedules`.
pub async fn schedules(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(env_id): Path<String>,
) -> Result<Response, PageError> {
    let env = viewer.env(&env_id)?;
    let (list, total) = state
        .engine
        .list_schedules(&env.id, Default::default(), 1, 100)
        .await?;
    let content = html! {
        h1 { "Schedules" }
        div.panel {
            @if list.is_empty() { (layout::empty("No schedules.")) }
            @else {
                table {
                    thead { tr { th { "Schedule" } th { "Task" } th { "Cron" } th { "Next tick" } th { "Last tick" } th { "" } } }
                    tbody { @for s in &list { tr {
                        td.mono { (s.id) @if let Some(k) = &s.dedup_key { br; span.muted { (k) } } }
                        td { (s.task_id) }
                        td.mono { (s.cron) " " span.muted { (s.timezone) } }
                        td { (opt_time(s.next_run_at)) }
                        td { (opt_time(s.last_run_at)) }
                        td { form method="post" action=(format!("/dashboard/env/{}/schedules/{}/{}", env.id, s.id, if s.active { "deactivate" } else { "activate" })) {
                            (csrf_field(&viewer))
                            button.secondary type="submit" { @if s.active { "Deactivate" } @else { "Activate" } }
                        } }
                    } } }
                }
                @if total as usize > list.len() { p.muted { "Showing " (list.len()) " of " (total) "." } }
            }
        }
    };
    let shell = Shell {
        viewer: &viewer,
        env,
        tab: "schedules",
        title: "Schedules",
        live: None,
    };
    Ok(page(shell, content).into_response())
}

/// `POST /dashboard/env/{env_id}/schedules/{id}/{activate|deactivate}`.
pub async fn act(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((env_id, id, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    same_site(&headers)?;
    viewer.check_csrf(form.csrf.as_deref())?;
    let env = viewer.env(&env_id)?;
    let active = match action.as_str() {
        "activate" => true,
        "deactivate" => false,
        _ => return Err(PageError::not_found("No such action")),
    };
    state
        .engine
        .set_schedule_active(&env.id, &id, active)
        .await?;
    Ok(Redirect::to(&format!("/dashboard/env/{}/schedules", env.id)).into_response())
}
