//! `trigr runs logs --follow`: prints a run's log lines as they arrive, until the run is
//! final. Each read waits on the server (`waitMs`) for the next line after the last one
//! printed (`pagination.cursor`); an empty answer means nothing came meanwhile, and the run's
//! status says whether to go on. Once the run is final one last read gets the lines sent
//! just before it ended.

use trigr_types::wire::runs::Run;

use super::logs::{read_page, render, PAGE};
use crate::api::{decode, Api};
use crate::encode::Query;
use crate::output;

/// How long one read waits on the server for a line (below the client's request timeout).
const WAIT_MS: &str = "20000";

/// Statuses after which a run writes no more logs (current and legacy names).
const FINAL: &[&str] = &[
    "COMPLETED",
    "CANCELED",
    "FAILED",
    "CRASHED",
    "SYSTEM_FAILURE",
    "EXPIRED",
    "TIMED_OUT",
    "INTERRUPTED",
    "COMPLETED_WITH_ERRORS",
];

pub(super) async fn follow(client: &Api, id: &str, json: bool) -> anyhow::Result<String> {
    let mut after: Option<String> = None;
    let mut last_read = false;
    loop {
        let mut query = Query::default();
        query.push("page[size]", PAGE);
        query.push_opt("page[after]", after.as_deref());
        if !last_read {
            query.push("waitMs", WAIT_MS);
        }
        let page = read_page(client, id, &query).await?;
        let text: String = if json {
            page.raw.iter().map(|l| format!("{l}\n")).collect()
        } else {
            page.lines.iter().map(render).collect()
        };
        output::print(&text)?;
        if let Some(cursor) = page.pagination.cursor {
            after = Some(cursor);
        }
        if page.pagination.next.is_some() {
            // More lines are there already.
            continue;
        }
        if last_read {
            return Ok(String::new());
        }
        if page.lines.is_empty() {
            let run = client
                .get(&super::run_path("v3", id, ""))
                .await
                .map_err(|e| e.or_not_found(|| super::not_found(id)))?;
            let run: Run = decode(run, "GET /api/v3/runs/{id}")?;
            last_read = FINAL.contains(&run.summary.common.status.as_str());
        }
    }
}
