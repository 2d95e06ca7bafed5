//! Deployments and their task manifests (stored as JSON text).

use trigr_types::Millis;

use super::{to_json, PgTx};
use crate::model::Deployment;
use crate::rows::{self, DEPLOYMENT_COLUMNS};
use crate::tx::DeploymentTx;
use crate::Result;

impl DeploymentTx for PgTx<'_> {
    fn count_deployments_on_day(&mut self, env_id: &str, day: &str) -> Result<i64> {
        self.scalar(
            "SELECT COUNT(*) FROM deployments WHERE env_id = $1 AND day = $2",
            &[&env_id, &day],
        )
    }

    fn insert_deployment(&mut self, d: &Deployment) -> Result<()> {
        self.exec(
            &format!("INSERT INTO deployments ({DEPLOYMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
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

    fn deployment_by_hash(&mut self, env_id: &str, hash: &str) -> Result<Option<Deployment>> {
        let sql = format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE env_id = $1 AND content_hash = $2 \
             ORDER BY created_at DESC LIMIT 1"
        );
        self.opt_row(&sql, &[&env_id, &hash])?
            .as_ref()
            .map(rows::deployment)
            .transpose()
    }

    fn deployment(&mut self, env_id: &str, version: &str) -> Result<Option<Deployment>> {
        let sql = format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE env_id = $1 AND version = $2"
        );
        self.opt_row(&sql, &[&env_id, &version])?
            .as_ref()
            .map(rows::deployment)
            .transpose()
    }

    fn deployments(&mut self, env_id: &str, limit: usize) -> Result<Vec<Deployment>> {
        // Versions of one day sort by their counter; ties within a millisecond are rare.
        let sql = format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE env_id = $1 \
             ORDER BY created_at DESC, day DESC, length(version) DESC, version DESC LIMIT $2"
        );
        self.rows(&sql, &[&env_id, &(limit as i64)])?
            .iter()
            .map(rows::deployment)
            .collect()
    }

    fn set_promoted(&mut self, env_id: &str, version: &str, at: Millis) -> Result<()> {
        self.exec(
            "UPDATE deployments SET promoted_at = $3 WHERE env_id = $1 AND version = $2",
            &[&env_id, &version, &at],
        )?;
        Ok(())
    }

    fn touch_worker(&mut self, env_id: &str, version: &str, at: Millis) -> Result<()> {
        self.exec(
            "INSERT INTO worker_presence (env_id, version, last_seen_at) VALUES ($1, $2, $3) \
             ON CONFLICT (env_id, version) DO UPDATE SET last_seen_at = excluded.last_seen_at \
             WHERE worker_presence.last_seen_at < excluded.last_seen_at",
            &[&env_id, &version, &at],
        )?;
        Ok(())
    }

    fn workers_seen(&mut self, env_id: &str) -> Result<Vec<(String, Millis)>> {
        self.rows(
            "SELECT version, last_seen_at FROM worker_presence WHERE env_id = $1 ORDER BY version",
            &[&env_id],
        )?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
    }
}
