//! `GET /dashboard/env/{env_id}/mollifier`: burst smoothing of the environment (see
//! `docs/mollifier.md`): the global mode, the mode and limits in force, the environment's and
//! its organization's overrides, whether it is tripped and until when, the buffer's depth and
//! oldest entry, and its oldest buffered runs. A form sets or clears the environment's
//! override with the engine calls `PUT`/`DELETE /api/v1/mollifier` make. The state is live.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use trigr_engine::mollifier::overrides::Scope;
use trigr_engine::mollifier::status::EnvStatus;
use trigr_engine::mollifier::{Mode, Override};
use trigr_store::BufferedEntry;
use trigr_types::Millis;

use super::auth::{same_site, Viewer};
use super::layout::{self, csrf_field, page, PageError, Shell};
use crate::AppState;

/// Most buffered runs shown.
const MAX_SHOWN: usize = 50;
/// Longest text a form field may hold.
const MAX_FIELD: usize = 32;

/// `GET /dashboard/env/{env_id}/mollifier`.
pub async fn mollifier(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(env_id): Path<String>,
) -> Result<Response, PageError> {
    let env = viewer.env(&env_id)?;
    let status = status_of(&state, &env.id).await?;
    let live = state_part(&state, &status).await?;
    let content = html! {
        h1 { "Burst smoothing" }
        div data-live="mollifier" { (live) }
        (override_form(&viewer, &env.id, status.env_override))
    };
    let shell = Shell {
        viewer: &viewer,
        env,
        tab: "mollifier",
        title: "Burst smoothing",
        live: Some(format!("/dashboard/env/{}/mollifier/live", env.id)),
    };
    Ok(page(shell, content).into_response())
}

/// The live part: the state and the oldest buffered runs.
pub async fn live_part(state: &AppState, env_id: &str) -> Result<Markup, PageError> {
    let status = status_of(state, env_id).await?;
    state_part(state, &status).await
}

async fn status_of(state: &AppState, env_id: &str) -> Result<EnvStatus, PageError> {
    state
        .engine
        .mollifier_status(Some(env_id))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| PageError::not_found("Environment not found"))
}

async fn state_part(state: &AppState, status: &EnvStatus) -> Result<Markup, PageError> {
    let entries = if status.depth > 0 {
        state
            .engine
            .oldest_buffered(&status.env_id, MAX_SHOWN)
            .await?
    } else {
        Vec::new()
    };
    let now = state.engine.now();
    Ok(html! {
        div.grid {
            div.panel { (settings_facts(state, status)) }
            div.panel { (buffer_facts(status)) }
        }
        div.panel {
            h2 { "Oldest buffered runs" }
            (entries_table(&status.env_id, &entries, status.depth, now))
        }
    })
}

fn settings_facts(state: &AppState, status: &EnvStatus) -> Markup {
    let m = state.engine.mollifier();
    let settings = m.settings();
    let o = m.override_for(&status.env_id);
    let limits = o.limits(settings.limits);
    let mode = o.mode.unwrap_or(settings.mode).as_str();
    html! {
        h2 { "Settings" }
        dl.facts #mollifier-settings {
            dt { "Server mode" } dd data-global-mode=(settings.mode.as_str()) { (settings.mode.as_str()) }
            dt { "Mode in force" } dd data-mode=(mode) { (mode) }
            dt { "Threshold" } dd { (limits.threshold) " triggers/s" }
            dt { "Hold" } dd { (layout::duration(limits.hold_ms)) }
            dt { "Environment override" } dd data-env-override { (override_text(status.env_override)) }
            dt { "Organization override" } dd { (override_text(status.org_override)) }
        }
    }
}

fn buffer_facts(status: &EnvStatus) -> Markup {
    html! {
        h2 { "Buffer" }
        dl.facts #mollifier-buffer {
            dt { "State" }
            dd { @match status.tripped_until {
                Some(until) => { span.badge.s-bad data-tripped="true" { "tripped" } " until " (layout::time(until)) }
                None => { span.badge.s-ok data-tripped="false" { "not tripped" } }
            } }
            dt { "Depth" } dd data-depth=(status.depth) { (status.depth) }
            dt { "Oldest entry" }
            dd { @match status.oldest_age_ms {
                Some(age) => { (layout::duration(age)) " old" }
                None => { span.muted { "—" } }
            } }
        }
    }
}

/// An override's fields, or that there is none.
fn override_text(o: Option<Override>) -> Markup {
    let Some(o) = o else {
        return html! { span.muted { "none" } };
    };
    let mut parts = Vec::new();
    if let Some(mode) = o.mode {
        parts.push(format!("mode {}", mode.as_str()));
    }
    if let Some(t) = o.threshold {
        parts.push(format!("threshold {t}/s"));
    }
    if let Some(h) = o.hold_ms {
        parts.push(format!("hold {}", layout::duration(h)));
    }
    if parts.is_empty() {
        return html! { span.muted { "empty (follows the organization and the server)" } };
    }
    html! { (parts.join(", ")) }
}

