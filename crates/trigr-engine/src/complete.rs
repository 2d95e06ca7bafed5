//! `complete`: a worker reports the outcome of its attempt. A failure is retried under the
//! task's policy ([`crate::retry`]).

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use trigr_store::Run;
use trigr_types::{packet, Millis, RunStatus};

use crate::resume::runs_ended;
use crate::retry::{plan_failure, Failure};
use crate::transition::{check_lease, finished};
use crate::{transition_many, Engine, Error, Result, Txn};

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
        self.write_retrying(|| {
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
                self.flush(tx)?;
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
        runs_ended(tx, &ended, now)?;
        // Every item has its result once the last pending ones are written.
        Ok(self.results.into_iter().flatten().collect())
    }

    /// Writes the judged items; one that lost its run to another writer lost its lease.
    fn flush(&mut self, tx: &mut Txn<'_>) -> Result<()> {
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
fn judge(tx: &mut Txn<'_>, run: &Run, c: &Completion, now: Millis) -> Result<(Run, Completed)> {
    check_lease(run, &c.lease)?;
    if c.ok {
        let mut after = finished(run, RunStatus::Completed, now);
        after.output = c.output.as_ref().map(Value::to_string);
        after.output_type = Some(
            c.output_type
                .clone()
                .unwrap_or_else(|| packet::JSON.to_string()),
        );
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
    let (after, retry_at) = plan_failure(tx, run, &failure, now)?;
    Ok(outcome(after, retry_at))
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
