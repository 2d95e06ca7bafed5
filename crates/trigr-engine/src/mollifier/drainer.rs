//! The drainer: the background loop that turns buffered triggers into runs.
//!
//! Each tick ([`Drainer::run_once`]) first fails the entries whose time to live ran out
//! (each becomes a `FAILED` run, counted), then picks up to `max_orgs_per_tick` organizations
//! with entries, rotating where the last tick stopped, and one environment of each, rotating
//! within the organization: an organization with many environments gets the slot of one with
//! a single environment, so one noisy tenant cannot starve the others. The tick's budget
//! (`rate_per_sec` × interval) is shared among the picked environments, drained with at most
//! `concurrency` at once, up to `batch` entries at a time taken from the buffer and
//! created in one write by [`Engine::materialise_next`] (the entries locked in that write, so
//! servers draining one database never share an entry); when that write fails, the batch's
//! entries are claimed (a conditional write) and created one by one ([`Engine::materialise`]), so that a bad
//! entry fails alone. From a buffer outside the store (Redis) the batch is claimed first, its
//! runs created in one write ([`Engine::materialise_all`]), then acknowledged; a drainer that
//! dies in between leaves the claims to run out, and the next finds the runs made. Ticks
//! start every `interval` (a tick that took longer is followed at once).
//!
//! A failing environment is counted and skipped for the tick; a store failure gives the entry
//! back in its place (failing it after `max_attempts`), and a failing tick makes the loop
//! wait with capped exponential backoff. Shutdown lets the tick in flight finish until the
//! deadline.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use trigr_store::BufferedEntry;
use trigr_types::{id, Millis};

use super::drain::Drained;
use crate::{Engine, Error, Result};

/// How the drainer works.
#[derive(Clone, Debug)]
pub struct DrainSettings {
    /// Whether this server drains (any number of servers may).
    pub enabled: bool,
    /// Most runs created per second by this server.
    pub rate_per_sec: u32,
    /// Most environments drained at once.
    pub concurrency: usize,
    /// Most entries of one environment claimed and made runs in one write.
    pub batch: usize,
    /// Most organizations served per tick.
    pub max_orgs_per_tick: usize,
    /// Pause between ticks.
    pub interval: Duration,
    /// How long a claim holds before another drainer may take the entry.
    pub claim: Duration,
    /// Store failures on one entry before it fails for good.
    pub max_attempts: i64,
    /// Longest wait after failing ticks.
    pub max_backoff: Duration,
    /// How long shutdown waits for the tick in flight.
    pub shutdown_timeout: Duration,
}

impl Default for DrainSettings {
    fn default() -> Self {
        DrainSettings {
            enabled: true,
            rate_per_sec: 20_000,
            concurrency: 4,
            batch: 200,
            max_orgs_per_tick: 500,
            interval: Duration::from_millis(20),
            claim: Duration::from_secs(30),
            max_attempts: 5,
            max_backoff: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

impl DrainSettings {
    /// Refuses settings that cannot work.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.rate_per_sec == 0 {
            return Err("the drain rate must be at least 1 run per second".into());
        }
        if self.concurrency == 0 || self.max_orgs_per_tick == 0 {
            return Err("the drain concurrency and max orgs per tick must be at least 1".into());
        }
        if self.batch == 0 || self.batch > MAX_BATCH {
            return Err(format!(
                "the drain batch must be between 1 and {MAX_BATCH} entries"
            ));
        }
        if self.interval.is_zero() || self.claim < self.interval {
            return Err("the drain interval must be positive and shorter than a claim".into());
        }
        if self.max_attempts < 1 {
            return Err("the drain max attempts must be at least 1".into());
        }
        Ok(())
    }

    /// Runs created per tick.
    fn budget(&self) -> usize {
        let per_tick = u128::from(self.rate_per_sec) * self.interval.as_millis() / 1000;
        usize::try_from(per_tick).unwrap_or(usize::MAX).max(1)
    }
}

/// What one tick did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tick {
    pub created: u64,
    /// Entries whose run existed already (another drainer's, a cancel's).
    pub existed: u64,
    pub failed: u64,
    pub expired: u64,
    /// Entries given back after a store failure.
    pub requeued: u64,
    /// Environments skipped for the tick after a failure.
    pub env_errors: u64,
}

