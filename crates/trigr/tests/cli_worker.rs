//! The Trigger.dev CLI's dev worker protocol (`docs/typescript.md`) against a real server,
//! spoken as the CLI speaks it (JSON sent as `text/plain`): a build registered as a version,
//! runs through their snapshot chains, waits on dates, tokens and children handed back as
//! completed waitpoints, retries, cancels, a CLI that went away, the `run:notify` push over
//! Socket.IO, and the OTLP endpoint its task processes export to. The real CLI is driven by
//! `typescript_dev.rs`.

mod common;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use common::{default_project_ref, merge, Req, TestServer, DEV_KEY, STAGING_KEY};

const PATIENCE: Duration = Duration::from_secs(30);

/// A call as the CLI makes it: JSON in a `text/plain` body.
async fn cli(server: &TestServer, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = Req::new(method, path);
    if let Some(b) = body {
        req = req.raw_body("text/plain;charset=UTF-8", b.to_string());
    }
    let r = server.send(req).await;
    (r.status, r.json)
}

fn build(hash: &str, tasks: Value) -> Value {
    json!({
        "localOnly": true,
        "metadata": {
            "packageVersion": "4.8.3", "cliPackageVersion": "4.8.3", "contentHash": hash,
            "tasks": tasks, "queues": [], "sourceFiles": [], "runtime": "node", "runtimeVersion": "20.20.2"
        },
        "engine": "V2", "supportsLazyAttempts": true
    })
}

fn hello_tasks() -> Value {
    json!([
        {"id": "hello", "filePath": "src/trigger/hello.ts", "exportName": "hello", "maxDuration": 300,
         "retry": {"maxAttempts": 3, "minTimeoutInMs": 1000, "maxTimeoutInMs": 1000, "factor": 1, "randomize": false}},
        {"id": "child", "filePath": "src/trigger/hello.ts", "exportName": "child"}
    ])
}

/// Registers the build; returns its worker id (= its version).
async fn register(server: &TestServer, project: &str, hash: &str) -> String {
    let (s, v) = server
        .post(
            &format!("/api/v1/projects/{project}/background-workers"),
            build(hash, hello_tasks()),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], v["version"], "{v}");
    assert_eq!(v["contentHash"], hash);
    v["id"].as_str().unwrap().to_string()
}

