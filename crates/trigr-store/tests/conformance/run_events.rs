//! Run events ([`trigr_store::EventTx`]): numbering in commit order per environment, reads
//! after a number, pruning and its watermark.

use trigr_store::{RunEvent, RunEventKind, Store};

use super::{read, try_write, write, NOW};

fn event(env: &str, run: &str, kind: RunEventKind, at: i64) -> RunEvent {
    RunEvent {
        seq: 0,
        env_id: env.to_string(),
        run_id: run.to_string(),
        batch_id: Some("batch_1".to_string()).filter(|_| run.ends_with('b')),
        tags: vec!["t1".to_string(), format!("run:{run}")],
        kind,
        data: format!("{{\"id\":\"{run}\",\"at\":{at}}}"),
        created_at: at,
    }
}

/// Numbers what writers left to number (PostgreSQL's outbox), then reads.
async fn events_after(store: &Store, env: &'static str, after: i64, limit: usize) -> Vec<RunEvent> {
    write(store, |tx| tx.sequence_run_events(1000)).await;
    read(store, move |tx| tx.run_events_after(env, after, limit)).await
}

pub async fn run_events_numbered_in_commit_order(store: &Store) {
    assert_eq!(read(store, |tx| tx.last_run_event_seq("env_a")).await, 0);
    write(store, |tx| {
        tx.insert_run_events(&[
            event("env_a", "run_1", RunEventKind::Status, NOW),
            event("env_b", "run_x", RunEventKind::Status, NOW),
            event("env_a", "run_2b", RunEventKind::Metadata, NOW + 1),
        ])
    })
    .await;
    // A write that fails records nothing.
    let failed = try_write(store, |tx| {
        tx.insert_run_events(&[event("env_a", "run_gone", RunEventKind::Status, NOW)])?;
        Err::<(), _>(trigr_store::Error::Conflict("on purpose".into()))
    })
    .await;
    assert!(failed.is_err());
    write(store, |tx| {
        tx.insert_run_events(&[event("env_a", "run_1", RunEventKind::Status, NOW + 2)])
    })
    .await;

    let a = events_after(store, "env_a", 0, 100).await;
    let runs: Vec<&str> = a.iter().map(|e| e.run_id.as_str()).collect();
    assert_eq!(
        runs,
        ["run_1", "run_2b", "run_1"],
        "in order, failed write absent"
    );
    assert!(a.windows(2).all(|w| w[0].seq < w[1].seq), "{a:?}");
    assert!(a[0].seq > 0);
    assert_eq!(a[1].kind, RunEventKind::Metadata);
    assert_eq!(a[1].batch_id.as_deref(), Some("batch_1"));
    assert_eq!(a[0].batch_id, None);
    assert_eq!(a[1].tags, ["t1", "run:run_2b"]);
    assert_eq!(
        a[1].data,
        format!("{{\"id\":\"run_2b\",\"at\":{}}}", NOW + 1)
    );
    assert_eq!(a[1].created_at, NOW + 1);
    assert_eq!(a[0].env_id, "env_a");

    let last = read(store, |tx| tx.last_run_event_seq("env_a")).await;
    assert_eq!(last, a[2].seq);
    // Nothing is left to number, and numbering again changes nothing.
    assert_eq!(write(store, |tx| tx.sequence_run_events(1000)).await, 0);
    assert_eq!(events_after(store, "env_a", 0, 100).await, a);
    let b = events_after(store, "env_b", 0, 100).await;
    assert_eq!(b.len(), 1);
    assert_eq!(
        events_after(store, "env_a", a[0].seq, 100).await,
        a[1..].to_vec()
    );
    assert_eq!(events_after(store, "env_a", 0, 2).await, a[..2].to_vec());
    assert!(events_after(store, "env_a", last, 100).await.is_empty());
}

