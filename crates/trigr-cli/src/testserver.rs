//! The real trigr server for the tests of the client commands: started in this process on a free
//! local port, with a temporary store and a known dev secret key.
//!
//! Besides the connection flags for the commands under test it has a small HTTP client of its
//! own, so a test can prepare the server (register a deployment, trigger runs) and check what a
//! command did (read the run or the queue back) without going through the code under test.

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde::Serialize;
use serde_json::{json, Value};
use trigr_types::manifest::{QueueManifest, TaskManifest};
use trigr_types::wire::rest::TriggerBody;
use trigr_types::wire::runs::Triggered;
use trigr_types::wire::trigger::TriggerOptions;
use trigr_types::wire::worker::{DeploymentRegistered, RegisterBody};

use crate::api::ConnectionArgs;

/// Dev environment key seeded into every test store (`tr_dev_` + 24 letters and digits).
pub const KEY: &str = "tr_dev_clitest00000000000000001";

/// A running server and a client of it.
pub struct TestServer {
    /// Base URL, like `http://127.0.0.1:41234`.
    pub url: String,
    http: reqwest::Client,
    running: trigr_server::Running,
    // Declared last so it is removed after the server has stopped.
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server on a new temporary data directory.
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().expect("temporary data directory");
        let config = trigr_server::Config {
            listen: "127.0.0.1:0".parse().expect("listen address"),
            data_dir: dir.path().to_path_buf(),
            dev_secret_key: Some(KEY.into()),
            ..Default::default()
        };
        let running = trigr_server::start(config).await.expect("start the server");
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {KEY}")).expect("key header"),
        );
        headers.insert(
            "x-trigger-api-version",
            HeaderValue::from_static("2025-07-16"),
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .expect("http client");
        TestServer {
            url: format!("http://{}", running.addr()),
            http,
            running,
            _dir: dir,
        }
    }

    /// The connection flags of a client command aimed at this server.
    pub fn conn(&self) -> ConnectionArgs {
        ConnectionArgs {
            api_url: self.url.clone(),
            secret_key: Some(KEY.into()),
        }
    }

    /// `GET path` with the key: the status and the body (JSON, else the text as a string).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        Self::answer(self.http.get(format!("{}{path}", self.url))).await
    }

    /// `POST path` with the key and a JSON body: the status and the body.
    pub async fn post(&self, path: &str, body: &impl Serialize) -> (u16, Value) {
        Self::answer(self.http.post(format!("{}{path}", self.url)).json(body)).await
    }

    /// `PUT url` (a full URL) with a text body: the status and the body.
    pub async fn put_text(&self, url: &str, text: &str) -> (u16, Value) {
        let request = self
            .http
            .put(url)
            .header("content-type", "text/plain")
            .body(text.to_string());
        Self::answer(request).await
    }

    async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("request to the test server");
        let status = response.status().as_u16();
        let text = response.text().await.expect("answer of the test server");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    /// Registers a deployment of `tasks` and makes it current; its version.
    pub async fn deploy(&self, tasks: Vec<TaskManifest>) -> String {
        let body = RegisterBody {
            tasks,
            promote: true,
            content_hash: None,
            region: None,
        };
        let (status, answer) = self.post("/api/v1/worker/deployments", &body).await;
        assert_eq!(status, 201, "register deployment: {answer}");
        let registered: DeploymentRegistered =
            serde_json::from_value(answer).expect("a registered deployment");
        registered.version
    }

    /// Triggers a run of `task` (an id needing no encoding) with a JSON payload and the given
    /// options; the new run's id.
    pub async fn trigger(&self, task: &str, payload: &Value, options: TriggerOptions) -> String {
        let body = TriggerBody {
            payload: Some(Value::String(payload.to_string())),
            options: Some(options),
        };
        let (status, answer) = self
            .post(&format!("/api/v1/tasks/{task}/trigger"), &body)
            .await;
        assert_eq!(status, 200, "trigger {task}: {answer}");
        let triggered: Triggered = serde_json::from_value(answer).expect("a triggered run");
        triggered.id
    }

    /// The run as `GET /api/v3/runs/{id}` shows it.
    pub async fn run(&self, id: &str) -> Value {
        let (status, run) = self.get(&format!("/api/v3/runs/{id}")).await;
        assert_eq!(status, 200, "run {id}: {run}");
        run
    }

    /// Stops the server (the store is closed) and removes its data directory.
    pub async fn stop(self) {
        let TestServer { running, _dir, .. } = self;
        running.shutdown().await;
    }
}

/// A task of a deployment, on its own queue.
pub fn task(id: &str) -> TaskManifest {
    TaskManifest {
        id: id.into(),
        ..TaskManifest::default()
    }
}

/// A task of a deployment on the custom queue `queue`.
pub fn queued(id: &str, queue: &str) -> TaskManifest {
    TaskManifest {
        queue: Some(QueueManifest {
            name: queue.into(),
            concurrency_limit: None,
        }),
        ..task(id)
    }
}

/// Trigger options with these tags.
pub fn tagged(tags: &[&str]) -> TriggerOptions {
    TriggerOptions {
        tags: Some(json!(tags)),
        ..TriggerOptions::default()
    }
}
