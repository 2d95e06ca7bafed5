//! Both mollifier buffers — the store's and Redis' — driven through [`MollifierBuffer`] by
//! seeded random sequences of accept, pop, ack, requeue, remove and expiry, each step checked
//! against an in-memory model; and the key and FIFO rules every backend keeps.
//!
//! The Redis buffer runs against the machine's Redis (`TRIGR_TEST_REDIS_URL`, else
//! 127.0.0.1:6379) under a prefix of its own; without Redis the test says so and passes,
//! unless `TRIGR_REQUIRE_REDIS=1` (CI) makes that a failure.

use std::sync::Arc;

use trigr_engine::mollifier::redis_buffer::{connect, key_prefix};
use trigr_engine::mollifier::{Accepted, MollifierBuffer, RedisBuffer, StoreBuffer};
use trigr_store::{BufferCursor, BufferedEntry, Store};
use trigr_types::Millis;

const NOW: Millis = 1_700_000_000_000;

fn entry(env: &str, n: u64, expires_at: Millis) -> BufferedEntry {
    BufferedEntry {
        seq: 0,
        run_id: format!("run_{env}_{n}"),
        env_id: env.to_string(),
        org_id: format!("org_{env}"),
        task_id: "t".into(),
        idempotency_key: None,
        request_key: None,
        body: format!("{{\"n\":{n}}}"),
        claim: None,
        attempts: 0,
        created_at: NOW,
        expires_at,
        batch_id: None,
    }
}

fn store_buffer() -> (tempfile::TempDir, Arc<dyn MollifierBuffer>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display())).unwrap();
    (dir, Arc::new(StoreBuffer::new(store)))
}

/// A Redis buffer under a fresh prefix, or `None` when no Redis answers (and none is required).
async fn redis_buffer() -> Option<Arc<dyn MollifierBuffer>> {
    let url = std::env::var("TRIGR_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string());
    match connect(&url).await {
        Ok(conn) => {
            let name = format!("test{}", rand_suffix());
            Some(Arc::new(RedisBuffer::new(
                conn,
                &key_prefix(&name).unwrap(),
            )))
        }
        Err(e) if std::env::var("TRIGR_REQUIRE_REDIS").as_deref() == Ok("1") => {
            panic!("Redis is required (TRIGR_REQUIRE_REDIS=1) but {url} failed: {e}")
        }
        Err(e) => {
            eprintln!("Redis buffer tests skipped: {url}: {e}");
            None
        }
    }
}

fn rand_suffix() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}_{}", std::process::id(), nanos)
}

async fn ids(b: &dyn MollifierBuffer, env: &str) -> Vec<String> {
    b.entries(env, BufferCursor::Above(0), 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.run_id)
        .collect()
}

async fn pop(b: &dyn MollifierBuffer, env: &str, by: &str, now: Millis) -> Option<String> {
    b.pop(env, by, now, now + 30_000)
        .await
        .unwrap()
        .map(|e| e.run_id)
}