pub async fn run_events_concurrent_writers_never_number_backwards(store: &Store) {
    // Many writers at once: a reader that has seen number n never later finds a smaller one.
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            for i in 0..10 {
                let run = format!("run_{w}_{i}");
                write(&store, move |tx| {
                    tx.insert_run_events(&[event("env_a", &run, RunEventKind::Status, NOW)])
                })
                .await;
            }
        });
    }
    let mut seen = 0;
    let mut count = 0;
    while count < 80 {
        let page = events_after(store, "env_a", seen, 1000).await;
        for e in &page {
            assert!(e.seq > seen);
            seen = e.seq;
        }
        count += page.len();
        if page.is_empty() {
            tokio::task::yield_now().await;
        }
    }
    while tasks.join_next().await.is_some() {}
    assert_eq!(events_after(store, "env_a", 0, 1000).await.len(), 80);
}

pub async fn run_events_pruned_by_age(store: &Store) {
    assert_eq!(read(store, |tx| tx.run_events_pruned_through()).await, 0);
    // One write per step: numbers across environments follow commit order only.
    write(store, |tx| {
        tx.insert_run_events(&[event("env_a", "run_1", RunEventKind::Status, NOW)])
    })
    .await;
    write(store, |tx| {
        tx.insert_run_events(&[event("env_b", "run_2", RunEventKind::Status, NOW + 10)])
    })
    .await;
    write(store, |tx| {
        tx.insert_run_events(&[
            event("env_a", "run_3", RunEventKind::Status, NOW + 20),
            event("env_a", "run_4", RunEventKind::Status, NOW + 30),
        ])
    })
    .await;
    let all = events_after(store, "env_a", 0, 100).await;
    assert_eq!(write(store, |tx| tx.prune_run_events(NOW, 100)).await, 0);
    assert_eq!(read(store, |tx| tx.run_events_pruned_through()).await, 0);
    // Older than NOW + 25, at most 2 at a time, oldest first.
    assert_eq!(write(store, |tx| tx.prune_run_events(NOW + 25, 2)).await, 2);
    let b = events_after(store, "env_b", 0, 100).await;
    assert!(b.is_empty());
    let through = read(store, |tx| tx.run_events_pruned_through()).await;
    assert!(
        through >= all[0].seq && through < all[1].seq,
        "{through} {all:?}"
    );
    assert_eq!(write(store, |tx| tx.prune_run_events(NOW + 25, 2)).await, 1);
    let left = events_after(store, "env_a", 0, 100).await;
    assert_eq!(left, all[2..].to_vec());
    assert_eq!(
        read(store, |tx| tx.run_events_pruned_through()).await,
        all[1].seq
    );
    // The watermark never goes down, and the newest number stays.
    assert_eq!(write(store, |tx| tx.prune_run_events(NOW, 2)).await, 0);
    assert_eq!(
        read(store, |tx| tx.run_events_pruned_through()).await,
        all[1].seq
    );
    assert_eq!(
        read(store, |tx| tx.last_run_event_seq("env_a")).await,
        all[2].seq
    );
    // Pruning everything old never lets a number be handed out again.
    write(store, |tx| tx.prune_run_events(NOW + 1000, 100)).await;
    write(store, |tx| {
        tx.insert_run_events(&[event("env_a", "run_5", RunEventKind::Status, NOW + 40)])
    })
    .await;
    let after = events_after(store, "env_a", 0, 100).await;
    let newest = after.last().expect("the new event");
    assert_eq!(newest.run_id, "run_5");
    assert!(newest.seq > all[2].seq, "{after:?}");
    assert!(read(store, |tx| tx.run_events_pruned_through()).await < newest.seq);
}

/// Once every event is older than the cutoff, pruning leaves none an environment can read
/// (a backend may keep the newest number, naming no run).
pub async fn pruned_run_events_name_no_run(store: &Store) {
    write(store, |tx| {
        tx.insert_run_events(&[
            event("env_a", "run_1", RunEventKind::Status, NOW),
            event("env_a", "run_2", RunEventKind::Status, NOW + 1),
        ])
    })
    .await;
    assert_eq!(events_after(store, "env_a", 0, 100).await.len(), 2);
    write(store, |tx| tx.prune_run_events(NOW + 1_000, 100)).await;
    assert!(events_after(store, "env_a", 0, 100).await.is_empty());
    let newest = read(store, |tx| tx.last_run_event_seq("env_a")).await;
    assert!(read(store, |tx| tx.run_events_pruned_through()).await >= newest);
}
