//! `GET /dashboard/env/{env_id}/runs/{run_id}`: one run, live — its status and attempts,
//! payload, output, error, metadata, the DAG of a workflow plan it executes, logs, journal
//! (steps and waits, children linked),
//! waitpoints, output streams and trace — and the actions on it: cancel, replay with an
//! edited payload, reschedule a delayed run, complete a token it waits for. Each action calls
//! the engine command the API's route calls.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use trigr_engine::attempts::{AttemptState, AttemptView};
use trigr_engine::query::RunWithRelatives;
use trigr_store::{
    JournalEntry, JournalKind, LogEntry, Run, Waitpoint, WaitpointKind, WaitpointStatus,
};
use trigr_types::RunStatus;

use super::auth::{same_site, Viewer};
use super::layout::{self, csrf_field, json, opt_time, page, status_badge, time, PageError, Shell};
use crate::AppState;

/// Most log lines shown (the newest are read when there are more).
const MAX_LOG_LINES: usize = 500;

/// Everything the run page shows, read at once.
pub struct RunView {
    pub r: RunWithRelatives,
    pub journal: Vec<JournalEntry>,
    pub logs: Vec<LogEntry>,
    pub waitpoints: Vec<Waitpoint>,
    pub streams: Vec<String>,
    /// The spans its workers reported, in order of arrival.
    pub spans: Vec<trigr_store::Span>,
}

/// Reads a run and what its page shows; `404` for a run of another environment.
pub async fn read(state: &AppState, env_id: &str, run_id: &str) -> Result<RunView, PageError> {
    let r = state.engine.retrieve_run(env_id, run_id).await?;
    let id = r.run.id.clone();
    let (journal, logs, waitpoints, streams, spans) = state
        .engine
        .read(move |tx| {
            let journal = tx.journal(&id)?;
            let logs = tx.logs(&id, None, MAX_LOG_LINES)?;
            let waitpoints = tx.waitpoints_awaiting(std::slice::from_ref(&id))?;
            let streams = tx.output_streams(&id)?;
            let spans = tx.spans(&id, trigr_engine::spans::MAX_SPANS_PER_RUN)?;
            Ok((journal, logs, waitpoints, streams, spans))
        })
        .await?;
    Ok(RunView {
        r,
        journal,
        logs,
        waitpoints,
        streams,
        spans,
    })
}