/// Dequeues until `n` runs come (or the patience runs out).
async fn dequeue(server: &TestServer, worker: &str, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut got = Vec::new();
    while got.len() < n {
        let (s, v) = cli(
            server,
            "POST",
            "/engine/v1/dev/dequeue",
            Some(json!({"currentWorker": worker, "oldWorkers": []})),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        got.extend(v["dequeuedMessages"].as_array().unwrap().iter().cloned());
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} runs came",
            got.len()
        );
        if got.len() < n {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    got
}

async fn start(server: &TestServer, msg: &Value) -> Value {
    let (run, snap) = (
        msg["run"]["friendlyId"].as_str().unwrap(),
        msg["snapshot"]["friendlyId"].as_str().unwrap(),
    );
    let (s, v) = cli(
        server,
        "POST",
        &format!("/engine/v1/dev/runs/{run}/snapshots/{snap}/attempts/start"),
        Some(json!({"isWarmStart": false})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn latest(server: &TestServer, run: &str) -> Value {
    let (s, v) = server
        .get(&format!("/engine/v1/dev/runs/{run}/snapshots/latest"))
        .await;
    assert_eq!(s, 200, "{v}");
    v["execution"].clone()
}

async fn complete(server: &TestServer, run: &str, snap: &str, completion: Value) -> (u16, Value) {
    cli(
        server,
        "POST",
        &format!("/engine/v1/dev/runs/{run}/snapshots/{snap}/attempts/complete"),
        Some(json!({ "completion": completion })),
    )
    .await
}

/// Triggers `task` and starts its attempt: the run id, and the start answer.
async fn started(server: &TestServer, worker: &str, task: &str, payload: Value) -> (String, Value) {
    let id = server.trigger(task, payload, json!({})).await;
    let msgs = dequeue(server, worker, 1).await;
    assert_eq!(msgs[0]["run"]["friendlyId"], id.as_str());
    (id, start(server, &msgs[0]).await)
}

#[tokio::test]
async fn builds_register_as_versions_once_each() {
    let server = TestServer::start().await;
    let project = default_project_ref(&server);
    let first = register(&server, &project, "hash-1").await;
    assert_eq!(
        register(&server, &project, "hash-1").await,
        first,
        "the same build, the same version"
    );
    let second = register(&server, &project, "hash-2").await;
    assert_ne!(second, first, "a rebuild is a new version");
    let (s, v) = server.get("/api/v1/deployments/current").await;
    assert_eq!(
        (s, v["version"].as_str()),
        (200, Some(second.as_str())),
        "{v}"
    );

    let path = format!("/api/v1/projects/{project}/background-workers");
    let (s, v) = server
        .post_as(
            STAGING_KEY,
            &format!("/api/v1/projects/{project}/background-workers"),
            build("h", hello_tasks()),
        )
        .await;
    assert_eq!(s, 400, "a staging key does not run `trigger.dev dev`: {v}");
    let (s, v) = server
        .post(
            "/api/v1/projects/proj_aaaaaaaaaaaaaaaaaaaa/background-workers",
            build("h", hello_tasks()),
        )
        .await;
    assert_eq!(s, 400, "another project: {v}");
    for (tasks, names) in [
        (
            json!([{"id": "x", "filePath": "a.ts", "maxDuration": -1}]),
            "maxDuration",
        ),
        (
            json!([{"id": "x", "filePath": "a.ts", "retry": {"maxAttempts": -2}}]),
            "maxAttempts",
        ),
        (
            json!([{"id": "x", "filePath": "a.ts", "queue": {"concurrencyLimit": 1.5}}]),
            "concurrencyLimit",
        ),
        (json!([{"id": "x y", "filePath": "a.ts"}]), "task id"),
        (json!([{"id": "x", "filePath": "a\u{1}.ts"}]), "filePath"),
        (
            json!([{"id": "x", "filePath": "a.ts", "machine": {"preset": "huge"}}]),
            "machine",
        ),
    ] {
        let (s, v) = server.post(&path, build("bad", tasks)).await;
        assert_eq!(s, 400, "{names}: {v}");
        assert!(v["error"].as_str().unwrap().contains(names), "{names}: {v}");
    }
    let (s, v) = cli(
        &server,
        "POST",
        "/engine/v1/dev/dequeue",
        Some(json!({"currentWorker": "worker_1"})),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("worker_1"), "{v}");
}

#[tokio::test]
async fn a_run_goes_through_its_snapshots_and_a_long_wait_comes_back() {
    let server = TestServer::start_with_clock().await;
    let project = default_project_ref(&server);
    let worker = register(&server, &project, "h1").await;
    let (s, v) = server.get("/engine/v1/dev/config").await;
    assert_eq!(s, 200, "{v}");
    assert!(v["maxConcurrentRuns"].as_u64().unwrap() >= 2);
    assert!(v["engineUrl"].as_str().unwrap().starts_with("http://"));

    let id = server
        .trigger("hello", json!({"name": "trigr"}), json!({"tags": ["t1"]}))
        .await;
    let msgs = dequeue(&server, &worker, 1).await;
    let m = &msgs[0];
    assert_eq!(m["snapshot"]["executionStatus"], "PENDING_EXECUTING");
    assert_eq!(m["backgroundWorker"]["friendlyId"], worker.as_str());
    assert_eq!(m["run"]["attemptNumber"], 1);
    assert_eq!(m["environment"]["type"], "DEVELOPMENT");

    let st = start(&server, m).await;
    assert_eq!(st["snapshot"]["executionStatus"], "EXECUTING");
    assert_eq!(st["run"]["attemptNumber"], 1);
    let ex = &st["execution"];
    assert_eq!(ex["run"]["id"], id.as_str());
    assert_eq!(ex["run"]["payloadType"], "application/json");
    assert_eq!(
        serde_json::from_str::<Value>(ex["run"]["payload"].as_str().unwrap()).unwrap(),
        json!({"name": "trigr"})
    );
    assert_eq!(ex["run"]["tags"], json!(["t1"]));
    assert_eq!(
        ex["task"],
        json!({"id": "hello", "filePath": "src/trigger/hello.ts", "exportName": "hello"})
    );
    assert_eq!(ex["attempt"]["number"], 1);
    assert_eq!(ex["environment"]["slug"], "dev");
    assert_eq!(ex["project"]["ref"], project.as_str());
    assert_eq!(ex["run"]["maxAttempts"], 3);
    assert_eq!(ex["deployment"]["version"], worker.as_str());
    assert_eq!(ex["run"]["version"], worker.as_str());
    let otlp = st["envVars"]["TRIGGER_OTEL_EXPORTER_OTLP_ENDPOINT"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(otlp.contains("/otel/env/"), "{otlp}");
    // The same start again (the CLI retries its calls) changes nothing.
    let again = start(&server, m).await;
    assert_eq!(
        again["snapshot"]["friendlyId"],
        st["snapshot"]["friendlyId"]
    );

    let snap = st["snapshot"]["friendlyId"].as_str().unwrap().to_string();
    let (s, v) = cli(
        &server,
        "POST",
        &format!("/engine/v1/dev/runs/{id}/snapshots/{snap}/heartbeat"),
        Some(json!({"cpu": 0, "memory": 0})),
    )
    .await;
    assert_eq!((s, &v), (200, &json!({"ok": true})));

    // wait.for({seconds: 10}) from the task.
    let now = server.advance(0).await["now"].as_str().unwrap().to_string();
    let due = trigr_types::duration::parse_date(&now).unwrap() + 10_000;
    let date = trigr_types::wire::Timestamp(due).to_string();
    let (s, w) = server
        .post(
            &format!("/engine/v1/runs/{id}/wait/duration"),
            json!({"date": date}),
        )
        .await;
    assert_eq!(s, 200, "{w}");
    let wp = w["waitpoint"]["id"].as_str().unwrap().to_string();
    let l = latest(&server, &id).await;
    assert_eq!(
        l["snapshot"]["executionStatus"], "EXECUTING_WITH_WAITPOINTS",
        "{l}"
    );
    assert_eq!(l["completedWaitpoints"], json!([]));
    assert_eq!(l["run"]["attemptNumber"], 1);
    server.advance(9_000).await;
    assert_eq!(
        latest(&server, &id).await["snapshot"]["executionStatus"],
        "EXECUTING_WITH_WAITPOINTS"
    );
    server.advance(1_000).await;
    let l = latest(&server, &id).await;
    assert_eq!(l["snapshot"]["executionStatus"], "EXECUTING", "{l}");
    let cw = &l["completedWaitpoints"][0];
    assert_eq!(
        (
            cw["type"].as_str(),
            cw["friendlyId"].as_str(),
            cw["outputIsError"].as_bool()
        ),
        (Some("DATETIME"), Some(wp.as_str()), Some(false)),
        "{l}"
    );
    assert_eq!(l["run"]["attemptNumber"], 1);

    // The completion may name an older snapshot of the attempt.
    let (s, c) = complete(
        &server,
        &id,
        &snap,
        json!({
            "ok": true, "id": id, "output": "{\"json\":{\"greeting\":\"hi trigr\"}}",
            "outputType": "application/super+json", "usage": {"durationMs": 12},
            "flushedMetadata": {"data": "{\"progress\":1}", "dataType": "application/json"}
        }),
    )
    .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["result"]["attemptStatus"], "RUN_FINISHED");
    assert_eq!(c["result"]["snapshot"]["executionStatus"], "FINISHED");
    assert_eq!(c["result"]["run"]["status"], "COMPLETED_SUCCESSFULLY");
    let run = server.run(&id).await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["output"], json!({"greeting": "hi trigr"}), "{run}");
    assert_eq!(run["metadata"], json!({"progress": 1}), "{run}");
    // A second completion changes nothing and says how the run ended.
    let (s, c2) = complete(
        &server,
        &id,
        &snap,
        json!({"ok": true, "id": id, "outputType": "application/json"}),
    )
    .await;
    assert_eq!(
        (s, c2["result"]["attemptStatus"].as_str()),
        (200, Some("RUN_FINISHED")),
        "{c2}"
    );
    assert_eq!(
        server.run(&id).await["output"],
        json!({"greeting": "hi trigr"})
    );
}

#[tokio::test]
async fn tokens_and_children_come_back_as_completed_waitpoints() {
    let server = TestServer::start_with_clock().await;
    let worker = register(&server, &default_project_ref(&server), "h1").await;
    let (parent, st) = started(&server, &worker, "hello", json!({})).await;

    // wait.forToken, completed through the API.
    let (s, token) = server.post("/api/v1/waitpoints/tokens", json!({})).await;
    assert_eq!(s, 200, "{token}");
    let tid = token["id"].as_str().unwrap().to_string();
    let (s, v) = server
        .post(
            &format!("/engine/v1/runs/{parent}/waitpoints/tokens/{tid}/wait"),
            json!({}),
        )
        .await;
    assert_eq!((s, &v), (200, &json!({"success": true})));
    assert_eq!(
        latest(&server, &parent).await["snapshot"]["executionStatus"],
        "EXECUTING_WITH_WAITPOINTS"
    );
    // A version guard (seed 000) is checked against the run that holds the wait.
    let version = st["execution"]["run"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    let complete_path = format!("/api/v1/waitpoints/tokens/{tid}/complete");
    let (s, v) = server
        .post(
            &complete_path,
            json!({"data": {"ok": false}, "ifVersion": "<20000101.1"}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["runId"], parent.as_str(), "{v}");
    assert_eq!(v["actualVersion"], version.as_str(), "{v}");
    assert_eq!(
        latest(&server, &parent).await["snapshot"]["executionStatus"],
        "EXECUTING_WITH_WAITPOINTS",
        "nothing delivered"
    );
    let (s, v) = server
        .post(
            &complete_path,
            json!({"data": {"ok": true}, "ifVersion": version}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["runVersion"], version.as_str());
    let l = latest(&server, &parent).await;
    let cw = &l["completedWaitpoints"][0];
    assert_eq!(
        (cw["type"].as_str(), cw["friendlyId"].as_str()),
        (Some("MANUAL"), Some(tid.as_str())),
        "{l}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(cw["output"].as_str().unwrap()).unwrap(),
        json!({"ok": true})
    );
    assert_eq!(cw["outputIsError"], false);

    // A token that times out comes back as an error with a message.
    let (_, token) = server
        .post("/api/v1/waitpoints/tokens", json!({"timeout": "5s"}))
        .await;
    let tid = token["id"].as_str().unwrap().to_string();
    server
        .post(
            &format!("/engine/v1/runs/{parent}/waitpoints/tokens/{tid}/wait"),
            json!({}),
        )
        .await;
    server.advance(6_000).await;
    let cw = latest(&server, &parent).await["completedWaitpoints"][0].clone();
    assert_eq!(
        (cw["friendlyId"].as_str(), cw["outputIsError"].as_bool()),
        (Some(tid.as_str()), Some(true)),
        "{cw}"
    );
    let err: Value = serde_json::from_str(cw["output"].as_str().unwrap()).unwrap();
    assert!(
        err["message"].as_str().unwrap().contains("timed out"),
        "{err}"
    );

    // triggerAndWait: the child's failure comes back as a TaskRunError.
    let version = st["execution"]["run"]["version"].clone();
    let (s, t) = server.post("/api/v1/tasks/child/trigger", json!({
        "payload": "{\"n\":21}",
        "options": {"payloadType": "application/json", "parentRunId": parent, "resumeParentOnCompletion": true, "lockToVersion": version}
    })).await;
    assert_eq!(s, 200, "{t}");
    let child = t["id"].as_str().unwrap().to_string();
    assert_eq!(
        latest(&server, &parent).await["snapshot"]["executionStatus"],
        "EXECUTING_WITH_WAITPOINTS"
    );
    let m = dequeue(&server, &worker, 1).await;
    let cst = start(&server, &m[0]).await;
    assert_eq!(cst["execution"]["run"]["parentTaskRunId"], parent.as_str());
    let csnap = cst["snapshot"]["friendlyId"].as_str().unwrap();
    let (s, c) = complete(&server, &child, csnap, json!({
        "ok": false, "id": child,
        "error": {"type": "BUILT_IN_ERROR", "name": "TypeError", "message": "bad n", "stackTrace": "at child"}
    })).await;
    assert_eq!(
        (s, c["result"]["attemptStatus"].as_str()),
        (200, Some("RUN_FINISHED")),
        "{c}"
    );
    let child_run = server.run(&child).await;
    assert_eq!(child_run["status"], "FAILED");
    assert_eq!(child_run["error"]["message"], "bad n", "{child_run}");
    let l = latest(&server, &parent).await;
    let cw = &l["completedWaitpoints"][0];
    assert_eq!(cw["type"], "RUN", "{l}");
    assert_eq!(cw["completedByTaskRun"]["friendlyId"], child.as_str());
    assert!(cw["completedByTaskRun"].get("batch").is_none());
    assert_eq!(cw["outputIsError"], true);
    let err: Value = serde_json::from_str(cw["output"].as_str().unwrap()).unwrap();
    assert_eq!(
        (
            err["type"].as_str(),
            err["name"].as_str(),
            err["message"].as_str()
        ),
        (Some("BUILT_IN_ERROR"), Some("TypeError"), Some("bad n"))
    );
}

#[tokio::test]
async fn retries_queue_again_and_a_cancel_ends_the_chain() {
    let server = TestServer::start_with_clock().await;
    let worker = register(&server, &default_project_ref(&server), "h1").await;
    let (id, st) = started(&server, &worker, "hello", json!({})).await;
    let snap = st["snapshot"]["friendlyId"].as_str().unwrap();
    let (s, c) = complete(&server, &id, snap, json!({
        "ok": false, "id": id, "error": {"type": "BUILT_IN_ERROR", "name": "Error", "message": "once", "stackTrace": ""},
        "retry": {"timestamp": 0, "delay": 1000}
    })).await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["result"]["attemptStatus"], "RETRY_QUEUED");
    assert_eq!(c["result"]["snapshot"]["executionStatus"], "QUEUED");
    assert_eq!(server.run(&id).await["status"], "QUEUED");
    server.advance(1_000).await;
    let m = dequeue(&server, &worker, 1).await;
    assert_eq!(m[0]["run"]["attemptNumber"], 2);
    let st2 = start(&server, &m[0]).await;
    assert_eq!(st2["execution"]["attempt"]["number"], 2);
    // The first attempt's snapshots no longer speak for the run.
    let (s, v) = cli(
        &server,
        "POST",
        &format!("/engine/v1/dev/runs/{id}/snapshots/{snap}/heartbeat"),
        None,
    )
    .await;
    assert_eq!(s, 409, "{v}");

    let (s, v) = server
        .post(&format!("/api/v2/runs/{id}/cancel"), json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    let l = latest(&server, &id).await;
    assert_eq!(l["snapshot"]["executionStatus"], "PENDING_CANCEL", "{l}");
    assert_eq!(l["run"]["status"], "CANCELED");
    // The CLI stops the task and reports the cancel: the run stays canceled.
    let snap2 = st2["snapshot"]["friendlyId"].as_str().unwrap();
    let (s, c) = complete(
        &server,
        &id,
        snap2,
        json!({
            "ok": false, "id": id, "error": {"type": "INTERNAL_ERROR", "code": "TASK_RUN_CANCELLED"}
        }),
    )
    .await;
    assert_eq!(
        (s, c["result"]["attemptStatus"].as_str()),
        (200, Some("RUN_FINISHED")),
        "{c}"
    );
    assert_eq!(
        c["result"]["snapshot"]["executionStatus"], "FINISHED",
        "{c}"
    );
    assert_eq!(
        latest(&server, &id).await["snapshot"]["executionStatus"],
        "FINISHED"
    );
    assert_eq!(server.run(&id).await["status"], "CANCELED");

    // A run that ran past its maxDuration in the task ends TIMED_OUT.
    let (id, st) = started(&server, &worker, "hello", json!({})).await;
    let snap = st["snapshot"]["friendlyId"].as_str().unwrap();
    let (s, c) = complete(&server, &id, snap, json!({
        "ok": false, "id": id, "error": {"type": "INTERNAL_ERROR", "code": "MAX_DURATION_EXCEEDED", "message": "ran too long"},
        "retry": {"timestamp": 0, "delay": 1000}
    })).await;
    assert_eq!(
        (s, c["result"]["attemptStatus"].as_str()),
        (200, Some("RUN_FINISHED")),
        "{c}"
    );
    assert_eq!(server.run(&id).await["status"], "TIMED_OUT");
}

#[tokio::test]
async fn a_cli_that_went_away_has_its_runs_canceled() {
    let server = TestServer::start().await;
    let worker = register(&server, &default_project_ref(&server), "h1").await;
    let (held, _) = started(&server, &worker, "hello", json!({})).await;
    let waiting = server
        .trigger("hello", json!({}), json!({"delay": "1h"}))
        .await;
    let (s, v) = server
        .post(
            "/engine/v1/dev/disconnect",
            json!({"runFriendlyIds": [held, waiting, "run_nope"]}),
        )
        .await;
    assert_eq!((s, &v), (200, &json!({"cancelled": 1})));
    let run = server.run(&held).await;
    assert_eq!(run["status"], "CANCELED");
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap()
            .contains("CLI exited"),
        "{run}"
    );
    assert_eq!(server.run(&waiting).await["status"], "DELAYED");
    let ids: Vec<String> = (0..501).map(|i| format!("run_{i}")).collect();
    let (s, v) = server
        .post("/engine/v1/dev/disconnect", json!({"runFriendlyIds": ids}))
        .await;
    assert_eq!(s, 400, "{v}");
}

#[tokio::test]
async fn bad_calls_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let worker = register(&server, &default_project_ref(&server), "h1").await;
    let (id, st) = started(&server, &worker, "hello", json!({})).await;
    let snap = st["snapshot"]["friendlyId"].as_str().unwrap();
    let (s, v) = cli(
        &server,
        "POST",
        &format!("/engine/v1/dev/runs/{id}/snapshots/snapshot_nope/attempts/start"),
        None,
    )
    .await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = complete(&server, &id, snap, json!({"ok": false, "id": id})).await;
    assert_eq!(s, 400, "a failure without its error: {v}");
    let (s, v) = cli(
        &server,
        "POST",
        &format!("/engine/v1/dev/runs/{id}/snapshots/{snap}/attempts/complete"),
        Some(json!({"completion": "x"})),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = server
        .post(
            &format!("/engine/v1/runs/{id}/wait/duration"),
            json!({"date": "tomorrow"}),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    let other = server.trigger("child", json!({}), json!({})).await;
    let (s, v) = server
        .post(
            &format!("/engine/v1/runs/{other}/wait/duration"),
            json!({"date": "2030-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(s, 409, "a run no CLI holds does not wait: {v}");
    let (s, v) = server
        .post(
            &format!("/engine/v1/runs/{id}/waitpoints/tokens/waitpoint_nope/wait"),
            json!({}),
        )
        .await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = server
        .get("/engine/v1/dev/runs/run_nope/snapshots/latest")
        .await;
    assert_eq!(s, 404, "{v}");
    let r = server
        .send(Req::new("GET", "/engine/v1/dev/config").no_key())
        .await;
    assert_eq!(r.status, 401);
    // The run is still the CLI's, executing.
    assert_eq!(
        latest(&server, &id).await["snapshot"]["executionStatus"],
        "EXECUTING"
    );
    assert_eq!(server.run(&id).await["status"], "EXECUTING");
}

/// One Socket.IO text packet from the server, skipping Engine.IO pings (answered).
async fn packet(ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>) -> String {
    loop {
        let m = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a packet in time")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = m {
            if t.as_str() == "2" {
                ws.send(Message::Text("3".into())).await.unwrap();
                continue;
            }
            return t.to_string();
        }
    }
}

#[tokio::test]
async fn socket_io_tells_the_cli_of_each_new_snapshot() {
    let server = TestServer::start().await;
    let worker = register(&server, &default_project_ref(&server), "h1").await;
    let (id, _) = started(&server, &worker, "hello", json!({})).await;

    let addr = server.base_url.strip_prefix("http://").unwrap().to_string();
    let mut req = server
        .url("/socket.io/?EIO=4&transport=websocket")
        .replace("http://", "ws://")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {DEV_KEY}").parse().unwrap(),
    );
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut ws, resp) = tokio_tungstenite::client_async(req, tcp)
        .await
        .expect("upgrade");
    assert_eq!(resp.status().as_u16(), 101);
    let open = packet(&mut ws).await;
    assert!(open.starts_with("0{"), "{open}");
    let open: Value = serde_json::from_str(&open[1..]).unwrap();
    assert!(open["pingInterval"].as_u64().unwrap() > 0);
    ws.send(Message::Text("40/dev-worker,".into()))
        .await
        .unwrap();
    assert!(packet(&mut ws).await.starts_with("40/dev-worker,{\"sid\""));
    let sub = json!(["run:subscribe", {"version": "1", "runFriendlyIds": [id]}]);
    ws.send(Message::Text(format!("42/dev-worker,{sub}").into()))
        .await
        .unwrap();

    // A snapshot of the run (a wait that starts) is pushed.
    let (_, token) = server.post("/api/v1/waitpoints/tokens", json!({})).await;
    let tid = token["id"].as_str().unwrap();
    // The subscription is read before the wait: the server answers a ping in between.
    ws.send(Message::Text("2".into())).await.unwrap();
    assert_eq!(packet(&mut ws).await, "3");
    let (s, _) = server
        .post(
            &format!("/engine/v1/runs/{id}/waitpoints/tokens/{tid}/wait"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    let notify = packet(&mut ws).await;
    let body: Value =
        serde_json::from_str(notify.strip_prefix("42/dev-worker,").expect("an event")).unwrap();
    assert_eq!(
        body,
        json!(["run:notify", {"version": "1", "run": {"friendlyId": id}}])
    );

    // Another namespace is refused; without a key there is no upgrade.
    ws.send(Message::Text("40/other,".into())).await.unwrap();
    assert!(packet(&mut ws).await.starts_with("44/other,"));
    let r = server
        .send(Req::new("GET", "/socket.io/?EIO=4&transport=websocket").no_key())
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn task_processes_export_logs_to_their_environment_endpoint() {
    let server = TestServer::start().await;
    let worker = register(&server, &default_project_ref(&server), "h1").await;
    let (id, st) = started(&server, &worker, "hello", json!({})).await;
    let endpoint = st["envVars"]["TRIGGER_OTEL_EXPORTER_OTLP_ENDPOINT"]
        .as_str()
        .unwrap()
        .to_string();
    let path = endpoint
        .strip_prefix(&server.base_url)
        .expect("the server's own URL")
        .to_string();
    // As the Trigger.dev SDK 4.x sends it: the run id in the record's `$metadata.ctx.run.id`.
    let export = json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "trigger.dev"}}]},
        "scopeLogs": [{"logRecords": [{"timeUnixNano": "1700000000000000000", "severityText": "INFO",
            "body": {"stringValue": "hello from typescript"},
            "attributes": [{"key": "$metadata.ctx.run.id", "value": {"stringValue": id}}]}]}]
    }]});
    let r = server
        .send(
            Req::new("POST", &format!("{path}/v1/logs"))
                .no_key()
                .json(&export),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (s, logs) = server.get(&format!("/api/v1/runs/{id}/logs")).await;
    assert_eq!(s, 200);
    assert!(logs.to_string().contains("hello from typescript"), "{logs}");
    for suffix in ["traces", "metrics"] {
        let r = server
            .send(
                Req::new("POST", &format!("{path}/v1/{suffix}"))
                    .no_key()
                    .json(&json!({})),
            )
            .await;
        assert_eq!(r.status, 200, "{suffix}: {}", r.text);
    }
    let (head, mac) = path.rsplit_once('.').unwrap();
    let forged = format!("{head}.{}", "0".repeat(mac.len()));
    let r = server
        .send(
            Req::new("POST", &format!("{forged}/v1/logs"))
                .no_key()
                .json(&export),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = server
        .send(
            Req::new("POST", "/otel/env/nothing/v1/logs")
                .no_key()
                .json(&export),
        )
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn a_batch_made_by_a_task_comes_back_item_by_item_once_all_ended() {
    let server = TestServer::start().await;
    let worker = register(&server, &default_project_ref(&server), "h1").await;
    let (parent, _) = started(&server, &worker, "hello", json!({})).await;
    let (s, b) = server
        .post("/api/v3/batches", json!({"runCount": 2, "taskIdentifiers": ["child"], "parentRunId": parent, "resumeParentOnCompletion": true}))
        .await;
    assert_eq!(s, 202, "{b}");
    let batch = b["id"].as_str().unwrap().to_string();
    assert_eq!(
        latest(&server, &parent).await["snapshot"]["executionStatus"],
        "EXECUTING_WITH_WAITPOINTS"
    );
    // The items come in two calls, the second first.
    for index in [1, 0] {
        let line = json!({"index": index, "task": "child", "payload": format!("{{\"n\":{index}}}"), "options": {"payloadType": "application/json"}});
        let r = server
            .send(
                Req::new("POST", &format!("/api/v3/batches/{batch}/items"))
                    .raw_body("application/x-ndjson", format!("{line}\n")),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let msgs = dequeue(&server, &worker, 2).await;
    let mut children = Vec::new();
    for m in &msgs {
        let st = start(&server, m).await;
        assert_eq!(st["execution"]["run"]["parentTaskRunId"], parent.as_str());
        children.push((
            m["run"]["friendlyId"].as_str().unwrap().to_string(),
            st["snapshot"]["friendlyId"].as_str().unwrap().to_string(),
        ));
    }
    let (first, snap) = &children[0];
    let (s, _) = complete(&server, first, snap, json!({"ok": true, "id": first, "output": "{\"done\":true}", "outputType": "application/json"})).await;
    assert_eq!(s, 200);
    assert_eq!(
        latest(&server, &parent).await["snapshot"]["executionStatus"],
        "EXECUTING_WITH_WAITPOINTS",
        "one of two ended"
    );
    let (second, snap) = &children[1];
    let (s, _) = complete(
        &server,
        second,
        snap,
        json!({"ok": false, "id": second, "error": {"type": "STRING_ERROR", "raw": "no"}}),
    )
    .await;
    assert_eq!(s, 200);
    let l = latest(&server, &parent).await;
    assert_eq!(l["snapshot"]["executionStatus"], "EXECUTING", "{l}");
    let got = l["completedWaitpoints"].as_array().unwrap();
    assert_eq!(got.len(), 2, "{l}");
    for (i, cw) in got.iter().enumerate() {
        assert_eq!(cw["type"], "RUN");
        assert_eq!(cw["index"], i as i64, "{l}");
        assert_eq!(
            cw["completedByTaskRun"]["batch"]["friendlyId"],
            batch.as_str()
        );
        let child = cw["completedByTaskRun"]["friendlyId"].as_str().unwrap();
        let ok = child == first;
        assert_eq!(cw["outputIsError"], !ok, "{cw}");
        if !ok {
            let err: Value = serde_json::from_str(cw["output"].as_str().unwrap()).unwrap();
            assert_eq!(
                (err["type"].as_str(), err["raw"].as_str()),
                (Some("STRING_ERROR"), Some("no"))
            );
        }
    }
    // A task that asks again for the batch (its idempotency key finds it) waits for it too: it
    // ended already, so the wait hands back every item at once.
    let (again, _) = started(&server, &worker, "hello", json!({})).await;
    let body = json!({"runCount": 2, "idempotencyKey": "k1", "parentRunId": again, "resumeParentOnCompletion": true});
    let (s, first_batch) = server
        .post(
            "/api/v3/batches",
            merge(body.clone(), json!({"parentRunId": parent})),
        )
        .await;
    assert_eq!(s, 202, "{first_batch}");
    let (s, found) = server.post("/api/v3/batches", body).await;
    assert_eq!(
        (s, found["isCached"].as_bool()),
        (200, Some(true)),
        "{found}"
    );
    assert_eq!(found["id"], first_batch["id"]);
    assert_eq!(
        latest(&server, &again).await["snapshot"]["executionStatus"],
        "EXECUTING_WITH_WAITPOINTS"
    );
    let k1 = found["id"].as_str().unwrap().to_string();
    let lines: String = (0..2)
        .map(|i| format!("{}\n", json!({"index": i, "task": "child", "payload": "{}", "options": {"payloadType": "application/json"}})))
        .collect();
    let r = server
        .send(
            Req::new("POST", &format!("/api/v3/batches/{k1}/items"))
                .raw_body("application/x-ndjson", lines),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for m in dequeue(&server, &worker, 2).await {
        let st = start(&server, &m).await;
        let child = m["run"]["friendlyId"].as_str().unwrap();
        let (s, _) = complete(
            &server,
            child,
            st["snapshot"]["friendlyId"].as_str().unwrap(),
            json!({"ok": true, "id": child, "outputType": "application/json"}),
        )
        .await;
        assert_eq!(s, 200);
    }
    for waiter in [&parent, &again] {
        let l = latest(&server, waiter).await;
        assert_eq!(l["snapshot"]["executionStatus"], "EXECUTING", "{l}");
        let got = l["completedWaitpoints"].as_array().unwrap();
        assert_eq!(got.len(), 2, "{l}");
        assert!(
            got.iter()
                .all(|cw| cw["completedByTaskRun"]["batch"]["friendlyId"] == k1.as_str()),
            "{l}"
        );
    }
    // Found once more after it ended: the wait is over at once.
    let (again2, _) = started(&server, &worker, "hello", json!({})).await;
    let (s, v) = server
        .post("/api/v3/batches", json!({"runCount": 2, "idempotencyKey": "k1", "parentRunId": again2, "resumeParentOnCompletion": true}))
        .await;
    assert_eq!((s, v["isCached"].as_bool()), (200, Some(true)), "{v}");
    let l = latest(&server, &again2).await;
    assert_eq!(l["snapshot"]["executionStatus"], "EXECUTING", "{l}");
    assert_eq!(l["completedWaitpoints"].as_array().unwrap().len(), 2, "{l}");
}

#[tokio::test]
async fn a_task_streams_reads_input_and_flushes_metadata_with_its_key_alone() {
    let server = TestServer::start().await;
    let worker = register(&server, &default_project_ref(&server), "h1").await;
    let (id, st) = started(&server, &worker, "hello", json!({})).await;

    // Output stream: the SDK sends no lease; the CLI worker's holds.
    let r = server
        .send(Req::new(
            "PUT",
            &format!("/realtime/v1/streams/{id}/self/words"),
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = server
        .send(
            Req::new("POST", &format!("/realtime/v1/streams/{id}/self/words"))
                .raw_body("application/json", "\"a\"\n\"b\"\n"),
        )
        .await;
    assert_eq!(
        (r.status, r.json["accepted"].as_i64()),
        (200, Some(2)),
        "{}",
        r.text
    );
    let other = server.trigger("child", json!({}), json!({})).await;
    let r = server
        .send(Req::new(
            "PUT",
            &format!("/realtime/v1/streams/{other}/self/words"),
        ))
        .await;
    assert_eq!(
        r.status, 400,
        "a run no worker holds needs a lease: {}",
        r.text
    );

    // inputStream.wait(): the wait, then a token wait on its waitpoint, then the message.
    let (s, w) = server
        .post(
            &format!("/api/v1/runs/{id}/input-streams/wait"),
            json!({"streamId": "approval", "timeout": "1h"}),
        )
        .await;
    assert_eq!(s, 200, "{w}");
    let wp = w["waitpointId"].as_str().unwrap().to_string();
    let (s, v) = server
        .post(
            &format!("/engine/v1/runs/{id}/waitpoints/tokens/{wp}/wait"),
            json!({}),
        )
        .await;
    assert_eq!((s, &v), (200, &json!({"success": true})));
    assert_eq!(
        latest(&server, &id).await["snapshot"]["executionStatus"],
        "EXECUTING_WITH_WAITPOINTS"
    );
    let (s, v) = server
        .post(
            &format!("/realtime/v1/streams/{id}/input/approval"),
            json!({"data": {"approved": true}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let cw = latest(&server, &id).await["completedWaitpoints"][0].clone();
    assert_eq!(
        (cw["type"].as_str(), cw["friendlyId"].as_str()),
        (Some("MANUAL"), Some(wp.as_str())),
        "{cw}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(cw["output"].as_str().unwrap()).unwrap(),
        json!({"approved": true})
    );
    // The next wait on the stream takes the next message.
    let (_, v) = server
        .post(
            &format!("/realtime/v1/streams/{id}/input/approval"),
            json!({"data": 2}),
        )
        .await;
    assert_eq!(v["ok"], true);
    let (_, w) = server
        .post(
            &format!("/api/v1/runs/{id}/input-streams/wait"),
            json!({"streamId": "approval"}),
        )
        .await;
    let cw = latest(&server, &id).await["completedWaitpoints"][0].clone();
    assert_eq!(cw["friendlyId"], w["waitpointId"]);
    assert_eq!(cw["output"], "2");
    let (s, v) = server
        .post(
            &format!("/api/v1/runs/{id}/input-streams/wait"),
            json!({"streamId": "a\u{1}"}),
        )
        .await;
    assert_eq!(s, 400, "{v}");

    // The metadata operations a completion flushes apply before the run ends.
    let (s, v) = server
        .call(
            "PUT",
            &format!("/api/v1/runs/{id}/metadata"),
            Some(json!({"metadata": {"n": 1}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let flushed = json!({"json": {"operations": [{"type": "increment", "key": "n", "value": 2}, {"type": "set", "key": "status", "value": "done"}], "parentOperations": [], "rootOperations": []}});
    let snap = st["snapshot"]["friendlyId"].as_str().unwrap();
    let (s, c) = complete(
        &server,
        &id,
        snap,
        json!({
            "ok": true, "id": id, "outputType": "application/json",
            "flushedMetadata": {"data": flushed.to_string(), "dataType": "application/super+json"}
        }),
    )
    .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(
        server.run(&id).await["metadata"],
        json!({"n": 3, "status": "done"})
    );
}

#[tokio::test]
async fn typescript_and_rust_tasks_wait_for_each_other() {
    let server = TestServer::start().await;
    let rust = server.deploy(json!([{"id": "rust-task"}])).await;
    assert!(
        server.dequeue(&rust, 1, 0).await.is_empty(),
        "a Rust worker is there"
    );
    let worker = register(&server, &default_project_ref(&server), "h1").await;

    // A TypeScript task waits for a Rust task.
    let (parent, st) = started(&server, &worker, "hello", json!({})).await;
    let (s, t) = server.post("/api/v1/tasks/rust-task/trigger", json!({
        "payload": "{\"n\":1}",
        "options": {"payloadType": "application/json", "parentRunId": parent, "resumeParentOnCompletion": true,
                    "lockToVersion": st["execution"]["run"]["version"]}
    })).await;
    assert_eq!(s, 200, "{t}");
    let runs = server.dequeue(&rust, 1, 5_000).await;
    assert_eq!(runs[0]["runId"], t["id"], "the Rust worker serves its task");
    assert_eq!(runs[0]["parentRunId"], parent.as_str());
    let (s, _) = server.complete_ok(&runs[0], json!({"from": "rust"})).await;
    assert_eq!(s, 200);
    let cw = latest(&server, &parent).await["completedWaitpoints"][0].clone();
    assert_eq!(
        (cw["type"].as_str(), cw["outputIsError"].as_bool()),
        (Some("RUN"), Some(false)),
        "{cw}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(cw["output"].as_str().unwrap()).unwrap(),
        json!({"from": "rust"})
    );

    // A Rust task waits for a TypeScript task.
    let id = server.trigger("rust-task", json!({}), json!({})).await;
    let run = server.dequeue(&rust, 1, 5_000).await.remove(0);
    assert_eq!(run["runId"], id.as_str());
    let (s, w) = server
        .post(
            &format!("/api/v1/worker/runs/{id}/waits"),
            json!({
                "lease": run["lease"], "position": 0, "name": "triggerAndWait", "suspend": false,
                "wait": {"type": "run", "task": "child", "payload": {"n": 2}}
            }),
        )
        .await;
    assert_eq!((s, w["status"].as_str()), (200, Some("WAITING")), "{w}");
    let m = dequeue(&server, &worker, 1).await;
    assert_eq!(m[0]["run"]["friendlyId"], w["runIds"][0]);
    let cst = start(&server, &m[0]).await;
    let child = m[0]["run"]["friendlyId"].as_str().unwrap();
    let (s, _) = complete(&server, child, cst["snapshot"]["friendlyId"].as_str().unwrap(), json!({
        "ok": true, "id": child, "output": "{\"json\":{\"doubled\":4}}", "outputType": "application/super+json"
    })).await;
    assert_eq!(s, 200);
    let lease = run["lease"].as_str().unwrap();
    let (s, w) = server
        .get(&format!(
            "/api/v1/worker/runs/{id}/waits/0?lease={lease}&waitMs=5000"
        ))
        .await;
    assert_eq!(s, 200, "{w}");
    assert_eq!(w["status"], "COMPLETED", "{w}");
    assert_eq!(w["output"]["ok"], true, "{w}");
    assert_eq!(w["output"]["output"], json!({"doubled": 4}), "{w}");
}

#[tokio::test]
async fn a_wait_longer_than_max_duration_keeps_its_run_while_the_cli_beats() {
    let server = TestServer::start_with_clock().await;
    let worker = register(&server, &default_project_ref(&server), "h1").await;
    // `hello` has a maxDuration of 300 s: the task's runtime counts its compute time.
    let (id, st) = started(&server, &worker, "hello", json!({})).await;
    let snap = st["snapshot"]["friendlyId"].as_str().unwrap().to_string();
    let now = server.advance(0).await["now"].as_str().unwrap().to_string();
    let due = trigr_types::duration::parse_date(&now).unwrap() + 600_000;
    let date = trigr_types::wire::Timestamp(due).to_string();
    let (s, _) = server
        .post(
            &format!("/engine/v1/runs/{id}/wait/duration"),
            json!({"date": date}),
        )
        .await;
    assert_eq!(s, 200);
    for _ in 0..10 {
        server.advance(60_000).await;
        let (s, v) = cli(
            &server,
            "POST",
            &format!("/engine/v1/dev/runs/{id}/snapshots/{snap}/heartbeat"),
            None,
        )
        .await;
        assert_eq!(s, 200, "the CLI still holds its run: {v}");
    }
    assert_eq!(server.run(&id).await["status"], "EXECUTING");
    let l = latest(&server, &id).await;
    assert_eq!(l["snapshot"]["executionStatus"], "EXECUTING", "{l}");
    assert_eq!(l["completedWaitpoints"][0]["type"], "DATETIME");

    // A CLI that stops beating loses the run: it is retried, and its chain says so.
    server.advance(100_000).await;
    let l = latest(&server, &id).await;
    assert_eq!(l["snapshot"]["executionStatus"], "QUEUED", "{l}");
    assert_eq!(server.run(&id).await["status"], "QUEUED");
}
