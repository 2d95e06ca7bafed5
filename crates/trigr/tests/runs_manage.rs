//! Managing runs from the Rust client: replay with overrides, reschedule, add tags,
//! idempotency keys made like the official SDK's and reset, and public access tokens the
//! client signs itself (their scopes and expiry enforced by the server), a run's logs and output
//! streams read or followed; on both stores, with bad input.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use trigr_sdk::auth::PublicToken;
use trigr_sdk::idempotency_keys::{create, Scope};
use trigr_sdk::runs::ReplayOptions;
use trigr_sdk::{ApiErrorKind, Client, TriggerOptions};

fn client(server: &TestServer) -> Client {
    Client::new(&server.base_url, DEV_KEY).expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replay_takes_the_overrides_and_keeps_the_rest() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["a", "b"])).await;
    let orig = server
        .trigger(
            "a",
            json!({"n": 1}),
            json!({"tags": ["first"], "metadata": {"k": "v"}, "machine": "small-1x"}),
        )
        .await;
    let got = server.dequeue(&version, 1, 0).await;
    assert_eq!(server.complete_ok(&got[0], json!(1)).await.0, 200);
    let runs = client(&server).runs();

    // Without overrides: the original's payload, tags and metadata.
    let same = runs
        .replay(&orig, ReplayOptions::new())
        .await
        .expect("replay");
    let copy = client(&server)
        .retrieve_run(&same.id)
        .await
        .expect("retrieve");
    assert_eq!(copy.payload, Some(json!({"n": 1})));
    assert_eq!(copy.tags, ["first"]);
    assert_eq!(copy.metadata, Some(json!({"k": "v"})));

    // With overrides: a new payload, tags, metadata, machine and queue.
    let options = ReplayOptions::new()
        .payload(&json!({"n": 2}))
        .expect("payload")
        .tag("again")
        .tag("vip")
        .metadata(json!({"k": "w"}))
        .machine("large-1x")
        .max_attempts(2);
    let new = runs.replay(&orig, options).await.expect("replay");
    assert_ne!(new.id, orig);
    let run = client(&server).retrieve_run(&new.id).await.expect("run");
    assert_eq!(run.task_identifier, "a");
    assert_eq!(run.payload, Some(json!({"n": 2})));
    assert_eq!(run.tags, ["again", "vip"]);
    assert_eq!(run.metadata, Some(json!({"k": "w"})));
    let claimed = server.dequeue(&version, 2, 0).await;
    let claim = claimed
        .iter()
        .find(|c| c["runId"] == json!(new.id))
        .expect("the replay is queued");
    assert_eq!(claim["machine"], json!("large-1x"));

    // A delayed replay waits.
    let delayed = runs
        .replay(&orig, ReplayOptions::new().delay(Duration::from_secs(3600)))
        .await
        .expect("delayed replay");
    assert_eq!(server.run(&delayed.id).await["status"], json!("DELAYED"));

    // Bad input: an unknown run, eleven tags, an unknown region.
    let e = runs
        .replay("run_doesnotexist0000000000", ReplayOptions::new())
        .await
        .expect_err("unknown run");
    assert_eq!(e.kind(), Some(ApiErrorKind::NotFound), "{e}");
    let eleven = (0..11).fold(ReplayOptions::new(), |o, i| o.tag(format!("t{i}")));
    let e = runs.replay(&orig, eleven).await.expect_err("eleven tags");
    assert!(matches!(e.status(), Some(400 | 422)), "{e}");
    let e = runs
        .replay(&orig, ReplayOptions::new().region("nowhere\0"))
        .await
        .expect_err("a NUL in the region");
    assert!(matches!(e.status(), Some(400 | 422)), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reschedule_moves_a_delayed_run_and_refuses_others() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["a"])).await;
    let now = server.now_ms().await;
    let delayed = server.trigger("a", json!({}), json!({"delay": "1h"})).await;
    let runs = client(&server).runs();

    let run = runs
        .reschedule(&delayed, Duration::from_secs(600))
        .await
        .expect("reschedule");
    assert_eq!(run.id, delayed);
    let until = parse_ms(&server.run(&delayed).await["delayedUntil"]);
    assert!((until - (now + 600_000)).abs() <= 1000, "{until} vs {now}");

    // Time passes past the new start: the run is queued and can be claimed.
    server.advance(601_000).await;
    let got = server.dequeue(&version, 1, 0).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["runId"], json!(delayed));

    // A run that is no longer delayed is refused, and so is an unknown one.
    let e = runs
        .reschedule(&delayed, Duration::from_secs(60))
        .await
        .expect_err("not delayed");
    assert!(matches!(e.status(), Some(400 | 422)), "{e}");
    let e = runs
        .reschedule("run_doesnotexist0000000000", Duration::from_secs(60))
        .await
        .expect_err("unknown run");
    assert_eq!(e.kind(), Some(ApiErrorKind::NotFound), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tags_are_added_up_to_ten() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["a"])).await;
    let id = server.trigger("a", json!({}), json!({"tags": ["x"]})).await;
    let runs = client(&server).runs();

    let message = runs.add_tags(&id, ["y", "z"]).await.expect("add");
    assert!(message.contains('2'), "{message}");
    let message = runs.add_tags(&id, ["y"]).await.expect("add again");
    assert_eq!(message, "No new tags to add");
    let run = client(&server).retrieve_run(&id).await.expect("run");
    assert_eq!(run.tags, ["x", "y", "z"]);

    let eight: Vec<String> = (0..8).map(|i| format!("more{i}")).collect();
    let e = runs.add_tags(&id, eight).await.expect_err("eleven tags");
    assert!(matches!(e.status(), Some(400 | 422)), "{e}");
    let run = client(&server).retrieve_run(&id).await.expect("run");
    assert_eq!(run.tags, ["x", "y", "z"], "a refused add leaves the tags");
    let e = runs
        .add_tags("run_doesnotexist0000000000", ["a"])
        .await
        .expect_err("unknown run");
    assert_eq!(e.kind(), Some(ApiErrorKind::NotFound), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idempotency_key_dedupes_until_it_is_reset() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["a"])).await;
    let c = client(&server);
    let key = create(["order", "1234"], &Scope::Global);
    assert_eq!(key.len(), 64);
    let options = || TriggerOptions::new().idempotency_key(&key);

    let first = c.trigger_id("a", &json!({}), options()).await.expect("one");
    let second = c.trigger_id("a", &json!({}), options()).await.expect("two");
    assert_eq!(first.id, second.id);
    assert!(second.is_cached);
    // The key made in a run's scope is another key.
    let scoped = create(
        ["order", "1234"],
        &Scope::Run {
            run_id: first.id.clone(),
        },
    );
    let other = c
        .trigger_id(
            "a",
            &json!({}),
            TriggerOptions::new().idempotency_key(&scoped),
        )
        .await
        .expect("scoped");
    assert_ne!(other.id, first.id);

    c.idempotency_keys().reset("a", &key).await.expect("reset");
    let third = c
        .trigger_id("a", &json!({}), options())
        .await
        .expect("three");
    assert_ne!(third.id, first.id);
    assert!(!third.is_cached);

    let e = c
        .idempotency_keys()
        .reset("a", &create(["never used"], &Scope::Global))
        .await
        .expect_err("unknown key");
    assert_eq!(e.kind(), Some(ApiErrorKind::NotFound), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_minted_token_reads_its_run_only_and_not_after_expiry() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["a"])).await;
    let mine = server.trigger("a", json!({}), json!({})).await;
    let other = server.trigger("a", json!({}), json!({})).await;
    let auth = client(&server).auth();
    let token = auth
        .create_public_token(PublicToken::new().read_run(&mine))
        .await
        .expect("token");

    let get = |path: String, key: String| {
        let server = &server;
        async move { server.call_as(&key, "GET", &path, None).await }
    };
    let (s, v) = get(format!("/api/v3/runs/{mine}"), token.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], json!(mine));
    let (s, v) = get(format!("/api/v3/runs/{other}"), token.clone()).await;
    assert_eq!(s, 403, "another run: {v}");
    // Read-only: it may not cancel the run it names.
    let (s, v) = server
        .call_as(&token, "POST", &format!("/api/v2/runs/{mine}/cancel"), None)
        .await;
    assert!(s == 401 || s == 403, "cancel with a read token: {s} {v}");
    assert_eq!(server.status(&mine).await, "QUEUED");

    // A token with no scope reads nothing; one past its expiry is refused.
    let none = auth
        .create_public_token(PublicToken::new())
        .await
        .expect("no scopes");
    let (s, _) = get(format!("/api/v3/runs/{mine}"), none).await;
    assert_eq!(s, 403);
    let expired = auth
        .create_public_token(
            PublicToken::new()
                .read_run(&mine)
                .expires_at(chrono::Utc::now() - chrono::Duration::minutes(5)),
        )
        .await
        .expect("expired token");
    let (s, v) = get(format!("/api/v3/runs/{mine}"), expired).await;
    assert_eq!(s, 401, "{v}");

    // Signed by another environment's key: not valid here.
    let prod = Client::new(&server.base_url, PROD_KEY).expect("prod client");
    let foreign = prod
        .auth()
        .create_public_token(PublicToken::new().read_run(&mine))
        .await
        .expect("prod token");
    let (s, _) = get(format!("/api/v3/runs/{mine}"), foreign).await;
    assert!(s == 403 || s == 404, "{s}");
}

