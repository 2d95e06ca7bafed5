//! Test harness: starts the real `trigr server` binary on a random port with a temporary SQLite
//! store and known keys, and talks to it over HTTP.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

pub const DEV_KEY: &str = "tr_dev_testkey000000000000000001";
pub const STAGING_KEY: &str = "tr_stg_testkey000000000000000001";
pub const PROD_KEY: &str = "tr_prod_testkey00000000000000001";

/// Options for [`TestServer::start_with`].
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Extra command-line arguments after `server`.
    pub args: Vec<String>,
    /// Reuse this data directory (to restart a server on the same store).
    pub data_dir: Option<std::path::PathBuf>,
    /// Run with the manual test clock (`--test-clock`); time moves only through
    /// `POST /api/v1/test/clock`.
    pub test_clock: bool,
}

pub struct TestServer {
    pub base_url: String,
    pub child: Child,
    pub data_dir: std::path::PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub http: reqwest::Client,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_trigr")
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with_clock() -> TestServer {
        Self::start_with(Options { test_clock: true, ..Default::default() }).await
    }

    pub async fn start_with(opts: Options) -> TestServer {
        let (tmp, data_dir) = match opts.data_dir.clone() {
            Some(d) => (None, d),
            None => {
                let t = tempfile::tempdir().expect("tempdir");
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let mut cmd = Command::new(binary());
        cmd.arg("server")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&data_dir)
            .env("TRIGR_DEV_SECRET_KEY", DEV_KEY)
            .env("TRIGR_STAGING_SECRET_KEY", STAGING_KEY)
            .env("TRIGR_PROD_SECRET_KEY", PROD_KEY)
            .env_remove("TRIGR_DATABASE_URL")
            .env_remove("TRIGR_LISTEN")
            .env_remove("TRIGR_DATA_DIR")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if opts.test_clock {
            cmd.arg("--test-clock");
        }
        cmd.args(&opts.args);
        let mut child = cmd.spawn().expect("spawn trigr server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("trigr listening on ") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr.trim().to_string());
                    }
                }
            }
        });
        let base_url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server did not print its address within 30 s");
        TestServer {
            base_url,
            child,
            data_dir,
            _tmp: tmp,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Sends a request with the dev key and returns (status, JSON body or Null).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(DEV_KEY, method, path, body).await
    }

    pub async fn call_as(&self, key: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(m, self.url(path)).bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(body)).await
    }

    /// Registers a deployment with the given task manifest in dev (auto-promoted) and returns
    /// its version.
    pub async fn deploy(&self, tasks: Value) -> String {
        self.deploy_as(DEV_KEY, tasks, true).await
    }

    pub async fn deploy_as(&self, key: &str, tasks: Value, promote: bool) -> String {
        let (s, v) = self
            .call_as(key, "POST", "/api/v1/worker/deployments", Some(json!({"tasks": tasks, "promote": promote})))
            .await;
        assert_eq!(s, 201, "deploy failed: {v}");
        v["version"].as_str().unwrap().to_string()
    }

    /// Triggers a task with a plain-JSON payload and options; returns the run id.
    pub async fn trigger(&self, task: &str, payload: Value, options: Value) -> String {
        let (s, v) = self
            .post(
                &format!("/api/v1/tasks/{task}/trigger"),
                json!({"payload": payload.to_string(), "options": merge(json!({"payloadType": "application/json"}), options)}),
            )
            .await;
        assert_eq!(s, 200, "trigger failed: {v}");
        v["id"].as_str().unwrap().to_string()
    }

    pub async fn dequeue(&self, version: &str, max: u32, wait_ms: u64) -> Vec<Value> {
        let (s, v) = self
            .post("/api/v1/worker/dequeue", json!({"version": version, "maxRuns": max, "waitMs": wait_ms}))
            .await;
        assert_eq!(s, 200, "dequeue failed: {v}");
        v["runs"].as_array().unwrap().clone()
    }

    pub async fn complete_ok(&self, run: &Value, output: Value) -> (u16, Value) {
        let id = run["runId"].as_str().unwrap();
        self.post(
            &format!("/api/v1/worker/runs/{id}/complete"),
            json!({"lease": run["lease"], "ok": true, "output": output}),
        )
        .await
    }

    pub async fn complete_err(&self, run: &Value, message: &str) -> (u16, Value) {
        let id = run["runId"].as_str().unwrap();
        self.post(
            &format!("/api/v1/worker/runs/{id}/complete"),
            json!({"lease": run["lease"], "ok": false, "error": {"message": message}}),
        )
        .await
    }

    pub async fn run(&self, id: &str) -> Value {
        let (s, v) = self.get(&format!("/api/v3/runs/{id}")).await;
        assert_eq!(s, 200, "retrieve {id}: {v}");
        v
    }

    /// Moves the manual clock forward and runs the timers once; returns the server's answer
    /// (`{"now": …, "fired": {…}}`).
    pub async fn advance(&self, ms: u64) -> Value {
        let (s, v) = self.post("/api/v1/test/clock", json!({"advanceMs": ms})).await;
        assert_eq!(s, 200, "advance clock: {v}");
        v
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(ao), Value::Object(bo)) = (a.as_object_mut(), b) {
        for (k, v) in bo {
            ao.insert(k, v);
        }
    }
    a
}
