//! `trigr runs logs`: a run's log lines, oldest first, every page, each attempt's lines
//! between its start and how it ended. `--follow` is `logs_follow`.

use clap::builder::NonEmptyStringValueParser;
use serde_json::Value;
use trigr_types::wire::runs::{LogPage, LogPagination, Run, RunLogLine};

use super::attempts::Timeline;
use crate::api::{decode, Api, ConnectionArgs};
use crate::encode::Query;
use crate::output;

/// Lines asked for per request.
pub(super) const PAGE: &str = "1000";
/// Most pages followed (a million lines).
const MAX_PAGES: usize = 1000;

/// Arguments of `trigr runs logs`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunsLogsArgs {
    /// Run id (run_…).
    #[arg(value_name = "RUN_ID", value_parser = NonEmptyStringValueParser::new())]
    pub id: String,

    /// Print the lines as JSON (one array; with --follow, one object a line).
    #[arg(long)]
    pub json: bool,

    /// Keep printing new lines as they arrive, until the run is final; then print how it
    /// ended.
    #[arg(long, short = 'f')]
    pub follow: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

/// The lines written so far (`--follow` is `logs_follow`).
pub(super) async fn execute(args: RunsLogsArgs) -> anyhow::Result<String> {
    let client = Api::connect(&args.conn)?;
    let mut raw: Vec<Value> = Vec::new();
    let mut lines: Vec<RunLogLine> = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut query = Query::default();
        query.push("page[size]", PAGE);
        query.push_opt("page[after]", after.as_deref());
        let page = read_page(&client, &args.id, &query).await?;
        raw.extend(page.raw);
        lines.extend(page.lines);
        match page.pagination.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    if args.json {
        return Ok(output::json(&Value::Array(raw)));
    }
    // Read after the lines: every attempt they tell of is there.
    let run = read_run(&client, &args.id).await?;
    let mut timeline = Timeline::new(run.attempts);
    let mut text = String::new();
    for line in &lines {
        text.push_str(&timeline.before(line.attempt));
        text.push_str(&render(line));
    }
    text.push_str(&timeline.finish());
    if lines.is_empty() {
        text.push_str(&format!("Run {} has no logs.\n", args.id));
    }
    Ok(text)
}

/// `GET /api/v3/runs/{id}`.
pub(super) async fn read_run(client: &Api, id: &str) -> anyhow::Result<Run> {
    let run = client
        .get(&super::run_path("v3", id, ""))
        .await
        .map_err(|e| e.or_not_found(|| super::not_found(id)))?;
    Ok(decode(run, "GET /api/v3/runs/{id}")?)
}

/// One page of a run's log lines.
pub(super) struct Page {
    /// The lines as the server wrote them (printed by `--json`).
    pub raw: Vec<Value>,
    /// The same lines, read.
    pub lines: Vec<RunLogLine>,
    pub pagination: LogPagination,
}

/// `GET /api/v1/runs/{id}/logs{query}`.
pub(super) async fn read_page(client: &Api, id: &str, query: &Query) -> anyhow::Result<Page> {
    let path = super::run_path("v1", id, &format!("/logs{}", query.to_query_string()));
    let mut answer = client
        .get(&path)
        .await
        .map_err(|e| e.or_not_found(|| super::not_found(id)))?;
    let page: LogPage = decode(answer.clone(), "GET /api/v1/runs/{id}/logs")?;
    let raw = match answer["data"].take() {
        Value::Array(items) => items,
        _ => Vec::new(),
    };
    Ok(Page {
        raw,
        lines: page.data,
        pagination: page.pagination,
    })
}

/// `time LEVEL message {fields}` on one line; the message's own line breaks are kept.
pub(super) fn render(line: &RunLogLine) -> String {
    let level = line.level.to_uppercase();
    let mut text = format!("{} {level:<5} {}", line.time, line.message);
    if let Some(fields) = line.fields.as_ref().filter(|f| !f.is_null()) {
        text.push(' ');
        text.push_str(&fields.to_string());
    }
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(json: Value) -> RunLogLine {
        serde_json::from_value(json).expect("a log line")
    }

    #[test]
    fn renders_time_level_message_and_fields() {
        let line = read(json!({"time": "2026-01-02T03:04:05.000Z", "level": "info",
                          "message": "charged", "fields": {"amount": 3}}));
        assert_eq!(
            render(&line),
            "2026-01-02T03:04:05.000Z INFO  charged {\"amount\":3}\n"
        );
        let line =
            read(json!({"time": "2026-01-02T03:04:05.000Z", "level": "error", "message": "boom"}));
        assert_eq!(render(&line), "2026-01-02T03:04:05.000Z ERROR boom\n");
    }
}
