//! Live fan-out of run events to this server's subscribers.
//!
//! Events are in the store first ([`crate::events`]). For each environment someone subscribes
//! to, one *feed* task reads the new events from the store by `seq` whenever a write that
//! recorded some commits (here, or on another server: PostgreSQL `NOTIFY`), or at least every
//! [`FALLBACK_POLL`], and sends them on a bounded broadcast channel. The engine never waits
//! for subscribers: it only pokes the feed. A subscriber that falls more than
//! [`Realtime::capacity`] events behind loses its place in the channel (`Lagged`) and catches
//! up by reading the store from its last `seq`; one store read serves every subscriber of the
//! environment however many there are.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{broadcast, Notify};
use trigr_store::{RunEvent, Store};
use trigr_types::Millis;

use crate::Result;

/// How often a feed reads the store when nothing poked it (a lost cross-server wake-up).
pub const FALLBACK_POLL: Duration = Duration::from_millis(500);
/// Events read from the store per query.
pub const PAGE: usize = 1000;
/// Live events a subscriber may fall behind by default.
pub const DEFAULT_BUFFER: usize = 1024;
/// Prefix of the environment ids published on the store's wake channel for events.
const WAKE_PREFIX: &str = "events:";

/// Events are kept this long by default, then pruned.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// An event on its way to this server's subscribers, with room for its wire encoding: the
/// first subscriber that needs it encodes it and every other one sends the same bytes.
#[derive(Debug)]
pub struct LiveEvent {
    pub event: RunEvent,
    encoded: OnceLock<Bytes>,
}

impl LiveEvent {
    pub fn new(event: RunEvent) -> LiveEvent {
        LiveEvent {
            event,
            encoded: OnceLock::new(),
        }
    }

    /// The event as `encode` writes it, made once for all subscribers (every caller must
    /// pass the same encoding).
    pub fn encoded(&self, encode: impl FnOnce(&RunEvent) -> Bytes) -> Bytes {
        self.encoded.get_or_init(|| encode(&self.event)).clone()
    }
}

struct Feed {
    sender: broadcast::Sender<Arc<LiveEvent>>,
    poke: Notify,
}

/// The feeds of this server.
pub struct Realtime {
    store: Store,
    feeds: Mutex<HashMap<String, Arc<Feed>>>,
    /// Events a subscriber may fall behind before it is moved to reading the store.
    pub capacity: usize,
}

