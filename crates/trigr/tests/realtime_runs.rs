//! Run subscriptions in Electric's shape long-poll protocol (reference §5.2–5.4): snapshot
//! and live answers, their headers, row encoding and internal status names, and bad input.

mod common;

use common::*;
use serde_json::{json, Value};

async fn shape(server: &TestServer, path: &str, legacy: bool) -> Resp {
    let mut req = Req::new("GET", path);
    if !legacy {
        req = req.header("x-trigger-api-version", "2025-07-16");
    }
    let client = reqwest::Client::new();
    send_to(&client, &server.base_url, req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_to_run_snapshot_then_live_changes() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = server
        .trigger("t", json!({"a": 1}), json!({"tags": ["x"]}))
        .await;

    let r = shape(
        &server,
        &format!("/realtime/v1/runs/{id}?log=full&offset=-1"),
        false,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("electric-handle"), Some(format!("run-{id}")));
    assert_eq!(r.header("electric-schema").as_deref(), Some("{}"));
    assert!(r.header("electric-up-to-date").is_some());
    let offset = r.header("electric-offset").expect("an offset");
    let body = r.json.as_array().unwrap().clone();
    assert_eq!(body.len(), 2, "{body:?}");
    assert_eq!(body[1], json!({"headers": {"control": "up-to-date"}}));
    assert_eq!(body[0]["headers"]["operation"], json!("insert"));
    let row = &body[0]["value"];
    assert_eq!(row["friendlyId"], json!(id));
    assert_eq!(
        row["status"],
        json!("PENDING"),
        "the internal name of QUEUED"
    );
    assert_eq!(row["payload"], json!("{\"a\":1}"));
    assert_eq!(row["runTags"], json!(["x"]));
    assert_eq!(row["completedAt"], Value::Null);
    let created = row["createdAt"].as_str().unwrap();
    assert!(
        !created.ends_with('Z') && created.contains('T'),
        "{created}"
    );

    // A live request holds until the run changes.
    let live_path = format!(
        "/realtime/v1/runs/{id}?cursor=&handle=run-{id}&live=true&log=full&offset={offset}"
    );
    let live = {
        let base = server.base_url.clone();
        let path = live_path.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let req = Req::new("GET", &path).header("x-trigger-api-version", "2025-07-16");
            send_to(&client, &base, req).await
        })
    };
    let run = server.dequeue(&version, 1, 5000).await.remove(0);
    let r = live.await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.header("electric-cursor").is_some());
    let next = r.header("electric-offset").unwrap();
    assert_ne!(next, offset);
    let body = r.json.as_array().unwrap().clone();
    assert_eq!(body[0]["headers"]["operation"], json!("update"));
    assert_eq!(body[0]["value"]["status"], json!("DEQUEUED"));
    assert_eq!(
        body.last().unwrap()["headers"]["control"],
        json!("up-to-date")
    );
    // Legacy callers see DEQUEUED as EXECUTING; skipColumns drops all but the reserved ones.
    let r = shape(
        &server,
        &format!("/realtime/v1/runs/{id}?offset=-1&skipColumns=payload,id"),
        true,
    )
    .await;
    let row = &r.json[0]["value"];
    assert_eq!(row["status"], json!("EXECUTING"));
    assert!(
        row.get("payload").is_none() && row.get("id").is_some(),
        "{row}"
    );

    server.complete_ok(&run, json!({"done": true})).await;
    let live_path =
        format!("/realtime/v1/runs/{id}?cursor=1&handle=run-{id}&live=true&log=full&offset={next}");
    let r = shape(&server, &live_path, false).await;
    let row = &r.json[0]["value"];
    assert_eq!(row["status"], json!("COMPLETED_SUCCESSFULLY"));
    assert_eq!(row["output"], json!("{\"done\":true}"));
    assert!(row["completedAt"].is_string(), "{row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_and_batch_feeds_and_bad_input() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let a = server
        .trigger("t", json!({}), json!({"tags": ["t1", "t2"]}))
        .await;
    server
        .trigger("t", json!({}), json!({"tags": ["t1"]}))
        .await;
    let r = shape(
        &server,
        "/realtime/v1/runs?tags=t1,t2&offset=-1&log=full",
        false,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ids: Vec<Value> = r.json.as_array().unwrap()[..1]
        .iter()
        .map(|m| m["value"]["friendlyId"].clone())
        .collect();
    assert_eq!(ids, vec![json!(a)], "runs with all the tags: {}", r.text);
    assert_eq!(r.json.as_array().unwrap().len(), 2);
    assert!(r.header("electric-handle").unwrap().starts_with("tags-"));

    let (s, v) = server
        .call("POST", "/api/v3/batches", Some(json!({"runCount": 1})))
        .await;
    assert!(s == 200 || s == 201 || s == 202, "{v}");
    let batch_id = v["id"].as_str().unwrap().to_string();
    let r = server
        .send_items(
            &batch_id,
            &[json!({"index": 0, "task": "t", "payload": "{}", "options": {"payloadType": "application/json"}})],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = shape(
        &server,
        &format!("/realtime/v1/batches/{batch_id}?offset=-1"),
        false,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json.as_array().unwrap().len(), 2, "{}", r.text);

    for (path, status, needle) in [
        (
            "/realtime/v1/runs/run_missing?offset=-1".to_string(),
            404,
            "Not found",
        ),
        (
            format!("/realtime/v1/runs/{a}?offset=abc&live=true"),
            400,
            "offset",
        ),
        ("/realtime/v1/runs?offset=-1".to_string(), 400, "tags"),
        (
            "/realtime/v1/runs?tags=a&createdAt=soon".to_string(),
            400,
            "createdAt",
        ),
        (
            "/realtime/v1/batches/batch_missing?offset=-1".to_string(),
            404,
            "Not found",
        ),
    ] {
        let r = shape(&server, &path, false).await;
        assert_eq!(r.status, status, "{path}: {}", r.text);
        let message = r.json["error"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{path}: {message}");
    }
}
