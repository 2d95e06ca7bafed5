//! An environment's key-value entries (`crate::kv`).

use super::{sql, Db, Sql};
use crate::kv::{KvEntry, KvRead, KvSpace, KvTx};
use crate::rows::Columns;
use crate::Result;
use trigr_types::Millis;

static ENTRY: Sql = sql!(
    "SELECT key, value, expires_at, updated_at FROM env_kv \
     WHERE env_id = $1 AND space = $2 AND key = $3 AND (expires_at IS NULL OR expires_at > $4)"
);
/// Writing an entry, replacing any row of its key: the text both `PUT` and
/// `PUT_IF_ABSENT` are built from.
const UPSERT: &str = "INSERT INTO env_kv (env_id, space, key, value, expires_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (env_id, space, key) DO UPDATE SET value = excluded.value, \
     expires_at = excluded.expires_at, updated_at = excluded.updated_at";
static PUT: Sql = sql!("{UPSERT}");
// The conflict clause updates only a row that has expired at `$7`: a live row is left as it
// is and the statement changes no row. The database decides the race between writers.
static PUT_IF_ABSENT: Sql =
    sql!("{UPSERT} WHERE env_kv.expires_at IS NOT NULL AND env_kv.expires_at <= $7");
static DELETE_LIVE: Sql = sql!(
    "DELETE FROM env_kv WHERE env_id = $1 AND space = $2 AND key = $3 \
     AND (expires_at IS NULL OR expires_at > $4)"
);
// The outer `expires_at <= $1` is checked again on a row a concurrent writer gave a new
// expiry (PostgreSQL re-reads a changed row before deleting it): that row stays.
static DELETE_EXPIRED: Sql = sql!(
    "DELETE FROM env_kv WHERE expires_at <= $1 AND (env_id, space, key) IN \
     (SELECT env_id, space, key FROM env_kv WHERE expires_at <= $1 \
      ORDER BY expires_at LIMIT $2)"
);

fn entry(r: &impl Columns) -> Result<KvEntry> {
    Ok(KvEntry {
        key: r.text(0)?,
        value: r.text(1)?,
        expires_at: r.opt_int(2)?,
        updated_at: r.int(3)?,
    })
}

impl<C: Db> KvRead for C {
    fn kv_entries(
        &mut self,
        env_id: &str,
        space: KvSpace,
        keys: &[String],
        now: Millis,
    ) -> Result<Vec<KvEntry>> {
        let space = space.as_str();
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            found.extend(self.query_first(&ENTRY, &[&env_id, &space, key, &now], |r| entry(r))?);
        }
        Ok(found)
    }
}

impl<C: Db> KvTx for C {
    fn kv_put(&mut self, env_id: &str, space: KvSpace, e: &KvEntry) -> Result<()> {
        let space = space.as_str();
        self.execute(
            &PUT,
            &[
                &env_id,
                &space,
                &e.key,
                &e.value,
                &e.expires_at,
                &e.updated_at,
            ],
        )?;
        Ok(())
    }

    fn kv_put_if_absent(
        &mut self,
        env_id: &str,
        space: KvSpace,
        e: &KvEntry,
        now: Millis,
    ) -> Result<bool> {
        let space = space.as_str();
        let written = self.execute(
            &PUT_IF_ABSENT,
            &[
                &env_id,
                &space,
                &e.key,
                &e.value,
                &e.expires_at,
                &e.updated_at,
                &now,
            ],
        )?;
        Ok(written == 1)
    }

    fn kv_delete(
        &mut self,
        env_id: &str,
        space: KvSpace,
        keys: &[String],
        now: Millis,
    ) -> Result<u64> {
        let space = space.as_str();
        // In key order, so concurrent deletes (and writes, see `kv_put`'s callers) naming
        // the same keys lock their rows in one order and never deadlock each other.
        let mut sorted: Vec<&String> = keys.iter().collect();
        sorted.sort_unstable();
        let mut deleted = 0;
        for key in sorted {
            deleted += self.execute(&DELETE_LIVE, &[&env_id, &space, key, &now])?;
        }
        Ok(deleted)
    }

    fn delete_expired_kv(&mut self, now: Millis, limit: usize) -> Result<u64> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.execute(&DELETE_EXPIRED, &[&now, &limit])
    }
}
