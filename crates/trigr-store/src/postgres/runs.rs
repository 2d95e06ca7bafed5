//! Run statements with lists: the values travel as arrays.

use std::collections::HashMap;
use std::sync::OnceLock;

use postgres::types::ToSql;
use trigr_types::RunStatus;

use super::filtered::Filtered;
use super::{Param, PgTx};
use crate::model::{Page, Run, RunFilter};
use crate::mollifier::BufferedEntry;
use crate::rows::{self, run_values, RUN_COLUMNS, RUN_INSERT_COLUMNS, RUN_INSERT_COUNT};
use crate::sql::batches::BatchesNative;
use crate::sql::mollifier::BufferNative;
use crate::sql::runs::RunsNative;
use crate::sql::Db;
use crate::tx::RunTx;
use crate::{Error, Result};

/// Rows of one multi-row insert of runs, largest first: a list is written in the fewest
/// statements of these sizes, so that each connection prepares at most these few.
const INSERT_ROWS: [usize; 4] = [64, 16, 4, 1];

/// `INSERT INTO runs … VALUES (…), (…) RETURNING id, seq` of each size of [`INSERT_ROWS`].
fn insert_runs_sql(rows: usize) -> &'static str {
    static TEXTS: OnceLock<[String; INSERT_ROWS.len()]> = OnceLock::new();
    let texts = TEXTS.get_or_init(|| {
        INSERT_ROWS.map(|n| {
            let values: Vec<String> = (0..n)
                .map(|row| {
                    let first = row * RUN_INSERT_COUNT;
                    let marks: Vec<String> = (1..=RUN_INSERT_COUNT)
                        .map(|c| format!("${}", first + c))
                        .collect();
                    format!("({})", marks.join(", "))
                })
                .collect();
            format!(
                "INSERT INTO runs ({RUN_INSERT_COLUMNS}) VALUES {} RETURNING id, seq",
                values.join(", ")
            )
        })
    });
    let at = INSERT_ROWS.iter().position(|n| *n == rows).unwrap_or(0);
    &texts[at]
}

/// [`crate::tx::BatchTx::insert_batch_items`] in one statement.
const INSERT_BATCH_ITEMS: &str = "INSERT INTO batch_items (batch_id, idx, run_id) \
     SELECT $1, i, r FROM unnest($2::bigint[], $3::text[]) AS u(i, r)";

/// Indexes the tags of runs just inserted, each `(tag, seq)`, in one statement.
const INSERT_TAGS: &str = "INSERT INTO run_tags (tag, run_seq) \
     SELECT * FROM unnest($1::text[], $2::bigint[]) ON CONFLICT DO NOTHING";

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

    /// Every column, as [`RunsNative::update_runs_at_once`]: a new row version is indexed anew
    /// (or not at all, HOT) whatever the statement sets, and one statement text serves every
    /// list.
    fn update_runs_over_at_once(&mut self, pairs: &[(&Run, &Run)]) -> Result<Vec<bool>> {
        let updates: Vec<_> = pairs
            .iter()
            .map(|(before, after)| (*after, before.status, before.lease.as_deref()))
            .collect();
        self.update_runs_at_once(&updates)
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
            .rows_planned_now(UPDATE_RUNS, &params)?
            .iter()
            .map(|row| row.try_get::<_, String>(0))
            .collect::<std::result::Result<_, _>>()?;
        Ok(updates
            .iter()
            .map(|(r, _, _)| written.contains(&r.id))
            .collect())
    }

    fn insert_runs_at_once(&mut self, runs: &[&Run]) -> Result<Vec<i64>> {
        let mut seqs: HashMap<String, i64> = HashMap::with_capacity(runs.len());
        let mut rest = runs;
        while !rest.is_empty() {
            let n = INSERT_ROWS
                .into_iter()
                .find(|n| *n <= rest.len())
                .unwrap_or(1);
            let (chunk, after) = rest.split_at(n);
            for row in self.insert_run_rows(chunk)? {
                seqs.insert(row.try_get(0)?, row.try_get(1)?);
            }
            rest = after;
        }
        let in_order: Vec<i64> = runs
            .iter()
            .map(|r| seqs.get(r.id.as_str()).copied())
            .collect::<Option<_>>()
            .ok_or_else(|| Error::Database("a run inserted returned no seq".into()))?;
        let (tags, tag_seqs): (Vec<&str>, Vec<i64>) = runs
            .iter()
            .zip(&in_order)
            .flat_map(|(r, seq)| r.tags.iter().map(move |t| (t.as_str(), *seq)))
            .unzip();
        if !tags.is_empty() {
            self.exec(INSERT_TAGS, &[&tags, &tag_seqs])?;
        }
        Ok(in_order)
    }

    fn runs_with_ids(&mut self, env_id: &str, ids: &[String]) -> Result<Vec<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE env_id = $1 AND id = ANY($2) ORDER BY seq{}",
            self.lock()
        );
        self.rows_planned_now(&sql, &[&env_id, &ids])?
            .iter()
            .map(rows::run)
            .collect()
    }
}

