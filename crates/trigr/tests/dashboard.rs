//! The dashboard: sign-in, sessions, CSRF and environment walls over HTTP, and the pages in a
//! real browser (chromedriver + Chromium, headless) against a real server: runs appear live,
//! logs and steps show as they happen, cancel and queue pause work from the page.
//! Screenshots of the main pages go to `target/dashboard-screenshots/`.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

/// An HTTP client that shows redirects instead of following them.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A signed-in browser session over plain HTTP: the cookie and the environment.
struct Session {
    cookie: String,
    env_id: String,
    set_cookie: String,
}

async fn sign_in(server: &TestServer, key: &str, extra: &[(&str, &str)]) -> Session {
    let mut req = client()
        .post(server.url("/dashboard/login"))
        .form(&[("key", key)]);
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 303, "sign-in");
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    let env_id = location
        .strip_prefix("/dashboard/env/")
        .and_then(|r| r.strip_suffix("/runs"))
        .unwrap_or_else(|| panic!("Location {location}"))
        .to_string();
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    Session {
        cookie,
        env_id,
        set_cookie,
    }
}

impl Session {
    async fn get_batches(&self, server: &TestServer) -> (u16, String) {
        self.get(server, &format!("/dashboard/env/{}/batches", self.env_id))
            .await
    }

    async fn get(&self, server: &TestServer, path: &str) -> (u16, String) {
        let resp = client()
            .get(server.url(path))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    /// The CSRF value of the session, read from a page's form.
    async fn csrf(&self, server: &TestServer) -> String {
        let (_, page) = self
            .get(server, &format!("/dashboard/env/{}/runs", self.env_id))
            .await;
        let at = page.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
        page[at..at + 64].to_string()
    }

    async fn post(
        &self,
        server: &TestServer,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = client()
            .post(server.url(path))
            .header("cookie", &self.cookie)
            .form(form);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }
}

#[tokio::test]
async fn sign_in_needs_a_key_and_sets_a_strict_cookie() {
    let server = TestServer::start().await;
    let http = client();
    let root = http.get(server.url("/")).send().await.unwrap();
    assert_eq!(root.status(), 303);
    assert_eq!(root.headers()["location"], "/dashboard");
    let home = http.get(server.url("/dashboard")).send().await.unwrap();
    assert_eq!(home.status(), 303);
    assert_eq!(home.headers()["location"], "/dashboard/login");
    let form = http
        .get(server.url("/dashboard/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    assert!(form.text().await.unwrap().contains("name=\"key\""));

    let wrong = http
        .post(server.url("/dashboard/login"))
        .form(&[("key", "tr_dev_wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert!(wrong.text().await.unwrap().contains("not a secret key"));

    let s = sign_in(&server, DEV_KEY, &[]).await;
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(s.set_cookie.contains(part), "{part} in {}", s.set_cookie);
    }
    assert!(
        !s.set_cookie.contains("Secure"),
        "plain HTTP: {}",
        s.set_cookie
    );
    let tls = sign_in(&server, DEV_KEY, &[("x-forwarded-proto", "https")]).await;
    assert!(tls.set_cookie.contains("; Secure"), "{}", tls.set_cookie);

    let (status, page) = s
        .get(&server, &format!("/dashboard/env/{}/runs", s.env_id))
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("<h1>Runs</h1>"), "{page}");
    let (status, _) = s.get(&server, "/dashboard").await;
    assert_eq!(status, 303);

    // Signing out ends the session on the server, whatever the browser keeps.
    let csrf = s.csrf(&server).await;
    let out = s
        .post(&server, "/dashboard/logout", &[("csrf", &csrf)], &[])
        .await;
    assert_eq!(out.status(), 303);
    assert!(out.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let (status, _) = s
        .get(&server, &format!("/dashboard/env/{}/runs", s.env_id))
        .await;
    assert_eq!(status, 303, "signed out");
}

#[tokio::test]
async fn posts_need_the_session_csrf_value_and_the_same_site() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["hello"])).await;
    let run_id = server.trigger("hello", json!({}), json!({})).await;
    let s = sign_in(&server, DEV_KEY, &[]).await;
    let cancel = format!("/dashboard/env/{}/runs/{run_id}/cancel", s.env_id);
    let csrf = s.csrf(&server).await;

