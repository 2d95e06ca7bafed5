//! `POST /api/v1/tasks/{taskId}/trigger`: every option of the trigger lands on the run.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::{json, Value};

const ORDER_42_HASH: &str = "3bf8b157c4238eefe5ae4a66eca81c6b887d4dcedb58dd674271859f4dc2edfd";

#[test]
fn sha256_matches_known_hashes() {
    assert_eq!(sha256_hex("order-42"), ORDER_42_HASH);
    assert_eq!(
        sha256_hex(""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn superjson_payload_is_returned_as_plain_json() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let r = server
        .trigger_raw(
            "t",
            json!({
                "payload": "{\"json\":{\"a\":1,\"d\":\"1970-01-01T00:00:00.000Z\"},\"meta\":{\"values\":{\"d\":[\"Date\"]}}}",
                "options": {"payloadType": "application/super+json", "payloadSize": 91}
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.json["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("run_"), "run id {id}");
    assert_ne!(r.json["isCached"], json!(true));

    let run = server.run(&id).await;
    assert_eq!(run["id"], json!(id));
    assert_eq!(
        run["payload"],
        json!({"a": 1, "d": "1970-01-01T00:00:00.000Z"})
    );
    assert_eq!(run["taskIdentifier"], json!("t"));
    assert_eq!(run["status"], json!("QUEUED"));
    assert_eq!(run["isQueued"], json!(true));
    for f in [
        "isExecuting",
        "isWaiting",
        "isCompleted",
        "isSuccess",
        "isFailed",
        "isCancelled",
    ] {
        assert_eq!(run[f], json!(false), "{f} of a queued run: {run}");
    }
    assert_eq!(run["version"], json!(version));
    assert_eq!(run["tags"], json!([]));
    assert_eq!(run["depth"], json!(0));
    assert!(
        run["relatedRuns"].is_object(),
        "relatedRuns is required: {run}"
    );
    assert!(
        run["createdAt"].is_string() && run["updatedAt"].is_string(),
        "{run}"
    );
    for f in [
        "startedAt",
        "finishedAt",
        "delayedUntil",
        "output",
        "error",
        "idempotencyKey",
        "batchId",
    ] {
        assert!(
            run.get(f).is_none(),
            "optional `{f}` must be omitted, not null: {run}"
        );
    }

    // The worker sees the same plain value.
    let runs = server.dequeue(&version, 1, 0).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0]["payload"],
        json!({"a": 1, "d": "1970-01-01T00:00:00.000Z"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn json_text_and_absent_payloads() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;

    let r = server
        .trigger_raw("t", json!({"payload": "{\"x\":[1,2,{\"y\":null}]}", "options": {"payloadType": "application/json"}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let run = server.run(r.json["id"].as_str().unwrap()).await;
    assert_eq!(run["payload"], json!({"x": [1, 2, {"y": null}]}));

    let r = server
        .trigger_raw(
            "t",
            json!({"payload": "hello {not json}", "options": {"payloadType": "text/plain"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let run = server.run(r.json["id"].as_str().unwrap()).await;
    assert_eq!(run["payload"], json!("hello {not json}"));

    // An `undefined` payload: the field is omitted and the type is application/json.
    let r = server
        .trigger_raw("t", json!({"options": {"payloadType": "application/json"}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let run = server.run(r.json["id"].as_str().unwrap()).await;
    assert!(
        run.get("payload").is_none(),
        "absent payload must be omitted: {run}"
    );

    // A body without options at all.
    let r = server
        .trigger_raw("t", json!({"payload": "{\"json\":7}"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_key_returns_cached_run_and_echoes_user_key() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t", "other"])).await;
    let opts = json!({
        "idempotencyKey": ORDER_42_HASH,
        "idempotencyKeyOptions": {"key": "order-42", "scope": "global"}
    });
    let (s, first) = server.try_trigger("t", json!({"n": 1}), opts.clone()).await;
    assert_eq!(s, 200, "{first}");
    assert_ne!(first["isCached"], json!(true));
    let id = first["id"].as_str().unwrap().to_string();

    let run = server.run(&id).await;
    assert_eq!(
        run["idempotencyKey"],
        json!("order-42"),
        "retrieve echoes the user key: {run}"
    );

    let (s, second) = server.try_trigger("t", json!({"n": 2}), opts.clone()).await;
    assert_eq!(s, 200, "{second}");
    assert_eq!(second["id"], json!(id));
    assert_eq!(second["isCached"], json!(true));
    // The cached answer does not change the run.
    assert_eq!(server.run(&id).await["payload"], json!({"n": 1}));

    // Keys are per task: the same hash on another task is a new run.
    let (s, other) = server.try_trigger("other", json!({}), opts.clone()).await;
    assert_eq!(s, 200, "{other}");
    assert_ne!(other["id"], json!(id));

    // Without idempotencyKeyOptions the hash is echoed.
    let (s, v) = server
        .try_trigger("t", json!({}), json!({"idempotencyKey": sha256_hex("raw")}))
        .await;
    assert_eq!(s, 200, "{v}");
    let run = server.run(v["id"].as_str().unwrap()).await;
    assert_eq!(run["idempotencyKey"], json!(sha256_hex("raw")));

    assert_eq!(server.list_all("").await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_triggers_with_one_key_make_one_run() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let key = sha256_hex("concurrent-key");
    let futs = (0..50).map(|i| {
        let key = key.clone();
        let server = &server;
        async move {
            server
                .try_trigger(
                    "t",
                    json!({"i": i}),
                    json!({"idempotencyKey": key, "idempotencyKeyOptions": {"key": "concurrent-key", "scope": "global"}}),
                )
                .await
        }
    });
    let answers = futures::future::join_all(futs).await;
    let mut ids = HashSet::new();
    let mut fresh = 0;
    for (s, v) in &answers {
        assert_eq!(*s, 200, "{v}");
        ids.insert(v["id"].as_str().unwrap().to_string());
        if v["isCached"] != json!(true) {
            fresh += 1;
        }
    }
    assert_eq!(ids.len(), 1, "one run id for one key, got {ids:?}");
    assert_eq!(
        fresh, 1,
        "exactly one answer creates the run (isCached false), the other 49 are cached"
    );
    assert_eq!(server.list_all("").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_key_ttl_expires_with_the_clock() {
    let server = TestServer::start_with_clock().await;
    server.deploy(tasks(&["t"])).await;
    let opts = json!({"idempotencyKey": sha256_hex("ttl-key"), "idempotencyKeyTTL": "1m",
                      "idempotencyKeyOptions": {"key": "ttl-key", "scope": "global"}});
    let first = server.trigger("t", json!({}), opts.clone()).await;

    server.advance(30_000).await;
    let (s, v) = server.try_trigger("t", json!({}), opts.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], json!(first), "key still live after 30 s");
    assert_eq!(v["isCached"], json!(true));

    server.advance(31_000).await;
    let (s, v) = server.try_trigger("t", json!({}), opts.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_ne!(v["id"], json!(first), "key expired after 61 s: a new run");
    assert_ne!(v["isCached"], json!(true));
    assert_eq!(server.list_all("").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_run_frees_its_key_and_successful_or_canceled_runs_keep_it() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let k = |s: &str| json!({"idempotencyKey": sha256_hex(s), "idempotencyKeyOptions": {"key": s, "scope": "global"}});

    // FAILED frees the key.
    let failed = server.trigger("t", json!({}), k("fails")).await;
    let runs = server.dequeue(&version, 1, 0).await;
    assert_eq!(runs[0]["runId"], json!(failed));
    let (s, v) = server
        .complete_err_with(&runs[0], "boom", json!({"retry": false}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(server.status(&failed).await, "FAILED");
    let (s, v) = server.try_trigger("t", json!({}), k("fails")).await;
    assert_eq!(s, 200, "{v}");
    assert_ne!(
        v["id"],
        json!(failed),
        "a FAILED run frees its idempotency key"
    );
    assert_ne!(v["isCached"], json!(true));
    let fresh = v["id"].as_str().unwrap().to_string();
    assert_eq!(server.run(&fresh).await["idempotencyKey"], json!("fails"));
    // Drain it so the next dequeue sees the next run.
    let runs = server.dequeue(&version, 1, 0).await;
    assert_eq!(runs[0]["runId"], json!(fresh));
    assert_eq!(server.complete_ok(&runs[0], json!(null)).await.0, 200);

    // COMPLETED keeps the key.
    let done = server.trigger("t", json!({}), k("succeeds")).await;
    let runs = server.dequeue(&version, 1, 0).await;
    assert_eq!(runs[0]["runId"], json!(done));
    assert_eq!(server.complete_ok(&runs[0], json!({"ok": 1})).await.0, 200);
    let (s, v) = server.try_trigger("t", json!({}), k("succeeds")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], json!(done), "a COMPLETED run keeps its key");
    assert_eq!(v["isCached"], json!(true));

    // CANCELED keeps the key.
    let canceled = server.trigger("t", json!({}), k("canceled")).await;
    assert_eq!(server.cancel(&canceled).await.0, 200);
    let (s, v) = server.try_trigger("t", json!({}), k("canceled")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], json!(canceled), "a CANCELED run keeps its key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn request_idempotency_header_dedupes_retries() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let body = json!({"payload": "{\"json\":{\"a\":1}}", "options": {"payloadType": "application/super+json"}});
    let send = |h: &'static str| {
        server.send(
            Req::new("POST", "/api/v1/tasks/t/trigger")
                .json(&body)
                .header("x-trigger-request-idempotency-key", h),
        )
    };
    let a = send("6f1c2f0e-0000-4000-8000-000000000001").await;
    let b = send("6f1c2f0e-0000-4000-8000-000000000001").await;
    let c = send("6f1c2f0e-0000-4000-8000-000000000002").await;
    for r in [&a, &b, &c] {
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(
            r.header("x-trigger-jwt").is_some(),
            "every answer carries a fresh x-trigger-jwt"
        );
    }
    assert_eq!(a.json["id"], b.json["id"], "same request key → same run");
    assert_ne!(
        a.json["id"], c.json["id"],
        "different request key → new run"
    );
    assert_eq!(server.list_all("").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delay_as_duration_and_iso_date() {
    let server = TestServer::start_with_clock().await;
    server.deploy(tasks(&["t"])).await;
    let now = server.now_ms().await;

    let cases: Vec<(Value, i64)> = vec![
        (json!("1h"), 3_600_000),
        (json!("30s"), 30_000),
        (json!("1h30m"), 5_400_000),
        (json!("2d"), 172_800_000),
        (json!("1w"), 604_800_000),
        (json!("5m"), 300_000),
        (json!(iso(now + 7_200_000)), 7_200_000),
    ];
    for (delay, expect) in cases {
        let id = server
            .trigger("t", json!({}), json!({"delay": delay}))
            .await;
        let run = server.run(&id).await;
        assert_eq!(run["status"], json!("DELAYED"), "delay {delay}: {run}");
        assert_eq!(run["isQueued"], json!(true));
        let until = parse_ms(&run["delayedUntil"]);
        assert!(
            (until - (now + expect)).abs() <= 1000,
            "delay {delay}: delayedUntil {} expected ≈ now+{expect}",
            run["delayedUntil"]
        );
    }

    // A date in the past means no delay.
    let id = server
        .trigger("t", json!({}), json!({"delay": iso(now - 60_000)}))
        .await;
    assert_eq!(server.status(&id).await, "QUEUED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ttl_is_recorded() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({"ttl": "10m"})).await;
    assert_eq!(server.run(&id).await["ttl"], json!("10m"));
    let id = server.trigger("t", json!({}), json!({"ttl": 600})).await;
    let ttl = server.run(&id).await["ttl"].clone();
    assert!(
        ttl == json!("600s") || ttl == json!("10m"),
        "integer ttl stored as a duration string, got {ttl}"
    );
    // No TTL unless asked for (no default dev TTL).
    let id = server.trigger("t", json!({}), json!({})).await;
    assert!(
        server.run(&id).await.get("ttl").is_none(),
        "no default ttl in dev"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tags_metadata_and_run_options_land_on_the_run() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let opts = json!({
        "tags": ["zeta", "alpha", "mid"],
        "metadata": {"m": 1, "nested": {"x": [1, "two"]}},
        "metadataType": "application/json",
        "priority": 5,
        "queue": {"name": "q1"},
        "concurrencyKey": "ck-7",
        "maxAttempts": 2,
        "machine": "small-2x",
        "maxDuration": 30
    });
    let id = server.trigger("t", json!({"p": true}), opts).await;
    let run = server.run(&id).await;
    assert_eq!(
        run["tags"],
        json!(["alpha", "mid", "zeta"]),
        "tags sorted on retrieve"
    );
    assert_eq!(
        run["metadata"],
        json!({"m": 1, "nested": {"x": [1, "two"]}})
    );

    let runs = server.dequeue(&version, 1, 0).await;
    assert_eq!(runs.len(), 1, "run on queue q1 is dequeued");
    let d = &runs[0];
    assert_eq!(d["runId"], json!(id));
    assert_eq!(d["taskIdentifier"], json!("t"));
    assert_eq!(d["attempt"], json!(1));
    assert_eq!(d["payload"], json!({"p": true}));
    assert_eq!(d["queue"], json!("q1"));
    assert_eq!(d["concurrencyKey"], json!("ck-7"));
    assert_eq!(d["maxAttempts"], json!(2));
    assert_eq!(d["machine"], json!("small-2x"));
    assert_eq!(d["maxDuration"], json!(30));
    assert_eq!(d["metadata"], json!({"m": 1, "nested": {"x": [1, "two"]}}));
    let mut tags: Vec<String> = d["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    tags.sort();
    assert_eq!(tags, vec!["alpha", "mid", "zeta"]);
    assert_eq!(d["version"], json!(version));

    // A single string tag, and a numeric concurrency key coerced to a string.
    let id = server
        .trigger(
            "t",
            json!({}),
            json!({"tags": "solo", "concurrencyKey": 42}),
        )
        .await;
    assert_eq!(server.run(&id).await["tags"], json!(["solo"]));
    let runs = server.dequeue(&version, 1, 0).await;
    assert_eq!(runs[0]["runId"], json!(id));
    assert_eq!(runs[0]["concurrencyKey"], json!("42"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lock_to_version_and_current_version() {
    let server = TestServer::start().await;
    let v1 = server.deploy(tasks(&["t"])).await;
    let v2 = server.deploy(tasks(&["t"])).await;
    assert_ne!(v1, v2);

    let current = server.trigger("t", json!({}), json!({})).await;
    assert_eq!(
        server.run(&current).await["version"],
        json!(v2),
        "locked to the current deployment"
    );

    let locked = server
        .trigger("t", json!({}), json!({"lockToVersion": v1}))
        .await;
    assert_eq!(server.run(&locked).await["version"], json!(v1));
    let runs = server.dequeue(&v1, 5, 0).await;
    assert_eq!(runs.len(), 1, "only the locked run is for v1: {runs:?}");
    assert_eq!(runs[0]["runId"], json!(locked));
    assert_eq!(runs[0]["version"], json!(v1));

    let (s, v) = server
        .try_trigger("t", json!({}), json!({"lockToVersion": "19990101.1"}))
        .await;
    assert_error(
        s,
        &v,
        &[422],
        &["version", "19990101.1"],
        "unknown lockToVersion",
    );
    assert_eq!(server.list_all("").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trigger_answers_with_a_public_token() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let other = server.trigger("t", json!({}), json!({})).await;
    let r = server
        .trigger_raw("t", json!({"payload": "{\"json\":1}", "options": {"payloadType": "application/super+json"}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_string();

    let jwt = r.header("x-trigger-jwt").expect("x-trigger-jwt header");
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {jwt}");
    let header: Value =
        serde_json::from_slice(&b64url_decode(parts[0]).expect("b64")).expect("json header");
    assert_eq!(header["alg"], json!("HS256"));
    let claims: Value =
        serde_json::from_slice(&b64url_decode(parts[1]).expect("b64")).expect("json claims");
    assert_eq!(claims["pub"], json!(true), "{claims}");
    assert!(claims["sub"].is_string(), "{claims}");
    assert!(
        claims["exp"].as_i64().unwrap_or(0) > claims["iat"].as_i64().unwrap_or(i64::MAX),
        "{claims}"
    );
    let scopes: Vec<&str> = claims["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        scopes.contains(&format!("read:runs:{id}").as_str()),
        "scopes {scopes:?}"
    );

    let hc = r
        .header("x-trigger-jwt-claims")
        .expect("x-trigger-jwt-claims header");
    let hc: Value = serde_json::from_str(&hc).expect("claims header is JSON");
    assert_eq!(hc["pub"], json!(true));
    assert_eq!(hc["sub"], claims["sub"]);

    // The token reads its own run, and nothing else.
    let own = server
        .send(Req::new("GET", &format!("/api/v3/runs/{id}")).key(&jwt))
        .await;
    assert_eq!(own.status, 200, "JWT reads its run: {}", own.text);
    assert_eq!(own.json["id"], json!(id));
    let not_own = server
        .send(Req::new("GET", &format!("/api/v3/runs/{other}")).key(&jwt))
        .await;
    assert!(
        not_own.status == 401 || not_own.status == 403,
        "JWT scoped to one run must not read another: {} {}",
        not_own.status,
        not_own.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_request_idempotency_header_makes_one_run() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let body =
        json!({"payload": "{\"json\":1}", "options": {"payloadType": "application/super+json"}});
    let futs = (0..20).map(|_| {
        server.send(
            Req::new("POST", "/api/v1/tasks/t/trigger")
                .json(&body)
                .header(
                    "x-trigger-request-idempotency-key",
                    "6f1c2f0e-0000-4000-8000-00000000abcd",
                ),
        )
    });
    let ids: HashSet<String> = futures::future::join_all(futs)
        .await
        .into_iter()
        .map(|r| {
            assert_eq!(r.status, 200, "{}", r.text);
            r.json["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(server.list_all("").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_timed_out_and_crashed_runs_free_their_keys() {
    let server = TestServer::start_with_clock().await;
    let version = server
        .deploy(json!([{"id": "t", "retry": {"maxAttempts": 1}}, {"id": "slow", "maxDuration": 5, "retry": {"maxAttempts": 1}}]))
        .await;
    let k = |s: &str| json!({"idempotencyKey": sha256_hex(s), "idempotencyKeyOptions": {"key": s, "scope": "global"}});

    // EXPIRED
    let expired = server
        .trigger("t", json!({}), merge(k("exp"), json!({"ttl": "5s"})))
        .await;
    server.advance(6_000).await;
    assert_eq!(server.status(&expired).await, "EXPIRED");
    let (_, v) = server.try_trigger("t", json!({}), k("exp")).await;
    assert_ne!(v["id"], json!(expired), "an EXPIRED run frees its key");
    let fresh = v["id"].as_str().unwrap().to_string();
    assert_eq!(server.cancel(&fresh).await.0, 200);

    // CRASHED (lease lost on the last attempt)
    let crashed = server.trigger("t", json!({}), k("crash")).await;
    let got = server.dequeue(&version, 1, 0).await;
    assert_eq!(got[0]["runId"], json!(crashed));
    server.advance(31_000).await;
    assert_eq!(server.status(&crashed).await, "CRASHED");
    let (_, v) = server.try_trigger("t", json!({}), k("crash")).await;
    assert_ne!(v["id"], json!(crashed), "a CRASHED run frees its key");
    let fresh = v["id"].as_str().unwrap().to_string();
    assert_eq!(server.cancel(&fresh).await.0, 200);

    // TIMED_OUT
    let slow = server.trigger("slow", json!({}), k("slow")).await;
    let got = server.dequeue(&version, 1, 0).await;
    assert_eq!(got[0]["runId"], json!(slow));
    assert_eq!(server.heartbeat(&got[0]).await.0, 200);
    server.advance(6_000).await;
    assert_eq!(server.status(&slow).await, "TIMED_OUT");
    let (_, v) = server.try_trigger("slow", json!({}), k("slow")).await;
    assert_ne!(v["id"], json!(slow), "a TIMED_OUT run frees its key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retrieve_and_list_field_types() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({"tags": ["a"]})).await;
    let run = server.run(&id).await;
    for f in [
        "costInCents",
        "baseCostInCents",
        "durationMs",
        "attemptCount",
        "depth",
    ] {
        assert!(run[f].is_number(), "{f} must be a number: {run}");
    }
    assert_eq!(run["isTest"], json!(false));
    assert_eq!(run["triggerFunction"], json!("trigger"));
    let (s, v) = server.get("/api/v1/runs").await;
    assert_eq!(s, 200, "{v}");
    let item = &v["data"][0];
    assert_eq!(item["id"], json!(id));
    for f in ["costInCents", "baseCostInCents", "durationMs"] {
        assert!(item[f].is_number(), "{f} must be a number: {item}");
    }
    for f in [
        "isQueued",
        "isExecuting",
        "isWaiting",
        "isCompleted",
        "isSuccess",
        "isFailed",
        "isCancelled",
        "isTest",
    ] {
        assert!(item[f].is_boolean(), "{f} must be a boolean: {item}");
    }
    assert_eq!(item["tags"], json!(["a"]));
    assert_eq!(item["status"], json!("QUEUED"));
    assert!(item["createdAt"].is_string() && item["updatedAt"].is_string());
    for (k, val) in item.as_object().unwrap() {
        assert!(
            !val.is_null(),
            "list field `{k}` is null; optional fields must be omitted: {item}"
        );
    }
    for (k, val) in run.as_object().unwrap() {
        assert!(
            !val.is_null(),
            "retrieve field `{k}` is null; optional fields must be omitted: {run}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_keys_are_per_environment() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    server.deploy_as(PROD_KEY, tasks(&["t"]), true).await;
    let opts = json!({"idempotencyKey": sha256_hex("shared"), "idempotencyKeyOptions": {"key": "shared", "scope": "global"}});
    let dev = server.trigger("t", json!({}), opts.clone()).await;
    let (s, v) = server
        .try_trigger_as(PROD_KEY, "t", json!({}), opts.clone())
        .await;
    assert_eq!(s, 200, "{v}");
    assert_ne!(v["id"], json!(dev));
    assert_ne!(v["isCached"], json!(true));
}
