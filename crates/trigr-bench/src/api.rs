//! A thin HTTP client for the calls the benchmark makes: management API (trigger, batches, runs,
//! wait tokens) and worker protocol (deployments, dequeue, complete, steps, waits).
//!
//! Every call checks the status code; an unexpected answer becomes an error naming the request
//! (method, path, start of the body) and the response (status, start of the body), so a server
//! problem can be reproduced from the message alone.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use reqwest::{Client, Method};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use trigr_types::manifest::TaskManifest;
use trigr_types::wire::batches::{Batch, BatchCreated, BatchItemsAccepted};
use trigr_types::wire::rest::{CompleteTokenBody, CreateBatch};
use trigr_types::wire::runs::{Run, RunList, Triggered};
use trigr_types::wire::tokens::{TokenCompleted, TokenCreated};
use trigr_types::wire::worker::{
    CompleteManyBody, CompletionBody, CompletionResult, CompletionResults, DeploymentRegistered,
    DequeueBody, Dequeued, RegisterBody, StepBody, StepRecorded, WaitBody, WaitFor, WaitState,
};
use trigr_types::RunStatus;

/// The one task every scenario deploys and triggers.
pub const TASK: &str = "noop";

/// Trigger body of the throughput scenarios: a small JSON payload, one run per request.
pub const TRIGGER_BODY: &str =
    r#"{"payload":"{\"i\":1}","options":{"payloadType":"application/json"}}"#;

const JSON: &str = "application/json";
const NDJSON: &str = "application/x-ndjson";

/// Longest excerpt of a request or response body quoted in an error.
const EXCERPT: usize = 600;

/// HTTP client bound to one server and one environment key.
#[derive(Clone)]
pub struct Api {
    http: Client,
    base: String,
    key: String,
}

/// A run handed out by `POST /api/v1/worker/dequeue`.
pub use trigr_types::wire::worker::DequeuedRun;

/// Whether `result` says run `run_id` is now `COMPLETED`.
pub fn completed(result: &CompletionResult, run_id: &str) -> bool {
    matches!(result, CompletionResult::Completed(c)
        if c.status == RunStatus::Completed && c.run_id == run_id)
}

impl Api {
    /// A client for the server at `addr`, authenticating with `key`.
    pub fn new(addr: SocketAddr, key: &str) -> Result<Api> {
        Api::for_base(format!("http://{addr}"), key)
    }

    /// A client of the same server authenticating with `key` (another environment), with
    /// connections of its own.
    pub fn with_key(&self, key: &str) -> Result<Api> {
        Api::for_base(self.base.clone(), key)
    }

