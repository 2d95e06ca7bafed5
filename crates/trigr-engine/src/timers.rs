//! The timer loop: fires delays, TTLs, lost leases, max durations, duration/until waits,
//! token timeouts and cron schedules ([`crate::schedules::tick`]) that are due. Timers live in the store as due times on the runs and the
//! waitpoints; whichever server looks first fires each one (the scans skip rows another server
//! holds), and the compare-and-set of [`crate::transition`] (of the waitpoint's status for
//! waits) makes a second firing a no-op. Runs a timer ends complete the waits of their
//! parents, and completed waits queue their runs again ([`crate::resume`]).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use trigr_store::{AttemptOutcome, WaitpointKind, WaitpointStatus};
use trigr_types::{Millis, RunStatus};

use crate::attempts::{record_end, End};
use crate::resume::{complete_waitpoint, runs_ended, timeout_error};
use crate::retry::{fail_attempt, Failure};
use crate::transition::{delay_over, finished};
use crate::{transition, Engine, Error, Result, Txn};

/// Most timers of one kind fired per transaction.
const BATCH: usize = 500;

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
}

impl Fired {
    pub fn total(&self) -> usize {
        self.delayed
            + self.expired
            + self.leases_expired
            + self.timed_out
            + self.waitpoints
            + self.schedules
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
}

impl Timers {
    pub fn new(engine: Engine, interval: Duration) -> Timers {
        Timers {
            engine,
            interval: interval.max(Duration::from_millis(1)),
            pass: tokio::sync::Mutex::new(()),
        }
    }

    /// Fires everything due now, in bounded batches, and wakes the workers of the environments
    /// that got runs back.
    pub async fn run_once(&self) -> Result<Fired> {
        let _pass = self.pass.lock().await;
        self.fire_all().await
    }

    /// Runs `change` (a move of the test clock), then a pass, with no other pass of this
    /// server in between.
    pub async fn run_after(&self, change: impl FnOnce()) -> Result<Fired> {
        let _pass = self.pass.lock().await;
        change();
        self.fire_all().await
    }

    async fn fire_all(&self) -> Result<Fired> {
        let mut total = Fired::default();
        loop {
            let fired = self
                .engine
                .write(move |tx| {
                    let now = tx.now();
                    fire_due(tx, now)
                })
                .await?;
            let more = fired.total() >= BATCH;
            total.delayed += fired.delayed;
            total.expired += fired.expired;
            total.leases_expired += fired.leases_expired;
            total.timed_out += fired.timed_out;
            total.waitpoints += fired.waitpoints;
            total.schedules += fired.schedules;
            if !more {
                return Ok(total);
            }
        }
    }

    /// Runs until `stop` resolves.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            if !self.due().await {
                continue;
            }
            if let Err(e) = self.run_once().await {
                tracing::warn!("timer pass failed: {e}");
            }
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

fn error_json(message: &str, name: &str) -> String {
    serde_json::json!({ "message": message, "name": name }).to_string()
}
