//! The client commands of the `trigr` binary (`trigger`, `runs …`, `queues …`,
//! `deployments …`) run as subprocesses against a real server.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// What one `trigr` invocation printed and how it exited.
#[derive(Debug)]
struct Output {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Environment of a `trigr` invocation: server address and secret key (each may be absent).
#[derive(Clone, Copy)]
struct Env<'a> {
    url: Option<&'a str>,
    key: Option<&'a str>,
}

impl<'a> Env<'a> {
    fn of(server: &'a TestServer) -> Env<'a> {
        Env {
            url: Some(&server.base_url),
            key: Some(DEV_KEY),
        }
    }
}

async fn trigr(env: Env<'_>, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(binary());
    cmd.args(args)
        .env_remove("TRIGGER_API_URL")
        .env_remove("TRIGGER_SECRET_KEY")
        .env_remove("TRIGGER_ACCESS_TOKEN")
        .env_remove("TRIGGER_VERSION")
        .env("RUST_BACKTRACE", "1")
        .kill_on_drop(true);
    if let Some(url) = env.url {
        cmd.env("TRIGGER_API_URL", url);
    }
    if let Some(key) = env.key {
        cmd.env("TRIGGER_SECRET_KEY", key);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("trigr {args:?} did not finish within 60 s"))
        .expect("run trigr");
    Output {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `trigr` and asserts it succeeded; returns its standard output.
async fn ok(env: Env<'_>, args: &[&str]) -> String {
    let out = trigr(env, args).await;
    assert!(
        out.success,
        "trigr {args:?} failed:\nstdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    out.stdout
}

/// Runs `trigr`, asserts it failed with one plain `error: …` sentence containing `needle`.
async fn fails(env: Env<'_>, args: &[&str], needle: &str) -> String {
    let out = trigr(env, args).await;
    let what = format!(
        "trigr {args:?}\nstdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    assert!(!out.success, "should have failed: {what}");
    assert!(
        out.stderr.starts_with("error: "),
        "not an `error: ` line: {what}"
    );
    assert!(
        out.stderr.contains(needle),
        "stderr lacks {needle:?}: {what}"
    );
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE", "Caused by"] {
        assert!(!out.stderr.contains(bad), "stderr shows {bad:?}: {what}");
    }
    assert!(out.stdout.is_empty(), "nothing on stdout: {what}");
    out.stderr
}

/// The first word starting with `run_` (trailing punctuation removed).
fn run_id(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with("run_"))
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .to_string()
        })
        .unwrap_or_else(|| panic!("no run id in {text:?}"))
}

/// An address where nothing listens.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_creates_a_run_with_the_options() {
    let server = TestServer::start().await;
    server.deploy(json!([{"id": "hello"}])).await;
    let env = Env::of(&server);

    let out = ok(
        env,
        &[
            "trigger",
            "hello",
            "--payload",
            r#"{"n": 1}"#,
            "--tag",
            "t1",
            "--tag",
            "t2",
            "--metadata",
            r#"{"m":"x"}"#,
        ],
    )
    .await;
    assert!(out.starts_with("Triggered run_"), "{out}");
    assert!(out.contains("hello"), "{out}");
    let id = run_id(&out);
    let run = server.run(&id).await;
    assert_eq!(run["taskIdentifier"], json!("hello"));
    assert_eq!(run["payload"], json!({"n": 1}));
    let mut tags: Vec<String> = serde_json::from_value(run["tags"].clone()).expect("tags");
    tags.sort();
    assert_eq!(tags, ["t1", "t2"]);
    assert_eq!(run["metadata"], json!({"m": "x"}));

    let out = ok(env, &["trigger", "hello", "--json"]).await;
    let answer: Value = serde_json::from_str(&out).expect("--json prints JSON");
    let id = answer["id"].as_str().expect("id");
    assert!(id.starts_with("run_"), "{answer}");
    server.run(id).await;
}

