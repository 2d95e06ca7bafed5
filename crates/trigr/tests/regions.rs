//! Regions (worker groups): a run carries the region its trigger named (else its
//! environment's default), a worker takes only the runs of the region it serves, the runs list
//! filters by region, the run view shows it, and a region nobody serves is explained.

mod common;

use common::*;
use serde_json::{json, Value};

/// Dequeues as a worker serving `region` (none: the default region).
async fn dequeue_in(server: &TestServer, version: &str, region: Option<&str>) -> Vec<Value> {
    let mut body = json!({"version": version, "maxRuns": 10, "waitMs": 0});
    if let Some(r) = region {
        body["region"] = json!(r);
    }
    let (s, v) = server.post("/api/v1/worker/dequeue", body).await;
    assert_eq!(s, 200, "dequeue: {v}");
    v["runs"].as_array().unwrap().clone()
}

fn ids(runs: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = runs
        .iter()
        .map(|r| r["runId"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_takes_only_the_runs_of_its_region() {
    let server = TestServer::start().await;
    let version = server.deploy(json!([{"id": "work"}])).await;
    let in_b = server
        .trigger("work", json!({}), json!({"region": "region-b"}))
        .await;

    // A worker of region A (and one of the default region) gets nothing.
    assert!(dequeue_in(&server, &version, Some("region-a"))
        .await
        .is_empty());
    assert!(dequeue_in(&server, &version, None).await.is_empty());
    assert_eq!(server.status(&in_b).await, "QUEUED");

    // A worker of region B gets it.
    let got = dequeue_in(&server, &version, Some("region-b")).await;
    assert_eq!(ids(&got), vec![in_b.clone()]);
    let (s, v) = server.complete_ok(&got[0], json!("done")).await;
    assert_eq!(s, 200, "{v}");
    let run = server.run(&in_b).await;
    assert_eq!(run["status"], json!("COMPLETED"));
    assert_eq!(run["region"], json!("region-b"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_that_name_no_region_go_to_the_default_one() {
    let server = TestServer::start().await;
    let version = server.deploy(json!([{"id": "work"}])).await;
    let plain = server.trigger("work", json!({}), json!({})).await;
    let named = server
        .trigger("work", json!({}), json!({"region": "default"}))
        .await;
    let null = server
        .trigger("work", json!({}), json!({"region": null}))
        .await;
    for id in [&plain, &named, &null] {
        assert_eq!(server.run(id).await["region"], json!("default"), "{id}");
    }
    // Another region's worker leaves them; a worker naming no region takes them all.
    assert!(dequeue_in(&server, &version, Some("eu")).await.is_empty());
    let mut want = vec![plain, named, null];
    want.sort();
    assert_eq!(ids(&dequeue_in(&server, &version, None).await), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runs_list_filters_by_region_and_shows_it() {
    let server = TestServer::start().await;
    server.deploy(json!([{"id": "work"}])).await;
    let eu = server
        .trigger("work", json!({}), json!({"region": "eu-central-1"}))
        .await;
    let us = server
        .trigger("work", json!({}), json!({"region": "us-east-1"}))
        .await;
    let plain = server.trigger("work", json!({}), json!({})).await;

    let list = |query: &'static str| {
        let server = &server;
        async move {
            let (s, v) = server.get(&format!("/api/v1/runs?{query}")).await;
            assert_eq!(s, 200, "{query}: {v}");
            v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["id"].as_str().unwrap().to_string(),
                        r["region"].as_str().unwrap().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list("filter[region]=eu-central-1").await,
        vec![(eu.clone(), "eu-central-1".to_string())]
    );
    assert_eq!(
        list("filter[region]=eu-central-1,us-east-1").await,
        vec![
            (us.clone(), "us-east-1".to_string()),
            (eu.clone(), "eu-central-1".to_string())
        ]
    );
    assert_eq!(
        list("filter[region]=default").await,
        vec![(plain.clone(), "default".to_string())]
    );
    assert!(list("filter[region]=ap-south-1").await.is_empty());
    // Every listed run shows its region.
    assert_eq!(list("").await.len(), 3);

    // A bad region in the filter is the caller's mistake.
    let (s, v) = server.get("/api/v1/runs?filter[region]=eu%20west").await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("filter[region]"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_regions_are_refused_and_leave_nothing() {
    let server = TestServer::start().await;
    let version = server.deploy(json!([{"id": "work"}])).await;
    let long = "r".repeat(65);
    for (region, words) in [
        (json!(""), "1-64 characters"),
        (json!(long), "1-64 characters"),
        (json!("eu west"), "letters, digits"),
        (json!("eu\u{0}"), "NUL"),
        (json!("-eu"), "start with a letter"),
        (json!(7), "must be a string"),
        (json!(["eu"]), "must be a string"),
    ] {
        let (s, v) = server
            .post(
                "/api/v1/tasks/work/trigger",
                json!({"payload": "{}", "options": {"region": region}}),
            )
            .await;
        assert_eq!(s, 400, "{region}: {v}");
        let message = v["error"].as_str().unwrap_or_default();
        assert!(
            message.contains("region") && message.contains(words),
            "{region}: {v}"
        );
        assert!(!message.contains('\0'), "{v}");
    }
    // Nothing was created.
    let (_, list) = server.get("/api/v1/runs").await;
    assert_eq!(list["data"], json!([]), "{list}");

    // A worker naming a bad region is refused too, at registration and at dequeue.
    let (s, v) = server
        .post(
            "/api/v1/worker/dequeue",
            json!({"version": version, "region": "eu/1"}),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("region"), "{v}");
    let (s, v) = server
        .post(
            "/api/v1/worker/deployments",
            json!({"tasks": [{"id": "work"}], "region": long}),
        )
        .await;
    assert_eq!(s, 400, "{v}");

    // A batch whose item names a bad region accepts no item.
    let (s, b) = server.create_batch(json!({"runCount": 2})).await.pair();
    assert_eq!(s, 202, "{b}");
    let batch_id = b["id"].as_str().unwrap().to_string();
    let good = json!({"index": 0, "task": "work", "payload": "{}"});
    let bad = json!({"index": 1, "task": "work", "payload": "{}", "options": {"region": "a b"}});
    let (s, v) = server.send_items(&batch_id, &[good, bad]).await.pair();
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("region"), "{v}");
    let (_, list) = server.get("/api/v1/runs").await;
    assert_eq!(list["data"], json!([]), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_without_workers_is_explained() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(json!([{"id": "work"}])).await;
    let far = server
        .trigger("work", json!({}), json!({"region": "mars-1"}))
        .await;
    let near = server.trigger("work", json!({}), json!({})).await;
    // The registering worker serves the default region.
    assert_eq!(
        server.run(&near).await["waitingFor"]["reason"],
        json!("QUEUED")
    );
    let why = server.run(&far).await["waitingFor"].clone();
    assert_eq!(why["reason"], json!("NO_WORKER"), "{why}");
    let message = why["message"].as_str().unwrap();
    assert!(message.contains("region 'mars-1'"), "{message}");
    assert!(message.contains("never seen"), "{message}");

    // Once a worker of that region asks for runs, it takes the run.
    let got = dequeue_in(&server, &version, Some("mars-1")).await;
    assert_eq!(ids(&got), vec![far.clone()]);
    assert!(server
        .run(&far)
        .await
        .get("waitingFor")
        .is_none_or(Value::is_null));

    // A second run of the region waits only for a slot while that worker is live.
    let next = server
        .trigger("work", json!({}), json!({"region": "mars-1"}))
        .await;
    assert_eq!(
        server.run(&next).await["waitingFor"]["reason"],
        json!("QUEUED")
    );
    // When the region's worker is gone (and the version still has workers elsewhere), the
    // message says when it was last seen.
    server.advance(31_000).await;
    dequeue_in(&server, &version, None).await;
    let why = server.run(&next).await["waitingFor"].clone();
    assert_eq!(why["reason"], json!("NO_WORKER"), "{why}");
    assert!(
        why["message"].as_str().unwrap().contains("31 s ago"),
        "{why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_keeps_the_region_unless_it_names_another() {
    let server = TestServer::start().await;
    server.deploy(json!([{"id": "work"}])).await;
    let orig = server
        .trigger("work", json!({}), json!({"region": "eu"}))
        .await;
    let (s, v) = server
        .post(&format!("/api/v1/runs/{orig}/replay"), json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    let same = v["id"].as_str().unwrap().to_string();
    assert_eq!(server.run(&same).await["region"], json!("eu"));
    let (s, v) = server
        .post(
            &format!("/api/v1/runs/{orig}/replay"),
            json!({"region": "us"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let moved = v["id"].as_str().unwrap().to_string();
    assert_eq!(server.run(&moved).await["region"], json!("us"));
    let (s, v) = server
        .post(
            &format!("/api/v1/runs/{orig}/replay"),
            json!({"region": "u s"}),
        )
        .await;
    assert_eq!(s, 400, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_default_region_is_set_through_the_api() {
    let server = TestServer::start().await;
    let version = server.deploy(json!([{"id": "work"}])).await;
    let (s, v) = server.get("/api/v1/region").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!({"region": "default", "isDefault": true}));
    let before = server.trigger("work", json!({}), json!({})).await;

    let (s, v) = server
        .call("PUT", "/api/v1/region", Some(json!({"region": "eu"})))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!({"region": "eu", "isDefault": false}));
    let after = server.trigger("work", json!({}), json!({})).await;
    let named = server
        .trigger("work", json!({}), json!({"region": "us"}))
        .await;
    assert_eq!(server.run(&before).await["region"], json!("default"));
    assert_eq!(server.run(&after).await["region"], json!("eu"));
    assert_eq!(server.run(&named).await["region"], json!("us"));
    // A worker naming no region serves the environment's default region now.
    assert_eq!(ids(&dequeue_in(&server, &version, None).await), vec![after]);
    assert_eq!(
        ids(&dequeue_in(&server, &version, Some("default")).await),
        vec![before]
    );

    // Bad names change nothing.
    for body in [json!({"region": "e u"}), json!({"region": ""}), json!({})] {
        let (s, v) = server
            .call("PUT", "/api/v1/region", Some(body.clone()))
            .await;
        assert_eq!(s, 400, "{body}: {v}");
    }
    assert_eq!(server.get("/api/v1/region").await.1["region"], json!("eu"));

    let (s, v) = server.call("DELETE", "/api/v1/region", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!({"region": "default", "isDefault": true}));
    let reset = server.trigger("work", json!({}), json!({})).await;
    assert_eq!(server.run(&reset).await["region"], json!("default"));
}