impl Tick {
    fn add(&mut self, o: &Tick) {
        self.created += o.created;
        self.existed += o.existed;
        self.failed += o.failed;
        self.expired += o.expired;
        self.requeued += o.requeued;
        self.env_errors += o.env_errors;
    }
}

/// Where the rotation stands.
#[derive(Default)]
struct Rotation {
    /// The organization after which the next tick starts.
    last_org: Option<String>,
    /// Per organization, the environment served last.
    last_env: BTreeMap<String, String>,
    /// When the overrides were last reloaded.
    overrides_at: Option<Millis>,
    /// When expired entries were last looked for.
    expired_at: Option<Millis>,
    /// The tripped environments last published, and when.
    trips: Vec<String>,
    trips_at: Millis,
}

/// The drainer of one server.
pub struct Drainer {
    engine: Engine,
    claimer: String,
    rotation: Mutex<Rotation>,
}

/// How often the drainer looks for expired entries.
const EXPIRY_EVERY_MS: Millis = 1_000;
/// Most entries one drain write may take.
pub const MAX_BATCH: usize = 1000;
/// How often the drainer reloads the stored overrides.
const OVERRIDES_EVERY_MS: Millis = 5_000;
/// Most environments with entries one tick looks at (their rotation covers them all).
const MAX_DRAIN_ENVS: i64 = 100_000;
/// Most expired entries failed per tick.
const EXPIRED_PER_TICK: i64 = 500;

impl Drainer {
    pub fn new(engine: Engine) -> Drainer {
        Drainer {
            engine,
            claimer: id::new("drainer"),
            rotation: Mutex::new(Rotation::default()),
        }
    }

    fn settings(&self) -> &DrainSettings {
        &self.engine.mollifier().settings().drain
    }

    /// One tick: fail what expired, then drain the picked environments.
    pub async fn run_once(&self) -> Result<Tick> {
        let now = self.engine.now();
        self.reload_overrides(now).await;
        self.publish_trips(now).await;
        let mut tick = match self.expiry_due(now) {
            true => self.expire(now).await?,
            false => Tick::default(),
        };
        let envs = self
            .engine
            .mollifier()
            .buffer()
            .envs(MAX_DRAIN_ENVS)
            .await?;
        let slots = self.pick(&envs);
        if slots.is_empty() {
            return Ok(tick);
        }
        let per_slot = (self.settings().budget() / slots.len()).max(1);
        let mut set = tokio::task::JoinSet::new();
        let engine = self.engine.clone();
        for env_id in slots {
            if set.len() >= self.settings().concurrency {
                if let Some(Ok(t)) = set.join_next().await {
                    tick.add(&t);
                }
            }
            let (engine, claimer) = (engine.clone(), self.claimer.clone());
            set.spawn(async move { drain_env(&engine, &claimer, &env_id, per_slot).await });
        }
        while let Some(done) = set.join_next().await {
            if let Ok(t) = done {
                tick.add(&t);
            }
        }
        Ok(tick)
    }

    async fn reload_overrides(&self, now: Millis) {
        let due = {
            let mut r = self.rotation.lock().expect("rotation lock");
            let due = r
                .overrides_at
                .is_none_or(|t| now - t >= OVERRIDES_EVERY_MS || now < t);
            if due {
                r.overrides_at = Some(now);
            }
            due
        };
        if due {
            if let Err(e) = self.engine.load_mollifier_overrides().await {
                tracing::warn!(error = %e, "could not reload the mollifier overrides");
            }
        }
    }

