//! Every start of the server: the default organization, project and environments on an empty
//! store, their secret keys (stored hashed, shown once), and the keys an operator seeds with
//! `--dev-secret-key` and friends.
//!
//! A seeded key is added to its environment of the default project when the store does not
//! have it yet; the environment's other keys stay valid (`trigr keys revoke` ends them). A
//! seeded key that was revoked or has expired stays so: the report says it is not accepted.

use trigr_store::Environment;
use trigr_types::{id, Millis};

use crate::projects::{self, DEFAULT_PROJECT, ENVIRONMENTS};
use crate::{keys, Engine, Error, Result, Txn};

/// Keys an operator wants instead of generated ones, by environment slug.
#[derive(Clone, Debug, Default)]
pub struct SeedKeys {
    pub dev: Option<String>,
    pub staging: Option<String>,
    pub prod: Option<String>,
}

impl SeedKeys {
    fn for_slug(&self, slug: &str) -> Option<&String> {
        match slug {
            "dev" => self.dev.as_ref(),
            "staging" => self.staging.as_ref(),
            "prod" => self.prod.as_ref(),
            _ => None,
        }
    }

    /// Each seeded key must have its environment's shape.
    pub fn validate(&self) -> Result<()> {
        for (slug, prefix, _) in ENVIRONMENTS {
            if let Some(k) = self.for_slug(slug) {
                if !id::is_secret_key(k, prefix) {
                    return Err(Error::invalid(format!(
                        "the {slug} secret key must be 'tr_{prefix}_' followed by 24 letters or digits"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// What a start did to the store's keys, for the operator to read once.
#[derive(Clone, Debug, Default)]
pub struct Bootstrap {
    /// Keys generated on this start, as (environment slug, key): shown once, stored hashed.
    pub created_keys: Vec<(String, String)>,
    /// Sentences about seeded keys: added to an existing store, or not accepted.
    pub notes: Vec<String>,
}

impl Engine {
    /// Creates the defaults on an empty store, sets every environment's concurrency limit and
    /// registers seeded keys.
    pub async fn bootstrap(
        &self,
        seeds: SeedKeys,
        env_concurrency_limit: i64,
    ) -> Result<Bootstrap> {
        seeds.validate()?;
        self.write(move |tx| {
            let now = tx.now();
            let fresh = !tx.has_environments()?;
            if fresh {
                projects::insert(tx, DEFAULT_PROJECT, env_concurrency_limit, now)?;
            }
            for env in tx.environments()? {
                if env.concurrency_limit != env_concurrency_limit {
                    tx.set_env_concurrency_limit(&env.id, env_concurrency_limit)?;
                }
            }
            let mut report = Bootstrap::default();
            for env in default_environments(tx)? {
                match seeds.for_slug(&env.slug) {
                    Some(key) => seed(tx, &env, key, fresh, now, &mut report)?,
                    None if tx.api_key_count(&env.id)? == 0 => {
                        let key = keys::insert_new(tx, &env, now)?;
                        report.created_keys.push((env.slug.clone(), key));
                    }
                    None => {}
                }
            }
            Ok(report)
        })
        .await
    }
}

/// The environments of the default project (the oldest one).
fn default_environments(tx: &mut Txn<'_>) -> Result<Vec<Environment>> {
    let Some(project) = tx.projects()?.into_iter().next() else {
        return Ok(Vec::new());
    };
    let mut envs: Vec<Environment> = tx
        .environments()?
        .into_iter()
        .filter(|e| e.project_id == project.id)
        .collect();
    envs.sort_by_key(|e| projects::rank(&e.slug));
    Ok(envs)
}

fn seed(
    tx: &mut Txn<'_>,
    env: &Environment,
    key: &str,
    fresh: bool,
    now: Millis,
    report: &mut Bootstrap,
) -> Result<()> {
    let hash = id::sha256_hex(key);
    if tx.insert_api_key(&hash, &id::key_prefix(key), &env.id, now)? {
        if !fresh {
            report.notes.push(format!(
                "Added the given {} secret key ({}) to the existing store; the environment's \
                 other keys stay valid (`trigr keys list`, `trigr keys revoke`).",
                env.slug,
                id::key_prefix(key)
            ));
        }
        return Ok(());
    }
    match tx.env_by_key_hash(&hash)? {
        Some((owner, _)) if owner.id != env.id => Err(Error::invalid(format!(
            "the given {} secret key belongs to another environment",
            env.slug
        ))),
        Some((_, Some(ended))) if ended <= now => {
            report.notes.push(format!(
                "The given {} secret key ({}) was revoked or has expired: it is not accepted. \
                 Give another key, or none to use the store's keys.",
                env.slug,
                id::key_prefix(key)
            ));
            Ok(())
        }
        _ => Ok(()),
    }
}