/// `GET /dashboard/env/{env_id}/runs/{run_id}`.
pub async fn run(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((env_id, run_id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let env = viewer.env(&env_id)?;
    let view = read(&state, &env.id, &run_id).await?;
    let content = html! {
        p { a href=(format!("/dashboard/env/{}/runs", env.id)) { "← Runs" } }
        h1.mono { (view.r.run.id) }
        div data-live="run" { (live_part(&env.id, &view)) }
        (actions(&viewer, &env.id, &view))
    };
    let shell = Shell {
        viewer: &viewer,
        env,
        tab: "runs",
        title: &run_id,
        live: Some(format!(
            "/dashboard/env/{}/runs/{}/live",
            env.id, view.r.run.id
        )),
    };
    Ok(page(shell, content).into_response())
}

/// The part of the page the live stream sends again when the run changes.
pub fn live_part(env_id: &str, v: &RunView) -> Markup {
    let run = &v.r.run;
    html! {
        div.grid {
            div.panel { h2 { "Run" } (facts(env_id, v)) }
            div.panel { h2 { "Attempts" } (timeline(run, &v.r.attempts)) }
        }
        div.grid {
            div.panel { h2 { "Payload" } (json(run.payload.as_deref())) }
            div.panel { h2 { "Output" } (json(run.output.as_deref())) }
            @if run.error.is_some() {
                div.panel { h2 { "Error" } (json(run.error.as_deref())) }
            }
            div.panel { h2 { "Metadata" } (json(run.metadata.as_deref())) }
        }
        @if let Some((plan, state)) = super::plan::of_run(run) {
            (super::plan::section(&plan, &state))
        }
        div.panel #journal { h2 { "Journal" } (journal(env_id, v)) }
        div.panel #logs { h2 { "Logs" } (logs(&v.logs)) }
        div.grid {
            div.panel { h2 { "Waitpoints" } (waitpoints(&v.waitpoints)) }
            div.panel { h2 { "Streams" } (streams(&v.streams)) }
        }
        (trace_section(v))
    }
}

fn facts(env_id: &str, v: &RunView) -> Markup {
    let run = &v.r.run;
    let link =
        |id: &str| html! { a.mono href=(format!("/dashboard/env/{env_id}/runs/{id}")) { (id) } };
    html! {
        dl.facts {
            dt { "Status" } dd #run-status { (status_badge(run.status)) }
            @if let Some(w) = &v.r.waiting_for { dt { "Waiting for" } dd { (w.message) } }
            dt { "Task" } dd { a href=(format!("/dashboard/env/{env_id}/runs?task={}", run.task_id)) { (run.task_id) } }
            dt { "Version" } dd.mono { (run.version.as_deref().unwrap_or("—")) }
            dt { "Queue" } dd { (run.queue_name) }
            dt { "Region" } dd { a.mono href=(format!("/dashboard/env/{env_id}/runs?region={}", run.region)) { (run.region) } }
            dt { "Tags" } dd { @for t in &run.tags { span.badge.s-idle { (t) } " " } }
            @if let Some(k) = &run.idempotency_key_user { dt { "Idempotency key" } dd.mono { (k) } }
            @if let Some(b) = &run.batch_id { dt { "Batch" } dd { a.mono href=(format!("/dashboard/env/{env_id}/runs?batch={b}")) { (b) } } }
            @if let Some(p) = &run.parent_run_id { dt { "Parent" } dd { (link(p)) } }
            @if let Some(r) = &run.root_run_id { dt { "Root" } dd { (link(r)) } }
            @if !v.r.children.is_empty() {
                dt { "Children" } dd { @for c in &v.r.children { (link(&c.id)) " " (status_badge(c.status)) br; } }
            }
            dt { "Created" } dd { (time(run.created_at)) }
            @if let Some(d) = run.delay_until { dt { "Delayed until" } dd { (time(d)) } }
            dt { "Started" } dd { (opt_time(run.started_at)) }
            dt { "Finished" } dd { (opt_time(run.finished_at)) }
        }
    }
}

fn timeline(run: &Run, attempts: &[AttemptView]) -> Markup {
    html! {
        ol.timeline {
            li { "Created " (time(run.created_at)) }
            @for a in attempts {
                li {
                    strong { "Attempt " (a.number) } " · " (attempt_state(a.state)) br;
                    span.muted { (opt_time(a.started_at)) " → " (opt_time(a.ended_at)) }
                    @if let Some(e) = &a.error { (json(Some(e))) }
                }
            }
            @if let Some(f) = run.finished_at { li { (status_badge(run.status)) " " (time(f)) } }
        }
    }
}

fn attempt_state(s: AttemptState) -> String {
    match s {
        AttemptState::Running => "running".into(),
        AttemptState::Suspended => "suspended".into(),
        AttemptState::Completed => "completed".into(),
        AttemptState::Ended(o) => o.as_str().to_lowercase(),
    }
}

fn journal(env_id: &str, v: &RunView) -> Markup {
    if v.journal.is_empty() {
        return layout::empty("No steps or waits yet.");
    }
    let start = v.r.run.started_at.unwrap_or(v.r.run.created_at);
    let took: Vec<i64> = v
        .journal
        .iter()
        .scan(start, |previous, e| {
            let took = (e.created_at - *previous).max(0);
            *previous = e.created_at;
            Some(took)
        })
        .collect();
    html! {
        table {
            thead { tr { th { "#" } th { "Kind" } th { "Name" } th { "At" } th { "Took" } th { "Result" } } }
            tbody {
                @for (e, took) in v.journal.iter().zip(&took) {
                    tr.step data-step=(e.name) {
                        td { (e.position) }
                        td { (e.kind.as_str()) }
                        td { (e.name) }
                        td { (time(e.created_at)) }
                        td { (layout::duration(*took)) }
                        td { (journal_result(env_id, e, &v.r.children)) }
                    }
                }
            }
        }
    }
}

fn journal_result(env_id: &str, e: &JournalEntry, children: &[Run]) -> Markup {
    match e.kind {
        JournalKind::Step => json(e.output.as_deref()),
        JournalKind::Wait => {
            let status = e.wait.as_ref().map_or("—", |(s, _)| s.as_str());
            let waited_children: Vec<&Run> = children.iter().collect();
            html! {
                span.badge.s-wait { (status) }
                @if let Some(wp) = &e.waitpoint_id { " " span.mono.muted { (wp) } }
                @if let Some((_, Some(out))) = &e.wait { (json(Some(out))) }
                @if !waited_children.is_empty() && e.name.contains("trigger") {
                    @for c in waited_children { br; a.mono href=(format!("/dashboard/env/{env_id}/runs/{}", c.id)) { (c.id) } }
                }
            }
        }
    }
}

fn logs(lines: &[LogEntry]) -> Markup {
    if lines.is_empty() {
        return layout::empty("No logs yet.");
    }
    html! {
        div.logs.mono role="log" {
            @for l in lines {
                div.log-line.(format!("lvl-{}", l.level)) {
                    span.muted { (chrono::DateTime::from_timestamp_millis(l.time).map(|t| t.format("%H:%M:%S%.3f").to_string()).unwrap_or_default()) }
                    span { (l.level) }
                    span.log-message { (l.message) @if let Some(f) = &l.fields { " " span.muted { (f) } } }
                }
            }
        }
    }
}

fn waitpoints(list: &[Waitpoint]) -> Markup {
    if list.is_empty() {
        return layout::empty("Not waiting on anything.");
    }
    html! {
        table {
            thead { tr { th { "Waitpoint" } th { "Kind" } th { "Status" } th { "Due" } } }
            tbody { @for w in list { tr {
                td.mono { (w.id) } td { (w.kind.as_str()) } td { (w.status.as_str()) } td { (opt_time(w.due_at)) }
            } } }
        }
    }
}

fn streams(list: &[String]) -> Markup {
    if list.is_empty() {
        return layout::empty("No output streams.");
    }
    html! { ul { @for s in list { li.mono { (s) } } } }
}

/// One bar of the waterfall: times in nanoseconds since the epoch.
struct Bar {
    name: String,
    kind: String,
    /// The child run a `trigger` span started, when known.
    child: Option<String>,
    start_ns: i64,
    end_ns: i64,
    depth: usize,
    failed: bool,
}

/// Deepest nesting drawn; deeper spans are drawn at this depth.
const MAX_DEPTH: usize = 12;

/// The run's trace as a waterfall: the spans its workers reported (nested by parent), or,
/// before any arrived, its attempts and journal entries.
pub fn trace_section(v: &RunView) -> Markup {
    let bars = if v.spans.is_empty() {
        bars_of_journal(v)
    } else {
        bars_of_spans(&v.spans, &v.r.children)
    };
    let trace_id = v.r.run.trace().trace_id;
    let Some(start) = bars.iter().map(|b| b.start_ns).min() else {
        return html! { div.panel.waterfall #trace { h2 { "Trace" } (layout::empty("No spans yet.")) } };
    };
    let end = bars
        .iter()
        .map(|b| b.end_ns)
        .max()
        .unwrap_or(start)
        .max(start + 1);
    let total = (end - start) as f64;
    html! {
        div.panel.waterfall #trace {
            h2 { "Trace" }
            @if !trace_id.is_empty() { p.muted { "Trace id " span.mono { (trace_id) } } }
            table {
                thead { tr { th { "Span" } th { "Took" } th style="width:55%" { "" } } }
                tbody { @for b in &bars {
                    @let left = (b.start_ns - start) as f64 / total * 100.0;
                    @let width = ((b.end_ns - b.start_ns) as f64 / total * 100.0).max(0.5);
                    tr data-span-kind=(b.kind) {
                        td style=(format!("padding-left:{}px", 10 + b.depth * 16)) {
                            (b.name)
                            @if let Some(c) = &b.child { " " a.mono href=(format!("/dashboard/env/{}/runs/{c}", v.r.run.env_id)) { (c) } }
                        }
                        td { (layout::duration((b.end_ns - b.start_ns) / 1_000_000)) }
                        td { div.bar.failed[b.failed] style=(format!("margin-left:{left:.2}%;width:{width:.2}%")) {} }
                    }
                } }
            }
        }
    }
}

/// How many of a span's ancestors were reported (at most [`MAX_DEPTH`]).
fn depth<'a>(parents: &HashMap<&'a str, Option<&'a str>>, mut id: &'a str) -> usize {
    let mut depth = 0;
    while let Some(Some(parent)) = parents.get(id) {
        if depth == MAX_DEPTH || !parents.contains_key(parent) {
            break;
        }
        depth += 1;
        id = parent;
    }
    depth
}

/// The child run a `trigger` span started: the one its attributes name, else the child whose
/// root span hangs under it.
fn child_of(s: &trigr_store::Span, children: &[Run]) -> Option<String> {
    if s.kind != "trigger" {
        return None;
    }
    let named = s
        .attributes
        .as_deref()
        .and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok())
        .and_then(|a| a["trigr.child.run_id"].as_str().map(str::to_string));
    named.or_else(|| {
        children
            .iter()
            .find(|c| c.parent_span_id.as_deref() == Some(s.span_id.as_str()))
            .map(|c| c.id.clone())
    })
}