    let none = s.post(&server, &cancel, &[], &[]).await;
    assert_eq!(none.status(), 403, "no token");
    assert!(none.text().await.unwrap().contains("security token"));
    let wrong = s
        .post(&server, &cancel, &[("csrf", &"0".repeat(64))], &[])
        .await;
    assert_eq!(wrong.status(), 403, "another value");
    let cross = s
        .post(
            &server,
            &cancel,
            &[("csrf", &csrf)],
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(cross.status(), 403, "cross-site");
    let origin = s
        .post(
            &server,
            &cancel,
            &[("csrf", &csrf)],
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(origin.status(), 403, "another origin");
    assert_eq!(
        server.status(&run_id).await,
        "QUEUED",
        "nothing refused changed anything"
    );

    let other = sign_in(&server, DEV_KEY, &[]).await;
    let stolen = other.post(&server, &cancel, &[("csrf", &csrf)], &[]).await;
    assert_eq!(stolen.status(), 403, "a value of another session");

    let ok = s
        .post(
            &server,
            &cancel,
            &[("csrf", &csrf)],
            &[("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(ok.status(), 303);
    assert_eq!(server.status(&run_id).await, "CANCELED");
}

#[tokio::test]
async fn one_environment_cannot_see_another() {
    let server = TestServer::start().await;
    server
        .deploy_as(STAGING_KEY, tasks(&["secret-task"]), true)
        .await;
    let (s, v) = server
        .call_as(
            STAGING_KEY,
            "POST",
            "/api/v1/tasks/secret-task/trigger",
            Some(json!({"payload": {"a": 1}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let staging_run = v["id"].as_str().unwrap().to_string();
    let staging = sign_in(&server, STAGING_KEY, &[]).await;
    let dev = sign_in(&server, DEV_KEY, &[]).await;
    assert_ne!(staging.env_id, dev.env_id);

    let (status, _) = staging
        .get(
            &server,
            &format!("/dashboard/env/{}/runs/{staging_run}", staging.env_id),
        )
        .await;
    assert_eq!(status, 200);
    for path in [
        format!("/dashboard/env/{}/runs/{staging_run}", staging.env_id),
        format!("/dashboard/env/{}/runs", staging.env_id),
        format!("/dashboard/env/{}/queues", staging.env_id),
        format!("/dashboard/env/{}/runs/{staging_run}", dev.env_id),
    ] {
        let (status, page) = dev.get(&server, &path).await;
        assert_eq!(status, 404, "{path}");
        assert!(!page.contains("secret-task"), "{path} leaks nothing");
    }
    let csrf = dev.csrf(&server).await;
    let cancel = dev
        .post(
            &server,
            &format!(
                "/dashboard/env/{}/runs/{staging_run}/cancel",
                staging.env_id
            ),
            &[("csrf", &csrf)],
            &[],
        )
        .await;
    assert_eq!(cancel.status(), 404);
    let (_, run) = server
        .get_as(STAGING_KEY, &format!("/api/v3/runs/{staging_run}"))
        .await;
    assert_ne!(run["status"], "CANCELED");
}

#[tokio::test]
async fn bad_filters_are_named_in_a_400_page() {
    let server = TestServer::start().await;
    let s = sign_in(&server, DEV_KEY, &[]).await;
    let base = format!("/dashboard/env/{}/runs", s.env_id);
    for (query, named) in [
        ("status=NOPE", "status"),
        ("from=yesterday", "from"),
        ("to=2025-13-40", "to"),
        ("colour=red", "colour"),
        ("after=run_missing", "run_missing"),
    ] {
        let (status, page) = s.get(&server, &format!("{base}?{query}")).await;
        assert_eq!(status, 400, "{query}: {page}");
        assert!(page.contains(named), "{query} names {named}: {page}");
        assert!(page.starts_with("<!DOCTYPE html>"), "an HTML page");
    }
    let (status, _) = s
        .get(&server, &format!("{base}?status=COMPLETED,FAILED&from=2024-01-01&to=2030-01-01T00:00:00Z&task=&tag=x"))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_runs_page_filters_by_region_and_the_run_page_shows_it() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let s = sign_in(&server, DEV_KEY, &[]).await;
    let runs = format!("/dashboard/env/{}/runs", s.env_id);
    let eu = server
        .trigger("t", json!({}), json!({"region": "eu-central-1"}))
        .await;
    let plain = server.trigger("t", json!({}), json!({})).await;
    let (st, page) = s.get(&server, &format!("{runs}?region=eu-central-1")).await;
    assert_eq!(st, 200, "{page}");
    assert!(page.contains(&eu) && !page.contains(&plain), "{page}");
    let (st, page) = s.get(&server, &format!("{runs}?region=default")).await;
    assert_eq!(st, 200, "{page}");
    assert!(page.contains(&plain) && !page.contains(&eu), "{page}");
    let (st, page) = s.get(&server, &format!("{runs}/{eu}")).await;
    assert_eq!(st, 200, "{page}");
    assert!(
        page.contains(&format!("{runs}?region=eu-central-1")),
        "the run page links its region: {page}"
    );
}

/// A workflow plan's run page draws its DAG: a box per action in columns by depth, an arrow per
/// dependency, each box with its action's status — pending before a worker starts the plan,
/// then as the final state says; a run of another task draws none.
#[tokio::test]
async fn the_run_page_of_a_plan_draws_its_dag_with_each_action_status() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["trigr-plan", "t"])).await;
    let s = sign_in(&server, DEV_KEY, &[]).await;
    let runs = format!("/dashboard/env/{}/runs", s.env_id);
    let http = json!({"method": "GET", "url": "http://127.0.0.1:9/"});
    let plan = json!({"id": "nightly", "actions": [
        {"id": "fetch", "http": http},
        {"id": "store", "dependsOn": ["fetch"], "http": http},
        {"id": "audit", "dependsOn": ["fetch"], "http": http},
        {"id": "report", "dependsOn": ["store", "audit"], "http": http},
    ]});
    let id = server.trigger("trigr-plan", plan, json!({})).await;
    let (st, page) = s.get(&server, &format!("{runs}/{id}")).await;
    assert_eq!(st, 200, "{page}");
    assert!(
        page.contains("Plan <span class=\"mono\">nightly</span> — pending"),
        "{page}"
    );
    for action in ["fetch", "store", "audit", "report"] {
        let node = format!(r#"data-action="{action}" data-status="pending""#);
        assert!(page.contains(&node), "{action} drawn pending: {page}");
    }
    assert_eq!(page.matches("class=\"dag-edge\"").count(), 4, "{page}");

    // The plan ends: fetch and audit completed, store failed, report skipped.
    let got = server.dequeue(&version, 1, 0).await;
    assert_eq!(got.len(), 1);
    let result = |id: &str, status: &str| json!({"actionId": id, "status": status, "attempts": 1});
    let mut failed = result("store", "failed");
    failed["error"] = json!({"message": "HTTP 503 after 3 tries"});
    let state = json!({
        "executionId": id, "planId": "nightly", "status": "failed",
        "startedAt": "2026-01-01T00:00:00Z", "completedAt": "2026-01-01T00:00:01Z",
        "results": {
            "fetch": result("fetch", "completed"), "audit": result("audit", "completed"),
            "store": failed, "report": result("report", "skipped"),
        }
    });
    let (st, v) = server.complete_ok(&got[0], state).await;
    assert_eq!(st, 200, "{v}");
    let (_, page) = s.get(&server, &format!("{runs}/{id}")).await;
    for (action, status) in [
        ("fetch", "completed"),
        ("audit", "completed"),
        ("store", "failed"),
        ("report", "skipped"),
    ] {
        let node = format!(r#"data-action="{action}" data-status="{status}""#);
        assert!(page.contains(&node), "{action} drawn {status}: {page}");
    }
    assert!(
        page.contains("failed, 1 try: HTTP 503 after 3 tries"),
        "{page}"
    );

    let other = server.trigger("t", json!({}), json!({})).await;
    let (_, page) = s.get(&server, &format!("{runs}/{other}")).await;
    assert!(
        !page.contains("id=\"plan\""),
        "no DAG for other tasks: {page}"
    );
}

#[tokio::test]
async fn runs_are_found_by_schedule_and_idempotency_key_and_batches_are_listed() {
    let server = TestServer::start_with_clock().await;
    server.deploy(tasks(&["t"])).await;
    let s = sign_in(&server, DEV_KEY, &[]).await;
    let runs = format!("/dashboard/env/{}/runs", s.env_id);

    // A schedule's runs, and nothing else.
    let (st, sched) = server
        .post(
            "/api/v1/schedules",
            json!({"task": "t", "cron": "0 * * * *", "deduplicationKey": "d"}),
        )
        .await;
    assert_eq!(st, 200, "{sched}");
    let sched_id = sched["id"].as_str().unwrap();
    let plain = server.trigger("t", json!({}), json!({})).await;
    server.advance(3_600_000).await;
    let scheduled = server
        .list_ids(&query(&[("filter[schedule]", sched_id)]))
        .await;
    assert_eq!(scheduled.len(), 1);
    let (st, page) = s.get(&server, &format!("{runs}?schedule={sched_id}")).await;
    assert_eq!(st, 200, "{page}");
    assert!(
        page.contains(&scheduled[0]) && !page.contains(&plain),
        "{page}"
    );

    // An idempotency key: `key=` lists its run, `q=` too when it names no run id.
    let keyed = server
        .trigger("t", json!({}), json!({"idempotencyKey": "order-42"}))
        .await;
    let (st, page) = s.get(&server, &format!("{runs}?key=order-42")).await;
    assert_eq!(st, 200, "{page}");
    assert!(page.contains(&keyed) && !page.contains(&plain), "{page}");
    // `q=` that names no run leads to the key's runs, other filters kept, at an address the
    // page's live stream reads the same way.
    let found = client()
        .get(server.url(&format!("{runs}?q=order-42&task=t")))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(found.status(), 303);
    assert_eq!(
        found.headers()["location"].to_str().unwrap(),
        format!("{runs}?task=t&key=order%2D42")
    );
    let (st, page) = s.get(&server, &format!("{runs}?key=no-such-key")).await;
    assert_eq!(st, 200);
    assert!(page.contains("No runs match"), "{page}");
    // A run id opens the run.
    let (st, _) = s.get(&server, &format!("{runs}?q={plain}")).await;
    assert_eq!(st, 303);

    // Batches, newest first, with their progress.
    let mut ids = Vec::new();
    for n in [2usize, 3] {
        let r = server
            .create_batch(json!({"runCount": n, "taskIdentifiers": ["t"]}))
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
        let id = r.json["id"].as_str().unwrap().to_string();
        let items: Vec<_> = (0..n)
            .map(|i| json!({"index": i, "task": "t", "payload": "{}", "options": {"payloadType": "application/json"}}))
            .collect();
        let r = server.send_items(&id, &items).await;
        assert_eq!(r.status, 200, "{}", r.text);
        ids.push(id);
        server.advance(1000).await;
    }
    let (st, page) = s
        .get(&server, &format!("/dashboard/env/{}/batches", s.env_id))
        .await;
    assert_eq!(st, 200, "{page}");
    let (older, newer) = (page.find(&ids[0]).unwrap(), page.find(&ids[1]).unwrap());
    assert!(newer < older, "newest first");
    assert!(page.contains("0 of 3 runs finished") && page.contains("0 of 2 runs finished"));
    // Another environment's batch is not listed.
    let (st, page) = sign_in(&server, STAGING_KEY, &[])
        .await
        .get_batches(&server)
        .await;
    assert_eq!(st, 200);
    assert!(!page.contains(&ids[0]) && !page.contains(&ids[1]));
}

/// The version of the current deployment.
async fn current(server: &TestServer) -> serde_json::Value {
    server.get("/api/v1/deployments/current").await.1["version"].clone()
}

/// Posts a dashboard form with the session's CSRF value; the answer must be `303`.
async fn act(s: &Session, server: &TestServer, path: &str, fields: &[(&str, &str)]) {
    let csrf = s.csrf(server).await;
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    let resp = s.post(server, path, &form, &[]).await;
    let status = resp.status().as_u16();
    assert_eq!(status, 303, "{path}: {}", resp.text().await.unwrap());
}

#[tokio::test]
async fn every_action_of_the_pages_changes_what_the_api_reads() {
    let server = TestServer::start_with_clock().await;
    let v1 = server.deploy(tasks(&["t"])).await;
    let s = sign_in(&server, DEV_KEY, &[]).await;
    let env = format!("/dashboard/env/{}", s.env_id);

    // Replay with an edited payload: a new run of the same task with that payload.
    let original = server.trigger("t", json!({"a": 1}), json!({})).await;
    let before = server.list_ids("").await.len();
    act(
        &s,
        &server,
        &format!("{env}/runs/{original}/replay"),
        &[("payload", r#"{"a": 2}"#)],
    )
    .await;
    let ids = server.list_ids("").await;
    assert_eq!(ids.len(), before + 1);
    let replayed = server.run(&ids[0]).await;
    assert_eq!(replayed["payload"], json!({"a": 2}), "{replayed}");
    // A payload that is not JSON is refused and creates nothing.
    let csrf = s.csrf(&server).await;
    let bad = s
        .post(
            &server,
            &format!("{env}/runs/{original}/replay"),
            &[("csrf", &csrf), ("payload", "{nope")],
            &[],
        )
        .await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("not JSON"));
    assert_eq!(server.list_ids("").await.len(), before + 1);

    // Reschedule a delayed run.
    let delayed = server.trigger("t", json!({}), json!({"delay": "1h"})).await;
    let was = parse_ms(&server.run(&delayed).await["delayedUntil"]);
    act(
        &s,
        &server,
        &format!("{env}/runs/{delayed}/reschedule"),
        &[("delay", "3h")],
    )
    .await;
    let now = parse_ms(&server.run(&delayed).await["delayedUntil"]);
    assert_eq!(now - was, 2 * 3_600_000);

    // Complete a wait token from the tokens page.
    let (st, token) = server.post("/api/v1/waitpoints/tokens", json!({})).await;
    assert_eq!(st, 200, "{token}");
    let token_id = token["id"].as_str().unwrap();
    act(
        &s,
        &server,
        &format!("{env}/tokens/{token_id}/complete"),
        &[("data", r#"{"ok": true}"#)],
    )
    .await;
    let (_, token) = server
        .get(&format!("/api/v1/waitpoints/tokens/{token_id}"))
        .await;
    assert_eq!(token["status"], json!("COMPLETED"), "{token}");

    // Rollback, then promote again.
    let v2 = server.deploy(tasks(&["t"])).await;
    assert_eq!(current(&server).await, json!(v2));
    act(&s, &server, &format!("{env}/deployments/rollback"), &[]).await;
    assert_eq!(current(&server).await, json!(v1));
    act(&s, &server, &format!("{env}/deployments/{v2}/promote"), &[]).await;
    assert_eq!(current(&server).await, json!(v2));

    // Deactivate and activate a schedule.
    let (_, sched) = server
        .post(
            "/api/v1/schedules",
            json!({"task": "t", "cron": "0 * * * *", "deduplicationKey": "d"}),
        )
        .await;
    let sched_id = sched["id"].as_str().unwrap();
    for (action, active) in [("deactivate", false), ("activate", true)] {
        act(
            &s,
            &server,
            &format!("{env}/schedules/{sched_id}/{action}"),
            &[],
        )
        .await;
        let (_, got) = server.get(&format!("/api/v1/schedules/{sched_id}")).await;
        assert_eq!(got["active"], json!(active), "{action}: {got}");
    }

    // Override a queue's limit, then reset it; a limit that is not a number is refused.
    let (_, queue) = server.get("/api/v1/queues/t?type=task").await;
    let queue_id = queue["id"].as_str().unwrap();
    act(
        &s,
        &server,
        &format!("{env}/queues/{queue_id}/override"),
        &[("limit", "3")],
    )
    .await;
    let (_, queue) = server
        .get(&format!("/api/v1/queues/{queue_id}?type=id"))
        .await;
    assert_eq!(queue["concurrency"]["override"], json!(3), "{queue}");
    let csrf = s.csrf(&server).await;
    let bad = s
        .post(
            &server,
            &format!("{env}/queues/{queue_id}/override"),
            &[("csrf", &csrf), ("limit", "many")],
            &[],
        )
        .await;
    assert_eq!(bad.status(), 400);
    act(&s, &server, &format!("{env}/queues/{queue_id}/reset"), &[]).await;
    let (_, queue) = server
        .get(&format!("/api/v1/queues/{queue_id}?type=id"))
        .await;
    assert_eq!(queue["concurrency"]["override"], json!(null), "{queue}");
}

#[tokio::test]
async fn the_run_page_draws_the_reported_spans_as_a_nested_waterfall() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let s = sign_in(&server, DEV_KEY, &[]).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let run = server.dequeue(&version, 1, 0).await.remove(0);
    let span = |id: &str, parent: Option<&str>, name: &str, kind: &str, status: &str, end: &str| {
        let mut s = json!({"spanId": id, "name": name, "kind": kind, "status": status,
            "startTimeUnixNano": "1764190800000000000", "endTimeUnixNano": end});
        if let Some(p) = parent {
            s["parentSpanId"] = json!(p);
        }
        s
    };
    let spans = json!([
        span(
            "b000000000000001",
            None,
            "attempt 1",
            "attempt",
            "ok",
            "1764190801000000000"
        ),
        span(
            "b000000000000002",
            Some("b000000000000001"),
            "charge-card",
            "step",
            "error",
            "1764190800250000000"
        ),
    ]);
    let (st, v) = server
        .post(
            &format!("/api/v1/worker/runs/{id}/spans"),
            json!({"lease": run["lease"], "spans": spans}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, page) = s
        .get(&server, &format!("/dashboard/env/{}/runs/{id}", s.env_id))
        .await;
    assert_eq!(st, 200);
    let trace = &page[page.find("id=\"trace\"").expect("a trace section")..];
    let trace_id = server.run(&id).await["traceId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(trace.contains(&trace_id), "names the trace id");
    let (attempt, step) = (
        trace.find("attempt 1").unwrap(),
        trace.find("charge-card").unwrap(),
    );
    assert!(attempt < step, "the parent first");
    assert!(
        trace.contains("padding-left:26px\">charge-card"),
        "the step one level in: {trace}"
    );
    assert!(trace.contains("bar failed"), "the failed span marked");
    assert!(trace.contains("<td>250 ms</td>"), "its duration: {trace}");

    // A trigger span links the child run whose root span hangs under it (the worker named the
    // span in its wait, before the child's run id was known).
    let wait = json!({"lease": run["lease"], "position": 0, "name": "child", "suspend": false,
        "wait": {"type": "run", "task": "t", "spanId": "b000000000000003"}});
    let (st, w) = server
        .post(&format!("/api/v1/worker/runs/{id}/waits"), wait)
        .await;
    assert_eq!(st, 200, "{w}");
    let child = w["runIds"][0].as_str().expect("the child's run id");
    let trigger = span(
        "b000000000000003",
        Some("b000000000000001"),
        "trigger t",
        "trigger",
        "ok",
        "1764190800300000000",
    );
    let (st, v) = server
        .post(
            &format!("/api/v1/worker/runs/{id}/spans"),
            json!({"lease": run["lease"], "spans": [trigger]}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, page) = s
        .get(&server, &format!("/dashboard/env/{}/runs/{id}", s.env_id))
        .await;
    let trace = &page[page.find("id=\"trace\"").expect("a trace section")..];
    let link = format!("href=\"/dashboard/env/{}/runs/{child}\"", s.env_id);
    assert!(
        trace.contains(&link),
        "the trigger span links {child}: {trace}"
    );
}

#[tokio::test]
async fn the_overview_counts_the_finished_runs_and_their_failure_rate() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let s = sign_in(&server, DEV_KEY, &[]).await;
    for _ in 0..4 {
        server
            .trigger("t", json!({}), json!({"maxAttempts": 1}))
            .await;
    }
    let runs = server.dequeue(&version, 4, 0).await;
    assert_eq!(runs.len(), 4);
    for run in &runs[..3] {
        assert_eq!(server.complete_ok(run, json!(null)).await.0, 200);
    }
    assert_eq!(server.complete_err(&runs[3], "boom").await.0, 200);
    let (st, page) = s
        .get(&server, &format!("/dashboard/env/{}/overview", s.env_id))
        .await;
    assert_eq!(st, 200);
    let text = |label: &str| {
        let at = page
            .find(label)
            .unwrap_or_else(|| panic!("{label} on the page"));
        page[at..]
            .split('>')
            .nth(2)
            .unwrap_or("")
            .split('<')
            .next()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(text("Finished, last 24 h"), "4", "{page}");
    assert_eq!(text("Failure rate</h2>"), "25.0 %", "{page}");
    // This hour's point of the failure-rate line.
    assert!(page.contains("<title>25.0 % failed</title>"), "{page}");
    assert_eq!(
        page.matches("<circle").count(),
        1,
        "one hour had finished runs"
    );
}

/// The environment's mollifier as the API reads it.
async fn mollifier_api(server: &TestServer) -> serde_json::Value {
    let (status, v) = server.get("/api/v1/mollifier").await;
    assert_eq!(status, 200, "{v}");
    v
}

#[tokio::test]
async fn the_burst_smoothing_page_shows_the_buffer_and_sets_the_override() {
    let server = TestServer::start_with(Options {
        test_clock: true,
        args: ["--mollifier-threshold", "1", "--mollifier-drain", "false"]
            .map(String::from)
            .to_vec(),
        ..Default::default()
    })
    .await;
    server.deploy(tasks(&["burst"])).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(server.trigger("burst", json!({"i": i}), json!({})).await);
    }
    let depth = mollifier_api(&server).await["depth"].as_i64().unwrap();
    assert_eq!(depth, 3, "the first trigger passed, the rest are buffered");

    let s = sign_in(&server, DEV_KEY, &[]).await;
    let path = format!("/dashboard/env/{}/mollifier", s.env_id);
    let anonymous = client().get(server.url(&path)).send().await.unwrap();
    assert_eq!(anonymous.status(), 303, "sign-in first");
    assert_eq!(anonymous.headers()["location"], "/dashboard/login");

    let (status, page) = s.get(&server, &path).await;
    assert_eq!(status, 200);
    assert!(page.contains("<h1>Burst smoothing</h1>"), "{page}");
    assert!(
        page.contains(&format!("href=\"{path}\"")),
        "linked from the nav"
    );
    assert!(page.contains("data-depth=\"3\""), "{page}");
    assert!(page.contains("data-tripped=\"true\""), "{page}");
    assert!(page.contains("data-global-mode=\"on\""), "{page}");
    for id in &ids[1..] {
        let link = format!("href=\"/dashboard/env/{}/runs/{id}\"", s.env_id);
        assert!(page.contains(&link), "{id} linked: {page}");
    }
    assert!(!page.contains(&ids[0]), "a created run is not buffered");
    let oldest = page.find(&ids[1]).unwrap();
    assert!(oldest < page.find(&ids[3]).unwrap(), "oldest first");

    let staging = sign_in(&server, STAGING_KEY, &[]).await;
    for other in [path.clone(), format!("{path}/live")] {
        let (status, page) = staging.get(&server, &other).await;
        assert_eq!(status, 404, "{other}");
        assert!(!page.contains(&ids[1]), "{other} leaks nothing");
    }

    let set = format!("{path}/override");
    let fields = [("mode", "shadow"), ("threshold", "50"), ("hold_ms", "2000")];
    let refused = s.post(&server, &set, &fields, &[]).await;
    assert_eq!(refused.status(), 403, "no CSRF value");
    let stolen_csrf = staging.csrf(&server).await;
    let mut stolen = vec![("csrf", stolen_csrf.as_str())];
    stolen.extend_from_slice(&fields);
    let refused = s.post(&server, &set, &stolen, &[]).await;
    assert_eq!(refused.status(), 403, "another session's CSRF value");
    let cross = staging.post(&server, &set, &stolen, &[]).await;
    assert_eq!(cross.status(), 404, "another environment's form");
    assert!(mollifier_api(&server).await["envOverride"].is_null());

    let csrf = s.csrf(&server).await;
    for (field, bad) in [
        ("threshold", "0"),
        ("threshold", "abc"),
        ("threshold", "99999999999"),
        ("hold_ms", "-1"),
        ("hold_ms", "86400001"),
        ("mode", "sometimes"),
        ("mode", "on\0"),
    ] {
        let resp = s
            .post(&server, &set, &[("csrf", &csrf), (field, bad)], &[])
            .await;
        assert_eq!(resp.status(), 400, "{field}={bad:?}");
        let text = resp.text().await.unwrap();
        assert!(
            text.contains("not valid") || text.contains("must be"),
            "{text}"
        );
    }
    assert!(
        mollifier_api(&server).await["envOverride"].is_null(),
        "nothing refused changed anything"
    );

    act(&s, &server, &set, &fields).await;
    let v = mollifier_api(&server).await;
    assert_eq!(
        v["envOverride"],
        json!({"mode": "shadow", "threshold": 50, "holdMs": 2000})
    );
    assert_eq!(
        (v["mode"].as_str(), v["threshold"].as_i64()),
        (Some("shadow"), Some(50))
    );
    let (_, page) = s.get(&server, &path).await;
    assert!(
        page.contains("mode shadow, threshold 50/s, hold 2.0 s"),
        "{page}"
    );
    assert!(page.contains("data-mode=\"shadow\""), "{page}");
    assert!(
        page.contains("<option value=\"shadow\" selected>"),
        "{page}"
    );
    assert!(page.contains("Clear override"), "{page}");

    act(&s, &server, &format!("{path}/reset"), &[]).await;
    assert!(mollifier_api(&server).await["envOverride"].is_null());

    for _ in 0..100 {
        let (status, v) = server.post("/api/v1/test/mollifier/drain", json!({})).await;
        assert_eq!(status, 200, "{v}");
        if v["created"] == 0 {
            break;
        }
    }
    let (_, page) = s.get(&server, &path).await;
    assert!(page.contains("data-depth=\"0\""), "{page}");
    assert!(page.contains("Nothing is buffered."), "{page}");
    assert!(!page.contains("Clear override"), "{page}");
}

#[tokio::test]
async fn a_sign_in_link_works_once() {
    let server = TestServer::start().await;
    let mut args = vec![
        "dashboard".to_string(),
        "link".to_string(),
        "--ttl".into(),
        "10m".into(),
    ];
    args.extend(store_args(&server));
    args.extend(["--url".to_string(), server.base_url.clone()]);
    let out = std::process::Command::new(binary())
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let url = text.lines().next().unwrap().to_string();
    assert!(
        url.starts_with(&format!("{}/dashboard/link/", server.base_url)),
        "{text}"
    );
    assert!(text.contains("default/dev"), "{text}");

    let first = client().get(&url).send().await.unwrap();
    assert_eq!(first.status(), 303);
    let cookie = first.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("trigr_session=") && cookie.contains("HttpOnly"));
    let second = client().get(&url).send().await.unwrap();
    assert_eq!(second.status(), 404, "used");
    assert!(second.headers().get("set-cookie").is_none());
    let guessed = client()
        .get(server.url("/dashboard/link/trl_guess"))
        .send()
        .await
        .unwrap();
    assert_eq!(guessed.status(), 404);
}

// ---------------------------------------------------------------------------------------
// In a real browser.

mod browser {
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    use fantoccini::{Client, ClientBuilder, Locator};

    /// chromedriver on a free port, ended with the test.
    pub struct Driver {
        child: Child,
        pub url: String,
    }

    impl Drop for Driver {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Starts chromedriver, or says why not: `None` only when it is not installed and the
    /// run does not require a browser (`TRIGR_REQUIRE_BROWSER=1` makes that a failure).
    pub async fn driver() -> Option<Driver> {
        let installed = Command::new("chromedriver")
            .arg("--version")
            .output()
            .is_ok();
        if !installed {
            assert!(
                std::env::var("TRIGR_REQUIRE_BROWSER").ok().as_deref() != Some("1"),
                "chromedriver is not installed (apt-get install chromium chromium-driver), and TRIGR_REQUIRE_BROWSER=1"
            );
            eprintln!("chromedriver is not installed: the browser test does not run");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        // Dropped (and so killed and waited for) on every path from here.
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        // Ready once it answers its status endpoint.
        for _ in 0..200 {
            if http
                .get(format!("{}/status", driver.url))
                .send()
                .await
                .is_ok()
            {
                return Some(driver);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("chromedriver did not start");
    }

    pub async fn browser(driver: &Driver) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,800"]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("a browser session")
    }

    /// Waits up to `within` for an element; returns how long it took.
    pub async fn appears(c: &Client, css: &str, within: Duration) -> Duration {
        let start = std::time::Instant::now();
        c.wait()
            .at_most(within)
            .every(Duration::from_millis(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} did not appear within {within:?}: {e}"));
        start.elapsed()
    }

    /// Waits up to `within` until the page's text contains `text`.
    pub async fn shows(c: &Client, text: &str, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            let body = c
                .find(Locator::Css("body"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if body.contains(text) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the page never showed '{text}':\n{body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn screenshot(c: &Client, name: &str) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/dashboard-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = c.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

#[tokio::test]
async fn the_dashboard_in_a_browser() {
    use fantoccini::Locator;
    let Some(driver) = browser::driver().await else {
        return;
    };
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["hello", "other"])).await;
    let c = browser::browser(&driver).await;

    // No cookie: the sign-in form.
    c.goto(&server.url("/dashboard")).await.unwrap();
    assert!(c
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/dashboard/login"));
    browser::screenshot(&c, "login").await;
    c.find(Locator::Css("#key"))
        .await
        .unwrap()
        .send_keys(DEV_KEY)
        .await
        .unwrap();
    c.find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser::appears(&c, "h1", Duration::from_secs(5)).await;
    let runs_url = c.current_url().await.unwrap();
    assert!(runs_url.path().ends_with("/runs"), "{runs_url}");
    let env_path = runs_url.path().trim_end_matches("/runs").to_string();
    browser::appears(&c, "#live-dot.on", Duration::from_secs(5)).await;

    // A run triggered through the API appears without a reload, within a second.
    let first = server
        .trigger("hello", json!({"name": "Ada"}), json!({"tags": ["vip"]}))
        .await;
    let took = browser::appears(&c, &format!("#run-{first}"), Duration::from_secs(1)).await;
    assert!(took <= Duration::from_secs(1), "{took:?}");
    for i in 0..3 {
        server.trigger("other", json!({"i": i}), json!({})).await;
    }
    browser::shows(&c, "other", Duration::from_secs(2)).await;
    browser::screenshot(&c, "runs-1280").await;

    // The run page shows its logs and steps as the worker reports them.
    c.goto(&server.url(&format!("{env_path}/runs/{first}")))
        .await
        .unwrap();
    browser::appears(&c, "#live-dot.on", Duration::from_secs(5)).await;
    let runs = server.dequeue(&version, 10, 1000).await;
    let run = runs
        .iter()
        .find(|r| r["runId"] == first)
        .expect("the run dequeued")
        .clone();
    let id = run["runId"].as_str().unwrap();
    let (s, v) = server
        .post(
            &format!("/api/v1/worker/runs/{id}/logs"),
            json!({"lease": run["lease"], "entries": [{"level": "info", "message": "hello from the task"}]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    browser::shows(&c, "hello from the task", Duration::from_secs(3)).await;
    let (s, v) = server
        .post(
            &format!("/api/v1/worker/runs/{id}/steps"),
            json!({"lease": run["lease"], "position": 0, "name": "fetch-user", "output": {"user": "ada"}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    browser::appears(&c, "tr.step[data-step=fetch-user]", Duration::from_secs(3)).await;
    browser::shows(&c, "attempt 1", Duration::from_secs(3)).await;
    browser::screenshot(&c, "run-1280").await;

    // Cancel from the page.
    c.find(Locator::Css("#cancel"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser::appears(
        &c,
        "#run-status [data-status=CANCELED]",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(server.status(&first).await, "CANCELED");

    // Pausing a queue from the page holds new runs.
    c.goto(&server.url(&format!("{env_path}/queues")))
        .await
        .unwrap();
    browser::appears(&c, "tr[data-queue='task/other']", Duration::from_secs(5)).await;
    // Every run queued so far was handed out with the first.
    assert_eq!(runs.len(), 4, "{runs:?}");
    c.find(Locator::Css("tr[data-queue='task/hello'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser::appears(
        &c,
        "tr[data-queue='task/hello'] .badge.s-wait",
        Duration::from_secs(5),
    )
    .await;
    browser::screenshot(&c, "queues-1280").await;
    let held = server.trigger("hello", json!({}), json!({})).await;
    let got = server.dequeue(&version, 10, 300).await;
    assert!(got.is_empty(), "a paused queue hands out nothing: {got:?}");
    assert_eq!(server.status(&held).await, "QUEUED");
    let (_, q) = server.get("/api/v1/queues/hello?type=task").await;
    assert_eq!(q["paused"], true, "{q}");

    // The other pages, wide and narrow.
    for page in [
        "overview",
        "deployments",
        "tasks",
        "mollifier",
        "schedules",
        "batches",
        "tokens",
    ] {
        c.goto(&server.url(&format!("{env_path}/{page}")))
            .await
            .unwrap();
        browser::appears(&c, "main h1", Duration::from_secs(5)).await;
        browser::screenshot(&c, &format!("{page}-1280")).await;
    }
    c.set_window_size(390, 844).await.unwrap();
    for (page, name) in [
        ("runs", "runs-390"),
        (&format!("runs/{first}") as &str, "run-390"),
        ("queues", "queues-390"),
        ("mollifier", "mollifier-390"),
    ] {
        c.goto(&server.url(&format!("{env_path}/{page}")))
            .await
            .unwrap();
        browser::appears(&c, "main h1", Duration::from_secs(5)).await;
        browser::screenshot(&c, name).await;
    }
    c.close().await.unwrap();
}