/// [`crate::mollifier::MollifierTx::insert_buffered_all`] in one statement, in order.
const INSERT_BUFFERED: &str = "INSERT INTO mollifier_entries (run_id, env_id, org_id, task_id, \
     idempotency_key, request_key, body, state, attempts, created_at, expires_at, batch_id) \
     SELECT r, v, o, t, i, q, b, 'queued', 0, c, x, h FROM unnest($1::text[], $2::text[], \
       $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[], \
       $10::text[]) WITH ORDINALITY AS u(r, v, o, t, i, q, b, c, x, h, n) \
     ORDER BY n ON CONFLICT (run_id) DO NOTHING";

/// [`crate::mollifier::MollifierTx::delete_buffered_runs`] in one statement.
const DELETE_BUFFERED: &str = "DELETE FROM mollifier_entries WHERE run_id = ANY($1)";

impl BufferNative for PgTx<'_> {
    fn insert_buffered_at_once(&mut self, entries: &[BufferedEntry]) -> Result<()> {
        let text = |f: fn(&BufferedEntry) -> &str| -> Vec<&str> { entries.iter().map(f).collect() };
        let opt = |f: fn(&BufferedEntry) -> Option<&str>| -> Vec<Option<&str>> {
            entries.iter().map(f).collect()
        };
        let int = |f: fn(&BufferedEntry) -> i64| -> Vec<i64> { entries.iter().map(f).collect() };
        self.exec(
            INSERT_BUFFERED,
            &[
                &text(|e| &e.run_id),
                &text(|e| &e.env_id),
                &text(|e| &e.org_id),
                &text(|e| &e.task_id),
                &opt(|e| e.idempotency_key.as_deref()),
                &opt(|e| e.request_key.as_deref()),
                &text(|e| &e.body),
                &int(|e| e.created_at),
                &int(|e| e.expires_at),
                &opt(|e| e.batch_id.as_deref()),
            ],
        )?;
        Ok(())
    }

    fn delete_buffered_at_once(&mut self, run_ids: &[&str]) -> Result<()> {
        self.rows_planned_now(DELETE_BUFFERED, &[&run_ids])?;
        Ok(())
    }
}

impl BatchesNative for PgTx<'_> {
    fn insert_batch_items_at_once(&mut self, batch_id: &str, items: &[(i64, &str)]) -> Result<()> {
        let (indexes, runs): (Vec<i64>, Vec<&str>) = items.iter().copied().unzip();
        self.exec(INSERT_BATCH_ITEMS, &[&batch_id, &indexes, &runs])?;
        Ok(())
    }
}

impl PgTx<'_> {
    /// Inserts `runs` (one of the sizes of [`INSERT_ROWS`]) in one statement; the rows hold
    /// each run's id and seq.
    fn insert_run_rows(&mut self, runs: &[&Run]) -> Result<Vec<postgres::Row>> {
        let statuses: Vec<&'static str> = runs.iter().map(|r| r.status.as_str()).collect();
        let payloads: Vec<Option<std::borrow::Cow<'_, str>>> = runs
            .iter()
            .map(|r| r.payload.as_deref().map(<Self as Db>::any_text))
            .collect();
        let payloads: Vec<Option<&str>> = payloads.iter().map(|p| p.as_deref()).collect();
        let tags: Vec<String> = runs.iter().map(|r| rows::to_json(&r.tags)).collect();
        let mut params: Vec<Param> = Vec::with_capacity(runs.len() * RUN_INSERT_COUNT);
        for (i, r) in runs.iter().enumerate() {
            let values = run_values(r, &statuses[i], &payloads[i], &tags[i]);
            params.extend(values.iter().map(|v| v.postgres()));
        }
        self.rows(insert_runs_sql(runs.len()), &params)
    }
}