fn entries_table(env_id: &str, entries: &[BufferedEntry], depth: i64, now: Millis) -> Markup {
    html! {
        @if entries.is_empty() { (layout::empty("Nothing is buffered.")) }
        @else {
            table #buffered-table {
                thead { tr { th { "Run" } th { "Task" } th { "Age" } } }
                tbody { @for e in entries {
                    tr data-run=(e.run_id) {
                        td { a.mono href=(format!("/dashboard/env/{env_id}/runs/{}", e.run_id)) { (e.run_id) } }
                        td { (e.task_id) }
                        td { (layout::duration((now - e.created_at).max(0))) }
                    }
                } }
            }
            @if depth > entries.len() as i64 { p.muted { "Showing the oldest " (entries.len()) " of " (depth) "." } }
        }
    }
}

/// The form setting the environment's override, and the button clearing it.
fn override_form(viewer: &Viewer, env_id: &str, current: Option<Override>) -> Markup {
    let o = current.unwrap_or_default();
    let action = |a: &str| format!("/dashboard/env/{env_id}/mollifier/{a}");
    html! {
        div.panel {
            h2 { "Override for this environment" }
            p.muted { "Empty fields follow the organization's override, else the server's settings." }
            form.filters #mollifier-override method="post" action=(action("override")) {
                (csrf_field(viewer))
                label { "Mode"
                    select name="mode" {
                        option value="" selected[o.mode.is_none()] { "follow" }
                        @for m in [Mode::On, Mode::Off, Mode::Shadow] {
                            option value=(m.as_str()) selected[o.mode == Some(m)] { (m.as_str()) }
                        }
                    }
                }
                label { "Threshold (triggers/s)"
                    input name="threshold" type="number" min="1" max="4294967295" value=[o.threshold];
                }
                label { "Hold (ms)"
                    input name="hold_ms" type="number" min="0" max=(trigr_engine::mollifier::overrides::MAX_HOLD_MS) value=[o.hold_ms];
                }
                div.actions { button type="submit" { "Set override" } }
            }
            @if current.is_some() {
                form.below method="post" action=(action("reset")) {
                    (csrf_field(viewer))
                    button.secondary type="submit" { "Clear override" }
                }
            }
        }
    }
}

/// The override form's fields.
#[derive(serde::Deserialize)]
pub struct OverrideForm {
    csrf: Option<String>,
    mode: Option<String>,
    threshold: Option<String>,
    hold_ms: Option<String>,
}

impl OverrideForm {
    /// The override the form asks for, checked as the API checks it.
    fn to_override(&self) -> Result<Override, PageError> {
        let o = Override {
            mode: field(
                self.mode.as_deref(),
                "mode (on, off or shadow)",
                Mode::parse,
            )?,
            threshold: field(self.threshold.as_deref(), "threshold", |t| t.parse().ok())?,
            hold_ms: field(self.hold_ms.as_deref(), "hold", |t| t.parse().ok())?,
        };
        o.check()?;
        Ok(o)
    }
}

/// A form field: `None` when empty, else what `parse` makes of it, or a 400 naming it.
fn field<T>(
    text: Option<&str>,
    name: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, PageError> {
    let text = text.unwrap_or("").trim();
    if text.is_empty() {
        return Ok(None);
    }
    let parsed = if text.len() > MAX_FIELD || text.contains('\0') {
        None
    } else {
        parse(text)
    };
    parsed.map(Some).ok_or_else(|| {
        let shown: String = text
            .chars()
            .filter(|c| *c != '\0')
            .take(MAX_FIELD)
            .collect();
        PageError::bad_request(format!("The {name} '{shown}' is not valid"))
    })
}

/// `POST /dashboard/env/{env_id}/mollifier/{action}`: `override` sets the environment's
/// override, `reset` removes it.
pub async fn act(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((env_id, action)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<OverrideForm>,
) -> Result<Response, PageError> {
    same_site(&headers)?;
    viewer.check_csrf(form.csrf.as_deref())?;
    let env = viewer.env(&env_id)?;
    let settings = match action.as_str() {
        "override" => Some(form.to_override()?),
        "reset" => None,
        _ => return Err(PageError::not_found("No such action")),
    };
    state
        .engine
        .set_mollifier_override(Scope::Environment(env.id.clone()), settings)
        .await?;
    Ok(Redirect::to(&format!("/dashboard/env/{}/mollifier", env.id)).into_response())
}
