//! `dequeue`: hand up to N ready runs of one version and one region to a worker, within every
//! concurrency limit, serving queues round-robin; long-polls when nothing is ready. Each run
//! comes with its journal; a resumed run continues its attempt (`attempt` unchanged). A worker
//! that names no region serves its environment's default one. Each dequeue also records that a
//! worker of its version and region is there ([`crate::presence`], throttled).

use std::collections::HashMap;
use std::time::Duration;

use trigr_store::{JournalEntry, Queue, Run};
use trigr_types::{id, Millis, RunStatus};

use crate::retry::policy_of;
use crate::transition::leased;
use crate::{transition_many, Engine, Error, Result, Txn};

pub const MAX_RUNS: usize = 500;

/// A run handed to a worker, with what it replays.
#[derive(Clone, Debug)]
pub struct Dequeued {
    pub run: Run,
    /// Empty for a fresh run.
    pub journal: Vec<JournalEntry>,
}

impl Engine {
    /// Dequeues up to `max` runs of `version` in `region` (a checked name; the environment's
    /// default region when `None`) for the worker named `worker_id` (if any), waiting up to
    /// `wait` for the first one. With `start` the runs are `EXECUTING` at once (the worker
    /// starts them as it gets them, and saves a heartbeat per run); otherwise `DEQUEUED` until
    /// their first heartbeat.
    #[allow(clippy::too_many_arguments)]
    pub async fn dequeue(
        &self,
        env_id: &str,
        version: &str,
        region: Option<&str>,
        worker_id: Option<&str>,
        max: usize,
        wait: Duration,
        start: bool,
    ) -> Result<Vec<Dequeued>> {
        self.long_poll(
            env_id,
            wait,
            || self.dequeue_once(env_id, version, region, worker_id, max, start),
            |runs| !runs.is_empty(),
        )
        .await
    }

    /// One dequeue transaction.
    #[tracing::instrument(level = "debug", name = "dequeue", skip_all, fields(env = env_id, version = version))]
    #[allow(clippy::too_many_arguments)]
    pub async fn dequeue_once(
        &self,
        env_id: &str,
        version: &str,
        region: Option<&str>,
        worker_id: Option<&str>,
        max: usize,
        start: bool,
    ) -> Result<Vec<Dequeued>> {
        let lane = self.lane_of(env_id);
        let (env_id, version) = (env_id.to_string(), version.to_string());
        let region = region.map(str::to_string);
        let worker = crate::presence::worker_key(worker_id).to_string();
        let presence = self.presence.clone();
        self.write_in(lane, move |tx| {
            let claim = Claim {
                now: tx.now(),
                lease_ms: tx.config().lease_timeout.as_millis() as Millis,
                new_lease: || id::new("lease"),
                timed: true,
                status: if start {
                    RunStatus::Executing
                } else {
                    RunStatus::Dequeued
                },
            };
            let (region, runs) = take(
                tx,
                &env_id,
                &version,
                region,
                max.clamp(1, MAX_RUNS),
                &claim,
            )?;
            let mut out = Vec::with_capacity(runs.len());
            for mut run in runs {
                // Workers see the attempts the policy allows (not stored: the policy decides).
                run.max_attempts = Some(i64::from(policy_of(tx, &run)?.max_attempts));
                let journal = crate::journal::of_dequeued(tx, &run)?;
                out.push(Dequeued { run, journal });
            }
            // Last, so that the presence row is the last lock the transaction takes.
            crate::presence::touch(
                &presence, tx, &env_id, &version, &region, &worker, claim.now,
            )?;
            Ok(out)
        })
        .await
    }
}

/// How the runs of one dequeue are claimed.
pub(crate) struct Claim {
    pub now: Millis,
    pub lease_ms: Millis,
    /// Makes the lease of each run taken.
    pub new_lease: fn() -> String,
    /// Whether the server times the attempt out after the run's `maxDuration`; `false` for
    /// a worker whose runtime measures it itself (waits excluded).
    pub timed: bool,
    /// `DEQUEUED`, or `EXECUTING` for a worker that starts its runs at once.
    pub status: RunStatus,
}

/// Takes the runs of one dequeue; returns them with the region they were taken from.
pub(crate) fn take(
    tx: &mut Txn<'_>,
    env_id: &str,
    version: &str,
    region: Option<String>,
    max: usize,
    claim: &Claim,
) -> Result<(String, Vec<Run>)> {
    tx.lock_for_dequeue(env_id)?;
    let env = tx
        .environment(env_id)?
        .ok_or_else(|| Error::not_found("Environment not found"))?;
    let region = region
        .or(env.default_region)
        .unwrap_or_else(|| trigr_types::region::DEFAULT.to_string());
    let mut env_free = (env.concurrency_limit - tx.env_running(env_id)?).max(0) as usize;
    let queues = tx.dequeue_order(env_id)?;
    let mut out = Vec::new();
    if queues.is_empty() {
        return Ok((region, out));
    }
    // First pass: a fair share per queue; second pass: whatever is left, from any queue.
    let share = max.div_ceil(queues.len());
    for pass in 0..2 {
        for q in &queues {
            let want = (max - out.len())
                .min(env_free)
                .min(if pass == 0 { share } else { max });
            if want == 0 {
                break;
            }
            let taken = take_from_queue(tx, q, version, &region, want, claim)?;
            env_free -= taken.len();
            if !taken.is_empty() {
                let served = tx.next_served_seq(env_id)?;
                tx.mark_served(&q.id, served)?;
            }
            out.extend(taken);
        }
    }
    Ok((region, out))
}

fn take_from_queue(
    tx: &mut Txn<'_>,
    q: &Queue,
    version: &str,
    region: &str,
    want: usize,
    claim: &Claim,
) -> Result<Vec<Run>> {
    let Claim {
        now,
        lease_ms,
        new_lease,
        timed,
        status,
    } = *claim;
    let limit = q.limit();
    if limit == Some(0) {
        return Ok(Vec::new());
    }
    let candidates = tx.ready_runs(&q.id, version, region, now, want * 2 + 8)?;
    let mut running: HashMap<String, i64> = HashMap::new();
    let mut taken = Vec::new();
    for run in candidates {
        if taken.len() == want {
            break;
        }
        let held = match running.get(&run.ckey) {
            Some(n) => *n,
            None => tx.slot_running(&q.id, &run.ckey)?,
        };
        if limit.is_some_and(|l| held >= l) {
            running.insert(run.ckey.clone(), held);
            continue;
        }
        let mut after = leased(&run, status, new_lease(), now + lease_ms, now);
        if !timed {
            after.timeout_at = None;
        }
        running.insert(run.ckey.clone(), held + 1);
        taken.push((run, after));
    }
    // A run another writer changed meanwhile is simply not handed out (its slot was only
    // counted, never taken).
    let written = transition_many(tx, &taken)?;
    Ok(taken
        .into_iter()
        .zip(written)
        .filter_map(|((_, after), ok)| ok.then_some(after))
        .collect())
}
