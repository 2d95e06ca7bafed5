//! Deployments and their task manifests (stored as JSON text).

use trigr_types::Millis;

use super::{int, sql, Db, Sql};
use crate::model::{Deployment, LiveWorkers};
use crate::rows::{self, to_json, Columns, DEPLOYMENT_COLUMNS};
use crate::tx::{DeploymentRead, DeploymentTx};
use crate::Result;

static COUNT_ON_DAY: Sql = sql!("SELECT COUNT(*) FROM deployments WHERE env_id = $1 AND day = $2");
static INSERT: Sql =
    sql!("INSERT INTO deployments ({DEPLOYMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
static BY_HASH: Sql = sql!(
    "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE env_id = $1 AND content_hash = $2 \
     ORDER BY created_at DESC LIMIT 1"
);
static BY_VERSION: Sql =
    sql!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE env_id = $1 AND version = $2");
// Versions of one day sort by their counter; ties within a millisecond are rare.
static NEWEST: Sql = sql!(
    "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE env_id = $1 \
     ORDER BY created_at DESC, day DESC, length(version) DESC, version DESC LIMIT $2"
);
static NEWEST_VERSIONS: Sql = sql!(
    "SELECT version FROM deployments WHERE env_id = $1 \
     ORDER BY created_at DESC, day DESC, length(version) DESC, version DESC LIMIT $2"
);
static SET_PROMOTED: Sql =
    sql!("UPDATE deployments SET promoted_at = $3 WHERE env_id = $1 AND version = $2");
static TOUCH_WORKER: Sql = sql!(
    "INSERT INTO worker_presence (env_id, version, last_seen_at) VALUES ($1, $2, $3) \
     ON CONFLICT (env_id, version) DO UPDATE SET last_seen_at = excluded.last_seen_at \
     WHERE worker_presence.last_seen_at < excluded.last_seen_at"
);
static TOUCH_REGION: Sql = sql!(
    "INSERT INTO region_presence (env_id, region, last_seen_at) VALUES ($1, $2, $3) \
     ON CONFLICT (env_id, region) DO UPDATE SET last_seen_at = excluded.last_seen_at \
     WHERE region_presence.last_seen_at < excluded.last_seen_at"
);
static REGION_SEEN: Sql =
    sql!("SELECT last_seen_at FROM region_presence WHERE env_id = $1 AND region = $2");
static WORKERS_SEEN: Sql =
    sql!("SELECT version, last_seen_at FROM worker_presence WHERE env_id = $1 ORDER BY version");
static TOUCH_INSTANCE: Sql = sql!(
    "INSERT INTO worker_instances (env_id, version, worker_id, last_seen_at) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (env_id, version, worker_id) DO UPDATE SET last_seen_at = excluded.last_seen_at \
     WHERE worker_instances.last_seen_at < excluded.last_seen_at"
);
static PRUNE_INSTANCES: Sql =
    sql!("DELETE FROM worker_instances WHERE env_id = $1 AND version = $2 AND last_seen_at < $3");
static LIVE_IN_ENV: Sql = sql!(
    "SELECT version, count(*) FROM worker_instances WHERE env_id = $1 AND last_seen_at >= $2 \
     GROUP BY version ORDER BY version LIMIT $3"
);
static LIVE_EVERYWHERE: Sql = sql!(
    "SELECT env_id, version, count(*) FROM worker_instances WHERE last_seen_at >= $1 \
     GROUP BY env_id, version ORDER BY env_id, version LIMIT $2"
);

impl<C: Db> DeploymentRead for C {
    fn count_deployments_on_day(&mut self, env_id: &str, day: &str) -> Result<i64> {
        int(self, &COUNT_ON_DAY, &[&env_id, &day])
    }

    fn deployment(&mut self, env_id: &str, version: &str) -> Result<Option<Deployment>> {
        self.query_first(&BY_VERSION, &[&env_id, &version], |r| rows::deployment(r))
    }

    fn deployment_by_hash(&mut self, env_id: &str, hash: &str) -> Result<Option<Deployment>> {
        self.query_first(&BY_HASH, &[&env_id, &hash], |r| rows::deployment(r))
    }

    fn deployments(&mut self, env_id: &str, limit: usize) -> Result<Vec<Deployment>> {
        self.query(&NEWEST, &[&env_id, &(limit as i64)], |r| {
            rows::deployment(r)
        })
    }

    fn deployment_versions(&mut self, env_id: &str, limit: usize) -> Result<Vec<String>> {
        self.query(&NEWEST_VERSIONS, &[&env_id, &(limit as i64)], |r| r.text(0))
    }

    fn workers_seen(&mut self, env_id: &str) -> Result<Vec<(String, Millis)>> {
        self.query(&WORKERS_SEEN, &[&env_id], |r| Ok((r.text(0)?, r.int(1)?)))
    }

    fn region_seen(&mut self, env_id: &str, region: &str) -> Result<Option<Millis>> {
        self.query_first(&REGION_SEEN, &[&env_id, &region], |r| r.int(0))
    }

    fn live_workers_in(
        &mut self,
        env_id: &str,
        since: Millis,
        limit: usize,
    ) -> Result<Vec<(String, i64)>> {
        self.query(&LIVE_IN_ENV, &[&env_id, &since, &(limit as i64)], |r| {
            Ok((r.text(0)?, r.int(1)?))
        })
    }

    fn live_workers(&mut self, since: Millis, limit: usize) -> Result<Vec<LiveWorkers>> {
        self.query(&LIVE_EVERYWHERE, &[&since, &(limit as i64)], |r| {
            Ok(LiveWorkers {
                env_id: r.text(0)?,
                version: r.text(1)?,
                workers: r.int(2)?,
            })
        })
    }
}

impl<C: Db> DeploymentTx for C {
    fn insert_deployment(&mut self, d: &Deployment) -> Result<()> {
        self.execute(
            &INSERT,
            &[
                &d.id,
                &d.env_id,
                &d.version,
                &d.day,
                &to_json(&d.tasks),
                &d.created_at,
                &d.promoted_at,
                &d.content_hash,
            ],
        )?;
        Ok(())
    }

    fn set_promoted(&mut self, env_id: &str, version: &str, at: Millis) -> Result<()> {
        self.execute(&SET_PROMOTED, &[&env_id, &version, &at])?;
        Ok(())
    }

    fn touch_worker(&mut self, env_id: &str, version: &str, at: Millis) -> Result<()> {
        self.execute(&TOUCH_WORKER, &[&env_id, &version, &at])?;
        Ok(())
    }

    fn touch_worker_instance(
        &mut self,
        env_id: &str,
        version: &str,
        worker_id: &str,
        at: Millis,
        prune_before: Millis,
    ) -> Result<()> {
        self.execute(&TOUCH_INSTANCE, &[&env_id, &version, &worker_id, &at])?;
        self.execute(&PRUNE_INSTANCES, &[&env_id, &version, &prune_before])?;
        Ok(())
    }

    fn touch_region(&mut self, env_id: &str, region: &str, at: Millis) -> Result<()> {
        self.execute(&TOUCH_REGION, &[&env_id, &region, &at])?;
        Ok(())
    }
}
