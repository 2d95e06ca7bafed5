//! What a metrics scrape reads (queue loads, versions with workers) and the commits a
//! backend reports to its observer.

use std::sync::{Arc, Mutex};

use trigr_store::observe::{Commit, CommitObserver};
use trigr_store::{LiveWorkers, QueueLoad, Store};
use trigr_types::RunStatus;

use super::{
    insert_runs, read, sample_run, seed, seed_env, seed_queue, try_write, write, Fixture, NOW,
};

/// Every queue of every environment with its queued and slot-holding runs, ordered by
/// environment and name, cut at the limit.
pub async fn queue_loads_across_environments(store: &Store) {
    assert!(read(store, |tx| tx.queue_loads(10)).await.is_empty());
    let (_, a) = seed(store, "env_a").await;
    let idle = seed_queue(store, "env_a", "idle").await;
    let (_, b) = seed(store, "env_b").await;
    let mk = |n: i64, queue: &str, status: RunStatus| {
        let mut r = sample_run(if queue == b.id { "env_b" } else { "env_a" }, queue, n);
        r.status = status;
        r
    };
    insert_runs(
        store,
        vec![
            mk(1, &a.id, RunStatus::Queued),
            mk(2, &a.id, RunStatus::Queued),
            mk(3, &a.id, RunStatus::Executing),
            mk(4, &a.id, RunStatus::Dequeued),
            mk(5, &a.id, RunStatus::Delayed),
            mk(6, &a.id, RunStatus::Completed),
            mk(7, &b.id, RunStatus::Queued),
            mk(8, &b.id, RunStatus::Waiting),
        ],
    )
    .await;
    let load = |env: &str, name: &str, queued, running| QueueLoad {
        env_id: env.into(),
        name: name.into(),
        queued,
        running,
    };
    assert_eq!(
        read(store, |tx| tx.queue_loads(10)).await,
        vec![
            load("env_a", &idle.name, 0, 0),
            load("env_a", &a.name, 2, 2),
            load("env_b", &b.name, 1, 0),
        ]
    );
    assert_eq!(
        read(store, |tx| tx.queue_loads(1)).await,
        vec![load("env_a", &idle.name, 0, 0)]
    );
}

/// The live workers of each version since a time, over every environment and in one; old
/// workers of a version are forgotten by its next touch.
pub async fn versions_with_workers_since(store: &Store) {
    seed_env(store, "env_a").await;
    seed_env(store, "env_b").await;
    for (env, version, worker, at) in [
        ("env_b", "v1", "w1", NOW + 10),
        ("env_a", "v2", "w1", NOW + 20),
        ("env_a", "v1", "w1", NOW),
        ("env_a", "v1", "w2", NOW + 5),
        ("env_a", "v1", "", NOW + 6),
        ("env_a", "v0", "w1", NOW - 1),
    ] {
        write(store, move |tx| {
            tx.touch_worker_instance(env, version, worker, at, NOW - 100)
        })
        .await;
    }
    // A later time wins; an earlier one changes nothing.
    write(store, |tx| {
        tx.touch_worker_instance("env_a", "v1", "w1", NOW - 50, NOW - 100)
    })
    .await;
    let live = |e: &str, v: &str, n: i64| LiveWorkers {
        env_id: e.to_string(),
        version: v.to_string(),
        workers: n,
    };
    assert_eq!(
        read(store, |tx| tx.live_workers(NOW, 10)).await,
        vec![
            live("env_a", "v1", 3),
            live("env_a", "v2", 1),
            live("env_b", "v1", 1)
        ]
    );
    assert_eq!(
        read(store, |tx| tx.live_workers(NOW + 15, 10)).await,
        vec![live("env_a", "v2", 1)]
    );
    assert_eq!(
        read(store, |tx| tx.live_workers(NOW, 2)).await,
        vec![live("env_a", "v1", 3), live("env_a", "v2", 1)]
    );
    assert_eq!(
        read(store, |tx| tx.live_workers_in("env_a", NOW + 1, 10)).await,
        vec![("v1".to_string(), 2), ("v2".to_string(), 1)]
    );
    // w1 of v1 touches again an hour on: the workers of v1 not seen since are forgotten.
    let later = NOW + 3_600_010;
    write(store, move |tx| {
        tx.touch_worker_instance("env_a", "v1", "w1", later, later - 3_600_000)
    })
    .await;
    assert_eq!(
        read(store, |tx| tx.live_workers_in("env_a", 0, 10)).await,
        vec![
            ("v0".to_string(), 1),
            ("v1".to_string(), 1),
            ("v2".to_string(), 1)
        ]
    );
}

/// Commits as the observer saw them.
#[derive(Default)]
struct Commits(Mutex<Vec<Commit>>);

impl CommitObserver for Commits {
    fn committed(&self, commit: Commit) {
        self.0.lock().unwrap().push(commit);
    }
}

/// Every write that commits is reported once, in a commit of its own (writes one after
/// another) or shared with others (SQLite's group commit); a write that failed as a whole is
/// reported by no commit on PostgreSQL and at most in its group on SQLite.
pub async fn commits_are_observed<F: Fixture>(fixture: &F) {
    let commits = Arc::new(Commits::default());
    let store = fixture.open_observed(commits.clone());
    for n in 0..3 {
        write(&store, move |tx| tx.touch_worker("env_a", "v1", NOW + n)).await;
    }
    {
        let seen = commits.0.lock().unwrap();
        assert_eq!(seen.iter().map(|c| c.writes).collect::<Vec<_>>(), [1, 1, 1]);
    }
    let together: Vec<_> = (0..10)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                write(&store, move |tx| tx.touch_worker("env_b", "v1", NOW + n)).await
            })
        })
        .collect();
    for w in together {
        w.await.unwrap();
    }
    let seen = commits.0.lock().unwrap().clone();
    assert_eq!(seen.iter().map(|c| c.writes).sum::<usize>(), 13, "{seen:?}");
    assert!(seen.len() <= 13);
    let failed = try_write(&store, |tx| {
        tx.touch_worker("env_c", "v1", NOW)?;
        Err::<(), _>(trigr_store::Error::Database("refused".into()))
    })
    .await;
    assert!(failed.is_err());
    let after: usize = commits.0.lock().unwrap().iter().map(|c| c.writes).sum();
    assert!(after <= 14, "{after}");
    assert!(read(&store, |tx| tx.workers_seen("env_c")).await.is_empty());
    store.close();
}
