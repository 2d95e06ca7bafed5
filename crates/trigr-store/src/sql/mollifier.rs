//! The mollifier's buffer and settings ([`crate::mollifier`]).

use trigr_types::Millis;

use super::{sql, Db, Sql};
use crate::mollifier::{BufferCursor, BufferDepth, BufferedEntry, MollifierRead, MollifierTx};
use crate::rows::Columns;
use crate::Result;

const COLUMNS: &str = "seq, run_id, env_id, org_id, task_id, idempotency_key, request_key, body, \
                       state, claimed_by, claim_until, attempts, created_at, expires_at, batch_id";

static INSERT: Sql = sql!(
    "INSERT INTO mollifier_entries (run_id, env_id, org_id, task_id, idempotency_key, \
     request_key, body, state, attempts, created_at, expires_at, batch_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', 0, $8, $9, $10) ON CONFLICT (run_id) DO NOTHING"
);
static BY_RUN: Sql =
    sql!("SELECT {COLUMNS} FROM mollifier_entries WHERE env_id = $1 AND run_id = $2");
static BY_IDEMPOTENCY_KEY: Sql = sql!(
    "SELECT {COLUMNS} FROM mollifier_entries \
     WHERE env_id = $1 AND task_id = $2 AND idempotency_key = $3"
);
static OF_BATCH: Sql = sql!(
    "SELECT {COLUMNS} FROM mollifier_entries WHERE env_id = $1 AND batch_id = $2 ORDER BY seq"
);
static BY_REQUEST_KEY: Sql =
    sql!("SELECT {COLUMNS} FROM mollifier_entries WHERE env_id = $1 AND request_key = $2");
static NEWEST_BELOW: Sql = sql!(
    "SELECT {COLUMNS} FROM mollifier_entries WHERE env_id = $1 AND seq < $2 \
     ORDER BY seq DESC LIMIT $3"
);
static OLDEST_ABOVE: Sql = sql!(
    "SELECT {COLUMNS} FROM mollifier_entries WHERE env_id = $1 AND seq > $2 \
     ORDER BY seq LIMIT $3"
);
static DEPTHS: Sql = sql!(
    "SELECT env_id, MIN(org_id), COUNT(*), MIN(created_at) FROM mollifier_entries \
     GROUP BY env_id ORDER BY env_id LIMIT $1"
);
// A loose index scan of `(env_id, seq)`: one probe per environment, however deep its FIFO.
static ENVS: Sql = sql!(
    "WITH RECURSIVE envs(env_id) AS ( \
       SELECT MIN(env_id) FROM mollifier_entries \
       UNION ALL \
       SELECT (SELECT MIN(m.env_id) FROM mollifier_entries m WHERE m.env_id > envs.env_id) \
       FROM envs WHERE envs.env_id IS NOT NULL) \
     SELECT e.env_id, (SELECT m.org_id FROM mollifier_entries m WHERE m.env_id = e.env_id \
       ORDER BY m.seq LIMIT 1) \
     FROM envs e WHERE e.env_id IS NOT NULL LIMIT $1"
);
static ORG_OF_ENV: Sql = sql!(
    "SELECT p.org_id FROM environments e JOIN projects p ON p.id = e.project_id WHERE e.id = $1"
);
static SETTINGS: Sql = sql!("SELECT scope, settings FROM mollifier_settings ORDER BY scope");
static NEXT_FREE: Sql = sql!(SkipLocked:
    "SELECT {COLUMNS} FROM mollifier_entries WHERE env_id = $1 \
     AND (state = 'queued' OR claim_until <= $2) AND expires_at > $2 ORDER BY seq LIMIT $3"
);
static EXPIRED: Sql = sql!(SkipLocked:
    "SELECT {COLUMNS} FROM mollifier_entries WHERE expires_at <= $1 \
     AND (state = 'queued' OR claim_until <= $1) ORDER BY expires_at, seq LIMIT $2"
);
static CLAIM: Sql = sql!(
    "UPDATE mollifier_entries SET state = 'claimed', claimed_by = $2, claim_until = $3 \
     WHERE seq = $1"
);
static RELEASE: Sql = sql!(
    "UPDATE mollifier_entries SET state = 'queued', claimed_by = NULL, claim_until = NULL, \
     attempts = attempts + 1 WHERE run_id = $1 AND claimed_by = $2"
);
static DELETE_CLAIMED: Sql =
    sql!("DELETE FROM mollifier_entries WHERE run_id = $1 AND claimed_by = $2");
