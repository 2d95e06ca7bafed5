//! Runs, their tag index, and the timer queries.

use postgres::types::ToSql;
use trigr_types::{Millis, RunStatus};

use super::filtered::{in_page_order, Filtered};
use super::{any_text, to_json, Param, PgTx};
use crate::model::{Page, Run, RunFilter};
use crate::rows::{self, RUN_COLUMNS, RUN_INSERT_COLUMNS, RUN_INSERT_COUNT, TTL_STATUSES};
use crate::tx::RunTx;
use crate::Result;

const INSERT_TAG: &str =
    "INSERT INTO run_tags (tag, run_seq) VALUES ($1, $2) ON CONFLICT DO NOTHING";

/// [`RunTx::update_runs`] in one statement: one row of arrays per column, zipped by `unnest`.
const UPDATE_RUNS: &str = "UPDATE runs AS r SET status = u.status, version = u.version, \
     metadata = u.metadata, idempotency_key = u.idempotency_key, \
     idempotency_expires_at = u.idempotency_expires_at, queue_ts = u.queue_ts, \
     available_at = u.available_at, delay_until = u.delay_until, ttl_expires_at = u.ttl_expires_at, \
     attempt = u.attempt, lease = u.lease, lease_expires_at = u.lease_expires_at, \
     timeout_at = u.timeout_at, output = u.output, output_type = u.output_type, error = u.error, \
     updated_at = u.updated_at, started_at = u.started_at, finished_at = u.finished_at, \
     max_duration = u.max_duration, metadata_type = u.metadata_type, resumed = u.resumed \
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
     $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], \
     $13::text[], $14::bigint[], $15::bigint[], $16::text[], $17::text[], $18::text[], \
     $19::bigint[], $20::bigint[], $21::bigint[], $22::bigint[], $23::text[], $24::text[], \
     $25::boolean[]) \
     AS u(id, expect_status, status, version, metadata, idempotency_key, idempotency_expires_at, \
     queue_ts, available_at, delay_until, ttl_expires_at, attempt, lease, lease_expires_at, \
     timeout_at, output, output_type, error, updated_at, started_at, finished_at, max_duration, \
     metadata_type, expect_lease, resumed) \
     WHERE r.id = u.id AND r.status = u.expect_status AND r.lease IS NOT DISTINCT FROM u.expect_lease \
     RETURNING r.id";

/// `$1, $2, …, $n`.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl PgTx<'_> {
    fn query_runs(&mut self, sql: &str, params: &[Param]) -> Result<Vec<Run>> {
        self.rows(sql, params)?.iter().map(rows::run).collect()
    }

    fn query_run(&mut self, sql: &str, params: &[Param]) -> Result<Option<Run>> {
        self.opt_row(sql, params)?
            .as_ref()
            .map(rows::run)
            .transpose()
    }

    fn index_tags(&mut self, tags: &[String], seq: i64) -> Result<()> {
        for tag in tags {
            self.exec(INSERT_TAG, &[tag, &seq])?;
        }
        Ok(())
    }
}

