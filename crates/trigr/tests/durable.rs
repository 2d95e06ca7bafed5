//! Durable execution over HTTP (worker protocol §7): journaled steps replayed after retries
//! and crashes, waits that suspend and resume (durations, tokens, child runs, batches),
//! non-determinism, cancellation of waiting runs, and slots freed by suspension. Time moves
//! only through the test clock.

mod common;

use common::*;
use serde_json::{json, Value};

/// A task that retries after exactly one second, up to three attempts.
fn retrying(id: &str) -> Value {
    json!({"id": id, "retry": {"maxAttempts": 3, "factor": 1, "minTimeoutInMs": 1000,
                                "maxTimeoutInMs": 1000, "randomize": false}})
}

fn id_of(run: &Value) -> &str {
    run["runId"].as_str().expect("runId")
}

async fn step(
    server: &TestServer,
    run: &Value,
    position: u64,
    name: &str,
    output: Value,
) -> (u16, Value) {
    server
        .post(
            &format!("/api/v1/worker/runs/{}/steps", id_of(run)),
            json!({"lease": run["lease"], "position": position, "name": name, "output": output}),
        )
        .await
}

async fn wait(
    server: &TestServer,
    run: &Value,
    position: u64,
    name: &str,
    suspend: bool,
    wait: Value,
) -> (u16, Value) {
    server
        .post(
            &format!("/api/v1/worker/runs/{}/waits", id_of(run)),
            json!({"lease": run["lease"], "position": position, "name": name,
                   "suspend": suspend, "wait": wait}),
        )
        .await
}

/// Dequeues exactly one run.
async fn one(server: &TestServer, version: &str) -> Value {
    let mut got = server.dequeue(version, 10, 0).await;
    assert_eq!(got.len(), 1, "expected one run: {got:?}");
    got.remove(0)
}