static DELETE: Sql = sql!("DELETE FROM mollifier_entries WHERE run_id = $1");
static PUT_SETTING: Sql = sql!(
    "INSERT INTO mollifier_settings (scope, settings, updated_at) VALUES ($1, $2, $3) \
     ON CONFLICT (scope) DO UPDATE SET settings = excluded.settings, \
     updated_at = excluded.updated_at"
);
static TRIPS: Sql = sql!(
    "SELECT env_id, MAX(tripped_until) FROM mollifier_trips WHERE tripped_until > $1 \
     GROUP BY env_id ORDER BY env_id"
);
static DELETE_TRIPS: Sql = sql!("DELETE FROM mollifier_trips WHERE server_id = $1");
static INSERT_TRIP: Sql =
    sql!("INSERT INTO mollifier_trips (server_id, env_id, tripped_until) VALUES ($1, $2, $3)");
static DELETE_SETTING: Sql = sql!("DELETE FROM mollifier_settings WHERE scope = $1");
static ADD_COUNT: Sql = sql!(
    "INSERT INTO mollifier_counts (env_id, window_start, server_id, count) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (env_id, window_start, server_id) \
     DO UPDATE SET count = mollifier_counts.count + excluded.count"
);
static WINDOW_TOTAL: Sql = sql!(
    "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM mollifier_counts \
     WHERE env_id = $1 AND window_start = $2"
);
static EXTEND_TRIP: Sql = sql!(
    "INSERT INTO mollifier_trips (server_id, env_id, tripped_until) VALUES ($1, $2, $3) \
     ON CONFLICT (server_id, env_id) DO UPDATE SET tripped_until = CASE \
       WHEN excluded.tripped_until > mollifier_trips.tripped_until \
       THEN excluded.tripped_until ELSE mollifier_trips.tripped_until END"
);
static PRUNE_COUNTS: Sql = sql!("DELETE FROM mollifier_counts WHERE window_start < $1");

fn entry(r: &impl Columns) -> Result<BufferedEntry> {
    let claim = match (r.text(8)?.as_str(), r.opt_text(9)?, r.opt_int(10)?) {
        ("claimed", Some(by), Some(until)) => Some((by, until)),
        _ => None,
    };
    Ok(BufferedEntry {
        seq: r.int(0)?,
        run_id: r.text(1)?,
        env_id: r.text(2)?,
        org_id: r.text(3)?,
        task_id: r.text(4)?,
        idempotency_key: r.opt_text(5)?,
        request_key: r.opt_text(6)?,
        body: r.text(7)?,
        claim,
        attempts: r.int(11)?,
        created_at: r.int(12)?,
        expires_at: r.int(13)?,
        batch_id: r.opt_text(14)?,
    })
}

impl<C: Db> MollifierRead for C {
    fn buffered(&mut self, env_id: &str, run_id: &str) -> Result<Option<BufferedEntry>> {
        self.query_first(&BY_RUN, &[&env_id, &run_id], |r| entry(r))
    }

    fn buffered_by_idempotency_key(
        &mut self,
        env_id: &str,
        task_id: &str,
        key: &str,
    ) -> Result<Option<BufferedEntry>> {
        self.query_first(&BY_IDEMPOTENCY_KEY, &[&env_id, &task_id, &key], |r| {
            entry(r)
        })
    }

