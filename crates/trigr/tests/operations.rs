//! Operating trigr: the admin commands on the store (`trigr keys`, `trigr projects`,
//! `trigr backup`, `trigr restore`), a first start that cannot listen, and upgrades from a
//! store of the previous schema version.
//!
//! Every admin command runs as the real `trigr` binary against the store of a real server,
//! and every effect is checked over the server's HTTP API.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// Runs `trigr <args>` and returns its output.
fn trigr(args: &[String]) -> Output {
    Command::new(binary())
        .args(args)
        .env_remove("TRIGR_DATA_DIR")
        .env_remove("TRIGR_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run trigr")
}

/// Runs an admin command on `store` (its `--data-dir` or `--database-url`); returns stdout,
/// panicking with stderr when it fails.
fn admin(cmd: &[&str], store: &[String]) -> String {
    let out = admin_output(cmd, store);
    assert!(
        out.status.success(),
        "trigr {cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn admin_output(cmd: &[&str], store: &[String]) -> Output {
    let mut args: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
    args.extend(store.iter().cloned());
    trigr(&args)
}

/// Starts a server with `cmd`, returns what it printed up to its address, and stops it.
fn start_and_read(cmd: &mut Command) -> String {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .expect("start trigr server");
    let mut shown = String::new();
    let stdout = child.stdout.take().expect("stdout");
    for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
        let line = line.expect("server output");
        shown.push_str(&line);
        shown.push('\n');
        if line.starts_with("trigr listening on") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    shown
}

/// The key an admin command printed.
fn printed_key(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("TRIGGER_SECRET_KEY="))
        .unwrap_or_else(|| panic!("no key in: {out}"))
        .to_string()
}

