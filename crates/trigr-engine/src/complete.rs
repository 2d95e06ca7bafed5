//! `complete`: a worker reports the outcome of its attempt. A failure is retried under the
//! task's policy (`retry.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use trigr_store::{AttemptOutcome, Run};
use trigr_types::wire::worker::CompletionBody;
use trigr_types::{packet, Millis, RunStatus};

use crate::attempts::{record_end, End};
use crate::resume::runs_ended;
use crate::retry::{plan_failure, Failure};
use crate::transition::{check_lease, finished};
use crate::{transition_many, Engine, Error, Result, Txn};

/// A worker's report on one attempt, checked ([`check`]).
#[derive(Clone, Debug)]
pub struct Completion {
    pub lease: String,
    pub outcome: Outcome,
}

/// How the attempt ended.
#[derive(Clone, Debug)]
pub enum Outcome {
    Succeeded {
        /// The output packet's text; `None` when the task returned nothing.
        output: Option<String>,
        /// The output packet's type.
        output_type: String,
    },
    Failed {
        /// The error as JSON text: `{"message", "name"?, "stackTrace"?}`.
        error: String,
        /// `false`: no retry, whatever attempts remain.
        retryable: bool,
        /// The backoff the worker asked for, instead of the policy's.
        retry_after_ms: Option<u64>,
    },
}

/// Checks a completion body (worker protocol §5): a failure needs its error. The `runId` of
/// a batched completion is the caller's to read.
pub fn check(body: CompletionBody) -> Result<Completion> {
    let outcome = if body.ok {
        Outcome::Succeeded {
            output: body.output.as_ref().map(Value::to_string),
            output_type: body.output_type.unwrap_or_else(|| packet::JSON.to_string()),
        }
    } else {
        let error = body.error.ok_or_else(|| {
            Error::invalid("A failed completion (ok: false) needs an error with a message")
        })?;
        Outcome::Failed {
            error: serde_json::to_string(&error).unwrap_or_default(),
            retryable: body.retry != Some(false),
            retry_after_ms: body.retry_after_ms,
        }
    };
    Ok(Completion {
        lease: body.lease,
        outcome,
    })
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
    #[tracing::instrument(level = "debug", name = "complete", skip_all, fields(env = env_id))]
    pub async fn complete_many(
        &self,
        env_id: &str,
        items: Vec<(String, Completion)>,
    ) -> Result<Vec<Result<Completed>>> {
        let items = Arc::new(items);
        // A completion that resumes a waiting parent locks it after the child; on PostgreSQL
        // that can deadlock with a cancel of the parent, and the loser runs again.
        self.write_retrying_in(self.lane_of(env_id), || {
            let (env_id, items) = (env_id.to_string(), items.clone());
            move |tx: &mut Txn<'_>| {
                // Slots freed, retries queued, parents resumed: workers may find work.
                tx.wake(&env_id);
                CompleteBatch::new(tx, &env_id, &items)?.run(tx, &items)
            }
        })
        .await
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
    fn new(tx: &mut Txn<'_>, env_id: &str, items: &[(String, Completion)]) -> Result<Self> {
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
        tx: &mut Txn<'_>,
        items: &[(String, Completion)],
    ) -> Result<Vec<Result<Completed>>> {
        let now = tx.now();
        for (i, (run_id, c)) in items.iter().enumerate() {
            if self
                .pending
                .iter()
                .any(|(_, before, _, _)| &before.id == run_id)
            {
                self.flush(tx, items)?;
            }
            let judged = match self.runs.get(run_id) {
                Some(run) => judge(tx, run, c, now),
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
        self.flush(tx, items)?;
        // Runs that ended complete the waits of their parents.
        let ended: Vec<String> = self
            .results
            .iter()
            .flatten()
            .filter_map(|r| r.as_ref().ok())
            .filter(|c| c.status.is_final())
            .map(|c| c.run_id.clone())
            .collect();
        runs_ended(tx, &ended, now)?;
        // Every item has its result once the last pending ones are written.
        Ok(self.results.into_iter().flatten().collect())
    }

    /// Writes the judged items, and the attempts that failed with them; one that lost its
    /// run to another writer lost its lease.
    fn flush(&mut self, tx: &mut Txn<'_>, items: &[(String, Completion)]) -> Result<()> {
        let pending = std::mem::take(&mut self.pending);
        let pairs: Vec<(Run, Run)> = pending
            .iter()
            .map(|(_, before, after, _)| (before.clone(), after.clone()))
            .collect();
        let written = transition_many(tx, &pairs)?;
        for ((i, before, after, done), ok) in pending.into_iter().zip(written) {
            self.results[i] = Some(if ok {
                if let Outcome::Failed { error, .. } = &items[i].1.outcome {
                    let end = End {
                        outcome: AttemptOutcome::Failed,
                        error: Some(error),
                        retry_at: done.retry_at,
                    };
                    record_end(tx, &before, &after, end)?;
                }
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
fn judge(tx: &mut Txn<'_>, run: &Run, c: &Completion, now: Millis) -> Result<(Run, Completed)> {
    check_lease(run, &c.lease)?;
    match &c.outcome {
        Outcome::Succeeded {
            output,
            output_type,
        } => {
            let mut after = finished(run, RunStatus::Completed, now);
            after.output = output.clone();
            after.output_type = Some(output_type.clone());
            // Earlier attempts' errors are theirs (attempt history), not the run's.
            after.error = None;
            Ok(outcome(after, None))
        }
        Outcome::Failed {
            error,
            retryable,
            retry_after_ms,
        } => {
            let failure = Failure {
                error,
                retryable: *retryable,
                retry_after_ms: *retry_after_ms,
                final_status: RunStatus::Failed,
                outcome: AttemptOutcome::Failed,
            };
            let (after, retry_at) = plan_failure(tx, run, &failure, now)?;
            Ok(outcome(after, retry_at))
        }
    }
}

pub(crate) fn outcome(after: Run, retry_at: Option<Millis>) -> (Run, Completed) {
    let done = Completed {
        run_id: after.id.clone(),
        status: after.status,
        will_retry: retry_at.is_some(),
        retry_at,
    };
    (after, done)
}
