//! Organizations, projects, environments and their API keys.

use trigr_types::Millis;

use super::{int, sql, Db, Sql};
use crate::model::{ApiKey, Environment, Project};
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
    "INSERT INTO api_keys (key_hash, prefix, env_id, created_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT DO NOTHING"
);
static EXPIRE_API_KEYS: Sql = sql!(
    "UPDATE api_keys SET expires_at = $2 WHERE env_id = $1 AND revoked_at IS NULL \
     AND (expires_at IS NULL OR expires_at > $2)"
);
static REVOKE_API_KEY: Sql =
    sql!("UPDATE api_keys SET revoked_at = $2 WHERE key_hash = $1 AND revoked_at IS NULL");
static API_KEYS: Sql = sql!(
    "SELECT key_hash, env_id, prefix, created_at, expires_at, revoked_at FROM api_keys \
     ORDER BY env_id, created_at, key_hash"
);
static PROJECTS: Sql =
    sql!("SELECT id, org_id, ref, name, created_at FROM projects ORDER BY created_at, name");
static API_KEY_COUNT: Sql = sql!("SELECT COUNT(*) FROM api_keys WHERE env_id = $1");
static ENV_BY_KEY_HASH: Sql = sql!(
    "SELECT {}, k.expires_at, k.revoked_at FROM environments e \
     JOIN api_keys k ON k.env_id = e.id WHERE k.key_hash = $1",
    ENV_COLUMNS
        .split(", ")
        .map(|c| format!("e.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
);
static SET_CONCURRENCY_LIMIT: Sql =
    sql!("UPDATE environments SET concurrency_limit = $2 WHERE id = $1");
static SET_DEFAULT_REGION: Sql = sql!("UPDATE environments SET default_region = $2 WHERE id = $1");
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

    fn env_by_key_hash(&mut self, key_hash: &str) -> Result<Option<(Environment, Option<Millis>)>> {
        let ends = rows::ENV_COLUMNS.split(", ").count();
        self.query_first(&ENV_BY_KEY_HASH, &[&key_hash], |r| {
            let key = ApiKey {
                key_hash: String::new(),
                env_id: String::new(),
                prefix: None,
                created_at: 0,
                expires_at: r.opt_int(ends)?,
                revoked_at: r.opt_int(ends + 1)?,
            };
            Ok((rows::environment(r)?, key.ends_at()))
        })
    }

    fn api_keys(&mut self) -> Result<Vec<ApiKey>> {
        self.query(&API_KEYS, &[], |r| {
            Ok(ApiKey {
                key_hash: r.text(0)?,
                env_id: r.text(1)?,
                prefix: r.opt_text(2)?,
                created_at: r.int(3)?,
                expires_at: r.opt_int(4)?,
                revoked_at: r.opt_int(5)?,
            })
        })
    }

    fn projects(&mut self) -> Result<Vec<Project>> {
        self.query(&PROJECTS, &[], |r| {
            Ok(Project {
                id: r.text(0)?,
                org_id: r.text(1)?,
                project_ref: r.text(2)?,
                name: r.text(3)?,
                created_at: r.int(4)?,
            })
        })
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

    fn insert_api_key(
        &mut self,
        key_hash: &str,
        prefix: &str,
        env_id: &str,
        now: Millis,
    ) -> Result<bool> {
        Ok(self.execute(&INSERT_API_KEY, &[&key_hash, &prefix, &env_id, &now])? == 1)
    }

    fn expire_api_keys(&mut self, env_id: &str, at: Millis) -> Result<usize> {
        Ok(self.execute(&EXPIRE_API_KEYS, &[&env_id, &at])? as usize)
    }

    fn revoke_api_key(&mut self, key_hash: &str, now: Millis) -> Result<bool> {
        Ok(self.execute(&REVOKE_API_KEY, &[&key_hash, &now])? == 1)
    }

    fn set_env_concurrency_limit(&mut self, env_id: &str, limit: i64) -> Result<()> {
        self.execute(&SET_CONCURRENCY_LIMIT, &[&env_id, &limit])?;
        Ok(())
    }

    fn set_current_version(&mut self, env_id: &str, version: &str) -> Result<()> {
        self.execute(&SET_CURRENT_VERSION, &[&env_id, &version])?;
        Ok(())
    }

    fn set_default_region(&mut self, env_id: &str, region: Option<&str>) -> Result<()> {
        self.execute(&SET_DEFAULT_REGION, &[&env_id, &region])?;
        Ok(())
    }
}
