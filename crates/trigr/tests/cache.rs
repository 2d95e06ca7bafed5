//! The environment's cache (`/api/v1/cache/…`) and metadata store (`/api/v1/env-metadata/…`)
//! against real servers, over HTTP and through the Rust client, on the store the suite runs
//! on (and on PostgreSQL for the two-server lock race):
//!
//! * every operation, with environments apart and the two spaces apart;
//! * expiry exact to the millisecond with the manual clock (an entry with a ttl of 10 s is
//!   there at +9.999 s and gone at +10 s), and expired entries reclaimed by the timer pass;
//! * `set_if_not_exists` as a lock: of 100 concurrent callers exactly one wins, on one server
//!   and on two servers sharing one PostgreSQL database;
//! * limits and hostile input answered with a 4xx `{"error": …}` that leaves nothing written;
//! * `ctx.cache()` and `ctx.env_metadata()` inside a task of the SDK's worker.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use trigr_sdk::cache::CacheItem;
use trigr_sdk::Client;

async fn call(server: &TestServer, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    server.call(method, path, body).await
}

async fn ok(server: &TestServer, method: &str, path: &str, body: Option<Value>) -> Value {
    let (s, v) = call(server, method, path, body).await;
    assert_eq!(s, 200, "{method} {path}: {v}");
    v
}

/// A 4xx with a JSON error naming the problem (`needle`).
async fn refused(
    server: &TestServer,
    method: &str,
    path: &str,
    body: Option<Value>,
    status: u16,
    needle: &str,
) {
    let (s, v) = call(server, method, path, body.clone()).await;
    assert_eq!(s, status, "{method} {path} {body:?}: {v}");
    let message = v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error sentence: {v}"));
    assert!(
        message.to_lowercase().contains(&needle.to_lowercase()),
        "{method} {path}: '{message}' does not mention '{needle}'"
    );
}

fn client(server: &TestServer) -> Client {
    Client::new(&server.base_url, DEV_KEY).expect("client")
}

