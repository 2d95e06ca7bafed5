//! Organizations, projects, environments and their API keys.

use trigr_types::Millis;

use super::PgTx;
use crate::model::Environment;
use crate::rows::{self, ENV_COLUMNS};
use crate::tx::EnvTx;
use crate::Result;

impl PgTx<'_> {
    /// One environment, read with `lock` (`""`, `" FOR UPDATE"` or `" FOR SHARE"`).
    fn environment_locked(&mut self, id: &str, lock: &str) -> Result<Option<Environment>> {
        let sql = format!("SELECT {ENV_COLUMNS} FROM environments WHERE id = $1{lock}");
        self.opt_row(&sql, &[&id])?
            .as_ref()
            .map(rows::environment)
            .transpose()
    }
}

impl EnvTx for PgTx<'_> {
    fn has_environments(&mut self) -> Result<bool> {
        self.scalar("SELECT EXISTS (SELECT 1 FROM environments)", &[])
    }

    fn insert_organization(&mut self, id: &str, slug: &str, now: Millis) -> Result<()> {
        self.exec(
            "INSERT INTO organizations (id, slug, created_at) VALUES ($1, $2, $3)",
            &[&id, &slug, &now],
        )?;
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
        self.exec(
            "INSERT INTO projects (id, org_id, ref, name, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[&id, &org_id, &project_ref, &name, &now],
        )?;
        Ok(())
    }

    fn insert_environment(&mut self, env: &Environment, now: Millis) -> Result<()> {
        self.exec(
            "INSERT INTO environments (id, project_id, slug, kind, concurrency_limit, current_version, signing_secret, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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

    fn environments(&mut self) -> Result<Vec<Environment>> {
        let sql = format!("SELECT {ENV_COLUMNS} FROM environments ORDER BY created_at, slug");
        self.rows(&sql, &[])?
            .iter()
            .map(rows::environment)
            .collect()
    }

    fn environment(&mut self, id: &str) -> Result<Option<Environment>> {
        self.environment_locked(id, "")
    }

    fn environment_for_update(&mut self, id: &str) -> Result<Option<Environment>> {
        self.environment_locked(id, " FOR UPDATE")
    }

    fn environment_for_share(&mut self, id: &str) -> Result<Option<Environment>> {
        self.environment_locked(id, " FOR SHARE")
    }

    fn insert_api_key(&mut self, key_hash: &str, env_id: &str, now: Millis) -> Result<bool> {
        let n = self.exec(
            "INSERT INTO api_keys (key_hash, env_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&key_hash, &env_id, &now],
        )?;
        Ok(n == 1)
    }

    fn api_key_count(&mut self, env_id: &str) -> Result<i64> {
        self.scalar(
            "SELECT COUNT(*) FROM api_keys WHERE env_id = $1",
            &[&env_id],
        )
    }

    fn env_by_key_hash(&mut self, key_hash: &str) -> Result<Option<Environment>> {
        let columns = rows::ENV_COLUMNS
            .split(", ")
            .map(|c| format!("e.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM environments e JOIN api_keys k ON k.env_id = e.id WHERE k.key_hash = $1"
        );
        self.opt_row(&sql, &[&key_hash])?
            .as_ref()
            .map(rows::environment)
            .transpose()
    }

    fn set_env_concurrency_limit(&mut self, env_id: &str, limit: i64) -> Result<()> {
        self.exec(
            "UPDATE environments SET concurrency_limit = $2 WHERE id = $1",
            &[&env_id, &limit],
        )?;
        Ok(())
    }

    fn set_current_version(&mut self, env_id: &str, version: &str) -> Result<()> {
        self.exec(
            "UPDATE environments SET current_version = $2 WHERE id = $1",
            &[&env_id, &version],
        )?;
        Ok(())
    }
}
