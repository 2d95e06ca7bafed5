use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter};
use trigr_types::{Millis, RunStatus};

use super::{to_json, SqliteTx};
use crate::model::{Page, Run, RunFilter};
use crate::rows::{self, RUN_COLUMNS, RUN_INSERT_COLUMNS, RUN_INSERT_COUNT, TTL_STATUSES};
use crate::tx::RunTx;
use crate::Result;

impl SqliteTx<'_> {
    fn query_runs(&mut self, sql: &str, args: impl rusqlite::Params) -> Result<Vec<Run>> {
        self.all(sql, args, |r| rows::run(r))
    }

    fn query_run(&mut self, sql: &str, args: impl rusqlite::Params) -> Result<Option<Run>> {
        self.first(sql, args, |r| rows::run(r))
    }
}

impl RunTx for SqliteTx<'_> {
    fn insert_run(&mut self, r: &Run) -> Result<i64> {
        let mut st = self.conn.prepare_cached(&format!(
            "INSERT INTO runs ({RUN_INSERT_COLUMNS}) VALUES ({})",
            (1..=RUN_INSERT_COUNT)
                .map(|n| format!("?{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))?;
        st.execute(params![
            r.id,
            r.env_id,
            r.task_id,
            r.queue_id,
            r.queue_name,
            r.ckey,
            r.status.as_str(),
            r.version,
            r.payload,
            r.payload_type,
            r.metadata,
            r.metadata_type,
            to_json(&r.tags),
            r.idempotency_key,
            r.idempotency_key_user,
            r.idempotency_scope,
            r.idempotency_expires_at,
            r.request_key,
            r.priority,
            r.queue_ts,
            r.available_at,
            r.delay_until,
            r.ttl,
            r.ttl_expires_at,
            r.max_attempts,
            r.max_duration,
            r.machine,
            r.attempt,
            r.lease,
            r.lease_expires_at,
            r.timeout_at,
            r.output,
            r.output_type,
            r.error,
            r.parent_run_id,
            r.root_run_id,
            r.depth,
            r.batch_id,
            r.batch_index,
            r.trigger_function,
            r.is_test,
            r.created_at,
            r.updated_at,
            r.started_at,
            r.finished_at,
            r.resumed
        ])?;
        let seq = self.conn.last_insert_rowid();
        let mut tag_st = self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO run_tags (tag, run_seq) VALUES (?1, ?2)")?;
        for tag in &r.tags {
            tag_st.execute(params![tag, seq])?;
        }
        Ok(seq)
    }

    fn run(&mut self, env_id: &str, id: &str) -> Result<Option<Run>> {
        self.query_run(
            &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1 AND env_id = ?2"),
            params![id, env_id],
        )
    }

    fn update_run(
        &mut self,
        r: &Run,
        expect_status: RunStatus,
        expect_lease: Option<&str>,
    ) -> Result<bool> {
        let mut st = self.conn.prepare_cached(
            "UPDATE runs SET status = ?3, version = ?4, metadata = ?5, idempotency_key = ?6, \
             idempotency_expires_at = ?7, queue_ts = ?8, available_at = ?9, delay_until = ?10, \
             ttl_expires_at = ?11, attempt = ?12, lease = ?13, lease_expires_at = ?14, timeout_at = ?15, \
             output = ?16, output_type = ?17, error = ?18, updated_at = ?19, started_at = ?20, \
             finished_at = ?21, max_duration = ?22, metadata_type = ?23, resumed = ?25 \
             WHERE id = ?1 AND status = ?2 AND lease IS ?24",
        )?;
        let n = st.execute(params![
            r.id,
            expect_status.as_str(),
            r.status.as_str(),
            r.version,
            r.metadata,
            r.idempotency_key,
            r.idempotency_expires_at,
            r.queue_ts,
            r.available_at,
            r.delay_until,
            r.ttl_expires_at,
            r.attempt,
            r.lease,
            r.lease_expires_at,
            r.timeout_at,
            r.output,
            r.output_type,
            r.error,
            r.updated_at,
            r.started_at,
            r.finished_at,
            r.max_duration,
            r.metadata_type,
            expect_lease,
            r.resumed
        ])?;
        Ok(n == 1)
    }

    fn set_tags(&mut self, r: &Run) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET tags = ?2 WHERE seq = ?1",
            params![r.seq, to_json(&r.tags)],
        )?;
        let mut st = self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO run_tags (tag, run_seq) VALUES (?1, ?2)")?;
        for tag in &r.tags {
            st.execute(params![tag, r.seq])?;
        }
        Ok(())
    }

    fn run_by_idempotency_key(
        &mut self,
        env_id: &str,
        task_id: &str,
        key: &str,
    ) -> Result<Option<Run>> {
        self.query_run(
            &format!("SELECT {RUN_COLUMNS} FROM runs WHERE env_id = ?1 AND task_id = ?2 AND idempotency_key = ?3"),
            params![env_id, task_id, key],
        )
    }

    fn run_by_request_key(&mut self, env_id: &str, key: &str) -> Result<Option<Run>> {
        self.query_run(
            &format!("SELECT {RUN_COLUMNS} FROM runs WHERE env_id = ?1 AND request_key = ?2"),
            params![env_id, key],
        )
    }

    fn clear_idempotency_key(&mut self, run_seq: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET idempotency_key = NULL WHERE seq = ?1",
            [run_seq],
        )?;
        Ok(())
    }

    fn list_runs(&mut self, env_id: &str, f: &RunFilter, page: Page) -> Result<Vec<Run>> {
        let mut sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE env_id = ?");
        let mut args: Vec<SqlValue> = vec![env_id.to_string().into()];
        let mut any_of = |sql: &mut String, column: &str, values: Vec<String>| {
            if values.is_empty() {
                return;
            }
            sql.push_str(&format!(
                " AND {column} IN ({})",
                vec!["?"; values.len()].join(", ")
            ));
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
        any_of(&mut sql, "batch_id", f.batch_id.iter().cloned().collect());
        if !f.tags.is_empty() {
            sql.push_str(&format!(
                " AND seq IN (SELECT run_seq FROM run_tags WHERE tag IN ({}))",
                vec!["?"; f.tags.len()].join(", ")
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
        let mut runs = self.query_runs(&sql, params_from_iter(args))?;
        if page.before_seq.is_some() {
            runs.reverse();
        }
        Ok(runs)
    }

    fn children(&mut self, run_id: &str) -> Result<Vec<Run>> {
        self.query_runs(
            &format!("SELECT {RUN_COLUMNS} FROM runs WHERE parent_run_id = ?1 ORDER BY seq"),
            [run_id],
        )
    }

    fn runs_of_batch(&mut self, batch_id: &str) -> Result<Vec<Run>> {
        self.query_runs(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs JOIN (SELECT run_id, idx FROM batch_items WHERE batch_id = ?1) AS items \
                 ON items.run_id = runs.id ORDER BY items.idx"
            ),
            [batch_id],
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
                "SELECT {RUN_COLUMNS} FROM runs WHERE queue_id = ?1 AND version = ?2 AND status = 'QUEUED' \
                 AND available_at <= ?3 ORDER BY queue_ts, seq LIMIT ?4"
            ),
            params![queue_id, version, now, limit as i64],
        )
    }

    fn unlocked_runs(&mut self, env_id: &str) -> Result<Vec<Run>> {
        self.query_runs(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE env_id = ?1 AND version IS NULL \
                 AND status IN ('PENDING_VERSION', 'DELAYED') ORDER BY seq"
            ),
            [env_id],
        )
    }

    fn unstarted_runs_not_on(&mut self, env_id: &str, version: &str) -> Result<Vec<Run>> {
        self.query_runs(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE env_id = ?1 AND status IN ('QUEUED', 'DELAYED') \
                 AND attempt = 0 AND version IS NOT NULL AND version <> ?2 ORDER BY seq"
            ),
            params![env_id, version],
        )
    }

    fn due_delayed(&mut self, now: Millis, limit: usize) -> Result<Vec<Run>> {
        self.query_runs(
            &format!("SELECT {RUN_COLUMNS} FROM runs WHERE status = 'DELAYED' AND available_at <= ?1 ORDER BY available_at LIMIT ?2"),
            params![now, limit as i64],
        )
    }

    fn due_ttl(&mut self, now: Millis, limit: usize) -> Result<Vec<Run>> {
        self.query_runs(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE ttl_expires_at IS NOT NULL AND ttl_expires_at <= ?1 \
                 AND status IN {TTL_STATUSES} ORDER BY ttl_expires_at LIMIT ?2"
            ),
            params![now, limit as i64],
        )
    }

    fn due_leases(&mut self, now: Millis, limit: usize) -> Result<Vec<Run>> {
        self.query_runs(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE lease_expires_at IS NOT NULL AND lease_expires_at <= ?1 \
                 ORDER BY lease_expires_at LIMIT ?2"
            ),
            params![now, limit as i64],
        )
    }

    fn due_timeouts(&mut self, now: Millis, limit: usize) -> Result<Vec<Run>> {
        self.query_runs(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE timeout_at IS NOT NULL AND timeout_at <= ?1 ORDER BY timeout_at LIMIT ?2"
            ),
            params![now, limit as i64],
        )
    }

    fn next_timer(&mut self) -> Result<Option<Millis>> {
        let sql = format!(
            "SELECT MIN(t) FROM (
                SELECT MIN(available_at) AS t FROM runs WHERE status = 'DELAYED'
                UNION ALL SELECT MIN(ttl_expires_at) FROM runs WHERE ttl_expires_at IS NOT NULL AND status IN {TTL_STATUSES}
                UNION ALL SELECT MIN(lease_expires_at) FROM runs WHERE lease_expires_at IS NOT NULL
                UNION ALL SELECT MIN(timeout_at) FROM runs WHERE timeout_at IS NOT NULL
                UNION ALL SELECT MIN(due_at) FROM waitpoints WHERE status = 'WAITING' AND due_at IS NOT NULL)"
        );
        Ok(self.conn.query_row(&sql, [], |r| r.get(0))?)
    }
}
