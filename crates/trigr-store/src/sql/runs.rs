//! Runs, their tag index, and the timer queries.

use trigr_types::{Millis, RunStatus};

use super::{int, opt_int, sql, Db, Sql};
use crate::model::{Page, Run, RunFilter};
use crate::rows::{self, run_values, Columns, RUN_COLUMNS, RUN_INSERT_COLUMNS, TTL_STATUSES};
use crate::tx::{RunRead, RunTx};
use crate::Result;

/// The run statements each backend writes its own way: lists of values travel as arrays in
/// PostgreSQL, one parameter each in SQLite.
pub(crate) trait RunsNative {
    /// [`RunTx::list_runs`], in `seq` order from the cursor (oldest first before one).
    fn filter_runs(&mut self, env_id: &str, filter: &RunFilter, page: Page) -> Result<Vec<Run>>;
    /// [`RunTx::update_runs`].
    fn update_runs_at_once(
        &mut self,
        updates: &[(&Run, RunStatus, Option<&str>)],
    ) -> Result<Vec<bool>>;
    /// [`RunTx::update_runs_over`].
    fn update_runs_over_at_once(&mut self, pairs: &[(&Run, &Run)]) -> Result<Vec<bool>>;
    /// [`RunTx::runs_by_ids`].
    fn runs_with_ids(&mut self, env_id: &str, ids: &[String]) -> Result<Vec<Run>>;
    /// [`RunTx::insert_runs`] of two runs or more.
    fn insert_runs_at_once(&mut self, runs: &[&Run]) -> Result<Vec<i64>>;
}

static INSERT: Sql = sql!(returning seq:
    "INSERT INTO runs ({RUN_INSERT_COLUMNS}) VALUES ({})",
    (1..=rows::RUN_INSERT_COUNT)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
);
static INSERT_TAG: Sql =
    sql!("INSERT INTO run_tags (tag, run_seq) VALUES ($1, $2) ON CONFLICT DO NOTHING");
static BY_ID: Sql = sql!(Update: "SELECT {RUN_COLUMNS} FROM runs WHERE id = $1 AND env_id = $2");
static UPDATE: Sql = sql!(
    "UPDATE runs SET status = $3, version = $4, metadata = $5, idempotency_key = $6, \
     idempotency_expires_at = $7, queue_ts = $8, available_at = $9, delay_until = $10, \
     ttl_expires_at = $11, attempt = $12, lease = $13, lease_expires_at = $14, timeout_at = $15, \
     output = $16, output_type = $17, error = $18, updated_at = $19, started_at = $20, \
     finished_at = $21, max_duration = $22, metadata_type = $23, resumed = $25, \
     attempt_started_at = $26, heartbeat_at = $27 \
     WHERE id = $1 AND status = $2 AND lease IS NOT DISTINCT FROM $24"
);
static SET_TAGS: Sql = sql!("UPDATE runs SET tags = $2 WHERE seq = $1");
static UPDATE_DELAYED: Sql = sql!(
    "UPDATE runs SET delay_until = $2, available_at = $3, queue_ts = $4, ttl_expires_at = $5, \
     updated_at = $6, payload = $7, payload_type = $8, metadata = $9, metadata_type = $10, \
     tags = $11, max_attempts = $12, max_duration = $13, machine = $14 \
     WHERE seq = $1 AND status = 'DELAYED'"
);
static UNINDEX_TAGS: Sql = sql!("DELETE FROM run_tags WHERE run_seq = $1");
static BY_IDEMPOTENCY_KEY: Sql = sql!(Update:
    "SELECT {RUN_COLUMNS} FROM runs WHERE env_id = $1 AND task_id = $2 AND idempotency_key = $3"
);
static BY_REQUEST_KEY: Sql =
    sql!(Update: "SELECT {RUN_COLUMNS} FROM runs WHERE env_id = $1 AND request_key = $2");
static CLEAR_IDEMPOTENCY_KEY: Sql = sql!("UPDATE runs SET idempotency_key = NULL WHERE seq = $1");
static CHILDREN: Sql =
    sql!(Update: "SELECT {RUN_COLUMNS} FROM runs WHERE parent_run_id = $1 ORDER BY seq");