/// Reported spans, ordered by start, each indented under its parent; `trigger` spans link
/// the child run they started.
fn bars_of_spans(spans: &[trigr_store::Span], children: &[Run]) -> Vec<Bar> {
    let parents: HashMap<&str, Option<&str>> = spans
        .iter()
        .map(|s| (s.span_id.as_str(), s.parent_span_id.as_deref()))
        .collect();
    let mut bars: Vec<Bar> = spans
        .iter()
        .map(|s| Bar {
            name: s.name.clone(),
            kind: s.kind.clone(),
            child: child_of(s, children),
            start_ns: s.start_ns,
            end_ns: s.end_ns.max(s.start_ns),
            depth: depth(&parents, &s.span_id),
            failed: s.status == "error",
        })
        .collect();
    bars.sort_by_key(|b| (b.start_ns, b.depth));
    bars
}

/// Before any span arrived: each attempt, and each journal entry from the one before it.
fn bars_of_journal(v: &RunView) -> Vec<Bar> {
    const NS: i64 = 1_000_000;
    let run = &v.r.run;
    let now = run.finished_at.unwrap_or(run.updated_at);
    let mut bars = Vec::new();
    for a in &v.r.attempts {
        if let Some(s) = a.started_at {
            bars.push(Bar {
                name: format!("attempt {}", a.number),
                kind: "attempt".into(),
                child: None,
                start_ns: s * NS,
                end_ns: a.ended_at.unwrap_or(now).max(s) * NS,
                depth: 0,
                failed: false,
            });
        }
    }
    let mut previous = run.started_at.unwrap_or(run.created_at);
    for e in &v.journal {
        bars.push(Bar {
            name: format!("{} {}", e.kind.as_str(), e.name),
            kind: e.kind.as_str().into(),
            child: None,
            start_ns: previous * NS,
            end_ns: e.created_at.max(previous) * NS,
            depth: 1,
            failed: false,
        });
        previous = e.created_at;
    }
    bars
}

