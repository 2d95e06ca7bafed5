//! The worker protocol on the wire (`docs/worker-protocol.md`): request bodies, answers and
//! one function per call.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::Result;
use crate::http::{encode, Http, Tries};
use crate::task_error::ErrorBody;

/// One run of a dequeue answer (§3, §7.1).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DequeuedRun {
    pub run_id: String,
    pub task_identifier: String,
    pub attempt: u32,
    pub lease: String,
    #[serde(default)]
    pub lease_expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub payload: Value,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub queue: Option<String>,
    #[serde(default)]
    pub concurrency_key: Option<String>,
    #[serde(default)]
    pub max_attempts: Option<u32>,
    #[serde(default)]
    pub max_duration: Option<u64>,
    #[serde(default)]
    pub machine: Option<String>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub parent_run_id: Option<String>,
    #[serde(default)]
    pub root_run_id: Option<String>,
    #[serde(default)]
    pub batch_id: Option<String>,
    #[serde(default)]
    pub is_test: bool,
    #[serde(default)]
    pub environment: Environment,
    #[serde(default)]
    pub journal: Vec<JournalEntry>,
    #[serde(default)]
    pub resumed: bool,
}

/// The environment of a dequeued run.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct Environment {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub slug: String,
    #[serde(default, rename = "type")]
    pub kind: String,
}

/// Status of a wait entry or a wait answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum WaitStatus {
    Waiting,
    Completed,
    TimedOut,
}

/// One journal entry (§7.1).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JournalEntry {
    pub position: u32,
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub output: Option<Value>,
    #[serde(default)]
    pub status: Option<WaitStatus>,
    #[serde(default)]
    pub error: Option<ErrorBody>,
    /// Not in §7.1; read when a server adds it to `run`/`batch` entries.
    #[serde(default)]
    pub run_ids: Vec<String>,
}

/// Answer of a step call (§7.2).
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct StepAnswer {
    #[serde(default)]
    pub recorded: bool,
    /// The stored entry when the position was already recorded (nested form).
    #[serde(default)]
    pub entry: Option<JournalEntry>,
    /// The stored output when the position was already recorded (flat form).
    #[serde(default)]
    pub output: Option<Value>,
}

/// Answer of a wait call or a wait poll (§7.3).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WaitAnswer {
    pub status: WaitStatus,
    #[serde(default)]
    pub output: Option<Value>,
    #[serde(default)]
    pub error: Option<ErrorBody>,
    #[serde(default)]
    pub suspended: bool,
    #[serde(default)]
    pub run_ids: Vec<String>,
}

/// Answer of a heartbeat (§4).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HeartbeatAnswer {
    #[serde(default)]
    pub lease_expires_at: Option<DateTime<Utc>>,
}

/// Answer of a deployment registration (§2).
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Registered {
    pub version: String,
}

#[derive(Deserialize)]
struct Dequeued {
    runs: Vec<DequeuedRun>,
}

/// One item of a batched completion answer (§5).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CompleteResult {
    #[serde(default)]
    pub status: Value,
    #[serde(default)]
    pub will_retry: bool,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
}

#[derive(Deserialize)]
struct CompleteMany {
    results: Vec<CompleteResult>,
}

fn run_path(run_id: &str, tail: &str) -> String {
    format!("/api/v1/worker/runs/{}/{tail}", encode(run_id))
}

pub(crate) async fn register(
    http: &Http,
    tasks: Value,
    promote: bool,
    content_hash: Option<String>,
) -> Result<Registered> {
    let body = json!({ "tasks": tasks, "promote": promote, "contentHash": content_hash });
    http.call(
        Method::POST,
        "/api/v1/worker/deployments",
        Some(&body),
        Tries::Transient,
    )
    .await
}

