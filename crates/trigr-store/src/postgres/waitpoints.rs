//! Waitpoints and the child runs they wait for.

use postgres::types::ToSql;
use trigr_types::Millis;

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
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
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
        let mut sql = format!("SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE env_id = $1");
        let mut args: Vec<Box<dyn ToSql + Sync>> = vec![Box::new(env_id.to_string())];
        let mut cond = |sql: &mut String, template: &str, value: Box<dyn ToSql + Sync>| {
            args.push(value);
            sql.push_str(&template.replace('#', &format!("${}", args.len())));
        };
        if let Some(kind) = f.kind {
            cond(
                &mut sql,
                " AND kind = #",
                Box::new(kind.as_str().to_string()),
            );
        }
        if !f.statuses.is_empty() {
            let statuses: Vec<String> = f.statuses.iter().map(|s| s.as_str().to_string()).collect();
            cond(&mut sql, " AND status = ANY(#)", Box::new(statuses));
        }
        if let Some(key) = &f.idempotency_key {
            cond(&mut sql, " AND idempotency_key = #", Box::new(key.clone()));
        }
        if !f.tags.is_empty() {
            cond(
                &mut sql,
                " AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(tags::jsonb) AS t(tag) \
                 WHERE t.tag = ANY(#))",
                Box::new(f.tags.clone()),
            );
        }
        let bounds = [
            (" AND created_at >= #", f.created_from),
            (" AND created_at <= #", f.created_to),
            (" AND seq < #", page.after_seq),
            (" AND seq > #", page.before_seq),
        ];
        for (template, value) in bounds {
            if let Some(v) = value {
                cond(&mut sql, template, Box::new(v));
            }
        }
        let order = if page.before_seq.is_some() {
            "ASC"
        } else {
            "DESC"
        };
        sql.push_str(&format!(" ORDER BY seq {order} LIMIT {}", page.size));
        let params: Vec<Param> = args.iter().map(|a| a.as_ref() as Param).collect();
        let mut out = self.query_waitpoints(&sql, &params)?;
        if page.before_seq.is_some() {
            out.reverse();
        }
        Ok(out)
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
