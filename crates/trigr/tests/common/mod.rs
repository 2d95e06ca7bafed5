//! Test harness: starts the real `trigr server` binary on a random port with a temporary SQLite
//! store and known keys, and talks to it over HTTP.
#![allow(dead_code)]

pub mod node;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

pub const DEV_KEY: &str = "tr_dev_testkey00000000000000001";
pub const STAGING_KEY: &str = "tr_stg_testkey00000000000000001";
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
    /// Which store, whatever `TRIGR_TEST_BACKEND` says; `None` follows it.
    pub backend: Option<Backend>,
    /// Extra environment variables of the server process.
    pub env: Vec<(String, String)>,
    /// Serve metrics on a listener of their own (`--metrics-listen`, see
    /// [`TestServer::metrics_url`]).
    pub metrics: bool,
    /// Keep the server's log lines (stderr, at `RUST_LOG=info`) in [`TestServer::logs`].
    pub logs: bool,
}

/// A store a test server keeps its data in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// With `TRIGR_TEST_MOLLIFIER_BUFFER=redis`, every test server keeps the mollifier's buffer in
/// the machine's Redis (`TRIGR_TEST_REDIS_URL`, else 127.0.0.1:6379), under a prefix of its
/// own data directory: a server restarted on the same store finds the same buffer.
fn redis_buffer_args(data_dir: &std::path::Path) -> Vec<String> {
    let Some(prefix) = redis_buffer_prefix(data_dir) else {
        return Vec::new();
    };
    vec![
        "--redis-url".into(),
        redis_test_url(),
        "--redis-prefix".into(),
        prefix,
    ]
}

/// Whether test servers keep the mollifier's buffer in Redis (`TRIGR_TEST_MOLLIFIER_BUFFER`).
pub fn redis_buffer_mode() -> bool {
    std::env::var("TRIGR_TEST_MOLLIFIER_BUFFER").as_deref() == Ok("redis")
}