impl RunTx for PgTx<'_> {
    fn insert_run(&mut self, r: &Run) -> Result<i64> {
        let sql = format!(
            "INSERT INTO runs ({RUN_INSERT_COLUMNS}) VALUES ({}) RETURNING seq",
            placeholders(RUN_INSERT_COUNT)
        );
        let payload = r.payload.as_deref().map(any_text::encode);
        let seq: i64 = self.scalar(
            &sql,
            &[
                &r.id,
                &r.env_id,
                &r.task_id,
                &r.queue_id,
                &r.queue_name,
                &r.ckey,
                &r.status.as_str(),
                &r.version,
                &payload.as_deref(),
                &r.payload_type,
                &r.metadata,
                &r.metadata_type,
                &to_json(&r.tags),
                &r.idempotency_key,
                &r.idempotency_key_user,
                &r.idempotency_scope,
                &r.idempotency_expires_at,
                &r.request_key,
                &r.priority,
                &r.queue_ts,
                &r.available_at,
                &r.delay_until,
                &r.ttl,
                &r.ttl_expires_at,
                &r.max_attempts,
                &r.max_duration,
                &r.machine,
                &r.attempt,
                &r.lease,
                &r.lease_expires_at,
                &r.timeout_at,
                &r.output,
                &r.output_type,
                &r.error,
                &r.parent_run_id,
                &r.root_run_id,
                &r.depth,
                &r.batch_id,
                &r.batch_index,
                &r.trigger_function,
                &r.is_test,
                &r.created_at,
                &r.updated_at,
                &r.started_at,
                &r.finished_at,
                &r.resumed,
            ],
        )?;
        self.index_tags(&r.tags, seq)?;
        Ok(seq)
    }

    fn run(&mut self, env_id: &str, id: &str) -> Result<Option<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE id = $1 AND env_id = $2{}",
            self.lock()
        );
        self.query_run(&sql, &[&id, &env_id])
    }

    fn update_run(
        &mut self,
        r: &Run,
        expect_status: RunStatus,
        expect_lease: Option<&str>,
    ) -> Result<bool> {
        let n = self.exec(
            "UPDATE runs SET status = $3, version = $4, metadata = $5, idempotency_key = $6, \
             idempotency_expires_at = $7, queue_ts = $8, available_at = $9, delay_until = $10, \
             ttl_expires_at = $11, attempt = $12, lease = $13, lease_expires_at = $14, timeout_at = $15, \
             output = $16, output_type = $17, error = $18, updated_at = $19, started_at = $20, \
             finished_at = $21, max_duration = $22, metadata_type = $23, resumed = $25 \
             WHERE id = $1 AND status = $2 AND lease IS NOT DISTINCT FROM $24",
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
            ],
        )?;
        Ok(n == 1)
    }

    fn update_runs(&mut self, updates: &[(&Run, RunStatus, Option<&str>)]) -> Result<Vec<bool>> {
        if updates.len() < 2 {
            return updates
                .iter()
                .map(|(run, status, lease)| self.update_run(run, *status, *lease))
                .collect();
        }
        let texts = |f: &dyn Fn(&Run) -> Option<String>| -> Vec<Option<String>> {
            updates.iter().map(|(r, _, _)| f(r)).collect()
        };
        let ints = |f: &dyn Fn(&Run) -> Option<i64>| -> Vec<Option<i64>> {
            updates.iter().map(|(r, _, _)| f(r)).collect()
        };
        let ids = texts(&|r| Some(r.id.clone()));
        let expect_status: Vec<&str> = updates.iter().map(|(_, s, _)| s.as_str()).collect();
        let expect_lease: Vec<Option<&str>> = updates.iter().map(|(_, _, l)| *l).collect();
        let columns: [Box<dyn ToSql + Sync>; 25] = [
            Box::new(ids),
            Box::new(expect_status),
            Box::new(texts(&|r| Some(r.status.as_str().to_string()))),
            Box::new(texts(&|r| r.version.clone())),
            Box::new(texts(&|r| r.metadata.clone())),
            Box::new(texts(&|r| r.idempotency_key.clone())),
            Box::new(ints(&|r| r.idempotency_expires_at)),
            Box::new(ints(&|r| Some(r.queue_ts))),
            Box::new(ints(&|r| Some(r.available_at))),
            Box::new(ints(&|r| r.delay_until)),
            Box::new(ints(&|r| r.ttl_expires_at)),
            Box::new(ints(&|r| Some(r.attempt))),
            Box::new(texts(&|r| r.lease.clone())),
            Box::new(ints(&|r| r.lease_expires_at)),
            Box::new(ints(&|r| r.timeout_at)),
            Box::new(texts(&|r| r.output.clone())),
            Box::new(texts(&|r| r.output_type.clone())),
            Box::new(texts(&|r| r.error.clone())),
            Box::new(ints(&|r| Some(r.updated_at))),
            Box::new(ints(&|r| r.started_at)),
            Box::new(ints(&|r| r.finished_at)),
            Box::new(ints(&|r| r.max_duration)),
            Box::new(texts(&|r| Some(r.metadata_type.clone()))),
            Box::new(
                expect_lease
                    .iter()
                    .map(|l| l.map(str::to_string))
                    .collect::<Vec<_>>(),
            ),
            Box::new(
                updates
                    .iter()
                    .map(|(r, _, _)| r.resumed)
                    .collect::<Vec<bool>>(),
            ),
        ];
        let params: Vec<Param> = columns.iter().map(|c| c.as_ref() as Param).collect();
        let written: std::collections::HashSet<String> = self
            .rows(UPDATE_RUNS, &params)?
            .iter()
            .map(|row| row.try_get::<_, String>(0))
            .collect::<std::result::Result<_, _>>()?;
        Ok(updates
            .iter()
            .map(|(r, _, _)| written.contains(&r.id))
            .collect())
    }

    fn runs_by_ids(&mut self, env_id: &str, ids: &[String]) -> Result<Vec<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE env_id = $1 AND id = ANY($2) ORDER BY seq{}",
            self.lock()
        );
        self.query_runs(&sql, &[&env_id, &ids])
    }

    fn set_tags(&mut self, r: &Run) -> Result<()> {
        self.exec(
            "UPDATE runs SET tags = $2 WHERE seq = $1",
            &[&r.seq, &to_json(&r.tags)],
        )?;
        self.index_tags(&r.tags, r.seq)
    }

    fn run_by_idempotency_key(
        &mut self,
        env_id: &str,
        task_id: &str,
        key: &str,
    ) -> Result<Option<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE env_id = $1 AND task_id = $2 AND idempotency_key = $3{}",
            self.lock()
        );
        self.query_run(&sql, &[&env_id, &task_id, &key])
    }

    fn run_by_request_key(&mut self, env_id: &str, key: &str) -> Result<Option<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE env_id = $1 AND request_key = $2{}",
            self.lock()
        );
        self.query_run(&sql, &[&env_id, &key])
    }

    fn clear_idempotency_key(&mut self, run_seq: i64) -> Result<()> {
        self.exec(
            "UPDATE runs SET idempotency_key = NULL WHERE seq = $1",
            &[&run_seq],
        )?;
        Ok(())
    }

    fn list_runs(&mut self, env_id: &str, f: &RunFilter, page: Page) -> Result<Vec<Run>> {
        let mut q = Filtered::new(
            format!("SELECT {RUN_COLUMNS} FROM runs WHERE env_id = $1"),
            env_id,
        );
        let statuses = f.statuses.iter().map(|s| s.as_str().to_string()).collect();
        q.any_of(" AND status = ANY(#)", statuses);
        q.any_of(" AND task_id = ANY(#)", f.tasks.clone());
        q.any_of(" AND version = ANY(#)", f.versions.clone());
        q.any_of(" AND queue_id = ANY(#)", f.queue_ids.clone());
        q.any_of(" AND machine = ANY(#)", f.machines.clone());
        q.any_of(
            " AND batch_id = ANY(#)",
            f.batch_id.iter().cloned().collect(),
        );
        q.any_of(
            " AND seq IN (SELECT run_seq FROM run_tags WHERE tag = ANY(#))",
            f.tags.clone(),
        );
        if let Some(is_test) = f.is_test {
            q.cond(" AND is_test = #", Box::new(is_test));
        }
        let q = q.page((f.created_from, f.created_to), &page);
        let runs = self.query_runs(q.sql(), &q.params())?;
        Ok(in_page_order(runs, &page))
    }

    fn children(&mut self, run_id: &str) -> Result<Vec<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE parent_run_id = $1 ORDER BY seq{}",
            self.lock()
        );
        self.query_runs(&sql, &[&run_id])
    }

    fn runs_of_batch(&mut self, batch_id: &str) -> Result<Vec<Run>> {
        self.query_runs(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs JOIN (SELECT run_id, idx FROM batch_items WHERE batch_id = $1) AS items \
                 ON items.run_id = runs.id ORDER BY items.idx{}",
                if self.writing { " FOR UPDATE OF runs" } else { "" }
            ),
            &[&batch_id],
        )
    }

    fn ready_runs(
        &mut self,
        queue_id: &str,
        version: &str,
        now: Millis,
        limit: usize,
    ) -> Result<Vec<Run>> {
        self.query_runs(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE queue_id = $1 AND version = $2 AND status = 'QUEUED' \
                 AND available_at <= $3 ORDER BY queue_ts, seq LIMIT $4{}",
                self.lock_or_skip()
            ),
            &[&queue_id, &version, &now, &(limit as i64)],
        )
    }

    fn unlocked_runs(&mut self, env_id: &str) -> Result<Vec<Run>> {
        self.query_runs(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE env_id = $1 AND version IS NULL \
                 AND status IN ('PENDING_VERSION', 'DELAYED') ORDER BY seq{}",
                self.lock()
            ),
            &[&env_id],
        )
    }

    fn unstarted_runs_not_on(&mut self, env_id: &str, version: &str) -> Result<Vec<Run>> {
        self.query_runs(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE env_id = $1 AND status IN ('QUEUED', 'DELAYED') \
                 AND attempt = 0 AND version IS NOT NULL AND version <> $2 ORDER BY seq{}",
                self.lock()
            ),
            &[&env_id, &version],
        )
    }

    fn due_delayed(&mut self, now: Millis, limit: usize) -> Result<Vec<Run>> {
        self.query_runs(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE status = 'DELAYED' AND available_at <= $1 \
                 ORDER BY available_at LIMIT $2{}",
                self.lock_or_skip()
            ),
            &[&now, &(limit as i64)],
        )
    }

    fn due_ttl(&mut self, now: Millis, limit: usize) -> Result<Vec<Run>> {
        self.query_runs(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE ttl_expires_at IS NOT NULL AND ttl_expires_at <= $1 \
                 AND status IN {TTL_STATUSES} ORDER BY ttl_expires_at LIMIT $2{}",
                self.lock_or_skip()
            ),
            &[&now, &(limit as i64)],
        )
    }

    fn due_leases(&mut self, now: Millis, limit: usize) -> Result<Vec<Run>> {
        self.query_runs(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE lease_expires_at IS NOT NULL AND lease_expires_at <= $1 \
                 ORDER BY lease_expires_at LIMIT $2{}",
                self.lock_or_skip()
            ),
            &[&now, &(limit as i64)],
        )
    }

    fn due_timeouts(&mut self, now: Millis, limit: usize) -> Result<Vec<Run>> {
        self.query_runs(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE timeout_at IS NOT NULL AND timeout_at <= $1 \
                 ORDER BY timeout_at LIMIT $2{}",
                self.lock_or_skip()
            ),
            &[&now, &(limit as i64)],
        )
    }

    fn next_timer(&mut self) -> Result<Option<Millis>> {
        let sql = format!(
            "SELECT MIN(t) FROM (
                SELECT MIN(available_at) AS t FROM runs WHERE status = 'DELAYED'
                UNION ALL SELECT MIN(ttl_expires_at) FROM runs WHERE ttl_expires_at IS NOT NULL AND status IN {TTL_STATUSES}
                UNION ALL SELECT MIN(lease_expires_at) FROM runs WHERE lease_expires_at IS NOT NULL
                UNION ALL SELECT MIN(timeout_at) FROM runs WHERE timeout_at IS NOT NULL
                UNION ALL SELECT MIN(due_at) FROM waitpoints WHERE status = 'WAITING' AND due_at IS NOT NULL) AS timers"
        );
        self.scalar(&sql, &[])
    }
}
