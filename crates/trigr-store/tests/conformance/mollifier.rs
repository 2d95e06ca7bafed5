//! The mollifier's buffer (`mollifier_entries`): each operation against an in-memory model
//! over seeded random sequences, FIFO order kept by a requeue, and an idempotent accept.

use trigr_store::{BufferCursor, BufferedEntry, Store};
use trigr_types::Millis;

use super::{read, write, NOW};

fn entry(env: &str, n: u64, expires_at: Millis) -> BufferedEntry {
    BufferedEntry {
        seq: 0,
        run_id: format!("run_{env}_{n}"),
        env_id: env.to_string(),
        org_id: "org".into(),
        task_id: "t".into(),
        idempotency_key: None,
        request_key: None,
        body: "{}".into(),
        claim: None,
        attempts: 0,
        created_at: NOW,
        expires_at,
        batch_id: None,
    }
}

async fn accept(store: &Store, e: BufferedEntry) -> bool {
    write(store, move |tx| tx.insert_buffered(&e)).await
}

async fn claim(store: &Store, env: &str, by: &str, now: Millis) -> Option<String> {
    let (env, by) = (env.to_string(), by.to_string());
    write(store, move |tx| {
        tx.claim_buffered(&env, &by, now, now + 30_000)
    })
    .await
    .map(|e| e.run_id)
}

async fn ids(store: &Store, env: &str) -> Vec<String> {
    let env = env.to_string();
    read(store, move |tx| {
        tx.buffered_entries(&env, BufferCursor::Above(0), 1000)
    })
    .await
    .into_iter()
    .map(|e| e.run_id)
    .collect()
}

/// A second accept of a run id changes nothing.
pub async fn buffer_accept_is_idempotent(store: &Store) {
    assert!(accept(store, entry("e", 1, NOW + 1000)).await);
    let mut again = entry("e", 1, NOW + 5000);
    again.body = "{\"other\":1}".into();
    assert!(!accept(store, again).await);
    let got = read(store, |tx| tx.buffered("e", "run_e_1")).await.unwrap();
    assert_eq!((got.body.as_str(), got.expires_at), ("{}", NOW + 1000));
    assert_eq!(ids(store, "e").await, ["run_e_1"]);
}

/// An entry given back keeps its place at the front.
pub async fn buffer_requeue_keeps_fifo(store: &Store) {
    for n in 1..=3 {
        accept(store, entry("e", n, NOW + 60_000)).await;
    }
    assert_eq!(
        claim(store, "e", "a", NOW).await.as_deref(),
        Some("run_e_1")
    );
    assert_eq!(
        claim(store, "e", "a", NOW).await.as_deref(),
        Some("run_e_2")
    );
    assert!(write(store, |tx| tx.release_buffered("run_e_1", "a")).await);
    // Only its holder gives it back.
    assert!(!write(store, |tx| tx.release_buffered("run_e_2", "b")).await);
    assert_eq!(
        claim(store, "e", "b", NOW).await.as_deref(),
        Some("run_e_1")
    );
    assert_eq!(
        claim(store, "e", "b", NOW).await.as_deref(),
        Some("run_e_3")
    );
    assert_eq!(claim(store, "e", "b", NOW).await, None);
    // A claim that ran out frees the entry, in its place.
    assert_eq!(
        claim(store, "e", "c", NOW + 30_000).await.as_deref(),
        Some("run_e_1")
    );
    let e = read(store, |tx| tx.buffered("e", "run_e_1")).await.unwrap();
    assert_eq!(e.attempts, 1);
}

