//! Environment variables (`/api/v1/projects/{ref}/envvars/{slug}/…`, Trigger.dev's `envvars`
//! routes) against a real server, on the store the suite runs on:
//!
//! * every route in upstream's wire shapes (a bare array from list, `{"success": true}` from
//!   writes), `stg` and `staging` alike, secret values redacted;
//! * a key addressing another project or environment refused with upstream's 400 messages;
//! * names, values, counts and imports bounded, each refused before anything is written; an
//!   import all or nothing, `override: false` keeping existing values;
//! * values encrypted at rest: the store holds no plain value, a value moved to another name
//!   does not open, and a server started with another key refuses with a clear error;
//! * the Rust client and `ctx.env_var` inside a task of the SDK's worker.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use trigr_sdk::Client;

fn base(project: &str, slug: &str) -> String {
    format!("/api/v1/projects/{project}/envvars/{slug}")
}

async fn ok(
    server: &TestServer,
    key: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Value {
    let (s, v) = server.call_as(key, method, path, body).await;
    assert_eq!(s, 200, "{method} {path}: {v}");
    v
}

/// A 4xx whose `{"error"}` mentions `needle`.
async fn refused(
    server: &TestServer,
    key: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    status: u16,
    needle: &str,
) {
    let (s, v) = server.call_as(key, method, path, body.clone()).await;
    assert_eq!(s, status, "{method} {path} {body:?}: {v}");
    let message = v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error: {v}"));
    assert!(
        message.to_lowercase().contains(&needle.to_lowercase()),
        "{method} {path}: '{message}' does not mention '{needle}'"
    );
}

/// Every route in upstream's shapes, with the staging slug both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_answer_in_upstream_shapes() {
    let server = TestServer::start().await;
    let p = default_project_ref(&server);
    let dev = base(&p, "dev");
    let success = json!({"success": true});
    assert_eq!(ok(&server, DEV_KEY, "GET", &dev, None).await, json!([]));
    let created = ok(
        &server,
        DEV_KEY,
        "POST",
        &dev,
        Some(json!({"name": "B_URL", "value": "https://b"})),
    )
    .await;
    assert_eq!(created, success);
    let body = json!({"name": "A_KEY", "value": "s3cret", "isSecret": true});
    ok(&server, DEV_KEY, "POST", &dev, Some(body.clone())).await;
    refused(
        &server,
        DEV_KEY,
        "POST",
        &dev,
        Some(body),
        409,
        "already exists",
    )
    .await;
    assert_eq!(
        ok(&server, DEV_KEY, "GET", &dev, None).await,
        json!([
            {"name": "A_KEY", "value": "<redacted>", "isSecret": true},
            {"name": "B_URL", "value": "https://b", "isSecret": false},
        ])
    );
    assert_eq!(
        ok(&server, DEV_KEY, "GET", &format!("{dev}/B_URL"), None).await,
        json!({"name": "B_URL", "value": "https://b", "isSecret": false})
    );
    assert_eq!(
        ok(&server, DEV_KEY, "GET", &format!("{dev}/A_KEY"), None).await["value"],
        "<redacted>"
    );
    let put = ok(
        &server,
        DEV_KEY,
        "PUT",
        &format!("{dev}/B_URL"),
        Some(json!({"value": "v2"})),
    )
    .await;
    assert_eq!(put, success);
    ok(
        &server,
        DEV_KEY,
        "POST",
        &format!("{dev}/A_KEY"),
        Some(json!({"value": "new"})),
    )
    .await;
    let a = ok(&server, DEV_KEY, "GET", &format!("{dev}/A_KEY"), None).await;
    assert_eq!(a["isSecret"], true, "an update keeps the secrecy");
    assert_eq!(
        ok(&server, DEV_KEY, "GET", &format!("{dev}/B_URL"), None).await["value"],
        "v2"
    );
    assert_eq!(
        ok(&server, DEV_KEY, "DELETE", &format!("{dev}/B_URL"), None).await,
        success
    );
    for (m, body) in [
        ("GET", None),
        ("DELETE", None),
        ("PUT", Some(json!({"value": "x"}))),
    ] {
        refused(
            &server,
            DEV_KEY,
            m,
            &format!("{dev}/B_URL"),
            body,
            404,
            "not found",
        )
        .await;
    }
    // Staging, as `stg` and as `staging`; dev's variables are not there.
    let stg = base(&p, "stg");
    ok(
        &server,
        STAGING_KEY,
        "POST",
        &stg,
        Some(json!({"name": "S", "value": "1"})),
    )
    .await;
    let listed = ok(&server, STAGING_KEY, "GET", &base(&p, "staging"), None).await;
    assert_eq!(
        listed,
        json!([{"name": "S", "value": "1", "isSecret": false}])
    );
    // A secret key needs no JWT route: a public token is refused.
    let (s, _) = server.call_as("a.b.c", "GET", &dev, None).await;
    assert_eq!(s, 401);
}

