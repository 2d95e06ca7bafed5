//! Run statements SQLite writes its own way: lists, a parameter per value, and updates that
//! set only the columns that changed.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use rusqlite::params_from_iter;
use rusqlite::types::Value as SqlValue;
use rusqlite::ToSql;
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

    fn update_runs_over_at_once(&mut self, pairs: &[(&Run, &Run)]) -> Result<Vec<bool>> {
        pairs
            .iter()
            .map(|(before, after)| self.update_run_over(before, after))
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

/// Lists the columns a run's update may change besides `status` (each the [`Run`] field of
/// the same name), in the order of their bits in [`Changes::mask`] after the status's bit 0:
/// [`CHANGEABLE`] and [`Changes::between`] from the one list. `updated_at` is always written
/// (no index holds it), so that an update always sets something.
macro_rules! changeable {
    ($($field:ident),* $(,)?) => {
        /// The columns of [`Changes::mask`]'s bits.
        const CHANGEABLE: &[&str] = &["status", $(stringify!($field)),*];

        impl<'a> Changes<'a> {
            /// The columns of `after` that differ from `before` (`status` being
            /// `after.status` as text).
            fn between(before: &Run, after: &'a Run, status: &'a &'static str) -> Changes<'a> {
                let mut c = Changes {
                    mask: 0,
                    values: Vec::with_capacity(12),
                };
                c.put(0, before.status != after.status, status);
                let mut bit = 0;
                $(
                    bit += 1;
                    c.put(bit, before.$field != after.$field, &after.$field);
                )*
                c
            }
        }
    };
}

changeable!(
    version,
    metadata,
    idempotency_key,
    idempotency_expires_at,
    queue_ts,
    available_at,
    delay_until,
    ttl_expires_at,
    attempt,
    lease,
    lease_expires_at,
    timeout_at,
    output,
    output_type,
    error,
    started_at,
    finished_at,
    max_duration,
    metadata_type,
    resumed,
    attempt_started_at,
    heartbeat_at,
);

/// The bit of [`Changes::mask`] saying the run is found by `id` (its `seq` is not known).
const BY_ID: u32 = 1 << 31;
const _: () = assert!(
    CHANGEABLE.len() < 31,
    "every column needs a bit below BY_ID"
);

/// The columns of `after` that differ from `before`, and their values in column order.
struct Changes<'a> {
    mask: u32,
    values: Vec<&'a dyn ToSql>,
}

impl<'a> Changes<'a> {
    fn put(&mut self, bit: u32, changed: bool, value: &'a dyn ToSql) {
        if changed {
            self.mask |= 1 << bit;
            self.values.push(value);
        }
    }
}

/// `UPDATE runs SET <the columns of mask>, updated_at = ? WHERE <seq or id> = ? AND status =
/// ? AND lease IS ?`, made once per mask on the writer's thread.
fn update_text(mask: u32) -> Rc<str> {
    thread_local! {
        static TEXTS: RefCell<HashMap<u32, Rc<str>>> = RefCell::new(HashMap::new());
    }
    TEXTS.with(|texts| {
        texts
            .borrow_mut()
            .entry(mask)
            .or_insert_with(|| {
                let mut sql = String::from("UPDATE runs SET ");
                for (bit, column) in CHANGEABLE.iter().enumerate() {
                    if mask & (1 << bit) != 0 {
                        sql.push_str(column);
                        sql.push_str(" = ?, ");
                    }
                }
                let key = if mask & BY_ID != 0 { "id" } else { "seq" };
                sql.push_str(&format!(
                    "updated_at = ? WHERE {key} = ? AND status = ? AND lease IS ?"
                ));
                Rc::from(sql)
            })
            .clone()
    })
}

impl SqliteTx<'_> {
    /// [`RunTx::update_runs_over`] of one run: only the columns that changed are set, so
    /// SQLite maintains only the indexes that hold them (a run has some twenty).
    fn update_run_over(&mut self, before: &Run, after: &Run) -> Result<bool> {
        let status = after.status.as_str();
        let mut changes = Changes::between(before, after, &status);
        let expect_status = before.status.as_str();
        let (key, by_id): (&dyn ToSql, bool) = match before.seq > 0 {
            true => (&before.seq, false),
            false => (&before.id, true),
        };
        changes
            .values
            .extend([&after.updated_at as &dyn ToSql, key]);
        changes
            .values
            .extend([&expect_status as &dyn ToSql, &before.lease]);
        let mask = changes.mask | if by_id { BY_ID } else { 0 };
        let mut st = self.conn.prepare_cached(&update_text(mask))?;
        Ok(st.execute(changes.values.as_slice())? == 1)
    }
}
