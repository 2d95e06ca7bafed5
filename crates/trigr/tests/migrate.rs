//! Which version a run is locked to, and moving runs between versions: dev environments serve
//! the union of the tasks of their live workers (triggers, child runs, schedules), staging and
//! production the current deployment; `POST /api/v1/runs/migrate`; and the automatic move of
//! the runs of a dev version whose workers are gone, with the manual clock.

mod common;

use common::*;
use serde_json::{json, Value};

/// The version a run is locked to.
async fn version_of(server: &TestServer, key: &str, id: &str) -> String {
    let run = server.run_as(key, id).await;
    run["version"]
        .as_str()
        .unwrap_or_else(|| panic!("no version: {run}"))
        .to_string()
}

/// Dequeues the run `id` with a worker of `version` (it must be the only ready one).
async fn lease(server: &TestServer, key: &str, version: &str, id: &str) -> Value {
    let runs = server.dequeue_as(key, version, 10, 0).await;
    let found: Vec<&Value> = runs.iter().filter(|r| r["runId"] == json!(id)).collect();
    assert_eq!(found.len(), 1, "{id} not dequeued by {version}: {runs:?}");
    found[0].clone()
}

/// Sends a suspending wait at `position` for a leased run; the answer.
async fn wait(server: &TestServer, key: &str, run: &Value, position: u32, w: Value) -> Value {
    let id = run["runId"].as_str().expect("run id");
    let (s, v) = server
        .post_as(
            key,
            &format!("/api/v1/worker/runs/{id}/waits"),
            json!({"lease": run["lease"], "position": position, "name": "wait", "suspend": true, "wait": w}),
        )
        .await;
    assert_eq!(s, 200, "wait: {v}");
    v
}