/// A key may address only its own project and environment, and says so before reading
/// a body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_projects_and_environments_are_refused() {
    let server = TestServer::start().await;
    let p = default_project_ref(&server);
    let body = Some(json!({"name": "X", "value": "1"}));
    for slug in ["stg", "staging", "prod", "preview", "nope"] {
        refused(
            &server,
            DEV_KEY,
            "POST",
            &base(&p, slug),
            body.clone(),
            400,
            "Invalid environment slug",
        )
        .await;
    }
    refused(
        &server,
        PROD_KEY,
        "GET",
        &base(&p, "dev"),
        None,
        400,
        "Invalid environment slug",
    )
    .await;
    for project in ["proj_aaaaaaaaaaaaaaaaaaaa", "x"] {
        refused(
            &server,
            DEV_KEY,
            "GET",
            &base(project, "dev"),
            None,
            400,
            "Invalid project ref",
        )
        .await;
        // A body that is not even JSON: the address is refused first.
        let r = server
            .send(Req::new("POST", &base(project, "dev")).raw_body("application/json", "{{{"))
            .await;
        assert_eq!(r.status, 400);
        assert!(
            r.json["error"]
                .as_str()
                .unwrap()
                .contains("Invalid project ref"),
            "{}",
            r.text
        );
    }
    let (s, _) = server
        .call_as(
            "tr_dev_unknown0000000000000000",
            "GET",
            &base(&p, "dev"),
            None,
        )
        .await;
    assert_eq!(s, 401);
    assert_eq!(
        ok(&server, DEV_KEY, "GET", &base(&p, "dev"), None).await,
        json!([])
    );
}