    fn buffered_by_request_key(
        &mut self,
        env_id: &str,
        key: &str,
    ) -> Result<Option<BufferedEntry>> {
        self.query_first(&BY_REQUEST_KEY, &[&env_id, &key], |r| entry(r))
    }

    fn buffered_entries(
        &mut self,
        env_id: &str,
        from: BufferCursor,
        limit: i64,
    ) -> Result<Vec<BufferedEntry>> {
        match from {
            BufferCursor::Below(seq) => {
                self.query(&NEWEST_BELOW, &[&env_id, &seq, &limit], |r| entry(r))
            }
            BufferCursor::Above(seq) => {
                self.query(&OLDEST_ABOVE, &[&env_id, &seq, &limit], |r| entry(r))
            }
        }
    }

    fn buffered_of_batch(&mut self, env_id: &str, batch_id: &str) -> Result<Vec<BufferedEntry>> {
        self.query(&OF_BATCH, &[&env_id, &batch_id], |r| entry(r))
    }

    fn buffer_depths(&mut self, limit: i64) -> Result<Vec<BufferDepth>> {
        self.query(&DEPTHS, &[&limit], |r| {
            Ok(BufferDepth {
                env_id: r.text(0)?,
                org_id: r.text(1)?,
                depth: r.int(2)?,
                oldest_at: r.int(3)?,
            })
        })
    }

    fn buffered_envs(&mut self, limit: i64) -> Result<Vec<(String, String)>> {
        self.query(&ENVS, &[&limit], |r| Ok((r.text(0)?, r.text(1)?)))
    }

    fn org_of_env(&mut self, env_id: &str) -> Result<Option<String>> {
        self.query_first(&ORG_OF_ENV, &[&env_id], |r| r.text(0))
    }

    fn mollifier_trips(&mut self, now: Millis) -> Result<Vec<(String, Millis)>> {
        self.query(&TRIPS, &[&now], |r| Ok((r.text(0)?, r.int(1)?)))
    }

    fn mollifier_settings(&mut self) -> Result<Vec<(String, String)>> {
        self.query(&SETTINGS, &[], |r| Ok((r.text(0)?, r.text(1)?)))
    }
}

/// The buffer statements with lists, which PostgreSQL writes with arrays; by default one
/// statement per entry (SQLite, with no round trips to save).
pub(crate) trait BufferNative: Db + Sized {
    /// [`MollifierTx::insert_buffered_all`].
    fn insert_buffered_at_once(&mut self, entries: &[BufferedEntry]) -> Result<()> {
        for e in entries {
            insert_entry(self, e)?;
        }
        Ok(())
    }
    /// [`MollifierTx::delete_buffered_runs`].
    fn delete_buffered_at_once(&mut self, run_ids: &[&str]) -> Result<()> {
        for run_id in run_ids {
            self.execute(&DELETE, &[run_id])?;
        }
        Ok(())
    }
}

/// [`MollifierTx::insert_buffered`]: whether the entry was written.
fn insert_entry<C: Db>(db: &mut C, e: &BufferedEntry) -> Result<bool> {
    let changed = db.execute(
        &INSERT,
        &[
            &e.run_id,
            &e.env_id,
            &e.org_id,
            &e.task_id,
            &e.idempotency_key,
            &e.request_key,
            &e.body,
            &e.created_at,
            &e.expires_at,
            &e.batch_id,
        ],
    )?;
    Ok(changed == 1)
}

impl<C: BufferNative> MollifierTx for C {
    fn insert_buffered(&mut self, e: &BufferedEntry) -> Result<bool> {
        insert_entry(self, e)
    }

    fn insert_buffered_all(&mut self, entries: &[BufferedEntry]) -> Result<()> {
        match entries {
            [] => Ok(()),
            [one] => insert_entry(self, one).map(drop),
            _ => self.insert_buffered_at_once(entries),
        }
    }

