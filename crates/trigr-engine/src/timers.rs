//! The timer loop: fires delays, TTLs, lost leases, max durations, duration/until waits,
//! token timeouts and cron schedules ([`crate::schedules::tick`]) that are due, and in
//! development environments moves the runs of versions whose workers are gone
//! (`migrate::abandoned`, looked for every [`crate::migrate::DEV_PASS_EVERY_MS`]). Timers live in the store as due times on the runs and the
//! waitpoints; whichever server looks first fires each one (the scans skip rows another server
//! holds), and the compare-and-set of [`crate::transition`] (of the waitpoint's status for
//! waits) makes a second firing a no-op. Runs a timer ends complete the waits of their
//! parents, and completed waits queue their runs again ([`crate::resume`]).
//!
//! The loop also sweeps what outlived its retention period ([`crate::retention::sweep`]) every
//! [`SWEEP_EVERY`], at most [`SWEEP_WRITES`] writes at a time so that timers keep firing
//! while a backlog is deleted; a sweep that did not finish goes on at the next tick. With each
//! sweep it reclaims the key-value entries that expired ([`crate::kv`]), as boundedly.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use trigr_store::{AttemptOutcome, WaitpointKind, WaitpointStatus};
use trigr_types::{Millis, RunStatus};

use crate::attempts::{record_end, End};
use crate::kv::Reclaimed;
use crate::resume::{complete_waitpoint, runs_ended, timeout_error};
use crate::retention::{Sweeper, Swept};
use crate::retry::{fail_attempt, Failure};
use crate::transition::{delay_over, finished};
use crate::{transition, Engine, Error, Result, Txn};

/// Most timers of one kind fired per transaction.
const BATCH: usize = 500;
/// How often the loop sweeps what outlived its retention period.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Most writes of one retention sweep in the loop (each of at most
/// [`crate::retention::BATCH`] runs).
pub const SWEEP_WRITES: usize = 8;

/// What one pass fired.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Fired {
    pub delayed: usize,
    pub expired: usize,
    pub leases_expired: usize,
    pub timed_out: usize,
    /// Duration and until waits completed, tokens timed out.
    pub waitpoints: usize,
    /// Runs triggered by cron schedules.
    pub schedules: usize,
    /// Runs of abandoned development versions moved to a version with workers.
    pub migrated: usize,
}

impl Fired {
    pub fn total(&self) -> usize {
        self.delayed
            + self.expired
            + self.leases_expired
            + self.timed_out
            + self.waitpoints
            + self.schedules
            + self.migrated
    }
}

/// The background loop around [`Timers::run_once`].
pub struct Timers {
    engine: Engine,
    interval: Duration,
    /// One pass at a time on this server: a pass run right after the test clock moved
    /// ([`Timers::run_after`]) then counts everything the move made due, none of it fired by
    /// the background loop in between.
    pass: tokio::sync::Mutex<()>,
    /// Where the last retention sweep stopped (taken with `pass`).
    sweeper: tokio::sync::Mutex<Sweeper>,
    /// When (engine clock) the last pass looked for abandoned development versions.
    dev_pass_at: std::sync::atomic::AtomicI64,
}

impl Timers {
    pub fn new(engine: Engine, interval: Duration) -> Timers {
        Timers {
            engine,
            interval: interval.max(Duration::from_millis(1)),
            pass: tokio::sync::Mutex::new(()),
            sweeper: tokio::sync::Mutex::new(Sweeper::default()),
            dev_pass_at: std::sync::atomic::AtomicI64::new(Millis::MIN),
        }
    }

    /// Fires everything due now, in bounded batches, and wakes the workers of the environments
    /// that got runs back; moves the runs of abandoned development versions when a look for
    /// them is due ([`crate::migrate::DEV_PASS_EVERY_MS`]).
    pub async fn run_once(&self) -> Result<Fired> {
        let _pass = self.pass.lock().await;
        self.fire_all(self.dev_pass_due()).await
    }

    /// Runs `change` (a move of the test clock), then a pass, with no other pass of this
    /// server in between.
    pub async fn run_after(&self, change: impl FnOnce()) -> Result<Fired> {
        let _pass = self.pass.lock().await;
        change();
        self.fire_all(true).await
    }

