//! The `debounce` trigger option: triggers of one task with the same key coalesce into one
//! delayed run, pushed later by each trigger (within `maxDelay`), with the first trigger's data
//! (`leading`) or the latest one's (`trailing`); once the run has left `DELAYED`, the key makes
//! a new run. Time is the server's manual clock; the timers run when the tests move it.
//! With `TRIGR_TEST_BACKEND=postgres` the concurrency test runs two servers on one database.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::{json, Value};

fn debounce(key: &str, delay: &str) -> Value {
    json!({"debounce": {"key": key, "delay": delay}})
}

async fn server_with(tasks_: &[&str]) -> TestServer {
    let server = TestServer::start_with_clock().await;
    server.deploy(tasks(tasks_)).await;
    server
}

fn due(run: &Value) -> i64 {
    parse_ms(&run["delayedUntil"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leading_mode_pushes_one_run_and_keeps_the_first_payload() {
    let server = server_with(&["t", "other"]).await;
    let t0 = server.now_ms().await;
    let first = server
        .trigger("t", json!({"n": 1}), debounce("k", "10s"))
        .await;
    let run = server.run(&first).await;
    assert_eq!(run["status"], json!("DELAYED"), "{run}");
    assert_eq!(due(&run), t0 + 10_000);

    server.advance(5_000).await;
    let second = server
        .trigger("t", json!({"n": 2}), debounce("k", "10s"))
        .await;
    assert_eq!(second, first, "the same key names the delayed run");
    let run = server.run(&first).await;
    assert_eq!(
        due(&run),
        t0 + 15_000,
        "pushed to 10 s after the latest trigger"
    );
    assert_eq!(
        run["payload"],
        json!({"n": 1}),
        "leading: the first payload stays"
    );

    // Other keys, and the same key of another task, are other runs.
    let other_key = server.trigger("t", json!({}), debounce("k2", "10s")).await;
    let other_task = server
        .trigger("other", json!({}), debounce("k", "10s"))
        .await;
    assert_ne!(other_key, first);
    assert_ne!(other_task, first);

    // Not due before its pushed time, due after it.
    server.advance(9_000).await;
    assert_eq!(server.status(&first).await, "DELAYED");
    server.advance(1_000).await;
    assert_eq!(server.status(&first).await, "QUEUED");

    // The run is no longer delayed: the key makes a new run.
    let third = server
        .trigger("t", json!({"n": 3}), debounce("k", "10s"))
        .await;
    assert_ne!(third, first);
    assert_eq!(server.run(&third).await["payload"], json!({"n": 3}));
    assert_eq!(server.run(&first).await["payload"], json!({"n": 1}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trailing_mode_replaces_the_payload_and_options() {
    let server = server_with(&["t"]).await;
    let opts = |n: i64| {
        json!({
            "debounce": {"key": "doc-1", "delay": "5s", "mode": "trailing"},
            "tags": [format!("v{n}")],
            "metadata": {"n": n},
            "maxAttempts": n,
        })
    };
    let first = server.trigger("t", json!({"n": 1}), opts(1)).await;
    server.advance(1_000).await;
    let second = server.trigger("t", json!({"n": 2}), opts(2)).await;
    server.advance(1_000).await;
    let third = server.trigger("t", json!({"n": 3}), opts(3)).await;
    assert_eq!((&second, &third), (&first, &first));
    let run = server.run(&first).await;
    assert_eq!(run["payload"], json!({"n": 3}), "{run}");
    assert_eq!(run["tags"], json!(["v3"]));
    assert_eq!(run["metadata"], json!({"n": 3}));
    // The replaced tags are the ones the run is found by.
    let by_tag = |tag: &str| query(&[("filter[tag]", tag)]);
    assert_eq!(server.list_ids(&by_tag("v3")).await, vec![first.clone()]);
    assert!(server.list_ids(&by_tag("v1")).await.is_empty());

    // A leading trigger on the same key pushes the run without replacing its data.
    let leading = server
        .trigger("t", json!({"n": 4}), debounce("doc-1", "5s"))
        .await;
    assert_eq!(leading, first);
    assert_eq!(server.run(&first).await["payload"], json!({"n": 3}));

    // The worker gets the latest data.
    server.advance(5_000).await;
    let version = server.run(&first).await["version"]
        .as_str()
        .unwrap()
        .to_string();
    let runs = server.dequeue(&version, 10, 0).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["runId"], json!(first));
    assert_eq!(runs[0]["payload"], json!({"n": 3}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_delay_caps_the_push_and_the_next_trigger_makes_a_new_run() {
    let server = server_with(&["t"]).await;
    let t0 = server.now_ms().await;
    let opts = json!({"debounce": {"key": "k", "delay": "5s", "maxDelay": "12s"}});
    let a = server.trigger("t", json!({"n": 1}), opts.clone()).await;
    server.advance(4_000).await;
    assert_eq!(server.trigger("t", json!({}), opts.clone()).await, a);
    assert_eq!(due(&server.run(&a).await), t0 + 9_000);
    // 8 s + 5 s is past 12 s after the first trigger: A keeps its time, B takes the key.
    server.advance(4_000).await;
    let b = server.trigger("t", json!({"n": 2}), opts.clone()).await;
    assert_ne!(b, a);
    assert_eq!(due(&server.run(&a).await), t0 + 9_000);
    assert_eq!(due(&server.run(&b).await), t0 + 13_000);
    server.advance(1_000).await;
    assert_eq!(server.status(&a).await, "QUEUED");
    // The key now pushes B.
    server.advance(1_000).await;
    assert_eq!(server.trigger("t", json!({}), opts.clone()).await, b);
    assert_eq!(due(&server.run(&b).await), t0 + 15_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_started_or_canceled_run_frees_the_key() {
    let server = server_with(&["t"]).await;
    let first = server.trigger("t", json!({}), debounce("k", "2s")).await;
    server.advance(2_000).await;
    let version = server.run(&first).await["version"]
        .as_str()
        .unwrap()
        .to_string();
    let runs = server.dequeue(&version, 1, 0).await;
    assert_eq!(runs[0]["runId"], json!(first));
    let second = server.trigger("t", json!({}), debounce("k", "2s")).await;
    assert_ne!(second, first, "a started run is not pushed");
    assert_eq!(server.status(&first).await, "DEQUEUED");

    let (s, v) = server.cancel(&second).await;
    assert_eq!(s, 200, "{v}");
    let third = server.trigger("t", json!({}), debounce("k", "2s")).await;
    assert!(third != second && third != first);
    assert_eq!(server.status(&third).await, "DELAYED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_keys_win_over_debounce_keys() {
    let server = server_with(&["t"]).await;
    let first = server
        .trigger("t", json!({}), json!({"idempotencyKey": "i1"}))
        .await;
    let opts = merge(debounce("k", "5s"), json!({"idempotencyKey": "i1"}));
    let (s, v) = server.try_trigger("t", json!({}), opts).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!((&v["id"], &v["isCached"]), (&json!(first), &json!(true)));
    // The debounced answer is not a cached one.
    let d1 = server.trigger("t", json!({}), debounce("k", "5s")).await;
    let (s, v) = server
        .try_trigger("t", json!({}), debounce("k", "5s"))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!((&v["id"], &v["isCached"]), (&json!(d1), &json!(false)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_items_with_one_key_become_one_run() {
    let server = server_with(&["t"]).await;
    let r = server
        .create_batch(json!({"runCount": 4, "taskIdentifiers": ["t"]}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_string();
    let item = |i: usize, key: &str| {
        json!({"index": i, "task": "t", "payload": format!("{{\"i\":{i}}}"),
               "options": {"debounce": {"key": key, "delay": "5s", "mode": "trailing"}}})
    };
    let items = [item(0, "a"), item(1, "a"), item(2, "b"), item(3, "a")];
    let r = server.send_items(&id, &items).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["itemsAccepted"], json!(4));
    let (s, v) = server.get(&format!("/api/v2/batches/{id}")).await;
    assert_eq!(s, 200, "{v}");
    let runs: Vec<&str> = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(runs.len(), 4, "{v}");
    assert_eq!((runs[0], runs[3]), (runs[1], runs[1]));
    assert_ne!(runs[2], runs[0]);
    assert_eq!(server.run(runs[0]).await["payload"], json!({"i": 3}));
    // A single trigger with the key joins the batch's run.
    let single = server
        .trigger(
            "t",
            json!({}),
            json!({"debounce": {"key": "a", "delay": "5s"}}),
        )
        .await;
    assert_eq!(single, runs[0]);
    assert_eq!(server.list_ids("").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_triggers_with_one_key_make_one_run() {
    let server = server_with(&["t"]).await;
    // On PostgreSQL a second server on the same database takes half the triggers.
    let second = match postgres_url() {
        Some(_) => {
            let url = store_args(&server)[1].clone();
            Some(TestServer::start_on(&url, &["--test-clock".to_string()]).await)
        }
        None => None,
    };
    let servers: Vec<&TestServer> = std::iter::once(&server).chain(second.as_ref()).collect();
    for round in 0..3 {
        let key = format!("burst-{round}");
        let calls = (0..24).map(|i| {
            let s = servers[i % servers.len()];
            let opts = json!({"debounce": {"key": key, "delay": "1h", "mode": "trailing"}});
            async move { s.try_trigger("t", json!({"i": i}), opts).await }
        });
        let answers = futures::future::join_all(calls).await;
        let ids: HashSet<String> = answers
            .iter()
            .map(|(s, v)| {
                assert_eq!(*s, 200, "{v}");
                v["id"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(ids.len(), 1, "round {round}: {ids:?}");
    }
    assert_eq!(server.list_ids("").await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_debounce_options_are_refused_and_create_nothing() {
    let server = server_with(&["t"]).await;
    let long = "k".repeat(513);
    let cases = [
        (json!({"key": long, "delay": "5s"}), 400, "debounce.key"),
        (json!({"key": "", "delay": "5s"}), 400, "debounce.key"),
        (json!({"key": "a\u{0}b", "delay": "5s"}), 400, "NUL"),
        (json!({"key": "k", "delay": "soon"}), 422, "debounce.delay"),
        (
            json!({"key": "k", "delay": "2030-01-01T00:00:00Z"}),
            422,
            "debounce.delay",
        ),
        (json!({"key": "k", "delay": "0s"}), 422, "debounce.delay"),
        (json!({"key": "k", "delay": "500w"}), 422, "debounce.delay"),
        (
            json!({"key": "k", "delay": "99999999999999999999999s"}),
            422,
            "debounce.delay",
        ),
        (
            json!({"key": "k", "delay": "5s", "maxDelay": "5s"}),
            422,
            "debounce.maxDelay",
        ),
        (
            json!({"key": "k", "delay": "5s", "maxDelay": "later"}),
            422,
            "debounce.maxDelay",
        ),
        (
            json!({"key": "k", "delay": "5s", "mode": "middle"}),
            400,
            "mode",
        ),
        (json!({"key": "k"}), 400, "delay"),
        (json!({"key": 7, "delay": "5s"}), 400, "key"),
        (json!(["k", "5s"]), 400, "debounce"),
    ];
    for (option, status, needle) in cases {
        let (s, v) = server
            .try_trigger("t", json!({}), json!({"debounce": option}))
            .await;
        assert_error(s, &v, &[status], &[needle], &format!("debounce {option}"));
    }
    assert!(server.list_ids("").await.is_empty(), "no run was created");

    // A batch item with a bad option is refused the same way.
    let r = server
        .create_batch(json!({"runCount": 1, "taskIdentifiers": ["t"]}))
        .await;
    let id = r.json["id"].as_str().unwrap().to_string();
    let bad = json!({"index": 0, "task": "t", "payload": "{}",
                     "options": {"debounce": {"key": "k", "delay": "1s", "maxDelay": "1s"}}});
    let (s, v) = server.send_items(&id, &[bad]).await.pair();
    assert_error(s, &v, &[422], &["debounce.maxDelay"], "batch item");
    assert!(server.list_ids("").await.is_empty(), "no run was created");
}
