//! Queues made through the API: create, list by tag with paging, edit, delete (refused while
//! runs are not finished unless forced, which moves them to their task's queue), and the
//! queues defined in code left as they are; through HTTP and the Rust client, with bad input.

mod common;

use common::*;
use serde_json::{json, Value};
use trigr_sdk::queues::{NewQueue, QueueChanges, QueueList};
use trigr_sdk::Client;

async fn create(server: &TestServer, body: Value) -> (u16, Value) {
    server.post("/api/v1/queues", body).await
}

async fn patch(server: &TestServer, queue: &str, body: Value) -> (u16, Value) {
    server
        .call("PATCH", &format!("/api/v1/queues/{queue}"), Some(body))
        .await
}

async fn delete(server: &TestServer, path: &str) -> (u16, Value) {
    server
        .call("DELETE", &format!("/api/v1/queues/{path}"), None)
        .await
}

fn names(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|q| q["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_list_edit_delete() {
    let server = TestServer::start().await;
    let (s, q) = create(
        &server,
        json!({"name": "reports", "concurrencyLimit": 3, "description": "Nightly reports",
               "tags": ["team", "nightly", "team"]}),
    )
    .await;
    assert_eq!(s, 201, "{q}");
    assert!(q["id"].as_str().unwrap().starts_with("queue_"), "{q}");
    assert_eq!(q["type"], json!("custom"));
    assert_eq!(q["source"], json!("api"));
    assert_eq!(q["concurrencyLimit"], json!(3));
    assert_eq!(q["description"], json!("Nightly reports"));
    assert_eq!(q["tags"], json!(["nightly", "team"]), "sorted, no repeats");
    assert_eq!(
        (q["queued"].clone(), q["running"].clone()),
        (json!(0), json!(0))
    );
    let id = q["id"].as_str().unwrap().to_string();

    // One name per environment.
    let (s, v) = create(&server, json!({"name": "reports"})).await;
    assert_error(s, &v, &[409], &["reports", "exists"], "duplicate name");
    for (name, tags) in [("alpha", json!(["team"])), ("beta", json!([]))] {
        let (s, v) = create(&server, json!({"name": name, "tags": tags})).await;
        assert_eq!(s, 201, "{v}");
    }

    // The tag filter pages in name order; every queue is listed without it.
    let (s, page) = server.get("/api/v1/queues?tag=team&perPage=1").await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(names(&page), ["alpha"]);
    assert_eq!(page["pagination"]["count"], json!(2));
    assert_eq!(page["pagination"]["totalPages"], json!(2));
    let (_, page) = server.get("/api/v1/queues?tag=team&perPage=1&page=2").await;
    assert_eq!(names(&page), ["reports"]);
    let (_, page) = server.get("/api/v1/queues?tag=none").await;
    assert_eq!(page["pagination"]["count"], json!(0));
    let (_, page) = server.get("/api/v1/queues?perPage=100").await;
    assert_eq!(names(&page), ["alpha", "beta", "reports"]);

    // Edit: rename, remove the limit and description, replace the tags; by id or name.
    let (s, v) = patch(
        &server,
        "reports",
        json!({"name": "reports/v2", "concurrencyLimit": null, "description": null,
               "tags": ["ops"]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], json!(id));
    assert_eq!(v["name"], json!("reports/v2"));
    assert_eq!(v["concurrencyLimit"], Value::Null);
    assert!(v.get("description").is_none(), "{v}");
    assert_eq!(v["tags"], json!(["ops"]));
    let (s, _) = server.get("/api/v1/queues/reports").await;
    assert_eq!(s, 404, "the old name is gone");
    let (s, v) = server.get("/api/v1/queues/reports%252Fv2").await;
    assert_eq!((s, v["id"].clone()), (200, json!(id)));
    let (s, v) = patch(&server, &id, json!({"concurrencyLimit": 4})).await;
    assert_eq!((s, v["concurrencyLimit"].clone()), (200, json!(4)), "{v}");
    assert_eq!(v["name"], json!("reports/v2"), "untouched fields stay");
    let (s, v) = patch(&server, &id, json!({"name": "alpha"})).await;
    assert_error(
        s,
        &v,
        &[409],
        &["alpha", "exists"],
        "rename onto a taken name",
    );

    // Pause and the override apply to API queues as to any other.
    let (s, v) = server
        .post(
            &format!("/api/v1/queues/{id}/pause"),
            json!({"action": "pause"}),
        )
        .await;
    assert_eq!((s, v["paused"].clone()), (200, json!(true)), "{v}");
    let (s, v) = server
        .post(
            &format!("/api/v1/queues/{id}/concurrency/override"),
            json!({"concurrencyLimit": 1}),
        )
        .await;
    assert_eq!((s, v["concurrencyLimit"].clone()), (200, json!(1)), "{v}");
    let (s, v) = server
        .post(&format!("/api/v1/queues/{id}/concurrency/reset"), json!({}))
        .await;
    assert_eq!((s, v["concurrencyLimit"].clone()), (200, json!(4)), "{v}");

    // Delete, then it is gone.
    let (s, v) = delete(&server, &id).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!({"id": id, "deleted": true, "movedRuns": 0}));
    let (s, v) = server.get(&format!("/api/v1/queues/{id}")).await;
    assert_error(s, &v, &[404], &["not found"], "deleted queue");
    let (s, v) = delete(&server, &id).await;
    assert_error(s, &v, &[404], &["not found"], "deleted twice");
    let (_, page) = server.get("/api/v1/queues?tag=ops").await;
    assert_eq!(
        page["pagination"]["count"],
        json!(0),
        "tags go with the queue"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queues_defined_in_code_stay() {
    let server = TestServer::start().await;
    server
        .deploy(
            json!([{"id": "x"}, {"id": "y", "queue": {"name": "shared", "concurrencyLimit": 2}}]),
        )
        .await;
    let (s, v) = server.get("/api/v1/queues/shared").await;
    assert_eq!((s, v["source"].clone()), (200, json!("code")), "{v}");
    assert_eq!(v["tags"], json!([]));
    for (what, (s, v)) in [
        (
            "edit a custom code queue",
            patch(&server, "shared", json!({"description": "d"})).await,
        ),
        (
            "rename a task queue",
            patch(&server, "x", json!({"type": "task", "name": "z"})).await,
        ),
        (
            "delete a custom code queue",
            delete(&server, "shared").await,
        ),
        (
            "delete a task queue",
            delete(&server, "x?type=task&force=true").await,
        ),
    ] {
        assert_error(s, &v, &[409], &["defined in code"], what);
    }
    let (s, v) = create(&server, json!({"name": "shared"})).await;
    assert_error(s, &v, &[409], &["exists"], "a code queue's name");
    let (s, v) = server.get("/api/v1/queues/shared").await;
    assert_eq!(
        (s, v["concurrencyLimit"].clone()),
        (200, json!(2)),
        "unchanged: {v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_refused_while_runs_are_live_unless_forced() {
    let server = TestServer::start().await;
    let version = server.deploy(json!([{"id": "a"}, {"id": "b"}])).await;
    let (s, v) = create(&server, json!({"name": "pool", "concurrencyLimit": 5})).await;
    assert_eq!(s, 201, "{v}");
    let on_pool = json!({"queue": {"name": "pool"}});
    let mut triggered = Vec::new();
    for (n, task) in ["a", "a", "b", "b"].into_iter().enumerate() {
        triggered.push(
            server
                .trigger(task, json!({ "n": n }), on_pool.clone())
                .await,
        );
    }
    // Two runs start; one of them finishes, the other keeps running.
    let got = server.dequeue(&version, 2, 0).await;
    assert_eq!(got.len(), 2);
    let (s, v) = server.complete_ok(&got[0], json!({})).await;
    assert_eq!(s, 200, "{v}");
    let started: Vec<&str> = got.iter().map(|r| r["runId"].as_str().unwrap()).collect();
    let mut waiting: Vec<String> = triggered
        .iter()
        .filter(|id| !started.contains(&id.as_str()))
        .cloned()
        .collect();
    waiting.sort();

    let (s, v) = server.get("/api/v1/queues/pool").await;
    assert_eq!(
        (v["running"].clone(), v["queued"].clone()),
        (json!(1), json!(2)),
        "{s} {v}"
    );
    let (s, v) = delete(&server, "pool").await;
    assert_error(s, &v, &[409], &["3 runs", "force"], "live runs");
    let (s, v) = delete(&server, "pool?force=maybe").await;
    assert_error(s, &v, &[400], &["force"], "force not a boolean");
    let (s, v) = server.get("/api/v1/queues/pool").await;
    assert_eq!(s, 200, "a refused deletion leaves the queue: {v}");

    let (s, v) = delete(&server, "pool?force=true").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["movedRuns"], json!(3));
    // The live runs are on their task's own queue, and counted there.
    let (_, a) = server.get("/api/v1/queues/a?type=task").await;
    let (_, b) = server.get("/api/v1/queues/b?type=task").await;
    let count = |k: &str| a[k].as_i64().unwrap() + b[k].as_i64().unwrap();
    assert_eq!((count("running"), count("queued")), (1, 2), "{a} {b}");
    let still = server.run(started[1]).await;
    assert_eq!(still["isExecuting"], json!(true), "{still}");
    assert!(
        still["queue"].as_str().unwrap().starts_with("task/"),
        "{still}"
    );
    // The waiting ones run from there.
    let got = server.dequeue(&version, 10, 0).await;
    let mut ids: Vec<String> = got
        .iter()
        .map(|r| r["runId"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, waiting);
}

/// Triggers onto a queue racing its deletion: every run lands on a queue that exists (the one
/// being deleted, whose deletion then counts it and is refused, or one made anew after it), so
/// every run is handed to a worker. On PostgreSQL the trigger holds the queue against the
/// deletion until its run is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn triggers_racing_a_deletion_strand_no_run() {
    const ROUNDS: usize = 12;
    const TRIGGERS: usize = 6;
    let server = std::sync::Arc::new(TestServer::start().await);
    let version = server.deploy(json!([{"id": "a"}])).await;
    let mut triggered = Vec::new();
    let mut deleted = 0;
    for round in 0..ROUNDS {
        let name = format!("race{round}");
        let (s, v) = create(&server, json!({"name": name})).await;
        assert_eq!(s, 201, "{v}");
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..TRIGGERS {
            let (server, name) = (server.clone(), name.clone());
            tasks.spawn(async move {
                let options = json!({"queue": {"name": name}});
                Some(server.trigger("a", json!({ "n": n }), options).await)
            });
        }
        let (s, v) = delete(&server, &name).await;
        assert!(s == 200 || s == 409, "{s} {v}");
        deleted += usize::from(s == 200);
        while let Some(id) = tasks.join_next().await {
            triggered.extend(id.expect("trigger task"));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..ROUNDS * TRIGGERS {
        let got = server.dequeue(&version, 50, 200).await;
        if got.is_empty() {
            break;
        }
        for run in &got {
            let (s, v) = server.complete_ok(run, json!({})).await;
            assert_eq!(s, 200, "{v}");
            seen.insert(run["runId"].as_str().unwrap().to_string());
        }
    }
    let stranded: Vec<&String> = triggered.iter().filter(|id| !seen.contains(*id)).collect();
    assert!(
        stranded.is_empty(),
        "runs never handed out ({deleted} of {ROUNDS} deletions went through): {stranded:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_is_refused_and_writes_nothing() {
    let server = TestServer::start().await;
    let long = "n".repeat(129);
    let cases = [
        (json!({"name": "a\u{0}b"}), "NUL", vec![400], vec!["NUL"]),
        (
            json!({"name": long}),
            "long name",
            vec![400],
            vec!["name", "128"],
        ),
        (json!({"name": ""}), "empty name", vec![400], vec!["name"]),
        (
            json!({"name": "a\nb"}),
            "control character",
            vec![400],
            vec!["control"],
        ),
        (
            json!({"name": "task/x"}),
            "task prefix",
            vec![400],
            vec!["task/"],
        ),
        (
            json!({"name": "queue_x"}),
            "id prefix",
            vec![400],
            vec!["queue_"],
        ),
        (json!({}), "no name", vec![400], vec!["name"]),
        (
            json!({"name": "q", "concurrencyLimit": -1}),
            "negative limit",
            vec![400],
            vec!["concurrencyLimit"],
        ),
        (
            json!({"name": "q", "concurrencyLimit": 100001}),
            "limit too high",
            vec![400],
            vec!["concurrencyLimit"],
        ),
        (
            json!({"name": "q", "concurrencyLimit": 5000}),
            "over the environment",
            vec![400],
            vec!["environment"],
        ),
        (
            json!({"name": "q", "concurrencyLimit": 1.5}),
            "fractional limit",
            vec![400],
            vec!["concurrencyLimit"],
        ),
        (
            json!({"name": "q", "description": "d".repeat(1025)}),
            "long description",
            vec![400],
            vec!["description"],
        ),
        (
            json!({"name": "q", "tags": (0..11).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
            "too many tags",
            vec![400],
            vec!["tags"],
        ),
        (
            json!({"name": "q", "tags": ["t".repeat(129)]}),
            "long tag",
            vec![400],
            vec!["tag"],
        ),
        (
            json!({"name": "q", "tags": [""]}),
            "empty tag",
            vec![400],
            vec!["tag"],
        ),
    ];
    for (body, what, statuses, words) in cases {
        let (s, v) = create(&server, body).await;
        assert_error(s, &v, &statuses, &words, what);
    }
    // An overflowing number is refused by the body reader.
    let r = server
        .send(Req::new("POST", "/api/v1/queues").raw_body(
            "application/json",
            r#"{"name":"q","concurrencyLimit":9223372036854775808}"#,
        ))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    // Without a key, nothing is read.
    let r = server
        .send(
            Req::new("POST", "/api/v1/queues")
                .no_key()
                .json(&json!({"name": "q"})),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    let (_, page) = server.get("/api/v1/queues").await;
    assert_eq!(
        page["pagination"]["count"],
        json!(0),
        "nothing written: {page}"
    );

    // Unknown queues, and bad edits of a real one.
    let (s, v) = patch(&server, "missing", json!({"description": "d"})).await;
    assert_error(s, &v, &[404], &["not found"], "edit unknown");
    let (s, v) = delete(&server, "queue_missing").await;
    assert_error(s, &v, &[404], &["not found"], "delete unknown");
    let (s, v) = create(&server, json!({"name": "real", "tags": ["keep"]})).await;
    assert_eq!(s, 201, "{v}");
    for (body, what) in [
        (json!({"name": "x\u{0}"}), "NUL rename"),
        (json!({"concurrencyLimit": 100001}), "limit too high"),
        (json!({"tags": ["a\u{7}"]}), "control tag"),
        (json!({"type": "other"}), "unknown type"),
    ] {
        let (s, v) = patch(&server, "real", body).await;
        assert_error(s, &v, &[400], &[], what);
    }
    let (_, v) = server.get("/api/v1/queues/real").await;
    assert_eq!(v["tags"], json!(["keep"]), "unchanged: {v}");
    for path in [
        "/api/v1/queues?tag=",
        "/api/v1/queues?tag=a&tag=b",
        "/api/v1/queues?perPage=101",
        "/api/v1/queues?tag=a%00",
    ] {
        let (s, v) = server.get(path).await;
        assert_error(s, &v, &[400], &[], path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rust_client_manages_queues() {
    let server = TestServer::start().await;
    let client = Client::new(&server.base_url, DEV_KEY).expect("client");
    let queues = client.queues();
    let q = queues
        .create(
            NewQueue::new("emails/eu")
                .concurrency_limit(2)
                .description("EU mail")
                .tags(["mail", "eu"]),
        )
        .await
        .expect("create");
    assert_eq!(q.source, "api");
    assert_eq!(q.tags, ["eu", "mail"]);
    let err = queues
        .create(NewQueue::new("emails/eu"))
        .await
        .expect_err("duplicate");
    assert!(err.to_string().contains("409"), "{err}");

    let by_name = queues.retrieve("emails/eu").await.expect("retrieve");
    assert_eq!(by_name.id, q.id);
    let page = queues
        .list(QueueList::new().tag("mail").per_page(10))
        .await
        .expect("list");
    assert_eq!((page.count, page.data.len()), (1, 1));

    let q2 = queues
        .update(
            "emails/eu",
            QueueChanges::new()
                .name("emails-eu")
                .no_concurrency_limit()
                .no_description()
                .tags(["mail"]),
        )
        .await
        .expect("update");
    assert_eq!(
        (
            q2.name.as_str(),
            q2.concurrency_limit,
            q2.description.clone()
        ),
        ("emails-eu", None, None)
    );
    assert!(queues.pause(&q.id).await.expect("pause").paused);
    assert!(!queues.resume(&q.id).await.expect("resume").paused);
    let o = queues
        .override_concurrency_limit(&q.id, 1)
        .await
        .expect("override");
    assert_eq!(o.concurrency.override_limit, Some(1));
    let r = queues.reset_concurrency_limit(&q.id).await.expect("reset");
    assert_eq!(r.concurrency.override_limit, None);

    let d = queues.delete("emails-eu", false).await.expect("delete");
    assert_eq!((d.id, d.deleted, d.moved_runs), (q.id, true, 0));
    let err = queues.retrieve("emails-eu").await.expect_err("gone");
    assert!(err.to_string().contains("404"), "{err}");
}
