//! Runs management API: list, cancel, replay, reschedule, tags, metadata, idempotency reset.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::{json, Value};

fn ids(runs: &[Value]) -> Vec<String> {
    runs.iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn set(v: &[String]) -> HashSet<String> {
    v.iter().cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_filters_status_task_tag_batch() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["a", "b"])).await;
    let a1 = server.trigger("a", json!({}), json!({"tags": ["x"]})).await;
    let a2 = server
        .trigger("a", json!({}), json!({"tags": ["x", "y"]}))
        .await;
    let b1 = server.trigger("b", json!({}), json!({"tags": ["y"]})).await;
    let b2 = server.trigger("b", json!({}), json!({})).await;

    // Complete a1, fail b1.
    let runs = server.dequeue(&version, 10, 0).await;
    assert_eq!(runs.len(), 4);
    for r in &runs {
        if r["runId"] == json!(a1) {
            assert_eq!(server.complete_ok(r, json!(1)).await.0, 200);
        } else if r["runId"] == json!(b1) {
            assert_eq!(
                server
                    .complete_err_with(r, "nope", json!({"retry": false}))
                    .await
                    .0,
                200
            );
        }
    }

    let all = server.list_all("").await;
    assert_eq!(
        set(&ids(&all)),
        set(&[a1.clone(), a2.clone(), b1.clone(), b2.clone()])
    );
    for r in &all {
        assert_eq!(r["env"]["name"], json!("dev"), "list items carry env: {r}");
        assert!(r["env"]["id"].is_string());
        assert!(
            r.get("payload").is_none(),
            "list items carry no payload: {r}"
        );
    }

    let q = |pairs: &[(&str, &str)]| query(pairs);
    assert_eq!(
        set(&server
            .list_ids(&q(&[("filter[status]", "COMPLETED")]))
            .await),
        set(std::slice::from_ref(&a1))
    );
    assert_eq!(
        set(&server.list_ids(&q(&[("filter[status]", "FAILED")])).await),
        set(std::slice::from_ref(&b1))
    );
    assert_eq!(
        set(&server
            .list_ids(&q(&[("filter[status]", "COMPLETED,FAILED")]))
            .await),
        set(&[a1.clone(), b1.clone()])
    );
    let dequeued = server
        .list_ids(&q(&[("filter[status]", "DEQUEUED,EXECUTING")]))
        .await;
    assert_eq!(set(&dequeued), set(&[a2.clone(), b2.clone()]));
    assert_eq!(
        set(&server
            .list_ids(&q(&[("filter[taskIdentifier]", "a")]))
            .await),
        set(&[a1.clone(), a2.clone()])
    );
    assert_eq!(
        set(&server
            .list_ids(&q(&[("filter[taskIdentifier]", "a,b")]))
            .await)
        .len(),
        4
    );
    assert_eq!(
        set(&server.list_ids(&q(&[("filter[tag]", "x")])).await),
        set(&[a1.clone(), a2.clone()])
    );
    assert_eq!(
        set(&server.list_ids(&q(&[("filter[tag]", "x,y")])).await),
        set(&[a1.clone(), a2.clone(), b1.clone()]),
        "tag filter matches runs with any of the tags"
    );
    assert_eq!(
        set(&server
            .list_ids(&q(&[("filter[taskIdentifier]", "b"), ("filter[tag]", "y")]))
            .await),
        set(std::slice::from_ref(&b1)),
        "filters combine with AND"
    );
    assert_eq!(
        server.list_ids(&q(&[("filter[tag]", "none")])).await.len(),
        0
    );
    assert_eq!(
        set(&server.list_ids(&q(&[("filter[version]", &version)])).await).len(),
        4
    );
    assert_eq!(
        server
            .list_ids(&q(&[("filter[version]", "19990101.1")]))
            .await
            .len(),
        0
    );
    assert_eq!(
        set(&server.list_ids(&q(&[("filter[queue]", "task/a")])).await),
        set(&[a1.clone(), a2.clone()])
    );

    // Batch filter.
    let r = server
        .create_batch(json!({"runCount": 2, "taskIdentifiers": ["a"]}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let batch = r.json["id"].as_str().unwrap().to_string();
    let items: Vec<Value> = (0..2)
        .map(|i| json!({"index": i, "task": "a", "payload": format!("{{\"json\":{i}}}"), "options": {"payloadType": "application/super+json"}}))
        .collect();
    let r = server.send_items(&batch, &items).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let in_batch = server.list_ids(&q(&[("filter[batch]", &batch)])).await;
    assert_eq!(in_batch.len(), 2);
    assert!(!in_batch.contains(&a1) && !in_batch.contains(&a2));
    assert_eq!(
        server
            .list_ids(&q(&[("filter[batch]", "batch_doesnotexist000000000")]))
            .await
            .len(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_filters_version_in_prod() {
    let server = TestServer::start().await;
    let v1 = server.deploy_as(PROD_KEY, tasks(&["a"]), true).await;
    let r1 = server.trigger_as(PROD_KEY, "a", json!({}), json!({})).await;
    let v2 = server.deploy_as(PROD_KEY, tasks(&["a"]), true).await;
    let r2 = server.trigger_as(PROD_KEY, "a", json!({}), json!({})).await;
    let q1 = query(&[("filter[version]", &v1)]);
    let q2 = query(&[("filter[version]", &v2)]);
    assert_eq!(
        server
            .list_all_as(PROD_KEY, &q1)
            .await
            .iter()
            .map(|r| r["id"].clone())
            .collect::<Vec<_>>(),
        vec![json!(r1)]
    );
    assert_eq!(
        server
            .list_all_as(PROD_KEY, &q2)
            .await
            .iter()
            .map(|r| r["id"].clone())
            .collect::<Vec<_>>(),
        vec![json!(r2)]
    );
    // The dev key sees none of them.
    assert_eq!(server.list_all("").await.len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_filters_created_at_range() {
    let server = TestServer::start_with_clock().await;
    server.deploy(tasks(&["t"])).await;
    let t0 = server.now_ms().await;
    let early = vec![
        server.trigger("t", json!({}), json!({})).await,
        server.trigger("t", json!({}), json!({})).await,
    ];
    server.advance(10_000).await;
    let late = vec![
        server.trigger("t", json!({}), json!({})).await,
        server.trigger("t", json!({}), json!({})).await,
    ];
    let mid = (t0 + 5_000).to_string();
    let from = server
        .list_ids(&query(&[("filter[createdAt][from]", &mid)]))
        .await;
    assert_eq!(set(&from), set(&late), "from = t0+5s");
    let to = server
        .list_ids(&query(&[("filter[createdAt][to]", &mid)]))
        .await;
    assert_eq!(set(&to), set(&early), "to = t0+5s");
    let both = server
        .list_ids(&query(&[
            ("filter[createdAt][from]", &(t0 - 1000).to_string()),
            ("filter[createdAt][to]", &(t0 + 20_000).to_string()),
        ]))
        .await;
    assert_eq!(both.len(), 4);
    // createdAt of the runs follows the server clock.
    let r = server.run(&late[0]).await;
    assert!(
        (parse_ms(&r["createdAt"]) - (t0 + 10_000)).abs() <= 1000,
        "createdAt {} vs clock {}",
        r["createdAt"],
        t0 + 10_000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_cursor_pagination_newest_first() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let mut triggered = Vec::new();
    for i in 0..7 {
        triggered.push(server.trigger("t", json!({"i": i}), json!({})).await);
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let mut q = query(&[("page[size]", "2")]);
        if let Some(a) = &after {
            q.push('&');
            q.push_str(&query(&[("page[after]", a)]));
        }
        let (s, v) = server.get(&format!("/api/v1/runs?{q}")).await;
        assert_eq!(s, 200, "{v}");
        let data = v["data"].as_array().unwrap();
        assert!(data.len() <= 2, "page size 2: {v}");
        assert!(!data.is_empty(), "no empty page while next was given");
        seen.extend(ids(data));
        assert!(v["pagination"].is_object(), "{v}");
        assert!(
            v["pagination"].get("next").is_none_or(|n| n.is_string()),
            "next is omitted, never null: {v}"
        );
        pages.push(v.clone());
        match v["pagination"]["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
        assert!(pages.len() < 10, "pagination did not end");
    }
    let mut expected = triggered.clone();
    expected.reverse();
    assert_eq!(seen, expected, "all runs exactly once, newest first");
    assert_eq!(pages.len(), 4);
    assert!(
        pages[0]["pagination"]
            .get("previous")
            .is_none_or(|p| p.is_string()),
        "previous omitted or string"
    );

    // page[before] from the second page's `previous` gives the first page again.
    if let Some(prev) = pages[1]["pagination"]["previous"].as_str() {
        let q = query(&[("page[size]", "2"), ("page[before]", prev)]);
        let (s, v) = server.get(&format!("/api/v1/runs?{q}")).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(ids(v["data"].as_array().unwrap()), expected[0..2].to_vec());
    } else {
        panic!("second page has no pagination.previous: {}", pages[1]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_queued_and_finished_runs() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let queued = server.trigger("t", json!({}), json!({})).await;
    let (s, v) = server.cancel(&queued).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], json!(queued));
    let run = server.run(&queued).await;
    assert_eq!(run["status"], json!("CANCELED"));
    for f in ["isCancelled", "isCompleted", "isFailed"] {
        assert_eq!(run[f], json!(true), "{f}: {run}");
    }
    assert_eq!(run["isSuccess"], json!(false));
    assert!(run["finishedAt"].is_string(), "{run}");
    // Canceled runs are never dequeued.
    assert!(server.dequeue(&version, 5, 0).await.is_empty());

    // Canceling again is a 200 no-op.
    let (s, _) = server.cancel(&queued).await;
    assert_eq!(s, 200);
    assert_eq!(server.status(&queued).await, "CANCELED");

    // Canceling a completed run is a 200 no-op: it stays COMPLETED with its output.
    let done = server.trigger("t", json!({}), json!({})).await;
    let runs = server.dequeue(&version, 1, 0).await;
    assert_eq!(server.complete_ok(&runs[0], json!({"out": 1})).await.0, 200);
    let (s, _) = server.cancel(&done).await;
    assert_eq!(s, 200);
    let run = server.run(&done).await;
    assert_eq!(run["status"], json!("COMPLETED"));
    assert_eq!(run["output"], json!({"out": 1}));

    // Canceling a dequeued run: its completion is then refused.
    let running = server.trigger("t", json!({}), json!({})).await;
    let runs = server.dequeue(&version, 1, 0).await;
    assert_eq!(runs[0]["runId"], json!(running));
    assert_eq!(server.cancel(&running).await.0, 200);
    assert_eq!(server.status(&running).await, "CANCELED");
    let (s, v) = server.complete_ok(&runs[0], json!(1)).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["code"], json!("lease_lost"));
    assert_eq!(server.status(&running).await, "CANCELED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_cascades_to_child_runs() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["parent", "child"])).await;
    let parent = server.trigger("parent", json!({}), json!({})).await;
    let (s, v) = server
        .try_trigger("child", json!({}), json!({"parentRunId": parent}))
        .await;
    assert_eq!(s, 200, "trigger with options.parentRunId: {v}");
    let child = v["id"].as_str().unwrap().to_string();
    let c = server.run(&child).await;
    assert_eq!(
        c["relatedRuns"]["parent"]["id"],
        json!(parent),
        "trigger API with options.parentRunId does not create a child run: {c}"
    );
    assert_eq!(c["depth"], json!(1));
    let p = server.run(&parent).await;
    let children: Vec<Value> = p["relatedRuns"]["children"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        children.iter().any(|r| r["id"] == json!(child)),
        "parent lists the child: {p}"
    );

    assert_eq!(server.cancel(&parent).await.0, 200);
    assert_eq!(server.status(&parent).await, "CANCELED");
    assert_eq!(
        server.status(&child).await,
        "CANCELED",
        "cancel reaches unfinished descendants"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replay_with_and_without_overrides() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let orig = server
        .trigger(
            "t",
            json!({"a": [1, 2]}),
            json!({"tags": ["one", "two"], "metadata": {"k": "v"}, "machine": "medium-1x"}),
        )
        .await;
    let runs = server.dequeue(&version, 1, 0).await;
    assert_eq!(server.complete_ok(&runs[0], json!("done")).await.0, 200);

    // No body, but Content-Type: application/json (as the SDK sends).
    let r = server
        .send(
            Req::new("POST", &format!("/api/v1/runs/{orig}/replay"))
                .content_type("application/json"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let copy = r.json["id"].as_str().unwrap().to_string();
    assert_ne!(copy, orig);
    let c = server.run(&copy).await;
    assert_eq!(c["taskIdentifier"], json!("t"));
    assert_eq!(c["payload"], json!({"a": [1, 2]}));
    assert_eq!(c["tags"], json!(["one", "two"]));
    assert_eq!(c["metadata"], json!({"k": "v"}));
    assert_eq!(c["status"], json!("QUEUED"));
    assert_eq!(c["version"], json!(version));
    let runs = server.dequeue(&version, 1, 0).await;
    assert_eq!(runs[0]["runId"], json!(copy));
    assert_eq!(runs[0]["machine"], json!("medium-1x"));
    assert_eq!(runs[0]["attempt"], json!(1));
    // The original is untouched.
    assert_eq!(server.status(&orig).await, "COMPLETED");

    // With overrides.
    let r = server
        .send(Req::new("POST", &format!("/api/v1/runs/{orig}/replay")).json(&json!({
            "payload": "{\"json\":{\"a\":\"1970-01-01T00:00:00.000Z\"},\"meta\":{\"values\":{\"a\":[\"Date\"]}}}",
            "payloadType": "application/super+json",
            "tags": ["r"],
            "metadata": {"over": true},
            "machine": "micro"
        })))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let over = r.json["id"].as_str().unwrap().to_string();
    assert!(over != orig && over != copy);
    let o = server.run(&over).await;
    assert_eq!(o["payload"], json!({"a": "1970-01-01T00:00:00.000Z"}));
    assert_eq!(o["tags"], json!(["r"]));
    assert_eq!(o["metadata"], json!({"over": true}));
    let runs = server.dequeue(&version, 1, 0).await;
    assert_eq!(runs[0]["runId"], json!(over));
    assert_eq!(runs[0]["machine"], json!("micro"));

    // Unknown fields are rejected (strict schema); unknown runs are 404.
    let r = server
        .send(Req::new("POST", &format!("/api/v1/runs/{orig}/replay")).json(&json!({"bogus": 1})))
        .await;
    assert_error(
        r.status,
        &r.json,
        &[400, 422],
        &["bogus"],
        "replay with an unknown field",
    );
    let r = server
        .send(
            Req::new("POST", "/api/v1/runs/run_doesnotexist0000000000/replay")
                .content_type("application/json"),
        )
        .await;
    assert_error(r.status, &r.json, &[404], &[], "replay of an unknown run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reschedule_delayed_run_only() {
    let server = TestServer::start_with_clock().await;
    server.deploy(tasks(&["t"])).await;
    let now = server.now_ms().await;
    let delayed = server.trigger("t", json!({}), json!({"delay": "1h"})).await;
    let before = parse_ms(&server.run(&delayed).await["delayedUntil"]);
    assert!((before - (now + 3_600_000)).abs() <= 1000);

    let (s, v) = server
        .post(
            &format!("/api/v1/runs/{delayed}/reschedule"),
            json!({"delay": "2h"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], json!(delayed), "reschedule answers the full run");
    assert_eq!(v["status"], json!("DELAYED"));
    let after = parse_ms(&v["delayedUntil"]);
    assert!(
        (after - (now + 7_200_000)).abs() <= 1000,
        "delayedUntil {} ≈ now+2h",
        v["delayedUntil"]
    );
    assert_eq!(parse_ms(&server.run(&delayed).await["delayedUntil"]), after);

    // An ISO date works too.
    let (s, v) = server
        .post(
            &format!("/api/v1/runs/{delayed}/reschedule"),
            json!({"delay": iso(now + 600_000)}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(parse_ms(&v["delayedUntil"]), now + 600_000);

    // The old due time no longer fires; the new one does.
    server.advance(590_000).await;
    assert_eq!(server.status(&delayed).await, "DELAYED");
    server.advance(11_000).await;
    assert_eq!(server.status(&delayed).await, "QUEUED");

    // Not delayed → 400.
    let (s, v) = server
        .post(
            &format!("/api/v1/runs/{delayed}/reschedule"),
            json!({"delay": "1h"}),
        )
        .await;
    assert_error(s, &v, &[400], &["delayed"], "reschedule a queued run");
    assert_eq!(server.status(&delayed).await, "QUEUED");

    // Bad delay → 400 and the run keeps its time.
    let other = server.trigger("t", json!({}), json!({"delay": "1h"})).await;
    let was = server.run(&other).await["delayedUntil"].clone();
    let (s, v) = server
        .post(
            &format!("/api/v1/runs/{other}/reschedule"),
            json!({"delay": "soon"}),
        )
        .await;
    assert_error(s, &v, &[400], &["delay"], "reschedule with a bad delay");
    assert_eq!(server.run(&other).await["delayedUntil"], was);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn add_tags() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({"tags": ["m"]})).await;
    let (s, v) = server
        .post(
            &format!("/api/v1/runs/{id}/tags"),
            json!({"tags": ["z", "a", "m"]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["message"].is_string(), "{v}");
    assert_eq!(server.run(&id).await["tags"], json!(["a", "m", "z"]));
    let (s, v) = server
        .post(
            &format!("/api/v1/runs/{id}/tags"),
            json!({"tags": "single"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        server.run(&id).await["tags"],
        json!(["a", "m", "single", "z"])
    );
    // Listed by the new tag.
    assert_eq!(
        server.list_ids(&query(&[("filter[tag]", "single")])).await,
        vec![id.clone()]
    );

    // Going over 10 in all is 422 and adds nothing.
    let many: Vec<String> = (0..7).map(|i| format!("n{i}")).collect();
    let (s, v) = server
        .post(&format!("/api/v1/runs/{id}/tags"), json!({"tags": many}))
        .await;
    assert_error(s, &v, &[422], &["10", "tags"], "more than 10 tags");
    assert_eq!(
        server.run(&id).await["tags"],
        json!(["a", "m", "single", "z"])
    );
    // Exactly 10 is fine.
    let six: Vec<String> = (0..6).map(|i| format!("n{i}")).collect();
    let (s, v) = server
        .post(&format!("/api/v1/runs/{id}/tags"), json!({"tags": six}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(server.run(&id).await["tags"].as_array().unwrap().len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metadata_get_replace_and_operations() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let id = server
        .trigger(
            "t",
            json!({}),
            json!({"metadata": {"a": {"b": 1}, "list": [1, 2, 1], "n": 5, "gone": true, "scalar": "s"}}),
        )
        .await;
    let path = format!("/api/v1/runs/{id}/metadata");
    let (s, v) = server.get(&path).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["metadata"],
        json!({"a": {"b": 1}, "list": [1, 2, 1], "n": 5, "gone": true, "scalar": "s"})
    );

    let (s, v) = server
        .call(
            "PUT",
            &path,
            Some(json!({"operations": [
                {"type": "set", "key": "x", "value": 1},
                {"type": "set", "key": "$.a.b", "value": 2},
                {"type": "set", "key": "$.a.c", "value": [true]},
                {"type": "set", "key": "$.missing.c", "value": 3},
                {"type": "delete", "key": "gone"},
                {"type": "append", "key": "list", "value": 3},
                {"type": "append", "key": "fresh", "value": "v"},
                {"type": "append", "key": "scalar", "value": "t"},
                {"type": "remove", "key": "list", "value": 1},
                {"type": "increment", "key": "n", "value": 2},
                {"type": "increment", "key": "n", "value": -10},
                {"type": "increment", "key": "counter", "value": 4}
            ]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let expected = json!({
        "a": {"b": 2, "c": [true]},
        "list": [2, 3],
        "n": -3,
        "x": 1,
        "fresh": ["v"],
        "scalar": ["s", "t"],
        "counter": 4
    });
    assert_eq!(v["metadata"], expected);
    assert_eq!(server.get(&path).await.1["metadata"], expected);
    assert_eq!(
        server.run(&id).await["metadata"],
        expected,
        "retrieve shows the same metadata"
    );

    // Replace the whole object.
    let (s, v) = server
        .call("PUT", &path, Some(json!({"metadata": {"replaced": [1]}})))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["metadata"], json!({"replaced": [1]}));
    assert_eq!(
        server.get(&path).await.1["metadata"],
        json!({"replaced": [1]})
    );

    // `update` replaces too.
    let (s, v) = server
        .call("PUT", &path, Some(json!({"operations": [{"type": "update", "value": {"u": 1}}, {"type": "set", "key": "w", "value": 2}]})))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["metadata"], json!({"u": 1, "w": 2}));

    // Prototype keys are not applied.
    let (s, v) = server
        .call(
            "PUT",
            &path,
            Some(json!({"operations": [{"type": "set", "key": "__proto__", "value": {"p": 1}}]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["metadata"], json!({"u": 1, "w": 2}));

    // A run without metadata reads as an empty object.
    let bare = server.trigger("t", json!({}), json!({})).await;
    let (s, v) = server.get(&format!("/api/v1/runs/{bare}/metadata")).await;
    assert_eq!(s, 200, "{v}");
    assert!(
        v["metadata"].is_object() || v.get("metadata").is_none() || v["metadata"].is_null(),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_key_reset() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t", "u"])).await;
    let hash = sha256_hex("reset-me");
    let opts = json!({"idempotencyKey": hash, "idempotencyKeyOptions": {"key": "reset-me", "scope": "global"}});
    let first = server.trigger("t", json!({}), opts.clone()).await;
    let (s, v) = server.try_trigger("t", json!({}), opts.clone()).await;
    assert_eq!((s, v["id"].clone()), (200, json!(first)));

    // Wrong task → 404, key stays.
    let (s, v) = server
        .post(
            &format!("/api/v1/idempotencyKeys/{hash}/reset"),
            json!({"taskIdentifier": "u"}),
        )
        .await;
    assert_error(s, &v, &[404], &[], "reset for another task");
    let (_, v) = server.try_trigger("t", json!({}), opts.clone()).await;
    assert_eq!(v["id"], json!(first));

    let (s, v) = server
        .post(
            &format!("/api/v1/idempotencyKeys/{hash}/reset"),
            json!({"taskIdentifier": "t"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], json!(hash));
    let (s, v) = server.try_trigger("t", json!({}), opts.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_ne!(v["id"], json!(first), "after reset the key makes a new run");
    assert_ne!(v["isCached"], json!(true));
    // The first run is untouched.
    assert_eq!(server.status(&first).await, "QUEUED");

    let unknown = sha256_hex("never-used");
    let (s, v) = server
        .post(
            &format!("/api/v1/idempotencyKeys/{unknown}/reset"),
            json!({"taskIdentifier": "t"}),
        )
        .await;
    assert_error(s, &v, &[404], &[], "reset of an unknown key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_metadata_increments_are_atomic() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let id = server
        .trigger("t", json!({}), json!({"metadata": {"n": 0}}))
        .await;
    let path = format!("/api/v1/runs/{id}/metadata");
    let futs = (0..50).map(|i| {
        server.call(
            "PUT",
            &path,
            Some(json!({"operations": [{"type": "increment", "key": "n", "value": 1}, {"type": "append", "key": "seen", "value": i}]})),
        )
    });
    for (s, v) in futures::future::join_all(futs).await {
        assert_eq!(s, 200, "{v}");
    }
    let (_, v) = server.get(&path).await;
    assert_eq!(v["metadata"]["n"], json!(50), "lost updates: {v}");
    assert_eq!(v["metadata"]["seen"].as_array().unwrap().len(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_tag_adds_never_exceed_ten() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let id = server
        .trigger("t", json!({}), json!({"tags": ["base"]}))
        .await;
    let path = format!("/api/v1/runs/{id}/tags");
    let futs = (0..20).map(|i| server.post(&path, json!({"tags": [format!("c{i:02}")]})));
    let answers = futures::future::join_all(futs).await;
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    assert!(
        answers.iter().all(|(s, _)| *s == 200 || *s == 422),
        "{answers:?}"
    );
    let tags = server.run(&id).await["tags"].as_array().unwrap().len();
    assert_eq!(tags, 10, "tags end at exactly 10");
    assert_eq!(ok, 9, "nine adds succeed, the rest are 422");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replay_uses_the_current_version() {
    let server = TestServer::start().await;
    let v1 = server.deploy_as(PROD_KEY, tasks(&["t"]), true).await;
    let orig = server
        .trigger_as(PROD_KEY, "t", json!({"x": 1}), json!({}))
        .await;
    let got = server.dequeue_as(PROD_KEY, &v1, 1, 0).await;
    assert_eq!(
        server
            .post_as(
                PROD_KEY,
                &format!("/api/v1/worker/runs/{orig}/complete"),
                json!({"lease": got[0]["lease"], "ok": true})
            )
            .await
            .0,
        200
    );
    let v2 = server.deploy_as(PROD_KEY, tasks(&["t"]), true).await;
    let r = server
        .send(
            Req::new("POST", &format!("/api/v1/runs/{orig}/replay"))
                .key(PROD_KEY)
                .content_type("application/json"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let copy = r.json["id"].as_str().unwrap();
    assert_eq!(server.run_as(PROD_KEY, copy).await["version"], json!(v2));
    assert_eq!(server.run_as(PROD_KEY, &orig).await["version"], json!(v1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_reaches_grandchildren_but_not_finished_children() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let root = server.trigger("t", json!({"r": 0}), json!({})).await;
    let child = server
        .trigger("t", json!({"r": 1}), json!({"parentRunId": root}))
        .await;
    let grandchild = server
        .trigger("t", json!({"r": 2}), json!({"parentRunId": child}))
        .await;
    let finished = server
        .trigger("t", json!({"r": 3}), json!({"parentRunId": root}))
        .await;
    let g = server.run(&grandchild).await;
    assert_eq!(g["depth"], json!(2));
    assert_eq!(g["relatedRuns"]["root"]["id"], json!(root), "{g}");
    assert_eq!(g["relatedRuns"]["parent"]["id"], json!(child), "{g}");
    // Finish `finished`.
    let got = server.dequeue(&version, 10, 0).await;
    let f = got
        .iter()
        .find(|r| r["runId"] == json!(finished))
        .expect("dequeued");
    assert_eq!(f["parentRunId"], json!(root));
    assert_eq!(f["rootRunId"], json!(root));
    assert_eq!(server.complete_ok(f, json!(1)).await.0, 200);

    assert_eq!(server.cancel(&root).await.0, 200);
    assert_eq!(server.status(&root).await, "CANCELED");
    assert_eq!(server.status(&child).await, "CANCELED");
    assert_eq!(server.status(&grandchild).await, "CANCELED");
    assert_eq!(server.status(&finished).await, "COMPLETED");

    // Canceling a child leaves its parent alone.
    let p = server.trigger("t", json!({}), json!({})).await;
    let c = server
        .trigger("t", json!({}), json!({"parentRunId": p}))
        .await;
    assert_eq!(server.cancel(&c).await.0, 200);
    assert_eq!(server.status(&p).await, "QUEUED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pagination_is_stable_while_runs_are_added() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let mut old = Vec::new();
    for _ in 0..6 {
        old.push(server.trigger("t", json!({}), json!({})).await);
    }
    let (_, first) = server
        .get(&format!("/api/v1/runs?{}", query(&[("page[size]", "2")])))
        .await;
    let mut seen = ids(first["data"].as_array().unwrap());
    for _ in 0..3 {
        server.trigger("t", json!({}), json!({})).await;
    }
    let mut next = first["pagination"]["next"].as_str().map(str::to_string);
    while let Some(n) = next {
        let (s, v) = server
            .get(&format!(
                "/api/v1/runs?{}",
                query(&[("page[size]", "2"), ("page[after]", &n)])
            ))
            .await;
        assert_eq!(s, 200, "{v}");
        seen.extend(ids(v["data"].as_array().unwrap()));
        next = v["pagination"]["next"].as_str().map(str::to_string);
    }
    old.reverse();
    assert_eq!(
        seen, old,
        "walking on from a cursor sees exactly the older runs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_filter_created_at_period() {
    let server = TestServer::start_with_clock().await;
    server.deploy(tasks(&["t"])).await;
    let old = server.trigger("t", json!({}), json!({})).await;
    server.advance(2 * 86_400_000).await;
    let new = server.trigger("t", json!({}), json!({})).await;
    assert_eq!(
        server
            .list_ids(&query(&[("filter[createdAt][period]", "1d")]))
            .await,
        vec![new.clone()]
    );
    assert_eq!(
        server
            .list_ids(&query(&[("filter[createdAt][period]", "3d")]))
            .await,
        vec![new, old]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replay_of_a_keyed_run_is_a_new_run() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let opts = json!({"idempotencyKey": sha256_hex("once"), "idempotencyKeyOptions": {"key": "once", "scope": "global"}});
    let orig = server.trigger("t", json!({"k": 1}), opts.clone()).await;
    let r = server
        .send(
            Req::new("POST", &format!("/api/v1/runs/{orig}/replay"))
                .content_type("application/json"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_ne!(
        r.json["id"],
        json!(orig),
        "replay is never served from the idempotency cache"
    );
    // The key still belongs to the original run.
    let (_, v) = server.try_trigger("t", json!({}), opts).await;
    assert_eq!(v["id"], json!(orig));
    assert_eq!(server.list_all("").await.len(), 2);
}

/// Callers that do not ask for the 2025-07-16 vocabulary (older SDKs) get upstream's legacy
/// status names; the official SDK 4.8 asks for the current one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_status_names_without_the_api_version_header() {
    let server = TestServer::start().await;
    let version = server.deploy(json!([{"id": "t"}])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    assert_eq!(server.dequeue(&version, 1, 0).await.len(), 1);
    assert_eq!(server.run(&id).await["status"], json!("DEQUEUED"));
    let plain = reqwest::Client::new();
    let get = |path: String| {
        let plain = plain.clone();
        let url = server.url(&path);
        async move {
            let resp = plain
                .get(url)
                .bearer_auth(common::DEV_KEY)
                .send()
                .await
                .unwrap();
            resp.json::<Value>().await.unwrap()
        }
    };
    let legacy = get(format!("/api/v3/runs/{id}")).await;
    assert_eq!(legacy["status"], json!("EXECUTING"));
    assert_eq!(legacy["isExecuting"], json!(true));
    let list = get("/api/v1/runs".to_string()).await;
    assert_eq!(list["data"][0]["status"], json!("EXECUTING"));
}
