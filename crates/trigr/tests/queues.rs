//! Queues API: list, retrieve, pause/resume, concurrency override/reset, and their effect on
//! dequeue.

mod common;

use common::*;
use serde_json::{json, Value};

fn manifest() -> Value {
    json!([
        {"id": "x"},
        {"id": "y", "queue": {"name": "shared", "concurrencyLimit": 5}},
        {"id": "z", "queue": {"name": "shared", "concurrencyLimit": 5}},
        {"id": "w", "queue": {"name": "my/queue"}},
        {"id": "lim", "queue": {"name": "lim2", "concurrencyLimit": 2}}
    ])
}

async fn all_queues(server: &TestServer) -> Vec<Value> {
    let mut out = Vec::new();
    for page in 1..100 {
        let (s, v) = server
            .get(&format!("/api/v1/queues?page={page}&perPage=2"))
            .await;
        assert_eq!(s, 200, "{v}");
        out.extend(v["data"].as_array().expect("data").iter().cloned());
        let p = &v["pagination"];
        assert_eq!(p["currentPage"], json!(page), "{v}");
        if p["currentPage"].as_i64().unwrap() >= p["totalPages"].as_i64().unwrap() {
            assert_eq!(
                p["count"].as_u64().unwrap() as usize,
                out.len(),
                "count is the total: {v}"
            );
            return out;
        }
    }
    panic!("queue pages do not end");
}

