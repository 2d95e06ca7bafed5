//! `ifVersion` guards on wait-token completion (docs/versioning.md §2): the guard is checked
//! against the version of the run waiting on the token, in the same transaction as the
//! delivery; a mismatch is a 409 that delivers nothing. Every completion answers with the
//! waiting run's `runVersion`, and token retrieve and list report it too.

mod common;

use common::*;
use serde_json::{json, Value};

/// Dequeues exactly one run.
async fn one(server: &TestServer, version: &str) -> Value {
    let mut got = server.dequeue(version, 10, 0).await;
    assert_eq!(got.len(), 1, "expected one run: {got:?}");
    got.remove(0)
}

/// Creates a token; returns its answer (`id`, `url`, `isCached`).
async fn token(server: &TestServer) -> Value {
    let (s, v) = server.post("/api/v1/waitpoints/tokens", json!({})).await;
    assert_eq!(s, 200, "create token: {v}");
    v
}

/// Triggers a run of `task` and suspends it on the token; returns the run id.
async fn run_waiting_on(server: &TestServer, version: &str, task: &str, token_id: &str) -> String {
    let id = server.trigger(task, json!({}), json!({})).await;
    let run = one(server, version).await;
    let (s, v) = server
        .post(
            &format!("/api/v1/worker/runs/{id}/waits"),
            json!({"lease": run["lease"], "position": 0, "name": "approval", "suspend": true,
                   "wait": {"type": "token", "tokenId": token_id}}),
        )
        .await;
    assert_eq!((s, v["status"].clone()), (200, json!("WAITING")), "{v}");
    id
}

fn complete_path(token_id: &str) -> String {
    format!("/api/v1/waitpoints/tokens/{token_id}/complete")
}

