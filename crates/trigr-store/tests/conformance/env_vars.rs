//! An environment's variables: read back whole and by name, environments apart; a put
//! replaces value and secrecy but keeps the creation time; insert, update and delete each
//! decided by one conditional statement (of concurrent inserts of one name, exactly one wins).

use tokio::task::JoinSet;
use trigr_store::{EnvVar, Store};

use super::{read, write, NOW};

fn var(name: &str, value: &str, is_secret: bool, at: i64) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: value.to_string(),
        is_secret,
        created_at: at,
        updated_at: at,
    }
}

async fn all(store: &Store, env: &str) -> Vec<EnvVar> {
    let env = env.to_string();
    read(store, move |tx| tx.env_vars(&env)).await
}

async fn one(store: &Store, env: &str, name: &str) -> Option<EnvVar> {
    let (env, name) = (env.to_string(), name.to_string());
    read(store, move |tx| tx.env_var(&env, &name)).await
}

/// Variables are listed by name, each environment its own; a put replaces the value, keeps
/// `created_at`, and makes a plain variable secret but never a secret one plain.
pub async fn env_vars_put_and_read_back(store: &Store) {
    let b = var("B", "v1:bb", false, NOW);
    let a = var("A", "v1:aa", true, NOW);
    for v in [b.clone(), a.clone()] {
        write(store, move |tx| tx.env_var_put("env_a", &v)).await;
    }
    assert_eq!(all(store, "env_a").await, vec![a.clone(), b.clone()]);
    let names = read(store, |tx| tx.env_var_names("env_a")).await;
    assert_eq!(names, ["A", "B"]);
    assert!(all(store, "env_b").await.is_empty());
    assert_eq!(one(store, "env_a", "A").await, Some(a.clone()));
    assert_eq!(one(store, "env_b", "A").await, None);

    let replaced = var("A", "v1:new", false, NOW + 5);
    let r = replaced.clone();
    write(store, move |tx| tx.env_var_put("env_a", &r)).await;
    let got = one(store, "env_a", "A").await.unwrap();
    assert_eq!(
        got,
        EnvVar {
            created_at: NOW,
            is_secret: true,
            ..replaced
        }
    );
    let secret = var("B", "v1:hidden", true, NOW + 6);
    write(store, move |tx| tx.env_var_put("env_a", &secret)).await;
    assert!(one(store, "env_a", "B").await.unwrap().is_secret);
}

/// Insert only where the name is free; update and delete only where it is taken.
pub async fn env_vars_conditional_writes(store: &Store) {
    let first = var("N", "v1:first", false, NOW);
    let f = first.clone();
    assert!(write(store, move |tx| tx.env_var_insert("env_a", &f)).await);
    let again = var("N", "v1:second", true, NOW + 1);
    assert!(!write(store, move |tx| tx.env_var_insert("env_a", &again)).await);
    assert_eq!(one(store, "env_a", "N").await, Some(first.clone()));

    assert!(
        write(store, |tx| tx.env_var_update(
            "env_a",
            "N",
            "v1:upd",
            NOW + 2
        ))
        .await
    );
    assert!(!write(store, |tx| tx.env_var_update("env_a", "MISSING", "v", NOW)).await);
    assert!(!write(store, |tx| tx.env_var_update("env_b", "N", "v", NOW)).await);
    let got = one(store, "env_a", "N").await.unwrap();
    assert_eq!(
        (got.value.as_str(), got.updated_at, got.created_at),
        ("v1:upd", NOW + 2, NOW)
    );
    assert!(!got.is_secret);

    assert!(!write(store, |tx| tx.env_var_delete("env_b", "N")).await);
    assert!(write(store, |tx| tx.env_var_delete("env_a", "N")).await);
    assert!(!write(store, |tx| tx.env_var_delete("env_a", "N")).await);
    assert_eq!(one(store, "env_a", "N").await, None);
}

/// Of 20 concurrent inserts of one name, exactly one writes.
pub async fn env_var_insert_has_one_winner(store: &Store) {
    let mut set = JoinSet::new();
    for i in 0..20 {
        let store = store.clone();
        set.spawn(async move {
            let v = var("RACE", &format!("v1:{i}"), false, NOW);
            write(&store, move |tx| tx.env_var_insert("env_a", &v)).await
        });
    }
    let mut winners = 0;
    while let Some(won) = set.join_next().await {
        winners += usize::from(won.expect("task"));
    }
    assert_eq!(winners, 1);
    assert_eq!(all(store, "env_a").await.len(), 1);
}

/// The environment lock changes nothing a reader sees (the environment is as it was) and is
/// held to the end of the write: a second writer taking it waits for the first to commit and
/// then sees its variables.
pub async fn env_var_lock_serializes_writers(store: &Store) {
    let env = super::seed_env(store, "env_lock").await;
    write(store, |tx| tx.lock_env_vars("env_missing")).await;
    let mut set = JoinSet::new();
    for i in 0..8 {
        let store = store.clone();
        set.spawn(async move {
            write(&store, move |tx| {
                tx.lock_env_vars("env_lock")?;
                let held = tx.env_vars("env_lock")?.len();
                let v = var(&format!("V{held}"), &format!("v1:{i}"), false, NOW);
                tx.env_var_insert("env_lock", &v)
            })
            .await
        });
    }
    while let Some(won) = set.join_next().await {
        assert!(won.expect("task"), "each writer counted the ones before it");
    }
    let names: Vec<String> = all(store, "env_lock")
        .await
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, (0..8).map(|i| format!("V{i}")).collect::<Vec<_>>());
    let after = read(store, |tx| tx.environment("env_lock")).await.unwrap();
    assert_eq!(after.concurrency_limit, env.concurrency_limit);
}