/// Names, values, counts and imports are bounded; a refused write leaves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounds_are_checked_before_anything_is_written() {
    let server = TestServer::start().await;
    let p = default_project_ref(&server);
    let dev = base(&p, "dev");
    let long = "N".repeat(257);
    for (name, needle) in [
        ("", "empty"),
        ("1ABC", "not starting with a digit"),
        ("A-B", "letters, digits"),
        ("TRIGGER_SECRET_KEY", "reserved"),
        (long.as_str(), "limit is 256"),
    ] {
        let body = json!({"name": name, "value": "v"});
        refused(&server, DEV_KEY, "POST", &dev, Some(body), 400, needle).await;
    }
    let big = "x".repeat(64 * 1024 + 1);
    refused(
        &server,
        DEV_KEY,
        "POST",
        &dev,
        Some(json!({"name": "A", "value": big})),
        413,
        "limit",
    )
    .await;
    refused(
        &server,
        DEV_KEY,
        "POST",
        &dev,
        Some(json!({"name": "A", "value": "a\u{0}b"})),
        400,
        "NUL",
    )
    .await;
    refused(
        &server,
        DEV_KEY,
        "POST",
        &dev,
        Some(json!({"name": "A", "value": 5})),
        400,
        "",
    )
    .await;
    refused(
        &server,
        DEV_KEY,
        "GET",
        &format!("{dev}/1BAD"),
        None,
        400,
        "digit",
    )
    .await;
    let import = format!("{dev}/import");
    refused(
        &server,
        DEV_KEY,
        "POST",
        &import,
        Some(json!({"variables": {}})),
        400,
        "at least one",
    )
    .await;
    // One bad name in an import: nothing of it written.
    let bad = json!({"variables": {"GOOD": "1", "BAD-NAME": "2"}});
    refused(
        &server,
        DEV_KEY,
        "POST",
        &import,
        Some(bad),
        400,
        "BAD-NAME",
    )
    .await;
    let parents = json!({"variables": {"A": "1"}, "parentVariables": {"B": "2"}});
    refused(
        &server,
        DEV_KEY,
        "POST",
        &import,
        Some(parents),
        400,
        "preview",
    )
    .await;
    let too_many: serde_json::Map<String, Value> =
        (0..501).map(|i| (format!("V{i}"), json!("x"))).collect();
    refused(
        &server,
        DEV_KEY,
        "POST",
        &import,
        Some(json!({"variables": too_many})),
        413,
        "500",
    )
    .await;
    assert_eq!(ok(&server, DEV_KEY, "GET", &dev, None).await, json!([]));

    // Import: override false keeps, override true replaces, isSecret marks.
    ok(
        &server,
        DEV_KEY,
        "POST",
        &dev,
        Some(json!({"name": "KEEP", "value": "old"})),
    )
    .await;
    let first = json!({"variables": {"KEEP": "new", "ADDED": "a"}, "override": false});
    ok(&server, DEV_KEY, "POST", &import, Some(first)).await;
    assert_eq!(
        ok(&server, DEV_KEY, "GET", &format!("{dev}/KEEP"), None).await["value"],
        "old"
    );
    assert_eq!(
        ok(&server, DEV_KEY, "GET", &format!("{dev}/ADDED"), None).await["value"],
        "a"
    );
    let second =
        json!({"variables": {"KEEP": "new", "HIDDEN": "h"}, "override": true, "isSecret": true});
    ok(&server, DEV_KEY, "POST", &import, Some(second)).await;
    let hidden = ok(&server, DEV_KEY, "GET", &format!("{dev}/HIDDEN"), None).await;
    assert_eq!(
        hidden,
        json!({"name": "HIDDEN", "value": "<redacted>", "isSecret": true})
    );
    let values = ok(&server, DEV_KEY, "GET", "/api/v1/worker/env-vars", None).await;
    assert_eq!(values["variables"]["KEEP"], "new");

    // At most 500 per environment: an import past it writes nothing, a create is refused.
    let fill: serde_json::Map<String, Value> =
        (0..496).map(|i| (format!("F{i}"), json!("x"))).collect();
    ok(
        &server,
        DEV_KEY,
        "POST",
        &import,
        Some(json!({"variables": fill})),
    )
    .await;
    assert_eq!(
        ok(&server, DEV_KEY, "GET", &dev, None)
            .await
            .as_array()
            .unwrap()
            .len(),
        499
    );
    let past: serde_json::Map<String, Value> =
        (0..2).map(|i| (format!("P{i}"), json!("x"))).collect();
    refused(
        &server,
        DEV_KEY,
        "POST",
        &import,
        Some(json!({"variables": past})),
        409,
        "limit",
    )
    .await;
    assert_eq!(
        ok(&server, DEV_KEY, "GET", &dev, None)
            .await
            .as_array()
            .unwrap()
            .len(),
        499
    );
    ok(
        &server,
        DEV_KEY,
        "POST",
        &dev,
        Some(json!({"name": "LAST", "value": "x"})),
    )
    .await;
    refused(
        &server,
        DEV_KEY,
        "POST",
        &dev,
        Some(json!({"name": "MORE", "value": "x"})),
        409,
        "limit",
    )
    .await;
    // Updating and re-importing existing names is still fine at the limit.
    let again = json!({"variables": {"F1": "y"}, "override": true});
    ok(&server, DEV_KEY, "POST", &import, Some(again)).await;
}

