//! First start of an empty store: the default organization, project and environments, and
//! their secret keys (stored hashed, shown once).

use trigr_store::{EnvKind, Environment};
use trigr_types::id;

use crate::{Engine, Error, Result, Txn};

/// The environments every project has, as (slug, key prefix, kind).
pub const ENVIRONMENTS: [(&str, &str, EnvKind); 3] = [
    ("dev", "dev", EnvKind::Development),
    ("staging", "stg", EnvKind::Staging),
    ("prod", "prod", EnvKind::Production),
];

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
            _ => self.prod.as_ref(),
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

impl Engine {
    /// Creates the defaults on an empty store and registers seeded keys. Returns the keys it
    /// generated, as (environment slug, key), to show once.
    pub async fn bootstrap(
        &self,
        seeds: SeedKeys,
        env_concurrency_limit: i64,
    ) -> Result<Vec<(String, String)>> {
        seeds.validate()?;
        self.write(move |tx| {
            let now = tx.now();
            if !tx.has_environments()? {
                create_defaults(tx, env_concurrency_limit, now)?;
            }
            let mut created = Vec::new();
            for env in tx.environments()? {
                if env.concurrency_limit != env_concurrency_limit {
                    tx.set_env_concurrency_limit(&env.id, env_concurrency_limit)?;
                }
                let prefix = ENVIRONMENTS
                    .iter()
                    .find(|e| e.0 == env.slug)
                    .map_or("prod", |e| e.1);
                if let Some(key) = seeds.for_slug(&env.slug) {
                    tx.insert_api_key(&id::sha256_hex(key), &env.id, now)?;
                } else if tx.api_key_count(&env.id)? == 0 {
                    let key = id::new_secret_key(prefix);
                    tx.insert_api_key(&id::sha256_hex(&key), &env.id, now)?;
                    created.push((env.slug.clone(), key));
                }
            }
            Ok(created)
        })
        .await
    }
}

fn create_defaults(tx: &mut Txn<'_>, limit: i64, now: i64) -> Result<()> {
    let org = id::new("org");
    let project = id::new("proj");
    tx.insert_organization(&org, "default", now)?;
    let project_ref = format!(
        "proj_{}",
        id::new("x")
            .trim_start_matches("x_")
            .replace(|c: char| c.is_ascii_digit(), "a")
    );
    tx.insert_project(
        &project,
        &org,
        &project_ref[..25.min(project_ref.len())],
        "default",
        now,
    )?;
    for (slug, _, kind) in ENVIRONMENTS {
        let env = Environment {
            id: id::new("env"),
            project_id: project.clone(),
            slug: slug.to_string(),
            kind,
            concurrency_limit: limit,
            current_version: None,
            signing_secret: id::new_secret_key("sign"),
        };
        tx.insert_environment(&env, now)?;
    }
    Ok(())
}
