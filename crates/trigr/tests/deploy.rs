//! What deployments rely on: `GET /healthz` answers while the server serves (liveness),
//! `GET /readyz` (the container image's and load balancers' health check) only while its store
//! answers too, and the URLs the server hands out follow the scheme a TLS-terminating proxy in
//! front reports.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_answer_ok_without_a_key() {
    let server = TestServer::start().await;
    for path in ["/healthz", "/readyz"] {
        let r = server.send(Req::new("GET", path).no_key()).await;
        assert_eq!((r.status, r.json), (200, json!({"status": "ok"})), "{path}");
    }
}

/// Runs `sql` on its own connection, from a plain thread, and keeps the connection (and its
/// open transaction) until `release` is sent.
fn hold(url: String, sql: &'static str) -> std::sync::mpsc::Sender<()> {
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let (ready, started) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut db = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        db.batch_execute(sql).expect("hold");
        ready.send(()).expect("ready");
        let _ = wait.recv();
        db.batch_execute("ROLLBACK").expect("release");
    });
    started
        .recv_timeout(Duration::from_secs(30))
        .expect("the lock was taken");
    release
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_while_the_store_does_not_answer() {
    // With `TRIGR_TEST_BACKEND=postgres` only: another session holds the environments table.
    let Some(base) = postgres_url() else { return };
    let server = TestServer::start().await;
    let schema = std::fs::read_to_string(server.data_dir.join("postgres-schema")).unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{}", schema.trim());
    let release = hold(
        url,
        "BEGIN; LOCK TABLE environments IN ACCESS EXCLUSIVE MODE",
    );
    let r = server.send(Req::new("GET", "/readyz").no_key()).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.json, json!({"error": "The store does not answer"}));
    // The process itself is fine.
    let r = server.send(Req::new("GET", "/healthz").no_key()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    release.send(()).unwrap();
    let r = server.send(Req::new("GET", "/readyz").no_key()).await;
    assert_eq!((r.status, r.json), (200, json!({"status": "ok"})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_follow_the_scheme_the_proxy_reports() {
    let server = TestServer::start().await;
    let presign = |proto: Option<&str>| {
        let mut r = Req::new("PUT", "/api/v2/packets/a%2Fpayload.json");
        if let Some(p) = proto {
            r = r.header("x-forwarded-proto", p);
        }
        r
    };
    let host = server.base_url.trim_start_matches("http://").to_string();
    let r = server.send(presign(None)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let url = r.json["presignedUrl"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("http://{host}/api/v1/blobs/")),
        "{url}"
    );
    let r = server.send(presign(Some("https"))).await;
    let url = r.json["presignedUrl"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("https://{host}/api/v1/blobs/")),
        "{url}"
    );

    let r = server
        .send(
            Req::new("POST", "/api/v1/waitpoints/tokens")
                .json(&json!({}))
                .header("forwarded", "for=10.0.0.1;proto=https"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let url = r.json["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("https://{host}/api/v1/waitpoints/tokens/")),
        "{url}"
    );
}