fn actions(viewer: &Viewer, env_id: &str, v: &RunView) -> Markup {
    let run = &v.r.run;
    let base = format!("/dashboard/env/{env_id}/runs/{}", run.id);
    let tokens: Vec<&Waitpoint> = v
        .waitpoints
        .iter()
        .filter(|w| w.kind == WaitpointKind::Token && w.status == WaitpointStatus::Waiting)
        .collect();
    html! {
        div.panel #actions {
            h2 { "Actions" }
            div.actions {
                @if !run.status.is_final() {
                    form method="post" action=(format!("{base}/cancel")) {
                        (csrf_field(viewer))
                        button.danger #cancel type="submit" { "Cancel run" }
                    }
                }
                @if run.status == RunStatus::Delayed {
                    form method="post" action=(format!("{base}/reschedule")) {
                        (csrf_field(viewer))
                        label { "New delay" input name="delay" placeholder="10m or 2025-01-31T10:00:00Z" required; }
                        button type="submit" { "Reschedule" }
                    }
                }
                @for t in &tokens {
                    form method="post" action=(format!("{base}/tokens/{}/complete", t.id)) {
                        (csrf_field(viewer))
                        label { "Complete " span.mono { (t.id) } " with (JSON)" textarea name="data" { "{}" } }
                        button type="submit" { "Complete token" }
                    }
                }
            }
            form method="post" action=(format!("{base}/replay")) {
                (csrf_field(viewer))
                label { "Replay with payload (JSON)"
                    textarea name="payload" { (run.payload.as_deref().unwrap_or("")) }
                }
                button.secondary type="submit" { "Replay" }
            }
        }
    }
}

