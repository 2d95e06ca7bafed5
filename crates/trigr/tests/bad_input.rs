//! Bad input: every case gets the right 4xx with `{"error": "…"}` naming the problem, never a
//! 500, and leaves nothing half-written.

mod common;

use common::*;
use serde_json::{json, Value};

const WRONG_KEY: &str = "tr_dev_wrongwrongwrongwrong0001";

fn trig(payload: &str, options: Value) -> Value {
    json!({"payload": payload, "options": merge(json!({"payloadType": "application/json"}), options)})
}

async fn trigger_body(server: &TestServer, task: &str, body: Value) -> Resp {
    server.trigger_raw(task, body).await
}

/// Sorted ids of every run of the dev environment.
async fn snapshot(server: &TestServer) -> Vec<String> {
    let mut v = server.list_ids("").await;
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn authentication_errors() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let before = snapshot(&server).await;

    for (method, path) in [
        ("GET", "/api/v1/runs".to_string()),
        ("GET", format!("/api/v3/runs/{id}")),
        ("POST", "/api/v1/tasks/t/trigger".to_string()),
        ("POST", format!("/api/v2/runs/{id}/cancel")),
        ("GET", "/api/v1/queues".to_string()),
        ("POST", "/api/v1/worker/dequeue".to_string()),
        ("POST", "/api/v1/worker/deployments".to_string()),
    ] {
        let body = if method == "POST" {
            Some(trig("{}", json!({})))
        } else {
            None
        };
        let mk = |r: Req| match &body {
            Some(b) => r.json(b),
            None => r,
        };
        let r = server.send(mk(Req::new(method, &path).no_key())).await;
        assert_error(
            r.status,
            &r.json,
            &[401],
            &[],
            &format!("{method} {path} without a key"),
        );
        let r = server
            .send(mk(Req::new(method, &path).key(WRONG_KEY)))
            .await;
        assert_error(
            r.status,
            &r.json,
            &[401],
            &[],
            &format!("{method} {path} with an unknown key"),
        );
        let r = server
            .send(mk(Req::new(method, &path).key("not-a-key")))
            .await;
        assert_error(
            r.status,
            &r.json,
            &[401],
            &[],
            &format!("{method} {path} with a malformed key"),
        );
    }
    // Basic instead of Bearer.
    let r = server
        .send(
            Req::new("GET", "/api/v1/runs")
                .no_key()
                .header("authorization", &format!("Basic {DEV_KEY}")),
        )
        .await;
    assert_error(r.status, &r.json, &[401], &[], "Basic auth");
    assert_eq!(snapshot(&server).await, before);
    assert_eq!(
        server.status(&id).await,
        "QUEUED",
        "unauthenticated cancel did nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn other_environments_data_is_404() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = server
        .trigger("t", json!({}), json!({"tags": ["dev-only"]}))
        .await;

    let r = server
        .send(Req::new("GET", &format!("/api/v3/runs/{id}")).key(PROD_KEY))
        .await;
    assert_error(r.status, &r.json, &[404], &[], "dev run with the prod key");
    assert_eq!(
        r.header("x-should-retry").as_deref(),
        Some("false"),
        "404 carries x-should-retry: false"
    );
    let r = server
        .send(
            Req::new("POST", &format!("/api/v2/runs/{id}/cancel"))
                .key(PROD_KEY)
                .content_type("application/json"),
        )
        .await;
    assert_error(
        r.status,
        &r.json,
        &[404],
        &[],
        "cancel a dev run with the prod key",
    );
    let r = server
        .send(
            Req::new("POST", &format!("/api/v1/runs/{id}/replay"))
                .key(STAGING_KEY)
                .content_type("application/json"),
        )
        .await;
    assert_error(
        r.status,
        &r.json,
        &[404],
        &[],
        "replay a dev run with the staging key",
    );
    let r = server
        .send(
            Req::new("POST", &format!("/api/v1/runs/{id}/tags"))
                .key(PROD_KEY)
                .json(&json!({"tags": ["x"]})),
        )
        .await;
    assert_error(
        r.status,
        &r.json,
        &[404],
        &[],
        "tag a dev run with the prod key",
    );
    let r = server
        .send(Req::new("GET", &format!("/api/v1/runs/{id}/metadata")).key(PROD_KEY))
        .await;
    assert_error(
        r.status,
        &r.json,
        &[404],
        &[],
        "metadata of a dev run with the prod key",
    );
    assert_eq!(server.list_all_as(PROD_KEY, "").await.len(), 0);

    // A dev worker's lease used with the prod key.
    let got = server.dequeue(&version, 1, 0).await;
    let (s, v) = server
        .post_as(
            PROD_KEY,
            &format!("/api/v1/worker/runs/{id}/complete"),
            json!({"lease": got[0]["lease"], "ok": true}),
        )
        .await;
    assert_error(s, &v, &[404], &[], "complete a dev run with the prod key");

    let run = server.run(&id).await;
    assert_eq!(run["status"], json!("DEQUEUED"));
    assert_eq!(run["tags"], json!(["dev-only"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_trigger_bodies() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let before = snapshot(&server).await;

    let r = server
        .send(
            Req::new("POST", "/api/v1/tasks/t/trigger")
                .raw_body("application/json", "{\"payload\": "),
        )
        .await;
    assert_error(r.status, &r.json, &[400], &[], "truncated JSON");
    let r = server
        .send(Req::new("POST", "/api/v1/tasks/t/trigger").raw_body("application/json", "[1,2]"))
        .await;
    assert_error(r.status, &r.json, &[400], &[], "array body");
    let r = trigger_body(&server, "t", json!({"payload": "{}", "options": 5})).await;
    assert_error(
        r.status,
        &r.json,
        &[400],
        &["options"],
        "options not an object",
    );
    let r = trigger_body(&server, "t", trig("{}", json!({"tags": [1, 2]}))).await;
    assert_error(r.status, &r.json, &[400, 422], &["tags"], "numeric tags");
    let r = trigger_body(&server, "t", trig("{}", json!({"queue": 5}))).await;
    assert_error(r.status, &r.json, &[400], &["queue"], "queue not an object");
    let r = trigger_body(&server, "t", trig("{}", json!({"maxAttempts": "three"}))).await;
    assert_error(
        r.status,
        &r.json,
        &[400, 422],
        &["maxAttempts"],
        "maxAttempts not a number",
    );
    let r = trigger_body(&server, "t", trig("{}", json!({"priority": "high"}))).await;
    assert_error(
        r.status,
        &r.json,
        &[400, 422],
        &["priority"],
        "priority not a number",
    );
    let r = trigger_body(
        &server,
        "t",
        trig("{}", json!({"metadata": "not an object"})),
    )
    .await;
    assert_error(
        r.status,
        &r.json,
        &[400, 422],
        &["metadata"],
        "metadata not an object",
    );
    // The payload text does not parse as its declared type.
    let r = trigger_body(&server, "t", trig("{not json", json!({}))).await;
    assert_error(
        r.status,
        &r.json,
        &[400, 422],
        &["payload", "json"],
        "payload is not JSON",
    );
    let r = trigger_body(
        &server,
        "t",
        json!({"payload": "{\"nojson\": 1}", "options": {"payloadType": "application/super+json"}}),
    )
    .await;
    assert!(
        r.status == 200 || (400..500).contains(&r.status),
        "super+json without `json` member: {} {}",
        r.status,
        r.text
    );
    let accepted_odd = if r.status == 200 { 1 } else { 0 };
    let r = trigger_body(
        &server,
        "t",
        json!({"payload": "", "options": {"payloadType": "application/store"}}),
    )
    .await;
    assert_error(
        r.status,
        &r.json,
        &[400],
        &["payload"],
        "empty application/store payload",
    );
    let r = trigger_body(
        &server,
        "t",
        json!({"payload": "{}", "options": {"payloadType": "image/png"}}),
    )
    .await;
    assert_error(
        r.status,
        &r.json,
        &[400, 415, 422],
        &["payloadType", "type"],
        "unknown payloadType",
    );

    assert_eq!(snapshot(&server).await.len(), before.len() + accepted_odd);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalid_trigger_options() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let before = snapshot(&server).await;
    let cases: Vec<(Value, &[u16], &[&str], &str)> = vec![
        (
            json!({"idempotencyKey": "k".repeat(2049)}),
            &[400, 422],
            &["idempotency"],
            "idempotency key of 2049 chars",
        ),
        (
            json!({"tags": (0..11).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
            &[422],
            &["tags", "10"],
            "11 tags",
        ),
        (
            json!({"tags": ["x".repeat(129)]}),
            &[400, 422],
            &["tag"],
            "tag of 129 chars",
        ),
        (
            json!({"delay": "10x"}),
            &[400, 422],
            &["delay"],
            "delay 10x",
        ),
        (
            json!({"delay": "abc"}),
            &[400, 422],
            &["delay"],
            "delay abc",
        ),
        (json!({"delay": ""}), &[400, 422], &["delay"], "empty delay"),
        (
            json!({"delay": "-5s"}),
            &[400, 422],
            &["delay"],
            "negative delay",
        ),
        (
            json!({"delay": "2024-13-45T99:00:00Z"}),
            &[400, 422],
            &["delay"],
            "impossible date",
        ),
        (
            json!({"machine": "huge-9x"}),
            &[400],
            &["machine"],
            "bad machine",
        ),
        (json!({"ttl": "abc"}), &[400, 422], &["ttl"], "ttl abc"),
        (
            json!({"ttl": "5y"}),
            &[400, 422],
            &["ttl"],
            "ttl unknown unit",
        ),
        (json!({"ttl": -5}), &[400, 422], &["ttl"], "negative ttl"),
        (
            json!({"maxAttempts": 0}),
            &[400, 422],
            &["maxAttempts"],
            "maxAttempts 0",
        ),
        (
            json!({"maxDuration": -1}),
            &[400, 422],
            &["maxDuration"],
            "negative maxDuration",
        ),
        (
            json!({"lockToVersion": "19990101.9"}),
            &[422],
            &["version"],
            "unknown lockToVersion",
        ),
        (
            json!({"idempotencyKeyOptions": {"key": "k", "scope": "galaxy"}, "idempotencyKey": sha256_hex("k")}),
            &[400, 422],
            &["scope"],
            "bad key scope",
        ),
    ];
    for (opts, statuses, needles, what) in cases {
        let r = trigger_body(&server, "t", trig("{}", opts)).await;
        assert_error(r.status, &r.json, statuses, needles, what);
    }
    assert_eq!(
        snapshot(&server).await,
        before,
        "no run created by rejected triggers"
    );

    // Negative priority: either accepted (the run is created) or rejected with a 4xx naming it.
    let r = trigger_body(&server, "t", trig("{}", json!({"priority": -10}))).await;
    if r.status != 200 {
        assert_error(
            r.status,
            &r.json,
            &[400, 422],
            &["priority"],
            "negative priority",
        );
    }
    eprintln!("negative priority answered {}", r.status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_task_after_a_deployment_is_404() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let r = trigger_body(&server, "nope", trig("{}", json!({}))).await;
    assert_error(r.status, &r.json, &[404], &["nope"], "unknown task");
    let e = r.json["error"].as_str().unwrap();
    assert!(
        e.contains(&version),
        "the error names the current version: {e}"
    );
    assert!(snapshot(&server).await.is_empty());
    // URL-encoded task ids are decoded.
    let r = trigger_body(&server, "t%2Fx", trig("{}", json!({}))).await;
    assert_error(r.status, &r.json, &[404], &["t/x"], "encoded unknown task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn payload_size_limits() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let big = format!("\"{}\"", "x".repeat(3 * 1024 * 1024 + 1024));
    server
        .send_oversized(
            Req::new("POST", "/api/v1/tasks/t/trigger").json(&trig(&big, json!({}))),
            &[413],
            "payload over 3 MiB",
        )
        .await;
    assert!(snapshot(&server).await.is_empty());

    let small = TestServer::start_with(Options {
        args: vec!["--max-payload-bytes".into(), "1024".into()],
        ..Default::default()
    })
    .await;
    small.deploy(tasks(&["t"])).await;
    let two_k = format!("\"{}\"", "y".repeat(2048));
    let r = trigger_body(&small, "t", trig(&two_k, json!({}))).await;
    assert_error(
        r.status,
        &r.json,
        &[413],
        &[],
        "2 KiB payload with a 1 KiB limit",
    );
    let ok = format!("\"{}\"", "y".repeat(500));
    let r = trigger_body(&small, "t", trig(&ok, json!({}))).await;
    assert_eq!(
        r.status, 200,
        "500 B payload under a 1 KiB limit: {}",
        r.text
    );
    // Batch items obey the same limit.
    let b = small
        .create_batch(json!({"runCount": 1, "taskIdentifiers": ["t"]}))
        .await;
    assert_eq!(b.status, 202, "{}", b.text);
    let bid = b.json["id"].as_str().unwrap();
    let r = small
        .send_items(bid, &[json!({"index": 0, "task": "t", "payload": two_k, "options": {"payloadType": "application/json"}})])
        .await;
    assert_error(r.status, &r.json, &[413, 422], &[], "oversized batch item");
    assert_eq!(small.list_all("").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_errors() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    for (body, what) in [
        (
            json!({"runCount": 0, "taskIdentifiers": ["t"]}),
            "runCount 0",
        ),
        (
            json!({"runCount": 1001, "taskIdentifiers": ["t"]}),
            "runCount 1001",
        ),
        (
            json!({"runCount": -1, "taskIdentifiers": ["t"]}),
            "runCount -1",
        ),
        (json!({"taskIdentifiers": ["t"]}), "runCount missing"),
    ] {
        let r = server.create_batch(body).await;
        assert_error(r.status, &r.json, &[400], &["runCount"], what);
    }
    let r = server
        .send(Req::new("POST", "/api/v3/batches").raw_body("application/json", "{"))
        .await;
    assert_error(r.status, &r.json, &[400], &[], "truncated batch JSON");

    let b = server
        .create_batch(json!({"runCount": 2, "taskIdentifiers": ["t"]}))
        .await;
    assert_eq!(b.status, 202, "{}", b.text);
    let bid = b.json["id"].as_str().unwrap().to_string();
    let good = |i: u32| json!({"index": i, "task": "t", "payload": "{}", "options": {"payloadType": "application/json"}});

    // A bad line.
    let body = format!("{{\"index\":0,\"task\":\n{}\n", good(1));
    let r = server
        .send(
            Req::new("POST", &format!("/api/v3/batches/{bid}/items"))
                .raw_body("application/x-ndjson", body)
                .chunked(),
        )
        .await;
    assert_error(
        r.status,
        &r.json,
        &[400],
        &["line", "json", "item"],
        "NDJSON with a bad line",
    );
    assert!(
        server
            .list_ids(&query(&[("filter[batch]", &bid)]))
            .await
            .is_empty(),
        "nothing half-written"
    );

    // Lines that parse but are wrong.
    let r = server
        .send_items(&bid, &[json!({"index": 0, "payload": "{}"})])
        .await;
    assert_error(
        r.status,
        &r.json,
        &[400, 422],
        &["task"],
        "item without task",
    );
    let r = server
        .send_items(&bid, &[json!({"index": 7, "task": "t", "payload": "{}"})])
        .await;
    assert_error(
        r.status,
        &r.json,
        &[400, 422],
        &["index"],
        "index beyond runCount",
    );
    let r = server
        .send_items(&bid, &[json!({"index": -1, "task": "t", "payload": "{}"})])
        .await;
    assert_error(r.status, &r.json, &[400, 422], &["index"], "negative index");
    let r = server
        .send_items(
            &bid,
            &[json!({"index": 0, "task": "t", "payload": "{}", "options": {"machine": "huge-9x"}})],
        )
        .await;
    assert_error(
        r.status,
        &r.json,
        &[400, 422],
        &["machine"],
        "item with a bad machine",
    );
    assert!(
        server
            .list_ids(&query(&[("filter[batch]", &bid)]))
            .await
            .is_empty(),
        "nothing half-written"
    );

    // Wrong content type.
    let r = server
        .send(
            Req::new("POST", &format!("/api/v3/batches/{bid}/items"))
                .raw_body("text/plain", format!("{}\n", good(0))),
        )
        .await;
    assert_error(r.status, &r.json, &[415], &[], "items as text/plain");
    let r = server
        .send(Req::new("POST", &format!("/api/v3/batches/{bid}/items")).json(&good(0)))
        .await;
    assert_error(r.status, &r.json, &[415], &[], "items as application/json");

    // The batch is still usable.
    let r = server.send_items(&bid, &[good(0), good(1)]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["sealed"], json!(true));

    // Unknown batch.
    let r = server
        .send_items("batch_doesnotexist000000000", &[good(0)])
        .await;
    assert_error(r.status, &r.json, &[404], &[], "items for an unknown batch");
    let (s, v) = server
        .get("/api/v2/batches/batch_doesnotexist000000000")
        .await;
    assert_error(s, &v, &[404], &[], "unknown batch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_ids_are_404() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let run = "run_doesnotexist0000000000";
    let cases: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/api/v3/runs/{run}"), None),
        ("POST", format!("/api/v2/runs/{run}/cancel"), None),
        ("POST", format!("/api/v1/runs/{run}/replay"), None),
        (
            "POST",
            format!("/api/v1/runs/{run}/reschedule"),
            Some(json!({"delay": "1h"})),
        ),
        (
            "POST",
            format!("/api/v1/runs/{run}/tags"),
            Some(json!({"tags": ["a"]})),
        ),
        ("GET", format!("/api/v1/runs/{run}/metadata"), None),
        (
            "PUT",
            format!("/api/v1/runs/{run}/metadata"),
            Some(json!({"metadata": {}})),
        ),
        (
            "GET",
            "/api/v2/batches/batch_doesnotexist000000000".into(),
            None,
        ),
        ("GET", "/api/v1/queues/nope?type=custom".into(), None),
        (
            "GET",
            "/api/v1/queues/queue_doesnotexist?type=id".into(),
            None,
        ),
        (
            "POST",
            "/api/v1/queues/nope/pause".into(),
            Some(json!({"type": "custom", "action": "pause"})),
        ),
        (
            "POST",
            "/api/v1/queues/nope/concurrency/reset".into(),
            Some(json!({"type": "custom"})),
        ),
        (
            "POST",
            "/api/v1/deployments/19990101.1/promote".into(),
            None,
        ),
        (
            "POST",
            format!("/api/v1/worker/runs/{run}/heartbeat"),
            Some(json!({"lease": "lease_x"})),
        ),
        (
            "POST",
            format!("/api/v1/worker/runs/{run}/complete"),
            Some(json!({"lease": "lease_x", "ok": true})),
        ),
        (
            "POST",
            format!("/api/v1/idempotencyKeys/{}/reset", sha256_hex("x")),
            Some(json!({"taskIdentifier": "t"})),
        ),
        ("GET", "/api/v3/runs/not-even-a-run-id".into(), None),
    ];
    for (m, p, b) in cases {
        let mut req = Req::new(m, &p).content_type("application/json");
        if let Some(b) = b {
            req = req.json(&b);
        }
        let r = server.send(req).await;
        assert_error(r.status, &r.json, &[404], &[], &format!("{m} {p}"));
        assert_ne!(
            r.header("x-should-retry").as_deref(),
            Some("true"),
            "{m} {p}: 404 must not ask for retries"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_list_queries_and_management_bodies() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = server
        .trigger("t", json!({}), json!({"metadata": {"keep": 1}}))
        .await;
    for (q, needle) in [
        (query(&[("filter[status]", "BOGUS")]), "status"),
        (query(&[("page[size]", "0")]), "size"),
        (query(&[("page[size]", "101")]), "size"),
        (query(&[("page[size]", "abc")]), "size"),
        (query(&[("filter[machine]", "huge-9x")]), "machine"),
        (
            query(&[("filter[createdAt][from]", "yesterday")]),
            "createdAt",
        ),
        (query(&[("filter[createdAt][period]", "1x")]), "period"),
    ] {
        let (s, v) = server.get(&format!("/api/v1/runs?{q}")).await;
        assert_error(s, &v, &[400], &[needle], &format!("list ?{q}"));
    }
    let path = format!("/api/v1/runs/{id}/metadata");
    for body in [
        json!({"operations": "set"}),
        json!({"operations": [{"type": "explode", "key": "a"}]}),
        json!({"operations": [{"type": "set"}]}),
        json!({"operations": [{"type": "increment", "key": "n", "value": "one"}]}),
        json!({"metadata": 5}),
    ] {
        let (s, v) = server.call("PUT", &path, Some(body.clone())).await;
        assert_error(s, &v, &[400, 422], &[], &format!("metadata {body}"));
    }
    let r = server
        .send(Req::new("PUT", &path).raw_body("application/json", "{"))
        .await;
    assert_error(r.status, &r.json, &[400], &[], "truncated metadata JSON");
    assert_eq!(
        server.run(&id).await["metadata"],
        json!({"keep": 1}),
        "bad metadata bodies changed nothing"
    );

    let (s, v) = server
        .post(&format!("/api/v1/runs/{id}/tags"), json!({"tags": 5}))
        .await;
    assert_error(s, &v, &[400, 422], &["tags"], "tags not strings");
    let (s, v) = server
        .post(&format!("/api/v1/runs/{id}/reschedule"), json!({}))
        .await;
    assert_error(s, &v, &[400], &[], "reschedule without delay");
    let (s, v) = server
        .post(
            "/api/v1/queues/t/concurrency/override",
            json!({"type": "task", "concurrencyLimit": "abc"}),
        )
        .await;
    assert_error(
        s,
        &v,
        &[400],
        &["concurrencyLimit", "limit"],
        "override with a string",
    );
    let (s, v) = server
        .post(
            "/api/v1/queues/t/pause",
            json!({"type": "task", "action": "explode"}),
        )
        .await;
    assert_error(s, &v, &[400], &["action"], "pause with a bad action");
    let (s, v) = server
        .post("/api/v1/idempotencyKeys/abc/reset", json!({}))
        .await;
    assert_error(s, &v, &[400, 404], &[], "reset without taskIdentifier");

    // Worker calls.
    for (body, needle) in [
        (json!({"version": version, "maxRuns": 0}), "maxRuns"),
        (json!({"version": version, "maxRuns": 501}), "maxRuns"),
        (
            json!({"version": version, "maxRuns": 1, "waitMs": 30001}),
            "waitMs",
        ),
        (
            json!({"version": version, "maxRuns": 1, "waitMs": -1}),
            "waitMs",
        ),
        (json!({"maxRuns": 1}), "version"),
    ] {
        let (s, v) = server.post("/api/v1/worker/dequeue", body.clone()).await;
        assert_error(s, &v, &[400], &[needle], &format!("dequeue {body}"));
    }
    let (s, v) = server
        .post(
            &format!("/api/v1/worker/runs/{id}/complete"),
            json!({"ok": true}),
        )
        .await;
    assert_error(s, &v, &[400], &["lease"], "complete without lease");
    let (s, v) = server
        .post(&format!("/api/v1/worker/runs/{id}/heartbeat"), json!({}))
        .await;
    assert_error(s, &v, &[400], &["lease"], "heartbeat without lease");
    assert_eq!(
        server.status(&id).await,
        "QUEUED",
        "nothing changed the run"
    );

    // The clock endpoint is off without --test-clock.
    let (s, v) = server
        .post("/api/v1/test/clock", json!({"advanceMs": 1000}))
        .await;
    assert!(
        s == 404 || s == 403 || s == 400,
        "test clock must be disabled: {s} {v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_500_on_garbage() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let garbage: Vec<(&str, &str, &str)> = vec![
        ("POST", "/api/v1/tasks/t/trigger", "\u{0}\u{1}binary"),
        ("POST", "/api/v1/tasks/t/trigger", "null"),
        ("POST", "/api/v1/tasks/t/trigger", "\"string\""),
        ("POST", "/api/v3/batches", "[]"),
        ("POST", "/api/v1/worker/dequeue", "{\"version\": 5}"),
        ("POST", "/api/v1/worker/complete", "{\"completions\": 5}"),
        ("POST", "/api/v1/worker/deployments", "{\"tasks\": [null]}"),
        (
            "PUT",
            "/api/v1/runs/run_x/metadata",
            "{\"operations\": [null]}",
        ),
        ("POST", "/api/v1/queues/%ZZ/pause", "{}"),
        ("GET", "/api/v3/runs/%FF%FE", ""),
    ];
    for (m, p, b) in garbage {
        let r = server
            .send(Req::new(m, p).raw_body("application/json", b))
            .await;
        assert!(
            (400..500).contains(&r.status),
            "{m} {p} {b:?}: expected a 4xx, got {} {}",
            r.status,
            r.text
        );
    }
    assert!(server.list_all("").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chunked_bodies_obey_the_size_limit() {
    let server = TestServer::start_with(Options {
        args: vec!["--max-payload-bytes".into(), "1024".into()],
        ..Default::default()
    })
    .await;
    server.deploy(tasks(&["t"])).await;
    let big = trig(&format!("\"{}\"", "z".repeat(4096)), json!({}));
    let r = server
        .send(
            Req::new("POST", "/api/v1/tasks/t/trigger")
                .json(&big)
                .chunked(),
        )
        .await;
    assert_error(
        r.status,
        &r.json,
        &[411, 413],
        &[],
        "chunked 4 KiB trigger with a 1 KiB limit",
    );
    let huge = trig(&format!("\"{}\"", "z".repeat(8 * 1024 * 1024)), json!({}));
    server
        .send_oversized(
            Req::new("POST", "/api/v1/tasks/t/trigger")
                .json(&huge)
                .chunked(),
            &[411, 413],
            "chunked 8 MiB trigger",
        )
        .await;
    let small = trig("{\"a\":1}", json!({}));
    // A fresh connection: the server closed the one the oversized body was sent on.
    let fresh = reqwest::Client::new();
    let r = send_to(
        &fresh,
        &server.base_url,
        Req::new("POST", "/api/v1/tasks/t/trigger")
            .json(&small)
            .chunked(),
    )
    .await;
    assert!(
        r.status == 200 || r.status == 411,
        "small chunked trigger: {} {}",
        r.status,
        r.text
    );
    let expected = if r.status == 200 { 1 } else { 0 };
    assert_eq!(server.list_all("").await.len(), expected);
}

/// Durations so large that adding them to a time would overflow are refused, never wrapped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_durations_are_refused() {
    let server = TestServer::start().await;
    server.deploy(json!([{"id": "t"}])).await;
    for (what, options) in [
        ("ttl", json!({"ttl": "999999999999w"})),
        ("delay", json!({"delay": "5300w"})),
        ("maxDuration", json!({"maxDuration": 1e300})),
    ] {
        let (s, v) = server
            .post(
                "/api/v1/tasks/t/trigger",
                json!({"payload": "{}", "options": options}),
            )
            .await;
        assert!(s == 400 || s == 422, "{what}: {s} {v}");
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: {v}"
        );
    }
    let (s, v) = server
        .post(
            "/api/v1/worker/deployments",
            json!({"tasks": [{"id": "x", "maxDuration": 1_000_000_000_u64, "retry": {"maxTimeoutInMs": 18_000_000_000_000_000_000_u64}}]}),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = server.get("/healthz").await;
    assert_eq!(s, 200);
}
