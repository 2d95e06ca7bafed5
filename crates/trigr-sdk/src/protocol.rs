//! The worker protocol on the wire (`docs/worker-protocol.md`): one function per call.
//!
//! Answers are read as the types of [`trigr_types::wire::worker`], the ones the server
//! writes, and nothing else: a field the server always sends is required. The attempt, the
//! context and the durable operations read those types as they are.

use reqwest::Method;
use serde::Serialize;
use serde_json::Value;
use trigr_types::manifest::TaskManifest;
use trigr_types::wire::worker::{self as wire, DeploymentRegistered, Heartbeat, InputMessages};
pub(crate) use trigr_types::wire::worker::{
    CompletionBody, CompletionResult, DequeuedRun, JournalEntry, JournalKind, LogLine,
    StepRecorded, TaskError, WaitFor, WaitState, WaitStatus,
};

use std::time::Duration;

use crate::client::RetryConfig;
use crate::error::{Error, Result};
use crate::http::{encode, Http, Tries};

/// The retry policy of every worker call, whatever the client's own: up to 5 sends, 200 ms
/// doubling up to 5 s, with jitter, for no answer, `408`, `429` and `5xx`. A worker holds
/// leases, so how hard it tries to keep them is not left to a policy tuned for other calls.
pub(crate) fn worker_retry() -> RetryConfig {
    RetryConfig::default()
        .max_retries(4)
        .base_delay(Duration::from_millis(200))
        .multiplier(2.0)
        .max_delay(Duration::from_secs(5))
        .jitter(true)
        .statuses([408, 429, 500, 502, 503, 504])
        .retry_unanswered(true)
        .max_retry_after(Duration::from_secs(60))
}

fn run_path(run_id: &str, tail: &str) -> String {
    format!("/api/v1/worker/runs/{}/{tail}", encode(run_id))
}

/// A request body as JSON.
fn body(what: &str, body: &impl Serialize) -> Result<Value> {
    serde_json::to_value(body).map_err(|e| Error::json(what, e))
}

pub(crate) async fn register(
    http: &Http,
    tasks: Vec<TaskManifest>,
    promote: bool,
    content_hash: Option<String>,
    region: Option<String>,
) -> Result<DeploymentRegistered> {
    let body = body(
        "a registration",
        &wire::RegisterBody {
            tasks,
            promote,
            content_hash,
            region,
        },
    )?;
    // A worker that cannot reach its server says so at once rather than after retries.
    http.call(
        Method::POST,
        "/api/v1/worker/deployments",
        Some(&body),
        Tries::Answered,
    )
    .await
}

pub(crate) async fn dequeue(
    http: &Http,
    version: &str,
    max_runs: usize,
    wait_ms: u64,
    worker_id: &str,
    region: Option<&str>,
) -> Result<Vec<DequeuedRun>> {
    let body = body(
        "a dequeue",
        &wire::DequeueBody {
            version: version.to_string(),
            max_runs: Some(max_runs),
            wait_ms: Some(wait_ms),
            worker_id: Some(worker_id.to_string()),
            start: true,
            region: region.map(str::to_string),
        },
    )?;
    let answer: wire::Dequeued = http
        .call(
            Method::POST,
            "/api/v1/worker/dequeue",
            Some(&body),
            Tries::Once,
        )
        .await?;
    Ok(answer.runs)
}

pub(crate) async fn heartbeat(http: &Http, run_id: &str, lease: &str) -> Result<Heartbeat> {
    let body = body(
        "a heartbeat",
        &wire::LeaseBody {
            lease: lease.to_string(),
        },
    )?;
    http.call(
        Method::POST,
        &run_path(run_id, "heartbeat"),
        Some(&body),
        Tries::Once,
    )
    .await
}

pub(crate) async fn step(
    http: &Http,
    run_id: &str,
    lease: &str,
    position: u32,
    name: &str,
    output: Value,
) -> Result<StepRecorded> {
    let body = body(
        "a step",
        &wire::StepBody {
            lease: lease.to_string(),
            position,
            name: name.to_string(),
            output,
        },
    )?;
    http.call(
        Method::POST,
        &run_path(run_id, "steps"),
        Some(&body),
        Tries::Transient,
    )
    .await
}

pub(crate) struct WaitRequest<'a> {
    pub position: u32,
    pub name: &'a str,
    pub suspend: bool,
    pub wait: WaitFor,
}

pub(crate) async fn wait(
    http: &Http,
    run_id: &str,
    lease: &str,
    request: WaitRequest<'_>,
) -> Result<WaitState> {
    let body = body(
        "a wait",
        &wire::WaitBody {
            lease: lease.to_string(),
            position: request.position,
            name: request.name.to_string(),
            suspend: request.suspend,
            wait: request.wait,
        },
    )?;
    http.call(
        Method::POST,
        &run_path(run_id, "waits"),
        Some(&body),
        Tries::Transient,
    )
    .await
}

pub(crate) async fn poll_wait(
    http: &Http,
    run_id: &str,
    lease: &str,
    position: u32,
    wait_ms: u64,
) -> Result<WaitState> {
    let path = format!(
        "{}?lease={}&waitMs={wait_ms}",
        run_path(run_id, &format!("waits/{position}")),
        encode(lease)
    );
    http.call(Method::GET, &path, None, Tries::Transient).await
}

