//! The timer loop: fires delays, TTLs, lost leases and max durations that are due. Timers live
//! in the store as due times on the runs; whichever server looks first fires each one, and the
//! compare-and-set of [`crate::transition`] makes a second firing a no-op.

use std::time::Duration;

use serde::Serialize;
use trigr_store::{Run, Tx};
use trigr_types::{Millis, RunStatus};

use crate::complete::{fail_attempt, AttemptError, Failure};
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
}

impl Fired {
    pub fn total(&self) -> usize {
        self.delayed + self.expired + self.leases_expired + self.timed_out
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
            .read(|tx| Ok::<_, Error>(tx.next_timer()?))
            .await
            .ok()
            .flatten()
            .is_some_and(|t| t <= now)
    }
}

fn fire_due(engine: &Engine, tx: &mut dyn Tx, now: Millis) -> Result<(Fired, Vec<String>)> {
    let mut fired = Fired::default();
    let mut envs: Vec<String> = Vec::new();
    let mut touched = |run: &Run| {
        if !envs.contains(&run.env_id) {
            envs.push(run.env_id.clone());
        }
    };
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
            touched(&run);
        }
    }
    for run in tx.due_ttl(now, BATCH)? {
        let mut after = run.clone();
        after.status = RunStatus::Expired;
        after.finished_at = Some(now);
        after.updated_at = now;
        if transition(tx, &run, &after)? {
            fired.expired += 1;
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
            touched(&run);
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
            Ok(_) => {
                fired.leases_expired += 1;
                touched(&run);
            }
            Err(Error::LeaseLost { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok((fired, envs))
}

fn error_json(message: &str, name: &str) -> String {
    serde_json::json!({ "message": message, "name": name }).to_string()
}
