//! Retention: each environment's retention period, and finding and deleting what outlived it.
//!
//! A finished run is deleted with everything that belongs only to it (its tag index entries,
//! journal, logs, input and output streams, the waitpoints it created and their child links,
//! and the links naming it as a child of another run's wait) in one statement per table for a
//! whole batch of runs ([`RetentionTx::delete_runs`]). What several runs share goes once
//! nothing needs it any more: a batch once none of its runs is left, a token (a waitpoint of no
//! run) once no remaining journal waits on it, an uploaded packet by its age.
//!
//! The scans go oldest first through indexes made for them (migration 0015), so a sweep never
//! reads runs that are not yet due. Reads inside a write lock what they return and skip what
//! another writer holds, like the timer scans.

use trigr_types::Millis;

use crate::Result;

/// A run that finished before a cutoff, as the retention sweep finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiredRun {
    pub seq: i64,
    pub id: String,
    pub finished_at: Millis,
    /// Its tags (their index entries go with it).
    pub tags: Vec<String>,
    /// Something that has not finished still needs it, so it is kept for now: a child or a
    /// descendant that has not finished (they may write its metadata and streams), a wait
    /// that has not completed and lists it, a wait of its own that still waits for a run that
    /// has not finished, or another run of its batch that has not finished or finished after
    /// the cutoff (a batch goes as a whole).
    pub needed: bool,
}

/// Where a sweep of an environment's finished runs stands: the last run it looked at, by
/// finish time and then `seq`. [`SweepCursor::START`] is before every run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SweepCursor {
    pub finished_at: Millis,
    pub seq: i64,
}

impl SweepCursor {
    pub const START: SweepCursor = SweepCursor {
        finished_at: Millis::MIN,
        seq: i64::MIN,
    };

    /// Just after `run`.
    pub fn after(run: &ExpiredRun) -> SweepCursor {
        SweepCursor {
            finished_at: run.finished_at,
            seq: run.seq,
        }
    }
}

/// Reading retention periods and what outlived them.
pub trait RetentionRead {
    /// The environment's own retention period in days; `None` when it follows the server's
    /// default (or does not exist).
    fn retention_days(&mut self, env_id: &str) -> Result<Option<i64>>;
    /// Every environment with its own retention period (`None`: the server's default), by id.
    fn retention_settings(&mut self) -> Result<Vec<(String, Option<i64>)>>;
    /// The environment's runs that finished before `before`, after `cursor`, oldest first, at
    /// most `limit`; in a write, locked (runs another writer holds are skipped).
    fn expired_runs(
        &mut self,
        env_id: &str,
        before: Millis,
        cursor: SweepCursor,
        limit: usize,
    ) -> Result<Vec<ExpiredRun>>;
}

/// Setting retention periods and deleting what outlived them.
pub trait RetentionTx {
    /// Sets the environment's retention period in days (`None`: the server's default); false
    /// when there is no such environment.
    fn set_retention_days(&mut self, env_id: &str, days: Option<i64>) -> Result<bool>;
    /// Deletes the runs (read by [`RetentionRead::expired_runs`] in this transaction) and
    /// everything that belongs only to them; returns how many runs were deleted.
    fn delete_runs(&mut self, runs: &[ExpiredRun]) -> Result<u64>;
    /// Deletes up to `limit` of the environment's batches that have no run left and were last
    /// changed before `before`, with their item lists; returns how many batches.
    fn delete_expired_batches(&mut self, env_id: &str, before: Millis, limit: usize)
        -> Result<u64>;
    /// Deletes up to `limit` of the environment's tokens (waitpoints of no run) completed or
    /// timed out before `before` on which no remaining journal waits; returns how many.
    fn delete_expired_tokens(&mut self, env_id: &str, before: Millis, limit: usize) -> Result<u64>;
    /// Deletes up to `limit` of the environment's packets uploaded before `before`; returns
    /// how many.
    fn delete_expired_packets(&mut self, env_id: &str, before: Millis, limit: usize)
        -> Result<u64>;
}
