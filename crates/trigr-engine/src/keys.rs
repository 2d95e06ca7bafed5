//! Secret keys of environments, as an operator manages them (`trigr keys`): list, create,
//! rotate with a grace period, revoke. The store keeps a key's hash and the prefix that was
//! shown; a key is accepted until its expiry (the end of a rotation's grace period) or its
//! revocation, whichever comes first.

use trigr_store::{ApiKey, Environment, Project};
use trigr_types::{id, Millis};

use crate::projects::{self, DEFAULT_PROJECT};
use crate::{Engine, Error, Result, Txn};

/// Longest grace period a rotation may give the old keys: a year.
pub const MAX_GRACE_MS: i64 = 366 * 24 * 3600 * 1000;

/// Which environment: a project (by name or `proj_…` reference; the default project when not
/// given) and an environment slug.
#[derive(Clone, Debug)]
pub struct EnvSelector {
    pub project: Option<String>,
    pub slug: String,
}

/// A key as `trigr keys list` shows it.
#[derive(Clone, Debug)]
pub struct KeyView {
    pub project: String,
    pub env_slug: String,
    pub key: ApiKey,
}

impl KeyView {
    /// `active`, `expires <when>` (rotated, in its grace period), `expired` or `revoked`.
    pub fn state(&self, now: Millis) -> KeyState {
        match (self.key.revoked_at, self.key.expires_at) {
            (Some(at), _) if at <= now => KeyState::Revoked(at),
            (_, Some(at)) if at <= now => KeyState::Expired(at),
            (_, Some(at)) => KeyState::Expires(at),
            _ => KeyState::Active,
        }
    }
}

/// Whether a key is accepted, and until when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    Active,
    Expires(Millis),
    Expired(Millis),
    Revoked(Millis),
}

/// A rotation: the new key, and until when the keys it replaced are accepted.
#[derive(Clone, Debug)]
pub struct Rotated {
    pub key: String,
    pub replaced: usize,
    pub old_keys_until: Millis,
}

impl Engine {
    /// Every key of every environment, by project and environment.
    pub async fn keys(&self) -> Result<Vec<KeyView>> {
        self.read(|tx| {
            let projects = tx.projects()?;
            let envs = tx.environments()?;
            let mut views: Vec<KeyView> = tx
                .api_keys()?
                .into_iter()
                .filter_map(|key| {
                    let env = envs.iter().find(|e| e.id == key.env_id)?;
                    let project = projects.iter().find(|p| p.id == env.project_id)?;
                    Some(KeyView {
                        project: project.name.clone(),
                        env_slug: env.slug.clone(),
                        key,
                    })
                })
                .collect();
            let order = |v: &KeyView| {
                let project = projects.iter().position(|p| p.name == v.project);
                (project, projects::rank(&v.env_slug), v.key.created_at)
            };
            views.sort_by_key(order);
            Ok(views)
        })
        .await
    }

    /// Adds a secret key to an environment; its other keys stay valid. Returns the key, which
    /// is shown once and stored hashed.
    pub async fn create_key(&self, env: EnvSelector) -> Result<String> {
        self.write(move |tx| {
            let env = find_env(tx, &env)?;
            let now = tx.now();
            insert_new(tx, &env, now)
        })
        .await
    }

    /// Makes a new key for an environment; its current keys stay accepted for `grace_ms` more
    /// (0: no longer at all).
    pub async fn rotate_keys(&self, env: EnvSelector, grace_ms: i64) -> Result<Rotated> {
        if !(0..=MAX_GRACE_MS).contains(&grace_ms) {
            return Err(Error::invalid(
                "the grace period must be between 0 and 366 days",
            ));
        }
        self.write(move |tx| {
            let env = find_env(tx, &env)?;
            let now = tx.now();
            let until = now + grace_ms;
            let replaced = tx.expire_api_keys(&env.id, until)?;
            let key = insert_new(tx, &env, now)?;
            Ok(Rotated {
                key,
                replaced,
                old_keys_until: until,
            })
        })
        .await
    }

    /// Revokes one key, named by the whole key or by the prefix `trigr keys list` shows.
    pub async fn revoke_key(&self, which: String) -> Result<KeyView> {
        let views = self.keys().await?;
        let hash = id::sha256_hex(&which);
        let matching: Vec<&KeyView> = views
            .iter()
            .filter(|v| v.key.key_hash == hash || v.key.prefix.as_deref() == Some(&which))
            .collect();
        let view = match matching.as_slice() {
            [one] => (*one).clone(),
            [] => {
                return Err(Error::not_found(format!(
                    "no key is '{}' or starts with it as `trigr keys list` shows",
                    which.escape_debug()
                )))
            }
            many => {
                return Err(Error::Conflict(format!(
                    "{} keys start with '{which}': give the whole key",
                    many.len()
                )))
            }
        };
        let key_hash = view.key.key_hash.clone();
        let revoked = self
            .write(move |tx| {
                let now = tx.now();
                Ok(tx.revoke_api_key(&key_hash, now)?.then_some(now))
            })
            .await?;
        match revoked {
            Some(at) => Ok(KeyView {
                key: ApiKey {
                    revoked_at: Some(at),
                    ..view.key
                },
                ..view
            }),
            None => Err(Error::Conflict(format!(
                "the key {} was already revoked",
                view.key.prefix.as_deref().unwrap_or("(no prefix)")
            ))),
        }
    }
}

/// Makes and stores a new key for an environment; returns it.
pub(crate) fn insert_new(tx: &mut Txn<'_>, env: &Environment, now: Millis) -> Result<String> {
    let key = id::new_secret_key(projects::key_prefix_of(&env.slug));
    tx.insert_api_key(&id::sha256_hex(&key), &id::key_prefix(&key), &env.id, now)?;
    Ok(key)
}

impl Engine {
    /// The id and organization of the environment a selector names.
    pub async fn find_environment(&self, which: EnvSelector) -> Result<(String, String)> {
        self.write(move |tx| {
            let env = find_env(tx, &which)?;
            let org = tx.org_of_env(&env.id)?.unwrap_or_default();
            Ok((env.id, org))
        })
        .await
    }
}

/// The environment a selector names.
fn find_env(tx: &mut Txn<'_>, which: &EnvSelector) -> Result<Environment> {
    let project = find_project(tx, which.project.as_deref())?;
    tx.environments()?
        .into_iter()
        .find(|e| e.project_id == project.id && e.slug == which.slug)
        .ok_or_else(|| {
            Error::not_found(format!(
                "project '{}' has no environment '{}' (it has dev, staging and prod)",
                project.name,
                which.slug.escape_debug()
            ))
        })
}

/// A project by name or reference; without one, the default project (or the only one).
fn find_project(tx: &mut Txn<'_>, name: Option<&str>) -> Result<Project> {
    let projects = tx.projects()?;
    let found = match name {
        Some(n) => projects.iter().find(|p| p.name == n || p.project_ref == n),
        None if projects.len() == 1 => projects.first(),
        None => projects.iter().find(|p| p.name == DEFAULT_PROJECT),
    };
    found.cloned().ok_or_else(|| match name {
        Some(n) => Error::not_found(format!(
            "no project is named '{}' (see `trigr projects list`)",
            n.escape_debug()
        )),
        None => Error::invalid("there are several projects: name one with --project"),
    })
}
