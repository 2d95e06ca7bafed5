//! Trigger options and runs list filters of the wire reference that trigr does not implement
//! are refused with `400 {"error": "<name> is not supported by trigr"}` and nothing is
//! written; the ones the official SDK sends on its own are accepted.

mod common;

use common::{enc, query, tasks, TestServer};
use serde_json::{json, Value};

/// Each refused trigger option with a value a caller could send.
fn refused_options() -> Vec<(&'static str, Value)> {
    vec![
        ("concurrency", json!(["openai"])),
        ("concurrency", json!(["openai", "db"])),
        ("concurrency", json!("openai")),
        ("parentBatch", json!("batch_x")),
        ("parentAttempt", json!("attempt_x")),
        ("dependentAttempt", json!("attempt_x")),
        ("dependentBatch", json!("batch_x")),
        ("bulkActionId", json!("bulk_x")),
        ("gates", json!([{"queue": "q"}])),
    ]
}

fn message(name: &str) -> Value {
    json!(format!("{name} is not supported by trigr"))
}

async fn run_count(server: &TestServer) -> usize {
    server.list_ids("").await.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trigger_refuses_unsupported_options_and_creates_no_run() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    for (name, value) in refused_options() {
        let mut options = json!({"payloadType": "application/json", "tags": ["x"]});
        options[name] = value.clone();
        let (s, v) = server
            .post(
                "/api/v1/tasks/t/trigger",
                json!({"payload": "{}", "options": options}),
            )
            .await;
        assert_eq!(s, 400, "options.{name} = {value}: {v}");
        assert_eq!(
            v,
            json!({"error": message(&format!("options.{name}"))}),
            "options.{name} = {value}"
        );
    }
    // Refused before the task is looked up: an unknown task gets the same answer.
    let (s, v) = server
        .post(
            "/api/v1/tasks/nope/trigger",
            json!({"options": {"concurrency": ["openai"]}}),
        )
        .await;
    assert_eq!(
        (s, &v["error"]),
        (400, &message("options.concurrency")),
        "{v}"
    );
    assert_eq!(run_count(&server).await, 0, "no run was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_the_official_sdk_sends_on_its_own_is_accepted() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    // `null` is the same as absent, and an empty `concurrency` list names no limits.
    let accepted = [
        json!({"region": null, "debounce": null, "concurrency": null}),
        json!({"concurrency": []}),
        json!({"payloadSize": 91}),
        json!({"externalDeploymentId": "3f1c2a9"}),
        json!({"resumeParentOnCompletion": false}),
        json!({"parentBatch": null, "bulkActionId": null, "gates": null}),
    ];
    for options in &accepted {
        server.trigger("t", json!({}), options.clone()).await;
    }
    assert_eq!(run_count(&server).await, accepted.len());
    // payloadSize is a whole number of bytes, as upstream checks it.
    let (s, v) = server
        .post(
            "/api/v1/tasks/t/trigger",
            json!({"payload": "{}", "options": {"payloadSize": -1}}),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(run_count(&server).await, accepted.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_items_refuse_unsupported_options_and_create_no_run() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let (s, b) = server.create_batch(json!({"runCount": 2})).await.pair();
    assert_eq!(s, 202, "{b}");
    let batch_id = b["id"].as_str().unwrap().to_string();
    let good = json!({"index": 0, "task": "t", "payload": "{}", "options": {"payloadType": "application/json", "payloadSize": 2}});
    for (name, value) in refused_options() {
        let mut bad = json!({"index": 1, "task": "t", "payload": "{}", "options": {"payloadType": "application/json"}});
        bad["options"][name] = value.clone();
        let (s, v) = server
            .send_items(&batch_id, &[good.clone(), bad])
            .await
            .pair();
        assert_eq!(s, 400, "options.{name} = {value}: {v}");
        assert_eq!(
            v,
            json!({"error": message(&format!("options.{name}"))}),
            "options.{name} = {value}"
        );
    }
    assert_eq!(run_count(&server).await, 0, "no run was created");
    let (s, v) = server.get(&format!("/api/v2/batches/{batch_id}")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["runs"], json!([]), "no item was accepted: {v}");
    assert_eq!(v["status"], json!("PENDING"), "{v}");

    // The batch is still usable.
    let second = json!({"index": 1, "task": "t", "payload": "{}", "options": {"concurrency": [], "region": null}});
    let (s, v) = server.send_items(&batch_id, &[good, second]).await.pair();
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["itemsAccepted"], json!(2), "{v}");
    assert_eq!(v["sealed"], json!(true), "{v}");
    assert_eq!(run_count(&server).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_list_refuses_unsupported_filters() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    for (name, value) in [("filter[bulkAction]", "bulk_x"), ("filter[error]", "boom")] {
        // Alone, and with filters that are implemented.
        for q in [
            query(&[(name, value)]),
            query(&[("filter[taskIdentifier]", "t"), (name, value)]),
        ] {
            let (s, v) = server.get(&format!("/api/v1/runs?{q}")).await;
            assert_eq!(s, 400, "?{q}: {v}");
            assert_eq!(v, json!({"error": message(name)}), "?{q}");
        }
        // An empty value is the same as none.
        let (s, v) = server.get(&format!("/api/v1/runs?{}=", enc(name))).await;
        assert_eq!(s, 200, "{name}= : {v}");
        assert_eq!(v["data"][0]["id"], json!(id), "{v}");
    }
}
