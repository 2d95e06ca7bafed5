//! Waitpoint statements with lists: a parameter per value, or the values as a JSON array.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter};

use super::{to_json, SqliteTx};
use crate::model::{Page, Waitpoint, WaitpointFilter};
use crate::rows::{self, WAITPOINT_COLUMNS};
use crate::sql::waitpoints::WaitpointsNative;
use crate::Result;

/// `?, ?, …` for `n` values.
pub(super) fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

impl WaitpointsNative for SqliteTx<'_> {
    fn filter_waitpoints(
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
        self.all(&sql, params_from_iter(args), |r| rows::waitpoint(r))
    }

    fn link_waitpoint_runs(&mut self, waitpoint_id: &str, runs: &[(i64, String)]) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO waitpoint_runs (waitpoint_id, idx, run_id) VALUES (?1, ?2, ?3)",
        )?;
        for (i, run_id) in runs {
            st.execute(params![waitpoint_id, i, run_id])?;
        }
        Ok(())
    }

    fn waitpoints_awaiting_any(&mut self, run_ids: &[String]) -> Result<Vec<Waitpoint>> {
        // One cached statement whatever the count: the ids travel as a JSON array.
        self.all(
            &format!(
                "SELECT {WAITPOINT_COLUMNS} FROM waitpoints WHERE status = 'WAITING' AND id IN \
                 (SELECT waitpoint_id FROM waitpoint_runs WHERE run_id IN \
                 (SELECT value FROM json_each(?1))) ORDER BY seq"
            ),
            [to_json(&run_ids)],
            |r| rows::waitpoint(r),
        )
    }
}
