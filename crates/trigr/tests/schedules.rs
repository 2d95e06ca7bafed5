//! Cron schedules: the schedules API (reference §4.1), declarative schedules following the
//! current deployment, ticks across daylight saving changes, catch-up after downtime, and one
//! run per tick with two servers on one store. Time moves only through the test clock.

mod common;

use common::*;
use serde_json::{json, Value};

fn ms(iso: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(iso)
        .unwrap()
        .timestamp_millis()
}

async fn set_clock(server: &TestServer, at: &str) -> Value {
    let (s, v) = server
        .post("/api/v1/test/clock", json!({"setMs": ms(at)}))
        .await;
    assert_eq!(s, 200, "set clock: {v}");
    v
}

async fn create(server: &TestServer, body: Value) -> Value {
    let (s, v) = server.post("/api/v1/schedules", body.clone()).await;
    assert_eq!(s, 200, "create schedule {body}: {v}");
    v
}

/// The payloads of every run of `task`, oldest tick first.
async fn payloads(server: &TestServer, task: &str) -> Vec<Value> {
    let ids = server
        .list_ids(&query(&[("filter[taskIdentifier]", task)]))
        .await;
    let mut out = Vec::new();
    for id in ids {
        out.push(server.run(&id).await["payload"].clone());
    }
    out.sort_by_key(|p| parse_ms(&p["timestamp"]));
    out
}

fn stamps(payloads: &[Value]) -> Vec<i64> {
    payloads.iter().map(|p| parse_ms(&p["timestamp"])).collect()
}

fn assert_error(status: u16, body: &Value, want: u16, words: &[&str], what: &str) {
    assert_eq!(status, want, "{what}: {body}");
    let msg = body["error"].as_str().unwrap_or_default().to_lowercase();
    for w in words {
        assert!(
            msg.contains(&w.to_lowercase()),
            "{what}: error {msg:?} should name {w:?}"
        );
    }
}

#[tokio::test]
async fn crud_upsert_and_activation() {
    let server = TestServer::start_with_clock().await;
    set_clock(&server, "2026-01-05T07:00:00Z").await;
    server.deploy(tasks(&["report", "other"])).await;

    let a = create(
        &server,
        json!({"task": "report", "cron": "0 9 * * 1-5", "deduplicationKey": "daily-report",
               "externalId": "user_1", "timezone": "Europe/Paris"}),
    )
    .await;
    let id = a["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("sched_"), "{a}");
    assert_eq!(a["type"], "IMPERATIVE");
    assert_eq!(a["task"], "report");
    assert_eq!(a["active"], true);
    assert_eq!(a["deduplicationKey"], "daily-report");
    assert_eq!(a["externalId"], "user_1");
    assert_eq!(a["timezone"], "Europe/Paris");
    assert_eq!(a["generator"]["type"], "CRON");
    assert_eq!(a["generator"]["expression"], "0 9 * * 1-5");
    assert!(
        a["generator"]["description"]
            .as_str()
            .unwrap()
            .contains("09:00"),
        "{a}"
    );
    // 09:00 in Paris in winter is 08:00 UTC.
    assert_eq!(parse_ms(&a["nextRun"]), ms("2026-01-05T08:00:00Z"));
    assert_eq!(a["environments"][0]["type"], "DEVELOPMENT");
    assert!(a.get("window").is_none(), "window is omitted, never null");

    // The same deduplication key updates the schedule.
    let b = create(
        &server,
        json!({"task": "report", "cron": "0 10 * * *", "deduplicationKey": "daily-report"}),
    )
    .await;
    assert_eq!(b["id"], a["id"]);
    assert_eq!(b["generator"]["expression"], "0 10 * * *");
    assert_eq!(b["timezone"], "UTC");
    assert_eq!(b["externalId"], Value::Null);
    assert_eq!(parse_ms(&b["nextRun"]), ms("2026-01-05T10:00:00Z"));

    // Found by id and by deduplication key.
    for key in [id.as_str(), "daily-report"] {
        let (s, v) = server.get(&format!("/api/v1/schedules/{key}")).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["id"], a["id"]);
    }

    // Lists are ordered by creation time.
    server.advance(1_000).await;
    let c = create(
        &server,
        json!({"task": "other", "cron": "*/15 * * * *", "deduplicationKey": "other"}),
    )
    .await;
    let (s, list) = server.get("/api/v1/schedules").await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert_eq!(list["pagination"]["count"], 2);
    let (_, page2) = server.get("/api/v1/schedules?page=2&perPage=1").await;
    assert_eq!(page2["data"][0]["id"], c["id"]);
    assert_eq!(page2["pagination"]["totalPages"], 2);
    assert_eq!(page2["pagination"]["currentPage"], 2);
    // Another environment sees none of them.
    let (s, v) = server
        .call_as(STAGING_KEY, "GET", "/api/v1/schedules", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["data"], json!([]));
    let (s, _) = server
        .call_as(STAGING_KEY, "GET", &format!("/api/v1/schedules/{id}"), None)
        .await;
    assert_eq!(s, 404);

    let (s, off) = server
        .post(&format!("/api/v1/schedules/{id}/deactivate"), json!({}))
        .await;
    assert_eq!(s, 200, "{off}");
    assert_eq!(off["active"], false);
    assert_eq!(off["nextRun"], Value::Null);
    // An inactive schedule does not tick.
    server.advance(4 * 3_600_000).await;
    assert!(payloads(&server, "report").await.is_empty());
    let (s, on) = server
        .post(&format!("/api/v1/schedules/{id}/activate"), json!({}))
        .await;
    assert_eq!(s, 200, "{on}");
    assert_eq!(on["active"], true);
    // Ticks missed while inactive are not fired: the next one is tomorrow's.
    assert_eq!(parse_ms(&on["nextRun"]), ms("2026-01-06T10:00:00Z"));

    let (s, up) = server
        .call(
            "PUT",
            "/api/v1/schedules/daily-report",
            Some(json!({"task": "other", "cron": "0 12 * * *", "timezone": "Asia/Tokyo", "externalId": "x"})),
        )
        .await;
    assert_eq!(s, 200, "{up}");
    assert_eq!(up["task"], "other");
    assert_eq!(up["timezone"], "Asia/Tokyo");
    assert_eq!(up["externalId"], "x");
    assert_eq!(up["deduplicationKey"], "daily-report");
    assert_eq!(parse_ms(&up["nextRun"]), ms("2026-01-06T03:00:00Z"));

    let (s, del) = server
        .call("DELETE", &format!("/api/v1/schedules/{id}"), None)
        .await;
    assert_eq!(s, 200, "{del}");
    assert_eq!(del, json!({"id": id}));
    for (method, path) in [
        ("GET", format!("/api/v1/schedules/{id}")),
        ("DELETE", format!("/api/v1/schedules/{id}")),
        ("POST", format!("/api/v1/schedules/{id}/activate")),
        ("POST", format!("/api/v1/schedules/{id}/deactivate")),
        ("GET", "/api/v1/schedules/daily-report".to_string()),
    ] {
        let (s, v) = server.call(method, &path, None).await;
        assert_error(s, &v, 404, &["schedule", "not found"], &path);
    }
    let (s, v) = server
        .call(
            "PUT",
            &format!("/api/v1/schedules/{id}"),
            Some(json!({"task": "other", "cron": "0 12 * * *"})),
        )
        .await;
    assert_error(s, &v, 404, &["not found"], "PUT deleted");
}

