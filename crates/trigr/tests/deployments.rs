//! Deployments and versions: the deployments endpoints (list, current, promote, rollback) with
//! worker presence, why a run waits (`waitingFor` on run retrieve), and the version of each
//! batch item.

mod common;

use common::*;
use serde_json::{json, Value};

/// `waitingFor` of a run: (reason, message); panics when it is absent.
async fn waiting(server: &TestServer, id: &str) -> (String, String) {
    waiting_as(server, DEV_KEY, id).await
}

async fn waiting_as(server: &TestServer, key: &str, id: &str) -> (String, String) {
    let run = server.run_as(key, id).await;
    let w = &run["waitingFor"];
    let reason = w["reason"]
        .as_str()
        .unwrap_or_else(|| panic!("no waitingFor on {run}"));
    let message = w["message"].as_str().expect("message");
    (reason.to_string(), message.to_string())
}

/// Asserts the run has no `waitingFor`.
async fn not_waiting(server: &TestServer, id: &str) {
    let run = server.run(id).await;
    assert!(
        run.get("waitingFor").is_none_or(Value::is_null),
        "unexpected waitingFor: {run}"
    );
}

/// `GET /api/v1/deployments`: the items by version.
async fn deployments(server: &TestServer, key: &str) -> Vec<Value> {
    let (s, v) = server.get_as(key, "/api/v1/deployments").await;
    assert_eq!(s, 200, "{v}");
    v["data"].as_array().expect("data").clone()
}

