//! Cron schedules. A schedule's tags are kept twice: in its row (read back with it) and one
//! a row in `schedule_tags` (for the tag filter of a list), both written by the same call.

use trigr_types::Millis;

use super::{int, opt_int, sql, Db, Sql};
use crate::schedule::{self, tags_text, Schedule, ScheduleFilter, SCHEDULE_COLUMNS};
use crate::tx::{ScheduleRead, ScheduleTx};
use crate::Result;

static INSERT: Sql = sql!(
    "INSERT INTO schedules ({SCHEDULE_COLUMNS}) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
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
/// The list filter: `active IN ($2, $3)` (both flags for either), and `$4` a tag or `''` for
/// any (a tag is never empty).
const FILTERED: &str = "env_id = $1 AND active IN ($2, $3) AND ($4 = '' OR EXISTS \
    (SELECT 1 FROM schedule_tags t WHERE t.schedule_id = schedules.id AND t.tag = $4))";
static PAGE: Sql = sql!(Update:
    "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE {FILTERED} \
     ORDER BY created_at, id LIMIT $5 OFFSET $6"
);
static COUNT: Sql = sql!("SELECT COUNT(*) FROM schedules WHERE {FILTERED}");
static DELETE_TAGS: Sql = sql!("DELETE FROM schedule_tags WHERE schedule_id = $1");
static INSERT_TAG: Sql = sql!("INSERT INTO schedule_tags (schedule_id, tag) VALUES ($1, $2)");
static UPDATE: Sql = sql!(
    "UPDATE schedules SET task_id = $2, active = $3, dedup_key = $4, external_id = $5, \
     cron = $6, timezone = $7, next_run_at = $8, last_run_at = $9, updated_at = $10, \
     tick_window = $11, payload = $12, metadata = $13, machine = $14, tags = $15 WHERE id = $1"
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
        filter: &ScheduleFilter,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Schedule>, i64)> {
        let (first, second) = filter.active.map_or((true, false), |a| (a, a));
        let tag = filter.tag.as_deref().unwrap_or("");
        let page = self.query(
            &PAGE,
            &[
                &env_id,
                &first,
                &second,
                &tag,
                &(limit as i64),
                &(offset as i64),
            ],
            |r| schedule::schedule(r),
        )?;
        let total = int(self, &COUNT, &[&env_id, &first, &second, &tag])?;
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
                &s.run.payload,
                &s.run.metadata,
                &s.run.machine,
                &tags_text(&s.run.tags),
            ],
        )?;
        self.write_schedule_tags(s)
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
                &s.run.payload,
                &s.run.metadata,
                &s.run.machine,
                &tags_text(&s.run.tags),
            ],
        )?;
        if n != 1 {
            return Ok(false);
        }
        self.execute(&DELETE_TAGS, &[&s.id])?;
        self.write_schedule_tags(s)?;
        Ok(true)
    }

    fn delete_schedule(&mut self, env_id: &str, id: &str) -> Result<bool> {
        if self.execute(&DELETE, &[&env_id, &id])? != 1 {
            return Ok(false);
        }
        self.execute(&DELETE_TAGS, &[&id])?;
        Ok(true)
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

/// Writes a schedule's tags into `schedule_tags` (its rows there are gone or never were).
trait ScheduleTags {
    fn write_schedule_tags(&mut self, s: &Schedule) -> Result<()>;
}

impl<C: Db> ScheduleTags for C {
    fn write_schedule_tags(&mut self, s: &Schedule) -> Result<()> {
        for tag in &s.run.tags {
            self.execute(&INSERT_TAG, &[&s.id, tag])?;
        }
        Ok(())
    }
}
