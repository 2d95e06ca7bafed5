//! The mollifier against real servers (manual clock, the drainer driven by
//! `POST /api/v1/test/mollifier/drain`): a tripped environment's triggers are buffered and
//! answered at once, readable and cancellable before they are drained, idempotent, drained in
//! FIFO order into the runs they promised, failed when their time to live runs out, kept
//! across a SIGKILL, and drained by two servers of one PostgreSQL without a duplicate.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::{json, Value};

/// A server whose environments trip above `threshold` triggers per second, not draining by
/// itself.
async fn server(
    threshold: u32,
    extra: &[&str],
    data_dir: Option<std::path::PathBuf>,
) -> TestServer {
    let mut args: Vec<String> = vec![
        "--mollifier-threshold".into(),
        threshold.to_string(),
        "--mollifier-drain".into(),
        "false".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    TestServer::start_with(Options {
        test_clock: true,
        args,
        data_dir,
        ..Default::default()
    })
    .await
}

async fn drain(s: &TestServer) -> Value {
    let (status, v) = s.post("/api/v1/test/mollifier/drain", json!({})).await;
    assert_eq!(status, 200, "drain: {v}");
    v
}

/// Drains until a tick creates nothing; the total created.
async fn drain_all(s: &TestServer) -> u64 {
    let mut total = 0;
    for _ in 0..1000 {
        let v = drain(s).await;
        let n = v["created"].as_u64().unwrap();
        if n == 0 && v["expired"].as_u64().unwrap() == 0 {
            return total;
        }
        total += n;
    }
    panic!("the buffer never emptied");
}

async fn waiting_reason(s: &TestServer, id: &str) -> Option<String> {
    let (status, v) = s.get(&format!("/api/v3/runs/{id}")).await;
    assert_eq!(status, 200, "retrieve {id}: {v}");
    v["waitingFor"]["reason"].as_str().map(str::to_string)
}

#[tokio::test]
async fn a_tripped_environment_is_buffered_readable_cancellable_and_drained_in_order() {
    let s = server(2, &[], None).await;
    let version = s.deploy(json!([{"id": "t"}])).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(
            s.trigger("t", json!({"i": i}), json!({"tags": ["burst"]}))
                .await,
        );
    }
    // The first two passed through; the rest wait in the buffer, answered with their ids.
    for id in &ids[..2] {
        assert_ne!(waiting_reason(&s, id).await.as_deref(), Some("BUFFERED"));
    }
    for id in &ids[2..] {
        let run = s.run(id).await;
        assert_eq!(run["status"], "QUEUED", "{run}");
        assert_eq!(run["waitingFor"]["reason"], "BUFFERED", "{run}");
        assert_eq!(run["version"], version.as_str());
        assert_eq!(run["tags"], json!(["burst"]));
        assert_eq!(
            run["payload"],
            json!({"i": ids.iter().position(|x| x == id).unwrap()})
        );
    }
    // An idempotent repeat gets the buffered run, buffered or drained.
    let keyed = s
        .trigger("t", json!({}), json!({"idempotencyKey": "k1"}))
        .await;
    assert_eq!(
        waiting_reason(&s, &keyed).await.as_deref(),
        Some("BUFFERED")
    );
    let (status, again) = s
        .try_trigger("t", json!({}), json!({"idempotencyKey": "k1"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["id"], keyed.as_str());
    assert_eq!(again["isCached"], true);
    // A rejected trigger leaves no entry.
    let (status, _) = s.try_trigger("nope", json!({}), json!({})).await;
    assert!((400..500).contains(&status), "{status}");
    // Cancel a buffered run: it becomes a real, canceled run; the drainer skips it.
    let (status, v) = s
        .post(&format!("/api/v2/runs/{}/cancel", ids[3]), json!({}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(s.status(&ids[3]).await, "CANCELED");
    // Drained: every other buffered trigger became the run it promised.
    assert_eq!(drain_all(&s).await, 4);
    for id in ids.iter().chain([&keyed]) {
        assert_ne!(waiting_reason(&s, id).await.as_deref(), Some("BUFFERED"));
    }
    let (status, again) = s
        .try_trigger("t", json!({}), json!({"idempotencyKey": "k1"}))
        .await;
    assert_eq!((status, again["id"].as_str()), (200, Some(keyed.as_str())));
    // A worker gets them in trigger order (FIFO), the canceled one never.
    let got: Vec<String> = s
        .dequeue(&version, 20, 0)
        .await
        .iter()
        .map(|r| r["runId"].as_str().unwrap().to_string())
        .collect();
    let want: Vec<String> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .map(|(_, id)| id.clone())
        .chain([keyed])
        .collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn an_entry_past_its_time_to_live_becomes_a_failed_run() {
    let s = server(1, &["--mollifier-entry-ttl", "60"], None).await;
    s.deploy(json!([{"id": "t"}])).await;
    s.trigger("t", json!({}), json!({})).await;
    let late = s.trigger("t", json!({}), json!({})).await;
    assert_eq!(waiting_reason(&s, &late).await.as_deref(), Some("BUFFERED"));
    s.advance(61_000).await;
    let tick = drain(&s).await;
    assert_eq!(tick["expired"], 1, "{tick}");
    let run = s.run(&late).await;
    assert_eq!(run["status"], "FAILED", "{run}");
    let message = run["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("time to live"), "{run}");
}

#[tokio::test]
async fn switched_off_nothing_is_buffered() {
    let s = server(1, &["--mollifier", "off"], None).await;
    s.deploy(json!([{"id": "t"}])).await;
    for _ in 0..5 {
        let id = s.trigger("t", json!({}), json!({})).await;
        assert_ne!(waiting_reason(&s, &id).await.as_deref(), Some("BUFFERED"));
    }
    let shadow = server(1, &["--mollifier", "shadow"], None).await;
    shadow.deploy(json!([{"id": "t"}])).await;
    for _ in 0..5 {
        let id = shadow.trigger("t", json!({}), json!({})).await;
        assert_ne!(
            waiting_reason(&shadow, &id).await.as_deref(),
            Some("BUFFERED")
        );
    }
}

#[tokio::test]
async fn misconfiguration_fails_at_start() {
    let out = std::process::Command::new(binary())
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--shutdown-timeout",
            "5",
            "--mollifier-drain-shutdown-timeout",
            "30",
        ])
        .env("TRIGR_DATA_DIR", tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("shutdown timeout"), "{err}");
}

#[tokio::test]
async fn buffered_triggers_survive_a_sigkill() {
    let mut s = server(1, &[], None).await;
    s.deploy(json!([{"id": "t"}])).await;
    let mut buffered = Vec::new();
    for i in 0..30 {
        let id = s.trigger("t", json!({"i": i}), json!({})).await;
        if waiting_reason(&s, &id).await.as_deref() == Some("BUFFERED") {
            buffered.push(id);
        }
    }
    assert_eq!(buffered.len(), 29);
    s.kill();
    let restarted = server(1, &[], Some(s.data_dir.clone())).await;
    assert_eq!(drain_all(&restarted).await, 29);
    for id in &buffered {
        let run = restarted.run(id).await;
        assert_eq!(run["status"], "QUEUED", "{run}");
        assert_ne!(run["waitingFor"]["reason"], "BUFFERED", "{run}");
    }
    let (status, list) = restarted.get("/api/v1/runs?page[size]=100").await;
    assert_eq!(status, 200);
    let listed: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let unique: HashSet<&str> = listed.iter().copied().collect();
    assert_eq!(listed.len(), 30, "every acknowledged trigger is one run");
    assert_eq!(unique.len(), 30);
    drop(s);
}

#[tokio::test]
async fn two_servers_on_postgresql_drain_one_buffer_without_duplicates() {
    if postgres_url().is_none() {
        eprintln!("PostgreSQL suite skipped: TRIGR_TEST_BACKEND is not postgres");
        return;
    }
    let a = server(1, &[], None).await;
    a.deploy(json!([{"id": "t"}])).await;
    let mut ids = Vec::new();
    for i in 0..60 {
        ids.push(a.trigger("t", json!({"i": i}), json!({})).await);
    }
    let b = server(1, &[], Some(a.data_dir.clone())).await;
    let mut created = 0;
    for _ in 0..1000 {
        let (ta, tb) = tokio::join!(drain(&a), drain(&b));
        let n = ta["created"].as_u64().unwrap() + tb["created"].as_u64().unwrap();
        let existed = ta["existed"].as_u64().unwrap() + tb["existed"].as_u64().unwrap();
        assert_eq!(existed, 0, "an entry was drained twice: {ta} {tb}");
        created += n;
        if n == 0 {
            break;
        }
    }
    assert_eq!(created, 59);
    let (status, list) = a.get("/api/v1/runs?page[size]=100").await;
    assert_eq!(status, 200);
    let listed: HashSet<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 60);
    assert_eq!(listed, ids.iter().map(String::as_str).collect());
}

async fn call(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    s.call(method, path, body).await
}

#[tokio::test]
async fn buffered_runs_are_listed_first_filtered_and_paged() {
    let s = server(1, &[], None).await;
    s.deploy(json!([{"id": "t"}, {"id": "u"}])).await;
    let direct = s.trigger("t", json!({}), json!({})).await;
    let mut buffered = Vec::new();
    for i in 0..5 {
        let task = if i % 2 == 0 { "t" } else { "u" };
        buffered.push(s.trigger(task, json!({"i": i}), json!({})).await);
    }
    // Newest first: the buffered runs (newest entry first), then the created one.
    let want: Vec<String> = buffered.iter().rev().chain([&direct]).cloned().collect();
    assert_eq!(s.list_ids("").await, want);
    // Paged two at a time, forwards then back.
    let (status, p1) = s.get("/api/v1/runs?page[size]=2").await;
    assert_eq!(status, 200, "{p1}");
    let ids = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&p1), want[..2]);
    assert_eq!(p1["data"][0]["status"], "QUEUED");
    let next = p1["pagination"]["next"].as_str().unwrap().to_string();
    let (_, p2) = s
        .get(&format!("/api/v1/runs?page[size]=2&page[after]={next}"))
        .await;
    assert_eq!(ids(&p2), want[2..4]);
    let next = p2["pagination"]["next"].as_str().unwrap().to_string();
    let (_, p3) = s
        .get(&format!("/api/v1/runs?page[size]=2&page[after]={next}"))
        .await;
    assert_eq!(ids(&p3), want[4..6]);
    assert!(p3["pagination"]["next"].is_null(), "{p3}");
    let prev = p3["pagination"]["previous"].as_str().unwrap().to_string();
    let (_, back) = s
        .get(&format!("/api/v1/runs?page[size]=2&page[before]={prev}"))
        .await;
    assert_eq!(ids(&back), want[2..4]);
    // Filters hold for buffered runs too.
    let u: Vec<String> = buffered
        .iter()
        .rev()
        .filter(|id| {
            let i = buffered.iter().position(|x| x == *id).unwrap();
            i % 2 == 1
        })
        .cloned()
        .collect();
    assert_eq!(s.list_ids("filter[taskIdentifier]=u").await, u);
    assert!(s.list_ids("filter[status]=COMPLETED").await.is_empty());
    // Drained, the same runs are listed once each.
    assert_eq!(drain_all(&s).await, 5);
    let mut after = s.list_ids("").await;
    after.sort();
    let mut all = want.clone();
    all.sort();
    assert_eq!(after, all);
}

#[tokio::test]
async fn tags_metadata_and_realtime_of_a_buffered_run() {
    let s = server(1, &[], None).await;
    let version = s.deploy(json!([{"id": "t"}])).await;
    let first = s.trigger("t", json!({}), json!({})).await;
    let tagged = s
        .trigger("t", json!({}), json!({"tags": ["a"], "metadata": {"n": 1}}))
        .await;
    let with_meta = s
        .trigger("t", json!({}), json!({"metadata": {"n": 1}}))
        .await;
    let watched = s.trigger("t", json!({"w": true}), json!({})).await;
    for id in [&tagged, &with_meta, &watched] {
        assert_eq!(waiting_reason(&s, id).await.as_deref(), Some("BUFFERED"));
    }
    // Metadata reads from the entry.
    let (status, m) = call(
        &s,
        "GET",
        &format!("/api/v1/runs/{with_meta}/metadata"),
        None,
    )
    .await;
    assert_eq!((status, &m["metadata"]), (200, &json!({"n": 1})), "{m}");
    // Tagging creates the run, then tags it.
    let (status, v) = s
        .post(
            &format!("/api/v1/runs/{tagged}/tags"),
            json!({"tags": ["b"]}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let run = s.run(&tagged).await;
    assert_eq!(run["tags"], json!(["a", "b"]), "{run}");
    assert_ne!(run["waitingFor"]["reason"], "BUFFERED", "{run}");
    // So does a metadata update.
    let (status, v) = call(
        &s,
        "PUT",
        &format!("/api/v1/runs/{with_meta}/metadata"),
        Some(json!({"metadata": {"n": 2}})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let run = s.run(&with_meta).await;
    assert_eq!(run["metadata"], json!({"n": 2}), "{run}");
    assert_ne!(run["waitingFor"]["reason"], "BUFFERED", "{run}");
    // A realtime subscriber of a buffered run gets it, then its changes once drained.
    let (status, _) = s.cancel(&first).await;
    assert_eq!(status, 200);
    let snapshot = realtime(&s, &format!("/realtime/v1/runs/{watched}?offset=-1")).await;
    assert_eq!(snapshot.status, 200, "{}", snapshot.text);
    assert_eq!(snapshot.json[0]["value"]["friendlyId"], watched.as_str());
    assert_eq!(snapshot.json[0]["value"]["status"], "PENDING");
    let offset = snapshot.header("electric-offset").unwrap();
    let live_path =
        format!("/realtime/v1/runs/{watched}?handle=run-{watched}&live=true&offset={offset}");
    let live = {
        let base = s.base_url.clone();
        tokio::spawn(async move {
            let req = Req::new("GET", &live_path).header("x-trigger-api-version", "2025-07-16");
            send_to(&reqwest::Client::new(), &base, req).await
        })
    };
    assert_eq!(drain_all(&s).await, 1);
    let got = s.dequeue(&version, 5, 0).await;
    assert_eq!(got.len(), 3, "{got:?}");
    let r = live.await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json[0]["value"]["friendlyId"],
        watched.as_str(),
        "{}",
        r.text
    );
    assert_eq!(r.json[0]["value"]["status"], "DEQUEUED", "{}", r.text);
}

async fn realtime(s: &TestServer, path: &str) -> Resp {
    let req = Req::new("GET", path).header("x-trigger-api-version", "2025-07-16");
    send_to(&reqwest::Client::new(), &s.base_url, req).await
}

#[tokio::test]
async fn batch_items_are_gated_buffered_into_their_batch_and_drained() {
    let s = server(2, &[], None).await;
    s.deploy(json!([{"id": "t"}])).await;
    let r = s
        .create_batch(json!({"runCount": 6, "taskIdentifiers": ["t"]}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let batch = r.json["id"].as_str().unwrap().to_string();
    let items: Vec<Value> = (0..6)
        .map(|i| {
            json!({"index": i, "task": "t", "payload": format!("{{\"i\":{i}}}"),
                   "options": {"payloadType": "application/json"}})
        })
        .collect();
    let r = s.send_items(&batch, &items[..4]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["itemsAccepted"], 4);
    let r = s.send_items(&batch, &items).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (
            &r.json["itemsAccepted"],
            &r.json["itemsDeduplicated"],
            &r.json["sealed"]
        ),
        (&json!(2), &json!(4), &json!(true))
    );
    // Two items passed the gate; the other four wait in the buffer, yet belong to the batch.
    let (status, v) = s.get(&format!("/api/v2/batches/{batch}")).await;
    assert_eq!(status, 200, "{v}");
    let runs: Vec<String> = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    assert_eq!(runs.len(), 6, "{v}");
    assert_eq!(v["status"], "PROCESSING", "{v}");
    let mut buffered = 0;
    for (i, id) in runs.iter().enumerate() {
        let run = s.run(id).await;
        assert_eq!(run["payload"], json!({"i": i}), "{run}");
        assert_eq!(run["batchId"], batch.as_str(), "{run}");
        if run["waitingFor"]["reason"] == "BUFFERED" {
            buffered += 1;
        }
    }
    // With the Redis buffer, batch items are not gated (docs/mollifier.md): all six are runs.
    let want = if redis_buffer_mode() { 0 } else { 4 };
    assert_eq!(buffered, want);
    assert_eq!(drain_all(&s).await, want);
    let (_, after) = s.get(&format!("/api/v2/batches/{batch}")).await;
    assert_eq!(after["runs"], v["runs"], "the same runs, in item order");
    for id in &runs {
        let run = s.run(id).await;
        assert_ne!(run["waitingFor"]["reason"], "BUFFERED", "{run}");
        assert_eq!(run["batchId"], batch.as_str(), "{run}");
    }
    assert_eq!(s.list_all(&format!("filter[batch]={batch}")).await.len(), 6);
}

#[tokio::test]
async fn a_bad_entry_in_a_drained_batch_fails_alone() {
    let s = server(1, &[], None).await;
    let version = s.deploy(json!([{"id": "t"}])).await;
    let first = s.trigger("t", json!({"i": 0}), json!({})).await;
    let mut ids = Vec::new();
    for i in 1..8 {
        ids.push(s.trigger("t", json!({"i": i}), json!({})).await);
    }
    for id in &ids {
        assert_eq!(waiting_reason(&s, id).await.as_deref(), Some("BUFFERED"));
    }
    // One entry in the middle now names a version no deployment has.
    let bad = &ids[3];
    let (from, to) = (
        format!("\"version\":\"{version}\""),
        "\"version\":\"0.0.0-gone\"".to_string(),
    );
    match redis_buffer_prefix(&s.data_dir) {
        Some(prefix) => {
            let replace = "local b = redis.call('HGET', KEYS[1], 'body') \
                local i, j = string.find(b, ARGV[1], 1, true) \
                redis.call('HSET', KEYS[1], 'body', b:sub(1, i - 1) .. ARGV[2] .. b:sub(j + 1)) \
                return 1";
            let key = format!("{{{prefix}}}:m:e:{bad}");
            redis_cli(&["EVAL", replace, "1", &key, &from, &to]);
        }
        None => store_sql(
            &s,
            &format!(
                "UPDATE mollifier_entries SET body = REPLACE(body, '{from}', '{to}') \
                 WHERE run_id = '{bad}'"
            ),
        ),
    }
    // One tick takes the seven entries as one batch: the bad one fails, the others run.
    let tick = drain(&s).await;
    assert_eq!(
        (&tick["created"], &tick["failed"]),
        (&json!(6), &json!(1)),
        "{tick}"
    );
    let run = s.run(bad).await;
    assert_eq!(run["status"], "FAILED", "{run}");
    let message = run["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("0.0.0-gone"), "{run}");
    let good: Vec<&String> = ids.iter().filter(|id| *id != bad).collect();
    for id in &good {
        assert_eq!(s.status(id).await, "QUEUED");
        assert_ne!(waiting_reason(&s, id).await.as_deref(), Some("BUFFERED"));
    }
    assert_eq!(drain_all(&s).await, 0, "nothing left in the buffer");
    // Still in trigger order.
    let got: Vec<String> = s
        .dequeue(&version, 20, 0)
        .await
        .iter()
        .map(|r| r["runId"].as_str().unwrap().to_string())
        .collect();
    let want: Vec<String> = [&first].into_iter().chain(good).cloned().collect();
    assert_eq!(got, want);
}

/// The value of the sample `name` whose labels contain every one of `labels` (`k="v"`).
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(head, _)| {
            let (n, rest) = head.split_once('{').unwrap_or((head, ""));
            n == name && labels.iter().all(|l| rest.contains(l))
        })
        .map(|(_, v)| v.parse().expect("a number"))
}

#[tokio::test]
async fn metrics_report_decisions_buffers_and_drains() {
    let token = "metrics-token-0123456789";
    let s = server(2, &["--metrics-token", token], None).await;
    s.deploy(json!([{"id": "t"}])).await;
    for _ in 0..5 {
        s.trigger("t", json!({}), json!({})).await;
    }
    s.advance(3_000).await;
    let scrape = || async {
        let r = s.send(Req::new("GET", "/metrics").key(token)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.text
    };
    let text = scrape().await;
    let decisions = |text: &str, outcome: &str, reason: &str| {
        sample(
            text,
            "trigr_mollifier_decisions_total",
            &[
                &format!("outcome=\"{outcome}\""),
                &format!("reason=\"{reason}\""),
            ],
        )
    };
    assert_eq!(
        decisions(&text, "pass_through", "below_threshold"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(decisions(&text, "mollify", "tripped"), Some(3.0), "{text}");
    assert_eq!(
        decisions(&text, "shadow_log", "tripped"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "trigr_mollifier_buffered_total", &[]),
        Some(3.0)
    );
    assert_eq!(
        sample(&text, "trigr_mollifier_buffer_depth", &[]),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "trigr_mollifier_buffer_oldest_age_seconds", &[]),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "trigr_mollifier_tripped", &[]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(drain_all(&s).await, 3);
    let text = scrape().await;
    assert_eq!(
        sample(&text, "trigr_mollifier_drained_total", &[]),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "trigr_mollifier_expired_total", &[]),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "trigr_mollifier_buffer_fail_open_total", &[]),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "trigr_mollifier_buffer_depth", &[]),
        None,
        "{text}"
    );
    assert_eq!(
        sample(&text, "trigr_mollifier_drain_lag_seconds_count", &[]),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "trigr_mollifier_drain_lag_seconds_bucket",
            &["le=\"2.56\""]
        ),
        Some(0.0),
        "{text}"
    );
}

fn admin(cmd: &[&str], s: &TestServer) -> std::process::Output {
    let mut args: Vec<String> = cmd.iter().map(|a| a.to_string()).collect();
    args.extend(store_args(s));
    std::process::Command::new(binary())
        .args(&args)
        .output()
        .expect("run trigr")
}

fn admin_ok(cmd: &[&str], s: &TestServer) -> String {
    let out = admin(cmd, s);
    assert!(
        out.status.success(),
        "trigr {cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn overrides_through_the_api_and_the_cli_with_status() {
    let s = server(1000, &[], None).await;
    s.deploy(json!([{"id": "t"}])).await;
    let (status, v) = s.get("/api/v1/mollifier").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (&v["mode"], &v["threshold"], &v["tripped"], &v["depth"]),
        (&json!("on"), &json!(1000), &json!(false), &json!(0))
    );
    // Bad overrides are refused with nothing stored.
    for bad in [
        json!({"threshold": 0}),
        json!({"mode": "sometimes"}),
        json!({"holdMs": -1}),
        json!({"extra": 1}),
        json!({"threshold": 1e20}),
    ] {
        let (status, v) = call(&s, "PUT", "/api/v1/mollifier", Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}: {v}");
        assert!(v["error"].is_string(), "{v}");
    }
    // An environment override of 1 trigger per second trips it at the second.
    let (status, v) = call(
        &s,
        "PUT",
        "/api/v1/mollifier",
        Some(json!({"threshold": 1, "holdMs": 60000})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["threshold"], 1, "{v}");
    s.trigger("t", json!({}), json!({})).await;
    let late = s.trigger("t", json!({}), json!({})).await;
    assert_eq!(waiting_reason(&s, &late).await.as_deref(), Some("BUFFERED"));
    let (_, v) = s.get("/api/v1/mollifier").await;
    assert_eq!(
        (&v["tripped"], &v["depth"]),
        (&json!(true), &json!(1)),
        "{v}"
    );
    // The CLI sees it (the drainer published the trip).
    drain(&s).await;
    let before = s.trigger("t", json!({}), json!({})).await;
    assert_eq!(
        waiting_reason(&s, &before).await.as_deref(),
        Some("BUFFERED")
    );
    let out = admin_ok(&["mollifier", "status"], &s);
    let dev = out.lines().find(|l| l.contains(" dev ")).expect(&out);
    assert!(dev.contains("threshold=1 holdMs=60000"), "{out}");
    assert!(dev.trim_end().ends_with("yes"), "{out}");
    // Switched off for the environment from the CLI: triggers go straight to the engine
    // once the server reloads the overrides (its drainer does, every 5 s).
    admin_ok(&["mollifier", "set", "off", "--env", "dev"], &s);
    s.advance(6_000).await;
    drain(&s).await;
    let direct = s.trigger("t", json!({}), json!({})).await;
    assert_ne!(
        waiting_reason(&s, &direct).await.as_deref(),
        Some("BUFFERED")
    );
    let (_, v) = s.get("/api/v1/mollifier").await;
    assert_eq!(v["mode"], "off", "{v}");
    let out = admin(&["mollifier", "set", "sometimes", "--env", "dev"], &s);
    assert!(!out.status.success());
    let out = admin(&["mollifier", "set", "default", "--threshold", "5"], &s);
    assert!(!out.status.success());
    // Back to the defaults.
    admin_ok(&["mollifier", "set", "default", "--env", "dev"], &s);
    let (status, v) = call(&s, "DELETE", "/api/v1/mollifier", None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (&v["mode"], &v["threshold"]),
        (&json!("on"), &json!(1000)),
        "{v}"
    );
}

/// Sends a trigger request whose body stops halfway; answers the connection and the rest of
/// the body, to be sent later.
async fn half_sent_trigger(s: &TestServer, key: &str) -> (tokio::net::TcpStream, Vec<u8>) {
    use tokio::io::AsyncWriteExt;
    let body = br#"{"payload": {"held": true}}"#;
    let host = s.base_url.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&host)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/v1/tasks/t/trigger HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.expect("send the head");
    let (first, rest) = body.split_at(body.len() / 2);
    tcp.write_all(first).await.expect("send half the body");
    (tcp, rest.to_vec())
}

/// Sends the rest of half-sent triggers, all of them before reading any answer (one may be
/// waiting for the slot another holds), and reads their answers: status line and body each.
async fn finish_triggers(held: Vec<(tokio::net::TcpStream, Vec<u8>)>) -> Vec<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut streams = Vec::new();
    for (mut tcp, rest) in held {
        tcp.write_all(&rest).await.expect("send the rest");
        streams.push(tcp);
    }
    let mut answers = Vec::new();
    for mut tcp in streams {
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).await.expect("the answer");
        answers.push(answer);
    }
    answers
}

/// The other environment (staging) triggers a run, answered at once.
async fn other_env_triggers(s: &TestServer) {
    let other = s
        .post_as(
            STAGING_KEY,
            "/api/v1/tasks/t/trigger",
            json!({"payload": {}}),
        )
        .await;
    assert_eq!(other.0, 200, "{}", other.1);
}

/// A whole trigger of the dev environment is answered, with a buffered run, while another of
/// its requests holds its body halfway: the environment meets no admission slot.
async fn passes_a_held_request(s: &TestServer) {
    let held = vec![half_sent_trigger(s, DEV_KEY).await];
    let alone = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        s.try_trigger("t", json!({"alone": true}), json!({})),
    )
    .await
    .expect("answered while another request of its environment is unfinished");
    assert_eq!(alone.0, 200, "{}", alone.1);
    let id = alone.1["id"].as_str().expect("a run id");
    assert_eq!(s.run(id).await["waitingFor"]["reason"], "BUFFERED");
    let answers = finish_triggers(held).await;
    assert!(answers[0].starts_with("HTTP/1.1 200"), "{answers:?}");
}