/// The messages of an input stream after `consumer`'s position, long-polling up to `wait_ms`
/// (§7.6).
pub(crate) async fn input_read(
    http: &Http,
    run_id: &str,
    lease: &str,
    stream_id: &str,
    consumer: &str,
    wait_ms: u64,
) -> Result<InputMessages> {
    let path = format!(
        "{}?lease={}&consumer={}&waitMs={wait_ms}",
        run_path(run_id, &format!("input/{}", encode(stream_id))),
        encode(lease),
        encode(consumer)
    );
    http.call(Method::GET, &path, None, Tries::Transient).await
}

/// Records that `consumer` finished with message `seq`.
pub(crate) async fn input_ack(
    http: &Http,
    run_id: &str,
    lease: &str,
    stream_id: &str,
    consumer: &str,
    seq: i64,
) -> Result<()> {
    let body = body(
        "an input acknowledgement",
        &wire::InputAckBody {
            lease: lease.to_string(),
            consumer: consumer.to_string(),
            seq,
        },
    )?;
    let path = run_path(run_id, &format!("input/{}/ack", encode(stream_id)));
    http.send(Method::POST, &path, Some(&body), Tries::Transient)
        .await
        .map(drop)
}

pub(crate) async fn logs(
    http: &Http,
    run_id: &str,
    lease: &str,
    entries: &[LogLine],
) -> Result<()> {
    let body = body(
        "log lines",
        &wire::LogsBody {
            lease: lease.to_string(),
            entries: entries.to_vec(),
        },
    )?;
    http.send(
        Method::POST,
        &run_path(run_id, "logs"),
        Some(&body),
        Tries::Transient,
    )
    .await
    .map(drop)
}

pub(crate) async fn spans(
    http: &Http,
    run_id: &str,
    lease: &str,
    spans: &[trigr_types::wire::spans::SpanLine],
) -> Result<()> {
    let body = body(
        "spans",
        &trigr_types::wire::spans::SpansBody {
            lease: lease.to_string(),
            spans: spans.to_vec(),
        },
    )?;
    http.send(
        Method::POST,
        &run_path(run_id, "spans"),
        Some(&body),
        Tries::Transient,
    )
    .await
    .map(drop)
}

pub(crate) async fn complete_many(
    http: &Http,
    completions: Vec<CompletionBody>,
) -> Result<Vec<CompletionResult>> {
    let body = body("completions", &wire::CompleteManyBody { completions })?;
    let answer: wire::CompletionResults = http
        .call(
            Method::POST,
            "/api/v1/worker/complete",
            Some(&body),
            Tries::Transient,
        )
        .await?;
    Ok(answer.results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dequeued() -> Value {
        json!({
            "runId": "run_1", "taskIdentifier": "t", "attempt": 2, "lease": "lease_1",
            "leaseExpiresAt": "2026-11-26T21:00:00.000Z", "payload": {"a": 1},
            "payloadType": "application/json", "tags": ["x"], "isTest": false,
            "version": "20261126.3", "queue": "task/t",
            "createdAt": "2026-11-26T20:59:00.000Z",
            "environment": {"id": "env_1", "slug": "dev", "type": "DEVELOPMENT"},
            "journal": [
                {"position": 0, "kind": "step", "name": "charge", "output": {"id": "ch_1"}},
                {"position": 1, "kind": "wait", "name": "wait.for", "waitpointId": "waitpoint_1",
                 "status": "TIMED_OUT", "error": {"message": "late", "name": "WaitpointTimeoutError"}}
            ],
            "resumed": true,
            "somethingNew": 1
        })
    }

    #[test]
    fn dequeued_runs_decode_with_journal() {
        let run: DequeuedRun = serde_json::from_value(dequeued()).expect("run");
        assert_eq!(run.journal.len(), 2);
        assert_eq!(run.journal[0].kind, JournalKind::Step);
        assert_eq!(run.journal[1].status, Some(WaitStatus::TimedOut));
        let error = run.journal[1].error.as_ref().expect("error");
        assert_eq!(error.name.as_deref(), Some("WaitpointTimeoutError"));
        assert_eq!(run.environment.kind, "DEVELOPMENT");
        assert_eq!(run.queue, "task/t");
        assert_eq!(
            run.lease_expires_at.map(|t| t.millis()),
            Some(1_795_726_800_000)
        );
        assert_eq!(run.created_at.millis(), 1_795_726_740_000);
        assert!(run.started_at.is_none());
        assert!(run.resumed);
    }

    #[test]
    fn a_dequeued_run_without_a_field_the_server_always_sends_is_refused() {
        for required in [
            "lease",
            "createdAt",
            "queue",
            "environment",
            "journal",
            "resumed",
        ] {
            let mut run = dequeued();
            run.as_object_mut().unwrap().remove(required);
            let refused = serde_json::from_value::<wire::DequeuedRun>(run);
            assert!(refused.is_err(), "accepted without {required}");
        }
    }

    #[test]
    fn step_and_wait_answers_keep_what_the_code_reads() {
        let step: StepRecorded = serde_json::from_value(json!({
            "position": 0, "recorded": false,
            "entry": {"position": 0, "kind": "step", "name": "charge", "output": {"id": "ch_1"}}
        }))
        .unwrap();
        assert!(!step.recorded);
        assert_eq!(
            step.entry.and_then(|e| e.output),
            Some(json!({"id": "ch_1"}))
        );
        let wait: WaitState = serde_json::from_value(json!({
            "position": 1, "waitpointId": "waitpoint_1", "status": "WAITING",
            "suspended": true, "runIds": ["run_2"]
        }))
        .unwrap();
        assert_eq!(wait.suspended, Some(true));
        assert_eq!(wait.run_ids, ["run_2"]);
        assert_eq!(wait.status, WaitStatus::Waiting);
    }
}