/// Every cache operation over HTTP: set, get, lookup with and without values, set many,
/// delete, delete many, set only where absent; keys with `/` and spaces; other environments
/// and the metadata store see none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_operations_over_http() {
    let server = TestServer::start().await;
    let profile = json!({"name": "John Doe", "preferences": {"theme": "dark"}, "n": [1, 2]});
    let set = ok(
        &server,
        "PUT",
        "/api/v1/cache/entries/user:profile:123",
        Some(json!({"value": profile, "ttl": 3600})),
    )
    .await;
    assert_eq!(set["key"], "user:profile:123");
    assert_eq!(set["written"], true);
    assert!(set["expiresAt"].is_string(), "{set}");
    let got = ok(
        &server,
        "GET",
        "/api/v1/cache/entries/user:profile:123",
        None,
    )
    .await;
    assert_eq!(got["value"], profile);
    assert_eq!(got["expiresAt"], set["expiresAt"]);

    // A key with a slash and a space, percent-encoded in the path.
    ok(
        &server,
        "PUT",
        "/api/v1/cache/entries/a%2Fb%20c",
        Some(json!({"value": null, "ttl": 60})),
    )
    .await;
    let got = ok(&server, "GET", "/api/v1/cache/entries/a%2Fb%20c", None).await;
    assert_eq!(got["key"], "a/b c");
    assert_eq!(got["value"], Value::Null, "a null value is a value");

    let many = ok(
        &server,
        "POST",
        "/api/v1/cache/set",
        Some(json!({"entries": [
            {"key": "config:api-key", "value": "abc123", "ttl": 86400},
            {"key": "config:endpoint", "value": "https://api.example.com", "ttl": 86400}
        ]})),
    )
    .await;
    assert_eq!(many["written"], 2);
    let found = ok(
        &server,
        "POST",
        "/api/v1/cache/lookup",
        Some(json!({"keys": ["config:endpoint", "nope", "config:api-key"]})),
    )
    .await;
    let entries = found["entries"].as_array().unwrap();
    let pairs: Vec<(&Value, &Value)> = entries.iter().map(|e| (&e["key"], &e["value"])).collect();
    assert_eq!(
        pairs,
        [
            (&json!("config:endpoint"), &json!("https://api.example.com")),
            (&json!("config:api-key"), &json!("abc123")),
        ]
    );
    let found = ok(
        &server,
        "POST",
        "/api/v1/cache/lookup",
        Some(json!({"keys": ["config:endpoint", "nope"], "values": false})),
    )
    .await;
    assert_eq!(found["entries"].as_array().unwrap().len(), 1);
    assert!(found["entries"][0].get("value").is_none(), "{found}");

    // Set only where absent.
    let lock = ok(
        &server,
        "PUT",
        "/api/v1/cache/entries/job:lock:1",
        Some(json!({"value": {"worker": "w-1"}, "ttl": 300, "ifNotExists": true})),
    )
    .await;
    assert_eq!(lock["written"], true);
    let again = ok(
        &server,
        "PUT",
        "/api/v1/cache/entries/job:lock:1",
        Some(json!({"value": {"worker": "w-2"}, "ttl": 300, "ifNotExists": true})),
    )
    .await;
    assert_eq!(again["written"], false);
    assert!(again.get("expiresAt").is_none(), "{again}");
    let held = ok(&server, "GET", "/api/v1/cache/entries/job:lock:1", None).await;
    assert_eq!(held["value"]["worker"], "w-1", "the loser changed nothing");

    // Other environments and the metadata store do not see the cache.
    let (s, _) = server
        .call_as(
            STAGING_KEY,
            "GET",
            "/api/v1/cache/entries/user:profile:123",
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = call(
        &server,
        "GET",
        "/api/v1/env-metadata/entries/user:profile:123",
        None,
    )
    .await;
    assert_eq!(s, 404);

    // Deletes count the live entries.
    let d = ok(
        &server,
        "DELETE",
        "/api/v1/cache/entries/user:profile:123",
        None,
    )
    .await;
    assert_eq!(d["deleted"], 1);
    let d = ok(
        &server,
        "DELETE",
        "/api/v1/cache/entries/user:profile:123",
        None,
    )
    .await;
    assert_eq!(d["deleted"], 0);
    refused(
        &server,
        "GET",
        "/api/v1/cache/entries/user:profile:123",
        None,
        404,
        "user:profile:123",
    )
    .await;
    let d = ok(
        &server,
        "POST",
        "/api/v1/cache/delete",
        Some(json!({"keys": ["config:api-key", "config:endpoint", "nope"]})),
    )
    .await;
    assert_eq!(d["deleted"], 2);
    let found = ok(
        &server,
        "POST",
        "/api/v1/cache/lookup",
        Some(json!({"keys": ["config:api-key", "config:endpoint"]})),
    )
    .await;
    assert_eq!(found["entries"], json!([]));
}