    fn for_base(base: String, key: &str) -> Result<Api> {
        let http = Client::builder()
            .pool_max_idle_per_host(1024)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(120))
            .build()
            .context("building the HTTP client")?;
        Ok(Api {
            http,
            base,
            key: key.to_string(),
        })
    }

    /// Sends one request and parses the JSON answer; fails unless the status is `expect`.
    /// Also returns the instant the whole response body had arrived (before parsing).
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
        expect: u16,
    ) -> Result<(T, Instant)> {
        let url = format!("{}{}", self.base, path);
        let mut req = self
            .http
            .request(method.clone(), url)
            .bearer_auth(&self.key);
        let mut sent = String::new();
        if let Some((content_type, bytes)) = body {
            sent = excerpt(&bytes);
            req = req
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes);
        }
        let describe = || {
            if sent.is_empty() {
                format!("{method} {path}")
            } else {
                format!("{method} {path} with body {sent}")
            }
        };
        let resp = req
            .send()
            .await
            .with_context(|| format!("{} failed to send", describe()))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .with_context(|| format!("{} failed while reading the answer", describe()))?;
        let arrived = Instant::now();
        if status != expect {
            return Err(anyhow!(
                "{} answered {status} (expected {expect}): {}",
                describe(),
                excerpt(&bytes)
            ));
        }
        let value = serde_json::from_slice(&bytes).map_err(|e| {
            anyhow!(
                "{} answered {status} with an unexpected body ({e}): {}",
                describe(),
                excerpt(&bytes)
            )
        })?;
        Ok((value, arrived))
    }

    /// The server's base URL, `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `GET /healthz` answered `200`.
    pub async fn healthy(&self) -> bool {
        let url = format!("{}/healthz", self.base);
        matches!(self.http.get(url).send().await, Ok(r) if r.status().is_success())
    }

    /// Registers and promotes a deployment declaring `tasks`; returns its version.
    pub async fn register_deployment(&self, tasks: &[&str]) -> Result<String> {
        let body = RegisterBody {
            tasks: tasks
                .iter()
                .map(|t| TaskManifest {
                    id: t.to_string(),
                    ..TaskManifest::default()
                })
                .collect(),
            promote: true,
            content_hash: None,
            region: None,
        };
        let (resp, _): (DeploymentRegistered, _) = self
            .call(
                Method::POST,
                "/api/v1/worker/deployments",
                Some(json(&body)?),
                201,
            )
            .await?;
        Ok(resp.version)
    }

    /// Triggers one run of `task` with a prepared JSON `body`; returns the run id.
    pub async fn trigger(&self, task: &str, body: &str) -> Result<String> {
        let path = format!("/api/v1/tasks/{task}/trigger");
        let (resp, _): (Triggered, _) = self
            .call(
                Method::POST,
                &path,
                Some((JSON, body.as_bytes().to_vec())),
                200,
            )
            .await?;
        Ok(resp.id)
    }

    /// Phase 1 of a batch trigger: announces `run_count` items of `task`; returns the batch id.
    pub async fn create_batch(&self, run_count: usize, task: &str) -> Result<String> {
        let body = CreateBatch {
            run_count: run_count as i64,
            task_identifiers: vec![task.to_string()],
            idempotency_key: None,
            idempotency_key_options: None,
            parent_run_id: None,
            resume_parent_on_completion: None,
        };
        let (resp, _): (BatchCreated, _) = self
            .call(Method::POST, "/api/v3/batches", Some(json(&body)?), 202)
            .await?;
        Ok(resp.id)
    }

    /// Phase 2 of a batch trigger: streams the NDJSON `items` of batch `id`.
    pub async fn send_batch_items(&self, id: &str, items: String) -> Result<BatchItemsAccepted> {
        let path = format!("/api/v3/batches/{id}/items");
        let (resp, _) = self
            .call(Method::POST, &path, Some((NDJSON, items.into_bytes())), 200)
            .await?;
        Ok(resp)
    }

    /// `GET /api/v2/batches/{id}`.
    pub async fn get_batch(&self, id: &str) -> Result<Batch> {
        let path = format!("/api/v2/batches/{id}");
        Ok(self.call(Method::GET, &path, None, 200).await?.0)
    }

    /// Long-polls for up to `max_runs` runs of `version`; returns them with the instant the
    /// answer arrived.
    pub async fn dequeue(
        &self,
        version: &str,
        max_runs: u32,
        wait_ms: u64,
    ) -> Result<(Vec<DequeuedRun>, Instant)> {
        let body = DequeueBody {
            version: version.to_string(),
            max_runs: Some(max_runs as usize),
            wait_ms: Some(wait_ms),
            worker_id: None,
            start: false,
            region: None,
        };
        let (resp, arrived): (Dequeued, _) = self
            .call(
                Method::POST,
                "/api/v1/worker/dequeue",
                Some(json(&body)?),
                200,
            )
            .await?;
        Ok((resp.runs, arrived))
    }

    /// Completes every run in `runs` successfully (output `null`) in one batched call; returns
    /// the per-run results in the same order.
    pub async fn complete_ok(&self, runs: &[DequeuedRun]) -> Result<Vec<CompletionResult>> {
        let body = CompleteManyBody {
            completions: runs
                .iter()
                .map(|r| CompletionBody {
                    run_id: Some(r.run_id.clone()),
                    lease: r.lease.clone(),
                    ok: true,
                    output: Some(Value::Null),
                    output_type: None,
                    error: None,
                    retry: None,
                    retry_after_ms: None,
                })
                .collect(),
        };
        let (resp, _): (CompletionResults, _) = self
            .call(
                Method::POST,
                "/api/v1/worker/complete",
                Some(json(&body)?),
                200,
            )
            .await?;
        if resp.results.len() != runs.len() {
            return Err(anyhow!(
                "POST /api/v1/worker/complete with {} completions answered {} results",
                runs.len(),
                resp.results.len()
            ));
        }
        Ok(resp.results)
    }

    /// Journals the result of step `position` of a run (`POST /api/v1/worker/runs/{id}/steps`).
    pub async fn record_step(
        &self,
        run: &DequeuedRun,
        position: u32,
        name: &str,
        output: Value,
    ) -> Result<StepRecorded> {
        let path = format!("/api/v1/worker/runs/{}/steps", run.run_id);
        let body = StepBody {
            lease: run.lease.clone(),
            position,
            name: name.to_string(),
            output,
        };
        Ok(self
            .call(Method::POST, &path, Some(json(&body)?), 200)
            .await?
            .0)
    }

    /// Waits at `position` of a run (`POST /api/v1/worker/runs/{id}/waits`) for `wait`;
    /// returns the wait's state.
    pub async fn wait(
        &self,
        run: &DequeuedRun,
        position: u32,
        name: &str,
        suspend: bool,
        wait: WaitFor,
    ) -> Result<WaitState> {
        let path = format!("/api/v1/worker/runs/{}/waits", run.run_id);
        let body = WaitBody {
            lease: run.lease.clone(),
            position,
            name: name.to_string(),
            suspend,
            wait,
        };
        Ok(self
            .call(Method::POST, &path, Some(json(&body)?), 200)
            .await?
            .0)
    }

    /// Creates a wait token without options (`POST /api/v1/waitpoints/tokens`); returns its id.
    pub async fn create_token(&self) -> Result<String> {
        let (resp, _): (TokenCreated, _) = self
            .call(
                Method::POST,
                "/api/v1/waitpoints/tokens",
                Some((JSON, b"{}".to_vec())),
                200,
            )
            .await?;
        Ok(resp.id)
    }

    /// Completes wait token `id` with `data`
    /// (`POST /api/v1/waitpoints/tokens/{id}/complete`); returns the answer.
    pub async fn complete_token(&self, id: &str, data: Value) -> Result<TokenCompleted> {
        let path = format!("/api/v1/waitpoints/tokens/{id}/complete");
        let body = CompleteTokenBody {
            data,
            if_version: None,
        };
        Ok(self
            .call(Method::POST, &path, Some(json(&body)?), 200)
            .await?
            .0)
    }

    /// `GET /api/v3/runs/{id}`.
    pub async fn get_run(&self, id: &str) -> Result<Run> {
        let path = format!("/api/v3/runs/{id}");
        Ok(self.call(Method::GET, &path, None, 200).await?.0)
    }

    /// `GET /api/v1/mollifier`: the environment's burst smoothing state (`tripped`, `depth`,
    /// …).
    pub async fn mollifier(&self) -> Result<Value> {
        Ok(self
            .call(Method::GET, "/api/v1/mollifier", None, 200)
            .await?
            .0)
    }

    /// `GET /api/v1/runs` with `query` (already encoded, without the `?`).
    pub async fn list_runs(&self, query: &str) -> Result<RunList> {
        let path = format!("/api/v1/runs?{query}");
        Ok(self.call(Method::GET, &path, None, 200).await?.0)
    }
}

fn json<T: Serialize>(value: &T) -> Result<(&'static str, Vec<u8>)> {
    Ok((JSON, serde_json::to_vec(value)?))
}

fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.chars().count() <= EXCERPT {
        text.into_owned()
    } else {
        let head: String = text.chars().take(EXCERPT).collect();
        format!("{head}… ({} bytes in all)", bytes.len())
    }
}
