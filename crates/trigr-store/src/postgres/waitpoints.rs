//! Waitpoints and the child runs they wait for.

use trigr_types::Millis;

use super::filtered::{in_page_order, Filtered};
use super::{to_json, Param, PgTx};
use crate::model::{Page, Run, Waitpoint, WaitpointFilter, WaitpointStatus};
use crate::rows::{self, RUN_COLUMNS, WAITPOINT_COLUMNS, WAITPOINT_INSERT_COLUMNS};
use crate::tx::WaitpointTx;
use crate::Result;

impl PgTx<'_> {
    fn query_waitpoints(&mut self, sql: &str, params: &[Param]) -> Result<Vec<Waitpoint>> {
        self.rows(sql, params)?
            .iter()
            .map(rows::waitpoint)
            .collect()
    }

    fn query_waitpoint(&mut self, sql: &str, params: &[Param]) -> Result<Option<Waitpoint>> {
        self.opt_row(sql, params)?
            .as_ref()
            .map(rows::waitpoint)
            .transpose()
    }
}

impl WaitpointTx for PgTx<'_> {
    fn insert_waitpoint(&mut self, w: &Waitpoint) -> Result<()> {
        self.exec(
            &format!(
                "INSERT INTO waitpoints ({WAITPOINT_INSERT_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
            ),
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
                &w.input.as_ref().map(|i| i.stream_id.clone()),
                &w.input.as_ref().map(|i| i.after),
            ],
        )?;
        Ok(())
    }

    fn waitpoint(&mut self, env_id: &str, id: &str) -> Result<Option<Waitpoint>> {
        let sql = format!(
            "SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE id = $1 AND env_id = $2{}",
            self.lock()
        );
        self.query_waitpoint(&sql, &[&id, &env_id])
    }

    fn waitpoint_any_env(&mut self, id: &str) -> Result<Option<Waitpoint>> {
        let sql = format!(
            "SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE id = $1{}",
            self.lock()
        );
        self.query_waitpoint(&sql, &[&id])
    }

    fn waitpoint_by_idempotency_key(
        &mut self,
        env_id: &str,
        key: &str,
    ) -> Result<Option<Waitpoint>> {
        let sql = format!(
            "SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE env_id = $1 AND idempotency_key = $2{}",
            self.lock()
        );
        self.query_waitpoint(&sql, &[&env_id, &key])
    }

    fn clear_waitpoint_idempotency_key(&mut self, id: &str) -> Result<()> {
        self.exec(
            "UPDATE waitpoints SET idempotency_key = NULL WHERE id = $1",
            &[&id],
        )?;
        Ok(())
    }

    fn update_waitpoint(&mut self, w: &Waitpoint, expect: WaitpointStatus) -> Result<bool> {
        let n = self.exec(
            "UPDATE waitpoints SET status = $3, due_at = $4, output = $5, updated_at = $6, \
             completed_at = $7 WHERE id = $1 AND status = $2",
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

    fn list_waitpoints(
        &mut self,
        env_id: &str,
        f: &WaitpointFilter,
        page: Page,
    ) -> Result<Vec<Waitpoint>> {
        let mut q = Filtered::new(
            format!("SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE env_id = $1"),
            env_id,
        );
        if let Some(kind) = f.kind {
            q.cond(" AND kind = #", Box::new(kind.as_str().to_string()));
        }
        let statuses = f.statuses.iter().map(|s| s.as_str().to_string()).collect();
        q.any_of(" AND status = ANY(#)", statuses);
        if let Some(key) = &f.idempotency_key {
            q.cond(" AND idempotency_key = #", Box::new(key.clone()));
        }
        q.any_of(
            " AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(tags::jsonb) AS t(tag) \
             WHERE t.tag = ANY(#))",
            f.tags.clone(),
        );
        let q = q.page((f.created_from, f.created_to), &page);
        let out = self.query_waitpoints(q.sql(), &q.params())?;
        Ok(in_page_order(out, &page))
    }

    fn due_waitpoints(&mut self, now: Millis, limit: usize) -> Result<Vec<Waitpoint>> {
        let sql = format!(
            "SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE status = 'WAITING' \
             AND due_at IS NOT NULL AND due_at <= $1 ORDER BY due_at LIMIT $2{}",
            self.lock_or_skip()
        );
        self.query_waitpoints(&sql, &[&now, &(limit as i64)])
    }

    fn disarm_waitpoints_of(&mut self, run_id: &str) -> Result<u64> {
        self.exec(
            "UPDATE waitpoints SET due_at = NULL WHERE owner_run_id = $1 AND kind = 'DATETIME' \
             AND status = 'WAITING' AND due_at IS NOT NULL",
            &[&run_id],
        )
    }

    fn insert_waitpoint_runs(&mut self, waitpoint_id: &str, run_ids: &[String]) -> Result<()> {
        if run_ids.is_empty() {
            return Ok(());
        }
        let idx: Vec<i64> = (0..run_ids.len() as i64).collect();
        self.exec(
            "INSERT INTO waitpoint_runs (waitpoint_id, idx, run_id) \
             SELECT $1, i, r FROM unnest($2::bigint[], $3::text[]) AS u(i, r)",
            &[&waitpoint_id, &idx, &run_ids],
        )?;
        Ok(())
    }

    fn runs_of_waitpoint(&mut self, waitpoint_id: &str) -> Result<Vec<Run>> {
        self.rows(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs JOIN (SELECT run_id, idx FROM waitpoint_runs \
                 WHERE waitpoint_id = $1) AS items ON items.run_id = runs.id ORDER BY items.idx"
            ),
            &[&waitpoint_id],
        )?
        .iter()
        .map(rows::run)
        .collect()
    }

    fn waitpoints_awaiting(&mut self, run_ids: &[String]) -> Result<Vec<Waitpoint>> {
        if run_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE status = 'WAITING' AND id IN \
             (SELECT waitpoint_id FROM waitpoint_runs WHERE run_id = ANY($1)) ORDER BY seq{}",
            self.lock()
        );
        self.query_waitpoints(&sql, &[&run_ids])
    }
}