/// Creates a token; returns its answer (`id`, `url`, `isCached`).
async fn token(server: &TestServer, body: Value) -> Value {
    let (s, v) = server.post("/api/v1/waitpoints/tokens", body).await;
    assert_eq!(s, 200, "create token: {v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journaled_step_is_replayed_after_a_retry_and_after_a_crash() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(json!([retrying("charge")])).await;
    let id = server.trigger("charge", json!({}), json!({})).await;

    let first = one(&server, &version).await;
    assert_eq!(first["attempt"], json!(1));
    assert_eq!(first["journal"], json!([]));
    assert_eq!(first["resumed"], json!(false));
    let (s, v) = step(&server, &first, 0, "charge-card", json!({"id": "ch_1"})).await;
    assert_eq!(
        (s, v.clone()),
        (200, json!({"position": 0, "recorded": true})),
        "{v}"
    );
    // The same position again: the first result wins.
    let (s, v) = step(&server, &first, 0, "charge-card", json!({"id": "ch_2"})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["recorded"], json!(false));
    assert_eq!(v["entry"]["output"], json!({"id": "ch_1"}), "{v}");
    let (s, v) = server.complete_err(&first, "the mail server is down").await;
    assert_eq!((s, v["willRetry"].clone()), (200, json!(true)), "{v}");

    // Retry: the step is in the journal.
    server.advance(1_000).await;
    let second = one(&server, &version).await;
    assert_eq!(second["attempt"], json!(2));
    assert_eq!(second["resumed"], json!(false));
    assert_eq!(
        second["journal"],
        json!([{"position": 0, "kind": "step", "name": "charge-card", "output": {"id": "ch_1"}}])
    );
    // The old attempt's lease journals nothing.
    let (s, v) = step(&server, &first, 1, "send-email", json!(null)).await;
    assert_eq!((s, v["code"].clone()), (409, json!("lease_lost")), "{v}");
    let (s, _) = step(&server, &second, 1, "send-email", json!("sent")).await;
    assert_eq!(s, 200);

    // Crash: the lease expires, and the retry sees both steps.
    let a = server.advance(30_001).await;
    assert_eq!(a["fired"]["leasesExpired"], json!(1), "{a}");
    server.advance(1_000).await;
    let third = one(&server, &version).await;
    assert_eq!(third["attempt"], json!(3));
    let journal = third["journal"].as_array().unwrap();
    assert_eq!(journal.len(), 2, "{journal:?}");
    assert_eq!(journal[1]["name"], json!("send-email"));
    assert_eq!(journal[1]["output"], json!("sent"));
    let (s, _) = server.complete_ok(&third, json!("done")).await;
    assert_eq!(s, 200);
    assert_eq!(server.status(&id).await, "COMPLETED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_hour_wait_suspends_and_resumes_when_the_clock_moves() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["sleeper"])).await;
    let id = server.trigger("sleeper", json!({}), json!({})).await;
    let run = one(&server, &version).await;
    assert_eq!(server.heartbeat(&run).await.0, 200);
    let (s, _) = step(&server, &run, 0, "before", json!(1)).await;
    assert_eq!(s, 200);

    let hour = json!({"type": "duration", "ms": 3_600_000});
    let (s, v) = wait(&server, &run, 1, "wait.for", true, hour.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], json!("WAITING"));
    assert_eq!(v["suspended"], json!(true));
    assert!(v["waitpointId"].as_str().unwrap().starts_with("waitpoint_"));
    let waitpoint = v["waitpointId"].clone();
    let r = server.run(&id).await;
    assert_eq!(r["status"], json!("WAITING"));
    assert_eq!(r["isWaiting"], json!(true));
    // The attempt is over for the worker.
    let (s, v) = server.heartbeat(&run).await;
    assert_eq!((s, v["status"].clone()), (409, json!("WAITING")), "{v}");
    let (s, _) = server.complete_ok(&run, json!(1)).await;
    assert_eq!(s, 409);

    let a = server.advance(3_599_000).await;
    assert_eq!(a["fired"]["waitpoints"], json!(0), "{a}");
    assert_eq!(server.status(&id).await, "WAITING");
    assert!(server.dequeue(&version, 5, 0).await.is_empty());
    let a = server.advance(1_000).await;
    assert_eq!(a["fired"]["waitpoints"], json!(1), "{a}");
    assert_eq!(server.status(&id).await, "QUEUED");

    let resumed = one(&server, &version).await;
    assert_eq!(resumed["resumed"], json!(true));
    assert_eq!(resumed["attempt"], json!(1), "a resume is not an attempt");
    assert_ne!(resumed["lease"], run["lease"]);
    assert_eq!(
        resumed["journal"],
        json!([
            {"position": 0, "kind": "step", "name": "before", "output": 1},
            {"position": 1, "kind": "wait", "name": "wait.for", "waitpointId": waitpoint,
             "status": "COMPLETED", "output": null}
        ])
    );
    // Replaying the wait finds it complete.
    let (s, v) = wait(&server, &resumed, 1, "wait.for", true, hour).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], json!("COMPLETED"));
    assert_eq!(v["waitpointId"], waitpoint);
    assert!(v.get("suspended").is_none(), "{v}");
    let (s, v) = server.complete_ok(&resumed, json!("woke")).await;
    assert_eq!(s, 200, "{v}");
    let r = server.run(&id).await;
    assert_eq!(r["status"], json!("COMPLETED"));
    assert_eq!(r["attemptCount"], json!(1));

    // A wait already due (or until a past date) is complete at once.
    let id2 = server.trigger("sleeper", json!({}), json!({})).await;
    let run2 = one(&server, &version).await;
    assert_eq!(id_of(&run2), id2);
    let (s, v) = wait(
        &server,
        &run2,
        0,
        "now",
        true,
        json!({"type": "duration", "ms": 0}),
    )
    .await;
    assert_eq!((s, v["status"].clone()), (200, json!("COMPLETED")), "{v}");
    let (s, v) = wait(
        &server,
        &run2,
        1,
        "past",
        true,
        json!({"type": "until", "date": "2001-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!((s, v["status"].clone()), (200, json!("COMPLETED")), "{v}");
    assert_eq!(server.status(&id2).await, "DEQUEUED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_wait_resumes_when_the_token_is_completed() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["approve"])).await;
    let t = token(&server, json!({})).await;
    let token_id = t["id"].as_str().unwrap().to_string();
    let id = server.trigger("approve", json!({}), json!({})).await;
    let run = one(&server, &version).await;
    let by_token = json!({"type": "token", "tokenId": token_id});
    let (s, v) = wait(&server, &run, 0, "approval", true, by_token.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["status"].clone(), v["suspended"].clone()),
        (json!("WAITING"), json!(true))
    );
    assert_eq!(v["waitpointId"], json!(token_id));
    assert_eq!(server.status(&id).await, "WAITING");

    let path = format!("/api/v1/waitpoints/tokens/{token_id}/complete");
    let (s, v) = server
        .post(&path, json!({"data": {"approved": true}}))
        .await;
    assert_eq!(
        (s, v.clone()),
        (200, json!({"success": true, "runVersion": version})),
        "{v}"
    );
    assert_eq!(server.status(&id).await, "QUEUED");
    // A second completion changes nothing.
    let (s, v) = server
        .post(&path, json!({"data": {"approved": false}}))
        .await;
    assert_eq!(
        (s, v.clone()),
        (
            200,
            json!({"success": true, "alreadyCompleted": true, "runVersion": null})
        ),
        "{v}"
    );
    let (s, v) = server
        .get(&format!("/api/v1/waitpoints/tokens/{token_id}"))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], json!("COMPLETED"));
    assert_eq!(v["outputType"], json!("application/json"));
    assert_eq!(v["outputIsError"], json!(false));
    let output: Value = serde_json::from_str(v["output"].as_str().unwrap()).unwrap();
    assert_eq!(output, json!({"approved": true}));
    assert!(v["completedAt"].is_string());

    let resumed = one(&server, &version).await;
    assert_eq!(resumed["resumed"], json!(true));
    assert_eq!(resumed["attempt"], json!(1));
    let entry = &resumed["journal"][0];
    assert_eq!(entry["status"], json!("COMPLETED"), "{entry}");
    assert_eq!(entry["output"], json!({"approved": true}));
    let (s, v) = wait(&server, &resumed, 0, "approval", true, by_token).await;
    assert_eq!(
        (s, v["output"].clone()),
        (200, json!({"approved": true})),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_completes_through_its_callback_url() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["hook"])).await;
    let t = token(&server, json!({"tags": ["webhook"]})).await;
    let token_id = t["id"].as_str().unwrap().to_string();
    let url = t["url"].as_str().unwrap();
    let path = url
        .strip_prefix(&server.base_url)
        .expect("url on this server")
        .to_string();
    assert!(path.starts_with(&format!("/api/v1/waitpoints/tokens/{token_id}/callback/")));
    let id = server.trigger("hook", json!({}), json!({})).await;
    let run = one(&server, &version).await;
    let (s, _) = wait(
        &server,
        &run,
        0,
        "hook",
        true,
        json!({"type": "token", "tokenId": token_id}),
    )
    .await;
    assert_eq!(s, 200);

    // The hash is the credential.
    let mut bad = path.clone();
    bad.pop();
    bad.push(if path.ends_with('0') { '1' } else { '0' });
    let r = server
        .send(Req::new("POST", &bad).no_key().json(&json!({"x": 1})))
        .await;
    assert_error(r.status, &r.json, &[401], &["hash"], "bad hash");
    let r = server.send(Req::new("GET", &path).no_key()).await;
    assert_eq!(r.status, 405, "{}", r.text);
    assert_eq!(r.header("allow").as_deref(), Some("POST"));
    assert!(r.json["error"].is_string(), "{}", r.text);
    let r = server
        .send(
            Req::new("POST", &path)
                .no_key()
                .raw_body("application/json", "{}")
                .chunked(),
        )
        .await;
    assert_eq!(r.status, 411, "{}", r.text);
    let unknown = path.replace(&token_id, "waitpoint_nope");
    let r = server
        .send(Req::new("POST", &unknown).no_key().json(&json!({})))
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(server.status(&id).await, "WAITING");

    // The whole body is the output.
    let r = server
        .send(
            Req::new("POST", &path)
                .no_key()
                .json(&json!({"event": "paid", "amount": 3})),
        )
        .await;
    assert_eq!(
        (r.status, r.json.clone()),
        (200, json!({"success": true, "runVersion": version})),
        "{}",
        r.text
    );
    assert_eq!(server.status(&id).await, "QUEUED");
    let r = server
        .send(Req::new("POST", &path).no_key().json(&json!({"late": 1})))
        .await;
    assert_eq!(r.json["alreadyCompleted"], json!(true), "{}", r.text);
    let resumed = one(&server, &version).await;
    assert_eq!(
        resumed["journal"][0]["output"],
        json!({"event": "paid", "amount": 3})
    );

    // A body that is not JSON completes with {}.
    let t2 = token(&server, json!({})).await;
    let path2 = t2["url"]
        .as_str()
        .unwrap()
        .strip_prefix(&server.base_url)
        .unwrap()
        .to_string();
    let r = server
        .send(
            Req::new("POST", &path2)
                .no_key()
                .raw_body("text/plain", "not json"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (_, v) = server
        .get(&format!(
            "/api/v1/waitpoints/tokens/{}",
            t2["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(v["output"], json!("{}"), "{v}");
    assert_eq!(v["url"], t2["url"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_times_out_when_the_clock_passes_its_timeout() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["approve"])).await;
    let t = token(&server, json!({"timeout": "10m"})).await;
    let token_id = t["id"].as_str().unwrap().to_string();
    let id = server.trigger("approve", json!({}), json!({})).await;
    let run = one(&server, &version).await;
    let (s, _) = wait(
        &server,
        &run,
        0,
        "approval",
        true,
        json!({"type": "token", "tokenId": token_id}),
    )
    .await;
    assert_eq!(s, 200);
    let (_, v) = server
        .get(&format!("/api/v1/waitpoints/tokens/{token_id}"))
        .await;
    let now = server.now_ms().await;
    assert_eq!(parse_ms(&v["timeoutAt"]) - now, 600_000, "{v}");

    let a = server.advance(599_999).await;
    assert_eq!(a["fired"]["waitpoints"], json!(0));
    let a = server.advance(1).await;
    assert_eq!(a["fired"]["waitpoints"], json!(1), "{a}");
    assert_eq!(server.status(&id).await, "QUEUED");
    let (_, v) = server
        .get(&format!("/api/v1/waitpoints/tokens/{token_id}"))
        .await;
    assert_eq!(v["status"], json!("TIMED_OUT"));
    assert_eq!(v["outputIsError"], json!(true));
    let error: Value = serde_json::from_str(v["output"].as_str().unwrap()).unwrap();
    assert!(error["message"].is_string(), "{error}");

    let resumed = one(&server, &version).await;
    let entry = &resumed["journal"][0];
    assert_eq!(entry["status"], json!("TIMED_OUT"), "{entry}");
    assert_eq!(entry["error"]["name"], json!("WaitpointTimeoutError"));
    assert!(entry.get("output").is_none(), "{entry}");
    // Completing it now changes nothing.
    let (s, v) = server
        .post(
            &format!("/api/v1/waitpoints/tokens/{token_id}/complete"),
            json!({"data": 1}),
        )
        .await;
    assert_eq!(
        (s, v["alreadyCompleted"].clone()),
        (200, json!(true)),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_api_creates_lists_and_refuses_bad_input() {
    let server = TestServer::start_with_clock().await;
    let (s, v) = server.post("/api/v1/waitpoints/tokens", json!({})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["isCached"], json!(false));
    // An empty body is a token with no options too, and the answer carries a public token.
    let r = server
        .send(Req::new("POST", "/api/v1/waitpoints/tokens").content_type("application/json"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let jwt = r.header("x-trigger-jwt").expect("x-trigger-jwt");
    let id = r.json["id"].as_str().unwrap().to_string();
    let claims: Value =
        serde_json::from_slice(&b64url_decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(claims["scopes"], json!([format!("write:waitpoints:{id}")]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        86_400
    );
    // The public token completes that token, and only that one.
    let other = token(&server, json!({})).await;
    let r = server
        .send(
            Req::new(
                "POST",
                &format!(
                    "/api/v1/waitpoints/tokens/{}/complete",
                    other["id"].as_str().unwrap()
                ),
            )
            .key(&jwt)
            .json(&json!({"data": 1})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = server
        .send(
            Req::new("POST", &format!("/api/v1/waitpoints/tokens/{id}/complete"))
                .key(&jwt)
                .json(&json!({"data": 1})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Idempotency keys are raw and return the same token until their TTL passes.
    let a = token(
        &server,
        json!({"idempotencyKey": "order-42", "idempotencyKeyTTL": "1h", "tags": "t1"}),
    )
    .await;
    let b = token(&server, json!({"idempotencyKey": "order-42"})).await;
    assert_eq!(
        (a["id"].clone(), b["isCached"].clone()),
        (b["id"].clone(), json!(true))
    );
    let (_, v) = server
        .get(&format!(
            "/api/v1/waitpoints/tokens/{}",
            a["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(v["idempotencyKey"], json!("order-42"));
    assert_eq!(v["tags"], json!(["t1"]));
    assert_eq!(v["status"], json!("WAITING"));
    assert!(v.get("output").is_none(), "{v}");
    server.advance(3_600_000).await;
    let c = token(&server, json!({"idempotencyKey": "order-42"})).await;
    assert_eq!(c["isCached"], json!(false));
    assert_ne!(c["id"], a["id"]);

    // Lists: newest first, filtered, paged.
    let tagged: Vec<Value> = (0..3)
        .map(|i| json!({"tags": ["page", format!("n{i}")]}))
        .collect();
    let mut ids = Vec::new();
    for body in tagged {
        ids.push(
            token(&server, body).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let (s, v) = server
        .get(&format!(
            "/api/v1/waitpoints/tokens?{}",
            query(&[("filter[tags]", "page"), ("page[size]", "2")])
        ))
        .await;
    assert_eq!(s, 200, "{v}");
    let got: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[2].as_str(), ids[1].as_str()]);
    let next = v["pagination"]["next"]
        .as_str()
        .expect("next page")
        .to_string();
    let (_, v) = server
        .get(&format!(
            "/api/v1/waitpoints/tokens?{}",
            query(&[
                ("filter[tags]", "page"),
                ("page[size]", "2"),
                ("page[after]", &next)
            ])
        ))
        .await;
    let got: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[0].as_str()]);
    assert!(v["pagination"].get("next").is_none(), "{v}");
    assert!(v["data"][0]["url"].is_string());
    let (_, v) = server
        .get(&format!(
            "/api/v1/waitpoints/tokens?{}",
            query(&[("filter[status]", "COMPLETED")])
        ))
        .await;
    let got: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [id.as_str()]);
    let (_, v) = server
        .get(&format!(
            "/api/v1/waitpoints/tokens?{}",
            query(&[("filter[idempotencyKey]", "order-42")])
        ))
        .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "{v}");

    // Bad input.
    let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
    let (s, v) = server
        .post("/api/v1/waitpoints/tokens", json!({"tags": eleven}))
        .await;
    assert_error(s, &v, &[422], &["10 tags"], "too many tags");
    let (s, v) = server
        .post("/api/v1/waitpoints/tokens", json!({"timeout": "soon"}))
        .await;
    assert_error(s, &v, &[422], &["timeout"], "bad timeout");
    let (s, v) = server
        .post("/api/v1/waitpoints/tokens", json!({"tags": [1]}))
        .await;
    assert_error(s, &v, &[400], &["tags"], "numeric tag");
    let (s, v) = server
        .get(&format!(
            "/api/v1/waitpoints/tokens?{}",
            query(&[("filter[status]", "DONE")])
        ))
        .await;
    assert_error(s, &v, &[400], &["filter[status]"], "bad status filter");
    let (s, v) = server.get("/api/v1/waitpoints/tokens/waitpoint_nope").await;
    assert_error(s, &v, &[404], &["not found"], "unknown token");
    let (s, v) = server
        .post(
            "/api/v1/waitpoints/tokens/waitpoint_nope/complete",
            json!({"data": 1}),
        )
        .await;
    assert_error(s, &v, &[404], &["not found"], "complete unknown token");
    let (s, v) = server
        .call_as(
            STAGING_KEY,
            "GET",
            &format!("/api/v1/waitpoints/tokens/{id}"),
            None,
        )
        .await;
    assert_error(s, &v, &[404], &["not found"], "another environment's token");
    let r = server
        .send(Req::new("GET", "/api/v1/waitpoints/tokens").no_key())
        .await;
    assert_eq!(r.status, 401);
}

/// Deploys `parent` and `child`; triggers a parent and dequeues it.
async fn parent_and_child(server: &TestServer) -> (String, Value) {
    let version = server
        .deploy(json!([{"id": "parent"}, {"id": "child", "retry": {"maxAttempts": 1}}]))
        .await;
    server.trigger("parent", json!({"p": 1}), json!({})).await;
    let parent = one(server, &version).await;
    assert_eq!(parent["taskIdentifier"], json!("parent"));
    (version, parent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_wait_creates_one_child_and_resumes_with_its_output() {
    let server = TestServer::start_with_clock().await;
    let (version, parent) = parent_and_child(&server).await;
    let parent_id = id_of(&parent).to_string();
    let spec =
        json!({"type": "run", "task": "child", "payload": {"x": 1}, "options": {"tags": ["kid"]}});
    // Held twice, then suspended: one child all along.
    let (s, held) = wait(&server, &parent, 0, "trigger-child", false, spec.clone()).await;
    assert_eq!(s, 200, "{held}");
    assert_eq!(
        (held["status"].clone(), held["suspended"].clone()),
        (json!("WAITING"), json!(false))
    );
    let child_ids = held["runIds"].clone();
    assert_eq!(child_ids.as_array().map(Vec::len), Some(1), "{held}");
    let (_, again) = wait(&server, &parent, 0, "trigger-child", false, spec.clone()).await;
    assert_eq!(
        (again["runIds"].clone(), again["waitpointId"].clone()),
        (child_ids.clone(), held["waitpointId"].clone())
    );
    let (s, v) = wait(&server, &parent, 0, "trigger-child", true, spec.clone()).await;
    assert_eq!(
        (s, v["suspended"].clone(), v["runIds"].clone()),
        (200, json!(true), child_ids.clone()),
        "{v}"
    );
    assert_eq!(
        server
            .list_ids(&query(&[("filter[taskIdentifier]", "child")]))
            .await
            .len(),
        1
    );

    let child_id = child_ids[0].as_str().unwrap();
    let child = server.run(child_id).await;
    assert_eq!(child["version"], json!(version));
    assert_eq!(child["payload"], json!({"x": 1}));
    assert_eq!(child["tags"], json!(["kid"]));
    let child = one(&server, &version).await;
    assert_eq!(child["runId"], json!(child_id));
    assert_eq!(child["parentRunId"], json!(parent_id));
    assert_eq!(child["rootRunId"], json!(parent_id));
    assert_eq!(server.status(&parent_id).await, "WAITING");
    let (s, _) = server.complete_ok(&child, json!({"y": 2})).await;
    assert_eq!(s, 200);
    assert_eq!(server.status(&parent_id).await, "QUEUED");

    let resumed = one(&server, &version).await;
    assert_eq!(
        (resumed["runId"].clone(), resumed["resumed"].clone()),
        (json!(parent_id), json!(true))
    );
    let expected = json!({"ok": true, "runId": child_id, "output": {"y": 2}});
    assert_eq!(resumed["journal"][0]["output"], expected);
    let (s, v) = wait(&server, &resumed, 0, "trigger-child", true, spec).await;
    assert_eq!(
        (s, v["status"].clone(), v["output"].clone()),
        (200, json!("COMPLETED"), expected),
        "{v}"
    );
    assert_eq!(v["runIds"], child_ids);
    assert_eq!(
        server
            .list_ids(&query(&[("filter[taskIdentifier]", "child")]))
            .await
            .len(),
        1
    );
    let parent_view = server.run(&parent_id).await;
    assert_eq!(
        parent_view["relatedRuns"]["children"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_wait_resumes_with_ok_false_when_the_child_fails() {
    let server = TestServer::start_with_clock().await;
    let (version, parent) = parent_and_child(&server).await;
    let (s, v) = wait(
        &server,
        &parent,
        0,
        "c",
        true,
        json!({"type": "run", "task": "child"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let child = one(&server, &version).await;
    let (s, v) = server.complete_err(&child, "kaboom").await;
    assert_eq!((s, v["status"].clone()), (200, json!("FAILED")), "{v}");
    let resumed = one(&server, &version).await;
    let out = &resumed["journal"][0]["output"];
    assert_eq!(out["ok"], json!(false), "{out}");
    assert_eq!(out["runId"], child["runId"]);
    assert_eq!(out["error"]["message"], json!("kaboom"));

    // A child that never starts (its TTL passes) ends the wait too.
    let (s, _) = server.complete_ok(&resumed, json!(null)).await;
    assert_eq!(s, 200);
    server.trigger("parent", json!({}), json!({})).await;
    let p2 = one(&server, &version).await;
    let (s, v) = wait(
        &server,
        &p2,
        0,
        "c",
        true,
        json!({"type": "run", "task": "child", "options": {"ttl": "1m", "delay": "1m"}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    server.advance(60_000).await;
    server.advance(60_000).await;
    let p2 = one(&server, &version).await;
    let out = &p2["journal"][0]["output"];
    assert_eq!(out["ok"], json!(false), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_wait_resumes_when_every_child_has_ended() {
    let server = TestServer::start_with_clock().await;
    let (version, parent) = parent_and_child(&server).await;
    let parent_id = id_of(&parent).to_string();
    let items: Vec<Value> = (0..3)
        .map(|i| json!({"task": "child", "payload": {"i": i}}))
        .collect();
    let spec = json!({"type": "batch", "items": items});
    let (s, v) = wait(&server, &parent, 0, "fan-out", true, spec).await;
    assert_eq!(s, 200, "{v}");
    let ids: Vec<String> = v["runIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 3);
    let kids = server.dequeue(&version, 10, 0).await;
    assert_eq!(kids.len(), 3);
    let by_id = |id: &str| {
        kids.iter()
            .find(|k| k["runId"] == json!(id))
            .unwrap()
            .clone()
    };
    let batch_id = by_id(&ids[0])["batchId"]
        .as_str()
        .expect("children share a batch")
        .to_string();
    let (s, b) = server.get(&format!("/api/v2/batches/{batch_id}")).await;
    assert_eq!(s, 200, "{b}");

    server.complete_ok(&by_id(&ids[2]), json!("two")).await;
    server.complete_err(&by_id(&ids[0]), "zero failed").await;
    assert_eq!(server.status(&parent_id).await, "WAITING");
    let (s, _) = server.cancel(&ids[1]).await;
    assert_eq!(s, 200);
    assert_eq!(server.status(&parent_id).await, "QUEUED");

    let resumed = one(&server, &version).await;
    let items = resumed["journal"][0]["output"]["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["ok"], json!(false));
    assert_eq!(items[0]["error"]["message"], json!("zero failed"));
    assert_eq!(items[1]["ok"], json!(false));
    assert_eq!(
        items[2],
        json!({"ok": true, "runId": ids[2], "output": "two"})
    );
    for (item, id) in items.iter().zip(&ids) {
        assert_eq!(item["runId"], json!(id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_determinism_is_a_409() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["t"])).await;
    server.trigger("t", json!({}), json!({})).await;
    let run = one(&server, &version).await;
    assert_eq!(step(&server, &run, 0, "charge-card", json!(1)).await.0, 200);
    let (s, v) = step(&server, &run, 0, "send-email", json!(1)).await;
    assert_eq!(
        (s, v["code"].clone()),
        (409, json!("non_determinism")),
        "{v}"
    );
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.contains("charge-card") && msg.contains("send-email") && msg.contains("position 0"),
        "{msg}"
    );
    let (s, v) = wait(
        &server,
        &run,
        0,
        "charge-card",
        true,
        json!({"type": "duration", "ms": 10}),
    )
    .await;
    assert_eq!(
        (s, v["code"].clone()),
        (409, json!("non_determinism")),
        "{v}"
    );
    let (s, _) = wait(
        &server,
        &run,
        1,
        "sleep",
        false,
        json!({"type": "duration", "ms": 10}),
    )
    .await;
    assert_eq!(s, 200);
    let (s, v) = step(&server, &run, 1, "sleep", json!(1)).await;
    assert_eq!(
        (s, v["code"].clone()),
        (409, json!("non_determinism")),
        "{v}"
    );
    let (s, v) = wait(
        &server,
        &run,
        1,
        "other",
        false,
        json!({"type": "duration", "ms": 10}),
    )
    .await;
    assert_eq!(
        (s, v["code"].clone()),
        (409, json!("non_determinism")),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_parent_cancels_its_waiting_children() {
    let server = TestServer::start_with_clock().await;
    let (version, parent) = parent_and_child(&server).await;
    let parent_id = id_of(&parent).to_string();
    let (_, v) = wait(
        &server,
        &parent,
        0,
        "c",
        true,
        json!({"type": "run", "task": "child"}),
    )
    .await;
    let child_id = v["runIds"][0].as_str().unwrap().to_string();
    // The child waits an hour itself.
    let child = one(&server, &version).await;
    let (s, v) = wait(
        &server,
        &child,
        0,
        "nap",
        true,
        json!({"type": "duration", "ms": 3_600_000}),
    )
    .await;
    assert_eq!((s, v["suspended"].clone()), (200, json!(true)), "{v}");
    assert_eq!(server.status(&child_id).await, "WAITING");

    let (s, v) = server.cancel(&parent_id).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(server.status(&parent_id).await, "CANCELED");
    assert_eq!(server.status(&child_id).await, "CANCELED");
    // The child's wait is disarmed: nothing fires, nothing is queued again.
    let a = server.advance(3_600_000).await;
    assert_eq!(a["fired"]["waitpoints"], json!(0), "{a}");
    assert!(server.dequeue(&version, 5, 0).await.is_empty());
    assert_eq!(server.status(&child_id).await, "CANCELED");
    assert_eq!(server.status(&parent_id).await, "CANCELED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_run_frees_its_concurrency_slot() {
    let server = TestServer::start_with_clock().await;
    let version = server
        .deploy(
            json!([{"id": "one-at-a-time", "queue": {"name": "single", "concurrencyLimit": 1}}]),
        )
        .await;
    let a = server
        .trigger("one-at-a-time", json!({"n": 1}), json!({}))
        .await;
    let b = server
        .trigger("one-at-a-time", json!({"n": 2}), json!({}))
        .await;
    let first = one(&server, &version).await;
    assert_eq!(first["runId"], json!(a));
    assert!(server.dequeue(&version, 5, 0).await.is_empty(), "limit 1");
    let (s, _) = wait(
        &server,
        &first,
        0,
        "nap",
        true,
        json!({"type": "duration", "ms": 1_000}),
    )
    .await;
    assert_eq!(s, 200);
    let (_, q) = server.get("/api/v1/queues/single?type=custom").await;
    assert_eq!(q["running"], json!(0), "{q}");
    let second = one(&server, &version).await;
    assert_eq!(second["runId"], json!(b));

    // The first resumes, but waits for the slot.
    server.advance(1_000).await;
    assert_eq!(server.status(&a).await, "QUEUED");
    assert!(
        server.dequeue(&version, 5, 0).await.is_empty(),
        "the slot is taken"
    );
    server.complete_ok(&second, json!(2)).await;
    let again = one(&server, &version).await;
    assert_eq!(
        (again["runId"].clone(), again["resumed"].clone()),
        (json!(a), json!(true))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_wait_is_long_polled() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let run = one(&server, &version).await;
    let t = token(&server, json!({})).await;
    let token_id = t["id"].as_str().unwrap().to_string();
    let (s, v) = wait(
        &server,
        &run,
        0,
        "short",
        false,
        json!({"type": "token", "tokenId": token_id}),
    )
    .await;
    assert_eq!((s, v["suspended"].clone()), (200, json!(false)), "{v}");
    assert_eq!(
        server.status(&id).await,
        "DEQUEUED",
        "a held wait keeps the run"
    );
    let lease = run["lease"].as_str().unwrap();
    let poll = format!("/api/v1/worker/runs/{id}/waits/0?lease={}", enc(lease));
    let (s, v) = server.get(&poll).await;
    assert_eq!(
        (s, v["status"].clone(), v["suspended"].clone()),
        (200, json!("WAITING"), json!(false)),
        "{v}"
    );

    let started = std::time::Instant::now();
    let long_path = format!("{poll}&waitMs=20000");
    let long = server.get(&long_path);
    let complete = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        server
            .post(
                &format!("/api/v1/waitpoints/tokens/{token_id}/complete"),
                json!({"data": "go"}),
            )
            .await
    };
    let ((s, v), (cs, _)) = tokio::join!(long, complete);
    assert_eq!(cs, 200);
    assert_eq!(
        (s, v["status"].clone(), v["output"].clone()),
        (200, json!("COMPLETED"), json!("go")),
        "{v}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "woken, not timed out"
    );
    assert_eq!(server.status(&id).await, "DEQUEUED");

    let (s, v) = server
        .get(&format!(
            "/api/v1/worker/runs/{id}/waits/7?lease={}",
            enc(lease)
        ))
        .await;
    assert_error(s, &v, &[404], &["position 7"], "no wait there");
    let (s, v) = server
        .get(&format!(
            "/api/v1/worker/runs/{id}/waits/0?lease=lease_wrong"
        ))
        .await;
    assert_eq!((s, v["code"].clone()), (409, json!("lease_lost")), "{v}");
    let (s, v) = server
        .get(&format!("/api/v1/worker/runs/{id}/waits/0"))
        .await;
    assert_error(s, &v, &[400], &["lease"], "no lease");
    let (s, v) = server.get(&format!("{poll}&waitMs=40000")).await;
    assert_error(s, &v, &[400], &["waitMs"], "wait too long");
    let (s, v) = server
        .get(&format!("/api/v1/worker/runs/{id}/waits/-1?lease=x"))
        .await;
    assert_error(s, &v, &[400], &["position"], "negative position");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_steps_and_waits_are_refused_and_write_nothing() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(json!([{"id": "t"}, {"id": "strict", "payloadSchema": {"type": "object", "required": ["to"]}}])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let run = one(&server, &version).await;
    let waits = format!("/api/v1/worker/runs/{id}/waits");
    let steps = format!("/api/v1/worker/runs/{id}/steps");
    let lease = run["lease"].clone();
    let cases = [
        (
            steps.clone(),
            json!({"position": 0, "name": "a"}),
            400,
            "lease",
        ),
        (
            steps.clone(),
            json!({"lease": lease, "position": -1, "name": "a"}),
            400,
            "position",
        ),
        (
            steps.clone(),
            json!({"lease": lease, "position": 0, "name": ""}),
            400,
            "name",
        ),
        (
            steps.clone(),
            json!({"lease": lease, "position": 0, "name": "x".repeat(257)}),
            400,
            "name",
        ),
        (
            waits.clone(),
            json!({"lease": lease, "position": 0, "name": "w", "wait": {"type": "forever"}}),
            400,
            "wait",
        ),
        (
            waits.clone(),
            json!({"lease": lease, "position": 0, "name": "w"}),
            400,
            "wait",
        ),
        (
            waits.clone(),
            json!({"lease": lease, "position": 0, "name": "w", "wait": {"type": "duration", "ms": -5}}),
            400,
            "ms",
        ),
        (
            waits.clone(),
            json!({"lease": lease, "position": 0, "name": "w", "wait": {"type": "until", "date": "someday"}}),
            400,
            "date",
        ),
        (
            waits.clone(),
            json!({"lease": lease, "position": 0, "name": "w", "wait": {"type": "token", "tokenId": "waitpoint_nope"}}),
            404,
            "not found",
        ),
        (
            waits.clone(),
            json!({"lease": lease, "position": 0, "name": "w", "wait": {"type": "batch", "items": []}}),
            400,
            "items",
        ),
        (
            waits.clone(),
            json!({"lease": lease, "position": 0, "name": "w", "wait": {"type": "run", "task": "nope"}}),
            422,
            "nope",
        ),
        (
            waits.clone(),
            json!({"lease": lease, "position": 0, "name": "w", "wait": {"type": "run", "task": "strict", "payload": {}}}),
            422,
            "to",
        ),
        (
            waits.clone(),
            json!({"lease": lease, "position": 0, "name": "w", "wait": {"type": "batch", "items": [{"task": "t"}, {"task": "t", "options": {"machine": "huge"}}]}}),
            400,
            "items[1]",
        ),
        (
            waits.clone(),
            json!({"lease": "lease_wrong", "position": 0, "name": "w", "wait": {"type": "duration", "ms": 1}}),
            409,
            "lease",
        ),
        (
            "/api/v1/worker/runs/run_nope/waits".to_string(),
            json!({"lease": lease, "position": 0, "name": "w", "wait": {"type": "duration", "ms": 1}}),
            404,
            "run_nope",
        ),
    ];
    for (path, body, status, needle) in cases {
        let (s, v) = server.post(&path, body.clone()).await;
        assert_error(s, &v, &[status], &[needle], &format!("{path} {body}"));
    }
    // Nothing was written: no child, no journal, the run still leased.
    assert_eq!(
        server.list_ids("").await.len(),
        1,
        "no child run was created"
    );
    assert_eq!(server.status(&id).await, "DEQUEUED");
    let (s, v) = step(&server, &run, 0, "first", json!(1)).await;
    assert_eq!((s, v["recorded"].clone()), (200, json!(true)), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_a_resume_is_a_new_attempt_and_a_waiting_run_can_be_canceled() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(json!([retrying("t")])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let run = one(&server, &version).await;
    let (s, _) = wait(
        &server,
        &run,
        0,
        "nap",
        true,
        json!({"type": "duration", "ms": 1_000}),
    )
    .await;
    assert_eq!(s, 200);
    server.advance(1_000).await;
    let resumed = one(&server, &version).await;
    assert_eq!(
        (resumed["attempt"].clone(), resumed["resumed"].clone()),
        (json!(1), json!(true))
    );
    // The resumed attempt crashes: the retry is attempt 2 and still sees the wait.
    let a = server.advance(30_001).await;
    assert_eq!(a["fired"]["leasesExpired"], json!(1), "{a}");
    server.advance(1_000).await;
    let retry = one(&server, &version).await;
    assert_eq!(
        (retry["attempt"].clone(), retry["resumed"].clone()),
        (json!(2), json!(false))
    );
    assert_eq!(retry["journal"][0]["status"], json!("COMPLETED"));

    // Suspended again on a token, then canceled while WAITING.
    let t = token(&server, json!({})).await;
    let (s, _) = wait(
        &server,
        &retry,
        1,
        "approval",
        true,
        json!({"type": "token", "tokenId": t["id"]}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(server.status(&id).await, "WAITING");
    let (s, v) = server.cancel(&id).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(server.status(&id).await, "CANCELED");
    // Completing the token later leaves the canceled run alone.
    let (s, _) = server
        .post(
            &format!(
                "/api/v1/waitpoints/tokens/{}/complete",
                t["id"].as_str().unwrap()
            ),
            json!({"data": 1}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(server.status(&id).await, "CANCELED");
    assert!(server.dequeue(&version, 5, 0).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_payloads_are_plain_json_unless_a_packet_type_is_named() {
    let server = TestServer::start_with_clock().await;
    let (_, parent) = parent_and_child(&server).await;
    let items = json!([
        {"task": "child", "payload": "hello"},
        {"task": "child", "payload": "hello", "options": {"payloadType": "application/json"}},
        {"task": "child", "payload": "{\"json\":{\"a\":1}}", "options": {"payloadType": "application/super+json"}},
        {"task": "child", "payload": "some text", "options": {"payloadType": "text/plain"}},
        {"task": "child", "payload": [1, {"b": null}]},
    ]);
    let (s, v) = wait(
        &server,
        &parent,
        0,
        "kids",
        false,
        json!({"type": "batch", "items": items}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let mut payloads = Vec::new();
    for id in v["runIds"].as_array().unwrap() {
        payloads.push(server.run(id.as_str().unwrap()).await["payload"].clone());
    }
    assert_eq!(
        payloads,
        [
            json!("hello"),
            json!("hello"),
            json!({"a": 1}),
            json!("some text"),
            json!([1, {"b": null}])
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_of_a_wait_hang_under_the_spans_the_worker_names() {
    let server = TestServer::start_with_clock().await;
    let (_, parent) = parent_and_child(&server).await;
    let spans = ["b000000000000001", "b000000000000002"];
    // A span id that is not one is refused, naming the field, and starts no child.
    let bad = json!({"type": "batch", "items": [
        {"task": "child", "spanId": spans[0]},
        {"task": "child", "spanId": "B000000000000002"},
    ]});
    let (s, v) = wait(&server, &parent, 0, "fan-out", true, bad).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("spanId"), "{v}");
    let single = json!({"type": "run", "task": "child", "spanId": "zz"});
    let (s, v) = wait(&server, &parent, 0, "one", true, single).await;
    assert_eq!(s, 400, "{v}");

    let items: Vec<Value> = spans
        .iter()
        .map(|s| json!({"task": "child", "spanId": s}))
        .chain([json!({"task": "child"})])
        .collect();
    let spec = json!({"type": "batch", "items": items});
    let (s, v) = wait(&server, &parent, 0, "fan-out", true, spec).await;
    assert_eq!(s, 200, "{v}");
    let ids = v["runIds"].as_array().unwrap().clone();
    let (_, parent_trace) = server
        .get(&format!("/api/v1/runs/{}/spans", id_of(&parent)))
        .await;
    for (i, id) in ids.iter().enumerate() {
        let (_, trace) = server
            .get(&format!("/api/v1/runs/{}/spans", id.as_str().unwrap()))
            .await;
        assert_eq!(trace["traceId"], parent_trace["traceId"], "{trace}");
        let expected = spans
            .get(i)
            .map_or(parent_trace["spanId"].clone(), |s| json!(s));
        assert_eq!(trace["parentSpanId"], expected, "child {i}: {trace}");
    }
}
