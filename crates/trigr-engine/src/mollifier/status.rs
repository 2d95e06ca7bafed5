//! The mollifier's state per environment, for `trigr mollifier status` and
//! `GET /api/v1/mollifier`: its stored overrides, its buffer (depth, oldest entry) and whether
//! it is tripped — on this server's evaluator, or on any server's as their drainers publish it
//! to the store ([`Engine::publish_trips`]) — and its oldest entries, for the dashboard.

use std::collections::HashMap;

use serde::Serialize;
use trigr_store::{BufferCursor, BufferedEntry};
use trigr_types::Millis;

use super::overrides::Override;
use crate::{Engine, Result};

/// Most environments whose buffer one status reads.
pub const MAX_STATUS_ENVS: i64 = 10_000;
/// Most tripped environments one server publishes.
pub const MAX_PUBLISHED_TRIPS: usize = 10_000;
/// Most entries one read of an environment's oldest entries returns.
pub const MAX_OLDEST_ENTRIES: usize = 100;

/// One environment's mollifier.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvStatus {
    pub env_id: String,
    pub project: String,
    pub slug: String,
    pub org_id: String,
    /// The environment's own override, and its organization's.
    pub env_override: Option<Override>,
    pub org_override: Option<Override>,
    /// Buffered triggers waiting, and the age of the oldest (ms).
    pub depth: i64,
    pub oldest_age_ms: Option<Millis>,
    /// Until when it is tripped, if it is now.
    pub tripped_until: Option<Millis>,
}

impl Engine {
    /// The mollifier's state of every environment (or of one).
    pub async fn mollifier_status(&self, only_env: Option<&str>) -> Result<Vec<EnvStatus>> {
        let now = self.now();
        let depths: HashMap<String, (i64, Millis)> = self
            .mollifier()
            .buffer()
            .depths(MAX_STATUS_ENVS)
            .await?
            .into_iter()
            .map(|d| (d.env_id, (d.depth, d.oldest_at)))
            .collect();
        let mut trips: HashMap<String, Millis> = self
            .mollifier()
            .counter
            .tripped(now, MAX_PUBLISHED_TRIPS)
            .into_iter()
            .collect();
        let only = only_env.map(str::to_string);
        let (envs, settings, published) = self
            .read(move |tx| {
                let projects: HashMap<String, (String, String)> = tx
                    .projects()?
                    .into_iter()
                    .map(|p| (p.id, (p.name, p.org_id)))
                    .collect();
                let envs: Vec<_> = tx
                    .environments()?
                    .into_iter()
                    .filter(|e| only.as_ref().is_none_or(|o| *o == e.id))
                    .map(|e| {
                        let (name, org) = projects.get(&e.project_id).cloned().unwrap_or_default();
                        (e.id, name, e.slug, org)
                    })
                    .collect();
                Ok((envs, tx.mollifier_settings()?, tx.mollifier_trips(now)?))
            })
            .await?;
        for (env, until) in published {
            let t = trips.entry(env).or_insert(until);
            *t = (*t).max(until);
        }
        let stored: HashMap<String, Override> = settings
            .into_iter()
            .filter_map(|(scope, text)| Some((scope, serde_json::from_str(&text).ok()?)))
            .collect();
        Ok(envs
            .into_iter()
            .map(|(env_id, project, slug, org_id)| {
                let (depth, oldest) = depths.get(&env_id).copied().unwrap_or((0, now));
                EnvStatus {
                    env_override: stored.get(&format!("env:{env_id}")).copied(),
                    org_override: stored.get(&format!("org:{org_id}")).copied(),
                    depth,
                    oldest_age_ms: (depth > 0).then(|| (now - oldest).max(0)),
                    tripped_until: trips.get(&env_id).copied(),
                    env_id,
                    project,
                    slug,
                    org_id,
                }
            })
            .collect())
    }

    /// The oldest `limit` entries of an environment's buffer (at most
    /// [`MAX_OLDEST_ENTRIES`]), oldest first, claimed ones included.
    pub async fn oldest_buffered(&self, env_id: &str, limit: usize) -> Result<Vec<BufferedEntry>> {
        let limit = limit.min(MAX_OLDEST_ENTRIES) as i64;
        self.mollifier()
            .buffer()
            .entries(env_id, BufferCursor::Above(0), limit)
            .await
    }

    /// Publishes the environments this server's evaluator holds tripped (its drainer calls it
    /// when they change, and every second while some are).
    pub async fn publish_trips(&self, server_id: &str) -> Result<Vec<(String, Millis)>> {
        let trips = self
            .mollifier()
            .counter
            .tripped(self.now(), MAX_PUBLISHED_TRIPS);
        let (server, rows) = (server_id.to_string(), trips.clone());
        self.write(move |tx| Ok(tx.put_mollifier_trips(&server, &rows)?))
            .await?;
        Ok(trips)
    }

    /// The environments this server's evaluator holds tripped now, by id.
    pub fn tripped_envs(&self) -> Vec<String> {
        self.mollifier()
            .counter
            .tripped(self.now(), MAX_PUBLISHED_TRIPS)
            .into_iter()
            .map(|(env, _)| env)
            .collect()
    }
}
