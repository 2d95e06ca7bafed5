//! The worker protocol: deployments, schema validation, versioned dequeue, long-poll,
//! completion and heartbeat fencing.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

fn version_parts(v: &str) -> (String, u32) {
    let (date, n) = v
        .split_once('.')
        .unwrap_or_else(|| panic!("version {v} is not YYYYMMDD.N"));
    assert_eq!(date.len(), 8, "version {v}");
    assert!(date.bytes().all(|b| b.is_ascii_digit()), "version {v}");
    (
        date.to_string(),
        n.parse().unwrap_or_else(|_| panic!("version {v}")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deployment_versions_count_per_day_and_environment() {
    let server = TestServer::start().await;
    let today = utc_date();
    let mut ns = Vec::new();
    for _ in 0..3 {
        let (s, v) = server
            .post(
                "/api/v1/worker/deployments",
                json!({"tasks": tasks(&["t"]), "promote": false}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        assert!(v["id"].as_str().unwrap().starts_with("deployment_"), "{v}");
        assert_eq!(
            v["current"],
            json!(true),
            "dev registrations are always promoted: {v}"
        );
        assert!(v["promotedAt"].is_string(), "{v}");
        let (date, n) = version_parts(v["version"].as_str().unwrap());
        assert_eq!(date, today);
        ns.push(n);
    }
    assert_eq!(ns, vec![1, 2, 3]);

    // Prod counts on its own; without promote it is not current.
    let (s, v) = server
        .post_as(
            PROD_KEY,
            "/api/v1/worker/deployments",
            json!({"tasks": tasks(&["t"])}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(version_parts(v["version"].as_str().unwrap()).1, 1);
    assert_eq!(v["current"], json!(false), "{v}");
    let (s, v) = server.get_as(PROD_KEY, "/api/v1/deployments/current").await;
    assert_error(s, &v, &[404], &[], "no current prod deployment");

    let (s, v) = server.get("/api/v1/deployments/current").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["version"], json!(format!("{today}.3")));
    assert_eq!(v["status"], json!("DEPLOYED"));
    let (s, v) = server.get("/api/v1/deployments").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"].as_array().unwrap().len(), 3, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn payload_schema_is_enforced_at_trigger() {
    let server = TestServer::start().await;
    server
        .deploy(json!([{
            "id": "send-email",
            "payloadSchema": {"type": "object", "required": ["to"], "properties": {"to": {"type": "string"}}}
        }]))
        .await;
    let (s, v) = server
        .try_trigger("send-email", json!({"x": 1}), json!({}))
        .await;
    assert_error(
        s,
        &v,
        &[422],
        &["to", "schema", "payload"],
        "payload missing `to`",
    );
    let (s, v) = server
        .try_trigger("send-email", json!({"to": 5}), json!({}))
        .await;
    assert_error(s, &v, &[422], &[], "payload with a wrong type");
    assert_eq!(
        server.list_all("").await.len(),
        0,
        "no run created by a rejected trigger"
    );

    let (s, v) = server
        .try_trigger("send-email", json!({"to": "a@b.c"}), json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    // The SuperJSON form is validated by its `json` member.
    let r = server
        .trigger_raw(
            "send-email",
            json!({"payload": "{\"json\":{\"to\":\"x@y.z\"}}", "options": {"payloadType": "application/super+json"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = server
        .trigger_raw("send-email", json!({"payload": "{\"json\":{\"no\":1}}", "options": {"payloadType": "application/super+json"}}))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(server.list_all("").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_manifests_are_400() {
    let server = TestServer::start().await;
    let long = "a".repeat(129);
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"tasks": [{"queue": {"name": "q"}}]}), vec!["id"]),
        (
            json!({"tasks": [{"id": "dup"}, {"id": "dup"}]}),
            vec!["dup"],
        ),
        (json!({"tasks": [{"id": "bad id!"}]}), vec!["bad id!", "id"]),
        (json!({"tasks": [{"id": long}]}), vec!["id"]),
        (json!({"tasks": [{"id": ""}]}), vec!["id"]),
        (
            json!({"tasks": [{"id": "s", "payloadSchema": {"type": 12}}]}),
            vec!["payloadSchema", "schema"],
        ),
        (
            json!({"tasks": [{"id": "s", "payloadSchema": "not an object"}]}),
            vec!["payloadSchema", "schema"],
        ),
        (
            json!({"tasks": [{"id": "q", "queue": {"name": "x", "concurrencyLimit": -1}}]}),
            vec!["concurrencyLimit"],
        ),
        (
            json!({"tasks": [{"id": "r", "retry": {"maxAttempts": 0}}]}),
            vec!["maxAttempts"],
        ),
        (
            json!({"tasks": [{"id": "m", "maxDuration": -5}]}),
            vec!["maxDuration"],
        ),
        (
            json!({"tasks": [{"id": "m", "machine": "huge-9x"}]}),
            vec!["machine"],
        ),
        (json!({"tasks": "nope"}), vec!["tasks"]),
        (json!({}), vec!["tasks"]),
    ];
    for (body, needles) in cases {
        let (s, v) = server
            .post("/api/v1/worker/deployments", body.clone())
            .await;
        assert_error(s, &v, &[400], &needles, &format!("manifest {body}"));
    }
    let r = server
        .send(
            Req::new("POST", "/api/v1/worker/deployments")
                .raw_body("application/json", "{\"tasks\": ["),
        )
        .await;
    assert_error(r.status, &r.json, &[400], &[], "truncated JSON manifest");
    let (s, v) = server.get("/api/v1/deployments").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["data"].as_array().unwrap().len(),
        0,
        "nothing registered: {v}"
    );
    let (s, _) = server.get("/api/v1/deployments/current").await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dequeue_returns_only_runs_of_the_workers_version() {
    let server = TestServer::start().await;
    let v1 = server.deploy_as(PROD_KEY, tasks(&["t"]), true).await;
    let a = server
        .trigger_as(PROD_KEY, "t", json!({"r": "a"}), json!({}))
        .await;
    let v2 = server.deploy_as(PROD_KEY, tasks(&["t"]), false).await;
    let b = server
        .trigger_as(PROD_KEY, "t", json!({"r": "b"}), json!({}))
        .await;
    assert_eq!(
        server.run_as(PROD_KEY, &b).await["version"],
        json!(v1),
        "v2 is not current yet"
    );
    assert!(server.dequeue_as(PROD_KEY, &v2, 10, 0).await.is_empty());

    let (s, v) = server
        .call_as(
            PROD_KEY,
            "POST",
            &format!("/api/v1/deployments/{v2}/promote"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, cur) = server.get_as(PROD_KEY, "/api/v1/deployments/current").await;
    assert_eq!(cur["version"], json!(v2));
    let c = server
        .trigger_as(PROD_KEY, "t", json!({"r": "c"}), json!({}))
        .await;
    assert_eq!(server.run_as(PROD_KEY, &c).await["version"], json!(v2));

    let got2 = server.dequeue_as(PROD_KEY, &v2, 10, 0).await;
    assert_eq!(
        got2.iter().map(|r| r["runId"].clone()).collect::<Vec<_>>(),
        vec![json!(c)]
    );
    let got1 = server.dequeue_as(PROD_KEY, &v1, 10, 0).await;
    assert_eq!(
        got1.iter().map(|r| r["runId"].clone()).collect::<Vec<_>>(),
        vec![json!(a), json!(b)],
        "prod runs stay on their locked version"
    );
    for r in got1.iter().chain(got2.iter()) {
        assert_eq!(r["environment"]["slug"], json!("prod"), "{r}");
        assert_eq!(r["environment"]["type"], json!("PRODUCTION"), "{r}");
    }
    // The dev key sees no prod runs.
    let (s, v) = server
        .post(
            "/api/v1/worker/dequeue",
            json!({"version": v1, "maxRuns": 10}),
        )
        .await;
    assert!(
        s == 200 && v["runs"].as_array().is_some_and(|r| r.is_empty()) || s == 404,
        "{s} {v}"
    );

    // Promoting back to an earlier version works.
    let (s, v) = server
        .call_as(
            PROD_KEY,
            "POST",
            &format!("/api/v1/deployments/{v1}/promote"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let d = server.trigger_as(PROD_KEY, "t", json!({}), json!({})).await;
    assert_eq!(server.run_as(PROD_KEY, &d).await["version"], json!(v1));
    let (s, v) = server
        .call_as(
            PROD_KEY,
            "POST",
            "/api/v1/deployments/19990101.1/promote",
            None,
        )
        .await;
    assert_error(s, &v, &[404], &[], "promote an unknown version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dequeued_run_carries_the_documented_fields() {
    let server = TestServer::start().await;
    let version = server
        .deploy(json!([{"id": "send-email", "queue": {"name": "emails", "concurrencyLimit": 10}, "maxDuration": 300, "machine": "small-1x",
                         "retry": {"maxAttempts": 3}}]))
        .await;
    let id = server
        .trigger(
            "send-email",
            json!({"to": "a@b.c"}),
            json!({"tags": ["user_1"], "metadata": {"m": 1}, "concurrencyKey": "tenant-1",
                   "idempotencyKey": sha256_hex("order-42"), "idempotencyKeyOptions": {"key": "order-42", "scope": "global"}}),
        )
        .await;
    let got = server.dequeue(&version, 50, 0).await;
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r["runId"], json!(id));
    assert_eq!(r["taskIdentifier"], json!("send-email"));
    assert_eq!(r["attempt"], json!(1));
    assert!(r["lease"].as_str().unwrap().starts_with("lease_"), "{r}");
    parse_ms(&r["leaseExpiresAt"]);
    assert_eq!(r["payload"], json!({"to": "a@b.c"}));
    assert_eq!(r["payloadType"], json!("application/json"));
    assert_eq!(r["metadata"], json!({"m": 1}));
    assert_eq!(r["tags"], json!(["user_1"]));
    assert_eq!(r["version"], json!(version));
    assert_eq!(r["queue"], json!("emails"));
    assert_eq!(r["concurrencyKey"], json!("tenant-1"));
    assert_eq!(r["maxAttempts"], json!(3));
    assert_eq!(r["maxDuration"], json!(300));
    assert_eq!(r["machine"], json!("small-1x"));
    assert_eq!(r["idempotencyKey"], json!("order-42"));
    parse_ms(&r["createdAt"]);
    parse_ms(&r["startedAt"]);
    assert_eq!(r["environment"]["slug"], json!("dev"));
    assert_eq!(r["environment"]["type"], json!("DEVELOPMENT"));
    assert!(
        r["environment"]["id"].as_str().unwrap().starts_with("env_"),
        "{r}"
    );
    for f in ["parentRunId", "rootRunId", "batchId"] {
        assert!(
            r.get(f).is_none(),
            "absent optional `{f}` must be omitted: {r}"
        );
    }
    assert_eq!(server.status(&id).await, "DEQUEUED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn long_poll_returns_promptly_when_a_run_arrives() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;

    // Nothing to do: the request is held about waitMs.
    let start = Instant::now();
    let got = server.dequeue(&version, 1, 1000).await;
    let held = start.elapsed();
    assert!(got.is_empty());
    assert!(
        held >= Duration::from_millis(900),
        "held {held:?} for waitMs 1000"
    );
    assert!(
        held < Duration::from_millis(3000),
        "held {held:?} for waitMs 1000"
    );

    let http = server.http.clone();
    let base = server.base_url.clone();
    let v = version.clone();
    let start = Instant::now();
    let waiter = tokio::spawn(async move {
        let r = send_to(
            &http,
            &base,
            Req::new("POST", "/api/v1/worker/dequeue")
                .json(&json!({"version": v, "maxRuns": 5, "waitMs": 5000})),
        )
        .await;
        (r, Instant::now())
    });
    // Give the dequeue a head start so it is parked when the run arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = server.trigger("t", json!({"wake": 1}), json!({})).await;
    let (r, at) = waiter.await.unwrap();
    let elapsed = at - start;
    assert_eq!(r.status, 200, "{}", r.text);
    let runs = r.json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{}", r.text);
    assert_eq!(runs[0]["runId"], json!(id));
    assert!(
        elapsed < Duration::from_secs(4),
        "long-poll answered after {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batched_complete_judges_each_completion() {
    let server = TestServer::start().await;
    let version = server
        .deploy(json!([{"id": "t", "retry": {"maxAttempts": 2, "randomize": false}}]))
        .await;
    let ids: Vec<String> = {
        let mut v = Vec::new();
        for i in 0..4 {
            v.push(server.trigger("t", json!({"i": i}), json!({})).await);
        }
        v
    };
    let got = server.dequeue(&version, 4, 0).await;
    assert_eq!(got.len(), 4);
    let (s, v) = server
        .post(
            "/api/v1/worker/complete",
            json!({"completions": [
                {"runId": got[0]["runId"], "lease": got[0]["lease"], "ok": true, "output": {"n": 0}},
                {"runId": got[1]["runId"], "lease": got[1]["lease"], "ok": false, "error": {"message": "bad"}, "retry": false},
                {"runId": got[2]["runId"], "lease": "lease_wrong", "ok": true, "output": 2},
                {"runId": "run_doesnotexist000000000", "lease": "lease_x", "ok": true, "output": 3},
                {"runId": got[3]["runId"], "lease": got[3]["lease"], "ok": false, "error": {"message": "again"}}
            ]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let res = v["results"].as_array().expect("results");
    assert_eq!(res.len(), 5);
    assert_eq!(res[0]["runId"], got[0]["runId"]);
    assert_eq!(res[0]["status"], json!("COMPLETED"));
    assert_eq!(res[0]["willRetry"], json!(false));
    assert_eq!(res[1]["status"], json!("FAILED"));
    assert_eq!(res[2]["runId"], got[2]["runId"]);
    assert_eq!(res[2]["code"], json!("lease_lost"));
    assert!(res[2]["error"].is_string());
    assert!(res[3]["error"].is_string(), "{}", res[3]);
    assert_eq!(res[4]["status"], json!("QUEUED"));
    assert_eq!(res[4]["willRetry"], json!(true));
    assert!(res[4]["retryAt"].is_string());

    let status = |i: usize| server.status(got[i]["runId"].as_str().unwrap());
    assert_eq!(status(0).await, "COMPLETED");
    assert_eq!(
        server.run(got[0]["runId"].as_str().unwrap()).await["output"],
        json!({"n": 0})
    );
    assert_eq!(status(1).await, "FAILED");
    assert_eq!(
        status(2).await,
        "DEQUEUED",
        "the refused completion changed nothing"
    );
    assert_eq!(status(3).await, "QUEUED");
    // The refused one can still complete with its real lease.
    let (s, v) = server.complete_ok(&got[2], json!(2)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(ids.len(), 4);

    // More than 500 completions → 400.
    let many: Vec<Value> = (0..501)
        .map(|_| json!({"runId": "run_x", "lease": "lease_x", "ok": true}))
        .collect();
    let (s, v) = server
        .post("/api/v1/worker/complete", json!({"completions": many}))
        .await;
    assert_error(s, &v, &[400, 413], &[], "501 completions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn double_completion_is_409() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let got = server.dequeue(&version, 1, 0).await;
    let (s, v) = server.complete_ok(&got[0], json!("first")).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = server.complete_ok(&got[0], json!("second")).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["code"], json!("lease_lost"));
    assert_eq!(v["status"], json!("COMPLETED"));
    let (s, _) = server.complete_err(&got[0], "late failure").await;
    assert_eq!(s, 409);
    let run = server.run(&id).await;
    assert_eq!(run["status"], json!("COMPLETED"));
    assert_eq!(run["output"], json!("first"));
    let (s, v) = server.heartbeat(&got[0]).await;
    assert_eq!((s, v["code"].clone()), (409, json!("lease_lost")), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_double_completion_accepts_exactly_one() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let got = server.dequeue(&version, 1, 0).await;
    let futs = (0..10).map(|i| {
        let r = got[0].clone();
        let server = &server;
        async move { server.complete_ok(&r, json!(i)).await }
    });
    let answers = futures::future::join_all(futs).await;
    let ok: Vec<&(u16, Value)> = answers.iter().filter(|(s, _)| *s == 200).collect();
    assert_eq!(ok.len(), 1, "exactly one completion accepted: {answers:?}");
    assert!(
        answers.iter().all(|(s, _)| *s == 200 || *s == 409),
        "{answers:?}"
    );
    assert_eq!(server.status(&id).await, "COMPLETED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn heartbeat_after_cancel_is_409() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let got = server.dequeue(&version, 1, 0).await;
    let (s, v) = server.heartbeat(&got[0]).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], json!("EXECUTING"));
    assert_eq!(server.cancel(&id).await.0, 200);
    let (s, v) = server.heartbeat(&got[0]).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["code"], json!("lease_lost"));
    assert_eq!(v["status"], json!("CANCELED"));
    let (s, v) = server.complete_ok(&got[0], json!(1)).await;
    assert_eq!((s, v["code"].clone()), (409, json!("lease_lost")), "{v}");
    assert_eq!(server.status(&id).await, "CANCELED");

    // The canceled run's slot is free again.
    let version2 = server
        .deploy(json!([{"id": "one", "queue": {"name": "single", "concurrencyLimit": 1}}]))
        .await;
    let a = server.trigger("one", json!({}), json!({})).await;
    let b = server.trigger("one", json!({}), json!({})).await;
    let got = server.dequeue(&version2, 5, 0).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["runId"], json!(a));
    assert_eq!(server.cancel(&a).await.0, 200);
    let got = server.dequeue(&version2, 5, 0).await;
    assert_eq!(got.len(), 1, "cancel releases the concurrency slot");
    assert_eq!(got[0]["runId"], json!(b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_get_distinct_versions() {
    let server = TestServer::start().await;
    let futs = (0..10).map(|_| {
        server.post(
            "/api/v1/worker/deployments",
            json!({"tasks": tasks(&["t"])}),
        )
    });
    let mut ns = Vec::new();
    for (s, v) in futures::future::join_all(futs).await {
        assert_eq!(s, 201, "{v}");
        ns.push(version_parts(v["version"].as_str().unwrap()).1);
    }
    ns.sort();
    assert_eq!(
        ns,
        (1..=10).collect::<Vec<u32>>(),
        "versions 1..10, none repeated"
    );
    let (_, cur) = server.get("/api/v1/deployments/current").await;
    let (_, list) = server.get("/api/v1/deployments").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 10);
    assert!(cur["version"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn heartbeat_with_a_wrong_lease_is_409_and_changes_nothing() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let got = server.dequeue(&version, 1, 0).await;
    let (s, v) = server
        .post(
            &format!("/api/v1/worker/runs/{id}/heartbeat"),
            json!({"lease": "lease_forged"}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["code"], json!("lease_lost"));
    assert_eq!(v["status"], json!("DEQUEUED"));
    assert_eq!(server.status(&id).await, "DEQUEUED");
    let (s, v) = server
        .post(
            &format!("/api/v1/worker/runs/{id}/complete"),
            json!({"lease": "lease_forged", "ok": true}),
        )
        .await;
    assert_eq!((s, v["code"].clone()), (409, json!("lease_lost")), "{v}");
    assert_eq!(server.complete_ok(&got[0], json!(1)).await.0, 200);
}

/// A worker restarted with the same build (same content hash and manifest) gets its earlier
/// version back, so the runs locked to it are served again; anything else is a new version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_build_registers_to_the_same_version() {
    let server = TestServer::start().await;
    let register = |tasks: Value, hash: Value| {
        server.post(
            "/api/v1/worker/deployments",
            json!({"tasks": tasks, "contentHash": hash}),
        )
    };
    let (s, first) = register(tasks(&["t"]), json!("build-1")).await;
    assert_eq!((s, first["reused"].clone()), (201, json!(false)), "{first}");
    let run = server.trigger("t", json!({}), json!({})).await;

    // Another version in between: the restart must still find build-1 and make it current.
    let (s, other) = register(tasks(&["t"]), json!("build-2")).await;
    assert_eq!(s, 201, "{other}");
    assert_ne!(other["version"], first["version"]);
    let (s, again) = register(tasks(&["t"]), json!("build-1")).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["version"], first["version"]);
    assert_eq!(
        (again["reused"].clone(), again["current"].clone()),
        (json!(true), json!(true))
    );
    let version = first["version"].as_str().unwrap();
    let got = server.dequeue(version, 5, 0).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["runId"], json!(run));

    // The same hash with another manifest is not the same build.
    let (s, changed) = register(tasks(&["t", "u"]), json!("build-1")).await;
    assert_eq!(
        (s, changed["reused"].clone()),
        (201, json!(false)),
        "{changed}"
    );
    assert_ne!(changed["version"], first["version"]);
    // No hash: always a new version.
    let (s, plain) = register(tasks(&["t"]), Value::Null).await;
    assert_eq!((s, plain["reused"].clone()), (201, json!(false)), "{plain}");

    for bad in [json!(""), json!("x".repeat(129)), json!(5)] {
        let (s, v) = register(tasks(&["t"]), bad.clone()).await;
        assert_eq!(s, 400, "{bad}: {v}");
        assert!(v["error"].as_str().unwrap().contains("contentHash"), "{v}");
    }
}

/// `start: true` hands runs out `EXECUTING`, with no first heartbeat; the lease works as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dequeue_with_start_hands_out_executing_runs() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({"test": true})).await;
    let (s, v) = server
        .post(
            "/api/v1/worker/dequeue",
            json!({"version": version, "maxRuns": 5, "start": true}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let got = v["runs"].as_array().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["isTest"], json!(true), "{v}");
    assert_eq!(server.status(&id).await, "EXECUTING");
    let lease = got[0]["lease"].as_str().unwrap();
    let (s, hb) = server
        .post(
            &format!("/api/v1/worker/runs/{id}/heartbeat"),
            json!({"lease": lease}),
        )
        .await;
    assert_eq!((s, hb["status"].clone()), (200, json!("EXECUTING")), "{hb}");
    let (s, done) = server.complete_ok(&got[0], json!(1)).await;
    assert_eq!(
        (s, done["status"].clone()),
        (200, json!("COMPLETED")),
        "{done}"
    );
    let (s, v) = server
        .post(
            "/api/v1/worker/dequeue",
            json!({"version": version, "start": "yes"}),
        )
        .await;
    assert_eq!(s, 400, "{v}");
}
