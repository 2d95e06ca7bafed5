//! Hostile clients: input whose cost would grow with its square, keys that would hand a public
//! token somebody else's run, bodies read before the caller is authorised, numbers that would
//! overflow, and answers a browser could be tricked into running. Each case is answered at
//! once with a clear 4xx and changes nothing.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// Patience for an answer that must not depend on the size of hostile input.
const PROMPT: Duration = Duration::from_secs(20);

fn distinct_tags(n: usize) -> Value {
    Value::Array((0..n).map(|i| json!(format!("tag-{i}"))).collect())
}

/// Sends `r` and fails if the answer takes longer than [`PROMPT`].
async fn promptly(server: &TestServer, r: Req, what: &str) -> Resp {
    tokio::time::timeout(PROMPT, server.send(r))
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {PROMPT:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tags_are_refused_without_quadratic_work() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let batch = server
        .create_batch(json!({"runCount": 1, "taskIdentifiers": ["t"]}))
        .await;
    let batch_id = batch.json["id"].as_str().unwrap().to_string();
    let tags = distinct_tags(150_000);
    let item = json!({"index": 0, "task": "t", "payload": {}, "options": {"tags": tags}});
    let cases = [
        Req::new("POST", "/api/v1/tasks/t/trigger")
            .json(&json!({"payload": {}, "options": {"tags": tags}})),
        Req::new("POST", &format!("/api/v1/runs/{id}/tags")).json(&json!({"tags": tags})),
        Req::new("POST", "/api/v1/waitpoints/tokens").json(&json!({"tags": tags})),
        Req::new("POST", &format!("/api/v3/batches/{batch_id}/items"))
            .raw_body("application/x-ndjson", format!("{item}\n")),
    ];
    // All at once, and the server stays responsive meanwhile.
    let answers = futures::future::join_all(
        cases
            .into_iter()
            .map(|r| promptly(&server, r, "150,000 tags")),
    );
    let health = promptly(&server, Req::new("GET", "/healthz").no_key(), "healthz");
    let (answers, health) = tokio::join!(answers, health);
    assert_eq!(health.status, 200);
    for a in answers {
        assert_eq!(a.status, 422, "{}", a.text);
        let error = a.json["error"].as_str().unwrap();
        assert!(error.contains("can only have 10 tags"), "{error}");
    }
    assert_eq!(server.run(&id).await["tags"], json!([]));
    // Duplicates still count once.
    let same = json!(vec!["x"; 50_000]);
    let r = server
        .send(Req::new("POST", &format!("/api/v1/runs/{id}/tags")).json(&json!({"tags": same})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(server.run(&id).await["tags"], json!(["x"]));
}

async fn put_metadata(server: &TestServer, id: &str, body: Value) -> Resp {
    server
        .send(Req::new("PUT", &format!("/api/v1/runs/{id}/metadata")).json(&body))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metadata_operations_are_bounded_and_all_or_nothing() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let zeros = vec![0; 100_000];
    let r = put_metadata(&server, &id, json!({"metadata": {"l": zeros, "n": 1}})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"type": "set", "key": format!("k{i}"), "value": i}))
        .collect();
    let r = put_metadata(&server, &id, json!({"operations": too_many})).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.json["error"]
        .as_str()
        .unwrap()
        .contains("at most 1000 operations"));

    // Each remove compares the whole array: 20 of them over 100,000 elements is past the
    // budget, refused before anything is written.
    let mut ops = vec![json!({"type": "increment", "key": "n", "value": 1})];
    ops.extend((0..20).map(|_| json!({"type": "remove", "key": "l", "value": 7})));
    let r = promptly(
        &server,
        Req::new("PUT", &format!("/api/v1/runs/{id}/metadata")).json(&json!({"operations": ops})),
        "20 removes",
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.json["error"].as_str().unwrap().contains("remove"));

    // A number out of range is an error, never a silent null.
    let big = json!({"operations": [{"type": "increment", "key": "big", "value": 1e308}]});
    assert_eq!(put_metadata(&server, &id, big.clone()).await.status, 200);
    let r = put_metadata(&server, &id, big).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.json["error"].as_str().unwrap().contains("out of range"));

    // Nothing can nest deeper than metadata can be read back.
    let nested = (0..60).fold(json!(1), |v, _| json!({ "a": v }));
    let set = |key: &str| json!({"type": "set", "key": key, "value": nested});
    let deep_path = format!("$.d{}", ".a".repeat(59));
    let ops = json!({"operations": [set("d"), set(&deep_path)]});
    let r = put_metadata(&server, &id, ops).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.json["error"].as_str().unwrap().contains("levels deep"),
        "{}",
        r.text
    );

    let (_, m) = server.get(&format!("/api/v1/runs/{id}/metadata")).await;
    assert_eq!(
        m["metadata"]["n"],
        json!(1),
        "nothing of the refused updates"
    );
    assert_eq!(m["metadata"]["big"], json!(1e308));
    assert_eq!(m["metadata"]["l"].as_array().unwrap().len(), 100_000);
}

