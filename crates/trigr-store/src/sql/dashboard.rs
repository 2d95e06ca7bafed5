//! The dashboard's sessions, links and overview figures.

use super::{sql, Db, Sql};
use crate::dashboard::{join_ids, split_ids};
use crate::rows::Columns;
use crate::Result;
use crate::{DashboardLink, DashboardRead, DashboardSession, DashboardTx, Error, FinishedBucket};
use trigr_types::{Millis, RunStatus};

static SESSION: Sql = sql!(
    "SELECT token_hash, env_ids, created_at, expires_at FROM dashboard_sessions \
     WHERE token_hash = $1 AND expires_at > $2"
);
static INSERT_SESSION: Sql = sql!(
    "INSERT INTO dashboard_sessions (token_hash, env_ids, created_at, expires_at) \
     VALUES ($1, $2, $3, $4)"
);
static DELETE_SESSION: Sql = sql!("DELETE FROM dashboard_sessions WHERE token_hash = $1");
static DELETE_EXPIRED_SESSIONS: Sql = sql!("DELETE FROM dashboard_sessions WHERE expires_at <= $1");
static DELETE_EXPIRED_LINKS: Sql = sql!("DELETE FROM dashboard_links WHERE expires_at <= $1");
static INSERT_LINK: Sql = sql!(
    "INSERT INTO dashboard_links (token_hash, env_ids, created_at, expires_at, used_at) \
     VALUES ($1, $2, $3, $4, NULL)"
);
static UNUSED_LINK: Sql = sql!(Update:
    "SELECT token_hash, env_ids, created_at, expires_at FROM dashboard_links \
     WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2"
);
static USE_LINK: Sql =
    sql!("UPDATE dashboard_links SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL");
// `runs_finished (env_id, finished_at, seq)` serves the range; the window bounds the rows.
static FINISHED_BUCKETS: Sql = sql!(
    "SELECT (finished_at - $2) / $3 AS bucket, status, COUNT(*) FROM runs \
     WHERE env_id = $1 AND finished_at IS NOT NULL AND finished_at >= $2 AND finished_at < $4 \
     GROUP BY bucket, status ORDER BY bucket, status"
);

fn session(r: &impl Columns) -> Result<DashboardSession> {
    Ok(DashboardSession {
        token_hash: r.text(0)?,
        env_ids: split_ids(&r.text(1)?),
        created_at: r.int(2)?,
        expires_at: r.int(3)?,
    })
}

fn link(r: &impl Columns) -> Result<DashboardLink> {
    Ok(DashboardLink {
        token_hash: r.text(0)?,
        env_ids: split_ids(&r.text(1)?),
        created_at: r.int(2)?,
        expires_at: r.int(3)?,
    })
}

fn bucket(r: &impl Columns) -> Result<FinishedBucket> {
    let status = r.text(1)?;
    Ok(FinishedBucket {
        bucket: r.int(0)?,
        status: status
            .parse::<RunStatus>()
            .map_err(|_| Error::Corrupt(format!("run status '{status}'")))?,
        runs: r.int(2)?,
    })
}

impl<C: Db> DashboardRead for C {
    fn dashboard_session(
        &mut self,
        token_hash: &str,
        now: Millis,
    ) -> Result<Option<DashboardSession>> {
        self.query_first(&SESSION, &[&token_hash, &now], |r| session(r))
    }

    fn finished_buckets(
        &mut self,
        env_id: &str,
        from: Millis,
        width: i64,
        buckets: i64,
    ) -> Result<Vec<FinishedBucket>> {
        let width = width.max(1);
        let to = from.saturating_add(width.saturating_mul(buckets.max(0)));
        self.query(&FINISHED_BUCKETS, &[&env_id, &from, &width, &to], |r| {
            bucket(r)
        })
    }
}

impl<C: Db> DashboardTx for C {
    fn insert_dashboard_session(&mut self, s: &DashboardSession) -> Result<()> {
        let ids = join_ids(&s.env_ids);
        self.execute(
            &INSERT_SESSION,
            &[&s.token_hash, &ids, &s.created_at, &s.expires_at],
        )?;
        Ok(())
    }

    fn delete_dashboard_session(&mut self, token_hash: &str) -> Result<bool> {
        Ok(self.execute(&DELETE_SESSION, &[&token_hash])? > 0)
    }

    fn delete_expired_dashboard_sign_ins(&mut self, now: Millis) -> Result<u64> {
        let sessions = self.execute(&DELETE_EXPIRED_SESSIONS, &[&now])?;
        let links = self.execute(&DELETE_EXPIRED_LINKS, &[&now])?;
        Ok(sessions + links)
    }

    fn insert_dashboard_link(&mut self, l: &DashboardLink) -> Result<()> {
        let ids = join_ids(&l.env_ids);
        self.execute(
            &INSERT_LINK,
            &[&l.token_hash, &ids, &l.created_at, &l.expires_at],
        )?;
        Ok(())
    }

    fn redeem_dashboard_link(
        &mut self,
        token_hash: &str,
        now: Millis,
    ) -> Result<Option<DashboardLink>> {
        let Some(found) = self.query_first(&UNUSED_LINK, &[&token_hash, &now], |r| link(r))? else {
            return Ok(None);
        };
        // The compare-and-set: a concurrent use that got there first leaves nothing to set.
        let used = self.execute(&USE_LINK, &[&token_hash, &now])?;
        Ok((used == 1).then_some(found))
    }
}