/// The Redis the tests use.
pub fn redis_test_url() -> String {
    std::env::var("TRIGR_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

/// The `--redis-prefix` of a test server on this data directory, in Redis buffer mode.
pub fn redis_buffer_prefix(data_dir: &std::path::Path) -> Option<String> {
    if !redis_buffer_mode() {
        return None;
    }
    let name: String = data_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    Some(format!("test{name}"))
}

/// Runs `redis-cli` against the tests' Redis with `args`; its output.
pub fn redis_cli(args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-u", &redis_test_url()])
        .args(args)
        .output()
        .expect("redis-cli");
    assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub struct TestServer {
    pub base_url: String,
    pub child: Child,
    pub data_dir: std::path::PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub http: reqwest::Client,
    /// `http://…/metrics` of the metrics listener ([`Options::metrics`]).
    pub metrics_url: Option<String>,
    /// The server's log lines ([`Options::logs`]).
    pub logs: Option<LogLines>,
}

/// The log lines of a server process, as they arrive.
#[derive(Clone)]
pub struct LogLines {
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    count: tokio::sync::watch::Receiver<usize>,
}

impl LogLines {
    /// Reads `from` line by line on a thread of its own until it closes.
    fn read(from: impl std::io::Read + Send + 'static) -> LogLines {
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, count) = tokio::sync::watch::channel(0);
        let kept = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(from).lines() {
                let Ok(line) = line else { break };
                let mut all = kept.lock().unwrap();
                all.push(line);
                let _ = tx.send(all.len());
            }
        });
        LogLines { lines, count }
    }

    /// Every line so far.
    pub fn all(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The first line `matches` accepts, waiting for new lines up to 30 s; `None` when none
    /// came.
    pub async fn wait_for(&self, matches: impl Fn(&str) -> bool) -> Option<String> {
        let mut count = self.count.clone();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(line) = self.all().into_iter().find(|l| matches(l)) {
                return Some(line);
            }
            match tokio::time::timeout_at(deadline, count.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }
}

/// A client that, like the official SDK 4.8, asks for the current status vocabulary.
fn sdk_like_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-trigger-api-version",
        reqwest::header::HeaderValue::from_static("2025-07-16"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("http client")
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_trigr")
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with_clock() -> TestServer {
        Self::start_with(Options {
            test_clock: true,
            ..Default::default()
        })
        .await
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
        let mut args = store_args_for(&data_dir, opts.backend);
        if opts.test_clock {
            args.push("--test-clock".into());
        }
        if opts.metrics {
            args.extend(["--metrics-listen".into(), "127.0.0.1:0".into()]);
        }
        args.extend(redis_buffer_args(&data_dir));
        args.extend(opts.args.iter().cloned());
        let spawned = spawn(&data_dir, &args, &opts.env, opts.logs);
        TestServer {
            base_url: spawned.base_url,
            child: spawned.child,
            data_dir,
            _tmp: tmp,
            http: sdk_like_client(),
            metrics_url: spawned.metrics_url,
            logs: spawned.logs,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Sends a request with the dev key and returns (status, JSON body or Null).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(DEV_KEY, method, path, body).await
    }

    pub async fn call_as(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
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
            .call_as(
                key,
                "POST",
                "/api/v1/worker/deployments",
                Some(json!({"tasks": tasks, "promote": promote})),
            )
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
            .post(
                "/api/v1/worker/dequeue",
                json!({"version": version, "maxRuns": max, "waitMs": wait_ms}),
            )
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
        let (s, v) = self
            .post("/api/v1/test/clock", json!({"advanceMs": ms}))
            .await;
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
        if self._tmp.is_some() {
            drop_postgres_schema(&self.data_dir);
        }
    }
}

/// Spawns `trigr server` on a random port with the seeded keys and `args` after `server`;
/// returns it once it printed its address.
fn spawn_server(
    data_dir: &std::path::Path,
    args: &[String],
    env: &[(String, String)],
) -> (Child, String) {
    let spawned = spawn(data_dir, args, env, false);
    (spawned.child, spawned.base_url)
}

/// A started server process.
struct Spawned {
    child: Child,
    base_url: String,
    metrics_url: Option<String>,
    logs: Option<LogLines>,
}

/// [`spawn_server`], keeping the server's log lines (at `RUST_LOG=info`) with `logs`, and
/// the metrics listener's address when it prints one.
fn spawn(
    data_dir: &std::path::Path,
    args: &[String],
    env: &[(String, String)],
    logs: bool,
) -> Spawned {
    let mut cmd = Command::new(binary());
    cmd.arg("server")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("TRIGR_DEV_SECRET_KEY", DEV_KEY)
        .env("TRIGR_STAGING_SECRET_KEY", STAGING_KEY)
        .env("TRIGR_PROD_SECRET_KEY", PROD_KEY)
        .env_remove("TRIGR_DATABASE_URL")
        .env_remove("TRIGR_LISTEN")
        .env_remove("TRIGR_DATA_DIR")
        // `TRIGR_TEST_LOG=trigr_server=debug` shows more of what the servers do.
        .env(
            "RUST_LOG",
            std::env::var("TRIGR_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(if logs {
            Stdio::piped()
        } else {
            Stdio::inherit()
        });
    if logs {
        cmd.env("RUST_LOG", "info");
    }
    let mut child = cmd.spawn().expect("spawn trigr server");
    let stdout = child.stdout.take().expect("stdout");
    let logs = logs.then(|| LogLines::read(child.stderr.take().expect("stderr")));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        let mut metrics_url = None;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("trigr metrics on ") {
                metrics_url = Some(url.trim().to_string());
            }
            if let Some(addr) = line.strip_prefix("trigr listening on ") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send((addr.trim().to_string(), metrics_url.take()));
                }
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok((base_url, metrics_url)) => Spawned {
            child,
            base_url,
            metrics_url,
            logs,
        },
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server ({args:?}) did not print its address within 30 s");
        }
    }
}

