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

/// A NUL byte (`%00`) in a path or a query is refused, naming where it is: on PostgreSQL it
/// could not even be looked up. An encoded percent sign followed by `00` is no NUL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_bytes_in_urls_are_refused() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let in_path: Vec<(&str, String)> = vec![
        ("GET", "/api/v3/runs/run_%00x".into()),
        ("POST", "/api/v2/runs/run_%00x/cancel".into()),
        ("GET", "/api/v1/queues/q%00".into()),
        ("GET", "/api/v1/schedules/s%00".into()),
        ("GET", "/api/v1/waitpoints/tokens/waitpoint_%00".into()),
        ("POST", "/api/v1/idempotencyKeys/k%00/reset".into()),
        ("POST", "/api/v1/tasks/t%00/trigger".into()),
    ];
    for (method, path) in in_path {
        let r = server
            .send(
                Req::new(method, &path).raw_body("application/json", "{\"taskIdentifier\":\"t\"}"),
            )
            .await;
        assert_error(
            r.status,
            &r.json,
            &[400],
            &["path contains a NUL"],
            &format!("{method} {path}"),
        );
    }
    // The wait-token callback needs no credential.
    let r = server
        .send(
            Req::new(
                "POST",
                "/api/v1/waitpoints/tokens/waitpoint_%00/callback/00",
            )
            .no_key()
            .raw_body("application/json", "{}"),
        )
        .await;
    assert_error(
        r.status,
        &r.json,
        &[400],
        &["path contains a NUL"],
        "callback URL",
    );
    for (path, needle) in [
        (
            "/api/v1/runs?filter%5Btag%5D=a%00",
            "parameter filter[tag] contains",
        ),
        (
            "/api/v1/runs?page%5Bafter%5D=%00",
            "parameter page[after] contains",
        ),
        (
            "/api/v1/runs?filter[taskIdentifier]=t%00",
            "parameter filter[taskIdentifier] contains",
        ),
        (
            "/api/v1/waitpoints/tokens?filter[idempotencyKey]=k%00",
            "parameter filter[idempotencyKey]",
        ),
        ("/api/v1/queues/t?type=task%00", "parameter type contains"),
        ("/api/v1/runs?x%00=1", "parameter name contains"),
    ] {
        let (s, v) = server.get(path).await;
        assert_error(s, &v, &[400], &[needle], path);
    }
    let (s, v) = server.get("/api/v3/runs/run_%2500").await;
    assert_error(s, &v, &[404], &[], "an encoded percent sign is no NUL");
    assert_eq!(server.status(&id).await, "QUEUED");
    assert_eq!(snapshot(&server).await, vec![id]);
}

