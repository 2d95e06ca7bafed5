//! Retention against a real server with the test clock: runs that finished longer ago than
//! their environment's retention period are deleted with everything that was theirs (every
//! table of the store is searched for what they left), and what is alive, or still needed by
//! something alive, stays. Also the `/api/v1/retention` routes and `trigr retention`.

mod common;

use std::process::Command;

use common::*;
use serde_json::{json, Value};

const DAY: u64 = 86_400_000;

fn id_of(run: &Value) -> String {
    run["runId"].as_str().expect("runId").to_string()
}

/// Dequeues exactly the runs of `version` there are, `n` of them.
async fn take(server: &TestServer, version: &str, n: usize) -> Vec<Value> {
    let got = server.dequeue(version, n as u32, 0).await;
    assert_eq!(got.len(), n, "expected {n} runs of {version}: {got:?}");
    got
}

async fn post_ok(server: &TestServer, path: &str, body: Value) -> Value {
    let (s, v) = server.post(path, body).await;
    assert_eq!(s, 200, "POST {path}: {v}");
    v
}

/// A started run that leaves a row in every table a run has: a journaled step and a wait on
/// a token (completed, so the wait does not suspend), logs, an input stream message and its
/// consumer's position, output stream chunks. Returns the run and the token's id.
async fn busy_run(server: &TestServer, version: &str) -> (Value, String) {
    let id = server
        .trigger(
            "work",
            json!({"secret": "gone-payload"}),
            json!({"tags": ["ret-gone"], "idempotencyKey": "idem-gone", "idempotencyKeyTTL": "60d"}),
        )
        .await;
    let run = take(server, version, 1).await.remove(0);
    assert_eq!(server.heartbeat(&run).await.0, 200);
    let lease = run["lease"].clone();
    let worker = format!("/api/v1/worker/runs/{id}");
    post_ok(
        server,
        &format!("{worker}/steps"),
        json!({"lease": lease, "position": 0, "name": "charge", "output": {"step": "gone-step"}}),
    )
    .await;
    let token = post_ok(
        server,
        "/api/v1/waitpoints/tokens",
        json!({"timeout": "1h"}),
    )
    .await;
    let token_id = token["id"].as_str().unwrap().to_string();
    post_ok(
        server,
        &format!("/api/v1/waitpoints/tokens/{token_id}/complete"),
        json!({"data": {"approved": "gone-token"}}),
    )
    .await;
    post_ok(
        server,
        &format!("{worker}/waits"),
        json!({"lease": lease, "position": 1, "name": "approval", "suspend": false,
               "wait": {"type": "token", "tokenId": token_id}}),
    )
    .await;
    post_ok(
        server,
        &format!("{worker}/logs"),
        json!({"lease": lease, "entries": [{"level": "info", "message": "gone-log"}]}),
    )
    .await;
    let sent = server
        .send(
            Req::new("POST", &format!("/realtime/v1/streams/{id}/input/chat"))
                .json(&json!({"data": "gone-input"})),
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    let lease_text = lease.as_str().unwrap();
    let (s, v) = server
        .get(&format!(
            "{worker}/input/chat?lease={lease_text}&consumer=c1&waitMs=0"
        ))
        .await;
    assert_eq!(s, 200, "{v}");
    post_ok(
        server,
        &format!("{worker}/input/chat/ack"),
        json!({"lease": lease, "consumer": "c1", "seq": 1}),
    )
    .await;
    let wrote = server
        .send(
            Req::new("POST", &format!("/realtime/v1/streams/{id}/self/tokens"))
                .raw_body("application/x-ndjson", "\"gone-chunk\"\n")
                .header("x-trigr-lease", lease_text),
        )
        .await;
    assert!(wrote.status < 300, "{}: {}", wrote.status, wrote.text);
    let (s, v) = server
        .complete_ok(&run, json!({"out": "gone-output"}))
        .await;
    assert_eq!(s, 200, "{v}");
    (run, token_id)
}

/// A batch of `n` runs of `task`; returns its id.
async fn batch(server: &TestServer, task: &str, n: usize) -> String {
    let r = server
        .create_batch(json!({"runCount": n, "taskIdentifiers": [task]}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_string();
    let items: Vec<Value> = (0..n)
        .map(|i| json!({"index": i, "task": task, "payload": {"i": i}}))
        .collect();
    let r = server.send_items(&id, &items).await;
    assert_eq!(r.status, 200, "{}", r.text);
    id
}

/// Uploads a packet; returns its path.
async fn packet(server: &TestServer, path: &str) -> String {
    let encoded = path.replace('/', "%2F");
    let (s, v) = server
        .call("PUT", &format!("/api/v2/packets/{encoded}"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    let resp = server
        .http
        .put(v["presignedUrl"].as_str().unwrap())
        .header("content-type", "application/json")
        .body("{\"packet\": \"gone-packet\"}")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "upload: {}", resp.status());
    path.to_string()
}

/// Every row of every table of the server's store, each as `table: text of its values`.
fn every_row(server: &TestServer) -> Vec<String> {
    match std::fs::read_to_string(server.data_dir.join("postgres-schema")) {
        Ok(schema) => postgres_rows(schema.trim().to_string()),
        Err(_) => sqlite_rows(&server.data_dir.join("trigr.db")),
    }
}

fn sqlite_rows(path: &std::path::Path) -> Vec<String> {
    use rusqlite::types::ValueRef;
    let db =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the store");
    let mut names = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap();
    let tables: Vec<String> = names
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut rows = Vec::new();
    for table in tables {
        let mut st = db.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = st.column_count();
        let mut q = st.query([]).unwrap();
        while let Some(row) = q.next().unwrap() {
            let mut text = format!("{table}:");
            for i in 0..columns {
                match row.get_ref(i).unwrap() {
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        text.push(' ');
                        text.push_str(&String::from_utf8_lossy(t));
                    }
                    ValueRef::Integer(n) => text.push_str(&format!(" {n}")),
                    ValueRef::Real(x) => text.push_str(&format!(" {x}")),
                    ValueRef::Null => text.push_str(" null"),
                }
            }
            rows.push(text);
        }
    }
    rows
}

fn postgres_rows(schema: String) -> Vec<String> {
    let url = postgres_url().expect("a PostgreSQL test server");
    std::thread::spawn(move || {
        let mut db = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        let tables: Vec<String> = db
            .query(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
                &[&schema],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut rows = Vec::new();
        for table in tables {
            let sql = format!("SELECT t::text FROM \"{schema}\".\"{table}\" t");
            for row in db.query(&sql, &[]).unwrap() {
                rows.push(format!("{table}: {}", row.get::<_, String>(0)));
            }
        }
        rows
    })
    .join()
    .expect("the SQL thread")
}

/// The tables of these rows.
fn tables(rows: &[String]) -> std::collections::BTreeSet<String> {
    rows.iter()
        .map(|r| r.split(':').next().unwrap_or_default().to_string())
        .collect()
}

/// The rows that mention any of `needles`.
fn rows_naming(rows: &[String], needles: &[String]) -> Vec<String> {
    rows.iter()
        .filter(|row| needles.iter().any(|n| row.contains(n.as_str())))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_runs_go_after_the_retention_period_and_live_ones_stay() {
    let server = TestServer::start_with_clock().await;
    let manifest = json!([{"id": "work", "retry": {"maxAttempts": 1}}, {"id": "child"}]);
    let v1 = server.deploy(manifest.clone()).await;

    // What will go: runs that finish now, each with what is theirs.
    let (busy, token_id) = busy_run(&server, &v1).await;
    let mut gone = vec![id_of(&busy)];
    let failed = server.trigger("work", json!({}), json!({})).await;
    let run = take(&server, &v1, 1).await.remove(0);
    assert_eq!(server.complete_err(&run, "gone-error").await.0, 200);
    gone.push(failed);
    let canceled = server.trigger("work", json!({}), json!({})).await;
    assert_eq!(server.cancel(&canceled).await.0, 200);
    gone.push(canceled);
    let gone_batch = batch(&server, "work", 2).await;
    for run in take(&server, &v1, 2).await {
        assert_eq!(server.complete_ok(&run, json!(1)).await.0, 200);
        gone.push(id_of(&run));
    }
    // A parent that waited for its child; both finished.
    let parent = server.trigger("work", json!({}), json!({})).await;
    let p = take(&server, &v1, 1).await.remove(0);
    assert_eq!(id_of(&p), parent, "{p}");
    let waited = post_ok(
        &server,
        &format!("/api/v1/worker/runs/{parent}/waits"),
        json!({"lease": p["lease"], "position": 0, "name": "kid", "suspend": true,
               "wait": {"type": "run", "task": "child"}}),
    )
    .await;
    let parent_wait = waited["waitpointId"].as_str().unwrap().to_string();
    let kid = take(&server, &v1, 1).await.remove(0);
    assert_eq!(server.complete_ok(&kid, json!("kid-done")).await.0, 200);
    let p = take(&server, &v1, 1).await.remove(0);
    assert_eq!(server.complete_ok(&p, json!("parent-done")).await.0, 200);
    gone.extend([parent, id_of(&kid)]);
    let packet_path = packet(&server, "trigger/packet_retention/payload.json").await;

    // What stays though it finished as long ago: a child of a batch wait that has not
    // completed (its parent waits for the other child).
    let waiting = server.trigger("work", json!({}), json!({})).await;
    let w = take(&server, &v1, 1).await.remove(0);
    let items = json!([{"task": "child"}, {"task": "child"}]);
    post_ok(
        &server,
        &format!("/api/v1/worker/runs/{waiting}/waits"),
        json!({"lease": w["lease"], "position": 0, "name": "kids", "suspend": true,
               "wait": {"type": "batch", "items": items}}),
    )
    .await;
    let first_kid = take(&server, &v1, 1).await.remove(0);
    assert_eq!(server.complete_ok(&first_kid, json!(1)).await.0, 200);
    let mut kept = vec![waiting, id_of(&first_kid)];
    // A run of a batch whose other run has not finished (no more dequeues from here on: the
    // runs left queued stay so).
    let live_batch = batch(&server, "work", 2).await;
    let (s, b) = server.get(&format!("/api/v2/batches/{live_batch}")).await;
    assert_eq!(s, 200, "{b}");
    let canceled_in_batch = b["runs"][0].as_str().unwrap().to_string();
    assert_eq!(server.cancel(&canceled_in_batch).await.0, 200);
    kept.extend([
        canceled_in_batch,
        b["runs"][1].as_str().unwrap().to_string(),
    ]);
    // A parent that expired while its child has not started; and a run that expired.
    let expiring = server
        .trigger("work", json!({}), json!({"ttl": "1m"}))
        .await;
    let child = server
        .trigger("child", json!({}), json!({"parentRunId": expiring}))
        .await;
    let expired = server
        .trigger("work", json!({}), json!({"ttl": "1m"}))
        .await;
    let queued = server.trigger("work", json!({}), json!({})).await;
    server.advance(2 * 60_000).await;
    assert_eq!(server.status(&expiring).await, "EXPIRED");
    assert_eq!(server.status(&expired).await, "EXPIRED");
    kept.extend([expiring, child, queued]);
    gone.push(expired);
    // A finished run of an environment that keeps them for good.
    let (s, v) = server
        .call_as(
            STAGING_KEY,
            "PUT",
            "/api/v1/retention",
            Some(json!({"days": 0})),
        )
        .await;
    assert_eq!(
        (s, v),
        (
            200,
            json!({"days": 0, "defaultDays": 30, "isDefault": false})
        )
    );
    let staging_version = server.deploy_as(STAGING_KEY, manifest.clone(), true).await;
    let staging_run = server
        .trigger_as(STAGING_KEY, "work", json!({}), json!({}))
        .await;
    let run = server
        .dequeue_as(STAGING_KEY, &staging_version, 1, 0)
        .await
        .remove(0);
    let (s, v) = server
        .post_as(
            STAGING_KEY,
            &format!("/api/v1/worker/runs/{staging_run}/complete"),
            json!({"lease": run["lease"], "ok": true, "output": 1}),
        )
        .await;
    assert_eq!(s, 200, "{v}");

    // What will go is in every table that holds what belongs to runs (the search finds it).
    let mut needles = gone.clone();
    needles.extend([
        gone_batch.clone(),
        token_id.clone(),
        parent_wait.clone(),
        packet_path.clone(),
    ]);
    for text in [
        "ret-gone",
        "gone-payload",
        "gone-step",
        "gone-token",
        "gone-log",
        "gone-input",
        "gone-chunk",
        "gone-output",
        "gone-error",
        "gone-packet",
        "kid-done",
        "parent-done",
    ] {
        needles.push(text.to_string());
    }
    let before = tables(&rows_naming(&every_row(&server), &needles));
    for table in [
        "runs",
        "run_tags",
        "journal",
        "run_logs",
        "run_attempts",
        "input_messages",
        "input_cursors",
        "output_streams",
        "output_chunks",
        "waitpoints",
        "waitpoint_runs",
        "batches",
        "batch_items",
        "packets",
    ] {
        assert!(before.contains(table), "no {table} row found: {before:?}");
    }
    assert!(
        before.contains("run_events") || before.contains("run_events_outbox"),
        "{before:?}"
    );

    // Twenty days on, a run finishes: eleven days later it is still within the period.
    server.advance(20 * DAY).await;
    let recent = server.trigger("work", json!({}), json!({})).await;
    assert_eq!(server.cancel(&recent).await.0, 200);
    kept.push(recent);

    // The environment's own longer period holds everything back...
    let (s, v) = server
        .call("PUT", "/api/v1/retention", Some(json!({"days": 40})))
        .await;
    assert_eq!(
        (s, v),
        (
            200,
            json!({"days": 40, "defaultDays": 30, "isDefault": false})
        )
    );
    let moved = server.advance(11 * DAY).await;
    assert_eq!(moved["retention"]["runs"], json!(0), "{moved}");
    for id in &gone {
        assert_eq!(
            server.get(&format!("/api/v3/runs/{id}")).await.0,
            200,
            "{id}"
        );
    }
    // ...and back on the server's default (30 days), the old runs go.
    let (s, v) = server.call("DELETE", "/api/v1/retention", None).await;
    assert_eq!(
        (s, v),
        (
            200,
            json!({"days": 30, "defaultDays": 30, "isDefault": true})
        )
    );
    let moved = server.advance(0).await;
    let swept = &moved["retention"];
    assert_eq!(swept["runs"], json!(gone.len()), "{moved}");
    assert_eq!(swept["batches"], json!(1), "{moved}");
    assert_eq!(swept["tokens"], json!(1), "{moved}");
    assert_eq!(swept["packets"], json!(1), "{moved}");
    assert_eq!(swept["done"], json!(true), "{moved}");
    // The child the batch wait still needs, the batch's canceled run, the expired parent.
    assert_eq!(swept["kept"], json!(3), "{moved}");

    for id in &gone {
        let (s, v) = server.get(&format!("/api/v3/runs/{id}")).await;
        assert_eq!(s, 404, "{id} should be gone: {v}");
    }
    for id in &kept {
        assert_eq!(
            server.get(&format!("/api/v3/runs/{id}")).await.0,
            200,
            "{id} kept"
        );
    }
    let (s, v) = server
        .get_as(STAGING_KEY, &format!("/api/v3/runs/{staging_run}"))
        .await;
    assert_eq!((s, v["status"].clone()), (200, json!("COMPLETED")));
    let (s, v) = server.get(&format!("/api/v2/batches/{gone_batch}")).await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = server.get(&format!("/api/v2/batches/{live_batch}")).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = server
        .get(&format!("/api/v1/waitpoints/tokens/{token_id}"))
        .await;
    assert_eq!(s, 404, "{v}");

    // Nothing in any table names what went.
    let rows = every_row(&server);
    assert_eq!(rows_naming(&rows, &needles), Vec::<String>::new());
    for id in &kept {
        assert!(
            rows.iter()
                .any(|r| r.starts_with("runs:") && r.contains(id.as_str())),
            "{id} kept"
        );
    }

    // The idempotency key of a deleted run is free again: a new run, not the old one.
    let (s, v) = server
        .try_trigger(
            "work",
            json!({}),
            json!({"idempotencyKey": "idem-gone", "idempotencyKeyTTL": "60d"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_ne!(v["id"], json!(gone[0]));
    assert_eq!(v["isCached"], json!(false), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retention_period_is_read_set_and_checked() {
    let server = TestServer::start_with(Options {
        args: vec!["--retention-days".into(), "7".into()],
        ..Default::default()
    })
    .await;
    let (s, v) = server.get("/api/v1/retention").await;
    assert_eq!(
        (s, v),
        (200, json!({"days": 7, "defaultDays": 7, "isDefault": true}))
    );
    let (s, v) = server
        .call("PUT", "/api/v1/retention", Some(json!({"days": 36500})))
        .await;
    assert_eq!(
        (s, v),
        (
            200,
            json!({"days": 36500, "defaultDays": 7, "isDefault": false})
        )
    );
    // Each environment has its own.
    let (s, v) = server.get_as(PROD_KEY, "/api/v1/retention").await;
    assert_eq!((s, v["days"].clone()), (200, json!(7)));

    for (body, needle) in [
        (json!({"days": -1}), "days"),
        (json!({"days": 36501}), "36500"),
        (json!({"days": 1.5}), "days"),
        (json!({"days": "7"}), "days"),
        (json!({"days": null}), "days"),
        (json!({"days": 1e30}), "days"),
        (json!({}), "days"),
        (json!({"days": 3, "unit": "weeks"}), "unit"),
        (json!([3]), ""),
    ] {
        let (s, v) = server
            .call("PUT", "/api/v1/retention", Some(body.clone()))
            .await;
        assert_error(s, &v, &[400, 422], &[needle], &format!("PUT {body}"));
    }
    let r = server
        .send(
            Req::new("PUT", "/api/v1/retention")
                .raw_body("application/json", "{\"days\": 99999999999999999999999}"),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    // Nothing changed, and a public access token or no key may not look.
    let (_, v) = server.get("/api/v1/retention").await;
    assert_eq!(v["days"], json!(36500));
    let token = public_token(&server, &["read:runs".to_string()]).await;
    let (s, _) = server
        .call_as(&token, "GET", "/api/v1/retention", None)
        .await;
    assert_eq!(s, 401);
    let r = server
        .send(Req::new("GET", "/api/v1/retention").no_key())
        .await;
    assert_eq!(r.status, 401);
}

/// Runs the `trigr` binary against the server; returns (success, stdout, stderr).
fn trigr(server: &TestServer, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(binary())
        .args(args)
        .env("TRIGGER_API_URL", &server.base_url)
        .env("TRIGGER_SECRET_KEY", DEV_KEY)
        .output()
        .expect("run trigr");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigr_retention_gets_sets_and_resets() {
    let server = TestServer::start().await;
    let (ok, out, err) = trigr(&server, &["retention", "get"]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "Finished runs are kept 30 days after they finish (the server's default).\n"
    );
    let (ok, out, err) = trigr(&server, &["retention", "set", "14"]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "Finished runs are kept 14 days after they finish (this environment's own period; the server's default is 30 days).\n"
    );
    let (_, v) = server.get("/api/v1/retention").await;
    assert_eq!(v["days"], json!(14));
    let (ok, out, _) = trigr(&server, &["retention", "set", "0", "--json"]);
    assert!(ok);
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        answer,
        json!({"days": 0, "defaultDays": 30, "isDefault": false})
    );
    let (ok, out, _) = trigr(&server, &["retention", "reset"]);
    assert!(ok);
    assert!(
        out.contains("30 days") && out.contains("server's default"),
        "{out}"
    );
    // A bad number is refused before anything is sent.
    for bad in ["-1", "36501", "two"] {
        let (ok, _, err) = trigr(&server, &["retention", "set", bad]);
        assert!(!ok, "{bad} accepted");
        assert!(err.contains("DAYS") || err.contains("invalid"), "{err}");
    }
    let (_, v) = server.get("/api/v1/retention").await;
    assert_eq!(v["isDefault"], json!(true));
}
