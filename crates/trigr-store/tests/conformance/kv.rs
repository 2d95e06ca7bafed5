//! An environment's key-value entries: expiry exact to the millisecond, spaces and
//! environments apart, the conditional write decided once among concurrent writers, and
//! expired entries reclaimed in bounded batches.

use tokio::task::JoinSet;
use trigr_store::{KvEntry, KvSpace, Store};
use trigr_types::Millis;

use super::{read, write, NOW};

fn entry(key: &str, value: &str, expires_at: Option<Millis>) -> KvEntry {
    KvEntry {
        key: key.to_string(),
        value: value.to_string(),
        expires_at,
        updated_at: NOW,
    }
}

fn keys(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

async fn get(store: &Store, env: &str, space: KvSpace, list: &[&str], now: Millis) -> Vec<KvEntry> {
    let (env, list) = (env.to_string(), keys(list));
    read(store, move |tx| tx.kv_entries(&env, space, &list, now)).await
}

async fn put(store: &Store, env: &str, space: KvSpace, e: KvEntry) {
    let env = env.to_string();
    write(store, move |tx| tx.kv_put(&env, space, &e)).await
}

/// Entries are read back whole and in the order asked, until the millisecond they expire;
/// a put replaces; spaces and environments do not see each other's keys.
pub async fn kv_entries_expire_exactly(store: &Store) {
    let a = entry("a", r#"{"n":1}"#, Some(NOW + 10_000));
    let b = entry("b", "\"text \\u0000 kept\"", None);
    put(store, "env_a", KvSpace::Cache, a.clone()).await;
    put(store, "env_a", KvSpace::Cache, b.clone()).await;
    let got = get(store, "env_a", KvSpace::Cache, &["b", "missing", "a"], NOW).await;
    assert_eq!(got, vec![b.clone(), a.clone()]);
    let got = get(store, "env_a", KvSpace::Cache, &["a"], NOW + 9_999).await;
    assert_eq!(
        got,
        vec![a.clone()],
        "alive the millisecond before it expires"
    );
    let got = get(store, "env_a", KvSpace::Cache, &["a", "b"], NOW + 10_000).await;
    assert_eq!(got, vec![b.clone()], "gone at expires_at");

    assert!(get(store, "env_a", KvSpace::Metadata, &["a", "b"], NOW)
        .await
        .is_empty());
    assert!(get(store, "env_b", KvSpace::Cache, &["a", "b"], NOW)
        .await
        .is_empty());

    let replaced = KvEntry {
        value: "2".into(),
        expires_at: None,
        updated_at: NOW + 5,
        ..a.clone()
    };
    put(store, "env_a", KvSpace::Cache, replaced.clone()).await;
    let got = get(store, "env_a", KvSpace::Cache, &["a"], NOW + 20_000).await;
    assert_eq!(got, vec![replaced], "a put replaces value and expiry");
}

/// A conditional put writes where no live entry holds the key (an expired one is replaced),
/// and nothing where one does.
pub async fn kv_put_if_absent_only_where_absent(store: &Store) {
    let first = entry("lock", "1", Some(NOW + 1_000));
    let e = first.clone();
    let won = write(store, move |tx| {
        tx.kv_put_if_absent("env_a", KvSpace::Cache, &e, NOW)
    })
    .await;
    assert!(won);
    let second = entry("lock", "2", Some(NOW + 5_000));
    let e = second.clone();
    let won = write(store, move |tx| {
        tx.kv_put_if_absent("env_a", KvSpace::Cache, &e, NOW + 999)
    })
    .await;
    assert!(!won, "the first entry is alive");
    let got = get(store, "env_a", KvSpace::Cache, &["lock"], NOW + 999).await;
    assert_eq!(got, vec![first]);
    let e = second.clone();
    let won = write(store, move |tx| {
        tx.kv_put_if_absent("env_a", KvSpace::Cache, &e, NOW + 1_000)
    })
    .await;
    assert!(won, "the first entry expired");
    let got = get(store, "env_a", KvSpace::Cache, &["lock"], NOW + 1_000).await;
    assert_eq!(got, vec![second]);
    let forever = entry("pinned", "1", None);
    let e = forever.clone();
    assert!(
        write(store, move |tx| tx.kv_put_if_absent(
            "env_a",
            KvSpace::Metadata,
            &e,
            NOW
        ))
        .await
    );
    let e = entry("pinned", "2", None);
    let won = write(store, move |tx| {
        tx.kv_put_if_absent("env_a", KvSpace::Metadata, &e, Millis::MAX)
    })
    .await;
    assert!(!won, "an entry without expiry never expires");
}

/// Of many concurrent conditional puts on one key, exactly one writes.
pub async fn kv_put_if_absent_has_one_winner(store: &Store) {
    let mut set = JoinSet::new();
    for i in 0..50 {
        let store = store.clone();
        set.spawn(async move {
            let e = entry("race", &i.to_string(), Some(NOW + 60_000));
            write(&store, move |tx| {
                tx.kv_put_if_absent("env_a", KvSpace::Cache, &e, NOW)
            })
            .await
        });
    }
    let mut winners = 0;
    while let Some(won) = set.join_next().await {
        winners += usize::from(won.expect("writer"));
    }
    assert_eq!(winners, 1);
}

/// A delete counts only the live entries it deleted; an expired one is invisible to it.
pub async fn kv_delete_counts_live_entries(store: &Store) {
    put(store, "env_a", KvSpace::Metadata, entry("x", "1", None)).await;
    put(
        store,
        "env_a",
        KvSpace::Metadata,
        entry("y", "1", Some(NOW + 10)),
    )
    .await;
    put(store, "env_a", KvSpace::Cache, entry("x", "1", None)).await;
    let gone = write(store, |tx| {
        tx.kv_delete(
            "env_a",
            KvSpace::Metadata,
            &keys(&["x", "y", "z"]),
            NOW + 10,
        )
    })
    .await;
    assert_eq!(gone, 1, "x only: y had expired, z never was");
    assert!(
        get(store, "env_a", KvSpace::Metadata, &["x", "y"], NOW + 10)
            .await
            .is_empty()
    );
    let cache = get(store, "env_a", KvSpace::Cache, &["x"], NOW).await;
    assert_eq!(cache.len(), 1, "the other space keeps its x");
}

/// Expired entries are deleted at most `limit` at a time, earliest first; live ones stay.
pub async fn kv_expired_entries_reclaimed_in_batches(store: &Store) {
    for i in 0..5 {
        put(
            store,
            "env_a",
            KvSpace::Cache,
            entry(&format!("k{i}"), "1", Some(NOW + i)),
        )
        .await;
    }
    put(
        store,
        "env_b",
        KvSpace::Metadata,
        entry("m", "1", Some(NOW + 2)),
    )
    .await;
    put(store, "env_b", KvSpace::Metadata, entry("kept", "1", None)).await;
    put(
        store,
        "env_b",
        KvSpace::Cache,
        entry("later", "1", Some(NOW + 100)),
    )
    .await;
    assert_eq!(write(store, |tx| tx.delete_expired_kv(NOW + 5, 4)).await, 4);
    assert_eq!(write(store, |tx| tx.delete_expired_kv(NOW + 5, 4)).await, 2);
    assert_eq!(write(store, |tx| tx.delete_expired_kv(NOW + 5, 4)).await, 0);
    let alive = get(store, "env_b", KvSpace::Metadata, &["kept"], NOW + 5).await;
    assert_eq!(alive.len(), 1);
    let alive = get(store, "env_b", KvSpace::Cache, &["later"], NOW + 5).await;
    assert_eq!(alive.len(), 1);
    // The expired rows are gone even for a read that looks at an earlier time.
    assert!(get(store, "env_a", KvSpace::Cache, &["k4"], NOW)
        .await
        .is_empty());
}