/// A NUL in any string of a JSON body outside the caller's own data is refused with a 400
/// naming the member, and nothing is written; an escaped backslash before `u0000` is no NUL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_bytes_in_json_bodies_are_refused_naming_the_member() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let nul = |s: &str| format!("{s}\u{0}");
    let trigger = "/api/v1/tasks/t/trigger";
    let cases: Vec<(&str, String, Value, &str)> = vec![
        (
            "POST",
            trigger.into(),
            trig("{}", json!({"tags": ["a", "b", "c", nul("d")]})),
            "options.tags[3] contains a NUL byte",
        ),
        (
            "POST",
            trigger.into(),
            trig("{}", json!({"idempotencyKey": nul("k")})),
            "options.idempotencyKey contains",
        ),
        (
            "POST",
            trigger.into(),
            trig("{}", json!({"queue": {"name": nul("q")}})),
            "options.queue.name contains",
        ),
        (
            "POST",
            trigger.into(),
            trig("{}", json!({"concurrencyKey": nul("c")})),
            "options.concurrencyKey contains",
        ),
        (
            "POST",
            trigger.into(),
            trig("{}", json!({"lockToVersion": nul(&version)})),
            "options.lockToVersion contains",
        ),
        (
            "POST",
            trigger.into(),
            json!({"payload": "{}", "options": {"payloadType": nul("text/plain")}}),
            "options.payloadType contains",
        ),
        (
            "POST",
            trigger.into(),
            trig("{}", json!({nul("x"): 1})),
            "member name in options contains",
        ),
        (
            "POST",
            "/api/v1/schedules".into(),
            json!({"task": "t", "cron": "0 * * * *", "deduplicationKey": nul("d")}),
            "deduplicationKey contains",
        ),
        (
            "POST",
            "/api/v1/schedules".into(),
            json!({"task": "t", "cron": "0 * * * *", "deduplicationKey": "d", "externalId": nul("e")}),
            "externalId contains",
        ),
        (
            "POST",
            "/api/v1/worker/deployments".into(),
            json!({"tasks": [{"id": "t"}], "contentHash": nul("h")}),
            "contentHash contains",
        ),
        (
            "POST",
            "/api/v1/worker/deployments".into(),
            json!({"tasks": [{"id": nul("t")}]}),
            "tasks[0].id contains",
        ),
        (
            "POST",
            "/api/v1/worker/dequeue".into(),
            json!({"version": nul(&version)}),
            "version contains",
        ),
        (
            "POST",
            "/api/v1/waitpoints/tokens".into(),
            json!({"idempotencyKey": nul("k")}),
            "idempotencyKey contains",
        ),
        (
            "POST",
            "/api/v1/waitpoints/tokens".into(),
            json!({"tags": ["ok", nul("t")]}),
            "tags[1] contains",
        ),
        (
            "POST",
            format!("/api/v1/runs/{id}/tags"),
            json!({"tags": [nul("t")]}),
            "tags[0] contains",
        ),
        (
            "POST",
            format!("/api/v1/worker/runs/{id}/logs"),
            json!({"lease": "l", "entries": [{"level": "info", "message": nul("m")}]}),
            "entries[0].message contains",
        ),
    ];
    for (method, path, body, needle) in cases {
        let (s, v) = server.call(method, &path, Some(body.clone())).await;
        assert_error(s, &v, &[400], &[needle], &format!("{method} {path} {body}"));
    }
    assert_eq!(snapshot(&server).await, vec![id.clone()], "no run was made");
    assert_eq!(server.run(&id).await["tags"], json!([]), "no tag was added");
    let (s, v) = server.get("/api/v1/schedules").await;
    assert_eq!(
        (s, v["data"].clone()),
        (200, json!([])),
        "no schedule was made: {v}"
    );
    let (s, v) = server.get("/api/v1/waitpoints/tokens").await;
    assert_eq!(
        (s, v["data"].clone()),
        (200, json!([])),
        "no token was made: {v}"
    );

    // A backslash, then `u0000`: six characters, no NUL.
    let r = trigger_body(&server, "t", trig("{}", json!({"tags": ["a\\u0000"]}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let run = server.run(r.json["id"].as_str().unwrap()).await;
    assert_eq!(run["tags"], json!(["a\\u0000"]));
}

/// The caller's own data keeps its NUL bytes on every store: text and JSON payloads, metadata,
/// outputs and token data read back exactly as sent, and a packet path with a NUL is not found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_and_outputs_keep_their_nul_bytes() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let texts = [
        "a\u{0}b",
        "\u{0}",
        "\u{1}0\u{1}",
        "\u{1}1 and \u{0} and \u{1}",
    ];
    let mut text_runs = Vec::new();
    for text in texts {
        let r = trigger_body(
            &server,
            "t",
            json!({"payload": text, "options": {"payloadType": "text/plain"}}),
        )
        .await;
        assert_eq!(r.status, 200, "text payload {text:?}: {}", r.text);
        let id = r.json["id"].as_str().unwrap().to_string();
        assert_eq!(server.run(&id).await["payload"], json!(text), "{text:?}");
        text_runs.push((id, text));
    }
    let data = json!({"s": "x\u{0}y", "list": ["\u{0}"], "k\u{0}": 1});
    let r = trigger_body(
        &server,
        "t",
        json!({"payload": data, "options": {"metadata": data}}),
    )
    .await;
    assert_eq!(r.status, 200, "JSON payload: {}", r.text);
    let json_run = r.json["id"].as_str().unwrap().to_string();
    let run = server.run(&json_run).await;
    assert_eq!((&run["payload"], &run["metadata"]), (&data, &data));

    let runs = server.dequeue(&version, 10, 0).await;
    assert_eq!(runs.len(), texts.len() + 1);
    for run in &runs {
        let id = run["runId"].as_str().unwrap();
        let sent = text_runs
            .iter()
            .find(|(r, _)| r == id)
            .map_or(data.clone(), |(_, text)| json!(text));
        assert_eq!(run["payload"], sent, "dequeued {id}");
        let (s, v) = server.complete_ok(run, data.clone()).await;
        assert_eq!(s, 200, "complete {id}: {v}");
        assert_eq!(server.run(id).await["output"], data, "output of {id}");
    }

    let (s, v) = server.post("/api/v1/waitpoints/tokens", json!({})).await;
    assert_eq!(s, 200, "{v}");
    let token = v["id"].as_str().unwrap().to_string();
    let (s, v) = server
        .post(
            &format!("/api/v1/waitpoints/tokens/{token}/complete"),
            json!({"data": data}),
        )
        .await;
    assert_eq!(s, 200, "complete token: {v}");
    let (s, v) = server
        .get(&format!("/api/v1/waitpoints/tokens/{token}"))
        .await;
    assert_eq!(s, 200, "{v}");
    let output: Value = serde_json::from_str(v["output"].as_str().unwrap()).unwrap();
    assert_eq!(output, data, "token output");

    let r = trigger_body(
        &server,
        "t",
        json!({"payload": "packets/a\u{0}b", "options": {"payloadType": "application/store"}}),
    )
    .await;
    assert_error(
        r.status,
        &r.json,
        &[404, 422],
        &["a\u{0}b", "packet"],
        "packet path with a NUL",
    );
}