async fn token_status(server: &TestServer, token_id: &str) -> Value {
    let (s, v) = server
        .get(&format!("/api/v1/waitpoints/tokens/{token_id}"))
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

/// A refused delivery: 409 with the three fields and `x-should-retry: false`.
fn assert_mismatch(r: &Resp, run_id: Option<&str>, expected: &str, actual: Option<&str>) {
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.json["error"].is_string(), "{}", r.text);
    assert_eq!(r.json["runId"], json!(run_id), "{}", r.text);
    assert_eq!(r.json["expectedVersion"], json!(expected), "{}", r.text);
    assert_eq!(r.json["actualVersion"], json!(actual), "{}", r.text);
    assert_eq!(r.header("x-should-retry").as_deref(), Some("false"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guarded_completion_delivers_only_to_a_matching_run() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["approve"])).await;
    let t = token(&server).await;
    let token_id = t["id"].as_str().unwrap().to_string();
    let id = run_waiting_on(&server, &version, "approve", &token_id).await;

    // Retrieve and list report the waiting run's version.
    assert_eq!(
        token_status(&server, &token_id).await["runVersion"],
        json!(version)
    );
    let (s, v) = server.get("/api/v1/waitpoints/tokens").await;
    assert_eq!(s, 200, "{v}");
    let item = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == json!(token_id))
        .expect("token listed")
        .clone();
    assert_eq!(item["runVersion"], json!(version), "{item}");

    // Exact, comparison, wildcard and conjunction guards that do not hold.
    let (day, _) = version.split_once('.').unwrap();
    let other_day: u64 = day.parse::<u64>().unwrap() - 1;
    for guard in [
        format!("{other_day}.1"),
        format!(">{version}"),
        format!("<{version}"),
        format!("!={version}"),
        format!("{other_day}.*"),
        format!(">={version},<{version}"),
    ] {
        let r = server
            .send(
                Req::new("POST", &complete_path(&token_id))
                    .json(&json!({"data": {"ok": true}, "ifVersion": guard})),
            )
            .await;
        assert_mismatch(&r, Some(&id), &guard, Some(&version));
        assert_eq!(
            token_status(&server, &token_id).await["status"],
            json!("WAITING")
        );
        assert_eq!(server.status(&id).await, "WAITING", "after {guard}");
    }

    // A guard that holds delivers, and the run resumes with the data.
    let r = server
        .send(
            Req::new("POST", &complete_path(&token_id))
                .json(&json!({"data": {"ok": true}, "ifVersion": format!(">={version},{day}.*")})),
        )
        .await;
    assert_eq!(
        (r.status, r.json.clone()),
        (200, json!({"success": true, "runVersion": version})),
        "{}",
        r.text
    );
    assert_eq!(server.status(&id).await, "QUEUED");
    let resumed = one(&server, &version).await;
    assert_eq!(resumed["resumed"], json!(true));
    assert_eq!(resumed["journal"][0]["output"], json!({"ok": true}));
    let t = token_status(&server, &token_id).await;
    assert_eq!(t["status"], json!("COMPLETED"));
    assert_eq!(t["runVersion"], json!(null), "no run waits any more: {t}");

    // A completed token answers alreadyCompleted, guard or not.
    let r = server
        .send(
            Req::new("POST", &complete_path(&token_id))
                .json(&json!({"data": 1, "ifVersion": format!("{other_day}.1")})),
        )
        .await;
    assert_eq!(
        (r.status, r.json.clone()),
        (
            200,
            json!({"success": true, "alreadyCompleted": true, "runVersion": null})
        ),
        "{}",
        r.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unguarded_completion_delivers_and_reports_the_run_version() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["approve"])).await;
    let t = token(&server).await;
    let token_id = t["id"].as_str().unwrap().to_string();
    let id = run_waiting_on(&server, &version, "approve", &token_id).await;
    let (s, v) = server
        .post(&complete_path(&token_id), json!({"data": "yes"}))
        .await;
    assert_eq!(
        (s, v.clone()),
        (200, json!({"success": true, "runVersion": version})),
        "{v}"
    );
    assert_eq!(server.status(&id).await, "QUEUED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_header_form_guards_complete_and_the_callback_url() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["hook"])).await;
    let (day, _) = version.split_once('.').unwrap();

    // On complete.
    let t = token(&server).await;
    let token_id = t["id"].as_str().unwrap().to_string();
    let id = run_waiting_on(&server, &version, "hook", &token_id).await;
    let r = server
        .send(
            Req::new("POST", &complete_path(&token_id))
                .header("X-Trigger-If-Version", ">99990101.0")
                .json(&json!({"data": 1})),
        )
        .await;
    assert_mismatch(&r, Some(&id), ">99990101.0", Some(&version));
    assert_eq!(server.status(&id).await, "WAITING");
    // Body and header that disagree are refused.
    let r = server
        .send(
            Req::new("POST", &complete_path(&token_id))
                .header("X-Trigger-If-Version", ">99990101.0")
                .json(&json!({"data": 1, "ifVersion": version})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = server
        .send(
            Req::new("POST", &complete_path(&token_id))
                .header("X-Trigger-If-Version", &format!("{day}.*"))
                .json(&json!({"data": 1})),
        )
        .await;
    assert_eq!(
        (r.status, r.json.clone()),
        (200, json!({"success": true, "runVersion": version})),
        "{}",
        r.text
    );
    assert_eq!(server.status(&id).await, "QUEUED");
    assert_eq!(one(&server, &version).await["resumed"], json!(true));

    // On the callback URL.
    let t = token(&server).await;
    let token_id = t["id"].as_str().unwrap().to_string();
    let path = t["url"]
        .as_str()
        .unwrap()
        .strip_prefix(&server.base_url)
        .expect("url on this server")
        .to_string();
    let id = run_waiting_on(&server, &version, "hook", &token_id).await;
    let r = server
        .send(
            Req::new("POST", &path)
                .no_key()
                .header("X-Trigger-If-Version", "<20000101.0")
                .json(&json!({"event": "paid"})),
        )
        .await;
    assert_mismatch(&r, Some(&id), "<20000101.0", Some(&version));
    assert_eq!(
        token_status(&server, &token_id).await["status"],
        json!("WAITING")
    );
    assert_eq!(server.status(&id).await, "WAITING");
    let r = server
        .send(
            Req::new("POST", &path)
                .no_key()
                .header("X-Trigger-If-Version", &version)
                .json(&json!({"event": "paid"})),
        )
        .await;
    assert_eq!(
        (r.status, r.json.clone()),
        (200, json!({"success": true, "runVersion": version})),
        "{}",
        r.text
    );
    assert_eq!(server.status(&id).await, "QUEUED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_guard_is_a_400_naming_the_bad_part() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["approve"])).await;
    let t = token(&server).await;
    let token_id = t["id"].as_str().unwrap().to_string();
    let id = run_waiting_on(&server, &version, "approve", &token_id).await;
    let r = server
        .send(
            Req::new("POST", &complete_path(&token_id))
                .json(&json!({"data": 1, "ifVersion": ">=20240815.1,banana"})),
        )
        .await;
    assert_error(
        r.status,
        &r.json,
        &[400],
        &["banana"],
        "malformed body guard",
    );
    let r = server
        .send(
            Req::new("POST", &complete_path(&token_id))
                .header("X-Trigger-If-Version", "~>20240815.1")
                .json(&json!({"data": 1})),
        )
        .await;
    assert_error(r.status, &r.json, &[400], &["~>"], "malformed header guard");
    assert_eq!(server.status(&id).await, "WAITING");
    assert_eq!(
        token_status(&server, &token_id).await["status"],
        json!("WAITING")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guard_with_no_waiting_run_is_a_mismatch_with_a_null_version() {
    let server = TestServer::start_with_clock().await;
    server.deploy(tasks(&["approve"])).await;
    let t = token(&server).await;
    let token_id = t["id"].as_str().unwrap().to_string();
    assert_eq!(
        token_status(&server, &token_id).await["runVersion"],
        json!(null)
    );
    let r = server
        .send(
            Req::new("POST", &complete_path(&token_id)).json(&json!({"data": 1, "ifVersion": "*"})),
        )
        .await;
    assert_mismatch(&r, None, "*", None);
    assert_eq!(
        token_status(&server, &token_id).await["status"],
        json!("WAITING")
    );
    // Without a guard it completes, with no run version.
    let (s, v) = server
        .post(&complete_path(&token_id), json!({"data": 1}))
        .await;
    assert_eq!(
        (s, v.clone()),
        (200, json!({"success": true, "runVersion": null})),
        "{v}"
    );
}