    /// Publishes this server's tripped environments when they changed, and every second
    /// while there are some (for `trigr mollifier status`).
    async fn publish_trips(&self, now: Millis) {
        let current = self.engine.tripped_envs();
        let due = {
            let r = self.rotation.lock().expect("rotation lock");
            current != r.trips || (!current.is_empty() && now - r.trips_at >= 1000)
        };
        if !due {
            return;
        }
        match self.engine.publish_trips(&self.claimer).await {
            Ok(published) => {
                let mut r = self.rotation.lock().expect("rotation lock");
                r.trips = published.into_iter().map(|(env, _)| env).collect();
                r.trips_at = now;
            }
            Err(e) => tracing::warn!(error = %e, "could not publish the tripped environments"),
        }
    }

    /// Whether to look for expired entries: once a second (time to live is in seconds).
    fn expiry_due(&self, now: Millis) -> bool {
        let mut r = self.rotation.lock().expect("rotation lock");
        let due = r
            .expired_at
            .is_none_or(|t| now - t >= EXPIRY_EVERY_MS || now < t);
        if due {
            r.expired_at = Some(now);
        }
        due
    }

    /// Fails the entries whose time to live ran out.
    async fn expire(&self, now: Millis) -> Result<Tick> {
        let m = self.engine.mollifier();
        let until = now + millis(self.settings().claim);
        let expired = m
            .buffer()
            .claim_expired(&self.claimer, now, until, EXPIRED_PER_TICK)
            .await?;
        if expired.len() as i64 >= EXPIRED_PER_TICK {
            // More may wait: look again next tick.
            self.rotation.lock().expect("rotation lock").expired_at = None;
        }
        let mut tick = Tick::default();
        for e in expired {
            let waited = (now - e.created_at) / 1000;
            let message = format!(
                "The trigger waited {waited} s in the mollifier's buffer, longer than its time \
                 to live ({} s), before its run could be created",
                (e.expires_at - e.created_at) / 1000
            );
            if let Drained::Failed(_) = self.engine.fail_buffered(&e, &message).await? {
                tick.expired += 1;
                m.stats().expired.fetch_add(1, Ordering::Relaxed);
            }
            release_outside(&self.engine, &e, &self.claimer).await;
        }
        Ok(tick)
    }

    /// The environments this tick drains: organizations in rotation, one environment each.
    fn pick(&self, envs: &[(String, String)]) -> Vec<String> {
        let mut orgs: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (env_id, org_id) in envs {
            orgs.entry(org_id).or_default().push(env_id);
        }
        let mut r = self.rotation.lock().expect("rotation lock");
        let names: Vec<&str> = orgs.keys().copied().collect();
        let start = match &r.last_org {
            Some(last) => names.iter().position(|o| *o > last.as_str()).unwrap_or(0),
            None => 0,
        };
        let take = self.settings().max_orgs_per_tick.min(names.len());
        let mut picked = Vec::with_capacity(take);
        for i in 0..take {
            let org = names[(start + i) % names.len()];
            let envs = &orgs[org];
            let env = match r.last_env.get(org) {
                Some(last) => envs
                    .iter()
                    .find(|e| **e > last.as_str())
                    .unwrap_or(&envs[0]),
                None => &envs[0],
            };
            r.last_env.insert(org.to_string(), env.to_string());
            r.last_org = Some(org.to_string());
            picked.push(env.to_string());
        }
        picked
    }

    /// Runs ticks until `stop` says so; shutdown waits for the tick in flight until the
    /// deadline.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut failures = 0u32;
        loop {
            let started = tokio::time::Instant::now();
            let tick = tokio::spawn({
                let me = self.clone();
                async move { me.run_once().await }
            });
            let pause = match await_tick(tick, &mut stop, self.settings()).await {
                TickEnd::Done(Ok(_)) => {
                    failures = 0;
                    // Ticks start every interval: the tick's own time counts.
                    self.settings().interval.saturating_sub(started.elapsed())
                }
                TickEnd::Done(Err(e)) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, failures, "mollifier drain tick failed");
                    backoff(self.settings(), failures)
                }
                TickEnd::Stopped => return,
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}

