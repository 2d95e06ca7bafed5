use rusqlite::{params, OptionalExtension, Row};
use trigr_types::Millis;

use super::{json_col, to_json, SqliteTx};
use crate::model::Deployment;
use crate::tx::DeploymentTx;
use crate::Result;

const COLUMNS: &str = "id, env_id, version, day, manifest, created_at, promoted_at";

fn deployment_from_row(r: &Row) -> rusqlite::Result<(Deployment, String)> {
    Ok((
        Deployment {
            id: r.get(0)?,
            env_id: r.get(1)?,
            version: r.get(2)?,
            day: r.get(3)?,
            tasks: Vec::new(),
            created_at: r.get(5)?,
            promoted_at: r.get(6)?,
        },
        r.get(4)?,
    ))
}

fn with_manifest((mut d, manifest): (Deployment, String)) -> Result<Deployment> {
    d.tasks = json_col(&manifest)?;
    Ok(d)
}

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
            "INSERT INTO deployments (id, env_id, version, day, manifest, created_at, promoted_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![d.id, d.env_id, d.version, d.day, to_json(&d.tasks), d.created_at, d.promoted_at],
        )?;
        Ok(())
    }

    fn deployment(&mut self, env_id: &str, version: &str) -> Result<Option<Deployment>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM deployments WHERE env_id = ?1 AND version = ?2"
        ))?;
        st.query_row(params![env_id, version], deployment_from_row)
            .optional()?
            .map(with_manifest)
            .transpose()
    }

    fn deployments(&mut self, env_id: &str, limit: usize) -> Result<Vec<Deployment>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM deployments WHERE env_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2"
        ))?;
        let rows = st.query_map(params![env_id, limit as i64], deployment_from_row)?;
        rows.map(|r| with_manifest(r?)).collect()
    }

    fn set_promoted(&mut self, env_id: &str, version: &str, at: Millis) -> Result<()> {
        self.conn.execute(
            "UPDATE deployments SET promoted_at = ?3 WHERE env_id = ?1 AND version = ?2",
            params![env_id, version, at],
        )?;
        Ok(())
    }
}
