//! The timer loop: fires delays, TTLs, lost leases, max durations, duration/until waits,
//! token timeouts and cron schedules ([`crate::schedules::tick`]) that are due. Timers live in the store as due times on the runs and the
//! waitpoints; whichever server looks first fires each one (the scans skip rows another server
//! holds), and the compare-and-set of [`crate::transition`] (of the waitpoint's status for
//! waits) makes a second firing a no-op. Runs a timer ends complete the waits of their
//! parents, and completed waits queue their runs again ([`crate::resume`]).

use std::time::Duration;

use serde::Serialize;
use trigr_store::{Tx, WaitpointKind, WaitpointStatus};
use trigr_types::{Millis, RunStatus};

use crate::complete::{fail_attempt, AttemptError, Failure};
use crate::resume::{complete_waitpoint, runs_ended, timeout_error};
use crate::transition::end_attempt;
use crate::{transition, Effects, Engine, Error, Result};

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
}

impl Timers {
    pub fn new(engine: Engine, interval: Duration) -> Timers {
        Timers {
            engine,
            interval: interval.max(Duration::from_millis(1)),
        }
    }

    /// Fires everything due now, in bounded batches, and wakes the workers of the environments
    /// that got runs back.
    pub async fn run_once(&self) -> Result<Fired> {
        let mut total = Fired::default();
        loop {
            let engine = self.engine.clone();
            let (fired, envs) = self
                .engine
                .write(move |tx| fire_due(&engine, tx, engine.now()))
                .await?;
            self.engine.apply(&Effects { wake: envs });
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
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
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

fn fire_due(engine: &Engine, tx: &mut dyn Tx, now: Millis) -> Result<(Fired, Vec<String>)> {
    let mut fired = Fired::default();
    let mut envs: Vec<String> = Vec::new();
    let mut touched = |env_id: &str| {
        if !envs.iter().any(|e| e == env_id) {
            envs.push(env_id.to_string());
        }
    };
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
            touched(&wp.env_id);
        }
    }
    for run in tx.due_delayed(now, BATCH)? {
        let mut after = run.clone();
        after.status = if run.version.is_some() {
            RunStatus::Queued
        } else {
            RunStatus::PendingVersion
        };
        after.updated_at = now;
        if transition(tx, &run, &after)? {
            fired.delayed += 1;
            touched(&run.env_id);
        }
    }
    for run in tx.due_ttl(now, BATCH)? {
        let mut after = run.clone();
        after.status = RunStatus::Expired;
        after.finished_at = Some(now);
        after.updated_at = now;
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
        let mut after = run.clone();
        after.status = RunStatus::TimedOut;
        after.error = Some(error_json(
            &format!(
                "Run exceeded its maxDuration of {} seconds",
                run.max_duration.unwrap_or_default()
            ),
            "MaxDurationExceeded",
        ));
        after.finished_at = Some(now);
        after.updated_at = now;
        end_attempt(&mut after);
        if transition(tx, &run, &after)? {
            fired.timed_out += 1;
            touched(&run.env_id);
            ended.push(run.id.clone());
        }
    }
    for run in tx.due_leases(now, BATCH)? {
        if !run.status.is_leased() {
            continue;
        }
        let error = AttemptError {
            message: format!(
                "The worker stopped heartbeating: the lease of attempt {} expired",
                run.attempt
            ),
            name: Some("LeaseExpired".into()),
            stack_trace: None,
        };
        let failure = Failure {
            error: &error,
            retryable: true,
            retry_after_ms: None,
            final_status: RunStatus::Crashed,
        };
        match fail_attempt(engine, tx, &run, &failure, now) {
            Ok(done) => {
                fired.leases_expired += 1;
                touched(&run.env_id);
                if done.status.is_final() {
                    ended.push(run.id.clone());
                }
            }
            Err(Error::LeaseLost { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let ticked = crate::schedules::tick::fire_due(engine, tx, now, BATCH)?;
    fired.schedules = ticked.runs;
    for env in &ticked.envs {
        touched(env);
    }
    if runs_ended(tx, &ended, now)? > 0 {
        // Parents waiting for the ended runs are queued again.
        for env in &ended_envs {
            touched(env);
        }
    }
    Ok((fired, envs))
}

fn error_json(message: &str, name: &str) -> String {
    serde_json::json!({ "message": message, "name": name }).to_string()
}
