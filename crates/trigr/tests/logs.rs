//! Run logs: a worker appends lines under its lease, the management API and
//! `trigr runs logs` read them back in order; bad input is refused and writes nothing.

mod common;

use common::*;
use serde_json::{json, Value};

async fn append(server: &TestServer, run_id: &str, lease: &Value, entries: Value) -> (u16, Value) {
    server
        .post(
            &format!("/api/v1/worker/runs/{run_id}/logs"),
            json!({"lease": lease, "entries": entries}),
        )
        .await
}

async fn lines(server: &TestServer, run_id: &str) -> Vec<Value> {
    let (s, v) = server.get(&format!("/api/v1/runs/{run_id}/logs")).await;
    assert_eq!(s, 200, "{v}");
    v["data"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_round_trip_in_order_and_page() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let run = server.dequeue(&version, 1, 0).await.remove(0);
    let (s, v) = append(
        &server,
        &id,
        &run["lease"],
        json!([
            {"level": "info", "message": "charging", "fields": {"amount": 3}, "time": "2026-01-02T03:04:05.678Z"},
            {"level": "warn", "message": "slow\nsecond line", "fields": null},
            {"level": "debug", "message": "count", "fields": 7},
        ]),
    )
    .await;
    assert_eq!((s, v.clone()), (200, json!({"accepted": 3})), "{v}");
    let levels = ["debug", "log", "info", "warn", "error"];
    let many: Vec<Value> = (0..500)
        .map(|i| json!({"level": levels[i % 5], "message": format!("line {i}")}))
        .collect();
    let (s, v) = append(&server, &id, &run["lease"], Value::Array(many)).await;
    assert_eq!((s, v["accepted"].clone()), (200, json!(500)), "{v}");

    let got = lines(&server, &id).await;
    assert_eq!(got.len(), 100, "a default page");
    assert_eq!(
        got[0],
        json!({"time": "2026-01-02T03:04:05.678Z", "level": "info", "message": "charging", "fields": {"amount": 3}, "attempt": 1})
    );
    assert_eq!(got[1]["message"], json!("slow\nsecond line"));
    assert!(got[1].get("fields").is_none());
    assert_eq!(got[2]["fields"], json!(7), "fields may be any JSON");
    let now = server.now_ms().await;
    assert_eq!(
        parse_ms(&got[1]["time"]),
        now,
        "the server's time when none is given"
    );
    // Every page, in order.
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut q = vec![("page[size]", "150".to_string())];
        if let Some(a) = &after {
            q.push(("page[after]", a.clone()));
        }
        let pairs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (s, v) = server
            .get(&format!("/api/v1/runs/{id}/logs?{}", query(&pairs)))
            .await;
        assert_eq!(s, 200, "{v}");
        all.extend(v["data"].as_array().unwrap().iter().cloned());
        match v["pagination"]["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    assert_eq!(all.len(), 503);
    for (i, line) in all[3..].iter().enumerate() {
        assert_eq!(line["message"], json!(format!("line {i}")));
        assert_eq!(line["level"], json!(levels[i % 5]));
    }

    // The CLI prints time, level, message and fields.
    let out = tokio::process::Command::new(binary())
        .args(["runs", "logs", &id])
        .env("TRIGGER_API_URL", &server.base_url)
        .env("TRIGGER_SECRET_KEY", DEV_KEY)
        .output()
        .await
        .expect("run trigr");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut head = text.lines();
    assert_eq!(
        head.next().unwrap(),
        format!("── attempt 1, started {}", iso(now)),
        "the attempt's lines under its start"
    );
    assert_eq!(
        head.next().unwrap(),
        "2026-01-02T03:04:05.678Z INFO  charging {\"amount\":3}"
    );
    assert!(text.contains(" WARN  slow\nsecond line\n"), "{text}");
    assert!(text.contains(" ERROR line 499\n"), "{text}");
    assert_eq!(text.matches(" DEBUG line ").count(), 100);
    assert!(text.contains(" DEBUG count 7\n"), "{text}");
    let out = tokio::process::Command::new(binary())
        .args(["runs", "logs", "run_nope"])
        .env("TRIGGER_API_URL", &server.base_url)
        .env("TRIGGER_SECRET_KEY", DEV_KEY)
        .output()
        .await
        .expect("run trigr");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Run run_nope was not found."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_logs_are_refused_and_write_nothing() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let run = server.dequeue(&version, 1, 0).await.remove(0);
    let lease = run["lease"].clone();
    let ok = json!({"level": "info", "message": "fine"});
    let too_many: Vec<Value> = (0..501).map(|_| ok.clone()).collect();
    let cases = [
        (
            json!([ok, {"level": "fatal", "message": "x"}]),
            400,
            "entries[1]",
        ),
        (Value::Array(too_many), 400, "500"),
        (
            json!([{"level": "info", "message": "x".repeat(64 * 1024 + 1)}]),
            400,
            "message",
        ),
        (
            json!([{"level": "info", "message": "x", "fields": {"big": "x".repeat(64 * 1024)}}]),
            400,
            "fields",
        ),
        (
            json!([{"level": "info", "message": "x", "time": "yesterday"}]),
            400,
            "time",
        ),
        (json!([{"level": "info"}]), 400, "message"),
        (json!("nope"), 400, "entries"),
    ];
    for (entries, status, needle) in cases {
        let (s, v) = append(&server, &id, &lease, entries.clone()).await;
        assert_error(s, &v, &[status], &[needle], &format!("{entries}"));
    }
    let (s, v) = append(&server, &id, &json!("lease_wrong"), json!([ok])).await;
    assert_eq!((s, v["code"].clone()), (409, json!("lease_lost")), "{v}");
    let (s, v) = append(&server, "run_nope", &lease, json!([ok])).await;
    assert_error(s, &v, &[404], &["run_nope"], "unknown run");
    assert!(lines(&server, &id).await.is_empty(), "nothing was written");

    // A run that is no longer leased takes no logs; reading still works.
    server.complete_ok(&run, json!(1)).await;
    let (s, v) = append(&server, &id, &lease, json!([ok])).await;
    assert_eq!((s, v["code"].clone()), (409, json!("lease_lost")), "{v}");
    let (s, v) = server.get("/api/v1/runs/run_nope/logs").await;
    assert_error(s, &v, &[404], &["run_nope"], "logs of an unknown run");
    let (s, v) = server
        .get(&format!("/api/v1/runs/{id}/logs?page%5Bsize%5D=0"))
        .await;
    assert_error(s, &v, &[400], &["page[size]"], "bad page size");
    let (s, v) = server
        .get(&format!("/api/v1/runs/{id}/logs?page%5Bafter%5D=abc"))
        .await;
    assert_error(s, &v, &[400], &["page[after]"], "bad cursor");
    let (s, v) = server
        .call_as(STAGING_KEY, "GET", &format!("/api/v1/runs/{id}/logs"), None)
        .await;
    assert_error(s, &v, &[404], &[], "another environment's run");
}