/// A public access token whose `sub` holds a NUL is refused as such, and so is a packet URL's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_naming_an_environment_with_a_nul_are_refused() {
    let server = TestServer::start().await;
    let now = chrono::Utc::now().timestamp();
    let sign = |claims: Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"any secret"),
        )
        .unwrap()
    };
    let token = sign(json!({
        "sub": "env\u{0}", "pub": true, "scopes": ["read:runs"],
        "aud": "https://api.trigger.dev", "iat": now, "exp": now + 600,
    }));
    let (s, v) = server.get_as(&token, "/api/v1/runs").await;
    assert_error(s, &v, &[401], &["sub contains a NUL"], "public token");
    let blob = sign(json!({"sub": "env\u{0}", "path": "p", "op": "get", "exp": now + 600}));
    let (s, v) = server.get(&format!("/api/v1/blobs/{blob}")).await;
    assert_error(s, &v, &[403], &["packet URL"], "packet URL token");
}

/// `page`/`perPage` and every other number of a list query outside its documented range
/// (negative, fractional, not a number, too large) is a 400 naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_numbers_out_of_range_are_refused_naming_them() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let huge = "18446744073709551615";
    let beyond = "18446744073709551616";
    for list in ["/api/v1/queues", "/api/v1/schedules"] {
        for (q, needle) in [
            (format!("page={huge}"), "page must be"),
            ("page=1000001".to_string(), "page must be"),
            ("page=0".to_string(), "page must be"),
            ("page=-1".to_string(), "page must be"),
            ("page=1.5".to_string(), "page must be"),
            ("page=abc".to_string(), "page must be"),
            ("perPage=0".to_string(), "perPage must be"),
            ("perPage=101".to_string(), "perPage must be"),
            ("perPage=-5".to_string(), "perPage must be"),
            (format!("perPage={beyond}"), "perPage must be"),
        ] {
            let (s, v) = server.get(&format!("{list}?{q}")).await;
            assert_error(s, &v, &[400], &[needle], &format!("{list}?{q}"));
        }
        let (s, v) = server
            .get(&format!("{list}?page=1000000&perPage=100"))
            .await;
        assert_eq!(s, 200, "{list}: the last page: {v}");
        assert_eq!(v["pagination"]["currentPage"], 1_000_000);
        assert_eq!(v["data"], json!([]));
    }
    for (path, q, needle) in [
        (
            "/api/v1/runs".to_string(),
            format!("page[size]={beyond}"),
            "page[size] must be",
        ),
        (
            "/api/v1/runs".to_string(),
            "page[size]=-1".to_string(),
            "page[size] must be",
        ),
        (
            "/api/v1/waitpoints/tokens".to_string(),
            format!("page[size]={huge}"),
            "page[size] must be",
        ),
        (
            format!("/api/v1/runs/{id}/logs"),
            "page[size]=1001".to_string(),
            "page[size] must be",
        ),
        (
            format!("/api/v1/runs/{id}/logs"),
            format!("waitMs={beyond}"),
            "waitMs must be",
        ),
        (
            format!("/api/v1/runs/{id}/logs"),
            "waitMs=-1".to_string(),
            "waitMs must be",
        ),
        (
            format!("/api/v1/runs/{id}/logs"),
            format!("page[after]={beyond}"),
            "page[after]",
        ),
    ] {
        let (s, v) = server.get(&format!("{path}?{q}")).await;
        assert_error(s, &v, &[400], &[needle], &format!("{path}?{q}"));
    }
}