/// Asks with `key` until the server refuses it, at most a second (servers read a key again
/// after half a second); returns the refusal.
async fn refused_within_a_second(server: &TestServer, key: &str) -> (u16, Value) {
    let since = Instant::now();
    loop {
        let (status, body) = accepted(server, key).await;
        if status != 200 || since.elapsed() > Duration::from_secs(1) {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether the server accepts `key` (a request that needs a secret key).
async fn accepted(server: &TestServer, key: &str) -> (u16, Value) {
    server.get_as(key, "/api/v1/runs?page%5Bsize%5D=1").await
}

#[tokio::test]
async fn a_first_start_that_cannot_listen_creates_nothing() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = Command::new(binary())
        .args([
            "server",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(&data)
        .env_remove("TRIGR_DATABASE_URL")
        .env_remove("TRIGR_DEV_SECRET_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("could not listen on"), "{stderr}");
    assert!(!data.exists(), "the data directory was created");
    drop(taken);

    // The next start, on a free port, makes the store and shows every key it made, and where
    // the store is.
    let shown = start_and_read(
        Command::new(binary())
            .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .env_remove("TRIGR_DATABASE_URL")
            .env_remove("TRIGR_DEV_SECRET_KEY")
            .env_remove("TRIGR_STAGING_SECRET_KEY")
            .env_remove("TRIGR_PROD_SECRET_KEY"),
    );
    let absolute = std::fs::canonicalize(&data).unwrap().join("trigr.db");
    assert!(
        shown.contains(&format!("store: {}", absolute.display())),
        "{shown}"
    );
    assert_eq!(shown.matches("TRIGGER_SECRET_KEY=").count(), 3, "{shown}");
    // Every key the store holds was shown.
    let listed = admin(
        &["keys", "list"],
        &["--data-dir".into(), data.display().to_string()],
    );
    for line in shown
        .lines()
        .filter_map(|l| l.strip_prefix("TRIGGER_SECRET_KEY="))
    {
        assert!(listed.contains(&line[..line.len() - 20]), "{listed}");
    }
    assert_eq!(listed.matches("active").count(), 3, "{listed}");
}

#[tokio::test]
async fn keys_are_created_rotated_with_a_grace_period_and_revoked() {
    let server = TestServer::start_with_clock().await;
    let store = store_args(&server);

    let listed = admin(&["keys", "list"], &store);
    assert!(listed.contains("tr_dev_test…"), "{listed}");
    assert!(listed.contains("tr_stg_test…") && listed.contains("tr_prod_test…"));

    // A second key for dev: both work.
    let extra = printed_key(&admin(&["keys", "create", "--env", "dev"], &store));
    assert!(extra.starts_with("tr_dev_"));
    assert_eq!(accepted(&server, &extra).await.0, 200);
    assert_eq!(accepted(&server, DEV_KEY).await.0, 200);

    // Rotation: a new key; the old ones stay valid for the grace period, then stop.
    let rotated = admin(&["keys", "rotate", "--env", "dev", "--grace", "1h"], &store);
    let new = printed_key(&rotated);
    assert!(
        rotated.contains("2 other key(s) stay valid until"),
        "{rotated}"
    );
    for key in [DEV_KEY, extra.as_str(), new.as_str()] {
        assert_eq!(accepted(&server, key).await.0, 200, "{key}");
    }
    server.advance(3_600_000 + 60_000).await;
    for key in [DEV_KEY, extra.as_str()] {
        let (status, body) = refused_within_a_second(&server, key).await;
        assert_eq!(status, 401, "{body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("revoked or rotated"),
            "{body}"
        );
    }
    assert_eq!(accepted(&server, &new).await.0, 200);
    // Other environments are untouched.
    assert_eq!(accepted(&server, STAGING_KEY).await.0, 200);

    // Revocation by the prefix the list shows: refused within a second.
    let prefix = &new[..11];
    let listed = admin(&["keys", "list"], &store);
    assert!(listed.contains(&format!("{prefix}…")), "{listed}");
    assert!(
        listed.contains("valid until") || listed.contains("expired"),
        "{listed}"
    );
    let revoked = admin(&["keys", "revoke", prefix], &store);
    assert!(revoked.contains(&format!("Revoked {prefix}")), "{revoked}");
    let since = Instant::now();
    while accepted(&server, &new).await.0 == 200 {
        assert!(
            since.elapsed() < Duration::from_secs(1),
            "still accepted after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(admin(&["keys", "list"], &store).contains("revoked"));

    // Mistakes are refused with a sentence and change nothing.
    let again = admin_output(&["keys", "revoke", prefix], &store);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already revoked"));
    for (cmd, says) in [
        (vec!["keys", "revoke", "tr_dev_nope"], "no key is"),
        (
            vec!["keys", "create", "--env", "qa"],
            "has no environment 'qa'",
        ),
        (
            vec!["keys", "create", "--project", "nope"],
            "no project is named",
        ),
        (
            vec!["keys", "rotate", "--grace", "400d"],
            "between 0 and 366 days",
        ),
        (vec!["keys", "rotate", "--grace", "soon"], "--grace"),
    ] {
        let out = admin_output(&cmd, &store);
        assert!(!out.status.success(), "{cmd:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{cmd:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(accepted(&server, STAGING_KEY).await.0, 200);
}

#[tokio::test]
async fn a_token_signed_with_a_revoked_key_is_refused() {
    let server = TestServer::start().await;
    let store = store_args(&server);
    let key = printed_key(&admin(&["keys", "create", "--env", "dev"], &store));
    // The server learns the key from a request, then accepts tokens it signed.
    assert_eq!(accepted(&server, &key).await.0, 200);
    server.deploy(json!([{"id": "t"}])).await;
    let run = server.trigger_as(&key, "t", json!({}), json!({})).await;
    let (s, sub) = server
        .post_as(&key, "/api/v1/auth/jwt/claims", json!({}))
        .await;
    assert_eq!(s, 200, "{sub}");
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": sub["sub"], "pub": true, "scopes": ["read:runs"],
        "iss": "https://id.trigger.dev", "aud": "https://api.trigger.dev",
        "iat": now, "exp": now + 600,
    });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
    )
    .unwrap();
    let path = format!("/api/v3/runs/{run}");
    let (status, body) = server.get_as(&token, &path).await;
    assert_eq!(
        status, 200,
        "a token signed with a live key was refused: {body}"
    );
    admin(&["keys", "revoke", &key], &store);
    let since = Instant::now();
    loop {
        let (status, body) = server.get_as(&token, &path).await;
        if status == 401 {
            assert!(
                body["error"].as_str().unwrap().contains("revoked"),
                "{body}"
            );
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(1),
            "token still accepted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn projects_have_their_own_environments_and_keys() {
    let server = TestServer::start().await;
    let store = store_args(&server);
    let created = admin(&["projects", "create", "acme"], &store);
    assert!(created.contains("Created project acme (proj_"), "{created}");
    let keys: Vec<&str> = created
        .lines()
        .filter_map(|l| l.strip_prefix("TRIGGER_SECRET_KEY="))
        .collect();
    assert_eq!(keys.len(), 3, "{created}");
    let acme_dev = keys.iter().find(|k| k.starts_with("tr_dev_")).unwrap();

    // The API scopes everything by environment: acme's dev sees none of default's runs.
    server.deploy(json!([{"id": "t"}])).await;
    let run = server.trigger("t", json!({}), json!({})).await;
    server.deploy_as(acme_dev, json!([{"id": "t"}]), true).await;
    let (status, _) = server
        .get_as(acme_dev, &format!("/api/v3/runs/{run}"))
        .await;
    assert_eq!(status, 404);
    let theirs = server.trigger_as(acme_dev, "t", json!({}), json!({})).await;
    assert_eq!(server.get(&format!("/api/v3/runs/{theirs}")).await.0, 404);

    let listed = admin(&["projects", "list"], &store);
    assert!(
        listed.contains("default") && listed.contains("acme"),
        "{listed}"
    );
    assert!(listed.contains("dev, staging, prod"), "{listed}");
    // Keys of a named project.
    let staging = printed_key(&admin(
        &["keys", "create", "--project", "acme", "--env", "staging"],
        &store,
    ));
    assert!(staging.starts_with("tr_stg_"));
    assert_eq!(accepted(&server, &staging).await.0, 200);
    // With two projects, a key command must say which unless it means the default one.
    assert!(admin(&["keys", "list"], &store).contains("acme"));

    for (name, says) in [
        ("acme", "exists"),
        ("bad name", "letters, digits"),
        ("proj_x", "references"),
        ("", "letters, digits"),
    ] {
        let out = admin_output(&["projects", "create", name], &store);
        assert!(!out.status.success(), "{name}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_seeded_key_on_an_existing_store_is_added_and_said() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_with(Options {
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    })
    .await;
    let store = store_args(&server);
    server.terminate();
    // The test servers always seed DEV_KEY; a start with another key adds it and says so.
    let other = "tr_dev_otherkey0000000000000001";
    let mut args = vec!["server".into(), "--listen".into(), "127.0.0.1:0".into()];
    args.extend(store.iter().cloned());
    let start = || {
        start_and_read(
            Command::new(binary())
                .args(&args)
                .env("TRIGR_DEV_SECRET_KEY", other)
                .env_remove("TRIGR_DATABASE_URL"),
        )
    };
    let shown = start();
    assert!(
        shown.contains("Added the given dev secret key (tr_dev_othe)"),
        "{shown}"
    );
    assert!(!shown.contains("TRIGGER_SECRET_KEY="), "{shown}");
    // Revoked, it stays revoked on the next start with it, which says so.
    admin(&["keys", "revoke", other], &store);
    let shown = start();
    assert!(
        shown.contains("was revoked or has expired: it is not accepted"),
        "{shown}"
    );
    drop(dir);
}

#[tokio::test]
async fn revocation_reaches_every_server_of_a_cluster_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        data_dir: Some(dir.path().to_path_buf()),
        backend: Some(Backend::Postgres),
        ..Default::default()
    };
    let a = TestServer::start_with(opts.clone()).await;
    let b = TestServer::start_with(opts).await;
    let store = store_args(&a);
    let key = printed_key(&admin(&["keys", "create", "--env", "dev"], &store));
    assert_eq!(accepted(&a, &key).await.0, 200);
    assert_eq!(accepted(&b, &key).await.0, 200);
    admin(&["keys", "revoke", &key], &store);
    let since = Instant::now();
    for server in [&a, &b] {
        while accepted(server, &key).await.0 == 200 {
            assert!(
                since.elapsed() < Duration::from_secs(1),
                "accepted after 1 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(accepted(&a, DEV_KEY).await.0, 200);
    drop((a, b));
    drop_schema_of(dir.path());
}

fn drop_schema_of(dir: &Path) {
    if let Ok(schema) = std::fs::read_to_string(dir.join("postgres-schema")) {
        psql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", schema.trim()));
    }
}

fn psql(sql: &str) {
    let sql = sql.to_string();
    std::thread::spawn(move || {
        let url = std::env::var("TRIGR_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("PostgreSQL");
        client.batch_execute(&sql).expect("SQL");
    })
    .join()
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Backup and restore
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_backup_under_load_restores_every_acknowledged_run() {
    let server = TestServer::start_with(Options {
        backend: Some(Backend::Sqlite),
        ..Default::default()
    })
    .await;
    server.deploy(json!([{"id": "t"}])).await;
    let store = store_args(&server);
    let url = server.base_url.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (stop, acked, url) = (stop.clone(), acked.clone(), url.clone());
        load.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let resp = http
                    .post(format!("{url}/api/v1/tasks/t/trigger"))
                    .bearer_auth(DEV_KEY)
                    .json(&json!({"payload": {"n": 1}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
                let body: Value = resp.json().await.unwrap();
                acked
                    .lock()
                    .unwrap()
                    .push(body["id"].as_str().unwrap().to_string());
            }
        }));
    }
    while acked.lock().unwrap().len() < 300 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before: Vec<String> = acked.lock().unwrap().clone();
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("trigr-backup.db");
    let file_arg = file.display().to_string();
    let store2 = store.clone();
    let backed = tokio::task::spawn_blocking(move || admin(&["backup", &file_arg], &store2))
        .await
        .unwrap();
    assert!(backed.contains("schema version"), "{backed}");
    let during = acked.lock().unwrap().len();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    assert!(
        during > before.len(),
        "the load kept running during the backup"
    );

    // A backup never overwrites; a restore into a store in use is refused.
    let again = admin_output(&["backup", &file.display().to_string()], &store);
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwrites"));
    let busy = admin_output(&["restore", &file.display().to_string(), "--force"], &store);
    assert!(!busy.status.success());
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("in use"),
        "{}",
        String::from_utf8_lossy(&busy.stderr)
    );

    // Restored into a new data directory, every run acknowledged before the backup is there.
    let new_dir = tempfile::tempdir().unwrap();
    let new_store = vec![
        "--data-dir".to_string(),
        new_dir.path().display().to_string(),
    ];
    let restored = admin(&["restore", &file.display().to_string()], &new_store);
    assert!(restored.contains("Restored"), "{restored}");
    let copy = TestServer::start_with(Options {
        data_dir: Some(new_dir.path().to_path_buf()),
        backend: Some(Backend::Sqlite),
        ..Default::default()
    })
    .await;
    let ids: std::collections::HashSet<String> = copy
        .list_ids("page%5Bsize%5D=100")
        .await
        .into_iter()
        .collect();
    for id in &before {
        assert!(
            ids.contains(id),
            "run {id} was acknowledged before the backup but is missing"
        );
    }
    assert!(ids.len() <= during + 4);

    // Restoring over an existing store needs --force and keeps the old one beside it.
    drop(copy);
    let refused = admin_output(&["restore", &file.display().to_string()], &new_store);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    let forced = admin(
        &["restore", &file.display().to_string(), "--force"],
        &new_store,
    );
    assert!(forced.contains("kept as"), "{forced}");
    let kept = std::fs::read_dir(new_dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().contains("before-restore"));
    assert!(kept);

    // What is not a backup is refused before anything changes.
    let junk = out_dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all, just text").unwrap();
    let out = admin_output(
        &["restore", &junk.display().to_string(), "--force"],
        &new_store,
    );
    assert!(!out.status.success());
    let missing = admin_output(
        &["backup", &out_dir.path().join("x.db").display().to_string()],
        &[
            "--data-dir".into(),
            out_dir.path().join("none").display().to_string(),
        ],
    );
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no store"));
}

#[tokio::test]
async fn backup_of_a_postgresql_store_points_to_pg_dump() {
    let out = admin_output(
        &["backup", "/tmp/never-written.db"],
        &[
            "--database-url".into(),
            "postgres://postgres@127.0.0.1:5432/postgres".into(),
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
    assert!(!Path::new("/tmp/never-written.db").exists());
}

// ---------------------------------------------------------------------------------------------
// Upgrades
// ---------------------------------------------------------------------------------------------

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A store the previous release (schema version 11) wrote, on this test's backend; returns
/// its data directory and the run ids it holds, by state.
fn old_store(dir: &Path) -> (Backend, Value) {
    let ids: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("store-v11.json")).unwrap()).unwrap();
    if postgres_url().is_some() {
        let schema = format!(
            "it_upgrade_{}_{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        let dump = std::fs::read_to_string(fixture("store-v11.postgres.sql")).unwrap();
        psql(&dump.replace("__SCHEMA__", &schema));
        std::fs::write(dir.join("postgres-schema"), &schema).unwrap();
        (Backend::Postgres, ids["postgres"].clone())
    } else {
        let dump = std::fs::read_to_string(fixture("store-v11.sqlite.sql")).unwrap();
        let conn = rusqlite::Connection::open(dir.join("trigr.db")).unwrap();
        // The dump creates tables in name order, before the ones their keys refer to.
        conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        conn.execute_batch(&dump).unwrap();
        (Backend::Sqlite, ids["sqlite"].clone())
    }
}

#[tokio::test]
async fn a_store_of_the_previous_schema_version_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let (backend, fx) = old_store(dir.path());
    let server = TestServer::start_with(Options {
        data_dir: Some(dir.path().to_path_buf()),
        backend: Some(backend),
        test_clock: true,
        ..Default::default()
    })
    .await;
    let runs = &fx["runs"];
    let id = |k: &str| runs[k].as_str().unwrap().to_string();
    let completed = server.run(&id("completed")).await;
    assert_eq!(completed["status"], "COMPLETED");
    assert_eq!(completed["output"], json!({"answer": 42}));
    assert_eq!(server.run(&id("failed")).await["status"], "FAILED");
    // The run a worker held when the old server stopped lost its lease long ago: once the
    // timers look, it crashed (it had one attempt).
    server.advance(0).await;
    assert_eq!(server.run(&id("executing")).await["status"], "CRASHED");
    assert_eq!(server.run(&id("delayed")).await["status"], "DELAYED");
    assert_eq!(
        server.run(&id("queued")).await["tags"],
        json!(["queued", "upgrade"])
    );
    // The idempotency key still finds its run.
    let again = server
        .trigger(
            "upgrade-task",
            json!({"name": "idempotent"}),
            json!({"idempotencyKey": "upgrade-key"}),
        )
        .await;
    assert_eq!(again, id("idempotent"));
    // Work goes on: the old version's worker takes the queued runs and finishes them.
    let version = fx["version"].as_str().unwrap();
    let mut taken = server.dequeue(version, 10, 1000).await;
    assert!(
        taken.iter().any(|r| r["runId"] == id("queued")),
        "{taken:?}"
    );
    for run in taken.drain(..) {
        assert_eq!(
            server
                .complete_ok(&run, json!({"after": "upgrade"}))
                .await
                .0,
            200
        );
    }
    assert_eq!(server.run(&id("queued")).await["status"], "COMPLETED");
    // The keys the old store holds work and are listed without a prefix.
    let listed = admin(&["keys", "list"], &store_args(&server));
    assert!(
        listed.contains("(made before prefixes were kept)"),
        "{listed}"
    );
    drop(server);
    drop_schema_of(dir.path());
}

#[tokio::test]
async fn a_store_of_a_newer_schema_version_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (backend, _) = old_store(dir.path());
    let newer = "INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)";
    let store_flags = match backend {
        Backend::Postgres => {
            let schema = std::fs::read_to_string(dir.path().join("postgres-schema")).unwrap();
            psql(&format!("SET search_path TO {}; {newer}", schema.trim()));
            let url = std::env::var("TRIGR_TEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            vec![
                "--database-url".to_string(),
                format!("{url}?options=-c%20search_path%3D{}", schema.trim()),
            ]
        }
        Backend::Sqlite => {
            let conn = rusqlite::Connection::open(dir.path().join("trigr.db")).unwrap();
            conn.execute_batch(newer).unwrap();
            vec!["--data-dir".to_string(), dir.path().display().to_string()]
        }
    };
    let mut args = vec![
        "server".to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ];
    args.extend(store_flags.iter().cloned());
    let out = trigr(&args);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("schema version 9999") && err.contains("knows versions up to"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let out = admin_output(&["keys", "list"], &store_flags);
    assert!(String::from_utf8_lossy(&out.stderr).contains("schema version 9999"));
    drop_schema_of(dir.path());
}
