//! The trip evaluator shared by every server of one deployment: each server counts its own
//! triggers in memory, as [`super::LocalTripCounter`] does, so [`TripCounter::hit`] never
//! waits on I/O; a background exchange ([`SharedTripCounter::exchange`], every
//! [`EXCHANGE_EVERY`]) adds this server's new counts to the shared window of each environment
//! and reads back the total of all servers and the environments any server tripped. An
//! environment trips when the shared total of its window (plus what this server counted
//! since the last exchange) passes its threshold, on whichever server sees it first; the
//! others learn it at their next exchange.
//!
//! The shared counts live where [`TripSync`] keeps them: in Redis (`--redis-url`,
//! [`RedisTripSync`]), else in the store of a database several servers share (PostgreSQL,
//! [`StoreTripSync`]: one small write per exchange while triggers arrive). When no exchange has succeeded for [`STALE_AFTER`] (real time, whatever
//! the engine's clock says) the evaluator answers with an error, so triggers go straight to
//! the engine (fail-open).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use redis::{Script, Value};
use trigr_types::Millis;

use super::buffer::BoxFuture;
use super::redis_buffer::unavailable;
use super::trip::{Limits, TripCounter, TripError, WINDOW_MS};
use crate::Result;

/// How often counts are exchanged.
pub const EXCHANGE_EVERY: Duration = Duration::from_millis(100);
/// After how long without a successful exchange the evaluator is unavailable.
pub const STALE_AFTER: Duration = Duration::from_secs(3);
/// Most environments one exchange reads back as tripped.
const MAX_TRIPPED: i64 = 10_000;

/// This server's new counts of one environment, sent by an exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountDelta {
    pub env_id: String,
    pub window_start: Millis,
    pub added: u64,
    pub limits: Limits,
}

/// What an exchange read back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exchanged {
    /// Per environment sent: the shared total of its window.
    pub totals: Vec<u64>,
    /// Environments some server holds tripped, with until when.
    pub tripped: Vec<(String, Millis)>,
}

/// Where the shared counts live.
pub trait TripSync: Send + Sync {
    /// Adds the deltas to their shared windows (tripping an environment whose total passes
    /// its threshold) and reads back the totals and the tripped environments.
    fn exchange<'a>(
        &'a self,
        deltas: &'a [CountDelta],
        now: Millis,
    ) -> BoxFuture<'a, Result<Exchanged>>;
}

/// One environment's window on this server.
#[derive(Clone, Copy, Debug, Default)]
struct Window {
    start: Millis,
    /// This server's count in the window.
    count: u64,
    /// How much of it the shared total holds.
    flushed: u64,
    /// The shared total at the last exchange (this server's flushed count included).
    total: u64,
    tripped_until: Millis,
    limits: Option<Limits>,
}

impl Window {
    fn roll(&mut self, now: Millis) {
        let start = now - now.rem_euclid(WINDOW_MS);
        if self.start != start {
            *self = Window {
                start,
                tripped_until: self.tripped_until,
                limits: self.limits,
                ..Window::default()
            };
        }
    }
}

/// The evaluator shared through a [`TripSync`].
pub struct SharedTripCounter {
    windows: Mutex<HashMap<String, Window>>,
    sync: Arc<dyn TripSync>,
    /// When this counter was made.
    born: Instant,
    /// When the last exchange succeeded, in milliseconds after `born`.
    synced_at: AtomicU64,
}

impl SharedTripCounter {
    pub fn new(sync: Arc<dyn TripSync>) -> SharedTripCounter {
        SharedTripCounter {
            windows: Mutex::new(HashMap::new()),
            sync,
            born: Instant::now(),
            synced_at: AtomicU64::new(0),
        }
    }