/// With `TRIGR_TEST_BACKEND=postgres`, servers keep their data in PostgreSQL
/// (`TRIGR_TEST_DATABASE_URL`, default the local server), each data directory in a schema of
/// its own, so a restart on the same directory finds the same data.
pub fn postgres_url() -> Option<String> {
    (std::env::var("TRIGR_TEST_BACKEND").ok().as_deref() == Some("postgres")).then(|| {
        std::env::var("TRIGR_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
    })
}

fn schema_file(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("postgres-schema")
}

/// Runs a statement on PostgreSQL from a plain thread (the sync client must not run on the
/// async runtime's threads).
fn run_sql(url: String, sql: String) {
    std::thread::spawn(move || {
        let mut client =
            postgres::Client::connect(&url, postgres::NoTls).expect("connect to PostgreSQL");
        client.batch_execute(&sql).expect("run SQL");
    })
    .join()
    .expect("SQL thread");
}

/// The flags that name a test server's store (`--data-dir` or `--database-url`), for the
/// admin commands (`trigr keys`, …) to work on the same store.
pub fn store_args(server: &TestServer) -> Vec<String> {
    let on_postgres = schema_file(&server.data_dir).exists();
    let url = on_postgres.then(|| {
        std::env::var("TRIGR_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
    });
    let mut args = postgres_args(&server.data_dir, url);
    if args.is_empty() {
        args = vec!["--data-dir".into(), server.data_dir.display().to_string()];
    }
    args
}

/// Runs SQL statements on a running test server's store (its SQLite file, or its
/// PostgreSQL schema), as a damaged store would have them.
pub fn store_sql(server: &TestServer, sql: &str) {
    let file = schema_file(&server.data_dir);
    match std::fs::read_to_string(&file) {
        Ok(schema) => {
            let url = std::env::var("TRIGR_TEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
            run_sql(url, format!("SET search_path TO {}; {sql}", schema.trim()));
        }
        Err(_) => {
            let conn = rusqlite::Connection::open(server.data_dir.join("trigr.db"))
                .expect("open the SQLite store");
            conn.busy_timeout(std::time::Duration::from_secs(10))
                .expect("busy timeout");
            conn.execute_batch(sql).expect("run SQL");
        }
    }
}

fn store_args_for(data_dir: &std::path::Path, backend: Option<Backend>) -> Vec<String> {
    let url = match backend {
        None => postgres_url(),
        Some(Backend::Sqlite) => None,
        Some(Backend::Postgres) => Some(
            std::env::var("TRIGR_TEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string()),
        ),
    };
    postgres_args(data_dir, url)
}

fn postgres_args(data_dir: &std::path::Path, url: Option<String>) -> Vec<String> {
    let Some(url) = url else {
        return Vec::new();
    };
    let file = schema_file(data_dir);
    let schema = match std::fs::read_to_string(&file) {
        Ok(s) => s.trim().to_string(),
        Err(_) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            // The counter keeps two servers of one test process apart even when the clock
            // reads the same for both.
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let schema = format!("it_{}_{nanos}_{n}", std::process::id());
            std::fs::create_dir_all(data_dir).expect("data dir");
            run_sql(url.clone(), format!("CREATE SCHEMA {schema}"));
            std::fs::write(&file, &schema).expect("remember the schema");
            schema
        }
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    vec![
        "--database-url".into(),
        format!("{url}{sep}options=-c%20search_path%3D{schema}"),
    ]
}

fn drop_postgres_schema(data_dir: &std::path::Path) {
    let Ok(schema) = std::fs::read_to_string(schema_file(data_dir)) else {
        return;
    };
    let url = std::env::var("TRIGR_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    run_sql(
        url,
        format!("DROP SCHEMA IF EXISTS {} CASCADE", schema.trim()),
    );
}

pub fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(ao), Value::Object(bo)) = (a.as_object_mut(), b) {
        for (k, v) in bo {
            ao.insert(k, v);
        }
    }
    a
}

// ---------------------------------------------------------------------------------------------
// Additional utilities used by the integration test files.
// ---------------------------------------------------------------------------------------------

/// A raw HTTP answer: status, headers, body text and the body parsed as JSON (or `Null`).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// A request built piece by piece for [`TestServer::send`].
#[derive(Clone, Debug)]
pub struct Req {
    pub method: String,
    pub path: String,
    /// `None` sends no `Authorization` header.
    pub key: Option<String>,
    pub content_type: Option<String>,
    pub body: Option<Vec<u8>>,
    pub headers: Vec<(String, String)>,
    /// Send the body with chunked transfer encoding (no `Content-Length`), like a streamed body.
    pub chunked: bool,
}

impl Req {
    pub fn new(method: &str, path: &str) -> Req {
        Req {
            method: method.to_string(),
            path: path.to_string(),
            key: Some(DEV_KEY.to_string()),
            content_type: None,
            body: None,
            headers: Vec::new(),
            chunked: false,
        }
    }
    pub fn key(mut self, key: &str) -> Req {
        self.key = Some(key.to_string());
        self
    }
    pub fn no_key(mut self) -> Req {
        self.key = None;
        self
    }
    pub fn json(mut self, body: &Value) -> Req {
        self.content_type = Some("application/json".into());
        self.body = Some(body.to_string().into_bytes());
        self
    }
    pub fn raw_body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Req {
        self.content_type = Some(content_type.to_string());
        self.body = Some(body.into());
        self
    }
    pub fn content_type(mut self, content_type: &str) -> Req {
        self.content_type = Some(content_type.to_string());
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
    pub fn chunked(mut self) -> Req {
        self.chunked = true;
        self
    }
}

impl TestServer {
    /// Sends a [`Req`] and returns the whole answer.
    pub async fn send(&self, r: Req) -> Resp {
        send_to(&self.http, &self.base_url, r).await
    }

    /// Sends a [`Req`]; a transport error is returned, not a panic.
    pub async fn try_send(&self, r: Req) -> Result<Resp, reqwest::Error> {
        try_send_to(&self.http, &self.base_url, r).await
    }

    /// Sends an oversized request that must be refused with one of `statuses`. A server may
    /// answer before reading the whole body and close the connection; the client then sees a
    /// transport error instead of the answer, which is accepted as long as the server is
    /// still healthy afterwards.
    pub async fn send_oversized(&self, r: Req, statuses: &[u16], what: &str) {
        match self.try_send(r).await {
            Ok(resp) => assert_error(resp.status, &resp.json, statuses, &[], what),
            Err(e) => {
                eprintln!("{what}: connection closed early ({e}); checking the server is healthy");
                let h = self.send(Req::new("GET", "/healthz").no_key()).await;
                assert_eq!(
                    h.status, 200,
                    "{what}: server unhealthy after an oversized request"
                );
            }
        }
    }

    pub async fn get_as(&self, key: &str, path: &str) -> (u16, Value) {
        self.call_as(key, "GET", path, None).await
    }

    pub async fn post_as(&self, key: &str, path: &str, body: Value) -> (u16, Value) {
        self.call_as(key, "POST", path, Some(body)).await
    }

    /// `POST /api/v1/tasks/{task}/trigger` with a complete body; returns the raw answer.
    pub async fn trigger_raw(&self, task: &str, body: Value) -> Resp {
        self.send(Req::new("POST", &format!("/api/v1/tasks/{task}/trigger")).json(&body))
            .await
    }

    /// Triggers with a plain-JSON payload and options; returns (status, body) without asserting.
    pub async fn try_trigger(&self, task: &str, payload: Value, options: Value) -> (u16, Value) {
        self.try_trigger_as(DEV_KEY, task, payload, options).await
    }

    pub async fn try_trigger_as(
        &self,
        key: &str,
        task: &str,
        payload: Value,
        options: Value,
    ) -> (u16, Value) {
        self.call_as(
            key,
            "POST",
            &format!("/api/v1/tasks/{task}/trigger"),
            Some(json!({"payload": payload.to_string(), "options": merge(json!({"payloadType": "application/json"}), options)})),
        )
        .await
    }

    /// Like [`TestServer::trigger`] with another environment's key.
    pub async fn trigger_as(
        &self,
        key: &str,
        task: &str,
        payload: Value,
        options: Value,
    ) -> String {
        let (s, v) = self.try_trigger_as(key, task, payload, options).await;
        assert_eq!(s, 200, "trigger failed: {v}");
        v["id"].as_str().unwrap().to_string()
    }

    pub async fn run_as(&self, key: &str, id: &str) -> Value {
        let (s, v) = self.get_as(key, &format!("/api/v3/runs/{id}")).await;
        assert_eq!(s, 200, "retrieve {id}: {v}");
        v
    }

    /// Status of a run.
    pub async fn status(&self, id: &str) -> String {
        self.run(id).await["status"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub async fn dequeue_as(&self, key: &str, version: &str, max: u32, wait_ms: u64) -> Vec<Value> {
        let (s, v) = self
            .post_as(
                key,
                "/api/v1/worker/dequeue",
                json!({"version": version, "maxRuns": max, "waitMs": wait_ms}),
            )
            .await;
        assert_eq!(s, 200, "dequeue failed: {v}");
        v["runs"].as_array().unwrap().clone()
    }

    pub async fn heartbeat(&self, run: &Value) -> (u16, Value) {
        let id = run["runId"].as_str().unwrap();
        self.post(
            &format!("/api/v1/worker/runs/{id}/heartbeat"),
            json!({"lease": run["lease"]}),
        )
        .await
    }

    /// Failure completion with extra fields (`retry`, `retryAfterMs`, …).
    pub async fn complete_err_with(
        &self,
        run: &Value,
        message: &str,
        extra: Value,
    ) -> (u16, Value) {
        let id = run["runId"].as_str().unwrap();
        self.post(
            &format!("/api/v1/worker/runs/{id}/complete"),
            merge(
                json!({"lease": run["lease"], "ok": false, "error": {"message": message}}),
                extra,
            ),
        )
        .await
    }

    pub async fn cancel(&self, id: &str) -> (u16, Value) {
        self.send(
            Req::new("POST", &format!("/api/v2/runs/{id}/cancel")).content_type("application/json"),
        )
        .await
        .pair()
    }

    /// Lists every run matching `query` (already encoded, without `?`), following `pagination.next`.
    pub async fn list_all(&self, query: &str) -> Vec<Value> {
        self.list_all_as(DEV_KEY, query).await
    }

    pub async fn list_all_as(&self, key: &str, query: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..10_000 {
            let mut q = format!("{}={}", enc("page[size]"), 100);
            if !query.is_empty() {
                q = format!("{query}&{q}");
            }
            if let Some(a) = &after {
                q.push_str(&format!("&{}={}", enc("page[after]"), enc(a)));
            }
            let (s, v) = self.get_as(key, &format!("/api/v1/runs?{q}")).await;
            assert_eq!(s, 200, "list runs ?{q}: {v}");
            out.extend(v["data"].as_array().expect("data array").iter().cloned());
            match v["pagination"]["next"].as_str() {
                Some(n) => after = Some(n.to_string()),
                None => return out,
            }
        }
        panic!("pagination did not end");
    }

    /// Ids of every run matching `query`.
    pub async fn list_ids(&self, query: &str) -> Vec<String> {
        self.list_all(query)
            .await
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// The server's clock in epoch milliseconds (test clock only: advances by 0).
    pub async fn now_ms(&self) -> i64 {
        let v = self.advance(0).await;
        parse_ms(&v["now"])
    }

    /// `POST /api/v3/batches`; returns the raw answer.
    pub async fn create_batch(&self, body: Value) -> Resp {
        self.send(Req::new("POST", "/api/v3/batches").json(&body))
            .await
    }

    /// `POST /api/v3/batches/{id}/items` with NDJSON lines, streamed with chunked encoding.
    pub async fn send_items(&self, batch_id: &str, lines: &[Value]) -> Resp {
        let mut body = String::new();
        for l in lines {
            body.push_str(&l.to_string());
            body.push('\n');
        }
        self.send(
            Req::new("POST", &format!("/api/v3/batches/{batch_id}/items"))
                .raw_body("application/x-ndjson", body)
                .chunked(),
        )
        .await
    }
}

impl Resp {
    pub fn pair(self) -> (u16, Value) {
        (self.status, self.json)
    }
}

pub async fn send_to(http: &reqwest::Client, base_url: &str, r: Req) -> Resp {
    try_send_to(http, base_url, r).await.expect("request")
}

/// Like [`send_to`], but a transport error (e.g. the server answered early and closed the
/// connection while a large body was still being sent) is returned instead of panicking.
pub async fn try_send_to(
    http: &reqwest::Client,
    base_url: &str,
    r: Req,
) -> Result<Resp, reqwest::Error> {
    let m = reqwest::Method::from_bytes(r.method.as_bytes()).unwrap();
    let mut req = http.request(m, format!("{base_url}{}", r.path));
    if let Some(k) = &r.key {
        req = req.bearer_auth(k);
    }
    if let Some(ct) = &r.content_type {
        req = req.header("content-type", ct.as_str());
    }
    for (n, v) in &r.headers {
        req = req.header(n.as_str(), v.as_str());
    }
    if let Some(b) = r.body {
        if r.chunked {
            // Split into a few chunks so the body really arrives as a stream.
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                b.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
            req = req.body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)));
        } else {
            req = req.body(b);
        }
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Resp {
        status,
        headers,
        text,
        json,
    })
}

/// A task manifest entry with only an id.
pub fn task(id: &str) -> Value {
    json!({ "id": id })
}

/// Manifest of plain tasks.
pub fn tasks(ids: &[&str]) -> Value {
    Value::Array(ids.iter().map(|i| task(i)).collect())
}

/// Percent-encodes everything but unreserved characters (as `encodeURIComponent` does, and more).
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Builds an encoded query string from pairs.
pub fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A time value (RFC 3339 string or epoch milliseconds) as epoch milliseconds.
pub fn parse_ms(v: &Value) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap_or_else(|| n.as_f64().unwrap() as i64),
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .unwrap_or_else(|e| panic!("not an RFC 3339 time: {s:?}: {e}"))
            .timestamp_millis(),
        other => panic!("not a time: {other}"),
    }
}

/// RFC 3339 with milliseconds and `Z`, as JavaScript's `Date.toISOString()` writes it.
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Asserts an error answer: the status is one of `statuses`, the body is `{"error": "<text>"}`
/// and the text contains one of `needles` (case-insensitive; empty `needles` = any text).
pub fn assert_error(status: u16, body: &Value, statuses: &[u16], needles: &[&str], what: &str) {
    assert!(
        statuses.contains(&status),
        "{what}: expected status {statuses:?}, got {status}: {body}"
    );
    let text = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no string `error` in {body}"));
    assert!(!text.trim().is_empty(), "{what}: empty error text");
    if !needles.is_empty() {
        let lower = text.to_lowercase();
        assert!(
            needles.iter().any(|n| lower.contains(&n.to_lowercase())),
            "{what}: error {text:?} names none of {needles:?}"
        );
    }
}

/// A tiny deterministic random number generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// Lowercase hex SHA-256 of a string (how the SDK hashes idempotency keys).
pub fn sha256_hex(s: &str) -> String {
    sha256(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([
                block[4 * i],
                block[4 * i + 1],
                block[4 * i + 2],
                block[4 * i + 3],
            ]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..64 {
            let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
            let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
            let t1 = v[7]
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
            let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
            let t2 = s0.wrapping_add(maj);
            v[7] = v[6];
            v[6] = v[5];
            v[5] = v[4];
            v[4] = v[3].wrapping_add(t1);
            v[3] = v[2];
            v[2] = v[1];
            v[1] = v[0];
            v[0] = t1.wrapping_add(t2);
        }
        for i in 0..8 {
            h[i] = h[i].wrapping_add(v[i]);
        }
    }
    let mut out = [0u8; 32];
    for i in 0..8 {
        out[4 * i..4 * i + 4].copy_from_slice(&h[i].to_be_bytes());
    }
    out
}

/// HMAC-SHA256.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&sha256(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    inner.extend_from_slice(msg);
    let ih = sha256(&inner);
    let mut outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    outer.extend_from_slice(&ih);
    sha256(&outer)
}

/// Decodes base64url without padding (JWT segments).
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        } as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Today's UTC date as `YYYYMMDD`.
pub fn utc_date() -> String {
    chrono::Utc::now().format("%Y%m%d").to_string()
}

