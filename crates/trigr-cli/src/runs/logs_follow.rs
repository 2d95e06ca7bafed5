//! `trigr runs logs --follow`: prints a run's log lines as they arrive, until the run is
//! final. Each read waits on the server (`waitMs`) for the next line after the last one
//! printed (`pagination.cursor`); an empty answer means nothing came meanwhile, and the run's
//! status says whether to go on. Once the run is final one last read gets the lines sent
//! just before it ended.

use serde_json::Value;

use super::logs::{render, PAGE};
use crate::api::Api;
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
        let path = super::run_path("v1", id, &format!("/logs{}", query.to_query_string()));
        let answer = client
            .get(&path)
            .await
            .map_err(|e| e.or_not_found(|| super::not_found(id)))?;
        let lines = answer["data"].as_array().cloned().unwrap_or_default();
        let text: String = lines
            .iter()
            .map(|l| if json { format!("{l}\n") } else { render(l) })
            .collect();
        output::print(&text)?;
        if let Some(cursor) = answer["pagination"]["cursor"].as_str() {
            after = Some(cursor.to_string());
        }
        if answer["pagination"]["next"].is_string() {
            // More lines are there already.
            continue;
        }
        if last_read {
            return Ok(String::new());
        }
        if lines.is_empty() {
            let run = client
                .get(&super::run_path("v3", id, ""))
                .await
                .map_err(|e| e.or_not_found(|| super::not_found(id)))?;
            last_read = is_final(&run);
        }
    }
}

fn is_final(run: &Value) -> bool {
    run["status"].as_str().is_some_and(|s| FINAL.contains(&s))
}