/// The metadata store over HTTP: entries kept without a ttl, or with one; set replaces; no
/// `ifNotExists`; apart from run metadata and from the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_metadata_over_http() {
    let server = TestServer::start().await;
    let context = json!({"userId": "user-123", "permissions": ["admin", "editor"]});
    let set = ok(
        &server,
        "PUT",
        "/api/v1/env-metadata/entries/request-context",
        Some(json!({"value": context})),
    )
    .await;
    assert_eq!(set["written"], true);
    assert!(set.get("expiresAt").is_none(), "kept until deleted: {set}");
    let got = ok(
        &server,
        "GET",
        "/api/v1/env-metadata/entries/request-context",
        None,
    )
    .await;
    assert_eq!(got["value"], context);
    assert!(got.get("expiresAt").is_none());
    let timed = ok(
        &server,
        "PUT",
        "/api/v1/env-metadata/entries/user-session",
        Some(json!({"value": {"authenticated": true}, "ttl": 3600})),
    )
    .await;
    assert!(timed["expiresAt"].is_string());
    ok(
        &server,
        "PUT",
        "/api/v1/env-metadata/entries/request-context",
        Some(json!({"value": "replaced"})),
    )
    .await;
    let found = ok(
        &server,
        "POST",
        "/api/v1/env-metadata/lookup",
        Some(json!({"keys": ["request-context", "user-session", "other"], "values": false})),
    )
    .await;
    let keys: Vec<&Value> = found["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["key"])
        .collect();
    assert_eq!(keys, [&json!("request-context"), &json!("user-session")]);
    let got = ok(
        &server,
        "GET",
        "/api/v1/env-metadata/entries/request-context",
        None,
    )
    .await;
    assert_eq!(got["value"], "replaced");
    refused(
        &server,
        "PUT",
        "/api/v1/env-metadata/entries/lock",
        Some(json!({"value": 1, "ifNotExists": true})),
        400,
        "ifNotExists",
    )
    .await;
    let (s, _) = call(
        &server,
        "GET",
        "/api/v1/cache/entries/request-context",
        None,
    )
    .await;
    assert_eq!(s, 404, "the cache is another space");
    let (s, _) = server
        .call_as(
            PROD_KEY,
            "GET",
            "/api/v1/env-metadata/entries/request-context",
            None,
        )
        .await;
    assert_eq!(s, 404, "another environment");
    let d = ok(
        &server,
        "DELETE",
        "/api/v1/env-metadata/entries/request-context",
        None,
    )
    .await;
    assert_eq!(d["deleted"], 1);
    let (s, _) = call(
        &server,
        "GET",
        "/api/v1/env-metadata/entries/request-context",
        None,
    )
    .await;
    assert_eq!(s, 404);
}

/// Expiry with the manual clock: a cache entry with a ttl of 10 s is there at +9.999 s and
/// gone at +10 s for every read; its key is free for `ifNotExists` again; the timer pass
/// reclaims the expired rows. The same for a metadata entry with a ttl, while one without
/// stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_is_exact_with_the_manual_clock() {
    let server = TestServer::start_with_clock().await;
    let c = client(&server);
    let cache = c.cache();
    let metadata = c.env_metadata();
    cache
        .set("ten", &json!({"v": 1}), Duration::from_secs(10))
        .await
        .unwrap();
    assert!(cache
        .set_if_not_exists("lock", &"a", Duration::from_secs(10))
        .await
        .unwrap());
    metadata
        .set("session", &"s", Some(Duration::from_secs(10)))
        .await
        .unwrap();
    metadata.set("forever", &"f", None).await.unwrap();
    let entry = cache.get_entry("ten").await.unwrap().expect("set");
    let expires = entry.expires_at.expect("an expiry");

    let moved = server.advance(9_999).await;
    assert_eq!(moved["kvReclaimed"], 0);
    assert_eq!(
        cache.get::<Value>("ten").await.unwrap(),
        Some(json!({"v": 1}))
    );
    assert!(cache.has("ten").await.unwrap());
    assert!(!cache
        .set_if_not_exists("lock", &"b", Duration::from_secs(10))
        .await
        .unwrap());
    assert!(metadata.has("session").await.unwrap());
    let now = chrono::DateTime::parse_from_rfc3339(moved["now"].as_str().unwrap()).unwrap();
    assert_eq!(
        (expires - now.with_timezone(&chrono::Utc)).num_milliseconds(),
        1
    );

    // At the millisecond of expiry every read sees the entries gone (the conformance suite
    // shows reads skip expired rows not yet reclaimed); the pass reclaims exactly them.
    let (s, v) = server
        .post("/api/v1/test/clock", json!({"advanceMs": 1}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["kvReclaimed"], 3, "ten, lock and session: {v}");
    assert_eq!(cache.get::<Value>("ten").await.unwrap(), None);
    assert!(!cache.has("ten").await.unwrap());
    assert!(cache.get_many(&["ten", "lock"]).await.unwrap().is_empty());
    assert!(
        !cache.delete("ten").await.unwrap(),
        "nothing live to delete"
    );
    assert!(!metadata.has("session").await.unwrap());
    assert_eq!(
        metadata.get::<String>("forever").await.unwrap().as_deref(),
        Some("f")
    );
    assert!(
        cache
            .set_if_not_exists("lock", &"b", Duration::from_secs(10))
            .await
            .unwrap(),
        "an expired lock is free"
    );
    assert_eq!(
        cache.get::<String>("lock").await.unwrap().as_deref(),
        Some("b")
    );
}

