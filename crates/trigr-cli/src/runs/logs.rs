//! `trigr runs logs`: a run's log lines, oldest first, every page.

use clap::builder::NonEmptyStringValueParser;
use serde_json::Value;

use crate::api::{Api, ConnectionArgs};
use crate::encode::Query;
use crate::output::{self, plain};

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

    /// Keep printing new lines as they arrive, until the run is final.
    #[arg(long, short = 'f')]
    pub follow: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

pub(super) async fn execute(args: RunsLogsArgs) -> anyhow::Result<String> {
    let client = Api::connect(&args.conn)?;
    if args.follow {
        return super::logs_follow::follow(&client, &args.id, args.json).await;
    }
    let mut lines: Vec<Value> = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut query = Query::default();
        query.push("page[size]", PAGE);
        query.push_opt("page[after]", after.as_deref());
        let path = super::run_path("v1", &args.id, &format!("/logs{}", query.to_query_string()));
        let answer = client
            .get(&path)
            .await
            .map_err(|e| e.or_not_found(|| super::not_found(&args.id)))?;
        if let Some(data) = answer["data"].as_array() {
            lines.extend(data.iter().cloned());
        }
        match answer["pagination"]["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => break,
        }
    }
    if args.json {
        return Ok(output::json(&Value::Array(lines)));
    }
    if lines.is_empty() {
        return Ok(format!("Run {} has no logs.\n", args.id));
    }
    Ok(lines.iter().map(render).collect())
}

/// `time LEVEL message {fields}` on one line; the message's own line breaks are kept.
pub(super) fn render(line: &Value) -> String {
    let time = plain(&line["time"]).unwrap_or_default();
    let level = plain(&line["level"]).unwrap_or_default().to_uppercase();
    let message = plain(&line["message"]).unwrap_or_default();
    let mut text = format!("{time} {level:<5} {message}");
    if let Some(fields) = line.get("fields").filter(|f| !f.is_null()) {
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

    #[test]
    fn renders_time_level_message_and_fields() {
        let line = json!({"time": "2026-01-02T03:04:05.000Z", "level": "info",
                          "message": "charged", "fields": {"amount": 3}});
        assert_eq!(
            render(&line),
            "2026-01-02T03:04:05.000Z INFO  charged {\"amount\":3}\n"
        );
        let line = json!({"time": "2026-01-02T03:04:05.000Z", "level": "error", "message": "boom"});
        assert_eq!(render(&line), "2026-01-02T03:04:05.000Z ERROR boom\n");
    }
}
