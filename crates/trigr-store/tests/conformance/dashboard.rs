//! The dashboard's sessions, one-time links and overview figures.

use trigr_store::{DashboardLink, DashboardSession, FinishedBucket, Run, Store};
use trigr_types::RunStatus;

use super::{insert_runs, read, sample_run, seed, write, NOW};

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A session is read back whole until it expires, ends when deleted, and expired sessions
/// and links are swept.
pub async fn dashboard_sessions(store: &Store) {
    let session = DashboardSession {
        token_hash: "hash_a".into(),
        env_ids: ids(&["env_a", "env_b"]),
        created_at: NOW,
        expires_at: NOW + 1000,
    };
    let s = session.clone();
    write(store, move |tx| tx.insert_dashboard_session(&s)).await;
    let got = read(store, |tx| tx.dashboard_session("hash_a", NOW + 999)).await;
    assert_eq!(got, Some(session.clone()));
    let got = read(store, |tx| tx.dashboard_session("hash_a", NOW + 1000)).await;
    assert_eq!(got, None, "expired at expires_at");
    let got = read(store, |tx| tx.dashboard_session("hash_b", NOW)).await;
    assert_eq!(got, None, "unknown hash");

    let later = DashboardSession {
        token_hash: "hash_b".into(),
        env_ids: ids(&["env_a"]),
        created_at: NOW,
        expires_at: NOW + 5000,
    };
    let l = later.clone();
    write(store, move |tx| tx.insert_dashboard_session(&l)).await;
    let swept = write(store, |tx| tx.delete_expired_dashboard_sign_ins(NOW + 1000)).await;
    assert_eq!(swept, 1, "only the expired session");
    let got = read(store, |tx| tx.dashboard_session("hash_b", NOW + 1000)).await;
    assert_eq!(got, Some(later));
    assert!(write(store, |tx| tx.delete_dashboard_session("hash_b")).await);
    assert!(!write(store, |tx| tx.delete_dashboard_session("hash_b")).await);
    let got = read(store, |tx| tx.dashboard_session("hash_b", NOW)).await;
    assert_eq!(got, None, "logged out");
}

/// A link works once and only before it expires.
pub async fn dashboard_links_work_once(store: &Store) {
    let link = DashboardLink {
        token_hash: "link_a".into(),
        env_ids: ids(&["env_a"]),
        created_at: NOW,
        expires_at: NOW + 1000,
    };
    let expiring = DashboardLink {
        token_hash: "link_b".into(),
        expires_at: NOW + 10,
        ..link.clone()
    };
    let (a, b) = (link.clone(), expiring.clone());
    write(store, move |tx| {
        tx.insert_dashboard_link(&a)?;
        tx.insert_dashboard_link(&b)
    })
    .await;
    let used = write(store, |tx| tx.redeem_dashboard_link("link_a", NOW + 5)).await;
    assert_eq!(used, Some(link));
    let again = write(store, |tx| tx.redeem_dashboard_link("link_a", NOW + 6)).await;
    assert_eq!(again, None, "used once");
    let late = write(store, |tx| tx.redeem_dashboard_link("link_b", NOW + 10)).await;
    assert_eq!(late, None, "expired");
    let unknown = write(store, |tx| tx.redeem_dashboard_link("link_c", NOW)).await;
    assert_eq!(unknown, None);
    let swept = write(store, |tx| tx.delete_expired_dashboard_sign_ins(NOW + 10)).await;
    assert_eq!(swept, 1, "the expired link");
}

fn finished(mut run: Run, status: RunStatus, at: i64) -> Run {
    run.status = status;
    run.finished_at = Some(at);
    run
}

/// Finished runs counted per bucket and status within the window only, of one environment.
pub async fn dashboard_finished_buckets(store: &Store) {
    let (_, q) = seed(store, "env_a").await;
    let (_, other) = seed(store, "env_b").await;
    let runs = vec![
        finished(sample_run("env_a", &q.id, 1), RunStatus::Completed, NOW),
        finished(
            sample_run("env_a", &q.id, 2),
            RunStatus::Completed,
            NOW + 99,
        ),
        finished(sample_run("env_a", &q.id, 3), RunStatus::Failed, NOW + 150),
        finished(
            sample_run("env_a", &q.id, 4),
            RunStatus::Completed,
            NOW + 250,
        ),
        // Outside the window, unfinished, or of another environment.
        finished(sample_run("env_a", &q.id, 5), RunStatus::Completed, NOW - 1),
        finished(
            sample_run("env_a", &q.id, 6),
            RunStatus::Completed,
            NOW + 300,
        ),
        sample_run("env_a", &q.id, 7),
        finished(sample_run("env_b", &other.id, 8), RunStatus::Failed, NOW),
    ];
    insert_runs(store, runs).await;
    let got = read(store, |tx| tx.finished_buckets("env_a", NOW, 100, 3)).await;
    let want = vec![
        FinishedBucket {
            bucket: 0,
            status: RunStatus::Completed,
            runs: 2,
        },
        FinishedBucket {
            bucket: 1,
            status: RunStatus::Failed,
            runs: 1,
        },
        FinishedBucket {
            bucket: 2,
            status: RunStatus::Completed,
            runs: 1,
        },
    ];
    assert_eq!(got, want);
}
