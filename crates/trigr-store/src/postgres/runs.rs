//! Run statements with lists: the values travel as arrays.

use postgres::types::ToSql;
use trigr_types::RunStatus;

use super::filtered::Filtered;
use super::{Param, PgTx};
use crate::model::{Page, Run, RunFilter};
use crate::rows::{self, RUN_COLUMNS};
use crate::sql::runs::RunsNative;
use crate::tx::RunTx;
use crate::Result;

/// [`RunTx::update_runs`] in one statement: one row of arrays per column, zipped by `unnest`.
const UPDATE_RUNS: &str = "UPDATE runs AS r SET status = u.status, version = u.version, \
     metadata = u.metadata, idempotency_key = u.idempotency_key, \
     idempotency_expires_at = u.idempotency_expires_at, queue_ts = u.queue_ts, \
     available_at = u.available_at, delay_until = u.delay_until, ttl_expires_at = u.ttl_expires_at, \
     attempt = u.attempt, lease = u.lease, lease_expires_at = u.lease_expires_at, \
     timeout_at = u.timeout_at, output = u.output, output_type = u.output_type, error = u.error, \
     updated_at = u.updated_at, started_at = u.started_at, finished_at = u.finished_at, \
     max_duration = u.max_duration, metadata_type = u.metadata_type, resumed = u.resumed, \
     attempt_started_at = u.attempt_started_at, heartbeat_at = u.heartbeat_at \
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
     $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], \
     $13::text[], $14::bigint[], $15::bigint[], $16::text[], $17::text[], $18::text[], \
     $19::bigint[], $20::bigint[], $21::bigint[], $22::bigint[], $23::text[], $24::text[], \
     $25::boolean[], $26::bigint[], $27::bigint[]) \
     AS u(id, expect_status, status, version, metadata, idempotency_key, idempotency_expires_at, \
     queue_ts, available_at, delay_until, ttl_expires_at, attempt, lease, lease_expires_at, \
     timeout_at, output, output_type, error, updated_at, started_at, finished_at, max_duration, \
     metadata_type, expect_lease, resumed, attempt_started_at, heartbeat_at) \
     WHERE r.id = u.id AND r.status = u.expect_status AND r.lease IS NOT DISTINCT FROM u.expect_lease \
     RETURNING r.id";

impl RunsNative for PgTx<'_> {
    fn filter_runs(&mut self, env_id: &str, f: &RunFilter, page: Page) -> Result<Vec<Run>> {
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
        q.any_of(" AND region = ANY(#)", f.regions.clone());
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
        if let Some(schedule_id) = &f.schedule_id {
            q.cond(" AND schedule_id = #", Box::new(schedule_id.clone()));
        }
        if let Some(key) = &f.idempotency_key {
            q.cond(
                " AND (idempotency_key = # OR idempotency_key_user = #)",
                Box::new(key.clone()),
            );
        }
        let q = q.page((f.created_from, f.created_to), &page);
        self.rows(q.sql(), &q.params())?
            .iter()
            .map(rows::run)
            .collect()
    }

    fn update_runs_at_once(
        &mut self,
        updates: &[(&Run, RunStatus, Option<&str>)],
    ) -> Result<Vec<bool>> {
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
        let columns: [Box<dyn ToSql + Sync>; 27] = [
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
            Box::new(ints(&|r| r.attempt_started_at)),
            Box::new(ints(&|r| r.heartbeat_at)),
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

    fn runs_with_ids(&mut self, env_id: &str, ids: &[String]) -> Result<Vec<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE env_id = $1 AND id = ANY($2) ORDER BY seq{}",
            self.lock()
        );
        self.rows(&sql, &[&env_id, &ids])?
            .iter()
            .map(rows::run)
            .collect()
    }
}
