//! `trigr runs get`.

use clap::builder::NonEmptyStringValueParser;
use serde_json::Value;

use crate::api::{Api, ConnectionArgs};
use crate::output::{self, plain};

/// Arguments of `trigr runs get`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunsGetArgs {
    /// Run id (run_…).
    #[arg(value_name = "RUN_ID", value_parser = NonEmptyStringValueParser::new())]
    pub id: String,

    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub conn: ConnectionArgs,
}

pub(super) async fn execute(args: RunsGetArgs) -> anyhow::Result<String> {
    let client = Api::connect(&args.conn)?;
    let answer = client
        .get(&super::run_path("v3", &args.id, ""))
        .await
        .map_err(|e| e.or_not_found(|| super::not_found(&args.id)))?;
    if args.json {
        return Ok(output::json(&answer));
    }
    Ok(render(&answer))
}

/// Fields shown as text: (label, field of the run object).
const TEXT_FIELDS: [(&str, &str); 14] = [
    ("id", "id"),
    ("task", "taskIdentifier"),
    ("status", "status"),
    ("version", "version"),
    ("queue", "queue"),
    ("machine", "machine"),
    ("attempts", "attemptCount"),
    ("created", "createdAt"),
    ("started", "startedAt"),
    ("finished", "finishedAt"),
    ("delayedUntil", "delayedUntil"),
    ("expired", "expiredAt"),
    ("ttl", "ttl"),
    ("idempotencyKey", "idempotencyKey"),
];

/// Fields shown as JSON text.
const JSON_FIELDS: [&str; 3] = ["metadata", "payload", "output"];

/// `key: value` lines for a run object, skipping absent fields.
fn render(run: &Value) -> String {
    let mut lines: Vec<(&str, String)> = Vec::new();
    for (label, field) in TEXT_FIELDS {
        if let Some(text) = plain(&run[field]) {
            lines.push((label, text));
        }
        if field == "status" {
            if let Some(text) = waiting(&run["waitingFor"]) {
                lines.push(("waiting", text));
            }
        }
    }
    if let Some(tags) = tags(&run["tags"]) {
        lines.push(("tags", tags));
    }
    if let Some(batch) = plain(&run["batchId"]) {
        lines.push(("batchId", batch));
    }
    for field in JSON_FIELDS {
        if let Some(value) = run.get(field) {
            lines.push((field, value.to_string()));
        }
    }
    if let Some(message) = error_message(&run["error"]) {
        lines.push(("error", message));
    }
    lines.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
}

/// Why the run is not running (`waitingFor`): `<message> (<reason>)`.
fn waiting(value: &Value) -> Option<String> {
    let message = plain(&value["message"])?;
    Some(match plain(&value["reason"]) {
        Some(reason) => format!("{message} ({reason})"),
        None => message,
    })
}

fn tags(value: &Value) -> Option<String> {
    let tags: Vec<String> = value.as_array()?.iter().filter_map(plain).collect();
    (!tags.is_empty()).then(|| tags.join(", "))
}

fn error_message(error: &Value) -> Option<String> {
    match error {
        Value::String(_) => plain(error),
        Value::Object(_) => plain(&error["message"]).or_else(|| plain(error)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testserver::TestServer;
    use serde_json::json;

    #[test]
    fn renders_present_fields_only() {
        let run = json!({
            "id": "run_1", "status": "FAILED", "taskIdentifier": "hello", "attemptCount": 3,
            "createdAt": "2026-01-02T03:04:05.000Z", "tags": ["a", "b"], "isTest": false,
            "payload": {"n": 1}, "metadata": {}, "error": {"message": "boom", "name": "Error"},
            "batchId": "batch_1", "durationMs": 0, "version": "20260101.1", "queue": "task/hello"
        });
        assert_eq!(
            render(&run),
            "id: run_1\ntask: hello\nstatus: FAILED\nversion: 20260101.1\nqueue: task/hello\nattempts: 3\n\
             created: 2026-01-02T03:04:05.000Z\ntags: a, b\nbatchId: batch_1\nmetadata: {}\n\
             payload: {\"n\":1}\nerror: boom\n"
        );
    }

    #[test]
    fn renders_why_the_run_waits_after_its_status() {
        let run = json!({
            "id": "run_1", "status": "QUEUED",
            "waitingFor": {"reason": "QUEUE_PAUSED", "message": "Queue 'task/a' is paused."}
        });
        assert_eq!(
            render(&run),
            "id: run_1\nstatus: QUEUED\nwaiting: Queue 'task/a' is paused. (QUEUE_PAUSED)\n"
        );
    }

    #[test]
    fn json_null_payload_is_shown_but_absent_output_is_not() {
        let text = render(&json!({"id": "run_1", "payload": null, "tags": []}));
        assert_eq!(text, "id: run_1\npayload: null\n");
    }

    #[tokio::test]
    async fn shows_a_run_and_explains_unknown_ones() {
        let server = TestServer::start().await;
        let id = server
            .trigger("hello", &json!({"n": 1}), json!({"tags": ["a", "b"]}))
            .await;
        let args = RunsGetArgs {
            id: id.clone(),
            json: false,
            conn: server.conn(),
        };
        let text = execute(args.clone()).await.expect("get");
        let lines: Vec<&str> = text.lines().collect();
        for line in [
            format!("id: {id}"),
            "task: hello".into(),
            "status: PENDING_VERSION".into(),
            "tags: a, b".into(),
            "payload: {\"n\":1}".into(),
        ] {
            assert!(lines.contains(&line.as_str()), "{line} not in {text}");
        }

        let text = execute(RunsGetArgs { json: true, ..args })
            .await
            .expect("get");
        let run: Value = serde_json::from_str(&text).expect("--json prints JSON");
        assert_eq!(run["id"], json!(id), "{run}");
        assert_eq!(run["payload"], json!({"n": 1}), "{run}");

        let args = RunsGetArgs {
            id: "run_nope".into(),
            json: false,
            conn: server.conn(),
        };
        let err = execute(args).await.err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("Run run_nope was not found."));
        server.stop().await;
    }
}