/// Triggers `task` with the credential `key` and these options and request key.
async fn trigger_with(
    server: &TestServer,
    key: &str,
    task: &str,
    options: Value,
    request_key: Option<&str>,
) -> Resp {
    let mut r = Req::new("POST", &format!("/api/v1/tasks/{task}/trigger"))
        .key(key)
        .json(&json!({"payload": {"secret": "s3cr3t"}, "options": options}));
    if let Some(k) = request_key {
        r = r.header("x-trigger-request-idempotency-key", k);
    }
    server.send(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_public_token_is_never_answered_with_a_run_it_may_not_read() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t1", "t2"])).await;
    let opts = json!({"idempotencyKey": "user-42"});
    let theirs = trigger_with(&server, DEV_KEY, "t1", opts.clone(), Some("req-1")).await;
    let theirs_id = theirs.json["id"].as_str().unwrap().to_string();
    let other_task = trigger_with(&server, DEV_KEY, "t2", json!({}), Some("req-2")).await;
    assert_eq!(other_task.status, 200, "{}", other_task.text);

    let trigger_only = public_token(&server, &["trigger:tasks:t1".to_string()]).await;
    let refused = [
        (
            "idempotencyKey of a run it may not read",
            opts.clone(),
            None,
        ),
        (
            "request key of a run it may not read",
            json!({}),
            Some("req-1"),
        ),
        (
            "request key of another task's run",
            json!({}),
            Some("req-2"),
        ),
    ];
    for (what, options, request_key) in refused {
        let r = trigger_with(&server, &trigger_only, "t1", options, request_key).await;
        assert_eq!(r.status, 409, "{what}: {}", r.text);
        assert!(r.header("x-trigger-jwt").is_none(), "{what}");
        assert!(!r.text.contains("run_"), "{what} names no run: {}", r.text);
    }
    // Even a secret key cannot take over another task's request key.
    let r = trigger_with(&server, DEV_KEY, "t1", json!({}), Some("req-2")).await;
    assert_eq!(r.status, 409, "{}", r.text);

    // A token that may read the run gets it, as before.
    let reader = public_token(
        &server,
        &["trigger:tasks:t1".to_string(), "read:tasks:t1".to_string()],
    )
    .await;
    let r = trigger_with(&server, &reader, "t1", opts, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["id"], json!(theirs_id));
    assert_eq!(r.json["isCached"], json!(true));

    // Batches: a cached batch, and an item whose key names a run the token may not read.
    let batch_opts = json!({"runCount": 1, "taskIdentifiers": ["t1"], "idempotencyKey": "b-1"});
    let first = server.create_batch(batch_opts.clone()).await;
    assert_eq!(first.status, 202, "{}", first.text);
    let r = server
        .send(
            Req::new("POST", "/api/v3/batches")
                .key(&trigger_only)
                .json(&batch_opts),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    let mine = server
        .send(
            Req::new("POST", "/api/v3/batches")
                .key(&trigger_only)
                .json(&json!({"runCount": 1, "taskIdentifiers": ["t1"]})),
        )
        .await;
    let mine_id = mine.json["id"].as_str().unwrap().to_string();
    let item =
        json!({"index": 0, "task": "t1", "payload": {}, "options": {"idempotencyKey": "user-42"}});
    let r = server
        .send(
            Req::new("POST", &format!("/api/v3/batches/{mine_id}/items"))
                .key(&trigger_only)
                .raw_body("application/x-ndjson", format!("{item}\n")),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    let (_, b) = server.get(&format!("/api/v2/batches/{mine_id}")).await;
    assert_eq!(b["runs"], json!([]), "nothing half-written: {b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_public_token_may_only_parent_runs_it_may_write() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let parent = server.trigger("t", json!({}), json!({})).await;
    let before = server.list_ids("").await.len();
    let trigger_only = public_token(&server, &["trigger:tasks:t".to_string()]).await;
    let opts = json!({"parentRunId": parent});
    let r = trigger_with(&server, &trigger_only, "t", opts.clone(), None).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let batch = server
        .send(
            Req::new("POST", "/api/v3/batches")
                .key(&trigger_only)
                .json(&json!({"runCount": 1, "taskIdentifiers": ["t"]})),
        )
        .await;
    let batch_id = batch.json["id"].as_str().unwrap().to_string();
    let item = json!({"index": 0, "task": "t", "payload": {}, "options": opts});
    let r = server
        .send(
            Req::new("POST", &format!("/api/v3/batches/{batch_id}/items"))
                .key(&trigger_only)
                .raw_body("application/x-ndjson", format!("{item}\n")),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(server.list_ids("").await.len(), before);

    let writer = public_token(
        &server,
        &[
            "trigger:tasks:t".to_string(),
            format!("write:runs:{parent}"),
        ],
    )
    .await;
    let r = trigger_with(&server, &writer, "t", opts, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let child = server.run(r.json["id"].as_str().unwrap()).await;
    assert_eq!(child["parentRunId"], json!(parent));
}

/// Opens `POST path` with a chunked body of which only `first` is ever sent, and returns the
/// answer the server gives without waiting for the rest.
async fn answer_to_unfinished_body(
    server: &TestServer,
    key: &str,
    path: &str,
    first: Vec<u8>,
) -> (u16, Value) {
    let (tx, rx) = futures::channel::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let mut tx = tx;
    tx.try_send(Ok(first)).unwrap();
    // A client of its own: the server closes a connection whose body it did not read, so it
    // must not go back to the shared pool.
    let req = reqwest::Client::new()
        .post(server.url(path))
        .bearer_auth(key)
        .header("content-type", "application/x-ndjson")
        .body(reqwest::Body::wrap_stream(rx));
    let resp = tokio::time::timeout(PROMPT, req.send())
        .await
        .unwrap_or_else(|_| panic!("{path}: no answer before the body ends"))
        .expect("response");
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    drop(tx);
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_items_are_authorised_and_bounded_before_the_body_is_read() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t", "u"])).await;
    let batch = server
        .create_batch(json!({"runCount": 2, "taskIdentifiers": ["t"]}))
        .await;
    let batch_id = batch.json["id"].as_str().unwrap().to_string();
    let path = format!("/api/v3/batches/{batch_id}/items");
    let line = |i: i64, task: &str| format!("{}\n", json!({"index": i, "task": task}));

    // A read-only token is refused before any of the body is read.
    let reader = public_token(&server, &["read:runs".to_string()]).await;
    let (s, body) = answer_to_unfinished_body(&server, &reader, &path, line(0, "t").into()).await;
    assert_eq!(s, 403, "{body}");
    // A token for task t is refused at the first item of another task.
    let token_t = public_token(&server, &["batchTrigger:tasks:t".to_string()]).await;
    let (s, body) = answer_to_unfinished_body(&server, &token_t, &path, line(0, "u").into()).await;
    assert_eq!(s, 403, "{body}");
    // A line over the limit (the payload limit and 1 MiB) is refused as soon as it is.
    let long = vec![b' '; 3 * 1024 * 1024 + 1024 * 1024 + 1];
    let (s, body) = answer_to_unfinished_body(&server, DEV_KEY, &path, long).await;
    assert_eq!(s, 413, "{body}");
    assert!(body["error"].as_str().unwrap().contains("Line 1"), "{body}");
    // More items than any batch may have.
    let many: String = (0..1001).map(|i| line(i, "t")).collect();
    let (s, body) = answer_to_unfinished_body(&server, DEV_KEY, &path, many.into()).await;
    assert_eq!(s, 413, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("1000 items"),
        "{body}"
    );

    // Nothing was written, and a proper call still works.
    let r = server
        .send(
            Req::new("POST", &path).raw_body("application/x-ndjson", line(0, "t") + &line(1, "t")),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["itemsAccepted"], json!(2));
    assert_eq!(r.json["sealed"], json!(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overflowing_durations_are_refused() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    for ttl in ["106751991167d", "36501d", "99999999999999999999s"] {
        let opts = json!({"idempotencyKey": "k", "idempotencyKeyTTL": ttl});
        let (s, body) = server.try_trigger("t", json!({}), opts).await;
        assert_eq!(s, 400, "{ttl}: {body}");
        assert!(body["error"]
            .as_str()
            .unwrap()
            .contains("idempotencyKeyTTL"));
        let (s, body) = server
            .post(
                "/api/v1/waitpoints/tokens",
                json!({"idempotencyKey": "k", "idempotencyKeyTTL": ttl}),
            )
            .await;
        assert_eq!(s, 400, "{ttl}: {body}");
    }
    assert!(server.list_ids("").await.is_empty());
    // The longest accepted TTL still deduplicates.
    let opts = json!({"idempotencyKey": "k", "idempotencyKeyTTL": "36500d"});
    let a = server.trigger("t", json!({}), opts.clone()).await;
    let b = server.trigger("t", json!({}), opts).await;
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn last_event_id_past_every_chunk_replays_nothing() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["w"])).await;
    let id = server.trigger("w", json!({}), json!({})).await;
    let run = server.dequeue(&version, 1, 5000).await.remove(0);
    let lease = run["lease"].as_str().unwrap().to_string();
    let r = server
        .send(
            Req::new("POST", &format!("/realtime/v1/streams/{id}/self/out"))
                .raw_body("application/x-ndjson", "1\n2\n3\n")
                .header("x-trigr-lease", &lease),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(server.complete_ok(&run, json!(null)).await.0, 200);

    let read = |last: &'static str| {
        let server = &server;
        let path = format!("/realtime/v1/streams/{id}/out");
        async move {
            let r = server
                .send(
                    Req::new("GET", &path)
                        .header("last-event-id", last)
                        .header("timeout-seconds", "5"),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.text.lines().filter(|l| l.starts_with("data:")).count()
        }
    };
    assert_eq!(read("0-0").await, 2);
    assert_eq!(read("0-9223372036854775807").await, 0);
    assert_eq!(read("9223372036854775807").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_schedule_that_never_fires_is_refused() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["report"])).await;
    let refused = [
        ("0 0 30 2 *", None, "never fires"),
        ("0 0 31 4 *", None, "never fires"),
        (", * * * *", None, "empty item"),
        (
            "0 * * * *",
            Some("18446744073709551615m"),
            "at most 24 hours",
        ),
    ];
    for (cron, window, why) in refused {
        let body =
            json!({"task": "report", "cron": cron, "window": window, "deduplicationKey": "r"});
        let (s, body) = server.post("/api/v1/schedules", body).await;
        assert_eq!(s, 422, "{cron}: {body}");
        assert!(body["error"].as_str().unwrap().contains(why), "{body}");
    }
    let manifest = json!([{"id": "report", "schedule": {"cron": "0 0 30 2 *"}}]);
    let (s, body) = server
        .post("/api/v1/worker/deployments", json!({"tasks": manifest}))
        .await;
    assert_eq!(s, 422, "{body}");
    let (_, list) = server.get("/api/v1/schedules").await;
    assert_eq!(list["data"], json!([]), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blobs_are_served_as_attachments_never_as_pages() {
    let server = TestServer::start().await;
    let (s, put) = server.call("PUT", "/api/v2/packets/page.html", None).await;
    assert_eq!(s, 200, "{put}");
    let upload = put["presignedUrl"].as_str().unwrap().to_string();
    let page = "<html><script>alert(document.cookie)</script></html>";
    let r = server
        .http
        .put(&upload)
        .header("content-type", "text/html")
        .body(page)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (s, get) = server.get("/api/v1/packets/page.html").await;
    assert_eq!(s, 200, "{get}");
    let r = server
        .http
        .get(get["presignedUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "application/octet-stream");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-disposition"], "attachment");
    assert_eq!(
        r.text().await.unwrap(),
        page,
        "the bytes themselves are kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn public_tokens_are_held_to_their_expiry_and_not_before() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let now = chrono::Utc::now().timestamp();
    let scopes = json!(["read:runs"]);
    let cases = [
        (
            "expired 30 s ago",
            json!({"scopes": scopes, "iat": now - 600, "exp": now - 30}),
            401,
        ),
        (
            "valid from a minute on",
            json!({"scopes": scopes, "iat": now, "nbf": now + 60, "exp": now + 600}),
            401,
        ),
        (
            "a not-before out of range",
            json!({"scopes": scopes, "iat": now, "nbf": 1e300, "exp": now + 600}),
            401,
        ),
        (
            "an audience that is a number",
            json!({"scopes": scopes, "iat": now, "aud": 5, "exp": now + 600}),
            401,
        ),
        (
            "valid now",
            json!({"scopes": scopes, "iat": now, "nbf": now - 1, "exp": now + 600}),
            200,
        ),
    ];
    for (what, claims, want) in cases {
        let token = public_token_with(&server, claims).await;
        let (s, body) = server.get_as(&token, &format!("/api/v3/runs/{id}")).await;
        assert_eq!(s, want, "{what}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_filters_take_at_most_a_hundred_values() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    server
        .trigger("t", json!({}), json!({"tags": ["v7"]}))
        .await;
    let values = |n: usize| {
        (0..n)
            .map(|i| format!("v{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    for path in ["/api/v1/runs", "/api/v1/waitpoints/tokens"] {
        let (s, body) = server
            .get(&format!(
                "{path}?{}",
                query(&[("filter[tag]", &values(101))])
            ))
            .await;
        assert_eq!(s, 400, "{path}: {body}");
        assert!(body["error"]
            .as_str()
            .unwrap()
            .contains("at most 100 values"));
        let (s, body) = server
            .get(&format!(
                "{path}?{}",
                query(&[("filter[tag]", &values(100))])
            ))
            .await;
        assert_eq!(s, 200, "{path}: {body}");
    }
    let (_, runs) = server
        .get(&format!(
            "/api/v1/runs?{}",
            query(&[("filter[tag]", &values(100))])
        ))
        .await;
    assert_eq!(runs["data"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn routes_that_take_tokens_check_scopes_before_reading_the_body() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let (_, token) = server.post("/api/v1/waitpoints/tokens", json!({})).await;
    let token_id = token["id"].as_str().unwrap();
    let reader = public_token(&server, &["read:runs".to_string()]).await;
    let half_a_body = br#"{"payload": {"a": "#.to_vec();
    for path in [
        "/api/v1/tasks/t/trigger".to_string(),
        "/api/v3/batches".to_string(),
        format!("/realtime/v1/streams/{id}/input/chat"),
        format!("/api/v1/waitpoints/tokens/{token_id}/complete"),
    ] {
        let (s, body) =
            answer_to_unfinished_body(&server, &reader, &path, half_a_body.clone()).await;
        assert_eq!(s, 403, "{path}: {body}");
    }
}
