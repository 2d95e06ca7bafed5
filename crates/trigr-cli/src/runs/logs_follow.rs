//! `trigr runs logs --follow`: prints a run's log lines as they arrive, until the run is
//! final, then how it ended. Each read waits on the server (`waitMs`) for the next line after
//! the last one printed (`pagination.cursor`); an empty answer means nothing came meanwhile,
//! and the run's status says whether to go on. Once the run is final one last read gets the
//! lines sent just before it ended.
//!
//! As in `runs logs`, each attempt's lines are framed by its start and how it ended: the run
//! is read again when a line of a new attempt arrives, to tell how the earlier ones ended.

use serde_json::{json, Value};
use trigr_types::wire::runs::Run;

use super::attempts::{error_message, Timeline};
use super::logs::{read_page, read_run, render, RunsLogsArgs, PAGE};
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

pub(super) async fn execute(args: RunsLogsArgs) -> anyhow::Result<String> {
    let client = Api::connect(&args.conn)?;
    follow(&client, &args.id, args.json).await
}

async fn follow(client: &Api, id: &str, json: bool) -> anyhow::Result<String> {
    let mut after: Option<String> = None;
    let mut timeline = Timeline::default();
    // The run as read once it was final: the last read of lines follows it.
    let mut ended: Option<Run> = None;
    loop {
        let mut query = Query::default();
        query.push("page[size]", PAGE);
        query.push_opt("page[after]", after.as_deref());
        if ended.is_none() {
            query.push("waitMs", WAIT_MS);
        }
        let page = read_page(client, id, &query).await?;
        let mut text = String::new();
        if json {
            text.extend(page.raw.iter().map(|l| format!("{l}\n")));
        } else {
            for line in &page.lines {
                if timeline.is_new(line.attempt) {
                    timeline.update(read_run(client, id).await?.attempts);
                }
                text.push_str(&timeline.before(line.attempt));
                text.push_str(&render(line));
            }
        }
        output::print(&text)?;
        if let Some(cursor) = page.pagination.cursor {
            after = Some(cursor);
        }
        if page.pagination.next.is_some() {
            // More lines are there already.
            continue;
        }
        if let Some(run) = ended {
            return Ok(if json {
                format!("{}\n", final_json(&run))
            } else {
                timeline.update(run.attempts.clone());
                format!("{}{}", timeline.finish(), final_line(&run))
            });
        }
        if page.lines.is_empty() {
            let run = read_run(client, id).await?;
            if FINAL.contains(&run.summary.common.status.as_str()) {
                ended = Some(run);
            }
        }
    }
}

/// "Run run_… COMPLETED at …" (with the error of a run that failed).
fn final_line(run: &Run) -> String {
    let common = &run.summary.common;
    let mut line = format!("Run {} {}", common.id, common.status);
    if let Some(t) = common.finished_at {
        line.push_str(&format!(" at {t}"));
    }
    if let Some(message) = run.error.as_ref().and_then(error_message) {
        line.push_str(&format!(": {message}"));
    }
    line.push_str(".\n");
    line
}

/// The last line of `--json`: `{"runId", "status", "finishedAt"?, "error"?}`.
fn final_json(run: &Run) -> Value {
    let common = &run.summary.common;
    let mut end = json!({"runId": common.id, "status": common.status});
    if let Some(t) = common.finished_at {
        end["finishedAt"] = json!(t);
    }
    if let Some(e) = &run.error {
        end["error"] = e.clone();
    }
    end
}
