//! Lanes: bulk writes yield to live ones.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use trigr_store::{Lane, Store};

/// Bulk writes queued ahead of it.
const BULK: usize = 12;
/// How long each bulk write holds its transaction.
const HOLD: Duration = Duration::from_millis(20);

/// What the writes saw.
#[derive(Default)]
struct Seen {
    /// Bulk writes whose transaction ended.
    bulk_done: AtomicUsize,
    /// Bulk writes inside their transaction now, and the most at once.
    bulk_now: AtomicUsize,
    bulk_most: AtomicUsize,
}

/// A live write submitted behind a queue of slow bulk writes runs after at most a few of them
/// (SQLite: the one in hand, since a live write that arrives while bulk writes run joins
/// that transaction, which then commits; PostgreSQL: at once, since bulk writes may hold
/// only a quarter of the pool), bulk writes never hold more than a quarter of PostgreSQL's
/// pool (SQLite has one writer), and every write commits.
pub async fn live_writes_go_before_queued_bulk_writes(store: &Store) {
    let seen = Arc::new(Seen::default());
    let mut bulk = JoinSet::new();
    for _ in 0..BULK {
        let (store, seen) = (store.clone(), seen.clone());
        bulk.spawn(async move {
            store
                .write_in(Lane::Bulk, move |_tx| {
                    let now = seen.bulk_now.fetch_add(1, Ordering::SeqCst) + 1;
                    seen.bulk_most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(HOLD);
                    seen.bulk_now.fetch_sub(1, Ordering::SeqCst);
                    seen.bulk_done.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, trigr_store::Error>(())
                })
                .await
        });
    }
    // The first bulk write is in its transaction, the others queued behind it.
    for _ in 0..5_000 {
        if seen.bulk_most.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(
        seen.bulk_most.load(Ordering::SeqCst) > 0,
        "no bulk write started"
    );
    let watching = seen.clone();
    let bulk_before_live = super::write(store, move |_tx| {
        Ok(watching.bulk_done.load(Ordering::SeqCst))
    })
    .await;
    assert!(
        bulk_before_live <= 4,
        "a live write waited for {bulk_before_live} of {BULK} bulk writes queued before it"
    );
    while let Some(joined) = bulk.join_next().await {
        joined.expect("bulk write task").expect("bulk write");
    }
    assert_eq!(seen.bulk_done.load(Ordering::SeqCst), BULK);
    let most = seen.bulk_most.load(Ordering::SeqCst);
    assert!(
        (1..=4).contains(&most),
        "{most} bulk writes held the database at once"
    );
}
