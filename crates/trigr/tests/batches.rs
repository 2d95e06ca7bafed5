//! Two-phase batch trigger: create, NDJSON items (streamed), dedupe, sealing, retrieve,
//! idempotency, status.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::{json, Value};

fn item(i: usize, task: &str, options: Value) -> Value {
    json!({
        "index": i,
        "task": task,
        "payload": format!("{{\"json\":{{\"i\":{i}}}}}"),
        "options": merge(json!({"payloadType": "application/super+json"}), options)
    })
}

async fn batch_runs(server: &TestServer, id: &str) -> Vec<String> {
    let (s, v) = server.get(&format!("/api/v2/batches/{id}")).await;
    assert_eq!(s, 200, "{v}");
    v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_items_in_index_order_and_resend_dedupes() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let r = server
        .create_batch(json!({"runCount": 1000, "taskIdentifiers": ["t"]}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("batch_"), "{id}");
    assert_eq!(r.json["runCount"], json!(1000));
    assert_eq!(r.json["isCached"], json!(false));
    let jwt = r
        .header("x-trigger-jwt")
        .expect("x-trigger-jwt on batch create");
    assert_eq!(jwt.split('.').count(), 3);
    assert!(r.header("x-trigger-jwt-claims").is_some());

    // Items in shuffled order, to check that runs are listed by index, not by arrival.
    let mut order: Vec<usize> = (0..1000).collect();
    let mut rng = Rng::new(42);
    for i in (1..order.len()).rev() {
        let j = rng.range(0, i as u64) as usize;
        order.swap(i, j);
    }
    let items: Vec<Value> = order
        .iter()
        .map(|&i| item(i, "t", json!({"tags": [format!("b{}", i % 3)]})))
        .collect();
    let r = server.send_items(&id, &items).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["id"], json!(id));
    assert_eq!(r.json["itemsAccepted"], json!(1000));
    assert_eq!(r.json["itemsDeduplicated"], json!(0));
    assert_eq!(r.json["sealed"], json!(true));

    // Right after the items call, retrieve lists every run in index order.
    let (s, b) = server.get(&format!("/api/v2/batches/{id}")).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["id"], json!(id));
    assert_eq!(b["runCount"], json!(1000));
    assert!(
        b["createdAt"].is_string() && b["updatedAt"].is_string(),
        "{b}"
    );
    assert!(
        ["PENDING", "PROCESSING"].contains(&b["status"].as_str().unwrap()),
        "{b}"
    );
    assert!(b["processing"]["errors"].is_array(), "{b}");
    let runs: Vec<String> = b["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    assert_eq!(runs.len(), 1000);
    assert_eq!(
        runs.iter().collect::<HashSet<_>>().len(),
        1000,
        "distinct run ids"
    );
    for i in [0usize, 1, 2, 499, 500, 998, 999] {
        let run = server.run(&runs[i]).await;
        assert_eq!(
            run["payload"],
            json!({"i": i}),
            "runs[{i}] is the run of item {i}"
        );
        assert_eq!(run["batchId"], json!(id));
        assert_eq!(run["tags"], json!([format!("b{}", i % 3)]));
    }

    // The SDK re-sends the whole stream on a retry: everything dedupes.
    let r = server.send_items(&id, &items).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["itemsAccepted"], json!(0));
    assert_eq!(r.json["itemsDeduplicated"], json!(1000));
    assert_eq!(r.json["sealed"], json!(true));
    assert_eq!(batch_runs(&server, &id).await, runs);

    // filter[batch] lists exactly these runs.
    let listed: HashSet<String> = server
        .list_ids(&query(&[("filter[batch]", &id)]))
        .await
        .into_iter()
        .collect();
    assert_eq!(listed, runs.iter().cloned().collect::<HashSet<_>>());
    assert_eq!(server.list_all("").await.len(), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partial_stream_is_not_sealed_until_complete() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["a", "b"])).await;
    let r = server
        .create_batch(json!({"runCount": 5, "taskIdentifiers": ["a", "b"]}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_string();
    let all: Vec<Value> = (0..5)
        .map(|i| item(i, if i % 2 == 0 { "a" } else { "b" }, json!({})))
        .collect();

    let r = server.send_items(&id, &all[0..3]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["sealed"], json!(false));
    assert_eq!(r.json["itemsAccepted"], json!(3));
    assert_eq!(r.json["enqueuedCount"], json!(3));
    assert_eq!(r.json["expectedCount"], json!(5));
    assert_eq!(batch_runs(&server, &id).await.len(), 3);

    // A duplicated index inside one stream counts as a dedupe.
    let r = server
        .send_items(&id, &[all[1].clone(), all[1].clone()])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["itemsAccepted"], json!(0));
    assert_eq!(r.json["itemsDeduplicated"], json!(2));
    assert_eq!(r.json["sealed"], json!(false));

    let r = server.send_items(&id, &all).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["sealed"], json!(true));
    assert_eq!(r.json["itemsAccepted"], json!(2));
    assert_eq!(r.json["itemsDeduplicated"], json!(3));
    let runs = batch_runs(&server, &id).await;
    assert_eq!(runs.len(), 5);
    for (i, rid) in runs.iter().enumerate() {
        let run = server.run(rid).await;
        assert_eq!(
            run["taskIdentifier"],
            json!(if i % 2 == 0 { "a" } else { "b" })
        );
        assert_eq!(run["payload"], json!({"i": i}));
    }

    // After sealing, another items call is an idempotent success.
    let r = server.send_items(&id, &all[0..1]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["sealed"], json!(true));
    assert_eq!(r.json["itemsAccepted"], json!(0));
    assert_eq!(server.list_all("").await.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_idempotency_key_returns_cached_batch() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let key = sha256_hex("nightly-2024");
    let body = json!({"runCount": 2, "taskIdentifiers": ["t"], "idempotencyKey": key,
                      "idempotencyKeyOptions": {"key": "nightly-2024", "scope": "global"}});
    let r = server.create_batch(body.clone()).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json["isCached"], json!(false));
    let id = r.json["id"].as_str().unwrap().to_string();
    let r2 = server.create_batch(body.clone()).await;
    assert_eq!(r2.status, 200, "a cached batch answers 200: {}", r2.text);
    assert_eq!(r2.json["id"], json!(id));
    assert_eq!(r2.json["isCached"], json!(true));
    assert_eq!(r2.json["runCount"], json!(2));
    let (_, b) = server.get(&format!("/api/v2/batches/{id}")).await;
    assert!(b["idempotencyKey"].is_string(), "{b}");

    // Another key is another batch.
    let r3 = server
        .create_batch(
            json!({"runCount": 2, "taskIdentifiers": ["t"], "idempotencyKey": sha256_hex("other")}),
        )
        .await;
    assert_eq!(r3.status, 202, "{}", r3.text);
    assert_ne!(r3.json["id"], json!(id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_items_carry_their_options() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["t"])).await;
    let r = server
        .create_batch(json!({"runCount": 3, "taskIdentifiers": ["t"]}))
        .await;
    let id = r.json["id"].as_str().unwrap().to_string();
    let items = vec![
        item(0, "t", json!({"delay": "1h", "tags": ["late"]})),
        item(
            1,
            "t",
            json!({"metadata": {"m": 1}, "machine": "micro", "maxAttempts": 2, "concurrencyKey": "c"}),
        ),
        json!({"index": 2, "task": "t", "payload": "plain text", "options": {"payloadType": "text/plain",
               "idempotencyKey": sha256_hex("item-2"), "idempotencyKeyOptions": {"key": "item-2", "scope": "global"}}}),
    ];
    let r = server.send_items(&id, &items).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let runs = batch_runs(&server, &id).await;
    let r0 = server.run(&runs[0]).await;
    assert_eq!(r0["status"], json!("DELAYED"));
    assert_eq!(r0["tags"], json!(["late"]));
    let r2 = server.run(&runs[2]).await;
    assert_eq!(r2["payload"], json!("plain text"));
    assert_eq!(r2["idempotencyKey"], json!("item-2"));
    let got = server.dequeue(&version, 5, 0).await;
    assert_eq!(got.len(), 2, "the delayed one waits");
    let one = got
        .iter()
        .find(|d| d["runId"] == json!(runs[1]))
        .expect("item 1 dequeued");
    assert_eq!(one["metadata"], json!({"m": 1}));
    assert_eq!(one["machine"], json!("micro"));
    assert_eq!(one["maxAttempts"], json!(2));
    assert_eq!(one["concurrencyKey"], json!("c"));
    assert_eq!(one["batchId"], json!(id));

    // An item with an idempotency key that is already live reuses that run.
    let r = server
        .create_batch(json!({"runCount": 1, "taskIdentifiers": ["t"]}))
        .await;
    let id2 = r.json["id"].as_str().unwrap().to_string();
    let r = server.send_items(&id2, &[json!({"index": 0, "task": "t", "payload": "again", "options": {"payloadType": "text/plain",
               "idempotencyKey": sha256_hex("item-2"), "idempotencyKeyOptions": {"key": "item-2", "scope": "global"}}})]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        batch_runs(&server, &id2).await,
        vec![runs[2].clone()],
        "cached item run is reused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_completes_when_every_run_is_final() {
    let server = TestServer::start().await;
    let version = server
        .deploy(json!([{"id": "t", "retry": {"maxAttempts": 1}}]))
        .await;
    let r = server
        .create_batch(json!({"runCount": 3, "taskIdentifiers": ["t"]}))
        .await;
    let id = r.json["id"].as_str().unwrap().to_string();
    let r = server
        .send_items(
            &id,
            &(0..3).map(|i| item(i, "t", json!({}))).collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let status = || async {
        let (s, v) = server.get(&format!("/api/v2/batches/{id}")).await;
        assert_eq!(s, 200, "{v}");
        v["status"].as_str().unwrap().to_string()
    };
    assert_ne!(status().await, "COMPLETED");
    let got = server.dequeue(&version, 3, 0).await;
    assert_eq!(got.len(), 3);
    assert_eq!(server.complete_ok(&got[0], json!(0)).await.0, 200);
    assert_eq!(server.complete_err(&got[1], "failed").await.0, 200);
    assert_ne!(status().await, "COMPLETED", "one run still executing");
    assert_eq!(server.complete_ok(&got[2], json!(2)).await.0, 200);
    assert_eq!(
        status().await,
        "COMPLETED",
        "every run is final (one FAILED)"
    );
    let (_, b) = server.get(&format!("/api/v2/batches/{id}")).await;
    assert!(
        b["processing"]["completedAt"].is_string() || b["processing"].get("completedAt").is_none(),
        "{b}"
    );

    // Canceling the only run also completes a batch.
    let r = server
        .create_batch(json!({"runCount": 1, "taskIdentifiers": ["t"]}))
        .await;
    let id2 = r.json["id"].as_str().unwrap().to_string();
    server.send_items(&id2, &[item(0, "t", json!({}))]).await;
    let runs = batch_runs(&server, &id2).await;
    assert_eq!(server.cancel(&runs[0]).await.0, 200);
    let (_, b) = server.get(&format!("/api/v2/batches/{id2}")).await;
    assert_eq!(b["status"], json!("COMPLETED"), "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_are_per_environment() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let r = server
        .create_batch(json!({"runCount": 1, "taskIdentifiers": ["t"]}))
        .await;
    let id = r.json["id"].as_str().unwrap().to_string();
    let (s, v) = server
        .get_as(PROD_KEY, &format!("/api/v2/batches/{id}"))
        .await;
    assert_error(s, &v, &[404], &[], "dev batch with the prod key");
    let r = server
        .send(
            Req::new("POST", &format!("/api/v3/batches/{id}/items"))
                .key(PROD_KEY)
                .raw_body(
                    "application/x-ndjson",
                    format!("{}\n", item(0, "t", json!({}))),
                ),
        )
        .await;
    assert_error(
        r.status,
        &r.json,
        &[404],
        &[],
        "items for a dev batch with the prod key",
    );
    assert!(server.list_all("").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_item_streams_create_each_index_once() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let r = server
        .create_batch(json!({"runCount": 200, "taskIdentifiers": ["t"]}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_string();
    let items: Vec<Value> = (0..200).map(|i| item(i, "t", json!({}))).collect();
    let futs = (0..4).map(|_| server.send_items(&id, &items));
    let mut accepted = 0;
    let mut deduped = 0;
    for r in futures::future::join_all(futs).await {
        assert_eq!(r.status, 200, "{}", r.text);
        accepted += r.json["itemsAccepted"].as_u64().unwrap();
        deduped += r.json["itemsDeduplicated"].as_u64().unwrap();
    }
    assert_eq!(accepted, 200, "each index accepted once in all");
    assert_eq!(deduped, 600);
    let runs = batch_runs(&server, &id).await;
    assert_eq!(runs.len(), 200);
    assert_eq!(runs.iter().collect::<HashSet<_>>().len(), 200);
    assert_eq!(server.list_all("").await.len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_of_expired_runs_completes() {
    let server = TestServer::start_with_clock().await;
    server.deploy(tasks(&["t"])).await;
    let r = server
        .create_batch(json!({"runCount": 2, "taskIdentifiers": ["t"]}))
        .await;
    let id = r.json["id"].as_str().unwrap().to_string();
    let r = server
        .send_items(
            &id,
            &[
                item(0, "t", json!({"ttl": "5s"})),
                item(1, "t", json!({"ttl": "5s"})),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    server.advance(6_000).await;
    let (_, b) = server.get(&format!("/api/v2/batches/{id}")).await;
    assert_eq!(b["status"], json!("COMPLETED"), "EXPIRED is final: {b}");
}