/// While an environment is tripped and another one triggers, the server works on at most
/// `--mollifier-admit` of the tripped environment's trigger requests at once; the others wait
/// for a slot before their body is read, and other environments pass at once. Alone on the
/// server, the tripped environment meets no slot.
#[tokio::test]
async fn a_tripped_environment_gets_its_admission_slots_and_no_more() {
    let token = "metrics-token-0123456789";
    let s = server(
        1,
        &["--mollifier-admit", "1", "--metrics-token", token],
        None,
    )
    .await;
    s.deploy(json!([{"id": "t"}])).await;
    s.deploy_as(STAGING_KEY, json!([{"id": "t"}]), true).await;
    let waits = || async {
        let r = s.send(Req::new("GET", "/metrics").key(token)).await;
        sample(&r.text, "trigr_mollifier_admission_waits_total", &[]).expect("the counter")
    };
    let waits_reach = |n: f64| async move {
        for _ in 0..500 {
            if waits().await >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("admission waits never reached {n}");
    };
    // Before the environment trips, its requests meet no slot: two held requests run at once.
    let held = vec![
        half_sent_trigger(&s, DEV_KEY).await,
        half_sent_trigger(&s, DEV_KEY).await,
    ];
    for answer in finish_triggers(held).await {
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    assert_eq!(waits().await, 0.0);
    assert_eq!(
        s.run(&s.trigger("t", json!({}), json!({})).await).await["waitingFor"]["reason"],
        "BUFFERED"
    );

    // Alone on the server, the tripped environment meets no slot: a request passes one whose
    // body stops halfway.
    passes_a_held_request(&s).await;
    assert_eq!(waits().await, 0.0);

    // Once another environment triggers, the tripped one gets one slot. Two requests whose
    // bodies stop halfway: one holds the slot, the other waits for it.
    other_env_triggers(&s).await;
    let held = vec![
        half_sent_trigger(&s, DEV_KEY).await,
        half_sent_trigger(&s, DEV_KEY).await,
    ];
    waits_reach(1.0).await;
    // A third, whole request of the same environment waits too, unanswered.
    let third = {
        let (http, url) = (s.http.clone(), s.url("/api/v1/tasks/t/trigger"));
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth(DEV_KEY)
                .json(&json!({"payload": {"third": true}}))
                .send()
                .await
                .expect("answered")
        })
    };
    waits_reach(2.0).await;
    assert!(!third.is_finished(), "a request past the slot was answered");
    // Another environment is not held up by the tripped one's slot.
    other_env_triggers(&s).await;
    // Once the bodies arrive, every request is answered with its own run.
    let mut ids = HashSet::new();
    for answer in finish_triggers(held).await {
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let body = answer.split("\r\n\r\n").nth(1).expect("a body");
        let id = body
            .split("\"id\":\"")
            .nth(1)
            .and_then(|b| b.split('"').next());
        ids.insert(id.expect("a run id").to_string());
    }
    let third = third.await.expect("the third request");
    assert_eq!(third.status(), 200);
    let third: Value = third.json().await.expect("json");
    ids.insert(third["id"].as_str().expect("a run id").to_string());
    assert_eq!(ids.len(), 3, "{ids:?}");
    for id in &ids {
        assert_eq!(s.run(id).await["waitingFor"]["reason"], "BUFFERED", "{id}");
    }
    assert_eq!(waits().await, 2.0);

    // A second after the other environment's last trigger, the burst has the server to
    // itself again, though it is still tripped.
    s.advance(2_000).await;
    passes_a_held_request(&s).await;
    assert_eq!(waits().await, 2.0);
}
