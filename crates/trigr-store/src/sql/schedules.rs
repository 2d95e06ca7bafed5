//! Cron schedules.

use trigr_types::Millis;

use super::{int, opt_int, sql, Db, Sql};
use crate::schedule::{self, Schedule, SCHEDULE_COLUMNS};
use crate::tx::{ScheduleRead, ScheduleTx};
use crate::Result;

static INSERT: Sql = sql!(
    "INSERT INTO schedules ({SCHEDULE_COLUMNS}) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
);
static BY_ID: Sql =
    sql!(Update: "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE env_id = $1 AND id = $2");
static BY_DEDUP_KEY: Sql = sql!(Update:
    "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE env_id = $1 AND dedup_key = $2"
);
static DECLARATIVE: Sql = sql!(Update:
    "SELECT {SCHEDULE_COLUMNS} FROM schedules \
     WHERE env_id = $1 AND kind = 'DECLARATIVE' ORDER BY task_id"
);
static PAGE: Sql = sql!(Update:
    "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE env_id = $1 \
     ORDER BY created_at, id LIMIT $2 OFFSET $3"
);
static COUNT: Sql = sql!("SELECT COUNT(*) FROM schedules WHERE env_id = $1");
static UPDATE: Sql = sql!(
    "UPDATE schedules SET task_id = $2, active = $3, dedup_key = $4, external_id = $5, \
     cron = $6, timezone = $7, next_run_at = $8, last_run_at = $9, updated_at = $10, \
     tick_window = $11 WHERE id = $1"
);
static DELETE: Sql = sql!("DELETE FROM schedules WHERE env_id = $1 AND id = $2");
static DUE: Sql = sql!(SkipLocked:
    "SELECT {SCHEDULE_COLUMNS} FROM schedules \
     WHERE active = TRUE AND next_run_at IS NOT NULL AND next_run_at <= $1 \
     ORDER BY next_run_at LIMIT $2"
);
static CLAIM_TICK: Sql = sql!(
    "UPDATE schedules SET next_run_at = $3, last_run_at = $4, updated_at = $5 \
     WHERE id = $1 AND active = TRUE AND next_run_at = $2"
);
static NEXT_DUE: Sql =
    sql!("SELECT MIN(next_run_at) FROM schedules WHERE active = TRUE AND next_run_at IS NOT NULL");

impl<C: Db> ScheduleRead for C {
    fn schedule(&mut self, env_id: &str, id: &str) -> Result<Option<Schedule>> {
        self.query_first(&BY_ID, &[&env_id, &id], |r| schedule::schedule(r))
    }

    fn schedule_by_dedup_key(&mut self, env_id: &str, key: &str) -> Result<Option<Schedule>> {
        self.query_first(&BY_DEDUP_KEY, &[&env_id, &key], |r| schedule::schedule(r))
    }

    fn declarative_schedules(&mut self, env_id: &str) -> Result<Vec<Schedule>> {
        self.query(&DECLARATIVE, &[&env_id], |r| schedule::schedule(r))
    }

    fn schedules(
        &mut self,
        env_id: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Schedule>, i64)> {
        let page = self.query(&PAGE, &[&env_id, &(limit as i64), &(offset as i64)], |r| {
            schedule::schedule(r)
        })?;
        let total = int(self, &COUNT, &[&env_id])?;
        Ok((page, total))
    }

    fn due_schedules(&mut self, now: Millis, limit: usize) -> Result<Vec<Schedule>> {
        self.query(&DUE, &[&now, &(limit as i64)], |r| schedule::schedule(r))
    }

    fn next_schedule_due(&mut self) -> Result<Option<Millis>> {
        opt_int(self, &NEXT_DUE, &[])
    }
}

impl<C: Db> ScheduleTx for C {
    fn insert_schedule(&mut self, s: &Schedule) -> Result<()> {
        // A deduplication key (or a task's declarative schedule) taken is a unique violation:
        // a conflict (see `sql::Failure`).
        self.execute(
            &INSERT,
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

    fn update_schedule(&mut self, s: &Schedule) -> Result<bool> {
        let n = self.execute(
            &UPDATE,
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
        Ok(self.execute(&DELETE, &[&env_id, &id])? == 1)
    }

    fn claim_schedule_tick(
        &mut self,
        id: &str,
        due: Millis,
        next: Option<Millis>,
        fired: Millis,
        now: Millis,
    ) -> Result<bool> {
        Ok(self.execute(&CLAIM_TICK, &[&id, &due, &next, &fired, &now])? == 1)
    }
}
