//! Waitpoints and the child runs they wait for.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter};
use trigr_types::Millis;

use super::{to_json, SqliteTx};
use crate::model::{Page, Run, Waitpoint, WaitpointFilter, WaitpointStatus};
use crate::rows::{self, RUN_COLUMNS, WAITPOINT_COLUMNS, WAITPOINT_INSERT_COLUMNS};
use crate::tx::WaitpointTx;
use crate::Result;

impl SqliteTx<'_> {
    fn query_waitpoints(
        &mut self,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<Waitpoint>> {
        self.all(sql, args, |r| rows::waitpoint(r))
    }

    fn query_waitpoint(
        &mut self,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Option<Waitpoint>> {
        self.first(sql, args, |r| rows::waitpoint(r))
    }
}

/// `?, ?, …` for `n` values.
fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

impl WaitpointTx for SqliteTx<'_> {
    fn insert_waitpoint(&mut self, w: &Waitpoint) -> Result<()> {
        let mut st = self.conn.prepare_cached(&format!(
            "INSERT INTO waitpoints ({WAITPOINT_INSERT_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
        ))?;
        st.execute(params![
            w.id,
            w.env_id,
            w.kind.as_str(),
            w.status.as_str(),
            w.owner_run_id,
            w.due_at,
            w.idempotency_key,
            w.idempotency_expires_at,
            to_json(&w.tags),
            w.output,
            w.batch_id,
            w.created_at,
            w.updated_at,
            w.completed_at,
            w.input.as_ref().map(|i| &i.stream_id),
            w.input.as_ref().map(|i| i.after)
        ])?;
        Ok(())
    }

    fn waitpoint(&mut self, env_id: &str, id: &str) -> Result<Option<Waitpoint>> {
        self.query_waitpoint(
            &format!("SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE id = ?1 AND env_id = ?2"),
            params![id, env_id],
        )
    }

    fn waitpoint_any_env(&mut self, id: &str) -> Result<Option<Waitpoint>> {
        self.query_waitpoint(
            &format!("SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE id = ?1"),
            [id],
        )
    }

    fn waitpoint_by_idempotency_key(
        &mut self,
        env_id: &str,
        key: &str,
    ) -> Result<Option<Waitpoint>> {
        self.query_waitpoint(
            &format!(
                "SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE env_id = ?1 AND idempotency_key = ?2"
            ),
            params![env_id, key],
        )
    }

    fn clear_waitpoint_idempotency_key(&mut self, id: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE waitpoints SET idempotency_key = NULL WHERE id = ?1",
            [id],
        )?;
        Ok(())
    }

    fn update_waitpoint(&mut self, w: &Waitpoint, expect: WaitpointStatus) -> Result<bool> {
        let mut st = self.conn.prepare_cached(
            "UPDATE waitpoints SET status = ?3, due_at = ?4, output = ?5, updated_at = ?6, \
             completed_at = ?7 WHERE id = ?1 AND status = ?2",
        )?;
        let n = st.execute(params![
            w.id,
            expect.as_str(),
            w.status.as_str(),
            w.due_at,
            w.output,
            w.updated_at,
            w.completed_at
        ])?;
        Ok(n == 1)
    }

    fn list_waitpoints(
        &mut self,
        env_id: &str,
        f: &WaitpointFilter,
        page: Page,
    ) -> Result<Vec<Waitpoint>> {
        let mut sql = format!("SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE env_id = ?");
        let mut args: Vec<SqlValue> = vec![env_id.to_string().into()];
        if let Some(kind) = f.kind {
            sql.push_str(" AND kind = ?");
            args.push(kind.as_str().to_string().into());
        }
        if !f.statuses.is_empty() {
            sql.push_str(&format!(" AND status IN ({})", marks(f.statuses.len())));
            args.extend(f.statuses.iter().map(|s| s.as_str().to_string().into()));
        }
        if let Some(key) = &f.idempotency_key {
            sql.push_str(" AND idempotency_key = ?");
            args.push(key.clone().into());
        }
        if !f.tags.is_empty() {
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM json_each(waitpoints.tags) AS t WHERE t.value IN ({}))",
                marks(f.tags.len())
            ));
            args.extend(f.tags.iter().cloned().map(SqlValue::from));
        }
        let bounds = [
            (" AND created_at >= ?", f.created_from),
            (" AND created_at <= ?", f.created_to),
            (" AND seq < ?", page.after_seq),
            (" AND seq > ?", page.before_seq),
        ];
        for (cond, value) in bounds {
            if let Some(v) = value {
                sql.push_str(cond);
                args.push(v.into());
            }
        }
        let order = if page.before_seq.is_some() {
            "ASC"
        } else {
            "DESC"
        };
        sql.push_str(&format!(" ORDER BY seq {order} LIMIT {}", page.size));
        let mut out = self.query_waitpoints(&sql, params_from_iter(args))?;
        if page.before_seq.is_some() {
            out.reverse();
        }
        Ok(out)
    }

    fn due_waitpoints(&mut self, now: Millis, limit: usize) -> Result<Vec<Waitpoint>> {
        self.query_waitpoints(
            &format!(
                "SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE status = 'WAITING' \
                 AND due_at IS NOT NULL AND due_at <= ?1 ORDER BY due_at LIMIT ?2"
            ),
            params![now, limit as i64],
        )
    }

    fn disarm_waitpoints_of(&mut self, run_id: &str) -> Result<u64> {
        let n = self.conn.execute(
            "UPDATE waitpoints SET due_at = NULL WHERE owner_run_id = ?1 AND kind = 'DATETIME' \
             AND status = 'WAITING' AND due_at IS NOT NULL",
            [run_id],
        )?;
        Ok(n as u64)
    }

    fn insert_waitpoint_runs(&mut self, waitpoint_id: &str, run_ids: &[String]) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO waitpoint_runs (waitpoint_id, idx, run_id) VALUES (?1, ?2, ?3)",
        )?;
        for (i, run_id) in run_ids.iter().enumerate() {
            st.execute(params![waitpoint_id, i as i64, run_id])?;
        }
        Ok(())
    }

    fn runs_of_waitpoint(&mut self, waitpoint_id: &str) -> Result<Vec<Run>> {
        self.all(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs JOIN (SELECT run_id, idx FROM waitpoint_runs \
                 WHERE waitpoint_id = ?1) AS items ON items.run_id = runs.id ORDER BY items.idx"
            ),
            [waitpoint_id],
            |r| rows::run(r),
        )
    }

    fn waitpoints_awaiting(&mut self, run_ids: &[String]) -> Result<Vec<Waitpoint>> {
        if run_ids.is_empty() {
            return Ok(Vec::new());
        }
        // One cached statement whatever the count: the ids travel as a JSON array.
        self.query_waitpoints(
            &format!(
                "SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE status = 'WAITING' AND id IN \
                 (SELECT waitpoint_id FROM waitpoint_runs WHERE run_id IN \
                 (SELECT value FROM json_each(?1))) ORDER BY seq"
            ),
            [to_json(&run_ids)],
        )
    }
}