/// A run action's form.
#[derive(serde::Deserialize)]
pub struct ActionForm {
    csrf: Option<String>,
    delay: Option<String>,
    payload: Option<String>,
    data: Option<String>,
}

/// `POST …/runs/{run_id}/{action}` (and `…/tokens/{token}/complete`).
pub async fn act(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((env_id, run_id, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Result<Response, PageError> {
    same_site(&headers)?;
    viewer.check_csrf(form.csrf.as_deref())?;
    let env = viewer.env(&env_id)?;
    let back = format!("/dashboard/env/{}/runs/{run_id}", env.id);
    match action.as_str() {
        "cancel" => {
            state.engine.cancel(&env.id, &run_id).await?;
        }
        "reschedule" => {
            let delay = form.delay.as_deref().map(str::trim).unwrap_or("");
            if delay.is_empty() {
                return Err(PageError::bad_request(
                    "Give the new delay: 10m, 2h or a date",
                ));
            }
            state.engine.reschedule(&env.id, &run_id, delay).await?;
        }
        "replay" => {
            let payload = parse_json("payload", form.payload.as_deref())?;
            let overrides = trigr_types::wire::rest::ReplayOverrides {
                payload,
                ..Default::default()
            };
            let replay = trigr_engine::replay::check(overrides)?;
            let t = state.engine.replay(&env.id, &run_id, replay).await?;
            return Ok(
                Redirect::to(&format!("/dashboard/env/{}/runs/{}", env.id, t.run.id))
                    .into_response(),
            );
        }
        _ => return Err(PageError::not_found("No such action")),
    }
    Ok(Redirect::to(&back).into_response())
}

/// `POST …/runs/{run_id}/tokens/{token_id}/complete`.
pub async fn complete_token(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((env_id, run_id, token_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Result<Response, PageError> {
    same_site(&headers)?;
    viewer.check_csrf(form.csrf.as_deref())?;
    let env = viewer.env(&env_id)?;
    let data = parse_json("data", form.data.as_deref())?.unwrap_or(serde_json::Value::Null);
    state
        .engine
        .complete_token(&env.id, &token_id, data, None)
        .await?;
    Ok(Redirect::to(&format!("/dashboard/env/{}/runs/{run_id}", env.id)).into_response())
}

fn parse_json(name: &str, text: Option<&str>) -> Result<Option<serde_json::Value>, PageError> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => serde_json::from_str(t)
            .map(Some)
            .map_err(|e| PageError::bad_request(format!("The {name} is not JSON: {e}"))),
    }
}
