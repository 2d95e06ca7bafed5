//! Retention (see [`crate::retention`]): the scans and the deletions both backends share.
//! Deleting a list of ids at once is spelled by each backend ([`RetentionNative`]): a JSON
//! array in SQLite, an array parameter in PostgreSQL.

use trigr_types::Millis;

use super::{sql, texts, Db, Sql};
use crate::retention::{ExpiredRun, RetentionRead, RetentionTx, SweepCursor};
use crate::rows::{json_col, Columns};
use crate::Result;

/// The statements each backend writes its own way: lists of values travel as arrays in
/// PostgreSQL, as JSON or one parameter each in SQLite.
pub(crate) trait RetentionNative {
    /// Runs `statement`, in which [`IN_LIST`] stands for "is one of `ids`" (its only
    /// parameter); returns how many rows it changed.
    fn execute_for_list(&mut self, statement: &'static str, ids: &[String]) -> Result<u64>;
    /// Deletes the tag index entries `(tag, run_seq)`.
    fn delete_tag_entries(&mut self, entries: &[(String, i64)]) -> Result<u64>;
}

/// Where a [`RetentionNative::execute_for_list`] statement names its list.
pub(crate) const IN_LIST: &str = "IN_LIST";

/// What goes with a run, in this order, for a list of run ids. Its waitpoints are named by
/// its own journal only (tokens, which other runs may wait on, belong to no run); the child
/// links of other runs' waits that name it go too.
const RUN_ROWS: &[&str] = &[
    "DELETE FROM journal WHERE run_id IN_LIST",
    "DELETE FROM run_snapshots WHERE run_id IN_LIST",
    "DELETE FROM run_logs WHERE run_id IN_LIST",
    "DELETE FROM run_spans WHERE run_id IN_LIST",
    "DELETE FROM run_attempts WHERE run_id IN_LIST",
    "DELETE FROM input_messages WHERE run_id IN_LIST",
    "DELETE FROM input_cursors WHERE run_id IN_LIST",
    "DELETE FROM output_chunks WHERE run_id IN_LIST",
    "DELETE FROM output_streams WHERE run_id IN_LIST",
    "DELETE FROM waitpoint_runs WHERE waitpoint_id IN \
     (SELECT id FROM waitpoints WHERE owner_run_id IN_LIST)",
    "DELETE FROM waitpoints WHERE owner_run_id IN_LIST",
    "DELETE FROM waitpoint_runs WHERE run_id IN_LIST",
    "DELETE FROM debounce_keys WHERE run_id IN_LIST",
];
const DELETE_RUNS: &str = "DELETE FROM runs WHERE id IN_LIST";
const DELETE_BATCH_ITEMS: &str = "DELETE FROM batch_items WHERE batch_id IN_LIST";
const DELETE_BATCHES: &str = "DELETE FROM batches WHERE id IN_LIST";
const DELETE_WAITPOINTS: &str = "DELETE FROM waitpoints WHERE id IN_LIST";

static DAYS: Sql = sql!("SELECT retention_days FROM environments WHERE id = $1");
static SETTINGS: Sql = sql!("SELECT id, retention_days FROM environments ORDER BY id");
static SET_DAYS: Sql = sql!("UPDATE environments SET retention_days = $2 WHERE id = $1");
/// Finished runs oldest first through `runs_finished`, each with whether something still
/// needs it (every test an index lookup: `runs_live_parent`, `runs_live_root`,
/// `waitpoint_runs_run`, `waitpoints_owner`, `runs_batch_finished`). A run's own wait that
/// still waits for a run that has not finished keeps it too: that run's end locks the wait and
/// then looks for its owner, so deleting both now could deadlock with it.
static EXPIRED: Sql = sql!(SkipLocked:
    "SELECT r.seq, r.id, r.finished_at, r.tags, \
     (EXISTS (SELECT 1 FROM runs c WHERE c.parent_run_id = r.id AND c.finished_at IS NULL) \
      OR EXISTS (SELECT 1 FROM runs c WHERE c.root_run_id = r.id AND c.finished_at IS NULL) \
      OR EXISTS (SELECT 1 FROM waitpoint_runs wr JOIN waitpoints w ON w.id = wr.waitpoint_id \
                 WHERE wr.run_id = r.id AND w.status = 'WAITING') \
      OR EXISTS (SELECT 1 FROM waitpoints o JOIN waitpoint_runs ow ON ow.waitpoint_id = o.id \
                 JOIN runs x ON x.id = ow.run_id \
                 WHERE o.owner_run_id = r.id AND o.status = 'WAITING' AND x.finished_at IS NULL) \
      OR (r.batch_id IS NOT NULL AND ( \
          EXISTS (SELECT 1 FROM runs b WHERE b.batch_id = r.batch_id AND b.finished_at IS NULL) \
          OR EXISTS (SELECT 1 FROM runs b WHERE b.batch_id = r.batch_id AND b.finished_at >= $2)))) \
     AS needed \
     FROM runs r WHERE r.env_id = $1 AND r.finished_at IS NOT NULL AND r.finished_at < $2 \
     AND (r.finished_at, r.seq) > ($3, $4) ORDER BY r.finished_at, r.seq LIMIT $5"
);
static EXPIRED_BATCHES: Sql = sql!(SkipLocked:
    "SELECT b.id FROM batches b WHERE b.env_id = $1 AND b.updated_at < $2 \
     AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.batch_id = b.id) \
     ORDER BY b.updated_at LIMIT $3"
);
static EXPIRED_TOKENS: Sql = sql!(SkipLocked:
    "SELECT w.id FROM waitpoints w WHERE w.env_id = $1 AND w.owner_run_id IS NULL \
     AND w.completed_at IS NOT NULL AND w.completed_at < $2 \
     AND NOT EXISTS (SELECT 1 FROM journal j WHERE j.waitpoint_id = w.id) \
     ORDER BY w.completed_at LIMIT $3"
);
static EXPIRED_PACKETS: Sql = sql!(SkipLocked:
    "SELECT path FROM packets WHERE env_id = $1 AND created_at < $2 ORDER BY created_at LIMIT $3"
);
static DELETE_PACKET: Sql = sql!("DELETE FROM packets WHERE env_id = $1 AND path = $2");

fn expired_run(r: &impl Columns) -> Result<ExpiredRun> {
    Ok(ExpiredRun {
        seq: r.int(0)?,
        id: r.text(1)?,
        finished_at: r.int(2)?,
        tags: json_col(&r.text(3)?)?,
        needed: r.flag(4)?,
    })
}

impl<C: Db + RetentionNative> RetentionRead for C {
    fn retention_days(&mut self, env_id: &str) -> Result<Option<i64>> {
        Ok(self
            .query_first(&DAYS, &[&env_id], |r| r.opt_int(0))?
            .flatten())
    }