pub(crate) async fn dequeue(
    http: &Http,
    version: &str,
    max_runs: usize,
    wait_ms: u64,
    worker_id: &str,
) -> Result<Vec<DequeuedRun>> {
    let body = json!({
        "version": version, "maxRuns": max_runs, "waitMs": wait_ms, "workerId": worker_id,
        "start": true
    });
    let answer: Dequeued = http
        .call(
            Method::POST,
            "/api/v1/worker/dequeue",
            Some(&body),
            Tries::Once,
        )
        .await?;
    Ok(answer.runs)
}

pub(crate) async fn heartbeat(http: &Http, run_id: &str, lease: &str) -> Result<HeartbeatAnswer> {
    let body = json!({ "lease": lease });
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
    output: &Value,
) -> Result<StepAnswer> {
    let body = json!({ "lease": lease, "position": position, "name": name, "output": output });
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
    pub wait: &'a Value,
}

pub(crate) async fn wait(
    http: &Http,
    run_id: &str,
    lease: &str,
    request: WaitRequest<'_>,
) -> Result<WaitAnswer> {
    let body = json!({
        "lease": lease, "position": request.position, "name": request.name,
        "suspend": request.suspend, "wait": request.wait
    });
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
) -> Result<WaitAnswer> {
    let path = format!(
        "{}?lease={}&waitMs={wait_ms}",
        run_path(run_id, &format!("waits/{position}")),
        encode(lease)
    );
    http.call(Method::GET, &path, None, Tries::Transient).await
}

/// One message of an input stream (§7.6).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InputMessage {
    pub seq: i64,
    #[serde(default)]
    pub data: Value,
}

/// Answer of an input read (§7.6).
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct InputRead {
    #[serde(default)]
    pub messages: Vec<InputMessage>,
}

/// The messages of an input stream after `consumer`'s position, long-polling up to `wait_ms`.
pub(crate) async fn input_read(
    http: &Http,
    run_id: &str,
    lease: &str,
    stream_id: &str,
    consumer: &str,
    wait_ms: u64,
) -> Result<InputRead> {
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
    let body = json!({ "lease": lease, "consumer": consumer, "seq": seq });
    let path = run_path(run_id, &format!("input/{}/ack", encode(stream_id)));
    http.send(Method::POST, &path, Some(&body), Tries::Transient)
        .await
        .map(drop)
}

pub(crate) async fn logs(http: &Http, run_id: &str, lease: &str, entries: &[Value]) -> Result<()> {
    let body = json!({ "lease": lease, "entries": entries });
    http.send(
        Method::POST,
        &run_path(run_id, "logs"),
        Some(&body),
        Tries::Transient,
    )
    .await
    .map(drop)
}

pub(crate) async fn complete_many(
    http: &Http,
    completions: &[Value],
) -> Result<Vec<CompleteResult>> {
    let body = json!({ "completions": completions });
    let answer: CompleteMany = http
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

    #[test]
    fn dequeued_runs_decode_with_journal() {
        let run: DequeuedRun = serde_json::from_value(json!({
            "runId": "run_1", "taskIdentifier": "t", "attempt": 2, "lease": "lease_1",
            "leaseExpiresAt": "2026-11-26T21:00:00.000Z", "payload": {"a": 1},
            "tags": ["x"], "version": "20261126.3",
            "environment": {"id": "env_1", "slug": "dev", "type": "DEVELOPMENT"},
            "journal": [
                {"position": 0, "kind": "step", "name": "charge", "output": {"id": "ch_1"}},
                {"position": 1, "kind": "wait", "name": "wait.for", "waitpointId": "waitpoint_1",
                 "status": "TIMED_OUT", "error": {"message": "late", "name": "WaitpointTimeoutError"}}
            ],
            "resumed": true,
            "somethingNew": 1
        }))
        .expect("run");
        assert_eq!(run.journal.len(), 2);
        assert_eq!(run.journal[1].status, Some(WaitStatus::TimedOut));
        assert_eq!(run.environment.kind, "DEVELOPMENT");
        assert!(run.resumed);
    }
}