fn item<'a>(list: &'a [Value], version: &str) -> &'a Value {
    list.iter()
        .find(|d| d["version"] == json!(version))
        .unwrap_or_else(|| panic!("{version} not listed in {list:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_current_promote_and_rollback() {
    let server = TestServer::start_with_clock().await;

    // Nothing deployed: no current deployment, nothing to roll back.
    let (s, v) = server.get("/api/v1/deployments/current").await;
    assert_error(s, &v, &[404], &["no deployment is current"], "current");
    let (s, v) = server.post("/api/v1/deployments/rollback", json!({})).await;
    assert_error(s, &v, &[422], &["no deployment is current"], "rollback");

    // Ten versions of one day (dev promotes each): 9 must come before 10, as numbers.
    let mut versions = Vec::new();
    for _ in 0..10 {
        versions.push(server.deploy(tasks(&["hello"])).await);
    }
    let registered_at = server.now_ms().await;
    let (v9, v10) = (versions[8].clone(), versions[9].clone());
    assert!(v10.ends_with(".10"), "{v10}");

    let list = deployments(&server, DEV_KEY).await;
    assert_eq!(list.len(), 10);
    assert_eq!(list[0]["version"], json!(v10), "newest first");
    assert_eq!(list[0]["current"], json!(true));
    assert_eq!(list[0]["hasWorkers"], json!(true), "{}", list[0]);
    assert_eq!(
        parse_ms(&list[0]["workerLastSeenAt"]),
        registered_at,
        "registering counts as a worker asking for runs"
    );
    assert_eq!(item(&list, &v9)["current"], json!(false));

    assert_eq!(
        list[0]["liveWorkers"],
        json!(0),
        "registered, but no worker asked yet"
    );

    // Two workers ask for runs of v10 (a worker is known by the id its dequeue names).
    for worker in ["host-a:1", "host-b:2", "host-a:1"] {
        let body = json!({"version": v10, "maxRuns": 1, "workerId": worker});
        let (s, v) = server.post("/api/v1/worker/dequeue", body).await;
        assert_eq!(s, 200, "{v}");
    }
    let (s, current) = server.get("/api/v1/deployments/current").await;
    assert_eq!(s, 200, "{current}");
    assert_eq!(current["version"], json!(v10));
    assert_eq!(current["hasWorkers"], json!(true));
    assert_eq!(current["liveWorkers"], json!(2), "{current}");

    // Rollback: the newest version before the current one.
    let (s, rolled) = server.post("/api/v1/deployments/rollback", json!({})).await;
    assert_eq!(s, 200, "{rolled}");
    assert_eq!(rolled["version"], json!(v9), "{rolled}");
    assert_eq!(rolled["current"], json!(true), "{rolled}");
    assert_eq!(rolled["rolledBackFrom"], json!(v10), "{rolled}");
    let (_, current) = server.get("/api/v1/deployments/current").await;
    assert_eq!(current["version"], json!(v9));
    let list = deployments(&server, DEV_KEY).await;
    assert_eq!(item(&list, &v9)["current"], json!(true));
    assert_eq!(item(&list, &v10)["current"], json!(false));

    // A trigger now locks to the rolled-back-to version.
    let id = server.trigger("hello", json!({}), json!({})).await;
    assert_eq!(server.run(&id).await["version"], json!(v9));

    // Promote a version again.
    let (s, promoted) = server
        .post(&format!("/api/v1/deployments/{v10}/promote"), json!({}))
        .await;
    assert_eq!(s, 200, "{promoted}");
    assert_eq!(promoted["version"], json!(v10));
    assert_eq!(promoted["current"], json!(true));
    assert!(promoted["hasWorkers"].is_boolean(), "{promoted}");
    let (s, v) = server
        .post("/api/v1/deployments/20000101.1/promote", json!({}))
        .await;
    assert_error(s, &v, &[404], &["20000101.1"], "promote unknown");

    // Thirty seconds later nobody asked for runs: no version has workers any more.
    server.advance(30_001).await;
    let list = deployments(&server, DEV_KEY).await;
    for d in &list {
        assert_eq!(d["hasWorkers"], json!(false), "{d}");
        assert_eq!(parse_ms(&d["workerLastSeenAt"]), registered_at, "{d}");
    }
    // A dequeue of one version brings that version's workers back.
    server.dequeue(&v9, 1, 0).await;
    let list = deployments(&server, DEV_KEY).await;
    assert_eq!(item(&list, &v9)["hasWorkers"], json!(true));
    assert_eq!(
        parse_ms(&item(&list, &v9)["workerLastSeenAt"]),
        registered_at + 30_001
    );
    assert_eq!(item(&list, &v10)["hasWorkers"], json!(false));

    // Back to the oldest version: nothing is older.
    let first = versions[0].clone();
    let (s, v) = server
        .post(&format!("/api/v1/deployments/{first}/promote"), json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = server.post("/api/v1/deployments/rollback", json!({})).await;
    assert_error(s, &v, &[422], &["nothing to roll back", &first], "rollback");
    let (_, current) = server.get("/api/v1/deployments/current").await;
    assert_eq!(
        current["version"],
        json!(first),
        "a refused rollback changes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_in_staging_needs_a_current_version() {
    let server = TestServer::start().await;
    let v1 = server
        .deploy_as(STAGING_KEY, tasks(&["hello"]), false)
        .await;
    let v2 = server
        .deploy_as(STAGING_KEY, tasks(&["hello"]), false)
        .await;
    let (s, v) = server
        .post_as(STAGING_KEY, "/api/v1/deployments/rollback", json!({}))
        .await;
    assert_error(s, &v, &[422], &["no deployment is current"], "rollback");

    let (s, v) = server
        .post_as(
            STAGING_KEY,
            &format!("/api/v1/deployments/{v2}/promote"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = server
        .post_as(STAGING_KEY, "/api/v1/deployments/rollback", json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (&v["version"], &v["rolledBackFrom"]),
        (&json!(v1), &json!(v2))
    );
    // Other environments are untouched.
    assert!(deployments(&server, DEV_KEY).await.is_empty());
    let (s, _) = server.get("/api/v1/deployments/current").await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_version_names_the_task_until_a_deployment_declares_it() {
    let server = TestServer::start_with_clock().await;
    let id = server.trigger("emails", json!({}), json!({})).await;
    assert_eq!(server.status(&id).await, "PENDING_VERSION");
    let (reason, message) = waiting(&server, &id).await;
    assert_eq!(reason, "PENDING_VERSION");
    assert!(message.contains("'emails'"), "{message}");
    assert!(message.contains("no version is current"), "{message}");

    // A deployment without the task does not help; the message names the current version.
    let v1 = server.deploy(tasks(&["other"])).await;
    let (reason, message) = waiting(&server, &id).await;
    assert_eq!(reason, "PENDING_VERSION");
    assert!(message.contains(&v1), "{message}");

    let v2 = server.deploy(tasks(&["emails"])).await;
    assert_eq!(server.run(&id).await["version"], json!(v2));
    let (reason, message) = waiting(&server, &id).await;
    assert_eq!(reason, "QUEUED", "{message}");
    assert!(message.contains(&v2), "{message}");

    let got = server.dequeue(&v2, 1, 0).await;
    assert_eq!(got.len(), 1);
    not_waiting(&server, &id).await;
    let (s, v) = server.complete_ok(&got[0], json!(1)).await;
    assert_eq!(s, 200, "{v}");
    not_waiting(&server, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_worker_until_a_worker_of_the_version_dequeues() {
    let server = TestServer::start_with_clock().await;
    let v1 = server.deploy(tasks(&["work"])).await;
    let v2 = server.deploy(tasks(&["work"])).await;
    let seen_at = server.now_ms().await;
    let lock = json!({"lockToVersion": v1});
    let a = server.trigger("work", json!({}), lock.clone()).await;
    let b = server.trigger("work", json!({}), lock).await;
    assert_eq!(server.run(&a).await["version"], json!(v1));
    let (reason, _) = waiting(&server, &a).await;
    assert_eq!(reason, "QUEUED", "the registration was just now");

    server.advance(31_000).await;
    let (reason, message) = waiting(&server, &a).await;
    assert_eq!(reason, "NO_WORKER", "{message}");
    assert!(message.contains(&format!("version {v1}")), "{message}");
    assert!(message.contains(&iso(seen_at)), "when last seen: {message}");
    assert!(message.contains("31 s ago"), "{message}");
    assert!(
        message.contains(&format!("current version is {v2}")),
        "{message}"
    );

    // A worker of another version does not help.
    assert!(server.dequeue(&v2, 1, 0).await.is_empty());
    assert_eq!(waiting(&server, &a).await.0, "NO_WORKER");

    // A worker of the version takes one run; the other one is simply queued now.
    let got = server.dequeue(&v1, 1, 0).await;
    assert_eq!(got.len(), 1);
    let (taken, left) = if got[0]["runId"] == json!(a) {
        (a, b)
    } else {
        (b, a)
    };
    not_waiting(&server, &taken).await;
    let (reason, message) = waiting(&server, &left).await;
    assert_eq!(reason, "QUEUED", "{message}");

    // Frequent dequeues are recorded at most every few seconds, never later than asked.
    server.advance(2_000).await;
    server.dequeue(&v1, 1, 0).await;
    let list = deployments(&server, DEV_KEY).await;
    let seen = parse_ms(&item(&list, &v1)["workerLastSeenAt"]);
    assert_eq!(seen, seen_at + 31_000, "throttled: {list:?}");
    assert_eq!(item(&list, &v1)["hasWorkers"], json!(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_queue_and_concurrency_limits() {
    let server = TestServer::start_with(Options {
        test_clock: true,
        args: vec!["--env-concurrency-limit".into(), "2".into()],
        ..Default::default()
    })
    .await;
    let version = server
        .deploy(json!([
            {"id": "one", "queue": {"name": "single", "concurrencyLimit": 1}},
            {"id": "free"}
        ]))
        .await;

    // A paused queue.
    let id = server.trigger("free", json!({}), json!({})).await;
    let (s, v) = server
        .post(
            "/api/v1/queues/free/pause",
            json!({"type": "task", "action": "pause"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (reason, message) = waiting(&server, &id).await;
    assert_eq!(reason, "QUEUE_PAUSED", "{message}");
    assert!(message.contains("'task/free'"), "{message}");
    let (s, v) = server
        .post(
            "/api/v1/queues/free/pause",
            json!({"type": "task", "action": "resume"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(waiting(&server, &id).await.0, "QUEUED");
    server.cancel(&id).await;
    not_waiting(&server, &id).await;

    // The queue's limit: one running of one.
    let a = server.trigger("one", json!({}), json!({})).await;
    let b = server.trigger("one", json!({}), json!({})).await;
    let got = server.dequeue(&version, 5, 0).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["runId"], json!(a));
    let (reason, message) = waiting(&server, &b).await;
    assert_eq!(reason, "CONCURRENCY_LIMIT", "{message}");
    assert!(message.contains("Queue 'single'"), "{message}");
    assert!(message.contains("1 of 1 running"), "{message}");

    // Per concurrency key: another key has room.
    let k1 = server
        .trigger("one", json!({}), json!({"concurrencyKey": "k1"}))
        .await;
    assert_eq!(waiting(&server, &k1).await.0, "QUEUED");

    // The environment's limit (2): one more run fills it.
    let (s, v) = server.complete_ok(&got[0], json!(null)).await;
    assert_eq!(s, 200, "{v}");
    let got = server.dequeue(&version, 5, 0).await;
    assert_eq!(got.len(), 2, "b and k1: {got:?}");
    let c = server.trigger("free", json!({}), json!({})).await;
    let (reason, message) = waiting(&server, &c).await;
    assert_eq!(reason, "CONCURRENCY_LIMIT", "{message}");
    assert!(message.contains("environment"), "{message}");
    assert!(message.contains("2 of 2 running"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_retrying_and_waiting_runs() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["later"])).await;

    let id = server
        .trigger("later", json!({}), json!({"delay": "10m"}))
        .await;
    let run = server.run(&id).await;
    assert_eq!(run["status"], json!("DELAYED"));
    let (reason, message) = waiting(&server, &id).await;
    assert_eq!(reason, "DELAYED");
    let until = run["delayedUntil"].as_str().expect("delayedUntil");
    assert!(message.contains(until), "{message} names {until}");

    // A failed attempt waits for its retry.
    let other = server.trigger("later", json!({}), json!({})).await;
    let got = server.dequeue(&version, 1, 0).await;
    assert_eq!(got[0]["runId"], json!(other));
    let (s, v) = server.complete_err(&got[0], "boom").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(server.status(&other).await, "QUEUED");
    let (reason, message) = waiting(&server, &other).await;
    assert_eq!(reason, "DELAYED", "{message}");
    assert!(message.contains("Attempt 1 failed"), "{message}");
    // The backoff is at most 2 s; the worker was seen 5 s ago.
    server.advance(5_000).await;
    assert_eq!(waiting(&server, &other).await.0, "QUEUED");

    // A run suspended on a wait token.
    let got = server.dequeue(&version, 1, 0).await;
    assert_eq!(got[0]["runId"], json!(other));
    let (s, token) = server.post("/api/v1/waitpoints/tokens", json!({})).await;
    assert_eq!(s, 200, "{token}");
    let token_id = token["id"].as_str().unwrap();
    let (s, v) = server
        .post(
            &format!("/api/v1/worker/runs/{other}/waits"),
            json!({"lease": got[0]["lease"], "position": 0, "name": "approval",
                   "suspend": true, "wait": {"type": "token", "tokenId": token_id}}),
        )
        .await;
    assert_eq!((s, &v["status"]), (200, &json!("WAITING")), "{v}");
    let (reason, message) = waiting(&server, &other).await;
    assert_eq!(reason, "WAITING");
    assert!(message.contains(token_id), "{message}");
}

/// `POST /api/v3/batches` and its items with the staging key.
async fn staging_batch(server: &TestServer, lines: &[Value]) -> (String, Value) {
    let r = server
        .send(
            Req::new("POST", "/api/v3/batches")
                .key(STAGING_KEY)
                .json(&json!({"runCount": lines.len()})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_string();
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let r = server
        .send(
            Req::new("POST", &format!("/api/v3/batches/{id}/items"))
                .key(STAGING_KEY)
                .raw_body("application/x-ndjson", body),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    (id, r.json)
}

async fn staging_batch_items(server: &TestServer, id: &str) -> Value {
    let (s, v) = server
        .get_as(STAGING_KEY, &format!("/api/v2/batches/{id}"))
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_items_report_their_versions() {
    let server = TestServer::start().await;
    let v1 = server.deploy_as(STAGING_KEY, tasks(&["work"]), false).await;
    let v2 = server.deploy_as(STAGING_KEY, tasks(&["work"]), false).await;
    // No version is current yet: items name versions, or wait for one.
    let (id, answer) = staging_batch(
        &server,
        &[
            json!({"index": 0, "task": "work", "options": {"lockToVersion": v1}}),
            json!({"index": 1, "task": "work", "options": {"version": v2}}),
            json!({"index": 2, "task": "work"}),
        ],
    )
    .await;
    let items = answer["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 3, "{answer}");
    for (i, want) in [json!(v1), json!(v2), Value::Null].iter().enumerate() {
        assert_eq!(items[i]["index"], json!(i), "{answer}");
        assert_eq!(&items[i]["version"], want, "{answer}");
    }

    let batch = staging_batch_items(&server, &id).await;
    let runs = batch["runs"].as_array().expect("runs").clone();
    assert_eq!(batch["items"], json!(items), "{batch}");
    let run_ids: Vec<Value> = items.iter().map(|it| it["runId"].clone()).collect();
    assert_eq!(runs, run_ids, "items follow the runs: {batch}");
    let (reason, message) = waiting_as(&server, STAGING_KEY, runs[2].as_str().unwrap()).await;
    assert_eq!(reason, "PENDING_VERSION", "{message}");

    // Promoting v1 locks the waiting item to it; the others keep their versions.
    let (s, v) = server
        .post_as(
            STAGING_KEY,
            &format!("/api/v1/deployments/{v1}/promote"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let batch = staging_batch_items(&server, &id).await;
    let versions: Vec<&Value> = batch["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|it| &it["version"])
        .collect();
    assert_eq!(versions, [&json!(v1), &json!(v2), &json!(v1)], "{batch}");

    // Items sent again are deduplicated and carry no runs in the answer.
    let r = server
        .send(
            Req::new("POST", &format!("/api/v3/batches/{id}/items"))
                .key(STAGING_KEY)
                .raw_body(
                    "application/x-ndjson",
                    format!("{}\n", json!({"index": 0, "task": "work"})),
                ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["itemsDeduplicated"], json!(1), "{}", r.text);
    assert_eq!(r.json["items"], json!([]), "{}", r.text);
}