// ---------------------------------------------------------------------------------------------
// Servers on a database the test chooses (several servers sharing one PostgreSQL schema).
// ---------------------------------------------------------------------------------------------

impl TestServer {
    /// Starts `trigr server` on `database_url`, whatever `TRIGR_TEST_BACKEND` says, with the
    /// seeded keys and `args` after `server`. The database belongs to the caller: nothing in it
    /// is dropped when the server is.
    pub async fn start_on(database_url: &str, args: &[String]) -> TestServer {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data_dir = tmp.path().to_path_buf();
        let mut all = vec!["--database-url".to_string(), database_url.to_string()];
        all.extend(args.iter().cloned());
        let (child, base_url) = spawn_server(&data_dir, &all, &[]);
        TestServer {
            base_url,
            child,
            data_dir,
            _tmp: Some(tmp),
            http: sdk_like_client(),
            metrics_url: None,
            logs: None,
        }
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// A token signed with the dev secret key, like `auth.createPublicToken` of the official SDK,
/// valid for ten minutes.
pub async fn public_token(server: &TestServer, scopes: &[String]) -> String {
    let now = chrono::Utc::now().timestamp();
    public_token_with(
        server,
        json!({"scopes": scopes, "iat": now, "exp": now + 600}),
    )
    .await
}

/// A public token signed with the dev secret key, with `claims` over the usual ones (`sub`,
/// `pub`, `iss`, `aud`).
pub async fn public_token_with(server: &TestServer, claims: Value) -> String {
    let (s, sub) = server.post("/api/v1/auth/jwt/claims", json!({})).await;
    assert_eq!(s, 200, "{sub}");
    let body = merge(
        json!({
            "sub": sub["sub"], "pub": true,
            "iss": "https://id.trigger.dev", "aud": "https://api.trigger.dev",
        }),
        claims,
    );
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &body,
        &jsonwebtoken::EncodingKey::from_secret(DEV_KEY.as_bytes()),
    )
    .unwrap()
}

/// The reference of the store's default project (`trigr projects list`).
pub fn default_project_ref(server: &TestServer) -> String {
    let mut args = vec!["projects".to_string(), "list".to_string()];
    args.extend(store_args(server));
    let out = Command::new(binary())
        .args(&args)
        .env_remove("TRIGR_DATA_DIR")
        .env_remove("TRIGR_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run trigr projects list");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.split_whitespace()
        .find(|w| w.starts_with("proj_"))
        .unwrap_or_else(|| panic!("no project reference in {text}"))
        .to_string()
}