    /// [`Timers::run_after`], then a whole retention sweep and a whole reclaim of expired
    /// key-value entries, with no other pass of this server in between: what moving the test
    /// clock made due is fired and deleted.
    pub async fn run_after_and_sweep(
        &self,
        change: impl FnOnce(),
    ) -> Result<(Fired, Swept, Reclaimed)> {
        let _pass = self.pass.lock().await;
        change();
        let fired = self.fire_all(true).await?;
        let swept = self.sweeper.lock().await.sweep(&self.engine, None).await?;
        let reclaimed = self.engine.reclaim_kv(None).await?;
        Ok((fired, swept, reclaimed))
    }

    /// Fires everything due, and with `dev_pass` moves the runs of abandoned development
    /// versions.
    async fn fire_all(&self, dev_pass: bool) -> Result<Fired> {
        let mut total = Fired::default();
        loop {
            let fired = self
                .engine
                .write(move |tx| {
                    let now = tx.now();
                    fire_due(tx, now)
                })
                .await?;
            if fired.total() > 0 {
                self.engine.observer().timers_fired(&fired);
            }
            let more = fired.total() >= BATCH;
            total.delayed += fired.delayed;
            total.expired += fired.expired;
            total.leases_expired += fired.leases_expired;
            total.timed_out += fired.timed_out;
            total.waitpoints += fired.waitpoints;
            total.schedules += fired.schedules;
            if !more {
                break;
            }
        }
        if dev_pass {
            total.migrated = self.migrate_abandoned().await?;
        }
        Ok(total)
    }

    /// Moves the runs of abandoned development versions, [`BATCH`] per transaction, when
    /// [`crate::Config::dev_migrate_after`] is set. What is due is found by a read; only moves
    /// write.
    async fn migrate_abandoned(&self) -> Result<usize> {
        let Some(after) = self.engine.config().dev_migrate_after else {
            return Ok(0);
        };
        let now = self.engine.now();
        self.dev_pass_at
            .store(now, std::sync::atomic::Ordering::Relaxed);
        let after_ms = after.as_millis() as Millis;
        let moves = self
            .engine
            .read(move |tx| crate::migrate::dev_moves(tx, now, after_ms))
            .await?;
        if moves.is_empty() {
            return Ok(0);
        }
        let moves = Arc::new(moves);
        let mut total = 0;
        loop {
            let m = moves.clone();
            let moved = self
                .engine
                .write(move |tx| crate::migrate::abandoned(tx, &m, BATCH))
                .await?;
            if moved > 0 {
                let fired = Fired {
                    migrated: moved,
                    ..Fired::default()
                };
                self.engine.observer().timers_fired(&fired);
            }
            total += moved;
            if moved < BATCH {
                return Ok(total);
            }
        }
    }

    /// Whether a look for abandoned development versions is due.
    fn dev_pass_due(&self) -> bool {
        self.engine.config().dev_migrate_after.is_some()
            && self
                .engine
                .now()
                .saturating_sub(self.dev_pass_at.load(std::sync::atomic::Ordering::Relaxed))
                >= crate::migrate::DEV_PASS_EVERY_MS
    }

    /// Runs until `stop` resolves.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_sweep = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            if self.due().await || self.dev_pass_due() {
                if let Err(e) = self.run_once().await {
                    tracing::warn!("timer pass failed: {e}");
                }
            }
            if tokio::time::Instant::now() >= next_sweep {
                next_sweep = self.sweep_some().await;
            }
        }
    }

    /// A retention sweep of at most [`SWEEP_WRITES`] writes, and a reclaim of expired
    /// key-value entries of at most as many ([`crate::kv`]); when to sweep next.
    async fn sweep_some(&self) -> tokio::time::Instant {
        let _pass = self.pass.lock().await;
        let result = self
            .sweeper
            .lock()
            .await
            .sweep(&self.engine, Some(SWEEP_WRITES))
            .await;
        let swept_all = match result {
            Ok(swept) => {
                if swept.runs + swept.batches + swept.tokens + swept.packets > 0 {
                    tracing::debug!(?swept, "deleted what outlived its retention period");
                }
                swept.done
            }
            Err(e) => {
                tracing::warn!("retention sweep failed: {e}");
                true
            }
        };
        let reclaimed_all = match self.engine.reclaim_kv(Some(SWEEP_WRITES)).await {
            Ok(reclaimed) => {
                if reclaimed.entries > 0 {
                    tracing::debug!(?reclaimed, "deleted expired key-value entries");
                }
                reclaimed.done
            }
            Err(e) => {
                tracing::warn!("reclaiming expired key-value entries failed: {e}");
                true
            }
        };
        let now = tokio::time::Instant::now();
        if swept_all && reclaimed_all {
            now + SWEEP_EVERY
        } else {
            now
        }
    }

    /// Whether anything is due, from a cheap read.
    async fn due(&self) -> bool {
        let now = self.engine.now();
        self.engine
            .read(|tx| {
                let runs = tx.next_timer()?;
                let schedules = tx.next_schedule_due()?;
                Ok::<_, Error>(match (runs, schedules) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                })
            })
            .await
            .ok()
            .flatten()
            .is_some_and(|t| t <= now)
    }
}