/// Expired entries that are never read again are reclaimed by the timer pass, in batches
/// (more than one batch here), and only they.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_entries_are_reclaimed_in_batches() {
    let server = TestServer::start_with_clock().await;
    let cache = client(&server).cache();
    for chunk in 0..6 {
        let items: Vec<CacheItem> = (0..100)
            .map(|i| {
                let ttl = if i == 0 { 3600 } else { 5 };
                CacheItem::new(format!("k{chunk}-{i}"), &i, Duration::from_secs(ttl)).unwrap()
            })
            .collect();
        assert_eq!(cache.set_many(&items).await.unwrap(), 100);
    }
    let moved = server.advance(5_000).await;
    assert_eq!(moved["kvReclaimed"], 594, "{moved}");
    let moved = server.advance(5_000).await;
    assert_eq!(moved["kvReclaimed"], 0);
    let kept: Vec<String> = (0..6).map(|c| format!("k{c}-0")).collect();
    let kept: Vec<&str> = kept.iter().map(String::as_str).collect();
    assert_eq!(cache.get_many(&kept).await.unwrap().len(), 6);
}

/// The Rust client: every cache and metadata operation, values read back as typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_covers_every_operation() {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Profile {
        name: String,
        tags: Vec<String>,
    }
    let server = TestServer::start().await;
    let c = client(&server);
    let cache = c.cache();
    let ada = Profile {
        name: "Ada".into(),
        tags: vec!["admin".into()],
    };
    cache
        .set("user:1", &ada, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(cache.get::<Profile>("user:1").await.unwrap(), Some(ada));
    assert_eq!(cache.get::<Profile>("user:2").await.unwrap(), None);
    assert!(cache.has("user:1").await.unwrap());
    assert!(!cache.has("user:2").await.unwrap());
    let wrong = cache.get::<u64>("user:1").await.unwrap_err();
    assert!(wrong.to_string().contains("user:1"), "{wrong}");

    let items = vec![
        CacheItem::new("a/1", &1, Duration::from_secs(60)).unwrap(),
        CacheItem::new("a/2", "two", Duration::from_millis(1500)).unwrap(),
    ];
    assert_eq!(cache.set_many(&items).await.unwrap(), 2);
    let got = cache.get_many(&["a/2", "missing", "a/1"]).await.unwrap();
    let pairs: Vec<(&str, &Value)> = got.iter().map(|e| (e.key.as_str(), &e.value)).collect();
    assert_eq!(pairs, [("a/2", &json!("two")), ("a/1", &json!(1))]);
    let short = got[0].expires_at.unwrap();
    let long = got[1].expires_at.unwrap();
    assert_eq!(
        (long - short).num_milliseconds(),
        58_000,
        "1.5 s is sent as 2 s"
    );

    assert!(cache
        .set_if_not_exists("lock", &"me", Duration::from_secs(30))
        .await
        .unwrap());
    assert!(!cache
        .set_if_not_exists("lock", &"you", Duration::from_secs(30))
        .await
        .unwrap());
    assert!(cache.delete("lock").await.unwrap());
    assert!(!cache.delete("lock").await.unwrap());
    assert!(cache
        .set_if_not_exists("lock", &"you", Duration::from_secs(30))
        .await
        .unwrap());
    assert_eq!(
        cache
            .delete_many(&["a/1", "a/2", "lock", "user:1", "zz"])
            .await
            .unwrap(),
        4
    );
    assert!(cache
        .get_many(&["a/1", "a/2", "lock", "user:1"])
        .await
        .unwrap()
        .is_empty());

    // Typed errors for what the server refuses.
    let e = cache.set("k", &1, Duration::ZERO).await.unwrap_err();
    assert_eq!(e.status(), Some(400), "{e}");
    let big = "x".repeat(300 * 1024);
    let e = cache
        .set("k", &big, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(413), "{e}");
    let keys: Vec<String> = (0..101).map(|i| i.to_string()).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let e = cache.get_many(&keys).await.unwrap_err();
    assert_eq!(e.status(), Some(400), "{e}");

    let metadata = c.env_metadata();
    metadata
        .set("settings", &json!({"theme": "dark"}), None)
        .await
        .unwrap();
    metadata
        .set("session", &true, Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(
        metadata.get::<Value>("settings").await.unwrap(),
        Some(json!({"theme": "dark"}))
    );
    let entry = metadata.get_entry("settings").await.unwrap().unwrap();
    assert_eq!(entry.expires_at, None);
    assert!(metadata
        .get_entry("session")
        .await
        .unwrap()
        .unwrap()
        .expires_at
        .is_some());
    assert!(metadata.has("session").await.unwrap());
    assert!(
        !c.cache().has("settings").await.unwrap(),
        "the cache is another space"
    );
    assert!(metadata.delete("settings").await.unwrap());
    assert!(!metadata.has("settings").await.unwrap());
    assert_eq!(metadata.get::<Value>("settings").await.unwrap(), None);
}

/// Limits and hostile input: each a 4xx with a sentence naming the problem, nothing written.
/// A miss is an answer, not a failed call (the request metrics count no failure), and an
/// empty key is the server's validation error, not a miss — in both stores' clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_is_not_a_failure_and_an_empty_key_is_refused() {
    let server = TestServer::start().await;
    let c = client(&server);
    assert_eq!(c.cache().get::<u64>("absent").await.unwrap(), None);
    assert!(c.cache().get_entry("absent").await.unwrap().is_none());
    assert_eq!(c.env_metadata().get::<u64>("absent").await.unwrap(), None);
    let stats = c.performance_stats();
    assert_eq!((stats.count, stats.failures), (3, 0), "{stats:?}");
    for err in [
        c.cache().get::<u64>("").await.unwrap_err(),
        c.env_metadata().get::<u64>("").await.unwrap_err(),
    ] {
        assert!(
            matches!(err.kind(), Some(trigr_sdk::ApiErrorKind::Validation { .. })),
            "an empty key answered {err:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_bad_input_are_refused() {
    let server = TestServer::start().await;
    let e = "/api/v1/cache/entries";
    // No key, a public key for another thing: 401 before anything is read.
    let r = server
        .send(
            Req::new("PUT", &format!("{e}/k"))
                .no_key()
                .json(&json!({"value": 1, "ttl": 1})),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.json["error"].is_string(), "{}", r.text);

    // Keys.
    let long = "k".repeat(513);
    refused(
        &server,
        "PUT",
        &format!("{e}/{long}"),
        Some(json!({"value": 1, "ttl": 1})),
        400,
        "512",
    )
    .await;
    refused(&server, "GET", &format!("{e}/{long}"), None, 400, "512").await;
    refused(
        &server,
        "PUT",
        &format!("{e}/a%00b"),
        Some(json!({"value": 1, "ttl": 1})),
        400,
        "NUL",
    )
    .await;
    refused(&server, "GET", &format!("{e}/a%0Ab"), None, 400, "control").await;
    refused(
        &server,
        "POST",
        "/api/v1/cache/lookup",
        Some(json!({"keys": ["a\u{0}b"]})),
        400,
        "NUL",
    )
    .await;
    refused(
        &server,
        "POST",
        "/api/v1/cache/lookup",
        Some(json!({"keys": [""]})),
        400,
        "empty",
    )
    .await;
    refused(
        &server,
        "POST",
        "/api/v1/cache/lookup",
        Some(json!({"keys": []})),
        400,
        "empty",
    )
    .await;
    refused(
        &server,
        "POST",
        "/api/v1/cache/lookup",
        Some(json!({"keys": ["a", "a"]})),
        400,
        "twice",
    )
    .await;
    let many: Vec<String> = (0..101).map(|i| format!("k{i}")).collect();
    refused(
        &server,
        "POST",
        "/api/v1/cache/lookup",
        Some(json!({"keys": many})),
        400,
        "limit is 100",
    )
    .await;
    refused(
        &server,
        "POST",
        "/api/v1/cache/delete",
        Some(json!({"keys": many})),
        400,
        "limit is 100",
    )
    .await;
    refused(
        &server,
        "POST",
        "/api/v1/cache/delete",
        Some(json!({"keys": ["a"], "values": true})),
        400,
        "values",
    )
    .await;
    refused(
        &server,
        "POST",
        "/api/v1/cache/lookup",
        Some(json!({"keys": "a"})),
        400,
        "keys",
    )
    .await;

    // TTLs.
    for (ttl, needle) in [
        (json!(0), "ttl"),
        (json!(-1), "ttl"),
        (json!(31_536_001), "ttl"),
        (json!(1.5), "ttl"),
        (json!("10"), "ttl"),
        (json!(1e20), "ttl"),
        (json!(i64::MAX), "ttl"),
    ] {
        refused(
            &server,
            "PUT",
            &format!("{e}/k"),
            Some(json!({"value": 1, "ttl": ttl})),
            400,
            needle,
        )
        .await;
    }
    // A number past any integer type.
    let r = server
        .send(Req::new("PUT", &format!("{e}/k")).raw_body(
            "application/json",
            r#"{"value": 1, "ttl": 99999999999999999999999}"#,
        ))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.json["error"].as_str().unwrap().contains("ttl"),
        "{}",
        r.text
    );
    refused(
        &server,
        "PUT",
        &format!("{e}/k"),
        Some(json!({"value": 1})),
        400,
        "ttl is required",
    )
    .await;
    refused(
        &server,
        "PUT",
        "/api/v1/env-metadata/entries/k",
        Some(json!({"value": 1, "ttl": 0})),
        400,
        "ttl",
    )
    .await;

    // Bodies.
    refused(
        &server,
        "PUT",
        &format!("{e}/k"),
        Some(json!({"ttl": 1})),
        400,
        "value",
    )
    .await;
    refused(
        &server,
        "PUT",
        &format!("{e}/k"),
        Some(json!({"value": 1, "ttl": 1, "extra": 1})),
        400,
        "extra",
    )
    .await;
    refused(
        &server,
        "PUT",
        &format!("{e}/k"),
        Some(json!([1])),
        400,
        "object",
    )
    .await;

    // Values: 413 past 256 KiB of JSON; a NUL inside a value is data and kept.
    let big = "x".repeat(256 * 1024);
    refused(
        &server,
        "PUT",
        &format!("{e}/k"),
        Some(json!({"value": big, "ttl": 1})),
        413,
        "limit",
    )
    .await;
    refused(
        &server,
        "PUT",
        "/api/v1/env-metadata/entries/k",
        Some(json!({"value": big})),
        413,
        "limit",
    )
    .await;
    ok(
        &server,
        "PUT",
        &format!("{e}/nul"),
        Some(json!({"value": "a\u{0}b", "ttl": 60})),
    )
    .await;
    let got = ok(&server, "GET", &format!("{e}/nul"), None).await;
    assert_eq!(got["value"], json!("a\u{0}b"));

    // set_many is all or nothing: one bad entry (or a key twice) writes none.
    let good = json!({"key": "good", "value": 1, "ttl": 60});
    for (bad, status, needle) in [
        (json!({"key": "bad", "value": 1, "ttl": 0}), 400, "ttl"),
        (json!({"key": "", "value": 1, "ttl": 60}), 400, "empty"),
        (json!({"key": "big", "value": big, "ttl": 60}), 413, "limit"),
        (json!({"key": "good", "value": 2, "ttl": 60}), 400, "twice"),
    ] {
        refused(
            &server,
            "POST",
            "/api/v1/cache/set",
            Some(json!({"entries": [good, bad]})),
            status,
            needle,
        )
        .await;
        let (s, _) = call(&server, "GET", &format!("{e}/good"), None).await;
        assert_eq!(s, 404, "nothing written for {bad}");
    }
    let entries: Vec<Value> = (0..101)
        .map(|i| json!({"key": format!("k{i}"), "value": i, "ttl": 60}))
        .collect();
    refused(
        &server,
        "POST",
        "/api/v1/cache/set",
        Some(json!({"entries": entries})),
        400,
        "limit is 100",
    )
    .await;
    refused(
        &server,
        "POST",
        "/api/v1/cache/set",
        Some(json!({"entries": []})),
        400,
        "empty",
    )
    .await;
    let (s, _) = call(&server, "GET", &format!("{e}/k0"), None).await;
    assert_eq!(s, 404);
}

/// 100 concurrent `set_if_not_exists` on one key through the client: exactly one `true`, and
/// the stored value is the winner's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_a_hundred_concurrent_lockers_wins() {
    let server = TestServer::start().await;
    let cache = client(&server).cache();
    let winners = race(std::slice::from_ref(&cache), "race:lock").await;
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let held: Option<usize> = cache.get("race:lock").await.unwrap();
    assert_eq!(held, Some(winners[0]));
}

