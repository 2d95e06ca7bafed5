//! Cron schedules.

use trigr_types::Millis;

use super::PgTx;
use crate::schedule::{self, Schedule, SCHEDULE_COLUMNS};
use crate::tx::ScheduleTx;
use crate::Result;

impl PgTx<'_> {
    fn schedule_rows(&mut self, sql: &str, params: &[super::Param]) -> Result<Vec<Schedule>> {
        self.rows(sql, params)?
            .iter()
            .map(schedule::schedule)
            .collect()
    }
}

impl ScheduleTx for PgTx<'_> {
    fn insert_schedule(&mut self, s: &Schedule) -> Result<()> {
        self.exec(
            &format!(
                "INSERT INTO schedules ({SCHEDULE_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            ),
            &[
                &s.id,
                &s.env_id,
                &s.task_id,
                &s.kind.as_str(),
                &s.active,
                &s.dedup_key,
                &s.external_id,
                &s.cron,
                &s.timezone,
                &s.next_run_at,
                &s.last_run_at,
                &s.created_at,
                &s.updated_at,
                &s.window,
            ],
        )?;
        Ok(())
    }

    fn schedule(&mut self, env_id: &str, id: &str) -> Result<Option<Schedule>> {
        let sql = format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE env_id = $1 AND id = $2{}",
            self.lock()
        );
        Ok(self.schedule_rows(&sql, &[&env_id, &id])?.pop())
    }

    fn schedule_by_dedup_key(&mut self, env_id: &str, key: &str) -> Result<Option<Schedule>> {
        let sql = format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE env_id = $1 AND dedup_key = $2{}",
            self.lock()
        );
        Ok(self.schedule_rows(&sql, &[&env_id, &key])?.pop())
    }

    fn declarative_schedules(&mut self, env_id: &str) -> Result<Vec<Schedule>> {
        let sql = format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules \
             WHERE env_id = $1 AND kind = 'DECLARATIVE' ORDER BY task_id{}",
            self.lock()
        );
        self.schedule_rows(&sql, &[&env_id])
    }

    fn schedules(
        &mut self,
        env_id: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Schedule>, i64)> {
        let sql = format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE env_id = $1 \
             ORDER BY created_at, id LIMIT $2 OFFSET $3{}",
            self.lock()
        );
        let page = self.schedule_rows(&sql, &[&env_id, &(limit as i64), &(offset as i64)])?;
        let total: i64 = self.scalar(
            "SELECT COUNT(*)::bigint FROM schedules WHERE env_id = $1",
            &[&env_id],
        )?;
        Ok((page, total))
    }

    fn update_schedule(&mut self, s: &Schedule) -> Result<bool> {
        let n = self.exec(
            "UPDATE schedules SET task_id = $2, active = $3, dedup_key = $4, external_id = $5, \
             cron = $6, timezone = $7, next_run_at = $8, last_run_at = $9, updated_at = $10, \
             tick_window = $11 WHERE id = $1",
            &[
                &s.id,
                &s.task_id,
                &s.active,
                &s.dedup_key,
                &s.external_id,
                &s.cron,
                &s.timezone,
                &s.next_run_at,
                &s.last_run_at,
                &s.updated_at,
                &s.window,
            ],
        )?;
        Ok(n == 1)
    }

    fn delete_schedule(&mut self, env_id: &str, id: &str) -> Result<bool> {
        let n = self.exec(
            "DELETE FROM schedules WHERE env_id = $1 AND id = $2",
            &[&env_id, &id],
        )?;
        Ok(n == 1)
    }

    fn due_schedules(&mut self, now: Millis, limit: usize) -> Result<Vec<Schedule>> {
        let sql = format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules \
             WHERE active AND next_run_at IS NOT NULL AND next_run_at <= $1 \
             ORDER BY next_run_at LIMIT $2{}",
            self.lock_or_skip()
        );
        self.schedule_rows(&sql, &[&now, &(limit as i64)])
    }

    fn claim_schedule_tick(
        &mut self,
        id: &str,
        due: Millis,
        next: Option<Millis>,
        fired: Millis,
        now: Millis,
    ) -> Result<bool> {
        let n = self.exec(
            "UPDATE schedules SET next_run_at = $3, last_run_at = $4, updated_at = $5 \
             WHERE id = $1 AND active AND next_run_at = $2",
            &[&id, &due, &next, &fired, &now],
        )?;
        Ok(n == 1)
    }

    fn next_schedule_due(&mut self) -> Result<Option<Millis>> {
        self.scalar(
            "SELECT MIN(next_run_at)::bigint FROM schedules \
             WHERE active AND next_run_at IS NOT NULL",
            &[],
        )
    }
}