static OF_BATCH: Sql = sql!(UpdateOfRuns:
    "SELECT {RUN_COLUMNS} FROM runs JOIN (SELECT run_id, idx FROM batch_items \
     WHERE batch_id = $1) AS items ON items.run_id = runs.id ORDER BY items.idx"
);
static READY: Sql = sql!(SkipLocked:
    "SELECT {RUN_COLUMNS} FROM runs WHERE queue_id = $1 AND version = $2 AND region = $3 \
     AND status = 'QUEUED' AND available_at <= $4 ORDER BY queue_ts, seq LIMIT $5"
);
static UNLOCKED: Sql = sql!(Update:
    "SELECT {RUN_COLUMNS} FROM runs WHERE env_id = $1 AND version IS NULL \
     AND status IN ('PENDING_VERSION', 'DELAYED') ORDER BY seq"
);
static UNSTARTED_NOT_ON: Sql = sql!(Update:
    "SELECT {RUN_COLUMNS} FROM runs WHERE env_id = $1 AND status IN ('QUEUED', 'DELAYED') \
     AND attempt = 0 AND version IS NOT NULL AND version <> $2 ORDER BY seq"
);
// Delayed and waiting runs through the partial index `runs_parked` (its terms written as they
// are), queued ones through `runs_ready` of each queue of the environment.
static PARKED: Sql = sql!(Update:
    "SELECT {RUN_COLUMNS} FROM runs WHERE seq IN (\
       SELECT seq FROM runs WHERE env_id = $1 AND version = $2 \
         AND status IN ('DELAYED', 'WAITING') AND ($3 = '' OR task_id = $3) AND seq > $4 \
       UNION ALL \
       SELECT seq FROM runs WHERE queue_id IN (SELECT id FROM queues WHERE env_id = $1) \
         AND version = $2 AND status = 'QUEUED' AND ($3 = '' OR task_id = $3) AND seq > $4 \
       ORDER BY seq LIMIT $5) \
     ORDER BY seq"
);
static PARKED_VERSIONS: Sql = sql!(
    "SELECT version FROM runs WHERE env_id = $1 AND version IS NOT NULL \
       AND status IN ('DELAYED', 'WAITING') \
     UNION \
     SELECT version FROM runs WHERE queue_id IN (SELECT id FROM queues WHERE env_id = $1) \
       AND version IS NOT NULL AND status = 'QUEUED' \
     ORDER BY version"
);
static LEASED_ON: Sql = sql!(
    "SELECT COUNT(*) FROM runs WHERE env_id = $1 AND status IN ('DEQUEUED', 'EXECUTING') \
     AND version = $2"
);
static DUE_DELAYED: Sql = sql!(SkipLocked:
    "SELECT {RUN_COLUMNS} FROM runs WHERE status = 'DELAYED' AND available_at <= $1 \
     ORDER BY available_at LIMIT $2"
);
static DUE_TTL: Sql = sql!(SkipLocked:
    "SELECT {RUN_COLUMNS} FROM runs WHERE ttl_expires_at IS NOT NULL AND ttl_expires_at <= $1 \
     AND status IN {TTL_STATUSES} ORDER BY ttl_expires_at LIMIT $2"
);
static DUE_LEASES: Sql = sql!(SkipLocked:
    "SELECT {RUN_COLUMNS} FROM runs WHERE lease_expires_at IS NOT NULL AND lease_expires_at <= $1 \
     ORDER BY lease_expires_at LIMIT $2"
);
static DUE_TIMEOUTS: Sql = sql!(SkipLocked:
    "SELECT {RUN_COLUMNS} FROM runs WHERE timeout_at IS NOT NULL AND timeout_at <= $1 \
     ORDER BY timeout_at LIMIT $2"
);
static NEXT_TIMER: Sql = sql!(
    "SELECT MIN(t) FROM (
        SELECT MIN(available_at) AS t FROM runs WHERE status = 'DELAYED'
        UNION ALL SELECT MIN(ttl_expires_at) FROM runs WHERE ttl_expires_at IS NOT NULL AND status IN {TTL_STATUSES}
        UNION ALL SELECT MIN(lease_expires_at) FROM runs WHERE lease_expires_at IS NOT NULL
        UNION ALL SELECT MIN(timeout_at) FROM runs WHERE timeout_at IS NOT NULL
        UNION ALL SELECT MIN(due_at) FROM waitpoints WHERE status = 'WAITING' AND due_at IS NOT NULL) AS timers"
);