/// The `value` column of every stored variable, as (name, stored text).
fn stored(server: &TestServer) -> Vec<(String, String)> {
    let schema_file = server.data_dir.join("postgres-schema");
    match std::fs::read_to_string(&schema_file) {
        Ok(schema) => {
            let url = std::env::var("TRIGR_TEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
            std::thread::spawn(move || {
                let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                let sql = format!("SELECT name, value FROM {}.env_vars", schema.trim());
                c.query(&sql, &[])
                    .unwrap()
                    .iter()
                    .map(|r| (r.get(0), r.get(1)))
                    .collect()
            })
            .join()
            .unwrap()
        }
        Err(_) => {
            let conn = rusqlite::Connection::open(server.data_dir.join("trigr.db")).unwrap();
            let mut q = conn.prepare("SELECT name, value FROM env_vars").unwrap();
            q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        }
    }
}

/// Values are sealed at rest, bound to their name, and unreadable under another key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_are_encrypted_at_rest() {
    let mut server = TestServer::start().await;
    let p = default_project_ref(&server);
    let dev = base(&p, "dev");
    let plain = "plain-value-that-must-not-be-stored";
    ok(
        &server,
        DEV_KEY,
        "POST",
        &dev,
        Some(json!({"name": "TOKEN", "value": plain})),
    )
    .await;
    ok(
        &server,
        DEV_KEY,
        "POST",
        &dev,
        Some(json!({"name": "OTHER", "value": "o"})),
    )
    .await;
    let rows = stored(&server);
    assert_eq!(rows.len(), 2);
    for (name, value) in &rows {
        assert!(value.starts_with("v1:"), "{name}: {value}");
        assert!(!value.contains(plain), "{name}: {value}");
    }
    if !server.data_dir.join("postgres-schema").exists() {
        let file = std::fs::read(server.data_dir.join("trigr.db")).unwrap();
        let needle = plain.as_bytes();
        assert!(
            !file.windows(needle.len()).any(|w| w == needle),
            "plain value in the file"
        );
    }
    let key_file = server.data_dir.join("encryption.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A sealed value moved under another name does not open.
    let token = rows.iter().find(|r| r.0 == "TOKEN").unwrap().1.clone();
    store_sql(
        &server,
        &format!("UPDATE env_vars SET value = '{token}' WHERE name = 'OTHER'"),
    );
    refused(
        &server,
        DEV_KEY,
        "GET",
        &format!("{dev}/OTHER"),
        None,
        409,
        "cannot be decrypted",
    )
    .await;
    assert_eq!(
        ok(&server, DEV_KEY, "GET", &format!("{dev}/TOKEN"), None).await["value"],
        plain
    );
    ok(&server, DEV_KEY, "DELETE", &format!("{dev}/OTHER"), None).await;

    // Another key: a clear refusal, never garbage.
    server.terminate();
    let other_key = "ab".repeat(32);
    let mut other = TestServer::start_with(Options {
        data_dir: Some(server.data_dir.clone()),
        args: vec!["--encryption-key".into(), other_key],
        ..Default::default()
    })
    .await;
    refused(&other, DEV_KEY, "GET", &dev, None, 409, "another key").await;
    refused(
        &other,
        DEV_KEY,
        "GET",
        "/api/v1/worker/env-vars",
        None,
        409,
        "--encryption-key",
    )
    .await;
    other.terminate();
    // The key file's key, given by value (base64 this time), reads it again.
    let hex_key = std::fs::read_to_string(&key_file).unwrap();
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hex_key[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let b64 = base64_encode(&bytes);
    let same = TestServer::start_with(Options {
        data_dir: Some(server.data_dir.clone()),
        env: vec![("TRIGR_ENCRYPTION_KEY".into(), b64)],
        ..Default::default()
    })
    .await;
    assert_eq!(
        ok(&same, DEV_KEY, "GET", &format!("{dev}/TOKEN"), None).await["value"],
        plain
    );
}

/// Standard base64 with padding.
fn base64_encode(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A bad `--encryption-key` stops the server at start with a sentence.
#[test]
fn a_bad_key_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(binary())
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--encryption-key",
            "abcd",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("TRIGR_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("encryption key"), "{err}");
}

/// The Rust client's env var API, and `ctx.env_var` in a task of the SDK's worker: set
/// through the API, read in the task; a change is seen by the next run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_and_tasks_read_variables() {
    use trigr_sdk::{task, Worker};

    let server = TestServer::start().await;
    let p = default_project_ref(&server);
    let c = Client::new(&server.base_url, DEV_KEY).expect("client");
    let vars = c.env_vars();
    vars.create(&p, "dev", "GREETING", "hello", false)
        .await
        .unwrap();
    vars.create(&p, "dev", "API_KEY", "k-123", true)
        .await
        .unwrap();
    let err = vars
        .create(&p, "dev", "GREETING", "x", false)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(409));
    let listed = vars.list(&p, "dev").await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].value, "<redacted>");
    assert_eq!(
        vars.retrieve(&p, "dev", "GREETING").await.unwrap().value,
        "hello"
    );
    let imported = BTreeMap::from([("REGION".to_string(), "eu".to_string())]);
    vars.import(&p, "dev", &imported, false, false)
        .await
        .unwrap();
    vars.delete(&p, "dev", "REGION").await.unwrap();
    assert_eq!(
        vars.delete(&p, "dev", "REGION").await.unwrap_err().status(),
        Some(404)
    );
    assert_eq!(vars.list(&p, "stg").await.unwrap_err().status(), Some(400));

    let reader = task("reads-env").run(|_: Value, ctx| async move {
        let greeting = ctx.env_var("GREETING").await?;
        let key = ctx.env_var("API_KEY").await?;
        let missing = ctx.env_var("MISSING").await?;
        let all = ctx.env_vars().await?.len();
        Ok(json!({"greeting": greeting, "key": key, "missing": missing, "count": all}))
    });
    let worker = Worker::new(c.clone())
        .poll_wait(Duration::from_millis(200))
        .shutdown_timeout(Duration::from_secs(10))
        .task(reader.clone())
        .start()
        .await
        .expect("worker");
    let run = |c: Client| {
        let reader = reader.clone();
        async move {
            let handle = c.trigger(&reader, &json!({})).await.expect("trigger");
            c.poll_run(&handle.id, Duration::from_secs(30))
                .await
                .expect("the run ends")
                .output
        }
    };
    assert_eq!(
        run(c.clone()).await,
        Some(json!({"greeting": "hello", "key": "k-123", "missing": null, "count": 2}))
    );
    vars.update(&p, "dev", "GREETING", "bonjour").await.unwrap();
    assert_eq!(run(c.clone()).await.unwrap()["greeting"], "bonjour");
    worker.shutdown().await.expect("shutdown");
}

