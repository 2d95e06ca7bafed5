//! One-time sign-in links (`trigr dashboard link`): made by an operator on the store, each
//! granting one environment or every environment of a project, used once, before it expires.

use std::time::Duration;

use trigr_store::DashboardLink;
use trigr_types::id::sha256_hex;

use super::new_secret;
use super::session::{start, SignedIn};
use crate::{Engine, Error, Result};

/// Longest a link may stay usable.
pub const MAX_LINK_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a link grants: one environment (by id, or by slug within a project) or a project's.
#[derive(Clone, Debug)]
pub enum LinkTarget {
    /// An environment id (`env_…`), or a slug (`dev`, `staging`, `prod`) in the named project
    /// (the default one when `None`).
    Env {
        env: String,
        project: Option<String>,
    },
    /// Every environment of the project of this name or reference.
    Project(String),
}

impl Engine {
    /// Makes a link; returns its secret (shown once, stored hashed) and the environments it
    /// grants, as `(project name, slug)`.
    pub async fn create_dashboard_link(
        &self,
        target: LinkTarget,
        ttl: Duration,
    ) -> Result<(String, Vec<(String, String)>)> {
        if ttl.is_zero() || ttl > MAX_LINK_TTL {
            return Err(Error::invalid(
                "a link's lifetime must be between 1 s and 7 days",
            ));
        }
        self.write(move |tx| {
            let projects = tx.projects()?;
            let envs = tx.environments()?;
            let project_named = |name: &str| {
                projects
                    .iter()
                    .find(|p| p.name == name || p.project_ref == name)
                    .ok_or_else(|| {
                        Error::not_found(format!("no project is named '{}'", name.escape_debug()))
                    })
            };
            let chosen: Vec<_> = match &target {
                LinkTarget::Project(name) => {
                    let p = project_named(name)?;
                    envs.iter().filter(|e| e.project_id == p.id).collect()
                }
                LinkTarget::Env { env, project } => {
                    let p = match project {
                        Some(name) => Some(project_named(name)?),
                        None => None,
                    };
                    envs.iter()
                        .filter(|e| {
                            e.id == *env
                                || (e.slug == *env
                                    && match p {
                                        Some(p) => e.project_id == p.id,
                                        None => projects.iter().any(|q| {
                                            q.id == e.project_id
                                                && (projects.len() == 1
                                                    || q.name == crate::projects::DEFAULT_PROJECT)
                                        }),
                                    })
                        })
                        .take(1)
                        .collect()
                }
            };
            if chosen.is_empty() {
                return Err(Error::not_found("no environment matches the link's target"));
            }
            let now = tx.now();
            let secret = new_secret("trl_");
            let link = DashboardLink {
                token_hash: sha256_hex(&secret),
                env_ids: chosen.iter().map(|e| e.id.clone()).collect(),
                created_at: now,
                expires_at: now + ttl.as_millis() as i64,
            };
            tx.insert_dashboard_link(&link)?;
            let named = chosen
                .iter()
                .map(|e| {
                    let project = projects.iter().find(|p| p.id == e.project_id);
                    (
                        project.map_or_else(String::new, |p| p.name.clone()),
                        e.slug.clone(),
                    )
                })
                .collect();
            Ok((secret, named))
        })
        .await
    }

    /// Uses a link: a new session granting its environments, or `None` when the link is
    /// unknown, used or expired (the same answer for each, so a guess learns nothing).
    pub async fn sign_in_with_link(&self, secret: &str) -> Result<Option<SignedIn>> {
        let hash = sha256_hex(secret);
        self.write(move |tx| {
            let now = tx.now();
            match tx.redeem_dashboard_link(&hash, now)? {
                Some(link) => start(tx, link.env_ids).map(Some),
                None => Ok(None),
            }
        })
        .await
    }
}