enum TickEnd {
    Done(Result<Tick>),
    Stopped,
}

/// Waits for a tick; on stop, gives it until the shutdown deadline.
async fn await_tick(
    mut tick: tokio::task::JoinHandle<Result<Tick>>,
    stop: &mut watch::Receiver<bool>,
    settings: &DrainSettings,
) -> TickEnd {
    let joined = |r: std::result::Result<Result<Tick>, tokio::task::JoinError>| {
        r.unwrap_or_else(|e| Err(Error::invalid(format!("drain tick panicked: {e}"))))
    };
    tokio::select! {
        r = &mut tick => TickEnd::Done(joined(r)),
        _ = stop.changed() => {
            if tokio::time::timeout(settings.shutdown_timeout, &mut tick).await.is_err() {
                tick.abort();
                tracing::warn!("mollifier drain tick cut at the shutdown deadline");
            }
            TickEnd::Stopped
        }
    }
}

/// The wait after `failures` failing ticks in a row: doubling from the interval, capped.
fn backoff(settings: &DrainSettings, failures: u32) -> Duration {
    let factor = 1u32 << failures.min(16);
    settings
        .interval
        .saturating_mul(factor)
        .min(settings.max_backoff)
}

fn millis(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

/// Drains up to `budget` entries of one environment, a batch per write; a failure ends its
/// turn this tick.
async fn drain_env(engine: &Engine, claimer: &str, env_id: &str, budget: usize) -> Tick {
    let m = engine.mollifier();
    let mut tick = Tick::default();
    let mut left = budget;
    let in_store = m.buffer().in_store();
    while left > 0 {
        let limit = i64::try_from(left.min(m.settings().drain.batch)).unwrap_or(1);
        if !in_store {
            match drain_claimed(engine, claimer, env_id, limit, &mut tick).await {
                Some(0) | None => break,
                Some(taken) => {
                    left = left.saturating_sub(taken);
                    continue;
                }
            }
        }
        let taken = match engine.materialise_next(env_id, limit).await {
            Ok(done) => {
                let taken = done.len();
                for (e, drained) in done {
                    count(engine, &e, drained, &mut tick);
                }
                taken
            }
            Err(err) => {
                tracing::debug!(env = env_id, error = %err, "mollifier: batch drained one by one");
                match drain_one_by_one(engine, claimer, env_id, limit, &mut tick).await {
                    Some(taken) => taken,
                    None => break,
                }
            }
        };
        if taken == 0 {
            break;
        }
        left = left.saturating_sub(taken);
    }
    tick
}

/// Claims up to `limit` entries of a buffer outside the store, creates their runs in one
/// write and acknowledges them; when that write fails, one by one, so that a bad entry fails
/// alone. How many it took, `None` after a failure.
async fn drain_claimed(
    engine: &Engine,
    claimer: &str,
    env_id: &str,
    limit: i64,
    tick: &mut Tick,
) -> Option<usize> {
    let entries = claim_batch(engine, claimer, env_id, limit, tick).await?;
    let done = match engine.materialise_all(&entries).await {
        Ok(done) => done,
        Err(err) => {
            tracing::debug!(env = env_id, error = %err, "mollifier: batch drained one by one");
            return drain_each(engine, claimer, env_id, &entries, tick).await;
        }
    };
    for (e, drained) in entries.iter().zip(done) {
        count(engine, e, drained, tick);
        // Unacknowledged, the entry is claimed again later and found made.
        if let Err(err) = engine.mollifier().buffer().ack(&e.run_id, claimer).await {
            tracing::warn!(run = %e.run_id, error = %err, "mollifier: entry not acknowledged");
        }
    }
    Some(entries.len())
}

/// Creates claimed entries' runs one by one; how many, `None` after a store failure.
async fn drain_each(
    engine: &Engine,
    claimer: &str,
    env_id: &str,
    entries: &[BufferedEntry],
    tick: &mut Tick,
) -> Option<usize> {
    let mut all_ok = true;
    for e in entries {
        all_ok &= drain_entry(engine, claimer, e, tick).await;
    }
    if !all_ok {
        env_failed(engine, env_id, &"store failure", tick);
        return None;
    }
    Some(entries.len())
}

/// Claims up to `limit` of an environment's oldest entries for this drainer; `None` (the
/// environment counted as failing) when the buffer fails.
async fn claim_batch(
    engine: &Engine,
    claimer: &str,
    env_id: &str,
    limit: i64,
    tick: &mut Tick,
) -> Option<Vec<BufferedEntry>> {
    let m = engine.mollifier();
    let now = engine.now();
    let until = now + millis(m.settings().drain.claim);
    match m
        .buffer()
        .pop_many(env_id, claimer, now, until, limit)
        .await
    {
        Ok(entries) => Some(entries),
        Err(e) => {
            env_failed(engine, env_id, &e, tick);
            None
        }
    }
}

/// Claims up to `limit` entries and creates their runs one by one, so that an entry that
/// cannot become a run fails alone; how many it took, `None` after a store failure.
async fn drain_one_by_one(
    engine: &Engine,
    claimer: &str,
    env_id: &str,
    limit: i64,
    tick: &mut Tick,
) -> Option<usize> {
    let entries = claim_batch(engine, claimer, env_id, limit, tick).await?;
    drain_each(engine, claimer, env_id, &entries, tick).await
}

fn env_failed(engine: &Engine, env_id: &str, e: &dyn std::fmt::Display, tick: &mut Tick) {
    tracing::warn!(env = env_id, error = %e, "mollifier: environment skipped this tick");
    tick.env_errors += 1;
    let stats = engine.mollifier().stats();
    stats.env_errors.fetch_add(1, Ordering::Relaxed);
}

/// Creates one claimed entry's run; `false` after a store failure (the entry is given back).
async fn drain_entry(engine: &Engine, claimer: &str, e: &BufferedEntry, tick: &mut Tick) -> bool {
    let m = engine.mollifier();
    let outcome = match engine.materialise(e).await {
        Err(Error::Store(err)) if e.attempts + 1 < m.settings().drain.max_attempts => {
            tracing::warn!(run = %e.run_id, error = %err, "mollifier: entry given back");
            let _ = m.buffer().requeue(&e.run_id, claimer).await;
            tick.requeued += 1;
            return false;
        }
        Err(err) => {
            let message = format!("The buffered trigger could not become a run: {err}");
            engine.fail_buffered(e, &message).await
        }
        ok => ok,
    };
    match outcome {
        Ok(drained) => {
            count(engine, e, drained, tick);
            release_outside(engine, e, claimer).await;
            true
        }
        Err(err) => {
            tracing::warn!(run = %e.run_id, error = %err, "mollifier: entry not drained");
            false
        }
    }
}

/// Drops an entry whose run was written from a buffer outside the store (the store's own
/// entries left in the run's commit).
async fn release_outside(engine: &Engine, e: &BufferedEntry, claimer: &str) {
    let buffer = engine.mollifier().buffer();
    if !buffer.in_store() {
        if let Err(err) = buffer.ack(&e.run_id, claimer).await {
            tracing::warn!(run = %e.run_id, error = %err, "mollifier: entry not acknowledged");
        }
    }
}

/// Counts what became of an entry.
fn count(engine: &Engine, e: &BufferedEntry, drained: Drained, tick: &mut Tick) {
    let stats = engine.mollifier().stats();
    match drained {
        Drained::Created(_) => {
            tick.created += 1;
            stats.drained.fetch_add(1, Ordering::Relaxed);
            let lag_ms = engine.now() - e.created_at;
            let lag = u64::try_from(lag_ms).unwrap_or(0);
            stats.drain_lag_ms_sum.fetch_add(lag, Ordering::Relaxed);
            engine.observer().buffered_drained(lag_ms);
        }
        Drained::Existed(_) => tick.existed += 1,
        Drained::Failed(_) => {
            tick.failed += 1;
            stats.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}