/// The same race on two servers sharing one PostgreSQL database, callers split between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_locker_wins_across_two_servers() {
    let first = TestServer::start_with(Options {
        backend: Some(Backend::Postgres),
        ..Default::default()
    })
    .await;
    let second = TestServer::start_with(Options {
        backend: Some(Backend::Postgres),
        data_dir: Some(first.data_dir.clone()),
        ..Default::default()
    })
    .await;
    let caches = [client(&first).cache(), client(&second).cache()];
    // The servers share the data: what one writes the other reads.
    caches[0]
        .set("shared", &1, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(caches[1].get::<i64>("shared").await.unwrap(), Some(1));
    for round in 0..3 {
        let key = format!("race:{round}");
        let winners = race(&caches, &key).await;
        assert_eq!(winners.len(), 1, "round {round}, winners: {winners:?}");
        for cache in &caches {
            let held: Option<usize> = cache.get(&key).await.unwrap();
            assert_eq!(held, Some(winners[0]));
        }
    }
}

/// Concurrent writes and deletes naming the same keys in opposite orders, on PostgreSQL
/// (where each locks its rows as it goes): every call succeeds, round after round, with no
/// deadlock answered as a 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_calls_in_opposite_orders_do_not_deadlock() {
    let server = TestServer::start_with(Options {
        backend: Some(Backend::Postgres),
        ..Default::default()
    })
    .await;
    let keys: Vec<String> = (0..40).map(|i| format!("k{i:02}")).collect();
    let reversed: Vec<String> = keys.iter().rev().cloned().collect();
    let entries = |keys: &[String], value: i64| -> Value {
        let entries: Vec<Value> = keys
            .iter()
            .map(|k| json!({"key": k, "value": value, "ttl": 60}))
            .collect();
        json!({ "entries": entries })
    };
    for round in 0..20 {
        let (up, down) = tokio::join!(
            call(
                &server,
                "POST",
                "/api/v1/cache/set",
                Some(entries(&keys, 1))
            ),
            call(
                &server,
                "POST",
                "/api/v1/cache/set",
                Some(entries(&reversed, 2))
            ),
        );
        assert_eq!((up.0, down.0), (200, 200), "round {round}: {up:?} {down:?}");
        assert_eq!(up.1["written"], 40);
        assert_eq!(down.1["written"], 40);
        let (del, set) = tokio::join!(
            call(
                &server,
                "POST",
                "/api/v1/cache/delete",
                Some(json!({"keys": keys}))
            ),
            call(
                &server,
                "POST",
                "/api/v1/cache/set",
                Some(entries(&reversed, 3))
            ),
        );
        assert_eq!((del.0, set.0), (200, 200), "round {round}: {del:?} {set:?}");
    }
}

