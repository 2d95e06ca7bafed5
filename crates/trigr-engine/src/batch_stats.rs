//! `batch_statistics`: how a batch's runs went — counts by outcome, the mean duration of the
//! finished ones, the success rate, and their errors grouped by name.
//!
//! Computed from the batch's runs as [`Engine::retrieve_batch`] reads them (at most
//! [`crate::batch::MAX_ITEMS`]), in one pass: no second read, no run loaded twice.

use std::collections::HashMap;

use serde::Deserialize;
use trigr_store::Run;
use trigr_types::RunStatus;

use crate::{Engine, Result};

/// The most error groups a breakdown lists; the rest are counted in the last one, `Other`.
pub const MAX_ERROR_GROUPS: usize = 20;

/// How a batch's runs went.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchStatistics {
    pub batch_id: String,
    /// `PENDING` (items may still come), `PROCESSING` or `COMPLETED`.
    pub status: &'static str,
    pub total_runs: u64,
    /// Runs not started yet.
    pub pending_runs: u64,
    /// Runs started and not finished.
    pub running_runs: u64,
    pub completed_runs: u64,
    /// Runs that ended in failure: failed, crashed, system failure, timed out, expired.
    pub failed_runs: u64,
    pub canceled_runs: u64,
    /// Mean of `finished − started` over the finished runs that started, in milliseconds;
    /// `None` when none did.
    pub average_duration_ms: Option<f64>,
    /// Completed runs over finished runs (cancelled ones included), from 0 to 1; `None` when
    /// no run finished.
    pub success_rate: Option<f64>,
    /// The failed runs grouped by error name (then code), largest group first.
    pub error_breakdown: Vec<ErrorGroup>,
}

/// Failed runs sharing an error name and code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorGroup {
    /// The error's `name` (`Error` when it had none; `Other` for the groups past
    /// [`MAX_ERROR_GROUPS`]).
    pub name: String,
    /// The error's `code`, when it had one.
    pub code: Option<String>,
    pub count: u64,
}

/// The parts of a stored error (`{message, name?, code?}`) that group it.
#[derive(Deserialize)]
struct StoredError {
    name: Option<String>,
    code: Option<serde_json::Value>,
}

fn is_failure(status: RunStatus) -> bool {
    matches!(
        status,
        RunStatus::Failed
            | RunStatus::Crashed
            | RunStatus::SystemFailure
            | RunStatus::TimedOut
            | RunStatus::Expired
    )
}

/// The group of a failed run: its error's name and code, or the status itself when the run
/// ended without an error of its own (expired, say).
fn group_of(run: &Run) -> (String, Option<String>) {
    let stored = run
        .error
        .as_deref()
        .and_then(|text| serde_json::from_str::<StoredError>(text).ok());
    let name = stored.as_ref().and_then(|e| e.name.clone());
    let code = stored.and_then(|e| e.code).map(|c| match c {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    });
    match (name, run.error.is_some()) {
        (Some(name), _) => (name, code),
        (None, true) => ("Error".to_string(), code),
        (None, false) => (run.status.as_str().to_string(), code),
    }
}

/// Groups the failed runs, largest first (then by name), folding the groups past
/// [`MAX_ERROR_GROUPS`] into `Other`.
fn breakdown<'a>(failed: impl Iterator<Item = &'a Run>) -> Vec<ErrorGroup> {
    let mut counts: HashMap<(String, Option<String>), u64> = HashMap::new();
    for run in failed {
        *counts.entry(group_of(run)).or_default() += 1;
    }
    let mut groups: Vec<ErrorGroup> = counts
        .into_iter()
        .map(|((name, code), count)| ErrorGroup { name, code, count })
        .collect();
    groups.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.code.cmp(&b.code))
    });
    if groups.len() > MAX_ERROR_GROUPS {
        let rest: u64 = groups[MAX_ERROR_GROUPS - 1..].iter().map(|g| g.count).sum();
        groups.truncate(MAX_ERROR_GROUPS - 1);
        groups.push(ErrorGroup {
            name: "Other".to_string(),
            code: None,
            count: rest,
        });
    }
    groups
}

/// The statistics of `runs`, the runs of batch `batch_id`.
pub fn statistics(batch_id: &str, status: &'static str, runs: &[Run]) -> BatchStatistics {
    let count = |f: &dyn Fn(RunStatus) -> bool| runs.iter().filter(|r| f(r.status)).count() as u64;
    let started = |s: RunStatus| {
        matches!(
            s,
            RunStatus::Dequeued | RunStatus::Executing | RunStatus::Waiting
        )
    };
    let durations: Vec<i64> = runs
        .iter()
        .filter(|r| r.status.is_final())
        .filter_map(|r| Some(r.finished_at? - r.started_at?))
        .collect();
    let finished = count(&|s| s.is_final());
    let completed = count(&|s| s == RunStatus::Completed);
    BatchStatistics {
        batch_id: batch_id.to_string(),
        status,
        total_runs: runs.len() as u64,
        pending_runs: count(&|s| !s.is_final() && !started(s)),
        running_runs: count(&started),
        completed_runs: completed,
        failed_runs: count(&is_failure),
        canceled_runs: count(&|s| s == RunStatus::Canceled),
        average_duration_ms: (!durations.is_empty()).then(|| {
            durations.iter().map(|&d| d.max(0) as f64).sum::<f64>() / durations.len() as f64
        }),
        success_rate: (finished > 0).then(|| completed as f64 / finished as f64),
        error_breakdown: breakdown(runs.iter().filter(|r| is_failure(r.status))),
    }
}

impl Engine {
    /// How the runs of a batch went; `NotFound` for a batch of another environment.
    pub async fn batch_statistics(&self, env_id: &str, batch_id: &str) -> Result<BatchStatistics> {
        let view = self.retrieve_batch(env_id, batch_id).await?;
        Ok(statistics(&view.batch.id, view.status, &view.runs))
    }
}
