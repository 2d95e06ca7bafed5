//! What a schedule gives the runs it fires (payload members, metadata, machine, tags), the
//! list filters `tag` and `active`, and the bounds on each: through the HTTP API and the CLI,
//! with time moved only by the test clock.

mod common;

use common::*;
use serde_json::{json, Value};

const HOUR: u64 = 3_600_000;

async fn at_half_past(server: &TestServer) {
    let (s, v) = server
        .post(
            "/api/v1/test/clock",
            json!({"setMs": 1_767_227_400_000_i64}), // 2026-01-01T00:30:00Z
        )
        .await;
    assert_eq!(s, 200, "set clock: {v}");
}

async fn create(server: &TestServer, body: Value) -> Value {
    let (s, v) = server.post("/api/v1/schedules", body.clone()).await;
    assert_eq!(s, 200, "create schedule {body}: {v}");
    v
}

async fn put(server: &TestServer, id: &str, body: Value) -> (u16, Value) {
    server
        .call("PUT", &format!("/api/v1/schedules/{id}"), Some(body))
        .await
}

/// The runs of `task`, oldest first.
async fn runs_of(server: &TestServer, task: &str) -> Vec<Value> {
    let ids = server
        .list_ids(&query(&[("filter[taskIdentifier]", task)]))
        .await;
    let mut out = Vec::new();
    for id in ids {
        out.push(server.run(&id).await);
    }
    out.sort_by_key(|r| parse_ms(&r["payload"]["timestamp"]));
    out
}