/// Seeded random sequences of accept, claim, ack, requeue, fail and expiry against a model.
pub async fn buffer_operations_match_a_model(store: &Store) {
    #[derive(Clone, Debug, PartialEq)]
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
    let envs = ["e1", "e2"];
    let claimers = ["a", "b"];
    let mut now = NOW;
    let mut made = 0u64;
    for step in 0..400 {
        let env = envs[next(2) as usize];
        let by = claimers[next(2) as usize];
        now += next(3) as Millis * 5_000;
        match next(6) {
            0 | 1 => {
                let n = if made > 0 && next(4) == 0 {
                    next(made)
                } else {
                    made
                };
                made = made.max(n + 1);
                let e = entry(env, n, now + 60_000);
                let fresh = !model.iter().any(|m| m.run_id == e.run_id);
                assert_eq!(accept(store, e.clone()).await, fresh, "step {step}");
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
                let want = model.iter().position(|m| {
                    m.env == env
                        && m.expires_at > now
                        && m.claimer.as_ref().is_none_or(|(_, until)| *until <= now)
                });
                let got = claim(store, env, by, now).await;
                assert_eq!(got, want.map(|i| model[i].run_id.clone()), "step {step}");
                if let Some(i) = want {
                    model[i].claimer = Some((by.into(), now + 30_000));
                }
            }
            3 | 4 => {
                let Some(i) = (!model.is_empty()).then(|| next(model.len() as u64) as usize) else {
                    continue;
                };
                let (id, holder) = (model[i].run_id.clone(), model[i].claimer.clone());
                let held = holder.as_ref().is_some_and(|(c, _)| c == by);
                let (run, who) = (id.clone(), by.to_string());
                if next(2) == 0 {
                    let done = write(store, move |tx| tx.delete_buffered(&run, Some(&who))).await;
                    assert_eq!(done, held, "ack step {step}");
                    if held {
                        model.remove(i);
                    }
                } else {
                    let done = write(store, move |tx| tx.release_buffered(&run, &who)).await;
                    assert_eq!(done, held, "requeue step {step}");
                    if held {
                        model[i].claimer = None;
                    }
                }
            }
            _ => {
                let got: Vec<String> = write(store, move |tx| {
                    tx.claim_expired_buffered("x", now, now + 30_000, 1000)
                })
                .await
                .into_iter()
                .map(|e| e.run_id)
                .collect();
                let mut want: Vec<&mut Model> = model
                    .iter_mut()
                    .filter(|m| {
                        m.expires_at <= now
                            && m.claimer.as_ref().is_none_or(|(_, until)| *until <= now)
                    })
                    .collect();
                let mut want_ids: Vec<String> = want.iter().map(|m| m.run_id.clone()).collect();
                for m in want.iter_mut() {
                    m.claimer = Some(("x".into(), now + 30_000));
                }
                let mut got_sorted = got.clone();
                got_sorted.sort();
                want_ids.sort();
                assert_eq!(got_sorted, want_ids, "expired step {step}");
                for id in got {
                    assert!(write(store, move |tx| tx.delete_buffered(&id, Some("x"))).await);
                }
                model.retain(|m| m.claimer.as_ref().is_none_or(|(c, _)| c != "x"));
            }
        }
        for env in envs {
            let want: Vec<String> = model
                .iter()
                .filter(|m| m.env == env)
                .map(|m| m.run_id.clone())
                .collect();
            assert_eq!(ids(store, env).await, want, "FIFO of {env} at step {step}");
        }
    }
}

/// Trip counts add up over servers per window; a trip only ever extends; old windows go.
pub async fn trip_counts_are_summed_over_servers(store: &Store) {
    let add = |server: &'static str, env: &'static str, window: Millis, n: i64| {
        write(store, move |tx| tx.add_trip_count(server, env, window, n))
    };
    assert_eq!(add("s1", "e", NOW, 4).await, 4);
    assert_eq!(add("s2", "e", NOW, 5).await, 9);
    assert_eq!(add("s1", "e", NOW, 2).await, 11);
    // Another window and another environment count apart.
    assert_eq!(add("s1", "e", NOW + 1000, 1).await, 1);
    assert_eq!(add("s2", "f", NOW, 3).await, 3);
    write(store, |tx| tx.extend_mollifier_trip("s1", "e", NOW + 5_000)).await;
    write(store, |tx| tx.extend_mollifier_trip("s1", "e", NOW + 2_000)).await;
    write(store, |tx| tx.extend_mollifier_trip("s2", "f", NOW + 9_000)).await;
    let trips = read(store, |tx| tx.mollifier_trips(NOW)).await;
    assert_eq!(
        trips,
        [("e".to_string(), NOW + 5_000), ("f".into(), NOW + 9_000)]
    );
    assert_eq!(write(store, |tx| tx.prune_trip_counts(NOW + 1000)).await, 3);
    assert_eq!(add("s1", "e", NOW, 1).await, 1, "the old window was pruned");
    assert_eq!(
        add("s1", "e", NOW + 1000, 1).await,
        2,
        "the newer one was kept"
    );
}