    fn retention_settings(&mut self) -> Result<Vec<(String, Option<i64>)>> {
        self.query(&SETTINGS, &[], |r| Ok((r.text(0)?, r.opt_int(1)?)))
    }

    fn expired_runs(
        &mut self,
        env_id: &str,
        before: Millis,
        cursor: SweepCursor,
        limit: usize,
    ) -> Result<Vec<ExpiredRun>> {
        self.query(
            &EXPIRED,
            &[
                &env_id,
                &before,
                &cursor.finished_at,
                &cursor.seq,
                &(limit as i64),
            ],
            |r| expired_run(r),
        )
    }
}

impl<C: Db + RetentionNative> RetentionTx for C {
    fn set_retention_days(&mut self, env_id: &str, days: Option<i64>) -> Result<bool> {
        Ok(self.execute(&SET_DAYS, &[&env_id, &days])? == 1)
    }

    fn delete_runs(&mut self, runs: &[ExpiredRun]) -> Result<u64> {
        if runs.is_empty() {
            return Ok(0);
        }
        let entries: Vec<(String, i64)> = runs
            .iter()
            .flat_map(|r| r.tags.iter().map(|t| (t.clone(), r.seq)))
            .collect();
        if !entries.is_empty() {
            self.delete_tag_entries(&entries)?;
        }
        let ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
        for statement in RUN_ROWS {
            self.execute_for_list(statement, &ids)?;
        }
        self.execute_for_list(DELETE_RUNS, &ids)
    }

    fn delete_expired_batches(
        &mut self,
        env_id: &str,
        before: Millis,
        limit: usize,
    ) -> Result<u64> {
        let ids = texts(self, &EXPIRED_BATCHES, &[&env_id, &before, &(limit as i64)])?;
        if ids.is_empty() {
            return Ok(0);
        }
        self.execute_for_list(DELETE_BATCH_ITEMS, &ids)?;
        self.execute_for_list(DELETE_BATCHES, &ids)
    }

    fn delete_expired_tokens(&mut self, env_id: &str, before: Millis, limit: usize) -> Result<u64> {
        let ids = texts(self, &EXPIRED_TOKENS, &[&env_id, &before, &(limit as i64)])?;
        if ids.is_empty() {
            return Ok(0);
        }
        self.execute_for_list(DELETE_WAITPOINTS, &ids)
    }

    fn delete_expired_packets(
        &mut self,
        env_id: &str,
        before: Millis,
        limit: usize,
    ) -> Result<u64> {
        let paths = texts(self, &EXPIRED_PACKETS, &[&env_id, &before, &(limit as i64)])?;
        let mut deleted = 0;
        for path in &paths {
            deleted += self.execute(&DELETE_PACKET, &[&env_id, path])?;
        }
        Ok(deleted)
    }
}
