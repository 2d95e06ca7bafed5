//! `complete`: a worker reports the outcome of its attempt. A failure is retried under the
//! task's policy; `fail_attempt` is shared with the lease rescuer in [`crate::timers`].

use std::collections::HashMap;
use std::sync::Arc;

use rand::Rng;
use serde::Deserialize;
use serde_json::Value;
use trigr_store::{Run, Tx};
use trigr_types::{packet, Millis, RetryPolicy, RunStatus};

use crate::resume::runs_ended;
use crate::transition::end_attempt;
use crate::{transition, transition_many, Effects, Engine, Error, Result};

/// A worker's report on one attempt (worker protocol §5).
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"lease": "lease_0", "ok": true, "output": {"sent": true}}))]
pub struct Completion {
    #[serde(default)]
    pub run_id: Option<String>,
    pub lease: String,
    pub ok: bool,
    #[serde(default)]
    pub output: Option<Value>,
    #[serde(default)]
    pub output_type: Option<String>,
    #[serde(default)]
    pub error: Option<AttemptError>,
    /// `false`: do not retry, whatever attempts remain.
    #[serde(default)]
    pub retry: Option<bool>,
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
}

#[derive(Clone, Debug, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptError {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_trace: Option<String>,
}

/// What became of the run.
#[derive(Clone, Debug)]
pub struct Completed {
    pub run_id: String,
    pub status: RunStatus,
    pub will_retry: bool,
    pub retry_at: Option<Millis>,
}

impl Engine {
    pub async fn complete(&self, env_id: &str, run_id: &str, c: Completion) -> Result<Completed> {
        let mut out = self
            .complete_many(env_id, vec![(run_id.to_string(), c)])
            .await?;
        out.pop()
            .unwrap_or_else(|| Err(Error::run_not_found(run_id)))
    }

    /// Completes several runs in one commit; each is judged on its own.
    pub async fn complete_many(
        &self,
        env_id: &str,
        items: Vec<(String, Completion)>,
    ) -> Result<Vec<Result<Completed>>> {
        let items = Arc::new(items);
        // A completion that resumes a waiting parent locks it after the child; on PostgreSQL
        // that can deadlock with a cancel of the parent, and the loser runs again.
        let results = self
            .write_retrying(|| {
                let (engine, env_id, items) = (self.clone(), env_id.to_string(), items.clone());
                move |tx: &mut dyn Tx| {
                    CompleteBatch::new(tx, &env_id, &items)?.run(&engine, tx, &items)
                }
            })
            .await?;
        self.apply(&Effects::wake(env_id));
        Ok(results)
    }
}

/// The runs of one `complete_many`, read in one statement and written in as few as the
/// store allows. Items are judged in order, exactly as if each were its own write: a run
/// completed twice in one call sees its first completion before the second is judged.
struct CompleteBatch {
    /// Every run named, as it stands after the items judged so far.
    runs: HashMap<String, Run>,
    /// Judged, not yet written: item index, before, after, outcome.
    pending: Vec<(usize, Run, Run, Completed)>,
    results: Vec<Option<Result<Completed>>>,
}

impl CompleteBatch {
    fn new(tx: &mut dyn Tx, env_id: &str, items: &[(String, Completion)]) -> Result<Self> {
        let mut ids: Vec<String> = items.iter().map(|(id, _)| id.clone()).collect();
        ids.sort();
        ids.dedup();
        let runs = tx.runs_by_ids(env_id, &ids)?;
        Ok(CompleteBatch {
            runs: runs.into_iter().map(|r| (r.id.clone(), r)).collect(),
            pending: Vec::new(),
            results: (0..items.len()).map(|_| None).collect(),
        })
    }

    fn run(
        mut self,
        engine: &Engine,
        tx: &mut dyn Tx,
        items: &[(String, Completion)],
    ) -> Result<Vec<Result<Completed>>> {
        let now = engine.now();
        for (i, (run_id, c)) in items.iter().enumerate() {
            if self
                .pending
                .iter()
                .any(|(_, before, _, _)| &before.id == run_id)
            {
                self.flush(tx)?;
            }
            let judged = match self.runs.get(run_id) {
                Some(run) => judge(engine, tx, run, c, now),
                None => Err(Error::run_not_found(run_id)),
            };
            match judged {
                Ok((after, done)) => {
                    let before = self.runs[run_id].clone();
                    self.pending.push((i, before, after, done));
                }
                Err(e) => self.results[i] = Some(Err(e)),
            }
        }
        self.flush(tx)?;
        // Runs that ended complete the waits of their parents.
        let ended: Vec<String> = self
            .results
            .iter()
            .flatten()
            .filter_map(|r| r.as_ref().ok())
            .filter(|c| c.status.is_final())
            .map(|c| c.run_id.clone())
            .collect();
        runs_ended(tx, &ended, engine.now())?;
        // Every item has its result once the last pending ones are written.
        Ok(self.results.into_iter().flatten().collect())
    }

