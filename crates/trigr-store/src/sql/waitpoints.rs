//! Waitpoints and the child runs they wait for.

use trigr_types::Millis;

use super::{sql, Db, Sql};
use crate::model::{Page, Run, Waitpoint, WaitpointFilter, WaitpointStatus};
use crate::rows::{self, to_json, RUN_COLUMNS, WAITPOINT_COLUMNS, WAITPOINT_INSERT_COLUMNS};
use crate::tx::{WaitpointRead, WaitpointTx};
use crate::Result;

/// The waitpoint statements each backend writes its own way: lists of values travel as
/// arrays in PostgreSQL, as JSON or one parameter each in SQLite.
pub(crate) trait WaitpointsNative {
    /// [`WaitpointTx::list_waitpoints`].
    fn filter_waitpoints(
        &mut self,
        env_id: &str,
        filter: &WaitpointFilter,
        page: Page,
    ) -> Result<Vec<Waitpoint>>;
    /// [`WaitpointTx::insert_waitpoint_runs`].
    fn link_waitpoint_runs(&mut self, waitpoint_id: &str, runs: &[(i64, String)]) -> Result<()>;
    /// [`WaitpointTx::waitpoints_awaiting`], for a list that is not empty.
    fn waitpoints_awaiting_any(&mut self, run_ids: &[String]) -> Result<Vec<Waitpoint>>;
}

static INSERT: Sql = sql!(
    "INSERT INTO waitpoints ({WAITPOINT_INSERT_COLUMNS}) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
);
static BY_ID: Sql =
    sql!(Update: "SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE id = $1 AND env_id = $2");
static BY_BATCH: Sql = sql!(Update:
    "SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE env_id = $1 AND batch_id = $2 \
     AND kind = 'BATCH' ORDER BY seq"
);
static BY_ID_ANY_ENV: Sql =
    sql!(Update: "SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE id = $1");
static BY_IDEMPOTENCY_KEY: Sql = sql!(Update:
    "SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE env_id = $1 AND idempotency_key = $2"
);
static CLEAR_IDEMPOTENCY_KEY: Sql =
    sql!("UPDATE waitpoints SET idempotency_key = NULL WHERE id = $1");
static UPDATE: Sql = sql!(
    "UPDATE waitpoints SET status = $3, due_at = $4, output = $5, updated_at = $6, \
     completed_at = $7 WHERE id = $1 AND status = $2"
);
static DUE: Sql = sql!(SkipLocked:
    "SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE status = 'WAITING' \
     AND due_at IS NOT NULL AND due_at <= $1 ORDER BY due_at LIMIT $2"
);
static DISARM: Sql = sql!(
    "UPDATE waitpoints SET due_at = NULL WHERE owner_run_id = $1 AND kind = 'DATETIME' \
     AND status = 'WAITING' AND due_at IS NOT NULL"
);
static RUNS: Sql = sql!(
    "SELECT {RUN_COLUMNS} FROM runs JOIN (SELECT run_id, idx FROM waitpoint_runs \
     WHERE waitpoint_id = $1) AS items ON items.run_id = runs.id ORDER BY items.idx"
);

impl<C: Db + WaitpointsNative> WaitpointRead for C {
    fn waitpoint(&mut self, env_id: &str, id: &str) -> Result<Option<Waitpoint>> {
        self.query_first(&BY_ID, &[&id, &env_id], |r| rows::waitpoint(r))
    }

    fn batch_waitpoints(&mut self, env_id: &str, batch_id: &str) -> Result<Vec<Waitpoint>> {
        self.query(&BY_BATCH, &[&env_id, &batch_id], |r| rows::waitpoint(r))
    }

    fn waitpoint_any_env(&mut self, id: &str) -> Result<Option<Waitpoint>> {
        self.query_first(&BY_ID_ANY_ENV, &[&id], |r| rows::waitpoint(r))
    }

    fn waitpoint_by_idempotency_key(
        &mut self,
        env_id: &str,
        key: &str,
    ) -> Result<Option<Waitpoint>> {
        self.query_first(&BY_IDEMPOTENCY_KEY, &[&env_id, &key], |r| {
            rows::waitpoint(r)
        })
    }

    fn list_waitpoints(
        &mut self,
        env_id: &str,
        filter: &WaitpointFilter,
        page: Page,
    ) -> Result<Vec<Waitpoint>> {
        let mut out = self.filter_waitpoints(env_id, filter, page)?;
        // Read oldest first before a cursor; a page is always newest first.
        if page.before_seq.is_some() {
            out.reverse();
        }
        Ok(out)
    }

    fn due_waitpoints(&mut self, now: Millis, limit: usize) -> Result<Vec<Waitpoint>> {
        self.query(&DUE, &[&now, &(limit as i64)], |r| rows::waitpoint(r))
    }

    fn runs_of_waitpoint(&mut self, waitpoint_id: &str) -> Result<Vec<Run>> {
        self.query(&RUNS, &[&waitpoint_id], |r| rows::run(r))
    }

    fn waitpoints_awaiting(&mut self, run_ids: &[String]) -> Result<Vec<Waitpoint>> {
        if run_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.waitpoints_awaiting_any(run_ids)
    }
}

impl<C: Db + WaitpointsNative> WaitpointTx for C {
    fn insert_waitpoint(&mut self, w: &Waitpoint) -> Result<()> {
        self.execute(
            &INSERT,
            &[
                &w.id,
                &w.env_id,
                &w.kind.as_str(),
                &w.status.as_str(),
                &w.owner_run_id,
                &w.due_at,
                &w.idempotency_key,
                &w.idempotency_expires_at,
                &to_json(&w.tags),
                &w.output,
                &w.batch_id,
                &w.created_at,
                &w.updated_at,
                &w.completed_at,
                &w.input.as_ref().map(|i| i.stream_id.as_str()),
                &w.input.as_ref().map(|i| i.after),
            ],
        )?;
        Ok(())
    }

    fn clear_waitpoint_idempotency_key(&mut self, id: &str) -> Result<()> {
        self.execute(&CLEAR_IDEMPOTENCY_KEY, &[&id])?;
        Ok(())
    }

    fn update_waitpoint(&mut self, w: &Waitpoint, expect: WaitpointStatus) -> Result<bool> {
        let n = self.execute(
            &UPDATE,
            &[
                &w.id,
                &expect.as_str(),
                &w.status.as_str(),
                &w.due_at,
                &w.output,
                &w.updated_at,
                &w.completed_at,
            ],
        )?;
        Ok(n == 1)
    }

    fn disarm_waitpoints_of(&mut self, run_id: &str) -> Result<u64> {
        self.execute(&DISARM, &[&run_id])
    }

    fn insert_waitpoint_runs(&mut self, waitpoint_id: &str, run_ids: &[String]) -> Result<()> {
        let runs: Vec<(i64, String)> = (0..).zip(run_ids.iter().cloned()).collect();
        self.insert_waitpoint_runs_at(waitpoint_id, &runs)
    }

    fn insert_waitpoint_runs_at(
        &mut self,
        waitpoint_id: &str,
        runs: &[(i64, String)],
    ) -> Result<()> {
        if runs.is_empty() {
            return Ok(());
        }
        self.link_waitpoint_runs(waitpoint_id, runs)
    }
}