async fn append_logs(server: &TestServer, claim: &serde_json::Value, messages: &[&str]) {
    let id = claim["runId"].as_str().expect("a run id");
    let entries: Vec<_> = messages
        .iter()
        .map(|m| json!({"level": "info", "message": m}))
        .collect();
    let (s, v) = server
        .post(
            &format!("/api/v1/worker/runs/{id}/logs"),
            json!({"lease": claim["lease"], "entries": entries}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_log_stream_reads_what_is_there_or_follows_until_the_run_ends() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["a"])).await;
    let id = server.trigger("a", json!({}), json!({})).await;
    let claim = server.dequeue(&version, 1, 0).await.remove(0);
    append_logs(&server, &claim, &["one", "two"]).await;
    let runs = client(&server).runs();
    let messages = |lines: Vec<trigr_sdk::client::types::LogEntry>| -> Vec<String> {
        lines.into_iter().map(|l| l.message).collect()
    };

    // Without follow: what is there now, though the run goes on.
    let now = runs.log_stream(&id, false).collect().await.expect("read");
    assert_eq!(messages(now), ["one", "two"]);

    // Following: the lines written later, and the end once the run is final.
    let mut follow = runs.log_stream(&id, true);
    for expected in ["one", "two"] {
        let line = follow.next().await.expect("read").expect("a line");
        assert_eq!(line.message, expected);
        assert_eq!(line.attempt, Some(1));
    }
    let rest = tokio::spawn(follow.collect());
    append_logs(&server, &claim, &["three"]).await;
    append_logs(&server, &claim, &["four"]).await;
    assert_eq!(server.complete_ok(&claim, json!(1)).await.0, 200);
    let rest = tokio::time::timeout(Duration::from_secs(60), rest)
        .await
        .expect("the stream ends with the run")
        .expect("task")
        .expect("follow");
    assert_eq!(messages(rest), ["three", "four"]);

    // A finished run's stream, followed or not, is its lines and then the end.
    let all = runs.log_stream(&id, true).collect().await.expect("read");
    assert_eq!(messages(all), ["one", "two", "three", "four"]);
    let e = runs
        .log_stream("run_doesnotexist0000000000", true)
        .collect()
        .await
        .expect_err("unknown run");
    assert_eq!(e.kind(), Some(ApiErrorKind::NotFound), "{e}");
}