fn find<'a>(qs: &'a [Value], ty: &str, name: &str) -> &'a Value {
    qs.iter()
        .find(|q| q["type"] == json!(ty) && q["name"] == json!(name))
        .unwrap_or_else(|| panic!("queue {ty}/{name} not listed in {qs:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_and_retrieve() {
    let server = TestServer::start().await;
    let version = server.deploy(manifest()).await;
    let qs = all_queues(&server).await;
    let x = find(&qs, "task", "x");
    assert!(x["id"].as_str().unwrap().starts_with("queue_"), "{x}");
    assert_eq!(x["paused"], json!(false));
    assert!(
        x.get("concurrencyLimit").is_some(),
        "concurrencyLimit key is required (may be null): {x}"
    );
    assert_eq!(x["concurrencyLimit"], Value::Null);
    let shared = find(&qs, "custom", "shared");
    assert_eq!(shared["concurrencyLimit"], json!(5));
    find(&qs, "custom", "my/queue");
    assert_eq!(find(&qs, "custom", "lim2")["concurrencyLimit"], json!(2));
    assert_eq!(
        qs.iter().filter(|q| q["name"] == json!("shared")).count(),
        1,
        "a queue shared by two tasks is listed once"
    );
    assert!(
        !qs.iter().any(|q| q["name"] == json!("task/x")),
        "task queues are named by task id"
    );

    // Counts.
    server.trigger("x", json!({}), json!({})).await;
    server.trigger("x", json!({}), json!({})).await;
    server.trigger("x", json!({}), json!({})).await;
    let got = server.dequeue(&version, 1, 0).await;
    assert_eq!(got.len(), 1);

    let (s, v) = server.get("/api/v1/queues/x?type=task").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["name"], json!("x"));
    assert_eq!(v["type"], json!("task"));
    assert_eq!(v["queued"], json!(2), "{v}");
    assert_eq!(v["running"], json!(1), "{v}");
    let id = v["id"].as_str().unwrap().to_string();

    // The same queue by id, and by task name with a task/ prefix (double-encoded slash).
    let (s, v) = server.get(&format!("/api/v1/queues/{id}?type=id")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["name"], json!("x"));
    let (s, v) = server.get("/api/v1/queues/task%252Fx?type=task").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], json!(id));

    let (s, v) = server.get("/api/v1/queues/shared?type=custom").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["type"], json!("custom"));
    assert_eq!(v["concurrencyLimit"], json!(5));

    let (s, v) = server.get("/api/v1/queues/my%252Fqueue?type=custom").await;
    assert_eq!(s, 200, "double-encoded name: {v}");
    assert_eq!(v["name"], json!("my/queue"));

    let (s, v) = server.get("/api/v1/queues/nope?type=custom").await;
    assert_error(s, &v, &[404], &[], "unknown queue");
    let (s, v) = server.get("/api/v1/queues/nope?type=task").await;
    assert_error(s, &v, &[404], &[], "unknown task queue");

    // Other environments do not see these queues.
    let (s, v) = server
        .get_as(PROD_KEY, "/api/v1/queues/shared?type=custom")
        .await;
    assert_error(s, &v, &[404], &[], "queue of another environment");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pause_stops_dequeue_until_resume() {
    let server = TestServer::start().await;
    let version = server.deploy(manifest()).await;

    let (s, v) = server
        .post(
            "/api/v1/queues/x/pause",
            json!({"type": "task", "action": "pause"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["paused"], json!(true));
    assert_eq!(v["name"], json!("x"));

    // Triggers into a paused queue are accepted and wait.
    let paused_run = server.trigger("x", json!({}), json!({})).await;
    assert_eq!(server.status(&paused_run).await, "QUEUED");
    assert!(
        server.dequeue(&version, 10, 0).await.is_empty(),
        "paused queue hands out nothing"
    );

    // Other queues are not affected.
    let other = server.trigger("y", json!({}), json!({})).await;
    let got = server.dequeue(&version, 10, 0).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["runId"], json!(other));

    let (s, v) = server.get("/api/v1/queues/x?type=task").await;
    assert_eq!(
        (s, v["paused"].clone(), v["queued"].clone()),
        (200, json!(true), json!(1)),
        "{v}"
    );

    let (s, v) = server
        .post(
            "/api/v1/queues/x/pause",
            json!({"type": "task", "action": "resume"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["paused"], json!(false));
    let got = server.dequeue(&version, 10, 0).await;
    assert_eq!(got.len(), 1, "resumed queue hands out its run");
    assert_eq!(got[0]["runId"], json!(paused_run));

    // Pause a custom queue with a slash in its name, addressed double-encoded.
    let (s, v) = server
        .post(
            "/api/v1/queues/my%252Fqueue/pause",
            json!({"type": "custom", "action": "pause"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["paused"], json!(true));
    assert_eq!(v["name"], json!("my/queue"));
    server.trigger("w", json!({}), json!({})).await;
    assert!(server.dequeue(&version, 10, 0).await.is_empty());

    // A long-poll waiting on a paused queue is woken by resume.
    let waiter = {
        let http = server.http.clone();
        let base = server.base_url.clone();
        let version = version.clone();
        tokio::spawn(async move {
            let start = std::time::Instant::now();
            let r = send_to(
                &http,
                &base,
                Req::new("POST", "/api/v1/worker/dequeue")
                    .json(&json!({"version": version, "maxRuns": 1, "waitMs": 5000})),
            )
            .await;
            (r, start.elapsed())
        })
    };
    let (s, v) = server
        .post(
            "/api/v1/queues/my%252Fqueue/pause",
            json!({"type": "custom", "action": "resume"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (r, _elapsed) = waiter.await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["runs"].as_array().unwrap().len(),
        1,
        "resumed run handed to the waiting dequeue"
    );

    // Unknown queue → 404.
    let (s, v) = server
        .post(
            "/api/v1/queues/nope/pause",
            json!({"type": "custom", "action": "pause"}),
        )
        .await;
    assert_error(s, &v, &[404], &[], "pause an unknown queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrency_override_and_reset() {
    let server = TestServer::start().await;
    let version = server.deploy(manifest()).await;
    for _ in 0..6 {
        server.trigger("lim", json!({}), json!({})).await;
    }

    let (s, v) = server
        .post(
            "/api/v1/queues/lim2/concurrency/override",
            json!({"type": "custom", "concurrencyLimit": 1}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["concurrencyLimit"], json!(1));
    assert_eq!(v["concurrency"]["override"], json!(1), "{v}");
    assert_eq!(v["concurrency"]["base"], json!(2), "{v}");

    let got = server.dequeue(&version, 10, 0).await;
    assert_eq!(got.len(), 1, "override 1 → one run at a time");
    assert!(server.dequeue(&version, 10, 0).await.is_empty());
    assert_eq!(server.complete_ok(&got[0], json!(null)).await.0, 200);
    let got = server.dequeue(&version, 10, 0).await;
    assert_eq!(got.len(), 1, "slot freed by completion");
    assert_eq!(server.complete_ok(&got[0], json!(null)).await.0, 200);

    // 0 stops the queue.
    let (s, v) = server
        .post(
            "/api/v1/queues/lim2/concurrency/override",
            json!({"type": "custom", "concurrencyLimit": 0}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["concurrencyLimit"], json!(0));
    assert!(
        server.dequeue(&version, 10, 0).await.is_empty(),
        "limit 0 hands out nothing"
    );

    let (s, v) = server
        .post(
            "/api/v1/queues/lim2/concurrency/reset",
            json!({"type": "custom"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["concurrencyLimit"], json!(2));
    assert!(
        v["concurrency"]["override"].is_null(),
        "override cleared: {v}"
    );
    let got = server.dequeue(&version, 10, 0).await;
    assert_eq!(got.len(), 2, "base limit 2 restored");
    assert!(server.dequeue(&version, 10, 0).await.is_empty());

    // A task queue without a limit can get one.
    for _ in 0..3 {
        server.trigger("x", json!({}), json!({})).await;
    }
    let (s, v) = server
        .post(
            "/api/v1/queues/x/concurrency/override",
            json!({"type": "task", "concurrencyLimit": 2}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["concurrencyLimit"], json!(2));
    let got = server.dequeue(&version, 10, 0).await;
    assert_eq!(
        got.iter()
            .filter(|r| r["taskIdentifier"] == json!("x"))
            .count(),
        2
    );
    let (s, v) = server
        .post(
            "/api/v1/queues/x/concurrency/reset",
            json!({"type": "task"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["concurrencyLimit"], Value::Null);
    assert_eq!(server.dequeue(&version, 10, 0).await.len(), 1);

    // Bad values.
    let (s, v) = server
        .post(
            "/api/v1/queues/lim2/concurrency/override",
            json!({"type": "custom", "concurrencyLimit": -1}),
        )
        .await;
    assert_error(
        s,
        &v,
        &[400],
        &["concurrencyLimit", "limit"],
        "negative override",
    );
    let (s, v) = server
        .post(
            "/api/v1/queues/lim2/concurrency/override",
            json!({"type": "custom", "concurrencyLimit": 5000}),
        )
        .await;
    assert_error(
        s,
        &v,
        &[400],
        &["limit"],
        "override above the environment limit",
    );
    let (s, v) = server
        .post(
            "/api/v1/queues/nope/concurrency/override",
            json!({"type": "custom", "concurrencyLimit": 1}),
        )
        .await;
    assert_error(s, &v, &[404], &[], "override of an unknown queue");
    let (s, v) = server.get("/api/v1/queues/lim2?type=custom").await;
    assert_eq!(
        (s, v["concurrencyLimit"].clone()),
        (200, json!(2)),
        "failed overrides change nothing: {v}"
    );
}