fn assert_error(status: u16, body: &Value, words: &[&str], what: &str) {
    assert_eq!(status, 400, "{what}: {body}");
    let msg = body["error"].as_str().unwrap_or_default().to_lowercase();
    for w in words {
        assert!(
            msg.contains(&w.to_lowercase()),
            "{what}: error {msg:?} should name {w:?}"
        );
    }
}

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|s| s["externalId"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_firing_schedule_gives_its_run_payload_metadata_machine_and_tags() {
    let server = TestServer::start_with_clock().await;
    at_half_past(&server).await;
    server.deploy(tasks(&["report"])).await;
    let s = create(
        &server,
        json!({"task": "report", "cron": "0 * * * *", "deduplicationKey": "finance",
               "externalId": "acct_1",
               "payload": {"reportType": "daily-summary", "includeMetrics": true},
               "metadata": {"owner": "finance-team", "priority": "high"},
               "machine": "medium-1x", "tags": ["scheduled", "finance", "report", "finance"]}),
    )
    .await;
    let id = s["id"].as_str().unwrap().to_string();
    assert_eq!(
        s["payload"],
        json!({"reportType": "daily-summary", "includeMetrics": true})
    );
    assert_eq!(
        s["metadata"],
        json!({"owner": "finance-team", "priority": "high"})
    );
    assert_eq!(s["machine"], "medium-1x");
    assert_eq!(s["tags"], json!(["finance", "report", "scheduled"]));
    let (status, got) = server.get(&format!("/api/v1/schedules/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(got, s, "a read gives what the create answered");

    let fired = server.advance(HOUR).await;
    assert_eq!(fired["fired"]["schedules"], 1, "{fired}");
    let runs = runs_of(&server, "report").await;
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    let p = &run["payload"];
    // The scheduled members are all there, the user's beside them.
    assert_eq!(p["type"], "IMPERATIVE");
    assert_eq!(parse_ms(&p["timestamp"]), 1_767_229_200_000); // 01:00
    assert_eq!(p["scheduleId"], id.as_str());
    assert_eq!(p["externalId"], "acct_1");
    assert_eq!(p["timezone"], "UTC");
    assert_eq!(p["upcoming"].as_array().map(Vec::len), Some(5));
    assert_eq!(p["reportType"], "daily-summary");
    assert_eq!(p["includeMetrics"], true);
    assert_eq!(
        run["metadata"],
        json!({"owner": "finance-team", "priority": "high"})
    );
    assert_eq!(run["machine"], "medium-1x");
    let tags: Vec<&str> = run["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for t in ["finance", "report", "scheduled"] {
        assert!(tags.contains(&t), "run tags {tags:?} lack {t}");
    }

    // An update changes what the next run gets; what it leaves out stays.
    let (status, u) = put(
        &server,
        &id,
        json!({"machine": "large-1x", "tags": null,
               "payload": {"reportType": "daily-summary", "includeForecast": true}}),
    )
    .await;
    assert_eq!(status, 200, "{u}");
    assert_eq!(u["machine"], "large-1x");
    assert_eq!(u["tags"], json!([]));
    assert_eq!(
        u["payload"],
        json!({"reportType": "daily-summary", "includeForecast": true})
    );
    assert_eq!(u["metadata"], s["metadata"], "metadata left out stays");
    server.advance(HOUR).await;
    let runs = runs_of(&server, "report").await;
    assert_eq!(runs.len(), 2);
    let run = &runs[1];
    assert_eq!(run["machine"], "large-1x");
    assert_eq!(run["payload"]["includeForecast"], true);
    assert!(run["payload"].get("includeMetrics").is_none(), "{run}");
    assert_eq!(
        run["payload"]["lastTimestamp"],
        runs[0]["payload"]["timestamp"]
    );
    assert_eq!(run["metadata"]["owner"], "finance-team");
    assert!(
        run["tags"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t != "finance"),
        "{run}"
    );

    // Null removes each; a create with the same key replaces them all.
    let (status, u) = put(
        &server,
        &id,
        json!({"payload": null, "metadata": null, "machine": null}),
    )
    .await;
    assert_eq!(status, 200, "{u}");
    for member in ["payload", "metadata", "machine"] {
        assert!(u.get(member).is_none(), "{member} removed: {u}");
    }
    let again = create(
        &server,
        json!({"task": "report", "cron": "0 * * * *", "deduplicationKey": "finance",
               "tags": ["only"]}),
    )
    .await;
    assert_eq!(again["id"], id.as_str());
    assert_eq!(again["tags"], json!(["only"]));
    server.advance(HOUR).await;
    let runs = runs_of(&server, "report").await;
    let run = &runs[2];
    assert!(
        run.get("machine").is_none() || run["machine"].is_null(),
        "{run}"
    );
    assert!(run["payload"].get("reportType").is_none(), "{run}");
    assert!(run["tags"].as_array().unwrap().iter().any(|t| t == "only"));
}

#[tokio::test]
async fn lists_filter_by_tag_and_activity_with_paging() {
    let server = TestServer::start_with_clock().await;
    at_half_past(&server).await;
    server.deploy(tasks(&["t"])).await;
    for (key, tags) in [
        ("a", json!(["finance"])),
        ("b", json!(["finance", "ops"])),
        ("c", json!(["ops"])),
        ("d", json!(["finance"])),
    ] {
        create(
            &server,
            json!({"task": "t", "cron": "0 * * * *", "deduplicationKey": key,
                   "externalId": key, "tags": tags}),
        )
        .await;
        server.advance(1_000).await;
    }
    let (s, _) = server
        .post("/api/v1/schedules/d/deactivate", json!({}))
        .await;
    assert_eq!(s, 200);

    let (s, all) = server.get("/api/v1/schedules").await;
    assert_eq!(s, 200, "{all}");
    assert_eq!(ids(&all), ["a", "b", "c", "d"]);
    let (_, finance) = server.get("/api/v1/schedules?tag=finance").await;
    assert_eq!(ids(&finance), ["a", "b", "d"]);
    assert_eq!(finance["pagination"]["count"], 3);
    let (_, page2) = server
        .get("/api/v1/schedules?tag=finance&perPage=2&page=2")
        .await;
    assert_eq!(ids(&page2), ["d"]);
    assert_eq!(page2["pagination"]["totalPages"], 2);
    let (_, active) = server
        .get("/api/v1/schedules?tag=finance&active=true")
        .await;
    assert_eq!(ids(&active), ["a", "b"]);
    assert_eq!(active["pagination"]["count"], 2);
    let (_, inactive) = server.get("/api/v1/schedules?active=false").await;
    assert_eq!(ids(&inactive), ["d"]);
    let (_, none) = server.get("/api/v1/schedules?tag=nope").await;
    assert_eq!(ids(&none), Vec::<String>::new());
    assert_eq!(none["pagination"]["count"], 0);
    // Another environment's tags are not this one's.
    let (_, other) = server
        .call_as(STAGING_KEY, "GET", "/api/v1/schedules?tag=finance", None)
        .await;
    assert_eq!(other["data"], json!([]));

    for (q, words) in [
        ("active=yes", &["active", "true or false"][..]),
        ("active=true&active=false", &["active", "once"][..]),
        ("tag=a&tag=b", &["tag", "once"][..]),
        ("tag=", &["tag"][..]),
        ("tag=a%00b", &["tag", "nul"][..]),
    ] {
        let (s, v) = server.get(&format!("/api/v1/schedules?{q}")).await;
        assert_error(s, &v, words, q);
    }
    let long = "x".repeat(129);
    let (s, v) = server.get(&format!("/api/v1/schedules?tag={long}")).await;
    assert_error(s, &v, &["tag", "128"], "long tag");
}

#[tokio::test]
async fn bad_fields_are_refused_by_name_and_nothing_is_written() {
    let server = TestServer::start_with(Options {
        test_clock: true,
        env: vec![("TRIGR_MAX_PAYLOAD_BYTES".into(), "16384".into())],
        ..Default::default()
    })
    .await;
    at_half_past(&server).await;
    server.deploy(tasks(&["t"])).await;
    let base = json!({"task": "t", "cron": "0 * * * *", "deduplicationKey": "k"});
    let with = |extra: Value| {
        let mut b = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
    let cases = [
        (json!({"payload": [1]}), &["payload", "object"][..]),
        (json!({"payload": "text"}), &["payload", "object"][..]),
        (
            json!({"payload": {"timestamp": 1}}),
            &["payload.timestamp", "reserved"][..],
        ),
        (
            json!({"payload": {"scheduleId": "x"}}),
            &["payload.scheduleId", "reserved"][..],
        ),
        (
            json!({"payload": {"a": "x".repeat(13_000)}}),
            &["payload", "limit"][..],
        ),
        (json!({"metadata": 5}), &["metadata", "object"][..]),
        (
            json!({"metadata": {"a": "x".repeat(300 * 1024)}}),
            &["metadata", "limit"][..],
        ),
        (json!({"machine": "huge-9x"}), &["machine", "medium-1x"][..]),
        (json!({"machine": 3}), &["machine"][..]),
        (json!({"tags": eleven}), &["10 tags"][..]),
        (json!({"tags": ["x".repeat(129)]}), &["128"][..]),
        (json!({"tags": [""]}), &["1-128"][..]),
        (json!({"tags": ["a\u{0}b"]}), &["nul"][..]),
        (json!({"tags": [1]}), &["tags"][..]),
        (json!({"tags": "only"}), &["list of strings"][..]),
    ];
    for (extra, words) in &cases {
        let (s, v) = server.post("/api/v1/schedules", with(extra.clone())).await;
        assert_error(s, &v, words, &format!("create {extra}"));
    }
    let (_, list) = server.get("/api/v1/schedules").await;
    assert_eq!(list["pagination"]["count"], 0, "no create wrote: {list}");

    // A payload just within the limit (the run limit less room for the scheduled members)
    // is taken, and fires.
    let fits = create(
        &server,
        with(json!({"payload": {"a": "x".repeat(12_000)}, "machine": "micro", "tags": ["keep"]})),
    )
    .await;
    let id = fits["id"].as_str().unwrap().to_string();
    for (extra, words) in &cases {
        let (s, v) = put(&server, &id, extra.clone()).await;
        assert_error(s, &v, words, &format!("update {extra}"));
    }
    let (_, after) = server.get(&format!("/api/v1/schedules/{id}")).await;
    assert_eq!(after, fits, "no update wrote");
    server.advance(HOUR).await;
    let runs = runs_of(&server, "t").await;
    assert_eq!(runs.len(), 1, "the tick fired");
    assert_eq!(runs[0]["payload"]["a"].as_str().map(str::len), Some(12_000));
}

#[tokio::test]
async fn cli_sets_and_filters_schedule_fields() {
    let server = TestServer::start_with_clock().await;
    at_half_past(&server).await;
    server.deploy(tasks(&["report"])).await;
    let cli = |args: Vec<&'static str>| {
        let url = server.base_url.clone();
        async move {
            let out = tokio::process::Command::new(binary())
                .args(&args)
                .env("TRIGGER_API_URL", url)
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
    };
    let (ok, out, err) = cli(vec![
        "schedules",
        "create",
        "--task",
        "report",
        "--cron",
        "0 * * * *",
        "--dedup-key",
        "daily",
        "--payload",
        r#"{"reportType":"daily"}"#,
        "--metadata",
        r#"{"owner":"finance"}"#,
        "--machine",
        "small-2x",
        "--tag",
        "finance",
        "--tag",
        "report",
    ])
    .await;
    assert!(ok, "{out}{err}");
    assert!(out.contains(r#"payload: {"reportType":"daily"}"#), "{out}");
    assert!(out.contains(r#"metadata: {"owner":"finance"}"#), "{out}");
    assert!(out.contains("machine: small-2x\n"), "{out}");
    assert!(out.contains("tags: finance, report\n"), "{out}");
    let (ok, out, err) = cli(vec![
        "schedules",
        "create",
        "--task",
        "report",
        "--cron",
        "30 * * * *",
        "--dedup-key",
        "other",
        "--tag",
        "ops",
    ])
    .await;
    assert!(ok, "{out}{err}");

    let (ok, out, err) = cli(vec!["schedules", "list", "--tag", "finance", "--json"]).await;
    assert!(ok, "{err}");
    let list: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(list["pagination"]["count"], 1, "{list}");
    assert_eq!(list["data"][0]["deduplicationKey"], "daily");
    let (ok, out, _) = cli(vec!["schedules", "deactivate", "other"]).await;
    assert!(ok, "{out}");
    let (ok, out, _) = cli(vec!["schedules", "list", "--active", "false", "--json"]).await;
    assert!(ok);
    let list: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(list["pagination"]["count"], 1, "{list}");
    assert_eq!(list["data"][0]["deduplicationKey"], "other");

    let (ok, out, err) = cli(vec![
        "schedules",
        "update",
        "daily",
        "--machine",
        "large-2x",
        "--no-tags",
        "--no-payload",
        "--json",
    ])
    .await;
    assert!(ok, "{out}{err}");
    let s: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(s["machine"], "large-2x");
    assert_eq!(s["tags"], json!([]));
    assert!(s.get("payload").is_none(), "{s}");
    assert_eq!(s["metadata"], json!({"owner": "finance"}));
    server.advance(HOUR).await;
    let runs = runs_of(&server, "report").await;
    assert_eq!(runs.len(), 1, "only the active schedule fired");
    assert_eq!(runs[0]["machine"], "large-2x");
    assert_eq!(runs[0]["metadata"], json!({"owner": "finance"}));

    // The server's refusal reaches the user.
    let (ok, _, err) = cli(vec!["schedules", "update", "daily", "--machine", "huge"]).await;
    assert!(!ok);
    assert!(err.contains("machine"), "{err}");
    let (ok, _, err) = cli(vec!["schedules", "update", "daily", "--metadata", "[1]"]).await;
    assert!(!ok);
    assert!(err.contains("JSON object"), "{err}");
}