/// Indexes the run's tags (those already indexed are kept).
fn index_tags<C: Db>(db: &mut C, tags: &[String], seq: i64) -> Result<()> {
    for tag in tags {
        db.execute(&INSERT_TAG, &[tag, &seq])?;
    }
    Ok(())
}

impl<C: Db + RunsNative> RunRead for C {
    fn run(&mut self, env_id: &str, id: &str) -> Result<Option<Run>> {
        self.query_first(&BY_ID, &[&id, &env_id], |r| rows::run(r))
    }

    fn runs_by_ids(&mut self, env_id: &str, ids: &[String]) -> Result<Vec<Run>> {
        self.runs_with_ids(env_id, ids)
    }

    fn run_by_idempotency_key(
        &mut self,
        env_id: &str,
        task_id: &str,
        key: &str,
    ) -> Result<Option<Run>> {
        self.query_first(&BY_IDEMPOTENCY_KEY, &[&env_id, &task_id, &key], |r| {
            rows::run(r)
        })
    }

    fn run_by_request_key(&mut self, env_id: &str, key: &str) -> Result<Option<Run>> {
        self.query_first(&BY_REQUEST_KEY, &[&env_id, &key], |r| rows::run(r))
    }

    fn list_runs(&mut self, env_id: &str, filter: &RunFilter, page: Page) -> Result<Vec<Run>> {
        let mut runs = self.filter_runs(env_id, filter, page)?;
        // Read oldest first before a cursor; a page is always newest first.
        if page.before_seq.is_some() {
            runs.reverse();
        }
        Ok(runs)
    }

    fn children(&mut self, run_id: &str) -> Result<Vec<Run>> {
        self.query(&CHILDREN, &[&run_id], |r| rows::run(r))
    }

    fn runs_of_batch(&mut self, batch_id: &str) -> Result<Vec<Run>> {
        self.query(&OF_BATCH, &[&batch_id], |r| rows::run(r))
    }

    fn ready_runs(
        &mut self,
        queue_id: &str,
        version: &str,
        region: &str,
        now: Millis,
        limit: usize,
    ) -> Result<Vec<Run>> {
        self.query(
            &READY,
            &[&queue_id, &version, &region, &now, &(limit as i64)],
            |r| rows::run(r),
        )
    }

    fn unlocked_runs(&mut self, env_id: &str) -> Result<Vec<Run>> {
        self.query(&UNLOCKED, &[&env_id], |r| rows::run(r))
    }

    fn unstarted_runs_not_on(&mut self, env_id: &str, version: &str) -> Result<Vec<Run>> {
        self.query(&UNSTARTED_NOT_ON, &[&env_id, &version], |r| rows::run(r))
    }

