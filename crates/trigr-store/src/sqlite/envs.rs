use rusqlite::params;
use trigr_types::Millis;

use super::SqliteTx;
use crate::model::Environment;
use crate::rows::{self, ENV_COLUMNS};
use crate::tx::EnvTx;
use crate::Result;

impl EnvTx for SqliteTx<'_> {
    fn has_environments(&mut self) -> Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT EXISTS (SELECT 1 FROM environments)", [], |r| {
                r.get(0)
            })?)
    }

    fn insert_organization(&mut self, id: &str, slug: &str, now: Millis) -> Result<()> {
        self.conn.execute(
            "INSERT INTO organizations (id, slug, created_at) VALUES (?1, ?2, ?3)",
            params![id, slug, now],
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
        self.conn.execute(
            "INSERT INTO projects (id, org_id, ref, name, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, org_id, project_ref, name, now],
        )?;
        Ok(())
    }

    fn insert_environment(&mut self, env: &Environment, now: Millis) -> Result<()> {
        self.conn.execute(
            "INSERT INTO environments (id, project_id, slug, kind, concurrency_limit, current_version, signing_secret, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![env.id, env.project_id, env.slug, env.kind.as_str(), env.concurrency_limit, env.current_version,
                env.signing_secret,
                now],
        )?;
        Ok(())
    }

    fn environments(&mut self) -> Result<Vec<Environment>> {
        self.all(
            &format!("SELECT {ENV_COLUMNS} FROM environments ORDER BY created_at, slug"),
            [],
            |r| rows::environment(r),
        )
    }

    fn environment(&mut self, id: &str) -> Result<Option<Environment>> {
        self.first(
            &format!("SELECT {ENV_COLUMNS} FROM environments WHERE id = ?1"),
            [id],
            |r| rows::environment(r),
        )
    }

    fn environment_for_update(&mut self, id: &str) -> Result<Option<Environment>> {
        // One writer thread: nothing else can change it before this transaction ends.
        self.environment(id)
    }

    fn environment_for_share(&mut self, id: &str) -> Result<Option<Environment>> {
        // One writer thread: nothing else can change it before this transaction ends.
        self.environment(id)
    }

    fn insert_api_key(&mut self, key_hash: &str, env_id: &str, now: Millis) -> Result<bool> {
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO api_keys (key_hash, env_id, created_at) VALUES (?1, ?2, ?3)",
            params![key_hash, env_id, now],
        )?;
        Ok(n == 1)
    }

    fn api_key_count(&mut self, env_id: &str) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM api_keys WHERE env_id = ?1",
            [env_id],
            |r| r.get(0),
        )?)
    }

    fn env_by_key_hash(&mut self, key_hash: &str) -> Result<Option<Environment>> {
        let columns: Vec<String> = ENV_COLUMNS.split(", ").map(|c| format!("e.{c}")).collect();
        let sql = format!(
            "SELECT {} FROM environments e JOIN api_keys k ON k.env_id = e.id WHERE k.key_hash = ?1",
            columns.join(", ")
        );
        self.first(&sql, [key_hash], |r| rows::environment(r))
    }

    fn set_env_concurrency_limit(&mut self, env_id: &str, limit: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE environments SET concurrency_limit = ?2 WHERE id = ?1",
            params![env_id, limit],
        )?;
        Ok(())
    }

    fn set_current_version(&mut self, env_id: &str, version: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE environments SET current_version = ?2 WHERE id = ?1",
            params![env_id, version],
        )?;
        Ok(())
    }
}
