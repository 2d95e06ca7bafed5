//! `GET /dashboard/env/{env_id}/batches`: the environment's batches, newest first, each with
//! its progress counted by status and a link to its runs; `?id=batch_…` shows one batch,
//! `?before=batch_…` the older ones.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use trigr_engine::dashboard::BatchProgress;

use super::auth::Viewer;
use super::layout::{self, page, status_badge, time, PageError, Shell};
use crate::AppState;

/// Batches on a page.
const PAGE_SIZE: usize = 25;

/// The page's query.
#[derive(serde::Deserialize)]
pub struct BatchQuery {
    id: Option<String>,
    before: Option<String>,
}

/// `GET /dashboard/env/{env_id}/batches`.
pub async fn batches(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(env_id): Path<String>,
    Query(q): Query<BatchQuery>,
) -> Result<Response, PageError> {
    let env = viewer.env(&env_id)?;
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let (id, before) = (given(&q.id), given(&q.before));
    let listed = match &id {
        Some(id) => vec![one(&state, &env.id, id).await?],
        None => {
            state
                .engine
                .recent_batches(&env.id, before, PAGE_SIZE + 1)
                .await?
        }
    };
    let older = id.is_none() && listed.len() > PAGE_SIZE;
    let shown = &listed[..listed.len().min(PAGE_SIZE)];
    let content = html! {
        h1 { "Batches" }
        form.panel.filters method="get" role="search" {
            label { "Batch id" input name="id" value=(id.as_deref().unwrap_or("")) placeholder="batch_…"; }
            button type="submit" { "Show" }
        }
        @if shown.is_empty() {
            (layout::empty("No batches yet."))
        }
        @for b in shown { (card(&env.id, b)) }
        @if let (true, Some(last)) = (older, shown.last()) {
            div.pager {
                a.button href=(format!("/dashboard/env/{}/batches?before={}", env.id, last.batch.id)) rel="next" { "Older →" }
            }
        }
    };
    let shell = Shell {
        viewer: &viewer,
        env,
        tab: "batches",
        title: "Batches",
        live: None,
    };
    Ok(page(shell, content).into_response())
}

/// One batch by id, counted the same way as the list.
async fn one(state: &AppState, env_id: &str, id: &str) -> Result<BatchProgress, PageError> {
    let view = state.engine.retrieve_batch(env_id, id).await?;
    let counts = trigr_types::RunStatus::ALL
        .into_iter()
        .map(|s| (s, view.runs.iter().filter(|r| r.status == s).count() as i64))
        .filter(|(_, n)| *n > 0)
        .collect();
    Ok(BatchProgress {
        batch: view.batch,
        counts,
    })
}

fn card(env_id: &str, b: &BatchProgress) -> Markup {
    let done = b.finished();
    html! {
        div.panel data-batch=(b.batch.id) {
            h2.mono { (b.batch.id) }
            p { (done) " of " (b.batch.run_count) " runs finished · created " (time(b.batch.created_at)) }
            progress max=(b.batch.run_count.max(1)) value=(done) aria-label="Finished runs" {}
            p { @for (status, n) in &b.counts { (status_badge(*status)) " " (n) "  " } }
            p { a href=(format!("/dashboard/env/{env_id}/runs?batch={}", b.batch.id)) { "Runs of this batch →" } }
        }
    }
}
