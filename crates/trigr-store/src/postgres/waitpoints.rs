//! Waitpoint statements with lists: the values travel as arrays.

use super::filtered::Filtered;
use super::PgTx;
use crate::model::{Page, Waitpoint, WaitpointFilter};
use crate::rows::{self, WAITPOINT_COLUMNS};
use crate::sql::waitpoints::WaitpointsNative;
use crate::Result;

impl WaitpointsNative for PgTx<'_> {
    fn filter_waitpoints(
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
        self.rows(q.sql(), &q.params())?
            .iter()
            .map(rows::waitpoint)
            .collect()
    }

    fn link_waitpoint_runs(&mut self, waitpoint_id: &str, runs: &[(i64, String)]) -> Result<()> {
        let (idx, run_ids): (Vec<i64>, Vec<String>) = runs.iter().cloned().unzip();
        self.exec(
            "INSERT INTO waitpoint_runs (waitpoint_id, idx, run_id) \
             SELECT $1, i, r FROM unnest($2::bigint[], $3::text[]) AS u(i, r)",
            &[&waitpoint_id, &idx, &run_ids],
        )?;
        Ok(())
    }

    fn waitpoints_awaiting_any(&mut self, run_ids: &[String]) -> Result<Vec<Waitpoint>> {
        let sql = format!(
            "SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE status = 'WAITING' AND id IN \
             (SELECT waitpoint_id FROM waitpoint_runs WHERE run_id = ANY($1)) ORDER BY seq{}",
            self.lock()
        );
        self.rows(&sql, &[&run_ids])?
            .iter()
            .map(rows::waitpoint)
            .collect()
    }
}