#[tokio::test]
async fn timezones_are_public() {
    let server = TestServer::start().await;
    let resp = reqwest::get(server.url("/api/v1/timezones")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.json().await.unwrap();
    let zones: Vec<&str> = v["timezones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z.as_str().unwrap())
        .collect();
    for z in ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"] {
        assert!(zones.contains(&z), "{z} listed");
    }
    let v: Value = reqwest::get(server.url("/api/v1/timezones?excludeUtc=true"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let zones = v["timezones"].as_array().unwrap();
    assert!(!zones.contains(&json!("UTC")));
    assert!(zones.contains(&json!("Europe/Berlin")));
}

#[tokio::test]
async fn bad_schedules_are_refused_by_name() {
    let server = TestServer::start_with_clock().await;
    server.deploy(tasks(&["report"])).await;
    let base = json!({"task": "report", "cron": "0 9 * * *", "deduplicationKey": "k"});
    let cases: Vec<(Value, u16, Vec<&str>)> = vec![
        (
            json!({"cron": "0 9 * * * *"}),
            422,
            vec!["cron", "0 9 * * * *"],
        ),
        (json!({"cron": "61 * * * *"}), 422, vec!["61 * * * *"]),
        (json!({"cron": "every day"}), 422, vec!["every day"]),
        (json!({"cron": ""}), 422, vec!["empty"]),
        (
            json!({"timezone": "Mars/Olympus"}),
            422,
            vec!["Mars/Olympus"],
        ),
        (
            json!({"timezone": "europe/paris"}),
            422,
            vec!["europe/paris"],
        ),
        (json!({"task": "nope"}), 422, vec!["nope", "not declared"]),
        (
            json!({"window": "0m"}),
            422,
            vec!["window", "'0m'", "at least"],
        ),
        (
            json!({"window": "25h"}),
            422,
            vec!["window", "'25h'", "24 hours"],
        ),
        (json!({"window": "1441m"}), 422, vec!["window", "'1441m'"]),
        (
            json!({"window": "101%"}),
            422,
            vec!["window", "'101%'", "100%"],
        ),
        (json!({"window": "0%"}), 422, vec!["window", "'0%'"]),
        (json!({"window": "abc"}), 422, vec!["window", "'abc'"]),
        (json!({"window": "-5m"}), 422, vec!["window", "'-5m'"]),
        (json!({"window": "1.5h"}), 422, vec!["window", "'1.5h'"]),
        (json!({"window": "30s"}), 422, vec!["window", "'30s'"]),
        (json!({"window": ""}), 422, vec!["window", "empty"]),
        (json!({"window": 30}), 422, vec!["window", "string"]),
        (json!({"window": true}), 422, vec!["window", "string"]),
        (
            json!({"window": {"minutes": 30}}),
            422,
            vec!["window", "string"],
        ),
        (json!({"window": ["30m"]}), 422, vec!["window", "string"]),
        (
            json!({"deduplicationKey": ""}),
            422,
            vec!["deduplicationKey"],
        ),
        (
            json!({"deduplicationKey": null}),
            400,
            vec!["deduplicationKey"],
        ),
        (json!({"cron": null}), 400, vec!["cron"]),
        (json!({"task": null}), 400, vec!["task"]),
    ];
    for (change, status, words) in cases {
        let body = merge(base.clone(), change.clone());
        let body = strip_nulls(body);
        let (s, v) = server.post("/api/v1/schedules", body.clone()).await;
        assert_error(s, &v, status, &words, &format!("create {change}"));
    }
    let (_, list) = server.get("/api/v1/schedules").await;
    assert_eq!(list["data"], json!([]), "nothing was half-written");

    // Same checks on update.
    create(&server, base.clone()).await;
    let (s, v) = server
        .call(
            "PUT",
            "/api/v1/schedules/k",
            Some(json!({"task": "report", "cron": "0 25 * * *"})),
        )
        .await;
    assert_error(s, &v, 422, &["0 25 * * *"], "update with a bad cron");
    let (s, v) = server
        .call(
            "PUT",
            "/api/v1/schedules/k",
            Some(json!({"task": "report", "cron": "0 9 * * *", "timezone": "Nowhere"})),
        )
        .await;
    assert_error(s, &v, 422, &["Nowhere"], "update with a bad zone");
    for bad in [json!("25h"), json!("0%"), json!(15)] {
        let (s, v) = server
            .call(
                "PUT",
                "/api/v1/schedules/k",
                Some(json!({"task": "report", "cron": "0 8 * * *", "window": bad})),
            )
            .await;
        assert_error(
            s,
            &v,
            422,
            &["window"],
            &format!("update with window {bad}"),
        );
    }
    let (_, got) = server.get("/api/v1/schedules/k").await;
    assert_eq!(got["generator"]["expression"], "0 9 * * *", "unchanged");
    assert!(got.get("window").is_none(), "unchanged: {got}");

    // A registration with a bad schedule names the task.
    let (s, v) = server
        .post(
            "/api/v1/worker/deployments",
            json!({"tasks": [{"id": "nightly", "schedule": {"cron": "0 3 * *"}}], "promote": true}),
        )
        .await;
    assert_error(s, &v, 422, &["nightly", "0 3 * *"], "register a bad cron");
    let (s, v) = server
        .post(
            "/api/v1/worker/deployments",
            json!({"tasks": [{"id": "nightly", "schedule": {"cron": "0 3 * * *", "timezone": "Moon/Base"}}]}),
        )
        .await;
    assert_error(s, &v, 422, &["nightly", "Moon/Base"], "register a bad zone");

    // A declarative schedule is changed through its task, not the API.
    server
        .deploy(json!([{"id": "report"}, {"id": "nightly", "schedule": {"cron": "0 3 * * *"}}]))
        .await;
    let (_, list) = server.get("/api/v1/schedules").await;
    let declared = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "DECLARATIVE")
        .unwrap()
        .clone();
    let did = declared["id"].as_str().unwrap();
    let (s, v) = server
        .call(
            "PUT",
            &format!("/api/v1/schedules/{did}"),
            Some(json!({"task": "nightly", "cron": "0 4 * * *"})),
        )
        .await;
    assert_error(
        s,
        &v,
        422,
        &["declarative"],
        "update a declarative schedule",
    );
    let (s, v) = server
        .call("DELETE", &format!("/api/v1/schedules/{did}"), None)
        .await;
    assert_error(
        s,
        &v,
        422,
        &["declarative"],
        "delete a declarative schedule",
    );
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}

/// Walks the clock hour by hour from `from` for `hours`, with a daily schedule of `cron` in
/// `zone`, and checks the ticks fired.
async fn dst_case(zone: &str, cron: &str, from: &str, hours: u64, expected: &[&str]) {
    let server = TestServer::start_with_clock().await;
    set_clock(&server, from).await;
    server.deploy(tasks(&["tick"])).await;
    let sched = create(
        &server,
        json!({"task": "tick", "cron": cron, "timezone": zone, "deduplicationKey": "k", "externalId": "e1"}),
    )
    .await;
    for _ in 0..hours {
        server.advance(3_600_000).await;
    }
    let got = payloads(&server, "tick").await;
    let want: Vec<i64> = expected.iter().map(|t| ms(t)).collect();
    assert_eq!(stamps(&got), want, "{zone} {cron}: {got:#?}");
    for (i, p) in got.iter().enumerate() {
        assert_eq!(p["type"], "IMPERATIVE");
        assert_eq!(p["timezone"], zone);
        assert_eq!(p["scheduleId"], sched["id"]);
        assert_eq!(p["externalId"], "e1");
        let upcoming = p["upcoming"].as_array().unwrap();
        assert_eq!(upcoming.len(), 5, "{p}");
        if i + 1 < want.len() {
            assert_eq!(parse_ms(&upcoming[0]), want[i + 1], "{p}");
        }
        match i {
            0 => assert!(p.get("lastTimestamp").is_none(), "{p}"),
            _ => assert_eq!(parse_ms(&p["lastTimestamp"]), want[i - 1], "{p}"),
        }
    }
}

#[tokio::test]
async fn berlin_spring_forward_fires_after_the_gap() {
    // 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist and fires at 03:00.
    dst_case(
        "Europe/Berlin",
        "30 2 * * *",
        "2026-03-27T12:00:00Z",
        72,
        &[
            "2026-03-28T01:30:00Z",
            "2026-03-29T01:00:00Z",
            "2026-03-30T00:30:00Z",
        ],
    )
    .await;
}

#[tokio::test]
async fn berlin_fall_back_fires_once() {
    // 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice and fires once.
    dst_case(
        "Europe/Berlin",
        "30 2 * * *",
        "2026-10-23T12:00:00Z",
        72,
        &[
            "2026-10-24T00:30:00Z",
            "2026-10-25T00:30:00Z",
            "2026-10-26T01:30:00Z",
        ],
    )
    .await;
}

#[tokio::test]
async fn new_york_spring_forward_fires_after_the_gap() {
    // 2026-03-08: 02:00 EST jumps to 03:00 EDT.
    dst_case(
        "America/New_York",
        "30 2 * * *",
        "2026-03-06T12:00:00Z",
        72,
        &[
            "2026-03-07T07:30:00Z",
            "2026-03-08T07:00:00Z",
            "2026-03-09T06:30:00Z",
        ],
    )
    .await;
}

#[tokio::test]
async fn new_york_fall_back_fires_once() {
    // 2026-11-01: 02:00 EDT goes back to 01:00 EST; 01:30 happens twice and fires once.
    dst_case(
        "America/New_York",
        "30 1 * * *",
        "2026-10-31T12:00:00Z",
        72,
        &[
            "2026-11-01T05:30:00Z",
            "2026-11-02T06:30:00Z",
            "2026-11-03T06:30:00Z",
        ],
    )
    .await;
}

#[tokio::test]
async fn catch_up_after_a_long_jump_fires_one_run() {
    let server = TestServer::start_with_clock().await;
    set_clock(&server, "2026-01-01T00:30:00Z").await;
    server.deploy(tasks(&["hourly"])).await;
    let sched = create(
        &server,
        json!({"task": "hourly", "cron": "0 * * * *", "deduplicationKey": "h"}),
    )
    .await;
    let id = sched["id"].as_str().unwrap().to_string();
    let fired = server.advance(3_600_000).await;
    assert_eq!(fired["fired"]["schedules"], 1, "{fired}");
    // Ten hours of downtime: ten ticks missed, one run, for the most recent.
    let fired = server.advance(10 * 3_600_000).await;
    assert_eq!(fired["fired"]["schedules"], 1, "{fired}");
    let got = payloads(&server, "hourly").await;
    assert_eq!(
        stamps(&got),
        vec![ms("2026-01-01T01:00:00Z"), ms("2026-01-01T11:00:00Z")]
    );
    assert_eq!(
        parse_ms(&got[1]["lastTimestamp"]),
        ms("2026-01-01T01:00:00Z")
    );
    assert_eq!(parse_ms(&got[1]["upcoming"][0]), ms("2026-01-01T12:00:00Z"));
    let (_, s) = server.get(&format!("/api/v1/schedules/{id}")).await;
    assert_eq!(parse_ms(&s["nextRun"]), ms("2026-01-01T12:00:00Z"));
    // Then on as usual.
    server.advance(3_600_000).await;
    let got = payloads(&server, "hourly").await;
    assert_eq!(got.len(), 3);
    assert_eq!(parse_ms(&got[2]["timestamp"]), ms("2026-01-01T12:00:00Z"));
    assert_eq!(
        parse_ms(&got[2]["lastTimestamp"]),
        ms("2026-01-01T11:00:00Z")
    );
    // Moving time by nothing fires nothing.
    let fired = server.advance(0).await;
    assert_eq!(fired["fired"]["schedules"], 0);
}

#[tokio::test]
async fn runs_are_listed_by_the_schedule_that_made_them() {
    let server = TestServer::start_with_clock().await;
    set_clock(&server, "2026-01-01T00:30:00Z").await;
    server.deploy(tasks(&["hourly"])).await;
    let a = create(
        &server,
        json!({"task": "hourly", "cron": "0 * * * *", "deduplicationKey": "a"}),
    )
    .await;
    let b = create(
        &server,
        json!({"task": "hourly", "cron": "30 * * * *", "deduplicationKey": "b"}),
    )
    .await;
    let manual = server.trigger("hourly", json!({}), json!({})).await;
    server.advance(3_600_000).await;
    server.advance(3_600_000).await;
    let of = |id: &Value| query(&[("filter[schedule]", id.as_str().unwrap())]);
    let (from_a, from_b) = (
        server.list_ids(&of(&a["id"])).await,
        server.list_ids(&of(&b["id"])).await,
    );
    // a fired at 01:00 and 02:00, b at 01:30 and 02:30 (the clock is at 02:30).
    assert_eq!(from_a.len(), 2, "{from_a:?}");
    assert_eq!(from_b.len(), 2, "{from_b:?}");
    assert!(from_a
        .iter()
        .all(|id| !from_b.contains(id) && *id != manual));
    // The whole id, not a prefix; an unknown schedule matches nothing.
    let prefix = &a["id"].as_str().unwrap()[..8];
    assert!(server
        .list_ids(&query(&[("filter[schedule]", prefix)]))
        .await
        .is_empty());
    assert_eq!(server.list_ids("").await.len(), 5);
}

async fn declared(server: &TestServer) -> Vec<Value> {
    let (s, v) = server.get("/api/v1/schedules?perPage=100").await;
    assert_eq!(s, 200, "{v}");
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["type"] == "DECLARATIVE")
        .cloned()
        .collect()
}

#[tokio::test]
async fn declarative_schedules_follow_the_current_deployment() {
    let server = TestServer::start_with_clock().await;
    set_clock(&server, "2026-02-02T00:00:00Z").await;
    let v1 = server
        .deploy(json!([
            {"id": "nightly", "schedule": {"cron": "0 3 * * *", "timezone": "Europe/Berlin"}},
            {"id": "plain"}
        ]))
        .await;
    let list = declared(&server).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let first = &list[0];
    assert_eq!(first["task"], "nightly");
    assert_eq!(first["generator"]["expression"], "0 3 * * *");
    assert_eq!(first["timezone"], "Europe/Berlin");
    assert_eq!(first["deduplicationKey"], Value::Null);
    assert_eq!(parse_ms(&first["nextRun"]), ms("2026-02-02T02:00:00Z"));

    // It fires a DECLARATIVE run.
    server.advance(3 * 3_600_000).await;
    let got = payloads(&server, "nightly").await;
    assert_eq!(stamps(&got), vec![ms("2026-02-02T02:00:00Z")]);
    assert_eq!(got[0]["type"], "DECLARATIVE");
    assert_eq!(got[0]["scheduleId"], first["id"]);
    assert!(got[0].get("externalId").is_none());

    // A new deployment changes it (same schedule).
    let v2 = server
        .deploy(json!([{"id": "nightly", "schedule": {"cron": "0 4 * * *"}}, {"id": "plain"}]))
        .await;
    let list = declared(&server).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], first["id"]);
    assert_eq!(list[0]["generator"]["expression"], "0 4 * * *");
    assert_eq!(list[0]["timezone"], "UTC");
    assert_eq!(parse_ms(&list[0]["nextRun"]), ms("2026-02-02T04:00:00Z"));

    // The task drops its cron: the schedule goes.
    let v3 = server.deploy(tasks(&["nightly", "plain"])).await;
    assert!(declared(&server).await.is_empty());

    // Rollback to v2 brings it back.
    let (s, v) = server.post("/api/v1/deployments/rollback", json!({})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["version"], v2.as_str());
    assert_eq!(v["rolledBackFrom"], v3.as_str());
    let list = declared(&server).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["generator"]["expression"], "0 4 * * *");

    // Promoting v1 restores its pattern and zone.
    let (s, v) = server
        .post(&format!("/api/v1/deployments/{v1}/promote"), json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    let list = declared(&server).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["generator"]["expression"], "0 3 * * *");
    assert_eq!(list[0]["timezone"], "Europe/Berlin");

    // Deactivating survives a promotion; imperative schedules are left alone.
    let id = list[0]["id"].as_str().unwrap().to_string();
    let (s, _) = server
        .post(&format!("/api/v1/schedules/{id}/deactivate"), json!({}))
        .await;
    assert_eq!(s, 200);
    create(
        &server,
        json!({"task": "plain", "cron": "0 * * * *", "deduplicationKey": "mine"}),
    )
    .await;
    server
        .deploy(json!([{"id": "nightly", "schedule": {"cron": "0 5 * * *"}}, {"id": "plain"}]))
        .await;
    let list = declared(&server).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["active"], false);
    assert_eq!(list[0]["generator"]["expression"], "0 5 * * *");
    let (s, mine) = server.get("/api/v1/schedules/mine").await;
    assert_eq!(s, 200, "{mine}");

    // In an environment that promotes on request only, registering is not enough.
    let staging_v = server
        .deploy_as(
            STAGING_KEY,
            json!([{"id": "nightly", "schedule": {"cron": "0 3 * * *"}}]),
            false,
        )
        .await;
    let (_, v) = server
        .call_as(STAGING_KEY, "GET", "/api/v1/schedules", None)
        .await;
    assert_eq!(v["data"], json!([]));
    let (s, _) = server
        .call_as(
            STAGING_KEY,
            "POST",
            &format!("/api/v1/deployments/{staging_v}/promote"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (_, v) = server
        .call_as(STAGING_KEY, "GET", "/api/v1/schedules", None)
        .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"][0]["environments"][0]["type"], "STAGING");
}

/// Two server processes on one store, each with its test clock set to `at`.
async fn two_servers_at(at: &str) -> (TestServer, TestServer) {
    let a = TestServer::start_with_clock().await;
    let b = TestServer::start_with(Options {
        data_dir: Some(a.data_dir.clone()),
        test_clock: true,
        ..Default::default()
    })
    .await;
    set_clock(&a, at).await;
    set_clock(&b, at).await;
    (a, b)
}

/// Two server processes on one store (the same PostgreSQL schema with
/// `TRIGR_TEST_BACKEND=postgres`, else the same SQLite file), each moving its own test clock
/// in step: every tick gives exactly one run.
#[tokio::test]
async fn two_servers_fire_each_tick_once() {
    let (a, b) = two_servers_at("2026-05-01T00:00:30Z").await;
    a.deploy(tasks(&["minutely"])).await;
    create(
        &a,
        json!({"task": "minutely", "cron": "* * * * *", "deduplicationKey": "m"}),
    )
    .await;
    let ticks = 30;
    let mut fired = 0;
    for _ in 0..ticks {
        let (x, y) = tokio::join!(a.advance(60_000), b.advance(60_000));
        fired +=
            x["fired"]["schedules"].as_u64().unwrap() + y["fired"]["schedules"].as_u64().unwrap();
    }
    let got = payloads(&a, "minutely").await;
    let mut times = stamps(&got);
    assert_eq!(got.len(), ticks, "one run per tick: {times:?}");
    times.dedup();
    assert_eq!(times.len(), ticks, "distinct ticks");
    assert_eq!(times[0], ms("2026-05-01T00:01:00Z"));
    assert_eq!(times[ticks - 1], ms("2026-05-01T00:30:00Z"));
    assert!(fired as usize <= ticks, "the passes fired {fired} runs");
}

/// Runs the `trigr` CLI against `server` with the dev key; returns (success, stdout, stderr).
async fn cli(server: &TestServer, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(binary())
        .args(args)
        .env("TRIGGER_API_URL", &server.base_url)
        .env("TRIGGER_SECRET_KEY", DEV_KEY)
        .kill_on_drop(true)
        .output()
        .await
        .expect("run trigr");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn cli_manages_schedules() {
    let server = TestServer::start_with_clock().await;
    set_clock(&server, "2026-01-05T07:00:00Z").await;
    server.deploy(tasks(&["report"])).await;

    let (ok, out, err) = cli(
        &server,
        &[
            "schedules",
            "create",
            "--task",
            "report",
            "--cron",
            "0 9 * * 1-5",
            "--timezone",
            "Europe/Paris",
            "--dedup-key",
            "daily",
            "--external-id",
            "u1",
            "--window",
            "30m",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("cron: 0 9 * * 1-5"), "{out}");
    assert!(out.contains("timezone: Europe/Paris"), "{out}");
    assert!(out.contains("window: 30m\n"), "{out}");
    assert!(out.contains("fires at: 2026-01-05T08:"), "{out}");

    let (ok, out, err) = cli(&server, &["schedules", "list"]).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("NEXT RUN") && out.contains("0 9 * * 1-5"),
        "{out}"
    );
    assert!(out.contains("WINDOW") && out.contains(" 30m "), "{out}");
    let (ok, out, _) = cli(&server, &["schedules", "list", "--json"]).await;
    assert!(ok);
    let v: Value = serde_json::from_str(&out).unwrap();
    let id = v["data"][0]["id"].as_str().unwrap().to_string();

    let (ok, out, _) = cli(&server, &["schedules", "get", "daily", "--json"]).await;
    assert!(ok);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["window"], "30m");
    assert_eq!(parse_ms(&v["nextRun"]), ms("2026-01-05T08:00:00Z"));

    let (ok, out, err) = cli(
        &server,
        &[
            "schedules",
            "update",
            "daily",
            "--task",
            "report",
            "--cron",
            "0 10 * * *",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("cron: 0 10 * * *"), "{out}");
    assert!(
        out.contains("timezone: Europe/Paris") && out.contains("window: 30m\n"),
        "an update changes only what it is given: {out}"
    );
    assert!(out.contains("external id: u1"), "{out}");
    let (ok, out, err) = cli(
        &server,
        &[
            "schedules",
            "update",
            "daily",
            "--timezone",
            "UTC",
            "--no-window",
            "--no-external-id",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("cron: 0 10 * * *"), "{out}");
    assert!(out.contains("timezone: UTC"), "{out}");
    assert!(!out.contains("window"), "--no-window removes it: {out}");
    assert!(!out.contains("external id"), "{out}");
    // Nothing to change is refused before any request; a bad pattern names its field.
    let (ok, _, err) = cli(&server, &["schedules", "update", "daily"]).await;
    assert!(!ok && err.contains("--cron"), "{err}");
    let (ok, _, err) = cli(
        &server,
        &["schedules", "update", "daily", "--cron", "61 * * * *"],
    )
    .await;
    assert!(!ok && err.contains("minute 61: must be 0–59"), "{err}");

    let (ok, out, _) = cli(&server, &["schedules", "deactivate", &id]).await;
    assert!(ok);
    assert!(out.contains("active: no"), "{out}");
    let (ok, out, _) = cli(&server, &["schedules", "activate", &id]).await;
    assert!(ok);
    assert!(out.contains("active: yes"), "{out}");

    let (ok, _, err) = cli(
        &server,
        &[
            "schedules",
            "create",
            "--task",
            "report",
            "--cron",
            "0 9 * *",
            "--dedup-key",
            "x",
        ],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("0 9 * *"), "{err}");
    let (ok, _, err) = cli(
        &server,
        &[
            "schedules",
            "update",
            "daily",
            "--task",
            "report",
            "--cron",
            "0 10 * * *",
            "--window",
            "25h",
        ],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("window") && err.contains("25h"), "{err}");

    let (ok, out, _) = cli(&server, &["schedules", "delete", &id]).await;
    assert!(ok);
    assert_eq!(out, format!("Deleted schedule {id}.\n"));
    let (ok, _, err) = cli(&server, &["schedules", "get", &id]).await;
    assert!(!ok);
    assert!(
        err.contains(&format!("Schedule {id} was not found.")),
        "{err}"
    );

    let (ok, out, _) = cli(&server, &["schedules", "timezones", "--exclude-utc"]).await;
    assert!(ok);
    assert!(out.lines().any(|l| l == "Europe/Berlin"), "{out}");
    assert!(!out.lines().any(|l| l == "UTC"));
}

// ---------------------------------------------------------------------------------------------
// Jitter windows.
// ---------------------------------------------------------------------------------------------

async fn put(server: &TestServer, id: &str, body: Value) -> Value {
    let (s, v) = server
        .call(
            "PUT",
            &format!("/api/v1/schedules/{id}"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, 200, "update schedule {id} with {body}: {v}");
    v
}

async fn get_schedule(server: &TestServer, id: &str) -> Value {
    let (s, v) = server.get(&format!("/api/v1/schedules/{id}")).await;
    assert_eq!(s, 200, "{v}");
    v
}

/// `nextRunEffectiveAt` of `v`, checked to be within `[nextRun, nextRun + window_ms)`.
fn effective_within(v: &Value, window_ms: i64) -> i64 {
    let nominal = parse_ms(&v["nextRun"]);
    let effective = parse_ms(&v["nextRunEffectiveAt"]);
    assert!(
        (nominal..nominal + window_ms).contains(&effective),
        "effective time within the window: {v}"
    );
    effective
}

#[tokio::test]
async fn windows_show_in_responses_and_updates_replace_them() {
    let server = TestServer::start_with_clock().await;
    set_clock(&server, "2026-01-05T07:10:00Z").await;
    server.deploy(tasks(&["report"])).await;
    let hour = ms("2026-01-05T08:00:00Z");

    let a = create(
        &server,
        json!({"task": "report", "cron": "0 * * * *", "deduplicationKey": "w", "window": "30m"}),
    )
    .await;
    assert_eq!(a["window"], "30m", "{a}");
    assert_eq!(parse_ms(&a["nextRun"]), hour, "nextRun stays nominal");
    effective_within(&a, 30 * 60_000);
    let got = get_schedule(&server, "w").await;
    assert_eq!(got["window"], "30m");
    assert_eq!(got["nextRunEffectiveAt"], a["nextRunEffectiveAt"]);
    let (_, list) = server.get("/api/v1/schedules").await;
    assert_eq!(list["data"][0]["window"], "30m", "{list}");
    assert_eq!(
        list["data"][0]["nextRunEffectiveAt"],
        a["nextRunEffectiveAt"]
    );

    // A share of the interval to the next tick; the pending tick keeps its nominal time.
    let b = put(
        &server,
        "w",
        json!({"task": "report", "cron": "0 * * * *", "window": "50%"}),
    )
    .await;
    assert_eq!(b["window"], "50%");
    assert_eq!(parse_ms(&b["nextRun"]), hour);
    effective_within(&b, 30 * 60_000);
    // A window longer than the interval is capped at it: the tick fires before the next one.
    let c = put(
        &server,
        "w",
        json!({"task": "report", "cron": "0 * * * *", "window": "24h"}),
    )
    .await;
    assert_eq!(c["window"], "24h");
    effective_within(&c, 3_600_000);
    // The same schedule and tick give the same effective time.
    let again = put(
        &server,
        "w",
        json!({"task": "report", "cron": "0 * * * *", "window": "24h"}),
    )
    .await;
    assert_eq!(again["nextRunEffectiveAt"], c["nextRunEffectiveAt"]);

    // PUT changes what it is given: without a window the window stays; a null one removes
    // it, and the tick is at its nominal time.
    let kept = put(&server, "w", json!({"task": "report", "cron": "0 * * * *"})).await;
    assert_eq!(kept["window"], "24h", "{kept}");
    assert_eq!(kept["nextRunEffectiveAt"], c["nextRunEffectiveAt"]);
    let d = put(&server, "w", json!({"window": null})).await;
    assert!(
        d.get("window").is_none(),
        "window is omitted, never null: {d}"
    );
    assert_eq!(d["nextRunEffectiveAt"], d["nextRun"]);
    assert_eq!(parse_ms(&d["nextRun"]), hour);

    // A null window is none; the canonical text is kept ("060m" is "60m").
    let e = create(
        &server,
        json!({"task": "report", "cron": "0 * * * *", "deduplicationKey": "w", "window": null}),
    )
    .await;
    assert!(e.get("window").is_none(), "{e}");
    let f = create(
        &server,
        json!({"task": "report", "cron": "*/10 * * * *", "deduplicationKey": "w", "window": "060m"}),
    )
    .await;
    assert_eq!(f["window"], "60m");
    assert_eq!(parse_ms(&f["nextRun"]), ms("2026-01-05T07:20:00Z"));
    effective_within(&f, 10 * 60_000);

    // An inactive schedule has no next run, effective or not; it keeps its window.
    let id = f["id"].as_str().unwrap();
    let (s, off) = server
        .post(&format!("/api/v1/schedules/{id}/deactivate"), json!({}))
        .await;
    assert_eq!(s, 200, "{off}");
    assert_eq!(off["nextRun"], Value::Null);
    assert_eq!(off["nextRunEffectiveAt"], Value::Null);
    assert_eq!(off["window"], "60m");
    let (s, on) = server
        .post(&format!("/api/v1/schedules/{id}/activate"), json!({}))
        .await;
    assert_eq!(s, 200, "{on}");
    effective_within(&on, 10 * 60_000);
}

/// A server at 2026-01-01T00:30Z with an hourly schedule of task `hourly` with this window;
/// the schedule's id.
async fn hourly_schedule_with_window(window: &str) -> (TestServer, String) {
    let server = TestServer::start_with_clock().await;
    set_clock(&server, "2026-01-01T00:30:00Z").await;
    server.deploy(tasks(&["hourly"])).await;
    let sched = create(
        &server,
        json!({"task": "hourly", "cron": "0 * * * *", "deduplicationKey": "h", "window": window}),
    )
    .await;
    let id = sched["id"].as_str().unwrap().to_string();
    (server, id)
}

#[tokio::test]
async fn a_window_delays_each_tick_within_its_bounds() {
    let (server, id) = hourly_schedule_with_window("30m").await;
    let mut offsets = Vec::new();
    for n in 1..=4i64 {
        let nominal = ms("2026-01-01T00:00:00Z") + n * 3_600_000;
        let s = get_schedule(&server, &id).await;
        assert_eq!(parse_ms(&s["nextRun"]), nominal, "{s}");
        let effective = effective_within(&s, 30 * 60_000);
        offsets.push(effective - nominal);
        // Not a millisecond early.
        let now = server.now_ms().await;
        let fired = server.advance((effective - 1 - now) as u64).await;
        assert_eq!(fired["fired"]["schedules"], 0, "tick {n} early: {fired}");
        assert_eq!(payloads(&server, "hourly").await.len() as i64, n - 1);
        let fired = server.advance(1).await;
        assert_eq!(fired["fired"]["schedules"], 1, "tick {n} on time: {fired}");
        let got = payloads(&server, "hourly").await;
        assert_eq!(got.len() as i64, n);
        let p = &got[n as usize - 1];
        assert_eq!(
            parse_ms(&p["timestamp"]),
            nominal,
            "timestamp is nominal: {p}"
        );
        assert_eq!(parse_ms(&p["upcoming"][0]), nominal + 3_600_000, "{p}");
        if n > 1 {
            assert_eq!(parse_ms(&p["lastTimestamp"]), nominal - 3_600_000, "{p}");
        }
        assert_eq!(server.advance(0).await["fired"]["schedules"], 0);
    }
    offsets.dedup();
    assert!(
        offsets.len() > 1,
        "each tick has its own offset: {offsets:?}"
    );
}

#[tokio::test]
async fn catch_up_with_a_window_fires_one_run_and_nothing_early() {
    let (server, id) = hourly_schedule_with_window("100%").await;
    // Ten and a half hours of downtime, up to 11:00 exactly: one run, for the most recent tick
    // whose effective time has come (10:00, or 11:00 if its offset is zero).
    let fired = server.advance(10 * 3_600_000 + 1_800_000).await;
    assert_eq!(fired["fired"]["schedules"], 1, "{fired}");
    let got = payloads(&server, "hourly").await;
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(got[0].get("lastTimestamp").is_none());
    let s = get_schedule(&server, &id).await;
    let eleven = ms("2026-01-01T11:00:00Z");
    if stamps(&got) == vec![ms("2026-01-01T10:00:00Z")] {
        // 11:00 is due but has not come: it stays the next tick and fires at its own time.
        assert_eq!(parse_ms(&s["nextRun"]), eleven, "{s}");
        let effective = effective_within(&s, 3_600_000);
        assert!(effective > eleven);
        assert_eq!(parse_ms(&got[0]["upcoming"][0]), eleven, "{:?}", got[0]);
        let fired = server.advance((effective - 1 - eleven) as u64).await;
        assert_eq!(fired["fired"]["schedules"], 0, "{fired}");
        let fired = server.advance(1).await;
        assert_eq!(fired["fired"]["schedules"], 1, "{fired}");
        let got = payloads(&server, "hourly").await;
        assert_eq!(
            stamps(&got),
            vec![ms("2026-01-01T10:00:00Z"), eleven],
            "{got:#?}"
        );
        assert_eq!(
            parse_ms(&got[1]["lastTimestamp"]),
            ms("2026-01-01T10:00:00Z")
        );
    } else {
        assert_eq!(stamps(&got), vec![eleven], "{got:#?}");
    }
    let s = get_schedule(&server, &id).await;
    assert_eq!(parse_ms(&s["nextRun"]), ms("2026-01-01T12:00:00Z"), "{s}");
    effective_within(&s, 3_600_000);
    assert_eq!(server.advance(0).await["fired"]["schedules"], 0);
}

/// Two servers on one store (PostgreSQL with `TRIGR_TEST_BACKEND=postgres`), a schedule with a
/// window: both compute the same effective times, and each tick gives exactly one run, at or
/// after its nominal time.
#[tokio::test]
async fn two_servers_fire_each_windowed_tick_once() {
    let (a, b) = two_servers_at("2026-05-01T00:00:30Z").await;
    a.deploy(tasks(&["minutely"])).await;
    let sched = create(
        &a,
        json!({"task": "minutely", "cron": "* * * * *", "deduplicationKey": "m", "window": "100%"}),
    )
    .await;
    let id = sched["id"].as_str().unwrap().to_string();
    let on_b = get_schedule(&b, &id).await;
    assert_eq!(on_b["window"], "100%");
    assert_eq!(on_b["nextRunEffectiveAt"], sched["nextRunEffectiveAt"]);
    let mut fired = 0;
    // 31 minutes in steps of 10 seconds: every tick from 00:01 to 00:30 has come.
    for _ in 0..186 {
        let (x, y) = tokio::join!(a.advance(10_000), b.advance(10_000));
        fired +=
            x["fired"]["schedules"].as_u64().unwrap() + y["fired"]["schedules"].as_u64().unwrap();
    }
    let got = payloads(&a, "minutely").await;
    let times = stamps(&got);
    let want: Vec<i64> = (1..=30)
        .map(|m| ms("2026-05-01T00:00:00Z") + m * 60_000)
        .collect();
    assert!(
        times.len() == 30 || times.len() == 31,
        "one run per tick: {times:?}"
    );
    assert_eq!(times[..30], want[..], "each tick once, in order");
    if times.len() == 31 {
        assert_eq!(times[30], ms("2026-05-01T00:31:00Z"));
    }
    assert_eq!(fired as usize, times.len(), "the passes fired {fired} runs");
    // The runs were spread over the window, not all at the nominal minute.
    let ids = a
        .list_ids(&query(&[("filter[taskIdentifier]", "minutely")]))
        .await;
    let mut delays = Vec::new();
    for run in ids {
        let r = a.run(&run).await;
        let delay = parse_ms(&r["createdAt"]) - parse_ms(&r["payload"]["timestamp"]);
        assert!((0..70_000).contains(&delay), "run {run} delayed {delay} ms");
        delays.push(delay);
    }
    assert!(
        delays.iter().any(|d| *d >= 10_000),
        "delays spread over the minute: {delays:?}"
    );
}

#[tokio::test]
async fn a_task_declares_its_window() {
    let server = TestServer::start_with_clock().await;
    set_clock(&server, "2026-03-03T00:30:00Z").await;
    let (s, v) = server
        .post(
            "/api/v1/worker/deployments",
            json!({"tasks": [{"id": "hourly", "schedule": {"cron": "0 * * * *", "window": "90s"}}], "promote": true}),
        )
        .await;
    assert_error(s, &v, 422, &["hourly", "90s"], "register a bad window");
    assert!(declared(&server).await.is_empty(), "nothing written");

    server
        .deploy(json!([{"id": "hourly", "schedule": {"cron": "0 * * * *", "window": "20m"}}]))
        .await;
    let d = declared(&server).await;
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["window"], "20m");
    assert_eq!(parse_ms(&d[0]["nextRun"]), ms("2026-03-03T01:00:00Z"));
    let first = effective_within(&d[0], 20 * 60_000);

    // The tick fires at its effective time, with the nominal time in the payload.
    let now = server.now_ms().await;
    let early = server.advance((first - 1 - now) as u64).await;
    assert_eq!(early["fired"]["schedules"], 0, "{early}");
    assert_eq!(server.advance(1).await["fired"]["schedules"], 1);
    let got = payloads(&server, "hourly").await;
    assert_eq!(stamps(&got), [ms("2026-03-03T01:00:00Z")]);

    // A new deployment changing only the window keeps the pending tick, at its new time.
    server
        .deploy(json!([{"id": "hourly", "schedule": {"cron": "0 * * * *", "window": "100%"}}]))
        .await;
    let d = declared(&server).await;
    assert_eq!(d[0]["window"], "100%");
    assert_eq!(parse_ms(&d[0]["nextRun"]), ms("2026-03-03T02:00:00Z"));
    effective_within(&d[0], 3_600_000);
    // Without a window, the tick is back at its cron time.
    server
        .deploy(json!([{"id": "hourly", "schedule": {"cron": "0 * * * *"}}]))
        .await;
    let d = declared(&server).await;
    assert!(d[0].get("window").is_none(), "{d:?}");
    assert_eq!(d[0]["nextRunEffectiveAt"], d[0]["nextRun"]);
}