/// A body is one JSON object: data after it, or an array, string, number or null instead, is a
/// 400 that writes nothing; whitespace after the object is fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_must_be_exactly_one_json_object() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let (s, v) = server.post("/api/v1/waitpoints/tokens", json!({})).await;
    assert_eq!(s, 200, "{v}");
    let token = v["id"].as_str().unwrap().to_string();
    let complete = format!("/api/v1/waitpoints/tokens/{token}/complete");
    for (path, body, needle) in [
        (
            "/api/v1/tasks/t/trigger",
            "{\"payload\":\"1\"} xx",
            "after its JSON value",
        ),
        (
            "/api/v1/tasks/t/trigger",
            "{\"payload\":\"1\"}{}",
            "after its JSON value",
        ),
        (
            "/api/v1/tasks/t/trigger",
            "[]",
            "must be a JSON object, not an array",
        ),
        (
            "/api/v1/tasks/t/trigger",
            " \"x\"",
            "must be a JSON object, not a string",
        ),
        ("/api/v1/tasks/t/trigger", "5", "must be a JSON object"),
        ("/api/v1/tasks/t/trigger", "null", "must be a JSON object"),
        (
            complete.as_str(),
            "[]",
            "must be a JSON object, not an array",
        ),
        (complete.as_str(), "{\"data\":1} 2", "after its JSON value"),
    ] {
        let r = server
            .send(Req::new("POST", path).raw_body("application/json", body))
            .await;
        assert_error(
            r.status,
            &r.json,
            &[400],
            &[needle],
            &format!("{path} {body:?}"),
        );
    }
    assert!(snapshot(&server).await.is_empty(), "no run was made");
    let (s, v) = server
        .get(&format!("/api/v1/waitpoints/tokens/{token}"))
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("WAITING")), "{v}");

    let r = server
        .send(
            Req::new("POST", "/api/v1/tasks/t/trigger")
                .raw_body("application/json", "\n {\"payload\":\"1\"} \r\n\t "),
        )
        .await;
    assert_eq!(r.status, 200, "whitespace around the object: {}", r.text);
    assert_eq!(snapshot(&server).await.len(), 1);
}

/// A member the document gives as an object is refused as an array (serde alone would read
/// `[null, null]` as the struct's first two fields); an optional member may be `null`; a
/// declared byte count is a whole number from 0 to 2^63 - 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn objects_are_objects_and_options_may_be_null() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;

    for (options, needle) in [
        (json!([null, null]), "options"),
        (
            json!({"idempotencyKeyOptions": ["k"]}),
            "idempotencyKeyOptions",
        ),
        (json!({"queue": ["q"]}), "queue"),
        (json!({"payloadSize": -1}), "payloadSize"),
        (
            json!({"payloadSize": 9223372036854775808u64}),
            "payloadSize",
        ),
    ] {
        let r = trigger_body(&server, "t", json!({"payload": {}, "options": options})).await;
        assert_error(
            r.status,
            &r.json,
            &[400],
            &[needle],
            &format!("options {options}"),
        );
    }
    let b = server
        .create_batch(json!({"runCount": 1, "idempotencyKeyOptions": [null]}))
        .await;
    assert_error(
        b.status,
        &b.json,
        &[400],
        &["idempotencyKeyOptions"],
        "batch key options as an array",
    );
    let b = server.create_batch(json!({"runCount": 1})).await;
    assert_eq!(b.status, 202, "{}", b.text);
    let id = b.json["id"].as_str().unwrap().to_string();
    let r = server
        .send_items(
            &id,
            &[json!({"index": 0, "task": "t", "options": [null, null]})],
        )
        .await;
    assert_error(
        r.status,
        &r.json,
        &[400],
        &["options"],
        "batch item options as an array",
    );
    assert!(snapshot(&server).await.is_empty(), "nothing was triggered");

    let r = trigger_body(
        &server,
        "t",
        json!({"payload": {}, "options": {"queue": {"name": "q"}, "payloadSize": 2, "idempotencyKeyOptions": null}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (status, body) = server
        .post(
            "/api/v1/worker/dequeue",
            json!({"version": version, "maxRuns": 1, "waitMs": 0, "workerId": null}),
        )
        .await;
    assert_eq!(status, 200, "workerId null: {body}");
    assert_eq!(body["runs"].as_array().map(Vec::len), Some(1), "{body}");
}

/// A repeated batch item is skipped, but a malformed one is refused all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_malformed_repeat_of_a_batch_item_is_refused() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let b = server.create_batch(json!({"runCount": 2})).await;
    let id = b.json["id"].as_str().unwrap().to_string();
    let item = json!({"index": 0, "task": "t", "payload": {}});
    let r = server.send_items(&id, std::slice::from_ref(&item)).await;
    assert_eq!(
        (r.status, &r.json["itemsAccepted"]),
        (200, &json!(1)),
        "{}",
        r.text
    );
    let r = server.send_items(&id, &[item]).await;
    assert_eq!(r.json["itemsDeduplicated"], 1, "a plain repeat: {}", r.text);
    let bad = json!({"index": 0, "task": "t", "payload": {}, "options": {"payloadSize": -1}});
    let r = server.send_items(&id, &[bad]).await;
    assert_error(
        r.status,
        &r.json,
        &[400],
        &["Item 0", "payloadSize"],
        "a malformed repeat",
    );
    assert_eq!(snapshot(&server).await.len(), 1);
}
