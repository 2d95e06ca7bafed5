//! Workflow plans through the server and the binary: the JSON Schema, plans refused before any
//! run exists (a cycle named by its path), and plans run with no user code — `trigr worker
//! --plans` serving the built-in task, `trigr plans run --wait` and `trigr plans get` — against
//! a real HTTP target the test starts.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use common::*;
use serde_json::{json, Value};

/// A target that answers `200 {"path": …}` and records each request's idempotency key.
struct Target {
    url: String,
    keys: Arc<Mutex<Vec<String>>>,
    _server: tokio::task::JoinHandle<()>,
}

impl Target {
    async fn start() -> Target {
        let keys = Arc::new(Mutex::new(Vec::new()));
        let k = keys.clone();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap| {
            let k = k.clone();
            async move {
                let key = headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                k.lock().expect("keys").push(key);
                axum::Json(json!({"path": uri.path()}))
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Target {
            url,
            keys,
            _server: server,
        }
    }

    fn keys(&self) -> Vec<String> {
        self.keys.lock().expect("keys").clone()
    }
}

fn diamond(target: &Target) -> Value {
    let action = |id: &str, deps: &[&str]| {
        json!({"id": id, "dependsOn": deps,
               "http": {"method": "POST", "url": format!("{}/{id}", target.url), "body": {"x": 1}}})
    };
    json!({"id": "diamond", "actions": [
        action("a", &[]), action("b", &["a"]), action("c", &["a"]), action("d", &["b", "c"])
    ]})
}

/// `trigr …` with the server's address and dev key; (success, stdout, stderr).
async fn trigr(server: &TestServer, args: &[&str]) -> (bool, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(binary())
            .args(args)
            .env("TRIGGER_API_URL", &server.base_url)
            .env("TRIGGER_SECRET_KEY", DEV_KEY)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("trigr {args:?} did not finish within 60 s"))
    .expect("run trigr");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `trigr worker --plans` with these extra flags, killed when dropped.
fn plan_worker(server: &TestServer, flags: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(binary())
        .args(["worker", "--plans"])
        .args(flags)
        .env("TRIGGER_API_URL", &server.base_url)
        .env("TRIGGER_SECRET_KEY", DEV_KEY)
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn trigr worker")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_is_served_and_bad_plans_are_refused_naming_the_problem() {
    let server = TestServer::start().await;
    let resp = server
        .send(Req::new("GET", "/api/v1/plans/schema").no_key())
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type").as_deref(),
        Some("application/schema+json")
    );
    let schema: Value = serde_json::from_str(&resp.text).expect("a schema");
    assert_eq!(schema["title"], json!("ExecutionPlan"));
    assert!(schema.to_string().contains("dependsOn"));
    let (status, state) = server.get("/api/v1/plans/state-schema").await;
    assert_eq!(status, 200);
    assert_eq!(state["title"], json!("WorkflowState"));

    let http = json!({"method": "GET", "url": "http://127.0.0.1:9/x"});
    let cases = [
        (
            json!({"id": "p", "actions": [
                {"id": "a", "dependsOn": ["c"], "http": http},
                {"id": "b", "dependsOn": ["a"], "http": http},
                {"id": "c", "dependsOn": ["b"], "http": http}]}),
            422,
            "the dependencies form a cycle: a → c → b → a",
        ),
        (
            json!({"id": "p", "actions": [{"id": "a", "dependsOn": ["zz"], "http": http}]}),
            422,
            "action \"a\" depends on \"zz\", which is not an action of the plan",
        ),
        (
            json!({"id": "p", "actions": [{"id": "a", "http": http}, {"id": "a", "http": http}]}),
            422,
            "two actions have the id \"a\"",
        ),
        (
            json!({"id": "p", "actions": []}),
            422,
            "the plan has no actions",
        ),
        (json!({"id": "p", "actions": [{"id": "a"}]}), 400, "http"),
        (
            json!({"id": "p", "actions": [{"id": "a", "http": {"method": "BREW", "url": "http://x/"}}]}),
            400,
            "method",
        ),
    ];
    for (plan, status, message) in cases {
        let (got, body) = server.post("/api/v1/plans", plan.clone()).await;
        assert_eq!(got, status, "{plan}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(message),
            "{plan}: {error:?} lacks {message:?}"
        );
    }
    let (_, runs) = server.get("/api/v1/runs").await;
    assert_eq!(runs["data"], json!([]), "no run exists");
    let (status, body) = server.get("/api/v1/plans/run_doesnotexist").await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_runs_on_the_built_in_worker_from_the_cli() {
    let server = TestServer::start().await;
    let target = Target::start().await;
    let _worker = plan_worker(
        &server,
        &["--allow-host", "127.0.0.1", "--parallelism", "2"],
    );
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("plan.json");
    std::fs::write(&file, diamond(&target).to_string()).expect("write the plan");
    let path = file.to_str().expect("a path");

    let (ok, stdout, stderr) = trigr(&server, &["plans", "run", path, "--wait"]).await;
    assert!(ok, "stdout: {stdout}\nstderr: {stderr}");
    let header = stdout.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("Plan diamond · execution run_") && header.ends_with("completed"),
        "{stdout}"
    );
    let id = header
        .split_whitespace()
        .nth(4)
        .expect("the execution id")
        .to_string();
    for action in ["a", "  b", "  c", "    d"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(action) && l.contains("completed")),
            "{action} in {stdout}"
        );
    }
    let (ok, got, _) = trigr(&server, &["plans", "get", &id]).await;
    assert!(ok);
    assert_eq!(got, stdout, "get prints the same graph");

    let (status, state) = server.get(&format!("/api/v1/plans/{id}")).await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["status"], json!("completed"));
    assert_eq!(
        state["results"]["d"]["output"]["body"],
        json!({"path": "/d"})
    );
    let mut sent: HashMap<String, usize> = HashMap::new();
    for key in target.keys() {
        *sent.entry(key).or_default() += 1;
    }
    let expected: HashMap<String, usize> = ["a", "b", "c", "d"]
        .iter()
        .map(|a| (format!("{id}:{a}"), 1))
        .collect();
    assert_eq!(sent, expected, "each action once, with its idempotency key");

    // Without --wait: the execution id at once.
    let (ok, stdout, _) = trigr(&server, &["plans", "run", path, "--json"]).await;
    assert!(ok);
    let started: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(started["status"], json!("pending"));
    assert!(started["executionId"]
        .as_str()
        .is_some_and(|s| s.starts_with("run_")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_worker_calls_no_host_unless_allowed() {
    let server = TestServer::start().await;
    let target = Target::start().await;
    let _worker = plan_worker(&server, &[]);
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("plan.json");
    std::fs::write(&file, diamond(&target).to_string()).expect("write the plan");
    let (ok, stdout, stderr) = trigr(
        &server,
        &["plans", "run", file.to_str().expect("a path"), "--wait"],
    )
    .await;
    assert!(!ok, "a plan of refused actions fails: {stdout}");
    assert!(stderr.starts_with("error: Plan diamond"), "{stderr}");
    assert!(stderr.contains("not in the allowlist"), "{stderr}");
    assert!(
        stderr.contains("skipped"),
        "dependents are skipped: {stderr}"
    );
    assert!(stderr.trim_end().ends_with("The plan failed."), "{stderr}");
    assert!(target.keys().is_empty(), "nothing was sent");

    let (ok, _, stderr) = trigr(&server, &["worker"]).await;
    assert!(!ok && stderr.contains("pass --plans"), "{stderr}");
}