async fn migrate(server: &TestServer, key: &str, body: Value) -> (u16, Value) {
    server.post_as(key, "/api/v1/runs/migrate", body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_serves_the_union_of_the_live_workers_tasks() {
    let server = TestServer::start_with_clock().await;
    // One's own worker, with a declarative schedule, then an example registering after it.
    let own = server
        .deploy(json!([
            {"id": "process-order"}, {"id": "shared"},
            {"id": "report", "schedule": {"cron": "0 * * * *"}}
        ]))
        .await;
    let example = server.deploy(tasks(&["hello", "shared"])).await;

    let order = server.trigger("process-order", json!({}), json!({})).await;
    assert_eq!(version_of(&server, DEV_KEY, &order).await, own);
    let hello = server.trigger("hello", json!({}), json!({})).await;
    assert_eq!(version_of(&server, DEV_KEY, &hello).await, example);
    let shared = server.trigger("shared", json!({}), json!({})).await;
    assert_eq!(
        version_of(&server, DEV_KEY, &shared).await,
        example,
        "the newest version with workers"
    );
    let (s, v) = server.try_trigger("nope", json!({}), json!({})).await;
    assert_error(s, &v, &[404], &["nor by any other version"], "undeclared");

    // A child of the other worker's task goes to that worker's version.
    let parent = lease(&server, DEV_KEY, &example, &hello).await;
    let w = wait(
        &server,
        DEV_KEY,
        &parent,
        0,
        json!({"type": "run", "task": "process-order", "payload": {"n": 1}}),
    )
    .await;
    let child = w["runIds"][0].as_str().expect("child run").to_string();
    assert_eq!(version_of(&server, DEV_KEY, &child).await, own);

    // Schedules: the example's registration kept the declarative one; an imperative one of
    // the other worker's task is accepted.
    let (s, list) = server.get("/api/v1/schedules").await;
    assert_eq!(s, 200, "{list}");
    assert!(
        list["data"]
            .as_array()
            .expect("schedules")
            .iter()
            .any(|sc| sc["task"] == json!("report") && sc["type"] == json!("DECLARATIVE")),
        "{list}"
    );
    let (s, v) = server
        .post(
            "/api/v1/schedules",
            json!({"task": "process-order", "cron": "0 0 * * *", "deduplicationKey": "nightly"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");

    // The example's worker goes; the own worker keeps asking for runs: "shared" goes to it.
    server.advance(31_000).await;
    server.dequeue_as(DEV_KEY, &own, 1, 0).await;
    let shared = server.trigger("shared", json!({}), json!({})).await;
    assert_eq!(version_of(&server, DEV_KEY, &shared).await, own);

    // The declarative schedule's tick triggers its run on the version that declares it.
    let fired = server.advance(3_600_000).await;
    assert!(fired["fired"]["schedules"].as_u64() >= Some(1), "{fired}");
    let runs = server
        .list_all(&query(&[("filter[taskIdentifier]", "report")]))
        .await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    let id = runs[0]["id"].as_str().expect("id").to_string();
    assert_eq!(version_of(&server, DEV_KEY, &id).await, own);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_serves_the_current_deployment_and_names_a_live_version() {
    let server = TestServer::start_with_clock().await;
    let v1 = server.deploy_as(PROD_KEY, tasks(&["a"]), true).await;
    let v2 = server.deploy_as(PROD_KEY, tasks(&["b"]), true).await;
    let (s, v) = server
        .try_trigger_as(PROD_KEY, "a", json!({}), json!({}))
        .await;
    assert_error(
        s,
        &v,
        &[404],
        &[&format!(
            "Task 'a' is not declared by the current deployment (version {v2}); version {v1} declares it and has workers"
        )],
        "a task of another version",
    );
    let b = server.trigger_as(PROD_KEY, "b", json!({}), json!({})).await;
    assert_eq!(version_of(&server, PROD_KEY, &b).await, v2);

    // Without workers, no version is named.
    server.advance(31_000).await;
    let (s, v) = server
        .try_trigger_as(PROD_KEY, "a", json!({}), json!({}))
        .await;
    assert_error(s, &v, &[404], &["current deployment"], "no live version");
    assert!(!v["error"].as_str().unwrap().contains(&v1), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_migrate_moves_the_runs_no_worker_holds() {
    let server = TestServer::start_with_clock().await;
    let k = PROD_KEY;
    let v1 = server.deploy_as(k, tasks(&["t", "u"]), true).await;
    // Three runs taken by a worker: one suspends, one fails and waits for its retry, one runs.
    let waiting = server.trigger_as(k, "t", json!({}), json!({})).await;
    let retrying = server.trigger_as(k, "t", json!({}), json!({})).await;
    let executing = server.trigger_as(k, "t", json!({}), json!({})).await;
    let leased = server.dequeue_as(k, &v1, 3, 0).await;
    assert_eq!(leased.len(), 3);
    let by_id = |id: &str| {
        leased
            .iter()
            .find(|r| r["runId"] == json!(id))
            .expect("leased")
            .clone()
    };
    wait(
        &server,
        k,
        &by_id(&waiting),
        0,
        json!({"type": "duration", "ms": 3_600_000}),
    )
    .await;
    let r = by_id(&retrying);
    let (s, v) = server
        .post_as(
            k,
            &format!("/api/v1/worker/runs/{retrying}/complete"),
            json!({"lease": r["lease"], "ok": false, "error": {"message": "boom"}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let e = by_id(&executing);
    let (s, v) = server
        .post_as(
            k,
            &format!("/api/v1/worker/runs/{executing}/heartbeat"),
            json!({"lease": e["lease"]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let queued = server.trigger_as(k, "t", json!({}), json!({})).await;
    let delayed = server
        .trigger_as(k, "t", json!({}), json!({"delay": "1h"}))
        .await;
    let other_task = server.trigger_as(k, "u", json!({}), json!({})).await;
    // A new deployment, not promoted: runs move only when asked.
    let v2 = server.deploy_as(k, tasks(&["t"]), false).await;

    // Mistakes are named.
    for (body, status, needle) in [
        (json!({"from": v1, "to": v1}), 400, "same version"),
        (json!({"from": v1, "to": "20990101.1"}), 404, "20990101.1"),
        (json!({"from": "20990101.1", "to": v2}), 404, "20990101.1"),
        (
            json!({"from": v1, "to": v2, "task": "u"}),
            422,
            "'u' is not declared",
        ),
        (json!({"from": v1, "to": v2, "limit": 0}), 400, "limit"),
        (json!({"from": v1, "to": v2, "limit": 1e12}), 400, "limit"),
        (json!({"from": v1, "to": v2, "cursor": "x"}), 400, "cursor"),
        (
            json!({"from": v1, "to": v2, "version": "x"}),
            400,
            "version",
        ),
        (json!({"from": v1}), 400, "to"),
    ] {
        let (s, v) = migrate(&server, k, body.clone()).await;
        assert_error(s, &v, &[status], &[needle], &body.to_string());
    }
    let (s, _) = server
        .send(
            Req::new("POST", "/api/v1/runs/migrate")
                .no_key()
                .json(&json!({"from": v1, "to": v2})),
        )
        .await
        .pair();
    assert_eq!(s, 401);

    // Two by two: the first call looks at two runs and says where to go on.
    let (s, first) = migrate(&server, k, json!({"from": v1, "to": v2, "limit": 2})).await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(first["moved"], json!(2), "{first}");
    let cursor = first["nextCursor"]
        .as_str()
        .expect("more to come")
        .to_string();
    let (s, rest) = migrate(&server, k, json!({"from": v1, "to": v2, "cursor": cursor})).await;
    assert_eq!(s, 200, "{rest}");
    assert_eq!(
        rest,
        json!({"from": v1, "to": v2, "moved": 2, "skipped": [{"task": "u", "runs": 1}], "executing": 1})
    );

    for (id, status) in [
        (&waiting, "WAITING"),
        (&retrying, "QUEUED"),
        (&queued, "QUEUED"),
        (&delayed, "DELAYED"),
    ] {
        let run = server.run_as(k, id).await;
        assert_eq!(run["version"], json!(v2), "{run}");
        assert_eq!(run["status"], json!(status), "{run}");
    }
    assert_eq!(
        version_of(&server, k, &executing).await,
        v1,
        "a worker holds it"
    );
    assert_eq!(
        version_of(&server, k, &other_task).await,
        v1,
        "v2 lacks its task"
    );

    // The new version's workers take them: the retry after its backoff, with its attempt.
    server.advance(120_000).await;
    let taken = server.dequeue_as(k, &v2, 10, 0).await;
    let ids: Vec<&str> = taken.iter().filter_map(|r| r["runId"].as_str()).collect();
    assert!(
        ids.contains(&queued.as_str()) && ids.contains(&retrying.as_str()),
        "{ids:?}"
    );
    let retried = taken
        .iter()
        .find(|r| r["runId"] == json!(retrying))
        .unwrap();
    assert_eq!(retried["attempt"], json!(2), "{retried}");

    // The run that was executing lost its lease meanwhile (no heartbeat for 120 s): queued
    // for its retry, it moves now; then nothing is left to move.
    assert_eq!(
        server.run_as(k, &executing).await["status"],
        json!("QUEUED")
    );
    let (s, again) = migrate(&server, k, json!({"from": v1, "to": v2, "task": "t"})).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(
        (&again["moved"], &again["executing"]),
        (&json!(1), &json!(0)),
        "{again}"
    );
    assert_eq!(version_of(&server, k, &executing).await, v2);
    let (s, again) = migrate(&server, k, json!({"from": v1, "to": v2, "task": "t"})).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["moved"], json!(0), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_moves_the_runs_of_a_version_whose_workers_are_gone() {
    let server = TestServer::start_with_clock().await;
    let v1 = server.deploy(tasks(&["t"])).await;
    let suspended = server.trigger("t", json!({}), json!({})).await;
    let run = lease(&server, DEV_KEY, &v1, &suspended).await;
    wait(
        &server,
        DEV_KEY,
        &run,
        0,
        json!({"type": "duration", "ms": 3_600_000}),
    )
    .await;
    let unstarted = server.trigger("t", json!({}), json!({})).await;

    // The worker is rebuilt: its new version takes the run that never started at once.
    let v2 = server.deploy(tasks(&["t"])).await;
    assert_eq!(version_of(&server, DEV_KEY, &unstarted).await, v2);
    assert_eq!(version_of(&server, DEV_KEY, &suspended).await, v1);

    // Not before the old version has had no worker for 60 s.
    let fired = server.advance(31_000).await;
    assert_eq!(fired["fired"]["migrated"], json!(0), "{fired}");
    server.dequeue_as(DEV_KEY, &v2, 1, 0).await;
    let fired = server.advance(28_000).await;
    assert_eq!(fired["fired"]["migrated"], json!(0), "{fired}");
    assert_eq!(version_of(&server, DEV_KEY, &suspended).await, v1);

    // Meanwhile a run left on the old version says where it could go.
    server.dequeue_as(DEV_KEY, &v2, 1, 0).await;
    let queued_on_v1 = server.trigger("t", json!({}), json!({"version": v1})).await;
    let (reason, message) = {
        let run = server.run(&queued_on_v1).await;
        (
            run["waitingFor"]["reason"].clone(),
            run["waitingFor"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    assert_eq!(reason, json!("NO_WORKER"), "{message}");
    assert!(
        message.contains(&format!("trigr runs migrate --from {v1} --to {v2}")),
        "{message}"
    );

    // And only to a version with workers.
    let fired = server.advance(31_000).await;
    assert_eq!(
        fired["fired"]["migrated"],
        json!(0),
        "v2 has no worker now: {fired}"
    );
    server.dequeue_as(DEV_KEY, &v2, 1, 0).await;
    let fired = server.advance(0).await;
    assert_eq!(
        fired["fired"]["migrated"],
        json!(2),
        "the suspended run and the one queued on v1: {fired}"
    );
    assert_eq!(version_of(&server, DEV_KEY, &queued_on_v1).await, v2);
    let moved = server.run(&suspended).await;
    assert_eq!(moved["version"], json!(v2), "{moved}");
    assert_eq!(moved["status"], json!("WAITING"), "{moved}");

    // It resumes on the new version with its journal.
    server.advance(3_600_000).await;
    let resumed = lease(&server, DEV_KEY, &v2, &suspended).await;
    let journal = resumed["journal"].as_array().expect("journal");
    assert_eq!(journal.len(), 1, "{resumed}");
    assert_eq!(journal[0]["kind"], json!("wait"), "{resumed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_migration_can_be_turned_off_and_refuses_a_short_delay() {
    let server = TestServer::start_with(Options {
        test_clock: true,
        args: vec!["--dev-migrate-after".into(), "0".into()],
        ..Default::default()
    })
    .await;
    let v1 = server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let run = lease(&server, DEV_KEY, &v1, &id).await;
    wait(
        &server,
        DEV_KEY,
        &run,
        0,
        json!({"type": "duration", "ms": 3_600_000}),
    )
    .await;
    let v2 = server.deploy(tasks(&["t"])).await;
    server.advance(120_000).await;
    server.dequeue_as(DEV_KEY, &v2, 1, 0).await;
    let fired = server.advance(0).await;
    assert_eq!(fired["fired"]["migrated"], json!(0), "{fired}");
    assert_eq!(version_of(&server, DEV_KEY, &id).await, v1);

    let out = std::process::Command::new(binary())
        .args([
            "server",
            "--dev-migrate-after",
            "10",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .expect("run trigr server");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("0 (never) or 30 to 604800 seconds"),
        "{stderr}"
    );
}