/// Writes NDJSON chunks to the run's output stream `key` under its lease.
async fn write_chunks(server: &TestServer, claim: &serde_json::Value, key: &str, lines: &str) {
    let id = claim["runId"].as_str().unwrap();
    let r = server
        .send(
            Req::new("POST", &format!("/realtime/v1/streams/{id}/self/{key}"))
                .raw_body("application/x-ndjson", lines.as_bytes().to_vec())
                .header("x-trigr-lease", claim["lease"].as_str().unwrap()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_output_stream_reads_what_is_there_or_follows_until_the_run_ends() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["a"])).await;
    let id = server.trigger("a", json!({}), json!({})).await;
    let claim = server.dequeue(&version, 1, 0).await.remove(0);
    write_chunks(&server, &claim, "tokens", "{\"t\":\"a\"}\n\"b\"\n").await;
    let runs = client(&server).runs();

    // Without follow: the chunks there now, though the run goes on; none under another key.
    let now = runs.output_stream(&id, "tokens", false).collect().await;
    assert_eq!(now.expect("read"), [json!({"t": "a"}), json!("b")]);
    let none = runs.output_stream(&id, "other", false).collect().await;
    assert_eq!(none.expect("read"), Vec::<serde_json::Value>::new());

    // Following: the chunks written later, and the end once the run is final.
    let mut follow = runs.output_stream(&id, "tokens", true);
    assert_eq!(follow.next().await.expect("read"), Some(json!({"t": "a"})));
    let rest = tokio::spawn(follow.collect());
    write_chunks(&server, &claim, "tokens", "[1,2]\n").await;
    write_chunks(&server, &claim, "tokens", "3\n").await;
    assert_eq!(server.complete_ok(&claim, json!(1)).await.0, 200);
    let rest = tokio::time::timeout(Duration::from_secs(60), rest)
        .await
        .expect("the stream ends with the run")
        .expect("task")
        .expect("follow");
    assert_eq!(rest, [json!("b"), json!([1, 2]), json!(3)]);

    // A finished run's stream, followed or not, is its chunks and then the end.
    let all = runs.output_stream(&id, "tokens", true).collect().await;
    assert_eq!(all.expect("read").len(), 4);
    let e = runs
        .output_stream("run_doesnotexist0000000000", "tokens", true)
        .collect()
        .await
        .expect_err("unknown run");
    assert_eq!(e.kind(), Some(ApiErrorKind::NotFound), "{e}");
}
