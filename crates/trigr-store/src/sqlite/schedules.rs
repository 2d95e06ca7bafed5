//! Cron schedules.

use rusqlite::params;
use trigr_types::Millis;

use super::SqliteTx;
use crate::schedule::{self, Schedule, SCHEDULE_COLUMNS};
use crate::tx::ScheduleTx;
use crate::{Error, Result};

impl ScheduleTx for SqliteTx<'_> {
    fn insert_schedule(&mut self, s: &Schedule) -> Result<()> {
        let mut st = self.conn.prepare_cached(&format!(
            "INSERT INTO schedules ({SCHEDULE_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        ))?;
        let done = st.execute(params![
            s.id,
            s.env_id,
            s.task_id,
            s.kind.as_str(),
            s.active,
            s.dedup_key,
            s.external_id,
            s.cron,
            s.timezone,
            s.next_run_at,
            s.last_run_at,
            s.created_at,
            s.updated_at,
            s.window
        ]);
        match done {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, m))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(Error::Conflict(m.unwrap_or_else(|| {
                    format!("schedule {} conflicts with another", s.id)
                })))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn schedule(&mut self, env_id: &str, id: &str) -> Result<Option<Schedule>> {
        self.first(
            &format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE env_id = ?1 AND id = ?2"),
            params![env_id, id],
            |r| schedule::schedule(r),
        )
    }

    fn schedule_by_dedup_key(&mut self, env_id: &str, key: &str) -> Result<Option<Schedule>> {
        self.first(
            &format!(
                "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE env_id = ?1 AND dedup_key = ?2"
            ),
            params![env_id, key],
            |r| schedule::schedule(r),
        )
    }

    fn declarative_schedules(&mut self, env_id: &str) -> Result<Vec<Schedule>> {
        self.all(
            &format!(
                "SELECT {SCHEDULE_COLUMNS} FROM schedules \
                 WHERE env_id = ?1 AND kind = 'DECLARATIVE' ORDER BY task_id"
            ),
            params![env_id],
            |r| schedule::schedule(r),
        )
    }

    fn schedules(
        &mut self,
        env_id: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Schedule>, i64)> {
        let page = self.all(
            &format!(
                "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE env_id = ?1 \
                 ORDER BY created_at, id LIMIT ?2 OFFSET ?3"
            ),
            params![env_id, limit as i64, offset as i64],
            |r| schedule::schedule(r),
        )?;
        let total = self
            .first(
                "SELECT COUNT(*) FROM schedules WHERE env_id = ?1",
                params![env_id],
                |r| Ok(r.get(0)?),
            )?
            .unwrap_or(0);
        Ok((page, total))
    }

    fn update_schedule(&mut self, s: &Schedule) -> Result<bool> {
        let mut st = self.conn.prepare_cached(
            "UPDATE schedules SET task_id = ?2, active = ?3, dedup_key = ?4, external_id = ?5, \
             cron = ?6, timezone = ?7, next_run_at = ?8, last_run_at = ?9, updated_at = ?10, \
             tick_window = ?11 WHERE id = ?1",
        )?;
        let n = st.execute(params![
            s.id,
            s.task_id,
            s.active,
            s.dedup_key,
            s.external_id,
            s.cron,
            s.timezone,
            s.next_run_at,
            s.last_run_at,
            s.updated_at,
            s.window
        ])?;
        Ok(n == 1)
    }

    fn delete_schedule(&mut self, env_id: &str, id: &str) -> Result<bool> {
        let mut st = self
            .conn
            .prepare_cached("DELETE FROM schedules WHERE env_id = ?1 AND id = ?2")?;
        Ok(st.execute(params![env_id, id])? == 1)
    }

    fn due_schedules(&mut self, now: Millis, limit: usize) -> Result<Vec<Schedule>> {
        self.all(
            &format!(
                "SELECT {SCHEDULE_COLUMNS} FROM schedules \
                 WHERE active = 1 AND next_run_at IS NOT NULL AND next_run_at <= ?1 \
                 ORDER BY next_run_at LIMIT ?2"
            ),
            params![now, limit as i64],
            |r| schedule::schedule(r),
        )
    }

    fn claim_schedule_tick(
        &mut self,
        id: &str,
        due: Millis,
        next: Option<Millis>,
        fired: Millis,
        now: Millis,
    ) -> Result<bool> {
        let mut st = self.conn.prepare_cached(
            "UPDATE schedules SET next_run_at = ?3, last_run_at = ?4, updated_at = ?5 \
             WHERE id = ?1 AND active = 1 AND next_run_at = ?2",
        )?;
        Ok(st.execute(params![id, due, next, fired, now])? == 1)
    }

    fn next_schedule_due(&mut self) -> Result<Option<Millis>> {
        Ok(self
            .first(
                "SELECT MIN(next_run_at) FROM schedules WHERE active = 1 AND next_run_at IS NOT NULL",
                [],
                |r| Ok(r.get::<_, Option<i64>>(0)?),
            )?
            .flatten())
    }
}
