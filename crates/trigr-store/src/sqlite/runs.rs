//! Run statements with lists: a parameter per value.

use rusqlite::params_from_iter;
use rusqlite::types::Value as SqlValue;
use trigr_types::RunStatus;

use super::waitpoints::marks;
use super::SqliteTx;
use crate::model::{Page, Run, RunFilter};
use crate::rows::{self, RUN_COLUMNS};
use crate::sql::batches::BatchesNative;
use crate::sql::mollifier::BufferNative;
use crate::sql::runs::RunsNative;
use crate::tx::{BatchTx, RunRead, RunTx};
use crate::Result;

impl RunsNative for SqliteTx<'_> {
    fn filter_runs(&mut self, env_id: &str, f: &RunFilter, page: Page) -> Result<Vec<Run>> {
        let mut sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE env_id = ?");
        let mut args: Vec<SqlValue> = vec![env_id.to_string().into()];
        let mut any_of = |sql: &mut String, column: &str, values: Vec<String>| {
            if values.is_empty() {
                return;
            }
            sql.push_str(&format!(" AND {column} IN ({})", marks(values.len())));
            args.extend(values.into_iter().map(SqlValue::from));
        };
        any_of(
            &mut sql,
            "status",
            f.statuses.iter().map(|s| s.as_str().to_string()).collect(),
        );
        any_of(&mut sql, "task_id", f.tasks.clone());
        any_of(&mut sql, "version", f.versions.clone());
        any_of(&mut sql, "queue_id", f.queue_ids.clone());
        any_of(&mut sql, "machine", f.machines.clone());
        any_of(&mut sql, "region", f.regions.clone());
        any_of(&mut sql, "batch_id", f.batch_id.iter().cloned().collect());
        any_of(
            &mut sql,
            "schedule_id",
            f.schedule_id.iter().cloned().collect(),
        );
        if let Some(key) = &f.idempotency_key {
            sql.push_str(" AND (idempotency_key = ? OR idempotency_key_user = ?)");
            args.extend([key.clone().into(), key.clone().into()]);
        }
        if !f.tags.is_empty() {
            sql.push_str(&format!(
                " AND seq IN (SELECT run_seq FROM run_tags WHERE tag IN ({}))",
                marks(f.tags.len())
            ));
            args.extend(f.tags.iter().cloned().map(SqlValue::from));
        }
        let mut bound = |sql: &mut String, cond: &str, v: Option<i64>| {
            if let Some(v) = v {
                sql.push_str(cond);
                args.push(v.into());
            }
        };
        bound(&mut sql, " AND is_test = ?", f.is_test.map(i64::from));
        bound(&mut sql, " AND created_at >= ?", f.created_from);
        bound(&mut sql, " AND created_at <= ?", f.created_to);
        bound(&mut sql, " AND seq < ?", page.after_seq);
        bound(&mut sql, " AND seq > ?", page.before_seq);
        let order = if page.before_seq.is_some() {
            "ASC"
        } else {
            "DESC"
        };
        sql.push_str(&format!(" ORDER BY seq {order} LIMIT {}", page.size));
        self.all(&sql, params_from_iter(args), |r| rows::run(r))
    }

    fn update_runs_at_once(
        &mut self,
        updates: &[(&Run, RunStatus, Option<&str>)],
    ) -> Result<Vec<bool>> {
        // One writer, statements in process: one at a time costs no round trip.
        updates
            .iter()
            .map(|(run, status, lease)| self.update_run(run, *status, *lease))
            .collect()
    }

    fn runs_with_ids(&mut self, env_id: &str, ids: &[String]) -> Result<Vec<Run>> {
        let mut runs = Vec::with_capacity(ids.len());
        for id in ids {
            runs.extend(self.run(env_id, id)?);
        }
        Ok(runs)
    }

    /// One statement per run: SQLite has no round trips to save.
    fn insert_runs_at_once(&mut self, runs: &[&Run]) -> Result<Vec<i64>> {
        runs.iter().map(|r| self.insert_run(r)).collect()
    }
}

impl BatchesNative for SqliteTx<'_> {
    fn insert_batch_items_at_once(&mut self, batch_id: &str, items: &[(i64, &str)]) -> Result<()> {
        for (index, run_id) in items {
            self.insert_batch_item(batch_id, *index, run_id)?;
        }
        Ok(())
    }
}

impl BufferNative for SqliteTx<'_> {}
