//! Personal access tokens: kept and found by hash, listed oldest first, one token per hash,
//! uses recorded (a later time wins), revoked once; the key handed to a token for an
//! environment is kept per (token, environment) and replaced by a later one; a CLI login is
//! kept within a limit, approved once before it expires, exchanged once, and forgotten once
//! expired.

use trigr_store::{PatEnvKey, PatLogin, PersonalAccessToken, Store};

use super::{read, write, NOW};

fn pat(id: &str, hash: &str, at: i64) -> PersonalAccessToken {
    PersonalAccessToken {
        id: id.to_string(),
        name: format!("laptop {id}"),
        email: None,
        token_hash: hash.to_string(),
        prefix: "tr_pat_AbCd".to_string(),
        created_at: NOW + at,
        last_used_at: None,
        revoked_at: None,
    }
}

fn env_key(pat_id: &str, env_id: &str, hash: &str) -> PatEnvKey {
    PatEnvKey {
        pat_id: pat_id.to_string(),
        env_id: env_id.to_string(),
        key_hash: hash.to_string(),
        sealed_key: format!("v1:sealed-{hash}"),
        created_at: NOW,
    }
}

async fn insert(store: &Store, p: PersonalAccessToken) -> bool {
    write(store, move |tx| tx.insert_pat(&p)).await
}

async fn by_hash(store: &Store, hash: &str) -> Option<PersonalAccessToken> {
    let hash = hash.to_string();
    read(store, move |tx| tx.pat_by_hash(&hash)).await
}

pub async fn pats_are_kept_hashed_used_and_revoked(store: &Store) {
    let mut second = pat("pat_b", "hash_b", 5);
    second.email = Some("ops@example.com".into());
    assert!(insert(store, second.clone()).await);
    assert!(insert(store, pat("pat_a", "hash_a", 0)).await);
    assert!(
        !insert(store, pat("pat_c", "hash_a", 9)).await,
        "a taken hash"
    );
    assert!(
        !insert(store, pat("pat_a", "hash_c", 9)).await,
        "a taken id"
    );

    let ids: Vec<String> = read(store, |tx| tx.pats())
        .await
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids, ["pat_a", "pat_b"]);
    assert_eq!(by_hash(store, "hash_b").await, Some(second));
    assert_eq!(by_hash(store, "hash_missing").await, None);

    write(store, |tx| tx.touch_pat("pat_a", NOW + 20)).await;
    write(store, |tx| tx.touch_pat("pat_a", NOW + 10)).await;
    let used = by_hash(store, "hash_a").await.expect("pat_a");
    assert_eq!(used.last_used_at, Some(NOW + 20), "a later use wins");

    assert!(write(store, |tx| tx.revoke_pat("pat_a", NOW + 30)).await);
    assert!(
        !write(store, |tx| tx.revoke_pat("pat_a", NOW + 40)).await,
        "already revoked"
    );
    assert!(!write(store, |tx| tx.revoke_pat("pat_missing", NOW)).await);
    let revoked = by_hash(store, "hash_a").await.expect("pat_a");
    assert_eq!(revoked.revoked_at, Some(NOW + 30));
    assert_eq!(
        by_hash(store, "hash_b").await.expect("pat_b").revoked_at,
        None
    );

    write(store, |tx| tx.insert_organization("org_1", "acme", NOW)).await;
    let slug = read(store, |tx| tx.organization_slug("org_1")).await;
    assert_eq!(slug.as_deref(), Some("acme"));
    assert_eq!(read(store, |tx| tx.organization_slug("org_2")).await, None);
}

pub async fn pat_env_keys_are_kept_per_token_and_environment(store: &Store) {
    for k in [
        env_key("pat_a", "env_b", "k1"),
        env_key("pat_a", "env_a", "k2"),
        env_key("pat_b", "env_a", "k3"),
    ] {
        write(store, move |tx| tx.put_pat_env_key(&k)).await;
    }
    let got = read(store, |tx| tx.pat_env_key("pat_a", "env_a")).await;
    assert_eq!(got, Some(env_key("pat_a", "env_a", "k2")));
    assert_eq!(
        read(store, |tx| tx.pat_env_key("pat_a", "env_c")).await,
        None
    );

    let mut replaced = env_key("pat_a", "env_a", "k4");
    replaced.created_at = NOW + 7;
    let r = replaced.clone();
    write(store, move |tx| tx.put_pat_env_key(&r)).await;
    let keys = read(store, |tx| tx.pat_env_keys("pat_a")).await;
    assert_eq!(keys, [replaced, env_key("pat_a", "env_b", "k1")]);
    let others = read(store, |tx| tx.pat_env_keys("pat_b")).await;
    assert_eq!(others, [env_key("pat_b", "env_a", "k3")]);
}

fn login(code: &str, expires_in: i64) -> PatLogin {
    PatLogin {
        code_hash: code.to_string(),
        challenge: "c".repeat(43),
        created_at: NOW,
        expires_at: NOW + expires_in,
        approval_hash: None,
        name: None,
        email: None,
        approved_at: None,
        pat_id: None,
    }
}

async fn add_login(store: &Store, l: PatLogin, max: usize) -> bool {
    write(store, move |tx| tx.insert_pat_login(&l, max)).await
}

pub async fn pat_logins_are_approved_then_exchanged_once(store: &Store) {
    assert!(add_login(store, login("code_a", 100), 2).await);
    assert!(
        !add_login(store, login("code_a", 100), 2).await,
        "a taken code"
    );
    assert!(add_login(store, login("code_b", 10), 2).await);
    assert!(
        !add_login(store, login("code_c", 100), 2).await,
        "the limit"
    );
    let got = read(store, |tx| tx.pat_login("code_a")).await;
    assert_eq!(got, Some(login("code_a", 100)));

    assert!(
        !write(store, |tx| tx.finish_pat_login("code_a", "pat_1", NOW)).await,
        "not approved yet"
    );
    let approve = |code: &'static str, at: i64| {
        move |tx: &mut dyn trigr_store::Tx| {
            tx.approve_pat_login(code, "approval", "laptop", Some("a@b.co"), NOW + at)
        }
    };
    assert!(write(store, approve("code_a", 1)).await);
    assert!(!write(store, approve("code_a", 2)).await, "approved once");
    assert!(!write(store, approve("code_b", 10)).await, "expired");
    assert!(!write(store, approve("code_x", 1)).await, "unknown");
    let approved = read(store, |tx| tx.pat_login("code_a")).await.unwrap();
    assert_eq!(approved.approval_hash.as_deref(), Some("approval"));
    assert_eq!(approved.name.as_deref(), Some("laptop"));
    assert_eq!(approved.email.as_deref(), Some("a@b.co"));
    assert_eq!(approved.approved_at, Some(NOW + 1));

    assert!(write(store, |tx| tx.finish_pat_login("code_a", "pat_1", NOW + 2)).await);
    assert!(
        !write(store, |tx| tx.finish_pat_login("code_a", "pat_2", NOW + 3)).await,
        "exchanged once"
    );
    let done = read(store, |tx| tx.pat_login("code_a")).await.unwrap();
    assert_eq!(done.pat_id.as_deref(), Some("pat_1"));

    let gone = write(store, |tx| tx.delete_expired_pat_logins(NOW + 10)).await;
    assert_eq!(gone, 1);
    assert_eq!(read(store, |tx| tx.pat_login("code_b")).await, None);
    assert!(
        add_login(store, login("code_c", 100), 2).await,
        "room again"
    );
}
