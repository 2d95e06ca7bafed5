//! Offloaded payloads, the way the official SDK sends payloads of 128 KiB or more: ask for a
//! presigned URL, PUT the packet there, trigger with `payloadType: application/store`.

mod common;

use common::TestServer;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offloaded_payload_round_trip() {
    let server = TestServer::start().await;
    server.deploy(json!([{"id": "big"}])).await;
    let path = "trigger/packet_abcdefghijkmnopqrstuv/payload.json";
    let encoded = path.replace('/', "%2F");
    let (s, v) = server
        .call("PUT", &format!("/api/v2/packets/{encoded}"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["storagePath"], json!(path));
    let url = v["presignedUrl"]
        .as_str()
        .expect("presignedUrl")
        .to_string();

    let big = "x".repeat(200 * 1024);
    let packet = json!({"json": {"blob": big}}).to_string();
    let resp = server
        .http
        .put(&url)
        .header("content-type", "application/super+json")
        .body(packet.clone())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "upload: {}", resp.status());

    let (s, v) = server
        .post(
            "/api/v1/tasks/big/trigger",
            json!({"payload": path, "options": {"payloadType": "application/store", "payloadSize": packet.len()}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let run = server.run(v["id"].as_str().unwrap()).await;
    assert_eq!(
        run["payload"]["blob"].as_str().map(str::len),
        Some(200 * 1024)
    );

    // The packet can be read back through a presigned GET URL with its type.
    let (s, v) = server.get(&format!("/api/v1/packets/{encoded}")).await;
    assert_eq!(s, 200, "{v}");
    let resp = server
        .http
        .get(v["presignedUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/super+json");
    assert_eq!(resp.text().await.unwrap(), packet);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packet_urls_and_references_are_checked() {
    let server = TestServer::start().await;
    server.deploy(json!([{"id": "big"}])).await;
    // A forged or tampered URL token is refused.
    let resp = server
        .http
        .put(server.url("/api/v1/blobs/not.a.token"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    // A trigger naming a packet that was never uploaded is 422, and creates nothing.
    let (s, v) = server
        .post(
            "/api/v1/tasks/big/trigger",
            json!({"payload": "trigger/packet_missing/payload.json", "options": {"payloadType": "application/store"}}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(v["error"].as_str().unwrap().contains("packet"), "{v}");
    let (_, list) = server.get("/api/v1/runs").await;
    assert_eq!(list["data"], Value::Array(vec![]));
    // `..` is not a path.
    let (s, _) = server.call("PUT", "/api/v2/packets/a%2F..%2Fb", None).await;
    assert_eq!(s, 400);
}
