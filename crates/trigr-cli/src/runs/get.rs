//! `trigr runs get`.

use clap::builder::NonEmptyStringValueParser;
use serde_json::Value;
use trigr_types::wire::runs::{Run, WaitingFor};
use trigr_types::wire::Timestamp;

use super::attempts::{self, error_message};
use crate::api::{decode, Api, ConnectionArgs};
use crate::output;

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
    let run: Run = decode(answer, "GET /api/v3/runs/{id}")?;
    Ok(render(&run))
}

/// `key: value` lines for a run, skipping absent and empty fields.
fn render(run: &Run) -> String {
    let common = &run.summary.common;
    let time = |t: Option<Timestamp>| t.map(|t| t.to_string());
    let mut lines: Vec<(&str, Option<String>)> = vec![
        ("id", Some(common.id.clone())),
        ("task", Some(common.task_identifier.clone())),
        ("status", Some(common.status.clone())),
        ("waiting", run.waiting_for.as_ref().and_then(waiting)),
        ("lastHeartbeat", time(run.last_heartbeat_at)),
        ("version", common.version.clone()),
        ("queue", Some(run.queue.clone())),
        ("machine", run.machine.clone()),
        ("attempts", Some(run.attempt_count.to_string())),
        ("created", time(Some(common.created_at))),
        ("started", time(common.started_at)),
        ("finished", time(common.finished_at)),
        ("delayedUntil", time(common.delayed_until)),
        ("expired", time(common.expired_at)),
        ("ttl", common.ttl.clone()),
        ("idempotencyKey", common.idempotency_key.clone()),
        ("tags", tags(&common.tags)),
        ("batchId", common.batch_id.clone()),
    ];
    // JSON fields are shown when present, `null` included.
    let json = [
        ("metadata", &common.metadata),
        ("payload", &run.payload),
        ("output", &run.output),
    ];
    for (field, value) in json {
        lines.push((field, value.as_ref().map(Value::to_string)));
    }
    lines.push(("error", run.error.as_ref().and_then(error_message)));
    let mut text: String = lines
        .iter()
        .filter_map(|(k, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| (k, v)))
        .map(|(k, v)| format!("{k}: {v}\n"))
        .collect();
    for (k, v) in attempts::lines(run) {
        text.push_str(&format!("{k}: {v}\n"));
    }
    text
}

/// Why the run is not running (`waitingFor`): `<message> (<reason>)`.
fn waiting(w: &WaitingFor) -> Option<String> {
    if w.message.is_empty() {
        return None;
    }
    Some(if w.reason.is_empty() {
        w.message.clone()
    } else {
        format!("{} ({})", w.message, w.reason)
    })
}

fn tags(tags: &[String]) -> Option<String> {
    let tags: Vec<&str> = tags
        .iter()
        .map(String::as_str)
        .filter(|t| !t.is_empty())
        .collect();
    (!tags.is_empty()).then(|| tags.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testserver::{tagged, TestServer};
    use serde_json::json;

    /// A run as the server writes it, with the given fields.
    fn run(fields: Value) -> Run {
        let mut run = json!({
            "id": "run_1", "status": "QUEUED", "taskIdentifier": "hello",
            "isQueued": true, "isExecuting": false, "isWaiting": false, "isCompleted": false,
            "isSuccess": false, "isFailed": false, "isCancelled": false, "isTest": false,
            "createdAt": "2026-01-02T03:04:05.000Z", "updatedAt": "2026-01-02T03:04:05.000Z",
            "tags": [], "costInCents": 0, "baseCostInCents": 0, "durationMs": 0,
            "depth": 0, "triggerFunction": "trigger", "attemptCount": 0, "relatedRuns": {},
            "attempt": 0, "queue": "task/hello", "priority": 0, "realtimeStreams": []
        });
        let object = run.as_object_mut().expect("an object");
        for (key, value) in fields.as_object().expect("fields") {
            object.insert(key.clone(), value.clone());
        }
        serde_json::from_value(run).expect("a run")
    }

    #[test]
    fn renders_present_fields_only() {
        let run = run(json!({
            "id": "run_1", "status": "FAILED", "taskIdentifier": "hello", "attemptCount": 3,
            "createdAt": "2026-01-02T03:04:05.000Z", "tags": ["a", "b"], "isTest": false,
            "payload": {"n": 1}, "metadata": {}, "error": {"message": "boom", "name": "Error"},
            "batchId": "batch_1", "durationMs": 0, "version": "20260101.1", "queue": "task/hello"
        }));
        assert_eq!(
            render(&run),
            "id: run_1\ntask: hello\nstatus: FAILED\nversion: 20260101.1\nqueue: task/hello\nattempts: 3\n\
             created: 2026-01-02T03:04:05.000Z\ntags: a, b\nbatchId: batch_1\nmetadata: {}\n\
             payload: {\"n\":1}\nerror: boom\n"
        );
    }

    #[test]
    fn renders_why_the_run_waits_after_its_status() {
        let run = run(json!({
            "id": "run_1", "status": "QUEUED",
            "waitingFor": {"reason": "QUEUE_PAUSED", "message": "Queue 'task/a' is paused."}
        }));
        assert_eq!(
            render(&run),
            "id: run_1\ntask: hello\nstatus: QUEUED\nwaiting: Queue 'task/a' is paused. (QUEUE_PAUSED)\n\
             queue: task/hello\nattempts: 0\ncreated: 2026-01-02T03:04:05.000Z\n"
        );
    }

    #[test]
    fn json_null_payload_is_shown_but_absent_output_is_not() {
        let text = render(&run(json!({"id": "run_1", "payload": null, "tags": []})));
        assert!(
            text.ends_with("created: 2026-01-02T03:04:05.000Z\npayload: null\n"),
            "{text}"
        );
        assert!(!text.contains("output"), "{text}");
    }

    #[tokio::test]
    async fn shows_a_run_and_explains_unknown_ones() {
        let server = TestServer::start().await;
        let id = server
            .trigger("hello", &json!({"n": 1}), tagged(&["a", "b"]))
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