    /// Writes the judged items; one that lost its run to another writer lost its lease.
    fn flush(&mut self, tx: &mut dyn Tx) -> Result<()> {
        let pending = std::mem::take(&mut self.pending);
        let pairs: Vec<(Run, Run)> = pending
            .iter()
            .map(|(_, before, after, _)| (before.clone(), after.clone()))
            .collect();
        let written = transition_many(tx, &pairs)?;
        for ((i, before, after, done), ok) in pending.into_iter().zip(written) {
            self.results[i] = Some(if ok {
                self.runs.insert(after.id.clone(), after);
                Ok(done)
            } else {
                Err(Error::LeaseLost {
                    run_id: before.id,
                    status: before.status,
                })
            });
        }
        Ok(())
    }
}

/// Decides what a completion makes of `run`, without writing it.
fn judge(
    engine: &Engine,
    tx: &mut dyn Tx,
    run: &Run,
    c: &Completion,
    now: Millis,
) -> Result<(Run, Completed)> {
    let run_id = run.id.as_str();
    if !run.status.is_leased() || run.lease.as_deref() != Some(c.lease.as_str()) {
        return Err(Error::LeaseLost {
            run_id: run_id.to_string(),
            status: run.status,
        });
    }
    if c.ok {
        let mut after = run.clone();
        after.status = RunStatus::Completed;
        after.output = c.output.as_ref().map(Value::to_string);
        after.output_type = Some(
            c.output_type
                .clone()
                .unwrap_or_else(|| packet::JSON.to_string()),
        );
        after.finished_at = Some(now);
        after.updated_at = now;
        end_attempt(&mut after);
        return Ok(outcome(after, None));
    }
    let error = c.error.clone().unwrap_or(AttemptError {
        message: "The attempt failed without an error message".into(),
        name: None,
        stack_trace: None,
    });
    let failure = Failure {
        error: &error,
        retryable: c.retry != Some(false),
        retry_after_ms: c.retry_after_ms,
        final_status: RunStatus::Failed,
    };
    let (after, retry_at) = plan_failure(engine, tx, run, &failure, now)?;
    Ok(outcome(after, retry_at))
}

fn outcome(after: Run, retry_at: Option<Millis>) -> (Run, Completed) {
    let done = Completed {
        run_id: after.id.clone(),
        status: after.status,
        will_retry: retry_at.is_some(),
        retry_at,
    };
    (after, done)
}

/// The retry policy in force for a run: its task's, with the trigger's `maxAttempts`.
pub(crate) fn policy_of(engine: &Engine, tx: &mut dyn Tx, run: &Run) -> Result<RetryPolicy> {
    let mut policy = match &run.version {
        Some(v) => engine
            .deployments
            .get(tx, &run.env_id, v)?
            .and_then(|d| d.task(&run.task_id).and_then(|t| t.retry.clone()))
            .unwrap_or_default(),
        None => RetryPolicy::default(),
    };
    if let Some(n) = run.max_attempts {
        policy.max_attempts = n.max(1) as u32;
    }
    Ok(policy)
}

/// A failed attempt, as its reporter describes it.
pub(crate) struct Failure<'a> {
    pub error: &'a AttemptError,
    /// `false`: no retry, whatever attempts remain.
    pub retryable: bool,
    /// The backoff the worker asked for, instead of the policy's.
    pub retry_after_ms: Option<u64>,
    /// The status when no retry follows.
    pub final_status: RunStatus,
}

/// Ends a failed attempt: back to `QUEUED` after the backoff when attempts remain and the error
/// is retryable, else the final status with the error.
pub(crate) fn fail_attempt(
    engine: &Engine,
    tx: &mut dyn Tx,
    run: &Run,
    failure: &Failure,
    now: Millis,
) -> Result<Completed> {
    let (after, retry_at) = plan_failure(engine, tx, run, failure, now)?;
    if !transition(tx, run, &after)? {
        return Err(Error::LeaseLost {
            run_id: run.id.clone(),
            status: run.status,
        });
    }
    Ok(outcome(after, retry_at).1)
}

/// What [`fail_attempt`] writes: the run after the failure, and when it retries.
fn plan_failure(
    engine: &Engine,
    tx: &mut dyn Tx,
    run: &Run,
    failure: &Failure,
    now: Millis,
) -> Result<(Run, Option<Millis>)> {
    let Failure {
        error,
        retryable,
        retry_after_ms,
        final_status,
    } = *failure;
    let policy = policy_of(engine, tx, run)?;
    let mut after = run.clone();
    after.error = Some(serde_json::to_string(error).unwrap_or_default());
    after.updated_at = now;
    // A retry is a new attempt, not the continuation of a resumed one.
    after.resumed = false;
    end_attempt(&mut after);
    if retryable && run.attempt < i64::from(policy.max_attempts) {
        let jitter: f64 = rand::thread_rng().gen();
        let delay = retry_after_ms
            .map(|ms| ms.min(trigr_types::retry::MAX_TIMEOUT_MS) as Millis)
            .unwrap_or_else(|| policy.backoff(run.attempt as u32, jitter));
        let retry_at = now + delay;
        after.status = RunStatus::Queued;
        after.available_at = retry_at;
        after.queue_ts = retry_at - run.priority * 1000;
        return Ok((after, Some(retry_at)));
    }
    after.status = final_status;
    after.finished_at = Some(now);
    Ok((after, None))
}