    fn parked_runs(
        &mut self,
        env_id: &str,
        version: &str,
        task: Option<&str>,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<Run>> {
        let task = task.unwrap_or_default();
        self.query(
            &PARKED,
            &[&env_id, &version, &task, &after_seq, &(limit as i64)],
            |r| rows::run(r),
        )
    }

    fn parked_versions(&mut self, env_id: &str) -> Result<Vec<String>> {
        self.query(&PARKED_VERSIONS, &[&env_id], |r| r.text(0))
    }

    fn leased_on_version(&mut self, env_id: &str, version: &str) -> Result<i64> {
        int(self, &LEASED_ON, &[&env_id, &version])
    }

    fn due_delayed(&mut self, now: Millis, limit: usize) -> Result<Vec<Run>> {
        self.query(&DUE_DELAYED, &[&now, &(limit as i64)], |r| rows::run(r))
    }

    fn due_ttl(&mut self, now: Millis, limit: usize) -> Result<Vec<Run>> {
        self.query(&DUE_TTL, &[&now, &(limit as i64)], |r| rows::run(r))
    }

    fn due_leases(&mut self, now: Millis, limit: usize) -> Result<Vec<Run>> {
        self.query(&DUE_LEASES, &[&now, &(limit as i64)], |r| rows::run(r))
    }

    fn due_timeouts(&mut self, now: Millis, limit: usize) -> Result<Vec<Run>> {
        self.query(&DUE_TIMEOUTS, &[&now, &(limit as i64)], |r| rows::run(r))
    }

    fn next_timer(&mut self) -> Result<Option<Millis>> {
        opt_int(self, &NEXT_TIMER, &[])
    }
}

impl<C: Db + RunsNative> RunTx for C {
    fn insert_run(&mut self, r: &Run) -> Result<i64> {
        let status = r.status.as_str();
        let payload = r.payload.as_deref().map(C::any_text);
        let payload = payload.as_deref();
        let tags = rows::to_json(&r.tags);
        let seq = self.insert_seq(&INSERT, &run_values(r, &status, &payload, &tags))?;
        index_tags(self, &r.tags, seq)?;
        Ok(seq)
    }

    fn insert_runs(&mut self, runs: &[&Run]) -> Result<Vec<i64>> {
        match runs {
            [] => Ok(Vec::new()),
            [one] => Ok(vec![self.insert_run(one)?]),
            _ => self.insert_runs_at_once(runs),
        }
    }

    fn update_run(
        &mut self,
        r: &Run,
        expect_status: RunStatus,
        expect_lease: Option<&str>,
    ) -> Result<bool> {
        let n = self.execute(
            &UPDATE,
            &[
                &r.id,
                &expect_status.as_str(),
                &r.status.as_str(),
                &r.version,
                &r.metadata,
                &r.idempotency_key,
                &r.idempotency_expires_at,
                &r.queue_ts,
                &r.available_at,
                &r.delay_until,
                &r.ttl_expires_at,
                &r.attempt,
                &r.lease,
                &r.lease_expires_at,
                &r.timeout_at,
                &r.output,
                &r.output_type,
                &r.error,
                &r.updated_at,
                &r.started_at,
                &r.finished_at,
                &r.max_duration,
                &r.metadata_type,
                &expect_lease,
                &r.resumed,
                &r.attempt_started_at,
                &r.heartbeat_at,
            ],
        )?;
        Ok(n == 1)
    }

    fn update_runs(&mut self, updates: &[(&Run, RunStatus, Option<&str>)]) -> Result<Vec<bool>> {
        self.update_runs_at_once(updates)
    }

    fn update_runs_over(&mut self, pairs: &[(&Run, &Run)]) -> Result<Vec<bool>> {
        self.update_runs_over_at_once(pairs)
    }

    fn set_tags(&mut self, r: &Run) -> Result<()> {
        self.execute(&SET_TAGS, &[&r.seq, &rows::to_json(&r.tags)])?;
        index_tags(self, &r.tags, r.seq)
    }

    fn clear_idempotency_key(&mut self, run_seq: i64) -> Result<()> {
        self.execute(&CLEAR_IDEMPOTENCY_KEY, &[&run_seq])?;
        Ok(())
    }

    fn update_delayed_run(&mut self, r: &Run) -> Result<bool> {
        let payload = r.payload.as_deref().map(C::any_text);
        let payload = payload.as_deref();
        let n = self.execute(
            &UPDATE_DELAYED,
            &[
                &r.seq,
                &r.delay_until,
                &r.available_at,
                &r.queue_ts,
                &r.ttl_expires_at,
                &r.updated_at,
                &payload,
                &r.payload_type,
                &r.metadata,
                &r.metadata_type,
                &rows::to_json(&r.tags),
                &r.max_attempts,
                &r.max_duration,
                &r.machine,
            ],
        )?;
        if n == 0 {
            return Ok(false);
        }
        self.execute(&UNINDEX_TAGS, &[&r.seq])?;
        index_tags(self, &r.tags, r.seq)?;
        Ok(true)
    }
}