/// Fires what is due at `now`, at most [`BATCH`] of each kind, and wakes the workers of the
/// environments that got runs back.
fn fire_due(tx: &mut Txn<'_>, now: Millis) -> Result<Fired> {
    let mut fired = Fired::default();
    // Runs a timer ended (whose parents may be waiting for them), with their environments.
    let mut ended: Vec<String> = Vec::new();
    let mut ended_envs: Vec<String> = Vec::new();
    for wp in tx.due_waitpoints(now, BATCH)? {
        let (status, output) = match wp.kind {
            WaitpointKind::Token | WaitpointKind::Input => {
                (WaitpointStatus::TimedOut, Some(timeout_error(&wp)))
            }
            _ => (WaitpointStatus::Completed, None),
        };
        if complete_waitpoint(tx, &wp, status, output, now)? {
            fired.waitpoints += 1;
            tx.wake(&wp.env_id);
        }
    }
    for run in tx.due_delayed(now, BATCH)? {
        let after = delay_over(&run, now);
        if transition(tx, &run, &after)? {
            fired.delayed += 1;
            tx.wake(&run.env_id);
        }
    }
    for run in tx.due_ttl(now, BATCH)? {
        let after = finished(&run, RunStatus::Expired, now);
        if transition(tx, &run, &after)? {
            fired.expired += 1;
            ended.push(run.id.clone());
            ended_envs.push(run.env_id.clone());
        }
    }
    for run in tx.due_timeouts(now, BATCH)? {
        if !run.status.is_leased() {
            continue;
        }
        let mut after = finished(&run, RunStatus::TimedOut, now);
        let error = error_json(
            &format!(
                "Run exceeded its maxDuration of {} seconds",
                run.max_duration.unwrap_or_default()
            ),
            "MaxDurationExceeded",
        );
        after.error = Some(error.clone());
        if transition(tx, &run, &after)? {
            let end = End {
                outcome: AttemptOutcome::TimedOut,
                error: Some(&error),
                retry_at: None,
            };
            record_end(tx, &run, &after, end)?;
            fired.timed_out += 1;
            tx.wake(&run.env_id);
            ended.push(run.id.clone());
        }
    }
    for run in tx.due_leases(now, BATCH)? {
        if !run.status.is_leased() {
            continue;
        }
        let error = error_json(
            &format!(
                "The worker stopped heartbeating: the lease of attempt {} expired",
                run.attempt
            ),
            "LeaseExpired",
        );
        let failure = Failure {
            error: &error,
            retryable: true,
            retry_after_ms: None,
            final_status: RunStatus::Crashed,
            outcome: AttemptOutcome::LeaseLost,
        };
        match fail_attempt(tx, &run, &failure, now) {
            Ok(done) => {
                fired.leases_expired += 1;
                tx.wake(&run.env_id);
                if done.status.is_final() {
                    ended.push(run.id.clone());
                }
            }
            Err(Error::LeaseLost { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    fired.schedules = crate::schedules::tick::fire_due(tx, now, BATCH)?;
    if runs_ended(tx, &ended, now)? > 0 {
        // Parents waiting for the ended runs are queued again.
        for env in &ended_envs {
            tx.wake(env);
        }
    }
    Ok(fired)
}

pub(crate) fn error_json(message: &str, name: &str) -> String {
    serde_json::json!({ "message": message, "name": name }).to_string()
}