impl Realtime {
    pub fn new(store: Store, capacity: usize) -> Realtime {
        Realtime {
            store,
            feeds: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    fn feeds(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Feed>>> {
        self.feeds.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Live events of the environment recorded from now on, or a little earlier (a
    /// subscriber de-duplicates by `seq`): every event committed after this call returns is
    /// sent. Subscribe *before* reading the backlog or a snapshot from the store.
    pub async fn subscribe(
        self: &Arc<Self>,
        env_id: &str,
    ) -> Result<broadcast::Receiver<Arc<LiveEvent>>> {
        if let Some(feed) = self.feeds().get(env_id) {
            return Ok(feed.sender.subscribe());
        }
        let env = env_id.to_string();
        let cursor = self
            .store
            .read(move |tx| Ok::<_, crate::Error>(tx.last_run_event_seq(&env)?))
            .await?;
        let mut feeds = self.feeds();
        if let Some(feed) = feeds.get(env_id) {
            return Ok(feed.sender.subscribe());
        }
        let (sender, receiver) = broadcast::channel(self.capacity);
        let feed = Arc::new(Feed {
            sender,
            poke: Notify::new(),
        });
        feeds.insert(env_id.to_string(), feed.clone());
        drop(feeds);
        tokio::spawn(self.clone().run_feed(env_id.to_string(), feed, cursor));
        Ok(receiver)
    }

    /// A write that recorded events of these environments has committed.
    pub fn committed(&self, env_ids: &[String]) {
        let feeds = self.feeds();
        for env in env_ids {
            if let Some(feed) = feeds.get(env) {
                feed.poke.notify_one();
            }
        }
    }

    /// The ids to publish to other servers for environments that got events.
    pub fn wake_ids(env_ids: &[String]) -> Vec<String> {
        env_ids
            .iter()
            .map(|e| format!("{WAKE_PREFIX}{e}"))
            .collect()
    }

    /// Handles an id from the store's wake channel: pokes the feed when it names events.
    pub fn on_wake(&self, id: &str) {
        if let Some(env) = id.strip_prefix(WAKE_PREFIX) {
            self.committed(&[env.to_string()]);
        }
    }

    /// Subscribers of the environment on this server (for tests and metrics).
    pub fn subscribers(&self, env_id: &str) -> usize {
        self.feeds()
            .get(env_id)
            .map_or(0, |f| f.sender.receiver_count())
    }

    /// Subscribers on this server, over every environment.
    pub fn total_subscribers(&self) -> usize {
        self.feeds()
            .values()
            .map(|f| f.sender.receiver_count())
            .sum()
    }

    async fn run_feed(self: Arc<Self>, env_id: String, feed: Arc<Feed>, mut cursor: i64) {
        loop {
            tokio::select! {
                _ = feed.poke.notified() => {}
                _ = tokio::time::sleep(FALLBACK_POLL) => {}
            }
            {
                let mut feeds = self.feeds();
                if feed.sender.receiver_count() == 0 {
                    if feeds.get(&env_id).is_some_and(|f| Arc::ptr_eq(f, &feed)) {
                        feeds.remove(&env_id);
                    }
                    return;
                }
            }
            // PostgreSQL: number what committed writers left in the outbox first.
            if sequence(&self.store).await.is_err() {
                continue;
            }
            loop {
                let env = env_id.clone();
                let page = self
                    .store
                    .read(move |tx| Ok::<_, crate::Error>(tx.run_events_after(&env, cursor, PAGE)?))
                    .await;
                let Ok(page) = page else {
                    // The store is unavailable: try again at the next poke or poll.
                    break;
                };
                let full = page.len() == PAGE;
                for e in page {
                    cursor = e.seq;
                    let _ = feed.sender.send(Arc::new(LiveEvent::new(e)));
                }
                if !full {
                    break;
                }
            }
        }
    }
}

/// Deletes events older than the retention period; the timer task calls it. Returns how
/// many it deleted.
pub async fn prune(store: &Store, now: Millis, retention: Duration) -> Result<u64> {
    let before = now - retention.as_millis() as Millis;
    let mut total = 0;
    loop {
        let n = store
            .write(move |tx| Ok::<_, crate::Error>(tx.prune_run_events(before, 5000)?))
            .await?;
        total += n;
        if n < 5000 {
            return Ok(total);
        }
    }
}

/// Most outbox events one sequencing transaction numbers.
const SEQUENCE_BATCH: usize = 5000;

/// Numbers the events a backend that numbers them late (PostgreSQL) holds in its outbox
/// ([`trigr_store::events::EventTx::sequence_run_events`]); nothing to do on SQLite.
pub async fn sequence(store: &Store) -> Result<()> {
    if !store.sequences_events_later() {
        return Ok(());
    }
    loop {
        let n = store
            .write(|tx| Ok::<_, crate::Error>(tx.sequence_run_events(SEQUENCE_BATCH)?))
            .await?;
        if n < SEQUENCE_BATCH as u64 {
            return Ok(());
        }
    }
}

/// How often [`prune_loop`] looks for old events.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// How often [`prune_loop`] numbers outbox events nobody subscribed to (PostgreSQL).
pub const SEQUENCE_EVERY: Duration = Duration::from_secs(1);

/// Numbers outbox events every [`SEQUENCE_EVERY`] (feeds with subscribers do it at once) and
/// prunes events older than `retention` every [`PRUNE_EVERY`] (by the engine's clock) until
/// `stop` changes.
pub async fn prune_loop(
    engine: crate::Engine,
    retention: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(SEQUENCE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = sequence(&engine.store).await {
            tracing::warn!("could not number run events: {e}");
        }
        if last_prune.is_some_and(|t| t.elapsed() < PRUNE_EVERY) {
            continue;
        }
        last_prune = Some(tokio::time::Instant::now());
        match prune(&engine.store, engine.now(), retention).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!("pruned {n} run events"),
            Err(e) => tracing::warn!("could not prune run events: {e}"),
        }
    }
}
