//! `GET /dashboard/env/{env_id}/runs`: the environment's runs, newest first, filtered by
//! status, task, tag, version, region, batch, schedule, idempotency key and creation time, with keyset
//! paging (`after`/`before` run ids, served by the store's `(env_id, seq)` index). `q` opens a
//! run by its id, or else lists the runs holding it as their idempotency key.
//! The table is live: the page's stream sends it again whenever a run of the environment
//! changes.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use trigr_store::{Run, RunFilter};
use trigr_types::RunStatus;

use super::auth::Viewer;
use super::layout::{self, opt_time, page, status_badge, PageError, Shell};
use crate::AppState;

/// Runs on a page.
pub const PAGE_SIZE: usize = 25;
/// Most values of one list filter.
const MAX_VALUES: usize = 20;
/// Longest filter value.
const MAX_VALUE_CHARS: usize = 256;

/// The runs page's query, checked.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    pub filter: RunFilter,
    pub after: Option<String>,
    pub before: Option<String>,
    pub q: Option<String>,
    /// The query as given (non-empty values), to write links and the form back.
    pub raw: Vec<(String, String)>,
}

fn list(name: &str, value: &str) -> Result<Vec<String>, PageError> {
    let values: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
        .collect();
    if values.len() > MAX_VALUES {
        return Err(PageError::bad_request(format!(
            "The filter '{name}' takes at most {MAX_VALUES} values"
        )));
    }
    Ok(values)
}

/// A time filter: RFC 3339, or a date (its start in UTC; `to` includes the whole day).
fn when(name: &str, value: &str, end_of_day: bool) -> Result<i64, PageError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let day = d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis());
        if let Some(ms) = day {
            return Ok(if end_of_day { ms + 86_400_000 - 1 } else { ms });
        }
    }
    Err(PageError::bad_request(format!(
        "The filter '{name}' must be a date (2025-01-31) or an RFC 3339 time, got '{value}'"
    )))
}

/// Reads the query; a bad value is a `400` naming it.
pub fn parse(params: &[(String, String)]) -> Result<Filters, PageError> {
    let mut f = Filters::default();
    for (name, value) in params {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        if value.len() > MAX_VALUE_CHARS {
            return Err(PageError::bad_request(format!(
                "The filter '{name}' is longer than {MAX_VALUE_CHARS} characters"
            )));
        }
        f.raw.push((name.clone(), value.to_string()));
        match name.as_str() {
            "status" => {
                for s in list(name, value)? {
                    let status = s.parse::<RunStatus>().map_err(|_| {
                        PageError::bad_request(format!(
                            "The filter 'status' has an unknown status '{s}'"
                        ))
                    })?;
                    f.filter.statuses.push(status);
                }
            }
            "task" => f.filter.tasks.extend(list(name, value)?),
            "tag" => f.filter.tags.extend(list(name, value)?),
            "version" => f.filter.versions.extend(list(name, value)?),
            "region" => f.filter.regions.extend(list(name, value)?),
            "batch" => f.filter.batch_id = Some(value.to_string()),
            "from" => f.filter.created_from = Some(when(name, value, false)?),
            "to" => f.filter.created_to = Some(when(name, value, true)?),
            "q" => f.q = Some(value.to_string()),
            "after" => f.after = Some(value.to_string()),
            "before" => f.before = Some(value.to_string()),
            "schedule" => f.filter.schedule_id = Some(value.to_string()),
            "key" => f.filter.idempotency_key = Some(value.to_string()),
            other => {
                return Err(PageError::bad_request(format!(
                    "'{other}' is not a filter of the runs page"
                )))
            }
        }
    }
    if f.after.is_some() && f.before.is_some() {
        return Err(PageError::bad_request("Give 'after' or 'before', not both"));
    }
    Ok(f)
}

/// The page's runs, newest first, and whether older and newer pages exist.
pub struct Listed {
    pub runs: Vec<Run>,
    pub older: bool,
    pub newer: bool,
}

/// Reads one page of runs.
pub async fn read(state: &AppState, env_id: &str, f: &Filters) -> Result<Listed, PageError> {
    let mut runs = state
        .engine
        .list_runs(
            env_id,
            f.filter.clone(),
            PAGE_SIZE,
            f.after.clone(),
            f.before.clone(),
            Vec::new(),
        )
        .await?;
    let more = runs.len() > PAGE_SIZE;
    runs.truncate(PAGE_SIZE);
    Ok(Listed {
        runs,
        older: more || f.before.is_some(),
        newer: f.after.is_some() || (f.before.is_some() && more),
    })
}