/// Concurrent imports near the limit: the environment ends with exactly 500 variables, and
/// every import either wrote all its variables or none.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_imports_never_pass_the_limit() {
    let server = std::sync::Arc::new(TestServer::start().await);
    let p = default_project_ref(&server);
    let import = format!("{}/import", base(&p, "dev"));
    let fill: serde_json::Map<String, Value> =
        (0..490).map(|i| (format!("F{i}"), json!("x"))).collect();
    ok(
        &server,
        DEV_KEY,
        "POST",
        &import,
        Some(json!({"variables": fill})),
    )
    .await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..10 {
        let (server, import) = (server.clone(), import.clone());
        set.spawn(async move {
            let vars = json!({"variables": {format!("R{i}A"): "a", format!("R{i}B"): "b"}});
            server.call_as(DEV_KEY, "POST", &import, Some(vars)).await.0
        });
    }
    let mut statuses = Vec::new();
    while let Some(s) = set.join_next().await {
        statuses.push(s.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 409, 409, 409, 409, 409]);
    let listed = ok(&server, DEV_KEY, "GET", &base(&p, "dev"), None).await;
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 500);
    for i in 0..10 {
        let (a, b) = (format!("R{i}A"), format!("R{i}B"));
        assert_eq!(
            names.contains(&a.as_str()),
            names.contains(&b.as_str()),
            "an import is all or nothing"
        );
    }
}