/// `--payload @file` and `--payload -` (standard input) for `trigger` and `runs replay`, and a
/// `--delay` of bare seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_come_from_files_or_stdin_and_delays_in_seconds() {
    use tokio::io::AsyncWriteExt;

    let server = TestServer::start_with_clock().await;
    server.deploy(json!([{"id": "hello"}])).await;
    let env = Env::of(&server);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("payload.json");
    std::fs::write(&file, r#"{"from": "file", "n": [1, 2]}"#).expect("write");
    let at_file = format!("@{}", file.display());

    let id = run_id(&ok(env, &["trigger", "hello", "--payload", &at_file]).await);
    assert_eq!(
        server.run(&id).await["payload"],
        json!({"from": "file", "n": [1, 2]})
    );

    let mut child = tokio::process::Command::new(binary())
        .args(["trigger", "hello", "--payload", "-"])
        .env_remove("TRIGGER_ACCESS_TOKEN")
        .env("TRIGGER_API_URL", &server.base_url)
        .env("TRIGGER_SECRET_KEY", DEV_KEY)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("trigr trigger --payload -");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"{\"from\": \"stdin\"}\n").await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{out:?}");
    let id = run_id(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(server.run(&id).await["payload"], json!({"from": "stdin"}));

    let replayed = ok(env, &["runs", "replay", &id, "--payload", &at_file]).await;
    let new_id = run_id(replayed.trim_start_matches(&format!("Replayed {id}")));
    assert_eq!(server.run(&new_id).await["payload"]["from"], json!("file"));

    let missing = format!("@{}", dir.path().join("nope.json").display());
    fails(
        env,
        &["trigger", "hello", "--payload", &missing],
        "could not be read",
    )
    .await;
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{nope").expect("write");
    let bad = format!("@{}", bad.display());
    fails(
        env,
        &["trigger", "hello", "--payload", &bad],
        "is not valid JSON",
    )
    .await;

    let now = server.now_ms().await;
    let id = run_id(&ok(env, &["trigger", "hello", "--delay", "30"]).await);
    let run = server.run(&id).await;
    assert_eq!(run["status"], json!("DELAYED"));
    assert_eq!(parse_ms(&run["delayedUntil"]), now + 30_000, "{run}");
}

/// The commands' names, from `trigr --help` down: each leaf as its words.
async fn leaf_commands(env: Env<'_>, prefix: Vec<String>) -> Vec<Vec<String>> {
    let mut args: Vec<&str> = prefix.iter().map(String::as_str).collect();
    args.push("--help");
    let help = ok(env, &args).await;
    let Some(commands) = help.split("\nCommands:\n").nth(1) else {
        return vec![prefix];
    };
    let mut leaves = Vec::new();
    for line in commands.lines().take_while(|l| l.starts_with("  ")) {
        let name = line.split_whitespace().next().unwrap_or_default();
        if name == "help" {
            continue;
        }
        let mut words = prefix.clone();
        words.push(name.to_string());
        leaves.extend(Box::pin(leaf_commands(env, words)).await);
    }
    leaves
}

/// Every `trigr … --help` shows as required (outside `[…]` in its usage line) only the flags
/// the command cannot do without.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_shows_only_required_flags_as_required() {
    let env = Env {
        url: None,
        key: None,
    };
    let required: &[(&str, &[&str])] = &[
        ("schedules create", &["--task", "--cron", "--dedup-key"]),
        ("runs migrate", &["--from", "--to"]),
        ("runs reschedule", &["--delay"]),
        ("env-vars list", &["--project"]),
        ("env-vars get", &["--project"]),
        ("env-vars set", &["--project"]),
        ("env-vars delete", &["--project"]),
        ("env-vars import", &["--project"]),
        ("cache set", &["--ttl"]),
        ("cache lock", &["--ttl"]),
        ("ai-tools create", &["--task", "--description"]),
        ("keys pat create", &["--name"]),
        ("keys pat approve", &["--name"]),
    ];
    let leaves = leaf_commands(env, Vec::new()).await;
    assert!(leaves.len() > 20, "{leaves:?}");
    for words in leaves {
        let name = words.join(" ");
        let mut args: Vec<&str> = words.iter().map(String::as_str).collect();
        args.push("--help");
        let help = ok(env, &args).await;
        let usage = help
            .lines()
            .find(|l| l.starts_with("Usage: "))
            .unwrap_or_else(|| panic!("no usage line in {help}"));
        // Flags outside brackets are the ones the usage line calls required.
        let mut depth = 0;
        let mut outside = String::new();
        for c in usage.chars() {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                _ if depth == 0 => outside.push(c),
                _ => {}
            }
        }
        let shown: Vec<&str> = outside
            .split_whitespace()
            .filter(|w| w.starts_with('-'))
            .collect();
        let expected = required
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(&[][..], |(_, flags)| *flags);
        assert_eq!(shown, expected, "`trigr {name} --help`: {usage}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_with_an_idempotency_key_reports_the_existing_run() {
    let server = TestServer::start().await;
    server.deploy(json!([{"id": "hello"}])).await;
    let env = Env::of(&server);
    let args = ["trigger", "hello", "--idempotency-key", "order-42"];
    let first = ok(env, &args).await;
    assert!(!first.contains("existing run"), "{first}");
    let second = ok(env, &args).await;
    assert_eq!(run_id(&first), run_id(&second));
    assert!(second.contains("existing run"), "{second}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_list_and_get_show_the_run() {
    let server = TestServer::start().await;
    server.deploy(json!([{"id": "hello"}])).await;
    let env = Env::of(&server);
    let id = run_id(&ok(env, &["trigger", "hello", "--tag", "listed"]).await);

    let table = ok(env, &["runs", "list"]).await;
    let header = table.lines().next().unwrap_or_default();
    for column in ["ID", "TASK", "STATUS", "VERSION", "TAGS", "CREATED"] {
        assert!(header.contains(column), "{table}");
    }
    let row = table
        .lines()
        .find(|l| l.contains(&id))
        .unwrap_or_else(|| panic!("{id} not in {table}"));
    assert!(row.contains("hello") && row.contains("listed"), "{row}");

    let filtered = ok(
        env,
        &[
            "runs", "list", "--task", "hello", "--status", "queued", "--tag", "listed", "--json",
        ],
    )
    .await;
    let page: Value = serde_json::from_str(&filtered).expect("--json prints JSON");
    let ids: Vec<&str> = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, [id.as_str()]);

    let none = ok(env, &["runs", "list", "--task", "no-such-task"]).await;
    assert_eq!(none.trim(), "No runs.");

    let shown = ok(env, &["runs", "get", &id]).await;
    let status = server.run(&id).await["status"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for line in [
        format!("id: {id}"),
        "task: hello".into(),
        format!("status: {status}"),
        "tags: listed".into(),
    ] {
        assert!(shown.lines().any(|l| l == line), "{line:?} not in {shown}");
    }
    let json_out = ok(env, &["runs", "get", &id, "--json"]).await;
    let run: Value = serde_json::from_str(&json_out).expect("--json prints JSON");
    assert_eq!(run["id"], json!(id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_list_pages_with_after() {
    let server = TestServer::start().await;
    server.deploy(json!([{"id": "hello"}])).await;
    let env = Env::of(&server);
    for _ in 0..3 {
        server.trigger("hello", json!({}), json!({})).await;
    }
    let first = ok(env, &["runs", "list", "--limit", "2"]).await;
    let more = first
        .lines()
        .find_map(|l| l.strip_prefix("More: "))
        .unwrap_or_else(|| panic!("{first}"));
    let words: Vec<&str> = more.split_whitespace().collect();
    assert_eq!(&words[..3], ["trigr", "runs", "list"], "{more}");
    let second = ok(env, &words[1..]).await;
    let rows = |t: &str| {
        t.lines()
            .filter(|l| l.starts_with("run_"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let (a, b) = (rows(&first), rows(&second));
    assert_eq!((a.len(), b.len()), (2, 1), "{first}\n{second}");
    assert!(!a.contains(&b[0]), "pages overlap:\n{first}\n{second}");
    assert!(!second.contains("More:"), "{second}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_cancel_and_replay() {
    let server = TestServer::start().await;
    server.deploy(json!([{"id": "hello"}])).await;
    let env = Env::of(&server);
    let id = server.trigger("hello", json!({"n": 7}), json!({})).await;

    let out = ok(env, &["runs", "cancel", &id]).await;
    assert_eq!(out.trim(), format!("Canceled {id}"));
    assert_eq!(server.run(&id).await["status"], json!("CANCELED"));

    let out = ok(env, &["runs", "replay", &id]).await;
    assert!(out.starts_with(&format!("Replayed {id} as run_")), "{out}");
    let new_id = run_id(out.trim_start_matches(&format!("Replayed {id}")));
    assert_ne!(new_id, id);
    let replayed = server.run(&new_id).await;
    assert_eq!(replayed["taskIdentifier"], json!("hello"));
    assert_eq!(replayed["payload"], json!({"n": 7}));

    let out = ok(
        env,
        &[
            "runs",
            "replay",
            &id,
            "--payload",
            r#"{"n": 8}"#,
            "--tag",
            "again",
            "--json",
        ],
    )
    .await;
    let answer: Value = serde_json::from_str(&out).expect("--json prints JSON");
    let other = server.run(answer["id"].as_str().expect("id")).await;
    assert_eq!(other["payload"], json!({"n": 8}));
    assert_eq!(other["tags"], json!(["again"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_list_pause_and_resume() {
    let server = TestServer::start().await;
    server.deploy(json!([{"id": "hello"}, {"id": "mailer", "queue": {"name": "mail/out", "concurrencyLimit": 3}}])).await;
    let env = Env::of(&server);
    let paused = || async {
        let (s, v) = server.get("/api/v1/queues/hello?type=task").await;
        assert_eq!(s, 200, "{v}");
        v["paused"].clone()
    };

    let table = ok(env, &["queues", "list"]).await;
    let cells = |name: &str| -> Vec<String> {
        table
            .lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .find(|c| c.first().map(String::as_str) == Some(name))
            .unwrap_or_else(|| panic!("{name} not in {table}"))
    };
    assert_eq!(
        cells("NAME"),
        ["NAME", "TYPE", "RUNNING", "QUEUED", "LIMIT", "PAUSED"]
    );
    assert_eq!(cells("hello"), ["hello", "task", "0", "0", "-", "no"]);
    assert_eq!(
        cells("mail/out"),
        ["mail/out", "custom", "0", "0", "3", "no"]
    );

    let out = ok(env, &["queues", "pause", "hello", "--type", "task"]).await;
    assert_eq!(out.trim(), "Paused queue hello");
    assert_eq!(paused().await, json!(true));
    let table = ok(env, &["queues", "list"]).await;
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("hello") && l.trim_end().ends_with("yes")),
        "{table}"
    );

    let out = ok(env, &["queues", "resume", "task/hello"]).await;
    assert_eq!(out.trim(), "Resumed queue task/hello");
    assert_eq!(paused().await, json!(false));

    // A bare task id, as the NAME column shows it, also names the task's queue.
    ok(env, &["queues", "pause", "hello"]).await;
    assert_eq!(paused().await, json!(true));
    ok(env, &["queues", "resume", "hello"]).await;
    assert_eq!(paused().await, json!(false));

    ok(env, &["queues", "pause", "mail/out"]).await;
    let (s, v) = server
        .get(&format!("/api/v1/queues/{}?type=custom", enc("mail%2Fout")))
        .await;
    assert_eq!((s, &v["paused"]), (200, &json!(true)), "{v}");

    let out = ok(env, &["queues", "list", "--json"]).await;
    let queues: Value = serde_json::from_str(&out).expect("--json prints JSON");
    assert!(queues.as_array().is_some_and(|q| q.len() >= 2), "{queues}");

    fails(env, &["queues", "pause", "no-such-queue"], "no-such-queue").await;
}

/// The cells of the table row whose first cell is `first`.
fn table_row(table: &str, first: &str) -> Vec<String> {
    table
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .find(|c| c.first().map(String::as_str) == Some(first))
        .unwrap_or_else(|| panic!("{first} not in {table}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_list_current_promote_and_rollback() {
    let server = TestServer::start().await;
    let env = Env::of(&server);

    assert_eq!(
        ok(env, &["deployments", "list"]).await.trim(),
        "No deployments."
    );
    fails(
        env,
        &["deployments", "current"],
        "No deployment is current in this environment.",
    )
    .await;
    fails(env, &["deployments", "rollback"], "nothing to roll back").await;

    let v1 = server.deploy(json!([{"id": "hello"}])).await;
    let v2 = server.deploy(json!([{"id": "hello"}, {"id": "bye"}])).await;

    let table = ok(env, &["deployments", "list"]).await;
    assert_eq!(
        table_row(&table, "VERSION"),
        ["VERSION", "CURRENT", "WORKERS", "SEEN", "DEPLOYED", "TASKS"]
    );
    let row = table_row(&table, &v2);
    assert_eq!(&row[1..3], ["yes", "yes"], "{table}");
    assert_eq!(row[5], "2", "{table}");
    assert_eq!(&table_row(&table, &v1)[1..3], ["no", "yes"], "{table}");
    assert!(table.find(&v2) < table.find(&v1), "newest first: {table}");

    let out = ok(env, &["deployments", "list", "--json"]).await;
    let list: Value = serde_json::from_str(&out).expect("--json prints JSON");
    assert_eq!(list[0]["version"], json!(v2), "{list}");
    assert_eq!(list[0]["hasWorkers"], json!(true), "{list}");

    let out = ok(env, &["deployments", "current"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("version: {v2}"), "{out}");
    assert!(lines.contains(&"tasks: hello, bye"), "{out}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("workers: yes (last seen 20")),
        "{out}"
    );

    let out = ok(env, &["deployments", "rollback"]).await;
    assert_eq!(
        out.trim(),
        format!("Rolled back from {v2} to {v1}: it is the current version now.")
    );
    let (_, current) = server.get("/api/v1/deployments/current").await;
    assert_eq!(current["version"], json!(v1));
    fails(
        env,
        &["deployments", "rollback"],
        &format!("No deployment is older than the current version {v1}"),
    )
    .await;

    let out = ok(env, &["deployments", "promote", &v2]).await;
    assert_eq!(
        out.trim(),
        format!("Promoted {v2}: it is the current version now.")
    );
    let out = ok(env, &["deployments", "current", "--json"]).await;
    let current: Value = serde_json::from_str(&out).expect("--json prints JSON");
    assert_eq!(current["version"], json!(v2), "{current}");
    let out = ok(env, &["deployments", "rollback", "--json"]).await;
    let rolled: Value = serde_json::from_str(&out).expect("--json prints JSON");
    assert_eq!(rolled["rolledBackFrom"], json!(v2), "{rolled}");
    fails(
        env,
        &["deployments", "promote", "20000101.1"],
        "Deployment 20000101.1 was not found.",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_get_says_why_a_run_waits() {
    let server = TestServer::start().await;
    let env = Env::of(&server);
    let id = server.trigger("emails", json!({}), json!({})).await;
    let out = ok(env, &["runs", "get", &id]).await;
    let line = out
        .lines()
        .find(|l| l.starts_with("waiting: "))
        .unwrap_or_else(|| panic!("no waiting line in {out}"));
    assert!(line.contains("task 'emails'"), "{line}");
    assert!(line.ends_with("(PENDING_VERSION)"), "{line}");

    let version = server.deploy(json!([{"id": "emails"}])).await;
    let out = ok(env, &["runs", "get", &id]).await;
    assert!(out.contains("(QUEUED)\n"), "{out}");
    assert_eq!(server.dequeue(&version, 1, 0).await.len(), 1);
    let out = ok(env, &["runs", "get", &id]).await;
    assert!(!out.contains("waiting: "), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_override_the_environment() {
    let server = TestServer::start().await;
    server.deploy(json!([{"id": "hello"}])).await;
    let closed = closed_port_url();
    let env = Env {
        url: Some(&closed),
        key: Some("tr_dev_wrongkey00000000000000001"),
    };
    let out = ok(
        env,
        &[
            "trigger",
            "hello",
            "--api-url",
            &format!("{}/", server.base_url),
            "--secret-key",
            DEV_KEY,
        ],
    )
    .await;
    server.run(&run_id(&out)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_plain_sentences() {
    let server = TestServer::start().await;
    server.deploy(json!([{"id": "hello"}])).await;
    let env = Env::of(&server);

    let no_key = Env { key: None, ..env };
    fails(no_key, &["runs", "list"], "TRIGGER_SECRET_KEY").await;

    let wrong_key = Env {
        key: Some("tr_dev_wrongkey00000000000000001"),
        ..env
    };
    fails(
        wrong_key,
        &["runs", "list"],
        "The secret key was rejected (401)",
    )
    .await;

    fails(
        env,
        &["runs", "get", "run_doesnotexist"],
        "Run run_doesnotexist was not found.",
    )
    .await;
    fails(
        env,
        &["runs", "cancel", "run_doesnotexist"],
        "Run run_doesnotexist was not found.",
    )
    .await;
    fails(
        env,
        &["runs", "replay", "run_doesnotexist"],
        "Run run_doesnotexist was not found.",
    )
    .await;

    fails(
        env,
        &["trigger", "hello", "--payload", "{not json"],
        "--payload is not valid JSON",
    )
    .await;
    fails(
        env,
        &["trigger", "hello", "--metadata", "[1]"],
        "--metadata must be a JSON object",
    )
    .await;
    fails(env, &["trigger", "not-declared"], "not-declared").await;
    assert!(
        server.list_ids("").await.is_empty(),
        "no run was created by the failed triggers"
    );
}

#[tokio::test]
async fn unreachable_server_is_explained() {
    let url = closed_port_url();
    let env = Env {
        url: Some(&url),
        key: Some(DEV_KEY),
    };
    let err = fails(
        env,
        &["runs", "list"],
        &format!("The server at {url} could not be reached"),
    )
    .await;
    assert!(err.contains("trigr server"), "{err}");
    fails(env, &["queues", "list"], "could not be reached").await;
    fails(env, &["deployments", "list"], "could not be reached").await;
}

/// `trigr runs logs --follow` prints each line as the worker sends it and ends with the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_logs_follow_prints_lines_as_they_arrive() {
    use tokio::io::AsyncBufReadExt;

    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["follow-me"])).await;
    let id = server.trigger("follow-me", json!({}), json!({})).await;
    let run = server.dequeue(&version, 1, 5000).await.remove(0);
    let log = |message: &str| {
        let body =
            json!({"lease": run["lease"], "entries": [{"level": "info", "message": message}]});
        let path = format!("/api/v1/worker/runs/{id}/logs");
        let server = &server;
        async move {
            let (s, v) = server.post(&path, body).await;
            assert_eq!(s, 200, "{v}");
        }
    };
    log("first").await;
    let mut child = tokio::process::Command::new(binary())
        .args(["runs", "logs", &id, "--follow"])
        .env_remove("TRIGGER_ACCESS_TOKEN")
        .env("TRIGGER_API_URL", &server.base_url)
        .env("TRIGGER_SECRET_KEY", DEV_KEY)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start trigr runs logs --follow");
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_line = async || {
        tokio::time::timeout(Duration::from_secs(30), out.next_line())
            .await
            .expect("a line within 30 s")
            .expect("read stdout")
    };
    let line = next_line().await.expect("the attempt's header");
    assert!(line.starts_with("── attempt 1, started "), "{line}");
    let line = next_line().await.expect("the first line");
    assert!(line.ends_with("INFO  first"), "{line}");
    // Each later line is printed while the command keeps running.
    for message in ["second", "third"] {
        log(message).await;
        let line = next_line().await.expect("a followed line");
        assert!(line.ends_with(&format!("INFO  {message}")), "{line}");
    }
    assert_eq!(server.complete_ok(&run, json!(null)).await.0, 200);
    // How the attempt and the run ended, then nothing.
    let line = next_line().await.expect("the attempt's end");
    assert!(line.starts_with("── attempt 1 completed at "), "{line}");
    let line = next_line().await.expect("the final status");
    assert!(
        line.starts_with(&format!("Run {id} COMPLETED at ")) && line.ends_with('.'),
        "{line}"
    );
    assert_eq!(next_line().await, None, "the output ends with the run");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("trigr exits once the run is final")
        .unwrap();
    assert!(status.success(), "{status}");

    // A finished run: its lines, then the command ends at once; an unknown run is an error.
    let text = ok(
        Env::of(&server),
        &["runs", "logs", &id, "--follow", "--json"],
    )
    .await;
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .collect();
    let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
    assert_eq!(messages, ["first", "second", "third"]);
    assert!(lines[..3].iter().all(|l| l["attempt"] == json!(1)));
    let end = lines.last().unwrap();
    assert_eq!(
        (&end["runId"], &end["status"]),
        (&json!(id), &json!("COMPLETED")),
        "the last line is how the run ended: {end}"
    );
    assert!(end["finishedAt"].is_string(), "{end}");
    fails(
        Env::of(&server),
        &["runs", "logs", "run_missing", "--follow"],
        "run_missing",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_migrate_moves_runs_between_versions() {
    let server = TestServer::start().await;
    let env = Env::of(&server);
    let v1 = server.deploy(json!([{"id": "hello"}, {"id": "old"}])).await;
    let v2 = server.deploy(json!([{"id": "hello"}])).await;
    // Runs locked to the first version by name.
    let mut ids = Vec::new();
    for task in ["hello", "hello", "old"] {
        ids.push(
            server
                .trigger(task, json!({}), json!({"version": v1}))
                .await,
        );
    }

    let out = ok(
        env,
        &[
            "runs", "migrate", "--from", &v1, "--to", &v2, "--task", "hello",
        ],
    )
    .await;
    assert_eq!(out, format!("Moved 2 run(s) from version {v1} to {v2}.\n"));
    for id in &ids[..2] {
        assert_eq!(server.run(id).await["version"], json!(v2));
    }

    let out = ok(
        env,
        &["runs", "migrate", "--from", &v1, "--to", &v2, "--json"],
    )
    .await;
    let answer: Value = serde_json::from_str(&out).expect("--json prints JSON");
    assert_eq!(
        answer,
        json!({"from": v1, "to": v2, "moved": 0, "skipped": [{"task": "old", "runs": 1}], "executing": 0})
    );
    let out = ok(env, &["runs", "migrate", "--from", &v1, "--to", &v2]).await;
    assert!(
        out.contains(&format!(
            "Left 1 run(s) of task 'old' on {v1}: version {v2} does not declare it."
        )),
        "{out}"
    );
    assert_eq!(server.run(&ids[2]).await["version"], json!(v1));

    fails(
        env,
        &["runs", "migrate", "--from", &v1, "--to", "20990101.1"],
        "No deployment has version 20990101.1",
    )
    .await;
    fails(
        env,
        &[
            "runs", "migrate", "--from", &v1, "--to", &v2, "--task", "old",
        ],
        "Task 'old' is not declared by version",
    )
    .await;
    let out = trigr(env, &["runs", "migrate", "--from", &v1]).await;
    assert!(!out.success && out.stderr.contains("--to"), "{out:?}");
}

/// `trigr env-vars`: set (create, then update), list with secrets redacted, get, import a
/// `.env` file (existing values kept without `--override`), delete; a bad file names its line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_vars_commands() {
    let server = TestServer::start().await;
    let env = Env::of(&server);
    let store = store_args(&server);
    let mut list: Vec<&str> = vec!["projects", "list"];
    list.extend(store.iter().map(String::as_str));
    let projects = ok(env, &list).await;
    let project = projects
        .split_whitespace()
        .find(|w| w.starts_with("proj_"))
        .expect("a project reference")
        .to_string();
    let at = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.extend(["--project".to_string(), project.clone()]);
        v
    };
    let run = |args: Vec<String>| async move {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(env, &refs).await
    };
    assert!(run(at(&["env-vars", "set", "API_URL", "https://a"]))
        .await
        .contains("Created API_URL"));
    assert!(run(at(&["env-vars", "set", "API_URL", "https://b"]))
        .await
        .contains("Updated API_URL"));
    run(at(&["env-vars", "set", "TOKEN", "t0ps3cret", "--secret"])).await;
    // --secret on a plain variable that exists makes it secret.
    run(at(&["env-vars", "set", "PLAIN", "shown"])).await;
    assert!(run(at(&["env-vars", "set", "PLAIN", "hidden", "--secret"]))
        .await
        .contains("Set PLAIN (secret)"));
    assert_eq!(
        run(at(&["env-vars", "get", "API_URL"])).await,
        "https://b\n"
    );
    let listed = run(at(&["env-vars", "list"])).await;
    assert!(
        listed.contains("API_URL") && listed.contains("<redacted>"),
        "{listed}"
    );
    assert!(!listed.contains("t0ps3cret"), "{listed}");
    assert!(
        !listed.contains("hidden") && !listed.contains("shown"),
        "{listed}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vars.env");
    std::fs::write(
        &file,
        "# settings\nexport REGION=eu\nAPI_URL=\"https://c\"\n",
    )
    .unwrap();
    let path = file.display().to_string();
    assert!(run(at(&["env-vars", "import", &path]))
        .await
        .contains("Imported 2"));
    assert_eq!(run(at(&["env-vars", "get", "REGION"])).await, "eu\n");
    assert_eq!(
        run(at(&["env-vars", "get", "API_URL"])).await,
        "https://b\n"
    );
    run(at(&["env-vars", "import", &path, "--override"])).await;
    assert_eq!(
        run(at(&["env-vars", "get", "API_URL"])).await,
        "https://c\n"
    );
    assert!(run(at(&["env-vars", "delete", "REGION"]))
        .await
        .contains("Deleted REGION"));

    std::fs::write(&file, "GOOD=1\nno equals sign\n").unwrap();
    let bad = at(&["env-vars", "import", &path]);
    let bad: Vec<&str> = bad.iter().map(String::as_str).collect();
    fails(env, &bad, "line 2").await;
    let missing = at(&["env-vars", "get", "REGION"]);
    let missing: Vec<&str> = missing.iter().map(String::as_str).collect();
    fails(env, &missing, "not found").await;
    let wrong = at(&["env-vars", "list", "--env", "prod"]);
    let wrong: Vec<&str> = wrong.iter().map(String::as_str).collect();
    fails(env, &wrong, "Invalid environment slug").await;
}