    fn delete_buffered_runs(&mut self, run_ids: &[&str]) -> Result<()> {
        match run_ids {
            [] => Ok(()),
            _ => self.delete_buffered_at_once(run_ids),
        }
    }

    fn claim_buffered(
        &mut self,
        env_id: &str,
        claimer: &str,
        now: Millis,
        until: Millis,
    ) -> Result<Option<BufferedEntry>> {
        Ok(self
            .claim_buffered_many(env_id, claimer, now, until, 1)?
            .pop())
    }

    fn lock_buffered(
        &mut self,
        env_id: &str,
        now: Millis,
        limit: i64,
    ) -> Result<Vec<BufferedEntry>> {
        self.query(&NEXT_FREE, &[&env_id, &now, &limit], |r| entry(r))
    }

    fn claim_buffered_many(
        &mut self,
        env_id: &str,
        claimer: &str,
        now: Millis,
        until: Millis,
        limit: i64,
    ) -> Result<Vec<BufferedEntry>> {
        let mut found = self.lock_buffered(env_id, now, limit)?;
        for e in &mut found {
            self.execute(&CLAIM, &[&e.seq, &claimer, &until])?;
            e.claim = Some((claimer.to_string(), until));
        }
        Ok(found)
    }

    fn claim_expired_buffered(
        &mut self,
        claimer: &str,
        now: Millis,
        until: Millis,
        limit: i64,
    ) -> Result<Vec<BufferedEntry>> {
        let mut found = self.query(&EXPIRED, &[&now, &limit], |r| entry(r))?;
        for e in &mut found {
            self.execute(&CLAIM, &[&e.seq, &claimer, &until])?;
            e.claim = Some((claimer.to_string(), until));
        }
        Ok(found)
    }

    fn release_buffered(&mut self, run_id: &str, claimer: &str) -> Result<bool> {
        Ok(self.execute(&RELEASE, &[&run_id, &claimer])? == 1)
    }

    fn delete_buffered(&mut self, run_id: &str, claimer: Option<&str>) -> Result<bool> {
        let changed = match claimer {
            Some(c) => self.execute(&DELETE_CLAIMED, &[&run_id, &c])?,
            None => self.execute(&DELETE, &[&run_id])?,
        };
        Ok(changed == 1)
    }

    fn put_mollifier_trips(&mut self, server_id: &str, trips: &[(String, Millis)]) -> Result<()> {
        self.execute(&DELETE_TRIPS, &[&server_id])?;
        for (env_id, until) in trips {
            self.execute(&INSERT_TRIP, &[&server_id, env_id, until])?;
        }
        Ok(())
    }

    fn add_trip_count(
        &mut self,
        server_id: &str,
        env_id: &str,
        window_start: Millis,
        added: i64,
    ) -> Result<i64> {
        self.execute(&ADD_COUNT, &[&env_id, &window_start, &server_id, &added])?;
        Ok(self
            .query_first(&WINDOW_TOTAL, &[&env_id, &window_start], |r| r.int(0))?
            .unwrap_or(0))
    }

    fn extend_mollifier_trip(
        &mut self,
        server_id: &str,
        env_id: &str,
        until: Millis,
    ) -> Result<()> {
        self.execute(&EXTEND_TRIP, &[&server_id, &env_id, &until])?;
        Ok(())
    }

    fn prune_trip_counts(&mut self, before: Millis) -> Result<u64> {
        self.execute(&PRUNE_COUNTS, &[&before])
    }

    fn put_mollifier_setting(
        &mut self,
        scope: &str,
        settings: Option<&str>,
        now: Millis,
    ) -> Result<()> {
        match settings {
            Some(s) => self.execute(&PUT_SETTING, &[&scope, &s, &now])?,
            None => self.execute(&DELETE_SETTING, &[&scope])?,
        };
        Ok(())
    }
}