    fn age_ms(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether the last successful exchange is older than [`STALE_AFTER`].
    fn is_stale(&self) -> bool {
        let since = self
            .age_ms()
            .saturating_sub(self.synced_at.load(Ordering::Relaxed));
        since > STALE_AFTER.as_millis() as u64
    }

    /// Sends this server's new counts and takes the shared totals and trips.
    pub async fn exchange(&self, now: Millis) -> Result<()> {
        let deltas = self.deltas(now);
        let got = self.sync.exchange(&deltas, now).await?;
        let mut windows = self.windows.lock().expect("trip windows lock");
        for (d, total) in deltas.iter().zip(&got.totals) {
            if let Some(w) = windows.get_mut(&d.env_id) {
                if w.start == d.window_start {
                    w.flushed = w.flushed.saturating_add(d.added);
                    w.total = w.total.max(*total);
                }
            }
        }
        for (env, until) in got.tripped {
            let w = windows.entry(env).or_default();
            w.tripped_until = w.tripped_until.max(until);
        }
        // Environments quiet for a while are forgotten.
        windows.retain(|_, w| now - w.start < 60_000 || now < w.tripped_until);
        self.synced_at.store(self.age_ms(), Ordering::Relaxed);
        Ok(())
    }

    /// What this server counted since the last exchange, per environment.
    fn deltas(&self, now: Millis) -> Vec<CountDelta> {
        let mut windows = self.windows.lock().expect("trip windows lock");
        let mut out = Vec::new();
        for (env, w) in windows.iter_mut() {
            w.roll(now);
            let (Some(limits), true) = (w.limits, w.count > w.flushed) else {
                continue;
            };
            out.push(CountDelta {
                env_id: env.clone(),
                window_start: w.start,
                added: w.count - w.flushed,
                limits,
            });
        }
        out
    }

    /// Runs exchanges until `stop` says so, every [`EXCHANGE_EVERY`].
    pub async fn run(
        self: Arc<Self>,
        clock: Arc<dyn crate::clock::Clock>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut failing = false;
        loop {
            match self.exchange(clock.now()).await {
                Ok(()) => failing = false,
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "mollifier: trip counts not exchanged");
                }
                Err(_) => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(EXCHANGE_EVERY) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

impl TripCounter for SharedTripCounter {
    fn hit(
        &self,
        env_id: &str,
        now: Millis,
        limits: Limits,
    ) -> std::result::Result<bool, TripError> {
        if self.is_stale() {
            return Err(TripError("the shared trip counts are out of reach".into()));
        }
        let mut windows = self
            .windows
            .lock()
            .map_err(|_| TripError("counter lock poisoned".into()))?;
        let w = match windows.get_mut(env_id) {
            Some(w) => w,
            None => windows.entry(env_id.to_string()).or_default(),
        };
        w.roll(now);
        w.limits = Some(limits);
        w.count = w.count.saturating_add(1);
        let total = w.total.saturating_add(w.count - w.flushed);
        if total > u64::from(limits.threshold) {
            w.tripped_until = w.tripped_until.max(now.saturating_add(limits.hold_ms));
        }
        Ok(now < w.tripped_until)
    }

    fn is_tripped(&self, env_id: &str, now: Millis) -> bool {
        self.windows
            .lock()
            .ok()
            .and_then(|w| w.get(env_id).map(|w| now < w.tripped_until))
            .unwrap_or(false)
    }

    fn tripped(&self, now: Millis, limit: usize) -> Vec<(String, Millis)> {
        let Ok(windows) = self.windows.lock() else {
            return Vec::new();
        };
        super::trip::still_tripped(
            windows.iter().map(|(e, w)| (e, w.tripped_until)),
            now,
            limit,
        )
    }
}

/// `exchange(P, now, maxTripped, {env, window, added, threshold, hold}…)`: adds each count to
/// its window's key (expiring after two windows), trips an environment whose total passes its
/// threshold, and answers the totals and the environments tripped at `now`.
const EXCHANGE: &str = r#"
local P, now = ARGV[1], tonumber(ARGV[2])
local totals = {}
for i = 4, #ARGV, 5 do
  local env, window, added = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local k = P .. 'w:' .. env .. ':' .. window
  local total = redis.call('INCRBY', k, added)
  redis.call('PEXPIRE', k, 2000)
  if total > tonumber(ARGV[i + 3]) then
    local till = now + tonumber(ARGV[i + 4])
    local old = tonumber(redis.call('ZSCORE', P .. 'trips', env) or '0')
    if till > old then redis.call('ZADD', P .. 'trips', till, env) end
  end
  totals[#totals + 1] = total
end
redis.call('ZREMRANGEBYSCORE', P .. 'trips', '-inf', now)
local tripped = redis.call('ZRANGEBYSCORE', P .. 'trips', '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
return {totals, tripped}
"#;

/// The shared counts in Redis.
pub struct RedisTripSync {
    conn: ConnectionManager,
    prefix: String,
    script: Script,
}

impl RedisTripSync {
    pub fn new(conn: ConnectionManager, prefix: &str) -> RedisTripSync {
        RedisTripSync {
            conn,
            prefix: prefix.to_string(),
            script: Script::new(EXCHANGE),
        }
    }
}

impl TripSync for RedisTripSync {
    fn exchange<'a>(
        &'a self,
        deltas: &'a [CountDelta],
        now: Millis,
    ) -> BoxFuture<'a, Result<Exchanged>> {
        Box::pin(async move {
            let mut inv = self.script.prepare_invoke();
            inv.arg(&self.prefix).arg(now).arg(MAX_TRIPPED);
            for d in deltas {
                inv.arg(&d.env_id)
                    .arg(d.window_start)
                    .arg(d.added)
                    .arg(d.limits.threshold)
                    .arg(d.limits.hold_ms);
            }
            let mut conn = self.conn.clone();
            let v: Value =
                tokio::time::timeout(Duration::from_millis(500), inv.invoke_async(&mut conn))
                    .await
                    .map_err(|_| unavailable("call timed out"))?
                    .map_err(unavailable)?;
            parse_exchanged(v)
        })
    }
}

fn parse_exchanged(v: Value) -> Result<Exchanged> {
    let Value::Array(mut parts) = v else {
        return Err(unavailable("exchange answered no array"));
    };
    let (Some(Value::Array(tripped)), Some(Value::Array(totals))) = (parts.pop(), parts.pop())
    else {
        return Err(unavailable("exchange answered no totals"));
    };
    let num = |v: &Value| -> Result<i64> {
        match v {
            Value::Int(i) => Ok(*i),
            Value::BulkString(b) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .map(|f| f as i64)
                .ok_or_else(|| unavailable("not a number")),
            _ => Err(unavailable("not a number")),
        }
    };
    let mut out = Exchanged::default();
    for t in &totals {
        out.totals.push(u64::try_from(num(t)?).unwrap_or(0));
    }
    for pair in tripped.chunks_exact(2) {
        let Value::BulkString(env) = &pair[0] else {
            continue;
        };
        let env = String::from_utf8_lossy(env).into_owned();
        out.tripped.push((env, num(&pair[1])?));
    }
    Ok(out)
}

/// The shared counts in the store (`mollifier_counts`, trips in `mollifier_trips`).
pub struct StoreTripSync {
    store: trigr_store::Store,
    server_id: String,
}

impl StoreTripSync {
    pub fn new(store: trigr_store::Store) -> StoreTripSync {
        StoreTripSync {
            store,
            server_id: trigr_types::id::new("server"),
        }
    }
}

/// How long the store keeps a window's counts.
const KEEP_COUNTS_MS: Millis = 10 * WINDOW_MS;

impl TripSync for StoreTripSync {
    fn exchange<'a>(
        &'a self,
        deltas: &'a [CountDelta],
        now: Millis,
    ) -> BoxFuture<'a, Result<Exchanged>> {
        let (deltas, server) = (deltas.to_vec(), self.server_id.clone());
        Box::pin(async move {
            if deltas.is_empty() {
                let tripped = self.store.read(move |tx| tx.mollifier_trips(now)).await?;
                return Ok(Exchanged {
                    totals: Vec::new(),
                    tripped,
                });
            }
            let out = self
                .store
                .write(move |tx| {
                    let mut totals = Vec::with_capacity(deltas.len());
                    for d in &deltas {
                        let added = i64::try_from(d.added).unwrap_or(i64::MAX);
                        let total = tx.add_trip_count(&server, &d.env_id, d.window_start, added)?;
                        if total > i64::from(d.limits.threshold) {
                            let until = now.saturating_add(d.limits.hold_ms);
                            tx.extend_mollifier_trip(&server, &d.env_id, until)?;
                        }
                        totals.push(u64::try_from(total).unwrap_or(0));
                    }
                    tx.prune_trip_counts(now - KEEP_COUNTS_MS)?;
                    let tripped = tx.mollifier_trips(now)?;
                    Ok::<_, trigr_store::Error>(Exchanged { totals, tripped })
                })
                .await?;
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A [`TripSync`] in memory, standing for the shared store between two counters.
    #[derive(Default)]
    struct MemorySync {
        windows: Mutex<HashMap<(String, Millis), u64>>,
        trips: Mutex<HashMap<String, Millis>>,
    }

    impl TripSync for MemorySync {
        fn exchange<'a>(
            &'a self,
            deltas: &'a [CountDelta],
            now: Millis,
        ) -> BoxFuture<'a, Result<Exchanged>> {
            let mut w = self.windows.lock().unwrap();
            let mut trips = self.trips.lock().unwrap();
            let mut out = Exchanged::default();
            for d in deltas {
                let total = w.entry((d.env_id.clone(), d.window_start)).or_default();
                *total += d.added;
                if *total > u64::from(d.limits.threshold) {
                    trips.insert(d.env_id.clone(), now + d.limits.hold_ms);
                }
                out.totals.push(*total);
            }
            out.tripped = trips
                .iter()
                .filter(|(_, u)| **u > now)
                .map(|(e, u)| (e.clone(), *u))
                .collect();
            Box::pin(async move { Ok(out) })
        }
    }

    const LIMITS: Limits = Limits {
        threshold: 10,
        hold_ms: 5_000,
    };

    #[tokio::test]
    async fn two_servers_trip_on_their_summed_rate() {
        let sync = Arc::new(MemorySync::default());
        let t0 = 1_000_000;
        let a = SharedTripCounter::new(sync.clone());
        let b = SharedTripCounter::new(sync.clone());
        // 6 + 6 triggers in one window: neither server alone passes 10.
        for i in 0..6 {
            assert!(!a.hit("e", t0 + i, LIMITS).unwrap());
            assert!(!b.hit("e", t0 + i, LIMITS).unwrap());
        }
        a.exchange(t0 + 10).await.unwrap();
        b.exchange(t0 + 10).await.unwrap();
        // b sent after a: the shared total (12) passed the threshold, so b tripped it.
        assert!(b.is_tripped("e", t0 + 11));
        // a learns it at its next exchange (it counted one more meanwhile, 7 in all).
        assert!(!a.hit("e", t0 + 15, LIMITS).unwrap());
        a.exchange(t0 + 20).await.unwrap();
        assert!(a.is_tripped("e", t0 + 21));
        assert!(a.hit("e", t0 + 22, LIMITS).unwrap());
        // Another environment is untouched; the trip ends after the hold (extended by a's
        // own hit over the shared total at t0 + 22).
        assert!(!a.hit("f", t0 + 22, LIMITS).unwrap());
        assert!(a.hit("e", t0 + 22 + 4_999, LIMITS).unwrap());
        assert!(!a.hit("e", t0 + 22 + 5_001, LIMITS).unwrap());
    }

    #[tokio::test]
    async fn out_of_reach_counts_fail_open() {
        let sync = Arc::new(MemorySync::default());
        let mut c = SharedTripCounter::new(sync);
        assert!(c.hit("e", 1, LIMITS).is_ok());
        // No exchange for longer than the limit: the evaluator is unavailable.
        let late = c.age_ms() + STALE_AFTER.as_millis() as u64 + 1;
        c.synced_at.store(0, Ordering::Relaxed);
        c.born = c.born.checked_sub(Duration::from_millis(late)).unwrap();
        assert!(c.hit("e", 2, LIMITS).is_err());
        c.exchange(3).await.unwrap();
        assert!(c.hit("e", 4, LIMITS).is_ok());
    }
}