/// `GET /dashboard/env/{env_id}/runs`.
pub async fn runs(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(env_id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let env = viewer.env(&env_id)?;
    let f = parse(&params)?;
    if let Some(q) = &f.q {
        if let Ok(r) = state.engine.retrieve_run(&env.id, q).await {
            let to = format!("/dashboard/env/{}/runs/{}", env.id, r.run.id);
            return Ok(Redirect::to(&to).into_response());
        }
        // Not a run id: the runs holding it as their idempotency key, at an address the
        // page's live stream reads the same way.
        let mut query: Vec<(String, String)> = f
            .raw
            .iter()
            .filter(|(k, _)| k != "q" && k != "key")
            .cloned()
            .collect();
        query.push(("key".to_string(), q.clone()));
        let to = format!("/dashboard/env/{}/runs{}", env.id, encode(&query));
        return Ok(Redirect::to(&to).into_response());
    }
    let table = table(&state, &env.id, &f).await?;
    let query = encode(&f.raw);
    let content = html! {
        h1 { "Runs" }
        (filter_form(&f))
        div.panel data-live="runs" { (table) }
    };
    let shell = Shell {
        viewer: &viewer,
        env,
        tab: "runs",
        title: "Runs",
        live: Some(format!("/dashboard/env/{}/runs/live{query}", env.id)),
    };
    Ok(page(shell, content).into_response())
}

/// The live part of the page: the table and its pager.
pub async fn table(state: &AppState, env_id: &str, f: &Filters) -> Result<Markup, PageError> {
    let listed = read(state, env_id, f).await?;
    Ok(html! {
        @if listed.runs.is_empty() {
            (layout::empty("No runs match."))
        } @else {
            table #runs-table {
                thead { tr {
                    th { "Run" } th { "Task" } th { "Status" } th.hide-narrow { "Version" }
                    th.hide-narrow { "Tags" } th { "Created" } th.hide-narrow { "Duration" }
                } }
                tbody { @for run in &listed.runs { (row(env_id, run)) } }
            }
        }
        (pager(env_id, f, &listed))
    })
}

fn row(env_id: &str, run: &Run) -> Markup {
    let took = match (run.started_at, run.finished_at) {
        (Some(s), Some(e)) => layout::duration(e - s),
        _ => String::new(),
    };
    html! {
        tr id=(format!("run-{}", run.id)) data-run=(run.id) {
            td { a.mono href=(format!("/dashboard/env/{env_id}/runs/{}", run.id)) { (run.id) } }
            td { (run.task_id) }
            td { (status_badge(run.status)) }
            td.hide-narrow.mono { (run.version.as_deref().unwrap_or("—")) }
            td.hide-narrow { @for t in &run.tags { span.badge.s-idle { (t) } " " } }
            td { (opt_time(Some(run.created_at))) }
            td.hide-narrow { (took) }
        }
    }
}

fn pager(env_id: &str, f: &Filters, listed: &Listed) -> Markup {
    let base: Vec<(String, String)> = f
        .raw
        .iter()
        .filter(|(k, _)| k != "after" && k != "before")
        .cloned()
        .collect();
    let link = |key: &str, run: &Run| {
        let mut q = base.clone();
        q.push((key.to_string(), run.id.clone()));
        format!("/dashboard/env/{env_id}/runs{}", encode(&q))
    };
    html! {
        div.pager {
            @if let (true, Some(first)) = (listed.newer, listed.runs.first()) {
                a.button href=(link("before", first)) rel="prev" { "← Newer" }
            }
            @if let (true, Some(last)) = (listed.older, listed.runs.last()) {
                a.button href=(link("after", last)) rel="next" { "Older →" }
            }
        }
    }
}

fn filter_form(f: &Filters) -> Markup {
    let value = |name: &str| {
        f.raw
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    let field = |name: &str, title: &str, hint: &str| {
        html! { label { (title) input name=(name) value=(value(name)) placeholder=(hint); } }
    };
    let status = value("status");
    html! {
        form.panel.filters method="get" role="search" aria-label="Filter runs" {
            label { "Status"
                select name="status" {
                    option value="" { "Any" }
                    @for s in RunStatus::ALL {
                        option value=(s.as_str()) selected[status == s.as_str()] { (s.as_str()) }
                    }
                }
            }
            (field("task", "Task", "task id"))
            (field("tag", "Tag", "tag"))
            (field("version", "Version", "20250101.1"))
            (field("region", "Region", "default"))
            (field("batch", "Batch", "batch_…"))
            (field("schedule", "Schedule", "sched_…"))
            (field("key", "Idempotency key", "key"))
            (field("from", "Created from", "2025-01-31"))
            (field("to", "Created to", "2025-01-31"))
            (field("q", "Run id or key", "run_…"))
            button type="submit" { "Filter" }
        }
    }
}

/// A query string (`?a=b&…`), or nothing.
pub fn encode(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let joined: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    format!("?{}", joined.join("&"))
}