/// Accept is idempotent on the run id and refuses a key another entry holds.
async fn accept_rules(b: &dyn MollifierBuffer) {
    assert_eq!(
        b.accept(entry("e", 1, NOW + 1000)).await.unwrap(),
        Accepted::New
    );
    let mut again = entry("e", 1, NOW + 5000);
    again.body = "{\"other\":1}".into();
    assert_eq!(b.accept(again).await.unwrap(), Accepted::Exists);
    let got = b.get("e", "run_e_1").await.unwrap().unwrap();
    assert_eq!(
        (got.body.as_str(), got.expires_at),
        ("{\"n\":1}", NOW + 1000)
    );
    assert_eq!(got.org_id, "org_e");
    // Not visible from another environment.
    assert_eq!(b.get("f", "run_e_1").await.unwrap(), None);

    let mut keyed = entry("e", 2, NOW + 1000);
    keyed.idempotency_key = Some("k".into());
    keyed.request_key = Some("r".into());
    keyed.batch_id = Some("batch_1".into());
    assert_eq!(b.accept(keyed).await.unwrap(), Accepted::New);
    let mut same_key = entry("e", 3, NOW + 1000);
    same_key.idempotency_key = Some("k".into());
    assert_eq!(
        b.accept(same_key.clone()).await.unwrap(),
        Accepted::IdempotencyKey("run_e_2".into())
    );
    let mut same_request = entry("e", 3, NOW + 1000);
    same_request.request_key = Some("r".into());
    assert_eq!(
        b.accept(same_request).await.unwrap(),
        Accepted::RequestKey("run_e_2".into())
    );
    // The same key of another task, or of another environment, is free.
    same_key.task_id = "other".into();
    assert_eq!(b.accept(same_key).await.unwrap(), Accepted::New);
    let mut elsewhere = entry("f", 1, NOW + 1000);
    elsewhere.idempotency_key = Some("k".into());
    assert_eq!(b.accept(elsewhere).await.unwrap(), Accepted::New);

    let found = b.by_keys("e", "t", Some("k"), Some("r")).await.unwrap();
    assert!(!found.is_empty() && found.iter().all(|e| e.run_id == "run_e_2"));
    let batch: Vec<String> = b
        .of_batch("e", "batch_1")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.run_id)
        .collect();
    assert_eq!(batch, ["run_e_2"]);
    // Removed, its keys are free again.
    assert!(b.remove("run_e_2").await.unwrap());
    assert!(!b.remove("run_e_2").await.unwrap());
    assert!(b
        .by_keys("e", "t", Some("k"), Some("r"))
        .await
        .unwrap()
        .is_empty());
    assert!(b.of_batch("e", "batch_1").await.unwrap().is_empty());
    assert_eq!(ids(b, "e").await, ["run_e_1", "run_e_3"]);
    let depths = b.depths(10).await.unwrap();
    let summary: Vec<(String, String, i64)> = depths
        .into_iter()
        .map(|d| (d.env_id, d.org_id, d.depth))
        .collect();
    assert_eq!(
        summary,
        [
            ("e".into(), "org_e".into(), 2),
            ("f".into(), "org_f".into(), 1)
        ]
    );
    assert_eq!(
        b.envs(10).await.unwrap(),
        [
            ("e".to_string(), "org_e".to_string()),
            ("f".into(), "org_f".into())
        ]
    );
}

/// An entry given back keeps its place at the front; a claim that ran out frees it.
async fn requeue_keeps_fifo(b: &dyn MollifierBuffer) {
    for n in 1..=3 {
        b.accept(entry("q", n, NOW + 60_000)).await.unwrap();
    }
    assert_eq!(pop(b, "q", "a", NOW).await.as_deref(), Some("run_q_1"));
    assert_eq!(pop(b, "q", "a", NOW).await.as_deref(), Some("run_q_2"));
    assert!(b.requeue("run_q_1", "a").await.unwrap());
    assert!(
        !b.requeue("run_q_2", "b").await.unwrap(),
        "only its holder gives it back"
    );
    assert_eq!(pop(b, "q", "b", NOW).await.as_deref(), Some("run_q_1"));
    assert_eq!(pop(b, "q", "b", NOW).await.as_deref(), Some("run_q_3"));
    assert_eq!(pop(b, "q", "b", NOW).await, None);
    assert_eq!(
        pop(b, "q", "c", NOW + 30_000).await.as_deref(),
        Some("run_q_1")
    );
    assert_eq!(b.get("q", "run_q_1").await.unwrap().unwrap().attempts, 1);
    // Listing pages both ways.
    let below: Vec<String> = b
        .entries("q", BufferCursor::Below(i64::MAX), 2)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.run_id)
        .collect();
    assert_eq!(below, ["run_q_3", "run_q_2"]);
}

