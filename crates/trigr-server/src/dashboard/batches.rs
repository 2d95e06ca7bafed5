//! `GET /dashboard/env/{env_id}/batches`: a batch's progress, counted by status, looked up by
//! id (`?id=batch_…`), with a link to its runs.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::auth::Viewer;
use super::layout::{self, page, status_badge, time, PageError, Shell};
use crate::AppState;

/// The page's query.
#[derive(serde::Deserialize)]
pub struct BatchQuery {
    id: Option<String>,
}

/// `GET /dashboard/env/{env_id}/batches`.
pub async fn batches(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(env_id): Path<String>,
    Query(q): Query<BatchQuery>,
) -> Result<Response, PageError> {
    let env = viewer.env(&env_id)?;
    let id = q.id.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let found = match id {
        Some(id) => Some(state.engine.retrieve_batch(&env.id, id).await?),
        None => None,
    };
    let content = html! {
        h1 { "Batches" }
        form.panel.filters method="get" role="search" {
            label { "Batch id" input name="id" value=(id.unwrap_or("")) placeholder="batch_…"; }
            button type="submit" { "Show" }
        }
        @match &found {
            None => (layout::empty("Give a batch id to see its progress.")),
            Some(b) => {
                @let counts = by_status(&b.runs);
                @let done = b.runs.iter().filter(|r| r.status.is_final()).count();
                div.panel {
                    h2.mono { (b.batch.id) }
                    p { (done) " of " (b.batch.run_count) " runs finished · " (b.status) " · created " (time(b.batch.created_at)) }
                    progress max=(b.batch.run_count.max(1)) value=(done) aria-label="Finished runs" {}
                    p { @for (status, n) in &counts { (status_badge(*status)) " " (n) "  " } }
                    p { a href=(format!("/dashboard/env/{}/runs?batch={}", env.id, b.batch.id)) { "Runs of this batch →" } }
                }
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

/// How many runs have each status, in status order.
fn by_status(runs: &[trigr_store::Run]) -> Vec<(trigr_types::RunStatus, usize)> {
    trigr_types::RunStatus::ALL
        .into_iter()
        .map(|s| (s, runs.iter().filter(|r| r.status == s).count()))
        .filter(|(_, n)| *n > 0)
        .collect()
}
