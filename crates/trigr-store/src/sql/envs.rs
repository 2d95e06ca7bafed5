//! Organizations, projects, environments and their API keys.

use trigr_types::Millis;

use super::{int, sql, Db, Sql};
use crate::model::Environment;
use crate::rows::{self, Columns, ENV_COLUMNS};
use crate::tx::{EnvRead, EnvTx};
use crate::Result;

static HAS_ENVIRONMENTS: Sql = sql!("SELECT EXISTS (SELECT 1 FROM environments)");
static INSERT_ORGANIZATION: Sql =
    sql!("INSERT INTO organizations (id, slug, created_at) VALUES ($1, $2, $3)");
static INSERT_PROJECT: Sql =
    sql!("INSERT INTO projects (id, org_id, ref, name, created_at) VALUES ($1, $2, $3, $4, $5)");
static INSERT_ENVIRONMENT: Sql = sql!(
    "INSERT INTO environments (id, project_id, slug, kind, concurrency_limit, current_version, \
     signing_secret, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
);
static ENVIRONMENTS: Sql = sql!("SELECT {ENV_COLUMNS} FROM environments ORDER BY created_at, slug");
static ENVIRONMENT: Sql = sql!("SELECT {ENV_COLUMNS} FROM environments WHERE id = $1");
static ENVIRONMENT_FOR_UPDATE: Sql =
    sql!(Update: "SELECT {ENV_COLUMNS} FROM environments WHERE id = $1");
static ENVIRONMENT_FOR_SHARE: Sql =
    sql!(Share: "SELECT {ENV_COLUMNS} FROM environments WHERE id = $1");
static INSERT_API_KEY: Sql = sql!(
    "INSERT INTO api_keys (key_hash, env_id, created_at) VALUES ($1, $2, $3) \
     ON CONFLICT DO NOTHING"
);
static API_KEY_COUNT: Sql = sql!("SELECT COUNT(*) FROM api_keys WHERE env_id = $1");
static ENV_BY_KEY_HASH: Sql = sql!(
    "SELECT {} FROM environments e JOIN api_keys k ON k.env_id = e.id WHERE k.key_hash = $1",
    ENV_COLUMNS
        .split(", ")
        .map(|c| format!("e.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
);
static SET_CONCURRENCY_LIMIT: Sql =
    sql!("UPDATE environments SET concurrency_limit = $2 WHERE id = $1");
static SET_CURRENT_VERSION: Sql =
    sql!("UPDATE environments SET current_version = $2 WHERE id = $1");

impl<C: Db> EnvRead for C {
    fn has_environments(&mut self) -> Result<bool> {
        Ok(self
            .query_first(&HAS_ENVIRONMENTS, &[], |r| r.flag(0))?
            .unwrap_or(false))
    }

    fn environments(&mut self) -> Result<Vec<Environment>> {
        self.query(&ENVIRONMENTS, &[], |r| rows::environment(r))
    }

    fn environment(&mut self, id: &str) -> Result<Option<Environment>> {
        self.query_first(&ENVIRONMENT, &[&id], |r| rows::environment(r))
    }

    fn api_key_count(&mut self, env_id: &str) -> Result<i64> {
        int(self, &API_KEY_COUNT, &[&env_id])
    }

    fn env_by_key_hash(&mut self, key_hash: &str) -> Result<Option<Environment>> {
        self.query_first(&ENV_BY_KEY_HASH, &[&key_hash], |r| rows::environment(r))
    }
}

impl<C: Db> EnvTx for C {
    fn insert_organization(&mut self, id: &str, slug: &str, now: Millis) -> Result<()> {
        self.execute(&INSERT_ORGANIZATION, &[&id, &slug, &now])?;
        Ok(())
    }

    fn insert_project(
        &mut self,
        id: &str,
        org_id: &str,
        project_ref: &str,
        name: &str,
        now: Millis,
    ) -> Result<()> {
        self.execute(&INSERT_PROJECT, &[&id, &org_id, &project_ref, &name, &now])?;
        Ok(())
    }

    fn insert_environment(&mut self, env: &Environment, now: Millis) -> Result<()> {
        self.execute(
            &INSERT_ENVIRONMENT,
            &[
                &env.id,
                &env.project_id,
                &env.slug,
                &env.kind.as_str(),
                &env.concurrency_limit,
                &env.current_version,
                &env.signing_secret,
                &now,
            ],
        )?;
        Ok(())
    }

    fn environment_for_update(&mut self, id: &str) -> Result<Option<Environment>> {
        self.query_first(&ENVIRONMENT_FOR_UPDATE, &[&id], |r| rows::environment(r))
    }

    fn environment_for_share(&mut self, id: &str) -> Result<Option<Environment>> {
        self.query_first(&ENVIRONMENT_FOR_SHARE, &[&id], |r| rows::environment(r))
    }

    fn insert_api_key(&mut self, key_hash: &str, env_id: &str, now: Millis) -> Result<bool> {
        Ok(self.execute(&INSERT_API_KEY, &[&key_hash, &env_id, &now])? == 1)
    }

    fn set_env_concurrency_limit(&mut self, env_id: &str, limit: i64) -> Result<()> {
        self.execute(&SET_CONCURRENCY_LIMIT, &[&env_id, &limit])?;
        Ok(())
    }

    fn set_current_version(&mut self, env_id: &str, version: &str) -> Result<()> {
        self.execute(&SET_CURRENT_VERSION, &[&env_id, &version])?;
        Ok(())
    }
}