/// Seeded random operation sequences against a model.
async fn operations_match_a_model(b: &dyn MollifierBuffer) {
    #[derive(Clone, Debug)]
    struct Model {
        run_id: String,
        env: String,
        claimer: Option<(String, Millis)>,
        expires_at: Millis,
    }
    let mut model: Vec<Model> = Vec::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let envs = ["m1", "m2"];
    let claimers = ["a", "b"];
    let mut now = NOW;
    let mut made = 0u64;
    for step in 0..400 {
        let env = envs[next(2) as usize];
        let by = claimers[next(2) as usize];
        now += next(3) as Millis * 5_000;
        match next(7) {
            0 | 1 => {
                let n = if made > 0 && next(4) == 0 {
                    next(made)
                } else {
                    made
                };
                made = made.max(n + 1);
                let e = entry(env, n, now + 60_000);
                let fresh = !model.iter().any(|m| m.run_id == e.run_id);
                let want = if fresh {
                    Accepted::New
                } else {
                    Accepted::Exists
                };
                assert_eq!(b.accept(e.clone()).await.unwrap(), want, "step {step}");
                if fresh {
                    model.push(Model {
                        run_id: e.run_id,
                        env: env.into(),
                        claimer: None,
                        expires_at: e.expires_at,
                    });
                }
            }
            2 => {
                let limit = 1 + next(3) as usize;
                let want: Vec<usize> = model
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| {
                        m.env == env
                            && m.expires_at > now
                            && m.claimer.as_ref().is_none_or(|(_, until)| *until <= now)
                    })
                    .map(|(i, _)| i)
                    .take(limit)
                    .collect();
                let got: Vec<String> = b
                    .pop_many(env, by, now, now + 30_000, limit as i64)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|e| e.run_id)
                    .collect();
                let want_ids: Vec<String> = want.iter().map(|i| model[*i].run_id.clone()).collect();
                assert_eq!(got, want_ids, "pop step {step}");
                for i in want {
                    model[i].claimer = Some((by.into(), now + 30_000));
                }
            }
            3 | 4 => {
                if model.is_empty() {
                    continue;
                }
                let i = next(model.len() as u64) as usize;
                let id = model[i].run_id.clone();
                let held = model[i].claimer.as_ref().is_some_and(|(c, _)| c == by);
                if next(2) == 0 {
                    assert_eq!(b.ack(&id, by).await.unwrap(), held, "ack step {step}");
                    if held {
                        model.remove(i);
                    }
                } else {
                    assert_eq!(
                        b.requeue(&id, by).await.unwrap(),
                        held,
                        "requeue step {step}"
                    );
                    if held {
                        model[i].claimer = None;
                    }
                }
            }
            5 => {
                if model.is_empty() {
                    continue;
                }
                let i = next(model.len() as u64) as usize;
                assert!(
                    b.remove(&model[i].run_id).await.unwrap(),
                    "remove step {step}"
                );
                model.remove(i);
            }
            _ => {
                let mut got: Vec<String> = b
                    .claim_expired("x", now, now + 30_000, 1000)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|e| e.run_id)
                    .collect();
                let mut want: Vec<String> = model
                    .iter()
                    .filter(|m| {
                        m.expires_at <= now
                            && m.claimer.as_ref().is_none_or(|(_, until)| *until <= now)
                    })
                    .map(|m| m.run_id.clone())
                    .collect();
                got.sort();
                want.sort();
                assert_eq!(got, want, "expired step {step}");
                for id in &got {
                    assert!(b.fail(id, "x").await.unwrap());
                }
                model.retain(|m| !got.contains(&m.run_id));
            }
        }
        for env in envs {
            let want: Vec<&str> = model
                .iter()
                .filter(|m| m.env == env)
                .map(|m| m.run_id.as_str())
                .collect();
            assert_eq!(ids(b, env).await, want, "fifo of {env} after step {step}");
        }
    }
}

#[tokio::test]
async fn the_store_buffer_keeps_the_rules() {
    let (_a, b) = store_buffer();
    accept_rules(&*b).await;
    let (_b, b) = store_buffer();
    requeue_keeps_fifo(&*b).await;
    let (_c, b) = store_buffer();
    operations_match_a_model(&*b).await;
}

#[tokio::test]
async fn the_redis_buffer_keeps_the_rules() {
    let Some(b) = redis_buffer().await else {
        return;
    };
    accept_rules(&*b).await;
    let b = redis_buffer().await.unwrap();
    requeue_keeps_fifo(&*b).await;
    let b = redis_buffer().await.unwrap();
    operations_match_a_model(&*b).await;
}
