use rusqlite::params;
use trigr_types::Millis;

use super::{to_json, SqliteTx};
use crate::model::Deployment;
use crate::rows::{self, DEPLOYMENT_COLUMNS};
use crate::tx::DeploymentTx;
use crate::Result;

impl DeploymentTx for SqliteTx<'_> {
    fn count_deployments_on_day(&mut self, env_id: &str, day: &str) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM deployments WHERE env_id = ?1 AND day = ?2",
            params![env_id, day],
            |r| r.get(0),
        )?)
    }

    fn insert_deployment(&mut self, d: &Deployment) -> Result<()> {
        self.conn.execute(
            &format!("INSERT INTO deployments ({DEPLOYMENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
            params![d.id, d.env_id, d.version, d.day, to_json(&d.tasks), d.created_at, d.promoted_at, d.content_hash],
        )?;
        Ok(())
    }

    fn deployment_by_hash(&mut self, env_id: &str, hash: &str) -> Result<Option<Deployment>> {
        self.first(
            &format!(
                "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE env_id = ?1 AND content_hash = ?2 \
                 ORDER BY created_at DESC LIMIT 1"
            ),
            params![env_id, hash],
            |r| rows::deployment(r),
        )
    }

    fn deployment(&mut self, env_id: &str, version: &str) -> Result<Option<Deployment>> {
        self.first(
            &format!(
                "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE env_id = ?1 AND version = ?2"
            ),
            params![env_id, version],
            |r| rows::deployment(r),
        )
    }

    fn deployments(&mut self, env_id: &str, limit: usize) -> Result<Vec<Deployment>> {
        self.all(
            &format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE env_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2"),
            params![env_id, limit as i64],
            |r| rows::deployment(r),
        )
    }

    fn set_promoted(&mut self, env_id: &str, version: &str, at: Millis) -> Result<()> {
        self.conn.execute(
            "UPDATE deployments SET promoted_at = ?3 WHERE env_id = ?1 AND version = ?2",
            params![env_id, version, at],
        )?;
        Ok(())
    }

    fn touch_worker(&mut self, env_id: &str, version: &str, at: Millis) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO worker_presence (env_id, version, last_seen_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (env_id, version) DO UPDATE SET last_seen_at = excluded.last_seen_at \
             WHERE worker_presence.last_seen_at < excluded.last_seen_at",
        )?;
        st.execute(params![env_id, version, at])?;
        Ok(())
    }

    fn workers_seen(&mut self, env_id: &str) -> Result<Vec<(String, Millis)>> {
        self.all(
            "SELECT version, last_seen_at FROM worker_presence WHERE env_id = ?1 ORDER BY version",
            [env_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }
}