/// 100 callers, spread over `caches`, each trying to take `key` with its own number; the
/// numbers of those that got `true`.
async fn race(caches: &[trigr_sdk::cache::Cache], key: &str) -> Vec<usize> {
    let start = Arc::new(tokio::sync::Barrier::new(100));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..100 {
        let cache = caches[i % caches.len()].clone();
        let (start, key) = (start.clone(), key.to_string());
        set.spawn(async move {
            start.wait().await;
            let won = cache
                .set_if_not_exists(&key, &i, Duration::from_secs(300))
                .await
                .expect("set_if_not_exists");
            (i, won)
        });
    }
    let mut winners = Vec::new();
    while let Some(done) = set.join_next().await {
        let (i, won) = done.expect("caller");
        if won {
            winners.push(i);
        }
    }
    winners
}

/// Inside a task: `ctx.cache()` and `ctx.env_metadata()` reach the run's environment — what
/// the task writes, a client of that environment reads, and the reverse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_uses_the_cache_of_its_environment() {
    use trigr_sdk::{task, Worker};

    let server = TestServer::start().await;
    let c = client(&server);
    c.env_metadata()
        .set("greeting", &"hello", None)
        .await
        .unwrap();
    let cached = task("cached").run(|n: u64, ctx| async move {
        let greeting: Option<String> = ctx.env_metadata().get("greeting").await?;
        let first = ctx
            .cache()
            .set_if_not_exists("task:lock", &ctx.run.id, Duration::from_secs(60))
            .await?;
        ctx.cache()
            .set("task:out", &(n * 2), Duration::from_secs(60))
            .await?;
        ctx.env_metadata()
            .set("last-run", &ctx.run.id, None)
            .await?;
        Ok(json!({"greeting": greeting, "first": first}))
    });
    let worker = Worker::new(c.clone())
        .poll_wait(Duration::from_millis(200))
        .shutdown_timeout(Duration::from_secs(10))
        .task(cached.clone())
        .start()
        .await
        .expect("worker");
    let handle = c.trigger(&cached, &21).await.expect("trigger");
    let done = c
        .poll_run(&handle.id, Duration::from_secs(30))
        .await
        .expect("the run ends");
    worker.shutdown().await.expect("shutdown");
    assert_eq!(
        done.output,
        Some(json!({"greeting": "hello", "first": true})),
        "{done:?}"
    );
    assert_eq!(c.cache().get::<u64>("task:out").await.unwrap(), Some(42));
    assert_eq!(
        c.cache().get::<String>("task:lock").await.unwrap(),
        Some(handle.id.clone())
    );
    assert_eq!(
        c.env_metadata().get::<String>("last-run").await.unwrap(),
        Some(handle.id)
    );
    let (s, _) = server
        .call_as(STAGING_KEY, "GET", "/api/v1/cache/entries/task:out", None)
        .await;
    assert_eq!(s, 404, "only the run's environment");
}
